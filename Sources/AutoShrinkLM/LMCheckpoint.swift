import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkModel
import Foundation

/// Training facts stored with a language model.
public struct LMCheckpointMetadata: Codable, Sendable, Equatable {
    public var corpus: String
    public var epochs: Int
    public var validPerplexity: Double?
    public var testPerplexity: Double?
    public var seed: UInt64
    public var bptt: Int
    public var createdBy: String

    public init(corpus: String, epochs: Int, validPerplexity: Double?, testPerplexity: Double?, seed: UInt64, bptt: Int,
                createdBy: String = "autoshrink \(AutoShrinkVersion.string)") {
        self.corpus = corpus; self.epochs = epochs; self.validPerplexity = validPerplexity; self.testPerplexity = testPerplexity
        self.seed = seed; self.bptt = bptt; self.createdBy = createdBy
    }
}

/// A language-model checkpoint: cell, sizes, vocabulary, float32 weights and metadata
/// (docs/shrinkrnn.md, "Checkpoint"). Same frame as the CNN `Checkpoint`, its own magic:
///
///     magic    8 bytes  "ASHRLMCK"
///     version  UInt32   1
///     length   UInt64   bytes of the JSON header
///     header   JSON     {cell, shape, vocabulary, metadata, tensors: [{name, shape, count}]}
///     payload  Float32  every tensor in header order (little-endian)
///     checksum UInt64   FNV-1a 64 of header + payload
public struct LMCheckpoint: Sendable {
    public static let magic = Array("ASHRLMCK".utf8)
    public static let currentVersion: UInt32 = 1

    public struct TensorRecord: Codable, Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var count: Int
    }

    struct Header: Codable {
        var cell: RNNCell
        var shape: LanguageModelShape
        var vocabulary: [String]
        var metadata: LMCheckpointMetadata
        var tensors: [TensorRecord]
    }

    public var cell: RNNCell
    public var shape: LanguageModelShape
    public var vocabulary: Vocabulary
    public var metadata: LMCheckpointMetadata
    public var tensors: [(record: TensorRecord, values: [Float])]

    public init(model: LanguageModel, vocabulary: Vocabulary, metadata: LMCheckpointMetadata) {
        cell = model.cell; shape = model.shape; self.vocabulary = vocabulary; self.metadata = metadata
        tensors = model.parameters.map { (TensorRecord(name: $0.name, shape: $0.value.shape, count: $0.value.count), $0.value.array) }
    }

    public func encoded() -> Data {
        let header = Header(cell: cell, shape: shape, vocabulary: vocabulary.words, metadata: metadata, tensors: tensors.map(\.record))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try! encoder.encode(header)
        var body = Data(json)
        for (_, values) in tensors {
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
        }
        var data = Data(LMCheckpoint.magic)
        withUnsafeBytes(of: LMCheckpoint.currentVersion.littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(body)
        withUnsafeBytes(of: LMCheckpoint.fnv1a(body).littleEndian) { data.append(contentsOf: $0) }
        return data
    }

    /// Written atomically (`AtomicFile`).
    public func write(to path: String) throws { try AtomicFile.write(encoded(), to: path) }

    public static func load(path: String) throws -> LMCheckpoint {
        let data: Data
        do { data = try FileProblem.read(path, maximumBytes: 1 << 31) } catch let error as FileAccessError {
            throw CheckpointError("\(path): cannot read checkpoint (\(error.reason))")
        }
        return try decode(data, source: path)
    }

    public static func decode(_ data: Data, source: String) throws -> LMCheckpoint {
        let bytes = [UInt8](data)
        func fail(_ message: String) -> CheckpointError { CheckpointError("\(source): \(message)") }
        func integer<T: FixedWidthInteger>(at offset: Int, as: T.Type) -> T {
            var value: T = 0
            for index in (0..<MemoryLayout<T>.size).reversed() { value = value << 8 | T(bytes[offset + index]) }
            return value
        }
        if bytes.count >= 8, Array(bytes[0..<8]) == Array("ASHRCKPT".utf8) {
            throw fail("an image-classifier checkpoint, not a language model (use evaluate without --task lm)")
        }
        guard bytes.count >= 28, Array(bytes[0..<8]) == magic else { throw fail("not an autoshrink language-model checkpoint (bad magic number)") }
        let version = integer(at: 8, as: UInt32.self)
        guard version == currentVersion else { throw fail("unsupported language-model checkpoint version \(version) (this autoshrink reads version \(currentVersion))") }
        let storedLength = integer(at: 12, as: UInt64.self)
        guard storedLength > 0, storedLength <= UInt64(bytes.count - 28) else {
            throw fail("truncated or corrupt checkpoint (header length \(storedLength), file holds \(bytes.count) bytes)")
        }
        let headerLength = Int(storedLength)
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: Data(bytes[20..<(20 + headerLength)])) } catch {
            throw fail("corrupt checkpoint header (\(DocumentError.describe(error)))")
        }
        try header.cell.validate(source: source)
        try header.shape.validate(source: source)
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(words: header.vocabulary) } catch { throw fail(error.description) }
        guard vocabulary.count == header.shape.vocabulary else {
            throw fail("vocabulary lists \(vocabulary.count) words, the model has \(header.shape.vocabulary)")
        }
        var payloadCount = 0
        for record in header.tensors {
            guard record.count >= 0, record.count <= bytes.count, record.shape.allSatisfy({ $0 >= 0 && $0 <= bytes.count }) else {
                throw fail("corrupt checkpoint header (tensor \(record.name) claims \(record.count) values)")
            }
            let (elements, overflow) = record.shape.reduce((1, false)) { partial, side in
                let product = partial.0.multipliedReportingOverflow(by: side)
                return (product.partialValue, partial.1 || product.overflow)
            }
            guard !overflow, elements == record.count else { throw fail("tensor \(record.name): shape does not match count") }
            payloadCount += record.count
            guard payloadCount <= bytes.count else { throw fail("truncated checkpoint (\(bytes.count) bytes, the header lists more values)") }
        }
        let expected = 20 + headerLength + payloadCount * 4 + 8
        guard bytes.count >= expected else { throw fail("truncated checkpoint (\(bytes.count) bytes, expected \(expected))") }
        guard bytes.count == expected else { throw fail("checkpoint has \(bytes.count - expected) unexpected trailing bytes") }
        guard integer(at: expected - 8, as: UInt64.self) == fnv1a(Data(bytes[20..<(expected - 8)])) else {
            throw fail("checksum mismatch (corrupt checkpoint)")
        }
        var offset = 20 + headerLength
        var tensors: [(TensorRecord, [Float])] = []
        for record in header.tensors {
            var values = [Float](repeating: 0, count: record.count)
            for i in 0..<record.count {
                values[i] = Float(bitPattern: integer(at: offset + 4 * i, as: UInt32.self))
                guard values[i].isFinite else { throw fail("tensor \(record.name) holds a non-finite weight") }
            }
            offset += record.count * 4
            tensors.append((record, values))
        }
        var checkpoint = LMCheckpoint(cell: header.cell, shape: header.shape, vocabulary: vocabulary, metadata: header.metadata, tensors: [])
        checkpoint.tensors = tensors
        return checkpoint
    }

    init(cell: RNNCell, shape: LanguageModelShape, vocabulary: Vocabulary, metadata: LMCheckpointMetadata, tensors: [(record: TensorRecord, values: [Float])]) {
        self.cell = cell; self.shape = shape; self.vocabulary = vocabulary; self.metadata = metadata; self.tensors = tensors
    }

    /// Builds the model and loads the weights, matching tensors by name and shape.
    public func makeModel(context: ExecutionContext) throws -> LanguageModel {
        let model = LanguageModel(cell: cell, shape: shape, context: context, seed: metadata.seed)
        guard model.parameters.count == tensors.count else {
            throw CheckpointError("checkpoint has \(tensors.count) tensors, the model expects \(model.parameters.count)")
        }
        for (parameter, stored) in zip(model.parameters, tensors) {
            guard parameter.name == stored.record.name, parameter.value.shape == stored.record.shape else {
                throw CheckpointError("checkpoint tensor \(stored.record.name) \(stored.record.shape) does not match model tensor \(parameter.name) \(parameter.value.shape)")
            }
            stored.values.withUnsafeBufferPointer { parameter.value.data.update(from: $0.baseAddress!, count: $0.count) }
        }
        return model
    }

    static func fnv1a(_ data: Data) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
    }
}
