import Foundation
import AutoShrinkModel
@testable import AutoShrinkSearch

/// A deterministic stand-in for proxy training: accuracy grows with log10(MACs) plus a small
/// offset from the architecture hash, so different cells score differently but reproducibly.
/// `jitter` sleeps a hash-derived few milliseconds so parallel workers finish out of order;
/// `failAfter` throws once that many evaluations have completed (a simulated crash).
struct PseudoAccuracyEvaluator: CandidateEvaluator {
    var jitter = false
    var failAfter: Int? = nil
    let counter = Counter()

    struct Crash: Error {}

    func evaluate(_ request: EvaluationRequest) throws -> EvaluationResult {
        if let failAfter, counter.increment() > failAfter { throw Crash() }
        let cost = CostModel.costs(of: request.architecture)
        let hash = UInt64(fnv1aHex(Data((request.architecture.cell?.edges.description ?? "").utf8)), radix: 16)!
        let offset = Double(hash % 1000) / 1000 * 0.05
        let accuracy = min(0.99, max(0.05, 0.55 + 0.12 * log10(Double(cost.macs) / 1e6) + offset))
        if jitter { usleep(UInt32(hash % 4) * 2000) }
        return EvaluationResult(accuracy: accuracy, epochs: 1 + Int(hash % 20), seconds: Double(hash % 97) / 10)
    }
}

/// Counts calls across threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
    var count: Int { lock.lock(); defer { lock.unlock() }; return value }
}

/// Records every request (thread-safe) and writes a small file at `weightsOutputPath`.
final class RecordingEvaluator: CandidateEvaluator, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var requests: [EvaluationRequest] = []
    let inner = PseudoAccuracyEvaluator()

    func evaluate(_ request: EvaluationRequest) throws -> EvaluationResult {
        lock.lock(); requests.append(request); lock.unlock()
        if let path = request.weightsOutputPath { try Data(request.candidateID.utf8).write(to: URL(fileURLWithPath: path)) }
        return try inner.evaluate(request)
    }
}

/// Collects observer events.
final class EventLog: SearchObserver, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var lines: [String] = []
    private(set) var candidateEvents = 0
    private(set) var stepEvents = 0
    func searchDidReport(_ event: SearchEvent) {
        lock.lock(); defer { lock.unlock() }
        switch event {
        case .candidate(_, _, let line): candidateEvents += 1; lines.append(line)
        case .step(_, _, _, let line): stepEvents += 1; lines.append(line)
        case .started, .finished: break
        }
    }
}

/// This test process's scratch directory; removed when the process exits.
private func testScratchDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("autoshrink-search-tests-\(getpid())").path
}

private let removeScratchAtExit: Void = {
    atexit { try? FileManager.default.removeItem(atPath: testScratchDirectory()) }
}()

/// A fresh empty directory path under the process's scratch directory (not created).
func temporaryRunPath(_ label: String) -> String {
    _ = removeScratchAtExit
    let base = testScratchDirectory()
    try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    return "\(base)/\(label)-\(UUID().uuidString)"
}

/// A small, fast configuration: 5 nodes (10 edges), K = 4.
func smallConfiguration(seed: UInt64 = 11, strategy: SearchStrategyKind = .autoshrink, workers: Int = 1,
                        score: ScoreFunction = .reference) -> SearchConfiguration {
    SearchConfiguration(strategy: strategy, dataset: "test", nodes: 5, candidates: 4, seed: seed, baseWidth: 4,
                        workers: workers, score: score)
}

/// Bytes of a file, empty when missing.
func contents(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

/// Names of the files under `snapshots/`, sorted, with their bytes.
func snapshotFiles(_ run: String) -> [String: Data] {
    let directory = RunDirectory(path: run).snapshotsPath
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return Dictionary(uniqueKeysWithValues: names.map { ($0, contents("\(directory)/\($0)")) })
}

/// A deterministic stand-in for staged training (successive halving): the accuracy after `e`
/// epochs is `PseudoAccuracyEvaluator`'s final accuracy minus a hash-derived lag that shrinks as
/// 1/e, so the ranking after the first rung differs from the final one. Logs every call.
final class PseudoStagedEvaluator: StagedCandidateEvaluator, @unchecked Sendable {
    struct Call: Hashable { var id: String; var untilEpoch: Int; var result: EvaluationResult }
    private let lock = NSLock()
    private(set) var calls: [Call] = []
    private(set) var finished: [String: Bool] = [:]
    private var trained: [String: Int] = [:]
    let inner = PseudoAccuracyEvaluator()
    let failAfter: Int?
    init(failAfter: Int? = nil) { self.failAfter = failAfter }

    /// Accuracy of the candidate after `epochs` epochs.
    func accuracy(_ request: EvaluationRequest, epochs: Int) throws -> Double {
        let final = try inner.evaluate(request).accuracy
        let hash = UInt64(fnv1aHex(Data(("lag" + (request.architecture.cell?.edges.description ?? "")).utf8)), radix: 16)!
        return max(0, final - Double(hash % 1000) / 1000 * 0.3 / Double(epochs))
    }

    func evaluate(_ request: EvaluationRequest) throws -> EvaluationResult {
        throw SearchError("PseudoStagedEvaluator: evaluate called under successive halving")
    }

    func train(_ request: EvaluationRequest, untilEpoch: Int) throws -> EvaluationResult {
        lock.lock(); defer { lock.unlock() }
        if let failAfter, calls.count >= failAfter { throw PseudoAccuracyEvaluator.Crash() }
        guard untilEpoch > trained[request.candidateID, default: 0] else { throw SearchError("\(request.candidateID): not continued forward") }
        trained[request.candidateID] = untilEpoch
        let result = EvaluationResult(accuracy: try accuracy(request, epochs: untilEpoch), epochs: untilEpoch, seconds: Double(untilEpoch))
        calls.append(Call(id: request.candidateID, untilEpoch: untilEpoch, result: result))
        return result
    }

    func finish(_ request: EvaluationRequest, keepWeights: Bool) throws {
        lock.lock(); defer { lock.unlock() }
        trained[request.candidateID] = nil
        finished[request.candidateID] = keepWeights
    }
}
