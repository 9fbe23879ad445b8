/*
 * depthwise_conv2d.c - depthwise 3x3 convolution, stride 1 or 2, padding 1, fused bias + activation.
 *
 * Layout letters: H = height, W = width, C = channels.
 *   input   [H][W][C]              pixel stride in_pixel_stride
 *   weights [3][3][C]              tap (ky, kx) of channel c at (ky*3 + kx)*C + c
 *   bias    [C]
 *   output  [H_out][W_out][C]      pixel stride out_pixel_stride, H_out = (H - 1)/stride + 1
 * Every tap is a contiguous run of channels, so the optimized twins vectorise across channels:
 * interior pixels sum all nine taps in one pass per channel block, border pixels loop over the
 * taps that fall inside the image. int8 products (x - zp) * w lie in [-32640, 32640] and are exact
 * in int16, which lets the compiler use 16-bit multiplies before widening into int32 sums.
 */
#include "kernel_common.h"

#define DW_CHUNK 256 /* channels per pass (accumulator row on the stack) */
#define DW_TILE 8     /* int8: output pixels requantized together */

void as_depthwise_conv3x3_f32_ref(const float *input, int in_height, int in_width, int channels,
                                  int in_pixel_stride, const float *weights, const float *bias, int stride,
                                  as_activation activation, float *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    int oy, ox, c, ky, kx;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            for (c = 0; c < channels; c++) {
                float sum = bias ? bias[c] : 0.0f;
                for (ky = 0; ky < 3; ky++) {
                    for (kx = 0; kx < 3; kx++) {
                        const int iy = oy * stride + ky - 1, ix = ox * stride + kx - 1;
                        if (iy < 0 || iy >= in_height || ix < 0 || ix >= in_width) {
                            continue;
                        }
                        sum += input[((size_t)iy * in_width + ix) * in_pixel_stride + c] *
                               weights[(ky * 3 + kx) * channels + c];
                    }
                }
                output[((size_t)oy * out_width + ox) * out_pixel_stride + c] = as__activate_f32(sum, activation);
            }
        }
    }
}

/* y[c] = clamp(bias[c] + sum_t tap[t][c] * w[t][c]) for the nine taps of one output pixel. */
static void pixel_f32(const float *const *tap, const float *w, size_t channels, const float *bias_row, int nc,
                      float lo, float hi, float *restrict y)
{
    const float *t0 = tap[0], *t1 = tap[1], *t2 = tap[2], *t3 = tap[3], *t4 = tap[4];
    const float *t5 = tap[5], *t6 = tap[6], *t7 = tap[7], *t8 = tap[8];
    int c;
    for (c = 0; c < nc; c++) {
        float v = bias_row[c];
        v += t0[c] * w[c] + t1[c] * w[channels + c] + t2[c] * w[2 * channels + c];
        v += t3[c] * w[3 * channels + c] + t4[c] * w[4 * channels + c] + t5[c] * w[5 * channels + c];
        v += t6[c] * w[6 * channels + c] + t7[c] * w[7 * channels + c] + t8[c] * w[8 * channels + c];
        v = v < lo ? lo : v;
        y[c] = v > hi ? hi : v;
    }
}

/* Pointers to the nine taps of the window at (y0, x0) (+ channel offset c0); taps outside the image
 * point at `pad`, a row of padding values. */
#define AS_DW_TAPS(type, taps, input, y0, x0, c0, pad)                                                  \
    do {                                                                                               \
        int ky_, kx_;                                                                                  \
        for (ky_ = 0; ky_ < 3; ky_++) {                                                                \
            for (kx_ = 0; kx_ < 3; kx_++) {                                                            \
                const int iy_ = (y0) + ky_, ix_ = (x0) + kx_;                                          \
                (taps)[ky_ * 3 + kx_] =                                                                \
                    (iy_ < 0 || iy_ >= in_height || ix_ < 0 || ix_ >= in_width)                        \
                        ? (pad)                                                                        \
                        : (input) + ((size_t)iy_ * in_width + ix_) * in_pixel_stride + (c0);          \
            }                                                                                          \
        }                                                                                              \
    } while (0)

void as_depthwise_conv3x3_f32(const float *input, int in_height, int in_width, int channels,
                              int in_pixel_stride, const float *weights, const float *bias, int stride,
                              as_activation activation, float *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    float bias_row[DW_CHUNK], zeros[DW_CHUNK];
    const float *taps[9];
    float lo, hi;
    int c0, oy, ox, c;
    as__activation_bounds_f32(activation, &lo, &hi);
    for (c = 0; c < DW_CHUNK; c++) {
        zeros[c] = 0.0f;
    }
    for (c0 = 0; c0 < channels; c0 += DW_CHUNK) {
        const int nc = channels - c0 < DW_CHUNK ? channels - c0 : DW_CHUNK;
        for (c = 0; c < nc; c++) {
            bias_row[c] = bias ? bias[c0 + c] : 0.0f;
        }
        for (oy = 0; oy < out_height; oy++) {
            for (ox = 0; ox < out_width; ox++) {
                AS_DW_TAPS(const float *, taps, input, oy * stride - 1, ox * stride - 1, c0, zeros);
                pixel_f32(taps, weights + c0, (size_t)channels, bias_row, nc, lo, hi,
                          output + ((size_t)oy * out_width + ox) * out_pixel_stride + c0);
            }
        }
    }
}

void as_depthwise_conv3x3_s8_ref(const int8_t *input, int in_height, int in_width, int channels,
                                 int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                                 const int32_t *bias, int stride, const as_requant_s8 *requant,
                                 int8_t *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    int oy, ox, c, ky, kx;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            for (c = 0; c < channels; c++) {
                int32_t acc = bias ? bias[c] : 0;
                for (ky = 0; ky < 3; ky++) {
                    for (kx = 0; kx < 3; kx++) {
                        const int iy = oy * stride + ky - 1, ix = ox * stride + kx - 1;
                        if (iy < 0 || iy >= in_height || ix < 0 || ix >= in_width) {
                            continue; /* padding: x - zp = 0 */
                        }
                        acc += ((int32_t)input[((size_t)iy * in_width + ix) * in_pixel_stride + c] -
                                input_zero_point) *
                               weights[(ky * 3 + kx) * channels + c];
                    }
                }
                output[((size_t)oy * out_width + ox) * out_pixel_stride + c] =
                    as__output_s8(as__mbqm(acc, requant->multiplier[c], requant->shift[c]),
                                  requant->output_zero_point, requant->activation_min, requant->activation_max);
            }
        }
    }
}


/* (x - zp) * w, exact in int16 for any int8 x, w and zero point in [-128, 127] */
#define AS_DW_TAP(x, w) ((int32_t)(int16_t)((int16_t)((int16_t)(x) - zp) * (int16_t)(w)))

/* acc[c] = bias[c] + sum_t (tap[t][c] - zp) * w[t][c] for the nine taps of one output pixel. */
static void pixel_s8(const int8_t *const *tap, const int8_t *w, size_t channels, int16_t zp,
                     const int32_t *bias_row, int nc, int32_t *restrict acc)
{
    const int8_t *t0 = tap[0], *t1 = tap[1], *t2 = tap[2], *t3 = tap[3], *t4 = tap[4];
    const int8_t *t5 = tap[5], *t6 = tap[6], *t7 = tap[7], *t8 = tap[8];
    int c;
    for (c = 0; c < nc; c++) {
        int32_t v = bias_row[c];
        v += AS_DW_TAP(t0[c], w[c]) + AS_DW_TAP(t1[c], w[channels + c]) + AS_DW_TAP(t2[c], w[2 * channels + c]);
        v += AS_DW_TAP(t3[c], w[3 * channels + c]) + AS_DW_TAP(t4[c], w[4 * channels + c]) +
             AS_DW_TAP(t5[c], w[5 * channels + c]);
        v += AS_DW_TAP(t6[c], w[6 * channels + c]) + AS_DW_TAP(t7[c], w[7 * channels + c]) +
             AS_DW_TAP(t8[c], w[8 * channels + c]);
        acc[c] = v;
    }
}

void as_depthwise_conv3x3_s8(const int8_t *input, int in_height, int in_width, int channels,
                             int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                             const int32_t *bias, int stride, const as_requant_s8 *requant, int8_t *output,
                             int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    const int16_t zp = (int16_t)input_zero_point;
    int32_t acc[DW_TILE * DW_CHUNK], bias_row[DW_CHUNK];
    int8_t zero_points[DW_CHUNK]; /* padding taps read the zero point: x - zp = 0 */
    const int8_t *taps[9];
    int c0, oy, ox0, ox, c;
    memset(zero_points, (int8_t)input_zero_point, sizeof zero_points);
    for (c0 = 0; c0 < channels; c0 += DW_CHUNK) {
        const int nc = channels - c0 < DW_CHUNK ? channels - c0 : DW_CHUNK;
        for (c = 0; c < nc; c++) {
            bias_row[c] = bias ? bias[c0 + c] : 0;
        }
        for (oy = 0; oy < out_height; oy++) {
            /* accumulators of up to DW_TILE pixels [DW_TILE][DW_CHUNK], requantized together */
            for (ox0 = 0; ox0 < out_width; ox0 += DW_TILE) {
                const int pixels = out_width - ox0 < DW_TILE ? out_width - ox0 : DW_TILE;
                for (ox = ox0; ox < ox0 + pixels; ox++) {
                    AS_DW_TAPS(const int8_t *, taps, input, oy * stride - 1, ox * stride - 1, c0, zero_points);
                    pixel_s8(taps, weights + c0, (size_t)channels, zp, bias_row, nc, acc + (ox - ox0) * DW_CHUNK);
                }
                as__requant_tile_s8(acc, pixels, DW_CHUNK, nc, requant->multiplier + c0, requant->shift + c0,
                                    requant->output_zero_point, requant->activation_min, requant->activation_max,
                                    output + ((size_t)oy * out_width + ox0) * out_pixel_stride + c0,
                                    (size_t)out_pixel_stride);
            }
        }
    }
}
