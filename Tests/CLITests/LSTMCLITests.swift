import AutoShrinkFormats
import Foundation
import Testing

/// `train --task lm --arch lstm` and `evaluate --task lm` of its checkpoint on a tiny PTB-format corpus
/// (docs/shrinkrnn.md, "LSTM baseline").
@Suite struct LSTMCLITests {
    @Test func trainsAndEvaluatesAnLSTMBaseline() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try LanguageModelCLITests().tinyCorpus(in: directory)
        let train = try CLI.run(["train", "--task", "lm", "--arch", "lstm", "--data-dir", directory, "--embed", "12", "--hidden", "12",
                                 "--bptt", "10", "--batch-size", "8", "--epochs", "6", "--lr", "5", "--dropout-output", "0", "--threads", "1",
                                 "--out", directory + "/lstm", "--json"])
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("1-layer LSTM, embed 12, hidden 12, tied decoder") && train.stdout.contains("epoch   6/6"))
        let summary = try TrainSummary.decodeSummary(Data(train.lastLine.utf8), source: "train --json")
        #expect(summary.architecture == "lstm")
        // (12 + 12) x 48 + 48 LSTM, 11 x 12 tied embedding, 11 decoder biases.
        #expect(summary.parameters == 24 * 48 + 48 + 11 * 12 + 11)
        let valid = try #require(summary.validPerplexity), test = try #require(summary.testPerplexity)
        #expect(valid > 1 && valid < 4 && test > 1 && test < 4, "perplexities \(valid) \(test) (vocabulary of 11)")
        let evaluate = try CLI.run(["evaluate", directory + "/lstm/model.ckpt", "--task", "lm", "--data-dir", directory, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        #expect(evaluate.stdout.contains("1-layer LSTM 12/12"))
        let evaluated = try EvaluateSummary.decodeSummary(Data(evaluate.lastLine.utf8), source: "evaluate --json")
        #expect(abs((evaluated.testPerplexity ?? 0) - test) < 1e-6 * test)
    }

    @Test func matchesTheSizeOfACellModelAndRefusesMisuse() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try LanguageModelCLITests().tinyCorpus(in: directory)
        // The full 3-node cell model at 12/12 tied: (24 x 24) + 2 x (12 x 24) cell weights + 3 x 12 gate biases
        // + 11 x 12 + 11 = 1,331 parameters; the widest tied LSTM not above it: W = 11 (8W² + 15W + 11 = 1,144;
        // 1,343 at W = 12).
        let matched = try CLI.run(["train", "--task", "lm", "--arch", "lstm", "--match-size", "full", "--nodes", "3", "--data-dir", directory,
                                   "--embed", "12", "--hidden", "12", "--bptt", "5", "--batch-size", "8", "--epochs", "1", "--threads", "1",
                                   "--out", directory + "/matched", "--json"])
        #expect(matched.status == 0, "\(matched.stderr)")
        #expect(matched.stdout.contains("full 3-node cell model") && matched.stdout.contains("1331 parameters"))
        let summary = try TrainSummary.decodeSummary(Data(matched.lastLine.utf8), source: "train --json")
        #expect(summary.parameters == 8 * 11 * 11 + 4 * 11 + 11 * 11 + 11)
        // The same cell from a file gives the same LSTM.
        let cellFile = directory + "/full3.rnncell.json"
        try #"{"format": "autoshrink.rnn-cell", "version": 1, "activations": ["tanh", "tanh", "relu"], "edges": [[0, 1], [0, 2], [1, 2]]}"#
            .write(toFile: cellFile, atomically: true, encoding: .utf8)
        let fromFile = try CLI.run(["train", "--task", "lm", "--arch", "lstm", "--match-size", cellFile, "--data-dir", directory,
                                    "--embed", "12", "--hidden", "12", "--bptt", "5", "--batch-size", "8", "--epochs", "1", "--threads", "1",
                                    "--out", directory + "/file", "--json"])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect(try TrainSummary.decodeSummary(Data(fromFile.lastLine.utf8), source: "train --json").parameters == summary.parameters)
        // Misuse: one line each.
        for (arguments, message) in [
            (["train", "--task", "lm", "--arch", "lstm", "--cell", cellFile], "--cell: the cell model's option"),
            (["train", "--task", "lm", "--arch", "lstm", "--gate-bias", "0"], "--gate-bias: the cell model's option"),
            (["train", "--task", "lm", "--arch", "lstm", "--gate-bias", "-1"], "--gate-bias: the cell model's option"),
            (["train", "--task", "lm", "--gate-bias", "nan"], "--gate-bias"),
            (["train", "--task", "lm", "--asgd-start", "0"], "--asgd-start"),
            (["train", "--task", "lm", "--match-size", "full"], "--match-size: sizes an LSTM baseline"),
            (["train", "--match-size", "full"], "--match-size: an option of --task lm --arch lstm"),
            (["train", "--task", "lm", "--arch", "lstm", "--augment"], "--augment: image-classification options"),
            (["train", "--task", "lm", "--arch", "lstm", "--lr", "2000"], "--lr must be greater than 0 and at most 1000"),
            (["train", "--task", "lm", "--arch", "lstm", "--match-size", directory + "/none.json", "--data-dir", directory], "not 'full' and no such file"),
        ] {
            let run = try CLI.run(arguments)
            #expect(run.status != 0 && run.stderr.contains(message), "\(arguments): \(run.stderr)")
        }
    }
}
