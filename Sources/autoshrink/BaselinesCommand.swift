import AutoShrinkFormats
import ArgumentParser
import AutoShrinkData
import AutoShrinkProfiler
import AutoShrinkEngine
import AutoShrinkExport
import AutoShrinkModel
import Foundation

/// `autoshrink baselines`: the hand-designed baseline front of a device (docs/baselines.md). Each
/// baseline (refnet and MobileNetV2-style widths) gets its learning rate chosen on a validation split
/// held out of the training set, is trained, exported to int8 C like `autoshrink export` and measured
/// on the device; `OUT/baselines.json` (`BaselineFront`) collects accuracy and latency per network.
struct BaselinesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baselines",
        abstract: "Train, export and measure hand-designed baselines (refnet and MobileNetV2-style widths) on a device.",
        discussion: """
        Writes OUT/baselines.json (format autoshrink.baselines), OUT/checkpoints/NAME.ckpt and OUT/deploy/NAME/ \
        (the export of each baseline). For every baseline, each learning rate of --lrs trains for --search-epochs \
        on --search-per-class images per class and is scored on --validation-per-class images per class held out \
        of the training set; the best rate then trains for --epochs. baselines.json is rewritten after every \
        baseline. OUT must be new, empty or an earlier baselines folder (--force overrides).
        """)

    @Option(help: "Device: a name from devices/ or a devices/*.toml file.") var device: String = "local"
    @OptionGroup var data: DatasetOptions
    @Option(parsing: .unconditional, help: "Epochs of each baseline's final training run.") var epochs: Int = 3
    @Option(help: "Families, comma-separated: \(BaselineArchitectures.Family.allCases.map(\.rawValue).joined(separator: ", ")).")
    var families: String = BaselineArchitectures.Family.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Width multipliers, comma-separated (default: each family's own list, see docs/baselines.md).")
    var widths: String?
    @Option(parsing: .unconditional, help: "Training images per class of the final runs (default: all left after the validation split).")
    var perClass: Int?
    @Option(parsing: .unconditional, help: "Validation images per class held out of the training set for choosing the learning rate.")
    var validationPerClass: Int = 500
    @Option(help: "Learning rates tried per baseline, comma-separated (SGD with Nesterov momentum, cosine schedule).")
    var lrs: String = "0.05,0.1,0.2"
    @Option(parsing: .unconditional, help: "Epochs of each learning-rate trial.") var searchEpochs: Int = 1
    @Option(parsing: .unconditional, help: "Training images per class of each learning-rate trial.") var searchPerClass: Int = 1000
    @Option(parsing: .unconditional, help: "Images per batch.") var batchSize: Int = 64
    @Option(help: "Device profile (profiles/X.json) to add each baseline's predicted latency.") var profile: String?
    @Flag(help: "Use a profile measured on another machine (warns instead of refusing).") var allowForeignProfile = false
    @Option(parsing: .unconditional, help: "Test images for the exported binaries' accuracy runs (default: all).") var testImages: Int?
    @Option(parsing: .unconditional, help: "Timed runs of each latency bench.") var benchRuns: Int = 2000
    @Flag(help: "Only build the exports; do not run the binaries (no device accuracy or latency).") var noRun = false
    @Option(help: "Output directory (default: runs/baselines-DEVICE).") var out: String?
    @Flag(help: "Write into --out even when it is not an earlier baselines folder.") var force = false
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    static let weightDecay = 5e-5
    static let warmupEpochs = 0.5

    func validate() throws {
        try OptionCheck.integer(epochs, "--epochs", in: 1...100_000)
        try OptionCheck.integer(searchEpochs, "--search-epochs", in: 1...100_000)
        try OptionCheck.integer(batchSize, "--batch-size", in: 1...65_536)
        try OptionCheck.integer(perClass, "--per-class", in: 1...100_000_000)
        try OptionCheck.integer(validationPerClass, "--validation-per-class", in: 1...100_000_000)
        try OptionCheck.integer(searchPerClass, "--search-per-class", in: 1...100_000_000)
        try OptionCheck.integer(testImages, "--test-images", in: 1...100_000_000)
        try OptionCheck.integer(benchRuns, "--bench-runs", in: 1...100_000_000)
        _ = try parsedFamilies()
        _ = try parsedWidths()
        _ = try parsedRates()
    }

    func parsedFamilies() throws -> [BaselineArchitectures.Family] {
        let names = families.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw ValidationError("--families must name at least one family") }
        var result: [BaselineArchitectures.Family] = []
        for name in names {
            guard let family = BaselineArchitectures.Family(rawValue: name) else {
                throw ValidationError("--families: unknown family '\(name)' (known: \(BaselineArchitectures.Family.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            if !result.contains(family) { result.append(family) }
        }
        return result
    }

    func parsedWidths() throws -> [Double]? {
        guard let widths else { return nil }
        let range = BaselineArchitectures.widthRange
        return try Self.numbers(widths, option: "--widths", valid: { range.contains($0) },
                                expectation: "in \(range.lowerBound)...\(range.upperBound)")
    }

    func parsedRates() throws -> [Double] {
        try Self.numbers(lrs, option: "--lrs", valid: { $0 > 0 && $0 <= 10 }, expectation: "in (0, 10]")
    }

    static func numbers(_ text: String, option: String, valid: (Double) -> Bool, expectation: String) throws -> [Double] {
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty, parts.count <= 64 else { throw ValidationError("\(option) needs 1 to 64 comma-separated numbers") }
        var result: [Double] = []
        for part in parts {
            guard let value = Double(part), value.isFinite, valid(value) else {
                throw ValidationError("\(option): '\(part)' is not a number \(expectation)")
            }
            if !result.contains(value) { result.append(value) }
        }
        return result
    }

    /// The baselines to run: family by family, width by width.
    func baselines(input: InputShape, classes: Int) throws -> [(family: BaselineArchitectures.Family, width: Double, architecture: Architecture)] {
        let widthOverride = try parsedWidths()
        return try parsedFamilies().flatMap { family in
            (widthOverride ?? BaselineArchitectures.defaultWidths(family)).map { width in
                (family, width, BaselineArchitectures.architecture(family, width: width, input: input, classes: classes))
            }
        }
    }

    func run() throws {
        let out = Output(options: output)
        let start = DispatchTime.now()
        let target = try DeviceDescription.resolve(device)
        let rates = try parsedRates()
        let predictor = try profile.map { try ProfileLatencyPredictor.load(path: $0, allowForeignMachine: allowForeignProfile) }
        if let warning = predictor?.foreignMachineWarning { out.warn(warning) }
        let directory = self.out ?? "runs/baselines-\(target.name)"  // device names pass SafeName when read
        var inputs = [data.dataDir ?? data.dataset.defaultDirectory] + [profile].compactMap { $0 }
        if FileManager.default.fileExists(atPath: device) { inputs.append(device) }
        try BaselinesFolder.checkWritable(directory, option: self.out == nil ? "output folder" : "--out", inputs: inputs, force: force)
        try WritableCheck.directory(directory, option: self.out == nil ? "output folder" : "--out")
        let lock = try OutputFolder.lock(directory)
        defer { lock.release() }

        let context = engine.makeContext(output: out)
        let (fullTrain, test) = try DatasetLoader.loadTrainAndTest(data.dataset, directory: data.dataDir)
        let input = InputShape(channels: fullTrain.channels, height: fullTrain.height, width: fullTrain.width)
        let available = (fullTrain.classCounts().min() ?? 0) - validationPerClass
        guard available > 0 else { throw CLIError("--validation-per-class \(validationPerClass) leaves no training images") }
        if let perClass, perClass > available {
            throw CLIError("--per-class \(perClass): the smallest class has only \(available) training images left after the validation split")
        }
        let (train, validation) = try fullTrain.balancedSplit(trainPerClass: perClass ?? available,
                                                              validationPerClass: validationPerClass, seed: engine.seed)
        let trialPerClass = min(searchPerClass, perClass ?? available)
        let (trialTrain, _) = try train.balancedSplit(trainPerClass: trialPerClass, validationPerClass: 0, seed: engine.seed &+ 1)
        let baselines = try baselines(input: input, classes: fullTrain.classCount)
        for baseline in baselines {
            try checkTrainingFits(baseline.architecture, batchSize: max(1, min(batchSize, train.count)), source: baseline.architecture.name)
        }
        let recipe = BaselineFront.Recipe(
            epochs: epochs, batchSize: batchSize, optimizer: OptimizerKind.sgd.rawValue,
            schedule: LearningRateSchedule.Kind.cosine.rawValue, weightDecay: Self.weightDecay, learningRates: rates,
            searchEpochs: searchEpochs, searchTrainPerClass: trialPerClass, validationPerClass: validationPerClass,
            trainPerClass: perClass, seed: engine.seed)
        out.heading("""
            autoshrink baselines
              baselines     \(baselines.map(\.architecture.name).joined(separator: ", "))
              dataset       \(data.dataset.rawValue) (\(train.count) train, \(validation.count) validation, \(test.count) test)
              recipe        sgd (Nesterov) cosine, warm-up \(Self.warmupEpochs) epochs, weight decay \(Self.weightDecay), batch \(batchSize); lr from {\(rates.map { String(format: "%g", $0) }.joined(separator: ", "))} by validation after \(searchEpochs) epoch(s) on \(trialTrain.count) images; final run \(epochs) epochs
              device        \(target.name) (\(target.architecture.rawValue), \(target.runner.kind.rawValue) runner)\(profile.map { "; predictions from \($0)" } ?? "")
              engine        \(engine.threads) threads, seed \(engine.seed), \(BLASConfiguration.summary)
              output        \(directory)/baselines.json
            """)

        let scratch = ScratchFiles.path("export")  // the same use: test images written for exports
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let tests = noRun ? nil : try TestImages.locate(dataset: data.dataset.rawValue, directory: data.dataDir, scratch: scratch)
        var entries: [BaselineFront.Entry] = []
        func document() -> BaselineFront {
            BaselineFront(autoshrinkVersion: AutoShrinkVersion.string, dataset: data.dataset.rawValue, device: target.name,
                          deviceArchitecture: target.architecture.rawValue, profile: profile, recipe: recipe, entries: entries,
                          seconds: Self.elapsed(since: start))
        }
        let frontPath = directory + "/baselines.json"
        for (position, baseline) in baselines.enumerated() {
            let architecture = baseline.architecture
            let cost = CostModel.costs(of: architecture.lowered())
            out.line("[\(position + 1)/\(baselines.count)] \(architecture.name): \(ArchitectureSummary.scaled(Double(cost.macs))) MACs, \(cost.parameters) parameters")
            let trainStart = DispatchTime.now()
            // Learning-rate trials: short runs scored on the held-out validation split.
            var trials: [BaselineFront.Trial] = []
            for rate in rates {
                let trainer = Trainer(network: Network(architecture: architecture, context: context, seed: engine.seed),
                                      configuration: configuration(rate: rate, epochs: searchEpochs))
                let bar = out.progress("  lr \(String(format: "%g", rate))", total: 1, unit: "batches", plainLines: false)
                let result = trainer.fit(train: trialTrain, validation: nil, onBatch: { bar.update($0, total: $1) })
                let diverged = result.epochs.contains { !$0.loss.isFinite }
                let accuracy = diverged ? nil : trainer.evaluate(validation).accuracy
                bar.finish(accuracy.map { String(format: "validation accuracy %.4f", $0) } ?? "diverged")
                trials.append(BaselineFront.Trial(learningRate: rate, validationAccuracy: accuracy))
            }
            guard let best = trials.filter({ $0.validationAccuracy != nil }).max(by: { $0.validationAccuracy! < $1.validationAccuracy! }) else {
                throw CLIError("\(architecture.name): training diverged at every learning rate of --lrs; try smaller rates")
            }
            if rates.count > 1, let edge = [rates.max()!, rates.min()!].first(where: { $0 == best.learningRate }) {
                out.warn("note: \(architecture.name) chose lr \(String(format: "%g", edge)), the \(edge == rates.max()! ? "largest" : "smallest") of --lrs; a rate beyond it may do better")
            }
            // The final run with the chosen rate.
            let network = Network(architecture: architecture, context: context, seed: engine.seed)
            let trainer = Trainer(network: network, configuration: configuration(rate: best.learningRate, epochs: epochs))
            let bar = out.progress("  train lr \(String(format: "%g", best.learningRate))", total: 1, unit: "batches", plainLines: false)
            let result = trainer.fit(train: train, validation: validation, onBatch: { bar.update($0, total: $1) })
            if let diverged = result.epochs.first(where: { !$0.loss.isFinite }) {
                throw CLIError("\(architecture.name): training diverged with lr \(best.learningRate) (loss \(diverged.loss) in epoch \(diverged.epoch)); try smaller --lrs")
            }
            let engineAccuracy = trainer.evaluate(test).accuracy
            bar.finish(String(format: "test accuracy %.4f (engine, float32)", engineAccuracy))
            let trainSeconds = Self.elapsed(since: trainStart)
            let metadata = CheckpointMetadata(dataset: data.dataset.rawValue, epochs: result.epochs.count, testAccuracy: engineAccuracy,
                                              validationAccuracy: result.bestValidationAccuracy, seed: engine.seed,
                                              normalizationMean: train.normalization.mean, normalizationStd: train.normalization.std)
            let checkpoint = Checkpoint(network: network, metadata: metadata)
            try FileProblem.createDirectory(directory + "/checkpoints")
            try checkpoint.write(to: "\(directory)/checkpoints/\(architecture.name).ckpt")

            // Export and measure exactly as `autoshrink export` does.
            let exportName = "deploy/\(architecture.name)"
            let exportDirectory = "\(directory)/\(exportName)"
            try OutputFolder.checkReplaceable(exportDirectory, option: "export folder", inputs: inputs, force: false)
            let exportLock = try OutputFolder.lock(exportDirectory)
            defer { exportLock.release() }
            for action in ExportLeftovers.clean(outputFolder: exportDirectory) { out.line(action) }
            var options = ExportOptions()
            options.measure = !noRun
            options.testImageLimit = testImages
            options.benchRuns = benchRuns
            let steps = StepTicker(output: out)
            let report: ExportReport
            do {
                defer { steps.finish() }
                report = try ModelExporter.export(checkpoint: checkpoint, calibration: train, testImages: tests, device: target,
                                                  outputDirectory: exportDirectory, options: options,
                                                  context: context, progress: { steps.start("  " + $0) })
            }
            let latency = report.latency[.int8]
            let predicted = try predictor?.predictLatencyMilliseconds(architecture.lowered())
            entries.append(BaselineFront.Entry(
                name: architecture.name, family: baseline.family.rawValue, width: baseline.width,
                architectureHash: architecture.stableHash, macs: cost.macs, parameters: cost.parameters,
                weightBytesInt8: cost.weightBytesInt8, peakActivationBytesInt8: cost.peakActivationBytesInt8,
                learningRate: best.learningRate, trials: trials, validationAccuracy: result.bestValidationAccuracy,
                engineTestAccuracy: engineAccuracy, floatTestAccuracy: report.accuracy[.float32],
                int8TestAccuracy: report.accuracy[.int8], predictedLatencyMilliseconds: predicted,
                latencyMilliseconds: latency?.typicalMilliseconds, latencyCILowMilliseconds: latency?.ciLowMilliseconds,
                latencyCIHighMilliseconds: latency?.ciHighMilliseconds, latencyMedianMilliseconds: latency?.medianMilliseconds,
                emulated: latency?.emulated ?? false, export: exportName, trainSeconds: trainSeconds))
            try AtomicFile.write(try Self.encode(document()), to: frontPath)
            out.result(Self.row(entries.last!))
        }
        let front = document()
        try AtomicFile.write(try Self.encode(front), to: frontPath)
        if !output.quiet {
            out.line("")
            out.line(Self.table(front))
        }
        out.result("wrote \(frontPath) (\(entries.count) baselines, \(formatDuration(front.seconds)))")
        out.json(BaselinesSummary(file: frontPath, device: target.name,
                                  entries: entries.map { .init(name: $0.name, accuracy: $0.accuracy, latencyMilliseconds: $0.latencyMilliseconds) },
                                  seconds: front.seconds))
    }

    func configuration(rate: Double, epochs: Int) -> TrainingConfiguration {
        TrainingConfiguration(epochs: epochs, batchSize: batchSize,
                              optimizer: OptimizerConfiguration(kind: .sgd, learningRate: Float(rate), weightDecay: Float(Self.weightDecay)),
                              schedule: .cosine, warmupEpochs: min(Self.warmupEpochs, Double(epochs)), seed: engine.seed)
    }

    static func elapsed(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    static func encode(_ front: BaselineFront) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try encoder.encode(front) + Data("\n".utf8)
    }

    static func row(_ entry: BaselineFront.Entry) -> String {
        func percent(_ value: Double?) -> String { value.map { String(format: "%.2f %%", $0 * 100) } ?? "-" }
        let latency = entry.latencyMilliseconds.map { estimate in
            String(format: "%.4f ms (95%% %.4f-%.4f)", estimate, entry.latencyCILowMilliseconds ?? estimate, entry.latencyCIHighMilliseconds ?? estimate)
        } ?? "-"
        return "  \(entry.name): lr \(String(format: "%g", entry.learningRate)), int8 \(percent(entry.int8TestAccuracy)), float \(percent(entry.floatTestAccuracy)), latency \(latency)\(entry.emulated ? " [emulated]" : "")"
    }

    /// The front as a table, one row per baseline.
    static func table(_ front: BaselineFront) -> String {
        func percent(_ value: Double?) -> String { value.map { String(format: "%.2f", $0 * 100) } ?? "-" }
        func ms(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "-" }
        let rows = front.entries.map { entry in
            [entry.name, ArchitectureSummary.scaled(Double(entry.macs)), ArchitectureSummary.grouped(entry.parameters),
             String(format: "%g", entry.learningRate), percent(entry.engineTestAccuracy), percent(entry.floatTestAccuracy),
             percent(entry.int8TestAccuracy), ms(entry.latencyMilliseconds),
             entry.latencyCILowMilliseconds.map { low in "\(ms(low))-\(ms(entry.latencyCIHighMilliseconds))" } ?? "-",
             ms(entry.predictedLatencyMilliseconds)]
        }
        return ArchitectureSummary.table(headers: ["baseline", "MACs", "params", "lr", "engine %", "float %", "int8 %", "int8 ms", "95% CI", "predicted ms"],
                                         rows: rows, rightAligned: Set(1...9))
    }
}

/// Which folders `baselines` may write into (docs/baselines.md; the rules of `OutputFolder` for a folder
/// that is filled, not replaced): a new path, an empty directory or an earlier baselines folder
/// (`baselines.json` of format `autoshrink.baselines`); anything else only with `--force`; never the
/// root, the current directory or a folder that holds an input, even with `--force`.
enum BaselinesFolder {
    static func checkWritable(_ path: String, option: String, inputs: [String], force: Bool) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let resolved = OutputFolder.realPath(path) ?? URL(fileURLWithPath: path).standardizedFileURL.path
        func refuse(_ reason: String) -> CLIError { CLIError("\(option) \(path): \(reason)") }
        if resolved == "/" { throw refuse("refusing to write into the root directory") }
        let current = OutputFolder.realPath(FileManager.default.currentDirectoryPath) ?? FileManager.default.currentDirectoryPath
        if current == resolved || current.hasPrefix(resolved + "/") {
            throw refuse("refusing to write into the current directory or a folder that contains it")
        }
        for input in inputs {
            guard let inputPath = OutputFolder.realPath(input) else { continue }
            if inputPath == resolved || inputPath.hasPrefix(resolved + "/") {
                throw refuse("refusing to write into a folder that holds the input \(input)")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw refuse("exists and is not a directory; choose another --out")
        }
        if force { return }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: resolved)) ?? []
        if entries.isEmpty || isEarlierFront(resolved) { return }
        throw refuse("exists and is not an earlier baselines folder (no baselines.json with format '\(BaselineFront.formatName)'); choose another --out or use --force")
    }

    static func isEarlierFront(_ directory: String) -> Bool {
        struct Tag: Decodable { var format: String? }
        guard let data = FileManager.default.contents(atPath: directory + "/baselines.json"),
              let tag = try? JSONDecoder().decode(Tag.self, from: data) else { return false }
        return tag.format == BaselineFront.formatName
    }
}
