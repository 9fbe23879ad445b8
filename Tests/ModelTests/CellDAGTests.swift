import Foundation
import Testing
@testable import AutoShrinkModel

private let fourOperations: [NodeOperation] = [.input, .sepconv3x3, .conv1x1, .sepconv3x3]

private func cell(_ edges: [(Int, Int)], operations: [NodeOperation] = fourOperations) -> CellDAG {
    CellDAG(nodes: operations.count, operations: operations, edges: edges.map { Edge($0.0, $0.1) })
}

@Test func fullyConnectedHasAllUpperTriangularEdges() {
    let eight = CellDAG.fullyConnected(operations: BuiltinArchitectures.nodeOperations(nodes: 8, seed: 0))
    #expect(eight.edges.count == 28)
    #expect(eight.shrinkSpace.count == 28)
    #expect(eight.leaves == [7])
    #expect(eight.edges.allSatisfy { $0.from < $0.to })
}

@Test func removingTheOnlyInputEdgeMakesANodeUnreachableAndDropsItsOutEdges() {
    // 0->1, 1->2, 1->3, 0->3: removing 0->1 leaves node 1 unreachable, so 1->2 and 1->3 vanish;
    // node 2 then has no input at all.
    let dag = cell([(0, 1), (1, 2), (1, 3), (0, 3)])
    let next = dag.removing(Edge(0, 1))
    #expect(next.edges == [Edge(0, 3)])
    #expect(next.reachable == [true, false, false, true])
    #expect(next.shrinkSpace == [Edge(0, 3)])
    #expect(next.leaves == [3])
    #expect(next.liveComputeNodes == [3])
}

@Test func pruningCascadesThroughChains() {
    // 0->1->2->3 plus 0->3: removing 0->1 makes 1, 2 unreachable in one pass.
    let dag = cell([(0, 1), (1, 2), (2, 3), (0, 3)])
    #expect(dag.removing(Edge(0, 1)).edges == [Edge(0, 3)])
    // Removing a non-critical edge prunes nothing.
    #expect(dag.removing(Edge(0, 3)).edges == [Edge(0, 1), Edge(1, 2), Edge(2, 3)])
}

@Test func shrinkSpaceOnlyHoldsEdgesFromReachableSources() {
    // Unpruned: node 1 has no input, so 1->2 and 1->3 are not in the shrink space.
    let dag = cell([(0, 2), (1, 2), (1, 3)])
    #expect(dag.reachable == [true, false, true, false])
    #expect(dag.shrinkSpace == [Edge(0, 2)])
    #expect(dag.livePredecessors(of: 2) == [0])
    #expect(dag.leaves == [2])
    #expect(dag.pruned().edges == [Edge(0, 2)])
}

@Test func leavesAreReachableNodesWithoutLiveSuccessors() {
    #expect(cell([(0, 1), (0, 2), (1, 3)]).leaves == [2, 3])
    #expect(cell([]).leaves == [0])
    #expect(cell([(0, 1), (1, 2), (2, 3), (0, 3)]).leaves == [3])
    // Node 2 feeds node 3, so only node 3 is a leaf.
    #expect(cell([(0, 2), (2, 3)]).leaves == [3])
    #expect(cell([(0, 1), (0, 2)]).leaves == [1, 2])
}

@Test func canonicalFormAndHashIgnoreEdgeOrder() throws {
    let base = BuiltinArchitectures.shrinkCNN(cell: cell([(0, 1), (0, 3), (1, 2), (2, 3)]))
    // Decode the same architecture with a permuted (and duplicated) edge list: decoding keeps the
    // file's order, canonical() sorts and deduplicates.
    var json = String(decoding: base.canonicalJSON(), as: UTF8.self)
    let compact = json.replacingOccurrences(of: "\\s+", with: "", options: .regularExpression)
    #expect(compact.contains("\"edges\":[[0,1],[0,3],[1,2],[2,3]]"))
    json = compact.replacingOccurrences(of: "\"edges\":[[0,1],[0,3],[1,2],[2,3]]", with: "\"edges\":[[2,3],[0,3],[1,2],[0,1],[2,3]]")
    let permuted = try JSONDecoder().decode(Architecture.self, from: Data(json.utf8))
    #expect(permuted.cell?.edges.first == Edge(2, 3))
    #expect(permuted.canonicalJSON() == base.canonicalJSON())
    #expect(permuted.stableHash == base.stableHash)
    #expect(permuted.cell?.canonical() == base.cell)
    // Different edges, different hash.
    let other = BuiltinArchitectures.shrinkCNN(cell: cell([(0, 1), (0, 3), (1, 2)]))
    #expect(other.stableHash != base.stableHash)
}

@Test func nodeOperationsAreHalfAndHalfAndSeeded() {
    let operations = BuiltinArchitectures.nodeOperations(nodes: 8, seed: 7)
    #expect(operations[0] == .input)
    #expect(operations.filter { $0 == .sepconv3x3 }.count == 4)
    #expect(operations.filter { $0 == .conv1x1 }.count == 3)
    #expect(BuiltinArchitectures.nodeOperations(nodes: 8, seed: 7) == operations)
}
