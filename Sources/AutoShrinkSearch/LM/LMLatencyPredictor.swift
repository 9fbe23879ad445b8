import AutoShrinkLM
import Foundation

/// Predicted latency per token of a cell model on a device (docs/shrinkrnn.md, "Search"): the CLI gives
/// the LM search one made from a device profile's recurrent section (`RecurrentLatencyPredictor`,
/// AutoShrinkProfiler), as the image search gets a `LatencyPredictor`; this layer only asks for numbers.
public protocol LMLatencyPredictor: Sendable {
    /// Which profile and weight precision predict (recorded in `config.json` as `latency_profile`, so a
    /// resumed run with another profile is refused), e.g. `local@0123456789ab float32`.
    var identity: String { get }
    /// Milliseconds per token of `cell` at `shape` (the program an export of that model runs per token).
    func latencyPerTokenMilliseconds(cell: RNNCell, shape: LanguageModelShape) throws -> Double
}
