import AutoShrinkData
import CZlib
import Foundation
import Testing

/// Runs `body`, which is expected to throw a DatasetError, and returns that error (nil, with a recorded
/// issue, when it throws nothing or something else).
func datasetError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> DatasetError? {
    do {
        try body()
        Issue.record("expected a DatasetError, nothing was thrown", sourceLocation: sourceLocation)
        return nil
    } catch let error as DatasetError {
        return error
    } catch {
        Issue.record("expected a DatasetError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A fresh directory under the system temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("autoshrink-data-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let target = file(name)
        precondition(FileManager.default.createFile(atPath: target, contents: Data(bytes)))
        return target
    }

    /// Writes `bytes` gzip-compressed.
    @discardableResult
    func writeGzip(_ name: String, _ bytes: [UInt8]) -> String {
        let target = file(name)
        precondition(FileManager.default.createFile(atPath: target, contents: Data(TestData.gzip(bytes))))
        return target
    }
}

/// Builders for small synthetic dataset files.
enum TestData {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    /// Deterministic pseudo-random pixels, shape (count, height, width) or any flat size.
    static func pixels(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }

    /// An IDX images file: header promising `count` images of `height` x `width`, then `pixels`.
    static func idxImages(count: Int, height: Int, width: Int, pixels: [UInt8]) -> [UInt8] {
        bigEndian(IDXReader.imagesMagic) + bigEndian(UInt32(count)) + bigEndian(UInt32(height))
            + bigEndian(UInt32(width)) + pixels
    }

    static func idxLabels(_ labels: [UInt8]) -> [UInt8] {
        bigEndian(IDXReader.labelsMagic) + bigEndian(UInt32(labels.count)) + labels
    }

    /// Labels 0, 1, ..., classCount - 1, 0, 1, ... (count of them).
    static func cyclicLabels(_ count: Int, classCount: Int = 10) -> [UInt8] {
        (0..<count).map { UInt8($0 % classCount) }
    }

    /// CIFAR-10 records: label byte then 3072 pixel bytes each.
    static func cifarBatch(labels: [UInt8], seed: UInt64) -> [UInt8] {
        let pixels = pixels(labels.count * 3072, seed: seed)
        var bytes: [UInt8] = []
        for (index, label) in labels.enumerated() {
            bytes.append(label)
            bytes.append(contentsOf: pixels[(index * 3072)..<((index + 1) * 3072)])
        }
        return bytes
    }

    /// gzip (RFC 1952) through zlib's deflate with a gzip wrapper.
    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        // windowBits 15 + 16 selects the gzip wrapper.
        let initialized = deflateInit2_(
            &stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(initialized == Z_OK)
        defer { deflateEnd(&stream) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
        let produced: Int = input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END)
                return target.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<produced])
    }
}
