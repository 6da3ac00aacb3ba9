// Defining the malloc family here interposes it for the process (ELF symbol lookup finds the
// executable's definitions first); each wrapper counts and forwards to glibc's implementation.
#include "allocation_counter.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *pointer);

static _Atomic uint64_t allocations = 0;

uint64_t allocation_count(void) { return atomic_load_explicit(&allocations, memory_order_relaxed); }

static _Atomic int traces_left = 0;
static _Thread_local int tracing = 0;

void allocation_trace(int count) {
    // backtrace() loads libgcc's unwinder (which allocates) on first use: load it now.
    void *frames[4];
    backtrace(frames, 4);
    atomic_store(&traces_left, count);
}

#ifndef SANITIZED
// Writes the calling stack to stderr while traces are left; never allocates itself.
static void trace(void) {
    if (tracing || atomic_load_explicit(&traces_left, memory_order_relaxed) <= 0) return;
    if (atomic_fetch_sub(&traces_left, 1) <= 0) return;
    tracing = 1;
    void *frames[48];
    int depth = backtrace(frames, 48);
    static const char header[] = "allocation after warm-up at:\n";
    (void)!write(2, header, sizeof header - 1);
    backtrace_symbols_fd(frames, depth, 2);
    tracing = 0;
}
#endif

#ifndef SANITIZED  // the sanitizers own malloc; counting is for release builds anyway
static inline void count(void) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    trace();
}

void *malloc(size_t size) {
    count();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    count();
    return __libc_calloc(n, size);
}

void *realloc(void *pointer, size_t size) {
    count();
    return __libc_realloc(pointer, size);
}

void free(void *pointer) { __libc_free(pointer); }

void *memalign(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    count();
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer && size) return ENOMEM;
    *out = pointer;
    return 0;
}
#endif
