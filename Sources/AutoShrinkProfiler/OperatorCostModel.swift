import CArmadillo
import Foundation

// How the predictor times an operator whose exact shape the profile did not measure (other channel
// counts, resolutions, strides of stems; docs/devices.md, "Predictor"). Every (kind, dtype) of the table
// gets a cost model fitted on its own rows,
//
//     time_us ≈ α · MACs + τ · tail MACs + κ · pixel blocks + β · bytes + γ   (MAC-bound kinds: convolution,
//                                                                              pointwise, depthwise, linear)
//     time_us ≈ β · bytes + τ · tail bytes + δ · inputs + γ                   (max-pool, add, global average pool)
//     time_us ≈ β · copied bytes + ρ · requantized bytes + τ · tail bytes + δ · parts + γ   (concat)
//
// (bytes = input + output + weights in the data type's element size; `inputs` the concat parts; the
// tail is the share of the work on channels past the last full block of 16, which the kernels run
// in narrower remainder loops (Sources/CRuntime: 16 channels per vector step), so 20, 24 or 40 channels
// cost more per MAC than 16 or 32; the fit sets τ to 0 where a device shows no such effect; pixel
// blocks = output pixels x blocks of 16 output channels (thousands): the per-block work of a kernel
// beside its MACs (staging, requantizing and storing a block), which makes a 1x1 convolution of 80 to
// 48 channels cost about three times one of 80 to 16 while its MACs alone would say 3x of a larger
// share; a concat's parts are costed one by one: copied as they are, or requantized with the tail of
// each part's channels), by non-negative least squares on the relative error (CArmadillo). The tail
// and the pixel blocks are used when leave-one-out says they help. Three ways to use the table are
// then judged by leave-one-out over the kind's rows (each row predicted from the others) and the best
// one is kept per kind:
//   - `work`: linear interpolation by work between the nearest measured rows (the version 1 rule);
//   - `model`: the cost model alone;
//   - `anchored`: the nearest measured row (same kernel and stride, closest channels and resolution in
//     log scale) scaled by the cost model's ratio model(new) / model(row), so the row's local effects
//     (vector-width padding, cache fit) carry over and the model only has to get the ratio right;
//   - `anchored2`: the same from the two nearest rows, their geometric mean: one row's local effect
//     (or its measurement noise) weighs half. Measured on a local profile (docs/devices.md, "Predictor"):
//     int8 pointwise leave-one-out 5.2 % -> 4.3 %, and refnet-2x's 1x1 convolution 64->128 at 14x14,
//     which no row of the quick space has, 10.9 us from the one nearest row (128->128) against 7.8 us
//     measured, 9.3 us from two.

/// How one kind's missing shapes are estimated.
public enum InterpolationMethod: String, Codable, Sendable, CaseIterable {
    case work, model, anchored
    case anchoredPair = "anchored2"
}

/// A fitted per-(kind, dtype) cost model and the interpolation rule chosen for the kind.
public struct OperatorCostModel: Codable, Equatable, Sendable {
    public var op: OperatorKind
    public var dtype: OperatorDataType
    /// Microseconds per million multiply-accumulates (0 for memory kinds).
    public var microsecondsPerMegaMAC: Double
    /// Microseconds per KiB moved (input + output + weights).
    public var microsecondsPerKiB: Double
    /// The chosen rule as keyed in `leaveOneOutMAPE` ("anchored", "model+tail", "anchored+blocks", ...).
    public var choice: String {
        method.rawValue + (microsecondsPerTail != nil ? "+tail" : "") + (microsecondsPerKiloBlock != nil ? "+blocks" : "")
    }

    /// Microseconds per input tensor (concat parts; 0 for the others).
    public var microsecondsPerInput: Double
    /// Extra microseconds per million tail MACs (MAC kinds) or per tail KiB (memory kinds); nil when
    /// leave-one-out chose the model without the tail term (and in profiles made before it).
    public var microsecondsPerTail: Double?
    /// Concat: microseconds per KiB of the requantized parts (read and written); nil for the other kinds.
    public var microsecondsPerRequantizedKiB: Double?
    /// MAC kinds: microseconds per thousand pixel blocks (output pixels x blocks of 16 output channels);
    /// nil when leave-one-out chose the model without them.
    public var microsecondsPerKiloBlock: Double?
    public var interceptMicroseconds: Double
    /// The rule the predictor uses for this kind's missing shapes.
    public var method: InterpolationMethod
    /// Table rows of the kind the model was fitted on.
    public var entries: Int
    /// Leave-one-out mean absolute percentage error of each rule over the kind's rows (percent).
    public var leaveOneOutMAPE: [String: Double]

    public init(op: OperatorKind, dtype: OperatorDataType, microsecondsPerMegaMAC: Double, microsecondsPerKiB: Double,
                microsecondsPerInput: Double, interceptMicroseconds: Double, method: InterpolationMethod, entries: Int,
                leaveOneOutMAPE: [String: Double]) {
        self.op = op; self.dtype = dtype; self.microsecondsPerMegaMAC = microsecondsPerMegaMAC
        self.microsecondsPerKiB = microsecondsPerKiB; self.microsecondsPerInput = microsecondsPerInput
        self.interceptMicroseconds = interceptMicroseconds; self.method = method; self.entries = entries
        self.leaveOneOutMAPE = leaveOneOutMAPE
    }

    enum CodingKeys: String, CodingKey {
        case op, dtype, method, entries
        case microsecondsPerMegaMAC = "us_per_mmac"
        case microsecondsPerKiB = "us_per_kib"
        case microsecondsPerInput = "us_per_input"
        case microsecondsPerTail = "us_per_tail"
        case microsecondsPerRequantizedKiB = "us_per_requant_kib"
        case microsecondsPerKiloBlock = "us_per_kblock"
        case interceptMicroseconds = "intercept_us"
        case leaveOneOutMAPE = "leave_one_out_mape"
    }

    /// The model's time for `configuration` (microseconds).
    public func microseconds(_ configuration: OperatorConfiguration) -> Double {
        zip(coefficients, Self.features(configuration)).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// The coefficients in the order of `features` (unused terms 0).
    var coefficients: [Double] {
        [microsecondsPerMegaMAC, microsecondsPerKiB, microsecondsPerInput, interceptMicroseconds, microsecondsPerTail ?? 0,
         microsecondsPerRequantizedKiB ?? 0, microsecondsPerKiloBlock ?? 0]
    }

    /// Channels per vector step of the kernels (the tail is what is left past the last full block).
    static let channelBlock = 16

    /// Work figures of one operator, the design-matrix columns: [millions of MACs (0 for memory kinds),
    /// KiB moved (a concat: of the parts copied as they are), input tensors (concat parts), 1 (intercept),
    /// tail, KiB of a concat's requantized parts, thousands of pixel blocks (MAC kinds)]. The tail is
    /// millions of MACs (MAC kinds) or KiB (memory kinds) times the share of the channels past the last
    /// full block of 16 (output channels, and input channels of dense and pointwise layers); for a concat
    /// the sum over its requantized parts of each part's own share of its bytes (int8; float32 copies
    /// every part, all counted as copied bytes).
    static func features(_ configuration: OperatorConfiguration) -> [Double] {
        let macs = configuration.kind.isMACBound ? configuration.work : 0
        func tailShare(_ channels: Int) -> Double { Double(channels % channelBlock) / Double(max(channels, 1)) }
        if configuration.kind == .concat {
            // Each part is read once and written once into its slice.
            let pixelBytes = Double(configuration.height * configuration.width * configuration.dtype.elementBytes) * 2 / 1024
            var copied = 0.0, requantized = 0.0, tail = 0.0
            for part in configuration.parts {
                let kib = Double(part.channels) * pixelBytes
                if part.requantized && configuration.dtype == .int8 {
                    requantized += kib
                    tail += tailShare(part.channels) * kib
                } else {
                    copied += kib
                }
            }
            return [0, copied, Double(configuration.parts.count), 1, tail, requantized, 0]
        }
        let kib = Double(configuration.bytesMoved) / 1024
        var share = tailShare(configuration.outputChannels)
        if configuration.kind == .convolution || configuration.kind == .pointwise || configuration.kind == .pointwiseAdd
            || configuration.kind == .linear {
            share = min(1, share + tailShare(configuration.inputChannels))
        }
        let tail = configuration.kind.isMACBound ? share * macs / 1e6 : share * kib
        let blocks = (configuration.outputChannels + channelBlock - 1) / channelBlock
        let pixelBlocks = configuration.kind.isMACBound
            ? Double(configuration.outputHeight * configuration.outputWidth * blocks) / 1000 : 0
        return [macs / 1e6, kib, 0, 1, tail, 0, pixelBlocks]
    }

    /// Index of the tail and pixel-block columns of `features`.
    static let tailColumn = 4, blockColumn = 6

    /// The design-matrix columns used for `kind` (indices into `features`), the optional terms included.
    static func columns(_ kind: OperatorKind, tail: Bool = true, blocks: Bool = true) -> [Int] {
        var columns: [Int]
        switch kind {
        case .convolution, .pointwise, .depthwise, .linear, .pointwiseAdd: columns = [0, 1, 3] + (blocks ? [blockColumn] : [])
        case .concat: columns = [1, 2, 3, 5]
        case .maxPool, .add, .globalAveragePool: columns = [1, 3]
        }
        return tail ? columns + [tailColumn] : columns
    }

    /// The optional-term variants leave-one-out chooses among for `kind`: (tail, pixel blocks).
    static func variants(_ kind: OperatorKind) -> [(tail: Bool, blocks: Bool)] {
        kind.isMACBound ? [(false, false), (true, false), (false, true), (true, true)] : [(false, false), (true, false)]
    }

    /// Fits the coefficients of `kind` to `rows` (configuration, measured us) by non-negative least squares
    /// on the relative error, with or without the tail and pixel-block columns; nil when there are fewer
    /// rows than coefficients or the solver fails. Returns one coefficient per `features` column (unused 0).
    static func fitCoefficients(kind: OperatorKind, rows: [(configuration: OperatorConfiguration, microseconds: Double)],
                                tail: Bool = true, blocks: Bool = false) -> [Double]? {
        let columns = columns(kind, tail: tail, blocks: blocks)
        let usable = rows.filter { $0.microseconds > 0 }
        guard usable.count >= columns.count else { return nil }
        var matrix: [Double] = []
        var target: [Double] = []
        for row in usable {
            let all = features(row.configuration)
            let weight = 1 / row.microseconds
            matrix += columns.map { all[$0] * weight }
            target.append(1)
        }
        var solution = [Double](repeating: 0, count: columns.count)
        var residual = 0.0
        let status = as_nonnegative_least_squares(matrix, Int32(usable.count), Int32(columns.count), target, &solution, &residual)
        guard status == AS_STATUS_OK, solution.allSatisfy(\.isFinite) else { return nil }
        var coefficients = [Double](repeating: 0, count: 7)
        for (index, column) in columns.enumerated() { coefficients[column] = solution[index] }
        return coefficients
    }

    /// This model with `coefficients` (one per `features` column); the tail and pixel-block terms are
    /// set (else nil) as `tail` and `blocks` say, the requantized-bytes term for concats.
    func with(_ coefficients: [Double], tail: Bool = true, blocks: Bool = false) -> OperatorCostModel {
        var copy = self
        copy.microsecondsPerMegaMAC = coefficients[0]; copy.microsecondsPerKiB = coefficients[1]
        copy.microsecondsPerInput = coefficients[2]; copy.interceptMicroseconds = coefficients[3]
        copy.microsecondsPerTail = tail ? coefficients[4] : nil
        copy.microsecondsPerRequantizedKiB = op == .concat ? coefficients[5] : nil
        copy.microsecondsPerKiloBlock = blocks ? coefficients[6] : nil
        return copy
    }

    /// Fits the model of one (kind, dtype) and picks, by leave-one-out error over the kind's rows, its
    /// interpolation rule and whether the tail term is used; nil when the kind has too few rows for a
    /// model (its missing shapes then use `work`). Ties (within 0.1 percentage points) go to the simpler
    /// choice: fewer optional terms first, then work, model, anchored, anchored2. `leaveOneOutMAPE` keys are the
    /// rules, with "+tail" and "+blocks" for the fits with those terms.
    public static func fit(kind: OperatorKind, dtype: OperatorDataType,
                           rows: [(configuration: OperatorConfiguration, microseconds: Double)]) -> OperatorCostModel? {
        guard rows.count >= columns(kind, tail: false, blocks: false).count + 1 else { return nil }
        let template = OperatorCostModel(op: kind, dtype: dtype, microsecondsPerMegaMAC: 0, microsecondsPerKiB: 0, microsecondsPerInput: 0,
                                         interceptMicroseconds: 0, method: .work, entries: rows.count, leaveOneOutMAPE: [:])
        var mape: [String: Double] = [:]
        var best: (key: String, tail: Bool, blocks: Bool, method: InterpolationMethod, error: Double)?
        for (tail, blocks) in variants(kind) {
            // Leave one out: predict each row from the others with each rule (the model refitted without it).
            var errors: [InterpolationMethod: [Double]] = [:]
            for index in rows.indices where rows[index].microseconds > 0 {
                var others = rows
                let held = others.remove(at: index)
                guard let refit = fitCoefficients(kind: kind, rows: others, tail: tail, blocks: blocks) else { continue }
                var partial = template.with(refit, tail: tail, blocks: blocks)
                for method in InterpolationMethod.allCases {
                    partial.method = method
                    let estimate = partial.estimate(held.configuration, from: others).microseconds
                    errors[method, default: []].append(abs(estimate - held.microseconds) / held.microseconds)
                }
            }
            for method in InterpolationMethod.allCases {
                guard let list = errors[method], !list.isEmpty, (!tail && !blocks) || method != .work else { continue }
                let key = method.rawValue + (tail ? "+tail" : "") + (blocks ? "+blocks" : "")
                let error = 100 * list.reduce(0, +) / Double(list.count)
                mape[key] = error
                if best == nil || error + 0.1 < best!.error { best = (key, tail, blocks, method, error) }
            }
        }
        guard let best, let coefficients = fitCoefficients(kind: kind, rows: rows, tail: best.tail, blocks: best.blocks) else { return nil }
        var model = template.with(coefficients, tail: best.tail, blocks: best.blocks)
        model.method = best.method
        model.leaveOneOutMAPE = mape
        return model
    }

    /// Estimates `configuration` from `rows` of the same kind and dtype with this model's rule.
    public func estimate(_ configuration: OperatorConfiguration,
                         from rows: [(configuration: OperatorConfiguration, microseconds: Double)])
        -> (microseconds: Double, from: [OperatorConfiguration]) {
        switch method {
        case .work:
            return Self.interpolateByWork(configuration, rows: rows)
        case .model:
            return (max(0, microseconds(configuration)), [])
        case .anchored, .anchoredPair:
            // each anchor row scaled by model(new) / model(row); with two, their geometric mean
            let target = microseconds(configuration)
            let anchors = Self.nearest(configuration, rows: rows, count: method == .anchored ? 1 : 2)
            guard !anchors.isEmpty else { return (max(0, target), []) }
            var logSum = 0.0
            for anchor in anchors {
                let modelled = microseconds(anchor.configuration)
                guard modelled > 0, anchor.microseconds > 0, target > 0 else { return Self.interpolateByWork(configuration, rows: rows) }
                logSum += log(anchor.microseconds * target / modelled)
            }
            return (exp(logSum / Double(anchors.count)), anchors.map(\.configuration))
        }
    }

    /// The `count` rows closest to `configuration`, closest first: same kernel and stride when there is one,
    /// then the smallest sum of |log ratio| over input channels, output channels, height, width and inputs
    /// (ties keep the rows' order).
    static func nearest(_ configuration: OperatorConfiguration,
                        rows: [(configuration: OperatorConfiguration, microseconds: Double)], count: Int = 1)
        -> [(configuration: OperatorConfiguration, microseconds: Double)] {
        let same = rows.filter { $0.configuration.kernel == configuration.kernel && $0.configuration.stride == configuration.stride }
        let candidates = same.isEmpty ? rows : same
        func distance(_ other: OperatorConfiguration) -> Double {
            func term(_ a: Int, _ b: Int) -> Double { abs(log(Double(max(a, 1)) / Double(max(b, 1)))) }
            return term(other.inputChannels, configuration.inputChannels) + term(other.outputChannels, configuration.outputChannels)
                + term(other.height, configuration.height) + term(other.width, configuration.width)
                + term(other.inputs, configuration.inputs)
        }
        let ranked = candidates.enumerated().map { (distance: distance($0.element.configuration), index: $0.offset, row: $0.element) }
            .sorted { ($0.distance, $0.index) < ($1.distance, $1.index) }
        return ranked.prefix(max(0, count)).map(\.row)
    }

    /// The version 1 rule: linear interpolation by work between the nearest measured rows (same stride,
    /// kernel and input size first; then same stride and kernel; then the kind), scaled by work outside
    /// the measured range.
    static func interpolateByWork(_ configuration: OperatorConfiguration,
                                  rows unsorted: [(configuration: OperatorConfiguration, microseconds: Double)])
        -> (microseconds: Double, from: [OperatorConfiguration]) {
        let all = unsorted.sorted { $0.configuration.work < $1.configuration.work }
        let sameGeometry = all.filter {
            $0.configuration.stride == configuration.stride && $0.configuration.kernel == configuration.kernel
                && $0.configuration.height == configuration.height && $0.configuration.width == configuration.width
        }
        let sameKernel = all.filter { $0.configuration.stride == configuration.stride && $0.configuration.kernel == configuration.kernel }
        let candidates = !sameGeometry.isEmpty ? sameGeometry : (!sameKernel.isEmpty ? sameKernel : all)
        let work = configuration.work
        let below = candidates.last { $0.configuration.work <= work }
        let above = candidates.first { $0.configuration.work >= work }
        switch (below, above) {
        case let (low?, high?) where high.configuration.work > low.configuration.work:
            let t = (work - low.configuration.work) / (high.configuration.work - low.configuration.work)
            return (low.microseconds + t * (high.microseconds - low.microseconds), [low.configuration, high.configuration])
        case let (nearest?, _), let (nil, nearest?):
            // Outside the measured range (or equal work): scale the nearest entry by work.
            let time = nearest.configuration.work > 0 ? nearest.microseconds * work / nearest.configuration.work : nearest.microseconds
            return (time, [nearest.configuration])
        case (nil, nil):
            return (0, [])
        }
    }

    /// Cost models of every (kind, dtype) of `entries` that has enough rows, sorted by dtype and kind.
    public static func fitAll(_ entries: [ProfileEntry]) -> [OperatorCostModel] {
        var groups: [OperatorDataType: [OperatorKind: [(configuration: OperatorConfiguration, microseconds: Double)]]] = [:]
        for entry in entries { groups[entry.dtype, default: [:]][entry.op, default: []].append((entry.configuration, entry.medianMicroseconds)) }
        var models: [OperatorCostModel] = []
        for dtype in OperatorDataType.allCases {
            for kind in OperatorKind.allCases {
                if let rows = groups[dtype]?[kind], let model = fit(kind: kind, dtype: dtype, rows: rows) { models.append(model) }
            }
        }
        return models
    }
}

extension OperatorConfiguration {
    /// Bytes one call reads and writes: input tensors, output tensor and weights, in the data type's
    /// element size (int8 1, float32 4). Concat and add read their inputs and write the output once.
    public var bytesMoved: Int {
        let element = dtype == .int8 ? 1 : 4
        let input = inputChannels * height * width
        let output = outputChannels * outputHeight * outputWidth
        let weights: Int
        switch kind {
        case .convolution, .pointwise: weights = outputChannels * inputChannels * kernel * kernel
        case .depthwise: weights = outputChannels * kernel * kernel
        case .linear: weights = inputChannels * outputChannels
        case .maxPool, .concat, .globalAveragePool: weights = 0
        case .add: weights = input  // the second input
        case .pointwiseAdd: weights = outputChannels * inputChannels + output  // and the add's other input
        }
        return element * (input + output + weights)
    }
}
