#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small, fast, reproducible random number generator (xoshiro256** seeded through SplitMix64).
///
/// This is the one generator every layer of autoshrink uses, so that a run is fully determined by its
/// seed. Two generators built from the same `seed` and `stream` produce the same sequence on every
/// platform and every Swift version.
///
/// Reproducibility note: the standard library's `Int.random(in:using:)`, `shuffle(using:)` and friends
/// accept this generator, but their algorithms belong to the standard library and may change between
/// Swift releases. Code that must reproduce old runs (samplers, search, weight initialisation) should use
/// the methods defined here instead: `nextInt(below:)`, `nextDouble()`, `nextFloat()`,
/// `nextGaussian()`, `shuffle(_:)`.
///
/// Independent streams (for example one per parallel candidate) come from `init(seed:stream:)`; the
/// stream index is mixed into the seed, so stream 0 and stream 1 of the same seed are unrelated.
/// The state is `Codable` so that a resumable run can store and restore it.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Hashable, Codable {
    // xoshiro256** state; never all zero.
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// The four 64-bit words of state, for storing a generator and restoring it with `init?(state:)`.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// Creates a generator whose sequence is determined by `seed` alone.
    public init(seed: UInt64) {
        self.init(seed: seed, stream: 0)
    }

    /// Creates the generator for one of many independent streams derived from the same seed.
    public init(seed: UInt64, stream: UInt64) {
        // SplitMix64 expands the (seed, stream) pair into 256 well-mixed bits; the odd constant keeps
        // stream k of seed s from colliding with stream 0 of seed s + k.
        var mixer = seed ^ (stream &* 0xD6E8_FEB8_6659_FD93)
        var words = [UInt64](repeating: 0, count: 4)
        for index in 0..<4 {
            words[index] = SeededGenerator.splitMix64(&mixer)
        }
        if words.allSatisfy({ $0 == 0 }) {
            words[0] = 0x9E37_79B9_7F4A_7C15  // xoshiro must never run from the all-zero state
        }
        (s0, s1, s2, s3) = (words[0], words[1], words[2], words[3])
    }

    /// Restores a generator from a state previously read from `state`.
    /// Returns nil when the state does not have four words or is all zero.
    public init?(state: [UInt64]) {
        guard state.count == 4, !state.allSatisfy({ $0 == 0 }) else { return nil }
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
    }

    /// One SplitMix64 step: advances `x` and returns a mixed output.
    public static func splitMix64(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 uniformly distributed bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let shifted = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= shifted
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A uniform integer in `0..<bound` without modulo bias (Lemire's multiply-and-reject method).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            // Reject the few low products that would make small results slightly more likely.
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func nextDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform Float in [0, 1) with 24 random bits.
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1.0p-24
    }

    /// A uniform Bool (one random bit).
    public mutating func nextBool() -> Bool {
        next() >> 63 == 1
    }

    /// A standard normal sample (Box–Muller; one value per call, the second is discarded so that the
    /// generator state depends only on the number of calls).
    public mutating func nextGaussian() -> Double {
        let u1 = 1.0 - nextDouble()  // (0, 1]: keeps log finite
        let u2 = nextDouble()
        return (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }

    /// Shuffles `elements` in place (Fisher–Yates, from the back).
    public mutating func shuffle<Element>(_ elements: inout [Element]) {
        guard elements.count > 1 else { return }
        for upper in stride(from: elements.count - 1, to: 0, by: -1) {
            let other = nextInt(below: upper + 1)
            if other != upper { elements.swapAt(upper, other) }
        }
    }

    /// `0..<count` in a random order.
    public mutating func permutation(count: Int) -> [Int] {
        var order = Array(0..<count)
        shuffle(&order)
        return order
    }

    private func rotateLeft(_ value: UInt64, _ amount: UInt64) -> UInt64 {
        (value << amount) | (value >> (64 - amount))
    }
}
