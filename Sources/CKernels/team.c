// See ae_team.h. A generation counter publishes each loop; helpers spin on it for a while
// before sleeping on a condition variable (the bump happens under the lock, so no wake-up is lost).
#include "ae_team.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define SPINS 20000

struct ae_team {
    int size;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_cond_t done;
    _Atomic unsigned long generation;
    _Atomic int remaining;
    _Atomic int stop;
    size_t count;
    void *context;
    ae_task task;
    size_t loops;
    int busy;             // the leader is inside a loop: a loop started from a task runs alone
    float **scratch;      // per member, grown by ae_team_scratch
    size_t *scratch_size; // floats
};

struct helper_start { ae_team *team; int member; };

static _Thread_local ae_team *current_team = NULL;

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *helper_main(void *argument) {
    struct helper_start start = *(struct helper_start *)argument;
    free(argument);
    ae_team *team = start.team;
    unsigned long seen = 0;
    for (;;) {
        unsigned long now;
        int spins = 0;
        while ((now = atomic_load_explicit(&team->generation, memory_order_acquire)) == seen && spins < SPINS) {
            relax();
            spins++;
        }
        if (now == seen) {
            pthread_mutex_lock(&team->lock);
            while ((now = atomic_load_explicit(&team->generation, memory_order_acquire)) == seen && !team->stop)
                pthread_cond_wait(&team->wake, &team->lock);
            pthread_mutex_unlock(&team->lock);
        }
        if (team->stop) return NULL;
        seen = now;
        for (size_t i = (size_t)start.member; i < team->count; i += (size_t)team->size) team->task(team->context, i);
        if (atomic_fetch_sub_explicit(&team->remaining, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&team->lock);
            pthread_cond_signal(&team->done);
            pthread_mutex_unlock(&team->lock);
        }
    }
}

ae_team *ae_team_create(int size) {
    if (size < 1) size = 1;
    ae_team *team = calloc(1, sizeof *team);
    if (!team) return NULL;
    team->size = size;
    pthread_mutex_init(&team->lock, NULL);
    pthread_cond_init(&team->wake, NULL);
    pthread_cond_init(&team->done, NULL);
    team->threads = calloc((size_t)size, sizeof(pthread_t));
    team->scratch = calloc((size_t)size, sizeof(float *));
    team->scratch_size = calloc((size_t)size, sizeof(size_t));
    for (int m = 1; m < size; m++) {
        struct helper_start *start = malloc(sizeof *start);
        start->team = team;
        start->member = m;
        if (pthread_create(&team->threads[m], NULL, helper_main, start) != 0) {
            // Fewer threads than asked: the loops still cover every iteration with what started.
            free(start);
            team->size = m;
            break;
        }
    }
    return team;
}

void ae_team_destroy(ae_team *team) {
    if (!team) return;
    pthread_mutex_lock(&team->lock);
    team->stop = 1;
    atomic_fetch_add_explicit(&team->generation, 1, memory_order_release);
    pthread_cond_broadcast(&team->wake);
    pthread_mutex_unlock(&team->lock);
    for (int m = 1; m < team->size; m++) pthread_join(team->threads[m], NULL);
    free(team->threads);
    for (int m = 0; m < team->size; m++) free(team->scratch[m]);
    free(team->scratch);
    free(team->scratch_size);
    pthread_mutex_destroy(&team->lock);
    pthread_cond_destroy(&team->wake);
    pthread_cond_destroy(&team->done);
    free(team);
}

int ae_team_size(const ae_team *team) { return team ? team->size : 1; }

size_t ae_team_loops(const ae_team *team) { return team ? team->loops : 0; }

void ae_team_for(ae_team *team, size_t count, void *context, ae_task task) {
    if (!team || team->size <= 1 || count <= 1 || team->busy) {
        for (size_t i = 0; i < count; i++) task(context, i);
        return;
    }
    team->busy = 1;
    team->loops++;
    team->count = count;
    team->context = context;
    team->task = task;
    atomic_store_explicit(&team->remaining, team->size - 1, memory_order_relaxed);
    pthread_mutex_lock(&team->lock);
    atomic_fetch_add_explicit(&team->generation, 1, memory_order_release);
    pthread_cond_broadcast(&team->wake);
    pthread_mutex_unlock(&team->lock);
    for (size_t i = 0; i < count; i += (size_t)team->size) task(context, i);
    int spins = 0;
    while (atomic_load_explicit(&team->remaining, memory_order_acquire) > 0 && spins < SPINS) {
        relax();
        spins++;
    }
    if (atomic_load_explicit(&team->remaining, memory_order_acquire) > 0) {
        pthread_mutex_lock(&team->lock);
        while (atomic_load_explicit(&team->remaining, memory_order_acquire) > 0) pthread_cond_wait(&team->done, &team->lock);
        pthread_mutex_unlock(&team->lock);
    }
    team->busy = 0;
}

float *ae_team_scratch(ae_team *team, int member, size_t floats) {
    if (team->scratch_size[member] < floats) {
        free(team->scratch[member]);
        size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
        team->scratch[member] = aligned_alloc(64, bytes);
        team->scratch_size[member] = team->scratch[member] ? floats : 0;
    }
    return team->scratch[member];
}

void ae_team_set_current(ae_team *team) { current_team = team; }

ae_team *ae_team_current(void) { return current_team; }

typedef struct {
    float *base;
    size_t stride, rows, cols, parts;
    float value;
} fill_job;

static void fill_part(void *context, size_t i) {
    const fill_job *f = context;
    if (f->parts == f->rows) {
        // Row i on member i % size, as the layers' loops by rows place it (that core's cache).
        float *row = f->base + i * f->stride;
        for (size_t k = 0; k < f->cols; k++) row[k] = f->value;
        return;
    }
    // One block: parts on 16-float (cache-line) boundaries.
    size_t n = f->rows * f->cols, first = n * i / f->parts / 16 * 16;
    size_t end = i + 1 == f->parts ? n : n * (i + 1) / f->parts / 16 * 16;
    for (size_t k = first; k < end; k++) f->base[k] = f->value;
}

void ae_team_fill(float *base, size_t stride, size_t rows, size_t cols, float value) {
    ae_team *team = ae_team_current();
    size_t size = (size_t)ae_team_size(team);
    fill_job f = {.base = base, .stride = stride, .rows = rows, .cols = cols, .parts = rows, .value = value};
    // Below ~64 KB a loop costs more than it saves.
    if (rows * cols < 16384 || size == 1) {
        if (stride == cols) {
            f.cols = rows * cols;
            f.rows = 1;
        }
        f.parts = f.rows;
        for (size_t r = 0; r < f.rows; r++) fill_part(&f, r);
        return;
    }
    if (rows < size && stride == cols) f.parts = size;
    ae_team_for(team, f.parts, &f, fill_part);
}
