import AutoShrinkFormats
import Foundation
import Testing

/// `search --halving` through the command line (docs/algorithm.md §1, "Successive halving").
@Suite struct HalvingCLITests {
    @Test func halvingSearchIsThreadIndependentAndRefusesWorkers() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let options = ["--nodes", "3", "--candidates", "3", "--proxy-per-class", "12", "--validation-per-class", "8",
                       "--epochs", "2", "--batch-size", "32", "--seed", "3", "--halving", "1"]
        var lines: [[String]] = []
        for threads in ["1", "2"] {
            let result = try CLI.run(["search", "--runs-dir", runs, "--name", "t\(threads)", "--threads", threads] + options)
            #expect(result.status == 0, "\(result.stderr)")
            lines.append(try String(contentsOfFile: runs + "/t\(threads)/trajectory.jsonl", encoding: .utf8).split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
                return "\(object["step"] ?? "") \(object["removed_edge"] ?? "") \(object["accuracy"] ?? "") \(object["score"] ?? "") \(object["rung"] ?? "")/\(object["rungs"] ?? "")"
            })
        }
        #expect(!lines[0].isEmpty && lines[0] == lines[1])
        // 3 candidates at step 1: 2 continue past rung 1, 1 is recorded as partial.
        #expect(lines[0].filter { $0.hasPrefix("1 ") && $0.hasSuffix(" 1/2") }.count == 1)
        let refused = try CLI.run(["search", "--runs-dir", runs, "--name", "w", "--workers", "2"] + options)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--halving") && refused.stderr.contains("--workers"))
        #expect(!FileManager.default.fileExists(atPath: runs + "/w"))
    }
}

extension HalvingCLITests {
    @Test func benchRankHalvingMatchesFullTrainingForSurvivors() throws {
        let result = try CLI.run(["bench", "rank", "--samples", "4", "--macro", "8s2-4p1-8p2-16p1", "--halving", "1",
                                  "--full-epochs", "2", "--nodes", "3", "--proxy-per-class", "6", "--validation-per-class", "4",
                                  "--threads", "2", "--seed", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        // Exact continuation: a survivor trained 1 + 1 epochs equals full training's 2 epochs.
        #expect(result.stdout.contains("survivors' accuracy equals full training: yes"))
        // The full 3-edge parent has 3 candidates: 1 dropped after 1 epoch, 2 continue to 2: 5 epochs instead of 6.
        #expect(result.stdout.contains("rung 1/2, 1 epochs") && result.stdout.contains("epochs trained: cheap 5, full 6"))
    }

    @Test func benchSearchPrintsTheBaselineFront() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func entry(_ name: String, _ accuracy: Double, _ latency: Double) -> BaselineFront.Entry {
            BaselineFront.Entry(name: name, family: "refnet", width: 1, architectureHash: name, macs: 1000, parameters: 10,
                                weightBytesInt8: 10, peakActivationBytesInt8: 10, learningRate: 0.01, trials: [],
                                validationAccuracy: nil, engineTestAccuracy: accuracy, floatTestAccuracy: nil, int8TestAccuracy: accuracy,
                                predictedLatencyMilliseconds: nil, latencyMilliseconds: latency, latencyCILowMilliseconds: nil,
                                latencyCIHighMilliseconds: nil, latencyMedianMilliseconds: nil, emulated: false, export: "deploy/\(name)",
                                trainSeconds: 1)
        }
        let front = BaselineFront(autoshrinkVersion: "test", dataset: "fashion-mnist", device: "local", deviceArchitecture: "x86_64", profile: nil,
                                  recipe: .init(epochs: 1, batchSize: 64, optimizer: "sgd", schedule: "cosine", weightDecay: 0, learningRates: [0.1],
                                                searchEpochs: 1, searchTrainPerClass: 1, validationPerClass: 1, trainPerClass: nil, seed: 1),
                                  entries: [entry("small-net", 0.8, 0.01), entry("big-net", 0.9, 0.02)], seconds: 1)
        try JSONEncoder().encode(front).write(to: URL(fileURLWithPath: directory + "/baselines.json"))
        let result = try CLI.run(["bench", "search", "--out", directory + "/bench", "--seeds", "1", "--candidates", "2",
                                  "--macro", "8s2-4p1-8p2-16p1", "--nodes", "3", "--proxy-per-class", "6", "--validation-per-class", "4",
                                  "--epochs", "1", "--threads", "2", "--baselines", directory + "/baselines.json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("small-net") && result.stdout.contains("big-net") && result.stdout.contains("acc - front at its latency"))
        // Without --profile the bests have no latency the front has (measured only): said, not invented.
        #expect(result.stdout.contains("vs baselines: no latency"))
        // A broken file fails before any training.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: directory + "/bad.json"))
        let bad = try CLI.run(["bench", "search", "--out", directory + "/bench2", "--baselines", directory + "/bad.json"])
        #expect(bad.status != 0 && bad.stderr.contains("bad.json"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/bench2"))
    }
}
