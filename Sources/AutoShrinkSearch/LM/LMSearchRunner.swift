import AutoShrinkLM
import AutoShrinkModel
import Foundation

/// One finished step of an LM search: its candidates and the winner (whose cell is the snapshot).
public struct LMStepSummary: Hashable, Sendable {
    public var step: Int
    public var candidates: [LMCandidateRecord]
    public var winner: LMCandidateRecord
    public var cell: RNNCell
    public var snapshotPath: String
}

/// What an LM search produced.
public struct LMSearchResult: Sendable {
    public var runDirectory: String
    /// `best.rnncell.json`, nil when no snapshot was feasible.
    public var bestCellPath: String?
    public var best: LMStepSummary?
    public var steps: [LMStepSummary]
    public var records: [LMCandidateRecord]
    public var candidatesTrainedThisSession: Int
    public var wallSeconds: Double
    public var candidateSeconds: Double { records.reduce(0) { $0 + $1.seconds } }
}

/// What an LM search reports while it runs; every event carries the line also written to `search.log`.
public enum LMSearchEvent: Sendable {
    case started(plannedCandidates: Int, resumedCandidates: Int)
    case candidate(LMCandidateRecord, progress: SearchProgress, line: String)
    case step(LMStepSummary, progress: SearchProgress, line: String)
    case finished(LMSearchResult)
}

/// AutoShrink on an RNN cell (docs/shrinkrnn.md, "Search"): the CNN search's algorithm and files on
/// the cell's topology. Each step `AutoShrinkStrategy` samples K edges of the shrink space of the
/// current cell (`RNNCell.topology`); each candidate is the cell minus one edge (then pruned); every
/// candidate gets a proxy training (`LMCandidateEvaluator`) and a score (`LMSearchConfiguration.score`);
/// the winner (feasible first, highest score, lowest index) is the step's snapshot and the next
/// cell; `best.rnncell.json` is the best-scoring feasible snapshot. The run directory is the CNN
/// search's `RunDirectory` (config.json, trajectory.jsonl, snapshots/, search.log, state.json, and
/// `--resume`/`--force` with the same rules); candidates train one at a time (the engine's GEMMs use
/// the threads).
public struct LMSearchRunner: Sendable {
    public var configuration: LMSearchConfiguration
    public var runDirectory: RunDirectory
    public var evaluator: any LMCandidateEvaluator
    /// Predicts latency per token (recorded per candidate; the score's latency term and the latency limit
    /// use it); must be given when the configuration names a `latencyProfile`, and match it.
    public var latencyPredictor: (any LMLatencyPredictor)?
    public var observer: (@Sendable (LMSearchEvent) -> Void)?

    public init(configuration: LMSearchConfiguration, runDirectory: String, evaluator: any LMCandidateEvaluator,
                latencyPredictor: (any LMLatencyPredictor)? = nil, observer: (@Sendable (LMSearchEvent) -> Void)? = nil) {
        self.configuration = configuration; self.runDirectory = RunDirectory(path: runDirectory)
        self.evaluator = evaluator; self.latencyPredictor = latencyPredictor; self.observer = observer
    }

    /// Checks the configuration, that the predictor is the one it names, and that the cell without
    /// edges meets the MACs and latency limits (a `SearchError` with its `limit` otherwise), before
    /// anything is written.
    public static func precheck(_ configuration: LMSearchConfiguration, latencyPredictor: (any LMLatencyPredictor)? = nil) throws {
        try configuration.validate(source: "search --task lm")
        guard configuration.latencyProfile == latencyPredictor?.identity else {
            throw SearchError("search --task lm: the configuration predicts latency with \(configuration.latencyProfile ?? "no profile"), the search was given \(latencyPredictor?.identity ?? "none")")
        }
        let smallest = try configuration.resources(of: configuration.emptiestCell, predictor: latencyPredictor).resources
        if let violation = configuration.score.violations(smallest).first { throw SearchError(.cannotBeMet(violation)) }
    }

    /// `snapshots/step-NNN.rnncell.json`.
    public func snapshotPath(step: Int) -> String { "\(runDirectory.snapshotsPath)/step-\(threeDigits(step)).rnncell.json" }
    /// `best.rnncell.json`.
    public var bestCellPath: String { (runDirectory.path as NSString).appendingPathComponent("best.rnncell.json") }

    /// Runs (or with `resume` continues) the search. As for CNNs: records already in the trajectory are
    /// not trained again and must match the planned candidates; a resumed run ends with the same files.
    public func run(resume: Bool = false, force: Bool = false) throws -> LMSearchResult {
        let started = Date()
        let configuration = self.configuration
        try LMSearchRunner.precheck(configuration, latencyPredictor: latencyPredictor)
        let directory = runDirectory
        let recorded = try directory.prepare(configuration: configuration, resume: resume, force: force)
        var byPosition: [Int: [Int: LMCandidateRecord]] = [:]
        for record in recorded {
            guard byPosition[record.step]?[record.candidate] == nil else {
                throw SearchError("\(directory.trajectoryPath): candidate \(record.id) appears twice; the file is corrupt (use --force to start over)")
            }
            byPosition[record.step, default: [:]][record.candidate] = record
        }
        let strategy = AutoShrinkStrategy(candidates: configuration.candidates, minEdges: configuration.minEdges, seed: configuration.seed)
        var current = configuration.startCell
        let planned = strategy.remainingCandidates(step: 1, current: current.topology)
        let header = "search --task lm: \(current.summary), K=\(configuration.candidates), seed \(configuration.seed), score \(configuration.scoreSummary)"
        directory.log(recorded.isEmpty ? "start \(header)" : "resume \(header): \(recorded.count) candidates already evaluated")
        observer?(.started(plannedCandidates: planned, resumedCandidates: recorded.count))

        let progress = ProgressTracker(done: recorded.count, seconds: recorded.reduce(0) { $0 + $1.seconds })
        var steps: [LMStepSummary] = []
        var records: [LMCandidateRecord] = []
        var best: LMStepSummary?
        var trainedThisSession = 0
        var step = 1
        while true {
            let candidates = strategy.candidates(step: step, current: current.topology)
            if candidates.isEmpty { break }
            let cells = candidates.map { RNNCell(activations: current.activations, edges: $0.cell.edges) }
            var stepRecords: [LMCandidateRecord] = []
            for (index, candidate) in candidates.enumerated() {
                let cell = cells[index]
                if let record = byPosition[step]?.removeValue(forKey: index) {
                    guard record.removedEdge == candidate.removedEdge, record.cellEdges == cell.edges,
                          record.architectureHash == cell.stableHash else {
                        throw SearchError("\(directory.trajectoryPath): candidate \(record.id) does not match this configuration (different cell); use --force to start over")
                    }
                    stepRecords.append(record)
                    continue
                }
                let evaluation = try evaluator.evaluate(cell: cell, seed: candidate.seed)
                guard evaluation.validPerplexity.isFinite, evaluation.validPerplexity >= 1 else {
                    throw SearchError("evaluator returned perplexity \(evaluation.validPerplexity) for \(candidate.id); expected a number >= 1")
                }
                let (resources, cellMACs) = try configuration.resources(of: cell, predictor: latencyPredictor)
                let made = LMCandidateRecord(
                    step: step, candidate: index, id: candidate.id, removedEdge: candidate.removedEdge, cellEdges: cell.edges,
                    architectureHash: cell.stableHash, validPerplexity: evaluation.validPerplexity, macs: resources.macs,
                    cellMACs: cellMACs, parameters: resources.parameters,
                    score: configuration.score(validPerplexity: evaluation.validPerplexity, resources: resources),
                    feasible: configuration.score.isFeasible(resources), seconds: evaluation.seconds, epochs: evaluation.epochs,
                    diverged: evaluation.diverged, latencyMillisecondsPerToken: resources.latencyMilliseconds)
                // Continue with the values a resumed run reads back, so both choose from identical numbers.
                let line = made.jsonLine()
                let record = try JSONDecoder().decode(LMCandidateRecord.self, from: Data(line.utf8))
                try appendLine(line, path: directory.trajectoryPath, sync: true)
                trainedThisSession += 1
                let remaining = candidates.count - index - 1
                    + max(0, strategy.remainingCandidates(step: step, current: current.topology) - candidates.count)
                let snapshot = progress.add(seconds: record.seconds, remaining: remaining, parallelism: 1)
                let text = LMSearchReport.candidateLine(record, progress: snapshot)
                directory.log(text)
                observer?(.candidate(record, progress: snapshot, line: text))
                stepRecords.append(record)
            }
            if let stray = byPosition[step], let index = stray.keys.min() {
                throw SearchError("\(directory.trajectoryPath): step \(step) has a candidate \(index) this configuration does not plan; use --force to start over")
            }
            let winner = LMSearchRunner.winner(of: stepRecords)
            let cell = cells[winner.candidate]
            let path = snapshotPath(step: step)
            try directory.write(cell.jsonData(), to: path)
            let summary = LMStepSummary(step: step, candidates: stepRecords, winner: winner, cell: cell, snapshotPath: path)
            if winner.feasible && (best == nil || winner.score > best!.winner.score) {
                best = summary
                try directory.write(cell.jsonData(), to: bestCellPath)
            }
            steps.append(summary)
            records += stepRecords
            try directory.write(SearchState(strategy: .autoshrink, completedSteps: step, candidatesEvaluated: records.count,
                                            finished: false, bestStep: best?.step, bestScore: best?.winner.score).json(),
                                to: directory.statePath)
            let snapshot = progress.snapshot(remaining: strategy.remainingCandidates(step: step + 1, current: cell.topology), parallelism: 1)
            let text = LMSearchReport.stepLine(summary, best: best, progress: snapshot)
            directory.log(text)
            observer?(.step(summary, progress: snapshot, line: text))
            current = cell
            step += 1
        }
        if let stray = byPosition.filter({ !$0.value.isEmpty }).keys.min() {
            throw SearchError("\(directory.trajectoryPath): has records for step \(stray), beyond the end of this search; use --force to start over")
        }
        try directory.write(SearchState(strategy: .autoshrink, completedSteps: steps.count, candidatesEvaluated: records.count,
                                        finished: true, bestStep: best?.step, bestScore: best?.winner.score).json(),
                            to: directory.statePath)
        let result = LMSearchResult(runDirectory: directory.path, bestCellPath: best == nil ? nil : bestCellPath, best: best, steps: steps,
                                    records: records, candidatesTrainedThisSession: trainedThisSession,
                                    wallSeconds: Date().timeIntervalSince(started))
        directory.log("finished\n" + LMSearchReport.trajectoryTable(result) + LMSearchReport.summary(result))
        observer?(.finished(result))
        return result
    }

    /// Feasible first, then the highest score, then the lowest index (the CNN search's order).
    public static func winner(of candidates: [LMCandidateRecord]) -> LMCandidateRecord {
        candidates.min { a, b in
            if a.feasible != b.feasible { return a.feasible }
            if a.score != b.score { return a.score > b.score }
            return a.candidate < b.candidate
        }!
    }
}

/// Text of an LM search's progress and result (pure functions; the CNN `SearchReport`'s layout).
public enum LMSearchReport {
    static func resourceText(_ record: LMCandidateRecord) -> String {
        "MACs/token \(ArchitectureSummary.scaled(Double(record.macs))) (cell \(ArchitectureSummary.scaled(Double(record.cellMACs))))  params \(ArchitectureSummary.scaled(Double(record.parameters)))"
            + (record.latencyMillisecondsPerToken.map { String(format: "  %.4f ms/token", $0) } ?? "")
    }

    public static func candidateLine(_ record: LMCandidateRecord, progress: SearchProgress) -> String {
        let edge = record.removedEdge.map { "rm \($0)" } ?? "-"
        return "step \(record.step) [\(record.candidate)] \(edge)  \(record.edgesLeft) edges  valid ppl \(String(format: "%.2f", record.validPerplexity))\(record.diverged ? " (diverged)" : "")  "
            + resourceText(record) + "  score \(String(format: "%.4f", record.score))  \(record.feasible ? "ok" : "INFEASIBLE")  \(String(format: "%.1f", record.seconds))s"
            + "  (\(progress.candidatesDone) done, ETA \(SearchReport.duration(progress.etaSeconds)))"
    }

    public static func stepLine(_ summary: LMStepSummary, best: LMStepSummary?, progress: SearchProgress) -> String {
        let winner = summary.winner
        return SearchReport.stepLine(step: summary.step, winner: winner, edgesLeft: winner.edgesLeft,
                                     quality: "valid ppl \(String(format: "%.2f", winner.validPerplexity))", resources: resourceText(winner),
                                     best: best.map { ($0.step, $0.winner.score, "ppl \(String(format: "%.2f", $0.winner.validPerplexity))") },
                                     progress: progress)
    }

    /// One row per step (the step's winner), the best snapshot marked `*`.
    public static func trajectoryTable(_ result: LMSearchResult) -> String {
        // A predicted-latency column when the run has a profile.
        let latency = result.steps.contains { $0.winner.latencyMillisecondsPerToken != nil }
        let headers = ["step", "removed", "edges", "live", "valid ppl", "MACs/token", "cell MACs", "params"]
            + (latency ? ["ms/token"] : []) + ["score", "feasible", "best"]
        let rows = result.steps.map { summary -> [String] in
            let winner = summary.winner
            return [String(summary.step), winner.removedEdge?.description ?? "-", String(winner.edgesLeft),
                    String(summary.cell.schedule.nodes.count + 1), String(format: "%.2f", winner.validPerplexity),
                    ArchitectureSummary.scaled(Double(winner.macs)), ArchitectureSummary.scaled(Double(winner.cellMACs)),
                    ArchitectureSummary.scaled(Double(winner.parameters))]
                + (latency ? [winner.latencyMillisecondsPerToken.map { String(format: "%.4f", $0) } ?? "-"] : [])
                + [String(format: "%.4f", winner.score), winner.feasible ? "yes" : "no", result.best?.step == summary.step ? "*" : ""]
        }
        return ArchitectureSummary.table(headers: headers, rows: rows, rightAligned: Set(0...(latency ? 9 : 8)).subtracting([1]))
    }

    public static func summary(_ result: LMSearchResult) -> String {
        var lines: [String] = []
        if let best = result.best, let path = result.bestCellPath {
            lines.append("best: step \(best.step) (\(best.winner.edgesLeft) edges; \(best.cell.summary)) -> \(path)")
            lines.append("  valid ppl \(String(format: "%.2f", best.winner.validPerplexity)) (proxy), score \(String(format: "%.4f", best.winner.score)), " + resourceText(best.winner))
        } else {
            lines.append("best: no feasible snapshot")
        }
        lines.append("candidates trained: \(result.records.count) (\(result.candidatesTrainedThisSession) in this session), \(result.steps.count) steps, candidate time \(SearchReport.duration(result.candidateSeconds)), wall time \(SearchReport.duration(result.wallSeconds))")
        return lines.joined(separator: "\n") + "\n"
    }
}
