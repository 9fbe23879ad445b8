import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkExport

/// The exporter's constants come from the C runtime itself (CRuntime is linked into autoshrink); the
/// arithmetic is tested in RuntimeTests. These tests check the Swift wrappers pass values through.
@Suite("Requantization and weight packing through the C runtime")
struct RequantizationTests {
    @Test("Q0.31 multiplier and shift: known values, limits, and the value it encodes")
    func multiplier() {
        #expect(Requantization.quantizeMultiplier(0.5) == .init(multiplier: 1 << 30, shift: 0))
        #expect(Requantization.quantizeMultiplier(1) == .init(multiplier: 1 << 30, shift: 1))
        #expect(Requantization.quantizeMultiplier(0.75) == .init(multiplier: 3 << 29, shift: 0))
        #expect(Requantization.quantizeMultiplier(0) == .init(multiplier: 0, shift: 0))
        #expect(Requantization.quantizeMultiplier(-1) == .init(multiplier: 0, shift: 0))
        #expect(Requantization.quantizeMultiplier(.nan) == .init(multiplier: 0, shift: 0))
        #expect(Requantization.quantizeMultiplier(0x1p-33) == .init(multiplier: 0, shift: 0))
        #expect(Requantization.quantizeMultiplier(0x1p40) == .init(multiplier: Int32.max, shift: 30))
        // A mantissa that rounds up to 2^31 is renormalised.
        #expect(Requantization.quantizeMultiplier(1 - 0x1p-33) == .init(multiplier: 1 << 30, shift: 1))
        for real in [0.3, 1e-5, 0.0123, 3.7, 1234.5] {
            let encoded = Requantization.quantizeMultiplier(real)
            #expect(encoded.multiplier >= 1 << 30)
            #expect(abs(encoded.real - real) <= real * 0x1p-30, "\(real) -> \(encoded)")
        }
    }

    @Test("MBQM and requantize: halves away from zero, zero point, clamps")
    func multiplyAndRequantize() {
        let half = Requantization.Multiplier(multiplier: 1 << 30, shift: 0)
        // gemmlowp: the doubling high multiply rounds halves up, the divide by 2^n halves away from zero.
        #expect(Requantization.multiply(5, by: half) == 3)
        #expect(Requantization.multiply(-5, by: half) == -2)
        #expect(Requantization.multiply(5, by: .init(multiplier: 1 << 30, shift: -1)) == 2)
        #expect(Requantization.multiply(-5, by: .init(multiplier: 1 << 30, shift: -1)) == -1)
        #expect(Requantization.multiply(3, by: .init(multiplier: 1 << 30, shift: 2)) == 6)
        #expect(Requantization.requantize(100, half, zeroPoint: 10) == 60)
        #expect(Requantization.requantize(1000, half, zeroPoint: 0) == 127)
        #expect(Requantization.requantize(-1000, half, zeroPoint: 0, range: -20...20) == -20)
    }

    @Test("quantize and activation ranges in the quantized domain")
    func quantizeAndRanges() {
        #expect(Requantization.quantize(0.75, scale: 0.5, zeroPoint: 0) == 2)
        #expect(Requantization.quantize(-0.75, scale: 0.5, zeroPoint: 1) == -1)
        #expect(Requantization.quantize(.nan, scale: 0.1, zeroPoint: 7) == 7)
        #expect(Requantization.quantize(1e9, scale: 0.1, zeroPoint: 0) == 127)
        let output = AffineQuantization(scale: 0.05, zeroPoint: -100)
        #expect(Requantization.activationRange(.none, output: output) == -128...127)
        #expect(Requantization.activationRange(.relu, output: output) == -100...127)
        #expect(Requantization.activationRange(.relu6, output: output) == -100...20)
    }

    @Test("add parameters follow TFLite: left shift 20, inputs rescaled to twice the larger scale")
    func addParameters() {
        let a = AffineQuantization(scale: 0.02, zeroPoint: 3), b = AffineQuantization(scale: 0.05, zeroPoint: -7)
        let output = AffineQuantization(scale: 0.1, zeroPoint: 12)
        let p = AddParameters(input1: a, input2: b, output: output, activation: .relu)
        #expect(AddParameters.leftShift == 20)
        #expect(p.input1ZeroPoint == 3 && p.input2ZeroPoint == -7 && p.outputZeroPoint == 12)
        #expect(p.input1 == Requantization.quantizeMultiplier(Double(a.scale) / (2 * Double(b.scale))))
        #expect(p.input2 == Requantization.quantizeMultiplier(0.5))
        #expect(p.output == Requantization.quantizeMultiplier(2 * Double(b.scale) / (Double(1 << 20) * Double(output.scale))))
        #expect(p.activationMin...p.activationMax == 12...127)
    }

    @Test("weight packing: natural order, int8 [R4][C_out][4] with zero padding, float [R][C_out], depthwise")
    func packing() {
        // [out 2, in 3, k 1, k 1] -> [C_out][R] is the identity for 1x1.
        let natural = WeightPacking.naturalOrder(Array(0..<6), outputChannels: 2, inputChannels: 3, kernel: 1)
        #expect(natural == Array(0..<6))
        // 3x3, one input channel: r = ky * 3 + kx.
        let conv = WeightPacking.naturalOrder(Array(0..<18), outputChannels: 2, inputChannels: 1, kernel: 3)
        #expect(conv == Array(0..<18))
        // Two input channels, 2x2 kernel: [out, in, k, k] -> OHWI.
        let ohwi = WeightPacking.naturalOrder(Array(0..<8), outputChannels: 1, inputChannels: 2, kernel: 2)
        #expect(ohwi == [0, 4, 1, 5, 2, 6, 3, 7])

        let weights: [Int8] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]   // C_out 2, R 5
        #expect(WeightPacking.packInt8(weights, outputChannels: 2, reduction: 5)
                == [1, 2, 3, 4, 6, 7, 8, 9, 5, 0, 0, 0, 10, 0, 0, 0])
        #expect(WeightPacking.packFloat([1, 2, 3, 4, 5, 6], outputChannels: 2, reduction: 3) == [1, 4, 2, 5, 3, 6])
        #expect(WeightPacking.depthwise(Array(0..<18), channels: 2)
                == [0, 9, 1, 10, 2, 11, 3, 12, 4, 13, 5, 14, 6, 15, 7, 16, 8, 17])
    }
}
