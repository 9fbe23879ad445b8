import ArgumentParser

/// `autoshrink deploy` (being written).
struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "deploy", abstract: "(not available yet)", shouldDisplay: false)
    func run() throws { throw CLIError("autoshrink deploy is not available in this build yet") }
}
