import AutoShrinkData
import AutoShrinkEngine
import Foundation
import Testing
@testable import AutoShrinkModel

/// Builder, training loop and checkpoints of trainable networks.
@Suite struct NetworkTests {
    static let context = ExecutionContext(threads: 2)

    /// A small random dataset: `count` images of 1x12x12 with labels 0..<classes.
    static func randomDataset(count: Int, classes: Int = 4, seed: UInt64 = 1) -> Dataset {
        var generator = SeededGenerator(seed: seed)
        let pixels = (0..<(count * 144)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let labels = (0..<count).map { Int32($0 % classes) }
        return Dataset(name: "random", split: .train, channels: 1, height: 12, width: 12, classCount: classes,
                       rawPixels: pixels, labels: labels)
    }

    static func tinyCellNetwork(classes: Int = 4) -> Architecture {
        let cell = CellDAG(nodes: 4, operations: [.input, .sepconv3x3, .conv1x1, .sepconv3x3],
                           edges: [Edge(0, 1), Edge(0, 2), Edge(1, 3), Edge(2, 3), Edge(0, 3)])
        return BuiltinArchitectures.shrinkCNN(cell: cell, name: "tiny", baseWidth: 4,
                                              input: InputShape(channels: 1, height: 12, width: 12), classes: classes)
    }

    @Test func refnetShapesAndParameters() {
        let network = Network(architecture: BuiltinArchitectures.refnet(), context: Self.context, seed: 1)
        let shapes = network.layers.layers.map { network.layers.tensors[$0.output].description }
        #expect(shapes == ["16x28x28", "32x14x14", "32x14x14", "64x14x14", "64x7x7", "128x7x7", "128x1x1", "10x1x1"])
        // convolutions 144 + 4608 + 288 + 2048 + 576 + 8192, BN 2 x 336, linear 1280 + 10
        #expect(network.parameterCount == 17818)
        let depthwise = network.layers.layers.compactMap { node -> ConvolutionSpec? in
            if case .convolution(let spec) = node.operation, spec.isDepthwise { return spec } else { return nil }
        }
        #expect(depthwise.map(\.stride) == [1, 2])
    }

    @Test func tinyNetworkLearnsATinyBatch() {
        let dataset = Self.randomDataset(count: 32)
        let network = Network(architecture: Self.tinyCellNetwork(), context: Self.context, seed: 3)
        let trainer = Trainer(network: network, configuration: TrainingConfiguration(
            epochs: 1, batchSize: 32, optimizer: OptimizerConfiguration(kind: .adam, learningRate: 0.01, weightDecay: 0), schedule: .constant))
        let first = trainer.trainStep(dataset, indices: Array(0..<32)[...]).0
        var last = first
        for _ in 0..<80 { last = trainer.trainStep(dataset, indices: Array(0..<32)[...]).0 }
        #expect(last < first * 0.3, "loss went from \(first) to \(last)")
    }

    @Test("plain cells: no residual add or projection, the cell output is the leaves' concat; the key is written only when false")
    func plainCells() throws {
        let residual = Self.tinyCellNetwork()
        var plain = residual
        plain.stages = plain.stages.withResidual(false)
        let withAdd = residual.lowered(), without = plain.lowered()
        let extra = withAdd.layers.map(\.name).filter { !without.layers.map(\.name).contains($0) }
        // every cell of the residual network has an add (the last two with a projection: width or resolution change)
        #expect(extra.filter { $0.hasSuffix(".output.add") }.count == 3 && extra.allSatisfy { $0.contains(".output.add") || $0.contains(".residual.projection") })
        #expect(without.layers.map(\.name) == withAdd.layers.map(\.name).filter { !extra.contains($0) })
        #expect(!without.layers.contains { $0.name.contains(".output.add") || $0.name.contains(".residual.") })
        // Files: no key for residual cells (architectures written before it hash the same), false for plain ones.
        #expect(!String(decoding: residual.canonicalJSON(), as: UTF8.self).contains("residual"))
        #expect(String(decoding: plain.canonicalJSON(), as: UTF8.self).contains("\"residual\" : false"))
        let decoded = try Architecture.decode(plain.canonicalJSON(), source: "plain")
        #expect(decoded == plain && decoded.stableHash != residual.stableHash)
        #expect(try Architecture.decode(residual.canonicalJSON(), source: "residual") == residual)
        #expect(ArchitectureSummary.render(plain).contains("cells 1 no residual"))
        // It trains.
        let dataset = Self.randomDataset(count: 32)
        let trainer = Trainer(network: Network(architecture: plain, context: Self.context, seed: 3), configuration: TrainingConfiguration(
            epochs: 1, batchSize: 32, optimizer: OptimizerConfiguration(kind: .adam, learningRate: 0.01, weightDecay: 0), schedule: .constant))
        let first = trainer.trainStep(dataset, indices: Array(0..<32)[...]).0
        var last = first
        for _ in 0..<80 { last = trainer.trainStep(dataset, indices: Array(0..<32)[...]).0 }
        #expect(last < first * 0.3, "loss went from \(first) to \(last)")
    }

    @Test func sameSeedSameNumbers() {
        func train() -> [Float] {
            let dataset = Self.randomDataset(count: 48)
            let network = Network(architecture: Self.tinyCellNetwork(), context: Self.context, seed: 5)
            let trainer = Trainer(network: network, configuration: TrainingConfiguration(
                epochs: 2, batchSize: 16, optimizer: OptimizerConfiguration(kind: .sgd, learningRate: 0.05, weightDecay: 1e-4),
                seed: 9, augmentation: Augmentation(padding: 1, horizontalFlip: true)))
            _ = trainer.fit(train: dataset, validation: dataset)
            return network.namedTensors.flatMap { $0.tensor.array }
        }
        #expect(train() == train())
    }

    @Test func checkpointRoundTrip() throws {
        let dataset = Self.randomDataset(count: 16)
        let network = Network(architecture: Self.tinyCellNetwork(), context: Self.context, seed: 7)
        let trainer = Trainer(network: network, configuration: TrainingConfiguration(
            epochs: 1, batchSize: 16, optimizer: OptimizerConfiguration(kind: .adam, learningRate: 0.01, weightDecay: 0)))
        _ = trainer.fit(train: dataset, validation: nil)
        let metadata = CheckpointMetadata(dataset: "random", epochs: 1, testAccuracy: 0.5, validationAccuracy: nil, seed: 7,
                                          normalizationMean: [0.5], normalizationStd: [0.25])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint(network: network, metadata: metadata).write(to: path)
        let loaded = try Checkpoint.load(path: path)
        #expect(loaded.metadata == metadata)
        #expect(loaded.architecture == network.architecture)
        let restored = try loaded.makeNetwork(context: Self.context)
        #expect(restored.namedTensors.map { $0.tensor.array } == network.namedTensors.map { $0.tensor.array })
        #expect(Trainer.predictions(network: restored, dataset: dataset) == Trainer.predictions(network: network, dataset: dataset))
    }

    @Test func corruptCheckpointsGiveOneLineErrors() throws {
        let network = Network(architecture: Self.tinyCellNetwork(), context: Self.context, seed: 1)
        let metadata = CheckpointMetadata(dataset: "random", epochs: 0, testAccuracy: nil, validationAccuracy: nil, seed: 1,
                                          normalizationMean: [0], normalizationStd: [1])
        let good = Checkpoint(network: network, metadata: metadata).encoded()
        func message(_ data: Data) -> String {
            do { _ = try Checkpoint.decode(data, source: "m.ckpt"); return "no error" } catch { return "\(error)" }
        }
        var badMagic = good; badMagic[0] = 0x58
        var badVersion = good; badVersion[8] = 9
        var flipped = good; flipped[good.count - 20] ^= 0xff
        let cases: [(Data, String)] = [
            (badMagic, "bad magic"), (badVersion, "unsupported checkpoint version 9"),
            (good.prefix(good.count - 100), "truncated"), (good.prefix(10), "bad magic"),
            (flipped, "checksum mismatch"), (good + Data([1, 2]), "trailing bytes"),
        ]
        for (data, expected) in cases {
            let text = message(data)
            #expect(text.hasPrefix("m.ckpt: ") && text.contains(expected) && !text.contains("\n"), "\(text)")
        }
        #expect(throws: CheckpointError.self) { try Checkpoint.load(path: "/nonexistent/model.ckpt") }
    }

    @Test func architectureFileErrors() throws {
        let json = String(decoding: Self.tinyCellNetwork().canonicalJSON(), as: UTF8.self)
        let decoded = try Architecture.decode(Data(json.utf8), source: "a.arch.json")
        #expect(decoded == Self.tinyCellNetwork())
        func message(_ text: String) -> String {
            do { _ = try Architecture.decode(Data(text.utf8), source: "a.arch.json"); return "no error" } catch { return "\(error)" }
        }
        #expect(message(json.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 7")).contains("unsupported architecture version 7"))
        #expect(message("{\"format\": \"x\"}").contains("not an architecture file"))
        #expect(message("{nope").contains("not valid JSON"))
        #expect(message(json.replacingOccurrences(of: "\"classes\" : 4,", with: "")).contains("missing key 'classes'"))
        #expect(message(json.replacingOccurrences(of: "\"input\",", with: "\"conv1x1\",")).contains("node 0 must be 'input'"))
        #expect(message(json.replacingOccurrences(of: "\"pool\" : 2", with: "\"pool\" : 3")).contains("pool must be 1 or 2"))
    }
}
