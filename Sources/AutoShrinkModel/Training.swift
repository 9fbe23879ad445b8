import AutoShrinkData
import AutoShrinkEngine
import Foundation

/// Early exits of the AutoShrink reference recipe (docs/algorithm.md §1).
public struct EarlyExitPolicy: Sendable, Codable, Equatable {
    /// Stop when validation accuracy has not improved for this many epochs.
    public var patience: Int = 5
    /// Stop when validation accuracy is below `minimumAccuracy` at epoch `checkEpoch` (1-based).
    public var checkEpoch: Int = 3
    public var minimumAccuracy: Double = 0.2
    /// Stop once training accuracy exceeds this.
    public var trainAccuracyCeiling: Double = 0.98
    public init() {}
    public static let reference = EarlyExitPolicy()
}

/// Everything that decides a training run (with the seed, it reproduces it exactly).
public struct TrainingConfiguration: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerConfiguration
    public var schedule: LearningRateSchedule.Kind
    public var warmupEpochs: Double
    public var seed: UInt64
    public var augmentation: Augmentation?
    public var earlyExit: EarlyExitPolicy?

    public init(epochs: Int, batchSize: Int = 64, optimizer: OptimizerConfiguration,
                schedule: LearningRateSchedule.Kind = .cosine, warmupEpochs: Double = 0, seed: UInt64 = 0,
                augmentation: Augmentation? = nil, earlyExit: EarlyExitPolicy? = nil) {
        self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer; self.schedule = schedule
        self.warmupEpochs = warmupEpochs; self.seed = seed; self.augmentation = augmentation; self.earlyExit = earlyExit
    }

    /// AutoShrink's proxy recipe: Adam lr 4e-3, batch 128, L2 1e-5, up to `epochs` with early exits.
    public static func searchProxy(epochs: Int = 20, seed: UInt64) -> TrainingConfiguration {
        TrainingConfiguration(epochs: epochs, batchSize: 128,
                              optimizer: OptimizerConfiguration(kind: .adam, learningRate: 4e-3, weightDecay: 1e-5),
                              schedule: .constant, seed: seed, earlyExit: .reference)
    }
}

/// One epoch's figures, reported as it ends.
public struct EpochReport: Sendable, Codable {
    public var epoch: Int
    public var loss: Double
    public var trainAccuracy: Double
    public var validationAccuracy: Double?
    public var imagesPerSecond: Double
    public var seconds: Double
    public var etaSeconds: Double
    public var learningRate: Double
}

public struct TrainingResult: Sendable, Codable {
    public var epochs: [EpochReport]
    /// Best validation accuracy over the epochs (nil without validation data).
    public var bestValidationAccuracy: Double?
    /// Training images per second over the whole run (training steps only).
    public var trainImagesPerSecond: Double
    public var seconds: Double
    /// Why training ended before `epochs`, if it did.
    public var earlyExitReason: String?
}

/// Trains and evaluates a `Network` on a `Dataset`, reusing one batch buffer and the graph's
/// preallocated activations for every step.
public final class Trainer {
    public let network: Network
    public let configuration: TrainingConfiguration
    public let optimizer: Optimizer
    private var generator: SeededGenerator
    private var imageBuffer: [Float] = []
    private var labelBuffer: [Int32] = []
    private var stepsTaken = 0

    public init(network: Network, configuration: TrainingConfiguration) {
        self.network = network
        self.configuration = configuration
        optimizer = configuration.optimizer.make(for: network.parameters)
        generator = SeededGenerator(seed: configuration.seed, stream: 1)
    }

    private func ensureBuffers(batch: Int, imageSize: Int) {
        if imageBuffer.count < batch * imageSize { imageBuffer = [Float](repeating: 0, count: batch * imageSize) }
        if labelBuffer.count < batch { labelBuffer = [Int32](repeating: 0, count: batch) }
        network.graph.prepare(batch: batch)
    }

    /// Trains for up to `configuration.epochs` epochs; `onBatch` sees (batches done, batches planned)
    /// after every batch (for progress bars), `onEpoch` each epoch's report.
    public func fit(train: Dataset, validation: Dataset?, onBatch: ((Int, Int) -> Void)? = nil,
                    onEpoch: (EpochReport) -> Void = { _ in }) -> TrainingResult {
        fit(train: train, validation: validation, untilEpoch: max(configuration.epochs, 1), onBatch: onBatch, onEpoch: onEpoch)
    }

    // Resumable state (successive halving, docs/algorithm.md §1 "Successive halving"): a trainer can be
    // stopped after any epoch and continued later; everything that decides the next epoch (weights,
    // optimizer moments, data-order generator, step count, early-exit counters) lives here, so
    // `fit(untilEpoch: 3)` then `fit(untilEpoch: 10)` trains exactly like one `fit` of 10 epochs.
    private var reports: [EpochReport] = []
    private var best: Double?
    private var sinceImprovement = 0
    private var trainSeconds = 0.0, trainImages = 0, fitSeconds = 0.0
    private var stopReason: String?

    /// Epochs trained so far (over every `fit` call).
    public var epochsTrained: Int { reports.count }
    /// True once training has ended: all `configuration.epochs` run, or an early exit / divergence.
    public var isFinished: Bool { stopReason != nil || reports.count >= max(configuration.epochs, 1) }

    /// Trains on from the last finished epoch up to epoch `untilEpoch` (at most `configuration.epochs`),
    /// unless training already ended. The learning-rate schedule and the early exits always refer to
    /// the full `configuration.epochs`, so stopping and continuing changes nothing. The result covers
    /// every epoch trained so far.
    public func fit(train: Dataset, validation: Dataset?, untilEpoch: Int, onBatch: ((Int, Int) -> Void)? = nil,
                    onEpoch: (EpochReport) -> Void = { _ in }) -> TrainingResult {
        let start = DispatchTime.now()
        let batchSize = configuration.batchSize
        let totalEpochs = max(configuration.epochs, 1)
        let stepsPerEpoch = (train.count + batchSize - 1) / batchSize
        let schedule = LearningRateSchedule(kind: configuration.schedule, baseRate: configuration.optimizer.learningRate,
                                            warmupSteps: Int(configuration.warmupEpochs * Double(stepsPerEpoch)),
                                            totalSteps: stepsPerEpoch * configuration.epochs)
        let last = min(untilEpoch, totalEpochs)
        var epoch = reports.count
        while stopReason == nil && epoch < last {
            epoch += 1
            let epochStart = DispatchTime.now()
            var order = Array(0..<train.count)
            generator.shuffle(&order)
            var lossSum = 0.0, correct = 0
            for step in 0..<stepsPerEpoch {
                optimizer.learningRate = schedule.rate(at: stepsTaken)
                let batch = order[(step * batchSize)..<min((step + 1) * batchSize, train.count)]
                let (loss, right) = trainStep(train, indices: batch)
                lossSum += Double(loss) * Double(batch.count)
                correct += right
                stepsTaken += 1
                onBatch?((epoch - 1) * stepsPerEpoch + step + 1, stepsPerEpoch * configuration.epochs)
            }
            let epochSeconds = seconds(since: epochStart)
            trainSeconds += epochSeconds; trainImages += train.count
            let validationAccuracy = validation.map { evaluate($0).accuracy }
            let trainAccuracy = Double(correct) / Double(max(train.count, 1))
            let elapsed = fitSeconds + seconds(since: start)
            let report = EpochReport(epoch: epoch, loss: lossSum / Double(max(train.count, 1)), trainAccuracy: trainAccuracy,
                                     validationAccuracy: validationAccuracy,
                                     imagesPerSecond: Double(train.count) / max(epochSeconds, 1e-9), seconds: elapsed,
                                     etaSeconds: elapsed / Double(epoch) * Double(configuration.epochs - epoch),
                                     learningRate: Double(optimizer.learningRate))
            reports.append(report)
            onEpoch(report)
            // A diverged run cannot recover: stop; `train` turns this into an error (no checkpoint).
            if !report.loss.isFinite { stopReason = "the loss became \(report.loss) in epoch \(epoch)"; break }
            if let validationAccuracy {
                if validationAccuracy > (best ?? -1) { best = validationAccuracy; sinceImprovement = 0 } else { sinceImprovement += 1 }
            }
            if let policy = configuration.earlyExit, epoch < configuration.epochs {
                if trainAccuracy > policy.trainAccuracyCeiling {
                    stopReason = "train accuracy \(String(format: "%.3f", trainAccuracy)) > \(policy.trainAccuracyCeiling)"
                } else if let validationAccuracy, epoch == policy.checkEpoch, validationAccuracy < policy.minimumAccuracy {
                    stopReason = "validation accuracy \(String(format: "%.3f", validationAccuracy)) < \(policy.minimumAccuracy) at epoch \(epoch)"
                } else if validation != nil, sinceImprovement >= policy.patience {
                    stopReason = "no validation improvement for \(policy.patience) epochs"
                }
            }
        }
        fitSeconds += seconds(since: start)
        return TrainingResult(epochs: reports, bestValidationAccuracy: best,
                              trainImagesPerSecond: Double(trainImages) / max(trainSeconds, 1e-9),
                              seconds: fitSeconds, earlyExitReason: stopReason)
    }

    /// One optimisation step on the given examples; returns (mean loss, correct predictions).
    @discardableResult
    public func trainStep(_ dataset: Dataset, indices: ArraySlice<Int>) -> (Float, Int) {
        let batch = indices.count
        // Sized once for the largest batch this dataset can give (not a --batch-size beyond its images).
        ensureBuffers(batch: max(batch, min(configuration.batchSize, dataset.count)), imageSize: dataset.imageSize)
        let graph = network.graph
        let augmentation = configuration.augmentation
        imageBuffer.withUnsafeMutableBufferPointer { images in
            labelBuffer.withUnsafeMutableBufferPointer { labels in
                dataset.fillBatch(indices: indices, into: images.baseAddress!, labels: labels.baseAddress!,
                                  augment: augmentation, rng: &generator)
                graph.setInput(images.baseAddress!, batch: batch)
            }
        }
        graph.forward(batch: batch, training: true)
        let result = labelBuffer.withUnsafeBufferPointer { labels in
            SoftmaxCrossEntropy.lossAndGradient(logits: graph.value(graph.output), labels: labels.baseAddress!, batch: batch,
                                                gradient: graph.gradient(graph.output).data)
        }
        graph.backward()
        optimizer.step(network.parameters)
        return (result.loss, result.correct)
    }

    /// Accuracy and mean loss in evaluation mode (running batch-norm statistics).
    public func evaluate(_ dataset: Dataset, batchSize: Int = 256) -> (accuracy: Double, loss: Double) {
        let (correct, loss, _) = Trainer.run(network: network, dataset: dataset, batchSize: batchSize,
                                             images: &imageBuffer, labels: &labelBuffer, keepPredictions: false)
        return (Double(correct) / Double(max(dataset.count, 1)), loss)
    }

    /// Top-1 predictions of `network` for every image of `dataset` (evaluation mode).
    public static func predictions(network: Network, dataset: Dataset, batchSize: Int = 256) -> [Int] {
        var images: [Float] = [], labels: [Int32] = []
        return run(network: network, dataset: dataset, batchSize: batchSize, images: &images, labels: &labels,
                   keepPredictions: true).predictions
    }

    private static func run(network: Network, dataset: Dataset, batchSize: Int, images: inout [Float], labels: inout [Int32],
                            keepPredictions: Bool) -> (correct: Int, loss: Double, predictions: [Int]) {
        let graph = network.graph
        // Buffers for the real batch: never more images than the dataset holds.
        let batchSize = max(1, min(batchSize, dataset.count))
        if images.count < batchSize * dataset.imageSize { images = [Float](repeating: 0, count: batchSize * dataset.imageSize) }
        if labels.count < batchSize { labels = [Int32](repeating: 0, count: batchSize) }
        graph.prepare(batch: batchSize)
        var correct = 0, lossSum = 0.0
        var predictions: [Int] = []
        var generator = SeededGenerator(seed: 0)
        var start = 0
        while start < dataset.count {
            let end = min(start + batchSize, dataset.count)
            let batch = end - start
            images.withUnsafeMutableBufferPointer { imageBuffer in
                labels.withUnsafeMutableBufferPointer { labelBuffer in
                    dataset.fillBatch(indices: Array(start..<end)[...], into: imageBuffer.baseAddress!,
                                      labels: labelBuffer.baseAddress!, augment: nil, rng: &generator)
                    graph.setInput(imageBuffer.baseAddress!, batch: batch)
                }
            }
            graph.forward(batch: batch, training: false)
            let logits = graph.value(graph.output)
            let result = labels.withUnsafeBufferPointer {
                SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: $0.baseAddress!, batch: batch, gradient: nil)
            }
            correct += result.correct
            lossSum += Double(result.loss) * Double(batch)
            if keepPredictions { for n in 0..<batch { predictions.append(SoftmaxCrossEntropy.prediction(logits: logits, image: n)) } }
            start = end
        }
        return (correct, lossSum / Double(max(dataset.count, 1)), predictions)
    }
}

func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}
