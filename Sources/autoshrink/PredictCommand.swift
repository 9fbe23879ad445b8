import ArgumentParser

/// `autoshrink predict` (being written).
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predict", abstract: "(not available yet)", shouldDisplay: false)
    func run() throws { throw CLIError("autoshrink predict is not available in this build yet") }
}
