import AutoShrinkModel
import Foundation

/// Predicts a network's latency on a device from its profile: per-layer table times, then the
/// profile's latency model over the network's features (`LatencyModel`: table time by operator group,
/// layers, bytes moved by memory operators; chosen by cross-validation on whole networks measured on
/// the device). Profiles made before the model use the calibration latency = a * table_sum + b * layers + c.
///
/// A layer whose exact configuration is in the table uses its measured estimate; any other is
/// estimated from the measured rows of its kind and data type by the kind's cost model (α·MACs +
/// β·bytes + γ, see `OperatorCostModel`), or by work between the nearest rows in older profiles
/// (`LayerPrediction.source` says which rows).
///
/// Concats count as an export runs them (`ActivationLayout.exported`, the exporter's own layout
/// decision): a concat whose inputs all lie in place runs no kernel (source `.none`, 0 ms), one that
/// copies some of its inputs is the table's concat of those inputs only. The profile's networks are
/// timed with the same layout (`HarnessNetwork(graph:)`), so the latency model is fitted on the same
/// terms.
public struct ProfileLatencyPredictor: LatencyPredictor {
    /// `<device>@<first 12 hex digits of the profile file's FNV-1a content hash>`; recorded in search runs.
    public let identity: String
    public let profile: DeviceProfile
    /// Data type of the table rows used (int8: what ships).
    public let dtype: OperatorDataType
    public var calibration: LatencyCalibration { profile.predictor.calibration }

    private let table: [OperatorConfiguration: Double]
    /// Entries per (kind, dtype), sorted by work, for interpolation.
    private let byKind: [KindKey: [(configuration: OperatorConfiguration, microseconds: Double)]]

    /// Cost models for missing shapes, per (kind, dtype); empty for profiles made before them.
    private let costModels: [KindKey: OperatorCostModel]

    private struct KindKey: Hashable { var kind: OperatorKind; var dtype: OperatorDataType }

    /// A predictor over `profile` (no staleness check; `load(path:)` does that).
    public init(profile: DeviceProfile, identity: String, dtype: OperatorDataType = .int8) {
        self.profile = profile
        self.identity = identity
        self.dtype = dtype
        var table: [OperatorConfiguration: Double] = [:]
        var byKind: [KindKey: [(configuration: OperatorConfiguration, microseconds: Double)]] = [:]
        for entry in profile.entries {
            let configuration = entry.configuration
            table[configuration] = entry.medianMicroseconds
            byKind[KindKey(kind: entry.op, dtype: entry.dtype), default: []].append((configuration, entry.medianMicroseconds))
        }
        self.table = table
        self.byKind = byKind.mapValues { $0.sorted { $0.configuration.work < $1.configuration.work } }
        var costModels: [KindKey: OperatorCostModel] = [:]
        for model in profile.predictor.costModels ?? [] { costModels[KindKey(kind: model.op, dtype: model.dtype)] = model }
        self.costModels = costModels
    }

    /// Set when the profile was measured on another machine and `allowForeignMachine` let it through.
    public private(set) var foreignMachineWarning: String?

    /// Loads `path`, refusing profiles of other kernels: "<path>: stale profile (made with runtime
    /// <short hash>, this autoshrink has <short hash>), re-run autoshrink profile"; profiles of another
    /// device than `device` (when given); and profiles measured on another machine than this one
    /// (`foreignMachineDifferences`) unless `allowForeignMachine`, which keeps the message in
    /// `foreignMachineWarning` for the caller to print.
    public static func load(path: String, device: String? = nil, allowForeignMachine: Bool = false) throws -> ProfileLatencyPredictor {
        let data: Data
        do { data = try FileProblem.read(path) } catch let error as FileAccessError {
            throw ProfileError("\(path): cannot read the profile (\(error.reason))")
        }
        let profile = try DeviceProfile.decode(data, source: path)
        guard profile.runtime.hash == RuntimeSources.hash else {
            throw ProfileError("\(path): stale profile (made with runtime \(profile.runtime.hash.prefix(12)), this autoshrink has \(RuntimeSources.hash.prefix(12))), re-run autoshrink profile")
        }
        if let device, profile.device.name != device {
            throw ProfileError("\(path): a profile of device '\(profile.device.name)', not '\(device)'; run autoshrink profile --device \(device)")
        }
        var predictor = ProfileLatencyPredictor(profile: profile, identity: "\(profile.device.name)@\(fnv1aHex(data).prefix(12))")
        let differences = foreignMachineDifferences(profile)
        if !differences.isEmpty {
            let message = "\(path): measured on another machine than this one (\(differences.joined(separator: "; "))); its latencies do not carry over: re-run autoshrink profile --device \(profile.device.name)"
            guard allowForeignMachine else { throw ProfileError(message + ", or pass --allow-foreign-profile to use it anyway") }
            predictor.foreignMachineWarning = "warning: " + message
        }
        return predictor
    }

    /// How the machine `profile` was measured on differs from this one, for devices that run on this
    /// machine: the local runner (every identity field), or qemu on this host (the host's CPU, cores
    /// and flags; emulated timings follow the host). Devices reached over SSH are not checked here:
    /// their identity can only be read by reaching them. See docs/architecture.md, "File formats".
    public static func foreignMachineDifferences(_ profile: DeviceProfile,
                                                 current: DeviceEnvironment = .thisMachine()) -> [String] {
        switch profile.device.description.runner {
        case .ssh:
            return []
        case .local:
            return profile.environment.identityDifferences(from: current)
        case .qemu:
            var recorded = profile.environment
            recorded.arch = nil; recorded.emulator = nil
            var host = current
            host.arch = nil; host.emulator = nil
            return recorded.identityDifferences(from: host)
        }
    }

    // MARK: Predictions

    /// Calibrated end-to-end latency of `graph` in milliseconds: the profile's latency model over the
    /// network's features, or (profiles made before it) the calibration of the table sum.
    public func predictLatencyMilliseconds(_ graph: LayerGraph) throws -> Double {
        let predictions = try layerPredictions(graph)
        if let model = profile.predictor.latencyModel { return model.latency(LatencyFeature.values(predictions)) }
        let sum = predictions.reduce(0) { $0 + $1.tableMicroseconds } / 1000
        return calibration.latency(tableSumMilliseconds: sum, layers: predictions.filter { $0.configuration != nil }.count)
    }

    /// Sum of the table times over the layers (no calibration), milliseconds.
    public func tableSumMilliseconds(_ graph: LayerGraph) throws -> Double {
        try layerPredictions(graph).reduce(0) { $0 + $1.tableMicroseconds } / 1000
    }

    /// Per-layer latency in milliseconds (the model's terms of the layer; dropout 0). The layers sum to
    /// the total minus the model's intercept. A layer the runtime has no kernel for gets NaN.
    public func layerLatencies(_ graph: LayerGraph) -> [(name: String, milliseconds: Double)] {
        let layout = ActivationLayout.exported(graph)
        let groups = QuantizationGroups(graph: graph, layout: layout)
        return graph.layers.indices.map { step in
            guard let prediction = try? predict(step: step, in: graph, layout: layout, groups: groups) else { return (graph.layers[step].name, .nan) }
            return (graph.layers[step].name, prediction.milliseconds)
        }
    }

    /// Every layer's prediction with where its time came from.
    public func layerPredictions(_ graph: LayerGraph) throws -> [LayerPrediction] {
        let layout = ActivationLayout.exported(graph)
        let groups = QuantizationGroups(graph: graph, layout: layout)
        return try graph.layers.indices.map { try predict(step: $0, in: graph, layout: layout, groups: groups) }
    }

    /// Layers of `graph` whose configuration is not in the table (they are interpolated).
    public func missingConfigurations(_ graph: LayerGraph) throws -> [OperatorConfiguration] {
        try layerPredictions(graph).compactMap { prediction in
            if case .interpolated = prediction.source { return prediction.configuration }
            return nil
        }
    }

    private func predict(step: Int, in graph: LayerGraph, layout: ActivationLayout, groups: QuantizationGroups) throws -> LayerPrediction {
        let layer = graph.layers[step]
        guard let configuration = try Self.executedConfiguration(step: step, in: graph, layout: layout, dtype: dtype, groups: groups) else {
            return LayerPrediction(name: layer.name, configuration: nil, tableMicroseconds: 0, milliseconds: 0, source: .none)
        }
        let (microseconds, source) = try tableTime(configuration)
        var prediction = LayerPrediction(name: layer.name, configuration: configuration, tableMicroseconds: microseconds,
                                         milliseconds: 0, source: source)
        if let model = profile.predictor.latencyModel {
            prediction.milliseconds = model.layerMilliseconds(prediction)
        } else {
            prediction.milliseconds = calibration.tableScale * microseconds / 1000 + calibration.perLayerMilliseconds
        }
        return prediction
    }

    /// The kernel work of the layer at `step` as an export with `layout` runs it: the layer's own
    /// configuration, except a concat: nil when every input lies in place (no kernel runs), else the
    /// concat of the copied inputs only, each part with its channels and whether it is requantized
    /// (`ConcatPart.inputs`; `groups` defaults to the exporter's quantization groups of `layout`).
    public static func executedConfiguration(step: Int, in graph: LayerGraph, layout: ActivationLayout,
                                             dtype: OperatorDataType, groups: QuantizationGroups? = nil) throws -> OperatorConfiguration? {
        let layer = graph.layers[step]
        // int8: a fused convolution runs inside its add, which is one pointwise_add call (AddFusion)
        if dtype == .int8, layout.fusion.isFusedConvolution(step: step) { return nil }
        if dtype == .int8, let pair = layout.fusion.pair(add: step) {
            guard let convolution = try OperatorConfiguration(layer: graph.layers[pair.convolution], in: graph, dtype: dtype) else { return nil }
            var fused = convolution
            fused.kind = .pointwiseAdd
            return fused
        }
        guard let configuration = try OperatorConfiguration(layer: layer, in: graph, dtype: dtype) else { return nil }
        guard case .concat = layer.operation else { return configuration }
        let groups = groups ?? QuantizationGroups(graph: graph, layout: layout)
        var copied = (ConcatPart.inputs(step: step, in: graph, layout: layout, groups: groups) ?? []).filter(\.copied).map(\.part)
        guard !copied.isEmpty else { return nil }
        // float32 has no requantization: every part is a copy; keyed as the table's rows are.
        if dtype == .float32 { for index in copied.indices { copied[index].requantized = index > 0 } }
        return .concat(copied, dtype: dtype, height: configuration.height, width: configuration.width)
    }

    /// The table's time for `configuration` (microseconds): measured, or estimated from the rows of its
    /// kind: by the kind's cost model and rule (`OperatorCostModel`) when the profile has one, else by
    /// work between the nearest rows (profiles made before cost models).
    public func tableTime(_ configuration: OperatorConfiguration) throws -> (microseconds: Double, source: LayerPrediction.Source) {
        if let measured = table[configuration] { return (measured, .measured) }
        let key = KindKey(kind: configuration.kind, dtype: configuration.dtype)
        if configuration.kind == .pointwiseAdd, byKind[key]?.isEmpty ?? true {
            // a table without fused rows: the pointwise convolution and the add it replaces, each estimated
            var pointwise = configuration
            pointwise.kind = .pointwise
            let add = OperatorConfiguration(kind: .add, dtype: configuration.dtype, inputChannels: configuration.outputChannels,
                                            outputChannels: configuration.outputChannels, height: configuration.outputHeight,
                                            width: configuration.outputWidth, inputs: 2)
            let (a, b) = (try tableTime(pointwise), try tableTime(add))
            func rows(_ source: LayerPrediction.Source, _ row: OperatorConfiguration) -> [OperatorConfiguration] {
                if case .interpolated(let from) = source { return from }
                return [row]
            }
            return (a.microseconds + b.microseconds, .interpolated(from: rows(a.source, pointwise) + rows(b.source, add)))
        }
        guard let all = byKind[key], !all.isEmpty else {
            throw ProfileError("profile \(identity) has no \(configuration.dtype.rawValue) \(configuration.kind.rawValue) entries to estimate \(configuration) from")
        }
        let estimate = costModels[key]?.estimate(configuration, from: all) ?? OperatorCostModel.interpolateByWork(configuration, rows: all)
        return (estimate.microseconds, .interpolated(from: estimate.from))
    }
}

/// One layer's predicted latency and where it came from.
public struct LayerPrediction: Sendable {
    public enum Source: Sendable, Equatable {
        /// The configuration's own table row.
        case measured
        /// Estimated by work from these table rows.
        case interpolated(from: [OperatorConfiguration])
        /// The layer runs no kernel (dropout).
        case none
    }

    public var name: String
    /// The kernel configuration (nil for layers without a kernel).
    public var configuration: OperatorConfiguration?
    /// Uncalibrated table time, microseconds.
    public var tableMicroseconds: Double
    /// Calibrated per-layer latency (a * table + b), milliseconds.
    public var milliseconds: Double
    public var source: Source
}
