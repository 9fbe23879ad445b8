/// Shape of one activation tensor per image: channels x height x width.
public struct TensorShape: Hashable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int
    public init(channels: Int, height: Int, width: Int) {
        self.channels = channels; self.height = height; self.width = width
    }
    public var elements: Int { channels * height * width }
    public var description: String { "\(channels)x\(height)x\(width)" }
}

/// A convolution of the lowered graph: no bias; followed by batch norm (when `batchNorm`)
/// and `activation`. Padding is kernel/2. groups == inputChannels == outputChannels is depthwise.
public struct ConvolutionSpec: Hashable, Sendable {
    public var inputChannels: Int
    public var outputChannels: Int
    public var kernel: Int
    public var stride: Int
    public var groups: Int
    public var batchNorm: Bool
    public var activation: Activation
    public var padding: Int { kernel / 2 }
    public var isDepthwise: Bool { groups > 1 && groups == inputChannels && groups == outputChannels }
    public var isPointwise: Bool { kernel == 1 && groups == 1 }

    public init(inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int, groups: Int = 1,
                batchNorm: Bool = true, activation: Activation = .relu) {
        self.inputChannels = inputChannels; self.outputChannels = outputChannels
        self.kernel = kernel; self.stride = stride; self.groups = groups
        self.batchNorm = batchNorm; self.activation = activation
    }

    /// Output spatial size for an input of `size`: (size + 2*pad - kernel)/stride + 1.
    public func outputSize(_ size: Int) -> Int { (size + 2 * padding - kernel) / stride + 1 }
}

/// What a layer of the lowered graph computes.
public enum LayerOperation: Hashable, Sendable {
    case convolution(ConvolutionSpec)
    /// 2x2 max-pool, stride 2 (inputs have even height and width).
    case maxPool
    /// Channel concat of the inputs, in input order.
    case concat
    /// Elementwise sum of two inputs of equal shape.
    case add
    /// Mean over height x width: C x H x W -> C x 1 x 1.
    case globalAveragePool
    /// Dropout with drop probability p (identity in inference).
    case dropout(Double)
    /// Fully connected with bias: inputFeatures -> outputFeatures.
    case linear(inputFeatures: Int, outputFeatures: Int)
}

/// One layer: reads `inputs` tensors, writes `output` (tensor ids into `LayerGraph.tensors`).
public struct LayerNode: Hashable, Sendable {
    public var name: String
    public var operation: LayerOperation
    public var inputs: [Int]
    public var output: Int
}

/// The network lowered to a flat list of layers in execution order. This one lowering is
/// shared by the training engine's builder, the cost model, the profiler and the exporter,
/// so they all agree on shapes and on the order (which decides peak activation memory).
/// Tensor 0 is the network input; `output` holds the logits (classes x 1 x 1).
public struct LayerGraph: Hashable, Sendable {
    public var tensors: [TensorShape]
    public var layers: [LayerNode]
    public var output: Int
    public var input: Int { 0 }
}

extension Architecture {
    /// Lowers the architecture to layers in execution order (see `LayerGraph`).
    /// The architecture must be valid (`validate()`).
    public func lowered() -> LayerGraph {
        var lowering = Lowering(input: TensorShape(channels: input.channels, height: input.height, width: input.width))
        var current = 0
        for (index, layer) in stem.enumerated() {
            let inputShape = lowering.tensors[current]
            if layer.kind == .invertedResidual {
                current = lowering.invertedResidual(layer, input: current, name: "stem\(index)")
                continue
            }
            let spec: ConvolutionSpec
            switch layer.kind {
            case .conv:
                spec = ConvolutionSpec(inputChannels: inputShape.channels, outputChannels: layer.outputChannels,
                                       kernel: layer.kernel, stride: layer.stride, activation: layer.activation)
            case .depthwise:
                spec = ConvolutionSpec(inputChannels: inputShape.channels, outputChannels: inputShape.channels,
                                       kernel: layer.kernel, stride: layer.stride, groups: inputShape.channels,
                                       activation: layer.activation)
            case .invertedResidual:
                preconditionFailure("lowered above")
            }
            current = lowering.convolution(spec, input: current, name: "stem\(index)")
        }
        if let cell {
            var cellIndex = 0
            for stage in stages {
                for position in 0..<stage.cells {
                    let pool = position == 0 ? stage.pool : 1
                    current = lowering.cell(cell, width: stage.width, pool: pool, residual: stage.residual, input: current,
                                           name: "cell\(cellIndex)")
                    cellIndex += 1
                }
            }
        }
        current = lowering.add(.globalAveragePool, inputs: [current], name: "head.pool",
                               shape: TensorShape(channels: lowering.tensors[current].channels, height: 1, width: 1))
        if head.dropout > 0 {
            current = lowering.add(.dropout(head.dropout), inputs: [current], name: "head.dropout",
                                   shape: lowering.tensors[current])
        }
        let features = lowering.tensors[current].channels
        current = lowering.add(.linear(inputFeatures: features, outputFeatures: classes), inputs: [current],
                               name: "head.linear", shape: TensorShape(channels: classes, height: 1, width: 1))
        return LayerGraph(tensors: lowering.tensors, layers: lowering.layers, output: current)
    }
}

/// Builder state while lowering.
private struct Lowering {
    var tensors: [TensorShape]
    var layers: [LayerNode] = []

    init(input: TensorShape) { tensors = [input] }

    mutating func add(_ operation: LayerOperation, inputs: [Int], name: String, shape: TensorShape) -> Int {
        tensors.append(shape)
        layers.append(LayerNode(name: name, operation: operation, inputs: inputs, output: tensors.count - 1))
        return tensors.count - 1
    }

    mutating func convolution(_ spec: ConvolutionSpec, input: Int, name: String) -> Int {
        let shape = tensors[input]
        return add(.convolution(spec), inputs: [input], name: name,
                   shape: TensorShape(channels: spec.outputChannels, height: spec.outputSize(shape.height),
                                      width: spec.outputSize(shape.width)))
    }

    mutating func concat(_ inputs: [Int], name: String) -> Int {
        if inputs.count == 1 { return inputs[0] }
        let first = tensors[inputs[0]]
        let channels = inputs.reduce(0) { $0 + tensors[$1].channels }
        return add(.concat, inputs: inputs, name: name,
                   shape: TensorShape(channels: channels, height: first.height, width: first.width))
    }

    /// A MobileNetV2 inverted-residual stem block (`StemLayer.Kind.invertedResidual`): layers
    /// `NAME.expand` (conv1x1, C -> C*t, omitted when t == 1), `NAME.depthwise` (kxk, stride s),
    /// `NAME.project` (conv1x1 -> outputChannels, BN, no activation) and `NAME.add` (project + block
    /// input) when s == 1 and C == outputChannels.
    mutating func invertedResidual(_ layer: StemLayer, input: Int, name: String) -> Int {
        let channels = tensors[input].channels
        let expansion = layer.expansion ?? 1
        var current = input
        var hidden = channels
        if expansion != 1 {
            hidden = channels * expansion
            current = convolution(ConvolutionSpec(inputChannels: channels, outputChannels: hidden, kernel: 1, stride: 1,
                                                  activation: layer.activation),
                                  input: current, name: "\(name).expand")
        }
        current = convolution(ConvolutionSpec(inputChannels: hidden, outputChannels: hidden, kernel: layer.kernel,
                                              stride: layer.stride, groups: hidden, activation: layer.activation),
                              input: current, name: "\(name).depthwise")
        current = convolution(ConvolutionSpec(inputChannels: hidden, outputChannels: layer.outputChannels, kernel: 1, stride: 1,
                                              activation: .none),
                              input: current, name: "\(name).project")
        guard layer.stride == 1, channels == layer.outputChannels else { return current }
        return add(.add, inputs: [current, input], name: "\(name).add", shape: tensors[current])
    }

    /// One cell: node 0 = input (or 2x2 max-pool when pool == 2); node i = op(concat of live
    /// predecessors); output = concat(leaves) + residual (1x1 conv + BN projection when the
    /// channels or the resolution differ), or concat(leaves) alone without `residual`. A cell whose
    /// only leaf is node 0 is just node 0.
    mutating func cell(_ dag: CellDAG, width: Int, pool: Int, residual addsInput: Bool, input: Int, name: String) -> Int {
        var nodeTensor = [Int](repeating: -1, count: dag.nodes)
        nodeTensor[0] = pool == 2
            ? add(.maxPool, inputs: [input], name: "\(name).node0.pool",
                  shape: TensorShape(channels: tensors[input].channels, height: tensors[input].height / 2,
                                     width: tensors[input].width / 2))
            : input
        for node in dag.liveComputeNodes {
            let merged = concat(dag.livePredecessors(of: node).map { nodeTensor[$0] }, name: "\(name).node\(node).concat")
            let channels = tensors[merged].channels
            switch dag.operations[node] {
            case .input:
                preconditionFailure("only node 0 is an input node")
            case .sepconv3x3:
                let depthwise = convolution(
                    ConvolutionSpec(inputChannels: channels, outputChannels: channels, kernel: 3, stride: 1, groups: channels),
                    input: merged, name: "\(name).node\(node).depthwise")
                nodeTensor[node] = convolution(
                    ConvolutionSpec(inputChannels: channels, outputChannels: width, kernel: 1, stride: 1),
                    input: depthwise, name: "\(name).node\(node).pointwise")
            case .conv1x1:
                nodeTensor[node] = convolution(
                    ConvolutionSpec(inputChannels: channels, outputChannels: width, kernel: 1, stride: 1),
                    input: merged, name: "\(name).node\(node).conv")
            }
        }
        let leaves = dag.leaves
        if leaves == [0] { return nodeTensor[0] }
        let body = concat(leaves.map { nodeTensor[$0] }, name: "\(name).output.concat")
        guard addsInput else { return body }
        var residual = input
        if tensors[input].channels != tensors[body].channels || pool != 1 {
            residual = convolution(
                ConvolutionSpec(inputChannels: tensors[input].channels, outputChannels: tensors[body].channels,
                                kernel: 1, stride: pool, activation: .none),
                input: input, name: "\(name).residual.projection")
        }
        return add(.add, inputs: [body, residual], name: "\(name).output.add", shape: tensors[body])
    }
}
