/*
 * autoshrink_runtime.h - the C99 inference kernels of autoshrink.
 *
 * One copy of these kernels is used by the device profiler harness and copied verbatim into every
 * generated export (runtime/), so a profile measures exactly the code that ships. C99 + libc only,
 * no malloc, no global mutable state; every kernel is a pure function of its arguments.
 *
 * Every operator comes as a pair: `as_<op>_<dtype>_ref` is the plain reference (the test oracle) and
 * `as_<op>_<dtype>` is the optimized twin. int8 twins are bit-exact (integer arithmetic only);
 * float twins may differ by rounding (summation order, FMA contraction).
 *
 * Layout letters (used in every shape comment below):
 *   H = height, W = width, C = channels (C_in / C_out), K = kernel size,
 *   R = reduction length of a convolution = K * K * C_in, R4 = ceil(R / 4).
 *
 * Activations are NHWC with batch 1 (the deployment case), i.e. a tensor is [H][W][C]:
 *   - a pointwise (1x1) convolution is then a GEMM over pixels whose reduction runs along contiguous
 *     channels, and a full KxK convolution is the same GEMM over an im2col row built from K*K
 *     contiguous channel runs;
 *   - a depthwise convolution vectorises across channels (each tap is one contiguous channel row);
 *   - int8 dot products (x86 VNNI vpdpbusd, Arm sdot) consume 4 consecutive reduction values, which
 *     are contiguous channels.
 * Every kernel takes a pixel stride (in elements, >= the channel count) for its input and output:
 * pixel (y, x) starts at base + (y * W + x) * pixel_stride. That makes channel concat free: a producer
 * writes into a channel slice of a wider concat buffer (output pointer advanced by the channel offset,
 * output pixel stride = total concat channels) and a consumer reads a slice the same way. Channels
 * beyond the written slice are never touched.
 *
 * Weight layouts (all chosen so that the optimized kernels need no repacking at run time):
 *   float conv KxK         [K][K][C_in][C_out]          (reduction index r = (ky*K + kx)*C_in + ci)
 *   float pointwise / FC   [C_in][C_out]
 *   int8  conv / pw / FC   [R4][C_out][4]                element (r, o) at ((r/4)*C_out + o)*4 + r%4;
 *                                                       entries with r >= R are ignored (write 0)
 *   depthwise 3x3 (both)   [3][3][C]
 * as_pack_weights_f32 / as_pack_weights_s8 convert from the natural [C_out][R] ("OHWI") order.
 *
 * int8 scheme (TFLite): real = scale * (q - zero_point). Weights are symmetric per output channel
 * (zero point 0, range [-127, 127]); activations asymmetric per tensor; bias int32 with scale
 * s_in * s_w[c]. An int32 accumulator is requantized with a Q0.31 multiplier and a power-of-two
 * shift: out = clamp(zp_out + MBQM(acc, multiplier, shift), act_min, act_max), where
 * MBQM(x, m, s) = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2^max(s,0), m), max(-s,0))
 * as gemmlowp defines them (the left shift saturates to int32 here; TFLite leaves overflow undefined).
 * Accumulation is exact in int32 for R <= 65536.
 *
 * Optimized paths are chosen at compile time from the target flags (e.g. -march=native,
 * -mcpu=cortex-a76): x86 AVX-512 (F/BW/VL/DQ; VNNI for the int8 GEMMs), x86 AVX2+FMA, aarch64 NEON
 * (sdot with __ARM_FEATURE_DOTPROD; smmla GEMM tiles when __ARM_FEATURE_MATMUL_INT8 too), armv7 NEON with
 * FMA, otherwise portable C loops written for the auto-vectoriser (x86-64 baseline builds, armv7 without
 * NEON/FMA). Define AUTOSHRINK_PORTABLE to force the portable C paths.
 * Optimized kernels use bounded stack scratch (at most about 52 KiB for the deepest call chain) and
 * are thread-safe: no static mutable data anywhere.
 */
#ifndef AUTOSHRINK_RUNTIME_H
#define AUTOSHRINK_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the kernel sources; bumped whenever numerics or layouts change. */
#define AUTOSHRINK_RUNTIME_VERSION "1"

/** Fixed left shift applied to both inputs of the int8 add (TFLite ADD). */
#define AS_ADD_LEFT_SHIFT 20

/** Bytes of an int8 weight tensor in the [R4][C_out][4] layout. */
#define AS_WEIGHTS_S8_BYTES(reduction, out_channels) \
    ((size_t)(((reduction) + 3) / 4) * (size_t)(out_channels) * 4u)

/** Activation fused into a convolution, FC or add. */
typedef enum as_activation {
    AS_ACTIVATION_NONE = 0,  /**< identity */
    AS_ACTIVATION_RELU = 1,  /**< max(x, 0) */
    AS_ACTIVATION_RELU6 = 2  /**< min(max(x, 0), 6) */
} as_activation;

/** Output stage of an int8 conv / FC: per-output-channel requantization, then a clamp. */
typedef struct as_requant_s8 {
    const int32_t *multiplier; /**< [C_out] Q0.31 multipliers (as_quantize_multiplier) */
    const int32_t *shift;      /**< [C_out] exponents in [-31, 30]; real = multiplier * 2^(shift-31) */
    int32_t output_zero_point; /**< zero point of the output tensor */
    int32_t activation_min;    /**< inclusive clamp in the quantized domain, >= -128 */
    int32_t activation_max;    /**< inclusive clamp in the quantized domain, <= 127 */
} as_requant_s8;

/** Parameters of the int8 elementwise add (TFLite ADD); fill with as_add_params_s8_init. */
typedef struct as_add_params_s8 {
    int32_t input1_zero_point;
    int32_t input2_zero_point;
    int32_t output_zero_point;
    int32_t left_shift;        /**< AS_ADD_LEFT_SHIFT */
    int32_t input1_multiplier; /**< s1 / (2 max(s1, s2)) as Q0.31 */
    int32_t input1_shift;      /**< <= 0 */
    int32_t input2_multiplier; /**< s2 / (2 max(s1, s2)) as Q0.31 */
    int32_t input2_shift;      /**< <= 0 */
    int32_t output_multiplier; /**< 2 max(s1, s2) / (2^left_shift * s_out) as Q0.31 */
    int32_t output_shift;
    int32_t activation_min;
    int32_t activation_max;
} as_add_params_s8;

/* ------------------------------------------------------------------------------------------------ */
/* Shapes, layouts, build information                                                               */
/* ------------------------------------------------------------------------------------------------ */

/** Output size of a KxK convolution with padding K/2: (in + 2*(K/2) - K) / stride + 1. */
int as_conv_output_size(int in_size, int kernel_size, int stride);

/** Output size of the 2x2 stride-2 max-pool (floor(in / 2)). */
int as_pool_output_size(int in_size);

/** Converts float weights [C_out][R] to the float GEMM layout [R][C_out]. */
void as_pack_weights_f32(const float *weights_oi, int out_channels, int reduction, float *packed);

/** Converts int8 weights [C_out][R] to the int8 GEMM layout [R4][C_out][4] (padding entries 0). */
void as_pack_weights_s8(const int8_t *weights_oi, int out_channels, int reduction, int8_t *packed);

/** Name of the compiled-in optimized path, e.g. "x86-avx512-vnni", "aarch64-neon-dotprod". */
const char *as_runtime_simd_path(void);

/**
 * The SIMD tier of this build for people (simd_tier.c): "x86 AVX-512 VNNI", "x86 AVX-512",
 * "x86 AVX2", "aarch64 NEON dotprod", "aarch64 NEON", "armv7 NEON" (NEON with FMA: the aarch64 NEON kernels),
 * or for builds on the portable C loops "armv7 NEON without FMA (portable C)", "armv7 scalar (portable C)", "x86-64 (portable C)",
 * "aarch64 (portable C)", "scalar (portable C)".
 */
const char *as_simd_tier(void);

/** Monotonic clock in nanoseconds (CLOCK_MONOTONIC), for benchmark harnesses (timing.c). */
uint64_t as_time_ns(void);

/* ------------------------------------------------------------------------------------------------ */
/* Quantization helpers (requantize.c)                                                              */
/* ------------------------------------------------------------------------------------------------ */

/**
 * Splits a real multiplier into a Q0.31 multiplier in [2^30, 2^31) and an exponent such that
 * real ~= multiplier * 2^(shift - 31). real <= 0, not finite or below 2^-32 gives (0, 0); reals
 * >= 2^30 saturate to (2^31 - 1, 30). Rounding of the mantissa is half away from zero.
 */
void as_quantize_multiplier(double real_multiplier, int32_t *multiplier, int *shift);

/** gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31), INT32_MIN * INT32_MIN -> INT32_MAX. */
int32_t as_saturating_rounding_doubling_high_mul(int32_t a, int32_t b);

/** gemmlowp RoundingDivideByPOT: x / 2^exponent rounded to nearest, halves away from zero; exponent 0..31. */
int32_t as_rounding_divide_by_pot(int32_t x, int exponent);

/** MBQM(x, multiplier, shift) as defined above (saturating left shift for shift > 0). */
int32_t as_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift);

/** Full output stage for one value: clamp(zp + MBQM(acc, multiplier, shift), act_min, act_max). */
int8_t as_requantize_value(int32_t accumulator, int32_t multiplier, int shift, int32_t output_zero_point,
                           int32_t activation_min, int32_t activation_max);

/** Quantized clamp range of an activation for an output tensor (scale, zero point), like TFLite. */
void as_activation_range_s8(as_activation activation, float output_scale, int32_t output_zero_point,
                            int32_t *activation_min, int32_t *activation_max);

/** Fills the int8 add parameters from the three tensors' quantization and the activation. */
void as_add_params_s8_init(float input1_scale, int32_t input1_zero_point, float input2_scale,
                           int32_t input2_zero_point, float output_scale, int32_t output_zero_point,
                           as_activation activation, as_add_params_s8 *params);

/** q = clamp(round_half_away(x / scale) + zp, -128, 127); NaN maps to zp. x, q: [count]. */
void as_quantize_s8(const float *input, size_t count, float scale, int32_t zero_point, int8_t *output);

/** x = scale * (q - zp). q, x: [count]. */
void as_dequantize_s8(const int8_t *input, size_t count, float scale, int32_t zero_point, float *output);

/* ------------------------------------------------------------------------------------------------ */
/* 1. Full KxK convolution, padding K/2, groups 1 (conv2d.c)                                         */
/*    input [H][W][C_in] (pixel stride in_pixel_stride), output [H_out][W_out][C_out] with           */
/*    H_out = as_conv_output_size(H, K, stride) (same for W), bias [C_out] or NULL.                  */
/* ------------------------------------------------------------------------------------------------ */

/** Float conv KxK; weights [K][K][C_in][C_out]. */
void as_conv2d_f32(const float *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                   const float *weights, const float *bias, int kernel_size, int stride, int out_channels,
                   as_activation activation, float *output, int out_pixel_stride);
void as_conv2d_f32_ref(const float *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                       const float *weights, const float *bias, int kernel_size, int stride, int out_channels,
                       as_activation activation, float *output, int out_pixel_stride);

/** int8 conv KxK; weights [R4][C_out][4] with R = K*K*C_in; padding reads as input_zero_point. */
void as_conv2d_s8(const int8_t *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                  int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int kernel_size,
                  int stride, int out_channels, const as_requant_s8 *requant, int8_t *output,
                  int out_pixel_stride);
void as_conv2d_s8_ref(const int8_t *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                      int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int kernel_size,
                      int stride, int out_channels, const as_requant_s8 *requant, int8_t *output,
                      int out_pixel_stride);

/* ------------------------------------------------------------------------------------------------ */
/* 2. Depthwise 3x3, stride 1 or 2, padding 1 (depthwise_conv2d.c)                                   */
/*    input [H][W][C], output [H_out][W_out][C] with H_out = as_conv_output_size(H, 3, stride),      */
/*    weights [3][3][C], bias [C] or NULL.                                                           */
/* ------------------------------------------------------------------------------------------------ */

void as_depthwise_conv3x3_f32(const float *input, int in_height, int in_width, int channels,
                              int in_pixel_stride, const float *weights, const float *bias, int stride,
                              as_activation activation, float *output, int out_pixel_stride);
void as_depthwise_conv3x3_f32_ref(const float *input, int in_height, int in_width, int channels,
                                  int in_pixel_stride, const float *weights, const float *bias, int stride,
                                  as_activation activation, float *output, int out_pixel_stride);

/** requant->multiplier / shift are per channel [C]. */
void as_depthwise_conv3x3_s8(const int8_t *input, int in_height, int in_width, int channels,
                             int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                             const int32_t *bias, int stride, const as_requant_s8 *requant, int8_t *output,
                             int out_pixel_stride);
void as_depthwise_conv3x3_s8_ref(const int8_t *input, int in_height, int in_width, int channels,
                                 int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                                 const int32_t *bias, int stride, const as_requant_s8 *requant,
                                 int8_t *output, int out_pixel_stride);

/* ------------------------------------------------------------------------------------------------ */
/* 3. Pointwise 1x1 convolution, stride 1 or 2, no padding (pointwise_conv2d.c)                      */
/*    input [H][W][C_in], output [H_out][W_out][C_out] with H_out = (H - 1) / stride + 1             */
/*    (= as_conv_output_size(H, 1, stride)); output pixel (y, x) reads input pixel (y*s, x*s).       */
/* ------------------------------------------------------------------------------------------------ */

/** Float pointwise conv; weights [C_in][C_out]. */
void as_pointwise_conv_f32(const float *input, int in_height, int in_width, int in_channels,
                           int in_pixel_stride, const float *weights, const float *bias, int stride,
                           int out_channels, as_activation activation, float *output, int out_pixel_stride);
void as_pointwise_conv_f32_ref(const float *input, int in_height, int in_width, int in_channels,
                               int in_pixel_stride, const float *weights, const float *bias, int stride,
                               int out_channels, as_activation activation, float *output,
                               int out_pixel_stride);

/** int8 pointwise conv; weights [ceil(C_in/4)][C_out][4]. */
void as_pointwise_conv_s8(const int8_t *input, int in_height, int in_width, int in_channels,
                          int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                          const int32_t *bias, int stride, int out_channels, const as_requant_s8 *requant,
                          int8_t *output, int out_pixel_stride);
void as_pointwise_conv_s8_ref(const int8_t *input, int in_height, int in_width, int in_channels,
                              int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                              const int32_t *bias, int stride, int out_channels,
                              const as_requant_s8 *requant, int8_t *output, int out_pixel_stride);

/**
 * int8 pointwise conv with an add fused into its epilogue: output = as_add_s8(y, other) where y is what
 * as_pointwise_conv_s8 would write (its own requant, kept in registers or a stack tile, never stored as a
 * tensor). `add` is the add's parameters with y as input 1 (input1_zero_point = requant->output_zero_point) and
 * `other` [H_out][W_out][C_out] as input 2. Bit-exact with the two calls (docs/benchmarks.md, "fused add").
 * output may be `other` itself (same pixel stride; in place), never the conv's input.
 */
void as_pointwise_conv_add_s8(const int8_t *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                              int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int stride,
                              int out_channels, const as_requant_s8 *requant, const int8_t *other,
                              int other_pixel_stride, const as_add_params_s8 *add, int8_t *output,
                              int out_pixel_stride);
void as_pointwise_conv_add_s8_ref(const int8_t *input, int in_height, int in_width, int in_channels,
                                  int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                                  const int32_t *bias, int stride, int out_channels, const as_requant_s8 *requant,
                                  const int8_t *other, int other_pixel_stride, const as_add_params_s8 *add,
                                  int8_t *output, int out_pixel_stride);

/* ------------------------------------------------------------------------------------------------ */
/* 4. Max-pool 2x2 stride 2 (pooling.c)                                                              */
/*    input [H][W][C], output [H/2][W/2][C] (floor; a trailing odd row/column is dropped).           */
/*    int8 requires the same quantization for input and output (it only selects values).            */
/* ------------------------------------------------------------------------------------------------ */

void as_max_pool2x2_f32(const float *input, int in_height, int in_width, int channels, int in_pixel_stride,
                        float *output, int out_pixel_stride);
void as_max_pool2x2_f32_ref(const float *input, int in_height, int in_width, int channels,
                            int in_pixel_stride, float *output, int out_pixel_stride);
void as_max_pool2x2_s8(const int8_t *input, int in_height, int in_width, int channels, int in_pixel_stride,
                       int8_t *output, int out_pixel_stride);
void as_max_pool2x2_s8_ref(const int8_t *input, int in_height, int in_width, int channels,
                           int in_pixel_stride, int8_t *output, int out_pixel_stride);

/* ------------------------------------------------------------------------------------------------ */
/* 5. Channel copy / concat (concat.c)                                                               */
/*    Copies [H][W][C] from a pixel-strided source to a pixel-strided destination (a concat slice).  */
/* ------------------------------------------------------------------------------------------------ */

void as_copy_channels_f32(const float *input, int height, int width, int channels, int in_pixel_stride,
                          float *output, int out_pixel_stride);
void as_copy_channels_f32_ref(const float *input, int height, int width, int channels, int in_pixel_stride,
                              float *output, int out_pixel_stride);
void as_copy_channels_s8(const int8_t *input, int height, int width, int channels, int in_pixel_stride,
                         int8_t *output, int out_pixel_stride);
void as_copy_channels_s8_ref(const int8_t *input, int height, int width, int channels, int in_pixel_stride,
                             int8_t *output, int out_pixel_stride);

/**
 * Concat of `count` tensors [H][W][C_i] (C_i = channels[i], pixel strides pixel_strides[i]) into
 * output [H][W][sum C_i] with pixel stride out_pixel_stride, in order. int8 inputs must share the
 * output quantization (otherwise use as_requantize_s8 into the slice).
 */
void as_concat_channels_f32(const float *const *inputs, const int *channels, const int *pixel_strides,
                            int count, int height, int width, float *output, int out_pixel_stride);
void as_concat_channels_s8(const int8_t *const *inputs, const int *channels, const int *pixel_strides,
                           int count, int height, int width, int8_t *output, int out_pixel_stride);

/**
 * Copy with requantization (for concat inputs of another quantization):
 * out = clamp(output_zp + MBQM(q - input_zp, multiplier, shift), -128, 127), multiplier from s_in / s_out.
 */
void as_requantize_s8(const int8_t *input, int height, int width, int channels, int in_pixel_stride,
                      int32_t input_zero_point, int32_t multiplier, int shift, int32_t output_zero_point,
                      int8_t *output, int out_pixel_stride);
void as_requantize_s8_ref(const int8_t *input, int height, int width, int channels, int in_pixel_stride,
                          int32_t input_zero_point, int32_t multiplier, int shift, int32_t output_zero_point,
                          int8_t *output, int out_pixel_stride);

/* ------------------------------------------------------------------------------------------------ */
/* 6. Elementwise add (add.c): out = act(a + b), all three [H][W][C] with their own pixel strides.  */
/*    int8: TFLite ADD - both inputs shifted left by 20, rescaled to a common scale, summed, then   */
/*    rescaled to the output scale.                                                                  */
/* ------------------------------------------------------------------------------------------------ */

void as_add_f32(const float *input1, int in1_pixel_stride, const float *input2, int in2_pixel_stride,
                int height, int width, int channels, as_activation activation, float *output,
                int out_pixel_stride);
void as_add_f32_ref(const float *input1, int in1_pixel_stride, const float *input2, int in2_pixel_stride,
                    int height, int width, int channels, as_activation activation, float *output,
                    int out_pixel_stride);
void as_add_s8(const int8_t *input1, int in1_pixel_stride, const int8_t *input2, int in2_pixel_stride,
               int height, int width, int channels, const as_add_params_s8 *params, int8_t *output,
               int out_pixel_stride);
void as_add_s8_ref(const int8_t *input1, int in1_pixel_stride, const int8_t *input2, int in2_pixel_stride,
                   int height, int width, int channels, const as_add_params_s8 *params, int8_t *output,
                   int out_pixel_stride);

/* ------------------------------------------------------------------------------------------------ */
/* 7. Global average pool (pooling.c): input [H][W][C] -> output [C].                               */
/*    int8: out = clamp(output_zp + MBQM(sum(q - input_zp), multiplier, shift), -128, 127) with the  */
/*    multiplier quantized from s_in / (s_out * H * W).                                              */
/* ------------------------------------------------------------------------------------------------ */

void as_global_avg_pool_f32(const float *input, int height, int width, int channels, int in_pixel_stride,
                            float *output);
void as_global_avg_pool_f32_ref(const float *input, int height, int width, int channels,
                                int in_pixel_stride, float *output);
void as_global_avg_pool_s8(const int8_t *input, int height, int width, int channels, int in_pixel_stride,
                           int32_t input_zero_point, int32_t multiplier, int shift,
                           int32_t output_zero_point, int8_t *output);
void as_global_avg_pool_s8_ref(const int8_t *input, int height, int width, int channels,
                               int in_pixel_stride, int32_t input_zero_point, int32_t multiplier, int shift,
                               int32_t output_zero_point, int8_t *output);

/* ------------------------------------------------------------------------------------------------ */
/* 8. Fully connected (fully_connected.c): input [C_in] -> output [C_out], bias [C_out] or NULL.    */
/* ------------------------------------------------------------------------------------------------ */

/** Float FC; weights [C_in][C_out]. */
void as_fully_connected_f32(const float *input, int in_channels, const float *weights, const float *bias,
                            int out_channels, as_activation activation, float *output);
void as_fully_connected_f32_ref(const float *input, int in_channels, const float *weights, const float *bias,
                                int out_channels, as_activation activation, float *output);

/** int8 FC; weights [ceil(C_in/4)][C_out][4], per-output-channel requantization like a conv. */
void as_fully_connected_s8(const int8_t *input, int in_channels, int32_t input_zero_point,
                           const int8_t *weights, const int32_t *bias, int out_channels,
                           const as_requant_s8 *requant, int8_t *output);
void as_fully_connected_s8_ref(const int8_t *input, int in_channels, int32_t input_zero_point,
                               const int8_t *weights, const int32_t *bias, int out_channels,
                               const as_requant_s8 *requant, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* AUTOSHRINK_RUNTIME_H */
