@testable import AutoShrinkEngine

/// Finite-difference gradient checking for single layers.
///
/// The scalar checked is L = sum(r * y) for a fixed random r, so dL/dy = r. Analytic gradients
/// from `backward` are compared with central differences (step h) of L for a sample of input
/// and parameter elements, in float64 arithmetic on the float32 layer outputs.
struct GradientCheck {
    var generator = SplitMix64(seed: 42)
    let context = ExecutionContext(threads: 2)

    mutating func randomTensor(_ count: Int, scale: Float = 1) -> Tensor {
        let tensor = Tensor(shape: [count])
        for i in 0..<count { tensor.data[i] = Float.random(in: -scale...scale, using: &generator) }
        return tensor
    }

    /// Worst relative error max|a - n| / max(1e-2, |a| + |n|) over checked elements.
    mutating func check(layer: Layer, inputShapes: [ValueShape], batch: Int, training: Bool = true, step: Float = 1e-2,
                        samples: Int = 40, inputScale: Float = 1) -> Double {
        let outputShape = layer.outputShape(for: inputShapes)
        layer.prepare(batch: batch, inputs: inputShapes)
        let inputs = inputShapes.map { randomTensor($0.elements * batch, scale: inputScale) }
        let output = Tensor(shape: [outputShape.elements * batch])
        let weights = randomTensor(output.count)
        let maps = zip(inputs, inputShapes).map { FeatureMap(data: $0.data, channels: $1.channels, batch: batch, height: $1.height, width: $1.width) }
        let outputMap = FeatureMap(data: output.data, channels: outputShape.channels, batch: batch, height: outputShape.height, width: outputShape.width)

        func loss() -> Double {
            layer.forward(inputs: maps, output: outputMap, training: training, context: context)
            var sum = 0.0
            for i in 0..<output.count { sum += Double(output.data[i]) * Double(weights.data[i]) }
            return sum
        }

        _ = loss()
        let outputGradient = Tensor(shape: [output.count])
        outputGradient.copy(from: weights)
        let gradients = zip(inputs, inputShapes).map { Tensor(shape: [$1.elements * batch]) }
        let gradientMaps = zip(gradients, inputShapes).map { FeatureMap(data: $0.data, channels: $1.channels, batch: batch, height: $1.height, width: $1.width) as FeatureMap? }
        layer.backward(inputs: maps, output: outputMap,
                       outputGradient: FeatureMap(data: outputGradient.data, channels: outputShape.channels, batch: batch, height: outputShape.height, width: outputShape.width),
                       inputGradients: gradientMaps, accumulate: Array(repeating: false, count: inputs.count), context: context)
        let parameterGradients = layer.parameters.map { $0.gradient.array }

        // Errors are relative to the element's gradient, floored at 1 % of the largest gradient of
        // the tensor: float32 forward passes cannot resolve finite differences of tiny gradients.
        var worst = 0.0
        var floor = 1e-4
        func compare(_ pointer: UnsafeMutablePointer<Float>, _ index: Int, analytic: Float) {
            let saved = pointer[index]
            pointer[index] = saved + step
            let plus = loss()
            pointer[index] = saved - step
            let minus = loss()
            pointer[index] = saved
            let numeric = (plus - minus) / (2 * Double(step))
            let error = abs(Double(analytic) - numeric) / max(floor, abs(Double(analytic)) + abs(numeric))
            worst = max(worst, error)
        }
        for (input, gradient) in zip(inputs, gradients) {
            floor = max(1e-4, 0.01 * Double(gradient.array.map { abs($0) }.max() ?? 0))
            for sample in 0..<samples {
                let index = Int(generator.next() % UInt64(input.count))
                _ = sample
                compare(input.data, index, analytic: gradient.data[index])
            }
        }
        for (parameter, analytic) in zip(layer.parameters, parameterGradients) {
            floor = max(1e-4, 0.01 * Double(analytic.map { abs($0) }.max() ?? 0))
            for _ in 0..<samples {
                let index = Int(generator.next() % UInt64(parameter.value.count))
                compare(parameter.value.data, index, analytic: analytic[index])
            }
        }
        return worst
    }
}
