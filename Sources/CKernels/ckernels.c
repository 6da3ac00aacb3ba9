#include <string.h>
// See ckernels.h. The pool's threads sleep on a condition variable between parallel loops and
// are woken by a generation counter; workers claim iterations w, w + W, ... (fixed assignment).
#include "ckernels.h"
#include "fastmath.h"
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_WORKERS 256

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t pool_call = PTHREAD_MUTEX_INITIALIZER;  // one parallel loop at a time
static size_t pool_threads = 0;  // started helper threads
static unsigned long pool_generation = 0;
static size_t job_count, job_workers, job_remaining;
static void *job_context;
static ae_task job_task;

// Set while a thread runs a loop's iterations: a loop started from inside one runs inline
// (the pool serves one loop at a time; waiting for it there would deadlock).
static _Thread_local int inside_loop = 0;

static void run_share(size_t worker) {
    inside_loop = 1;
    for (size_t i = worker; i < job_count; i += job_workers) job_task(job_context, i);
    inside_loop = 0;
}

static void *pool_main(void *argument) {
    size_t worker = (size_t)argument;  // 1-based: the caller is worker 0
    unsigned long seen = 0;
    pthread_mutex_lock(&pool_lock);
    for (;;) {
        while (pool_generation == seen) pthread_cond_wait(&pool_wake, &pool_lock);
        seen = pool_generation;
        if (worker >= job_workers) continue;
        pthread_mutex_unlock(&pool_lock);
        run_share(worker);
        pthread_mutex_lock(&pool_lock);
        if (--job_remaining == 0) pthread_cond_signal(&pool_done);
    }
    return NULL;
}

void ae_parallel_for(size_t count, size_t workers, void *context, ae_task task) {
    if (workers > count) workers = count;
    if (workers > MAX_WORKERS) workers = MAX_WORKERS;
    if (workers <= 1 || inside_loop) {
        for (size_t i = 0; i < count; i++) task(context, i);
        return;
    }
    pthread_mutex_lock(&pool_call);
    pthread_mutex_lock(&pool_lock);
    while (pool_threads < workers - 1) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, pool_main, (void *)(pool_threads + 1)) != 0) break;
        pthread_detach(thread);
        pool_threads++;
    }
    if (workers > pool_threads + 1) workers = pool_threads + 1;
    job_count = count;
    job_workers = workers;
    job_context = context;
    job_task = task;
    job_remaining = workers - 1;
    pool_generation++;
    pthread_cond_broadcast(&pool_wake);
    pthread_mutex_unlock(&pool_lock);
    run_share(0);
    pthread_mutex_lock(&pool_lock);
    while (job_remaining > 0) pthread_cond_wait(&pool_done, &pool_lock);
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&pool_call);
}


CLONES void ae_add_and_zero(float *restrict dst, float *restrict src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        dst[i] += src[i];
        src[i] = 0;
    }
}

CLONES void ae_adam_update(float *restrict p, float *restrict g, float *restrict m, float *restrict v,
                           size_t n, float beta1, float beta2, float step_size, float root_correction2,
                           float epsilon, float weight_decay, int decoupled, float keep, float grad_scale) {
    const float a1 = 1 - beta1, a2 = 1 - beta2, inverse_root = 1 / root_correction2;
    if (decoupled) {
        for (size_t i = 0; i < n; i++) {
            float grad = g[i] * grad_scale;
            float pi = p[i] * keep;
            float mi = beta1 * m[i] + a1 * grad;
            float vi = beta2 * v[i] + a2 * grad * grad;
            m[i] = mi;
            v[i] = vi;
            p[i] = pi - step_size * mi / (__builtin_elementwise_sqrt(vi) * inverse_root + epsilon);
            g[i] = 0;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float grad = g[i] * grad_scale + weight_decay * p[i];
            float mi = beta1 * m[i] + a1 * grad;
            float vi = beta2 * v[i] + a2 * grad * grad;
            m[i] = mi;
            v[i] = vi;
            p[i] -= step_size * mi / (__builtin_elementwise_sqrt(vi) * inverse_root + epsilon);
            g[i] = 0;
        }
    }
}

CLONES void ae_sgd_update(float *restrict p, float *restrict g, float *restrict m, size_t n, float lr,
                          float momentum, int nesterov, float weight_decay, float grad_scale) {
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] * grad_scale + weight_decay * p[i];
        if (momentum != 0) {
            float buf = momentum * m[i] + grad;
            m[i] = buf;
            grad = nesterov ? grad + momentum * buf : buf;
        }
        p[i] -= lr * grad;
        g[i] = 0;
    }
}

/* The output columns ox whose input column ox*s - p + kx*d lies in [0, width). */
static inline void valid_columns(int kx, int stride, int padding, int dilation, int width, int out_width,
                                 int *first, int *end) {
    int offset = padding - kx * dilation; /* ix = ox*s - offset */
    int lo = offset > 0 ? (offset + stride - 1) / stride : 0;
    int top = width - 1 + offset; /* ix <= width - 1  <=>  ox <= top / s */
    int hi = top < 0 ? 0 : top / stride + 1;
    if (hi > out_width) hi = out_width;
    if (lo > hi) lo = hi;
    *first = lo;
    *end = hi;
}

void ae_im2col(const float *x, float *col, int channels, int height, int width, int kernel, int stride,
               int padding, int dilation, int out_height, int out_width) {
    for (int c = 0; c < channels; c++) {
        const float *plane = x + (size_t)c * height * width;
        for (int ky = 0; ky < kernel; ky++) {
            for (int kx = 0; kx < kernel; kx++) {
                int lo, hi;
                valid_columns(kx, stride, padding, dilation, width, out_width, &lo, &hi);
                for (int oy = 0; oy < out_height; oy++, col += out_width) {
                    int iy = oy * stride - padding + ky * dilation;
                    if (iy < 0 || iy >= height) {
                        memset(col, 0, sizeof(float) * (size_t)out_width);
                        continue;
                    }
                    const float *line = plane + (size_t)iy * width - padding + kx * dilation;
                    for (int ox = 0; ox < lo; ox++) col[ox] = 0;
                    if (stride == 1) {
                        memcpy(col + lo, line + lo, sizeof(float) * (size_t)(hi - lo));
                    } else {
                        for (int ox = lo; ox < hi; ox++) col[ox] = line[ox * stride];
                    }
                    for (int ox = hi; ox < out_width; ox++) col[ox] = 0;
                }
            }
        }
    }
}

CLONES void ae_col2im(const float *col, float *dx, int channels, int height, int width, int kernel, int stride,
                      int padding, int dilation, int out_height, int out_width) {
    for (int c = 0; c < channels; c++) {
        float *plane = dx + (size_t)c * height * width;
        for (int ky = 0; ky < kernel; ky++) {
            for (int kx = 0; kx < kernel; kx++) {
                int lo, hi;
                valid_columns(kx, stride, padding, dilation, width, out_width, &lo, &hi);
                for (int oy = 0; oy < out_height; oy++, col += out_width) {
                    int iy = oy * stride - padding + ky * dilation;
                    if (iy < 0 || iy >= height) continue;
                    float *line = plane + (size_t)iy * width - padding + kx * dilation;
                    if (stride == 1) {
                        for (int ox = lo; ox < hi; ox++) line[ox] += col[ox];
                    } else {
                        for (int ox = lo; ox < hi; ox++) line[ox * stride] += col[ox];
                    }
                }
            }
        }
    }
}
