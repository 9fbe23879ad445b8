import Foundation
import Testing
import AutoShrinkModel
@testable import AutoShrinkSearch

/// A complete reference run of the small configuration and its files.
private struct Reference {
    let path: String
    let trajectory: Data
    let lines: [Data]
    let best: Data
    let snapshots: [String: Data]

    init(workers: Int = 1) throws {
        path = temporaryRunPath("reference")
        _ = try SearchRunner(configuration: smallConfiguration(workers: workers), runDirectory: path,
                             evaluator: PseudoAccuracyEvaluator()).run()
        trajectory = contents(RunDirectory(path: path).trajectoryPath)
        lines = trajectory.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map { Data($0) + Data("\n".utf8) }
        best = contents(RunDirectory(path: path).bestArchitecturePath)
        snapshots = snapshotFiles(path)
    }
}

/// A run directory as a kill would leave it: the config, the first `keep` trajectory lines and
/// optionally the first half of the next line; no snapshots or best file after the cut.
private func killedRun(_ reference: Reference, keep: Int, tornHalf: Bool) throws -> String {
    let path = temporaryRunPath("killed-\(keep)")
    let directory = RunDirectory(path: path)
    try FileManager.default.createDirectory(atPath: directory.snapshotsPath, withIntermediateDirectories: true)
    try contents(RunDirectory(path: reference.path).configPath).write(to: URL(fileURLWithPath: directory.configPath))
    var data = reference.lines.prefix(keep).reduce(Data(), +)
    if tornHalf { let next = reference.lines[keep]; data += next.prefix(next.count / 2) }
    try data.write(to: URL(fileURLWithPath: directory.trajectoryPath))
    return path
}

@Test func resumeAfterACutAtAnyPointGivesIdenticalFiles() throws {
    let reference = try Reference()
    let total = reference.lines.count
    #expect(total > 12)
    let cuts: [(Int, Bool)] = [(0, false), (0, true), (1, false), (3, false), (5, true), (total / 2, false),
                               (total / 2, true), (total - 1, false), (total - 1, true), (total, false)]
    for (keep, torn) in cuts {
        let path = try killedRun(reference, keep: keep, tornHalf: torn)
        let evaluator = PseudoAccuracyEvaluator()
        let result = try SearchRunner(configuration: smallConfiguration(), runDirectory: path, evaluator: evaluator).run(resume: true)
        #expect(result.candidatesTrainedThisSession == total - keep, "cut \(keep) torn \(torn)")
        #expect(contents(RunDirectory(path: path).trajectoryPath) == reference.trajectory, "cut \(keep) torn \(torn)")
        #expect(contents(RunDirectory(path: path).bestArchitecturePath) == reference.best, "cut \(keep) torn \(torn)")
        #expect(snapshotFiles(path) == reference.snapshots, "cut \(keep) torn \(torn)")
    }
}

@Test func resumeAfterAnEvaluatorCrashWithParallelWorkers() throws {
    let reference = try Reference()
    let path = temporaryRunPath("crash")
    for failAfter in [2, 9] {
        #expect(throws: PseudoAccuracyEvaluator.Crash.self) {
            _ = try SearchRunner(configuration: smallConfiguration(workers: 3), runDirectory: path,
                                 evaluator: PseudoAccuracyEvaluator(jitter: true, failAfter: failAfter)).run(resume: true)
        }
    }
    let partial = try TrajectoryFile.load(path: RunDirectory(path: path).trajectoryPath, repair: false)
    #expect(partial.count <= 11 && partial.count < reference.lines.count)
    let result = try SearchRunner(configuration: smallConfiguration(workers: 2), runDirectory: path,
                                  evaluator: PseudoAccuracyEvaluator(jitter: true)).run(resume: true)
    #expect(result.candidatesTrainedThisSession == reference.lines.count - partial.count)
    #expect(contents(RunDirectory(path: path).trajectoryPath) == reference.trajectory)
    #expect(contents(RunDirectory(path: path).bestArchitecturePath) == reference.best)
}

@Test func resumingAFinishedRunTrainsNothing() throws {
    let reference = try Reference()
    let counter = PseudoAccuracyEvaluator(failAfter: 0)  // any evaluation would throw
    let result = try SearchRunner(configuration: smallConfiguration(), runDirectory: reference.path, evaluator: counter).run(resume: true)
    #expect(result.candidatesTrainedThisSession == 0)
    #expect(result.candidatesTrained == reference.lines.count)
    #expect(contents(RunDirectory(path: reference.path).trajectoryPath) == reference.trajectory)
}

@Test func aDifferentConfigurationIsRefusedNamingTheFirstDifferingKey() throws {
    let reference = try Reference()
    func refusal(_ configuration: SearchConfiguration) -> String? {
        do {
            _ = try SearchRunner(configuration: configuration, runDirectory: reference.path, evaluator: PseudoAccuracyEvaluator())
                .run(resume: true)
            return nil
        } catch {
            return "\(error)"
        }
    }
    let seed = try #require(refusal(smallConfiguration(seed: 12)))
    #expect(seed.contains("different configuration: seed (run has 11, requested 12)"))
    #expect(seed.contains("--force") && !seed.contains("\n"))
    var candidates = smallConfiguration(); candidates.candidates = 5
    #expect(refusal(candidates)?.contains("candidates (run has 4, requested 5)") == true)
    var weight = smallConfiguration(); weight.score.terms[0].weight = 0.2
    #expect(refusal(weight)?.contains("score.terms[0].weight (run has 0.1, requested 0.2)") == true)
    var limit = smallConfiguration(); limit.score.limits.maxMACs = 1_000_000_000
    #expect(refusal(limit)?.contains("score.limits.maxMACs (run has null, requested 1000000000)") == true)
    // The refused directory is untouched.
    #expect(contents(RunDirectory(path: reference.path).trajectoryPath) == reference.trajectory)
    // Workers do not change results and may differ.
    #expect(refusal(smallConfiguration(workers: 2)) == nil)
    // --force discards the old run and starts over with the new configuration.
    let forced = try SearchRunner(configuration: smallConfiguration(seed: 12), runDirectory: reference.path,
                                  evaluator: PseudoAccuracyEvaluator()).run(resume: true, force: true)
    #expect(forced.candidatesTrainedThisSession == forced.candidatesTrained)
    #expect(try SearchConfiguration.load(path: RunDirectory(path: reference.path).configPath).seed == 12)
}

@Test func aNonEmptyDirectoryNeedsResumeOrForce() throws {
    let reference = try Reference()
    let message: String
    do {
        _ = try SearchRunner(configuration: smallConfiguration(), runDirectory: reference.path, evaluator: PseudoAccuracyEvaluator()).run()
        message = ""
    } catch { message = "\(error)" }
    #expect(message.contains("not empty; use --resume to continue it or --force to start over"))
    // A directory with foreign files only: refused on resume (no config.json), kept with --force.
    let foreign = temporaryRunPath("foreign")
    try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
    try Data("notes".utf8).write(to: URL(fileURLWithPath: foreign + "/notes.txt"))
    #expect(throws: SearchError("\(foreign): not a search run (no config.json); use --force to start over")) {
        _ = try SearchRunner(configuration: smallConfiguration(), runDirectory: foreign, evaluator: PseudoAccuracyEvaluator()).run(resume: true)
    }
    let result = try SearchRunner(configuration: smallConfiguration(), runDirectory: foreign, evaluator: PseudoAccuracyEvaluator())
        .run(force: true)
    #expect(result.candidatesTrained == reference.lines.count)
    #expect(contents(foreign + "/notes.txt") == Data("notes".utf8))
    #expect(contents(RunDirectory(path: foreign).trajectoryPath) == reference.trajectory)
}

@Test func aTrajectoryFromAnotherRunIsRejected() throws {
    let reference = try Reference()
    let other = temporaryRunPath("other-seed")
    _ = try SearchRunner(configuration: smallConfiguration(seed: 99), runDirectory: other, evaluator: PseudoAccuracyEvaluator()).run()
    // Same config, foreign trajectory lines: the recorded cells do not match the planned ones.
    try contents(RunDirectory(path: other).trajectoryPath).write(to: URL(fileURLWithPath: RunDirectory(path: reference.path).trajectoryPath))
    #expect(throws: SearchError.self) {
        _ = try SearchRunner(configuration: smallConfiguration(), runDirectory: reference.path, evaluator: PseudoAccuracyEvaluator())
            .run(resume: true)
    }
}

@Test func tornAndCorruptTrajectoryLines() throws {
    let reference = try Reference()
    let path = temporaryRunPath("torn") + ".jsonl"
    let three = reference.lines.prefix(3).reduce(Data(), +)
    // A torn tail without newline is ignored and, with repair, cut off.
    try (three + Data("{\"step\":1,\"cand".utf8)).write(to: URL(fileURLWithPath: path))
    #expect(try TrajectoryFile.load(path: path, repair: false).count == 3)
    #expect(contents(path).count > three.count)
    #expect(try TrajectoryFile.load(path: path, repair: true).count == 3)
    #expect(contents(path) == three)
    // A complete but undecodable last line counts as torn too.
    try (three + Data("{\"step\":1,\"cand\n".utf8)).write(to: URL(fileURLWithPath: path))
    #expect(try TrajectoryFile.load(path: path, repair: true).count == 3)
    #expect(contents(path) == three)
    // Garbage in the middle is corruption, reported with its line number.
    try (reference.lines[0] + Data("garbage\n".utf8) + reference.lines[1]).write(to: URL(fileURLWithPath: path))
    #expect(throws: SearchError("\(path): line 2 is not a valid trajectory record (not valid JSON); the file is corrupt (fix or remove it, or use --force to start over)")) {
        _ = try TrajectoryFile.load(path: path, repair: true)
    }
    #expect(try TrajectoryFile.load(path: temporaryRunPath("missing"), repair: true).isEmpty)
}

@Test func trajectoryLinesHaveTheDocumentedFields() throws {
    let reference = try Reference()
    let object = try #require(try JSONSerialization.jsonObject(with: reference.lines[0]) as? [String: Any])
    #expect(Set(object.keys) == ["step", "candidate", "id", "removed_edge", "cell_edges", "edges_left", "arch_hash", "accuracy",
                                 "macs", "params", "weight_bytes", "peak_activation_bytes", "latency_ms", "score", "feasible",
                                 "seconds", "epochs"])
    #expect(object["latency_ms"] is NSNull)
    #expect((object["removed_edge"] as? [Int])?.count == 2)
    let record = try JSONDecoder().decode(CandidateRecord.self, from: reference.lines[0])
    #expect(Data((record.jsonLine() + "\n").utf8) == reference.lines[0])
    let config = try SearchConfiguration.load(path: RunDirectory(path: reference.path).configPath)
    #expect(config == smallConfiguration().resolved())
    let state = String(decoding: contents(RunDirectory(path: reference.path).statePath), as: UTF8.self)
    #expect(state.contains("\"finished\" : true"))
}

@Test func anUnreadableStoredConfigIsReportedAndForceStartsOver() throws {
    let reference = try Reference()
    let configPath = RunDirectory(path: reference.path).configPath
    let text = String(decoding: contents(configPath), as: UTF8.self).replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 2")
    try Data(text.utf8).write(to: URL(fileURLWithPath: configPath))
    #expect(throws: SearchError("\(configPath): unsupported search config version 2 (this autoshrink reads version 1)")) {
        _ = try SearchRunner(configuration: smallConfiguration(), runDirectory: reference.path, evaluator: PseudoAccuracyEvaluator())
            .run(resume: true)
    }
    let result = try SearchRunner(configuration: smallConfiguration(), runDirectory: reference.path, evaluator: PseudoAccuracyEvaluator())
        .run(resume: true, force: true)
    #expect(result.candidatesTrainedThisSession == reference.lines.count)
    #expect(contents(RunDirectory(path: reference.path).trajectoryPath) == reference.trajectory)
}

@Test func aConfigWrittenWithTheOldExtraDictionaryLoadsWithTypedValidationPerClass() throws {
    let path = temporaryRunPath("legacy-config") + ".json"
    defer { try? FileManager.default.removeItem(atPath: path) }
    var configuration = smallConfiguration()
    configuration.validationPerClass = 250
    let current = String(decoding: configuration.canonicalJSON(), as: UTF8.self)
    #expect(current.contains("\"validationPerClass\" : 250") && !current.contains("extra"))
    // Before validationPerClass was a field, config.json held it as a string in `extra`.
    let legacy = current.replacingOccurrences(of: "\"validationPerClass\" : 250", with: "\"extra\" : { \"validationPerClass\" : \"250\" }")
    try Data(legacy.utf8).write(to: URL(fileURLWithPath: path))
    #expect(try SearchConfiguration.load(path: path) == configuration)
    let corrupt = current.replacingOccurrences(of: "\"validationPerClass\" : 250", with: "\"validationPerClass\" : \"many\"")
    try Data(corrupt.utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: SearchError("\(path): key 'validationPerClass': expected an integer")) { try SearchConfiguration.load(path: path) }
}
