// The embedded C sources by role. `EmbeddedCSources` is generated at build time by the EmbedCSources
// plugin from the files under Sources/CRuntime and Sources/CHarness (see docs/architecture.md, "C sources").

extension EmbeddedCSources {
    /// The files under `folder` (a path relative to Sources/), with paths relative to that folder, sorted.
    public static func files(under folder: String) -> [(path: String, contents: String)] {
        let prefix = folder.hasSuffix("/") ? folder : folder + "/"
        return files.filter { $0.path.hasPrefix(prefix) }.map { (String($0.path.dropFirst(prefix.count)), $0.contents) }
    }

    /// The contents of one file (a path relative to Sources/); the path must be embedded.
    public static func contents(of path: String) -> String {
        guard let file = files.first(where: { $0.path == path }) else { preconditionFailure("\(path) is not an embedded C source") }
        return file.contents
    }
}

/// The C runtime kernel sources (Sources/CRuntime), written into profiler harnesses and exports.
public enum RuntimeSources {
    /// SHA-256 over every embedded C file, kernels and harnesses (`EmbeddedCSources.hash`): the runtime
    /// version recorded in profiles and exports; a profile made with other sources is refused as stale.
    public static var hash: String { EmbeddedCSources.hash }
    /// (path relative to Sources/CRuntime, contents), sorted by path.
    public static let files: [(path: String, contents: String)] = EmbeddedCSources.files(under: "CRuntime")
    /// What image-model exports and the profiler's harness ship and compile: every file but the
    /// language-model kernels (`rnn_*`, docs/shrinkrnn.md "Deploy"), which only the LM export uses.
    public static let imageFiles = files.filter { !($0.path.split(separator: "/").last ?? "").hasPrefix("rnn_") }
}
