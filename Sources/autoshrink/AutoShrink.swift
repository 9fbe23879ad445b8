import ArgumentParser
import AutoShrinkEngine
import AutoShrinkModel
import Foundation

/// `autoshrink`: find, train, quantize and ship a small CNN for a Linux edge device.
@main
struct AutoShrink: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoshrink",
        abstract: "Topology-aware NAS (AutoShrink) for Linux edge devices: profile, search, train, export, deploy.",
        version: AutoShrinkVersion.string,
        subcommands: [QuickstartCommand.self, ProfileCommand.self, PredictCommand.self, SearchCommand.self, TrainCommand.self, EvaluateCommand.self,
                      ExportCommand.self, DeployCommand.self, BaselinesCommand.self, ReportCommand.self, InfoCommand.self, BenchCommand.self,
                      SearchWorkerCommand.self])

    static func main() {
        // OpenBLAS picks its kernel when it loads, before main: re-exec once with a better
        // OPENBLAS_CORETYPE when it fell back to a generic one (see BLASConfiguration).
        BLASConfiguration.reexecIfBeneficial()
        do {
            var command = try parseAsRoot(nil)
            // Scratch folders of killed runs (docs/architecture.md, "Names, locks and output folders");
            // workers are started by the hundred and leave it to their search.
            if !(command is SearchWorkerCommand) { ScratchFiles.cleanStale() }
            try command.run()
        } catch {
            // A Foundation error that no step turned into a message of its own: "PATH: reason", not
            // "Error Domain=NSCocoaErrorDomain Code=..." (FileProblem).
            if let message = FileProblem.message(for: error) {
                Console().printError(Console().styled("Error:", .red, stderr: true) + " " + message)
                Foundation.exit(1)
            }
            // ArgumentParser's own printing, except that a failure's "Error:" is red on a terminal.
            let console = Console()
            let code = exitCode(for: error)
            guard code != .success, console.errorColours else { exit(withError: error) }
            let message = fullMessage(for: error)
            let coloured = message.hasPrefix("Error:") ? console.styled("Error:", .red, stderr: true) + message.dropFirst(6) : message
            console.printError(coloured)
            Foundation.exit(code.rawValue)
        }
    }
}
