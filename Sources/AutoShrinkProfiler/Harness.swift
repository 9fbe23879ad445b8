import AutoShrinkModel
import Foundation

// The Swift side of the C harness (HarnessSource.swift): plan text for operators and lowered networks,
// building it for a device from the embedded runtime sources, running it through a runner and
// reading its output back.

/// One `network ... end` block of a harness plan: a network of runtime kernels with a data type and a
/// seed for its random weights and inputs. An operator of the latency table is a network of one layer.
public struct HarnessNetwork: Sendable, Equatable {
    public var name: String
    public var dtype: OperatorDataType
    public var seed: UInt64
    /// The `tensor` and layer lines between `network` and `end`.
    public var body: [String]

    /// The block as the harness reads it.
    public var planText: String {
        (["network \(name) \(dtype.harnessName) \(seed)"] + body + ["end"]).joined(separator: "\n") + "\n"
    }

    /// One operator as a one-layer network: input tensor(s), output tensor, the layer.
    public init(operator configuration: OperatorConfiguration, name: String, seed: UInt64) {
        self.name = name
        self.dtype = configuration.dtype
        self.seed = seed
        let c = configuration
        let input = "tensor \(c.inputChannels) \(c.height) \(c.width)"
        let output = "tensor \(c.outputChannels) \(c.outputHeight) \(c.outputWidth)"
        switch c.kind {
        case .convolution:
            body = [input, output, "conv 1 0 \(c.kernel) \(c.stride) 1"]
        case .pointwise:
            body = [input, output, "pointwise 1 0 \(c.stride) 1"]
        case .pointwiseAdd:
            // tensors: input, the convolution's value (never stored), the add's other input, the output
            body = [input, output, output, output, "pointwise_add 3 0 \(c.stride) 1 1 2"]
        case .depthwise:
            body = [input, output, "depthwise 1 0 \(c.stride) 1"]
        case .maxPool:
            body = [input, output, "maxpool 1 0"]
        case .globalAveragePool:
            body = [input, output, "gap 1 0"]
        case .linear:
            body = ["tensor \(c.inputChannels) 1 1", "tensor \(c.outputChannels) 1 1", "linear 1 0"]
        case .add:
            body = [input, input, input, "add 2 0 1"]
        case .concat:
            // The row's parts (channels; requantized or copied as they are: the flags after the inputs).
            let parts = c.parts.count
            body = c.parts.map { "tensor \($0.channels) \(c.height) \(c.width)" } + [output,
                   "concat \(parts) \(parts) " + (0..<parts).map(String.init).joined(separator: " ") + " "
                   + c.parts.map { $0.requantized ? "1" : "0" }.joined(separator: " ")]
        }
    }

    /// A lowered network, layer by layer in execution order, laid out as an export lays it out
    /// (`ActivationLayout.exported`): a tensor placed in another's buffer (a concat input written into
    /// its slice, a concat whose inputs already lie side by side, an add over its dying input, dropout)
    /// is a `slice` line, and the harness copies only the concat inputs that are not in place. The
    /// buffers sit in one arena at the offsets the export's default planner gives them (`arena`, `at`
    /// lines), so the network reuses memory as an export does. Dropout (the identity in inference)
    /// runs no kernel.
    public init(graph: LayerGraph, name: String, dtype: OperatorDataType, seed: UInt64) throws {
        self.name = name
        self.dtype = dtype
        self.seed = seed
        // int8 networks run the adds AddFusion picks inside their pointwise convolutions, as an int8 export does
        let layout = dtype == .int8 ? ActivationLayout.exported(graph) : ActivationLayout.optimized(graph: graph, planner: GreedyBySizePlanner())
        var lines = graph.tensors.map { "tensor \($0.channels) \($0.height) \($0.width)" }
        let plan = GreedyBySizePlanner().plan(layout.bufferRequests(bytesPerElement: dtype.elementBytes), alignment: 16)
        if plan.arenaBytes > 0 {
            lines.append("arena \(plan.arenaBytes)")
            for (buffer, offset) in zip(layout.buffers, plan.offsets) { lines.append("at \(buffer) \(offset)") }
        }
        for (tensor, placement) in layout.placements.enumerated() {
            switch placement {
            case .buffer, .fused: break
            case .slice(let parent, let channelOffset): lines.append("slice \(tensor) \(parent) \(channelOffset)")
            case .inPlace(let parent): lines.append("slice \(tensor) \(parent) 0")
            }
        }
        // An int8 export's bench converts the uint8 image into the input before the layers
        // (model_set_input): whole networks time that step too, so the fit carries it (docs/devices.md).
        if dtype == .int8 { lines.append("image") }
        let groups = QuantizationGroups(graph: graph, layout: layout)
        for (step, layer) in graph.layers.enumerated() {
            let output = layer.output
            let inputs = layer.inputs
            if layout.fusion.isFusedConvolution(step: step) { continue }  // runs in the next step's pointwise_add
            if let pair = layout.fusion.pair(add: step) {
                let convolution = graph.layers[pair.convolution]
                guard case .convolution(let spec) = convolution.operation else { preconditionFailure("AddFusion pairs a convolution") }
                lines.append("pointwise_add \(output) \(convolution.inputs[0]) \(spec.stride) \(spec.activation == .none ? 0 : 1) \(convolution.output) \(pair.other)")
                continue
            }
            switch layer.operation {
            case .convolution(let spec):
                let relu = spec.activation == .none ? 0 : 1
                if spec.isDepthwise {
                    guard spec.kernel == 3 else { throw UnsupportedLayerError("layer \(layer.name): the runtime has depthwise 3x3 only") }
                    lines.append("depthwise \(output) \(inputs[0]) \(spec.stride) \(relu)")
                } else if spec.groups == 1 {
                    lines.append(spec.kernel == 1
                                 ? "pointwise \(output) \(inputs[0]) \(spec.stride) \(relu)"
                                 : "conv \(output) \(inputs[0]) \(spec.kernel) \(spec.stride) \(relu)")
                } else {
                    throw UnsupportedLayerError("layer \(layer.name): grouped convolutions have no runtime kernel")
                }
            case .maxPool: lines.append("maxpool \(output) \(inputs[0])")
            case .concat:
                // Inputs, then per input 1 when the export requantizes it (another quantization), 0 when it
                // copies it as it is (ConcatParts.swift); inputs lying in place are not touched either way.
                let flags = (ConcatPart.inputs(step: step, in: graph, layout: layout, groups: groups) ?? []).map { $0.part.requantized ? "1" : "0" }
                lines.append("concat \(output) \(inputs.count) " + inputs.map(String.init).joined(separator: " ") + " " + flags.joined(separator: " "))
            case .add: lines.append("add \(output) \(inputs[0]) \(inputs[1])")
            case .globalAveragePool: lines.append("gap \(output) \(inputs[0])")
            case .dropout: break
            case .linear: lines.append("linear \(output) \(inputs[0])")
            }
        }
        body = lines
    }
}

/// The raw timing samples of one network from one `harness time` run.
public struct HarnessSamples: Sendable, Equatable {
    public var name: String
    /// Inferences per sample.
    public var batch: Int
    /// FNV-1a of the output tensor's bytes and of every tensor's bytes, as 8 hex digits.
    public var outputChecksum: String
    public var allChecksum: String
    /// Mean nanoseconds per inference of each sample, in the order taken (round after round).
    public var nanoseconds: [Double]
    /// Samples per round, and the harness's own estimate of this run (estimator.h, nanoseconds), from
    /// its `estimate` line.
    public var perRound: Int = 1
    public var estimate: RoundEstimate?
    /// The speed probe (Sources/CHarness/common/speed_probe.h) measured right after this item's samples,
    /// one per round, nanoseconds, from the `probe` line; empty from a harness without it.
    public var probe: [Double] = []

    public init(name: String, batch: Int, outputChecksum: String, allChecksum: String, nanoseconds: [Double],
                perRound: Int = 1, estimate: RoundEstimate? = nil) {
        self.name = name; self.batch = batch; self.outputChecksum = outputChecksum; self.allChecksum = allChecksum
        self.nanoseconds = nanoseconds; self.perRound = perRound; self.estimate = estimate
    }

    /// The samples split into rounds.
    public var rounds: [[Double]] {
        let size = max(1, perRound)
        return stride(from: 0, to: nanoseconds.count, by: size).map { Array(nanoseconds[$0..<min($0 + size, nanoseconds.count)]) }
    }
}

/// Timing of one item pooled over several harness runs, in microseconds per inference.
///
/// Interference (other processes, a busy sibling hyperthread, interrupts, migrations) only ever slows a
/// run down, and on a shared machine it comes in spells. Samples are taken in rounds (a round takes a
/// few samples of every item back to back, all items interleaved), and the estimate is the one of
/// estimator.h (`RoundEstimator`): the **10th percentile of the per-round medians**, with an
/// order-statistic 95 % interval; the export's `--bench` reports the same quantity. p10 and p90
/// describe the spread of all samples below the upper Tukey fence Q3 + 3 IQR.
public struct TimingSummary: Sendable, Equatable {
    /// The estimate (10th percentile of the per-round medians); stored as `median_us` in profiles.
    public var medianMicroseconds: Double
    /// Its interval.
    public var ciLowMicroseconds: Double
    public var ciHighMicroseconds: Double
    public var rounds: Int
    public var p10Microseconds: Double
    public var p90Microseconds: Double
    /// Samples below the fence (of `samples`).
    public var kept: Int
    public var samples: Int
    /// The estimate over the rounds divided by the speed probe's estimate over the same rounds
    /// (`SpeedProbeNormalization.ratio`), nil without probes (a harness without them, or rounds and probes
    /// that do not pair up).
    public var probeRatio: Double?

    public static let outlierRule = "median_us: 10th percentile of the per-round medians (estimator.h; a round samples every item a few times back to back, all items interleaved), ci_low_us/ci_high_us: its order-statistic 95 % interval; p10_us, p90_us: over all samples below Q3 + 3 IQR (one-sided Tukey fence); repetitions: samples kept"
    public static let fenceInterquartileRanges = 3.0

    /// Summarises samples (nanoseconds per inference) grouped by round; nil without samples. `probes`:
    /// the speed probe beside each round (nanoseconds, one per round), or empty.
    public init?(rounds: [[Double]], probes: [Double] = []) {
        let finite = rounds.map { $0.filter(\.isFinite) }.filter { !$0.isEmpty }
        let sorted = finite.joined().sorted()
        guard let estimate = RoundEstimator.estimate(roundMedians: finite.map(RoundEstimator.median)), !sorted.isEmpty else { return nil }
        let q1 = Self.percentile(sorted, 0.25), q3 = Self.percentile(sorted, 0.75)
        let fence = q3 + Self.fenceInterquartileRanges * (q3 - q1)
        let kept = Array(sorted.prefix { $0 <= fence })
        medianMicroseconds = estimate.value / 1000
        ciLowMicroseconds = estimate.low / 1000
        ciHighMicroseconds = estimate.high / 1000
        self.rounds = estimate.rounds
        p10Microseconds = Self.percentile(kept, 0.1) / 1000
        p90Microseconds = Self.percentile(kept, 0.9) / 1000
        self.kept = kept.count
        samples = sorted.count
        if probes.count == rounds.count {
            let medians = rounds.map { $0.filter(\.isFinite) }.map { $0.isEmpty ? Double.nan : RoundEstimator.median($0) }
            probeRatio = SpeedProbeNormalization.ratio(roundMedians: medians, probes: probes)
        }
    }

    /// This timing at the machine speed of `referenceNanoseconds` (the speed probe's full-speed time):
    /// the estimate becomes probeRatio x reference and every other figure is scaled with it (the
    /// interval and spread keep their relative widths); nil without a probe ratio.
    public func normalized(referenceNanoseconds: Double) -> TimingSummary? {
        guard let probeRatio, medianMicroseconds > 0, referenceNanoseconds > 0 else { return nil }
        let factor = probeRatio * referenceNanoseconds / 1000 / medianMicroseconds
        var result = self
        result.medianMicroseconds *= factor
        result.ciLowMicroseconds *= factor
        result.ciHighMicroseconds *= factor
        result.p10Microseconds *= factor
        result.p90Microseconds *= factor
        return result
    }

    /// The estimate and its interval (microseconds).
    public var estimate: RoundEstimate {
        RoundEstimate(value: medianMicroseconds, low: ciLowMicroseconds, high: ciHighMicroseconds, rounds: rounds)
    }

    /// Percentile of sorted values, linear interpolation between ranks.
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        RoundEstimator.quantile(sorted: sorted, fraction)
    }
}

/// Everything one harness run printed.
public struct HarnessOutput: Sendable {
    /// The runtime's compiled-in SIMD path (`as_runtime_simd_path`).
    public var simdPath: String?
    /// `time` mode: raw samples per network, in plan order.
    public var samples: [HarnessSamples] = []
    /// `check` mode: name -> (output checksum, all-tensor checksum).
    public var checksums: [String: (output: String, all: String)] = [:]
    /// Peak resident set of the harness process (`ru_maxrss`), kilobytes.
    public var peakRSSKilobytes: Int?
    /// `time` mode: the core the harness pinned itself to (nil: not pinned).
    public var cpu: Int?

    /// Parses the harness's stdout; unknown lines are ignored, malformed known ones are errors.
    static func parse(_ text: String) throws -> HarnessOutput {
        var output = HarnessOutput()
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ").map(String.init)
            guard let tag = fields.first else { continue }
            switch tag {
            case "simd" where fields.count == 2:
                output.simdPath = fields[1]
            case "samples":
                let values = fields.dropFirst(5).compactMap(Double.init)
                guard fields.count >= 6, let batch = Int(fields[2]), values.count == fields.count - 5 else {
                    throw HarnessOutputError("malformed samples line '\(line.prefix(120))'")
                }
                output.samples.append(HarnessSamples(name: fields[1], batch: batch, outputChecksum: fields[3],
                                                     allChecksum: fields[4], nanoseconds: values))
            case "estimate":
                // estimate NAME ROUNDS PER_ROUND NS LOW_NS HIGH_NS, after the network's samples line
                let numbers = fields.dropFirst(2).compactMap(Double.init)
                guard fields.count == 7, numbers.count == 5, let perRound = Int(fields[3]), let rounds = Int(fields[2]),
                      let index = output.samples.lastIndex(where: { $0.name == fields[1] }) else {
                    throw HarnessOutputError("malformed estimate line '\(line.prefix(120))'")
                }
                output.samples[index].perRound = perRound
                output.samples[index].estimate = RoundEstimate(value: numbers[2], low: numbers[3], high: numbers[4], rounds: rounds)
            case "probe":
                // probe NAME NS..., one per round, after the network's samples line
                let values = fields.dropFirst(2).compactMap(Double.init)
                guard fields.count >= 3, values.count == fields.count - 2,
                      let index = output.samples.lastIndex(where: { $0.name == fields[1] }) else {
                    throw HarnessOutputError("malformed probe line '\(line.prefix(120))'")
                }
                output.samples[index].probe = values
            case "cpu" where fields.count == 2:
                output.cpu = Int(fields[1])
            case "checksum":
                guard fields.count == 4 else { throw HarnessOutputError("malformed checksum line '\(line)'") }
                output.checksums[fields[1]] = (fields[2], fields[3])
            case "peak_rss_kb":
                output.peakRSSKilobytes = fields.count == 2 ? Int(fields[1]) : nil
            default:
                continue
            }
        }
        return output
    }
}

struct HarnessOutputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Building and running

/// Writes the embedded runtime sources and the harness into a directory and builds them with the device's toolchain.
public struct HarnessBuilder: Sendable {
    public let device: DeviceDescription

    public init(device: DeviceDescription) { self.device = device }

    /// Builds `<directory>/harness` and returns its path. The runtime files go to `<directory>/runtime/`;
    /// the sources compile to objects in parallel, then link. Errors name the device and the step.
    public func build(in directory: String) throws -> String {
        let step = "build harness"
        let runtimeDirectory = "\(directory)/runtime"
        let sources: [String]
        do {
            sources = try HarnessSource.stage(runtimeFiles: RuntimeSources.imageFiles, fileName: HarnessSource.fileName,
                                              text: HarnessSource.text, directory: directory, runtimeDirectory: runtimeDirectory)
        } catch {
            throw ProfileError(device: device.name, step: step, reason: FileProblem.reason(error))
        }

        let toolchain = Toolchain(device: device)
        let sourcePaths = sources
        let includes = ["\(runtimeDirectory)/include", runtimeDirectory]
        let objects = sourcePaths.map { "\(directory)/objects/\((($0 as NSString).lastPathComponent as NSString).deletingPathExtension).o" }
        let failures = LockedErrors()
        DispatchQueue.concurrentPerform(iterations: sources.count) { index in
            do {
                try toolchain.compileObject(source: sourcePaths[index], includeDirectories: includes, output: objects[index])
            } catch {
                failures.append(index, error)
            }
        }
        if let first = failures.first { throw ProfileError.wrapping(first, device: device.name, step: step) }
        let binary = "\(directory)/harness"
        do {
            try toolchain.compile(sources: objects, output: binary)
        } catch {
            throw ProfileError.wrapping(error, device: device.name, step: step)
        }
        return binary
    }
}

/// Errors collected from concurrent work; the one with the lowest index wins, so reports are deterministic.
private final class LockedErrors: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [(Int, Error)] = []
    func append(_ index: Int, _ error: Error) { lock.withLock { errors.append((index, error)) } }
    var first: Error? { lock.withLock { errors.min { $0.0 < $1.0 }?.1 } }
}

/// A harness binary staged on a device, with a local directory for plan files.
public struct DeviceHarness: Sendable {
    public let runner: any DeviceRunner
    /// The binary's path on the device.
    public let devicePath: String
    /// Where plan files are written before upload.
    public let localDirectory: String

    /// Uploads `binary` (built by `HarnessBuilder`) through `runner`.
    public static func upload(_ binary: String, runner: any DeviceRunner, localDirectory: String) throws -> DeviceHarness {
        do {
            try runner.prepare()
            let path = try runner.upload(binary)
            return DeviceHarness(runner: runner, devicePath: path, localDirectory: localDirectory)
        } catch {
            throw ProfileError.wrapping(error, device: runner.device.name, step: "upload harness")
        }
    }

    /// `harness time`: times every network in `rounds` rounds over all of them, `perRound` samples of
    /// each per round (each sample >= `sampleMicroseconds`), pinned as `pinning` says.
    public func time(_ networks: [HarnessNetwork], rounds: Int, perRound: Int, sampleMicroseconds: Double,
                     pinning: CorePinning = .leastLoaded, timeout: Double) throws -> HarnessOutput {
        let output = try run(mode: "time", networks,
                             extra: [String(rounds), String(perRound), String(sampleMicroseconds), pinning.harnessArgument],
                             timeout: timeout)
        let names = Set(output.samples.map(\.name))
        if let missing = networks.first(where: { !names.contains($0.name) }) {
            throw ProfileError(device: runner.device.name, step: "run harness", reason: "the harness printed no result for \(missing.name)")
        }
        return output
    }

    /// `harness check`: runs every network once and reports output checksums.
    public func check(_ networks: [HarnessNetwork], timeout: Double) throws -> HarnessOutput {
        try run(mode: "check", networks, extra: [], timeout: timeout)
    }

    private func run(mode: String, _ networks: [HarnessNetwork], extra: [String], timeout: Double) throws -> HarnessOutput {
        let device = runner.device.name
        let planPath = "\(localDirectory)/plan-\(UUID().uuidString.prefix(8).lowercased()).txt"
        do {
            try AtomicFile.write(networks.map(\.planText).joined(), to: planPath)
        } catch {
            throw ProfileError(device: device, step: "write plan", reason: FileProblem.reason(error))
        }
        defer { try? FileManager.default.removeItem(atPath: planPath) }
        let devicePlan: String
        do {
            devicePlan = try runner.upload(planPath)
        } catch {
            throw ProfileError.wrapping(error, device: device, step: "upload plan")
        }
        let result: RunResult
        do {
            result = try runner.run(devicePath, arguments: [mode, devicePlan] + extra, timeout: timeout)
        } catch {
            throw ProfileError.wrapping(error, device: device, step: "run harness")
        }
        guard result.exitStatus == 0 else {
            let how = result.exitStatus > 128
                ? "was killed by signal \(result.exitStatus - 128)\(signalName(result.exitStatus - 128))"
                : "exited with status \(result.exitStatus)"
            let detail = result.firstOutputLine
            throw ProfileError(device: device, step: "run harness", reason: "the harness \(how)" + (detail.isEmpty ? "" : ": \(detail)"))
        }
        do {
            return try HarnessOutput.parse(result.stdout)
        } catch {
            throw ProfileError(device: device, step: "run harness", reason: FileProblem.reason(error))
        }
    }
}

private func signalName(_ number: Int32) -> String {
    let names: [Int32: String] = [4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"]
    return names[number].map { " (\($0))" } ?? ""
}

/// Which core the harness (and an export's bench) runs on (estimator.h's as_est_pin).
public enum CorePinning: Sendable, Equatable, CustomStringConvertible {
    /// The allowed core with the lowest load over 50 ms at the start of each run (the default).
    case leastLoaded
    case core(Int)
    /// Not pinned.
    case none

    /// `auto`, `none` or a core number; nil for anything else.
    public init?(_ text: String) {
        switch text {
        case "auto": self = .leastLoaded
        case "none": self = .none
        default:
            guard let core = Int(text), core >= 0 else { return nil }
            self = .core(core)
        }
    }

    /// The harness's CPU argument.
    var harnessArgument: String {
        switch self {
        case .leastLoaded: return "-1"
        case .core(let core): return String(core)
        case .none: return "none"
        }
    }

    public var description: String {
        switch self {
        case .leastLoaded: return "auto (least loaded core)"
        case .core(let core): return "core \(core)"
        case .none: return "none"
        }
    }
}
