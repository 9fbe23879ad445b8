import AutoShrinkData
import AutoShrinkModel

/// One candidate a strategy proposes: the cell to train and where it came from.
public struct PlannedCandidate: Hashable, Sendable {
    /// Step (1-based) and index within the step.
    public var step: Int
    public var index: Int
    public var cell: CellDAG
    /// The edge removed from the current cell (AutoShrink), nil for random candidates.
    public var removedEdge: Edge?
    /// Training seed (shared by the step's candidates).
    public var seed: UInt64

    public init(step: Int, index: Int, cell: CellDAG, removedEdge: Edge?, seed: UInt64) {
        self.step = step; self.index = index; self.cell = cell; self.removedEdge = removedEdge; self.seed = seed
    }

    /// Stable id: `step-003-c02`.
    public var id: String { "step-\(threeDigits(step))-c\(twoDigits(index))" }
}

/// A search strategy: proposes each step's candidates. Everything it returns must depend only on
/// its configuration, the step number and the cell chosen so far, so that a resumed run proposes
/// exactly the candidates the interrupted one did. The runner trains the candidates, picks the
/// step's winner (feasible first, then best score, then lowest index) and passes the winner's cell
/// back as `current` for the next step.
public protocol SearchStrategy: Sendable {
    /// The candidates of `step` (1-based) given the cell chosen at the previous step (the start
    /// cell before step 1); empty when the search is over.
    func candidates(step: Int, current: CellDAG) -> [PlannedCandidate]
    /// An upper bound on the candidates still to train from `step` on (for the ETA).
    func remainingCandidates(step: Int, current: CellDAG) -> Int
}

/// AutoShrink (docs/algorithm.md §1): each step samples K = min(K, |shrink space|) distinct edges of the
/// shrink space without replacement, each candidate is the current cell minus one edge (then
/// pruned); the winner becomes the next cell. Stops when the shrink space is empty or the cell has
/// at most `minEdges` edges. Candidates are listed by ascending removed edge.
public struct AutoShrinkStrategy: SearchStrategy {
    public var candidatesPerStep: Int
    public var minEdges: Int
    public var seed: UInt64

    public init(candidates: Int, minEdges: Int = 0, seed: UInt64) {
        self.candidatesPerStep = candidates; self.minEdges = minEdges; self.seed = seed
    }

    public func candidates(step: Int, current: CellDAG) -> [PlannedCandidate] {
        let space = current.shrinkSpace
        guard !space.isEmpty, current.edges.count > minEdges else { return [] }
        let edges = AutoShrinkStrategy.sampleEdges(space, count: candidatesPerStep, seed: seed, step: step)
        let trainingSeed = SearchSeeds.training(seed: seed, step: step)
        return edges.enumerated().map { index, edge in
            PlannedCandidate(step: step, index: index, cell: current.removing(edge), removedEdge: edge, seed: trainingSeed)
        }
    }

    public func remainingCandidates(step: Int, current: CellDAG) -> Int {
        guard current.edges.count > minEdges else { return 0 }
        return AutoShrinkStrategy.simulatedPlan(edges: current.shrinkSpace.count, candidates: candidatesPerStep, minEdges: minEdges)
            .reduce(0) { $0 + $1.count }
    }

    /// `min(count, space.count)` distinct edges of `space` drawn without replacement with a
    /// generator keyed by (seed, step) only, returned in ascending order.
    public static func sampleEdges(_ space: [Edge], count: Int, seed: UInt64, step: Int) -> [Edge] {
        var generator = SeededGenerator(seed: seed, stream: SearchSeeds.edgeSamplingStream(step: step))
        var pool = space.sorted()
        let chosen = min(count, pool.count)
        // Partial Fisher-Yates: position i takes a uniform pick from the not-yet-chosen rest.
        for position in 0..<chosen {
            let pick = position + generator.nextInt(below: pool.count - position)
            pool.swapAt(position, pick)
        }
        return Array(pool[0..<chosen]).sorted()
    }

    /// The schedule when every step removes exactly one edge (no pruning cascade): from a
    /// shrink space of `edges` down to `minEdges`, step s offers min(K, |space|) candidates of
    /// |space| - 1 edges. This is the most steps AutoShrink can take, so it bounds its budget:
    /// for N = 8, K = 10: 19 steps x 10 + (9 + ... + 1) = 235 candidates.
    public static func simulatedPlan(edges: Int, candidates: Int, minEdges: Int) -> [[Int]] {
        guard edges > minEdges else { return [] }
        return stride(from: edges, to: minEdges, by: -1).map { space in
            [Int](repeating: space - 1, count: min(candidates, space))
        }
    }
}

/// Random search of equal budget: step s trains `plan[s-1].count` uniformly random cells (over
/// the same node operations), candidate i with exactly `plan[s-1][i]` edges, every edge's source
/// reachable from node 0 (i.e. already pruned, like every AutoShrink candidate).
public struct RandomSearchStrategy: SearchStrategy {
    public var plan: [[Int]]
    public var seed: UInt64

    public init(plan: [[Int]], seed: UInt64) { self.plan = plan; self.seed = seed }

    public func candidates(step: Int, current: CellDAG) -> [PlannedCandidate] {
        guard step >= 1, step <= plan.count else { return [] }
        let trainingSeed = SearchSeeds.training(seed: seed, step: step)
        return plan[step - 1].enumerated().map { index, edgeCount in
            var generator = SeededGenerator(seed: seed, stream: SearchSeeds.randomCellStream(step: step, index: index))
            let cell = RandomSearchStrategy.randomCell(operations: current.operations, edges: edgeCount, generator: &generator)
            return PlannedCandidate(step: step, index: index, cell: cell, removedEdge: nil, seed: trainingSeed)
        }
    }

    public func remainingCandidates(step: Int, current: CellDAG) -> Int {
        guard step >= 1, step <= plan.count else { return 0 }
        return plan[(step - 1)...].reduce(0) { $0 + $1.count }
    }

    /// The plan that mirrors an AutoShrink run: one step per AutoShrink step, one candidate per
    /// AutoShrink candidate with the same number of edges (so the budget is exactly equal).
    public static func plan(matching records: [CandidateRecord]) -> [[Int]] {
        var steps: [Int: [(Int, Int)]] = [:]
        for record in records { steps[record.step, default: []].append((record.candidate, record.edgesLeft)) }
        return steps.keys.sorted().map { step in steps[step]!.sorted { $0.0 < $1.0 }.map(\.1) }
    }

    /// A uniformly random cell with exactly `edges` edges whose sources are all reachable from
    /// node 0: rejection sampling of uniform edge subsets; after 100,000 rejections (never seen
    /// for N <= 8) it falls back to growing the cell edge by edge from reachable sources.
    public static func randomCell(operations: [NodeOperation], edges: Int, generator: inout SeededGenerator) -> CellDAG {
        let nodes = operations.count
        let all = CellDAG.fullyConnected(operations: operations).edges
        precondition(edges >= 0 && edges <= all.count, "edge count out of range")
        for _ in 0..<100_000 {
            var pool = all
            for position in 0..<edges {
                pool.swapAt(position, position + generator.nextInt(below: pool.count - position))
            }
            let cell = CellDAG(nodes: nodes, operations: operations, edges: Array(pool[0..<edges]))
            if cell.pruned().edges.count == edges { return cell }
        }
        var chosen: [Edge] = []
        var reachable = Set([0])
        while chosen.count < edges {
            let open = all.filter { reachable.contains($0.from) && !chosen.contains($0) }
            let edge = open[generator.nextInt(below: open.count)]
            chosen.append(edge)
            reachable.insert(edge.to)
        }
        return CellDAG(nodes: nodes, operations: operations, edges: chosen)
    }
}

/// Stream numbers for the run's generators. Every random choice of a run comes from
/// `SeededGenerator(seed: runSeed, stream: ...)` keyed only by the step (and candidate), never by
/// anything that happened before, so resuming reproduces it exactly.
enum SearchSeeds {
    static func edgeSamplingStream(step: Int) -> UInt64 { 0x1_0000_0000 | UInt64(step) }
    static func randomCellStream(step: Int, index: Int) -> UInt64 { 0x2_0000_0000 | UInt64(step) << 12 | UInt64(index) }
    static func training(seed: UInt64, step: Int) -> UInt64 {
        var generator = SeededGenerator(seed: seed, stream: 0x3_0000_0000 | UInt64(step))
        return generator.next()
    }
}

func threeDigits(_ value: Int) -> String { value < 10 ? "00\(value)" : value < 100 ? "0\(value)" : "\(value)" }
func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
