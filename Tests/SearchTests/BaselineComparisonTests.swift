import Testing
import AutoShrinkFormats
@testable import AutoShrinkSearch

/// `bench search --baselines`: the front's accuracy interpolated at a searched network's latency.
@Suite struct BaselineComparisonTests {
    static func entry(_ name: String, accuracy: Double, predicted: Double?, measured: Double?) -> BaselineFront.Entry {
        BaselineFront.Entry(name: name, family: "refnet", width: 1, architectureHash: name, macs: 1000, parameters: 10,
                            weightBytesInt8: 10, peakActivationBytesInt8: 10, learningRate: 0.01, trials: [],
                            validationAccuracy: nil, engineTestAccuracy: accuracy, floatTestAccuracy: nil, int8TestAccuracy: accuracy,
                            predictedLatencyMilliseconds: predicted, latencyMilliseconds: measured, latencyCILowMilliseconds: nil,
                            latencyCIHighMilliseconds: nil, latencyMedianMilliseconds: nil, emulated: false, export: "deploy/\(name)",
                            trainSeconds: 1)
    }

    static func front(_ entries: [BaselineFront.Entry]) -> BaselineFront {
        BaselineFront(autoshrinkVersion: "test", dataset: "fashion-mnist", device: "local", deviceArchitecture: "x86_64", profile: nil,
                      recipe: .init(epochs: 1, batchSize: 64, optimizer: "sgd", schedule: "cosine", weightDecay: 0, learningRates: [0.1],
                                    searchEpochs: 1, searchTrainPerClass: 1, validationPerClass: 1, trainPerClass: nil, seed: 1),
                      entries: entries, seconds: 1)
    }

    @Test func interpolatesBetweenNeighboursOfTheFront() throws {
        let front = Self.front([
            Self.entry("w2", accuracy: 0.92, predicted: 0.04, measured: 0.03),
            Self.entry("w0.5", accuracy: 0.80, predicted: 0.01, measured: 0.008),
            Self.entry("w1", accuracy: 0.90, predicted: 0.02, measured: 0.015),
            Self.entry("slow-and-bad", accuracy: 0.85, predicted: 0.03, measured: 0.02),  // dominated: not on the front
        ])
        let between = try #require(BaselineComparison.compare(accuracy: 0.88, predictedMilliseconds: 0.015, measuredMilliseconds: nil, front: front))
        #expect(between.kind == .predicted)
        #expect(abs(between.frontAccuracy! - 0.85) < 1e-12)       // halfway between 0.80 and 0.90
        #expect(abs(between.difference! - 0.03) < 1e-12)
        let upper = try #require(BaselineComparison.compare(accuracy: 0.90, predictedMilliseconds: 0.035, measuredMilliseconds: nil, front: front))
        #expect(abs(upper.frontAccuracy! - 0.915) < 1e-12)         // 3/4 of 0.90 -> 0.92, the dominated point skipped
        // Faster than every baseline: no accuracy, a message naming the fastest; slower than all: the best baseline's.
        let outside = try #require(BaselineComparison.compare(accuracy: 0.7, predictedMilliseconds: 0.005, measuredMilliseconds: nil, front: front))
        #expect(outside.frontAccuracy == nil && outside.difference == nil && outside.summary.contains("fastest"))
        let slow = try #require(BaselineComparison.compare(accuracy: 0.9, predictedMilliseconds: 0.5, measuredMilliseconds: nil, front: front))
        #expect(slow.frontAccuracy == 0.92 && abs(slow.difference! + 0.02) < 1e-12)
        // Measured latency when the network has no prediction.
        let measured = try #require(BaselineComparison.compare(accuracy: 0.9, predictedMilliseconds: nil, measuredMilliseconds: 0.0115, front: front))
        #expect(measured.kind == .measured && abs(measured.frontAccuracy! - 0.85) < 1e-12)
        #expect(BaselineComparison.compare(accuracy: 0.9, predictedMilliseconds: nil, measuredMilliseconds: nil, front: front) == nil)
        // Fewer than two baselines with a latency: no front.
        let single = Self.front([Self.entry("w1", accuracy: 0.9, predicted: 0.02, measured: nil)])
        #expect(BaselineComparison.compare(accuracy: 0.9, predictedMilliseconds: 0.02, measuredMilliseconds: nil, front: single) == nil)
    }
}
