import AutoShrinkModel

/// Latency predictor from a device profile (placeholder until the profiler lands).
public struct ProfileLatencyPredictor: LatencyPredictor {
    public let identity: String
    public static func load(path: String) throws -> ProfileLatencyPredictor {
        throw PredictorError("\(path): device profiles are not supported by this build yet")
    }
    public func predictLatencyMilliseconds(_ graph: LayerGraph) throws -> Double {
        throw PredictorError("no profile")
    }
}

public struct PredictorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
