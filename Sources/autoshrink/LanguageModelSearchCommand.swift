import ArgumentParser
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import AutoShrinkProfiler
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
    @Option(parsing: .unconditional, help: "--task lm: hard limit on the predicted latency per token in ms (needs --profile).")
    var maxLatencyMsPerToken: Double?
    @Option(help: "--task lm: weights of the exported program whose latency --profile predicts: float32 (export's default binary) or int8 (export --int8).")
    var latencyPrecision: OperatorDataType = .float32

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
        try OptionCheck.positive(maxLatencyMsPerToken, "--max-latency-ms-per-token", maximum: 1e9)
        if task != .lm, maxLatencyMsPerToken != nil || latencyPrecision != .float32 {
            throw ValidationError("--max-latency-ms-per-token and --latency-precision are --task lm options; images take --max-latency-ms")
        }
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
        if c.maxLatencyMs != nil { given.append("--max-latency-ms (use --max-latency-ms-per-token)") }
        if c.maxPeakMemoryKb != nil { given.append("--max-peak-memory-kb") }
        if c.maxWeightsKb != nil { given.append("--max-weights-kb") }
        if c.executor.executor != .local { given.append("--executor") }
        guard given.isEmpty else {
            throw ValidationError("\(given.joined(separator: ", ")): image-search options; --task lm takes --proxy-tokens, --proxy-hidden, --proxy-epochs ... (docs/shrinkrnn.md)")
        }
        if let kind = try c.parsedTerms().map(\.resource).first(where: { !LMSearchConfiguration.resourceKinds.contains($0) }) {
            throw ValidationError("--term \(kind.rawValue): --task lm scores macs (per token), parameters and latency_ms (per token, with --profile)")
        }
        if c.lm.maxLatencyMsPerToken != nil, c.profile == nil {
            throw ValidationError("--max-latency-ms-per-token needs --profile profiles/DEVICE.json")
        }
    }

    /// The default score terms: the reference MACs term, or with a profile the same weight on the
    /// predicted latency per token (`latency_ms:1:0.1`; the target only shifts every score alike).
    static func defaultTerms(profile: Bool) -> [ResourceTerm] {
        profile ? [ResourceTerm(.latencyMilliseconds, target: 1, weight: 0.1)] : ScoreFunction.reference.terms
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
        let latencyPredictor = try command.profile.map { path -> ProfileLMLatencyPredictor in
            let profile = try ProfileLatencyPredictor.load(path: path, allowForeignMachine: command.allowForeignProfile)
            if let warning = profile.foreignMachineWarning { out.warn(warning) }
            return try ProfileLMLatencyPredictor(profile: profile, path: path, precision: options.latencyPrecision)
        }
        let score = ScoreFunction(terms: command.terms.isEmpty ? defaultTerms(profile: latencyPredictor != nil) : try command.parsedTerms(),
                                  limits: HardLimits(maxLatencyMilliseconds: options.maxLatencyMsPerToken, maxMACs: command.maxMacs))
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
            score: score, latencyProfile: latencyPredictor?.identity)
        do { try LMSearchRunner.precheck(configuration, latencyPredictor: latencyPredictor) } catch let error as SearchError {
            guard let limit = error.limit else { throw CLIError(error.description) }
            throw CLIError(limit.description(limitName: LMSearchConfiguration.limitName))
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
        let startLatency = try latencyPredictor.map {
            String(format: "predicted %.4f ms/token (%@)", try $0.latencyPerTokenMilliseconds(cell: startCell, shape: configuration.target), $0.identity)
        } ?? "latency not predicted (no --profile)"
        out.heading("""
            autoshrink search --task lm
              run          \(runDirectory)\(command.resume ? " (resume)" : "")
              start cell   \(options.cell == "full" ? "full" : options.cell) [\(startCell.stableHash)] \(startCell.summary)
              strategy     autoshrink, K=\(command.candidates) candidates per step, down to \(command.minEdges) edges
              corpus       \(corpus.name): \(min(options.proxyTokens, corpus.train.count)) of \(corpus.train.count) train tokens, \(min(options.proxyValidTokens, corpus.valid.count)) of \(corpus.valid.count) valid tokens, vocabulary \(corpus.vocabulary.count)
              proxy        embed = hidden \(options.proxyHidden), tied; \(options.proxyEpochs) epoch(s), batch \(options.proxyBatchSize), bptt \(options.bptt), NT-ASGD lr \(options.proxyLr), clip \(options.clip), no dropout
              resources    of embed \(options.embed), hidden \(options.hidden), vocabulary \(options.vocabulary), \(tied ? "tied" : "untied"): start cell \(ArchitectureSummary.scaled(Double(cost.macsPerToken))) MACs/token (cell \(ArchitectureSummary.scaled(Double(cost.cellMACs)))), \(cost.parameters) parameters; \(startLatency)
              score        \(configuration.scoreSummary)
              engine       \(command.engine.threads) thread(s), seed \(command.engine.seed), \(BLASConfiguration.summary)
            """)
        let evaluator = LMProxyEvaluator(train: corpus.train, valid: corpus.valid, vocabulary: corpus.vocabulary.count,
                                         configuration: configuration, threads: command.engine.threads)
        let printer = LMSearchPrinter(output: out)
        let runner = LMSearchRunner(configuration: configuration, runDirectory: runDirectory, evaluator: evaluator,
                                    latencyPredictor: latencyPredictor, observer: { printer.report($0) })
        let result: LMSearchResult
        do { result = try runner.run(resume: command.resume, force: command.force) } catch let error as SearchError {
            throw CLIError(error.limit?.description(limitName: LMSearchConfiguration.limitName) ?? error.description)
        }
        out.line(LMSearchReport.trajectoryTable(result))
        out.result(LMSearchReport.summary(result))
        let best = result.best?.winner
        var summary = LMSearchSummary(
            bestArch: result.bestCellPath, bestScore: best?.score, validPerplexity: best?.validPerplexity, macs: best?.macs,
            cellMACs: best?.cellMACs, params: best?.parameters, seconds: result.wallSeconds, candidateSeconds: result.candidateSeconds,
            candidatesTrained: result.records.count, candidatesTrainedThisSession: result.candidatesTrainedThisSession,
            steps: result.steps.count, runDirectory: runDirectory)
        summary.latencyMillisecondsPerToken = best?.latencyMillisecondsPerToken
        out.json(summary)
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

/// Latency per token of a cell model from a device profile's recurrent section (docs/shrinkrnn.md,
/// "Profiling recurrent operators"), for `search --task lm --profile` and `predict X.rnncell.json`.
struct ProfileLMLatencyPredictor: LMLatencyPredictor {
    let predictor: RecurrentLatencyPredictor
    let precision: OperatorDataType
    let identity: String

    /// Over a loaded (fresh, this machine's) profile; "<path>: profile has no recurrent operators; re-run
    /// autoshrink profile" when it lacks the section.
    init(profile: ProfileLatencyPredictor, path: String, precision: OperatorDataType) throws {
        predictor = try RecurrentLatencyPredictor(profile: profile.profile, identity: path)
        self.precision = precision
        identity = "\(profile.identity) \(precision.rawValue)"
    }

    func latencyPerTokenMilliseconds(cell: RNNCell, shape: LanguageModelShape) throws -> Double {
        try prediction(cell: cell, shape: shape, precision: precision).latencyMilliseconds
    }

    func prediction(cell: RNNCell, shape: LanguageModelShape, precision: OperatorDataType) throws -> RecurrentPrediction {
        try predictor.predict(Self.program(cell: cell, shape: shape), dtype: precision)
    }

    /// The cell as the exported program runs it (`RNNCell.schedule`: live nodes, their live predecessors, the leaves).
    static func program(cell: RNNCell, shape: LanguageModelShape) -> RecurrentProgram {
        let schedule = cell.schedule
        let activation = { (node: Int) in RecurrentActivation(rawValue: cell.activations[node].rawValue) ?? .identity }
        let nodes = [RecurrentProgram.Node(index: 0, activation: activation(0), inputs: [])]
            + schedule.nodes.map { RecurrentProgram.Node(index: $0, activation: activation($0), inputs: schedule.predecessors[$0] ?? []) }
        return RecurrentProgram(embed: shape.embed, hidden: shape.hidden, vocabulary: shape.vocabulary, tied: shape.tied,
                                nodes: nodes, leaves: schedule.leaves)
    }
}

extension OperatorDataType: ExpressibleByArgument {}
