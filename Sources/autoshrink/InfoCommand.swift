import AutoShrinkFormats
import ArgumentParser
import AutoShrinkModel
import Foundation

/// `autoshrink info ARCH`: the cell, per-layer table and cost totals of an architecture.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show an architecture: its cell (text or Graphviz DOT), layers, MACs, parameters and memory.")

    @Argument(help: "A built-in name (\(BuiltinArchitectures.names.joined(separator: ", "))), an *.arch.json file or a checkpoint.")
    var arch: String
    @Flag(help: "Print the cell as Graphviz DOT only.") var dot = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        let out = Output(options: output)
        let architecture: Architecture
        if let builtin = BuiltinArchitectures.architecture(named: arch) {
            architecture = builtin
        } else if arch.hasSuffix(".ckpt") {
            architecture = try Checkpoint.load(path: arch).architecture
        } else {
            architecture = try Architecture.load(path: arch)
        }
        if dot {
            guard let text = ArchitectureSummary.dot(architecture) else {
                throw CLIError("\(architecture.name) has no cell DAG to draw (it is a sequential network)")
            }
            out.result(text)
            return
        }
        out.result(ArchitectureSummary.render(architecture))
        let cost = CostModel.costs(of: architecture)
        out.json(InfoSummary(architecture: architecture.name, hash: architecture.stableHash, macs: cost.macs, params: cost.parameters,
                             weightBytesFloat32: cost.weightBytesFloat32, weightBytesInt8: cost.weightBytesInt8,
                             peakActivationBytesFloat32: cost.peakActivationBytesFloat32,
                             peakActivationBytesInt8: cost.peakActivationBytesInt8))
    }
}
