/*
 * tools/gemm-insn-count.c - runs one int8 GEMM kernel call (argv[1] = case number, 0 = none) on fixed
 * pseudo-random data and prints a hash of the output. tools/gemm-insn-count counts the guest instructions of each
 * case under qemu per Arm tier (minus case 0: start-up and exit), so a tier's GEMM tiles can be compared layer by
 * layer (docs/benchmarks.md, "i8mm"). The cases are refnet's GEMM layers and two cell-network layers.
 */
#include "autoshrink_runtime.h"
#include <stdio.h>
#include <stdlib.h>

static int8_t input[28 * 28 * 64], output[28 * 28 * 128], weights[9 * 64 * 128];
static int32_t bias[128], multiplier[128], shift[128];

int main(int argc, char **argv)
{
    const int which = argc > 1 ? atoi(argv[1]) : 0;
    unsigned state = 1, hash = 2166136261u;
    as_requant_s8 requant;
    size_t i;
    for (i = 0; i < sizeof input; i++) {
        state = state * 1103515245u + 12345u;
        input[i] = (int8_t)(state >> 16);
    }
    for (i = 0; i < sizeof weights; i++) {
        state = state * 1103515245u + 12345u;
        weights[i] = (int8_t)((state >> 16) % 255 - 127);
    }
    for (i = 0; i < 128; i++) {
        bias[i] = (int32_t)i * 7 - 500;
        multiplier[i] = 1500000000;
        shift[i] = -9;
    }
    requant.multiplier = multiplier;
    requant.shift = shift;
    requant.output_zero_point = 3;
    requant.activation_min = -128;
    requant.activation_max = 127;
    switch (which) {
    case 1: as_conv2d_s8(input, 28, 28, 1, 1, 5, weights, bias, 3, 1, 16, &requant, output, 16); break;
    case 2: as_conv2d_s8(input, 28, 28, 16, 16, 5, weights, bias, 3, 2, 32, &requant, output, 32); break;
    case 3: as_pointwise_conv_s8(input, 14, 14, 32, 32, 5, weights, bias, 1, 64, &requant, output, 64); break;
    case 4: as_pointwise_conv_s8(input, 7, 7, 64, 64, 5, weights, bias, 1, 128, &requant, output, 128); break;
    case 5: as_conv2d_s8(input, 14, 14, 32, 32, 5, weights, bias, 3, 1, 32, &requant, output, 32); break;
    case 6: as_pointwise_conv_s8(input, 14, 14, 64, 64, 5, weights, bias, 1, 64, &requant, output, 64); break;
    default: break;
    }
    for (i = 0; i < sizeof output; i++) {
        hash = (hash ^ (uint8_t)output[i]) * 16777619u;
    }
    printf("%08x\n", hash);
    return 0;
}
