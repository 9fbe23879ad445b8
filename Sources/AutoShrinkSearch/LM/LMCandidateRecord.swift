import AutoShrinkFormats
import AutoShrinkModel
import Foundation

/// One evaluated LM search candidate: a line of the run's `trajectory.jsonl` (JSON object, sorted keys;
/// docs/shrinkrnn.md, "Search"). The keys shared with the CNN record mean the same (`step`, `candidate`,
/// `id`, `removed_edge`, `cell_edges`, `edges_left`, `arch_hash` = the cell's stable hash, `macs` = MACs
/// per token of the target model, `params`, `latency_ms` = null, `score`, `feasible`, `seconds`,
/// `epochs`); `valid_perplexity` (of the proxy training, > 1) takes the place of `accuracy`; `cell_macs`
/// are the cell's share of `macs`; `diverged` marks a proxy training whose loss became non-finite
/// (its perplexity is then the proxy vocabulary size, a uniform guess).
public struct LMCandidateRecord: Codable, Hashable, Sendable {
    public var step: Int
    public var candidate: Int
    public var id: String
    public var removedEdge: Edge?
    public var cellEdges: [Edge]
    public var edgesLeft: Int
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

    public init(step: Int, candidate: Int, id: String, removedEdge: Edge?, cellEdges: [Edge], architectureHash: String,
                validPerplexity: Double, macs: Int, cellMACs: Int, parameters: Int, score: Double, feasible: Bool,
                seconds: Double, epochs: Int, diverged: Bool) {
        self.step = step; self.candidate = candidate; self.id = id; self.removedEdge = removedEdge; self.cellEdges = cellEdges
        self.edgesLeft = cellEdges.count; self.architectureHash = architectureHash; self.validPerplexity = validPerplexity
        self.macs = macs; self.cellMACs = cellMACs; self.parameters = parameters; self.score = score; self.feasible = feasible
        self.seconds = seconds; self.epochs = epochs; self.diverged = diverged
    }

    enum CodingKeys: String, CodingKey {
        case step, candidate, id, macs, params, score, feasible, seconds, epochs, diverged
        case removedEdge = "removed_edge", cellEdges = "cell_edges", edgesLeft = "edges_left", architectureHash = "arch_hash"
        case validPerplexity = "valid_perplexity", cellMACs = "cell_macs", latencyMilliseconds = "latency_ms"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        candidate = try c.decode(Int.self, forKey: .candidate)
        id = try c.decode(String.self, forKey: .id)
        removedEdge = try c.decodeIfPresent(Edge.self, forKey: .removedEdge)
        cellEdges = try c.decode([Edge].self, forKey: .cellEdges)
        edgesLeft = try c.decode(Int.self, forKey: .edgesLeft)
        architectureHash = try c.decode(String.self, forKey: .architectureHash)
        validPerplexity = try c.decode(Double.self, forKey: .validPerplexity)
        macs = try c.decode(Int.self, forKey: .macs)
        cellMACs = try c.decode(Int.self, forKey: .cellMACs)
        parameters = try c.decode(Int.self, forKey: .params)
        score = try c.decode(Double.self, forKey: .score)
        feasible = try c.decode(Bool.self, forKey: .feasible)
        seconds = try c.decode(Double.self, forKey: .seconds)
        epochs = try c.decode(Int.self, forKey: .epochs)
        diverged = try c.decode(Bool.self, forKey: .diverged)
        // Values a search writes; anything else is a corrupt line (one-line error naming the key).
        func bad(_ key: CodingKeys, _ expected: String) -> DecodingError {
            .dataCorrupted(.init(codingPath: c.codingPath + [key], debugDescription: "expected \(expected)"))
        }
        for (key, value) in [(CodingKeys.step, step), (.candidate, candidate), (.edgesLeft, edgesLeft), (.epochs, epochs)]
            where !(0...1_000_000).contains(value) { throw bad(key, "an integer in 0...1000000") }
        for (key, value) in [(CodingKeys.macs, macs), (.cellMACs, cellMACs), (.params, parameters)]
            where !(0...InputLimits.maximumMACs).contains(value) { throw bad(key, "an integer in 0...\(InputLimits.maximumMACs)") }
        guard validPerplexity.isFinite, validPerplexity >= 1 else { throw bad(.validPerplexity, "a perplexity >= 1") }
        guard score.isFinite, abs(score) < 1e12 else { throw bad(.score, "a finite number") }
        guard seconds.isFinite, (0...1e9).contains(seconds) else { throw bad(.seconds, "a number of seconds in 0...1e9") }
        guard edgesLeft == cellEdges.count else { throw bad(.edgesLeft, "the number of cell_edges") }
        let node = 0..<InputLimits.maximumCellNodes
        if let removedEdge, !(node.contains(removedEdge.from) && node.contains(removedEdge.to)) {
            throw bad(.removedEdge, "null or [from, to] with nodes in 0..<\(InputLimits.maximumCellNodes)")
        }
        guard cellEdges.count <= InputLimits.maximumCellNodes * InputLimits.maximumCellNodes,
              cellEdges.allSatisfy({ node.contains($0.from) && node.contains($0.to) }) else {
            throw bad(.cellEdges, "edges [from, to] with nodes in 0..<\(InputLimits.maximumCellNodes)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step)
        try c.encode(candidate, forKey: .candidate)
        try c.encode(id, forKey: .id)
        if let removedEdge { try c.encode(removedEdge, forKey: .removedEdge) } else { try c.encodeNil(forKey: .removedEdge) }
        try c.encode(cellEdges, forKey: .cellEdges)
        try c.encode(edgesLeft, forKey: .edgesLeft)
        try c.encode(architectureHash, forKey: .architectureHash)
        try c.encode(validPerplexity, forKey: .validPerplexity)
        try c.encode(macs, forKey: .macs)
        try c.encode(cellMACs, forKey: .cellMACs)
        try c.encode(parameters, forKey: .params)
        try c.encodeNil(forKey: .latencyMilliseconds)
        try c.encode(score, forKey: .score)
        try c.encode(feasible, forKey: .feasible)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(diverged, forKey: .diverged)
    }

    /// The line written to `trajectory.jsonl` (sorted keys, no newline).
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}
