import AutoShrinkFormats
import AutoShrinkLM
import Foundation

/// `deploy/NAME/export.json` of a language-model export (format `autoshrink.lm-export`, version 1;
/// docs/shrinkrnn.md, "Deploy"): what `autoshrink export` built from a language-model checkpoint and
/// measured by running the binaries. Also its `--json` summary (every key present, absent = null).
/// `test_perplexity` is the main binary's perplexity on the test tokens it read, as the image export's
/// `test_accuracy` is its accuracy; `swift_perplexity` is the Swift engine's on the same tokens at
/// batch 1 (the same function), `checkpoint_test_perplexity` the one training measured (batch 10, the
/// whole split), which is a different number.
public struct LMExportManifest: VersionedDocument, JSONSummary, Sendable {
    public static let formatName = "autoshrink.lm-export"
    public static let currentVersion = 1
    public static let documentKind = "an autoshrink language-model export manifest"
    public static let versionLabel = "language-model export"
    public static let versionHint = "; run autoshrink export again"
    /// How the int8 binary's weights are quantized.
    public static let int8Scheme = "int8 weights, symmetric, one float scale per output (column of the cell's [K][N] matrices, row of the embedding and decoder); float32 activations"
    /// Largest relative perplexity increase of the int8 binary over the float32 one that counts as keeping it.
    public static let int8Tolerance = 0.02
    /// Largest relative difference between the float32 binary and the Swift engine that counts as agreement.
    public static let agreementTolerance = 0.01

    public var format: String = LMExportManifest.formatName
    public var version: Int = LMExportManifest.currentVersion
    public var exporterVersion: String
    public var autoshrinkVersion: String
    public var model: String
    public var cell: RNNCell
    public var cellHash: String
    public var vocabulary: Int
    public var embed: Int
    public var hidden: Int
    public var tied: Bool
    public var macsPerToken: Int
    public var parameters: Int
    public var runtimeHash: String
    public var device: DeviceDescription
    public var precision: ModelPrecision
    public var binary: String
    public var binaries: [ModelPrecision: String]
    /// The vocabulary file the binaries read (one word a line, in id order).
    public var vocabularyFile: String
    public var corpus: String
    /// Tokens given to the binaries (a prefix of the test split when `--test-tokens` cut it) and the split's size.
    public var testTokens: Int?
    public var testTokensTotal: Int?
    public var testPerplexity: Double?
    /// Next-word accuracy of the main binary on the same tokens.
    public var testAccuracy: Double?
    public var floatPerplexity: Double?
    public var int8Perplexity: Double?
    public var swiftPerplexity: Double?
    public var checkpointTestPerplexity: Double?
    /// int8 perplexity / float32 perplexity - 1, and whether it is within `int8Tolerance`.
    public var int8PerplexityIncrease: Double?
    public var int8WithinTolerance: Bool?
    /// |float32 binary / Swift - 1| and whether it is within `agreementTolerance`.
    public var floatSwiftDifference: Double?
    public var floatMatchesSwift: Bool?
    public var peakRSSKiB: Int?
    public var textBytes: Int
    public var textBytesModel: Int
    public var textBytesBinary: Int
    public var weightBytes: Int
    public var weightBytesFloat: Int
    public var weightBytesInt8: Int
    /// Per-token latency of the main binary (`model --bench`), and each precision's.
    public var latency: LatencyMeasurement?
    public var latencyMedianMilliseconds: Double?
    public var latencyFloat: LatencyMeasurement?
    public var latencyInt8: LatencyMeasurement?
    /// Median time of each operator of one token in the main binary (`model --bench-ops`): embedding,
    /// every cell node, the leaf mean, the decoder, the log-softmax normaliser.
    public var operators: [OperatorTime]?
    public var int8Scheme: String = LMExportManifest.int8Scheme
    public var seconds: Double

    public struct OperatorTime: Codable, Sendable, Hashable {
        public var op: String
        public var medianMilliseconds: Double
        enum CodingKeys: String, CodingKey { case op, medianMilliseconds = "median_ms" }
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case format, version, model, cell, vocabulary, embed, hidden, tied, parameters, device, precision, binary, binaries
        case corpus, latency, seconds, operators
        case exporterVersion = "exporter_version", autoshrinkVersion = "autoshrink_version", cellHash = "cell_hash"
        case macsPerToken = "macs_per_token", runtimeHash = "runtime_hash", vocabularyFile = "vocabulary_file"
        case testTokens = "test_tokens", testTokensTotal = "test_tokens_total", testPerplexity = "test_perplexity"
        case testAccuracy = "test_accuracy", floatPerplexity = "float_perplexity", int8Perplexity = "int8_perplexity"
        case swiftPerplexity = "swift_perplexity", checkpointTestPerplexity = "checkpoint_test_perplexity"
        case int8PerplexityIncrease = "int8_perplexity_increase", int8WithinTolerance = "int8_within_tolerance"
        case floatSwiftDifference = "float_swift_difference", floatMatchesSwift = "float_matches_swift"
        case peakRSSKiB = "peak_rss_kib", textBytes = "text_bytes", textBytesModel = "text_bytes_model"
        case textBytesBinary = "text_bytes_binary", weightBytes = "weight_bytes", weightBytesFloat = "weight_bytes_float"
        case weightBytesInt8 = "weight_bytes_int8", latencyMedianMilliseconds = "latency_median_ms"
        case latencyFloat = "latency_float", latencyInt8 = "latency_int8", int8Scheme = "int8_scheme"
    }

    public func validate(source: String) throws {
        try cell.validate(source: source)
        guard binaries[precision] != nil else { throw DocumentError("\(source): no binary for the main precision \(precision.rawValue)") }
    }

    /// The perplexity a precision's binary measured.
    public func perplexity(_ precision: ModelPrecision) -> Double? { precision == .int8 ? int8Perplexity : floatPerplexity }
}
