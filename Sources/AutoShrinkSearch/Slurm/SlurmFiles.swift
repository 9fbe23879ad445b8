import AutoShrinkFormats
import Foundation

/// `runs/NAME/slurm/STEP/<candidate>.result.json`: what one candidate job produced, written atomically
/// by `autoshrink search-worker --result-out` (AtomicFile), so the controller either sees the whole
/// file or none (docs/cluster.md, "Files in the run directory"). Nothing is read from job logs.
public struct CandidateResultFile: Codable, Equatable, VersionedDocument {
    public static let formatName = "autoshrink.candidate-result"
    public static let currentVersion = 1
    public static let documentKind = "a candidate result"
    public static let versionLabel = "candidate result"

    public var format = CandidateResultFile.formatName
    public var version = CandidateResultFile.currentVersion
    /// The candidate, the network (its `stableHash`) and the training seed: a result is used only
    /// for the very request it answers.
    public var candidate: String
    public var architectureHash: String
    public var seed: UInt64
    public var accuracy: Double
    public var epochs: Int
    /// Training seconds (the same figure the local executor records).
    public var seconds: Double
    /// Unix times (seconds) the worker process started and the result was written.
    public var started: Double
    public var finished: Double
    public var host: String
    /// `ARRAYJOB_TASK` when run by Slurm, nil otherwise.
    public var slurmJob: String?

    public init(candidate: String, architectureHash: String, seed: UInt64, accuracy: Double, epochs: Int, seconds: Double,
                started: Double, finished: Double, host: String, slurmJob: String?) {
        self.candidate = candidate; self.architectureHash = architectureHash; self.seed = seed; self.accuracy = accuracy
        self.epochs = epochs; self.seconds = seconds; self.started = started; self.finished = finished; self.host = host
        self.slurmJob = slurmJob
    }

    enum CodingKeys: String, CodingKey {
        case format, version, candidate, seed, accuracy, epochs, seconds, started, finished, host
        case architectureHash = "arch_hash", slurmJob = "slurm_job"
    }

    public func validate(source: String) throws {
        func bad(_ key: String, _ expected: String) -> DocumentError { DocumentError("\(source): key '\(key)': expected \(expected)") }
        guard accuracy.isFinite, (0...1).contains(accuracy) else { throw bad("accuracy", "a number in 0...1") }
        guard (0...1_000_000).contains(epochs) else { throw bad("epochs", "an integer in 0...1000000") }
        guard seconds.isFinite, (0...1e9).contains(seconds) else { throw bad("seconds", "a number of seconds in 0...1e9") }
        guard started.isFinite, finished.isFinite, started > 0, finished >= started else {
            throw bad("finished", "unix times with started <= finished")
        }
        guard candidate.count <= 200, host.count <= 1000 else { throw bad("candidate", "a short id") }
    }

    public func json() -> Data {
        SearchJSON.file(self)
    }
}

/// `runs/NAME/slurm/jobs.json`: every job array the search submitted, so `--resume` after the
/// controlling process died reattaches to jobs still queued or running instead of training their
/// candidates again (docs/cluster.md). Rewritten atomically right after each `sbatch`.
struct SlurmJobLedger: Codable, Equatable, VersionedDocument {
    static let formatName = "autoshrink.slurm-jobs"
    static let currentVersion = 1
    static let documentKind = "a Slurm job ledger"
    static let versionLabel = "Slurm job ledger"

    struct Submission: Codable, Equatable {
        /// Slurm's id of the job array; task `i` of it is `JOBID_i`.
        var jobID: String
        var step: Int
        /// Attempt of these candidates in the session that submitted them (1 = first).
        var attempt: Int
        /// Array task index -> candidate id (array indices are the candidates' indices in the step).
        var tasks: [Int: String]
        /// Unix time of the submission.
        var submitted: Double

        enum CodingKeys: String, CodingKey { case step, attempt, tasks, submitted, jobID = "job_id" }
    }

    var format = SlurmJobLedger.formatName
    var version = SlurmJobLedger.currentVersion
    var submissions: [Submission] = []

    func validate(source: String) throws {
        for (position, submission) in submissions.enumerated() {
            guard !submission.jobID.isEmpty, submission.jobID.allSatisfy({ $0.isNumber }) else {
                throw DocumentError("\(source): key 'submissions[\(position)].job_id': expected a numeric Slurm job id")
            }
            guard submission.submitted.isFinite, submission.tasks.keys.allSatisfy({ (0...1_000_000).contains($0) }) else {
                throw DocumentError("\(source): key 'submissions[\(position)]': expected task indices in 0...1000000 and a finite time")
            }
        }
    }

    func json() -> Data {
        SearchJSON.file(self)
    }
}
