import AutoShrinkLM
import AutoShrinkModel
import AutoShrinkSearch
import Foundation
import Testing
@testable import AutoShrinkReport

/// The report of an LM search run (docs/shrinkrnn.md, "Report") without the CLI: the Pareto front on
/// perplexity and MACs per token, the winners' table, the cell drawing down to a cell without edges.
@Suite struct LMReportTests {
    static let activations: [RNNActivation] = [.tanh, .relu, .sigmoid, .identity]

    static func record(step: Int, candidate: Int, edges: [Edge], perplexity: Double, feasible: Bool = true) -> LMCandidateRecord {
        let cell = RNNCell(activations: activations, edges: edges)
        let cost = LanguageModelCost(cell: cell, shape: shape)
        return LMCandidateRecord(step: step, candidate: candidate, id: "step-\(step)-c\(candidate)", removedEdge: Edge(0, 1), cellEdges: edges,
                                 architectureHash: cell.stableHash, validPerplexity: perplexity, macs: cost.macsPerToken,
                                 cellMACs: cost.cellMACs, parameters: cost.parameters,
                                 score: -log10(perplexity) - 0.1 * log10(Double(cost.macsPerToken) / 1e6), feasible: feasible,
                                 seconds: 2, epochs: 1, diverged: false)
    }
    static let shape = LanguageModelShape(vocabulary: 100, embed: 16, hidden: 16, tied: true)

    @Test func reportShowsWinnersFrontAndCell() {
        let full = RNNCell.fullyConnected(nodes: 4)
        let records = [
            Self.record(step: 1, candidate: 0, edges: [Edge(0, 1), Edge(0, 2), Edge(0, 3), Edge(1, 2), Edge(1, 3)], perplexity: 60),
            Self.record(step: 1, candidate: 1, edges: [Edge(0, 1), Edge(0, 2), Edge(0, 3), Edge(1, 2), Edge(2, 3)], perplexity: 55.5),
            Self.record(step: 2, candidate: 0, edges: [Edge(0, 2), Edge(0, 3), Edge(2, 3)], perplexity: 57.25),     // node 1 cut off
            Self.record(step: 2, candidate: 1, edges: [Edge(0, 3)], perplexity: 90, feasible: false),
        ]
        let configuration = LMSearchConfiguration(corpus: "tiny", startCell: RNNCell(activations: Self.activations, edges: full.edges),
                                                  candidates: 2, target: Self.shape)
        let chosen = RNNCell(activations: Self.activations, edges: records[1].cellEdges)
        let html = LMHTMLReport.render(LMReportInput(runName: "lm<run>", configuration: configuration, records: records, chosen: chosen))
        #expect(html.hasPrefix("<!DOCTYPE html>") && !html.contains("<script"))
        #expect(html.contains("lm&lt;run&gt;"), "the run name is escaped")
        #expect(html.components(separatedBy: "<svg").count - 1 == 4, "trajectory x2, candidates, cell")
        #expect(html.contains("55.50") && html.contains("57.25"), "the winners' perplexities")
        #expect(html.contains("<td>chosen</td>") && html.contains("stroke=\"#c44\""), "chosen and infeasible marked")
        #expect(html.contains(">relu</text>") && html.contains(">identity</text>"), "nodes labelled with their activation")
        // The front by MACs per token (live nodes): 2 live (90, infeasible but cheapest), 3 live (57.25), 4 live (55.5).
        let front = LMHTMLReport.paretoFront(records)
        #expect(front.map(\.validPerplexity) == [90, 57.25, 55.5])
        // A cell without edges (the end of a search) draws node 0 as its own leaf.
        let empty = LMHTMLReport.cellSVG(RNNCell(activations: Self.activations, edges: []))
        #expect(empty.contains("stroke=\"#d62728\"") && empty.components(separatedBy: "fill=\"#ddd\"").count - 1 == 3)
        #expect(!html.contains("ms/token"), "no latency column without a profile")
    }

    /// A search with --profile: every record has a predicted latency per token, drawn as a second
    /// scatter and listed for the chosen cell and in the steps' table.
    @Test func reportDrawsPredictedLatencyPerToken() {
        var records = [
            Self.record(step: 1, candidate: 0, edges: [Edge(0, 1), Edge(0, 2), Edge(1, 2)], perplexity: 61),
            Self.record(step: 1, candidate: 1, edges: [Edge(0, 1), Edge(1, 2)], perplexity: 58.5),
        ]
        records[0].latencyMillisecondsPerToken = 0.0321
        records[1].latencyMillisecondsPerToken = 0.0287
        let configuration = LMSearchConfiguration(corpus: "tiny", startCell: RNNCell(activations: Array(Self.activations.prefix(3)),
                                                                                      edges: [Edge(0, 1), Edge(0, 2), Edge(1, 2)]),
                                                  candidates: 2, target: Self.shape)
        let chosen = RNNCell(activations: Array(Self.activations.prefix(3)), edges: records[1].cellEdges)
        let html = LMHTMLReport.render(LMReportInput(runName: "timed", configuration: configuration, records: records, chosen: chosen))
        #expect(html.components(separatedBy: "<svg").count - 1 == 5, "trajectory x2, candidates by MACs and by latency, cell")
        #expect(html.contains("predicted latency per token (ms)") && html.contains("<th>ms/token</th>"))
        #expect(html.contains("0.0287 ms") && html.contains(">0.0287</td>"), "the chosen cell's latency, in its row and the table")
    }
}
