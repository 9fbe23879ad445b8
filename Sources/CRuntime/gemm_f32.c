/*
 * gemm_f32.c - float convolution (KxK, pointwise, FC) lowered to a GEMM over output pixels.
 *
 * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K*K*C_in,
 * P = pixels of a tile.
 *
 *   out[p][o] = act(bias[o] + sum_r x_p[r] * w[r][o])     x_p = im2col row of pixel p [R], w [R][C_out]
 *
 * Pointwise convs and FC read their rows straight from the input (a pixel's channels are
 * contiguous); KxK convs stage im2col rows for a tile of P pixels into a stack buffer [P][STAGE]
 * (padding stages 0), in passes of at most STAGE floats of the reduction. The inner kernel broadcasts
 * one input value and multiply-adds it into a row of output channels (contiguous in w).
 */
#include "kernel_common.h"

#define TILE_PIXELS 8
#define OC_CHUNK 256
#define STAGE_FLOATS 512

/* ---- staging ------------------------------------------------------------------------------------ */

static void put_run(float *row, int r0, int r1, int r, const float *src, int count)
{
    int lo = r > r0 ? r : r0;
    int hi = r + count < r1 ? r + count : r1;
    int i;
    if (hi <= lo) {
        return;
    }
    if (src) {
        for (i = lo; i < hi; i++) {
            row[i - r0] = src[i - r];
        }
    } else {
        for (i = lo; i < hi; i++) {
            row[i - r0] = 0.0f;
        }
    }
}

/* row [r1 - r0] = im2col values r0..r1 of output pixel `pixel` (K > 1). */
static void stage_row(const as__conv_shape *s, const float *input, int pixel, int r0, int r1, float *row)
{
    const int k = s->kernel_size, c = s->in_channels, ps = s->in_pixel_stride;
    const int oy = pixel / s->out_width, ox = pixel % s->out_width;
    const int y0 = oy * s->stride - s->padding, x0 = ox * s->stride - s->padding;
    int kx_lo = -x0, kx_hi = s->in_width - x0;
    int ky, kx;
    kx_lo = kx_lo < 0 ? 0 : kx_lo > k ? k : kx_lo;
    kx_hi = kx_hi < kx_lo ? kx_lo : kx_hi > k ? k : kx_hi;
    for (ky = 0; ky < k; ky++) {
        const int iy = y0 + ky;
        const int run = ky * k * c;
        const float *src;
        if (run >= r1) {
            break;
        }
        if (run + k * c <= r0) {
            continue;
        }
        if (iy < 0 || iy >= s->in_height) {
            put_run(row, r0, r1, run, NULL, k * c);
            continue;
        }
        put_run(row, r0, r1, run, NULL, kx_lo * c);
        put_run(row, r0, r1, run + kx_hi * c, NULL, (k - kx_hi) * c);
        src = input + ((size_t)iy * s->in_width + (x0 + kx_lo)) * ps;
        if (ps == c) {
            put_run(row, r0, r1, run + kx_lo * c, src, (kx_hi - kx_lo) * c);
        } else {
            for (kx = kx_lo; kx < kx_hi; kx++) {
                put_run(row, r0, r1, run + kx * c, src + (size_t)(kx - kx_lo) * ps, c);
            }
        }
    }
}

/* ---- micro-kernels ----------------------------------------------------------------------------
 * Contract: acc[p][o] = (init ? init[o] : acc[p][o]) + sum_{k < depth} a[p][k] * w[k * w_stride + o]
 * for p < rows, o < width; acc rows are OC_CHUNK apart, a[p] are row pointers.
 */

#if defined(AS_X86_AVX512)

#define TILE_WIDTH 32
#define TILE_MASKED_LOADS 1

static AS_ALWAYS_INLINE void avx512_tile(const int rows, const int wide, const float *const *a, int depth,
                                         const float *w, size_t w_stride, __mmask16 m0, __mmask16 m1,
                                         const float *init, float *acc)
{
    __m512 c0[TILE_PIXELS], c1[TILE_PIXELS];
    int r, k;
    if (init) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, init);
        const __m512 b1 = wide ? _mm512_maskz_loadu_ps(m1, init + 16) : _mm512_setzero_ps();
        for (r = 0; r < rows; r++) {
            c0[r] = b0;
            c1[r] = b1;
        }
    } else {
        for (r = 0; r < rows; r++) {
            c0[r] = _mm512_maskz_loadu_ps(m0, acc + r * OC_CHUNK);
            c1[r] = wide ? _mm512_maskz_loadu_ps(m1, acc + r * OC_CHUNK + 16) : _mm512_setzero_ps();
        }
    }
    for (k = 0; k < depth; k++) {
        const float *wk = w + (size_t)k * w_stride;
        const __m512 w0 = _mm512_maskz_loadu_ps(m0, wk);
        const __m512 w1 = wide ? _mm512_maskz_loadu_ps(m1, wk + 16) : _mm512_setzero_ps();
        for (r = 0; r < rows; r++) {
            const __m512 x = _mm512_set1_ps(a[r][k]);
            c0[r] = _mm512_fmadd_ps(x, w0, c0[r]);
            if (wide) {
                c1[r] = _mm512_fmadd_ps(x, w1, c1[r]);
            }
        }
    }
    for (r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(acc + r * OC_CHUNK, m0, c0[r]);
        if (wide) {
            _mm512_mask_storeu_ps(acc + r * OC_CHUNK + 16, m1, c1[r]);
        }
    }
}

static void tile_kernel(int rows, const float *const *a, int depth, const float *w, size_t w_stride, int width,
                        const float *init, float *acc)
{
    const __mmask16 m0 = width >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1u);
    const __mmask16 m1 = width >= 32 ? (__mmask16)0xFFFF
                         : width > 16 ? (__mmask16)((1u << (width - 16)) - 1u) : (__mmask16)0;
    int r = 0;
    if (width > 16) {
        for (; r + 8 <= rows; r += 8) {
            avx512_tile(8, 1, a + r, depth, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
        }
        if (r + 4 <= rows) {
            avx512_tile(4, 1, a + r, depth, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
            r += 4;
        }
        for (; r < rows; r++) {
            avx512_tile(1, 1, a + r, depth, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
        }
    } else {
        for (; r + 8 <= rows; r += 8) {
            avx512_tile(8, 0, a + r, depth, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
        }
        if (r + 4 <= rows) {
            avx512_tile(4, 0, a + r, depth, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
            r += 4;
        }
        for (; r < rows; r++) {
            avx512_tile(1, 0, a + r, depth, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
        }
    }
}

#elif defined(AS_X86_AVX2)

#define TILE_WIDTH 16
#define TILE_MASKED_LOADS 1

static AS_ALWAYS_INLINE void avx2_tile(const int rows, const float *const *a, int depth, const float *w,
                                       size_t w_stride, __m256i m0, __m256i m1, const float *init, float *acc)
{
    __m256 c0[4], c1[4];
    int r, k;
    for (r = 0; r < rows; r++) {
        const float *src = init ? init : acc + r * OC_CHUNK;
        c0[r] = _mm256_maskload_ps(src, m0);
        c1[r] = _mm256_maskload_ps(src + 8, m1);
    }
    for (k = 0; k < depth; k++) {
        const float *wk = w + (size_t)k * w_stride;
        const __m256 w0 = _mm256_maskload_ps(wk, m0);
        const __m256 w1 = _mm256_maskload_ps(wk + 8, m1);
        for (r = 0; r < rows; r++) {
            const __m256 x = _mm256_broadcast_ss(a[r] + k);
            c0[r] = _mm256_fmadd_ps(x, w0, c0[r]);
            c1[r] = _mm256_fmadd_ps(x, w1, c1[r]);
        }
    }
    for (r = 0; r < rows; r++) {
        _mm256_maskstore_ps(acc + r * OC_CHUNK, m0, c0[r]);
        _mm256_maskstore_ps(acc + r * OC_CHUNK + 8, m1, c1[r]);
    }
}

static void tile_kernel(int rows, const float *const *a, int depth, const float *w, size_t w_stride, int width,
                        const float *init, float *acc)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - 8), lane);
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        avx2_tile(4, a + r, depth, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
    }
    for (; r < rows; r++) {
        avx2_tile(1, a + r, depth, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
    }
}

#elif defined(AS_ARM_NEON)

#define TILE_WIDTH 16

static AS_ALWAYS_INLINE void neon_tile(const int rows, const float *const *a, int depth, const float *w,
                                       size_t w_stride, const float *init, float *acc)
{
    float32x4_t c[4][4];
    int r, j, k = 0;
    for (r = 0; r < rows; r++) {
        const float *src = init ? init : acc + r * OC_CHUNK;
        for (j = 0; j < 4; j++) {
            c[r][j] = vld1q_f32(src + 4 * j);
        }
    }
    for (; k + 4 <= depth; k += 4) {
        float32x4_t x[4];
        for (r = 0; r < rows; r++) {
            x[r] = vld1q_f32(a[r] + k);
        }
#define AS_FMLA_LANE(lane)                                                                             \
    do {                                                                                               \
        const float *wl = w + (size_t)(k + (lane)) * w_stride;                                         \
        const float32x4_t w0 = vld1q_f32(wl), w1 = vld1q_f32(wl + 4);                                  \
        const float32x4_t w2 = vld1q_f32(wl + 8), w3 = vld1q_f32(wl + 12);                             \
        for (r = 0; r < rows; r++) {                                                                   \
            c[r][0] = vfmaq_laneq_f32(c[r][0], w0, x[r], lane);                                        \
            c[r][1] = vfmaq_laneq_f32(c[r][1], w1, x[r], lane);                                        \
            c[r][2] = vfmaq_laneq_f32(c[r][2], w2, x[r], lane);                                        \
            c[r][3] = vfmaq_laneq_f32(c[r][3], w3, x[r], lane);                                        \
        }                                                                                              \
    } while (0)
        AS_FMLA_LANE(0);
        AS_FMLA_LANE(1);
        AS_FMLA_LANE(2);
        AS_FMLA_LANE(3);
#undef AS_FMLA_LANE
    }
    for (; k < depth; k++) {
        const float *wl = w + (size_t)k * w_stride;
        const float32x4_t w0 = vld1q_f32(wl), w1 = vld1q_f32(wl + 4);
        const float32x4_t w2 = vld1q_f32(wl + 8), w3 = vld1q_f32(wl + 12);
        for (r = 0; r < rows; r++) {
            const float x = a[r][k];
            c[r][0] = vfmaq_n_f32(c[r][0], w0, x);
            c[r][1] = vfmaq_n_f32(c[r][1], w1, x);
            c[r][2] = vfmaq_n_f32(c[r][2], w2, x);
            c[r][3] = vfmaq_n_f32(c[r][3], w3, x);
        }
    }
    for (r = 0; r < rows; r++) {
        for (j = 0; j < 4; j++) {
            vst1q_f32(acc + r * OC_CHUNK + 4 * j, c[r][j]);
        }
    }
}

static void tile_kernel(int rows, const float *const *a, int depth, const float *w, size_t w_stride, int width,
                        const float *init, float *acc)
{
    int r = 0;
    (void)width;
    for (; r + 4 <= rows; r += 4) {
        neon_tile(4, a + r, depth, w, w_stride, init, acc + r * OC_CHUNK);
    }
    for (; r < rows; r++) {
        neon_tile(1, a + r, depth, w, w_stride, init, acc + r * OC_CHUNK);
    }
}

#else /* portable */

#define TILE_WIDTH 32
#define TILE_MASKED_LOADS 1

static void tile_kernel(int rows, const float *const *a, int depth, const float *w, size_t w_stride, int width,
                        const float *init, float *acc)
{
    int r, k, o;
    for (r = 0; r < rows; r++) {
        float *c = acc + r * OC_CHUNK;
        if (init) {
            for (o = 0; o < width; o++) {
                c[o] = init[o];
            }
        }
        for (k = 0; k < depth; k++) {
            const float x = a[r][k];
            const float *wk = w + (size_t)k * w_stride;
            for (o = 0; o < width; o++) {
                c[o] += x * wk[o];
            }
        }
    }
}

#endif

/* ---- engine ------------------------------------------------------------------------------------ */

void as__conv_gemm_f32(const as__conv_shape *s, const float *input, const float *weights, const float *bias,
                       as_activation activation, float *output)
{
    float stage[TILE_PIXELS * STAGE_FLOATS] AS_ALIGN64;
    float acc[TILE_PIXELS * OC_CHUNK] AS_ALIGN64;
    float bias_row[OC_CHUNK] AS_ALIGN64;
    const float *rows_ptr[TILE_PIXELS];
    const int c_out = s->out_channels;
    const int reduction = s->kernel_size * s->kernel_size * s->in_channels;
    const int pixels = s->out_height * s->out_width;
    const int direct = s->kernel_size == 1; /* rows read in place, one pass over the reduction */
    const int pass = direct ? reduction : STAGE_FLOATS;
    float lo, hi;
    int oc0, p0, r0, o, p;

    as__activation_bounds_f32(activation, &lo, &hi);
    for (oc0 = 0; oc0 < c_out; oc0 += OC_CHUNK) {
        const int chunk = c_out - oc0 < OC_CHUNK ? c_out - oc0 : OC_CHUNK;
        for (o = 0; o < OC_CHUNK; o++) {
            bias_row[o] = (bias && o < chunk) ? bias[oc0 + o] : 0.0f;
        }
        for (p0 = 0; p0 < pixels; p0 += TILE_PIXELS) {
            const int rows = pixels - p0 < TILE_PIXELS ? pixels - p0 : TILE_PIXELS;
            for (r0 = 0; r0 < reduction; r0 += pass) {
                const int r1 = reduction - r0 < pass ? reduction : r0 + pass;
                const int depth = r1 - r0;
                const float *init = r0 == 0 ? bias_row : NULL;
                for (p = 0; p < rows; p++) {
                    const int pixel = p0 + p;
                    if (direct) {
                        const int y = (pixel / s->out_width) * s->stride, x = (pixel % s->out_width) * s->stride;
                        rows_ptr[p] = input + ((size_t)y * s->in_width + x) * s->in_pixel_stride;
                    } else {
                        stage_row(s, input, pixel, r0, r1, stage + p * STAGE_FLOATS);
                        rows_ptr[p] = stage + p * STAGE_FLOATS;
                    }
                }
                for (o = 0; o < chunk; o += TILE_WIDTH) {
                    const int width = chunk - o < TILE_WIDTH ? chunk - o : TILE_WIDTH;
                    const float *w = weights + (size_t)r0 * c_out + oc0 + o;
#if defined(TILE_MASKED_LOADS)
                    tile_kernel(rows, rows_ptr, depth, w, (size_t)c_out, width, init ? init + o : NULL, acc + o);
#else
                    /* full-width loads of the array's last weight row would run past its end */
                    if (r1 == reduction && oc0 + o + TILE_WIDTH > c_out) {
                        float last[TILE_WIDTH] AS_ALIGN64;
                        const float *shifted[TILE_PIXELS];
                        int i;
                        for (i = 0; i < TILE_WIDTH; i++) {
                            last[i] = i < width ? w[(size_t)(depth - 1) * c_out + i] : 0.0f;
                        }
                        for (p = 0; p < rows; p++) {
                            shifted[p] = rows_ptr[p] + depth - 1;
                        }
                        if (depth > 1) {
                            tile_kernel(rows, rows_ptr, depth - 1, w, (size_t)c_out, width, init ? init + o : NULL,
                                        acc + o);
                            tile_kernel(rows, shifted, 1, last, 0, width, NULL, acc + o);
                        } else {
                            tile_kernel(rows, shifted, 1, last, 0, width, init ? init + o : NULL, acc + o);
                        }
                    } else {
                        tile_kernel(rows, rows_ptr, depth, w, (size_t)c_out, width, init ? init + o : NULL, acc + o);
                    }
#endif
                }
            }
            for (p = 0; p < rows; p++) {
                as__clamp_row_f32(acc + p * OC_CHUNK, chunk, lo, hi,
                                  output + (size_t)(p0 + p) * s->out_pixel_stride + oc0);
            }
        }
    }
}
