/*
 * simd_tier.c - which SIMD code this build of the runtime runs, fixed at compile time by the target
 * flags through the AS_* macros the kernels test (kernel_common.h). One table gives both names:
 *   as_runtime_simd_path()  an id for files (profiles' simd_path, the bench's "simd"), e.g. "x86-avx2";
 *   as_simd_tier()          a name for people (program output), e.g. "x86 AVX2".
 * docs/devices.md lists which device file builds which tier.
 *
 * Builds without a hand-written SIMD path (armv7 without NEON or FMA, x86-64 baseline, AUTOSHRINK_PORTABLE) run the
 * portable C loops, which the compiler vectorises for whatever the flags allow: their id is
 * "portable" and their name says "portable C" and the vector ISA the compiler could use.
 */
#include "kernel_common.h"

#if defined(AS_X86_AVX512_VNNI)
#define AS_SIMD_PATH "x86-avx512-vnni"
#define AS_SIMD_TIER "x86 AVX-512 VNNI"
#elif defined(AS_X86_AVX512)
#define AS_SIMD_PATH "x86-avx512"
#define AS_SIMD_TIER "x86 AVX-512"
#elif defined(AS_X86_AVX2) && defined(AS_X86_AVXVNNI)
#define AS_SIMD_PATH "x86-avx2-vnni"
#define AS_SIMD_TIER "x86 AVX2 + AVX-VNNI"
#elif defined(AS_X86_AVX2)
#define AS_SIMD_PATH "x86-avx2"
#define AS_SIMD_TIER "x86 AVX2"
#elif defined(AS_ARM_I8MM)
#define AS_SIMD_PATH "aarch64-neon-i8mm"
#define AS_SIMD_TIER "aarch64 NEON i8mm"
#elif defined(AS_ARM_DOTPROD)
#define AS_SIMD_PATH "aarch64-neon-dotprod"
#define AS_SIMD_TIER "aarch64 NEON dotprod"
#elif defined(AS_ARM_V7)
#define AS_SIMD_PATH "armv7-neon"
#define AS_SIMD_TIER "armv7 NEON"
#elif defined(AS_ARM_NEON)
#define AS_SIMD_PATH "aarch64-neon"
#define AS_SIMD_TIER "aarch64 NEON"
#elif defined(__aarch64__)
#define AS_SIMD_PATH "portable"
#define AS_SIMD_TIER "aarch64 (portable C)"
#elif defined(__arm__) && defined(__ARM_NEON)
#define AS_SIMD_PATH "portable"
#define AS_SIMD_TIER "armv7 NEON without FMA (portable C)"
#elif defined(__arm__)
#define AS_SIMD_PATH "portable"
#define AS_SIMD_TIER "armv7 scalar (portable C)"
#elif defined(__x86_64__)
#define AS_SIMD_PATH "portable"
#define AS_SIMD_TIER "x86-64 (portable C)"
#else
#define AS_SIMD_PATH "portable"
#define AS_SIMD_TIER "scalar (portable C)"
#endif

const char *as_runtime_simd_path(void)
{
    return AS_SIMD_PATH;
}

const char *as_simd_tier(void)
{
    return AS_SIMD_TIER;
}
