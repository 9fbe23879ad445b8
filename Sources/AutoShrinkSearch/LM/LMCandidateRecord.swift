import AutoShrinkFormats
import AutoShrinkModel
import Foundation

/// One evaluated LM search candidate: a line of the run's `trajectory.jsonl` (JSON object, sorted keys;
/// docs/shrinkrnn.md, "Search"). The keys shared with the CNN record mean the same (`step`, `candidate`,
/// `id`, `removed_edge`, `cell_edges`, `edges_left`, `arch_hash` = the cell's stable hash, `macs` = MACs
/// per token of the target model, `params`, `latency_ms` = null, `score`, `feasible`, `seconds`,
/// `epochs`); `valid_perplexity` (of the proxy training, > 1) takes the place of `accuracy`; `cell_macs`
/// are the cell's share of `macs`; `diverged` marks a proxy training whose loss became non-finite
/// (its perplexity is then the proxy vocabulary size, a uniform guess); `latency_ms_per_token` is the
/// latency per token predicted from the run's device profile (absent without a profile, and in runs
/// made before it).
public struct LMCandidateRecord: TrajectoryRecord, Hashable, Sendable {
    public var step: Int
    public var candidate: Int
    public var id: String
    public var removedEdge: Edge?
    public var cellEdges: [Edge]
    public var architectureHash: String
    public var validPerplexity: Double
    public var macs: Int
    public var cellMACs: Int
    public var parameters: Int
    public var score: Double
    public var feasible: Bool
    public var seconds: Double
    public var epochs: Int
    public var diverged: Bool
    /// Predicted milliseconds per token of the target model (`LMLatencyPredictor`); nil without a profile.
    public var latencyMillisecondsPerToken: Double?
    /// Always the number of `cellEdges` (a line whose `edges_left` differs is corrupt).
    public var edgesLeft: Int { cellEdges.count }

    public init(step: Int, candidate: Int, id: String, removedEdge: Edge?, cellEdges: [Edge], architectureHash: String,
                validPerplexity: Double, macs: Int, cellMACs: Int, parameters: Int, score: Double, feasible: Bool,
                seconds: Double, epochs: Int, diverged: Bool, latencyMillisecondsPerToken: Double? = nil) {
        self.step = step; self.candidate = candidate; self.id = id; self.removedEdge = removedEdge; self.cellEdges = cellEdges
        self.architectureHash = architectureHash; self.validPerplexity = validPerplexity
        self.macs = macs; self.cellMACs = cellMACs; self.parameters = parameters; self.score = score; self.feasible = feasible
        self.seconds = seconds; self.epochs = epochs; self.diverged = diverged
        self.latencyMillisecondsPerToken = latencyMillisecondsPerToken
    }

    /// The record's own keys (the shared ones: `TrajectoryRecordFields.Keys`).
    enum CodingKeys: String, CodingKey {
        case macs, params, diverged
        case validPerplexity = "valid_perplexity", cellMACs = "cell_macs", latencyMilliseconds = "latency_ms"
        case latencyMillisecondsPerToken = "latency_ms_per_token"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let shared = try TrajectoryRecordFields(from: decoder)
        let validPerplexity = try c.decode(Double.self, forKey: .validPerplexity)
        let macs = try c.decode(Int.self, forKey: .macs), cellMACs = try c.decode(Int.self, forKey: .cellMACs)
        let parameters = try c.decode(Int.self, forKey: .params), diverged = try c.decode(Bool.self, forKey: .diverged)
        func bad(_ key: CodingKeys, _ expected: String) -> DecodingError { TrajectoryRecordFields.corrupt(c, key, expected) }
        for (key, value) in [(CodingKeys.macs, macs), (.cellMACs, cellMACs), (.params, parameters)]
            where !(0...InputLimits.maximumMACs).contains(value) { throw bad(key, "an integer in 0...\(InputLimits.maximumMACs)") }
        guard validPerplexity.isFinite, validPerplexity >= 1 else { throw bad(.validPerplexity, "a perplexity >= 1") }
        let latency = try c.decodeIfPresent(Double.self, forKey: .latencyMillisecondsPerToken)
        if let latency, !(latency.isFinite && latency >= 0 && latency < 1e9) {
            throw bad(.latencyMillisecondsPerToken, "milliseconds per token, finite and >= 0")
        }
        guard shared.edgesLeft == shared.cellEdges.count else {
            throw TrajectoryRecordFields.corrupt(try decoder.container(keyedBy: TrajectoryRecordFields.Keys.self), .edgesLeft,
                                                 "the number of cell_edges")
        }
        self.init(step: shared.step, candidate: shared.candidate, id: shared.id, removedEdge: shared.removedEdge,
                  cellEdges: shared.cellEdges, architectureHash: shared.architectureHash, validPerplexity: validPerplexity,
                  macs: macs, cellMACs: cellMACs, parameters: parameters, score: shared.score, feasible: shared.feasible,
                  seconds: shared.seconds, epochs: shared.epochs, diverged: diverged, latencyMillisecondsPerToken: latency)
    }

    public func encode(to encoder: Encoder) throws {
        try encodeSharedKeys(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(validPerplexity, forKey: .validPerplexity)
        try c.encode(macs, forKey: .macs)
        try c.encode(cellMACs, forKey: .cellMACs)
        try c.encode(parameters, forKey: .params)
        try c.encodeNil(forKey: .latencyMilliseconds)
        try c.encode(diverged, forKey: .diverged)
        try c.encodeIfPresent(latencyMillisecondsPerToken, forKey: .latencyMillisecondsPerToken)
    }
}
