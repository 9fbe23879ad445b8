/// Reader for the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.
///
/// An IDX file is a big-endian header followed by unsigned bytes:
///   images: magic 0x00000803, count N, rows H, columns W, then N * H * W pixels (N, H, W)
///   labels: magic 0x00000801, count N, then N labels (N)
/// The header is the contract: a file shorter than it promises is `truncated`, a longer one has
/// `trailingBytes`, and nothing is returned from a file that fails any check.
public enum IDXReader {
    /// Magic number of an IDX file of unsigned bytes with three dimensions (images).
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic number of an IDX file of unsigned bytes with one dimension (labels).
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Largest accepted image side and example count; anything beyond is a damaged header.
    static let maximumSide = 1 << 14
    static let maximumCount = 1 << 28

    /// Images of one IDX file: `pixels` has shape (count, height, width).
    public struct Images: Sendable {
        public let count: Int
        public let height: Int
        public let width: Int
        public let pixels: [UInt8]
    }

    /// Reads an images file.
    public static func readImages(path: String) throws(DatasetError) -> Images {
        let reader = try CompressedFileReader(path: path)
        let header = try readHeader(reader, magic: imagesMagic, kind: "IDX images", dimensions: 3)
        let (count, height, width) = (header[0], header[1], header[2])
        guard height > 0, width > 0, height <= maximumSide, width <= maximumSide else {
            throw DatasetError(file: path, problem: .badHeader("implausible image size \(height)x\(width)"))
        }
        let bodySize = count * height * width
        let pixels = try readBody(
            reader, size: bodySize, headerSize: 16, detail: "\(count) images of \(height)x\(width)")
        return Images(count: count, height: height, width: width, pixels: pixels)
    }

    /// Reads a labels file; every label must be below `classCount`.
    public static func readLabels(path: String, classCount: Int) throws(DatasetError) -> [UInt8] {
        let reader = try CompressedFileReader(path: path)
        let header = try readHeader(reader, magic: labelsMagic, kind: "IDX labels", dimensions: 1)
        let count = header[0]
        let labels = try readBody(reader, size: count, headerSize: 8, detail: "\(count) labels")
        if let index = labels.firstIndex(where: { Int($0) >= classCount }) {
            throw DatasetError(
                file: path, problem: .labelOutOfRange(index: index, label: Int(labels[index]), classCount: classCount))
        }
        return labels
    }

    /// Reads a pair of images and labels files into a dataset (C = 1).
    public static func readDataset(
        imagesPath: String, labelsPath: String, name: String, split: DatasetSplit, classCount: Int,
        classNames: [String]? = nil, normalization: Normalization? = nil
    ) throws(DatasetError) -> Dataset {
        let images = try readImages(path: imagesPath)
        let labels = try readLabels(path: labelsPath, classCount: classCount)
        guard labels.count == images.count else {
            throw DatasetError(
                file: labelsPath,
                problem: .countMismatch(labels: labels.count, images: images.count, imagesFile: imagesPath))
        }
        return Dataset(
            name: name, split: split, channels: 1, height: images.height, width: images.width,
            classCount: classCount, classNames: classNames, rawPixels: images.pixels,
            labels: labels.map { Int32($0) }, normalization: normalization)
    }

    /// Checks the magic number and returns the `dimensions` big-endian sizes that follow it.
    private static func readHeader(
        _ reader: CompressedFileReader, magic: UInt32, kind: String, dimensions: Int
    ) throws(DatasetError) -> [Int] {
        let headerSize = 4 * (1 + dimensions)
        let bytes = try reader.read(count: headerSize)
        if bytes.count >= 4 {
            let found = bigEndianWord(bytes, at: 0)
            guard found == magic else {
                throw DatasetError(file: reader.path, problem: .wrongMagic(expected: magic, found: found, kind: kind))
            }
        }
        guard bytes.count == headerSize else {
            throw DatasetError(
                file: reader.path,
                problem: .truncated(expectedBytes: headerSize, actualBytes: bytes.count, detail: "the \(kind) header"))
        }
        let sizes = (0..<dimensions).map { Int(bigEndianWord(bytes, at: 4 + 4 * $0)) }
        guard sizes[0] > 0, sizes[0] <= maximumCount else {
            throw DatasetError(file: reader.path, problem: .badHeader("implausible example count \(sizes[0])"))
        }
        return sizes
    }

    /// Reads exactly `size` bytes after the header and checks that nothing follows them.
    private static func readBody(
        _ reader: CompressedFileReader, size: Int, headerSize: Int, detail: String
    ) throws(DatasetError) -> [UInt8] {
        let detail = reader.isCompressed ? "\(detail) (decompressed)" : detail
        guard size <= reader.maximumContentSize else {
            // The file cannot possibly hold what the header claims: count what is there instead of
            // allocating for the claim.
            let actual = headerSize + (try reader.skipToEnd())
            throw DatasetError(
                file: reader.path, problem: .truncated(expectedBytes: headerSize + size, actualBytes: actual, detail: detail))
        }
        let body = try reader.read(count: size)
        guard body.count == size else {
            throw DatasetError(
                file: reader.path,
                problem: .truncated(
                    expectedBytes: headerSize + size, actualBytes: headerSize + body.count, detail: detail))
        }
        // Reading on to the end also makes zlib verify the gzip CRC and length trailer.
        let extra = try reader.skipToEnd()
        guard extra == 0 else {
            throw DatasetError(file: reader.path, problem: .trailingBytes(expectedBytes: headerSize + size, extraBytes: extra))
        }
        return body
    }

    private static func bigEndianWord(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (UInt32(bytes[offset]) << 24) | (UInt32(bytes[offset + 1]) << 16)
            | (UInt32(bytes[offset + 2]) << 8) | UInt32(bytes[offset + 3])
    }
}
