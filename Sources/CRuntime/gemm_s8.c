/*
 * gemm_s8.c - int8 convolution (KxK, pointwise, FC) lowered to a GEMM over output pixels.
 *
 * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K*K*C_in,
 * R4 = ceil(R / 4), P = pixels of a tile, G = 4-byte reduction groups of a pass.
 *
 *   acc[p][o] = bias[o] + sum_r (x_p[r] - zp_in) * w[r][o]          x_p = im2col row of pixel p [R]
 *   out[p][o] = clamp(zp_out + MBQM(acc[p][o], m[o], s[o]), min, max)
 *
 * Since sum (x - zp) w = sum x w - zp * sum w, the zero point is folded into an effective bias once
 * per call and the inner loops are plain int8 dot products over groups of 4 reduction values:
 *   - x86 AVX-512 VNNI: vpdpbusd multiplies unsigned by signed bytes, so activations enter the
 *     kernel as x + 128 (x ^ 0x80, the "staged domain") and the bias absorbs (zp + 128) * sum w;
 *   - x86 AVX2: sign-extension to int16 and vpmaddwd;
 *   - aarch64 with dotprod: sdot (signed x signed) by lane; with i8mm too, smmla on row pairs (mmla_tile);
 *   - aarch64 NEON: vmull_s8 + vpadal into pairwise int32 sums;
 *   - portable C otherwise.
 * All paths compute the same exact integers, so the outputs are bit-identical everywhere.
 *
 * Where the activations come from:
 *   - staged rows: for a tile of P output pixels the im2col rows are copied into a stack buffer
 *     [P][STAGE_BYTES], in passes of at most STAGE_BYTES of the reduction (partial sums stay in the
 *     accumulator tile between passes). Spatial padding stages the input zero point; the row tail
 *     up to a multiple of 16 stages 0 so that it contributes nothing whatever the weights hold.
 *   - direct rows: a KxK conv whose zero-padded input fits PADDED_BYTES is first copied, already in
 *     the staged domain, into a padded stack image; when C_in % 4 == 0 every 4-byte group of a
 *     pixel's window is then contiguous and the kernel reads it in place through a table of group
 *     offsets (no staging at all). Stems with C_in < 4 still stage, but from the padded image
 *     without any border cases.
 *   - pointwise on VNNI (staged domain x + 128): the pixels read are copied once, flipped, into a dense
 *     stack image (up to PADDED_BYTES) whose rows are then read in place like direct rows.
 * as__conv_gemm_add_s8 (as_pointwise_conv_add_s8) runs an int8 add on the conv's values: in the AVX2 fused sign
 * tiles' epilogue (run_tile_add), elsewhere in batches of rows waiting in a stack buffer (add_batch; on AVX-512 added
 * with constants prepared once per call, tile_add_apply); its code is
 * a second instantiation of the engine (conv_gemm_add), so calls without an add run exactly what they ran before.
 * Direct single-pass tiles on AVX-512 VNNI requantize in their epilogue from registers (tile_kernel_fused)
 * when every shift of the chunk is <= -1; on AVX2 and AVX2 + AVX-VNNI the same holds for the 4-row, 16-channel
 * sign tiles of single-pass layers whose chunk folds whole (avx2_fuse), whose other tiles go through the
 * accumulator tile and the chunk's folded plan (as__requant_plan_rows_avx2); on AVX2 the others go through the
 * accumulator tile and as__requant_blocks_avx2 (the chunk's plan where its 8-channel blocks fold, the general
 * MBQM for the rest), on the other tiers requant_block.
 */
#include "kernel_common.h"
#include "simd_requant.h"

#define TILE_PIXELS 8          /* output pixels per tile */
#define OC_CHUNK 256           /* output channels whose accumulators stay in the stack tile */
#define STAGE_BYTES 1024       /* reduction bytes staged per pixel and pass; multiple of 16 */
#define MAX_GROUP_OFFSETS 1024 /* longest reduction (in groups) read through the offset table */
#define PADDED_BYTES 16384     /* largest zero-padded input copied once */
#define PADDED_SLACK 16        /* readable bytes after the padded image (short over-reads) */
#define REPACK_BYTES 4096      /* largest weight tensor repacked for channel-padded stems */

#if defined(AS_X86_AVX512_VNNI) || (defined(AS_X86_AVX2) && defined(AS_X86_AVXVNNI))
#define STAGE_FLIP 0x80
#else
#define STAGE_FLIP 0x00
#endif

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define AS_LITTLE_ENDIAN 1
#endif

/* ---- the fused add in registers (as_pointwise_conv_add_s8, AVX2) ----------------------------------------
 * On AVX2 (and AVX2 + AVX-VNNI) the 4-row, 16-channel sign tiles that requantize in their epilogue also run the
 * add there: the conv's int8 value q = clamp(zp + MBQM(acc), lo, hi) stays an int32 lane, q - zp1 and the other
 * operand's x2 - zp2 are rescaled as as_add_s8 rescales them (add_narrow, simd_requant.h), summed and requantized
 * to the add's output (the folded MBQM): the same integers as the two calls (docs/benchmarks.md, "fused add").
 * In front of that integer arithmetic runs the checked float path (add_float, simd_requant.h), which leaves
 * about 1 % of the vectors to it. The constants are prepared once per call (fused_add_init); parameters add_narrow
 * does not cover take the batched path (add_batch). AVX-512 batches with constants prepared once per call
 * (tile_add_apply below, add_prepare_avx512); NEON and the portable build batch through as_add_s8. Only
 * as__conv_gemm_add_s8 reaches this code (through a function pointer), so networks without a fused add link none
 * of it. */
#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
#define FUSED_ADD_REGISTERS 1
typedef struct fused_add {
    int plain1, plain2; /* add_plain_shift of each input, or -1 */
    int fast;           /* the checked float path (add_float) applies */
    __m128i count1, count2;
    add_narrow_avx2 v1, v2;
    __m256i zp1, zp2, zo, lo, hi; /* lo, hi: the output's clamp minus zo */
    as__rqf_avx2 fo;
    add_float_avx2 fl;
} fused_add;

/* 0 when add_narrow does not cover the add's inputs or the output's shift is not in [-31, -1] (the folded MBQM):
 * the batched path (as_add_s8) then runs it */
static int fused_add_init(const as_add_params_s8 *p, fused_add *f)
{
    int32_t multiplier[8], shift[8];
    unsigned char folds;
    add_narrow n1, n2;
    add_float fl;
    int i;
    if (!add_narrow_plan(p->input1_zero_point, p->input1_multiplier, p->input1_shift, p->left_shift, &n1) ||
        !add_narrow_plan(p->input2_zero_point, p->input2_multiplier, p->input2_shift, p->left_shift, &n2) ||
        p->output_shift > -1 || p->output_shift < -31) {
        return 0;
    }
    f->plain1 = add_plain_shift(&n1);
    f->plain2 = add_plain_shift(&n2);
    f->count1 = _mm_cvtsi32_si128(f->plain1);
    f->count2 = _mm_cvtsi32_si128(f->plain2);
    f->v1 = add_narrow_avx2_init(&n1);
    f->v2 = add_narrow_avx2_init(&n2);
    memset(&fl, 0, sizeof fl);
    f->fast = add_float_plan(p, 0, &fl);
    f->fl = add_float_avx2_init(&fl);
    f->zp1 = _mm256_set1_epi32(p->input1_zero_point);
    f->zp2 = _mm256_set1_epi32(p->input2_zero_point);
    f->zo = _mm256_set1_epi32(p->output_zero_point);
    f->lo = _mm256_set1_epi32(p->activation_min - p->output_zero_point);
    f->hi = _mm256_set1_epi32(p->activation_max - p->output_zero_point);
    for (i = 0; i < 8; i++) {
        multiplier[i] = p->output_multiplier;
        shift[i] = p->output_shift;
    }
    return as__rqf_avx2_plan(multiplier, shift, 8, &f->fo, &folds) == 8;
}

/* q: the conv's int8 values as int32 (8 lanes); other: 8 bytes of the add's input 2. Returns the add's output as
 * int32 lanes (in [-128, 127]): as_add_s8's AVX2 arithmetic, with the folded output MBQM (simd_requant.h). f is
 * restrict: through a plain pointer every constant was reloaded after each int8 store. */
static AS_ALWAYS_INLINE __m256i fused_add_avx2(const fused_add *restrict f, __m256i q, const int8_t *other)
{
    const __m256i x2 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)other));
    __m256i a, b, v;
    int unsafe = 1;
    if (f->fast) {
        v = add_float_avx2_apply(&f->fl, q, x2, &unsafe);
    }
    if (unsafe) { /* the exact arithmetic: every vector without the float path, about 1 % with it */
        a = _mm256_sub_epi32(q, f->zp1);
        b = _mm256_sub_epi32(x2, f->zp2);
        a = f->plain1 >= 0 ? _mm256_sll_epi32(a, f->count1) : add_narrow_avx2_apply(&f->v1, a);
        b = f->plain2 >= 0 ? _mm256_sll_epi32(b, f->count2) : add_narrow_avx2_apply(&f->v2, b);
        v = as__rqf_avx2_apply(&f->fo, _mm256_add_epi32(a, b));
    }
    return as__output_avx2(v, f->zo, f->lo, f->hi);
}
#endif

/* ---- staging ------------------------------------------------------------------------------------ */

/* 16 bytes, XORed with `flip` */
static AS_ALWAYS_INLINE void copy16(uint8_t *dst, const uint8_t *src, uint8_t flip)
{
    uint8_t t[16];
    int i;
    memcpy(t, src, 16);
    for (i = 0; i < 16; i++) {
        t[i] = (uint8_t)(t[i] ^ flip);
    }
    memcpy(dst, t, 16);
}

/* dst[0..count) = src[0..count) ^ flip. Runs are short (K*C_in bytes), so they move in 16-byte
 * chunks: longer runs end with an overlapping chunk, shorter ones copy 16 bytes when both sides
 * have room (the extra bytes are overwritten by the runs staged after this one). */
static void copy_run(uint8_t *dst, const uint8_t *src, int count, ptrdiff_t src_room, ptrdiff_t dst_room,
                     uint8_t flip)
{
    int i;
    if (count >= 16) {
        for (i = 0; i + 16 <= count; i += 16) {
            copy16(dst + i, src + i, flip);
        }
        if (i < count) {
            copy16(dst + count - 16, src + count - 16, flip);
        }
    } else if (src_room >= 16 && dst_room >= 16) {
        copy16(dst, src, flip);
    } else {
        for (i = 0; i < count; i++) {
            dst[i] = (uint8_t)(src[i] ^ flip);
        }
    }
}

typedef struct stage_context {
    const as__conv_shape *shape;
    const uint8_t *input;     /* bytes of the int8 input, or of the padded image (staged domain) */
    const uint8_t *input_end; /* one past the last byte the kernel may read */
    uint8_t pad;              /* staged value of a padding tap */
    uint8_t flip;             /* XOR that brings input bytes into the staged domain */
} stage_context;

/* Writes the part of the logical run [r, r + count) inside the pass window [r0, r1) of `row`;
 * src == NULL writes padding. Runs must be written in increasing r. */
static void put_run(const stage_context *x, uint8_t *row, int r0, int r1, int r, const uint8_t *src, int count)
{
    const int lo = r > r0 ? r : r0;
    const int hi = r + count < r1 ? r + count : r1;
    if (hi <= lo) {
        return;
    }
    if (src) {
        copy_run(row + (lo - r0), src + (lo - r), hi - lo, x->input_end - (src + (lo - r)), STAGE_BYTES - (lo - r0),
                 x->flip);
    } else {
        memset(row + (lo - r0), x->pad, (size_t)(hi - lo));
    }
}

#if defined(AS_LITTLE_ENDIAN)
/* Small windows (R <= 16, runs of at most 8 bytes): the K runs are assembled in two 64-bit words
 * and stored at once, so the kernel's 4-byte reads never straddle two staging stores. */
static void stage_small(const uint8_t *src, size_t line, int k, int run, uint8_t flip, uint8_t *row)
{
    const uint64_t run_mask = run == 8 ? ~(uint64_t)0 : (((uint64_t)1 << (8 * run)) - 1u);
    const uint64_t flips = (uint64_t)flip * UINT64_C(0x0101010101010101);
    uint64_t word[2] = {0, 0};
    int ky, pos = 0;
    for (ky = 0; ky < k; ky++, pos += run) {
        uint64_t v;
        memcpy(&v, src + (size_t)ky * line, 8);
        v = (v ^ flips) & run_mask;
        if (pos < 8) {
            word[0] |= v << (8 * pos);
            if (pos + run > 8) {
                word[1] |= v >> (8 * (8 - pos));
            }
        } else {
            word[1] |= v << (8 * (pos - 8));
        }
    }
    memcpy(row, word, 16);
}
#endif

/* row [round_up(r1 - r0, 16)] = staged im2col values r0..r1 of output pixel (oy, ox). */
static void stage_row(const stage_context *x, int oy, int ox, int r0, int r1, uint8_t *row)
{
    const as__conv_shape *s = x->shape;
    const int k = s->kernel_size, c = s->in_channels, ps = s->in_pixel_stride;
    const int y0 = oy * s->stride - s->padding, x0 = ox * s->stride - s->padding;
    const int staged = ((r1 - r0) + 15) & ~15;
    int ky, kx;
    if (k == 1) {
        const uint8_t *src = x->input + ((size_t)y0 * s->in_width + x0) * ps + r0;
        copy_run(row, src, r1 - r0, x->input_end - src, STAGE_BYTES, x->flip);
    } else if (r0 == 0 && r1 == k * k * c && ps == c && y0 >= 0 && x0 >= 0 && y0 + k <= s->in_height &&
               x0 + k <= s->in_width) {
        /* interior pixel, dense input, whole reduction: K runs of K*C contiguous bytes */
        const uint8_t *src = x->input + ((size_t)y0 * s->in_width + x0) * c;
        const size_t line = (size_t)s->in_width * c;
        const int run = k * c;
#if defined(AS_LITTLE_ENDIAN)
        if (k * run <= 16 && run <= 8 && x->input_end - (src + (size_t)(k - 1) * line) >= 8) {
            stage_small(src, line, k, run, x->flip, row);
            return;
        }
#endif
        for (ky = 0; ky < k; ky++) {
            copy_run(row + ky * run, src + ky * line, run, x->input_end - (src + ky * line), STAGE_BYTES - ky * run,
                     x->flip);
        }
    } else {
        /* taps kx in [kx_lo, kx_hi) are inside the image horizontally */
        int kx_lo = -x0, kx_hi = s->in_width - x0;
        kx_lo = kx_lo < 0 ? 0 : kx_lo > k ? k : kx_lo;
        kx_hi = kx_hi < kx_lo ? kx_lo : kx_hi > k ? k : kx_hi;
        for (ky = 0; ky < k; ky++) {
            const int iy = y0 + ky;
            const int run = ky * k * c; /* r of tap (ky, 0), channel 0 */
            const uint8_t *src;
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

/* sums[o] = sum_{r < R} w[r][oc0 + o] for o < count; weights [R4][C_out][4]. Computed per call (the
 * exported weights carry no sums); for small images it was the largest fixed cost of a call (43 % of a
 * one-pixel 48 -> 48 pointwise convolution on AVX-512, docs/benchmarks.md), so x86 sums a group's 4 bytes
 * per channel with one multiply-add by ones (vpdpbusd, or vpmaddubsw + vpmaddwd): 8 or 16 channels per
 * instruction pair instead of converting every byte to int32. */
#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
/* AVX2: the remaining loops stay scalar (gcc's vectorized copies of them were 2 KB of code, docs/benchmarks.md) */
#define WS_ATTRIBUTES AS_NOINLINE AS_NO_VECTORIZE
#else
#define WS_ATTRIBUTES AS_NOINLINE
#endif
static WS_ATTRIBUTES void weight_sums(const int8_t *weights, int out_channels, int reduction, int oc0, int count,
                                      int32_t *sums)
{
    const int full = reduction / 4, tail = reduction % 4;
    int g, o, t;
#if defined(AS_X86_AVX512) || defined(AS_X86_AVX2)
    o = 0;
#if defined(AS_X86_AVX512)
    {
        const __m512i ones = _mm512_set1_epi8(1);
#if !defined(AS_X86_AVX512_VNNI)
        const __m512i ones16 = _mm512_set1_epi16(1);
#endif
        for (; o < count; o += 16) {
            const __mmask16 m = as__lanes16(count - o);
            __m512i v = _mm512_setzero_si512();
            for (g = 0; g < full; g++) {
                const __m512i w = _mm512_maskz_loadu_epi32(m, weights + ((size_t)g * out_channels + oc0 + o) * 4);
#if defined(AS_X86_AVX512_VNNI)
                v = _mm512_dpbusd_epi32(v, ones, w);
#else
                v = _mm512_add_epi32(v, _mm512_madd_epi16(_mm512_maddubs_epi16(ones, w), ones16));
#endif
            }
            _mm512_mask_storeu_epi32(sums + o, m, v);
        }
    }
#else
    {
        const __m256i ones = _mm256_set1_epi8(1);
#if !defined(AS_X86_AVXVNNI)
        const __m256i ones16 = _mm256_set1_epi16(1);
#endif
        for (; o + 8 <= count; o += 8) {
            __m256i v = _mm256_setzero_si256();
            for (g = 0; g < full; g++) {
                const __m256i w =
                    _mm256_loadu_si256((const __m256i *)(const void *)(weights + ((size_t)g * out_channels + oc0 + o) * 4));
#if defined(AS_X86_AVXVNNI)
                v = _mm256_dpbusd_avx_epi32(v, ones, w);
#else
                v = _mm256_add_epi32(v, _mm256_madd_epi16(_mm256_maddubs_epi16(ones, w), ones16));
#endif
            }
            _mm256_storeu_si256((__m256i *)(void *)(sums + o), v);
        }
    }
#endif
    for (; o < count; o++) { /* AVX2: the last count % 8 channels */
        int32_t sum = 0;
        for (g = 0; g < full; g++) {
            const int8_t *w = weights + ((size_t)g * out_channels + oc0 + o) * 4;
            sum += w[0] + w[1] + w[2] + w[3];
        }
        sums[o] = sum;
    }
    if (tail) {
        const int8_t *w = weights + ((size_t)full * out_channels + oc0) * 4;
        for (o = 0; o < count; o++) {
            for (t = 0; t < tail; t++) {
                sums[o] += w[4 * o + t];
            }
        }
    }
#else
    int32_t lanes[OC_CHUNK * 4];
    int j;
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
#endif
}

/* ---- micro-kernels ----------------------------------------------------------------------------
 * Contract of tile_kernel:
 *   acc[p][o] = (init ? init[o] : acc[p][o]) + sum_{g < groups} sum_t a[p][off(g) + t] * w[g][o][t]
 * for p < rows and o < width, with off(g) = offsets ? offsets[g] : 4g, a[p] row pointers into staged
 * bytes (read as unsigned for VNNI, signed otherwise) and w[g] = weights + g * w_stride bytes. acc
 * rows are OC_CHUNK apart. Lanes past `width` may be computed from whatever the loads return but
 * are only stored inside the accumulator tile.
 */

#if defined(AS_X86_AVX512_VNNI)

#define TILE_WIDTH 32 /* output channels per tile: two zmm registers of int32 */
#define TILE_MASKED_LOADS 1

/* The VNNI tile's inner loop (both tiles below): c0/c1[r] += the dot products of row r's groups of 4
 * bytes with the weights' groups, 16 output channels per register (c1 only when `wide`). Inlined into
 * each tile, so the accumulator arrays stay in registers as if written out there. */
static AS_ALWAYS_INLINE void vnni_accumulate(const int rows, const int wide, const uint8_t *const *a, const int32_t *offsets,
                                             int groups, const int8_t *w, size_t w_stride, __mmask16 m0, __mmask16 m1,
                                             __m512i *c0, __m512i *c1)
{
    int r, g;
    for (g = 0; g < groups; g++) {
        const int8_t *wg = w + (size_t)g * w_stride;
        const int off = offsets ? offsets[g] : 4 * g;
        const __m512i w0 = _mm512_maskz_loadu_epi32(m0, wg);
        const __m512i w1 = wide ? _mm512_maskz_loadu_epi32(m1, wg + 64) : _mm512_setzero_si512();
        for (r = 0; r < rows; r++) {
            int32_t quad;
            __m512i x;
            memcpy(&quad, a[r] + off, sizeof quad);
            x = _mm512_set1_epi32(quad);
            c0[r] = as__dpbusd512(c0[r], x, w0);
            if (wide) {
                c1[r] = as__dpbusd512(c1[r], x, w1);
            }
        }
    }
}

static AS_ALWAYS_INLINE void vnni_tile(const int rows, const int wide, const uint8_t *const *a,
                                       const int32_t *offsets, int groups, const int8_t *w, size_t w_stride,
                                       __mmask16 m0, __mmask16 m1, const int32_t *init, int32_t *acc)
{
    __m512i c0[TILE_PIXELS], c1[TILE_PIXELS];
    int r;
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
    vnni_accumulate(rows, wide, a, offsets, groups, w, w_stride, m0, m1, c0, c1);
    for (r = 0; r < rows; r++) {
        _mm512_mask_storeu_epi32(acc + r * OC_CHUNK, m0, c0[r]);
        if (wide) {
            _mm512_mask_storeu_epi32(acc + r * OC_CHUNK + 16, m1, c1[r]);
        }
    }
}

#define AS_VNNI_ROWS(wide, offs)                                                                                 \
    do {                                                                                                         \
        for (; r + 8 <= rows; r += 8) {                                                                          \
            vnni_tile(8, wide, a + r, offs, groups, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK);      \
        }                                                                                                        \
        if (r + 4 <= rows) {                                                                                     \
            vnni_tile(4, wide, a + r, offs, groups, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK);      \
            r += 4;                                                                                              \
        }                                                                                                        \
        if (r + 2 <= rows) {                                                                                     \
            vnni_tile(2, wide, a + r, offs, groups, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK);      \
            r += 2;                                                                                              \
        }                                                                                                        \
        if (r < rows) {                                                                                          \
            vnni_tile(1, wide, a + r, offs, groups, w, w_stride, m0, m1, init, acc + (size_t)r * OC_CHUNK);      \
        }                                                                                                        \
    } while (0)

/* Both VNNI tile kernels: the channel masks of a tile of `width` channels (m0: channels 0-15, m1: 16-31), and
 * one expansion of ROWS(wide, offs) per kind (two registers or one, offset table or plain rows), so that each
 * inlined tile has constant `wide` and offsets. */
#define AS_VNNI_MASKS()                                                                                          \
    const __mmask16 m0 = as__lanes16(width);                                                                     \
    const __mmask16 m1 = width > 16 ? as__lanes16(width - 16) : (__mmask16)0
#define AS_VNNI_DISPATCH(ROWS)                                                                                   \
    do {                                                                                                         \
        if (width > 16) {                                                                                        \
            if (offsets) {                                                                                       \
                ROWS(1, offsets);                                                                                \
            } else {                                                                                             \
                ROWS(1, NULL);                                                                                   \
            }                                                                                                    \
        } else {                                                                                                 \
            if (offsets) {                                                                                       \
                ROWS(0, offsets);                                                                                \
            } else {                                                                                             \
                ROWS(0, NULL);                                                                                   \
            }                                                                                                    \
        }                                                                                                        \
    } while (0)

static void tile_kernel(int rows, const uint8_t *const *a, const int32_t *offsets, int groups, const int8_t *w,
                        size_t w_stride, int width, const int32_t *init, int32_t *acc)
{
    AS_VNNI_MASKS();
    int r = 0;
    AS_VNNI_DISPATCH(AS_VNNI_ROWS);
}

/* Direct single-pass tiles with the requantization fused into the epilogue: the accumulators go from
 * registers through the folded MBQM (simd_requant.h) to the output bytes, with no accumulator tile, no
 * separate requantization call and no per-tile set-up (the plan is prepared once per channel chunk).
 * The same integers as tile_kernel + requant_block (docs/benchmarks.md, "fused requantization"). */
static AS_ALWAYS_INLINE void vnni_tile_fused(const int rows, const int wide, const uint8_t *const *a,
                                             const int32_t *offsets, int groups, const int8_t *w, size_t w_stride,
                                             __mmask16 m0, __mmask16 m1, const int32_t *init,
                                             const as__rqf_avx512 *plan, int8_t *const *out, int out_offset,
                                             __m512i zp, __m512i lo, __m512i hi)
{
    __m512i c0[TILE_PIXELS], c1[TILE_PIXELS];
    const __m512i b0 = _mm512_maskz_loadu_epi32(m0, init);
    const __m512i b1 = wide ? _mm512_maskz_loadu_epi32(m1, init + 16) : _mm512_setzero_si512();
    int r;
    for (r = 0; r < rows; r++) {
        c0[r] = b0;
        c1[r] = b1;
    }
    vnni_accumulate(rows, wide, a, offsets, groups, w, w_stride, m0, m1, c0, c1);
    for (r = 0; r < rows; r++) {
        int8_t *y = out[r] + out_offset;
        _mm_mask_storeu_epi8(y, m0, _mm512_cvtepi32_epi8(as__output_avx512(as__rqf_avx512_apply(plan, c0[r]), zp, lo, hi)));
        if (wide) {
            _mm_mask_storeu_epi8(y + 16, m1,
                                 _mm512_cvtepi32_epi8(as__output_avx512(as__rqf_avx512_apply(plan + 1, c1[r]), zp, lo, hi)));
        }
    }
}

#define AS_VNNI_FUSED_ROWS(wide, offs)                                                                           \
    do {                                                                                                         \
        for (; r + 4 <= rows; r += 4) {                                                                          \
            vnni_tile_fused(4, wide, a + r, offs, groups, w, w_stride, m0, m1, init, plan, out + r, out_offset,  \
                            vzp, vlo, vhi);                                                                      \
        }                                                                                                        \
        for (; r < rows; r++) {                                                                                  \
            vnni_tile_fused(1, wide, a + r, offs, groups, w, w_stride, m0, m1, init, plan, out + r, out_offset,  \
                            vzp, vlo, vhi);                                                                      \
        }                                                                                                        \
    } while (0)

/* plan: the folded constants of the tile's channels (two 16-channel blocks); out[p] + out_offset: row p's
 * first output byte of the tile */
static AS_NOINLINE void tile_kernel_fused(int rows, const uint8_t *const *a, const int32_t *offsets, int groups,
                                          const int8_t *w, size_t w_stride, int width, const int32_t *init,
                                          const as__rqf_avx512 *plan, int8_t *const *out, int out_offset,
                                          const as_requant_s8 *rq)
{
    AS_VNNI_MASKS();
    const __m512i vzp = _mm512_set1_epi32(rq->output_zero_point);
    const __m512i vlo = _mm512_set1_epi32(rq->activation_min - rq->output_zero_point);
    const __m512i vhi = _mm512_set1_epi32(rq->activation_max - rq->output_zero_point);
    int r = 0;
    AS_VNNI_DISPATCH(AS_VNNI_FUSED_ROWS);
}

#elif defined(AS_X86_AVX2)

/* AVX2 (also AVX-512 without VNNI), two kernels:
 *   - sign kernel (the layer has no weight -128, as symmetric int8 quantization guarantees): vpmaddubsw
 *     multiplies |x| (unsigned, 0..128) by sign(x) * w (signed, -127..127), so each int16 pair sum is
 *     at most 2 * 128 * 127 = 32512 and never saturates; vpmaddwd by 1 then widens the pairs to one int32
 *     per output channel (x * w = |x| * (sign(x) * w) exactly). 32 products per vpmaddubsw.
 *   - widening kernel (any weights): bytes sign-extended to int16 and multiplied with vpmaddwd. One ymm of
 *     weights holds 4 output channels x 4 reduction values as int16; vpmaddwd leaves per-channel pair
 *     sums [o k01, o k23] that are folded with vphaddd at the end.
 * Both compute the exact integer sums. */
#define TILE_WIDTH 16 /* output channels per tile: two ymm registers of int32 (8 channels each) */
#define TILE_MASKED_LOADS 1
#define AVX2_SIGN_KERNEL 1
#if !defined(AS_X86_AVX512)
#define AVX2_FUSED 1
#endif

/* Where a fused sign tile (AVX2 and AVX2 + AVX-VNNI) writes: instead of storing the int32 tile, the epilogue
 * of the 4-row, 16-channel tile (the one nearly all pixels go through) requantizes the accumulators in
 * registers with the folded MBQM (simd_requant.h, as__rqf_avx2) and stores int8 rows: out[p] + offset is row
 * p's first output byte of the tile. The other tiles (single rows, 8 channels) still store the int32 tile,
 * which run_tile requantizes with as__requant_plan_rows_avx2: fused epilogues in them measured no faster and
 * cost 1.4 KB of .text (docs/benchmarks.md, "fused requantization on AVX2"). The same integers either way. */
typedef struct avx2_fuse {
#if defined(AVX2_FUSED)
    const as__rqf_avx2 *plan; /* the tile's channels: plan[0] channels 0-7, plan[1] 8-15 */
#endif
    int8_t *const *out;
    int offset;
    int32_t zero_point, lo, hi;
#if defined(AVX2_FUSED)
    /* the fused add (sign_tile_kernel_add only): constants, and per tile row its input 2 and output rows at the
     * chunk's first channel; the 4-row tiles then write the add's output rows instead of `out` */
    const fused_add *add;
    const int8_t *const *other;
    int8_t *const *add_out;
#endif
} avx2_fuse;

#if defined(AVX2_FUSED)
/* 16 int32 channels of rows a and b (a0: channels 0-7, a1: 8-15) -> clamp(zp + v, lo, hi) as int8 in the low
 * (a) and high (b) 128 bits. Saturating int16 packs, + zp saturating, saturating int8 packs, then the clamp:
 * every step monotonic and int8 inside int16, so the same as clamp(zp + v, lo, hi). The packs interleave
 * 4-byte groups ([a 0-3, a 8-11, b 0-3, b 8-11 | a 4-7, a 12-15, b 4-7, b 12-15]); one vpermd restores them. */
static AS_ALWAYS_INLINE __m256i avx2_pack16x2(__m256i a0, __m256i a1, __m256i b0, __m256i b1, __m256i zp16,
                                              __m256i lo8, __m256i hi8)
{
    const __m256i wa = _mm256_adds_epi16(_mm256_packs_epi32(a0, a1), zp16);
    const __m256i wb = _mm256_adds_epi16(_mm256_packs_epi32(b0, b1), zp16);
    const __m256i bytes = _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(wa, wb), lo8), hi8);
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
#endif

/* rows x (8 * vecs) channels; `full`: all 8 * vecs channels are real (plain loads, no masks). fuse (NULL: store
 * the tile to acc): the 4-row, 16-channel tile writes rows fuse->out[first..first + 4) instead (avx2_fuse). */
static AS_ALWAYS_INLINE void avx2_sign_tile(const int rows, const int vecs, const int full, const uint8_t *const *a,
                                            const int32_t *offsets, int groups, const int8_t *w, size_t w_stride,
                                            __m256i mask0, __m256i mask1, const int32_t *init, int32_t *acc,
                                            const avx2_fuse *fuse, int first, const int with_add)
{
    __m256i c[4][2];
#if !defined(AS_X86_AVXVNNI)
    const __m256i ones = _mm256_set1_epi16(1);
#endif
    int r, g;
    /* init and acc rows are read and written whole (8 * vecs lanes) even when the tile is narrower: both hold
     * OC_CHUNK channels and a tile ends at most at the chunk's width rounded up to 16, so the extra lanes are in
     * the arrays and nothing reads them; vpmaskmovd stores cost AMD cores 2-3x a narrow tile's time */
    for (r = 0; r < rows; r++) {
        const int32_t *src = init ? init : acc + r * OC_CHUNK;
        c[r][0] = _mm256_loadu_si256((const __m256i *)(const void *)src);
        if (vecs > 1) {
            c[r][1] = _mm256_loadu_si256((const __m256i *)(const void *)(src + 8));
        }
    }
    for (g = 0; g < groups; g++) {
        const int8_t *wg = w + (size_t)g * w_stride;
        const int off = offsets ? offsets[g] : 4 * g;
        __m256i w0, w1 = _mm256_setzero_si256();
        if (full) {
            w0 = _mm256_loadu_si256((const __m256i *)(const void *)wg);
            if (vecs > 1) {
                w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wg + 32));
            }
        } else {
            w0 = _mm256_maskload_epi32((const int *)(const void *)wg, mask0);
            if (vecs > 1) {
                w1 = _mm256_maskload_epi32((const int *)(const void *)(wg + 32), mask1);
            }
        }
#if defined(AS_X86_AVXVNNI)
        /* staged bytes are x + 128 (unsigned): vpdpbusd sums 4 exact products per lane, any weights */
        for (r = 0; r < rows; r++) {
            int32_t quad;
            __m256i x;
            memcpy(&quad, a[r] + off, sizeof quad);
            x = _mm256_set1_epi32(quad);
            c[r][0] = _mm256_dpbusd_avx_epi32(c[r][0], x, w0);
            if (vecs > 1) {
                c[r][1] = _mm256_dpbusd_avx_epi32(c[r][1], x, w1);
            }
        }
#else
        for (r = 0; r < rows; r++) {
            int32_t quad;
            __m256i x, ax;
            memcpy(&quad, a[r] + off, sizeof quad);
            x = _mm256_set1_epi32(quad);
            ax = _mm256_abs_epi8(x); /* -128 -> 0x80 = 128 unsigned */
            c[r][0] = _mm256_add_epi32(
                c[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, x)), ones));
            if (vecs > 1) {
                c[r][1] = _mm256_add_epi32(
                    c[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, x)), ones));
            }
        }
#endif
    }
#if defined(AVX2_FUSED)
    if (rows == 4 && vecs == 2 && full && fuse) {
        const __m256i zp16 = _mm256_set1_epi16((int16_t)fuse->zero_point);
        const __m256i lo8 = _mm256_set1_epi8((char)fuse->lo), hi8 = _mm256_set1_epi8((char)fuse->hi);
        int8_t *const *out = fuse->out + first;
        for (r = 0; r < rows; r++) {
            c[r][0] = as__rqf_avx2_apply(fuse->plan, c[r][0]);
            c[r][1] = as__rqf_avx2_apply(fuse->plan + 1, c[r][1]);
        }
        if (with_add) {
            /* the add's output rows instead of the conv's (in [-128, 127] already: packed as they are) */
            const int8_t *const *other = fuse->other + first;
            const fused_add *restrict fa = fuse->add;
            const __m256i zp = _mm256_set1_epi32(fuse->zero_point);
            const __m256i lo = _mm256_set1_epi32(fuse->lo - fuse->zero_point), hi = _mm256_set1_epi32(fuse->hi - fuse->zero_point);
            for (r = 0; r < rows; r++) {
                /* q = the conv's int8 value as int32, then the add */
                c[r][0] = fused_add_avx2(fa, as__output_avx2(c[r][0], zp, lo, hi), other[r] + fuse->offset);
                c[r][1] = fused_add_avx2(fa, as__output_avx2(c[r][1], zp, lo, hi), other[r] + fuse->offset + 8);
            }
            out = fuse->add_out + first;
        }
        for (r = 0; r < rows; r += 2) {
            const __m256i bytes = with_add ? avx2_pack16x2(c[r][0], c[r][1], c[r + 1][0], c[r + 1][1], _mm256_setzero_si256(),
                                                           _mm256_set1_epi8(-128), _mm256_set1_epi8(127))
                                           : avx2_pack16x2(c[r][0], c[r][1], c[r + 1][0], c[r + 1][1], zp16, lo8, hi8);
            _mm_storeu_si128((__m128i *)(void *)(out[r] + fuse->offset), _mm256_castsi256_si128(bytes));
            _mm_storeu_si128((__m128i *)(void *)(out[r + 1] + fuse->offset), _mm256_extracti128_si256(bytes, 1));
        }
        return;
    }
#else
    (void)fuse;
    (void)first;
    (void)with_add;
#endif
    for (r = 0; r < rows; r++) {
        int32_t *dst = acc + r * OC_CHUNK;
        _mm256_storeu_si256((__m256i *)(void *)dst, c[r][0]);
        if (vecs > 1) {
            _mm256_storeu_si256((__m256i *)(void *)(dst + 8), c[r][1]);
        }
    }
}

/* tiles of 4 rows, then single rows (a tile holds at most TILE_PIXELS = 8 rows, so a partial tile
 * costs at most 3 single-row passes; a 2-row variant would add 1/3 more code for little) */
#define AS_AVX2_SIGN_ROWS(vecs, full)                                                                             \
    do {                                                                                                          \
        for (; r + 4 <= rows; r += 4) {                                                                           \
            avx2_sign_tile(4, vecs, full, a + r, offsets, groups, w, w_stride, m0, m1, init,                      \
                           acc + (size_t)r * OC_CHUNK, fuse, r, 0);                                               \
        }                                                                                                         \
        for (; r < rows; r++) {                                                                                   \
            avx2_sign_tile(1, vecs, full, a + r, offsets, groups, w, w_stride, m0, m1, init,                      \
                           acc + (size_t)r * OC_CHUNK, NULL, r, 0);                                               \
        }                                                                                                         \
    } while (0)

/* offsets is never NULL here (gemm_pass passes the engine's table 0, 4, 8, ... for plain rows): one
 * variant per width kind instead of two, at one extra load per group shared by all rows. fuse: NULL (store
 * the int32 tile to acc), or 4-row tiles of width 16 are requantized to fuse's rows (avx2_fuse) and only the
 * rest is stored to acc. */
static AS_ALWAYS_INLINE void sign_tile_rows(int rows, const uint8_t *const *a, const int32_t *offsets, int groups,
                                            const int8_t *w, size_t w_stride, int width, const int32_t *init,
                                            int32_t *acc, const avx2_fuse *fuse)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(width), lanes);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - 8), lanes);
    int r = 0;
    if (width == 16) {
        AS_AVX2_SIGN_ROWS(2, 1);
    } else if (width == 8) {
        AS_AVX2_SIGN_ROWS(1, 1);
    } else {
        /* masked: m1 is all false for width < 8, so the second vector loads zeros and stores nothing */
        AS_AVX2_SIGN_ROWS(2, 0);
    }
}

static AS_NOINLINE void sign_tile_kernel(int rows, const uint8_t *const *a, const int32_t *offsets, int groups,
                                         const int8_t *w, size_t w_stride, int width, const int32_t *init,
                                         int32_t *acc, const avx2_fuse *fuse)
{
    sign_tile_rows(rows, a, offsets, groups, w, w_stride, width, init, acc, fuse);
}

#if defined(AVX2_FUSED)
/* sign_tile_kernel whose fused 4-row, 16-channel tiles also run the add (fuse->add): as_pointwise_conv_add_s8. The
 * other tiles are sign_tile_kernel's (one instantiation of the fused tile here: 1 KB, not a second kernel). */
static AS_NOINLINE void sign_tile_kernel_add(int rows, const uint8_t *const *a, const int32_t *offsets, int groups,
                                             const int8_t *w, size_t w_stride, int width, const int32_t *init,
                                             int32_t *acc, const avx2_fuse *fuse)
{
    const __m256i all = _mm256_set1_epi32(-1);
    int r = 0;
    if (width == 16) {
        for (; r + 4 <= rows; r += 4) {
            avx2_sign_tile(4, 2, 1, a + r, offsets, groups, w, w_stride, all, all, init, acc + (size_t)r * OC_CHUNK, fuse,
                           r, 1);
        }
    }
    if (r < rows) {
        sign_tile_kernel(rows - r, a + r, offsets, groups, w, w_stride, width, init, acc + (size_t)r * OC_CHUNK, NULL);
    }
}
#endif

static AS_ALWAYS_INLINE void avx2_tile(const int rows, const uint8_t *const *a, const int32_t *offsets, int groups,
                                       const int8_t *w, size_t w_stride, __m256i mask, const int32_t *init,
                                       int32_t *acc)
{
    __m256i lo[4], hi[4]; /* pair sums of channels 0-3 and 4-7 */
    int r, g;
    for (r = 0; r < rows; r++) {
        lo[r] = _mm256_setzero_si256();
        hi[r] = _mm256_setzero_si256();
    }
    for (g = 0; g < groups; g++) {
        const __m256i wb = _mm256_maskload_epi32((const int *)(const void *)(w + (size_t)g * w_stride), mask);
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(wb));
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(wb, 1));
        const int off = offsets ? offsets[g] : 4 * g;
        for (r = 0; r < rows; r++) {
            int32_t quad;
            __m256i x;
            memcpy(&quad, a[r] + off, sizeof quad);
            x = _mm256_cvtepi8_epi16(_mm_set1_epi32(quad)); /* [k0 k1 k2 k3] x 4 as int16 */
            lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(x, w0));
            hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(x, w1));
        }
    }
    for (r = 0; r < rows; r++) {
        /* hadd gives [o0 o1 o4 o5 | o2 o3 o6 o7]; the qword permute restores o0..o7 */
        const __m256i sums = _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo[r], hi[r]), 0xD8);
        const __m256i base = _mm256_maskload_epi32(init ? init : acc + r * OC_CHUNK, mask);
        _mm256_maskstore_epi32(acc + r * OC_CHUNK, mask, _mm256_add_epi32(base, sums));
    }
}

/* the widening kernel, in 8-channel column tiles (only for layers with a -128 weight, which symmetric
 * quantization never writes: kept small, offsets never NULL as for sign_tile_kernel) */
static AS_NOINLINE void tile_kernel(int rows, const uint8_t *const *a, const int32_t *offsets, int groups,
                                    const int8_t *w, size_t w_stride, int width, const int32_t *init, int32_t *acc)
{
    int o;
    for (o = 0; o < width; o += 8) {
        const __m256i mask =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(width - o), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const int8_t *wo = w + (size_t)o * 4;
        const int32_t *io = init ? init + o : NULL;
        int32_t *ao = acc + o;
        int r = 0;
        for (; r + 4 <= rows; r += 4) {
            avx2_tile(4, a + r, offsets, groups, wo, w_stride, mask, io, ao + (size_t)r * OC_CHUNK);
        }
        for (; r < rows; r++) {
            avx2_tile(1, a + r, offsets, groups, wo, w_stride, mask, io, ao + (size_t)r * OC_CHUNK);
        }
    }
}

#elif defined(AS_ARM_NEON)

#define TILE_WIDTH 16 /* output channels per tile: four q registers of int32 */

#if defined(AS_ARM_DOTPROD)

static AS_ALWAYS_INLINE void neon_tile(const int rows, const uint8_t *const *a, const int32_t *offsets, int groups,
                                       const int8_t *w, size_t w_stride, const int32_t *init, int32_t *acc)
{
    int32x4_t c[4][4];
    int r, j, g = 0;
    for (r = 0; r < rows; r++) {
        const int32_t *src = init ? init : acc + r * OC_CHUNK;
        for (j = 0; j < 4; j++) {
            c[r][j] = vld1q_s32(src + 4 * j);
        }
    }
    if (!offsets) {
        /* contiguous rows (padded to 16 bytes): four groups per load, sdot by lane */
        for (; g + 4 <= groups; g += 4) {
            int8x16_t x[4];
            for (r = 0; r < rows; r++) {
                x[r] = vld1q_s8((const int8_t *)(a[r] + 4 * g));
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
    }
    for (; g < groups; g++) {
        const int8_t *wl = w + (size_t)g * w_stride;
        const int off = offsets ? offsets[g] : 4 * g;
        const int8x16_t w0 = vld1q_s8(wl), w1 = vld1q_s8(wl + 16);
        const int8x16_t w2 = vld1q_s8(wl + 32), w3 = vld1q_s8(wl + 48);
        for (r = 0; r < rows; r++) {
            int32_t quad;
            int8x16_t x;
            memcpy(&quad, a[r] + off, sizeof quad);
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

#if defined(AS_ARM_I8MM)

/* smmla: c = [c00 c01 c10 c11] += [n0; n1] (2 x 8 int8) times [m0; m1]^T (8 x 2), c_ij += n_i . m_j.
 * A tile of `pairs` row pairs (2 to 8 rows) by 8 output channels, two reduction groups (8 bytes) per smmla:
 *   n     = [row 2p: groups g, g+1 | row 2p+1: groups g, g+1]            (8 + 8 activation bytes)
 *   m[k]  = [channel 2k: groups g, g+1 | channel 2k+1: groups g, g+1]    (from the [G][O][4] weights by one zip
 *           of 32-bit lanes of group g's and group g+1's loads: the layout stays the one every tier reads)
 *   c[p][k] = [row 2p ch 2k, row 2p ch 2k+1, row 2p+1 ch 2k, row 2p+1 ch 2k+1]
 * Activations are read 16 bytes (4 groups) a row where the 4 groups are contiguous (plain rows, and direct rows
 * inside a window row), and split into the two group pairs' n by one zip of 64-bit lanes per row pair. An odd
 * last group runs with zero weights for g + 1 and reads only 4 bytes a row. The weights of the 8 channels are
 * w[g] + 0..31 (the caller offsets w by the tile half). */
#define MMLA_MIN_GROUPS 4 /* shorter reductions run the sdot tile */
/* the row-pair loops fully unrolled, so that the accumulators c[p][k] stay in registers */
#define MMLA_UNROLL _Pragma("GCC unroll 4")

static AS_ALWAYS_INLINE int32x4_t mmla_group_row(const uint8_t *row, const int32_t *offsets, int g, int count)
{
    /* `count` (1, 2 or 4) groups of a row from g on, in 32-bit lanes 0..count-1 (the others 0) */
    int32x4_t x = vdupq_n_s32(0);
    int t;
    for (t = 0; t < count; t++) {
        const int off = offsets ? offsets[g + t] : 4 * (g + t);
        int32_t quad;
        memcpy(&quad, row + off, sizeof quad);
        switch (t) {
        case 0: x = vsetq_lane_s32(quad, x, 0); break;
        case 1: x = vsetq_lane_s32(quad, x, 1); break;
        case 2: x = vsetq_lane_s32(quad, x, 2); break;
        default: x = vsetq_lane_s32(quad, x, 3); break;
        }
    }
    return x;
}

/* m[k] of group pair (g, g + 1) at wg = w[g] (zero weights for g + 1 unless both) */
static AS_ALWAYS_INLINE void mmla_weights(const int8_t *wg, size_t w_stride, int both, int8x16_t m[4])
{
    const int32x4_t a0 = vreinterpretq_s32_s8(vld1q_s8(wg)), a1 = vreinterpretq_s32_s8(vld1q_s8(wg + 16));
    const int32x4_t b0 = both ? vreinterpretq_s32_s8(vld1q_s8(wg + w_stride)) : vdupq_n_s32(0);
    const int32x4_t b1 = both ? vreinterpretq_s32_s8(vld1q_s8(wg + w_stride + 16)) : vdupq_n_s32(0);
    m[0] = vreinterpretq_s8_s32(vzip1q_s32(a0, b0));
    m[1] = vreinterpretq_s8_s32(vzip2q_s32(a0, b0));
    m[2] = vreinterpretq_s8_s32(vzip1q_s32(a1, b1));
    m[3] = vreinterpretq_s8_s32(vzip2q_s32(a1, b1));
}

static AS_ALWAYS_INLINE void mmla_pair(int32x4_t c[4], int8x16_t n, const int8x16_t m[4])
{
    c[0] = vmmlaq_s32(c[0], n, m[0]);
    c[1] = vmmlaq_s32(c[1], n, m[1]);
    c[2] = vmmlaq_s32(c[2], n, m[2]);
    c[3] = vmmlaq_s32(c[3], n, m[3]);
}

static AS_ALWAYS_INLINE void mmla_tile(const int pairs, const uint8_t *const *a, const int32_t *offsets, int groups,
                                       const int8_t *w, size_t w_stride, const int32_t *init, int32_t *acc)
{
    int32x4_t c[4][4];
    int p, k, g = 0;
    for (k = 0; k < 2; k++) {
        if (init) {
            /* every row starts from the same bias row */
            const int64x2_t x = vreinterpretq_s64_s32(vld1q_s32(init + 4 * k));
            const int32x4_t lo = vreinterpretq_s32_s64(vzip1q_s64(x, x)), hi = vreinterpretq_s32_s64(vzip2q_s64(x, x));
            MMLA_UNROLL
            for (p = 0; p < pairs; p++) {
                c[p][2 * k] = lo;
                c[p][2 * k + 1] = hi;
            }
        } else {
            MMLA_UNROLL
            for (p = 0; p < pairs; p++) {
                const int64x2_t x0 = vreinterpretq_s64_s32(vld1q_s32(acc + (2 * p) * OC_CHUNK + 4 * k));
                const int64x2_t x1 = vreinterpretq_s64_s32(vld1q_s32(acc + (2 * p + 1) * OC_CHUNK + 4 * k));
                c[p][2 * k] = vreinterpretq_s32_s64(vzip1q_s64(x0, x1));
                c[p][2 * k + 1] = vreinterpretq_s32_s64(vzip2q_s64(x0, x1));
            }
        }
    }
    for (; g + 4 <= groups; g += 4) {
        /* the weights of both group pairs first, then each row pair's activations (16 accumulators, 8 weight
         * and 2 activation registers: no spills with 4 row pairs) */
        const int off = offsets ? offsets[g] : 4 * g;
        const int quad = !offsets || offsets[g + 3] - off == 12; /* each step is >= 4: 12 means contiguous */
        int8x16_t m0[4], m1[4];
        mmla_weights(w + (size_t)g * w_stride, w_stride, 1, m0);
        mmla_weights(w + (size_t)(g + 2) * w_stride, w_stride, 1, m1);
        MMLA_UNROLL
        for (p = 0; p < pairs; p++) {
            int64x2_t x0, x1;
            if (quad) {
                x0 = vreinterpretq_s64_s8(vld1q_s8((const int8_t *)(a[2 * p] + off)));
                x1 = vreinterpretq_s64_s8(vld1q_s8((const int8_t *)(a[2 * p + 1] + off)));
            } else {
                x0 = vreinterpretq_s64_s32(mmla_group_row(a[2 * p], offsets, g, 4));
                x1 = vreinterpretq_s64_s32(mmla_group_row(a[2 * p + 1], offsets, g, 4));
            }
            mmla_pair(c[p], vreinterpretq_s8_s64(vzip1q_s64(x0, x1)), m0);
            mmla_pair(c[p], vreinterpretq_s8_s64(vzip2q_s64(x0, x1)), m1);
        }
    }
    /* at most 3 groups left: a pair, then a single group with zero weights for g + 1 */
    for (; g < groups; g += 2) {
        const int both = g + 1 < groups;
        int8x16_t m[4];
        mmla_weights(w + (size_t)g * w_stride, w_stride, both, m);
        MMLA_UNROLL
        for (p = 0; p < pairs; p++) {
            const int64x2_t x0 = vreinterpretq_s64_s32(both ? mmla_group_row(a[2 * p], offsets, g, 2)
                                                            : mmla_group_row(a[2 * p], offsets, g, 1));
            const int64x2_t x1 = vreinterpretq_s64_s32(both ? mmla_group_row(a[2 * p + 1], offsets, g, 2)
                                                            : mmla_group_row(a[2 * p + 1], offsets, g, 1));
            mmla_pair(c[p], vreinterpretq_s8_s64(vzip1q_s64(x0, x1)), m);
        }
    }
    MMLA_UNROLL
    for (p = 0; p < pairs; p++) {
        for (k = 0; k < 2; k++) {
            const int64x2_t x0 = vreinterpretq_s64_s32(c[p][2 * k]), x1 = vreinterpretq_s64_s32(c[p][2 * k + 1]);
            vst1q_s32(acc + (2 * p) * OC_CHUNK + 4 * k, vreinterpretq_s32_s64(vzip1q_s64(x0, x1)));
            vst1q_s32(acc + (2 * p + 1) * OC_CHUNK + 4 * k, vreinterpretq_s32_s64(vzip2q_s64(x0, x1)));
        }
    }
}

/* the tiles of 2-7 rows, one row pair at a time: out of line, one copy (.text) */
static AS_NOINLINE void mmla_tile1(const uint8_t *const *a, const int32_t *offsets, int groups, const int8_t *w,
                                   size_t w_stride, const int32_t *init, int32_t *acc)
{
    mmla_tile(1, a, offsets, groups, w, w_stride, init, acc);
}

#endif /* AS_ARM_I8MM */

#define NEON_ROWS 4

#else /* plain NEON: widening multiplies, pairwise accumulation */

static AS_ALWAYS_INLINE void neon_tile(const int rows, const uint8_t *const *a, const int32_t *offsets, int groups,
                                       const int8_t *w, size_t w_stride, const int32_t *init, int32_t *acc)
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
        const int off = offsets ? offsets[g] : 4 * g;
        int8x8_t x[2];
        for (r = 0; r < rows; r++) {
            int32_t quad;
            memcpy(&quad, a[r] + off, sizeof quad);
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

#if defined(AS_ARM_I8MM)
#define NEON_TILE_KERNEL AS_NOINLINE /* one copy of the smmla tiles, not one per caller (.text) */
#else
#define NEON_TILE_KERNEL
#endif
static NEON_TILE_KERNEL void tile_kernel(int rows, const uint8_t *const *a, const int32_t *offsets, int groups,
                                         const int8_t *w, size_t w_stride, int width, const int32_t *init,
                                         int32_t *acc)
{
    int r = 0;
    (void)width;
#if defined(AS_ARM_I8MM)
    /* reductions under MMLA_MIN_GROUPS by sdot, whose tile needs no transposition of the accumulators; a full
     * tile of 8 rows as one 4-row-pair smmla tile per 8-channel half (inlined here), tiles of 2-7 rows one row
     * pair at a time (mmla_tile1), the odd row by sdot */
    if (groups < MMLA_MIN_GROUPS) {
        for (; r + 4 <= rows; r += 4) {
            neon_tile(4, a + r, offsets, groups, w, w_stride, init, acc + (size_t)r * OC_CHUNK);
        }
        for (; r < rows; r++) {
            neon_tile(1, a + r, offsets, groups, w, w_stride, init, acc + (size_t)r * OC_CHUNK);
        }
        return;
    }
    if (rows == 8) {
        mmla_tile(4, a, offsets, groups, w, w_stride, init, acc);
        mmla_tile(4, a, offsets, groups, w + 32, w_stride, init ? init + 8 : NULL, acc + 8);
        return;
    }
    for (; r + 2 <= rows; r += 2) {
        int32_t *const acc_r = acc + (size_t)r * OC_CHUNK;
        mmla_tile1(a + r, offsets, groups, w, w_stride, init, acc_r);
        mmla_tile1(a + r, offsets, groups, w + 32, w_stride, init ? init + 8 : NULL, acc_r + 8);
    }
    if (r < rows) {
        neon_tile(1, a + r, offsets, groups, w, w_stride, init, acc + (size_t)r * OC_CHUNK);
    }
#else
    if (offsets) {
#if NEON_ROWS == 4
        for (; r + 4 <= rows; r += 4) {
            neon_tile(4, a + r, offsets, groups, w, w_stride, init, acc + (size_t)r * OC_CHUNK);
        }
#endif
        for (; r + 2 <= rows; r += 2) {
            neon_tile(2, a + r, offsets, groups, w, w_stride, init, acc + (size_t)r * OC_CHUNK);
        }
        if (r < rows) {
            neon_tile(1, a + r, offsets, groups, w, w_stride, init, acc + (size_t)r * OC_CHUNK);
        }
    } else {
#if NEON_ROWS == 4
        for (; r + 4 <= rows; r += 4) {
            neon_tile(4, a + r, NULL, groups, w, w_stride, init, acc + (size_t)r * OC_CHUNK);
        }
#endif
        for (; r + 2 <= rows; r += 2) {
            neon_tile(2, a + r, NULL, groups, w, w_stride, init, acc + (size_t)r * OC_CHUNK);
        }
        if (r < rows) {
            neon_tile(1, a + r, NULL, groups, w, w_stride, init, acc + (size_t)r * OC_CHUNK);
        }
    }
#endif
}

#else /* portable */

#define TILE_WIDTH 32
#define TILE_MASKED_LOADS 1 /* reads exactly `width` channels */

static void tile_kernel(int rows, const uint8_t *const *a, const int32_t *offsets, int groups, const int8_t *w,
                        size_t w_stride, int width, const int32_t *init, int32_t *acc)
{
    int r, g, o;
    for (r = 0; r < rows; r++) {
        int32_t *c = acc + (size_t)r * OC_CHUNK;
        if (init) {
            for (o = 0; o < width; o++) {
                c[o] = init[o];
            }
        }
        for (g = 0; g < groups; g++) {
            const int8_t *x = (const int8_t *)(a[r] + (offsets ? offsets[g] : 4 * g));
            const int32_t a0 = x[0], a1 = x[1], a2 = x[2], a3 = x[3];
            const int8_t *wg = w + (size_t)g * w_stride;
            for (o = 0; o < width; o++) {
                c[o] += a0 * wg[4 * o] + a1 * wg[4 * o + 1] + a2 * wg[4 * o + 2] + a3 * wg[4 * o + 3];
            }
        }
    }
}

#endif

#if defined(AVX2_SIGN_KERNEL) && !defined(AS_X86_AVXVNNI)
/* 1 if any of bytes[0..count) is 0x80 (int8 -128) */
static int has_byte_0x80(const int8_t *bytes, size_t count)
{
    const __m256i m128 = _mm256_set1_epi8((char)0x80);
    __m256i any = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        any = _mm256_or_si256(any, _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(bytes + i)), m128));
    }
    for (; i < count; i++) {
        if (bytes[i] == INT8_MIN) {
            return 1;
        }
    }
    return !_mm256_testz_si256(any, any);
}
#endif

/* ---- engine ------------------------------------------------------------------------------------ */

typedef struct engine {
    stage_context x;
    const int8_t *weights;
    const int32_t *offsets; /* [R4] byte offsets of the groups in a window, for direct tiles */
    int reduction, groups_total;
    const as_requant_s8 *requant;
    uint8_t *stage;          /* [TILE_PIXELS][STAGE_BYTES] */
    int32_t *acc;            /* [TILE_PIXELS][OC_CHUNK] */
    const int32_t *bias_eff; /* [OC_CHUNK] bias with the zero point folded in */
    int sign_kernel;         /* AVX2: no weight is -128, the vpmaddubsw kernel is exact */
#if defined(AVX2_SIGN_KERNEL)
    const int32_t *linear;   /* [min(R4, MAX_GROUP_OFFSETS)] 0, 4, 8, ...: the offsets of plain rows */
#endif
#if defined(AVX2_FUSED)
    /* the chunk's folded requantization constants per 8-channel block (as__rqf_avx2_plan) and which blocks fold;
     * fused: every block folds (chunk % 8 == 0) and every tile of the call requantizes in its epilogue (conv_gemm) */
    const as__rqf_avx2 *plan;
    const unsigned char *planned;
    int fused;
#endif
#if defined(AS_X86_AVX512_VNNI)
    const as__rqf_avx512 *fplan; /* folded constants of the chunk when every shift is <= -1, else NULL */
#endif
} engine;

/* One reduction pass over groups [g0, g0 + groups) for all column tiles of channels oc0..oc0 + chunk.
 * Arm runs the array's last weight group from a zero-padded copy where full-width loads would run
 * past the end of the weights. */
static void gemm_pass(const engine *e, int rows, const uint8_t *const *a, const int32_t *offsets, int g0,
                      int groups, int oc0, int chunk, const int32_t *init)
{
    const int c_out = e->x.shape->out_channels;
    const size_t w_stride = (size_t)c_out * 4;
    int o;
    for (o = 0; o < chunk; o += TILE_WIDTH) {
        const int width = chunk - o < TILE_WIDTH ? chunk - o : TILE_WIDTH;
        const int8_t *w = e->weights + ((size_t)g0 * c_out + oc0 + o) * 4;
        const int32_t *tile_init = init ? init + o : NULL;
#if defined(AVX2_SIGN_KERNEL)
        const int32_t *offs = offsets ? offsets : e->linear;
        if (e->sign_kernel && width < 8 && tile_init && chunk >= 8) {
            /* a last tile of 1-7 channels that starts from init: one whole 8-channel tile over the chunk's last 8
             * channels (the lanes before them computed again, to the same values: init, not acc, is their start);
             * 20 channels 1.2x faster than the masked tile, AMD Zen 5 (docs/benchmarks.md, "Channel tails"). 9-15
             * channels stay one masked two-vector tile: two 8-channel tiles were 1.1x slower on a 1 -> 10 stem. */
            sign_tile_kernel(rows, a, offs, groups, w + (ptrdiff_t)(chunk - 8 - o) * 4, w_stride, 8, init + chunk - 8,
                             e->acc + chunk - 8, NULL);
        } else if (e->sign_kernel) {
            sign_tile_kernel(rows, a, offs, groups, w, w_stride, width, tile_init, e->acc + o, NULL);
        } else {
            tile_kernel(rows, a, offs, groups, w, w_stride, width, tile_init, e->acc + o);
        }
#elif defined(TILE_MASKED_LOADS)
        tile_kernel(rows, a, offsets, groups, w, w_stride, width, tile_init, e->acc + o);
#else
        if (g0 + groups == e->groups_total && oc0 + o + TILE_WIDTH > c_out) {
            int8_t last[TILE_WIDTH * 4] AS_ALIGN64;
            const uint8_t *shifted[TILE_PIXELS];
            const int g = groups - 1;
            int p;
            memset(last, 0, sizeof last);
            memcpy(last, w + (size_t)g * w_stride, (size_t)width * 4);
            for (p = 0; p < rows; p++) {
                shifted[p] = a[p] + (offsets ? offsets[g] : 4 * g);
            }
            if (groups > 1) {
                tile_kernel(rows, a, offsets, groups - 1, w, w_stride, width, tile_init, e->acc + o);
                tile_kernel(rows, shifted, NULL, 1, last, 0, width, NULL, e->acc + o);
            } else {
                tile_kernel(rows, shifted, NULL, 1, last, 0, width, tile_init, e->acc + o);
            }
        } else {
            tile_kernel(rows, a, offsets, groups, w, w_stride, width, tile_init, e->acc + o);
        }
#endif
    }
}

/* Pixels queued for one kind of tile: output pixel (y, x), its output row (at oc0) and, for direct
 * tiles, its window origin in the padded image. */
typedef struct tile_queue {
    int y[TILE_PIXELS], x[TILE_PIXELS];
    const uint8_t *in[TILE_PIXELS];
    int8_t *out[TILE_PIXELS];
    int first; /* output pixel (oy * W_out + ox) of row 0; the rows are consecutive pixels */
} tile_queue;

/* out of line where the tile kernels are (SIMD paths); the portable path keeps it inlined into conv_gemm,
 * where knowing `direct` and NULL offsets per call site lets gcc specialize the plain C kernel (12-16 %
 * faster at -O3 -march=x86-64, tools/kernel-bench) */
#if defined(AS_X86_AVX2) || defined(AS_X86_AVX512) || defined(AS_ARM_NEON)
#define RUN_TILE_INLINING AS_NOINLINE
#else
#define RUN_TILE_INLINING
#endif
static RUN_TILE_INLINING void run_tile(const engine *e, int rows, const tile_queue *q, int direct, int oc0, int chunk)
{
    const as_requant_s8 *rq = e->requant;
    const uint8_t *a[TILE_PIXELS];
    int p, r0;
#if defined(AS_X86_AVX512_VNNI)
    if (direct && e->fplan) {
        const int c_out = e->x.shape->out_channels;
        int o;
        for (o = 0; o < chunk; o += TILE_WIDTH) {
            tile_kernel_fused(rows, q->in, e->offsets, e->groups_total, e->weights + (size_t)(oc0 + o) * 4,
                              (size_t)c_out * 4, chunk - o < TILE_WIDTH ? chunk - o : TILE_WIDTH, e->bias_eff + o,
                              e->fplan + o / 16, q->out, o, rq);
        }
        return;
    }
#endif
#if defined(AVX2_FUSED)
    if (e->fused) {
        /* single pass (direct rows, or staged rows of at most STAGE_BYTES), sign kernel, chunk % 8 == 0 */
        const int c_out = e->x.shape->out_channels;
        const uint8_t *const *in = q->in;
        const int rows4 = rows & ~3, chunk16 = chunk & ~15;
        avx2_fuse f;
        int o;
        if (!direct) {
            for (p = 0; p < rows; p++) {
                stage_row(&e->x, q->y[p], q->x[p], 0, e->reduction, e->stage + p * STAGE_BYTES);
                a[p] = e->stage + p * STAGE_BYTES;
            }
            in = a;
        }
        f.out = q->out;
        f.zero_point = rq->output_zero_point;
        f.lo = rq->activation_min;
        f.hi = rq->activation_max;
        for (o = 0; o < chunk; o += TILE_WIDTH) {
            f.plan = e->plan + o / 8;
            f.offset = o;
            sign_tile_kernel(rows, in, e->offsets ? e->offsets : e->linear, e->groups_total,
                             e->weights + (size_t)(oc0 + o) * 4, (size_t)c_out * 4,
                             chunk - o < TILE_WIDTH ? chunk - o : TILE_WIDTH, e->bias_eff + o, e->acc + o, &f);
        }
        /* what the kernel left in the accumulator tile: the rows after the 4-row tiles, an 8-channel last tile */
        if (rows4 < rows && chunk16) {
            as__requant_plan_rows_avx2(e->acc + (size_t)rows4 * OC_CHUNK, rows - rows4, OC_CHUNK, chunk16, e->plan,
                                       rq->output_zero_point, rq->activation_min, rq->activation_max, NULL, 0,
                                       q->out + rows4, 0);
        }
        if (chunk16 < chunk) {
            as__requant_plan_rows_avx2(e->acc + chunk16, rows, OC_CHUNK, chunk - chunk16, e->plan + chunk16 / 8,
                                       rq->output_zero_point, rq->activation_min, rq->activation_max, NULL, 0, q->out,
                                       chunk16);
        }
        return;
    }
#endif
    if (direct) {
        gemm_pass(e, rows, q->in, e->offsets, 0, e->groups_total, oc0, chunk, e->bias_eff);
    } else {
        for (r0 = 0; r0 < e->reduction; r0 += STAGE_BYTES) {
            const int r1 = e->reduction - r0 < STAGE_BYTES ? e->reduction : r0 + STAGE_BYTES;
            for (p = 0; p < rows; p++) {
                stage_row(&e->x, q->y[p], q->x[p], r0, r1, e->stage + p * STAGE_BYTES);
                a[p] = e->stage + p * STAGE_BYTES;
            }
            gemm_pass(e, rows, a, NULL, r0 / 4, (r1 - r0 + 3) / 4, oc0, chunk, r0 == 0 ? e->bias_eff : NULL);
        }
    }
#if defined(AVX2_FUSED)
    as__requant_blocks_avx2(e->acc, rows, OC_CHUNK, chunk, e->plan, e->planned, rq->multiplier + oc0, rq->shift + oc0,
                            rq->output_zero_point, rq->activation_min, rq->activation_max, NULL, 0, q->out, 0);
#else
    as__requant_rows_s8(e->acc, rows, OC_CHUNK, chunk, rq->multiplier + oc0, rq->shift + oc0, rq->output_zero_point,
                        rq->activation_min, rq->activation_max, q->out);
#endif
}

/* A tile runner that also runs the fused add (run_tile_add): returns 1 when it wrote the add's output rows, 0 when
 * it only ran run_tile (the conv's int8 rows are then in the tile buffer). */
typedef int (*tile_runner)(const engine *e, int rows, const tile_queue *q, int direct, int oc0, int chunk,
                           const as__gemm_add *add);

#if defined(AS_X86_AVX512)
/* The fused add on AVX-512 (as_pointwise_conv_add_s8): the conv's int8 rows wait in the batch buffer (add_batch),
 * and as__gemm_add.apply with add->plan an add_prepared_avx512 whose add_float applies (set up once per call by
 * add_prepare_avx512, as as_add_s8 sets it up) adds each batch of up to 32 rows (tile_stride apart), as one run when
 * they, the other operand and the output are all dense (no per-row set-up, one masked block). In the VNNI tiles'
 * epilogue the add's constants made the accumulation loop spill, and after every 8-row tile the add paid its per-row
 * set-up 4 times as often (both measured slower); as_add_s8 per batch paid its parameter set-up per call. */
static void tile_add_apply(const as__gemm_add *add, const int8_t *tile, int tile_stride, int first, int rows, int oc0,
                           int count)
{
    const add_prepared_avx512 *restrict t = (const add_prepared_avx512 *)add->plan;
    const int dense = (rows == 1 || tile_stride == count) && add->other_pixel_stride == count &&
                      add->out_pixel_stride == count;
    const int runs = dense ? 1 : rows, width = dense ? rows * count : count;
    int p, c;
    for (p = 0; p < runs; p++) {
        const int8_t *conv = tile + (size_t)p * tile_stride;
        const int8_t *other = add->other + (size_t)(first + p) * add->other_pixel_stride + oc0;
        int8_t *y = add->output + (size_t)(first + p) * add->out_pixel_stride + oc0;
        const int8_t *in1 = t->swap ? other : conv, *in2 = t->swap ? conv : other;
        for (c = 0; c < width; c += 16) {
            add_block_avx512(t, 1, in1 + c, in2 + c, y + c, as__lanes16(width - c));
        }
    }
}
#elif defined(FUSED_ADD_REGISTERS)
/* The tile with the add in the epilogue's registers where the AVX2 fused sign tiles run (single-pass layers whose
 * requantization folds, fuse_add_init's parameters: every tile of the call or none); what they leave (single rows,
 * an 8-channel last tile) is requantized into the tile's rows of the batch buffer and added by add->apply at once.
 * Other calls: run_tile, and 0 (the batched path). */
static AS_NOINLINE int run_tile_add(const engine *e, int rows, const tile_queue *q, int direct, int oc0, int chunk,
                                    const as__gemm_add *add)
{
    const fused_add *fa = (const fused_add *)add->plan;
    const int c_out = e->x.shape->out_channels;
    const int8_t *other[TILE_PIXELS];
    int8_t *add_out[TILE_PIXELS];
    int p, o;
    for (p = 0; p < rows; p++) {
        other[p] = add->other + (size_t)(q->first + p) * add->other_pixel_stride + oc0;
        add_out[p] = add->output + (size_t)(q->first + p) * add->out_pixel_stride + oc0;
    }
    if (fa && e->fused) {
        /* run_tile's fused path with sign_tile_kernel_add */
        const as_requant_s8 *rq = e->requant;
        const uint8_t *const *in = q->in;
        const uint8_t *a[TILE_PIXELS];
        const int rows4 = rows & ~3, chunk16 = chunk & ~15;
        avx2_fuse f;
        if (!direct) {
            for (p = 0; p < rows; p++) {
                stage_row(&e->x, q->y[p], q->x[p], 0, e->reduction, e->stage + p * STAGE_BYTES);
                a[p] = e->stage + p * STAGE_BYTES;
            }
            in = a;
        }
        f.out = q->out;
        f.zero_point = rq->output_zero_point;
        f.lo = rq->activation_min;
        f.hi = rq->activation_max;
        f.add = fa;
        f.other = other;
        f.add_out = add_out;
        for (o = 0; o < chunk; o += TILE_WIDTH) {
            f.plan = e->plan + o / 8;
            f.offset = o;
            sign_tile_kernel_add(rows, in, e->offsets ? e->offsets : e->linear, e->groups_total,
                                 e->weights + (size_t)(oc0 + o) * 4, (size_t)c_out * 4,
                                 chunk - o < TILE_WIDTH ? chunk - o : TILE_WIDTH, e->bias_eff + o, e->acc + o, &f);
        }
        /* the rows q->out[p] are consecutive rows of the batch buffer (conv_gemm), `stride` apart */
        const int stride = rows > 1 ? (int)(q->out[1] - q->out[0]) : 0;
        if (rows4 < rows && chunk16) {
            as__requant_plan_rows_avx2(e->acc + (size_t)rows4 * OC_CHUNK, rows - rows4, OC_CHUNK, chunk16, e->plan,
                                       rq->output_zero_point, rq->activation_min, rq->activation_max, NULL, 0,
                                       q->out + rows4, 0);
            add->apply(add, q->out[rows4], stride, q->first + rows4, rows - rows4, oc0, chunk16);
        }
        if (chunk16 < chunk) {
            as__requant_plan_rows_avx2(e->acc + chunk16, rows, OC_CHUNK, chunk - chunk16, e->plan + chunk16 / 8,
                                       rq->output_zero_point, rq->activation_min, rq->activation_max, NULL, 0, q->out,
                                       chunk16);
            add->apply(add, q->out[0] + chunk16, stride, q->first, rows, oc0 + chunk16, chunk - chunk16);
        }
        return 1;
    }
    run_tile(e, rows, q, direct, oc0, chunk);
    return 0;
}
#endif

/* Where the conv's int8 rows wait for the fused add when no runner ran it in the tile's epilogue: up to ADD_BATCH
 * consecutive output pixels (rows `stride` apart), added by one add->apply (as_add_s8) call: per tile the call's
 * set-up cost more than the fusion saved (docs/benchmarks.md, "fused add"). */
#define ADD_BATCH 32
typedef struct add_batch {
    int8_t *rows; /* [ADD_BATCH][stride] */
    int stride;   /* the chunk rounded up to 16 */
    int count;    /* rows waiting */
    int first;    /* output pixel of row 0 */
} add_batch;

static AS_ALWAYS_INLINE void add_batch_flush(const as__gemm_add *add, add_batch *b, int oc0, int chunk)
{
    if (b->count) {
        add->apply(add, b->rows, b->stride, b->first, b->count, oc0, chunk);
        b->count = 0;
    }
}

/* A tile of a call with a fused add: nothing left when the runner ran the add in the tile's epilogue (it does
 * for every tile of a call or for none, so the batch's pixels stay consecutive); otherwise the tile's conv rows
 * were queued at the batch's next rows (conv_gemm) and join it. Out of line: calls without an add (every layer
 * of a network without one) pay only the test in conv_gemm. */
static AS_NOINLINE void flush_tile_add(const engine *e, int rows, const tile_queue *q, int direct, int oc0, int chunk,
                                       const as__gemm_add *add, tile_runner runner, add_batch *batch)
{
    if (runner ? runner(e, rows, q, direct, oc0, chunk, add) : (run_tile(e, rows, q, direct, oc0, chunk), 0)) {
        return;
    }
    if (batch->count == 0) {
        batch->first = q->first;
    }
    batch->count += rows;
    if (batch->count + TILE_PIXELS > ADD_BATCH) {
        add_batch_flush(add, batch, oc0, chunk);
    }
}

#define FLUSH_TILE(rows, queue, direct)                                                                          \
    do {                                                                                                         \
        if (with_add) {                                                                                          \
            flush_tile_add(&e, rows, queue, direct, oc0, chunk, add, runner, &batch);                            \
        } else {                                                                                                 \
            run_tile(&e, rows, queue, direct, oc0, chunk);                                                       \
        }                                                                                                        \
    } while (0)

/* row_groups > 0: "row groups" weights of a padded stem (see as__conv_gemm_s8): kernel row ky is read as
 * row_groups 4-byte groups starting at the window's row ky, whatever lies past its K*C bytes getting zero
 * weights. */
/* with_add (a constant: conv_gemm and conv_gemm_add below): the fused add of as_pointwise_conv_add_s8, `output`
 * unused (add->output gets the result); runner NULL (run_tile) or run_tile_add when the tier runs the add in its
 * tiles' epilogue. Two instantiations, so that calls without an add run main's code with none of this (refnet's
 * .text stays within its 32 KB; the add's tests in the pixel loop cost 1.1 KB there). */
static AS_ALWAYS_INLINE void conv_gemm_body(const as__conv_shape *s, const uint8_t *input, const uint8_t *input_end,
                                            uint8_t pad, uint8_t flip, int32_t input_zero_point, const int8_t *weights,
                                            const int32_t *bias, const as_requant_s8 *requant, int8_t *output,
                                            int row_groups, const as__gemm_add *add, tile_runner runner,
                                            const int with_add)
{
    uint8_t stage[TILE_PIXELS * STAGE_BYTES] AS_ALIGN64;
    int32_t acc[TILE_PIXELS * OC_CHUNK] AS_ALIGN64;
    int8_t waiting[ADD_BATCH * OC_CHUNK] AS_ALIGN64; /* the conv's int8 rows when an add is fused (add_batch) */
    add_batch batch;
    int32_t bias_eff[OC_CHUNK] AS_ALIGN64;
    int32_t offsets[MAX_GROUP_OFFSETS];
#if defined(AVX2_SIGN_KERNEL)
    int32_t linear[MAX_GROUP_OFFSETS];
#endif
#if defined(AVX2_FUSED)
    as__rqf_avx2 plan[OC_CHUNK / 8];
    unsigned char planned[OC_CHUNK / 8];
    int fusable;
#endif
#if defined(AS_X86_AVX512_VNNI)
    as__rqf_avx512 fplan[OC_CHUNK / 16];
#endif
    const int k = s->kernel_size, c = s->in_channels, c_out = s->out_channels;
    /* kernel bytes are x + 128 on VNNI: the bias absorbs (zp + 128) * sum w */
    const uint32_t offset = (uint32_t)(input_zero_point + (STAGE_FLIP ? 128 : 0));
    engine e;
    int oc0, o, oy, ox, direct_pointwise;

    e.x.shape = s;
    e.x.input = input;
    e.x.input_end = input_end;
    e.x.pad = pad;
    e.x.flip = flip;
    e.weights = weights;
    e.reduction = row_groups ? k * row_groups * 4 : k * k * c;
    e.groups_total = (e.reduction + 3) / 4;
    e.requant = requant;
    e.stage = stage;
    e.acc = acc;
    e.bias_eff = bias_eff;
    e.offsets = NULL;
    e.sign_kernel = 0;
#if defined(AVX2_SIGN_KERNEL) && defined(AS_X86_AVXVNNI)
    e.sign_kernel = 1; /* vpdpbusd on x + 128: exact for every weight */
#elif defined(AVX2_SIGN_KERNEL)
    e.sign_kernel = !has_byte_0x80(weights, (size_t)e.groups_total * c_out * 4);
#endif
    if (row_groups) {
        int ky, j, g = 0;
        for (ky = 0; ky < k; ky++) {
            for (j = 0; j < row_groups; j++) {
                offsets[g++] = (int32_t)((size_t)ky * s->in_width * c + 4 * j);
            }
        }
        e.offsets = offsets;
    } else if (k > 1 && s->padding == 0 && flip == 0 && s->in_pixel_stride == c && c % 4 == 0 &&
               e.groups_total <= MAX_GROUP_OFFSETS) {
        /* direct tiles: windows fully inside a dense image in the staged domain, groups inside taps */
        int ky, kx, ci, g = 0;
        for (ky = 0; ky < k; ky++) {
            for (kx = 0; kx < k; kx++) {
                for (ci = 0; ci < c; ci += 4) {
                    offsets[g++] = (int32_t)(((size_t)ky * s->in_width + kx) * c + ci);
                }
            }
        }
        e.offsets = offsets;
    }
    /* direct pointwise rows: with no domain change and whole groups (C_in % 4 == 0) each pixel's
     * C_in input bytes are the GEMM row itself, read in place (offsets NULL: group g at byte 4g) */
    direct_pointwise = k == 1 && flip == 0 && c % 4 == 0;
#if defined(AVX2_SIGN_KERNEL)
    {
        /* plain rows read group g at byte 4g: staged passes have at most STAGE_BYTES / 4 groups, direct
         * pointwise rows all R4 (longer ones are staged) */
        const int n = e.groups_total < MAX_GROUP_OFFSETS ? e.groups_total : MAX_GROUP_OFFSETS;
        int g;
        for (g = 0; g < n; g++) {
            linear[g] = 4 * g;
        }
        e.linear = linear;
        direct_pointwise = direct_pointwise && e.groups_total <= MAX_GROUP_OFFSETS;
    }
#endif
#if defined(AVX2_FUSED)
    /* fused tiles need the whole reduction in one pass (direct rows, or staged rows of one pass) */
    fusable = e.sign_kernel && (e.offsets || direct_pointwise || e.reduction <= STAGE_BYTES);
    e.plan = plan;
    e.planned = planned;
#endif

    for (oc0 = 0; oc0 < c_out; oc0 += OC_CHUNK) {
        const int chunk = c_out - oc0 < OC_CHUNK ? c_out - oc0 : OC_CHUNK;
        tile_queue staged, direct;
        int n_staged = 0, n_direct = 0;
        weight_sums(weights, c_out, e.reduction, oc0, chunk, bias_eff);
        batch.rows = waiting;
        batch.stride = (chunk + 15) & ~15;
        batch.count = 0;
        batch.first = 0;
#if defined(AVX2_FUSED)
        e.fused = as__rqf_avx2_plan(requant->multiplier + oc0, requant->shift + oc0, chunk, plan, planned) == chunk &&
                  chunk % 8 == 0 && fusable;
#endif
#if defined(AS_X86_AVX512_VNNI)
        e.fplan = fplan;
        for (o = 0; o < chunk; o += 16) {
            const __mmask16 m = as__lanes16(chunk - o);
            if (!as__rqf_avx512_init(&fplan[o / 16], _mm512_maskz_loadu_epi32(m, requant->multiplier + oc0 + o),
                                     _mm512_mask_loadu_epi32(_mm512_set1_epi32(-1), m, requant->shift + oc0 + o))) {
                e.fplan = NULL;
                break;
            }
        }
#endif
        for (o = 0; o < chunk; o++) {
            /* modular arithmetic: the final accumulator is exact even if this term wraps */
            const uint32_t b = bias ? (uint32_t)bias[oc0 + o] : 0u;
            bias_eff[o] = (int32_t)(b - offset * (uint32_t)bias_eff[o]);
        }
        for (o = chunk; o < OC_CHUNK; o++) {
            bias_eff[o] = 0;
        }
        for (oy = 0; oy < s->out_height; oy++) {
            int8_t *out_row = output + (size_t)oy * s->out_width * s->out_pixel_stride + oc0;
            for (ox = 0; ox < s->out_width; ox++) {
                int8_t *out = out_row + (size_t)ox * s->out_pixel_stride;
                const int pixel = oy * s->out_width + ox;
                if (e.offsets || direct_pointwise) {
                    /* window origin (oy * stride, ox * stride) of the dense padded image, or the pixel */
                    direct.in[n_direct] = input + ((size_t)oy * s->stride * s->in_width + (size_t)ox * s->stride) *
                                                      (e.offsets ? (size_t)c : (size_t)s->in_pixel_stride);
                    direct.out[n_direct] = with_add ? batch.rows + (size_t)(batch.count + n_direct) * batch.stride : out;
                    if (n_direct == 0) {
                        direct.first = pixel;
                    }
                    if (++n_direct == TILE_PIXELS) {
                        FLUSH_TILE(n_direct, &direct, 1);
                        n_direct = 0;
                    }
                } else {
                    staged.y[n_staged] = oy;
                    staged.x[n_staged] = ox;
                    staged.out[n_staged] = with_add ? batch.rows + (size_t)(batch.count + n_staged) * batch.stride : out;
                    if (n_staged == 0) {
                        staged.first = pixel;
                    }
                    if (++n_staged == TILE_PIXELS) {
                        FLUSH_TILE(n_staged, &staged, 0);
                        n_staged = 0;
                    }
                }
            }
        }
        if (n_direct) {
            FLUSH_TILE(n_direct, &direct, 1);
        }
        if (n_staged) {
            FLUSH_TILE(n_staged, &staged, 0);
        }
        if (with_add) {
            add_batch_flush(add, &batch, oc0, chunk);
        }
    }
}

static AS_NOINLINE void conv_gemm(const as__conv_shape *s, const uint8_t *input, const uint8_t *input_end, uint8_t pad,
                                  uint8_t flip, int32_t input_zero_point, const int8_t *weights, const int32_t *bias,
                                  const as_requant_s8 *requant, int8_t *output, int row_groups)
{
    conv_gemm_body(s, input, input_end, pad, flip, input_zero_point, weights, bias, requant, output, row_groups, NULL,
                   NULL, 0);
}

static AS_NOINLINE void conv_gemm_add(const as__conv_shape *s, const uint8_t *input, const uint8_t *input_end,
                                      uint8_t pad, uint8_t flip, int32_t input_zero_point, const int8_t *weights,
                                      const int32_t *bias, const as_requant_s8 *requant, int row_groups,
                                      const as__gemm_add *add, tile_runner runner)
{
    conv_gemm_body(s, input, input_end, pad, flip, input_zero_point, weights, bias, requant, NULL, row_groups, add,
                   runner, 1);
}

/* conv_gemm_entry's call of the engine: conv_gemm_add when it is the fused add's entry */
#define CONV_GEMM(s, input, end, pad, flip, w, row_groups)                                                       \
    do {                                                                                                         \
        if (with_add) {                                                                                          \
            conv_gemm_add(s, input, end, pad, flip, input_zero_point, w, bias, requant, row_groups, add, runner);  \
        } else {                                                                                                 \
            conv_gemm(s, input, end, pad, flip, input_zero_point, w, bias, requant, output, row_groups);         \
        }                                                                                                        \
    } while (0)

/* padded[(y + pad) * W' + (x + pad)][ci] = flip(input[y][x][ci]) for ci < C; the border and the
 * extra channels ci in [C, C') keep what the caller put there. padded: [H + 2p][W + 2p][C']. */
static AS_ALWAYS_INLINE void copy_padded(const as__conv_shape *s, const uint8_t *input, int pad, int padded_width,
                        int padded_channels, uint8_t *padded)
{
    const int height = s->in_height, width = s->in_width, c = s->in_channels;
    const size_t in_pixel_stride = (size_t)s->in_pixel_stride;
    int y, x, i;
    for (y = 0; y < height; y++) {
        uint8_t *restrict dst = padded + ((size_t)(y + pad) * padded_width + pad) * padded_channels;
        const uint8_t *restrict src = input + (size_t)y * width * in_pixel_stride;
        if (in_pixel_stride == (size_t)c && padded_channels == c) {
            const size_t row_bytes = (size_t)width * c;
            size_t j;
            for (j = 0; j < row_bytes; j++) {
                dst[j] = (uint8_t)(src[j] ^ STAGE_FLIP);
            }
            continue;
        }
        if (c == 1) {
            for (x = 0; x < width; x++) {
                dst[(size_t)x * padded_channels] = (uint8_t)(src[(size_t)x * in_pixel_stride] ^ STAGE_FLIP);
            }
            continue;
        }
        for (x = 0; x < width; x++) {
            for (i = 0; i < c; i++) {
                dst[(size_t)x * padded_channels + i] = (uint8_t)(src[(size_t)x * in_pixel_stride + i] ^ STAGE_FLIP);
            }
        }
    }
}

#if STAGE_FLIP
/* dst[0..bytes) = src[0..bytes) ^ 0x80 for bytes % 4 == 0: whole vectors, then (AVX-512) one masked vector or
 * 4-byte words (short explicit loops: gcc's vectorized byte loops were 1.7 KB of .text on AVX2 + AVX-VNNI,
 * docs/benchmarks.md) */
static AS_NOINLINE AS_NO_VECTORIZE void flip_words(uint8_t *dst, const uint8_t *src, size_t bytes)
{
    size_t j = 0;
#if defined(AS_X86_AVX512)
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (; j + 64 <= bytes; j += 64) {
        _mm512_storeu_si512((void *)(dst + j), _mm512_xor_si512(_mm512_loadu_si512((const void *)(src + j)), flip));
    }
    if (j < bytes) {
        const __mmask64 m = ((__mmask64)1 << (bytes - j)) - 1u;
        _mm512_mask_storeu_epi8(dst + j, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src + j), flip));
    }
    return;
#elif defined(AS_X86_AVX2)
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (; j + 32 <= bytes; j += 32) {
        _mm256_storeu_si256((__m256i *)(void *)(dst + j),
                            _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(const void *)(src + j)), flip));
    }
#endif
    for (; j < bytes; j += 4) {
        uint32_t v;
        memcpy(&v, src + j, 4);
        v ^= 0x80808080u;
        memcpy(dst + j, &v, 4);
    }
}
#endif

/* as__conv_gemm_s8 (with_add 0) and as__conv_gemm_add_s8 (with_add 1, output NULL: the add writes add->output) */
static AS_ALWAYS_INLINE void conv_gemm_entry(const as__conv_shape *s, const int8_t *input, int32_t input_zero_point,
                                             const int8_t *weights, const int32_t *bias, const as_requant_s8 *requant,
                                             int8_t *output, const as__gemm_add *add, tile_runner runner,
                                             const int with_add)
{
    const int k = s->kernel_size, pad = s->padding, c = s->in_channels, c_out = s->out_channels;
    const int padded_height = s->in_height + 2 * pad, padded_width = s->in_width + 2 * pad;
    /* channels of the padded image: rounded up to a group of 4 for small C_in (then the weights are
     * repacked with zero rows for the extra channels), so that groups never straddle taps */
    /* stems with C_in % 4 != 0 (small weights): either each kernel row's K*C contiguous bytes are read as
     * ceil(K*C / 4) groups ("row groups": the bytes past them belong to the next pixels and get zero
     * weights; K groups instead of K*K for C = 1), or, when that saves nothing, the channels are padded
     * to 4 so that groups never straddle taps. Both repack the weights with zero rows. */
    const int row_groups = (k * c + 3) / 4;
    const int use_rows = c % 4 != 0 && k > 1 && row_groups * k < k * k * ((c + 3) / 4) &&
                         (size_t)k * row_groups * 4 * c_out <= REPACK_BYTES;
    const int padded_channels =
        (!use_rows && c % 4 != 0 && (size_t)k * k * ((c + 3) & ~3) * c_out <= REPACK_BYTES) ? (c + 3) & ~3 : c;
    const size_t bytes = (size_t)padded_height * padded_width * padded_channels;
    /* staged value of a padding tap: the zero point, so that (x - zp) = 0 */
    const uint8_t pad_byte = (uint8_t)((uint8_t)(int8_t)input_zero_point ^ STAGE_FLIP);
    /* (the fused add's entry serves pointwise convolutions only: without this branch, 4 KB less .text there) */
    if (!with_add && k > 1 && pad > 0 && bytes <= PADDED_BYTES) {
        /* small input: copy it once, in the staged domain, inside a zero-point border so that every
         * window lies inside the image */
        uint8_t padded[PADDED_BYTES + PADDED_SLACK];
        int8_t repacked[REPACK_BYTES];
        as__conv_shape inner = *s;
        const int8_t *w = weights;
        memset(padded, pad_byte, bytes);
        memset(padded + bytes, 0, PADDED_SLACK);
        copy_padded(s, (const uint8_t *)input, pad, padded_width, padded_channels, padded);
        if (use_rows) {
            /* weights [R4][C_out][4] -> [K * row_groups][C_out][4]: r = (ky*K + kx)*C + ci moves to
             * r' = ky * 4 * row_groups + kx*C + ci */
            const int groups = k * row_groups, run = k * c;
            int ky, j, o;
            memset(repacked, 0, (size_t)groups * c_out * 4);
            for (ky = 0; ky < k; ky++) {
                for (j = 0; j < run; j++) {
                    const int r = ky * run + j, rp = ky * 4 * row_groups + j;
                    for (o = 0; o < c_out; o++) {
                        repacked[((size_t)(rp / 4) * c_out + o) * 4 + rp % 4] =
                            weights[((size_t)(r / 4) * c_out + o) * 4 + r % 4];
                    }
                }
            }
            w = repacked;
        } else if (padded_channels != c) {
            /* weights [R4][C_out][4] -> [R'4][C_out][4] with R' = K*K*C': tap t, channel ci moves from
             * r = t*C + ci to r' = t*C' + ci; the extra channels get zero weights */
            const int taps = k * k, groups = taps * padded_channels / 4;
            int t, ci, o;
            memset(repacked, 0, (size_t)groups * c_out * 4);
            for (t = 0; t < taps; t++) {
                for (ci = 0; ci < c; ci++) {
                    const int r = t * c + ci, rp = t * padded_channels + ci;
                    for (o = 0; o < c_out; o++) {
                        repacked[((size_t)(rp / 4) * c_out + o) * 4 + rp % 4] =
                            weights[((size_t)(r / 4) * c_out + o) * 4 + r % 4];
                    }
                }
            }
            w = repacked;
        }
        inner.in_height = padded_height;
        inner.in_width = padded_width;
        inner.in_channels = padded_channels;
        inner.in_pixel_stride = padded_channels;
        inner.padding = 0;
        CONV_GEMM(&inner, padded, padded + bytes + PADDED_SLACK, pad_byte, 0, w, use_rows ? row_groups : 0);
        return;
    }
#if STAGE_FLIP
    if (k == 1 && c % 4 == 0 && (size_t)s->out_height * s->out_width * c <= PADDED_BYTES) {
        /* pointwise on VNNI: the pixels read ((oy, ox) reads input (oy*s, ox*s)) copied once, flipped, into a
         * dense image [H_out][W_out][C], whose rows the kernel then reads in place (direct pointwise rows)
         * instead of staging every pixel per tile (12 % of the quickstart network's time, docs/benchmarks.md) */
        uint8_t dense[PADDED_BYTES] AS_ALIGN64;
        as__conv_shape inner = *s;
        const size_t in_ps = (size_t)s->in_pixel_stride, row_bytes = (size_t)s->out_width * c;
        int y, x;
        if (s->stride == 1 && in_ps == (size_t)c) {
            flip_words(dense, (const uint8_t *)input, (size_t)s->out_height * row_bytes);
        } else {
            for (y = 0; y < s->out_height; y++) {
                const uint8_t *src = (const uint8_t *)input + (size_t)y * s->stride * s->in_width * in_ps;
                for (x = 0; x < s->out_width; x++) {
                    flip_words(dense + (size_t)y * row_bytes + (size_t)x * c, src + (size_t)x * s->stride * in_ps,
                               (size_t)c);
                }
            }
        }
        inner.in_height = s->out_height;
        inner.in_width = s->out_width;
        inner.in_pixel_stride = c;
        inner.stride = 1;
        CONV_GEMM(&inner, dense, dense + (size_t)s->out_height * row_bytes, pad_byte, 0, weights, 0);
        return;
    }
#endif
    CONV_GEMM(s, (const uint8_t *)input,
              (const uint8_t *)input + ((size_t)s->in_height * s->in_width - 1) * s->in_pixel_stride + c, pad_byte,
              STAGE_FLIP, weights, 0);
}
#undef CONV_GEMM

void as__conv_gemm_s8(const as__conv_shape *s, const int8_t *input, int32_t input_zero_point,
                      const int8_t *weights, const int32_t *bias, const as_requant_s8 *requant, int8_t *output)
{
    conv_gemm_entry(s, input, input_zero_point, weights, bias, requant, output, NULL, NULL, 0);
}

void as__conv_gemm_add_s8(const as__conv_shape *s, const int8_t *input, int32_t input_zero_point,
                          const int8_t *weights, const int32_t *bias, const as_requant_s8 *requant,
                          const as__gemm_add *add)
{
#if defined(AS_X86_AVX512)
    add_prepared_avx512 t;
    as__gemm_add prepared = *add;
    if (add_prepare_avx512(add->params, &t) && t.floats) {
        prepared.plan = &t;
        prepared.apply = tile_add_apply;
    }
    conv_gemm_entry(s, input, input_zero_point, weights, bias, requant, NULL, &prepared, NULL, 1);
#elif defined(FUSED_ADD_REGISTERS)
    fused_add f;
    as__gemm_add prepared = *add;
    prepared.plan = fused_add_init(add->params, &f) ? &f : NULL;
    conv_gemm_entry(s, input, input_zero_point, weights, bias, requant, NULL, &prepared, run_tile_add, 1);
#else
    conv_gemm_entry(s, input, input_zero_point, weights, bias, requant, NULL, add, NULL, 1);
#endif
}
