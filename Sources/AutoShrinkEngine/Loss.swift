import Foundation

/// Softmax cross-entropy over logits [classes, N] (CNHW with 1x1 planes), mean over the batch.
public enum SoftmaxCrossEntropy {
    /// Returns (mean loss, correct predictions) and writes dL/dlogits into `gradient` [classes, N].
    @discardableResult
    public static func lossAndGradient(logits: FeatureMap, labels: UnsafePointer<Int32>, batch: Int,
                                       gradient: UnsafeMutablePointer<Float>?) -> (loss: Float, correct: Int) {
        let classes = logits.channels
        let stride = logits.batch
        var total: Double = 0
        var correct = 0
        for n in 0..<batch {
            var maximum = -Float.infinity
            var best = 0
            for k in 0..<classes where logits.data[k * stride + n] > maximum {
                maximum = logits.data[k * stride + n]; best = k
            }
            var sum: Float = 0
            for k in 0..<classes { sum += expf(logits.data[k * stride + n] - maximum) }
            let label = Int(labels[n])
            total += Double(logf(sum) - (logits.data[label * stride + n] - maximum))
            if best == label { correct += 1 }
            if let gradient {
                let scale = 1 / Float(batch)
                for k in 0..<classes {
                    let p = expf(logits.data[k * stride + n] - maximum) / sum
                    gradient[k * stride + n] = (p - (k == label ? 1 : 0)) * scale
                }
            }
        }
        return (Float(total / Double(max(batch, 1))), correct)
    }

    /// Index of the largest logit of image n.
    public static func prediction(logits: FeatureMap, image n: Int) -> Int {
        var best = 0
        for k in 1..<logits.channels where logits.data[k * logits.batch + n] > logits.data[best * logits.batch + n] { best = k }
        return best
    }
}
