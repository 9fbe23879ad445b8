import AutoShrinkData
import Foundation
import Testing

/// The real Fashion-MNIST from Debian's dataset-fashion-mnist package, when installed.
@Suite struct FashionMNISTTests {
    static let installed = FileManager.default.fileExists(
        atPath: DatasetKind.fashionMNIST.defaultDirectory + "/train-images-idx3-ubyte.gz")
        || FileManager.default.fileExists(atPath: DatasetKind.fashionMNIST.defaultDirectory + "/train-images-idx3-ubyte")

    @Test(.enabled(if: installed, "Fashion-MNIST is not installed in /usr/share/datasets/fashion-mnist"))
    func loadsFullDataset() throws {
        let (train, test) = try DatasetLoader.loadTrainAndTest(.fashionMNIST)
        #expect(train.count == 60000)
        #expect(test.count == 10000)
        #expect(train.classCount == 10)
        #expect((train.channels, train.height, train.width) == (1, 28, 28))
        #expect(train.images.count == 60000 * 784)
        #expect(train.classCounts() == [Int](repeating: 6000, count: 10))
        #expect(test.classCounts() == [Int](repeating: 1000, count: 10))
        // Published statistics of the training set: mean 0.2860, std 0.3530.
        #expect(abs(train.normalization.mean[0] - 0.2860) < 0.001)
        #expect(abs(train.normalization.std[0] - 0.3530) < 0.001)
        #expect(test.normalization == train.normalization)

        // The AutoShrink proxy set: 500 per class, plus a disjoint held-out validation split.
        let split = try BalancedSampler.split(
            labels: train.labels, classCount: 10, trainPerClass: 500, validationPerClass: 100, seed: 0)
        #expect(split.train.count == 5000 && split.validation.count == 1000)
        #expect(Set(split.train).isDisjoint(with: split.validation))
    }
}
