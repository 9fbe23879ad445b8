import Foundation
import Testing

/// The `autoshrink` command line as a user meets it.
@Suite struct CLITests {
    @Test(arguments: [
        ["train", "--epochs", "0"],
        ["train", "--optimizer", "sgdd"],
        ["train", "--batch-size", "-3"],
        ["search", "--nodes", "1"],
        ["search", "--term", "macs:abc:0.1"],
        ["search", "--max-latency-ms", "1"],
        ["frobnicate"],
        ["info"],
    ])
    func wrongArgumentsGiveAShortErrorAndUsage(_ arguments: [String]) throws {
        let result = try CLI.run(arguments)
        #expect(result.status != 0, "\(arguments) exited 0")
        let firstLine = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.hasPrefix("Error:"), "\(arguments): \(result.stderr)")
        #expect(result.stderr.contains("Usage:") || result.stderr.contains("Help:"), "\(arguments): no usage in \(result.stderr)")
    }

    @Test func infoPrintsCostsAndJSON() throws {
        let result = try CLI.run(["info", "refnet", "--json"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("stem1"))
        #expect(result.json["macs"] as? Int == 1_904_832)
        #expect(result.json["params"] as? Int == 17_818)
        let dot = try CLI.run(["info", "shrinkcnn-full", "--dot"])
        #expect(dot.status == 0 && dot.stdout.hasPrefix("digraph"))
        let missing = try CLI.run(["info", "/nonexistent/x.arch.json"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/x.arch.json"))
    }

    @Test(.enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
    func trainEvaluateRoundTrip() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let train = try CLI.run(["train", "--epochs", "2", "--train-per-class", "200", "--validation-per-class", "20",
                                 "--batch-size", "32", "--out", directory + "/model", "--json", "--threads", "2"])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("epoch   2/2"))
        let summary = train.json
        let accuracy = try #require(summary["test_accuracy"] as? Double)
        #expect(accuracy > 0.55 && accuracy <= 1, "2,000 images, 2 epochs: test accuracy \(accuracy)")
        #expect((summary["train_images_per_second"] as? Double ?? 0) > 0)
        #expect(summary["epochs"] as? Int == 2)
        let checkpoint = try #require(summary["checkpoint"] as? String)
        let evaluate = try CLI.run(["evaluate", checkpoint, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        #expect(evaluate.json["test_accuracy"] as? Double == accuracy)
        // A corrupt checkpoint is a one-line error, not a crash.
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: directory + "/bad.ckpt"))
        let bad = try CLI.run(["evaluate", directory + "/bad.ckpt"])
        #expect(bad.status != 0 && bad.stderr.contains("bad magic"))
        #expect(bad.stderr.split(separator: "\n").count <= 2)
    }

    @Test(.enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
    func missingDatasetIsAOneLineError() throws {
        let result = try CLI.run(["train", "--data-dir", "/nonexistent/data", "--epochs", "1"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("/nonexistent/data"), "\(result.stderr)")
    }

    @Test func benchPrintsThroughput() throws {
        let result = try CLI.run(["bench", "train", "--batch-size", "8", "--repeats", "1", "--steps", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect((result.json["train_images_per_second"] as? Double ?? 0) > 0)
        #expect((result.json["infer_images_per_second"] as? Double ?? 0) > 0)
    }
}
