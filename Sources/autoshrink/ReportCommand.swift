import AutoShrinkFormats
import ArgumentParser
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkModel
import AutoShrinkReport
import AutoShrinkSearch
import Foundation

/// `autoshrink report runs/NAME`: one self-contained HTML file about a search run.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report (inline SVG, no network) for a search run.")

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
        let configuration = try SearchConfiguration.load(path: directory.configPath)
        let records = try TrajectoryFile.load(path: directory.trajectoryPath, repair: false)
        let chosen = FileManager.default.fileExists(atPath: directory.bestArchitecturePath)
            ? try Architecture.load(path: directory.bestArchitecturePath) : nil
        var layerLatencies: [(name: String, milliseconds: Double)]?
        let predictor = try profile.map { try ProfileLatencyPredictor.load(path: $0, allowForeignMachine: allowForeignProfile) }
        if let warning = predictor?.foreignMachineWarning { out.warn(warning) }
        if let predictor, let chosen {
            layerLatencies = try predictor.layerLatencies(chosen.lowered())
        }
        var exportFigures: ExportFigures?
        if let export {
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
}
