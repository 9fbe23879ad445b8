/// One buffer to place in the static activation arena: its size and the steps (layer indices of
/// the execution order, inclusive) during which it holds live data.
public struct BufferRequest: Hashable, Sendable, Codable {
    public var bytes: Int
    public var firstStep: Int
    public var lastStep: Int
    public init(bytes: Int, firstStep: Int, lastStep: Int) {
        precondition(bytes >= 0 && firstStep <= lastStep, "a buffer needs bytes >= 0 and firstStep <= lastStep")
        self.bytes = bytes; self.firstStep = firstStep; self.lastStep = lastStep
    }

    /// Whether two buffers hold live data at a common step (then they must not share bytes).
    public func livesAlongside(_ other: BufferRequest) -> Bool {
        firstStep <= other.lastStep && other.firstStep <= lastStep
    }
}

/// Byte offsets of the buffers in one arena, its size and the lower bound it is measured against.
public struct MemoryPlan: Hashable, Sendable, Codable {
    /// Offset of each request, parallel to the requests.
    public var offsets: [Int]
    /// Arena size: the end of the highest buffer.
    public var arenaBytes: Int
    /// Max over steps of the bytes live at that step: no arena for these lifetimes can be smaller.
    public var lowerBoundBytes: Int
    /// Name of the planner that made the plan.
    public var planner: String

    /// Pairs of buffers (indices) that are live at a common step and share bytes; empty for a valid plan.
    public func conflicts(_ requests: [BufferRequest]) -> [(Int, Int)] {
        var found: [(Int, Int)] = []
        for a in requests.indices {
            for b in requests.indices where b > a && requests[a].livesAlongside(requests[b]) {
                let overlap = offsets[a] < offsets[b] + requests[b].bytes && offsets[b] < offsets[a] + requests[a].bytes
                if overlap && requests[a].bytes > 0 && requests[b].bytes > 0 { found.append((a, b)) }
            }
        }
        return found
    }
}

/// Assigns arena offsets to buffers with known lifetimes (a static plan: no allocation at run time).
/// Implementations: `FirstFitPlanner` (the simple one, kept as the test oracle) and
/// `GreedyBySizePlanner` (the default).
public protocol MemoryPlanner: Sendable {
    /// Short name for reports (`first-fit`, `greedy-by-size`).
    var name: String { get }
    /// Places every request; offsets are multiples of `alignment`.
    func plan(_ requests: [BufferRequest], alignment: Int) -> MemoryPlan
}

/// Shared pieces of the planners.
public enum MemoryPlanning {
    /// Max over steps of the bytes of buffers live at that step.
    public static func lowerBound(_ requests: [BufferRequest]) -> Int {
        guard let lastStep = requests.map(\.lastStep).max(), let firstStep = requests.map(\.firstStep).min() else { return 0 }
        // Difference array over steps: +bytes at firstStep, -bytes after lastStep.
        var delta = [Int](repeating: 0, count: lastStep - firstStep + 2)
        for request in requests {
            delta[request.firstStep - firstStep] += request.bytes
            delta[request.lastStep - firstStep + 1] -= request.bytes
        }
        var live = 0, peak = 0
        for change in delta { live += change; peak = max(peak, live) }
        return peak
    }

    /// Where a buffer goes among the gaps left by buffers live alongside it.
    public enum Fit: Sendable {
        /// The lowest offset that fits.
        case first
        /// The smallest gap that fits (the end of the arena when none does).
        case best
    }

    /// Places the requests one by one in `order`, each in a gap (aligned) where it overlaps no already
    /// placed buffer that is live alongside it.
    public static func place(_ requests: [BufferRequest], order: [Int], alignment: Int, fit: Fit = .first) -> [Int] {
        precondition(alignment >= 1, "alignment must be positive")
        var offsets = [Int](repeating: -1, count: requests.count)
        var placed: [Int] = []
        for index in order {
            let request = requests[index]
            let blocking = placed.filter { requests[$0].livesAlongside(request) && requests[$0].bytes > 0 }
                .sorted { offsets[$0] < offsets[$1] }
            var candidate = 0
            var chosen: Int?
            var chosenGap = Int.max
            for other in blocking {
                let gap = offsets[other] - candidate
                if gap >= request.bytes {
                    if fit == .first { chosen = candidate; break }
                    if gap < chosenGap { chosen = candidate; chosenGap = gap }
                }
                candidate = max(candidate, align(offsets[other] + requests[other].bytes, alignment))
            }
            offsets[index] = chosen ?? candidate
            placed.append(index)
        }
        return offsets
    }

    /// First fit in `order` (`place` with `.first`).
    public static func placeFirstFit(_ requests: [BufferRequest], order: [Int], alignment: Int) -> [Int] {
        place(requests, order: order, alignment: alignment, fit: .first)
    }

    /// The plan for given offsets.
    static func plan(_ requests: [BufferRequest], offsets: [Int], planner: String) -> MemoryPlan {
        let end = zip(requests, offsets).map { $0.bytes + $1 }.max() ?? 0
        return MemoryPlan(offsets: offsets, arenaBytes: end, lowerBoundBytes: lowerBound(requests), planner: planner)
    }

    static func align(_ value: Int, _ alignment: Int) -> Int { (value + alignment - 1) / alignment * alignment }
}

/// First fit in execution order (by first step): simple and obviously correct; the test oracle.
public struct FirstFitPlanner: MemoryPlanner {
    public init() {}
    public var name: String { "first-fit" }

    public func plan(_ requests: [BufferRequest], alignment: Int = 16) -> MemoryPlan {
        let order = requests.indices.sorted { (requests[$0].firstStep, $0) < (requests[$1].firstStep, $1) }
        return MemoryPlanning.plan(requests, offsets: MemoryPlanning.placeFirstFit(requests, order: order, alignment: alignment),
                                   planner: name)
    }
}

/// Greedy by size (the default): buffers sorted largest first, each placed where it overlaps no placed
/// buffer live alongside it — large buffers placed first pack the peak tightly. Dynamic storage
/// allocation is NP-hard, so the planner tries a few orders (size, size x lifetime, execution order —
/// the oracle's — and seeded random perturbations of the size order) with first-fit and best-fit gap
/// choice, and keeps the smallest arena (it stops early at the lower bound). It is therefore never
/// worse than `FirstFitPlanner`, and deterministic.
public struct GreedyBySizePlanner: MemoryPlanner {
    /// Random perturbations of the size order tried after the fixed orders.
    public var perturbations: Int

    public init(perturbations: Int = 64) { self.perturbations = perturbations }
    public var name: String { "greedy-by-size" }

    public func plan(_ requests: [BufferRequest], alignment: Int = 16) -> MemoryPlan {
        let indices = Array(requests.indices)
        func length(_ request: BufferRequest) -> Int { request.lastStep - request.firstStep + 1 }
        let bySize = indices.sorted {
            let a = requests[$0], b = requests[$1]
            return (-a.bytes, a.firstStep, -length(a), $0) < (-b.bytes, b.firstStep, -length(b), $1)
        }
        let byStart = indices.sorted { (requests[$0].firstStep, $0) < (requests[$1].firstStep, $1) }
        let byArea = indices.sorted {
            let a = requests[$0], b = requests[$1]
            return (-(a.bytes * length(a)), -a.bytes, $0) < (-(b.bytes * length(b)), -b.bytes, $1)
        }
        var orders = [bySize, byArea, byStart]
        // Perturbations: sizes scaled by a random factor in [0.5, 2), re-sorted.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(requests.count)
        func random() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        for _ in 0..<perturbations {
            let keys = indices.map { Double(requests[$0].bytes) * (0.5 + 1.5 * random()) }
            orders.append(indices.sorted { (keys[$0], $0) > (keys[$1], $1) })
        }
        let lowerBound = MemoryPlanning.lowerBound(requests)
        var best: MemoryPlan?
        search: for order in orders {
            for fit in [MemoryPlanning.Fit.first, .best] {
                let candidate = MemoryPlanning.plan(requests, offsets: MemoryPlanning.place(requests, order: order, alignment: alignment, fit: fit),
                                                    planner: name)
                if best == nil || candidate.arenaBytes < best!.arenaBytes { best = candidate }
                if best!.arenaBytes <= lowerBound { break search }
            }
        }
        return best ?? MemoryPlan(offsets: [], arenaBytes: 0, lowerBoundBytes: 0, planner: name)
    }
}
