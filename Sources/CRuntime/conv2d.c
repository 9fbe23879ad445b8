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
#define STEM_COLS (STEM_MAX_WIDTH * 2 + 3)

/* one int32 (two int16) from p */
static AS_ALWAYS_INLINE int32_t stem_word(const void *p)
{
    int32_t word;
    memcpy(&word, p, sizeof word);
    return word;
}

/* `count` output pixels (1 or 4) starting at column c0 (step `stride`) of one output row: the five pair
 * products per block, `count` independent accumulation chains (one chain per pixel was bound by the
 * multiply-add latency, docs/benchmarks.md) */
static AS_ALWAYS_INLINE void stem_pixels(const int count, int c0, int stride, const int16_t *const *row,
                                         const int32_t *col01, const int32_t *col2, int blocks,
                                         const __m512i (*wp)[STEM_MAX_CHANNELS / 16], const __m512i *b,
                                         const __mmask16 *mask, int out_channels, int32_t *acc)
{
    int j, k, p;
    for (j = 0; j < blocks; j++) {
        __m512i v[4];
        for (p = 0; p < count; p++) {
            v[p] = b[j];
        }
        for (k = 0; k < 5; k++) {
            for (p = 0; p < count; p++) {
                const int c = c0 + p * stride;
                const int32_t word = k < 3 ? stem_word(&row[k][c]) : k == 3 ? col01[c + 2] : col2[c + 2];
#if defined(AS_X86_AVX512_VNNI)
                v[p] = _mm512_dpwssd_epi32(v[p], wp[k][j], _mm512_set1_epi32(word));
#else
                v[p] = _mm512_add_epi32(v[p], _mm512_madd_epi16(wp[k][j], _mm512_set1_epi32(word)));
#endif
            }
        }
        for (p = 0; p < count; p++) {
            _mm512_mask_storeu_epi32(acc + (size_t)p * out_channels + j * 16, mask[j], v[p]);
        }
    }
}

static int conv2d_s8_stem(const int8_t *input, int in_height, int in_width, int in_pixel_stride,
                          int32_t input_zero_point, const int8_t *weights, const int32_t *bias, int stride,
                          int out_channels, const as_requant_s8 *requant, int8_t *output, int out_pixel_stride)
{
    const int out_height = as_conv_output_size(in_height, 3, stride);
    const int out_width = as_conv_output_size(in_width, 3, stride);
    const int cols = (out_width - 1) * stride + 3; /* padded columns a row's windows read */
    /* x - zp per padded column as int16 (0 outside the image) for input rows iy with iy = slot mod 3 (each
     * input row is converted once): a pixel's pair (x0, x1) of row k is the int32 at column c */
    int16_t row[3][STEM_COLS];
    int row_y[3] = {INT_MIN, INT_MIN, INT_MIN};
    int16_t zeros[STEM_COLS];
    int32_t col01[STEM_COLS], col2[STEM_COLS];     /* pairs (row0[c], row1[c]) and (row2[c], 0) */
    int32_t acc[STEM_MAX_WIDTH * STEM_MAX_CHANNELS];
    __m512i wp[5][STEM_MAX_CHANNELS / 16], b[STEM_MAX_CHANNELS / 16];
    __mmask16 mask[STEM_MAX_CHANNELS / 16];
    static const int tap_pairs[5][2] = {{0, 1}, {3, 4}, {6, 7}, {2, 5}, {8, -1}};
    const int blocks = (out_channels + 15) / 16;
    int oy, ox, k, j, i, c;
    if (out_width <= 0 || out_height <= 0 || out_width > STEM_MAX_WIDTH || out_channels <= 0 ||
        out_channels > STEM_MAX_CHANNELS || stride < 1 || stride > 2 || cols > STEM_COLS - 1) {
        return 0;
    }
    for (j = 0; j < blocks; j++) {
        int32_t lanes[5][16], bias_lanes[16];
        const int o0 = j * 16;
        const int n = out_channels - o0 < 16 ? out_channels - o0 : 16;
        mask[j] = as__lanes16(n);
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
    memset(zeros, 0, sizeof zeros);
    for (oy = 0; oy < out_height; oy++) {
        const int16_t *r[3];
        for (k = 0; k < 3; k++) {
            const int iy = oy * stride + k - 1;
            const int slot = (iy + 3) % 3;
            if (iy < 0 || iy >= in_height) {
                r[k] = zeros;
                continue;
            }
            if (row_y[slot] != iy) {
                const int8_t *src = input + (size_t)iy * in_width * in_pixel_stride;
                const int last = in_width < cols - 1 ? in_width : cols - 1; /* image columns 1..last */
                int16_t *dst = row[slot];
                dst[0] = 0;
                for (c = 1; c <= last; c++) {
                    dst[c] = (int16_t)((int32_t)src[(size_t)(c - 1) * in_pixel_stride] - input_zero_point);
                }
                for (; c <= cols; c++) {
                    dst[c] = 0;
                }
                row_y[slot] = iy;
            }
            r[k] = row[slot];
        }
        for (c = 2; c < cols; c++) {
            col01[c] = (int32_t)((uint32_t)(uint16_t)r[0][c] | ((uint32_t)(uint16_t)r[1][c] << 16));
            col2[c] = (int32_t)(uint32_t)(uint16_t)r[2][c];
        }
        for (ox = 0; ox + 4 <= out_width; ox += 4) {
            stem_pixels(4, ox * stride, stride, r, col01, col2, blocks, (const __m512i(*)[STEM_MAX_CHANNELS / 16])wp, b,
                        mask, out_channels, acc + (size_t)ox * out_channels);
        }
        for (; ox < out_width; ox++) {
            stem_pixels(1, ox * stride, stride, r, col01, col2, blocks, (const __m512i(*)[STEM_MAX_CHANNELS / 16])wp, b,
                        mask, out_channels, acc + (size_t)ox * out_channels);
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
