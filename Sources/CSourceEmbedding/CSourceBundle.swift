/// The C sources embedded into the autoshrink binary at build time (see docs/architecture.md, "C
/// sources"): every .c/.h file of the kernels (Sources/CRuntime) and of the harnesses
/// (Sources/CHarness: the profiler's harness.c, the export's main.c and idx.c/idx.h).
///
/// The build-tool plugin `EmbedCSources` runs `embed-c-sources`, which uses this type to render the
/// files as Swift (`EmbeddedCSources` in AutoShrinkCSources); the tests use it to recompute the hash.
public struct CSourceBundle: Sendable {
    /// Folders under Sources/ whose .c and .h files are embedded.
    public static let folders = ["CRuntime", "CHarness"]

    /// (path relative to Sources/, e.g. "CRuntime/include/autoshrink_runtime.h", contents), sorted by path.
    public let files: [(path: String, contents: String)]

    public init(files: [(path: String, contents: String)]) {
        self.files = files.sorted { $0.path < $1.path }
    }

    /// Whether a file name is embedded (.c and .h files).
    public static func isEmbedded(_ path: String) -> Bool { path.hasSuffix(".c") || path.hasSuffix(".h") }

    /// SHA-256 over (path, NUL, contents, NUL) of every file in path order: the runtime hash that
    /// profiles and exports record. It covers everything that times the kernels or ships with an
    /// export, so a change to any of these files marks earlier profiles stale.
    public var hash: String {
        var digest = SHA256()
        for file in files {
            digest.update(Array(file.path.utf8) + [0] + Array(file.contents.utf8) + [0])
        }
        return digest.finalizeHex()
    }

    /// Swift source declaring `public enum EmbeddedCSources { hash, files }`.
    public func swiftSource() -> String {
        var lines = [
            "// Generated at build time by the EmbedCSources plugin (Plugins/EmbedCSources) from Sources/CRuntime",
            "// and Sources/CHarness. Not committed; edit the C files instead.",
            "",
            "/// The C sources (kernels and harnesses), embedded so profiles and exports use exactly these files.",
            "public enum EmbeddedCSources {",
            "    /// SHA-256 over (path, contents) of every file: the runtime version in profiles and exports.",
            "    public static let hash = \"\(hash)\"",
            "    /// (path relative to Sources/, contents), sorted by path.",
            "    public static let files: [(path: String, contents: String)] = [",
        ]
        for file in files {
            lines.append("        (\(Self.literal(file.path)), \(Self.literal(file.contents))),")
        }
        lines += ["    ]", "}", ""]
        return lines.joined(separator: "\n")
    }

    /// A one-line Swift string literal whose value is exactly `text`.
    public static func literal(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case " "..."~": result.unicodeScalars.append(scalar)
            default: result += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        return result + "\""
    }
}
