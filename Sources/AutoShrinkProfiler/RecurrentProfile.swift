import CArmadillo
import Foundation

// The recurrent section of a device profile (docs/devices.md, "Recurrent operators"; docs/shrinkrnn.md,
// "Profiling recurrent operators"): the kernels an exported language model runs per token
// (Sources/CRuntime/rnn_kernels.c), timed by the recurrent harness (Sources/CHarness/profiler/rnn_harness.c)
// at a grid of widths and vocabularies, whole-token programs of random cells timed beside them, and the
// per-token predictor fitted on those: latency = scale * (sum of the operators' table times) + intercept.

/// One kernel of an exported language model, with its shape as a matrix: rows x columns.
public enum RecurrentOperatorKind: String, Codable, Hashable, Sendable, CaseIterable, Comparable {
    /// `rnn_embed_*`: rows = vocabulary, columns = embed width.
    case embedding
    /// `rnn_vecmat_*`: y[N] = x[K] W[K][N]; rows = K, columns = N (= 2 * hidden for a cell node).
    case vecmat
    /// `rnn_rowdot_*` (the decoder): rows = vocabulary, columns = hidden.
    case rowdot
    /// Element-wise over `columns` values (rows 1).
    case sigmoid, tanh, relu, highway
    /// `rnn_mean`: rows = inputs, columns = values.
    case mean
    /// Over `columns` logits (rows 1).
    case logSumExp = "log_sum_exp"
    case softmax

    /// Kinds whose time depends on the weights' data type (the others are float32 in both exports).
    public var hasWeights: Bool { self == .embedding || self == .vecmat || self == .rowdot }

    /// The recurrent harness's item word.
    var harnessWord: String {
        switch self {
        case .embedding: return "embed"
        case .logSumExp: return "logsumexp"
        default: return rawValue
        }
    }

    public static func < (a: RecurrentOperatorKind, b: RecurrentOperatorKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One operator shape of the recurrent table.
public struct RecurrentOperator: Codable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var kind: RecurrentOperatorKind
    /// int8 or float32 weights; float32 for the kinds without weights.
    public var dtype: OperatorDataType
    public var rows: Int
    public var columns: Int

    public init(_ kind: RecurrentOperatorKind, dtype: OperatorDataType = .float32, rows: Int = 1, columns: Int) {
        self.kind = kind
        self.dtype = kind.hasWeights ? dtype : .float32
        self.rows = rows
        self.columns = columns
    }

    /// The harness's item line (`rnn_harness.c`).
    var planLine: String {
        switch kind {
        case .embedding, .vecmat, .rowdot, .mean: return "\(kind.harnessWord) \(rows) \(columns)"
        default: return "\(kind.harnessWord) \(columns)"
        }
    }

    public var description: String {
        (kind.hasWeights ? "\(dtype.rawValue) " : "") + "\(kind.rawValue) \(rows)x\(columns)"
    }

    public static func < (a: RecurrentOperator, b: RecurrentOperator) -> Bool {
        (a.dtype, a.kind, a.rows, a.columns) < (b.dtype, b.kind, b.rows, b.columns)
    }
}

/// The activation of a cell node (`RNNCell`'s, by the same names).
public enum RecurrentActivation: String, Codable, Hashable, Sendable, CaseIterable {
    case tanh, relu, sigmoid, identity

    var harnessCode: Int { [.tanh: 0, .relu: 1, .sigmoid: 2, .identity: 3][self]! }
}

/// What an exported language model runs per token (docs/shrinkrnn.md, "Deploy"): the embedding, node 0
/// over [x_t; h], every live node over the mean of its live predecessors, the mean of the leaves, the
/// decoder and (as `model --bench` times it) the log-softmax normaliser. The Profiler's own description
/// of a cell model, so the profiler does not depend on the language-model engine (the CLI converts an
/// `RNNCell`).
public struct RecurrentProgram: Codable, Hashable, Sendable {
    public struct Node: Codable, Hashable, Sendable {
        /// The node's index in the cell (node 0 first).
        public var index: Int
        public var activation: RecurrentActivation
        /// Live predecessors (empty for node 0, which reads x_t and h_{t-1}).
        public var inputs: [Int]

        public init(index: Int, activation: RecurrentActivation, inputs: [Int]) {
            self.index = index; self.activation = activation; self.inputs = inputs
        }
    }

    public var embed: Int
    public var hidden: Int
    public var vocabulary: Int
    /// The decoder is the embedding (embed = hidden).
    public var tied: Bool
    /// Live nodes in execution order, node 0 first.
    public var nodes: [Node]
    /// Live nodes without live successors; h_t is their mean.
    public var leaves: [Int]

    public init(embed: Int, hidden: Int, vocabulary: Int, tied: Bool, nodes: [Node], leaves: [Int]) {
        self.embed = embed; self.hidden = hidden; self.vocabulary = vocabulary; self.tied = tied
        self.nodes = nodes; self.leaves = leaves
    }

    /// One-line error when the program is not a valid cell model (sizes, node order, predecessors, leaves).
    public func validate() throws {
        func fail(_ problem: String) -> ProfileError { ProfileError("recurrent program: \(problem)") }
        guard (1...RecurrentProgram.maximumWidth).contains(embed), (1...RecurrentProgram.maximumWidth).contains(hidden) else {
            throw fail("embed and hidden must be in 1...\(RecurrentProgram.maximumWidth)")
        }
        guard (1...RecurrentProgram.maximumVocabulary).contains(vocabulary) else { throw fail("vocabulary must be in 1...\(RecurrentProgram.maximumVocabulary)") }
        guard !tied || embed == hidden else { throw fail("a tied decoder needs embed = hidden") }
        guard let first = nodes.first, first.index == 0, first.inputs.isEmpty, nodes.count <= 64 else {
            throw fail("node 0 comes first, without predecessors (at most 64 nodes)")
        }
        var seen: Set<Int> = [0]
        for (position, node) in nodes.enumerated().dropFirst() {
            guard node.index > nodes[position - 1].index, !node.inputs.isEmpty, node.inputs.allSatisfy(seen.contains) else {
                throw fail("node \(node.index): nodes in increasing order, each reading earlier nodes")
            }
            seen.insert(node.index)
        }
        guard !leaves.isEmpty, leaves.allSatisfy(seen.contains) else { throw fail("the leaves must be live nodes") }
    }

    public static let maximumWidth = 65_536
    public static let maximumVocabulary = 10_000_000

    /// The kernel calls of one token, in order (`LMCModelGenerator`'s `lm_step`, then the normaliser).
    public func operators(dtype: OperatorDataType) -> [RecurrentOperator] {
        let h = hidden
        var ops = [RecurrentOperator(.embedding, dtype: dtype, rows: vocabulary, columns: embed)]
        for node in nodes {
            if node.index == 0 {
                ops += [RecurrentOperator(.vecmat, dtype: dtype, rows: embed, columns: 2 * h),
                        RecurrentOperator(.vecmat, dtype: dtype, rows: h, columns: 2 * h)]
            } else {
                if node.inputs.count > 1 { ops.append(RecurrentOperator(.mean, rows: node.inputs.count, columns: h)) }
                ops.append(RecurrentOperator(.vecmat, dtype: dtype, rows: h, columns: 2 * h))
            }
            ops.append(RecurrentOperator(.sigmoid, columns: h))
            switch node.activation {
            case .tanh: ops.append(RecurrentOperator(.tanh, columns: h))
            case .relu: ops.append(RecurrentOperator(.relu, columns: h))
            case .sigmoid: ops.append(RecurrentOperator(.sigmoid, columns: h))
            case .identity: break
            }
            ops.append(RecurrentOperator(.highway, columns: h))
        }
        ops.append(RecurrentOperator(.mean, rows: leaves.count, columns: h))
        ops.append(RecurrentOperator(.rowdot, dtype: dtype, rows: vocabulary, columns: h))
        ops.append(RecurrentOperator(.logSumExp, columns: vocabulary))
        return ops
    }

    /// The harness's `lm` item lines.
    var planLines: [String] {
        ["lm \(embed) \(hidden) \(vocabulary) \(tied ? 1 : 0)"]
            + nodes.map { (["node", String($0.index), String($0.activation.harnessCode)] + $0.inputs.map(String.init)).joined(separator: " ") }
            + ["leaves " + leaves.map(String.init).joined(separator: " ")]
    }

    /// Multiply-adds per token (cell and decoder), for reports.
    public var macsPerToken: Int { (embed + hidden) * 2 * hidden + (nodes.count - 1) * hidden * 2 * hidden + hidden * vocabulary }
}

// MARK: - The profile section

/// One row of the recurrent table (times per call, microseconds; the estimate of estimator.h).
public struct RecurrentEntry: Codable, Equatable, Sendable {
    public var op: RecurrentOperatorKind
    public var dtype: OperatorDataType
    public var rows: Int
    public var columns: Int
    public var medianMicroseconds: Double
    public var ciLowMicroseconds: Double
    public var ciHighMicroseconds: Double
    public var p10Microseconds: Double
    public var p90Microseconds: Double
    public var rounds: Int
    /// Calls per sample.
    public var batch: Int

    public init(operator: RecurrentOperator, medianMicroseconds: Double, ciLowMicroseconds: Double, ciHighMicroseconds: Double,
                p10Microseconds: Double, p90Microseconds: Double, rounds: Int, batch: Int) {
        op = `operator`.kind; dtype = `operator`.dtype; rows = `operator`.rows; columns = `operator`.columns
        self.medianMicroseconds = medianMicroseconds; self.ciLowMicroseconds = ciLowMicroseconds
        self.ciHighMicroseconds = ciHighMicroseconds; self.p10Microseconds = p10Microseconds; self.p90Microseconds = p90Microseconds
        self.rounds = rounds; self.batch = batch
    }

    public var `operator`: RecurrentOperator { RecurrentOperator(op, dtype: dtype, rows: rows, columns: columns) }

    enum CodingKeys: String, CodingKey {
        case op, dtype, rows, columns, rounds, batch
        case medianMicroseconds = "median_us", ciLowMicroseconds = "ci_low_us", ciHighMicroseconds = "ci_high_us"
        case p10Microseconds = "p10_us", p90Microseconds = "p90_us"
    }
}

/// One whole-token program timed on the device (a random cell model), next to the prediction.
public struct RecurrentModelMeasurement: Codable, Equatable, Sendable {
    public var name: String
    /// `fit` or `heldout`.
    public var role: String
    public var dtype: OperatorDataType
    public var program: RecurrentProgram
    /// Sum of the table times of its operators (milliseconds).
    public var tableSumMilliseconds: Double
    public var measuredMilliseconds: Double
    public var ciLowMilliseconds: Double
    public var ciHighMilliseconds: Double
    public var predictedMilliseconds: Double

    enum CodingKeys: String, CodingKey {
        case name, role, dtype, program
        case tableSumMilliseconds = "table_sum_ms", measuredMilliseconds = "measured_ms", ciLowMilliseconds = "ci_low_ms"
        case ciHighMilliseconds = "ci_high_ms", predictedMilliseconds = "predicted_ms"
    }
}

/// Per-token latency = scale * table_sum + intercept, fitted on the `fit` programs, judged on the others.
public struct RecurrentFit: Codable, Equatable, Sendable {
    public var scale: Double
    public var interceptMilliseconds: Double
    public var method: String
    public var fitModels: Int
    public var heldoutModels: Int
    public var heldoutWithin10Percent: Double?
    public var heldoutMAPE: Double?
    public var heldoutMaxError: Double?
    /// The plain table sum on the held-out programs, for comparison.
    public var tableSumMAPE: Double?

    public init(scale: Double, interceptMilliseconds: Double, method: String, fitModels: Int = 0, heldoutModels: Int = 0) {
        self.scale = scale; self.interceptMilliseconds = interceptMilliseconds; self.method = method
        self.fitModels = fitModels; self.heldoutModels = heldoutModels
    }

    public func latency(tableSumMilliseconds: Double) -> Double { max(0, scale * tableSumMilliseconds + interceptMilliseconds) }

    enum CodingKeys: String, CodingKey {
        case scale, method
        case interceptMilliseconds = "intercept_ms", fitModels = "fit_models", heldoutModels = "heldout_models"
        case heldoutWithin10Percent = "heldout_within_10pct", heldoutMAPE = "heldout_mape", heldoutMaxError = "heldout_max_error_pct"
        case tableSumMAPE = "table_sum_mape"
    }
}

/// time_us ≈ a · rows·columns + b · columns + c · rows + d for one (kind, dtype), fitted by non-negative
/// least squares on the relative error; a shape the table lacks takes the nearest row's time scaled by
/// model(shape) / model(row) (`anchored`, as the image cost models).
public struct RecurrentCostModel: Codable, Equatable, Sendable {
    public var op: RecurrentOperatorKind
    public var dtype: OperatorDataType
    public var microsecondsPerMegaElement: Double
    public var microsecondsPerColumn: Double
    public var microsecondsPerRow: Double
    public var interceptMicroseconds: Double

    public func microseconds(rows: Int, columns: Int) -> Double {
        microsecondsPerMegaElement * Double(rows) * Double(columns) / 1e6 + microsecondsPerColumn * Double(columns)
            + microsecondsPerRow * Double(rows) + interceptMicroseconds
    }

    static func features(rows: Int, columns: Int) -> [Double] { [Double(rows) * Double(columns) / 1e6, Double(columns), Double(rows), 1] }

    /// Fitted to `entries` of one kind and dtype; nil with fewer than 4 rows or when the solver fails.
    public static func fit(op: RecurrentOperatorKind, dtype: OperatorDataType, entries: [RecurrentEntry]) -> RecurrentCostModel? {
        let usable = entries.filter { $0.op == op && $0.dtype == dtype && $0.medianMicroseconds > 0 }
        guard usable.count >= 4 else { return nil }
        var matrix: [Double] = [], target: [Double] = []
        for entry in usable {
            matrix += features(rows: entry.rows, columns: entry.columns).map { $0 / entry.medianMicroseconds }
            target.append(1)
        }
        var solution = [Double](repeating: 0, count: 4)
        var residual = 0.0
        let status = as_nonnegative_least_squares(matrix, Int32(usable.count), 4, target, &solution, &residual)
        guard status == AS_STATUS_OK, solution.allSatisfy(\.isFinite), solution.contains(where: { $0 > 0 }) else { return nil }
        return RecurrentCostModel(op: op, dtype: dtype, microsecondsPerMegaElement: solution[0], microsecondsPerColumn: solution[1],
                                  microsecondsPerRow: solution[2], interceptMicroseconds: solution[3])
    }

    enum CodingKeys: String, CodingKey {
        case op, dtype
        case microsecondsPerMegaElement = "us_per_mega_element", microsecondsPerColumn = "us_per_column"
        case microsecondsPerRow = "us_per_row", interceptMicroseconds = "intercept_us"
    }
}

/// The grid the recurrent table was measured at.
public struct RecurrentGrid: Codable, Equatable, Sendable {
    /// Embed and hidden widths (vecmat K and N / 2, element-wise lengths, decoder columns).
    public var widths: [Int]
    /// Vocabularies (decoder rows, normaliser lengths, embedding rows).
    public var vocabularies: [Int]
    /// Inputs of the means.
    public var meanInputs: [Int]
    /// Largest decoder (rows x columns) measured; bigger ones are estimated.
    public var maximumDecoderElements: Int
    /// Random whole-token programs timed per dtype.
    public var models: Int

    /// The default covers the shapes the LM search uses (proxy 64 x 3,000, target 200 x 10,000) with a
    /// point on each side; wider models and larger vocabularies are estimated by the cost models. Each
    /// grid point costs time on every device (under qemu about 0.5 s per item), so it stays small.
    public init(widths: [Int] = [16, 32, 64, 128, 256], vocabularies: [Int] = [1_000, 3_000, 10_000],
                meanInputs: [Int] = [1, 2, 4, 8], maximumDecoderElements: Int = 2_600_000, models: Int = 12) {
        self.widths = widths; self.vocabularies = vocabularies; self.meanInputs = meanInputs
        self.maximumDecoderElements = maximumDecoderElements; self.models = models
    }

    enum CodingKeys: String, CodingKey {
        case widths, vocabularies, models
        case meanInputs = "mean_inputs", maximumDecoderElements = "maximum_decoder_elements"
    }

    /// The operators of the table, float32 and int8 for the kinds with weights.
    public func operators(dtypes: [OperatorDataType] = [.float32, .int8]) -> [RecurrentOperator] {
        var ops: [RecurrentOperator] = []
        let meanWidths = widths.count > 4 ? [widths[0], widths[widths.count / 2 - 1], widths[widths.count / 2], widths.last!]
                                          : widths
        for dtype in dtypes {
            for k in widths { for h in widths { ops.append(RecurrentOperator(.vecmat, dtype: dtype, rows: k, columns: 2 * h)) } }
            for v in vocabularies {
                for h in widths where v * h <= maximumDecoderElements { ops.append(RecurrentOperator(.rowdot, dtype: dtype, rows: v, columns: h)) }
            }
            for v in [vocabularies.first!, vocabularies.last!] {
                for d in meanWidths { ops.append(RecurrentOperator(.embedding, dtype: dtype, rows: v, columns: d)) }
            }
        }
        for kind in [RecurrentOperatorKind.sigmoid, .tanh, .relu, .highway] {
            for n in widths { ops.append(RecurrentOperator(kind, columns: n)) }
        }
        for count in meanInputs { for n in meanWidths { ops.append(RecurrentOperator(.mean, rows: count, columns: n)) } }
        for v in vocabularies {
            ops.append(RecurrentOperator(.logSumExp, columns: v))
            ops.append(RecurrentOperator(.softmax, columns: v))
        }
        return Array(Set(ops)).sorted()
    }

    /// `count` random cell models over the grid (seeded): 3-8 nodes, random activations and inputs, widths
    /// and vocabularies drawn from the grid's range, tied when embed = hidden.
    public func randomPrograms(count: Int, seed: UInt64) -> [RecurrentProgram] {
        var random = ProfileRandom(seed: seed ^ 0x5EC0_44E7)
        func pick<T>(_ values: [T]) -> T { values[Int(random.next() % UInt64(values.count))] }
        let smallWidths = widths.filter { $0 <= 256 }
        return (0..<count).map { index in
            let hidden = pick(smallWidths.isEmpty ? widths : smallWidths)
            let embed = index % 3 == 2 ? pick(smallWidths.isEmpty ? widths : smallWidths) : hidden
            let vocabulary = max(3, min(pick(vocabularies), maximumDecoderElements / hidden))
            let nodeCount = 3 + Int(random.next() % 6)
            var nodes = [RecurrentProgram.Node(index: 0, activation: .tanh, inputs: [])]
            for node in 1..<nodeCount {
                // a quarter of the nodes are dead (no live predecessor); the others read 1-3 live nodes
                guard random.next() % 4 != 0 else { continue }
                let live = nodes.map(\.index)
                var inputs = Set<Int>()
                let wanted = 1 + Int(random.next() % UInt64(min(3, live.count)))
                while inputs.count < wanted { inputs.insert(live[Int(random.next() % UInt64(live.count))]) }
                nodes.append(.init(index: node, activation: pick(RecurrentActivation.allCases), inputs: inputs.sorted()))
            }
            let used = Set(nodes.flatMap(\.inputs))
            let leaves = nodes.map(\.index).filter { !used.contains($0) }
            return RecurrentProgram(embed: embed, hidden: hidden, vocabulary: vocabulary, tied: embed == hidden, nodes: nodes, leaves: leaves)
        }
    }
}

/// The `recurrent` section of a `DeviceProfile` (optional: profiles made before it, or with
/// `--no-recurrent`, have none, and language-model latency requests on them fail with one line).
public struct RecurrentProfile: Codable, Equatable, Sendable {
    public var grid: RecurrentGrid
    /// The table, sorted by dtype, kind and shape.
    public var entries: [RecurrentEntry]
    /// Whole-token programs of random cells (both dtypes).
    public var models: [RecurrentModelMeasurement]
    /// One fit per dtype (`float32`, `int8`) of the per-token latency over the table sum.
    public var fits: [String: RecurrentFit]
    public var costModels: [RecurrentCostModel]
    public var noise: [ProfileNoise]?
    /// The SIMD path the recurrent harness was built with.
    public var simdPath: String?
    /// Wall-clock seconds of the recurrent measurement.
    public var seconds: Double

    public init(grid: RecurrentGrid, entries: [RecurrentEntry], models: [RecurrentModelMeasurement], fits: [String: RecurrentFit],
                costModels: [RecurrentCostModel], noise: [ProfileNoise]? = nil, simdPath: String? = nil, seconds: Double = 0) {
        self.grid = grid; self.entries = entries; self.models = models; self.fits = fits; self.costModels = costModels
        self.noise = noise; self.simdPath = simdPath; self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case grid, entries, models, fits, noise, seconds
        case costModels = "cost_models", simdPath = "simd_path"
    }

    /// Value checks the decoder cannot do (`DeviceProfile.validate` calls it).
    func validate(fail: (String) -> Error) throws {
        guard !entries.isEmpty else { throw fail("recurrent: no operator entries") }
        for (index, entry) in entries.enumerated() {
            let times = [entry.medianMicroseconds, entry.ciLowMicroseconds, entry.ciHighMicroseconds, entry.p10Microseconds, entry.p90Microseconds]
            guard times.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw fail("recurrent.entries[\(index)]: times must be finite and >= 0") }
            guard (1...RecurrentProgram.maximumVocabulary).contains(entry.rows), (1...RecurrentProgram.maximumVocabulary).contains(entry.columns) else {
                throw fail("recurrent.entries[\(index)]: rows and columns must be in 1...\(RecurrentProgram.maximumVocabulary)")
            }
        }
        for (dtype, fit) in fits {
            guard OperatorDataType(rawValue: dtype) != nil else { throw fail("recurrent.fits: unknown dtype '\(dtype)'") }
            guard fit.scale.isFinite, fit.scale > 0, fit.interceptMilliseconds.isFinite else {
                throw fail("recurrent.fits.\(dtype): scale must be positive and the intercept finite")
            }
        }
        for model in costModels {
            let values = [model.microsecondsPerMegaElement, model.microsecondsPerColumn, model.microsecondsPerRow, model.interceptMicroseconds]
            guard values.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw fail("recurrent.cost_models: coefficients must be finite and >= 0") }
        }
        for (index, model) in models.enumerated() {
            do { try model.program.validate() } catch { throw fail("recurrent.models[\(index)]: \(error)") }
            let times = [model.tableSumMilliseconds, model.measuredMilliseconds, model.predictedMilliseconds]
            guard times.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw fail("recurrent.models[\(index)]: times must be finite and >= 0") }
        }
    }
}

// MARK: - Prediction

/// Predicts the per-token latency of a cell model from a profile's recurrent section: the table time of
/// every kernel call of the token (measured, or estimated from the rows of its kind by `RecurrentCostModel`),
/// summed, then the dtype's fit `scale * sum + intercept` (checked on whole-token programs of the profile).
public struct RecurrentLatencyPredictor: Sendable {
    public let recurrent: RecurrentProfile
    /// Names the profile in errors.
    public let identity: String
    private let table: [RecurrentOperator: Double]
    private let rowsByKind: [Key: [RecurrentEntry]]
    private let models: [Key: RecurrentCostModel]

    private struct Key: Hashable { var kind: RecurrentOperatorKind; var dtype: OperatorDataType }

    /// The error of a profile without the section.
    public static func missingSectionError(_ identity: String) -> ProfileError {
        ProfileError("\(identity): profile has no recurrent operators; re-run autoshrink profile")
    }

    /// Over `profile`'s recurrent section; one-line error when it has none.
    public init(profile: DeviceProfile, identity: String) throws {
        guard let recurrent = profile.recurrent else { throw Self.missingSectionError(identity) }
        self.init(recurrent: recurrent, identity: identity)
    }

    public init(recurrent: RecurrentProfile, identity: String) {
        self.recurrent = recurrent
        self.identity = identity
        var table: [RecurrentOperator: Double] = [:]
        var rows: [Key: [RecurrentEntry]] = [:]
        for entry in recurrent.entries {
            table[entry.operator] = entry.medianMicroseconds
            rows[Key(kind: entry.op, dtype: entry.dtype), default: []].append(entry)
        }
        self.table = table
        self.rowsByKind = rows
        var models: [Key: RecurrentCostModel] = [:]
        for model in recurrent.costModels { models[Key(kind: model.op, dtype: model.dtype)] = model }
        self.models = models
    }

    /// The table time of one call (microseconds) and whether it was measured (else estimated).
    public func tableTime(_ op: RecurrentOperator) throws -> (microseconds: Double, measured: Bool) {
        if let measured = table[op] { return (measured, true) }
        let key = Key(kind: op.kind, dtype: op.dtype)
        guard let rows = rowsByKind[key], !rows.isEmpty else {
            throw ProfileError("\(identity): the recurrent table has no \(op.kind.hasWeights ? op.dtype.rawValue + " " : "")\(op.kind.rawValue) rows to estimate \(op) from; re-run autoshrink profile")
        }
        // The nearest row in log rows and columns, scaled by the cost model's ratio (or by elements without one).
        func distance(_ entry: RecurrentEntry) -> Double {
            abs(log(Double(entry.rows) / Double(op.rows))) + abs(log(Double(entry.columns) / Double(op.columns)))
        }
        let anchor = rows.min { (distance($0), $0.rows, $0.columns) < (distance($1), $1.rows, $1.columns) }!
        let ratio: Double
        if let model = models[key], model.microseconds(rows: anchor.rows, columns: anchor.columns) > 0 {
            ratio = model.microseconds(rows: op.rows, columns: op.columns) / model.microseconds(rows: anchor.rows, columns: anchor.columns)
        } else {
            ratio = Double(op.rows * op.columns) / Double(anchor.rows * anchor.columns)
        }
        return (max(0, anchor.medianMicroseconds * ratio), false)
    }

    /// One token of `program` with `dtype` weights: every call's table time, their sum and the fitted latency.
    public func predict(_ program: RecurrentProgram, dtype: OperatorDataType) throws -> RecurrentPrediction {
        try program.validate()
        let calls = try program.operators(dtype: dtype).map { op -> RecurrentPrediction.Call in
            let time = try tableTime(op)
            return RecurrentPrediction.Call(operator: op, microseconds: time.microseconds, measured: time.measured)
        }
        let sum = calls.reduce(0) { $0 + $1.microseconds } / 1000
        let fit = recurrent.fits[dtype.rawValue] ?? RecurrentFit(scale: 1, interceptMilliseconds: 0, method: "plain table sum")
        return RecurrentPrediction(dtype: dtype, calls: calls, tableSumMilliseconds: sum, latencyMilliseconds: fit.latency(tableSumMilliseconds: sum),
                                   fit: fit)
    }
}

/// One token's prediction.
public struct RecurrentPrediction: Sendable {
    public struct Call: Sendable {
        public var `operator`: RecurrentOperator
        public var microseconds: Double
        /// The exact shape is in the table (else estimated from its kind's rows).
        public var measured: Bool
    }

    public var dtype: OperatorDataType
    public var calls: [Call]
    public var tableSumMilliseconds: Double
    /// Per token, milliseconds.
    public var latencyMilliseconds: Double
    public var fit: RecurrentFit

    /// Table time per group of calls (embedding, cell, decoder, normaliser), milliseconds, in that order.
    public var groups: [(name: String, milliseconds: Double)] {
        var sums: [String: Double] = [:]
        for call in calls {
            let group: String
            switch call.operator.kind {
            case .embedding: group = "embedding"
            case .rowdot: group = "decoder"
            case .logSumExp, .softmax: group = "log-softmax"
            default: group = "cell"
            }
            sums[group, default: 0] += call.microseconds / 1000
        }
        return ["embedding", "cell", "decoder", "log-softmax"].map { ($0, sums[$0] ?? 0) }
    }
}
