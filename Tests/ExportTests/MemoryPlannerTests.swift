import AutoShrinkData
import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkExport

/// The arena planners and the activation layout (aliasing decisions) on hand-made and random graphs.
@Suite struct MemoryPlannerTests {
    @Test("lower bound and first fit on a small example")
    func smallExample() {
        // a [0,1] 100 B, b [1,2] 50 B, c [2,3] 100 B: a and c can share, b sits beside both.
        let requests = [BufferRequest(bytes: 100, firstStep: 0, lastStep: 1), BufferRequest(bytes: 50, firstStep: 1, lastStep: 2),
                        BufferRequest(bytes: 100, firstStep: 2, lastStep: 3)]
        #expect(MemoryPlanning.lowerBound(requests) == 150)
        let plan = FirstFitPlanner().plan(requests, alignment: 1)
        #expect(plan.offsets == [0, 100, 0])
        #expect(plan.arenaBytes == 150 && plan.lowerBoundBytes == 150)
        #expect(plan.conflicts(requests).isEmpty)
        let aligned = GreedyBySizePlanner().plan(requests, alignment: 16)
        #expect(aligned.offsets.allSatisfy { $0 % 16 == 0 })
        #expect(aligned.conflicts(requests).isEmpty)
    }

    @Test("greedy by size beats first fit where execution order packs badly")
    func greedyBeatsFirstFit() {
        // Small early buffer placed first by first-fit pushes the big late ones up.
        let requests = [BufferRequest(bytes: 10, firstStep: 0, lastStep: 4), BufferRequest(bytes: 100, firstStep: 1, lastStep: 2),
                        BufferRequest(bytes: 60, firstStep: 3, lastStep: 5), BufferRequest(bytes: 40, firstStep: 3, lastStep: 5),
                        BufferRequest(bytes: 100, firstStep: 5, lastStep: 6)]
        let oracle = FirstFitPlanner().plan(requests, alignment: 1)
        let greedy = GreedyBySizePlanner().plan(requests, alignment: 1)
        #expect(greedy.conflicts(requests).isEmpty && oracle.conflicts(requests).isEmpty)
        #expect(greedy.arenaBytes <= oracle.arenaBytes)
        #expect(greedy.arenaBytes >= greedy.lowerBoundBytes)
    }

    @Test("random buffer sets: no live overlap, default never worse than the oracle")
    func randomRequests() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<300 {
            let count = Int(generator.next() % 30) + 1
            let requests = (0..<count).map { _ -> BufferRequest in
                let first = Int(generator.next() % 20)
                return BufferRequest(bytes: Int(generator.next() % 5000), firstStep: first, lastStep: first + Int(generator.next() % 6))
            }
            let oracle = FirstFitPlanner().plan(requests, alignment: 16)
            let greedy = GreedyBySizePlanner().plan(requests, alignment: 16)
            #expect(oracle.conflicts(requests).isEmpty)
            #expect(greedy.conflicts(requests).isEmpty)
            #expect(greedy.arenaBytes <= oracle.arenaBytes)
            #expect(greedy.arenaBytes >= greedy.lowerBoundBytes)
        }
    }

    /// A random cell DAG: the full 8-node DAG with random edges removed (as the search does), pruned.
    static func randomCell(_ generator: inout SeededGenerator, nodes: Int = 8) -> CellDAG {
        var dag = CellDAG.fullyConnected(operations: BuiltinArchitectures.nodeOperations(nodes: nodes, seed: generator.next()))
        let removals = Int(generator.next() % UInt64(dag.edges.count))
        for _ in 0..<removals {
            let space = dag.shrinkSpace
            guard !space.isEmpty else { break }
            dag = dag.removing(space[Int(generator.next() % UInt64(space.count))]).pruned()
        }
        return dag
    }

    /// `plain`: the stages' cells without the residual add (`Stage.residual` false), so a cell's output concat
    /// feeds the next cell's max-pool or the head directly.
    static func randomArchitecture(_ generator: inout SeededGenerator, dropout: Bool, plain: Bool = false) -> Architecture {
        let cellsPerStage = Int(generator.next() % 2) + 1
        let width = [4, 8, 16][Int(generator.next() % 3)]
        var architecture = BuiltinArchitectures.shrinkCNN(cell: randomCell(&generator), baseWidth: width, cellsPerStage: cellsPerStage,
                                                          input: InputShape(channels: 1, height: 16, width: 16), classes: 4)
        if dropout { architecture.head = Head(dropout: 0.1) }
        if plain { architecture.stages = architecture.stages.withResidual(false) }
        return architecture
    }

    @Test("random cell networks: no two live tensors share bytes; default never worse than the oracle")
    func randomCellNetworks() throws {
        var generator = SeededGenerator(seed: 11)
        var ratios: [Double] = []
        for index in 0..<120 {
            let architecture = Self.randomArchitecture(&generator, dropout: index % 3 == 0, plain: index % 2 == 1)
            try architecture.validate()
            let graph = architecture.lowered()
            let layout = ActivationLayout(graph: graph)
            for bytes in [1, 4] {
                let requests = layout.bufferRequests(bytesPerElement: bytes)
                let greedy = GreedyBySizePlanner().plan(requests, alignment: 16)
                let oracle = FirstFitPlanner().plan(requests, alignment: 16)
                #expect(layout.violations(plan: greedy, bytesPerElement: bytes).isEmpty,
                        "\(architecture.cell!.edges): \(layout.violations(plan: greedy, bytesPerElement: bytes).prefix(2))")
                #expect(layout.violations(plan: oracle, bytesPerElement: bytes).isEmpty)
                #expect(greedy.arenaBytes <= oracle.arenaBytes)
                #expect(greedy.arenaBytes >= greedy.lowerBoundBytes)
                if bytes == 1 { ratios.append(Double(greedy.arenaBytes) / Double(greedy.lowerBoundBytes)) }
            }
            // Every concat input is either written into a slice or copied, never both or neither.
            for (step, layer) in graph.layers.enumerated() {
                guard case .concat = layer.operation else { continue }
                for input in layer.inputs {
                    let copied = layout.concatCopies[step]?.contains(input) ?? false
                    let (buffer, _) = layout.root(of: input), (concatBuffer, _) = layout.root(of: layer.output)
                    #expect(copied || buffer == concatBuffer, "\(layer.name): input \(input) neither copied nor in place")
                }
            }
        }
        let sorted = ratios.sorted()
        print("arena / lower bound over \(ratios.count) random cell networks (int8, every concat in place): median \(sorted[sorted.count / 2]), max \(sorted.last!)")
    }

    @Test("the optimized layout is never worse than all-in-place or all-copied, and stays sound")
    func optimizedLayout() throws {
        var generator = SeededGenerator(seed: 23)
        var ratios: [Double] = []
        let planner = GreedyBySizePlanner()
        for index in 0..<40 {
            let architecture = Self.randomArchitecture(&generator, dropout: index % 4 == 0, plain: index % 2 == 1)
            let graph = architecture.lowered()
            let concats = Set(graph.layers.indices.filter { if case .concat = graph.layers[$0].operation { return true }; return false })
            func arena(_ layout: ActivationLayout) -> MemoryPlan { planner.plan(layout.bufferRequests(bytesPerElement: 1), alignment: 16) }
            let optimized = ActivationLayout.optimized(graph: graph, planner: planner)
            let plan = arena(optimized)
            #expect(optimized.violations(plan: plan, bytesPerElement: 1).isEmpty)
            #expect(plan.arenaBytes <= arena(ActivationLayout(graph: graph)).arenaBytes)
            #expect(plan.arenaBytes <= arena(ActivationLayout(graph: graph, options: .init(copiedConcats: concats))).arenaBytes)
            // Never above the cost model's peak without any reuse by more than alignment slack.
            #expect(Double(plan.arenaBytes) <= 1.1 * Double(CostModel.costs(of: graph).peakActivationBytesInt8))
            ratios.append(Double(plan.arenaBytes) / Double(plan.lowerBoundBytes))
        }
        let sorted = ratios.sorted()
        print("arena / lower bound over \(ratios.count) random cell networks (optimized layout): median \(sorted[sorted.count / 2]), max \(sorted.last!)")
    }

    @Test("without aliasing the lower bound is the cost model's peak activation memory")
    func lowerBoundMatchesCostModel() throws {
        var generator = SeededGenerator(seed: 5)
        var architectures = [BuiltinArchitectures.refnet(), ExportFixtures.cellArchitecture()]
        architectures[1].head = Head()
        for _ in 0..<30 { architectures.append(Self.randomArchitecture(&generator, dropout: false)) }
        for architecture in architectures {
            let graph = architecture.lowered()
            let layout = ActivationLayout(graph: graph, options: .init(concatInPlace: false, addInPlace: false))
            #expect(layout.placements.allSatisfy { $0 == .buffer })
            let requests = layout.bufferRequests(bytesPerElement: 1)
            #expect(MemoryPlanning.lowerBound(requests) == CostModel.costs(of: graph).peakActivationBytesInt8)
            #expect(layout.violations(plan: FirstFitPlanner().plan(requests, alignment: 16), bytesPerElement: 1).isEmpty)
        }
    }

    @Test("aliasing on the test cell network: slices, a free view, in-place add, dropout")
    func cellNetworkLayout() {
        let graph = ExportFixtures.cellArchitecture().lowered()
        let layout = ActivationLayout(graph: graph)
        func step(_ name: String) -> Int { graph.layers.firstIndex { $0.name == name }! }
        func output(_ name: String) -> Int { graph.layers[step(name)].output }
        // cell0: node 2 and node 4 both read concat(n0, n1): node 4's concat holds n0 and n1, node 2's is a view of it.
        let node4 = output("cell0.node4.concat"), node2 = output("cell0.node2.concat"), node3 = output("cell0.node3.concat")
        #expect(layout.placements[graph.layers[step("stem0")].output] == .slice(of: node4, channelOffset: 0))
        #expect(layout.placements[output("cell0.node1.pointwise")] == .slice(of: node4, channelOffset: 8))
        #expect(layout.placements[node2] == .slice(of: node4, channelOffset: 0))
        #expect(layout.isFreeConcat(step: step("cell0.node2.concat")) && layout.isFreeConcat(step: step("cell0.node4.concat")))
        // Node 3's concat (n1, n2) holds n2 and copies n1, which already lives in node 4's concat.
        #expect(layout.placements[output("cell0.node2.conv")] == .slice(of: node3, channelOffset: 4))
        #expect(layout.concatCopies[step("cell0.node3.concat")] == [output("cell0.node1.pointwise")])
        // Leaves are written into the output concat; the add of the reducing cell writes in place over it.
        let body = output("cell0.output.concat")
        #expect(layout.placements[output("cell0.node3.pointwise")] == .slice(of: body, channelOffset: 0))
        #expect(layout.placements[output("cell0.node4.conv")] == .slice(of: body, channelOffset: 4))
        #expect(layout.inPlaceInput(step: step("cell2.output.add")) != nil)
        #expect(layout.placements[output("head.dropout")] == .slice(of: output("head.pool"), channelOffset: 0))
        #expect(layout.pixelStride(of: graph.layers[step("stem0")].output) == 12)
        let plan = GreedyBySizePlanner().plan(layout.bufferRequests(bytesPerElement: 1), alignment: 16)
        #expect(layout.violations(plan: plan, bytesPerElement: 1).isEmpty)
        // The checker itself: everything at offset 0 overlaps.
        var collapsed = plan
        collapsed.offsets = plan.offsets.map { _ in 0 }
        #expect(!layout.violations(plan: collapsed, bytesPerElement: 1).isEmpty)
        #expect(!collapsed.conflicts(layout.bufferRequests(bytesPerElement: 1)).isEmpty)
    }

    /// A pruned 8-node cell in the proxy network (widths 16/32/64), like a search result.
    static let searchedStyle = BuiltinArchitectures.shrinkCNN(
        cell: CellDAG(nodes: 8, operations: BuiltinArchitectures.nodeOperations(nodes: 8, seed: 0),
                      edges: [Edge(0, 1), Edge(0, 2), Edge(1, 3), Edge(2, 3), Edge(0, 4), Edge(3, 5), Edge(4, 5), Edge(1, 6),
                              Edge(5, 7), Edge(6, 7), Edge(2, 7)]), name: "searched-style")

    @Test("built-in and searched-style networks fit within 1.1x of the lower bound")
    func builtinsNearLowerBound() {
        for architecture in [BuiltinArchitectures.refnet(), BuiltinArchitectures.architecture(named: "shrinkcnn-full")!,
                             ExportFixtures.cellArchitecture(classes: 10, input: InputShape(channels: 1, height: 28, width: 28)),
                             Self.searchedStyle] {
            let layout = ActivationLayout.optimized(graph: architecture.lowered(), planner: GreedyBySizePlanner())
            for bytes in [1, 4] {
                let plan = GreedyBySizePlanner().plan(layout.bufferRequests(bytesPerElement: bytes), alignment: 16)
                #expect(Double(plan.arenaBytes) <= 1.1 * Double(plan.lowerBoundBytes),
                        "\(architecture.name): arena \(plan.arenaBytes), lower bound \(plan.lowerBoundBytes)")
            }
        }
    }
}
