/*
 * add.c - elementwise add of two tensors (residual connections) with fused activation.
 *
 * Layout letters: H = height, W = width, C = channels.
 *   input1, input2, output: [H][W][C], each with its own pixel stride.
 * int8 follows TFLite ADD: each input (q - zp) is shifted left by 20 bits, brought to the common
 * scale 2 max(s1, s2) by its own multiplier, the two are summed and the sum is requantized to the
 * output scale. The optimized twin runs the same three MBQMs over channel rows with SIMD; on x86 the
 * inputs' two are computed in 32-bit arithmetic from their 9-bit operands (add_narrow, simd_requant.h),
 * behind a checked single-precision path that gives the same integers wherever it is provably far from a
 * rounding boundary (add_float, simd_requant.h; the exact arithmetic takes the other vectors).
 */
#include "kernel_common.h"
#include "simd_requant.h"

#define ADD_CHUNK 256 /* channels per pass (int32 rows on the stack) */

void as_add_f32_ref(const float *input1, int in1_pixel_stride, const float *input2, int in2_pixel_stride,
                    int height, int width, int channels, as_activation activation, float *output,
                    int out_pixel_stride)
{
    const int pixels = height * width;
    int p, c;
    for (p = 0; p < pixels; p++) {
        for (c = 0; c < channels; c++) {
            output[(size_t)p * out_pixel_stride + c] = as__activate_f32(
                input1[(size_t)p * in1_pixel_stride + c] + input2[(size_t)p * in2_pixel_stride + c], activation);
        }
    }
}

void as_add_f32(const float *input1, int in1_pixel_stride, const float *input2, int in2_pixel_stride,
                int height, int width, int channels, as_activation activation, float *output,
                int out_pixel_stride)
{
    const int pixels = height * width;
    float lo, hi;
    int p, c;
    as__activation_bounds_f32(activation, &lo, &hi);
    for (p = 0; p < pixels; p++) {
        const float *a = input1 + (size_t)p * in1_pixel_stride;
        const float *b = input2 + (size_t)p * in2_pixel_stride;
        float *y = output + (size_t)p * out_pixel_stride;
        for (c = 0; c < channels; c++) {
            float v = a[c] + b[c];
            v = v < lo ? lo : v;
            y[c] = v > hi ? hi : v;
        }
    }
}

void as_add_s8_ref(const int8_t *input1, int in1_pixel_stride, const int8_t *input2, int in2_pixel_stride,
                   int height, int width, int channels, const as_add_params_s8 *params, int8_t *output,
                   int out_pixel_stride)
{
    const int pixels = height * width;
    int p, c;
    for (p = 0; p < pixels; p++) {
        for (c = 0; c < channels; c++) {
            output[(size_t)p * out_pixel_stride + c] = as__add_element_s8(
                input1[(size_t)p * in1_pixel_stride + c], input2[(size_t)p * in2_pixel_stride + c], params);
        }
    }
}

/* Contiguous tensors are one flat row; otherwise one row per pixel. */
static int add_flatten(int *pixels, int *channels, int s1, int s2, int so)
{
    if (s1 == *channels && s2 == *channels && so == *channels && (int64_t)*pixels * *channels <= INT32_MAX) {
        *channels *= *pixels;
        *pixels = 1;
        return 1;
    }
    return 0;
}

#if defined(AS_X86_AVX512)
/* in1 is the arithmetic's input 1 (after the swap). fast: a constant at both calls, so each gets its own loop. */
static AS_ALWAYS_INLINE void add_rows_avx512(const add_prepared_avx512 *restrict a, const int fast, const int8_t *in1,
                                             size_t s1, const int8_t *in2, size_t s2, int pixels, int channels,
                                             int8_t *output, size_t so)
{
    int p, c;
    for (p = 0; p < pixels; p++) {
        const int8_t *x1 = in1 + (size_t)p * s1;
        const int8_t *x2 = in2 + (size_t)p * s2;
        int8_t *y = output + (size_t)p * so;
        for (c = 0; c < channels; c += 16) {
            add_block_avx512(a, fast, x1 + c, x2 + c, y + c, as__lanes16(channels - c));
        }
    }
}
#endif

#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
/* The exact integer arithmetic on 8 lanes: each input's MBQM (a plain shift for the larger-scale input,
 * add_narrow otherwise), their sum, the general output MBQM. */
typedef struct add_exact_avx2 {
    int plain1, plain2;
    __m128i count1, count2;
    add_narrow_avx2 v1, v2;
    __m256i zp1, zp2, zo, lo, hi; /* lo, hi: the output's clamp minus zo */
    as__rq_avx2 qo;
} add_exact_avx2;

static void add_exact_avx2_init(add_exact_avx2 *e, const as_add_params_s8 *params, const add_narrow *n1,
                                const add_narrow *n2)
{
    const int32_t zo = params->output_zero_point;
    e->plain1 = add_plain_shift(n1);
    e->plain2 = add_plain_shift(n2);
    e->count1 = _mm_cvtsi32_si128(e->plain1);
    e->count2 = _mm_cvtsi32_si128(e->plain2);
    e->v1 = add_narrow_avx2_init(n1);
    e->v2 = add_narrow_avx2_init(n2);
    e->zp1 = _mm256_set1_epi32(params->input1_zero_point);
    e->zp2 = _mm256_set1_epi32(params->input2_zero_point);
    e->zo = _mm256_set1_epi32(zo);
    e->lo = _mm256_set1_epi32(params->activation_min - zo);
    e->hi = _mm256_set1_epi32(params->activation_max - zo);
    as__rq_avx2_init(&e->qo, _mm256_set1_epi32(params->output_multiplier), _mm256_set1_epi32(params->output_shift));
}

static AS_ALWAYS_INLINE __m256i add_exact_avx2_apply(const add_exact_avx2 *e, __m256i x1, __m256i x2)
{
    __m256i a = _mm256_sub_epi32(x1, e->zp1), b = _mm256_sub_epi32(x2, e->zp2);
    a = e->plain1 >= 0 ? _mm256_sll_epi32(a, e->count1) : add_narrow_avx2_apply(&e->v1, a);
    b = e->plain2 >= 0 ? _mm256_sll_epi32(b, e->count2) : add_narrow_avx2_apply(&e->v2, b);
    return as__rq_avx2_apply(&e->qo, _mm256_add_epi32(a, b));
}

/* as add_rows_avx512; a channel tail of fewer than 8 runs the scalar reference arithmetic */
static AS_ALWAYS_INLINE void add_rows_avx2(const add_exact_avx2 *restrict e, const add_float *f, int fast,
                                           const as_add_params_s8 *params, const int8_t *in1, size_t s1,
                                           const int8_t *in2, size_t s2, int pixels, int channels, int8_t *output,
                                           size_t so)
{
    const add_float_avx2 vf = add_float_avx2_init(f);
    int p, c;
    for (p = 0; p < pixels; p++) {
        const int8_t *x1 = in1 + (size_t)p * s1;
        const int8_t *x2 = in2 + (size_t)p * s2;
        int8_t *y = output + (size_t)p * so;
        for (c = 0; c + 8 <= channels; c += 8) {
            const __m256i a = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(x1 + c)));
            const __m256i b = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(x2 + c)));
            __m256i v;
            __m128i words;
            if (fast) {
                int unsafe;
                v = add_float_avx2_apply(&vf, a, b, &unsafe);
                if (unsafe) {
                    v = add_exact_avx2_apply(e, a, b);
                }
            } else {
                v = add_exact_avx2_apply(e, a, b);
            }
            v = as__output_avx2(v, e->zo, e->lo, e->hi);
            words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            _mm_storel_epi64((__m128i *)(void *)(y + c), _mm_packs_epi16(words, words));
        }
        for (; c < channels; c++) {
            y[c] = as__add_element_s8(x1[c], x2[c], params);
        }
    }
}
#endif

void as_add_s8(const int8_t *input1, int in1_pixel_stride, const int8_t *input2, int in2_pixel_stride,
               int height, int width, int channels, const as_add_params_s8 *params, int8_t *output,
               int out_pixel_stride)
{
    int pixels = height * width;
    if (pixels <= 0 || channels <= 0) {
        return;
    }
    add_flatten(&pixels, &channels, in1_pixel_stride, in2_pixel_stride, out_pixel_stride);
#if defined(AS_X86_AVX512)
    {
        add_prepared_avx512 a;
        if (add_prepare_avx512(params, &a)) {
            const int8_t *in1 = a.swap ? input2 : input1, *in2 = a.swap ? input1 : input2;
            const size_t s1 = (size_t)(a.swap ? in2_pixel_stride : in1_pixel_stride);
            const size_t s2 = (size_t)(a.swap ? in1_pixel_stride : in2_pixel_stride);
            if (a.floats) {
                add_rows_avx512(&a, 1, in1, s1, in2, s2, pixels, channels, output, (size_t)out_pixel_stride);
            } else {
                add_rows_avx512(&a, 0, in1, s1, in2, s2, pixels, channels, output, (size_t)out_pixel_stride);
            }
            return;
        }
        /* parameters outside add_narrow's limits (input scales more than 2^20 apart, never seen in exported
         * networks): a second vector loop for them cost 1.4-1.9 KB of .text */
        as_add_s8_ref(input1, in1_pixel_stride, input2, in2_pixel_stride, 1, pixels, channels, params, output,
                      out_pixel_stride);
        return;
    }
#elif defined(AS_X86_AVX2)
    {
        add_narrow n1, n2; /* other parameters: the reference loop, as on AVX-512 */
        if (add_narrow_plan(params->input1_zero_point, params->input1_multiplier, params->input1_shift,
                            params->left_shift, &n1) &&
            add_narrow_plan(params->input2_zero_point, params->input2_multiplier, params->input2_shift,
                            params->left_shift, &n2)) {
            add_exact_avx2 e;
            add_float f;
            memset(&f, 0, sizeof f);
            add_exact_avx2_init(&e, params, &n1, &n2);
            if (add_float_plan(params, 0, &f)) {
                add_rows_avx2(&e, &f, 1, params, input1, (size_t)in1_pixel_stride, input2, (size_t)in2_pixel_stride,
                              pixels, channels, output, (size_t)out_pixel_stride);
            } else {
                add_rows_avx2(&e, &f, 0, params, input1, (size_t)in1_pixel_stride, input2, (size_t)in2_pixel_stride,
                              pixels, channels, output, (size_t)out_pixel_stride);
            }
            return;
        }
        as_add_s8_ref(input1, in1_pixel_stride, input2, in2_pixel_stride, 1, pixels, channels, params, output,
                      out_pixel_stride);
        return;
    }
#elif defined(AS_ARM_NEON)
    {
        const int32_t zp1 = params->input1_zero_point, zp2 = params->input2_zero_point;
        const int ls = params->left_shift;
        const int32_t zo = params->output_zero_point, lo = params->activation_min, hi = params->activation_max;
        int p, c;
        const int32x4_t zero = vdupq_n_s32(0);
        const int32x4_t m1 = vdupq_n_s32(params->input1_multiplier), m2 = vdupq_n_s32(params->input2_multiplier);
        const int32x4_t mo = vdupq_n_s32(params->output_multiplier);
        const int32x4_t s1 = vdupq_n_s32(params->input1_shift), s2 = vdupq_n_s32(params->input2_shift);
        const int32x4_t so = vdupq_n_s32(params->output_shift);
        const int32x4_t l1 = vmaxq_s32(s1, zero), r1 = vminq_s32(s1, zero);
        const int32x4_t l2 = vmaxq_s32(s2, zero), r2 = vminq_s32(s2, zero);
        const int32x4_t lo_ = vmaxq_s32(so, zero), ro = vminq_s32(so, zero);
        const int32x4_t vzo = vdupq_n_s32(zo), vls = vdupq_n_s32(ls);
        const int16x8_t vzp1 = vdupq_n_s16((int16_t)zp1), vzp2 = vdupq_n_s16((int16_t)zp2);
        const int8x16_t lo8 = vdupq_n_s8((int8_t)lo), hi8 = vdupq_n_s8((int8_t)hi);
        for (p = 0; p < pixels; p++) {
            const int8_t *x1 = input1 + (size_t)p * in1_pixel_stride;
            const int8_t *x2 = input2 + (size_t)p * in2_pixel_stride;
            int8_t *y = output + (size_t)p * out_pixel_stride;
            for (c = 0; c + 16 <= channels; c += 16) {
                const int8x16_t va = vld1q_s8(x1 + c), vb = vld1q_s8(x2 + c);
                /* x - zp fits int16 exactly */
                const int16x8_t a0 = vsubq_s16(vmovl_s8(vget_low_s8(va)), vzp1);
                const int16x8_t a1 = vsubq_s16(vmovl_s8(vget_high_s8(va)), vzp1);
                const int16x8_t b0 = vsubq_s16(vmovl_s8(vget_low_s8(vb)), vzp2);
                const int16x8_t b1 = vsubq_s16(vmovl_s8(vget_high_s8(vb)), vzp2);
                int32x4_t v[4];
                const int16x4_t ah[4] = {vget_low_s16(a0), vget_high_s16(a0), vget_low_s16(a1), vget_high_s16(a1)};
                const int16x4_t bh[4] = {vget_low_s16(b0), vget_high_s16(b0), vget_low_s16(b1), vget_high_s16(b1)};
                int j;
                for (j = 0; j < 4; j++) {
                    const int32x4_t a = as__mbqm_neon(vshlq_s32(vmovl_s16(ah[j]), vls), m1, l1, r1);
                    const int32x4_t b = as__mbqm_neon(vshlq_s32(vmovl_s16(bh[j]), vls), m2, l2, r2);
                    v[j] = as__mbqm_neon(vaddq_s32(a, b), mo, lo_, ro);
                }
                vst1q_s8(y + c, as__output16_neon(v[0], v[1], v[2], v[3], vzo, lo8, hi8));
            }
            for (; c < channels; c++) {
                const int32_t a = as__mbqm(((int32_t)x1[c] - zp1) * ((int32_t)1 << ls), params->input1_multiplier, params->input1_shift);
                const int32_t b = as__mbqm(((int32_t)x2[c] - zp2) * ((int32_t)1 << ls), params->input2_multiplier, params->input2_shift);
                y[c] = as__output_s8(as__mbqm(a + b, params->output_multiplier, params->output_shift), zo, lo, hi);
            }
        }
        return;
    }
#else
    {
        const int32_t zp1 = params->input1_zero_point, zp2 = params->input2_zero_point;
        const int ls = params->left_shift;
        const int32_t zo = params->output_zero_point, lo = params->activation_min, hi = params->activation_max;
        const int32_t scale_up = (int32_t)1 << ls;
        int p, c;
        int32_t a[ADD_CHUNK], b[ADD_CHUNK];
        int c0;
        for (p = 0; p < pixels; p++) {
            const int8_t *x1 = input1 + (size_t)p * in1_pixel_stride;
            const int8_t *x2 = input2 + (size_t)p * in2_pixel_stride;
            int8_t *y = output + (size_t)p * out_pixel_stride;
            for (c0 = 0; c0 < channels; c0 += ADD_CHUNK) {
                const int nc = channels - c0 < ADD_CHUNK ? channels - c0 : ADD_CHUNK;
                for (c = 0; c < nc; c++) {
                    a[c] = ((int32_t)x1[c0 + c] - zp1) * scale_up;
                    b[c] = ((int32_t)x2[c0 + c] - zp2) * scale_up;
                }
                as__mbqm_row(a, nc, params->input1_multiplier, params->input1_shift, a);
                as__mbqm_row(b, nc, params->input2_multiplier, params->input2_shift, b);
                for (c = 0; c < nc; c++) {
                    a[c] += b[c];
                }
                as__requant_row_s8(a, nc, &params->output_multiplier, &params->output_shift, 0, zo, lo, hi, y + c0);
            }
        }
    }
#endif
}

/* The fused add's batched path (as__gemm_add, kernel_common.h): as_add_s8 over the conv's int8 rows as input 1,
 * from the stack buffer the conv wrote them to (docs/benchmarks.md, "fused add"). */
void as__gemm_add_apply(const as__gemm_add *add, const int8_t *tile, int tile_stride, int first, int rows, int oc0,
                        int count)
{
    as_add_s8(tile, tile_stride, add->other + (size_t)first * add->other_pixel_stride + oc0, add->other_pixel_stride, 1,
              rows, count, add->params, add->output + (size_t)first * add->out_pixel_stride + oc0,
              add->out_pixel_stride);
}
