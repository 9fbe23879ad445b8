import Foundation
import Testing
import AutoShrinkData
import AutoShrinkModel
@testable import AutoShrinkSearch

@Test func edgeSamplingIsDistinctSortedAndKeyedBySeedAndStepOnly() {
    let space = CellDAG.fullyConnected(operations: BuiltinArchitectures.nodeOperations(nodes: 8, seed: 0)).edges
    let sample = AutoShrinkStrategy.sampleEdges(space, count: 10, seed: 5, step: 3)
    #expect(sample.count == 10)
    #expect(Set(sample).count == 10 && sample == sample.sorted())
    #expect(sample.allSatisfy(space.contains))
    #expect(AutoShrinkStrategy.sampleEdges(space.reversed(), count: 10, seed: 5, step: 3) == sample)
    #expect(AutoShrinkStrategy.sampleEdges(space, count: 10, seed: 5, step: 4) != sample)
    #expect(AutoShrinkStrategy.sampleEdges(space, count: 10, seed: 6, step: 3) != sample)
    #expect(AutoShrinkStrategy.sampleEdges(Array(space.prefix(4)), count: 10, seed: 5, step: 3) == Array(space.prefix(4)))
    // Every edge gets sampled sometimes (no edge is systematically left out).
    var seen = Set<Edge>()
    for step in 1...40 { seen.formUnion(AutoShrinkStrategy.sampleEdges(space, count: 10, seed: 1, step: step)) }
    #expect(seen.count == 28)
}

@Test func autoshrinkStrategyStopsWhenTheSpaceIsEmptyOrAtMinEdges() {
    let operations = BuiltinArchitectures.nodeOperations(nodes: 4, seed: 0)
    let strategy = AutoShrinkStrategy(candidates: 10, minEdges: 0, seed: 1)
    let full = CellDAG.fullyConnected(operations: operations)
    let step1 = strategy.candidates(step: 1, current: full)
    #expect(step1.count == 6)  // K = min(10, 6)
    #expect(step1.map(\.index) == Array(0..<6))
    #expect(step1.allSatisfy { $0.cell == full.removing($0.removedEdge!) && $0.id.hasPrefix("step-001-c0") })
    #expect(Set(step1.map(\.seed)).count == 1)
    #expect(strategy.candidates(step: 9, current: CellDAG(nodes: 4, operations: operations, edges: [])).isEmpty)
    #expect(AutoShrinkStrategy(candidates: 10, minEdges: 6, seed: 1).candidates(step: 1, current: full).isEmpty)
    #expect(strategy.remainingCandidates(step: 1, current: full) == 6 + 5 + 4 + 3 + 2 + 1)
}

@Test func simulatedBudgetMatchesTheReferenceSetting() {
    // N = 8, K = 10: spaces 28...10 give 10 candidates each (19 steps), then 9 + 8 + ... + 1.
    let plan = AutoShrinkStrategy.simulatedPlan(edges: 28, candidates: 10, minEdges: 0)
    #expect(plan.count == 28)
    #expect(plan.reduce(0) { $0 + $1.count } == 235)
    #expect(plan[0] == [Int](repeating: 27, count: 10))
    #expect(plan.last == [0])
    #expect(AutoShrinkStrategy.simulatedPlan(edges: 10, candidates: 4, minEdges: 6).map(\.count) == [4, 4, 4, 4])
}

@Test func randomCellsHaveExactEdgeCountsAndReachableSources() {
    let operations = BuiltinArchitectures.nodeOperations(nodes: 8, seed: 2)
    var generator = SeededGenerator(seed: 3)
    for edges in 0...28 {
        for _ in 0..<5 {
            let cell = RandomSearchStrategy.randomCell(operations: operations, edges: edges, generator: &generator)
            #expect(cell.edges.count == edges)
            #expect(cell.pruned() == cell, "edges \(edges): \(cell.edges)")
            #expect(cell.operations == operations)
        }
    }
}

@Test func randomStrategyUsesExactlyTheAutoshrinkBudget() throws {
    let shrink = try SearchRunner(configuration: smallConfiguration(), runDirectory: temporaryRunPath("budget-autoshrink"),
                                  evaluator: PseudoAccuracyEvaluator()).run()
    // Matching an actual AutoShrink run: same steps, same candidates per step, same edge counts.
    var configuration = smallConfiguration(strategy: .random)
    configuration.randomPlan = RandomSearchStrategy.plan(matching: shrink.records)
    let random = try SearchRunner(configuration: configuration, runDirectory: temporaryRunPath("budget-random"),
                                  evaluator: PseudoAccuracyEvaluator()).run()
    #expect(random.candidatesTrained == shrink.candidatesTrained)
    #expect(random.steps.map { $0.candidates.map(\.edgesLeft) } == shrink.steps.map { $0.candidates.map(\.edgesLeft) })
    #expect(random.records.allSatisfy { $0.removedEdge == nil })
    let best = try #require(random.best)
    #expect(best.winner.score == random.records.filter(\.feasible).map(\.score).max())

    // Default plan: the simulated schedule (7 x 4 + 3 + 2 + 1 = 34 for 10 edges, K = 4), stored in config.json.
    let simulatedPath = temporaryRunPath("budget-simulated")
    let simulated = try SearchRunner(configuration: smallConfiguration(strategy: .random), runDirectory: simulatedPath,
                                     evaluator: PseudoAccuracyEvaluator()).run()
    #expect(simulated.candidatesTrained == 34)
    #expect(shrink.candidatesTrained <= 34)
    let stored = try SearchConfiguration.load(path: RunDirectory(path: simulatedPath).configPath)
    #expect(stored.randomPlan?.reduce(0) { $0 + $1.count } == 34)
    // Resuming the random run is exact too.
    let trajectory = contents(RunDirectory(path: simulatedPath).trajectoryPath)
    let lines = trajectory.split(separator: UInt8(ascii: "\n"))
    try (lines.prefix(10).map { Data($0) + Data("\n".utf8) }.reduce(Data(), +))
        .write(to: URL(fileURLWithPath: RunDirectory(path: simulatedPath).trajectoryPath))
    let resumed = try SearchRunner(configuration: smallConfiguration(strategy: .random), runDirectory: simulatedPath,
                                   evaluator: PseudoAccuracyEvaluator()).run(resume: true)
    #expect(resumed.candidatesTrainedThisSession == 24)
    #expect(contents(RunDirectory(path: simulatedPath).trajectoryPath) == trajectory)
}
