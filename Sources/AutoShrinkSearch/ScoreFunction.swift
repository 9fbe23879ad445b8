import Foundation
import AutoShrinkModel

/// A resource a score term or a limit can refer to. Byte figures are those of the int8
/// deployment (see `CostModel`), because that is what ships to the device.
public enum ResourceKind: String, Codable, Hashable, Sendable, CaseIterable {
    case macs
    case parameters
    /// int8 weight bytes (int8 weights + int32 biases).
    case weightBytes = "weight_bytes"
    /// int8 peak activation bytes under the lowered execution order.
    case peakActivationBytes = "peak_activation_bytes"
    /// Predicted latency in milliseconds (needs a `LatencyPredictor`).
    case latencyMilliseconds = "latency_ms"
}

/// Static resources of one candidate network (batch 1).
public struct CandidateResources: Hashable, Sendable, Codable {
    public var macs: Int
    public var parameters: Int
    /// int8 weight bytes.
    public var weightBytes: Int
    /// int8 peak activation bytes.
    public var peakActivationBytes: Int
    /// Predicted latency, nil without a latency predictor.
    public var latencyMilliseconds: Double?

    public init(macs: Int, parameters: Int, weightBytes: Int, peakActivationBytes: Int, latencyMilliseconds: Double? = nil) {
        self.macs = macs; self.parameters = parameters; self.weightBytes = weightBytes
        self.peakActivationBytes = peakActivationBytes; self.latencyMilliseconds = latencyMilliseconds
    }

    /// The value of `kind`, nil for latency without a predictor.
    public func value(of kind: ResourceKind) -> Double? {
        switch kind {
        case .macs: return Double(macs)
        case .parameters: return Double(parameters)
        case .weightBytes: return Double(weightBytes)
        case .peakActivationBytes: return Double(peakActivationBytes)
        case .latencyMilliseconds: return latencyMilliseconds
        }
    }
}

/// A soft resource term of the score: contributes `-weight * log10(value / target)`, i.e. a
/// bonus below the target and a penalty above it, `weight` per factor of 10.
/// The reference AutoShrink term is `ResourceTerm(.macs, target: 1e6, weight: 0.1)`:
/// `-0.1 * log10(MACs / 1e6) = -0.1 * (log10(MACs) - 6)`.
public struct ResourceTerm: Codable, Hashable, Sendable {
    public var resource: ResourceKind
    /// Target value in the resource's unit (MACs, parameters, bytes, milliseconds); > 0.
    public var target: Double
    /// Score change per factor of 10 of the resource; >= 0.
    public var weight: Double

    public init(_ resource: ResourceKind, target: Double, weight: Double) {
        self.resource = resource; self.target = target; self.weight = weight
    }
}

/// Hard limits: a candidate exceeding any of them is infeasible (recorded, but never the result).
/// Kilobytes are KiB (1024 bytes); weight bytes are the int8 deployment's.
public struct HardLimits: Codable, Hashable, Sendable {
    public var maxLatencyMilliseconds: Double?
    public var maxPeakActivationKilobytes: Double?
    public var maxWeightKilobytes: Double?
    public var maxMACs: Int?

    public init(maxLatencyMilliseconds: Double? = nil, maxPeakActivationKilobytes: Double? = nil,
                maxWeightKilobytes: Double? = nil, maxMACs: Int? = nil) {
        self.maxLatencyMilliseconds = maxLatencyMilliseconds; self.maxPeakActivationKilobytes = maxPeakActivationKilobytes
        self.maxWeightKilobytes = maxWeightKilobytes; self.maxMACs = maxMACs
    }

    public var isEmpty: Bool {
        maxLatencyMilliseconds == nil && maxPeakActivationKilobytes == nil && maxWeightKilobytes == nil && maxMACs == nil
    }
}

/// A kind of hard limit. The raw values are the search's own names for them (as in messages of
/// this module); the CLI shows its option names instead (`--max-latency-ms`, ...), see
/// `LimitProblem.description(limitName:)` and `ScoreFunction.summary(limitName:)`.
public enum LimitKind: String, CaseIterable, Codable, Sendable {
    case latency = "max_latency_ms"
    case peakActivationMemory = "max_peak_memory_kb"
    case weights = "max_weights_kb"
    case macs = "max_macs"

    /// The unit of the limit and of a candidate's value beside it.
    public var unit: String {
        switch self {
        case .latency: return "ms"
        case .peakActivationMemory, .weights: return "KiB"
        case .macs: return "MACs"
        }
    }
}

extension HardLimits {
    /// The limit of `kind`, in its unit; nil when unset.
    public func value(of kind: LimitKind) -> Double? {
        switch kind {
        case .latency: return maxLatencyMilliseconds
        case .peakActivationMemory: return maxPeakActivationKilobytes
        case .weights: return maxWeightKilobytes
        case .macs: return maxMACs.map(Double.init)
        }
    }
}

/// One exceeded hard limit: its kind, the limit and the candidate's value, both in the limit's unit.
public struct LimitViolation: Hashable, Sendable {
    public var kind: LimitKind
    public var maximum: Double
    public var actual: Double
    public var unit: String { kind.unit }

    public init(kind: LimitKind, maximum: Double, actual: Double) {
        self.kind = kind; self.maximum = maximum; self.actual = actual
    }

    /// e.g. `--max-latency-ms 2 (candidate needs 3.1 ms)` with the CLI's names.
    public func description(limitName: (LimitKind) -> String) -> String {
        "\(limitName(kind)) \(formatValue(maximum)) (candidate needs \(formatValue(actual)) \(unit))"
    }
}

/// A hard limit that makes a search impossible or is itself invalid, carried by `SearchError.limit`
/// so the CLI can word it with its option names (`description(limitName:)`).
public enum LimitProblem: Hashable, Sendable {
    /// Even the smallest network of the search space (cell without edges) exceeds the limit.
    case cannotBeMet(LimitViolation)
    /// The limit is zero, negative or not a number.
    case notPositive(LimitKind)
    /// A latency term or limit without a latency predictor.
    case latencyNeedsPredictor

    public func description(limitName: (LimitKind) -> String) -> String {
        switch self {
        case .cannotBeMet(let violation):
            return "constraint \(limitName(violation.kind)) \(formatValue(violation.maximum)) cannot be met: the smallest network of this search space (cell without edges) needs \(formatValue(violation.actual)) \(violation.unit)"
        case .notPositive(let kind):
            return "\(limitName(kind)) must be positive"
        case .latencyNeedsPredictor:
            return "latency score terms and \(limitName(.latency)) need a latency predictor (give a device profile)"
        }
    }
}

/// The efficiency-aware score: `accuracy + sum over terms of -weight * log10(value / target)`,
/// with accuracy in [0, 1]; plus hard limits deciding feasibility.
/// Resource values <= 0 count as 1e-9 of the target (no term can grow without bound).
public struct ScoreFunction: Codable, Hashable, Sendable {
    public var terms: [ResourceTerm]
    public var limits: HardLimits

    public init(terms: [ResourceTerm], limits: HardLimits = HardLimits()) {
        self.terms = terms; self.limits = limits
    }

    /// The AutoShrink reference score: `acc - 0.1 * (log10(MACs) - 6)`, no limits.
    public static let reference = ScoreFunction(terms: [ResourceTerm(.macs, target: 1e6, weight: 0.1)])

    /// True when a term or a limit needs predicted latency.
    public var needsLatency: Bool {
        terms.contains { $0.resource == .latencyMilliseconds } || limits.maxLatencyMilliseconds != nil
    }

    /// The score of a candidate (latency terms need `resources.latencyMilliseconds`).
    public func score(accuracy: Double, resources: CandidateResources) -> Double {
        var total = accuracy
        for term in terms {
            guard let value = resources.value(of: term.resource) else { continue }
            let ratio = max(value / term.target, 1e-9)
            total -= term.weight * log10(ratio)
        }
        return total
    }

    /// The hard limits `resources` exceeds, in `LimitKind` order (latency, peak activations, weights, MACs).
    public func violations(_ resources: CandidateResources) -> [LimitViolation] {
        LimitKind.allCases.compactMap { kind in
            guard let maximum = limits.value(of: kind) else { return nil }
            let actual: Double
            switch kind {
            case .latency:
                guard let latency = resources.latencyMilliseconds else { return nil }
                actual = latency
            case .peakActivationMemory: actual = Double(resources.peakActivationBytes) / 1024
            case .weights: actual = Double(resources.weightBytes) / 1024
            case .macs: actual = Double(resources.macs)
            }
            return actual > maximum ? LimitViolation(kind: kind, maximum: maximum, actual: actual) : nil
        }
    }

    /// True when no hard limit is exceeded.
    public func isFeasible(_ resources: CandidateResources) -> Bool { violations(resources).isEmpty }

    /// Checks targets and weights; one-line error.
    public func validate() throws {
        for term in terms {
            guard term.target > 0, term.target.isFinite else { throw SearchError("score term \(term.resource.rawValue): target must be positive") }
            guard term.weight >= 0, term.weight.isFinite else { throw SearchError("score term \(term.resource.rawValue): weight must be >= 0") }
        }
        for kind in LimitKind.allCases {
            if let value = limits.value(of: kind), !(value > 0) { throw SearchError(.notPositive(kind)) }
        }
    }

    /// A one-line description, e.g. `acc - 0.1*log10(MACs/1e+06); limits: max_macs 5e+06` (the CLI
    /// passes its option names: `limits: --max-macs 5e+06`).
    public func summary(limitName: (LimitKind) -> String) -> String {
        var text = "acc"
        for term in terms {
            text += " - \(formatValue(term.weight))*log10(\(term.resource.rawValue)/\(formatValue(term.target)))"
        }
        let limitParts = LimitKind.allCases.compactMap { kind in
            limits.value(of: kind).map { kind == .macs ? "\(limitName(kind)) \(Int($0))" : "\(limitName(kind)) \(formatValue($0))" }
        }
        return limitParts.isEmpty ? text : text + "; limits: " + limitParts.joined(separator: ", ")
    }

    /// `summary(limitName:)` with `LimitKind`'s raw names.
    public var summary: String { summary(limitName: \.rawValue) }
}

/// Measures a candidate's resources: the cost model, plus latency from the predictor if any.
public struct ResourceMeter: Sendable {
    public var latencyPredictor: (any LatencyPredictor)?

    public init(latencyPredictor: (any LatencyPredictor)? = nil) { self.latencyPredictor = latencyPredictor }

    public func measure(_ architecture: Architecture) throws -> CandidateResources {
        let graph = architecture.lowered()
        let cost = CostModel.costs(of: graph)
        return CandidateResources(macs: cost.macs, parameters: cost.parameters, weightBytes: cost.weightBytesInt8,
                                  peakActivationBytes: cost.peakActivationBytesInt8,
                                  latencyMilliseconds: try latencyPredictor?.predictLatencyMilliseconds(graph))
    }
}

/// Compact number: integers without decimals, others with up to 4 significant digits.
func formatValue(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
    return String(format: "%.4g", value)
}
