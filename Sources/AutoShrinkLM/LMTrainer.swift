import AutoShrinkEngine
import Foundation

/// Training recipe of a language model (docs/shrinkrnn.md, "Training recipe"): plain SGD at a high
/// learning rate with gradient-norm clipping, switching to averaged SGD when the validation loss has
/// not improved on the best of all but the last `nonmonotone` checks (NT-ASGD, Merity et al. 2017;
/// used by DARTS and the AutoShrink RNN experiments).
public struct LMTrainingConfiguration: Sendable {
    public var epochs: Int
    public var batchSize: Int
    /// Truncated-BPTT length: gradients flow through at most this many steps.
    public var bptt: Int
    public var learningRate: Float
    /// Global L2 norm the gradient is clipped to.
    public var clip: Float
    public var weightDecay: Float
    public var dropout: LMDropout
    public var nonmonotone: Int
    /// Averaging starts with this epoch whatever the validation does (`--asgd-start`); nil: NT-ASGD's trigger.
    /// A fixed start puts two models on the same schedule, which the trigger does not (docs/shrinkrnn.md).
    public var averagingStartEpoch: Int?
    public var evaluationBatch: Int
    public var seed: UInt64

    public init(epochs: Int, batchSize: Int = 64, bptt: Int = 35, learningRate: Float = 20, clip: Float = 0.25,
                weightDecay: Float = 8e-7, dropout: LMDropout = LMDropout(input: 0.2, hidden: 0.1, output: 0.3),
                nonmonotone: Int = 5, averagingStartEpoch: Int? = nil, evaluationBatch: Int = 10, seed: UInt64 = 1) {
        self.epochs = epochs; self.batchSize = batchSize; self.bptt = bptt; self.learningRate = learningRate
        self.clip = clip; self.weightDecay = weightDecay; self.dropout = dropout; self.nonmonotone = nonmonotone
        self.averagingStartEpoch = averagingStartEpoch
        self.evaluationBatch = evaluationBatch; self.seed = seed
    }
}

public struct LMEpochReport: Sendable {
    public var epoch: Int
    public var trainPerplexity: Double
    public var validPerplexity: Double
    public var tokensPerSecond: Double
    public var learningRate: Float
    /// True once NT-ASGD switched to averaging (validation uses the averaged weights).
    public var averaging: Bool
    public var seconds: Double
    public var etaSeconds: Double
}

public struct LMTrainingResult: Sendable {
    public var epochs: [LMEpochReport]
    public var bestValidPerplexity: Double
    public var tokensPerSecond: Double
    /// Epoch at which averaging started, if it did.
    public var averagingStartEpoch: Int?
    /// Set when the loss became non-finite (training stopped there).
    public var divergedEpoch: Int?
}

/// A token stream cut into `batch` columns (`LanguageModel` rows are time-major).
public struct TokenBatches: Sendable {
    public let columns: [[Int32]]
    public let length: Int

    /// Column b holds stream[b * L ..< (b + 1) * L], L = count / batch; the tail that does not fill a row is dropped.
    public init(_ stream: [Int32], batch: Int) {
        let length = stream.count / max(batch, 1)
        self.length = length
        columns = (0..<batch).map { b in Array(stream[(b * length)..<((b + 1) * length)]) }
    }

    /// Segment starts and lengths: steps predict tokens 1...L-1 of each column.
    public func segments(bptt: Int) -> [(start: Int, steps: Int)] {
        guard length >= 2 else { return [] }
        return stride(from: 0, to: length - 1, by: bptt).map { ($0, min(bptt, length - 1 - $0)) }
    }

    /// Inputs and targets of the segment, row t * batch + b.
    public func segment(start: Int, steps: Int) -> (inputs: [Int32], targets: [Int32]) {
        var inputs = [Int32](), targets = [Int32]()
        inputs.reserveCapacity(steps * columns.count); targets.reserveCapacity(steps * columns.count)
        for t in 0..<steps {
            for column in columns { inputs.append(column[start + t]); targets.append(column[start + t + 1]) }
        }
        return (inputs, targets)
    }
}

/// What `LMTrainer` and `LMCheckpoint` need of a language model: the RNN-cell `LanguageModel` or the
/// `LSTMLanguageModel` baseline (docs/shrinkrnn.md, "LSTM baseline"). Rows are time-major; the state is
/// the model's own (`initialState`), carried between segments as a value (truncated BPTT).
public protocol RecurrentLanguageModel: AnyObject {
    var shape: LanguageModelShape { get }
    /// In the checkpoint's tensor order.
    var parameters: [Parameter] { get }
    var parameterCount: Int { get }
    /// Rows of the last `forward` whose most likely next word was the target.
    var lastCorrect: Int { get }
    /// What the checkpoint records to rebuild the model.
    var architecture: LMArchitecture { get }
    /// A zero state for `batch` sequences.
    func initialState(batch: Int) -> Tensor
    /// Summed cross-entropy (nats); with `masks` (training) keeps what `backward` needs.
    @discardableResult
    func forward(inputs: [Int32], targets: [Int32], steps: Int, batch: Int, state: Tensor, masks: DropoutMasks?) -> Double
    /// Gradients of the mean cross-entropy of the last training `forward` (overwritten).
    func backward(inputs: [Int32], steps: Int, batch: Int, masks: DropoutMasks)
}

extension LanguageModel: RecurrentLanguageModel {
    public var architecture: LMArchitecture { .cell(cell) }
    /// [batch, H].
    public func initialState(batch: Int) -> Tensor { Tensor(shape: [batch, shape.hidden]) }
}

extension LSTMLanguageModel: RecurrentLanguageModel {
    public var architecture: LMArchitecture { .lstm }
}

public final class LMTrainer {
    public let model: any RecurrentLanguageModel
    public let configuration: LMTrainingConfiguration

    public init(model: any RecurrentLanguageModel, configuration: LMTrainingConfiguration) {
        self.model = model; self.configuration = configuration
    }

    /// Mean cross-entropy (nats per token) and perplexity of `tokens`, no dropout, streamed in
    /// `evaluationBatch` columns with the state carried across segments.
    public func evaluate(_ tokens: [Int32]) -> (loss: Double, perplexity: Double, accuracy: Double, tokens: Int) {
        let batch = max(1, min(configuration.evaluationBatch, tokens.count / 2))
        let batches = TokenBatches(tokens, batch: batch)
        let state = model.initialState(batch: batch)
        var total = 0.0, count = 0, correct = 0
        for (start, steps) in batches.segments(bptt: configuration.bptt) {
            let (inputs, targets) = batches.segment(start: start, steps: steps)
            total += model.forward(inputs: inputs, targets: targets, steps: steps, batch: batch, state: state, masks: nil)
            count += inputs.count
            correct += model.lastCorrect
        }
        let loss = count > 0 ? total / Double(count) : .nan
        return (loss, exp(loss), Double(correct) / Double(max(count, 1)), count)
    }

    /// Trains on `train`, checks `valid` after every epoch; on return the model holds the weights of
    /// the best validation check (averaged ones once NT-ASGD switched).
    public func fit(train: [Int32], valid: [Int32], onBatch: (Int, Int) -> Void = { _, _ in },
                    onEpoch: (LMEpochReport) -> Void = { _ in }) -> LMTrainingResult {
        let config = configuration
        let batches = TokenBatches(train, batch: config.batchSize)
        let segments = batches.segments(bptt: config.bptt)
        let parameters = model.parameters
        var average: [Tensor]? = nil
        var averagedSteps = 0
        var averagingStart: Int? = nil
        var best = Double.infinity
        let bestWeights = parameters.map { p -> Tensor in let t = Tensor(shape: p.value.shape); t.copy(from: p.value); return t }
        var validLosses: [Double] = []
        var reports: [LMEpochReport] = []
        var trainSeconds = 0.0, trainTokens = 0
        let start = DispatchTime.now()
        var diverged: Int? = nil
        var step: UInt64 = 0
        /// Switches to averaged SGD: the average starts as the current weights, counted from `epoch`.
        func startAveraging(from epoch: Int) {
            average = parameters.map { p in let t = Tensor(shape: p.value.shape); t.copy(from: p.value); return t }
            averagedSteps = 1
            averagingStart = epoch
        }
        for epoch in 1...config.epochs {
            if average == nil, let fixed = config.averagingStartEpoch, epoch >= fixed { startAveraging(from: epoch) }
            let epochStart = DispatchTime.now()
            let state = model.initialState(batch: config.batchSize)
            var total = 0.0, count = 0
            for (index, segment) in segments.enumerated() {
                let (inputs, targets) = batches.segment(start: segment.start, steps: segment.steps)
                step += 1
                let masks = DropoutMasks(dropout: config.dropout, batch: config.batchSize, embed: model.shape.embed,
                                         hidden: model.shape.hidden, seed: config.seed &* 0x9e37_79b9_7f4a_7c15 &+ step)
                let loss = model.forward(inputs: inputs, targets: targets, steps: segment.steps, batch: config.batchSize,
                                         state: state, masks: masks)
                guard loss.isFinite else { diverged = epoch; break }
                model.backward(inputs: inputs, steps: segment.steps, batch: config.batchSize, masks: masks)
                LMTrainer.clipGradients(parameters, maximumNorm: config.clip)
                LMTrainer.sgdStep(parameters, learningRate: config.learningRate, weightDecay: config.weightDecay)
                if let average {
                    averagedSteps += 1
                    let weight = 1 / Float(averagedSteps)
                    for (p, a) in zip(parameters, average) {
                        for i in 0..<a.count { a.data[i] += (p.value.data[i] - a.data[i]) * weight }
                    }
                }
                total += loss; count += inputs.count
                onBatch(index + 1, segments.count)
            }
            let trainElapsed = Double(DispatchTime.now().uptimeNanoseconds - epochStart.uptimeNanoseconds) / 1e9
            trainSeconds += trainElapsed; trainTokens += count
            if diverged != nil { break }
            // Validation (with the averaged weights once averaging).
            var saved: [Tensor] = []
            if let average {
                saved = parameters.map { p in let t = Tensor(shape: p.value.shape); t.copy(from: p.value); return t }
                for (p, a) in zip(parameters, average) { p.value.copy(from: a) }
            }
            let validation = evaluate(valid)
            if validation.loss < best {
                best = validation.loss
                for (copy, p) in zip(bestWeights, parameters) { copy.copy(from: p.value) }
            }
            if average != nil { for (p, s) in zip(parameters, saved) { p.value.copy(from: s) } }
            // NT-ASGD trigger: no improvement on the best of all but the last `nonmonotone` checks.
            if average == nil, config.averagingStartEpoch == nil, validLosses.count > config.nonmonotone,
               validation.loss > validLosses.dropLast(config.nonmonotone).min()! {
                startAveraging(from: epoch + 1)
            }
            validLosses.append(validation.loss)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            let report = LMEpochReport(
                epoch: epoch, trainPerplexity: exp(total / Double(max(count, 1))), validPerplexity: validation.perplexity,
                tokensPerSecond: Double(count) / max(trainElapsed, 1e-9), learningRate: config.learningRate,
                averaging: average != nil, seconds: elapsed, etaSeconds: elapsed / Double(epoch) * Double(config.epochs - epoch))
            reports.append(report)
            onEpoch(report)
        }
        if best.isFinite { for (p, copy) in zip(parameters, bestWeights) { p.value.copy(from: copy) } }
        return LMTrainingResult(epochs: reports, bestValidPerplexity: exp(best), tokensPerSecond: Double(trainTokens) / max(trainSeconds, 1e-9),
                                averagingStartEpoch: averagingStart, divergedEpoch: diverged)
    }

    /// Scales every gradient so their joint L2 norm is at most `maximumNorm`; returns the norm before.
    @discardableResult
    public static func clipGradients(_ parameters: [Parameter], maximumNorm: Float) -> Double {
        var squares = 0.0
        for p in parameters {
            let g = p.gradient.data
            var sum: Float = 0
            for i in 0..<p.gradient.count { sum += g[i] * g[i] }
            squares += Double(sum)
        }
        let norm = squares.squareRoot()
        if maximumNorm > 0, norm > Double(maximumNorm) {
            let scale = Float(Double(maximumNorm) / (norm + 1e-6))
            for p in parameters { for i in 0..<p.gradient.count { p.gradient.data[i] *= scale } }
        }
        return norm
    }

    /// p -= lr (g + wd p) (wd only on parameters with `decay`).
    public static func sgdStep(_ parameters: [Parameter], learningRate: Float, weightDecay: Float) {
        for p in parameters {
            let value = p.value.data, gradient = p.gradient.data
            let decay = p.decay ? weightDecay : 0
            for i in 0..<p.value.count { value[i] -= learningRate * (gradient[i] + decay * value[i]) }
        }
    }
}
