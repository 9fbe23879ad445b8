import Foundation

/// The one rule for names that become path components (`deploy/<name>`, `runs/<name>`,
/// `runs/train-<name>`, `profiles/<name>.json`): ASCII letters, digits, `.`, `-` and `_`, no leading
/// dot, at most `maximumLength` characters. Names are checked where they are read (architecture and
/// checkpoint files, `--name` options, device files), so a name like `../../victim` never becomes a path
/// (docs/architecture.md, "Names, locks and output folders").
public enum SafeName {
    public static let maximumLength = 64

    /// Why `name` is not a safe name, or nil when it is.
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if name.utf8.count > maximumLength { return "is longer than \(maximumLength) characters" }
        if name.hasPrefix(".") { return "must not start with '.'" }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "._-".unicodeScalars.contains(scalar))
        }
        if !allowed { return "may only contain letters, digits, '.', '-' and '_'" }
        return nil
    }

    /// Throws a one-line error `<what> '<name>' <problem>` when `name` breaks the rule.
    public static func check(_ name: String, what: String) throws {
        if let problem = problem(name) { throw SafeNameError("\(what) '\(printable(name))' \(problem)") }
    }

    /// `name` with control characters escaped and cut to a readable length, for messages.
    public static func printable(_ name: String) -> String {
        let escaped = name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        return escaped.count > 80 ? String(escaped.prefix(80)) + "..." : escaped
    }
}

/// A name that breaks the `SafeName` rule; the description is one line.
public struct SafeNameError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
