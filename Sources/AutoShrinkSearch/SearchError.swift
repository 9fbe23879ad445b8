/// Why a search cannot start or continue; `description` is one line, printable after "error: ".
public struct SearchError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
