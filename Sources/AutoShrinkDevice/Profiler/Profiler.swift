import AutoShrinkModel
import Foundation

/// What `Profiler` measures and how.
public struct ProfilerOptions: Sendable {
    /// The networks whose operators are measured.
    public var space: ProfileSpace
    /// Data types of the operator table (int8 ships; float32 is measured alongside for comparison).
    public var dtypes: [OperatorDataType]
    /// Timing samples per operator and per network in the first pass.
    public var repeats: Int
    /// Rounds the samples are taken in (`repeats / rounds` samples of each item per round, all items
    /// interleaved); the estimate is the lower quartile of the per-round medians (estimator.h). The
    /// rounds run `roundsPerRun` at a time in harness runs, each in a fresh random order of the items.
    public var rounds: Int
    /// Rounds per harness run (each run is one progress step and picks its core afresh).
    public var roundsPerRun: Int = 2
    /// Which core the harness runs on.
    public var pinning: CorePinning = .leastLoaded
    /// Entries whose interval reaches further than this from the estimate (relative) are measured again.
    public var remeasureHalfWidth: Double = 0.05
    /// Time the re-measuring may take, as a share of the first pass (per phase: operators, networks).
    public var remeasureBudget: Double = 0.3
    /// Minimum duration of one timing sample; small operators run several times per sample.
    public var sampleMicroseconds: Double
    /// Whole networks timed to fit and judge the predictor (half each).
    public var networks: Int
    /// Seed of the network sample, the fit/held-out split and the order of measurement.
    public var seed: UInt64
    /// Seconds one harness run may take before it is killed.
    public var runTimeout: Double
    /// Free text stored in the profile (default: the device file's notes).
    public var notes: String?

    public init(space: ProfileSpace, dtypes: [OperatorDataType] = [.int8, .float32], repeats: Int = 31, rounds: Int = 10,
                sampleMicroseconds: Double = 1000, networks: Int = 60, seed: UInt64 = 1,
                runTimeout: Double = 1800, notes: String? = nil) {
        self.space = space; self.dtypes = dtypes; self.repeats = repeats; self.rounds = rounds
        self.sampleMicroseconds = sampleMicroseconds; self.networks = networks; self.seed = seed
        self.runTimeout = runTimeout; self.notes = notes
    }
}

/// Progress of a profiling run, for the command line.
public enum ProfilerEvent: Sendable {
    /// A step begins (building, uploading, probing, fitting).
    case step(String)
    /// `done` of `total` items of a measuring phase are finished.
    case progress(phase: String, done: Int, total: Int, elapsedSeconds: Double)
    case warning(String)
}

/// Measures a device: builds the harness from the embedded runtime sources with the device's
/// toolchain, stages it with the device's runner, probes the environment, times every operator of
/// the space and a sample of whole networks, and fits the latency predictor.
public struct Profiler: Sendable {
    public let device: DeviceDescription
    public var options: ProfilerOptions

    public init(device: DeviceDescription, options: ProfilerOptions) {
        self.device = device
        self.options = options
    }

    /// Relative spread p90/p10 above which an operator's timing counts as noisy.
    public static let noisySpread = 1.25
    /// Operators faster than this are left out of the noise statistics (timer and cache effects dominate).
    public static let noiseFloorMicroseconds = 20.0

    /// Runs the whole measurement. Nothing is written: the caller writes the returned profile
    /// (`DeviceProfile.write`, atomic). Errors are one line naming the device and the step.
    public func run(progress: (ProfilerEvent) -> Void = { _ in }) throws -> DeviceProfile {
        let start = Date()
        let name = device.name
        let operators: [OperatorConfiguration]
        let sampled: [SampledNetwork]
        var planned: [HarnessNetwork] = []
        do {
            operators = try options.space.operators(dtypes: options.dtypes)
            sampled = options.space.sampleNetworks(count: options.networks, seed: options.seed)
            for (index, network) in sampled.enumerated() {
                planned.append(try HarnessNetwork(graph: network.architecture.lowered(), name: "net\(index)", dtype: .int8,
                                                  seed: 1000 + UInt64(index)))
            }
        } catch {
            throw ProfileError(device: name, step: "enumerate operators", reason: "\(error)")
        }

        let workDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("autoshrink-profile-\(name)-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }
        // Reach the device before spending time on the build: an unreachable device fails at once.
        let runner = makeRunner(for: device)
        progress(.step("connecting (\(device.runner.kind.rawValue) runner)"))
        do { try runner.prepare() } catch { throw ProfileError.wrapping(error, device: name, step: "connect") }
        defer { try? runner.cleanup() }
        progress(.step("building harness with \(device.compiler.cc) \(device.compiler.flags.joined(separator: " "))"))
        let binary = try HarnessBuilder(device: device).build(in: workDirectory)

        progress(.step("uploading harness (\(device.runner.kind.rawValue) runner)"))
        let harness = try DeviceHarness.upload(binary, runner: runner, localDirectory: workDirectory)
        progress(.step("probing the environment"))
        let environment: DeviceEnvironment
        do {
            environment = try DeviceEnvironment.probe(using: runner)
        } catch {
            throw ProfileError.wrapping(error, device: name, step: "probe environment")
        }

        // Rounds over all items, `roundsPerRun` per harness run, each run in a fresh seeded order: an
        // item's rounds are spread over the whole measurement, and a slow spell on a shared machine
        // touches a few rounds of every item instead of all samples of some. Then the items whose
        // interval is wider than +-remeasureHalfWidth get more rounds, within remeasureBudget of the
        // first pass's time (see docs/architecture.md, "Latency estimator").
        let entryNetworks = operators.enumerated().map { HarnessNetwork(operator: $1, name: "op\($0)", seed: UInt64($0) + 1) }
        var runs = 0
        var peakRSS: Int?
        var simdPath: String?
        var cores = Set<Int>()
        var unpinnedRuns = 0
        var generator = ProfileRandom(seed: options.seed ^ 0x5EED)
        let roundCount = max(1, min(options.rounds, options.repeats))
        let perRound = max(1, options.repeats / roundCount)
        let roundsPerRun = max(1, options.roundsPerRun)
        var noise: [ProfileNoise] = []
        func measure(_ items: [HarnessNetwork], phase: String) throws -> [String: (summary: TimingSummary, batch: Int, checksum: String)] {
            var rounds: [String: [[Double]]] = [:]
            var batches: [String: Int] = [:]
            var checksums: [String: String] = [:]
            func runHarness(_ subset: [HarnessNetwork], rounds roundsThisRun: Int) throws {
                var order = subset
                for position in stride(from: order.count - 1, to: 0, by: -1) {
                    order.swapAt(position, Int(generator.next() % UInt64(position + 1)))
                }
                let output = try harness.time(order, rounds: roundsThisRun, perRound: perRound,
                                              sampleMicroseconds: options.sampleMicroseconds, pinning: options.pinning,
                                              timeout: options.runTimeout)
                runs += 1
                if let core = output.cpu { cores.insert(core) } else { unpinnedRuns += 1 }
                if let rss = output.peakRSSKilobytes { peakRSS = max(peakRSS ?? 0, rss * 1024) }
                simdPath = simdPath ?? output.simdPath
                for samples in output.samples {
                    rounds[samples.name, default: []] += samples.rounds
                    batches[samples.name] = max(batches[samples.name] ?? 0, samples.batch)
                    checksums[samples.name] = checksums[samples.name] ?? samples.outputChecksum
                }
            }
            func summaries(_ subset: [HarnessNetwork]) throws -> [String: TimingSummary] {
                var result: [String: TimingSummary] = [:]
                for item in subset {
                    guard let summary = TimingSummary(rounds: rounds[item.name] ?? []) else {
                        throw ProfileError(device: name, step: "run harness", reason: "no samples for \(item.name)")
                    }
                    result[item.name] = summary
                }
                return result
            }
            let runCount = (roundCount + roundsPerRun - 1) / roundsPerRun
            let phaseStart = Date()
            progress(.progress(phase: phase, done: 0, total: runCount, elapsedSeconds: 0))
            for run in 0..<runCount {
                try runHarness(items, rounds: min(roundsPerRun, roundCount - run * roundsPerRun))
                progress(.progress(phase: phase, done: run + 1, total: runCount, elapsedSeconds: Date().timeIntervalSince(phaseStart)))
            }
            let firstPassSeconds = Date().timeIntervalSince(phaseStart)
            var current = try summaries(items)
            let firstWidths = current.values.map(\.estimate.relativeWidth)
            func wide() -> [HarnessNetwork] {
                items.filter { current[$0.name]!.estimate.relativeHalfWidth > options.remeasureHalfWidth }
            }
            var remeasured = Set<String>()
            var remeasureSeconds = 0.0
            let budget = options.remeasureBudget * firstPassSeconds
            let secondsPerItemRound = firstPassSeconds / Double(max(1, items.count * roundCount))
            var pending = wide()
            let firstWide = pending.count
            while !pending.isEmpty {
                let expected = secondsPerItemRound * Double(pending.count * roundsPerRun)
                guard remeasureSeconds + expected <= budget else { break }
                if remeasured.isEmpty {
                    progress(.step(String(format: "%@: measuring %d of %d items again (interval wider than +-%.0f %%), for up to %.0f s",
                                          phase, pending.count, items.count, 100 * options.remeasureHalfWidth, budget)))
                }
                let started = Date()
                try runHarness(pending, rounds: roundsPerRun)
                remeasureSeconds += Date().timeIntervalSince(started)
                remeasured.formUnion(pending.map(\.name))
                for (key, value) in try summaries(pending) { current[key] = value }
                pending = wide()
            }
            noise.append(ProfileNoise(
                phase: phase, items: items.count, medianCIWidthFirstPass: Self.median(firstWidths),
                medianCIWidth: Self.median(current.values.map(\.estimate.relativeWidth)), wideAfterFirstPass: firstWide,
                remeasured: remeasured.count, stillWide: pending.count, firstPassSeconds: (firstPassSeconds * 10).rounded() / 10,
                remeasureSeconds: (remeasureSeconds * 10).rounded() / 10))
            var result: [String: (summary: TimingSummary, batch: Int, checksum: String)] = [:]
            for item in items { result[item.name] = (current[item.name]!, batches[item.name] ?? 1, checksums[item.name] ?? "") }
            return result
        }
        let operatorTimings = try measure(entryNetworks, phase: "operators (\(entryNetworks.count))")
        let networkTimings = try measure(planned, phase: "networks (\(planned.count))")

        progress(.step("fitting the predictor"))
        let entries = zip(operators, entryNetworks).map { configuration, network -> ProfileEntry in
            let timing = operatorTimings[network.name]!
            return ProfileEntry(configuration: configuration, medianMicroseconds: rounded(timing.summary.medianMicroseconds),
                                p10Microseconds: rounded(timing.summary.p10Microseconds),
                                p90Microseconds: rounded(timing.summary.p90Microseconds),
                                repetitions: timing.summary.kept, batch: timing.batch,
                                ciLowMicroseconds: rounded(timing.summary.ciLowMicroseconds),
                                ciHighMicroseconds: rounded(timing.summary.ciHighMicroseconds), rounds: timing.summary.rounds)
        }
        let spaceSummary = options.space.summary
        let measurement = ProfileMeasurementSettings(
            repeats: perRound * roundCount, rounds: roundCount, sampleMicroseconds: options.sampleMicroseconds,
            outlierRule: TimingSummary.outlierRule)
        var profile = DeviceProfile(
            device: ProfileDevice(name: name, description: device),
            runtime: ProfileRuntime(hash: RuntimeSources.hash, simdPath: simdPath),
            environment: environment, space: spaceSummary, measurement: measurement, entries: entries, networks: [],
            predictor: PredictorSummary(model: "latency_ms = table_scale * table_sum_ms + per_layer_ms * layers + intercept_ms",
                                        dtype: .int8, calibration: .identity, method: "", fitNetworks: 0, heldoutNetworks: 0),
            harness: HarnessSummary(peakRSSBytes: peakRSS, runs: runs, noise: noise, cores: cores.sorted(), unpinnedRuns: unpinnedRuns),
            created: "", seconds: 0)

        // Table sums of the timed networks; then fit on one half, judge on the other.
        let tablePredictor = ProfileLatencyPredictor(profile: profile, identity: name)
        var measurements: [NetworkMeasurement] = []
        do {
            for (index, network) in sampled.enumerated() {
                let graph = network.architecture.lowered()
                let timing = networkTimings[planned[index].name]!.summary
                let kernelLayers = try tablePredictor.layerPredictions(graph).filter { $0.configuration != nil }.count
                measurements.append(NetworkMeasurement(
                    name: network.name, role: "", edges: network.edges, layers: kernelLayers, macs: CostModel.costs(of: graph).macs,
                    tableSumMilliseconds: try tablePredictor.tableSumMilliseconds(graph),
                    measuredMilliseconds: rounded(timing.medianMicroseconds) / 1000, p10Milliseconds: rounded(timing.p10Microseconds) / 1000,
                    p90Milliseconds: rounded(timing.p90Microseconds) / 1000, predictedMilliseconds: 0,
                    outputChecksum: networkTimings[planned[index].name]!.checksum,
                    ciLowMilliseconds: rounded(timing.ciLowMicroseconds) / 1000, ciHighMilliseconds: rounded(timing.ciHighMicroseconds) / 1000))
            }
        } catch {
            throw ProfileError(device: name, step: "fit predictor", reason: "\(error)")
        }
        var split = Array(measurements.indices)
        var splitGenerator = ProfileRandom(seed: options.seed ^ 0xF17)
        for position in stride(from: split.count - 1, to: 0, by: -1) {
            split.swapAt(position, Int(splitGenerator.next() % UInt64(position + 1)))
        }
        let fitCount = (measurements.count + 1) / 2
        for (rank, index) in split.enumerated() { measurements[index].role = rank < fitCount ? "fit" : "heldout" }
        let fitted = LatencyFit.fit(measurements.filter { $0.role == "fit" }.map {
            LatencyFit.Sample(tableSumMilliseconds: $0.tableSumMilliseconds, layers: $0.layers, measuredMilliseconds: $0.measuredMilliseconds)
        })
        for index in measurements.indices {
            measurements[index].predictedMilliseconds = fitted.calibration.latency(
                tableSumMilliseconds: measurements[index].tableSumMilliseconds, layers: measurements[index].layers)
        }
        let heldout = measurements.filter { $0.role == "heldout" }
        let calibrated = LatencyFit.accuracy(heldout.map { ($0.predictedMilliseconds, $0.measuredMilliseconds) })
        let plain = LatencyFit.accuracy(heldout.map { ($0.tableSumMilliseconds, $0.measuredMilliseconds) })
        profile.networks = measurements
        profile.predictor.calibration = fitted.calibration
        profile.predictor.method = fitted.method
        profile.predictor.fitNetworks = fitCount
        profile.predictor.heldoutNetworks = heldout.count
        profile.predictor.heldoutWithin10Percent = calibrated?.within
        profile.predictor.heldoutMAPE = calibrated?.mape
        profile.predictor.heldoutMaxError = calibrated?.maxError
        profile.predictor.tableSumWithin10Percent = plain?.within
        profile.predictor.tableSumMAPE = plain?.mape

        var warnings = Self.environmentWarnings(environment)
        let spreads = entries.filter { $0.medianMicroseconds >= Self.noiseFloorMicroseconds && $0.p10Microseconds > 0 }
            .map { $0.p90Microseconds / $0.p10Microseconds }.sorted()
        if !spreads.isEmpty {
            let noisy = spreads.filter { $0 > Self.noisySpread }.count
            profile.harness.medianSpread = spreads[spreads.count / 2]
            if Double(noisy) > 0.1 * Double(spreads.count) {
                warnings.append(String(format: "noisy timings: %d of %d operators above %.0f us have p90/p10 > %.2f (median spread %.2f); stop other programs, fix the clock (governor 'performance') and re-run",
                                       noisy, spreads.count, Self.noiseFloorMicroseconds, Self.noisySpread, spreads[spreads.count / 2]))
            }
        }
        for warning in warnings { progress(.warning(warning)) }
        profile.warnings = warnings
        var notes = options.notes ?? device.notes
        if case .qemu(let settings) = device.runner {
            notes = "Emulated with \(settings.binary) -cpu \(settings.cpu) on the build machine: the latencies are emulation numbers, not the hardware's; use this profile for correctness, code size and relative comparisons only. " + notes
        }
        profile.notes = notes
        profile.created = ISO8601DateFormatter().string(from: Date())
        profile.seconds = (Date().timeIntervalSince(start) * 10).rounded() / 10
        return profile
    }

    /// Runs the measurement and writes the profile to `path` atomically. On any failure nothing is
    /// written, so an earlier profile at `path` stays as it was.
    @discardableResult
    public func run(writingTo path: String, progress: (ProfilerEvent) -> Void = { _ in }) throws -> DeviceProfile {
        let profile = try run(progress: progress)
        try profile.write(to: path)
        return profile
    }

    static func median(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : RoundEstimator.median(values.filter(\.isFinite))
    }

    /// Governor and temperature warnings for an environment.
    public static func environmentWarnings(_ environment: DeviceEnvironment) -> [String] {
        var warnings: [String] = []
        if environment.emulator == nil, let governor = environment.governor, governor != "performance" {
            warnings.append("cpufreq governor is '\(governor)', not 'performance': the clock changes under load and timings drift (see docs/devices.md)")
        }
        if environment.emulator == nil, let temperature = environment.temperatureCelsius, temperature >= 75 {
            warnings.append(String(format: "the device is at %.0f C: it may be throttling; cool it down (heatsink, fan) and re-run", temperature))
        }
        return warnings
    }
}

/// Microseconds to 0.1 ns: the resolution worth storing.
private func rounded(_ microseconds: Double) -> Double { (microseconds * 10_000).rounded() / 10_000 }
