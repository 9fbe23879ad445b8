import AutoShrinkFormats
import Foundation
import Testing

/// `deploy` and `report` of the language-model path end to end (docs/shrinkrnn.md, "Deploy" and
/// "Report"): a tiny model trained on the generated corpus of `LanguageModelCLITests`, exported for
/// `local`, deployed to `local` and (rebuilt with the cross compiler) to `qemu-aarch64-a72`.
@Suite struct LMDeployCLITests {
    /// The trained and exported tiny model, made once for the suite.
    struct Fixture: Sendable {
        var directory: String
        var export: String
        /// The export's `--json` line.
        var manifest: [String: Double]
    }

    static let fixture: Result<Fixture, any Error> = Result {
        let directory = try CLI.temporaryDirectory()
        try LanguageModelCLITests().tinyCorpus(in: directory)
        let train = try CLI.run(["train", "--task", "lm", "--data-dir", directory, "--nodes", "3", "--embed", "12", "--hidden", "12",
                                 "--bptt", "10", "--batch-size", "8", "--epochs", "2", "--lr", "5", "--threads", "1",
                                 "--out", directory + "/model", "--quiet"])
        guard train.status == 0 else { throw CLIFailure("train: \(train.stderr)") }
        let export = try CLI.run(["export", directory + "/model/model.ckpt", "--device", "local", "--data-dir", directory,
                                  "--test-tokens", "300", "--bench-runs", "20", "--out", directory + "/deploy/lm", "--json"])
        guard export.status == 0 else { throw CLIFailure("export: \(export.stderr)") }
        var figures: [String: Double] = [:]
        for (key, value) in export.json { if let number = value as? Double { figures[key] = number } }
        return Fixture(directory: directory, export: directory + "/deploy/lm", manifest: figures)
    }

    struct CLIFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static let hasAArch64 = ["/usr/bin/aarch64-linux-gnu-gcc", "/usr/bin/qemu-aarch64"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
        && FileManager.default.fileExists(atPath: "/usr/aarch64-linux-gnu/lib")

    @Test("deploy a language-model export to local: the export's perplexity on the same tokens, latency per token")
    func deploysLocally() throws {
        let fixture = try Self.fixture.get()
        let deploy = try CLI.run(["deploy", fixture.export, "--device", "local", "--data-dir", fixture.directory, "--bench-runs", "20", "--json"])
        #expect(deploy.status == 0, "\(deploy.stderr)")
        #expect(deploy.stdout.contains("latency       per token: estimate"), "\(deploy.stdout)")
        let json = deploy.json
        for key in ["device", "arch", "binary", "rebuilt", "precision", "tokens", "test_perplexity", "test_accuracy", "export_perplexity",
                    "perplexity_difference", "perplexity_matches_export", "latency", "measured_latency_ms", "measured_latency_p90_ms",
                    "bench_runs", "simd", "emulated", "predicted_latency_ms", "prediction_note", "peak_rss_kib"] {
            #expect(json[key] != nil, "missing key \(key)")
        }
        // The tiny test split has fewer than the 300 tokens asked for: the export read all of them, and so does deploy.
        let tokens = try #require(fixture.manifest["test_tokens"])
        #expect(json["tokens"] as? Int == Int(tokens) && json["rebuilt"] as? Bool == false && json["emulated"] as? Bool == false)
        // The same binary on the same tokens on the same machine: the export's perplexity exactly.
        let perplexity = try #require(json["test_perplexity"] as? Double)
        let exported = try #require(fixture.manifest["test_perplexity"])
        #expect(perplexity == exported, "deploy \(perplexity), export \(exported)")
        #expect(json["perplexity_matches_export"] as? Bool == true && json["perplexity_difference"] as? Double == 0)
        let latency = try #require(json["latency"] as? [String: Any])
        #expect((latency["estimate_ms"] as? Double ?? 0) > 0 && (json["measured_latency_ms"] as? Double ?? 0) > 0)
        // --bench-runs 20 lasts at least BENCH_MIN_SECONDS (harness_cli.h): up to 100x the runs.
        #expect((20...2000).contains(json["bench_runs"] as? Int ?? 0))
        // Another prefix: scored, not compared with the export's figure.
        let shorter = try CLI.run(["deploy", fixture.export, "--device", "local", "--data-dir", fixture.directory, "--test-tokens", "100",
                                   "--bench-runs", "5", "--json"])
        #expect(shorter.status == 0, "\(shorter.stderr)")
        #expect(shorter.json["tokens"] as? Int == 100 && shorter.json["perplexity_matches_export"] is NSNull)
        #expect(shorter.stdout.contains("not compared"))
        // --profiles: the per-token prediction from the profile's recurrent section; a profile without it gives a note.
        let profiles = fixture.directory + "/profiles-deploy"
        try FileManager.default.createDirectory(atPath: profiles + "/without", withIntermediateDirectories: true)
        try LMLatencyCLITests.writeProfile(to: profiles + "/local.json", recurrent: true)
        try LMLatencyCLITests.writeProfile(to: profiles + "/without/local.json", recurrent: false)
        let predicted = try CLI.run(["deploy", fixture.export, "--device", "local", "--data-dir", fixture.directory, "--test-tokens", "100",
                                     "--bench-runs", "5", "--profiles", profiles, "--json"])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        #expect((predicted.json["predicted_latency_ms"] as? Double ?? 0) > 0 && predicted.json["prediction_note"] is NSNull, "\(predicted.json)")
        #expect(predicted.stdout.contains("ms per token (float32) from \(profiles)/local.json"), "\(predicted.stdout)")
        let without = try CLI.run(["deploy", fixture.export, "--device", "local", "--data-dir", fixture.directory, "--test-tokens", "100",
                                   "--bench-runs", "5", "--profiles", profiles + "/without", "--json"])
        #expect(without.status == 0 && without.json["predicted_latency_ms"] is NSNull, "\(without.stderr)")
        #expect((without.json["prediction_note"] as? String ?? "").contains("profile has no recurrent operators"), "\(without.json)")
    }

    @Test("deploy to qemu-aarch64-a72: rebuilt with the cross compiler, the same perplexity within the export's tolerance",
          .enabled(if: LMDeployCLITests.hasAArch64, "aarch64-linux-gnu-gcc or qemu-aarch64 missing (tools/setup)"))
    func deploysToEmulatedAArch64() throws {
        let fixture = try Self.fixture.get()
        let deploy = try CLI.run(["deploy", fixture.export, "--device", "qemu-aarch64-a72", "--data-dir", fixture.directory,
                                  "--bench-runs", "5", "--json"])
        #expect(deploy.status == 0, "\(deploy.stderr)")
        let json = deploy.json
        #expect(json["rebuilt"] as? Bool == true && json["emulated"] as? Bool == true && json["arch"] as? String == "aarch64")
        #expect(json["perplexity_matches_export"] as? Bool == true, "difference \(json["perplexity_difference"] ?? "-")")
        #expect((json["simd"] as? String ?? "").hasPrefix("aarch64"))
        #expect(deploy.stdout.contains("[emulated: not a hardware figure]"))
    }

    @Test("deploy errors: missing folder, no export.json, another format, image options, another vocabulary")
    func deployErrors() throws {
        let fixture = try Self.fixture.get()
        let scratch = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        func failure(_ arguments: [String], mentions: [String]) throws {
            let result = try CLI.run(["deploy"] + arguments)
            #expect(result.status != 0, "\(arguments) succeeded")
            #expect(result.stderr.split(separator: "\n").count == 1, "not one line: \(result.stderr)")
            for text in mentions { #expect(result.stderr.contains(text), "\(arguments): \(result.stderr)") }
        }
        try failure([scratch + "/missing"], mentions: ["no such export directory"])
        try failure([scratch], mentions: ["not an export directory (no export.json)"])
        try Data("{\"format\": \"autoshrink.profile\", \"version\": 1}\n".utf8).write(to: URL(fileURLWithPath: scratch + "/export.json"))
        try failure([scratch], mentions: ["not an autoshrink export", "'autoshrink.profile'"])
        // An image export given language-model options, and the other way round.
        try Data("{\"format\": \"autoshrink.export\", \"version\": 1}\n".utf8).write(to: URL(fileURLWithPath: scratch + "/export.json"))
        try failure([scratch, "--test-tokens", "50"], mentions: ["--test-tokens: a language-model option", "image-classifier export"])
        try failure([fixture.export, "--images", "10"], mentions: ["--images: image-deploy options"])
        // A corpus with another vocabulary than the model's.
        let other = scratch + "/other-corpus"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        for split in ["train", "valid", "test"] {
            try Data("one two three four\nfive six seven\n".utf8).write(to: URL(fileURLWithPath: "\(other)/ptb.\(split).txt"))
        }
        try failure([fixture.export, "--data-dir", other], mentions: ["vocab.txt: the export's vocabulary", "give its --data-dir"])
        // An unreachable SSH device fails at once with one line.
        let device = scratch + "/unreachable.toml"
        try Data("""
            name = "unreachable"
            arch = "x86_64"
            threads = 1
            [compiler]
            cc = "gcc"
            flags = ["-O2"]
            [runner]
            kind = "ssh"
            host = "127.0.0.1"
            port = 1
            remote_dir = "/tmp/autoshrink-unreachable"
            ssh_options = ["-o", "ConnectTimeout=3", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
            """.utf8).write(to: URL(fileURLWithPath: device))
        let started = Date()
        try failure([fixture.export, "--device", device, "--data-dir", fixture.directory, "--bench-runs", "5"],
                    mentions: ["device unreachable", "cannot reach 127.0.0.1:1"])
        #expect(Date().timeIntervalSince(started) < 10, "deploy took \(Date().timeIntervalSince(started)) s to find a closed port")
    }

    @Test("report of an LM search run, with the LM export's figures; image-only options and exports refused")
    func reportsALanguageModelRun() throws {
        let fixture = try Self.fixture.get()
        let runs = fixture.directory + "/runs-\(UUID().uuidString.prefix(8))"
        let search = try CLI.run(["search", "--task", "lm", "--data-dir", fixture.directory, "--nodes", "3", "--candidates", "2",
                                  "--proxy-hidden", "8", "--proxy-tokens", "2000", "--proxy-batch-size", "8", "--bptt", "10",
                                  "--proxy-lr", "5", "--embed", "16", "--hidden", "16", "--vocabulary", "11", "--runs-dir", runs,
                                  "--name", "lm", "--threads", "1", "--quiet"])
        try #require(search.status == 0, "\(search.stderr)")
        let run = runs + "/lm"
        let report = try CLI.run(["report", run, "--export", fixture.export, "--json"])
        #expect(report.status == 0, "\(report.stderr)")
        let path = try #require(report.json["report"] as? String)
        let html = try String(contentsOfFile: path, encoding: .utf8)
        let records = try String(contentsOfFile: run + "/trajectory.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(report.json["candidates"] as? Int == records.count)
        #expect(html.contains("language-model search") && html.contains("edges left vs validation perplexity"))
        #expect(html.contains("<svg class=\"cell\"") && html.contains("node 0  tanh      &lt;- x_t, h_{t-1}"))
        // Every winner's perplexity is in the step table; the export's figures are shown.
        let first = try #require(try JSONSerialization.jsonObject(with: Data(records[0].utf8)) as? [String: Any])
        #expect(html.contains(String(format: "%.2f", try #require(first["valid_perplexity"] as? Double))) || records.count > 1)
        let float = try #require(fixture.manifest["float_perplexity"]), int8 = try #require(fixture.manifest["int8_perplexity"])
        #expect(html.contains(String(format: "%.3f", float)) && html.contains(String(format: "%.3f", int8)))
        #expect(html.contains("latency per token, float32") && html.contains("latency per token, int8"))
        #expect(html.contains("median time of each operator"))
        // Image-report options, and an image export for a language-model run, are one-line errors.
        let profile = try CLI.run(["report", run, "--profile", "profiles/local.json"])
        #expect(profile.status != 0 && profile.stderr.contains("--profile: image-report options"), "\(profile.stderr)")
        let image = fixture.directory + "/image-export"
        try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
        try Data("{\"format\": \"autoshrink.export\", \"version\": 1}\n".utf8).write(to: URL(fileURLWithPath: image + "/export.json"))
        let wrong = try CLI.run(["report", run, "--export", image])
        #expect(wrong.status != 0 && wrong.stderr.contains("an image-classifier export") && wrong.stderr.split(separator: "\n").count == 1,
                "\(wrong.stderr)")
        // And a language-model export for an image run (a tiny image search, about 2 s).
        guard CLI.fashionMNISTPresent else { return }
        let imageSearch = try CLI.run(["search", "--runs-dir", runs, "--name", "image", "--nodes", "3", "--candidates", "1",
                                       "--proxy-per-class", "5", "--validation-per-class", "5", "--epochs", "1", "--batch-size", "32",
                                       "--threads", "2", "--quiet"])
        try #require(imageSearch.status == 0, "\(imageSearch.stderr)")
        let mixed = try CLI.run(["report", runs + "/image", "--export", fixture.export])
        #expect(mixed.status != 0 && mixed.stderr.contains("a language-model export, and") && mixed.stderr.split(separator: "\n").count == 1,
                "\(mixed.stderr)")
    }
}
