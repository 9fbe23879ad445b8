import AutoShrinkEngine
import Foundation

/// Bounds on numbers read from files, checked once where they enter (docs/architecture.md,
/// "Names, locks and output folders"): every size of an architecture is bounded so that the cost
/// model's MACs, parameters and bytes fit in `Int` (checked here with overflow-reporting arithmetic),
/// and a checkpoint's normalisation and weights are finite.
public enum InputLimits {
    public static let maximumChannels = 65_536
    public static let maximumImageSide = 4_096
    public static let maximumClasses = 100_000
    public static let maximumStemLayers = 64
    public static let maximumStages = 32
    public static let maximumCellsPerStage = 32
    public static let maximumCellNodes = 32
    /// Expansion factor of an inverted-residual stem block (MobileNetV2 uses 1 and 6).
    public static let maximumExpansion = 16
    /// Totals of the whole network (per image); far beyond any edge network, far below `Int.max`.
    public static let maximumMACs = 1 << 50
    public static let maximumParameters = 1 << 40
    public static let maximumActivationElements = 1 << 40
}

extension Architecture {
    /// The name rule (`SafeName`) and the size bounds (`InputLimits`), with MACs, parameters and
    /// activation elements summed with checked arithmetic. Called by `validate(source:)`.
    func validateNameAndLimits(source: String) throws {
        func fail(_ message: String) -> ArchitectureError { ArchitectureError("\(source): \(message)") }
        if let problem = SafeName.problem(name) { throw fail("name '\(SafeName.printable(name))' \(problem)") }
        let maxChannels = InputLimits.maximumChannels, maxSide = InputLimits.maximumImageSide
        guard input.channels <= maxChannels else { throw fail("input.channels \(input.channels) is above the limit \(maxChannels)") }
        guard input.height <= maxSide, input.width <= maxSide else {
            throw fail("input \(input.height)x\(input.width) is above the limit \(maxSide)x\(maxSide)")
        }
        guard classes <= InputLimits.maximumClasses else { throw fail("classes \(classes) is above the limit \(InputLimits.maximumClasses)") }
        guard stem.count <= InputLimits.maximumStemLayers else { throw fail("stem has \(stem.count) layers, the limit is \(InputLimits.maximumStemLayers)") }
        for (index, layer) in stem.enumerated() where layer.kind != .depthwise {
            guard layer.outputChannels <= maxChannels else {
                throw fail("stem[\(index)].outputChannels \(layer.outputChannels) is above the limit \(maxChannels)")
            }
        }
        guard stages.count <= InputLimits.maximumStages else { throw fail("\(stages.count) stages, the limit is \(InputLimits.maximumStages)") }
        for (index, stage) in stages.enumerated() {
            guard stage.width <= maxChannels else { throw fail("stages[\(index)].width \(stage.width) is above the limit \(maxChannels)") }
            guard stage.cells <= InputLimits.maximumCellsPerStage else {
                throw fail("stages[\(index)].cells \(stage.cells) is above the limit \(InputLimits.maximumCellsPerStage)")
            }
        }
        if let cell, cell.nodes > InputLimits.maximumCellNodes {
            throw fail("cell has \(cell.nodes) nodes, the limit is \(InputLimits.maximumCellNodes)")
        }
        // With the fields bounded, lowering is safe; the totals are summed with checked arithmetic.
        let graph = lowered()
        func product(_ factors: [Int]) -> Int? {
            var result = 1
            for factor in factors {
                let (value, overflow) = result.multipliedReportingOverflow(by: factor)
                if overflow { return nil }
                result = value
            }
            return result
        }
        func sum(_ a: Int, _ b: Int?) -> Int? {
            guard let b else { return nil }
            let (value, overflow) = a.addingReportingOverflow(b)
            return overflow ? nil : value
        }
        var macs: Int? = 0, parameters: Int? = 0, elements: Int? = product([input.channels, input.height, input.width])
        for tensor in graph.tensors {
            elements = elements.flatMap { sum($0, product([tensor.channels, tensor.height, tensor.width])) }
        }
        for layer in graph.layers {
            let output = graph.tensors[layer.output]
            switch layer.operation {
            case .convolution(let spec):
                let weights = product([spec.outputChannels, spec.inputChannels / max(spec.groups, 1), spec.kernel, spec.kernel])
                macs = macs.flatMap { total in weights.flatMap { sum(total, product([output.height, output.width, $0])) } }
                parameters = parameters.flatMap { total in weights.flatMap { sum(total, sum(2 * spec.outputChannels, $0)) } }
            case .linear(let inputFeatures, let outputFeatures):
                let weights = product([inputFeatures, outputFeatures])
                macs = macs.flatMap { sum($0, weights) }
                parameters = parameters.flatMap { total in weights.flatMap { sum(total, sum(outputFeatures, $0)) } }
            default:
                break
            }
        }
        guard let macs, macs <= InputLimits.maximumMACs else {
            throw fail("the network needs more than \(InputLimits.maximumMACs) multiply-accumulates per image (limit)")
        }
        guard let parameters, parameters <= InputLimits.maximumParameters else {
            throw fail("the network has more than \(InputLimits.maximumParameters) parameters (limit)")
        }
        guard let elements, elements <= InputLimits.maximumActivationElements else {
            throw fail("the network's activations hold more than \(InputLimits.maximumActivationElements) values per image (limit)")
        }
    }

    /// Approximate bytes the training engine allocates for this network at `batchSize`: every
    /// activation with its gradient and batch-norm scratch, the largest im2col buffer and its
    /// gradient, and weights with gradients and two optimizer moments. A deliberate over-estimate,
    /// used to refuse a network that cannot fit before allocating it (no out-of-memory abort).
    public func trainingMemoryEstimate(batchSize: Int) -> Double {
        let graph = lowered()
        let activations = graph.tensors.reduce(0.0) { $0 + Double($1.channels) * Double($1.height) * Double($1.width) }
        var columns = 0.0
        for layer in graph.layers {
            guard case .convolution(let spec) = layer.operation, !spec.isPointwise || spec.stride > 1 else { continue }
            let output = graph.tensors[layer.output]
            let perImage = Double(spec.inputChannels / max(spec.groups, 1) * spec.kernel * spec.kernel) * Double(output.height * output.width)
            columns = max(columns, perImage)
        }
        let cost = CostModel.costs(of: graph)
        return 4 * (Double(batchSize) * (3 * activations + 2 * columns) + 4 * Double(cost.parameters))
    }

    /// Memory this process may use: the smaller of the machine's available memory
    /// (`MemAvailable` in /proc/meminfo) and a cgroup limit, else the physical memory.
    public static func availableMemoryBytes() -> Double {
        var bytes = Double(ProcessInfo.processInfo.physicalMemory)
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") {
            bytes = min(bytes, kilobytes * 1024)
        }
        if let text = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
           let limit = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            bytes = min(bytes, limit)
        }
        return bytes
    }
}

extension CheckpointMetadata {
    /// A checkpoint's normalisation must have one finite mean and one positive finite std per input
    /// channel (or one for all); `source` names the file.
    func validate(channels: Int, source: String) throws {
        func fail(_ message: String) -> CheckpointError { CheckpointError("\(source): \(message)") }
        guard normalizationStd.count == normalizationMean.count, normalizationStd.count == channels else {
            throw fail("metadata.normalizationMean/normalizationStd must have \(channels) value(s) each (one per input channel), found \(normalizationMean.count) and \(normalizationStd.count)")
        }
        guard normalizationMean.allSatisfy(\.isFinite) else { throw fail("metadata.normalizationMean must be finite") }
        guard normalizationStd.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw fail("metadata.normalizationStd must be positive and finite") }
        guard epochs >= 0 else { throw fail("metadata.epochs must not be negative") }
        for (key, value) in [("testAccuracy", testAccuracy), ("validationAccuracy", validationAccuracy)] {
            if let value, !(value >= 0 && value <= 1) { throw fail("metadata.\(key) must be in [0, 1]") }
        }
    }
}

extension Checkpoint {
    /// Metadata ranges, finite weights and non-negative batch-norm variances: a checkpoint with NaN or
    /// infinite values is refused on load (it would evaluate at chance and export garbage).
    static func validateContents(metadata: CheckpointMetadata, architecture: Architecture,
                                 tensors: [(record: TensorRecord, values: [Float])], source: String) throws {
        try metadata.validate(channels: architecture.input.channels, source: source)
        for (record, values) in tensors where !values.allSatisfy(\.isFinite) {
            throw CheckpointError("\(source): tensor \(record.name) holds non-finite values (NaN or infinity); the checkpoint is unusable")
        }
        for (record, values) in tensors where record.name.hasSuffix("running_var") && values.contains(where: { $0 < 0 }) {
            throw CheckpointError("\(source): tensor \(record.name) holds a negative variance; the checkpoint is unusable")
        }
    }
}
