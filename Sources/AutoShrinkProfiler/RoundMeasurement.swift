import Foundation

// Timing items (operators or networks) on a staged harness in rounds, with the shared estimator and
// re-measuring of wide intervals (docs/architecture.md, "Latency estimator"). Used by the profile
// itself and by `autoshrink profile --validate`.

/// One measuring session on a staged harness: counts runs, cores and noise over its phases.
final class RoundMeasurement {
    let harness: DeviceHarness
    let options: ProfilerOptions
    let device: String
    private(set) var runs = 0
    private(set) var peakRSS: Int?
    private(set) var simdPath: String?
    private(set) var cores = Set<Int>()
    private(set) var unpinnedRuns = 0
    private(set) var noise: [ProfileNoise] = []
    /// Every speed-probe measurement of the session (nanoseconds, one per item and round; speed_probe.h).
    private(set) var probes: [Double] = []
    private var generator: ProfileRandom
    let roundCount: Int
    let perRound: Int
    let roundsPerRun: Int

    init(harness: DeviceHarness, options: ProfilerOptions, device: String) {
        self.harness = harness
        self.options = options
        self.device = device
        generator = ProfileRandom(seed: options.seed ^ 0x5EED)
        roundCount = max(1, min(options.rounds, options.repeats))
        perRound = max(1, options.repeats / roundCount)
        roundsPerRun = max(1, options.roundsPerRun)
    }

    typealias Timing = (summary: TimingSummary, batch: Int, checksum: String)

    /// Rounds over all items, `roundsPerRun` per harness run, each run in a fresh seeded order: an
    /// item's rounds are spread over the whole measurement, and a slow spell on a shared machine
    /// touches a few rounds of every item instead of all samples of some. Then the items whose
    /// interval reaches beyond +-remeasureHalfWidth get more rounds, within remeasureBudget of the
    /// first pass's time or remeasureMinimumSeconds (at most three first passes), whichever is longer.
    func measure(_ items: [HarnessNetwork], phase: String, progress: (ProfilerEvent) -> Void) throws -> [String: Timing] {
        var rounds: [String: [[Double]]] = [:]
        var probeRounds: [String: [Double]] = [:]
        var batches: [String: Int] = [:]
        var checksums: [String: String] = [:]
        func runHarness(_ subset: [HarnessNetwork], rounds roundsThisRun: Int) throws {
            var order = subset
            for position in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(position, Int(generator.next() % UInt64(position + 1)))
            }
            let output = try harness.time(order, rounds: roundsThisRun, perRound: perRound,
                                          sampleMicroseconds: options.sampleMicroseconds, pinning: options.pinning,
                                          timeout: options.runTimeout)
            runs += 1
            if let core = output.cpu { cores.insert(core) } else { unpinnedRuns += 1 }
            if let rss = output.peakRSSKilobytes { peakRSS = max(peakRSS ?? 0, rss * 1024) }
            simdPath = simdPath ?? output.simdPath
            for samples in output.samples {
                rounds[samples.name, default: []] += samples.rounds
                // one probe per round, or none at all for this item (an older harness)
                let itemProbes = samples.probe.count == samples.rounds.count ? samples.probe : []
                probeRounds[samples.name, default: []] += itemProbes
                probes += itemProbes
                batches[samples.name] = max(batches[samples.name] ?? 0, samples.batch)
                checksums[samples.name] = checksums[samples.name] ?? samples.outputChecksum
            }
        }
        func summaries(_ subset: [HarnessNetwork]) throws -> [String: TimingSummary] {
            var result: [String: TimingSummary] = [:]
            for item in subset {
                guard let summary = TimingSummary(rounds: rounds[item.name] ?? [], probes: probeRounds[item.name] ?? []) else {
                    throw ProfileError(device: device, step: "run harness", reason: "no samples for \(item.name)")
                }
                result[item.name] = summary
            }
            return result
        }
        let runCount = (roundCount + roundsPerRun - 1) / roundsPerRun
        let phaseStart = Date()
        progress(.progress(phase: phase, done: 0, total: runCount, elapsedSeconds: 0))
        for run in 0..<runCount {
            try runHarness(items, rounds: min(roundsPerRun, roundCount - run * roundsPerRun))
            progress(.progress(phase: phase, done: run + 1, total: runCount, elapsedSeconds: Date().timeIntervalSince(phaseStart)))
        }
        let firstPassSeconds = Date().timeIntervalSince(phaseStart)
        var current = try summaries(items)
        let firstWidths = current.values.map(\.estimate.relativeWidth)
        func wide() -> [HarnessNetwork] {
            items.filter { current[$0.name]!.estimate.relativeHalfWidth > options.remeasureHalfWidth }
        }
        var remeasured = Set<String>()
        var remeasureSeconds = 0.0
        let budget = max(options.remeasureBudget * firstPassSeconds, min(options.remeasureMinimumSeconds, 3 * firstPassSeconds))
        let secondsPerItemRound = firstPassSeconds / Double(max(1, items.count * roundCount))
        var pending = wide()
        let firstWide = pending.count
        while !pending.isEmpty {
            let expected = secondsPerItemRound * Double(pending.count * roundsPerRun)
            guard remeasureSeconds + expected <= budget else { break }
            if remeasured.isEmpty {
                progress(.step(String(format: "%@: measuring %d of %d items again (interval wider than +-%.0f %%), for up to %.0f s",
                                      phase, pending.count, items.count, 100 * options.remeasureHalfWidth, budget)))
            }
            let started = Date()
            try runHarness(pending, rounds: roundsPerRun)
            remeasureSeconds += Date().timeIntervalSince(started)
            remeasured.formUnion(pending.map(\.name))
            for (key, value) in try summaries(pending) { current[key] = value }
            pending = wide()
        }
        noise.append(ProfileNoise(
            phase: phase, items: items.count, medianCIWidthFirstPass: Self.median(firstWidths),
            medianCIWidth: Self.median(current.values.map(\.estimate.relativeWidth)), wideAfterFirstPass: firstWide,
            remeasured: remeasured.count, stillWide: pending.count, firstPassSeconds: (firstPassSeconds * 10).rounded() / 10,
            remeasureSeconds: (remeasureSeconds * 10).rounded() / 10))
        var result: [String: Timing] = [:]
        for item in items { result[item.name] = (current[item.name]!, batches[item.name] ?? 1, checksums[item.name] ?? "") }
        return result
    }

    /// The speed probe's full-speed time over the whole session so far (nanoseconds; the 10th
    /// percentile of every probe measurement, `SpeedProbeNormalization.reference`); nil without probes.
    var speedProbeNanoseconds: Double? { SpeedProbeNormalization.reference(probes: probes) }

    static func median(_ values: [Double]) -> Double {
        let finite = values.filter(\.isFinite)
        return finite.isEmpty ? 0 : RoundEstimator.median(finite)
    }
}
