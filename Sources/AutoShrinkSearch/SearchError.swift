/// Why a search cannot start or continue; `description` is one line, printable after "error: ".
public struct SearchError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    /// The hard-limit problem, when that is the reason; `description` then names the limit by its
    /// `LimitKind` raw value and the CLI words it with its option name.
    public let limit: LimitProblem?
    public init(_ description: String) { self.description = description; self.limit = nil }
    public init(_ limit: LimitProblem) {
        self.description = limit.description(limitName: \.rawValue); self.limit = limit
    }
}
