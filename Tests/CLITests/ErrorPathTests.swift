import Foundation
import Testing
import AutoShrinkTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Every error path a user can hit, walked through with the real `autoshrink` binary in the order a
/// user meets them: missing dataset, bad device file, stale profile, unreachable device, infeasible
/// constraints, corrupt checkpoint, full disk while writing.
///
/// Each failing command must exit non-zero (not by a signal), print exactly one non-empty line on
/// stderr (`Error: ...`, no stack trace) that names the problem, leave the result written earlier at
/// the same place byte for byte unchanged (no stray temporary files beside it either), and leave
/// nothing behind in its TMPDIR.
///
/// Full disk: a real tmpfs (`mount -t tmpfs`, needs root / CAP_SYS_ADMIN); where mounting is not
/// allowed, a real file size limit (`ulimit -f`, writes fail with EFBIG "File too large") instead.
/// `AUTOSHRINK_ERROR_PATHS_FULL_DISK=ulimit` forces the fallback.
@Suite("error paths a user can hit")
struct ErrorPathTests {
    @Test("walkthrough: one line, non-zero exit, earlier results intact",
          .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"),
          .timeLimit(.minutes(5)))
    func walkthrough() throws {
        let w = try Workspace()
        defer { w.remove() }
        let start = Date()
        try setUp(w)   // without the earlier results there is nothing to walk through
        w.step("missing dataset") { try missingDataset(w) }
        w.step("bad device file") { try badDeviceFile(w) }
        w.step("stale profile") { try staleProfile(w) }
        w.step("unreachable device") { try unreachableDevice(w) }
        w.step("infeasible constraints") { try infeasibleConstraints(w) }
        w.step("corrupt checkpoint") { try corruptCheckpoint(w) }
        w.step("full disk while writing") { try fullDisk(w) }
        print("error-paths: walkthrough took \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        for (label, message) in w.messages { print("error-paths: | \(label) | \(message) |") }
    }

    // MARK: - Steps

    /// A trained checkpoint (the "earlier result" most steps protect), a committed profile, a finished search run.
    func setUp(_ w: Workspace) throws {
        try w.write("tiny.arch.json", Self.tinyArchitecture)
        try w.write("wide.arch.json", Self.wideArchitecture)
        try w.mkdir("profiles")
        try FileManager.default.copyItem(atPath: Self.repository + "/profiles/local.json", toPath: w.path("profiles/local.json"))
        let predict = try w.run(["predict", "refnet", "--profile", w.path("profiles/local.json"), "--allow-foreign-profile", "--quiet"])
        try #require(predict.status == 0, "profiles/local.json in the repository does not load (re-run autoshrink profile --device local?): \(predict.stderr)")
        let train = try w.run(["train", "--arch", w.path("tiny.arch.json"), "--out", w.path("model")] + Self.fastTraining)
        try #require(train.status == 0, "training the tiny network failed: \(train.stderr)")
        let search = try w.run(["search", "--profile", w.path("profiles/local.json"), "--allow-foreign-profile"] + Self.fastSearch(w))
        try #require(search.status == 0, "the tiny search failed: \(search.stderr)")
    }

    /// 1. `train --data-dir` a missing directory, a truncated IDX file and a truncated gzip stream.
    func missingDataset(_ w: Workspace) throws {
        let model = try Snapshot(w.path("model"))
        let missing = "/nonexistent/autoshrink-datasets/fashion-mnist"
        try w.expectFailure("train: missing dataset directory", ["train", "--data-dir", missing, "--out", w.path("model")] + Self.fastTraining,
                            mentions: [missing, "missing file"])

        // The training labels as a plain IDX file that stops after 100 of its 60,000 labels.
        let truncated = try w.mkdir("data-truncated-idx")
        for name in ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.createSymbolicLink(atPath: "\(truncated)/\(name)", withDestinationPath: "\(Self.dataset)/\(name)")
        }
        let labels = truncated + "/train-labels-idx1-ubyte"
        try Data([0, 0, 8, 1, 0, 0, 0xEA, 0x60] + [UInt8](repeating: 3, count: 100)).write(to: URL(fileURLWithPath: labels))
        try w.expectFailure("train: truncated IDX file", ["train", "--data-dir", truncated, "--out", w.path("model")] + Self.fastTraining,
                            mentions: [labels, "truncated"])

        // The test labels' gzip stream cut in half.
        let corrupt = try w.mkdir("data-corrupt-gzip")
        for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"] {
            try FileManager.default.createSymbolicLink(atPath: "\(corrupt)/\(name)", withDestinationPath: "\(Self.dataset)/\(name)")
        }
        let gzip = try Data(contentsOf: URL(fileURLWithPath: Self.dataset + "/t10k-labels-idx1-ubyte.gz"))
        let cut = corrupt + "/t10k-labels-idx1-ubyte.gz"
        try gzip.prefix(gzip.count / 2).write(to: URL(fileURLWithPath: cut))
        try w.expectFailure("train: truncated gzip stream", ["train", "--data-dir", corrupt, "--out", w.path("model")] + Self.fastTraining,
                            mentions: [cut, "corrupt gzip"])
        model.expectUnchanged("model/ after the dataset failures")
    }

    /// 2. `profile --device FILE.toml` with a TOML syntax error, an unknown runner kind, a missing key and a misspelt key.
    func badDeviceFile(_ w: Workspace) throws {
        let profiles = try Snapshot(w.path("profiles"))
        let cases: [(String, String, [String])] = [
            ("syntax.toml", "name = \"broken\"\narch = \"x86_64\"\nthreads = 1\n[compiler\ncc = \"gcc\"\n",
             ["malformed TOML", "line 4"]),
            ("telnet.toml", Self.deviceTOML(name: "telnet", runner: "kind = \"telnet\"\nhost = \"box\""),
             ["unknown runner kind 'telnet'"]),
            ("no-cc.toml", "name = \"no-cc\"\narch = \"x86_64\"\nthreads = 1\n[compiler]\nflags = [\"-O2\"]\n[runner]\nkind = \"local\"\n",
             ["missing key 'compiler.cc'"]),
            ("typo.toml", "name = \"typo\"\narch = \"x86_64\"\nthreads = 1\n[compiler]\ncc = \"gcc\"\nfags = [\"-O2\"]\n[runner]\nkind = \"local\"\n",
             ["unknown key 'compiler.fags'", "did you mean 'compiler.flags'"]),
        ]
        for (file, text, problem) in cases {
            let path = try w.write("devices/\(file)", text)
            try w.expectFailure("profile --device \(file)",
                                ["profile", "--device", path, "--out", w.path("profiles/local.json")] + Self.fastProfile(w),
                                mentions: [path] + problem)
        }
        try w.expectFailure("profile --device no-such-device", ["profile", "--device", "no-such-device", "--out", w.path("profiles/local.json")],
                            mentions: ["no such device 'no-such-device'"])
        profiles.expectUnchanged("profiles/ after the bad device files")
    }

    /// 3. A profile made with other kernels (its runtime hash edited in a copy) for `predict` and `search --profile`.
    func staleProfile(_ w: Workspace) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: w.path("profiles/local.json")))
        var profile = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var runtime = try #require(profile["runtime"] as? [String: Any])
        try #require(runtime["hash"] is String)
        runtime["hash"] = String(repeating: "0", count: 64)
        profile["runtime"] = runtime
        let stale = try w.write("stale/local.json", String(decoding: try JSONSerialization.data(withJSONObject: profile), as: UTF8.self))
        let staleFiles = try Snapshot(w.path("stale"))
        let run = try Snapshot(w.path("runs"))

        try w.expectFailure("predict --profile stale", ["predict", "refnet", "--profile", stale], mentions: [stale, "stale profile", "re-run autoshrink profile"])
        // --force would start the run over: a refused profile must not get that far.
        try w.expectFailure("search --profile stale --force", ["search", "--profile", stale, "--force"] + Self.fastSearch(w),
                            mentions: [stale, "stale profile"])
        run.expectUnchanged("runs/ after the stale profile")
        staleFiles.expectUnchanged("the stale profile itself")
    }

    /// 4. An SSH device on a closed port of 127.0.0.1, for `profile` and `deploy`; both must fail at once.
    func unreachableDevice(_ w: Workspace) throws {
        let port = try freeLoopbackPort()
        let device = try w.write("devices/gone.toml", Self.deviceTOML(name: "gone", runner: """
            kind = "ssh"
            host = "127.0.0.1"
            port = \(port)
            remote_dir = "/tmp/autoshrink-gone"
            ssh_options = ["-o", "ConnectTimeout=3", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
            """))
        let export = try w.run(["export", w.path("model/model.ckpt"), "--device", Self.localDevice, "--no-run", "--calibration", "8",
                                "--threads", "2", "--out", w.path("deploy/tiny"), "--quiet"])
        try #require(export.status == 0, "exporting the tiny network failed: \(export.stderr)")
        let profiles = try Snapshot(w.path("profiles"))
        let deploy = try Snapshot(w.path("deploy"))
        let reason = ["device gone", "cannot reach 127.0.0.1:\(port)", "Connection refused"]

        let profiled = try w.expectFailure("profile --device unreachable",
                                           ["profile", "--device", device, "--out", w.path("profiles/local.json")] + Self.fastProfile(w),
                                           mentions: reason)
        #expect(profiled.seconds < 10, "profile took \(profiled.seconds) s to find a closed port")
        let deployed = try w.expectFailure("deploy --device unreachable",
                                           ["deploy", w.path("deploy/tiny"), "--device", device, "--images", "5", "--bench-runs", "5"],
                                           mentions: reason)
        #expect(deployed.seconds < 10, "deploy took \(deployed.seconds) s to find a closed port")
        profiles.expectUnchanged("profiles/ after the unreachable device")
        deploy.expectUnchanged("deploy/ after the unreachable device")
    }

    /// 5. Limits no network of the space can meet are refused before the run directory is touched.
    /// (There is no --max-params; the size limit is --max-weights-kb.)
    func infeasibleConstraints(_ w: Workspace) throws {
        let run = try Snapshot(w.path("runs"))
        try w.expectFailure("search --max-latency-ms 0.000001",
                            ["search", "--profile", w.path("profiles/local.json"), "--allow-foreign-profile", "--max-latency-ms", "0.000001", "--force"] + Self.fastSearch(w),
                            mentions: ["--max-latency-ms", "cannot be met", "smallest network"],
                            allowWarnings: true) // the profile is the repository's, made on another CPU than CI's
        try w.expectFailure("search --max-weights-kb 0.001", ["search", "--max-weights-kb", "0.001", "--force"] + Self.fastSearch(w),
                            mentions: ["--max-weights-kb", "cannot be met", "smallest network"])
        run.expectUnchanged("runs/ after the infeasible constraints")
    }

    /// 6. A checkpoint with a flipped payload byte, one cut short and one with a damaged header length,
    /// for `evaluate` and for `export` over an earlier export.
    func corruptCheckpoint(_ w: Workspace) throws {
        let good = try Data(contentsOf: URL(fileURLWithPath: w.path("model/model.ckpt")))
        var flipped = good
        flipped[good.count - 100] ^= 0x10
        var badLength = good
        badLength[19] ^= 0x80   // top bit of the UInt64 header length
        let cases: [(String, Data, [String])] = [
            ("flipped.ckpt", flipped, ["checksum mismatch", "corrupt checkpoint"]),
            ("truncated.ckpt", good.prefix(good.count * 2 / 3), ["truncated checkpoint"]),
            ("bad-length.ckpt", badLength, ["corrupt checkpoint"]),
        ]
        let model = try Snapshot(w.path("model"))
        let deploy = try Snapshot(w.path("deploy"))
        for (name, bytes, problem) in cases {
            let path = w.path("corrupt/\(name)")
            try w.mkdir("corrupt")
            try bytes.write(to: URL(fileURLWithPath: path))
            try w.expectFailure("evaluate \(name)", ["evaluate", path], mentions: [path] + problem)
            try w.expectFailure("export \(name)", ["export", path, "--device", Self.localDevice, "--no-run", "--out", w.path("deploy/tiny")],
                                mentions: [path] + problem)
        }
        model.expectUnchanged("model/ after the corrupt checkpoints")
        deploy.expectUnchanged("deploy/ after the corrupt checkpoints")
    }

    /// 7. Results written into a small file system; then a bigger checkpoint, a report and a profile
    /// that no longer fit go to the same paths.
    func fullDisk(_ w: Workspace) throws {
        let disk = try w.mkdir("disk")
        let forced = ProcessInfo.processInfo.environment["AUTOSHRINK_ERROR_PATHS_FULL_DISK"] == "ulimit"
        // Room for the earlier results (the profile copied below, about 24 KiB of checkpoint, train.json
        // and report) plus 136 KiB: too little for the bigger network's 230 KB checkpoint.
        let profileBytes = try FileManager.default.attributesOfItem(atPath: w.path("profiles/local.json"))[.size] as? Int ?? 0
        let kilobytes = 160 + (profileBytes + 4095) / 4096 * 4
        let tool = { (name: String) in ["/usr/bin/\(name)", "/bin/\(name)"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? name }
        let mount = forced ? nil : try? w.runTool(tool("mount"), ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", disk])
        let mounted = mount?.status == 0
        defer {
            if mounted, (try? w.runTool(tool("umount"), [disk]))?.status != 0 { _ = try? w.runTool(tool("umount"), ["-l", disk]) }
        }
        if mounted {
            print("error-paths: full disk: a \(kilobytes) KiB tmpfs mounted at \(disk)")
        } else {
            print("error-paths: full disk: \(forced ? "AUTOSHRINK_ERROR_PATHS_FULL_DISK=ulimit" : "mount -t tmpfs failed (\(mount.map { $0.stderr.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "not run"))"); using a file size limit (ulimit -f) instead")
        }
        // Under a size limit the write fails with EFBIG instead of ENOSPC.
        let problem = mounted ? "No space left on device" : "File too large"
        func limited(_ arguments: [String], kilobytes: Int) -> [String]? { mounted ? nil : ["/bin/sh", "-c", "trap '' XFSZ; ulimit -f \(kilobytes * 2); exec \"$0\" \"$@\"", CLI.executable] + arguments }

        // Earlier results that fit: a small checkpoint, a profile, a report.
        let checkpoint = disk + "/model/model.ckpt"
        let trained = try w.run(["train", "--arch", w.path("tiny.arch.json"), "--out", disk + "/model"] + Self.fastTraining)
        try #require(trained.status == 0, "the tiny checkpoint does not fit: \(trained.stderr)")
        try w.mkdir("disk/profiles")
        let profile = disk + "/profiles/local.json"
        try FileManager.default.copyItem(atPath: w.path("profiles/local.json"), toPath: profile)
        let report = disk + "/report.html"
        let reported = try w.run(["report", w.path("runs/tiny"), "--out", report, "--quiet"])
        try #require(reported.status == 0, "the first report does not fit: \(reported.stderr)")
        let earlier = try Snapshot(disk)

        // A bigger network's checkpoint (about 230 KB) to the same --out.
        let wide = ["train", "--arch", w.path("wide.arch.json"), "--out", disk + "/model"] + Self.fastTraining
        try w.expectFailure("train a bigger network onto a full disk", wide, command: limited(wide, kilobytes: 64),
                            mentions: ["cannot write \(checkpoint)", problem])
        earlier.expectUnchanged("the disk after the bigger checkpoint")

        // Fill the disk to the last byte; the report and the profile no longer fit.
        if mounted { try fill(disk + "/filler") }
        let full = try Snapshot(disk)
        let rewrite = ["report", w.path("runs/tiny"), "--out", report]
        let failed = try w.expectFailure("report onto a full disk", rewrite, command: limited(rewrite, kilobytes: 4), mentions: [report])
        #expect(failed.message.contains(problem), "\(failed.message)")
        full.expectUnchanged("the disk after the report")
        if mounted {
            // (Under a size limit the harness build itself would hit the limit first.)
            let reprofile = ["profile", "--device", Self.localDevice, "--out", profile] + Self.fastProfile(w)
            try w.expectFailure("profile onto a full disk", reprofile, mentions: ["cannot write \(profile)", problem],
                                allowWarnings: true)
            full.expectUnchanged("the disk after the profile")
        }
    }

    // MARK: - Settings

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let dataset = "/usr/share/datasets/fashion-mnist"
    /// The commands run in the workspace, so devices/local.toml is named by its path.
    static let localDevice = repository + "/devices/local.toml"
    static let fastTraining = ["--train-per-class", "5", "--validation-per-class", "0", "--epochs", "1", "--batch-size", "32",
                               "--threads", "2", "--quiet"]
    static func fastSearch(_ w: Workspace) -> [String] {
        ["--runs-dir", w.path("runs"), "--name", "tiny", "--nodes", "3", "--candidates", "1", "--proxy-per-class", "5",
         "--validation-per-class", "5", "--epochs", "1", "--batch-size", "32", "--threads", "2", "--quiet"]
    }
    static func fastProfile(_ w: Workspace) -> [String] {
        ["--space", w.path("tiny.arch.json"), "--repeats", "3", "--networks", "0", "--sample-ms", "0.01", "--int8-only", "--quiet"]
    }

    /// Two strided convolutions: 1,442 parameters, a 7 KB checkpoint, fast to train, evaluate and export.
    static let tinyArchitecture = """
        {"format": "autoshrink.architecture", "version": 1, "name": "tiny", "classes": 10,
         "input": {"channels": 1, "height": 28, "width": 28},
         "stem": [{"kind": "conv", "outputChannels": 8, "kernel": 3, "stride": 2, "activation": "relu"},
                  {"kind": "conv", "outputChannels": 16, "kernel": 3, "stride": 2, "activation": "relu"}],
         "stages": [], "head": {"dropout": 0}}
        """
    /// tiny plus a 1x1 convolution to 2,048 channels: 58,626 parameters (a 230 KB checkpoint) at 1.7 M MACs.
    static let wideArchitecture = """
        {"format": "autoshrink.architecture", "version": 1, "name": "wide", "classes": 10,
         "input": {"channels": 1, "height": 28, "width": 28},
         "stem": [{"kind": "conv", "outputChannels": 8, "kernel": 3, "stride": 2, "activation": "relu"},
                  {"kind": "conv", "outputChannels": 16, "kernel": 3, "stride": 2, "activation": "relu"},
                  {"kind": "conv", "outputChannels": 2048, "kernel": 1, "stride": 1, "activation": "relu"}],
         "stages": [], "head": {"dropout": 0}}
        """

    /// A device file like devices/local.toml with the given [runner] body.
    static func deviceTOML(name: String, runner: String) -> String {
        """
        name = "\(name)"
        arch = "x86_64"
        threads = 1
        [compiler]
        cc = "gcc"
        flags = ["-O3", "-march=native"]
        [runner]
        \(runner)

        """
    }
}

// MARK: - Support

/// A temporary directory for one walkthrough: files, a private TMPDIR for the commands, the messages seen.
final class Workspace {
    let root: String
    /// TMPDIR of every command; must be empty after each one.
    let temporary: String
    private let capture: String
    private(set) var messages: [(String, String)] = []

    init() throws {
        root = try CLI.temporaryDirectory()
        temporary = root + "/tmp"
        capture = root + "/.capture"
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: capture, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
    func path(_ relative: String) -> String { root + "/" + relative }

    @discardableResult
    func mkdir(_ relative: String) throws -> String {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
        return path(relative)
    }

    @discardableResult
    func write(_ relative: String, _ text: String) throws -> String {
        try mkdir((relative as NSString).deletingLastPathComponent)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(relative)))
        return path(relative)
    }

    /// Runs a step; an error it throws is recorded and the walkthrough goes on with the next step.
    func step(_ name: String, _ body: () throws -> Void) {
        let start = Date()
        do { try body() } catch {
            Issue.record("step '\(name)' stopped: \(error)")
        }
        print("error-paths: step '\(name)' took \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }

    struct Outcome {
        var status: Int32
        var signalled: Bool
        var stdout: String
        var stderr: String
        var seconds: Double
        /// Non-empty stderr lines.
        var lines: [String] { stderr.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty } }
        /// The error line (the first line that is not a warning).
        var message: String { lines.first { !$0.hasPrefix("warning:") } ?? "" }
    }

    /// `autoshrink arguments...` with TMPDIR pointing into the workspace.
    func run(_ arguments: [String], timeout: Double = 120) throws -> Outcome {
        try runTool(CLI.executable, arguments, timeout: timeout)
    }

    /// Runs any program; kills it and records an issue when it outlives `timeout`.
    func runTool(_ executable: String, _ arguments: [String], timeout: Double = 120) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": temporary]) { $1 }
        let id = UUID().uuidString
        let out = capture + "/\(id).out", err = capture + "/\(id).err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: err)
        }
        let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        defer { try? outHandle.close(); try? errHandle.close() }
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        let start = Date()
        try process.run()
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            Issue.record("\(([executable] + arguments).joined(separator: " ")) hung for \(Int(timeout)) s and was killed")
        }
        return Outcome(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                       stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "",
                       seconds: Date().timeIntervalSince(start))
    }

    /// Runs `arguments` (or the full `command`, e.g. through a shell) and checks the failure contract;
    /// `mentions` must all appear in the message. `allowWarnings` admits `warning:` lines before it
    /// (the profiler warns about the measuring environment before it writes).
    @discardableResult
    func expectFailure(_ label: String, _ arguments: [String], command: [String]? = nil, mentions: [String],
                       allowWarnings: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> Outcome {
        let outcome = try command.map { try runTool($0[0], Array($0.dropFirst())) } ?? run(arguments)
        let shown = "autoshrink \(arguments.joined(separator: " "))"
        #expect(!outcome.signalled, "\(label): killed by signal \(outcome.status)\n\(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(outcome.status != 0, "\(label): exit status 0 for \(shown)", sourceLocation: sourceLocation)
        let lines = allowWarnings ? outcome.lines.filter { !$0.hasPrefix("warning:") } : outcome.lines
        #expect(lines.count == 1, "\(label): stderr should be one line, got \(lines.count):\n\(outcome.stderr)", sourceLocation: sourceLocation)
        let message = outcome.message
        #expect(message.hasPrefix("Error: "), "\(label): \(message)", sourceLocation: sourceLocation)
        for needle in mentions {
            #expect(message.contains(needle), "\(label): the message does not mention '\(needle)': \(message)", sourceLocation: sourceLocation)
        }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        #expect(leftovers.isEmpty, "\(label): left \(leftovers) in TMPDIR", sourceLocation: sourceLocation)
        for entry in leftovers { try? FileManager.default.removeItem(atPath: temporary + "/" + entry) }
        messages.append((label, message))
        print("error-paths: \(label) (\(String(format: "%.2f", outcome.seconds)) s, exit \(outcome.status)): \(message)")
        return outcome
    }
}

/// Every file (with its bytes) and directory under a path, hidden temporaries included.
struct Snapshot {
    let root: String
    let files: [String: Data]
    let directories: Set<String>

    init(_ root: String) throws {
        self.root = root
        var files: [String: Data] = [:]
        var directories: Set<String> = []
        let manager = FileManager.default
        for relative in try manager.subpathsOfDirectory(atPath: root) {
            let full = root + "/" + relative
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: full, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue { directories.insert(relative) } else { files[relative] = try Data(contentsOf: URL(fileURLWithPath: full)) }
        }
        self.files = files
        self.directories = directories
    }

    func expectUnchanged(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let now = try? Snapshot(root) else {
            Issue.record("\(what): \(root) is gone", sourceLocation: sourceLocation)
            return
        }
        let added = Set(now.files.keys).subtracting(files.keys).union(now.directories.subtracting(directories)).sorted()
        let removed = Set(files.keys).subtracting(now.files.keys).union(directories.subtracting(now.directories)).sorted()
        let changed = files.keys.filter { now.files[$0] != nil && now.files[$0] != files[$0] }.sorted()
        #expect(added.isEmpty, "\(what): new entries \(added)", sourceLocation: sourceLocation)
        #expect(removed.isEmpty, "\(what): removed \(removed)", sourceLocation: sourceLocation)
        #expect(changed.isEmpty, "\(what): changed \(changed)", sourceLocation: sourceLocation)
    }
}

/// Fills the file system holding `path` to the last byte with one file.
private func fill(_ path: String) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw TestSetupError("cannot create \(path): errno \(errno)") }
    defer { close(descriptor) }
    let chunk = [UInt8](repeating: 0xA5, count: 4096)
    while true {
        let written = chunk.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            guard errno == ENOSPC else { throw TestSetupError("filling \(path): errno \(errno)") }
            break
        }
    }
    // Single bytes into the last partial page.
    var byte: UInt8 = 0xA5
    while write(descriptor, &byte, 1) == 1 {}
}

