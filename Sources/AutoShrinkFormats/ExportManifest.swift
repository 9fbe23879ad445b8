import Foundation

/// Precision of an exported network's arithmetic.
public enum ModelPrecision: String, Sendable, Codable, CaseIterable, CodingKeyRepresentable {
    case int8
    case float32
}

/// Latency of one binary measured with `model --bench` on the device (`export.json` `latency*`).
public struct LatencyMeasurement: Sendable, Hashable, Codable {
    public var medianMilliseconds: Double
    public var p90Milliseconds: Double
    public var runs: Int
    public var simd: String
    /// Measured under qemu user-mode emulation: says nothing about real hardware.
    public var emulated: Bool
    /// The bench's estimate (Sources/CHarness/common/estimator.h: 10th percentile of the medians of rounds of
    /// consecutive runs, the quantity the profile's predictor is fitted to), its 95 % interval, and the core
    /// the bench was pinned to; nil in exports made before.
    public var estimateMilliseconds: Double?
    public var ciLowMilliseconds: Double?
    public var ciHighMilliseconds: Double?
    public var cpu: Int?
    /// The speed probe measured before every round of the bench (Sources/CHarness/common/speed_probe.h,
    /// docs/devices.md "Shared cores"): its own estimate, the ratio of the bench's estimate to it, the
    /// reference probe time (the profile's `speed_probe.ms` when the bench was given it, else
    /// the bench's own probe estimate) and ratio x reference, the latency at the reference's machine
    /// speed; nil from binaries without the probe (language models, exports made before).
    public var probeMilliseconds: Double?
    public var probeRatio: Double?
    public var probeReferenceMilliseconds: Double?
    public var normalizedMilliseconds: Double?
    /// The bench's speed gate, with a reference probe time (harness_cli.h, docs/devices.md "Speed-gated
    /// bench"): the rounds whose probe was within 10 % of the reference, whether `normalizedMilliseconds`
    /// is over those rounds alone, and the seconds of rounds the bench added to find them; nil from a
    /// bench without a reference and from binaries made before the gate.
    public var fastRounds: Int?
    public var speedGated: Bool?
    public var waitedSeconds: Double?

    public init(medianMilliseconds: Double, p90Milliseconds: Double, runs: Int, simd: String, emulated: Bool,
                estimateMilliseconds: Double? = nil, ciLowMilliseconds: Double? = nil, ciHighMilliseconds: Double? = nil,
                cpu: Int? = nil) {
        self.medianMilliseconds = medianMilliseconds; self.p90Milliseconds = p90Milliseconds
        self.runs = runs; self.simd = simd; self.emulated = emulated
        self.estimateMilliseconds = estimateMilliseconds; self.ciLowMilliseconds = ciLowMilliseconds
        self.ciHighMilliseconds = ciHighMilliseconds; self.cpu = cpu
    }

    /// What to compare with a profile's prediction: the estimate, or the median of an older export.
    public var typicalMilliseconds: Double { estimateMilliseconds ?? medianMilliseconds }

    /// One phrase on the speed gate for the commands' text ("over 233 rounds at the reference's speed",
    /// "over all rounds: 9 at the reference's speed after 10.0 s added"); nil without a gate.
    public var speedGateDescription: String? {
        guard let fastRounds, let speedGated else { return nil }
        let waited = (waitedSeconds ?? 0) > 0 ? String(format: " after %.1f s added", waitedSeconds ?? 0) : ""
        return speedGated ? "over \(fastRounds) rounds at the reference's speed\(waited)"
                          : "over all rounds: only \(fastRounds) at the reference's speed\(waited)"
    }

    enum CodingKeys: String, CodingKey {
        case medianMilliseconds = "median_ms", p90Milliseconds = "p90_ms", runs, simd, emulated, cpu
        case estimateMilliseconds = "estimate_ms", ciLowMilliseconds = "ci_low_ms", ciHighMilliseconds = "ci_high_ms"
        case probeMilliseconds = "probe_ms", probeRatio = "ratio", probeReferenceMilliseconds = "probe_ref_ms"
        case normalizedMilliseconds = "normalized_ms"
        case fastRounds = "fast_rounds", speedGated = "speed_gated", waitedSeconds = "waited_s"
    }
}

/// One tensor's int8 quantization as `export.json` lists it.
public struct TensorQuantizationRecord: Sendable, Hashable, Codable {
    public var tensor: Int
    public var name: String
    public var scale: Float
    public var zeroPoint: Int
    /// The real range the quantization covers.
    public var min: Float
    public var max: Float

    public init(tensor: Int, name: String, scale: Float, zeroPoint: Int, min: Float, max: Float) {
        self.tensor = tensor; self.name = name; self.scale = scale; self.zeroPoint = zeroPoint; self.min = min; self.max = max
    }

    enum CodingKeys: String, CodingKey {
        case tensor, name, scale, min, max
        case zeroPoint = "zero_point"
    }
}

/// `deploy/NAME/export.json` (format `autoshrink.export`, version 1): what an export built and measured.
/// Written by `ModelExporter` (AutoShrinkExport) and printed as `autoshrink export --json`; read by
/// `Deployment`, the report and the quickstart. Keys are snake case; `latency_median_ms` is the main
/// binary's measured median (nil without measurements).
public struct ExportManifest: VersionedDocument, JSONSummary, Sendable {
    public static let formatName = "autoshrink.export"
    public static let currentVersion = 1
    public static let documentKind = "an autoshrink export manifest"
    public static let versionLabel = "export"
    public static let versionHint = "; run autoshrink export again"
    /// The TFLite-style scheme every int8 export follows.
    public static let quantizationScheme = "TFLite int8: per-output-channel symmetric int8 weights, per-tensor asymmetric int8 activations, int32 bias, Q0.31 requantization"

    public struct Calibration: Sendable, Hashable, Codable {
        public var images: Int
        public var method: String
        public init(images: Int, method: String) { self.images = images; self.method = method }
    }

    public var format: String = ExportManifest.formatName
    public var version: Int = ExportManifest.currentVersion
    public var exporterVersion: String
    public var autoshrinkVersion: String
    public var model: String
    public var architectureHash: String
    /// The architecture file inside the export directory (`model.arch.json`).
    public var architectureFile: String
    public var runtimeHash: String
    /// The device the export was built (and measured) for. Exports written before the device was
    /// embedded whole carry only name, arch and compiler; they load with a local runner.
    public var device: DeviceDescription {
        get { embeddedDevice.description }
        set { embeddedDevice = EmbeddedDevice(newValue) }
    }
    private var embeddedDevice: EmbeddedDevice
    public var precision: ModelPrecision
    /// Path of the main binary.
    public var binary: String
    /// Binary paths by precision.
    public var binaries: [ModelPrecision: String]
    public var onnx: String?
    public var onnxInt8: String?
    public var dataset: String
    public var testImages: Int?
    public var checkpointTestAccuracy: Double?
    public var floatAccuracy: Double?
    public var int8Accuracy: Double?
    public var accuracyDropPoints: Double?
    public var peakRSSKiB: Int?
    /// `.text` of the main binary's model + kernel objects; the model object alone; the whole binary.
    public var textBytes: Int
    public var textBytesModel: Int
    public var textBytesBinary: Int
    public var textBytesInt8: Int?
    public var textBytesFloat: Int?
    public var textBytesAllKernels: Int
    public var weightBytes: Int
    public var weightBytesInt8: Int?
    public var weightBytesFloat: Int?
    public var quantizationConstantBytes: Int
    public var arenaBytes: Int
    public var arenaLowerBoundBytes: Int
    public var arenaBytesInt8: Int?
    public var arenaLowerBoundBytesInt8: Int?
    public var arenaBytesFloat: Int?
    public var arenaLowerBoundBytesFloat: Int?
    public var arenaUnplannedPeakBytesInt8: Int
    public var planner: String
    /// The main binary's latency, and each precision's.
    public var latency: LatencyMeasurement?
    public var latencyMedianMilliseconds: Double?
    public var latencyFloat: LatencyMeasurement?
    public var latencyInt8: LatencyMeasurement?
    public var calibration: Calibration
    public var scheme: String
    public var quantization: [TensorQuantizationRecord]
    public var seconds: Double

    public init(exporterVersion: String, autoshrinkVersion: String, model: String, architectureHash: String,
                architectureFile: String, runtimeHash: String, device: DeviceDescription, precision: ModelPrecision,
                binary: String, binaries: [ModelPrecision: String], onnx: String?, onnxInt8: String?, dataset: String,
                testImages: Int?, checkpointTestAccuracy: Double?, floatAccuracy: Double?, int8Accuracy: Double?,
                peakRSSKiB: Int?, textBytes: Int, textBytesModel: Int, textBytesBinary: Int, textBytesInt8: Int?,
                textBytesFloat: Int?, textBytesAllKernels: Int, weightBytes: Int, weightBytesInt8: Int?, weightBytesFloat: Int?,
                quantizationConstantBytes: Int, arenaBytes: Int, arenaLowerBoundBytes: Int, arenaBytesInt8: Int?,
                arenaLowerBoundBytesInt8: Int?, arenaBytesFloat: Int?, arenaLowerBoundBytesFloat: Int?,
                arenaUnplannedPeakBytesInt8: Int, planner: String, latency: LatencyMeasurement?,
                latencyFloat: LatencyMeasurement?, latencyInt8: LatencyMeasurement?, calibration: Calibration,
                quantization: [TensorQuantizationRecord], seconds: Double) {
        self.exporterVersion = exporterVersion; self.autoshrinkVersion = autoshrinkVersion; self.model = model
        self.architectureHash = architectureHash; self.architectureFile = architectureFile; self.runtimeHash = runtimeHash
        self.embeddedDevice = EmbeddedDevice(device); self.precision = precision; self.binary = binary; self.binaries = binaries
        self.onnx = onnx; self.onnxInt8 = onnxInt8; self.dataset = dataset; self.testImages = testImages
        self.checkpointTestAccuracy = checkpointTestAccuracy; self.floatAccuracy = floatAccuracy; self.int8Accuracy = int8Accuracy
        self.accuracyDropPoints = floatAccuracy.flatMap { f in int8Accuracy.map { (f - $0) * 100 } }
        self.peakRSSKiB = peakRSSKiB; self.textBytes = textBytes; self.textBytesModel = textBytesModel
        self.textBytesBinary = textBytesBinary; self.textBytesInt8 = textBytesInt8; self.textBytesFloat = textBytesFloat
        self.textBytesAllKernels = textBytesAllKernels; self.weightBytes = weightBytes; self.weightBytesInt8 = weightBytesInt8
        self.weightBytesFloat = weightBytesFloat; self.quantizationConstantBytes = quantizationConstantBytes
        self.arenaBytes = arenaBytes; self.arenaLowerBoundBytes = arenaLowerBoundBytes; self.arenaBytesInt8 = arenaBytesInt8
        self.arenaLowerBoundBytesInt8 = arenaLowerBoundBytesInt8; self.arenaBytesFloat = arenaBytesFloat
        self.arenaLowerBoundBytesFloat = arenaLowerBoundBytesFloat; self.arenaUnplannedPeakBytesInt8 = arenaUnplannedPeakBytesInt8
        self.planner = planner; self.latency = latency; self.latencyMedianMilliseconds = latency?.medianMilliseconds
        self.latencyFloat = latencyFloat; self.latencyInt8 = latencyInt8; self.calibration = calibration
        self.scheme = ExportManifest.quantizationScheme; self.quantization = quantization; self.seconds = seconds
    }

    /// The measured test accuracy of a precision's binary.
    public func accuracy(_ precision: ModelPrecision) -> Double? { precision == .int8 ? int8Accuracy : floatAccuracy }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case format, version, model, precision, binary, binaries, onnx, dataset, planner, latency, calibration
        case scheme, quantization, seconds
        case exporterVersion = "exporter_version", autoshrinkVersion = "autoshrink_version"
        case architectureHash = "architecture_hash", architectureFile = "architecture_file", runtimeHash = "runtime_hash"
        case onnxInt8 = "onnx_int8", testImages = "test_images", checkpointTestAccuracy = "checkpoint_test_accuracy"
        case floatAccuracy = "float_accuracy", int8Accuracy = "int8_accuracy", accuracyDropPoints = "accuracy_drop_points"
        case peakRSSKiB = "peak_rss_kib", textBytes = "text_bytes", textBytesModel = "text_bytes_model"
        case textBytesBinary = "text_bytes_binary", textBytesInt8 = "text_bytes_int8", textBytesFloat = "text_bytes_float"
        case textBytesAllKernels = "text_bytes_all_kernels", weightBytes = "weight_bytes", weightBytesInt8 = "weight_bytes_int8"
        case weightBytesFloat = "weight_bytes_float", quantizationConstantBytes = "quantization_constant_bytes"
        case arenaBytes = "arena_bytes", arenaLowerBoundBytes = "arena_lower_bound_bytes", arenaBytesInt8 = "arena_bytes_int8"
        case arenaLowerBoundBytesInt8 = "arena_lower_bound_bytes_int8", arenaBytesFloat = "arena_bytes_float"
        case arenaLowerBoundBytesFloat = "arena_lower_bound_bytes_float"
        case arenaUnplannedPeakBytesInt8 = "arena_unplanned_peak_bytes_int8"
        case latencyMedianMilliseconds = "latency_median_ms", latencyFloat = "latency_float", latencyInt8 = "latency_int8"
        case embeddedDevice = "device"
    }
}

/// export.json's `device`: the whole `DeviceDescription`, plus the flat `cc`/`flags`/`ldflags` the
/// manifest carried before the description was embedded (written still, so older readers and scripts
/// keep working; read when `compiler` is absent).
struct EmbeddedDevice: Codable {
    var description: DeviceDescription

    init(_ description: DeviceDescription) { self.description = description }

    enum LegacyKeys: String, CodingKey { case name, arch, cc, flags, ldflags, compiler }

    init(from decoder: any Decoder) throws {
        let legacy = try decoder.container(keyedBy: LegacyKeys.self)
        if legacy.contains(.compiler) {
            description = try DeviceDescription(from: decoder)
        } else {
            description = DeviceDescription(
                name: try legacy.decode(String.self, forKey: .name), architecture: try legacy.decode(DeviceArchitecture.self, forKey: .arch),
                compiler: CompilerSettings(cc: try legacy.decode(String.self, forKey: .cc), flags: try legacy.decode([String].self, forKey: .flags),
                                           ldflags: try legacy.decodeIfPresent([String].self, forKey: .ldflags) ?? []),
                runner: .local)
        }
    }

    func encode(to encoder: any Encoder) throws {
        try description.encode(to: encoder)
        var legacy = encoder.container(keyedBy: LegacyKeys.self)
        try legacy.encode(description.compiler.cc, forKey: .cc)
        try legacy.encode(description.compiler.flags, forKey: .flags)
        try legacy.encode(description.compiler.ldflags, forKey: .ldflags)
    }
}
