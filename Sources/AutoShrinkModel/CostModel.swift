/// Exact static costs of one layer of a `LayerGraph`, for one image (batch 1).
///
/// Definitions (the same ones the search, `autoshrink info` and the exporter report use):
/// - `macs`: multiply-accumulates. Convolution: outH * outW * outC * (inC / groups) * k * k.
///   Linear: in * out (the bias add is not a MAC). Max-pool, concat, add, global average pool and
///   dropout are 0 MACs; their arithmetic is counted in `elementOperations` instead.
/// - `elementOperations`: non-MAC arithmetic. Max-pool 2x2: 3 comparisons per output element;
///   add: 1 per output element; global average pool: 1 per input element (sum; the divide is per
///   channel and not counted); concat and dropout (identity in inference): 0.
/// - `parameters`: trainable values. Convolution weights (outC * inC/groups * k * k) plus batch
///   norm gamma and beta (2 per output channel; running mean and variance are statistics, not
///   parameters); linear weights and bias (in * out + out).
/// - `weightBytesFloat32`: what a float32 deployment stores: batch norm folded into the
///   convolution, so conv weights + one float bias per output channel (no bias when the conv has
///   no batch norm); linear weights + bias. 4 bytes each.
/// - `weightBytesInt8`: what the int8 deployment stores: 1 byte per weight and a 4-byte int32
///   bias per output channel wherever the float32 deployment has a bias. Per-channel requantization
///   parameters (multiplier, shift, zero points) are metadata and are NOT counted.
public struct LayerCost: Hashable, Sendable {
    /// Layer name from the lowered graph (e.g. `cell1.node3.pointwise`).
    public var name: String
    /// Short operation label (e.g. `conv3x3/2`, `dwconv3x3`, `concat`).
    public var operation: String
    /// Shapes of the layer's inputs, C x H x W each.
    public var inputShapes: [TensorShape]
    /// Shape of the layer's output, C x H x W.
    public var outputShape: TensorShape
    public var macs: Int
    public var elementOperations: Int
    public var parameters: Int
    public var weightBytesFloat32: Int
    public var weightBytesInt8: Int
}

/// Costs of a whole network for one image: per-layer costs, their sums and the peak
/// activation memory under the lowered execution order.
///
/// Peak activation bytes: tensor t is live from the step that produces it (the network input from
/// the start) through the step of its last consumer (the network output through the last step).
/// At each step the live bytes are the sum over live tensors, so the current layer's inputs and
/// output are both included; the peak is the maximum over steps. Float32 tensors take 4 bytes per
/// element, int8 tensors 1 byte. No in-place reuse is assumed.
public struct NetworkCost: Hashable, Sendable {
    public var layers: [LayerCost]
    public var macs: Int
    public var elementOperations: Int
    public var parameters: Int
    public var weightBytesFloat32: Int
    public var weightBytesInt8: Int
    /// Peak live activation elements (bytes in int8).
    public var peakActivationElements: Int
    /// Index into `layers` of the first step at which the peak is reached.
    public var peakStep: Int
    /// Live activation elements at each step, parallel to `layers`.
    public var liveElementsPerStep: [Int]

    public var peakActivationBytesFloat32: Int { peakActivationElements * 4 }
    public var peakActivationBytesInt8: Int { peakActivationElements }
}

/// Computes `NetworkCost` from a lowered graph; the single source of static resource figures.
public enum CostModel {
    /// Costs of `graph` (see `LayerCost` and `NetworkCost` for the definitions).
    public static func costs(of graph: LayerGraph) -> NetworkCost {
        let layers = graph.layers.map { layerCost($0, graph: graph) }
        let (live, peak, peakStep) = activationLiveness(graph)
        return NetworkCost(
            layers: layers,
            macs: layers.reduce(0) { $0 + $1.macs },
            elementOperations: layers.reduce(0) { $0 + $1.elementOperations },
            parameters: layers.reduce(0) { $0 + $1.parameters },
            weightBytesFloat32: layers.reduce(0) { $0 + $1.weightBytesFloat32 },
            weightBytesInt8: layers.reduce(0) { $0 + $1.weightBytesInt8 },
            peakActivationElements: peak, peakStep: peakStep, liveElementsPerStep: live)
    }

    /// Costs of an architecture (lowered first).
    public static func costs(of architecture: Architecture) -> NetworkCost {
        costs(of: architecture.lowered())
    }

    /// Cost of one layer.
    public static func layerCost(_ layer: LayerNode, graph: LayerGraph) -> LayerCost {
        let inputs = layer.inputs.map { graph.tensors[$0] }
        let output = graph.tensors[layer.output]
        var macs = 0, elementOperations = 0, parameters = 0, float32 = 0, int8 = 0
        switch layer.operation {
        case .convolution(let spec):
            let weights = spec.outputChannels * (spec.inputChannels / spec.groups) * spec.kernel * spec.kernel
            macs = output.height * output.width * weights
            let biases = spec.batchNorm ? spec.outputChannels : 0
            parameters = weights + (spec.batchNorm ? 2 * spec.outputChannels : 0)
            float32 = 4 * (weights + biases)
            int8 = weights + 4 * biases
        case .linear(let inputFeatures, let outputFeatures):
            macs = inputFeatures * outputFeatures
            parameters = inputFeatures * outputFeatures + outputFeatures
            float32 = 4 * parameters
            int8 = inputFeatures * outputFeatures + 4 * outputFeatures
        case .maxPool:
            elementOperations = 3 * output.elements
        case .add:
            elementOperations = output.elements
        case .globalAveragePool:
            elementOperations = inputs.first?.elements ?? 0
        case .concat, .dropout:
            break
        }
        return LayerCost(name: layer.name, operation: operationLabel(layer.operation), inputShapes: inputs,
                         outputShape: output, macs: macs, elementOperations: elementOperations,
                         parameters: parameters, weightBytesFloat32: float32, weightBytesInt8: int8)
    }

    /// Short label: `conv3x3`, `conv1x1/2` (stride 2), `dwconv3x3`, `maxpool2x2`, `concat`, `add`,
    /// `gap`, `dropout`, `linear`.
    public static func operationLabel(_ operation: LayerOperation) -> String {
        switch operation {
        case .convolution(let spec):
            let base = spec.isDepthwise ? "dwconv" : (spec.groups > 1 ? "gconv" : "conv")
            return "\(base)\(spec.kernel)x\(spec.kernel)" + (spec.stride > 1 ? "/\(spec.stride)" : "")
        case .maxPool: return "maxpool2x2"
        case .concat: return "concat"
        case .add: return "add"
        case .globalAveragePool: return "gap"
        case .dropout: return "dropout"
        case .linear: return "linear"
        }
    }

    /// Live elements per step under the graph's execution order, the peak and its first step.
    static func activationLiveness(_ graph: LayerGraph) -> (live: [Int], peak: Int, peakStep: Int) {
        let count = graph.tensors.count
        // first[t]..last[t]: the steps (layer indices) during which tensor t is live.
        var first = [Int](repeating: Int.max, count: count)
        var last = [Int](repeating: -1, count: count)
        first[graph.input] = 0
        for (step, layer) in graph.layers.enumerated() {
            first[layer.output] = min(first[layer.output], step)
            last[layer.output] = max(last[layer.output], step)
            for input in layer.inputs { last[input] = max(last[input], step) }
        }
        if graph.output < count { last[graph.output] = max(last[graph.output], graph.layers.count - 1) }
        var live = [Int](repeating: 0, count: graph.layers.count)
        for tensor in 0..<count where first[tensor] <= last[tensor] {
            for step in first[tensor]...last[tensor] { live[step] += graph.tensors[tensor].elements }
        }
        var peak = 0, peakStep = 0
        for (step, elements) in live.enumerated() where elements > peak { peak = elements; peakStep = step }
        return (live, peak, peakStep)
    }
}

/// Predicts the inference latency of a lowered network on one device (batch 1, milliseconds).
/// The device layer implements it from a measured profile; the search uses it for latency
/// score terms and limits.
public protocol LatencyPredictor: Sendable {
    func predictLatencyMilliseconds(_ graph: LayerGraph) throws -> Double
}
