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

    public typealias TensorRecord = TensorFrame.TensorRecord
    static let frame = TensorFrame.Kind(magic: "ASHRCKPT", version: currentVersion, name: "checkpoint")

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

    /// Serialised bytes (the `TensorFrame` of docs/architecture.md, "File formats").
    public func encoded() -> Data {
        TensorFrame.encode(Checkpoint.frame, header: Header(architecture: architecture, metadata: metadata, tensors: tensors.map(\.record)),
                           values: tensors.map(\.values))
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
        let (header, values) = try TensorFrame.decode(data, frame, source: source) { (header: Header) in header.tensors }
        try header.architecture.validate(source: source)
        let tensors = Array(zip(header.tensors, values))
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
