import Foundation

// The `--json` summary of every command: one object, printed as the last stdout line (sorted keys,
// absent values as null). The command writes the type and `quickstart` (or a script) decodes the same
// type. Keys are snake case, as they always were.

/// `autoshrink search --json`.
public struct SearchSummary: JSONSummary, Sendable, Equatable {
    public var bestArch: String?
    public var bestAccuracy: Double?
    public var bestScore: Double?
    public var macs: Int?
    public var params: Int?
    public var peakActivationBytes: Int?
    public var weightBytes: Int?
    public var latencyMilliseconds: Double?
    public var seconds: Double
    public var candidateSeconds: Double
    public var candidatesTrained: Int
    public var candidatesTrainedThisSession: Int
    public var steps: Int
    public var runDirectory: String
    public var strategy: String

    public init(bestArch: String?, bestAccuracy: Double?, bestScore: Double?, macs: Int?, params: Int?,
                peakActivationBytes: Int?, weightBytes: Int?, latencyMilliseconds: Double?, seconds: Double,
                candidateSeconds: Double, candidatesTrained: Int, candidatesTrainedThisSession: Int, steps: Int,
                runDirectory: String, strategy: String) {
        self.bestArch = bestArch; self.bestAccuracy = bestAccuracy; self.bestScore = bestScore; self.macs = macs
        self.params = params; self.peakActivationBytes = peakActivationBytes; self.weightBytes = weightBytes
        self.latencyMilliseconds = latencyMilliseconds; self.seconds = seconds; self.candidateSeconds = candidateSeconds
        self.candidatesTrained = candidatesTrained; self.candidatesTrainedThisSession = candidatesTrainedThisSession
        self.steps = steps; self.runDirectory = runDirectory; self.strategy = strategy
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case macs, params, seconds, steps, strategy
        case bestArch = "best_arch", bestAccuracy = "best_accuracy", bestScore = "best_score"
        case peakActivationBytes = "peak_activation_bytes", weightBytes = "weight_bytes", latencyMilliseconds = "latency_ms"
        case candidateSeconds = "candidate_seconds", candidatesTrained = "candidates_trained"
        case candidatesTrainedThisSession = "candidates_trained_this_session", runDirectory = "run_directory"
    }
}

/// `autoshrink train --json`, also written as `train.json` beside the checkpoint.
public struct TrainSummary: JSONSummary, Sendable, Equatable {
    public var testAccuracy: Double
    public var validationAccuracy: Double?
    public var trainImagesPerSecond: Double
    public var epochs: Int
    public var seconds: Double
    public var checkpoint: String
    public var architecture: String
    public var architectureHash: String
    public var parameters: Int
    /// `train --task lm` (docs/shrinkrnn.md): perplexities and training tokens per second; null for
    /// image classifiers. For a language model `test_accuracy` is next-word accuracy,
    /// `validation_accuracy` null and `train_images_per_second` 0.
    public var validPerplexity: Double?
    public var testPerplexity: Double?
    public var trainTokensPerSecond: Double?

    public init(testAccuracy: Double, validationAccuracy: Double?, trainImagesPerSecond: Double, epochs: Int, seconds: Double,
                checkpoint: String, architecture: String, architectureHash: String, parameters: Int,
                validPerplexity: Double? = nil, testPerplexity: Double? = nil, trainTokensPerSecond: Double? = nil) {
        self.testAccuracy = testAccuracy; self.validationAccuracy = validationAccuracy
        self.trainImagesPerSecond = trainImagesPerSecond; self.epochs = epochs; self.seconds = seconds
        self.checkpoint = checkpoint; self.architecture = architecture; self.architectureHash = architectureHash
        self.parameters = parameters
        self.validPerplexity = validPerplexity; self.testPerplexity = testPerplexity; self.trainTokensPerSecond = trainTokensPerSecond
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, seconds, checkpoint, architecture, parameters
        case testAccuracy = "test_accuracy", validationAccuracy = "validation_accuracy"
        case trainImagesPerSecond = "train_images_per_second", architectureHash = "architecture_hash"
        case validPerplexity = "valid_perplexity", testPerplexity = "test_perplexity", trainTokensPerSecond = "train_tokens_per_second"
    }
}

/// `autoshrink evaluate --json`.
public struct EvaluateSummary: JSONSummary, Sendable, Equatable {
    public var testAccuracy: Double
    public var testLoss: Double
    public var images: Int
    public var seconds: Double
    public var checkpoint: String
    /// `evaluate --task lm` (docs/shrinkrnn.md): test perplexity and predicted tokens; null for image
    /// classifiers. For a language model `test_accuracy` is next-word accuracy, `test_loss` nats per
    /// token and `images` 0.
    public var testPerplexity: Double?
    public var tokens: Int?

    public init(testAccuracy: Double, testLoss: Double, images: Int, seconds: Double, checkpoint: String,
                testPerplexity: Double? = nil, tokens: Int? = nil) {
        self.testAccuracy = testAccuracy; self.testLoss = testLoss; self.images = images; self.seconds = seconds
        self.checkpoint = checkpoint; self.testPerplexity = testPerplexity; self.tokens = tokens
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case images, seconds, checkpoint, tokens
        case testAccuracy = "test_accuracy", testLoss = "test_loss", testPerplexity = "test_perplexity"
    }
}

/// `autoshrink profile --json`.
public struct ProfileSummary: JSONSummary, Sendable, Equatable {
    public var profile: String
    public var device: String
    public var entries: Int
    public var networks: Int
    public var seconds: Double
    public var predictorWithin10Percent: Double?
    public var predictorMAPE: Double?
    public var tableScale: Double
    public var perLayerMilliseconds: Double
    public var interceptMilliseconds: Double
    public var peakRSSBytes: Int?
    public var medianSpread: Double?
    public var warnings: [String]
    /// The runtime kernels' hash.
    public var runtime: String

    public init(profile: String, device: String, entries: Int, networks: Int, seconds: Double, predictorWithin10Percent: Double?,
                predictorMAPE: Double?, tableScale: Double, perLayerMilliseconds: Double, interceptMilliseconds: Double,
                peakRSSBytes: Int?, medianSpread: Double?, warnings: [String], runtime: String) {
        self.profile = profile; self.device = device; self.entries = entries; self.networks = networks; self.seconds = seconds
        self.predictorWithin10Percent = predictorWithin10Percent; self.predictorMAPE = predictorMAPE
        self.tableScale = tableScale; self.perLayerMilliseconds = perLayerMilliseconds
        self.interceptMilliseconds = interceptMilliseconds; self.peakRSSBytes = peakRSSBytes
        self.medianSpread = medianSpread; self.warnings = warnings; self.runtime = runtime
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case profile, device, entries, networks, seconds, warnings, runtime
        case predictorWithin10Percent = "predictor_within_10pct", predictorMAPE = "predictor_mape"
        case tableScale = "table_scale", perLayerMilliseconds = "per_layer_ms", interceptMilliseconds = "intercept_ms"
        case peakRSSBytes = "peak_rss_bytes", medianSpread = "median_spread"
    }
}

/// `autoshrink predict --json`.
public struct PredictSummary: JSONSummary, Sendable, Equatable {
    public var architecture: String
    public var hash: String
    public var profile: String
    public var identity: String
    public var latencyMilliseconds: Double
    public var peakActivationBytes: Int
    public var weightBytes: Int
    public var macs: Int
    public var layers: Int
    public var interpolatedLayers: Int

    public init(architecture: String, hash: String, profile: String, identity: String, latencyMilliseconds: Double,
                peakActivationBytes: Int, weightBytes: Int, macs: Int, layers: Int, interpolatedLayers: Int) {
        self.architecture = architecture; self.hash = hash; self.profile = profile; self.identity = identity
        self.latencyMilliseconds = latencyMilliseconds; self.peakActivationBytes = peakActivationBytes
        self.weightBytes = weightBytes; self.macs = macs; self.layers = layers; self.interpolatedLayers = interpolatedLayers
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, hash, profile, identity, macs, layers
        case latencyMilliseconds = "latency_ms", peakActivationBytes = "peak_activation_bytes"
        case weightBytes = "weight_bytes", interpolatedLayers = "interpolated_layers"
    }
}

/// `autoshrink info --json`.
public struct InfoSummary: JSONSummary, Sendable, Equatable {
    public var architecture: String
    public var hash: String
    public var macs: Int
    public var params: Int
    public var weightBytesFloat32: Int
    public var weightBytesInt8: Int
    public var peakActivationBytesFloat32: Int
    public var peakActivationBytesInt8: Int

    public init(architecture: String, hash: String, macs: Int, params: Int, weightBytesFloat32: Int, weightBytesInt8: Int,
                peakActivationBytesFloat32: Int, peakActivationBytesInt8: Int) {
        self.architecture = architecture; self.hash = hash; self.macs = macs; self.params = params
        self.weightBytesFloat32 = weightBytesFloat32; self.weightBytesInt8 = weightBytesInt8
        self.peakActivationBytesFloat32 = peakActivationBytesFloat32; self.peakActivationBytesInt8 = peakActivationBytesInt8
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case architecture, hash, macs, params
        case weightBytesFloat32 = "weight_bytes_float32", weightBytesInt8 = "weight_bytes_int8"
        case peakActivationBytesFloat32 = "peak_activation_bytes_float32", peakActivationBytesInt8 = "peak_activation_bytes_int8"
    }
}

/// `autoshrink bench --json`.
public struct BenchSummary: JSONSummary, Sendable, Equatable {
    public var trainImagesPerSecond: Double
    public var inferImagesPerSecond: Double
    /// Images per CPU-second of the process: comparable on a busy machine with one thread.
    public var trainImagesPerCPUSecond: Double
    public var inferImagesPerCPUSecond: Double
    public var batchSize: Int
    public var threads: Int
    public var architecture: String
    public var blasCore: String

    public init(trainImagesPerSecond: Double, inferImagesPerSecond: Double, trainImagesPerCPUSecond: Double,
                inferImagesPerCPUSecond: Double, batchSize: Int, threads: Int, architecture: String, blasCore: String) {
        self.trainImagesPerSecond = trainImagesPerSecond; self.inferImagesPerSecond = inferImagesPerSecond
        self.trainImagesPerCPUSecond = trainImagesPerCPUSecond; self.inferImagesPerCPUSecond = inferImagesPerCPUSecond
        self.batchSize = batchSize; self.threads = threads; self.architecture = architecture; self.blasCore = blasCore
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case threads, architecture
        case trainImagesPerSecond = "train_images_per_second", inferImagesPerSecond = "infer_images_per_second"
        case trainImagesPerCPUSecond = "train_images_per_cpu_second", inferImagesPerCPUSecond = "infer_images_per_cpu_second"
        case batchSize = "batch_size", blasCore = "blas_core"
    }
}

/// `autoshrink report --json`.
public struct ReportSummary: JSONSummary, Sendable, Equatable {
    public var report: String
    public var candidates: Int

    public init(report: String, candidates: Int) { self.report = report; self.candidates = candidates }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable { case report, candidates }
}

/// `autoshrink deploy --json`: what the export's binary did on a device, beside the export's and the
/// profile's figures. `DeploymentReport` (AutoShrinkDeploy) carries it and reads its figures from it.
public struct DeploySummary: JSONSummary, Sendable, Equatable {
    public var device: String
    public var arch: DeviceArchitecture
    public var binary: String
    public var rebuilt: Bool
    public var precision: ModelPrecision
    public var images: Int
    public var accuracy: Double?
    public var exportAccuracy: Double?
    public var measuredLatencyMilliseconds: Double
    public var measuredLatencyP90Milliseconds: Double
    /// The bench's estimate (estimator.h: the profile's statistic; `measured_latency_ms` is the plain median).
    public var measuredLatencyEstimateMilliseconds: Double?
    /// The estimate at the profile's machine speed (speed probe, docs/devices.md "Shared cores"): what compares
    /// with `predicted_latency_ms`; nil without a profile with a speed probe.
    public var measuredLatencyNormalizedMilliseconds: Double?
    /// Whether that figure is over the bench's rounds at the profile's machine speed alone (the speed gate,
    /// docs/devices.md "Speed-gated bench"); nil without it.
    public var measuredLatencySpeedGated: Bool?
    public var benchRuns: Int
    public var simd: String
    public var emulated: Bool
    public var predictedLatencyMilliseconds: Double?
    public var predictionNote: String?
    public var peakRSSKiB: Int?
    public var arenaBytes: Int?

    public init(device: String, arch: DeviceArchitecture, binary: String, rebuilt: Bool, precision: ModelPrecision, images: Int,
                accuracy: Double?, exportAccuracy: Double?, measuredLatencyMilliseconds: Double,
                measuredLatencyP90Milliseconds: Double, measuredLatencyEstimateMilliseconds: Double? = nil,
                measuredLatencyNormalizedMilliseconds: Double? = nil, benchRuns: Int, simd: String, emulated: Bool,
                predictedLatencyMilliseconds: Double?, predictionNote: String?, peakRSSKiB: Int?, arenaBytes: Int?) {
        self.device = device; self.arch = arch; self.binary = binary; self.rebuilt = rebuilt; self.precision = precision
        self.images = images; self.accuracy = accuracy; self.exportAccuracy = exportAccuracy
        self.measuredLatencyMilliseconds = measuredLatencyMilliseconds
        self.measuredLatencyP90Milliseconds = measuredLatencyP90Milliseconds; self.benchRuns = benchRuns
        self.measuredLatencyEstimateMilliseconds = measuredLatencyEstimateMilliseconds
        self.measuredLatencyNormalizedMilliseconds = measuredLatencyNormalizedMilliseconds
        self.simd = simd; self.emulated = emulated; self.predictedLatencyMilliseconds = predictedLatencyMilliseconds
        self.predictionNote = predictionNote; self.peakRSSKiB = peakRSSKiB; self.arenaBytes = arenaBytes
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case device, arch, binary, rebuilt, precision, images, accuracy, simd, emulated
        case exportAccuracy = "export_accuracy", measuredLatencyMilliseconds = "measured_latency_ms"
        case measuredLatencyP90Milliseconds = "measured_latency_p90_ms", benchRuns = "bench_runs"
        case measuredLatencyEstimateMilliseconds = "measured_latency_estimate_ms"
        case measuredLatencyNormalizedMilliseconds = "measured_latency_normalized_ms"
        case measuredLatencySpeedGated = "measured_latency_speed_gated"
        case predictedLatencyMilliseconds = "predicted_latency_ms", predictionNote = "prediction_note"
        case peakRSSKiB = "peak_rss_kib", arenaBytes = "arena_bytes"
    }
}

/// `autoshrink quickstart --json`.
public struct QuickstartSummary: JSONSummary, Sendable, Equatable {
    public var report: String
    public var binary: String?
    public var int8Accuracy: Double?
    public var floatAccuracy: Double?
    public var measuredLatencyMilliseconds: Double?
    public var predictedLatencyMilliseconds: Double?
    public var seconds: Double
    public var bestArch: String
    public var checkpoint: String

    public init(report: String, binary: String?, int8Accuracy: Double?, floatAccuracy: Double?,
                measuredLatencyMilliseconds: Double?, predictedLatencyMilliseconds: Double?, seconds: Double,
                bestArch: String, checkpoint: String) {
        self.report = report; self.binary = binary; self.int8Accuracy = int8Accuracy; self.floatAccuracy = floatAccuracy
        self.measuredLatencyMilliseconds = measuredLatencyMilliseconds
        self.predictedLatencyMilliseconds = predictedLatencyMilliseconds; self.seconds = seconds
        self.bestArch = bestArch; self.checkpoint = checkpoint
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case report, binary, seconds, checkpoint
        case int8Accuracy = "int8_accuracy", floatAccuracy = "float_accuracy"
        case measuredLatencyMilliseconds = "measured_latency_ms", predictedLatencyMilliseconds = "predicted_latency_ms"
        case bestArch = "best_arch"
    }
}
