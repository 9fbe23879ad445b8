/*
 * fully_connected.c - fully connected layer with fused bias + activation.
 *
 * Layout letters: C = channels.
 *   input [C_in], output [C_out], bias [C_out]
 *   weights [C_in][C_out] float;  [ceil(C_in/4)][C_out][4] int8 (per-output-channel scales)
 * The optimized twins are a pointwise convolution over a single pixel.
 */
#include "kernel_common.h"

static as__conv_shape fc_shape(int in_channels, int out_channels)
{
    as__conv_shape s;
    s.in_height = s.in_width = 1;
    s.in_channels = s.in_pixel_stride = in_channels;
    s.kernel_size = s.stride = 1;
    s.padding = 0;
    s.out_height = s.out_width = 1;
    s.out_channels = s.out_pixel_stride = out_channels;
    return s;
}

void as_fully_connected_f32_ref(const float *input, int in_channels, const float *weights, const float *bias,
                                int out_channels, as_activation activation, float *output)
{
    int o, ci;
    for (o = 0; o < out_channels; o++) {
        float sum = bias ? bias[o] : 0.0f;
        for (ci = 0; ci < in_channels; ci++) {
            sum += input[ci] * weights[(size_t)ci * out_channels + o];
        }
        output[o] = as__activate_f32(sum, activation);
    }
}

void as_fully_connected_f32(const float *input, int in_channels, const float *weights, const float *bias,
                            int out_channels, as_activation activation, float *output)
{
    const as__conv_shape s = fc_shape(in_channels, out_channels);
    as__conv_gemm_f32(&s, input, weights, bias, activation, output);
}

void as_fully_connected_s8_ref(const int8_t *input, int in_channels, int32_t input_zero_point,
                               const int8_t *weights, const int32_t *bias, int out_channels,
                               const as_requant_s8 *requant, int8_t *output)
{
    int o, ci;
    for (o = 0; o < out_channels; o++) {
        int32_t acc = bias ? bias[o] : 0;
        for (ci = 0; ci < in_channels; ci++) {
            const int8_t w = weights[((size_t)(ci / 4) * out_channels + o) * 4 + ci % 4];
            acc += ((int32_t)input[ci] - input_zero_point) * w;
        }
        output[o] = as__output_s8(as__mbqm(acc, requant->multiplier[o], requant->shift[o]),
                                  requant->output_zero_point, requant->activation_min, requant->activation_max);
    }
}

void as_fully_connected_s8(const int8_t *input, int in_channels, int32_t input_zero_point,
                           const int8_t *weights, const int32_t *bias, int out_channels,
                           const as_requant_s8 *requant, int8_t *output)
{
    const as__conv_shape s = fc_shape(in_channels, out_channels);
    as__conv_gemm_s8(&s, input, input_zero_point, weights, bias, requant, output);
}
