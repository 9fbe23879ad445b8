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
}
