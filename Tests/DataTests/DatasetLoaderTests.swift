import AutoShrinkData
import Foundation
import Testing

enum FileManagerHelper {
    static func makeDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
}

@Suite struct DatasetLoaderTests {
    /// Writes a tiny Fashion-MNIST-shaped dataset (28 x 28) under the standard names.
    func writeIDXSet(_ directory: TemporaryDirectory, compressed: Bool, trainCount: Int = 30, testCount: Int = 10) {
        for (prefix, count, seed) in [("train", trainCount, UInt64(1)), ("t10k", testCount, UInt64(2))] {
            let images = TestData.idxImages(count: count, height: 28, width: 28, pixels: TestData.pixels(count * 784, seed: seed))
            let labels = TestData.idxLabels(TestData.cyclicLabels(count))
            if compressed {
                directory.writeGzip("\(prefix)-images-idx3-ubyte.gz", images)
                directory.writeGzip("\(prefix)-labels-idx1-ubyte.gz", labels)
            } else {
                directory.write("\(prefix)-images-idx3-ubyte", images)
                directory.write("\(prefix)-labels-idx1-ubyte", labels)
            }
        }
    }

    @Test(arguments: [false, true])
    func loadsByName(compressed: Bool) throws {
        let directory = TemporaryDirectory()
        writeIDXSet(directory, compressed: compressed)
        let train = try DatasetLoader.load(name: "fashion-mnist", split: .train, directory: directory.path)
        let test = try DatasetLoader.load(name: "fashion-mnist", split: .test, directory: directory.path)
        #expect(train.count == 30 && test.count == 10)
        #expect(train.name == "fashion-mnist" && train.split == .train && test.split == .test)
        #expect(train.classCount == 10 && train.classNames[9] == "Ankle boot")
        // The test split is normalised with the training statistics.
        #expect(test.normalization == train.normalization)
    }

    @Test func acceptsDottedNames() throws {
        let directory = TemporaryDirectory()
        let images = TestData.idxImages(count: 10, height: 28, width: 28, pixels: TestData.pixels(7840, seed: 3))
        directory.write("train-images.idx3-ubyte", images)
        directory.write("train-labels.idx1-ubyte", TestData.idxLabels(TestData.cyclicLabels(10)))
        let train = try DatasetLoader.load(.mnist, split: .train, directory: directory.path)
        #expect(train.count == 10 && train.classNames[3] == "3")
    }

    @Test func explicitNormalizationIsUsed() throws {
        let directory = TemporaryDirectory()
        writeIDXSet(directory, compressed: false)
        let unit = Normalization.unit(channels: 1)
        let test = try DatasetLoader.load(.fashionMNIST, split: .test, directory: directory.path, normalization: unit)
        #expect(test.normalization == unit)
        #expect(test.images[5] == Float(test.rawPixels[5]) / 255)
    }

    @Test func missingDirectoryNamesTheFile() {
        let directory = TemporaryDirectory()
        let error = datasetError { _ = try DatasetLoader.load(.fashionMNIST, split: .train, directory: directory.path) }
        let expected = directory.file("train-images-idx3-ubyte")
        #expect(error?.file == expected)
        #expect(error?.description == "\(expected): missing file (also tried train-images-idx3-ubyte.gz, "
            + "train-images.idx3-ubyte, train-images.idx3-ubyte.gz)")
    }

    @Test func unknownDataset() {
        let error = datasetError { _ = try DatasetLoader.load(name: "imagenet", split: .train) }
        #expect(error?.description == "unknown dataset 'imagenet' (known: fashion-mnist, mnist, cifar10)")
    }

    @Test func corruptTrainingSetFailsTestLoadToo() {
        // The test split needs the training statistics, so a broken training file must surface.
        let directory = TemporaryDirectory()
        writeIDXSet(directory, compressed: false)
        let path = directory.write("train-images-idx3-ubyte", TestData.idxLabels([1, 2]))
        let error = datasetError { _ = try DatasetLoader.load(.fashionMNIST, split: .test, directory: directory.path) }
        #expect(error?.file == path)
    }

    @Test func defaultsPerDataset() {
        #expect(DatasetKind.fashionMNIST.defaultDirectory == "/usr/share/datasets/fashion-mnist")
        #expect(DatasetKind.mnist.defaultAugmentation.horizontalFlip == false)
        #expect(DatasetKind.cifar10.defaultAugmentation == Augmentation(padding: 4, horizontalFlip: true))
        #expect(DatasetKind.cifar10.imageShape == (3, 32, 32))
    }
}
