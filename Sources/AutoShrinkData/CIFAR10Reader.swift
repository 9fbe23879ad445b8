/// Reader for the CIFAR-10 binary batches (`data_batch_1.bin` ... `data_batch_5.bin`, `test_batch.bin`).
///
/// A batch is a sequence of records with no header: 1 label byte, then 3072 pixel bytes laid out
/// (C, H, W) = (3, 32, 32), red plane first. The official batches hold 10,000 records each; any whole
/// number of records is accepted, a partial record is `truncated`.
public enum CIFAR10Reader {
    public static let channels = 3
    public static let height = 32
    public static let width = 32
    public static let classCount = 10
    /// Bytes per record: 1 label + 3 * 32 * 32 pixels.
    public static let recordSize = 1 + channels * height * width
    public static let classNames = [
        "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
    ]
    /// File names of the official split.
    public static let trainFiles = (1...5).map { "data_batch_\($0).bin" }
    public static let testFiles = ["test_batch.bin"]

    /// One batch file: `pixels` (N, 3, 32, 32) and `labels` (N).
    public struct Batch: Sendable {
        public let pixels: [UInt8]
        public let labels: [UInt8]
        public var count: Int { labels.count }
    }

    /// Reads one batch file (plain, or gzip-compressed).
    public static func readBatch(path: String) throws(DatasetError) -> Batch {
        let reader = try CompressedFileReader(path: path)
        let bytes = try reader.readToEnd()
        let imageSize = recordSize - 1
        let records = bytes.count / recordSize
        guard records > 0, bytes.count % recordSize == 0 else {
            let expected = (records + 1) * recordSize
            throw DatasetError(
                file: path,
                problem: .truncated(
                    expectedBytes: expected, actualBytes: bytes.count,
                    detail: "record \(records + 1) (records are \(recordSize) bytes)"))
        }
        var labels = [UInt8](repeating: 0, count: records)
        var pixels = [UInt8](repeating: 0, count: records * imageSize)
        bytes.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                for record in 0..<records {
                    let start = record * recordSize
                    labels[record] = source[start]
                    let from = UnsafeBufferPointer(rebasing: source[(start + 1)..<(start + recordSize)])
                    _ = UnsafeMutableBufferPointer(rebasing: target[(record * imageSize)..<((record + 1) * imageSize)])
                        .initialize(fromContentsOf: from)
                }
            }
        }
        if let index = labels.firstIndex(where: { Int($0) >= classCount }) {
            throw DatasetError(
                file: path, problem: .labelOutOfRange(index: index, label: Int(labels[index]), classCount: classCount))
        }
        return Batch(pixels: pixels, labels: labels)
    }

    /// Reads and concatenates batch files in order into one dataset.
    public static func readDataset(
        paths: [String], split: DatasetSplit, name: String = "cifar10", normalization: Normalization? = nil
    ) throws(DatasetError) -> Dataset {
        var pixels: [UInt8] = []
        var labels: [Int32] = []
        for path in paths {
            let batch = try readBatch(path: path)
            pixels.append(contentsOf: batch.pixels)
            labels.append(contentsOf: batch.labels.map { Int32($0) })
        }
        return Dataset(
            name: name, split: split, channels: channels, height: height, width: width, classCount: classCount,
            classNames: classNames, rawPixels: pixels, labels: labels, normalization: normalization)
    }
}
