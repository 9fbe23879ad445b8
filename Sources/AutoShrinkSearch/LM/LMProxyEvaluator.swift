import AutoShrinkEngine
import AutoShrinkLM
import Foundation

/// What a proxy training of one RNN cell gave.
public struct LMEvaluation: Sendable, Equatable {
    /// Best validation perplexity of the proxy training (>= 1).
    public var validPerplexity: Double
    public var epochs: Int
    public var seconds: Double
    /// The loss became non-finite (the perplexity is then the vocabulary size, a uniform guess).
    public var diverged: Bool

    public init(validPerplexity: Double, epochs: Int, seconds: Double, diverged: Bool) {
        self.validPerplexity = validPerplexity; self.epochs = epochs; self.seconds = seconds; self.diverged = diverged
    }
}

/// Trains one candidate cell. Must be deterministic in (cell, seed) for `--resume` to reproduce a run.
public protocol LMCandidateEvaluator: Sendable {
    func evaluate(cell: RNNCell, seed: UInt64) throws -> LMEvaluation
}

/// The real evaluator (docs/shrinkrnn.md, "Search"): a fresh proxy model (`LMSearchConfiguration.proxyShape`)
/// trained by `LMTrainer` (NT-ASGD, TBPTT, clipping) on `train`, scored by its best validation
/// perplexity on `valid`. Weights and dropout masks come from `seed` only, so with the engine's
/// thread-independent arithmetic a candidate gives the same perplexity on every run and any `threads`.
public struct LMProxyEvaluator: LMCandidateEvaluator {
    public let train: [Int32]
    public let valid: [Int32]
    public let vocabulary: Int
    public let proxy: LMProxySettings
    public let shape: LanguageModelShape
    public let threads: Int

    /// `train` and `valid` are token streams over a vocabulary of `vocabulary` words; they are cut to
    /// the configuration's proxy token counts here.
    public init(train: [Int32], valid: [Int32], vocabulary: Int, configuration: LMSearchConfiguration, threads: Int) {
        self.train = Array(train.prefix(configuration.proxy.trainTokens))
        self.valid = Array(valid.prefix(configuration.proxy.validTokens))
        self.vocabulary = vocabulary
        self.proxy = configuration.proxy
        self.shape = configuration.proxyShape(vocabulary: vocabulary)
        self.threads = threads
    }

    public func evaluate(cell: RNNCell, seed: UInt64) throws -> LMEvaluation {
        let started = DispatchTime.now()
        guard train.count >= 2 * proxy.batchSize, valid.count >= 2 else {
            throw SearchError("the corpus has \(train.count) training / \(valid.count) validation tokens, too few for the proxy training (batch \(proxy.batchSize))")
        }
        let context = ExecutionContext(threads: threads)
        let model = LanguageModel(cell: cell, shape: shape, context: context, seed: seed, gateBias: proxy.gateBias ?? 0)
        let trainer = LMTrainer(model: model, configuration: LMTrainingConfiguration(
            epochs: proxy.epochs, batchSize: proxy.batchSize, bptt: proxy.bptt, learningRate: proxy.learningRate, clip: proxy.clip,
            dropout: proxy.dropout, seed: seed))
        let result = trainer.fit(train: train, valid: valid)
        let diverged = !result.bestValidPerplexity.isFinite  // a later epoch may diverge after a finite check: keep that check
        let perplexity = diverged ? Double(vocabulary) : max(1, result.bestValidPerplexity)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        return LMEvaluation(validPerplexity: perplexity, epochs: result.epochs.count, seconds: seconds, diverged: diverged)
    }
}
