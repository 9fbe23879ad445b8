import AutoShrinkModel
import Foundation

/// Text and Graphviz renderings of an RNN cell for `autoshrink info X.rnncell.json`
/// (docs/shrinkrnn.md, "The cell").
public enum RNNCellDrawing {
    /// One line per node with its activation and inputs, the leaves averaged into h_t, dead nodes,
    /// and the costs of the cell in a model of `shape`:
    ///
    ///     node 0  tanh      <- x_t, h_{t-1}
    ///     node 2  relu      <- mean(0, 1)
    ///     h_t = mean(3, 4)
    public static func text(_ cell: RNNCell, shape: LanguageModelShape) -> String {
        let schedule = cell.schedule
        var lines = ["RNN cell [\(cell.stableHash)]: \(cell.summary)"]
        func name(_ activation: RNNActivation) -> String { activation.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) }
        lines.append("  node 0  \(name(cell.activations[0])) <- x_t, h_{t-1}")
        for node in schedule.nodes {
            let inputs = schedule.predecessors[node] ?? []
            let source = inputs.count == 1 ? "\(inputs[0])" : "mean(\(inputs.map(String.init).joined(separator: ", ")))"
            lines.append("  node \(node)  \(name(cell.activations[node])) <- \(source)")
        }
        lines.append("  h_t = " + (schedule.leaves.count == 1 ? "state of node \(schedule.leaves[0])" : "mean(\(schedule.leaves.map(String.init).joined(separator: ", ")))"))
        let live = Set([0] + schedule.nodes)
        let dead = (0..<cell.nodes).filter { !live.contains($0) }
        if !dead.isEmpty { lines.append("  unused nodes: \(dead.map(String.init).joined(separator: ", ")) (no path from node 0)") }
        let cost = LanguageModelCost(cell: cell, shape: shape)
        lines.append("  in a model of embed \(shape.embed), hidden \(shape.hidden), vocabulary \(shape.vocabulary), \(shape.tied ? "tied" : "untied"):")
        lines.append("    \(cost.cellMACs) cell MACs/token, \(cost.macsPerToken) MACs/token with the decoder; \(cost.cellParameters) cell parameters, \(cost.parameters) in all")
        return lines.joined(separator: "\n")
    }

    /// Graphviz DOT: x_t and h_{t-1} into node 0, the live edges, the leaves into h_t.
    public static func dot(_ cell: RNNCell) -> String {
        let schedule = cell.schedule
        var lines = ["digraph rnncell {", "  rankdir=TB;", "  x [label=\"x_t\", shape=plaintext];", "  hprev [label=\"h_{t-1}\", shape=plaintext];",
                     "  h [label=\"h_t (mean)\", shape=plaintext];"]
        for node in [0] + schedule.nodes { lines.append("  n\(node) [label=\"\(node): \(cell.activations[node].rawValue)\", shape=box];") }
        lines.append("  x -> n0;")
        lines.append("  hprev -> n0;")
        for node in schedule.nodes { for from in schedule.predecessors[node] ?? [] { lines.append("  n\(from) -> n\(node);") } }
        for leaf in schedule.leaves { lines.append("  n\(leaf) -> h;") }
        lines.append("}")
        return lines.joined(separator: "\n")
    }
}

/// `autoshrink info X.rnncell.json --json`: the cell's hash and its costs in the model it was drawn for.
public struct RNNCellInfoSummary: JSONSummary, Sendable, Equatable {
    public var architecture = "rnn-cell"
    public var hash: String
    public var nodes: Int
    public var edges: Int
    public var liveNodes: Int
    /// MACs per token with the decoder, and of the cell alone.
    public var macs: Int
    public var cellMACs: Int
    public var params: Int
    public var cellParams: Int

    public init(cell: RNNCell, shape: LanguageModelShape) {
        let cost = LanguageModelCost(cell: cell, shape: shape)
        hash = cell.stableHash; nodes = cell.nodes; edges = cell.edges.count; liveNodes = cell.schedule.nodes.count + 1
        macs = cost.macsPerToken; cellMACs = cost.cellMACs; params = cost.parameters; cellParams = cost.cellParameters
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, hash, nodes, edges, macs, params
        case liveNodes = "live_nodes", cellMACs = "cell_macs", cellParams = "cell_params"
    }
}
