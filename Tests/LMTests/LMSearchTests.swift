import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkLM
import AutoShrinkModel
@testable import AutoShrinkSearch
import Foundation
import Testing

/// `search --task lm`'s runner with the real proxy training on a tiny grammar (docs/shrinkrnn.md, "Search").
@Suite struct LMSearchTests {
    /// Token ids of sentences "subject verb object <eos>" of a 10-word grammar (id 0 is <unk>, 1 <eos>).
    static func grammar(_ sentences: Int, seed: UInt64) -> [Int32] {
        var generator = SplitMix64(seed: seed)
        var tokens: [Int32] = []
        for _ in 0..<sentences {
            let subject = Int32(2 + generator.next() % 3), verb = Int32(5 + generator.next() % 2), object = Int32(7 + generator.next() % 3)
            tokens += [subject, verb, object, 1]
        }
        return tokens
    }

    static func configuration(nodes: Int = 4, candidates: Int = 2, maxMACs: Int? = nil) -> LMSearchConfiguration {
        LMSearchConfiguration(
            corpus: "grammar", startCell: .fullyConnected(nodes: nodes), candidates: candidates, seed: 5,
            proxy: LMProxySettings(vocabulary: 10, hidden: 6, trainTokens: 1_600, validTokens: 200, epochs: 2, batchSize: 8, bptt: 8,
                                   learningRate: 5, clip: 0.5, dropout: .none),
            target: LanguageModelShape(vocabulary: 10, embed: 16, hidden: 16, tied: true),
            score: ScoreFunction(terms: [ResourceTerm(.macs, target: 1e3, weight: 0.1)], limits: HardLimits(maxMACs: maxMACs)))
    }

    static func evaluator(_ configuration: LMSearchConfiguration) -> LMProxyEvaluator {
        LMProxyEvaluator(train: grammar(400, seed: 1), valid: grammar(50, seed: 2), vocabulary: 10, configuration: configuration, threads: 1)
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "lmsearch-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func tinySearchShrinksToTheEndAndKeepsTheBestSnapshot() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let configuration = Self.configuration()
        let runner = LMSearchRunner(configuration: configuration, runDirectory: root + "/run", evaluator: Self.evaluator(configuration))
        let result = try runner.run()
        // 4 nodes: 6 edges; every step removes at least one edge, down to none.
        #expect(result.steps.count >= 2 && result.steps.count <= 6)
        #expect(result.steps.last?.winner.edgesLeft == 0)
        let edges = result.steps.map(\.winner.edgesLeft)
        #expect(zip(edges, edges.dropFirst()).allSatisfy { $0 > $1 })
        // Every candidate learned the grammar a little (uniform over 10 words is ppl 10) and is recorded.
        #expect(result.records.allSatisfy { $0.validPerplexity > 1 && $0.validPerplexity < 10 && !$0.diverged })
        let lines = try String(contentsOfFile: root + "/run/trajectory.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == result.records.count)
        // Each step's winner has the highest score of its step; the best is the best-scoring snapshot.
        for step in result.steps {
            #expect(step.candidates.allSatisfy { $0.score <= step.winner.score })
            let snapshot = try RNNCell.loadDocument(path: step.snapshotPath)
            #expect(snapshot.edges == step.winner.cellEdges && snapshot.stableHash == step.winner.architectureHash)
        }
        let best = try #require(result.best)
        #expect(best.winner.score == result.steps.map(\.winner.score).max())
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/run/best.rnncell.json")) == Data(contentsOf: URL(fileURLWithPath: best.snapshotPath)))
        // Resources: fewer live nodes, fewer MACs per token.
        #expect(result.steps.last!.winner.macs < result.records.map(\.macs).max()!)
        // A second run into the same directory is refused without --resume / --force.
        #expect(throws: SearchError.self) { try runner.run() }
        // Resuming a finished run trains nothing and gives the same result.
        let resumed = try runner.run(resume: true)
        #expect(resumed.candidatesTrainedThisSession == 0 && resumed.records == result.records)
    }

    /// Stops the search after `limit` candidates, as a kill would.
    struct Interrupting: LMCandidateEvaluator {
        let inner: LMProxyEvaluator
        let counter: Counter
        let limit: Int
        final class Counter: @unchecked Sendable { var count = 0 }
        struct Killed: Error {}
        func evaluate(cell: RNNCell, seed: UInt64) throws -> LMEvaluation {
            counter.count += 1
            if counter.count > limit { throw Killed() }
            return try inner.evaluate(cell: cell, seed: seed)
        }
    }

    @Test func interruptedSearchResumesToTheSameFiles() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let configuration = Self.configuration()
        let whole = try LMSearchRunner(configuration: configuration, runDirectory: root + "/whole", evaluator: Self.evaluator(configuration)).run()
        let interrupted = LMSearchRunner(configuration: configuration, runDirectory: root + "/cut",
                                         evaluator: Interrupting(inner: Self.evaluator(configuration), counter: .init(), limit: 3))
        #expect(throws: Interrupting.Killed.self) { try interrupted.run() }
        // A torn last line (killed mid-write) is cut on resume.
        let trajectory = root + "/cut/trajectory.jsonl"
        let handle = try #require(FileHandle(forWritingAtPath: trajectory))
        handle.seekToEndOfFile(); handle.write(Data("{\"step\": 2, \"cand".utf8)); handle.closeFile()
        // Another configuration is refused on resume.
        var other = configuration; other.seed = 6
        #expect(throws: SearchError.self) {
            try LMSearchRunner(configuration: other, runDirectory: root + "/cut", evaluator: Self.evaluator(other)).run(resume: true)
        }
        let resumed = try LMSearchRunner(configuration: configuration, runDirectory: root + "/cut", evaluator: Self.evaluator(configuration)).run(resume: true)
        #expect(resumed.candidatesTrainedThisSession == whole.records.count - 3)
        func withoutTime(_ records: [LMCandidateRecord]) -> [LMCandidateRecord] { records.map { var r = $0; r.seconds = 0; return r } }
        #expect(withoutTime(resumed.records) == withoutTime(whole.records))
        for name in ["best.rnncell.json"] + whole.steps.map({ "snapshots/" + ($0.snapshotPath as NSString).lastPathComponent }) {
            #expect(FileManager.default.contentsEqual(atPath: root + "/whole/" + name, andPath: root + "/cut/" + name), "\(name)")
        }
        let records = try TrajectoryFile.load(path: trajectory, repair: false, as: LMCandidateRecord.self)
        #expect(withoutTime(records) == withoutTime(whole.records))
    }

    @Test func macsLimitDecidesFeasibilityAndUnreachableLimitsAreRefused() throws {
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // The empty 4-node cell in a 16-wide model: (16 + 16) * 32 + 16 * 10 = 1184 MACs per token.
        let smallest = Self.configuration().resources(of: Self.configuration().emptiestCell).resources.macs
        #expect(smallest == 1184)
        #expect(throws: SearchError.self) { try LMSearchRunner.precheck(Self.configuration(maxMACs: smallest - 1)) }
        // A limit that only the cells with at most one live compute node meet.
        let limit = smallest + 16 * 32
        let configuration = Self.configuration(nodes: 3, maxMACs: limit)
        let result = try LMSearchRunner(configuration: configuration, runDirectory: root + "/run", evaluator: Self.evaluator(configuration)).run()
        #expect(result.records.allSatisfy { $0.feasible == ($0.macs <= limit) })
        let best = try #require(result.best)
        #expect(best.winner.feasible && best.winner.macs <= limit)
    }

    /// Every DAG of the 4-node space is a cell the search can meet: its model builds and has the
    /// parameters the search's resources count, and removing any edge of its shrink space never adds cost.
    @Test func everyDAGOfASmallSpaceBuildsWithTheCountedCosts() throws {
        let shape = LanguageModelShape(vocabulary: 10, embed: 6, hidden: 6, tied: true)
        let all = RNNCell.fullyConnected(nodes: 4).edges
        for mask in 0..<(1 << all.count) {
            let cell = RNNCell(activations: [.tanh, .relu, .sigmoid, .identity],
                               edges: all.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element))
            try cell.validate(source: "mask \(mask)")
            let model = LanguageModel(cell: cell, shape: shape, context: ExecutionContext(threads: 1), seed: 1)
            let cost = LanguageModelCost(cell: cell, shape: shape)
            #expect(model.parameterCount == cost.parameters, "mask \(mask)")
            let state = Tensor(shape: [2, shape.hidden])
            let loss = model.forward(inputs: [2, 3, 4, 5], targets: [3, 4, 5, 1], steps: 2, batch: 2, state: state, masks: nil)
            #expect(loss.isFinite, "mask \(mask)")
            for edge in cell.topology.shrinkSpace {
                let smaller = cell.removing(edge)
                #expect(smaller.edges.count < cell.edges.count)
                #expect(LanguageModelCost(cell: smaller, shape: shape).macsPerToken <= cost.macsPerToken)
            }
        }
    }

    @Test func recordsAndConfigurationsRoundTripAndRejectCorruptValues() throws {
        let configuration = Self.configuration()
        let root = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try configuration.canonicalJSON().write(to: URL(fileURLWithPath: root + "/config.json"))
        #expect(try LMSearchConfiguration.load(path: root + "/config.json") == configuration)
        #expect(configuration.firstDifference(from: configuration) == nil)
        var other = configuration; other.proxy.hidden = 7
        #expect(configuration.firstDifference(from: other)?.key == "proxy.hidden")
        // Runs made before the gate biases have no gate_bias: they load, and resuming one is a different configuration.
        #expect(configuration.proxy.gateBias == LanguageModel.defaultGateBias)
        let json = String(decoding: configuration.canonicalJSON(), as: UTF8.self)
        #expect(json.contains("\"gate_bias\""))
        let old = try JSONDecoder().decode(LMSearchConfiguration.self, from: Data(json.replacingOccurrences(
            of: #""gate_bias" : -1,"#, with: "").utf8))
        #expect(old.proxy.gateBias == nil && old.firstDifference(from: configuration)?.key == "proxy.gateBias")
        let record = LMCandidateRecord(step: 1, candidate: 0, id: "step-001-c00", removedEdge: Edge(0, 1), cellEdges: [Edge(0, 2)],
                                       architectureHash: "00", validPerplexity: 3.5, macs: 10, cellMACs: 5, parameters: 7, score: -0.5,
                                       feasible: true, seconds: 1, epochs: 2, diverged: false)
        #expect(try JSONDecoder().decode(LMCandidateRecord.self, from: Data(record.jsonLine().utf8)) == record)
        let bad = record.jsonLine().replacingOccurrences(of: "\"valid_perplexity\":3.5", with: "\"valid_perplexity\":0.5")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(LMCandidateRecord.self, from: Data(bad.utf8)) }
        // A latency term does not apply to a language model.
        var latency = configuration
        latency.score = ScoreFunction(terms: [ResourceTerm(.latencyMilliseconds, target: 1, weight: 0.1)])
        #expect(throws: SearchError.self) { try latency.validate(source: "test") }
    }
}
