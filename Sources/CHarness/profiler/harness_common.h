/*
 * harness_common.h - what the profiler's two benchmark harnesses share: profiler/harness.c (image
 * operators and networks) and profiler/rnn_harness.c (the language-model kernels, docs/shrinkrnn.md
 * "Profiling recurrent operators"). Both take the same command line, time their items the same way and
 * print the same lines, so the profiler drives them alike (docs/architecture.md, "Latency estimator");
 * each keeps its own plan, items, set-up and usage text. This holds the shared part:
 *
 *   fail                    one line "HARNESS_NAME: message: detail" on stderr, exit status 2
 *   next_random, random_f32 SplitMix64 and a uniform float from it (integer-only: the same data everywhere)
 *   fnv1a                   FNV-1a (32 bit), the output checksums
 *   harness_timing          an item's batch and samples, kept across rounds
 *   harness_measure         calibrates the batch once, then a warm-up batch and PER_ROUND samples
 *   harness_report          the "samples" and "estimate" lines of one item (estimator.h)
 *   harness_time_arguments  ROUNDS PER_ROUND SAMPLE_US [CPU|none] of the time command
 *   harness_pin             pins as CPU asks and prints the "cpu" line
 *   print_peak_rss          the "peak_rss_kb" line
 *
 * Header-only C99 + libc like estimator.h (Sources/CHarness/common), but beside the two harnesses rather
 * than in common/: exports ship every file of common/ and none of this. `autoshrink profile` writes it
 * beside harness.c and rnn_harness.c with estimator.h (HarnessSource.profilerFiles). The includer defines
 * HARNESS_NAME (the program's name in error lines) and _XOPEN_SOURCE/_GNU_SOURCE before any header
 * (getrusage, sched_setaffinity).
 */
#ifndef AUTOSHRINK_HARNESS_COMMON_H
#define AUTOSHRINK_HARNESS_COMMON_H

#include "autoshrink_runtime.h"
#include "estimator.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#ifndef HARNESS_NAME
#error "define HARNESS_NAME (the program's name in error lines) before including harness_common.h"
#endif

/* Single runs whose fastest decides an item's batch. */
#define HARNESS_CALIBRATION_RUNS 5
/* The largest batch (a sample of a near-empty item would otherwise run for ever). */
#define HARNESS_MAX_BATCH 1000000

static inline void fail(const char *message, const char *detail)
{
    fprintf(stderr, HARNESS_NAME ": %s%s%s\n", message, detail ? ": " : "", detail ? detail : "");
    exit(2);
}

/* A 64-byte aligned block (fail()s when out of memory). gcc places the generated model's static weight, state
 * and arena arrays at multiples of 32 or 64 bytes on x86-64; on malloc's 16-byte alignment vector loads split
 * cache lines the export never splits, and the harness timed a slower program than the one shipped: whole
 * CNNs 6-11 % (AVX-512 VNNI int8, docs/devices.md "Harness and export"), a 128-wide RNN token 15-20 %. */
static inline void *checked_malloc(size_t bytes)
{
    void *pointer = NULL;
    if (posix_memalign(&pointer, 64, bytes ? bytes : 1) != 0 || !pointer) fail("out of memory", NULL);
    return pointer;
}

/* ---- deterministic data ----------------------------------------------------------------------- */

/* SplitMix64; integer-only, so every architecture draws the same numbers. */
static inline uint64_t next_random(uint64_t *state)
{
    uint64_t z;
    *state += UINT64_C(0x9E3779B97F4A7C15);
    z = *state;
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1) from 24 random bits (exact in float). */
static inline float random_f32(uint64_t *state)
{
    return (float)(next_random(state) >> 40) * (1.0f / 8388608.0f) - 1.0f;
}

static inline uint32_t fnv1a(uint32_t hash, const void *data, size_t bytes)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    for (i = 0; i < bytes; i++) {
        hash ^= p[i];
        hash *= 16777619u;
    }
    return hash;
}

/* ---- timing ----------------------------------------------------------------------------------- */

/* Timing state of one item, kept across rounds. */
typedef struct harness_timing {
    int batch;       /* runs per sample; 0 until calibrated */
    double *samples; /* [ROUNDS][PER_ROUND] nanoseconds per run */
    int sample_count;
} harness_timing;

/* Runs an item `batch` times back to back between two as_time_ns() calls; mean nanoseconds per run.
 * Each harness has its own (a direct call of its run function inside the timed loop); harness_measure
 * calls it outside the clock, so the indirect call costs the samples nothing. */
typedef double (*harness_time_batch)(void *item, int batch);

static inline void harness_measure(harness_timing *timing, void *item, harness_time_batch time_batch, int wanted,
                                   double sample_ns)
{
    int s;
    if (timing->batch == 0) {
        /* Calibration (first pass): the fastest of a few single runs decides the batch, so that a sample
         * lasts at least SAMPLE_US (clock overhead and timer resolution stay out of tiny items). */
        double fastest = time_batch(item, 1);
        for (s = 1; s < HARNESS_CALIBRATION_RUNS; s++) {
            double single = time_batch(item, 1);
            if (single < fastest) fastest = single;
        }
        if (fastest < 1.0) fastest = 1.0;
        timing->batch = (int)(sample_ns / fastest) + 1;
        if (timing->batch > HARNESS_MAX_BATCH) timing->batch = HARNESS_MAX_BATCH;
    }
    time_batch(item, timing->batch); /* warm-up: caches, branch predictors, clock frequency */
    for (s = 0; s < wanted; s++) timing->samples[timing->sample_count++] = time_batch(item, timing->batch);
}

/* "samples NAME BATCH OUTPUT_CHECKSUM ALL_CHECKSUM NS..." and "estimate NAME ROUNDS PER_ROUND NS LOW_NS
 * HIGH_NS"; scratch holds ROUNDS + PER_ROUND doubles (as_est_from_rounds). */
static inline void harness_report(const char *name, harness_timing *timing, uint32_t output_checksum,
                                  uint32_t all_checksum, int rounds, int per_round, double *scratch)
{
    int s;
    as_estimate e;
    printf("samples %s %d %08x %08x", name, timing->batch, (unsigned)output_checksum, (unsigned)all_checksum);
    for (s = 0; s < timing->sample_count; s++) printf(" %.1f", timing->samples[s]);
    printf("\n");
    /* the estimate of the printed (rounded) samples, so a reader recomputing it gets the same numbers */
    for (s = 0; s < timing->sample_count; s++) {
        char text[64];
        snprintf(text, sizeof text, "%.1f", timing->samples[s]);
        timing->samples[s] = atof(text);
    }
    e = as_est_from_rounds(timing->samples, rounds, per_round, scratch);
    printf("estimate %s %d %d %.1f %.1f %.1f\n", name, rounds, per_round, e.value, e.low, e.high);
}

/* ---- command line and output ------------------------------------------------------------------ */

/* The time command's arguments after PLAN: argv[3..5] ROUNDS PER_ROUND SAMPLE_US, argv[6] optional CPU
 * (a core, -1 the least loaded one, "none": cpu -2, no pinning). argc is 6 or 7. Returns 0, or -1 when
 * an argument is out of range (the caller prints its usage). */
static inline int harness_time_arguments(int argc, char **argv, int *rounds, int *per_round, double *sample_ns,
                                         int *cpu)
{
    *rounds = atoi(argv[3]);
    *per_round = atoi(argv[4]);
    *sample_ns = atof(argv[5]) * 1000.0;
    *cpu = -1;
    if (*rounds < 1 || *per_round < 1 || !(*sample_ns >= 0.0)) return -1;
    if (argc == 7) {
        char *end;
        if (strcmp(argv[6], "none") == 0) {
            *cpu = -2;
        } else {
            *cpu = (int)strtol(argv[6], &end, 10);
            if (end == argv[6] || *end != '\0' || *cpu < -1) return -1;
        }
    }
    return 0;
}

/* Pins the process as harness_time_arguments' cpu asks and prints "cpu N" or "cpu none". */
static inline void harness_pin(int cpu)
{
    if (cpu == -2) {
        printf("cpu none\n");
    } else {
        int pinned = as_est_pin(cpu);
        if (pinned >= 0) printf("cpu %d\n", pinned);
        else printf("cpu none\n");
    }
    fflush(stdout);
}

/* Peak resident set in KiB. Linux keeps ru_maxrss across execve, and a harness started by posix_spawn
 * (a vfork-style clone sharing the parent's memory until exec) inherits the parent's high-water mark,
 * so the per-process VmHWM of /proc/self/status is preferred; getrusage is the fallback elsewhere. */
static inline long peak_rss_kb(void)
{
    struct rusage usage;
    char line[256];
    long kb = -1;
    FILE *status = fopen("/proc/self/status", "r");
    if (status) {
        while (fgets(line, sizeof line, status)) {
            if (strncmp(line, "VmHWM:", 6) == 0) {
                kb = strtol(line + 6, NULL, 10);
                break;
            }
        }
        fclose(status);
    }
    if (kb <= 0 && getrusage(RUSAGE_SELF, &usage) == 0) kb = (long)usage.ru_maxrss;
    return kb;
}

static inline void print_peak_rss(void)
{
    long kb = peak_rss_kb();
    if (kb > 0) printf("peak_rss_kb %ld\n", kb);
}

#endif /* AUTOSHRINK_HARNESS_COMMON_H */
