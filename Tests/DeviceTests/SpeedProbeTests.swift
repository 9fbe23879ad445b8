import Foundation
import Testing
import AutoShrinkEngine
import AutoShrinkTestSupport
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// The speed probe (Sources/CHarness/common/speed_probe.h) and the normalization by it (harness_cli.h's
/// bench_summarize, its Swift twin `SpeedProbeNormalization`; docs/devices.md "Shared cores"): on a
/// machine whose speed flips between two states by a common factor, in spells of random length, the
/// normalized figure recovers the full-speed time where estimator.h's estimate alone reports the slow
/// speed of a bench that fell wholly into a slow spell; the profile's `speed_probe` round-trips and
/// older profiles without it still load.
@Suite("Speed probe normalization (speed_probe.h, harness_cli.h and the Swift twin)")
struct SpeedProbeTests {
    /// One synthetic bench: `rounds` rounds of `perRound` runs of an item whose full-speed time is `item`,
    /// each round with a probe measurement (full speed `probe`) right before it. The machine is fast (1.0)
    /// or slow (`factor`) in spells of geometric length (mean `meanSpell` rounds), the same factor for item
    /// and probe; runs have 1 % jitter and rare one-sided spikes. Returns run times and probes in order.
    static func bench(item: Double, probe: Double, factor: Double, rounds: Int, perRound: Int, meanSpell: Double,
                      generator: inout SplitMix64) -> (times: [Double], probes: [Double]) {
        var slow = generator.uniform() < 0.5
        var times: [Double] = [], probes: [Double] = []
        for _ in 0..<rounds {
            if generator.uniform() < 1 / meanSpell { slow.toggle() }
            let speed = slow ? factor : 1
            probes.append(probe * speed * (1 + 0.01 * abs(generator.gaussian())))
            for _ in 0..<perRound {
                var value = item * speed * (1 + 0.01 * abs(generator.gaussian()))
                if generator.uniform() < 0.03 { value *= 1.5 }
                times.append(value)
            }
        }
        return (times, probes)
    }

    @Test("two speeds 1.36x apart in random spells: the normalized time stays within 3 % where the raw estimate does not")
    func recoversFullSpeed() throws {
        var generator = SplitMix64(seed: 2026)
        let item = 0.0142, probe = 0.0070
        var rawWithin = 0, normalizedWithin = 0
        let trials = 60
        for _ in 0..<trials {
            // 200 rounds of 10 runs: a 0.5 s bench; spells of 20 to 20000 rounds (mean), often longer than the bench
            let spell = [20.0, 200, 2000, 20000][Int(generator.next() % 4)]
            let run = Self.bench(item: item, probe: probe, factor: 1.36, rounds: 200, perRound: 10, meanSpell: spell,
                                 generator: &generator)
            let medians = RoundEstimator.roundMedians(samples: run.times, perRound: 10)
            let raw = try #require(RoundEstimator.estimate(roundMedians: medians)).value
            let normalized = try #require(SpeedProbeNormalization.normalized(roundMedians: medians, probes: run.probes,
                                                                              reference: probe))
            if abs(raw - item) / item <= 0.03 { rawWithin += 1 }
            if abs(normalized - item) / item <= 0.03 { normalizedWithin += 1 }
        }
        #expect(normalizedWithin == trials, "normalized within 3 %: \(normalizedWithin) of \(trials)")
        // About half the benches start slow and many stay slow throughout: the raw estimate misses those.
        #expect(rawWithin < trials * 8 / 10, "raw within 3 %: \(rawWithin) of \(trials)")
        // The reference itself: the probe's 10th percentile over a long session with both speeds is the fast one.
        let session = Self.bench(item: item, probe: probe, factor: 1.36, rounds: 3000, perRound: 1, meanSpell: 100,
                                 generator: &generator)
        let reference = try #require(SpeedProbeNormalization.reference(probes: session.probes))
        #expect(abs(reference - probe) / probe < 0.01, "\(reference)")
        #expect(SpeedProbeNormalization.ratio(roundMedians: [1, 2], probes: [0, -1]) == nil)
        #expect(SpeedProbeNormalization.ratio(roundMedians: [2, 6, 4], probes: [1, 2, 2]) == 2)
    }

    /// Reads "ROUNDS RUNS REF NEEDED t... p..." per line (RUNS run times, then one probe per round of
    /// BENCH_ROUND_RUNS; NEEDED: bench_summarize's fast_needed) and prints "probe_ms ratio probe_ref_ms
    /// normalized_ms estimate_ms probe_ref_given fast_rounds speed_gated" of bench_summarize.
    static let driver = """
        #define AS_SPEED_PROBE_NONE
        #include "harness_cli.h"
        int main(int argc, char **argv)
        {
            FILE *file;
            long runs, rounds, needed, i;
            double reference;
            if (argc != 2 || !(file = fopen(argv[1], "r"))) return 2;
            while (fscanf(file, "%ld %ld %lf %ld", &rounds, &runs, &reference, &needed) == 4) {
                double *times = allocate_times(runs), *probes = allocate_times(rounds);
                bench_summary s;
                for (i = 0; i < runs; i++) if (fscanf(file, "%lf", &times[i]) != 1) return 3;
                for (i = 0; i < rounds; i++) if (fscanf(file, "%lf", &probes[i]) != 1) return 3;
                if (bench_round_count(runs) != rounds) return 4;
                s = bench_summarize(times, runs, probes, reference, needed, -1, 1);
                printf("%.17g %.17g %.17g %.17g %.17g %d %ld %d\\n", s.probe_ms, s.ratio, s.probe_ref_ms, s.normalized_ms,
                       s.estimate.value, s.probe_ref_given, s.fast_rounds, s.speed_gated);
                free(times);
                free(probes);
            }
            fclose(file);
            return 0;
        }
        """

    @Test("harness_cli.h's bench_summarize computes what the Swift twin computes, speed gate included", .enabled(if: findExecutable("cc") != nil, "no C compiler"))
    func twinAgreesWithC() throws {
        var generator = SplitMix64(seed: 5)
        var sets: [(times: [Double], probes: [Double], reference: Double, needed: Int)] = []
        for index in 0..<12 {
            let run = Self.bench(item: 0.05, probe: 0.007, factor: 1.33, rounds: 40 + index, perRound: 10, meanSpell: 15,
                                 generator: &generator)
            // no reference, a reference with the gate off, with a gate some benches pass and others do not
            let reference = index % 3 == 0 ? 0.0 : 0.0072
            sets.append((run.times, run.probes, reference, index % 3 == 1 ? 0 : 10 + 2 * index))
        }
        let directory = try TemporaryDirectory("speed-probe")
        defer { directory.remove() }
        let source = try directory.write("driver.c", Self.driver)
        let binary = directory.file("driver")
        let compile = try runTool(findExecutable("cc")!, ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic",
                                                          "-I\(repositoryRoot)/Sources/CHarness/common",
                                                          "-I\(repositoryRoot)/Sources/CRuntime/include", source, "-o", binary, "-lm"])
        guard compile.status == 0 else { throw TestSetupError("driver does not compile: \(compile.stderr)") }
        let input = try directory.write("input.txt", sets.map { set in
            "\(set.probes.count) \(set.times.count) \(set.reference) \(set.needed) "
                + (set.times + set.probes).map { String(format: "%.17g", $0) }.joined(separator: " ")
        }.joined(separator: "\n") + "\n")
        let run = try runTool(binary, [input])
        guard run.status == 0 else { throw TestSetupError("driver failed (\(run.status)): \(run.stderr)") }
        let lines = run.stdout.split(separator: "\n").map { $0.split(separator: " ").compactMap { Double($0) } }
        #expect(lines.count == sets.count)
        var gatedSets = 0, ungatedSets = 0
        for (set, fields) in zip(sets, lines) where fields.count == 8 {
            let medians = RoundEstimator.roundMedians(samples: set.times, perRound: 10)
            #expect(abs(fields[4] - RoundEstimator.estimate(roundMedians: medians)!.value) <= 1e-12)
            #expect(fields[5] == (set.reference > 0 ? 1 : 0))
            guard set.reference > 0 else {
                let probeEstimate = try #require(SpeedProbeNormalization.reference(probes: set.probes))
                let ratio = try #require(SpeedProbeNormalization.ratio(roundMedians: medians, probes: set.probes))
                #expect(abs(fields[0] - probeEstimate) <= 1e-12 * probeEstimate)
                #expect(abs(fields[1] - ratio) <= 1e-12 * ratio)
                #expect(fields[2] == probeEstimate && fields[7] == 0)
                #expect(abs(fields[3] - ratio * probeEstimate) <= 1e-12 * ratio * probeEstimate)
                continue
            }
            let gate = try #require(SpeedProbeNormalization.gated(roundMedians: medians, probes: set.probes,
                                                                  reference: set.reference, fastNeeded: set.needed))
            #expect(fields[2] == set.reference)
            #expect(abs(fields[3] - gate.normalized) <= 1e-12 * gate.normalized, "\(fields) \(gate)")
            #expect(Int(fields[6]) == gate.fastRounds && fields[7] == (gate.gated ? 1 : 0))
            #expect(abs(fields[1] * set.reference - gate.normalized) <= 1e-12 * gate.normalized)
            if gate.gated { gatedSets += 1 } else { ungatedSets += 1 }
        }
        // the sets exercise both outcomes of the gate
        #expect(gatedSets >= 2 && ungatedSets >= 2, "gated \(gatedSets), not gated \(ungatedSets)")
    }

    @Test("a wide network that slows down less than the probe: normalizing only slow rounds undershoots, the speed gate does not")
    func speedGate() throws {
        var generator = SplitMix64(seed: 77)
        let item = 0.092, probe = 0.0045
        // A bench that started in a slow spell (probe 1.35x, the wide network only 1.24x: measured on refnet-3x,
        // docs/devices.md "Speed-gated bench") and saw fast rounds only after its planned 200 rounds.
        var medians: [Double] = [], probes: [Double] = []
        for round in 0..<260 {
            let slow = round < 200
            probes.append(probe * (slow ? 1.35 : 1) * (1 + 0.01 * abs(generator.gaussian())))
            medians.append(item * (slow ? 1.24 : 1) * (1 + 0.01 * abs(generator.gaussian())))
        }
        let planned = try #require(SpeedProbeNormalization.gated(roundMedians: Array(medians[..<200]), probes: Array(probes[..<200]),
                                                                 reference: probe, fastNeeded: 100))
        #expect(!planned.gated && planned.fastRounds == 0)
        #expect((item - planned.normalized) / item > 0.06, "all slow rounds: \(planned.normalized) against \(item)")
        let waited = try #require(SpeedProbeNormalization.gated(roundMedians: medians, probes: probes, reference: probe, fastNeeded: 60))
        #expect(waited.gated && waited.fastRounds == 60)
        #expect(abs(waited.normalized - item) / item < 0.02, "\(waited.normalized) against \(item)")
        #expect(SpeedProbeNormalization.atReferenceSpeed(probe: probe * 1.099, reference: probe))
        #expect(!SpeedProbeNormalization.atReferenceSpeed(probe: probe * 1.101, reference: probe))
        #expect(!SpeedProbeNormalization.atReferenceSpeed(probe: probe, reference: 0))
    }

    @Test("the profile's speed_probe round-trips, a profile without it loads, and a bad one is refused")
    func profileField() throws {
        var profile = handMadeProfile(try PredictorTests.refnetEntries())
        let old = try DeviceProfile.decode(Data(profile.jsonText().utf8), source: "p.json")
        #expect(old.speedProbe == nil && old.speedProbeMilliseconds == nil && !profile.jsonText().contains("speed_probe"))
        var probe = ProfileSpeedProbe(milliseconds: 0.0071, p90Milliseconds: 0.0095, measurements: 4000, normalizedTimings: false)
        probe.heldoutWithin10PercentRaw = 0.9
        probe.heldoutMAPENormalized = 3.5
        profile.speedProbe = probe
        let text = profile.jsonText()
        #expect(text.contains("\"speed_probe\""))
        let loaded = try DeviceProfile.decode(Data(text.utf8), source: "p.json")
        #expect(loaded.speedProbe == probe && loaded.speedProbeMilliseconds == 0.0071)
        profile.speedProbe!.milliseconds = -1
        #expect(throws: (any Error).self) { try DeviceProfile.decode(Data(profile.jsonText().utf8), source: "p.json") }
        // The reference an export's bench is given: only from a profile of the current C sources.
        let directory = try TemporaryDirectory("speed-probe-profile")
        defer { directory.remove() }
        profile.speedProbe = probe
        let path = try directory.write("p.json", profile.jsonText())
        #expect(try DeviceProfile.speedProbeReference(path: path, required: false).milliseconds == 0.0071)
        profile.runtime.hash = "other"
        let stale = try directory.write("stale.json", profile.jsonText())
        #expect(try DeviceProfile.speedProbeReference(path: stale, required: false).milliseconds == nil)
        let oldPath = try directory.write("old.json", old.jsonText())
        #expect(try DeviceProfile.speedProbeReference(path: oldPath, required: true).milliseconds == nil)
        #expect(try DeviceProfile.speedProbeReference(path: directory.file("none.json"), required: false).milliseconds == nil)
        #expect(throws: (any Error).self) { try DeviceProfile.speedProbeReference(path: directory.file("none.json"), required: true) }
    }

    @Test("the harness's probe lines pair with the rounds, and a timing normalized by them scales every figure")
    func harnessProbeLines() throws {
        let output = try HarnessOutput.parse("""
            simd x
            samples op0 4 00000000 00000000 10.0 11.0 14.0 14.0 10.5 10.0
            estimate op0 3 2 10.5 10.0 14.0
            probe op0 5.0 7.0 5.0
            """)
        let samples = try #require(output.samples.first)
        #expect(samples.probe == [5, 7, 5] && samples.rounds.count == 3)
        let summary = try #require(TimingSummary(rounds: samples.rounds, probes: samples.probe))
        // round medians 10.5, 14, 10.25 (10th percentile 10.3) over probes 5, 7, 5 (10th percentile 5): 2.06
        #expect(abs(summary.probeRatio! - 2.06) < 1e-12)
        let normalized = try #require(summary.normalized(referenceNanoseconds: 4))
        #expect(abs(normalized.medianMicroseconds - 0.00824) < 1e-12)
        #expect(abs(normalized.ciHighMicroseconds / normalized.medianMicroseconds - summary.ciHighMicroseconds / summary.medianMicroseconds) < 1e-12)
        #expect(TimingSummary(rounds: samples.rounds)?.probeRatio == nil)
        #expect(throws: (any Error).self) { try HarnessOutput.parse("probe op9 1.0\n") }
    }
}
