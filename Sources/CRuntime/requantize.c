/*
 * requantize.c - the int8 fixed-point arithmetic (TFLite / gemmlowp scheme), float <-> int8
 * conversion, and the vectorised row requantization every int8 kernel ends with.
 *
 * Layout letters: C = channels. Rows are [C] int32 accumulators of one output pixel.
 */
#include "kernel_common.h"
#include "simd_requant.h"

#include <float.h>

/* ---- public scalar helpers ---------------------------------------------------------------------- */

int32_t as_saturating_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    return as__srdhm(a, b);
}

int32_t as_rounding_divide_by_pot(int32_t x, int exponent)
{
    return as__rdbpot(x, exponent);
}

int32_t as_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift)
{
    return as__mbqm(x, multiplier, shift);
}

int8_t as_requantize_value(int32_t accumulator, int32_t multiplier, int shift, int32_t output_zero_point,
                           int32_t activation_min, int32_t activation_max)
{
    return as__output_s8(as__mbqm(accumulator, multiplier, shift), output_zero_point, activation_min,
                         activation_max);
}

/* round(value) with halves away from zero, exact for any double in range (no libm). */
static int64_t round_half_away(double value)
{
    int64_t whole = (int64_t)value; /* truncates toward zero */
    const double fraction = value - (double)whole; /* exact */
    if (fraction >= 0.5) {
        whole += 1;
    } else if (fraction <= -0.5) {
        whole -= 1;
    }
    return whole;
}

void as_quantize_multiplier(double real_multiplier, int32_t *multiplier, int *shift)
{
    double mantissa = real_multiplier;
    int exponent = 0;
    int64_t fixed;
    /* NaN fails the first comparison, infinity the second */
    if (!(real_multiplier > 0.0) || real_multiplier > DBL_MAX) {
        *multiplier = 0;
        *shift = 0;
        return;
    }
    /* frexp without libm: mantissa in [0.5, 1), real = mantissa * 2^exponent (scaling by 2 is exact) */
    while (mantissa >= 1.0) {
        mantissa *= 0.5;
        exponent++;
    }
    while (mantissa < 0.5) {
        mantissa *= 2.0;
        exponent--;
    }
    fixed = round_half_away(mantissa * 2147483648.0);
    if (fixed == ((int64_t)1 << 31)) {
        fixed /= 2;
        exponent++;
    }
    if (exponent < -31) {
        fixed = 0;
        exponent = 0;
    }
    if (exponent > 30) {
        fixed = INT32_MAX;
        exponent = 30;
    }
    *multiplier = (int32_t)fixed;
    *shift = exponent;
}

#if defined(AS_X86_AVX2)
/* 4 floats -> 4 int32 lanes of the scalar loop below, with the same IEEE double operations (exact
 * conversion, correctly rounded division, exact truncation and fraction), so bit-identical. */
static AS_ALWAYS_INLINE __m128i quantize4_avx2(__m128 x, __m256d scale, __m128i zero_point)
{
    const __m256d v0 = _mm256_div_pd(_mm256_cvtps_pd(x), scale);
    const __m256d nan = _mm256_cmp_pd(v0, v0, _CMP_UNORD_Q);
    const __m256d v = _mm256_min_pd(_mm256_max_pd(v0, _mm256_set1_pd(-1e6)), _mm256_set1_pd(1e6));
    const __m256d whole = _mm256_round_pd(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256d fraction = _mm256_sub_pd(v, whole);
    const __m256d up = _mm256_and_pd(_mm256_cmp_pd(fraction, _mm256_set1_pd(0.5), _CMP_GE_OQ), _mm256_set1_pd(1.0));
    const __m256d down =
        _mm256_and_pd(_mm256_cmp_pd(fraction, _mm256_set1_pd(-0.5), _CMP_LE_OQ), _mm256_set1_pd(1.0));
    const __m256d rounded = _mm256_andnot_pd(nan, _mm256_sub_pd(_mm256_add_pd(whole, up), down)); /* NaN -> 0 */
    return _mm_add_epi32(_mm256_cvttpd_epi32(rounded), zero_point);
}
#endif

void as_quantize_s8(const float *input, size_t count, float scale, int32_t zero_point, int8_t *output)
{
    size_t i = 0;
#if defined(AS_X86_AVX2)
    {
        const __m256d s = _mm256_set1_pd((double)scale);
        const __m128i zp = _mm_set1_epi32(zero_point);
        for (; i + 8 <= count; i += 8) {
            const __m128i lo = quantize4_avx2(_mm_loadu_ps(input + i), s, zp);
            const __m128i hi = quantize4_avx2(_mm_loadu_ps(input + i + 4), s, zp);
            const __m128i words = _mm_packs_epi32(lo, hi); /* |q| <= 1e6 + 128: saturation = clamp */
            _mm_storel_epi64((__m128i *)(void *)(output + i), _mm_packs_epi16(words, words));
        }
    }
#endif
    for (; i < count; i++) {
        double v = (double)input[i] / (double)scale;
        int64_t q;
        if (v != v) {
            q = zero_point;
        } else {
            if (v > 1e6) {
                v = 1e6;
            } else if (v < -1e6) {
                v = -1e6;
            }
            q = round_half_away(v) + zero_point;
        }
        output[i] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
    }
}

void as_dequantize_s8(const int8_t *input, size_t count, float scale, int32_t zero_point, float *output)
{
    size_t i;
    for (i = 0; i < count; i++) {
        output[i] = scale * (float)((int32_t)input[i] - zero_point);
    }
}

void as_activation_range_s8(as_activation activation, float output_scale, int32_t output_zero_point,
                            int32_t *activation_min, int32_t *activation_max)
{
    int32_t lo = -128, hi = 127;
    if (activation != AS_ACTIVATION_NONE) {
        const float zero = 0.0f;
        int8_t q;
        as_quantize_s8(&zero, 1, output_scale, output_zero_point, &q);
        lo = q > lo ? q : lo;
    }
    if (activation == AS_ACTIVATION_RELU6) {
        const float six = 6.0f;
        int8_t q;
        as_quantize_s8(&six, 1, output_scale, output_zero_point, &q);
        hi = q < hi ? q : hi;
    }
    *activation_min = lo;
    *activation_max = hi;
}

void as_add_params_s8_init(float input1_scale, int32_t input1_zero_point, float input2_scale,
                           int32_t input2_zero_point, float output_scale, int32_t output_zero_point,
                           as_activation activation, as_add_params_s8 *params)
{
    const double s1 = input1_scale, s2 = input2_scale;
    const double twice_max_input_scale = 2.0 * (s1 > s2 ? s1 : s2);
    int shift;
    params->input1_zero_point = input1_zero_point;
    params->input2_zero_point = input2_zero_point;
    params->output_zero_point = output_zero_point;
    params->left_shift = AS_ADD_LEFT_SHIFT;
    as_quantize_multiplier(s1 / twice_max_input_scale, &params->input1_multiplier, &shift);
    params->input1_shift = shift;
    as_quantize_multiplier(s2 / twice_max_input_scale, &params->input2_multiplier, &shift);
    params->input2_shift = shift;
    as_quantize_multiplier(twice_max_input_scale / ((double)(1 << AS_ADD_LEFT_SHIFT) * (double)output_scale),
                           &params->output_multiplier, &shift);
    params->output_shift = shift;
    as_activation_range_s8(activation, output_scale, output_zero_point, &params->activation_min,
                           &params->activation_max);
}

void as__activation_bounds_f32(as_activation activation, float *lo, float *hi)
{
    *lo = activation == AS_ACTIVATION_NONE ? -FLT_MAX : 0.0f;
    *hi = activation == AS_ACTIVATION_RELU6 ? 6.0f : FLT_MAX;
}

#if defined(AS_X86_AVX2)
/* the two rounding constants of 64-bit lanes with exponents r (r < 32 in the low dword, high dword 0) */
static void rq_avx2_rounding(__m256i r, __m256i *pos, __m256i *neg)
{
    const __m256i one = _mm256_set1_epi64x(1);
    const __m256i half = _mm256_srli_epi64(_mm256_sllv_epi64(one, r), 1); /* 2^(r-1), 0 for r = 0 */
    *pos = _mm256_add_epi64(_mm256_set1_epi64x((int64_t)(UINT64_C(1) << 63 | UINT64_C(1) << 30)),
                            _mm256_slli_epi64(half, 31));
    *neg = _mm256_sub_epi64(*pos, _mm256_slli_epi64(_mm256_min_epu32(half, one), 31));
}

AS_NOINLINE void as__rq_avx2_init(as__rq_avx2 *q, __m256i multiplier, __m256i shift)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i low = _mm256_set1_epi64x(0xFFFFFFFF);
    const __m256i right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
    const __m256i count = _mm256_add_epi32(right, _mm256_set1_epi32(31));
    const __m256i is_min = _mm256_cmpeq_epi32(multiplier, _mm256_set1_epi32(INT32_MIN));
    q->terms.multiplier = multiplier;
    q->terms.multiplier_odd = _mm256_srli_epi64(multiplier, 32);
    q->left = _mm256_max_epi32(shift, zero);
    q->count_even = _mm256_and_si256(count, low);
    q->count_odd = _mm256_srli_epi64(count, 32);
    rq_avx2_rounding(_mm256_and_si256(right, low), &q->terms.round_pos_even, &q->terms.round_neg_even);
    rq_avx2_rounding(_mm256_srli_epi64(right, 32), &q->terms.round_pos_odd, &q->terms.round_neg_odd);
    q->offset = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(_mm256_set1_epi32(32), right));
    q->any_left = !_mm256_testz_si256(q->left, q->left);
    q->any_min = !_mm256_testz_si256(is_min, is_min);
}
#endif

/* ---- row kernels ------------------------------------------------------------------------------- */

/* AVX2: not inlined into requant_block's fallback (0.4 KB, docs/benchmarks.md); the other tiers keep their code */
#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
#define ROW_S8_LINKAGE AS_NOINLINE
#else
#define ROW_S8_LINKAGE
#endif
ROW_S8_LINKAGE void as__requant_row_s8(const int32_t *acc, int count, const int32_t *multiplier, const int32_t *shift,
                                    int per_channel, int32_t zero_point, int32_t lo, int32_t hi, int8_t *out)
{
    int i = 0;
#if defined(AS_X86_AVX512)
    {
        const __m512i zp = _mm512_set1_epi32(zero_point);
        const __m512i lo_zp = _mm512_set1_epi32(lo - zero_point);
        const __m512i hi_zp = _mm512_set1_epi32(hi - zero_point);
        as__rq_avx512 q;
        as__rq_avx512_init(&q, _mm512_set1_epi32(multiplier[0]), _mm512_set1_epi32(shift[0]));
        for (; i < count; i += 16) {
            const __mmask16 mask = as__lanes16(count - i);
            __m512i v;
            if (per_channel) {
                as__rq_avx512_init(&q, _mm512_maskz_loadu_epi32(mask, multiplier + i),
                                   _mm512_maskz_loadu_epi32(mask, shift + i));
            }
            v = as__rq_avx512_apply(&q, _mm512_maskz_loadu_epi32(mask, acc + i));
            _mm_mask_storeu_epi8(out + i, mask, _mm512_cvtepi32_epi8(as__output_avx512(v, zp, lo_zp, hi_zp)));
        }
    }
#elif defined(AS_X86_AVX2)
    {
        const __m256i zp = _mm256_set1_epi32(zero_point);
        const __m256i lo_zp = _mm256_set1_epi32(lo - zero_point);
        const __m256i hi_zp = _mm256_set1_epi32(hi - zero_point);
        as__rq_avx2 q;
        as__rq_avx2_init(&q, _mm256_set1_epi32(multiplier[0]), _mm256_set1_epi32(shift[0]));
        /* a tail after 8 channels or more: the last 8 once more (their first bytes get the same values) */
        for (; count >= 8 && i < count; i += 8) {
            __m256i v;
            __m128i words;
            if (i > count - 8) {
                i = count - 8;
            }
            if (per_channel) {
                as__rq_avx2_init(&q, _mm256_loadu_si256((const __m256i *)(multiplier + i)),
                                 _mm256_loadu_si256((const __m256i *)(shift + i)));
            }
            v = as__rq_avx2_apply(&q, _mm256_loadu_si256((const __m256i *)(acc + i)));
            v = as__output_avx2(v, zp, lo_zp, hi_zp);
            words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            _mm_storel_epi64((__m128i *)(out + i), _mm_packs_epi16(words, words));
        }
    }
#elif defined(AS_ARM_NEON)
    {
        const int32x4_t zp = vdupq_n_s32(zero_point);
        const int8x16_t lo8 = vdupq_n_s8((int8_t)lo), hi8 = vdupq_n_s8((int8_t)hi);
        int32x4_t m = vdupq_n_s32(multiplier[0]);
        int32x4_t left = vdupq_n_s32(shift[0] > 0 ? shift[0] : 0);
        int32x4_t neg_right = vdupq_n_s32(shift[0] > 0 ? 0 : shift[0]);
        /* a tail after 16 channels or more: the last 16 once more (their first bytes get the same values) */
        for (; count >= 16 && i < count; i += 16) {
            int32x4_t v[4];
            int j;
            if (i > count - 16) {
                i = count - 16;
            }
            for (j = 0; j < 4; j++) {
                if (per_channel) {
                    const int32x4_t s = vld1q_s32(shift + i + 4 * j);
                    m = vld1q_s32(multiplier + i + 4 * j);
                    left = vmaxq_s32(s, vdupq_n_s32(0));
                    neg_right = vminq_s32(s, vdupq_n_s32(0));
                }
                v[j] = as__mbqm_neon(vld1q_s32(acc + i + 4 * j), m, left, neg_right);
            }
            vst1q_s8(out + i, as__output16_neon(v[0], v[1], v[2], v[3], zp, lo8, hi8));
        }
    }
#endif
    for (; i < count; i++) {
        const int c = per_channel ? i : 0;
        out[i] = as__output_s8(as__mbqm(acc[i], multiplier[c], shift[c]), zero_point, lo, hi);
    }
}

void as__mbqm_row(const int32_t *x, int count, int32_t multiplier, int shift, int32_t *out)
{
    int i = 0;
#if defined(AS_X86_AVX512)
    {
        as__rq_avx512 q;
        as__rq_avx512_init(&q, _mm512_set1_epi32(multiplier), _mm512_set1_epi32(shift));
        for (; i < count; i += 16) {
            const __mmask16 mask = as__lanes16(count - i);
            _mm512_mask_storeu_epi32(out + i, mask, as__rq_avx512_apply(&q, _mm512_maskz_loadu_epi32(mask, x + i)));
        }
    }
#elif defined(AS_X86_AVX2)
    {
        as__rq_avx2 q;
        as__rq_avx2_init(&q, _mm256_set1_epi32(multiplier), _mm256_set1_epi32(shift));
        for (; i + 8 <= count; i += 8) {
            _mm256_storeu_si256((__m256i *)(out + i),
                                as__rq_avx2_apply(&q, _mm256_loadu_si256((const __m256i *)(x + i))));
        }
    }
#elif defined(AS_ARM_NEON)
    {
        const int32x4_t m = vdupq_n_s32(multiplier);
        const int32x4_t left = vdupq_n_s32(shift > 0 ? shift : 0);
        const int32x4_t neg_right = vdupq_n_s32(shift > 0 ? 0 : shift);
        for (; i + 4 <= count; i += 4) {
            vst1q_s32(out + i, as__mbqm_neon(vld1q_s32(x + i), m, left, neg_right));
        }
    }
#endif
    for (; i < count; i++) {
        out[i] = as__mbqm(x[i], multiplier, shift);
    }
}

#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
/* plans the 8 channels at multiplier/shift into *q; 1 when they fold (as__rqf_avx2_plan) */
static AS_NOINLINE int rqf_avx2_plan_block(const int32_t *multiplier, const int32_t *shift, as__rqf_avx2 *q)
{
    const __m256i low = _mm256_set1_epi64x(0xFFFFFFFF);
    const __m256i half = _mm256_set1_epi64x((int64_t)1 << 30);
    const __m256i two31 = _mm256_set1_epi64x((int64_t)1 << 31);
    const __m256i s = _mm256_loadu_si256((const __m256i *)(const void *)shift);
    const __m256i right = _mm256_sub_epi32(_mm256_setzero_si256(), s);
    const __m256i r1 = _mm256_sub_epi32(right, _mm256_set1_epi32(1)); /* r - 1 in [0, 30] */
    const __m256i outside = _mm256_or_si256(_mm256_cmpgt_epi32(r1, _mm256_set1_epi32(30)),
                                            _mm256_cmpgt_epi32(_mm256_setzero_si256(), r1));
    if (!_mm256_testz_si256(outside, outside)) {
        return 0;
    }
    q->terms.multiplier = _mm256_loadu_si256((const __m256i *)(const void *)multiplier);
    q->terms.multiplier_odd = _mm256_srli_epi64(q->terms.multiplier, 32);
    q->terms.round_pos_even = _mm256_add_epi64(half, _mm256_sllv_epi64(half, _mm256_and_si256(right, low)));
    q->terms.round_pos_odd = _mm256_add_epi64(half, _mm256_sllv_epi64(half, _mm256_srli_epi64(right, 32)));
    q->terms.round_neg_even = _mm256_sub_epi64(q->terms.round_pos_even, two31);
    q->terms.round_neg_odd = _mm256_sub_epi64(q->terms.round_pos_odd, two31);
    q->right = r1;
    return 1;
}

AS_NOINLINE int as__rqf_avx2_plan(const int32_t *multiplier, const int32_t *shift, int count, as__rqf_avx2 *plan,
                                  unsigned char *planned)
{
    const int blocks = count / 8;
    int j, folded = 0;
    for (j = 0; j < blocks; j++) {
        planned[j] = (unsigned char)rqf_avx2_plan_block(multiplier + 8 * j, shift + 8 * j, &plan[j]);
        folded += 8 * planned[j];
    }
    if (count % 8 && count >= 8) {
        /* slot `blocks`: the block of the last 8 channels, for the tail */
        planned[j] = (unsigned char)rqf_avx2_plan_block(multiplier + count - 8, shift + count - 8, &plan[j]);
        folded += count % 8 * planned[j];
    }
    return folded;
}

void as__requant_blocks_avx2(const int32_t *acc, int rows, int acc_stride, int count, const as__rqf_avx2 *plan,
                             const unsigned char *planned, const int32_t *multiplier, const int32_t *shift,
                             int32_t zero_point, int32_t lo, int32_t hi, int8_t *out, size_t out_stride,
                             int8_t *const *rows_out, int rows_out_offset)
{
    /* runs [b, e) of planned blocks or of general ones, then a tail count % 8 as slot `blocks` (the block of the
     * last 8 channels, which writes the bytes of the channels before the tail again with the same values); fewer
     * than 8 channels are one general run */
    const int blocks = count / 8, slots = count < 8 ? 1 : blocks + (count % 8 != 0);
    int b = 0, p;
    while (b < slots) {
        const int folds = count >= 8 && planned[b];
        const int o = b < blocks ? 8 * b : count >= 8 ? count - 8 : 0;
        int e = b + 1, n;
        while (e < blocks && planned[e] == folds) {
            e++;
        }
        n = count < 8 ? count : 8 * (e - b);
        if (folds) {
            as__requant_plan_rows_avx2(acc + o, rows, acc_stride, n, plan + b, zero_point, lo, hi,
                                       out ? out + o : NULL, out_stride, rows_out, rows_out_offset + o);
        } else if (count >= 8) {
            /* the general MBQM with its constants set up once per 8-channel block for all the rows: per row (as
             * as__requant_row_s8 does) the set-up cost more than the arithmetic, and trained depthwise layers have
             * such blocks (docs/benchmarks.md, "General requantization blocks") */
            const __m256i zp = _mm256_set1_epi32(zero_point);
            const __m256i lo_zp = _mm256_set1_epi32(lo - zero_point), hi_zp = _mm256_set1_epi32(hi - zero_point);
            int j;
            for (j = o; j < o + n; j += 8) {
                as__rq_avx2 q;
                as__rq_avx2_init(&q, _mm256_loadu_si256((const __m256i *)(const void *)(multiplier + j)),
                                 _mm256_loadu_si256((const __m256i *)(const void *)(shift + j)));
                for (p = 0; p < rows; p++) {
                    int8_t *y = (rows_out ? rows_out[p] + rows_out_offset : out + p * out_stride) + j;
                    const __m256i v = as__output_avx2(
                        as__rq_avx2_apply(&q, _mm256_loadu_si256((const __m256i *)(const void *)(acc + (size_t)p * acc_stride + j))),
                        zp, lo_zp, hi_zp);
                    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
                    _mm_storel_epi64((__m128i *)(void *)y, _mm_packs_epi16(words, words));
                }
            }
        } else {
            for (p = 0; p < rows; p++) {
                as__requant_row_s8(acc + (size_t)p * acc_stride + o, n, multiplier + o, shift + o, 1, zero_point, lo,
                                   hi, (rows_out ? rows_out[p] + rows_out_offset : out + p * out_stride) + o);
            }
        }
        b = e;
    }
}

void as__requant_plan_rows_avx2(const int32_t *acc, int rows, int acc_stride, int count, const as__rqf_avx2 *plan,
                                int32_t zero_point, int32_t lo, int32_t hi, int8_t *out, size_t out_stride,
                                int8_t *const *rows_out, int rows_out_offset)
{
    /* 16 channels: saturating int16 packs, + zp saturating, saturating int8 packs, then the clamp
     * (every step monotonic and int8 inside int16, so the same as clamp(zp + v, lo, hi)) */
    const __m256i zp16 = _mm256_set1_epi16((int16_t)zero_point);
    const __m128i lo8 = _mm_set1_epi8((char)lo), hi8 = _mm_set1_epi8((char)hi);
    int o, p;
    for (o = 0; o < count; o += 16) {
        const as__rqf_avx2 *q = plan + o / 8;
        const int wide = count - o >= 16;
        for (p = 0; p < rows; p++) {
            const int32_t *a = acc + (size_t)p * acc_stride + o;
            int8_t *y = (rows_out ? rows_out[p] + rows_out_offset : out + p * out_stride) + o;
            const __m256i v0 = as__rqf_avx2_apply(q, _mm256_loadu_si256((const __m256i *)(const void *)a));
            const __m256i v1 =
                wide ? as__rqf_avx2_apply(q + 1, _mm256_loadu_si256((const __m256i *)(const void *)(a + 8))) : v0;
            const __m256i words = _mm256_adds_epi16(_mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xD8), zp16);
            const __m128i bytes = _mm_min_epi8(
                _mm_max_epi8(_mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1)), lo8),
                hi8);
            if (wide) {
                _mm_storeu_si128((__m128i *)(void *)y, bytes);
            } else {
                _mm_storel_epi64((__m128i *)(void *)y, bytes);
            }
        }
    }
}
#endif

/* Rows of a tile; row p goes to rows_out[p] if given, else to out + p * out_stride. One out-of-line copy for
 * both callers (two inlined copies were 1.5 KB more .text on AVX2 for no measured gain, docs/benchmarks.md). */
static AS_NOINLINE void requant_block(const int32_t *acc, int rows, int acc_stride, int count,
                                           const int32_t *multiplier, const int32_t *shift, int32_t zero_point,
                                           int32_t lo, int32_t hi, int8_t *out, size_t out_stride,
                                           int8_t *const *rows_out)
{
    int o = 0, p;
#if defined(AS_X86_AVX512)
    {
        const __m512i zp = _mm512_set1_epi32(zero_point);
        const __m512i lo_zp = _mm512_set1_epi32(lo - zero_point);
        const __m512i hi_zp = _mm512_set1_epi32(hi - zero_point);
        for (; o < count; o += 16) {
            const __mmask16 mask = as__lanes16(count - o);
            const __m512i m = _mm512_maskz_loadu_epi32(mask, multiplier + o);
            const __m512i sh = _mm512_mask_loadu_epi32(_mm512_set1_epi32(-1), mask, shift + o);
            as__rqf_avx512 f;
            as__rq_avx512 q;
            if (as__rqf_avx512_init(&f, m, sh)) {
                for (p = 0; p < rows; p++) {
                    const __m512i v = as__rqf_avx512_apply(&f, _mm512_maskz_loadu_epi32(mask, acc + (size_t)p * acc_stride + o));
                    _mm_mask_storeu_epi8((rows_out ? rows_out[p] : out + p * out_stride) + o, mask, _mm512_cvtepi32_epi8(as__output_avx512(v, zp, lo_zp, hi_zp)));
                }
                continue;
            }
            as__rq_avx512_init(&q, m, sh);
            for (p = 0; p < rows; p++) {
                const __m512i v = as__rq_avx512_apply(&q, _mm512_maskz_loadu_epi32(mask, acc + (size_t)p * acc_stride + o));
                _mm_mask_storeu_epi8((rows_out ? rows_out[p] : out + p * out_stride) + o, mask, _mm512_cvtepi32_epi8(as__output_avx512(v, zp, lo_zp, hi_zp)));
            }
        }
    }
#elif defined(AS_X86_AVX2)
    {
        /* constants set up once per call here, per 8-channel block (as__rqf_avx2_plan); the GEMM and depthwise
         * kernels prepare them once per channel chunk and call as__requant_blocks_avx2 themselves. */
        as__rqf_avx2 plan[AS_RQ_PLAN_CHANNELS / 8];
        unsigned char planned[AS_RQ_PLAN_CHANNELS / 8];
        for (; o < count; o += AS_RQ_PLAN_CHANNELS) {
            const int n = count - o < AS_RQ_PLAN_CHANNELS ? count - o : AS_RQ_PLAN_CHANNELS;
            as__rqf_avx2_plan(multiplier + o, shift + o, n, plan, planned);
            as__requant_blocks_avx2(acc + o, rows, acc_stride, n, plan, planned, multiplier + o, shift + o, zero_point,
                                    lo, hi, out ? out + o : NULL, out_stride, rows_out, o);
        }
    }
#elif defined(AS_ARM_NEON)
    {
        const int32x4_t zp = vdupq_n_s32(zero_point);
        const int8x16_t lo8 = vdupq_n_s8((int8_t)lo), hi8 = vdupq_n_s8((int8_t)hi);
        /* a tail after 16 channels or more: the last 16 once more (their first bytes get the same values) */
        for (; count >= 16 && o < count; o += 16) {
            int32x4_t m[4], left[4], neg_right[4];
            int j;
            if (o > count - 16) {
                o = count - 16;
            }
            for (j = 0; j < 4; j++) {
                const int32x4_t sh = vld1q_s32(shift + o + 4 * j);
                m[j] = vld1q_s32(multiplier + o + 4 * j);
                left[j] = vmaxq_s32(sh, vdupq_n_s32(0));
                neg_right[j] = vminq_s32(sh, vdupq_n_s32(0));
            }
            for (p = 0; p < rows; p++) {
                const int32_t *a = acc + (size_t)p * acc_stride + o;
                vst1q_s8((rows_out ? rows_out[p] : out + p * out_stride) + o,
                         as__output16_neon(as__mbqm_neon(vld1q_s32(a), m[0], left[0], neg_right[0]),
                                           as__mbqm_neon(vld1q_s32(a + 4), m[1], left[1], neg_right[1]),
                                           as__mbqm_neon(vld1q_s32(a + 8), m[2], left[2], neg_right[2]),
                                           as__mbqm_neon(vld1q_s32(a + 12), m[3], left[3], neg_right[3]), zp, lo8,
                                           hi8));
            }
        }
        /* 4 to 15 channels (narrow layers: a 10-channel stem took half of a network's instructions scalar):
         * blocks of 4, the last one overlapping */
        for (; o < count && count >= 4; o += 4) {
            const int b = o + 4 <= count ? o : count - 4;
            const int32x4_t sh = vld1q_s32(shift + b), mb = vld1q_s32(multiplier + b);
            const int32x4_t left = vmaxq_s32(sh, vdupq_n_s32(0)), neg_right = vminq_s32(sh, vdupq_n_s32(0));
            for (p = 0; p < rows; p++) {
                const int32x4_t v = as__mbqm_neon(vld1q_s32(acc + (size_t)p * acc_stride + b), mb, left, neg_right);
                const int32_t word =
                    vgetq_lane_s32(vreinterpretq_s32_s8(as__output16_neon(v, v, v, v, zp, lo8, hi8)), 0);
                memcpy((rows_out ? rows_out[p] : out + p * out_stride) + b, &word, sizeof word);
            }
        }
    }
#endif
    if (o < count) {
        for (p = 0; p < rows; p++) {
            as__requant_row_s8(acc + (size_t)p * acc_stride + o, count - o, multiplier + o, shift + o, 1, zero_point,
                               lo, hi, (rows_out ? rows_out[p] : out + p * out_stride) + o);
        }
    }
}

void as__requant_tile_s8(const int32_t *acc, int rows, int acc_stride, int count, const int32_t *multiplier,
                         const int32_t *shift, int32_t zero_point, int32_t lo, int32_t hi, int8_t *out,
                         size_t out_stride)
{
    requant_block(acc, rows, acc_stride, count, multiplier, shift, zero_point, lo, hi, out, out_stride, NULL);
}

void as__requant_rows_s8(const int32_t *acc, int rows, int acc_stride, int count, const int32_t *multiplier,
                         const int32_t *shift, int32_t zero_point, int32_t lo, int32_t hi, int8_t *const *out)
{
    requant_block(acc, rows, acc_stride, count, multiplier, shift, zero_point, lo, hi, NULL, 0, out);
}
