import AutoShrinkData
import AutoShrinkModel
import Foundation

/// The activation of an RNN cell node's transform (docs/shrinkrnn.md, "The cell"). A separate list from
/// the CNN's `NodeOperation`, so the CNN cell format keeps its meaning.
public enum RNNActivation: String, Codable, Hashable, Sendable, CaseIterable {
    case tanh, relu, sigmoid, identity

    @inline(__always) public func apply(_ x: Float) -> Float {
        switch self {
        case .tanh: return Foundation.tanh(x)
        case .relu: return x > 0 ? x : 0
        case .sigmoid: return 1 / (1 + Foundation.exp(-x))
        case .identity: return x
        }
    }

    /// d(apply)/dx written in terms of the output y = apply(x).
    @inline(__always) public func derivative(output y: Float) -> Float {
        switch self {
        case .tanh: return 1 - y * y
        case .relu: return y > 0 ? 1 : 0
        case .sigmoid: return y * (1 - y)
        case .identity: return 1
        }
    }
}

/// A recurrent cell as a node DAG (DARTS-style, as the AutoShrink paper's RNN search uses;
/// docs/shrinkrnn.md, "The cell"). With x_t the embedded token and h the previous hidden state:
///
///     node 0:  [c, g] = W0 [x_t; h]            s_0 = h + sigmoid(c) * (act_0(g) - h)
///     node i:  u_i = mean of the states of its live predecessors
///              [c, g] = W_i u_i                s_i = u_i + sigmoid(c) * (act_i(g) - u_i)
///     h_t = mean of the states of the leaves (live nodes without live successors)
///
/// W0 is [(D + H) x 2H], each W_i [H x 2H]; no biases (as DARTS). DARTS nodes have one predecessor;
/// AutoShrink's DAG gives a node several, and their states are averaged, not summed: every state is
/// then a gated mix of (means of) earlier states, so |h_t| stays of the order of |h_{t-1}|. With a sum
/// the fully connected 4-node cell gives h_t ~ 4 h_{t-1} and training diverges within a few dozen steps. The topology is a `CellDAG`
/// (`topology`), so AutoShrink's edge removal, reachability and leaves apply unchanged; the node
/// operations of that DAG are placeholders (`.input` then `.conv1x1`) that the topology functions never read.
///
/// File format `*.rnncell.json`: `{"format": "autoshrink.rnn-cell", "version": 1, "activations": [...], "edges": [[0,1],...]}`.
public struct RNNCell: Codable, Hashable, Sendable, VersionedDocument {
    public static let formatName = "autoshrink.rnn-cell"
    public static let currentVersion = 1
    public static let documentKind = "an RNN cell file"
    public static let versionLabel = "RNN cell"
    public static func documentError(_ message: String) -> any Error { ArchitectureError(message) }
    /// Nodes allowed in a cell (the CNN cells' limit is the same order).
    public static let maximumNodes = 16

    public var format: String = RNNCell.formatName
    public var version: Int = RNNCell.currentVersion
    /// One activation per node; node 0's is the activation of its transform (tanh in DARTS).
    public var activations: [RNNActivation]
    public var edges: [Edge]

    public init(activations: [RNNActivation], edges: [Edge]) {
        self.activations = activations
        self.edges = Array(Set(edges)).sorted()
    }

    enum CodingKeys: String, CodingKey { case format, version, activations, edges }

    public var nodes: Int { activations.count }

    /// The fully connected cell of `nodes` nodes: node 0 tanh, nodes 1... cycle through
    /// tanh, relu, sigmoid, identity (the four activations of the paper's RNN space).
    public static func fullyConnected(nodes: Int) -> RNNCell {
        let cycle: [RNNActivation] = [.tanh, .relu, .sigmoid, .identity]
        let activations = [RNNActivation.tanh] + (1..<max(nodes, 1)).map { cycle[($0 - 1) % cycle.count] }
        let dag = CellDAG.fullyConnected(operations: placeholderOperations(count: nodes))
        return RNNCell(activations: activations, edges: dag.edges)
    }

    static func placeholderOperations(count: Int) -> [NodeOperation] {
        count > 0 ? [.input] + Array(repeating: .conv1x1, count: count - 1) : []
    }

    /// The topology as a `CellDAG` (operations are placeholders; see the type's comment).
    public var topology: CellDAG {
        CellDAG(nodes: nodes, operations: RNNCell.placeholderOperations(count: nodes), edges: edges)
    }

    /// The cell without `edge`, then without edges out of nodes no longer reachable (the AutoShrink step).
    public func removing(_ edge: Edge) -> RNNCell {
        RNNCell(activations: activations, edges: topology.removing(edge).edges)
    }

    public func validate(source: String) throws {
        guard (1...RNNCell.maximumNodes).contains(nodes) else {
            throw ArchitectureError("\(source): RNN cell has \(nodes) nodes (1...\(RNNCell.maximumNodes))")
        }
        if nodes >= 2 { try topology.validate(source: source) }
        guard edges.isEmpty || nodes >= 2 else { throw ArchitectureError("\(source): a one-node cell has no edges") }
    }

    /// Live compute nodes other than 0, in execution order, with their live predecessors, and the leaves.
    public var schedule: (nodes: [Int], predecessors: [Int: [Int]], leaves: [Int]) {
        let dag = topology
        let live = dag.liveComputeNodes
        var predecessors: [Int: [Int]] = [:]
        for node in live { predecessors[node] = dag.livePredecessors(of: node) }
        return (live, predecessors, dag.leaves)
    }

    /// The canonical JSON (sorted keys), for writing and hashing.
    public func jsonData() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try! encoder.encode(self)
    }

    /// FNV-1a 64 of the canonical JSON, as 16 hex digits (like `Architecture.stableHash`).
    public var stableHash: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in jsonData() { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// "8 nodes, 28 edges: tanh tanh relu ..." for printouts.
    public var summary: String {
        "\(nodes) nodes, \(edges.count) edges (\(schedule.nodes.count + 1) live): " + activations.map(\.rawValue).joined(separator: " ")
    }
}

/// Sizes of a language model around a cell.
public struct LanguageModelShape: Codable, Hashable, Sendable {
    public var vocabulary: Int
    public var embed: Int
    public var hidden: Int
    /// The decoder reuses the embedding matrix (needs embed == hidden), as AWD-LSTM and DARTS do.
    public var tied: Bool

    public init(vocabulary: Int, embed: Int, hidden: Int, tied: Bool) {
        self.vocabulary = vocabulary; self.embed = embed; self.hidden = hidden; self.tied = tied
    }

    public static let maximumWidth = 4096

    public func validate(source: String) throws {
        guard (3...Vocabulary.maximumSize).contains(vocabulary) else { throw ArchitectureError("\(source): vocabulary \(vocabulary) out of range") }
        guard (1...LanguageModelShape.maximumWidth).contains(embed), (1...LanguageModelShape.maximumWidth).contains(hidden) else {
            throw ArchitectureError("\(source): embed \(embed) / hidden \(hidden) must be in 1...\(LanguageModelShape.maximumWidth)")
        }
        guard !tied || embed == hidden else { throw ArchitectureError("\(source): tied weights need embed == hidden (\(embed) vs \(hidden))") }
    }
}

/// Multiply-accumulates per token and parameter count of a cell in a language model.
public struct LanguageModelCost: Sendable, Equatable {
    /// The recurrent cell alone: W0 over [x; h] and W_i of every live node.
    public var cellMACs: Int
    /// Cell plus the decoder (H x V); the embedding is a lookup.
    public var macsPerToken: Int
    public var cellParameters: Int
    public var parameters: Int

    public init(cell: RNNCell, shape: LanguageModelShape) {
        let h = shape.hidden, d = shape.embed, v = shape.vocabulary
        let liveNodes = cell.schedule.nodes.count
        cellMACs = (d + h) * 2 * h + liveNodes * h * 2 * h
        macsPerToken = cellMACs + h * v
        cellParameters = cellMACs + (liveNodes + 1) * h  // the weights and a gate bias [H] per node
        parameters = cellParameters + v * d + (shape.tied ? 0 : v * h) + v
    }
}
