import AutoShrinkModel
import Foundation

/// Which arithmetic the exported ONNX graph describes.
public enum ONNXPrecision: Sendable, Equatable {
    /// float32 throughout, batch norm folded into the convolutions.
    case float32
    /// QuantizeLinear/DequantizeLinear (QDQ) int8: weights per output channel symmetric int8,
    /// activations per tensor asymmetric in `activationType` with ranges from `ranges`, biases int32
    /// with scale s_in * s_w. Runtimes such as onnxruntime fuse the Q/DQ pairs into int8 kernels.
    case qdq(ranges: ActivationRanges, activationType: ONNXActivationType = .int8)

    public var label: String {
        switch self {
        case .float32: return "float32"
        case .qdq(_, let type): return "qdq-\(type.rawValue)"
        }
    }
}

/// Element type of quantized activations in a QDQ export. Both describe the same grid:
/// uint8 q + 128 and zero point + 128 of the int8 parameters, with equal scales.
///
/// onnxruntime on x86 runs uint8 activations with int8 weights (U8S8); it rewrites int8 Q/DQ
/// pairs to uint8 only where a QuantizeLinear feeds a single consumer, so in cell networks
/// (where a tensor feeds several layers) int8 exports run partly in float there. uint8 exports
/// run every layer as an int8 kernel; sequential networks such as refnet do so either way.
public enum ONNXActivationType: String, Sendable, Equatable, CaseIterable {
    /// int8, zero point in [-128, 127] (the TFLite scheme the C export uses).
    case int8
    /// uint8, zero point in [0, 255] (onnxruntime's native x86 activation type).
    case uint8

    var dataType: ONNXDataType { self == .int8 ? .int8 : .uint8 }
    var range: ClosedRange<Int> { self == .int8 ? -128...127 : 0...255 }
}

/// How the exported model's batch dimension is declared.
public enum ONNXBatchDimension: Sendable, Equatable {
    /// A fixed batch size (the default, 1).
    case fixed(Int)
    /// A symbolic dimension (any batch size at run time).
    case dynamic(String)
}

/// Options of an ONNX export.
public struct ONNXExportOptions: Sendable, Equatable {
    public var precision: ONNXPrecision
    public var batch: ONNXBatchDimension
    public init(precision: ONNXPrecision = .float32, batch: ONNXBatchDimension = .fixed(1)) {
        self.precision = precision; self.batch = batch
    }
}

/// Per-tensor affine quantization: real = scale * (q - zeroPoint).
public struct AffineQuantization: Sendable, Equatable {
    public var scale: Float
    public var zeroPoint: Int

    public init(scale: Float, zeroPoint: Int) { self.scale = scale; self.zeroPoint = zeroPoint }

    /// Asymmetric parameters covering `range` widened to contain 0 (so 0 is exact, as zero
    /// padding needs), for integers in `levels`: scale = (max - min) / (levels - 1),
    /// zeroPoint = qmin - round(min / scale) clamped to the integer range.
    public init(range: ValueRange, levels: ClosedRange<Int>) {
        let low = Double(Swift.min(range.min, 0)), high = Double(Swift.max(range.max, 0))
        let steps = Double(levels.upperBound - levels.lowerBound)
        let scale = high > low ? (high - low) / steps : 1
        let zero = Double(levels.lowerBound) - (low / scale).rounded()
        self.scale = Float(scale)
        zeroPoint = Int(Swift.min(Swift.max(zero, Double(levels.lowerBound)), Double(levels.upperBound)))
    }
}

/// Per-output-channel symmetric int8 weights: real = scales[c] * q, q in [-127, 127].
public struct ChannelQuantizedWeights: Sendable, Equatable {
    public var values: [Int8]
    public var scales: [Float]

    /// Quantizes weights [out, ...]: scales[c] = max |w_c| / 127 (1 for an all-zero channel).
    public init(weights: [Float], outputChannels: Int) {
        precondition(outputChannels > 0 && weights.count % outputChannels == 0, "weights must be [out, ...]")
        let perChannel = weights.count / outputChannels
        var values = [Int8](repeating: 0, count: weights.count)
        var scales = [Float](repeating: 1, count: outputChannels)
        for channel in 0..<outputChannels {
            let slice = (channel * perChannel)..<((channel + 1) * perChannel)
            let largest = weights[slice].reduce(Float(0)) { Swift.max($0, abs($1)) }
            if largest > 0 { scales[channel] = largest / 127 }
            for index in slice {
                values[index] = Int8(Swift.min(Swift.max((weights[index] / scales[channel]).rounded(), -127), 127))
            }
        }
        self.values = values; self.scales = scales
    }

    /// int32 bias with per-channel scale s_in * s_w[c]: q = round(b / scale) saturated to int32.
    public static func quantizeBias(_ bias: [Float], inputScale: Float, weightScales: [Float])
        -> (values: [Int32], scales: [Float]) {
        precondition(bias.count == weightScales.count, "one weight scale per bias value")
        let scales = weightScales.map { inputScale * $0 }
        let values = zip(bias, scales).map { value, scale -> Int32 in
            let q = (Double(value) / Double(scale)).rounded()
            return Int32(Swift.min(Swift.max(q, Double(Int32.min)), Double(Int32.max)))
        }
        return (values, scales)
    }
}

/// Writes a checkpoint as an ONNX model (IR 8, opset 13): input "input" [N, C, H, W] float32
/// normalised as in training (x = (pixel/255 - mean)/std, see metadata `mean`/`std`),
/// output "logits" [N, classes] float32.
///
/// The lowered graph maps to Conv (+ Relu, or Clip(0, 6) for relu6), MaxPool 2x2/2, Concat
/// (axis 1), Add, GlobalAveragePool, Flatten and Gemm (transB = 1); batch norm is folded
/// into the convolutions and dropout is dropped. Value names follow the layer names.
public enum ONNXExporter {
    /// Builds the model of `checkpoint`.
    public static func model(checkpoint: Checkpoint, options: ONNXExportOptions = ONNXExportOptions()) throws -> ONNXModel {
        let folded = try FoldedNetwork(checkpoint: checkpoint)
        var builder = ONNXGraphBuilder(network: folded, options: options)
        try builder.build()
        var model = ONNXModel(graph: builder.graph, producerVersion: AutoShrinkVersion.string)
        let architecture = checkpoint.architecture
        model.documentation = "\(architecture.name) [\(architecture.stableHash)] trained on \(checkpoint.metadata.dataset), "
            + "\(options.precision.label); input x = (pixel/255 - mean)/std per channel"
        model.metadata = [
            ("mean", checkpoint.metadata.normalizationMean.map { "\($0)" }.joined(separator: ",")),
            ("std", checkpoint.metadata.normalizationStd.map { "\($0)" }.joined(separator: ",")),
            ("architecture", String(decoding: architecture.canonicalJSON(), as: UTF8.self)),
            ("architecture_hash", architecture.stableHash),
            ("dataset", checkpoint.metadata.dataset),
            ("precision", options.precision.label),
            ("classes", "\(architecture.classes)"),
        ]
        if let accuracy = checkpoint.metadata.testAccuracy { model.metadata.append(("test_accuracy", "\(accuracy)")) }
        if case .qdq(let ranges, _) = options.precision, ranges.images > 0 {
            model.metadata.append(("calibration_images", "\(ranges.images)"))
        }
        return model
    }

    /// Builds the model and writes it to `path` atomically.
    public static func write(checkpoint: Checkpoint, to path: String, options: ONNXExportOptions = ONNXExportOptions()) throws {
        let bytes = try model(checkpoint: checkpoint, options: options).serialized()
        try AtomicFile.write(Data(bytes), to: path)
    }
}

/// An ONNX export problem; one line.
public struct ONNXExportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Translates the lowered graph node by node. Every lowered tensor gets a float value name; in
/// QDQ mode, a quantized tensor additionally passes through QuantizeLinear -> DequantizeLinear
/// and consumers read the dequantized name, which is the pattern runtimes fuse into int8 ops.
private struct ONNXGraphBuilder {
    let network: FoldedNetwork
    let options: ONNXExportOptions
    var graph: ONNXGraph
    /// Name consumers read for each lowered tensor (the DQ output in QDQ mode).
    var valueName: [String]
    /// Quantization of each lowered tensor in QDQ mode.
    var quantization: [AffineQuantization?]

    init(network: FoldedNetwork, options: ONNXExportOptions) {
        self.network = network
        self.options = options
        graph = ONNXGraph(name: network.architecture.name)
        valueName = Array(repeating: "", count: network.graph.tensors.count)
        quantization = Array(repeating: nil, count: network.graph.tensors.count)
    }

    var batchDimension: ONNXValueInfo.Dimension {
        switch options.batch {
        case .fixed(let size): return .size(size)
        case .dynamic(let name): return .symbol(name)
        }
    }

    var qdq: (ranges: ActivationRanges, type: ONNXActivationType)? {
        if case .qdq(let ranges, let type) = options.precision { return (ranges, type) }
        return nil
    }

    mutating func build() throws {
        let layerGraph = network.graph
        let input = layerGraph.tensors[0]
        graph.inputs = [ONNXValueInfo(name: "input", elementType: .float,
                                      shape: [batchDimension, .size(input.channels), .size(input.height), .size(input.width)])]
        graph.outputs = [ONNXValueInfo(name: "logits", elementType: .float,
                                       shape: [batchDimension, .size(network.architecture.classes)])]
        graph.documentation = "autoshrink \(network.architecture.name), \(options.precision.label)"
        valueName[0] = "input"
        if qdq != nil { try quantize(tensor: 0, floatName: "input", prefix: "input") }
        var clipBoundsAdded = false
        for node in layerGraph.layers {
            let inputs = node.inputs.map { valueName[$0] }
            let name = node.name
            switch node.operation {
            case .convolution(let spec):
                guard let weights = network.layers[name] else { throw ONNXExportError("\(name): no folded weights") }
                let (weightName, biasName) = try addParameters(layer: name, weights: weights,
                                                               dims: [spec.outputChannels, spec.inputChannels / spec.groups, spec.kernel, spec.kernel],
                                                               inputTensor: node.inputs[0])
                let convolutionOutput = spec.activation == .none ? name : name + ".conv"
                graph.nodes.append(ONNXNode(
                    name: name, operatorType: "Conv", inputs: [inputs[0], weightName, biasName], outputs: [convolutionOutput],
                    attributes: [ONNXAttribute("kernel_shape", .ints([spec.kernel, spec.kernel])),
                                 ONNXAttribute("pads", .ints(Array(repeating: spec.padding, count: 4))),
                                 ONNXAttribute("strides", .ints([spec.stride, spec.stride])),
                                 ONNXAttribute("dilations", .ints([1, 1])),
                                 ONNXAttribute("group", .int(spec.groups))]))
                switch spec.activation {
                case .none: break
                case .relu:
                    graph.nodes.append(ONNXNode(name: name + ".relu", operatorType: "Relu", inputs: [convolutionOutput], outputs: [name]))
                case .relu6:
                    // Opset 13 Clip takes its bounds as (scalar) inputs, not attributes.
                    if !clipBoundsAdded {
                        graph.initializers.append(.float("relu6.min", dims: [], [0]))
                        graph.initializers.append(.float("relu6.max", dims: [], [6]))
                        clipBoundsAdded = true
                    }
                    graph.nodes.append(ONNXNode(name: name + ".relu6", operatorType: "Clip",
                                                inputs: [convolutionOutput, "relu6.min", "relu6.max"], outputs: [name]))
                }
                try finish(tensor: node.output, floatName: name)
            case .maxPool:
                graph.nodes.append(ONNXNode(name: name, operatorType: "MaxPool", inputs: inputs, outputs: [name],
                                            attributes: [ONNXAttribute("kernel_shape", .ints([2, 2])),
                                                         ONNXAttribute("strides", .ints([2, 2]))]))
                // Max-pool commutes with quantization: keeping the input's parameters lets the
                // runtime drop the Q/DQ pair and pool int8 values directly.
                try finish(tensor: node.output, floatName: name, sameAs: node.inputs[0])
            case .concat:
                graph.nodes.append(ONNXNode(name: name, operatorType: "Concat", inputs: inputs, outputs: [name],
                                            attributes: [ONNXAttribute("axis", .int(1))]))
                try finish(tensor: node.output, floatName: name)
            case .add:
                graph.nodes.append(ONNXNode(name: name, operatorType: "Add", inputs: inputs, outputs: [name]))
                try finish(tensor: node.output, floatName: name)
            case .globalAveragePool:
                graph.nodes.append(ONNXNode(name: name, operatorType: "GlobalAveragePool", inputs: inputs, outputs: [name]))
                try finish(tensor: node.output, floatName: name)
            case .dropout:
                // Identity at inference: consumers read the input directly.
                valueName[node.output] = valueName[node.inputs[0]]
                quantization[node.output] = quantization[node.inputs[0]]
            case .linear(let inputFeatures, let outputFeatures):
                guard let weights = network.layers[name] else { throw ONNXExportError("\(name): no folded weights") }
                // [N, C, 1, 1] -> [N, C]; flattening keeps the input's quantization.
                let flattened = name + ".flatten"
                graph.nodes.append(ONNXNode(name: flattened, operatorType: "Flatten", inputs: inputs, outputs: [flattened],
                                            attributes: [ONNXAttribute("axis", .int(1))]))
                let flatInput: String
                let inputQuantization = quantization[node.inputs[0]]
                if let inputQuantization {
                    flatInput = addQuantizeDequantize(floatName: flattened, prefix: flattened, quantization: inputQuantization)
                } else {
                    flatInput = flattened
                }
                let (weightName, biasName) = try addParameters(layer: name, weights: weights, dims: [outputFeatures, inputFeatures],
                                                               inputTensor: node.inputs[0])
                let output = node.output == layerGraph.output ? "logits" : name
                graph.nodes.append(ONNXNode(name: name, operatorType: "Gemm", inputs: [flatInput, weightName, biasName], outputs: [output],
                                            attributes: [ONNXAttribute("transB", .int(1))]))
                valueName[node.output] = output
            }
        }
        guard valueName[layerGraph.output] == "logits" else {
            throw ONNXExportError("the lowered graph does not end with its linear layer")
        }
    }

    /// Adds the weight and bias initializers of a convolution or linear layer; returns the names
    /// its node reads (float initializers, or DequantizeLinear outputs of int8/int32 ones).
    mutating func addParameters(layer: String, weights: FoldedWeights, dims: [Int], inputTensor: Int) throws
        -> (weights: String, bias: String) {
        let outputChannels = dims[0]
        guard qdq != nil else {
            graph.initializers.append(.float(layer + ".weight", dims: dims, weights.weights))
            graph.initializers.append(.float(layer + ".bias", dims: [outputChannels], weights.bias))
            return (layer + ".weight", layer + ".bias")
        }
        guard let inputQuantization = quantization[inputTensor] else {
            throw ONNXExportError("\(layer): its input is not quantized")
        }
        let quantized = ChannelQuantizedWeights(weights: weights.weights, outputChannels: outputChannels)
        graph.initializers.append(.int8(layer + ".weight.quantized", dims: dims, quantized.values))
        graph.initializers.append(.float(layer + ".weight.scale", dims: [outputChannels], quantized.scales))
        graph.initializers.append(.int8(layer + ".weight.zero_point", dims: [outputChannels],
                                        [Int8](repeating: 0, count: outputChannels)))
        graph.nodes.append(ONNXNode(name: layer + ".weight.dequantize", operatorType: "DequantizeLinear",
                                    inputs: [layer + ".weight.quantized", layer + ".weight.scale", layer + ".weight.zero_point"],
                                    outputs: [layer + ".weight"], attributes: [ONNXAttribute("axis", .int(0))]))
        let bias = ChannelQuantizedWeights.quantizeBias(weights.bias, inputScale: inputQuantization.scale, weightScales: quantized.scales)
        graph.initializers.append(.int32(layer + ".bias.quantized", dims: [outputChannels], bias.values))
        graph.initializers.append(.float(layer + ".bias.scale", dims: [outputChannels], bias.scales))
        // An int32 zero point must be 0, which is also the default of the omitted input.
        graph.nodes.append(ONNXNode(name: layer + ".bias.dequantize", operatorType: "DequantizeLinear",
                                    inputs: [layer + ".bias.quantized", layer + ".bias.scale"],
                                    outputs: [layer + ".bias"], attributes: [ONNXAttribute("axis", .int(0))]))
        return (layer + ".weight", layer + ".bias")
    }

    /// Records the float value of a lowered tensor and, in QDQ mode, quantizes it with its own
    /// calibrated range (or with the parameters of tensor `sameAs`).
    mutating func finish(tensor: Int, floatName: String, sameAs: Int? = nil) throws {
        valueName[tensor] = floatName
        guard qdq != nil else { return }
        if let sameAs {
            guard let shared = quantization[sameAs] else { throw ONNXExportError("\(floatName): its input is not quantized") }
            quantization[tensor] = shared
            valueName[tensor] = addQuantizeDequantize(floatName: floatName, prefix: floatName, quantization: shared)
        } else {
            try quantize(tensor: tensor, floatName: floatName, prefix: floatName)
        }
    }

    mutating func quantize(tensor: Int, floatName: String, prefix: String) throws {
        guard let (ranges, type) = qdq else { return }
        guard let range = ranges[tensor] else {
            throw ONNXExportError("no activation range for tensor \(tensor) (\(floatName)); calibrate the network first")
        }
        let parameters = AffineQuantization(range: range, levels: type.range)
        quantization[tensor] = parameters
        valueName[tensor] = addQuantizeDequantize(floatName: floatName, prefix: prefix, quantization: parameters)
    }

    /// float -> QuantizeLinear -> DequantizeLinear; returns the dequantized value's name.
    mutating func addQuantizeDequantize(floatName: String, prefix: String, quantization: AffineQuantization) -> String {
        let type = qdq?.type ?? .int8
        let scale = prefix + ".scale", zeroPoint = prefix + ".zero_point"
        graph.initializers.append(.float(scale, dims: [], [quantization.scale]))
        switch type {
        case .int8: graph.initializers.append(.int8(zeroPoint, dims: [], [Int8(quantization.zeroPoint)]))
        case .uint8: graph.initializers.append(.uint8(zeroPoint, dims: [], [UInt8(quantization.zeroPoint)]))
        }
        graph.nodes.append(ONNXNode(name: prefix + ".quantize", operatorType: "QuantizeLinear",
                                    inputs: [floatName, scale, zeroPoint], outputs: [prefix + ".quantized"]))
        graph.nodes.append(ONNXNode(name: prefix + ".dequantize", operatorType: "DequantizeLinear",
                                    inputs: [prefix + ".quantized", scale, zeroPoint], outputs: [prefix + ".dequantized"]))
        return prefix + ".dequantized"
    }
}
