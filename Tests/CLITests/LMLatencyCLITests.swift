import AutoShrinkCSources
import AutoShrinkFormats
import AutoShrinkProfiler
import AutoShrinkTarget
import Foundation
import Testing

/// `search --task lm --profile` and `predict X.rnncell.json` with a profile's recurrent section
/// (docs/shrinkrnn.md, "Search" and "Profiling recurrent operators").
@Suite struct LMLatencyCLITests {
    /// A profile of this machine and these kernels (so it is neither stale nor foreign) with a hand-made
    /// recurrent table: time_us = 0.01 * rows * columns + 0.5 for every kernel, the plain table sum as
    /// the fit. `recurrent: false` leaves the section out, as in profiles made before it.
    static func writeProfile(to path: String, recurrent: Bool) throws {
        let grid = RecurrentGrid(widths: [8, 16, 32], vocabularies: [11, 100], meanInputs: [1, 2, 3], maximumDecoderElements: 10_000, models: 0)
        let entries = grid.operators().map { op -> RecurrentEntry in
            let t = 0.01 * Double(op.rows * op.columns) + 0.5
            return RecurrentEntry(operator: op, medianMicroseconds: t, ciLowMicroseconds: t, ciHighMicroseconds: t, p10Microseconds: t,
                                  p90Microseconds: t, rounds: 10, batch: 1)
        }
        let device = try DeviceDescription.resolve(ErrorPathTests.localDevice)
        var profile = DeviceProfile(
            device: ProfileDevice(name: device.name, description: device),
            runtime: ProfileRuntime(hash: RuntimeSources.hash, simdPath: "portable"), environment: .thisMachine(),
            space: ProfileSpace.quick().summary,
            measurement: ProfileMeasurementSettings(repeats: 5, rounds: 1, sampleMicroseconds: 100, outlierRule: "none"),
            entries: [ProfileEntry(configuration: OperatorConfiguration(kind: .linear, dtype: .int8, inputChannels: 16, outputChannels: 10,
                                                                        height: 1, width: 1, stride: 1, kernel: 1, inputs: 1),
                                   medianMicroseconds: 1, p10Microseconds: 1, p90Microseconds: 1, repetitions: 5, batch: 1)],
            networks: [],
            predictor: PredictorSummary(model: "test", dtype: .int8, calibration: .identity, method: "by hand", fitNetworks: 0, heldoutNetworks: 0),
            harness: HarnessSummary(peakRSSBytes: 1 << 20, runs: 1), created: "2026-12-01T00:00:00Z", seconds: 1)
        if recurrent { profile.recurrent = try RecurrentProfiler.assemble(grid: grid, entries: entries, programs: [], seed: 1) }
        try profile.write(to: path)
    }

    static func trajectory(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test func searchRecordsPredictedLatencyPerTokenAndRespectsTheLimit() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try LanguageModelCLITests().tinyCorpus(in: directory)
        let profile = directory + "/profiles/local.json", old = directory + "/profiles/old.json"
        try Self.writeProfile(to: profile, recurrent: true)
        try Self.writeProfile(to: old, recurrent: false)
        let arguments = ["search", "--task", "lm", "--data-dir", directory, "--nodes", "3", "--candidates", "2", "--proxy-hidden", "8",
                         "--proxy-tokens", "2000", "--proxy-batch-size", "8", "--bptt", "10", "--proxy-epochs", "1", "--proxy-lr", "5",
                         "--embed", "16", "--hidden", "16", "--vocabulary", "11", "--runs-dir", directory + "/runs",
                         "--threads", "1", "--profile", profile, "--json"]
        let free = try CLI.run(arguments + ["--name", "free"])
        #expect(free.status == 0, "\(free.stderr)")
        #expect(free.stdout.contains("ms/token"), "\(free.stdout)")
        let records = try Self.trajectory(directory + "/runs/free/trajectory.jsonl")
        let latencies = records.compactMap { $0["latency_ms_per_token"] as? Double }
        #expect(latencies.count == records.count && latencies.allSatisfy { $0 > 0 })
        // The default score term is the latency per token (0.1 per decade), not MACs.
        let config = try String(contentsOfFile: directory + "/runs/free/config.json", encoding: .utf8)
        #expect(config.contains("latency_ms") && config.contains("latency_profile"), "\(config)")
        for record in records {
            let perplexity = try #require(record["valid_perplexity"] as? Double), latency = try #require(record["latency_ms_per_token"] as? Double)
            #expect(abs((record["score"] as? Double ?? 0) - (-log10(perplexity) - 0.1 * log10(latency))) < 1e-6)
        }
        // predict on the best cell gives the latency its record has.
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(free.lastLine.utf8)) as? [String: Any])
        let best = try #require(summary["best_arch"] as? String), bestLatency = try #require(summary["latency_ms_per_token"] as? Double)
        let predicted = try CLI.run(["predict", best, "--profile", profile, "--embed", "16", "--hidden", "16", "--vocabulary", "11", "--json"])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        #expect(predicted.stdout.contains("per token") && predicted.stdout.contains("decoder"), "\(predicted.stdout)")
        let prediction = try PredictSummary.decodeSummary(Data(predicted.lastLine.utf8), source: "predict --json")
        #expect(abs(prediction.latencyMilliseconds - bestLatency) < 1e-9 * bestLatency)

        // A limit between the smallest and the largest candidate: over-limit candidates are infeasible, the
        // best snapshot is within it.
        let sorted = Array(Set(latencies)).sorted()
        try #require(sorted.count >= 2)
        let limit = (sorted[0] + sorted[sorted.count - 1]) / 2
        let limited = try CLI.run(arguments + ["--name", "limited", "--max-latency-ms-per-token", String(limit)])
        #expect(limited.status == 0, "\(limited.stderr)")
        for record in try Self.trajectory(directory + "/runs/limited/trajectory.jsonl") {
            let latency = try #require(record["latency_ms_per_token"] as? Double)
            #expect((record["feasible"] as? Bool) == (latency <= limit), "\(record)")
        }
        let limitedSummary = try #require(try JSONSerialization.jsonObject(with: Data(limited.lastLine.utf8)) as? [String: Any])
        #expect(try #require(limitedSummary["latency_ms_per_token"] as? Double) <= limit)

        // Refusals, one line each: a limit even the cell without edges exceeds, a limit without a profile,
        // a profile without the recurrent section, a stale profile, bad values.
        let impossible = try CLI.run(arguments + ["--name", "impossible", "--max-latency-ms-per-token", String(sorted[0] / 10)])
        #expect(impossible.status != 0 && impossible.stderr.contains("--max-latency-ms-per-token") && impossible.stderr.contains("cannot be met"),
                "\(impossible.stderr)")
        let noProfile = try CLI.run(Array(arguments.dropLast(3)) + ["--json", "--name", "np", "--max-latency-ms-per-token", "1"])
        #expect(noProfile.status != 0 && noProfile.stderr.contains("--max-latency-ms-per-token needs --profile"), "\(noProfile.stderr)")
        var oldArguments = arguments
        oldArguments[oldArguments.firstIndex(of: profile)!] = old
        let missing = try CLI.run(oldArguments + ["--name", "old"])
        #expect(missing.status != 0 && missing.stderr.contains("\(old): profile has no recurrent operators; re-run autoshrink profile"),
                "\(missing.stderr)")
        let missingPredict = try CLI.run(["predict", best, "--profile", old])
        #expect(missingPredict.status != 0 && missingPredict.stderr.contains("profile has no recurrent operators"), "\(missingPredict.stderr)")
        let text = try String(contentsOfFile: profile, encoding: .utf8)
        try text.replacingOccurrences(of: RuntimeSources.hash, with: String(repeating: "0", count: 64))
            .write(toFile: directory + "/profiles/stale.json", atomically: true, encoding: .utf8)
        oldArguments[oldArguments.firstIndex(of: old)!] = directory + "/profiles/stale.json"
        let stale = try CLI.run(oldArguments + ["--name", "stale"])
        #expect(stale.status != 0 && stale.stderr.contains("stale profile"), "\(stale.stderr)")
        for value in ["0", "-1", "nan", "inf"] {
            let bad = try CLI.run(arguments + ["--name", "bad", "--max-latency-ms-per-token", value])
            #expect(bad.status != 0 && bad.stderr.contains("--max-latency-ms-per-token"), "\(value): \(bad.stderr)")
        }
        let imageLimit = try CLI.run(arguments + ["--name", "image", "--max-latency-ms", "1"])
        #expect(imageLimit.status != 0 && imageLimit.stderr.contains("use --max-latency-ms-per-token"), "\(imageLimit.stderr)")
    }
}
