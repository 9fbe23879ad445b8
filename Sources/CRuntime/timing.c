/*
 * timing.c - monotonic clock for benchmark harnesses (the profiler's C harness, kernel_bench.c).
 * Kept apart from the kernels: it is the only file that needs POSIX.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime / CLOCK_MONOTONIC under -std=c99 */

#include "autoshrink_runtime.h"

#include <time.h>

uint64_t as_time_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * UINT64_C(1000000000) + (uint64_t)now.tv_nsec;
}
