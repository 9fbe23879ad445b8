// Build-tool plugin: embeds the C sources (Sources/CRuntime kernels, Sources/CHarness harnesses) into
// the target it is applied to, as the generated `EmbeddedCSources` (see docs/architecture.md, "C sources").
// Every file is a declared input, so editing one regenerates the Swift file and the runtime hash.
import Foundation
import PackagePlugin

@main
struct EmbedCSources: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let sources = context.package.directoryURL.appendingPathComponent("Sources")
        var relative: [String] = []
        for folder in ["CRuntime", "CHarness"] {   // CSourceBundle.folders
            let base = sources.appendingPathComponent(folder)
            guard let enumerator = FileManager.default.enumerator(atPath: base.path) else {
                throw PluginError("cannot list \(base.path)")
            }
            while let path = enumerator.nextObject() as? String {
                if path.hasSuffix(".c") || path.hasSuffix(".h") { relative.append("\(folder)/\(path)") }
            }
        }
        relative.sort()
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedCSources.swift")
        return [.buildCommand(displayName: "Embedding \(relative.count) C sources into \(target.name)",
                              executable: try context.tool(named: "embed-c-sources").url,
                              arguments: [output.path, sources.path] + relative,
                              inputFiles: relative.map { sources.appendingPathComponent($0) },
                              outputFiles: [output])]
    }
}

struct PluginError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
