import AutoShrinkData
import AutoShrinkEngine
import Foundation
import Testing
@testable import AutoShrinkExport
import AutoShrinkModel

/// The protobuf wire encoder on byte sequences known from the protobuf encoding guide.
@Suite struct ProtobufWriterTests {
    @Test func varints() {
        #expect(ProtobufWriter.varint(0) == [0x00])
        #expect(ProtobufWriter.varint(1) == [0x01])
        #expect(ProtobufWriter.varint(127) == [0x7f])
        #expect(ProtobufWriter.varint(128) == [0x80, 0x01])
        #expect(ProtobufWriter.varint(300) == [0xac, 0x02])
        #expect(ProtobufWriter.varint(UInt64.max) == [UInt8](repeating: 0xff, count: 9) + [0x01])
    }

    @Test func scalarFields() {
        var writer = ProtobufWriter()
        writer.int64(1, 150)
        #expect(writer.bytes == [0x08, 0x96, 0x01])

        // Negative int64 is sign-extended: ten varint bytes.
        writer = ProtobufWriter()
        writer.int64(1, -1)
        #expect(writer.bytes == [0x08] + [UInt8](repeating: 0xff, count: 9) + [0x01])

        writer = ProtobufWriter()
        writer.float(2, 1.0)
        #expect(writer.bytes == [0x15, 0x00, 0x00, 0x80, 0x3f])

        writer = ProtobufWriter()
        writer.double(1, 1.0)
        #expect(writer.bytes == [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f])

        // Field 16 needs a two-byte tag.
        writer = ProtobufWriter()
        writer.uint64(16, 1)
        #expect(writer.bytes == [0x80, 0x01, 0x01])
    }

    @Test func lengthDelimitedFields() {
        var writer = ProtobufWriter()
        writer.string(2, "testing")
        #expect(writer.bytes == [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67])

        // An embedded message: field 3 holding {1: 150}.
        writer = ProtobufWriter()
        writer.message(3) { $0.int64(1, 150) }
        #expect(writer.bytes == [0x1a, 0x03, 0x08, 0x96, 0x01])

        writer = ProtobufWriter()
        writer.packedInt64s(4, [3, 270, 86942])
        #expect(writer.bytes == [0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05])

        writer = ProtobufWriter()
        writer.packedFloats(4, [1, 2])
        #expect(writer.bytes == [0x22, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40])

        writer = ProtobufWriter()
        writer.string(1, "")
        #expect(writer.bytes == [0x0a, 0x00])
    }

    @Test func onnxMessages() {
        // TensorProto {dims: [2] packed, data_type: FLOAT, name: "w", raw_data: 1.0f 2.0f}
        let tensor = ONNXTensor.float("w", dims: [2], [1, 2])
        #expect(tensor.encoded().bytes == [0x0a, 0x01, 0x02, 0x10, 0x01, 0x42, 0x01, 0x77,
                                           0x4a, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40])
        // AttributeProto {name: "axis", i: 1, type: INT}
        #expect(ONNXAttribute("axis", .int(1)).encoded().bytes
            == [0x0a, 0x04, 0x61, 0x78, 0x69, 0x73, 0x18, 0x01, 0xa0, 0x01, 0x02])
        // int8 and int32 raw data are little-endian two's complement.
        #expect(ONNXTensor.int8("q", dims: [2], [-1, 127]).rawData == [0xff, 0x7f])
        #expect(ONNXTensor.int32("b", dims: [1], [-2]).rawData == [0xfe, 0xff, 0xff, 0xff])
        // A model starts with ir_version 8.
        let model = ONNXModel(graph: ONNXGraph(name: "g"), producerVersion: "0")
        #expect(Array(model.serialized().prefix(2)) == [0x08, 0x08])
    }
}

/// Batch-norm folding and the quantization arithmetic of the QDQ export.
@Suite struct ONNXQuantizationTests {
    @Test func foldingMatchesBatchNorm() {
        // Two output channels of a 1x1 convolution with two inputs.
        let weights: [Float] = [1, 2, -3, 0.5]
        let gamma: [Float] = [2, 0.5], beta: [Float] = [0.1, -1], mean: [Float] = [0.3, -2], variance: [Float] = [4, 0.25]
        let folded = BatchNormFolding.fold(weights: weights, gamma: gamma, beta: beta, mean: mean, variance: variance)
        let x: [Float] = [0.7, -1.2]
        for channel in 0..<2 {
            let convolution = weights[channel * 2] * x[0] + weights[channel * 2 + 1] * x[1]
            let expected = gamma[channel] * (convolution - mean[channel]) / (variance[channel] + 1e-5).squareRoot() + beta[channel]
            let actual = folded.weights[channel * 2] * x[0] + folded.weights[channel * 2 + 1] * x[1] + folded.bias[channel]
            #expect(abs(actual - expected) < 1e-5)
        }
    }

    @Test func activationParameters() {
        // Post-ReLU ranges start at 0, which must map to the lowest integer.
        let relu = AffineQuantization(range: ValueRange(min: 0, max: 6), levels: -128...127)
        #expect(abs(relu.scale - 6 / 255) < 1e-7)
        #expect(relu.zeroPoint == -128)
        // Ranges are widened to contain 0 so that zero padding is exact.
        let positive = AffineQuantization(range: ValueRange(min: 1, max: 2), levels: -128...127)
        #expect(positive.zeroPoint == -128)
        let symmetric = AffineQuantization(range: ValueRange(min: -1, max: 1), levels: 0...255)
        #expect(symmetric.zeroPoint == 128)
        #expect(AffineQuantization(range: ValueRange(min: 0, max: 0), levels: -128...127).scale == 1)
    }

    @Test func weightsAndBias() {
        let quantized = ChannelQuantizedWeights(weights: [1, -0.5, 0.25, 0, 0, 0], outputChannels: 3)
        #expect(quantized.values == [127, -64, 127, 0, 0, 0])
        #expect(quantized.scales[0] == 1 / 127 && quantized.scales[1] == 0.25 / 127 && quantized.scales[2] == 1)
        let bias = ChannelQuantizedWeights.quantizeBias([0.5, -1, 3e9], inputScale: 0.5, weightScales: [0.01, 0.02, 1e-9])
        #expect(bias.values == [100, -100, Int32.max])
        #expect(bias.scales == [0.005, 0.01, 0.5e-9])
    }
}

/// Activation ranges measured by running the float engine.
@Suite struct CalibrationTests {
    @Test func rangesOfEveryTensor() throws {
        let dataset = ONNXExportTests.quadrantDataset(count: 40, seed: 5)
        let network = Network(architecture: ONNXExportTests.cellArchitecture(), context: ONNXExportTests.context, seed: 1)
        let minMax = Calibration.collect(network: network, dataset: dataset, limit: 40, batchSize: 16)
        let percentile = Calibration.collect(network: network, dataset: dataset, limit: 40, method: .percentile(99), batchSize: 16)
        #expect(minMax.images == 40)
        let graph = network.layers
        #expect(Set(minMax.ranges.keys) == Set(graph.tensors.indices))
        for node in graph.layers {
            let range = try #require(minMax[node.output]), clipped = try #require(percentile[node.output])
            #expect(clipped.min >= range.min && clipped.max <= range.max, "\(node.name)")
            if case .convolution(let spec) = node.operation {
                // Post-activation values: ReLU and ReLU6 outputs are never negative.
                if spec.activation != .none { #expect(range.min >= 0, "\(node.name)") }
                if spec.activation == .relu6 { #expect(range.max <= 6, "\(node.name)") }
            }
        }
        // Without a normalisation the input range is what the images showed.
        let observed = dataset.images.withUnsafeBufferPointer {
            Calibration.collect(network: network, images: $0, count: 40)
        }
        #expect(observed[0] == ValueRange(min: dataset.images.min()!, max: dataset.images.max()!))
    }
}

/// Float and QDQ int8 exports of trained networks, run with onnxruntime through tools/onnx/run.py.
@Suite(.serialized) struct ONNXExportTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let context = ExecutionContext(threads: 2)
    static let skipMessage = "onnxruntime not installed: pip install -r tools/onnx/requirements.txt"

    /// 4 classes on 16x16: class k is a bright 6x6 square in quadrant k over noise, so a few
    /// training steps give confident predictions (clear top-1 margins for the int8 comparison).
    static func quadrantDataset(count: Int, seed: UInt64) -> Dataset {
        var generator = SeededGenerator(seed: seed)
        var pixels = [UInt8](repeating: 0, count: count * 256)
        var labels = [Int32](repeating: 0, count: count)
        for image in 0..<count {
            let label = Int(generator.next() % 4)
            labels[image] = Int32(label)
            let top = (label / 2) * 8 + 1, left = (label % 2) * 8 + 1
            for y in 0..<16 {
                for x in 0..<16 {
                    let inside = (top..<(top + 6)).contains(y) && (left..<(left + 6)).contains(x)
                    let noise = Int(generator.next() % 96)
                    pixels[image * 256 + y * 16 + x] = UInt8(inside ? 159 + noise : noise)
                }
            }
        }
        return Dataset(name: "quadrants", split: .train, channels: 1, height: 16, width: 16, classCount: 4,
                       rawPixels: pixels, labels: labels)
    }

    /// Every operator the exporter writes: relu6 stem (Clip), a 4-node cell with concat, the
    /// residual add and its 1x1 projection (no activation), a reducing cell (max-pool), dropout.
    static func cellArchitecture() -> Architecture {
        let cell = CellDAG(nodes: 4, operations: [.input, .sepconv3x3, .conv1x1, .sepconv3x3],
                           edges: [Edge(0, 1), Edge(0, 2), Edge(1, 3), Edge(2, 3), Edge(0, 3)])
        return Architecture(name: "onnx-cell", input: InputShape(channels: 1, height: 16, width: 16), classes: 4,
                            stem: [StemLayer(.conv, outputChannels: 8, kernel: 3, stride: 1, activation: .relu6)],
                            cell: cell, stages: [Stage(width: 8, pool: 1), Stage(width: 12, pool: 2)],
                            head: Head(dropout: 0.2))
    }

    /// Trains `architecture` for a few steps (so batch-norm statistics are not the initial 0/1)
    /// and returns it reloaded from a checkpoint file, plus the data.
    static func trainedCheckpoint(_ architecture: Architecture, directory: URL) throws -> (Checkpoint, Dataset, Dataset) {
        let train = quadrantDataset(count: 256, seed: 1)
        let test = quadrantDataset(count: 32, seed: 2).normalized(with: train.normalization)
        let network = Network(architecture: architecture, context: context, seed: 3)
        let trainer = Trainer(network: network, configuration: TrainingConfiguration(
            epochs: 2, batchSize: 32, optimizer: OptimizerConfiguration(kind: .adam, learningRate: 0.01, weightDecay: 0),
            schedule: .constant, seed: 4))
        _ = trainer.fit(train: train, validation: nil)
        let metadata = CheckpointMetadata(dataset: train.name, epochs: 2, testAccuracy: nil, validationAccuracy: nil, seed: 3,
                                          normalizationMean: train.normalization.mean, normalizationStd: train.normalization.std)
        let path = directory.appendingPathComponent("model.ckpt").path
        try Checkpoint(network: network, metadata: metadata).write(to: path)
        return (try Checkpoint.load(path: path), train, test)
    }

    /// Logits [image][class] of the float engine in inference mode.
    static func engineLogits(_ network: Network, _ dataset: Dataset) -> [[Float]] {
        let graph = network.graph
        graph.prepare(batch: dataset.count)
        dataset.images.withUnsafeBufferPointer { graph.setInput($0.baseAddress!, batch: dataset.count) }
        graph.forward(batch: dataset.count, training: false)
        let logits = graph.value(graph.output)
        return (0..<dataset.count).map { image in (0..<logits.channels).map { logits.data[$0 * dataset.count + image] } }
    }

    struct RunReport: Decodable {
        var images: Int
        var classes: Int
        var checker: String
        var ir_version: Int
        var opset: [String: Int]
        var producer: String
        var metadata: [String: String]
        var operators: [String: Int]
    }

    /// Runs tools/onnx/run.py on the model; returns onnxruntime's logits and its report.
    static func runONNX(model: URL, dataset: Dataset, directory: URL) throws -> ([[Float]], RunReport) {
        let inputs = directory.appendingPathComponent("inputs.f32"), outputs = directory.appendingPathComponent("logits.f32")
        try dataset.images.withUnsafeBytes { try Data($0).write(to: inputs) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repositoryRoot.appendingPathComponent("tools/onnx/run.py").path, model.path,
                             "--inputs", inputs.path, "--outputs", outputs.path]
        let standardOutput = Pipe(), standardError = Pipe()
        process.standardOutput = standardOutput
        process.standardError = standardError
        try process.run()
        let output = standardOutput.fileHandleForReading.readDataToEndOfFile()
        let errors = standardError.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ONNXExportError("run.py failed (\(process.terminationStatus)): \(String(decoding: errors, as: UTF8.self))")
        }
        let report = try JSONDecoder().decode(RunReport.self, from: output)
        let raw = try Data(contentsOf: outputs)
        let values = raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let logits = (0..<report.images).map { Array(values[($0 * report.classes)..<(($0 + 1) * report.classes)]) }
        return (logits, report)
    }

    static func argmax(_ values: [Float]) -> Int { values.indices.max { values[$0] < values[$1] }! }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("onnx-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func modelWithoutRuntime() throws {
        // Independent of onnxruntime: the writer produces the expected graph for refnet.
        let network = Network(architecture: BuiltinArchitectures.refnet(), context: Self.context, seed: 1)
        let checkpoint = Checkpoint(network: network, metadata: CheckpointMetadata(
            dataset: "fashion-mnist", epochs: 0, testAccuracy: nil, validationAccuracy: nil, seed: 1,
            normalizationMean: [0.286], normalizationStd: [0.353]))
        let model = try ONNXExporter.model(checkpoint: checkpoint)
        let operators = model.graph.nodes.map(\.operatorType)
        #expect(operators == ["Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "Conv", "Relu", "Conv", "Relu",
                              "GlobalAveragePool", "Flatten", "Gemm"])
        #expect(model.graph.inputs.map(\.name) == ["input"] && model.graph.outputs.map(\.name) == ["logits"])
        #expect(model.graph.inputs[0].shape == [.size(1), .size(1), .size(28), .size(28)])
        let metadata = Dictionary(uniqueKeysWithValues: model.metadata.map { ($0.key, $0.value) })
        #expect(metadata["mean"] == "0.286" && metadata["std"] == "0.353")
        #expect(metadata["architecture_hash"] == checkpoint.architecture.stableHash)
        #expect(metadata["dataset"] == "fashion-mnist")
        let dynamic = try ONNXExporter.model(checkpoint: checkpoint, options: ONNXExportOptions(batch: .dynamic("batch")))
        #expect(dynamic.graph.inputs[0].shape.first == .symbol("batch") && dynamic.graph.outputs[0].shape == [.symbol("batch"), .size(10)])
        // A QDQ export without calibrated ranges is refused with a clear message.
        #expect(throws: ONNXExportError.self) {
            try ONNXExporter.model(checkpoint: checkpoint, options: ONNXExportOptions(precision: .qdq(ranges: ActivationRanges())))
        }
    }

    @Test(.enabled(if: onnxRuntimeAvailable, "onnxruntime not installed: pip install -r tools/onnx/requirements.txt"),
          arguments: [("refnet", ONNXActivationType.int8), ("cell", .int8), ("cell", .uint8)])
    func onnxruntimeMatchesEngine(_ name: String, _ activationType: ONNXActivationType) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let architecture = name == "refnet"
            ? BuiltinArchitectures.refnet(input: InputShape(channels: 1, height: 16, width: 16), classes: 4)
            : Self.cellArchitecture()
        let (checkpoint, train, test) = try Self.trainedCheckpoint(architecture, directory: directory)
        #expect(checkpoint.tensors.contains { $0.record.name.hasSuffix(".bn.running_mean") && $0.values.contains { $0 != 0 } })
        let network = try checkpoint.makeNetwork(context: Self.context)
        let expected = Self.engineLogits(network, test)

        // float32: onnxruntime agrees with the engine to 1e-3.
        let floatModel = directory.appendingPathComponent("float.onnx")
        try ONNXExporter.write(checkpoint: checkpoint, to: floatModel.path)
        let (floatLogits, floatReport) = try Self.runONNX(model: floatModel, dataset: test, directory: directory)
        #expect(floatReport.checker == "ok" && floatReport.ir_version == 8 && floatReport.opset["ai.onnx"] == 13)
        #expect(floatReport.producer == "autoshrink")
        #expect(floatReport.metadata["architecture_hash"] == architecture.stableHash)
        #expect(floatReport.metadata["mean"].map { $0.split(separator: ",").count } == 1)
        #expect(floatLogits.count == test.count)
        var largest: Float = 0
        for (mine, theirs) in zip(expected, floatLogits) {
            for (a, b) in zip(mine, theirs) { largest = max(largest, abs(a - b)) }
        }
        #expect(largest < 1e-3, "max |engine - onnxruntime| = \(largest)")

        // QDQ int8: onnxruntime fuses it into int8 kernels and agrees on top-1 for most inputs.
        let ranges = Calibration.collect(network: network, dataset: train, limit: 128)
        #expect(ranges[0] == ValueRange(min: -train.normalization.mean[0] / train.normalization.std[0],
                                        max: (1 - train.normalization.mean[0]) / train.normalization.std[0]))
        let quantizedModel = directory.appendingPathComponent("int8.onnx")
        try ONNXExporter.write(checkpoint: checkpoint, to: quantizedModel.path,
                               options: ONNXExportOptions(precision: .qdq(ranges: ranges, activationType: activationType)))
        let (quantizedLogits, quantizedReport) = try Self.runONNX(model: quantizedModel, dataset: test, directory: directory)
        #expect(quantizedReport.metadata["precision"] == "qdq-\(activationType.rawValue)")
        let operators = quantizedReport.operators
        #expect((operators["QLinearConv"] ?? 0) > 0, "onnxruntime runs \(operators)")
        // Every convolution runs int8, except that onnxruntime (x86) keeps int8 activations
        // read by several layers in float (see ONNXActivationType).
        if name == "refnet" || activationType == .uint8 {
            let floatOperators = ["Conv", "FusedConv", "Concat", "Add", "Gemm", "GlobalAveragePool", "MaxPool"]
            #expect(floatOperators.allSatisfy { operators[$0] == nil }, "onnxruntime runs \(operators)")
        }
        let agreeing = zip(expected, quantizedLogits).filter { Self.argmax($0) == Self.argmax($1) }.count
        #expect(agreeing * 10 >= test.count * 9, "int8 top-1 agrees on \(agreeing) of \(test.count)")
    }
}

/// Whether `python3 -c "import onnxruntime, onnx, numpy"` works here.
let onnxRuntimeAvailable: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import onnxruntime, onnx, numpy"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()
