import AutoShrinkModel
import AutoShrinkTarget
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Trains candidates as Slurm jobs (docs/cluster.md): one job array per step whose task `i` runs
/// `autoshrink search-worker` for the step's candidate `i` (the entry point the local `--workers`
/// executor uses), on a run directory every node sees. A worker writes its result atomically to
/// `slurm/step-NNN/<id>.result.json`; the controller polls for those files and asks `squeue` (or
/// `sacct`) about jobs that have none yet. Nothing is parsed from job logs.
///
/// - Failed, cancelled, preempted, timed-out or lost jobs are resubmitted (that candidate only) up
///   to `attempts` times; then its `evaluate` throws with the job id and the tail of the job's log.
/// - `slurm/jobs.json` records every submission, so `--resume` after the controller was killed
///   reads finished results, waits for jobs still queued or running, and submits only the rest:
///   no candidate is trained twice.
/// - SIGINT/SIGTERM of the controller `scancel`s its jobs, then exits.
/// Numbers equal the local executor's: the worker trains with the same seed and configuration and
/// the engine is thread-count independent (docs/architecture.md, "Threads").
public final class SlurmEvaluator: CandidateEvaluator, @unchecked Sendable {
    public struct Settings: Sendable {
        public var runDirectory: String       // absolute
        public var binary: String             // absolute path of this autoshrink, on the shared filesystem
        public var dataDirectory: String      // absolute
        public var threads: Int               // per job, = --cpus-per-task
        public var partition: String?
        public var extraOptions: [String]
        public var maxJobs: Int?
        public var attempts: Int
        public var resume: Bool
        public var runName: String

        public init(runDirectory: String, binary: String, dataDirectory: String, threads: Int, partition: String?,
                    extraOptions: [String], maxJobs: Int?, attempts: Int, resume: Bool, runName: String) {
            self.runDirectory = runDirectory; self.binary = binary; self.dataDirectory = dataDirectory
            self.threads = threads; self.partition = partition; self.extraOptions = extraOptions
            self.maxJobs = maxJobs; self.attempts = attempts; self.resume = resume; self.runName = runName
        }
    }

    public let settings: Settings
    public let configuration: SearchConfiguration
    public let commands: SlurmCommands
    private let lock = NSLock()
    private var ledger = SlurmJobLedger()
    private var prepared = false
    /// Candidates of the current step not yet answered, by id.
    private var tasks: [String: Task] = [:]
    private var outcomes: [String: Result<EvaluationResult, Error>] = [:]
    private var lastQueueCheck = Date.distantPast
    private var signalSources: [any DispatchSourceSignal] = []

    /// One candidate's job: which array and attempt, when submitted, and what Slurm last said.
    private struct Task {
        var request: EvaluationRequest
        var step: Int
        var jobID: String?
        var attempt: Int
        var submitted: Double
        /// When the job was first seen ended (or unknown) without a result file: results travel
        /// through a shared filesystem whose attribute caches may lag, so failure waits a grace period.
        var endedSince: Date?
        var endedState: String?
        var taskID: String { "\(jobID ?? "?")_\(request.index)" }
    }

    /// Seconds to wait for a result file after its job ended (NFS attribute caching), and between
    /// `squeue` calls. Files are checked every `filePoll` seconds.
    static let resultGrace = 20.0
    static let queuePoll = 1.0
    static let filePoll = 0.05

    public init(settings: Settings, configuration: SearchConfiguration, commands: SlurmCommands) {
        self.settings = settings; self.configuration = configuration; self.commands = commands
        installSignalHandlers()
    }

    var slurmDirectory: String { settings.runDirectory + "/slurm" }
    var ledgerPath: String { slurmDirectory + "/jobs.json" }
    func stepDirectory(_ step: Int) -> String { slurmDirectory + String(format: "/step-%03d", step) }
    func resultPath(_ request: EvaluationRequest) -> String { stepDirectory(request.step) + "/\(request.candidateID).result.json" }
    func logPath(jobID: String, index: Int, step: Int) -> String { stepDirectory(step) + "/job\(jobID)_\(index).log" }

    /// sbatch options for every job array (`--array` added per submission).
    func sbatchArguments(step: Int) -> [String] {
        var arguments = ["--job-name=autoshrink-\(settings.runName)-s\(String(format: "%03d", step))",
                         "--ntasks=1", "--nodes=1", "--cpus-per-task=\(settings.threads)",
                         "--output=\(stepDirectory(step))/job%A_%a.log", "--chdir=\(settings.runDirectory)",
                         "--no-requeue", "--export=ALL"]
        if let partition = settings.partition { arguments.append("--partition=\(partition)") }
        return arguments + settings.extraOptions
    }

    // MARK: CandidateEvaluator

    public func prepareStep(_ requests: [EvaluationRequest]) throws {
        lock.lock(); defer { lock.unlock() }
        if !prepared { try startSession(); prepared = true }
        tasks = [:]
        outcomes = [:]
        guard let step = requests.first?.step else { return }
        let directory = stepDirectory(step)
        try FileProblem.createDirectory(directory)
        let configurationPath = slurmDirectory + "/config.json"
        try AtomicFile.write(configuration.canonicalJSON(), to: configurationPath)
        var script = """
            #!/bin/sh
            # Generated by `autoshrink search --executor slurm` (docs/cluster.md): array task i trains
            # candidate i of step \(step) and writes its result file atomically.
            case "$SLURM_ARRAY_TASK_ID" in

            """
        for request in requests {
            let architecturePath = directory + "/\(request.candidateID).arch.json"
            try request.architecture.write(to: architecturePath)
            var arguments = [settings.binary, "search-worker", "--config", configurationPath, "--arch", architecturePath,
                             "--seed", String(request.seed), "--threads", String(settings.threads),
                             "--data-dir", settings.dataDirectory, "--candidate-id", request.candidateID,
                             "--result-out", resultPath(request)]
            if let parent = request.parentWeightsPath { arguments += ["--parent-weights", absolute(parent)] }
            if let output = request.weightsOutputPath { arguments += ["--weights-out", absolute(output)] }
            script += "\(request.index)) exec \(ShellQuoting.command(arguments)) ;;\n"
        }
        script += "*) echo \"autoshrink: no candidate for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n"
        try AtomicFile.write(Data(script.utf8), to: directory + "/job.sh")

        // Reattach: a result already written is read; a job still queued or running is waited for.
        let recorded = ledger.submissions.filter { $0.step == step }
        let states = try commands.states(of: Array(Set(recorded.map(\.jobID))).sorted())
        var toSubmit: [EvaluationRequest] = []
        for request in requests {
            var task = Task(request: request, step: step, jobID: nil, attempt: 0, submitted: Date().timeIntervalSince1970)
            if let latest = recorded.last(where: { $0.tasks[request.index] == request.candidateID }) {
                task.jobID = latest.jobID
                task.submitted = latest.submitted
                if let result = readResult(task) {
                    outcomes[request.candidateID] = .success(result)
                    continue
                }
                if let state = states[task.taskID], SlurmCommands.activeStates.contains(state) {
                    event("reattached \(request.candidateID) to job \(task.taskID) (\(state))")
                    tasks[request.candidateID] = task
                    continue
                }
            }
            task.jobID = nil
            tasks[request.candidateID] = task
            toSubmit.append(request)
        }
        if !toSubmit.isEmpty { try submit(toSubmit, step: step) }
    }

    public func evaluate(_ request: EvaluationRequest) throws -> EvaluationResult {
        while true {
            if let outcome = lock.withLock({ () -> Result<EvaluationResult, Error>? in
                if let outcome = outcomes[request.candidateID] { return outcome }
                poll()
                return outcomes[request.candidateID]
            }) {
                return try outcome.get()
            }
            usleep(UInt32(Self.filePoll * 1e6))
        }
    }

    // MARK: Polling (under `lock`)

    /// Reads new result files; every `queuePoll` seconds asks Slurm about the jobs still without
    /// one and resubmits those that ended without a result (or fails them after `attempts`).
    private func poll() {
        for (id, task) in tasks where task.jobID != nil {
            if let result = readResult(task) {
                outcomes[id] = .success(result)
                tasks[id] = nil
                let total = Date().timeIntervalSince1970 - task.submitted
                event(String(format: "read %@ (job %@): submitted to read %.2fs, training %.2fs, overhead %.2fs",
                             id, task.taskID, total, result.seconds, total - result.seconds))
            }
        }
        guard !tasks.isEmpty, Date().timeIntervalSince(lastQueueCheck) >= Self.queuePoll else { return }
        lastQueueCheck = Date()
        let jobIDs = Array(Set(tasks.values.compactMap(\.jobID))).sorted()
        guard let states = try? commands.states(of: jobIDs) else { return }  // a busy controller: ask again next time
        var failed: [EvaluationRequest] = []
        for (id, var task) in tasks {
            let state = states[task.taskID]
            if let state, SlurmCommands.activeStates.contains(state) {
                task.endedSince = nil
                tasks[id] = task
                continue
            }
            // Ended (or forgotten) without a result file: a completed job's file may still be in
            // flight on a network filesystem; others failed. Both get the grace period once more.
            if task.endedSince == nil {
                task.endedSince = Date()
                task.endedState = state ?? "no longer known to Slurm"
                tasks[id] = task
                if state == "COMPLETED" || state == nil { continue }
            } else if Date().timeIntervalSince(task.endedSince!) < Self.resultGrace && (state == "COMPLETED" || state == nil) {
                continue
            }
            if let result = readResult(task) {
                outcomes[id] = .success(result)
                tasks[id] = nil
                continue
            }
            let why = task.endedState == "COMPLETED" ? "completed without writing its result file" : (task.endedState ?? "ended")
            if task.attempt >= settings.attempts {
                let log = logPath(jobID: task.jobID!, index: task.request.index, step: task.step)
                let tail = logTail(log)
                outcomes[id] = .failure(SearchError("Slurm job \(task.taskID) for \(id) failed \(task.attempt) time(s), last: \(why); log \(log)\(tail.isEmpty ? " (empty)" : " ends:\n" + tail)"))
                tasks[id] = nil
                event("gave up on \(id): job \(task.taskID) \(why)")
            } else {
                event("job \(task.taskID) for \(id): \(why); resubmitting (attempt \(task.attempt + 1) of \(settings.attempts))")
                failed.append(task.request)
            }
        }
        if let step = failed.first?.step {
            do { try submit(failed, step: step) } catch {
                for request in failed { outcomes[request.candidateID] = .failure(error); tasks[request.candidateID] = nil }
            }
        }
    }

    /// Submits one job array for `requests` (indices = candidate indices) and records it.
    private func submit(_ requests: [EvaluationRequest], step: Int) throws {
        let indices = requests.map(\.index)
        var array = indices.map(String.init).joined(separator: ",")
        if let maxJobs = settings.maxJobs, maxJobs < indices.count { array += "%\(maxJobs)" }
        let submitted = Date().timeIntervalSince1970
        let jobID = try commands.submit(["--array=\(array)"] + sbatchArguments(step: step), script: stepDirectory(step) + "/job.sh")
        var attempt = 1
        for request in requests {
            var task = tasks[request.candidateID] ?? Task(request: request, step: step, jobID: nil, attempt: 0, submitted: submitted)
            task.jobID = jobID; task.attempt += 1; task.submitted = submitted; task.endedSince = nil; task.endedState = nil
            attempt = max(attempt, task.attempt)
            tasks[request.candidateID] = task
        }
        ledger.submissions.append(.init(jobID: jobID, step: step, attempt: attempt,
                                        tasks: Dictionary(uniqueKeysWithValues: requests.map { ($0.index, $0.candidateID) }),
                                        submitted: submitted))
        try AtomicFile.write(ledger.json(), to: ledgerPath)
        event("submitted job array \(jobID) (tasks \(array)) for step \(step), attempt \(attempt)")
    }

    /// The candidate's result when its file exists and answers exactly this request.
    private func readResult(_ task: Task) -> EvaluationResult? {
        let path = resultPath(task.request)
        guard FileManager.default.fileExists(atPath: path),
              let file = try? CandidateResultFile.loadDocument(path: path),
              file.candidate == task.request.candidateID, file.architectureHash == task.request.architecture.stableHash,
              file.seed == task.request.seed else { return nil }
        return EvaluationResult(accuracy: file.accuracy, epochs: file.epochs, seconds: file.seconds,
                                queueSeconds: max(0, file.started - task.submitted), runSeconds: file.finished - file.started)
    }

    // MARK: Session

    /// First step of this invocation: `--resume` loads the ledger; a fresh run cancels jobs a previous
    /// run in this directory left and starts an empty `slurm/`.
    private func startSession() throws {
        let exists = FileManager.default.fileExists(atPath: ledgerPath)
        if settings.resume && exists {
            ledger = try SlurmJobLedger.loadDocument(path: ledgerPath)
            // Temporaries of atomic writes a killed controller or job left (AtomicFile).
            AtomicFile.removeLeftovers(in: slurmDirectory)
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: slurmDirectory)) ?? [] where entry.hasPrefix("step-") {
                AtomicFile.removeLeftovers(in: slurmDirectory + "/" + entry)
            }
            return
        }
        if exists, let old = try? SlurmJobLedger.loadDocument(path: ledgerPath) {
            commands.cancel(Array(Set(old.submissions.map(\.jobID))).sorted())
        }
        if FileManager.default.fileExists(atPath: slurmDirectory) {
            do { try FileManager.default.removeItem(atPath: slurmDirectory) } catch {
                throw SearchError("\(slurmDirectory): cannot remove the previous run's job files (\(FileProblem.reason(error)))")
            }
        }
        try FileProblem.createDirectory(slurmDirectory)
        try AtomicFile.write(ledger.json(), to: ledgerPath)
    }

    /// SIGINT/SIGTERM: cancel this search's jobs still queued or running, then exit 128+signal.
    private func installSignalHandlers() {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in
                if let self {
                    let ids = self.lock.withLock { Array(Set(self.ledger.submissions.map(\.jobID))).sorted() }
                    FileHandle.standardError.write(Data("\nautoshrink: interrupted; cancelling Slurm jobs \(ids.joined(separator: " "))\n".utf8))
                    self.commands.cancel(ids)
                    self.event("interrupted by signal \(number): cancelled jobs \(ids.joined(separator: " "))")
                }
                exit(128 + number)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Appends a timestamped line to `slurm/events.log` (the executor's own log; the search's
    /// progress lines go to search.log as usual).
    private func event(_ line: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        let text = "\(stamp) \(line)\n"
        if let handle = FileHandle(forWritingAtPath: slurmDirectory + "/events.log") ?? {
            _ = FileManager.default.createFile(atPath: slurmDirectory + "/events.log", contents: nil)
            return FileHandle(forWritingAtPath: slurmDirectory + "/events.log")
        }() {
            handle.seekToEndOfFile()
            handle.write(Data(text.utf8))
            try? handle.close()
        }
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// The last `lines` lines of a job log (at most 4 KiB read), indented; "" when missing or empty.
func logTail(_ path: String, lines: Int = 8) -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
    defer { try? handle.close() }
    let size = handle.seekToEndOfFile()
    handle.seek(toFileOffset: size > 4096 ? size - 4096 : 0)
    let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    return text.split(whereSeparator: \.isNewline).suffix(lines).map { "    " + $0 }.joined(separator: "\n")
}
