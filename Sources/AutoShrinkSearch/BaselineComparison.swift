import AutoShrinkFormats
import AutoShrinkModel

/// A searched network against the hand-designed baseline front (`baselines.json`, docs/baselines.md):
/// the front's accuracy interpolated at the network's latency (`bench search --baselines`,
/// docs/search-quality.md).
public struct BaselineComparison: Hashable, Sendable {
    /// Which latency both sides have: the profile's prediction or the device measurement.
    public enum LatencyKind: String, Hashable, Sendable { case predicted, measured }

    public var kind: LatencyKind
    public var latencyMilliseconds: Double
    /// The front's accuracy at `latencyMilliseconds`: linear between the two neighbouring points of
    /// the front (non-dominated baselines by that latency), the most accurate baseline's beyond the
    /// slowest point (nothing slower does better); nil below the fastest baseline.
    public var frontAccuracy: Double?
    /// The searched network's accuracy minus `frontAccuracy`.
    public var difference: Double?
    /// The front's latency range (fastest, slowest), for the message when outside it.
    public var frontRange: ClosedRange<Double>

    /// Compares `accuracy` at the searched network's latencies with `front`: by predicted latency when
    /// the network and at least two baselines have one, else by measured latency; nil when neither.
    public static func compare(accuracy: Double, predictedMilliseconds: Double?, measuredMilliseconds: Double?,
                               front: BaselineFront) -> BaselineComparison? {
        let options: [(LatencyKind, Double?, (BaselineFront.Entry) -> Double?)] = [
            (.predicted, predictedMilliseconds, { $0.predictedLatencyMilliseconds }),
            (.measured, measuredMilliseconds, { $0.latencyMilliseconds }),
        ]
        for (kind, latency, entryLatency) in options {
            guard let latency else { continue }
            let points = front.entries.compactMap { entry in entryLatency(entry).map { (latency: $0, accuracy: entry.accuracy) } }
            let frontier = paretoPoints(points)
            guard frontier.count >= 2 else { continue }
            let accuracyOnFront = interpolate(frontier, at: latency)
            return BaselineComparison(kind: kind, latencyMilliseconds: latency, frontAccuracy: accuracyOnFront,
                                      difference: accuracyOnFront.map { accuracy - $0 },
                                      frontRange: frontier.first!.latency...frontier.last!.latency)
        }
        return nil
    }

    /// Points no other point beats (at most as slow and more accurate), by ascending latency: the
    /// front's accuracy then rises with latency.
    static func paretoPoints(_ points: [(latency: Double, accuracy: Double)]) -> [(latency: Double, accuracy: Double)] {
        let sorted = points.sorted { $0.latency != $1.latency ? $0.latency < $1.latency : $0.accuracy > $1.accuracy }
        var front: [(latency: Double, accuracy: Double)] = []
        for point in sorted where front.last.map({ point.accuracy > $0.accuracy && point.latency > $0.latency }) ?? true {
            front.append(point)
        }
        return front
    }

    /// Linear interpolation on `front` (ascending latency and accuracy) at `latency`: nil below its
    /// first point, its last accuracy beyond its last point.
    static func interpolate(_ front: [(latency: Double, accuracy: Double)], at latency: Double) -> Double? {
        guard let first = front.first, let last = front.last, latency >= first.latency else { return nil }
        if latency >= last.latency { return last.accuracy }
        for (left, right) in zip(front, front.dropFirst()) where latency <= right.latency {
            let t = (latency - left.latency) / (right.latency - left.latency)
            return left.accuracy + t * (right.accuracy - left.accuracy)
        }
        return last.accuracy
    }

    /// `front 0.9012 at predicted 0.0123 ms, difference -0.0150`, or that it is faster than the front.
    public var summary: String {
        let latency = String(format: "%.4f", latencyMilliseconds)
        guard let frontAccuracy, let difference else {
            return String(format: "%@ %@ ms is faster than the front's fastest baseline (%.4f ms)", kind.rawValue, latency, frontRange.lowerBound)
        }
        return String(format: "front %.4f at %@ %@ ms, difference %+.4f", frontAccuracy, kind.rawValue, latency, difference)
    }
}
