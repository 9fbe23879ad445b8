/*
 * kernel_bench.c - times the "refnet" yardstick network with the runtime kernels, int8 and float32,
 * optimized and reference, with deterministic random weights. Prints the median milliseconds per
 * inference over many runs and a per-layer breakdown (medians, microseconds).
 *
 * refnet (input 28x28x1, every conv with ReLU):
 *   conv3x3 1->16 s1 | conv3x3 16->32 s2 | dw3x3 32 s1 | pw 32->64 | dw3x3 64 s2 | pw 64->128 | gap | fc 128->10
 *
 * Layout letters: H = height, W = width, C = channels; activations are [H][W][C].
 * Build: cc -std=c99 -O3 -march=native -I<CRuntime>/include kernel_bench.c <every CRuntime .c file>
 * Usage: kernel_bench [runs]   (default 2000)
 */
#include "autoshrink_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAYERS 9 /* quantize/input step + 8 layers */

typedef struct rng {
    uint64_t state;
} rng;

static uint32_t next_u32(rng *r)
{
    r->state = r->state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (uint32_t)(r->state >> 32);
}

static float rand_float(rng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)(next_u32(r) >> 8) / 16777216.0f;
}

/* ---- network parameters ------------------------------------------------------------------------ */

/* float weights in the runtime layouts: conv [3][3][C_in][C_out], dw [3][3][C], pw / fc [C_in][C_out] */
static float w1f[9 * 1 * 16], b1f[16];
static float w2f[9 * 16 * 32], b2f[32];
static float w3f[9 * 32], b3f[32];
static float w4f[32 * 64], b4f[64];
static float w5f[9 * 64], b5f[64];
static float w6f[64 * 128], b6f[128];
static float w8f[128 * 10], b8f[10];

/* int8 weights [R4][C_out][4] (dw [3][3][C]), int32 biases, per-channel multipliers and shifts */
static int8_t w1q[AS_WEIGHTS_S8_BYTES(9, 16)], w2q[AS_WEIGHTS_S8_BYTES(144, 32)], w3q[9 * 32];
static int8_t w4q[AS_WEIGHTS_S8_BYTES(32, 64)], w5q[9 * 64], w6q[AS_WEIGHTS_S8_BYTES(64, 128)];
static int8_t w8q[AS_WEIGHTS_S8_BYTES(128, 10)];
static int32_t b1q[16], b2q[32], b3q[32], b4q[64], b5q[64], b6q[128], b8q[10];
static int32_t m1[16], s1[16], m2[32], s2[32], m3[32], s3[32], m4[64], s4[64], m5[64], s5[64];
static int32_t m6[128], s6[128], m8[10], s8[10];
static as_requant_s8 q1, q2, q3, q4, q5, q6, q8;
static int32_t gap_multiplier;
static int gap_shift;

/* activations */
static float image[28 * 28];
static float a1f[28 * 28 * 16], a2f[14 * 14 * 32], a3f[14 * 14 * 32], a4f[14 * 14 * 64];
static float a5f[7 * 7 * 64], a6f[7 * 7 * 128], a7f[128], a8f[10];
static int8_t a0q[28 * 28], a1q[28 * 28 * 16], a2q[14 * 14 * 32], a3q[14 * 14 * 32], a4q[14 * 14 * 64];
static int8_t a5q[7 * 7 * 64], a6q[7 * 7 * 128], a7q[128], a8q[10];

static const float ACT_SCALE = 0.05f; /* every activation tensor: scale 0.05, zero point -128 (ReLU) */
static const int32_t ACT_ZP = -128;

static void fill(rng *r, float *x, int n, float range)
{
    int i;
    for (i = 0; i < n; i++) {
        x[i] = rand_float(r, -range, range);
    }
}

/* int8 weights in [C_out][R] order, packed; bias and requantization for in/out scale ACT_SCALE. */
static void quantize_layer(rng *r, int reduction, int out_channels, int depthwise, int8_t *w, int32_t *b,
                           int32_t *m, int32_t *s, as_requant_s8 *q)
{
    int8_t *oi = (int8_t *)malloc((size_t)reduction * out_channels);
    int i, o;
    for (i = 0; i < reduction * out_channels; i++) {
        oi[i] = (int8_t)((int)(next_u32(r) % 255u) - 127);
    }
    if (depthwise) {
        memcpy(w, oi, (size_t)reduction * out_channels); /* [3][3][C] */
    } else {
        as_pack_weights_s8(oi, out_channels, reduction, w);
    }
    for (o = 0; o < out_channels; o++) {
        const double weight_scale = 1.0 / 127.0 / (reduction > 9 ? reduction / 9.0 : 1.0);
        int shift;
        b[o] = (int32_t)(next_u32(r) % 2001u) - 1000;
        as_quantize_multiplier(ACT_SCALE * weight_scale / ACT_SCALE, &m[o], &shift);
        s[o] = shift;
    }
    q->multiplier = m;
    q->shift = s;
    q->output_zero_point = ACT_ZP;
    as_activation_range_s8(AS_ACTIVATION_RELU, ACT_SCALE, ACT_ZP, &q->activation_min, &q->activation_max);
    free(oi);
}

static void setup(void)
{
    rng r;
    r.state = 7;
    fill(&r, image, 28 * 28, 1.0f);
    fill(&r, w1f, 9 * 16, 0.5f);
    fill(&r, b1f, 16, 0.1f);
    fill(&r, w2f, 9 * 16 * 32, 0.1f);
    fill(&r, b2f, 32, 0.1f);
    fill(&r, w3f, 9 * 32, 0.3f);
    fill(&r, b3f, 32, 0.1f);
    fill(&r, w4f, 32 * 64, 0.2f);
    fill(&r, b4f, 64, 0.1f);
    fill(&r, w5f, 9 * 64, 0.3f);
    fill(&r, b5f, 64, 0.1f);
    fill(&r, w6f, 64 * 128, 0.1f);
    fill(&r, b6f, 128, 0.1f);
    fill(&r, w8f, 128 * 10, 0.1f);
    fill(&r, b8f, 10, 0.1f);
    quantize_layer(&r, 9, 16, 0, w1q, b1q, m1, s1, &q1);
    quantize_layer(&r, 144, 32, 0, w2q, b2q, m2, s2, &q2);
    quantize_layer(&r, 9, 32, 1, w3q, b3q, m3, s3, &q3);
    quantize_layer(&r, 32, 64, 0, w4q, b4q, m4, s4, &q4);
    quantize_layer(&r, 9, 64, 1, w5q, b5q, m5, s5, &q5);
    quantize_layer(&r, 64, 128, 0, w6q, b6q, m6, s6, &q6);
    quantize_layer(&r, 128, 10, 0, w8q, b8q, m8, s8, &q8);
    q8.activation_min = -128; /* logits: no activation */
    as_quantize_multiplier(1.0 / 49.0, &gap_multiplier, &gap_shift);
}

/* ---- the two networks, one layer per step ------------------------------------------------------ */

static void run_f32_layer(int layer, int reference)
{
    switch (layer) {
    case 0: /* float input is used as is */
        break;
    case 1:
        (reference ? as_conv2d_f32_ref : as_conv2d_f32)(image, 28, 28, 1, 1, w1f, b1f, 3, 1, 16, AS_ACTIVATION_RELU,
                                                        a1f, 16);
        break;
    case 2:
        (reference ? as_conv2d_f32_ref : as_conv2d_f32)(a1f, 28, 28, 16, 16, w2f, b2f, 3, 2, 32, AS_ACTIVATION_RELU,
                                                        a2f, 32);
        break;
    case 3:
        (reference ? as_depthwise_conv3x3_f32_ref : as_depthwise_conv3x3_f32)(a2f, 14, 14, 32, 32, w3f, b3f, 1,
                                                                              AS_ACTIVATION_RELU, a3f, 32);
        break;
    case 4:
        (reference ? as_pointwise_conv_f32_ref : as_pointwise_conv_f32)(a3f, 14, 14, 32, 32, w4f, b4f, 1, 64,
                                                                        AS_ACTIVATION_RELU, a4f, 64);
        break;
    case 5:
        (reference ? as_depthwise_conv3x3_f32_ref : as_depthwise_conv3x3_f32)(a4f, 14, 14, 64, 64, w5f, b5f, 2,
                                                                              AS_ACTIVATION_RELU, a5f, 64);
        break;
    case 6:
        (reference ? as_pointwise_conv_f32_ref : as_pointwise_conv_f32)(a5f, 7, 7, 64, 64, w6f, b6f, 1, 128,
                                                                        AS_ACTIVATION_RELU, a6f, 128);
        break;
    case 7:
        (reference ? as_global_avg_pool_f32_ref : as_global_avg_pool_f32)(a6f, 7, 7, 128, 128, a7f);
        break;
    default:
        (reference ? as_fully_connected_f32_ref : as_fully_connected_f32)(a7f, 128, w8f, b8f, 10,
                                                                          AS_ACTIVATION_NONE, a8f);
        break;
    }
}

static void run_s8_layer(int layer, int reference)
{
    switch (layer) {
    case 0:
        as_quantize_s8(image, 28 * 28, 1.0f / 127.0f, 0, a0q);
        break;
    case 1:
        (reference ? as_conv2d_s8_ref : as_conv2d_s8)(a0q, 28, 28, 1, 1, 0, w1q, b1q, 3, 1, 16, &q1, a1q, 16);
        break;
    case 2:
        (reference ? as_conv2d_s8_ref : as_conv2d_s8)(a1q, 28, 28, 16, 16, ACT_ZP, w2q, b2q, 3, 2, 32, &q2, a2q, 32);
        break;
    case 3:
        (reference ? as_depthwise_conv3x3_s8_ref : as_depthwise_conv3x3_s8)(a2q, 14, 14, 32, 32, ACT_ZP, w3q, b3q, 1,
                                                                            &q3, a3q, 32);
        break;
    case 4:
        (reference ? as_pointwise_conv_s8_ref : as_pointwise_conv_s8)(a3q, 14, 14, 32, 32, ACT_ZP, w4q, b4q, 1, 64,
                                                                      &q4, a4q, 64);
        break;
    case 5:
        (reference ? as_depthwise_conv3x3_s8_ref : as_depthwise_conv3x3_s8)(a4q, 14, 14, 64, 64, ACT_ZP, w5q, b5q, 2,
                                                                            &q5, a5q, 64);
        break;
    case 6:
        (reference ? as_pointwise_conv_s8_ref : as_pointwise_conv_s8)(a5q, 7, 7, 64, 64, ACT_ZP, w6q, b6q, 1, 128,
                                                                      &q6, a6q, 128);
        break;
    case 7:
        (reference ? as_global_avg_pool_s8_ref : as_global_avg_pool_s8)(a6q, 7, 7, 128, 128, ACT_ZP, gap_multiplier,
                                                                        gap_shift, ACT_ZP, a7q);
        break;
    default:
        (reference ? as_fully_connected_s8_ref : as_fully_connected_s8)(a7q, 128, ACT_ZP, w8q, b8q, 10, &q8, a8q);
        break;
    }
}

/* ---- timing ------------------------------------------------------------------------------------ */

static int compare_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the samples; returns the median, stores the minimum. */
static uint64_t median(uint64_t *samples, int count, uint64_t *minimum)
{
    qsort(samples, (size_t)count, sizeof samples[0], compare_u64);
    if (minimum) {
        *minimum = samples[0];
    }
    return samples[count / 2];
}

/* Median ns of the whole network (first..last layers, its minimum in *best) and of each layer. */
static uint64_t measure(void (*run_layer)(int, int), int reference, int runs, uint64_t *per_layer, uint64_t *best)
{
    uint64_t *samples = (uint64_t *)malloc((size_t)runs * sizeof(uint64_t));
    uint64_t total;
    int i, layer;
    for (i = 0; i < runs / 10 + 1; i++) { /* warm-up */
        for (layer = 0; layer < LAYERS; layer++) {
            run_layer(layer, reference);
        }
    }
    for (i = 0; i < runs; i++) {
        const uint64_t t0 = as_time_ns();
        for (layer = 0; layer < LAYERS; layer++) {
            run_layer(layer, reference);
        }
        samples[i] = as_time_ns() - t0;
    }
    total = median(samples, runs, best);
    for (layer = 0; layer < LAYERS; layer++) {
        for (i = 0; i < runs; i++) {
            const uint64_t t0 = as_time_ns();
            run_layer(layer, reference);
            samples[i] = as_time_ns() - t0;
        }
        per_layer[layer] = median(samples, runs, NULL);
    }
    free(samples);
    return total;
}

int main(int argc, char **argv)
{
    static const char *const names[LAYERS] = {"input (quantize)", "conv3x3 1->16 s1", "conv3x3 16->32 s2",
                                              "dw3x3 32 s1", "pw 32->64", "dw3x3 64 s2",
                                              "pw 64->128", "global avg pool", "fc 128->10"};
    const int runs = argc > 1 ? atoi(argv[1]) : 2000;
    const int ref_runs = runs / 20 > 5 ? runs / 20 : 5;
    uint64_t s8_layers[LAYERS], f32_layers[LAYERS], s8_ref_layers[LAYERS], f32_ref_layers[LAYERS];
    uint64_t s8_total, f32_total, s8_ref_total, f32_ref_total, s8_best, f32_best, ignored;
    int layer, i, argmax_f = 0, argmax_q = 0;

    if (runs < 1) {
        fprintf(stderr, "usage: kernel_bench [runs]\n");
        return 2;
    }
    setup();
    s8_total = measure(run_s8_layer, 0, runs, s8_layers, &s8_best);
    f32_total = measure(run_f32_layer, 0, runs, f32_layers, &f32_best);
    s8_ref_total = measure(run_s8_layer, 1, ref_runs, s8_ref_layers, &ignored);
    f32_ref_total = measure(run_f32_layer, 1, ref_runs, f32_ref_layers, &ignored);
    for (i = 1; i < 10; i++) {
        argmax_f = a8f[i] > a8f[argmax_f] ? i : argmax_f;
        argmax_q = a8q[i] > a8q[argmax_q] ? i : argmax_q;
    }

    printf("kernel_bench: refnet 28x28x1, runtime %s, path %s, %d runs (reference %d)\n",
           AUTOSHRINK_RUNTIME_VERSION, as_runtime_simd_path(), runs, ref_runs);
    printf("%-20s %12s %12s %12s %12s\n", "layer (median us)", "int8", "int8 ref", "fp32", "fp32 ref");
    for (layer = 0; layer < LAYERS; layer++) {
        printf("%-20s %12.2f %12.2f %12.2f %12.2f\n", names[layer], s8_layers[layer] / 1e3,
               s8_ref_layers[layer] / 1e3, f32_layers[layer] / 1e3, f32_ref_layers[layer] / 1e3);
    }
    printf("refnet int8 median %.4f ms/inference, min %.4f (reference %.4f ms, speedup %.1fx)\n", s8_total / 1e6,
           s8_best / 1e6, s8_ref_total / 1e6, (double)s8_ref_total / (double)s8_total);
    printf("refnet fp32 median %.4f ms/inference, min %.4f (reference %.4f ms, speedup %.1fx)\n", f32_total / 1e6,
           f32_best / 1e6, f32_ref_total / 1e6, (double)f32_ref_total / (double)f32_total);
    printf("(outputs: fp32 argmax %d, int8 argmax %d; random weights, not a trained model)\n", argmax_f, argmax_q);
    return 0;
}
