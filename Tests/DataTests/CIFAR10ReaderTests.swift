import AutoShrinkData
import Testing

@Suite struct CIFAR10ReaderTests {
    @Test func readsRecordsInCHWOrder() throws {
        let directory = TemporaryDirectory()
        let labels: [UInt8] = [3, 0, 9, 5]
        let bytes = TestData.cifarBatch(labels: labels, seed: 4)
        let path = directory.write("data_batch_1.bin", bytes)
        let batch = try CIFAR10Reader.readBatch(path: path)
        #expect(batch.count == 4)
        #expect(batch.labels == labels)
        // Record 2 starts at 2 * 3073; its first byte is the label, then the red plane.
        #expect(Array(batch.pixels[(2 * 3072)..<(3 * 3072)]) == Array(bytes[(2 * 3073 + 1)..<(3 * 3073)]))
    }

    @Test func readsGzipCompressedBatch() throws {
        let directory = TemporaryDirectory()
        let bytes = TestData.cifarBatch(labels: [1, 2], seed: 8)
        let path = directory.writeGzip("test_batch.bin.gz", bytes)
        let batch = try CIFAR10Reader.readBatch(path: path)
        #expect(batch.labels == [1, 2])
    }

    @Test func truncatedRecord() {
        let directory = TemporaryDirectory()
        let bytes = TestData.cifarBatch(labels: [1, 2, 3], seed: 2).dropLast(100)
        let path = directory.write("data_batch_1.bin", Array(bytes))
        let error = datasetError { _ = try CIFAR10Reader.readBatch(path: path) }
        #expect(error?.problem == .truncated(
            expectedBytes: 3 * 3073, actualBytes: 3 * 3073 - 100, detail: "record 3 (records are 3073 bytes)"))
        #expect(error?.description
            == "\(path): truncated: record 3 (records are 3073 bytes) needs 9219 bytes but the file holds only 9119")
    }

    @Test func emptyBatchIsTruncated() {
        let directory = TemporaryDirectory()
        let path = directory.write("test_batch.bin", [])
        let error = datasetError { _ = try CIFAR10Reader.readBatch(path: path) }
        #expect(error?.problem == .truncated(expectedBytes: 3073, actualBytes: 0, detail: "record 1 (records are 3073 bytes)"))
    }

    @Test func labelOutOfRange() {
        let directory = TemporaryDirectory()
        let path = directory.write("test_batch.bin", TestData.cifarBatch(labels: [1, 10, 2], seed: 1))
        let error = datasetError { _ = try CIFAR10Reader.readBatch(path: path) }
        #expect(error?.problem == .labelOutOfRange(index: 1, label: 10, classCount: 10))
    }

    @Test func loaderReadsOfficialLayout() throws {
        let directory = TemporaryDirectory()
        // The official archive unpacks into cifar-10-batches-bin/.
        try FileManagerHelper.makeDirectory(directory.file("cifar-10-batches-bin"))
        for batch in 1...5 {
            directory.write("cifar-10-batches-bin/data_batch_\(batch).bin",
                            TestData.cifarBatch(labels: [UInt8(batch), UInt8(batch - 1)], seed: UInt64(batch)))
        }
        directory.write("cifar-10-batches-bin/test_batch.bin", TestData.cifarBatch(labels: [7, 8, 9], seed: 99))
        let (train, test) = try DatasetLoader.loadTrainAndTest(.cifar10, directory: directory.path)
        #expect(train.count == 10)
        #expect(train.labels == [1, 0, 2, 1, 3, 2, 4, 3, 5, 4])
        #expect(train.channels == 3 && train.height == 32 && train.width == 32)
        #expect(train.normalization.mean.count == 3)
        #expect(test.count == 3)
        #expect(test.normalization == train.normalization)
        #expect(test.classNames[0] == "airplane")
        // load(split: .test) alone also normalises with the training statistics.
        let alone = try DatasetLoader.load(name: "cifar10", split: .test, directory: directory.path)
        #expect(alone.normalization == train.normalization)
        #expect(alone.images == test.images)
    }

    @Test func loaderNamesMissingBatch() throws {
        let directory = TemporaryDirectory()
        for batch in [1, 2, 4, 5] {
            directory.write("data_batch_\(batch).bin", TestData.cifarBatch(labels: [0], seed: 0))
        }
        let error = datasetError { _ = try DatasetLoader.load(.cifar10, split: .train, directory: directory.path) }
        #expect(error?.file == directory.file("data_batch_3.bin"))
        #expect(error?.description == "\(directory.file("data_batch_3.bin")): missing file (also tried data_batch_3.bin.gz)")
    }
}
