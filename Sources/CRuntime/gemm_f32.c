/*
 * gemm_f32.c - float convolution (KxK, pointwise, FC) lowered to a GEMM over output pixels.
 *
 * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K*K*C_in,
 * P = pixels of a tile.
 *
 *   out[p][o] = act(bias[o] + sum_r x_p[r] * w[r][o])     x_p = im2col row of pixel p [R], w [R][C_out]
 *
 * The inner kernel (up to 8 pixels x 32 output channels in registers) broadcasts one input value and
 * multiply-adds it into a row of output channels, contiguous in w; bias is the initial value and the
 * activation clamp is applied in registers before the store. Where the rows come from:
 *   - pointwise convs and FC: straight from the input (a pixel's channels are contiguous);
 *   - KxK convs, "direct" pixels whose window lies inside the image: straight from the input through
 *     a table of reduction offsets (r -> (ky*W + kx)*pixel_stride + ci from the window origin);
 *   - the other pixels: im2col rows staged in a stack buffer [P][STAGE] (padding stages 0), in passes
 *     of at most STAGE floats with partial sums kept in an accumulator tile;
 *   - a KxK conv whose zero-padded input fits PADDED_FLOATS (every stem) is first copied into a padded
 *     stack image, so that all of its pixels are direct.
 * Pixels are queued in raster order into direct and staged tiles, each run when full.
 */
#include "kernel_common.h"

#define TILE_PIXELS 8        /* output pixels per tile */
#define OC_CHUNK 256         /* output channels whose partial sums fit the accumulator tile */
#define STAGE_FLOATS 256     /* reduction values staged per pixel and pass */
#define MAX_OFFSETS 1024     /* longest reduction read through the offset table */
#define PADDED_FLOATS 6144   /* largest input copied once with its zero border (all pixels direct) */
#define ZERO_RUN 64          /* longest channel run staged branch-free */

/* ---- staging ------------------------------------------------------------------------------------ */

/* dst[0..count) = src[0..count): runs move in chunks of 4 floats, longer runs end with an overlapping
 * chunk, shorter ones copy 4 floats when both sides have room (the extra values are overwritten by
 * the runs staged after this one). */
static void copy_run(float *dst, const float *src, int count, ptrdiff_t src_room, ptrdiff_t dst_room)
{
    int i;
    if (count >= 4) {
        for (i = 0; i + 4 <= count; i += 4) {
            memcpy(dst + i, src + i, 4 * sizeof(float));
        }
        if (i < count) {
            memcpy(dst + count - 4, src + count - 4, 4 * sizeof(float));
        }
    } else if (src_room >= 4 && dst_room >= 4) {
        memcpy(dst, src, 4 * sizeof(float));
    } else {
        for (i = 0; i < count; i++) {
            dst[i] = src[i];
        }
    }
}

typedef struct stage_context {
    const as__conv_shape *shape;
    const float *input;
    const float *input_end; /* one past the last input value the kernel may read */
} stage_context;

/* Writes the part of the logical run [r, r + count) inside the pass window [r0, r1) of `row`;
 * src == NULL writes zeros. Runs must be written in increasing r. */
static void put_run(const stage_context *x, float *row, int r0, int r1, int r, const float *src, int count)
{
    const int lo = r > r0 ? r : r0;
    const int hi = r + count < r1 ? r + count : r1;
    int i;
    if (hi <= lo) {
        return;
    }
    if (src) {
        copy_run(row + (lo - r0), src + (lo - r), hi - lo, x->input_end - (src + (lo - r)),
                 STAGE_FLOATS - (lo - r0));
    } else {
        for (i = lo; i < hi; i++) {
            row[i - r0] = 0.0f;
        }
    }
}

/* row [r1 - r0] = im2col values r0..r1 of output pixel (oy, ox) (K > 1). */
static void stage_row(const stage_context *x, int oy, int ox, int r0, int r1, float *row)
{
    const as__conv_shape *s = x->shape;
    const int k = s->kernel_size, c = s->in_channels, ps = s->in_pixel_stride;
    const int y0 = oy * s->stride - s->padding, x0 = ox * s->stride - s->padding;
    int kx_lo = -x0, kx_hi = s->in_width - x0;
    int ky, kx;
    if (r0 == 0 && r1 == k * k * c && c <= ZERO_RUN) {
        /* whole reduction in one pass, short channel runs: every tap copies C values, taps outside
         * the image from a row of zeros (no data-dependent branches) */
        static const float zeros[ZERO_RUN + 4] = {0.0f};
        float *dst = row;
        for (ky = 0; ky < k; ky++) {
            const int iy = y0 + ky;
            const int row_inside = iy >= 0 && iy < s->in_height;
            for (kx = 0; kx < k; kx++, dst += c) {
                const int ix = x0 + kx;
                const int inside = row_inside && ix >= 0 && ix < s->in_width;
                const float *src = inside ? x->input + ((size_t)iy * s->in_width + ix) * ps : zeros;
                copy_run(dst, src, c, inside ? x->input_end - src : ZERO_RUN + 4, STAGE_FLOATS - (dst - row));
            }
        }
        return;
    }
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
            put_run(x, row, r0, r1, run, NULL, k * c);
            continue;
        }
        put_run(x, row, r0, r1, run, NULL, kx_lo * c);
        src = x->input + ((size_t)iy * s->in_width + (x0 + kx_lo)) * ps;
        if (ps == c) {
            put_run(x, row, r0, r1, run + kx_lo * c, src, (kx_hi - kx_lo) * c);
        } else {
            for (kx = kx_lo; kx < kx_hi; kx++) {
                put_run(x, row, r0, r1, run + kx * c, src + (size_t)(kx - kx_lo) * ps, c);
            }
        }
        put_run(x, row, r0, r1, run + kx_hi * c, NULL, (k - kx_hi) * c);
    }
}

/* ---- micro-kernels ----------------------------------------------------------------------------
 * Contract of tile_kernel:
 *   v[p][o] = (init ? init[o] : acc[p][o]) + sum_{k < depth} a[p][off(k)] * w[k * w_stride + o]
 * for p < rows and o < width, with off(k) = offsets ? offsets[k] : k and a[p] row pointers. The result
 * is stored to acc[p][o] (rows OC_CHUNK apart) or, when out != NULL (last pass), clamped to [lo, hi]
 * into out[p][o]; exactly `width` values are written per output row.
 */

#if defined(AS_X86_AVX512)

#define TILE_WIDTH 32
#define TILE_MASKED_LOADS 1

static AS_ALWAYS_INLINE void avx512_tile(const int rows, const int wide, const float *const *a,
                                         const int32_t *offsets, int depth, const float *w, size_t w_stride,
                                         __mmask16 m0, __mmask16 m1, const float *init, float *acc,
                                         float *const *out, float lo, float hi)
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
        const int off = offsets ? offsets[k] : k;
        const __m512 w0 = _mm512_maskz_loadu_ps(m0, wk);
        const __m512 w1 = wide ? _mm512_maskz_loadu_ps(m1, wk + 16) : _mm512_setzero_ps();
        for (r = 0; r < rows; r++) {
            const __m512 x = _mm512_set1_ps(a[r][off]);
            c0[r] = _mm512_fmadd_ps(x, w0, c0[r]);
            if (wide) {
                c1[r] = _mm512_fmadd_ps(x, w1, c1[r]);
            }
        }
    }
    if (out) {
        const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
        for (r = 0; r < rows; r++) {
            _mm512_mask_storeu_ps(out[r], m0, _mm512_min_ps(_mm512_max_ps(c0[r], vlo), vhi));
            if (wide) {
                _mm512_mask_storeu_ps(out[r] + 16, m1, _mm512_min_ps(_mm512_max_ps(c1[r], vlo), vhi));
            }
        }
    } else {
        for (r = 0; r < rows; r++) {
            _mm512_mask_storeu_ps(acc + r * OC_CHUNK, m0, c0[r]);
            if (wide) {
                _mm512_mask_storeu_ps(acc + r * OC_CHUNK + 16, m1, c1[r]);
            }
        }
    }
}

/* rows in blocks of 8, 4, 1 for one (width class, offsets or contiguous) specialisation */
#define AS_AVX512_ROWS(wide, offs)                                                                              \
    do {                                                                                                        \
        for (; r + 8 <= rows; r += 8) {                                                                         \
            avx512_tile(8, wide, a + r, offs, depth, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK,             \
                        out ? out + r : NULL, lo, hi);                                                          \
        }                                                                                                       \
        if (r + 4 <= rows) {                                                                                    \
            avx512_tile(4, wide, a + r, offs, depth, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK,             \
                        out ? out + r : NULL, lo, hi);                                                          \
            r += 4;                                                                                             \
        }                                                                                                       \
        for (; r < rows; r++) {                                                                                 \
            avx512_tile(1, wide, a + r, offs, depth, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK,             \
                        out ? out + r : NULL, lo, hi);                                                          \
        }                                                                                                       \
    } while (0)

static void tile_kernel(int rows, const float *const *a, const int32_t *offsets, int depth, const float *w,
                        size_t w_stride, int width, const float *init, float *acc, float *const *out, float lo,
                        float hi)
{
    const __mmask16 m0 = as__lanes16(width);
    const __mmask16 m1 = width > 16 ? as__lanes16(width - 16) : (__mmask16)0;
    int r = 0;
    if (width > 16) {
        if (offsets) {
            AS_AVX512_ROWS(1, offsets);
        } else {
            AS_AVX512_ROWS(1, NULL);
        }
    } else {
        if (offsets) {
            AS_AVX512_ROWS(0, offsets);
        } else {
            AS_AVX512_ROWS(0, NULL);
        }
    }
}

#elif defined(AS_X86_AVX2)

#define TILE_WIDTH 16
#define TILE_MASKED_LOADS 1

static AS_ALWAYS_INLINE void avx2_tile(const int rows, const float *const *a, const int32_t *offsets, int depth,
                                       const float *w, size_t w_stride, __m256i m0, __m256i m1, const float *init,
                                       float *acc, float *const *out, float lo, float hi)
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
        const int off = offsets ? offsets[k] : k;
        const __m256 w0 = _mm256_maskload_ps(wk, m0);
        const __m256 w1 = _mm256_maskload_ps(wk + 8, m1);
        for (r = 0; r < rows; r++) {
            const __m256 x = _mm256_broadcast_ss(a[r] + off);
            c0[r] = _mm256_fmadd_ps(x, w0, c0[r]);
            c1[r] = _mm256_fmadd_ps(x, w1, c1[r]);
        }
    }
    if (out) {
        const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
        for (r = 0; r < rows; r++) {
            _mm256_maskstore_ps(out[r], m0, _mm256_min_ps(_mm256_max_ps(c0[r], vlo), vhi));
            _mm256_maskstore_ps(out[r] + 8, m1, _mm256_min_ps(_mm256_max_ps(c1[r], vlo), vhi));
        }
    } else {
        for (r = 0; r < rows; r++) {
            _mm256_maskstore_ps(acc + r * OC_CHUNK, m0, c0[r]);
            _mm256_maskstore_ps(acc + r * OC_CHUNK + 8, m1, c1[r]);
        }
    }
}

static void tile_kernel(int rows, const float *const *a, const int32_t *offsets, int depth, const float *w,
                        size_t w_stride, int width, const float *init, float *acc, float *const *out, float lo,
                        float hi)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - 8), lane);
    int r = 0;
    if (offsets) {
        for (; r + 4 <= rows; r += 4) {
            avx2_tile(4, a + r, offsets, depth, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK, out ? out + r : NULL,
                      lo, hi);
        }
        for (; r < rows; r++) {
            avx2_tile(1, a + r, offsets, depth, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK, out ? out + r : NULL,
                      lo, hi);
        }
    } else {
        for (; r + 4 <= rows; r += 4) {
            avx2_tile(4, a + r, NULL, depth, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK, out ? out + r : NULL,
                      lo, hi);
        }
        for (; r < rows; r++) {
            avx2_tile(1, a + r, NULL, depth, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK, out ? out + r : NULL,
                      lo, hi);
        }
    }
}

#elif defined(AS_ARM_NEON)

#define TILE_WIDTH 16

static AS_ALWAYS_INLINE void neon_tile(const int rows, const float *const *a, const int32_t *offsets, int depth,
                                       const float *w, size_t w_stride, int width, const float *init, float *acc,
                                       float *const *out, float lo, float hi)
{
    float32x4_t c[4][4];
    int r, j, k = 0;
    for (r = 0; r < rows; r++) {
        const float *src = init ? init : acc + r * OC_CHUNK;
        for (j = 0; j < 4; j++) {
            c[r][j] = vld1q_f32(src + 4 * j);
        }
    }
    if (!offsets) {
        /* contiguous rows: four reduction steps per vector load of each row */
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
    }
    for (; k < depth; k++) {
        const float *wl = w + (size_t)k * w_stride;
        const int off = offsets ? offsets[k] : k;
        const float32x4_t w0 = vld1q_f32(wl), w1 = vld1q_f32(wl + 4);
        const float32x4_t w2 = vld1q_f32(wl + 8), w3 = vld1q_f32(wl + 12);
        for (r = 0; r < rows; r++) {
            const float x = a[r][off];
            c[r][0] = vfmaq_n_f32(c[r][0], w0, x);
            c[r][1] = vfmaq_n_f32(c[r][1], w1, x);
            c[r][2] = vfmaq_n_f32(c[r][2], w2, x);
            c[r][3] = vfmaq_n_f32(c[r][3], w3, x);
        }
    }
    if (out) {
        const float32x4_t vlo = vdupq_n_f32(lo), vhi = vdupq_n_f32(hi);
        for (r = 0; r < rows; r++) {
            float clamped[16];
            for (j = 0; j < 4; j++) {
                vst1q_f32(clamped + 4 * j, vminq_f32(vmaxq_f32(c[r][j], vlo), vhi));
            }
            memcpy(out[r], clamped, (size_t)width * sizeof(float));
        }
    } else {
        for (r = 0; r < rows; r++) {
            for (j = 0; j < 4; j++) {
                vst1q_f32(acc + r * OC_CHUNK + 4 * j, c[r][j]);
            }
        }
    }
}

static void tile_kernel(int rows, const float *const *a, const int32_t *offsets, int depth, const float *w,
                        size_t w_stride, int width, const float *init, float *acc, float *const *out, float lo,
                        float hi)
{
    /* rows of 4, then the 0-3 rows left one by one, each twice so that neon_tile is specialised for
     * offsets == NULL; acc advances with r, and the tail's count is bounded (armv7's gcc otherwise warns that
     * r * OC_CHUNK could overflow) */
    int r = 0, i, tail;
    if (offsets) {
        for (; r + 4 <= rows; r += 4, acc += 4 * OC_CHUNK) {
            neon_tile(4, a + r, offsets, depth, w, w_stride, width, init, acc, out ? out + r : NULL, lo, hi);
        }
        tail = (rows - r) & 3;
        for (i = 0; i < tail; i++, r++, acc += OC_CHUNK) {
            neon_tile(1, a + r, offsets, depth, w, w_stride, width, init, acc, out ? out + r : NULL, lo, hi);
        }
    } else {
        for (; r + 4 <= rows; r += 4, acc += 4 * OC_CHUNK) {
            neon_tile(4, a + r, NULL, depth, w, w_stride, width, init, acc, out ? out + r : NULL, lo, hi);
        }
        tail = (rows - r) & 3;
        for (i = 0; i < tail; i++, r++, acc += OC_CHUNK) {
            neon_tile(1, a + r, NULL, depth, w, w_stride, width, init, acc, out ? out + r : NULL, lo, hi);
        }
    }
}

#else /* portable */

#define TILE_WIDTH 32
#define TILE_MASKED_LOADS 1

static void tile_kernel(int rows, const float *const *a, const int32_t *offsets, int depth, const float *w,
                        size_t w_stride, int width, const float *init, float *acc, float *const *out, float lo,
                        float hi)
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
            const float x = a[r][offsets ? offsets[k] : k];
            const float *wk = w + (size_t)k * w_stride;
            for (o = 0; o < width; o++) {
                c[o] += x * wk[o];
            }
        }
        if (out) {
            for (o = 0; o < width; o++) {
                const float v = c[o] < lo ? lo : c[o];
                out[r][o] = v > hi ? hi : v;
            }
        }
    }
}

#endif

/* ---- engine ------------------------------------------------------------------------------------ */

typedef struct engine {
    stage_context x;
    const float *weights;
    const int32_t *offsets; /* [R] window offsets for direct KxK tiles */
    int reduction;
    float lo, hi;
    float *stage; /* [TILE_PIXELS][STAGE_FLOATS] */
    float *acc;   /* [TILE_PIXELS][OC_CHUNK] partial sums between passes */
} engine;

/* One reduction pass [r0, r0 + depth) over all column tiles of channels oc0..oc0 + chunk. out[p]
 * (the pixels' outputs at oc0) is given on the last pass. Arm runs the array's last weight row from
 * a zero-padded copy where full-width loads would run past the end of the weights. */
static void gemm_pass(const engine *e, int rows, const float *const *a, const int32_t *offsets, int r0, int depth,
                      int oc0, int chunk, const float *init, float *const *out)
{
    const int c_out = e->x.shape->out_channels;
    float *shifted_out[TILE_PIXELS];
    int o, p;
    for (o = 0; o < chunk; o += TILE_WIDTH) {
        const int width = chunk - o < TILE_WIDTH ? chunk - o : TILE_WIDTH;
        const float *w = e->weights + (size_t)r0 * c_out + oc0 + o;
        const float *tile_init = init ? init + o : NULL;
        float *const *tile_out = NULL;
        if (out) {
            for (p = 0; p < rows; p++) {
                shifted_out[p] = out[p] + o;
            }
            tile_out = shifted_out;
        }
#if defined(TILE_MASKED_LOADS)
        tile_kernel(rows, a, offsets, depth, w, (size_t)c_out, width, tile_init, e->acc + o, tile_out, e->lo, e->hi);
#else
        if (out && oc0 + o + TILE_WIDTH > c_out) {
            float last[TILE_WIDTH] AS_ALIGN64;
            const float *shifted[TILE_PIXELS];
            const int k = depth - 1;
            int i;
            for (i = 0; i < TILE_WIDTH; i++) {
                last[i] = i < width ? w[(size_t)k * c_out + i] : 0.0f;
            }
            for (p = 0; p < rows; p++) {
                shifted[p] = a[p] + (offsets ? offsets[k] : k);
            }
            if (depth > 1) {
                tile_kernel(rows, a, offsets, depth - 1, w, (size_t)c_out, width, tile_init, e->acc + o, NULL,
                            e->lo, e->hi);
                tile_kernel(rows, shifted, NULL, 1, last, 0, width, NULL, e->acc + o, tile_out, e->lo, e->hi);
            } else {
                tile_kernel(rows, shifted, NULL, 1, last, 0, width, tile_init, e->acc + o, tile_out, e->lo, e->hi);
            }
        } else {
            tile_kernel(rows, a, offsets, depth, w, (size_t)c_out, width, tile_init, e->acc + o, tile_out, e->lo,
                        e->hi);
        }
#endif
    }
}

/* Pixels queued for one kind of tile: output pixel (y, x) with its output row (at oc0) and, for
 * direct tiles, its window origin in the input. */
typedef struct tile_queue {
    int y[TILE_PIXELS], x[TILE_PIXELS];
    const float *in[TILE_PIXELS];
    float *out[TILE_PIXELS];
} tile_queue;

/* One tile of queued pixels for channels oc0..oc0 + chunk. direct: read the input in place
 * (pointwise, or KxK pixels whose window lies inside the image); otherwise stage im2col rows. */
static void run_tile(const engine *e, int rows, const tile_queue *q, int direct, int oc0, int chunk,
                     const float *bias_row)
{
    const float *a[TILE_PIXELS];
    int p, r0;
    if (direct) {
        gemm_pass(e, rows, q->in, e->x.shape->kernel_size == 1 ? NULL : e->offsets, 0, e->reduction, oc0, chunk,
                  bias_row, q->out);
        return;
    }
    for (r0 = 0; r0 < e->reduction; r0 += STAGE_FLOATS) {
        const int r1 = e->reduction - r0 < STAGE_FLOATS ? e->reduction : r0 + STAGE_FLOATS;
        for (p = 0; p < rows; p++) {
            stage_row(&e->x, q->y[p], q->x[p], r0, r1, e->stage + p * STAGE_FLOATS);
            a[p] = e->stage + p * STAGE_FLOATS;
        }
        gemm_pass(e, rows, a, NULL, r0, r1 - r0, oc0, chunk, r0 == 0 ? bias_row : NULL,
                  r1 == e->reduction ? q->out : NULL);
    }
}

/* Interior output columns [*lo, *hi) of a row: those whose K-wide window lies inside the input. */
static void interior_columns(const as__conv_shape *s, int *lo, int *hi)
{
    const int k = s->kernel_size;
    *lo = (s->padding + s->stride - 1) / s->stride;
    *hi = s->in_width - k + s->padding >= 0 ? (s->in_width - k + s->padding) / s->stride + 1 : 0;
    *hi = *hi > s->out_width ? s->out_width : *hi;
    *hi = *hi < *lo ? *lo : *hi;
}

static void conv_gemm(const as__conv_shape *s, const float *input, const float *weights, const float *bias,
                      as_activation activation, float *output)
{
    float stage[TILE_PIXELS * STAGE_FLOATS] AS_ALIGN64;
    float acc[TILE_PIXELS * OC_CHUNK] AS_ALIGN64;
    float bias_row[OC_CHUNK] AS_ALIGN64;
    int32_t offsets[MAX_OFFSETS];
    const int k = s->kernel_size, c_out = s->out_channels;
    engine e;
    int oc0, o, oy, ox;

    e.x.shape = s;
    e.x.input = input;
    e.x.input_end = input + ((size_t)s->in_height * s->in_width - 1) * s->in_pixel_stride + s->in_channels;
    e.weights = weights;
    e.reduction = k * k * s->in_channels;
    e.stage = stage;
    e.acc = acc;
    e.offsets = NULL;
    as__activation_bounds_f32(activation, &e.lo, &e.hi);
    if (k > 1 && e.reduction <= MAX_OFFSETS) {
        int ky, kx, ci, r = 0;
        for (ky = 0; ky < k; ky++) {
            for (kx = 0; kx < k; kx++) {
                for (ci = 0; ci < s->in_channels; ci++) {
                    offsets[r++] = (int32_t)(((size_t)ky * s->in_width + kx) * s->in_pixel_stride + ci);
                }
            }
        }
        e.offsets = offsets;
    }

    for (oc0 = 0; oc0 < c_out; oc0 += OC_CHUNK) {
        /* pixels in raster order: every pointwise pixel and the interior pixels of a KxK conv go to
         * direct tiles, the others to staged tiles; a tile runs as soon as it holds TILE_PIXELS */
        const int chunk = c_out - oc0 < OC_CHUNK ? c_out - oc0 : OC_CHUNK;
        tile_queue staged, direct;
        int n_staged = 0, n_direct = 0;
        int col_lo, col_hi;
        for (o = 0; o < OC_CHUNK; o++) {
            bias_row[o] = (bias && o < chunk) ? bias[oc0 + o] : 0.0f;
        }
        interior_columns(s, &col_lo, &col_hi);
        for (oy = 0; oy < s->out_height; oy++) {
            const int y0 = oy * s->stride - s->padding;
            const int rows_inside = k == 1 || (e.offsets && y0 >= 0 && y0 + k <= s->in_height);
            const size_t in_step = (size_t)s->stride * s->in_pixel_stride;
            /* window origin of direct pixel ox: in_row + (ox * stride - padding) * pixel_stride */
            const float *in_row = input + (size_t)(rows_inside ? y0 : 0) * s->in_width * s->in_pixel_stride;
            float *out_row = output + (size_t)oy * s->out_width * s->out_pixel_stride + oc0;
            for (ox = 0; ox < s->out_width; ox++) {
                float *out = out_row + (size_t)ox * s->out_pixel_stride;
                if (rows_inside && (k == 1 || (ox >= col_lo && ox < col_hi))) {
                    direct.in[n_direct] = in_row + (size_t)ox * in_step - (size_t)s->padding * s->in_pixel_stride;
                    direct.out[n_direct] = out;
                    if (++n_direct == TILE_PIXELS) {
                        run_tile(&e, n_direct, &direct, 1, oc0, chunk, bias_row);
                        n_direct = 0;
                    }
                } else {
                    staged.y[n_staged] = oy;
                    staged.x[n_staged] = ox;
                    staged.out[n_staged] = out;
                    if (++n_staged == TILE_PIXELS) {
                        run_tile(&e, n_staged, &staged, 0, oc0, chunk, bias_row);
                        n_staged = 0;
                    }
                }
            }
        }
        if (n_direct) {
            run_tile(&e, n_direct, &direct, 1, oc0, chunk, bias_row);
        }
        if (n_staged) {
            run_tile(&e, n_staged, &staged, 0, oc0, chunk, bias_row);
        }
    }
}

void as__conv_gemm_f32(const as__conv_shape *s, const float *input, const float *weights, const float *bias,
                       as_activation activation, float *output)
{
    const int pad = s->padding;
    const int padded_height = s->in_height + 2 * pad, padded_width = s->in_width + 2 * pad;
    if (s->kernel_size > 1 && pad > 0 && (size_t)padded_height * padded_width * s->in_channels <= PADDED_FLOATS) {
        /* small input: copy it once into a zero border [H + 2p][W + 2p][C] so every window is inside */
        float padded[PADDED_FLOATS];
        as__conv_shape inner = *s;
        const int c = s->in_channels;
        int y, x;
        memset(padded, 0, (size_t)padded_height * padded_width * c * sizeof(float));
        for (y = 0; y < s->in_height; y++) {
            float *dst = padded + ((size_t)(y + pad) * padded_width + pad) * c;
            const float *src = input + (size_t)y * s->in_width * s->in_pixel_stride;
            if (s->in_pixel_stride == c) {
                memcpy(dst, src, (size_t)s->in_width * c * sizeof(float));
                continue;
            }
            for (x = 0; x < s->in_width; x++) {
                int i;
                for (i = 0; i < c; i++) {
                    dst[(size_t)x * c + i] = src[(size_t)x * s->in_pixel_stride + i];
                }
            }
        }
        inner.in_height = padded_height;
        inner.in_width = padded_width;
        inner.in_pixel_stride = c;
        inner.padding = 0;
        conv_gemm(&inner, padded, weights, bias, activation, output);
        return;
    }
    conv_gemm(s, input, weights, bias, activation, output);
}
