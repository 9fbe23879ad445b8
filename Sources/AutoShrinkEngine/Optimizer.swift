import Foundation

/// Updates parameters from their gradients. Weight decay is L2 added to the gradient of
/// parameters with `decay == true` (convolution and linear weights).
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    func step(_ parameters: [Parameter])
    /// Optimizer state tensors (momentum, moments) for checkpoints, by parameter name.
    var stateTensors: [(name: String, tensor: Tensor)] { get }
}

/// Which optimizer, with its hyper-parameters (what the CLI resolves to).
public enum OptimizerKind: String, CaseIterable, Sendable {
    case sgd, adam, rmsprop
}

public struct OptimizerConfiguration: Sendable {
    public var kind: OptimizerKind
    public var learningRate: Float
    public var weightDecay: Float
    public var momentum: Float = 0.9
    public var nesterov: Bool = true
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var rmsAlpha: Float = 0.99

    public init(kind: OptimizerKind, learningRate: Float, weightDecay: Float) {
        self.kind = kind; self.learningRate = learningRate; self.weightDecay = weightDecay
    }

    public func make(for parameters: [Parameter]) -> Optimizer {
        switch kind {
        case .sgd: return SGD(parameters: parameters, learningRate: learningRate, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
        case .adam: return Adam(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
        case .rmsprop: return RMSprop(parameters: parameters, learningRate: learningRate, alpha: rmsAlpha, epsilon: epsilon, weightDecay: weightDecay)
        }
    }
}

/// SGD with (Nesterov) momentum: v = mu*v + g; p -= lr * (nesterov ? g + mu*v : v).
public final class SGD: Optimizer {
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private let velocity: [Tensor]
    private let names: [String]

    public init(parameters: [Parameter], learningRate: Float, momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0) {
        self.learningRate = learningRate; self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
        velocity = parameters.map { Tensor(shape: $0.value.shape) }
        names = parameters.map(\.name)
    }

    public var stateTensors: [(name: String, tensor: Tensor)] { zip(names, velocity).map { ($0 + ".velocity", $1) } }

    public func step(_ parameters: [Parameter]) {
        for (parameter, v) in zip(parameters, velocity) {
            let p = parameter.value.data, g = parameter.gradient.data, m = v.data
            let decay = parameter.decay ? weightDecay : 0
            let mu = momentum, lr = learningRate, nesterov = self.nesterov
            for i in 0..<parameter.value.count {
                let gradient = g[i] + decay * p[i]
                m[i] = mu * m[i] + gradient
                p[i] -= lr * (nesterov ? gradient + mu * m[i] : m[i])
            }
        }
    }
}

/// Adam (Kingma & Ba) with bias correction; L2 weight decay added to the gradient.
public final class Adam: Optimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private let first: [Tensor]
    private let second: [Tensor]
    private let names: [String]
    private var steps = 0

    public init(parameters: [Parameter], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
        first = parameters.map { Tensor(shape: $0.value.shape) }
        second = parameters.map { Tensor(shape: $0.value.shape) }
        names = parameters.map(\.name)
    }

    public var stateTensors: [(name: String, tensor: Tensor)] {
        zip(names, first).map { ($0 + ".adam_m", $1) } + zip(names, second).map { ($0 + ".adam_v", $1) }
    }

    public func step(_ parameters: [Parameter]) {
        steps += 1
        let correction1 = 1 - powf(beta1, Float(steps)), correction2 = 1 - powf(beta2, Float(steps))
        let stepSize = learningRate / correction1
        let b1 = beta1, b2 = beta2, eps = epsilon
        let inverseSqrtCorrection2 = 1 / correction2.squareRoot()
        for (index, parameter) in parameters.enumerated() {
            let p = parameter.value.data, g = parameter.gradient.data
            let m = first[index].data, v = second[index].data
            let decay = parameter.decay ? weightDecay : 0
            for i in 0..<parameter.value.count {
                let gradient = g[i] + decay * p[i]
                m[i] = b1 * m[i] + (1 - b1) * gradient
                v[i] = b2 * v[i] + (1 - b2) * gradient * gradient
                p[i] -= stepSize * m[i] / (v[i].squareRoot() * inverseSqrtCorrection2 + eps)
            }
        }
    }
}

/// RMSprop: s = alpha*s + (1-alpha)*g^2; p -= lr * g / (sqrt(s) + eps).
public final class RMSprop: Optimizer {
    public var learningRate: Float
    public let alpha: Float, epsilon: Float, weightDecay: Float
    private let square: [Tensor]
    private let names: [String]

    public init(parameters: [Parameter], learningRate: Float, alpha: Float = 0.99, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate; self.alpha = alpha; self.epsilon = epsilon; self.weightDecay = weightDecay
        square = parameters.map { Tensor(shape: $0.value.shape) }
        names = parameters.map(\.name)
    }

    public var stateTensors: [(name: String, tensor: Tensor)] { zip(names, square).map { ($0 + ".rms", $1) } }

    public func step(_ parameters: [Parameter]) {
        let a = alpha, eps = epsilon, lr = learningRate
        for (index, parameter) in parameters.enumerated() {
            let p = parameter.value.data, g = parameter.gradient.data, s = square[index].data
            let decay = parameter.decay ? weightDecay : 0
            for i in 0..<parameter.value.count {
                let gradient = g[i] + decay * p[i]
                s[i] = a * s[i] + (1 - a) * gradient * gradient
                p[i] -= lr * gradient / (s[i].squareRoot() + eps)
            }
        }
    }
}

/// Learning-rate schedule over optimisation steps, with linear warm-up.
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case constant, cosine, step }
    public var kind: Kind
    public var baseRate: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    /// For `.step`: multiply by `gamma` every `stepSize` steps.
    public var stepSize: Int
    public var gamma: Float

    public init(kind: Kind, baseRate: Float, warmupSteps: Int = 0, totalSteps: Int, stepSize: Int = 1, gamma: Float = 0.1) {
        self.kind = kind; self.baseRate = baseRate; self.warmupSteps = warmupSteps
        self.totalSteps = max(totalSteps, 1); self.stepSize = max(stepSize, 1); self.gamma = gamma
    }

    /// Rate for 0-based step `step`.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return baseRate * Float(step + 1) / Float(warmupSteps) }
        let progress = step - warmupSteps
        switch kind {
        case .constant: return baseRate
        case .cosine:
            let span = max(totalSteps - warmupSteps, 1)
            let t = min(Float(progress) / Float(span), 1)
            return baseRate * 0.5 * (1 + cosf(.pi * t))
        case .step: return baseRate * powf(gamma, Float(progress / stepSize))
        }
    }
}
