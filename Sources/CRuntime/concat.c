/*
 * concat.c - channel copy / concat, and copy with requantization.
 *
 * Layout letters: H = height, W = width, C = channels.
 *   input [H][W][C] with pixel stride in_pixel_stride -> output [H][W][C] with pixel stride
 *   out_pixel_stride. A concat writes each input into its channel slice of the wider output:
 *   output + channel offset, out_pixel_stride = total channels. Most concats cost nothing because
 *   producers write their slices directly; these kernels cover the rest.
 */
#include "kernel_common.h"

#define COPY_CHUNK 256 /* channels per pass of the requantizing copy */

void as_copy_channels_f32_ref(const float *input, int height, int width, int channels, int in_pixel_stride,
                              float *output, int out_pixel_stride)
{
    const int pixels = height * width;
    int p, c;
    for (p = 0; p < pixels; p++) {
        for (c = 0; c < channels; c++) {
            output[(size_t)p * out_pixel_stride + c] = input[(size_t)p * in_pixel_stride + c];
        }
    }
}

void as_copy_channels_f32(const float *input, int height, int width, int channels, int in_pixel_stride,
                          float *output, int out_pixel_stride)
{
    const int pixels = height * width;
    int p;
    if (channels <= 0 || pixels <= 0) {
        return;
    }
    if (in_pixel_stride == channels && out_pixel_stride == channels) {
        memcpy(output, input, (size_t)pixels * channels * sizeof(float));
        return;
    }
    for (p = 0; p < pixels; p++) {
        memcpy(output + (size_t)p * out_pixel_stride, input + (size_t)p * in_pixel_stride,
               (size_t)channels * sizeof(float));
    }
}

void as_copy_channels_s8_ref(const int8_t *input, int height, int width, int channels, int in_pixel_stride,
                             int8_t *output, int out_pixel_stride)
{
    const int pixels = height * width;
    int p, c;
    for (p = 0; p < pixels; p++) {
        for (c = 0; c < channels; c++) {
            output[(size_t)p * out_pixel_stride + c] = input[(size_t)p * in_pixel_stride + c];
        }
    }
}

void as_copy_channels_s8(const int8_t *input, int height, int width, int channels, int in_pixel_stride,
                         int8_t *output, int out_pixel_stride)
{
    const int pixels = height * width;
    int p;
    if (channels <= 0 || pixels <= 0) {
        return;
    }
    if (in_pixel_stride == channels && out_pixel_stride == channels) {
        memcpy(output, input, (size_t)pixels * channels);
        return;
    }
    for (p = 0; p < pixels; p++) {
        memcpy(output + (size_t)p * out_pixel_stride, input + (size_t)p * in_pixel_stride, (size_t)channels);
    }
}

void as_concat_channels_f32(const float *const *inputs, const int *channels, const int *pixel_strides,
                            int count, int height, int width, float *output, int out_pixel_stride)
{
    int i, offset = 0;
    for (i = 0; i < count; i++) {
        as_copy_channels_f32(inputs[i], height, width, channels[i], pixel_strides[i], output + offset,
                             out_pixel_stride);
        offset += channels[i];
    }
}

void as_concat_channels_s8(const int8_t *const *inputs, const int *channels, const int *pixel_strides,
                           int count, int height, int width, int8_t *output, int out_pixel_stride)
{
    int i, offset = 0;
    for (i = 0; i < count; i++) {
        as_copy_channels_s8(inputs[i], height, width, channels[i], pixel_strides[i], output + offset,
                            out_pixel_stride);
        offset += channels[i];
    }
}

void as_requantize_s8_ref(const int8_t *input, int height, int width, int channels, int in_pixel_stride,
                          int32_t input_zero_point, int32_t multiplier, int shift, int32_t output_zero_point,
                          int8_t *output, int out_pixel_stride)
{
    const int pixels = height * width;
    int p, c;
    for (p = 0; p < pixels; p++) {
        for (c = 0; c < channels; c++) {
            const int32_t x = (int32_t)input[(size_t)p * in_pixel_stride + c] - input_zero_point;
            output[(size_t)p * out_pixel_stride + c] =
                as__output_s8(as__mbqm(x, multiplier, shift), output_zero_point, -128, 127);
        }
    }
}

void as_requantize_s8(const int8_t *input, int height, int width, int channels, int in_pixel_stride,
                      int32_t input_zero_point, int32_t multiplier, int shift, int32_t output_zero_point,
                      int8_t *output, int out_pixel_stride)
{
    const int pixels = height * width;
    const int32_t shift32 = shift;
    int32_t row[COPY_CHUNK];
    int p, c0, c;
    for (p = 0; p < pixels; p++) {
        const int8_t *x = input + (size_t)p * in_pixel_stride;
        int8_t *y = output + (size_t)p * out_pixel_stride;
        for (c0 = 0; c0 < channels; c0 += COPY_CHUNK) {
            const int nc = channels - c0 < COPY_CHUNK ? channels - c0 : COPY_CHUNK;
            for (c = 0; c < nc; c++) {
                row[c] = (int32_t)x[c0 + c] - input_zero_point;
            }
            as__requant_row_s8(row, nc, &multiplier, &shift32, 0, output_zero_point, -128, 127, y + c0);
        }
    }
}
