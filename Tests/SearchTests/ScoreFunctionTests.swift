import Foundation
import Testing
import AutoShrinkModel
@testable import AutoShrinkSearch

private let resources = CandidateResources(macs: 10_000_000, parameters: 50_000, weightBytes: 60_000,
                                           peakActivationBytes: 200_000, latencyMilliseconds: 4)

@Test func referenceScoreIsAccuracyMinusATenthPerDecadeAboveOneMillionMACs() {
    let score = ScoreFunction.reference
    // 0.7 - 0.1 * (log10(1e7) - 6) = 0.6
    #expect(abs(score.score(accuracy: 0.7, resources: resources) - 0.6) < 1e-12)
    var small = resources; small.macs = 100_000
    #expect(abs(score.score(accuracy: 0.7, resources: small) - 0.8) < 1e-12)
    #expect(score.isFeasible(resources))
    #expect(!score.needsLatency)
    #expect(score.summary == "acc - 0.1*log10(macs/1000000)")
}

@Test func softTermsAddUp() {
    let score = ScoreFunction(terms: [ResourceTerm(.latencyMilliseconds, target: 2, weight: 0.1),
                                      ResourceTerm(.peakActivationBytes, target: 2_000_000, weight: 0.05),
                                      ResourceTerm(.weightBytes, target: 60_000, weight: 1)])
    // 0.9 - 0.1*log10(4/2) - 0.05*log10(0.1) - 1*log10(1) = 0.9 - 0.0301030 + 0.05
    #expect(abs(score.score(accuracy: 0.9, resources: resources) - (0.9 - 0.1 * log10(2.0) + 0.05)) < 1e-12)
    #expect(score.needsLatency)
    // Parameters term.
    let parameters = ScoreFunction(terms: [ResourceTerm(.parameters, target: 5_000, weight: 0.2)])
    #expect(abs(parameters.score(accuracy: 0.5, resources: resources) - 0.3) < 1e-12)
}

@Test func hardLimitsReportEveryViolation() {
    let score = ScoreFunction(terms: [], limits: HardLimits(maxLatencyMilliseconds: 3, maxPeakActivationKilobytes: 100,
                                                            maxWeightKilobytes: 100, maxMACs: 5_000_000))
    let violations = score.violations(resources)
    #expect(violations.map(\.kind) == [.latency, .peakActivationMemory, .macs])
    #expect(violations[1].actual == 200_000.0 / 1024)
    #expect(!score.isFeasible(resources))
    #expect(score.summary.contains("limits: max_latency_ms 3, max_peak_memory_kb 100, max_weights_kb 100, max_macs 5000000"))
    #expect(throws: SearchError(.notPositive(.macs))) {
        try ScoreFunction(terms: [], limits: HardLimits(maxMACs: 0)).validate()
    }
    #expect(throws: SearchError.self) { try ScoreFunction(terms: [ResourceTerm(.macs, target: 0, weight: 1)]).validate() }
}

@Test func anUnreachableConstraintIsRefusedBeforeAnyTraining() throws {
    var score = ScoreFunction.reference
    score.limits.maxMACs = 1_000
    let configuration = smallConfiguration(score: score)
    let path = temporaryRunPath("impossible")
    let evaluator = PseudoAccuracyEvaluator(failAfter: 0)  // training would throw Crash instead
    // The emptiest 5-node network (stem 1->32 conv3x3 at 28x28 and identity/pool cells, width 4):
    // 784*32*9 = 225,792 MACs + linear 32->10 = 320.
    #expect(throws: SearchError(.cannotBeMet(LimitViolation(kind: .macs, maximum: 1_000, actual: 226_112)))) {
        _ = try SearchRunner(configuration: configuration, runDirectory: path, evaluator: evaluator).run()
    }
    #expect(!FileManager.default.fileExists(atPath: path))
    #expect(evaluator.counter.count == 0)

    var tight = ScoreFunction.reference
    tight.limits.maxPeakActivationKilobytes = 1
    do {
        _ = try SearchRunner.precheck(smallConfiguration(score: tight), meter: ResourceMeter())
        Issue.record("expected a refusal")
    } catch {
        let message = "\(error)"
        #expect(message.hasPrefix("constraint max_peak_memory_kb 1 cannot be met"))
        #expect(message.hasSuffix("needs 30.62 KiB"))  // 31,360 int8 bytes / 1024
        #expect(!message.contains("\n"))
    }
    // A reachable limit passes the precheck and reports the smallest network.
    var loose = ScoreFunction.reference
    loose.limits.maxMACs = 300_000
    #expect(try SearchRunner.precheck(smallConfiguration(score: loose), meter: ResourceMeter()).smallest.macs == 226_112)
}

@Test func configurationValidation() {
    var configuration = smallConfiguration()
    configuration.inherit = true
    configuration.strategy = .random
    #expect(throws: SearchError.self) { try configuration.validate() }
    var nodes = smallConfiguration(); nodes.nodes = 1
    #expect(throws: SearchError("--nodes must be in 2...16, got 1")) { try nodes.validate() }
    var workers = smallConfiguration(); workers.workers = 0
    #expect(throws: SearchError("--workers must be at least 1, got 0")) { try workers.validate() }
    #expect(throws: Never.self) { try smallConfiguration().validate() }
}

@Test func configurationDifferencesWalkNestedValues() {
    let base = smallConfiguration()
    #expect(base.firstDifference(from: base) == nil)
    var other = base; other.workers = 7
    #expect(base.firstDifference(from: other) == nil)
    other.input.height = 32; other.epochs = 3
    #expect(base.firstDifference(from: other)?.key == "input.height")  // declaration order: input before epochs
    var validation = base; validation.validationPerClass = 1000
    #expect(base.firstDifference(from: validation)?.description == "validationPerClass (run has 100, requested 1000)")
    var plan = base; plan.randomPlan = [[3, 3]]
    #expect(base.firstDifference(from: plan)?.key == "randomPlan")
    var terms = base; terms.score.terms.append(ResourceTerm(.parameters, target: 1, weight: 1))
    #expect(base.firstDifference(from: terms)?.description == "score.terms (run has 1 entries, requested 2 entries)")
    var strategy = base; strategy.strategy = .random
    #expect(base.firstDifference(from: strategy)?.description == "strategy (run has autoshrink, requested random)")
}

@Test func paretoFrontKeepsNonDominatedCandidates() {
    func record(_ index: Int, accuracy: Double, macs: Int) -> CandidateRecord {
        CandidateRecord(step: 1, candidate: index, id: "c\(index)", removedEdge: nil, cellEdges: [Edge(0, index + 1)], edgesLeft: 1,
                        architectureHash: "", accuracy: accuracy,
                        resources: CandidateResources(macs: macs, parameters: 1, weightBytes: 1, peakActivationBytes: 1),
                        score: 0, feasible: true, seconds: 0, epochs: 1)
    }
    let records = [record(0, accuracy: 0.9, macs: 500), record(1, accuracy: 0.8, macs: 300), record(2, accuracy: 0.85, macs: 600),
                   record(3, accuracy: 0.7, macs: 100), record(4, accuracy: 0.8, macs: 300), record(5, accuracy: 0.6, macs: 200)]
    let front = ParetoFront.compute(records, resource: .macs)
    #expect(front.map(\.candidate) == [3, 1, 0])
    // Without latency values there is no latency front.
    #expect(ParetoFront.compute(records, resource: .latencyMilliseconds).isEmpty)
}
