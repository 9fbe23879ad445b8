import AutoShrinkData
import AutoShrinkProfiler
import AutoShrinkEngine
import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkExport

/// The baseline families export like every other network (docs/baselines.md): the MobileNetV2-style
/// net is a sequential network with residual adds, which the int8 C generator and the ONNX writer see
/// only through the lowered graph.
@Suite(.serialized) struct BaselineExportTests {
    struct Export {
        let directory: String
        let checkpoint: Checkpoint
        let test: Dataset
        let tests: TestImages
        let report: ExportReport
    }

    static let mbv2Export: Result<Export, Error> = Result {
        let directory = try ExportFixtures.temporaryDirectory("mbv2")
        let architecture = BaselineArchitectures.mobileNetV2(width: 0.5, input: InputShape(channels: 1, height: 16, width: 16), classes: 4)
        let (checkpoint, train, test) = try ExportFixtures.quadrantCheckpoint(architecture, directory: directory, steps: 3)
        let tests = try TestImages.write(test, directory: "\(directory)/data")
        let report = try ModelExporter.export(checkpoint: checkpoint, calibration: train, testImages: nil,
                                              device: try ExportFixtures.device("local"), outputDirectory: "\(directory)/deploy/mbv2",
                                              options: ExportFixtures.buildOnlyOptions(), context: ExportFixtures.context)
        return Export(directory: directory, checkpoint: checkpoint, test: test, tests: tests, report: report)
    }

    @Test("mbv2 (sequential residual adds) builds with -Werror; float C matches the engine, int8 agrees on top-1",
          .enabled(if: ExportFixtures.hasGCC))
    func mobileNetV2ExportsAndRuns() throws {
        let export = try Self.mbv2Export.get()
        let source = try String(contentsOfFile: "\(export.report.directory)/model.c", encoding: .utf8)
        // the residual adds run inside their projections (AddFusion: `project` is the layer before each add)
        #expect(source.contains("as_pointwise_conv_add_s8("), "no residual add in the generated int8 code")
        #expect(FileManager.default.fileExists(atPath: "\(export.report.directory)/model.onnx"))
        let expected = ExportFixtures.engineLogits(try export.checkpoint.makeNetwork(context: ExportFixtures.context), export.test)

        let float = try ExportFixtures.run(export.report.binaries[.float32]!, ["--idx", export.tests.images])
        #expect(float.exitStatus == 0, "\(float.stderr)")
        let floatRows = ExportFixtures.parsePredictions(float.stdout)
        #expect(floatRows.count == export.test.count)
        var largest: Float = 0
        for (row, logits) in zip(floatRows, expected) {
            #expect(row.scores.count == logits.count)
            for (a, b) in zip(row.scores, logits) { largest = max(largest, abs(a - b) / max(1, abs(b))) }
        }
        #expect(largest < 1e-3, "max relative |C float - engine| = \(largest)")

        let int8 = try ExportFixtures.run(export.report.binary, ["--idx", export.tests.images, "--labels", export.tests.labels])
        #expect(int8.exitStatus == 0, "\(int8.stderr)")
        let int8Rows = ExportFixtures.parsePredictions(int8.stdout)
        #expect(int8Rows.count == export.test.count)
        let agreeing = zip(int8Rows, expected).filter { $0.predicted == ExportFixtures.argmax($1) }.count
        #expect(agreeing * 10 >= export.test.count * 9, "int8 top-1 agrees with the engine on \(agreeing) of \(export.test.count)")
    }

    @Test("mbv2's ONNX export runs in onnxruntime and matches the engine",
          .enabled(if: onnxRuntimeAvailable, "onnxruntime not installed: pip install -r tools/onnx/requirements.txt"))
    func mobileNetV2ONNX() throws {
        let export = try Self.mbv2Export.get()
        let directory = try ONNXExportTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let expected = ExportFixtures.engineLogits(try export.checkpoint.makeNetwork(context: ExportFixtures.context), export.test)
        let model = URL(fileURLWithPath: "\(export.report.directory)/model.onnx")
        let (logits, report) = try ONNXExportTests.runONNX(model: model, dataset: export.test, directory: directory)
        #expect(report.checker == "ok")
        let graph = try ONNXExporter.model(checkpoint: export.checkpoint).graph
        #expect(graph.nodes.filter { $0.operatorType == "Add" }.count == 2)
        var largest: Float = 0
        for (mine, theirs) in zip(expected, logits) {
            for (a, b) in zip(mine, theirs) { largest = max(largest, abs(a - b)) }
        }
        #expect(logits.count == export.test.count)
        #expect(largest < 1e-3, "max |engine - onnxruntime| = \(largest)")
    }
}
