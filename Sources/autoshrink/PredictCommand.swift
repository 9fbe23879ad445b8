import AutoShrinkFormats
import ArgumentParser
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkModel
import AutoShrinkLM
import Foundation

/// `autoshrink predict ARCH --profile P`: predicted latency and memory of an architecture on a profiled device.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict an architecture's int8 latency on a profiled device, with its peak activation and weight bytes.",
        discussion: """
            Looks up the profile's per-operator int8 table for the network's layers and applies the profile's \
            latency model. Layers whose exact shape was not profiled are estimated from the profiled shapes of their \
            kind (per-kind cost models) and marked '~'. Built-in names take the input shape of the profile's space.

            An *.rnncell.json cell (docs/shrinkrnn.md) is predicted per token from the profile's recurrent \
            section: the exported program's kernel calls at --embed/--hidden/--vocabulary, float32 and int8.
            """)

    @Argument(help: "A built-in name (\(BuiltinArchitectures.names.joined(separator: ", "))), an *.arch.json file or a checkpoint.")
    var arch: String
    @Option(help: "Device profile (profiles/X.json).")
    var profile: String
    @Flag(help: "Use a profile measured on another machine (warns instead of refusing).") var allowForeignProfile = false
    @Option(parsing: .unconditional, help: "RNN cells: embedding width.") var embed: Int = 200
    @Option(parsing: .unconditional, help: "RNN cells: hidden width.") var hidden: Int = 200
    @Option(parsing: .unconditional, help: "RNN cells: vocabulary.") var vocabulary: Int = 10_000
    @Flag(help: "RNN cells: separate decoder weights (default: tied when --embed equals --hidden).") var untied = false
    @Option(help: "RNN cells: the precision --json reports (float32, the export's default binary, or int8).")
    var latencyPrecision: OperatorDataType = .float32
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try OptionCheck.integer(embed, "--embed", in: 1...LanguageModelShape.maximumWidth)
        try OptionCheck.integer(hidden, "--hidden", in: 1...LanguageModelShape.maximumWidth)
        try OptionCheck.integer(vocabulary, "--vocabulary", in: 3...10_000_000)
    }

    func run() throws {
        let out = Output(options: output)
        let predictor = try ProfileLatencyPredictor.load(path: profile, allowForeignMachine: allowForeignProfile)
        if let warning = predictor.foreignMachineWarning { out.warn(warning) }
        if arch.hasSuffix(".rnncell.json") { return try predictCell(predictor, out: out) }
        let architecture = try resolve(space: predictor.profile.space)
        let graph = architecture.lowered()
        let cost = CostModel.costs(of: graph)
        let predictions = try predictor.layerPredictions(graph)
        let latency = try predictor.predictLatencyMilliseconds(graph)
        let interpolated = predictions.filter { if case .interpolated = $0.source { return true } else { return false } }

        out.heading("""
            autoshrink predict
              architecture \(architecture.name) (\(architecture.stableHash))
              profile      \(profile) (\(predictor.identity), \(predictor.profile.environment.cpuModel ?? "unknown CPU"))
            """)
        var rows: [[String]] = []
        for (layer, prediction) in zip(cost.layers, predictions) {
            let mark: String
            switch prediction.source {
            case .measured: mark = ""
            case .interpolated: mark = "~"
            case .none: mark = "-"
            }
            rows.append([layer.name, layer.operation, layer.outputShape.description, ArchitectureSummary.grouped(layer.macs),
                         String(format: "%.1f", prediction.tableMicroseconds), mark + String(format: "%.4f", prediction.milliseconds)])
        }
        let calibration = predictor.calibration
        if !output.quiet {
            out.line(ArchitectureSummary.table(headers: ["layer", "op", "output", "MACs", "table us", "predicted ms"], rows: rows,
                                               rightAligned: [3, 4, 5]))
            if let model = predictor.profile.predictor.latencyModel {
                out.line("  model        \(model.formula) (\(model.name))")
            } else {
                out.line(String(format: "  calibration  %.4f * table_sum + %.4f ms * %d layers %@ %.4f ms",
                                calibration.tableScale, calibration.perLayerMilliseconds,
                                predictions.filter { $0.configuration != nil }.count,
                                calibration.interceptMilliseconds < 0 ? "-" : "+", abs(calibration.interceptMilliseconds)))
            }
            if !interpolated.isEmpty {
                let rule = predictor.profile.predictor.costModels == nil
                    ? "by MACs between the nearest profiled shapes"
                    : "from the profiled shapes of their kind by per-kind cost models (MACs, bytes moved)"
                out.warn("note: \(interpolated.count) of \(predictions.count) layers were not profiled and are estimated \(rule) (marked ~); profile a space that covers this architecture for measured values")
            }
            if let within = predictor.profile.predictor.heldoutWithin10Percent, let mape = predictor.profile.predictor.heldoutMAPE {
                out.line(String(format: "  accuracy     %.0f%% of %d held-out networks within +-10%%, MAPE %.1f%%",
                                100 * within, predictor.profile.predictor.heldoutNetworks, mape))
            }
        }
        out.result(String(format: "%@ on %@: %.3f ms predicted, peak activations %@, weights %@ (int8)", architecture.name,
                          predictor.profile.device.name, latency, ArchitectureSummary.bytes(cost.peakActivationBytesInt8),
                          ArchitectureSummary.bytes(cost.weightBytesInt8)))
        out.json(PredictSummary(
            architecture: architecture.name, hash: architecture.stableHash, profile: profile, identity: predictor.identity,
            latencyMilliseconds: latency, peakActivationBytes: cost.peakActivationBytesInt8, weightBytes: cost.weightBytesInt8,
            macs: cost.macs, layers: predictions.count, interpolatedLayers: interpolated.count))
    }

    /// Built-in (shaped like the profile's space), checkpoint or architecture file.
    func resolve(space: ProfileSpaceSummary) throws -> Architecture {
        if let builtin = BuiltinArchitectures.architecture(named: arch, input: space.input, classes: space.classes) { return builtin }
        guard FileManager.default.fileExists(atPath: arch) else {
            throw CLIError("unknown architecture '\(arch)': not a built-in (\(BuiltinArchitectures.names.joined(separator: ", "))) and no such file")
        }
        if arch.hasSuffix(".ckpt") { return try Checkpoint.load(path: arch).architecture }
        if let data = FileManager.default.contents(atPath: arch), data.starts(with: Checkpoint.magic) {
            return try Checkpoint.load(path: arch).architecture
        }
        return try Architecture.load(path: arch)
    }
}

extension PredictCommand {
    /// `predict X.rnncell.json`: latency per token of the cell model from the profile's recurrent section.
    func predictCell(_ profilePredictor: ProfileLatencyPredictor, out: Output) throws {
        let cell = try RNNCell.loadDocument(path: arch)
        let shape = LanguageModelShape(vocabulary: vocabulary, embed: embed, hidden: hidden, tied: !untied && embed == hidden)
        let latency = try ProfileLMLatencyPredictor(profile: profilePredictor, path: profile, precision: latencyPrecision)
        let predictions = try [OperatorDataType.float32, .int8].map { try latency.prediction(cell: cell, shape: shape, precision: $0) }
        let cost = LanguageModelCost(cell: cell, shape: shape)
        out.heading("""
            autoshrink predict
              cell         \(arch) (\(cell.stableHash)): \(cell.summary)
              model        embed \(embed), hidden \(hidden), vocabulary \(vocabulary), \(shape.tied ? "tied" : "untied"); \(ArchitectureSummary.scaled(Double(cost.macsPerToken))) MACs/token
              profile      \(profile) (\(profilePredictor.identity), \(profilePredictor.profile.environment.cpuModel ?? "unknown CPU"))
            """)
        if !output.quiet {
            let rows = ["embedding", "cell", "decoder", "log-softmax"].map { group in
                [group] + predictions.map { prediction in String(format: "%.4f", prediction.groups.first { $0.name == group }!.milliseconds) }
            } + [["table sum"] + predictions.map { String(format: "%.4f", $0.tableSumMilliseconds) }]
            out.line(ArchitectureSummary.table(headers: ["per token", "float32 ms", "int8 ms"], rows: rows, rightAligned: [1, 2]))
            for prediction in predictions {
                let estimated = prediction.calls.filter { !$0.measured }.count
                out.line(String(format: "  %@      %.4f * table_sum + %.4f ms (%@); %d kernel calls, %d estimated from their kind's rows",
                                prediction.dtype.rawValue, prediction.fit.scale, prediction.fit.interceptMilliseconds, prediction.fit.method,
                                prediction.calls.count, estimated))
            }
        }
        let chosen = predictions.first { $0.dtype == latencyPrecision }!
        out.result(String(format: "%@ on %@: %.4f ms per token predicted (float32), %.4f ms (int8)", (arch as NSString).lastPathComponent,
                          profilePredictor.profile.device.name, predictions[0].latencyMilliseconds, predictions[1].latencyMilliseconds))
        // As the export counts them (LMCModelGenerator.weightBytes): int8 matrices, a float scale per output, the float bias.
        let liveNodes = cell.schedule.nodes.count
        let scales = shape.vocabulary + 4 * shape.hidden + liveNodes * 2 * shape.hidden + (shape.tied ? 0 : shape.vocabulary)
        let weightBytes = latencyPrecision == .int8 ? (cost.parameters - shape.vocabulary) + 4 * (scales + shape.vocabulary) : 4 * cost.parameters
        out.json(PredictSummary(
            architecture: (arch as NSString).lastPathComponent, hash: cell.stableHash, profile: profile, identity: latency.identity,
            latencyMilliseconds: chosen.latencyMilliseconds, peakActivationBytes: 4 * (shape.embed + (cell.nodes + 3) * shape.hidden + shape.vocabulary),
            weightBytes: weightBytes, macs: cost.macsPerToken, layers: chosen.calls.count,
            interpolatedLayers: chosen.calls.filter { !$0.measured }.count))
    }
}
