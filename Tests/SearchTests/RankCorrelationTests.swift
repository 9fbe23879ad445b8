import AutoShrinkModel
import Testing
@testable import AutoShrinkSearch

@Suite("Rank correlation and bench rank samples")
struct RankCorrelationTests {
    @Test("Kendall tau-b: identical, reversed, one swap, ties, constant")
    func kendall() {
        #expect(RankCorrelation.kendallTau([1, 2, 3, 4], [10, 20, 30, 40]) == 1)
        #expect(RankCorrelation.kendallTau([1, 2, 3, 4], [4, 3, 2, 1]) == -1)
        // One discordant pair of six: (5 - 1) / 6.
        #expect(abs(RankCorrelation.kendallTau([1, 2, 3, 4], [1, 3, 2, 4]) - 4.0 / 6) < 1e-12)
        // tau-b with a tie in b: pairs 3, tiesB 1, concordant 2 -> 2 / sqrt(3 * 2).
        #expect(abs(RankCorrelation.kendallTau([1, 2, 3], [1, 2, 2]) - 2 / 6.0.squareRoot()) < 1e-12)
        #expect(RankCorrelation.kendallTau([1, 2, 3], [5, 5, 5]) == 0)
    }

    @Test("step samples are the parent minus distinct shrink-space edges; spread samples cover the edge counts")
    func samples() {
        let operations = BuiltinArchitectures.nodeOperations(nodes: 5, seed: 2)
        let parent = CellDAG.fullyConnected(operations: operations)
        let step = RankSampling.step(parent: parent, count: 4, seed: 9)
        #expect(step.count == 4 && Set(step.map(\.removed)).count == 4)
        #expect(step.map(\.removed) == step.map(\.removed).sorted())
        for sample in step { #expect(sample.cell == parent.removing(sample.removed)) }
        #expect(RankSampling.step(parent: parent, count: 50, seed: 9).count == parent.shrinkSpace.count)
        #expect(RankSampling.step(parent: parent, count: 4, seed: 9).map(\.removed) == step.map(\.removed))
        let spread = RankSampling.spread(operations: operations, count: 5, seed: 9)
        #expect(spread.map(\.edges.count) == [1, 3, 5, 7, 9])
    }
}
