import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkSearch

/// A device whose latency is proportional to work: 1 ms per million MACs plus 0.01 ms per layer
/// (a hand-made latency model standing in for a profile's predictor; docs/algorithm.md §1 "Macro skeleton").
struct WorkProportionalPredictor: LatencyPredictor {
    func predictLatencyMilliseconds(_ graph: LayerGraph) throws -> Double {
        Double(CostModel.costs(of: graph).macs) / 1e6 + 0.01 * Double(graph.layers.count)
    }
}

@Suite("Macro skeleton and the edge macro space")
struct MacroSpaceTests {
    static let operations = BuiltinArchitectures.nodeOperations(nodes: 5, seed: 3)

    @Test("the reference skeleton builds today's proxy network byte for byte, and a config without 'macro' is the reference")
    func referenceBytes() throws {
        let cell = CellDAG.fullyConnected(operations: Self.operations).removing(Edge(1, 3))
        // The proxy network as it was written before the skeleton existed (docs/algorithm.md §1).
        let literal = Architecture(name: "shrinkcnn", input: InputShape(channels: 1, height: 28, width: 28), classes: 10,
                                   stem: [StemLayer(.conv, outputChannels: 32, kernel: 3, stride: 1)], cell: cell,
                                   stages: [Stage(width: 16, pool: 1, cells: 1), Stage(width: 32, pool: 2, cells: 1),
                                            Stage(width: 64, pool: 2, cells: 1)])
        #expect(BuiltinArchitectures.shrinkCNN(cell: cell, skeleton: .reference()).canonicalJSON() == literal.canonicalJSON())
        #expect(BuiltinArchitectures.shrinkCNN(cell: cell).canonicalJSON() == literal.canonicalJSON())
        let configuration = SearchConfiguration(dataset: "fashion-mnist", nodes: 5, seed: 3)
        #expect(configuration.architecture(cell: cell, name: "shrinkcnn").canonicalJSON() == literal.canonicalJSON())
        // No 'macro' key is written for the reference, and a file without one loads as the reference.
        let json = String(decoding: configuration.canonicalJSON(), as: UTF8.self)
        #expect(!json.contains("macro"))
        let decoded = try JSONDecoder().decode(SearchConfiguration.self, from: configuration.canonicalJSON())
        #expect(decoded == configuration && decoded.skeleton == .reference())

        var custom = configuration
        custom.macro = try MacroSkeleton(spec: "16s2-24p1-48p2x2-96p1")
        let reloaded = try JSONDecoder().decode(SearchConfiguration.self, from: custom.canonicalJSON())
        #expect(reloaded.macro == custom.macro)
        #expect(reloaded.firstDifference(from: configuration)?.key == "macro")
        #expect(reloaded.architecture(cell: cell, name: "x").stem == [StemLayer(.conv, outputChannels: 16, kernel: 3, stride: 2)])
    }

    @Test("spec text round-trips and bad specs are refused with one line")
    func specs() throws {
        #expect(MacroSkeleton.reference().description == "32s1-16p1-32p2-64p2")
        #expect(try MacroSkeleton(spec: "32s1-16p1-32p2-64p2") == .reference())
        let deep = try MacroSkeleton(spec: "8s2-12p1x2-24p2x2-48p1x2")
        #expect(deep.stages.map(\.cells) == [2, 2, 2] && deep.stemStride == 2)
        #expect(try MacroSkeleton(spec: deep.description) == deep)
        // A trailing n: plain cells in that stage (no residual add).
        let plain = try MacroSkeleton(spec: "32s2-48p2x2n-96p1n")
        #expect(plain.stages == [Stage(width: 48, pool: 2, cells: 2, residual: false), Stage(width: 96, pool: 1, residual: false)])
        #expect(plain.description == "32s2-48p2x2n-96p1n" && MacroSkeleton.reference().stages.allSatisfy(\.residual))
        #expect(try MacroSkeleton(spec: "16s1+32s2-48p2-96p1n").stages.map(\.residual) == [true, false])
        for bad in ["", "32s1", "32-16p1", "32s3-16p1", "32s1-16p3", "32s1-0p1", "32s1-16p1x0", "32s1-16q1", "32s1-16p1x2x2",
                    "99999999s1-16p1", "32s1-16p1-16p1-16p1-16p1-16p1-16p1-16p1", "32s1-16p1nn", "32s1-16p1xn", "32s1-n",
                    "32s1-16pn", "32s1n-16p1", "32s1-16np1"] {
            #expect(throws: ArchitectureError.self) { try MacroSkeleton(spec: bad) }
        }
    }

    @Test("a full-resolution layer before the stem: spec text, config round trip, the network's stem")
    func preStem() throws {
        let skeleton = try MacroSkeleton(spec: "16s1+32s2-48p2")
        #expect(skeleton.preStemChannels == 16 && skeleton.stemChannels == 32 && skeleton.stemStride == 2)
        #expect(skeleton.description == "16s1+32s2-48p2")
        #expect(try MacroSkeleton(spec: "8s1+16s2-12p1x2-24p2").description == "8s1+16s2-12p1x2-24p2")
        for bad in ["16s2+32s2-48p2", "16s1+8s1+32s2-48p2", "+32s2-48p2", "0s1+32s2-48p2", "16+32s2-48p2", "16s1+-48p2",
                    "99999999s1+32s2-48p2"] {
            #expect(throws: ArchitectureError.self) { try MacroSkeleton(spec: bad) }
        }
        // refnet's first two layers, then the cell stage.
        let cell = CellDAG.fullyConnected(operations: Self.operations)
        let network = BuiltinArchitectures.shrinkCNN(cell: cell, skeleton: skeleton)
        #expect(network.stem == [StemLayer(.conv, outputChannels: 16, kernel: 3, stride: 1),
                                 StemLayer(.conv, outputChannels: 32, kernel: 3, stride: 2)])
        try network.validate()
        // Recorded in config.json only when present; a skeleton without it encodes as before.
        var configuration = SearchConfiguration(dataset: "fashion-mnist", nodes: 5, seed: 3)
        configuration.macro = try MacroSkeleton(spec: "32s2-48p2")
        #expect(!String(decoding: configuration.canonicalJSON(), as: UTF8.self).contains("preStemChannels"))
        configuration.macro = skeleton
        #expect(String(decoding: configuration.canonicalJSON(), as: UTF8.self).contains("\"preStemChannels\" : 16"))
        let reloaded = try JSONDecoder().decode(SearchConfiguration.self, from: configuration.canonicalJSON())
        #expect(reloaded.macro == skeleton && reloaded.architecture(cell: cell, name: "x").stem == network.stem)
    }

    @Test("macro refit spends the budget a shrunk cell leaves, on the same rule as macro auto")
    func refit() throws {
        let predictor = WorkProportionalPredictor()
        let meter = ResourceMeter(latencyPredictor: predictor)
        var configuration = SearchConfiguration(dataset: "fashion-mnist", nodes: 5, seed: 3)
        let refnetLatency = try predictor.predictLatencyMilliseconds(BuiltinArchitectures.refnet().lowered())
        configuration.score = ScoreFunction(terms: [], limits: HardLimits(maxLatencyMilliseconds: refnetLatency * 0.75))
        let fitted = try MacroFit.choose(space: .edge, configuration: configuration, edgeFraction: 1, measure: meter.measure)
        let before = try #require(fitted.chosen)
        // The search shrank the cell to two edges: on the fitted skeleton it is well under the limit.
        let shrunk = CellDAG(nodes: 5, operations: configuration.startCell.operations, edges: [Edge(0, 1), Edge(1, 4)])
        let onFitted = try meter.measure(BuiltinArchitectures.shrinkCNN(cell: shrunk, skeleton: before.skeleton))
        #expect(onFitted.latencyMilliseconds! < before.resources.latencyMilliseconds!)
        let refit = try MacroFit.refit(cell: shrunk, space: .edge, configuration: configuration, measure: meter.measure)
        let after = try #require(refit.chosen)
        #expect(refit.probeEdges == 2)
        #expect(after.resources.latencyMilliseconds! <= refnetLatency * 0.75)
        #expect(after.resources.macs > onFitted.macs)
        // The most MACs among the feasible settings of at least two cells (one-cell settings only when none fits).
        let deep = refit.considered.filter { $0.feasible && $0.skeleton.totalCells >= MacroFit.refitMinimumCells }
        #expect(!deep.isEmpty && after.skeleton.totalCells >= 2)
        #expect(deep.allSatisfy { $0.resources.macs <= after.resources.macs })
        #expect(try meter.measure(BuiltinArchitectures.shrinkCNN(cell: shrunk, name: configuration.architectureName,
                                                                 skeleton: after.skeleton)) == after.resources)
        #expect(refit.summaryLines(label: "macro refit").allSatisfy { $0.contains("macro refit") || $0.hasPrefix("  ") })
        // Only settings whose stem is at least half the first stage's width; among them the choice.
        #expect(refit.considered.allSatisfy { 2 * $0.skeleton.stemChannels >= $0.skeleton.stages[0].width })
        let wide = try MacroSkeleton(spec: "32s2-64p2x2"), starved = try MacroSkeleton(spec: "8s2-64p2x2")
        #expect(MacroFit.refitAllows(wide) && !MacroFit.refitAllows(starved))
        let all = try MacroFit.choose(space: .edge, configuration: configuration, probe: shrunk, measure: meter.measure)
        #expect(refit.considered.count < all.considered.count)
        // Refitting the probe cell itself is macro auto's choice among those; a cell of another run is refused.
        let again = try MacroFit.refit(cell: configuration.startCell, space: .edge, configuration: configuration, measure: meter.measure)
        if MacroFit.refitAllows(before.skeleton), before.skeleton.totalCells >= 2 { #expect(again.chosen == before) }
        #expect(throws: SearchError.self) {
            try MacroFit.refit(cell: .fullyConnected(operations: BuiltinArchitectures.nodeOperations(nodes: 4, seed: 3)), space: .edge,
                               configuration: configuration, measure: meter.measure)
        }
    }

    @Test("macro refit prefers two cells: a one-cell setting only when no deeper one fits")
    func refitDepth() throws {
        // a cost per layer, as devices have, makes one wide cell the most MACs for some budgets
        let meter = ResourceMeter(latencyPredictor: WorkProportionalPredictor())
        var configuration = SearchConfiguration(dataset: "fashion-mnist", nodes: 4, seed: 3)
        let cell = CellDAG(nodes: 4, operations: configuration.startCell.operations, edges: [Edge(0, 2), Edge(0, 3), Edge(2, 3)])
        var passedOver = 0
        for limit in stride(from: 0.2, through: 2.5, by: 0.05) {
            configuration.score = ScoreFunction(terms: [], limits: HardLimits(maxLatencyMilliseconds: limit))
            let refit = try MacroFit.refit(cell: cell, space: .edge, configuration: configuration, measure: meter.measure)
            let feasible = refit.considered.filter(\.feasible)
            guard let chosen = refit.chosen else { #expect(feasible.isEmpty); continue }
            let deep = feasible.filter { $0.skeleton.totalCells >= MacroFit.refitMinimumCells }
            if deep.isEmpty {
                #expect(feasible.allSatisfy { $0.resources.macs <= chosen.resources.macs })
            } else {
                #expect(chosen.skeleton.totalCells >= 2, "limit \(limit): \(chosen.skeleton)")
                #expect(deep.allSatisfy { $0.resources.macs <= chosen.resources.macs })
                if feasible.contains(where: { $0.resources.macs > chosen.resources.macs }) { passedOver += 1 }
            }
        }
        #expect(passedOver > 0, "no limit where a one-cell setting had the most MACs: the rule was not exercised")
    }

    @Test("the refit across the trajectory keeps the largest refit network among snapshots within one standard error")
    func refitTrajectory() throws {
        let meter = ResourceMeter(latencyPredictor: WorkProportionalPredictor())
        var configuration = SearchConfiguration(dataset: "fashion-mnist", nodes: 4, seed: 3)
        let refnetLatency = try WorkProportionalPredictor().predictLatencyMilliseconds(BuiltinArchitectures.refnet().lowered())
        configuration.score = ScoreFunction(terms: [], limits: HardLimits(maxLatencyMilliseconds: refnetLatency * 0.65))
        let operations = configuration.startCell.operations
        // Residual cells only: there the cheaper cell's refit is the larger network on this predictor, the case
        // the rule is for (with plain cells too, the 2-edge cell's refit is not the larger one on this predictor).
        let space = MacroSpace(residuals: [true])
        let three = MacroFit.Snapshot(cell: CellDAG(nodes: 4, operations: operations, edges: [Edge(0, 2), Edge(0, 3), Edge(2, 3)]), accuracy: 0.779)
        let two = MacroFit.Snapshot(cell: CellDAG(nodes: 4, operations: operations, edges: [Edge(0, 2), Edge(2, 3)]), accuracy: 0.772)
        let macsOf = { (cell: CellDAG) in try #require(MacroFit.refit(cell: cell, space: space, configuration: configuration,
                                                                      measure: meter.measure).chosen).resources.macs }
        // the cheaper cell gets the larger refit network
        #expect(try macsOf(two.cell) > macsOf(three.cell))
        // 0.007 apart on 1,000 validation images (one standard error: 0.013): tied, the larger refit network wins
        let tied = try MacroFit.refitTrajectory(best: three, winners: [two], validationImages: 1000, space: space,
                                                configuration: configuration, measure: meter.measure)
        #expect(tied.snapshot == two && tied.compared.count == 2 && abs(tied.standardError - 0.0131) < 0.0001)
        #expect(tied.choice.chosen?.resources.macs == (try macsOf(two.cell)))
        // on 100,000 images (0.0013) they are told apart: the best snapshot's cell stays
        let apart = try MacroFit.refitTrajectory(best: three, winners: [two], validationImages: 100_000, space: space,
                                                 configuration: configuration, measure: meter.measure)
        #expect(apart.snapshot == three && apart.compared.count == 1)
        // a larger cell within the noise does not displace a smaller refit network of the best one
        let reversed = try MacroFit.refitTrajectory(best: two, winners: [three], validationImages: 1000, space: space,
                                                    configuration: configuration, measure: meter.measure)
        #expect(reversed.snapshot == two && reversed.compared.count == 2)
    }

    @Test("macro fit per candidate: every candidate trains on the refit skeleton of its own cell, within the limit")
    func fitCandidates() throws {
        let predictor = WorkProportionalPredictor()
        let meter = ResourceMeter(latencyPredictor: predictor)
        let refnetLatency = try predictor.predictLatencyMilliseconds(BuiltinArchitectures.refnet().lowered())
        var configuration = SearchConfiguration(dataset: "fashion-mnist", nodes: 4, candidates: 3, seed: 3)
        configuration.score = ScoreFunction(terms: [ResourceTerm(.latencyMilliseconds, target: refnetLatency * 0.65, weight: 0.1)],
                                            limits: HardLimits(maxLatencyMilliseconds: refnetLatency * 0.65))
        configuration.macro = try #require(MacroFit.choose(space: .edge, configuration: configuration, edgeFraction: 0.3,
                                                           measure: meter.measure).chosen).skeleton
        configuration.fitCandidates = true
        let evaluator = RecordingEvaluator()
        let run = temporaryRunPath("fit-candidates")
        let result = try SearchRunner(configuration: configuration, runDirectory: run, evaluator: evaluator, latencyPredictor: predictor).run()
        #expect(evaluator.requests.count == result.records.count && !result.records.isEmpty)
        var skeletons = Set<MacroSkeleton>()
        for request in evaluator.requests {
            let cell = try #require(request.architecture.cell)
            let fitted = try #require(MacroFit.refit(cell: cell, space: .edge, configuration: configuration, measure: meter.measure).chosen)
            let expected = configuration.architecture(cell: cell, name: request.architecture.name, skeleton: fitted.skeleton)
            #expect(request.architecture.canonicalJSON() == expected.canonicalJSON())
            skeletons.insert(fitted.skeleton)
        }
        // The trajectory records each candidate's skeleton (read back from trajectory.jsonl, as --resume does).
        let reread = try TrajectoryFile.load(path: RunDirectory(path: run).trajectoryPath, repair: false)
        #expect(reread.count == result.records.count && reread.allSatisfy { $0.skeleton != nil })
        #expect(zip(reread, evaluator.requests).allSatisfy { record, request in
            configuration.architecture(cell: request.architecture.cell!, name: request.architecture.name, skeleton: record.skeleton).stableHash
                == request.architecture.stableHash
        })
        // Cells of different sizes got different skeletons, and every one fits the limit.
        #expect(skeletons.count > 1)
        #expect(result.records.allSatisfy { $0.feasible && $0.resources.latencyMilliseconds! <= refnetLatency * 0.65 })
        // The snapshot and best.arch.json are the winners' fitted networks.
        let best = try Architecture.load(path: try #require(result.bestArchitecturePath))
        let bestCell = try #require(best.cell)
        let bestSkeleton = try #require(MacroFit.refit(cell: bestCell, space: .edge, configuration: configuration, measure: meter.measure).chosen).skeleton
        #expect(best.stages == configuration.architecture(cell: bestCell, name: "x", skeleton: bestSkeleton).stages)
        // Without the flag every candidate shares the run's skeleton.
        var plain = configuration
        plain.fitCandidates = false
        let shared = RecordingEvaluator()
        _ = try SearchRunner(configuration: plain, runDirectory: temporaryRunPath("one-skeleton"), evaluator: shared, latencyPredictor: predictor).run()
        #expect(Set(shared.requests.map { $0.architecture.stages }) == [configuration.architecture(cell: configuration.startCell, name: "x").stages])
        // config.json: written only when on, read back equal; needs a hard limit and refuses --inherit.
        #expect(!String(decoding: plain.canonicalJSON(), as: UTF8.self).contains("fitCandidates"))
        #expect(try JSONDecoder().decode(SearchConfiguration.self, from: configuration.canonicalJSON()) == configuration)
        #expect(try JSONDecoder().decode(SearchConfiguration.self, from: configuration.canonicalJSON()).firstDifference(from: plain)?.key == "fitCandidates")
        var unlimited = configuration
        unlimited.score = .reference
        #expect(throws: SearchError.self) { try unlimited.validate() }
        var inheriting = configuration
        inheriting.inherit = true
        #expect(throws: SearchError.self) { try inheriting.validate() }
    }

    @Test("the edge space enumerates valid networks only, including the reference, in a fixed order")
    func enumeration() throws {
        let cell = CellDAG.fullyConnected(operations: Self.operations)
        let input = InputShape(channels: 1, height: 28, width: 28)
        let skeletons = MacroSpace.edge.skeletons(input: input, classes: 10, cell: cell)
        // Stride 1: pools (1,2,2) (2,1,2) (2,2,1) (2,2); stride 2 (14x14 -> one more halving only): (1,1,2) (1,2,1)
        // (2,1,1) (1,2) (2,1) (2); times 3 stem widths, 7 base widths, 1 or 2 cells, residual or plain cells; the
        // stride-2 ones three times in the full-resolution space (no full-resolution layer, 8 or 16 channels).
        #expect(skeletons.count == 10 * 3 * 7 * 2 * 2)
        #expect(skeletons.allSatisfy { $0.preStemChannels == nil })
        // Each skeleton once with residual cells and once with plain ones, next to each other; every stage alike.
        for pair in stride(from: 0, to: skeletons.count, by: 2) {
            #expect(skeletons[pair].stages.allSatisfy(\.residual) && skeletons[pair + 1].stages.allSatisfy { !$0.residual })
            #expect(skeletons[pair].stages.map(\.width) == skeletons[pair + 1].stages.map(\.width))
        }
        // --macro auto's space: the residual half, in the same order.
        #expect(MacroSpace.residualEdge.skeletons(input: input, classes: 10, cell: cell) == skeletons.filter { $0.stages.allSatisfy(\.residual) })
        let full = MacroSpace.fullResolution.skeletons(input: input, classes: 10, cell: cell)
        #expect(full.count == (4 + 6 * 3) * 3 * 7 * 2 * 2)
        #expect(full.filter { $0.preStemChannels != nil }.count == 6 * 2 * 3 * 7 * 2 * 2)
        #expect(full.allSatisfy { $0.preStemChannels == nil || $0.stemStride == 2 })
        #expect(Set(full.compactMap(\.preStemChannels)) == [8, 16])
        #expect(full.contains(try MacroSkeleton(spec: "16s1+32s2-48p2")))
        #expect(full.filter { $0.preStemChannels == nil } == skeletons)
        for skeleton in full where skeleton.preStemChannels != nil {
            try BuiltinArchitectures.shrinkCNN(cell: cell, skeleton: skeleton, input: input).validate()
        }
        #expect(Set(skeletons.map(\.stages.count)) == [1, 2, 3])
        #expect(skeletons.contains(.reference()))
        #expect(Set(skeletons).count == skeletons.count)
        for skeleton in skeletons {
            try BuiltinArchitectures.shrinkCNN(cell: cell, skeleton: skeleton, input: input).validate()
        }
        #expect(skeletons == MacroSpace.edge.skeletons(input: input, classes: 10, cell: cell))
        // A 32x32 input halves three times after a stride-2 stem.
        let larger = MacroSpace.edge.skeletons(input: InputShape(channels: 3, height: 32, width: 32), classes: 10, cell: cell)
        #expect(larger.contains { $0.stemStride == 2 && $0.stages.allSatisfy { $0.pool == 2 } })
    }

    @Test("macro auto picks the most MACs whose probe network the predictor puts within the latency limit")
    func fitting() throws {
        let predictor = WorkProportionalPredictor()
        let meter = ResourceMeter(latencyPredictor: predictor)
        let input = InputShape(channels: 1, height: 28, width: 28)
        var configuration = SearchConfiguration(dataset: "fashion-mnist", input: input, nodes: 5, seed: 3)
        let refnetLatency = try predictor.predictLatencyMilliseconds(BuiltinArchitectures.refnet().lowered())
        for (budget, fraction) in [(0.6, 1.0), (1.5, 1.0), (0.6, 0.5)] {
            configuration.score = ScoreFunction(terms: [], limits: HardLimits(maxLatencyMilliseconds: refnetLatency * budget))
            let choice = try MacroFit.choose(space: .edge, configuration: configuration, edgeFraction: fraction, measure: meter.measure)
            let chosen = try #require(choice.chosen)
            #expect(choice.probeEdges == Int((fraction * 10).rounded(.up)))
            // Within the limit, and no feasible setting has more MACs.
            #expect(chosen.resources.latencyMilliseconds! <= refnetLatency * budget)
            #expect(choice.considered.filter(\.feasible).allSatisfy { $0.resources.macs <= chosen.resources.macs })
            #expect(choice.considered.contains { !$0.feasible && $0.resources.macs > chosen.resources.macs })
            // The resources are those of the probe network around the chosen skeleton.
            let probe = MacroFit.probeCell(start: configuration.startCell, fraction: fraction)
            let network = BuiltinArchitectures.shrinkCNN(cell: probe, name: configuration.architectureName, skeleton: chosen.skeleton, input: input)
            #expect(try meter.measure(network) == chosen.resources)
            #expect(choice.summaryLines().contains { $0.contains("chose \(chosen.skeleton)") })
            // The runners-up are the next below the choice; the nearest over a limit has the fewest MACs.
            let lines = choice.summaryLines()
            let others = choice.considered.filter { $0.feasible && $0.skeleton != chosen.skeleton }.map(\.resources.macs)
            let runnerUp = choice.considered.first { lines[2].hasPrefix("  runner-up \($0.skeleton):") }
            #expect(runnerUp?.resources.macs == others.max())
            let nearest = choice.considered.first { lines.last!.hasPrefix("  smallest over a limit \($0.skeleton):") }
            #expect(nearest?.resources.macs == choice.considered.filter { !$0.feasible }.map(\.resources.macs).min())
        }
        // The reference skeleton is far over 0.6x refnet here; a tight budget picks a cheaper one.
        configuration.score = ScoreFunction(terms: [], limits: HardLimits(maxLatencyMilliseconds: refnetLatency * 0.6))
        let tight = try MacroFit.choose(space: .edge, configuration: configuration, edgeFraction: 1, measure: meter.measure)
        #expect(tight.chosen?.skeleton != .reference())
        // Impossible limits: nothing chosen; no limit at all is refused.
        configuration.score = ScoreFunction(terms: [], limits: HardLimits(maxMACs: 10))
        #expect(try MacroFit.choose(space: .edge, configuration: configuration, edgeFraction: 1, measure: meter.measure).chosen == nil)
        configuration.score = .reference
        #expect(throws: SearchError.self) {
            try MacroFit.choose(space: .edge, configuration: configuration, edgeFraction: 1, measure: meter.measure)
        }
    }

    @Test("the probe cell keeps the first edges in (from, to) order")
    func probe() {
        let start = CellDAG.fullyConnected(operations: Self.operations)
        #expect(MacroFit.probeCell(start: start, fraction: 1).edges == start.edges.sorted())
        #expect(MacroFit.probeCell(start: start, fraction: 0.5).edges == [Edge(0, 1), Edge(0, 2), Edge(0, 3), Edge(0, 4), Edge(1, 2)])
        #expect(MacroFit.probeCell(start: start, fraction: 0.01).edges == [Edge(0, 1)])
    }
}
