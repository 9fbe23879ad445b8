import Foundation
import Testing
import AutoShrinkModel
@testable import AutoShrinkSearch

@Test func autoshrinkTrajectoryFollowsTheShrinkSpace() throws {
    let run = temporaryRunPath("trajectory")
    let configuration = smallConfiguration()
    let events = EventLog()
    let result = try SearchRunner(configuration: configuration, runDirectory: run, evaluator: PseudoAccuracyEvaluator(),
                                  observer: events).run()
    let records = try TrajectoryFile.load(path: RunDirectory(path: run).trajectoryPath, repair: false)
    #expect(records == result.records)

    // Replay the shrink: each step's candidates are min(K, |space|) distinct edges of the
    // previous winner's shrink space, each candidate = winner minus that edge, pruned.
    var current = configuration.startCell
    var expectedCount = 0
    for summary in result.steps {
        let space = current.shrinkSpace
        #expect(summary.candidates.count == min(4, space.count))
        expectedCount += summary.candidates.count
        let removed = summary.candidates.map { $0.removedEdge! }
        #expect(removed == removed.sorted() && Set(removed).count == removed.count)
        for record in summary.candidates {
            #expect(space.contains(record.removedEdge!))
            let cell = current.removing(record.removedEdge!)
            #expect(record.cellEdges == cell.edges)
            #expect(record.edgesLeft == cell.edges.count)
            #expect(abs(record.score - (record.accuracy - 0.1 * (log10(Double(record.resources.macs)) - 6))) < 1e-12)
        }
        // Winner: best score, ties to the lowest edge.
        let bestScore = summary.candidates.map(\.score).max()!
        #expect(summary.winner == summary.candidates.first { $0.score == bestScore })
        let snapshot = try Architecture.load(path: summary.snapshotPath)
        #expect(snapshot.cell?.edges == summary.winner.cellEdges)
        #expect(snapshot.stableHash == summary.winner.architectureHash)
        current = summary.winner.cell(operations: configuration.nodeOperations)
    }
    #expect(current.edges.isEmpty && current.shrinkSpace.isEmpty)  // ran to the end
    #expect(records.count == expectedCount)
    // Steps are numbered 1... and each has a snapshot file.
    #expect(result.steps.map(\.step) == Array(1...result.steps.count))
    #expect(snapshotFiles(run).count == result.steps.count)
    #expect(snapshotFiles(run).keys.sorted().first == "step-001.arch.json")
    // Without pruning cascades, 10 edges and K = 4 give 7 x 4 + 3 + 2 + 1 = 34 candidates over 10 steps;
    // cascades can only shorten this.
    #expect(result.steps.count <= 10 && records.count <= 34)
    #expect(result.steps[0].candidates.allSatisfy { $0.edgesLeft <= 9 })

    // best.arch.json: the best-scoring feasible snapshot, byte-equal to its snapshot file.
    let best = try #require(result.best)
    #expect(best.winner.score == result.steps.map(\.winner.score).max())
    #expect(contents(RunDirectory(path: run).bestArchitecturePath) == contents(best.snapshotPath))
    #expect(result.bestArchitecturePath == RunDirectory(path: run).bestArchitecturePath)
    #expect(events.candidateEvents == records.count && events.stepEvents == result.steps.count)
    #expect(result.candidatesTrainedThisSession == records.count)
    let log = String(decoding: contents(RunDirectory(path: run).logPath), as: UTF8.self)
    #expect(log.contains("== step 1:") && log.contains("best: step \(best.step)"))
}

@Test func minEdgesStopsEarly() throws {
    var configuration = smallConfiguration()
    configuration.minEdges = 6
    let result = try SearchRunner(configuration: configuration, runDirectory: temporaryRunPath("min-edges"),
                                  evaluator: PseudoAccuracyEvaluator()).run()
    #expect(result.steps.last!.edgesLeft <= 6)
    #expect(result.steps.dropLast().allSatisfy { $0.edgesLeft > 6 })
}

@Test func parallelWorkersWriteTheSameFilesAsOneWorker() throws {
    let serial = temporaryRunPath("serial"), parallel = temporaryRunPath("parallel")
    _ = try SearchRunner(configuration: smallConfiguration(workers: 1), runDirectory: serial,
                         evaluator: PseudoAccuracyEvaluator(jitter: true)).run()
    let events = EventLog()
    _ = try SearchRunner(configuration: smallConfiguration(workers: 3), runDirectory: parallel,
                         evaluator: PseudoAccuracyEvaluator(jitter: true), observer: events).run()
    let serialTrajectory = contents(RunDirectory(path: serial).trajectoryPath)
    #expect(!serialTrajectory.isEmpty)
    #expect(contents(RunDirectory(path: parallel).trajectoryPath) == serialTrajectory)
    #expect(contents(RunDirectory(path: parallel).bestArchitecturePath) == contents(RunDirectory(path: serial).bestArchitecturePath))
    #expect(snapshotFiles(parallel) == snapshotFiles(serial))
    // Candidate lines reach the observer in trajectory order.
    let candidateLines = events.lines.filter { $0.hasPrefix("step ") }
    let order = candidateLines.map { line -> [Int] in
        let parts = line.split(separator: " ")
        return [Int(parts[1])!, Int(parts[2].dropFirst().dropLast())!]
    }
    #expect(order == order.sorted { $0.lexicographicallyPrecedes($1) })
}

/// Measures how many evaluations run at the same time.
final class ConcurrencyProbe: CandidateEvaluator, @unchecked Sendable {
    private let lock = NSLock()
    private var running = 0
    private(set) var maximum = 0
    func evaluate(_ request: EvaluationRequest) throws -> EvaluationResult {
        lock.lock(); running += 1; maximum = max(maximum, running); lock.unlock()
        usleep(5_000)
        lock.lock(); running -= 1; lock.unlock()
        return try PseudoAccuracyEvaluator().evaluate(request)
    }
}

@Test func workersBoundTheConcurrency() throws {
    var configuration = smallConfiguration(workers: 3)
    configuration.minEdges = 7
    let probe = ConcurrencyProbe()
    _ = try SearchRunner(configuration: configuration, runDirectory: temporaryRunPath("probe"), evaluator: probe).run()
    #expect(probe.maximum <= 3)
    #expect(probe.maximum >= 2)  // sleeping evaluations overlap even on one core
}

@Test func inheritPassesTheParentWinnersWeightsAndKeepsOnlyWinners() throws {
    var configuration = smallConfiguration()
    configuration.inherit = true
    configuration.minEdges = 5
    let run = temporaryRunPath("inherit")
    let evaluator = RecordingEvaluator()
    let result = try SearchRunner(configuration: configuration, runDirectory: run, evaluator: evaluator).run()
    let directory = RunDirectory(path: run)
    for request in evaluator.requests {
        #expect(request.weightsOutputPath == directory.weightsPath(candidateID: request.candidateID))
        if request.step == 1 {
            #expect(request.parentWeightsPath == nil)
        } else {
            let parent = result.steps[request.step - 2].winner
            #expect(request.parentWeightsPath == directory.weightsPath(candidateID: parent.id))
        }
        // All candidates of a step share the training seed; steps differ.
        #expect(request.seed == evaluator.requests.first { $0.step == request.step }!.seed)
    }
    #expect(Set(evaluator.requests.map(\.seed)).count == result.steps.count)
    let kept = try FileManager.default.contentsOfDirectory(atPath: directory.weightsPath).sorted()
    #expect(kept == result.steps.map { "\($0.winner.id).ckpt" }.sorted())
}

@Test func withoutInheritNoWeightsAreRequested() throws {
    var configuration = smallConfiguration()
    configuration.minEdges = 8
    let evaluator = RecordingEvaluator()
    _ = try SearchRunner(configuration: configuration, runDirectory: temporaryRunPath("no-inherit"), evaluator: evaluator).run()
    #expect(!evaluator.requests.isEmpty)
    #expect(evaluator.requests.allSatisfy { $0.parentWeightsPath == nil && $0.weightsOutputPath == nil })
    #expect(evaluator.requests.allSatisfy { $0.candidateID == "step-\(String(format: "%03d", $0.step))-c0\($0.index)" })
}

@Test func hardLimitsMakeWinnersFeasibleFirstAndBestFeasible() throws {
    // Limit MACs between the smallest and the largest network: early steps are infeasible.
    let reference = try SearchRunner(configuration: smallConfiguration(), runDirectory: temporaryRunPath("unlimited"),
                                     evaluator: PseudoAccuracyEvaluator()).run()
    let macs = reference.records.map(\.resources.macs).sorted()
    let limit = macs[macs.count / 2]
    var score = ScoreFunction.reference
    score.limits.maxMACs = limit
    let result = try SearchRunner(configuration: smallConfiguration(score: score), runDirectory: temporaryRunPath("limited"),
                                  evaluator: PseudoAccuracyEvaluator()).run()
    #expect(result.records.contains { !$0.feasible })
    for record in result.records { #expect(record.feasible == (record.resources.macs <= limit)) }
    for summary in result.steps where summary.candidates.contains(where: \.feasible) {
        #expect(summary.winner.feasible)
        #expect(summary.winner.score == summary.candidates.filter(\.feasible).map(\.score).max())
    }
    let best = try #require(result.best)
    #expect(best.winner.feasible)
    #expect(best.winner.score == result.steps.filter(\.winner.feasible).map(\.winner.score).max())
}

@Test func evaluatorAnswersAreChecked() throws {
    struct Broken: CandidateEvaluator {
        func evaluate(_ request: EvaluationRequest) throws -> EvaluationResult { EvaluationResult(accuracy: 87, epochs: 3, seconds: 1) }
    }
    #expect(throws: SearchError.self) {
        _ = try SearchRunner(configuration: smallConfiguration(), runDirectory: temporaryRunPath("broken"), evaluator: Broken()).run()
    }
}

/// A latency model for tests: 1 ms per million MACs plus 0.1 ms per layer.
struct MACsLatency: LatencyPredictor {
    func predictLatencyMilliseconds(_ graph: LayerGraph) throws -> Double {
        Double(CostModel.costs(of: graph).macs) / 1e6 + 0.1 * Double(graph.layers.count)
    }
}

@Test func latencyTermsUseThePredictorAndAreRecorded() throws {
    let score = ScoreFunction(terms: [ResourceTerm(.latencyMilliseconds, target: 2, weight: 0.2)],
                              limits: HardLimits(maxLatencyMilliseconds: 50))
    var configuration = smallConfiguration(score: score)
    configuration.minEdges = 7
    let run = temporaryRunPath("latency")
    let result = try SearchRunner(configuration: configuration, runDirectory: run, evaluator: PseudoAccuracyEvaluator(),
                                  latencyPredictor: MACsLatency()).run()
    for record in result.records {
        let latency = try #require(record.resources.latencyMilliseconds)
        #expect(abs(record.score - (record.accuracy - 0.2 * log10(latency / 2))) < 1e-12)
    }
    #expect(result.paretoResource == .latencyMilliseconds)
    let line = String(decoding: contents(RunDirectory(path: run).trajectoryPath), as: UTF8.self).split(separator: "\n")[0]
    #expect(line.contains("\"latency_ms\":") && !line.contains("\"latency_ms\":null"))
    // Without a predictor the same configuration is refused before anything is written.
    let other = temporaryRunPath("latency-missing")
    #expect(throws: SearchError.self) {
        _ = try SearchRunner(configuration: configuration, runDirectory: other, evaluator: PseudoAccuracyEvaluator()).run()
    }
    #expect(!FileManager.default.fileExists(atPath: other))
}

@Test func referenceSettingRunsDownToTheEmptyCell() throws {
    // N = 8, K = 10, the proxy widths: at most 235 candidates, the last snapshot has no edges.
    let configuration = SearchConfiguration(dataset: "test", seed: 4, workers: 2)
    let result = try SearchRunner(configuration: configuration, runDirectory: temporaryRunPath("reference-setting"),
                                  evaluator: PseudoAccuracyEvaluator()).run()
    #expect(result.steps[0].candidates.count == 10)
    #expect(result.steps[0].candidates.allSatisfy { $0.edgesLeft <= 27 })
    #expect(result.candidatesTrained <= 235)
    #expect(result.steps.last?.edgesLeft == 0)
    #expect(result.best != nil)
}
