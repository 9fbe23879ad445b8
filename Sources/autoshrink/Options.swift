import ArgumentParser
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkModel
import Foundation

/// Options shared by commands that run the training engine.
struct EngineOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Worker threads for the training engine (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(parsing: .unconditional, help: "Random seed; the same seed and thread count give the same numbers.")
    var seed: UInt64 = 1

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        try OptionCheck.integer(threads, "--threads", in: 1...1024)
    }

    /// Sets OpenBLAS up for the engine and returns the execution context.
    func makeContext(output: Output) -> ExecutionContext {
        if let warning = BLASConfiguration.configureForEngine() { output.warn(warning) }
        return ExecutionContext(threads: threads)
    }
}

/// Output switches shared by every command.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print a machine-readable JSON summary as the last stdout line.")
    var json = false

    @Flag(name: .shortAndLong, help: "Only print results (and errors).")
    var quiet = false
}

/// Dataset selection shared by train and evaluate.
struct DatasetOptions: ParsableArguments {
    @Option(help: "Dataset: \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var dataset: DatasetKind = .fashionMNIST

    @Option(help: "Directory holding the dataset files (default: the dataset's standard location).")
    var dataDir: String?
}

extension DatasetKind: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension LearningRateSchedule.Kind: ExpressibleByArgument {}

/// Resolves `--arch`: a built-in name or an `*.arch.json` file, shaped for the dataset.
func resolveArchitecture(_ name: String, input: InputShape, classes: Int) throws -> Architecture {
    if let builtin = BuiltinArchitectures.architecture(named: name, input: input, classes: classes) { return builtin }
    guard FileManager.default.fileExists(atPath: name) else {
        throw ValidationError("unknown architecture '\(name)': not a built-in (\(BuiltinArchitectures.names.joined(separator: ", "))) and no such file")
    }
    let architecture = try Architecture.load(path: name)
    guard architecture.input == input, architecture.classes == classes else {
        throw CLIError("\(name): architecture expects \(architecture.input.channels)x\(architecture.input.height)x\(architecture.input.width) inputs and \(architecture.classes) classes; the dataset has \(input.channels)x\(input.height)x\(input.width) and \(classes)")
    }
    return architecture
}

/// A one-line error for the user; ArgumentParser prints it and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func formatDuration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    if total >= 3600 { return String(format: "%dh%02dm", total / 3600, (total % 3600) / 60) }
    if total >= 60 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return String(format: "%.1fs", seconds)
}
