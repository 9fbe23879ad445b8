import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// The profiler's harness and the predictor lay out concats as an export does (`ActivationLayout.exported`,
/// the exporter's own decision; docs/devices.md, "Predictor").
@Suite("Concat layout shared by exporter, harness and predictor")
struct ConcatLayoutTests {
    static let cell = BuiltinArchitectures.architecture(named: "shrinkcnn-full")!.lowered()

    static func concatSteps(_ graph: LayerGraph) -> [Int] {
        graph.layers.indices.filter { if case .concat = graph.layers[$0].operation { return true }; return false }
    }

    @Test("the harness plan of a cell network has a slice line for every tensor the export places in another's buffer")
    func harnessPlanFollowsLayout() throws {
        let graph = Self.cell
        let layout = ActivationLayout.exported(graph)
        // The exporter's int8 call (ExportPipeline: optimized with its default planner, fused adds) gives the same layout.
        #expect(layout.placements == ActivationLayout.optimized(graph: graph, planner: GreedyBySizePlanner(), fuseAdds: true).placements)
        let inPlaceInputs = Self.concatSteps(graph).flatMap { step in
            graph.layers[step].inputs.filter { !(layout.concatCopies[step] ?? []).contains($0) }
        }
        #expect(!inPlaceInputs.isEmpty, "a full 5-node cell writes concat inputs into their slices")

        let network = try HarnessNetwork(graph: graph, name: "cell", dtype: .int8, seed: 1)
        let slices = Set(network.body.filter { $0.hasPrefix("slice ") })
        var expected = Set<String>()
        for (tensor, placement) in layout.placements.enumerated() {
            switch placement {
            case .buffer, .fused: break
            case .slice(let parent, let offset): expected.insert("slice \(tensor) \(parent) \(offset)")
            case .inPlace(let parent): expected.insert("slice \(tensor) \(parent) 0")
            }
        }
        #expect(slices == expected)
        #expect(network.body.filter { $0.hasPrefix("tensor ") }.count == graph.tensors.count)
    }

    @Test("the predictor charges a concat only for the inputs the export copies")
    func predictorCountsCopiedInputs() throws {
        let graph = Self.cell
        let layout = ActivationLayout.exported(graph)
        // Every kernel configuration of the network (full concats too) in the table, 1 us each; the
        // partially copied concats' smaller copies too, 1 us each.
        var entries: [OperatorConfiguration: Double] = [:]
        for layer in graph.layers {
            if let configuration = try OperatorConfiguration(layer: layer, in: graph, dtype: .int8) { entries[configuration] = 1 }
        }
        for step in graph.layers.indices {
            if let executed = try ProfileLatencyPredictor.executedConfiguration(step: step, in: graph, layout: layout, dtype: .int8) {
                entries[executed] = 1
            }
        }
        let predictor = ProfileLatencyPredictor(profile: handMadeProfile(entries.map { ($0.key, $0.value) }), identity: "bench@test")
        let predictions = try predictor.layerPredictions(graph)
        var expectedMicroseconds = 0.0
        for (step, layer) in graph.layers.enumerated() {
            let prediction = predictions[step]
            switch layer.operation {
            case .concat:
                let copied = layout.concatCopies[step] ?? []
                if copied.isEmpty {
                    #expect(prediction.configuration == nil && prediction.source == .none && prediction.tableMicroseconds == 0,
                            "\(layer.name): all inputs in place, no kernel")
                } else {
                    let configuration = try #require(prediction.configuration)
                    #expect(configuration.inputs == copied.count)
                    #expect(configuration.outputChannels == copied.reduce(0) { $0 + graph.tensors[$1].channels })
                    expectedMicroseconds += 1
                }
            case .dropout:
                #expect(prediction.configuration == nil)
            case _ where layout.fusion.isFusedConvolution(step: step):
                #expect(prediction.configuration == nil && prediction.tableMicroseconds == 0, "\(layer.name) runs inside its add")
            case .add where layout.fusion.pair(add: step) != nil:
                #expect(prediction.configuration?.kind == .pointwiseAdd && prediction.tableMicroseconds == 1)
                expectedMicroseconds += 1
            default:
                #expect(prediction.tableMicroseconds == 1)
                expectedMicroseconds += 1
            }
        }
        #expect(abs(try predictor.tableSumMilliseconds(graph) - expectedMicroseconds / 1000) < 1e-12)
        let fullCopy = graph.layers.filter { if case .dropout = $0.operation { return false }; return true }.count
        #expect(expectedMicroseconds < Double(fullCopy), "in-place concats cost nothing")
    }

    @Test("concat parts: each copied input with its channels, requantized unless it shares the concat's quantization (as the export decides)")
    func concatPartsFollowTheExport() throws {
        // tools/predictor-eval's cell4-w48: stem conv 32, a full 4-node cell, stages of 48 and 96. Its
        // export (`autoshrink export`, model.c of 2026-12-01) runs cell0.node2.concat as
        // as_requantize_s8(stem0) + as_copy_channels_s8(cell0.node1.pointwise), and cell0.node3.concat as
        // requantize(stem0) + copy(node1) + requantize(node2): the concats' ranges are the hull of their
        // inputs', node1's range was the widest, so they took its scale (the rule takes the widest input,
        // the first of equals).
        let operations: [NodeOperation] = [.input, .sepconv3x3, .conv1x1, .sepconv3x3]
        let architecture = Architecture(name: "cell4-w48", input: InputShape(channels: 1, height: 28, width: 28), classes: 10,
                                        stem: [StemLayer(.conv, outputChannels: 32, kernel: 3, stride: 1)],
                                        cell: .fullyConnected(operations: operations),
                                        stages: [Stage(width: 48, pool: 1), Stage(width: 96, pool: 2)])
        let graph = architecture.lowered()
        let layout = ActivationLayout.exported(graph)
        func executed(_ name: String) throws -> OperatorConfiguration? {
            let step = try #require(graph.layers.firstIndex { $0.name == name })
            return try ProfileLatencyPredictor.executedConfiguration(step: step, in: graph, layout: layout, dtype: .int8)
        }
        #expect(try executed("cell0.node2.concat")?.parts == [ConcatPart(channels: 32, requantized: true), ConcatPart(channels: 48, requantized: false)])
        #expect(try executed("cell0.node3.concat")?.parts == [ConcatPart(channels: 32, requantized: true), ConcatPart(channels: 48, requantized: false),
                                                              ConcatPart(channels: 48, requantized: true)])
        #expect(try executed("cell1.node2.concat") == nil, "all inputs in place")
        // The harness plan runs the same parts: a flag per input after the inputs.
        let network = try HarnessNetwork(graph: graph, name: "cell4-w48", dtype: .int8, seed: 1)
        let step = try #require(graph.layers.firstIndex { $0.name == "cell0.node3.concat" })
        let line = "concat \(graph.layers[step].output) 3 " + graph.layers[step].inputs.map(String.init).joined(separator: " ") + " 1 0 1"
        #expect(network.body.contains(line), "\(network.body.filter { $0.hasPrefix("concat") })")
        // float32 has no requantization: its parts are keyed as the table's rows.
        let floatStep = try #require(graph.layers.firstIndex { $0.name == "cell0.node2.concat" })
        let float = try ProfileLatencyPredictor.executedConfiguration(step: floatStep, in: graph, layout: layout, dtype: .float32)
        #expect(float?.parts.map(\.requantized) == [false, true])
    }

    @Test("a network laid out in slices of an arena computes what the same network with copied concats and own buffers computes")
    func harnessSlicesComputeTheSame() throws {
        let directory = try TemporaryDirectory("harness-slices")
        defer { directory.remove() }
        let harness = try stagedHarness(localDevice(), in: directory)
        defer { try? harness.runner.cleanup() }
        // float32: a copied concat is an exact copy, so only wrong slice offsets or strides change the output.
        var networks: [HarnessNetwork] = []
        for (index, graph) in [Self.cell, BuiltinArchitectures.refnet().lowered()].enumerated() {
            let laidOut = try HarnessNetwork(graph: graph, name: "laid-out-\(index)", dtype: .float32, seed: 9)
            var copied = laidOut
            copied.name = "copied-\(index)"
            copied.body = laidOut.body.filter { !$0.hasPrefix("slice ") && !$0.hasPrefix("arena ") && !$0.hasPrefix("at ") }
            networks += [laidOut, copied]
        }
        #expect(networks[0].body.contains { $0.hasPrefix("slice ") } && networks[0].body.contains { $0.hasPrefix("arena ") })
        let output = try harness.check(networks, timeout: 60)
        for index in 0..<2 {
            let laidOut = try #require(output.checksums["laid-out-\(index)"]), copied = try #require(output.checksums["copied-\(index)"])
            #expect(laidOut.output == copied.output, "network \(index)")
        }
    }
}
