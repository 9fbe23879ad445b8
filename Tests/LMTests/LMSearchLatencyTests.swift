import AutoShrinkLM
import AutoShrinkModel
@testable import AutoShrinkSearch
import Foundation
import Testing

/// The LM search's latency per token at the runner level (docs/shrinkrnn.md, "Search"): the record's
/// `latency_ms_per_token`, the configuration's `latency_profile`, and the predictor it must match. The
/// profile-backed predictor end to end: `LMLatencyCLITests`.
@Suite struct LMSearchLatencyTests {
    /// Latency from the cell's live nodes, so the numbers are known: 0.01 ms + 0.002 ms per live node.
    struct NodeCountLatency: LMLatencyPredictor {
        let identity = "test@000000000000 float32"
        func latencyPerTokenMilliseconds(cell: RNNCell, shape: LanguageModelShape) throws -> Double {
            0.01 + 0.002 * Double(cell.schedule.nodes.count + 1)
        }
    }

    static func configuration(limit: Double?) -> LMSearchConfiguration {
        var configuration = LMSearchTests.configuration()
        configuration.score = ScoreFunction(terms: [ResourceTerm(.latencyMilliseconds, target: 1, weight: 0.1)],
                                            limits: HardLimits(maxLatencyMilliseconds: limit))
        configuration.latencyProfile = NodeCountLatency().identity
        return configuration
    }

    @Test func recordsRoundTripTheirLatencyAndOldRecordsHaveNone() throws {
        let record = LMCandidateRecord(step: 1, candidate: 0, id: "step-001-c00", removedEdge: Edge(0, 1), cellEdges: [Edge(0, 2)],
                                       architectureHash: "00", validPerplexity: 3.5, macs: 10, cellMACs: 5, parameters: 7, score: -0.5,
                                       feasible: true, seconds: 1, epochs: 2, diverged: false, latencyMillisecondsPerToken: 0.125)
        let line = record.jsonLine()
        #expect(line.contains("\"latency_ms_per_token\":0.125"))
        #expect(try JSONDecoder().decode(LMCandidateRecord.self, from: Data(line.utf8)) == record)
        var old = record
        old.latencyMillisecondsPerToken = nil
        #expect(!old.jsonLine().contains("latency_ms_per_token"))
        #expect(try JSONDecoder().decode(LMCandidateRecord.self, from: Data(old.jsonLine().utf8)).latencyMillisecondsPerToken == nil)
        for value in ["-1", "1e300"] {
            let bad = line.replacingOccurrences(of: "\"latency_ms_per_token\":0.125", with: "\"latency_ms_per_token\":\(value)")
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(LMCandidateRecord.self, from: Data(bad.utf8)) }
        }
    }

    @Test func configurationsNameTheirProfileAndLatencyNeedsOne() throws {
        let configuration = Self.configuration(limit: 0.017)
        try configuration.validate(source: "test")
        let root = try LMSearchTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try configuration.canonicalJSON().write(to: URL(fileURLWithPath: root + "/config.json"))
        #expect(try LMSearchConfiguration.load(path: root + "/config.json") == configuration)
        var other = configuration
        other.latencyProfile = "other@111111111111 float32"
        #expect(configuration.firstDifference(from: other)?.key == "latencyProfile")
        var none = configuration
        none.latencyProfile = nil
        #expect(throws: SearchError.self) { try none.validate(source: "test") }
        #expect(configuration.scoreSummary.contains("--max-latency-ms-per-token 0.017"), "\(configuration.scoreSummary)")
        // The runner refuses a predictor other than the one the configuration names, or none.
        #expect(throws: SearchError.self) { try LMSearchRunner.precheck(configuration) }
        try LMSearchRunner.precheck(configuration, latencyPredictor: NodeCountLatency())
        // A limit below the cell without edges (one live node: 0.012 ms) cannot be met.
        do {
            try LMSearchRunner.precheck(Self.configuration(limit: 0.011), latencyPredictor: NodeCountLatency())
            Issue.record("no error")
        } catch let error as SearchError {
            #expect(error.limit?.description(limitName: LMSearchConfiguration.limitName).contains("--max-latency-ms-per-token 0.011 cannot be met") == true)
        }
    }

    @Test func overTheLimitCandidatesAreInfeasibleAndNeverTheBest() throws {
        let root = try LMSearchTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // 4 nodes: the full cell 0.018 ms, 3 live nodes 0.016 ms; the limit keeps cells of at most 3 live nodes.
        let configuration = Self.configuration(limit: 0.0165)
        let result = try LMSearchRunner(configuration: configuration, runDirectory: root + "/run",
                                        evaluator: LMSearchTests.evaluator(configuration), latencyPredictor: NodeCountLatency()).run()
        for record in result.records {
            let latency = try #require(record.latencyMillisecondsPerToken)
            #expect(record.feasible == (latency <= 0.0165))
            #expect(abs(record.score - (-log10(record.validPerplexity) - 0.1 * log10(latency))) < 1e-9)
        }
        #expect(result.records.contains { !$0.feasible } && result.records.contains { $0.feasible })
        let best = try #require(result.best)
        #expect(best.winner.feasible && best.winner.latencyMillisecondsPerToken! <= 0.0165)
        #expect(LMSearchReport.trajectoryTable(result).contains("ms/token"))
    }
}
