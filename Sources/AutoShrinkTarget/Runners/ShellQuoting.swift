import Foundation

/// Quoting for the one place a shell is unavoidable: the command string that ssh hands to the remote login shell.
///
/// ssh joins its arguments with spaces and the remote side parses the result as shell code, so each
/// argument is wrapped in single quotes on its own; inside single quotes a POSIX shell interprets nothing,
/// and a single quote itself is written as `'\''` (close, escaped quote, reopen).
public enum ShellQuoting {
    /// Characters that never need quoting. `=` is left out so a first word is never taken for an assignment,
    /// `~` so it is never expanded.
    private static let plainCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+:,./-")

    /// `argument` as one shell word that a POSIX shell turns back into exactly `argument`.
    public static func quote(_ argument: String) -> String {
        if !argument.isEmpty, argument.allSatisfy({ plainCharacters.contains($0) }) {
            return argument
        }
        return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// An argument vector as one shell command line (each element quoted on its own).
    public static func command(_ arguments: [String]) -> String {
        arguments.map(quote).joined(separator: " ")
    }
}
