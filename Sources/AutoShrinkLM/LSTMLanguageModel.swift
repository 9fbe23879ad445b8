import AutoShrinkEngine
import Foundation

/// Multiply-accumulates per token and parameter count of an LSTM language model
/// (docs/shrinkrnn.md, "LSTM baseline").
public struct LSTMCost: Sendable, Equatable {
    /// The LSTM layer alone: [x; h] (D + H) times the four gates (4H).
    public var cellMACs: Int
    /// LSTM plus the decoder (H x V); the embedding is a lookup.
    public var macsPerToken: Int
    /// The LSTM layer's weights and its 4H biases.
    public var cellParameters: Int
    public var parameters: Int

    public init(shape: LanguageModelShape) {
        let h = shape.hidden, d = shape.embed, v = shape.vocabulary
        cellMACs = (d + h) * 4 * h
        macsPerToken = cellMACs + h * v
        cellParameters = cellMACs + 4 * h
        parameters = cellParameters + v * d + (shape.tied ? 0 : v * h) + v
    }

    /// The LSTM whose parameter count comes closest to `parameters` without exceeding it: with a tied
    /// decoder embed = hidden = W (W grown), otherwise `embed` fixed and the hidden width grown
    /// (docs/shrinkrnn.md, "LSTM baseline", "Same size"). Nil when not even width 1 fits.
    public static func matching(parameters target: Int, vocabulary: Int, embed: Int, tied: Bool) -> LanguageModelShape? {
        func shape(_ width: Int) -> LanguageModelShape {
            LanguageModelShape(vocabulary: vocabulary, embed: tied ? width : embed, hidden: width, tied: tied)
        }
        var best: LanguageModelShape? = nil
        for width in 1...LanguageModelShape.maximumWidth {
            let candidate = shape(width)
            guard LSTMCost(shape: candidate).parameters <= target else { break }  // grows with the width
            best = candidate
        }
        return best
    }
}

/// A word-level LSTM language model, the baseline of the ShrinkRNN comparison (docs/shrinkrnn.md,
/// "LSTM baseline"): embedding -> one LSTM layer over time -> linear decoder -> softmax cross-entropy,
/// trained by the same `LMTrainer` (TBPTT, variational dropout, clipping, NT-ASGD) as the cell model.
/// Rows are tokens in time-major order (row t * batch + b), as in `LanguageModel`.
///
///     [i, f, g, o] = [x_t; h_{t-1} * m_h] W + b      (W = [Wx; Wh], [D + H, 4H]; gate order i, f, g, o)
///     c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
///     h_t = sigmoid(o) * tanh(c_t)
///
/// GEMMs as `LanguageModel`: x Wx for every step, the decoder, and every weight gradient are one GEMM
/// over all T * B rows; only (h_{t-1} * m_h) Wh ([B, H] x [H, 4H]) and its gradient run per step.
/// The state is [2, batch, H]: h rows, then c rows. `LSTMReference` is the float64 twin.
public final class LSTMLanguageModel {
    public let shape: LanguageModelShape
    public let context: ExecutionContext

    /// [V, D]; also the decoder weight [V, H] when tied.
    public let embedding: Parameter
    /// Wx [D, 4H], Wh [H, 4H], b [4H].
    public let inputWeight: Parameter
    public let recurrentWeight: Parameter
    public let bias: Parameter
    /// [V, H] when not tied.
    public let decoderWeight: Parameter?
    public let decoderBias: Parameter
    /// In a fixed order (the checkpoint's tensor order).
    public let parameters: [Parameter]

    public init(shape: LanguageModelShape, context: ExecutionContext, seed: UInt64) {
        self.shape = shape; self.context = context
        let (v, d, h) = (shape.vocabulary, shape.embed, shape.hidden)
        embedding = Parameter(name: "embedding.weight", shape: [v, d], decay: true)
        inputWeight = Parameter(name: "lstm.input_weight", shape: [d, 4 * h], decay: true)
        recurrentWeight = Parameter(name: "lstm.recurrent_weight", shape: [h, 4 * h], decay: true)
        bias = Parameter(name: "lstm.bias", shape: [4 * h], decay: false)
        decoderWeight = shape.tied ? nil : Parameter(name: "decoder.weight", shape: [v, h], decay: true)
        decoderBias = Parameter(name: "decoder.bias", shape: [v], decay: false)
        parameters = [embedding, inputWeight, recurrentWeight, bias] + (decoderWeight.map { [$0] } ?? []) + [decoderBias]
        // Initialisation: embedding and decoder U(-0.1, 0.1) as the cell model; LSTM weights
        // U(-1/sqrt(H), 1/sqrt(H)) as PyTorch's LSTM (AWD-LSTM's); biases 0 but the forget gate's 1,
        // so the cell keeps its memory from the start (Jozefowicz et al. 2015).
        var generator = SplitMix64(seed: seed ^ 0x4c53_544d_4c4d_0001)
        func uniform(_ p: Parameter, _ range: Float) { LanguageModelHead.uniform(p, range, using: &generator) }
        let range = 1 / Float(h).squareRoot()
        uniform(embedding, 0.1)
        uniform(inputWeight, range)
        uniform(recurrentWeight, range)
        for j in h..<(2 * h) { bias.value.data[j] = 1 }
        if let decoderWeight { uniform(decoderWeight, 0.1) }
    }

    /// Decoder weight [V, H]: its own or the embedding's.
    var decoder: Parameter { decoderWeight ?? embedding }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// A zero state for `batch` sequences: [2, batch, H] (h, then c).
    public func initialState(batch: Int) -> Tensor { Tensor(shape: [2, batch, shape.hidden]) }

    // MARK: Buffers (allocated for one (steps, batch) and reused)

    final class Buffers {
        let steps: Int, batch: Int
        let x: Tensor              // [TB, D] embedded, masked
        let gates: Tensor          // [TB, 4H] pre-activations, then sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
        let hidden: Tensor         // [(T+1) B, H] h_{-1} (block 0), h_0 ... h_{T-1}
        let cells: Tensor          // [(T+1) B, H] c_{-1}, c_0 ... c_{T-1}
        let cellTanh: Tensor       // [TB, H] tanh(c_t)
        let maskedPrevious: Tensor // [TB, H] h_{t-1} * m_h
        let decoderInput: Tensor   // [TB, H] h_t * m_out
        let logits: Tensor         // [TB, V]; d loss / d logits in place in training
        let rowLoss: Tensor, rowCorrect: Tensor  // [TB]
        let preGradient: Tensor    // [TB, 4H]
        let decoderGradient: Tensor // [TB, H]
        let carryHidden: Tensor, carryCell: Tensor // [B, H] from the step after
        let inputGradient: Tensor   // [TB, D]

        init(steps: Int, batch: Int, shape: LanguageModelShape) {
            self.steps = steps; self.batch = batch
            let tb = steps * batch, h = shape.hidden
            x = Tensor(shape: [tb, shape.embed]); gates = Tensor(shape: [tb, 4 * h])
            hidden = Tensor(shape: [(steps + 1) * batch, h]); cells = Tensor(shape: [(steps + 1) * batch, h])
            cellTanh = Tensor(shape: [tb, h]); maskedPrevious = Tensor(shape: [tb, h]); decoderInput = Tensor(shape: [tb, h])
            logits = Tensor(shape: [tb, shape.vocabulary]); rowLoss = Tensor(shape: [tb]); rowCorrect = Tensor(shape: [tb])
            preGradient = Tensor(shape: [tb, 4 * h]); decoderGradient = Tensor(shape: [tb, h])
            carryHidden = Tensor(shape: [batch, h]); carryCell = Tensor(shape: [batch, h])
            inputGradient = Tensor(shape: [tb, shape.embed])
        }
    }

    private var buffers: Buffers?
    /// Rows of the last `forward` whose most likely next word was the target (next-word accuracy).
    public private(set) var lastCorrect = 0

    func buffers(steps: Int, batch: Int) -> Buffers {
        if let buffers, buffers.steps == steps, buffers.batch == batch { return buffers }
        let made = Buffers(steps: steps, batch: batch, shape: shape)
        buffers = made
        return made
    }

    /// Floats the buffers of one (steps, batch) hold, for memory checks.
    public static func bufferFloats(shape: LanguageModelShape, steps: Int, batch: Int) -> Int {
        let tb = steps * batch, h = shape.hidden
        return tb * (2 * shape.embed + 8 * h + 4 * h + shape.vocabulary + 2) + 2 * batch * h + 2 * (steps + 1) * batch * h
    }

    // MARK: Forward

    /// Runs `steps` steps over `inputs` (row t * batch + b), predicting `targets`, from `state`
    /// ([2, batch, H], replaced by the last h and c). Returns the summed cross-entropy (nats).
    /// With `masks` (training) it keeps what `backward` needs; call `backward` right after.
    @discardableResult
    public func forward(inputs: [Int32], targets: [Int32], steps: Int, batch: Int, state: Tensor, masks: DropoutMasks?) -> Double {
        let (d, h) = (shape.embed, shape.hidden)
        precondition(inputs.count == steps * batch && targets.count == steps * batch && state.count == 2 * batch * h)
        let b = buffers(steps: steps, batch: batch)
        let tb = steps * batch, n = batch * h
        // Embedding lookup (with the input mask); gates = b + x Wx for every step at once.
        LanguageModelHead.embed(inputs: inputs, embedding: embedding, into: b.x.data, embed: d, batch: batch, masks: masks)
        for row in 0..<tb { (b.gates.data + row * 4 * h).update(from: bias.value.data, count: 4 * h) }
        GEMM.multiply(m: tb, n: 4 * h, k: d, a: b.x.data, lda: d, b: inputWeight.value.data, ldb: 4 * h,
                      beta: 1, c: b.gates.data, ldc: 4 * h, context: context)
        b.hidden.data.update(from: state.data, count: n)
        b.cells.data.update(from: state.data + n, count: n)
        for t in 0..<steps {
            let base = t * n
            let masked = b.maskedPrevious.data + base
            LanguageModel.multiply(b.hidden.data + base, by: masks?.hidden, into: masked, count: n)
            let gates = b.gates.data + t * batch * 4 * h
            GEMM.multiply(m: batch, n: 4 * h, k: h, a: masked, lda: h, b: recurrentWeight.value.data, ldb: 4 * h,
                          beta: 1, c: gates, ldc: 4 * h, context: context)
            let previousCell = b.cells.data + base, cell = b.cells.data + base + n
            let nextHidden = b.hidden.data + base + n, cellTanh = b.cellTanh.data + base
            for r in 0..<batch {
                let z = gates + r * 4 * h
                for j in 0..<h {
                    let i = 1 / (1 + Foundation.exp(-z[j]))
                    let f = 1 / (1 + Foundation.exp(-z[h + j]))
                    let g = Foundation.tanh(z[2 * h + j])
                    let o = 1 / (1 + Foundation.exp(-z[3 * h + j]))
                    z[j] = i; z[h + j] = f; z[2 * h + j] = g; z[3 * h + j] = o
                    let k = r * h + j
                    let c = f * previousCell[k] + i * g
                    let tc = Foundation.tanh(c)
                    cell[k] = c; cellTanh[k] = tc; nextHidden[k] = o * tc
                }
            }
        }
        state.data.update(from: b.hidden.data + tb * h, count: n)
        (state.data + n).update(from: b.cells.data + tb * h, count: n)
        // Decoder over all rows: logits = (h * m_out) Wd^T + bias, then softmax cross-entropy.
        let (total, correct) = LanguageModelHead.decode(
            outputs: b.hidden.data + batch * h, targets: targets, batch: batch, shape: shape, decoder: decoder, decoderBias: decoderBias,
            decoderInput: b.decoderInput, logits: b.logits, rowLoss: b.rowLoss, rowCorrect: b.rowCorrect, masks: masks, context: context)
        lastCorrect = correct
        return total
    }

    // MARK: Backward

    /// Gradients of the mean cross-entropy of the last training `forward` into every parameter's
    /// `gradient` (overwritten). Truncated BPTT: nothing flows into the segment's initial h and c.
    public func backward(inputs: [Int32], steps: Int, batch: Int, masks: DropoutMasks) {
        let (d, h) = (shape.embed, shape.hidden)
        let b = buffers(steps: steps, batch: batch)
        let tb = steps * batch, n = batch * h
        for p in parameters { p.gradient.zero() }
        LanguageModelHead.backwardDecoder(rows: tb, batch: batch, shape: shape, decoder: decoder, decoderBias: decoderBias,
                                          decoderInput: b.decoderInput, logits: b.logits, decoderGradient: b.decoderGradient,
                                          masks: masks, context: context)
        b.carryHidden.zero(); b.carryCell.zero()
        let dhCarry = b.carryHidden.data, dcCarry = b.carryCell.data
        for t in stride(from: steps - 1, through: 0, by: -1) {
            let base = t * n
            let gates = b.gates.data + t * batch * 4 * h, dpre = b.preGradient.data + t * batch * 4 * h
            let previousCell = b.cells.data + base, cellTanh = b.cellTanh.data + base
            let dhOut = b.decoderGradient.data + base
            for r in 0..<batch {
                let z = gates + r * 4 * h, dz = dpre + r * 4 * h
                for j in 0..<h {
                    let k = r * h + j
                    let i = z[j], f = z[h + j], g = z[2 * h + j], o = z[3 * h + j], tc = cellTanh[k]
                    let dh = dhOut[k] + dhCarry[k]
                    let dc = dcCarry[k] + dh * o * (1 - tc * tc)
                    dz[j] = dc * g * i * (1 - i)
                    dz[h + j] = dc * previousCell[k] * f * (1 - f)
                    dz[2 * h + j] = dc * i * (1 - g * g)
                    dz[3 * h + j] = dh * tc * o * (1 - o)
                    dcCarry[k] = dc * f
                }
            }
            // d h_{t-1} = (dpre Wh^T) * m_h.
            GEMM.multiply(transposeB: true, m: batch, n: h, k: 4 * h, a: dpre, lda: 4 * h, b: recurrentWeight.value.data, ldb: 4 * h,
                          c: dhCarry, ldc: h, context: context)
            masks.hidden.withUnsafeBufferPointer { m in for k in 0..<n { dhCarry[k] *= m[k] } }
        }
        // Weight gradients over all rows at once; the bias gradient is the column sums, in row order.
        GEMM.multiply(transposeA: true, m: h, n: 4 * h, k: tb, a: b.maskedPrevious.data, lda: h, b: b.preGradient.data, ldb: 4 * h,
                      c: recurrentWeight.gradient.data, ldc: 4 * h, context: context)
        GEMM.multiply(transposeA: true, m: d, n: 4 * h, k: tb, a: b.x.data, lda: d, b: b.preGradient.data, ldb: 4 * h,
                      c: inputWeight.gradient.data, ldc: 4 * h, context: context)
        let gateBias = bias.gradient.data
        for row in 0..<tb {
            let dz = b.preGradient.data + row * 4 * h
            for j in 0..<(4 * h) { gateBias[j] += dz[j] }
        }
        // d x = dpre Wx^T, then scattered (with the input mask) into the embedding rows, in row order.
        GEMM.multiply(transposeB: true, m: tb, n: d, k: 4 * h, a: b.preGradient.data, lda: 4 * h, b: inputWeight.value.data, ldb: 4 * h,
                      c: b.inputGradient.data, ldc: d, context: context)
        LanguageModelHead.scatterEmbeddingGradient(b.inputGradient, inputs: inputs, embedding: embedding, embed: d, batch: batch, masks: masks)
    }
}
