import AutoShrinkModel

// One row of the per-operator latency table is keyed by an `OperatorConfiguration`: which runtime
// kernel runs, in which data type, on which shapes. The same key is derived from a layer of a lowered
// network (`init(layer:in:dtype:)`), so the profiler's enumeration and the predictor's lookup can
// never disagree about what a layer is.

/// The runtime kernel family a layer runs on (one `as_*` function pair of the C runtime).
public enum OperatorKind: String, Codable, Hashable, Sendable, CaseIterable, Comparable {
    /// Full KxK convolution, groups 1 (`as_conv2d_*`), K > 1.
    case convolution
    /// 1x1 convolution (`as_pointwise_conv_*`), stride 1 or 2.
    case pointwise
    /// Depthwise 3x3 (`as_depthwise_conv3x3_*`).
    case depthwise
    /// 2x2 max-pool, stride 2 (`as_max_pool2x2_*`).
    case maxPool = "maxpool"
    /// Channel concat of `inputs` tensors: float `as_concat_channels_f32`; int8 as exports run it, the first
    /// input copied (`as_copy_channels_s8`), the others requantized into their slices (`as_requantize_s8`).
    case concat
    /// Elementwise add of two tensors (`as_add_*`).
    case add
    /// Global average pool (`as_global_avg_pool_*`).
    case globalAveragePool = "gap"
    /// Fully connected with bias (`as_fully_connected_*`).
    case linear
    /// int8 1x1 convolution with an add fused into its epilogue (`as_pointwise_conv_add_s8`): what an int8 export
    /// runs for the pairs `AddFusion` picks (docs/benchmarks.md, "fused add"). Shapes as `pointwise` (channels,
    /// input height x width, stride); the add's other input is [C_out] at the output resolution.
    case pointwiseAdd = "pointwise_add"

    public static func < (a: OperatorKind, b: OperatorKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Whether the kernel's work is multiply-accumulates (else it is moving or comparing elements).
    public var isMACBound: Bool {
        switch self {
        case .convolution, .pointwise, .depthwise, .linear, .pointwiseAdd: return true
        case .maxPool, .concat, .add, .globalAveragePool: return false
        }
    }
}

/// Element type of a profiled kernel: `int8` ships, `float32` is measured for comparison.
public enum OperatorDataType: String, Codable, Hashable, Sendable, CaseIterable, Comparable {
    case int8
    case float32

    /// The harness's spelling (`s8`, `f32`).
    var harnessName: String { self == .int8 ? "s8" : "f32" }
    /// Bytes per element.
    var elementBytes: Int { self == .int8 ? 1 : 4 }

    public static func < (a: OperatorDataType, b: OperatorDataType) -> Bool { a == .int8 && b == .float32 }
}

/// One input of an int8 concat as the concat runs it: its channels, and whether it is requantized
/// into its slice (`as_requantize_s8`: it has another quantization than the concat) or copied as it is
/// (`as_copy_channels_s8`: it shares the concat's quantization). A concat's time follows its parts:
/// the requantizing copy costs several times the plain one per byte and runs 16 channels per vector
/// step, so 80 channels in parts of 32 and 48 cost other than in four parts of 20 (docs/devices.md,
/// "Predictor").
public struct ConcatPart: Codable, Hashable, Sendable {
    public var channels: Int
    public var requantized: Bool

    public init(channels: Int, requantized: Bool) {
        self.channels = channels
        self.requantized = requantized
    }

    /// The parts of a table row made without explicit parts (profiles before version 2, and rows
    /// keyed by total channels and count): `count` parts as equal as possible, the first ones taking
    /// the remainder; the first copied as it is, the others requantized (the harness's rule for them).
    public static func evenSplit(channels: Int, count: Int) -> [ConcatPart] {
        let parts = max(1, min(count, channels))
        return (0..<parts).map {
            ConcatPart(channels: channels / parts + ($0 < channels % parts ? 1 : 0), requantized: $0 > 0)
        }
    }
}

/// One operator shape: kernel family, data type, channels, input height x width, stride, kernel size
/// and the number of input tensors (concat parts; 2 for add; 1 otherwise); a concat also carries its
/// `parts` (widths, requantized or copied).
///
/// Height and width are always the *input* resolution (of the convolution for `pointwiseAdd`). Depthwise, max-pool, concat, add and global
/// average pool have `inputChannels == outputChannels` (the total channels for concat).
public struct OperatorConfiguration: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var kind: OperatorKind
    public var dtype: OperatorDataType
    public var inputChannels: Int
    public var outputChannels: Int
    public var height: Int
    public var width: Int
    public var stride: Int
    public var kernel: Int
    public var inputs: Int
    /// Concat only (empty for the other kinds): the inputs the concat copies, in channel order; their
    /// channels sum to `outputChannels` and their count is `inputs`.
    public var parts: [ConcatPart]

    /// A configuration; a concat without `parts` gets `ConcatPart.evenSplit` of its channels and inputs.
    public init(kind: OperatorKind, dtype: OperatorDataType, inputChannels: Int, outputChannels: Int,
                height: Int, width: Int, stride: Int = 1, kernel: Int = 1, inputs: Int = 1, parts: [ConcatPart]? = nil) {
        self.kind = kind; self.dtype = dtype
        self.inputChannels = inputChannels; self.outputChannels = outputChannels
        self.height = height; self.width = width
        self.stride = stride; self.kernel = kernel; self.inputs = inputs
        if kind == .concat {
            let parts = parts ?? ConcatPart.evenSplit(channels: outputChannels, count: inputs)
            self.parts = parts
            self.inputs = parts.count
            self.inputChannels = parts.reduce(0) { $0 + $1.channels }
            self.outputChannels = self.inputChannels
        } else {
            self.parts = []
        }
    }

    /// A concat of `parts` at `height` x `width`.
    public static func concat(_ parts: [ConcatPart], dtype: OperatorDataType, height: Int, width: Int) -> OperatorConfiguration {
        let channels = parts.reduce(0) { $0 + $1.channels }
        return OperatorConfiguration(kind: .concat, dtype: dtype, inputChannels: channels, outputChannels: channels,
                                     height: height, width: width, inputs: parts.count, parts: parts)
    }

    /// Whether a concat's parts are the even split its channels and count imply (rows keyed by those alone).
    public var hasEvenSplit: Bool { kind != .concat || parts == ConcatPart.evenSplit(channels: outputChannels, count: inputs) }

    /// Output height and width (the runtime's shape rules).
    public var outputHeight: Int { Self.outputSize(height, kind: kind, kernel: kernel, stride: stride) }
    public var outputWidth: Int { Self.outputSize(width, kind: kind, kernel: kernel, stride: stride) }

    static func outputSize(_ size: Int, kind: OperatorKind, kernel: Int, stride: Int) -> Int {
        switch kind {
        case .convolution, .depthwise: return (size + 2 * (kernel / 2) - kernel) / stride + 1
        case .pointwise, .pointwiseAdd: return (size - 1) / stride + 1
        case .maxPool: return size / 2
        case .concat, .add: return size
        case .globalAveragePool, .linear: return 1
        }
    }

    /// The work the interpolation scales with: multiply-accumulates for convolutions and FC,
    /// elements read for the others.
    public var work: Double {
        let outputPixels = Double(outputHeight * outputWidth)
        switch kind {
        case .convolution: return outputPixels * Double(outputChannels * inputChannels * kernel * kernel)
        case .pointwise, .pointwiseAdd: return outputPixels * Double(outputChannels * inputChannels)
        case .depthwise: return outputPixels * Double(outputChannels * kernel * kernel)
        case .linear: return Double(inputChannels * outputChannels)
        case .maxPool, .concat, .globalAveragePool: return Double(height * width * inputChannels)
        case .add: return Double(2 * height * width * inputChannels)
        }
    }

    /// Short text for tables and messages, e.g. `pointwise int8 64->16 28x28 s1`.
    public var description: String {
        var text = "\(kind.rawValue) \(dtype.rawValue) "
        switch kind {
        case .convolution, .pointwise, .linear, .pointwiseAdd: text += "\(inputChannels)->\(outputChannels)"
        case .concat:
            text += "\(outputChannels)ch/\(inputs)"
            if !hasEvenSplit { text += "[" + parts.map { "\($0.channels)\($0.requantized ? "r" : "c")" }.joined(separator: ",") + "]" }
        default: text += "\(inputChannels)ch"
        }
        text += " \(height)x\(width)"
        if kind == .convolution { text += " k\(kernel)" }
        if stride != 1 { text += " s\(stride)" }
        return text
    }

    /// Sort order of tables: dtype, kind, then shapes.
    private var sortKey: [Int] {
        [OperatorDataType.allCases.firstIndex(of: dtype)!, OperatorKind.allCases.firstIndex(of: kind)!,
         height, width, inputChannels, outputChannels, stride, kernel, inputs]
            + parts.flatMap { [$0.channels, $0.requantized ? 1 : 0] }
    }

    public static func < (a: OperatorConfiguration, b: OperatorConfiguration) -> Bool {
        a.sortKey.lexicographicallyPrecedes(b.sortKey)
    }
}

/// A layer the runtime has no kernel for (e.g. a 5x5 depthwise stem layer).
public struct UnsupportedLayerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension OperatorConfiguration {
    /// The kernel configuration `layer` of `graph` runs, or nil for layers that run no kernel
    /// (dropout is the identity in inference).
    public init?(layer: LayerNode, in graph: LayerGraph, dtype: OperatorDataType) throws {
        guard let input = layer.inputs.first.map({ graph.tensors[$0] }) else {
            throw UnsupportedLayerError("layer \(layer.name) has no input")
        }
        let output = graph.tensors[layer.output]
        switch layer.operation {
        case .convolution(let spec):
            if spec.isDepthwise {
                guard spec.kernel == 3, spec.stride == 1 || spec.stride == 2 else {
                    throw UnsupportedLayerError("layer \(layer.name): the runtime has depthwise 3x3 (stride 1 or 2) only, not \(spec.kernel)x\(spec.kernel)/\(spec.stride)")
                }
                self.init(kind: .depthwise, dtype: dtype, inputChannels: spec.inputChannels, outputChannels: spec.outputChannels,
                          height: input.height, width: input.width, stride: spec.stride, kernel: 3)
            } else if spec.groups == 1 {
                guard spec.stride == 1 || spec.stride == 2 else {
                    throw UnsupportedLayerError("layer \(layer.name): stride \(spec.stride) is not supported (1 or 2)")
                }
                self.init(kind: spec.kernel == 1 ? .pointwise : .convolution, dtype: dtype,
                          inputChannels: spec.inputChannels, outputChannels: spec.outputChannels,
                          height: input.height, width: input.width, stride: spec.stride, kernel: spec.kernel)
            } else {
                throw UnsupportedLayerError("layer \(layer.name): grouped convolutions (groups \(spec.groups)) have no runtime kernel")
            }
        case .maxPool:
            self.init(kind: .maxPool, dtype: dtype, inputChannels: input.channels, outputChannels: input.channels,
                      height: input.height, width: input.width, stride: 2, kernel: 2)
        case .concat:
            self.init(kind: .concat, dtype: dtype, inputChannels: output.channels, outputChannels: output.channels,
                      height: output.height, width: output.width, inputs: layer.inputs.count)
        case .add:
            self.init(kind: .add, dtype: dtype, inputChannels: output.channels, outputChannels: output.channels,
                      height: output.height, width: output.width, inputs: 2)
        case .globalAveragePool:
            self.init(kind: .globalAveragePool, dtype: dtype, inputChannels: input.channels, outputChannels: input.channels,
                      height: input.height, width: input.width)
        case .dropout:
            return nil
        case .linear(let inputFeatures, let outputFeatures):
            self.init(kind: .linear, dtype: dtype, inputChannels: inputFeatures, outputChannels: outputFeatures,
                      height: 1, width: 1)
        }
    }
}
