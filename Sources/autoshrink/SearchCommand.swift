import AutoShrinkFormats
import ArgumentParser
import AutoShrinkData
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkEngine
import AutoShrinkModel
import AutoShrinkSearch
import Foundation

extension SearchStrategyKind: ExpressibleByArgument {}

/// `autoshrink search`: AutoShrink (progressive edge shrinking of a cell DAG) under device constraints.
struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Run a constraint-aware AutoShrink search (or the random baseline) on a proxy task.",
        discussion: """
            Candidates are trained on a class-balanced proxy subset of the training set and scored by
            acc - 0.1*(log10(MACs) - 6) by default. Add soft terms with --term RESOURCE:TARGET:WEIGHT
            (each adds -WEIGHT*log10(value/TARGET); resources: macs, parameters, weight_bytes,
            peak_activation_bytes, latency_ms) and hard limits with --max-*. Latency needs --profile.
            Runs live in runs/NAME and can be resumed after a kill with --resume. With --executor slurm every
            step's candidates train as one Slurm job array on a run directory the nodes share (docs/cluster.md).
            """)

    @Option(help: "Run name; the run lives in runs/NAME.") var name: String = "search"
    @Option(help: "Runs directory.") var runsDir: String = "runs"
    @OptionGroup var data: DatasetOptions
    @Option(help: "Search strategy: autoshrink or random (same candidate budget).") var strategy: SearchStrategyKind = .autoshrink
    @Option(parsing: .unconditional, help: "Nodes per cell DAG (node 0 is the input).") var nodes: Int = 8
    @Option(parsing: .unconditional, help: "Candidate edges sampled per step (K).") var candidates: Int = 10
    @Option(parsing: .unconditional, help: "Stop when this many edges are left (0 = shrink to the end).") var minEdges: Int = 0
    @Option(parsing: .unconditional, help: "Proxy training images per class.") var proxyPerClass: Int = 500
    @Option(parsing: .unconditional, help: "Validation images per class held out from the training set.") var validationPerClass: Int = 100
    @Option(parsing: .unconditional, help: "Maximum epochs per candidate (early exits apply).") var epochs: Int = 20
    @Option(parsing: .unconditional, help: "Adam learning rate for candidates.") var lr: Double = 4e-3
    @Option(parsing: .unconditional, help: "Batch size for candidates.") var batchSize: Int = 128
    @Flag(help: "Candidates start from the parent's trained weights (topology knowledge accumulation).") var inherit = false
    @Option(help: "Macro skeleton around the cell: reference (the paper's), auto (the most MACs within the hard limits, from the cost model and --profile), or a spec like 16s2-24p1-48p2-96p1 (a trailing n on a stage: plain cells without the residual add, e.g. 32s2-64p2x2n; docs/algorithm.md §1).")
    var macro: String = "reference"
    @Option(parsing: .unconditional, help: "--macro auto judges each setting with a cell holding this fraction of the starting cell's edges (1 = the full starting cell fits).")
    var macroEdges: Double = 1.0
    @Flag(help: "After the search, re-fit the macro skeleton to the best cell (the most MACs within the hard limits, stem at least half the first stage's width, two or more cells when such a setting fits; a step winner within one standard error of the best proxy accuracy whose refit network is larger takes the best cell's place) and write RUN/refit.arch.json (docs/algorithm.md §1, \"Macro refit\").")
    var refit = false
    @Flag(help: "Fit the macro skeleton to every candidate's cell (the refit's rule, within the hard limits), so a step compares cells at the budget (docs/algorithm.md §1, \"Macro fit per candidate\").")
    var fitCandidates = false
    @Option(parsing: .unconditional, help: "Candidates trained in parallel worker processes (threads are split between them).") var workers: Int = 1
    @Option(help: "Successive halving inside each step: off, or the epochs of the rungs before the full --epochs, e.g. 3 or 1,3 (in-process only; docs/algorithm.md §1).")
    var halving: String = "off"
    @Option(parsing: .unconditional, help: "Successive halving: 1 in ETA candidates (rounded up) continues past each rung (2 or 3).") var halvingEta: Int = 2
    @Option(name: .customLong("term"), help: "Soft score term RESOURCE:TARGET:WEIGHT (repeatable); replaces the default MACs term.")
    var terms: [String] = []
    @Option(help: "Device profile (profiles/X.json) for predicted latency.") var profile: String?
    @Flag(help: "Use a profile measured on another machine (warns instead of refusing).") var allowForeignProfile = false
    @Option(parsing: .unconditional, help: "Hard limit: predicted latency in ms (needs --profile).") var maxLatencyMs: Double?
    @Option(parsing: .unconditional, help: "Hard limit: peak int8 activation memory in KiB.") var maxPeakMemoryKb: Double?
    @Option(parsing: .unconditional, help: "Hard limit: int8 weight bytes in KiB.") var maxWeightsKb: Double?
    @Option(parsing: .unconditional, help: "Hard limit: multiply-accumulates per image.") var maxMacs: Int?
    @Flag(help: "Continue an interrupted run without retraining finished candidates.") var resume = false
    @Flag(help: "Start over in a run directory made with another configuration.") var force = false
    @OptionGroup var engine: EngineOptions
    @OptionGroup var executor: ExecutorOptions
    @OptionGroup(title: "Language-model search (--task lm)") var lm: LanguageModelSearchOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try executor.validate(workers: workers)
        try OptionCheck.name(name, "--name")
        try OptionCheck.positive(lr, "--lr", maximum: 10)
        try OptionCheck.positive(maxLatencyMs, "--max-latency-ms", maximum: 1e9)
        try OptionCheck.positive(maxPeakMemoryKb, "--max-peak-memory-kb", maximum: 1e12)
        try OptionCheck.positive(maxWeightsKb, "--max-weights-kb", maximum: 1e12)
        try OptionCheck.integer(maxMacs, "--max-macs", in: 1...InputLimits.maximumMACs)
        try OptionCheck.integer(minEdges, "--min-edges", in: 0...1_000)
        try OptionCheck.integer(proxyPerClass, "--proxy-per-class", in: 1...1_000_000)
        try OptionCheck.integer(validationPerClass, "--validation-per-class", in: 1...1_000_000)
        try OptionCheck.integer(epochs, "--epochs", in: 1...10_000)
        try OptionCheck.integer(batchSize, "--batch-size", in: 1...65_536)
        try OptionCheck.integer(workers, "--workers", in: 1...256)
        try OptionCheck.integer(candidates, "--candidates", in: 1...10_000)
        try OptionCheck.positive(macroEdges, "--macro-edges", maximum: 1)
        try OptionCheck.macro(macro, allowsAuto: true)
        // Fitting a skeleton needs a limit to fit it to.
        let hasHardLimit = maxLatencyMs != nil || maxPeakMemoryKb != nil || maxWeightsKb != nil || maxMacs != nil
        for (used, option) in [(refit, "--refit"), (fitCandidates, "--fit-candidates"), (macro == "auto", "--macro auto")]
        where used && !hasHardLimit {
            throw ValidationError("\(option) needs a hard limit to fit (--max-latency-ms, --max-peak-memory-kb, --max-weights-kb or --max-macs)")
        }
        if let schedule = try halvingSchedule() {
            do { try schedule.validate(epochs: epochs) } catch { throw ValidationError("\(error)") }
            if workers > 1 || executor.executor == .slurm {
                throw ValidationError("--halving trains candidates in stages in this process; it cannot be combined with --workers > 1 or --executor slurm")
            }
        }
        try OptionCheck.integer(nodes, "--nodes", in: 2...16)  // the same range and words as SearchConfiguration.validate
        // --inherit only with the autoshrink strategy: SearchConfiguration.validate, run by the precheck
        // in search() before anything is read or written.
        let latencyTerm = try parsedTerms().contains { $0.resource == .latencyMilliseconds }
        if maxLatencyMs != nil || latencyTerm, profile == nil {
            throw ValidationError("--max-latency-ms and latency_ms terms need --profile profiles/DEVICE.json")
        }
    }

    /// `--halving` and `--halving-eta` as the search's schedule; nil for off.
    func halvingSchedule() throws -> HalvingSchedule? {
        do { return try HalvingSchedule(spec: halving, eta: halvingEta) } catch { throw ValidationError("\(error)") }
    }

    func parsedTerms() throws -> [ResourceTerm] {
        try terms.map { text in
            let parts = text.split(separator: ":").map(String.init)
            guard parts.count == 3, let kind = ResourceKind(rawValue: parts[0]), let target = Double(parts[1]), let weight = Double(parts[2]),
                  target > 0, weight >= 0, target.isFinite, weight.isFinite else {
                throw ValidationError("--term '\(text)': expected RESOURCE:TARGET:WEIGHT with RESOURCE one of \(ResourceKind.allCases.map(\.rawValue).joined(separator: ", ")), TARGET > 0 and WEIGHT >= 0, both finite")
            }
            return ResourceTerm(kind, target: target, weight: weight)
        }
    }

    /// The option that sets each hard limit: the Search layer reports limits as `LimitKind`, the
    /// messages a user reads name the options they type.
    static func optionName(_ kind: LimitKind) -> String {
        switch kind {
        case .latency: return "--max-latency-ms"
        case .peakActivationMemory: return "--max-peak-memory-kb"
        case .weights: return "--max-weights-kb"
        case .macs: return "--max-macs"
        }
    }

    func run() throws {
        if lm.task == .lm { return try LanguageModelSearch.run(self) }  // LanguageModelSearchCommand.swift
        do { try search() } catch let error as SearchError {
            guard let limit = error.limit else { throw error }
            throw CLIError(limit.description(limitName: Self.optionName))
        }
    }

    func search() throws {
        let out = Output(options: output)
        _ = engine.makeContext(output: out)  // configures and checks OpenBLAS; candidates get their own contexts
        let predictor = try profile.map { try ProfileLatencyPredictor.load(path: $0, allowForeignMachine: allowForeignProfile) }
        if let warning = predictor?.foreignMachineWarning { out.warn(warning) }
        let shape = data.dataset.imageShape
        let score = ScoreFunction(terms: terms.isEmpty ? ScoreFunction.reference.terms : try parsedTerms(),
                                  limits: HardLimits(maxLatencyMilliseconds: maxLatencyMs, maxPeakActivationKilobytes: maxPeakMemoryKb,
                                                     maxWeightKilobytes: maxWeightsKb, maxMACs: maxMacs))
        var configuration = SearchConfiguration(
            strategy: strategy, dataset: data.dataset.rawValue,
            input: InputShape(channels: shape.channels, height: shape.height, width: shape.width), classes: data.dataset.classCount,
            nodes: nodes, candidates: candidates, minEdges: minEdges, seed: engine.seed, proxyPerClass: proxyPerClass,
            epochs: epochs, learningRate: lr, batchSize: batchSize, inherit: inherit,
            workers: executor.executor == .slurm ? min(executor.maxJobs ?? candidates, candidates) : workers, score: score,
            latencyProfile: predictor?.identity, validationPerClass: validationPerClass)
        configuration.halving = try halvingSchedule()
        configuration.fitCandidates = fitCandidates
        let meter = ResourceMeter(latencyPredictor: predictor)
        try resolveMacro(macro, edgeFraction: macroEdges, configuration: &configuration, meter: meter, output: out)
        // Impossible constraints are refused before any data is loaded or any candidate trained;
        // the runner takes the checked configuration and does not check again.
        let checked = try SearchRunner.precheck(configuration, meter: meter)
        // Slurm: commands on PATH and the job options accepted (sbatch --test-only), before any work.
        let slurm = executor.executor == .slurm ? try SlurmSetup.check(executor, threads: engine.threads, candidates: candidates) : nil
        let runDirectory = runsDir + "/" + name  // name passed SafeName in validate()
        let runLock = try SearchRunLock(runDirectory, subdirectories: ["snapshots", "weights", "work"])
        defer { runLock.release() }
        let threadsPerWorker = slurm != nil ? engine.threads : max(1, engine.threads / workers)
        out.heading("""
            autoshrink search
              run          \(runDirectory)\(resume ? " (resume)" : "")
              strategy     \(strategy.rawValue), N=\(nodes) nodes, K=\(candidates) candidates per step, down to \(minEdges) edges
              node ops     \(configuration.nodeOperations.map(\.rawValue).joined(separator: " "))
              macro        \(configuration.skeleton)\(configuration.macro == nil ? " (reference)" : "") (--macro \(macro))\(fitCandidates ? ", fitted to every candidate's cell" : "")
              proxy        \(data.dataset.rawValue): \(proxyPerClass)/class train, \(validationPerClass)/class validation; \
            Adam lr \(lr), batch \(batchSize), <= \(epochs) epochs with early exits\(inherit ? ", weights inherited from the parent" : "")
              score        \(score.summary(limitName: Self.optionName))
              profile      \(predictor.map { "\($0.identity)" } ?? "none (resources from the cost model)")
              engine       \(slurm != nil ? "Slurm, up to \(configuration.workers) job(s)" : "\(workers) worker(s)") x \(threadsPerWorker) thread(s), seed \(engine.seed), \(BLASConfiguration.summary)
            """)
        let task = try ProxyTask.load(dataset: data.dataset, directory: data.dataDir, perClass: proxyPerClass,
                                      validationPerClass: validationPerClass, seed: engine.seed)
        let evaluator: any CandidateEvaluator = try slurm.map { commands in
            try SlurmSetup.evaluator(executor, commands: commands, configuration: configuration, runDirectory: runDirectory,
                                     dataDirectory: data.dataDir ?? data.dataset.defaultDirectory, threads: engine.threads,
                                     resume: resume, runName: name)
        } ?? (workers == 1
            ? TrainingEvaluator(task: task, configuration: configuration, threads: engine.threads) as any CandidateEvaluator
            : WorkerProcessEvaluator(configuration: configuration, dataDirectory: data.dataDir, threads: threadsPerWorker,
                                     runDirectory: runDirectory, workerCommand: ["/proc/self/exe", "search-worker"]))
        let runner = SearchRunner(configuration: configuration, runDirectory: runDirectory, evaluator: evaluator,
                                  latencyPredictor: predictor, observer: PrintingObserver(output: out))
        let result = try runner.run(checked, resume: resume, force: force)
        out.line(SearchReport.trajectoryTable(result))
        out.result(SearchReport.summary(result))
        try writeRefit(result: result, configuration: configuration, runDirectory: runDirectory, meter: meter, output: out)
        let best = result.best?.winner
        out.json(SearchSummary(
            bestArch: result.bestArchitecturePath, bestAccuracy: best?.accuracy, bestScore: best?.score,
            macs: best?.resources.macs, params: best?.resources.parameters,
            peakActivationBytes: best?.resources.peakActivationBytes, weightBytes: best?.resources.weightBytes,
            latencyMilliseconds: best?.resources.latencyMilliseconds, seconds: result.wallSeconds,
            candidateSeconds: result.candidateSeconds, candidatesTrained: result.candidatesTrained,
            candidatesTrainedThisSession: result.candidatesTrainedThisSession, steps: result.steps.count,
            runDirectory: runDirectory, strategy: strategy.rawValue))
    }
}

/// One search per run directory at a time (docs/architecture.md, "Names, locks and output folders"):
/// creates the run directory if needed and holds its lock; shared by `search` and `search --task lm`.
struct SearchRunLock {
    let runDirectory: String
    let created: Bool
    let lock: FileLock

    /// Locks `runDirectory` and removes temporaries of a killed search's atomic writes in it and in
    /// its `subdirectories` (names relative to it).
    init(_ runDirectory: String, subdirectories: [String]) throws {
        self.runDirectory = runDirectory
        created = !FileManager.default.fileExists(atPath: runDirectory)
        if let problem = FileProblem.directoryProblem(runDirectory) {
            throw CLIError("\(runDirectory): cannot create run directory (\(problem))")
        }
        lock = try FileLock(path: RunDirectory(path: runDirectory).lockPath, what: runDirectory)
        for directory in [runDirectory] + subdirectories.map({ runDirectory + "/" + $0 }) {
            AtomicFile.removeLeftovers(in: directory)
        }
    }

    /// Releases the lock; a run that failed before writing anything leaves no directory behind.
    func release() {
        if created, (try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) == [".lock"] {
            try? FileManager.default.removeItem(atPath: runDirectory)
        }
        lock.release()
    }
}

extension SearchCommand {
    /// `--refit`: the cell `MacroFit.refitTrajectory` keeps (the best snapshot's, or a step winner's within one
    /// standard error of its proxy accuracy whose refit network is larger) on the skeleton `MacroFit.refit`
    /// chooses for it, as `RUN/refit.arch.json` (removed when the run has no refit, so a stale file never
    /// outlives its search).
    func writeRefit(result: SearchResult, configuration: SearchConfiguration, runDirectory: String, meter: ResourceMeter,
                    output: Output) throws {
        let path = RunDirectory(path: runDirectory).refitArchitecturePath
        try? FileManager.default.removeItem(atPath: path)
        guard refit, let bestPath = result.bestArchitecturePath, let bestStep = result.best else { return }
        guard let cell = try Architecture.load(path: bestPath).cell else { return }
        func snapshot(_ record: CandidateRecord, cell: CellDAG? = nil) -> MacroFit.Snapshot {
            MacroFit.Snapshot(cell: cell ?? CellDAG(nodes: configuration.nodes, operations: configuration.startCell.operations,
                                                    edges: record.cellEdges),
                              accuracy: record.accuracy)
        }
        let winners = result.steps.filter { $0.winner.feasible && $0.step != bestStep.step && !$0.winner.isPartial }.map { snapshot($0.winner) }
        let refit = try MacroFit.refitTrajectory(best: snapshot(bestStep.winner, cell: cell), winners: winners,
                                                 validationImages: configuration.validationPerClass * configuration.classes,
                                                 space: .edge, configuration: configuration, measure: meter.measure)
        for line in refit.choice.summaryLines(label: "macro refit") { output.line(line) }
        if refit.compared.count > 1 {
            let list = refit.compared.map { entry in
                "\(entry.snapshot.cell.edges.count) edges (proxy acc " + String(format: "%.4f", entry.snapshot.accuracy) + ") -> "
                    + (entry.macs.map { ArchitectureSummary.scaled(Double($0)) + " MACs" } ?? "none fits")
            }
            output.line(String(format: "macro refit: snapshots within one standard error (%.4f) of the best: ", refit.standardError)
                        + list.joined(separator: "; ") + "; kept the largest refit network")
        }
        guard let chosen = refit.choice.chosen else { return }
        let architecture = BuiltinArchitectures.shrinkCNN(cell: refit.snapshot.cell, name: configuration.architectureName + "-refit",
                                                          skeleton: chosen.skeleton, input: configuration.input,
                                                          classes: configuration.classes)
        try architecture.write(to: path)
        let which = refit.snapshot.cell.edges == cell.edges ? "the best cell" : "the \(refit.snapshot.cell.edges.count)-edge cell of a tied snapshot"
        output.result("refit: \(chosen.skeleton) around \(which) -> \(path)")
    }
}

/// Applies `--macro` to `configuration`: reference (no `macro` recorded), a spec, or `auto` fitted
/// to the hard limits with `meter` (docs/algorithm.md §1, "Macro skeleton"), printing the choice and why.
func resolveMacro(_ macro: String, edgeFraction: Double, configuration: inout SearchConfiguration, meter: ResourceMeter,
                  output: Output) throws {
    switch macro {
    case "reference": configuration.macro = nil
    case "auto":
        configuration.macro = nil
        let choice = try MacroFit.choose(space: .residualEdge, configuration: configuration, edgeFraction: edgeFraction,
                                         measure: meter.measure)
        for line in choice.summaryLines() { output.line(line) }
        guard let chosen = choice.chosen else {
            throw CLIError("--macro auto: no macro setting fits the hard limits with a \(choice.probeEdges)-edge cell; lower --macro-edges or relax the limits")
        }
        configuration.macro = chosen.skeleton == configuration.skeleton ? nil : chosen.skeleton
    default:
        configuration.macro = nil
        let skeleton = try MacroSkeleton(spec: macro)
        configuration.macro = skeleton == configuration.skeleton ? nil : skeleton
    }
}

/// Prints the search's ready-made progress lines (each carries its own ETA, so off a terminal the
/// bar adds no lines) under a candidates bar.
final class PrintingObserver: SearchObserver, @unchecked Sendable {
    let printer: SearchProgressPrinter

    init(output: Output) { printer = SearchProgressPrinter(output: output) }

    func searchDidReport(_ event: SearchEvent) {
        switch event {
        case .started(_, let planned, let resumed): printer.started(planned: "\(planned)", total: planned, resumed: resumed)
        case .candidate(_, let progress, let line): printer.line("  " + line, progress: progress)
        case .step(_, let summary, let progress, let line):
            printer.line(line, progress: progress, best: summary.map { String(format: "best acc %.3f", $0.winner.accuracy) })
        case .finished: printer.finished()
        }
    }
}

/// The progress lines of a search (CNN or LM) under a candidates bar whose detail is the best so far.
final class SearchProgressPrinter: @unchecked Sendable {
    let output: Output
    private let lock = NSLock()
    private var bar: ProgressBar?
    private var best = ""

    init(output: Output) { self.output = output }

    /// "planned candidates: `planned`[, R already done]" and the bar at `resumed` of `total`.
    func started(planned: String, total: Int, resumed: Int) {
        lock.withLock {
            output.line("planned candidates: \(planned)" + (resumed > 0 ? ", \(resumed) already done" : ""))
            bar = output.progress("search", total: total, unit: "candidates", plainLines: false)
            bar?.update(resumed, total: total)
        }
    }

    /// Prints `line`, then moves the bar to `progress` (with `best` as its new detail when given).
    func line(_ line: String, progress: SearchProgress, best: String? = nil) {
        lock.withLock {
            output.line(line)
            if let best { self.best = best }
            bar?.update(progress.candidatesDone, total: progress.candidatesDone + progress.candidatesRemaining,
                        eta: progress.etaSeconds, detail: self.best)
        }
    }

    /// Ends the bar (with `best` as its last detail when given).
    func finished(best: String? = nil) {
        lock.withLock {
            if let best { self.best = best }
            bar?.finish(self.best)
            bar = nil
        }
    }
}

/// `autoshrink search-worker` (internal): trains one candidate for a parallel search and prints
/// its EvaluationResult as JSON. Its options are the worker protocol of `WorkerProcessEvaluator`
/// (AutoShrinkSearch), which starts it.
struct SearchWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "search-worker", abstract: "Internal: train one search candidate.",
                                                    shouldDisplay: false)
    @Option var config: String
    @Option var arch: String
    @Option var seed: UInt64
    @Option var threads: Int = 1
    @Option var dataDir: String?
    @Option var parentWeights: String?
    @Option var weightsOut: String?
    @Option(help: "Exit when this process (the search) exits.") var parentPid: Int32?
    @Option(help: "Candidate id recorded in the result file.") var candidateId: String = "worker"
    @Option(help: "Also write the result as a candidate result file (atomically; the Slurm executor reads it).") var resultOut: String?

    func run() throws {
        let started = Date().timeIntervalSince1970
        if let parentPid { WorkerLifetime.dieWithParent(parentPid) }
        _ = BLASConfiguration.configureForEngine()
        let configuration = try SearchConfiguration.load(path: config)
        guard let kind = DatasetKind(rawValue: configuration.dataset) else { throw CLIError("unknown dataset \(configuration.dataset)") }
        let task = try ProxyTask.load(dataset: kind, directory: dataDir, perClass: configuration.proxyPerClass,
                                      validationPerClass: configuration.validationPerClass, seed: configuration.seed)
        let architecture = try Architecture.load(path: arch)
        let request = EvaluationRequest(architecture: architecture, candidateID: "worker", step: 0, index: 0, seed: seed,
                                        parentWeightsPath: parentWeights, weightsOutputPath: weightsOut)
        let result = try TrainingEvaluator(task: task, configuration: configuration, threads: threads).evaluate(request)
        if let resultOut {
            let environment = ProcessInfo.processInfo.environment
            let job = environment["SLURM_ARRAY_JOB_ID"].flatMap { array in environment["SLURM_ARRAY_TASK_ID"].map { "\(array)_\($0)" } }
                ?? environment["SLURM_JOB_ID"]
            let file = CandidateResultFile(candidate: candidateId, architectureHash: architecture.stableHash, seed: seed,
                                           accuracy: result.accuracy, epochs: result.epochs, seconds: result.seconds,
                                           started: started, finished: Date().timeIntervalSince1970,
                                           host: ProcessInfo.processInfo.hostName, slurmJob: job)
            try AtomicFile.write(file.json(), to: resultOut)
        }
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
    }
}
