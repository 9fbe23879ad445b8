import AutoShrinkData
import AutoShrinkModel

/// A convolution or linear layer in int8: weights [out, in/groups, k, k] (or [out, in]) symmetric per
/// output channel, int32 bias with scale s_in * s_w[c], and the per-channel requantization to the
/// output tensor.
public struct QuantizedConvolution: Hashable, Sendable {
    /// int8 weights in the folded float layout [out, in/groups, k, k] (linear: [out, in]).
    public var weights: [Int8]
    /// [out]: real weight = weightScales[c] * q.
    public var weightScales: [Float]
    /// [out]: int32 with scale s_in * weightScales[c].
    public var bias: [Int32]
    /// [out]: s_in * s_w[c] / s_out as Q0.31 multipliers.
    public var multipliers: [Requantization.Multiplier]
    /// Quantized clamp of the fused activation.
    public var activationRange: ClosedRange<Int32>
}

/// One input of a concat that is copied into the concat's slice (not written there by its producer).
public struct ConcatCopy: Hashable, Sendable {
    public var input: Int
    /// First channel of the slice in the concat's output.
    public var channelOffset: Int
    /// s_in / s_out when the input's quantization differs from the concat's (nil: plain copy).
    public var requantization: Requantization.Multiplier?
}

/// What one layer needs in int8 besides its tensors' quantization.
public enum LayerQuantization: Hashable, Sendable {
    case convolution(QuantizedConvolution)
    case add(AddParameters)
    /// Global average pool: s_in / (s_out * H * W).
    case globalAveragePool(Requantization.Multiplier)
    /// Inputs copied at the concat (empty for a free concat).
    case concat([ConcatCopy])
    /// Max-pool (shared quantization) and dropout: nothing.
    case none
}

/// A folded network in int8 (TFLite scheme, docs/algorithm.md §3), ready for code generation.
///
/// Activations are per-tensor asymmetric int8 from calibration ranges. Tensors that must share one
/// quantization are grouped and get the union of their ranges: a concat and the inputs written into
/// its slices (and concats that are views of it), a max-pool's input and output, dropout's input and
/// output. Concat inputs of another quantization are requantized into the slice.
public struct QuantizedNetwork: Sendable {
    public let network: FoldedNetwork
    public let layout: ActivationLayout
    public let normalization: Normalization
    /// The real range each tensor's quantization covers (after grouping).
    public let ranges: [ValueRange]
    /// Quantization of every lowered tensor.
    public let tensors: [AffineQuantization]
    /// Per layer (parallel to `network.graph.layers`).
    public let layers: [LayerQuantization]
    /// [C][256]: int8 network input for each raw pixel value, x = (pixel/255 - mean[c])/std[c] quantized.
    public let inputTable: [[Int8]]

    /// Quantizes `network` with calibrated `ranges` (tensor ids of `network.graph`).
    public init(network: FoldedNetwork, ranges calibrated: ActivationRanges, layout: ActivationLayout,
                normalization: Normalization) throws {
        let graph = network.graph
        try Self.checkSupported(graph)
        guard normalization.mean.count == graph.tensors[graph.input].channels else {
            throw ExportError("the normalisation has \(normalization.mean.count) channels, the network input \(graph.tensors[graph.input].channels)")
        }
        self.network = network
        self.layout = layout
        self.normalization = normalization

        // Groups of tensors sharing one quantization (union-find).
        var group = Array(graph.tensors.indices)
        func find(_ tensor: Int) -> Int {
            var current = tensor
            while group[current] != current { group[current] = group[group[current]]; current = group[current] }
            return current
        }
        func unite(_ a: Int, _ b: Int) { group[find(a)] = find(b) }
        for tensor in graph.tensors.indices {
            if case .slice(let parent, _) = layout.placements[tensor] { unite(tensor, parent) }
        }
        for layer in graph.layers {
            switch layer.operation {
            case .maxPool, .dropout: unite(layer.inputs[0], layer.output)
            default: break
            }
        }
        var groupRange = [Int: ValueRange]()
        for tensor in graph.tensors.indices {
            guard let range = calibrated[tensor] else {
                throw ExportError("calibration has no range for tensor \(tensor) (\(Self.tensorName(tensor, graph)))")
            }
            let root = find(tensor)
            if let existing = groupRange[root] {
                groupRange[root] = ValueRange(min: Swift.min(existing.min, range.min), max: Swift.max(existing.max, range.max))
            } else {
                groupRange[root] = range
            }
        }
        let ranges = graph.tensors.indices.map { groupRange[find($0)]! }
        let tensors = ranges.map { AffineQuantization(range: $0, levels: -128...127) }
        self.ranges = ranges
        self.tensors = tensors

        var layers: [LayerQuantization] = []
        for (step, layer) in graph.layers.enumerated() {
            let output = tensors[layer.output]
            switch layer.operation {
            case .convolution(let spec):
                layers.append(.convolution(Self.quantize(network.layers[layer.name]!, outputChannels: spec.outputChannels,
                                                         input: tensors[layer.inputs[0]], output: output,
                                                         activation: spec.activation)))
            case .linear(_, let outputFeatures):
                layers.append(.convolution(Self.quantize(network.layers[layer.name]!, outputChannels: outputFeatures,
                                                         input: tensors[layer.inputs[0]], output: output, activation: .none)))
            case .add:
                layers.append(.add(AddParameters(input1: tensors[layer.inputs[0]], input2: tensors[layer.inputs[1]], output: output)))
            case .globalAveragePool:
                let input = graph.tensors[layer.inputs[0]]
                let real = Double(tensors[layer.inputs[0]].scale) / (Double(output.scale) * Double(input.height * input.width))
                layers.append(.globalAveragePool(Requantization.quantizeMultiplier(real)))
            case .concat:
                var copies: [ConcatCopy] = []
                var offset = 0
                let copied = Set(layout.concatCopies[step] ?? [])
                for input in layer.inputs {
                    if copied.contains(input) {
                        let source = tensors[input]
                        let same = source == output
                        copies.append(ConcatCopy(input: input, channelOffset: offset,
                                                 requantization: same ? nil : Requantization.quantizeMultiplier(Double(source.scale) / Double(output.scale))))
                    }
                    offset += graph.tensors[input].channels
                }
                layers.append(.concat(copies))
            case .maxPool, .dropout:
                layers.append(.none)
            }
        }
        self.layers = layers
        inputTable = (0..<normalization.mean.count).map { channel in
            (0...255).map { Requantization.quantize(normalization.normalize(UInt8($0), channel: channel), scale: tensors[graph.input].scale,
                                                    zeroPoint: tensors[graph.input].zeroPoint) }
        }
    }

    /// Weights, bias and requantization of one convolution or linear layer.
    static func quantize(_ folded: FoldedWeights, outputChannels: Int, input: AffineQuantization, output: AffineQuantization,
                         activation: Activation) -> QuantizedConvolution {
        let weights = ChannelQuantizedWeights(weights: folded.weights, outputChannels: outputChannels)
        let bias = ChannelQuantizedWeights.quantizeBias(folded.bias, inputScale: input.scale, weightScales: weights.scales)
        let multipliers = weights.scales.map {
            Requantization.quantizeMultiplier(Double(input.scale) * Double($0) / Double(output.scale))
        }
        return QuantizedConvolution(weights: weights.values, weightScales: weights.scales, bias: bias.values,
                                    multipliers: multipliers,
                                    activationRange: Requantization.activationRange(activation, output: output))
    }

    /// Rejects layers the C kernels cannot run, with a one-line reason naming the layer.
    public static func checkSupported(_ graph: LayerGraph) throws {
        for layer in graph.layers {
            guard case .convolution(let spec) = layer.operation else { continue }
            if spec.isDepthwise {
                guard spec.kernel == 3, spec.stride == 1 || spec.stride == 2 else {
                    throw ExportError("layer \(layer.name): depthwise \(spec.kernel)x\(spec.kernel) stride \(spec.stride) has no C kernel (depthwise is 3x3, stride 1 or 2)")
                }
            } else if spec.groups != 1 {
                throw ExportError("layer \(layer.name): grouped convolution (groups \(spec.groups)) has no C kernel")
            } else if spec.kernel * spec.kernel * spec.inputChannels > 65536 {
                throw ExportError("layer \(layer.name): reduction length \(spec.kernel * spec.kernel * spec.inputChannels) exceeds the int32 accumulator limit 65536")
            }
        }
    }

    static func tensorName(_ tensor: Int, _ graph: LayerGraph) -> String {
        tensor == graph.input ? "input" : graph.layers.first { $0.output == tensor }?.name ?? "tensor \(tensor)"
    }
}

/// An export problem; one line.
public struct ExportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
