import AutoShrinkData
import AutoShrinkEngine
import Foundation
import Testing
@testable import AutoShrinkModel

/// The baseline families (docs/baselines.md) and the inverted-residual stem block they need.
@Suite struct BaselineArchitectureTests {
    static let context = ExecutionContext(threads: 2)

    @Test func namesParseAndRoundTrip() throws {
        #expect(BaselineArchitectures.names == ["refnet-w0.5", "refnet", "refnet-w1.5", "refnet-w2", "refnet-w3",
                                                "mbv2-w0.5", "mbv2-w0.75", "mbv2-w1", "mbv2-w1.5"])
        for name in BaselineArchitectures.names {
            let architecture = try #require(BuiltinArchitectures.architecture(named: name))
            #expect(architecture.name == name)
            try architecture.validate(source: name)
        }
        #expect(BuiltinArchitectures.architecture(named: "mbv2-w0.35")?.name == "mbv2-w0.35")
        for bad in ["refnet-w0", "refnet-w0.50", "refnet-w1e0", "refnet-w100", "mbv2-w", "mbv2-wnan", "mbv2-w-1", "resnet-w1"] {
            #expect(BaselineArchitectures.parse(bad) == nil, "\(bad)")
            #expect(BuiltinArchitectures.architecture(named: bad) == nil, "\(bad)")
        }
    }

    @Test func refnetAtWidthOneIsRefnet() {
        #expect(BaselineArchitectures.refnet(width: 1) == BuiltinArchitectures.refnet())
        #expect(BuiltinArchitectures.architecture(named: "refnet-w1") == BuiltinArchitectures.refnet())
        // Files written before the block existed hash the same: no `expansion` key for other kinds.
        let json = String(decoding: BuiltinArchitectures.refnet().canonicalJSON(), as: UTF8.self)
        #expect(!json.contains("expansion"))
        #expect(BuiltinArchitectures.refnet().stableHash == "b90533bd45507f99")
        let wide = BaselineArchitectures.refnet(width: 1.5)
        #expect(wide.stem.map(\.outputChannels) == [24, 48, 48, 96, 96, 192])
        #expect(BaselineArchitectures.refnet(width: 0.5).stem.map(\.outputChannels) == [8, 16, 16, 32, 32, 64])
    }

    @Test func invertedResidualLowers() {
        let architecture = BaselineArchitectures.mobileNetV2(width: 1)
        let graph = architecture.lowered()
        let names = graph.layers.map(\.name)
        #expect(Array(names.prefix(10)) == ["stem0", "stem1.depthwise", "stem1.project", "stem2.expand", "stem2.depthwise",
                                             "stem2.project", "stem3.expand", "stem3.depthwise", "stem3.project", "stem3.add"])
        // Residual adds exactly where stride is 1 and the channels do not change.
        #expect(names.filter { $0.hasSuffix(".add") } == ["stem3.add", "stem5.add"])
        for (index, layer) in graph.layers.enumerated() {
            switch layer.operation {
            case .add:
                // project output + block input
                #expect(graph.tensors[layer.inputs[0]] == graph.tensors[layer.inputs[1]])
                #expect(graph.layers[index - 1].output == layer.inputs[0])
            case .convolution(let spec):
                if layer.name.hasSuffix(".project") { #expect(spec.activation == .none && spec.isPointwise) }
                if layer.name.hasSuffix(".expand") { #expect(spec.activation == .relu6 && spec.isPointwise) }
                if layer.name.hasSuffix(".depthwise") { #expect(spec.activation == .relu6 && spec.isDepthwise) }
            default: break
            }
        }
        let shapes = graph.layers.map { graph.tensors[$0.output].description }
        #expect(shapes[3] == "96x14x14" && shapes.last == "10x1x1")
        // Cost model: the expansion 1x1 of block 2 is 14*14*96*16 MACs.
        let cost = CostModel.costs(of: graph)
        #expect(cost.layers[3].macs == 14 * 14 * 96 * 16)
        #expect(cost.layers[9].macs == 0 && cost.layers[9].elementOperations == 24 * 14 * 14)
    }

    @Test func invertedResidualValidation() throws {
        func message(_ stem: [StemLayer]) -> String {
            let architecture = Architecture(name: "x", input: InputShape(channels: 1, height: 8, width: 8), classes: 2, stem: stem)
            do { try architecture.validate(source: "x.arch.json"); return "no error" } catch { return "\(error)" }
        }
        #expect(message([.invertedResidual(outputChannels: 4, expansion: 6)]) == "no error")
        #expect(message([StemLayer(.invertedResidual, outputChannels: 4, kernel: 3)]).contains("needs 'expansion'"))
        #expect(message([.invertedResidual(outputChannels: 4, expansion: 0)]).contains("expansion must be in 1...16"))
        #expect(message([.invertedResidual(outputChannels: 4, expansion: 17)]).contains("expansion must be in 1...16"))
        #expect(message([StemLayer(.conv, outputChannels: 4, kernel: 3, expansion: 2)]).contains("only for invertedResidual"))
        #expect(message([.invertedResidual(outputChannels: 0, expansion: 2)]).contains("outputChannels must be positive"))
        // A file round trip keeps the block; a file without `expansion` keys (written before) still loads.
        let mbv2 = BaselineArchitectures.mobileNetV2(width: 0.5)
        #expect(try Architecture.decode(mbv2.canonicalJSON(), source: "m.arch.json") == mbv2)
        let old = try Architecture.decode(BuiltinArchitectures.refnet().canonicalJSON(), source: "r.arch.json")
        #expect(old.stem.allSatisfy { $0.expansion == nil })
    }

    @Test func baselinesTrainOneStep() {
        var generator = SeededGenerator(seed: 1)
        let pixels = (0..<(16 * 784)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let dataset = Dataset(name: "random", split: .train, channels: 1, height: 28, width: 28, classCount: 10,
                              rawPixels: pixels, labels: (0..<16).map { Int32($0 % 10) })
        for name in ["mbv2-w0.5", "refnet-w0.5"] {
            let network = Network(architecture: BuiltinArchitectures.architecture(named: name)!, context: Self.context, seed: 2)
            let trainer = Trainer(network: network, configuration: TrainingConfiguration(
                epochs: 1, batchSize: 16, optimizer: OptimizerConfiguration(kind: .sgd, learningRate: 0.05, weightDecay: 0)))
            let before = network.namedTensors.map { $0.tensor.array }
            let (loss, _) = trainer.trainStep(dataset, indices: Array(0..<16)[...])
            #expect(loss.isFinite && loss > 0, "\(name): loss \(loss)")
            #expect(network.namedTensors.map { $0.tensor.array } != before, "\(name): a step changed nothing")
            #expect(network.parameterCount == CostModel.costs(of: network.layers).parameters)
        }
    }
}

/// Finite differences through a whole inverted-residual network (expansion, depthwise, linear
/// projection, residual add, so the stem output's gradient is the sum of two paths), on the
/// scalar L = sum(r * logits) as in Tests/EngineTests/GradientCheck.swift. The block adds no engine
/// operations; this checks the lowering wires the existing ones together correctly.
@Suite struct InvertedResidualGradientTests {
    @Test func parameterGradientsMatchFiniteDifferences() {
        let architecture = Architecture(name: "ir", input: InputShape(channels: 1, height: 6, width: 6), classes: 3, stem: [
            StemLayer(.conv, outputChannels: 4, kernel: 3, stride: 1, activation: .none),
            .invertedResidual(outputChannels: 4, expansion: 2),
            .invertedResidual(outputChannels: 6, expansion: 3, stride: 2),
        ])
        #expect(architecture.lowered().layers.contains { $0.name == "stem1.add" })
        let network = Network(architecture: architecture, context: ExecutionContext(threads: 1), seed: 11)
        let graph = network.graph
        let batch = 4
        var generator = SplitMix64(seed: 5)
        let images = (0..<(batch * 36)).map { _ in Float.random(in: -1...1, using: &generator) }
        let weights = (0..<(batch * 3)).map { _ in Double(Float.random(in: -1...1, using: &generator)) }
        graph.prepare(batch: batch)
        func loss() -> Double {
            images.withUnsafeBufferPointer { graph.setInput($0.baseAddress!, batch: batch) }
            graph.forward(batch: batch, training: true)
            let logits = graph.value(graph.output)
            return (0..<logits.count).reduce(0.0) { $0 + Double(logits.data[$1]) * weights[$1] }
        }
        _ = loss()
        let outputGradient = graph.gradient(graph.output)
        for index in 0..<outputGradient.count { outputGradient.data[index] = Float(weights[index]) }
        graph.backward()
        var checked = 0, good = 0
        var bad: [String] = []
        for parameter in network.parameters where parameter.name.hasPrefix("stem") && parameter.name.hasSuffix(".weight") {
            let analytic = parameter.gradient.array
            let largest = analytic.map(abs).max() ?? 0
            for index in stride(from: 0, to: parameter.value.count, by: max(1, parameter.value.count / 6)) {
                let saved = parameter.value.data[index]
                let step: Float = 1e-3
                parameter.value.data[index] = saved + step
                let plus = loss()
                parameter.value.data[index] = saved - step
                let minus = loss()
                parameter.value.data[index] = saved
                let numeric = (plus - minus) / (2 * Double(step))
                let error = abs(Double(analytic[index]) - numeric) / max(0.01 * Double(largest), abs(Double(analytic[index])) + abs(numeric), 1e-4)
                checked += 1
                if error < 2e-2 { good += 1 } else { bad.append("\(parameter.name)[\(index)] a=\(analytic[index]) n=\(numeric)") }
            }
        }
        #expect(checked >= 30)
        // ReLU6 kinks can spoil a finite difference or two; a wrong wiring spoils most of them.
        #expect(good * 10 >= checked * 9, "\(good) of \(checked) parameter gradients match finite differences; off: \(bad.joined(separator: ", "))")
    }
}
