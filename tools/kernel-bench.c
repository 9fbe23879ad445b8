/*
 * tools/kernel-bench.c - times the int8 kernels of the quickstart cell network at its shapes
 * (28x28 / 14x14 / 7x7, 16..96 channels, concat slices with pixel stride > channels) and the GEMM
 * convolutions of refnet (3x3 stem and stride-2 conv, pointwise).
 * Prints one line per case: median ns over the runs of the optimized kernel and of its _ref twin.
 * Built by tools/kernel-bench against two runtime trees to compare them in one session.
 * Usage: kernel-bench RUNS
 */
#include "autoshrink_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXB (28 * 28 * 96)

static int8_t in1[MAXB], in2[MAXB], out[MAXB], wts[16384];
static int32_t bias[256], mult[256], shft[256];

static int cmp_u64(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct bench_case {
    const char *name;
    int kind; /* 0 add, 1 requantize, 2 depthwise, 3 conv2d stem, 4 channel copy, 5 pointwise, 6 conv2d */
    int h, w, c, in_stride, out_stride, stride;
} bench_case;

static void run_case(const bench_case *k, int ref)
{
    as_requant_s8 rq;
    as_add_params_s8 ap;
    rq.multiplier = mult;
    rq.shift = shft;
    rq.output_zero_point = -5;
    rq.activation_min = -5;
    rq.activation_max = 127;
    as_add_params_s8_init(0.031f, 3, 0.047f, -7, 0.052f, -11, AS_ACTIVATION_NONE, &ap);
    switch (k->kind) {
    case 0:
        (ref ? as_add_s8_ref : as_add_s8)(in1, k->in_stride, in2, k->in_stride, k->h, k->w, k->c, &ap, out,
                                          k->out_stride);
        break;
    case 1:
        (ref ? as_requantize_s8_ref : as_requantize_s8)(in1, k->h, k->w, k->c, k->in_stride, 4, 1987654321, -1, -9,
                                                        out, k->out_stride);
        break;
    case 2:
        (ref ? as_depthwise_conv3x3_s8_ref : as_depthwise_conv3x3_s8)(in1, k->h, k->w, k->c, k->in_stride, 6, wts,
                                                                      bias, k->stride, &rq, out, k->out_stride);
        break;
    case 4:
        (ref ? as_copy_channels_s8_ref : as_copy_channels_s8)(in1, k->h, k->w, k->c, k->in_stride, out, k->out_stride);
        break;
    case 5: /* c = C_in, out_stride = C_out */
        (ref ? as_pointwise_conv_s8_ref : as_pointwise_conv_s8)(in1, k->h, k->w, k->c, k->in_stride, -7, wts, bias,
                                                                k->stride, k->out_stride, &rq, out, k->out_stride);
        break;
    case 6: /* c = C_in, out_stride = C_out, 3x3 */
        (ref ? as_conv2d_s8_ref : as_conv2d_s8)(in1, k->h, k->w, k->c, k->in_stride, -9, wts, bias, 3, k->stride,
                                                k->out_stride, &rq, out, k->out_stride);
        break;
    default:
        (ref ? as_conv2d_s8_ref : as_conv2d_s8)(in1, k->h, k->w, 1, k->in_stride, -128, wts, bias, 3, k->stride,
                                                k->c, &rq, out, k->out_stride);
        break;
    }
}

int main(int argc, char **argv)
{
    static const bench_case cases[] = {
        {"add_s8 28x28x16", 0, 28, 28, 16, 16, 16, 1},
        {"add_s8 14x14x32", 0, 14, 14, 32, 32, 32, 1},
        {"add_s8 7x7x64", 0, 7, 7, 64, 64, 64, 1},
        {"requantize_s8 28x28x16 ->s48", 1, 28, 28, 16, 16, 48, 1},
        {"requantize_s8 28x28x32 s32->s48", 1, 28, 28, 32, 32, 48, 1},
        {"requantize_s8 14x14x16 s48->s48", 1, 14, 14, 16, 48, 48, 1},
        {"requantize_s8 7x7x32 s96->s96", 1, 7, 7, 32, 96, 96, 1},
        {"requantize_s8 28x28x32 contiguous", 1, 28, 28, 32, 32, 32, 1},
        {"copy_channels_s8 28x28x32 s32->s48", 4, 28, 28, 32, 32, 48, 1},
        {"copy_channels_s8 28x28x16 s16->s48", 4, 28, 28, 16, 16, 48, 1},
        {"depthwise3x3_s8 28x28x32 s1", 2, 28, 28, 32, 32, 32, 1},
        {"depthwise3x3_s8 14x14x16 in-s48", 2, 14, 14, 16, 48, 16, 1},
        {"depthwise3x3_s8 7x7x32 in-s96", 2, 7, 7, 32, 96, 32, 1},
        {"conv2d_s8 stem 28x28x1->32 k3", 3, 28, 28, 32, 1, 32, 1},
        {"conv2d_s8 refnet 28x28x1->16 k3", 3, 28, 28, 16, 1, 16, 1},
        {"conv2d_s8 refnet 28x28x16->32 k3 s2", 6, 28, 28, 16, 16, 32, 2},
        {"pointwise_s8 refnet 14x14 32->64", 5, 14, 14, 32, 32, 64, 1},
        {"pointwise_s8 refnet 7x7 64->128", 5, 7, 7, 64, 64, 128, 1},
        {"pointwise_s8 28x28 16->32 in-s48", 5, 28, 28, 16, 48, 32, 1},
        /* the quickstart network's cells (7x7x48) and one pixel: what a call costs besides its products */
        {"add_s8 7x7x48", 0, 7, 7, 48, 48, 48, 1},
        {"pointwise_s8 7x7 96->48", 5, 7, 7, 96, 96, 48, 1},
        {"pointwise_s8 1x1 48->48", 5, 1, 1, 48, 48, 48, 1},
    };
    const int runs = argc > 1 ? atoi(argv[1]) : 2000;
    uint64_t *t = malloc(sizeof(uint64_t) * (size_t)(runs > 0 ? runs : 1));
    size_t i;
    int r, ref;
    srand(7);
    for (i = 0; i < MAXB; i++) {
        in1[i] = (int8_t)(rand() & 255);
        in2[i] = (int8_t)(rand() & 255);
    }
    for (i = 0; i < sizeof wts; i++) {
        wts[i] = (int8_t)(rand() % 255 - 127);
    }
    for (i = 0; i < 256; i++) {
        bias[i] = rand() % 20001 - 10000;
        mult[i] = 1073741824 + rand() % 1073741823;
        shft[i] = -(rand() % 10) - 1;
    }
    printf("simd path: %s, runs %d\n", as_runtime_simd_path(), runs);
    printf("%-36s %12s %12s\n", "case", "opt ns", "ref ns");
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t med[2];
        for (ref = 0; ref < 2; ref++) {
            const int n = ref ? (runs / 10 > 5 ? runs / 10 : 5) : runs;
            for (r = 0; r < 20; r++) {
                run_case(&cases[i], ref);
            }
            for (r = 0; r < n; r++) {
                const uint64_t t0 = as_time_ns();
                run_case(&cases[i], ref);
                t[r] = as_time_ns() - t0;
            }
            qsort(t, (size_t)n, sizeof t[0], cmp_u64);
            med[ref] = t[n / 2];
        }
        printf("%-36s %12llu %12llu\n", cases[i].name, (unsigned long long)med[0], (unsigned long long)med[1]);
    }
    free(t);
    return 0;
}
