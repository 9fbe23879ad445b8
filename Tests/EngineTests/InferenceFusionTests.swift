import Testing
@testable import AutoShrinkEngine

/// Inference with each batch norm fused into its producing convolution (`Graph.fusesInference`)
/// gives bit-identical outputs to running the layers one by one, for every convolution path, and
/// the fused result does not depend on the thread count.
@Suite struct InferenceFusionTests {
    struct Case: Sendable, CustomStringConvertible {
        var channels: Int, kernel: Int, stride: Int, groups: Int, outputs: Int, activation: ActivationFunction
        var description: String { "\(channels)->\(outputs) k\(kernel) s\(stride) g\(groups) \(activation)" }
    }

    static let cases: [Case] = [
        Case(channels: 3, kernel: 3, stride: 1, groups: 1, outputs: 16, activation: .relu),   // im2col blocks
        Case(channels: 16, kernel: 3, stride: 2, groups: 1, outputs: 24, activation: .relu6), // im2col blocks, stride 2
        Case(channels: 16, kernel: 1, stride: 1, groups: 1, outputs: 32, activation: .relu),  // direct pointwise blocks
        Case(channels: 16, kernel: 3, stride: 1, groups: 16, outputs: 16, activation: .relu), // depthwise
        Case(channels: 16, kernel: 3, stride: 2, groups: 16, outputs: 16, activation: .none), // depthwise, phase planes
        Case(channels: 12, kernel: 3, stride: 1, groups: 3, outputs: 12, activation: .relu),  // grouped: whole batch
    ]

    /// conv -> BN(act) -> conv -> BN(act) -> [BN read twice: not fused] -> pool -> linear.
    static func graph(_ c: Case, threads: Int) -> Graph {
        var generator = SplitMix64(seed: 11)
        let graph = Graph(input: ValueShape(channels: c.channels, height: 13, width: 11), context: ExecutionContext(threads: threads))
        let first = Convolution(name: "a", inputChannels: c.channels, outputChannels: c.outputs, kernel: c.kernel,
                                stride: c.stride, groups: c.groups)
        let second = Convolution(name: "b", inputChannels: c.outputs, outputChannels: c.outputs, kernel: 1)
        let norms = (0..<3).map { BatchNorm(name: "bn\($0)", channels: c.outputs, activation: c.activation) }
        for layer in [first, second] { layer.initialize(using: &generator) }
        for norm in norms {
            // Running statistics and affine parameters away from the identity.
            for i in 0..<c.outputs {
                norm.runningMean.data[i] = Float.random(in: -0.5...0.5, using: &generator)
                norm.runningVariance.data[i] = Float.random(in: 0.2...2, using: &generator)
                norm.gamma.value.data[i] = Float.random(in: 0.5...1.5, using: &generator)
                norm.beta.value.data[i] = Float.random(in: -0.3...0.3, using: &generator)
            }
        }
        var value = graph.add(first, inputs: [0])
        value = graph.add(norms[0], inputs: [value])
        let shared = graph.add(second, inputs: [value])
        let left = graph.add(norms[1], inputs: [shared])
        let right = graph.add(norms[2], inputs: [shared])
        let sum = graph.add(Add(), inputs: [left, right])
        let pooled = graph.add(GlobalAveragePool(), inputs: [sum])
        let linear = Linear(name: "fc", inputFeatures: c.outputs, outputFeatures: 5)
        linear.initialize(using: &generator)
        graph.add(linear, inputs: [pooled])
        return graph
    }

    @Test(arguments: cases)
    func fusedInferenceIsBitIdentical(_ c: Case) {
        let batch = 9
        var generator = SplitMix64(seed: 3)
        let images = (0..<(batch * c.channels * 13 * 11)).map { _ in Float.random(in: -1...1, using: &generator) }
        var outputs: [[Float]] = []
        var bnOutputs: [[Float]] = []
        for (fuse, threads) in [(false, 1), (true, 1), (true, 2)] {
            let graph = Self.graph(c, threads: threads)
            graph.fusesInference = fuse
            images.withUnsafeBufferPointer { graph.setInput($0.baseAddress!, batch: batch) }
            graph.forward(batch: batch, training: false)
            let logits = graph.value(graph.output)
            outputs.append(Array(UnsafeBufferPointer(start: logits.data, count: logits.count)))
            let norm = graph.value(2)  // the first batch norm's output (fused into the first convolution)
            bnOutputs.append(Array(UnsafeBufferPointer(start: norm.data, count: norm.count)))
        }
        #expect(outputs[0].allSatisfy { $0.isFinite } && outputs[0].contains { $0 != 0 })
        #expect(outputs[1] == outputs[0], "fused inference differs from layer-by-layer for \(c)")
        #expect(bnOutputs[1] == bnOutputs[0], "fused batch-norm output differs for \(c)")
        #expect(outputs[2] == outputs[1], "fused inference depends on the thread count for \(c)")
    }
}
