import AutoShrinkEngine

/// A trainable network built from an architecture: the lowered `LayerGraph` mapped one to one
/// onto engine layers (each convolution followed by batch norm with its activation fused).
/// Parameter and state names come from the layer names (e.g. `cell1.node3.pointwise.weight`),
/// which is what checkpoints store.
public final class Network {
    public let architecture: Architecture
    public let layers: LayerGraph
    public let graph: Graph
    /// Engine value id of each lowered tensor id.
    public let valueOfTensor: [Int]

    /// Builds and initialises (Kaiming-normal convolutions, uniform linear) from `seed`.
    public init(architecture: Architecture, context: ExecutionContext, seed: UInt64) {
        self.architecture = architecture
        layers = architecture.lowered()
        let input = layers.tensors[0]
        graph = Graph(input: ValueShape(channels: input.channels, height: input.height, width: input.width), context: context)
        var generator = SplitMix64(seed: seed)
        var values = [Int](repeating: -1, count: layers.tensors.count)
        values[0] = 0
        for (index, node) in layers.layers.enumerated() {
            let inputs = node.inputs.map { values[$0] }
            let output: Int
            switch node.operation {
            case .convolution(let spec):
                let convolution = Convolution(name: node.name, inputChannels: spec.inputChannels, outputChannels: spec.outputChannels,
                                              kernel: spec.kernel, stride: spec.stride, groups: spec.groups)
                convolution.initialize(using: &generator)
                var current = graph.add(convolution, inputs: inputs)
                let activation = ActivationFunction(spec.activation)
                if spec.batchNorm {
                    current = graph.add(BatchNorm(name: node.name + ".bn", channels: spec.outputChannels, activation: activation), inputs: [current])
                } else if activation != .none {
                    current = graph.add(ActivationLayer(activation), inputs: [current])
                }
                output = current
            case .maxPool: output = graph.add(MaxPool2x2(), inputs: inputs)
            case .concat: output = graph.add(Concat(), inputs: inputs)
            case .add: output = graph.add(Add(), inputs: inputs)
            case .globalAveragePool: output = graph.add(GlobalAveragePool(), inputs: inputs)
            case .dropout(let p): output = graph.add(Dropout(probability: Float(p), seed: seed &+ UInt64(index)), inputs: inputs)
            case .linear(let inputFeatures, let outputFeatures):
                let linear = Linear(name: node.name, inputFeatures: inputFeatures, outputFeatures: outputFeatures)
                linear.initialize(using: &generator)
                output = graph.add(linear, inputs: inputs)
            }
            values[node.output] = output
        }
        valueOfTensor = values
    }

    public var parameters: [Parameter] { graph.parameters }

    /// Every tensor a checkpoint stores: parameters, then batch-norm running statistics.
    public var namedTensors: [(name: String, tensor: Tensor)] {
        graph.parameters.map { ($0.name, $0.value) } + graph.state
    }

    public var parameterCount: Int { graph.parameters.reduce(0) { $0 + $1.value.count } }

    /// Logits of the current batch after `forward`: [classes, batch].
    public var logits: FeatureMap { graph.value(graph.output) }

    /// Copies all weights and statistics from another network of the same architecture.
    public func copyWeights(from other: Network) {
        for (mine, theirs) in zip(namedTensors, other.namedTensors) { mine.tensor.copy(from: theirs.tensor) }
    }
}

extension ActivationFunction {
    public init(_ activation: Activation) {
        switch activation {
        case .relu: self = .relu
        case .relu6: self = .relu6
        case .none: self = .none
        }
    }
}
