/*
 * layout.c - output-shape rules, weight layout conversion, and the name of the compiled-in path.
 *
 * Layout letters: C = channels, R = reduction length (K*K*C_in), R4 = ceil(R / 4).
 */
#include "kernel_common.h"

int as_conv_output_size(int in_size, int kernel_size, int stride)
{
    return (in_size + 2 * (kernel_size / 2) - kernel_size) / stride + 1;
}

int as_pool_output_size(int in_size)
{
    return in_size / 2;
}

/* weights_oi [C_out][R] -> packed [R][C_out] */
void as_pack_weights_f32(const float *weights_oi, int out_channels, int reduction, float *packed)
{
    int o, r;
    for (r = 0; r < reduction; r++) {
        for (o = 0; o < out_channels; o++) {
            packed[(size_t)r * out_channels + o] = weights_oi[(size_t)o * reduction + r];
        }
    }
}

/* weights_oi [C_out][R] -> packed [R4][C_out][4]; entries with r >= R are zero. */
void as_pack_weights_s8(const int8_t *weights_oi, int out_channels, int reduction, int8_t *packed)
{
    const int groups = (reduction + 3) / 4;
    int g, o, t;
    for (g = 0; g < groups; g++) {
        for (o = 0; o < out_channels; o++) {
            for (t = 0; t < 4; t++) {
                const int r = 4 * g + t;
                packed[((size_t)g * out_channels + o) * 4 + t] =
                    r < reduction ? weights_oi[(size_t)o * reduction + r] : 0;
            }
        }
    }
}
