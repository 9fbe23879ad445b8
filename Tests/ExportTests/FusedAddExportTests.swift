import AutoShrinkData
import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkExport

/// The int8 export runs the adds `AddFusion` picks inside their pointwise convolutions
/// (`as_pointwise_conv_add_s8`, docs/benchmarks.md "fused add"): the fused call is in model.c, the
/// convolution's output is never stored, and the binary prints exactly what the unfused export prints.
@Suite(.serialized, .enabled(if: ExportFixtures.hasGCC, "gcc not installed"))
struct FusedAddExportTests {
    /// The n812 search result's cell on 16x16 quadrants: node 2 = conv1x1(n0), node 3 = sepconv(n0, n2), one
    /// leaf; cell 0 reduces (stride-2 projection fused into its add), cell 1 adds node 3's pointwise output to
    /// its input (that pointwise convolution fused).
    static let architecture = Architecture(
        name: "fused-add", input: InputShape(channels: 1, height: 16, width: 16), classes: 4,
        stem: [StemLayer(.conv, outputChannels: 8, kernel: 3, stride: 1, activation: .relu)],
        cell: CellDAG(nodes: 4, operations: [.input, .sepconv3x3, .conv1x1, .sepconv3x3], edges: [Edge(0, 2), Edge(0, 3), Edge(2, 3)]),
        stages: [Stage(width: 16, pool: 2, cells: 2)], head: Head(dropout: 0))

    @Test("AddFusion picks the residual projection and the single leaf's pointwise convolution, not below 16 channels")
    func fusionRule() {
        let graph = Self.architecture.lowered()
        let fusion = AddFusion(graph: graph)
        let names = fusion.pairs.values.sorted { $0.add < $1.add }.map { graph.layers[$0.convolution].name }
        #expect(names == ["cell0.residual.projection", "cell1.node3.pointwise"])
        // the same cell 8 and 12 channels wide: nothing fuses (AddFusion.minimumChannels)
        for width in [8, 12] {
            var narrow = Self.architecture
            narrow.stages = [Stage(width: width, pool: 2, cells: 2)]
            #expect(AddFusion(graph: narrow.lowered()).pairs.isEmpty, "width \(width)")
        }
        for pair in fusion.pairs.values {
            #expect(pair.convolution == pair.add - 1)
            #expect(graph.layers[pair.add].inputs.contains(pair.other))
        }
        // the layout stores no output for them and keeps their inputs live through the add
        let layout = ActivationLayout.optimized(graph: graph, planner: GreedyBySizePlanner(), fuseAdds: true)
        let plain = ActivationLayout.optimized(graph: graph, planner: GreedyBySizePlanner())
        for pair in fusion.pairs.values {
            let convolution = graph.layers[pair.convolution]
            #expect(layout.placements[convolution.output] == .fused(into: graph.layers[pair.add].output))
            #expect(!layout.buffers.contains(convolution.output) && plain.buffers.contains(convolution.output))
            #expect(layout.lifetimes[convolution.inputs[0]].upperBound >= pair.add)
        }
        let plan = GreedyBySizePlanner().plan(layout.bufferRequests(bytesPerElement: 1), alignment: 16)
        #expect(layout.violations(plan: plan, bytesPerElement: 1).isEmpty)
        #expect(plain.fusion.pairs.isEmpty)
    }

    @Test("the fused int8 export calls as_pointwise_conv_add_s8 and prints exactly what the unfused one prints")
    func fusedMatchesUnfused() throws {
        let directory = try ExportFixtures.temporaryDirectory("fused-add")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (checkpoint, train, test) = try ExportFixtures.quadrantCheckpoint(Self.architecture, directory: directory)
        let tests = try TestImages.write(test, directory: "\(directory)/data")
        var reports: [Bool: ExportReport] = [:]
        for fuse in [true, false] {
            var options = ExportFixtures.buildOnlyOptions()
            options.fuseAdds = fuse
            reports[fuse] = try ModelExporter.export(checkpoint: checkpoint, calibration: train, testImages: nil,
                                                     device: try ExportFixtures.device("local"),
                                                     outputDirectory: "\(directory)/deploy/\(fuse ? "fused" : "unfused")",
                                                     options: options, context: ExportFixtures.context)
        }
        let fused = try String(contentsOfFile: "\(reports[true]!.directory)/model.c", encoding: .utf8)
        let unfused = try String(contentsOfFile: "\(reports[false]!.directory)/model.c", encoding: .utf8)
        #expect(fused.components(separatedBy: "as_pointwise_conv_add_s8(").count - 1 == 2)
        #expect(!unfused.contains("as_pointwise_conv_add_s8("))
        #expect(!fused.contains("CELL0_RESIDUAL_PROJECTION_DATA") && unfused.contains("CELL0_RESIDUAL_PROJECTION_DATA"))
        #expect(fused.contains("runs inside layer"))
        // the float build fuses nothing
        let float = try String(contentsOfFile: "\(reports[true]!.directory)/model_float.c", encoding: .utf8)
        #expect(!float.contains("_add_s8(") && float.contains("as_add_f32("))
        let runs = try [true, false].map { fuse in
            try ExportFixtures.run(reports[fuse]!.binary, ["--idx", tests.images, "--labels", tests.labels])
        }
        #expect(runs[0].exitStatus == 0 && runs[1].exitStatus == 0, "\(runs[0].stderr) \(runs[1].stderr)")
        #expect(ExportFixtures.parsePredictions(runs[0].stdout).count == test.count)
        #expect(runs[0].stdout == runs[1].stdout, "the fused and unfused int8 binaries print different scores")
        // one layer fewer per fused pair, and no larger arena
        #expect(reports[true]!.plans[.int8]!.arenaBytes <= reports[false]!.plans[.int8]!.arenaBytes)
    }
}
