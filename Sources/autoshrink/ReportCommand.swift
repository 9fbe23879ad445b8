import AutoShrinkFormats
import ArgumentParser
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkModel
import AutoShrinkReport
import AutoShrinkSearch
import AutoShrinkDeploy
import AutoShrinkExport
import AutoShrinkLM
import Foundation

/// `autoshrink report runs/NAME`: one self-contained HTML file about a search run.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report (inline SVG, no network) for a search run.",
        discussion: """
        Image runs (search) and language-model runs (search --task lm, docs/shrinkrnn.md "Report") alike; \
        --export adds the figures of the export of the run's trained winner (an image export for an image run, \
        a language-model export for a language-model run).
        """)

    @Argument(help: "Run directory (runs/NAME).") var runDirectory: String
    @Option(help: "Output file (default: RUN/report.html).") var out: String?
    @Option(help: "Device profile for per-layer latency of the chosen network.") var profile: String?
    @Option(help: "Export directory (deploy/NAME) whose export.json adds accuracy and size figures.") var export: String?
    @Option(help: "Baseline front (baselines.json of autoshrink baselines) to draw the run against (default: RUN/baselines.json when present).")
    var baselines: String?
    @OptionGroup var output: OutputOptions

    @Flag(help: "Use a profile measured on another machine (warns instead of refusing).") var allowForeignProfile = false

    func run() throws {
        let out = Output(options: output)
        let directory = RunDirectory(path: runDirectory)
        guard FileManager.default.fileExists(atPath: directory.configPath) else {
            throw CLIError("\(runDirectory): not a search run (no config.json)")
        }
        if DocumentFormat.tag(path: directory.configPath) == LMSearchConfiguration.formatName { return try languageModelReport(directory, out: out) }
        let configuration = try SearchConfiguration.load(path: directory.configPath)
        let records = try TrajectoryFile.load(path: directory.trajectoryPath, repair: false)
        let chosen = FileManager.default.fileExists(atPath: directory.bestArchitecturePath)
            ? try Architecture.load(path: directory.bestArchitecturePath) : nil
        var layerLatencies: [(name: String, milliseconds: Double)]?
        let predictor = try profile.map { try ProfileLatencyPredictor.load(path: $0, allowForeignMachine: allowForeignProfile) }
        if let warning = predictor?.foreignMachineWarning { out.warn(warning) }
        if let predictor, let chosen {
            layerLatencies = predictor.layerLatencies(chosen.lowered())
        }
        var exportFigures: ExportFigures?
        if let export {
            guard try ExportKind.of(directory: export) == .image else {
                throw CLIError("--export \(export): a language-model export, and \(runDirectory) is an image search run (give the export of its trained network)")
            }
            let manifest = try ExportManifest.loadDocument(path: export + "/export.json")
            let exported = try Architecture.load(path: export + "/" + manifest.architectureFile)
            exportFigures = ExportFigures(manifest: manifest,
                                          predictedLatencyMilliseconds: try predictor?.predictLatencyMilliseconds(exported.lowered()))
        }
        let refnet = BuiltinArchitectures.refnet(input: configuration.input, classes: configuration.classes)
        let refnetLatency = try predictor?.predictLatencyMilliseconds(refnet.lowered())
        let baselinesPath = baselines ?? (FileManager.default.fileExists(atPath: directory.path + "/baselines.json") ? directory.path + "/baselines.json" : nil)
        let front = try baselinesPath.map { try BaselineFront.load(path: $0) }
        let html = HTMLReport.render(ReportInput(runName: URL(fileURLWithPath: runDirectory).lastPathComponent, configuration: configuration,
                                                 records: records, chosen: chosen, layerLatencies: layerLatencies,
                                                 profileName: profile, export: exportFigures, refnetLatencyMilliseconds: refnetLatency,
                                                 baselines: front))
        let path = self.out ?? directory.path + "/report.html"
        try AtomicFile.write(html, to: path)
        out.result("report \(path) (\(records.count) candidates\(chosen == nil ? ", no best snapshot yet" : ""))")
        out.json(ReportSummary(report: path, candidates: records.count))
    }

    /// The report of a `search --task lm` run (docs/shrinkrnn.md, "Report"): perplexity in place of
    /// accuracy, MACs per token as the resource; `--export` takes a language-model export. Per-token
    /// latency is not predicted, so `--profile` and `--baselines` (image fronts) are refused.
    func languageModelReport(_ directory: RunDirectory, out: Output) throws {
        var given: [String] = []
        if profile != nil { given.append("--profile") }
        if baselines != nil { given.append("--baselines") }
        if allowForeignProfile { given.append("--allow-foreign-profile") }
        guard given.isEmpty else {
            throw CLIError("\(given.joined(separator: ", ")): image-report options; \(runDirectory) is a language-model search run (docs/shrinkrnn.md)")
        }
        let configuration = try LMSearchConfiguration.load(path: directory.configPath)
        let records = try TrajectoryFile.load(path: directory.trajectoryPath, repair: false, as: LMCandidateRecord.self)
        let bestPath = (directory.path as NSString).appendingPathComponent("best.rnncell.json")
        let chosen = FileManager.default.fileExists(atPath: bestPath) ? try RNNCell.loadDocument(path: bestPath) : nil
        var figures: LMExportFigures?
        if let export {
            guard try ExportKind.of(directory: export) == .languageModel else {
                throw CLIError("--export \(export): an image-classifier export, and \(runDirectory) is a language-model search run (give the export of its trained model)")
            }
            figures = LMExportFigures(manifest: try LMDeployment.manifest(directory: export))
        }
        let html = LMHTMLReport.render(LMReportInput(runName: URL(fileURLWithPath: runDirectory).lastPathComponent, configuration: configuration,
                                                     records: records, chosen: chosen, export: figures))
        let path = self.out ?? directory.path + "/report.html"
        try AtomicFile.write(html, to: path)
        out.result("report \(path) (language-model search, \(records.count) candidates\(chosen == nil ? ", no best snapshot yet" : ""))")
        out.json(ReportSummary(report: path, candidates: records.count))
    }
}
