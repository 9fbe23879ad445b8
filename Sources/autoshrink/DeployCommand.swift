import AutoShrinkFormats
import ArgumentParser
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkDeploy
import AutoShrinkExport
import AutoShrinkLM
import AutoShrinkModel
import Foundation

/// `autoshrink deploy`: run an exported model on a device and compare with the export and the profile.
struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Copy an exported model to a device, run real test images and the latency bench there.",
        discussion: """
        Uploads the export's binary and the test images with the device's runner (scp for SSH devices, qemu for \
        emulated ones), classifies the images, times the binary and prints measured accuracy and latency next to \
        what the export measured and what profiles/<device>.json predicts. An export built for another toolchain \
        is rebuilt from its sources for this device first.
        A language-model export (export of a train --task lm checkpoint) is scored on the test text instead: \
        the binary's perplexity on the device beside the one the export recorded, and the latency per token \
        (docs/shrinkrnn.md, "Deploy").
        """)

    @Argument(help: "Export directory (deploy/NAME).") var export: String
    @Option(help: "Device: a name from devices/ or a devices/*.toml file.") var device: String = "local"
    @Option(parsing: .unconditional, help: "Test images to classify on the device (default: all).") var images: Int?
    @Option(parsing: .unconditional, help: "Language model: test tokens to score on the device (a prefix of the test split; default: as many as the export scored).")
    var testTokens: Int?
    @Option(parsing: .unconditional, help: "Timed runs of the latency bench.") var benchRuns: Int = 2000
    @Option(help: "Directory holding the dataset files (default: the dataset's standard location).") var dataDir: String?
    @Option(help: "Directory of device profiles.") var profiles: String = "profiles"
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try OptionCheck.integer(images, "--images", in: 1...100_000_000)
        try OptionCheck.integer(testTokens, "--test-tokens", in: 2...Int(Int32.max))
        try OptionCheck.integer(benchRuns, "--bench-runs", in: 1...100_000_000)
        guard benchRuns >= 1 else { throw ValidationError("--bench-runs must be at least 1") }
    }

    func run() throws {
        let out = Output(options: output)
        let kind = try ExportKind.of(directory: export)
        if kind == .languageModel { return try LanguageModelDeploy.run(self) }
        guard testTokens == nil else {
            throw CLIError("--test-tokens: a language-model option and \(export) is an image-classifier export (images: --images)")
        }
        let target = try DeviceDescription.resolve(device)
        let manifest = try Deployment.manifest(directory: export)
        out.heading("""
            autoshrink deploy
              export        \(export) (\(manifest.precision.rawValue), built for \(manifest.device.name), \(manifest.device.architecture.rawValue))
              device        \(target.name) (\(target.architecture.rawValue), \(target.runner.kind.rawValue) runner)
              run           \(images.map(String.init) ?? "all") \(manifest.dataset) test images, \(benchRuns) timed runs
            """)
        let steps = StepTicker(output: out)
        defer { steps.finish() }
        let report = try Deployment.run(exportDirectory: export, device: target, images: images, dataDirectory: dataDir,
                                        benchRuns: benchRuns, profilesDirectory: profiles,
                                        progress: { steps.start($0) })
        steps.finish()
        func percent(_ value: Double?) -> String { value.map { String(format: "%.2f %%", $0 * 100) } ?? "-" }
        out.result(report.rebuilt
            ? "deployed \(export) on \(target.name), rebuilt with \(target.compiler.cc) \(target.compiler.flags.joined(separator: " "))"
            : "deployed \(report.binary) on \(target.name)")
        out.result("  accuracy      \(percent(report.accuracy)) on \(report.images) test images (export measured \(percent(report.exportAccuracy)))")
        out.result(String(format: "  latency       measured %@median %.4f ms, p90 %.4f ms (%@)%@",
                          report.latency.estimateMilliseconds.map { String(format: "estimate %.4f ms, ", $0) } ?? "",
                          report.latency.medianMilliseconds,
                          report.latency.p90Milliseconds, report.latency.simd,
                          report.latency.emulated ? " [emulated: not a hardware figure]" : ""))
        if let normalized = report.normalizedLatencyMilliseconds {
            out.result(String(format: "  normalized    %.4f ms at the profile's machine speed (%@%@)", normalized, report.probeNote,
                              report.latency.speedGateDescription.map { "; " + $0 } ?? ""))
        }
        if let predicted = report.predictedLatencyMilliseconds {
            out.result(String(format: "  predicted     %.4f ms from %@/%@.json (%@ / predicted = %.2f)", predicted, profiles,
                              target.name, report.normalizedLatencyMilliseconds == nil ? "measured" : "normalized",
                              report.comparableLatencyMilliseconds / predicted))
        } else {
            out.result("  predicted     - (\(report.predictionNote ?? "no profile"))")
        }
        if let peak = report.peakResidentKiB {
            out.result("  memory        peak RSS \(peak) KiB (arena \(report.arenaBytes.map(String.init) ?? "-") bytes)")
        }
        out.json(report.summary)
    }
}

/// `autoshrink deploy` of a language-model export (docs/shrinkrnn.md, "Deploy"): the test text's
/// perplexity on the device against the export's, and the latency per token.
enum LanguageModelDeploy {
    static func run(_ command: DeployCommand) throws {
        var given: [String] = []
        if command.images != nil { given.append("--images") }
        guard given.isEmpty else {
            throw CLIError("\(given.joined(separator: ", ")): image-deploy options; a language model takes --test-tokens, --bench-runs, --data-dir, --profiles (docs/shrinkrnn.md)")
        }
        let out = Output(options: command.output)
        let manifest = try LMDeployment.manifest(directory: command.export)
        let target = try DeviceDescription.resolve(command.device)
        let tokens = command.testTokens ?? manifest.testTokens
        out.heading("""
            autoshrink deploy (language model)
              export        \(command.export) (\(manifest.model): \(manifest.cell.summary), embed \(manifest.embed), hidden \(manifest.hidden), vocabulary \(manifest.vocabulary); \(manifest.precision.rawValue), built for \(manifest.device.name), \(manifest.device.architecture.rawValue))
              device        \(target.name) (\(target.architecture.rawValue), \(target.runner.kind.rawValue) runner)
              test text     \(tokens.map { "the first \($0)" } ?? "all") test tokens of \(command.dataDir ?? "the built-in corpus")\(command.testTokens == nil && tokens != nil ? " (as many as the export scored)" : ""); \(command.benchRuns) timed tokens
            """)
        let steps = StepTicker(output: out)
        defer { steps.finish() }
        let report = try LMDeployment.run(exportDirectory: command.export, device: target, loadTest: {
            let corpus = try LanguageModelCommands.corpus(directory: command.dataDir, vocabulary: manifest.vocabulary)
            return LMDeployTest(corpus: corpus.name, vocabulary: corpus.vocabulary, tokens: corpus.test)
        }, tokenLimit: command.testTokens, benchRuns: command.benchRuns, progress: { steps.start($0) })
        steps.finish()
        var s = report.summary
        (s.predictedLatencyMilliseconds, s.predictionNote) = predictedLatency(manifest: manifest, device: target, profiles: command.profiles)
        let latency = report.latency
        func ppl(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "-" }
        out.result(s.rebuilt
            ? "deployed \(command.export) on \(target.name), rebuilt with \(target.compiler.cc) \(target.compiler.flags.joined(separator: " "))"
            : "deployed \(s.binary) on \(target.name)")
        let comparison: String
        if let difference = s.perplexityDifference {
            comparison = String(format: "export measured %@ on the same tokens: |deploy / export - 1| = %.2g", ppl(s.exportPerplexity), difference)
        } else if let recorded = s.exportPerplexity {
            comparison = "export measured \(ppl(recorded)) on \(s.exportTokens.map(String.init) ?? "-") tokens, not compared"
        } else {
            comparison = "the export measured no perplexity (--no-run)"
        }
        out.result("  perplexity    \(ppl(s.testPerplexity)) (\(s.precision.rawValue)) on \(s.tokens) test tokens of \(s.corpus); \(comparison)")
        if let accuracy = s.testAccuracy { out.result(String(format: "  next word     accuracy %.4f", accuracy)) }
        out.result(String(format: "  latency       per token: estimate %.4f ms (95%% interval %.4f-%.4f), median %.4f ms, p90 %.4f ms (%@, %d tokens)%@",
                          latency.estimateMilliseconds ?? latency.medianMilliseconds,
                          latency.ciLowMilliseconds ?? latency.medianMilliseconds, latency.ciHighMilliseconds ?? latency.medianMilliseconds,
                          latency.medianMilliseconds, latency.p90Milliseconds, latency.simd, latency.runs,
                          latency.emulated ? " [emulated: not a hardware figure]" : ""))
        if let exported = manifest.latency {
            out.result(String(format: "  export        per token on %@: estimate %.4f ms, median %.4f ms%@", manifest.device.name,
                              exported.estimateMilliseconds ?? exported.medianMilliseconds, exported.medianMilliseconds,
                              exported.emulated ? " [emulated]" : ""))
        }
        if let predicted = s.predictedLatencyMilliseconds {
            let measured = latency.estimateMilliseconds ?? latency.medianMilliseconds
            out.result(String(format: "  predicted     %.4f ms per token (%@) from %@/%@.json (measured / predicted = %.2f)%@", predicted,
                              s.precision.rawValue, command.profiles, target.name, measured / predicted,
                              latency.emulated ? " [emulated]" : ""))
        } else {
            out.result("  predicted     - (\(s.predictionNote ?? "no profile"))")
        }
        if let peak = s.peakRSSKiB { out.result("  memory        peak RSS \(peak) KiB") }
        if let difference = s.perplexityDifference, s.perplexityMatchesExport == false {
            out.warn(String(format: "warning: the perplexity on %@ differs from the export's by %.2f %% (more than %.0f %%): the binary computes differently here",
                            target.name, difference * 100, LMExportManifest.agreementTolerance * 100))
        }
        out.json(s)
    }

    /// Latency per token of the export's model in its main binary's precision from `profiles/<device>.json`'s
    /// recurrent section (docs/shrinkrnn.md, "Profiling recurrent operators"), or why there is none.
    static func predictedLatency(manifest: LMExportManifest, device: DeviceDescription, profiles: String) -> (Double?, String?) {
        let path = "\(profiles)/\(device.name).json"
        guard FileManager.default.fileExists(atPath: path) else {
            return (nil, "no profile \(path); run autoshrink profile --device \(device.name)")
        }
        do {
            let profile = try ProfileLatencyPredictor.load(path: path, device: device.name)
            let precision: OperatorDataType = manifest.precision == .int8 ? .int8 : .float32
            let latency = try ProfileLMLatencyPredictor(profile: profile, path: path, precision: precision)
            let shape = LanguageModelShape(vocabulary: manifest.vocabulary, embed: manifest.embed, hidden: manifest.hidden, tied: manifest.tied)
            return (try latency.latencyPerTokenMilliseconds(cell: manifest.cell, shape: shape), nil)
        } catch {
            return (nil, FileProblem.reason(error))
        }
    }
}
