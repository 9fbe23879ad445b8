import AutoShrinkModel
import Foundation

/// A measured device profile as stored in `profiles/<device>.json` (format `autoshrink.profile`, version 3:
/// int8 networks run the adds `AddFusion` picks inside their pointwise convolutions and the table has
/// `pointwise_add` rows for them; version 2 added concat parts, `part_channels` and `part_requantized`;
/// earlier versions are refused with "re-run autoshrink profile", as their networks ran those layers otherwise):
/// the device, the runtime kernels' hash, the environment, the per-operator latency table, the
/// whole-network measurements and the fitted latency predictor with its held-out accuracy.
public struct DeviceProfile: Codable, Sendable, VersionedDocument {
    public static let formatName = "autoshrink.profile"
    public static let currentVersion = 3
    public static let documentKind = "a device profile"
    public static let versionLabel = "profile"
    public static let versionHint = "; re-run autoshrink profile"
    public static func documentError(_ message: String) -> any Error { ProfileError(message) }

    public var format: String
    public var version: Int
    public var device: ProfileDevice
    public var runtime: ProfileRuntime
    public var environment: DeviceEnvironment
    public var space: ProfileSpaceSummary
    public var measurement: ProfileMeasurementSettings
    /// The per-operator table, sorted by dtype, kind and shape.
    public var entries: [ProfileEntry]
    public var networks: [NetworkMeasurement]
    public var predictor: PredictorSummary
    public var harness: HarnessSummary
    /// Problems noticed while measuring (governor, noisy timings, heat), for humans.
    public var warnings: [String]
    public var notes: String
    /// ISO 8601 time the measurement finished.
    public var created: String
    /// Wall-clock seconds the profile took.
    public var seconds: Double
    /// The language-model kernels per token (docs/devices.md, "Recurrent operators"); nil in profiles made
    /// before them or with `profile --no-recurrent` (language-model latency requests then fail with one line).
    public var recurrent: RecurrentProfile? = nil
    /// The speed probe measured beside every round (docs/devices.md, "Shared cores"): its full-speed time,
    /// which an export's bench normalizes its rounds to (`model --bench --probe-ref-ms`); nil in profiles
    /// made before it (readers then use the raw bench estimate). An optional addition: no version change.
    public var speedProbe: ProfileSpeedProbe? = nil

    /// The speed probe's full-speed time in milliseconds (`speed_probe.ms`), nil without one.
    public var speedProbeMilliseconds: Double? { speedProbe?.milliseconds }

    enum CodingKeys: String, CodingKey {
        case format, version, device, runtime, environment, space, measurement, entries, networks, predictor, harness
        case warnings, notes, created, seconds, recurrent
        case speedProbe = "speed_probe"
    }

    public init(device: ProfileDevice, runtime: ProfileRuntime, environment: DeviceEnvironment, space: ProfileSpaceSummary,
                measurement: ProfileMeasurementSettings, entries: [ProfileEntry], networks: [NetworkMeasurement],
                predictor: PredictorSummary, harness: HarnessSummary, warnings: [String] = [], notes: String = "",
                created: String, seconds: Double) {
        self.format = DeviceProfile.formatName
        self.version = DeviceProfile.currentVersion
        self.device = device; self.runtime = runtime; self.environment = environment; self.space = space
        self.measurement = measurement; self.entries = entries; self.networks = networks; self.predictor = predictor
        self.harness = harness; self.warnings = warnings; self.notes = notes; self.created = created; self.seconds = seconds
    }
}

/// The speed probe of a profile (Sources/CHarness/common/speed_probe.h): measured once right after every
/// item's samples in every round, so the harness's rounds have the machine's speed of their moment beside
/// them (docs/devices.md, "Shared cores").
public struct ProfileSpeedProbe: Codable, Equatable, Sendable {
    /// The probe's full-speed time: the 10th percentile of all its measurements (estimator.h's rule).
    public var milliseconds: Double
    /// Its 90th percentile (the slow spells' speed, when there were any) and how many measurements.
    public var p90Milliseconds: Double
    public var measurements: Int
    /// Whether the table and network timings are normalized by the probe (each item's estimate over its
    /// probes' estimate, times `milliseconds`) rather than estimator.h's raw estimate.
    public var normalizedTimings: Bool
    /// The held-out figure of the predictor fitted on raw and on normalized timings (share within +-10 %,
    /// MAPE in percent), so each profile says what the normalization did; nil when not computed.
    public var heldoutWithin10PercentRaw: Double?
    public var heldoutMAPERaw: Double?
    public var heldoutWithin10PercentNormalized: Double?
    public var heldoutMAPENormalized: Double?

    public init(milliseconds: Double, p90Milliseconds: Double, measurements: Int, normalizedTimings: Bool) {
        self.milliseconds = milliseconds; self.p90Milliseconds = p90Milliseconds
        self.measurements = measurements; self.normalizedTimings = normalizedTimings
    }

    enum CodingKeys: String, CodingKey {
        case milliseconds = "ms", p90Milliseconds = "p90_ms", measurements
        case normalizedTimings = "normalized_timings"
        case heldoutWithin10PercentRaw = "heldout_within_10pct_raw", heldoutMAPERaw = "heldout_mape_raw"
        case heldoutWithin10PercentNormalized = "heldout_within_10pct_normalized", heldoutMAPENormalized = "heldout_mape_normalized"
    }
}

/// The measured device: its name and the description it was measured with.
public struct ProfileDevice: Codable, Equatable, Sendable {
    public var name: String
    public var description: DeviceDescription

    public init(name: String, description: DeviceDescription) {
        self.name = name
        self.description = description
    }
}

/// The kernels that were measured: `RuntimeSources.hash` and the SIMD path the harness was built with.
public struct ProfileRuntime: Codable, Equatable, Sendable {
    public var hash: String
    public var simdPath: String?

    public init(hash: String, simdPath: String?) {
        self.hash = hash
        self.simdPath = simdPath
    }

    enum CodingKeys: String, CodingKey {
        case hash
        case simdPath = "simd_path"
    }
}

/// How the timings were taken.
public struct ProfileMeasurementSettings: Codable, Equatable, Sendable {
    /// Samples per operator and per network in the first pass (rounds x samples per round).
    public var repeats: Int
    /// Rounds the samples were taken in (each round samples every item a few times, all items
    /// interleaved; the estimate is the 10th percentile of the per-round medians, estimator.h).
    public var rounds: Int
    /// Minimum duration of one sample (small operators run several times per sample).
    public var sampleMicroseconds: Double
    /// The outlier rule, in words.
    public var outlierRule: String

    public init(repeats: Int, rounds: Int, sampleMicroseconds: Double, outlierRule: String) {
        self.repeats = repeats
        self.rounds = rounds
        self.sampleMicroseconds = sampleMicroseconds
        self.outlierRule = outlierRule
    }

    enum CodingKeys: String, CodingKey {
        case repeats, rounds
        case sampleMicroseconds = "sample_us"
        case outlierRule = "outlier_rule"
    }
}

/// One row of the per-operator table (times per call, microseconds).
public struct ProfileEntry: Codable, Equatable, Sendable {
    public var op: OperatorKind
    public var dtype: OperatorDataType
    public var inputChannels: Int
    public var outputChannels: Int
    public var height: Int
    public var width: Int
    public var stride: Int
    public var kernel: Int
    /// Input tensors (concat parts, 2 for add, else 1).
    public var inputs: Int
    public var medianMicroseconds: Double
    public var p10Microseconds: Double
    public var p90Microseconds: Double
    /// Samples kept after outlier rejection.
    public var repetitions: Int
    /// Calls per sample.
    public var batch: Int
    /// The estimate's 95 % interval and the rounds it came from (estimator.h; nil in profiles made before).
    public var ciLowMicroseconds: Double?
    public var ciHighMicroseconds: Double?
    public var rounds: Int?
    /// Concat rows: each part's channels, and whether it is requantized (else copied as it is);
    /// nil for the other kinds.
    public var partChannels: [Int]?
    public var partRequantized: [Bool]?

    public init(configuration: OperatorConfiguration, medianMicroseconds: Double, p10Microseconds: Double,
                p90Microseconds: Double, repetitions: Int, batch: Int, ciLowMicroseconds: Double? = nil,
                ciHighMicroseconds: Double? = nil, rounds: Int? = nil) {
        self.ciLowMicroseconds = ciLowMicroseconds; self.ciHighMicroseconds = ciHighMicroseconds; self.rounds = rounds
        op = configuration.kind; dtype = configuration.dtype
        inputChannels = configuration.inputChannels; outputChannels = configuration.outputChannels
        height = configuration.height; width = configuration.width
        stride = configuration.stride; kernel = configuration.kernel; inputs = configuration.inputs
        if configuration.kind == .concat {
            partChannels = configuration.parts.map(\.channels)
            partRequantized = configuration.parts.map(\.requantized)
        }
        self.medianMicroseconds = medianMicroseconds; self.p10Microseconds = p10Microseconds
        self.p90Microseconds = p90Microseconds; self.repetitions = repetitions; self.batch = batch
    }

    public var configuration: OperatorConfiguration {
        var parts: [ConcatPart]?
        if op == .concat, let partChannels, let partRequantized, partChannels.count == partRequantized.count {
            parts = zip(partChannels, partRequantized).map { ConcatPart(channels: $0, requantized: $1) }
        }
        return OperatorConfiguration(kind: op, dtype: dtype, inputChannels: inputChannels, outputChannels: outputChannels,
                                     height: height, width: width, stride: stride, kernel: kernel, inputs: inputs, parts: parts)
    }

    enum CodingKeys: String, CodingKey {
        case op, dtype
        case inputChannels = "in_channels"
        case outputChannels = "out_channels"
        case height, width, stride, kernel, inputs
        case medianMicroseconds = "median_us"
        case p10Microseconds = "p10_us"
        case p90Microseconds = "p90_us"
        case repetitions, batch, rounds
        case ciLowMicroseconds = "ci_low_us"
        case ciHighMicroseconds = "ci_high_us"
        case partChannels = "part_channels"
        case partRequantized = "part_requantized"
    }
}

/// One whole network timed end to end on the device, next to what the predictor says.
public struct NetworkMeasurement: Codable, Equatable, Sendable {
    public var name: String
    /// `fit` (used to fit the calibration) or `heldout` (used to judge it).
    public var role: String
    /// Live cell edges (nil for sequential networks such as refnet).
    public var edges: Int?
    /// Layers that run a kernel.
    public var layers: Int
    public var macs: Int
    /// Sum of the table's int8 medians over the layers.
    public var tableSumMilliseconds: Double
    public var measuredMilliseconds: Double
    public var p10Milliseconds: Double
    public var p90Milliseconds: Double
    public var predictedMilliseconds: Double
    /// FNV-1a of the int8 output bytes (identical on every architecture for the same network and seed).
    public var outputChecksum: String
    /// The measurement's 95 % interval (estimator.h; nil in profiles made before).
    public var ciLowMilliseconds: Double?
    public var ciHighMilliseconds: Double?
    /// The network's `LatencyFeature` values by raw value (nil in profiles made before the latency model).
    public var features: [String: Double]? = nil

    /// (predicted - measured) / measured.
    public var relativeError: Double { (predictedMilliseconds - measuredMilliseconds) / measuredMilliseconds }

    enum CodingKeys: String, CodingKey {
        case name, role, edges, layers, macs
        case tableSumMilliseconds = "table_sum_ms"
        case measuredMilliseconds = "measured_ms"
        case p10Milliseconds = "p10_ms"
        case p90Milliseconds = "p90_ms"
        case predictedMilliseconds = "predicted_ms"
        case outputChecksum = "output_checksum"
        case ciLowMilliseconds = "ci_low_ms"
        case ciHighMilliseconds = "ci_high_ms"
        case features
    }
}

/// The calibration on top of the table sum: latency = tableScale * table_sum + perLayer * layers + intercept.
public struct LatencyCalibration: Codable, Equatable, Sendable {
    public var tableScale: Double
    public var perLayerMilliseconds: Double
    public var interceptMilliseconds: Double

    public init(tableScale: Double, perLayerMilliseconds: Double, interceptMilliseconds: Double) {
        self.tableScale = tableScale
        self.perLayerMilliseconds = perLayerMilliseconds
        self.interceptMilliseconds = interceptMilliseconds
    }

    /// The plain table sum (no calibration).
    public static let identity = LatencyCalibration(tableScale: 1, perLayerMilliseconds: 0, interceptMilliseconds: 0)

    /// Calibrated latency from the table sum (ms) and the number of kernel layers; never below 0.
    public func latency(tableSumMilliseconds: Double, layers: Int) -> Double {
        max(0, tableScale * tableSumMilliseconds + perLayerMilliseconds * Double(layers) + interceptMilliseconds)
    }

    enum CodingKeys: String, CodingKey {
        case tableScale = "table_scale"
        case perLayerMilliseconds = "per_layer_ms"
        case interceptMilliseconds = "intercept_ms"
    }
}

/// The fitted predictor and how well it did on networks it was not fitted on.
public struct PredictorSummary: Codable, Equatable, Sendable {
    /// The model in words.
    public var model: String
    /// Data type of the table the predictor sums (int8, what ships).
    public var dtype: OperatorDataType
    public var calibration: LatencyCalibration
    /// How the calibration was obtained (`weighted least squares`, or a fallback when too few networks).
    public var method: String
    public var fitNetworks: Int
    public var heldoutNetworks: Int
    /// Share of held-out networks predicted within +-10 % (0...1); nil without held-out networks.
    public var heldoutWithin10Percent: Double?
    /// Mean absolute percentage error on the held-out networks (percent).
    public var heldoutMAPE: Double?
    /// Largest absolute relative error on the held-out networks (percent).
    public var heldoutMaxError: Double?
    /// The same two figures for the uncalibrated table sum, for comparison.
    public var tableSumWithin10Percent: Double?
    public var tableSumMAPE: Double?
    /// The network model chosen by cross-validation (`LatencyModel`); when present it, not `calibration`,
    /// predicts. Nil in profiles made before it: those predict with `calibration` and interpolate by work.
    public var latencyModel: LatencyModel?
    /// Per-(kind, dtype) cost models for shapes the table lacks (`OperatorCostModel`); nil as above.
    public var costModels: [OperatorCostModel]?
    /// Held-out figures of the `calibration` model alone, for comparison with `latencyModel`.
    public var calibrationWithin10Percent: Double?
    public var calibrationMAPE: Double?

    public init(model: String, dtype: OperatorDataType, calibration: LatencyCalibration, method: String, fitNetworks: Int,
                heldoutNetworks: Int, heldoutWithin10Percent: Double? = nil, heldoutMAPE: Double? = nil,
                heldoutMaxError: Double? = nil, tableSumWithin10Percent: Double? = nil, tableSumMAPE: Double? = nil) {
        self.model = model; self.dtype = dtype; self.calibration = calibration; self.method = method
        self.fitNetworks = fitNetworks; self.heldoutNetworks = heldoutNetworks
        self.heldoutWithin10Percent = heldoutWithin10Percent; self.heldoutMAPE = heldoutMAPE; self.heldoutMaxError = heldoutMaxError
        self.tableSumWithin10Percent = tableSumWithin10Percent; self.tableSumMAPE = tableSumMAPE
    }

    enum CodingKeys: String, CodingKey {
        case model, dtype, calibration, method
        case fitNetworks = "fit_networks"
        case heldoutNetworks = "heldout_networks"
        case heldoutWithin10Percent = "heldout_within_10pct"
        case heldoutMAPE = "heldout_mape"
        case heldoutMaxError = "heldout_max_error_pct"
        case tableSumWithin10Percent = "table_sum_within_10pct"
        case tableSumMAPE = "table_sum_mape"
        case latencyModel = "latency_model"
        case costModels = "cost_models"
        case calibrationWithin10Percent = "calibration_within_10pct"
        case calibrationMAPE = "calibration_mape"
    }
}

/// About the harness process itself.
public struct HarnessSummary: Codable, Equatable, Sendable {
    /// Largest peak resident set of any harness run (ru_maxrss), bytes. Under qemu it includes the emulator.
    public var peakRSSBytes: Int?
    /// Harness runs (one per chunk of operators or networks).
    public var runs: Int
    /// Median p90/p10 of the operators above `Profiler.noiseFloorMicroseconds` (1.0 = perfectly steady).
    public var medianSpread: Double?
    /// How noisy the machine was, per phase (operators, networks); nil in profiles made before.
    public var noise: [ProfileNoise]?
    /// Cores the harness runs were pinned to, and runs that were not pinned.
    public var cores: [Int]?
    public var unpinnedRuns: Int?

    public init(peakRSSBytes: Int?, runs: Int, medianSpread: Double? = nil, noise: [ProfileNoise]? = nil, cores: [Int]? = nil,
                unpinnedRuns: Int? = nil) {
        self.peakRSSBytes = peakRSSBytes
        self.runs = runs
        self.medianSpread = medianSpread
        self.noise = noise; self.cores = cores; self.unpinnedRuns = unpinnedRuns
    }

    enum CodingKeys: String, CodingKey {
        case peakRSSBytes = "peak_rss_bytes"
        case runs, noise, cores
        case medianSpread = "median_spread"
        case unpinnedRuns = "unpinned_runs"
    }
}

/// How noisy one measuring phase was: the estimates' interval widths (relative to the estimate) after
/// the first pass and at the end, and how many items were measured again.
public struct ProfileNoise: Codable, Equatable, Sendable {
    public var phase: String
    public var items: Int
    /// Median of (ci_high - ci_low) / estimate over the items, after the first pass and at the end.
    public var medianCIWidthFirstPass: Double
    public var medianCIWidth: Double
    /// Items whose interval reached beyond +-5 % after the first pass; measured again; still beyond at the end.
    public var wideAfterFirstPass: Int
    public var remeasured: Int
    public var stillWide: Int
    public var firstPassSeconds: Double
    public var remeasureSeconds: Double

    public init(phase: String, items: Int, medianCIWidthFirstPass: Double, medianCIWidth: Double, wideAfterFirstPass: Int,
                remeasured: Int, stillWide: Int, firstPassSeconds: Double, remeasureSeconds: Double) {
        self.phase = phase; self.items = items; self.medianCIWidthFirstPass = medianCIWidthFirstPass
        self.medianCIWidth = medianCIWidth; self.wideAfterFirstPass = wideAfterFirstPass; self.remeasured = remeasured
        self.stillWide = stillWide; self.firstPassSeconds = firstPassSeconds; self.remeasureSeconds = remeasureSeconds
    }

    enum CodingKeys: String, CodingKey {
        case phase, items, remeasured
        case medianCIWidthFirstPass = "median_ci_width_first_pass"
        case medianCIWidth = "median_ci_width"
        case wideAfterFirstPass = "wide_after_first_pass"
        case stillWide = "still_wide"
        case firstPassSeconds = "first_pass_seconds"
        case remeasureSeconds = "remeasure_seconds"
    }
}

// MARK: - Errors

/// A profiling or profile-file problem; `description` is one line. Profiling steps read
/// "device <name>: <step>: <reason>", file problems "<path>: <reason>".
public struct ProfileError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }

    public init(device: String, step: String, reason: String) {
        description = "device \(device): \(step): \(reason)"
    }

    public var errorDescription: String? { description }

    /// `error` as a one-line profiling error of `step`: runner errors already name the device and
    /// their step and pass through; toolchain errors get the step inserted after the device.
    static func wrapping(_ error: Error, device: String, step: String) -> Error {
        switch error {
        case is DeviceRunnerError, is ProfileError:
            return error
        case let toolchain as ToolchainError:
            let prefix = "device \(device): "
            let text = toolchain.description
            return ProfileError(device: device, step: step, reason: text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text)
        default:
            return ProfileError(device: device, step: step, reason: FileProblem.reason(error))
        }
    }
}

// MARK: - Reading and writing

extension DeviceProfile {
    /// Reads and checks a profile file (format, version, structure, values) through the shared
    /// `VersionedDocument` path. Does not check the runtime hash: `ProfileLatencyPredictor.load`
    /// refuses stale profiles.
    public static func load(path: String) throws -> DeviceProfile {
        try loadDocument(path: path)
    }

    /// Decodes profile JSON; `source` names the file in errors.
    public static func decode(_ data: Data, source: String) throws -> DeviceProfile {
        try decodeDocument(data, source: source)
    }

    /// Value checks the decoder cannot do.
    public func validate(source: String) throws {
        func fail(_ problem: String) -> ProfileError { ProfileError("\(source): malformed profile (\(problem))") }
        guard !entries.isEmpty else { throw fail("no operator entries") }
        for (index, entry) in entries.enumerated() {
            let values = [entry.medianMicroseconds, entry.p10Microseconds, entry.p90Microseconds]
            guard values.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw fail("entries[\(index)]: times must be finite and >= 0") }
            guard [entry.inputChannels, entry.outputChannels, entry.height, entry.width, entry.stride, entry.kernel, entry.inputs]
                .allSatisfy({ $0 >= 1 }) else { throw fail("entries[\(index)]: shapes must be positive") }
            // Bounded like architectures (InputLimits), so the predictor's work figures cannot overflow.
            guard entry.inputChannels <= InputLimits.maximumChannels, entry.outputChannels <= InputLimits.maximumChannels,
                  entry.height <= InputLimits.maximumImageSide, entry.width <= InputLimits.maximumImageSide,
                  entry.stride <= 16, entry.kernel <= 16, entry.inputs <= 1024 else {
                throw fail("entries[\(index)]: shape above the limits (channels \(InputLimits.maximumChannels), sides \(InputLimits.maximumImageSide), kernel and stride 16, inputs 1024)")
            }
            if entry.op == .concat {
                guard let channels = entry.partChannels, let requantized = entry.partRequantized else {
                    throw fail("entries[\(index)]: a concat row needs part_channels and part_requantized")
                }
                guard channels.count == entry.inputs, requantized.count == entry.inputs, channels.allSatisfy({ $0 >= 1 }),
                      channels.reduce(0, +) == entry.outputChannels else {
                    throw fail("entries[\(index)]: part_channels must be \(entry.inputs) positive counts summing to \(entry.outputChannels), with as many part_requantized")
                }
            } else if entry.partChannels != nil || entry.partRequantized != nil {
                throw fail("entries[\(index)]: only concat rows have parts")
            }
        }
        let calibration = predictor.calibration
        guard [calibration.tableScale, calibration.perLayerMilliseconds, calibration.interceptMilliseconds].allSatisfy(\.isFinite) else {
            throw fail("predictor.calibration: coefficients must be finite")
        }
        try validateFit(source: source)
        try recurrent?.validate(fail: fail)
        if let speedProbe {
            guard speedProbe.milliseconds.isFinite, speedProbe.milliseconds > 0, speedProbe.milliseconds < 1000,
                  speedProbe.p90Milliseconds.isFinite, speedProbe.p90Milliseconds >= speedProbe.milliseconds,
                  speedProbe.measurements >= 1 else {
                throw fail("speed_probe: ms must be positive and below 1000, p90_ms at least ms, measurements at least 1")
            }
        }
    }

    /// The profile as JSON text: objects with sorted keys, one table row per line.
    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try! encoder.encode(self)
        let object = try! JSONSerialization.jsonObject(with: data)
        return CompactJSON.render(object) + "\n"
    }

    /// Writes the profile atomically (temporary file renamed into place), creating the directory;
    /// an earlier file at `path` stays as it was when anything fails.
    public func write(to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        } catch {
            throw ProfileError("\(path): cannot create the directory \(directory) (\(FileProblem.reason(error)))")
        }
        try AtomicFile.write(jsonText(), to: path)
    }
}

/// JSON text that stays readable and diffable for large tables: objects one key per line with sorted
/// keys, but an array whose elements are flat objects or scalars prints one element per line.
enum CompactJSON {
    static func render(_ value: Any, indent: String = "") -> String {
        let inner = indent + "  "
        if let dictionary = value as? [String: Any] {
            if dictionary.isEmpty { return "{}" }
            let lines = dictionary.keys.sorted().map { key in "\(inner)\(scalar(key)): \(render(dictionary[key]!, indent: inner))" }
            return "{\n" + lines.joined(separator: ",\n") + "\n\(indent)}"
        }
        if let array = value as? [Any] {
            if array.isEmpty { return "[]" }
            if array.allSatisfy(isFlat) {
                return "[\n" + array.map { inner + flat($0) }.joined(separator: ",\n") + "\n\(indent)]"
            }
            return "[\n" + array.map { inner + render($0, indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        }
        return scalar(value)
    }

    private static func isFlat(_ value: Any) -> Bool {
        if let dictionary = value as? [String: Any] {
            // Scalars, or short lists of scalars (a concat row's parts).
            return dictionary.values.allSatisfy { value in
                if value is [String: Any] { return false }
                if let list = value as? [Any] { return list.allSatisfy { !($0 is [String: Any]) && !($0 is [Any]) } }
                return true
            }
        }
        return !(value is [Any])
    }

    private static func flat(_ value: Any) -> String {
        if let dictionary = value as? [String: Any] {
            return "{" + dictionary.keys.sorted().map { "\(scalar($0)): \(scalar(dictionary[$0]!))" }.joined(separator: ", ") + "}"
        }
        return scalar(value)
    }

    private static func scalar(_ value: Any) -> String {
        let data = try! JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

extension DeviceProfile {
    /// The speed-probe time an export's bench normalizes to (`model --bench --probe-ref-ms`, docs/devices.md
    /// "Shared cores") from the profile at `path`: nil with a note when there is none to use (no file, a
    /// profile without `speed_probe`, or one measured with other C sources, whose probe is another
    /// workload). `required`: the user named the file, so a missing or unreadable one is an error.
    public static func speedProbeReference(path: String, required: Bool) throws -> (milliseconds: Double?, note: String) {
        guard FileManager.default.fileExists(atPath: path) else {
            if required { throw ProfileError("\(path): no such profile") }
            return (nil, "no profile \(path): latency not normalized to a profile's machine speed")
        }
        let profile: DeviceProfile
        do {
            profile = try DeviceProfile.load(path: path)
        } catch {
            if required { throw error }
            return (nil, "\(path) unreadable (\(FileProblem.reason(error))): latency not normalized")
        }
        guard let milliseconds = profile.speedProbeMilliseconds else {
            return (nil, "\(path) has no speed probe (made before it): latency not normalized; re-run autoshrink profile")
        }
        guard profile.runtime.hash == RuntimeSources.hash else {
            return (nil, "\(path) was measured with other C sources (its speed probe is another workload): latency not normalized; re-run autoshrink profile")
        }
        return (milliseconds, String(format: "normalized to the speed probe of %@ (%.4f ms)", path, milliseconds))
    }
}
