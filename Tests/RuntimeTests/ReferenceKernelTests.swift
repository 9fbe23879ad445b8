// The reference kernels are the oracle of every other test, so they are checked here against plain Swift
// implementations of the definitions (NHWC indexing, padding K/2, TFLite int8 arithmetic).
import CRuntime
import Testing

@Suite("Reference kernels against Swift implementations of the definitions")
struct ReferenceKernelTests {
    @Test("int8 weight layout [R4][C_out][4] with zero padding")
    func weightLayout() {
        let outChannels = 3, reduction = 6
        let natural = (0..<outChannels * reduction).map { Int8($0 + 1) } // w[o][r] = o * R + r + 1
        var packed = [Int8](repeating: 99, count: 2 * outChannels * 4)
        as_pack_weights_s8(natural, Int32(outChannels), Int32(reduction), &packed)
        for r in 0..<8 {
            for o in 0..<outChannels {
                let want: Int8 = r < reduction ? Int8(o * reduction + r + 1) : 0
                #expect(packed[((r / 4) * outChannels + o) * 4 + r % 4] == want, "r \(r) o \(o)")
            }
        }
        var floats = [Float](repeating: 0, count: outChannels * reduction)
        as_pack_weights_f32(natural.map { Float($0) }, Int32(outChannels), Int32(reduction), &floats)
        #expect(floats[4 * outChannels + 2] == Float(2 * reduction + 4 + 1)) // [R][C_out]: r 4, o 2
    }

    @Test("conv2d int8 and float references", arguments: [(1, 3, 1), (3, 5, 2), (4, 1, 1), (5, 3, 3), (2, 7, 1)])
    func conv(inChannels: Int, kernel: Int, stride: Int) {
        var random = TestRandom(seed: UInt64(100 * inChannels + 10 * kernel + stride))
        let height = 6, width = 5, outChannels = 4, pad = kernel / 2
        let outH = (height + 2 * pad - kernel) / stride + 1, outW = (width + 2 * pad - kernel) / stride + 1
        let reduction = kernel * kernel * inChannels
        let x = (0..<height * width * inChannels).map { _ in random.int8() }
        let natural = (0..<outChannels * reduction).map { _ in random.int8(-127, 127) } // [C_out][K][K][C_in]
        let bias = (0..<outChannels).map { _ in random.int32(-3000, 3000) }
        let zeroPoint = random.int32(-128, 127)
        let multipliers = (0..<outChannels).map { _ in Int32(1 << 30) + Int32(random.next() >> 2) }
        let shifts = (0..<outChannels).map { _ in Int32(random.int(-12, -6)) }
        var packed = [Int8](repeating: 0, count: ((reduction + 3) / 4) * outChannels * 4)
        as_pack_weights_s8(natural, Int32(outChannels), Int32(reduction), &packed)
        var got = [Int8](repeating: 0, count: outH * outW * outChannels)
        multipliers.withUnsafeBufferPointer { m in
            shifts.withUnsafeBufferPointer { s in
                var params = as_requant_s8(multiplier: m.baseAddress, shift: s.baseAddress, output_zero_point: 5,
                                           activation_min: -100, activation_max: 120)
                as_conv2d_s8_ref(x, Int32(height), Int32(width), Int32(inChannels), Int32(inChannels), zeroPoint, packed,
                                 bias, Int32(kernel), Int32(stride), Int32(outChannels), &params, &got,
                                 Int32(outChannels))
            }
        }
        let xf = x.map { Float($0) / 64 }, wf = natural.map { Float($0) / 64 }, bf = bias.map { Float($0) / 4096 }
        var packedF = [Float](repeating: 0, count: reduction * outChannels)
        as_pack_weights_f32(wf, Int32(outChannels), Int32(reduction), &packedF)
        var gotF = [Float](repeating: 0, count: outH * outW * outChannels)
        as_conv2d_f32_ref(xf, Int32(height), Int32(width), Int32(inChannels), Int32(inChannels), packedF, bf,
                          Int32(kernel), Int32(stride), Int32(outChannels), AS_ACTIVATION_RELU6, &gotF,
                          Int32(outChannels))
        for oy in 0..<outH {
            for ox in 0..<outW {
                for o in 0..<outChannels {
                    var acc = bias[o]
                    var sum = Double(bf[o])
                    for ky in 0..<kernel {
                        for kx in 0..<kernel {
                            let iy = oy * stride + ky - pad, ix = ox * stride + kx - pad
                            guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                            for ci in 0..<inChannels {
                                let xi = (iy * width + ix) * inChannels + ci
                                let wi = o * reduction + (ky * kernel + kx) * inChannels + ci
                                acc += (Int32(x[xi]) - zeroPoint) * Int32(natural[wi])
                                sum += Double(xf[xi]) * Double(wf[wi])
                            }
                        }
                    }
                    let index = (oy * outW + ox) * outChannels + o
                    let want = FixedPointReference.requantize(acc, multipliers[o], Int(shifts[o]), zeroPoint: 5,
                                                              min: -100, max: 120)
                    #expect(got[index] == want, "int8 pixel \(oy),\(ox) channel \(o)")
                    #expect(abs(gotF[index] - Float(min(max(sum, 0), 6))) <= 1e-4, "float pixel \(oy),\(ox) channel \(o)")
                }
            }
        }
    }

    @Test("pointwise stride 2 samples pixels (2y, 2x); depthwise pads with the zero point")
    func pointwiseAndDepthwise() {
        var random = TestRandom(seed: 8)
        let height = 5, width = 7, channels = 6
        let x = (0..<height * width * channels).map { _ in random.int8() }
        let zeroPoint: Int32 = -7
        // pointwise, float: out[y][x][o] = sum_c in[2y][2x][c] * w[c][o]
        let xf = x.map { Float($0) }, weights = (0..<channels * 2).map { _ in Float(random.int(-3, 3)) }
        var out = [Float](repeating: 0, count: 3 * 4 * 2)
        as_pointwise_conv_f32_ref(xf, Int32(height), Int32(width), Int32(channels), Int32(channels), weights, nil, 2, 2,
                                  AS_ACTIVATION_NONE, &out, 2)
        for oy in 0..<3 {
            for ox in 0..<4 {
                for o in 0..<2 {
                    let sum = (0..<channels).reduce(Float(0)) {
                        $0 + xf[((2 * oy) * width + 2 * ox) * channels + $1] * weights[$1 * 2 + o]
                    }
                    #expect(out[(oy * 4 + ox) * 2 + o] == sum)
                }
            }
        }
        // depthwise int8 stride 2 with identity-like requantization (multiplier 0.5, shift 1 -> x1)
        let dw = (0..<9 * channels).map { _ in random.int8() }
        let m = [Int32](repeating: 1 << 30, count: channels), s = [Int32](repeating: 1, count: channels)
        var got = [Int8](repeating: 0, count: 3 * 4 * channels)
        m.withUnsafeBufferPointer { mp in
            s.withUnsafeBufferPointer { sp in
                var params = as_requant_s8(multiplier: mp.baseAddress, shift: sp.baseAddress, output_zero_point: 0,
                                           activation_min: -128, activation_max: 127)
                as_depthwise_conv3x3_s8_ref(x, Int32(height), Int32(width), Int32(channels), Int32(channels), zeroPoint,
                                            dw, nil, 2, &params, &got, Int32(channels))
            }
        }
        for oy in 0..<3 {
            for ox in 0..<4 {
                for c in 0..<channels {
                    var acc: Int32 = 0
                    for ky in 0..<3 {
                        for kx in 0..<3 {
                            let iy = 2 * oy + ky - 1, ix = 2 * ox + kx - 1
                            let v = (iy < 0 || iy >= height || ix < 0 || ix >= width)
                                ? zeroPoint : Int32(x[(iy * width + ix) * channels + c])
                            acc += (v - zeroPoint) * Int32(dw[(ky * 3 + kx) * channels + c])
                        }
                    }
                    #expect(got[(oy * 4 + ox) * channels + c] == Int8(clamping: acc))
                }
            }
        }
    }

    @Test("int8 add follows the TFLite formula; average pool rescales the sum")
    func addAndAveragePool() {
        var random = TestRandom(seed: 9)
        let count = 200
        let a = (0..<count).map { _ in random.int8() }, b = (0..<count).map { _ in random.int8() }
        var params = as_add_params_s8()
        as_add_params_s8_init(0.03, 10, 0.11, -20, 0.09, 3, AS_ACTIVATION_NONE, &params)
        var got = [Int8](repeating: 0, count: count)
        as_add_s8_ref(a, 1, b, 1, 1, Int32(count), 1, &params, &got, 1)
        for index in 0..<count {
            let x1 = (Int32(a[index]) - params.input1_zero_point) << params.left_shift
            let x2 = (Int32(b[index]) - params.input2_zero_point) << params.left_shift
            let sum = FixedPointReference.mbqm(x1, params.input1_multiplier, Int(params.input1_shift))
                + FixedPointReference.mbqm(x2, params.input2_multiplier, Int(params.input2_shift))
            let want = FixedPointReference.requantize(sum, params.output_multiplier, Int(params.output_shift),
                                                      zeroPoint: params.output_zero_point, min: params.activation_min,
                                                      max: params.activation_max)
            #expect(got[index] == want)
            // and it is the rounded real sum
            let real = 0.03 * Double(Int32(a[index]) - 10) + 0.11 * Double(Int32(b[index]) + 20)
            let ideal = min(max((real / 0.09).rounded() + 3, -128), 127)
            #expect(abs(Double(got[index]) - ideal) <= 1, "element \(index)")
        }
        // global average pool over 3x3 pixels of 2 channels
        let x: [Int8] = [1, -5, 2, -5, 3, -5, 4, -5, 5, -5, 6, -5, 7, -5, 8, -5, 9, -5]
        var multiplier: Int32 = 0, shift: Int32 = 0
        as_quantize_multiplier(1.0 / 9.0, &multiplier, &shift)
        var pooled = [Int8](repeating: 0, count: 2)
        as_global_avg_pool_s8_ref(x, 3, 3, 2, 2, 1, multiplier, shift, -1, &pooled)
        #expect(pooled == [3, -7]) // mean(x - 1) = 4 -> 4 - 1; mean(-6) = -6 -> -7
        var pooledF = [Float](repeating: 0, count: 2)
        as_global_avg_pool_f32_ref(x.map { Float($0) }, 3, 3, 2, 2, &pooledF)
        #expect(pooledF == [5, -5])
        var maxed = [Int8](repeating: 0, count: 2)
        as_max_pool2x2_s8_ref(x, 3, 3, 2, 2, &maxed, 2) // 3x3 -> 1x1: the last row and column are dropped
        #expect(maxed == [5, -5])
    }
}
