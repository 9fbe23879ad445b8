/// Operation computed by a cell node. Node 0 is always `.input` (the cell input, or a 2x2
/// max-pool of it in a reducing cell). The table is the one place to add operations.
public enum NodeOperation: String, Codable, Hashable, Sendable, CaseIterable {
    case input
    /// depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU
    case sepconv3x3
    /// 1x1 conv -> BN -> ReLU
    case conv1x1
}

/// A directed edge `from -> to` of a cell DAG, with `from < to`. Encoded as `[from, to]`.
public struct Edge: Codable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var from: Int
    public var to: Int
    public init(_ from: Int, _ to: Int) { self.from = from; self.to = to }

    public static func < (a: Edge, b: Edge) -> Bool { (a.from, a.to) < (b.from, b.to) }
    public var description: String { "\(from)->\(to)" }

    public init(from decoder: Decoder) throws {
        var container = try decoder.unkeyedContainer()
        from = try container.decode(Int.self)
        to = try container.decode(Int.self)
    }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.unkeyedContainer()
        try container.encode(from)
        try container.encode(to)
    }
}

/// A cell: `nodes` nodes in topological order (edges only go from lower to higher index),
/// a fixed operation per node and the remaining edges. AutoShrink starts from the full
/// upper-triangular DAG (N(N-1)/2 edges) and removes one edge per step.
public struct CellDAG: Codable, Hashable, Sendable {
    public var nodes: Int
    public var operations: [NodeOperation]
    public var edges: [Edge]

    public init(nodes: Int, operations: [NodeOperation], edges: [Edge]) {
        self.nodes = nodes; self.operations = operations; self.edges = edges.sorted()
    }

    /// The fully connected DAG over `operations` (operations[0] must be `.input`).
    public static func fullyConnected(operations: [NodeOperation]) -> CellDAG {
        let count = operations.count
        var edges: [Edge] = []
        for from in 0..<count { for to in (from + 1)..<max(count, from + 1) { edges.append(Edge(from, to)) } }
        return CellDAG(nodes: count, operations: operations, edges: edges)
    }

    /// Same DAG with edges sorted and deduplicated.
    public func canonical() -> CellDAG {
        CellDAG(nodes: nodes, operations: operations, edges: Array(Set(edges)).sorted())
    }

    /// Nodes that feed `node` (any reachability).
    public func predecessors(of node: Int) -> [Int] {
        edges.filter { $0.to == node }.map(\.from).sorted()
    }

    /// Nodes fed by `node`.
    public func successors(of node: Int) -> [Int] {
        edges.filter { $0.from == node }.map(\.to).sorted()
    }

    /// reachable[i] is true when node i can be reached from node 0 (node 0 is always reachable).
    public var reachable: [Bool] {
        var result = [Bool](repeating: false, count: nodes)
        if nodes > 0 { result[0] = true }
        for edge in edges.sorted() where result[edge.from] { result[edge.to] = true }
        return result
    }

    /// Edges whose source is reachable from node 0 (the topology shrink space).
    public var shrinkSpace: [Edge] {
        let live = reachable
        return edges.filter { live[$0.from] }.sorted()
    }

    /// Predecessors of `node` that are reachable (the inputs the network actually concatenates).
    public func livePredecessors(of node: Int) -> [Int] {
        let live = reachable
        return predecessors(of: node).filter { live[$0] }
    }

    /// Reachable nodes with no reachable successor, in index order. If node 0 feeds nothing,
    /// the result is [0] (the cell is the identity / pool).
    public var leaves: [Int] {
        let live = reachable
        return (0..<nodes).filter { node in
            live[node] && !edges.contains { $0.from == node && live[$0.to] }
        }
    }

    /// Reachable nodes other than node 0, in execution (index) order.
    public var liveComputeNodes: [Int] {
        let live = reachable
        return (1..<max(nodes, 1)).filter { live[$0] }
    }

    /// The DAG without `edge`, then without every edge out of a node no longer reachable
    /// from node 0 (the AutoShrink step).
    public func removing(_ edge: Edge) -> CellDAG {
        var next = self
        next.edges.removeAll { $0 == edge }
        return next.pruned()
    }

    /// Drops edges whose source is unreachable from node 0.
    public func pruned() -> CellDAG {
        let live = reachable
        return CellDAG(nodes: nodes, operations: operations, edges: edges.filter { live[$0.from] })
    }

    /// Checks node count, operations and edges; one-line error naming `source`.
    public func validate(source: String = "cell") throws {
        func fail(_ message: String) -> ArchitectureError { ArchitectureError("\(source): cell: \(message)") }
        guard nodes >= 2 else { throw fail("needs at least 2 nodes") }
        guard operations.count == nodes else { throw fail("operations has \(operations.count) entries for \(nodes) nodes") }
        guard operations[0] == .input else { throw fail("node 0 must be 'input'") }
        guard !operations.dropFirst().contains(.input) else { throw fail("only node 0 may be 'input'") }
        for edge in edges {
            guard edge.from >= 0, edge.to < nodes, edge.from < edge.to else {
                throw fail("edge \(edge) must satisfy 0 <= from < to < \(nodes)")
            }
        }
        guard Set(edges).count == edges.count else { throw fail("duplicate edges") }
    }
}
