// Every optimized kernel against its reference twin, through the CRuntime module as SwiftPM builds it:
// random and odd shapes (channels 1, 3, 7, 16, 33, 64; odd and even H/W; strides 1-3), inputs read
// from and outputs written into channel slices of wider pixels (concat), guard elements after every
// output. int8 must match exactly, float within 1e-4 relative. The SIMD paths of other builds
// (AVX-512, AVX2, NEON, sdot) run the same comparisons in Fixtures/kernel_selftest.c.
import CRuntime
import Testing

private let channelSet = [1, 3, 7, 16, 33, 64]
private let floatTolerance: Float = 1e-4

enum ConvKind: String, CustomStringConvertible {
    case full, pointwise, fullyConnected
    var description: String { rawValue }
}

struct ConvCase: CustomStringConvertible {
    var kind: ConvKind
    var height: Int, width: Int, inChannels: Int, outChannels: Int, kernel: Int, stride: Int
    var wide: Bool

    var outHeight: Int { kind == .fullyConnected ? 1 : Int(as_conv_output_size(Int32(height), Int32(kernel), Int32(stride))) }
    var outWidth: Int { kind == .fullyConnected ? 1 : Int(as_conv_output_size(Int32(width), Int32(kernel), Int32(stride))) }
    var reduction: Int { kernel * kernel * inChannels }
    var description: String {
        "\(kind) \(height)x\(width)x\(inChannels)->\(outChannels) k\(kernel) s\(stride)\(wide ? " wide" : "")"
    }
}

/// Runs one convolution case in int8 and float, optimized against reference.
func checkConv(_ c: ConvCase, seed: UInt64) {
    var random = TestRandom(seed: seed)
    let pixels = c.kind == .fullyConnected ? 1 : c.height * c.width
    let input = ChannelSlice(pixels: pixels, channels: c.inChannels, wide: c.wide && c.kind != .fullyConnected,
                             random: &random)
    let output = ChannelSlice(pixels: c.outHeight * c.outWidth, channels: c.outChannels,
                              wide: c.wide && c.kind != .fullyConnected, random: &random)
    let (h, w, ci, co) = (Int32(c.height), Int32(c.width), Int32(c.inChannels), Int32(c.outChannels))
    let (k, s, inStride, outStride) = (Int32(c.kernel), Int32(c.stride), Int32(input.stride), Int32(output.stride))

    // int8
    let x = randomInt8(input.extent, &random)
    let weights = packedWeightsInt8(outChannels: c.outChannels, reduction: c.reduction, random: &random)
    let bias = CBuffer((0..<c.outChannels).map { _ in random.int32(-20000, 20000) })
    let requant = Requant(channels: c.outChannels, typical: 1 / (60 * Double(c.reduction) + 60), random: &random)
    let zeroPoint = random.int32(-128, 127)
    let got = outputBufferInt8(output), want = outputBufferInt8(output)
    let xIn = x.pointer + input.offset
    requant.withParams { params in
        switch c.kind {
        case .full:
            as_conv2d_s8(xIn, h, w, ci, inStride, zeroPoint, weights.pointer, bias.pointer, k, s, co, params,
                         got.pointer + output.offset, outStride)
            as_conv2d_s8_ref(xIn, h, w, ci, inStride, zeroPoint, weights.pointer, bias.pointer, k, s, co, params,
                             want.pointer + output.offset, outStride)
        case .pointwise:
            as_pointwise_conv_s8(xIn, h, w, ci, inStride, zeroPoint, weights.pointer, bias.pointer, s, co, params,
                                 got.pointer + output.offset, outStride)
            as_pointwise_conv_s8_ref(xIn, h, w, ci, inStride, zeroPoint, weights.pointer, bias.pointer, s, co, params,
                                     want.pointer + output.offset, outStride)
        case .fullyConnected:
            as_fully_connected_s8(xIn, ci, zeroPoint, weights.pointer, bias.pointer, co, params, got.pointer)
            as_fully_connected_s8_ref(xIn, ci, zeroPoint, weights.pointer, bias.pointer, co, params, want.pointer)
        }
    }
    expectSameInt8(got, want, output, "int8 \(c)")

    // float
    let xf = randomFloat(input.extent, &random)
    let weightsF = packedWeightsFloat(outChannels: c.outChannels, reduction: c.reduction, random: &random)
    let biasF = randomFloat(c.outChannels, &random)
    let activation = as_activation(rawValue: UInt32(random.int(0, 2)))
    let gotF = outputBufferFloat(output), wantF = outputBufferFloat(output)
    let xfIn = xf.pointer + input.offset
    switch c.kind {
    case .full:
        as_conv2d_f32(xfIn, h, w, ci, inStride, weightsF.pointer, biasF.pointer, k, s, co, activation,
                      gotF.pointer + output.offset, outStride)
        as_conv2d_f32_ref(xfIn, h, w, ci, inStride, weightsF.pointer, biasF.pointer, k, s, co, activation,
                          wantF.pointer + output.offset, outStride)
    case .pointwise:
        as_pointwise_conv_f32(xfIn, h, w, ci, inStride, weightsF.pointer, biasF.pointer, s, co, activation,
                              gotF.pointer + output.offset, outStride)
        as_pointwise_conv_f32_ref(xfIn, h, w, ci, inStride, weightsF.pointer, biasF.pointer, s, co, activation,
                                  wantF.pointer + output.offset, outStride)
    case .fullyConnected:
        as_fully_connected_f32(xfIn, ci, weightsF.pointer, biasF.pointer, co, activation, gotF.pointer)
        as_fully_connected_f32_ref(xfIn, ci, weightsF.pointer, biasF.pointer, co, activation, wantF.pointer)
    }
    expectCloseFloat(gotF, wantF, output, tolerance: floatTolerance, "float \(c)")
}

@Suite("Optimized kernels against their reference twins")
struct KernelTwinTests {
    @Test("conv KxK, pointwise and FC over the channel grid", arguments: channelSet)
    func convChannelGrid(inChannels: Int) {
        for (index, outChannels) in channelSet.enumerated() {
            let seed = UInt64(inChannels * 100 + outChannels)
            checkConv(ConvCase(kind: .full, height: 5 + index % 3, width: 6 - index % 2, inChannels: inChannels,
                               outChannels: outChannels, kernel: 3, stride: 1 + index % 2, wide: index % 2 == 0),
                      seed: seed)
            checkConv(ConvCase(kind: .pointwise, height: 4 + index % 3, width: 3 + inChannels % 2,
                               inChannels: inChannels, outChannels: outChannels, kernel: 1, stride: 1 + index % 2,
                               wide: index % 2 == 1), seed: seed + 1)
            checkConv(ConvCase(kind: .fullyConnected, height: 1, width: 1, inChannels: inChannels * (1 + index),
                               outChannels: outChannels, kernel: 1, stride: 1, wide: false), seed: seed + 2)
        }
    }

    @Test("conv KxK and pointwise on random shapes (kernels 1/3/5, strides 1-3)")
    func convRandomShapes() {
        var random = TestRandom(seed: 99)
        for index in 0..<40 {
            let height = random.pick([1, 2, 3, 5, 7, 8, 13]), width = random.pick([1, 2, 3, 5, 7, 8, 13])
            let inChannels = random.bool() ? random.pick(channelSet) : random.int(1, 70)
            let outChannels = random.bool() ? random.pick(channelSet) : random.int(1, 90)
            let kernel = random.pick([1, 3, 5]), stride = random.int(1, 3)
            checkConv(ConvCase(kind: .full, height: height, width: width, inChannels: inChannels,
                               outChannels: outChannels, kernel: kernel, stride: stride, wide: random.bool()),
                      seed: UInt64(1000 + index))
            checkConv(ConvCase(kind: .pointwise, height: height, width: width, inChannels: inChannels,
                               outChannels: outChannels, kernel: 1, stride: random.int(1, 2), wide: random.bool()),
                      seed: UInt64(2000 + index))
        }
    }

    /// The single-channel 3x3 path (stems): output widths up to and past its row limit (64), output
    /// channels around its vector blocks and limit (64), strides 1-3, wide input and output pixels.
    @Test("conv 3x3 with one input channel (stem path)", arguments: [1, 2, 3])
    func convStem(stride: Int) {
        var random = TestRandom(seed: UInt64(3300 + stride))
        let shapes = [(28, 28), (1, 1), (2, 5), (9, 16), (5, 63), (4, 128), (3, 129), (31, 7)]
        for (index, (height, width)) in shapes.enumerated() {
            for outChannels in [1, 8, 16, 17, 32, 33, 64, 65] where random.int(0, 2) != 0 || outChannels == 32 {
                checkConv(ConvCase(kind: .full, height: height, width: width, inChannels: 1, outChannels: outChannels,
                                   kernel: 3, stride: stride, wide: random.bool()),
                          seed: UInt64(3400 + 100 * stride + 10 * index + outChannels))
            }
        }
    }

    @Test("conv shapes that split passes, channel chunks and padded copies")
    func convLargeShapes() {
        let cases = [
            ConvCase(kind: .full, height: 28, width: 28, inChannels: 1, outChannels: 16, kernel: 3, stride: 1, wide: false),
            ConvCase(kind: .full, height: 28, width: 28, inChannels: 16, outChannels: 32, kernel: 3, stride: 2, wide: false),
            ConvCase(kind: .full, height: 5, width: 4, inChannels: 130, outChannels: 20, kernel: 3, stride: 1, wide: true),
            ConvCase(kind: .full, height: 3, width: 3, inChannels: 8, outChannels: 300, kernel: 3, stride: 2, wide: true),
            ConvCase(kind: .full, height: 21, width: 23, inChannels: 40, outChannels: 9, kernel: 3, stride: 1, wide: true),
            ConvCase(kind: .full, height: 33, width: 30, inChannels: 3, outChannels: 24, kernel: 3, stride: 2, wide: true),
            ConvCase(kind: .pointwise, height: 3, width: 5, inChannels: 1500, outChannels: 17, kernel: 1, stride: 1, wide: true),
            ConvCase(kind: .pointwise, height: 6, width: 6, inChannels: 40, outChannels: 270, kernel: 1, stride: 2, wide: true),
            ConvCase(kind: .fullyConnected, height: 1, width: 1, inChannels: 2049, outChannels: 10, kernel: 1, stride: 1, wide: false),
        ]
        for (index, c) in cases.enumerated() { checkConv(c, seed: UInt64(3000 + index)) }
    }

    @Test("depthwise 3x3, strides 1 and 2", arguments: channelSet + [80, 300])
    func depthwise(channels: Int) {
        var random = TestRandom(seed: UInt64(4000 + channels))
        for (height, width) in [(1, 1), (2, 3), (5, 5), (7, 6), (8, 9)] {
            for stride in 1...2 {
                let outH = Int(as_conv_output_size(Int32(height), 3, Int32(stride)))
                let outW = Int(as_conv_output_size(Int32(width), 3, Int32(stride)))
                let wide = random.bool()
                let input = ChannelSlice(pixels: height * width, channels: channels, wide: wide, random: &random)
                let output = ChannelSlice(pixels: outH * outW, channels: channels, wide: wide, random: &random)
                let what = "depthwise \(height)x\(width)x\(channels) s\(stride) \(input) -> \(output)"
                let (h, w, c, s) = (Int32(height), Int32(width), Int32(channels), Int32(stride))

                let x = randomInt8(input.extent, &random)
                let weights = randomInt8(9 * channels, &random) // full int8 range on purpose
                let bias = CBuffer((0..<channels).map { _ in random.int32(-5000, 5000) })
                let requant = Requant(channels: channels, typical: 1.0 / 600, random: &random)
                let zeroPoint = random.int32(-128, 127)
                let got = outputBufferInt8(output), want = outputBufferInt8(output)
                requant.withParams { params in
                    as_depthwise_conv3x3_s8(x.pointer + input.offset, h, w, c, Int32(input.stride), zeroPoint,
                                            weights.pointer, bias.pointer, s, params, got.pointer + output.offset,
                                            Int32(output.stride))
                    as_depthwise_conv3x3_s8_ref(x.pointer + input.offset, h, w, c, Int32(input.stride), zeroPoint,
                                                weights.pointer, bias.pointer, s, params, want.pointer + output.offset,
                                                Int32(output.stride))
                }
                expectSameInt8(got, want, output, "int8 \(what)")

                let xf = randomFloat(input.extent, &random), weightsF = randomFloat(9 * channels, &random)
                let biasF = randomFloat(channels, &random)
                let activation = as_activation(rawValue: UInt32(random.int(0, 2)))
                let gotF = outputBufferFloat(output), wantF = outputBufferFloat(output)
                as_depthwise_conv3x3_f32(xf.pointer + input.offset, h, w, c, Int32(input.stride), weightsF.pointer,
                                         biasF.pointer, s, activation, gotF.pointer + output.offset,
                                         Int32(output.stride))
                as_depthwise_conv3x3_f32_ref(xf.pointer + input.offset, h, w, c, Int32(input.stride), weightsF.pointer,
                                             biasF.pointer, s, activation, wantF.pointer + output.offset,
                                             Int32(output.stride))
                expectCloseFloat(gotF, wantF, output, tolerance: floatTolerance, "float \(what)")
            }
        }
    }

    @Test("max-pool 2x2 and global average pool", arguments: channelSet + [100])
    func pooling(channels: Int) {
        var random = TestRandom(seed: UInt64(5000 + channels))
        for (height, width) in [(1, 1), (2, 2), (3, 5), (6, 7), (9, 8)] {
            let wide = random.bool()
            let input = ChannelSlice(pixels: height * width, channels: channels, wide: wide, random: &random)
            let pooled = ChannelSlice(pixels: (height / 2) * (width / 2), channels: channels, wide: wide,
                                      random: &random)
            let vector = ChannelSlice(pixels: 1, channels: channels, wide: false, random: &random)
            let what = "\(height)x\(width)x\(channels) \(input)"
            let (h, w, c, inStride) = (Int32(height), Int32(width), Int32(channels), Int32(input.stride))

            let x = randomInt8(input.extent, &random)
            var got = outputBufferInt8(pooled), want = outputBufferInt8(pooled)
            as_max_pool2x2_s8(x.pointer + input.offset, h, w, c, inStride, got.pointer + pooled.offset,
                              Int32(pooled.stride))
            as_max_pool2x2_s8_ref(x.pointer + input.offset, h, w, c, inStride, want.pointer + pooled.offset,
                                  Int32(pooled.stride))
            expectSameInt8(got, want, pooled, "max-pool int8 \(what)")

            var multiplier: Int32 = 0, shift: Int32 = 0
            as_quantize_multiplier(Double(random.float(0.5, 2)) / Double(height * width), &multiplier, &shift)
            let inZero = random.int32(-128, 127), outZero = random.int32(-128, 127)
            got = outputBufferInt8(vector)
            want = outputBufferInt8(vector)
            as_global_avg_pool_s8(x.pointer + input.offset, h, w, c, inStride, inZero, multiplier, shift, outZero,
                                  got.pointer)
            as_global_avg_pool_s8_ref(x.pointer + input.offset, h, w, c, inStride, inZero, multiplier, shift, outZero,
                                      want.pointer)
            expectSameInt8(got, want, vector, "global avg pool int8 \(what)")

            let xf = randomFloat(input.extent, &random)
            var gotF = outputBufferFloat(pooled), wantF = outputBufferFloat(pooled)
            as_max_pool2x2_f32(xf.pointer + input.offset, h, w, c, inStride, gotF.pointer + pooled.offset,
                               Int32(pooled.stride))
            as_max_pool2x2_f32_ref(xf.pointer + input.offset, h, w, c, inStride, wantF.pointer + pooled.offset,
                                   Int32(pooled.stride))
            expectCloseFloat(gotF, wantF, pooled, tolerance: 0, "max-pool float \(what)")
            gotF = outputBufferFloat(vector)
            wantF = outputBufferFloat(vector)
            as_global_avg_pool_f32(xf.pointer + input.offset, h, w, c, inStride, gotF.pointer)
            as_global_avg_pool_f32_ref(xf.pointer + input.offset, h, w, c, inStride, wantF.pointer)
            expectCloseFloat(gotF, wantF, vector, tolerance: floatTolerance, "global avg pool float \(what)")
        }
    }

    @Test("add, copy and requantizing copy between channel slices", arguments: channelSet + [300])
    func elementwise(channels: Int) {
        var random = TestRandom(seed: UInt64(6000 + channels))
        for (height, width) in [(1, 1), (2, 3), (5, 4)] {
            let pixels = height * width
            let a = ChannelSlice(pixels: pixels, channels: channels, wide: random.bool(), random: &random)
            let b = ChannelSlice(pixels: pixels, channels: channels, wide: random.bool(), random: &random)
            let out = ChannelSlice(pixels: pixels, channels: channels, wide: random.bool(), random: &random)
            let what = "\(height)x\(width)x\(channels) \(a) + \(b) -> \(out)"
            let (h, w, c) = (Int32(height), Int32(width), Int32(channels))

            let x1 = randomInt8(a.extent, &random), x2 = randomInt8(b.extent, &random)
            var params = as_add_params_s8()
            let s1 = random.float(0.01, 0.2), z1 = random.int32(-128, 127)
            let s2 = random.float(0.01, 0.2), z2 = random.int32(-128, 127)
            let so = random.float(0.02, 0.3), zo = random.int32(-128, 127)
            as_add_params_s8_init(s1, z1, s2, z2, so, zo, as_activation(rawValue: UInt32(random.int(0, 2))), &params)
            expectInt8Twin(out, "add int8 \(what)") { y, reference in
                (reference ? as_add_s8_ref : as_add_s8)(x1.pointer + a.offset, Int32(a.stride), x2.pointer + b.offset,
                                                        Int32(b.stride), h, w, c, &params, y + out.offset, Int32(out.stride))
            }
            expectInt8Twin(out, "copy int8 \(what)") { y, reference in
                (reference ? as_copy_channels_s8_ref : as_copy_channels_s8)(x1.pointer + a.offset, h, w, c, Int32(a.stride),
                                                                            y + out.offset, Int32(out.stride))
            }
            var multiplier: Int32 = 0, shift: Int32 = 0
            as_quantize_multiplier(Double(random.float(0.2, 3)), &multiplier, &shift)
            expectInt8Twin(out, "requantize int8 \(what)") { y, reference in
                (reference ? as_requantize_s8_ref : as_requantize_s8)(x1.pointer + a.offset, h, w, c, Int32(a.stride), z1,
                                                                      multiplier, shift, zo, y + out.offset, Int32(out.stride))
            }

            let f1 = randomFloat(a.extent, &random, -4, 4), f2 = randomFloat(b.extent, &random, -4, 4)
            let activation = as_activation(rawValue: UInt32(random.int(0, 2)))
            var gotF = outputBufferFloat(out), wantF = outputBufferFloat(out)
            as_add_f32(f1.pointer + a.offset, Int32(a.stride), f2.pointer + b.offset, Int32(b.stride), h, w, c,
                       activation, gotF.pointer + out.offset, Int32(out.stride))
            as_add_f32_ref(f1.pointer + a.offset, Int32(a.stride), f2.pointer + b.offset, Int32(b.stride), h, w, c,
                           activation, wantF.pointer + out.offset, Int32(out.stride))
            expectCloseFloat(gotF, wantF, out, tolerance: 0, "add float \(what)")
            gotF = outputBufferFloat(out)
            wantF = outputBufferFloat(out)
            as_copy_channels_f32(f1.pointer + a.offset, h, w, c, Int32(a.stride), gotF.pointer + out.offset,
                                 Int32(out.stride))
            as_copy_channels_f32_ref(f1.pointer + a.offset, h, w, c, Int32(a.stride), wantF.pointer + out.offset,
                                     Int32(out.stride))
            expectCloseFloat(gotF, wantF, out, tolerance: 0, "copy float \(what)")
        }
    }

    /// The vector paths of add and requantize: contiguous tensors are processed as one flat row (so the
    /// vector tail falls anywhere), slices of wider pixels per pixel, and both in place (output == input 1),
    /// with zero points over the whole int8 range and requantize multipliers from 1/100 to 100 (left shifts).
    @Test("add, requantize and copy: contiguous, slices of wider pixels, in place",
          arguments: [(28, 28, 16), (14, 14, 32), (7, 7, 33), (3, 5, 1), (1, 1, 17), (2, 9, 7), (4, 4, 64), (3, 3, 12),
                      (2, 2, 8), (2, 3, 129)])
    func elementwiseFastPaths(shape: (Int, Int, Int)) {
        let (height, width, channels) = shape
        var random = TestRandom(seed: UInt64(6500 + height * 1000 + width * 100 + channels))
        let pixels = height * width
        let (h, w, c) = (Int32(height), Int32(width), Int32(channels))
        for layout in 0..<4 {
            // 0: all dense, 1: all wide, 2: mixed, 3: in place (output aliases input 1, dense or wide)
            let wideA = layout == 1 || (layout >= 2 && random.bool())
            let a = ChannelSlice(pixels: pixels, channels: channels, wide: wideA, random: &random)
            let b = ChannelSlice(pixels: pixels, channels: channels, wide: layout == 1 || (layout == 2 && random.bool()),
                                 random: &random)
            let out = layout == 3 ? a : ChannelSlice(pixels: pixels, channels: channels, wide: layout == 1, random: &random)
            let what = "\(height)x\(width)x\(channels) layout \(layout) \(a) + \(b) -> \(out)"
            for round in 0..<3 {
                let x1 = randomInt8(a.extent, &random), x2 = randomInt8(b.extent, &random)
                var params = as_add_params_s8()
                let s1 = random.float(0.005, 0.3), z1 = random.int32(-128, 127)
                let s2 = random.float(0.005, 0.3), z2 = random.int32(-128, 127)
                let so = random.float(0.01, 0.5), zo = random.int32(-128, 127)
                as_add_params_s8_init(s1, z1, s2, z2, so, zo, as_activation(rawValue: UInt32(round % 3)), &params)
                // In place: input 1 is read from the output buffer, which starts as a copy of it.
                let inPlace = layout == 3
                expectInt8Twin(out, preload: inPlace ? x1 : nil, "add int8 \(what) round \(round)") { y, reference in
                    let add = reference ? as_add_s8_ref : as_add_s8
                    add((inPlace ? y : x1.pointer) + a.offset, Int32(a.stride), x2.pointer + b.offset, Int32(b.stride), h, w, c,
                        &params, y + out.offset, Int32(out.stride))
                }

                var multiplier: Int32 = 0, shift: Int32 = 0
                let real = [0.01, 0.37, 0.999, 1.0, 1.7, 12.5, 100.0][random.int(0, 6)]
                as_quantize_multiplier(real, &multiplier, &shift)
                expectInt8Twin(out, preload: inPlace ? x1 : nil, "requantize int8 \(what) round \(round) multiplier \(real)") { y, reference in
                    let requantize = reference ? as_requantize_s8_ref : as_requantize_s8
                    requantize((inPlace ? y : x1.pointer) + a.offset, h, w, c, Int32(a.stride), z1, multiplier, shift, zo,
                               y + out.offset, Int32(out.stride))
                }

                if !inPlace {
                    expectInt8Twin(out, "copy int8 \(what) round \(round)") { y, reference in
                        let copy = reference ? as_copy_channels_s8_ref : as_copy_channels_s8
                        copy(x1.pointer + a.offset, h, w, c, Int32(a.stride), y + out.offset, Int32(out.stride))
                    }
                }
            }
        }
    }

    /// The x86 add computes its inputs' MBQM in 32-bit arithmetic from their 9-bit operands (add.c,
    /// add_narrow): every int8 operand against the other input's zero point (so the sum is one input's
    /// MBQM) and against random values, requantized by exactly 1 (2^30 * 2^1 / 2^31) so that each input's
    /// rounding reaches the output; left shifts 0-23, right shifts up to the left shift (the fast path's
    /// limits) and one past, multipliers that put products on halves (powers of two, low bits cleared) and
    /// the smallest multiplier the fast path takes.
    @Test("add int8: the inputs' rounding on every operand, fast-path limits")
    func addRounding() {
        var random = TestRandom(seed: 6600)
        var x1 = [Int8](repeating: 0, count: 512), x2 = [Int8](repeating: 0, count: 512)
        var got = [Int8](repeating: 0, count: 512), want = [Int8](repeating: 0, count: 512)
        for leftShift in [20, 0, 1, 9, 23] {
            for right in Set([0, 1, max(leftShift - 1, 0), leftShift, leftShift + 1, random.int(0, leftShift)]) {
                for kind in 0..<8 {
                    var multiplier = Int32(0x4000_0000 + random.int(0, 0x3FFF_FFFF))
                    switch kind {
                    case 0: multiplier = 0x4000_0000
                    case 1: multiplier = Int32.max
                    case 2: multiplier = 0x4000_0000 + Int32(1) << Int32(random.int(0, 12))
                    case 3: multiplier &= ~((Int32(1) << Int32(random.int(4, 20))) - 1)
                    case 4: multiplier = Int32(1) << Int32(30 - leftShift) + 1
                    case 5: multiplier = Int32(1) << Int32(30 - leftShift)   // one below the fast path
                    default: break
                    }
                    var params = as_add_params_s8(
                        input1_zero_point: random.int32(-128, 127), input2_zero_point: random.int32(-128, 127),
                        output_zero_point: random.int32(-20, 20), left_shift: Int32(leftShift),
                        input1_multiplier: multiplier, input1_shift: Int32(-right),
                        input2_multiplier: kind % 2 == 0 ? Int32(0x4000_0000 + random.int(0, 0x3FFF_FFFF)) : multiplier,
                        input2_shift: Int32(-min(right, leftShift)), output_multiplier: 0x4000_0000, output_shift: 1,
                        activation_min: -128, activation_max: 127)
                    for i in 0..<512 {
                        x1[i] = Int8(truncatingIfNeeded: i - 128)
                        x2[i] = i < 256 ? Int8(params.input2_zero_point) : random.int8()
                    }
                    as_add_s8(x1, 256, x2, 256, 1, 2, 256, &params, &got, 256)
                    as_add_s8_ref(x1, 256, x2, 256, 1, 2, 256, &params, &want, 256)
                    let first = (0..<512).first { got[$0] != want[$0] }
                    #expect(first == nil, "left shift \(leftShift), input 1 \(multiplier) * 2^-\(right): x1 \(first.map { x1[$0] } ?? 0), x2 \(first.map { x2[$0] } ?? 0) -> \(first.map { got[$0] } ?? 0), reference \(first.map { want[$0] } ?? 0)")
                }
            }
        }
    }

    @Test("concat of three tensors into one wider buffer")
    func concat() {
        var random = TestRandom(seed: 7000)
        for _ in 0..<8 {
            let height = random.int(1, 7), width = random.int(1, 7), pixels = height * width
            let channels = (0..<3).map { _ in random.int(1, 40) }
            let strides = channels.map { $0 + random.int(0, 3) }
            let out = ChannelSlice(pixels: pixels, channels: channels.reduce(0, +), wide: true, random: &random)
            let inputs = (0..<3).map { randomInt8((pixels - 1) * strides[$0] + channels[$0], &random) }
            let got = outputBufferInt8(out), want = outputBufferInt8(out)
            var offset = 0
            for index in 0..<3 {
                as_copy_channels_s8_ref(inputs[index].pointer, Int32(height), Int32(width), Int32(channels[index]),
                                        Int32(strides[index]), want.pointer + out.offset + offset, Int32(out.stride))
                offset += channels[index]
            }
            let views: [UnsafePointer<Int8>?] = inputs.map { UnsafePointer($0.pointer) }
            let channels32 = channels.map { Int32($0) }, strides32 = strides.map { Int32($0) }
            as_concat_channels_s8(views, channels32, strides32, 3, Int32(height), Int32(width),
                                  got.pointer + out.offset, Int32(out.stride))
            expectSameInt8(got, want, out, "concat \(channels) -> \(out)")
        }
    }
}
