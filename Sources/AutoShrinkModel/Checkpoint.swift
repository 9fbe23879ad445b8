import AutoShrinkEngine
import Foundation

/// Training facts stored beside the weights.
public struct CheckpointMetadata: Codable, Sendable, Equatable {
    public var dataset: String
    public var epochs: Int
    public var testAccuracy: Double?
    public var validationAccuracy: Double?
    public var seed: UInt64
    /// Per-channel input normalisation used in training: x = (pixel/255 - mean) / std.
    public var normalizationMean: [Float]
    public var normalizationStd: [Float]
    public var createdBy: String

    public init(dataset: String, epochs: Int, testAccuracy: Double?, validationAccuracy: Double?, seed: UInt64,
                normalizationMean: [Float], normalizationStd: [Float], createdBy: String = "autoshrink \(AutoShrinkVersion.string)") {
        self.dataset = dataset; self.epochs = epochs; self.testAccuracy = testAccuracy
        self.validationAccuracy = validationAccuracy; self.seed = seed
        self.normalizationMean = normalizationMean; self.normalizationStd = normalizationStd; self.createdBy = createdBy
    }
}

public enum AutoShrinkVersion {
    public static let string = "0.1.0"
}

/// A checkpoint file: architecture + float32 weights + batch-norm running statistics + metadata.
///
/// Layout (little-endian):
///
///     magic    8 bytes  "ASHRCKPT"
///     version  UInt32   1
///     length   UInt64   bytes of the JSON header
///     header   JSON     {architecture, metadata, tensors: [{name, shape, count}]}
///     payload  Float32  every tensor in header order
///     checksum UInt64   FNV-1a of header + payload
public struct Checkpoint: Sendable {
    public static let magic = Array("ASHRCKPT".utf8)
    public static let currentVersion: UInt32 = 1

    public struct TensorRecord: Codable, Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var count: Int
    }

    struct Header: Codable {
        var architecture: Architecture
        var metadata: CheckpointMetadata
        var tensors: [TensorRecord]
    }

    public var architecture: Architecture
    public var metadata: CheckpointMetadata
    public var tensors: [(record: TensorRecord, values: [Float])]

    /// Captures the current weights of `network`.
    public init(network: Network, metadata: CheckpointMetadata) {
        architecture = network.architecture
        self.metadata = metadata
        tensors = network.namedTensors.map { (TensorRecord(name: $0.name, shape: $0.tensor.shape, count: $0.tensor.count), $0.tensor.array) }
    }

    init(architecture: Architecture, metadata: CheckpointMetadata, tensors: [(record: TensorRecord, values: [Float])]) {
        self.architecture = architecture; self.metadata = metadata; self.tensors = tensors
    }

    /// Serialised bytes.
    public func encoded() -> Data {
        let header = Header(architecture: architecture, metadata: metadata, tensors: tensors.map(\.record))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try! encoder.encode(header)
        var body = Data()
        body.append(json)
        for (_, values) in tensors {
            values.withUnsafeBufferPointer { body.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) }
        }
        var data = Data(Checkpoint.magic)
        appendLittleEndian(&data, Checkpoint.currentVersion)
        appendLittleEndian(&data, UInt64(json.count))
        data.append(body)
        appendLittleEndian(&data, fnv1a(body))
        return data
    }

    /// Writes atomically (`AtomicFile`), so an existing checkpoint survives a failed write and no
    /// temporary file is left behind; errors read `cannot write PATH: No space left on device`.
    public func write(to path: String) throws {
        try AtomicFile.write(encoded(), to: path)
    }

    /// Reads and checks a checkpoint file; every problem is a one-line `CheckpointError` naming the file.
    public static func load(path: String) throws -> Checkpoint {
        let data: Data
        do { data = try FileProblem.read(path) } catch let error as FileAccessError {
            throw CheckpointError("\(path): cannot read checkpoint (\(error.reason))")
        }
        return try decode(data, source: path)
    }

    public static func decode(_ data: Data, source: String) throws -> Checkpoint {
        let bytes = [UInt8](data)
        func fail(_ message: String) -> CheckpointError { CheckpointError("\(source): \(message)") }
        guard bytes.count >= 20, Array(bytes[0..<8]) == magic else { throw fail("not an autoshrink checkpoint (bad magic number)") }
        let version = readLittleEndian(bytes, at: 8, as: UInt32.self)
        guard version == currentVersion else {
            throw fail("unsupported checkpoint version \(version) (this autoshrink reads version \(currentVersion))")
        }
        // Every size read from the file is checked before arithmetic, so a damaged field is a
        // one-line error, never an overflow trap or a huge allocation.
        let storedHeaderLength = readLittleEndian(bytes, at: 12, as: UInt64.self)
        guard storedHeaderLength > 0, bytes.count >= 28, storedHeaderLength <= UInt64(bytes.count - 28) else {
            throw fail("truncated or corrupt checkpoint (header length \(storedHeaderLength), file holds \(bytes.count) bytes)")
        }
        let headerLength = Int(storedHeaderLength)
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[20..<(20 + headerLength)])) } catch {
            throw fail("corrupt checkpoint header (\(oneLine(error)))")
        }
        var payloadCount = 0
        for record in header.tensors {
            // No tensor can hold more floats than the file has bytes.
            guard record.count >= 0, record.count <= bytes.count, record.shape.allSatisfy({ $0 >= 0 && $0 <= bytes.count }) else {
                throw fail("corrupt checkpoint header (tensor \(record.name) claims \(record.count) values)")
            }
            payloadCount += record.count
        }
        let payloadStart = 20 + headerLength
        guard payloadCount <= bytes.count else {
            throw fail("truncated checkpoint (\(bytes.count) bytes, the header lists \(payloadCount) values)")
        }
        let expected = payloadStart + payloadCount * 4 + 8
        guard bytes.count >= expected else { throw fail("truncated checkpoint (\(bytes.count) bytes, expected \(expected))") }
        guard bytes.count == expected else { throw fail("checkpoint has \(bytes.count - expected) unexpected trailing bytes") }
        let stored = readLittleEndian(bytes, at: expected - 8, as: UInt64.self)
        guard stored == fnv1a(Data(bytes[20..<(expected - 8)])) else { throw fail("checksum mismatch (corrupt checkpoint)") }
        try header.architecture.validate(source: source)
        var offset = payloadStart
        var tensors: [(TensorRecord, [Float])] = []
        for record in header.tensors {
            let (elements, overflow) = record.shape.reduce((1, false)) { partial, side in
                let product = partial.0.multipliedReportingOverflow(by: side)
                return (product.partialValue, partial.1 || product.overflow)
            }
            guard !overflow, elements == record.count else { throw fail("tensor \(record.name): shape does not match count") }
            var values = [Float](repeating: 0, count: record.count)
            values.withUnsafeMutableBytes { destination in
                bytes.withUnsafeBytes { source in
                    destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + record.count * 4)]))
                }
            }
            offset += record.count * 4
            tensors.append((record, values))
        }
        try validateContents(metadata: header.metadata, architecture: header.architecture, tensors: tensors, source: source)
        return Checkpoint(architecture: header.architecture, metadata: header.metadata, tensors: tensors)
    }

    /// Builds the network and loads these weights into it.
    public func makeNetwork(context: ExecutionContext) throws -> Network {
        let network = Network(architecture: architecture, context: context, seed: metadata.seed)
        try load(into: network)
        return network
    }

    /// Copies the stored tensors into `network`, matching by name and shape.
    public func load(into network: Network) throws {
        let targets = network.namedTensors
        guard targets.count == tensors.count else {
            throw CheckpointError("checkpoint has \(tensors.count) tensors, the network expects \(targets.count)")
        }
        for (target, stored) in zip(targets, tensors) {
            guard target.name == stored.record.name, target.tensor.count == stored.values.count else {
                throw CheckpointError("checkpoint tensor \(stored.record.name) \(stored.record.shape) does not match network tensor \(target.name) \(target.tensor.shape)")
            }
            stored.values.withUnsafeBufferPointer { target.tensor.data.update(from: $0.baseAddress!, count: $0.count) }
        }
    }
}

/// A one-line checkpoint problem.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
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
