/*
 * kernel_selftest.c - runs every optimized kernel against its reference twin on deterministic
 * pseudo-random data and prints one line per int8 case with an FNV-1a hash of the optimized output
 * buffer (sentinels included). The int8 lines must be identical on every architecture and path
 * (x86 AVX-512 VNNI / AVX2 / portable, aarch64 sdot / NEON, armv7); RuntimeTests compares them.
 * Float results are only checked against the reference (with tolerance) and never printed.
 *
 * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K*K*C_in.
 * Buffers are allocated to their exact extent so AddressSanitizer catches any over-read; outputs
 * are written into channel slices of wider pixels, pre-filled with a sentinel pattern and followed
 * by guard bytes, and everything outside the slice must stay untouched.
 *
 * Build: cc -std=c99 -O3 -I<CRuntime>/include -I<CRuntime> kernel_selftest.c <every CRuntime .c file>
 * Usage: kernel_selftest [--quick]     exit status 0 when every case matches.
 */
#include "autoshrink_runtime.h"
#include "kernel_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 64

static int failures = 0;
static int int8_cases = 0;
static int float_cases = 0;

/* ---- deterministic data ------------------------------------------------------------------------ */

typedef struct rng {
    uint64_t state;
} rng;

static uint32_t next_u32(rng *r)
{
    r->state = r->state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (uint32_t)(r->state >> 32);
}

static int rand_int(rng *r, int lo, int hi) /* inclusive */
{
    return lo + (int)(next_u32(r) % (uint32_t)(hi - lo + 1));
}

static float rand_float(rng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)(next_u32(r) >> 8) / 16777216.0f;
}

static uint32_t fnv1a(const void *data, size_t size, uint32_t h)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    for (i = 0; i < size; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* A [H][W][C] tensor stored as a channel slice [offset, offset + C) of pixels `stride` wide. */
typedef struct slice {
    int pixels, channels, offset, stride;
} slice;

static slice make_slice(rng *r, int pixels, int channels, int wide)
{
    slice s;
    s.pixels = pixels;
    s.channels = channels;
    s.offset = wide ? rand_int(r, 0, 5) : 0;
    s.stride = channels + s.offset + (wide ? rand_int(r, 0, 7) : 0);
    return s;
}

/* elements from the slice base to the end of its last channel */
static size_t slice_extent(slice s)
{
    return s.pixels == 0 ? 0 : (size_t)(s.pixels - 1) * s.stride + s.offset + s.channels;
}

static int8_t *random_s8(rng *r, size_t count, int lo, int hi)
{
    int8_t *p = (int8_t *)xmalloc(count);
    size_t i;
    for (i = 0; i < count; i++) {
        p[i] = (int8_t)rand_int(r, lo, hi);
    }
    return p;
}

static float *random_f32(rng *r, size_t count, float lo, float hi)
{
    float *p = (float *)xmalloc(count * sizeof(float));
    size_t i;
    for (i = 0; i < count; i++) {
        p[i] = rand_float(r, lo, hi);
    }
    return p;
}

static int32_t *random_s32(rng *r, size_t count, int lo, int hi)
{
    int32_t *p = (int32_t *)xmalloc(count * sizeof(int32_t));
    size_t i;
    for (i = 0; i < count; i++) {
        p[i] = rand_int(r, lo, hi);
    }
    return p;
}

/* ---- output checking --------------------------------------------------------------------------- */

static unsigned char sentinel(size_t i)
{
    return (unsigned char)(i * 37u + 11u);
}

/* Output buffers: the slice extent plus GUARD bytes, filled with the sentinel pattern. */
static void *sentinel_buffer(size_t bytes)
{
    unsigned char *p = (unsigned char *)xmalloc(bytes + GUARD);
    size_t i;
    for (i = 0; i < bytes + GUARD; i++) {
        p[i] = sentinel(i);
    }
    return p;
}

static int in_slice(slice s, size_t element)
{
    const size_t within = element % (size_t)s.stride;
    return element / (size_t)s.stride < (size_t)s.pixels && within >= (size_t)s.offset &&
           within < (size_t)(s.offset + s.channels);
}

/* Everything outside the slice (gaps between pixels, guard bytes) must still hold the sentinel. */
static int check_untouched(const char *name, const unsigned char *buffer, slice s, size_t element_size)
{
    const size_t bytes = slice_extent(s) * element_size + GUARD;
    size_t i;
    for (i = 0; i < bytes; i++) {
        if (!in_slice(s, i / element_size) && buffer[i] != sentinel(i)) {
            fprintf(stderr, "FAIL %s: byte %lu outside the output slice was overwritten\n", name,
                    (unsigned long)i);
            failures++;
            return 0;
        }
    }
    return 1;
}

static void finish_s8(const char *name, const char *shape, const int8_t *got, const int8_t *want, slice s)
{
    const size_t bytes = slice_extent(s) + GUARD;
    size_t i;
    int8_cases++;
    check_untouched(name, (const unsigned char *)got, s, 1);
    check_untouched(name, (const unsigned char *)want, s, 1);
    for (i = 0; i < bytes; i++) {
        if (got[i] != want[i]) {
            fprintf(stderr, "FAIL %s %s: element %lu (pixel %lu channel %ld) optimized %d reference %d\n", name,
                    shape, (unsigned long)i, (unsigned long)(i / s.stride), (long)(i % s.stride) - s.offset,
                    got[i], want[i]);
            failures++;
            break;
        }
    }
    printf("%s %s fnv=%08x\n", name, shape, (unsigned)fnv1a(got, bytes, 2166136261u));
}

static void finish_f32(const char *name, const char *shape, const float *got, const float *want, slice s,
                       float tolerance)
{
    size_t p;
    int c;
    float_cases++;
    check_untouched(name, (const unsigned char *)got, s, sizeof(float));
    check_untouched(name, (const unsigned char *)want, s, sizeof(float));
    for (p = 0; p < (size_t)s.pixels; p++) {
        for (c = 0; c < s.channels; c++) {
            const size_t i = p * s.stride + s.offset + c;
            const float d = got[i] - want[i];
            const float m = want[i] < 0 ? -want[i] : want[i];
            if (!(d <= tolerance * (1.0f + m) && -d <= tolerance * (1.0f + m))) {
                fprintf(stderr, "FAIL %s %s: pixel %lu channel %d optimized %g reference %g\n", name, shape,
                        (unsigned long)p, c, (double)got[i], (double)want[i]);
                failures++;
                return;
            }
        }
    }
}

/* 1: conv cases as every export has them: no -128 weight (symmetric quantization) and every shift <= -1 (real
 * multipliers below 1/2), the layers the AVX2 GEMM requantizes in its tile epilogue (gemm_s8.c, avx2_fuse) */
static int conv_exporter_like = 0;

/* Per-channel requantization as an exporter would produce it: multipliers for reals around
 * s_in * s_w / s_out (occasionally >= 1 to exercise the left shift), random zero points, an activation. */
typedef struct requant_case {
    int32_t *multiplier, *shift;
    as_requant_s8 params;
} requant_case;

static requant_case make_requant(rng *r, int channels, double typical)
{
    requant_case q;
    int c;
    int32_t lo, hi;
    const as_activation act = (as_activation)rand_int(r, 0, 2);
    const float out_scale = rand_float(r, 0.01f, 0.1f);
    q.multiplier = (int32_t *)xmalloc((size_t)channels * sizeof(int32_t));
    q.shift = (int32_t *)xmalloc((size_t)channels * sizeof(int32_t));
    for (c = 0; c < channels; c++) {
        double real = typical * (0.25 + 1.5 * rand_float(r, 0.0f, 1.0f));
        int shift;
        if (rand_int(r, 0, 15) == 0 && !conv_exporter_like) {
            real = 1.0 + 3.0 * rand_float(r, 0.0f, 1.0f);
        }
        as_quantize_multiplier(real, &q.multiplier[c], &shift);
        q.shift[c] = shift;
    }
    q.params.multiplier = q.multiplier;
    q.params.shift = q.shift;
    q.params.output_zero_point = rand_int(r, -128, 127);
    as_activation_range_s8(act, out_scale, q.params.output_zero_point, &lo, &hi);
    if (lo > hi) {
        lo = hi;
    }
    q.params.activation_min = lo;
    q.params.activation_max = hi;
    return q;
}

static void free_requant(requant_case *q)
{
    free(q->multiplier);
    free(q->shift);
}

/* ---- convolution cases (KxK, pointwise, FC share the GEMM engines) ---------------------------- */

enum conv_kind { CONV_KXK, CONV_POINTWISE, CONV_FC };

/* 1: int8 conv cases use only extreme values (inputs -128 / 127, weights -128 / -127 / 127), the worst
 * case for int16 intermediate sums (x86 vpmaddubsw / vpmaddwd paths) */
static int conv_extremes = 0;

static void conv_case(rng *r, enum conv_kind kind, int height, int width, int in_channels, int out_channels,
                      int kernel, int stride, int wide)
{
    const int out_h = kind == CONV_FC ? 1 : as_conv_output_size(height, kernel, stride);
    const int out_w = kind == CONV_FC ? 1 : as_conv_output_size(width, kernel, stride);
    const int reduction = kernel * kernel * in_channels;
    const slice in = make_slice(r, kind == CONV_FC ? 1 : height * width, in_channels, kind == CONV_FC ? 0 : wide);
    const slice out = make_slice(r, out_h * out_w, out_channels, kind == CONV_FC ? 0 : wide);
    const int32_t in_zp = rand_int(r, -128, 127);
    char shape[160];
    const char *name_s8 = kind == CONV_KXK ? "conv2d_s8" : kind == CONV_POINTWISE ? "pointwise_conv_s8"
                                                                                   : "fully_connected_s8";
    const char *name_f32 = kind == CONV_KXK ? "conv2d_f32" : kind == CONV_POINTWISE ? "pointwise_conv_f32"
                                                                                     : "fully_connected_f32";
    sprintf(shape, "h=%d w=%d cin=%d cout=%d k=%d s=%d in=%d/%d out=%d/%d zp=%d", height, width, in_channels,
            out_channels, kernel, stride, in.offset, in.stride, out.offset, out.stride, (int)in_zp);
    {
        /* int8: weights [R4][C_out][4] generated in [C_out][R] order and packed */
        int8_t *input = random_s8(r, slice_extent(in), -128, 127);
        /* one case in four has -128 weights (not symmetric quantization: the AVX2 widening kernel) */
        int8_t *w_oi = random_s8(r, (size_t)reduction * out_channels,
                                 rand_int(r, 0, 3) == 0 && !conv_exporter_like ? -128 : -127, 127);
        int8_t *weights = (int8_t *)xmalloc(AS_WEIGHTS_S8_BYTES(reduction, out_channels));
        int32_t *bias = random_s32(r, (size_t)out_channels, -20000, 20000);
        requant_case q = make_requant(r, out_channels, 1.0 / (60.0 * reduction + 60.0));
        int8_t *got = (int8_t *)sentinel_buffer(slice_extent(out));
        int8_t *want = (int8_t *)sentinel_buffer(slice_extent(out));
        const int8_t *x = input + in.offset;
        const int32_t *b = rand_int(r, 0, 7) == 0 ? NULL : bias;
        if (conv_extremes) {
            size_t i;
            for (i = 0; i < slice_extent(in); i++) {
                input[i] = (int8_t)(input[i] < 0 ? -128 : 127);
            }
            for (i = 0; i < (size_t)reduction * out_channels; i++) {
                w_oi[i] = (int8_t)(w_oi[i] < -127 ? -128 : w_oi[i] < 0 ? -127 : 127);
            }
        }
        as_pack_weights_s8(w_oi, out_channels, reduction, weights);
        if (kind == CONV_KXK) {
            as_conv2d_s8(x, height, width, in_channels, in.stride, in_zp, weights, b, kernel, stride, out_channels,
                         &q.params, got + out.offset, out.stride);
            as_conv2d_s8_ref(x, height, width, in_channels, in.stride, in_zp, weights, b, kernel, stride,
                             out_channels, &q.params, want + out.offset, out.stride);
        } else if (kind == CONV_POINTWISE) {
            as_pointwise_conv_s8(x, height, width, in_channels, in.stride, in_zp, weights, b, stride, out_channels,
                                 &q.params, got + out.offset, out.stride);
            as_pointwise_conv_s8_ref(x, height, width, in_channels, in.stride, in_zp, weights, b, stride,
                                     out_channels, &q.params, want + out.offset, out.stride);
        } else {
            as_fully_connected_s8(x, in_channels, in_zp, weights, b, out_channels, &q.params, got + out.offset);
            as_fully_connected_s8_ref(x, in_channels, in_zp, weights, b, out_channels, &q.params,
                                      want + out.offset);
        }
        finish_s8(name_s8, shape, got, want, out);
        free(input);
        free(w_oi);
        free(weights);
        free(bias);
        free_requant(&q);
        free(got);
        free(want);
    }
    {
        float *input = random_f32(r, slice_extent(in), -1.0f, 1.0f);
        float *w_oi = random_f32(r, (size_t)reduction * out_channels, -1.0f, 1.0f);
        float *weights = (float *)xmalloc((size_t)reduction * out_channels * sizeof(float));
        float *bias = random_f32(r, (size_t)out_channels, -1.0f, 1.0f);
        const as_activation act = (as_activation)rand_int(r, 0, 2);
        float *got = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        float *want = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        const float *x = input + in.offset;
        as_pack_weights_f32(w_oi, out_channels, reduction, weights);
        if (kind == CONV_KXK) {
            as_conv2d_f32(x, height, width, in_channels, in.stride, weights, bias, kernel, stride, out_channels, act,
                          got + out.offset, out.stride);
            as_conv2d_f32_ref(x, height, width, in_channels, in.stride, weights, bias, kernel, stride, out_channels,
                              act, want + out.offset, out.stride);
        } else if (kind == CONV_POINTWISE) {
            as_pointwise_conv_f32(x, height, width, in_channels, in.stride, weights, bias, stride, out_channels,
                                  act, got + out.offset, out.stride);
            as_pointwise_conv_f32_ref(x, height, width, in_channels, in.stride, weights, bias, stride,
                                      out_channels, act, want + out.offset, out.stride);
        } else {
            as_fully_connected_f32(x, in_channels, weights, bias, out_channels, act, got + out.offset);
            as_fully_connected_f32_ref(x, in_channels, weights, bias, out_channels, act, want + out.offset);
        }
        finish_f32(name_f32, shape, got, want, out, 2e-6f * (float)(reduction + 8));
        free(input);
        free(w_oi);
        free(weights);
        free(bias);
        free(got);
        free(want);
    }
}

/* ---- depthwise --------------------------------------------------------------------------------- */

static void depthwise_case(rng *r, int height, int width, int channels, int stride, int wide)
{
    const int out_h = as_conv_output_size(height, 3, stride), out_w = as_conv_output_size(width, 3, stride);
    const slice in = make_slice(r, height * width, channels, wide);
    const slice out = make_slice(r, out_h * out_w, channels, wide);
    const int32_t in_zp = rand_int(r, -128, 127);
    char shape[160];
    sprintf(shape, "h=%d w=%d c=%d s=%d in=%d/%d out=%d/%d zp=%d", height, width, channels, stride, in.offset,
            in.stride, out.offset, out.stride, (int)in_zp);
    {
        int8_t *input = random_s8(r, slice_extent(in), -128, 127);
        int8_t *weights = random_s8(r, (size_t)9 * channels, -128, 127); /* full int8 range on purpose */
        int32_t *bias = random_s32(r, (size_t)channels, -5000, 5000);
        requant_case q = make_requant(r, channels, 1.0 / 600.0);
        int8_t *got = (int8_t *)sentinel_buffer(slice_extent(out));
        int8_t *want = (int8_t *)sentinel_buffer(slice_extent(out));
        as_depthwise_conv3x3_s8(input + in.offset, height, width, channels, in.stride, in_zp, weights, bias, stride,
                                &q.params, got + out.offset, out.stride);
        as_depthwise_conv3x3_s8_ref(input + in.offset, height, width, channels, in.stride, in_zp, weights, bias,
                                    stride, &q.params, want + out.offset, out.stride);
        finish_s8("depthwise_conv3x3_s8", shape, got, want, out);
        free(input);
        free(weights);
        free(bias);
        free_requant(&q);
        free(got);
        free(want);
    }
    {
        float *input = random_f32(r, slice_extent(in), -1.0f, 1.0f);
        float *weights = random_f32(r, (size_t)9 * channels, -1.0f, 1.0f);
        float *bias = random_f32(r, (size_t)channels, -1.0f, 1.0f);
        const as_activation act = (as_activation)rand_int(r, 0, 2);
        float *got = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        float *want = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        as_depthwise_conv3x3_f32(input + in.offset, height, width, channels, in.stride, weights, bias, stride, act,
                                 got + out.offset, out.stride);
        as_depthwise_conv3x3_f32_ref(input + in.offset, height, width, channels, in.stride, weights, bias, stride,
                                     act, want + out.offset, out.stride);
        finish_f32("depthwise_conv3x3_f32", shape, got, want, out, 1e-5f);
        free(input);
        free(weights);
        free(bias);
        free(got);
        free(want);
    }
}

/* ---- pooling, copies, add ---------------------------------------------------------------------- */

static void pool_case(rng *r, int height, int width, int channels, int wide)
{
    const slice in = make_slice(r, height * width, channels, wide);
    const slice out = make_slice(r, (height / 2) * (width / 2), channels, wide);
    const slice gap = make_slice(r, 1, channels, 0);
    char shape[160];
    sprintf(shape, "h=%d w=%d c=%d in=%d/%d out=%d/%d", height, width, channels, in.offset, in.stride, out.offset,
            out.stride);
    {
        int8_t *input = random_s8(r, slice_extent(in), -128, 127);
        int8_t *got = (int8_t *)sentinel_buffer(slice_extent(out));
        int8_t *want = (int8_t *)sentinel_buffer(slice_extent(out));
        const int32_t in_zp = rand_int(r, -128, 127), out_zp = rand_int(r, -128, 127);
        int32_t multiplier;
        int shift;
        as_max_pool2x2_s8(input + in.offset, height, width, channels, in.stride, got + out.offset, out.stride);
        as_max_pool2x2_s8_ref(input + in.offset, height, width, channels, in.stride, want + out.offset, out.stride);
        finish_s8("max_pool2x2_s8", shape, got, want, out);
        free(got);
        free(want);
        got = (int8_t *)sentinel_buffer(slice_extent(gap));
        want = (int8_t *)sentinel_buffer(slice_extent(gap));
        as_quantize_multiplier(rand_float(r, 0.5f, 2.0f) / (double)(height * width), &multiplier, &shift);
        as_global_avg_pool_s8(input + in.offset, height, width, channels, in.stride, in_zp, multiplier, shift, out_zp,
                              got);
        as_global_avg_pool_s8_ref(input + in.offset, height, width, channels, in.stride, in_zp, multiplier, shift,
                                  out_zp, want);
        finish_s8("global_avg_pool_s8", shape, got, want, gap);
        free(got);
        free(want);
        free(input);
    }
    {
        float *input = random_f32(r, slice_extent(in), -1.0f, 1.0f);
        float *got = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        float *want = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        as_max_pool2x2_f32(input + in.offset, height, width, channels, in.stride, got + out.offset, out.stride);
        as_max_pool2x2_f32_ref(input + in.offset, height, width, channels, in.stride, want + out.offset, out.stride);
        finish_f32("max_pool2x2_f32", shape, got, want, out, 0.0f);
        free(got);
        free(want);
        got = (float *)sentinel_buffer(slice_extent(gap) * sizeof(float));
        want = (float *)sentinel_buffer(slice_extent(gap) * sizeof(float));
        as_global_avg_pool_f32(input + in.offset, height, width, channels, in.stride, got);
        as_global_avg_pool_f32_ref(input + in.offset, height, width, channels, in.stride, want);
        finish_f32("global_avg_pool_f32", shape, got, want, gap, 1e-6f);
        free(got);
        free(want);
        free(input);
    }
}

/* as_quantize_s8 (vectorized on x86) against the plain definition: q = clamp(round_half_away(x / scale)
 * + zp) in double, NaN -> zp, |x / scale| clamped to 1e6 first. Includes exact halves, NaN, infinities. */
static int8_t quantize_one(float x, float scale, int32_t zp)
{
    double v = (double)x / (double)scale;
    int64_t q, whole;
    double fraction;
    if (v != v) {
        q = zp;
    } else {
        v = v > 1e6 ? 1e6 : v < -1e6 ? -1e6 : v;
        whole = (int64_t)v;
        fraction = v - (double)whole;
        whole += fraction >= 0.5 ? 1 : fraction <= -0.5 ? -1 : 0;
        q = whole + zp;
    }
    return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

static void quantize_case(rng *r, int count)
{
    float *x = (float *)xmalloc(sizeof(float) * (size_t)count);
    int8_t *got, *want;
    const float scale = rand_float(r, 0.001f, 0.2f);
    const int32_t zp = rand_int(r, -128, 127);
    const float zero = 0.0f;
    char shape[96];
    slice s;
    int i;
    for (i = 0; i < count; i++) {
        switch (rand_int(r, 0, 7)) {
        case 0: x[i] = ((float)rand_int(r, -300, 300) + 0.5f) * scale; break; /* near halves */
        case 1: x[i] = (float)rand_int(r, -300, 300) * scale; break;
        case 2: x[i] = rand_float(r, -1e9f, 1e9f); break;
        case 3: x[i] = (float)rand_int(r, 0, 3) == 0 ? zero / zero : rand_int(r, 0, 1) ? 1.0f / zero : -1.0f / zero; break;
        default: x[i] = rand_float(r, -300.0f, 300.0f) * scale; break;
        }
    }
    s.offset = 0;
    s.stride = count;
    s.pixels = 1;
    s.channels = count;
    got = (int8_t *)sentinel_buffer(slice_extent(s));
    want = (int8_t *)sentinel_buffer(slice_extent(s));
    for (i = 0; i < count; i++) {
        want[i] = quantize_one(x[i], scale, zp);
    }
    as_quantize_s8(x, (size_t)count, scale, zp, got);
    sprintf(shape, "n=%d zp=%d", count, (int)zp);
    finish_s8("quantize_s8", shape, got, want, s);
    free(x);
    free(got);
    free(want);
}

static void copy_add_case(rng *r, int height, int width, int channels, int wide)
{
    const int pixels = height * width;
    const slice a = make_slice(r, pixels, channels, wide);
    const slice b = make_slice(r, pixels, channels, wide);
    const slice out = make_slice(r, pixels, channels, wide);
    char shape[160];
    sprintf(shape, "h=%d w=%d c=%d a=%d/%d b=%d/%d out=%d/%d", height, width, channels, a.offset, a.stride,
            b.offset, b.stride, out.offset, out.stride);
    {
        int8_t *x1 = random_s8(r, slice_extent(a), -128, 127);
        int8_t *x2 = random_s8(r, slice_extent(b), -128, 127);
        int8_t *got = (int8_t *)sentinel_buffer(slice_extent(out));
        int8_t *want = (int8_t *)sentinel_buffer(slice_extent(out));
        as_add_params_s8 params;
        int32_t multiplier;
        int shift;
        as_copy_channels_s8(x1 + a.offset, height, width, channels, a.stride, got + out.offset, out.stride);
        as_copy_channels_s8_ref(x1 + a.offset, height, width, channels, a.stride, want + out.offset, out.stride);
        finish_s8("copy_channels_s8", shape, got, want, out);
        free(got);
        free(want);

        got = (int8_t *)sentinel_buffer(slice_extent(out));
        want = (int8_t *)sentinel_buffer(slice_extent(out));
        as_quantize_multiplier(rand_float(r, 0.2f, 3.0f), &multiplier, &shift);
        {
            const int32_t in_zp = rand_int(r, -128, 127), out_zp = rand_int(r, -128, 127);
            as_requantize_s8(x1 + a.offset, height, width, channels, a.stride, in_zp, multiplier, shift, out_zp,
                             got + out.offset, out.stride);
            as_requantize_s8_ref(x1 + a.offset, height, width, channels, a.stride, in_zp, multiplier, shift, out_zp,
                                 want + out.offset, out.stride);
        }
        finish_s8("requantize_s8", shape, got, want, out);
        free(got);
        free(want);

        got = (int8_t *)sentinel_buffer(slice_extent(out));
        want = (int8_t *)sentinel_buffer(slice_extent(out));
        {
            const float s1 = rand_float(r, 0.01f, 0.2f);
            const int32_t zp1 = rand_int(r, -128, 127);
            const float s2 = rand_float(r, 0.01f, 0.2f);
            const int32_t zp2 = rand_int(r, -128, 127);
            const float s_out = rand_float(r, 0.02f, 0.3f);
            const int32_t zp_out = rand_int(r, -128, 127);
            const as_activation act = (as_activation)rand_int(r, 0, 2);
            as_add_params_s8_init(s1, zp1, s2, zp2, s_out, zp_out, act, &params);
        }
        as_add_s8(x1 + a.offset, a.stride, x2 + b.offset, b.stride, height, width, channels, &params,
                  got + out.offset, out.stride);
        as_add_s8_ref(x1 + a.offset, a.stride, x2 + b.offset, b.stride, height, width, channels, &params,
                      want + out.offset, out.stride);
        finish_s8("add_s8", shape, got, want, out);
        free(got);
        free(want);
        free(x1);
        free(x2);
    }
    {
        float *x1 = random_f32(r, slice_extent(a), -4.0f, 4.0f);
        float *x2 = random_f32(r, slice_extent(b), -4.0f, 4.0f);
        float *got = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        float *want = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        const as_activation act = (as_activation)rand_int(r, 0, 2);
        as_copy_channels_f32(x1 + a.offset, height, width, channels, a.stride, got + out.offset, out.stride);
        as_copy_channels_f32_ref(x1 + a.offset, height, width, channels, a.stride, want + out.offset, out.stride);
        finish_f32("copy_channels_f32", shape, got, want, out, 0.0f);
        free(got);
        free(want);
        got = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        want = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        as_add_f32(x1 + a.offset, a.stride, x2 + b.offset, b.stride, height, width, channels, act, got + out.offset,
                   out.stride);
        as_add_f32_ref(x1 + a.offset, a.stride, x2 + b.offset, b.stride, height, width, channels, act,
                       want + out.offset, out.stride);
        finish_f32("add_f32", shape, got, want, out, 0.0f);
        free(got);
        free(want);
        free(x1);
        free(x2);
    }
}

/* Pointwise conv with the add fused into its epilogue (as_pointwise_conv_add_s8): the optimized call, its _ref
 * twin and the unfused pair (as_pointwise_conv_s8_ref into a tensor, then as_add_s8_ref) must all agree, and so
 * must the fused call writing in place over the other operand. `extremes` 1: inputs and the other operand at
 * -128 / 127 and scales that saturate the add's output; 2: the add's scales in power-of-two ratios, whose sums
 * fall on rounding boundaries, so most vectors leave the x86 float path for the exact one (add_float). */
static void conv_add_case(rng *r, int height, int width, int in_channels, int out_channels, int stride, int wide,
                          int extremes)
{
    const int out_h = as_conv_output_size(height, 1, stride), out_w = as_conv_output_size(width, 1, stride);
    const slice in = make_slice(r, height * width, in_channels, wide);
    const slice other = make_slice(r, out_h * out_w, out_channels, wide);
    const slice out = make_slice(r, out_h * out_w, out_channels, wide);
    const slice dense = make_slice(r, out_h * out_w, out_channels, 0);
    const int32_t in_zp = rand_int(r, -128, 127);
    int8_t *input = random_s8(r, slice_extent(in), -128, 127);
    int8_t *x2 = random_s8(r, slice_extent(other), -128, 127);
    int8_t *w_oi = random_s8(r, (size_t)in_channels * out_channels, -127, 127);
    int8_t *weights = (int8_t *)xmalloc(AS_WEIGHTS_S8_BYTES(in_channels, out_channels));
    int32_t *bias = random_s32(r, (size_t)out_channels, -20000, 20000);
    requant_case q;
    int8_t *conv = (int8_t *)sentinel_buffer(slice_extent(dense));
    int8_t *got = (int8_t *)sentinel_buffer(slice_extent(out));
    int8_t *want = (int8_t *)sentinel_buffer(slice_extent(out));
    int8_t *ref = (int8_t *)sentinel_buffer(slice_extent(out));
    int8_t *inplace = (int8_t *)xmalloc(slice_extent(other) + GUARD);
    int8_t *inplace_want = (int8_t *)xmalloc(slice_extent(other) + GUARD);
    as_add_params_s8 params;
    char shape[160];
    size_t i;
    conv_exporter_like = rand_int(r, 0, 1);
    q = make_requant(r, out_channels, 1.0 / (60.0 * in_channels + 60.0));
    conv_exporter_like = 0;
    if (extremes) {
        for (i = 0; i < slice_extent(in); i++) {
            input[i] = (int8_t)(input[i] < 0 ? -128 : 127);
        }
        for (i = 0; i < slice_extent(other); i++) {
            x2[i] = (int8_t)(x2[i] < 0 ? -128 : 127);
        }
    }
    {
        const float s1 = rand_float(r, 0.01f, 0.2f), s2 = extremes == 2 ? s1 * 0.5f : rand_float(r, 0.01f, 0.2f);
        const float s_out = extremes == 2 ? s1 * 2.0f
                                          : extremes ? rand_float(r, 0.005f, 0.02f) : rand_float(r, 0.02f, 0.3f);
        const int32_t zp2 = rand_int(r, -128, 127), zp_out = rand_int(r, -128, 127);
        as_add_params_s8_init(s1, q.params.output_zero_point, s2, zp2, s_out, zp_out,
                              (as_activation)rand_int(r, 0, 2), &params);
    }
    sprintf(shape, "h=%d w=%d cin=%d cout=%d s=%d in=%d/%d other=%d/%d out=%d/%d zp=%d%s", height, width, in_channels,
            out_channels, stride, in.offset, in.stride, other.offset, other.stride, out.offset, out.stride, (int)in_zp,
            extremes == 2 ? " ties" : extremes ? " extremes" : "");
    as_pack_weights_s8(w_oi, out_channels, in_channels, weights);
    as_pointwise_conv_add_s8(input + in.offset, height, width, in_channels, in.stride, in_zp, weights, bias, stride,
                             out_channels, &q.params, x2 + other.offset, other.stride, &params, got + out.offset,
                             out.stride);
    as_pointwise_conv_add_s8_ref(input + in.offset, height, width, in_channels, in.stride, in_zp, weights, bias, stride,
                                 out_channels, &q.params, x2 + other.offset, other.stride, &params, ref + out.offset,
                                 out.stride);
    as_pointwise_conv_s8_ref(input + in.offset, height, width, in_channels, in.stride, in_zp, weights, bias, stride,
                             out_channels, &q.params, conv, dense.stride);
    as_add_s8_ref(conv, dense.stride, x2 + other.offset, other.stride, out_h, out_w, out_channels, &params,
                  want + out.offset, out.stride);
    finish_s8("pointwise_conv_add_s8", shape, got, want, out);
    finish_s8("pointwise_conv_add_s8_ref", shape, ref, want, out);
    /* in place over the other operand */
    memcpy(inplace, x2, slice_extent(other));
    memcpy(inplace_want, x2, slice_extent(other));
    as_pointwise_conv_add_s8(input + in.offset, height, width, in_channels, in.stride, in_zp, weights, bias, stride,
                             out_channels, &q.params, inplace + other.offset, other.stride, &params,
                             inplace + other.offset, other.stride);
    as_add_s8_ref(conv, dense.stride, inplace_want + other.offset, other.stride, out_h, out_w, out_channels, &params,
                  inplace_want + other.offset, other.stride);
    int8_cases++;
    if (memcmp(inplace, inplace_want, slice_extent(other)) != 0) {
        fprintf(stderr, "FAIL pointwise_conv_add_s8 in place %s\n", shape);
        failures++;
    }
    printf("pointwise_conv_add_s8 in place %s fnv=%08x\n", shape, (unsigned)fnv1a(inplace, slice_extent(other), 2166136261u));
    free(input);
    free(x2);
    free(w_oi);
    free(weights);
    free(bias);
    free_requant(&q);
    free(conv);
    free(got);
    free(want);
    free(ref);
    free(inplace);
    free(inplace_want);
}

/* Concat of three inputs into one buffer (slices of the output pixel). */
static void concat_case(rng *r, int height, int width)
{
    const int pixels = height * width;
    int channels[3], strides[3], total = 0, i;
    int8_t *inputs[3];
    const int8_t *views[3];
    float *inputs_f[3];
    const float *views_f[3];
    slice out;
    char shape[160];
    for (i = 0; i < 3; i++) {
        channels[i] = rand_int(r, 1, 40);
        strides[i] = channels[i] + rand_int(r, 0, 3);
        total += channels[i];
    }
    out = make_slice(r, pixels, total, 1);
    sprintf(shape, "h=%d w=%d c=%d+%d+%d out=%d/%d", height, width, channels[0], channels[1], channels[2],
            out.offset, out.stride);
    {
        int8_t *got = (int8_t *)sentinel_buffer(slice_extent(out));
        int8_t *want = (int8_t *)sentinel_buffer(slice_extent(out));
        int offset = 0;
        for (i = 0; i < 3; i++) {
            const size_t extent = (size_t)(pixels - 1) * strides[i] + channels[i];
            inputs[i] = random_s8(r, extent, -128, 127);
            views[i] = inputs[i];
            as_copy_channels_s8_ref(inputs[i], height, width, channels[i], strides[i], want + out.offset + offset,
                                    out.stride);
            offset += channels[i];
        }
        as_concat_channels_s8(views, channels, strides, 3, height, width, got + out.offset, out.stride);
        finish_s8("concat_channels_s8", shape, got, want, out);
        for (i = 0; i < 3; i++) {
            free(inputs[i]);
        }
        free(got);
        free(want);
    }
    {
        float *got = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        float *want = (float *)sentinel_buffer(slice_extent(out) * sizeof(float));
        int offset = 0;
        for (i = 0; i < 3; i++) {
            const size_t extent = (size_t)(pixels - 1) * strides[i] + channels[i];
            inputs_f[i] = random_f32(r, extent, -1.0f, 1.0f);
            views_f[i] = inputs_f[i];
            as_copy_channels_f32_ref(inputs_f[i], height, width, channels[i], strides[i],
                                     want + out.offset + offset, out.stride);
            offset += channels[i];
        }
        as_concat_channels_f32(views_f, channels, strides, 3, height, width, got + out.offset, out.stride);
        finish_f32("concat_channels_f32", shape, got, want, out, 0.0f);
        for (i = 0; i < 3; i++) {
            free(inputs_f[i]);
        }
        free(got);
        free(want);
    }
}

/* ---- requantization rows (vector paths) against the scalar definition ------------------------- */

static int32_t edge_value(rng *r)
{
    static const int32_t edges[] = {INT32_MIN, INT32_MIN + 1, -1073741824, -65536, -3, -2, -1, 0, 1, 2, 3,
                                    65535, 1073741824, INT32_MAX - 1, INT32_MAX};
    if (rand_int(r, 0, 3) == 0) {
        return edges[rand_int(r, 0, (int)(sizeof edges / sizeof edges[0]) - 1)];
    }
    return (int32_t)next_u32(r);
}

static void requant_rows(rng *r, int rounds)
{
    enum { N = 77 };
    int32_t acc[N], multiplier[N], shift[N], mbqm[N];
    int8_t got[N];
    uint32_t h = 2166136261u;
    int round, i;
    for (round = 0; round < rounds; round++) {
        const int32_t zp = rand_int(r, -128, 127);
        int32_t lo = rand_int(r, -128, 127), hi = rand_int(r, -128, 127);
        const int per_channel = round % 2;
        if (lo > hi) {
            const int32_t t = lo;
            lo = hi;
            hi = t;
        }
        for (i = 0; i < N; i++) {
            acc[i] = edge_value(r);
            multiplier[i] = rand_int(r, 0, 7) == 0 ? edge_value(r) : (int32_t)(0x40000000u + (next_u32(r) >> 2));
            shift[i] = rand_int(r, -31, 30);
            if (rand_int(r, 0, 2) == 0) {
                shift[i] = rand_int(r, -12, 2);
            }
        }
        as__requant_row_s8(acc, N, multiplier, shift, per_channel, zp, lo, hi, got);
        for (i = 0; i < N; i++) {
            const int c = per_channel ? i : 0;
            const int8_t want = as_requantize_value(acc[i], multiplier[c], shift[c], zp, lo, hi);
            if (got[i] != want) {
                fprintf(stderr, "FAIL requant_row: acc %ld multiplier %ld shift %ld zp %ld -> %d, want %d\n",
                        (long)acc[i], (long)multiplier[c], (long)shift[c], (long)zp, got[i], want);
                failures++;
                break;
            }
        }
        h = fnv1a(got, N, h);
        as__mbqm_row(acc, N, multiplier[0], shift[0], mbqm);
        for (i = 0; i < N; i++) {
            if (mbqm[i] != as_multiply_by_quantized_multiplier(acc[i], multiplier[0], shift[0])) {
                fprintf(stderr, "FAIL mbqm_row: x %ld multiplier %ld shift %ld -> %ld\n", (long)acc[i],
                        (long)multiplier[0], (long)shift[0], (long)mbqm[i]);
                failures++;
                break;
            }
        }
        h = fnv1a(mbqm, sizeof mbqm, h);
        int8_cases++;
    }
    printf("requant_rows rounds=%d fnv=%08x\n", rounds, (unsigned)h);
}

/* requant_block's tiles: on AVX-512 the folded MBQM runs every 16-channel block whose shifts are all <= -1
 * (simd_requant.h, as__rqf_avx512), the general one the others. Edge accumulators and multipliers, and
 * accumulators on the exact halves of power-of-two multipliers (x * 2^30 / 2^(31+r) = k + 1/2 +- one step). */
static void requant_tiles(rng *r, int rounds)
{
    enum { ROWS = 9, N = 77 };
    int32_t acc[ROWS * N], multiplier[N], shift[N];
    int8_t got[ROWS * N];
    uint32_t h = 2166136261u;
    int round, i, p;
    for (round = 0; round < rounds; round++) {
        const int rows = rand_int(r, 1, ROWS), count = rand_int(r, 1, N);
        const int32_t zp = rand_int(r, -128, 127);
        int32_t lo = rand_int(r, -128, 127), hi = rand_int(r, -128, 127);
        if (lo > hi) {
            const int32_t t = lo;
            lo = hi;
            hi = t;
        }
        for (i = 0; i < count; i++) {
            shift[i] = round % 3 != 0 || rand_int(r, 0, 7) != 0 ? rand_int(r, -31, -1) : rand_int(r, -31, 30);
            multiplier[i] = rand_int(r, 0, 2) == 0   ? 0x40000000
                            : rand_int(r, 0, 7) == 0 ? edge_value(r)
                                                     : (int32_t)(0x40000000u + (next_u32(r) >> 2));
        }
        for (p = 0; p < rows; p++) {
            for (i = 0; i < count; i++) {
                int32_t x = edge_value(r);
                if (multiplier[i] == 0x40000000 && shift[i] < 0 && rand_int(r, 0, 1) == 0) {
                    const int right = -shift[i];
                    const int64_t k = (int64_t)(int32_t)next_u32(r) >> (right + 1);
                    const int64_t v = k * ((int64_t)1 << (right + 1)) + ((int64_t)1 << right) + rand_int(r, -1, 1);
                    x = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
                }
                acc[p * N + i] = x;
            }
        }
        as__requant_tile_s8(acc, rows, N, count, multiplier, shift, zp, lo, hi, got, N);
        for (p = 0; p < rows; p++) {
            for (i = 0; i < count; i++) {
                const int8_t want = as_requantize_value(acc[p * N + i], multiplier[i], shift[i], zp, lo, hi);
                if (got[p * N + i] != want) {
                    fprintf(stderr, "FAIL requant_tile: acc %ld multiplier %ld shift %ld zp %ld -> %d, want %d\n",
                            (long)acc[p * N + i], (long)multiplier[i], (long)shift[i], (long)zp, got[p * N + i], want);
                    failures++;
                    p = rows;
                    break;
                }
            }
        }
        for (p = 0; p < rows; p++) {
            h = fnv1a(got + p * N, (size_t)count, h);
        }
        int8_cases++;
    }
    printf("requant_tiles rounds=%d fnv=%08x\n", rounds, (unsigned)h);
}

/* ---- add rounding: every int8 operand through the inputs' MBQM, identity output ------------------ */

/* The x86 add computes its inputs' MBQM in 32-bit arithmetic (add.c, add_narrow). Random scales rarely land
 * on its rounding boundaries, so these cases pick left shifts, right shifts and multipliers whose products
 * fall on halves (powers of two, low bits set or cleared), feed every int8 value against the second input's
 * zero point (b = 0) and against random values, and requantize the sum by exactly 1 (2^30 * 2^1 / 2^31), so
 * each input's rounding shows in the output whenever it fits int8. */
static void add_rounding(rng *r)
{
    static const int left_shifts[] = {20, 1, 9, 23};
    int8_t x1[512], x2[512], got[512], want[512];
    uint32_t h = 2166136261u;
    int cases = 0, li, ri, mi, i;
    for (li = 0; li < 4; li++) {
        const int ls = left_shifts[li];
        for (ri = 0; ri < 3; ri++) {
            const int right = ri == 2 ? rand_int(r, 0, ls) : ls - ri;
            for (mi = 0; mi < 10; mi++) {
                as_add_params_s8 params;
                int32_t m = (int32_t)(0x40000000u + (next_u32(r) >> 2));
                if (mi == 0) m = 0x40000000;
                if (mi == 1) m = INT32_MAX;
                if (mi == 2) m = 0x60000000;
                if (mi >= 3 && mi < 6) m = 0x40000000 + (1 << rand_int(r, 0, 12));
                if (mi >= 6 && mi < 8) m &= ~((1 << rand_int(r, 4, 20)) - 1);
                if (mi == 8) m = (int32_t)((1 << (30 - ls)) + 1 + rand_int(r, 0, 3)); /* smallest the fast path takes */
                params.input1_zero_point = rand_int(r, -128, 127);
                params.input2_zero_point = rand_int(r, -128, 127);
                params.output_zero_point = rand_int(r, -20, 20);
                params.left_shift = ls;
                params.input1_multiplier = m;
                params.input1_shift = -right;
                params.input2_multiplier = mi % 2 ? m : (int32_t)(0x40000000u + (next_u32(r) >> 2));
                params.input2_shift = -(ri == 1 ? ls : right);
                params.output_multiplier = 0x40000000;
                params.output_shift = 1;
                params.activation_min = -128;
                params.activation_max = 127;
                for (i = 0; i < 512; i++) {
                    x1[i] = (int8_t)(i - 128);
                    x2[i] = i < 256 ? (int8_t)params.input2_zero_point : (int8_t)rand_int(r, -128, 127);
                }
                as_add_s8(x1, 256, x2, 256, 1, 2, 256, &params, got, 256);
                as_add_s8_ref(x1, 256, x2, 256, 1, 2, 256, &params, want, 256);
                for (i = 0; i < 512; i++) {
                    if (got[i] != want[i]) {
                        fprintf(stderr, "FAIL add_rounding: left shift %d, input1 %d * 2^%d, zp %d, x1 %d, x2 %d -> %d, want %d\n",
                                ls, (int)m, (int)params.input1_shift, (int)params.input1_zero_point, x1[i], x2[i],
                                got[i], want[i]);
                        failures++;
                        break;
                    }
                }
                h = fnv1a(got, sizeof got, h);
                cases++;
                int8_cases++;
            }
        }
    }
    printf("add_rounding cases=%d fnv=%08x\n", cases, (unsigned)h);
}

/* ---- add over every pair of int8 operands ------------------------------------------------------- */

/* The x86 add takes its result from single-precision floats wherever they are provably far from a rounding
 * boundary and from the exact integer arithmetic elsewhere (simd_requant.h, add_float). Every one of the 65,536
 * operand pairs, as 256 pixels of 256 channels and as a strided 33-channel view, against the reference, for
 * random scales, equal scales and power-of-two scale ratios (sums on rounding boundaries: the exact path),
 * output scales below and above the inputs', every activation. */
static void add_all_pairs(rng *r, int sets)
{
    int8_t *x1 = (int8_t *)xmalloc(65536), *x2 = (int8_t *)xmalloc(65536);
    int8_t *got = (int8_t *)xmalloc(65536), *want = (int8_t *)xmalloc(65536);
    uint32_t h = 2166136261u;
    int s, i;
    for (i = 0; i < 65536; i++) {
        x1[i] = (int8_t)(i >> 8);
        x2[i] = (int8_t)(i & 255);
    }
    for (s = 0; s < sets; s++) {
        as_add_params_s8 params;
        float s1 = rand_float(r, 0.005f, 0.3f), s2 = rand_float(r, 0.005f, 0.3f), s_out = rand_float(r, 0.01f, 0.5f);
        const int kind = s % 4;
        if (kind == 1) {
            s2 = s1;
            s_out = s1;
        } else if (kind == 2) {
            s2 = s1 * 0.5f;
            s_out = s1 * 2.0f;
        } else if (kind == 3) {
            s_out = (s1 > s2 ? s1 : s2) * rand_float(r, 0.25f, 4.0f);
        }
        const int32_t zp1 = rand_int(r, -128, 127), zp2 = rand_int(r, -128, 127), zp_out = rand_int(r, -128, 127);
        as_add_params_s8_init(s1, zp1, s2, zp2, s_out, zp_out, (as_activation)rand_int(r, 0, 2), &params);
        as_add_s8(x1, 256, x2, 256, 256, 1, 256, &params, got, 256);
        as_add_s8_ref(x1, 256, x2, 256, 256, 1, 256, &params, want, 256);
        for (i = 0; i < 65536; i++) {
            if (got[i] != want[i]) {
                fprintf(stderr, "FAIL add_all_pairs: set %d (kind %d), x1 %d, x2 %d -> %d, want %d\n", s, kind, x1[i],
                        x2[i], got[i], want[i]);
                failures++;
                break;
            }
        }
        h = fnv1a(got, 65536, h);
        memset(got, 0, 65536);
        memset(want, 0, 65536);
        as_add_s8(x1 + 3, 37, x2 + 5, 41, 100, 1, 33, &params, got, 35);
        as_add_s8_ref(x1 + 3, 37, x2 + 5, 41, 100, 1, 33, &params, want, 35);
        if (memcmp(got, want, 3500) != 0) {
            fprintf(stderr, "FAIL add_all_pairs: set %d (kind %d), strided\n", s, kind);
            failures++;
        }
        h = fnv1a(got, 3500, h);
        int8_cases += 2;
    }
    printf("add_all_pairs sets=%d fnv=%08x\n", sets, (unsigned)h);
    free(x1);
    free(x2);
    free(got);
    free(want);
}

/* ---- driver ------------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static const int channel_set[] = {1, 3, 7, 16, 33, 64};
    static const int size_set[] = {1, 2, 3, 5, 7, 8, 13};
    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    const int random_cases = quick ? 24 : 80;
    rng r;
    int i, ci, co, k, s;
    r.state = 20240601u;

    fprintf(stderr, "kernel_selftest: runtime %s, path %s%s\n", AUTOSHRINK_RUNTIME_VERSION, as_runtime_simd_path(),
            quick ? ", quick" : "");
    requant_rows(&r, quick ? 200 : 2000);
    requant_tiles(&r, quick ? 200 : 2000);
    add_rounding(&r);
    add_all_pairs(&r, quick ? 8 : 24);
    for (i = 0; i < 40; i++) {
        quantize_case(&r, 1 + i * 7);
    }

    /* systematic channel grid on small images, then random shapes, then shapes that split passes */
    for (ci = 0; ci < 6; ci++) {
        for (co = 0; co < 6; co++) {
            conv_case(&r, CONV_KXK, 5 + (ci + co) % 3, 6 - co % 2, channel_set[ci], channel_set[co], 3, 1 + (ci + co) % 2,
                      (ci + co) % 2);
            conv_case(&r, CONV_POINTWISE, 4 + co % 3, 3 + ci % 2, channel_set[ci], channel_set[co], 1, 1 + co % 2,
                      ci % 2);
            conv_case(&r, CONV_FC, 1, 1, channel_set[ci] * (1 + co), channel_set[co], 1, 1, 0);
        }
    }
    for (i = 0; i < random_cases; i++) {
        const int h = size_set[rand_int(&r, 0, 6)];
        const int w = size_set[rand_int(&r, 0, 6)];
        const int cin = rand_int(&r, 0, 3) == 0 ? channel_set[rand_int(&r, 0, 5)] : rand_int(&r, 1, 70);
        const int cout = rand_int(&r, 0, 3) == 0 ? channel_set[rand_int(&r, 0, 5)] : rand_int(&r, 1, 90);
        /* one draw per statement: argument evaluation order differs between compilers */
        int a, b, c, d;
        k = 2 * rand_int(&r, 0, 2) + 1;
        s = rand_int(&r, 1, 3);
        a = rand_int(&r, 0, 1);
        conv_case(&r, CONV_KXK, h, w, cin, cout, k, s, a);
        a = rand_int(&r, 1, 2);
        b = rand_int(&r, 0, 1);
        conv_case(&r, CONV_POINTWISE, h, w, cin, cout, 1, a, b);
        a = rand_int(&r, 1, 80);
        b = rand_int(&r, 1, 2);
        c = rand_int(&r, 0, 1);
        depthwise_case(&r, h, w, a, b, c);
        a = rand_int(&r, 1, 9);
        b = rand_int(&r, 1, 9);
        c = rand_int(&r, 1, 80);
        d = rand_int(&r, 0, 1);
        pool_case(&r, a, b, c, d);
        a = rand_int(&r, 1, 6);
        b = rand_int(&r, 1, 6);
        c = rand_int(&r, 1, 80);
        d = rand_int(&r, 0, 1);
        copy_add_case(&r, a, b, c, d);
    }
    for (ci = 0; ci < 6; ci++) {
        for (s = 1; s <= 2; s++) {
            depthwise_case(&r, 7 + s, 6 + ci % 2, channel_set[ci], s, 1);
        }
    }
    depthwise_case(&r, 4, 5, 300, 2, 1);       /* more channels than one accumulator pass */
    conv_case(&r, CONV_KXK, 5, 4, 130, 20, 3, 1, 1); /* R = 1170: several int8 and float passes */
    conv_case(&r, CONV_KXK, 3, 3, 8, 300, 3, 2, 1);  /* more output channels than one chunk */
    conv_case(&r, CONV_POINTWISE, 3, 5, 1500, 17, 1, 1, 1);
    conv_case(&r, CONV_POINTWISE, 6, 6, 40, 270, 1, 2, 1);
    conv_case(&r, CONV_FC, 1, 1, 2049, 10, 1, 1, 0);
    /* inputs too large for the padded copy (> 16 KiB int8, > 6144 floats): border pixels staged */
    conv_case(&r, CONV_KXK, 21, 23, 40, 9, 3, 1, 1);
    conv_case(&r, CONV_KXK, 19, 22, 45, 21, 5, 2, 1);
    conv_case(&r, CONV_KXK, 40, 41, 11, 6, 3, 2, 0);
    conv_case(&r, CONV_KXK, 33, 30, 3, 24, 3, 2, 1);
    conv_case(&r, CONV_KXK, 28, 28, 1, 16, 3, 1, 0); /* the refnet stem */
    /* stems with C_in % 4 != 0: row groups (C_in * K < 4 * ceil(...)) or channel padding, both kernel sizes */
    for (i = 0; i < 24; i++) {
        static const int stem_channels[] = {1, 2, 3, 5, 6, 7};
        conv_case(&r, CONV_KXK, 6 + i % 5, 9 - i % 4, stem_channels[i % 6], 1 + (i * 5) % 40, 3 + 2 * ((i / 6) % 2),
                  1 + (i / 12), i % 2);
    }
    conv_extremes = 1;
    for (i = 0; i < 12; i++) {
        conv_case(&r, CONV_KXK, 5 + i % 3, 6, 1 + 5 * i, 3 + 7 * i, 3, 1 + i % 2, i % 2);
        conv_case(&r, CONV_POINTWISE, 4, 3 + i % 2, 4 + 9 * i, 1 + 11 * i, 1, 1 + i % 2, i % 3 == 0);
        conv_case(&r, CONV_FC, 1, 1, 5 + 13 * i, 2 + 3 * i, 1, 1, 0);
    }
    conv_extremes = 0;
    conv_case(&r, CONV_KXK, 28, 28, 16, 32, 3, 2, 0);
    pool_case(&r, 30, 31, 300, 1);
    copy_add_case(&r, 3, 3, 600, 1);
    for (i = 0; i < 6; i++) {
        const int h = rand_int(&r, 1, 7);
        const int w = rand_int(&r, 1, 7);
        concat_case(&r, h, w);
    }

    /* exporter-like layers (the AVX2 fused epilogue): pointwise rows of 1-7 pixels per tile row, widths of 8
     * and 16 channels and more than one chunk, strided and padded-slice pixels, direct KxK convolutions, stems
     * read as row groups, staged single-pass tiles (inputs too large for the padded copy), and one
     * multi-pass layer */
    conv_exporter_like = 1;
    for (i = 0; i < 16; i++) {
        static const int outs[] = {8, 16, 24, 32, 48, 64, 40, 264};
        conv_case(&r, CONV_POINTWISE, 1 + i % 7, 2 + i % 5, 4 * (1 + i % 12), outs[i % 8], 1, 1 + (i / 8), i % 2);
        conv_case(&r, CONV_KXK, 4 + i % 4, 5 + i % 3, 4 * (1 + i % 4), outs[(i + 3) % 8], 3, 1 + i % 2, i % 2);
        conv_case(&r, CONV_KXK, 8 + i % 5, 9 + i % 3, 1 + i % 3, outs[i % 6], 3, 1 + i % 2, 0);
        conv_case(&r, CONV_FC, 1, 1, 16 + 8 * i, outs[i % 6], 1, 1, 0);
    }
    conv_case(&r, CONV_KXK, 40, 41, 11, 16, 3, 2, 0);
    conv_case(&r, CONV_KXK, 33, 30, 3, 32, 3, 1, 1);
    conv_case(&r, CONV_KXK, 21, 23, 40, 8, 3, 1, 1);
    conv_case(&r, CONV_POINTWISE, 3, 5, 1500, 16, 1, 1, 1);
    conv_exporter_like = 0;

    /* the fused pointwise conv + add: cell shapes (48 channels at 7x7 and 14x14, stride-2 projections), channel
     * tails of every width, more than one channel chunk, strided slices, saturating values */
    for (i = 0; i < (quick ? 12 : 36); i++) {
        static const int outs[] = {48, 16, 8, 24, 7, 33, 1, 64, 300};
        const int h = rand_int(&r, 1, 15), w = rand_int(&r, 1, 15);
        const int cin = i % 3 == 0 ? rand_int(&r, 1, 70) : 4 * rand_int(&r, 1, 16);
        const int stride = 1 + i % 2;
        conv_add_case(&r, h, w, cin, outs[i % 9], stride, i % 4 == 1, i % 5 == 4);
    }
    conv_add_case(&r, 7, 7, 48, 48, 1, 0, 0);
    conv_add_case(&r, 14, 14, 32, 48, 2, 0, 0);
    conv_add_case(&r, 7, 7, 48, 48, 1, 0, 2);
    conv_add_case(&r, 14, 14, 32, 48, 2, 1, 2);
    conv_add_case(&r, 5, 3, 16, 40, 1, 0, 2);
    conv_add_case(&r, 3, 5, 1500, 16, 1, 1, 0);

    printf("summary int8_cases=%d\n", int8_cases);
    fprintf(stderr, "kernel_selftest: %d int8 cases, %d float cases, %d failures\n", int8_cases, float_cases,
            failures);
    return failures == 0 ? 0 : 1;
}
