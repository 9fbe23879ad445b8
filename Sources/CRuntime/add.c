/*
 * add.c - elementwise add of two tensors (residual connections) with fused activation.
 *
 * Layout letters: H = height, W = width, C = channels.
 *   input1, input2, output: [H][W][C], each with its own pixel stride.
 * int8 follows TFLite ADD: each input (q - zp) is shifted left by 20 bits, brought to the common
 * scale 2 max(s1, s2) by its own multiplier, the two are summed and the sum is requantized to the
 * output scale. The optimized twin runs the same three MBQMs over channel rows with SIMD.
 */
#include "kernel_common.h"

#define ADD_CHUNK 256 /* channels per pass (int32 rows on the stack) */

void as_add_f32_ref(const float *input1, int in1_pixel_stride, const float *input2, int in2_pixel_stride,
                    int height, int width, int channels, as_activation activation, float *output,
                    int out_pixel_stride)
{
    const int pixels = height * width;
    int p, c;
    for (p = 0; p < pixels; p++) {
        for (c = 0; c < channels; c++) {
            output[(size_t)p * out_pixel_stride + c] = as__activate_f32(
                input1[(size_t)p * in1_pixel_stride + c] + input2[(size_t)p * in2_pixel_stride + c], activation);
        }
    }
}

void as_add_f32(const float *input1, int in1_pixel_stride, const float *input2, int in2_pixel_stride,
                int height, int width, int channels, as_activation activation, float *output,
                int out_pixel_stride)
{
    const int pixels = height * width;
    float lo, hi;
    int p, c;
    as__activation_bounds_f32(activation, &lo, &hi);
    for (p = 0; p < pixels; p++) {
        const float *a = input1 + (size_t)p * in1_pixel_stride;
        const float *b = input2 + (size_t)p * in2_pixel_stride;
        float *y = output + (size_t)p * out_pixel_stride;
        for (c = 0; c < channels; c++) {
            float v = a[c] + b[c];
            v = v < lo ? lo : v;
            y[c] = v > hi ? hi : v;
        }
    }
}

void as_add_s8_ref(const int8_t *input1, int in1_pixel_stride, const int8_t *input2, int in2_pixel_stride,
                   int height, int width, int channels, const as_add_params_s8 *params, int8_t *output,
                   int out_pixel_stride)
{
    const int pixels = height * width;
    const int32_t scale_up = (int32_t)1 << params->left_shift;
    int p, c;
    for (p = 0; p < pixels; p++) {
        for (c = 0; c < channels; c++) {
            const int32_t a = ((int32_t)input1[(size_t)p * in1_pixel_stride + c] - params->input1_zero_point) * scale_up;
            const int32_t b = ((int32_t)input2[(size_t)p * in2_pixel_stride + c] - params->input2_zero_point) * scale_up;
            const int32_t sum = as__mbqm(a, params->input1_multiplier, params->input1_shift) +
                                as__mbqm(b, params->input2_multiplier, params->input2_shift);
            output[(size_t)p * out_pixel_stride + c] =
                as__output_s8(as__mbqm(sum, params->output_multiplier, params->output_shift),
                              params->output_zero_point, params->activation_min, params->activation_max);
        }
    }
}

void as_add_s8(const int8_t *input1, int in1_pixel_stride, const int8_t *input2, int in2_pixel_stride,
               int height, int width, int channels, const as_add_params_s8 *params, int8_t *output,
               int out_pixel_stride)
{
    const int pixels = height * width;
    const int32_t scale_up = (int32_t)1 << params->left_shift;
    const int32_t zp1 = params->input1_zero_point, zp2 = params->input2_zero_point;
    int32_t a[ADD_CHUNK], b[ADD_CHUNK];
    int p, c0, c;
    for (p = 0; p < pixels; p++) {
        const int8_t *x1 = input1 + (size_t)p * in1_pixel_stride;
        const int8_t *x2 = input2 + (size_t)p * in2_pixel_stride;
        int8_t *y = output + (size_t)p * out_pixel_stride;
        for (c0 = 0; c0 < channels; c0 += ADD_CHUNK) {
            const int nc = channels - c0 < ADD_CHUNK ? channels - c0 : ADD_CHUNK;
            for (c = 0; c < nc; c++) {
                a[c] = ((int32_t)x1[c0 + c] - zp1) * scale_up;
                b[c] = ((int32_t)x2[c0 + c] - zp2) * scale_up;
            }
            as__mbqm_row(a, nc, params->input1_multiplier, params->input1_shift, a);
            as__mbqm_row(b, nc, params->input2_multiplier, params->input2_shift, b);
            for (c = 0; c < nc; c++) {
                a[c] += b[c];
            }
            as__requant_row_s8(a, nc, &params->output_multiplier, &params->output_shift, 0,
                               params->output_zero_point, params->activation_min, params->activation_max, y + c0);
        }
    }
}
