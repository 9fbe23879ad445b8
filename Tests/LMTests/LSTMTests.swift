import AutoShrinkData
import AutoShrinkEngine
@testable import AutoShrinkLM
import AutoShrinkModel
import Foundation
import Testing

/// Small random LSTM models for the checks below.
struct TinyLSTM {
    static func model(vocabulary: Int = 11, embed: Int = 5, hidden: Int = 4, tied: Bool = false, seed: UInt64 = 3,
                      threads: Int = 2) -> LSTMLanguageModel {
        let model = LSTMLanguageModel(shape: LanguageModelShape(vocabulary: vocabulary, embed: tied ? hidden : embed, hidden: hidden, tied: tied),
                                      context: ExecutionContext(threads: threads), seed: seed)
        // Larger weights than the training initialisation, so every gate carries a visible gradient.
        var generator = SplitMix64(seed: seed &+ 99)
        for p in model.parameters { for i in 0..<p.value.count { p.value.data[i] = Float.random(in: -0.6...0.6, using: &generator) } }
        return model
    }

    static func initialState(batch: Int, hidden: Int) -> [Float] {
        (0..<(2 * batch * hidden)).map { Float(($0 * 7) % 9) * 0.1 - 0.4 }
    }
}

/// The LSTM baseline (docs/shrinkrnn.md, "LSTM baseline"): the fast path against its float64 twin,
/// finite-difference gradients, sizes, and the checkpoint with its model kind.
@Suite struct LSTMTests {
    @Test func fastPathMatchesTheReference() {
        let (steps, batch, h) = (4, 3, 4)
        for tied in [false, true] {
            let model = TinyLSTM.model(tied: tied)
            let inputs = TinyLM.tokens(steps * batch, vocabulary: 11, seed: 5), targets = TinyLM.tokens(steps * batch, vocabulary: 11, seed: 6)
            let initial = TinyLSTM.initialState(batch: batch, hidden: h)
            for masks in [nil, DropoutMasks(dropout: LMDropout(input: 0.3, hidden: 0.3, output: 0.3), batch: batch, embed: model.shape.embed, hidden: h, seed: 9)] {
                let state = Tensor(shape: [2, batch, h], values: initial)
                let loss = model.forward(inputs: inputs, targets: targets, steps: steps, batch: batch, state: state, masks: masks)
                let reference = LSTMReference.forward(model: model, inputs: inputs, targets: targets, steps: steps, batch: batch,
                                                      state: initial, masks: masks)
                #expect(abs(loss - reference.loss) < 1e-4 * max(1, abs(reference.loss)), "tied \(tied)")
                #expect(state.count == reference.state.count)
                for i in 0..<state.count { #expect(abs(Double(state.data[i]) - reference.state[i]) < 1e-5, "state \(i)") }
            }
        }
    }

    /// Worst relative error over every element of every parameter (backward against central differences
    /// of the float64 reference's mean cross-entropy), floored at 1 % of the tensor's largest gradient.
    func worstError(_ model: LSTMLanguageModel, steps: Int = 3, batch: Int = 2, dropout: LMDropout) -> [String: Double] {
        let h = model.shape.hidden, v = model.shape.vocabulary
        let inputs = TinyLM.tokens(steps * batch, vocabulary: v, seed: 11), targets = TinyLM.tokens(steps * batch, vocabulary: v, seed: 12)
        let initial = TinyLSTM.initialState(batch: batch, hidden: h)
        let masks = DropoutMasks(dropout: dropout, batch: batch, embed: model.shape.embed, hidden: h, seed: 4)
        model.forward(inputs: inputs, targets: targets, steps: steps, batch: batch, state: Tensor(shape: [2, batch, h], values: initial), masks: masks)
        model.backward(inputs: inputs, steps: steps, batch: batch, masks: masks)
        let rows = Double(steps * batch)
        func loss() -> Double {
            LSTMReference.forward(model: model, inputs: inputs, targets: targets, steps: steps, batch: batch, state: initial, masks: masks).loss / rows
        }
        for p in model.parameters { #expect(p.gradient.array.contains { $0 != 0 }, "\(p.name): no gradient at all") }
        return TinyLM.worstErrors(model.parameters, loss: loss)
    }

    @Test func gradientsMatchFiniteDifferences() {
        // Untied with dropout on every path (input, recurrent state, output) over 4 steps.
        let untied = worstError(TinyLSTM.model(), steps: 4, dropout: LMDropout(input: 0.25, hidden: 0.25, output: 0.25))
        #expect(untied.count == 6)
        for (name, error) in untied { #expect(error < 2e-3, "untied \(name): worst relative error \(error)") }
        // Tied decoder (the embedding also decodes), no dropout.
        let tied = worstError(TinyLSTM.model(tied: true), dropout: .none)
        #expect(tied.count == 5)
        for (name, error) in tied { #expect(error < 2e-3, "tied \(name): worst relative error \(error)") }
    }

    @Test func costsAndSizeMatching() {
        let shape = LanguageModelShape(vocabulary: 10_000, embed: 200, hidden: 200, tied: true)
        let cost = LSTMCost(shape: shape)
        #expect(cost.cellMACs == 400 * 800)
        #expect(cost.macsPerToken == cost.cellMACs + 200 * 10_000)
        let model = LSTMLanguageModel(shape: shape, context: ExecutionContext(threads: 1), seed: 1)
        #expect(model.parameterCount == cost.parameters)
        #expect(cost.parameters == 400 * 800 + 800 + 10_000 * 200 + 10_000)
        // The default cell model (full 8-node cell, 200/200 tied): the widest LSTM not above its 2.73M parameters.
        let cell = LanguageModelCost(cell: .fullyConnected(nodes: 8), shape: shape)
        let matched = try! #require(LSTMCost.matching(parameters: cell.parameters, vocabulary: 10_000, embed: 200, tied: true))
        #expect(matched.tied && matched.embed == matched.hidden)
        #expect(LSTMCost(shape: matched).parameters <= cell.parameters)
        var wider = matched; wider.embed += 1; wider.hidden += 1
        #expect(LSTMCost(shape: wider).parameters > cell.parameters)
        // Untied: the embedding stays, the hidden width grows.
        let untied = try! #require(LSTMCost.matching(parameters: cell.parameters, vocabulary: 10_000, embed: 200, tied: false))
        #expect(untied.embed == 200 && !untied.tied && LSTMCost(shape: untied).parameters <= cell.parameters)
        #expect(LSTMCost.matching(parameters: 10, vocabulary: 10_000, embed: 200, tied: true) == nil)
        // The forget gate starts open (bias 1), the others at 0.
        #expect(Array(model.bias.value.array[200..<400]).allSatisfy { $0 == 1 })
        #expect(Array(model.bias.value.array[0..<200]).allSatisfy { $0 == 0 } && Array(model.bias.value.array[400...]).allSatisfy { $0 == 0 })
    }

    /// The trainer drives the LSTM through `RecurrentLanguageModel`, the same seed gives the same
    /// weights with 1 or 2 threads, and training cuts the perplexity of a structured stream.
    @Test func trainsThroughTheSharedTrainer() {
        // A stream with structure: token t+1 = (3 * token t + 1) mod 40 most of the time.
        var generator = SplitMix64(seed: 21)
        var stream: [Int32] = [0]
        for _ in 0..<5999 {
            let next = generator.next() % 5 == 0 ? Int32(generator.next() % 40) : (3 * stream.last! + 1) % 40
            stream.append(next)
        }
        func train(threads: Int) -> (weights: [[Float]], before: Double, after: Double) {
            let shape = LanguageModelShape(vocabulary: 40, embed: 24, hidden: 24, tied: true)
            let model = LSTMLanguageModel(shape: shape, context: ExecutionContext(threads: threads), seed: 2)
            let trainer = LMTrainer(model: model, configuration: LMTrainingConfiguration(epochs: 8, batchSize: 16, bptt: 20, learningRate: 10,
                                                                                         clip: 0.5, dropout: .none, seed: 2))
            let valid = Array(stream.suffix(600))
            let before = trainer.evaluate(valid).perplexity
            let result = trainer.fit(train: Array(stream.prefix(5400)), valid: valid)
            #expect(result.divergedEpoch == nil)
            return (model.parameters.map(\.value.array), before, trainer.evaluate(valid).perplexity)
        }
        let one = train(threads: 1), two = train(threads: 2)
        #expect(one.weights == two.weights)
        #expect(one.before > 30 && one.after < 8, "validation perplexity \(one.before) -> \(one.after)")
    }

    @Test func checkpointRecordsTheModelKind() throws {
        let vocabulary = try Vocabulary(words: ["<unk>", "<eos>"] + (0..<9).map { "w\($0)" })
        let model = TinyLSTM.model(tied: true)
        let metadata = LMCheckpointMetadata(corpus: "test", epochs: 2, validPerplexity: 7.5, testPerplexity: 8, seed: 3, bptt: 35)
        let data = LMCheckpoint(model: model, vocabulary: vocabulary, metadata: metadata).encoded()
        #expect(Array(data[8..<12]) == [2, 0, 0, 0])
        let loaded = try LMCheckpoint.decode(data, source: "m.ckpt")
        #expect(loaded.architecture == .lstm && loaded.cell == nil && loaded.shape == model.shape && loaded.metadata == metadata)
        let rebuilt = try #require(try loaded.makeModel(context: ExecutionContext(threads: 1)) as? LSTMLanguageModel)
        for (a, b) in zip(model.parameters, rebuilt.parameters) { #expect(a.name == b.name && a.value.array == b.value.array) }
        // The rebuilt model computes the same loss.
        let inputs = TinyLM.tokens(12, vocabulary: 11, seed: 1), targets = TinyLM.tokens(12, vocabulary: 11, seed: 2)
        let a = model.forward(inputs: inputs, targets: targets, steps: 4, batch: 3, state: model.initialState(batch: 3), masks: nil)
        let b = rebuilt.forward(inputs: inputs, targets: targets, steps: 4, batch: 3, state: rebuilt.initialState(batch: 3), masks: nil)
        #expect(a == b)
        // A cell checkpoint is still a cell checkpoint.
        let cellModel = TinyLM.model(RNNCell(activations: [.tanh, .relu], edges: [Edge(0, 1)]))
        let cellLoaded = try LMCheckpoint.decode(LMCheckpoint(model: cellModel, vocabulary: vocabulary, metadata: metadata).encoded(), source: "c.ckpt")
        #expect(cellLoaded.cell == cellModel.cell)
        #expect(try cellLoaded.makeModel(context: ExecutionContext(threads: 1)) is LanguageModel)
    }

    /// Version 1 (before the LSTM: no `model` field, always a cell) is still read; an unknown kind,
    /// a kind contradicting the cell field, and a newer version are one-line errors.
    @Test func olderAndForeignCheckpointVersions() throws {
        let vocabulary = try Vocabulary(words: ["<unk>", "<eos>"] + (0..<9).map { "w\($0)" })
        let metadata = LMCheckpointMetadata(corpus: "test", epochs: 1, validPerplexity: nil, testPerplexity: nil, seed: 3, bptt: 35)
        let cellModel = TinyLM.model(RNNCell(activations: [.tanh, .relu], edges: [Edge(0, 1)]))
        let checkpoint = LMCheckpoint(model: cellModel, vocabulary: vocabulary, metadata: metadata)
        struct Version1Header: Codable {
            var cell: RNNCell; var shape: LanguageModelShape; var vocabulary: [String]; var metadata: LMCheckpointMetadata
            var tensors: [TensorFrame.TensorRecord]
        }
        let version1 = TensorFrame.encode(LMCheckpoint.frameVersion1,
                                          header: Version1Header(cell: cellModel.cell, shape: cellModel.shape, vocabulary: vocabulary.words,
                                                                 metadata: metadata, tensors: checkpoint.tensors.map(\.record)),
                                          values: checkpoint.tensors.map(\.values))
        let old = try LMCheckpoint.decode(version1, source: "old.ckpt")
        #expect(old.architecture == .cell(cellModel.cell))
        func encoded(model: String?, cell: RNNCell?, version: UInt32 = 2) -> Data {
            TensorFrame.encode(TensorFrame.Kind(magic: "ASHRLMCK", version: version, name: "language-model checkpoint"),
                               header: LMCheckpoint.Header(model: model, cell: cell, shape: cellModel.shape, vocabulary: vocabulary.words,
                                                           metadata: metadata, tensors: checkpoint.tensors.map(\.record)),
                               values: checkpoint.tensors.map(\.values))
        }
        func message(_ data: Data) -> String {
            switch Result(catching: { try LMCheckpoint.decode(data, source: "x.ckpt") }) {
            case .success: ""
            case .failure(let error): "\(error)"
            }
        }
        #expect(message(encoded(model: "gru", cell: nil)).contains("unknown model kind 'gru'"))
        #expect(message(encoded(model: nil, cell: cellModel.cell)).contains("unknown model kind (none)"))
        #expect(message(encoded(model: "lstm", cell: cellModel.cell)).contains("an lstm model with a cell"))
        #expect(message(encoded(model: "rnn-cell", cell: nil)).contains("without its cell"))
        #expect(message(encoded(model: "rnn-cell", cell: cellModel.cell, version: 3)).contains("unsupported language-model checkpoint version 3"))
        // An LSTM header over a cell model's tensors: refused when the model is built.
        let mismatched = try LMCheckpoint.decode(encoded(model: "lstm", cell: nil), source: "x.ckpt")
        #expect(throws: CheckpointError.self) { _ = try mismatched.makeModel(context: ExecutionContext(threads: 1)) }
    }
}
