import Foundation

/// Writer for the IDX format `IDXReader` reads (unsigned bytes; the header is the magic
/// 0x000008DD with DD the number of dimensions, then every dimension as a big-endian UInt32).
/// The exporter writes a dataset's test split with it for binaries that read IDX files (CIFAR-10
/// exports, see `testSet`); files are returned as bytes for the caller to write (atomically).
public enum IDXWriter {
    /// An IDX file of unsigned bytes with the given dimensions; `bytes` holds their product.
    public static func encode(dimensions: [Int], bytes: some Collection<UInt8>) -> Data {
        precondition(dimensions.allSatisfy { (0...Int(UInt32.max)).contains($0) } && dimensions.count < 256,
                     "IDX dimensions must fit UInt32, at most 255 of them")
        precondition(bytes.count == dimensions.reduce(1, *), "IDX body does not match its dimensions")
        var data = Data([0, 0, 0x08, UInt8(dimensions.count)])
        for dimension in dimensions { withUnsafeBytes(of: UInt32(dimension).bigEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: bytes)
        return data
    }

    /// The first `limit` (nil = all) raw images and labels of `dataset`: images N x H x W for one
    /// channel (the MNIST layout, `IDXReader.imagesMagic`), N x C x H x W otherwise; labels N.
    public static func testSet(_ dataset: Dataset, limit: Int? = nil) -> (images: Data, labels: Data) {
        let count = min(limit ?? dataset.count, dataset.count)
        let shape = dataset.channels == 1 ? [count, dataset.height, dataset.width]
            : [count, dataset.channels, dataset.height, dataset.width]
        return (encode(dimensions: shape, bytes: dataset.rawPixels[0..<(count * dataset.imageSize)]),
                encode(dimensions: [count], bytes: dataset.labels[0..<count].map { UInt8(clamping: $0) }))
    }
}
