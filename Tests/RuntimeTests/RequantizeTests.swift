// Fixed-point arithmetic of the int8 scheme (requantize.c) against straightforward Swift references
// written from the gemmlowp / TFLite definitions with Int64 and Double arithmetic.
import CRuntime
import Foundation
import Testing

/// Independent Swift versions of the definitions in autoshrink_runtime.h.
enum FixedPointReference {
    /// gemmlowp: (a*b + nudge) / 2^31 truncating, nudge = 2^30 or 1 - 2^30; MIN*MIN saturates.
    static func srdhm(_ a: Int32, _ b: Int32) -> Int32 {
        if a == .min && b == .min { return .max }
        let product = Int64(a) * Int64(b)
        let nudge: Int64 = product >= 0 ? 1 << 30 : 1 - (1 << 30)
        return Int32((product + nudge) / (1 << 31))
    }

    /// x / 2^exponent rounded half away from zero; exact in Double (|x| <= 2^31, exponent <= 31).
    static func rdbpot(_ x: Int32, _ exponent: Int) -> Int32 {
        Int32((Double(x) / Double(Int64(1) << exponent)).rounded(.toNearestOrAwayFromZero))
    }

    /// Saturating x * 2^max(s, 0), SRDHM by m, RDBPOT by max(-s, 0).
    static func mbqm(_ x: Int32, _ multiplier: Int32, _ shift: Int) -> Int32 {
        let shifted = Int32(clamping: Int64(x) << max(shift, 0))
        return rdbpot(srdhm(shifted, multiplier), max(-shift, 0))
    }

    static func requantize(_ accumulator: Int32, _ multiplier: Int32, _ shift: Int, zeroPoint: Int32,
                           min lo: Int32, max hi: Int32) -> Int8 {
        Int8(min(max(Int64(mbqm(accumulator, multiplier, shift)) + Int64(zeroPoint), Int64(lo)), Int64(hi)))
    }

    /// TFLite QuantizeMultiplier: frexp, round the Q0.31 mantissa half away from zero.
    static func quantizeMultiplier(_ real: Double) -> (multiplier: Int32, shift: Int) {
        guard real > 0, real.isFinite else { return (0, 0) }
        var exponent = Int(real.exponent) + 1 // frexp exponent: real = mantissa * 2^exponent
        let mantissa = real.significand / 2 // in [0.5, 1)
        var fixed = Int64((mantissa * 2_147_483_648).rounded(.toNearestOrAwayFromZero))
        if fixed == 1 << 31 {
            fixed /= 2
            exponent += 1
        }
        if exponent < -31 { return (0, 0) }
        if exponent > 30 { return (.max, 30) }
        return (Int32(fixed), exponent)
    }
}

private func quantizeMultiplier(_ real: Double) -> (multiplier: Int32, shift: Int) {
    var multiplier: Int32 = 0, shift: Int32 = 0
    as_quantize_multiplier(real, &multiplier, &shift)
    return (multiplier, Int(shift))
}

/// Edge values mixed into random int32 streams.
private let edgeValues: [Int32] = [.min, .min + 1, -1 << 30, -65536, -3, -2, -1, 0, 1, 2, 3, 65535, 1 << 30,
                                   .max - 1, .max]

private func randomInt32(_ random: inout TestRandom) -> Int32 {
    random.int(0, 3) == 0 ? random.pick(edgeValues) : Int32(bitPattern: random.next())
}

@Suite("Requantization arithmetic")
struct RequantizeTests {
    @Test("quantize_multiplier: known values")
    func knownMultipliers() {
        #expect(quantizeMultiplier(0.5) == (1 << 30, 0))
        #expect(quantizeMultiplier(0.25) == (1 << 30, -1))
        #expect(quantizeMultiplier(1e-3) == (1_099_511_628, -9)) // 1e-3 = 0.512 * 2^-9
        #expect(quantizeMultiplier(0.999) == (2_145_336_164, 0)) // 0.999 * 2^31 = 2145336164.352
        #expect(quantizeMultiplier(1.0) == (1 << 30, 1))
        #expect(quantizeMultiplier(0.75) == (1_610_612_736, 0))
        // a mantissa that rounds up to 2^31 becomes 2^30 with the exponent bumped
        #expect(quantizeMultiplier(1 - 0x1p-40) == (1 << 30, 1))
        // out of range and degenerate inputs
        #expect(quantizeMultiplier(0) == (0, 0))
        #expect(quantizeMultiplier(-0.5) == (0, 0))
        #expect(quantizeMultiplier(.nan) == (0, 0))
        #expect(quantizeMultiplier(.infinity) == (0, 0))
        #expect(quantizeMultiplier(0x1p-40) == (0, 0))
        #expect(quantizeMultiplier(0x1p31) == (.max, 30))
    }

    @Test("quantize_multiplier: random reals against the Swift reference, and the value it encodes")
    func randomMultipliers() {
        var random = TestRandom(seed: 11)
        for _ in 0..<5000 {
            let real = pow(2, Double(random.float(-34, 8))) * Double(random.float(1, 2))
            let got = quantizeMultiplier(real)
            let want = FixedPointReference.quantizeMultiplier(real)
            #expect(got == want, "real \(real)")
            if got.multiplier != 0 && got.shift < 30 {
                #expect(got.multiplier >= 1 << 30)
                let encoded = Double(got.multiplier) * pow(2, Double(got.shift - 31))
                #expect(abs(encoded - real) <= real * 0x1p-30, "real \(real) encoded \(encoded)")
            }
        }
    }

    @Test("SaturatingRoundingDoublingHighMul: saturation and halves")
    func srdhmKnownValues() {
        #expect(as_saturating_rounding_doubling_high_mul(.min, .min) == .max)
        #expect(as_saturating_rounding_doubling_high_mul(.min, .max) == -Int32.max)
        #expect(as_saturating_rounding_doubling_high_mul(.max, .max) == Int32.max - 1)
        #expect(as_saturating_rounding_doubling_high_mul(1 << 15, 1 << 15) == 1) // +0.5 -> 1
        #expect(as_saturating_rounding_doubling_high_mul(-(1 << 15), 1 << 15) == 0) // -0.5 -> 0
        #expect(as_saturating_rounding_doubling_high_mul(3 << 14, 1 << 16) == 2) // +1.5 -> 2
        #expect(as_saturating_rounding_doubling_high_mul(-(3 << 14), 1 << 16) == -1) // -1.5 -> -1
        #expect(as_saturating_rounding_doubling_high_mul(1 << 30, 1 << 30) == 1 << 29)
    }

    @Test("SaturatingRoundingDoublingHighMul: random pairs against Int64 references")
    func srdhmRandom() {
        var random = TestRandom(seed: 12)
        for _ in 0..<20000 {
            let a = randomInt32(&random), b = randomInt32(&random)
            let got = as_saturating_rounding_doubling_high_mul(a, b)
            #expect(got == FixedPointReference.srdhm(a, b), "a \(a) b \(b)")
            if !(a == .min && b == .min) {
                // the same number as floor((ab + 2^30) / 2^31): round half up
                #expect(Int64(got) == (Int64(a) * Int64(b) + (1 << 30)) >> 31, "a \(a) b \(b)")
            }
        }
    }

    @Test("RoundingDivideByPOT: negative halves round away from zero")
    func rdbpotKnownValues() {
        let cases: [(Int32, Int32, Int32)] = [
            (-3, 1, -2), (-1, 1, -1), (-5, 1, -3), (-5, 2, -1), (-6, 2, -2), (-2, 2, -1), (-7, 2, -2),
            (3, 1, 2), (5, 1, 3), (1, 1, 1), (6, 2, 2), (2, 2, 1), (7, 2, 2), (-4, 2, -1),
            (.min, 31, -1), (.max, 31, 1), (.min, 1, -(1 << 30)), (.max, 1, 1 << 30), (12345, 0, 12345),
            (-12345, 0, -12345),
        ]
        for (x, exponent, want) in cases {
            #expect(as_rounding_divide_by_pot(x, exponent) == want, "x \(x) exponent \(exponent)")
        }
    }

    @Test("RoundingDivideByPOT: random values against the Double reference")
    func rdbpotRandom() {
        var random = TestRandom(seed: 13)
        for _ in 0..<20000 {
            let x = randomInt32(&random), exponent = random.int(0, 31)
            #expect(as_rounding_divide_by_pot(x, Int32(exponent)) == FixedPointReference.rdbpot(x, exponent),
                    "x \(x) exponent \(exponent)")
        }
    }

    @Test("MultiplyByQuantizedMultiplier: left-shift saturation, random values")
    func mbqmRandom() {
        // x * 2^s saturates before the multiply
        #expect(as_multiply_by_quantized_multiplier(.max, 1 << 30, 5) == 1 << 30)
        #expect(as_multiply_by_quantized_multiplier(.min, 1 << 30, 5) == -(1 << 30))
        #expect(as_multiply_by_quantized_multiplier(100, 1 << 30, 2) == 200)
        #expect(as_multiply_by_quantized_multiplier(-3, 1 << 30, 0) == -1) // -1.5 -> -1 (SRDHM rounds up)
        #expect(as_multiply_by_quantized_multiplier(-3, 1 << 30, -1) == -1) // -0.75 -> -1
        var random = TestRandom(seed: 14)
        for _ in 0..<20000 {
            let x = randomInt32(&random)
            let multiplier = random.int(0, 7) == 0 ? randomInt32(&random) : Int32(1 << 30) + Int32(random.next() >> 2)
            let shift = random.bool() ? random.int(-31, 30) : random.int(-12, 3)
            #expect(as_multiply_by_quantized_multiplier(x, multiplier, Int32(shift))
                        == FixedPointReference.mbqm(x, multiplier, shift), "x \(x) m \(multiplier) s \(shift)")
        }
    }

    @Test("requantize_value: zero point and clamps without overflow")
    func requantizeValue() {
        var random = TestRandom(seed: 15)
        for _ in 0..<10000 {
            let accumulator = randomInt32(&random)
            let (multiplier, shift) = quantizeMultiplier(Double(random.float(1e-5, 2)))
            let zeroPoint = random.int32(-128, 127)
            var lo = random.int32(-128, 127), hi = random.int32(-128, 127)
            if lo > hi { swap(&lo, &hi) }
            #expect(as_requantize_value(accumulator, multiplier, Int32(shift), zeroPoint, lo, hi)
                        == FixedPointReference.requantize(accumulator, multiplier, shift, zeroPoint: zeroPoint,
                                                          min: lo, max: hi))
        }
        #expect(as_requantize_value(.max, .max, 30, 127, -128, 127) == 127)
        #expect(as_requantize_value(.min, .max, 30, -128, -128, 127) == -128)
    }

    @Test("Activation ranges in the quantized domain")
    func activationRanges() {
        func range(_ activation: as_activation, _ scale: Float, _ zeroPoint: Int32) -> (Int32, Int32) {
            var lo: Int32 = 0, hi: Int32 = 0
            as_activation_range_s8(activation, scale, zeroPoint, &lo, &hi)
            return (lo, hi)
        }
        #expect(range(AS_ACTIVATION_NONE, 0.1, 5) == (-128, 127))
        #expect(range(AS_ACTIVATION_RELU, 0.1, -10) == (-10, 127))
        #expect(range(AS_ACTIVATION_RELU6, 0.05, -128) == (-128, -8)) // 6 / 0.05 = 120
        #expect(range(AS_ACTIVATION_RELU6, 0.01, 0) == (0, 127)) // 600 clamps
        #expect(range(AS_ACTIVATION_RELU6, 6.0 / 255.0, -128) == (-128, 127))
    }

    @Test("quantize / dequantize: halves away from zero, clamps, NaN")
    func quantizeFloats() {
        let input: [Float] = [0, 0.5, -0.5, 1.5, -1.5, 2.4999, -2.5, 1000, -1000, .nan, .infinity, -.infinity]
        var output = [Int8](repeating: 0, count: input.count)
        as_quantize_s8(input, input.count, 1.0, 3, &output)
        #expect(output == [3, 4, 2, 5, 1, 5, 0, 127, -128, 3, 127, -128])
        as_quantize_s8([0.25, -0.25, 0.75], 3, 0.5, -128, &output)
        #expect(Array(output.prefix(3)) == [-127, -128, -126])
        var restored = [Float](repeating: 0, count: 3)
        as_dequantize_s8([-128, 0, 127], 3, 0.5, -28, &restored)
        #expect(restored == [-50, 14, 77.5])
    }

    @Test("Add parameters follow TFLite (left shift 20, twice the larger input scale)")
    func addParameters() {
        var params = as_add_params_s8()
        as_add_params_s8_init(0.02, -3, 0.05, 7, 0.08, -100, AS_ACTIVATION_RELU, &params)
        let s1 = Double(Float(0.02)), s2 = Double(Float(0.05)), output = Double(Float(0.08))
        let twiceMax = 2 * max(s1, s2)
        #expect(params.left_shift == 20)
        #expect(params.input1_zero_point == -3 && params.input2_zero_point == 7 && params.output_zero_point == -100)
        #expect((params.input1_multiplier, Int(params.input1_shift)) == quantizeMultiplier(s1 / twiceMax))
        #expect((params.input2_multiplier, Int(params.input2_shift)) == quantizeMultiplier(s2 / twiceMax))
        #expect((params.output_multiplier, Int(params.output_shift))
                    == quantizeMultiplier(twiceMax / (Double(1 << 20) * output)))
        #expect(params.input1_shift <= 0 && params.input2_shift <= 0)
        #expect(params.activation_min == -100 && params.activation_max == 127)
    }

    @Test("Runtime identity: version constant and compiled path")
    func runtimeIdentity() {
        #expect(AUTOSHRINK_RUNTIME_VERSION == "1")
        let path = String(cString: as_runtime_simd_path())
        #expect(["x86-avx512-vnni", "x86-avx512", "x86-avx2-vnni", "x86-avx2", "aarch64-neon-i8mm", "aarch64-neon-dotprod", "aarch64-neon", "armv7-neon", "portable"]
                    .contains(path))
        #expect(as_conv_output_size(28, 3, 1) == 28)
        #expect(as_conv_output_size(28, 3, 2) == 14)
        #expect(as_conv_output_size(7, 3, 2) == 4)
        #expect(as_conv_output_size(7, 1, 2) == 4)
        #expect(as_conv_output_size(9, 5, 3) == 3)
        #expect(as_pool_output_size(7) == 3)
        let t0 = as_time_ns(), t1 = as_time_ns()
        #expect(t1 >= t0 && t0 > 0)
    }
}
