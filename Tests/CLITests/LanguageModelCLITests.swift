import AutoShrinkFormats
import Foundation
import Testing

/// `train --task lm` and `evaluate --task lm` end to end on a tiny PTB-format corpus (docs/shrinkrnn.md).
@Suite struct LanguageModelCLITests {
    /// Sentences of a small grammar (subject verb object), the same distribution in every split.
    func tinyCorpus(in directory: String) throws {
        var state: UInt64 = 7
        func next(_ n: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(n)) }
        let subjects = ["the cat", "a dog", "the bird"], verbs = ["sees", "likes"], objects = ["the fish", "a mouse"]
        func sentences(_ count: Int) -> String {
            (0..<count).map { _ in "\(subjects[next(3)]) \(verbs[next(2)]) \(objects[next(2)])" }.joined(separator: "\n") + "\n"
        }
        try sentences(400).write(toFile: directory + "/ptb.train.txt", atomically: true, encoding: .utf8)
        try sentences(40).write(toFile: directory + "/ptb.valid.txt", atomically: true, encoding: .utf8)
        try ("\n" + sentences(40)).write(toFile: directory + "/ptb.test.txt", atomically: true, encoding: .utf8)
    }

    @Test func trainsSavesAndEvaluatesALanguageModel() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try tinyCorpus(in: directory)
        let train = try CLI.run(["train", "--task", "lm", "--data-dir", directory, "--nodes", "3", "--embed", "12", "--hidden", "12",
                                 "--bptt", "10", "--batch-size", "8", "--epochs", "6", "--lr", "5", "--dropout-output", "0", "--threads", "1",
                                 "--out", directory + "/model", "--json"])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("epoch   6/6"))
        let summary = try TrainSummary.decodeSummary(Data(train.lastLine.utf8), source: "train --json")
        let valid = try #require(summary.validPerplexity), test = try #require(summary.testPerplexity)
        #expect(valid > 1 && valid < 4 && test > 1 && test < 4, "perplexities \(valid) \(test) (vocabulary of 11)")
        #expect(summary.trainTokensPerSecond ?? 0 > 0)
        let evaluate = try CLI.run(["evaluate", directory + "/model/model.ckpt", "--task", "lm", "--data-dir", directory, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let evaluated = try EvaluateSummary.decodeSummary(Data(evaluate.lastLine.utf8), source: "evaluate --json")
        #expect(abs((evaluated.testPerplexity ?? 0) - test) < 1e-6 * test)
        // An image checkpoint path and image options are refused with one line.
        let wrong = try CLI.run(["evaluate", directory + "/model/model.ckpt", "--data-dir", directory])
        #expect(wrong.status != 0 && wrong.stderr.split(separator: "\n").count == 1)
        let mixed = try CLI.run(["train", "--task", "lm", "--data-dir", directory, "--augment"])
        #expect(mixed.status != 0 && mixed.stderr.contains("--augment: image-classification options"))
        let corrupt = try CLI.run(["evaluate", directory + "/ptb.train.txt", "--task", "lm", "--data-dir", directory])
        #expect(corrupt.status != 0 && corrupt.stderr.contains("not an autoshrink language-model checkpoint"))
    }

    /// `search --task lm` end to end (docs/shrinkrnn.md, "Search"): run, the --json keys of a CNN search,
    /// `info` of the best cell, a finished run resumed, image-search options refused.
    @Test func searchesAnRNNCellAndDrawsIt() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try tinyCorpus(in: directory)
        let arguments = ["search", "--task", "lm", "--data-dir", directory, "--nodes", "3", "--candidates", "2", "--proxy-hidden", "8",
                         "--proxy-tokens", "2000", "--proxy-batch-size", "8", "--bptt", "10", "--proxy-epochs", "2", "--proxy-lr", "5",
                         "--embed", "16", "--hidden", "16", "--vocabulary", "11", "--runs-dir", directory + "/runs", "--name", "lm",
                         "--threads", "1", "--json"]
        let search = try CLI.run(arguments)
        #expect(search.status == 0, "\(search.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(search.lastLine.utf8)) as? [String: Any])
        for key in ["best_arch", "best_score", "valid_perplexity", "macs", "params", "seconds", "candidates_trained", "steps", "run_directory"] {
            #expect(object[key] != nil, "\(key)")
        }
        let best = try #require(object["best_arch"] as? String)
        #expect(best.hasSuffix("best.rnncell.json") && FileManager.default.fileExists(atPath: best))
        let perplexity = try #require(object["valid_perplexity"] as? Double)
        #expect(perplexity > 1 && perplexity < 11)
        let info = try CLI.run(["info", best])
        #expect(info.status == 0 && info.stdout.contains("node 0  tanh      <- x_t, h_{t-1}") && info.stdout.contains("h_t = "), "\(info.stdout)")
        let dot = try CLI.run(["info", best, "--dot"])
        #expect(dot.status == 0 && dot.stdout.contains("digraph rnncell") && dot.stdout.contains("x -> n0;"))
        try Data("{\"format\": \"autoshrink.rnn-cell\", \"version\": 1, \"activations\": [\"tanh\"], \"edges\": [[0, 1]]}".utf8)
            .write(to: URL(fileURLWithPath: directory + "/bad.rnncell.json"))
        let bad = try CLI.run(["info", directory + "/bad.rnncell.json"])
        #expect(bad.status != 0 && bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
        let resumed = try CLI.run(arguments + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let again = try #require(try JSONSerialization.jsonObject(with: Data(resumed.lastLine.utf8)) as? [String: Any])
        #expect(again["candidates_trained_this_session"] as? Int == 0 && again["best_score"] as? Double == object["best_score"] as? Double)
        let refused = try CLI.run(["search", "--task", "lm", "--data-dir", directory, "--inherit"])
        #expect(refused.status != 0 && refused.stderr.contains("--inherit: image-search options"))
        let limit = try CLI.run(arguments + ["--name", "limited", "--max-macs", "10"])
        #expect(limit.status != 0 && limit.stderr.contains("--max-macs 10 cannot be met"), "\(limit.stderr)")
    }
}
