import ArgumentParser

/// `autoshrink profile` (being written).
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "profile", abstract: "(not available yet)", shouldDisplay: false)
    func run() throws { throw CLIError("autoshrink profile is not available in this build yet") }
}
