import Foundation
import AutoShrinkModel

/// The outcome of one step: all its candidates and the winner (whose cell is the step's snapshot).
public struct StepSummary: Hashable, Sendable {
    public var step: Int
    /// The step's candidates in index order.
    public var candidates: [CandidateRecord]
    /// Feasible first, then the highest score, then the lowest index (= lowest removed edge).
    public var winner: CandidateRecord
    public var snapshotPath: String
    public var edgesLeft: Int { winner.edgesLeft }
}

/// What a search produced.
public struct SearchResult: Sendable {
    public var runDirectory: String
    public var strategy: SearchStrategyKind
    /// `best.arch.json`, nil when no snapshot was feasible.
    public var bestArchitecturePath: String?
    /// The best-scoring feasible snapshot's step (its winner carries accuracy, score, resources).
    public var best: StepSummary?
    public var steps: [StepSummary]
    /// Every evaluated candidate in trajectory order.
    public var records: [CandidateRecord]
    /// Candidates trained in this invocation (the rest came from the trajectory on `--resume`).
    public var candidatesTrainedThisSession: Int
    /// Wall-clock seconds of this invocation.
    public var wallSeconds: Double
    /// Non-dominated candidates (higher accuracy, lower `paretoResource`), by ascending resource.
    public var paretoFront: [CandidateRecord]
    /// Latency when every candidate has a prediction, MACs otherwise.
    public var paretoResource: ResourceKind

    public var candidatesTrained: Int { records.count }
    /// Sum of the candidates' evaluation seconds (over all sessions).
    public var candidateSeconds: Double { records.reduce(0) { $0 + $1.seconds } }
    public var bestAccuracy: Double? { best?.winner.accuracy }
    public var bestScore: Double? { best?.winner.score }
    public var bestResources: CandidateResources? { best?.winner.resources }
}

/// A configuration `SearchRunner.precheck` accepted (resolved, valid, every hard limit reachable)
/// and the resources of the space's smallest network: hand it to `SearchRunner.run(_:resume:force:)`
/// so the check runs once.
public struct PrecheckedConfiguration: Sendable {
    public let configuration: SearchConfiguration
    public let smallest: CandidateResources
    fileprivate init(configuration: SearchConfiguration, smallest: CandidateResources) {
        self.configuration = configuration; self.smallest = smallest
    }
}

/// Runs a search in a run directory: plans candidates with the strategy, trains them with the
/// evaluator (up to `workers` at a time), records every result, snapshots every step and keeps
/// `best.arch.json` up to date. See `run(resume:force:)`.
///
/// CLI use:
/// ```
/// let configuration = SearchConfiguration(strategy: .autoshrink, dataset: "mnist", ..., workers: 4)
/// let runner = SearchRunner(configuration: configuration, runDirectory: "runs/NAME",
///                           evaluator: evaluator, latencyPredictor: predictor, observer: printer)
/// let result = try runner.run(resume: options.resume, force: options.force)
/// print(SearchReport.trajectoryTable(result)); print(SearchReport.summary(result))
/// ```
public struct SearchRunner: Sendable {
    public var configuration: SearchConfiguration
    public var runDirectory: RunDirectory
    public var evaluator: any CandidateEvaluator
    public var meter: ResourceMeter
    public var observer: (any SearchObserver)?
    /// Overrides the configuration's strategy (tests); nil uses `configuration.makeStrategy()`.
    public var strategyOverride: (any SearchStrategy)?

    public init(configuration: SearchConfiguration, runDirectory: String, evaluator: any CandidateEvaluator,
                latencyPredictor: (any LatencyPredictor)? = nil, observer: (any SearchObserver)? = nil,
                strategy: (any SearchStrategy)? = nil) {
        self.configuration = configuration
        self.runDirectory = RunDirectory(path: runDirectory)
        self.evaluator = evaluator
        self.meter = ResourceMeter(latencyPredictor: latencyPredictor)
        self.observer = observer
        self.strategyOverride = strategy
    }

    /// Checks the configuration and that the smallest network of the space (the cell without
    /// edges) meets every hard limit; returns the resolved configuration with those resources.
    /// Throws a `SearchError` (with its `limit`) naming the first unreachable limit and the smallest
    /// achievable value (the CLI words it with its option names).
    public static func precheck(_ configuration: SearchConfiguration, meter: ResourceMeter) throws -> PrecheckedConfiguration {
        let configuration = configuration.resolved()
        try configuration.validate()
        if configuration.score.needsLatency && meter.latencyPredictor == nil {
            throw SearchError(.latencyNeedsPredictor)
        }
        let smallest = configuration.architecture(cell: configuration.emptiestCell, name: "\(configuration.architectureName)-smallest")
        let resources = try meter.measure(smallest)
        if let violation = configuration.score.violations(resources).first {
            throw SearchError(.cannotBeMet(violation))
        }
        return PrecheckedConfiguration(configuration: configuration, smallest: resources)
    }

    /// Runs (or, with `resume`, continues) the search and returns its result.
    /// - Before anything is written: `precheck` (validation, unreachable limits).
    /// - `resume`: candidates already in `trajectory.jsonl` are not evaluated again; the run ends
    ///   with the same files (trajectory, snapshots, `best.arch.json`) as an uninterrupted run,
    ///   given a deterministic evaluator.
    /// - `force`: discards an existing run whose config differs (or any run when not resuming).
    public func run(resume: Bool = false, force: Bool = false) throws -> SearchResult {
        try run(SearchRunner.precheck(configuration, meter: meter), resume: resume, force: force)
    }

    /// `run(resume:force:)` for a caller that ran `precheck` itself, earlier (the CLI refuses
    /// impossible limits before it takes the run's lock and loads the dataset): not checked again.
    /// `checked` must come from this runner's configuration.
    public func run(_ checked: PrecheckedConfiguration, resume: Bool = false, force: Bool = false) throws -> SearchResult {
        precondition(checked.configuration == self.configuration.resolved(), "prechecked configuration differs from the runner's")
        let started = Date()
        let configuration = checked.configuration
        let smallest = checked.smallest
        let strategy = strategyOverride ?? configuration.makeStrategy()
        let directory = runDirectory
        let recorded = try directory.prepare(configuration: configuration, resume: resume, force: force)

        var byPosition: [Int: [Int: CandidateRecord]] = [:]
        for record in recorded {
            guard byPosition[record.step]?[record.candidate] == nil else {
                throw SearchError("\(directory.trajectoryPath): candidate \(record.id) appears twice; the file is corrupt (use --force to start over)")
            }
            byPosition[record.step, default: [:]][record.candidate] = record
        }
        let initialPlan = strategy.remainingCandidates(step: 1, current: configuration.startCell)
        let header = "search \(configuration.strategy.rawValue): \(configuration.nodes) nodes, K=\(configuration.candidates), seed \(configuration.seed), workers \(configuration.workers), score \(configuration.score.summary); smallest network \(ArchitectureSummary.scaled(Double(smallest.macs))) MACs"
        directory.log(recorded.isEmpty ? "start \(header)" : "resume \(header): \(recorded.count) candidates already evaluated")
        observer?.searchDidReport(.started(configuration: configuration, plannedCandidates: initialPlan, resumedCandidates: recorded.count))

        let progress = ProgressTracker(done: recorded.count, seconds: recorded.reduce(0) { $0 + $1.seconds })
        var current = configuration.startCell
        var steps: [StepSummary] = []
        var records: [CandidateRecord] = []
        var best: StepSummary?
        var trainedThisSession = 0
        var parentWeights: String?
        var fitted = CandidateSkeletons(configuration: configuration, meter: meter)
        var step = 1
        while true {
            let planned = strategy.candidates(step: step, current: current)
            if planned.isEmpty { break }
            let name = "\(configuration.architectureName)-step-\(threeDigits(step))"
            let skeletons = try planned.map { try fitted.skeleton(cell: $0.cell) }
            let architectures = planned.indices.map { configuration.architecture(cell: planned[$0].cell, name: name, skeleton: skeletons[$0]) }
            let resources = try architectures.map { try meter.measure($0) }
            var results = [CandidateRecord?](repeating: nil, count: planned.count)
            for (index, candidate) in planned.enumerated() {
                guard let record = byPosition[step]?.removeValue(forKey: index) else { continue }
                guard record.removedEdge == candidate.removedEdge, record.cellEdges == candidate.cell.edges,
                      record.architectureHash == architectures[index].stableHash else {
                    throw SearchError("\(directory.trajectoryPath): candidate \(record.id) does not match this configuration (different cell); use --force to start over")
                }
                results[index] = record
            }
            if let stray = byPosition[step], let index = stray.keys.min() {
                throw SearchError("\(directory.trajectoryPath): step \(step) has a candidate \(index) this configuration does not plan; use --force to start over")
            }

            // Successive halving ranks the whole step, so a step cut short retrains all its candidates
            // (records already written are kept; a deterministic evaluator gives the same numbers).
            let halvingStep = configuration.halving != nil && results.contains { $0 == nil }
            let jobs: [EvaluationJob] = planned.indices.filter { halvingStep || results[$0] == nil }.map { index in
                let candidate = planned[index]
                let request = EvaluationRequest(
                    architecture: architectures[index], candidateID: candidate.id, step: step, index: index, seed: candidate.seed,
                    parentWeightsPath: configuration.inherit ? parentWeights : nil,
                    weightsOutputPath: configuration.inherit ? directory.weightsPath(candidateID: candidate.id) : nil)
                return EvaluationJob(candidate: candidate, request: request, resources: resources[index], skeleton: skeletons[index])
            }
            if !jobs.isEmpty {
                if configuration.inherit {
                    try? FileManager.default.createDirectory(atPath: directory.weightsPath, withIntermediateDirectories: true)
                }
                // Later steps as planned from this step's cell (an upper bound, like the initial plan);
                // not from one candidate's cell, whose removed edge may cut off nodes and make the
                // estimate collapse mid-step and jump back at the step's end.
                let future = max(0, strategy.remainingCandidates(step: step, current: current) - planned.count)
                let parallelism = min(configuration.workers, jobs.count)
                let observer = self.observer
                let score = configuration.score
                let trajectoryPath = directory.trajectoryPath
                try evaluator.prepareStep(jobs.map(\.request))
                let committed: [CandidateRecord]
                if let halving = configuration.halving {
                    guard let staged = evaluator as? any StagedCandidateEvaluator else {
                        throw SearchError("successive halving needs in-process training (--workers 1, no --executor slurm)")
                    }
                    let trained = try SuccessiveHalving.run(jobs: jobs, schedule: halving, epochs: configuration.epochs,
                                                            evaluator: staged) { job, result, rung in
                        try makeRecord(job: job, result: result, score: score, halving: rung)
                    }
                    let missing = trained.filter { results[$0.candidate] == nil }
                    for (offset, record) in missing.enumerated() {
                        try TrajectoryFile.append(record, path: trajectoryPath)
                        let snapshot = progress.add(seconds: record.seconds, remaining: missing.count - offset - 1 + future, parallelism: 1)
                        let line = SearchReport.candidateLine(record, progress: snapshot)
                        directory.log(line)
                        observer?.searchDidReport(.candidate(record, progress: snapshot, line: line))
                    }
                    committed = missing
                } else {
                committed = try ParallelEvaluation.run(jobs: jobs, workers: configuration.workers, evaluator: evaluator,
                                                           makeRecord: { job, result in
                    try makeRecord(job: job, result: result, score: score)
                }, commit: { record, pendingInStep in
                    try TrajectoryFile.append(record, path: trajectoryPath)
                    let snapshot = progress.add(seconds: record.seconds, remaining: pendingInStep + future, parallelism: parallelism)
                    let line = SearchReport.candidateLine(record, progress: snapshot)
                    directory.log(line)
                    observer?.searchDidReport(.candidate(record, progress: snapshot, line: line))
                })
                }
                for record in committed { results[record.candidate] = record }
                trainedThisSession += committed.count
            }

            let stepRecords = results.map { $0! }
            let winner = SearchRunner.winner(of: stepRecords)
            let snapshotPath = directory.snapshotPath(step: step)
            try directory.write(architectures[winner.candidate].canonicalJSON(), to: snapshotPath)
            if configuration.inherit {
                for record in stepRecords where record.candidate != winner.candidate {
                    try? FileManager.default.removeItem(atPath: directory.weightsPath(candidateID: record.id))
                }
                parentWeights = directory.weightsPath(candidateID: winner.id)
            }
            let summary = StepSummary(step: step, candidates: stepRecords, winner: winner, snapshotPath: snapshotPath)
            if winner.feasible && (best == nil || winner.score > best!.winner.score) {
                best = summary
                try directory.write(architectures[winner.candidate].canonicalJSON(), to: directory.bestArchitecturePath)
            }
            steps.append(summary)
            records += stepRecords
            try directory.write(SearchState(strategy: configuration.strategy, completedSteps: step, candidatesEvaluated: records.count,
                                            finished: false, bestStep: best?.step, bestScore: best?.winner.score).json(),
                                to: directory.statePath)
            if !jobs.isEmpty {
                let snapshot = progress.snapshot(remaining: strategy.remainingCandidates(step: step + 1, current: planned[winner.candidate].cell),
                                                 parallelism: min(configuration.workers, configuration.candidates))
                let line = SearchReport.stepLine(summary, best: best, progress: snapshot)
                directory.log(line)
                observer?.searchDidReport(.step(summary, best: best, progress: snapshot, line: line))
            }
            current = planned[winner.candidate].cell
            step += 1
        }
        if let stray = byPosition.filter({ !$0.value.isEmpty }).keys.min() {
            throw SearchError("\(directory.trajectoryPath): has records for step \(stray), beyond the end of this search; use --force to start over")
        }
        try directory.write(SearchState(strategy: configuration.strategy, completedSteps: steps.count, candidatesEvaluated: records.count,
                                        finished: true, bestStep: best?.step, bestScore: best?.winner.score).json(),
                            to: directory.statePath)
        let paretoResource: ResourceKind = !records.isEmpty && records.allSatisfy { $0.resources.latencyMilliseconds != nil }
            ? .latencyMilliseconds : .macs
        let result = SearchResult(
            runDirectory: directory.path, strategy: configuration.strategy,
            bestArchitecturePath: best == nil ? nil : directory.bestArchitecturePath, best: best, steps: steps,
            records: records, candidatesTrainedThisSession: trainedThisSession,
            wallSeconds: Date().timeIntervalSince(started),
            paretoFront: ParetoFront.compute(records, resource: paretoResource), paretoResource: paretoResource)
        directory.log("finished\n" + SearchReport.trajectoryTable(result) + SearchReport.summary(result))
        observer?.searchDidReport(.finished(result))
        return result
    }

    /// The step's winner: candidates successive halving dropped (partial scores) last, then
    /// feasible candidates first, the highest score, the lowest index.
    public static func winner(of candidates: [CandidateRecord]) -> CandidateRecord {
        candidates.min { a, b in
            if a.isPartial != b.isPartial { return !a.isPartial }
            return ranksBefore(a, b)
        }!
    }

    /// The order of a step's candidates (also successive halving's order within a rung): feasible
    /// first, then the highest score, then the lowest index.
    static func ranksBefore(_ a: CandidateRecord, _ b: CandidateRecord) -> Bool {
        if a.feasible != b.feasible { return a.feasible }
        if a.score != b.score { return a.score > b.score }
        return a.candidate < b.candidate
    }
}

/// The candidates' proxy networks: the run's skeleton, or with `fitCandidates` the skeleton `MacroFit.refit`
/// chooses for each candidate's cell (docs/algorithm.md §1, "Macro fit per candidate"), remembered per cell
/// (a fit judges every setting of the edge space) and the run's skeleton when none fits.
struct CandidateSkeletons {
    let configuration: SearchConfiguration
    let meter: ResourceMeter
    private var chosen: [CellDAG: MacroSkeleton] = [:]

    init(configuration: SearchConfiguration, meter: ResourceMeter) {
        self.configuration = configuration; self.meter = meter
    }

    /// The skeleton fitted to `cell`; nil without `fitCandidates` (the run's skeleton).
    mutating func skeleton(cell: CellDAG) throws -> MacroSkeleton? {
        guard configuration.fitCandidates else { return nil }
        if let known = chosen[cell] { return known }
        let choice = try MacroFit.refit(cell: cell, space: .edge, configuration: configuration, measure: meter.measure)
        let skeleton = choice.chosen?.skeleton ?? configuration.skeleton
        chosen[cell] = skeleton
        return skeleton
    }
}

/// Builds the trajectory record of an evaluated candidate; checks the evaluator's answer.
private func makeRecord(job: EvaluationJob, result: EvaluationResult, score: ScoreFunction,
                        halving: HalvingRung? = nil) throws -> CandidateRecord {
    guard result.accuracy.isFinite, (0...1).contains(result.accuracy) else {
        throw SearchError("evaluator returned accuracy \(result.accuracy) for \(job.candidate.id); expected a value in 0...1")
    }
    guard result.epochs >= 0, result.seconds.isFinite, result.seconds >= 0 else {
        throw SearchError("evaluator returned \(result.epochs) epochs / \(result.seconds) s for \(job.candidate.id)")
    }
    let record = CandidateRecord(
        step: job.candidate.step, candidate: job.candidate.index, id: job.candidate.id, removedEdge: job.candidate.removedEdge,
        cellEdges: job.candidate.cell.edges, edgesLeft: job.candidate.cell.edges.count,
        architectureHash: job.request.architecture.stableHash, accuracy: result.accuracy, resources: job.resources,
        score: score.score(accuracy: result.accuracy, resources: job.resources), feasible: score.isFeasible(job.resources),
        seconds: result.seconds, epochs: result.epochs, queueSeconds: result.queueSeconds, runSeconds: result.runSeconds,
        halving: halving, skeleton: job.skeleton)
    // Continue with the values a resumed run reads back from the trajectory line, so winners and
    // the best snapshot are chosen from identical numbers in both cases.
    return try JSONDecoder().decode(CandidateRecord.self, from: Data(record.jsonLine().utf8))
}

/// A candidate waiting for evaluation.
struct EvaluationJob: Sendable {
    var candidate: PlannedCandidate
    var request: EvaluationRequest
    var resources: CandidateResources
    /// `--fit-candidates`: the skeleton fitted to the candidate's cell (recorded in the trajectory).
    var skeleton: MacroSkeleton?
}

/// Running totals for progress lines and the ETA (shared by the worker threads).
final class ProgressTracker: @unchecked Sendable {
    private let lock = NSLock()
    private var done: Int
    private var seconds: Double

    init(done: Int, seconds: Double) { self.done = done; self.seconds = seconds }

    func add(seconds candidateSeconds: Double, remaining: Int, parallelism: Int) -> SearchProgress {
        lock.lock(); defer { lock.unlock() }
        done += 1
        seconds += candidateSeconds
        return makeSnapshot(remaining: remaining, parallelism: parallelism)
    }

    func snapshot(remaining: Int, parallelism: Int) -> SearchProgress {
        lock.lock(); defer { lock.unlock() }
        return makeSnapshot(remaining: remaining, parallelism: parallelism)
    }

    private func makeSnapshot(remaining: Int, parallelism: Int) -> SearchProgress {
        let mean = done > 0 ? seconds / Double(done) : 0
        return SearchProgress(candidatesDone: done, candidatesRemaining: remaining, meanSecondsPerCandidate: mean,
                              etaSeconds: mean * Double(remaining) / Double(max(1, parallelism)))
    }
}

/// Evaluates jobs on up to `workers` threads (the calling thread is one of them) and commits
/// their records strictly in job order, whatever order they finish in: a finished job waits until
/// every earlier job is committed. On the first error no new job starts; running jobs finish and
/// are committed if everything before them was; then the error is thrown.
enum ParallelEvaluation {
    static func run(jobs: [EvaluationJob], workers: Int, evaluator: any CandidateEvaluator,
                    makeRecord: @escaping @Sendable (EvaluationJob, EvaluationResult) throws -> CandidateRecord,
                    commit: @escaping @Sendable (CandidateRecord, Int) throws -> Void) throws -> [CandidateRecord] {
        let state = State(jobs: jobs, evaluator: evaluator, makeRecord: makeRecord, commit: commit)
        let threads = min(workers, jobs.count)
        let group = DispatchGroup()
        for _ in 1..<max(threads, 1) {
            group.enter()
            let thread = Thread { state.work(); group.leave() }
            thread.stackSize = 16 << 20  // in-process training may recurse deeply
            thread.start()
        }
        state.work()
        group.wait()
        return try state.finish()
    }

    private final class State: @unchecked Sendable {
        let jobs: [EvaluationJob]
        let evaluator: any CandidateEvaluator
        let makeRecord: @Sendable (EvaluationJob, EvaluationResult) throws -> CandidateRecord
        let commit: @Sendable (CandidateRecord, Int) throws -> Void
        private let lock = NSLock()
        private var nextJob = 0
        private var nextCommit = 0
        private var finished: [Int: CandidateRecord] = [:]
        private var committed: [CandidateRecord] = []
        private var failure: Error?
        private var commitFailed = false

        init(jobs: [EvaluationJob], evaluator: any CandidateEvaluator,
             makeRecord: @escaping @Sendable (EvaluationJob, EvaluationResult) throws -> CandidateRecord,
             commit: @escaping @Sendable (CandidateRecord, Int) throws -> Void) {
            self.jobs = jobs; self.evaluator = evaluator; self.makeRecord = makeRecord; self.commit = commit
        }

        func work() {
            while let position = take() {
                do {
                    let result = try evaluator.evaluate(jobs[position].request)
                    complete(position, try makeRecord(jobs[position], result))
                } catch {
                    fail(error)
                }
            }
        }

        private func take() -> Int? {
            lock.lock(); defer { lock.unlock() }
            guard failure == nil, nextJob < jobs.count else { return nil }
            nextJob += 1
            return nextJob - 1
        }

        private func fail(_ error: Error) {
            lock.lock(); defer { lock.unlock() }
            if failure == nil { failure = error }
        }

        private func complete(_ position: Int, _ record: CandidateRecord) {
            lock.lock(); defer { lock.unlock() }
            finished[position] = record
            while !commitFailed, let next = finished[nextCommit] {
                do { try commit(next, jobs.count - nextCommit - 1) } catch {
                    if failure == nil { failure = error }
                    commitFailed = true
                    return
                }
                finished[nextCommit] = nil
                committed.append(next)
                nextCommit += 1
            }
        }

        func finish() throws -> [CandidateRecord] {
            lock.lock(); defer { lock.unlock() }
            if let failure { throw failure }
            return committed
        }
    }
}
