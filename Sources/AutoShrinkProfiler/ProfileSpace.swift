import AutoShrinkModel

// The operators a profile must measure are those of every network the search can visit. For cell
// networks those are far too many to lower one by one (an 8-node cell has 2^28 edge subsets), but the
// shapes they produce are few: a node's input is the concat of its live predecessors, so its channel
// count is (live predecessors other than node 0) x width, plus node 0's channels when node 0 is one of
// them; a cell's output is (leaves) x width, or the cell input itself when node 0 feeds nothing.
// `operators(dtypes:)` walks the stages with the *set* of possible cell-input channel counts and emits
// every shape those counts allow. The result is a superset of what any single DAG lowers to (a
// test lowers every DAG of a 4-node space and checks each layer is covered) and small (about 150
// int8 shapes for 5 nodes, 450 for 8).

/// The networks a profile covers: the sub-DAGs of one cell inside a fixed macro structure
/// (stem -> stages of cells -> head), plus fixed networks such as `refnet`.
public struct ProfileSpace: Sendable {
    /// `quick`, `reference`, or the file the space came from.
    public var name: String
    /// The largest network of the space: every DAG whose edges are a subset of `base.cell`'s edges
    /// (within the same stem, stages and head) belongs to the space. Nil for spaces of fixed networks only.
    public var base: Architecture?
    /// When true, any compute node may carry any node operation (spaces that must cover every seed's
    /// shuffle); when false, the operations of `base.cell` are fixed.
    public var anyNodeOperations: Bool
    /// Networks covered as they are (`refnet` is always one).
    public var fixedArchitectures: [Architecture]
    /// Whether the table also gets the shape probes around the space (`probeOperators`), which the
    /// cost models for unprofiled shapes learn from; on for `quick` and `reference`.
    public var probes = false

    public init(name: String, base: Architecture?, anyNodeOperations: Bool, fixedArchitectures: [Architecture]) {
        self.name = name
        self.base = base
        self.anyNodeOperations = anyNodeOperations
        self.fixedArchitectures = fixedArchitectures
    }

    /// The default input of the proxy networks (one 28x28 grey image, 10 classes).
    public static let defaultInput = InputShape(channels: 1, height: 28, width: 28)

    /// The AutoShrink proxy space with `nodes` cell nodes around the full cell, any node operations,
    /// plus refnet; `quick` (5 nodes) and `reference` (8 nodes) are the named ones.
    public static func cellSpace(name: String, nodes: Int, baseWidth: Int = 16, cellsPerStage: Int = 1,
                                 input: InputShape = defaultInput, classes: Int = 10) -> ProfileSpace {
        let cell = CellDAG.fullyConnected(operations: BuiltinArchitectures.nodeOperations(nodes: nodes, seed: 0))
        let base = BuiltinArchitectures.shrinkCNN(cell: cell, name: "\(name)-full", baseWidth: baseWidth,
                                                  cellsPerStage: cellsPerStage, input: input, classes: classes)
        return ProfileSpace(name: name, base: base, anyNodeOperations: true,
                            fixedArchitectures: [BuiltinArchitectures.refnet(input: input, classes: classes)])
    }

    /// `--space quick`: 5-node cells.
    public static func quick(input: InputShape = defaultInput, classes: Int = 10) -> ProfileSpace {
        var space = cellSpace(name: "quick", nodes: 5, input: input, classes: classes)
        space.probes = true
        return space
    }

    /// `--space reference`: the paper's 8-node cells.
    public static func reference(input: InputShape = defaultInput, classes: Int = 10) -> ProfileSpace {
        var space = cellSpace(name: "reference", nodes: 8, input: input, classes: classes)
        space.probes = true
        return space
    }

    /// The space of one architecture file: the shrink space of its cell (operations fixed) when it has
    /// one, else the network itself; refnet of the same input and classes is always added.
    public static func architecture(_ architecture: Architecture, name: String) -> ProfileSpace {
        let refnet = BuiltinArchitectures.refnet(input: architecture.input, classes: architecture.classes)
        if architecture.cell != nil, !architecture.stages.isEmpty {
            return ProfileSpace(name: name, base: architecture, anyNodeOperations: false, fixedArchitectures: [refnet])
        }
        return ProfileSpace(name: name, base: nil, anyNodeOperations: false,
                            fixedArchitectures: architecture == refnet ? [refnet] : [architecture, refnet])
    }

    /// Input image and classes of the space's networks.
    public var input: InputShape { base?.input ?? fixedArchitectures.first?.input ?? Self.defaultInput }
    public var classes: Int { base?.classes ?? fixedArchitectures.first?.classes ?? 10 }

    /// What the profile records about the space.
    public var summary: ProfileSpaceSummary {
        ProfileSpaceSummary(name: name, nodes: base?.cell?.nodes, widths: base?.stages.map(\.width) ?? [],
                            cellsPerStage: base?.stages.first?.cells, anyNodeOperations: anyNodeOperations,
                            base: base?.name, fixed: fixedArchitectures.map(\.name), input: input, classes: classes)
    }

    // MARK: - Operator enumeration

    /// Every operator configuration a network of the space can run, for each data type, sorted and deduplicated.
    public func operators(dtypes: [OperatorDataType] = [.int8]) throws -> [OperatorConfiguration] {
        var shapes = Set<OperatorConfiguration>()  // enumerated as int8, then copied per dtype
        for architecture in fixedArchitectures {
            let graph = architecture.lowered()
            try Self.insertConfigurations(of: graph, steps: graph.layers.indices, into: &shapes)
        }
        if let base { try enumerateCellNetworks(base, into: &shapes) }
        if probes { shapes.formUnion(Self.probeOperators(input: input, width: base?.stages.first?.width ?? 16)) }
        var result: [OperatorConfiguration] = []
        for dtype in OperatorDataType.allCases where dtypes.contains(dtype) {
            // the fused convolution + add is an int8 kernel only (float exports run the two layers)
            result += shapes.filter { dtype == .int8 || $0.kind != .pointwiseAdd }.map { shape in
                var copy = shape
                copy.dtype = dtype
                return copy
            }
        }
        return result.sorted()
    }

    /// The int8 configurations the layers at `steps` of `graph` run in an export, each layer's own and, for the
    /// adds `AddFusion` fuses, the fused convolution + add (`ProfileLatencyPredictor.executedConfiguration`).
    static func insertConfigurations(of graph: LayerGraph, steps: some Sequence<Int>,
                                     into shapes: inout Set<OperatorConfiguration>) throws {
        let fusion = AddFusion(graph: graph)
        for step in steps {
            let layer = graph.layers[step]
            if let configuration = try OperatorConfiguration(layer: layer, in: graph, dtype: .int8) { shapes.insert(configuration) }
            if let pair = fusion.pair(add: step),
               var fused = try OperatorConfiguration(layer: graph.layers[pair.convolution], in: graph, dtype: .int8) {
                fused.kind = .pointwiseAdd
                shapes.insert(fused)
            }
        }
    }

    private func enumerateCellNetworks(_ base: Architecture, into shapes: inout Set<OperatorConfiguration>) throws {
        guard let cell = base.cell else { return }
        func insert(_ kind: OperatorKind, _ inputChannels: Int, _ outputChannels: Int, _ height: Int, _ width: Int,
                    stride: Int = 1, kernel: Int = 1, inputs: Int = 1) {
            shapes.insert(OperatorConfiguration(kind: kind, dtype: .int8, inputChannels: inputChannels,
                                                outputChannels: outputChannels, height: height, width: width,
                                                stride: stride, kernel: kernel, inputs: inputs))
        }

        // The stem is fixed: lower it alone (stem layers come first in every lowering). A stem entry
        // may lower to several layers (an invertedResidual block: expand, depthwise, project and an
        // add), so the stem is every layer before the head's global average pool, not `stem.count`.
        let stemOnly = Architecture(name: base.name, input: base.input, classes: base.classes, stem: base.stem)
        let stemGraph = stemOnly.lowered()
        let stemLayers = Self.stemLayers(of: stemGraph)
        try Self.insertConfigurations(of: stemGraph, steps: stemLayers.indices, into: &shapes)
        let stemOutput = stemLayers.last.map { stemGraph.tensors[$0.output] } ?? stemGraph.tensors[0]

        // Node j sees predecessors among the base cell's edges into j; node 0 contributes the cell
        // input's channels, every other node `width`.
        let predecessors = (0..<cell.nodes).map { node in cell.predecessors(of: node) }
        let computeNodes = cell.nodes - 1
        var cellInputs: Set<Int> = [stemOutput.channels]
        var height = stemOutput.height, width = stemOutput.width
        for stage in base.stages {
            for position in 0..<stage.cells {
                let pool = position == 0 ? stage.pool : 1
                let outHeight = pool == 2 ? height / 2 : height, outWidth = pool == 2 ? width / 2 : width
                var cellOutputs = Set<Int>()
                for inputChannels in cellInputs {
                    if pool == 2 { insert(.maxPool, inputChannels, inputChannels, height, width, stride: 2, kernel: 2) }
                    for node in 1..<cell.nodes {
                        let hasNodeZero = predecessors[node].contains(0)
                        let others = predecessors[node].count - (hasNodeZero ? 1 : 0)
                        // (channels, parts) of every possible live-predecessor set of this node.
                        var merges: [(channels: Int, parts: Int)] = []
                        if hasNodeZero { for count in 0...others { merges.append((inputChannels + count * stage.width, count + 1)) } }
                        if others >= 1 { for count in 1...others { merges.append((count * stage.width, count)) } }
                        let operations = anyNodeOperations ? [NodeOperation.sepconv3x3, .conv1x1] : [cell.operations[node]]
                        for merge in merges {
                            if merge.parts >= 2 { insert(.concat, merge.channels, merge.channels, outHeight, outWidth, inputs: merge.parts) }
                            for operation in operations {
                                switch operation {
                                case .sepconv3x3:
                                    insert(.depthwise, merge.channels, merge.channels, outHeight, outWidth, kernel: 3)
                                    insert(.pointwise, merge.channels, stage.width, outHeight, outWidth)
                                case .conv1x1:
                                    insert(.pointwise, merge.channels, stage.width, outHeight, outWidth)
                                case .input:
                                    break
                                }
                            }
                        }
                    }
                    // Output: concat of L leaves + residual (projected when channels or resolution change).
                    for leaves in 1...max(computeNodes, 1) where computeNodes >= 1 {
                        let body = leaves * stage.width
                        if leaves >= 2 { insert(.concat, body, body, outHeight, outWidth, inputs: leaves) }
                        if inputChannels != body || pool != 1 {
                            insert(.pointwise, inputChannels, body, height, width, stride: pool)
                            // int8 exports run the residual projection and the add as one call (AddFusion)
                            insert(.pointwiseAdd, inputChannels, body, height, width, stride: pool)
                        }
                        if leaves == 1 {
                            // Without a projection (cell input = body, pool 1: this cell, or a repeated cell of the
                            // stage whose input is the previous cell's body) the only leaf's pointwise convolution
                            // runs the add (AddFusion): every node's merge, node 0 being `body` channels wide.
                            for node in 1..<cell.nodes {
                                let hasNodeZero = predecessors[node].contains(0)
                                let others = predecessors[node].count - (hasNodeZero ? 1 : 0)
                                if hasNodeZero { for count in 0...others { insert(.pointwiseAdd, body + count * stage.width, body, outHeight, outWidth) } }
                                if others >= 1 { for count in 1...others { insert(.pointwiseAdd, count * stage.width, body, outHeight, outWidth) } }
                            }
                        }
                        insert(.add, body, body, outHeight, outWidth, inputs: 2)
                        cellOutputs.insert(body)
                    }
                    // A cell whose node 0 feeds nothing passes node 0 through.
                    cellOutputs.insert(inputChannels)
                }
                cellInputs = cellOutputs
                height = outHeight
                width = outWidth
            }
        }
        for channels in cellInputs {
            insert(.globalAveragePool, channels, channels, height, width)
            insert(.linear, channels, base.classes, 1, 1)
        }
    }

    /// The layers of a stem-only lowering that belong to the stem: all before the head (global
    /// average pool -> dropout -> linear), however many layers each stem entry lowers to.
    static func stemLayers(of stemGraph: LayerGraph) -> ArraySlice<LayerNode> {
        stemGraph.layers.prefix { layer in
            if case .globalAveragePool = layer.operation { return false }
            return true
        }
    }

    // MARK: - Networks

    /// `count` networks of the space for whole-network timing: the fixed networks, the full base
    /// network, then random points of random shrink paths (a uniform target edge count, reached by
    /// removing random edges of the shrink space; random node operations when any are allowed).
    /// Deterministic in `seed`.
    public func sampleNetworks(count: Int, seed: UInt64) -> [SampledNetwork] {
        var networks: [SampledNetwork] = []
        for architecture in fixedArchitectures where networks.count < count {
            networks.append(SampledNetwork(name: architecture.name, architecture: architecture, edges: nil))
        }
        guard let base, let cell = base.cell else {
            if probes { for probe in probeNetworks() where networks.count < count { networks.append(probe) } }
            return networks
        }
        if networks.count < count {
            networks.append(SampledNetwork(name: base.name, architecture: base, edges: cell.edges.count))
        }
        if probes {
            for probe in probeNetworks() where networks.count < count { networks.append(probe) }
        }
        var generator = ProfileRandom(seed: seed)
        var index = 0
        while networks.count < count {
            index += 1
            let operations = anyNodeOperations
                ? BuiltinArchitectures.nodeOperations(nodes: cell.nodes, seed: generator.next())
                : cell.operations
            // A random shrink path, as a search walks it: remove random edges of the shrink space
            // (pruning as AutoShrink does) until at most a uniformly drawn number of edges is left.
            let target = Int(generator.next() % UInt64(cell.edges.count + 1))
            var dag = CellDAG(nodes: cell.nodes, operations: operations, edges: cell.edges).pruned()
            while dag.edges.count > target {
                let space = dag.shrinkSpace
                dag = dag.removing(space[Int(generator.next() % UInt64(space.count))])
            }
            var architecture = base
            architecture.cell = dag
            architecture.name = String(format: "random-%03d", index)
            networks.append(SampledNetwork(name: architecture.name, architecture: architecture, edges: dag.edges.count))
        }
        return networks
    }
}

/// One network picked for whole-network timing.
public struct SampledNetwork: Sendable {
    public var name: String
    public var architecture: Architecture
    /// Live cell edges after pruning (nil for sequential networks).
    public var edges: Int?
}

/// What a profile records about its space.
public struct ProfileSpaceSummary: Codable, Equatable, Sendable {
    public var name: String
    public var nodes: Int?
    public var widths: [Int]
    public var cellsPerStage: Int?
    public var anyNodeOperations: Bool
    public var base: String?
    public var fixed: [String]
    public var input: InputShape
    public var classes: Int

    enum CodingKeys: String, CodingKey {
        case name, nodes, widths
        case cellsPerStage = "cells_per_stage"
        case anyNodeOperations = "any_node_operations"
        case base, fixed, input, classes
    }
}

/// SplitMix64: the profiler's own small deterministic generator (network sampling, data split).
struct ProfileRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
