import AutoShrinkModel

/// Folds inference-mode batch norm into the convolution before it, so exported networks run
/// one biased convolution where training ran convolution + batch norm.
///
/// Batch norm after a convolution with weights W [out, in/groups, k, k] and bias b [out]
/// (zero when the convolution has none) computes, per output channel c,
///
///     y_c = gamma_c * (conv(x; W_c) + b_c - mean_c) / sqrt(var_c + eps) + beta_c
///
/// and with s_c = gamma_c / sqrt(var_c + eps) that is one convolution
///
///     W'_c = s_c * W_c                        (every weight of output channel c)
///     b'_c = beta_c + s_c * (b_c - mean_c)
///
/// The activation after batch norm is unchanged. eps is the engine's 1e-5.
public enum BatchNormFolding {
    /// The engine's batch-norm epsilon.
    public static let epsilon: Float = 1e-5

    /// Folds batch norm (gamma, beta, running mean and variance, each [out]) into convolution
    /// weights [out, in/groups, k, k] (any per-output-channel-major layout) and an optional bias [out].
    /// Arithmetic runs in Double and rounds once to Float.
    public static func fold(weights: [Float], bias: [Float]? = nil, gamma: [Float], beta: [Float],
                            mean: [Float], variance: [Float], epsilon: Float = BatchNormFolding.epsilon)
        -> (weights: [Float], bias: [Float]) {
        let outputChannels = gamma.count
        precondition(beta.count == outputChannels && mean.count == outputChannels && variance.count == outputChannels,
                     "batch-norm parameters must all have one value per output channel")
        precondition(outputChannels > 0 && weights.count % outputChannels == 0, "weights must be [out, ...]")
        precondition(bias == nil || bias!.count == outputChannels, "bias must be [out]")
        let perChannel = weights.count / outputChannels
        var foldedWeights = [Float](repeating: 0, count: weights.count)
        var foldedBias = [Float](repeating: 0, count: outputChannels)
        for channel in 0..<outputChannels {
            let scale = Double(gamma[channel]) / (Double(variance[channel]) + Double(epsilon)).squareRoot()
            for index in (channel * perChannel)..<((channel + 1) * perChannel) {
                foldedWeights[index] = Float(Double(weights[index]) * scale)
            }
            let original = Double(bias?[channel] ?? 0)
            foldedBias[channel] = Float(Double(beta[channel]) + scale * (original - Double(mean[channel])))
        }
        return (foldedWeights, foldedBias)
    }
}

/// Float weights of one exported layer after folding: convolution weights [out, in/groups, k, k]
/// or linear weights [out, in], and bias [out].
public struct FoldedWeights: Sendable, Equatable {
    public var weights: [Float]
    public var bias: [Float]
    public init(weights: [Float], bias: [Float]) { self.weights = weights; self.bias = bias }
}

/// A checkpoint ready for inference export: the lowered graph, and for every convolution and
/// linear layer (by layer name) its weights with batch norm folded in. Convolutions without
/// batch norm get a zero bias.
public struct FoldedNetwork: Sendable {
    public let architecture: Architecture
    public let graph: LayerGraph
    public let layers: [String: FoldedWeights]

    /// Folds every convolution of `checkpoint`; tensors are matched by name and shape checked.
    public init(checkpoint: Checkpoint) throws {
        architecture = checkpoint.architecture
        graph = checkpoint.architecture.lowered()
        var stored: [String: (shape: [Int], values: [Float])] = [:]
        for tensor in checkpoint.tensors { stored[tensor.record.name] = (tensor.record.shape, tensor.values) }
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            guard let found = stored[name] else { throw FoldingError("checkpoint has no tensor \(name)") }
            guard found.shape == shape else {
                throw FoldingError("checkpoint tensor \(name) has shape \(found.shape), the architecture needs \(shape)")
            }
            return found.values
        }
        var layers: [String: FoldedWeights] = [:]
        for node in graph.layers {
            switch node.operation {
            case .convolution(let spec):
                let weights = try tensor(node.name + ".weight",
                                         [spec.outputChannels, spec.inputChannels / spec.groups, spec.kernel, spec.kernel])
                if spec.batchNorm {
                    let channels = [spec.outputChannels]
                    let folded = BatchNormFolding.fold(
                        weights: weights, gamma: try tensor(node.name + ".bn.gamma", channels),
                        beta: try tensor(node.name + ".bn.beta", channels),
                        mean: try tensor(node.name + ".bn.running_mean", channels),
                        variance: try tensor(node.name + ".bn.running_var", channels))
                    layers[node.name] = FoldedWeights(weights: folded.weights, bias: folded.bias)
                } else {
                    layers[node.name] = FoldedWeights(weights: weights,
                                                      bias: [Float](repeating: 0, count: spec.outputChannels))
                }
            case .linear(let inputFeatures, let outputFeatures):
                layers[node.name] = FoldedWeights(weights: try tensor(node.name + ".weight", [outputFeatures, inputFeatures]),
                                                  bias: try tensor(node.name + ".bias", [outputFeatures]))
            case .maxPool, .concat, .add, .globalAveragePool, .dropout:
                break
            }
        }
        self.layers = layers
    }
}

/// A checkpoint that does not fit its architecture; one line.
public struct FoldingError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
