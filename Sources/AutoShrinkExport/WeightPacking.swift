import CRuntime

/// Weight layouts of the C kernels (see autoshrink_runtime.h), from the folded [out, in/groups, k, k].
/// The GEMM layouts come from the runtime's own packers (`as_pack_weights_s8/_f32`, layout.c).
///
/// R = K * K * C_in is the reduction length with r = (ky * K + kx) * C_in + ci, R4 = ceil(R / 4).
public enum WeightPacking {
    /// [out, in, k, k] -> [C_out][R] ("OHWI", the natural order of the C packers).
    public static func naturalOrder<T>(_ weights: [T], outputChannels: Int, inputChannels: Int, kernel: Int) -> [T] {
        let reduction = kernel * kernel * inputChannels
        precondition(weights.count == outputChannels * reduction, "weights must be [out, in, k, k]")
        var result = weights
        for o in 0..<outputChannels {
            for ci in 0..<inputChannels {
                for ky in 0..<kernel {
                    for kx in 0..<kernel {
                        result[o * reduction + (ky * kernel + kx) * inputChannels + ci] =
                            weights[((o * inputChannels + ci) * kernel + ky) * kernel + kx]
                    }
                }
            }
        }
        return result
    }

    /// [C_out][R] -> int8 GEMM layout [R4][C_out][4]; entries with r >= R are 0 (as_pack_weights_s8).
    public static func packInt8(_ natural: [Int8], outputChannels: Int, reduction: Int) -> [Int8] {
        precondition(natural.count == outputChannels * reduction, "weights must be [C_out][R]")
        var packed = [Int8](repeating: 0, count: (reduction + 3) / 4 * outputChannels * 4)
        as_pack_weights_s8(natural, Int32(outputChannels), Int32(reduction), &packed)
        return packed
    }

    /// [C_out][R] -> float GEMM layout [R][C_out] (as_pack_weights_f32).
    public static func packFloat(_ natural: [Float], outputChannels: Int, reduction: Int) -> [Float] {
        precondition(natural.count == outputChannels * reduction, "weights must be [C_out][R]")
        var packed = [Float](repeating: 0, count: natural.count)
        as_pack_weights_f32(natural, Int32(outputChannels), Int32(reduction), &packed)
        return packed
    }

    /// Depthwise [C, 1, 3, 3] -> [3][3][C].
    public static func depthwise<T>(_ weights: [T], channels: Int) -> [T] {
        precondition(weights.count == channels * 9, "depthwise weights must be [C, 1, 3, 3]")
        var result = weights
        for c in 0..<channels {
            for tap in 0..<9 { result[tap * channels + c] = weights[c * 9 + tap] }
        }
        return result
    }
}
