import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

@Suite("Profile space: operator enumeration and network sampling")
struct ProfileSpaceTests {
    /// Every DAG over `nodes` nodes (every subset of the full DAG's edges) with every node-operation assignment.
    static func everyCell(nodes: Int) -> [CellDAG] {
        let full = CellDAG.fullyConnected(operations: [.input] + Array(repeating: .conv1x1, count: nodes - 1))
        var cells: [CellDAG] = []
        for mask in 0..<(1 << full.edges.count) {
            let edges = full.edges.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element)
            for assignment in 0..<(1 << (nodes - 1)) {
                let operations: [NodeOperation] = [.input] + (1..<nodes).map { assignment & (1 << ($0 - 1)) != 0 ? .sepconv3x3 : .conv1x1 }
                cells.append(CellDAG(nodes: nodes, operations: operations, edges: edges))
            }
        }
        return cells
    }

    /// Layers whose kernel, as an int8 export runs it (a fused convolution + add as one `pointwise_add`), is not
    /// among `operators`. Concats are checked as the layer's own configuration (the table's even-split rows).
    static func uncovered(_ architecture: Architecture, by operators: Set<OperatorConfiguration>) throws -> [String] {
        let graph = architecture.lowered()
        let layout = ActivationLayout.exported(graph)
        return try graph.layers.indices.compactMap { step in
            let layer = graph.layers[step]
            let executed = try ProfileLatencyPredictor.executedConfiguration(step: step, in: graph, layout: layout, dtype: .int8)
            guard var configuration = try OperatorConfiguration(layer: layer, in: graph, dtype: .int8) else { return nil }
            if executed?.kind == .pointwiseAdd { configuration = executed! }
            if layout.fusion.isFusedConvolution(step: step) { return nil }
            return operators.contains(configuration) ? nil : "\(layer.name): \(configuration)"
        }
    }

    @Test("every layer of every DAG (and operation assignment) of a 4-node space is enumerated")
    func fourNodeSpaceIsCovered() throws {
        let space = ProfileSpace.cellSpace(name: "four", nodes: 4)
        let operators = Set(try space.operators())
        let cells = Self.everyCell(nodes: 4)
        #expect(cells.count == 64 * 8)
        var checkedLayers = 0
        for cell in cells {
            let architecture = BuiltinArchitectures.shrinkCNN(cell: cell, name: "dag")
            let missing = try Self.uncovered(architecture, by: operators)
            #expect(missing.isEmpty, "cell \(cell.edges) \(cell.operations.map(\.rawValue)): \(missing.prefix(3))")
            checkedLayers += architecture.lowered().layers.count
        }
        #expect(checkedLayers > 5000)
        #expect(try Self.uncovered(BuiltinArchitectures.refnet(), by: operators).isEmpty)
        // A superset, but not a wasteful one.
        #expect(operators.count < 400, "\(operators.count) operators for a 4-node space")
    }

    @Test("two cells per stage, another input shape and fixed node operations are covered too")
    func variantsAreCovered() throws {
        let input = InputShape(channels: 3, height: 32, width: 32)
        let space = ProfileSpace.cellSpace(name: "deep", nodes: 3, cellsPerStage: 2, input: input, classes: 5)
        let operators = Set(try space.operators())
        for cell in Self.everyCell(nodes: 3) {
            let architecture = BuiltinArchitectures.shrinkCNN(cell: cell, cellsPerStage: 2, input: input, classes: 5)
            #expect(try Self.uncovered(architecture, by: operators).isEmpty)
        }
        #expect(try Self.uncovered(BuiltinArchitectures.refnet(input: input, classes: 5), by: operators).isEmpty)

        // An architecture file's space keeps its operations: every sub-DAG of its cell is covered.
        let operations = BuiltinArchitectures.nodeOperations(nodes: 4, seed: 3)
        let fileArchitecture = BuiltinArchitectures.shrinkCNN(cell: .fullyConnected(operations: operations), name: "file")
        let fileOperators = Set(try ProfileSpace.architecture(fileArchitecture, name: "file.arch.json").operators())
        for cell in Self.everyCell(nodes: 4) where cell.operations == operations {
            #expect(try Self.uncovered(BuiltinArchitectures.shrinkCNN(cell: cell), by: fileOperators).isEmpty)
        }
        #expect(fileOperators.count < operators.count * 2)
    }

    @Test("a cell network whose stem has an invertedResidual block (several lowered layers per stem entry) is covered")
    func invertedResidualStemIsCovered() throws {
        // stem conv3x3 8 -> invertedResidual 12 (expand 1x1, depthwise 3x3 s2, project 1x1): one stem
        // entry, three layers; the cells see 12 channels at 14x14, not the expansion's 48 at 28x28.
        var base = BuiltinArchitectures.shrinkCNN(cell: .fullyConnected(operations: [.input, .sepconv3x3, .conv1x1]), name: "irstem")
        base.stem = [StemLayer(.conv, outputChannels: 8, kernel: 3, stride: 1),
                     .invertedResidual(outputChannels: 12, expansion: 4, stride: 2)]
        let stemGraph = Architecture(name: "stem", input: base.input, classes: base.classes, stem: base.stem).lowered()
        #expect(ProfileSpace.stemLayers(of: stemGraph).count > base.stem.count)
        let space = ProfileSpace(name: "irstem", base: base, anyNodeOperations: true, fixedArchitectures: [])
        let operators = Set(try space.operators())
        for cell in Self.everyCell(nodes: 3) {
            var architecture = base
            architecture.cell = cell
            let missing = try Self.uncovered(architecture, by: operators)
            #expect(missing.isEmpty, "cell \(cell.edges) \(cell.operations.map(\.rawValue)): \(missing.prefix(3))")
        }
    }

    @Test("operators are deduplicated, sorted and repeated per data type")
    func operatorsPerDataType() throws {
        let space = ProfileSpace.quick()
        let int8 = try space.operators(dtypes: [.int8])
        let both = try space.operators(dtypes: [.int8, .float32])
        #expect(Set(int8).count == int8.count)
        // the fused pointwise conv + add is profiled in int8 only
        #expect(both.count == 2 * int8.count - int8.filter { $0.kind == .pointwiseAdd }.count)
        #expect(both == both.sorted())
        #expect(both.prefix(int8.count).allSatisfy { $0.dtype == .int8 })
        let reference = try ProfileSpace.reference().operators(dtypes: [.int8])
        #expect(reference.count > int8.count)
        #expect(Set(OperatorKind.allCases) == Set(int8.map(\.kind)))
    }

    @Test("layers map to kernel configurations; unsupported ones are refused with the layer's name")
    func layerConfigurations() throws {
        let graph = BuiltinArchitectures.refnet().lowered()
        let configurations = try graph.layers.compactMap { try OperatorConfiguration(layer: $0, in: graph, dtype: .int8) }
        #expect(configurations.map(\.kind) == [.convolution, .convolution, .depthwise, .pointwise, .depthwise, .pointwise,
                                               .globalAveragePool, .linear])
        #expect(configurations[1] == OperatorConfiguration(kind: .convolution, dtype: .int8, inputChannels: 16, outputChannels: 32,
                                                           height: 28, width: 28, stride: 2, kernel: 3))
        #expect(configurations[1].outputHeight == 14)
        #expect(configurations[4].outputHeight == 7)

        let odd = Architecture(name: "odd", input: ProfileSpace.defaultInput, classes: 10,
                               stem: [StemLayer(.conv, outputChannels: 8, kernel: 3), StemLayer(.depthwise, outputChannels: 8, kernel: 5)])
        let oddGraph = odd.lowered()
        #expect(throws: UnsupportedLayerError.self) { try OperatorConfiguration(layer: oddGraph.layers[1], in: oddGraph, dtype: .int8) }
    }

    @Test("network samples: fixed networks, the full network, the probe networks, then deterministic random DAGs inside the space")
    func networkSamples() throws {
        let space = ProfileSpace.quick()
        let networks = space.sampleNetworks(count: 20, seed: 7)
        #expect(networks.count == 20)
        #expect(networks[0].name == "refnet")
        #expect(networks[1].edges == 10)
        let again = space.sampleNetworks(count: 20, seed: 7)
        #expect(networks.map(\.architecture) == again.map(\.architecture))
        #expect(Set(networks.compactMap(\.edges)).count > 3, "edge counts should vary")
        let operators = Set(try space.operators())
        // Probe networks (quick and reference) lie outside the space on purpose: their layers are mostly
        // not in the table; every other sampled network is covered.
        let probes = networks.filter { $0.name.hasPrefix("probe-") }
        #expect(probes.map(\.name) == networks[2..<10].map(\.name))
        #expect(probes.count == 8)
        // (Two cells per stage add no new shape: the enumeration covers any cell input width the space allows.)
        let outside = try probes.filter { try !Self.uncovered($0.architecture, by: operators).isEmpty }.map(\.name)
        #expect(outside.count == 7, "\(outside)")
        for network in networks where !network.name.hasPrefix("probe-") {
            #expect(try Self.uncovered(network.architecture, by: operators).isEmpty, "\(network.name)")
        }
        #expect(space.sampleNetworks(count: 1, seed: 7).map(\.name) == ["refnet"])
        #expect(ProfileSpace.cellSpace(name: "plain", nodes: 5).sampleNetworks(count: 20, seed: 7).allSatisfy { !$0.name.hasPrefix("probe-") })
    }
}
