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

/// What a language-model checkpoint holds: an RNN-cell model (`LanguageModel`) or the LSTM baseline
/// (`LSTMLanguageModel`, docs/shrinkrnn.md, "LSTM baseline").
public enum LMArchitecture: Sendable, Hashable {
    case cell(RNNCell)
    case lstm

    /// The header's `model` field.
    public var kind: String {
        switch self {
        case .cell: "rnn-cell"
        case .lstm: "lstm"
        }
    }

    /// One line for printouts.
    public var summary: String {
        switch self {
        case .cell(let cell): cell.summary
        case .lstm: "1-layer LSTM"
        }
    }
}

/// A language-model checkpoint: model kind (and cell), sizes, vocabulary, float32 weights and metadata
/// (docs/shrinkrnn.md, "Checkpoint"). Same frame as the CNN `Checkpoint`, its own magic:
///
///     magic    8 bytes  "ASHRLMCK"
///     version  UInt32   2 (1: RNN-cell models only, no `model` field; still read)
///     length   UInt64   bytes of the JSON header
///     header   JSON     {model: "rnn-cell" | "lstm", cell (rnn-cell only), shape, vocabulary, metadata,
///                        tensors: [{name, shape, count}]}
///     payload  Float32  every tensor in header order (little-endian)
///     checksum UInt64   FNV-1a 64 of header + payload
public struct LMCheckpoint: Sendable {
    public static let magic = Array("ASHRLMCK".utf8)
    public static let currentVersion: UInt32 = 2

    public typealias TensorRecord = TensorFrame.TensorRecord
    static let frame = TensorFrame.Kind(magic: "ASHRLMCK", version: currentVersion, name: "language-model checkpoint")
    /// Version 1 (before the LSTM baseline): the same header without `model`, always an RNN cell.
    static let frameVersion1 = TensorFrame.Kind(magic: "ASHRLMCK", version: 1, name: "language-model checkpoint")

    struct Header: Codable {
        /// "rnn-cell" or "lstm"; absent in version 1.
        var model: String?
        var cell: RNNCell?
        var shape: LanguageModelShape
        var vocabulary: [String]
        var metadata: LMCheckpointMetadata
        var tensors: [TensorRecord]
    }

    public var architecture: LMArchitecture
    public var shape: LanguageModelShape
    public var vocabulary: Vocabulary
    public var metadata: LMCheckpointMetadata
    public var tensors: [(record: TensorRecord, values: [Float])]

    /// The cell of an RNN-cell checkpoint; nil for an LSTM.
    public var cell: RNNCell? {
        if case .cell(let cell) = architecture { return cell }
        return nil
    }

    public init(model: any RecurrentLanguageModel, vocabulary: Vocabulary, metadata: LMCheckpointMetadata) {
        architecture = model.architecture; shape = model.shape; self.vocabulary = vocabulary; self.metadata = metadata
        tensors = model.parameters.map { (TensorRecord(name: $0.name, shape: $0.value.shape, count: $0.value.count), $0.value.array) }
    }

    /// Serialised bytes (the `TensorFrame` shared with the CNN `Checkpoint`).
    public func encoded() -> Data {
        TensorFrame.encode(LMCheckpoint.frame,
                           header: Header(model: architecture.kind, cell: cell, shape: shape, vocabulary: vocabulary.words, metadata: metadata, tensors: tensors.map(\.record)),
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
        // Version 1 files (RNN cells only) stay readable; any other version is refused by the frame.
        let version1 = data.count >= 12 && Array(data.prefix(8)) == magic && data.dropFirst(8).prefix(4).elementsEqual([1, 0, 0, 0])
        let (header, values) = try TensorFrame.decode(data, version1 ? frameVersion1 : frame, source: source) { (header: Header) in header.tensors }
        let architecture: LMArchitecture
        switch (version1 ? "rnn-cell" : header.model, header.cell) {
        case ("rnn-cell", let cell?):
            try cell.validate(source: source)
            architecture = .cell(cell)
        case ("lstm", nil): architecture = .lstm
        case ("rnn-cell", nil): throw fail("corrupt checkpoint header (an rnn-cell model without its cell)")
        case ("lstm", _?): throw fail("corrupt checkpoint header (an lstm model with a cell)")
        case (let other, _):
            throw fail("unknown model kind \(other.map { "'\($0)'" } ?? "(none)") (this autoshrink reads 'rnn-cell' and 'lstm')")
        }
        try header.shape.validate(source: source)
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(words: header.vocabulary) } catch { throw fail(error.description) }
        guard vocabulary.count == header.shape.vocabulary else {
            throw fail("vocabulary lists \(vocabulary.count) words, the model has \(header.shape.vocabulary)")
        }
        for (record, tensor) in zip(header.tensors, values) where !tensor.allSatisfy(\.isFinite) {
            throw fail("tensor \(record.name) holds a non-finite weight")
        }
        return LMCheckpoint(architecture: architecture, shape: header.shape, vocabulary: vocabulary, metadata: header.metadata,
                            tensors: Array(zip(header.tensors, values)))
    }

    init(architecture: LMArchitecture, shape: LanguageModelShape, vocabulary: Vocabulary, metadata: LMCheckpointMetadata,
         tensors: [(record: TensorRecord, values: [Float])]) {
        self.architecture = architecture; self.shape = shape; self.vocabulary = vocabulary; self.metadata = metadata; self.tensors = tensors
    }

    /// Builds the model and loads the weights, matching tensors by name and shape.
    public func makeModel(context: ExecutionContext) throws -> any RecurrentLanguageModel {
        let model: any RecurrentLanguageModel
        switch architecture {
        case .cell(let cell): model = LanguageModel(cell: cell, shape: shape, context: context, seed: metadata.seed)
        case .lstm: model = LSTMLanguageModel(shape: shape, context: context, seed: metadata.seed)
        }
        // Cell checkpoints written before the gate biases (docs/shrinkrnn.md, "Checkpoint") end after the decoder
        // bias: their cells computed sigmoid(c) without one, which a zero bias reproduces exactly.
        var expected = model.parameters
        if case .cell = architecture, tensors.count < expected.count,
           expected.dropFirst(tensors.count).allSatisfy({ $0.name.hasSuffix(".gate_bias") }) {
            for parameter in expected.dropFirst(tensors.count) { parameter.value.zero() }
            expected = Array(expected.prefix(tensors.count))
        }
        guard expected.count == tensors.count else {
            throw CheckpointError("checkpoint has \(tensors.count) tensors, the model expects \(model.parameters.count)")
        }
        for (parameter, stored) in zip(expected, tensors) {
            guard parameter.name == stored.record.name, parameter.value.shape == stored.record.shape else {
                throw CheckpointError("checkpoint tensor \(stored.record.name) \(stored.record.shape) does not match model tensor \(parameter.name) \(parameter.value.shape)")
            }
            stored.values.withUnsafeBufferPointer { parameter.value.data.update(from: $0.baseAddress!, count: $0.count) }
        }
        return model
    }
}
