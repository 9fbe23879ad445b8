import AutoShrinkData
import Testing

@Suite struct DatasetTests {
    @Test func measuredNormalizationPerChannel() {
        // Two images of (C, H, W) = (2, 1, 2): channel 0 is all 51, channel 1 alternates 0 and 255.
        let raw: [UInt8] = [51, 51, 0, 255, 51, 51, 255, 0]
        let normalization = Normalization.measure(rawPixels: raw, channels: 2, pixelsPerChannel: 2)
        #expect(abs(normalization.mean[0] - 0.2) < 1e-6)
        #expect(normalization.std[0] == 1)  // constant channel: no division by zero
        #expect(abs(normalization.mean[1] - 0.5) < 1e-6)
        #expect(abs(normalization.std[1] - 0.5) < 1e-6)
    }

    @Test func renormalizedCopyKeepsRawPixels() {
        let dataset = Dataset(
            name: "toy", split: .test, channels: 1, height: 2, width: 2, classCount: 2,
            rawPixels: [0, 255, 128, 64, 1, 2, 3, 4], labels: [0, 1])
        let unit = dataset.normalized(with: .unit(channels: 1))
        #expect(unit.rawPixels == dataset.rawPixels)
        #expect(unit.images[1] == 1)
        #expect(unit.images[0] == 0)
        #expect(unit.classNames == ["class 0", "class 1"])
    }

    @Test func subsetCopiesRowsInOrder() {
        let dataset = Dataset(
            name: "toy", split: .train, channels: 1, height: 1, width: 3, classCount: 3,
            rawPixels: [1, 2, 3, 4, 5, 6, 7, 8, 9], labels: [0, 1, 2])
        let picked = dataset.subset([2, 0, 2])
        #expect(picked.rawPixels == [7, 8, 9, 1, 2, 3, 7, 8, 9])
        #expect(picked.labels == [2, 0, 2])
        #expect(picked.normalization == dataset.normalization)
        #expect(picked.classCounts() == [1, 0, 2])
    }

    @Test func errorDescriptionsAreSingleLines() {
        let problems: [DatasetError.Problem] = [
            .missingFile(alternatives: ["a.gz"]), .unreadable("Permission denied"),
            .wrongMagic(expected: 0x803, found: 0x1F8B_0800, kind: "IDX images"), .badHeader("x"),
            .truncated(expectedBytes: 10, actualBytes: 5, detail: "d"), .trailingBytes(expectedBytes: 10, extraBytes: 1),
            .labelOutOfRange(index: 1, label: 11, classCount: 10), .countMismatch(labels: 1, images: 2, imagesFile: "i"),
            .corruptGzip("invalid block type"), .unknownDataset(known: ["mnist"]),
            .notEnoughExamples(classIndex: 0, available: 1, requested: 2),
        ]
        for problem in problems {
            let text = DatasetError(file: "/data/file.gz", problem: problem).description
            #expect(!text.contains("\n"))
            #expect(text.contains("/data/file.gz"))
        }
    }
}
