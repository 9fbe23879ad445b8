/*
 * speed_probe.h - a small fixed int8 workload timed beside every timed item, so a measurement can be
 * expressed relative to the machine's speed of the moment (docs/devices.md, "Shared cores").
 *
 * Why: a virtual machine whose cores are shared with another tenant runs everything about 1.3-1.4x
 * slower in spells of half a second to minutes. The slowdown is a common multiplicative factor: the
 * same for every int8 network (and for this probe), so item / probe timed side by side does not
 * depend on the spell, and (item / probe) x (the probe's time at full speed) is the item's time at
 * full speed. The profiler stores the probe's full-speed time in the profile (`speed_probe_ms`); an
 * export's `model --bench --probe-ref-ms X` reports `normalized_ms` = ratio x X, which a 0.5 s bench
 * falling wholly into a slow spell can still compare with the profile's predictions.
 *
 * The workload: one small mobile block through the runtime's own int8 kernels, the code the models
 * spend their time in, on fixed deterministic buffers (no randomness across runs or machines):
 *   pointwise 1x1  [8][8][64] -> [8][8][64]           (as_pointwise_conv_s8, 262k MACs)
 *   depthwise 3x3  [8][8][64] -> [8][8][64], stride 1 (as_depthwise_conv3x3_s8)
 *   conv 3x3       [8][8][16 of the 64] -> [8][8][32] (as_conv2d_s8, R = 144, 295k MACs)
 * About 4-10 us per call on a desktop core with VNNI/NEON dot products, longer on portable C builds;
 * its buffers (about 25 KiB) stay in the L1/L2 caches like a model's hot working set.
 *
 * Needs the image runtime (pointwise_conv2d.c, depthwise_conv2d.c, conv2d.c, gemm_s8.c, ...): the
 * image export's main.c (through harness_cli.h) and the profiler's harness.c include it. The language-
 * model program (lm/lm_main.c) links only the recurrent kernels and defines AS_SPEED_PROBE_NONE before
 * harness_cli.h, so it is not included there (its bench reports no probe figures).
 *
 * Header-only C99 + libc; the includer includes autoshrink_runtime.h. The probe's state lives in an
 * as_speed_probe from as_probe_create (no static data), 64-byte aligned like every array in it (their
 * sizes are multiples of 64): a malloc'd block's alignment differs from run to run, and vector loads
 * that straddle cache lines in one process but not in the next would change the probe's time by a few
 * per cent between processes, which is what it must not do.
 */
#ifndef AUTOSHRINK_SPEED_PROBE_H
#define AUTOSHRINK_SPEED_PROBE_H

#include "autoshrink_runtime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AS_PROBE_SIDE 8
#define AS_PROBE_CHANNELS 64
#define AS_PROBE_CONV_IN 16
#define AS_PROBE_CONV_OUT 32
/* Timed single calls per probe measurement; their median is the measurement (one per round). */
#define AS_PROBE_CALLS 5

#define AS_PROBE_PIXELS (AS_PROBE_SIDE * AS_PROBE_SIDE)

typedef struct as_speed_probe {
    int8_t input[AS_PROBE_PIXELS * AS_PROBE_CHANNELS];   /* [8][8][64] */
    int8_t middle[AS_PROBE_PIXELS * AS_PROBE_CHANNELS];  /* pointwise output */
    int8_t depthwise_out[AS_PROBE_PIXELS * AS_PROBE_CHANNELS];
    int8_t conv_out[AS_PROBE_PIXELS * AS_PROBE_CONV_OUT];
    int8_t pointwise_weights[AS_PROBE_CHANNELS * AS_PROBE_CHANNELS];           /* [R4=16][64][4] */
    int8_t depthwise_weights[9 * AS_PROBE_CHANNELS];                          /* [3][3][64] */
    int8_t conv_weights[9 * AS_PROBE_CONV_IN * AS_PROBE_CONV_OUT];            /* [R4=36][32][4] */
    int32_t bias[AS_PROBE_CHANNELS];
    int32_t multiplier[AS_PROBE_CHANNELS];
    int32_t shift[AS_PROBE_CHANNELS];
    as_requant_s8 requant;
    uint32_t checksum; /* sum of the outputs of the calls (keeps the work observable) */
    void *allocation;  /* what as_probe_create malloc'd */
} as_speed_probe;

/* Fills the probe's buffers from a fixed 32-bit LCG (the same on every architecture). */
static inline void as_probe_init(as_speed_probe *p)
{
    void *allocation = p->allocation;
    uint32_t state = 0x5EEDu;
    size_t i;
    int8_t *arrays[4];
    size_t sizes[4];
    memset(p, 0, sizeof *p);
    arrays[0] = p->input; sizes[0] = sizeof p->input;
    arrays[1] = p->pointwise_weights; sizes[1] = sizeof p->pointwise_weights;
    arrays[2] = p->depthwise_weights; sizes[2] = sizeof p->depthwise_weights;
    arrays[3] = p->conv_weights; sizes[3] = sizeof p->conv_weights;
    for (i = 0; i < 4; i++) {
        size_t j;
        for (j = 0; j < sizes[i]; j++) {
            state = state * 1664525u + 1013904223u;
            arrays[i][j] = (int8_t)((int)((state >> 24) % 255u) - 127);
        }
    }
    for (i = 0; i < AS_PROBE_CHANNELS; i++) {
        int shift;
        p->bias[i] = (int32_t)(i * 37 % 200) - 100;
        as_quantize_multiplier(0.0009765625 * (1.0 + (double)(i % 7) / 8.0), &p->multiplier[i], &shift);
        p->shift[i] = shift;
    }
    p->requant.multiplier = p->multiplier;
    p->requant.shift = p->shift;
    p->requant.output_zero_point = -3;
    p->requant.activation_min = -128;
    p->requant.activation_max = 127;
    p->allocation = allocation;
}

/* A new initialised probe at a 64-byte boundary, or NULL when out of memory; as_probe_destroy frees it. */
static inline as_speed_probe *as_probe_create(void)
{
    unsigned char *block = (unsigned char *)malloc(sizeof(as_speed_probe) + 64);
    as_speed_probe *p;
    if (block == NULL) return NULL;
    p = (as_speed_probe *)(void *)(block + (64 - (size_t)((uintptr_t)block % 64u)));
    p->allocation = block;
    as_probe_init(p);
    return p;
}

static inline void as_probe_destroy(as_speed_probe *p)
{
    if (p != NULL) free(p->allocation);
}

/* One call of the workload. */
static inline void as_probe_run(as_speed_probe *p)
{
    uint32_t sum = 0;
    as_pointwise_conv_s8(p->input, AS_PROBE_SIDE, AS_PROBE_SIDE, AS_PROBE_CHANNELS, AS_PROBE_CHANNELS, 5,
                         p->pointwise_weights, p->bias, 1, AS_PROBE_CHANNELS, &p->requant, p->middle, AS_PROBE_CHANNELS);
    as_depthwise_conv3x3_s8(p->middle, AS_PROBE_SIDE, AS_PROBE_SIDE, AS_PROBE_CHANNELS, AS_PROBE_CHANNELS, -3,
                            p->depthwise_weights, p->bias, 1, &p->requant, p->depthwise_out, AS_PROBE_CHANNELS);
    as_conv2d_s8(p->depthwise_out, AS_PROBE_SIDE, AS_PROBE_SIDE, AS_PROBE_CONV_IN, AS_PROBE_CHANNELS, -3, p->conv_weights,
                 p->bias, 3, 1, AS_PROBE_CONV_OUT, &p->requant, p->conv_out, AS_PROBE_CONV_OUT);
    sum += (uint32_t)(uint8_t)p->conv_out[0] + (uint32_t)(uint8_t)p->conv_out[sizeof p->conv_out - 1];
    p->checksum += sum;
}

static inline int as_probe_compare(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* One probe measurement: the median of AS_PROBE_CALLS single calls, each timed on its own, in
 * milliseconds (one untimed call first brings its buffers back into the caches). */
static inline double as_probe_measure_ms(as_speed_probe *p)
{
    double calls[AS_PROBE_CALLS];
    int c;
    as_probe_run(p);
    for (c = 0; c < AS_PROBE_CALLS; c++) {
        const uint64_t start = as_time_ns();
        as_probe_run(p);
        calls[c] = (double)(as_time_ns() - start) * 1e-6;
    }
    qsort(calls, AS_PROBE_CALLS, sizeof calls[0], as_probe_compare);
    return calls[AS_PROBE_CALLS / 2];
}

#endif /* AUTOSHRINK_SPEED_PROBE_H */
