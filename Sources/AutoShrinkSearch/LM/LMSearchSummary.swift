import AutoShrinkFormats
import Foundation

/// `autoshrink search --task lm --json` (docs/shrinkrnn.md, "Search"): the keys of the CNN search's
/// `SearchSummary` where they apply (`best_arch` is the best cell file, `best_score`, `macs` per token,
/// `params`, `seconds`, ...), with `valid_perplexity` (proxy) where the CNN has `best_accuracy`, and
/// `cell_macs` and `latency_ms_per_token` (predicted, with `--profile`). Every key is written, null when there is no feasible snapshot.
public struct LMSearchSummary: JSONSummary, Sendable, Equatable {
    public var bestArch: String?
    public var bestScore: Double?
    public var validPerplexity: Double?
    public var macs: Int?
    public var cellMACs: Int?
    public var params: Int?
    public var latencyMilliseconds: Double? = nil
    public var latencyMillisecondsPerToken: Double? = nil
    public var seconds: Double
    public var candidateSeconds: Double
    public var candidatesTrained: Int
    public var candidatesTrainedThisSession: Int
    public var steps: Int
    public var runDirectory: String
    public var strategy: String = "autoshrink"
    public var task: String = "lm"

    public init(bestArch: String?, bestScore: Double?, validPerplexity: Double?, macs: Int?, cellMACs: Int?, params: Int?,
                seconds: Double, candidateSeconds: Double, candidatesTrained: Int, candidatesTrainedThisSession: Int, steps: Int,
                runDirectory: String) {
        self.bestArch = bestArch; self.bestScore = bestScore; self.validPerplexity = validPerplexity; self.macs = macs
        self.cellMACs = cellMACs; self.params = params; self.seconds = seconds; self.candidateSeconds = candidateSeconds
        self.candidatesTrained = candidatesTrained; self.candidatesTrainedThisSession = candidatesTrainedThisSession
        self.steps = steps; self.runDirectory = runDirectory
    }

    public typealias Keys = CodingKeys
    public enum CodingKeys: String, CodingKey, CaseIterable {
        case macs, params, seconds, steps, strategy, task
        case bestArch = "best_arch", bestScore = "best_score", validPerplexity = "valid_perplexity", cellMACs = "cell_macs"
        case latencyMilliseconds = "latency_ms", latencyMillisecondsPerToken = "latency_ms_per_token", candidateSeconds = "candidate_seconds", candidatesTrained = "candidates_trained"
        case candidatesTrainedThisSession = "candidates_trained_this_session", runDirectory = "run_directory"
    }
}
