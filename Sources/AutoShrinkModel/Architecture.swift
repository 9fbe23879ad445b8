// Every module above AutoShrinkModel sees the file formats (docs/architecture.md, "File formats").
@_exported import AutoShrinkFormats
import Foundation

/// A network architecture as stored in `*.arch.json` (format `autoshrink.architecture`, version 1).
///
/// Two families share the format:
/// - sequential networks (e.g. `refnet`): `stem` layers only, no `cell`, no `stages`;
/// - ShrinkCNN cell networks: a `stem`, one shared `cell` DAG and `stages` of cells.
/// Every network ends with the `head`: global average pool -> optional dropout -> linear(classes).
/// Input is one image of `input.channels x input.height x input.width`.
public struct Architecture: Codable, Hashable, Sendable, VersionedDocument {
    public static let formatName = "autoshrink.architecture"
    public static let currentVersion = 1
    public static let documentKind = "an architecture file"
    public static let versionLabel = "architecture"
    public static func documentError(_ message: String) -> any Error { ArchitectureError(message) }

    public var format: String
    public var version: Int
    public var name: String
    public var input: InputShape
    public var classes: Int
    public var stem: [StemLayer]
    public var cell: CellDAG?
    public var stages: [Stage]
    public var head: Head

    public init(name: String, input: InputShape, classes: Int, stem: [StemLayer],
                cell: CellDAG? = nil, stages: [Stage] = [], head: Head = Head()) {
        self.format = Architecture.formatName
        self.version = Architecture.currentVersion
        self.name = name
        self.input = input
        self.classes = classes
        self.stem = stem
        self.cell = cell
        self.stages = stages
        self.head = head
    }
}

/// Image shape fed to the network: channels x height x width.
public struct InputShape: Codable, Hashable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels; self.height = height; self.width = width
    }
}

/// Nonlinearity applied after a convolution's batch norm.
public enum Activation: String, Codable, Hashable, Sendable {
    case relu, relu6, none
}

/// One stem layer: convolution (no bias) -> batch norm -> activation, padding kernel/2; or an
/// inverted-residual block (MobileNetV2) of several such convolutions.
public struct StemLayer: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Hashable, Sendable {
        /// Dense convolution (groups = 1).
        case conv
        /// Depthwise convolution (groups = channels, output channels = input channels).
        case depthwise
        /// MobileNetV2 inverted residual (docs/baselines.md): conv1x1 (C -> C*expansion, `activation`)
        /// -> depthwise kxk stride s (`activation`) -> conv1x1 (-> outputChannels, linear), plus the
        /// block input added when stride is 1 and C == outputChannels. Expansion 1 has no first conv1x1.
        case invertedResidual
    }
    public var kind: Kind
    /// Output channels; ignored (equal to the input) for depthwise layers.
    public var outputChannels: Int
    public var kernel: Int
    public var stride: Int
    public var activation: Activation
    /// Expansion factor of an `invertedResidual` block (1...16); absent for the other kinds, so
    /// files written before the block existed read and hash unchanged.
    public var expansion: Int?

    public init(_ kind: Kind, outputChannels: Int, kernel: Int, stride: Int = 1, activation: Activation = .relu,
                expansion: Int? = nil) {
        self.kind = kind; self.outputChannels = outputChannels; self.kernel = kernel
        self.stride = stride; self.activation = activation; self.expansion = expansion
    }

    /// A MobileNetV2 inverted-residual block (ReLU6 after the expansion and the depthwise convolution).
    public static func invertedResidual(outputChannels: Int, expansion: Int, kernel: Int = 3, stride: Int = 1) -> StemLayer {
        StemLayer(.invertedResidual, outputChannels: outputChannels, kernel: kernel, stride: stride, activation: .relu6,
                  expansion: expansion)
    }
}

/// A stage of cells sharing the network's cell topology. Node widths are `width` channels;
/// `pool` 2 makes the stage's first cell a reducing cell (node 0 = 2x2 max-pool, stride 2).
/// `residual` (the paper's cell, the default): each cell's output adds the cell input (through a 1x1
/// projection when the channels or the resolution differ); false: the output is the concat of the
/// leaves alone (docs/algorithm.md §1, "Wiring"). The key is written only when false, so architectures
/// written before it existed decode, encode and hash unchanged.
public struct Stage: Codable, Hashable, Sendable {
    public var width: Int
    public var pool: Int
    public var cells: Int
    public var residual: Bool
    public init(width: Int, pool: Int, cells: Int = 1, residual: Bool = true) {
        self.width = width; self.pool = pool; self.cells = cells; self.residual = residual
    }

    private enum CodingKeys: String, CodingKey { case width, pool, cells, residual }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        width = try container.decode(Int.self, forKey: .width)
        pool = try container.decode(Int.self, forKey: .pool)
        cells = try container.decode(Int.self, forKey: .cells)
        residual = try container.decodeIfPresent(Bool.self, forKey: .residual) ?? true
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(width, forKey: .width)
        try container.encode(pool, forKey: .pool)
        try container.encode(cells, forKey: .cells)
        if !residual { try container.encode(false, forKey: .residual) }
    }
}

extension Array where Element == Stage {
    /// The same stages with every cell residual (`true`) or plain (`false`).
    public func withResidual(_ residual: Bool) -> [Stage] {
        map { stage in
            var copy = stage
            copy.residual = residual
            return copy
        }
    }
}

/// Classifier head: global average pool -> dropout(p) in training -> linear(classes).
public struct Head: Codable, Hashable, Sendable {
    public var dropout: Double
    public init(dropout: Double = 0) { self.dropout = dropout }
}

/// Errors loading or validating an architecture file; descriptions are one line.
public struct ArchitectureError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Architecture {
    /// Canonical JSON: sorted keys, sorted edges, fixed formatting, so equal architectures
    /// give equal bytes (and equal hashes).
    public func canonicalJSON() -> Data {
        var copy = self
        copy.cell = cell?.canonical()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Encoding plain value types cannot fail.
        return try! encoder.encode(copy) + Data("\n".utf8)
    }

    /// Stable 64-bit FNV-1a hash of the canonical JSON, as 16 hex digits.
    public var stableHash: String {
        fnv1aHex(canonicalJSON())
    }

    /// Writes the canonical JSON atomically (`AtomicFile`: a temporary file renamed into place).
    public func write(to path: String) throws {
        try AtomicFile.write(canonicalJSON(), to: path)
    }

    /// Reads and validates an `*.arch.json` file (the shared `VersionedDocument` path).
    public static func load(path: String) throws -> Architecture {
        try loadDocument(path: path)
    }

    /// Decodes and validates architecture JSON; `source` names the file in errors.
    public static func decode(_ data: Data, source: String) throws -> Architecture {
        try decodeDocument(data, source: source)
    }

    /// Checks ranges and consistency; throws a one-line error naming `source`.
    public func validate(source: String = "architecture") throws {
        func fail(_ message: String) -> ArchitectureError { ArchitectureError("\(source): \(message)") }
        guard input.channels > 0, input.height > 0, input.width > 0 else { throw fail("input shape must be positive") }
        // Before any arithmetic on the sides below (Int.max + 1 traps); the other limits follow at the end.
        guard input.height <= InputLimits.maximumImageSide, input.width <= InputLimits.maximumImageSide else {
            throw fail("input \(input.height)x\(input.width) is above the limit \(InputLimits.maximumImageSide)x\(InputLimits.maximumImageSide)")
        }
        guard classes >= 2 else { throw fail("classes must be at least 2") }
        for (index, layer) in stem.enumerated() {
            guard [1, 3, 5, 7].contains(layer.kernel) else { throw fail("stem[\(index)]: kernel must be 1, 3, 5 or 7") }
            guard layer.stride == 1 || layer.stride == 2 else { throw fail("stem[\(index)]: stride must be 1 or 2") }
            guard layer.kind == .depthwise || layer.outputChannels > 0 else { throw fail("stem[\(index)]: outputChannels must be positive") }
            if layer.kind == .invertedResidual {
                guard let expansion = layer.expansion else { throw fail("stem[\(index)]: an invertedResidual layer needs 'expansion'") }
                guard (1...InputLimits.maximumExpansion).contains(expansion) else {
                    throw fail("stem[\(index)]: expansion must be in 1...\(InputLimits.maximumExpansion)")
                }
            } else if layer.expansion != nil {
                throw fail("stem[\(index)]: 'expansion' is only for invertedResidual layers")
            }
        }
        if !stages.isEmpty {
            guard let cell else { throw fail("stages need a 'cell'") }
            try cell.validate(source: source)
        }
        for (index, stage) in stages.enumerated() {
            guard stage.width > 0, stage.cells > 0 else { throw fail("stages[\(index)]: width and cells must be positive") }
            guard stage.pool == 1 || stage.pool == 2 else { throw fail("stages[\(index)]: pool must be 1 or 2") }
        }
        guard head.dropout >= 0, head.dropout < 1 else { throw fail("head.dropout must be in [0, 1)") }
        var height = input.height, width = input.width
        for layer in stem where layer.stride == 2 { height = (height + 1) / 2; width = (width + 1) / 2 }
        for stage in stages where stage.pool == 2 {
            guard height % 2 == 0, width % 2 == 0, height >= 2, width >= 2 else {
                throw fail("a pooling stage needs an even feature map, got \(height)x\(width) from a \(input.height)x\(input.width) input")
            }
            height /= 2; width /= 2
        }
        try validateNameAndLimits(source: source)
    }
}

/// 64-bit FNV-1a over bytes, as 16 lowercase hex digits.
public func fnv1aHex(_ data: Data) -> String {
    String(format: "%016llx", fnv1a(data))
}

/// A decoding error flattened to one line (key path and reason), as every file format words it.
func oneLine(_ error: Error) -> String {
    DocumentError.describe(error)
}
