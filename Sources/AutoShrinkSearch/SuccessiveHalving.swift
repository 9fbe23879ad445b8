import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkModel
import Foundation

/// `search --halving RUNGS` (docs/algorithm.md §1, "Successive halving"): inside every step all K
/// candidates train to the first rung's epochs, only the best ⌈n/η⌉ (the step winner's order:
/// feasible first, then score, then index) continue to the next rung, and only the last rung trains
/// to the full `epochs`. Stored in `config.json` as `halving` (absent when off, so older runs and
/// runs without halving are unchanged).
public struct HalvingSchedule: Codable, Hashable, Sendable, CustomStringConvertible {
    /// Epochs at the end of every rung but the last, strictly increasing and below the search's
    /// `epochs` (the last rung).
    public var rungEpochs: [Int]
    /// Survivors per rung: ⌈n / eta⌉ of n (2 or 3).
    public var eta: Int

    public init(rungEpochs: [Int], eta: Int = 2) {
        self.rungEpochs = rungEpochs; self.eta = eta
    }

    /// `RUNGS` as typed: comma-separated epochs of the rungs before the last, e.g. `3` or `1,3`;
    /// nil for `off`.
    public init?(spec: String, eta: Int) throws {
        if spec == "off" { return nil }
        let parts = spec.split(separator: ",", omittingEmptySubsequences: false)
        let epochs = parts.map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.count <= 8, epochs.allSatisfy({ $0 != nil }) else {
            throw SearchError("--halving '\(spec)': expected off or the epochs of the rungs before the last, comma-separated (e.g. 3 or 1,3)")
        }
        self.init(rungEpochs: epochs.map { $0! }, eta: eta)
    }

    /// Epochs of every rung, the last being `epochs`.
    public func rungs(epochs: Int) -> [Int] { rungEpochs + [epochs] }

    /// How many of `count` candidates continue past a rung.
    public func survivors(of count: Int) -> Int { (count + eta - 1) / eta }

    public func validate(epochs: Int) throws {
        guard (2...3).contains(eta) else { throw SearchError("--halving-eta must be 2 or 3, got \(eta)") }
        guard !rungEpochs.isEmpty, rungEpochs.count <= 8 else { throw SearchError("--halving: 1 to 8 rungs before the last") }
        guard rungEpochs.first! >= 1, zip(rungEpochs, rungEpochs.dropFirst()).allSatisfy({ $0 < $1 }), rungEpochs.last! < epochs else {
            throw SearchError("--halving \(rungEpochs.map(String.init).joined(separator: ",")): rung epochs must be increasing, at least 1 and below --epochs \(epochs)")
        }
    }

    /// `3,10 epochs, eta 2`.
    public var description: String {
        "rungs at \(rungEpochs.map(String.init).joined(separator: ",")) epochs then the full budget, eta \(eta)"
    }
}

/// How far a candidate got under successive halving: it trained through rung `reached` of `rungs`
/// (1-based). Recorded in the trajectory as `rung` and `rungs`; absent without halving.
public struct HalvingRung: Codable, Hashable, Sendable {
    public var reached: Int
    public var rungs: Int
    public init(reached: Int, rungs: Int) { self.reached = reached; self.rungs = rungs }
    /// Dropped before the last rung: its accuracy and score are after fewer epochs than the budget.
    public var isPartial: Bool { reached < rungs }
}

/// An evaluator that can train a candidate in stages (successive halving). `train` continues the
/// candidate with `request.candidateID` exactly where its previous call stopped (weights, optimizer
/// state, data order: training 3 then 7 epochs equals training 10), and `finish` ends it. Calls for
/// one candidate come from one thread at a time; different candidates may interleave.
public protocol StagedCandidateEvaluator: CandidateEvaluator {
    /// Trains the candidate up to epoch `untilEpoch` in total (fewer after an early exit) and returns
    /// its result over everything trained so far (seconds summed over the calls).
    func train(_ request: EvaluationRequest, untilEpoch: Int) throws -> EvaluationResult
    /// Forgets the candidate's state; with `keepWeights`, first writes its weights to
    /// `request.weightsOutputPath` (when set).
    func finish(_ request: EvaluationRequest, keepWeights: Bool) throws
}

/// One step under successive halving (called by `SearchRunner` for `configuration.halving`, and by
/// `bench rank --halving`).
public enum SuccessiveHalving {
    /// The procedure over `count` candidates 0..<count: `train(i, untilEpoch)` trains candidate i
    /// (continuing) and returns its value; after every rung but the last the candidates are ordered
    /// with `ranksBefore` and the first ⌈n/η⌉ continue; `finish(i, survived)` ends each candidate
    /// once (`survived`: it trained through the last rung). Returns every candidate's last value and
    /// rung, in candidate order. Runs on the calling thread, one candidate at a time (deterministic).
    public static func run<Value>(count: Int, schedule: HalvingSchedule, epochs: Int,
                                  train: (Int, Int) throws -> Value, ranksBefore: (Value, Value) -> Bool,
                                  finish: (Int, Bool) throws -> Void) throws -> [(value: Value, rung: HalvingRung)] {
        let rungs = schedule.rungs(epochs: epochs)
        var values = [(value: Value, rung: HalvingRung)?](repeating: nil, count: count)
        var alive = Array(0..<count)
        var open = Set(alive)
        do {
            for (rung, untilEpoch) in rungs.enumerated() {
                for position in alive {
                    values[position] = (try train(position, untilEpoch), HalvingRung(reached: rung + 1, rungs: rungs.count))
                }
                guard rung < rungs.count - 1 else { break }
                // Stable order: equal values keep candidate order.
                let ranked = alive.sorted { a, b in
                    ranksBefore(values[a]!.value, values[b]!.value) || (!ranksBefore(values[b]!.value, values[a]!.value) && a < b)
                }
                let keep = schedule.survivors(of: alive.count)
                for position in ranked[keep...] { open.remove(position); try finish(position, false) }
                alive = ranked[..<keep].sorted()
            }
            for position in alive { open.remove(position); try finish(position, true) }
        } catch {
            for position in open.sorted() { try? finish(position, false) }
            throw error
        }
        return values.map { $0! }
    }

    /// A search step: trains `jobs` (the step's candidates, in index order) and returns every job's
    /// record in job order, ranked like the step winner (`SearchRunner.ranksBefore`): survivors of the
    /// last rung are complete, the rest partial. Records are built with `makeRecord`, so rankings use
    /// the numbers a resumed run reads back.
    static func run(jobs: [EvaluationJob], schedule: HalvingSchedule, epochs: Int, evaluator: any StagedCandidateEvaluator,
                    makeRecord: (EvaluationJob, EvaluationResult, HalvingRung) throws -> CandidateRecord) throws -> [CandidateRecord] {
        let rungCount = schedule.rungEpochs.count + 1
        var rungReached = [Int](repeating: 0, count: jobs.count)
        return try run(count: jobs.count, schedule: schedule, epochs: epochs, train: { position, untilEpoch in
            let result = try evaluator.train(jobs[position].request, untilEpoch: untilEpoch)
            rungReached[position] += 1
            return try makeRecord(jobs[position], result, HalvingRung(reached: rungReached[position], rungs: rungCount))
        }, ranksBefore: SearchRunner.ranksBefore, finish: { position, survived in
            try evaluator.finish(jobs[position].request, keepWeights: survived)
        }).map(\.value)
    }
}

/// Candidates trained in stages by a `TrainingEvaluator`: each keeps its network and trainer in
/// memory between rungs (K small proxy networks).
final class TrainingSessions: @unchecked Sendable {
    final class Session {
        let network: Network
        let trainer: Trainer
        var seconds = 0.0
        var bestAccuracy: Double?
        init(network: Network, trainer: Trainer) { self.network = network; self.trainer = trainer }
    }
    private let lock = NSLock()
    private var sessions: [String: Session] = [:]

    func session(_ id: String, make: () throws -> Session) rethrows -> Session {
        lock.lock(); defer { lock.unlock() }
        if let session = sessions[id] { return session }
        let session = try make()
        sessions[id] = session
        return session
    }

    func remove(_ id: String) -> Session? {
        lock.lock(); defer { lock.unlock() }
        return sessions.removeValue(forKey: id)
    }
}

extension TrainingEvaluator: StagedCandidateEvaluator {
    public func train(_ request: EvaluationRequest, untilEpoch: Int) throws -> EvaluationResult {
        let start = DispatchTime.now()
        let session = try sessions.session(request.candidateID) {
            let (network, trainer) = try makeTrainer(request)
            return TrainingSessions.Session(network: network, trainer: trainer)
        }
        let result = session.trainer.fit(train: task.train, validation: task.validation, untilEpoch: untilEpoch)
        session.seconds += Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        session.bestAccuracy = result.bestValidationAccuracy
        return EvaluationResult(accuracy: result.bestValidationAccuracy ?? 0, epochs: result.epochs.count, seconds: session.seconds)
    }

    public func finish(_ request: EvaluationRequest, keepWeights: Bool) throws {
        guard let session = sessions.remove(request.candidateID) else { return }
        if keepWeights, let output = request.weightsOutputPath {
            try writeWeights(session.network, epochs: session.trainer.epochsTrained, validationAccuracy: session.bestAccuracy, seed: request.seed, to: output)
        }
    }
}
