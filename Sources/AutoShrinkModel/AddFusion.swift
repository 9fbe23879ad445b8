/// The one rule that decides which int8 adds run inside the pointwise convolution producing one of their
/// inputs (`as_pointwise_conv_add_s8`, docs/benchmarks.md "fused add"). The exporter's int8 layout and code,
/// the profiler's harness plans and the latency predictor all ask it, so what is timed and predicted is what
/// an export runs.
///
/// An add at step `a` fuses the pointwise convolution (kernel 1, groups 1) at step `a - 1` when that
/// convolution's output is one of the add's two inputs, the other input is a different tensor, and the add is
/// the convolution output's only consumer (it is not the network output). The fused call runs at step `a`: it
/// reads the convolution's input (whose lifetime `ActivationLayout` extends to `a`) and the add's other input,
/// and writes the add's output; the convolution's output tensor is never stored. In a cell that is the residual
/// projection when the cell has one, else the last node's pointwise convolution when it is the cell's only leaf.
///
/// Adds of fewer than `minimumChannels` channels stay unfused: there the batched fused path (every tier but
/// the AVX2 register epilogue) adds rows padded to 16 channels pixel by pixel, while the unfused add runs
/// over the whole tensor as one row; measured on AVX-512 VNNI (docs/benchmarks.md "fused add"), the fused
/// 16 -> 8 channel projection + add at 28x28 of `tools/predictor-eval`'s cell5-w8 took 24.9 us, and that
/// network 8 % longer than unfused.
public struct AddFusion: Hashable, Sendable {
    /// One fused pair: the add's step, the convolution's step (`add - 1`), and the add's other input tensor.
    public struct Pair: Hashable, Sendable {
        public var add: Int
        public var convolution: Int
        /// The add input that is not the convolution's output (the fused call's `other`).
        public var other: Int
        /// Whether the convolution's output is the add's second input (the add's parameters are then swapped so
        /// that the convolution's value is input 1, as the fused call takes it; the sum is symmetric).
        public var convolutionIsSecondInput: Bool
    }

    /// The fused pairs, by add step.
    public let pairs: [Int: Pair]

    /// Output channels an add needs to be fused (the kernels' vector step; see above).
    public static let minimumChannels = 16

    /// The fused pairs of `graph` (int8 exports; float exports fuse nothing).
    public init(graph: LayerGraph) {
        var consumers = [Int](repeating: 0, count: graph.tensors.count)
        for layer in graph.layers { for input in layer.inputs { consumers[input] += 1 } }
        var pairs: [Int: Pair] = [:]
        for (step, layer) in graph.layers.enumerated() where step > 0 {
            guard case .add = layer.operation, layer.inputs.count == 2, layer.inputs[0] != layer.inputs[1] else { continue }
            let producer = graph.layers[step - 1]
            guard case .convolution(let spec) = producer.operation, spec.isPointwise,
                  let position = layer.inputs.firstIndex(of: producer.output),
                  consumers[producer.output] == 1, producer.output != graph.output,
                  graph.tensors[producer.output] == graph.tensors[layer.output],
                  graph.tensors[layer.output].channels >= Self.minimumChannels else { continue }
            pairs[step] = Pair(add: step, convolution: step - 1, other: layer.inputs[1 - position],
                               convolutionIsSecondInput: position == 1)
        }
        self.pairs = pairs
    }

    /// No fusion (float exports, or layouts made without it).
    public static let none = AddFusion(pairs: [:])

    private init(pairs: [Int: Pair]) { self.pairs = pairs }

    /// The pair whose add is at `step`, if that add is fused.
    public func pair(add step: Int) -> Pair? { pairs[step] }

    /// The pair whose convolution is at `step`, if that convolution runs inside an add.
    public func pair(convolution step: Int) -> Pair? { pairs[step + 1].flatMap { $0.convolution == step ? $0 : nil } }

    /// Whether the layer at `step` is a convolution that runs inside the next step's add (it emits no call).
    public func isFusedConvolution(step: Int) -> Bool { pair(convolution: step) != nil }
}
