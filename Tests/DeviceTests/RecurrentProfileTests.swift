import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// The recurrent section of a profile (docs/devices.md, "Recurrent operators"): the per-token program of
/// a cell model, the cost models and the fit on a hand-made table, profiles without the section, and the
/// recurrent harness itself on this machine.
@Suite("Recurrent operators in profiles")
struct RecurrentProfileTests {
    /// time_us = 0.002 * rows * columns + 0.01 * columns + 0.3 for every kind (int8 rows 1.5x that).
    static func handMadeTime(_ op: RecurrentOperator) -> Double {
        (0.002 * Double(op.rows * op.columns) + 0.01 * Double(op.columns) + 0.3) * (op.dtype == .int8 ? 1.5 : 1)
    }

    static let grid = RecurrentGrid(widths: [16, 32, 64, 128], vocabularies: [100, 1_000, 3_000], meanInputs: [1, 2, 4],
                                    maximumDecoderElements: 400_000, models: 8)

    static func handMadeEntries() -> [RecurrentEntry] {
        grid.operators().map { op in
            let t = handMadeTime(op)
            return RecurrentEntry(operator: op, medianMicroseconds: t, ciLowMicroseconds: t * 0.98, ciHighMicroseconds: t * 1.02,
                                  p10Microseconds: t * 0.97, p90Microseconds: t * 1.05, rounds: 10, batch: 100)
        }
    }

    /// node 0 tanh; node 1 relu <- 0; node 2 identity <- 0, 1; node 3 (dead); leaves: 2.
    static let program = RecurrentProgram(
        embed: 32, hidden: 32, vocabulary: 1_000, tied: true,
        nodes: [.init(index: 0, activation: .tanh, inputs: []), .init(index: 1, activation: .relu, inputs: [0]),
                .init(index: 2, activation: .identity, inputs: [0, 1])],
        leaves: [2])

    @Test("a token's kernel calls are the exported program's, in order")
    func programOperators() throws {
        let ops = Self.program.operators(dtype: .int8).map(\.description)
        #expect(ops == [
            "int8 embedding 1000x32",
            "int8 vecmat 32x64", "int8 vecmat 32x64", "sigmoid 1x32", "tanh 1x32", "highway 1x32",   // node 0
            "int8 vecmat 32x64", "sigmoid 1x32", "relu 1x32", "highway 1x32",                        // node 1 <- 0
            "mean 2x32", "int8 vecmat 32x64", "sigmoid 1x32", "highway 1x32",                        // node 2 <- mean(0, 1), identity
            "mean 1x32", "int8 rowdot 1000x32", "log_sum_exp 1x1000",
        ])
        #expect(Self.program.planLines == ["lm 32 32 1000 1", "node 0 0", "node 1 1 0", "node 2 3 0 1", "leaves 2"])
        var bad = Self.program
        bad.nodes[2].inputs = [3]
        #expect(throws: ProfileError.self) { try bad.validate() }
        bad = Self.program
        bad.tied = true; bad.embed = 16
        #expect(throws: ProfileError.self) { try bad.validate() }
    }

    @Test("cost models and the per-token fit on a hand-made table predict shapes off the grid")
    func fitAndPredict() throws {
        let entries = Self.handMadeEntries()
        // Whole-token programs that run 1.2x their table sum plus 2 us (the harness's calls between kernels).
        let programs = Self.grid.randomPrograms(count: 8, seed: 3)
        // Table sums as the profile computes them (measured rows, cost models for shapes off the grid).
        let table = RecurrentLatencyPredictor(recurrent: try RecurrentProfiler.assemble(grid: Self.grid, entries: entries, programs: [], seed: 1),
                                              identity: "table")
        var measured: [(program: RecurrentProgram, dtype: OperatorDataType, timing: TimingSummary)] = []
        for program in programs {
            for dtype in [OperatorDataType.float32, .int8] {
                let sum = try table.predict(program, dtype: dtype).tableSumMilliseconds
                let nanoseconds = (1.2 * sum + 0.002) * 1e6
                measured.append((program, dtype, try #require(TimingSummary(rounds: Array(repeating: [nanoseconds], count: 10)))))
            }
        }
        let recurrent = try RecurrentProfiler.assemble(grid: Self.grid, entries: entries, programs: measured, seed: 1)
        #expect(recurrent.models.count == 16 && recurrent.models.filter { $0.role == "fit" }.count == 8)
        for dtype in ["float32", "int8"] {
            let fit = try #require(recurrent.fits[dtype])
            #expect(abs(fit.scale - 1.2) < 1e-3 && abs(fit.interceptMilliseconds - 0.002) < 1e-5, "\(dtype): \(fit)")
            #expect(fit.heldoutModels == 4 && (fit.heldoutMAPE ?? 100) < 0.1 && fit.heldoutWithin10Percent == 1)
        }
        // The cost models recover the hand-made coefficients, so a shape off the grid is estimated exactly.
        let vecmat = try #require(recurrent.costModels.first { $0.op == .vecmat && $0.dtype == .float32 })
        #expect(abs(vecmat.microseconds(rows: 200, columns: 400) - Self.handMadeTime(RecurrentOperator(.vecmat, rows: 200, columns: 400))) < 0.05)
        let predictor = RecurrentLatencyPredictor(recurrent: recurrent, identity: "hand-made")
        var offGrid = Self.program
        offGrid.embed = 48; offGrid.hidden = 48; offGrid.vocabulary = 2_000
        for dtype in [OperatorDataType.float32, .int8] {
            let prediction = try predictor.predict(offGrid, dtype: dtype)
            let exact = offGrid.operators(dtype: dtype).map(Self.handMadeTime).reduce(0, +) / 1000
            #expect(prediction.calls.contains { !$0.measured })
            #expect(abs(prediction.tableSumMilliseconds - exact) < 0.01 * exact, "\(prediction.tableSumMilliseconds) vs \(exact)")
            #expect(abs(prediction.latencyMilliseconds - (1.2 * exact + 0.002)) < 0.01 * (1.2 * exact + 0.002))
            #expect(abs(prediction.groups.map(\.milliseconds).reduce(0, +) - prediction.tableSumMilliseconds) < 1e-9)
        }
        // More live nodes, more time.
        var smaller = offGrid
        smaller.nodes = [smaller.nodes[0]]; smaller.leaves = [0]
        #expect(try predictor.predict(smaller, dtype: .float32).latencyMilliseconds < predictor.predict(offGrid, dtype: .float32).latencyMilliseconds)
    }

    @Test("a profile without the recurrent section loads, and language-model requests fail with one line")
    func profileWithoutSection() throws {
        var profile = handMadeProfile([])
        profile.entries = try PredictorTests.refnetEntries().map {
            ProfileEntry(configuration: $0.0, medianMicroseconds: $0.1, p10Microseconds: $0.1, p90Microseconds: $0.1, repetitions: 5, batch: 1)
        }
        let without = try DeviceProfile.decode(Data(profile.jsonText().utf8), source: "p.json")
        #expect(without.recurrent == nil && !profile.jsonText().contains("\"recurrent\""))
        do {
            _ = try RecurrentLatencyPredictor(profile: without, identity: "profiles/old.json")
            Issue.record("no error")
        } catch {
            #expect("\(error)" == "profiles/old.json: profile has no recurrent operators; re-run autoshrink profile")
        }
        // With the section it round-trips, and a broken row is refused by the loader.
        profile.recurrent = RecurrentProfile(grid: Self.grid, entries: Self.handMadeEntries(), models: [], fits: [:], costModels: [])
        let with = try DeviceProfile.decode(Data(profile.jsonText().utf8), source: "p.json")
        #expect(with.recurrent == profile.recurrent)
        profile.recurrent!.entries[0].medianMicroseconds = -1
        #expect(throws: (any Error).self) { try DeviceProfile.decode(Data(profile.jsonText().utf8), source: "p.json") }
    }

    @Test("the recurrent harness builds with -Werror -pedantic and times a tiny grid and token programs on this machine",
          .enabled(if: findExecutable("gcc") != nil, "no gcc"))
    func tinyRealMeasurement() throws {
        let directory = try TemporaryDirectory("rnn-harness")
        defer { directory.remove() }
        let runtime = "\(repositoryRoot)/Sources/CRuntime", harness = "\(repositoryRoot)/Sources/CHarness"
        let warnings = try runTool(findExecutable("gcc")!, ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
                                                            "-I\(runtime)/include", "-I\(runtime)", "-I\(harness)/common",
                                                            "-c", "\(harness)/profiler/rnn_harness.c", "-o", "\(directory.path)/x.o"])
        #expect(warnings.status == 0, "\(warnings.stderr)")
        let device = localDevice()
        var options = ProfilerOptions(space: .quick(), repeats: 4, rounds: 2, sampleMicroseconds: 20, networks: 0, seed: 2)
        options.pinning = .none
        let grid = RecurrentGrid(widths: [8, 16], vocabularies: [50, 200], meanInputs: [1, 2], maximumDecoderElements: 10_000, models: 2)
        let runner = makeRunner(for: device)
        try runner.prepare()
        defer { try? runner.cleanup() }
        let recurrent = try RecurrentProfiler(device: device, options: options, grid: grid)
            .measure(runner: runner, workDirectory: directory.path) { _ in }
        #expect(recurrent.entries.count == grid.operators().count)
        #expect(recurrent.entries.allSatisfy { $0.medianMicroseconds > 0 && $0.ciLowMicroseconds <= $0.medianMicroseconds })
        #expect(recurrent.models.count == 4 && recurrent.models.allSatisfy { $0.measuredMilliseconds > 0 && $0.tableSumMilliseconds > 0 })
        #expect(Set(recurrent.fits.keys) == ["float32", "int8"] && recurrent.simdPath != nil)
        // A bigger decoder takes longer than a smaller one (same width).
        let rowdot = recurrent.entries.filter { $0.op == .rowdot && $0.dtype == .float32 && $0.columns == 16 }.sorted { $0.rows < $1.rows }
        #expect(rowdot.count == 2 && rowdot[0].medianMicroseconds < rowdot[1].medianMicroseconds)
    }
}
