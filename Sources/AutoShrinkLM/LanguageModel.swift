import AutoShrinkEngine
import Foundation

/// Dropout probabilities of a language model (variational: one mask per sequence of a batch, the
/// same at every time step; docs/shrinkrnn.md, "Training recipe").
public struct LMDropout: Codable, Hashable, Sendable {
    /// On the embedded token x_t.
    public var input: Float
    /// On h_{t-1} entering W0 and on every node input u_i entering W_i (one mask, as DARTS).
    public var hidden: Float
    /// On h_t before the decoder.
    public var output: Float
    public init(input: Float, hidden: Float, output: Float) { self.input = input; self.hidden = hidden; self.output = output }
    public static let none = LMDropout(input: 0, hidden: 0, output: 0)
}

/// The masks of one batch: [batch, width] each, entries 0 or 1/(1-p). Shared by the fast path and
/// the reference so both compute the same function.
public struct DropoutMasks: Sendable {
    public var input: [Float]
    public var hidden: [Float]
    public var output: [Float]

    public init(dropout: LMDropout, batch: Int, embed: Int, hidden: Int, seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        func mask(_ p: Float, _ count: Int) -> [Float] {
            guard p > 0 else { return [Float](repeating: 1, count: count) }
            let keep = 1 / (1 - p)
            return (0..<count).map { _ in Float.random(in: 0..<1, using: &generator) < p ? 0 : keep }
        }
        input = mask(dropout.input, batch * embed)
        self.hidden = mask(dropout.hidden, batch * hidden)
        output = mask(dropout.output, batch * hidden)
    }
}

/// A word-level language model: embedding -> RNN cell (`RNNCell`) over time -> linear decoder ->
/// softmax cross-entropy. Rows are tokens in time-major order: row t * batch + b is sequence b at step t.
///
/// Forward and backward (docs/shrinkrnn.md, "Engine"): the input half of W0 (x_t W0x for all steps),
/// the decoder, and every weight gradient are one GEMM over all T * B rows; only h-dependent products
/// run step by step ([B, H] x [H, 2H]). Truncated BPTT: the state carried between segments is a value,
/// gradients stop at the segment start. `LanguageModelReference` is the plain twin the tests compare against.
public final class LanguageModel {
    public let cell: RNNCell
    public let shape: LanguageModelShape
    public let context: ExecutionContext

    /// [V, D]; also the decoder weight [V, H] when tied.
    public let embedding: Parameter
    /// W0's input half [D, 2H] and recurrent half [H, 2H].
    public let inputWeight: Parameter
    public let recurrentWeight: Parameter
    /// W_i [H, 2H] of every live compute node, by node.
    public let nodeWeights: [Int: Parameter]
    /// [V, H] when not tied.
    public let decoderWeight: Parameter?
    public let decoderBias: Parameter
    /// In a fixed order (the checkpoint's tensor order; the gate biases last, so checkpoints written before
    /// them keep their order, `LMCheckpoint.makeModel`).
    public let parameters: [Parameter]
    /// b_i [H] of node 0 and every live compute node, by node: added to the gate's pre-activation,
    /// c = sigmoid(c_pre + b_i) (docs/shrinkrnn.md, "The cell").
    public let gateBiases: [Int: Parameter]
    /// The gate biases' initial value: negative, so a new cell starts out carrying its input (s ~ u), as a
    /// highway layer's transform-gate bias or an LSTM's forget-gate bias of 1 does.
    public static let defaultGateBias: Float = -1

    let order: [Int]
    let predecessors: [Int: [Int]]
    let leaves: [Int]

    public init(cell: RNNCell, shape: LanguageModelShape, context: ExecutionContext, seed: UInt64,
                gateBias: Float = LanguageModel.defaultGateBias) {
        self.cell = cell; self.shape = shape; self.context = context
        let (v, d, h) = (shape.vocabulary, shape.embed, shape.hidden)
        let schedule = cell.schedule
        order = schedule.nodes; predecessors = schedule.predecessors; leaves = schedule.leaves
        embedding = Parameter(name: "embedding.weight", shape: [v, d], decay: true)
        inputWeight = Parameter(name: "cell.node0.input_weight", shape: [d, 2 * h], decay: true)
        recurrentWeight = Parameter(name: "cell.node0.recurrent_weight", shape: [h, 2 * h], decay: true)
        var nodes: [Int: Parameter] = [:]
        for node in order { nodes[node] = Parameter(name: "cell.node\(node).weight", shape: [h, 2 * h], decay: true) }
        nodeWeights = nodes
        decoderWeight = shape.tied ? nil : Parameter(name: "decoder.weight", shape: [v, h], decay: true)
        decoderBias = Parameter(name: "decoder.bias", shape: [v], decay: false)
        var biases: [Int: Parameter] = [:]
        for node in [0] + order {
            let bias = Parameter(name: "cell.node\(node).gate_bias", shape: [h], decay: false)
            for i in 0..<h { bias.value.data[i] = gateBias }
            biases[node] = bias
        }
        gateBiases = biases
        parameters = [embedding, inputWeight, recurrentWeight] + order.map { nodes[$0]! } + (decoderWeight.map { [$0] } ?? []) + [decoderBias]
            + ([0] + order).compactMap { biases[$0] }
        // Initialisation as DARTS: embedding and decoder U(-0.1, 0.1), cell U(-0.04, 0.04), bias 0.
        var generator = SplitMix64(seed: seed ^ 0x524e_4e4c_4d00_0001)
        func uniform(_ p: Parameter, _ range: Float) { LanguageModelHead.uniform(p, range, using: &generator) }
        uniform(embedding, 0.1)
        uniform(inputWeight, 0.04)
        uniform(recurrentWeight, 0.04)
        for node in order { uniform(nodes[node]!, 0.04) }
        if let decoderWeight { uniform(decoderWeight, 0.1) }
    }

    /// Decoder weight [V, H]: its own or the embedding's.
    var decoder: Parameter { decoderWeight ?? embedding }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    // MARK: Buffers (allocated for one (steps, batch) and reused)

    final class Buffers {
        let steps: Int, batch: Int
        var rows: Int { steps * batch }
        let x: Tensor          // [TB, D] embedded, masked
        let px: Tensor         // [TB, 2H] x W0x
        let states: Tensor     // [(T+1) B, H] h_{-1} (block 0), h_0 ... h_{T-1}
        let maskedPrevious: Tensor // [TB, H] h_{t-1} * hidden mask
        let decoderInput: Tensor   // [TB, H] h_t * output mask
        let logits: Tensor     // [TB, V]; softmax gradient in place in backward
        let rowLossStorage: Tensor  // [TB] cross-entropy of each row
        let rowCorrect: Tensor      // [TB] 1 where the most likely word is the target
        // Per node (index = node): gate c (sigmoid), transform g (activation), input u, masked input, state s.
        let gate: [Tensor], transform: [Tensor], nodeInput: [Tensor], maskedInput: [Tensor], state: [Tensor]
        let preGradient: [Tensor]  // [TB, 2H] d pre-activation per node
        let stepPre: Tensor        // [B, 2H]
        let stateGradient: [Tensor] // [B, H] per node, current step
        let carry: Tensor          // [B, H] d h_{t-1} from the step after
        let scratch: Tensor        // [B, H]
        let decoderGradient: Tensor // [TB, H]
        let inputGradient: Tensor   // [TB, D]

        init(steps: Int, batch: Int, nodes: Int, shape: LanguageModelShape) {
            self.steps = steps; self.batch = batch
            let tb = steps * batch, h = shape.hidden
            x = Tensor(shape: [tb, shape.embed]); px = Tensor(shape: [tb, 2 * h])
            states = Tensor(shape: [(steps + 1) * batch, h]); maskedPrevious = Tensor(shape: [tb, h])
            decoderInput = Tensor(shape: [tb, h]); logits = Tensor(shape: [tb, shape.vocabulary])
            rowLossStorage = Tensor(shape: [tb]); rowCorrect = Tensor(shape: [tb])
            func perNode(_ width: Int) -> [Tensor] { (0..<nodes).map { _ in Tensor(shape: [tb, width]) } }
            gate = perNode(h); transform = perNode(h); nodeInput = perNode(h); maskedInput = perNode(h); state = perNode(h)
            preGradient = perNode(2 * h)
            stepPre = Tensor(shape: [batch, 2 * h])
            stateGradient = (0..<nodes).map { _ in Tensor(shape: [batch, h]) }
            carry = Tensor(shape: [batch, h]); scratch = Tensor(shape: [batch, h])
            decoderGradient = Tensor(shape: [tb, h]); inputGradient = Tensor(shape: [tb, shape.embed])
        }
    }

    private var buffers: Buffers?
    /// Rows of the last `forward` whose most likely next word was the target (next-word accuracy).
    public private(set) var lastCorrect = 0

    func buffers(steps: Int, batch: Int) -> Buffers {
        if let buffers, buffers.steps == steps, buffers.batch == batch { return buffers }
        let made = Buffers(steps: steps, batch: batch, nodes: cell.nodes, shape: shape)
        buffers = made
        return made
    }

    /// Floats the buffers of one (steps, batch) hold, for memory checks.
    public static func bufferFloats(cell: RNNCell, shape: LanguageModelShape, steps: Int, batch: Int) -> Int {
        let tb = steps * batch, h = shape.hidden
        return tb * (2 * shape.embed + 2 * h + 3 * h + shape.vocabulary + 1) + cell.nodes * tb * 7 * h
    }

    // MARK: Forward

    /// Runs `steps` steps over `inputs` (row t * batch + b), predicting `targets`, from `state`
    /// ([batch, H], replaced by the last hidden state). Returns the summed cross-entropy (nats).
    /// With `masks` (training) it keeps what `backward` needs; call `backward` right after.
    @discardableResult
    public func forward(inputs: [Int32], targets: [Int32], steps: Int, batch: Int, state: Tensor, masks: DropoutMasks?) -> Double {
        let (d, h) = (shape.embed, shape.hidden)
        precondition(inputs.count == steps * batch && targets.count == steps * batch && state.count == batch * h)
        let b = buffers(steps: steps, batch: batch)
        let tb = steps * batch
        // Embedding lookup (with the input mask), then x W0x for every step at once.
        LanguageModelHead.embed(inputs: inputs, embedding: embedding, into: b.x.data, embed: d, batch: batch, masks: masks)
        GEMM.multiply(m: tb, n: 2 * h, k: d, a: b.x.data, lda: d, b: inputWeight.value.data, ldb: 2 * h,
                      c: b.px.data, ldc: 2 * h, context: context)
        b.states.data.update(from: state.data, count: batch * h)
        let hiddenMask = masks?.hidden
        let leafScale = 1 / Float(leaves.count)
        for t in 0..<steps {
            let rowBase = t * batch * h
            let previous = b.states.data + rowBase
            // Node 0: pre = px_t + (h_{t-1} * m) Wh.
            let masked = b.maskedPrevious.data + rowBase
            Self.multiply(previous, by: hiddenMask, into: masked, count: batch * h)
            b.stepPre.data.update(from: b.px.data + t * batch * 2 * h, count: batch * 2 * h)
            GEMM.multiply(m: batch, n: 2 * h, k: h, a: masked, lda: h, b: recurrentWeight.value.data, ldb: 2 * h,
                          beta: 1, c: b.stepPre.data, ldc: 2 * h, context: context)
            gateAndTransform(node: 0, input: previous, rowBase: rowBase, batch: batch, buffers: b)
            for node in order {
                let u = b.nodeInput[node].data + rowBase
                let preds = predecessors[node]!
                u.update(from: b.state[preds[0]].data + rowBase, count: batch * h)
                for p in preds.dropFirst() {
                    let s = b.state[p].data + rowBase
                    for i in 0..<(batch * h) { u[i] += s[i] }
                }
                if preds.count > 1 {
                    let inverse = 1 / Float(preds.count)
                    for i in 0..<(batch * h) { u[i] *= inverse }
                }
                let um = b.maskedInput[node].data + rowBase
                Self.multiply(u, by: hiddenMask, into: um, count: batch * h)
                GEMM.multiply(m: batch, n: 2 * h, k: h, a: um, lda: h, b: nodeWeights[node]!.value.data, ldb: 2 * h,
                              c: b.stepPre.data, ldc: 2 * h, context: context)
                gateAndTransform(node: node, input: u, rowBase: rowBase, batch: batch, buffers: b)
            }
            // h_t = mean of the leaves.
            let next = b.states.data + rowBase + batch * h
            next.update(from: b.state[leaves[0]].data + rowBase, count: batch * h)
            for leaf in leaves.dropFirst() {
                let s = b.state[leaf].data + rowBase
                for i in 0..<(batch * h) { next[i] += s[i] }
            }
            if leaves.count > 1 { for i in 0..<(batch * h) { next[i] *= leafScale } }
        }
        state.data.update(from: b.states.data + tb * h, count: batch * h)
        // Decoder over all rows: logits = (h * m_out) Wd^T + bias, then softmax cross-entropy.
        let (total, correct) = LanguageModelHead.decode(
            outputs: b.states.data + batch * h, targets: targets, batch: batch, shape: shape, decoder: decoder, decoderBias: decoderBias,
            decoderInput: b.decoderInput, logits: b.logits, rowLoss: b.rowLossStorage, rowCorrect: b.rowCorrect, masks: masks, context: context)
        lastCorrect = correct
        return total
    }

    /// stepPre [B, 2H] -> gate, transform and state of `node` at the step starting at `rowBase`.
    @inline(__always)
    private func gateAndTransform(node: Int, input: UnsafeMutablePointer<Float>, rowBase: Int, batch: Int, buffers b: Buffers) {
        let h = shape.hidden
        let activation = cell.activations[node]
        let c = b.gate[node].data + rowBase, g = b.transform[node].data + rowBase, s = b.state[node].data + rowBase
        let bias = gateBiases[node]!.value.data
        for r in 0..<batch {
            let pre = b.stepPre.data + r * 2 * h
            for j in 0..<h {
                let i = r * h + j
                let gate = 1 / (1 + Foundation.exp(-(pre[j] + bias[j])))
                let transform = activation.apply(pre[h + j])
                c[i] = gate; g[i] = transform
                s[i] = input[i] + gate * (transform - input[i])
            }
        }
    }

    @inline(__always)
    static func multiply(_ x: UnsafePointer<Float>, by mask: [Float]?, into y: UnsafeMutablePointer<Float>, count: Int) {
        guard let mask else { y.update(from: x, count: count); return }
        mask.withUnsafeBufferPointer { m in for i in 0..<count { y[i] = x[i] * m[i] } }
    }

    // MARK: Backward

    /// Gradients of the mean cross-entropy of the last training `forward` into every parameter's
    /// `gradient` (overwritten). Truncated BPTT: nothing flows into the segment's initial state.
    public func backward(inputs: [Int32], steps: Int, batch: Int, masks: DropoutMasks) {
        let (d, h) = (shape.embed, shape.hidden)
        let b = buffers(steps: steps, batch: batch)
        let tb = steps * batch
        for p in parameters { p.gradient.zero() }
        LanguageModelHead.backwardDecoder(rows: tb, batch: batch, shape: shape, decoder: decoder, decoderBias: decoderBias,
                                          decoderInput: b.decoderInput, logits: b.logits, decoderGradient: b.decoderGradient,
                                          masks: masks, context: context)
        b.carry.zero()
        let leafScale = 1 / Float(leaves.count)
        let n = batch * h
        for t in stride(from: steps - 1, through: 0, by: -1) {
            let rowBase = t * batch * h
            for gradient in b.stateGradient { gradient.zero() }
            // d h_t = decoder gradient + carry from step t+1; each leaf gets its share.
            let dh = b.decoderGradient.data + rowBase
            for leaf in leaves {
                let ds = b.stateGradient[leaf].data
                for i in 0..<n { ds[i] += (dh[i] + b.carry.data[i]) * leafScale }
            }
            for node in order.reversed() {
                let u = b.nodeInput[node].data + rowBase
                let du = b.scratch.data
                preActivationGradient(node: node, input: u, rowBase: rowBase, batch: batch, buffers: b, inputGradient: du)
                // du += (dpre W_i^T) * m_h
                let dpre = b.preGradient[node].data + t * batch * 2 * h
                addMaskedProduct(dpre: dpre, weight: nodeWeights[node]!.value.data, mask: masks.hidden, into: du, batch: batch, buffers: b)
                let preds = predecessors[node]!
                let share = 1 / Float(preds.count)
                for p in preds {
                    let ds = b.stateGradient[p].data
                    for i in 0..<n { ds[i] += du[i] * share }
                }
            }
            // Node 0: d h_{t-1} = ds_0 (1 - c_0) + (dpre_0 Wh^T) * m_h, carried to step t-1.
            let previous = b.states.data + rowBase
            preActivationGradient(node: 0, input: previous, rowBase: rowBase, batch: batch, buffers: b, inputGradient: b.carry.data)
            addMaskedProduct(dpre: b.preGradient[0].data + t * batch * 2 * h, weight: recurrentWeight.value.data, mask: masks.hidden,
                             into: b.carry.data, batch: batch, buffers: b)
        }
        // Weight gradients over all rows at once.
        GEMM.multiply(transposeA: true, m: h, n: 2 * h, k: tb, a: b.maskedPrevious.data, lda: h, b: b.preGradient[0].data, ldb: 2 * h,
                      c: recurrentWeight.gradient.data, ldc: 2 * h, context: context)
        GEMM.multiply(transposeA: true, m: d, n: 2 * h, k: tb, a: b.x.data, lda: d, b: b.preGradient[0].data, ldb: 2 * h,
                      c: inputWeight.gradient.data, ldc: 2 * h, context: context)
        for node in order {
            GEMM.multiply(transposeA: true, m: h, n: 2 * h, k: tb, a: b.maskedInput[node].data, lda: h, b: b.preGradient[node].data, ldb: 2 * h,
                          c: nodeWeights[node]!.gradient.data, ldc: 2 * h, context: context)
        }
        // Gate biases: the gate part of d pre summed over all rows, in row order.
        for node in [0] + order {
            let dpre = b.preGradient[node].data
            let g = gateBiases[node]!.gradient.data
            for row in 0..<tb { for j in 0..<h { g[j] += dpre[row * 2 * h + j] } }
        }
        // d x = dpre_0 W0x^T, then scattered (with the input mask) into the embedding rows, in row order.
        GEMM.multiply(transposeB: true, m: tb, n: d, k: 2 * h, a: b.preGradient[0].data, lda: 2 * h, b: inputWeight.value.data, ldb: 2 * h,
                      c: b.inputGradient.data, ldc: d, context: context)
        LanguageModelHead.scatterEmbeddingGradient(b.inputGradient, inputs: inputs, embedding: embedding, embed: d, batch: batch, masks: masks)
    }

    /// From ds (stateGradient[node]) of step `rowBase`: writes d pre-activation into preGradient[node]
    /// and the highway part ds (1 - c) into `inputGradient`.
    @inline(__always)
    private func preActivationGradient(node: Int, input: UnsafeMutablePointer<Float>, rowBase: Int, batch: Int, buffers b: Buffers,
                                       inputGradient: UnsafeMutablePointer<Float>) {
        let h = shape.hidden
        let activation = cell.activations[node]
        let ds = b.stateGradient[node].data
        let c = b.gate[node].data + rowBase, g = b.transform[node].data + rowBase
        let dpre = b.preGradient[node].data + (rowBase / h) * 2 * h
        for r in 0..<batch {
            for j in 0..<h {
                let i = r * h + j
                let gate = c[i], transform = g[i], u = input[i], grad = ds[i]
                dpre[r * 2 * h + j] = grad * (transform - u) * gate * (1 - gate)
                dpre[r * 2 * h + h + j] = grad * gate * activation.derivative(output: transform)
                inputGradient[i] = grad * (1 - gate)
            }
        }
    }

    /// into += (dpre [B, 2H] x W^T) * mask, W being [H, 2H].
    @inline(__always)
    private func addMaskedProduct(dpre: UnsafeMutablePointer<Float>, weight: UnsafeMutablePointer<Float>, mask: [Float],
                                  into target: UnsafeMutablePointer<Float>, batch: Int, buffers b: Buffers) {
        let h = shape.hidden
        // stepPre is free during backward: use its first B*H floats for the product.
        let product = b.stepPre.data
        GEMM.multiply(transposeB: true, m: batch, n: h, k: 2 * h, a: dpre, lda: 2 * h, b: weight, ldb: 2 * h,
                      c: product, ldc: h, context: context)
        mask.withUnsafeBufferPointer { m in for i in 0..<(batch * h) { target[i] += product[i] * m[i] } }
    }
}
