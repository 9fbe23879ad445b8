import AutoShrinkEngine
import AutoShrinkTarget
import Foundation

/// The Slurm client commands the executor runs (`sbatch`, `squeue`, `scancel`, and `sacct` when the
/// cluster keeps accounting), found on PATH once, each call with a timeout so a hung controller
/// shows up as an error rather than a hang. See docs/cluster.md.
public struct SlurmCommands: Sendable {
    public let sbatch: String
    public let squeue: String
    public let scancel: String
    public let sacct: String?
    /// Environment for the commands and, through `sbatch --export=ALL`, for the jobs.
    public let environment: [String: String]

    /// Seconds a client command may take (a busy controller answers within MessageTimeout, 10 s by default).
    public static let timeout = 60.0

    /// Finds the commands on `PATH`; a one-line error naming the first one missing.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SlurmCommands {
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        func find(_ name: String) throws -> String {
            guard let found = findExecutable(name, path: path) else {
                throw SearchError("--executor slurm: \(name) not found on PATH (install the Slurm client commands or load the cluster's Slurm module; see docs/cluster.md)")
            }
            return found
        }
        return SlurmCommands(sbatch: try find("sbatch"), squeue: try find("squeue"), scancel: try find("scancel"),
                             sacct: findExecutable("sacct", path: path), environment: jobEnvironment(environment))
    }

    /// The controller's environment minus an OpenBLAS core type autoshrink chose for this machine
    /// (`BLASConfiguration` re-executes with `OPENBLAS_CORETYPE` and a marker): each job chooses again
    /// for its node. A core type the user set is kept (docs/cluster.md, "What the cluster needs").
    public static func jobEnvironment(_ environment: [String: String]) -> [String: String] {
        var result = environment
        if result[BLASConfiguration.markerVariable] != nil {
            result[BLASConfiguration.markerVariable] = nil
            result["OPENBLAS_CORETYPE"] = nil
        }
        return result
    }

    /// Runs one client command; its stdout, or an error with the first line of its stderr.
    @discardableResult
    public func run(_ executable: String, _ arguments: [String]) throws -> String {
        let outcome = try runSubprocess(executable: executable, arguments: arguments, timeout: Self.timeout, environment: environment)
        let name = (executable as NSString).lastPathComponent
        guard case .finished(let result) = outcome else {
            throw SearchError("\(name) did not answer within \(Int(Self.timeout)) s (is slurmctld reachable?)")
        }
        guard result.exitStatus == 0 else {
            let reason = result.stderr.split(whereSeparator: \.isNewline).map { String($0) }
                .first { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? "exit status \(result.exitStatus)"
            throw SearchError("\(name) failed: \(reason)")
        }
        return result.stdout
    }

    /// `sbatch --parsable ARGS SCRIPT`; the job id it printed (`123` or `123;cluster`).
    public func submit(_ arguments: [String], script: String) throws -> String {
        let output = try run(sbatch, ["--parsable"] + arguments + [script])
        let first = output.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        let id = String(first.split(separator: ";").first ?? "")
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw SearchError("sbatch printed no job id ('\(first)')") }
        return id
    }

    /// `sbatch --test-only`: checks partition, options and limits without submitting anything.
    public func check(_ arguments: [String]) throws {
        try run(sbatch, ["--test-only"] + arguments + ["--wrap=true"])
    }

    /// State of every task of the job arrays `jobIDs` that Slurm still knows, by `JOBID_INDEX`
    /// (`squeue --array --states=all`, which keeps finished jobs for MinJobAge, 300 s by default;
    /// then `sacct` when accounting is on). Arrays Slurm no longer knows are simply absent.
    public func states(of jobIDs: [String]) throws -> [String: String] {
        guard !jobIDs.isEmpty else { return [:] }
        var states: [String: String] = [:]
        func parse(_ text: String) {
            for line in text.split(whereSeparator: \.isNewline) {
                let parts = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count >= 2 else { continue }
                // sacct prints `CANCELLED by 0`; keep the state's first word.
                states[parts[0]] = String(parts[1].split(separator: " ").first ?? "")
            }
        }
        let arguments = ["--noheader", "--array", "--states=all", "--format=%i|%T"]
        do {
            parse(try run(squeue, arguments + ["--jobs=" + jobIDs.joined(separator: ",")]))
        } catch {
            // One id Slurm forgot makes the whole query fail ("Invalid job id specified"): ask one by one.
            for id in jobIDs { if let text = try? run(squeue, arguments + ["--jobs=" + id]) { parse(text) } }
        }
        let unknown = jobIDs.filter { id in !states.keys.contains { $0.hasPrefix(id + "_") } }
        if let sacct, !unknown.isEmpty,
           let text = try? run(sacct, ["--noheader", "--parsable2", "--allocations", "--format=JobID,State",
                                       "--jobs=" + unknown.joined(separator: ",")]) {
            parse(text)
        }
        return states
    }

    /// `scancel` of the given jobs or tasks; errors (jobs already gone) are ignored.
    public func cancel(_ ids: [String]) {
        guard !ids.isEmpty else { return }
        _ = try? runSubprocess(executable: scancel, arguments: ids, timeout: Self.timeout, environment: environment)
    }

    /// States in which a job may still produce its result.
    public static let activeStates: Set<String> = ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED",
                                            "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD",
                                            "SPECIAL_EXIT", "STOPPED"]
}
