// Open MPI through dlopen (see ae_mpi.h). Handles follow Open MPI's ABI: MPI_COMM_WORLD, MPI_FLOAT
// and MPI_SUM are the addresses of library globals (ompi_mpi_comm_world, ...), MPI_IN_PLACE is
// (void *)1, MPI_STATUS_IGNORE is NULL. Linking libmpi at build time would make MPI a build
// dependency of every user.
#include "ae_mpi.h"
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef void *handle;
static int (*mpi_init_thread)(int *, char ***, int, int *);
static int (*mpi_finalize)(void);
static int (*mpi_abort)(handle, int);
static int (*mpi_barrier)(handle);
static int (*mpi_comm_rank)(handle, int *);
static int (*mpi_comm_size)(handle, int *);
static int (*mpi_send)(const void *, int, handle, int, int, handle);
static int (*mpi_recv)(void *, int, handle, int, int, handle, void *);
static int (*mpi_bcast)(void *, int, handle, int, handle);
static int (*mpi_isend)(const void *, int, handle, int, int, handle, void **);
static int (*mpi_irecv)(void *, int, handle, int, int, handle, void **);
static int (*mpi_wait)(void **, void *);
static int (*mpi_allreduce)(const void *, void *, int, handle, handle, handle);
static int (*mpi_allgatherv)(const void *, int, handle, void *, const int *, const int *, handle, handle);
static handle comm_world, type_float, type_byte, type_int, op_sum, op_max;

#define IN_PLACE ((void *)1)
#define THREAD_FUNNELED 1
/// Pieces of a long message stay below INT_MAX elements.
#define PIECE (1 << 28)

int ae_mpi_load(char *error, size_t capacity) {
    // RTLD_GLOBAL: Open MPI's plugins resolve libmpi's symbols from the global scope.
    void *lib = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) lib = dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        snprintf(error, capacity, "cannot load Open MPI's libmpi.so.40 (%s)", dlerror());
        return -1;
    }
    struct { const char *name; void **slot; } symbols[] = {
        {"MPI_Init_thread", (void **)&mpi_init_thread}, {"MPI_Finalize", (void **)&mpi_finalize},
        {"MPI_Abort", (void **)&mpi_abort}, {"MPI_Barrier", (void **)&mpi_barrier},
        {"MPI_Comm_rank", (void **)&mpi_comm_rank}, {"MPI_Comm_size", (void **)&mpi_comm_size},
        {"MPI_Send", (void **)&mpi_send}, {"MPI_Recv", (void **)&mpi_recv}, {"MPI_Bcast", (void **)&mpi_bcast},
        {"MPI_Isend", (void **)&mpi_isend}, {"MPI_Irecv", (void **)&mpi_irecv}, {"MPI_Wait", (void **)&mpi_wait},
        {"MPI_Allreduce", (void **)&mpi_allreduce}, {"MPI_Allgatherv", (void **)&mpi_allgatherv},
        {"ompi_mpi_comm_world", &comm_world}, {"ompi_mpi_float", &type_float}, {"ompi_mpi_byte", &type_byte},
        {"ompi_mpi_int", &type_int}, {"ompi_mpi_op_sum", &op_sum}, {"ompi_mpi_op_max", &op_max},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = dlsym(lib, symbols[i].name);
        if (!*symbols[i].slot) {
            snprintf(error, capacity, "libmpi.so.40 has no %s (Open MPI 4 or later is needed)", symbols[i].name);
            return -1;
        }
    }
    return 0;
}

// The watchdog: a blocking call that has waited longer than the timeout means a rank stopped or
// hangs (a dead rank makes mpirun end the job, a stopped one does not): end this rank, so that
// mpirun ends the job, instead of spinning in the call forever.
static _Atomic long long waiting_since = 0;  // CLOCK_MONOTONIC ns when the current call began; 0: none
static _Atomic long long timeout_ns = 0;
static int watchdog_rank = 0;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *watchdog(void *unused) {
    (void)unused;
    for (;;) {
        usleep(200000);
        long long since = atomic_load(&waiting_since), limit = atomic_load(&timeout_ns);
        if (since && limit && now_ns() - since > limit) {
            char line[256];
            int n = snprintf(line, sizeof line, "Error: rank %d: no answer from the other ranks for %lld s (a rank "
                             "stopped or hangs; --mpi-timeout); ending the job\n", watchdog_rank, limit / 1000000000LL);
            (void)!write(2, line, (size_t)n);
            _exit(75);
        }
    }
    return NULL;
}

void ae_mpi_set_timeout(double seconds, int rank) {
    static int started = 0;
    watchdog_rank = rank;
    atomic_store(&timeout_ns, seconds > 0 ? (long long)(seconds * 1e9) : 0);
    if (!started && seconds > 0) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, watchdog, NULL) == 0) {
            pthread_detach(thread);
            started = 1;
        }
    }
}

static inline int guarded(int rc) {
    atomic_store(&waiting_since, 0);
    return rc;
}
#define BEGIN_WAIT() atomic_store(&waiting_since, now_ns())

int ae_mpi_init(int *rank, int *size) {
    int provided = 0;
    int rc = mpi_init_thread(NULL, NULL, THREAD_FUNNELED, &provided);
    if (rc) return rc;
    rc = mpi_comm_rank(comm_world, rank);
    return rc ? rc : mpi_comm_size(comm_world, size);
}

int ae_mpi_finalize(void) {
    BEGIN_WAIT();
    return guarded(mpi_finalize());
}

void ae_mpi_abort(int code) { mpi_abort(comm_world, code); }

int ae_mpi_barrier(void) {
    BEGIN_WAIT();
    return guarded(mpi_barrier(comm_world));
}

int ae_mpi_send_floats(const float *data, size_t count, int destination, int tag) {
    for (size_t done = 0; done < count; done += PIECE) {
        size_t n = count - done < PIECE ? count - done : PIECE;
        BEGIN_WAIT();
        int rc = guarded(mpi_send(data + done, (int)n, type_float, destination, tag, comm_world));
        if (rc) return rc;
    }
    return 0;
}

int ae_mpi_recv_floats(float *data, size_t count, int source, int tag) {
    for (size_t done = 0; done < count; done += PIECE) {
        size_t n = count - done < PIECE ? count - done : PIECE;
        BEGIN_WAIT();
        int rc = guarded(mpi_recv(data + done, (int)n, type_float, source, tag, comm_world, NULL));
        if (rc) return rc;
    }
    return 0;
}

int ae_mpi_isend_floats(const float *data, size_t count, int destination, int tag, void **request) {
    if (count > INT_MAX) return -1;
    return mpi_isend(data, (int)count, type_float, destination, tag, comm_world, request);
}

int ae_mpi_irecv_floats(float *data, size_t count, int source, int tag, void **request) {
    if (count > INT_MAX) return -1;
    return mpi_irecv(data, (int)count, type_float, source, tag, comm_world, request);
}

int ae_mpi_wait(void **request) {
    BEGIN_WAIT();
    return guarded(mpi_wait(request, NULL));
}

int ae_mpi_bcast(void *data, size_t bytes, int root) {
    for (size_t done = 0; done < bytes; done += PIECE) {
        size_t n = bytes - done < PIECE ? bytes - done : PIECE;
        BEGIN_WAIT();
        int rc = guarded(mpi_bcast((char *)data + done, (int)n, type_byte, root, comm_world));
        if (rc) return rc;
    }
    return 0;
}

int ae_mpi_allreduce_sum_floats(float *data, size_t count) {
    for (size_t done = 0; done < count; done += PIECE) {
        size_t n = count - done < PIECE ? count - done : PIECE;
        BEGIN_WAIT();
        int rc = guarded(mpi_allreduce(IN_PLACE, data + done, (int)n, type_float, op_sum, comm_world));
        if (rc) return rc;
    }
    return 0;
}

int ae_mpi_allreduce_max_int(int *value) {
    BEGIN_WAIT();
    return guarded(mpi_allreduce(IN_PLACE, value, 1, type_int, op_max, comm_world));
}

int ae_mpi_allgatherv(void *data, const int *counts, const int *displacements) {
    BEGIN_WAIT();
    return guarded(mpi_allgatherv(IN_PLACE, 0, type_byte, data, counts, displacements, type_byte, comm_world));
}
