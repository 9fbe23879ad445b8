import Foundation
import Testing
import AutoShrinkTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Data loss and crashes of the reliability issue (issue 12), with the real binary: names from files and
/// options never become paths outside their folder, `export --out` replaces only an earlier export,
/// a search or an export holds a lock, and bad numbers (options and file contents) are one-line errors,
/// never a trap or an out-of-memory kill. Every case checks the exit status, the message and that the
/// workspace is byte for byte unchanged (docs/architecture.md, "Names, locks and output folders").
@Suite("data safety: names, output folders, locks, numbers",
       .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
struct DataSafetyTests {
    /// A workspace holding `in/model.ckpt` (the tiny network, trained once per test process) and
    /// `in/tiny.arch.json`.
    func workspace() throws -> Workspace {
        let w = try Workspace()
        try w.mkdir("in")
        let fixture = Self.fixture
        guard let checkpoint = fixture.checkpoint else { throw TestSetupError(fixture.failure) }
        try w.write("in/model.ckpt", "")
        try FileManager.default.removeItem(atPath: w.path("in/model.ckpt"))
        try FileManager.default.copyItem(atPath: checkpoint, toPath: w.path("in/model.ckpt"))
        try w.write("in/tiny.arch.json", ErrorPathTests.tinyArchitecture)
        return w
    }

    // MARK: - Data loss

    @Test("export --out . / .. / the input's folder / a file / a foreign folder is refused")
    func exportRefusesForeignOutputFolders() throws {
        let w = try workspace()
        defer { w.remove() }
        try w.write("mine.txt", "x\n")
        try w.write("afile", "precious\n")
        try w.write("foreign/notes.txt", "keep me\n")
        try w.write("other-tool/export.json", "{\"format\": \"someone.else\"}\n")
        let before = try Snapshot(w.root)
        let export = ["export", "in/model.ckpt", "--no-run", "--quiet", "--out"]
        try w.expectFailure("export --out .", export + ["."], mentions: ["--out .", "current directory"])
        try w.expectFailure("export --out .. --force", export + ["..", "--force"], mentions: ["--out ..", "current directory"])
        try w.expectFailure("export --out in --force", export + ["in", "--force"], mentions: ["--out in", "holds the input in/model.ckpt"])
        try w.expectFailure("export --out afile", export + ["afile"], mentions: ["--out afile", "not a directory", "--force"])
        try w.expectFailure("export --out foreign", export + ["foreign"], mentions: ["--out foreign", "not an earlier export", "--force"])
        try w.expectFailure("export --out other-tool", export + ["other-tool"], mentions: ["not an earlier export"])
        before.expectUnchanged("the workspace after the refused exports")
    }

    @Test("an architecture or checkpoint named ../../victim is refused by export, train and info")
    func namesFromFilesNeverBecomePaths() throws {
        let w = try workspace()
        defer { w.remove() }
        try w.write("in/evil.arch.json", ErrorPathTests.tinyArchitecture.replacingOccurrences(of: "\"name\": \"tiny\"", with: "\"name\": \"../../victim\""))
        try rewriteCheckpoint(w.path("in/model.ckpt"), to: w.path("in/evil.ckpt")) { header, _ in
            var architecture = header["architecture"] as! [String: Any]
            architecture["name"] = "../../victim"
            header["architecture"] = architecture
        }
        try w.write("victim/important.txt", "keep\n")
        let before = try Snapshot(w.root)
        try w.expectFailure("export evil.ckpt", ["export", "in/evil.ckpt", "--no-run", "--quiet"], mentions: ["in/evil.ckpt", "name '../../victim'"])
        try w.expectFailure("train --arch evil.arch.json", ["train", "--arch", "in/evil.arch.json", "--quiet"] + ErrorPathTests.fastTraining,
                            mentions: ["in/evil.arch.json", "name '../../victim'"])
        try w.expectFailure("info evil.arch.json", ["info", "in/evil.arch.json"], mentions: ["name '../../victim'"])
        before.expectUnchanged("the workspace after names with '..'")
    }

    @Test("search --name .. / . / a/b is refused before anything is written")
    func searchNameMustBePlain() throws {
        let w = try workspace()
        defer { w.remove() }
        try w.write("config.json", "mine\n")
        try w.write("runs/keep.txt", "keep\n")
        let before = try Snapshot(w.root)
        for name in ["..", ".", "a/b", ".hidden", String(repeating: "n", count: 65)] {
            try expectOptionError(w, ["search"] + Self.fastSearch(w) + ["--name", name, "--force"], mentions: ["--name '\(name)'"])
        }
        before.expectUnchanged("the workspace after bad --name values")
    }

    @Test("a second search on a locked run and a second export into a locked folder are refused with the holder's pid")
    func locksRefuseASecondProcess() throws {
        let w = try workspace()
        defer { w.remove() }
        try w.write("runs/tiny/config.json", "{}\n")
        try w.write("runs/tiny/trajectory.jsonl", "")
        let runLock = try HeldLock(w.path("runs/tiny/.lock"))
        // An earlier export (our format tag) is replaceable, so the export gets as far as the lock.
        try w.write("deploy/tiny/export.json", "{\"format\": \"autoshrink.export\", \"version\": 1}\n")
        try w.write("deploy/tiny/model.c", "/* earlier */\n")
        let exportLock = try HeldLock(w.path("deploy/.tiny.lock"))
        let before = try Snapshot(w.root)
        try w.expectFailure("search --resume on a locked run", ["search", "--resume"] + Self.fastSearch(w),
                            mentions: ["runs/tiny is in use by another autoshrink process (pid \(getpid()))"])
        try w.expectFailure("export into a locked folder", ["export", "in/model.ckpt", "--no-run", "--quiet", "--out", "deploy/tiny"],
                            mentions: ["deploy/tiny is in use by another autoshrink process (pid \(getpid()))"])
        before.expectUnchanged("the workspace after the locked search and export")
        runLock.release()
        exportLock.release()
    }

    // MARK: - Crashes

    @Test("sizes beyond the limits in an arch.json or a checkpoint are one-line errors (no overflow trap, no OOM kill)")
    func hugeSizesAreRefused() throws {
        let w = try workspace()
        defer { w.remove() }
        try w.write("in/wide.arch.json", """
            {"format": "autoshrink.architecture", "version": 1, "name": "wide", "classes": 10,
             "input": {"channels": 1, "height": 28, "width": 28},
             "stem": [{"kind": "conv", "outputChannels": 8, "kernel": 3, "stride": 1, "activation": "relu"}],
             "cell": {"nodes": 2, "operations": ["input", "conv1x1"], "edges": [[0, 1]]},
             "stages": [{"width": 1000000000, "pool": 1, "cells": 1}], "head": {"dropout": 0}}
            """)
        try w.write("in/huge-stem.arch.json", ErrorPathTests.tinyArchitecture.replacingOccurrences(of: "\"outputChannels\": 8", with: "\"outputChannels\": 1000000000"))
        try w.write("in/fat.arch.json", ErrorPathTests.tinyArchitecture
            .replacingOccurrences(of: "\"outputChannels\": 8, \"kernel\": 3", with: "\"outputChannels\": 65536, \"kernel\": 7")
            .replacingOccurrences(of: "\"outputChannels\": 16, \"kernel\": 3", with: "\"outputChannels\": 65536, \"kernel\": 7"))
        try rewriteCheckpoint(w.path("in/model.ckpt"), to: w.path("in/huge.ckpt")) { header, _ in
            var architecture = header["architecture"] as! [String: Any]
            var stem = architecture["stem"] as! [[String: Any]]
            stem[0]["outputChannels"] = 1_000_000_000
            architecture["stem"] = stem
            header["architecture"] = architecture
        }
        let before = try Snapshot(w.root)
        try w.expectFailure("info width 1e9", ["info", "in/wide.arch.json"], mentions: ["in/wide.arch.json", "stages[0].width 1000000000", "limit"])
        try w.expectFailure("export a 1e9-channel checkpoint", ["export", "in/huge.ckpt", "--no-run"], mentions: ["in/huge.ckpt", "stem[0].outputChannels"])
        try w.expectFailure("train a 1e9-channel stem", ["train", "--arch", "in/huge-stem.arch.json"] + ErrorPathTests.fastTraining,
                            mentions: ["stem[0].outputChannels 1000000000", "limit"])
        try w.expectFailure("train a network that cannot fit in memory", ["train", "--arch", "in/fat.arch.json"] + ErrorPathTests.fastTraining,
                            mentions: ["in/fat.arch.json", "training needs about", "memory"])
        before.expectUnchanged("the workspace after the oversized networks")
    }

    @Test("evaluate and export of a valid checkpoint whose buffers cannot fit in memory are one-line errors")
    func checkpointTooLargeForMemory() throws {
        let w = try workspace()
        defer { w.remove() }
        // One 1x1 convolution to 65,536 channels (1.8 MB of weights, 51 M activations per image).
        let channels = 65_536
        let architecture: [String: Any] = [
            "format": "autoshrink.architecture", "version": 1, "name": "fat", "classes": 10,
            "input": ["channels": 1, "height": 28, "width": 28], "stages": [[String: Any]](), "head": ["dropout": 0],
            "stem": [["kind": "conv", "outputChannels": channels, "kernel": 1, "stride": 1, "activation": "relu"]],
        ]
        let tensors: [(String, [Int])] = [("stem0.weight", [channels, 1, 1, 1]), ("stem0.bn.gamma", [channels]), ("stem0.bn.beta", [channels]),
                                          ("head.linear.weight", [10, channels]), ("head.linear.bias", [10]),
                                          ("stem0.bn.running_mean", [channels]), ("stem0.bn.running_var", [channels])]
        try rewriteCheckpoint(w.path("in/model.ckpt"), to: w.path("in/fat.ckpt")) { header, payload in
            header["architecture"] = architecture
            header["tensors"] = tensors.map { ["name": $0.0, "shape": $0.1, "count": $0.1.reduce(1, *)] as [String: Any] }
            payload = [UInt8](repeating: 0, count: 4 * tensors.reduce(0) { $0 + $1.1.reduce(1, *) })
        }
        let before = try Snapshot(w.root)
        try w.expectFailure("evaluate fat.ckpt", ["evaluate", "in/fat.ckpt", "--quiet"], mentions: ["in/fat.ckpt", "evaluation needs about", "memory"])
        try w.expectFailure("export fat.ckpt", ["export", "in/fat.ckpt", "--no-run", "--quiet", "--out", "deploy/fat"],
                            mentions: ["in/fat.ckpt", "calibration needs about", "memory"])
        before.expectUnchanged("the workspace after the checkpoint too large for memory")
    }

    @Test("search: --lr inf, --lr -1, limits inf/nan and bad terms are option errors; no run directory is left")
    func searchNumbersAreValidated() throws {
        let w = try workspace()
        defer { w.remove() }
        let before = try Snapshot(w.root)
        let cases: [([String], String)] = [
            (["--lr", "inf"], "--lr must be a finite number, got inf"),
            (["--lr", "-1"], "--lr must be greater than 0 and at most 10, got -1"),
            (["--max-latency-ms", "inf"], "--max-latency-ms must be a finite number, got inf"),
            (["--max-weights-kb", "inf"], "--max-weights-kb must be a finite number, got inf"),
            (["--max-peak-memory-kb", "nan"], "--max-peak-memory-kb must be a finite number, got nan"),
            (["--max-macs", "-5"], "--max-macs must be in 1..."),
            (["--term", "macs:inf:0.1"], "--term 'macs:inf:0.1'"),
        ]
        for (arguments, message) in cases {
            try expectOptionError(w, ["search"] + arguments + Self.fastSearch(w), mentions: [message])
        }
        before.expectUnchanged("the workspace after the refused searches (no half-made run directory)")
    }

    @Test("train: --warmup-epochs nan/1e30, --lr inf/1e30/-1, --weight-decay inf are option errors")
    func trainNumbersAreValidated() throws {
        let w = try workspace()
        defer { w.remove() }
        let before = try Snapshot(w.root)
        let cases: [([String], String)] = [
            (["--warmup-epochs", "nan"], "--warmup-epochs must be a finite number, got nan"),
            (["--warmup-epochs", "1e30"], "--warmup-epochs must be in 0...1, got 1e+30"),
            (["--lr", "inf"], "--lr must be a finite number, got inf"),
            (["--lr", "1e30"], "--lr must be greater than 0 and at most 10"),
            (["--lr", "-1"], "--lr must be greater than 0 and at most 10, got -1"),
            (["--weight-decay", "inf"], "--weight-decay must be a finite number, got inf"),
        ]
        for (arguments, message) in cases {
            try expectOptionError(w, ["train", "--arch", "in/tiny.arch.json", "--out", "t"] + ErrorPathTests.fastTraining + arguments,
                                  mentions: [message])
        }
        before.expectUnchanged("the workspace after the refused trainings")
    }

    @Test("a checkpoint with std 0, no normalisation, NaN weights or a negative variance is refused by evaluate and export")
    func checkpointNumbersAreValidated() throws {
        let w = try workspace()
        defer { w.remove() }
        try rewriteCheckpoint(w.path("in/model.ckpt"), to: w.path("in/std0.ckpt")) { header, _ in
            var metadata = header["metadata"] as! [String: Any]
            metadata["normalizationStd"] = [0.0]
            header["metadata"] = metadata
        }
        try rewriteCheckpoint(w.path("in/model.ckpt"), to: w.path("in/empty.ckpt")) { header, _ in
            var metadata = header["metadata"] as! [String: Any]
            metadata["normalizationStd"] = [Double]()
            metadata["normalizationMean"] = [Double]()
            header["metadata"] = metadata
        }
        try rewriteCheckpoint(w.path("in/model.ckpt"), to: w.path("in/nan.ckpt")) { _, payload in
            withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { payload.replaceSubrange(0..<4, with: $0) }
        }
        try rewriteCheckpoint(w.path("in/model.ckpt"), to: w.path("in/variance.ckpt")) { header, payload in
            // The first value of stem0.bn.running_var becomes -1.
            var offset = 0
            for tensor in header["tensors"] as! [[String: Any]] {
                if tensor["name"] as? String == "stem0.bn.running_var" { break }
                offset += 4 * (tensor["count"] as! Int)
            }
            withUnsafeBytes(of: Float(-1).bitPattern.littleEndian) { payload.replaceSubrange(offset..<(offset + 4), with: $0) }
        }
        let before = try Snapshot(w.root)
        for (file, message) in [("in/std0.ckpt", "metadata.normalizationStd must be positive and finite"),
                                ("in/empty.ckpt", "metadata.normalizationMean/normalizationStd must have 1 value(s) each"),
                                ("in/nan.ckpt", "holds non-finite values"),
                                ("in/variance.ckpt", "stem0.bn.running_var holds a negative variance")] {
            try w.expectFailure("evaluate \(file)", ["evaluate", file, "--quiet"], mentions: [file, message])
            try w.expectFailure("export \(file)", ["export", file, "--no-run", "--quiet", "--out", "deploy/x"], mentions: [file, message])
        }
        before.expectUnchanged("the workspace after the refused checkpoints")
    }

    // MARK: - Silent wrong and leftovers

    @Test("a profile whose calibration predicts <= 0 ms (negative table_scale or intercept) is refused")
    func profileFitIsValidated() throws {
        let w = try workspace()
        defer { w.remove() }
        try w.mkdir("profiles")
        let data = try Data(contentsOf: URL(fileURLWithPath: ErrorPathTests.repository + "/profiles/local.json"))
        for (file, key, value) in [("negative-scale.json", "table_scale", -1.0), ("negative-intercept.json", "intercept_ms", -5.0)] {
            var profile = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            var predictor = profile["predictor"] as! [String: Any]
            var calibration = predictor["calibration"] as! [String: Any]
            calibration[key] = value
            predictor["calibration"] = calibration
            profile["predictor"] = predictor
            try JSONSerialization.data(withJSONObject: profile).write(to: URL(fileURLWithPath: w.path("profiles/\(file)")))
        }
        let before = try Snapshot(w.root)
        try w.expectFailure("predict with a negative table_scale", ["predict", "refnet", "--profile", "profiles/negative-scale.json"],
                            mentions: ["profiles/negative-scale.json", "table_scale must be positive"])
        try w.expectFailure("search with a negative intercept", ["search", "--profile", "profiles/negative-intercept.json", "--max-latency-ms", "1"]
                            + Self.fastSearch(w), mentions: ["profiles/negative-intercept.json", "predicts", "intercept_ms -5"])
        before.expectUnchanged("the workspace after the refused profiles")
    }

    @Test("train with a learning rate that diverges stops with an error and writes no checkpoint")
    func divergedTrainingIsAnError() throws {
        let w = try workspace()
        defer { w.remove() }
        let before = try Snapshot(w.root)
        try w.expectFailure("train --lr 10 --weight-decay 1",
                            ["train", "--arch", "in/tiny.arch.json", "--out", "diverged", "--train-per-class", "20", "--validation-per-class", "0",
                             "--epochs", "6", "--batch-size", "32", "--threads", "2", "--lr", "10", "--weight-decay", "1", "--quiet"],
                            mentions: ["training diverged", "no checkpoint written"])
        before.expectUnchanged("the workspace after the diverged training")
    }

    @Test("killing search --workers 2 (SIGKILL) takes its search-worker children with it", .timeLimit(.minutes(1)))
    func workersDieWithTheirSearch() throws {
        let w = try workspace()
        defer { w.remove() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["search", "--runs-dir", w.path("runs"), "--name", "workers", "--nodes", "4", "--candidates", "4",
                             "--proxy-per-class", "300", "--validation-per-class", "20", "--epochs", "20", "--batch-size", "32",
                             "--threads", "2", "--workers", "2", "--quiet"]
        process.currentDirectoryURL = URL(fileURLWithPath: w.root)
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": w.temporary]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let parent = process.processIdentifier
        var workers: [Int32] = []
        let deadline = Date().addingTimeInterval(30)
        while workers.count < 2, Date() < deadline, process.isRunning {
            Thread.sleep(forTimeInterval: 0.1)
            workers = Self.children(of: parent)
        }
        kill(parent, SIGKILL)
        process.waitUntilExit()
        try #require(workers.count == 2, "search did not start 2 workers: \(workers)")
        let gone = Date().addingTimeInterval(10)
        while Date() < gone, workers.contains(where: Self.isAlive) { Thread.sleep(forTimeInterval: 0.1) }
        let survivors = workers.filter(Self.isAlive)
        #expect(survivors.isEmpty, "search-worker processes \(survivors) outlived their search")
        for pid in survivors { kill(pid, SIGKILL) }
    }

    /// Pids whose parent is `parent` (from /proc/PID/stat).
    static func children(of parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }

    /// A process that exists and is not a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    // MARK: - Support

    static func fastSearch(_ w: Workspace) -> [String] { ErrorPathTests.fastSearch(w) }

    /// An option error: non-zero exit (not a signal), first stderr line `Error: ...` with `mentions`,
    /// then only ArgumentParser's usage hint; nothing left in TMPDIR.
    func expectOptionError(_ w: Workspace, _ arguments: [String], mentions: [String],
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outcome = try w.run(arguments)
        let shown = "autoshrink \(arguments.joined(separator: " "))"
        #expect(!outcome.signalled && outcome.status != 0, "\(shown): exit \(outcome.status)\n\(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(outcome.message.hasPrefix("Error: "), "\(shown): \(outcome.stderr)", sourceLocation: sourceLocation)
        for needle in mentions {
            #expect(outcome.message.contains(needle), "\(shown): '\(needle)' not in \(outcome.message)", sourceLocation: sourceLocation)
        }
        let rest = outcome.lines.dropFirst().filter { !$0.hasPrefix("Usage:") && !$0.contains("--help' for more information") }
        #expect(rest.isEmpty, "\(shown): more than the error and the usage hint:\n\(outcome.stderr)", sourceLocation: sourceLocation)
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: w.temporary)) ?? []
        #expect(leftovers.isEmpty, "\(shown): left \(leftovers) in TMPDIR", sourceLocation: sourceLocation)
    }

    /// Rewrites a checkpoint's JSON header and payload and recomputes the header length and checksum
    /// (layout in docs/architecture.md, "File formats").
    func rewriteCheckpoint(_ source: String, to destination: String,
                           _ edit: (inout [String: Any], inout [UInt8]) -> Void) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let length = (0..<8).reduce(0) { $0 | Int(bytes[12 + $1]) << (8 * $1) }
        var header = try JSONSerialization.jsonObject(with: Data(bytes[20..<(20 + length)])) as! [String: Any]
        var payload = Array(bytes[(20 + length)..<(bytes.count - 8)])
        edit(&header, &payload)
        let json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        let body = json + payload
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        var out = Array(bytes[0..<12])
        out += (0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * $0)) }
        out += body
        out += (0..<8).map { UInt8(truncatingIfNeeded: hash >> (8 * $0)) }
        try Data(out).write(to: URL(fileURLWithPath: destination))
    }

    /// The tiny network of `ErrorPathTests`, trained once per test process (about 2 s).
    struct Fixture: Sendable {
        var checkpoint: String?
        var failure: String
    }

    static let fixture: Fixture = {
        do {
            let directory = try CLI.temporaryDirectory()
            let arch = directory + "/tiny.arch.json"
            try Data(ErrorPathTests.tinyArchitecture.utf8).write(to: URL(fileURLWithPath: arch))
            let result = try CLI.run(["train", "--arch", arch, "--out", directory + "/model"] + ErrorPathTests.fastTraining)
            guard result.status == 0 else { return Fixture(checkpoint: nil, failure: "training the tiny fixture failed: \(result.stderr)") }
            return Fixture(checkpoint: directory + "/model/model.ckpt", failure: "")
        } catch {
            return Fixture(checkpoint: nil, failure: "fixture: \(error)")
        }
    }()
}

/// A lock held by this test process the way autoshrink holds one: `flock` plus our pid in the file.
final class HeldLock {
    private var descriptor: Int32

    init(_ path: String) throws {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0, flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { throw TestSetupError("cannot lock \(path): errno \(errno)") }
        let text = "\(getpid())\n"
        _ = text.withCString { write(descriptor, $0, strlen($0)) }
    }

    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
