// The Swift twin of the C latency estimator (Sources/CHarness/common/estimator.h, see docs/architecture.md,
// "Latency estimator"): the profiler pools the rounds of several harness runs with it, and
// EstimatorTests checks that it computes what the C code computes on the same samples.

import Foundation

/// An estimate from per-round medians: the 10th percentile of the medians and an order-statistic
/// confidence interval of that percentile (same units as the samples).
public struct RoundEstimate: Sendable, Equatable {
    public var value: Double
    public var low: Double
    public var high: Double
    /// Round medians it was computed from.
    public var rounds: Int

    public init(value: Double, low: Double, high: Double, rounds: Int) {
        self.value = value; self.low = low; self.high = high; self.rounds = rounds
    }

    /// The larger distance from the estimate to an end of the interval, relative to the estimate: an
    /// interval within +-5 % has `relativeHalfWidth <= 0.05`.
    public var relativeHalfWidth: Double {
        value > 0 ? max(value - low, high - value) / value : .infinity
    }

    /// The interval's whole width relative to the estimate.
    public var relativeWidth: Double { value > 0 ? (high - low) / value : .infinity }

    /// Every value scaled (units).
    public func scaled(_ factor: Double) -> RoundEstimate {
        RoundEstimate(value: value * factor, low: low * factor, high: high * factor, rounds: rounds)
    }
}

/// The estimator of estimator.h: rounds of samples, per-round medians, the 10th percentile of the
/// medians, and the distribution-free interval [x(j), x(k)] of that percentile.
public enum RoundEstimator {
    /// The quantile of the per-round medians that is the estimate (AS_EST_QUANTILE).
    public static let quantile = 0.1
    /// One tail of the two-sided 95 % interval (AS_EST_TAIL).
    public static let tail = 0.025
    /// The rule in words, for profiles and docs.
    public static let rule = "10th percentile of per-round medians; interval: order-statistic 95 % CI of that percentile (estimator.h)"

    /// Quantile q of sorted values, linear interpolation between ranks (as_est_quantile_sorted).
    public static func quantile(sorted: [Double], _ q: Double) -> Double {
        guard sorted.count > 1 else { return sorted.first ?? 0 }
        let rank = q * Double(sorted.count - 1)
        let low = Int(rank)
        guard low + 1 < sorted.count else { return sorted[sorted.count - 1] }
        let weight = rank - Double(low)
        return sorted[low] * (1 - weight) + sorted[low + 1] * weight
    }

    /// The median (as_est_median).
    public static func median(_ values: [Double]) -> Double { quantile(sorted: values.sorted(), 0.5) }

    /// 1-based ranks of the interval (as_est_interval_ranks): j the largest rank with P(B <= j-1) <= tail,
    /// k the smallest with P(B <= k-1) >= 1 - tail, B ~ Binomial(count, q), clamped to 1...count.
    public static func intervalRanks(count: Int, quantile q: Double = quantile) -> (low: Int, high: Int) {
        // P(B = i) from logarithms, so thousands of rounds (a long bench) do not underflow (1 - q)^count.
        let logQ = Foundation.log(q), logP = Foundation.log(1 - q), logCountFactorial = logFactorial(count)
        var cdf = 0.0
        var j = 1, k = count
        for i in 0..<count {
            cdf += Foundation.exp(logCountFactorial - logFactorial(i) - logFactorial(count - i)
                                  + Double(i) * logQ + Double(count - i) * logP)
            if cdf <= tail { j = i + 1 }
            if cdf >= 1 - tail { k = i + 1; break }
        }
        j = min(max(j, 1), count)
        k = min(max(k, j), count)
        return (j, k)
    }

    /// ln(n!) (lgamma(n + 1), as estimator.h computes it).
    static func logFactorial(_ n: Int) -> Double {
        let value: Double = lgamma(Double(n) + 1)
        return value
    }

    /// The estimate from per-round medians; nil without any.
    public static func estimate(roundMedians: [Double]) -> RoundEstimate? {
        let sorted = roundMedians.sorted()
        guard !sorted.isEmpty else { return nil }
        let ranks = intervalRanks(count: sorted.count)
        return RoundEstimate(value: quantile(sorted: sorted, quantile), low: sorted[ranks.low - 1], high: sorted[ranks.high - 1],
                             rounds: sorted.count)
    }

    /// Medians of consecutive rounds of `perRound` samples (the last round may be shorter, as the bench's).
    public static func roundMedians(samples: [Double], perRound: Int) -> [Double] {
        let size = max(1, perRound)
        return stride(from: 0, to: samples.count, by: size).map { median(Array(samples[$0..<min($0 + size, samples.count)])) }
    }

    /// The estimate of samples taken round after round, `perRound` per round (as_est_from_rounds).
    public static func estimate(samples: [Double], perRound: Int) -> RoundEstimate? {
        estimate(roundMedians: roundMedians(samples: samples, perRound: perRound))
    }
}

/// The Swift twin of the speed-probe normalization of an export's bench (Sources/CHarness/common/harness_cli.h
/// `bench_summarize`, speed_probe.h; docs/devices.md, "Shared cores"): every round of an item has a probe
/// measurement beside it; on a machine whose speed changes by a common factor (a shared core's slow
/// spells) the item's estimate over the rounds divided by the probe's over the same rounds does not
/// depend on the spell, so that ratio times the probe's full-speed time is the item's full-speed time,
/// even when every round fell into a slow spell. (Not the median of per-round ratios: it scattered 6-10 %
/// between benches on a calm machine, this ratio 1-2 %; see harness_cli.h.)
public enum SpeedProbeNormalization {
    /// estimator.h's estimate of the round medians over that of the probes (rounds and probes paired by
    /// index; pairs with a probe <= 0 or a non-finite value are left out); nil without any pair.
    public static func ratio(roundMedians: [Double], probes: [Double]) -> Double? {
        let pairs = zip(roundMedians, probes).filter { $0.1 > 0 && $0.1.isFinite && $0.0.isFinite }
        guard let item = RoundEstimator.estimate(roundMedians: pairs.map(\.0))?.value,
              let probe = RoundEstimator.estimate(roundMedians: pairs.map(\.1))?.value, probe > 0 else { return nil }
        return item / probe
    }

    /// The probe's full-speed time: estimator.h's estimate (10th percentile) of the probe measurements,
    /// each taken as one round; nil without any.
    public static func reference(probes: [Double]) -> Double? {
        RoundEstimator.estimate(roundMedians: probes.filter { $0 > 0 && $0.isFinite })?.value
    }

    /// ratio x reference: the item's time at the reference's machine speed (bench_summarize's
    /// normalized_ms); nil without a ratio.
    public static func normalized(roundMedians: [Double], probes: [Double], reference: Double) -> Double? {
        ratio(roundMedians: roundMedians, probes: probes).map { $0 * reference }
    }

    /// harness_cli.h's BENCH_SPEED_TOLERANCE: a round ran at the reference's speed when its probe took at
    /// most this fraction more than the reference.
    public static let speedTolerance = 0.10

    /// Whether a round whose probe took `probe` ran at the speed of `reference` (bench_round_at_reference_speed).
    public static func atReferenceSpeed(probe: Double, reference: Double) -> Bool {
        reference > 0 && probe <= reference * (1 + speedTolerance)
    }

    /// The speed gate of bench_summarize (docs/devices.md "Speed-gated bench"): with at least `fastNeeded`
    /// rounds at the reference's speed, the normalized time over those rounds alone (`gated`), else over all
    /// rounds; `fastRounds` counts them. Wide networks slow down less than the probe in a shared core's
    /// slow spell, so normalizing a bench that saw only slow rounds undershoots them; at the reference's
    /// speed the normalization changes almost nothing. nil without a ratio.
    public static func gated(roundMedians: [Double], probes: [Double], reference: Double,
                             fastNeeded: Int) -> (normalized: Double, fastRounds: Int, gated: Bool)? {
        let fast = zip(roundMedians, probes).filter { atReferenceSpeed(probe: $0.1, reference: reference) }
        if fastNeeded > 0, fast.count >= fastNeeded,
           let value = normalized(roundMedians: fast.map(\.0), probes: fast.map(\.1), reference: reference) {
            return (value, fast.count, true)
        }
        return normalized(roundMedians: roundMedians, probes: probes, reference: reference).map { ($0, fast.count, false) }
    }
}
