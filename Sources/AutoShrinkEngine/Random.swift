import Foundation

/// SplitMix64: a small, fast, seedable generator; the engine's only source of randomness,
/// so a seed reproduces a run exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state = state &+ 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Weight initialisation helpers.
public enum Initialization {
    /// Fills with N(0, standardDeviation^2) using Box-Muller.
    public static func normal(_ tensor: Tensor, standardDeviation: Float, using generator: inout some RandomNumberGenerator) {
        var i = 0
        while i < tensor.count {
            let u1 = Float.random(in: Float.ulpOfOne..<1, using: &generator)
            let u2 = Float.random(in: 0..<1, using: &generator)
            let radius = (-2 * logf(u1)).squareRoot() * standardDeviation
            tensor.data[i] = radius * cosf(2 * .pi * u2)
            if i + 1 < tensor.count { tensor.data[i + 1] = radius * sinf(2 * .pi * u2) }
            i += 2
        }
    }
}
