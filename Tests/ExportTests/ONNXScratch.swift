import AutoShrinkData
import AutoShrinkEngine
import Foundation
import Testing
@testable import AutoShrinkExport
import AutoShrinkModel

// Temporary: writes models for manual inspection (deleted before hand-off).
@Suite struct ONNXScratch {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ONNX_SCRATCH"] != nil)) func writeModels() throws {
        let out = URL(fileURLWithPath: "/tmp/onnx-scratch")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let (checkpoint, train, _) = try ONNXExportTests.trainedCheckpoint(ONNXExportTests.cellArchitecture(), directory: out)
        let network = try checkpoint.makeNetwork(context: ExecutionContext(threads: 2))
        let ranges = Calibration.collect(network: network, dataset: train, limit: 128)
        try ONNXExporter.write(checkpoint: checkpoint, to: out.appendingPathComponent("cell-float.onnx").path)
        try ONNXExporter.write(checkpoint: checkpoint, to: out.appendingPathComponent("cell-uint8.onnx").path, options: ONNXExportOptions(precision: .qdq(ranges: ranges, activationType: .uint8)))
        try ONNXExporter.write(checkpoint: checkpoint, to: out.appendingPathComponent("cell-int8.onnx").path,
                               options: ONNXExportOptions(precision: .qdq(ranges: ranges)))
        if let path = ProcessInfo.processInfo.environment["ONNX_SCRATCH_CKPT"] {
            let refnet = try Checkpoint.load(path: path)
            let fashion = try DatasetLoader.load(.fashionMNIST, split: .train)
            let refnetNetwork = try refnet.makeNetwork(context: ExecutionContext(threads: 2))
            let method: CalibrationMethod = ProcessInfo.processInfo.environment["ONNX_SCRATCH_PCT"].map { .percentile(Double($0)!) } ?? .minMax
            let refnetRanges = Calibration.collect(network: refnetNetwork, dataset: fashion.subset(Array(0..<500)), limit: 500, method: method)
            try ONNXExporter.write(checkpoint: refnet, to: out.appendingPathComponent("refnet-float.onnx").path)
            try ONNXExporter.write(checkpoint: refnet, to: out.appendingPathComponent("refnet-int8.onnx").path,
                                   options: ONNXExportOptions(precision: .qdq(ranges: refnetRanges)))
            try ONNXExporter.write(checkpoint: refnet, to: out.appendingPathComponent("refnet-uint8.onnx").path,
                                   options: ONNXExportOptions(precision: .qdq(ranges: refnetRanges, activationType: .uint8)))
        }
    }
}
