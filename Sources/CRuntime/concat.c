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
#include "simd_requant.h"


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
    if (channels >= 8 && channels <= 128) {
        /* short pixel rows (concat slices): constant-size copies inline to one vector move each; a
         * ragged end is one more move that overlaps the previous one (within the slice) */
        const int step = channels >= 16 ? 16 : 8;
        for (p = 0; p < pixels; p++) {
            const int8_t *x = input + (size_t)p * in_pixel_stride;
            int8_t *y = output + (size_t)p * out_pixel_stride;
            int c = 0;
            if (step == 16) {
                for (; c + 16 <= channels; c += 16) {
                    memcpy(y + c, x + c, 16);
                }
                if (c < channels) {
                    memcpy(y + channels - 16, x + channels - 16, 16);
                }
            } else {
                memcpy(y, x, 8);
                memcpy(y + channels - 8, x + channels - 8, 8);
            }
        }
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
    int pixels = height * width;
    int p, c;
    if (pixels <= 0 || channels <= 0) {
        return;
    }
    /* contiguous input and output: one flat row */
    if (in_pixel_stride == channels && out_pixel_stride == channels && (int64_t)pixels * channels <= INT32_MAX) {
        channels *= pixels;
        pixels = 1;
    }
#if defined(AS_X86_AVX512)
    {
        as__rq_avx512 q;
        const __m512i vzi = _mm512_set1_epi32(input_zero_point);
        const __m512i vzo = _mm512_set1_epi32(output_zero_point);
        const __m512i vlo = _mm512_set1_epi32(-128 - output_zero_point);
        const __m512i vhi = _mm512_set1_epi32(127 - output_zero_point);
        as__rq_avx512_init(&q, _mm512_set1_epi32(multiplier), _mm512_set1_epi32(shift));
        for (p = 0; p < pixels; p++) {
            const int8_t *x = input + (size_t)p * in_pixel_stride;
            int8_t *y = output + (size_t)p * out_pixel_stride;
            for (c = 0; c < channels; c += 16) {
                const __mmask16 m = as__lanes16(channels - c);
                const __m512i v = as__rq_avx512_apply(
                    &q, _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x + c)), vzi));
                _mm_mask_storeu_epi8(y + c, m, _mm512_cvtepi32_epi8(as__output_avx512(v, vzo, vlo, vhi)));
            }
        }
        return;
    }
#elif defined(AS_X86_AVX2)
    {
        as__rq_avx2 q;
        const __m256i vzi = _mm256_set1_epi32(input_zero_point);
        const __m256i vzo = _mm256_set1_epi32(output_zero_point);
        const __m256i vlo = _mm256_set1_epi32(-128 - output_zero_point);
        const __m256i vhi = _mm256_set1_epi32(127 - output_zero_point);
        as__rq_avx2_init(&q, _mm256_set1_epi32(multiplier), _mm256_set1_epi32(shift));
        for (p = 0; p < pixels; p++) {
            const int8_t *x = input + (size_t)p * in_pixel_stride;
            int8_t *y = output + (size_t)p * out_pixel_stride;
            for (c = 0; c + 8 <= channels; c += 8) {
                __m256i v = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + c))), vzi);
                __m128i words;
                v = as__output_avx2(as__rq_avx2_apply(&q, v), vzo, vlo, vhi);
                words = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
                _mm_storel_epi64((__m128i *)(y + c), _mm_packs_epi16(words, words));
            }
            for (; c < channels; c++) {
                y[c] = as__output_s8(as__mbqm((int32_t)x[c] - input_zero_point, multiplier, shift), output_zero_point,
                                     -128, 127);
            }
        }
        return;
    }
#elif defined(AS_ARM_NEON)
    {
        const int32x4_t m = vdupq_n_s32(multiplier);
        const int32x4_t left = vdupq_n_s32(shift > 0 ? shift : 0);
        const int32x4_t neg_right = vdupq_n_s32(shift > 0 ? 0 : shift);
        const int32x4_t vzo = vdupq_n_s32(output_zero_point);
        const int16x8_t vzi = vdupq_n_s16((int16_t)input_zero_point);
        const int8x16_t lo8 = vdupq_n_s8(-128), hi8 = vdupq_n_s8(127);
        for (p = 0; p < pixels; p++) {
            const int8_t *x = input + (size_t)p * in_pixel_stride;
            int8_t *y = output + (size_t)p * out_pixel_stride;
            for (c = 0; c + 16 <= channels; c += 16) {
                const int8x16_t v = vld1q_s8(x + c);
                const int16x8_t a0 = vsubq_s16(vmovl_s8(vget_low_s8(v)), vzi);
                const int16x8_t a1 = vsubq_s16(vmovl_s8(vget_high_s8(v)), vzi);
                vst1q_s8(y + c, as__output16_neon(as__mbqm_neon(vmovl_s16(vget_low_s16(a0)), m, left, neg_right),
                                                  as__mbqm_neon(vmovl_s16(vget_high_s16(a0)), m, left, neg_right),
                                                  as__mbqm_neon(vmovl_s16(vget_low_s16(a1)), m, left, neg_right),
                                                  as__mbqm_neon(vmovl_s16(vget_high_s16(a1)), m, left, neg_right),
                                                  vzo, lo8, hi8));
            }
            for (; c < channels; c++) {
                y[c] = as__output_s8(as__mbqm((int32_t)x[c] - input_zero_point, multiplier, shift), output_zero_point,
                                     -128, 127);
            }
        }
        return;
    }
#else
    {
        /* the result depends only on the input byte: a 256-entry table built with the row requantizer */
        int32_t row[256];
        int8_t table[256];
        const int32_t shift32 = shift;
        for (c = 0; c < 256; c++) {
            row[c] = (c - 128) - input_zero_point;
        }
        as__requant_row_s8(row, 256, &multiplier, &shift32, 0, output_zero_point, -128, 127, table);
        for (p = 0; p < pixels; p++) {
            const int8_t *x = input + (size_t)p * in_pixel_stride;
            int8_t *y = output + (size_t)p * out_pixel_stride;
            for (c = 0; c < channels; c++) {
                y[c] = table[(int)x[c] + 128];
            }
        }
    }
#endif
}
