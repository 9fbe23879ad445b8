/*
 * conv2d.c - full KxK convolution (groups 1, padding K/2, any stride) with fused bias + activation.
 *
 * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K*K*C_in,
 * R4 = ceil(R / 4).
 *   input   [H][W][C_in]          pixel stride in_pixel_stride
 *   weights [K][K][C_in][C_out]   float;  [R4][C_out][4] int8 (r = (ky*K + kx)*C_in + ci)
 *   bias    [C_out]
 *   output  [H_out][W_out][C_out] pixel stride out_pixel_stride, H_out = (H + 2*(K/2) - K)/stride + 1
 * The optimized twins lower to the GEMM engines (gemm_f32.c, gemm_s8.c); on AVX-512 an int8 3x3 conv with
 * one input channel (the stem) has a direct path instead (R = 9 is too short for im2col to pay off).
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

#if defined(AS_X86_AVX512)
/* ---- int8 3x3 convolution of a single-channel input (the stem) -------------------------------- */
/* R = 9 is too short for the im2col GEMM to pay off. Each output row gets its three input rows as int16
 * (x - zp, padding 0); the nine taps of a pixel form five int16 pairs (x0,x1) (x3,x4) (x6,x7) (x2,x5)
 * (x8,0), broadcast against matching weight pairs with vpmaddwd / vpdpwssd: |x - zp| <= 255 and
 * |w| <= 128, so every pair sum is exact in int32. */

#define STEM_MAX_WIDTH 64    /* output pixels per row */
#define STEM_MAX_CHANNELS 64 /* output channels */

static int conv2d_s8_stem(const int8_t *input, int in_height, int in_width, int in_pixel_stride,
                          int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int stride,
                          int out_channels, const as_requant_s8 *requant, int8_t *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    const int cols = (out_width - 1) * stride + 3; /* padded columns a row's windows read */
    int32_t row[3][STEM_MAX_WIDTH * 2 + 3];        /* x - zp per padded column, 0 outside the image */
    int32_t pairs[5][STEM_MAX_WIDTH];              /* packed int16 pairs per output pixel */
    int32_t acc[STEM_MAX_WIDTH * STEM_MAX_CHANNELS];
    __m512i wp[5][STEM_MAX_CHANNELS / 16], b[STEM_MAX_CHANNELS / 16];
    __mmask16 mask[STEM_MAX_CHANNELS / 16];
    static const int tap_pairs[5][2] = {{0, 1}, {3, 4}, {6, 7}, {2, 5}, {8, -1}};
    const int blocks = (out_channels + 15) / 16;
    int oy, ox, k, j, i;
    if (out_width <= 0 || out_height <= 0 || out_width > STEM_MAX_WIDTH || out_channels <= 0 ||
        out_channels > STEM_MAX_CHANNELS || stride < 1 || stride > 2 || cols > STEM_MAX_WIDTH * 2 + 3) {
        return 0;
    }
    for (j = 0; j < blocks; j++) {
        int32_t lanes[5][16], bias_lanes[16];
        const int o0 = j * 16;
        const int n = out_channels - o0 < 16 ? out_channels - o0 : 16;
        mask[j] = n == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
        for (i = 0; i < 16; i++) {
            const int o = o0 + i;
            bias_lanes[i] = i < n && bias ? bias[o] : 0;
            for (k = 0; k < 5; k++) {
                const int t0 = tap_pairs[k][0], t1 = tap_pairs[k][1];
                /* weight (r = t, o) of [R4][C_out][4] */
                const int8_t w0 = i < n ? weights[((size_t)(t0 / 4) * out_channels + o) * 4 + t0 % 4] : 0;
                const int8_t w1 = i < n && t1 >= 0 ? weights[((size_t)(t1 / 4) * out_channels + o) * 4 + t1 % 4] : 0;
                lanes[k][i] = (int32_t)((uint32_t)(uint16_t)(int16_t)w0 | ((uint32_t)(uint16_t)(int16_t)w1 << 16));
            }
        }
        for (k = 0; k < 5; k++) {
            wp[k][j] = _mm512_loadu_si512(lanes[k]);
        }
        b[j] = _mm512_loadu_si512(bias_lanes);
    }
    for (oy = 0; oy < out_height; oy++) {
        for (k = 0; k < 3; k++) {
            const int iy = oy * stride + k - 1;
            int c;
            for (c = 0; c < cols; c++) {
                const int ix = c - 1;
                row[k][c] = iy >= 0 && iy < in_height && ix >= 0 && ix < in_width
                                ? (int32_t)input[((size_t)iy * in_width + ix) * in_pixel_stride] - input_zero_point
                                : 0;
            }
        }
        for (ox = 0; ox < out_width; ox++) {
            const int c = ox * stride;
#define AS_STEM_PAIR(a, b) ((int32_t)(((uint32_t)(a) & 0xFFFFu) | ((uint32_t)(b) << 16)))
            pairs[0][ox] = AS_STEM_PAIR(row[0][c], row[0][c + 1]);
            pairs[1][ox] = AS_STEM_PAIR(row[1][c], row[1][c + 1]);
            pairs[2][ox] = AS_STEM_PAIR(row[2][c], row[2][c + 1]);
            pairs[3][ox] = AS_STEM_PAIR(row[0][c + 2], row[1][c + 2]);
            pairs[4][ox] = AS_STEM_PAIR(row[2][c + 2], 0);
#undef AS_STEM_PAIR
        }
        for (ox = 0; ox < out_width; ox++) {
            for (j = 0; j < blocks; j++) {
                __m512i v = b[j];
                for (k = 0; k < 5; k++) {
#if defined(AS_X86_AVX512_VNNI)
                    v = _mm512_dpwssd_epi32(v, _mm512_set1_epi32(pairs[k][ox]), wp[k][j]);
#else
                    v = _mm512_add_epi32(v, _mm512_madd_epi16(_mm512_set1_epi32(pairs[k][ox]), wp[k][j]));
#endif
                }
                _mm512_mask_storeu_epi32(acc + (size_t)ox * out_channels + j * 16, mask[j], v);
            }
        }
        as__requant_tile_s8(acc, out_width, out_channels, out_channels, requant->multiplier, requant->shift,
                            requant->output_zero_point, requant->activation_min, requant->activation_max,
                            output + (size_t)oy * out_width * out_pixel_stride, (size_t)out_pixel_stride);
    }
    return 1;
}
#endif

void as_conv2d_s8(const int8_t *input, int in_height, int in_width, int in_channels, int in_pixel_stride,
                  int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int kernel_size,
                  int stride, int out_channels, const as_requant_s8 *requant, int8_t *output,
                  int out_pixel_stride)
{
    as__conv_shape s;
#if defined(AS_X86_AVX512)
    if (in_channels == 1 && kernel_size == 3 &&
        conv2d_s8_stem(input, in_height, in_width, in_pixel_stride, input_zero_point, weights, bias, stride,
                       out_channels, requant, output, out_pixel_stride)) {
        return;
    }
#endif
    s = conv_shape(in_height, in_width, in_channels, in_pixel_stride, kernel_size, stride, out_channels,
                   out_pixel_stride);
    as__conv_gemm_s8(&s, input, input_zero_point, weights, bias, requant, output);
}
