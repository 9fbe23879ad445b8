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
    /// interleaved); the estimate is the 10th percentile of the per-round medians (estimator.h). The
    /// rounds run `roundsPerRun` at a time in harness runs, each in a fresh random order of the items.
    public var rounds: Int
    /// Rounds per harness run (each run is one progress step and picks its core afresh).
    public var roundsPerRun: Int = 2
    /// Which core the harness runs on.
    public var pinning: CorePinning = .leastLoaded
    /// Entries whose interval reaches further than this from the estimate (relative) are measured again.
    public var remeasureHalfWidth: Double = 0.05
    /// Time the re-measuring may take, as a share of the first pass (per phase: operators, networks).
    public var remeasureBudget: Double = 0.6
    /// ... and at least this many seconds per phase: the network phases' first passes take 4-10 s, and a
    /// share of that could not outlast a slow spell of a shared core (one profile of 2026-12-02 left 41 of its
    /// 60 networks wider than +-5 % after 2 s of re-measuring, and its held-out figure fell to 87-90 %;
    /// docs/devices.md "Speed-gated bench"). Capped at three times the phase's first pass, so small
    /// profiles (tests, tiny spaces) stay small. 0 with remeasureBudget 0: no re-measuring.
    public var remeasureMinimumSeconds: Double = 20
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
    /// The grid of the language-model kernels' section (`RecurrentProfiler`); nil skips it.
    public var recurrent: RecurrentGrid? = RecurrentGrid()
    /// Whether the table and network timings are normalized by the speed probe measured beside every
    /// round (each item's estimate over its probes' estimate, times the probe's full-speed time)
    /// instead of estimator.h's raw estimate. Both are fitted and recorded (`ProfileSpeedProbe`); see
    /// docs/devices.md, "Shared cores", for the measurement that chose this default.
    public var normalizeBySpeedProbe: Bool = true

    public init(space: ProfileSpace, dtypes: [OperatorDataType] = [.int8, .float32], repeats: Int = 31, rounds: Int = 15,
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
            throw ProfileError(device: name, step: "enumerate operators", reason: FileProblem.reason(error))
        }

        let workDirectory = Self.workDirectory(device: name)
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }
        let runner = makeRunner(for: device)
        defer { try? runner.cleanup() }
        let harness = try stageHarness(runner: runner, workDirectory: workDirectory, progress: progress)
        progress(.step("probing the environment"))
        let environment: DeviceEnvironment
        do {
            environment = try DeviceEnvironment.probe(using: runner)
        } catch {
            throw ProfileError.wrapping(error, device: name, step: "probe environment")
        }

        // Operators, then networks, in rounds with the shared estimator (RoundMeasurement).
        let entryNetworks = operators.enumerated().map { HarnessNetwork(operator: $1, name: "op\($0)", seed: UInt64($0) + 1) }
        let session = RoundMeasurement(harness: harness, options: options, device: name)
        let roundCount = session.roundCount, perRound = session.perRound
        let operatorTimings = try session.measure(entryNetworks, phase: "operators (\(entryNetworks.count))", progress: progress)
        let networkTimings = try session.measure(planned, phase: "networks (\(planned.count))", progress: progress)
        let recurrent = try options.recurrent.map { grid in
            try RecurrentProfiler(device: device, options: options, grid: grid).measure(runner: runner, workDirectory: workDirectory,
                                                                                         progress: progress)
        }

        progress(.step("fitting the predictor"))
        // The table, the networks and the fitted predictor from one way of reading the timings: estimator.h's
        // raw estimates, or each item normalized by the speed probe beside its rounds (docs/devices.md,
        // "Shared cores"); both are fitted when the harness measured the probe, and the profile records
        // the held-out figure of each.
        func fitProfile(_ timingOf: (TimingSummary) -> TimingSummary) throws -> DeviceProfile {
            let entries = zip(operators, entryNetworks).map { configuration, network -> ProfileEntry in
                let timing = (summary: timingOf(operatorTimings[network.name]!.summary), batch: operatorTimings[network.name]!.batch)
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
                runtime: ProfileRuntime(hash: RuntimeSources.hash, simdPath: session.simdPath),
                environment: environment, space: spaceSummary, measurement: measurement, entries: entries, networks: [],
                predictor: PredictorSummary(model: "latency_ms = table_scale * table_sum_ms + per_layer_ms * layers + intercept_ms",
                                            dtype: .int8, calibration: .identity, method: "", fitNetworks: 0, heldoutNetworks: 0),
                harness: HarnessSummary(peakRSSBytes: session.peakRSS, runs: session.runs, noise: session.noise, cores: session.cores.sorted(),
                                        unpinnedRuns: session.unpinnedRuns),
                created: "", seconds: 0)
            profile.recurrent = recurrent

            // Cost models for shapes the table lacks, then the networks' features; fit on one half, judge on the other.
            profile.predictor.costModels = OperatorCostModel.fitAll(entries)
            let tablePredictor = ProfileLatencyPredictor(profile: profile, identity: name)
            var measurements: [NetworkMeasurement] = []
            do {
                for (index, network) in sampled.enumerated() {
                    let graph = network.architecture.lowered()
                    let timing = timingOf(networkTimings[planned[index].name]!.summary)
                    let layerPredictions = try tablePredictor.layerPredictions(graph)
                    let kernelLayers = layerPredictions.filter { $0.configuration != nil }.count
                    measurements.append(NetworkMeasurement(
                        name: network.name, role: "", edges: network.edges, layers: kernelLayers, macs: CostModel.costs(of: graph).macs,
                        tableSumMilliseconds: try tablePredictor.tableSumMilliseconds(graph),
                        measuredMilliseconds: rounded(timing.medianMicroseconds) / 1000, p10Milliseconds: rounded(timing.p10Microseconds) / 1000,
                        p90Milliseconds: rounded(timing.p90Microseconds) / 1000, predictedMilliseconds: 0,
                        outputChecksum: networkTimings[planned[index].name]!.checksum,
                        ciLowMilliseconds: rounded(timing.ciLowMicroseconds) / 1000, ciHighMilliseconds: rounded(timing.ciHighMicroseconds) / 1000,
                        features: LatencyFeature.values(layerPredictions)))
                }
            } catch {
                throw ProfileError(device: name, step: "fit predictor", reason: FileProblem.reason(error))
            }
            var split = Array(measurements.indices)
            var splitGenerator = ProfileRandom(seed: options.seed ^ 0xF17)
            for position in stride(from: split.count - 1, to: 0, by: -1) {
                split.swapAt(position, Int(splitGenerator.next() % UInt64(position + 1)))
            }
            let fitCount = (measurements.count + 1) / 2
            // Probe networks (outside the space, `ProfileSpace.probeNetworks`) always fit: the held-out half
            // judges networks of the space; architectures outside it are judged by `profile --validate`.
            split = split.filter { measurements[$0].name.hasPrefix("probe-") } + split.filter { !measurements[$0].name.hasPrefix("probe-") }
            for (rank, index) in split.enumerated() { measurements[index].role = rank < fitCount ? "fit" : "heldout" }
            // networks far from their table sums (LatencyFit.tableMismatches) are left out of the fit; the profile warns
            let mismatched = Set(LatencyFit.tableMismatches(measurements.map { ($0.name, $0.tableSumMilliseconds, $0.measuredMilliseconds) }).map(\.name))
            let fitNetworks = measurements.filter { $0.role == "fit" && !mismatched.contains($0.name) }
            let fitted = LatencyFit.fit(fitNetworks.map {
                LatencyFit.Sample(tableSumMilliseconds: $0.tableSumMilliseconds, layers: $0.layers, measuredMilliseconds: $0.measuredMilliseconds)
            })
            let model = LatencyModel.select(samples: fitNetworks.map { ($0.features ?? [:], $0.measuredMilliseconds) })
            for index in measurements.indices {
                let network = measurements[index]
                measurements[index].predictedMilliseconds = model?.latency(network.features ?? [:])
                    ?? fitted.calibration.latency(tableSumMilliseconds: network.tableSumMilliseconds, layers: network.layers)
            }
            let heldout = measurements.filter { $0.role == "heldout" }
            let predicted = LatencyFit.accuracy(heldout.map { ($0.predictedMilliseconds, $0.measuredMilliseconds) })
            let calibrated = LatencyFit.accuracy(heldout.map {
                (fitted.calibration.latency(tableSumMilliseconds: $0.tableSumMilliseconds, layers: $0.layers), $0.measuredMilliseconds)
            })
            let plain = LatencyFit.accuracy(heldout.map { ($0.tableSumMilliseconds, $0.measuredMilliseconds) })
            profile.networks = measurements
            profile.predictor.calibration = fitted.calibration
            profile.predictor.method = fitted.method
            if let model {
                profile.predictor.latencyModel = model
                profile.predictor.model = model.formula + " (\(model.name), chosen by 5-fold cross-validation on the fit networks)"
            }
            profile.predictor.fitNetworks = fitNetworks.count
            profile.predictor.heldoutNetworks = heldout.count
            profile.predictor.heldoutWithin10Percent = predicted?.within
            profile.predictor.heldoutMAPE = predicted?.mape
            profile.predictor.heldoutMaxError = predicted?.maxError
            profile.predictor.calibrationWithin10Percent = calibrated?.within
            profile.predictor.calibrationMAPE = calibrated?.mape
            profile.predictor.tableSumWithin10Percent = plain?.within
            profile.predictor.tableSumMAPE = plain?.mape
            return profile
        }
        let rawProfile = try fitProfile { $0 }
        var profile = rawProfile
        if let reference = session.speedProbeNanoseconds {
            let sorted = session.probes.sorted()
            var probe = ProfileSpeedProbe(milliseconds: reference / 1e6,
                                          p90Milliseconds: RoundEstimator.quantile(sorted: sorted, 0.9) / 1e6,
                                          measurements: sorted.count, normalizedTimings: false)
            probe.heldoutWithin10PercentRaw = rawProfile.predictor.heldoutWithin10Percent
            probe.heldoutMAPERaw = rawProfile.predictor.heldoutMAPE
            let everyItem = Array(operatorTimings.values) + Array(networkTimings.values)
            if everyItem.allSatisfy({ $0.summary.normalized(referenceNanoseconds: reference) != nil }) {
                let normalizedProfile = try fitProfile { $0.normalized(referenceNanoseconds: reference)! }
                probe.heldoutWithin10PercentNormalized = normalizedProfile.predictor.heldoutWithin10Percent
                probe.heldoutMAPENormalized = normalizedProfile.predictor.heldoutMAPE
                if options.normalizeBySpeedProbe {
                    profile = normalizedProfile
                    probe.normalizedTimings = true
                    profile.measurement.outlierRule += "; then normalized by the speed probe (speed_probe.normalized_timings): each entry and network is its estimate / its probes' estimate over the same rounds x speed_probe.ms, the other figures scaled alike"
                }
                func figure(_ within: Double?, _ mape: Double?) -> String {
                    String(format: "%.0f %% within +-10 %%, MAPE %.1f %%", 100 * (within ?? 0), mape ?? 0)
                }
                progress(.step(String(format: "speed probe %.2f us (p90 %.2f us, %d measurements); held-out networks: raw timings %@, probe-normalized %@ (the profile uses the %@)",
                                      reference / 1000, probe.p90Milliseconds * 1000, probe.measurements,
                                      figure(probe.heldoutWithin10PercentRaw, probe.heldoutMAPERaw),
                                      figure(probe.heldoutWithin10PercentNormalized, probe.heldoutMAPENormalized),
                                      probe.normalizedTimings ? "normalized ones" : "raw ones")))
            }
            profile.speedProbe = probe
        }
        let entries = profile.entries

        var warnings = Self.environmentWarnings(environment)
        warnings += LatencyFit.tableMismatches(profile.networks.map { ($0.name, $0.tableSumMilliseconds, $0.measuredMilliseconds) }).map(\.warning)
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

    /// A scratch folder named so that a later run cleans it up if this process is killed (`ScratchFiles`).
    static func workDirectory(device: String) -> String {
        ScratchFiles.path("profile")
    }

    /// Connects (an unreachable device fails before the build), builds the harness and uploads it.
    func stageHarness(runner: any DeviceRunner, workDirectory: String, progress: (ProfilerEvent) -> Void) throws -> DeviceHarness {
        progress(.step("connecting (\(device.runner.kind.rawValue) runner)"))
        do { try runner.prepare() } catch { throw ProfileError.wrapping(error, device: device.name, step: "connect") }
        progress(.step("building harness with \(device.compiler.cc) \(device.compiler.flags.joined(separator: " "))"))
        let binary = try HarnessBuilder(device: device).build(in: workDirectory)
        progress(.step("uploading harness (\(device.runner.kind.rawValue) runner)"))
        return try DeviceHarness.upload(binary, runner: runner, localDirectory: workDirectory)
    }

    /// Times whole int8 architectures on the device exactly as the profile times its networks (same
    /// harness, rounds, estimator and re-measuring), for `autoshrink profile --validate`. Returns the
    /// measurements in the given order and the session's noise and cores. `speedProbe`: the profile's;
    /// when its timings are normalized by the probe, so are these (to its full-speed time), so that
    /// measurement and prediction mean the same (docs/devices.md, "Shared cores").
    public func validate(_ architectures: [Architecture], speedProbe: ProfileSpeedProbe? = nil,
                         progress: (ProfilerEvent) -> Void = { _ in })
        throws -> (measurements: [ValidationMeasurement], noise: ProfileNoise?, cores: [Int]) {
        let name = device.name
        var planned: [HarnessNetwork] = []
        do {
            for (index, architecture) in architectures.enumerated() {
                planned.append(try HarnessNetwork(graph: architecture.lowered(), name: "arch\(index)", dtype: .int8,
                                                  seed: 5000 + UInt64(index)))
            }
        } catch {
            throw ProfileError(device: name, step: "plan networks", reason: "\(error)")
        }
        let workDirectory = Self.workDirectory(device: name)
        defer { try? FileManager.default.removeItem(atPath: workDirectory) }
        let runner = makeRunner(for: device)
        defer { try? runner.cleanup() }
        let harness = try stageHarness(runner: runner, workDirectory: workDirectory, progress: progress)
        let session = RoundMeasurement(harness: harness, options: options, device: name)
        let timings = try session.measure(planned, phase: "architectures (\(planned.count))", progress: progress)
        func normalizedIfAsked(_ summary: TimingSummary) -> TimingSummary {
            guard let speedProbe, speedProbe.normalizedTimings else { return summary }
            return summary.normalized(referenceNanoseconds: speedProbe.milliseconds * 1e6) ?? summary
        }
        let measurements = zip(architectures, planned).map { architecture, network in
            ValidationMeasurement(name: architecture.name, timing: normalizedIfAsked(timings[network.name]!.summary),
                                  outputChecksum: timings[network.name]!.checksum)
        }
        return (measurements, session.noise.first, session.cores.sorted())
    }

    /// Runs the measurement and writes the profile to `path` atomically. On any failure nothing is
    /// written, so an earlier profile at `path` stays as it was.
    @discardableResult
    public func run(writingTo path: String, progress: (ProfilerEvent) -> Void = { _ in }) throws -> DeviceProfile {
        let profile = try run(progress: progress)
        try profile.write(to: path)
        return profile
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

/// One architecture timed by `Profiler.validate` (microseconds, the profile's estimator).
public struct ValidationMeasurement: Sendable, Equatable {
    public var name: String
    public var timing: TimingSummary
    public var outputChecksum: String

    /// The estimate in milliseconds.
    public var measuredMilliseconds: Double { timing.medianMicroseconds / 1000 }
}
