/*
 * pointwise_conv2d.c - 1x1 convolution, stride 1 or 2 (residual projections), no padding, with fused
 * bias + activation.
 *
 * Layout letters: H = height, W = width, C = channels.
 *   input   [H][W][C_in]                 pixel stride in_pixel_stride
 *   weights [C_in][C_out] float;  [ceil(C_in/4)][C_out][4] int8
 *   bias    [C_out]
 *   output  [H_out][W_out][C_out]        H_out = (H - 1)/stride + 1; pixel (y, x) reads input (y*s, x*s)
 * The optimized twins are the GEMM engines with K = 1: out[pixels][C_out] = in[pixels][C_in] * w.
 */
#include "kernel_common.h"

static as__conv_shape pointwise_shape(int in_height, int in_width, int in_channels, int in_pixel_stride,
                                      int stride, int out_channels, int out_pixel_stride)
{
    as__conv_shape s;
    s.in_height = in_height;
    s.in_width = in_width;
    s.in_channels = in_channels;
    s.in_pixel_stride = in_pixel_stride;
    s.kernel_size = 1;
    s.stride = stride;
    s.padding = 0;
    s.out_height = as_conv_output_size(in_height, 1, stride);
    s.out_width = as_conv_output_size(in_width, 1, stride);
    s.out_channels = out_channels;
    s.out_pixel_stride = out_pixel_stride;
    return s;
}

void as_pointwise_conv_f32_ref(const float *input, int in_height, int in_width, int in_channels,
                               int in_pixel_stride, const float *weights, const float *bias, int stride,
                               int out_channels, as_activation activation, float *output,
                               int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 1, stride);
    const int out_width = as_conv_output_size(in_width, 1, stride);
    int oy, ox, o, ci;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            const float *x = input + ((size_t)oy * stride * in_width + (size_t)ox * stride) * in_pixel_stride;
            float *y = output + ((size_t)oy * out_width + ox) * out_pixel_stride;
            for (o = 0; o < out_channels; o++) {
                float sum = bias ? bias[o] : 0.0f;
                for (ci = 0; ci < in_channels; ci++) {
                    sum += x[ci] * weights[(size_t)ci * out_channels + o];
                }
                y[o] = as__activate_f32(sum, activation);
            }
        }
    }
}

void as_pointwise_conv_f32(const float *input, int in_height, int in_width, int in_channels,
                           int in_pixel_stride, const float *weights, const float *bias, int stride,
                           int out_channels, as_activation activation, float *output, int out_pixel_stride)
{
    const as__conv_shape s = pointwise_shape(in_height, in_width, in_channels, in_pixel_stride, stride,
                                             out_channels, out_pixel_stride);
    as__conv_gemm_f32(&s, input, weights, bias, activation, output);
}

void as_pointwise_conv_s8_ref(const int8_t *input, int in_height, int in_width, int in_channels,
                              int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                              const int32_t *bias, int stride, int out_channels,
                              const as_requant_s8 *requant, int8_t *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 1, stride);
    const int out_width = as_conv_output_size(in_width, 1, stride);
    int oy, ox, o, ci;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            const int8_t *x = input + ((size_t)oy * stride * in_width + (size_t)ox * stride) * in_pixel_stride;
            int8_t *y = output + ((size_t)oy * out_width + ox) * out_pixel_stride;
            for (o = 0; o < out_channels; o++) {
                int32_t acc = bias ? bias[o] : 0;
                for (ci = 0; ci < in_channels; ci++) {
                    const int8_t w = weights[((size_t)(ci / 4) * out_channels + o) * 4 + ci % 4];
                    acc += ((int32_t)x[ci] - input_zero_point) * w;
                }
                y[o] = as__output_s8(as__mbqm(acc, requant->multiplier[o], requant->shift[o]),
                                     requant->output_zero_point, requant->activation_min,
                                     requant->activation_max);
            }
        }
    }
}

void as_pointwise_conv_s8(const int8_t *input, int in_height, int in_width, int in_channels,
                          int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                          const int32_t *bias, int stride, int out_channels, const as_requant_s8 *requant,
                          int8_t *output, int out_pixel_stride)
{
    const as__conv_shape s = pointwise_shape(in_height, in_width, in_channels, in_pixel_stride, stride,
                                             out_channels, out_pixel_stride);
    as__conv_gemm_s8(&s, input, input_zero_point, weights, bias, requant, output);
}

/* The pointwise conv's int8 output y (its requantization as in as_pointwise_conv_s8_ref) as input 1 of as_add_s8_ref
 * with `other` as input 2, element by element: the unfused pair composed, with no intermediate tensor. */
void as_pointwise_conv_add_s8_ref(const int8_t *input, int in_height, int in_width, int in_channels,
                                  int in_pixel_stride, int32_t input_zero_point, const int8_t *weights,
                                  const int32_t *bias, int stride, int out_channels, const as_requant_s8 *requant,
                                  const int8_t *other, int other_pixel_stride, const as_add_params_s8 *add,
                                  int8_t *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 1, stride);
    const int out_width = as_conv_output_size(in_width, 1, stride);
    int oy, ox, o, ci;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            const int8_t *x = input + ((size_t)oy * stride * in_width + (size_t)ox * stride) * in_pixel_stride;
            const size_t pixel = (size_t)oy * out_width + ox;
            for (o = 0; o < out_channels; o++) {
                int32_t acc = bias ? bias[o] : 0;
                int8_t y;
                for (ci = 0; ci < in_channels; ci++) {
                    const int8_t w = weights[((size_t)(ci / 4) * out_channels + o) * 4 + ci % 4];
                    acc += ((int32_t)x[ci] - input_zero_point) * w;
                }
                y = as__output_s8(as__mbqm(acc, requant->multiplier[o], requant->shift[o]), requant->output_zero_point,
                                  requant->activation_min, requant->activation_max);
                output[pixel * out_pixel_stride + o] = as__add_element_s8(y, other[pixel * other_pixel_stride + o], add);
            }
        }
    }
}

void as_pointwise_conv_add_s8(const int8_t *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                              int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int stride,
                              int out_channels, const as_requant_s8 *requant, const int8_t *other,
                              int other_pixel_stride, const as_add_params_s8 *add, int8_t *output,
                              int out_pixel_stride)
{
    const as__conv_shape s = pointwise_shape(in_height, in_width, in_channels, in_pixel_stride, stride,
                                             out_channels, out_pixel_stride);
    as__gemm_add fused;
    fused.apply = as__gemm_add_apply;
    fused.other = other;
    fused.other_pixel_stride = other_pixel_stride;
    fused.params = add;
    fused.output = output;
    fused.out_pixel_stride = out_pixel_stride;
    fused.plan = NULL;
    as__conv_gemm_add_s8(&s, input, input_zero_point, weights, bias, requant, &fused);
}
