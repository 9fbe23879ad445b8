import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkProfiler

/// The predictor's generalisation parts on synthetic tables with known coefficients: per-kind cost
/// models (α·MACs + β·bytes + γ) and the interpolation of shapes the table lacks, and the network latency
/// model chosen by cross-validation (docs/devices.md, "Predictor").
@Suite("Operator cost models and the network latency model")
struct CostModelTests {
    static func pointwise(_ inputChannels: Int, _ outputChannels: Int, _ side: Int, stride: Int = 1) -> OperatorConfiguration {
        OperatorConfiguration(kind: .pointwise, dtype: .int8, inputChannels: inputChannels, outputChannels: outputChannels,
                              height: side, width: side, stride: stride)
    }

    /// The known truth: 2 us per million MACs, 0.05 us per KiB moved, 1.5 us per call.
    static func truth(_ configuration: OperatorConfiguration) -> Double {
        let features = OperatorCostModel.features(configuration)
        return 2 * features[0] + 0.05 * features[1] + 1.5
    }

    /// Pointwise rows over channels 16..96 and sides 7/14/28.
    static func table() -> [(configuration: OperatorConfiguration, microseconds: Double)] {
        var rows: [(configuration: OperatorConfiguration, microseconds: Double)] = []
        for side in [7, 14, 28] {
            for (input, output) in [(16, 16), (32, 16), (48, 16), (32, 32), (64, 32), (96, 32), (64, 64), (128, 64)] {
                let configuration = pointwise(input, output, side)
                rows.append((configuration, truth(configuration)))
            }
        }
        return rows
    }

    @Test("non-negative least squares on the table recovers the known per-kind coefficients")
    func recoversCoefficients() throws {
        let model = try #require(OperatorCostModel.fit(kind: .pointwise, dtype: .int8, rows: Self.table()))
        print("cost model: \(model.microsecondsPerMegaMAC) us/MMAC, \(model.microsecondsPerKiB) us/KiB, \(model.interceptMicroseconds) us; leave-one-out \(model.leaveOneOutMAPE)")
        #expect(abs(model.microsecondsPerMegaMAC - 2) < 1e-6)
        #expect(abs(model.microsecondsPerKiB - 0.05) < 1e-6)
        #expect(abs(model.interceptMicroseconds - 1.5) < 1e-6)
        #expect(model.microsecondsPerInput == 0)
        // Exact data: the model's leave-one-out error is ~0, far below interpolation by MACs alone.
        #expect((model.leaveOneOutMAPE["model"] ?? 1) < 1e-6)
        #expect((model.leaveOneOutMAPE["work"] ?? 0) > 1)
        #expect(model.method == .model || model.method == .anchored)
    }

    @Test("shapes outside the table (other channels, resolutions) are estimated by the cost model, not by MACs")
    func interpolatesHeldOutShapes() throws {
        let rows = Self.table()
        let entries = rows.map { ProfileEntry(configuration: $0.configuration, medianMicroseconds: $0.microseconds,
                                              p10Microseconds: $0.microseconds, p90Microseconds: $0.microseconds, repetitions: 3, batch: 1) }
        var profile = handMadeProfile(rows.map { ($0.configuration, $0.microseconds) })
        profile.predictor.costModels = OperatorCostModel.fitAll(entries)
        let predictor = ProfileLatencyPredictor(profile: profile, identity: "bench@test")
        var old = profile
        old.predictor.costModels = nil
        let oldPredictor = ProfileLatencyPredictor(profile: old, identity: "bench@old")
        // Wider, narrower, other resolutions and strided: none of them is a row.
        let heldOut = [Self.pointwise(24, 40, 14), Self.pointwise(192, 96, 14), Self.pointwise(64, 64, 56), Self.pointwise(8, 8, 10),
                       Self.pointwise(80, 48, 28), Self.pointwise(64, 128, 28, stride: 2)]
        var worstNew = 0.0, worstOld = 0.0
        for configuration in heldOut {
            let (time, source) = try predictor.tableTime(configuration)
            guard case .interpolated = source else { Issue.record("\(configuration) was in the table"); continue }
            let expected = Self.truth(configuration)
            worstNew = max(worstNew, abs(time - expected) / expected)
            worstOld = max(worstOld, abs(try oldPredictor.tableTime(configuration).microseconds - expected) / expected)
        }
        print(String(format: "held-out synthetic shapes: worst error %.2g %% with cost models, %.1f %% by MACs", 100 * worstNew, 100 * worstOld))
        #expect(worstNew < 1e-6)
        #expect(worstOld > 0.05)
    }

    @Test("concat parts: the cost model tells copied from requantized bytes and prices uneven parts it never saw")
    func concatPartsCostModel() throws {
        // The known truth: copied bytes 0.01 us/KiB, requantized 0.06 us/KiB, 0.2 us per part, 0.3 us per call.
        func truth(_ c: OperatorConfiguration) -> Double {
            let f = OperatorCostModel.features(c)
            return 0.01 * f[1] + 0.06 * f[5] + 0.2 * f[2] + 0.3
        }
        func concat(_ widths: [Int], requantized: [Bool], side: Int) -> OperatorConfiguration {
            .concat(zip(widths, requantized).map { ConcatPart(channels: $0, requantized: $1) }, dtype: .int8, height: side, width: side)
        }
        var rows: [(configuration: OperatorConfiguration, microseconds: Double)] = []
        for side in [7, 14, 28] {
            for (channels, count) in [(32, 2), (48, 3), (64, 2), (64, 4), (96, 3), (128, 2)] {
                let even = OperatorConfiguration(kind: .concat, dtype: .int8, inputChannels: channels, outputChannels: channels,
                                                 height: side, width: side, inputs: count)
                #expect(even.parts.count == count && even.parts[0].requantized == false && even.parts.dropFirst().allSatisfy(\.requantized))
                rows.append((even, truth(even)))
            }
        }
        let model = try #require(OperatorCostModel.fit(kind: .concat, dtype: .int8, rows: rows))
        #expect(abs(model.microsecondsPerKiB - 0.01) < 1e-6 && abs((model.microsecondsPerRequantizedKiB ?? 0) - 0.06) < 1e-6)
        // cell4-w48's concats: a requantized 32 and a copied 48; requantized 32 + copied 48 + requantized 48.
        for missing in [concat([32, 48], requantized: [true, false], side: 28), concat([32, 48, 48], requantized: [true, false, true], side: 28),
                        concat([20, 20, 20, 20], requantized: [true, true, true, true], side: 14)] {
            var byModel = model
            byModel.method = .model
            #expect(abs(byModel.estimate(missing, from: rows).microseconds / truth(missing) - 1) < 1e-6, "\(missing)")
        }
        // Rows with explicit parts round-trip through a profile entry.
        let uneven = concat([32, 48], requantized: [true, false], side: 28)
        let entry = ProfileEntry(configuration: uneven, medianMicroseconds: 1, p10Microseconds: 1, p90Microseconds: 1, repetitions: 1, batch: 1)
        #expect(entry.configuration == uneven && entry.partChannels == [32, 48] && entry.partRequantized == [true, false])
        #expect(uneven.description == "concat int8 80ch/2[32r,48c] 28x28")
    }

    @Test("the network model's intercept is kept >= 0: a negative one is refitted away, a positive one recovered")
    func interceptIsNonNegative() throws {
        func samples(intercept: Double) -> [(features: [String: Double], measured: Double)] {
            (0..<20).map { index in
                let table = 0.01 + 0.02 * Double(index % 7), layers = Double(8 + 3 * (index % 5))
                return (["table_sum_ms": table, "layers": layers, "intercept": 1], 0.95 * table + 0.0002 * layers + intercept)
            }
        }
        let features: [LatencyFeature] = [.tableSum, .layers, .intercept]
        let positive = try #require(LatencyModel.fit(features, samples: samples(intercept: 0.001)))
        #expect(abs(positive.first { $0.feature == .intercept }!.coefficient - 0.001) < 1e-9)
        let bounded = try #require(LatencyModel.fit(features, samples: samples(intercept: -0.001)))
        #expect(bounded.first { $0.feature == .intercept }!.coefficient == 0)
        #expect(bounded.map(\.feature) == features)
    }

    @Test("anchored estimates keep a row's local effect that the linear model cannot see")
    func anchoredKeepsLocalEffects() throws {
        // Rows at side 14 run 30 % slower than the linear model (say, a cache effect); the other sides follow it.
        let rows = Self.table().map { row in (row.configuration, row.configuration.height == 14 ? 1.3 * row.microseconds : row.microseconds) }
        let model = try #require(OperatorCostModel.fit(kind: .pointwise, dtype: .int8, rows: rows))
        #expect(model.method == .anchored)
        var anchored = model
        anchored.method = .anchored
        let missing = Self.pointwise(40, 24, 14)
        let estimate = anchored.estimate(missing, from: rows).microseconds
        #expect(abs(estimate / (1.3 * Self.truth(missing)) - 1) < 0.05)
    }

    @Test("anchored2 is the geometric mean of the two nearest rows, each scaled by the model's ratio")
    func anchoredPairAveragesTwoRows() throws {
        // Two rows around a missing shape: one measured 20 % above the model, one 20 % below (noise or a
        // local effect of one row); the pair's estimate is the model's, the single anchor's is the nearer row's.
        let model = try #require(OperatorCostModel.fit(kind: .pointwise, dtype: .int8, rows: Self.table()))
        let missing = Self.pointwise(64, 128, 14)
        let near = Self.pointwise(128, 128, 14), farther = Self.pointwise(64, 32, 14)
        let rows = [(configuration: near, microseconds: 1.2 * model.microseconds(near)),
                    (configuration: farther, microseconds: 0.8 * model.microseconds(farther)),
                    (configuration: Self.pointwise(8, 8, 28), microseconds: 5 * model.microseconds(Self.pointwise(8, 8, 28)))]
        #expect(OperatorCostModel.nearest(missing, rows: rows, count: 2).map(\.configuration) == [near, farther])
        #expect(OperatorCostModel.nearest(missing, rows: rows, count: 5).count == 3)
        var single = model, pair = model
        single.method = .anchored
        pair.method = .anchoredPair
        let one = single.estimate(missing, from: rows), two = pair.estimate(missing, from: rows)
        #expect(one.from == [near] && abs(one.microseconds / (1.2 * model.microseconds(missing)) - 1) < 1e-9)
        #expect(two.from == [near, farther])
        #expect(abs(two.microseconds / ((1.2 * 0.8).squareRoot() * model.microseconds(missing)) - 1) < 1e-9)
        #expect(InterpolationMethod(rawValue: "anchored2") == .anchoredPair)
    }

    @Test("the network model recovers known per-kind coefficients and picks the simplest model that explains the data")
    func networkModelSelection() throws {
        var generator = ProfileRandom(seed: 7)
        func uniform() -> Double { Double(generator.next() % 1_000_000) / 1_000_000 }
        var features: [[String: Double]] = []
        for _ in 0..<40 {
            let dense = 0.01 + 0.05 * uniform(), pointwise = 0.02 + 0.1 * uniform(), depthwise = 0.01 + 0.04 * uniform()
            let memory = 0.005 + 0.03 * uniform()
            features.append(["dense_table_ms": dense, "pointwise_table_ms": pointwise, "depthwise_table_ms": depthwise,
                             "memory_table_ms": memory, "compute_table_ms": dense + pointwise + depthwise,
                             "table_sum_ms": dense + pointwise + depthwise + memory, "layers": Double(10 + Int(uniform() * 30)),
                             "traffic_mib": 0.1 * uniform(), "intercept": 1])
        }
        // Per-kind truth: pointwise 0.8, depthwise 1.4, the rest 1.0, 1 us per layer, 2 us intercept.
        let perKind = features.map { f in
            (f, 1.0 * f["dense_table_ms"]! + 0.8 * f["pointwise_table_ms"]! + 1.4 * f["depthwise_table_ms"]! + 1.0 * f["memory_table_ms"]!
                + 0.001 * f["layers"]! + 0.002)
        }
        let chosen = try #require(LatencyModel.select(samples: perKind))
        print("selected \(chosen.name): \(chosen.formula); CV \(chosen.crossValidationMAPE)")
        #expect(chosen.name == "per-kind")
        let coefficients = Dictionary(uniqueKeysWithValues: chosen.terms.map { ($0.feature, $0.coefficient) })
        #expect(abs(coefficients[.pointwiseTable]! - 0.8) < 1e-6)
        #expect(abs(coefficients[.depthwiseTable]! - 1.4) < 1e-6)
        #expect(abs(coefficients[.layers]! - 0.001) < 1e-8)
        #expect(abs(coefficients[.intercept]! - 0.002) < 1e-8)

        // Data of the plain calibration: the simplest candidate wins the tie.
        let plain = features.map { f in (f, 0.76 * f["table_sum_ms"]! + 0.0008 * f["layers"]! + 0.001) }
        let simple = try #require(LatencyModel.select(samples: plain))
        #expect(simple.name == "table")
        #expect(abs(simple.latency(plain[3].0) - plain[3].1) < 1e-9)

        // A traffic term is found when memory traffic costs extra.
        let traffic = features.map { f in (f, 0.9 * f["table_sum_ms"]! + 0.0005 * f["layers"]! + 0.2 * f["traffic_mib"]! + 0.001) }
        #expect(try #require(LatencyModel.select(samples: traffic)).name == "table+traffic")

        // Every candidate charges each kernel call, even on data without a per-call cost (a model without the
        // term predicted small cell networks up to 15 % fast: docs/devices.md, "A per-call term in every model").
        #expect(LatencyModel.candidates.allSatisfy { $0.features.contains(.layers) })
        let noCallCost = features.map { f in (f, 0.9 * f["table_sum_ms"]! + 0.001) }
        let kept = try #require(LatencyModel.select(samples: noCallCost))
        #expect(kept.terms.contains { $0.feature == .layers } && abs(kept.latency(noCallCost[5].0) - noCallCost[5].1) < 1e-9)
    }

    @Test("a profile with a latency model predicts with it, per-layer shares sum to the total minus the intercept, and round-trips")
    func profileWithModel() throws {
        let refnet = PredictorTests.refnet
        var profile = handMadeProfile(try PredictorTests.refnetEntries())
        profile.predictor.latencyModel = LatencyModel(name: "compute/memory", terms: [
            LatencyTerm(feature: .computeTable, coefficient: 0.5), LatencyTerm(feature: .memoryTable, coefficient: 2),
            LatencyTerm(feature: .layers, coefficient: 0.01), LatencyTerm(feature: .intercept, coefficient: 0.1),
        ])
        let predictor = ProfileLatencyPredictor(profile: profile, identity: "bench@test")
        let layers = try predictor.layerPredictions(refnet)
        let compute = layers.filter { $0.configuration?.kind.isMACBound == true }.reduce(0) { $0 + $1.tableMicroseconds } / 1000
        let memory = layers.filter { $0.configuration.map { !$0.kind.isMACBound } ?? false }.reduce(0) { $0 + $1.tableMicroseconds } / 1000
        let expected = 0.5 * compute + 2 * memory + 0.01 * 8 + 0.1
        #expect(abs(try predictor.predictLatencyMilliseconds(refnet) - expected) < 1e-12)
        #expect(abs(predictor.layerLatencies(refnet).reduce(0) { $0 + $1.milliseconds } - (expected - 0.1)) < 1e-12)

        let directory = try TemporaryDirectory("profile")
        defer { directory.remove() }
        let path = directory.file("bench.json")
        try profile.write(to: path)
        #expect(try DeviceProfile.load(path: path).predictor == profile.predictor)
        // A model predicting a negative latency for a timed network is refused with the fix.
        profile.networks = [NetworkMeasurement(name: "net0", role: "fit", edges: nil, layers: 8, macs: 1, tableSumMilliseconds: 0.36,
                                               measuredMilliseconds: 0.3, p10Milliseconds: 0.3, p90Milliseconds: 0.3,
                                               predictedMilliseconds: 0.3, outputChecksum: "0", features: ["intercept": 1, "layers": 8])]
        profile.predictor.latencyModel?.terms[3].coefficient = -1
        try profile.write(to: path)
        #expect(throws: ProfileError.self) { try DeviceProfile.load(path: path) }
    }
}
