import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// The profiler runs and predicts the fused int8 convolution + add as an export runs it (AddFusion,
/// docs/benchmarks.md "fused add"): its harness plans call `pointwise_add` where the export calls
/// as_pointwise_conv_add_s8, and the predictor charges the pair as one `pointwise_add` row.
@Suite("Fused pointwise conv + add in the profiler")
struct FusedAddHarnessTests {
    /// The n812 search result (cell 0 reduces: its projection fuses; cell 1's single leaf's pointwise fuses).
    static let graph = Architecture(
        name: "n812", input: InputShape(channels: 1, height: 28, width: 28), classes: 10,
        stem: [StemLayer(.conv, outputChannels: 32, kernel: 3, stride: 2)],
        cell: CellDAG(nodes: 4, operations: [.input, .sepconv3x3, .conv1x1, .sepconv3x3], edges: [Edge(0, 2), Edge(0, 3), Edge(2, 3)]),
        stages: [Stage(width: 48, pool: 2, cells: 2)]).lowered()

    @Test("int8 harness plans run pointwise_add for the fused pairs; float32 plans run the two layers")
    func harnessPlan() throws {
        let fusion = AddFusion(graph: Self.graph)
        #expect(fusion.pairs.count == 2)
        let int8 = try HarnessNetwork(graph: Self.graph, name: "n812", dtype: .int8, seed: 3)
        let fused = int8.body.filter { $0.hasPrefix("pointwise_add ") }
        #expect(fused.count == 2)
        for pair in fusion.pairs.values {
            let convolution = Self.graph.layers[pair.convolution]
            #expect(fused.contains { $0.hasPrefix("pointwise_add \(Self.graph.layers[pair.add].output) \(convolution.inputs[0]) ") && $0.hasSuffix(" \(convolution.output) \(pair.other)") })
            #expect(!int8.body.contains { $0.hasPrefix("pointwise \(convolution.output) ") })
        }
        let float = try HarnessNetwork(graph: Self.graph, name: "n812", dtype: .float32, seed: 3)
        #expect(!float.body.contains { $0.hasPrefix("pointwise_add") })
        #expect(float.body.filter { $0.hasPrefix("add ") }.count == 2)
    }

    @Test("the predictor charges a fused pair once, as its pointwise_add row, or as pointwise + add without such rows")
    func predictorChargesThePair() throws {
        let layout = ActivationLayout.exported(Self.graph)
        var entries: [OperatorConfiguration: Double] = [:]
        for (step, layer) in Self.graph.layers.enumerated() {
            if let configuration = try OperatorConfiguration(layer: layer, in: Self.graph, dtype: .int8) { entries[configuration] = 10 }
            if let executed = try ProfileLatencyPredictor.executedConfiguration(step: step, in: Self.graph, layout: layout, dtype: .int8) {
                entries[executed] = executed.kind == .pointwiseAdd ? 15 : 10
            }
        }
        let predictor = ProfileLatencyPredictor(profile: handMadeProfile(entries.map { ($0.key, $0.value) }), identity: "bench@test")
        let predictions = try predictor.layerPredictions(Self.graph)
        for pair in layout.fusion.pairs.values {
            #expect(predictions[pair.convolution].configuration == nil && predictions[pair.convolution].tableMicroseconds == 0)
            #expect(predictions[pair.add].configuration?.kind == .pointwiseAdd && predictions[pair.add].tableMicroseconds == 15)
        }
        // a table without pointwise_add rows: the pointwise convolution's and the add's times
        let withoutFused = entries.filter { $0.key.kind != .pointwiseAdd }
        let fallback = ProfileLatencyPredictor(profile: handMadeProfile(withoutFused.map { ($0.key, $0.value) }), identity: "bench@test")
        let estimates = try fallback.layerPredictions(Self.graph)
        for pair in layout.fusion.pairs.values {
            #expect(estimates[pair.add].tableMicroseconds == 20)
        }
        // float32 predictions run the two layers
        let float = ProfileLatencyPredictor(profile: handMadeProfile(entries.map { (key, value) in
            var copy = key
            copy.dtype = .float32
            return (copy, value)
        }.filter { $0.0.kind != .pointwiseAdd }), identity: "bench@test", dtype: .float32)
        let floatPredictions = try float.layerPredictions(Self.graph)
        #expect(!floatPredictions.contains { $0.configuration?.kind == .pointwiseAdd })
    }

    @Test("the harness's pointwise_add computes what pointwise then add compute", .enabled(if: findExecutable("gcc") != nil, "gcc not installed"))
    func harnessFusedMatchesUnfused() throws {
        let directory = try TemporaryDirectory("harness-fused-add")
        defer { directory.remove() }
        let harness = try stagedHarness(localDevice(), in: directory)
        defer { try? harness.runner.cleanup() }
        let fused = try HarnessNetwork(graph: Self.graph, name: "fused", dtype: .int8, seed: 11)
        var unfused = fused
        unfused.name = "unfused"
        unfused.body = fused.body.flatMap { line -> [String] in
            guard line.hasPrefix("pointwise_add ") else { return [line] }
            let v = line.split(separator: " ").dropFirst().map(String.init)  // OUT IN STRIDE ACT MID OTHER
            return ["pointwise \(v[4]) \(v[1]) \(v[2]) \(v[3])", "add \(v[0]) \(v[4]) \(v[5])"]
        }
        let single = HarnessNetwork(operator: OperatorConfiguration(kind: .pointwiseAdd, dtype: .int8, inputChannels: 32,
                                                                    outputChannels: 48, height: 14, width: 14, stride: 2),
                                    name: "single", seed: 5)
        let output = try harness.check([fused, unfused, single], timeout: 60)
        let a = try #require(output.checksums["fused"]), b = try #require(output.checksums["unfused"])
        #expect(a.output == b.output)
        #expect(output.checksums["single"] != nil)
    }
}
