import Foundation
import AutoShrinkModel

/// Progress figures attached to candidate and step events.
public struct SearchProgress: Hashable, Sendable {
    /// Candidates evaluated so far, including those recorded before a resume.
    public var candidatesDone: Int
    /// Upper bound on candidates still to evaluate (AutoShrink assumes one edge per step).
    public var candidatesRemaining: Int
    public var meanSecondsPerCandidate: Double
    /// mean seconds per candidate x remaining candidates / parallel workers.
    public var etaSeconds: Double
}

/// What the search reports while it runs. Each event carries a ready-made `line` (also written to
/// `search.log`) for the CLI to print.
public enum SearchEvent: Sendable {
    case started(configuration: SearchConfiguration, plannedCandidates: Int, resumedCandidates: Int)
    case candidate(CandidateRecord, progress: SearchProgress, line: String)
    case step(StepSummary, best: StepSummary?, progress: SearchProgress, line: String)
    case finished(SearchResult)
}

/// Receives progress; called from worker threads, one event at a time, in trajectory order.
public protocol SearchObserver: Sendable {
    func searchDidReport(_ event: SearchEvent)
}

/// Text renderings of search progress and results (pure functions).
public enum SearchReport {
    /// One candidate: `step 3 [2] rm 1->4  25 edges  acc 0.8123  MACs 1.23M  params 12.3K  wts 12.0KiB  peak 45.1KiB  lat 1.23ms  score 0.8456  ok  12.3s  (41 done, ETA 1h02m)`.
    public static func candidateLine(_ record: CandidateRecord, progress: SearchProgress) -> String {
        let edge = record.removedEdge.map { "rm \($0)" } ?? "random"
        return "step \(record.step) [\(record.candidate)] \(edge)  \(record.edgesLeft) edges" + (record.skeleton.map { " on \($0)" } ?? "") + "  acc \(String(format: "%.4f", record.accuracy))  "
            + resourceText(record.resources)
            + "  score \(String(format: "%.4f", record.score))  \(record.feasible ? "ok" : "INFEASIBLE")  \(String(format: "%.1f", record.seconds))s  ep \(record.epochs)"
            + queueText(record)
            + (record.halving.map { $0.isPartial ? "  partial (rung \($0.reached)/\($0.rungs))" : "  rung \($0.reached)/\($0.rungs)" } ?? "")
            + "  (\(progress.candidatesDone) done, ETA \(duration(progress.etaSeconds)))"
    }

    /// ", queued 0.8s, ran 3.4s" for candidates of a queueing executor (Slurm); empty otherwise.
    static func queueText(_ record: CandidateRecord) -> String {
        guard let queue = record.queueSeconds, let run = record.runSeconds else { return "" }
        return "  queued \(String(format: "%.1f", queue))s ran \(String(format: "%.1f", run))s"
    }

    /// One finished step: winner, edges left, best so far and ETA.
    public static func stepLine(_ summary: StepSummary, best: StepSummary?, progress: SearchProgress) -> String {
        func quality(_ record: CandidateRecord) -> String { "acc \(String(format: "%.4f", record.accuracy))" }
        return stepLine(step: summary.step, winner: summary.winner, edgesLeft: summary.edgesLeft, quality: quality(summary.winner),
                        resources: resourceText(summary.winner.resources),
                        best: best.map { ($0.step, $0.winner.score, quality($0.winner)) }, progress: progress)
    }

    /// The step line of either search (CNN and LM): `quality` is "acc A" or "valid ppl P", `best` the best
    /// snapshot's step, score and quality.
    static func stepLine(step: Int, winner: some TrajectoryRecord, edgesLeft: Int, quality: String, resources: String,
                         best: (step: Int, score: Double, quality: String)?, progress: SearchProgress) -> String {
        let removed = winner.removedEdge.map { "removed \($0), " } ?? ""
        let bestText = best.map { "best so far step \($0.step) score \(String(format: "%.4f", $0.score)) \($0.quality)" }
            ?? "no feasible snapshot yet"
        return "== step \(step): \(removed)\(edgesLeft) edges left, \(quality), score \(String(format: "%.4f", winner.score))\(winner.feasible ? "" : " (infeasible)"), "
            + resources + "; \(bestText); \(progress.candidatesDone) candidates done, ~\(progress.candidatesRemaining) to go, ETA \(duration(progress.etaSeconds))"
    }

    /// The trajectory: one row per step (the step's winner), the best snapshot marked `*`.
    public static func trajectoryTable(_ result: SearchResult) -> String {
        let hasLatency = result.records.contains { $0.resources.latencyMilliseconds != nil }
        var headers = ["step", "removed", "edges", "acc", "MACs", "params", "weights", "peak act"]
        if hasLatency { headers.append("latency") }
        headers += ["score", "feasible", "best"]
        let rows = result.steps.map { summary -> [String] in
            let winner = summary.winner
            var row = [String(summary.step), winner.removedEdge?.description ?? "-", String(winner.edgesLeft),
                       String(format: "%.4f", winner.accuracy), ArchitectureSummary.scaled(Double(winner.resources.macs)),
                       ArchitectureSummary.scaled(Double(winner.resources.parameters)), kib(winner.resources.weightBytes),
                       kib(winner.resources.peakActivationBytes)]
            if hasLatency { row.append(winner.resources.latencyMilliseconds.map { String(format: "%.3fms", $0) } ?? "-") }
            row += [String(format: "%.4f", winner.score), winner.feasible ? "yes" : "no", result.best?.step == summary.step ? "*" : ""]
            return row
        }
        let right = Set(0..<headers.count).subtracting([1, headers.count - 2, headers.count - 1])
        return ArchitectureSummary.table(headers: headers, rows: rows, rightAligned: right)
    }

    /// The Pareto front of all candidates (accuracy vs. latency or MACs).
    public static func paretoTable(_ result: SearchResult) -> String {
        let resourceName = result.paretoResource == .latencyMilliseconds ? "latency" : "MACs"
        let rows = result.paretoFront.map { record -> [String] in
            [record.id, String(record.edgesLeft), String(format: "%.4f", record.accuracy),
             result.paretoResource == .latencyMilliseconds
                ? String(format: "%.3fms", record.resources.latencyMilliseconds ?? 0)
                : ArchitectureSummary.scaled(Double(record.resources.macs)),
             String(format: "%.4f", record.score), record.feasible ? "yes" : "no"]
        }
        return ArchitectureSummary.table(headers: ["candidate", "edges", "acc", resourceName, "score", "feasible"], rows: rows,
                                         rightAligned: [1, 2, 3, 4])
    }

    /// The result in a few lines: best snapshot, its figures, budget and time.
    public static func summary(_ result: SearchResult) -> String {
        var lines: [String] = []
        if let best = result.best, let path = result.bestArchitecturePath {
            let winner = best.winner
            lines.append("best: step \(best.step) (\(winner.edgesLeft) edges) -> \(path)")
            lines.append("  acc \(String(format: "%.4f", winner.accuracy)), score \(String(format: "%.4f", winner.score)), " + resourceText(winner.resources))
        } else {
            lines.append("best: no feasible snapshot")
        }
        lines.append("candidates trained: \(result.candidatesTrained) (\(result.candidatesTrainedThisSession) in this session), \(result.steps.count) steps, candidate time \(duration(result.candidateSeconds)), wall time \(duration(result.wallSeconds))")
        let queued = result.records.compactMap { record in record.queueSeconds.flatMap { q in record.runSeconds.map { (q, $0) } } }
        if !queued.isEmpty {
            func median(_ values: [Double]) -> Double { let sorted = values.sorted(); return sorted[sorted.count / 2] }
            lines.append("queued candidates: \(queued.count), queue wait median \(String(format: "%.1f", median(queued.map(\.0))))s max \(String(format: "%.1f", queued.map(\.0).max()!))s, job run median \(String(format: "%.1f", median(queued.map(\.1))))s")
        }
        lines.append("Pareto front (acc vs \(result.paretoResource == .latencyMilliseconds ? "latency" : "MACs")): \(result.paretoFront.count) candidates")
        return lines.joined(separator: "\n") + "\n"
    }

    /// A machine-readable summary (for `--json`): best snapshot and its figures, budget, time,
    /// and the Pareto front's candidate ids. Sorted keys, one JSON object.
    public static func json(_ result: SearchResult) -> String {
        SearchJSON.line(JSONSummary(result))
    }

    /// `MACs 1.23M  params 12.3K  wts 12.0KiB  peak 45.1KiB[  lat 1.230ms]`.
    public static func resourceText(_ resources: CandidateResources) -> String {
        var text = "MACs \(ArchitectureSummary.scaled(Double(resources.macs)))  params \(ArchitectureSummary.scaled(Double(resources.parameters)))  wts \(kib(resources.weightBytes))  peak \(kib(resources.peakActivationBytes))"
        if let latency = resources.latencyMilliseconds { text += "  lat \(String(format: "%.3f", latency))ms" }
        return text
    }

    /// `3h02m`, `4m05s`, `12s`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e15 else { return "?" }
        let total = Int(seconds.rounded())
        if total >= 3600 { return "\(total / 3600)h\(twoDigits(total % 3600 / 60))m" }
        if total >= 60 { return "\(total / 60)m\(twoDigits(total % 60))s" }
        return "\(total)s"
    }

    static func kib(_ bytes: Int) -> String { String(format: "%.1fKiB", Double(bytes) / 1024) }
}

/// Pareto front of evaluated candidates: maximise accuracy, minimise one resource.
public enum ParetoFront {
    /// Candidates not dominated by another (one at least as accurate and at most as costly, better
    /// in one of the two), by ascending resource; among equal cells only the first record counts.
    /// Records without a value for `resource` are skipped.
    public static func compute(_ records: [CandidateRecord], resource: ResourceKind) -> [CandidateRecord] {
        var seen = Set<[Edge]>()
        // Partial scores (dropped by successive halving) are not comparable with fully trained ones.
        let unique = records.filter { !$0.isPartial && seen.insert($0.cellEdges).inserted }
        let valued = unique.compactMap { record in record.resources.value(of: resource).map { (record, $0) } }
        let sorted = valued.sorted { a, b in
            if a.1 != b.1 { return a.1 < b.1 }
            if a.0.accuracy != b.0.accuracy { return a.0.accuracy > b.0.accuracy }
            return (a.0.step, a.0.candidate) < (b.0.step, b.0.candidate)
        }
        var front: [CandidateRecord] = []
        var bestAccuracy = -Double.infinity
        for (record, _) in sorted where record.accuracy > bestAccuracy {
            front.append(record)
            bestAccuracy = record.accuracy
        }
        return front
    }
}

/// The `--json` summary (snake_case keys; `best` and `latency_ms` are null when absent).
private struct JSONSummary: Encodable {
    let result: SearchResult
    init(_ result: SearchResult) { self.result = result }

    enum Keys: String, CodingKey {
        case runDirectory = "run_directory", strategy, candidatesTrained = "candidates_trained"
        case candidatesTrainedThisSession = "candidates_trained_this_session", steps
        case candidateSeconds = "candidate_seconds", wallSeconds = "wall_seconds"
        case paretoResource = "pareto_resource", paretoFront = "pareto_front", best
    }
    enum BestKeys: String, CodingKey {
        case path, step, candidate, edges, accuracy, score, macs, params
        case weightBytes = "weight_bytes", peakActivationBytes = "peak_activation_bytes", latency = "latency_ms"
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(result.runDirectory, forKey: .runDirectory)
        try container.encode(result.strategy.rawValue, forKey: .strategy)
        try container.encode(result.candidatesTrained, forKey: .candidatesTrained)
        try container.encode(result.candidatesTrainedThisSession, forKey: .candidatesTrainedThisSession)
        try container.encode(result.steps.count, forKey: .steps)
        try container.encode(result.candidateSeconds, forKey: .candidateSeconds)
        try container.encode(result.wallSeconds, forKey: .wallSeconds)
        try container.encode(result.paretoResource.rawValue, forKey: .paretoResource)
        try container.encode(result.paretoFront.map(\.id), forKey: .paretoFront)
        guard let best = result.best, let path = result.bestArchitecturePath else {
            try container.encodeNil(forKey: .best)
            return
        }
        let winner = best.winner
        var nested = container.nestedContainer(keyedBy: BestKeys.self, forKey: .best)
        try nested.encode(path, forKey: .path)
        try nested.encode(best.step, forKey: .step)
        try nested.encode(winner.id, forKey: .candidate)
        try nested.encode(winner.edgesLeft, forKey: .edges)
        try nested.encode(winner.accuracy, forKey: .accuracy)
        try nested.encode(winner.score, forKey: .score)
        try nested.encode(winner.resources.macs, forKey: .macs)
        try nested.encode(winner.resources.parameters, forKey: .params)
        try nested.encode(winner.resources.weightBytes, forKey: .weightBytes)
        try nested.encode(winner.resources.peakActivationBytes, forKey: .peakActivationBytes)
        if let latency = winner.resources.latencyMilliseconds { try nested.encode(latency, forKey: .latency) } else {
            try nested.encodeNil(forKey: .latency)
        }
    }
}
