import AutoShrinkModel
import Foundation

/// The edge macro space around the AutoShrink cell (docs/algorithm.md §1, "Macro skeleton"): stem
/// stride and channels, an optional full-resolution conv3x3 before a stride-2 stem (refnet's first
/// layer), a base width for the stages (widths base x (1, 2, 4)), cells per stage, the
/// number of stages (1 to 3) and where the reductions happen. Like FBNetV2 / MutualNet treat width and resolution as search
/// dimensions, `--macro auto` picks one point of this space before shrinking starts.
public struct MacroSpace: Hashable, Sendable {
    public var stemStrides: [Int]
    public var stemChannels: [Int]
    /// Stage widths are base x (1, 2, 4) (the first as many as there are stages).
    public var baseWidths: [Int]
    public var cellsPerStage: [Int]
    /// Pooling of each stage (1 to 3 stages: the pattern's length); patterns the input cannot halve
    /// that often are skipped.
    public var poolPatterns: [[Int]]
    /// Full-resolution layer before a stride-2 stem (`MacroSkeleton.preStemChannels`): nil is none.
    /// A stride-1 stem gets none (two full-resolution layers). The edge space has only nil: with the
    /// layer, the most-MACs rule spends the budget on the stem (refnet's 16 -> 32 stride-2 conv is
    /// 0.9M MACs) and the networks were no more accurate, only slower (docs/search-quality.md);
    /// `fullResolution` is the space with it.
    public var preStemChannels: [Int?]
    /// Whether the cells add their input (`Stage.residual`, the same for every stage of a skeleton). The
    /// edge space has both: in its shallow networks the residual add bought no accuracy and cost about a
    /// fifth of the latency (docs/search-quality.md, "Plain cells"), and the refit's most-MACs rule weighs the two.
    public var residuals: [Bool]

    public init(stemStrides: [Int] = [1, 2], stemChannels: [Int] = [8, 16, 32], baseWidths: [Int] = [8, 12, 16, 24, 32, 48, 64],
                cellsPerStage: [Int] = [1, 2],
                poolPatterns: [[Int]] = [[1, 2, 2], [2, 1, 2], [2, 2, 1], [1, 1, 2], [1, 2, 1], [2, 1, 1], [2, 2, 2],
                                         [1, 2], [2, 1], [2, 2], [2]],
                preStemChannels: [Int?] = [nil], residuals: [Bool] = [true, false]) {
        self.stemStrides = stemStrides; self.stemChannels = stemChannels; self.baseWidths = baseWidths
        self.cellsPerStage = cellsPerStage; self.poolPatterns = poolPatterns; self.preStemChannels = preStemChannels
        self.residuals = residuals
    }

    /// The default edge space (1,848 points before the feature-map check, 840 valid on a 28x28 input: 420
    /// skeletons, each with residual and with plain cells).
    public static let edge = MacroSpace()
    /// The edge space with the paper's residual cells only (420 on 28x28): what `--macro auto` fits before
    /// shrinking. The search's proxy skeleton stays the one every measurement of docs/search-quality.md
    /// before plain cells used; the plain cells enter with the refit, around the shrunk cell. Fitted with
    /// plain cells too, the most MACs went to wider stages on which only 1-edge cells fit the budget
    /// (docs/search-quality.md, "Plain cells").
    public static let residualEdge = MacroSpace(residuals: [true])
    /// The edge space plus an 8- or 16-channel full-resolution layer before every stride-2 stem (on
    /// 28x28: the 840, and the 504 stride-2 ones twice more, 1,848).
    public static let fullResolution = MacroSpace(preStemChannels: [nil, 8, 16])

    /// Every skeleton of the space that builds a valid network for `input` (at least two reductions
    /// counting the stem, an even map before every pooling), in a fixed order: stride, full-resolution
    /// layer, stem channels, base width, cells, pooling pattern, residual as listed.
    public func skeletons(input: InputShape, classes: Int, cell: CellDAG) -> [MacroSkeleton] {
        var result: [MacroSkeleton] = []
        let stems = stemStrides.flatMap { stride in (stride == 2 ? preStemChannels : [nil]).map { (stride, $0) } }
        for (stride, pre) in stems {
            for stem in stemChannels {
                for base in baseWidths {
                    for cells in cellsPerStage {
                        for pools in poolPatterns {
                            let reductions = (stride == 2 ? 1 : 0) + pools.filter { $0 == 2 }.count
                            guard reductions >= 2, (1...3).contains(pools.count) else { continue }
                            let skeleton = MacroSkeleton(stemChannels: stem, stemStride: stride, stages: zip([1, 2, 4], pools).map {
                                Stage(width: base * $0.0, pool: $0.1, cells: cells)
                            }, preStemChannels: pre)
                            guard (try? skeleton.validate()) != nil,
                                  (try? BuiltinArchitectures.shrinkCNN(cell: cell, name: "macro", skeleton: skeleton, input: input,
                                                                       classes: classes).validate()) != nil else { continue }
                            // The residual add changes no feature-map size: one check serves every variant.
                            for residual in residuals {
                                var variant = skeleton
                                variant.stages = skeleton.stages.withResidual(residual)
                                result.append(variant)
                            }
                        }
                    }
                }
            }
        }
        return result
    }
}

/// One macro setting as `--macro auto` judged it: the network with the probe cell, its resources
/// (MACs, parameters, memory and, with a profile, predicted latency) and whether it meets the hard limits.
public struct MacroCandidate: Hashable, Sendable {
    public var skeleton: MacroSkeleton
    public var resources: CandidateResources
    public var feasible: Bool
}

/// What `--macro auto` chose and from what.
public struct MacroChoice: Hashable, Sendable {
    /// The highest-capacity feasible setting; nil when none fits.
    public var chosen: MacroCandidate?
    /// Every setting considered, in the space's order.
    public var considered: [MacroCandidate]
    /// Edges of the probe cell the settings were judged with.
    public var probeEdges: Int
    public var feasibleCount: Int { considered.filter(\.feasible).count }

    /// Progress lines: the choice and why (its resources, how many settings fit, the runners-up),
    /// each starting with `label` (`macro auto`, or `macro refit` for `MacroFit.refit`).
    public func summaryLines(limit: Int = 5, label: String = "macro auto") -> [String] {
        func describe(_ candidate: MacroCandidate) -> String {
            var text = "\(candidate.skeleton): \(ArchitectureSummary.scaled(Double(candidate.resources.macs))) MACs, "
                + "\(ArchitectureSummary.scaled(Double(candidate.resources.parameters))) params"
            if let latency = candidate.resources.latencyMilliseconds { text += String(format: ", predicted %.4f ms", latency) }
            text += String(format: ", peak %.1f KiB", Double(candidate.resources.peakActivationBytes) / 1024)
            return text
        }
        var lines = ["\(label): \(considered.count) settings considered with a \(probeEdges)-edge cell, \(feasibleCount) within the limits"]
        guard let chosen else {
            let cheapest = considered.min { ($0.resources.latencyMilliseconds ?? 0, $0.resources.macs) < ($1.resources.latencyMilliseconds ?? 0, $1.resources.macs) }
            return lines + ["\(label): none fits" + (cheapest.map { "; the cheapest is \(describe($0))" } ?? "")]
        }
        lines.append("\(label): chose \(describe(chosen)) (the most MACs within the limits)")
        // `ranked` puts the highest capacity last: the runners-up are the next below the choice, the
        // nearest setting over a limit the one with the fewest MACs.
        let ranked = MacroFit.ranked(considered.filter { $0.feasible && $0.skeleton != chosen.skeleton })
        for candidate in ranked.reversed().prefix(limit) { lines.append("  runner-up \(describe(candidate))") }
        let infeasible = considered.filter { !$0.feasible }
        if let nearest = MacroFit.ranked(infeasible).first {
            lines.append("  smallest over a limit \(describe(nearest))")
        }
        return lines
    }
}

/// Chooses a macro skeleton that fits the device budget without training (docs/algorithm.md §1,
/// "Macro skeleton"): every setting of the space is built around a probe cell, measured with the
/// search's resource meter (cost model + latency predictor), and the feasible setting with the most
/// MACs (then parameters, then the space's order) wins.
public enum MacroFit {
    /// The probe cell: the first `ceil(fraction x edges)` edges of `start` in (from, to) order, so the
    /// edges out of the input come first and every node stays reachable as long as possible.
    public static func probeCell(start: CellDAG, fraction: Double) -> CellDAG {
        let sorted = start.edges.sorted()
        let keep = min(sorted.count, max(0, Int((fraction * Double(sorted.count)).rounded(.up))))
        return CellDAG(nodes: start.nodes, operations: start.operations, edges: Array(sorted.prefix(keep)))
    }

    /// Highest capacity last: ascending MACs, then parameters, then position (stable).
    static func ranked(_ candidates: [MacroCandidate]) -> [MacroCandidate] {
        candidates.enumerated().sorted { a, b in
            if a.element.resources.macs != b.element.resources.macs { return a.element.resources.macs < b.element.resources.macs }
            if a.element.resources.parameters != b.element.resources.parameters {
                return a.element.resources.parameters < b.element.resources.parameters
            }
            return a.offset > b.offset
        }.map(\.element)
    }

    /// Judges every setting of `space` for `configuration` (its cell, input, classes and hard limits)
    /// with the probe cell at `edgeFraction` of the starting cell's edges.
    /// - Parameter measure: the resources of a network (the search's `ResourceMeter.measure`).
    public static func choose(space: MacroSpace, configuration: SearchConfiguration, edgeFraction: Double,
                              measure: (Architecture) throws -> CandidateResources) throws -> MacroChoice {
        guard edgeFraction > 0, edgeFraction <= 1 else { throw SearchError("--macro-edges must be in (0, 1], got \(edgeFraction)") }
        return try choose(space: space, configuration: configuration, probe: probeCell(start: configuration.startCell, fraction: edgeFraction),
                          measure: measure)
    }

    /// Judges every setting of `space` around `probe` (any cell of the configuration's node count):
    /// `choose(space:configuration:edgeFraction:measure:)` with a probe taken from the starting cell,
    /// and `refit` with the search's final cell.
    public static func choose(space: MacroSpace, configuration: SearchConfiguration, probe: CellDAG,
                              measure: (Architecture) throws -> CandidateResources) throws -> MacroChoice {
        guard !configuration.score.limits.isEmpty else {
            throw SearchError("--macro auto needs a hard limit to fit (--max-latency-ms, --max-peak-memory-kb, --max-weights-kb or --max-macs)")
        }
        let considered = try space.skeletons(input: configuration.input, classes: configuration.classes, cell: configuration.startCell)
            .map { skeleton -> MacroCandidate in
                let architecture = BuiltinArchitectures.shrinkCNN(cell: probe, name: configuration.architectureName, skeleton: skeleton,
                                                                  input: configuration.input, classes: configuration.classes)
                let resources = try measure(architecture)
                return MacroCandidate(skeleton: skeleton, resources: resources, feasible: configuration.score.isFeasible(resources))
            }
        return MacroChoice(chosen: ranked(considered.filter(\.feasible)).last, considered: considered, probeEdges: probe.edges.count)
    }

    /// Re-fits the macro skeleton to the search's final cell (docs/algorithm.md §1, "Macro refit"):
    /// `--macro auto` fits the skeleton with a probe cell before shrinking, and the shrunk cell then
    /// leaves part of the budget unspent; judging the space again around the final cell spends it.
    /// The same rule as `choose` (the feasible setting with the most MACs) over the settings whose
    /// stem has at least half the first stage's width: with a shrunk cell the most MACs otherwise
    /// go to wide stages behind an 8-channel stem (`8s2-64p2x2`), which measured 0.6 points below
    /// `32s2-32p2-64p1` at more latency (docs/search-quality.md, "Macro refit end to end"). And a setting
    /// of at least `refitMinimumCells` cells whenever one is feasible: the most MACs otherwise often go to one
    /// wide cell at 7x7 (`32s2-64p2`), and every such network trained 0.3-1 point below a two-cell one of the
    /// same cell (docs/search-quality.md, "Macro fit per candidate", "The quickstart with every call charged").
    public static func refit(cell: CellDAG, space: MacroSpace, configuration: SearchConfiguration,
                             measure: (Architecture) throws -> CandidateResources) throws -> MacroChoice {
        guard cell.nodes == configuration.nodes else {
            throw SearchError("macro refit: the cell has \(cell.nodes) nodes, the run \(configuration.nodes)")
        }
        let all = try choose(space: space, configuration: configuration, probe: cell, measure: measure)
        let considered = all.considered.filter { refitAllows($0.skeleton) }
        let feasible = considered.filter(\.feasible)
        let deep = feasible.filter { $0.skeleton.totalCells >= refitMinimumCells }
        return MacroChoice(chosen: ranked(deep.isEmpty ? feasible : deep).last, considered: considered, probeEdges: all.probeEdges)
    }

    /// The refit's depth rule: settings of fewer cells are chosen only when none of this many fits.
    public static let refitMinimumCells = 2

    /// One step winner of a search, as `refitTrajectory` weighs it.
    public struct Snapshot: Hashable, Sendable {
        public var cell: CellDAG
        public var accuracy: Double
        public init(cell: CellDAG, accuracy: Double) { self.cell = cell; self.accuracy = accuracy }
    }

    /// What `refitTrajectory` kept: the snapshot whose cell is refit, and the refit of it.
    public struct TrajectoryRefit: Sendable {
        public var snapshot: Snapshot
        public var choice: MacroChoice
        /// Snapshots within the noise of the best one that were refit and compared (the best first).
        public var compared: [(snapshot: Snapshot, macs: Int?)]
        /// One binomial standard error of the best snapshot's proxy accuracy.
        public var standardError: Double
    }

    /// The refit across the trajectory (docs/algorithm.md §1, "Macro refit"). The search ranks cells on its own
    /// skeleton, but the network that is trained is the refit one, and a cheaper cell gets a larger skeleton within
    /// the same limits. So the feasible step winners whose proxy accuracy is within one standard error of the best
    /// snapshot's (sqrt(p (1 - p) / n) on the n validation images: closer accuracies are not told apart) are all
    /// refit, and the one whose refit network has the most MACs is kept; the best snapshot on ties, and when no
    /// other is that close. `winners` are the other feasible step winners, in any order.
    public static func refitTrajectory(best: Snapshot, winners: [Snapshot], validationImages: Int, space: MacroSpace,
                                       configuration: SearchConfiguration,
                                       measure: (Architecture) throws -> CandidateResources) throws -> TrajectoryRefit {
        let p = min(max(best.accuracy, 0), 1)
        let standardError = (p * (1 - p) / Double(max(validationImages, 1))).squareRoot()
        let tied = [best] + winners.filter { $0.cell.edges != best.cell.edges && $0.accuracy >= best.accuracy - standardError }
        var result: TrajectoryRefit?  // the best snapshot's refit first, replaced only by a strictly larger network
        var compared: [(snapshot: Snapshot, macs: Int?)] = []
        for snapshot in tied {
            let choice = try refit(cell: snapshot.cell, space: space, configuration: configuration, measure: measure)
            let macs = choice.chosen?.resources.macs
            compared.append((snapshot, macs))
            if result == nil || (macs ?? -1) > (result!.choice.chosen?.resources.macs ?? -1) {
                result = TrajectoryRefit(snapshot: snapshot, choice: choice, compared: [], standardError: standardError)
            }
        }
        result!.compared = compared  // `tied` starts with `best`
        return result!
    }

    /// The refit's stem rule: stem channels at least half the first stage's width.
    public static func refitAllows(_ skeleton: MacroSkeleton) -> Bool {
        guard let first = skeleton.stages.first else { return true }
        return 2 * skeleton.stemChannels >= first.width
    }
}
