import AutoShrinkModel
import AutoShrinkSearch
import Foundation
import Testing
@testable import AutoShrinkReport

/// The HTML report's content, independent of a browser (the Chromium rendering test is in CLITests).
@Suite struct HTMLReportTests {
    static func record(step: Int, candidate: Int, edges: [Edge], accuracy: Double, macs: Int, feasible: Bool = true) -> CandidateRecord {
        CandidateRecord(step: step, candidate: candidate, id: "step-\(step)-c\(candidate)", removedEdge: Edge(0, 1), cellEdges: edges,
                        edgesLeft: edges.count, architectureHash: "h\(step)\(candidate)", accuracy: accuracy,
                        resources: CandidateResources(macs: macs, parameters: macs / 100, weightBytes: macs / 90, peakActivationBytes: 4096),
                        score: accuracy - 0.1 * log10(Double(macs) / 1e6), feasible: feasible, seconds: 1.5, epochs: 2)
    }

    @Test func reportShowsTrajectoryParetoCellAndExport() {
        let operations: [NodeOperation] = [.input, .sepconv3x3, .conv1x1, .sepconv3x3]
        let full = [Edge(0, 1), Edge(0, 2), Edge(0, 3), Edge(1, 2), Edge(1, 3), Edge(2, 3)]
        let chosenEdges = [Edge(0, 1), Edge(1, 2), Edge(2, 3)]
        let records = [
            Self.record(step: 1, candidate: 0, edges: Array(full.dropFirst()), accuracy: 0.70, macs: 3_000_000),
            Self.record(step: 1, candidate: 1, edges: Array(full.dropLast()), accuracy: 0.74, macs: 2_800_000),
            Self.record(step: 2, candidate: 0, edges: chosenEdges, accuracy: 0.72, macs: 1_500_000),
            Self.record(step: 2, candidate: 1, edges: [Edge(0, 1), Edge(0, 3)], accuracy: 0.40, macs: 900_000, feasible: false),
        ]
        let chosen = BuiltinArchitectures.shrinkCNN(cell: CellDAG(nodes: 4, operations: operations, edges: chosenEdges), name: "x<y")
        let html = HTMLReport.render(ReportInput(
            runName: "demo", configuration: SearchConfiguration(dataset: "fashion-mnist", nodes: 4), records: records, chosen: chosen,
            layerLatencies: [("stem0", 0.01), ("cell0.node1.depthwise", 0.02)], profileName: "profiles/local.json",
            export: ExportFigures(floatAccuracy: 0.9, int8Accuracy: 0.897, textBytes: 20_000, weightBytes: 30_000, arenaBytes: 5000,
                                  arenaLowerBoundBytes: 4800)))
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(!html.contains("<script"), "the report must not need scripts")
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").dropFirst().allSatisfy { $0.hasPrefix("www.w3.org/2000/svg") })
        #expect(html.components(separatedBy: "<svg").count - 1 >= 4, "trajectory x2, scatter, cell")
        #expect(html.contains("fill=\"#d62728\""), "the chosen candidate is starred")
        #expect(html.contains("#e08a1e"), "the Pareto front is drawn")
        #expect(html.contains("stroke=\"#c44\""), "infeasible candidates are marked")
        #expect(html.contains("-0.30 points"), "int8 vs float difference")
        #expect(html.contains("cell0.node1.depthwise"))
        #expect(html.contains("node 3: sepconv3x3"))
    }

    @Test func escapesText() {
        #expect(HTML.escape("<a href=\"x\">&</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;")
    }

    @Test func stepWinnersPreferFeasibleThenScore() {
        let records = [Self.record(step: 1, candidate: 0, edges: [Edge(0, 1)], accuracy: 0.9, macs: 1_000_000, feasible: false),
                       Self.record(step: 1, candidate: 1, edges: [Edge(0, 2)], accuracy: 0.5, macs: 1_000_000)]
        #expect(HTMLReport.stepWinners(records).map(\.candidate) == [1])
    }
}
