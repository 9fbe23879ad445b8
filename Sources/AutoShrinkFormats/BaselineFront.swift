import Foundation

/// `baselines.json` (format `autoshrink.baselines`, version 1): the hand-designed baseline front of a
/// device, written by `autoshrink baselines` and read by `autoshrink report` (docs/baselines.md).
/// Each entry is one baseline network (e.g. `refnet-w1.5`) trained with the learning rate chosen on a
/// validation split, exported to int8 C and measured on the device. Keys are snake case.
public struct BaselineFront: VersionedDocument, Codable, Sendable, Equatable {
    public static let formatName = "autoshrink.baselines"
    public static let currentVersion = 1
    public static let documentKind = "a baselines file"
    public static let versionLabel = "baselines"
    public static let versionHint = "; run autoshrink baselines again"

    /// How every entry was trained.
    public struct Recipe: Codable, Sendable, Equatable {
        /// Epochs of the final run on the training set (validation images held out).
        public var epochs: Int
        public var batchSize: Int
        public var optimizer: String
        public var schedule: String
        public var weightDecay: Double
        /// Learning rates tried; the one with the best validation accuracy after `searchEpochs`
        /// epochs on `searchTrainPerClass` images per class is used for the final run.
        public var learningRates: [Double]
        public var searchEpochs: Int
        public var searchTrainPerClass: Int
        public var validationPerClass: Int
        /// Images per class of the final run (nil: every training image left after the validation split).
        public var trainPerClass: Int?
        public var seed: UInt64

        public init(epochs: Int, batchSize: Int, optimizer: String, schedule: String, weightDecay: Double,
                    learningRates: [Double], searchEpochs: Int, searchTrainPerClass: Int, validationPerClass: Int,
                    trainPerClass: Int?, seed: UInt64) {
            self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer; self.schedule = schedule
            self.weightDecay = weightDecay; self.learningRates = learningRates; self.searchEpochs = searchEpochs
            self.searchTrainPerClass = searchTrainPerClass; self.validationPerClass = validationPerClass
            self.trainPerClass = trainPerClass; self.seed = seed
        }

        enum CodingKeys: String, CodingKey {
            case epochs, optimizer, schedule, seed
            case batchSize = "batch_size", weightDecay = "weight_decay", learningRates = "learning_rates"
            case searchEpochs = "search_epochs", searchTrainPerClass = "search_train_per_class"
            case validationPerClass = "validation_per_class", trainPerClass = "train_per_class"
        }
    }

    /// One learning rate tried for an entry and the validation accuracy it reached.
    public struct Trial: Codable, Sendable, Equatable {
        public var learningRate: Double
        /// Nil when the short run diverged.
        public var validationAccuracy: Double?
        public init(learningRate: Double, validationAccuracy: Double?) {
            self.learningRate = learningRate; self.validationAccuracy = validationAccuracy
        }
        enum CodingKeys: String, CodingKey {
            case learningRate = "lr", validationAccuracy = "validation_accuracy"
        }
    }

    /// One baseline network of the front.
    public struct Entry: Codable, Sendable, Equatable {
        public var name: String
        public var family: String
        public var width: Double
        public var architectureHash: String
        public var macs: Int
        public var parameters: Int
        public var weightBytesInt8: Int
        public var peakActivationBytesInt8: Int
        public var learningRate: Double
        public var trials: [Trial]
        /// Best validation accuracy of the final run (engine, float32).
        public var validationAccuracy: Double?
        /// Test accuracy of the trained network in the training engine (float32).
        public var engineTestAccuracy: Double
        /// Test accuracy of the exported float32 and int8 C programs (nil when not measured).
        public var floatTestAccuracy: Double?
        public var int8TestAccuracy: Double?
        /// The profile's predicted int8 latency (nil without `--profile`).
        public var predictedLatencyMilliseconds: Double?
        /// The int8 binary's bench on the device: estimate (falls back to the median of benches
        /// without an estimate) and its 95 % interval; nil with `--no-run`.
        public var latencyMilliseconds: Double?
        public var latencyCILowMilliseconds: Double?
        public var latencyCIHighMilliseconds: Double?
        public var latencyMedianMilliseconds: Double?
        /// Measured under qemu user-mode emulation (not a hardware figure).
        public var emulated: Bool
        /// The export folder relative to the baselines folder (`deploy/NAME`).
        public var export: String
        public var trainSeconds: Double

        public init(name: String, family: String, width: Double, architectureHash: String, macs: Int, parameters: Int,
                    weightBytesInt8: Int, peakActivationBytesInt8: Int, learningRate: Double, trials: [Trial],
                    validationAccuracy: Double?, engineTestAccuracy: Double, floatTestAccuracy: Double?,
                    int8TestAccuracy: Double?, predictedLatencyMilliseconds: Double?, latencyMilliseconds: Double?,
                    latencyCILowMilliseconds: Double?, latencyCIHighMilliseconds: Double?, latencyMedianMilliseconds: Double?,
                    emulated: Bool, export: String, trainSeconds: Double) {
            self.name = name; self.family = family; self.width = width; self.architectureHash = architectureHash
            self.macs = macs; self.parameters = parameters; self.weightBytesInt8 = weightBytesInt8
            self.peakActivationBytesInt8 = peakActivationBytesInt8; self.learningRate = learningRate; self.trials = trials
            self.validationAccuracy = validationAccuracy; self.engineTestAccuracy = engineTestAccuracy
            self.floatTestAccuracy = floatTestAccuracy; self.int8TestAccuracy = int8TestAccuracy
            self.predictedLatencyMilliseconds = predictedLatencyMilliseconds; self.latencyMilliseconds = latencyMilliseconds
            self.latencyCILowMilliseconds = latencyCILowMilliseconds; self.latencyCIHighMilliseconds = latencyCIHighMilliseconds
            self.latencyMedianMilliseconds = latencyMedianMilliseconds; self.emulated = emulated; self.export = export
            self.trainSeconds = trainSeconds
        }

        /// The accuracy the front is drawn with: int8 on the device, else the engine's float32.
        public var accuracy: Double { int8TestAccuracy ?? engineTestAccuracy }

        enum CodingKeys: String, CodingKey {
            case name, family, width, macs, parameters, trials, emulated, export
            case architectureHash = "architecture_hash", weightBytesInt8 = "weight_bytes_int8"
            case peakActivationBytesInt8 = "peak_activation_bytes_int8", learningRate = "lr"
            case validationAccuracy = "validation_accuracy", engineTestAccuracy = "engine_test_accuracy"
            case floatTestAccuracy = "float_test_accuracy", int8TestAccuracy = "int8_test_accuracy"
            case predictedLatencyMilliseconds = "predicted_latency_ms", latencyMilliseconds = "latency_ms"
            case latencyCILowMilliseconds = "latency_ci_low_ms", latencyCIHighMilliseconds = "latency_ci_high_ms"
            case latencyMedianMilliseconds = "latency_median_ms", trainSeconds = "train_seconds"
        }
    }

    public var format: String = BaselineFront.formatName
    public var version: Int = BaselineFront.currentVersion
    public var autoshrinkVersion: String
    public var dataset: String
    /// The device the exports were built and measured for (name and architecture).
    public var device: String
    public var deviceArchitecture: String
    /// The profile the predictions came from (nil without `--profile`).
    public var profile: String?
    public var recipe: Recipe
    public var entries: [Entry]
    public var seconds: Double

    public init(autoshrinkVersion: String, dataset: String, device: String, deviceArchitecture: String, profile: String?,
                recipe: Recipe, entries: [Entry], seconds: Double) {
        self.autoshrinkVersion = autoshrinkVersion; self.dataset = dataset; self.device = device
        self.deviceArchitecture = deviceArchitecture; self.profile = profile; self.recipe = recipe
        self.entries = entries; self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case format, version, dataset, device, profile, recipe, entries, seconds
        case autoshrinkVersion = "autoshrink_version", deviceArchitecture = "device_architecture"
    }

    /// Loads and validates `path`.
    public static func load(path: String) throws -> BaselineFront { try loadDocument(path: path) }

    /// Accuracies in [0, 1], latencies and sizes non-negative and finite, names unique.
    public func validate(source: String) throws {
        func fail(_ message: String) -> DocumentError { DocumentError("\(source): \(message)") }
        var seen = Set<String>()
        for (index, entry) in entries.enumerated() {
            let key = "entries[\(index)]"
            guard !entry.name.isEmpty, seen.insert(entry.name).inserted else { throw fail("\(key).name '\(entry.name)' is empty or repeated") }
            for (label, value) in [("engine_test_accuracy", entry.engineTestAccuracy), ("float_test_accuracy", entry.floatTestAccuracy),
                                   ("int8_test_accuracy", entry.int8TestAccuracy), ("validation_accuracy", entry.validationAccuracy)] {
                if let value, !(0...1).contains(value) { throw fail("\(key).\(label) \(value) is not in [0, 1]") }
            }
            for (label, value) in [("latency_ms", entry.latencyMilliseconds), ("latency_ci_low_ms", entry.latencyCILowMilliseconds),
                                   ("latency_ci_high_ms", entry.latencyCIHighMilliseconds),
                                   ("latency_median_ms", entry.latencyMedianMilliseconds),
                                   ("predicted_latency_ms", entry.predictedLatencyMilliseconds), ("width", entry.width),
                                   ("lr", entry.learningRate)] {
                if let value, !(value.isFinite && value >= 0) { throw fail("\(key).\(label) \(value) is not a finite non-negative number") }
            }
            guard entry.macs >= 0, entry.parameters >= 0, entry.weightBytesInt8 >= 0, entry.peakActivationBytesInt8 >= 0 else {
                throw fail("\(key): sizes must not be negative")
            }
        }
    }
}

/// `autoshrink baselines --json`: where the front was written and its entries in brief.
public struct BaselinesSummary: JSONSummary, Sendable, Equatable {
    public struct Point: Codable, Sendable, Equatable {
        public var name: String
        public var accuracy: Double
        public var latencyMilliseconds: Double?
        public init(name: String, accuracy: Double, latencyMilliseconds: Double?) {
            self.name = name; self.accuracy = accuracy; self.latencyMilliseconds = latencyMilliseconds
        }
        enum CodingKeys: String, CodingKey { case name, accuracy, latencyMilliseconds = "latency_ms" }
    }
    public var file: String
    public var device: String
    public var entries: [Point]
    public var seconds: Double

    public init(file: String, device: String, entries: [Point], seconds: Double) {
        self.file = file; self.device = device; self.entries = entries; self.seconds = seconds
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable { case file, device, entries, seconds }
}
