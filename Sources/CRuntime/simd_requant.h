/*
 * simd_requant.h - private: vector versions of MBQM (see kernel_common.h for the scalar definition).
 * Each one is bit-exact against as__mbqm for every int32 input, multiplier and shift in [-31, 30].
 *
 * AVX-512 computes SRDHM as floor((x*m + 2^30) / 2^31) from 64-bit products of the even and odd lanes
 * (gemmlowp's nudge + truncating division equals this floor), then RDBPOT with per-lane variable
 * shifts; AVX2 folds both into one division (see as__rq_avx2). Arm uses vqrdmulh (the same rounding) and the gemmlowp fixup before vrshl.
 */
#ifndef AUTOSHRINK_SIMD_REQUANT_H
#define AUTOSHRINK_SIMD_REQUANT_H

#include "kernel_common.h"

#if defined(AS_X86_AVX512)

/* Per-lane constants derived from (multiplier, shift), reused across many accumulator vectors. */
typedef struct as__rq_avx512 {
    __m512i multiplier, multiplier_odd, left, right, mask, half_mask;
    __mmask16 multiplier_is_min;
    int any_left, any_min;
} as__rq_avx512;

static inline void as__rq_avx512_init(as__rq_avx512 *q, __m512i multiplier, __m512i shift)
{
    const __m512i zero = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1);
    q->multiplier = multiplier;
    q->multiplier_odd = _mm512_srli_epi64(multiplier, 32);
    q->left = _mm512_max_epi32(shift, zero);
    q->right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
    q->mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, q->right), one);
    q->half_mask = _mm512_srai_epi32(q->mask, 1);
    q->multiplier_is_min = _mm512_cmpeq_epi32_mask(multiplier, _mm512_set1_epi32(INT32_MIN));
    q->any_min = q->multiplier_is_min != 0;
    q->any_left = _mm512_test_epi32_mask(q->left, q->left) != 0;
}

static AS_ALWAYS_INLINE __m512i as__rq_avx512_apply(const as__rq_avx512 *q, __m512i x)
{
    const __m512i round = _mm512_set1_epi64((int64_t)1 << 30);
    const __m512i int_min = _mm512_set1_epi32(INT32_MIN);
    const __m512i int_max = _mm512_set1_epi32(INT32_MAX);
    __m512i even, odd, high, remainder, result;
    if (q->any_left) {
        const __m512i shifted = _mm512_sllv_epi32(x, q->left);
        const __mmask16 overflow = _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(shifted, q->left), x);
        const __m512i saturated = _mm512_xor_si512(int_max, _mm512_srai_epi32(x, 31));
        x = _mm512_mask_mov_epi32(shifted, overflow, saturated);
    }
    even = _mm512_add_epi64(_mm512_mul_epi32(x, q->multiplier), round);
    odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), q->multiplier_odd), round);
    high = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
    if (q->any_min) {
        high = _mm512_mask_mov_epi32(high, _mm512_mask_cmpeq_epi32_mask(q->multiplier_is_min, x, int_min),
                                     int_max);
    }
    /* round half away from zero: (remainder - [high < 0]) > half_mask rounds the quotient up */
    remainder = _mm512_add_epi32(_mm512_and_si512(high, q->mask), _mm512_srai_epi32(high, 31));
    result = _mm512_srav_epi32(high, q->right);
    return _mm512_mask_sub_epi32(result, _mm512_cmpgt_epi32_mask(remainder, q->half_mask), result,
                                 _mm512_set1_epi32(-1));
}

/* The folded MBQM of as__rq_avx2 on AVX-512, for lanes that all shift right (shift <= -1, r = -shift >= 1):
 *   MBQM = floor((x*m + 2^30 + 2^(30+r) - 2^31 [x*m < 0]) / 2^(31+r)),
 * exact for every int32 x and m (the sum stays inside int64; the only overflow of MBQM needs r = 0). AVX-512
 * has 64-bit arithmetic shifts (vpsravq), and the odd lanes shift by r - 1 only, which leaves their quotient
 * in the high dword where the blend takes it: 12 instructions per 16 lanes instead of 14, and no saturation
 * or rounding fix-ups (docs/benchmarks.md, "folded AVX-512 requantization"). */
typedef struct as__rqf_avx512 {
    __m512i multiplier, multiplier_odd;
    __m512i round_even, round_odd; /* 2^30 + 2^(30+r), per 64-bit lane */
    __m512i count_even, count_odd; /* 31 + r and r - 1, per 64-bit lane */
} as__rqf_avx512;

/* 0 (q not set up) unless every lane has shift in [-31, -1] */
static AS_ALWAYS_INLINE int as__rqf_avx512_init(as__rqf_avx512 *q, __m512i multiplier, __m512i shift)
{
    const __m512i low = _mm512_set1_epi64(0xFFFFFFFF);
    const __m512i half = _mm512_set1_epi64((int64_t)1 << 30);
    const __m512i right = _mm512_sub_epi32(_mm512_setzero_si512(), shift);
    __m512i r_even, r_odd;
    if (_mm512_cmpgt_epi32_mask(shift, _mm512_set1_epi32(-1)) != 0 ||
        _mm512_cmpgt_epi32_mask(right, _mm512_set1_epi32(31)) != 0) {
        return 0;
    }
    r_even = _mm512_and_si512(right, low);
    r_odd = _mm512_srli_epi64(right, 32);
    q->multiplier = multiplier;
    q->multiplier_odd = _mm512_srli_epi64(multiplier, 32);
    q->round_even = _mm512_add_epi64(half, _mm512_sllv_epi64(half, r_even));
    q->round_odd = _mm512_add_epi64(half, _mm512_sllv_epi64(half, r_odd));
    q->count_even = _mm512_add_epi64(r_even, _mm512_set1_epi64(31));
    q->count_odd = _mm512_sub_epi64(r_odd, _mm512_set1_epi64(1));
    return 1;
}

static AS_ALWAYS_INLINE __m512i as__rqf_avx512_apply(const as__rqf_avx512 *q, __m512i x)
{
    const __m512i two31 = _mm512_set1_epi64((int64_t)1 << 31);
    __m512i even = _mm512_mul_epi32(x, q->multiplier);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), q->multiplier_odd);
    const __mmask8 even_negative = _mm512_movepi64_mask(even), odd_negative = _mm512_movepi64_mask(odd);
    even = _mm512_add_epi64(even, q->round_even);
    odd = _mm512_add_epi64(odd, q->round_odd);
    even = _mm512_mask_sub_epi64(even, even_negative, even, two31);
    odd = _mm512_mask_sub_epi64(odd, odd_negative, odd, two31);
    even = _mm512_srav_epi64(even, q->count_even);
    odd = _mm512_srav_epi64(odd, q->count_odd);
    return _mm512_mask_blend_epi32(0xAAAA, even, odd);
}

/* clamp(zp + v, lo, hi) as int32 lanes, without overflow: clamp to [lo - zp, hi - zp] first. */
static AS_ALWAYS_INLINE __m512i as__output_avx512(__m512i v, __m512i zero_point, __m512i lo_minus_zp,
                                                  __m512i hi_minus_zp)
{
    return _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(v, lo_minus_zp), hi_minus_zp), zero_point);
}

#endif /* AS_X86_AVX512 */

#if defined(AS_X86_AVX2)

/* AVX2 folds SRDHM and RDBPOT into one floor division of a 64-bit sum (r = max(-shift, 0), x already
 * shifted left by max(shift, 0) with saturation):
 *   r = 0:  MBQM = floor((x*m + 2^30) / 2^31)
 *   r >= 1: MBQM = floor((x*m + 2^30 + 2^(30+r) - 2^31 [x*m < 0]) / 2^(31+r))
 * (the inner floor divides exactly into the outer one; 2^(30+r) is RDBPOT's half and the 2^31 term makes
 * negative halves round away from zero; for -2^30 <= x*m < 0 SRDHM is 0 and both forms give 0). AVX2 has
 * no 64-bit arithmetic shift, so the sum carries + 2^63 (it stays inside [0, 2^64)) and a logical shift
 * leaves result + 2^(32-r) in the low 32 bits, removed by one subtraction. The rounding constant is
 * picked per lane by the product's sign bit (vblendvpd). 12 instructions per 8 lanes instead of 14
 * (docs/benchmarks.md). The only overflow, x = m = INT32_MIN (with r = 0 the sole way to reach 2^31),
 * saturates to INT32_MAX. */
/* What as__rq_avx2 and as__rqf_avx2 below share: the multiplier of the even and odd lanes and the rounding
 * constants each picks by the product's sign (their values differ: 2^63 + ... for the first, 2^30 + ... for the
 * second). */
typedef struct as__rq_avx2_terms {
    __m256i multiplier, multiplier_odd;
    __m256i round_pos_even, round_neg_even, round_pos_odd, round_neg_odd; /* per 64-bit lane */
} as__rq_avx2_terms;

typedef struct as__rq_avx2_pair {
    __m256i even, odd;
} as__rq_avx2_pair;

/* The 64-bit products x*m of the even and odd lanes (the odd ones from the high halves of their 64-bit lanes),
 * each plus the rounding constant its sign picks (vblendvpd on the product's sign bit): the common first half of
 * as__rq_avx2 and as__rqf_avx2, which differ only in how they divide. */
static AS_ALWAYS_INLINE as__rq_avx2_pair as__rq_avx2_products(const as__rq_avx2_terms *t, __m256i x)
{
    as__rq_avx2_pair p;
    p.even = _mm256_mul_epi32(x, t->multiplier);
    p.odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), t->multiplier_odd);
    p.even = _mm256_add_epi64(p.even, _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(t->round_pos_even),
                                                                           _mm256_castsi256_pd(t->round_neg_even),
                                                                           _mm256_castsi256_pd(p.even))));
    p.odd = _mm256_add_epi64(p.odd, _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(t->round_pos_odd),
                                                                         _mm256_castsi256_pd(t->round_neg_odd),
                                                                         _mm256_castsi256_pd(p.odd))));
    return p;
}

typedef struct as__rq_avx2 {
    as__rq_avx2_terms terms;                           /* rounding constants 2^63 + ..., per 64-bit lane */
    __m256i left;
    __m256i count_even, count_odd;                     /* 31 + r, per 64-bit lane */
    __m256i offset;                                    /* 2^(32-r) mod 2^32, per 32-bit lane */
    int any_left, any_min;
} as__rq_avx2;

/* out of line (requantize.c): inlined into every kernel it cost 2.4 KB of .text (docs/benchmarks.md) */
void as__rq_avx2_init(as__rq_avx2 *q, __m256i multiplier, __m256i shift);

static AS_ALWAYS_INLINE __m256i as__rq_avx2_apply(const as__rq_avx2 *q, __m256i x)
{
    __m256i even, odd, result;
    if (q->any_left) {
        const __m256i int_max = _mm256_set1_epi32(INT32_MAX);
        const __m256i shifted = _mm256_sllv_epi32(x, q->left);
        const __m256i same = _mm256_cmpeq_epi32(_mm256_srav_epi32(shifted, q->left), x);
        const __m256i saturated = _mm256_xor_si256(int_max, _mm256_srai_epi32(x, 31));
        x = _mm256_blendv_epi8(saturated, shifted, same);
    }
    const as__rq_avx2_pair p = as__rq_avx2_products(&q->terms, x);
    even = _mm256_srlv_epi64(p.even, q->count_even);
    odd = _mm256_srlv_epi64(p.odd, q->count_odd);
    result = _mm256_sub_epi32(_mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA), q->offset);
    if (q->any_min) { /* INT32_MIN * INT32_MIN with r = 0 gives 2^31: saturate (no other lane can be INT32_MIN) */
        const __m256i int_min = _mm256_set1_epi32(INT32_MIN);
        result = _mm256_add_epi32(result, _mm256_cmpeq_epi32(result, int_min));
    }
    return result;
}

/* The folded MBQM for lanes that all shift right (shift in [-31, -1], r = -shift: every exported layer's), with
 * the quotient taken from the high dwords instead of a 64-bit shift:
 *   t = x*m + 2^30 + 2^(30+r) - 2^31 [x*m < 0],  MBQM = floor(t / 2^(31+r)) = floor(floor(t / 2^32) / 2^(r-1))
 * t stays inside int64 (|x*m| <= 2^62) and floor(t / 2^32), the high dword of t, inside int32, so one 32-bit
 * arithmetic shift by r - 1 finishes the division: no 2^63 bias, no offset, no saturation (the only overflow of
 * MBQM needs r = 0). 10 instructions per 8 lanes instead of 12 (docs/benchmarks.md, "fused requantization on
 * AVX2"). */
typedef struct as__rqf_avx2 {
    as__rq_avx2_terms terms; /* rounding constants 2^30 + 2^(30+r) [- 2^31], per 64-bit lane */
    __m256i right;           /* r - 1, per 32-bit lane */
} as__rqf_avx2;

static AS_ALWAYS_INLINE __m256i as__rqf_avx2_apply(const as__rqf_avx2 *q, __m256i x)
{
    const as__rq_avx2_pair p = as__rq_avx2_products(&q->terms, x);
    return _mm256_srav_epi32(_mm256_blend_epi32(_mm256_srli_epi64(p.even, 32), p.odd, 0xAA), q->right);
}

static AS_ALWAYS_INLINE __m256i as__output_avx2(__m256i v, __m256i zero_point, __m256i lo_minus_zp,
                                                __m256i hi_minus_zp)
{
    return _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, lo_minus_zp), hi_minus_zp), zero_point);
}

#if !defined(AS_X86_AVX512)
/* channels of requant_block's plan ([4] as__rqf_avx2, 0.9 KB of stack): it prepares each 8 channels once per
 * call whatever the block size, so a small block costs nothing and keeps the stack small for edge devices */
#define AS_RQ_PLAN_CHANNELS 32

/* Block j (channels 8j..8j+7 of multiplier/shift, j < count / 8): planned[j] = 1 and plan[j] = its folded
 * constants when every shift of the block lies in [-31, -1]; planned[j] = 0 for a block with a real multiplier of
 * 1 or more (which trained layers have on a few channels, depthwise ones most), which then costs only its own
 * 8 channels the general MBQM. A tail (count % 8 != 0, count >= 8) gets slot count / 8: the block of the last 8
 * channels, which as__requant_blocks_avx2 runs over the tail (plan and planned hold ceil(count / 8) slots).
 * Prepared once per channel chunk by the kernels that requantize many tiles (the per-tile set-up cost more than
 * the arithmetic saved). Returns how many channels it planned (count: all). */
int as__rqf_avx2_plan(const int32_t *multiplier, const int32_t *shift, int count, as__rqf_avx2 *plan,
                      unsigned char *planned);

/* as__requant_tile_s8 / as__requant_rows_s8 for count % 8 == 0 channels that are all planned (plan[k] channels
 * 8k..8k+7): row p goes to
 * rows_out[p] + rows_out_offset if rows_out, else to out + p * out_stride. */
void as__requant_plan_rows_avx2(const int32_t *acc, int rows, int acc_stride, int count, const as__rqf_avx2 *plan,
                                int32_t zero_point, int32_t lo, int32_t hi, int8_t *out, size_t out_stride,
                                int8_t *const *rows_out, int rows_out_offset);

/* The same for any count and as__rqf_avx2_plan's plan of the count channels: runs of planned blocks through
 * as__requant_plan_rows_avx2, the other blocks through the general MBQM (as__requant_row_s8); a tail count % 8
 * after 8 channels or more as the block of the last 8 (both ways write the bytes before the tail again, with the
 * values they have), a shorter one scalar. multiplier/shift: the count channels'. */
void as__requant_blocks_avx2(const int32_t *acc, int rows, int acc_stride, int count, const as__rqf_avx2 *plan,
                             const unsigned char *planned, const int32_t *multiplier, const int32_t *shift,
                             int32_t zero_point, int32_t lo, int32_t hi, int8_t *out, size_t out_stride,
                             int8_t *const *rows_out, int rows_out_offset);
#endif

#endif /* AS_X86_AVX2 */

/* ---- the int8 add's input rescaling (add.c, and the fused add epilogue of gemm_s8.c) ---- */

#if defined(AS_X86_AVX512) || defined(AS_X86_AVX2)
/* An input's MBQM in 32-bit arithmetic, exact for the add's operands (docs/benchmarks.md, "Fused add").
 * With v = x - zp in [-255, 255], L = left_shift <= 23, m > 2^(30-L) and r = -shift in [0, L]:
 *   MBQM(v * 2^L, m, -r) = floor((v*m + c) / 2^k),  k = 31 + r - L,
 *   c = 2^(30-L) + [r >= 1] (2^(30+r-L) - 2^(31-L) [v < 0])
 * (SRDHM = floor((v m 2^L + 2^30) / 2^31), and RDBPOT's halves away from zero fold into the same floor as in
 * simd_requant.h's AVX2 MBQM, divided through by 2^L; SRDHM < 0 exactly when v < 0 because m > 2^(30-L)).
 * With m = mh 2^j + ml, 0 <= ml < 2^j, j = min(k, 15) >= 8, that is (v*mh + ((v*ml + c) >> j)) >> (k - j),
 * every term inside int32: 2 multiplies and 7 other instructions per vector instead of a shift and a
 * 64-bit MBQM (14). Other parameters keep the general path. */
typedef struct add_narrow {
    int32_t high, low;  /* mh, ml */
    int32_t round;      /* c for v >= 0 */
    int32_t negative;   /* c(v < 0) - c(v >= 0): 0 or -2^(31-L) */
    int split, rest;    /* j, k - j */
} add_narrow;

static inline int add_narrow_plan(int32_t zero_point, int32_t multiplier, int32_t shift, int32_t left_shift,
                                  add_narrow *q)
{
    const int32_t r = -shift;
    int k, j;
    if (left_shift < 0 || left_shift > 23 || zero_point < -128 || zero_point > 127 || shift > 0 || r > left_shift ||
        (int64_t)multiplier <= ((int64_t)1 << (30 - left_shift))) {
        return 0;
    }
    k = 31 + r - left_shift;
    j = k < 15 ? k : 15;
    q->high = multiplier >> j;
    q->low = multiplier & (int32_t)((UINT32_C(1) << j) - 1u);
    q->round = (int32_t)(((int64_t)1 << (30 - left_shift)) + (r >= 1 ? (int64_t)1 << (30 + r - left_shift) : 0));
    q->negative = r >= 1 ? -(int32_t)((int64_t)1 << (31 - left_shift)) : 0;
    q->split = j;
    q->rest = k - j;
    return 1;
}

/* log2(mh) when the input's MBQM is the plain shift v * mh = v << log2(mh) (ml = 0, c < 2^j, no sign term,
 * k = j), else -1. The input with the larger scale always is: its multiplier is 2^30 with shift 0 (its scale
 * over the common scale 2 max(s1, s2) is 1/2), so MBQM(v 2^L, 2^30, 0) = v 2^(L-1). */
static inline int add_plain_shift(const add_narrow *q)
{
    int b = 0;
    if (q->low != 0 || q->negative != 0 || q->rest != 0 || q->high <= 0 || (q->high & (q->high - 1)) != 0 ||
        (q->round >> q->split) != 0) {
        return -1;
    }
    while ((q->high >> b) != 1) {
        b++;
    }
    return b;
}

/* ---- the int8 add in single precision, checked (add.c, and the fused add of gemm_s8.c) ----
 * TFLite ADD's result before the output zero point is floor(T) for a rational T (the folded output MBQM above):
 *   T = (s1 + s2) M / 2^(31+r) + c,  s_i = MBQM((x_i - zp_i) 2^L, m_i, -r_i),  r = -output_shift >= 0,
 *   c = 1/2 + 2^-(r+1) when s1 + s2 >= 0, 1/2 - 2^-(r+1) below (r >= 1), c = 1/2 for r = 0.
 * Each s_i is within 1 of (x_i - zp_i) a_i with a_i = 2^L m_i / 2^(31+r_i) (two roundings to nearest), so with
 * mu = M / 2^(31+r), A = a_1 mu, B = a_2 mu, K = zp1 A + zp2 B:
 *   |T - 1/2 - w| <= 2 mu + [r >= 1] 2^-(r+1),  w = x1 A + x2 B - K.
 * The fast path evaluates w with two float FMAs and takes round(w) = floor(w + 1/2) = floor(T) in every lane
 * whose w lies farther than `margin` from a half-integer (|w - round(w)| < 1/2 - margin); a vector with a lane
 * closer than that runs the exact integer arithmetic instead, so the result is bit-exact by construction. The
 * float rounding of w is below 2^-24 896 (|A| + |B|) (the three constants and the two FMAs, |x|, |zp| <= 128;
 * w - round(w) is exact); margin = 2^-12 (|A| + |B|) + 4 mu + 2^-20 + [r >= 1] 2^-(r+1) is more than twice the
 * bound. Trained networks' adds have |A| + |B| about 1-3 and r about 19, margin about 5e-4: about 0.5 % of their
 * 16-lane vectors take the exact path (docs/benchmarks.md, "int8 add in single precision"). */
typedef struct add_float {
    float scale1, scale2; /* A, B */
    float offset;         /* -K */
    float limit;          /* 1/2 - margin: |w - round(w)| above it takes the exact path */
} add_float;

/* 2^e for |e| <= 62, exactly */
static inline double add_float_pow2(int e)
{
    const double p = (double)((int64_t)1 << (e < 0 ? -e : e));
    return e < 0 ? 1.0 / p : p;
}

/* 0 when the parameters lie outside the analysis above (an input or output shift > 0 or < -31, L > 20, a
 * multiplier <= 0, a zero point outside [-128, 127], or a margin above 1/16): the exact path then runs alone.
 * swap: input 1 of the plan is the params' input 2 (as_add_s8 on AVX-512 puts the plain-shift input first). */
static inline int add_float_plan(const as_add_params_s8 *p, int swap, add_float *f)
{
    const int32_t zp1 = swap ? p->input2_zero_point : p->input1_zero_point;
    const int32_t zp2 = swap ? p->input1_zero_point : p->input2_zero_point;
    const int32_t m1 = swap ? p->input2_multiplier : p->input1_multiplier;
    const int32_t m2 = swap ? p->input1_multiplier : p->input2_multiplier;
    const int r1 = -(swap ? p->input2_shift : p->input1_shift), r2 = -(swap ? p->input1_shift : p->input2_shift);
    const int r = -p->output_shift, L = p->left_shift;
    double mu, a, b, margin;
    if (r < 0 || r > 31 || r1 < 0 || r1 > 31 || r2 < 0 || r2 > 31 || L < 0 || L > 20 || m1 <= 0 || m2 <= 0 ||
        p->output_multiplier <= 0 || zp1 < -128 || zp1 > 127 || zp2 < -128 || zp2 > 127) {
        return 0;
    }
    mu = (double)p->output_multiplier * add_float_pow2(-31 - r);
    a = (double)m1 * add_float_pow2(L - 31 - r1) * mu;
    b = (double)m2 * add_float_pow2(L - 31 - r2) * mu;
    margin = (a + b) * add_float_pow2(-12) + 4.0 * mu + add_float_pow2(-20) + (r >= 1 ? add_float_pow2(-r - 1) : 0.0);
    if (margin > 0.0625) {
        return 0;
    }
    f->scale1 = (float)a;
    f->scale2 = (float)b;
    f->offset = (float)-(zp1 * a + zp2 * b);
    f->limit = (float)(0.5 - margin);
    return 1;
}
#endif

#if defined(AS_X86_AVX512)
typedef struct add_narrow_avx512 {
    __m512i high, low, round, negative;
    __m128i split, rest;
} add_narrow_avx512;

static AS_ALWAYS_INLINE add_narrow_avx512 add_narrow_avx512_init(const add_narrow *q)
{
    add_narrow_avx512 n;
    n.high = _mm512_set1_epi32(q->high);
    n.low = _mm512_set1_epi32(q->low);
    n.round = _mm512_set1_epi32(q->round);
    n.negative = _mm512_set1_epi32(q->negative);
    n.split = _mm_cvtsi32_si128(q->split);
    n.rest = _mm_cvtsi32_si128(q->rest);
    return n;
}

static AS_ALWAYS_INLINE __m512i add_narrow_avx512_apply(const add_narrow_avx512 *n, __m512i v)
{
    __m512i b = _mm512_add_epi32(_mm512_mullo_epi32(v, n->low), n->round);
    b = _mm512_add_epi32(b, _mm512_and_si512(_mm512_srai_epi32(v, 31), n->negative));
    return _mm512_sra_epi32(_mm512_add_epi32(_mm512_mullo_epi32(v, n->high), _mm512_sra_epi32(b, n->split)), n->rest);
}

/* The int8 add's exact integer arithmetic on 16 lanes (as_add_s8, and the fused add's epilogue in gemm_s8.c):
 * each input's MBQM (a plain shift for input 1 when it has the larger scale, add_narrow otherwise), their sum,
 * the output MBQM (folded when the shift allows). q1, q2: the plans of input 1 and 2 after the swap (input 1 is
 * the params' input 2 when swap). */
typedef struct add_exact_avx512 {
    int plain, folded;
    __m128i plain_count;
    add_narrow_avx512 v1, v2;
    __m512i zp1, zp2, zo, lo, hi; /* lo, hi: the output's clamp minus zo */
    as__rqf_avx512 fo;
    as__rq_avx512 qo;
} add_exact_avx512;

static inline void add_exact_avx512_init(add_exact_avx512 *e, const as_add_params_s8 *params, const add_narrow *q1,
                                         const add_narrow *q2, int swap)
{
    const __m512i om = _mm512_set1_epi32(params->output_multiplier), os = _mm512_set1_epi32(params->output_shift);
    const int32_t zo = params->output_zero_point;
    memset(&e->fo, 0, sizeof e->fo); /* set only when every lane's shift folds */
    e->plain = add_plain_shift(q1);
    e->plain_count = _mm_cvtsi32_si128(e->plain);
    e->v1 = add_narrow_avx512_init(q1);
    e->v2 = add_narrow_avx512_init(q2);
    e->zp1 = _mm512_set1_epi32(swap ? params->input2_zero_point : params->input1_zero_point);
    e->zp2 = _mm512_set1_epi32(swap ? params->input1_zero_point : params->input2_zero_point);
    e->zo = _mm512_set1_epi32(zo);
    e->lo = _mm512_set1_epi32(params->activation_min - zo);
    e->hi = _mm512_set1_epi32(params->activation_max - zo);
    e->folded = as__rqf_avx512_init(&e->fo, om, os);
    as__rq_avx512_init(&e->qo, om, os);
}

static AS_ALWAYS_INLINE __m512i add_exact_avx512_apply(const add_exact_avx512 *e, __m512i x1, __m512i x2)
{
    __m512i a = _mm512_sub_epi32(x1, e->zp1), b = _mm512_sub_epi32(x2, e->zp2);
    a = e->plain >= 0 ? _mm512_sll_epi32(a, e->plain_count) : add_narrow_avx512_apply(&e->v1, a);
    a = _mm512_add_epi32(a, add_narrow_avx512_apply(&e->v2, b));
    return e->folded ? as__rqf_avx512_apply(&e->fo, a) : as__rq_avx512_apply(&e->qo, a);
}

/* add_float on 16 lanes: x1, x2 the int8 inputs as int32. Returns round(w), the output MBQM before the zero
 * point, and sets *unsafe to the lanes whose w lies within the margin of a half-integer. vreduceps gives
 * w - round(w) in one instruction; both roundings are explicit (no dependence on MXCSR). */
typedef struct add_float_avx512 {
    __m512 scale1, scale2, offset, limit;
} add_float_avx512;

static AS_ALWAYS_INLINE add_float_avx512 add_float_avx512_init(const add_float *f)
{
    add_float_avx512 v;
    v.scale1 = _mm512_set1_ps(f->scale1);
    v.scale2 = _mm512_set1_ps(f->scale2);
    v.offset = _mm512_set1_ps(f->offset);
    v.limit = _mm512_set1_ps(f->limit);
    return v;
}

static AS_ALWAYS_INLINE __m512i add_float_avx512_apply(const add_float_avx512 *f, __m512i x1, __m512i x2,
                                                       __mmask16 *unsafe)
{
    const __m512 w = _mm512_fmadd_ps(_mm512_cvtepi32_ps(x1), f->scale1,
                                     _mm512_fmadd_ps(_mm512_cvtepi32_ps(x2), f->scale2, f->offset));
    const __m512 rest = _mm512_reduce_ps(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    *unsafe = _mm512_cmp_ps_mask(_mm512_abs_ps(rest), f->limit, _CMP_GT_OQ);
    return _mm512_cvt_roundps_epi32(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* Everything as_add_s8 and the fused add (gemm_s8.c) set up once per call. */
typedef struct add_prepared_avx512 {
    add_float_avx512 fast;
    add_exact_avx512 exact;
    int swap;   /* the arithmetic's input 1 is the params' input 2 (the plain-shift input first) */
    int floats; /* add_float covers the parameters */
} add_prepared_avx512;

/* 0 when add_narrow does not cover the inputs (input scales more than 2^20 apart, never seen in exported networks):
 * the reference arithmetic then runs */
static inline int add_prepare_avx512(const as_add_params_s8 *p, add_prepared_avx512 *a)
{
    add_narrow n1, n2;
    add_float f;
    if (!add_narrow_plan(p->input1_zero_point, p->input1_multiplier, p->input1_shift, p->left_shift, &n1) ||
        !add_narrow_plan(p->input2_zero_point, p->input2_multiplier, p->input2_shift, p->left_shift, &n2)) {
        return 0;
    }
    /* the sum is symmetric: input 1 is the plain-shift one when either is */
    a->swap = add_plain_shift(&n1) < 0 && add_plain_shift(&n2) >= 0;
    add_exact_avx512_init(&a->exact, p, a->swap ? &n2 : &n1, a->swap ? &n1 : &n2, a->swap);
    memset(&f, 0, sizeof f);
    a->floats = add_float_plan(p, a->swap, &f);
    a->fast = add_float_avx512_init(&f);
    return 1;
}

/* One block of the add, lanes m (at most 16): in1, in2 the arithmetic's inputs 1 and 2 (after the swap), the
 * result to y. fast (a constant at each call, set only when a->floats): add_float with the exact arithmetic for a
 * vector it leaves, else the exact arithmetic alone. */
static AS_ALWAYS_INLINE void add_block_avx512(const add_prepared_avx512 *a, const int fast, const int8_t *in1,
                                              const int8_t *in2, int8_t *y, __mmask16 m)
{
    const __m512i x1 = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in1));
    const __m512i x2 = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, in2));
    __mmask16 unsafe = m;
    __m512i v = _mm512_setzero_si512();
    if (fast) {
        v = add_float_avx512_apply(&a->fast, x1, x2, &unsafe);
    }
    if (unsafe & m) {
        v = add_exact_avx512_apply(&a->exact, x1, x2);
    }
    _mm_mask_storeu_epi8(y, m, _mm512_cvtepi32_epi8(as__output_avx512(v, a->exact.zo, a->exact.lo, a->exact.hi)));
}
#elif defined(AS_X86_AVX2)
typedef struct add_narrow_avx2 {
    __m256i high, low, round, negative;
    __m128i split, rest;
} add_narrow_avx2;

static AS_ALWAYS_INLINE add_narrow_avx2 add_narrow_avx2_init(const add_narrow *q)
{
    add_narrow_avx2 n;
    n.high = _mm256_set1_epi32(q->high);
    n.low = _mm256_set1_epi32(q->low);
    n.round = _mm256_set1_epi32(q->round);
    n.negative = _mm256_set1_epi32(q->negative);
    n.split = _mm_cvtsi32_si128(q->split);
    n.rest = _mm_cvtsi32_si128(q->rest);
    return n;
}

static AS_ALWAYS_INLINE __m256i add_narrow_avx2_apply(const add_narrow_avx2 *n, __m256i v)
{
    __m256i b = _mm256_add_epi32(_mm256_mullo_epi32(v, n->low), n->round);
    b = _mm256_add_epi32(b, _mm256_and_si256(_mm256_srai_epi32(v, 31), n->negative));
    return _mm256_sra_epi32(_mm256_add_epi32(_mm256_mullo_epi32(v, n->high), _mm256_sra_epi32(b, n->split)), n->rest);
}

/* add_float on 8 lanes (as add_float_avx512_apply); *unsafe: a lane bit mask (movemask). */
typedef struct add_float_avx2 {
    __m256 scale1, scale2, offset, limit;
} add_float_avx2;

static AS_ALWAYS_INLINE add_float_avx2 add_float_avx2_init(const add_float *f)
{
    add_float_avx2 v;
    v.scale1 = _mm256_set1_ps(f->scale1);
    v.scale2 = _mm256_set1_ps(f->scale2);
    v.offset = _mm256_set1_ps(f->offset);
    v.limit = _mm256_set1_ps(f->limit);
    return v;
}

static AS_ALWAYS_INLINE __m256i add_float_avx2_apply(const add_float_avx2 *f, __m256i x1, __m256i x2, int *unsafe)
{
    const __m256 w = _mm256_fmadd_ps(_mm256_cvtepi32_ps(x1), f->scale1,
                                     _mm256_fmadd_ps(_mm256_cvtepi32_ps(x2), f->scale2, f->offset));
    const __m256 whole = _mm256_round_ps(w, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 rest = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(w, whole));
    *unsafe = _mm256_movemask_ps(_mm256_cmp_ps(rest, f->limit, _CMP_GT_OQ));
    return _mm256_cvtps_epi32(whole); /* whole is an integer: exact in any rounding mode */
}

#endif

#if defined(AS_ARM_NEON)

/* left = max(shift, 0); neg_right = min(shift, 0) (a negative vrshl count shifts right). */
static AS_ALWAYS_INLINE int32x4_t as__mbqm_neon(int32x4_t x, int32x4_t multiplier, int32x4_t left,
                                                int32x4_t neg_right)
{
    int32x4_t fixup;
    x = vqshlq_s32(x, left);
    x = vqrdmulhq_s32(x, multiplier);
    /* -1 for negative x when shifting right, so vrshl's round-half-up becomes half-away-from-zero */
    fixup = vshrq_n_s32(vandq_s32(x, neg_right), 31);
    x = vqaddq_s32(x, fixup);
    return vrshlq_s32(x, neg_right);
}

/* 16 int32 lanes -> 16 int8: saturating add of zp, narrow, clamp. */
static AS_ALWAYS_INLINE int8x16_t as__output16_neon(int32x4_t v0, int32x4_t v1, int32x4_t v2, int32x4_t v3,
                                                   int32x4_t zero_point, int8x16_t lo, int8x16_t hi)
{
    const int16x8_t a = vcombine_s16(vqmovn_s32(vqaddq_s32(v0, zero_point)),
                                     vqmovn_s32(vqaddq_s32(v1, zero_point)));
    const int16x8_t b = vcombine_s16(vqmovn_s32(vqaddq_s32(v2, zero_point)),
                                     vqmovn_s32(vqaddq_s32(v3, zero_point)));
    const int8x16_t r = vcombine_s8(vqmovn_s16(a), vqmovn_s16(b));
    return vminq_s8(vmaxq_s8(r, lo), hi);
}

#endif /* AS_ARM_NEON */

#endif /* AUTOSHRINK_SIMD_REQUANT_H */
