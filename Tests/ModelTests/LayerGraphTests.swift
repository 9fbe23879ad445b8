import Testing
@testable import AutoShrinkModel

/// Problems with a lowered graph's shapes and order; empty when consistent.
func shapeProblems(_ graph: LayerGraph) -> [String] {
    var problems: [String] = []
    var produced = Set([graph.input])
    for layer in graph.layers {
        let inputs = layer.inputs.map { graph.tensors[$0] }
        let output = graph.tensors[layer.output]
        func fail(_ message: String) { problems.append("\(layer.name): \(message)") }
        for input in layer.inputs where !produced.contains(input) { fail("reads tensor \(input) before it is produced") }
        if produced.contains(layer.output) { fail("writes tensor \(layer.output) twice") }
        produced.insert(layer.output)
        switch layer.operation {
        case .convolution(let spec):
            guard inputs.count == 1 else { fail("convolution with \(inputs.count) inputs"); continue }
            if inputs[0].channels != spec.inputChannels { fail("input has \(inputs[0].channels) channels, spec \(spec.inputChannels)") }
            if spec.inputChannels % spec.groups != 0 || spec.outputChannels % spec.groups != 0 { fail("groups do not divide channels") }
            let expected = TensorShape(channels: spec.outputChannels, height: spec.outputSize(inputs[0].height),
                                       width: spec.outputSize(inputs[0].width))
            if output != expected { fail("output \(output), expected \(expected)") }
        case .maxPool:
            guard inputs.count == 1, inputs[0].height % 2 == 0, inputs[0].width % 2 == 0 else { fail("max-pool of \(inputs)"); continue }
            if output != TensorShape(channels: inputs[0].channels, height: inputs[0].height / 2, width: inputs[0].width / 2) { fail("max-pool output \(output)") }
        case .concat:
            if inputs.count < 2 { fail("concat of \(inputs.count) inputs") }
            if Set(inputs.map { [$0.height, $0.width] }).count != 1 { fail("concat of different resolutions \(inputs)") }
            if output.channels != inputs.reduce(0, { $0 + $1.channels }) || output.height != inputs[0].height { fail("concat output \(output) from \(inputs)") }
        case .add:
            if inputs.count != 2 || inputs[0] != inputs[1] || output != inputs[0] { fail("add of \(inputs) -> \(output)") }
        case .globalAveragePool:
            if inputs.count != 1 || output != TensorShape(channels: inputs[0].channels, height: 1, width: 1) { fail("gap output \(output)") }
        case .dropout:
            if inputs.count != 1 || output != inputs[0] { fail("dropout changes shape") }
        case .linear(let inputFeatures, let outputFeatures):
            if inputs.count != 1 || inputs[0].elements != inputFeatures || output != TensorShape(channels: outputFeatures, height: 1, width: 1) {
                fail("linear \(inputFeatures)->\(outputFeatures) on \(inputs) -> \(output)")
            }
        }
    }
    if graph.layers.last?.output != graph.output { problems.append("output is not the last layer's") }
    return problems
}

@Test func everyFourNodeCellLowersToConsistentShapes() throws {
    let operations: [NodeOperation] = [.input, .sepconv3x3, .conv1x1, .sepconv3x3]
    let all = CellDAG.fullyConnected(operations: operations).edges
    #expect(all.count == 6)
    var distinctGraphs = Set<Int>()
    for mask in 0..<(1 << all.count) {
        let edges = all.indices.filter { mask & (1 << $0) != 0 }.map { all[$0] }
        let dag = CellDAG(nodes: 4, operations: operations, edges: edges)
        let architecture = BuiltinArchitectures.shrinkCNN(cell: dag)
        try architecture.validate()
        let graph = architecture.lowered()
        #expect(shapeProblems(graph).isEmpty, "mask \(mask): \(shapeProblems(graph))")
        #expect(graph.tensors[graph.output] == TensorShape(channels: 10, height: 1, width: 1))
        distinctGraphs.insert(graph.layers.count)

        // Each cell's output: concat of the leaves (width channels each), plus the residual of equal shape.
        let leaves = dag.leaves
        let widths = [16, 32, 64]
        for (cellIndex, width) in widths.enumerated() {
            let add = graph.layers.first { $0.name == "cell\(cellIndex).output.add" }
            if leaves == [0] {
                #expect(add == nil, "mask \(mask): a cell without edges has no residual add")
                continue
            }
            let sum = try #require(add, "mask \(mask): cell\(cellIndex) has no output add")
            let body = graph.tensors[sum.inputs[0]], residual = graph.tensors[sum.inputs[1]]
            #expect(!leaves.contains(0) && body.channels == width * leaves.count, "mask \(mask)")
            #expect(body == residual, "mask \(mask): residual \(residual) vs body \(body)")
            let expectedHeight = cellIndex == 0 ? 28 : cellIndex == 1 ? 14 : 7
            #expect(body.height == expectedHeight && body.width == expectedHeight)
        }
        // Every live compute node's input concat has the channels of its live predecessors.
        for node in dag.liveComputeNodes {
            let predecessors = dag.livePredecessors(of: node)
            guard predecessors.count > 1, let concat = graph.layers.first(where: { $0.name == "cell1.node\(node).concat" }) else { continue }
            let expected = predecessors.reduce(0) { $0 + ($1 == 0 ? graph.tensors[concat.inputs[0]].channels : 32) }
            #expect(graph.tensors[concat.output].channels == expected, "mask \(mask) node \(node)")
        }
    }
    #expect(distinctGraphs.count > 5)
}

@Test func eightNodeFullCellLowersConsistently() throws {
    let architecture = try #require(BuiltinArchitectures.architecture(named: "shrinkcnn-full"))
    let graph = architecture.lowered()
    #expect(shapeProblems(graph).isEmpty)
    // Full DAG: node 7 is the only leaf; its input concat holds the cell input + 6 nodes.
    let concat = try #require(graph.layers.first { $0.name == "cell0.node7.concat" })
    #expect(graph.tensors[concat.output].channels == 32 + 6 * 16)
    #expect(shapeProblems(BuiltinArchitectures.refnet().lowered()).isEmpty)
}
