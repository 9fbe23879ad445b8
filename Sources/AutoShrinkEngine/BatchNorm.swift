/// Nonlinearity fused into `BatchNorm` (or applied by `ActivationLayer`).
public enum ActivationFunction: String, Sendable {
    case none, relu, relu6

    @inline(__always) func apply(_ x: Float) -> Float {
        switch self {
        case .none: return x
        case .relu: return max(x, 0)
        case .relu6: return min(max(x, 0), 6)
        }
    }
    /// Derivative expressed through the output y = f(x): 1 where f passes the gradient.
    @inline(__always) func passes(_ y: Float) -> Bool {
        switch self {
        case .none: return true
        case .relu: return y > 0
        case .relu6: return y > 0 && y < 6
        }
    }
}

/// Batch normalisation over (N, H, W) per channel, with an optional fused activation:
/// y = act(gamma * (x - mean) / sqrt(var + eps) + beta).
/// Training uses batch statistics and updates the running ones (momentum 0.1, unbiased running
/// variance); evaluation uses the running statistics. Parameters: gamma, beta [C].
public final class BatchNorm: Layer {
    public let channels: Int
    public let activation: ActivationFunction
    public let epsilon: Float = 1e-5
    public let momentum: Float = 0.1
    public let gamma: Parameter
    public let beta: Parameter
    public let runningMean: Tensor
    public let runningVariance: Tensor
    private let batchMean: Tensor        // [C] statistics of the last training batch
    private let batchInverseStd: Tensor  // [C]

    public var parameters: [Parameter] { [gamma, beta] }
    public var state: [(name: String, tensor: Tensor)] {
        [(gamma.name.replacingOccurrences(of: ".gamma", with: ".running_mean"), runningMean),
         (gamma.name.replacingOccurrences(of: ".gamma", with: ".running_var"), runningVariance)]
    }

    public init(name: String, channels: Int, activation: ActivationFunction = .none) {
        self.channels = channels
        self.activation = activation
        gamma = Parameter(name: name + ".gamma", shape: [channels], decay: false)
        beta = Parameter(name: name + ".beta", shape: [channels], decay: false)
        gamma.value.fill(1)
        runningMean = Tensor(shape: [channels])
        runningVariance = Tensor(shape: [channels])
        runningVariance.fill(1)
        batchMean = Tensor(shape: [channels])
        batchInverseStd = Tensor(shape: [channels])
    }

    public func outputShape(for inputs: [ValueShape]) -> ValueShape { inputs[0] }

    /// The inference map y = act(x * scale + shift) from the running statistics.
    public func inferenceAffine() -> ChannelAffine {
        var scale = [Float](repeating: 0, count: channels), shift = [Float](repeating: 0, count: channels)
        for c in 0..<channels {
            let inverseStd = 1 / (runningVariance.data[c] + epsilon).squareRoot()
            scale[c] = gamma.value.data[c] * inverseStd
            shift[c] = beta.value.data[c] - runningMean.data[c] * scale[c]
        }
        return ChannelAffine(scale: scale, shift: shift, activation: activation)
    }

    public func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext) {
        let input = inputs[0]
        let count = input.channelStride
        let activation = self.activation
        if !training {
            let affine = inferenceAffine()
            context.parallelFor(channels) { range in
                for c in range { affine.apply(channel: c, input.channel(c), to: output.channel(c), count: count) }
            }
            return
        }
        context.parallelFor(channels) { range in
            for c in range {
                let x = input.channel(c), y = output.channel(c)
                let mean: Float, inverseStd: Float
                if training {
                    let (mean_, variance) = Reductions.meanAndVariance(x, count)
                    mean = mean_
                    inverseStd = 1 / (variance + epsilon).squareRoot()
                    batchMean.data[c] = mean
                    batchInverseStd.data[c] = inverseStd
                    let unbiased = count > 1 ? variance * Float(count) / Float(count - 1) : variance
                    runningMean.data[c] += momentum * (mean - runningMean.data[c])
                    runningVariance.data[c] += momentum * (unbiased - runningVariance.data[c])
                } else {
                    mean = runningMean.data[c]
                    inverseStd = 1 / (runningVariance.data[c] + epsilon).squareRoot()
                }
                let scale = gamma.value.data[c] * inverseStd
                let shift = beta.value.data[c] - mean * scale
                switch activation {
                case .none: for i in 0..<count { y[i] = x[i] * scale + shift }
                case .relu: for i in 0..<count { y[i] = max(x[i] * scale + shift, 0) }
                case .relu6: for i in 0..<count { y[i] = min(max(x[i] * scale + shift, 0), 6) }
                }
            }
        }
    }

    /// With g = dL/dy masked by the activation and xhat = (x - mean) * invstd:
    /// dgamma = sum(g * xhat), dbeta = sum(g), dx = gamma * invstd / m * (m*g - dbeta - xhat*dgamma).
    public func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                         inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext) {
        let input = inputs[0]
        let count = input.channelStride
        let activation = self.activation
        let accumulateInput = accumulate[0]
        let inputGradient = inputGradients[0]
        context.parallelFor(channels) { range in
            for c in range {
                let x = input.channel(c), y = output.channel(c), dy = outputGradient.channel(c)
                let mean = batchMean.data[c], inverseStd = batchInverseStd.data[c]
                // Mask the incoming gradient through the activation in place (dy is not read again).
                let (sumG, sumGX) = Reductions.maskedSumAndDot(dy, x, y, count, activation: activation)
                let dBeta = sumG
                let dGamma = (sumGX - mean * sumG) * inverseStd
                gamma.gradient.data[c] = dGamma
                beta.gradient.data[c] = dBeta
                guard let inputGradient else { continue }
                let dx = inputGradient.channel(c)
                let m = Float(count)
                let k = gamma.value.data[c] * inverseStd
                // dx = k * (g - dBeta/m - xhat * dGamma/m) = k*g + a*x + b
                let a = -k * dGamma * inverseStd / m
                let b = -k * dBeta / m - a * mean
                if accumulateInput {
                    for i in 0..<count { dx[i] += k * dy[i] + a * x[i] + b }
                } else {
                    for i in 0..<count { dx[i] = k * dy[i] + a * x[i] + b }
                }
            }
        }
    }
}

/// Standalone elementwise activation (ReLU, ReLU6).
public final class ActivationLayer: Layer {
    public let function: ActivationFunction
    public init(_ function: ActivationFunction) { self.function = function }
    public func outputShape(for inputs: [ValueShape]) -> ValueShape { inputs[0] }

    public func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext) {
        let x = inputs[0].data, y = output.data, function = self.function
        context.parallelFor(output.count, minimumPerChunk: 4096) { range in
            for i in range { y[i] = function.apply(x[i]) }
        }
    }

    public func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                         inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext) {
        guard let dx = inputGradients[0]?.data else { return }
        let y = output.data, dy = outputGradient.data, function = self.function, add = accumulate[0]
        context.parallelFor(output.count, minimumPerChunk: 4096) { range in
            for i in range { store(dx + i, function.passes(y[i]) ? dy[i] : 0, accumulate: add) }
        }
    }
}
