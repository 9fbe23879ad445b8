import AutoShrinkFormats
import ArgumentParser
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkModel
import Foundation

/// `autoshrink train`: trains an architecture on a dataset and saves a checkpoint.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an architecture (built-in or *.arch.json) and save a checkpoint.")

    @OptionGroup var data: DatasetOptions
    @Option(help: "Architecture: a built-in name (\(BuiltinArchitectures.names.joined(separator: ", "))) or an *.arch.json file; with --task lm, 'lstm' trains the LSTM baseline.")
    var arch: String = "refnet"
    @Option(parsing: .unconditional, help: "Training epochs.") var epochs: Int = 10
    @Option(parsing: .unconditional, help: "Images per batch.") var batchSize: Int = 64
    @Option(help: "Optimizer: sgd (Nesterov momentum 0.9), adam or rmsprop.") var optimizer: OptimizerKind = .sgd
    @Option(parsing: .unconditional, help: "Peak learning rate (default: 0.2 sgd, 0.002 adam, 0.001 rmsprop; 20 with --task lm).") var lr: Float?
    @Option(parsing: .unconditional, help: "L2 weight decay on convolution and linear weights.") var weightDecay: Float = 5e-5
    @Option(help: "Learning-rate schedule: constant, cosine or step.") var schedule: LearningRateSchedule.Kind = .cosine
    @Option(parsing: .unconditional, help: "Linear warm-up, in epochs.") var warmupEpochs: Double = 0.5
    @Option(parsing: .unconditional, help: "Validation images per class held out from the training set (class-balanced).")
    var validationPerClass: Int = 50
    @Option(parsing: .unconditional, help: "Train on only this many images per class (class-balanced subset; default: all).")
    var trainPerClass: Int?
    @Flag(help: "Random crop (pad 2) + horizontal flip augmentation.") var augment = false
    @Option(help: "Output directory for model.ckpt and train.json (default: runs/train-ARCH; runs/train-lm with --task lm, runs/train-lm-lstm with --task lm --arch lstm).") var out: String?
    @Option(help: "Task: classify (images, the default) or lm (word-level language model with an RNN cell, docs/shrinkrnn.md).")
    var task: TrainingTask = .classify
    @OptionGroup var lm: LanguageModelOptions
    @OptionGroup var lstm: LSTMOptions
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if task == .lm { try LSTMCommands.validate(self) }  // --arch lstm or the cell model (docs/shrinkrnn.md)
        if task != .lm, lstm.matchSize != nil { throw ValidationError("--match-size: an option of --task lm --arch lstm") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        try OptionCheck.integer(epochs, "--epochs", in: 1...100_000)
        try OptionCheck.integer(batchSize, "--batch-size", in: 1...65_536)
        try OptionCheck.positive(lr, "--lr", maximum: task == .lm ? 1000 : 10)  // language models train at lr 20 (NT-ASGD)
        try OptionCheck.finite(weightDecay, "--weight-decay", in: 0...1)
        try OptionCheck.finite(warmupEpochs, "--warmup-epochs", in: 0...Double(epochs))
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let lr, !(lr > 0) { throw ValidationError("--lr must be positive") }
        guard validationPerClass >= 0 else { throw ValidationError("--validation-per-class must not be negative") }
        if let trainPerClass, trainPerClass < 1 { throw ValidationError("--train-per-class must be at least 1") }
        guard weightDecay >= 0 else { throw ValidationError("--weight-decay must not be negative") }
    }

    var learningRate: Float {
        lr ?? [.sgd: 0.2, .adam: 0.002, .rmsprop: 0.001][optimizer]!
    }

    func run() throws {
        if task == .lm { return arch == LSTMCommands.arch ? try LSTMCommands.train(self) : try LanguageModelCommands.train(self) }
        let out = Output(options: output)
        let start = DispatchTime.now()
        let context = engine.makeContext(output: out)
        let (fullTrain, test) = try DatasetLoader.loadTrainAndTest(data.dataset, directory: data.dataDir)
        let architecture = try resolveArchitecture(arch, input: InputShape(channels: fullTrain.channels, height: fullTrain.height, width: fullTrain.width),
                                                   classes: fullTrain.classCount)
        let available = (fullTrain.classCounts().min() ?? 0) - validationPerClass
        guard available > 0 else { throw CLIError("--validation-per-class \(validationPerClass) leaves no training images") }
        if let trainPerClass, trainPerClass > available {
            throw CLIError("--train-per-class \(trainPerClass): the smallest class has only \(available) training images left")
        }
        let perClass = trainPerClass ?? available
        let (train, validation) = validationPerClass > 0 || trainPerClass != nil
            ? try fullTrain.balancedSplit(trainPerClass: perClass, validationPerClass: validationPerClass, seed: engine.seed)
            : (fullTrain, fullTrain.subset([])) as (Dataset, Dataset)
        let directory = self.out ?? "runs/train-\(architecture.name)"  // the name passed SafeName in resolveArchitecture
        try WritableCheck.directory(directory, option: self.out == nil ? "output folder" : "--out")
        // Buffers are sized by the real batch: at most the training images there are.
        try checkTrainingFits(architecture, batchSize: max(1, min(batchSize, train.count)), source: arch)
        let configuration = TrainingConfiguration(
            epochs: epochs, batchSize: batchSize,
            optimizer: OptimizerConfiguration(kind: optimizer, learningRate: learningRate, weightDecay: weightDecay),
            schedule: schedule, warmupEpochs: warmupEpochs, seed: engine.seed,
            augmentation: augment ? Augmentation(padding: 2, horizontalFlip: true) : nil)
        let network = Network(architecture: architecture, context: context, seed: engine.seed)
        let costs = CostSummary(network: network)
        out.heading("""
            autoshrink train
              dataset       \(data.dataset.rawValue) (\(train.count) train, \(validation.count) validation, \(test.count) test) from \(data.dataDir ?? data.dataset.defaultDirectory)
              architecture  \(architecture.name) [\(architecture.stableHash)] \(costs.text)
              training      \(epochs) epochs, batch \(batchSize), \(optimizer.rawValue) lr \(learningRate) \(schedule.rawValue) schedule, warm-up \(warmupEpochs) epochs, weight decay \(weightDecay)\(augment ? ", augmentation" : "")
              engine        \(engine.threads) threads, seed \(engine.seed), \(BLASConfiguration.summary)
              output        \(directory)/model.ckpt
            """)
        let trainer = Trainer(network: network, configuration: configuration)
        let bar = out.progress("training", total: 1, unit: "batches", plainLines: false)
        let result = trainer.fit(train: train, validation: validation.count > 0 ? validation : nil,
                                 onBatch: { bar.update($0, total: $1) }) { report in
            let validationText = report.validationAccuracy.map { String(format: "%.4f", $0) } ?? "-"
            out.line(String(format: "epoch %3d/%d  loss %.4f  train acc %.4f  val acc %@  %7.0f images/s  lr %.4g  ETA %@",
                            report.epoch, epochs, report.loss, report.trainAccuracy, validationText, report.imagesPerSecond,
                            report.learningRate, formatDuration(report.etaSeconds)))
        }
        bar.finish(String(format: "%.0f train images/s", result.trainImagesPerSecond))
        if let diverged = result.epochs.first(where: { !$0.loss.isFinite }) {
            throw CLIError("training diverged: the loss became \(diverged.loss) in epoch \(diverged.epoch); lower --lr or --weight-decay (no checkpoint written)")
        }
        let testAccuracy = trainer.evaluate(test).accuracy
        try FileProblem.createDirectory(directory)
        let checkpointPath = directory + "/model.ckpt"
        let metadata = CheckpointMetadata(dataset: data.dataset.rawValue, epochs: result.epochs.count, testAccuracy: testAccuracy,
                                          validationAccuracy: result.bestValidationAccuracy, seed: engine.seed,
                                          normalizationMean: train.normalization.mean, normalizationStd: train.normalization.std)
        try Checkpoint(network: network, metadata: metadata).write(to: checkpointPath)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        out.result(String(format: "test accuracy %.4f  (%@, %.0f train images/s, %@)  checkpoint %@",
                          testAccuracy, architecture.name, result.trainImagesPerSecond, formatDuration(seconds), checkpointPath))
        let summary = TrainSummary(
            testAccuracy: testAccuracy, validationAccuracy: result.bestValidationAccuracy,
            trainImagesPerSecond: result.trainImagesPerSecond, epochs: result.epochs.count,
            seconds: seconds, checkpoint: checkpointPath, architecture: architecture.name,
            architectureHash: architecture.stableHash, parameters: network.parameterCount)
        try AtomicFile.write(try summary.jsonData(pretty: true), to: directory + "/train.json")
        out.json(summary)
    }
}

/// Short cost line for configuration printouts (parameters; MACs once the cost model lands).
struct CostSummary {
    let text: String
    init(network: Network) {
        let cost = CostModel.costs(of: network.layers)
        text = "\(ArchitectureSummary.scaled(Double(cost.macs))) MACs, \(network.parameterCount) parameters"
    }
}

/// `autoshrink evaluate CHECKPOINT`: test accuracy of a checkpoint.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "evaluate", abstract: "Test accuracy of a checkpoint (test perplexity with --task lm).")

    @Argument(help: "Checkpoint file (model.ckpt).") var checkpoint: String
    @OptionGroup var data: DatasetOptions
    @Option(help: "Task: classify (images, the default) or lm (a language-model checkpoint: test perplexity).")
    var task: TrainingTask = .classify
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        if task == .lm { return try LanguageModelCommands.evaluate(self) }
        let out = Output(options: output)
        let start = DispatchTime.now()
        let context = engine.makeContext(output: out)
        let stored = try Checkpoint.load(path: checkpoint)
        let normalization = Normalization(mean: stored.metadata.normalizationMean, std: stored.metadata.normalizationStd)
        let test = try DatasetLoader.load(data.dataset, split: .test, directory: data.dataDir, normalization: normalization)
        let input = stored.architecture.input
        guard input == InputShape(channels: test.channels, height: test.height, width: test.width), stored.architecture.classes == test.classCount else {
            throw CLIError("\(checkpoint): trained for \(input.channels)x\(input.height)x\(input.width) inputs, \(data.dataset.rawValue) has \(test.channels)x\(test.height)x\(test.width)")
        }
        try checkTrainingFits(stored.architecture, batchSize: 256, source: checkpoint, purpose: "evaluation")
        let network = try stored.makeNetwork(context: context)
        out.line("evaluating \(checkpoint) (\(stored.architecture.name), trained on \(stored.metadata.dataset)) on \(test.count) \(data.dataset.rawValue) test images")
        let trainer = Trainer(network: network, configuration: TrainingConfiguration(
            epochs: 1, optimizer: OptimizerConfiguration(kind: .sgd, learningRate: 0, weightDecay: 0)))
        let (accuracy, loss) = trainer.evaluate(test)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        out.result(String(format: "test accuracy %.4f  loss %.4f", accuracy, loss))
        out.json(EvaluateSummary(testAccuracy: accuracy, testLoss: loss, images: test.count, seconds: seconds, checkpoint: checkpoint))
    }
}
