import AutoShrinkFormats
import ArgumentParser
import AutoShrinkData
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkModel
import AutoShrinkSearch
import Foundation

/// `autoshrink profile`: measure a device with the kernels that ship and write profiles/<device>.json.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Measure per-operator and whole-network latency on a device and fit its latency predictor.",
        discussion: """
            Builds a benchmark harness from the embedded C runtime kernels with the device's compiler, runs it \
            on the device (locally, over SSH or under qemu), times every operator shape the search space can \
            produce (int8, and float32 for comparison) and a sample of whole networks, fits per-kind cost models \
            for shapes the table lacks and a latency model over the networks' features (table time per operator \
            group, layers, bytes moved; chosen by cross-validation) on half of the networks, judging it on the other half. \
            It also times the language-model kernels per token (the profile's recurrent section, docs/devices.md; \
            --no-recurrent skips them).

            --space: quick (5-node cells), reference (8-node cells, the paper's setting) or a file: a search \
            config.json (its cell operations and macro structure) or an *.arch.json (the shrink space of its \
            cell). refnet is always included. The profile is written atomically; on failure an earlier one stays.

            --validate ARCH...: instead of profiling, time the given architectures (built-in names, *.arch.json \
            files or checkpoints) on the device with the profile's estimator and print each one's measured \
            latency beside the prediction of the existing profile (--out, default profiles/<device>.json).
            """)

    @Option(help: "Device: a name from devices/ or a path to a device .toml file.")
    var device: String
    @Option(help: "Search space: quick, reference, or a search config.json / *.arch.json file.")
    var space: String = "quick"
    @Option(help: "Dataset whose image shape and classes the quick/reference networks take.")
    var dataset: DatasetKind = .fashionMNIST
    @Option(parsing: .unconditional, help: "Timing samples per operator and per network.")
    var repeats: Int = 31
    @Option(parsing: .unconditional, help: "Whole networks to time (half fit the predictor, half judge it).")
    var networks: Int = 60
    @Option(parsing: .unconditional, help: "Minimum milliseconds per timing sample (small operators are batched up to it).")
    var sampleMs: Double = 1.0
    @Flag(help: "Measure the int8 table only (skip the float32 comparison column).")
    var int8Only = false
    @Flag(help: "Skip the language-model kernels (the profile's recurrent section; search --task lm --profile needs it).")
    var noRecurrent = false
    @Flag(help: "Keep the table and networks as estimator.h's raw estimates instead of normalizing them by the speed probe (both fits are still recorded; docs/devices.md, \"Shared cores\").")
    var rawTimings = false
    @Option(parsing: .unconditional, help: "Seed of the network sample and the fit/held-out split.")
    var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Seconds one harness run may take on the device before it is killed.")
    var timeout: Double = 1800
    @Option(help: "Core to pin the harness to: auto (the least loaded core at the start of each harness run), none, or a core number.")
    var cpu: String = "auto"
    @Option(help: "Output file (default: profiles/<device name>.json); with --validate, the profile to check.")
    var out: String?
    @Option(name: .customLong("validate"), parsing: .upToNextOption, help: "Time these architectures (built-in names, *.arch.json files or checkpoints) and compare with the profile's prediction instead of profiling.")
    var validateArchitectures: [String] = []
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try OptionCheck.integer(repeats, "--repeats", in: 3...100_000)
        try OptionCheck.integer(networks, "--networks", in: 0...100_000)
        try OptionCheck.positive(sampleMs, "--sample-ms", maximum: 1000)
        try OptionCheck.positive(timeout, "--timeout", maximum: 30 * 86_400)
        guard repeats >= 3 else { throw ValidationError("--repeats must be at least 3") }
        guard networks >= 0 else { throw ValidationError("--networks must not be negative") }
        guard sampleMs > 0, sampleMs <= 1000 else { throw ValidationError("--sample-ms must be in (0, 1000]") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard CorePinning(cpu) != nil else { throw ValidationError("--cpu must be auto, none or a core number, got '\(cpu)'") }
    }

    func run() throws {
        let out = Output(options: output)
        let deviceDescription = try DeviceDescription.resolve(device)
        if !validateArchitectures.isEmpty { return try runValidation(device: deviceDescription, out: out) }
        let profileSpace = try resolveSpace()
        let outputPath = self.out ?? "profiles/\(deviceDescription.name).json"
        try WritableCheck.file(outputPath, option: self.out == nil ? "output file" : "--out")
        let dtypes: [OperatorDataType] = int8Only ? [.int8] : [.int8, .float32]
        var options = ProfilerOptions(space: profileSpace, dtypes: dtypes, repeats: repeats,
                                      sampleMicroseconds: sampleMs * 1000, networks: networks, seed: seed, runTimeout: timeout)
        options.pinning = CorePinning(cpu) ?? .leastLoaded
        if noRecurrent { options.recurrent = nil }
        if rawTimings { options.normalizeBySpeedProbe = false }
        let roundCount = max(1, min(options.rounds, repeats))
        let operatorCount = try profileSpace.operators(dtypes: dtypes).count
        let runnerText: String
        switch deviceDescription.runner {
        case .local: runnerText = "local"
        case .ssh(let settings): runnerText = "ssh \(settings.displayTarget), remote dir \(settings.remoteDirectory)"
        case .qemu(let settings): runnerText = "qemu \(settings.binary) -cpu \(settings.cpu) -L \(settings.sysroot)"
        }
        let summary = profileSpace.summary
        out.heading("""
            autoshrink profile
              device       \(deviceDescription.name) (\(deviceDescription.architecture.rawValue)), runner \(runnerText)
              compiler     \(deviceDescription.compiler.cc) \(deviceDescription.compiler.flags.joined(separator: " "))
              runtime      \(RuntimeSources.hash.prefix(12))
              space        \(summary.name): \(summary.nodes.map { "\($0)-node cells, widths \(summary.widths.map(String.init).joined(separator: "/")), " } ?? "")\
            input \(summary.input.channels)x\(summary.input.height)x\(summary.input.width), \(summary.classes) classes, plus \(summary.fixed.joined(separator: ", "))
              operators    \(operatorCount) (\(dtypes.map(\.rawValue).joined(separator: " + ")))\(options.recurrent.map { "; recurrent: \($0.operators().count) language-model kernel shapes + \(2 * $0.models) token programs" } ?? "")
              timing       \(roundCount) rounds of \(max(1, repeats / roundCount)) samples of >= \(formatMilliseconds(sampleMs)) ms per item, all items interleaved, \(options.roundsPerRun) rounds per harness run; \(networks) whole networks (int8)
              estimate     10th percentile of the per-round medians (estimator.h); intervals wider than +-\(formatMilliseconds(100 * options.remeasureHalfWidth)) % measured again within \(formatMilliseconds(100 * options.remeasureBudget)) % of the first pass's time (at least \(formatMilliseconds(options.remeasureMinimumSeconds)) s per phase, at most three first passes)
              cpu          \(options.pinning)
              output       \(outputPath)
            """)

        let start = Date()
        var bar: ProgressBar?
        let profile = try Profiler(device: deviceDescription, options: options).run(writingTo: outputPath) { event in
            switch event {
            case .step(let text):
                out.line("  \(text)")
            case let .progress(phase, done, total, _):
                if done == 0 || bar == nil { bar = out.progress("measuring \(phase)", total: total, unit: "harness runs") }
                bar?.update(done, total: total)
                if done >= total { bar?.finish(); bar = nil }
            case .warning(let text):
                out.warn("warning: \(text)")
            }
        }

        let predictor = profile.predictor
        let calibration = predictor.calibration
        if let model = predictor.latencyModel {
            out.line("  predictor    \(model.formula) (\(model.name); 5-fold CV MAPE on the fit networks: "
                     + model.crossValidationMAPE.sorted { $0.value < $1.value }.map { String(format: "%@ %.2f%%", $0.key, $0.value) }.joined(separator: ", ") + ")")
        } else {
            out.line(String(format: "  predictor    latency = %.4f * table_sum + %.4f ms * layers + %.4f ms (%@)",
                            calibration.tableScale, calibration.perLayerMilliseconds, calibration.interceptMilliseconds, predictor.method))
        }
        if let models = predictor.costModels, !models.isEmpty {
            out.line("  missing shapes  per-kind rule chosen by leave-one-out over the table: " + models.map { model in
                String(format: "%@ %@ %@ (%.1f%%)", model.dtype.rawValue, model.op.rawValue, model.choice,
                       model.leaveOneOutMAPE[model.choice] ?? .nan)
            }.joined(separator: ", "))
        }
        if let within = predictor.heldoutWithin10Percent, let mape = predictor.heldoutMAPE {
            out.result(String(format: "held-out networks: %.0f%% of %d within +-10%%, MAPE %.1f%%, worst %.1f%% (a * table_sum + b * layers + c: %.0f%% within, MAPE %.1f%%; plain table sum: %.0f%% within, MAPE %.1f%%)",
                              100 * within, predictor.heldoutNetworks, mape, predictor.heldoutMaxError ?? 0,
                              100 * (predictor.calibrationWithin10Percent ?? 0), predictor.calibrationMAPE ?? 0,
                              100 * (predictor.tableSumWithin10Percent ?? 0), predictor.tableSumMAPE ?? 0))
        } else {
            out.result("no held-out networks (--networks \(networks)): the predictor is the plain table sum")
        }
        if let recurrent = profile.recurrent {
            for (dtype, fit) in recurrent.fits.sorted(by: { $0.key < $1.key }) {
                out.line(String(format: "  recurrent    %@ per token = %.4f * table_sum + %.4f ms; held-out token programs %.0f%% of %d within +-10%%, MAPE %.1f%% (plain sum %.1f%%)",
                                dtype, fit.scale, fit.interceptMilliseconds, 100 * (fit.heldoutWithin10Percent ?? 0), fit.heldoutModels,
                                fit.heldoutMAPE ?? 0, fit.tableSumMAPE ?? 0))
            }
        }
        for noise in (profile.harness.noise ?? []) + (profile.recurrent?.noise ?? []) {
            out.line(String(format: "  noise        %@: median interval width %.1f %% after the first pass (%.0f s), %.1f %% at the end; %d of %d wider than +-%.0f %%, %d measured again (%.0f s), %d still wide",
                            noise.phase, 100 * noise.medianCIWidthFirstPass, noise.firstPassSeconds, 100 * noise.medianCIWidth,
                            noise.wideAfterFirstPass, noise.items, 100 * options.remeasureHalfWidth, noise.remeasured,
                            noise.remeasureSeconds, noise.stillWide))
        }
        let cores = profile.harness.cores ?? []
        out.line("  cpu          harness pinned to \(cores.isEmpty ? "no core" : "core " + cores.map(String.init).joined(separator: ", "))\((profile.harness.unpinnedRuns ?? 0) > 0 ? " (\(profile.harness.unpinnedRuns!) runs unpinned)" : "")")
        let environment = profile.environment
        out.line("  environment  \(environment.cpuModel ?? "unknown CPU"), \(environment.coreCount.map { "\($0) cores" } ?? "? cores"), governor \(environment.governor ?? "n/a"), \(environment.temperatureCelsius.map { String(format: "%.0f C", $0) } ?? "temperature n/a")")
        out.result("wrote \(outputPath): \(profile.entries.count) operators, \(profile.recurrent.map { "\($0.entries.count) recurrent operators, " } ?? "")\(profile.networks.count) networks, harness peak RSS \(profile.harness.peakRSSBytes.map { ArchitectureSummary.bytes($0) } ?? "n/a"), \(formatDuration(Date().timeIntervalSince(start)))")
        out.json(ProfileSummary(
            profile: outputPath, device: deviceDescription.name, entries: profile.entries.count,
            networks: profile.networks.count, seconds: profile.seconds,
            predictorWithin10Percent: predictor.heldoutWithin10Percent, predictorMAPE: predictor.heldoutMAPE,
            tableScale: calibration.tableScale, perLayerMilliseconds: calibration.perLayerMilliseconds,
            interceptMilliseconds: calibration.interceptMilliseconds, peakRSSBytes: profile.harness.peakRSSBytes,
            medianSpread: profile.harness.medianSpread, warnings: profile.warnings, runtime: profile.runtime.hash))
    }

    /// `--validate`: time architectures with the profile's estimator and compare with its predictions.
    func runValidation(device deviceDescription: DeviceDescription, out: Output) throws {
        let start = Date()
        let profilePath = self.out ?? "profiles/\(deviceDescription.name).json"
        let predictor = try ProfileLatencyPredictor.load(path: profilePath, device: deviceDescription.name)
        if let warning = predictor.foreignMachineWarning { out.warn(warning) }
        let space = predictor.profile.space
        let architectures = try validateArchitectures.map { name -> Architecture in
            if let builtin = BuiltinArchitectures.architecture(named: name, input: space.input, classes: space.classes) { return builtin }
            guard FileManager.default.fileExists(atPath: name) else {
                throw CLIError("--validate: unknown architecture '\(name)': not a built-in (\(BuiltinArchitectures.names.joined(separator: ", "))) and no such file")
            }
            if let data = FileManager.default.contents(atPath: name), data.starts(with: Checkpoint.magic) {
                return try Checkpoint.load(path: name).architecture
            }
            return try Architecture.load(path: name)
        }
        let predictions = try architectures.map { try predictor.predictLatencyMilliseconds($0.lowered()) }
        var options = ProfilerOptions(space: try resolveSpace(), dtypes: [.int8], repeats: repeats,
                                      sampleMicroseconds: sampleMs * 1000, networks: 0, seed: seed, runTimeout: timeout)
        options.pinning = CorePinning(cpu) ?? .leastLoaded
        out.heading("""
            autoshrink profile --validate
              device       \(deviceDescription.name) (\(deviceDescription.architecture.rawValue))
              profile      \(profilePath) (\(predictor.identity))
              timing       \(options.rounds) rounds of \(max(1, repeats / options.rounds)) samples per architecture, 10th percentile of the per-round medians (estimator.h)
              cpu          \(options.pinning)
            """)
        var bar: ProgressBar?
        let result = try Profiler(device: deviceDescription, options: options).validate(architectures,
                                                                                      speedProbe: predictor.profile.speedProbe) { event in
            switch event {
            case .step(let text): out.line("  \(text)")
            case let .progress(phase, done, total, _):
                if done == 0 || bar == nil { bar = out.progress("measuring \(phase)", total: total, unit: "harness runs") }
                bar?.update(done, total: total)
                if done >= total { bar?.finish(); bar = nil }
            case .warning(let text): out.warn("warning: \(text)")
            }
        }
        let rows = zip(zip(architectures, predictions), result.measurements).map { pair, measured in
            ProfileValidationSummary.Architecture(
                name: pair.0.name, hash: pair.0.stableHash, predictedMilliseconds: pair.1,
                measuredMilliseconds: measured.measuredMilliseconds, ciLowMilliseconds: measured.timing.ciLowMicroseconds / 1000,
                ciHighMilliseconds: measured.timing.ciHighMicroseconds / 1000)
        }
        out.line(ArchitectureSummary.table(
            headers: ["architecture", "predicted ms", "measured ms", "95% interval", "error"],
            rows: rows.map { [$0.name, String(format: "%.4f", $0.predictedMilliseconds), String(format: "%.4f", $0.measuredMilliseconds),
                              String(format: "%.4f-%.4f", $0.ciLowMilliseconds, $0.ciHighMilliseconds),
                              String(format: "%+.1f %%", $0.errorPercent)] },
            rightAligned: [1, 2, 3, 4]))
        let summary = ProfileValidationSummary(device: deviceDescription.name, profile: profilePath, architectures: rows,
                                               cores: result.cores, seconds: (Date().timeIntervalSince(start) * 10).rounded() / 10)
        if let noise = result.noise {
            out.line(String(format: "  noise        median interval width %.1f %%; %d of %d measured again, %d still wider than +-5 %%",
                            100 * noise.medianCIWidth, noise.remeasured, noise.items, noise.stillWide))
        }
        out.result(String(format: "validated %d architectures on %@: %.0f%% within +-10%% of the prediction, MAPE %.1f%% (%@)",
                          rows.count, deviceDescription.name, 100 * summary.within10Percent, summary.mape,
                          formatDuration(Date().timeIntervalSince(start))))
        out.json(summary)
    }

    /// quick / reference, or a search config / architecture file.
    func resolveSpace() throws -> ProfileSpace {
        let shape = dataset.imageShape
        let input = InputShape(channels: shape.channels, height: shape.height, width: shape.width)
        switch space {
        case "quick": return .quick(input: input, classes: dataset.classCount)
        case "reference": return .reference(input: input, classes: dataset.classCount)
        default: break
        }
        let data: Data
        do { data = try FileProblem.read(space) } catch let error as FileAccessError {
            throw CLIError("--space '\(space)': not quick, reference or a readable file (\(error.reason))")
        }
        struct Header: Decodable { var format: String? }
        let format = (try? JSONDecoder().decode(Header.self, from: data))?.format
        switch format {
        case SearchConfiguration.formatName:
            let configuration = try SearchConfiguration.load(path: space)
            try configuration.validate()
            let base = configuration.architecture(cell: configuration.startCell, name: "\(configuration.architectureName)-full")
            return ProfileSpace(name: space, base: base, anyNodeOperations: false,
                                fixedArchitectures: [BuiltinArchitectures.refnet(input: configuration.input, classes: configuration.classes)])
        case Architecture.formatName:
            return .architecture(try Architecture.load(path: space), name: space)
        default:
            throw CLIError("\(space): neither a search config ('\(SearchConfiguration.formatName)') nor an architecture ('\(Architecture.formatName)')")
        }
    }
}

func formatMilliseconds(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(format: "%g", value)
}
