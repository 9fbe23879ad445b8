import AutoShrinkData
import AutoShrinkEngine
@testable import AutoShrinkLM
import AutoShrinkModel
import Foundation
import Testing

/// Small random models for the checks below.
struct TinyLM {
    static func model(_ cell: RNNCell, vocabulary: Int = 11, embed: Int = 5, hidden: Int = 4, tied: Bool = false, seed: UInt64 = 3) -> LanguageModel {
        let model = LanguageModel(cell: cell, shape: LanguageModelShape(vocabulary: vocabulary, embed: tied ? hidden : embed, hidden: hidden, tied: tied),
                                  context: ExecutionContext(threads: 2), seed: seed)
        // Larger weights than the training initialisation, so every path carries a visible gradient.
        var generator = SplitMix64(seed: seed &+ 99)
        for p in model.parameters { for i in 0..<p.value.count { p.value.data[i] = Float.random(in: -0.6...0.6, using: &generator) } }
        return model
    }

    static func tokens(_ count: Int, vocabulary: Int, seed: UInt64) -> [Int32] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int32(generator.next() % UInt64(vocabulary)) }
    }

    /// Worst relative error per parameter of the analytic gradients (`gradient`, from `backward`) against
    /// central differences of `loss` (the float64 reference's mean cross-entropy), each error floored
    /// at 1 % of its tensor's largest gradient. Every value is restored afterwards.
    static func worstErrors(_ parameters: [Parameter], loss: () -> Double) -> [String: Double] {
        var worst: [String: Double] = [:]
        for p in parameters {
            let analytic = p.gradient.array
            let floor = max(1e-6, 0.01 * (analytic.map { abs(Double($0)) }.max() ?? 0))
            for i in 0..<p.value.count {
                let saved = p.value.data[i]
                let step: Float = 1e-3
                p.value.data[i] = saved + step
                let plusStep = Double(p.value.data[i]) - Double(saved)
                let plus = loss()
                p.value.data[i] = saved - step
                let minusStep = Double(saved) - Double(p.value.data[i])
                let minus = loss()
                p.value.data[i] = saved
                let numeric = (plus - minus) / (plusStep + minusStep)
                let error = abs(Double(analytic[i]) - numeric) / max(floor, abs(Double(analytic[i])) + abs(numeric))
                worst[p.name] = max(worst[p.name] ?? 0, error)
            }
        }
        return worst
    }

    /// Every edge subset of a `nodes`-node DAG.
    static func everyCell(nodes: Int, activations: [RNNActivation]) -> [RNNCell] {
        let all = RNNCell.fullyConnected(nodes: nodes).edges
        return (0..<(1 << all.count)).map { mask in
            RNNCell(activations: activations, edges: all.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element))
        }
    }
}

@Suite struct RNNCellTests {
    @Test func fullyConnectedCellAndItsTopology() throws {
        let cell = RNNCell.fullyConnected(nodes: 8)
        #expect(cell.edges.count == 28)
        #expect(cell.activations == [.tanh, .tanh, .relu, .sigmoid, .identity, .tanh, .relu, .sigmoid])
        #expect(cell.schedule.leaves == [7])
        // AutoShrink's edge removal applies unchanged: removing 0->1 leaves node 1 reachable? No: it only had 0 as input.
        let shrunk = cell.removing(Edge(0, 1))
        #expect(!shrunk.topology.reachable[1])
        #expect(!shrunk.edges.contains { $0.from == 1 })
        try cell.validate(source: "cell")
        // The file round-trips through the versioned loader.
        let decoded = try RNNCell.decodeDocument(cell.jsonData(), source: "x.rnncell.json")
        #expect(decoded == cell)
        #expect(throws: (any Error).self) {
            try RNNCell.decodeDocument(Data(#"{"format":"autoshrink.rnn-cell","version":1,"activations":["tanh","tanh"],"edges":[[1,0]]}"#.utf8), source: "bad")
        }
        #expect(throws: (any Error).self) {
            try RNNCell.decodeDocument(Data(#"{"format":"autoshrink.rnn-cell","version":1,"activations":["tanh","softsign"],"edges":[]}"#.utf8), source: "bad")
        }
    }

    @Test func costsCountLiveNodes() {
        let shape = LanguageModelShape(vocabulary: 10_000, embed: 200, hidden: 200, tied: true)
        let full = LanguageModelCost(cell: .fullyConnected(nodes: 8), shape: shape)
        #expect(full.cellMACs == 400 * 400 + 7 * 200 * 400)
        #expect(full.macsPerToken == full.cellMACs + 200 * 10_000)
        #expect(full.cellParameters == full.cellMACs + 8 * 200)  // and a gate bias [H] per node
        #expect(full.parameters == full.cellParameters + 10_000 * 200 + 10_000)
        let model = LanguageModel(cell: .fullyConnected(nodes: 8), shape: shape, context: ExecutionContext(threads: 1), seed: 1)
        #expect(model.parameterCount == full.parameters)
        // The gate biases start at the default (nodes carry their input at first) or the value given.
        #expect(model.gateBiases.count == 8 && model.gateBiases.values.allSatisfy { $0.value.array.allSatisfy { $0 == LanguageModel.defaultGateBias } })
        let zero = LanguageModel(cell: .fullyConnected(nodes: 3), shape: shape, context: ExecutionContext(threads: 1), seed: 1, gateBias: 0)
        #expect(zero.gateBiases.values.allSatisfy { $0.value.array.allSatisfy { $0 == 0 } })
        let chain = RNNCell(activations: [.tanh, .relu, .relu], edges: [Edge(0, 2)])  // node 1 unreachable
        #expect(LanguageModelCost(cell: chain, shape: shape).cellMACs == 400 * 400 + 200 * 400)
    }

    /// The builder runs every DAG of the 4-node space (64 edge subsets), and the fast path
    /// agrees with the reference on each (loss and final state).
    @Test func builderRunsEveryDAGOfASmallSpace() throws {
        let cells = TinyLM.everyCell(nodes: 4, activations: [.tanh, .relu, .sigmoid, .identity])
        #expect(cells.count == 64)
        let (steps, batch) = (3, 2)
        for cell in cells {
            try cell.validate(source: "cell")
            let model = TinyLM.model(cell)
            let inputs = TinyLM.tokens(steps * batch, vocabulary: 11, seed: 5), targets = TinyLM.tokens(steps * batch, vocabulary: 11, seed: 6)
            let initial = (0..<(batch * 4)).map { Float($0 % 5) * 0.1 - 0.2 }
            let state = Tensor(shape: [batch, 4], values: initial)
            let masks = DropoutMasks(dropout: LMDropout(input: 0.3, hidden: 0.3, output: 0.3), batch: batch, embed: 5, hidden: 4, seed: 9)
            let loss = model.forward(inputs: inputs, targets: targets, steps: steps, batch: batch, state: state, masks: masks)
            model.backward(inputs: inputs, steps: steps, batch: batch, masks: masks)
            let reference = LanguageModelReference.forward(model: model, inputs: inputs, targets: targets, steps: steps, batch: batch,
                                                           state: initial, masks: masks)
            #expect(abs(loss - reference.loss) < 1e-4 * max(1, abs(reference.loss)), "cell \(cell.edges)")
            for i in 0..<state.count { #expect(abs(Double(state.data[i]) - reference.state[i]) < 1e-5) }
            #expect(model.parameters.allSatisfy { p in p.gradient.array.allSatisfy(\.isFinite) })
        }
    }
}

/// Finite-difference gradient checks of the recurrent path: analytic gradients from `backward`
/// against central differences of the float64 reference loss (mean cross-entropy), for every
/// activation, several leaves (mean), several predecessors (mean), dropout masks, tied and untied decoders.
@Suite struct LMGradientTests {
    /// Worst relative error over every element of every parameter, floored at 1 % of the tensor's largest gradient.
    func worstError(_ model: LanguageModel, steps: Int = 3, batch: Int = 2, dropout: LMDropout) -> Double {
        let h = model.shape.hidden, v = model.shape.vocabulary
        let inputs = TinyLM.tokens(steps * batch, vocabulary: v, seed: 11), targets = TinyLM.tokens(steps * batch, vocabulary: v, seed: 12)
        let initial = (0..<(batch * h)).map { Float(($0 * 7) % 9) * 0.1 - 0.4 }
        let masks = DropoutMasks(dropout: dropout, batch: batch, embed: model.shape.embed, hidden: h, seed: 4)
        model.forward(inputs: inputs, targets: targets, steps: steps, batch: batch, state: Tensor(shape: [batch, h], values: initial), masks: masks)
        model.backward(inputs: inputs, steps: steps, batch: batch, masks: masks)
        let rows = Double(steps * batch)
        func loss() -> Double {
            LanguageModelReference.forward(model: model, inputs: inputs, targets: targets, steps: steps, batch: batch, state: initial, masks: masks).loss / rows
        }
        return TinyLM.worstErrors(model.parameters, loss: loss).values.max() ?? 0
    }

    @Test(arguments: RNNActivation.allCases)
    func everyActivation(_ activation: RNNActivation) {
        // 0 -> 1, 0 -> 2, 1 -> 2, 1 -> 3: node 2 averages two inputs, leaves 2 and 3 are averaged.
        let cell = RNNCell(activations: [activation, activation, activation, activation], edges: [Edge(0, 1), Edge(0, 2), Edge(1, 2), Edge(1, 3)])
        #expect(cell.schedule.leaves == [2, 3])
        let error = worstError(TinyLM.model(cell), dropout: LMDropout(input: 0.25, hidden: 0.25, output: 0.25))
        #expect(error < 2e-3, "\(activation): worst relative error \(error)")
    }

    @Test func tiedDecoderAndSingleNodeCell() {
        let tied = TinyLM.model(RNNCell(activations: [.tanh, .sigmoid, .relu], edges: [Edge(0, 1), Edge(1, 2), Edge(0, 2)]), tied: true)
        #expect(worstError(tied, dropout: .none) < 2e-3)
        let single = TinyLM.model(RNNCell(activations: [.tanh], edges: []))
        #expect(worstError(single, steps: 4, dropout: LMDropout(input: 0.2, hidden: 0.2, output: 0))  < 2e-3)
    }

    @Test func clippingBoundsTheGlobalNorm() {
        let a = Parameter(name: "a", shape: [2], decay: true), b = Parameter(name: "b", shape: [1], decay: false)
        a.gradient.data[0] = 3; a.gradient.data[1] = 0; b.gradient.data[0] = 4
        let norm = LMTrainer.clipGradients([a, b], maximumNorm: 1)
        #expect(abs(norm - 5) < 1e-9)
        #expect(abs(a.gradient.data[0] - 0.6) < 1e-5 && abs(b.gradient.data[0] - 0.8) < 1e-5)
        #expect(abs(LMTrainer.clipGradients([a, b], maximumNorm: 10) - 1) < 1e-5)
        #expect(abs(a.gradient.data[0] - 0.6) < 1e-5)  // below the bound: unchanged
    }
}

@Suite struct LMTrainingTests {
    /// A tiny corpus with structure (a deterministic grammar): a few epochs must cut the validation
    /// perplexity far below the untrained model's (about the vocabulary size).
    @Test func tinyTrainingLowersPerplexity() throws {
        var generator = SplitMix64(seed: 8)
        let subjects = ["the cat", "a dog", "the bird"], verbs = ["sees", "likes"], objects = ["the fish", "a mouse", "the tree"]
        func sentences(_ count: Int) -> String {
            (0..<count).map { _ in
                "\(subjects.randomElement(using: &generator)!) \(verbs.randomElement(using: &generator)!) \(objects.randomElement(using: &generator)!)"
            }.joined(separator: "\n") + "\n"
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autoshrink-lm-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, count) in [("ptb.train.txt", 600), ("ptb.valid.txt", 60), ("ptb.test.txt", 60)] {
            try sentences(count).write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        }
        let corpus = try LanguageCorpusLoader.load(directory: directory)
        #expect(corpus.vocabulary.count == 12)
        let shape = LanguageModelShape(vocabulary: corpus.vocabulary.count, embed: 16, hidden: 16, tied: true)
        let model = LanguageModel(cell: .fullyConnected(nodes: 4), shape: shape, context: ExecutionContext(threads: 2), seed: 1)
        let trainer = LMTrainer(model: model, configuration: LMTrainingConfiguration(
            epochs: 6, batchSize: 8, bptt: 10, learningRate: 5, clip: 0.5, dropout: .none, evaluationBatch: 4))
        let before = trainer.evaluate(corpus.valid).perplexity
        var reports: [LMEpochReport] = []
        let result = trainer.fit(train: corpus.train, valid: corpus.valid, onEpoch: { reports.append($0) })
        let after = trainer.evaluate(corpus.valid).perplexity
        #expect(before > 10)
        // The grammar's entropy: 3 subjects x 2 verbs x 3 objects over 8 predictions a sentence (about 1.5).
        #expect(after < 3.5, "validation perplexity \(before) -> \(after)")
        #expect(result.divergedEpoch == nil && reports.count == 6)
        #expect(abs(after - result.bestValidPerplexity) < 1e-6 * after)
    }

    /// `--asgd-start`: averaging from a fixed epoch, whatever the validation does; without it NT-ASGD's trigger.
    @Test func fixedAveragingStart() {
        let stream = TinyLM.tokens(3000, vocabulary: 40, seed: 5)
        func fit(start: Int?) -> (LMTrainingResult, [LMEpochReport]) {
            let shape = LanguageModelShape(vocabulary: 40, embed: 8, hidden: 8, tied: true)
            let model = LanguageModel(cell: .fullyConnected(nodes: 3), shape: shape, context: ExecutionContext(threads: 1), seed: 4)
            let trainer = LMTrainer(model: model, configuration: LMTrainingConfiguration(
                epochs: 4, batchSize: 8, bptt: 10, learningRate: 2, averagingStartEpoch: start, evaluationBatch: 4, seed: 4))
            var reports: [LMEpochReport] = []
            let result = trainer.fit(train: Array(stream.prefix(2500)), valid: Array(stream.suffix(500)), onEpoch: { reports.append($0) })
            return (result, reports)
        }
        let (fixed, reports) = fit(start: 3)
        #expect(fixed.averagingStartEpoch == 3)
        #expect(reports.map(\.averaging) == [false, false, true, true])
        // Averaging keeps a mean beside the SGD iterates and does not change them: every epoch trains exactly as
        // without it; the validation before the start too, after it with the averaged weights.
        let (_, plain) = fit(start: nil)
        #expect(reports.map(\.trainPerplexity) == plain.map(\.trainPerplexity))
        #expect(reports.prefix(2).map(\.validPerplexity) == plain.prefix(2).map(\.validPerplexity))
    }

    /// GEMM blocks by shape, softmax rows and bias columns in fixed chunks: the same seed gives the
    /// same weights bit for bit with 1 or 2 threads (docs/architecture.md, "Threads").
    @Test func trainingIsThreadIndependent() {
        // Decoder GEMM 320 x 300 x 32: cut into blocks by `GEMM.blocking`; softmax over 2 chunks.
        #expect(GEMM.blocking(m: 320, n: 300, k: 32).count > 1)
        let stream = TinyLM.tokens(6000, vocabulary: 300, seed: 21)
        func train(threads: Int) -> [[Float]] {
            let shape = LanguageModelShape(vocabulary: 300, embed: 32, hidden: 32, tied: true)
            let model = LanguageModel(cell: .fullyConnected(nodes: 4), shape: shape, context: ExecutionContext(threads: threads), seed: 2)
            let trainer = LMTrainer(model: model, configuration: LMTrainingConfiguration(epochs: 1, batchSize: 16, bptt: 20, seed: 2))
            _ = trainer.fit(train: Array(stream.prefix(5400)), valid: Array(stream.suffix(600)))
            return model.parameters.map(\.value.array)
        }
        #expect(train(threads: 1) == train(threads: 2))
    }

    @Test func checkpointRoundTripsAndRejectsCorruption() throws {
        let vocabulary = try Vocabulary(words: ["<unk>", "<eos>"] + (0..<9).map { "w\($0)" })
        let model = TinyLM.model(RNNCell(activations: [.tanh, .relu, .identity], edges: [Edge(0, 1), Edge(0, 2)]))
        let metadata = LMCheckpointMetadata(corpus: "test", epochs: 2, validPerplexity: 7.5, testPerplexity: 8, seed: 3, bptt: 35)
        let data = LMCheckpoint(model: model, vocabulary: vocabulary, metadata: metadata).encoded()
        let loaded = try LMCheckpoint.decode(data, source: "m.ckpt")
        #expect(loaded.metadata == metadata && loaded.cell == model.cell && loaded.vocabulary == vocabulary)
        let rebuilt = try loaded.makeModel(context: ExecutionContext(threads: 1))
        for (a, b) in zip(model.parameters, rebuilt.parameters) { #expect(a.value.array == b.value.array) }
        // A checkpoint written before the gate biases (the same tensors without them) loads with zero biases,
        // the function its cell computed.
        var old = LMCheckpoint(model: model, vocabulary: vocabulary, metadata: metadata)
        old.tensors.removeAll { $0.record.name.hasSuffix(".gate_bias") }
        #expect(old.tensors.count == model.parameters.count - 3)
        let oldModel = try LMCheckpoint.decode(old.encoded(), source: "old.ckpt").makeModel(context: ExecutionContext(threads: 1))
        for (a, b) in zip(model.parameters, oldModel.parameters) {
            #expect(b.value.array == (a.name.hasSuffix(".gate_bias") ? [Float](repeating: 0, count: a.value.count) : a.value.array))
        }
        var flipped = data
        flipped[flipped.count - 20] ^= 0x40
        #expect(throws: CheckpointError.self) { _ = try LMCheckpoint.decode(flipped, source: "m.ckpt") }
        #expect(throws: CheckpointError.self) { _ = try LMCheckpoint.decode(data.prefix(data.count - 3), source: "m.ckpt") }
        #expect(throws: CheckpointError.self) { _ = try LMCheckpoint.decode(Data("ASHRCKPT and more bytes here.........".utf8), source: "m.ckpt") }
    }
}
