import AutoShrinkCSources
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkModel
import AutoShrinkTarget
import Foundation

// The stages of `ModelExporter.export` that are more than one call (docs/architecture.md, "Export and
// deploy"): the model up to its generators, and the staging folder the project is written into.

/// A checkpoint made ready for code generation: batch norm folded, activation ranges calibrated,
/// buffers laid out and planned per precision, int8 parameters, and one C generator per precision.
struct PreparedModel {
    var architecture: Architecture
    var metadata: CheckpointMetadata
    var graph: LayerGraph
    var ranges: ActivationRanges
    var plans: [ModelPrecision: MemoryPlan]
    var quantized: QuantizedNetwork
    var description: ExportDescription
    var generators: [ModelPrecision: CModelGenerator]

    static func prepare(checkpoint: Checkpoint, calibration: Dataset, options: ExportOptions, context: ExecutionContext,
                        progress: (String) -> Void) throws -> PreparedModel {
        let architecture = checkpoint.architecture
        let folded = try FoldedNetwork(checkpoint: checkpoint)
        let graph = folded.graph
        try QuantizedNetwork.checkSupported(graph)
        let metadata = checkpoint.metadata
        let normalization = Normalization(mean: metadata.normalizationMean, std: metadata.normalizationStd)
        let input = graph.tensors[graph.input]
        guard calibration.channels == input.channels, calibration.height == input.height, calibration.width == input.width else {
            throw ExportError("calibration images are \(calibration.channels)x\(calibration.height)x\(calibration.width), the model expects \(input)")
        }

        progress("calibrating on \(min(options.calibrationImages, calibration.count)) training images (\(ModelExporter.label(options.calibrationMethod)))")
        let network = try checkpoint.makeNetwork(context: context)
        let calibrationSet = calibration.normalization == normalization ? calibration : calibration.normalized(with: normalization)
        let ranges = Calibration.collect(network: network, dataset: calibrationSet, limit: options.calibrationImages,
                                         method: options.calibrationMethod)
        // int8 runs the adds AddFusion picks inside their pointwise convolutions (as_pointwise_conv_add_s8), so
        // its layout stores no output for those convolutions; float32 runs every layer on its own
        let layouts = Dictionary(uniqueKeysWithValues: ModelPrecision.allCases.map { precision in
            (precision, ActivationLayout.optimized(graph: graph, planner: options.planner, fuseAdds: precision == .int8 && options.fuseAdds))
        })
        let plans = try plan(layouts: layouts, planner: options.planner)
        let quantized = try QuantizedNetwork(network: folded, ranges: ranges, layout: layouts[.int8]!, normalization: normalization)
        let description = ExportDescription(
            modelName: architecture.name, architectureHash: architecture.stableHash, dataset: metadata.dataset,
            calibration: "\(ranges.images) training images, \(ModelExporter.label(options.calibrationMethod))",
            exporterVersion: "\(AutoShrinkVersion.string) (exporter \(ModelExporter.version))", runtimeHash: RuntimeSources.hash)
        let generators = Dictionary(uniqueKeysWithValues: ModelPrecision.allCases.map { precision in
            (precision, CModelGenerator(network: folded, layout: layouts[precision]!, quantized: precision == .int8 ? quantized : nil,
                                        plan: plans[precision]!, precision: precision, normalization: normalization,
                                        description: description))
        })
        return PreparedModel(architecture: architecture, metadata: metadata, graph: graph, ranges: ranges, plans: plans,
                             quantized: quantized, description: description, generators: generators)
    }

    /// One arena plan per precision (of that precision's layout), each checked tensor by tensor for overlaps
    /// of live tensors.
    static func plan(layouts: [ModelPrecision: ActivationLayout], planner: any MemoryPlanner) throws -> [ModelPrecision: MemoryPlan] {
        var plans: [ModelPrecision: MemoryPlan] = [:]
        for precision in ModelPrecision.allCases {
            let layout = layouts[precision]!
            let plan = planner.plan(layout.bufferRequests(bytesPerElement: precision.bytesPerElement), alignment: 16)
            if let problem = layout.violations(plan: plan, bytesPerElement: precision.bytesPerElement).first {
                throw ExportError("internal error: the \(plan.planner) plan overlaps live tensors (\(problem))")
            }
            plans[precision] = plan
        }
        return plans
    }
}

/// The folder an export is built in, `.NAME.tmp-XXXXXXXX` beside its destination; `ModelExporter`
/// renames it into place when everything succeeded and `discard`s it otherwise.
struct ExportStaging {
    /// The output folder, standardized.
    let destination: String
    /// The staging folder.
    let path: String

    init(outputDirectory: String) throws {
        destination = URL(fileURLWithPath: outputDirectory).standardizedFileURL.path
        let parent = (destination as NSString).deletingLastPathComponent
        let name = (destination as NSString).lastPathComponent
        try FileProblem.createDirectory(parent)
        path = "\(parent)/.\(name).tmp-\(UUID().uuidString.prefix(8))"
        try FileProblem.createDirectory(path)
    }

    func discard() { try? FileManager.default.removeItem(atPath: path) }

    /// Runs `body`; its errors name files where the user will look for them, not in the staging folder.
    func run<T>(_ body: () throws -> T) throws -> T {
        func unstaged(_ file: String) -> String { file.hasPrefix(path + "/") ? destination + file.dropFirst(path.count) : file }
        do { return try body() } catch let error as FileAccessError {
            throw FileAccessError(path: unstaged(error.path), reason: error.reason, operation: error.operation)
        } catch let ToolchainError.compilationFailed(device, output, firstError) {
            // The compiler's or assembler's own line may name a staged file too (".x.tmp-XXXX/.build/model.o").
            throw ToolchainError.compilationFailed(device: device, output: unstaged(output),
                                                   firstError: firstError.replacingOccurrences(of: path + "/", with: destination + "/"))
        } catch let ToolchainError.notELF(file, reason) {
            throw ToolchainError.notELF(path: unstaged(file), reason: reason)
        }
    }
}
