/*
 * depthwise_conv2d.c - depthwise 3x3 convolution, stride 1 or 2, padding 1, fused bias + activation.
 *
 * Layout letters: H = height, W = width, C = channels, P = output pixels of a group.
 *   input   [H][W][C]              pixel stride in_pixel_stride
 *   weights [3][3][C]              tap (ky, kx) of channel c at (ky*3 + kx)*C + c
 *   bias    [C]
 *   output  [H_out][W_out][C]      pixel stride out_pixel_stride, H_out = (H - 1)/stride + 1
 * Every tap is a contiguous run of channels, so the optimized twins vectorise across channels. They
 * work on groups of up to P = 8 output pixels of a row: each pixel gets nine tap pointers (taps
 * outside the image point at a padding row: zeros for float, the zero point for int8, which then
 * contributes (zp - zp) * w = 0), and each block of channels runs over the group with its nine
 * weight vectors in registers.
 * int8 folds the zero point into the bias, sum (x - zp) w = sum x w - zp sum_t w, so the inner loop
 * is a plain widening multiply-add; the portable path instead multiplies (x - zp) * w in int16,
 * which is exact for any int8 x, w and zero point ([-255, 255] x [-128, 127]).
 * int8 on AVX2, AVX-512 and NEON has no tap table: it walks the three input rows of an output row column by
 * column (dw_group_avx2 and dw_group_avx512, pairing kernel rows 0 and 1 in one vpmaddwd; dw_group_neon, one
 * vmlal_s16 per tap and half), so each input column is widened once and reused by the output pixels that
 * read it (groups of 16 pixels). On AVX2 and NEON a channel count that is not a multiple of 8 ends with the
 * block of the last 8 channels (overlapping the one before), so only layers of fewer than 8 channels take the
 * portable loop; AVX-512 masks its last 16-channel block and requantizes in registers (docs/benchmarks.md,
 * "Channel tails", "NEON depthwise by input columns", "AVX-512 depthwise by input columns").
 */
#include "kernel_common.h"
#include "simd_requant.h"

#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
/* channels per pass (bias, accumulator rows, packed weights and the requantization plan on the stack: a
 * 20 KB frame at 128, 38 KB at 256, docs/benchmarks.md; the set-up is per channel, so a second pass only
 * re-reads input rows) */
#define DW_CHUNK 128
#define DW_GROUP 16 /* output pixels per group (AVX2 loads 2 extra input columns per group: fewer, longer groups) */
#elif defined(AS_X86_AVX512)
#define DW_CHUNK 128 /* as AVX2: the int8 path walks input columns (dw_group_avx512) */
#define DW_GROUP 16
#elif defined(AS_ARM_NEON)
#define DW_CHUNK 128 /* as AVX2: the int8 path walks input columns (dw_group_neon) */
#define DW_GROUP 16
#else
#define DW_CHUNK 256 /* channels per pass (bias and accumulator rows on the stack) */
#define DW_GROUP 8 /* output pixels per group */
#endif
/* int8 tiers that walk input columns (dw_group_avx2, dw_group_neon, dw_group_avx512) instead of tap tables;
 * DW_COLUMNS_8 the two whose blocks are 8 channels without masks (a tail under 8 channels: the portable loop) */
#if (defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)) || defined(AS_ARM_NEON)
#define DW_COLUMNS 1
#define DW_COLUMNS_8 1
#elif defined(AS_X86_AVX512)
#define DW_COLUMNS 1
#endif
/* The 8-channel column tiers run only the channel tail of layers under 8 channels and once-per-layer set-up in
 * plain loops: gcc's vectorized copies of them would be kilobytes of code that hardly runs (docs/benchmarks.md,
 * code size) */
#if defined(DW_COLUMNS_8)
#define DW_SCALAR AS_NO_VECTORIZE
#define DW_TAPS_LINKAGE AS_NOINLINE DW_SCALAR /* int8 needs the tap table for its channel tail only */
#else
#define DW_SCALAR
#define DW_TAPS_LINKAGE
#endif

void as_depthwise_conv3x3_f32_ref(const float *input, int in_height, int in_width, int channels,
                                  int in_pixel_stride, const float *weights, const float *bias, int stride,
                                  as_activation activation, float *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    int oy, ox, c, ky, kx;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            for (c = 0; c < channels; c++) {
                float sum = bias ? bias[c] : 0.0f;
                for (ky = 0; ky < 3; ky++) {
                    for (kx = 0; kx < 3; kx++) {
                        const int iy = oy * stride + ky - 1, ix = ox * stride + kx - 1;
                        if (iy < 0 || iy >= in_height || ix < 0 || ix >= in_width) {
                            continue;
                        }
                        sum += input[((size_t)iy * in_width + ix) * in_pixel_stride + c] *
                               weights[(ky * 3 + kx) * channels + c];
                    }
                }
                output[((size_t)oy * out_width + ox) * out_pixel_stride + c] = as__activate_f32(sum, activation);
            }
        }
    }
}

/* taps[p][t] = pointer to tap t = ky*3 + kx of output pixel (oy, ox0 + p) at channel c0, or `pad`
 * outside the image. */
static DW_TAPS_LINKAGE void group_taps(const void *input, size_t element, int in_height, int in_width, int in_pixel_stride,
                       int stride, int oy, int ox0, int pixels, int c0, const void *pad, const void *taps[][9])
{
    const char *base = (const char *)input;
    const size_t pixel_bytes = (size_t)in_pixel_stride * element, row_bytes = (size_t)in_width * pixel_bytes;
    const int y0 = oy * stride - 1;
    const int rows_inside = y0 >= 0 && y0 + 3 <= in_height;
    int p, ky, kx;
    for (p = 0; p < pixels; p++) {
        const int x0 = (ox0 + p) * stride - 1;
        if (rows_inside && x0 >= 0 && x0 + 3 <= in_width) {
            const char *origin = base + ((size_t)y0 * in_width + x0) * pixel_bytes + (size_t)c0 * element;
            for (ky = 0; ky < 3; ky++) {
                for (kx = 0; kx < 3; kx++) {
                    taps[p][ky * 3 + kx] = origin + ky * row_bytes + kx * pixel_bytes;
                }
            }
            continue;
        }
        for (ky = 0; ky < 3; ky++) {
            const int iy = y0 + ky;
            for (kx = 0; kx < 3; kx++) {
                const int ix = x0 + kx;
                taps[p][ky * 3 + kx] =
                    (iy < 0 || iy >= in_height || ix < 0 || ix >= in_width)
                        ? pad
                        : (const void *)(base + ((size_t)iy * in_width + ix) * pixel_bytes + (size_t)c0 * element);
            }
        }
    }
}

/* y[i] = clamp(bias[i] + sum_t tap[t][i] * w[t * channels + i]) for i in [begin, nc) (portable loop). */
static void pixel_f32(const float *const *tap, int begin, int nc, const float *w, size_t channels,
                      const float *bias_row, float lo, float hi, float *restrict y)
{
    const float *t0 = tap[0], *t1 = tap[1], *t2 = tap[2], *t3 = tap[3], *t4 = tap[4];
    const float *t5 = tap[5], *t6 = tap[6], *t7 = tap[7], *t8 = tap[8];
    int i;
    for (i = begin; i < nc; i++) {
        float v = bias_row[i];
        v += t0[i] * w[i] + t1[i] * w[channels + i] + t2[i] * w[2 * channels + i];
        v += t3[i] * w[3 * channels + i] + t4[i] * w[4 * channels + i] + t5[i] * w[5 * channels + i];
        v += t6[i] * w[6 * channels + i] + t7[i] * w[7 * channels + i] + t8[i] * w[8 * channels + i];
        v = v < lo ? lo : v;
        y[i] = v > hi ? hi : v;
    }
}

/* out[p][c] = clamp(bias[c] + sum_t taps[p][t][c] * w[t * channels + c]) for p < pixels, c < nc. */
static void group_f32(int pixels, const void *taps[][9], const float *w, size_t channels, const float *bias_row,
                      int nc, float lo, float hi, float *out, size_t out_pixel_stride)
{
    int p, c = 0;
#if defined(AS_X86_AVX512)
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    for (; c < nc; c += 16) {
        const __mmask16 m = as__lanes16(nc - c);
        __m512 wt[9];
        const __m512 b = _mm512_maskz_loadu_ps(m, bias_row + c);
        int t;
        for (t = 0; t < 9; t++) {
            wt[t] = _mm512_maskz_loadu_ps(m, w + t * channels + c);
        }
        for (p = 0; p < pixels; p++) {
            /* three partial sums (one per kernel row) keep the FMA chains short */
            __m512 v[3];
            for (t = 0; t < 3; t++) {
                v[t] = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, (const float *)taps[p][3 * t] + c), wt[3 * t]);
            }
            v[0] = _mm512_add_ps(v[0], b);
            for (t = 0; t < 3; t++) {
                v[t] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, (const float *)taps[p][3 * t + 1] + c), wt[3 * t + 1],
                                       v[t]);
                v[t] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, (const float *)taps[p][3 * t + 2] + c), wt[3 * t + 2],
                                       v[t]);
            }
            v[0] = _mm512_add_ps(_mm512_add_ps(v[0], v[1]), v[2]);
            _mm512_mask_storeu_ps(out + p * out_pixel_stride + c, m, _mm512_min_ps(_mm512_max_ps(v[0], vlo), vhi));
        }
    }
#endif
    for (p = 0; p < pixels; p++) {
        const float *tap[9];
        int t;
        for (t = 0; t < 9; t++) {
            tap[t] = (const float *)taps[p][t];
        }
        pixel_f32(tap, c, nc, w, channels, bias_row, lo, hi, out + p * out_pixel_stride);
    }
}

void as_depthwise_conv3x3_f32(const float *input, int in_height, int in_width, int channels,
                              int in_pixel_stride, const float *weights, const float *bias, int stride,
                              as_activation activation, float *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    float bias_row[DW_CHUNK], zeros[DW_CHUNK];
    const void *taps[DW_GROUP][9];
    float lo, hi;
    int c0, oy, ox0, c;
    as__activation_bounds_f32(activation, &lo, &hi);
    for (c = 0; c < DW_CHUNK; c++) {
        zeros[c] = 0.0f;
    }
    for (c0 = 0; c0 < channels; c0 += DW_CHUNK) {
        const int nc = channels - c0 < DW_CHUNK ? channels - c0 : DW_CHUNK;
        for (c = 0; c < nc; c++) {
            bias_row[c] = bias ? bias[c0 + c] : 0.0f;
        }
        for (oy = 0; oy < out_height; oy++) {
            for (ox0 = 0; ox0 < out_width; ox0 += DW_GROUP) {
                const int pixels = out_width - ox0 < DW_GROUP ? out_width - ox0 : DW_GROUP;
                group_taps(input, sizeof(float), in_height, in_width, in_pixel_stride, stride, oy, ox0, pixels, c0,
                           zeros, taps);
                group_f32(pixels, taps, weights + c0, (size_t)channels, bias_row, nc, lo, hi,
                          output + ((size_t)oy * out_width + ox0) * out_pixel_stride + c0, (size_t)out_pixel_stride);
            }
        }
    }
}

void as_depthwise_conv3x3_s8_ref(const int8_t *input, int in_height, int in_width, int channels,
                                 int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                                 const int32_t *bias, int stride, const as_requant_s8 *requant,
                                 int8_t *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    int oy, ox, c, ky, kx;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            for (c = 0; c < channels; c++) {
                int32_t acc = bias ? bias[c] : 0;
                for (ky = 0; ky < 3; ky++) {
                    for (kx = 0; kx < 3; kx++) {
                        const int iy = oy * stride + ky - 1, ix = ox * stride + kx - 1;
                        if (iy < 0 || iy >= in_height || ix < 0 || ix >= in_width) {
                            continue; /* padding: x - zp = 0 */
                        }
                        acc += ((int32_t)input[((size_t)iy * in_width + ix) * in_pixel_stride + c] -
                                input_zero_point) *
                               weights[(ky * 3 + kx) * channels + c];
                    }
                }
                output[((size_t)oy * out_width + ox) * out_pixel_stride + c] =
                    as__output_s8(as__mbqm(acc, requant->multiplier[c], requant->shift[c]),
                                  requant->output_zero_point, requant->activation_min, requant->activation_max);
            }
        }
    }
}


/* (x - zp) * w, exact in int16 for any int8 x, w and zero point in [-128, 127] */
#define AS_DW_TAP(x, w) ((int32_t)(int16_t)((int16_t)((int16_t)(x) - zp) * (int16_t)(w)))


#if !defined(DW_COLUMNS) || defined(DW_COLUMNS_8) /* the portable tier, and the 8-channel column tiers' tail */
/* a[i] = bias[i] + sum_t (tap[t][i] - zp) * w[t * channels + i] for i in [begin, nc) (portable loop). */
static AS_NOINLINE DW_SCALAR void pixel_s8(const int8_t *const *tap, int begin, int nc, const int8_t *w, size_t channels, int16_t zp,
                     const int32_t *bias_row, int32_t *restrict a)
{
    const int8_t *t0 = tap[0], *t1 = tap[1], *t2 = tap[2], *t3 = tap[3], *t4 = tap[4];
    const int8_t *t5 = tap[5], *t6 = tap[6], *t7 = tap[7], *t8 = tap[8];
    int i;
    for (i = begin; i < nc; i++) {
        int32_t v = bias_row[i];
        v += AS_DW_TAP(t0[i], w[i]) + AS_DW_TAP(t1[i], w[channels + i]) + AS_DW_TAP(t2[i], w[2 * channels + i]);
        v += AS_DW_TAP(t3[i], w[3 * channels + i]) + AS_DW_TAP(t4[i], w[4 * channels + i]) +
             AS_DW_TAP(t5[i], w[5 * channels + i]);
        v += AS_DW_TAP(t6[i], w[6 * channels + i]) + AS_DW_TAP(t7[i], w[7 * channels + i]) +
             AS_DW_TAP(t8[i], w[8 * channels + i]);
        a[i] = v;
    }
}
#endif

#if !defined(DW_COLUMNS) /* the portable tier: AVX2, AVX-512 and NEON have column kernels */
/* acc[p][c] = bias[c] + sum_t (taps[p][t][c] - zp) * w[t * channels + c] for p < pixels, c < nc
 * (acc rows DW_CHUNK apart), one out-of-line portable loop per pixel. */
static void group_s8(int pixels, const void *taps[][9], const int8_t *w, size_t channels, int16_t zp,
                     const int32_t *bias_row, int nc, int32_t *acc)
{
    int p, t;
    for (p = 0; p < pixels; p++) {
        const int8_t *tap[9];
        for (t = 0; t < 9; t++) {
            tap[t] = (const int8_t *)taps[p][t];
        }
        pixel_s8(tap, 0, nc, w, channels, zp, bias_row, acc + p * DW_CHUNK);
    }
}
#endif

#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
/* AVX2: 8 channels per ymm, the kernel's rows 0 and 1 paired in one vpmaddwd (docs/benchmarks.md).
 * An input column (3 rows at one x, 8 channels) becomes two vectors: p = int16 pairs (x_row0, x_row1)
 * per channel, z = row 2 sign-extended to int32, i.e. the int16 pair (x_row2, sign). Weights are the
 * pairs (w_0kx, w_1kx) and (w_2kx, 0), so vpmaddwd(p, wp) = x0 w0 + x1 w1 and vpmaddwd(z, wz) = x2 w2,
 * both exact. Output pixel ox sums columns ox*stride - 1 + kx; with stride 1 each column is loaded
 * once and used by three pixels (kept in registers), with stride 2 by one or two. */
typedef struct dw_column {
    __m256i p, z;
} dw_column;

static AS_ALWAYS_INLINE dw_column dw_load_column(const int8_t *r0, const int8_t *r1, const int8_t *r2)
{
    dw_column col;
    col.p = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(const void *)r0),
                                                   _mm_loadl_epi64((const __m128i *)(const void *)r1)));
    col.z = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)r2));
    return col;
}

#if defined(AS_X86_AVXVNNI)
#define DW_MADD(acc, x, w) _mm256_dpwssd_avx_epi32((acc), (x), (w))
#else
#define DW_MADD(acc, x, w) _mm256_add_epi32((acc), _mm256_madd_epi16((x), (w)))
#endif

/* wq[6 * (c / 8) + k] for the 8-channel blocks c < nc8 of a chunk: k = kx the pairs (w_0kx, w_1kx),
 * k = 3 + kx the pairs (w_2kx, 0), as int16 (w = weights + c0, taps `channels` apart). */
static AS_NOINLINE void dw_pack_weights(const int8_t *w, size_t channels, int nc8, __m256i *wq)
{
    int c, kx;
    for (c = 0; c < nc8; c += 8) {
        for (kx = 0; kx < 3; kx++) {
            const __m128i w0 = _mm_loadl_epi64((const __m128i *)(const void *)(w + kx * channels + c));
            const __m128i w1 = _mm_loadl_epi64((const __m128i *)(const void *)(w + (3 + kx) * channels + c));
            const __m128i w2 = _mm_loadl_epi64((const __m128i *)(const void *)(w + (6 + kx) * channels + c));
            wq[6 * (c / 8) + kx] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(w0, w1));
            wq[6 * (c / 8) + 3 + kx] = _mm256_and_si256(_mm256_cvtepi8_epi32(w2), _mm256_set1_epi32(0xFFFF));
        }
    }
}

/* acc[p][c] = bias_eff[c] + sum (x - zp) w for output pixels ox0 + p (p < pixels) of one row and the
 * 8-channel blocks c < nc8. rows[k] (k = 0..2) point at the input row oy*stride - 1 + k at the chunk's
 * first channel, step[k] bytes per pixel; rows outside the image are `pad` (zero points) with step 0,
 * and so are columns outside [0, in_width). Aligned to 64 bytes: its stride-1 pixel loop ran 5-8 % slower
 * (AVX2, Zen 5) at one of the four 16-byte placements the linker gave it, so an unrelated size change
 * elsewhere in the runtime moved the depthwise timings (docs/benchmarks.md, "AVX2 requantization"). */
static AS_NOINLINE AS_ALIGN64 void dw_group_avx2(const int8_t *const rows[3], const size_t step[3], int in_width,
                                                 int stride, int ox0, int pixels, const int8_t *pad,
                                                 const __m256i *wq, const int32_t *bias_eff, int nc8, int32_t *acc)
{
    int c, p;
    for (c = 0; c < nc8; c += 8) {
        const __m256i *wk = wq + 6 * (c / 8);
        const __m256i wp0 = wk[0], wp1 = wk[1], wp2 = wk[2], wz0 = wk[3], wz1 = wk[4], wz2 = wk[5];
        const __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(bias_eff + c));
        const int8_t *r0 = rows[0] + c, *r1 = rows[1] + c, *r2 = rows[2] + c;
        const size_t s0 = step[0], s1 = step[1], s2 = step[2];
#define DW_COLUMN(ix)                                                                                             \
    ((ix) >= 0 && (ix) < in_width                                                                                 \
         ? dw_load_column(r0 + (size_t)(ix) * s0, r1 + (size_t)(ix) * s1, r2 + (size_t)(ix) * s2)                 \
         : dw_load_column(pad + c, pad + c, pad + c))
#define DW_PIXEL(a, m, n)                                                                                         \
    do {                                                                                                          \
        __m256i v0 = DW_MADD(b, (a).p, wp0), v1 = _mm256_madd_epi16((a).z, wz0);                                  \
        v0 = DW_MADD(v0, (m).p, wp1);                                                                             \
        v1 = DW_MADD(v1, (m).z, wz1);                                                                             \
        v0 = DW_MADD(v0, (n).p, wp2);                                                                             \
        v1 = DW_MADD(v1, (n).z, wz2);                                                                             \
        _mm256_storeu_si256((__m256i *)(void *)(acc + p * DW_CHUNK + c), _mm256_add_epi32(v0, v1));              \
    } while (0)
        if (stride == 1) {
            dw_column a = DW_COLUMN(ox0 - 1), m = DW_COLUMN(ox0);
            for (p = 0; p < pixels; p++) {
                const dw_column n = DW_COLUMN(ox0 + p + 1);
                DW_PIXEL(a, m, n);
                a = m;
                m = n;
            }
        } else {
            dw_column a = DW_COLUMN(2 * ox0 - 1);
            for (p = 0; p < pixels; p++) {
                const dw_column m = DW_COLUMN(2 * (ox0 + p)), n = DW_COLUMN(2 * (ox0 + p) + 1);
                DW_PIXEL(a, m, n);
                a = n;
            }
        }
#undef DW_COLUMN
#undef DW_PIXEL
    }
}
#endif

#if defined(AS_X86_AVX512)
/* AVX-512: dw_group_avx2's column walk at 16 channels per zmm. p = int16 pairs (x_row0, x_row1) of 16 channels,
 * z = row 2 as int32, i.e. the pair (x_row2, sign); weights the pairs (w_0kx, w_1kx) and (w_2kx, 0), so each
 * product pair is one vpmaddwd (one vpdpwssd with VNNI) and exact. The tap-table loop it replaced loaded and
 * widened every input byte nine times (docs/benchmarks.md, "AVX-512 depthwise by input columns"). A chunk's last
 * block of fewer than 16 channels loads under a mask (zeros, whose products are 0) and the requantization stores
 * only its channels, so any channel count runs here. */
typedef struct dw_column16 {
    __m512i p, z;
} dw_column16;

static AS_ALWAYS_INLINE dw_column16 dw_load_column16(const int8_t *r0, const int8_t *r1, const int8_t *r2, __mmask16 m)
{
    dw_column16 col;
    const __m128i x0 = _mm_maskz_loadu_epi8(m, r0), x1 = _mm_maskz_loadu_epi8(m, r1);
    col.p = _mm512_cvtepi8_epi16(
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(x0, x1)), _mm_unpackhi_epi8(x0, x1), 1));
    col.z = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, r2));
    return col;
}

#if defined(AS_X86_AVX512_VNNI)
#define DW_MADD16(acc, x, w) _mm512_dpwssd_epi32((acc), (x), (w))
#else
#define DW_MADD16(acc, x, w) _mm512_add_epi32((acc), _mm512_madd_epi16((x), (w)))
#endif

/* wq[6 * (c / 16) + k] for the 16-channel blocks of nc channels: k = kx the pairs (w_0kx, w_1kx), k = 3 + kx the
 * pairs (w_2kx, 0), as int16 (w = weights + c0, taps `channels` apart); channels past nc are 0. Also
 * bias_eff[c] = bias[c] (0 without bias) - zp * sum_t w[t * channels + c], from the same loads. */
static AS_NOINLINE void dw_pack_weights16(const int8_t *w, size_t channels, int nc, const int32_t *bias, int32_t zp,
                                          __m512i *wq, int32_t *bias_eff)
{
    int c, kx;
    for (c = 0; c < nc; c += 16) {
        const __mmask16 m = as__lanes16(nc - c);
        __m512i sum = _mm512_setzero_si512();
        for (kx = 0; kx < 3; kx++) {
            const __m128i w0 = _mm_maskz_loadu_epi8(m, w + kx * channels + c);
            const __m128i w1 = _mm_maskz_loadu_epi8(m, w + (3 + kx) * channels + c);
            const __m512i w2 = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, w + (6 + kx) * channels + c));
            wq[6 * (c / 16) + kx] = _mm512_cvtepi8_epi16(
                _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(w0, w1)), _mm_unpackhi_epi8(w0, w1), 1));
            wq[6 * (c / 16) + 3 + kx] = _mm512_and_si512(w2, _mm512_set1_epi32(0xFFFF));
            sum = _mm512_add_epi32(_mm512_add_epi32(sum, w2),
                                   _mm512_add_epi32(_mm512_cvtepi8_epi32(w0), _mm512_cvtepi8_epi32(w1)));
        }
        _mm512_mask_storeu_epi32(bias_eff + c, m,
                                 _mm512_sub_epi32(bias ? _mm512_maskz_loadu_epi32(m, bias + c) : _mm512_setzero_si512(),
                                                  _mm512_mullo_epi32(sum, _mm512_set1_epi32(zp))));
    }
}

/* The output of one group: requantized in registers (folded plans of every block of the chunk, rq) to the output
 * rows, or as int32 accumulators (acc, DW_CHUNK per pixel) for as__requant_tile_s8. */
typedef struct dw_sink16 {
    const as__rqf_avx512 *rq; /* NULL: write acc */
    __m512i zp, lo_zp, hi_zp;
    int8_t *out; /* the group's first output pixel at the chunk's first channel */
    size_t out_stride;
    int32_t *acc;
} dw_sink16;

/* acc (or the output, see dw_sink16) for output pixels ox0 + p (p < pixels) of one row and the channels c < nc:
 * bias_eff[c] + sum x w. rows, step, pad as in dw_group_avx2. */
static AS_NOINLINE void dw_group_avx512(const int8_t *const rows[3], const size_t step[3], int in_width, int stride,
                                        int ox0, int pixels, const int8_t *pad, const __m512i *wq, const int32_t *bias_eff,
                                        int nc, const dw_sink16 *sink)
{
    int c, p;
    for (c = 0; c < nc; c += 16) {
        const __mmask16 mask = as__lanes16(nc - c);
        const __m512i *wk = wq + 6 * (c / 16);
        const __m512i wp0 = wk[0], wp1 = wk[1], wp2 = wk[2], wz0 = wk[3], wz1 = wk[4], wz2 = wk[5];
        const __m512i b = _mm512_maskz_loadu_epi32(mask, bias_eff + c);
        const int8_t *r0 = rows[0] + c, *r1 = rows[1] + c, *r2 = rows[2] + c;
        const size_t s0 = step[0], s1 = step[1], s2 = step[2];
#define DW_COLUMN16(ix)                                                                                           \
    ((ix) >= 0 && (ix) < in_width                                                                                 \
         ? dw_load_column16(r0 + (size_t)(ix) * s0, r1 + (size_t)(ix) * s1, r2 + (size_t)(ix) * s2, mask)         \
         : dw_load_column16(pad + c, pad + c, pad + c, mask))
#define DW_SUM16(a, m, n, v)                                                                                      \
    do {                                                                                                          \
        __m512i v0 = DW_MADD16(b, (a).p, wp0), v1 = _mm512_madd_epi16((a).z, wz0);                                \
        v0 = DW_MADD16(v0, (m).p, wp1);                                                                           \
        v1 = DW_MADD16(v1, (m).z, wz1);                                                                           \
        v0 = DW_MADD16(v0, (n).p, wp2);                                                                           \
        v1 = DW_MADD16(v1, (n).z, wz2);                                                                           \
        (v) = _mm512_add_epi32(v0, v1);                                                                           \
    } while (0)
/* the column walk with STORE(v) writing pixel p's sums */
#define DW_WALK16(STORE)                                                                                          \
    do {                                                                                                          \
        __m512i v;                                                                                                \
        if (stride == 1) {                                                                                        \
            dw_column16 a = DW_COLUMN16(ox0 - 1), m = DW_COLUMN16(ox0);                                           \
            for (p = 0; p < pixels; p++) {                                                                        \
                const dw_column16 n = DW_COLUMN16(ox0 + p + 1);                                                   \
                DW_SUM16(a, m, n, v);                                                                             \
                STORE(v);                                                                                         \
                a = m;                                                                                            \
                m = n;                                                                                            \
            }                                                                                                     \
        } else {                                                                                                  \
            dw_column16 a = DW_COLUMN16(2 * ox0 - 1);                                                             \
            for (p = 0; p < pixels; p++) {                                                                        \
                const dw_column16 m = DW_COLUMN16(2 * (ox0 + p)), n = DW_COLUMN16(2 * (ox0 + p) + 1);             \
                DW_SUM16(a, m, n, v);                                                                             \
                STORE(v);                                                                                         \
                a = n;                                                                                            \
            }                                                                                                     \
        }                                                                                                         \
    } while (0)
        if (sink->rq) {
            const as__rqf_avx512 rq = sink->rq[c / 16];
            const __m512i zp = sink->zp, lo_zp = sink->lo_zp, hi_zp = sink->hi_zp;
            int8_t *out = sink->out + c;
            const size_t out_stride = sink->out_stride;
#define DW_STORE_OUTPUT(v)                                                                                        \
    _mm_mask_storeu_epi8(out + (size_t)p * out_stride, mask,                                                      \
                         _mm512_cvtepi32_epi8(as__output_avx512(as__rqf_avx512_apply(&rq, (v)), zp, lo_zp, hi_zp)))
            DW_WALK16(DW_STORE_OUTPUT);
#undef DW_STORE_OUTPUT
        } else {
            int32_t *acc = sink->acc + c;
#define DW_STORE_ACC(v) _mm512_storeu_si512((void *)(acc + p * DW_CHUNK), (v))
            DW_WALK16(DW_STORE_ACC);
#undef DW_STORE_ACC
        }
#undef DW_COLUMN16
#undef DW_SUM16
#undef DW_WALK16
    }
}

/* rq[b] = the folded requantization of the chunk's 16-channel block b (nc channels); 0 unless every block folds */
static AS_NOINLINE int dw_plan16(const int32_t *multiplier, const int32_t *shift, int nc, as__rqf_avx512 *rq)
{
    int c;
    for (c = 0; c < nc; c += 16) {
        const __mmask16 m = as__lanes16(nc - c);
        if (!as__rqf_avx512_init(&rq[c / 16], _mm512_maskz_loadu_epi32(m, multiplier + c),
                                 _mm512_mask_loadu_epi32(_mm512_set1_epi32(-1), m, shift + c))) {
            return 0;
        }
    }
    return 1;
}
#endif

#if defined(AS_ARM_NEON)
/* NEON: acc[p][c] = bias_eff[c] + sum x w for output pixels ox0 + p (p < pixels) of one row and the 8-channel
 * blocks c < nc8, as dw_group_avx2 (rows, step and pad alike): an input column is 3 rows x 8 channels widened
 * to int16 once and used by every output pixel that reads it; each tap is one widening multiply-add per half
 * (x * w exact in int32). w: the chunk's weights, taps `channels` apart. */
typedef struct dw_column_neon {
    int16x8_t r[3];
} dw_column_neon;

static AS_ALWAYS_INLINE dw_column_neon dw_load_column_neon(const int8_t *r0, const int8_t *r1, const int8_t *r2)
{
    dw_column_neon col;
    col.r[0] = vmovl_s8(vld1_s8(r0));
    col.r[1] = vmovl_s8(vld1_s8(r1));
    col.r[2] = vmovl_s8(vld1_s8(r2));
    return col;
}

static AS_NOINLINE void dw_group_neon(const int8_t *const rows[3], const size_t step[3], int in_width, int stride,
                                      int ox0, int pixels, const int8_t *pad, const int8_t *w, size_t channels,
                                      const int32_t *bias_eff, int nc8, int32_t *acc)
{
    int c, p, t;
    for (c = 0; c < nc8; c += 8) {
        int16x8_t wt[9]; /* tap ky * 3 + kx */
        const int32x4_t b0 = vld1q_s32(bias_eff + c), b1 = vld1q_s32(bias_eff + c + 4);
        const int8_t *r0 = rows[0] + c, *r1 = rows[1] + c, *r2 = rows[2] + c;
        const size_t s0 = step[0], s1 = step[1], s2 = step[2];
        for (t = 0; t < 9; t++) {
            wt[t] = vmovl_s8(vld1_s8(w + (size_t)t * channels + c));
        }
#define DW_NEON_COLUMN(ix)                                                                                        \
    ((ix) >= 0 && (ix) < in_width                                                                                 \
         ? dw_load_column_neon(r0 + (size_t)(ix) * s0, r1 + (size_t)(ix) * s1, r2 + (size_t)(ix) * s2)            \
         : dw_load_column_neon(pad + c, pad + c, pad + c))
#define DW_NEON_TAPS(col, kx)                                                                                     \
    do {                                                                                                          \
        int ky;                                                                                                   \
        for (ky = 0; ky < 3; ky++) {                                                                              \
            v0 = vmlal_s16(v0, vget_low_s16((col).r[ky]), vget_low_s16(wt[ky * 3 + (kx)]));                       \
            v1 = vmlal_s16(v1, vget_high_s16((col).r[ky]), vget_high_s16(wt[ky * 3 + (kx)]));                     \
        }                                                                                                         \
    } while (0)
#define DW_NEON_PIXEL(a, m, n)                                                                                    \
    do {                                                                                                          \
        int32x4_t v0 = b0, v1 = b1;                                                                               \
        DW_NEON_TAPS(a, 0);                                                                                       \
        DW_NEON_TAPS(m, 1);                                                                                       \
        DW_NEON_TAPS(n, 2);                                                                                       \
        vst1q_s32(acc + p * DW_CHUNK + c, v0);                                                                    \
        vst1q_s32(acc + p * DW_CHUNK + c + 4, v1);                                                                \
    } while (0)
        {
            /* one copy of the pixel code for both strides (1.5 KB less than a loop per stride): with stride 1 the
             * pixel's columns ox - 1, ox, ox + 1 come two from the previous pixel, with stride 2 the first one */
            dw_column_neon a = DW_NEON_COLUMN(stride * ox0 - 1), m = DW_NEON_COLUMN(ox0), n;
            for (p = 0; p < pixels; p++) {
                const int ix = stride * (ox0 + p);
                if (stride != 1) {
                    m = DW_NEON_COLUMN(ix);
                }
                n = DW_NEON_COLUMN(ix + 1);
                DW_NEON_PIXEL(a, m, n);
                a = stride == 1 ? m : n;
                m = n;
            }
        }
#undef DW_NEON_COLUMN
#undef DW_NEON_TAPS
#undef DW_NEON_PIXEL
    }
}
#endif

#if defined(DW_COLUMNS_8)
/* bias_row[c] = bias[c] (0 without bias), bias_eff[c] = bias_row[c] - zp * sum_t w[t * channels + c], c < nc */
static AS_NOINLINE DW_SCALAR void dw_bias_s8(const int8_t *w, int channels, const int32_t *bias, int32_t zp, int nc,
                                             int32_t *bias_row, int32_t *bias_eff)
{
    int c, t;
    for (c = 0; c < nc; c++) {
        int32_t sum = 0;
        for (t = 0; t < 9; t++) {
            sum += w[t * channels + c];
        }
        bias_row[c] = bias ? bias[c] : 0;
        bias_eff[c] = bias_row[c] - zp * sum;
    }
}

#endif

/* Output rows [row_begin, row_end) of as_depthwise_conv3x3_s8; output points at row row_begin's first pixel. */
void as__depthwise_conv3x3_s8_rows(const int8_t *input, int in_height, int in_width, int channels, int in_pixel_stride,
                                   int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int stride,
                                   const as_requant_s8 *requant, int row_begin, int row_end, int8_t *output,
                                   int out_pixel_stride)
{
    const int out_width = as_conv_output_size(in_width, 3, stride);
    int32_t acc[DW_GROUP * DW_CHUNK];
    int8_t zero_points[DW_CHUNK]; /* padding taps read the zero point: x - zp = 0 */
#if defined(DW_COLUMNS)
    int32_t bias_eff[DW_CHUNK]; /* bias - zp * sum_t w: the column kernels multiply x, not x - zp */
#endif
#if !defined(DW_COLUMNS) || defined(DW_COLUMNS_8)
    int32_t bias_row[DW_CHUNK];
    const int16_t zp = (int16_t)input_zero_point;
    const void *taps[DW_GROUP][9];
#endif
#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
    /* weight pairs of the chunk's 8-channel blocks (dw_pack_weights), then of its last 8 channels when nc % 8 */
    __m256i wq[6 * DW_CHUNK / 8];
    as__rqf_avx2 plan[DW_CHUNK / 8]; /* folded requantization constants of the chunk (as__rqf_avx2_plan) */
    unsigned char planned[DW_CHUNK / 8]; /* which of its 8-channel blocks plan covers */
#elif defined(AS_X86_AVX512)
    __m512i wq[6 * DW_CHUNK / 16]; /* weight pairs of the chunk's 16-channel blocks (dw_pack_weights16) */
    as__rqf_avx512 rq[DW_CHUNK / 16]; /* their folded requantization (dw_plan16) */
    dw_sink16 sink;
    sink.zp = _mm512_set1_epi32(requant->output_zero_point);
    sink.lo_zp = _mm512_set1_epi32(requant->activation_min - requant->output_zero_point);
    sink.hi_zp = _mm512_set1_epi32(requant->activation_max - requant->output_zero_point);
    sink.out_stride = (size_t)out_pixel_stride;
    sink.acc = acc;
#endif
    int c0, oy, ox0;
#if !defined(DW_COLUMNS)
    int c;
#endif
    memset(zero_points, (int8_t)input_zero_point, sizeof zero_points);
    for (c0 = 0; c0 < channels; c0 += DW_CHUNK) {
        const int nc = channels - c0 < DW_CHUNK ? channels - c0 : DW_CHUNK;
#if defined(DW_COLUMNS_8)
        dw_bias_s8(weights + c0, channels, bias ? bias + c0 : NULL, input_zero_point, nc, bias_row, bias_eff);
#elif defined(DW_COLUMNS)
        /* AVX-512: bias_eff with the weight packing below */
#else
        for (c = 0; c < nc; c++) {
            bias_row[c] = bias ? bias[c0 + c] : 0;
        }
#endif
#if defined(DW_COLUMNS_8)
        const int nc8 = nc & ~7;
        /* a channel tail after 8 channels or more runs as the block of the chunk's last 8 channels (the channels
         * before the tail are computed twice, to the same values); a shorter one (nc < 8) the portable loop */
        const int last8 = nc % 8 && nc >= 8 ? nc - 8 : -1;
#endif
#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
        dw_pack_weights(weights + c0, (size_t)channels, nc8, wq);
        if (last8 >= 0) {
            dw_pack_weights(weights + c0 + last8, (size_t)channels, 8, wq + 6 * (nc8 / 8));
        }
        as__rqf_avx2_plan(requant->multiplier + c0, requant->shift + c0, nc, plan, planned);
#elif defined(AS_X86_AVX512)
        dw_pack_weights16(weights + c0, (size_t)channels, nc, bias ? bias + c0 : NULL, input_zero_point, wq, bias_eff);
        sink.rq = dw_plan16(requant->multiplier + c0, requant->shift + c0, nc, rq) ? rq : NULL;
#endif
        for (oy = row_begin; oy < row_end; oy++) {
#if defined(DW_COLUMNS)
            const int8_t *rows[3];
            size_t step[3];
            int t;
            for (t = 0; t < 3; t++) {
                const int iy = oy * stride - 1 + t;
                const int inside = iy >= 0 && iy < in_height;
                rows[t] = inside ? input + (size_t)iy * in_width * in_pixel_stride + c0 : zero_points;
                step[t] = inside ? (size_t)in_pixel_stride : 0;
            }
#endif
#if defined(DW_COLUMNS_8)
            /* the same rows at the chunk's last 8 channels, for a tail block (last8 > 0) */
            const int8_t *const shifted[3] = {rows[0] + (step[0] && last8 > 0 ? last8 : 0),
                                              rows[1] + (step[1] && last8 > 0 ? last8 : 0),
                                              rows[2] + (step[2] && last8 > 0 ? last8 : 0)};
#endif
            for (ox0 = 0; ox0 < out_width; ox0 += DW_GROUP) {
                const int pixels = out_width - ox0 < DW_GROUP ? out_width - ox0 : DW_GROUP;
#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
                dw_group_avx2(rows, step, in_width, stride, ox0, pixels, zero_points, wq, bias_eff, nc8, acc);
                if (last8 >= 0) {
                    dw_group_avx2(shifted, step, in_width, stride, ox0, pixels, zero_points, wq + 6 * (nc8 / 8),
                                  bias_eff + last8, 8, acc + last8);
                }
#elif defined(AS_X86_AVX512)
                sink.out = output + ((size_t)(oy - row_begin) * out_width + ox0) * out_pixel_stride + c0;
                dw_group_avx512(rows, step, in_width, stride, ox0, pixels, zero_points, wq, bias_eff, nc, &sink);
                if (sink.rq) { /* requantized in the group */
                    continue;
                }
#elif defined(DW_COLUMNS)
                dw_group_neon(rows, step, in_width, stride, ox0, pixels, zero_points, weights + c0, (size_t)channels,
                              bias_eff, nc8, acc);
                if (last8 >= 0) {
                    dw_group_neon(shifted, step, in_width, stride, ox0, pixels, zero_points, weights + c0 + last8,
                                  (size_t)channels, bias_eff + last8, 8, acc + last8);
                }
#endif
#if defined(DW_COLUMNS_8)
                if (last8 < 0 && nc8 < nc) { /* channel tail of a layer under 8 channels: the portable loop */
                    int p;
                    group_taps(input, 1, in_height, in_width, in_pixel_stride, stride, oy, ox0, pixels, c0,
                               zero_points, taps);
                    for (p = 0; p < pixels; p++) {
                        const int8_t *tap[9];
                        for (t = 0; t < 9; t++) {
                            tap[t] = (const int8_t *)taps[p][t];
                        }
                        pixel_s8(tap, nc8, nc, weights + c0, (size_t)channels, zp, bias_row, acc + p * DW_CHUNK);
                    }
                }
#elif !defined(DW_COLUMNS)
                group_taps(input, 1, in_height, in_width, in_pixel_stride, stride, oy, ox0, pixels, c0, zero_points,
                           taps);
                group_s8(pixels, taps, weights + c0, (size_t)channels, zp, bias_row, nc, acc);
#endif
#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
                as__requant_blocks_avx2(acc, pixels, DW_CHUNK, nc, plan, planned, requant->multiplier + c0,
                                        requant->shift + c0, requant->output_zero_point, requant->activation_min,
                                        requant->activation_max,
                                        output + ((size_t)(oy - row_begin) * out_width + ox0) * out_pixel_stride + c0,
                                        (size_t)out_pixel_stride, NULL, 0);
#else
                as__requant_tile_s8(acc, pixels, DW_CHUNK, nc, requant->multiplier + c0, requant->shift + c0,
                                    requant->output_zero_point, requant->activation_min, requant->activation_max,
                                    output + ((size_t)(oy - row_begin) * out_width + ox0) * out_pixel_stride + c0,
                                    (size_t)out_pixel_stride);
#endif
            }
        }
    }
}

void as_depthwise_conv3x3_s8(const int8_t *input, int in_height, int in_width, int channels,
                             int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                             const int32_t *bias, int stride, const as_requant_s8 *requant, int8_t *output,
                             int out_pixel_stride)
{
    as__depthwise_conv3x3_s8_rows(input, in_height, in_width, channels, in_pixel_stride, input_zero_point, weights, bias,
                                  stride, requant, 0, as_conv_output_size(in_height, 3, stride), output,
                                  out_pixel_stride);
}
