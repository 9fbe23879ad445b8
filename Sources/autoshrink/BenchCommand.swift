import AutoShrinkFormats
import ArgumentParser
import AutoShrinkData
import AutoShrinkProfiler
import AutoShrinkEngine
import AutoShrinkModel
import AutoShrinkSearch
import Foundation

/// `autoshrink bench`: benchmarks that print figures.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks that print figures.", subcommands: [BenchTrainCommand.self, BenchRankCommand.self, BenchSearchCommand.self])
}

/// `autoshrink bench train`: training and inference throughput on random data after warm-up.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Training and inference images/s of an architecture on random data.")

    @Option(help: "Architecture: built-in name or *.arch.json.") var arch: String = "refnet"
    @Option(parsing: .unconditional, help: "Images per batch.") var batchSize: Int = 64
    @Option(help: "Input shape CxHxW for built-in architectures.") var input: String = "1x28x28"
    @Option(parsing: .unconditional, help: "Timed repetitions (the median is reported).") var repeats: Int = 5
    @Option(parsing: .unconditional, help: "Training steps per repetition.") var steps: Int = 20
    @Flag(help: "Also print training forward/backward and inference milliseconds per layer.") var layers = false
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try OptionCheck.integer(batchSize, "--batch-size", in: 1...65_536)
        try OptionCheck.integer(repeats, "--repeats", in: 1...10_000)
        try OptionCheck.integer(steps, "--steps", in: 1...1_000_000)
        guard batchSize >= 1, repeats >= 1, steps >= 1 else { throw ValidationError("--batch-size, --repeats and --steps must be positive") }
        guard parsedInput != nil else { throw ValidationError("--input must look like 1x28x28 (channels at most \(InputLimits.maximumChannels), sides at most \(InputLimits.maximumImageSide))") }
    }

    var parsedInput: InputShape? {
        let parts = input.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 > 0 }), parts[0] <= InputLimits.maximumChannels,
              parts[1] <= InputLimits.maximumImageSide, parts[2] <= InputLimits.maximumImageSide else { return nil }
        return InputShape(channels: parts[0], height: parts[1], width: parts[2])
    }

    func run() throws {
        let out = Output(options: output)
        let context = engine.makeContext(output: out)
        let architecture = try resolveArchitecture(arch, input: parsedInput!, classes: 10)
        try checkTrainingFits(architecture, batchSize: batchSize, source: arch)
        let network = Network(architecture: architecture, context: context, seed: engine.seed)
        out.line("bench train: \(architecture.name), batch \(batchSize), \(engine.threads) threads, \(BLASConfiguration.summary)")
        // Random images and labels, one batch's worth, reused every step.
        let count = batchSize * 8
        let imageSize = architecture.input.channels * architecture.input.height * architecture.input.width
        var generator = SeededGenerator(seed: engine.seed)
        let pixels = (0..<(count * imageSize)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let labels = (0..<count).map { _ in Int32(generator.nextInt(below: architecture.classes)) }
        let dataset = Dataset(name: "random", split: .train, channels: architecture.input.channels,
                              height: architecture.input.height, width: architecture.input.width,
                              classCount: architecture.classes, rawPixels: pixels, labels: labels)
        let images = dataset.images
        let trainer = Trainer(network: network, configuration: TrainingConfiguration(
            epochs: 1, batchSize: batchSize, optimizer: OptimizerConfiguration(kind: .sgd, learningRate: 0.01, weightDecay: 5e-4)))
        let batches = (0..<8).map { Array(($0 * batchSize)..<(($0 + 1) * batchSize))[...] }
        for step in 0..<5 { trainer.trainStep(dataset, indices: batches[step % 8]) }   // warm-up
        var trainRates: [Double] = [], trainCPURates: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now(), cpuStart = processCPUSeconds()
            for step in 0..<steps { trainer.trainStep(dataset, indices: batches[step % 8]) }
            trainRates.append(Double(steps * batchSize) / elapsed(since: start))
            trainCPURates.append(Double(steps * batchSize) / (processCPUSeconds() - cpuStart))
        }
        let graph = network.graph
        if layers {
            graph.profiling = true
            for step in 0..<steps { trainer.trainStep(dataset, indices: batches[step % 8]) }
            let training = (forward: graph.forwardSeconds, backward: graph.backwardSeconds)
            graph.profiling = false
            // Inference per layer: a fresh profile of forward passes without training.
            graph.profiling = true
            images.withUnsafeBufferPointer { graph.setInput($0.baseAddress!, batch: batchSize) }
            for _ in 0..<steps { graph.forward(batch: batchSize, training: false) }
            let inference = zip(graph.forwardSeconds, training.forward).map { $0 - $1 }
            graph.profiling = false
            out.result("layer                                     shape        forward ms  backward ms  inference ms")
            for (index, node) in graph.nodes.enumerated() {
                let name = String(describing: type(of: node.layer))
                out.result(String(format: "%-4d %-36@ %-12@ %9.3f  %9.3f  %9.3f", index, name, graph.shapes[node.output].description,
                                  training.forward[index] * 1000 / Double(steps), training.backward[index] * 1000 / Double(steps),
                                  inference[index] * 1000 / Double(steps)))
            }
        }
        var inferRates: [Double] = [], inferCPURates: [Double] = []
        images.withUnsafeBufferPointer { graph.setInput($0.baseAddress!, batch: batchSize) }
        for _ in 0..<3 { graph.forward(batch: batchSize, training: false) }
        for _ in 0..<repeats {
            let start = DispatchTime.now(), cpuStart = processCPUSeconds()
            for step in 0..<steps {
                images.withUnsafeBufferPointer { graph.setInput($0.baseAddress! + (step % 8) * batchSize * imageSize, batch: batchSize) }
                graph.forward(batch: batchSize, training: false)
            }
            inferRates.append(Double(steps * batchSize) / elapsed(since: start))
            inferCPURates.append(Double(steps * batchSize) / (processCPUSeconds() - cpuStart))
        }
        let train = median(trainRates), infer = median(inferRates)
        out.result(String(format: "train %.0f images/s  infer %.0f images/s  (median of %d x %d steps; train min %.0f max %.0f)",
                          train, infer, repeats, steps, trainRates.min()!, trainRates.max()!))
        // Images per CPU-second of this process: with --threads 1 it does not count the time the
        // process waited for a core, so it stays comparable on a busy machine (docs/benchmarks.md).
        out.result(String(format: "per CPU-second: train %.0f images  infer %.0f images", median(trainCPURates), median(inferCPURates)))
        out.json(BenchSummary(trainImagesPerSecond: train, inferImagesPerSecond: infer,
                              trainImagesPerCPUSecond: median(trainCPURates), inferImagesPerCPUSecond: median(inferCPURates),
                              batchSize: batchSize, threads: engine.threads, architecture: architecture.name,
                              blasCore: BLASConfiguration.coreName))
    }
}

/// CPU time used so far by all threads of this process, in seconds.
func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func elapsed(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// `autoshrink bench rank`: does a cheap candidate evaluation order candidates like full proxy
/// training? Samples candidates, evaluates each both ways and prints Kendall's tau (docs/search-quality.md).
struct BenchRankCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rank",
        abstract: "Kendall tau between a cheap candidate evaluation and full proxy training on sampled candidates.",
        discussion: """
            --space step samples candidates of one step (a parent cell minus one edge each; the parent is
            a random cell with --edges edges, or the full cell with --edges 0); --space spread samples
            random cells with edge counts spread over the whole trajectory. The cheap evaluation trains
            --cheap-epochs epochs (with --cheap-inherit starting from the parent trained that long, like
            `search --inherit`); the full one trains --full-epochs epochs from scratch with the proxy
            recipe's early exits (docs/algorithm.md §1). With --halving RUNGS the cheap evaluation is
            `search --halving` over the sample instead (its order: the rung reached, then accuracy).
            """)

    enum Space: String, ExpressibleByArgument, CaseIterable { case step, spread }

    @OptionGroup var data: DatasetOptions
    @Option(help: "Candidates from one step's space (step) or cells spread over all edge counts (spread).") var space: Space = .step
    @Option(parsing: .unconditional, help: "Candidates to sample (M).") var samples: Int = 10
    @Option(parsing: .unconditional, help: "Nodes per cell.") var nodes: Int = 5
    @Option(parsing: .unconditional, help: "--space step: edges of the random parent cell (0 = the full starting cell).") var edges: Int = 0
    @Option(help: "Macro skeleton: reference or a spec like 16s2-24p1-48p2-96p1.") var macro: String = "reference"
    @Option(parsing: .unconditional, help: "Proxy training images per class.") var proxyPerClass: Int = 200
    @Option(parsing: .unconditional, help: "Validation images per class.") var validationPerClass: Int = 100
    @Option(parsing: .unconditional, help: "Epochs of the cheap evaluation.") var cheapEpochs: Int = 1
    @Flag(help: "The cheap evaluation starts from the parent's weights trained --cheap-epochs epochs (--space step).") var cheapInherit = false
    @Option(parsing: .unconditional, help: "Training seed of the cheap evaluation (default: --seed, the full training's). With --cheap-epochs equal to --full-epochs this ranks the sample by a second full training that differs only in its seed: the ceiling of any cheap evaluation's tau.")
    var cheapSeed: UInt64?
    @Option(parsing: .unconditional, help: "Maximum epochs of the full proxy training (early exits apply).") var fullEpochs: Int = 10
    @Option(help: "Instead of --cheap-epochs: successive halving over the sample with these rung epochs before --full-epochs (e.g. 3), like search --halving.")
    var halving: String = "off"
    @Option(parsing: .unconditional, help: "Successive halving: 1 in ETA candidates (rounded up) continues past each rung (2 or 3).") var halvingEta: Int = 2
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try OptionCheck.integer(samples, "--samples", in: 2...1_000)
        try OptionCheck.integer(nodes, "--nodes", in: 2...16)
        try OptionCheck.integer(edges, "--edges", in: 0...120)
        try OptionCheck.integer(proxyPerClass, "--proxy-per-class", in: 1...1_000_000)
        try OptionCheck.integer(validationPerClass, "--validation-per-class", in: 1...1_000_000)
        try OptionCheck.integer(cheapEpochs, "--cheap-epochs", in: 1...10_000)
        try OptionCheck.integer(fullEpochs, "--full-epochs", in: 1...10_000)
        try OptionCheck.macro(macro, allowsAuto: false)
        let schedule = try OptionCheck.halving(halving, eta: halvingEta, epochs: fullEpochs)
        if schedule != nil && cheapInherit { throw ValidationError("--halving trains from scratch; drop --cheap-inherit") }
        if schedule != nil && cheapSeed != nil { throw ValidationError("--halving continues the full training's seed; drop --cheap-seed") }
        if cheapInherit && space != .step { throw ValidationError("--cheap-inherit needs --space step (spread cells have no parent)") }
        if edges > nodes * (nodes - 1) / 2 { throw ValidationError("--edges must be at most \(nodes * (nodes - 1) / 2) for \(nodes) nodes") }
    }

    func run() throws {
        let out = Output(options: output)
        _ = engine.makeContext(output: out)
        let shape = data.dataset.imageShape
        let base = SearchConfiguration(
            dataset: data.dataset.rawValue, input: InputShape(channels: shape.channels, height: shape.height, width: shape.width),
            classes: data.dataset.classCount, nodes: nodes, seed: engine.seed, proxyPerClass: proxyPerClass, epochs: fullEpochs,
            validationPerClass: validationPerClass, macro: macro == "reference" ? nil : try MacroSkeleton(spec: macro))
        try base.validate()
        var cheap = base
        cheap.epochs = cheapEpochs
        var generator = SeededGenerator(seed: engine.seed ^ 0x72616e6b)
        let parent = edges == 0 ? base.startCell
            : RandomSearchStrategy.randomCell(operations: base.nodeOperations, edges: edges, generator: &generator)
        let cells: [(label: String, cell: CellDAG)] = space == .step
            ? RankSampling.step(parent: parent, count: samples, seed: engine.seed).map { ("-\($0.removed)", $0.cell) }
            : RankSampling.spread(operations: base.nodeOperations, count: samples, seed: engine.seed).map { ("\($0.edges.count) edges", $0) }
        guard cells.count >= 2 else { throw CLIError("bench rank: the sampled space has fewer than 2 candidates") }
        let schedule = try HalvingSchedule(spec: halving, eta: halvingEta)
        out.heading("""
            bench rank: \(cells.count) candidates (\(space.rawValue)\(space == .step ? " of a \(parent.edges.count)-edge parent" : "")), macro \(base.skeleton)
              cheap  \(schedule.map { "successive halving: \($0)" } ?? "\(cheapEpochs) epoch(s)\(cheapInherit ? " from the parent's weights" : " from scratch")\(cheapSeed.map { ", training seed \($0)" } ?? "")")
              full   <= \(fullEpochs) epochs from scratch with early exits; \(proxyPerClass)/class train, \(validationPerClass)/class validation
            """)
        let task = try ProxyTask.load(dataset: data.dataset, directory: data.dataDir, perClass: proxyPerClass,
                                      validationPerClass: validationPerClass, seed: engine.seed)
        let cheapEvaluator = TrainingEvaluator(task: task, configuration: cheap, threads: engine.threads)
        let fullEvaluator = TrainingEvaluator(task: task, configuration: base, threads: engine.threads)
        // All candidates share one training seed, as a search step's do (CandidateEvaluator.swift);
        // --cheap-seed gives the cheap evaluation another one (the seed-to-seed ceiling of tau).
        let seed = engine.seed
        let cheapTrainingSeed = cheapSeed ?? seed
        var parentWeights: String?
        var parentSeconds = 0.0
        if cheapInherit {
            let path = ScratchFiles.path("bench")  // no suffix: the leftover cleaner recognises KIND-pPID-HEX8
            let result = try cheapEvaluator.evaluate(EvaluationRequest(
                architecture: base.architecture(cell: parent, name: "parent"), candidateID: "parent", step: 0, index: 0, seed: cheapTrainingSeed,
                weightsOutputPath: path))
            parentWeights = path
            parentSeconds = result.seconds
            out.line(String(format: "parent trained %d epoch(s): validation %.4f (%.1f s)", result.epochs, result.accuracy, result.seconds))
        }
        defer { if let parentWeights { try? FileManager.default.removeItem(atPath: parentWeights) } }
        // --halving: the search's procedure over the whole sample first (SuccessiveHalving.swift); the
        // candidates are ranked by accuracy, as a search without resource terms would.
        var halved: [(value: EvaluationResult, rung: HalvingRung)]?
        if let schedule {
            func request(_ index: Int) -> EvaluationRequest {
                EvaluationRequest(architecture: base.architecture(cell: cells[index].cell, name: "rank-\(index)"), candidateID: "halving-\(index)",
                                  step: 1, index: index, seed: seed)
            }
            let bar = out.progress("halving", total: cells.count, unit: "candidates")
            var ended = 0
            halved = try SuccessiveHalving.run(count: cells.count, schedule: schedule, epochs: fullEpochs, train: { index, untilEpoch in
                try fullEvaluator.train(request(index), untilEpoch: untilEpoch)
            }, ranksBefore: { $0.accuracy > $1.accuracy }, finish: { index, _ in
                try fullEvaluator.finish(request(index), keepWeights: false)
                ended += 1
                bar.update(ended, total: cells.count)
            })
            bar.finish("")
        }
        var cheapAccuracy: [Double] = [], fullAccuracy: [Double] = []
        var cheapSeconds = parentSeconds, fullSeconds = 0.0
        var cheapEpochsTrained = 0, fullEpochsTrained = 0
        let bar = out.progress("rank", total: cells.count, unit: "candidates")
        for (index, candidate) in cells.enumerated() {
            let architecture = base.architecture(cell: candidate.cell, name: "rank-\(index)")
            let quick = try halved?[index].value ?? cheapEvaluator.evaluate(EvaluationRequest(
                architecture: architecture, candidateID: "cheap-\(index)", step: 1, index: index, seed: cheapTrainingSeed, parentWeightsPath: parentWeights))
            let full = try fullEvaluator.evaluate(EvaluationRequest(architecture: architecture, candidateID: "full-\(index)", step: 1,
                                                                    index: index, seed: seed))
            // Under halving a candidate's key is its rung, then its accuracy (rungs outrank accuracy).
            cheapAccuracy.append(quick.accuracy + Double(halved?[index].rung.reached ?? 0)); fullAccuracy.append(full.accuracy)
            cheapSeconds += quick.seconds; fullSeconds += full.seconds
            cheapEpochsTrained += quick.epochs; fullEpochsTrained += full.epochs
            out.line(String(format: "  %2d %-12@ %@ MACs  cheap %.4f (%.1f s%@)  full %.4f (%d epochs, %.1f s)", index, candidate.label,
                            ArchitectureSummary.scaled(Double(CostModel.costs(of: architecture).macs)), quick.accuracy, quick.seconds,
                            halved.map { ", rung \($0[index].rung.reached)/\($0[index].rung.rungs), \(quick.epochs) epochs" } ?? "",
                            full.accuracy, full.epochs, full.seconds))
            bar.update(index + 1, total: cells.count)
        }
        bar.finish("")
        if let halved {
            // Survivors trained exactly as full training (same seed, exact continuation): equal accuracies.
            let survivors = halved.indices.filter { !halved[$0].rung.isPartial }
            let exact = survivors.allSatisfy { halved[$0].value.accuracy == fullAccuracy[$0] }
            let winner = survivors.min { halved[$0].value.accuracy != halved[$1].value.accuracy ? halved[$0].value.accuracy > halved[$1].value.accuracy : $0 < $1 }!
            let fullRank = 1 + fullAccuracy.filter { $0 > fullAccuracy[winner] }.count
            out.result(String(format: "halving: winner %d has full accuracy %.4f (rank %d of %d by full training, best %.4f); survivors' accuracy equals full training: %@",
                              winner, fullAccuracy[winner], fullRank, cells.count, fullAccuracy.max()!, exact ? "yes" : "NO"))
        }
        let tau = RankCorrelation.kendallTau(cheapAccuracy, fullAccuracy)
        // Epochs are the load-independent cost (seconds vary with what else runs on the machine).
        out.result(String(format: "Kendall tau %.3f over %d candidates; cheap %.1f s, full %.1f s (%.1fx cheaper); epochs trained: cheap %d, full %d; full top-1 ranked %d by cheap",
                          tau, cells.count, cheapSeconds, fullSeconds, fullSeconds / max(cheapSeconds, 1e-9),
                          cheapEpochsTrained + (parentWeights == nil ? 0 : cheapEpochs), fullEpochsTrained,
                          1 + cheapAccuracy.indices.filter { cheapAccuracy[$0] > cheapAccuracy[fullAccuracy.indices.max { fullAccuracy[$0] < fullAccuracy[$1] }!] }.count))
    }
}

/// `autoshrink bench search`: AutoShrink against random search at an equal candidate budget over
/// several seeds (docs/search-quality.md). Each seed's random run draws cells with the edge counts
/// of that seed's AutoShrink trajectory (`RandomSearchStrategy.plan(matching:)`).
struct BenchSearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "AutoShrink vs random search at equal candidate budget over seeds: mean ± sd of best validation accuracy, latency, time.",
        discussion: """
            Runs live in OUT/autoshrink-sSEED and OUT/random-sSEED and are resumed when the command is
            run again with the same settings. The validation split (default 500 images per class) is
            what the best snapshot's accuracy is measured on; at 5,000 images the standard error of an
            accuracy near 0.9 is about 0.4 points.
            """)

    @Option(help: "Output directory for the runs.") var out: String = "runs/bench-search"
    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "Seeds 1...S.") var seeds: Int = 3
    @Option(parsing: .unconditional, help: "Nodes per cell.") var nodes: Int = 5
    @Option(parsing: .unconditional, help: "Candidates per step (K).") var candidates: Int = 3
    @Option(parsing: .unconditional, help: "Proxy training images per class.") var proxyPerClass: Int = 200
    @Option(parsing: .unconditional, help: "Validation images per class (>= 500 resolves about 0.5 points).") var validationPerClass: Int = 500
    @Option(parsing: .unconditional, help: "Maximum epochs per candidate.") var epochs: Int = 3
    @Flag(help: "AutoShrink candidates inherit the parent's weights.") var inherit = false
    @Option(help: "Macro skeleton: reference, auto (needs a hard limit) or a spec.") var macro: String = "reference"
    @Option(help: "Device profile for predicted latency.") var profile: String?
    @Flag(help: "Use a profile measured on another machine (warns instead of refusing).") var allowForeignProfile = false
    @Option(parsing: .unconditional, help: "Hard limit: predicted latency in ms (needs --profile); also a latency_ms term with weight 0.1.")
    var maxLatencyMs: Double?
    @Option(parsing: .unconditional, help: "Hard limit: multiply-accumulates per image.") var maxMacs: Int?
    @Option(help: "baselines.json of `autoshrink baselines`: print its front and each best's difference to it at the same latency.")
    var baselines: String?
    @Option(help: "Successive halving inside each step for both strategies: off, or rung epochs before --epochs (e.g. 3; docs/algorithm.md §1).")
    var halving: String = "off"
    @Option(parsing: .unconditional, help: "Successive halving's eta (2 or 3).") var halvingEta: Int = 2
    @Option(parsing: .unconditional, help: "Also train each strategy's best network this many epochs from scratch with the `train` defaults (seed: the bench seed) and compare test accuracy, which the best-of-many selection does not inflate (0: off).")
    var retrainEpochs: Int = 0
    @Option(parsing: .unconditional, help: "--retrain-epochs: training images per class (default: all, as `train`).") var retrainPerClass: Int?
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try OptionCheck.integer(seeds, "--seeds", in: 1...100)
        try OptionCheck.integer(retrainEpochs, "--retrain-epochs", in: 0...10_000)
        try OptionCheck.integer(retrainPerClass, "--retrain-per-class", in: 1...1_000_000)
        if retrainPerClass != nil && retrainEpochs == 0 { throw ValidationError("--retrain-per-class needs --retrain-epochs") }
        try OptionCheck.integer(nodes, "--nodes", in: 2...16)
        try OptionCheck.integer(candidates, "--candidates", in: 1...10_000)
        try OptionCheck.integer(proxyPerClass, "--proxy-per-class", in: 1...1_000_000)
        try OptionCheck.integer(validationPerClass, "--validation-per-class", in: 1...1_000_000)
        try OptionCheck.integer(epochs, "--epochs", in: 1...10_000)
        try OptionCheck.positive(maxLatencyMs, "--max-latency-ms", maximum: 1e9)
        try OptionCheck.integer(maxMacs, "--max-macs", in: 1...InputLimits.maximumMACs)
        if maxLatencyMs != nil && profile == nil { throw ValidationError("--max-latency-ms needs --profile profiles/DEVICE.json") }
        try OptionCheck.macro(macro, allowsAuto: true)
        if macro == "auto" && maxLatencyMs == nil && maxMacs == nil { throw ValidationError("--macro auto needs --max-latency-ms or --max-macs") }
        try OptionCheck.halving(halving, eta: halvingEta, epochs: epochs)
    }

    struct Outcome {
        var accuracy: Double?
        var latency: Double?
        var macs: Int?
        var seconds: Double
        var candidates: Int
        var baseline: BaselineComparison?
        /// Test accuracy of the best network trained --retrain-epochs epochs with the `train` defaults.
        var retrained: Double?
        /// The run's score of the retrained network: its test accuracy with the best's resource terms
        /// (what the search maximises, judged on the unbiased accuracy).
        var retrainedScore: Double?
    }

    /// Trains `architecture` `retrainEpochs` epochs with the `train` defaults in `directory` (a child
    /// `autoshrink train`, so the recipe is exactly `train`'s) and returns its test accuracy; a finished
    /// earlier training of the same network there (its train.json) is reused. The directory's name
    /// holds the epochs and --retrain-per-class, the bench seed is the run's.
    func retrain(architecture path: String, directory: String, seed: UInt64, output: Output) throws -> Double {
        let hash = try Architecture.load(path: path).stableHash
        if let data = FileManager.default.contents(atPath: directory + "/train.json"),
           let done = try? TrainSummary.decodeSummary(data, source: directory + "/train.json"),
           done.architectureHash == hash, done.epochs == retrainEpochs {
            return done.testAccuracy
        }
        var arguments = ["train", "--arch", path, "--epochs", String(retrainEpochs), "--out", directory, "--seed", String(seed),
                         "--threads", String(engine.threads), "--dataset", data.dataset.rawValue, "--json"]
        if let dataDir = data.dataDir { arguments += ["--data-dir", dataDir] }
        if let retrainPerClass { arguments += ["--train-per-class", String(retrainPerClass)] }
        return try runChildCommand(arguments, as: TrainSummary.self, output: output, caller: "bench search").testAccuracy
    }

    func run() throws {
        let out = Output(options: output)
        _ = engine.makeContext(output: out)
        let predictor = try profile.map { try ProfileLatencyPredictor.load(path: $0, allowForeignMachine: allowForeignProfile) }
        if let warning = predictor?.foreignMachineWarning { out.warn(warning) }
        let meter = ResourceMeter(latencyPredictor: predictor)
        // Read before any training: a bad file fails at once.
        let front = try baselines.map { try BaselineFront.load(path: $0) }
        let shape = data.dataset.imageShape
        var terms = ScoreFunction.reference.terms
        if let maxLatencyMs { terms = [ResourceTerm(.latencyMilliseconds, target: maxLatencyMs, weight: 0.1)] }
        let score = ScoreFunction(terms: terms, limits: HardLimits(maxLatencyMilliseconds: maxLatencyMs, maxMACs: maxMacs))
        try FileProblem.createDirectory(self.out)
        out.heading("""
            bench search: autoshrink vs random, seeds 1...\(seeds), N=\(nodes), K=\(candidates), \(proxyPerClass)/class train, \
            \(validationPerClass)/class validation, <= \(epochs) epochs\(inherit ? ", autoshrink inherits" : "")\(halving == "off" ? "" : ", successive halving at \(halving) (eta \(halvingEta))")
              score  \(score.summary)
            """)
        var outcomes: [SearchStrategyKind: [Outcome]] = [:]
        for seed in 1...UInt64(seeds) {
            var configuration = SearchConfiguration(
                strategy: .autoshrink, dataset: data.dataset.rawValue,
                input: InputShape(channels: shape.channels, height: shape.height, width: shape.width), classes: data.dataset.classCount,
                nodes: nodes, candidates: candidates, seed: seed, proxyPerClass: proxyPerClass, epochs: epochs, inherit: inherit,
                score: score, latencyProfile: predictor?.identity, validationPerClass: validationPerClass,
                halving: try HalvingSchedule(spec: halving, eta: halvingEta))
            try resolveMacro(macro, edgeFraction: 1, configuration: &configuration, meter: meter, output: out)
            let task = try ProxyTask.load(dataset: data.dataset, directory: data.dataDir, perClass: proxyPerClass,
                                          validationPerClass: validationPerClass, seed: seed)
            var autoshrinkRecords: [CandidateRecord] = []
            for strategy in [SearchStrategyKind.autoshrink, .random] {
                var run = configuration
                run.strategy = strategy
                if strategy == .random {
                    run.inherit = false
                    run.randomPlan = RandomSearchStrategy.plan(matching: autoshrinkRecords)
                }
                let runner = SearchRunner(configuration: run, runDirectory: "\(self.out)/\(strategy.rawValue)-s\(seed)",
                                          evaluator: TrainingEvaluator(task: task, configuration: run, threads: engine.threads),
                                          latencyPredictor: predictor, observer: PrintingObserver(output: out))
                let result = try runner.run(resume: true)
                if strategy == .autoshrink { autoshrinkRecords = result.records }
                let best = result.best?.winner
                let baseline = front.flatMap { front in best.flatMap {
                    BaselineComparison.compare(accuracy: $0.accuracy, predictedMilliseconds: $0.resources.latencyMilliseconds,
                                               measuredMilliseconds: nil, front: front)
                } }
                var outcome = Outcome(accuracy: best?.accuracy, latency: best?.resources.latencyMilliseconds, macs: best?.resources.macs,
                                      seconds: result.candidateSeconds, candidates: result.candidatesTrained, baseline: baseline)
                if retrainEpochs > 0, let path = result.bestArchitecturePath {
                    let retrained = try retrain(architecture: path, directory: "\(self.out)/\(strategy.rawValue)-s\(seed)/retrain-e\(retrainEpochs)"
                                                + (retrainPerClass.map { "-pc\($0)" } ?? ""),
                                                seed: seed, output: out)
                    outcome.retrained = retrained
                    outcome.retrainedScore = best.map { score.score(accuracy: retrained, resources: $0.resources) }
                }
                outcomes[strategy, default: []].append(outcome)
                out.line(String(format: "seed %d %@: best validation %@, %@ MACs%@, %d candidates, %.1f s of training", seed,
                                strategy.rawValue, best.map { String(format: "%.4f", $0.accuracy) } ?? "none feasible",
                                best.map { ArchitectureSummary.scaled(Double($0.resources.macs)) } ?? "-",
                                best?.resources.latencyMilliseconds.map { String(format: ", predicted %.4f ms", $0) } ?? "",
                                outcome.candidates, outcome.seconds)
                         + (outcome.retrained.map { String(format: "; retrained %d epochs: test %.4f", retrainEpochs, $0) } ?? ""))
                if front != nil { out.line("  vs baselines: " + (baseline?.summary ?? "no latency both the best and two baselines have (predicted latency needs --profile)")) }
            }
        }
        /// Mean and sample standard deviation (0 for one value) of a non-empty list.
        func meanAndSD(_ values: [Double]) -> (mean: Double, sd: Double) {
            let mean = values.reduce(0, +) / Double(values.count)
            let sd = values.count > 1 ? (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : 0
            return (mean, sd)
        }
        func meanSD(_ values: [Double]) -> String {
            guard !values.isEmpty else { return "-" }
            let (mean, sd) = meanAndSD(values)
            return String(format: "%.4g ± %.2g", mean, sd)
        }
        if let front {
            // The front: int8 test accuracy on the device (engine float32 when not exported) by latency.
            out.result("baseline front (\(baselines!), \(front.device)): accuracy is int8 test accuracy, the searches' is proxy validation")
            out.result("baseline          accuracy  predicted ms  measured ms  MACs (M)")
            for entry in front.entries.sorted(by: { ($0.predictedLatencyMilliseconds ?? $0.latencyMilliseconds ?? 0) < ($1.predictedLatencyMilliseconds ?? $1.latencyMilliseconds ?? 0) }) {
                out.result(entry.name.padding(toLength: max(17, entry.name.count), withPad: " ", startingAt: 0) + String(format: " %.4f    %@  %@  %.4g", entry.accuracy,
                                  (entry.predictedLatencyMilliseconds.map { String(format: "%.5f", $0) } ?? "-").padding(toLength: 12, withPad: " ", startingAt: 0),
                                  (entry.latencyMilliseconds.map { String(format: "%.5f", $0) } ?? "-").padding(toLength: 11, withPad: " ", startingAt: 0),
                                  Double(entry.macs) / 1e6))
            }
        }
        out.result("strategy    seeds  best validation acc  predicted latency ms  MACs (M)         candidates  training s"
                   + (front != nil ? "        acc - front at its latency" : "") + (retrainEpochs > 0 ? "  retrained test acc" : ""))
        for strategy in [SearchStrategyKind.autoshrink, .random] {
            let rows = outcomes[strategy] ?? []
            let line = strategy.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0) + " "
                + String(rows.count).padding(toLength: 6, withPad: " ", startingAt: 0) + " "
                + meanSD(rows.compactMap(\.accuracy)).padding(toLength: 20, withPad: " ", startingAt: 0) + " "
                + meanSD(rows.compactMap(\.latency)).padding(toLength: 21, withPad: " ", startingAt: 0) + " "
                + meanSD(rows.compactMap { $0.macs.map { Double($0) / 1e6 } }).padding(toLength: 16, withPad: " ", startingAt: 0) + " "
                + meanSD(rows.map { Double($0.candidates) }).padding(toLength: 11, withPad: " ", startingAt: 0) + " "
                + meanSD(rows.map(\.seconds))
            let differences = rows.compactMap { $0.baseline?.difference }
            out.result(line + (front == nil ? "" : String(repeating: " ", count: max(1, 18 - meanSD(rows.map(\.seconds)).count))
                + (differences.isEmpty ? "-" : "\(meanSD(differences)) (\(differences.count) of \(rows.count) compared)"))
                + (retrainEpochs > 0 ? "  " + meanSD(rows.compactMap(\.retrained)) : ""))
        }
        // Paired by seed (both strategies of a seed share its data split and training seed): the mean
        // difference and its standard error, sd / sqrt(n), the figure the issue's target is stated in.
        func paired(_ value: (Outcome) -> Double?) -> String {
            let pairs = zip(outcomes[.autoshrink] ?? [], outcomes[.random] ?? []).compactMap { a, r in value(a).flatMap { x in value(r).map { x - $0 } } }
            guard !pairs.isEmpty else { return "-" }
            let (mean, sd) = meanAndSD(pairs)
            return String(format: "%+.4f ± %.4f (standard error %.4f, %d seeds)", mean, sd, sd / Double(pairs.count).squareRoot(), pairs.count)
        }
        out.result("autoshrink - random, paired by seed: best validation acc " + paired(\.accuracy)
                   + (retrainEpochs > 0 ? "; retrained test acc " + paired(\.retrained) : ""))
        if retrainEpochs > 0 && !score.terms.isEmpty {
            // Both strategies maximise the score, not the accuracy: the same comparison on the score of
            // the retrained networks (test accuracy with each best's resource terms, docs/search-quality.md).
            out.result("autoshrink - random, paired by seed: retrained score (\(score.summary)) " + paired(\.retrainedScore))
        }
    }
}
