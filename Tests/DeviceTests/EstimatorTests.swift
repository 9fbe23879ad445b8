import Foundation
import Testing
import AutoShrinkEngine
import AutoShrinkTestSupport
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// The latency estimator of Sources/CHarness/common/estimator.h (shared by the profiler harness and the
/// export's --bench) and its Swift twin `RoundEstimator`: a C driver including estimator.h is compiled
/// and run on synthetic samples; both must agree, and on heavy-tailed one-sided noise with a known
/// true latency the estimate must converge and beat the plain median.
@Suite("Latency estimator (estimator.h and its Swift twin)")
struct EstimatorTests {
    /// Reads sample sets ("ROUNDS PER_ROUND v..." per line) from a file and prints
    /// "value low high rounds j k" for each, with as_est_from_rounds and as_est_interval_ranks.
    static let driver = """
        #define _GNU_SOURCE
        #include "estimator.h"
        int main(int argc, char **argv)
        {
            FILE *file;
            int rounds, per_round;
            if (argc != 2 || !(file = fopen(argv[1], "r"))) return 2;
            while (fscanf(file, "%d %d", &rounds, &per_round) == 2) {
                double *samples = (double *)malloc((size_t)rounds * (size_t)per_round * sizeof(double));
                double *scratch = (double *)malloc((size_t)(rounds + per_round) * sizeof(double));
                as_estimate e;
                int i, j, k;
                for (i = 0; i < rounds * per_round; i++) {
                    if (fscanf(file, "%lf", &samples[i]) != 1) return 3;
                }
                e = as_est_from_rounds(samples, rounds, per_round, scratch);
                as_est_interval_ranks(rounds, AS_EST_QUANTILE, &j, &k);
                printf("%.17g %.17g %.17g %d %d %d\\n", e.value, e.low, e.high, e.rounds, j, k);
                free(samples);
                free(scratch);
            }
            fclose(file);
            printf("pinned %d\\n", as_est_pin(-1));
            return 0;
        }
        """

    struct CEstimate { var estimate: RoundEstimate; var ranks: (low: Int, high: Int) }

    /// Compiles the driver with -Werror and runs it on `sets`; also returns the core it pinned itself to.
    static func runDriver(_ sets: [(rounds: Int, perRound: Int, samples: [Double])]) throws -> (estimates: [CEstimate], pinned: Int) {
        let directory = try TemporaryDirectory("estimator")
        defer { directory.remove() }
        let source = try directory.write("driver.c", driver)
        let binary = directory.file("driver")
        let compile = try runTool(findExecutable("cc")!, ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic",
                                                          "-I\(repositoryRoot)/Sources/CHarness/common", source, "-o", binary, "-lm"])
        guard compile.status == 0 else { throw TestSetupError("driver does not compile: \(compile.stderr)") }
        let input = try directory.write("input.txt", sets.map { set in
            "\(set.rounds) \(set.perRound) " + set.samples.map { String(format: "%.17g", $0) }.joined(separator: " ")
        }.joined(separator: "\n") + "\n")
        let run = try runTool(binary, [input])
        guard run.status == 0 else { throw TestSetupError("driver failed (\(run.status)): \(run.stderr)") }
        var lines = run.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let pinned = Int(lines.removeLast()[1]) ?? -9
        let estimates = lines.map { fields in
            CEstimate(estimate: RoundEstimate(value: Double(fields[0])!, low: Double(fields[1])!, high: Double(fields[2])!,
                                              rounds: Int(fields[3])!),
                      ranks: (Int(fields[4])!, Int(fields[5])!))
        }
        return (estimates, pinned)
    }

    /// Latency samples of an item whose undisturbed time is `truth`: 0.5 % jitter, disturbed spells that
    /// slow whole rounds by 10-60 % (probability `spell`), and preemption spikes with a Pareto tail.
    /// Interference only ever adds time.
    static func noisySamples(truth: Double, rounds: Int, perRound: Int, spell: Double, generator: inout SplitMix64) -> [Double] {
        var samples: [Double] = []
        for _ in 0..<rounds {
            let slowdown = generator.uniform() < spell ? 0.1 + 0.5 * generator.uniform() : 0
            for _ in 0..<perRound {
                var value = truth * (1 + slowdown + 0.005 * abs(generator.gaussian()))
                if generator.uniform() < 0.08 { value += truth * 0.3 * pow(1 - generator.uniform(), -1 / 1.5) }
                samples.append(value)
            }
        }
        return samples
    }


    @Test("interval ranks: exact binomial order statistics, clamped for few rounds")
    func intervalRanks() {
        // n = 20, q = 1/10: P(B = 0) = 0.122 > 2.5 %: j clamps to 1; P(B <= 4) = 0.957, P(B <= 5) = 0.989 so k = 6
        #expect(RoundEstimator.intervalRanks(count: 20) == (1, 6))
        // n = 10: P(B <= 2) = 0.930, P(B <= 3) = 0.987 so k = 4
        #expect(RoundEstimator.intervalRanks(count: 10) == (1, 4))
        // n = 6000 (a 0.5 s bench of a 14 us network): around 600 +- 1.96 * 23.2, no underflow of 0.9^6000
        let long = RoundEstimator.intervalRanks(count: 6000)
        #expect((545...565).contains(long.low) && (635...655).contains(long.high), "\(long)")
        #expect(RoundEstimator.intervalRanks(count: 3) == (1, 3))
        #expect(RoundEstimator.intervalRanks(count: 1) == (1, 1))
        // more rounds, relatively narrower interval
        let wide = RoundEstimator.intervalRanks(count: 10), narrow = RoundEstimator.intervalRanks(count: 200)
        #expect(Double(narrow.high - narrow.low) / 200 < Double(wide.high - wide.low) / 10)
    }

    @Test("a shared core's slow spells (1.4x in 11 of 15 rounds) do not move the estimate off the fast speed")
    func sharedCoreSpells() throws {
        var generator = SplitMix64(seed: 11)
        var rounds: [Double] = []
        for round in 0..<15 {
            let speed = round % 4 == 0 ? 1.0 : 1.4  // rounds 0, 4, 8, 12 fast (docs/devices.md, "Shared cores")
            for _ in 0..<2 { rounds.append(10 * speed * (1 + 0.01 * generator.uniform())) }
        }
        let estimate = try #require(RoundEstimator.estimate(samples: rounds, perRound: 2))
        #expect(estimate.value < 10.2, "\(estimate)")
        // The interval reaches into the slow rounds: such an item is measured again.
        #expect(estimate.relativeHalfWidth > 0.05)
    }

    @Test("the C estimator and the Swift twin compute the same estimates and intervals",
          .enabled(if: findExecutable("cc") != nil, "no C compiler"))
    func twinAgreesWithC() throws {
        var generator = SplitMix64(seed: 7)
        var sets: [(rounds: Int, perRound: Int, samples: [Double])] = []
        for (rounds, perRound) in [(1, 1), (1, 5), (2, 3), (3, 3), (4, 2), (5, 1), (10, 3), (17, 4), (40, 10), (200, 1), (6000, 1)] {
            sets.append((rounds, perRound, Self.noisySamples(truth: 1000 * (1 + generator.uniform()), rounds: rounds, perRound: perRound,
                                                              spell: 0.4, generator: &generator)))
        }
        sets.append((6, 3, [Double](repeating: 5, count: 18)))  // ties
        let c = try Self.runDriver(sets)
        #expect(c.estimates.count == sets.count)
        for (set, result) in zip(sets, c.estimates) {
            let twin = try #require(RoundEstimator.estimate(samples: set.samples, perRound: set.perRound))
            #expect(abs(twin.value - result.estimate.value) <= 1e-9 * twin.value, "\(set.rounds)x\(set.perRound): \(twin) vs \(result.estimate)")
            #expect(twin.low == result.estimate.low && twin.high == result.estimate.high && twin.rounds == result.estimate.rounds)
            #expect(RoundEstimator.intervalRanks(count: set.rounds) == result.ranks)
            #expect(twin.low <= twin.value && twin.value <= twin.high)
        }
        // Pinning: on Linux the driver pins itself to an allowed core.
        #if os(Linux)
        #expect(c.pinned >= 0 && c.pinned < ProcessInfo.processInfo.activeProcessorCount * 64)
        #endif
    }

    @Test("on heavy-tailed one-sided noise the C estimate converges to the true latency and beats the plain median",
          .enabled(if: findExecutable("cc") != nil, "no C compiler"))
    func convergesOnHeavyTailedNoise() throws {
        let truth = 1000.0
        var generator = SplitMix64(seed: 2026)
        var sets: [(rounds: Int, perRound: Int, samples: [Double])] = []
        let trials = 200
        for _ in 0..<trials {
            sets.append((20, 3, Self.noisySamples(truth: truth, rounds: 20, perRound: 3, spell: 0.4, generator: &generator)))
        }
        let c = try Self.runDriver(sets).estimates
        #expect(c.count == trials)
        let estimateErrors = c.map { abs($0.estimate.value - truth) / truth }
        let medianErrors = sets.map { abs(RoundEstimator.median($0.samples) - truth) / truth }
        let meanEstimateError = estimateErrors.reduce(0, +) / Double(trials)
        let meanMedianError = medianErrors.reduce(0, +) / Double(trials)
        print(String(format: "estimator on heavy-tailed noise (200 trials of 20 rounds x 3): mean error %.2f %% (max %.2f %%), plain median %.2f %%",
                     100 * meanEstimateError, 100 * (estimateErrors.max() ?? 0), 100 * meanMedianError))
        // Within 3 % of the truth in (nearly) every trial, and several times closer than the median on average.
        #expect(estimateErrors.filter { $0 <= 0.03 }.count >= trials * 95 / 100, "estimate errors \(estimateErrors.sorted().suffix(10))")
        #expect(meanEstimateError < 0.015, "mean estimate error \(meanEstimateError)")
        #expect(meanMedianError > 3 * meanEstimateError, "median \(meanMedianError) vs estimate \(meanEstimateError)")
        // The interval is honest about the spread: it contains the estimate and is wider on noisier data.
        #expect(c.allSatisfy { $0.estimate.low <= $0.estimate.value && $0.estimate.value <= $0.estimate.high })

        // More rounds: closer (convergence).
        var longSets: [(rounds: Int, perRound: Int, samples: [Double])] = []
        for _ in 0..<50 {
            longSets.append((200, 3, Self.noisySamples(truth: truth, rounds: 200, perRound: 3, spell: 0.4, generator: &generator)))
        }
        let long = try Self.runDriver(longSets).estimates
        let meanLongError = long.map { abs($0.estimate.value - truth) / truth }.reduce(0, +) / Double(long.count)
        print(String(format: "200 rounds x 3: mean error %.2f %%", 100 * meanLongError))
        #expect(meanLongError < meanEstimateError, "200 rounds \(meanLongError) vs 20 rounds \(meanEstimateError)")
        #expect(long.allSatisfy { $0.estimate.relativeHalfWidth < 0.05 }, "200 rounds give intervals within +-5 %")

        // Quiet data: the interval is narrow; noisy data: wider.
        var quiet: [(rounds: Int, perRound: Int, samples: [Double])] = []
        for _ in 0..<20 {
            quiet.append((20, 3, Self.noisySamples(truth: truth, rounds: 20, perRound: 3, spell: 0, generator: &generator)))
        }
        let quietWidths = try Self.runDriver(quiet).estimates.map(\.estimate.relativeWidth)
        let noisyWidths = c.map(\.estimate.relativeWidth)
        #expect(RoundEstimator.median(quietWidths) < RoundEstimator.median(noisyWidths))
    }
}

/// Uniform and Gaussian draws from the engine's generator, for the synthetic noise.
extension SplitMix64 {
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func gaussian() -> Double { sqrt(-2 * log(max(uniform(), 1e-300))) * cos(2 * Double.pi * uniform()) }
}
