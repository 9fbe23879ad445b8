/*
 * tools/tiling-bench.c - does tiling depthwise 3x3 + pointwise pay? (issue 16, docs/benchmarks.md
 * "Depthwise + pointwise tiling"). For each shape it times, alternating within each round:
 *   unfused: as_depthwise_conv3x3_s8 over the whole image into an [H][W][C] tensor, then as_pointwise_conv_s8;
 *   banded:  per band of B depthwise output rows, as__depthwise_conv3x3_s8_rows into a [B][W][C] scratch
 *            (kept in L1/L2), then as_pointwise_conv_s8 on that band (what a fused kernel would run).
 * and prints per shape the median ns of both, the median of the per-round ratios banded / unfused with
 * its quartiles, and whether both wrote identical bytes. Stride 1, the cells' separable convolution.
 * Usage: tiling-bench [ROUNDS]
 */
#define _POSIX_C_SOURCE 200809L
#include "autoshrink_runtime.h"
#include "kernel_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUNDS 101

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct shape {
    int size, channels, out_channels; /* H = W = size */
    const char *note;
} shape;

static void bench(const shape *s, int band, int rounds)
{
    const int h = s->size, w = s->size, c = s->channels, o = s->out_channels;
    const size_t pixels = (size_t)h * w;
    int8_t *in = malloc(pixels * c), *mid = malloc(pixels * c), *scratch = malloc((size_t)band * w * c);
    int8_t *out_unfused = malloc(pixels * o), *out_banded = malloc(pixels * o);
    int8_t *dw = malloc(9 * (size_t)c), *pw = malloc((size_t)((c + 3) / 4) * o * 4);
    int32_t *dw_bias = malloc(4 * (size_t)c), *pw_bias = malloc(4 * (size_t)o);
    int32_t *dw_m = malloc(4 * (size_t)c), *dw_s = malloc(4 * (size_t)c), *pw_m = malloc(4 * (size_t)o),
            *pw_s = malloc(4 * (size_t)o);
    double unfused[MAX_ROUNDS], banded[MAX_ROUNDS], ratio[MAX_ROUNDS];
    /* repeat each measurement to about 0.2 ms of work: multiply-accumulates per run ~ pixels * c * (9 + o) */
    const long macs = (long)pixels * c * (9 + o);
    const int reps = macs > 20000000 ? 1 : (int)(20000000 / macs) + 1;
    as_requant_s8 dw_rq, pw_rq;
    size_t i;
    int r, k, y;
    srand(1);
    for (i = 0; i < pixels * c; i++) in[i] = (int8_t)(rand() & 0xff);
    for (i = 0; i < 9 * (size_t)c; i++) dw[i] = (int8_t)(rand() & 0xff);
    for (i = 0; i < (size_t)((c + 3) / 4) * o * 4; i++) pw[i] = (int8_t)(rand() & 0xff);
    for (k = 0; k < c; k++) {
        dw_bias[k] = rand() % 2000 - 1000;
        as_quantize_multiplier(0.002 + 0.001 * (k % 7), &dw_m[k], &dw_s[k]);
    }
    for (k = 0; k < o; k++) {
        pw_bias[k] = rand() % 2000 - 1000;
        as_quantize_multiplier(0.001 + 0.0005 * (k % 5), &pw_m[k], &pw_s[k]);
    }
    dw_rq.multiplier = dw_m; dw_rq.shift = dw_s; dw_rq.output_zero_point = -3;
    dw_rq.activation_min = -3; dw_rq.activation_max = 127; /* ReLU, as the cells' depthwise */
    pw_rq.multiplier = pw_m; pw_rq.shift = pw_s; pw_rq.output_zero_point = 5;
    pw_rq.activation_min = 5; pw_rq.activation_max = 127;
    for (r = 0; r < rounds; r++) {
        const double t0 = now_ns();
        double t1, t2;
        for (k = 0; k < reps; k++) {
            as_depthwise_conv3x3_s8(in, h, w, c, c, 7, dw, dw_bias, 1, &dw_rq, mid, c);
            as_pointwise_conv_s8(mid, h, w, c, c, -3, pw, pw_bias, 1, o, &pw_rq, out_unfused, o);
        }
        t1 = now_ns();
        for (k = 0; k < reps; k++) {
            for (y = 0; y < h; y += band) {
                const int end = y + band < h ? y + band : h;
                as__depthwise_conv3x3_s8_rows(in, h, w, c, c, 7, dw, dw_bias, 1, &dw_rq, y, end, scratch, c);
                as_pointwise_conv_s8(scratch, end - y, w, c, c, -3, pw, pw_bias, 1, o, &pw_rq,
                                     out_banded + (size_t)y * w * o, o);
            }
        }
        t2 = now_ns();
        unfused[r] = (t1 - t0) / reps;
        banded[r] = (t2 - t1) / reps;
        ratio[r] = banded[r] / unfused[r];
    }
    qsort(unfused, rounds, sizeof(double), cmp_double);
    qsort(banded, rounds, sizeof(double), cmp_double);
    qsort(ratio, rounds, sizeof(double), cmp_double);
    printf("%3dx%-3d %4d -> %-4d %2d rows %7.0f KiB %11.0f %11.0f %7.3f (%.3f-%.3f) %s %s\n", h, w, c, o, band,
           pixels * c / 1024.0, unfused[rounds / 2], banded[rounds / 2], ratio[rounds / 2], ratio[rounds / 4],
           ratio[3 * rounds / 4], memcmp(out_unfused, out_banded, pixels * o) == 0 ? "yes" : "NO", s->note);
    free(in); free(mid); free(scratch); free(out_unfused); free(out_banded); free(dw); free(pw);
    free(dw_bias); free(pw_bias); free(dw_m); free(dw_s); free(pw_m); free(pw_s);
}

int main(int argc, char **argv)
{
    static const shape shapes[] = {
        {28, 16, 32, "space"}, {28, 32, 32, "space"}, {28, 64, 64, "space"}, {14, 32, 64, "space (refnet)"},
        {14, 64, 64, "space"}, {7, 128, 128, "space"}, {56, 128, 128, "outside"}, {112, 32, 64, "outside"},
    };
    static const int bands[] = {1, 2, 4, 8};
    int rounds = argc > 1 ? atoi(argv[1]) : 21;
    size_t i, b;
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "tiling-bench: ROUNDS must be 1..%d\n", MAX_ROUNDS);
        return 2;
    }
    printf("%-7s %-12s %-7s %11s %11s %11s %-15s %s %s\n", "H x W", "C -> C_out", "band", "dw out", "unfused ns",
           "banded ns", "banded/unfused", "same", "");
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        for (b = 0; b < sizeof bands / sizeof bands[0]; b++) {
            bench(&shapes[i], bands[b], rounds);
        }
    }
    return 0;
}
