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

/* Range of taps k in [0, 3) with 0 <= origin + k < size. */
static void tap_range(int origin, int size, int *lo, int *hi)
{
    *lo = origin < 0 ? -origin : 0;
    *hi = size - origin < 3 ? size - origin : 3;
    if (*hi < *lo) {
        *hi = *lo;
    }
}

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

/* y[c] = clamp(bias[c] + sum of the nine taps) for an interior pixel; x = window origin [3][3][C] with
 * the input's row and pixel strides, w = weights [3][3][C] (channel stride `channels`). */
static void interior_f32(const float *x, size_t row, size_t pixel, const float *w, size_t channels,
                         const float *bias_row, int nc, float lo, float hi, float *restrict y)
{
    const float *r0 = x, *r1 = x + row, *r2 = x + 2 * row;
    const size_t p1 = pixel, p2 = 2 * pixel;
    int c;
    for (c = 0; c < nc; c++) {
        float v = bias_row[c];
        v += r0[c] * w[c] + r0[p1 + c] * w[channels + c] + r0[p2 + c] * w[2 * channels + c];
        v += r1[c] * w[3 * channels + c] + r1[p1 + c] * w[4 * channels + c] + r1[p2 + c] * w[5 * channels + c];
        v += r2[c] * w[6 * channels + c] + r2[p1 + c] * w[7 * channels + c] + r2[p2 + c] * w[8 * channels + c];
        v = v < lo ? lo : v;
        y[c] = v > hi ? hi : v;
    }
}

void as_depthwise_conv3x3_f32(const float *input, int in_height, int in_width, int channels,
                              int in_pixel_stride, const float *weights, const float *bias, int stride,
                              as_activation activation, float *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    const size_t row = (size_t)in_width * in_pixel_stride;
    const size_t p1 = (size_t)in_pixel_stride;
    float acc[DW_CHUNK], bias_row[DW_CHUNK];
    float lo, hi;
    int c0, oy, ox, c, ky, kx;
    as__activation_bounds_f32(activation, &lo, &hi);
    for (c0 = 0; c0 < channels; c0 += DW_CHUNK) {
        const int nc = channels - c0 < DW_CHUNK ? channels - c0 : DW_CHUNK;
        const float *w = weights + c0;
        for (c = 0; c < nc; c++) {
            bias_row[c] = bias ? bias[c0 + c] : 0.0f;
        }
        for (oy = 0; oy < out_height; oy++) {
            const int y0 = oy * stride - 1;
            int ky_lo, ky_hi;
            tap_range(y0, in_height, &ky_lo, &ky_hi);
            for (ox = 0; ox < out_width; ox++) {
                const int x0 = ox * stride - 1;
                float *restrict y = output + ((size_t)oy * out_width + ox) * out_pixel_stride + c0;
                int kx_lo, kx_hi;
                tap_range(x0, in_width, &kx_lo, &kx_hi);
                if (ky_lo == 0 && ky_hi == 3 && kx_lo == 0 && kx_hi == 3) {
                    interior_f32(input + ((size_t)y0 * in_width + x0) * in_pixel_stride + c0, row, p1, w,
                                 (size_t)channels, bias_row, nc, lo, hi, y);
                    continue;
                }
                for (c = 0; c < nc; c++) {
                    acc[c] = bias_row[c];
                }
                for (ky = ky_lo; ky < ky_hi; ky++) {
                    for (kx = kx_lo; kx < kx_hi; kx++) {
                        const float *restrict xt =
                            input + ((size_t)(y0 + ky) * in_width + (x0 + kx)) * in_pixel_stride + c0;
                        const float *restrict wt = w + (ky * 3 + kx) * channels;
                        for (c = 0; c < nc; c++) {
                            acc[c] += xt[c] * wt[c];
                        }
                    }
                }
                for (c = 0; c < nc; c++) {
                    const float v = acc[c] < lo ? lo : acc[c];
                    y[c] = v > hi ? hi : v;
                }
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

/* acc[c] = bias[c] + sum of the nine taps (x - zp) * w for an interior pixel (see interior_f32). */
static void interior_s8(const int8_t *x, size_t row, size_t pixel, const int8_t *w, size_t channels, int16_t zp,
                        const int32_t *bias_row, int nc, int32_t *restrict acc)
{
    const int8_t *r0 = x, *r1 = x + row, *r2 = x + 2 * row;
    const size_t p1 = pixel, p2 = 2 * pixel;
    int c;
    for (c = 0; c < nc; c++) {
        int32_t v = bias_row[c];
        v += AS_DW_TAP(r0[c], w[c]) + AS_DW_TAP(r0[p1 + c], w[channels + c]) +
             AS_DW_TAP(r0[p2 + c], w[2 * channels + c]);
        v += AS_DW_TAP(r1[c], w[3 * channels + c]) + AS_DW_TAP(r1[p1 + c], w[4 * channels + c]) +
             AS_DW_TAP(r1[p2 + c], w[5 * channels + c]);
        v += AS_DW_TAP(r2[c], w[6 * channels + c]) + AS_DW_TAP(r2[p1 + c], w[7 * channels + c]) +
             AS_DW_TAP(r2[p2 + c], w[8 * channels + c]);
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
    const size_t row = (size_t)in_width * in_pixel_stride;
    const size_t p1 = (size_t)in_pixel_stride;
    const int16_t zp = (int16_t)input_zero_point;
    int32_t acc[DW_TILE * DW_CHUNK], bias_row[DW_CHUNK];
    int c0, oy, ox0, ox, c, ky, kx;
    for (c0 = 0; c0 < channels; c0 += DW_CHUNK) {
        const int nc = channels - c0 < DW_CHUNK ? channels - c0 : DW_CHUNK;
        const int8_t *w = weights + c0;
        for (c = 0; c < nc; c++) {
            bias_row[c] = bias ? bias[c0 + c] : 0;
        }
        for (oy = 0; oy < out_height; oy++) {
            const int y0 = oy * stride - 1;
            int ky_lo, ky_hi;
            tap_range(y0, in_height, &ky_lo, &ky_hi);
            /* accumulators of up to DW_TILE pixels [DW_TILE][DW_CHUNK], requantized together */
            for (ox0 = 0; ox0 < out_width; ox0 += DW_TILE) {
                const int pixels = out_width - ox0 < DW_TILE ? out_width - ox0 : DW_TILE;
                for (ox = ox0; ox < ox0 + pixels; ox++) {
                    const int x0 = ox * stride - 1;
                    int32_t *restrict a = acc + (ox - ox0) * DW_CHUNK;
                    int kx_lo, kx_hi;
                    tap_range(x0, in_width, &kx_lo, &kx_hi);
                    if (ky_lo == 0 && ky_hi == 3 && kx_lo == 0 && kx_hi == 3) {
                        interior_s8(input + ((size_t)y0 * in_width + x0) * in_pixel_stride + c0, row, p1, w,
                                    (size_t)channels, zp, bias_row, nc, a);
                        continue;
                    }
                    for (c = 0; c < nc; c++) {
                        a[c] = bias_row[c];
                    }
                    for (ky = ky_lo; ky < ky_hi; ky++) {
                        for (kx = kx_lo; kx < kx_hi; kx++) {
                            const int8_t *restrict xt =
                                input + ((size_t)(y0 + ky) * in_width + (x0 + kx)) * in_pixel_stride + c0;
                            const int8_t *restrict wt = w + (ky * 3 + kx) * channels;
                            for (c = 0; c < nc; c++) {
                                a[c] += AS_DW_TAP(xt[c], wt[c]);
                            }
                        }
                    }
                }
                as__requant_tile_s8(acc, pixels, DW_CHUNK, nc, requant->multiplier + c0, requant->shift + c0,
                                    requant->output_zero_point, requant->activation_min, requant->activation_max,
                                    output + ((size_t)oy * out_width + ox0) * out_pixel_stride + c0,
                                    (size_t)out_pixel_stride);
            }
        }
    }
}
