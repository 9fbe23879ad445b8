import ArgumentParser
import AutoShrinkDevice
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
    @OptionGroup var output: OutputOptions

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
        if let profile, let chosen {
            layerLatencies = try ProfileLatencyPredictor.load(path: profile).layerLatencies(chosen.lowered())
        }
        let exportFigures = try export.map { try ExportFigures.load(exportJSON: $0 + "/export.json") }
        let html = HTMLReport.render(ReportInput(runName: URL(fileURLWithPath: runDirectory).lastPathComponent, configuration: configuration,
                                                 records: records, chosen: chosen, layerLatencies: layerLatencies,
                                                 profileName: profile, export: exportFigures))
        let path = self.out ?? directory.path + "/report.html"
        try AtomicFile.write(html, to: path)
        out.result("report \(path) (\(records.count) candidates\(chosen == nil ? ", no best snapshot yet" : ""))")
        out.json(["report": path, "candidates": records.count])
    }
}
