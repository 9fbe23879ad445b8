import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkModel
import Foundation

/// The proxy task candidates are trained on: a class-balanced training subset and a disjoint
/// class-balanced validation split, both drawn from the dataset's training set.
public struct ProxyTask: Sendable {
    public let train: Dataset
    public let validation: Dataset

    /// `perClass` training images per class (reference: 500) and `validationPerClass` held out.
    /// The split depends only on `seed`, so every candidate and every worker sees the same images.
    public static func load(dataset: DatasetKind, directory: String?, perClass: Int, validationPerClass: Int,
                            seed: UInt64) throws -> ProxyTask {
        let full = try DatasetLoader.load(dataset, split: .train, directory: directory)
        let (train, validation) = try full.balancedSplit(trainPerClass: perClass, validationPerClass: validationPerClass, seed: seed)
        return ProxyTask(train: train, validation: validation)
    }

    public init(train: Dataset, validation: Dataset) {
        self.train = train; self.validation = validation
    }
}

/// Trains each candidate in this process with the engine: the reference proxy recipe (Adam,
/// batch 128, L2, up to `epochs` with the early exits of docs/algorithm.md §1). The candidate's
/// accuracy is its best validation accuracy. With a parent weights file (`--inherit`), every
/// tensor whose name and shape still match is copied from the parent before training.
public struct TrainingEvaluator: CandidateEvaluator {
    public let task: ProxyTask
    public let configuration: SearchConfiguration
    public let threads: Int
    /// Candidates being trained in stages (successive halving, SuccessiveHalving.swift).
    let sessions = TrainingSessions()

    public init(task: ProxyTask, configuration: SearchConfiguration, threads: Int) {
        self.task = task; self.configuration = configuration; self.threads = threads
    }

    public func evaluate(_ request: EvaluationRequest) throws -> EvaluationResult {
        let start = DispatchTime.now()
        let (network, trainer) = try makeTrainer(request)
        let result = trainer.fit(train: task.train, validation: task.validation)
        if let output = request.weightsOutputPath {
            try writeWeights(network, epochs: result.epochs.count, validationAccuracy: result.bestValidationAccuracy, seed: request.seed, to: output)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return EvaluationResult(accuracy: result.bestValidationAccuracy ?? 0, epochs: result.epochs.count, seconds: seconds)
    }

    /// The candidate's network (initialised from its seed, then from the parent's weights with
    /// `--inherit`) and its trainer with the proxy recipe.
    func makeTrainer(_ request: EvaluationRequest) throws -> (Network, Trainer) {
        let context = ExecutionContext(threads: threads)
        let network = Network(architecture: request.architecture, context: context, seed: request.seed)
        if let parent = request.parentWeightsPath, FileManager.default.fileExists(atPath: parent) {
            try TrainingEvaluator.inherit(from: Checkpoint.load(path: parent), into: network)
        }
        var recipe = TrainingConfiguration.searchProxy(epochs: configuration.epochs, seed: request.seed)
        recipe.batchSize = configuration.batchSize
        recipe.optimizer.learningRate = Float(configuration.learningRate)
        recipe.optimizer.weightDecay = Float(configuration.weightDecay)
        return (network, Trainer(network: network, configuration: recipe))
    }

    func writeWeights(_ network: Network, epochs: Int, validationAccuracy: Double?, seed: UInt64, to output: String) throws {
        let metadata = CheckpointMetadata(dataset: configuration.dataset, epochs: epochs, testAccuracy: nil,
                                          validationAccuracy: validationAccuracy, seed: seed,
                                          normalizationMean: task.train.normalization.mean,
                                          normalizationStd: task.train.normalization.std)
        try Checkpoint(network: network, metadata: metadata).write(to: output)
    }

    /// Copies every stored tensor whose name and element count match a tensor of `network`
    /// (topology knowledge accumulation: layers the edge removal did not reshape keep their weights).
    public static func inherit(from checkpoint: Checkpoint, into network: Network) throws {
        var stored: [String: [Float]] = [:]
        for (record, values) in checkpoint.tensors { stored[record.name] = values }
        for (name, tensor) in network.namedTensors {
            guard let values = stored[name], values.count == tensor.count else { continue }
            values.withUnsafeBufferPointer { tensor.data.update(from: $0.baseAddress!, count: $0.count) }
        }
    }
}
