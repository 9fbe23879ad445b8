import ArgumentParser
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import AutoShrinkSearch
import Foundation

/// Options `search` adds for `--task lm` (docs/shrinkrnn.md, "Search"). The search's own options that
/// mean the same for both tasks are shared: --name, --runs-dir, --nodes, --candidates, --min-edges,
/// --term, --max-macs, --resume, --force, --data-dir, --threads, --seed, --json.
struct LanguageModelSearchOptions: ParsableArguments {
    @Option(help: "classify (a ShrinkCNN on images) or lm (a ShrinkRNN cell on a word-level language model, docs/shrinkrnn.md).")
    var task: TrainingTask = .classify
    @Option(help: "--task lm: the start cell: 'full' (fully connected, --nodes nodes) or an *.rnncell.json file.")
    var cell: String = "full"
    @Option(parsing: .unconditional, help: "--task lm: embedding width of the model the resources are counted for.") var embed: Int = 200
    @Option(parsing: .unconditional, help: "--task lm: hidden width of the model the resources are counted for.") var hidden: Int = 200
    @Flag(help: "--task lm: count resources for separate decoder weights (default: tied when --embed equals --hidden).") var untied = false
    @Option(parsing: .unconditional, help: "--task lm: vocabulary of the model the resources are counted for.") var vocabulary: Int = 10_000
    @Option(parsing: .unconditional, help: "--task lm: hidden (= embed) width of the proxy model candidates train.") var proxyHidden: Int = 64
    @Option(parsing: .unconditional, help: "--task lm: proxy vocabulary: the most frequent training words, the rest <unk> (at most --vocabulary).") var proxyVocabulary: Int = 3_000
    @Option(parsing: .unconditional, help: "--task lm: training tokens of a candidate's proxy training (the first N of the corpus).") var proxyTokens: Int = 200_000
    @Option(parsing: .unconditional, help: "--task lm: validation tokens a candidate is scored on (the first N).") var proxyValidTokens: Int = 40_000
    @Option(parsing: .unconditional, help: "--task lm: proxy training epochs.") var proxyEpochs: Int = 1
    @Option(parsing: .unconditional, help: "--task lm: proxy batch size.") var proxyBatchSize: Int = 32
    @Option(parsing: .unconditional, help: "--task lm: proxy SGD learning rate.") var proxyLr: Float = 20
    @Option(parsing: .unconditional, help: "--task lm: truncated-BPTT length of the proxy training.") var bptt: Int = 35
    @Option(parsing: .unconditional, help: "--task lm: gradient-norm clipping bound of the proxy training.") var clip: Float = 0.25

    func validate() throws {
        try OptionCheck.integer(embed, "--embed", in: 1...LanguageModelShape.maximumWidth)
        try OptionCheck.integer(hidden, "--hidden", in: 1...LanguageModelShape.maximumWidth)
        try OptionCheck.integer(vocabulary, "--vocabulary", in: 3...Vocabulary.maximumSize)
        try OptionCheck.integer(proxyHidden, "--proxy-hidden", in: 1...LanguageModelShape.maximumWidth)
        try OptionCheck.integer(proxyVocabulary, "--proxy-vocabulary", in: 3...Vocabulary.maximumSize)
        try OptionCheck.integer(proxyTokens, "--proxy-tokens", in: 2...Int(Int32.max))
        try OptionCheck.integer(proxyValidTokens, "--proxy-valid-tokens", in: 2...Int(Int32.max))
        try OptionCheck.integer(proxyEpochs, "--proxy-epochs", in: 1...10_000)
        try OptionCheck.integer(proxyBatchSize, "--proxy-batch-size", in: 1...65_536)
        try OptionCheck.finite(proxyLr, "--proxy-lr", in: 1e-6...1000)
        try OptionCheck.integer(bptt, "--bptt", in: 1...10_000)
        try OptionCheck.finite(clip, "--clip", in: 0...1000)
    }
}

/// `search --task lm`: AutoShrink on an RNN cell (docs/shrinkrnn.md, "Search").
enum LanguageModelSearch {
    /// Options of the image search that do not apply are refused, not ignored.
    static func refuseClassifierOptions(_ c: SearchCommand) throws {
        var given: [String] = []
        if c.strategy != .autoshrink { given.append("--strategy") }
        if c.data.dataset != .fashionMNIST { given.append("--dataset") }
        if c.proxyPerClass != 500 { given.append("--proxy-per-class") }
        if c.validationPerClass != 100 { given.append("--validation-per-class") }
        if c.epochs != 20 { given.append("--epochs") }
        if c.lr != 4e-3 { given.append("--lr") }
        if c.batchSize != 128 { given.append("--batch-size") }
        if c.inherit { given.append("--inherit") }
        if c.macro != "reference" || c.macroEdges != 1 { given.append("--macro") }
        if c.workers != 1 { given.append("--workers") }
        if c.halving != "off" { given.append("--halving") }
        if c.profile != nil { given.append("--profile (latency per token is not predicted for RNN cells)") }
        if c.maxLatencyMs != nil { given.append("--max-latency-ms") }
        if c.maxPeakMemoryKb != nil { given.append("--max-peak-memory-kb") }
        if c.maxWeightsKb != nil { given.append("--max-weights-kb") }
        if c.executor.executor != .local { given.append("--executor") }
        guard given.isEmpty else {
            throw ValidationError("\(given.joined(separator: ", ")): image-search options; --task lm takes --proxy-tokens, --proxy-hidden, --proxy-epochs ... (docs/shrinkrnn.md)")
        }
        if let kind = try c.parsedTerms().map(\.resource).first(where: { !LMSearchConfiguration.resourceKinds.contains($0) }) {
            throw ValidationError("--term \(kind.rawValue): --task lm scores macs (per token) and parameters only")
        }
    }

    static func run(_ command: SearchCommand) throws {
        try refuseClassifierOptions(command)
        let out = Output(options: command.output)
        let options = command.lm
        _ = command.engine.makeContext(output: out)  // configures and checks OpenBLAS; candidates get their own contexts
        let startCell: RNNCell
        if options.cell == "full" { startCell = .fullyConnected(nodes: command.nodes) } else {
            guard FileManager.default.fileExists(atPath: options.cell) else { throw ValidationError("--cell '\(options.cell)': not 'full' and no such file") }
            startCell = try RNNCell.loadDocument(path: options.cell)
        }
        let score = ScoreFunction(terms: command.terms.isEmpty ? ScoreFunction.reference.terms : try command.parsedTerms(),
                                  limits: HardLimits(maxMACs: command.maxMacs))
        // The decoder (hidden x vocabulary) is most of a small model's work: the proxy cuts the vocabulary.
        let proxyVocabulary = min(options.proxyVocabulary, options.vocabulary)
        // Validate everything before the corpus is read (the corpus name is filled in afterwards).
        let tied = !options.untied && options.embed == options.hidden
        var configuration = LMSearchConfiguration(
            corpus: "", startCell: startCell, candidates: command.candidates, minEdges: command.minEdges, seed: command.engine.seed,
            proxy: LMProxySettings(vocabulary: proxyVocabulary, hidden: options.proxyHidden, trainTokens: options.proxyTokens,
                                   validTokens: options.proxyValidTokens, epochs: options.proxyEpochs, batchSize: options.proxyBatchSize,
                                   bptt: options.bptt, learningRate: options.proxyLr, clip: options.clip, dropout: .none),
            target: LanguageModelShape(vocabulary: options.vocabulary, embed: options.embed, hidden: options.hidden, tied: tied),
            score: score)
        do { try LMSearchRunner.precheck(configuration) } catch let error as SearchError {
            guard let limit = error.limit else { throw CLIError(error.description) }
            throw CLIError(limit.description(limitName: SearchCommand.optionName))
        }
        let proxyShape = configuration.proxyShape(vocabulary: proxyVocabulary)
        try LanguageModelCommands.checkFits(cell: startCell, shape: proxyShape, steps: options.bptt, batch: options.proxyBatchSize,
                                            purpose: "the proxy training")
        let runDirectory = command.runsDir + "/" + command.name  // name passed SafeName in validate()
        let runLock = try SearchRunLock(runDirectory, subdirectories: ["snapshots"])
        defer { runLock.release() }
        let corpus = try LanguageModelCommands.corpus(directory: command.data.dataDir, vocabulary: proxyVocabulary)
        configuration.corpus = corpus.name
        let cost = LanguageModelCost(cell: startCell, shape: configuration.target)
        out.heading("""
            autoshrink search --task lm
              run          \(runDirectory)\(command.resume ? " (resume)" : "")
              start cell   \(options.cell == "full" ? "full" : options.cell) [\(startCell.stableHash)] \(startCell.summary)
              strategy     autoshrink, K=\(command.candidates) candidates per step, down to \(command.minEdges) edges
              corpus       \(corpus.name): \(min(options.proxyTokens, corpus.train.count)) of \(corpus.train.count) train tokens, \(min(options.proxyValidTokens, corpus.valid.count)) of \(corpus.valid.count) valid tokens, vocabulary \(corpus.vocabulary.count)
              proxy        embed = hidden \(options.proxyHidden), tied; \(options.proxyEpochs) epoch(s), batch \(options.proxyBatchSize), bptt \(options.bptt), NT-ASGD lr \(options.proxyLr), clip \(options.clip), no dropout
              resources    of embed \(options.embed), hidden \(options.hidden), vocabulary \(options.vocabulary), \(tied ? "tied" : "untied"): start cell \(ArchitectureSummary.scaled(Double(cost.macsPerToken))) MACs/token (cell \(ArchitectureSummary.scaled(Double(cost.cellMACs)))), \(cost.parameters) parameters; latency not predicted
              score        \(configuration.scoreSummary)
              engine       \(command.engine.threads) thread(s), seed \(command.engine.seed), \(BLASConfiguration.summary)
            """)
        let evaluator = LMProxyEvaluator(train: corpus.train, valid: corpus.valid, vocabulary: corpus.vocabulary.count,
                                         configuration: configuration, threads: command.engine.threads)
        let printer = LMSearchPrinter(output: out)
        let runner = LMSearchRunner(configuration: configuration, runDirectory: runDirectory, evaluator: evaluator,
                                    observer: { printer.report($0) })
        let result: LMSearchResult
        do { result = try runner.run(resume: command.resume, force: command.force) } catch let error as SearchError {
            throw CLIError(error.description)
        }
        out.line(LMSearchReport.trajectoryTable(result))
        out.result(LMSearchReport.summary(result))
        let best = result.best?.winner
        out.json(LMSearchSummary(
            bestArch: result.bestCellPath, bestScore: best?.score, validPerplexity: best?.validPerplexity, macs: best?.macs,
            cellMACs: best?.cellMACs, params: best?.parameters, seconds: result.wallSeconds, candidateSeconds: result.candidateSeconds,
            candidatesTrained: result.records.count, candidatesTrainedThisSession: result.candidatesTrainedThisSession,
            steps: result.steps.count, runDirectory: runDirectory))
    }
}

/// Prints the LM search's progress lines under a candidates bar (as `PrintingObserver` does for CNNs).
struct LMSearchPrinter: Sendable {
    let printer: SearchProgressPrinter

    init(output: Output) { printer = SearchProgressPrinter(output: output) }

    func report(_ event: LMSearchEvent) {
        switch event {
        case .started(let planned, let resumed): printer.started(planned: "at most \(planned)", total: planned, resumed: resumed)
        case .candidate(_, let progress, let line): printer.line("  " + line, progress: progress)
        case .step(_, let progress, let line): printer.line(line, progress: progress)
        case .finished(let result):
            printer.finished(best: result.best.map { String(format: "best valid ppl %.2f", $0.winner.validPerplexity) })
        }
    }
}
