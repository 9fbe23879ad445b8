/*
 * simd_tier.c - the SIMD tier this build of the runtime runs, as a human-readable name for the
 * output of generated programs (e.g. "aarch64 NEON dotprod"). The tier is fixed at compile time by
 * the target flags, through the same AS_* macros the kernels test (kernel_common.h); see
 * docs/devices.md for which device file builds which tier.
 *
 * Builds without a hand-written SIMD path (armv7, x86-64 baseline, AUTOSHRINK_PORTABLE) run the
 * portable C loops, which the compiler vectorises for whatever the flags allow: the name says
 * "portable C" and the vector ISA the compiler could use (armv7 NEON needs -mfpu=neon*).
 */
#include "kernel_common.h"

const char *as_simd_tier(void)
{
#if defined(AS_X86_AVX512_VNNI)
    return "x86 AVX-512 VNNI";
#elif defined(AS_X86_AVX512)
    return "x86 AVX-512";
#elif defined(AS_X86_AVX2)
    return "x86 AVX2";
#elif defined(AS_ARM_DOTPROD)
    return "aarch64 NEON dotprod";
#elif defined(AS_ARM_NEON)
    return "aarch64 NEON";
#elif defined(__aarch64__)
    return "aarch64 (portable C)";
#elif defined(__arm__) && defined(__ARM_NEON)
    return "armv7 NEON (portable C)";
#elif defined(__arm__)
    return "armv7 scalar (portable C)";
#elif defined(__x86_64__)
    return "x86-64 (portable C)";
#else
    return "scalar (portable C)";
#endif
}
