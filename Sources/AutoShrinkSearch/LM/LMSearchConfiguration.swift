import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import Foundation

/// Proxy training of one LM search candidate (docs/shrinkrnn.md, "Search"): a small tied model
/// (`hidden` = embed) over the corpus cut to the `vocabulary` most frequent words, trained with the
/// NT-ASGD recipe of `LMTrainer` on the first `trainTokens` training tokens, scored on the first
/// `validTokens` validation tokens.
public struct LMProxySettings: Codable, Hashable, Sendable {
    public var vocabulary: Int
    public var hidden: Int
    public var trainTokens: Int
    public var validTokens: Int
    public var epochs: Int
    public var batchSize: Int
    public var bptt: Int
    public var learningRate: Float
    public var clip: Float
    public var dropout: LMDropout
    /// The cell's initial gate bias (`LanguageModel.defaultGateBias` for runs made since the gate biases); nil in
    /// runs made before them, so resuming one with this version is refused as a different configuration.
    public var gateBias: Float?

    public init(vocabulary: Int = 10_000, hidden: Int = 64, trainTokens: Int = 200_000, validTokens: Int = 40_000, epochs: Int = 1,
                batchSize: Int = 32, bptt: Int = 35, learningRate: Float = 20, clip: Float = 0.25,
                dropout: LMDropout = LMDropout(input: 0, hidden: 0, output: 0), gateBias: Float? = LanguageModel.defaultGateBias) {
        self.vocabulary = vocabulary; self.hidden = hidden; self.trainTokens = trainTokens; self.validTokens = validTokens
        self.epochs = epochs; self.batchSize = batchSize; self.bptt = bptt; self.learningRate = learningRate; self.clip = clip
        self.dropout = dropout; self.gateBias = gateBias
    }

    enum CodingKeys: String, CodingKey {
        case vocabulary, hidden, epochs, bptt, clip, dropout, gateBias = "gate_bias"
        case trainTokens = "train_tokens", validTokens = "valid_tokens", batchSize = "batch_size", learningRate = "learning_rate"
    }
}

/// The resolved configuration of an LM search run, `config.json` (format `autoshrink.lm-search-config`,
/// version 1; docs/shrinkrnn.md, "Search"). As for CNNs a run is determined by it: two runs with equal
/// configurations train the same candidates with the same seeds.
public struct LMSearchConfiguration: Codable, Hashable, Sendable, VersionedDocument, RunConfiguration {
    public typealias Record = LMCandidateRecord
    public static let formatName = "autoshrink.lm-search-config"
    public static let currentVersion = 1
    public static let documentKind = "an LM search config"
    public static let versionLabel = "LM search config"
    public static func documentError(_ message: String) -> any Error { SearchError(message) }

    public var format: String = LMSearchConfiguration.formatName
    public var version: Int = LMSearchConfiguration.currentVersion
    /// Corpus name as `TextCorpus.name` gives it (recorded; the CLI loads the corpus).
    public var corpus: String
    /// The cell the search starts from (normally the fully connected one); its activations stay fixed.
    public var startCell: RNNCell
    /// K: candidates per step (min(K, |shrink space|)).
    public var candidates: Int
    /// Stop once the cell has at most this many edges (0: until the shrink space is empty).
    public var minEdges: Int
    public var seed: UInt64
    public var proxy: LMProxySettings
    /// The model the resources (MACs per token, parameters) are counted for: the one trained afterwards.
    public var target: LanguageModelShape
    /// Score `-log10(valid perplexity) - sum of weight * log10(value / target)`, limits on MACs per token
    /// and (with a profile) on predicted latency per token (`limits.maxLatencyMilliseconds`, per token).
    public var score: ScoreFunction
    /// The `LMLatencyPredictor.identity` that predicts latency per token; nil without a profile (then no
    /// latency term or limit is allowed). Absent in runs made before it.
    public var latencyProfile: String?

    public init(corpus: String, startCell: RNNCell, candidates: Int = 4, minEdges: Int = 0, seed: UInt64 = 0,
                proxy: LMProxySettings = LMProxySettings(), target: LanguageModelShape, score: ScoreFunction = .reference,
                latencyProfile: String? = nil) {
        self.corpus = corpus; self.startCell = startCell; self.candidates = candidates; self.minEdges = minEdges; self.seed = seed
        self.proxy = proxy; self.target = target; self.score = score; self.latencyProfile = latencyProfile
    }

    enum CodingKeys: String, CodingKey {
        case format, version, corpus, candidates, seed, proxy, target, score
        case startCell = "start_cell", minEdges = "min_edges", latencyProfile = "latency_profile"
    }

    /// Score terms and limits an LM candidate has values for (latency per token needs a profile).
    public static let resourceKinds: Set<ResourceKind> = [.macs, .parameters, .latencyMilliseconds]

    public func validate(source: String) throws {
        guard format == LMSearchConfiguration.formatName, version == LMSearchConfiguration.currentVersion else {
            throw SearchError("\(source): not an LM search config of version \(LMSearchConfiguration.currentVersion)")
        }
        try startCell.validate(source: "\(source): start cell")
        guard startCell.nodes >= 2 else { throw SearchError("\(source): the start cell needs at least 2 nodes (an edge to remove)") }
        guard (1...10_000).contains(candidates) else { throw SearchError("\(source): candidates must be in 1...10000, got \(candidates)") }
        guard (0...1_000).contains(minEdges) else { throw SearchError("\(source): min edges must be in 0...1000, got \(minEdges)") }
        try target.validate(source: "\(source): target")
        guard (3...target.vocabulary).contains(proxy.vocabulary) else {
            throw SearchError("\(source): proxy vocabulary \(proxy.vocabulary) must be in 3...\(target.vocabulary) (the target's)")
        }
        guard (1...LanguageModelShape.maximumWidth).contains(proxy.hidden) else { throw SearchError("\(source): proxy hidden \(proxy.hidden) out of range") }
        guard proxy.trainTokens >= 2, proxy.validTokens >= 2, (1...10_000).contains(proxy.epochs),
              (1...65_536).contains(proxy.batchSize), (1...10_000).contains(proxy.bptt) else {
            throw SearchError("\(source): proxy tokens, epochs, batch size and bptt must be positive and in range")
        }
        guard proxy.trainTokens >= 2 * proxy.batchSize else {
            throw SearchError("\(source): \(proxy.trainTokens) proxy training tokens are too few for batch \(proxy.batchSize)")
        }
        guard proxy.learningRate.isFinite, proxy.learningRate > 0, proxy.clip.isFinite, proxy.clip >= 0 else {
            throw SearchError("\(source): proxy learning rate must be positive and clip >= 0")
        }
        for p in [proxy.dropout.input, proxy.dropout.hidden, proxy.dropout.output] where !(p.isFinite && (0...0.95).contains(p)) {
            throw SearchError("\(source): proxy dropout must be in 0...0.95")
        }
        if let bias = proxy.gateBias, !(bias.isFinite && (-20...20).contains(bias)) {
            throw SearchError("\(source): proxy gate bias must be in -20...20")
        }
        try score.validate()
        if let kind = score.terms.map(\.resource).first(where: { !LMSearchConfiguration.resourceKinds.contains($0) }) {
            throw SearchError("\(source): score term \(kind.rawValue) does not apply to a language model (macs, parameters, latency_ms per token)")
        }
        if score.limits.maxPeakActivationKilobytes != nil || score.limits.maxWeightKilobytes != nil {
            throw SearchError("\(source): a language-model search takes only the MACs-per-token and latency-per-token limits")
        }
        if score.needsLatency && latencyProfile == nil { throw SearchError(.latencyNeedsPredictor) }
        if let latencyProfile, latencyProfile.isEmpty || latencyProfile.count > 1_000 {
            throw SearchError("\(source): latency_profile must be a non-empty name")
        }
    }

    /// The proxy model's shape: tied, embed = hidden = `proxy.hidden`, over the proxy vocabulary.
    public func proxyShape(vocabulary: Int) -> LanguageModelShape {
        LanguageModelShape(vocabulary: vocabulary, embed: proxy.hidden, hidden: proxy.hidden, tied: true)
    }

    /// MACs per token and parameters of `cell` in the target model, and its predicted latency per token
    /// (`latencyMilliseconds`) when `predictor` is given.
    public func resources(of cell: RNNCell, predictor: (any LMLatencyPredictor)?) throws -> (resources: CandidateResources, cellMACs: Int) {
        var (resources, cellMACs) = resources(of: cell)
        let latency = try predictor?.latencyPerTokenMilliseconds(cell: cell, shape: target)
        if let latency, !(latency.isFinite && latency >= 0) {
            throw SearchError("the latency predictor returned \(latency) ms per token for \(cell.summary); expected a finite number >= 0")
        }
        resources.latencyMilliseconds = latency
        return (resources, cellMACs)
    }

    /// MACs per token and parameters of `cell` in the target model (no latency).
    public func resources(of cell: RNNCell) -> (resources: CandidateResources, cellMACs: Int) {
        let cost = LanguageModelCost(cell: cell, shape: target)
        return (CandidateResources(macs: cost.macsPerToken, parameters: cost.parameters, weightBytes: cost.parameters * 4,
                                   peakActivationBytes: 0), cost.cellMACs)
    }

    /// The cell without edges: the smallest model of the search space.
    public var emptiestCell: RNNCell { RNNCell(activations: startCell.activations, edges: []) }

    /// The score of a candidate: `-log10(valid perplexity)` in place of the CNN's accuracy.
    public func score(validPerplexity: Double, resources: CandidateResources) -> Double {
        score.score(accuracy: -log10(validPerplexity), resources: resources)
    }

    /// `-log10(ppl) - 0.1*log10(macs/1e+06); limits: --max-macs 2000000` (latency_ms is per token).
    public var scoreSummary: String {
        "-log10(ppl)" + score.summary(limitName: LMSearchConfiguration.limitName).dropFirst("acc".count)
    }

    /// The CLI option of each limit of an LM search.
    public static func limitName(_ kind: LimitKind) -> String {
        kind == .latency ? "--max-latency-ms-per-token" : kind == .macs ? "--max-macs" : "--" + kind.rawValue.replacingOccurrences(of: "_", with: "-")
    }

    public func firstDifference(from other: LMSearchConfiguration) -> ConfigurationDifference? {
        firstMirrorDifference(self, other, path: "", ignoring: [])
    }

    public static func load(path: String) throws -> LMSearchConfiguration {
        try loadDocument(path: path)  // runs validate(source:)
    }

    public func canonicalJSON() -> Data {
        SearchJSON.file(self)
    }
}
