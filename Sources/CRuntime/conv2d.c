/*
 * conv2d.c - full KxK convolution (groups 1, padding K/2, any stride) with fused bias + activation.
 *
 * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K*K*C_in,
 * R4 = ceil(R / 4).
 *   input   [H][W][C_in]          pixel stride in_pixel_stride
 *   weights [K][K][C_in][C_out]   float;  [R4][C_out][4] int8 (r = (ky*K + kx)*C_in + ci)
 *   bias    [C_out]
 *   output  [H_out][W_out][C_out] pixel stride out_pixel_stride, H_out = (H + 2*(K/2) - K)/stride + 1
 * The optimized twins lower to the GEMM engines (gemm_f32.c, gemm_s8.c).
 */
#include "kernel_common.h"

static as__conv_shape conv_shape(int in_height, int in_width, int in_channels, int in_pixel_stride,
                                 int kernel_size, int stride, int out_channels, int out_pixel_stride)
{
    as__conv_shape s;
    s.in_height = in_height;
    s.in_width = in_width;
    s.in_channels = in_channels;
    s.in_pixel_stride = in_pixel_stride;
    s.kernel_size = kernel_size;
    s.stride = stride;
    s.padding = kernel_size / 2;
    s.out_height = as_conv_output_size(in_height, kernel_size, stride);
    s.out_width = as_conv_output_size(in_width, kernel_size, stride);
    s.out_channels = out_channels;
    s.out_pixel_stride = out_pixel_stride;
    return s;
}

void as_conv2d_f32_ref(const float *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                       const float *weights, const float *bias, int kernel_size, int stride, int out_channels,
                       as_activation activation, float *output, int out_pixel_stride)
{
    const int pad = kernel_size / 2;
    const int out_height = as_conv_output_size(in_height, kernel_size, stride);
    const int out_width = as_conv_output_size(in_width, kernel_size, stride);
    int oy, ox, o, ky, kx, ci;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            for (o = 0; o < out_channels; o++) {
                float sum = bias ? bias[o] : 0.0f;
                for (ky = 0; ky < kernel_size; ky++) {
                    const int iy = oy * stride + ky - pad;
                    if (iy < 0 || iy >= in_height) {
                        continue;
                    }
                    for (kx = 0; kx < kernel_size; kx++) {
                        const int ix = ox * stride + kx - pad;
                        const float *x, *w;
                        if (ix < 0 || ix >= in_width) {
                            continue;
                        }
                        x = input + ((size_t)iy * in_width + ix) * in_pixel_stride;
                        w = weights + (size_t)(ky * kernel_size + kx) * in_channels * out_channels;
                        for (ci = 0; ci < in_channels; ci++) {
                            sum += x[ci] * w[(size_t)ci * out_channels + o];
                        }
                    }
                }
                output[((size_t)oy * out_width + ox) * out_pixel_stride + o] = as__activate_f32(sum, activation);
            }
        }
    }
}

void as_conv2d_f32(const float *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                   const float *weights, const float *bias, int kernel_size, int stride, int out_channels,
                   as_activation activation, float *output, int out_pixel_stride)
{
    const as__conv_shape s = conv_shape(in_height, in_width, in_channels, in_pixel_stride, kernel_size, stride,
                                        out_channels, out_pixel_stride);
    as__conv_gemm_f32(&s, input, weights, bias, activation, output);
}

void as_conv2d_s8_ref(const int8_t *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                      int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int kernel_size,
                      int stride, int out_channels, const as_requant_s8 *requant, int8_t *output,
                      int out_pixel_stride)
{
    const int pad = kernel_size / 2;
    const int out_height = as_conv_output_size(in_height, kernel_size, stride);
    const int out_width = as_conv_output_size(in_width, kernel_size, stride);
    int oy, ox, o, ky, kx, ci;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            for (o = 0; o < out_channels; o++) {
                int32_t acc = bias ? bias[o] : 0;
                for (ky = 0; ky < kernel_size; ky++) {
                    const int iy = oy * stride + ky - pad;
                    if (iy < 0 || iy >= in_height) {
                        continue; /* padding: x - zp = 0 */
                    }
                    for (kx = 0; kx < kernel_size; kx++) {
                        const int ix = ox * stride + kx - pad;
                        const int8_t *x;
                        if (ix < 0 || ix >= in_width) {
                            continue;
                        }
                        x = input + ((size_t)iy * in_width + ix) * in_pixel_stride;
                        for (ci = 0; ci < in_channels; ci++) {
                            const int r = (ky * kernel_size + kx) * in_channels + ci;
                            const int8_t w = weights[((size_t)(r / 4) * out_channels + o) * 4 + r % 4];
                            acc += ((int32_t)x[ci] - input_zero_point) * w;
                        }
                    }
                }
                output[((size_t)oy * out_width + ox) * out_pixel_stride + o] =
                    as__output_s8(as__mbqm(acc, requant->multiplier[o], requant->shift[o]),
                                  requant->output_zero_point, requant->activation_min, requant->activation_max);
            }
        }
    }
}

void as_conv2d_s8(const int8_t *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                  int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int kernel_size,
                  int stride, int out_channels, const as_requant_s8 *requant, int8_t *output,
                  int out_pixel_stride)
{
    const as__conv_shape s = conv_shape(in_height, in_width, in_channels, in_pixel_stride, kernel_size, stride,
                                        out_channels, out_pixel_stride);
    as__conv_gemm_s8(&s, input, input_zero_point, weights, bias, requant, output);
}
