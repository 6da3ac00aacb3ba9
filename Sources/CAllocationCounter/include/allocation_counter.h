// Counts heap allocations of the whole process by wrapping glibc's malloc family, so the
// benchmark can report allocations per training step (the engine promises none).
#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H
#include <stdint.h>

/// Allocations (malloc, calloc, realloc, aligned variants) since the process started.
uint64_t allocation_count(void);

/// Writes the call stack of each of the next `count` allocations to stderr (0: stop), so a test
/// that finds one can say where it came from.
void allocation_trace(int count);

#endif
