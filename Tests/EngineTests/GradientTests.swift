import Testing
@testable import AutoShrinkEngine

/// Finite-difference checks of every differentiable op.
@Suite struct GradientTests {
    static let tolerance = 5e-3

    func randomized(_ convolution: Convolution, seed: UInt64 = 3) -> Convolution {
        var generator = SplitMix64(seed: seed)
        convolution.initialize(using: &generator)
        return convolution
    }

    @Test(arguments: [
        (kernel: 3, stride: 1, groups: 1, inputChannels: 3, outputChannels: 4),
        (kernel: 3, stride: 2, groups: 1, inputChannels: 2, outputChannels: 3),
        (kernel: 1, stride: 1, groups: 1, inputChannels: 5, outputChannels: 3),
        (kernel: 1, stride: 2, groups: 1, inputChannels: 4, outputChannels: 2),
        (kernel: 5, stride: 1, groups: 1, inputChannels: 2, outputChannels: 2),
        (kernel: 3, stride: 1, groups: 2, inputChannels: 4, outputChannels: 6),
        (kernel: 3, stride: 1, groups: 4, inputChannels: 4, outputChannels: 4),
        (kernel: 3, stride: 2, groups: 3, inputChannels: 3, outputChannels: 3),
        (kernel: 5, stride: 2, groups: 2, inputChannels: 2, outputChannels: 2),
    ])
    func convolution(_ c: (kernel: Int, stride: Int, groups: Int, inputChannels: Int, outputChannels: Int)) {
        var check = GradientCheck()
        let layer = randomized(Convolution(name: "conv", inputChannels: c.inputChannels, outputChannels: c.outputChannels,
                                           kernel: c.kernel, stride: c.stride, groups: c.groups))
        let error = check.check(layer: layer, inputShapes: [ValueShape(channels: c.inputChannels, height: 7, width: 6)], batch: 2)
        #expect(error < Self.tolerance, "relative error \(error) for \(c)")
    }

    @Test(arguments: [ActivationFunction.none, .relu, .relu6])
    func batchNormTraining(_ activation: ActivationFunction) {
        var check = GradientCheck()
        let layer = BatchNorm(name: "bn", channels: 3, activation: activation)
        for i in 0..<3 { layer.gamma.value.data[i] = 0.5 + Float(i); layer.beta.value.data[i] = 0.1 * Float(i) }
        let error = check.check(layer: layer, inputShapes: [ValueShape(channels: 3, height: 4, width: 5)], batch: 3,
                                step: 1e-2, inputScale: 3)
        #expect(error < Self.tolerance, "relative error \(error)")
    }

    @Test func activationLayers() {
        for function in [ActivationFunction.relu, .relu6] {
            var check = GradientCheck()
            let error = check.check(layer: ActivationLayer(function), inputShapes: [ValueShape(channels: 2, height: 3, width: 3)],
                                    batch: 2, step: 1e-3, inputScale: 8)
            #expect(error < Self.tolerance, "\(function): relative error \(error)")
        }
    }

    @Test func maxPool() {
        var check = GradientCheck()
        let error = check.check(layer: MaxPool2x2(), inputShapes: [ValueShape(channels: 2, height: 6, width: 4)], batch: 2, step: 1e-3)
        #expect(error < Self.tolerance)
    }

    /// Where the max-pool gradient goes, beyond what finite differences see: ties to the window's first maximum
    /// (row-major), nothing to the dropped odd row and column, added to the buffer with `accumulate`.
    @Test(arguments: [false, true]) func maxPoolRouting(accumulate: Bool) {
        // one 3x7 plane: windows at columns 0, 2, 4 (row 2 and column 6 dropped); maxima at 0 (a 3-way tie), 10, 11
        let values: [Float] = [1, 1, 0, 1, 0, 0, 9,
                               1, 0, 1, 5, 3, 0, 9,
                               9, 9, 9, 9, 9, 9, 9]
        let input = Tensor(shape: [21]), output = Tensor(shape: [3]), outputGradient = Tensor(shape: [3]), gradient = Tensor(shape: [21])
        for (i, v) in values.enumerated() { input.data[i] = v }
        for i in 0..<3 { outputGradient.data[i] = Float(10 * (i + 1)) }
        for i in 0..<21 { gradient.data[i] = accumulate ? 1 : -7 }
        let context = ExecutionContext(threads: 1)
        let x = FeatureMap(data: input.data, channels: 1, batch: 1, height: 3, width: 7)
        let y = FeatureMap(data: output.data, channels: 1, batch: 1, height: 1, width: 3)
        MaxPool2x2().forward(inputs: [x], output: y, training: true, context: context)
        #expect((0..<3).map { output.data[$0] } == [1, 5, 3])
        MaxPool2x2().backward(inputs: [x], output: y, outputGradient: FeatureMap(data: outputGradient.data, channels: 1, batch: 1, height: 1, width: 3),
                              inputGradients: [FeatureMap(data: gradient.data, channels: 1, batch: 1, height: 3, width: 7)],
                              accumulate: [accumulate], context: context)
        var expected = [Float](repeating: accumulate ? 1 : 0, count: 21)
        expected[0] += 10; expected[10] += 20; expected[11] += 30
        #expect((0..<21).map { gradient.data[$0] } == expected)
    }

    @Test func globalAveragePool() {
        var check = GradientCheck()
        let error = check.check(layer: GlobalAveragePool(), inputShapes: [ValueShape(channels: 3, height: 5, width: 3)], batch: 2)
        #expect(error < Self.tolerance)
    }

    @Test func concat() {
        var check = GradientCheck()
        let error = check.check(layer: Concat(), inputShapes: [ValueShape(channels: 2, height: 3, width: 3),
                                                               ValueShape(channels: 3, height: 3, width: 3),
                                                               ValueShape(channels: 1, height: 3, width: 3)], batch: 2)
        #expect(error < Self.tolerance)
    }

    @Test func add() {
        var check = GradientCheck()
        let shape = ValueShape(channels: 2, height: 3, width: 2)
        let error = check.check(layer: Add(), inputShapes: [shape, shape], batch: 3)
        #expect(error < Self.tolerance)
    }

    @Test func linear() {
        var check = GradientCheck()
        let layer = Linear(name: "fc", inputFeatures: 6, outputFeatures: 4)
        var generator = SplitMix64(seed: 9)
        layer.initialize(using: &generator)
        for i in 0..<4 { layer.bias.value.data[i] = Float(i) * 0.1 }
        let error = check.check(layer: layer, inputShapes: [ValueShape(channels: 6, height: 1, width: 1)], batch: 5)
        #expect(error < Self.tolerance)
    }

    /// Dropout draws a new mask each forward, so it is checked against its definition: the
    /// gradient is dy times the mask the forward pass used (0 or 1/(1-p)).
    @Test func dropout() {
        let layer = Dropout(probability: 0.5, seed: 7)
        let count = 400
        let x = Tensor(shape: [count]), y = Tensor(shape: [count]), dy = Tensor(shape: [count]), dx = Tensor(shape: [count])
        for i in 0..<count { x.data[i] = Float(i % 13) + 1; dy.data[i] = Float(i % 7) - 3 }
        let map = { (t: Tensor) in FeatureMap(data: t.data, channels: 4, batch: 1, height: 10, width: 10) }
        let context = ExecutionContext(threads: 1)
        layer.forward(inputs: [map(x)], output: map(y), training: true, context: context)
        layer.backward(inputs: [map(x)], output: map(y), outputGradient: map(dy), inputGradients: [map(dx)], accumulate: [false], context: context)
        var dropped = 0
        for i in 0..<count {
            let mask = y.data[i] / x.data[i]
            #expect(mask == 0 || abs(mask - 2) < 1e-6)
            #expect(abs(dx.data[i] - dy.data[i] * mask) < 1e-5)
            if mask == 0 { dropped += 1 }
        }
        #expect(dropped > 150 && dropped < 250)
        layer.forward(inputs: [map(x)], output: map(y), training: false, context: context)
        #expect(y.array == x.array)
    }

    @Test func softmaxCrossEntropy() {
        let classes = 5, batch = 4
        var generator = SplitMix64(seed: 11)
        let logits = Tensor(shape: [classes * batch])
        for i in 0..<logits.count { logits.data[i] = Float.random(in: -3...3, using: &generator) }
        let labels: [Int32] = [0, 3, 4, 1]
        let gradient = Tensor(shape: [classes * batch])
        let map = FeatureMap(data: logits.data, channels: classes, batch: batch, height: 1, width: 1)
        labels.withUnsafeBufferPointer { labels in
            SoftmaxCrossEntropy.lossAndGradient(logits: map, labels: labels.baseAddress!, batch: batch, gradient: gradient.data)
            for index in 0..<logits.count {
                let saved = logits.data[index]
                logits.data[index] = saved + 1e-2
                let plus = SoftmaxCrossEntropy.lossAndGradient(logits: map, labels: labels.baseAddress!, batch: batch, gradient: nil).loss
                logits.data[index] = saved - 1e-2
                let minus = SoftmaxCrossEntropy.lossAndGradient(logits: map, labels: labels.baseAddress!, batch: batch, gradient: nil).loss
                logits.data[index] = saved
                let numeric = (plus - minus) / 2e-2
                #expect(abs(numeric - gradient.data[index]) < 2e-3, "logit \(index)")
            }
        }
    }

    /// With accumulate = true a layer adds its input gradient to what is already there.
    @Test func accumulateAddsToExistingGradient() {
        let context = ExecutionContext(threads: 2)
        let layers: [Layer] = [
            Convolution(name: "a", inputChannels: 3, outputChannels: 3, kernel: 3, stride: 1),
            Convolution(name: "b", inputChannels: 3, outputChannels: 3, kernel: 3, stride: 2, groups: 3),
            Convolution(name: "c", inputChannels: 3, outputChannels: 2, kernel: 1),
            BatchNorm(name: "d", channels: 3, activation: .relu), MaxPool2x2(), GlobalAveragePool(), ActivationLayer(.relu),
        ]
        for layer in layers {
            var generator = SplitMix64(seed: 5)
            (layer as? Convolution)?.initialize(using: &generator)
            let shape = ValueShape(channels: 3, height: 6, width: 6)
            let outputShape = layer.outputShape(for: [shape])
            layer.prepare(batch: 2, inputs: [shape])
            let x = Tensor(shape: [shape.elements * 2]), y = Tensor(shape: [outputShape.elements * 2])
            for i in 0..<x.count { x.data[i] = Float.random(in: -1...1, using: &generator) }
            let xMap = FeatureMap(data: x.data, channels: 3, batch: 2, height: 6, width: 6)
            let yMap = FeatureMap(data: y.data, channels: outputShape.channels, batch: 2, height: outputShape.height, width: outputShape.width)
            layer.forward(inputs: [xMap], output: yMap, training: true, context: context)
            func gradient(base: Float, accumulate: Bool) -> [Float] {
                let dy = Tensor(shape: [y.count]), dx = Tensor(shape: [x.count])
                for i in 0..<dy.count { dy.data[i] = Float(i % 5) - 2 }
                dx.fill(base)
                layer.backward(inputs: [xMap], output: yMap,
                               outputGradient: FeatureMap(data: dy.data, channels: yMap.channels, batch: 2, height: yMap.height, width: yMap.width),
                               inputGradients: [FeatureMap(data: dx.data, channels: 3, batch: 2, height: 6, width: 6)],
                               accumulate: [accumulate], context: context)
                return dx.array
            }
            let fresh = gradient(base: 7, accumulate: false)
            let added = gradient(base: 7, accumulate: true)
            for (f, a) in zip(fresh, added) { #expect(abs(a - (f + 7)) < 1e-4, "\(type(of: layer))") }
        }
    }
}
