/// 2x2 max-pool, stride 2 (odd trailing rows/columns are dropped). Backward routes each
/// gradient to the first maximum of its window.
public final class MaxPool2x2: Layer {
    public init() {}
    public func outputShape(for inputs: [ValueShape]) -> ValueShape {
        ValueShape(channels: inputs[0].channels, height: inputs[0].height / 2, width: inputs[0].width / 2)
    }

    public func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext) {
        let input = inputs[0]
        context.parallelFor(input.channels * input.batch) { range in
            for plane in range {
                let x = input.data + plane * input.plane, y = output.data + plane * output.plane
                for oy in 0..<output.height {
                    let row0 = x + 2 * oy * input.width, row1 = row0 + input.width
                    for ox in 0..<output.width {
                        y[oy * output.width + ox] = max(max(row0[2 * ox], row0[2 * ox + 1]), max(row1[2 * ox], row1[2 * ox + 1]))
                    }
                }
            }
        }
    }

    public func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                         inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext) {
        guard let inputGradient = inputGradients[0] else { return }
        let input = inputs[0], add = accumulate[0]
        context.parallelFor(input.channels * input.batch) { range in
            for plane in range {
                let x = input.data + plane * input.plane
                let dx = inputGradient.data + plane * input.plane
                let y = output.data + plane * output.plane, dy = outputGradient.data + plane * output.plane
                if !add { dx.update(repeating: 0, count: input.plane) }
                for oy in 0..<output.height {
                    for ox in 0..<output.width {
                        let top = 2 * oy * input.width + 2 * ox
                        let target = y[oy * output.width + ox]
                        // the first maximum of (top, top + 1, top + W, top + W + 1) by arithmetic on the three
                        // comparisons (0 / 1 each), not by branches on them: those were mispredicted about half
                        // the time, and this pass took 8x the forward one
                        let notA = x[top] == target ? 0 : 1, notB = x[top + 1] == target ? 0 : 1
                        let notC = x[top + input.width] == target ? 0 : 1
                        dx[top + notA * (1 + notB * (input.width - 1 + notC))] += dy[oy * output.width + ox]
                    }
                }
            }
        }
    }
}

/// Mean over height x width: C x H x W -> C x 1 x 1.
public final class GlobalAveragePool: Layer {
    public init() {}
    public func outputShape(for inputs: [ValueShape]) -> ValueShape {
        ValueShape(channels: inputs[0].channels, height: 1, width: 1)
    }

    public func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext) {
        let input = inputs[0]
        let planeSize = input.plane
        let inverse = 1 / Float(planeSize)
        context.parallelFor(input.channels * input.batch, minimumPerChunk: 64) { range in
            for plane in range { output.data[plane] = Reductions.sum(input.data + plane * planeSize, planeSize) * inverse }
        }
    }

    public func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                         inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext) {
        guard let inputGradient = inputGradients[0] else { return }
        let planeSize = inputGradient.plane, add = accumulate[0]
        let inverse = 1 / Float(planeSize)
        context.parallelFor(inputGradient.channels * inputGradient.batch, minimumPerChunk: 64) { range in
            for plane in range {
                let g = outputGradient.data[plane] * inverse
                let dx = inputGradient.data + plane * planeSize
                if add { for i in 0..<planeSize { dx[i] += g } } else { dx.update(repeating: g, count: planeSize) }
            }
        }
    }
}

/// Channel concat of any number of inputs with equal height and width. In CNHW each input
/// is a contiguous block of rows, so forward and backward are block copies.
public final class Concat: Layer {
    public init() {}
    public func outputShape(for inputs: [ValueShape]) -> ValueShape {
        precondition(inputs.allSatisfy { $0.height == inputs[0].height && $0.width == inputs[0].width }, "concat inputs differ in size")
        return ValueShape(channels: inputs.reduce(0) { $0 + $1.channels }, height: inputs[0].height, width: inputs[0].width)
    }

    public func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext) {
        var offset = 0
        for input in inputs {
            (output.data + offset).update(from: input.data, count: input.count)
            offset += input.count
        }
    }

    public func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                         inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext) {
        var offset = 0
        for (index, input) in inputs.enumerated() {
            if let dx = inputGradients[index]?.data {
                let dy = outputGradient.data + offset
                if accumulate[index] { for i in 0..<input.count { dx[i] += dy[i] } } else { dx.update(from: dy, count: input.count) }
            }
            offset += input.count
        }
    }
}

/// Elementwise sum of two inputs of equal shape.
public final class Add: Layer {
    public init() {}
    public func outputShape(for inputs: [ValueShape]) -> ValueShape {
        precondition(inputs.count == 2 && inputs[0] == inputs[1], "add needs two equal shapes, got \(inputs)")
        return inputs[0]
    }

    public func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext) {
        let a = inputs[0].data, b = inputs[1].data, y = output.data
        context.parallelFor(output.count, minimumPerChunk: 8192) { range in
            for i in range { y[i] = a[i] + b[i] }
        }
    }

    public func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                         inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext) {
        let dy = outputGradient.data, count = output.count
        for (index, gradient) in inputGradients.enumerated() {
            guard let dx = gradient?.data else { continue }
            if accumulate[index] {
                context.parallelFor(count, minimumPerChunk: 8192) { range in for i in range { dx[i] += dy[i] } }
            } else {
                dx.update(from: dy, count: count)
            }
        }
    }
}

/// Fully connected with bias on C x 1 x 1 inputs: y[out, n] = W[out, in] x[in, n] + b[out].
public final class Linear: Layer {
    public let inputFeatures: Int
    public let outputFeatures: Int
    public let weight: Parameter
    public let bias: Parameter
    public var parameters: [Parameter] { [weight, bias] }

    public init(name: String, inputFeatures: Int, outputFeatures: Int) {
        self.inputFeatures = inputFeatures; self.outputFeatures = outputFeatures
        weight = Parameter(name: name + ".weight", shape: [outputFeatures, inputFeatures], decay: true)
        bias = Parameter(name: name + ".bias", shape: [outputFeatures], decay: false)
    }

    /// Uniform(-1/sqrt(in), 1/sqrt(in)) weights and zero bias.
    public func initialize(using generator: inout some RandomNumberGenerator) {
        let bound = 1 / Float(inputFeatures).squareRoot()
        for i in 0..<weight.value.count { weight.value.data[i] = Float.random(in: -bound...bound, using: &generator) }
        bias.value.zero()
    }

    public func outputShape(for inputs: [ValueShape]) -> ValueShape {
        precondition(inputs[0].elements == inputFeatures, "\(weight.name): expected \(inputFeatures) features, got \(inputs[0])")
        return ValueShape(channels: outputFeatures, height: 1, width: 1)
    }

    public func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext) {
        let batch = output.batch
        for o in 0..<outputFeatures { (output.data + o * batch).update(repeating: bias.value.data[o], count: batch) }
        GEMM.multiply(m: outputFeatures, n: batch, k: inputFeatures, a: weight.value.data, lda: inputFeatures,
                      b: inputs[0].data, ldb: batch, beta: 1, c: output.data, ldc: batch, context: context)
    }

    public func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                         inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext) {
        let batch = output.batch
        for o in 0..<outputFeatures { bias.gradient.data[o] = Reductions.sum(outputGradient.data + o * batch, batch) }
        GEMM.multiply(transposeB: true, m: outputFeatures, n: inputFeatures, k: batch, a: outputGradient.data, lda: batch,
                      b: inputs[0].data, ldb: batch, c: weight.gradient.data, ldc: inputFeatures, context: context)
        guard let dx = inputGradients[0] else { return }
        GEMM.multiply(transposeA: true, m: inputFeatures, n: batch, k: outputFeatures, a: weight.value.data, lda: inputFeatures,
                      b: outputGradient.data, ldb: batch, beta: accumulate[0] ? 1 : 0, c: dx.data, ldc: batch, context: context)
    }
}

/// Inverted dropout: in training each element is zeroed with probability p and the rest
/// scaled by 1/(1-p); identity in evaluation. The mask comes from the layer's own seeded stream.
public final class Dropout: Layer {
    public let probability: Float
    private var generator: SplitMix64
    private let mask = Scratch()

    public init(probability: Float, seed: UInt64) {
        self.probability = probability
        generator = SplitMix64(seed: seed)
    }
    public func outputShape(for inputs: [ValueShape]) -> ValueShape { inputs[0] }

    public func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext) {
        let x = inputs[0].data, y = output.data, count = output.count
        guard training, probability > 0 else { y.update(from: x, count: count); return }
        let keep = 1 / (1 - probability)
        let m = mask.ensure(count)
        for i in 0..<count {
            m[i] = Float(generator.next() >> 40) / Float(1 << 24) < probability ? 0 : keep
            y[i] = x[i] * m[i]
        }
    }

    public func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                         inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext) {
        guard let dx = inputGradients[0]?.data else { return }
        let dy = outputGradient.data, count = output.count, add = accumulate[0]
        let m = mask.data
        let masked = probability > 0
        for i in 0..<count { store(dx + i, masked ? dy[i] * m[i] : dy[i], accumulate: add) }
    }
}
