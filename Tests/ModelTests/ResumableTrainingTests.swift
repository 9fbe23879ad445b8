import AutoShrinkData
import AutoShrinkEngine
import Foundation
import Testing
@testable import AutoShrinkModel

/// Training stopped after some epochs and continued (successive halving, docs/algorithm.md §1)
/// equals training in one go: optimizer moments, data order, schedule and early-exit counters carry over.
@Suite struct ResumableTrainingTests {
    static func trainer(epochs: Int, earlyExit: EarlyExitPolicy?) -> Trainer {
        let network = Network(architecture: NetworkTests.tinyCellNetwork(), context: ExecutionContext(threads: 1), seed: 5)
        return Trainer(network: network, configuration: TrainingConfiguration(
            epochs: epochs, batchSize: 16, optimizer: OptimizerConfiguration(kind: .adam, learningRate: 0.01, weightDecay: 1e-4),
            schedule: .cosine, seed: 9, earlyExit: earlyExit))
    }

    @Test func threePlusSevenEpochsEqualTen() {
        let train = NetworkTests.randomDataset(count: 48), validation = NetworkTests.randomDataset(count: 16, seed: 2)
        let whole = Self.trainer(epochs: 10, earlyExit: nil)
        let wholeResult = whole.fit(train: train, validation: validation)
        let staged = Self.trainer(epochs: 10, earlyExit: nil)
        let first = staged.fit(train: train, validation: validation, untilEpoch: 3)
        #expect(first.epochs.count == 3 && staged.epochsTrained == 3 && !staged.isFinished)
        let stagedResult = staged.fit(train: train, validation: validation, untilEpoch: 10)
        #expect(staged.isFinished)
        #expect(stagedResult.epochs.map(\.loss) == wholeResult.epochs.map(\.loss))
        #expect(stagedResult.epochs.map(\.validationAccuracy) == wholeResult.epochs.map(\.validationAccuracy))
        #expect(stagedResult.bestValidationAccuracy == wholeResult.bestValidationAccuracy)
        #expect(staged.network.namedTensors.map { $0.tensor.array } == whole.network.namedTensors.map { $0.tensor.array })
        // Past the budget nothing more is trained.
        #expect(staged.fit(train: train, validation: validation, untilEpoch: 12).epochs.count == 10)
    }

    @Test func earlyExitsCarryOverAStop() {
        let train = NetworkTests.randomDataset(count: 32), validation = NetworkTests.randomDataset(count: 16, seed: 3)
        var policy = EarlyExitPolicy()
        policy.patience = 1
        let whole = Self.trainer(epochs: 8, earlyExit: policy).fit(train: train, validation: validation)
        let staged = Self.trainer(epochs: 8, earlyExit: policy)
        var result = staged.fit(train: train, validation: validation, untilEpoch: 1)
        for epoch in 2...8 { result = staged.fit(train: train, validation: validation, untilEpoch: epoch) }
        #expect(result.epochs.count == whole.epochs.count && result.earlyExitReason == whole.earlyExitReason)
        #expect(result.epochs.map(\.loss) == whole.epochs.map(\.loss))
    }
}
