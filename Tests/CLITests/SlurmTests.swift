import AutoShrinkEngine
import AutoShrinkSearch
import Foundation
import Testing

/// `autoshrink search --executor slurm` against a real Slurm (tools/slurm-local; docs/cluster.md):
/// same result as the local executor, retries, reattaching after the controller is killed, `--max-jobs`,
/// the jobs' OpenBLAS core type, and submission errors before any work.
@Suite(.serialized, .localSlurmCluster,
       .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"),
       .enabled(if: LocalSlurmCluster.available, "needs slurm-wlm and munge (tools/setup) and root: tools/slurm-local runs the daemons"))
struct SlurmTests {
    /// A tiny search: 4 nodes, 2 candidates per step, 2 steps.
    static let tiny = ["--nodes", "4", "--candidates", "2", "--min-edges", "4", "--proxy-per-class", "12",
                       "--validation-per-class", "8", "--epochs", "1", "--batch-size", "32", "--seed", "3"]
    static let slurm = ["--executor", "slurm", "--threads", "1"]

    /// best.arch.json and the trajectory's numbers of the same search on the local executor (`--workers 2`).
    static let reference: Result<(best: String, numbers: [String]), any Error> = Result {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let local = try CLI.run(["search", "--runs-dir", runs, "--name", "local", "--workers", "2", "--threads", "2"] + tiny)
        guard local.status == 0 else { throw SlurmTestError("local search failed: \(local.stderr)") }
        return (try String(contentsOfFile: runs + "/local/best.arch.json", encoding: .utf8), try numbers(runs + "/local"))
    }

    static func numbers(_ run: String) throws -> [String] {
        try String(contentsOfFile: run + "/trajectory.jsonl", encoding: .utf8).split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            return "\(object["id"] ?? "") \(object["accuracy"] ?? "") \(object["score"] ?? "") \(object["epochs"] ?? "")"
        }
    }

    static func ledger(_ run: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: run + "/slurm/jobs.json"))
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["submissions"] as? [[String: Any]] ?? []
    }

    /// Starts `autoshrink search` in the background (output to files in `runs`).
    static func startSearch(_ arguments: [String], runs: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["search", "--runs-dir", runs] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(LocalSlurmCluster.environment) { $1 }
        FileManager.default.createFile(atPath: runs + "/out.txt", contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: runs + "/out.txt"))
        process.standardError = process.standardOutput
        try process.run()
        return process
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    static func wait(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    @Test func slurmSearchEqualsLocalSearch() throws {
        let expected = try Self.reference.get()
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let result = try CLI.run(["search", "--runs-dir", runs, "--name", "cluster", "--json"] + Self.slurm + Self.tiny,
                                 environment: LocalSlurmCluster.environment)
        #expect(result.status == 0, "\(result.stderr)")
        let best = try String(contentsOfFile: runs + "/cluster/best.arch.json", encoding: .utf8)
        #expect(best == expected.best)
        #expect(try Self.numbers(runs + "/cluster") == expected.numbers)
        // Queue wait and run time: in every trajectory line, the progress lines and the summary.
        let lines = try String(contentsOfFile: runs + "/cluster/trajectory.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.contains("\"queue_seconds\"") && $0.contains("\"run_seconds\"") })
        #expect(result.stdout.contains("queued ") && result.stdout.contains("queue wait median"))
        let report = try CLI.run(["report", runs + "/cluster", "--json"])
        #expect(report.status == 0, "\(report.stderr)")
        let page = try String(contentsOfFile: try #require(report.json["report"] as? String), encoding: .utf8)
        #expect(page.contains("Cluster jobs") && page.contains("step-001-c00"))
        // One job array per step, each with the step's two candidates.
        let submissions = try Self.ledger(runs + "/cluster")
        #expect(submissions.count == lines.count / 2)
        #expect(submissions.allSatisfy { ($0["tasks"] as? [String: Any])?.count == 2 })
    }

    @Test func cancelledJobIsRetried() throws {
        let expected = try Self.reference.get()
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let process = try Self.startSearch(["--name", "retry"] + Self.slurm + Self.tiny, runs: runs)
        defer { if process.isRunning { process.interrupt() } }
        // scancel task 0 of the first array once it runs.
        var first = ""
        let running = Self.wait(60) {
            guard let id = (try? Self.ledger(runs + "/retry"))?.first?["job_id"] as? String else { return false }
            first = id
            let state = try? LocalSlurmCluster.slurm("squeue", ["--noheader", "--array", "--jobs=\(id)", "--format=%i %T"])
            return state?.stdout.contains("\(id)_0 RUNNING") ?? false
        }
        try #require(running, "the first job never ran")
        try LocalSlurmCluster.slurm("scancel", ["\(first)_0"])
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: runs + "/out.txt", encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "\(output)")
        #expect(try String(contentsOfFile: runs + "/retry/best.arch.json", encoding: .utf8) == expected.best)
        #expect(try Self.numbers(runs + "/retry") == expected.numbers)
        let events = try String(contentsOfFile: runs + "/retry/slurm/events.log", encoding: .utf8)
        #expect(events.contains("job \(first)_0 for step-001-c00: CANCELLED; resubmitting"), "\(events)")
    }

    @Test func jobFailingEveryAttemptStopsTheSearchWithItsLog() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let process = try Self.startSearch(["--name", "fails", "--job-attempts", "1"] + Self.slurm + Self.tiny, runs: runs)
        defer { if process.isRunning { process.interrupt() } }
        var first = ""
        let running = Self.wait(60) {
            guard let id = (try? Self.ledger(runs + "/fails"))?.first?["job_id"] as? String else { return false }
            first = id
            let state = try? LocalSlurmCluster.slurm("squeue", ["--noheader", "--array", "--jobs=\(id)", "--format=%i %T"])
            return state?.stdout.contains("\(id)_1 RUNNING") ?? false
        }
        try #require(running, "the first job never ran")
        try LocalSlurmCluster.slurm("scancel", ["\(first)_1"])
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: runs + "/out.txt", encoding: .utf8)) ?? ""
        #expect(process.terminationStatus != 0)
        #expect(output.contains("Error: Slurm job \(first)_1 for step-001-c01 failed 1 time(s), last: CANCELLED; log "), "\(output)")
        #expect(output.contains("CANCELLED AT"), "the log's tail is missing: \(output)")
        // Candidate 0 of the step was recorded and is not trained again by --resume.
        let trajectory = (try? String(contentsOfFile: runs + "/fails/trajectory.jsonl", encoding: .utf8)) ?? ""
        #expect(trajectory.contains("\"step-001-c00\""))
    }

    @Test func killedControllerResumesWithoutRetraining() throws {
        let expected = try Self.reference.get()
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        // Jobs start 3 s after submission, so the resumed search finds step 2's jobs still queued.
        let arguments = ["--name", "killed", "--slurm-option=--begin=now+3"] + Self.slurm + Self.tiny
        let process = try Self.startSearch(arguments, runs: runs)
        let submitted = Self.wait(90) { ((try? Self.ledger(runs + "/killed"))?.count ?? 0) >= 2 || !process.isRunning }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try #require(submitted, "step 2 was never submitted")
        let before = try Self.ledger(runs + "/killed")

        let resumed = try CLI.run(["search", "--runs-dir", runs, "--resume"] + arguments, environment: LocalSlurmCluster.environment)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try String(contentsOfFile: runs + "/killed/best.arch.json", encoding: .utf8) == expected.best)
        #expect(try Self.numbers(runs + "/killed") == expected.numbers)
        let events = try String(contentsOfFile: runs + "/killed/slurm/events.log", encoding: .utf8)
        #expect(events.contains("reattached step-002-c00 to job"), "\(events)")
        // No candidate was submitted twice: the resumed search submitted only later steps.
        let after = try Self.ledger(runs + "/killed")
        #expect(Array(after.prefix(before.count)).map { $0["job_id"] as? String } == before.map { $0["job_id"] as? String })
        var candidates: [String] = []
        for submission in after { candidates += ((submission["tasks"] as? [String: String]) ?? [:]).values }
        #expect(candidates.count == Set(candidates).count, "a candidate was submitted twice: \(candidates.sorted())")
    }

    /// The worker start and end times of every result file of the run, by step folder.
    static func workerIntervals(_ run: String) throws -> [String: [(started: Double, finished: Double)]] {
        var intervals: [String: [(started: Double, finished: Double)]] = [:]
        let slurm = run + "/slurm"
        for step in try FileManager.default.contentsOfDirectory(atPath: slurm) where step.hasPrefix("step-") {
            for file in try FileManager.default.contentsOfDirectory(atPath: slurm + "/" + step) where file.hasSuffix(".result.json") {
                let result = try CandidateResultFile.loadDocument(path: slurm + "/" + step + "/" + file)
                intervals[step, default: []].append((result.started, result.finished))
            }
        }
        return intervals
    }

    @Test func maxJobsRunsOneCandidateAtATime() throws {
        let expected = try Self.reference.get()
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let result = try CLI.run(["search", "--runs-dir", runs, "--name", "throttled", "--max-jobs", "1"] + Self.slurm + Self.tiny,
                                 environment: LocalSlurmCluster.environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Slurm, up to 1 job(s)"), "\(result.stdout)")
        #expect(try String(contentsOfFile: runs + "/throttled/best.arch.json", encoding: .utf8) == expected.best)
        #expect(try Self.numbers(runs + "/throttled") == expected.numbers)
        // Each step's array is throttled to one task (`--array=0,1%1`) ...
        let events = try String(contentsOfFile: runs + "/throttled/slurm/events.log", encoding: .utf8)
        let submissions = events.split(separator: "\n").filter { $0.contains("submitted job array") }
        let steps = expected.numbers.count / 2
        #expect(submissions.count == steps && submissions.allSatisfy { $0.contains("(tasks 0,1%1)") }, "\(events)")
        // ... so on a node with two free CPUs the two workers of a step never ran at the same time.
        let intervals = try Self.workerIntervals(runs + "/throttled")
        #expect(intervals.count == steps && intervals.values.allSatisfy { $0.count == 2 }, "\(intervals)")
        for (step, pair) in intervals {
            let sorted = pair.sorted { $0.started < $1.started }
            #expect(sorted[0].finished <= sorted[1].started, "\(step): workers overlapped: \(sorted)")
        }
    }

    /// What a job sees of `OPENBLAS_CORETYPE` and autoshrink's re-exec marker when submitted from a
    /// controller with `environment` (sbatch --export=ALL, as the executor submits).
    static func jobCoreType(_ environment: [String: String], runs: String, name: String) throws -> String {
        let commands = try SlurmCommands.locate(environment: environment)
        let script = runs + "/\(name).sh", output = runs + "/\(name).txt"
        try "#!/bin/sh\necho \"${OPENBLAS_CORETYPE-unset} ${\(BLASConfiguration.markerVariable)-unset}\" > \(output).tmp && mv \(output).tmp \(output)\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        let job = try commands.submit(["--job-name=autoshrink-coretype-\(name)", "--ntasks=1", "--cpus-per-task=1",
                                       "--output=/dev/null", "--export=ALL", "--chdir=\(runs)"], script: script)
        defer { commands.cancel([job]) }
        try #require(wait(60) { FileManager.default.fileExists(atPath: output) }, "job \(job) wrote nothing")
        return try String(contentsOfFile: output, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func jobsChooseTheirOwnOpenBLASCoreUnlessTheUserSetOne() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        var base = ProcessInfo.processInfo.environment.merging(LocalSlurmCluster.environment) { $1 }
        base[BLASConfiguration.markerVariable] = nil
        // autoshrink chose Prescott for the controller's CPU (re-executed with the marker): the job chooses again.
        let chosen = base.merging(["OPENBLAS_CORETYPE": "Prescott", BLASConfiguration.markerVariable: "1"]) { $1 }
        #expect(try Self.jobCoreType(chosen, runs: runs, name: "chosen") == "unset unset")
        // The user set it: the job gets the same.
        let user = base.merging(["OPENBLAS_CORETYPE": "Sandybridge"]) { $1 }
        #expect(try Self.jobCoreType(user, runs: runs, name: "user") == "Sandybridge unset")
    }

    @Test func submissionErrorsComeBeforeAnyWork() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let empty = runs + "/empty-path"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let noSbatch = try CLI.run(["search", "--runs-dir", runs, "--name", "a"] + Self.slurm + Self.tiny,
                                   environment: LocalSlurmCluster.environment.merging(["PATH": empty]) { $1 })
        #expect(noSbatch.status != 0)
        #expect(noSbatch.stderr.contains("sbatch not found on PATH"), "\(noSbatch.stderr)")
        #expect(noSbatch.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1, "\(noSbatch.stderr)")
        let badPartition = try CLI.run(["search", "--runs-dir", runs, "--name", "b", "--partition", "nosuchpartition"] + Self.slurm + Self.tiny,
                                       environment: LocalSlurmCluster.environment)
        #expect(badPartition.status != 0)
        #expect(badPartition.stderr.contains("invalid partition"), "\(badPartition.stderr)")
        #expect(badPartition.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1, "\(badPartition.stderr)")
        #expect(!badPartition.stdout.contains("autoshrink search"), "work started: \(badPartition.stdout)")
        for name in ["a", "b"] { #expect(!FileManager.default.fileExists(atPath: runs + "/" + name)) }
    }
}

struct SlurmTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
