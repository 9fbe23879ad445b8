/*
 * estimator.h - the one latency estimator of the profiler harness (profiler/harness.c) and of every
 * export's `model --bench` (export/main.c), so the predictor is fitted to the quantity an export reports
 * (docs/architecture.md, "Latency estimator"). Header-only C99 + libc + libm (-lm): it is written next to harness.c by
 * `autoshrink profile` and next to main.c by `autoshrink export`, and both include it as "estimator.h".
 *
 * Samples are taken in rounds; a round takes a few samples of every item back to back (the harness
 * interleaves all operators or networks in a round; the bench's round is K consecutive inferences).
 * Each round is summarised by its median, and the estimate is the 10TH PERCENTILE of the per-round
 * medians (linear interpolation between order statistics). Interference on a shared machine only
 * ever slows a run down and comes in spells: the per-round median drops short spikes inside a round,
 * and the low percentile over rounds keeps the quieter spells while ignoring up to 9/10 of the rounds
 * being disturbed, yet (unlike the minimum) does not rest on one round. The 10th rather than the 25th
 * percentile because a virtual machine whose core is shared with a busy neighbour runs everything
 * about 1.4x slower for seconds at a time (docs/devices.md, "Shared cores"): with a quarter or more
 * of the rounds in such spells the lower quartile lands between the two speeds, differently in every
 * run, while the 10th percentile still reports the undisturbed speed.
 *
 * The interval is a distribution-free order-statistic confidence interval of that percentile: with n
 * sorted round medians x(1) <= ... <= x(n), [x(j), x(k)] where j is the largest rank with
 * P(B <= j - 1) <= 2.5 % and k the smallest with P(B <= k - 1) >= 97.5 %, B ~ Binomial(n, 1/10);
 * ranks outside 1..n are clamped (few rounds give the whole range). The Swift twin is
 * `RoundEstimator` (Sources/AutoShrinkProfiler/Estimator.swift); EstimatorTests checks that both
 * agree and that the estimator converges on heavy-tailed noise.
 *
 * Pinning: as_est_pin(cpu) pins the calling process to one core with sched_setaffinity (Linux, when the
 * includer defines _GNU_SOURCE before any header); cpu < 0 picks the allowed core with the lowest load
 * over two /proc/stat reads 50 ms apart. It returns the core, or -1 when it did not pin (left unpinned).
 */
#ifndef AUTOSHRINK_ESTIMATOR_H
#define AUTOSHRINK_ESTIMATOR_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__) && defined(_GNU_SOURCE)
#include <sched.h>
#include <time.h>
#define AS_EST_CAN_PIN 1
#else
#define AS_EST_CAN_PIN 0
#endif

/* The quantile of per-round medians that is the estimate, and the interval's two-sided level. */
#define AS_EST_QUANTILE 0.10
#define AS_EST_TAIL 0.025

typedef struct as_estimate {
    double value; /* 10th percentile of the per-round medians */
    double low;   /* order-statistic 95 % interval of that percentile */
    double high;
    int rounds;   /* round medians it was computed from */
} as_estimate;

static inline int as_est_compare(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Quantile q of sorted[count] (linear interpolation between ranks, as numpy's default). */
static inline double as_est_quantile_sorted(const double *sorted, int count, double q)
{
    double rank, weight;
    int low;
    if (count <= 0) return 0.0;
    if (count == 1) return sorted[0];
    rank = q * (double)(count - 1);
    low = (int)rank;
    if (low + 1 >= count) return sorted[count - 1];
    weight = rank - (double)low;
    return sorted[low] * (1.0 - weight) + sorted[low + 1] * weight;
}

/* Sorts values[count] and returns their median. */
static inline double as_est_median(double *values, int count)
{
    qsort(values, (size_t)count, sizeof *values, as_est_compare);
    return as_est_quantile_sorted(values, count, 0.5);
}

/* 1-based ranks [*low, *high] of the order-statistic interval of quantile q among count values. */
static inline void as_est_interval_ranks(int count, double q, int *low, int *high)
{
    /* P(B = i) from logarithms, so thousands of rounds (a long bench) do not underflow (1 - q)^count. */
    const double log_q = log(q), log_p = log(1.0 - q);
    const double log_count_factorial = lgamma((double)count + 1.0);
    double cdf = 0.0;
    int i, j = 1, k = count;
    /* cdf = P(B <= i) after adding term i: j - 1 is the last i with cdf <= tail, k - 1 the first with
     * cdf >= 1 - tail. */
    for (i = 0; i < count; i++) {
        cdf += exp(log_count_factorial - lgamma((double)i + 1.0) - lgamma((double)(count - i) + 1.0) +
                   (double)i * log_q + (double)(count - i) * log_p);
        if (cdf <= AS_EST_TAIL) j = i + 1;
        if (cdf >= 1.0 - AS_EST_TAIL) {
            k = i + 1;
            break;
        }
    }
    if (j < 1) j = 1;
    if (j > count) j = count;
    if (k < j) k = j;
    if (k > count) k = count;
    *low = j;
    *high = k;
}

/* The estimate from per-round medians (sorted in place). */
static inline as_estimate as_est_from_round_medians(double *medians, int rounds)
{
    as_estimate e;
    int low, high;
    memset(&e, 0, sizeof e);
    if (rounds <= 0) return e;
    qsort(medians, (size_t)rounds, sizeof *medians, as_est_compare);
    as_est_interval_ranks(rounds, AS_EST_QUANTILE, &low, &high);
    e.value = as_est_quantile_sorted(medians, rounds, AS_EST_QUANTILE);
    e.low = medians[low - 1];
    e.high = medians[high - 1];
    e.rounds = rounds;
    return e;
}

/* The estimate from samples[rounds * per_round] stored round after round (samples is left unchanged;
 * scratch holds rounds + per_round doubles). */
static inline as_estimate as_est_from_rounds(const double *samples, int rounds, int per_round, double *scratch)
{
    double *medians = scratch, *round = scratch + rounds;
    int r;
    for (r = 0; r < rounds; r++) {
        memcpy(round, samples + (size_t)r * (size_t)per_round, (size_t)per_round * sizeof *round);
        medians[r] = as_est_median(round, per_round);
    }
    return as_est_from_round_medians(medians, rounds);
}

/* ---- pinning -------------------------------------------------------------------------------------- */

#if AS_EST_CAN_PIN
#define AS_EST_MAX_CPUS 1024

/* Busy and total jiffies per CPU from /proc/stat; returns the number of cpuN lines read, or -1. */
static inline int as_est_read_stat(unsigned long long *busy, unsigned long long *total, int max_cpus)
{
    char line[512];
    int count = 0;
    FILE *file = fopen("/proc/stat", "r");
    if (!file) return -1;
    while (fgets(line, sizeof line, file)) {
        unsigned long long v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int cpu, fields;
        if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9') continue;
        fields = sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1], &v[2], &v[3], &v[4],
                        &v[5], &v[6], &v[7]);
        if (fields < 5 || cpu < 0 || cpu >= max_cpus) continue;
        /* user nice system idle iowait irq softirq steal: idle and iowait are free time */
        total[cpu] = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
        busy[cpu] = total[cpu] - v[3] - v[4];
        count++;
    }
    fclose(file);
    return count;
}

/* The allowed CPU with the lowest load over 50 ms, or -1. */
static inline int as_est_least_loaded_cpu(void)
{
    static unsigned long long busy0[AS_EST_MAX_CPUS], total0[AS_EST_MAX_CPUS], busy1[AS_EST_MAX_CPUS],
        total1[AS_EST_MAX_CPUS];
    struct timespec pause;
    cpu_set_t allowed;
    double best_load = 2.0;
    int cpu, best = -1;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
    memset(total0, 0, sizeof total0);
    memset(total1, 0, sizeof total1);
    if (as_est_read_stat(busy0, total0, AS_EST_MAX_CPUS) <= 0) return -1;
    pause.tv_sec = 0;
    pause.tv_nsec = 50000000L;
    nanosleep(&pause, NULL);
    if (as_est_read_stat(busy1, total1, AS_EST_MAX_CPUS) <= 0) return -1;
    for (cpu = 0; cpu < AS_EST_MAX_CPUS && cpu < CPU_SETSIZE; cpu++) {
        double load;
        if (!CPU_ISSET(cpu, &allowed) || total1[cpu] == 0) continue;
        load = total1[cpu] > total0[cpu]
                   ? (double)(busy1[cpu] - busy0[cpu]) / (double)(total1[cpu] - total0[cpu])
                   : 0.0;
        if (load < best_load) {
            best_load = load;
            best = cpu;
        }
    }
    return best;
}

static inline int as_est_pin(int cpu)
{
    cpu_set_t set;
    if (cpu < 0) cpu = as_est_least_loaded_cpu();
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -1;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? cpu : -1;
}
#else
static inline int as_est_pin(int cpu)
{
    (void)cpu;
    return -1;
}
#endif

#endif /* AUTOSHRINK_ESTIMATOR_H */
