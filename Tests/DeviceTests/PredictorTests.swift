import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// A profile made by hand: `entries` as (configuration, median us), the given calibration and runtime hash.
func handMadeProfile(_ entries: [(OperatorConfiguration, Double)], calibration: LatencyCalibration = .identity,
                     runtimeHash: String = RuntimeSources.hash, deviceName: String = "bench",
                     environment: DeviceEnvironment = .thisMachine()) -> DeviceProfile {
    DeviceProfile(
        device: ProfileDevice(name: deviceName, description: localDevice(name: deviceName)),
        runtime: ProfileRuntime(hash: runtimeHash, simdPath: "portable"),
        environment: environment,
        space: ProfileSpace.quick().summary,
        measurement: ProfileMeasurementSettings(repeats: 5, rounds: 1, sampleMicroseconds: 100, outlierRule: "none"),
        entries: entries.map { ProfileEntry(configuration: $0.0, medianMicroseconds: $0.1, p10Microseconds: $0.1 * 0.9,
                                            p90Microseconds: $0.1 * 1.1, repetitions: 5, batch: 1) },
        networks: [],
        predictor: PredictorSummary(model: "test", dtype: .int8, calibration: calibration, method: "by hand",
                                    fitNetworks: 0, heldoutNetworks: 0),
        harness: HarnessSummary(peakRSSBytes: 1 << 20, runs: 1),
        created: "2025-01-01T00:00:00Z", seconds: 1)
}

@Suite("Latency predictor and profile files")
struct PredictorTests {
    static let refnet = BuiltinArchitectures.refnet().lowered()

    /// refnet's eight kernel layers with table times 10, 20, ..., 80 us.
    static func refnetEntries() throws -> [(OperatorConfiguration, Double)] {
        try refnet.layers.compactMap { try OperatorConfiguration(layer: $0, in: refnet, dtype: .int8) }
            .enumerated().map { ($1, Double(10 * ($0 + 1))) }
    }

    @Test("table sum, calibration and per-layer latencies on a hand-made profile")
    func arithmetic() throws {
        let calibration = LatencyCalibration(tableScale: 2, perLayerMilliseconds: 0.01, interceptMilliseconds: 0.1)
        let predictor = ProfileLatencyPredictor(profile: handMadeProfile(try Self.refnetEntries(), calibration: calibration),
                                                identity: "bench@test")
        #expect(abs(try predictor.tableSumMilliseconds(Self.refnet) - 0.36) < 1e-12)
        // 2 * 0.36 + 0.01 * 8 + 0.1
        #expect(abs(try predictor.predictLatencyMilliseconds(Self.refnet) - 0.9) < 1e-12)
        let layers = predictor.layerLatencies(Self.refnet)
        #expect(layers.map(\.name) == Self.refnet.layers.map(\.name))
        #expect(abs(layers[0].milliseconds - (2 * 0.010 + 0.01)) < 1e-12)
        #expect(abs(layers.reduce(0) { $0 + $1.milliseconds } - (0.9 - 0.1)) < 1e-12)
        #expect(try predictor.layerPredictions(Self.refnet).allSatisfy { $0.source == .measured })
        #expect(try predictor.missingConfigurations(Self.refnet).isEmpty)

        // A negative total is clamped at 0.
        let negative = LatencyCalibration(tableScale: 1, perLayerMilliseconds: 0, interceptMilliseconds: -5)
        #expect(negative.latency(tableSumMilliseconds: 1, layers: 3) == 0)
    }

    @Test("a missing configuration is interpolated by MACs between the nearest entries of its kind, and says so")
    func interpolation() throws {
        var entries = try Self.refnetEntries()
        let missing = entries.remove(at: 3).0  // pointwise 32 -> 64 at 14x14: 401,408 MACs
        #expect(missing.kind == .pointwise && missing.height == 14)
        func pointwise(_ inputChannels: Int, _ outputChannels: Int) -> OperatorConfiguration {
            OperatorConfiguration(kind: .pointwise, dtype: .int8, inputChannels: inputChannels, outputChannels: outputChannels,
                                  height: 14, width: 14)
        }
        entries.append((pointwise(32, 32), 15))  // 200,704 MACs
        entries.append((pointwise(64, 64), 45))  // 802,816 MACs: missing lies 1/3 of the way
        // The linear layer is replaced by a half-size one: outside the measured range it scales with MACs.
        entries.removeAll { $0.0.kind == .linear }
        entries.append((OperatorConfiguration(kind: .linear, dtype: .int8, inputChannels: 64, outputChannels: 10, height: 1, width: 1), 8))
        let predictor = ProfileLatencyPredictor(profile: handMadeProfile(entries), identity: "bench@test")

        let (time, source) = try predictor.tableTime(missing)
        #expect(abs(time - 25) < 1e-9)
        #expect(source == .interpolated(from: [pointwise(32, 32), pointwise(64, 64)]))
        let linearLayer = OperatorConfiguration(kind: .linear, dtype: .int8, inputChannels: 128, outputChannels: 10, height: 1, width: 1)
        #expect(abs(try predictor.tableTime(linearLayer).microseconds - 16) < 1e-9)
        #expect(Set(try predictor.missingConfigurations(Self.refnet)) == [missing, linearLayer])

        // No entry of the kind at all: a clear error, and NaN in the non-throwing per-layer list.
        let noDepthwise = ProfileLatencyPredictor(profile: handMadeProfile(entries.filter { $0.0.kind != .depthwise }), identity: "x")
        #expect(throws: ProfileError.self) { try noDepthwise.predictLatencyMilliseconds(Self.refnet) }
        #expect(noDepthwise.layerLatencies(Self.refnet)[2].milliseconds.isNaN)
    }

    @Test("least squares recovers the calibration of exact data; few networks fall back to a ratio")
    func fit() {
        let truth = LatencyCalibration(tableScale: 1.3, perLayerMilliseconds: 0.002, interceptMilliseconds: 0.05)
        let samples = (1...12).map { index -> LatencyFit.Sample in
            let sum = 0.1 * Double(index * index), layers = 10 + 3 * (index % 5)
            return LatencyFit.Sample(tableSumMilliseconds: sum, layers: layers,
                                     measuredMilliseconds: truth.latency(tableSumMilliseconds: sum, layers: layers))
        }
        let fitted = LatencyFit.fit(samples)
        #expect(abs(fitted.calibration.tableScale - 1.3) < 1e-9)
        #expect(abs(fitted.calibration.perLayerMilliseconds - 0.002) < 1e-9)
        #expect(abs(fitted.calibration.interceptMilliseconds - 0.05) < 1e-9)
        #expect(fitted.method.contains("least squares"))

        let few = LatencyFit.fit(Array(samples.prefix(3)).map { var s = $0; s.measuredMilliseconds = 2 * s.tableSumMilliseconds; return s })
        #expect(few.calibration == LatencyCalibration(tableScale: 2, perLayerMilliseconds: 0, interceptMilliseconds: 0))
        #expect(LatencyFit.fit([]).calibration == .identity)

        let accuracy = LatencyFit.accuracy([(1.05, 1), (0.5, 1), (2, 2), (1.2, 1)])
        #expect(accuracy?.within == 0.5)
        #expect(abs((accuracy?.mape ?? 0) - 18.75) < 1e-9)
        #expect(abs((accuracy?.maxError ?? 0) - 50) < 1e-9)
    }

    @Test("networks far from their table sums are named (the AVX2 channel-tail probes), the others and short lists are not")
    func tableMismatches() {
        // the AVX2 tier's profile before the channel-tail kernels: probe-refnet-0.625x 2.82x, cells-0.75x 2.04x,
        // refnet-1.25x 1.38x, the space's networks 1.00-1.05x (docs/benchmarks.md, "Channel tails")
        var networks: [(name: String, tableSum: Double, measured: Double)] = []
        for index in 1...9 {
            let tableSum = Double(index) * 0.01
            networks.append(("random-\(index)", tableSum, tableSum * (1 + 0.005 * Double(index))))
        }
        networks += [("probe-refnet-0.625x", 0.01866, 0.05267), ("probe-cells-0.75x", 0.1123, 0.2290),
                     ("probe-refnet-1.25x", 0.04693, 0.06495), ("too-fast", 0.1, 0.05), ("empty", 0, 0.01)]
        let mismatches = LatencyFit.tableMismatches(networks)
        #expect(mismatches.map(\.name) == ["probe-refnet-0.625x", "probe-cells-0.75x", "too-fast"])
        #expect(abs(mismatches[0].ratio - 0.05267 / 0.01866) < 1e-12)
        #expect(mismatches[0].medianRatio > 1 && mismatches[0].medianRatio < 1.05)
        #expect(mismatches[0].warning.hasPrefix("network probe-refnet-0.625x ran 2.82x its operator table sum"))
        #expect(LatencyFit.tableMismatches(Array(networks.suffix(2))).isEmpty)
        #expect(LatencyFit.tableMismatches(networks, factor: 1.3).map(\.name).contains("probe-refnet-1.25x"))
    }

    @Test("profiles round-trip through their JSON file, one table row per line; identity is the content hash")
    func roundTrip() throws {
        let directory = try TemporaryDirectory("profile")
        defer { directory.remove() }
        let profile = handMadeProfile(try Self.refnetEntries(), calibration: LatencyCalibration(tableScale: 1.1, perLayerMilliseconds: 0.001, interceptMilliseconds: 0.02))
        let path = directory.file("profiles/bench.json")
        try profile.write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").filter { $0.contains("\"median_us\"") }.count == profile.entries.count)
        let loaded = try DeviceProfile.load(path: path)
        #expect(loaded.entries == profile.entries)
        #expect(loaded.predictor == profile.predictor)
        #expect(loaded.device == profile.device)
        let predictor = try ProfileLatencyPredictor.load(path: path)
        let data = try #require(FileManager.default.contents(atPath: path))
        #expect(predictor.identity == "bench@\(fnv1aHex(data).prefix(12))")
        #expect(predictor.identity.count == "bench@".count + 12)
    }

    @Test("a profile of other kernels is refused as stale with the command to fix it")
    func staleProfile() throws {
        let directory = try TemporaryDirectory("profile")
        defer { directory.remove() }
        let path = directory.file("old.json")
        try handMadeProfile(try Self.refnetEntries(), runtimeHash: String(repeating: "0123456789abcdef", count: 4)).write(to: path)
        #expect(throws: Never.self) { try DeviceProfile.load(path: path) }
        do {
            _ = try ProfileLatencyPredictor.load(path: path)
            Issue.record("a stale profile was accepted")
        } catch let error as ProfileError {
            #expect(error.description == "\(path): stale profile (made with runtime 0123456789ab, this autoshrink has \(RuntimeSources.hash.prefix(12))), re-run autoshrink profile")
        }
    }

    @Test("unknown versions, other formats and malformed profiles are one-line errors naming the file")
    func parseErrors() throws {
        let directory = try TemporaryDirectory("profile")
        defer { directory.remove() }
        let good = handMadeProfile(try Self.refnetEntries()).jsonText()
        func message(_ text: String) -> String {
            let path = directory.file("p.json")
            try? text.write(toFile: path, atomically: true, encoding: .utf8)
            do {
                _ = try ProfileLatencyPredictor.load(path: path)
                return "accepted"
            } catch {
                return "\(error)".replacingOccurrences(of: path, with: "P")
            }
        }
        #expect(good.contains("\"version\": 3,"))
        #expect(message(good.replacingOccurrences(of: "\"version\": 3,", with: "\"version\": 4,"))
                == "P: unsupported profile version 4 (this autoshrink reads version 3); re-run autoshrink profile")
        // Version 2 (harness networks that ran the fused int8 pointwise conv + add as two layers, no pointwise_add
        // rows) and version 1 (concat rows without parts, harness networks that copied every concat's first
        // input): refused with the same hint.
        #expect(message(good.replacingOccurrences(of: "\"version\": 3,", with: "\"version\": 2,"))
                == "P: unsupported profile version 2 (this autoshrink reads version 3); re-run autoshrink profile")
        #expect(message(good.replacingOccurrences(of: "\"version\": 3,", with: "\"version\": 1,"))
                == "P: unsupported profile version 1 (this autoshrink reads version 3); re-run autoshrink profile")
        #expect(message(good.replacingOccurrences(of: "\"format\": \"autoshrink.profile\"", with: "\"format\": \"autoshrink.architecture\""))
                == "P: not a device profile (format is 'autoshrink.architecture', expected 'autoshrink.profile')")
        #expect(message(good.replacingOccurrences(of: "\"entries\":", with: "\"entry\":"))
                == "P: missing key 'entries'")
        #expect(message(good.replacingOccurrences(of: "\"median_us\": 10,", with: "\"median_us\": \"fast\","))
                == "P: key 'entries[0].median_us': expected a number")
        #expect(message(good.replacingOccurrences(of: "\"median_us\": 10,", with: "\"median_us\": -10,"))
                == "P: malformed profile (entries[0]: times must be finite and >= 0)")
        #expect(message(good.replacingOccurrences(of: "\"median_us\": 10,", with: "\"median_us\": 10, \"part_channels\": [1], \"part_requantized\": [true],"))
                == "P: malformed profile (entries[0]: only concat rows have parts)")
        #expect(message(String(good.prefix(200))) == "P: not valid JSON")
        #expect(message("") == "P: not valid JSON")
        #expect(message(good.replacingOccurrences(of: "\"op\": \"convolution\"", with: "\"op\": \"winograd\""))
                == "P: key 'entries[0].op': invalid value (Cannot initialize OperatorKind from invalid String value winograd)")
        #expect(throws: ProfileError.self) { try ProfileLatencyPredictor.load(path: directory.file("missing.json")) }
    }
}
