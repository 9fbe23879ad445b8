/*
 * harness_cli.h - what the command lines of the two exported programs share: export/main.c (image
 * models) and lm/lm_main.c (language models, docs/shrinkrnn.md "Deploy"). Each keeps its own options
 * and usage text; this holds the shared shape (docs/architecture.md, "Latency estimator"):
 *
 *   fail(status, ...)       one line "model: ..." on stderr, exit status 1 (2 for a usage error)
 *   parse_count, parse_file a positive count, a file name after an option
 *   parse_shared_option     --bench N, --cpu C|none, --probe-ref-ms X, --json, --help/-h (the same in
 *                           both programs)
 *   bench_pin               pins the benchmarks as --cpu asks (estimator.h's as_est_pin)
 *   bench_run_count         the runs of a --bench N: N, or more to last BENCH_MIN_SECONDS
 *   bench_summarize         a --bench's figures: estimator.h's estimate over rounds of BENCH_ROUND_RUNS
 *                           consecutive runs, and median/p90/min over all runs; with a speed probe
 *                           measured before every round (speed_probe.h), the probe's own estimate and
 *                           the item/probe ratio normalized to a reference probe time (see below),
 *                           over the rounds at the reference's speed when there are enough of them
 *   bench_print             prints them: one JSON object (--json) or one line
 *   peak_rss_kib, allocate_times, median_and_p90
 *
 * Header-only C99 + libc like estimator.h (needs -Iruntime/include for autoshrink_runtime.h): `autoshrink
 * export` writes both next to the program's main, so an export builds with its Makefile's plain `cc` line.
 */
#ifndef AUTOSHRINK_HARNESS_CLI_H
#define AUTOSHRINK_HARNESS_CLI_H

#include "autoshrink_runtime.h"
#include "estimator.h"
#ifndef AS_SPEED_PROBE_NONE
#include "speed_probe.h" /* the image programs' speed probe (needs the image runtime; lm_main.c opts out) */
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs per round of a --bench (the last round may be shorter). */
#define BENCH_ROUND_RUNS 10
/* A --bench N lasts at least this long (more runs than N when N runs are quicker, at most
 * BENCH_MAX_FACTOR * N): the spells in which a shared core runs slowly last up to seconds, and a bench
 * of a few milliseconds would report whichever speed it fell into (docs/devices.md, "Shared cores"). */
#define BENCH_MIN_SECONDS 0.5
#define BENCH_MAX_FACTOR 100
/* Speed gate of a bench given a reference probe time (--probe-ref-ms; docs/devices.md "Shared cores",
 * "Speed-gated bench"): a round is at the reference's speed when the probe measured right before it took
 * at most (1 + BENCH_SPEED_TOLERANCE) x the reference (a calm core's rounds scatter by a few per cent; a
 * slow spell of a shared core is 20-50 % slower). The normalized figure comes from those rounds alone
 * when there are at least half the planned rounds of them, because wide networks slow down less than
 * the probe in a slow spell (normalizing them by it undershoots by up to 15 %), while at the reference's
 * speed normalizing changes nothing. */
#define BENCH_SPEED_TOLERANCE 0.10
/* How long a bench without enough rounds at the reference's speed keeps adding rounds (the image
 * program's --speed-wait-s, seconds). */
#define BENCH_SPEED_WAIT_SECONDS 10.0

static inline void fail(int status, const char *format, ...)
{
    va_list arguments;
    fflush(stdout);
    fputs("model: ", stderr);
    va_start(arguments, format);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    fputc('\n', stderr);
    exit(status);
}

static inline long parse_count(const char *text, const char *option)
{
    char *end = NULL;
    long value;
    if (text == NULL) {
        fail(2, "%s needs a number", option);
    }
    value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < 1) {
        fail(2, "%s needs a positive number, got '%s'", option, text);
    }
    return value;
}

/* The file name after an option. */
static inline const char *parse_file(const char *text, const char *option)
{
    if (text == NULL) {
        fail(2, "%s needs a file", option);
    }
    return text;
}

/* Handles argv[*i] when it is --bench N, --cpu C|none, --probe-ref-ms X, --json or --help/-h and returns 1
 * (*i moves past a value); returns 0 for any other argument. *cpu: the core, -1 least loaded (default),
 * -2 none. *probe_ref_ms: the reference probe time in milliseconds (a positive number; left as it is when
 * the option is absent). */
static inline int parse_shared_option(int argc, char **argv, int *i, long *bench, int *cpu, int *json,
                                      double *probe_ref_ms, void (*usage)(void))
{
    const char *a = argv[*i];
    const char *next = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (strcmp(a, "--bench") == 0) {
        *bench = parse_count(next, a);
        (*i)++;
    } else if (strcmp(a, "--probe-ref-ms") == 0) {
        char *end = NULL;
        double value = next != NULL ? strtod(next, &end) : 0.0;
        if (next == NULL || end == next || *end != '\0' || !(value > 0.0) || value > 1e6) {
            fail(2, "--probe-ref-ms needs a positive number of milliseconds, got '%s'", next ? next : "");
        }
        *probe_ref_ms = value;
        (*i)++;
    } else if (strcmp(a, "--cpu") == 0) {
        char *end = NULL;
        long core = next != NULL ? strtol(next, &end, 10) : -1;
        if (next != NULL && strcmp(next, "none") == 0) {
            *cpu = -2;
        } else if (next == NULL || end == next || *end != '\0' || core < 0 || core > 100000) {
            fail(2, "--cpu needs a core number or 'none', got '%s'", next ? next : "");
        } else {
            *cpu = (int)core;
        }
        (*i)++;
    } else if (strcmp(a, "--json") == 0) {
        *json = 1;
    } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
        usage();
        exit(0);
    } else {
        return 0;
    }
    return 1;
}

/* The core the benchmarks run on for a --cpu value (see parse_shared_option), or -1 when not pinned. */
static inline int bench_pin(int cpu_option)
{
    return cpu_option == -2 ? -1 : as_est_pin(cpu_option);
}

/* Peak resident set size from /proc/self/status (VmHWM) in KiB, or -1 where unavailable. */
static inline long peak_rss_kib(void)
{
    char line[256];
    long value = -1;
    FILE *file = fopen("/proc/self/status", "r");
    if (file == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, file) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            value = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(file);
    return value;
}

static inline double *allocate_times(long count)
{
    double *times = (double *)malloc((size_t)count * sizeof(double));
    if (times == NULL) {
        fail(1, "out of memory for %ld timings", count);
    }
    return times;
}

/* Sorts times[count] and returns the median; *p90 receives the 90th percentile (nearest rank). */
static inline double median_and_p90(double *times, long count, double *p90)
{
    long rank = (long)(0.9 * (double)count + 0.999999);
    qsort(times, (size_t)count, sizeof *times, as_est_compare);
    *p90 = times[(rank < 1 ? 1 : rank) - 1];
    return count % 2 ? times[count / 2] : 0.5 * (times[count / 2 - 1] + times[count / 2]);
}

/* The runs a --bench N makes: N, or enough to last BENCH_MIN_SECONDS at `seconds_per_run` (measured over
 * the warm-up), at most BENCH_MAX_FACTOR * N, rounded up to whole rounds. */
static inline long bench_run_count(long runs, double seconds_per_run)
{
    double wanted;
    long count;
    if (!(seconds_per_run > 0.0)) return runs;
    wanted = BENCH_MIN_SECONDS / seconds_per_run;
    if (wanted <= (double)runs) return runs;
    count = wanted >= (double)runs * BENCH_MAX_FACTOR ? runs * BENCH_MAX_FACTOR : (long)wanted + 1;
    return (count + BENCH_ROUND_RUNS - 1) / BENCH_ROUND_RUNS * BENCH_ROUND_RUNS;
}

/* The figures of one --bench. */
typedef struct bench_summary {
    as_estimate estimate;     /* 10th percentile of the round medians, with its 95 % interval */
    double median, p90, min;  /* over all runs, milliseconds */
    long rounds, round_runs;
    char cpu[16];             /* the pinned core, or "null" (json) / "none" */
    /* With a speed probe (probes != NULL in bench_summarize), else has_probe 0: */
    int has_probe;
    double probe_ms;          /* estimator.h's estimate of the probe measurements (one per round) */
    double ratio;             /* estimate / probe_ms: the item's and the probe's estimates over the same rounds */
    double probe_ref_ms;      /* the reference: --probe-ref-ms, else probe_ms */
    int probe_ref_given;      /* 1: probe_ref_ms is --probe-ref-ms */
    double normalized_ms;     /* ratio x probe_ref_ms */
    /* With a probe and --probe-ref-ms (speed gate, see BENCH_SPEED_TOLERANCE): */
    long fast_rounds;         /* rounds whose probe was within the tolerance of the reference */
    int speed_gated;          /* 1: probe_ms, ratio and normalized_ms are over those rounds only */
    double waited_s;          /* seconds of rounds added after the planned ones to find them (set by the caller) */
} bench_summary;

/* Whether a round whose probe took probe_ms ran at the speed of the reference probe time. */
static inline int bench_round_at_reference_speed(double probe_ms, double probe_ref_ms)
{
    return probe_ref_ms > 0.0 && probe_ms <= probe_ref_ms * (1.0 + BENCH_SPEED_TOLERANCE);
}

/* The number of rounds of a bench of `runs` runs (the last one may be shorter). */
static inline long bench_round_count(long runs)
{
    const long size = runs < BENCH_ROUND_RUNS ? runs : BENCH_ROUND_RUNS;
    return size > 0 ? (runs + size - 1) / size : 0;
}

/* Summarises times[runs] (milliseconds, in run order; sorted on return) of a bench pinned to `cpu`.
 * probes: NULL, or one probe measurement per round (milliseconds, speed_probe.h's as_probe_measure_ms)
 * taken right before the round; then the summary also has the speed-normalized figures: the item's time
 * relative to the probe's does not depend much on how fast the shared machine was (docs/devices.md,
 * "Shared cores"), so ratio x probe_ref_ms (the profile's full-speed probe time, or else this bench's own
 * probe estimate) is the item's time at the speed the reference was measured at. probe_ref_ms <= 0: no
 * reference given. fast_needed > 0 (with a reference): when at least that many rounds ran at the
 * reference's speed (bench_round_at_reference_speed), probe_ms, ratio and normalized_ms are over those
 * rounds only (speed_gated).
 *
 * ratio = estimate / probe_ms, both estimator.h's 10th percentile over the same interleaved rounds: in
 * a bench wholly inside one speed both are that speed's undisturbed time; in a bench that saw both,
 * both are the fast speed's. The median of the per-round ratios was measured first and rejected: short
 * interference hits a 10-run round and a 5-call probe unequally, so it scattered 6-10 % between benches
 * on the same calm machine where this ratio scattered 1-2 % (docs/devices.md, "Shared cores"). */
static inline bench_summary bench_summarize(double *times, long runs, const double *probes, double probe_ref_ms,
                                            long fast_needed, int cpu, int json)
{
    bench_summary s;
    double *ordered = allocate_times(runs), *medians, *all_medians;
    long round;
    memset(&s, 0, sizeof s);
    s.round_runs = runs < BENCH_ROUND_RUNS ? runs : BENCH_ROUND_RUNS;
    s.rounds = bench_round_count(runs);
    medians = allocate_times(s.rounds);
    all_medians = allocate_times(s.rounds);
    memcpy(ordered, times, (size_t)runs * sizeof *times);
    for (round = 0; round < s.rounds; round++) {
        const long first = round * s.round_runs;
        const long count = first + s.round_runs <= runs ? s.round_runs : runs - first;
        medians[round] = as_est_median(ordered + first, (int)count);
    }
    memcpy(all_medians, medians, (size_t)s.rounds * sizeof *medians);
    s.estimate = as_est_from_round_medians(all_medians, (int)s.rounds);
    if (probes != NULL) {
        double *probe_rounds = allocate_times(s.rounds);
        double item;
        long used = 0;
        s.has_probe = 1;
        s.probe_ref_given = probe_ref_ms > 0.0;
        s.probe_ref_ms = s.probe_ref_given ? probe_ref_ms : 0.0;
        /* the rounds at the reference's speed, moved to the front of medians/probe_rounds */
        for (round = 0; round < s.rounds; round++) {
            if (bench_round_at_reference_speed(probes[round], s.probe_ref_ms)) {
                medians[used] = medians[round];
                probe_rounds[used] = probes[round];
                used++;
            }
        }
        s.fast_rounds = used;
        s.speed_gated = s.probe_ref_given && fast_needed > 0 && used >= fast_needed;
        if (s.speed_gated) {
            item = as_est_from_round_medians(medians, (int)used).value;
        } else {
            used = s.rounds;
            memcpy(probe_rounds, probes, (size_t)used * sizeof *probes);
            item = s.estimate.value;
        }
        s.probe_ms = as_est_from_round_medians(probe_rounds, (int)used).value;
        s.ratio = s.probe_ms > 0.0 ? item / s.probe_ms : 0.0;
        if (!s.probe_ref_given) s.probe_ref_ms = s.probe_ms;
        s.normalized_ms = s.ratio * s.probe_ref_ms;
        free(probe_rounds);
    }
    s.median = median_and_p90(times, runs, &s.p90);
    s.min = times[0];
    if (cpu >= 0) {
        snprintf(s.cpu, sizeof s.cpu, "%d", cpu);
    } else {
        strcpy(s.cpu, json ? "null" : "none");
    }
    free(all_medians);
    free(medians);
    free(ordered);
    return s;
}

/* Prints a bench's figures: a JSON object with `size_key` (the model's memory, bytes) and the peak RSS
 * last, or one line "NAME PRECISION`label`: estimate ... over RUNS `unit` (`setting`, cpu C, SIMD)".
 * With a probe, the object also has probe_ms, ratio, probe_ref_ms and normalized_ms (before size_key)
 * and the line a second line "speed probe ...". */
static inline void bench_print(const bench_summary *s, long runs, int json, const char *name, const char *precision,
                               const char *label, const char *unit, const char *setting, const char *size_key,
                               unsigned long size_bytes)
{
    if (json) {
        printf("{\"model\":\"%s\",\"precision\":\"%s\",\"runs\":%ld,\"median_ms\":%.6f,\"p90_ms\":%.6f,"
               "\"min_ms\":%.6f,\"estimate_ms\":%.6f,\"ci_low_ms\":%.6f,\"ci_high_ms\":%.6f,\"rounds\":%ld,"
               "\"round_runs\":%ld,\"cpu\":%s,\"simd\":\"%s\",",
               name, precision, runs, s->median, s->p90, s->min, s->estimate.value, s->estimate.low, s->estimate.high,
               s->rounds, s->round_runs, s->cpu, as_runtime_simd_path());
        if (s->has_probe) {
            printf("\"probe_ms\":%.6f,\"ratio\":%.6f,\"probe_ref_ms\":%.6f,\"normalized_ms\":%.6f,", s->probe_ms,
                   s->ratio, s->probe_ref_ms, s->normalized_ms);
            if (s->probe_ref_given) {
                printf("\"fast_rounds\":%ld,\"speed_gated\":%s,\"waited_s\":%.3f,", s->fast_rounds,
                       s->speed_gated ? "true" : "false", s->waited_s);
            }
        }
        printf("\"%s\":%lu,\"peak_rss_kib\":%ld}\n", size_key, size_bytes, peak_rss_kib());
    } else {
        printf("%s %s%s: estimate %.4f ms (95%% interval %.4f-%.4f; 10th percentile of %ld round medians of %ld %s), "
               "median %.4f ms, p90 %.4f ms, min %.4f ms over %ld %s (%s, cpu %s, %s)\n",
               name, precision, label, s->estimate.value, s->estimate.low, s->estimate.high, s->rounds, s->round_runs,
               unit, s->median, s->p90, s->min, runs, unit, setting, s->cpu, as_runtime_simd_path());
        if (s->has_probe) {
            printf("speed probe %.4f ms (estimate of one measurement per round), ratio %.4f (estimate / probe), "
                   "normalized %.4f ms (ratio x %.4f ms, the %s)\n",
                   s->probe_ms, s->ratio, s->normalized_ms, s->probe_ref_ms,
                   s->probe_ref_given ? "--probe-ref-ms reference" : "probe's own estimate");
            if (s->probe_ref_given) {
                printf("speed gate: %ld of %ld rounds at the reference's speed (probe <= %.0f %% above it); %s\n",
                       s->fast_rounds, s->rounds, 100.0 * BENCH_SPEED_TOLERANCE, s->speed_gated
                           ? "the normalized figure is over those rounds"
                           : "too few: the normalized figure is over all rounds");
                if (s->waited_s > 0.0) {
                    printf("speed gate: %.1f s of rounds added after the planned ones to find them\n", s->waited_s);
                }
            }
        }
    }
}

#endif
