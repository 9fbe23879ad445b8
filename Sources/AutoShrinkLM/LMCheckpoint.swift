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

    public typealias TensorRecord = TensorFrame.TensorRecord
    static let frame = TensorFrame.Kind(magic: "ASHRLMCK", version: currentVersion, name: "language-model checkpoint")

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

    /// Serialised bytes (the `TensorFrame` shared with the CNN `Checkpoint`).
    public func encoded() -> Data {
        TensorFrame.encode(LMCheckpoint.frame,
                           header: Header(cell: cell, shape: shape, vocabulary: vocabulary.words, metadata: metadata, tensors: tensors.map(\.record)),
                           values: tensors.map(\.values))
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
        func fail(_ message: String) -> CheckpointError { CheckpointError("\(source): \(message)") }
        if data.count >= 8, Array(data.prefix(8)) == Array("ASHRCKPT".utf8) {
            throw fail("an image-classifier checkpoint, not a language model (use evaluate without --task lm)")
        }
        let (header, values) = try TensorFrame.decode(data, frame, source: source) { (header: Header) in header.tensors }
        try header.cell.validate(source: source)
        try header.shape.validate(source: source)
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(words: header.vocabulary) } catch { throw fail(error.description) }
        guard vocabulary.count == header.shape.vocabulary else {
            throw fail("vocabulary lists \(vocabulary.count) words, the model has \(header.shape.vocabulary)")
        }
        for (record, tensor) in zip(header.tensors, values) where !tensor.allSatisfy(\.isFinite) {
            throw fail("tensor \(record.name) holds a non-finite weight")
        }
        return LMCheckpoint(cell: header.cell, shape: header.shape, vocabulary: vocabulary, metadata: header.metadata,
                            tensors: Array(zip(header.tensors, values)))
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
}
