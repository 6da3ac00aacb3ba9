// See ckernels.h. The pool's threads sleep on a condition variable between parallel loops and
// are woken by a generation counter; workers claim iterations w, w + W, ... (fixed assignment).
#include "ckernels.h"
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

static void run_share(size_t worker) {
    for (size_t i = worker; i < job_count; i += job_workers) job_task(job_context, i);
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
    if (workers <= 1) {
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

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

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
            p[i] = pi - step_size * mi / (sqrtf(vi) * inverse_root + epsilon);
            g[i] = 0;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            float grad = g[i] * grad_scale + weight_decay * p[i];
            float mi = beta1 * m[i] + a1 * grad;
            float vi = beta2 * v[i] + a2 * grad * grad;
            m[i] = mi;
            v[i] = vi;
            p[i] -= step_size * mi / (sqrtf(vi) * inverse_root + epsilon);
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
