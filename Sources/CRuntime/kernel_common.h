/*
 * kernel_common.h - private to the runtime: compile-time path selection, the scalar fixed-point
 * arithmetic every int8 kernel shares, and the internal GEMM engines behind the convolutions.
 *
 * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K*K*C_in,
 * R4 = ceil(R / 4), P = output pixels of one GEMM tile.
 */
#ifndef AUTOSHRINK_KERNEL_COMMON_H
#define AUTOSHRINK_KERNEL_COMMON_H

#include "autoshrink_runtime.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/* ---- path selection ---------------------------------------------------------------------------- */

#if !defined(AUTOSHRINK_PORTABLE)
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define AS_X86_AVX512 1
#if defined(__AVX512VNNI__)
#define AS_X86_AVX512_VNNI 1
#endif
#endif
#if defined(__AVX2__) && defined(__FMA__)
#define AS_X86_AVX2 1
#if defined(__AVXVNNI__)
#define AS_X86_AVXVNNI 1 /* vpdpbusd on ymm (VEX), e.g. -march=x86-64-v3 -mavxvnni, alderlake */
#endif
#endif
/* AS_ARM_NEON: the hand-written NEON kernels, on aarch64 and on armv7 with NEON and fused multiply-add
 * (-mfpu=neon-vfpv4 or neon-fp-armv8, every Cortex-A7 and later); AS_ARM_V7 marks the 32-bit build, where the
 * few aarch64-only intrinsics they use are composed from armv7 ones (below). */
#if (defined(__aarch64__) && defined(__ARM_NEON)) || \
    (defined(__arm__) && defined(__ARM_NEON) && defined(__ARM_FEATURE_FMA))
#define AS_ARM_NEON 1
#if defined(__arm__)
#define AS_ARM_V7 1
#endif
#if defined(__ARM_FEATURE_DOTPROD)
#define AS_ARM_DOTPROD 1
/* AS_ARM_I8MM: smmla (int8 2x8 by 8x2 matrix multiply-accumulate, Armv8.6 / Armv9 cores: Cortex-A510/A710/A715/
 * A720, Neoverse N2/V1/V2) for the GEMM tiles of two or more rows; only with dotprod, whose sdot tile serves the
 * odd row (every core with i8mm has dotprod). */
#if defined(__aarch64__) && defined(__ARM_FEATURE_MATMUL_INT8)
#define AS_ARM_I8MM 1
#endif
#endif
#endif
#endif

#if defined(AS_X86_AVX512) || defined(AS_X86_AVX2)
#include <immintrin.h>
#endif
#if defined(AS_ARM_NEON)
#include <arm_neon.h>
#endif
#if defined(AS_ARM_V7)
/* aarch64-only intrinsics, from armv7 ones with the same results */
static inline int32x4_t as__vpaddq_s32(int32x4_t a, int32x4_t b)
{
    return vcombine_s32(vpadd_s32(vget_low_s32(a), vget_high_s32(a)), vpadd_s32(vget_low_s32(b), vget_high_s32(b)));
}
#define vpaddq_s32(a, b) as__vpaddq_s32(a, b)
#define vfmaq_n_f32(a, b, n) vfmaq_f32(a, b, vdupq_n_f32(n))
#define vfmaq_laneq_f32(a, b, v, lane) vfmaq_f32(a, b, vdupq_n_f32(vgetq_lane_f32(v, lane)))
#endif

#if defined(__GNUC__)
#define AS_ALWAYS_INLINE __attribute__((always_inline)) inline
#define AS_ALIGN64 __attribute__((aligned(64)))
/* one out-of-line copy: gcc would otherwise clone a kernel per constant argument (.constprop) or inline
 * it into several callers, duplicating kilobytes of unrolled code for no measured gain (docs/benchmarks.md) */
#if defined(__clang__)
#define AS_NOINLINE __attribute__((noinline))
#else
#define AS_NOINLINE __attribute__((noinline, noclone))
#endif
#else
#define AS_ALWAYS_INLINE inline
#define AS_ALIGN64
#define AS_NOINLINE
#endif

/* plain loops for code that hardly runs (channel tails, per-call set-up next to hand-written SIMD):
 * gcc's auto-vectorized copies of such loops cost kilobytes of .text for nothing (docs/benchmarks.md) */
#if defined(__GNUC__) && !defined(__clang__)
#define AS_NO_VECTORIZE __attribute__((optimize("no-tree-vectorize")))
#else
#define AS_NO_VECTORIZE
#endif

#if defined(AS_X86_AVX512_VNNI) && defined(__GNUC__)
/* acc + the dot products of a's unsigned and b's signed byte quads (vpdpbusd), accumulating in place. gcc 12 copied
 * the accumulators of the 4-row VNNI tiles into other registers and back around every _mm512_dpbusd_epi32 (16
 * moves per 8 dot products, the tile's loop latency-bound on the chain); with the accumulator as an in-out asm
 * operand it does not, and the int8 GEMM tiles run 17-23 % faster (docs/benchmarks.md, "VNNI accumulators"). */
static AS_ALWAYS_INLINE __m512i as__dpbusd512(__m512i acc, __m512i a, __m512i b)
{
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
    return acc;
}
#elif defined(AS_X86_AVX512_VNNI)
#define as__dpbusd512(acc, a, b) _mm512_dpbusd_epi32(acc, a, b)
#endif

#if defined(AS_X86_AVX512)
/* the first min(n, 16) lanes, n >= 0: the mask of a 16-lane block with n elements left (a masked last block) */
static AS_ALWAYS_INLINE __mmask16 as__lanes16(int n)
{
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}
#endif

/* ---- scalar fixed-point arithmetic (gemmlowp definitions) ------------------------------------- */

/* round(a * b / 2^31) with halves rounded up, computed as gemmlowp does: (ab + nudge) / 2^31 with
 * truncating division, nudge = 2^30 for ab >= 0 and 1 - 2^30 otherwise. The only overflow,
 * INT32_MIN * INT32_MIN, saturates. */
static inline int32_t as__srdhm(int32_t a, int32_t b)
{
    int64_t ab, nudge;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest with halves away from zero (exponent 0..31). The floor division
 * is done exactly in 64 bits instead of relying on >> of negative values. */
static inline int32_t as__rdbpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    const int32_t floor_div = (int32_t)(((int64_t)x - remainder) / ((int64_t)1 << exponent));
    return floor_div + (remainder > threshold ? 1 : 0);
}

/* MBQM(x, m, s): saturating x * 2^max(s,0), then SRDHM by m, then RDBPOT by max(-s,0). */
static inline int32_t as__mbqm(int32_t x, int32_t multiplier, int shift)
{
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    int64_t shifted = (int64_t)x * ((int64_t)1 << left);
    if (shifted > INT32_MAX) {
        shifted = INT32_MAX;
    } else if (shifted < INT32_MIN) {
        shifted = INT32_MIN;
    }
    return as__rdbpot(as__srdhm((int32_t)shifted, multiplier), right);
}

/* clamp(zp + value, lo, hi) without int32 overflow. */
static inline int8_t as__output_s8(int32_t value, int32_t zero_point, int32_t lo, int32_t hi)
{
    int64_t v = (int64_t)value + zero_point;
    if (v < lo) {
        v = lo;
    }
    if (v > hi) {
        v = hi;
    }
    return (int8_t)v;
}

static inline float as__activate_f32(float v, as_activation activation)
{
    if (activation == AS_ACTIVATION_NONE) {
        return v;
    }
    v = v > 0.0f ? v : 0.0f;
    if (activation == AS_ACTIVATION_RELU6 && v > 6.0f) {
        v = 6.0f;
    }
    return v;
}

/* Clamp bounds of a float activation; NONE gives (-FLT_MAX, FLT_MAX). */
void as__activation_bounds_f32(as_activation activation, float *lo, float *hi);

/* ---- internal engines -------------------------------------------------------------------------- */

/* Geometry of a convolution lowered to a GEMM: output pixel (y, x) reads the K x K window at input
 * (y*stride - padding, x*stride - padding); pointwise convs and FC are K = 1, padding 0. */
typedef struct as__conv_shape {
    int in_height, in_width, in_channels, in_pixel_stride;
    int kernel_size, stride, padding;
    int out_height, out_width, out_channels, out_pixel_stride;
} as__conv_shape;

/* output [H_out][W_out][C_out] = act(bias + conv(input, weights [R][C_out])). */
void as__conv_gemm_f32(const as__conv_shape *shape, const float *input, const float *weights,
                       const float *bias, as_activation activation, float *output);

/* Output rows [row_begin, row_end) of as_depthwise_conv3x3_s8 (the same values), written from `output` on as rows
 * 0 .. row_end - row_begin - 1; as_depthwise_conv3x3_s8 is rows [0, H_out). */
void as__depthwise_conv3x3_s8_rows(const int8_t *input, int in_height, int in_width, int channels, int in_pixel_stride,
                                   int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int stride,
                                   const as_requant_s8 *requant, int row_begin, int row_end, int8_t *output,
                                   int out_pixel_stride);

/* output = requant(bias + conv(input - zp, weights [R4][C_out][4])). */
void as__conv_gemm_s8(const as__conv_shape *shape, const int8_t *input, int32_t input_zero_point,
                      const int8_t *weights, const int32_t *bias, const as_requant_s8 *requant,
                      int8_t *output);

/* The int8 add fused into a convolution's epilogue (as_pointwise_conv_add_s8, docs/benchmarks.md "fused add"):
 * the conv's int8 value y[p][o] (its own requantization, exactly as as__conv_gemm_s8 writes it) is the add's input
 * 1 and other[p][o] its input 2; output[p][o] = the as_add_s8 arithmetic of the two. apply() adds conv rows
 * y = tile + i * tile_stride (channels oc0..oc0 + count) of the consecutive output pixels first..first + rows - 1
 * (a batch of up to 32 pixels, or what an AVX2 register epilogue left); it is a pointer so that networks without a
 * fused add link none of it. plan: the AVX2 epilogue's constants (gemm_s8.c, fused_add), set by
 * as__conv_gemm_add_s8. */
typedef struct as__gemm_add as__gemm_add;
struct as__gemm_add {
    void (*apply)(const as__gemm_add *add, const int8_t *tile, int tile_stride, int first, int rows, int oc0,
                  int count);
    const int8_t *other;
    int other_pixel_stride;
    const as_add_params_s8 *params;
    int8_t *output;
    int out_pixel_stride;
    const void *plan; /* the tier's prepared add constants (add.c), or NULL */
};

/* as__conv_gemm_s8 whose output goes through `add` (to add->output) instead of to an output tensor. */
/* (pointwise convolutions: KxK ones run, correctly, without the padded copy) */
void as__conv_gemm_add_s8(const as__conv_shape *shape, const int8_t *input, int32_t input_zero_point,
                          const int8_t *weights, const int32_t *bias, const as_requant_s8 *requant,
                          const as__gemm_add *add);

/* as__gemm_add.apply of the runtime's add (add.c): as_add_s8 over the tile's rows. */
void as__gemm_add_apply(const as__gemm_add *add, const int8_t *tile, int tile_stride, int first, int rows, int oc0,
                        int count);

/* One element of TFLite ADD (as_add_s8_ref): the int8 sum of quantized a (input 1) and b (input 2). */
static inline int8_t as__add_element_s8(int32_t a, int32_t b, const as_add_params_s8 *params)
{
    const int32_t scale_up = (int32_t)1 << params->left_shift;
    const int32_t sum = as__mbqm((a - params->input1_zero_point) * scale_up, params->input1_multiplier, params->input1_shift) +
                        as__mbqm((b - params->input2_zero_point) * scale_up, params->input2_multiplier, params->input2_shift);
    return as__output_s8(as__mbqm(sum, params->output_multiplier, params->output_shift), params->output_zero_point,
                         params->activation_min, params->activation_max);
}

/* out[i] = clamp(zp + MBQM(acc[i], m_i, s_i), lo, hi) for i < count, with (m_i, s_i) = (multiplier[i],
 * shift[i]) when per_channel, else (multiplier[0], shift[0]). acc, out: [count]. */
void as__requant_row_s8(const int32_t *acc, int count, const int32_t *multiplier, const int32_t *shift,
                        int per_channel, int32_t zero_point, int32_t lo, int32_t hi, int8_t *out);

/* The same for a tile: out[p * out_stride + o] from acc[p * acc_stride + o], per-channel (m[o], s[o]),
 * p < rows, o < count. */
void as__requant_tile_s8(const int32_t *acc, int rows, int acc_stride, int count, const int32_t *multiplier,
                         const int32_t *shift, int32_t zero_point, int32_t lo, int32_t hi, int8_t *out,
                         size_t out_stride);

/* The same with one output pointer per row: out[p][o]. */
void as__requant_rows_s8(const int32_t *acc, int rows, int acc_stride, int count, const int32_t *multiplier,
                         const int32_t *shift, int32_t zero_point, int32_t lo, int32_t hi, int8_t *const *out);

/* out[i] = MBQM(x[i], multiplier, shift) (one multiplier for the row); in place allowed. x, out: [count]. */
void as__mbqm_row(const int32_t *x, int count, int32_t multiplier, int shift, int32_t *out);

#endif /* AUTOSHRINK_KERNEL_COMMON_H */
