import AutoShrinkModel
import CRuntime

/// The int8 fixed-point arithmetic of the TFLite scheme. The exporter computes every constant it
/// writes into `model.c` by calling the C runtime's own functions (requantize.c, linked into
/// autoshrink), so the constants are those the kernels would compute themselves.
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

    /// `as_quantize_multiplier`: reals <= 0, NaN, infinite or below 2^-32 give (0, 0); reals >= 2^30
    /// saturate to (2^31 - 1, 30); the mantissa is rounded half away from zero.
    public static func quantizeMultiplier(_ real: Double) -> Multiplier {
        var multiplier: Int32 = 0
        var shift: Int32 = 0
        as_quantize_multiplier(real, &multiplier, &shift)
        return Multiplier(multiplier: multiplier, shift: shift)
    }

    /// `as_quantize_s8` for one value: clamp(round_half_away(x / scale) + zp, -128, 127), NaN -> zp.
    public static func quantize(_ value: Float, scale: Float, zeroPoint: Int) -> Int8 {
        var input = value
        var output: Int8 = 0
        as_quantize_s8(&input, 1, scale, Int32(clamping: zeroPoint), &output)
        return output
    }

    /// `as_activation_range_s8`: the quantized clamp of an activation for an output tensor.
    public static func activationRange(_ activation: Activation, output: AffineQuantization) -> ClosedRange<Int32> {
        var low: Int32 = 0, high: Int32 = 0
        as_activation_range_s8(activation.runtime, output.scale, Int32(clamping: output.zeroPoint), &low, &high)
        return low...high
    }

    /// `as_multiply_by_quantized_multiplier`: MBQM(x, m, s).
    public static func multiply(_ x: Int32, by multiplier: Multiplier) -> Int32 {
        as_multiply_by_quantized_multiplier(x, multiplier.multiplier, multiplier.shift)
    }

    /// `as_requantize_value`: clamp(zp + MBQM(acc, m, s), range) as int8.
    public static func requantize(_ accumulator: Int32, _ multiplier: Multiplier, zeroPoint: Int32,
                                  range: ClosedRange<Int32> = -128...127) -> Int8 {
        as_requantize_value(accumulator, multiplier.multiplier, multiplier.shift, zeroPoint, range.lowerBound, range.upperBound)
    }
}

extension Activation {
    /// The C runtime's `as_activation`.
    var runtime: as_activation {
        switch self {
        case .none: AS_ACTIVATION_NONE
        case .relu: AS_ACTIVATION_RELU
        case .relu6: AS_ACTIVATION_RELU6
        }
    }
}

/// Parameters of the int8 elementwise add, filled by `as_add_params_s8_init` (TFLite ADD: both
/// inputs shifted left by 20, rescaled to 2 max(s1, s2), summed, rescaled).
public struct AddParameters: Hashable, Sendable, Codable {
    /// `AS_ADD_LEFT_SHIFT` of the C runtime.
    public static let leftShift = Int32(AS_ADD_LEFT_SHIFT)

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
        var p = as_add_params_s8()
        as_add_params_s8_init(input1.scale, Int32(clamping: input1.zeroPoint), input2.scale, Int32(clamping: input2.zeroPoint),
                              output.scale, Int32(clamping: output.zeroPoint), activation.runtime, &p)
        input1ZeroPoint = p.input1_zero_point
        input2ZeroPoint = p.input2_zero_point
        outputZeroPoint = p.output_zero_point
        self.input1 = Requantization.Multiplier(multiplier: p.input1_multiplier, shift: p.input1_shift)
        self.input2 = Requantization.Multiplier(multiplier: p.input2_multiplier, shift: p.input2_shift)
        self.output = Requantization.Multiplier(multiplier: p.output_multiplier, shift: p.output_shift)
        activationMin = p.activation_min
        activationMax = p.activation_max
    }
}

/// 2^exponent as a Double (exact for the exponents used here).
func pow2(_ exponent: Int) -> Double {
    var value = 1.0
    if exponent >= 0 { for _ in 0..<exponent { value *= 2 } } else { for _ in 0..<(-exponent) { value *= 0.5 } }
    return value
}
