import Dispatch

/// A static computation graph: layers in execution order over numbered values. Value 0 is the
/// network input; every layer writes one new value. Activation and gradient buffers are
/// allocated once for the largest batch (`prepare`) and reused by every step.
public final class Graph {
    public struct Node {
        public let layer: Layer
        public let inputs: [Int]
        public let output: Int
    }

    public private(set) var nodes: [Node] = []
    public private(set) var shapes: [ValueShape]
    public var output: Int { nodes.last?.output ?? 0 }
    public let context: ExecutionContext

    private var capacity = 0
    private var activations: [Tensor] = []
    private var gradients: [Tensor] = []
    private var gradientWritten: [Bool] = []
    private(set) var batch = 0

    /// When true, forward and backward accumulate per-node seconds in `forwardSeconds` /
    /// `backwardSeconds` (for `autoshrink bench train --layers`).
    public var profiling = false
    public private(set) var forwardSeconds: [Double] = []
    public private(set) var backwardSeconds: [Double] = []

    /// At inference, run each batch norm inside the layer that produces its input (`InferenceFusable`,
    /// `ChannelAffine`): same numbers, one pass over memory less per pair. The producer's own output
    /// value is then left unwritten, so callers that read intermediate values (calibration) turn it off.
    public var fusesInference = true
    /// Per node: the batch-norm node fused into it at inference, and whether the node itself is skipped.
    private var inferencePlan: (fusedInto: [Int?], skipped: [Bool])?

    public init(input: ValueShape, context: ExecutionContext) {
        shapes = [input]
        self.context = context
    }

    /// Appends a layer reading `inputs`; returns the id of its output value.
    @discardableResult
    public func add(_ layer: Layer, inputs: [Int]) -> Int {
        precondition(inputs.allSatisfy { $0 < shapes.count }, "inputs must be earlier values")
        shapes.append(layer.outputShape(for: inputs.map { shapes[$0] }))
        nodes.append(Node(layer: layer, inputs: inputs, output: shapes.count - 1))
        capacity = 0
        inferencePlan = nil
        return shapes.count - 1
    }

    public var parameters: [Parameter] { nodes.flatMap { $0.layer.parameters } }
    public var state: [(name: String, tensor: Tensor)] { nodes.flatMap { $0.layer.state } }

    /// Allocates buffers for batches of up to `batch` images (no-op when already large enough).
    public func prepare(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        activations = shapes.map { Tensor(shape: [$0.elements * batch]) }
        gradients = shapes.map { Tensor(shape: [$0.elements * batch]) }
        gradientWritten = Array(repeating: false, count: shapes.count)
        for node in nodes { node.layer.prepare(batch: batch, inputs: node.inputs.map { shapes[$0] }) }
    }

    /// Value `id` of the current batch as a feature map.
    public func value(_ id: Int) -> FeatureMap { map(activations[id].data, id) }
    /// Gradient buffer of value `id` for the current batch.
    public func gradient(_ id: Int) -> FeatureMap { map(gradients[id].data, id) }

    private func map(_ data: UnsafeMutablePointer<Float>, _ id: Int) -> FeatureMap {
        FeatureMap(data: data, channels: shapes[id].channels, batch: batch, height: shapes[id].height, width: shapes[id].width)
    }

    /// Runs the graph on `batch` images already written into `value(0)` (see `setInput`).
    public func forward(batch: Int, training: Bool) {
        precondition(batch <= capacity, "call prepare(batch:) first")
        self.batch = batch
        if profiling && forwardSeconds.count != nodes.count {
            forwardSeconds = Array(repeating: 0, count: nodes.count); backwardSeconds = forwardSeconds
        }
        let plan = !training && fusesInference ? fusionPlan() : nil
        for (index, node) in nodes.enumerated() {
            if let plan, plan.skipped[index] { continue }
            let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            if let plan, let fused = plan.fusedInto[index], let layer = node.layer as? InferenceFusable,
               let norm = nodes[fused].layer as? BatchNorm {
                layer.forwardInference(inputs: node.inputs.map(value), output: value(nodes[fused].output),
                                       epilogue: norm.inferenceAffine(), context: context)
            } else {
                node.layer.forward(inputs: node.inputs.map(value), output: value(node.output), training: training, context: context)
            }
            if profiling { forwardSeconds[index] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        }
    }

    /// Pairs (producer, batch norm) where the batch norm directly follows an `InferenceFusable`
    /// producer and is the only reader of its output.
    private func fusionPlan() -> (fusedInto: [Int?], skipped: [Bool]) {
        if let inferencePlan { return inferencePlan }
        var readers = [Int](repeating: 0, count: shapes.count)
        for node in nodes { for input in node.inputs { readers[input] += 1 } }
        var fusedInto = [Int?](repeating: nil, count: nodes.count)
        var skipped = [Bool](repeating: false, count: nodes.count)
        for index in nodes.indices.dropFirst() {
            let node = nodes[index], producer = nodes[index - 1]
            guard node.layer is BatchNorm, node.inputs == [producer.output], readers[producer.output] == 1,
                  producer.output != output, producer.layer is InferenceFusable, !skipped[index - 1] else { continue }
            fusedInto[index - 1] = index
            skipped[index] = true
        }
        inferencePlan = (fusedInto, skipped)
        return (fusedInto, skipped)
    }

    /// Copies `batch` NCHW images into the input value (transposing to CNHW when channels > 1).
    public func setInput(_ images: UnsafePointer<Float>, batch: Int) {
        prepare(batch: batch)
        self.batch = batch
        let shape = shapes[0]
        let destination = activations[0].data
        if shape.channels == 1 {
            destination.update(from: images, count: batch * shape.elements)
            return
        }
        let plane = shape.height * shape.width
        for n in 0..<batch {
            for c in 0..<shape.channels {
                (destination + (c * batch + n) * plane).update(from: images + (n * shape.channels + c) * plane, count: plane)
            }
        }
    }

    /// Back-propagates from `gradient(output)`, which the caller has filled (e.g. by the loss).
    /// Parameter gradients are overwritten, not accumulated across calls.
    public func backward() {
        for index in gradientWritten.indices { gradientWritten[index] = false }
        gradientWritten[output] = true
        for (index, node) in nodes.enumerated().reversed() {
            let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            defer { if profiling { backwardSeconds[index] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 } }
            var inputGradients: [FeatureMap?] = []
            var accumulate: [Bool] = []
            for input in node.inputs {
                if input == 0 {
                    inputGradients.append(nil); accumulate.append(false)
                } else {
                    inputGradients.append(gradient(input))
                    accumulate.append(gradientWritten[input])
                    gradientWritten[input] = true
                }
            }
            // A layer whose output gradient was never written (output unused) has zero gradient.
            if !gradientWritten[node.output] {
                let g = gradient(node.output)
                g.data.update(repeating: 0, count: g.count)
            }
            node.layer.backward(inputs: node.inputs.map(value), output: value(node.output),
                                outputGradient: gradient(node.output), inputGradients: inputGradients,
                                accumulate: accumulate, context: context)
        }
    }
}
