import Foundation

/// The binary frame of every weights file (`model.ckpt` of image classifiers, `Checkpoint`, and of
/// language models, `LMCheckpoint`; docs/architecture.md, "File formats"). Little-endian:
///
///     magic    8 bytes  one per file kind ("ASHRCKPT", "ASHRLMCK")
///     version  UInt32
///     length   UInt64   bytes of the JSON header
///     header   JSON     the kind's header, whose `tensors` list names, shapes and counts
///     payload  Float32  every tensor in header order
///     checksum UInt64   FNV-1a of header + payload
///
/// Every size read from a file is checked before arithmetic, so a damaged field is a one-line error,
/// never an overflow trap or a huge allocation. Problems are `CheckpointError`s naming `source`.
public enum TensorFrame {
    /// One tensor of the payload as the header lists it.
    public struct TensorRecord: Codable, Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var count: Int
        public init(name: String, shape: [Int], count: Int) { self.name = name; self.shape = shape; self.count = count }
    }

    /// What a file kind calls itself in messages ("checkpoint", "language-model checkpoint").
    public struct Kind: Sendable {
        public var magic: [UInt8]
        public var version: UInt32
        public var name: String
        public init(magic: String, version: UInt32, name: String) {
            self.magic = Array(magic.utf8); self.version = version; self.name = name
        }
    }

    /// The frame's bytes: `header` as sorted-key JSON, then `values` in order.
    public static func encode<Header: Encodable>(_ kind: Kind, header: Header, values: [[Float]]) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try! encoder.encode(header)  // plain value types: cannot fail
        var body = Data(json)
        for tensor in values {
            if UInt32(1).littleEndian == 1 {
                tensor.withUnsafeBytes { body.append(contentsOf: $0) }
            } else {
                for value in tensor { appendLittleEndian(&body, value.bitPattern) }
            }
        }
        var data = Data(kind.magic)
        appendLittleEndian(&data, kind.version)
        appendLittleEndian(&data, UInt64(json.count))
        data.append(body)
        appendLittleEndian(&data, fnv1a(body))
        return data
    }

    /// Checks magic, version, sizes and checksum; returns the header and each listed tensor's values.
    public static func decode<Header: Decodable>(_ data: Data, _ kind: Kind, source: String,
                                                 records: (Header) -> [TensorRecord]) throws -> (header: Header, values: [[Float]]) {
        let bytes = [UInt8](data)
        func fail(_ message: String) -> CheckpointError { CheckpointError("\(source): \(message)") }
        guard bytes.count >= 20, Array(bytes[0..<8]) == kind.magic else {
            throw fail("not an autoshrink \(kind.name) (bad magic number)")
        }
        let version = readLittleEndian(bytes, at: 8, as: UInt32.self)
        guard version == kind.version else {
            throw fail("unsupported \(kind.name) version \(version) (this autoshrink reads version \(kind.version))")
        }
        let storedHeaderLength = readLittleEndian(bytes, at: 12, as: UInt64.self)
        guard storedHeaderLength > 0, bytes.count >= 28, storedHeaderLength <= UInt64(bytes.count - 28) else {
            throw fail("truncated or corrupt checkpoint (header length \(storedHeaderLength), file holds \(bytes.count) bytes)")
        }
        let headerLength = Int(storedHeaderLength)
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[20..<(20 + headerLength)])) } catch {
            throw fail("corrupt checkpoint header (\(DocumentError.describe(error)))")
        }
        let listed = records(header)
        var payloadCount = 0
        for record in listed {
            // No tensor can hold more floats than the file has bytes.
            guard record.count >= 0, record.count <= bytes.count, record.shape.allSatisfy({ $0 >= 0 && $0 <= bytes.count }) else {
                throw fail("corrupt checkpoint header (tensor \(record.name) claims \(record.count) values)")
            }
            let (elements, overflow) = record.shape.reduce((1, false)) { partial, side in
                let product = partial.0.multipliedReportingOverflow(by: side)
                return (product.partialValue, partial.1 || product.overflow)
            }
            guard !overflow, elements == record.count else { throw fail("tensor \(record.name): shape does not match count") }
            payloadCount += record.count
            guard payloadCount <= bytes.count else {
                throw fail("truncated checkpoint (\(bytes.count) bytes, the header lists more values than fit)")
            }
        }
        let payloadStart = 20 + headerLength
        let expected = payloadStart + payloadCount * 4 + 8
        guard bytes.count >= expected else { throw fail("truncated checkpoint (\(bytes.count) bytes, expected \(expected))") }
        guard bytes.count == expected else { throw fail("checkpoint has \(bytes.count - expected) unexpected trailing bytes") }
        let stored = readLittleEndian(bytes, at: expected - 8, as: UInt64.self)
        guard stored == fnv1a(Data(bytes[20..<(expected - 8)])) else { throw fail("checksum mismatch (corrupt checkpoint)") }
        var offset = payloadStart
        var values: [[Float]] = []
        for record in listed {
            var tensor = [Float](repeating: 0, count: record.count)
            tensor.withUnsafeMutableBytes { destination in
                bytes.withUnsafeBytes { source in
                    destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + record.count * 4)]))
                }
            }
            // The payload is little-endian; on a big-endian host each word is swapped.
            if UInt32(1).littleEndian != 1 {
                for i in tensor.indices { tensor[i] = Float(bitPattern: UInt32(littleEndian: tensor[i].bitPattern)) }
            }
            offset += record.count * 4
            values.append(tensor)
        }
        return (header, values)
    }
}

func fnv1a(_ data: Data) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    data.withUnsafeBytes { raw in
        for byte in raw { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    }
    return hash
}

func appendLittleEndian<T: FixedWidthInteger>(_ data: inout Data, _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
}

func readLittleEndian<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as: T.Type) -> T {
    var value: T = 0
    for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + index]) }
    return value
}
