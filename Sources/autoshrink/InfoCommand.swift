import AutoShrinkFormats
import ArgumentParser
import AutoShrinkData
import AutoShrinkLM
import AutoShrinkModel
import Foundation

/// `autoshrink info ARCH`: the cell, per-layer table and cost totals of an architecture.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show an architecture: its cell (text or Graphviz DOT), layers, MACs, parameters and memory.")

    @Argument(help: "A built-in name (\(BuiltinArchitectures.names.joined(separator: ", "))), an *.arch.json file, a checkpoint or an *.rnncell.json RNN cell.")
    var arch: String
    @Option(parsing: .unconditional, help: "*.rnncell.json: embedding width of the model the costs are counted for.") var embed: Int = 200
    @Option(parsing: .unconditional, help: "*.rnncell.json: hidden width of the model the costs are counted for.") var hidden: Int = 200
    @Option(parsing: .unconditional, help: "*.rnncell.json: vocabulary of the model the costs are counted for.") var vocabulary: Int = 10_000
    @Flag(help: "Print the cell as Graphviz DOT only.") var dot = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        let out = Output(options: output)
        if arch.hasSuffix(".rnncell.json") { return try rnnCell(out) }
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

    /// An RNN cell (docs/shrinkrnn.md, "The cell"): its nodes, inputs, leaves and costs, or DOT.
    func rnnCell(_ out: Output) throws {
        let cell = try RNNCell.loadDocument(path: arch)
        if dot { out.result(RNNCellDrawing.dot(cell)); return }
        try OptionCheck.integer(embed, "--embed", in: 1...LanguageModelShape.maximumWidth)
        try OptionCheck.integer(hidden, "--hidden", in: 1...LanguageModelShape.maximumWidth)
        try OptionCheck.integer(vocabulary, "--vocabulary", in: 3...Vocabulary.maximumSize)
        let shape = LanguageModelShape(vocabulary: vocabulary, embed: embed, hidden: hidden, tied: embed == hidden)
        out.result(RNNCellDrawing.text(cell, shape: shape))
        out.json(RNNCellInfoSummary(cell: cell, shape: shape))
    }
}
