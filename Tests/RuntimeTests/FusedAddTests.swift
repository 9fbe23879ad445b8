// The int8 pointwise convolution with the add fused into its epilogue (as_pointwise_conv_add_s8,
// docs/benchmarks.md "fused add") against the two calls it replaces: as_pointwise_conv_s8 into a tensor, then
// as_add_s8 with that tensor as input 1. The contract is bit-exactness, on random and odd shapes (channel tails
// of every width, more than one channel chunk, strides 1 and 2, channel slices of wider pixels), with values
// that saturate, and in place over the other operand. Fixtures/kernel_selftest.c runs the same comparison on
// every SIMD tier (tools/runtime-selftest).
import CRuntime
import Testing

private struct FusedCase: CustomStringConvertible {
    var height: Int, width: Int, inChannels: Int, outChannels: Int, stride: Int
    var wide: Bool
    /// Inputs and the other operand at -128 / 127, and an output scale that saturates the add.
    var extremes: Bool = false
    var outHeight: Int { (height - 1) / stride + 1 }
    var outWidth: Int { (width - 1) / stride + 1 }
    var description: String {
        "\(height)x\(width)x\(inChannels)->\(outChannels) s\(stride)\(wide ? " wide" : "")\(extremes ? " extremes" : "")"
    }
}

/// Runs one case: the fused call, its reference twin and the unfused pair must write the same bytes, and the
/// fused call in place over the other operand the same values.
private func checkFused(_ c: FusedCase, seed: UInt64) {
    var random = TestRandom(seed: seed)
    let pixels = c.outHeight * c.outWidth
    let input = ChannelSlice(pixels: c.height * c.width, channels: c.inChannels, wide: c.wide, random: &random)
    let other = ChannelSlice(pixels: pixels, channels: c.outChannels, wide: c.wide, random: &random)
    let output = ChannelSlice(pixels: pixels, channels: c.outChannels, wide: c.wide, random: &random)
    let x = randomInt8(input.extent, &random), x2 = randomInt8(other.extent, &random)
    if c.extremes {
        for index in 0..<input.extent { x[index] = x[index] < 0 ? -128 : 127 }
        for index in 0..<other.extent { x2[index] = x2[index] < 0 ? -128 : 127 }
    }
    let weights = packedWeightsInt8(outChannels: c.outChannels, reduction: c.inChannels, random: &random)
    let bias = CBuffer((0..<c.outChannels).map { _ in random.int32(-20000, 20000) })
    let requant = Requant(channels: c.outChannels, typical: 1 / (60 * Double(c.inChannels) + 60), random: &random)
    let zeroPoint = random.int32(-128, 127)
    var add = as_add_params_s8()
    let s1 = random.float(0.01, 0.2), s2 = random.float(0.01, 0.2), z2 = random.int32(-128, 127)
    let so = c.extremes ? random.float(0.005, 0.02) : random.float(0.02, 0.3), zo = random.int32(-128, 127)
    as_add_params_s8_init(s1, requant.outputZeroPoint, s2, z2, so, zo, as_activation(rawValue: UInt32(random.int(0, 2))), &add)
    let (h, w, ci, co, s) = (Int32(c.height), Int32(c.width), Int32(c.inChannels), Int32(c.outChannels), Int32(c.stride))
    let xIn = x.pointer + input.offset, otherIn = x2.pointer + other.offset

    // the unfused pair, through a dense intermediate tensor
    let intermediate = CBuffer<Int8>(count: pixels * c.outChannels, initial: 0)
    let want = outputBufferInt8(output), got = outputBufferInt8(output), reference = outputBufferInt8(output)
    requant.withParams { params in
        as_pointwise_conv_s8(xIn, h, w, ci, Int32(input.stride), zeroPoint, weights.pointer, bias.pointer, s, co, params,
                             intermediate.pointer, co)
        as_add_s8(intermediate.pointer, co, otherIn, Int32(other.stride), Int32(c.outHeight), Int32(c.outWidth), co, &add,
                  want.pointer + output.offset, Int32(output.stride))
        as_pointwise_conv_add_s8(xIn, h, w, ci, Int32(input.stride), zeroPoint, weights.pointer, bias.pointer, s, co,
                                 params, otherIn, Int32(other.stride), &add, got.pointer + output.offset, Int32(output.stride))
        as_pointwise_conv_add_s8_ref(xIn, h, w, ci, Int32(input.stride), zeroPoint, weights.pointer, bias.pointer, s, co,
                                     params, otherIn, Int32(other.stride), &add, reference.pointer + output.offset,
                                     Int32(output.stride))
    }
    expectSameInt8(got, want, output, "fused \(c)")
    expectSameInt8(reference, want, output, "fused reference \(c)")

    // in place: the add's output over its other operand
    let inPlace = CBuffer<Int8>(count: other.extent, initial: 0)
    for index in 0..<other.extent { inPlace[index] = x2[index] }
    requant.withParams { params in
        as_pointwise_conv_add_s8(xIn, h, w, ci, Int32(input.stride), zeroPoint, weights.pointer, bias.pointer, s, co,
                                 params, inPlace.pointer + other.offset, Int32(other.stride), &add,
                                 inPlace.pointer + other.offset, Int32(other.stride))
    }
    var mismatches = 0
    for pixel in 0..<pixels {
        for channel in 0..<c.outChannels {
            let index = pixel * other.stride + other.offset + channel
            if inPlace[index] != want[pixel * output.stride + output.offset + channel] { mismatches += 1 }
        }
    }
    #expect(mismatches == 0, "fused in place \(c): \(mismatches) mismatches")
}

@Suite("Pointwise conv + add fused against the two calls")
struct FusedAddTests {
    @Test("cell shapes: 48 channels at 7x7 and 14x14, stride-2 projections, tails of every width",
          arguments: [1, 7, 8, 16, 24, 33, 48, 64])
    func cellShapes(outChannels: Int) {
        for (index, (size, inChannels, stride)) in [(7, 48, 1), (14, 32, 2), (14, 48, 1), (5, 13, 2), (3, 96, 1)].enumerated() {
            checkFused(FusedCase(height: size, width: size + index % 2, inChannels: inChannels, outChannels: outChannels,
                                 stride: stride, wide: index % 2 == 1),
                       seed: UInt64(outChannels * 100 + index))
        }
    }

    @Test("random shapes, more than one channel chunk, saturating values")
    func randomShapes() {
        var random = TestRandom(seed: 977)
        for index in 0..<24 {
            let outChannels = index % 6 == 5 ? 300 : random.int(1, 90)
            checkFused(FusedCase(height: random.int(1, 15), width: random.int(1, 15), inChannels: random.int(1, 70),
                                 outChannels: outChannels, stride: random.int(1, 2), wide: random.bool(),
                                 extremes: index % 4 == 3),
                       seed: UInt64(5000 + index))
        }
    }
}
