import AutoShrinkEngine
import Foundation
import Testing

/// End-to-end searches with real training on a tiny Fashion-MNIST proxy.
@Suite(.serialized, .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
struct SearchCLITests {
    static let tiny = ["--nodes", "4", "--candidates", "2", "--proxy-per-class", "12", "--validation-per-class", "8",
                       "--epochs", "1", "--batch-size", "32", "--threads", "2", "--seed", "3"]

    @Test func tinySearchEndToEnd() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let result = try CLI.run(["search", "--runs-dir", runs, "--name", "tiny", "--json"] + Self.tiny)
        #expect(result.status == 0, "\(result.stderr)")
        let summary = result.json
        let best = try #require(summary["best_arch"] as? String)
        #expect(FileManager.default.fileExists(atPath: best))
        #expect((summary["candidates_trained"] as? Int ?? 0) >= 5)
        for key in ["best_accuracy", "best_score", "macs", "params", "peak_activation_bytes", "seconds"] {
            #expect(summary[key] != nil && !(summary[key] is NSNull), "missing \(key)")
        }
        let trajectory = try String(contentsOfFile: runs + "/tiny/trajectory.jsonl", encoding: .utf8)
        #expect(trajectory.split(separator: "\n").count == summary["candidates_trained"] as? Int)
        let info = try CLI.run(["info", best, "--json"])
        #expect(info.status == 0 && (info.json["macs"] as? Int ?? 0) > 0)

        // The HTML report renders in headless Chromium: no script errors, a non-empty page.
        let report = try CLI.run(["report", runs + "/tiny", "--json"])
        #expect(report.status == 0, "\(report.stderr)")
        let page = try #require(report.json["report"] as? String)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("Chosen cell"))
        try Self.renderInChromium(page)
    }

    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Loads the page in headless Chromium, dumps the DOM and a screenshot; fails on console
    /// errors, an empty body or a blank screenshot.
    static func renderInChromium(_ page: String) throws {
        guard let chromium else {
            Issue.record("chromium is not installed: run tools/setup (Debian package chromium) to render the report")
            return
        }
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        let screenshot = directory + "/report.png"
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(directory)/profile",
                             "--enable-logging=stderr", "--v=0", "--window-size=1100,2000",
                             "--screenshot=\(screenshot)", "file://" + page]
        let log = directory + "/chromium.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        process.waitUntilExit()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "chromium failed: \(output.suffix(400))")
        let consoleErrors = output.split(separator: "\n").filter { $0.contains("CONSOLE") || $0.contains("Uncaught") }
        #expect(consoleErrors.isEmpty, "script errors: \(consoleErrors)")
        let png = FileManager.default.contents(atPath: screenshot) ?? Data()
        #expect(png.count > 20_000, "screenshot of \(png.count) bytes looks blank")
    }

    @Test func impossibleConstraintIsRefusedBeforeTraining() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let result = try CLI.run(["search", "--runs-dir", runs, "--name", "impossible", "--max-macs", "1000"] + Self.tiny)
        #expect(result.status != 0)
        #expect(result.stderr.contains("--max-macs") && result.stderr.contains("cannot be met"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runs + "/impossible/trajectory.jsonl"))
    }

    /// OpenBLAS core types this CPU can run: the thread-independence promise must hold for each,
    /// since their kernels differ in how a call's shape changes the order of the sums.
    static var runnableCoreTypes: [String] {
        let flags = BLASConfiguration.cpuFlags()
        var cores: [String] = []
        if flags.isSuperset(of: ["avx2", "fma"]) { cores.append("Haswell") }
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) { cores.append("SkylakeX") }
        return cores
    }

    /// The same seed gives the same weights, trajectory and best architecture with 1 and 2 threads, for
    /// every OpenBLAS core type this CPU runs (docs/architecture.md, "Threads").
    @Test func searchIsThreadIndependent() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let options = ["--nodes", "3", "--candidates", "2", "--proxy-per-class", "12", "--validation-per-class", "8",
                       "--epochs", "1", "--batch-size", "32", "--seed", "3"]
        for core in Self.runnableCoreTypes {
            var lines: [[String]] = []
            var best: [String] = []
            for threads in ["1", "2"] {
                let name = "\(core)-\(threads)"
                let result = try CLI.run(["search", "--runs-dir", runs, "--name", name, "--threads", threads] + options,
                                         environment: ["OPENBLAS_CORETYPE": core])
                #expect(result.status == 0, "\(result.stderr)")
                lines.append(try String(contentsOfFile: runs + "/\(name)/trajectory.jsonl", encoding: .utf8)
                    .split(separator: "\n").map { line in
                        // Everything but the timing fields.
                        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
                        return "\(object["step"] ?? "") \(object["removed_edge"] ?? "") \(object["accuracy"] ?? "") \(object["loss"] ?? "") \(object["score"] ?? "")"
                    })
                best.append(try String(contentsOfFile: runs + "/\(name)/best.arch.json", encoding: .utf8))
            }
            #expect(!lines[0].isEmpty)
            // Training is the sensitive check: one differing sum anywhere changes the weights' bits.
            var checkpoints: [Data] = []
            for threads in ["1", "2"] {
                let out = runs + "/train-\(core)-\(threads)"
                let result = try CLI.run(["train", "--epochs", "1", "--train-per-class", "20", "--validation-per-class", "5",
                                          "--threads", threads, "--out", out, "--quiet"], environment: ["OPENBLAS_CORETYPE": core])
                #expect(result.status == 0, "\(result.stderr)")
                checkpoints.append(try Data(contentsOf: URL(fileURLWithPath: out + "/model.ckpt")))
            }
            #expect(checkpoints[0] == checkpoints[1], "OpenBLAS \(core): trained weights differ between 1 and 2 threads")
            #expect(lines[0] == lines[1], "OpenBLAS \(core): trajectories differ between 1 and 2 threads")
            #expect(best[0] == best[1], "OpenBLAS \(core): best architectures differ between 1 and 2 threads")
        }
    }

    /// SIGKILL mid-run, resume, and compare with an uninterrupted run of the same seed.
    @Test func killedSearchResumesToTheSameResult() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let reference = try CLI.run(["search", "--runs-dir", runs, "--name", "whole"] + Self.tiny)
        #expect(reference.status == 0, "\(reference.stderr)")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["search", "--runs-dir", runs, "--name", "killed", "--quiet"] + Self.tiny
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let trajectory = runs + "/killed/trajectory.jsonl"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let lines = (try? String(contentsOfFile: trajectory, encoding: .utf8))?.split(separator: "\n").count ?? 0
            if lines >= 3 || !process.isRunning { break }
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()

        let resumed = try CLI.run(["search", "--runs-dir", runs, "--name", "killed", "--resume"] + Self.tiny)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let expected = try String(contentsOfFile: runs + "/whole/best.arch.json", encoding: .utf8)
        let actual = try String(contentsOfFile: runs + "/killed/best.arch.json", encoding: .utf8)
        // The architecture name embeds the run's name-independent step, so the files must be identical.
        #expect(actual == expected)
        func accuracies(_ run: String) throws -> [String] {
            try String(contentsOfFile: runs + "/\(run)/trajectory.jsonl", encoding: .utf8).split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
                return "\(object["step"] ?? "") \(object["removed_edge"] ?? "") \(object["accuracy"] ?? "") \(object["score"] ?? "")"
            }
        }
        #expect(try accuracies("killed") == accuracies("whole"))
    }
}
