import ArgumentParser
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import Foundation

/// Options of `train --task lm --arch lstm` beyond the shared language-model ones (docs/shrinkrnn.md, "LSTM baseline").
struct LSTMOptions: ParsableArguments {
    @Option(help: "--task lm --arch lstm: size the LSTM like this RNN-cell model ('full' with --nodes, or an *.rnncell.json) at --embed/--hidden: the widest LSTM with no more parameters.")
    var matchSize: String?
}

/// `train --task lm --arch lstm`: the baseline of the ShrinkRNN comparison, trained by the same `LMTrainer`
/// and CLI flow (`LanguageModelCommands.fitAndWrite`; `evaluate --task lm` reads either kind) as the cell
/// model (docs/shrinkrnn.md, "LSTM baseline").
enum LSTMCommands {
    static let arch = "lstm"

    /// `train --task lm`: image options are refused; `--arch` is `lstm` or absent; `--match-size` only with `--arch lstm`.
    static func validate(_ command: TrainCommand) throws {
        guard command.arch == arch else {
            if command.lstm.matchSize != nil { throw ValidationError("--match-size: sizes an LSTM baseline; use it with --task lm --arch lstm") }
            return try LanguageModelCommands.refuseClassifierOptions(command)
        }
        var other = command
        other.arch = "refnet"  // the default: refuse every other image option as for the cell model
        try LanguageModelCommands.refuseClassifierOptions(other)
        if command.lm.gateBias != nil {
            throw ValidationError("--gate-bias: the cell model's option (the LSTM's forget gate starts at bias 1)")
        }
        if command.lm.cell != "full" {
            throw ValidationError("--cell: the cell model's option; --arch lstm takes --match-size CELL to have that cell model's parameter count")
        }
    }

    /// The LSTM's shape: `--embed`/`--hidden` as given, or with `--match-size` the widest LSTM whose
    /// parameter count does not exceed that of the cell model at `--embed`/`--hidden`.
    static func shape(_ command: TrainCommand, vocabulary: Int) throws -> (shape: LanguageModelShape, matched: String?) {
        let options = command.lm
        let tied = !options.untied && options.embed == options.hidden
        let given = LanguageModelShape(vocabulary: vocabulary, embed: options.embed, hidden: options.hidden, tied: tied)
        guard let match = command.lstm.matchSize else { return (given, nil) }
        let cell: RNNCell
        if match == "full" {
            cell = .fullyConnected(nodes: options.nodes)
        } else {
            guard FileManager.default.fileExists(atPath: match) else { throw ValidationError("--match-size '\(match)': not 'full' and no such file") }
            cell = try RNNCell.loadDocument(path: match)
        }
        let reference = LanguageModelCost(cell: cell, shape: given)
        guard let shape = LSTMCost.matching(parameters: reference.parameters, vocabulary: vocabulary, embed: options.embed, tied: tied) else {
            throw CLIError("--match-size: no LSTM with embed \(options.embed) has at most the \(reference.parameters) parameters of the cell model")
        }
        let text = "\(match == "full" ? "full \(options.nodes)-node" : match) cell model [\(cell.stableHash)] at \(options.embed)/\(options.hidden): \(reference.parameters) parameters, \(ArchitectureSummary.scaled(Double(reference.macsPerToken))) MACs/token"
        return (shape, text)
    }

    /// Refuses a model whose engine buffers would not fit in memory.
    static func checkFits(shape: LanguageModelShape, steps: Int, batch: Int, purpose: String) throws {
        let bytes = Double(LSTMLanguageModel.bufferFloats(shape: shape, steps: steps, batch: batch)) * 4
            + Double(LSTMCost(shape: shape).parameters) * 4 * 5
        let memory = Architecture.availableMemoryBytes()
        guard bytes <= memory * 0.9 else {
            throw CLIError(String(format: "%@ needs about %.1f GB at batch %d, bptt %d, more than 90 %% of the %.1f GB of memory available; use a smaller --batch-size, --bptt or model",
                                  purpose, bytes / 1e9, batch, steps, memory / 1e9))
        }
    }

    /// Identifies the LSTM's sizes in `train.json` (`architecture_hash`), as a cell's stable hash does.
    static func hash(_ shape: LanguageModelShape) -> String {
        fnv1aHex(Data("lstm embed \(shape.embed) hidden \(shape.hidden) vocabulary \(shape.vocabulary) tied \(shape.tied)".utf8))
    }

    static func train(_ command: TrainCommand) throws {
        let out = Output(options: command.output)
        let options = command.lm
        let start = DispatchTime.now()
        let context = command.engine.makeContext(output: out)
        let (corpus, train) = try LanguageModelCommands.trainingCorpus(command)
        let (shape, matched) = try self.shape(command, vocabulary: corpus.vocabulary.count)
        try shape.validate(source: "--arch lstm")
        try checkFits(shape: shape, steps: options.bptt, batch: command.batchSize, purpose: "training")
        let directory = command.out ?? "runs/train-lm-lstm"
        try WritableCheck.directory(directory, option: command.out == nil ? "output folder" : "--out")
        let model = LSTMLanguageModel(shape: shape, context: context, seed: command.engine.seed)
        let cost = LSTMCost(shape: shape)
        out.heading("""
            autoshrink train --task lm --arch lstm
              corpus        \(LanguageModelCommands.corpusLine(corpus, train: train, trainTokens: options.trainTokens))
              model         1-layer LSTM, embed \(shape.embed), hidden \(shape.hidden), \(shape.tied ? "tied" : "untied") decoder; \(ArchitectureSummary.scaled(Double(cost.macsPerToken))) MACs/token (LSTM \(ArchitectureSummary.scaled(Double(cost.cellMACs)))), \(cost.parameters) parameters (LSTM \(cost.cellParameters))
            """)
        if let matched { out.line("  matched       \(matched)") }
        try LanguageModelCommands.fitAndWrite(model, command: command, corpus: corpus, train: train, directory: directory,
                                              architecture: arch, architectureHash: hash(shape), out: out, start: start)
    }
}
