/*
 * add.c - elementwise add of two tensors (residual connections) with fused activation.
 *
 * Layout letters: H = height, W = width, C = channels.
 *   input1, input2, output: [H][W][C], each with its own pixel stride.
 * int8 follows TFLite ADD: each input (q - zp) is shifted left by 20 bits, brought to the common
 * scale 2 max(s1, s2) by its own multiplier, the two are summed and the sum is requantized to the
 * output scale. The optimized twin runs the same three MBQMs over channel rows with SIMD; on x86 the
 * inputs' two are computed in 32-bit arithmetic from their 9-bit operands (add_narrow, simd_requant.h).
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

void as_add_s8(const int8_t *input1, int in1_pixel_stride, const int8_t *input2, int in2_pixel_stride,
               int height, int width, int channels, const as_add_params_s8 *params, int8_t *output,
               int out_pixel_stride)
{
    int pixels = height * width;
    const int32_t zp1 = params->input1_zero_point, zp2 = params->input2_zero_point;
    const int32_t zo = params->output_zero_point, lo = params->activation_min, hi = params->activation_max;
    const int ls = params->left_shift;
    int p, c;
    if (pixels <= 0 || channels <= 0) {
        return;
    }
    add_flatten(&pixels, &channels, in1_pixel_stride, in2_pixel_stride, out_pixel_stride);
#if defined(AS_X86_AVX512)
    {
        /* parameters outside add_narrow's limits (input scales more than 2^20 apart, never seen in exported
         * networks) run the reference loop: a second vector loop for them cost 1.4-1.9 KB of .text */
        add_narrow n1, n2;
        if (add_narrow_plan(zp1, params->input1_multiplier, params->input1_shift, ls, &n1) &&
            add_narrow_plan(zp2, params->input2_multiplier, params->input2_shift, ls, &n2)) {
            /* the sum is symmetric: input 1 is the plain-shift one when either is */
            const int swap = add_plain_shift(&n1) < 0 && add_plain_shift(&n2) >= 0;
            const add_narrow *q1 = swap ? &n2 : &n1, *q2 = swap ? &n1 : &n2;
            const int8_t *in1 = swap ? input2 : input1, *in2 = swap ? input1 : input2;
            const size_t s1 = (size_t)(swap ? in2_pixel_stride : in1_pixel_stride);
            const size_t s2 = (size_t)(swap ? in1_pixel_stride : in2_pixel_stride);
            const int plain = add_plain_shift(q1);
            const __m128i plain_count = _mm_cvtsi32_si128(plain);
            const add_narrow_avx512 v1 = add_narrow_avx512_init(q1), v2 = add_narrow_avx512_init(q2);
            const __m512i vzp1 = _mm512_set1_epi32(swap ? zp2 : zp1), vzp2 = _mm512_set1_epi32(swap ? zp1 : zp2);
            const __m512i vzo = _mm512_set1_epi32(zo), vlo = _mm512_set1_epi32(lo - zo), vhi = _mm512_set1_epi32(hi - zo);
            const __m512i om = _mm512_set1_epi32(params->output_multiplier), os = _mm512_set1_epi32(params->output_shift);
            as__rqf_avx512 fo;
            as__rq_avx512 qo;
            const int folded = as__rqf_avx512_init(&fo, om, os);
            as__rq_avx512_init(&qo, om, os);
            for (p = 0; p < pixels; p++) {
                const int8_t *x1 = in1 + (size_t)p * s1;
                const int8_t *x2 = in2 + (size_t)p * s2;
                int8_t *y = output + (size_t)p * out_pixel_stride;
                for (c = 0; c < channels; c += 16) {
                    const __mmask16 m = as__lanes16(channels - c);
                    __m512i a = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x1 + c)), vzp1);
                    __m512i b = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x2 + c)), vzp2);
                    a = plain >= 0 ? _mm512_sll_epi32(a, plain_count) : add_narrow_avx512_apply(&v1, a);
                    a = _mm512_add_epi32(a, add_narrow_avx512_apply(&v2, b));
                    a = folded ? as__rqf_avx512_apply(&fo, a) : as__rq_avx512_apply(&qo, a);
                    _mm_mask_storeu_epi8(y + c, m, _mm512_cvtepi32_epi8(as__output_avx512(a, vzo, vlo, vhi)));
                }
            }
            return;
        }
        as_add_s8_ref(input1, in1_pixel_stride, input2, in2_pixel_stride, 1, pixels, channels, params, output,
                      out_pixel_stride);
        return;
    }
#elif defined(AS_X86_AVX2)
    {
        add_narrow n1, n2; /* other parameters: the reference loop, as on AVX-512 */
        if (add_narrow_plan(zp1, params->input1_multiplier, params->input1_shift, ls, &n1) &&
            add_narrow_plan(zp2, params->input2_multiplier, params->input2_shift, ls, &n2)) {
            const int plain1 = add_plain_shift(&n1), plain2 = add_plain_shift(&n2);
            const __m128i count1 = _mm_cvtsi32_si128(plain1), count2 = _mm_cvtsi32_si128(plain2);
            const add_narrow_avx2 v1 = add_narrow_avx2_init(&n1), v2 = add_narrow_avx2_init(&n2);
            const __m256i vzp1 = _mm256_set1_epi32(zp1), vzp2 = _mm256_set1_epi32(zp2);
            const __m256i vzo = _mm256_set1_epi32(zo), vlo = _mm256_set1_epi32(lo - zo), vhi = _mm256_set1_epi32(hi - zo);
            as__rq_avx2 qo;
            as__rq_avx2_init(&qo, _mm256_set1_epi32(params->output_multiplier), _mm256_set1_epi32(params->output_shift));
            for (p = 0; p < pixels; p++) {
                const int8_t *x1 = input1 + (size_t)p * in1_pixel_stride;
                const int8_t *x2 = input2 + (size_t)p * in2_pixel_stride;
                int8_t *y = output + (size_t)p * out_pixel_stride;
                for (c = 0; c + 8 <= channels; c += 8) {
                    __m256i a = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x1 + c))), vzp1);
                    __m256i b = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x2 + c))), vzp2);
                    __m128i words;
                    /* the larger-scale input's MBQM is a plain shift (add_plain_shift) */
                    a = plain1 >= 0 ? _mm256_sll_epi32(a, count1) : add_narrow_avx2_apply(&v1, a);
                    b = plain2 >= 0 ? _mm256_sll_epi32(b, count2) : add_narrow_avx2_apply(&v2, b);
                    a = as__rq_avx2_apply(&qo, _mm256_add_epi32(a, b));
                    a = as__output_avx2(a, vzo, vlo, vhi);
                    words = _mm_packs_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
                    _mm_storel_epi64((__m128i *)(y + c), _mm_packs_epi16(words, words));
                }
                for (; c < channels; c++) {
                    const int32_t a = as__mbqm(((int32_t)x1[c] - zp1) * ((int32_t)1 << ls), params->input1_multiplier, params->input1_shift);
                    const int32_t b = as__mbqm(((int32_t)x2[c] - zp2) * ((int32_t)1 << ls), params->input2_multiplier, params->input2_shift);
                    y[c] = as__output_s8(as__mbqm(a + b, params->output_multiplier, params->output_shift), zo, lo, hi);
                }
            }
            return;
        }
        as_add_s8_ref(input1, in1_pixel_stride, input2, in2_pixel_stride, 1, pixels, channels, params, output,
                      out_pixel_stride);
        return;
    }
#elif defined(AS_ARM_NEON)
    {
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
        const int32_t scale_up = (int32_t)1 << ls;
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
