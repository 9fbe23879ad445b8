import AutoShrinkData
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkModel
import AutoShrinkReport
import AutoShrinkSearch
import Foundation
import Testing
import AutoShrinkDeploy
@testable import AutoShrinkExport

/// The report the quickstart writes, rendered from a real export (trained checkpoint, real exporter,
/// binaries run and timed on this machine), not from figures made by hand.
@Suite struct ReportFromExportTests {
    @Test("the report shows the final network's accuracies and measured vs predicted latency from a real export.json",
          .enabled(if: ExportFixtures.hasGCC, "gcc is not installed"))
    func reportFromRealExport() throws {
        let directory = try ExportFixtures.temporaryDirectory("report")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (checkpoint, train, test) = try ExportFixtures.quadrantCheckpoint(ExportFixtures.cellArchitecture(), directory: directory)
        let tests = try TestImages.write(test, directory: "\(directory)/tests")
        var options = ExportOptions()
        options.calibrationImages = 64
        options.benchRuns = 50
        let exported = try ModelExporter.export(checkpoint: checkpoint, calibration: train, testImages: tests,
                                                device: try ExportFixtures.device("local"), outputDirectory: "\(directory)/deploy",
                                                options: options, context: ExportFixtures.context)

        // What `autoshrink report --export` reads: export.json through the shared manifest type.
        let manifest = try Deployment.manifest(directory: "\(directory)/deploy")
        let measured = try #require(manifest.latencyMedianMilliseconds)
        #expect(measured == exported.latency[.int8]?.medianMilliseconds && measured > 0)
        #expect(manifest.device == exported.device)
        let figures = try ExportFigures.load(exportJSON: "\(directory)/deploy/export.json")
        #expect(figures.measuredLatencyMilliseconds == measured)
        #expect(figures.floatLatencyMilliseconds == exported.latency[.float32]?.medianMilliseconds)
        let int8Accuracy = try #require(figures.int8Accuracy), floatAccuracy = try #require(figures.floatAccuracy)

        var withPrediction = figures
        withPrediction.predictedLatencyMilliseconds = measured * 1.25
        let chosen = try Architecture.load(path: "\(directory)/deploy/model.arch.json")
        let html = HTMLReport.render(ReportInput(
            runName: "quickstart", configuration: SearchConfiguration(dataset: "quadrants", nodes: 5), records: [], chosen: chosen,
            profileName: "profiles/local.json", export: withPrediction, refnetLatencyMilliseconds: measured / 3))
        func row(_ name: String, _ value: String) -> String { "<tr><th>\(name)</th><td>\(value)</td></tr>" }
        #expect(html.contains(row("measured latency (median, int8 binary)", String(format: "%.4f ms", measured))))
        #expect(html.contains(row("float32 test accuracy", String(format: "%.2f%%", floatAccuracy * 100))))
        #expect(html.contains(row("int8 test accuracy", String(format: "%.2f%%", int8Accuracy * 100))))
        #expect(html.contains(row("predicted latency", String(format: "%.4f ms", measured * 1.25))))
        #expect(html.contains(row("measured / predicted", "0.80")))
        #expect(html.contains(row("final / refnet (predicted)", "3.75 x")))
        // One latency plot holds the measured binaries, the prediction and refnet.
        let plot = try #require(html.components(separatedBy: "<svg class=\"bars\"").dropFirst().first?.components(separatedBy: "</svg>").first)
        for label in ["final network, int8 binary, measured", "final network, float32 binary, measured", "final network, predicted",
                      "refnet, predicted"] {
            #expect(plot.contains(">\(label)</text>"), "the latency plot lacks \(label)")
        }
        #expect(plot.contains(String(format: "%.4f ms", measured)))
    }
}
