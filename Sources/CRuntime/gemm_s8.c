/*
 * gemm_s8.c - int8 convolution (KxK, pointwise, FC) lowered to a GEMM over output pixels.
 *
 * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K*K*C_in,
 * R4 = ceil(R / 4), P = pixels of a tile, G = 4-byte reduction groups of a pass.
 *
 *   acc[p][o] = bias[o] + sum_r (x_p[r] - zp_in) * w[r][o]          x_p = im2col row of pixel p [R]
 *   out[p][o] = clamp(zp_out + MBQM(acc[p][o], m[o], s[o]), min, max)
 *
 * For a tile of P output pixels the im2col rows are staged into a stack buffer [P][STAGE_BYTES]
 * (one pass covers up to STAGE_BYTES of the reduction; longer reductions take several passes and
 * keep partial sums in the accumulator tile). Spatial padding stages the input zero point; the row
 * tail up to a multiple of 16 stages 0 so that it contributes nothing whatever the weights hold.
 * Since sum (x - zp) w = sum x w - zp * sum w, the zero point is folded into an effective bias once
 * per call and the inner loops are plain int8 dot products:
 *   - x86 AVX-512 VNNI: vpdpbusd multiplies unsigned by signed bytes, so rows are staged as
 *     x + 128 (x ^ 0x80) and the bias absorbs (zp + 128) * sum w;
 *   - aarch64 with dotprod: sdot (signed x signed) by lane;
 *   - aarch64 NEON: vmull_s8 + vpadal into pairwise int32 sums;
 *   - portable C otherwise.
 * All paths compute the same exact integers, so the outputs are bit-identical everywhere.
 */
#include "kernel_common.h"

#define TILE_PIXELS 8   /* output pixels per tile */
#define OC_CHUNK 256    /* output channels whose accumulators stay in the stack tile */
#define STAGE_BYTES 1024 /* reduction bytes staged per pixel and pass; multiple of 16 */

#if defined(AS_X86_AVX512_VNNI)
#define STAGE_FLIP 0x80
#else
#define STAGE_FLIP 0x00
#endif

/* ---- staging ------------------------------------------------------------------------------------ */

/* 16 bytes, flipped into the staged domain */
static AS_ALWAYS_INLINE void copy16_flip(uint8_t *dst, const int8_t *src)
{
    uint8_t t[16];
    int i;
    memcpy(t, src, 16);
    for (i = 0; i < 16; i++) {
        t[i] = (uint8_t)(t[i] ^ STAGE_FLIP);
    }
    memcpy(dst, t, 16);
}

/* dst[0..count) = flip(src[0..count)). Runs are short (K*C_in bytes), so they move in 16-byte
 * chunks: longer runs end with an overlapping chunk, shorter ones copy 16 bytes when both sides
 * have room (the extra bytes are overwritten by the runs staged after this one). */
static void copy_flip(uint8_t *dst, const int8_t *src, int count, ptrdiff_t src_room, ptrdiff_t dst_room)
{
    int i;
    if (count >= 16) {
        for (i = 0; i + 16 <= count; i += 16) {
            copy16_flip(dst + i, src + i);
        }
        if (i < count) {
            copy16_flip(dst + count - 16, src + count - 16);
        }
    } else if (src_room >= 16 && dst_room >= 16) {
        copy16_flip(dst, src);
    } else {
        for (i = 0; i < count; i++) {
            dst[i] = (uint8_t)((uint8_t)src[i] ^ STAGE_FLIP);
        }
    }
}

typedef struct stage_context {
    const as__conv_shape *shape;
    const int8_t *input;
    const int8_t *input_end; /* one past the last input byte the kernel may read */
    uint8_t pad;             /* staged value of a padding tap */
} stage_context;

/* Writes the part of the logical run [r, r + count) inside the pass window [r0, r1) of `row`;
 * src == NULL writes padding. Runs must be written in increasing r. */
static void put_run(const stage_context *x, uint8_t *row, int r0, int r1, int r, const int8_t *src, int count)
{
    const int lo = r > r0 ? r : r0;
    const int hi = r + count < r1 ? r + count : r1;
    if (hi <= lo) {
        return;
    }
    if (src) {
        copy_flip(row + (lo - r0), src + (lo - r), hi - lo, x->input_end - (src + (lo - r)),
                  STAGE_BYTES - (lo - r0));
    } else {
        memset(row + (lo - r0), x->pad, (size_t)(hi - lo));
    }
}

/* row [round_up(r1 - r0, 16)] = staged im2col values r0..r1 of output pixel (oy, ox). */
static void stage_row(const stage_context *x, int oy, int ox, int r0, int r1, uint8_t *row)
{
    const as__conv_shape *s = x->shape;
    const int k = s->kernel_size, c = s->in_channels, ps = s->in_pixel_stride;
    const int y0 = oy * s->stride - s->padding, x0 = ox * s->stride - s->padding;
    const int staged = ((r1 - r0) + 15) & ~15;
    int ky, kx;
    if (k == 1) {
        const int8_t *src = x->input + ((size_t)y0 * s->in_width + x0) * ps + r0;
        copy_flip(row, src, r1 - r0, x->input_end - src, STAGE_BYTES);
    } else if (r0 == 0 && r1 == k * k * c && ps == c && y0 >= 0 && x0 >= 0 && y0 + k <= s->in_height &&
               x0 + k <= s->in_width) {
        /* interior pixel, dense input, whole reduction: K runs of K*C contiguous bytes */
        const int8_t *src = x->input + ((size_t)y0 * s->in_width + x0) * c;
        const size_t line = (size_t)s->in_width * c;
        const int run = k * c;
        for (ky = 0; ky < k; ky++) {
            copy_flip(row + ky * run, src + ky * line, run, x->input_end - (src + ky * line),
                      STAGE_BYTES - ky * run);
        }
    } else {
        /* taps kx in [kx_lo, kx_hi) are inside the image horizontally */
        int kx_lo = -x0, kx_hi = s->in_width - x0;
        kx_lo = kx_lo < 0 ? 0 : kx_lo > k ? k : kx_lo;
        kx_hi = kx_hi < kx_lo ? kx_lo : kx_hi > k ? k : kx_hi;
        for (ky = 0; ky < k; ky++) {
            const int iy = y0 + ky;
            const int run = ky * k * c; /* r of tap (ky, 0), channel 0 */
            const int8_t *src;
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
    if (staged > r1 - r0) {
        static const uint8_t zeros[16] = {0};
        if (STAGE_BYTES - (r1 - r0) >= 16) {
            memcpy(row + (r1 - r0), zeros, 16);
        } else {
            memset(row + (r1 - r0), 0, (size_t)(staged - (r1 - r0)));
        }
    }
}

/* sums[o] = sum_{r < R} w[r][oc0 + o] for o < count; weights [R4][C_out][4]. */
static void weight_sums(const int8_t *weights, int out_channels, int reduction, int oc0, int count,
                        int32_t *sums)
{
    int32_t lanes[OC_CHUNK * 4];
    const int full = reduction / 4, tail = reduction % 4;
    int g, j, o, t;
    for (j = 0; j < count * 4; j++) {
        lanes[j] = 0;
    }
    for (g = 0; g < full; g++) {
        const int8_t *w = weights + ((size_t)g * out_channels + oc0) * 4;
        for (j = 0; j < count * 4; j++) {
            lanes[j] += w[j];
        }
    }
    if (tail) {
        const int8_t *w = weights + ((size_t)full * out_channels + oc0) * 4;
        for (o = 0; o < count; o++) {
            for (t = 0; t < tail; t++) {
                lanes[4 * o + t] += w[4 * o + t];
            }
        }
    }
    for (o = 0; o < count; o++) {
        sums[o] = lanes[4 * o] + lanes[4 * o + 1] + lanes[4 * o + 2] + lanes[4 * o + 3];
    }
}

/* ---- micro-kernels ----------------------------------------------------------------------------
 * Contract of every tile function:
 *   acc[p][o] = (init ? init[o] : acc[p][o]) + sum_{g < groups} sum_t a_p[4g + t] * w[g][o][t]
 * for p < rows and o < the tile width, where a_p = stage + p * STAGE_BYTES (staged domain) and
 * w[g] = weights + g * w_stride bytes. acc rows are OC_CHUNK apart. Lanes past the tile width may be
 * computed from whatever the loads return but are never stored beyond the accumulator tile.
 */

#if defined(AS_X86_AVX512_VNNI)

#define TILE_WIDTH 32 /* output channels per tile: two zmm registers of int32 */

static AS_ALWAYS_INLINE void vnni_tile(const int rows, const int wide, const uint8_t *stage, int groups,
                                       const int8_t *w, size_t w_stride, __mmask16 m0, __mmask16 m1,
                                       const int32_t *init, int32_t *acc)
{
    __m512i c0[TILE_PIXELS], c1[TILE_PIXELS];
    int r, g;
    if (init) {
        const __m512i b0 = _mm512_maskz_loadu_epi32(m0, init);
        const __m512i b1 = wide ? _mm512_maskz_loadu_epi32(m1, init + 16) : _mm512_setzero_si512();
        for (r = 0; r < rows; r++) {
            c0[r] = b0;
            c1[r] = b1;
        }
    } else {
        for (r = 0; r < rows; r++) {
            c0[r] = _mm512_maskz_loadu_epi32(m0, acc + r * OC_CHUNK);
            c1[r] = wide ? _mm512_maskz_loadu_epi32(m1, acc + r * OC_CHUNK + 16) : _mm512_setzero_si512();
        }
    }
    for (g = 0; g < groups; g++) {
        const int8_t *wg = w + (size_t)g * w_stride;
        const __m512i w0 = _mm512_maskz_loadu_epi32(m0, wg);
        const __m512i w1 = wide ? _mm512_maskz_loadu_epi32(m1, wg + 64) : _mm512_setzero_si512();
        for (r = 0; r < rows; r++) {
            int32_t quad;
            __m512i x;
            memcpy(&quad, stage + r * STAGE_BYTES + 4 * g, sizeof quad);
            x = _mm512_set1_epi32(quad);
            c0[r] = _mm512_dpbusd_epi32(c0[r], x, w0);
            if (wide) {
                c1[r] = _mm512_dpbusd_epi32(c1[r], x, w1);
            }
        }
    }
    for (r = 0; r < rows; r++) {
        _mm512_mask_storeu_epi32(acc + r * OC_CHUNK, m0, c0[r]);
        if (wide) {
            _mm512_mask_storeu_epi32(acc + r * OC_CHUNK + 16, m1, c1[r]);
        }
    }
}

static void tile_kernel(int rows, const uint8_t *stage, int groups, const int8_t *w, size_t w_stride,
                        int width, const int32_t *init, int32_t *acc)
{
    const __mmask16 m0 = width >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1u);
    const __mmask16 m1 = width >= 32 ? (__mmask16)0xFFFF
                         : width > 16 ? (__mmask16)((1u << (width - 16)) - 1u) : (__mmask16)0;
    int r = 0;
    if (width > 16) {
        for (; r + 8 <= rows; r += 8) {
            vnni_tile(8, 1, stage + r * STAGE_BYTES, groups, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
        }
        if (r + 4 <= rows) {
            vnni_tile(4, 1, stage + r * STAGE_BYTES, groups, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
            r += 4;
        }
        if (r + 2 <= rows) {
            vnni_tile(2, 1, stage + r * STAGE_BYTES, groups, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
            r += 2;
        }
        if (r < rows) {
            vnni_tile(1, 1, stage + r * STAGE_BYTES, groups, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
        }
    } else {
        for (; r + 8 <= rows; r += 8) {
            vnni_tile(8, 0, stage + r * STAGE_BYTES, groups, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
        }
        if (r + 4 <= rows) {
            vnni_tile(4, 0, stage + r * STAGE_BYTES, groups, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
            r += 4;
        }
        if (r + 2 <= rows) {
            vnni_tile(2, 0, stage + r * STAGE_BYTES, groups, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
            r += 2;
        }
        if (r < rows) {
            vnni_tile(1, 0, stage + r * STAGE_BYTES, groups, w, w_stride, m0, m1, init, acc + r * OC_CHUNK);
        }
    }
}

#define TILE_MASKED_LOADS 1 /* loads past the tile width are masked: no over-read of the weights */

#elif defined(AS_ARM_NEON)

#define TILE_WIDTH 16 /* output channels per tile: four q registers of int32 */

#if defined(AS_ARM_DOTPROD)

static AS_ALWAYS_INLINE void neon_tile(const int rows, const uint8_t *stage, int groups, const int8_t *w,
                                       size_t w_stride, const int32_t *init, int32_t *acc)
{
    int32x4_t c[4][4];
    int r, j, g = 0;
    for (r = 0; r < rows; r++) {
        const int32_t *src = init ? init : acc + r * OC_CHUNK;
        for (j = 0; j < 4; j++) {
            c[r][j] = vld1q_s32(src + 4 * j);
        }
    }
    for (; g + 4 <= groups; g += 4) {
        int8x16_t x[4];
        for (r = 0; r < rows; r++) {
            x[r] = vld1q_s8((const int8_t *)(stage + r * STAGE_BYTES + 4 * g));
        }
#define AS_SDOT_LANE(lane)                                                                             \
    do {                                                                                               \
        const int8_t *wl = w + (size_t)(g + (lane)) * w_stride;                                        \
        const int8x16_t w0 = vld1q_s8(wl), w1 = vld1q_s8(wl + 16);                                     \
        const int8x16_t w2 = vld1q_s8(wl + 32), w3 = vld1q_s8(wl + 48);                                \
        for (r = 0; r < rows; r++) {                                                                   \
            c[r][0] = vdotq_laneq_s32(c[r][0], w0, x[r], lane);                                        \
            c[r][1] = vdotq_laneq_s32(c[r][1], w1, x[r], lane);                                        \
            c[r][2] = vdotq_laneq_s32(c[r][2], w2, x[r], lane);                                        \
            c[r][3] = vdotq_laneq_s32(c[r][3], w3, x[r], lane);                                        \
        }                                                                                              \
    } while (0)
        AS_SDOT_LANE(0);
        AS_SDOT_LANE(1);
        AS_SDOT_LANE(2);
        AS_SDOT_LANE(3);
#undef AS_SDOT_LANE
    }
    for (; g < groups; g++) {
        const int8_t *wl = w + (size_t)g * w_stride;
        const int8x16_t w0 = vld1q_s8(wl), w1 = vld1q_s8(wl + 16);
        const int8x16_t w2 = vld1q_s8(wl + 32), w3 = vld1q_s8(wl + 48);
        for (r = 0; r < rows; r++) {
            int32_t quad;
            int8x16_t x;
            memcpy(&quad, stage + r * STAGE_BYTES + 4 * g, sizeof quad);
            x = vreinterpretq_s8_s32(vdupq_n_s32(quad));
            c[r][0] = vdotq_s32(c[r][0], w0, x);
            c[r][1] = vdotq_s32(c[r][1], w1, x);
            c[r][2] = vdotq_s32(c[r][2], w2, x);
            c[r][3] = vdotq_s32(c[r][3], w3, x);
        }
    }
    for (r = 0; r < rows; r++) {
        for (j = 0; j < 4; j++) {
            vst1q_s32(acc + r * OC_CHUNK + 4 * j, c[r][j]);
        }
    }
}

#define NEON_ROWS 4

#else /* plain NEON: widening multiplies, pairwise accumulation */

static AS_ALWAYS_INLINE void neon_tile(const int rows, const uint8_t *stage, int groups, const int8_t *w,
                                       size_t w_stride, const int32_t *init, int32_t *acc)
{
    /* pairs[r][j] = [o k01, o k23, o' k01, o' k23] for output channels o = 2j, o' = 2j + 1 */
    int32x4_t pairs[2][8];
    int r, j, g;
    for (r = 0; r < rows; r++) {
        for (j = 0; j < 8; j++) {
            pairs[r][j] = vdupq_n_s32(0);
        }
    }
    for (g = 0; g < groups; g++) {
        const int8_t *wl = w + (size_t)g * w_stride;
        int8x8_t x[2];
        for (r = 0; r < rows; r++) {
            int32_t quad;
            memcpy(&quad, stage + r * STAGE_BYTES + 4 * g, sizeof quad);
            x[r] = vreinterpret_s8_s32(vdup_n_s32(quad));
        }
        for (j = 0; j < 8; j++) {
            const int8x8_t wj = vld1_s8(wl + 8 * j);
            for (r = 0; r < rows; r++) {
                pairs[r][j] = vpadalq_s16(pairs[r][j], vmull_s8(wj, x[r]));
            }
        }
    }
    for (r = 0; r < rows; r++) {
        const int32_t *src = init ? init : acc + r * OC_CHUNK;
        for (j = 0; j < 4; j++) {
            const int32x4_t sums = vpaddq_s32(pairs[r][2 * j], pairs[r][2 * j + 1]);
            vst1q_s32(acc + r * OC_CHUNK + 4 * j, vaddq_s32(vld1q_s32(src + 4 * j), sums));
        }
    }
}

#define NEON_ROWS 2

#endif /* AS_ARM_DOTPROD */

static void tile_kernel(int rows, const uint8_t *stage, int groups, const int8_t *w, size_t w_stride,
                        int width, const int32_t *init, int32_t *acc)
{
    int r = 0;
    (void)width;
#if NEON_ROWS == 4
    for (; r + 4 <= rows; r += 4) {
        neon_tile(4, stage + r * STAGE_BYTES, groups, w, w_stride, init, acc + r * OC_CHUNK);
    }
#endif
    for (; r + 2 <= rows; r += 2) {
        neon_tile(2, stage + r * STAGE_BYTES, groups, w, w_stride, init, acc + r * OC_CHUNK);
    }
    if (r < rows) {
        neon_tile(1, stage + r * STAGE_BYTES, groups, w, w_stride, init, acc + r * OC_CHUNK);
    }
}

#else /* portable */

#define TILE_WIDTH 32

static void tile_kernel(int rows, const uint8_t *stage, int groups, const int8_t *w, size_t w_stride,
                        int width, const int32_t *init, int32_t *acc)
{
    int r, g, o;
    for (r = 0; r < rows; r++) {
        const int8_t *a = (const int8_t *)(stage + r * STAGE_BYTES);
        int32_t *c = acc + r * OC_CHUNK;
        if (init) {
            for (o = 0; o < width; o++) {
                c[o] = init[o];
            }
        }
        for (g = 0; g < groups; g++) {
            const int32_t a0 = a[4 * g], a1 = a[4 * g + 1], a2 = a[4 * g + 2], a3 = a[4 * g + 3];
            const int8_t *wg = w + (size_t)g * w_stride;
            for (o = 0; o < width; o++) {
                c[o] += a0 * wg[4 * o] + a1 * wg[4 * o + 1] + a2 * wg[4 * o + 2] + a3 * wg[4 * o + 3];
            }
        }
    }
}

#define TILE_MASKED_LOADS 1 /* reads exactly `width` channels */

#endif

/* ---- engine ------------------------------------------------------------------------------------ */

void as__conv_gemm_s8(const as__conv_shape *s, const int8_t *input, int32_t input_zero_point,
                      const int8_t *weights, const int32_t *bias, const as_requant_s8 *requant,
                      int8_t *output)
{
    uint8_t stage[TILE_PIXELS * STAGE_BYTES] AS_ALIGN64;
    int32_t acc[TILE_PIXELS * OC_CHUNK] AS_ALIGN64;
    int32_t bias_eff[OC_CHUNK] AS_ALIGN64;
    const int c_out = s->out_channels;
    const int reduction = s->kernel_size * s->kernel_size * s->in_channels;
    const int groups_total = (reduction + 3) / 4;
    const int pixels = s->out_height * s->out_width;
    const size_t w_stride = (size_t)c_out * 4;
    const uint32_t offset = (uint32_t)(input_zero_point + (STAGE_FLIP ? 128 : 0));
    stage_context x;
    int oc0, p0, r0, o, p;

    x.shape = s;
    x.input = input;
    x.input_end = input + ((size_t)s->in_height * s->in_width - 1) * s->in_pixel_stride + s->in_channels;
    /* staged value of a padding tap: the zero point, so that (x - zp) = 0 */
    x.pad = (uint8_t)((uint8_t)(int8_t)input_zero_point ^ STAGE_FLIP);

    for (oc0 = 0; oc0 < c_out; oc0 += OC_CHUNK) {
        const int chunk = c_out - oc0 < OC_CHUNK ? c_out - oc0 : OC_CHUNK;
        weight_sums(weights, c_out, reduction, oc0, chunk, bias_eff);
        for (o = 0; o < chunk; o++) {
            /* modular arithmetic: the final accumulator is exact even if this term wraps */
            const uint32_t b = bias ? (uint32_t)bias[oc0 + o] : 0u;
            bias_eff[o] = (int32_t)(b - offset * (uint32_t)bias_eff[o]);
        }
        for (o = chunk; o < OC_CHUNK; o++) {
            bias_eff[o] = 0;
        }
        for (p0 = 0; p0 < pixels; p0 += TILE_PIXELS) {
            const int rows = pixels - p0 < TILE_PIXELS ? pixels - p0 : TILE_PIXELS;
            for (r0 = 0; r0 < reduction; r0 += STAGE_BYTES) {
                const int r1 = reduction - r0 < STAGE_BYTES ? reduction : r0 + STAGE_BYTES;
                const int groups = (r1 - r0 + 3) / 4;
                const int g0 = r0 / 4;
                const int32_t *init = r0 == 0 ? bias_eff : NULL;
                int oy = p0 / s->out_width, ox = p0 % s->out_width;
                for (p = 0; p < rows; p++) {
                    stage_row(&x, oy, ox, r0, r1, stage + p * STAGE_BYTES);
                    if (++ox == s->out_width) {
                        ox = 0;
                        oy++;
                    }
                }
                for (o = 0; o < chunk; o += TILE_WIDTH) {
                    const int width = chunk - o < TILE_WIDTH ? chunk - o : TILE_WIDTH;
                    const int8_t *w = weights + ((size_t)g0 * c_out + oc0 + o) * 4;
#if defined(TILE_MASKED_LOADS)
                    tile_kernel(rows, stage, groups, w, w_stride, width, init ? init + o : NULL, acc + o);
#else
                    /* full-width weight loads of the array's last group would run past its end:
                     * run that group from a zero-padded copy */
                    if (g0 + groups == groups_total && oc0 + o + TILE_WIDTH > c_out) {
                        int8_t last[TILE_WIDTH * 4] AS_ALIGN64;
                        memset(last, 0, sizeof last);
                        memcpy(last, w + (size_t)(groups - 1) * w_stride, (size_t)width * 4);
                        if (groups > 1) {
                            tile_kernel(rows, stage, groups - 1, w, w_stride, width, init ? init + o : NULL,
                                        acc + o);
                            tile_kernel(rows, stage + 4 * (groups - 1), 1, last, 0, width, NULL, acc + o);
                        } else {
                            tile_kernel(rows, stage, 1, last, 0, width, init ? init + o : NULL, acc + o);
                        }
                    } else {
                        tile_kernel(rows, stage, groups, w, w_stride, width, init ? init + o : NULL, acc + o);
                    }
#endif
                }
            }
            as__requant_tile_s8(acc, rows, OC_CHUNK, chunk, requant->multiplier + oc0, requant->shift + oc0,
                                requant->output_zero_point, requant->activation_min, requant->activation_max,
                                output + (size_t)p0 * s->out_pixel_stride + oc0, (size_t)s->out_pixel_stride);
        }
    }
    (void)groups_total;
}
