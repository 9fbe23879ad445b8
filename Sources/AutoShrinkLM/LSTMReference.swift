import AutoShrinkEngine
import Foundation

/// The plain twin of `LSTMLanguageModel.forward`: the same function written as loops over tokens,
/// gates and units in float64, reading the model's parameters (docs/shrinkrnn.md, "LSTM baseline").
/// The tests compare the fast path against it and take finite differences of it for the gradient checks.
public enum LSTMReference {
    /// Summed cross-entropy (nats) over the rows and the final state ([2, batch, H]: h, then c).
    public static func forward(model: LSTMLanguageModel, inputs: [Int32], targets: [Int32], steps: Int, batch: Int,
                               state: [Float], masks: DropoutMasks?) -> (loss: Double, state: [Double]) {
        let (d, h, v) = (model.shape.embed, model.shape.hidden, model.shape.vocabulary)
        func value(_ p: Parameter, _ i: Int) -> Double { Double(p.value.data[i]) }
        func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        var hidden = (0..<batch).map { b in (0..<h).map { Double(state[b * h + $0]) } }
        var cell = (0..<batch).map { b in (0..<h).map { Double(state[batch * h + b * h + $0]) } }
        var total = 0.0
        for t in 0..<steps {
            for b in 0..<batch {
                let row = t * batch + b
                let token = Int(inputs[row])
                let x = (0..<d).map { j in value(model.embedding, token * d + j) * Double(masks?.input[b * d + j] ?? 1) }
                let hm = (0..<h).map { j in hidden[b][j] * Double(masks?.hidden[b * h + j] ?? 1) }
                var pre = [Double](repeating: 0, count: 4 * h)
                for k in 0..<(4 * h) {
                    var sum = value(model.bias, k)
                    for j in 0..<d { sum += x[j] * value(model.inputWeight, j * 4 * h + k) }
                    for j in 0..<h { sum += hm[j] * value(model.recurrentWeight, j * 4 * h + k) }
                    pre[k] = sum
                }
                for j in 0..<h {
                    let c = sigmoid(pre[h + j]) * cell[b][j] + sigmoid(pre[j]) * tanh(pre[2 * h + j])
                    cell[b][j] = c
                    hidden[b][j] = sigmoid(pre[3 * h + j]) * tanh(c)
                }
                total += LanguageModelReference.crossEntropy(output: hidden[b], target: targets[row], sequence: b, decoder: model.decoder,
                                                             decoderBias: model.decoderBias, vocabulary: v, masks: masks)
            }
        }
        return (total, hidden.flatMap { $0 } + cell.flatMap { $0 })
    }
}
