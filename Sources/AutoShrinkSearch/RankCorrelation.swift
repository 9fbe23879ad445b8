import AutoShrinkData
import AutoShrinkModel
import Foundation

/// Rank agreement between two evaluations of the same candidates (docs/search-quality.md): a cheap
/// evaluation keeps the search's choices when it orders candidates like full proxy training.
public enum RankCorrelation {
    /// Kendall's tau-b of `a` and `b` (same length >= 2): (concordant - discordant) pairs over
    /// sqrt((n0 - ties in a)(n0 - ties in b)); 0 when either side is constant.
    public static func kendallTau(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "kendallTau: sequences of different lengths")
        var concordant = 0, discordant = 0, tiesA = 0, tiesB = 0
        for i in a.indices {
            for j in a.indices where j > i {
                let x = a[i] - a[j], y = b[i] - b[j]
                if x == 0 && y == 0 { tiesA += 1; tiesB += 1 } else if x == 0 { tiesA += 1 } else if y == 0 { tiesB += 1 } else if (x > 0) == (y > 0) {
                    concordant += 1
                } else {
                    discordant += 1
                }
            }
        }
        let pairs = a.count * (a.count - 1) / 2
        let denominator = (Double(pairs - tiesA) * Double(pairs - tiesB)).squareRoot()
        return denominator > 0 ? Double(concordant - discordant) / denominator : 0
    }
}

/// Candidate samples for `autoshrink bench rank`.
public enum RankSampling {
    /// `count` candidates of one step's space: `parent` minus distinct edges of its shrink space,
    /// drawn with `seed` (fewer when the space is smaller), in ascending removed-edge order.
    public static func step(parent: CellDAG, count: Int, seed: UInt64) -> [(removed: Edge, cell: CellDAG)] {
        var generator = SeededGenerator(seed: seed)
        var space = parent.shrinkSpace
        var chosen: [Edge] = []
        while chosen.count < count && !space.isEmpty {
            chosen.append(space.remove(at: generator.nextInt(below: space.count)))
        }
        return chosen.sorted().map { ($0, parent.removing($0)) }
    }

    /// `count` random cells with edge counts spread evenly over 1...edges-1 (the sizes a shrinking
    /// trajectory passes through), drawn with `seed`.
    public static func spread(operations: [NodeOperation], count: Int, seed: UInt64) -> [CellDAG] {
        var generator = SeededGenerator(seed: seed)
        let maximum = operations.count * (operations.count - 1) / 2
        return (0..<count).map { index in
            let edges = 1 + (count > 1 ? index * (maximum - 2) / (count - 1) : maximum / 2)
            return RandomSearchStrategy.randomCell(operations: operations, edges: edges, generator: &generator)
        }
    }
}
