import AutoShrinkEngine
import Foundation

/// The plain twin of `LanguageModel.forward` (the `_ref` of the recurrent path): the same function written
/// as loops over tokens, nodes and units in float64, reading the model's parameters. The tests compare
/// the fast path against it and take finite differences of it for the gradient checks.
public enum LanguageModelReference {
    /// Summed cross-entropy (nats) over the rows and the final hidden state ([batch, H]).
    public static func forward(model: LanguageModel, inputs: [Int32], targets: [Int32], steps: Int, batch: Int,
                               state: [Float], masks: DropoutMasks?) -> (loss: Double, state: [Double]) {
        let (d, h, v) = (model.shape.embed, model.shape.hidden, model.shape.vocabulary)
        let cell = model.cell
        let schedule = cell.schedule
        func value(_ p: Parameter, _ i: Int) -> Double { Double(p.value.data[i]) }
        var hidden = (0..<batch).map { b in (0..<h).map { Double(state[b * h + $0]) } }
        var total = 0.0
        for t in 0..<steps {
            var next: [[Double]] = []
            for b in 0..<batch {
                let row = t * batch + b
                let token = Int(inputs[row])
                let x = (0..<d).map { j in value(model.embedding, token * d + j) * Double(masks?.input[b * d + j] ?? 1) }
                let hm = (0..<h).map { j in hidden[b][j] * Double(masks?.hidden[b * h + j] ?? 1) }
                var states = [[Double]](repeating: [], count: cell.nodes)
                func transform(_ node: Int, pre: [Double], input: [Double]) -> [Double] {
                    let bias = model.gateBiases[node]!
                    return (0..<h).map { j in
                        let gate = 1 / (1 + exp(-(pre[j] + value(bias, j))))
                        let exact: Double
                        switch cell.activations[node] {
                        case .tanh: exact = tanh(pre[h + j])
                        case .relu: exact = max(0, pre[h + j])
                        case .sigmoid: exact = 1 / (1 + exp(-pre[h + j]))
                        case .identity: exact = pre[h + j]
                        }
                        return input[j] + gate * (exact - input[j])
                    }
                }
                var pre0 = [Double](repeating: 0, count: 2 * h)
                for k in 0..<(2 * h) {
                    var sum = 0.0
                    for j in 0..<d { sum += x[j] * value(model.inputWeight, j * 2 * h + k) }
                    for j in 0..<h { sum += hm[j] * value(model.recurrentWeight, j * 2 * h + k) }
                    pre0[k] = sum
                }
                states[0] = transform(0, pre: pre0, input: hidden[b])
                for node in schedule.nodes {
                    var u = [Double](repeating: 0, count: h)
                    let preds = schedule.predecessors[node]!
                    for p in preds { for j in 0..<h { u[j] += states[p][j] / Double(preds.count) } }
                    let um = (0..<h).map { j in u[j] * Double(masks?.hidden[b * h + j] ?? 1) }
                    let w = model.nodeWeights[node]!
                    let pre = (0..<(2 * h)).map { k in (0..<h).reduce(0.0) { $0 + um[$1] * value(w, $1 * 2 * h + k) } }
                    states[node] = transform(node, pre: pre, input: u)
                }
                let out = (0..<h).map { j in schedule.leaves.reduce(0.0) { $0 + states[$1][j] } / Double(schedule.leaves.count) }
                next.append(out)
                total += crossEntropy(output: out, target: targets[row], sequence: b, decoder: model.decoder, decoderBias: model.decoderBias,
                                      vocabulary: v, masks: masks)
            }
            hidden = next
        }
        return (total, hidden.flatMap { $0 })
    }

    /// Cross-entropy (nats) of one row in float64, shared with `LSTMReference`: the decoder on the
    /// output h [H] times the output mask of sequence `sequence`, then -log softmax at `target`.
    static func crossEntropy(output: [Double], target: Int32, sequence b: Int, decoder: Parameter, decoderBias: Parameter,
                             vocabulary v: Int, masks: DropoutMasks?) -> Double {
        let h = output.count
        func value(_ p: Parameter, _ i: Int) -> Double { Double(p.value.data[i]) }
        let decoded = (0..<h).map { j in output[j] * Double(masks?.output[b * h + j] ?? 1) }
        let logits = (0..<v).map { k in
            (0..<h).reduce(value(decoderBias, k)) { $0 + decoded[$1] * value(decoder, k * h + $1) }
        }
        let largest = logits.max()!
        let logSum = log(logits.reduce(0.0) { $0 + exp($1 - largest) }) + largest
        return logSum - logits[Int(target)]
    }
}
