import AutoShrinkModel

/// The int8 fixed-point arithmetic of the TFLite scheme, bit-exact with the C runtime's
/// `requantize.c` (the exporter computes every constant here and writes it into `model.c`).
///
/// A real multiplier M > 0 is stored as a Q0.31 integer m in [2^30, 2^31) and an exponent s with
/// M ~= m * 2^(s - 31); applying it to an int32 x is MBQM(x, m, s) (saturating rounding doubling
/// high multiply, then rounding divide by a power of two).
public enum Requantization {
    /// A Q0.31 multiplier and its exponent (`as_quantize_multiplier`'s two outputs).
    public struct Multiplier: Hashable, Sendable, Codable, CustomStringConvertible {
        public var multiplier: Int32
        /// Exponent in [-31, 30]: real ~= multiplier * 2^(shift - 31).
        public var shift: Int32
        public init(multiplier: Int32, shift: Int32) { self.multiplier = multiplier; self.shift = shift }
        /// The real value this pair stands for.
        public var real: Double { Double(multiplier) * pow2(Int(shift) - 31) }
        public var description: String { "(\(multiplier), \(shift))" }
    }

    /// `as_quantize_multiplier`: frexp by exact halving/doubling, mantissa * 2^31 rounded half away
    /// from zero, a mantissa that rounds up to 2^31 renormalised; reals <= 0, NaN, infinite or below
    /// 2^-32 give (0, 0); reals >= 2^30 saturate to (2^31 - 1, 30).
    public static func quantizeMultiplier(_ real: Double) -> Multiplier {
        guard real > 0, real <= Double.greatestFiniteMagnitude else { return Multiplier(multiplier: 0, shift: 0) }
        var mantissa = real
        var exponent = 0
        while mantissa >= 1 { mantissa *= 0.5; exponent += 1 }
        while mantissa < 0.5 { mantissa *= 2; exponent -= 1 }
        var fixed = roundHalfAwayFromZero(mantissa * 2_147_483_648.0)
        if fixed == Int64(1) << 31 { fixed /= 2; exponent += 1 }
        if exponent < -31 { fixed = 0; exponent = 0 }
        if exponent > 30 { fixed = Int64(Int32.max); exponent = 30 }
        return Multiplier(multiplier: Int32(fixed), shift: Int32(exponent))
    }

    /// round(value) with halves away from zero, as the C runtime computes it (truncate, then
    /// compare the exact fraction); `value` must fit in Int64.
    public static func roundHalfAwayFromZero(_ value: Double) -> Int64 {
        var whole = Int64(value)
        let fraction = value - Double(whole)
        if fraction >= 0.5 { whole += 1 } else if fraction <= -0.5 { whole -= 1 }
        return whole
    }

    /// `as_quantize_s8` for one value: clamp(round_half_away(x / scale) + zp, -128, 127), NaN -> zp.
    public static func quantize(_ value: Float, scale: Float, zeroPoint: Int) -> Int8 {
        var scaled = Double(value) / Double(scale)
        if scaled.isNaN { return Int8(clamping: zeroPoint) }
        scaled = Swift.min(Swift.max(scaled, -1e6), 1e6)
        return Int8(clamping: roundHalfAwayFromZero(scaled) + Int64(zeroPoint))
    }

    /// `as_activation_range_s8`: the quantized clamp of an activation for an output tensor.
    public static func activationRange(_ activation: Activation, output: AffineQuantization) -> ClosedRange<Int32> {
        var low: Int32 = -128, high: Int32 = 127
        if activation != .none {
            low = Swift.max(low, Int32(quantize(0, scale: output.scale, zeroPoint: output.zeroPoint)))
        }
        if activation == .relu6 {
            high = Swift.min(high, Int32(quantize(6, scale: output.scale, zeroPoint: output.zeroPoint)))
        }
        return low...high
    }

    // MARK: gemmlowp primitives (for the Swift int8 reference and tests)

    /// round(a * b / 2^31), halves up; INT32_MIN * INT32_MIN saturates.
    public static func saturatingRoundingDoublingHighMul(_ a: Int32, _ b: Int32) -> Int32 {
        if a == .min && b == .min { return .max }
        let product = Int64(a) * Int64(b)
        let nudge: Int64 = product >= 0 ? 1 << 30 : 1 - (1 << 30)
        return Int32((product + nudge) / (1 << 31))
    }

    /// x / 2^exponent rounded to nearest, halves away from zero (exponent 0...31).
    public static func roundingDivideByPowerOfTwo(_ x: Int32, _ exponent: Int) -> Int32 {
        let mask = Int32(truncatingIfNeeded: (UInt32(1) << UInt32(exponent)) &- 1)
        let remainder = x & mask
        let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
        let floor = Int32((Int64(x) - Int64(remainder)) / (Int64(1) << Int64(exponent)))
        return floor + (remainder > threshold ? 1 : 0)
    }

    /// MBQM(x, m, s): saturating x * 2^max(s, 0), SRDHM by m, rounding divide by 2^max(-s, 0).
    public static func multiply(_ x: Int32, by multiplier: Multiplier) -> Int32 {
        let shift = Int(multiplier.shift)
        let left = Swift.max(shift, 0), right = Swift.max(-shift, 0)
        let shifted = Int32(clamping: Int64(x) * (Int64(1) << Int64(left)))
        return roundingDivideByPowerOfTwo(saturatingRoundingDoublingHighMul(shifted, multiplier.multiplier), right)
    }

    /// clamp(zp + MBQM(acc, m, s), range) as int8.
    public static func requantize(_ accumulator: Int32, _ multiplier: Multiplier, zeroPoint: Int32,
                                  range: ClosedRange<Int32> = -128...127) -> Int8 {
        let value = Int64(multiply(accumulator, by: multiplier)) + Int64(zeroPoint)
        return Int8(Swift.min(Swift.max(value, Int64(range.lowerBound)), Int64(range.upperBound)))
    }
}

/// Parameters of the int8 elementwise add, computed exactly as `as_add_params_s8_init` does
/// (TFLite ADD: both inputs shifted left by 20, rescaled to 2 max(s1, s2), summed, rescaled).
public struct AddParameters: Hashable, Sendable, Codable {
    /// `AS_ADD_LEFT_SHIFT` of the C runtime.
    public static let leftShift: Int32 = 20

    public var input1ZeroPoint: Int32
    public var input2ZeroPoint: Int32
    public var outputZeroPoint: Int32
    public var input1: Requantization.Multiplier
    public var input2: Requantization.Multiplier
    public var output: Requantization.Multiplier
    public var activationMin: Int32
    public var activationMax: Int32

    public init(input1: AffineQuantization, input2: AffineQuantization, output: AffineQuantization,
                activation: Activation = .none) {
        let s1 = Double(input1.scale), s2 = Double(input2.scale)
        let twiceMaxInputScale = 2.0 * (s1 > s2 ? s1 : s2)
        input1ZeroPoint = Int32(input1.zeroPoint)
        input2ZeroPoint = Int32(input2.zeroPoint)
        outputZeroPoint = Int32(output.zeroPoint)
        self.input1 = Requantization.quantizeMultiplier(s1 / twiceMaxInputScale)
        self.input2 = Requantization.quantizeMultiplier(s2 / twiceMaxInputScale)
        self.output = Requantization.quantizeMultiplier(
            twiceMaxInputScale / (Double(Int32(1) << AddParameters.leftShift) * Double(output.scale)))
        let range = Requantization.activationRange(activation, output: output)
        activationMin = range.lowerBound
        activationMax = range.upperBound
    }

    /// One output value from two int8 inputs (the C reference's arithmetic).
    public func apply(_ a: Int8, _ b: Int8) -> Int8 {
        let scaleUp = Int32(1) << AddParameters.leftShift
        let x = (Int32(a) - input1ZeroPoint) * scaleUp, y = (Int32(b) - input2ZeroPoint) * scaleUp
        let sum = Requantization.multiply(x, by: input1) + Requantization.multiply(y, by: input2)
        return Requantization.requantize(sum, output, zeroPoint: outputZeroPoint, range: activationMin...activationMax)
    }
}

/// 2^exponent as a Double (exact for the exponents used here).
func pow2(_ exponent: Int) -> Double {
    var value = 1.0
    if exponent >= 0 { for _ in 0..<exponent { value *= 2 } } else { for _ in 0..<(-exponent) { value *= 0.5 } }
    return value
}
