import Testing
@testable import AutoShrinkModel

@Test func refnetSummaryShowsTableAndTotals() {
    let text = ArchitectureSummary.render(BuiltinArchitectures.refnet())
    #expect(text.contains("architecture  refnet"))
    #expect(!text.contains("cell:"))  // a sequential network has no cell
    #expect(text.contains("stem1"))
    #expect(text.contains("16x28x28 -> 32x14x14"))
    #expect(text.contains("903,168"))
    #expect(text.contains("MACs                   1,904,832 (1.90M)"))
    #expect(text.contains("parameters             17,818"))
    #expect(text.contains("weights float32        69,928 B (68.3 KiB)"))
    #expect(text.contains("weights int8           18,520 B"))
    #expect(text.contains("peak activations f32   75,264 B (73.5 KiB) at stem1"))
    #expect(text.contains("peak activations int8  18,816 B"))
}

@Test func cellTextShowsNodesInputsLeavesAndUnreachableNodes() {
    let dag = CellDAG(nodes: 4, operations: [.input, .sepconv3x3, .conv1x1, .sepconv3x3],
                      edges: [Edge(0, 1), Edge(0, 3), Edge(1, 3), Edge(2, 3)])
    let text = ArchitectureSummary.cellText(dag)
    #expect(text.hasPrefix("cell: 4 nodes, 4 edges, shrink space 3, leaves 3\n"))
    #expect(text.contains("node 1  sepconv3x3  <- 0\n"))
    #expect(text.contains("node 2  conv1x1     unreachable"))
    #expect(text.contains("node 3  sepconv3x3  <- concat(0, 1)  [leaf]"))
    #expect(text.contains("output  node 3 + residual"))
    let empty = ArchitectureSummary.cellText(CellDAG(nodes: 3, operations: [.input, .conv1x1, .conv1x1], edges: []))
    #expect(empty.contains("output  node 0 (no edges"))
}

@Test func dotIsAWellFormedDigraph() {
    let dag = CellDAG(nodes: 4, operations: [.input, .sepconv3x3, .conv1x1, .sepconv3x3],
                      edges: [Edge(0, 1), Edge(0, 2), Edge(1, 3), Edge(2, 3)])
    let dot = ArchitectureSummary.dot(dag, name: "my cell")
    #expect(dot.hasPrefix("digraph \"my cell\" {\n"))
    #expect(dot.hasSuffix("}\n"))
    for line in ["  n0 -> n1;", "  n0 -> n2;", "  n1 -> n3;", "  n2 -> n3;", "  n3 -> output;",
                 "  n0 -> output [style=dashed, label=\"residual\"];", "  n1 [label=\"1: sepconv3x3\"];"] {
        #expect(dot.contains(line + "\n"), "missing \(line)")
    }
    #expect(dot.filter { $0 == "{" }.count == dot.filter { $0 == "}" }.count)
    #expect(ArchitectureSummary.dot(BuiltinArchitectures.refnet()) == nil)
    let full = BuiltinArchitectures.architecture(named: "shrinkcnn-full")!
    #expect(ArchitectureSummary.dot(full)!.components(separatedBy: " -> n").count - 1 == 28)
    // Plain cells: no residual edge, and the text says so; mixed stages name the residual ones.
    var plain = full
    plain.stages = plain.stages.withResidual(false)
    #expect(!ArchitectureSummary.dot(plain)!.contains("residual"))
    #expect(ArchitectureSummary.render(plain).contains("(plain cells: no residual)"))
    var mixed = plain
    mixed.stages[2].residual = true
    #expect(ArchitectureSummary.dot(mixed)!.contains("label=\"residual in stages 3\""))
    #expect(ArchitectureSummary.render(full).contains("+ residual(cell input, 1x1 projection when shape differs)\n"))
}

@Test func numberFormatting() {
    #expect(ArchitectureSummary.grouped(0) == "0")
    #expect(ArchitectureSummary.grouped(999) == "999")
    #expect(ArchitectureSummary.grouped(1_000) == "1,000")
    #expect(ArchitectureSummary.grouped(-1_234_567) == "-1,234,567")
    #expect(ArchitectureSummary.scaled(1_904_832) == "1.90M")
    #expect(ArchitectureSummary.scaled(17_818) == "17.8K")
    #expect(ArchitectureSummary.scaled(384_000_000) == "384M")
    #expect(ArchitectureSummary.scaled(12) == "12")
    #expect(ArchitectureSummary.bytes(512) == "512 B")
}
