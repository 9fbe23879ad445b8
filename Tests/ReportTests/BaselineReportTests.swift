import AutoShrinkModel
import AutoShrinkSearch
import Foundation
import Testing
@testable import AutoShrinkReport

/// The report's "Against hand-designed baselines" section (docs/baselines.md).
@Suite struct BaselineReportTests {
    static func entry(_ name: String, accuracy: Double, latency: Double) -> BaselineFront.Entry {
        BaselineFront.Entry(name: name, family: name.hasPrefix("mbv2") ? "mbv2" : "refnet", width: 1, architectureHash: "h", macs: 1_900_000,
                            parameters: 17_818, weightBytesInt8: 18_520, peakActivationBytesInt8: 18_816, learningRate: 0.1,
                            trials: [.init(learningRate: 0.1, validationAccuracy: 0.8)], validationAccuracy: 0.8,
                            engineTestAccuracy: accuracy, floatTestAccuracy: accuracy, int8TestAccuracy: accuracy - 0.001,
                            predictedLatencyMilliseconds: latency * 1.1, latencyMilliseconds: latency, latencyCILowMilliseconds: latency * 0.99,
                            latencyCIHighMilliseconds: latency * 1.01, latencyMedianMilliseconds: latency, emulated: false,
                            export: "deploy/\(name)", trainSeconds: 10)
    }

    static func records() -> [CandidateRecord] {
        (0..<3).map { index in
            CandidateRecord(step: 1, candidate: index, id: "step-1-c\(index)", removedEdge: Edge(0, 1), cellEdges: [Edge(0, 1)],
                            edgesLeft: 1, architectureHash: "h\(index)", accuracy: 0.8 + 0.01 * Double(index),
                            resources: CandidateResources(macs: 1_000_000, parameters: 10_000, weightBytes: 10_000, peakActivationBytes: 4096,
                                                          latencyMilliseconds: 0.02 + 0.01 * Double(index)),
                            score: 0.8, feasible: true, seconds: 1, epochs: 2)
        }
    }

    @Test func frontIsDrawnAgainstTheFinalNetwork() throws {
        let front = BaselineFront(autoshrinkVersion: "test", dataset: "fashion-mnist", device: "local", deviceArchitecture: "x86_64",
                                  profile: nil,
                                  recipe: .init(epochs: 3, batchSize: 64, optimizer: "sgd", schedule: "cosine", weightDecay: 5e-5,
                                                learningRates: [0.05, 0.1, 0.2], searchEpochs: 1, searchTrainPerClass: 1000,
                                                validationPerClass: 500, trainPerClass: nil, seed: 1),
                                  entries: [Self.entry("refnet-w0.5", accuracy: 0.876, latency: 0.0114), Self.entry("refnet", accuracy: 0.913, latency: 0.035),
                                            Self.entry("mbv2-w<0.5>", accuracy: 0.90, latency: 0.05)],
                                  seconds: 100)
        // The document round-trips through its loader (format, version, validation).
        let data = try JSONEncoder().encode(front)
        #expect(try BaselineFront.decodeDocument(data, source: "b.json") == front)
        let html = HTMLReport.render(ReportInput(
            runName: "demo", configuration: SearchConfiguration(dataset: "fashion-mnist", nodes: 4), records: Self.records(), chosen: nil,
            export: ExportFigures(floatAccuracy: 0.92, int8Accuracy: 0.918, measuredLatencyMilliseconds: 0.03), baselines: front))
        #expect(html.contains("Against hand-designed baselines"))
        #expect(html.components(separatedBy: "fill=\"#555555\">").count - 1 == 3, "one square per baseline")
        #expect(html.contains("stroke=\"#555555\""), "the baselines' Pareto front is drawn")
        #expect(html.contains("final network: 91.80% int8, 0.0300 ms measured"))
        #expect(html.contains("mbv2-w&lt;0.5&gt;") && !html.contains("mbv2-w<0.5>"), "names are escaped")
        #expect(html.contains("0.0114 ms (0.0113-0.0115)"))
        #expect(!html.contains("<script"))
    }

    @Test func refnetLineWithoutAFront() {
        let html = HTMLReport.render(ReportInput(
            runName: "demo", configuration: SearchConfiguration(dataset: "fashion-mnist", nodes: 4), records: Self.records(), chosen: nil,
            export: ExportFigures(int8Accuracy: 0.9, measuredLatencyMilliseconds: 0.03), refnetLatencyMilliseconds: 0.035))
        #expect(html.contains("Against hand-designed baselines"))
        #expect(html.contains("No baselines.json"))
        #expect(html.contains("stroke-dasharray"), "refnet's predicted latency is a dashed line")
        // Nothing to compare: no section.
        let bare = HTMLReport.render(ReportInput(runName: "demo", configuration: SearchConfiguration(dataset: "fashion-mnist", nodes: 4),
                                                 records: Self.records(), chosen: nil))
        #expect(!bare.contains("Against hand-designed baselines"))
    }

    @Test func invalidFrontsAreRefused() throws {
        let front = BaselineFront(autoshrinkVersion: "test", dataset: "d", device: "local", deviceArchitecture: "x86_64", profile: nil,
                                  recipe: .init(epochs: 1, batchSize: 1, optimizer: "sgd", schedule: "cosine", weightDecay: 0,
                                                learningRates: [0.1], searchEpochs: 1, searchTrainPerClass: 1, validationPerClass: 1,
                                                trainPerClass: 1, seed: 1),
                                  entries: [Self.entry("a", accuracy: 1.5, latency: 0.01)], seconds: 1)
        let data = try JSONEncoder().encode(front)
        #expect(throws: (any Error).self) { try BaselineFront.decodeDocument(data, source: "b.json") }
        var twice = front
        twice.entries = [Self.entry("a", accuracy: 0.5, latency: 0.01), Self.entry("a", accuracy: 0.5, latency: 0.01)]
        #expect(throws: (any Error).self) { try BaselineFront.decodeDocument(try JSONEncoder().encode(twice), source: "b.json") }
        let wrongVersion = String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\"version\":1", with: "\"version\":9")
        do { _ = try BaselineFront.decodeDocument(Data(wrongVersion.utf8), source: "b.json"); Issue.record("accepted version 9") } catch {
            #expect("\(error)".contains("unsupported baselines version 9"))
        }
    }
}
