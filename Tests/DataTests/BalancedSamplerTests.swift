import AutoShrinkData
import Testing

@Suite struct BalancedSamplerTests {
    /// 10 classes with uneven sizes (60 + 3k examples of class k), shuffled order.
    static let labels: [Int32] = {
        var labels: [Int32] = []
        for label in 0..<10 { labels += [Int32](repeating: Int32(label), count: 60 + 3 * label) }
        var generator = SeededGenerator(seed: 1234)
        generator.shuffle(&labels)
        return labels
    }()

    @Test func countsPerClassAndDisjointness() throws {
        let split = try BalancedSampler.split(
            labels: Self.labels, classCount: 10, trainPerClass: 50, validationPerClass: 8, seed: 7)
        #expect(split.train.count == 500)
        #expect(split.validation.count == 80)
        var trainCounts = [Int](repeating: 0, count: 10)
        var validationCounts = [Int](repeating: 0, count: 10)
        for index in split.train { trainCounts[Int(Self.labels[index])] += 1 }
        for index in split.validation { validationCounts[Int(Self.labels[index])] += 1 }
        #expect(trainCounts == [Int](repeating: 50, count: 10))
        #expect(validationCounts == [Int](repeating: 8, count: 10))
        #expect(Set(split.train).isDisjoint(with: Set(split.validation)))
        #expect(Set(split.train).count == 500)
        #expect(split.train == split.train.sorted())
    }

    @Test func deterministicForASeed() throws {
        let first = try BalancedSampler.split(
            labels: Self.labels, classCount: 10, trainPerClass: 20, validationPerClass: 5, seed: 99)
        let second = try BalancedSampler.split(
            labels: Self.labels, classCount: 10, trainPerClass: 20, validationPerClass: 5, seed: 99)
        let other = try BalancedSampler.split(
            labels: Self.labels, classCount: 10, trainPerClass: 20, validationPerClass: 5, seed: 100)
        #expect(first == second)
        #expect(first != other)
    }

    @Test func validationDoesNotDependOnTrainingSize() throws {
        let small = try BalancedSampler.split(
            labels: Self.labels, classCount: 10, trainPerClass: 10, validationPerClass: 5, seed: 3)
        let large = try BalancedSampler.split(
            labels: Self.labels, classCount: 10, trainPerClass: 40, validationPerClass: 5, seed: 3)
        #expect(small.validation == large.validation)
        #expect(Set(small.train).isSubset(of: Set(large.train)))
    }

    @Test func tooFewExamples() {
        let error = datasetError {
            _ = try BalancedSampler.split(
                labels: Self.labels, classCount: 10, trainPerClass: 55, validationPerClass: 6, seed: 1,
                datasetName: "toy train")
        }
        #expect(error?.problem == .notEnoughExamples(classIndex: 0, available: 60, requested: 61))
        #expect(error?.description == "toy train: class 0 has 60 examples but 61 were requested")
    }

    @Test func datasetBalancedSplitKeepsNormalization() throws {
        let pixels = TestData.pixels(Self.labels.count * 4, seed: 5)
        let dataset = Dataset(
            name: "toy", split: .train, channels: 1, height: 2, width: 2, classCount: 10,
            rawPixels: pixels, labels: Self.labels)
        let (train, validation) = try dataset.balancedSplit(trainPerClass: 30, validationPerClass: 10, seed: 2)
        #expect(train.count == 300 && validation.count == 100)
        #expect(train.classCounts() == [Int](repeating: 30, count: 10))
        #expect(validation.classCounts() == [Int](repeating: 10, count: 10))
        #expect(train.normalization == dataset.normalization)
        // Rows are copied intact.
        let indices = try BalancedSampler.split(
            labels: Self.labels, classCount: 10, trainPerClass: 30, validationPerClass: 10, seed: 2)
        #expect(train.image(at: 7) == dataset.image(at: indices.train[7]))
        #expect(train.rawImage(at: 7) == dataset.rawImage(at: indices.train[7]))
    }
}
