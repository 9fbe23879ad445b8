import ArgumentParser

/// `autoshrink export` (being written).
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "(not available yet)", shouldDisplay: false)
    func run() throws { throw CLIError("autoshrink export is not available in this build yet") }
}
