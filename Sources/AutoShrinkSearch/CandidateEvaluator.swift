import AutoShrinkModel

/// One candidate to train and validate on the proxy set.
public struct EvaluationRequest: Hashable, Sendable {
    /// The candidate network (the proxy ShrinkCNN around the candidate cell).
    public var architecture: Architecture
    /// Stable id, unique within a run and equal across resumes: `step-003-c02` (step 3, candidate 2).
    public var candidateID: String
    /// Search step (1-based) and candidate index within the step (ascending removed edge).
    public var step: Int
    public var index: Int
    /// Seed for everything random in training (initialisation, data order, dropout). All
    /// candidates of a step share it, so their comparison is not blurred by different data orders.
    public var seed: UInt64
    /// With `--inherit`: weights of the previous step's winner (a checkpoint written by the
    /// evaluator at that candidate's `weightsOutputPath`) to initialise matching layers from;
    /// nil at step 1 or without `--inherit`.
    public var parentWeightsPath: String?
    /// With `--inherit`: where to save this candidate's trained weights so later steps can
    /// inherit them; nil when nothing needs saving.
    public var weightsOutputPath: String?

    public init(architecture: Architecture, candidateID: String, step: Int, index: Int, seed: UInt64,
                parentWeightsPath: String? = nil, weightsOutputPath: String? = nil) {
        self.architecture = architecture; self.candidateID = candidateID; self.step = step; self.index = index
        self.seed = seed; self.parentWeightsPath = parentWeightsPath; self.weightsOutputPath = weightsOutputPath
    }
}

/// What training one candidate produced.
public struct EvaluationResult: Hashable, Sendable, Codable {
    /// Validation accuracy on the class-balanced held-out proxy split, in [0, 1].
    public var accuracy: Double
    /// Epochs actually run (early exits make this smaller than the configured maximum).
    public var epochs: Int
    /// Wall-clock seconds the evaluation took (recorded in the trajectory and used for the ETA).
    public var seconds: Double
    /// Executors that queue candidates (Slurm, docs/cluster.md): seconds from submission to the job's
    /// start, and the job's whole run (process start to result written, including data loading).
    /// nil for in-process and local worker evaluation; absent keys decode as nil.
    public var queueSeconds: Double?
    public var runSeconds: Double?

    public init(accuracy: Double, epochs: Int, seconds: Double, queueSeconds: Double? = nil, runSeconds: Double? = nil) {
        self.accuracy = accuracy; self.epochs = epochs; self.seconds = seconds
        self.queueSeconds = queueSeconds; self.runSeconds = runSeconds
    }
}

/// Trains and validates candidates. The search calls `evaluate` concurrently from up to
/// `workers` threads, so implementations must be thread-safe; each call should block until its
/// candidate is done (an implementation may hand the work to a worker process and wait).
/// A thrown error stops the search (results already recorded are kept for `--resume`).
public protocol CandidateEvaluator: Sendable {
    func evaluate(_ request: EvaluationRequest) throws -> EvaluationResult
    /// Called once per step, before any `evaluate` of it, with every candidate of the step that still
    /// needs evaluating (in index order), so a batch executor can submit them together (one Slurm job
    /// array per step, docs/cluster.md). Nothing by default.
    func prepareStep(_ requests: [EvaluationRequest]) throws
}

extension CandidateEvaluator {
    public func prepareStep(_ requests: [EvaluationRequest]) throws {}
}
