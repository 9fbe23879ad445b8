/// Plain, obviously-correct kernels: the test oracles for the fast paths.
public enum ReferenceKernels {
    /// Direct convolution on CNHW maps with float64 accumulation.
    /// weights: [outputChannels, inputChannels/groups, kernel, kernel].
    public static func convolution(input: FeatureMap, weights: UnsafePointer<Float>, output: FeatureMap,
                                   kernel: Int, stride: Int, padding: Int, groups: Int) {
        let inputPerGroup = input.channels / groups, outputPerGroup = output.channels / groups
        for o in 0..<output.channels {
            let group = o / outputPerGroup
            for n in 0..<input.batch {
                for oy in 0..<output.height {
                    for ox in 0..<output.width {
                        var sum = 0.0
                        for i in 0..<inputPerGroup {
                            let c = group * inputPerGroup + i
                            for ky in 0..<kernel {
                                for kx in 0..<kernel {
                                    let y = oy * stride - padding + ky, x = ox * stride - padding + kx
                                    guard y >= 0, y < input.height, x >= 0, x < input.width else { continue }
                                    let value = input.channel(c)[n * input.plane + y * input.width + x]
                                    sum += Double(value) * Double(weights[((o * inputPerGroup + i) * kernel + ky) * kernel + kx])
                                }
                            }
                        }
                        output.channel(o)[n * output.plane + oy * output.width + ox] = Float(sum)
                    }
                }
            }
        }
    }
}
