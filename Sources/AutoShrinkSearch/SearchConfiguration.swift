import AutoShrinkFormats
import AutoShrinkModel
import Foundation

/// Which search strategy a run uses.
public enum SearchStrategyKind: String, Codable, Hashable, Sendable, CaseIterable {
    /// AutoShrink: progressive edge shrinking (docs/algorithm.md §1).
    case autoshrink
    /// Random search over DAGs with the AutoShrink run's edge counts and budget.
    case random
}

/// The resolved configuration of a search run, stored as `config.json` (format
/// `autoshrink.search-config`, version 1). A run is fully determined by it (and by the evaluator's
/// determinism): two runs with equal configurations evaluate the same candidates with the same seeds.
public struct SearchConfiguration: Codable, Hashable, Sendable, VersionedDocument {
    public static let formatName = "autoshrink.search-config"
    public static let currentVersion = 1
    public static let documentKind = "a search config"
    public static let versionLabel = "search config"
    public static func documentError(_ message: String) -> any Error { SearchError(message) }

    public var format: String
    public var version: Int
    public var strategy: SearchStrategyKind
    /// Dataset name or path (recorded; the evaluator loads it).
    public var dataset: String
    /// Proxy network input (one image) and number of classes, from the dataset.
    public var input: InputShape
    public var classes: Int
    /// Cell nodes N (node 0 is the input); the search starts from the full N(N-1)/2-edge DAG.
    public var nodes: Int
    /// K: candidates sampled per step (min(K, |shrink space|)).
    public var candidates: Int
    /// Stop once the cell has at most this many edges (0: until the shrink space is empty).
    public var minEdges: Int
    public var seed: UInt64
    /// Proxy network macro structure: stage widths baseWidth * (1, 2, 4), cells per stage.
    public var baseWidth: Int
    public var cellsPerStage: Int
    /// Prefix of snapshot architecture names (`<prefix>-step-007`).
    public var architectureName: String
    /// Proxy training (the evaluator follows these): images per class, maximum epochs, Adam
    /// learning rate, batch size, L2 weight decay.
    public var proxyPerClass: Int
    public var epochs: Int
    public var learningRate: Double
    public var batchSize: Int
    public var weightDecay: Double
    /// Initialise each candidate from the previous step's winner ("topology knowledge accumulation").
    public var inherit: Bool
    /// Concurrent candidate evaluations. Does not change results, so a run may be resumed with
    /// a different value (it is not compared).
    public var workers: Int
    public var score: ScoreFunction
    /// Identity of the latency model behind latency terms and limits (e.g. profile path and
    /// kernel hash), nil without one.
    public var latencyProfile: String?
    /// Random strategy only: the edge count of every candidate, one array per step. Resolved at
    /// creation from the simulated AutoShrink schedule (`AutoShrinkStrategy.simulatedPlan`) or from
    /// an AutoShrink run's trajectory (`RandomSearchStrategy.plan(matching:)`).
    public var randomPlan: [[Int]]?
    /// Validation images per class the evaluator holds out of the training set (compared like the rest).
    public var validationPerClass: Int
    /// The proxy network's macro skeleton (`--macro`, docs/algorithm.md §1 "Macro skeleton"); nil is the
    /// paper's skeleton from `baseWidth` and `cellsPerStage`, so config files written before this field
    /// load (and compare) unchanged.
    public var macro: MacroSkeleton?
    /// Successive halving inside every step (`--halving`, docs/algorithm.md §1 "Successive halving");
    /// nil (off) is not written, so config files without it load and compare unchanged.
    public var halving: HalvingSchedule?
    /// Fit the macro skeleton to every candidate's cell (`search --fit-candidates`, docs/algorithm.md §1
    /// "Macro fit per candidate"): each candidate trains on the skeleton `MacroFit.refit` chooses for its own
    /// cell within the hard limits, so a step compares cells at the budget instead of on one skeleton fitted
    /// to a probe cell; `macro` is the fallback for a cell no skeleton fits. false is not written, so config
    /// files without it load and compare unchanged.
    public var fitCandidates: Bool

    public init(strategy: SearchStrategyKind = .autoshrink, dataset: String,
                input: InputShape = InputShape(channels: 1, height: 28, width: 28), classes: Int = 10,
                nodes: Int = 8, candidates: Int = 10, minEdges: Int = 0, seed: UInt64 = 0,
                baseWidth: Int = 16, cellsPerStage: Int = 1, architectureName: String = "shrinkcnn",
                proxyPerClass: Int = 500, epochs: Int = 20, learningRate: Double = 4e-3, batchSize: Int = 128,
                weightDecay: Double = 1e-5, inherit: Bool = false, workers: Int = 1,
                score: ScoreFunction = .reference, latencyProfile: String? = nil,
                randomPlan: [[Int]]? = nil, validationPerClass: Int = 100, macro: MacroSkeleton? = nil,
                halving: HalvingSchedule? = nil, fitCandidates: Bool = false) {
        self.format = SearchConfiguration.formatName
        self.version = SearchConfiguration.currentVersion
        self.strategy = strategy; self.dataset = dataset; self.input = input; self.classes = classes
        self.nodes = nodes; self.candidates = candidates; self.minEdges = minEdges; self.seed = seed
        self.baseWidth = baseWidth; self.cellsPerStage = cellsPerStage; self.architectureName = architectureName
        self.proxyPerClass = proxyPerClass; self.epochs = epochs; self.learningRate = learningRate
        self.batchSize = batchSize; self.weightDecay = weightDecay; self.inherit = inherit; self.workers = workers
        self.score = score; self.latencyProfile = latencyProfile; self.randomPlan = randomPlan
        self.validationPerClass = validationPerClass
        self.macro = macro
        self.halving = halving
        self.fitCandidates = fitCandidates
    }

    // MARK: - Derived

    /// Node operations (fixed for the whole search): shuffled with the run seed.
    public var nodeOperations: [NodeOperation] {
        BuiltinArchitectures.nodeOperations(nodes: nodes, seed: seed)
    }

    /// The fully connected starting cell.
    public var startCell: CellDAG { .fullyConnected(operations: nodeOperations) }

    /// The cell with no edges (identity / pool cells): the smallest network of the space.
    public var emptiestCell: CellDAG { CellDAG(nodes: nodes, operations: nodeOperations, edges: []) }

    /// The macro skeleton the proxy network uses: `macro`, else the reference one.
    public var skeleton: MacroSkeleton {
        macro ?? .reference(baseWidth: baseWidth, cellsPerStage: cellsPerStage)
    }

    /// The proxy network around `cell` on the run's skeleton (with `fitCandidates` the runner passes each
    /// candidate's own skeleton, `SearchRunner.architecture(cell:name:)`).
    public func architecture(cell: CellDAG, name: String, skeleton: MacroSkeleton? = nil) -> Architecture {
        BuiltinArchitectures.shrinkCNN(cell: cell, name: name, skeleton: skeleton ?? self.skeleton, input: input, classes: classes)
    }

    /// The random plan to use: the stored one, else the simulated AutoShrink schedule.
    public var resolvedRandomPlan: [[Int]] {
        randomPlan ?? AutoShrinkStrategy.simulatedPlan(edges: nodes * (nodes - 1) / 2, candidates: candidates, minEdges: minEdges)
    }

    /// This configuration with defaults made explicit (the random plan), as stored in `config.json`.
    public func resolved() -> SearchConfiguration {
        var copy = self
        if strategy == .random && copy.randomPlan == nil { copy.randomPlan = resolvedRandomPlan }
        return copy
    }

    /// The strategy this configuration describes.
    public func makeStrategy() -> any SearchStrategy {
        switch strategy {
        case .autoshrink: return AutoShrinkStrategy(candidates: candidates, minEdges: minEdges, seed: seed)
        case .random: return RandomSearchStrategy(plan: resolvedRandomPlan, seed: seed)
        }
    }

    // MARK: - Checks

    /// Checks ranges and option combinations; one-line `SearchError`.
    public func validate() throws {
        guard format == SearchConfiguration.formatName else { throw SearchError("config: format is '\(format)', expected '\(SearchConfiguration.formatName)'") }
        guard version == SearchConfiguration.currentVersion else {
            throw SearchError("config: unsupported search config version \(version) (this autoshrink reads version \(SearchConfiguration.currentVersion))")
        }
        guard (2...16).contains(nodes) else { throw SearchError("--nodes must be in 2...16, got \(nodes)") }
        guard candidates >= 1 else { throw SearchError("--candidates must be at least 1, got \(candidates)") }
        guard minEdges >= 0 else { throw SearchError("--min-edges must be >= 0, got \(minEdges)") }
        guard workers >= 1 else { throw SearchError("--workers must be at least 1, got \(workers)") }
        guard baseWidth >= 1, cellsPerStage >= 1 else { throw SearchError("base width and cells per stage must be positive") }
        guard proxyPerClass >= 1, epochs >= 1, batchSize >= 1 else { throw SearchError("proxy-per-class, epochs and batch size must be positive") }
        guard learningRate > 0, weightDecay >= 0 else { throw SearchError("learning rate must be positive and weight decay >= 0") }
        guard !architectureName.isEmpty else { throw SearchError("architecture name must not be empty") }
        if inherit && strategy == .random { throw SearchError("--inherit applies to the autoshrink strategy only (random candidates have no parent)") }
        if fitCandidates && score.limits.isEmpty {
            throw SearchError("--fit-candidates needs a hard limit to fit (--max-latency-ms, --max-peak-memory-kb, --max-weights-kb or --max-macs)")
        }
        if fitCandidates && inherit { throw SearchError("--fit-candidates gives candidates different skeletons; it cannot be combined with --inherit") }
        try score.validate()
        if let halving { try halving.validate(epochs: epochs) }
        if let macro { do { try macro.validate(source: "config: macro") } catch { throw SearchError("\(error)") } }
        try architecture(cell: startCell, name: architectureName).validate(source: "proxy network")
        if let plan = randomPlan {
            let maximum = nodes * (nodes - 1) / 2
            for (step, counts) in plan.enumerated() {
                guard !counts.isEmpty, counts.allSatisfy({ (0..<maximum).contains($0) }) else {
                    throw SearchError("random plan step \(step + 1): edge counts must be in 0..<\(maximum), at least one candidate")
                }
            }
        }
    }

    /// The first setting (as a JSON key path, in declaration order) where `other` differs from
    /// this configuration, ignoring `workers`; nil when they are equal.
    public func firstDifference(from other: SearchConfiguration) -> ConfigurationDifference? {
        firstMirrorDifference(self, other, path: "", ignoring: ["workers"])
    }

    /// Reads and checks a stored `config.json` (the shared `VersionedDocument` path: one-line errors naming
    /// the file and the key).
    public static func load(path: String) throws -> SearchConfiguration {
        try loadDocument(path: path)
    }

    private enum CodingKeys: String, CodingKey {
        case format, version, strategy, dataset, input, classes, nodes, candidates, minEdges, seed, baseWidth, cellsPerStage
        case architectureName, proxyPerClass, epochs, learningRate, batchSize, weightDecay, inherit, workers, score
        case latencyProfile, randomPlan, validationPerClass, macro, halving, fitCandidates
        /// Before `validationPerClass` was a field, config.json kept it as `extra: {"validationPerClass": "100"}`.
        case extra
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        format = try c.decode(String.self, forKey: .format)
        version = try c.decode(Int.self, forKey: .version)
        strategy = try c.decode(SearchStrategyKind.self, forKey: .strategy)
        dataset = try c.decode(String.self, forKey: .dataset)
        input = try c.decode(InputShape.self, forKey: .input)
        classes = try c.decode(Int.self, forKey: .classes)
        nodes = try c.decode(Int.self, forKey: .nodes)
        candidates = try c.decode(Int.self, forKey: .candidates)
        minEdges = try c.decode(Int.self, forKey: .minEdges)
        seed = try c.decode(UInt64.self, forKey: .seed)
        baseWidth = try c.decode(Int.self, forKey: .baseWidth)
        cellsPerStage = try c.decode(Int.self, forKey: .cellsPerStage)
        architectureName = try c.decode(String.self, forKey: .architectureName)
        proxyPerClass = try c.decode(Int.self, forKey: .proxyPerClass)
        epochs = try c.decode(Int.self, forKey: .epochs)
        learningRate = try c.decode(Double.self, forKey: .learningRate)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        weightDecay = try c.decode(Double.self, forKey: .weightDecay)
        inherit = try c.decode(Bool.self, forKey: .inherit)
        workers = try c.decode(Int.self, forKey: .workers)
        score = try c.decode(ScoreFunction.self, forKey: .score)
        latencyProfile = try c.decodeIfPresent(String.self, forKey: .latencyProfile)
        randomPlan = try c.decodeIfPresent([[Int]].self, forKey: .randomPlan)
        if let value = try c.decodeIfPresent(Int.self, forKey: .validationPerClass) {
            validationPerClass = value
        } else if let legacy = try c.decodeIfPresent(LegacyExtra.self, forKey: .extra)?.validationPerClass {
            guard let value = Int(legacy) else {
                throw DecodingError.dataCorruptedError(forKey: .extra, in: c, debugDescription: "validationPerClass '\(legacy)' is not an integer")
            }
            validationPerClass = value
        } else {
            validationPerClass = 100
        }
        macro = try c.decodeIfPresent(MacroSkeleton.self, forKey: .macro)
        halving = try c.decodeIfPresent(HalvingSchedule.self, forKey: .halving)
        fitCandidates = try c.decodeIfPresent(Bool.self, forKey: .fitCandidates) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format); try c.encode(version, forKey: .version)
        try c.encode(strategy, forKey: .strategy); try c.encode(dataset, forKey: .dataset)
        try c.encode(input, forKey: .input); try c.encode(classes, forKey: .classes)
        try c.encode(nodes, forKey: .nodes); try c.encode(candidates, forKey: .candidates)
        try c.encode(minEdges, forKey: .minEdges); try c.encode(seed, forKey: .seed)
        try c.encode(baseWidth, forKey: .baseWidth); try c.encode(cellsPerStage, forKey: .cellsPerStage)
        try c.encode(architectureName, forKey: .architectureName); try c.encode(proxyPerClass, forKey: .proxyPerClass)
        try c.encode(epochs, forKey: .epochs); try c.encode(learningRate, forKey: .learningRate)
        try c.encode(batchSize, forKey: .batchSize); try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(inherit, forKey: .inherit); try c.encode(workers, forKey: .workers)
        try c.encode(score, forKey: .score)
        try c.encodeIfPresent(latencyProfile, forKey: .latencyProfile)
        try c.encodeIfPresent(randomPlan, forKey: .randomPlan)
        try c.encode(validationPerClass, forKey: .validationPerClass)
        try c.encodeIfPresent(macro, forKey: .macro)
        try c.encodeIfPresent(halving, forKey: .halving)
        if fitCandidates { try c.encode(fitCandidates, forKey: .fitCandidates) }
    }

    /// The old `extra` object: only `validationPerClass` was ever written there.
    private struct LegacyExtra: Decodable {
        var validationPerClass: String?
    }

    /// Canonical JSON (sorted keys, pretty printed, trailing newline).
    public func canonicalJSON() -> Data {
        SearchJSON.file(self)
    }
}

/// Where two configurations differ: key path and both values as text.
public struct ConfigurationDifference: Hashable, Sendable, CustomStringConvertible {
    public var key: String
    public var stored: String
    public var requested: String
    public var description: String { "\(key) (run has \(stored), requested \(requested))" }
}

/// Walks two values of the same type in parallel (stored properties in declaration order,
/// array elements in order, dictionary entries by sorted key) and reports the first leaf that differs.
func firstMirrorDifference(_ lhs: Any, _ rhs: Any, path: String, ignoring: Set<String>) -> ConfigurationDifference? {
    let left = Mirror(reflecting: lhs), right = Mirror(reflecting: rhs)
    func text(_ mirror: Mirror, _ value: Any) -> String {
        if mirror.displayStyle == .optional { return mirror.children.first.map { "\($0.value)" } ?? "null" }
        if let string = value as? String { return "'\(string)'" }
        return "\(value)"
    }
    func join(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    switch (left.displayStyle, right.displayStyle) {
    case (.optional, .optional):
        switch (left.children.first, right.children.first) {
        case (nil, nil): return nil
        case (let l?, let r?): return firstMirrorDifference(l.value, r.value, path: path, ignoring: ignoring)
        default: return ConfigurationDifference(key: path, stored: text(left, lhs), requested: text(right, rhs))
        }
    case (.struct, .struct), (.class, .class):
        for (l, r) in zip(left.children, right.children) {
            guard let label = l.label, !ignoring.contains(join(label)) else { continue }
            if let difference = firstMirrorDifference(l.value, r.value, path: join(label), ignoring: ignoring) { return difference }
        }
        return nil
    case (.collection, .collection):
        let l = Array(left.children), r = Array(right.children)
        for index in 0..<min(l.count, r.count) {
            if let difference = firstMirrorDifference(l[index].value, r[index].value, path: "\(path)[\(index)]", ignoring: ignoring) {
                return difference
            }
        }
        if l.count != r.count {
            return ConfigurationDifference(key: path, stored: "\(l.count) entries", requested: "\(r.count) entries")
        }
        return nil
    case (.dictionary, .dictionary):
        func entries(_ mirror: Mirror) -> [(String, Any)] {
            mirror.children.compactMap { child -> (String, Any)? in
                let pair = Array(Mirror(reflecting: child.value).children)
                guard pair.count == 2 else { return nil }
                return ("\(pair[0].value)", pair[1].value)
            }.sorted { $0.0 < $1.0 }
        }
        let l = entries(left), r = entries(right)
        let keys = Set(l.map(\.0)).union(r.map(\.0)).sorted()
        for key in keys {
            let lv = l.first { $0.0 == key }?.1, rv = r.first { $0.0 == key }?.1
            switch (lv, rv) {
            case (let a?, let b?):
                if let difference = firstMirrorDifference(a, b, path: join(key), ignoring: ignoring) { return difference }
            default:
                return ConfigurationDifference(key: join(key), stored: lv.map { "\($0)" } ?? "nothing", requested: rv.map { "\($0)" } ?? "nothing")
            }
        }
        return nil
    default:
        let l = text(left, lhs), r = text(right, rhs)
        return l == r ? nil : ConfigurationDifference(key: path, stored: l, requested: r)
    }
}
