import AutoShrinkFormats
import ArgumentParser
import AutoShrinkData
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkEngine
import AutoShrinkExport
import AutoShrinkModel
import AutoShrinkLM
import Foundation

/// `autoshrink export`: quantize a checkpoint to int8 and generate, build and measure a standalone C
/// inference program for a device (docs/algorithm.md §2 export folder, §3 quantization).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Quantize a checkpoint (int8, TFLite scheme) and generate a standalone C inference program for a device.",
        discussion: """
        Writes deploy/NAME/: model.h, model.c, main.c, idx.c, runtime/ (the kernels), Makefile, model.onnx, \
        export.json and the binaries model (int8, or float32 with --float) and model-float / model-int8 for \
        comparison, built with the device's compiler. Both binaries run on the full test set on the device \
        (under qemu for qemu devices, over SSH for SSH devices). An existing directory is replaced only when \
        the whole export succeeded, and only when it is empty or an earlier export (--force overrides; the \
        current directory and folders holding an input are never replaced).
        A language-model checkpoint (train --task lm) gives deploy/lm-HASH8/: a C program that reads text, \
        prints next-word predictions (--predict K) or perplexity (--perplexity FILE) and times a token \
        (--bench N), float32 (model) and int8 weights (model-int8, or the main one with --int8), both run \
        on the test split (--test-tokens N: a prefix) and compared with the Swift engine (docs/shrinkrnn.md).
        """)

    @Argument(help: "Checkpoint file (model.ckpt).") var checkpoint: String
    @Option(help: "Device: a name from devices/ or a devices/*.toml file.") var device: String = "local"
    @Flag(help: "Precision of the main binary (the other is built beside it; default int8, float32 for a language model).")
    var precision: PrecisionChoice?
    @Option(parsing: .unconditional, help: "Training images used to calibrate activation ranges.") var calibration: Int = 512
    @Option(parsing: .unconditional, help: "Calibrate with the P-th percentile of each tensor's values instead of min/max (e.g. 99.99).")
    var percentile: Double?
    @Flag(help: "Also write model.int8.onnx (QDQ, uint8 activations) beside model.onnx.") var onnx = false
    @Option(help: "Output directory (default: deploy/<architecture name>).") var out: String?
    @Option(help: "Directory holding the dataset files (default: the dataset's standard location).") var dataDir: String?
    @Option(parsing: .unconditional, help: "Test images for the accuracy runs (default: all).") var testImages: Int?
    @Option(parsing: .unconditional, help: "Language model: test tokens the binaries read for the perplexity (a prefix of the test split; default: all).")
    var testTokens: Int?
    @Option(parsing: .unconditional, help: "Timed runs of the latency bench.") var benchRuns: Int = 2000
    @Option(help: "Device profile whose speed probe the latency bench normalizes to (default: profiles/DEVICE.json when there is one; docs/devices.md, \"Shared cores\").")
    var profile: String?
    @Flag(help: "Only generate and build; do not run the binaries.") var noRun = false
    @Flag(help: "Replace --out even when it is not an earlier export (never the current directory or a folder holding an input).")
    var force = false
    @Option(parsing: .unconditional, help: "Worker threads for calibration (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @OptionGroup var output: OutputOptions

    enum PrecisionChoice: String, EnumerableFlag {
        case int8, float
        static func help(for value: PrecisionChoice) -> ArgumentHelp? {
            value == .int8 ? "Main binary in int8." : "Main binary in float32."
        }
    }

    func validate() throws {
        guard calibration >= 1 else { throw ValidationError("--calibration must be at least 1") }
        try OptionCheck.integer(calibration, "--calibration", in: 1...1_000_000)
        try OptionCheck.integer(threads, "--threads", in: 1...1024)
        try OptionCheck.integer(testImages, "--test-images", in: 1...100_000_000)
        try OptionCheck.integer(testTokens, "--test-tokens", in: 2...Int(Int32.max))
        try OptionCheck.integer(benchRuns, "--bench-runs", in: 1...100_000_000)
        if let percentile, !(percentile > 50 && percentile <= 100) { throw ValidationError("--percentile must be in (50, 100]") }
        if let testImages, testImages < 1 { throw ValidationError("--test-images must be at least 1") }
        guard benchRuns >= 1 else { throw ValidationError("--bench-runs must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        if LMExporter.isLanguageModelCheckpoint(path: checkpoint) { return try LanguageModelExport.run(self) }
        guard testTokens == nil else { throw ValidationError("--test-tokens: a language-model option and \(checkpoint) is no language-model checkpoint (images: --test-images)") }
        let out = Output(options: output)
        let stored = try Checkpoint.load(path: checkpoint)
        let target = try DeviceDescription.resolve(device)
        let architecture = stored.architecture
        let directory = self.out ?? "deploy/\(architecture.name)"  // the name passed SafeName when the checkpoint loaded
        var inputs = [checkpoint] + [dataDir ?? DatasetKind(rawValue: stored.metadata.dataset.lowercased())?.defaultDirectory].compactMap { $0 }
        if FileManager.default.fileExists(atPath: device) { inputs.append(device) }
        if let profile { inputs.append(profile) }
        try OutputFolder.checkReplaceable(directory, option: self.out == nil ? "output folder" : "--out", inputs: inputs, force: force)
        try checkTrainingFits(architecture, batchSize: 64, source: checkpoint, purpose: "calibration")
        let lock = try OutputFolder.lock(directory)
        defer { lock.release() }
        for action in ExportLeftovers.clean(outputFolder: directory) { out.line(action) }  // we hold the lock: none is live
        guard let kind = DatasetKind(rawValue: stored.metadata.dataset.lowercased()) else {
            throw CLIError("\(checkpoint): trained on '\(stored.metadata.dataset)', which autoshrink cannot load calibration images for")
        }
        let normalization = Normalization(mean: stored.metadata.normalizationMean, std: stored.metadata.normalizationStd)
        let train = try DatasetLoader.load(kind, split: .train, directory: dataDir, normalization: normalization)
        let scratch = ScratchFiles.path("export")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let tests = noRun ? nil : try TestImages.locate(dataset: kind.rawValue, directory: dataDir, scratch: scratch)

        var options = ExportOptions()
        options.precision = precision == .float ? .float32 : .int8
        options.calibrationImages = calibration
        options.calibrationMethod = percentile.map { .percentile($0) } ?? .minMax
        options.quantizedONNX = onnx
        options.measure = !noRun
        options.testImageLimit = testImages
        options.benchRuns = benchRuns
        let probe = noRun ? (milliseconds: nil, note: "") : try DeviceProfile.speedProbeReference(
            path: profile ?? "profiles/\(target.name).json", required: profile != nil)
        options.probeReferenceMilliseconds = probe.milliseconds
        let cost = CostModel.costs(of: architecture.lowered())
        out.heading("""
            autoshrink export
              checkpoint    \(checkpoint): \(architecture.name) [\(architecture.stableHash)], \(ArchitectureSummary.scaled(Double(cost.macs))) MACs, trained on \(stored.metadata.dataset)\(stored.metadata.testAccuracy.map { String(format: ", test accuracy %.4f", $0) } ?? "")
              device        \(target.name) (\(target.architecture.rawValue), \(target.compiler.cc) \(target.compiler.flags.joined(separator: " ")), \(target.runner.kind.rawValue) runner)
              quantization  int8 TFLite scheme, calibration on \(calibration) training images (\(percentile.map { "percentile \($0)" } ?? "min/max")); main binary \(options.precision.rawValue)
              output        \(directory)/\(onnx ? " (+ model.int8.onnx)" : "")
            """)
        let steps = StepTicker(output: out)
        defer { steps.finish() }
        let report = try ModelExporter.export(
            checkpoint: stored, calibration: train, testImages: tests, device: target, outputDirectory: directory,
            options: options, context: ExecutionContext(threads: threads), progress: { steps.start($0) })
        steps.finish()

        func percent(_ value: Double?) -> String { value.map { String(format: "%.2f %%", $0 * 100) } ?? "-" }
        let primary = report.precision
        let plan = report.plans[primary]!
        var lines = [
            "exported \(architecture.name) to \(report.directory)/ for \(target.name)",
            "  binary        \(report.binary)",
            String(format: "  accuracy      float %@, int8 %@ on %@ test images%@", percent(report.accuracy[.float32]),
                   percent(report.accuracy[.int8]), report.testImages.map(String.init) ?? "-",
                   report.accuracy[.float32].flatMap { f in report.accuracy[.int8].map { String(format: " (drop %.2f points)", (f - $0) * 100) } } ?? ""),
            "  code          \(report.codeSizes[primary]!.textBytes) bytes .text (model \(report.codeSizes[primary]!.modelTextBytes) + kernels used; all kernels \(report.allKernelsTextBytes))",
            "  weights       \(report.weightBytes[primary]!) bytes (\(primary.rawValue)); float32 \(report.weightBytes[.float32]!)",
            String(format: "  arena         %d bytes, lower bound %d (%.3fx, %@); cost-model peak without in-place reuse %d",
                   plan.arenaBytes, plan.lowerBoundBytes, Double(plan.arenaBytes) / Double(max(plan.lowerBoundBytes, 1)),
                   plan.planner, report.unplannedPeakBytes * primary.bytesPerElementForReport),
        ]
        if let latency = report.latency[primary] {
            let other = report.latency[primary == .int8 ? .float32 : .int8]
            lines.append(String(format: "  latency       %@median %.4f ms, p90 %.4f ms (%@, %d runs)%@%@",
                                latency.estimateMilliseconds.map { estimate in
                                    String(format: "estimate %.4f ms (95%% interval %.4f-%.4f), ", estimate,
                                           latency.ciLowMilliseconds ?? estimate, latency.ciHighMilliseconds ?? estimate)
                                } ?? "", latency.medianMilliseconds, latency.p90Milliseconds, latency.simd, latency.runs,
                                other.map { String(format: "; %@ %.4f ms", primary == .int8 ? "float32" : "int8", $0.medianMilliseconds) } ?? "",
                                latency.emulated ? " [emulated: not a hardware figure]" : ""))
            if let normalized = latency.normalizedMilliseconds, let ratio = latency.probeRatio, let probeTime = latency.probeMilliseconds {
                lines.append(String(format: "  normalized    %.4f ms = ratio %.3f x probe %.4f ms (%@; this bench's probe %.4f ms%@)",
                                    normalized, ratio, latency.probeReferenceMilliseconds ?? probeTime,
                                    probe.milliseconds == nil ? "the bench's own probe; \(probe.note)" : probe.note, probeTime,
                                    latency.speedGateDescription.map { ", " + $0 } ?? ""))
            }
        }
        for line in lines { out.result(line) }
        out.json(report.manifest)
    }
}

extension ModelPrecision {
    /// Bytes per activation element, for the unplanned-peak figure in the summary.
    var bytesPerElementForReport: Int { self == .int8 ? 1 : 4 }
}

/// `autoshrink export` of a language-model checkpoint (`train --task lm`; docs/shrinkrnn.md, "Deploy"):
/// the float32 C program (and its int8-weight twin), built for the device and run on the test split.
enum LanguageModelExport {
    static func run(_ command: ExportCommand) throws {
        var given: [String] = []
        if command.calibration != 512 { given.append("--calibration") }
        if command.percentile != nil { given.append("--percentile") }
        if command.onnx { given.append("--onnx") }
        if command.testImages != nil { given.append("--test-images") }
        guard given.isEmpty else {
            throw ValidationError("\(given.joined(separator: ", ")): image-export options; a language model takes --test-tokens, --bench-runs, --float/--int8 (docs/shrinkrnn.md)")
        }
        let out = Output(options: command.output)
        let stored = try LMCheckpoint.load(path: command.checkpoint)
        let cell = try LMExporter.exportableCell(stored)
        let target = try DeviceDescription.resolve(command.device)
        let name = try LMExporter.modelName(stored)
        let directory = command.out ?? "deploy/\(name)"
        var inputs = [command.checkpoint] + [command.dataDir].compactMap { $0 }
        if FileManager.default.fileExists(atPath: command.device) { inputs.append(command.device) }
        try OutputFolder.checkReplaceable(directory, option: command.out == nil ? "output folder" : "--out", inputs: inputs, force: command.force)
        let lock = try OutputFolder.lock(directory)
        defer { lock.release() }
        for action in ExportLeftovers.clean(outputFolder: directory) { out.line(action) }  // we hold the lock: none is live
        var test: [Int32]?
        var corpusName = stored.metadata.corpus
        if !command.noRun {
            let corpus = try LanguageModelCommands.corpus(directory: command.dataDir, vocabulary: stored.shape.vocabulary)
            guard corpus.vocabulary == stored.vocabulary else {
                throw CLIError("\(command.checkpoint): trained with another vocabulary than \(corpus.name) gives (\(stored.metadata.corpus))")
            }
            test = corpus.test
            corpusName = corpus.name
        }
        var options = LMExportOptions()
        options.precision = command.precision == .int8 ? .int8 : .float32
        options.measure = !command.noRun
        options.testTokenLimit = command.testTokens
        options.benchRuns = command.benchRuns
        let cost = LanguageModelCost(cell: cell, shape: stored.shape)
        let tokens = test.map { min($0.count, command.testTokens ?? $0.count) }
        out.heading("""
            autoshrink export (language model)
              checkpoint    \(command.checkpoint): \(cell.summary), embed \(stored.shape.embed), hidden \(stored.shape.hidden), vocabulary \(stored.shape.vocabulary)\(stored.shape.tied ? " (tied)" : ""), \(ArchitectureSummary.scaled(Double(cost.macsPerToken))) MACs/token\(stored.metadata.testPerplexity.map { String(format: ", test perplexity %.2f", $0) } ?? "")
              device        \(target.name) (\(target.architecture.rawValue), \(target.compiler.cc) \(target.compiler.flags.joined(separator: " ")), \(target.runner.kind.rawValue) runner)
              binaries      float32 and int8 weights (float activations); main binary \(options.precision.rawValue)
              test text     \(tokens.map { "\($0) tokens of \(corpusName)'s test split\($0 < test!.count ? " (a prefix of \(test!.count))" : "")" } ?? "not run (--no-run)")
              output        \(directory)/
            """)
        let steps = StepTicker(output: out)
        defer { steps.finish() }
        let report = try LMExporter.export(checkpoint: stored, testTokens: test, corpusName: corpusName, device: target,
                                           outputDirectory: directory, options: options,
                                           context: ExecutionContext(threads: command.threads), progress: { steps.start($0) })
        steps.finish()
        let m = report.manifest
        func ppl(_ value: Double?) -> String { value.map { String(format: "%.3f", $0) } ?? "-" }
        var lines = [
            "exported \(m.model) to \(report.directory)/ for \(target.name)",
            "  binary        \(m.binary) (vocabulary \(m.vocabularyFile))",
            "  perplexity    float32 \(ppl(m.floatPerplexity)), int8 \(ppl(m.int8Perplexity)), Swift engine \(ppl(m.swiftPerplexity)) on \(m.testTokens.map(String.init) ?? "-") test tokens"
                + (m.checkpointTestPerplexity.map { String(format: " (training measured %.3f on the whole split at batch 10)", $0) } ?? ""),
            "  code          \(m.textBytes) bytes .text (model \(m.textBytesModel) + kernels used)",
            "  weights       \(m.weightBytes) bytes (\(m.precision.rawValue)); float32 \(m.weightBytesFloat), int8 \(m.weightBytesInt8)",
        ]
        for precision in [m.precision, m.precision == .int8 ? ModelPrecision.float32 : .int8] {
            guard let latency = precision == .int8 ? m.latencyInt8 : m.latencyFloat else { continue }
            lines.append(String(format: "  latency       %@ per token: estimate %.4f ms (95%% interval %.4f-%.4f), median %.4f ms, p90 %.4f ms (%@, %d tokens)%@",
                                precision.rawValue, latency.estimateMilliseconds ?? latency.medianMilliseconds,
                                latency.ciLowMilliseconds ?? latency.medianMilliseconds, latency.ciHighMilliseconds ?? latency.medianMilliseconds,
                                latency.medianMilliseconds, latency.p90Milliseconds, latency.simd, latency.runs,
                                latency.emulated ? " [emulated: not a hardware figure]" : ""))
        }
        for line in lines { out.result(line) }
        if let increase = m.int8PerplexityIncrease, m.int8WithinTolerance == false {
            out.warn(String(format: "warning: the int8 binary's perplexity is %.2f %% above float32's (more than %.0f %%): use the float32 binary", increase * 100,
                            LMExportManifest.int8Tolerance * 100))
        }
        if let difference = m.floatSwiftDifference, m.floatMatchesSwift == false {
            out.warn(String(format: "warning: the float32 binary's perplexity differs from the Swift engine's by %.2f %% (more than %.0f %%)", difference * 100,
                            LMExportManifest.agreementTolerance * 100))
        }
        out.json(m)
    }
}
