import AutoShrinkModel
import CArmadillo
import Foundation

// Measuring the recurrent section of a profile (docs/devices.md, "Recurrent operators"): builds the
// recurrent harness (Sources/CHarness/profiler/rnn_harness.c, with the language-model kernels) for the
// device, times the grid's operators and whole-token programs of random cells with the image harness's
// rounds, estimator and re-measuring (`RoundMeasurement`), and fits the per-token predictor.

/// The recurrent harness's C source and the runtime files it compiles.
enum RecurrentHarnessSource {
    static let fileName = "rnn_harness.c"
    static let text = EmbeddedCSources.contents(of: "CHarness/profiler/rnn_harness.c")
    /// The runtime sources it links (kernels, clock, SIMD path); every runtime header is written beside them.
    static let compiledRuntimeFiles = ["rnn_kernels.c", "timing.c", "simd_tier.c"]
}

/// Builds the recurrent harness for a device from the embedded sources.
public struct RecurrentHarnessBuilder: Sendable {
    public let device: DeviceDescription

    public init(device: DeviceDescription) { self.device = device }

    /// Builds `<directory>/rnn_harness` and returns its path; errors name the device and the step.
    public func build(in directory: String) throws -> String {
        let step = "build recurrent harness"
        let runtimeDirectory = "\(directory)/rnn-runtime"
        let sources: [String]
        do {
            let runtime = RuntimeSources.files.filter { !$0.path.hasSuffix(".c") || RecurrentHarnessSource.compiledRuntimeFiles.contains($0.path) }
            sources = try HarnessSource.stage(runtimeFiles: runtime, fileName: RecurrentHarnessSource.fileName,
                                              text: RecurrentHarnessSource.text, directory: directory, runtimeDirectory: runtimeDirectory)
        } catch {
            throw ProfileError(device: device.name, step: step, reason: FileProblem.reason(error))
        }
        let toolchain = Toolchain(device: device)
        let binary = "\(directory)/rnn_harness"
        do {
            _ = try toolchain.compile(sources: sources, includeDirectories: ["\(runtimeDirectory)/include", runtimeDirectory], output: binary)
        } catch {
            throw ProfileError.wrapping(error, device: device.name, step: step)
        }
        return binary
    }
}

extension HarnessNetwork {
    /// One recurrent operator as a recurrent-harness item.
    init(recurrent op: RecurrentOperator, name: String, seed: UInt64) {
        self.name = name
        self.dtype = op.dtype
        self.seed = seed
        body = [op.planLine]
    }

    /// One token of a cell model as a recurrent-harness item.
    init(program: RecurrentProgram, dtype: OperatorDataType, name: String, seed: UInt64) {
        self.name = name
        self.dtype = dtype
        self.seed = seed
        body = program.planLines
    }
}

/// Times the recurrent operators and whole-token programs on a device and fits the per-token predictor.
public struct RecurrentProfiler: Sendable {
    public let device: DeviceDescription
    public var options: ProfilerOptions
    public var grid: RecurrentGrid

    public init(device: DeviceDescription, options: ProfilerOptions, grid: RecurrentGrid = RecurrentGrid()) {
        self.device = device; self.options = options; self.grid = grid
    }

    /// Builds and uploads the recurrent harness through `runner` (already prepared), measures, fits.
    public func measure(runner: any DeviceRunner, workDirectory: String, progress: (ProfilerEvent) -> Void) throws -> RecurrentProfile {
        let start = Date()
        progress(.step("building the recurrent harness (language-model kernels)"))
        let binary = try RecurrentHarnessBuilder(device: device).build(in: workDirectory)
        let harness = try DeviceHarness.upload(binary, runner: runner, localDirectory: workDirectory)
        let operators = grid.operators()
        let programs = grid.randomPrograms(count: grid.models, seed: options.seed)
        let operatorItems = operators.enumerated().map { HarnessNetwork(recurrent: $1, name: "rop\($0)", seed: 7000 + UInt64($0)) }
        var programItems: [(program: RecurrentProgram, dtype: OperatorDataType, item: HarnessNetwork)] = []
        for (index, program) in programs.enumerated() {
            for dtype in [OperatorDataType.float32, .int8] {
                let name = "rlm\(index)-\(dtype.harnessName)"
                programItems.append((program, dtype, HarnessNetwork(program: program, dtype: dtype, name: name, seed: 9000 + UInt64(index))))
            }
        }
        let session = RoundMeasurement(harness: harness, options: options, device: device.name)
        // Operators and programs interleaved in the same rounds: a slow spell touches both alike.
        let timings = try session.measure(operatorItems + programItems.map(\.item),
                                          phase: "recurrent operators and token programs (\(operatorItems.count) + \(programItems.count))",
                                          progress: progress)
        let entries = zip(operators, operatorItems).map { op, item -> RecurrentEntry in
            let t = timings[item.name]!
            return RecurrentEntry(operator: op, medianMicroseconds: rounded(t.summary.medianMicroseconds),
                                  ciLowMicroseconds: rounded(t.summary.ciLowMicroseconds), ciHighMicroseconds: rounded(t.summary.ciHighMicroseconds),
                                  p10Microseconds: rounded(t.summary.p10Microseconds), p90Microseconds: rounded(t.summary.p90Microseconds),
                                  rounds: t.summary.rounds, batch: t.batch)
        }
        let measured = programItems.map { program, dtype, item -> (RecurrentProgram, OperatorDataType, TimingSummary) in
            (program, dtype, timings[item.name]!.summary)
        }
        var profile = try Self.assemble(grid: grid, entries: entries, programs: measured, seed: options.seed)
        profile.noise = session.noise
        profile.simdPath = session.simdPath
        profile.seconds = (Date().timeIntervalSince(start) * 10).rounded() / 10
        return profile
    }

    /// The section from measured rows and programs: cost models, then per dtype half the programs fit
    /// `scale * table_sum + intercept` (relative error) and the other half judge it. Pure (tests call it).
    public static func assemble(grid: RecurrentGrid, entries: [RecurrentEntry],
                                programs: [(program: RecurrentProgram, dtype: OperatorDataType, timing: TimingSummary)],
                                seed: UInt64) throws -> RecurrentProfile {
        let sorted = entries.sorted { $0.operator < $1.operator }
        var costModels: [RecurrentCostModel] = []
        for dtype in OperatorDataType.allCases {
            for kind in RecurrentOperatorKind.allCases where kind.hasWeights || dtype == .float32 {
                if let model = RecurrentCostModel.fit(op: kind, dtype: dtype, entries: sorted) { costModels.append(model) }
            }
        }
        var profile = RecurrentProfile(grid: grid, entries: sorted, models: [], fits: [:], costModels: costModels)
        let table = RecurrentLatencyPredictor(recurrent: profile, identity: "profile")
        var models: [RecurrentModelMeasurement] = []
        var fits: [String: RecurrentFit] = [:]
        for dtype in OperatorDataType.allCases {
            var ofType: [RecurrentModelMeasurement] = []
            for measured in programs where measured.dtype == dtype {
                let sum = try table.predict(measured.program, dtype: dtype).tableSumMilliseconds
                ofType.append(RecurrentModelMeasurement(
                    name: "rlm\(ofType.count)-\(dtype.harnessName)", role: "", dtype: dtype, program: measured.program,
                    tableSumMilliseconds: sum, measuredMilliseconds: rounded(measured.timing.medianMicroseconds) / 1000,
                    ciLowMilliseconds: rounded(measured.timing.ciLowMicroseconds) / 1000,
                    ciHighMilliseconds: rounded(measured.timing.ciHighMicroseconds) / 1000, predictedMilliseconds: 0))
            }
            guard !ofType.isEmpty else { continue }
            // A seeded split: the first half of a shuffled order fits.
            var order = Array(ofType.indices)
            var random = ProfileRandom(seed: seed ^ 0xF17 ^ UInt64(dtype.elementBytes))
            for position in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(position, Int(random.next() % UInt64(position + 1))) }
            let fitCount = (ofType.count + 1) / 2
            for (rank, index) in order.enumerated() { ofType[index].role = rank < fitCount ? "fit" : "heldout" }
            var fit = Self.fit(ofType.filter { $0.role == "fit" })
            for index in ofType.indices { ofType[index].predictedMilliseconds = fit.latency(tableSumMilliseconds: ofType[index].tableSumMilliseconds) }
            let heldout = ofType.filter { $0.role == "heldout" }
            fit.fitModels = fitCount
            fit.heldoutModels = heldout.count
            if let accuracy = LatencyFit.accuracy(heldout.map { ($0.predictedMilliseconds, $0.measuredMilliseconds) }) {
                fit.heldoutWithin10Percent = accuracy.within; fit.heldoutMAPE = accuracy.mape; fit.heldoutMaxError = accuracy.maxError
            }
            fit.tableSumMAPE = LatencyFit.accuracy(heldout.map { ($0.tableSumMilliseconds, $0.measuredMilliseconds) })?.mape
            fits[dtype.rawValue] = fit
            models += ofType
        }
        profile.models = models
        profile.fits = fits
        return profile
    }

    /// `scale * table_sum + intercept`: least squares on the relative error (the intercept kept >= 0, else
    /// a scale alone) or the median ratio measured / table sum, whichever has the smaller median absolute
    /// relative error on the fit programs (a few programs timed in a disturbed spell, e.g. large float32
    /// decoders streaming from memory while other jobs run, must not tilt every prediction); fewer than
    /// 3 programs: the median ratio; none: the plain sum.
    static func fit(_ models: [RecurrentModelMeasurement]) -> RecurrentFit {
        let usable = models.filter { $0.measuredMilliseconds > 0 && $0.tableSumMilliseconds > 0 }
        guard !usable.isEmpty else { return RecurrentFit(scale: 1, interceptMilliseconds: 0, method: "none (no programs measured): plain table sum") }
        func solve(columns: Int) -> [Double]? {
            var matrix: [Double] = [], target: [Double] = []
            for model in usable {
                let weight = 1 / model.measuredMilliseconds
                matrix += columns == 2 ? [model.tableSumMilliseconds * weight, weight] : [model.tableSumMilliseconds * weight]
                target.append(1)
            }
            var solution = [Double](repeating: 0, count: columns)
            var residual = 0.0
            let status = as_least_squares(matrix, Int32(usable.count), Int32(columns), target, &solution, &residual)
            return status == AS_STATUS_OK && solution.allSatisfy(\.isFinite) && solution[0] > 0 ? solution : nil
        }
        var candidates = [RecurrentFit(scale: RoundEstimator.median(usable.map { $0.measuredMilliseconds / $0.tableSumMilliseconds }),
                                       interceptMilliseconds: 0,
                                       method: "median ratio measured / table sum over \(usable.count) token programs")]
        if usable.count >= 3 {
            if let both = solve(columns: 2), both[1] >= 0 {
                candidates.append(RecurrentFit(scale: both[0], interceptMilliseconds: both[1],
                                               method: "weighted least squares (relative error) on \(usable.count) token programs"))
            } else if let scale = solve(columns: 1) {
                candidates.append(RecurrentFit(scale: scale[0], interceptMilliseconds: 0,
                                               method: "weighted least squares (relative error) on \(usable.count) token programs, no intercept"))
            }
        }
        func medianError(_ fit: RecurrentFit) -> Double {
            RoundEstimator.median(usable.map { abs(fit.latency(tableSumMilliseconds: $0.tableSumMilliseconds) / $0.measuredMilliseconds - 1) })
        }
        // The least-squares fit wins ties (it is exact on exact data).
        return candidates.reversed().min { medianError($0) < medianError($1) - 1e-9 }!
    }
}

/// Microseconds to 0.1 ns.
private func rounded(_ microseconds: Double) -> Double { (microseconds * 10_000).rounded() / 10_000 }
