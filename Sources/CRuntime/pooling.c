/*
 * pooling.c - 2x2 stride-2 max-pool and global average pool.
 *
 * Layout letters: H = height, W = width, C = channels.
 *   max-pool:  input [H][W][C] -> output [H/2][W/2][C] (floor), pixel strides on both sides
 *   avg-pool:  input [H][W][C] -> output [C]
 * Channels are contiguous, so every optimized loop runs across channels.
 */
#include "kernel_common.h"

#define POOL_CHUNK 256 /* channels per pass of the average pool (accumulator row on the stack) */

void as_max_pool2x2_f32_ref(const float *input, int in_height, int in_width, int channels,
                            int in_pixel_stride, float *output, int out_pixel_stride)
{
    const int out_height = in_height / 2, out_width = in_width / 2;
    int oy, ox, c, dy, dx;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            for (c = 0; c < channels; c++) {
                float m = input[((size_t)(2 * oy) * in_width + 2 * ox) * in_pixel_stride + c];
                for (dy = 0; dy < 2; dy++) {
                    for (dx = 0; dx < 2; dx++) {
                        const float v =
                            input[((size_t)(2 * oy + dy) * in_width + (2 * ox + dx)) * in_pixel_stride + c];
                        m = v > m ? v : m;
                    }
                }
                output[((size_t)oy * out_width + ox) * out_pixel_stride + c] = m;
            }
        }
    }
}

void as_max_pool2x2_f32(const float *input, int in_height, int in_width, int channels, int in_pixel_stride,
                        float *output, int out_pixel_stride)
{
    const int out_height = in_height / 2, out_width = in_width / 2;
    const size_t row = (size_t)in_width * in_pixel_stride;
    int oy, ox, c;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            const float *a = input + ((size_t)(2 * oy) * in_width + 2 * ox) * in_pixel_stride;
            const float *b = a + in_pixel_stride, *d = a + row, *e = a + row + in_pixel_stride;
            float *y = output + ((size_t)oy * out_width + ox) * out_pixel_stride;
            for (c = 0; c < channels; c++) {
                float m = a[c];
                m = b[c] > m ? b[c] : m;
                m = d[c] > m ? d[c] : m;
                m = e[c] > m ? e[c] : m;
                y[c] = m;
            }
        }
    }
}

void as_max_pool2x2_s8_ref(const int8_t *input, int in_height, int in_width, int channels,
                           int in_pixel_stride, int8_t *output, int out_pixel_stride)
{
    const int out_height = in_height / 2, out_width = in_width / 2;
    int oy, ox, c, dy, dx;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            for (c = 0; c < channels; c++) {
                int8_t m = -128;
                for (dy = 0; dy < 2; dy++) {
                    for (dx = 0; dx < 2; dx++) {
                        const int8_t v =
                            input[((size_t)(2 * oy + dy) * in_width + (2 * ox + dx)) * in_pixel_stride + c];
                        m = v > m ? v : m;
                    }
                }
                output[((size_t)oy * out_width + ox) * out_pixel_stride + c] = m;
            }
        }
    }
}

void as_max_pool2x2_s8(const int8_t *input, int in_height, int in_width, int channels, int in_pixel_stride,
                       int8_t *output, int out_pixel_stride)
{
    const int out_height = in_height / 2, out_width = in_width / 2;
    const size_t row = (size_t)in_width * in_pixel_stride;
    int oy, ox, c;
    for (oy = 0; oy < out_height; oy++) {
        for (ox = 0; ox < out_width; ox++) {
            const int8_t *a = input + ((size_t)(2 * oy) * in_width + 2 * ox) * in_pixel_stride;
            const int8_t *b = a + in_pixel_stride, *d = a + row, *e = a + row + in_pixel_stride;
            int8_t *y = output + ((size_t)oy * out_width + ox) * out_pixel_stride;
            for (c = 0; c < channels; c++) {
                const int8_t top = a[c] > b[c] ? a[c] : b[c];
                const int8_t bottom = d[c] > e[c] ? d[c] : e[c];
                y[c] = top > bottom ? top : bottom;
            }
        }
    }
}

void as_global_avg_pool_f32_ref(const float *input, int height, int width, int channels,
                                int in_pixel_stride, float *output)
{
    const int pixels = height * width;
    int c, p;
    for (c = 0; c < channels; c++) {
        float sum = 0.0f;
        for (p = 0; p < pixels; p++) {
            sum += input[(size_t)p * in_pixel_stride + c];
        }
        output[c] = sum / (float)pixels;
    }
}

void as_global_avg_pool_f32(const float *input, int height, int width, int channels, int in_pixel_stride,
                            float *output)
{
    const int pixels = height * width;
    float acc[POOL_CHUNK];
    int c0, c, p;
    for (c0 = 0; c0 < channels; c0 += POOL_CHUNK) {
        const int nc = channels - c0 < POOL_CHUNK ? channels - c0 : POOL_CHUNK;
        for (c = 0; c < nc; c++) {
            acc[c] = 0.0f;
        }
        for (p = 0; p < pixels; p++) {
            const float *x = input + (size_t)p * in_pixel_stride + c0;
            for (c = 0; c < nc; c++) {
                acc[c] += x[c];
            }
        }
        for (c = 0; c < nc; c++) {
            output[c0 + c] = acc[c] / (float)pixels;
        }
    }
}

void as_global_avg_pool_s8_ref(const int8_t *input, int height, int width, int channels,
                               int in_pixel_stride, int32_t input_zero_point, int32_t multiplier, int shift,
                               int32_t output_zero_point, int8_t *output)
{
    const int pixels = height * width;
    int c, p;
    for (c = 0; c < channels; c++) {
        int32_t sum = 0;
        for (p = 0; p < pixels; p++) {
            sum += (int32_t)input[(size_t)p * in_pixel_stride + c] - input_zero_point;
        }
        output[c] = as__output_s8(as__mbqm(sum, multiplier, shift), output_zero_point, -128, 127);
    }
}

/* AVX2: 8 channels per ymm summed over the pixels in a register, the channel tail in a plain loop (gcc's
 * vectorized copy of the plain loops was 3 KB of code, docs/benchmarks.md) */
#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
#define GAP_ATTRIBUTES AS_NO_VECTORIZE
#else
#define GAP_ATTRIBUTES
#endif
GAP_ATTRIBUTES void as_global_avg_pool_s8(const int8_t *input, int height, int width, int channels,
                                          int in_pixel_stride, int32_t input_zero_point, int32_t multiplier,
                                          int shift, int32_t output_zero_point, int8_t *output)
{
    const int pixels = height * width;
    const int32_t offset = input_zero_point * pixels; /* sum(q - zp) = sum q - zp * H * W */
    const int32_t shift32 = shift;
    int32_t acc[POOL_CHUNK];
    int c0, c, p;
    for (c0 = 0; c0 < channels; c0 += POOL_CHUNK) {
        const int nc = channels - c0 < POOL_CHUNK ? channels - c0 : POOL_CHUNK;
#if defined(AS_X86_AVX2) && !defined(AS_X86_AVX512)
        for (c = 0; c + 8 <= nc; c += 8) {
            __m256i v = _mm256_set1_epi32(-offset);
            for (p = 0; p < pixels; p++) {
                v = _mm256_add_epi32(v, _mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                            (const __m128i *)(const void *)(input + (size_t)p * in_pixel_stride + c0 + c))));
            }
            _mm256_storeu_si256((__m256i *)(void *)(acc + c), v);
        }
        for (; c < nc; c++) { /* the channel tail, < 8 channels */
            acc[c] = -offset;
            for (p = 0; p < pixels; p++) {
                acc[c] += input[(size_t)p * in_pixel_stride + c0 + c];
            }
        }
#else
        for (c = 0; c < nc; c++) {
            acc[c] = -offset;
        }
        for (p = 0; p < pixels; p++) {
            const int8_t *x = input + (size_t)p * in_pixel_stride + c0;
            for (c = 0; c < nc; c++) {
                acc[c] += x[c];
            }
        }
#endif
        as__requant_row_s8(acc, nc, &multiplier, &shift32, 0, output_zero_point, -128, 127, output + c0);
    }
}
