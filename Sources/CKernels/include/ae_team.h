// Teams: the threads of one shard (shards x threads per shard). A team is its leader (the pool
// worker running the shard) and size - 1 helper threads of its own, so teams of different shards
// run their loops at the same time (the worker pool serves one loop at a time). Helpers spin a
// moment after each loop, then sleep: a shard's GEMMs come in quick succession.
#ifndef AE_TEAM_H
#define AE_TEAM_H
#include <stddef.h>
#include "ckernels.h"

typedef struct ae_team ae_team;

/// A team of `size` threads (the caller of each loop and size - 1 helpers started here).
ae_team *ae_team_create(int size);
void ae_team_destroy(ae_team *team);
int ae_team_size(const ae_team *team);
/// Loops this team has run on more than one thread (for tests).
size_t ae_team_loops(const ae_team *team);
/// Runs task(context, i) for i in [0, count): iteration i on member i % size (the caller is
/// member 0). Returns when all are done. Allocates nothing. A loop started from inside a task runs
/// on its caller alone.
void ae_team_for(ae_team *team, size_t count, void *context, ae_task task);
/// Scratch of at least `floats` floats owned by member `member` (the iteration of that number in a
/// loop of `size` iterations runs on it), kept between loops: it allocates only when it grows, so
/// only a shard's first steps do. NULL when that allocation fails.
float *ae_team_scratch(ae_team *team, int member, size_t floats);
/// The team of the calling thread's current shard (NULL: run alone), set by the shard's worker.
void ae_team_set_current(ae_team *team);
ae_team *ae_team_current(void);
/// Sets rows x cols floats (rows `stride` apart) to `value`, on the calling shard's team when large.
void ae_team_fill(float *base, size_t stride, size_t rows, size_t cols, float value);

#endif
