import CArmadillo
import Foundation

// The whole-network latency model on top of the per-operator table (docs/devices.md, "Predictor").
// A network's features are sums over its layers (table times by operator group, kernel layers, bytes
// moved by the memory operators), so a prediction splits into per-layer shares plus an intercept.
// Several candidate models are fitted on the profile's fit networks by least squares on the relative
// error (CArmadillo); the one with the lowest 5-fold cross-validated error on those networks is kept
// and then judged on the held-out ones.

/// One feature of a network (a sum over its layers, except the intercept).
public enum LatencyFeature: String, Codable, Sendable, CaseIterable {
    /// Table time of every layer (ms).
    case tableSum = "table_sum_ms"
    /// Table time of the multiply-accumulate layers: convolution, pointwise, depthwise, linear (ms).
    case computeTable = "compute_table_ms"
    /// Table time of the memory layers: max-pool, concat, add, global average pool (ms).
    case memoryTable = "memory_table_ms"
    /// Table time of KxK convolutions and the linear layer (ms).
    case denseTable = "dense_table_ms"
    case pointwiseTable = "pointwise_table_ms"
    case depthwiseTable = "depthwise_table_ms"
    /// Layers that run a kernel.
    case layers
    /// MiB read and written by concat, add, max-pool and global average pool.
    case trafficMiB = "traffic_mib"
    case intercept

    /// The feature's value for one layer (0 for layers without a kernel; the intercept is per network).
    public func value(_ layer: LayerPrediction) -> Double {
        guard let configuration = layer.configuration else { return 0 }
        let milliseconds = layer.tableMicroseconds / 1000
        switch self {
        case .tableSum: return milliseconds
        case .computeTable: return configuration.kind.isMACBound ? milliseconds : 0
        case .memoryTable: return configuration.kind.isMACBound ? 0 : milliseconds
        case .denseTable: return configuration.kind == .convolution || configuration.kind == .linear ? milliseconds : 0
        case .pointwiseTable: return configuration.kind == .pointwise || configuration.kind == .pointwiseAdd ? milliseconds : 0
        case .depthwiseTable: return configuration.kind == .depthwise ? milliseconds : 0
        case .layers: return 1
        case .trafficMiB: return configuration.kind.isMACBound ? 0 : Double(configuration.bytesMoved) / (1024 * 1024)
        case .intercept: return 0
        }
    }

    /// Every feature of a network, keyed by its raw value (as stored in `NetworkMeasurement.features`).
    public static func values(_ layers: [LayerPrediction]) -> [String: Double] {
        var result: [String: Double] = [:]
        for feature in allCases { result[feature.rawValue] = feature == .intercept ? 1 : layers.reduce(0) { $0 + feature.value($1) } }
        return result
    }
}

/// One coefficient of a latency model.
public struct LatencyTerm: Codable, Equatable, Sendable {
    public var feature: LatencyFeature
    public var coefficient: Double

    public init(feature: LatencyFeature, coefficient: Double) {
        self.feature = feature
        self.coefficient = coefficient
    }
}

/// A fitted network latency model: latency_ms = Σ coefficient · feature.
public struct LatencyModel: Codable, Equatable, Sendable {
    /// The candidate's name (`LatencyModel.candidates`).
    public var name: String
    public var terms: [LatencyTerm]
    /// 5-fold cross-validated MAPE of every candidate on the fit networks (percent), by name.
    public var crossValidationMAPE: [String: Double]

    public init(name: String, terms: [LatencyTerm], crossValidationMAPE: [String: Double] = [:]) {
        self.name = name
        self.terms = terms
        self.crossValidationMAPE = crossValidationMAPE
    }

    enum CodingKeys: String, CodingKey {
        case name, terms
        case crossValidationMAPE = "cross_validation_mape"
    }

    /// The model in words, e.g. `latency_ms = 0.76 * table_sum_ms + 0.0008 * layers - 0.0023`.
    public var formula: String {
        "latency_ms = " + terms.map { term in
            term.feature == .intercept ? String(format: "%.4g", term.coefficient) : String(format: "%.4g * %@", term.coefficient, term.feature.rawValue)
        }.joined(separator: " + ").replacingOccurrences(of: "+ -", with: "- ")
    }

    /// Predicted latency (ms, never below 0) from a network's features (missing features count 0).
    public func latency(_ features: [String: Double]) -> Double {
        max(0, terms.reduce(0) { $0 + $1.coefficient * (features[$1.feature.rawValue] ?? 0) })
    }

    /// One layer's share of the latency (ms): every term but the intercept.
    public func layerMilliseconds(_ layer: LayerPrediction) -> Double {
        terms.reduce(0) { $0 + $1.coefficient * $1.feature.value(layer) }
    }

    /// The candidates, simplest first (fewest coefficients; the one-standard-error rule prefers earlier ones).
    /// Every one charges each kernel call (`layers`): the table times an operator alone in a loop, and a network
    /// pays per call beyond that. The profile's fit networks (20-40 calls) hardly tell that term from the table
    /// time, so cross-validation sometimes kept a model without it (`a * table_sum + c`), which then predicted
    /// 12-20-call cell networks 5-15 % too fast against 8-call refnet, and the quickstart trained a network
    /// measured at 0.68x refnet for a 0.65x budget (docs/devices.md, "Predictor").
    public static let candidates: [(name: String, features: [LatencyFeature])] = [
        ("table", [.tableSum, .layers, .intercept]),
        ("table+traffic", [.tableSum, .layers, .trafficMiB, .intercept]),
        ("compute/memory+layers", [.computeTable, .memoryTable, .layers, .intercept]),
        ("compute/memory+traffic", [.computeTable, .memoryTable, .layers, .trafficMiB, .intercept]),
        ("per-kind", [.denseTable, .pointwiseTable, .depthwiseTable, .memoryTable, .layers, .intercept]),
        ("per-kind+traffic", [.denseTable, .pointwiseTable, .depthwiseTable, .memoryTable, .layers, .trafficMiB, .intercept]),
    ]

    /// Table-time coefficients outside this range are refused: the table measured the same kernels, so a
    /// fit that makes a group 3x cheaper or dearer is explaining something else (collinear features) and
    /// will not carry over to other networks.
    public static let plausibleTableScale = 0.5...2.0

    /// Least squares on the relative error of `samples` (features, measured ms) with `features`; nil when
    /// there are too few samples (fewer than features + 2), a feature hardly varies over the samples (it
    /// cannot be told from the intercept: e.g. the stem's time in a cell space), the solver fails, a
    /// table-time coefficient is outside `plausibleTableScale`, or memory traffic comes out negative.
    /// The intercept is constrained to >= 0 (an empty network cannot take negative time): when the free
    /// fit puts it below 0, the fit is repeated without it (the constrained optimum lies on the bound).
    /// A negative intercept with a per-layer term fitted on networks of 20-60 layers over-predicted
    /// the 8-layer 6 us refnet with a stride-2 first layer by 12 % (docs/devices.md, "Predictor").
    public static func fit(_ features: [LatencyFeature], samples: [(features: [String: Double], measured: Double)]) -> [LatencyTerm]? {
        guard let terms = unconstrainedFit(features, samples: samples) else { return nil }
        guard let intercept = terms.first(where: { $0.feature == .intercept }), intercept.coefficient < 0 else { return terms }
        guard let bounded = unconstrainedFit(features.filter { $0 != .intercept }, samples: samples, minimumSamples: features.count + 2) else { return nil }
        return features.map { feature in
            feature == .intercept ? LatencyTerm(feature: .intercept, coefficient: 0) : bounded.first { $0.feature == feature }!
        }
    }

    private static func unconstrainedFit(_ features: [LatencyFeature], samples: [(features: [String: Double], measured: Double)],
                                         minimumSamples: Int? = nil) -> [LatencyTerm]? {
        let usable = samples.filter { $0.measured > 0 }
        guard !features.isEmpty, usable.count >= (minimumSamples ?? features.count + 2) else { return nil }
        for feature in features where feature != .intercept {
            let values = usable.map { $0.features[feature.rawValue] ?? 0 }
            let low = values.min() ?? 0, high = values.max() ?? 0
            guard high - low > 0.05 * max(abs(high), abs(low)) else { return nil }
        }
        var matrix: [Double] = []
        var target: [Double] = []
        for sample in usable {
            let weight = 1 / sample.measured
            matrix += features.map { (sample.features[$0.rawValue] ?? 0) * weight }
            target.append(1)
        }
        var solution = [Double](repeating: 0, count: features.count)
        var residual = 0.0
        let status = as_least_squares(matrix, Int32(usable.count), Int32(features.count), target, &solution, &residual)
        guard status == AS_STATUS_OK, solution.allSatisfy(\.isFinite) else { return nil }
        let terms = zip(features, solution).map { LatencyTerm(feature: $0, coefficient: $1) }
        let tableFeatures: Set<LatencyFeature> = [.tableSum, .computeTable, .memoryTable, .denseTable, .pointwiseTable, .depthwiseTable]
        guard terms.allSatisfy({ !tableFeatures.contains($0.feature) || plausibleTableScale.contains($0.coefficient) }),
              terms.allSatisfy({ $0.feature != .trafficMiB || $0.coefficient >= 0 }) else { return nil }
        return terms
    }

    /// Fits every candidate, scores each by 5-fold cross-validation on `samples` (MAPE) and returns, refitted
    /// on all of them, the simplest candidate whose score is within one standard error of the best one (the
    /// one-standard-error rule: extra terms must earn their place, since networks outside the space only
    /// reward what generalises); nil when no candidate can be fitted.
    public static func select(samples: [(features: [String: Double], measured: Double)], folds: Int = 5) -> LatencyModel? {
        var scores: [String: Double] = [:]
        var scored: [(name: String, features: [LatencyFeature], score: Double, standardError: Double)] = []
        for candidate in candidates {
            var errors: [Double] = []
            var complete = true
            for fold in 0..<folds {
                let training = samples.enumerated().filter { $0.offset % folds != fold }.map(\.element)
                let testing = samples.enumerated().filter { $0.offset % folds == fold }.map(\.element)
                guard let terms = fit(candidate.features, samples: training) else { complete = false; break }
                let model = LatencyModel(name: candidate.name, terms: terms)
                errors += testing.filter { $0.measured > 0 }.map { abs(model.latency($0.features) - $0.measured) / $0.measured }
            }
            guard complete, errors.count >= 2, fit(candidate.features, samples: samples) != nil else { continue }
            let mean = errors.reduce(0, +) / Double(errors.count)
            let variance = errors.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(errors.count - 1)
            scores[candidate.name] = 100 * mean
            scored.append((candidate.name, candidate.features, 100 * mean, 100 * (variance / Double(errors.count)).squareRoot()))
        }
        guard let best = scored.min(by: { $0.score < $1.score }),
              let chosen = scored.first(where: { $0.score <= best.score + best.standardError + 1e-9 }),
              let terms = fit(chosen.features, samples: samples) else { return nil }
        return LatencyModel(name: chosen.name, terms: terms, crossValidationMAPE: scores)
    }
}
