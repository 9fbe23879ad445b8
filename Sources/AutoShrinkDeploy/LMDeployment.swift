import AutoShrinkData
import AutoShrinkExport
import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import AutoShrinkTarget
import Foundation

/// Which kind of export a directory holds, by the `format` of its `export.json`: an image classifier
/// (`ExportManifest`, `Deployment`) or a language model (`LMExportManifest`, `LMDeployment`).
public enum ExportKind: Sendable, Equatable {
    case image, languageModel

    /// One-line errors for a missing directory, a directory without `export.json` and a file of another format.
    public static func of(directory: String) throws -> ExportKind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw ExportError("\(directory): no such export directory; run autoshrink export first")
        }
        guard isDirectory.boolValue else { throw ExportError("\(directory): not a directory (give the export's folder, deploy/NAME)") }
        let path = "\(directory)/export.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw ExportError("\(directory): not an export directory (no export.json); run autoshrink export first")
        }
        switch DocumentFormat.tag(path: path) {
        case LMExportManifest.formatName: return .languageModel
        case ModelExporter.manifestFormat: return .image
        case let other:
            throw ExportError("\(path): not an autoshrink export (format is \(other.map { "'\($0)'" } ?? "missing"), expected '\(ModelExporter.manifestFormat)' or '\(LMExportManifest.formatName)')")
        }
    }
}

/// `autoshrink deploy --json` for a language-model export (docs/shrinkrnn.md, "Deploy"): the image
/// deployment's keys (`DeploySummary`) with the test text's `tokens` in place of `images` and
/// `test_perplexity` / `export_perplexity` in place of `accuracy` / `export_accuracy` (the names of
/// `LMExportManifest`); every latency is per token. `latency` is the bench's whole record as the
/// export's `export.json` has it (`estimate_ms` is estimator.h's estimate); `measured_latency_ms` its median.
public struct LMDeploySummary: JSONSummary, Sendable, Equatable {
    public var device: String
    public var arch: DeviceArchitecture
    public var binary: String
    public var rebuilt: Bool
    public var precision: ModelPrecision
    public var model: String
    public var corpus: String
    /// Test tokens the binary read (a prefix of the split: by default as many as the export read).
    public var tokens: Int
    public var testPerplexity: Double
    /// Next-word accuracy on the same tokens.
    public var testAccuracy: Double?
    /// What the export measured for the same binary precision, and on how many tokens.
    public var exportPerplexity: Double?
    public var exportTokens: Int?
    /// |test_perplexity / export_perplexity - 1|, and whether it is within `LMExportManifest.agreementTolerance`;
    /// null when the export measured no perplexity or on another number of tokens.
    public var perplexityDifference: Double?
    public var perplexityMatchesExport: Bool?
    public var latency: LatencyMeasurement
    public var measuredLatencyMilliseconds: Double
    public var measuredLatencyP90Milliseconds: Double
    public var benchRuns: Int
    public var simd: String
    public var emulated: Bool
    /// From the device profile's recurrent section (`autoshrink deploy` fills it in; null with a note without one).
    public var predictedLatencyMilliseconds: Double?
    public var predictionNote: String?
    public var peakRSSKiB: Int?

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case device, arch, binary, rebuilt, precision, model, corpus, tokens, latency, simd, emulated
        case testPerplexity = "test_perplexity", testAccuracy = "test_accuracy", exportPerplexity = "export_perplexity"
        case exportTokens = "export_tokens", perplexityDifference = "perplexity_difference"
        case perplexityMatchesExport = "perplexity_matches_export", measuredLatencyMilliseconds = "measured_latency_ms"
        case measuredLatencyP90Milliseconds = "measured_latency_p90_ms", benchRuns = "bench_runs"
        case predictedLatencyMilliseconds = "predicted_latency_ms", predictionNote = "prediction_note", peakRSSKiB = "peak_rss_kib"
    }
}

/// What `LMDeployment.run` measured: the `--json` summary and the device it ran on.
public struct LMDeploymentReport: Sendable {
    public let summary: LMDeploySummary
    public let device: DeviceDescription
    public var latency: LatencyMeasurement { summary.latency }
}

/// The test text a language-model deployment scores: the test split of the corpus the model was trained
/// on, rebuilt as `export` and `evaluate --task lm` do (the CLI loads it).
public struct LMDeployTest: Sendable {
    public var corpus: String
    public var vocabulary: Vocabulary
    public var tokens: [Int32]
    public init(corpus: String, vocabulary: Vocabulary, tokens: [Int32]) {
        self.corpus = corpus; self.vocabulary = vocabulary; self.tokens = tokens
    }
}

/// `autoshrink deploy` of a language-model export (docs/shrinkrnn.md, "Deploy"): the image deployment's
/// steps (`Deployment`) for the program `export` wrote from a language-model checkpoint. Reaches the
/// device, takes the export's main binary (rebuilt from the export's sources with this device's
/// toolchain when it was built for another, `Deployment.deviceBinary`), uploads it with `vocab.txt` and
/// the test text, runs `model --perplexity` on the device and compares the perplexity with the one
/// `export.json` recorded for the same binary, and times a token with `model --bench` (estimator.h).
public enum LMDeployment {
    /// Reads and checks `DIRECTORY/export.json` as a language-model export.
    public static func manifest(directory: String) throws -> LMExportManifest {
        guard try ExportKind.of(directory: directory) == .languageModel else {
            throw ExportError("\(directory): an image-classifier export, not a language model (deploy it without language-model options)")
        }
        return try LMExportManifest.loadDocument(path: "\(directory)/export.json")
    }

    /// Deploys `exportDirectory` to `device`: the first `tokenLimit` test tokens (nil: as many as the
    /// export read, all when it read none) and `benchRuns` timed tokens. `loadTest` (the corpus, which
    /// takes seconds to build) is called once the device answered, so an unreachable one fails at once.
    public static func run(exportDirectory: String, device: DeviceDescription, loadTest: () throws -> LMDeployTest, tokenLimit: Int?,
                           benchRuns: Int = 2000, runTimeout: Double = 1800,
                           progress: (String) -> Void = { _ in }) throws -> LMDeploymentReport {
        let manifest = try LMDeployment.manifest(directory: exportDirectory)
        let vocabularyPath = "\(exportDirectory)/vocab.txt"
        let binaryName = (manifest.binary as NSString).lastPathComponent
        let fileManager = FileManager.default
        let scratch = ScratchFiles.path("deploy")
        try FileProblem.createDirectory(scratch)
        defer { try? fileManager.removeItem(atPath: scratch) }

        // Reach the device before rebuilding or staging anything: an unreachable device fails at once.
        let runner = makeRunner(for: device)
        progress("connecting to \(device.name) (\(device.runner.kind.rawValue) runner)")
        try runner.prepare()
        defer { try? runner.cleanup() }
        let sources = Deployment.RebuildSources(harness: ["lm_main.c"], runtime: LMExporter.runtimeSources.map { "runtime/\($0)" })
        let (binary, rebuilt) = try Deployment.deviceBinary(exportDirectory: exportDirectory, binaryName: binaryName, built: manifest.device,
                                                            device: device, sources: sources, scratch: scratch, progress: progress)
        progress("reading the test text")
        let test = try loadTest()
        try checkVocabulary(path: vocabularyPath, expected: test.vocabulary, corpus: test.corpus, trainedOn: manifest.corpus)
        let tokens = Array(test.tokens.prefix(tokenLimit ?? manifest.testTokens ?? test.tokens.count))
        guard tokens.count >= 2 else {
            throw ExportError("\(test.corpus): \(tokens.count) test tokens; the perplexity needs at least 2")
        }
        let text = "\(scratch)/test.txt"
        try AtomicFile.write(LMExporter.text(of: tokens, vocabulary: test.vocabulary), to: text)

        progress("uploading \((binary as NSString).lastPathComponent), vocab.txt and \(tokens.count) test tokens")
        let deviceBinary = try runner.upload(binary)
        let deviceVocabulary = try runner.upload(vocabularyPath)
        let deviceText = try runner.upload(text)
        progress("scoring \(tokens.count) test tokens on \(device.name)")
        let scored = try LMExporter.runPerplexity(runner: runner, binary: deviceBinary, text: deviceText, vocabulary: deviceVocabulary,
                                                  tokens: tokens.count, timeout: runTimeout)
        progress("timing \(benchRuns) tokens on \(device.name)")
        let latency = try ModelRun.bench(runner: runner, binary: deviceBinary, runs: benchRuns, timeout: runTimeout)

        let recorded = manifest.perplexity(manifest.precision)
        let comparable = recorded != nil && manifest.testTokens == tokens.count
        let difference = comparable ? abs(scored.perplexity / recorded! - 1) : nil
        let summary = LMDeploySummary(
            device: device.name, arch: device.architecture, binary: rebuilt ? "\(exportDirectory)/\(binaryName)" : binary, rebuilt: rebuilt,
            precision: manifest.precision, model: manifest.model, corpus: test.corpus, tokens: tokens.count, testPerplexity: scored.perplexity,
            testAccuracy: scored.accuracy, exportPerplexity: recorded, exportTokens: manifest.testTokens, perplexityDifference: difference,
            perplexityMatchesExport: difference.map { $0 <= LMExportManifest.agreementTolerance }, latency: latency,
            measuredLatencyMilliseconds: latency.medianMilliseconds, measuredLatencyP90Milliseconds: latency.p90Milliseconds,
            benchRuns: latency.runs, simd: latency.simd, emulated: latency.emulated, predictedLatencyMilliseconds: nil,
            predictionNote: predictionNote, peakRSSKiB: scored.peakRSSKiB.flatMap { $0 >= 0 ? $0 : nil })
        return LMDeploymentReport(summary: summary, device: device)
    }

    /// Why `predicted_latency_ms` is null when the caller adds no prediction.
    public static let predictionNote = "no per-token latency prediction was asked for (autoshrink deploy predicts from profiles/<device>.json)"

    /// The export's `vocab.txt` (one word a line, in id order) must be the corpus's vocabulary: the
    /// test text is written as words and read back to ids by the binary.
    static func checkVocabulary(path: String, expected: Vocabulary, corpus: String, trainedOn: String) throws {
        let text: String
        do { text = try FileProblem.readText(path) } catch let error as FileAccessError {
            throw ExportError("\(path): \(error.reason); run autoshrink export again")
        }
        var words = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if words.last == "" { words.removeLast() }
        guard words == expected.words else {
            throw ExportError("\(path): the export's vocabulary (\(words.count) words) is not the one \(corpus) gives (\(expected.words.count) words); the model was trained on \(trainedOn): give its --data-dir")
        }
    }
}
