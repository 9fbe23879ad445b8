import AutoShrinkCSources
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import AutoShrinkTarget
import Foundation

/// How `LMExporter.export` works.
public struct LMExportOptions: Sendable {
    /// Precision of the main binary `model`; the other one is built beside it.
    public var precision: ModelPrecision = .float32
    /// Run the binaries on the device (perplexity on the test tokens and the per-token bench).
    public var measure = true
    /// Test tokens given to the binaries (a prefix of the split; nil = all).
    public var testTokenLimit: Int?
    /// Tokens timed by the bench.
    public var benchRuns = 2000
    /// Compiler flags after the device's (e.g. `-Werror` in tests).
    public var extraCFlags: [String] = []
    /// Seconds one run on the device may take.
    public var runTimeout: Double = 3600
    public init() {}
}

/// What a language-model export produced and measured (`manifest` is `export.json` and the `--json` summary).
public struct LMExportReport: Sendable {
    public var manifest: LMExportManifest
    public var directory: String
    public var codeSizes: [ModelPrecision: ProjectBuilder.CodeSize]
}

/// `autoshrink export` of a language-model checkpoint (docs/shrinkrnn.md, "Deploy"): a standalone C
/// program per precision that reads text, prints next-word predictions or the perplexity of a file and
/// times one token, built with the device's toolchain and run on the device.
///
/// The folder: `lm_model.h`, `model.c` (main precision) and `model_int8.c` / `model_float.c` (the other,
/// `LMCModelGenerator`), `lm_main.c` + `estimator.h` (harness, Sources/CHarness), `runtime/` (the kernels
/// verbatim; the binaries use rnn_kernels.c, timing.c and simd_tier.c), `vocab.txt`, `Makefile`,
/// `export.json` (`LMExportManifest`) and the binaries `model` and `model-int8` / `model-float`. Staged
/// and renamed into place like the image export (`ExportStaging`, `ModelExporter.replaceDirectory`).
public enum LMExporter {
    /// Version of the generator (bump when generated code changes).
    public static let version = "1"
    /// Runtime files the binaries compile (relative to the export's `runtime/`; `deploy` rebuilds with them).
    public static let runtimeSources = ["rnn_kernels.c", "simd_tier.c", "timing.c"]

    /// The model's name in the C and the default folder `deploy/<name>`: `lm-` and 8 digits of the cell's hash.
    public static func modelName(_ checkpoint: LMCheckpoint) throws -> String { "lm-" + (try exportableCell(checkpoint)).stableHash.prefix(8) }

    /// The cell of a checkpoint the C export can write: RNN-cell models only (the LSTM baseline of
    /// docs/shrinkrnn.md is trained and evaluated in Swift but has no C generator yet).
    public static func exportableCell(_ checkpoint: LMCheckpoint) throws -> RNNCell {
        guard let cell = checkpoint.cell else {
            throw ExportError("this checkpoint holds an \(checkpoint.architecture.kind) model; the C export writes RNN-cell models only (docs/shrinkrnn.md)")
        }
        return cell
    }

    public static func export(checkpoint: LMCheckpoint, testTokens: [Int32]?, corpusName: String, device: DeviceDescription,
                              outputDirectory: String, options: LMExportOptions, context: ExecutionContext,
                              progress: (String) -> Void = { _ in }) throws -> LMExportReport {
        let start = Date()
        let cell = try exportableCell(checkpoint)
        let weights = try LMExportWeights(checkpoint: checkpoint)
        let name = try modelName(checkpoint)
        let description = "\(cell.summary), trained on \(checkpoint.metadata.corpus) for \(checkpoint.metadata.epochs) epochs"
        let generators = Dictionary(uniqueKeysWithValues: ModelPrecision.allCases.map { precision in
            (precision, LMCModelGenerator(weights: weights, name: name, precision: precision, unknownID: checkpoint.vocabulary.unknownID,
                                          endOfSentenceID: checkpoint.vocabulary.endOfSentenceID, description: description))
        })
        let staging = try ExportStaging(outputDirectory: outputDirectory)
        var finished = false
        defer { if !finished { staging.discard() } }

        progress("generating C in \(staging.destination)/ (\(cell.summary))")
        let files = ModelExporter.files(primary: options.precision)
        try staging.run { try writeProject(directory: staging.path, generators: generators, files: files, vocabulary: checkpoint.vocabulary,
                                           device: device, name: name) }
        progress("building with \(device.compiler.cc) \(device.compiler.flags.joined(separator: " ")) for \(device.name) (\(device.architecture.rawValue))")
        let builder = ProjectBuilder(device: device, extraFlags: options.extraCFlags)
        let targets = ModelPrecision.allCases.map { ProjectBuilder.Target(modelSource: files[$0]!.source, binary: files[$0]!.binary) }
        let build = try staging.run {
            try builder.build(directory: staging.path, runtimeSources: runtimeSources.map { "runtime/\($0)" }, harnessSources: ["lm_main.c"],
                              targets: targets, scratch: "\(staging.path)/.build")
        }
        try? FileManager.default.removeItem(atPath: "\(staging.path)/.build")

        var measured = Measurements()
        var swiftPerplexity: Double?
        let used = testTokens.map { tokens in options.testTokenLimit.map { Array(tokens.prefix($0)) } ?? tokens }
        if options.measure {
            measured = try measure(build: build, files: files, staging: staging, tokens: used, vocabulary: checkpoint.vocabulary,
                                   device: device, options: options, progress: progress)
            if let used {
                progress("the Swift engine on the same \(used.count) tokens (batch 1)")
                swiftPerplexity = try referencePerplexity(checkpoint: checkpoint, tokens: used, context: context)
            }
        }

        let destination = staging.destination
        let primary = options.precision
        let float = measured.perplexity[.float32], int8 = measured.perplexity[.int8]
        let increase = float.flatMap { f in int8.map { $0 / f - 1 } }
        let difference = float.flatMap { f in swiftPerplexity.map { abs(f / $0 - 1) } }
        let cost = LanguageModelCost(cell: cell, shape: checkpoint.shape)
        let manifest = LMExportManifest(
            exporterVersion: version, autoshrinkVersion: AutoShrinkVersion.string, model: name, cell: cell,
            cellHash: cell.stableHash, vocabulary: checkpoint.shape.vocabulary, embed: checkpoint.shape.embed,
            hidden: checkpoint.shape.hidden, tied: checkpoint.shape.tied, macsPerToken: cost.macsPerToken, parameters: cost.parameters,
            runtimeHash: RuntimeSources.hash, device: device, precision: primary, binary: "\(destination)/\(files[primary]!.binary)",
            binaries: Dictionary(uniqueKeysWithValues: ModelPrecision.allCases.map { ($0, "\(destination)/\(files[$0]!.binary)") }),
            vocabularyFile: "\(destination)/vocab.txt", corpus: corpusName, testTokens: measured.tokens, testTokensTotal: testTokens?.count,
            testPerplexity: measured.perplexity[primary], testAccuracy: measured.accuracy[primary], floatPerplexity: float,
            int8Perplexity: int8, swiftPerplexity: swiftPerplexity, checkpointTestPerplexity: checkpoint.metadata.testPerplexity,
            int8PerplexityIncrease: increase, int8WithinTolerance: increase.map { $0 <= LMExportManifest.int8Tolerance },
            floatSwiftDifference: difference, floatMatchesSwift: difference.map { $0 <= LMExportManifest.agreementTolerance },
            peakRSSKiB: measured.peakResidentKiB[primary], textBytes: build.codeSizes[files[primary]!.source]!.textBytes,
            textBytesModel: build.codeSizes[files[primary]!.source]!.modelTextBytes,
            textBytesBinary: build.codeSizes[files[primary]!.source]!.binaryTextBytes,
            weightBytes: generators[primary]!.weightBytes, weightBytesFloat: generators[.float32]!.weightBytes,
            weightBytesInt8: generators[.int8]!.weightBytes, latency: measured.latency[primary],
            latencyMedianMilliseconds: measured.latency[primary]?.medianMilliseconds, latencyFloat: measured.latency[.float32],
            latencyInt8: measured.latency[.int8], operators: measured.operators, seconds: Date().timeIntervalSince(start))
        try staging.run { try AtomicFile.write(try manifest.jsonData(pretty: true) + Data("\n".utf8), to: "\(staging.path)/export.json") }
        var codeSizes: [ModelPrecision: ProjectBuilder.CodeSize] = [:]
        for precision in ModelPrecision.allCases { codeSizes[precision] = build.codeSizes[files[precision]!.source] }
        try ModelExporter.replaceDirectory(destination, with: staging.path)
        finished = true
        return LMExportReport(manifest: manifest, directory: destination, codeSizes: codeSizes)
    }

    /// Every project file.
    static func writeProject(directory: String, generators: [ModelPrecision: LMCModelGenerator],
                             files: [ModelPrecision: (source: String, binary: String)], vocabulary: Vocabulary,
                             device: DeviceDescription, name: String) throws {
        func write(_ path: String, _ text: String) throws {
            let full = "\(directory)/\(path)"
            try FileProblem.createDirectory((full as NSString).deletingLastPathComponent)
            try AtomicFile.write(text, to: full)
        }
        for file in RuntimeSources.files { try write("runtime/\(file.path)", file.contents) }
        for file in harnessFiles { try write(file.path, file.contents) }
        try write("lm_model.h", generators[.float32]!.header())
        for (precision, generator) in generators { try write(files[precision]!.source, generator.source()) }
        try write("vocab.txt", vocabularyText(vocabulary))
        try write("Makefile", makefile(device: device, files: files, name: name))
    }

    /// The harness: lm_main.c and the shared estimator.h and harness_cli.h (Sources/CHarness/common).
    static var harnessFiles: [(path: String, contents: String)] {
        EmbeddedCSources.files(under: "CHarness/common") + EmbeddedCSources.files(under: "CHarness/lm")
    }

    /// One word a line, in id order.
    static func vocabularyText(_ vocabulary: Vocabulary) -> String { vocabulary.words.joined(separator: "\n") + "\n" }

    /// Token ids as text the binaries read exactly back: the words of a sentence separated by spaces,
    /// a line end for every `<eos>`. A stream cut inside a sentence (a prefix) ends in a line without
    /// its line end, which the reader follows with `<eos>`: `--limit` with the stream's length drops it.
    public static func text(of tokens: [Int32], vocabulary: Vocabulary) -> String {
        var text = ""
        var first = true
        for token in tokens {
            if token == vocabulary.endOfSentenceID {
                text += "\n"; first = true
            } else {
                if !first { text += " " }
                text += vocabulary.words[Int(token)]; first = false
            }
        }
        return text
    }

    static func makefile(device: DeviceDescription, files: [ModelPrecision: (source: String, binary: String)], name: String) -> String {
        ModelExporter.projectMakefile(device: device, files: files, title: "\(name) language-model",
                                      generator: "\(AutoShrinkVersion.string) (LM exporter \(version))",
                                      runtime: runtimeSources.map { "runtime/\($0)" }.joined(separator: " "), harness: "lm_main.c",
                                      headers: "lm_model.h estimator.h harness_cli.h runtime/include/rnn_kernels.h runtime/include/autoshrink_runtime.h")
    }

    struct Measurements {
        var perplexity: [ModelPrecision: Double] = [:]
        var accuracy: [ModelPrecision: Double] = [:]
        var peakResidentKiB: [ModelPrecision: Int] = [:]
        var latency: [ModelPrecision: LatencyMeasurement] = [:]
        var operators: [LMExportManifest.OperatorTime]?
        var tokens: Int?
    }

    /// `model --bench-ops N --json`'s summary line.
    struct OperatorSummary: Decodable {
        var ops: [LMExportManifest.OperatorTime]
    }

    /// `model --perplexity FILE --json`'s summary line.
    public struct PerplexitySummary: Decodable, Sendable {
        public var tokens: Int
        public var perplexity: Double
        public var accuracy: Double?
        public var peakRSSKiB: Int?
        enum CodingKeys: String, CodingKey { case tokens, perplexity, accuracy, peakRSSKiB = "peak_rss_kib" }
    }

    /// `model --perplexity TEXT --limit TOKENS --vocab VOCABULARY --json` on the device (paths on the
    /// device); the export and `deploy` (AutoShrinkDeploy) run the binaries this one way.
    public static func runPerplexity(runner: any DeviceRunner, binary: String, text: String, vocabulary: String, tokens: Int,
                                     timeout: Double) throws -> PerplexitySummary {
        let summary = try ModelRun.runJSON(PerplexitySummary.self, runner: runner, binary: binary,
                                           arguments: ["--perplexity", text, "--limit", String(tokens), "--vocab", vocabulary, "--json"],
                                           timeout: timeout)
        guard summary.tokens == tokens else {
            throw ExportError("device \(runner.device.name): \((binary as NSString).lastPathComponent) read \(summary.tokens) tokens of the \(tokens) written")
        }
        return summary
    }

    /// Uploads the binaries, the vocabulary and the test text, runs both binaries on the text and times them.
    static func measure(build: ProjectBuilder.Result, files: [ModelPrecision: (source: String, binary: String)], staging: ExportStaging,
                        tokens: [Int32]?, vocabulary: Vocabulary, device: DeviceDescription, options: LMExportOptions,
                        progress: (String) -> Void) throws -> Measurements {
        var measured = Measurements()
        let runner = makeRunner(for: device)
        try runner.prepare()
        defer { try? runner.cleanup() }
        let scratch = "\(staging.path)/.measure"
        try FileProblem.createDirectory(scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let vocabularyPath = try runner.upload("\(staging.path)/vocab.txt")
        var textPath: String?
        if let tokens {
            let local = "\(scratch)/test.txt"
            try AtomicFile.write(text(of: tokens, vocabulary: vocabulary), to: local)
            progress("uploading \(tokens.count) test tokens to \(device.name)")
            textPath = try runner.upload(local)
            measured.tokens = tokens.count
        }
        for precision in [options.precision, options.precision == .int8 ? .float32 : .int8] {
            let binary = try runner.upload(build.binaries[files[precision]!.source]!)
            if let textPath, let tokens {
                progress("running the \(precision.rawValue) binary on \(tokens.count) test tokens (\(device.name))")
                let summary = try runPerplexity(runner: runner, binary: binary, text: textPath, vocabulary: vocabularyPath,
                                                tokens: tokens.count, timeout: options.runTimeout)
                measured.perplexity[precision] = summary.perplexity
                measured.accuracy[precision] = summary.accuracy
                measured.peakResidentKiB[precision] = summary.peakRSSKiB.flatMap { $0 >= 0 ? $0 : nil }
            }
            progress("timing the \(precision.rawValue) binary (\(options.benchRuns) tokens)")
            measured.latency[precision] = try ModelRun.bench(runner: runner, binary: binary, runs: options.benchRuns, timeout: options.runTimeout)
            if precision == options.precision {
                progress("timing each operator of the \(precision.rawValue) binary (\(options.benchRuns) tokens)")
                measured.operators = try ModelRun.runJSON(OperatorSummary.self, runner: runner, binary: binary,
                                                          arguments: ["--bench-ops", String(options.benchRuns), "--json"], timeout: options.runTimeout).ops
            }
        }
        return measured
    }

    /// The Swift engine's perplexity of `tokens` at batch 1 (state carried from a zero start, every token
    /// but the first scored): the function the binaries compute.
    public static func referencePerplexity(checkpoint: LMCheckpoint, tokens: [Int32], context: ExecutionContext) throws -> Double {
        let model = try checkpoint.makeModel(context: context)
        let trainer = LMTrainer(model: model, configuration: LMTrainingConfiguration(epochs: 1, bptt: max(1, checkpoint.metadata.bptt),
                                                                                     evaluationBatch: 1))
        return trainer.evaluate(tokens).perplexity
    }
}

extension LMExporter {
    /// Whether `path` starts with the language-model checkpoint magic (`LMCheckpoint.magic`).
    public static func isLanguageModelCheckpoint(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: LMCheckpoint.magic.count)) ?? Data()
        return Array(head) == LMCheckpoint.magic
    }
}
