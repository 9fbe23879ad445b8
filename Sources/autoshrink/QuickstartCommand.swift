import AutoShrinkFormats
import ArgumentParser
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkModel
import AutoShrinkSearch
import Foundation

/// `autoshrink quickstart`: the whole flow on this machine with small defaults.
///
/// Each step runs as a child `autoshrink` process (the same commands a user would type), so the
/// quickstart is exactly the documented flow; its `--json` summary feeds the next step.
struct QuickstartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Profile this machine, search under a latency budget, train, export int8, run the binary, write the report.",
        discussion: """
            Defaults took 1m43s-2m17s on 2 cores (docs/search-quality.md). The latency budget is 0.65x \
            refnet's latency as the fresh profile measured it (its prediction for profiles without that \
            network); --macro auto picks the macro skeleton (stem stride and width, stages, widths, cells, \
            reductions) with the most MACs whose network with a cell of 30% of the starting cell's edges the \
            profile predicts within it, then the search shrinks the cell until it fits (docs/algorithm.md §1, \
            "Macro skeleton"), and --refit (on; --no-refit to train the searched network as it is) fits the \
            skeleton again around the best cell, with residual or plain cells, spending the budget the \
            shrunk cell left ("Macro refit", "Plain cells"). That network trains 10 epochs, like `autoshrink \
            train`'s default, so its accuracy compares with refnet's (docs/search-quality.md). Scale up with \
            --nodes 8 --candidates 10 --proxy-per-class 500 --search-epochs 20 (the reference setting). \
            Re-running reuses nothing: each run starts from a fresh profile. That profile times the image \
            kernels only (`profile --no-recurrent`, about 40 % faster); `search --task lm` needs \
            `autoshrink profile`'s recurrent section.
            """)

    @Option(help: "Output directory for the profile, run, model, export and report.") var out: String = "quickstart"
    @Option(help: "Device description (name or devices/X.toml).") var device: String = "local"
    @Option(parsing: .unconditional, help: "Search: nodes per cell.") var nodes: Int = 4
    @Option(parsing: .unconditional, help: "Search: candidates per step.") var candidates: Int = 3
    @Option(parsing: .unconditional, help: "Search: proxy training images per class.") var proxyPerClass: Int = 200
    @Option(parsing: .unconditional, help: "Search: epochs per candidate.") var searchEpochs: Int = 10
    @Option(help: "Search: successive halving inside each step (off, or rung epochs before --search-epochs, e.g. 3; see `autoshrink search --help`).")
    var halving: String = "off"
    @Option(parsing: .unconditional, help: "Search: successive halving's eta (2 or 3).") var halvingEta: Int = 2
    @Option(parsing: .unconditional, help: "Latency budget as a multiple of refnet's latency on the device (measured by the profile; predicted when the profile has no refnet network).") var budget: Double = 0.65
    @Option(help: "Search: macro skeleton (auto: the most MACs within the budget; reference: the paper's; or a spec, see `autoshrink search --help`).")
    var macro: String = "auto"
    @Option(parsing: .unconditional, help: "Search: --macro auto fits the budget with a cell holding this fraction of the starting cell's edges.")
    var macroEdges: Double = 0.3
    @Flag(inversion: .prefixedNo, help: "Search: re-fit the macro skeleton to the best cell after shrinking, spending the budget the shrunk cell left (see `autoshrink search --help`), and train the re-fitted network.")
    var refit = true
    @Flag(inversion: .prefixedNo, help: "Search: fit the macro skeleton to every candidate's cell, so the search compares cells at the budget (off: its networks trained 0.4-1.5 points below the refit's, docs/search-quality.md \"Macro fit per candidate\").")
    var fitCandidates = false
    @Option(parsing: .unconditional, help: "Final training epochs of the winner.") var trainEpochs: Int = 10
    @Option(help: "Dataset directory (default: /usr/share/datasets/fashion-mnist).") var dataDir: String?
    @Option(parsing: .unconditional, help: "Threads.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard nodes >= 2, candidates >= 1, proxyPerClass >= 1, searchEpochs >= 1, trainEpochs >= 1, threads >= 1 else {
            throw ValidationError("--nodes >= 2 and the other counts must be positive")
        }
        try OptionCheck.positive(budget, "--budget", maximum: 1_000_000)
        try OptionCheck.positive(macroEdges, "--macro-edges", maximum: 1)
        try OptionCheck.halving(halving, eta: halvingEta, epochs: searchEpochs)
        guard budget > 0 else { throw ValidationError("--budget must be positive") }
    }

    struct Step {
        var name: String
        var arguments: [String]
    }

    func run() throws {
        let out = Output(options: output)
        let start = Date()
        let directory = URL(fileURLWithPath: self.out).standardizedFileURL.path
        try FileProblem.createDirectory(directory)
        let deviceName = (try? DeviceDescription.resolve(device).name) ?? device
        let profile = "\(directory)/profiles/\(deviceName).json"
        try FileProblem.createDirectory("\(directory)/profiles")
        let data = dataDir.map { ["--data-dir", $0] } ?? []
        out.heading("""
            autoshrink quickstart
              output   \(directory)
              device   \(device)
              search   N=\(nodes), K=\(candidates), \(proxyPerClass)/class, \(searchEpochs) epochs, latency budget \(budget) x refnet, macro \(macro)
              train    \(trainEpochs) epochs on the full training set
            """)
        var timings: [(String, Double)] = []
        func step<Summary: JSONSummary>(_ number: Int, _ title: String, _ arguments: [String],
                                        as type: Summary.Type) throws -> Summary {
            out.line(out.console.styled("[\(number)/7] \(title)", .bold))
            let stepStart = Date()
            let summary = try runChildCommand(arguments + ["--json"], as: type, output: out, caller: "quickstart")
            let seconds = Date().timeIntervalSince(stepStart)
            timings.append((title, seconds))
            out.line("      done in \(formatDuration(seconds))")
            return summary
        }

        let profiled = try step(1, "profile \(device) (quick space)", ["profile", "--device", device, "--space", "quick", "--no-recurrent", "--out", profile],
                                as: ProfileSummary.self)
        let refnet = try step(2, "predict refnet on \(device)", ["predict", "refnet", "--profile", profile], as: PredictSummary.self)
        let refnetLatency = refnet.latencyMilliseconds
        // The budget is a share of refnet's latency as the profile measured it (refnet is one of its networks, run in
        // the export's layout): the target compares measured latencies, and a prediction a few percent high for
        // refnet's 8 large layers (4 % on the Zen 5, 7 % on a Zen 3) loosened the budget by as much
        // (docs/search-quality.md). Profiles without the network fall back to the prediction.
        let refnetMeasured = try DeviceProfile.decode(FileProblem.read(profile), source: profile).networks
            .first { $0.name == "refnet" && $0.measuredMilliseconds > 0 }?.measuredMilliseconds
        let limit = (refnetMeasured ?? refnetLatency) * budget
        if let refnetMeasured {
            out.line(String(format: "      refnet predicted %.4f ms, measured %.4f ms by the profile -> latency budget %.4f ms (%.2fx measured)",
                            refnetLatency, refnetMeasured, limit, budget))
        } else {
            out.line(String(format: "      refnet predicted %.4f ms -> latency budget %.4f ms", refnetLatency, limit))
        }
        let search = try step(3, "search", ["search", "--runs-dir", "\(directory)/runs", "--name", "quickstart", "--force",
                                            "--nodes", String(nodes), "--candidates", String(candidates),
                                            "--proxy-per-class", String(proxyPerClass), "--epochs", String(searchEpochs),
                                            "--profile", profile, "--max-latency-ms", String(limit), "--macro", macro, "--macro-edges", String(macroEdges),
                                            "--term", "latency_ms:\(limit):0.1", "--threads", String(threads),
                                            "--halving", halving, "--halving-eta", String(halvingEta)] + (refit ? ["--refit"] : []) + (fitCandidates ? ["--fit-candidates"] : []) + data,
                              as: SearchSummary.self)
        guard let searched = search.bestArch else { throw CLIError("quickstart: the search found no feasible network") }
        if let chosen = try? SearchConfiguration.load(path: "\(directory)/runs/quickstart/config.json") {
            out.line("      macro \(chosen.skeleton)" + (search.latencyMilliseconds.map { String(format: "; best predicted %.4f ms (budget %.4f ms)", $0, limit) } ?? ""))
        }
        // With --refit the search wrote the best cell, or a tied step winner's (MacroFit.refitTrajectory), on a skeleton
        // re-fitted to it (docs/algorithm.md §1, "Macro refit").
        let refitPath = RunDirectory(path: "\(directory)/runs/quickstart").refitArchitecturePath
        let best = refit && FileManager.default.fileExists(atPath: refitPath) ? refitPath : searched
        if best == refitPath, let architecture = try? Architecture.load(path: refitPath) {
            let searchedCell = (try? Architecture.load(path: searched))?.cell
            let cell = architecture.cell.flatMap { refitCell in
                searchedCell.map { $0.edges == refitCell.edges ? "the best cell" : "the \(refitCell.edges.count)-edge cell of a step winner within one standard error of the best" }
            }
            out.line("      refit: trains \(architecture.name) (\(ArchitectureSummary.scaled(Double(CostModel.costs(of: architecture.lowered()).macs))) MACs"
                     + (cell.map { ", \($0)" } ?? "") + ")")
        }
        let trained = try step(4, "train the winner", ["train", "--arch", best, "--epochs", String(trainEpochs),
                                                       "--out", "\(directory)/model", "--threads", String(threads)] + data,
                               as: TrainSummary.self)
        let checkpoint = trained.checkpoint
        let exported = try step(5, "export int8 for \(device)", ["export", checkpoint, "--device", device, "--onnx",
                                                                 "--out", "\(directory)/deploy", "--profile", profile] + data,
                                as: ExportManifest.self)
        let deployed = try step(6, "run the binary on \(device)", ["deploy", "\(directory)/deploy", "--device", device,
                                                                  "--profiles", "\(directory)/profiles"] + data,
                                as: DeploySummary.self)
        let report = try step(7, "write the report", ["report", "\(directory)/runs/quickstart", "--profile", profile,
                                                      "--export", "\(directory)/deploy", "--out", "\(directory)/report.html"],
                              as: ReportSummary.self)
        let seconds = Date().timeIntervalSince(start)

        func percent(_ value: Double?) -> String { value.map { String(format: "%.2f %%", $0 * 100) } ?? "-" }
        func ms(_ value: Double?) -> String { value.map { String(format: "%.4f ms", $0) } ?? "-" }
        func bytes(_ value: Double?) -> String { value.map { String(format: "%.1f KiB", $0 / 1024) } ?? "-" }
        let rows: [(String, String)] = [
            ("float accuracy (test)", percent(exported.floatAccuracy)),
            ("int8 accuracy (test)", percent(exported.int8Accuracy)),
            ("predicted latency", ms(deployed.predictedLatencyMilliseconds)),
            ("measured latency (median)", ms(deployed.measuredLatencyMilliseconds)),
            // the export's bench at the profile's machine speed (docs/devices.md, "Shared cores")
            ("measured latency (normalized)", ms(exported.latency?.normalizedMilliseconds)),
            ("activation arena", bytes(Double(exported.arenaBytes))),
            ("code (.text)", bytes(Double(exported.textBytes))),
            ("weights", bytes(Double(exported.weightBytes))),
            ("profile", profiled.profile),
            ("run", "\(directory)/runs/quickstart"),
            ("best architecture", best),
            ("checkpoint", checkpoint),
            ("binary", exported.binary),
            ("ONNX", exported.onnx ?? "-"),
            ("report", report.report),
            ("total time", formatDuration(seconds)),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        out.result("\n" + out.console.styled("quickstart summary", .bold))
        for (name, value) in rows { out.result("  " + name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value) }
        out.line("step times: " + timings.map { "\($0.0) \(formatDuration($0.1))" }.joined(separator: ", "))
        out.json(QuickstartSummary(report: report.report, binary: exported.binary, int8Accuracy: exported.int8Accuracy,
                                   floatAccuracy: exported.floatAccuracy,
                                   measuredLatencyMilliseconds: deployed.measuredLatencyMilliseconds,
                                   predictedLatencyMilliseconds: deployed.predictedLatencyMilliseconds, seconds: seconds,
                                   bestArch: best, checkpoint: checkpoint))
    }
}
