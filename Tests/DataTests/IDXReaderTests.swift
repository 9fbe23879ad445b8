import AutoShrinkData
import Testing

@Suite struct IDXReaderTests {
    static let count = 20
    static let height = 5
    static let width = 4

    let pixels = TestData.pixels(count * height * width, seed: 9)
    let labels = TestData.cyclicLabels(count)

    var imageBytes: [UInt8] {
        TestData.idxImages(count: Self.count, height: Self.height, width: Self.width, pixels: pixels)
    }

    @Test(arguments: [false, true])
    func roundTrip(compressed: Bool) throws {
        let directory = TemporaryDirectory()
        let imagesPath = compressed
            ? directory.writeGzip("images.gz", imageBytes) : directory.write("images", imageBytes)
        let labelsPath = compressed
            ? directory.writeGzip("labels.gz", TestData.idxLabels(labels)) : directory.write("labels", TestData.idxLabels(labels))
        let dataset = try IDXReader.readDataset(
            imagesPath: imagesPath, labelsPath: labelsPath, name: "tiny", split: .train, classCount: 10)
        #expect(dataset.count == Self.count)
        #expect(dataset.channels == 1 && dataset.height == Self.height && dataset.width == Self.width)
        #expect(dataset.rawPixels == pixels)
        #expect(dataset.labels == labels.map { Int32($0) })
        #expect(dataset.images.count == pixels.count)
        // images = (raw / 255 - mean) / std with the measured statistics.
        let mean = dataset.normalization.mean[0]
        let std = dataset.normalization.std[0]
        for index in [0, 17, pixels.count - 1] {
            let expected = (Float(pixels[index]) / 255 - mean) / std
            #expect(abs(dataset.images[index] - expected) < 1e-5)
        }
        let average = dataset.images.reduce(0, +) / Float(dataset.images.count)
        #expect(abs(average) < 1e-4)
    }

    @Test func missingFile() {
        let directory = TemporaryDirectory()
        let path = directory.file("nothing-here")
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        #expect(error?.problem == .missingFile(alternatives: []))
        #expect(error?.description == "\(path): missing file")
    }

    @Test func wrongMagic() {
        let directory = TemporaryDirectory()
        // A labels file where images are expected.
        let path = directory.write("swapped", TestData.idxLabels(labels))
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        #expect(error?.problem == .wrongMagic(expected: 0x803, found: 0x801, kind: "IDX images"))
        #expect(error?.description == "\(path): wrong magic number 0x00000801, expected 0x00000803 (IDX images)")
    }

    @Test(arguments: [false, true])
    func truncatedBody(compressed: Bool) {
        let directory = TemporaryDirectory()
        let short = Array(imageBytes.dropLast(7))
        let path = compressed ? directory.writeGzip("short.gz", short) : directory.write("short", short)
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        let expected = 16 + pixels.count
        guard case .truncated(expected, expected - 7, _) = error?.problem else {
            Issue.record("expected truncated, got \(String(describing: error))")
            return
        }
        let suffix = compressed ? " (decompressed)" : ""
        #expect(error?.description
            == "\(path): truncated: 20 images of 5x4\(suffix) needs \(expected) bytes but the file holds only \(expected - 7)")
    }

    @Test func truncatedHeader() {
        let directory = TemporaryDirectory()
        let path = directory.write("header", Array(imageBytes.prefix(10)))
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        #expect(error?.problem == .truncated(expectedBytes: 16, actualBytes: 10, detail: "the IDX images header"))
        #expect(error?.description.hasPrefix(path + ": truncated") == true)
    }

    @Test func emptyFileIsTruncated() {
        let directory = TemporaryDirectory()
        let path = directory.write("empty", [])
        let error = datasetError { _ = try IDXReader.readLabels(path: path, classCount: 10) }
        #expect(error?.problem == .truncated(expectedBytes: 8, actualBytes: 0, detail: "the IDX labels header"))
    }

    @Test func absurdHeaderDoesNotAllocate() {
        let directory = TemporaryDirectory()
        // Claims 2^27 images of 16384 x 16384: far more than the file can hold.
        let bytes = TestData.idxImages(count: 1 << 27, height: 1 << 14, width: 1 << 14, pixels: [1, 2, 3])
        let path = directory.write("huge", bytes)
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        guard case .truncated(_, 19, _) = error?.problem else {
            Issue.record("expected truncated, got \(String(describing: error))")
            return
        }
    }

    @Test func zeroImagesIsABadHeader() {
        let directory = TemporaryDirectory()
        let path = directory.write("zero", TestData.idxImages(count: 0, height: 28, width: 28, pixels: []))
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        #expect(error?.problem == .badHeader("implausible example count 0"))
    }

    @Test func trailingBytes() {
        let directory = TemporaryDirectory()
        let path = directory.write("long", imageBytes + [1, 2, 3])
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        #expect(error?.problem == .trailingBytes(expectedBytes: 16 + pixels.count, extraBytes: 3))
        #expect(error?.description == "\(path): 3 unexpected bytes after the \(16 + pixels.count) bytes the header describes")
    }

    @Test func labelOutOfRange() {
        let directory = TemporaryDirectory()
        var bad = labels
        bad[13] = 10
        let path = directory.write("labels", TestData.idxLabels(bad))
        let error = datasetError { _ = try IDXReader.readLabels(path: path, classCount: 10) }
        #expect(error?.problem == .labelOutOfRange(index: 13, label: 10, classCount: 10))
        #expect(error?.description == "\(path): label 10 at index 13 is out of range for 10 classes")
    }

    @Test func countMismatch() {
        let directory = TemporaryDirectory()
        let imagesPath = directory.write("images", imageBytes)
        let labelsPath = directory.write("labels", TestData.idxLabels(Array(labels.dropLast())))
        let error = datasetError {
            _ = try IDXReader.readDataset(
                imagesPath: imagesPath, labelsPath: labelsPath, name: "tiny", split: .test, classCount: 10)
        }
        #expect(error?.problem == .countMismatch(labels: Self.count - 1, images: Self.count, imagesFile: imagesPath))
        #expect(error?.description == "\(labelsPath): holds 19 labels but \(imagesPath) holds 20 images")
    }

    @Test func corruptGzipPayload() {
        let directory = TemporaryDirectory()
        var compressed = TestData.gzip(imageBytes)
        // Damage the deflate data between the 10-byte gzip header and the 8-byte trailer.
        for offset in stride(from: 12, to: compressed.count - 10, by: 5) { compressed[offset] ^= 0xA5 }
        let path = directory.write("bad.gz", compressed)
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        guard case .corruptGzip = error?.problem else {
            Issue.record("expected corrupt gzip, got \(String(describing: error))")
            return
        }
        #expect(error?.description.hasPrefix("\(path): corrupt gzip data: ") == true)
    }

    @Test func corruptGzipChecksum() {
        let directory = TemporaryDirectory()
        var compressed = TestData.gzip(imageBytes)
        compressed[compressed.count - 8] ^= 0xFF  // first byte of the CRC-32 trailer
        let path = directory.write("crc.gz", compressed)
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        #expect(error?.problem == .corruptGzip("incorrect data check"))
    }

    @Test func truncatedGzipStream() {
        let directory = TemporaryDirectory()
        let compressed = TestData.gzip(imageBytes)
        let path = directory.write("cut.gz", Array(compressed.prefix(compressed.count / 2)))
        let error = datasetError { _ = try IDXReader.readImages(path: path) }
        guard case .corruptGzip(let message) = error?.problem else {
            Issue.record("expected corrupt gzip, got \(String(describing: error))")
            return
        }
        #expect(message.hasPrefix("compressed stream ends early"))
    }

    @Test func everyMessageIsOneLine() {
        let directory = TemporaryDirectory()
        let errors: [DatasetError?] = [
            datasetError { _ = try IDXReader.readImages(path: directory.file("missing")) },
            datasetError { _ = try IDXReader.readImages(path: directory.write("a", TestData.idxLabels(labels))) },
            datasetError { _ = try IDXReader.readImages(path: directory.write("b", Array(imageBytes.dropLast()))) },
        ]
        for error in errors {
            #expect(error != nil)
            #expect(error?.description.contains("\n") == false)
            #expect(error?.description.contains(directory.path) == true)
        }
    }
}
