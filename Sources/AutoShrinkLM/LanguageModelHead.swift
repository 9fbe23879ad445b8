import AutoShrinkEngine
import Foundation

/// The parts `LanguageModel` (RNN cell) and `LSTMLanguageModel` share around their recurrent layer
/// (docs/shrinkrnn.md, "Engine"): the embedding lookup with the input mask, the decoder with the output
/// mask and the softmax cross-entropy, and their gradients. Rows are time-major (row t * batch + b); every
/// mask is [batch, width], the same at every step. One implementation, so both models compute the same
/// floats in the same order.
enum LanguageModelHead {
    /// Parameters uniform in [-range, range], drawn in order from `generator`.
    static func uniform(_ p: Parameter, _ range: Float, using generator: inout SplitMix64) {
        for i in 0..<p.value.count { p.value.data[i] = Float.random(in: -range...range, using: &generator) }
    }

    /// x [rows, D] = embedding rows of `inputs`, times the input mask when training.
    static func embed(inputs: [Int32], embedding: Parameter, into x: UnsafeMutablePointer<Float>, embed d: Int, batch: Int,
                      masks: DropoutMasks?) {
        inputs.withUnsafeBufferPointer { tokens in
            for row in 0..<tokens.count {
                let source = embedding.value.data + Int(tokens[row]) * d
                let target = x + row * d
                if let masks {
                    let m = (row % batch) * d
                    for j in 0..<d { target[j] = source[j] * masks.input[m + j] }
                } else {
                    target.update(from: source, count: d)
                }
            }
        }
    }

    /// Decoder over all rows: decoderInput = h * m_out ([rows, H], from `outputs` [rows, H]),
    /// logits = decoderInput Wd^T + bias, then softmax cross-entropy per row into `rowLoss` / `rowCorrect`.
    /// With `masks` (training) the logits become d loss / d logits (of the mean over rows).
    /// Returns the summed cross-entropy (nats) and the rows whose most likely word was the target.
    static func decode(outputs: UnsafeMutablePointer<Float>, targets: [Int32], batch: Int, shape: LanguageModelShape,
                       decoder: Parameter, decoderBias: Parameter, decoderInput: Tensor, logits: Tensor,
                       rowLoss: Tensor, rowCorrect: Tensor, masks: DropoutMasks?, context: ExecutionContext) -> (loss: Double, correct: Int) {
        let (h, v) = (shape.hidden, shape.vocabulary)
        let tb = targets.count
        for row in 0..<tb {
            let source = outputs + row * h, target = decoderInput.data + row * h
            if let masks {
                let m = (row % batch) * h
                for j in 0..<h { target[j] = source[j] * masks.output[m + j] }
            } else {
                target.update(from: source, count: h)
            }
        }
        GEMM.multiply(transposeB: true, m: tb, n: v, k: h, a: decoderInput.data, lda: h, b: decoder.value.data, ldb: h,
                      c: logits.data, ldc: v, context: context)
        // Softmax cross-entropy per row; in training the logits become d loss / d logits (mean over rows).
        let bias = decoderBias.value.data
        let scale = 1 / Float(tb)
        let training = masks != nil
        targets.withUnsafeBufferPointer { targetIDs in
            context.parallelFor(tb, minimumPerChunk: 8) { range in
                for row in range {
                    let z = logits.data + row * v
                    var largest = -Float.infinity, largestIndex = 0
                    for j in 0..<v {
                        z[j] += bias[j]
                        if z[j] > largest { largest = z[j]; largestIndex = j }
                    }
                    let target = Int(targetIDs[row])
                    let targetLogit = z[target]
                    var sum: Float = 0
                    for j in 0..<v { let e = Foundation.exp(z[j] - largest); sum += e; if training { z[j] = e } }
                    rowLoss.data[row] = Foundation.log(sum) + largest - targetLogit
                    rowCorrect.data[row] = largestIndex == target ? 1 : 0
                    if training {
                        let inverse = scale / sum
                        for j in 0..<v { z[j] *= inverse }
                        z[target] -= scale
                    }
                }
            }
        }
        var total = 0.0
        var correct = 0
        for row in 0..<tb { total += Double(rowLoss.data[row]); correct += rowCorrect.data[row] == 1 ? 1 : 0 }
        return (total, correct)
    }

    /// Decoder gradients from dZ (the logits after a training `decode`): dWd = dZ^T (h * m_out),
    /// dbias = column sums of dZ, and d h = (dZ Wd) * m_out into `decoderGradient` [rows, H].
    static func backwardDecoder(rows tb: Int, batch: Int, shape: LanguageModelShape, decoder: Parameter, decoderBias: Parameter,
                                decoderInput: Tensor, logits: Tensor, decoderGradient: Tensor, masks: DropoutMasks,
                                context: ExecutionContext) {
        let (h, v) = (shape.hidden, shape.vocabulary)
        GEMM.multiply(transposeA: true, m: v, n: h, k: tb, a: logits.data, lda: v, b: decoderInput.data, ldb: h,
                      c: decoder.gradient.data, ldc: h, context: context)
        let biasGradient = decoderBias.gradient.data
        context.parallelFor(v, minimumPerChunk: 256) { range in
            for row in 0..<tb {
                let z = logits.data + row * v
                for j in range { biasGradient[j] += z[j] }
            }
        }
        GEMM.multiply(m: tb, n: h, k: v, a: logits.data, lda: v, b: decoder.value.data, ldb: h,
                      c: decoderGradient.data, ldc: h, context: context)
        masks.output.withUnsafeBufferPointer { m in
            for row in 0..<tb {
                let g = decoderGradient.data + row * h, mb = (row % batch) * h
                for j in 0..<h { g[j] *= m[mb + j] }
            }
        }
    }

    /// d x [rows, D] times the input mask, added into the embedding rows of `inputs`, in row order.
    static func scatterEmbeddingGradient(_ inputGradient: Tensor, inputs: [Int32], embedding: Parameter, embed d: Int, batch: Int,
                                         masks: DropoutMasks) {
        masks.input.withUnsafeBufferPointer { m in
            inputs.withUnsafeBufferPointer { tokens in
                for row in 0..<tokens.count {
                    let target = embedding.gradient.data + Int(tokens[row]) * d
                    let source = inputGradient.data + row * d, mb = (row % batch) * d
                    for j in 0..<d { target[j] += source[j] * m[mb + j] }
                }
            }
        }
    }
}
