// Open MPI, loaded at run time (dlopen of libmpi.so.40) only when the process was started by
// mpirun: the default build and the tests need no MPI headers or libraries. The calls are the few
// the engine uses, on MPI_COMM_WORLD; each returns 0 or MPI's error code.
#ifndef AE_MPI_H
#define AE_MPI_H
#include <stddef.h>

/// Loads libmpi and resolves the calls; 0 on success, else -1 with a reason in `error`.
int ae_mpi_load(char *error, size_t capacity);
/// MPI_Init_thread (funneled: only the main thread calls MPI); the rank and the world size.
int ae_mpi_init(int *rank, int *size);
int ae_mpi_finalize(void);
/// Ends every rank of the job (MPI_Abort) with `code`.
void ae_mpi_abort(int code);
/// Ends this rank (exit 75, so that mpirun ends the job) when one blocking call below waits longer
/// than `seconds` (0: never), naming `rank`; a watchdog thread checks five times a second.
void ae_mpi_set_timeout(double seconds, int rank);
int ae_mpi_barrier(void);
/// Blocking point-to-point of floats (any count: sent in pieces below INT_MAX).
int ae_mpi_send_floats(const float *data, size_t count, int destination, int tag);
int ae_mpi_recv_floats(float *data, size_t count, int source, int tag);
/// Non-blocking point-to-point of at most INT_MAX floats; `request` is waited on by ae_mpi_wait.
int ae_mpi_isend_floats(const float *data, size_t count, int destination, int tag, void **request);
int ae_mpi_irecv_floats(float *data, size_t count, int source, int tag, void **request);
int ae_mpi_wait(void **request);
/// `bytes` from `root` to every rank.
int ae_mpi_bcast(void *data, size_t bytes, int root);
/// In-place sums of floats over all ranks (MPI_Allreduce, MPI_SUM).
int ae_mpi_allreduce_sum_floats(float *data, size_t count);
/// In place: the largest `*value` of all ranks.
int ae_mpi_allreduce_max_int(int *value);
/// In-place MPI_Allgatherv of bytes: rank r's block is data[displacements[r] ..< + counts[r]].
int ae_mpi_allgatherv(void *data, const int *counts, const int *displacements);

#endif
