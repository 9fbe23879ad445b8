import CArmadillo
import Foundation

/// Fits `LatencyCalibration` (latency = a * table_sum + b * layers + c) to measured networks and
/// judges predictions.
///
/// The fit minimises *relative* error (each row divided by the measured latency: weighted least squares
/// through CArmadillo's `as_least_squares`), because the target is a share of networks within +-10 %,
/// and plain least squares would let the few largest networks decide. With fewer than four networks,
/// or when the fit is implausible (a <= 0), it falls back to a single scale factor (the median of
/// measured / table sum), and without networks to the plain table sum.
public enum LatencyFit {
    /// A network whose measured time is far from its operator table sum compared with the other networks.
    public struct TableMismatch: Sendable, Equatable {
        public var name: String
        /// measured / table sum of this network, and the median of that ratio over all networks.
        public var ratio: Double
        public var medianRatio: Double

        /// One line for the profile's warnings.
        public var warning: String {
            String(format: "network %@ ran %.2fx its operator table sum (the networks' median: %.2fx): some of its layers take a kernel path the table does not time; the latency model is fitted without it (docs/devices.md, \"Predictor\")",
                   name, ratio, medianRatio)
        }
    }

    /// The networks (name, table sum, measured; ms) whose measured / table-sum ratio is more than `factor`
    /// times the median ratio over all of them, or less than 1 / `factor` times it. The table times the same
    /// kernels one layer at a time, so networks agree with their sums to a few percent; one that does not ran
    /// a path no table row measured (until stop 27 the AVX2 tier's channel tails: refnet at 0.625x width ran
    /// 2.8x its sum, and such probes pulled the fit until it over-predicted refnet by 7 %, docs/benchmarks.md
    /// "Channel tails"). The profiler fits without them and warns.
    public static func tableMismatches(_ networks: [(name: String, tableSum: Double, measured: Double)],
                                       factor: Double = 1.5) -> [TableMismatch] {
        let ratios = networks.compactMap { $0.tableSum > 0 && $0.measured > 0 ? ($0.name, $0.measured / $0.tableSum) : nil }
        guard ratios.count >= 3 else { return [] }
        let sorted = ratios.map(\.1).sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        return ratios.filter { $0.1 > factor * median || $0.1 < median / factor }
            .map { TableMismatch(name: $0.0, ratio: $0.1, medianRatio: median) }
    }

    /// One fitted network: table sum (ms), kernel layers, measured latency (ms).
    public struct Sample: Sendable, Equatable {
        public var tableSumMilliseconds: Double
        public var layers: Int
        public var measuredMilliseconds: Double

        public init(tableSumMilliseconds: Double, layers: Int, measuredMilliseconds: Double) {
            self.tableSumMilliseconds = tableSumMilliseconds
            self.layers = layers
            self.measuredMilliseconds = measuredMilliseconds
        }
    }

    /// The calibration and how it was obtained.
    public static func fit(_ samples: [Sample]) -> (calibration: LatencyCalibration, method: String) {
        let usable = samples.filter { $0.measuredMilliseconds > 0 && $0.tableSumMilliseconds > 0 }
        if usable.count >= 4 {
            var matrix: [Double] = []
            var target: [Double] = []
            for sample in usable {
                let weight = 1 / sample.measuredMilliseconds
                matrix += [sample.tableSumMilliseconds * weight, Double(sample.layers) * weight, weight]
                target.append(1)
            }
            var solution = [Double](repeating: 0, count: 3)
            var residual = 0.0
            let status = as_least_squares(matrix, Int32(usable.count), 3, target, &solution, &residual)
            if status == AS_STATUS_OK, solution.allSatisfy(\.isFinite), solution[0] > 0 {
                return (LatencyCalibration(tableScale: solution[0], perLayerMilliseconds: solution[1], interceptMilliseconds: solution[2]),
                        "weighted least squares (relative error) on \(usable.count) networks")
            }
        }
        if !usable.isEmpty {
            let ratios = usable.map { $0.measuredMilliseconds / $0.tableSumMilliseconds }.sorted()
            let median = ratios.count % 2 == 1 ? ratios[ratios.count / 2] : (ratios[ratios.count / 2 - 1] + ratios[ratios.count / 2]) / 2
            return (LatencyCalibration(tableScale: median, perLayerMilliseconds: 0, interceptMilliseconds: 0),
                    "median ratio measured / table sum over \(usable.count) networks (too few for least squares)")
        }
        return (.identity, "none (no networks measured): plain table sum")
    }

    /// Share within +-`tolerance` (relative), mean absolute percentage error and the largest absolute
    /// error (percent) of (predicted, measured) pairs; nil without pairs.
    public static func accuracy(_ pairs: [(predicted: Double, measured: Double)], tolerance: Double = 0.10)
        -> (within: Double, mape: Double, maxError: Double)? {
        let errors = pairs.filter { $0.measured > 0 }.map { abs($0.predicted - $0.measured) / $0.measured }
        guard !errors.isEmpty else { return nil }
        let within = Double(errors.filter { $0 <= tolerance }.count) / Double(errors.count)
        return (within, 100 * errors.reduce(0, +) / Double(errors.count), 100 * (errors.max() ?? 0))
    }
}
