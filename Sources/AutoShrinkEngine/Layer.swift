/// One differentiable operation of a `Graph`. Layers own their parameters and any scratch
/// memory, sized once per batch size in `prepare`, so training steps do not allocate.
///
/// Backward is layer-wise over a static graph: the graph runs `forward` in order and
/// `backward` in reverse; each layer reads what it kept from forward and writes the gradient
/// of each input, overwriting (`accumulate[i] == false`, first writer) or adding (a value
/// feeding several layers).
public protocol Layer: AnyObject {
    var parameters: [Parameter] { get }
    /// Non-trainable tensors saved in checkpoints (batch-norm running statistics).
    var state: [(name: String, tensor: Tensor)] { get }
    /// Per-image output shape for these per-image input shapes.
    func outputShape(for inputs: [ValueShape]) -> ValueShape
    /// Sizes scratch memory for `batch` images.
    func prepare(batch: Int, inputs: [ValueShape])
    func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext)
    func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                  inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext)
}

/// y = activation(x * scale[c] + shift[c]) per channel c: a batch norm with its running statistics
/// and fused activation, as `BatchNorm` computes it at inference. `Graph` hands it to the layer
/// that produces the batch norm's input, which applies it to each piece of its output while that
/// piece is still in cache, instead of the batch norm making a pass of its own over memory.
public struct ChannelAffine {
    public let scale: [Float]
    public let shift: [Float]
    public let activation: ActivationFunction

    /// Applies channel `channel`'s map to `count` values at `values`, in place or from `source`.
    @inline(__always)
    public func apply(channel: Int, _ source: UnsafePointer<Float>, to values: UnsafeMutablePointer<Float>, count: Int) {
        let scale = self.scale[channel], shift = self.shift[channel]
        switch activation {
        case .none: for i in 0..<count { values[i] = source[i] * scale + shift }
        case .relu: for i in 0..<count { values[i] = max(source[i] * scale + shift, 0) }
        case .relu6: for i in 0..<count { values[i] = min(max(source[i] * scale + shift, 0), 6) }
        }
    }

    @inline(__always)
    public func apply(channel: Int, _ values: UnsafeMutablePointer<Float>, count: Int) {
        apply(channel: channel, UnsafePointer(values), to: values, count: count)
    }
}

/// A layer that can run its inference forward pass with a `ChannelAffine` applied to its output.
/// The result is bit-identical to `forward(training: false)` followed by the batch norm.
public protocol InferenceFusable: Layer {
    func forwardInference(inputs: [FeatureMap], output: FeatureMap, epilogue: ChannelAffine?, context: ExecutionContext)
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var state: [(name: String, tensor: Tensor)] { [] }
    public func prepare(batch: Int, inputs: [ValueShape]) {}
}

/// Scratch buffer that grows to the largest size requested and is then reused.
final class Scratch {
    private(set) var tensor = Tensor(shape: [0])
    @discardableResult
    func ensure(_ count: Int) -> UnsafeMutablePointer<Float> {
        if tensor.count < count { tensor = Tensor(shape: [count]) }
        return tensor.data
    }
    var data: UnsafeMutablePointer<Float> { tensor.data }
}

/// One scratch buffer per parallel chunk, zeroed when allocated and reallocated only when `layout`
/// (whatever decides sizes and positions) changes, so positions a kernel never writes, such as the
/// borders of padded planes, stay zero from call to call.
final class ChunkScratch {
    private var buffers: [Scratch] = []
    private var layout: [Int] = []

    func buffers(chunks: Int, size: Int, layout: [Int]) -> [UnsafeMutablePointer<Float>] {
        let layout = layout + [size]
        if layout != self.layout { buffers = []; self.layout = layout }
        while buffers.count < chunks {
            let buffer = Scratch()
            buffer.ensure(size).update(repeating: 0, count: size)
            buffers.append(buffer)
        }
        return (0..<chunks).map { buffers[$0].data }
    }
}

@inline(__always)
func store(_ destination: UnsafeMutablePointer<Float>, _ value: Float, accumulate: Bool) {
    if accumulate { destination.pointee += value } else { destination.pointee = value }
}
