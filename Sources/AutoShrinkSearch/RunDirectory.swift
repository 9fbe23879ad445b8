import Foundation
import AutoShrinkModel

/// What a run directory stores as `config.json` and how its `trajectory.jsonl` lines read: the CNN
/// search's `SearchConfiguration` / `CandidateRecord`, the LM search's `LMSearchConfiguration` /
/// `LMCandidateRecord` (docs/shrinkrnn.md, "Search").
public protocol RunConfiguration: Sendable {
    associatedtype Record: Decodable
    func canonicalJSON() -> Data
    static func load(path: String) throws -> Self
    /// The first stored setting that differs (settings that do not change results are ignored).
    func firstDifference(from other: Self) -> ConfigurationDifference?
}

extension SearchConfiguration: RunConfiguration { public typealias Record = CandidateRecord }

/// The files of a search run, `runs/NAME/`:
/// - `config.json`: the resolved `SearchConfiguration`;
/// - `trajectory.jsonl`: one `CandidateRecord` per evaluated candidate, in (step, candidate) order;
/// - `snapshots/step-NNN.arch.json`: the cell chosen at step NNN (the step's winning candidate);
/// - `best.arch.json`: the best-scoring feasible snapshot (canonical JSON, byte-equal to that snapshot);
///   an LM search writes `snapshots/step-NNN.rnncell.json` and `best.rnncell.json` instead;
/// - `refit.arch.json`: with `search --refit`, the best cell on the macro skeleton re-fitted to it;
/// - `search.log`: human-readable progress; `state.json`: progress summary (informational only,
///   resuming relies on `config.json` and `trajectory.jsonl`);
/// - `weights/step-NNN-cKK.ckpt`: with `--inherit`, trained weights of each step's winner (and,
///   while a step runs, of its candidates).
public struct RunDirectory: Hashable, Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var configPath: String { file("config.json") }
    public var trajectoryPath: String { file("trajectory.jsonl") }
    public var snapshotsPath: String { file("snapshots") }
    public var bestArchitecturePath: String { file("best.arch.json") }
    /// `refit.arch.json`: the best cell on the macro skeleton re-fitted to it (`search --refit`).
    public var refitArchitecturePath: String { file("refit.arch.json") }
    public var logPath: String { file("search.log") }
    public var statePath: String { file("state.json") }
    public var weightsPath: String { file("weights") }
    /// `.lock`: flock'ed by the search that uses the run (docs/architecture.md, "Names, locks and output folders").
    public var lockPath: String { file(RunDirectory.lockName) }
    static let lockName = ".lock"

    /// `snapshots/step-NNN.arch.json`.
    public func snapshotPath(step: Int) -> String { "\(snapshotsPath)/step-\(threeDigits(step)).arch.json" }

    /// `weights/<candidate id>.ckpt`.
    public func weightsPath(candidateID: String) -> String { "\(weightsPath)/\(candidateID).ckpt" }

    /// Entries the search creates; `--force` removes these and nothing else.
    static let ownedEntries = ["config.json", "trajectory.jsonl", "snapshots", "best.arch.json", "best.rnncell.json", "refit.arch.json",
                               "search.log", "state.json", "weights"]

    private func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Makes the directory ready for `configuration` and returns the records already evaluated.
    /// - new or empty directory: creates it and writes `config.json`;
    /// - `resume`: requires the stored config to equal `configuration` (except `workers`), loads
    ///   `trajectory.jsonl` and cuts a torn last line; a different config is refused unless `force`;
    /// - otherwise a non-empty directory is refused unless `force`.
    /// `force` deletes the run's own files (see `ownedEntries`) and starts over.
    public func prepare<Configuration: RunConfiguration>(configuration: Configuration, resume: Bool, force: Bool) throws -> [Configuration.Record] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = manager.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue { throw SearchError("\(path): exists and is not a directory") }
        // `.lock` is the CLI's run lock (`lockPath`), not content: a directory holding only it is empty.
        let contents = exists ? ((try? manager.contentsOfDirectory(atPath: path)) ?? []).filter { $0 != RunDirectory.lockName } : []
        if !contents.isEmpty {
            if resume {
                if manager.fileExists(atPath: configPath) {
                    let stored: Configuration
                    do { stored = try Configuration.load(path: configPath) } catch {
                        guard force else { throw error }
                        try clear()
                        return try create(configuration)
                    }
                    if let difference = stored.firstDifference(from: configuration) {
                        guard force else {
                            throw SearchError("\(path): the run was made with a different configuration: \(difference); use --force to start over")
                        }
                        try clear()
                    } else {
                        let records = try TrajectoryFile.load(path: trajectoryPath, repair: true, as: Configuration.Record.self)
                        try write(configuration.canonicalJSON(), to: configPath)  // `workers` may have changed
                        return records
                    }
                } else {
                    guard force else { throw SearchError("\(path): not a search run (no config.json); use --force to start over") }
                    try clear()
                }
            } else {
                guard force else {
                    throw SearchError("\(path): run directory is not empty; use --resume to continue it or --force to start over")
                }
                try clear()
            }
        }
        return try create(configuration)
    }

    /// Creates the directory layout and writes `config.json`; a new run has no records.
    private func create<Configuration: RunConfiguration>(_ configuration: Configuration) throws -> [Configuration.Record] {
        if let problem = FileProblem.directoryProblem(snapshotsPath) {
            throw SearchError("\(path): cannot create run directory (\(problem))")
        }
        try write(configuration.canonicalJSON(), to: configPath)
        return []
    }

    /// Removes the run's own files.
    func clear() throws {
        for entry in RunDirectory.ownedEntries {
            let target = file(entry)
            if FileManager.default.fileExists(atPath: target) {
                do { try FileManager.default.removeItem(atPath: target) } catch {
                    throw SearchError("\(target): cannot remove (\(FileProblem.reason(error)))")
                }
            }
        }
    }

    /// Writes `data` atomically (`AtomicFile`: temporary file renamed into place, removed on failure).
    func write(_ data: Data, to target: String) throws {
        try AtomicFile.write(data, to: target)
    }

    /// Appends a timestamped line to `search.log`.
    func log(_ line: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        let text = line.hasSuffix("\n") ? String(line.dropLast()) : line
        try? appendLine(text.split(separator: "\n", omittingEmptySubsequences: false)
                            .map { "\(stamp) \($0)" }.joined(separator: "\n"), path: logPath, sync: false)
    }
}

/// `state.json`: where the run stands (for people and scripts; `--resume` does not need it).
struct SearchState: Codable {
    var format = "autoshrink.search-state"
    var version = 1
    var strategy: SearchStrategyKind
    var completedSteps: Int
    var candidatesEvaluated: Int
    var finished: Bool
    var bestStep: Int?
    var bestScore: Double?

    func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try! encoder.encode(self) + Data("\n".utf8)
    }
}
