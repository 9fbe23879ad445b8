import ArgumentParser
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import Foundation

/// What `train` / `evaluate` work on: image classification (the default) or word-level language
/// modelling with a recurrent cell (docs/shrinkrnn.md).
enum TrainingTask: String, CaseIterable, ExpressibleByArgument {
    case classify, lm
}

/// Options of `train --task lm` (docs/shrinkrnn.md, "Training recipe").
struct LanguageModelOptions: ParsableArguments {
    @Option(help: "--task lm: the RNN cell: 'full' (fully connected, --nodes nodes) or an *.rnncell.json file.")
    var cell: String = "full"
    @Option(parsing: .unconditional, help: "--task lm: nodes of the 'full' cell.") var nodes: Int = 8
    @Option(parsing: .unconditional, help: "--task lm: embedding width.") var embed: Int = 200
    @Option(parsing: .unconditional, help: "--task lm: hidden-state width.") var hidden: Int = 200
    @Option(parsing: .unconditional, help: "--task lm: truncated-BPTT length (time steps per segment).") var bptt: Int = 35
    @Option(parsing: .unconditional, help: "--task lm: gradient-norm clipping bound.") var clip: Float = 0.25
    @Option(parsing: .unconditional, help: "--task lm: dropout on the embedded input (variational).") var dropoutInput: Float = 0.2
    @Option(parsing: .unconditional, help: "--task lm: dropout on the recurrent state and node inputs (variational).") var dropoutHidden: Float = 0.1
    @Option(parsing: .unconditional, help: "--task lm: dropout on the output before the decoder (variational).") var dropoutOutput: Float = 0.3
    @Flag(help: "--task lm: separate decoder weights (default: tied to the embedding when --embed equals --hidden).") var untied = false
    @Option(parsing: .unconditional, help: "--task lm: vocabulary size (most frequent training words).") var vocabulary: Int = 10_000
    @Option(parsing: .unconditional, help: "--task lm: train on only the first N training tokens (default: all).") var trainTokens: Int?
    @Option(parsing: .unconditional, help: "--task lm: initial gate bias of every cell node, c = sigmoid(c_pre + b) (negative: nodes start out carrying their input; default \(LanguageModel.defaultGateBias); docs/shrinkrnn.md).")
    var gateBias: Float?
    @Option(parsing: .unconditional, help: "--task lm: average the weights from this epoch on instead of NT-ASGD's trigger (the same schedule for models compared).")
    var asgdStart: Int?

    func validate() throws {
        try OptionCheck.integer(nodes, "--nodes", in: 1...RNNCell.maximumNodes)
        try OptionCheck.integer(embed, "--embed", in: 1...LanguageModelShape.maximumWidth)
        try OptionCheck.integer(hidden, "--hidden", in: 1...LanguageModelShape.maximumWidth)
        try OptionCheck.integer(bptt, "--bptt", in: 1...10_000)
        try OptionCheck.finite(clip, "--clip", in: 0...1000)
        try OptionCheck.finite(dropoutInput, "--dropout-input", in: 0...0.95)
        try OptionCheck.finite(dropoutHidden, "--dropout-hidden", in: 0...0.95)
        try OptionCheck.finite(dropoutOutput, "--dropout-output", in: 0...0.95)
        try OptionCheck.integer(vocabulary, "--vocabulary", in: 3...Vocabulary.maximumSize)
        if let trainTokens { try OptionCheck.integer(trainTokens, "--train-tokens", in: 2...Int(Int32.max)) }
        if let gateBias { try OptionCheck.finite(gateBias, "--gate-bias", in: -20...20) }
        if let asgdStart { try OptionCheck.integer(asgdStart, "--asgd-start", in: 1...100_000) }
    }

    func resolveCell() throws -> RNNCell {
        if cell == "full" { return .fullyConnected(nodes: nodes) }
        guard FileManager.default.fileExists(atPath: cell) else {
            throw ValidationError("--cell '\(cell)': not 'full' and no such file")
        }
        return try RNNCell.loadDocument(path: cell)
    }
}

enum LanguageModelCommands {
    /// `train --task lm`: options of image training that do not apply are refused, not ignored.
    static func refuseClassifierOptions(_ command: TrainCommand) throws {
        var given: [String] = []
        if command.arch != "refnet" { given.append("--arch") }
        if command.data.dataset != .fashionMNIST { given.append("--dataset") }
        if command.optimizer != .sgd { given.append("--optimizer") }
        if command.weightDecay != 5e-5 { given.append("--weight-decay") }
        if command.schedule != .cosine { given.append("--schedule") }
        if command.warmupEpochs != 0.5 { given.append("--warmup-epochs") }
        if command.validationPerClass != 50 { given.append("--validation-per-class") }
        if command.trainPerClass != nil { given.append("--train-per-class") }
        if command.augment { given.append("--augment") }
        guard given.isEmpty else {
            throw ValidationError("\(given.joined(separator: ", ")): image-classification options; --task lm takes --cell, --nodes, --embed, --hidden, --bptt ... (docs/shrinkrnn.md)")
        }
    }

    /// Loads a corpus; one-line errors.
    static func corpus(directory: String?, vocabulary: Int) throws -> TextCorpus {
        do { return try LanguageCorpusLoader.load(directory: directory, vocabularyLimit: vocabulary) } catch { throw CLIError(error.description) }
    }

    /// Refuses a model whose engine buffers would not fit in memory.
    static func checkFits(cell: RNNCell, shape: LanguageModelShape, steps: Int, batch: Int, purpose: String) throws {
        let bytes = Double(LanguageModel.bufferFloats(cell: cell, shape: shape, steps: steps, batch: batch)) * 4
            + Double(LanguageModelCost(cell: cell, shape: shape).parameters) * 4 * 5
        let memory = Architecture.availableMemoryBytes()
        guard bytes <= memory * 0.9 else {
            throw CLIError(String(format: "%@ needs about %.1f GB at batch %d, bptt %d, more than 90 %% of the %.1f GB of memory available; use a smaller --batch-size, --bptt or model",
                                  purpose, bytes / 1e9, batch, steps, memory / 1e9))
        }
    }

    /// The corpus of `train --task lm` and its training tokens (the first `--train-tokens` or all),
    /// refused when too few for one segment per sequence of the batch.
    static func trainingCorpus(_ command: TrainCommand) throws -> (corpus: TextCorpus, train: [Int32]) {
        let corpus = try self.corpus(directory: command.data.dataDir, vocabulary: command.lm.vocabulary)
        let train = command.lm.trainTokens.map { Array(corpus.train.prefix($0)) } ?? corpus.train
        guard train.count >= 2 * command.batchSize else {
            throw CLIError("\(corpus.name): \(train.count) training tokens are too few for --batch-size \(command.batchSize)")
        }
        return (corpus, train)
    }

    static func train(_ command: TrainCommand) throws {
        let out = Output(options: command.output)
        let options = command.lm
        let start = DispatchTime.now()
        let context = command.engine.makeContext(output: out)
        let cell = try options.resolveCell()
        let (corpus, train) = try trainingCorpus(command)
        let tied = !options.untied && options.embed == options.hidden
        let shape = LanguageModelShape(vocabulary: corpus.vocabulary.count, embed: options.embed, hidden: options.hidden, tied: tied)
        try shape.validate(source: "--task lm")
        try checkFits(cell: cell, shape: shape, steps: options.bptt, batch: command.batchSize, purpose: "training")
        let directory = command.out ?? "runs/train-lm"
        try WritableCheck.directory(directory, option: command.out == nil ? "output folder" : "--out")
        let model = LanguageModel(cell: cell, shape: shape, context: context, seed: command.engine.seed, gateBias: options.gateBias ?? LanguageModel.defaultGateBias)
        let cost = LanguageModelCost(cell: cell, shape: shape)
        out.heading("""
            autoshrink train --task lm
              corpus        \(corpusLine(corpus, train: train, trainTokens: options.trainTokens))
              cell          \(options.cell == "full" ? "full" : options.cell) [\(cell.stableHash)] \(cell.summary)
              model         embed \(options.embed), hidden \(options.hidden), \(tied ? "tied" : "untied") decoder; \(ArchitectureSummary.scaled(Double(cost.macsPerToken))) MACs/token (cell \(ArchitectureSummary.scaled(Double(cost.cellMACs)))), \(cost.parameters) parameters (cell \(cost.cellParameters))
            """)
        try fitAndWrite(model, command: command, corpus: corpus, train: train, directory: directory,
                        architecture: "rnn-cell", architectureHash: cell.stableHash, out: out, start: start)
    }

    /// The corpus line of the `train --task lm` heading.
    static func corpusLine(_ corpus: TextCorpus, train: [Int32], trainTokens: Int?) -> String {
        "\(corpus.name): \(train.count) train\(trainTokens != nil ? " (of \(corpus.train.count))" : ""), \(corpus.valid.count) valid, \(corpus.test.count) test tokens, vocabulary \(corpus.vocabulary.count), <unk> \(String(format: "%.1f", 100 * corpus.unknownShare(train))) % of train"
    }

    /// What `train --task lm` does once the model is built, for the cell model and the LSTM alike
    /// (docs/shrinkrnn.md, "Training recipe"): prints the training, engine and output lines after the
    /// caller's heading, fits with `LMTrainer`, tests, writes `model.ckpt` and `train.json`.
    static func fitAndWrite(_ model: any RecurrentLanguageModel, command: TrainCommand, corpus: TextCorpus, train: [Int32], directory: String,
                            architecture: String, architectureHash: String, out: Output, start: DispatchTime) throws {
        let options = command.lm
        let learningRate = command.lr ?? 20
        let configuration = LMTrainingConfiguration(
            epochs: command.epochs, batchSize: command.batchSize, bptt: options.bptt, learningRate: learningRate, clip: options.clip,
            weightDecay: 8e-7, dropout: LMDropout(input: options.dropoutInput, hidden: options.dropoutHidden, output: options.dropoutOutput),
            averagingStartEpoch: options.asgdStart, seed: command.engine.seed)
        out.line("""
              training      \(command.epochs) epochs, batch \(command.batchSize), bptt \(options.bptt), \(options.asgdStart.map { "SGD, averaged from epoch \($0), " } ?? "NT-ASGD ")lr \(learningRate), clip \(options.clip), dropout \(options.dropoutInput)/\(options.dropoutHidden)/\(options.dropoutOutput), weight decay 8e-7
              engine        \(command.engine.threads) threads, seed \(command.engine.seed), \(BLASConfiguration.summary)
              output        \(directory)/model.ckpt
            """)
        if corpus.unknownEvaluationWords > 0 {
            // Expected after a vocabulary cut (WordNet); PTB's files have none.
            out.line("  note          \(corpus.unknownEvaluationWords) validation/test words are outside the vocabulary and count as <unk>")
        }
        let trainer = LMTrainer(model: model, configuration: configuration)
        // One bar over every epoch's segments (an epoch of the WordNet corpus takes minutes, so in a
        // file or pipe the bar's plain lines every 10 % / 30 s are the progress between epoch lines).
        let bar = out.progress("training", total: 1, unit: "segments", plainLines: true)
        var segmentsDone = 0
        let result = trainer.fit(train: train, valid: corpus.valid, onBatch: { _, perEpoch in
            segmentsDone += 1
            bar.update(segmentsDone, total: perEpoch * command.epochs)
        }) { report in
            out.line(String(format: "epoch %3d/%d  train ppl %8.2f  valid ppl %8.2f  %7.0f tokens/s  lr %.4g%@  ETA %@",
                            report.epoch, command.epochs, report.trainPerplexity, report.validPerplexity, report.tokensPerSecond,
                            report.learningRate, report.averaging ? " (averaging)" : "", formatDuration(report.etaSeconds)))
        }
        bar.finish(String(format: "%.0f train tokens/s", result.tokensPerSecond))
        if let epoch = result.divergedEpoch {
            throw CLIError("training diverged: the loss became non-finite in epoch \(epoch); lower --lr or --clip (no checkpoint written)")
        }
        let test = trainer.evaluate(corpus.test)
        let validPerplexity = result.bestValidPerplexity
        try FileProblem.createDirectory(directory)
        let checkpointPath = directory + "/model.ckpt"
        let metadata = LMCheckpointMetadata(corpus: corpus.name, epochs: result.epochs.count, validPerplexity: validPerplexity,
                                            testPerplexity: test.perplexity, seed: command.engine.seed, bptt: options.bptt)
        try LMCheckpoint(model: model, vocabulary: corpus.vocabulary, metadata: metadata).write(to: checkpointPath)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        out.result(String(format: "valid perplexity %.2f  test perplexity %.2f  next-word accuracy %.4f  (%.0f train tokens/s, %@)  checkpoint %@",
                          validPerplexity, test.perplexity, test.accuracy, result.tokensPerSecond, formatDuration(seconds), checkpointPath))
        let summary = TrainSummary(
            testAccuracy: test.accuracy, validationAccuracy: nil, trainImagesPerSecond: 0, epochs: result.epochs.count, seconds: seconds,
            checkpoint: checkpointPath, architecture: architecture, architectureHash: architectureHash, parameters: model.parameterCount,
            validPerplexity: validPerplexity, testPerplexity: test.perplexity, trainTokensPerSecond: result.tokensPerSecond)
        try AtomicFile.write(try summary.jsonData(pretty: true), to: directory + "/train.json")
        out.json(summary)
    }

    /// `evaluate --task lm CHECKPOINT`: test perplexity on the corpus the vocabulary came from.
    static func evaluate(_ command: EvaluateCommand) throws {
        guard command.data.dataset == .fashionMNIST else {
            throw ValidationError("--dataset: an image-classification option; --task lm reads --data-dir (docs/shrinkrnn.md)")
        }
        let out = Output(options: command.output)
        let start = DispatchTime.now()
        let context = command.engine.makeContext(output: out)
        let stored = try LMCheckpoint.load(path: command.checkpoint)
        let corpus = try self.corpus(directory: command.data.dataDir, vocabulary: stored.shape.vocabulary)
        guard corpus.vocabulary == stored.vocabulary else {
            throw CLIError("\(command.checkpoint): trained with another vocabulary than \(corpus.name) gives (\(stored.metadata.corpus))")
        }
        let batch = 10
        let described: String
        if let cell = stored.cell {
            try checkFits(cell: cell, shape: stored.shape, steps: stored.metadata.bptt, batch: batch, purpose: "evaluation")
            described = cell.summary
        } else {
            try LSTMCommands.checkFits(shape: stored.shape, steps: stored.metadata.bptt, batch: batch, purpose: "evaluation")
            described = "\(stored.architecture.summary) \(stored.shape.embed)/\(stored.shape.hidden)"
        }
        let model = try stored.makeModel(context: context)
        out.line("evaluating \(command.checkpoint) (\(described), trained on \(stored.metadata.corpus)) on \(corpus.test.count) test tokens")
        let trainer = LMTrainer(model: model, configuration: LMTrainingConfiguration(epochs: 1, bptt: stored.metadata.bptt, evaluationBatch: batch))
        let test = trainer.evaluate(corpus.test)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        out.result(String(format: "test perplexity %.2f  loss %.4f  next-word accuracy %.4f", test.perplexity, test.loss, test.accuracy))
        out.json(EvaluateSummary(testAccuracy: test.accuracy, testLoss: test.loss, images: 0, seconds: seconds, checkpoint: command.checkpoint,
                                 testPerplexity: test.perplexity, tokens: test.tokens))
    }
}
