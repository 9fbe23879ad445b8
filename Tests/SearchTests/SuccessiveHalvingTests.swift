import AutoShrinkData
import AutoShrinkEngine
import Foundation
import Testing
import AutoShrinkModel
@testable import AutoShrinkSearch

/// `--halving` (docs/algorithm.md §1, "Successive halving").
@Suite struct SuccessiveHalvingTests {
    /// 5 nodes, K = 4, 6 epochs, rungs at 2 then 6, eta 2.
    static func halvingConfiguration(rungs: [Int] = [2], eta: Int = 2) -> SearchConfiguration {
        var configuration = smallConfiguration()
        configuration.epochs = 6
        configuration.halving = HalvingSchedule(rungEpochs: rungs, eta: eta)
        return configuration
    }

    @Test func keepsTheBestCandidatesOfEachRung() throws {
        let run = temporaryRunPath("halving")
        let configuration = Self.halvingConfiguration()
        let evaluator = PseudoStagedEvaluator()
        let result = try SearchRunner(configuration: configuration, runDirectory: run, evaluator: evaluator).run()
        #expect(try TrajectoryFile.load(path: RunDirectory(path: run).trajectoryPath, repair: false) == result.records)
        var partialCount = 0
        for summary in result.steps {
            let candidates = summary.candidates
            // Rung 1: every candidate to epoch 2; ranked by the score after 2 epochs (feasible, score, index).
            let firstRung = try candidates.map { record -> (Int, Double) in
                let call = try #require(evaluator.calls.first { $0.id == record.id && $0.untilEpoch == 2 })
                return (record.candidate, configuration.score.score(accuracy: call.result.accuracy, resources: record.resources))
            }
            let ranked = firstRung.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map(\.0)
            let keep = (candidates.count + 1) / 2
            let survivors = Set(ranked.prefix(keep))
            for record in candidates {
                let survived = survivors.contains(record.candidate)
                #expect(record.halving == HalvingRung(reached: survived ? 2 : 1, rungs: 2))
                #expect(record.isPartial == !survived)
                #expect(record.epochs == (survived ? 6 : 2))
                let epochs = evaluator.calls.filter { $0.id == record.id }.map(\.untilEpoch)
                #expect(epochs == (survived ? [2, 6] : [2]))
                #expect(evaluator.finished[record.id] == survived)  // survivors keep their weights
            }
            partialCount += candidates.count - keep
            // The winner is the best fully trained candidate, never a partial one.
            #expect(!summary.winner.isPartial)
            #expect(summary.winner == SearchRunner.winner(of: candidates.filter { !$0.isPartial }))
        }
        #expect(partialCount > 0)
        #expect(result.paretoFront.allSatisfy { !$0.isPartial })
        let line = try String(contentsOfFile: RunDirectory(path: run).trajectoryPath, encoding: .utf8).split(separator: "\n")[0]
        #expect(line.contains("\"rung\":") && line.contains("\"rungs\":2"))
        let config = try String(contentsOfFile: RunDirectory(path: run).configPath, encoding: .utf8)
        #expect(config.contains("\"halving\""))
    }

    @Test func threeRungsWithEtaThree() throws {
        let configuration = Self.halvingConfiguration(rungs: [1, 3], eta: 3)
        let evaluator = PseudoStagedEvaluator()
        let result = try SearchRunner(configuration: configuration, runDirectory: temporaryRunPath("halving3"), evaluator: evaluator).run()
        let first = result.steps[0].candidates
        #expect(first.count == 4)
        // 4 candidates -> ceil(4/3) = 2 -> ceil(2/3) = 1.
        #expect(first.filter { $0.halving?.reached == 1 }.count == 2)
        #expect(first.filter { $0.halving?.reached == 2 }.count == 1)
        #expect(first.filter { $0.halving?.reached == 3 }.count == 1)
        #expect(result.steps[0].winner.halving?.reached == 3)
    }

    @Test func sameSeedSameTrajectoryAndResumeAfterACrash() throws {
        let configuration = Self.halvingConfiguration()
        let first = temporaryRunPath("halving-a"), second = temporaryRunPath("halving-b")
        _ = try SearchRunner(configuration: configuration, runDirectory: first, evaluator: PseudoStagedEvaluator()).run()
        // A crash in the middle of step 2's first rung, then a resume with a fresh evaluator.
        #expect(throws: (any Error).self) {
            try SearchRunner(configuration: configuration, runDirectory: second, evaluator: PseudoStagedEvaluator(failAfter: 8)).run()
        }
        let resumed = try SearchRunner(configuration: configuration, runDirectory: second, evaluator: PseudoStagedEvaluator()).run(resume: true)
        #expect(resumed.candidatesTrainedThisSession < resumed.records.count)
        let a = RunDirectory(path: first), b = RunDirectory(path: second)
        #expect(contents(a.trajectoryPath) == contents(b.trajectoryPath))
        #expect(contents(a.bestArchitecturePath) == contents(b.bestArchitecturePath))
        #expect(snapshotFiles(first) == snapshotFiles(second))
    }

    @Test func withoutHalvingNothingChanges() throws {
        let run = temporaryRunPath("no-halving")
        _ = try SearchRunner(configuration: smallConfiguration(), runDirectory: run, evaluator: PseudoAccuracyEvaluator()).run()
        let trajectory = String(decoding: contents(RunDirectory(path: run).trajectoryPath), as: UTF8.self)
        #expect(!trajectory.contains("rung"))
        #expect(!String(decoding: contents(RunDirectory(path: run).configPath), as: UTF8.self).contains("halving"))
        // Old records (no rung keys) load; a lone `rung` is refused.
        let line = String(trajectory.split(separator: "\n")[0])
        #expect(try JSONDecoder().decode(CandidateRecord.self, from: Data(line.utf8)).halving == nil)
        let broken = line.replacingOccurrences(of: "\"step\":", with: "\"rung\":3,\"step\":")
        #expect(throws: (any Error).self) { try JSONDecoder().decode(CandidateRecord.self, from: Data(broken.utf8)) }
    }

    @Test func needsAStagedEvaluatorAndValidRungs() throws {
        #expect(throws: SearchError.self) {
            try SearchRunner(configuration: Self.halvingConfiguration(), runDirectory: temporaryRunPath("halving-x"),
                             evaluator: PseudoAccuracyEvaluator()).run()
        }
        #expect(try HalvingSchedule(spec: "off", eta: 2) == nil)
        #expect(try HalvingSchedule(spec: "1,3", eta: 2)?.rungEpochs == [1, 3])
        #expect(throws: SearchError.self) { try HalvingSchedule(spec: "3,x", eta: 2) }
        for (rungs, eta) in [([3, 2], 2), ([6], 2), ([0], 2), ([2], 4)] {
            #expect(throws: SearchError.self) { try HalvingSchedule(rungEpochs: rungs, eta: eta).validate(epochs: 6) }
        }
    }

    /// The real evaluator: a candidate trained 2 then 5 epochs in stages equals one trained 5 epochs
    /// in one go (accuracy, epochs and every weight).
    @Test func stagedTrainingContinuesExactly() throws {
        var generator = SeededGenerator(seed: 4)
        let count = 96
        let pixels = (0..<(count * 144)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let dataset = Dataset(name: "random", split: .train, channels: 1, height: 12, width: 12, classCount: 4,
                              rawPixels: pixels, labels: (0..<count).map { Int32($0 % 4) })
        let (train, validation) = try dataset.balancedSplit(trainPerClass: 16, validationPerClass: 8, seed: 1)
        let configuration = SearchConfiguration(dataset: "test", input: InputShape(channels: 1, height: 12, width: 12), classes: 4,
                                                nodes: 4, candidates: 2, seed: 3, baseWidth: 4, epochs: 5, batchSize: 16)
        let evaluator = TrainingEvaluator(task: ProxyTask(train: train, validation: validation), configuration: configuration, threads: 1)
        let architecture = configuration.architecture(cell: configuration.startCell, name: "staged")
        let directory = temporaryRunPath("staged")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func request(_ id: String) -> EvaluationRequest {
            EvaluationRequest(architecture: architecture, candidateID: id, step: 1, index: 0, seed: 9, weightsOutputPath: "\(directory)/\(id).ckpt")
        }
        let whole = try evaluator.evaluate(request("whole"))
        _ = try evaluator.train(request("staged"), untilEpoch: 2)
        let staged = try evaluator.train(request("staged"), untilEpoch: 5)
        try evaluator.finish(request("staged"), keepWeights: true)
        #expect(staged.accuracy == whole.accuracy && staged.epochs == whole.epochs)
        let a = try Checkpoint.load(path: "\(directory)/whole.ckpt"), b = try Checkpoint.load(path: "\(directory)/staged.ckpt")
        #expect(a.tensors.map { $0.values } == b.tensors.map { $0.values })
        #expect(!a.tensors.isEmpty)
    }
}
