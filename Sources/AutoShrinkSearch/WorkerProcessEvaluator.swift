import AutoShrinkModel
import AutoShrinkTarget
import Foundation

/// Trains each candidate in a separate worker process with its share of the threads, so W candidates
/// train in parallel without sharing a heap or a BLAS. The worker re-derives the proxy task from the
/// same seed, so results equal in-process training.
///
/// The worker protocol: `WORKER-COMMAND --config C --arch A --seed S --threads T --parent-pid P
/// [--data-dir D] [--parent-weights W] [--weights-out O]`, which trains the candidate with
/// `TrainingEvaluator` and prints its `EvaluationResult` as JSON on the last stdout line. The CLI's
/// hidden `autoshrink search-worker` command implements it and passes `["/proc/self/exe",
/// "search-worker"]` as `workerCommand` (docs/architecture.md, "Search").
public struct WorkerProcessEvaluator: CandidateEvaluator {
    public let configuration: SearchConfiguration
    public let dataDirectory: String?
    public let threads: Int
    public let runDirectory: String
    /// The worker's executable and the arguments before the protocol's options.
    public let workerCommand: [String]

    public init(configuration: SearchConfiguration, dataDirectory: String?, threads: Int, runDirectory: String,
                workerCommand: [String]) {
        precondition(!workerCommand.isEmpty, "workerCommand names an executable")
        self.configuration = configuration; self.dataDirectory = dataDirectory; self.threads = threads
        self.runDirectory = runDirectory; self.workerCommand = workerCommand
    }

    public func evaluate(_ request: EvaluationRequest) throws -> EvaluationResult {
        let scratch = runDirectory + "/work"
        try FileProblem.createDirectory(scratch)
        let architecturePath = scratch + "/\(request.candidateID).arch.json"
        let configurationPath = scratch + "/config.json"
        try request.architecture.write(to: architecturePath)
        if !FileManager.default.fileExists(atPath: configurationPath) {
            try AtomicFile.write(configuration.canonicalJSON(), to: configurationPath)
        }
        var arguments = Array(workerCommand.dropFirst()) + ["--config", configurationPath, "--arch", architecturePath,
                         "--seed", String(request.seed), "--threads", String(threads), "--parent-pid", String(getpid())]
        if let dataDirectory { arguments += ["--data-dir", dataDirectory] }
        if let parent = request.parentWeightsPath { arguments += ["--parent-weights", parent] }
        if let output = request.weightsOutputPath { arguments += ["--weights-out", output] }
        let outcome = try runSubprocess(executable: workerCommand[0], arguments: arguments)
        guard case .finished(let result) = outcome else { throw SearchError("worker for \(request.candidateID) timed out") }
        defer { try? FileManager.default.removeItem(atPath: architecturePath) }
        guard result.exitStatus == 0, let line = result.stdout.split(separator: "\n").last,
              let decoded = try? JSONDecoder().decode(EvaluationResult.self, from: Data(line.utf8)) else {
            let reason = result.stderr.split(separator: "\n").last.map(String.init) ?? "exit status \(result.exitStatus)"
            throw SearchError("worker for \(request.candidateID) failed: \(reason)")
        }
        return decoded
    }
}
