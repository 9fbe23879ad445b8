// The profiler's C benchmark harness (Sources/CHarness/profiler/harness.c, embedded at build time),
// written next to the runtime sources and built with the device's compiler (see `HarnessBuilder`).
// One plain C file so it can be read, built and run by hand:
// `cc -std=c99 -O3 -Iruntime/include -Iruntime harness.c runtime/*.c -lm`, with estimator.h (shared with the
// export's main.c, Sources/CHarness/common) and harness_common.h (shared with rnn_harness.c,
// Sources/CHarness/profiler) beside harness.c.

import AutoShrinkModel
import Foundation

/// The harness's C source (`harness.c`).
enum HarnessSource {
    static let fileName = "harness.c"
    static let text = EmbeddedCSources.contents(of: "CHarness/profiler/harness.c")
    /// The files shared with the export's harness (estimator.h, speed_probe.h, harness_cli.h), written beside
    /// harness.c: (file name, contents).
    public static let sharedFiles: [(path: String, contents: String)] = EmbeddedCSources.files(under: "CHarness/common")
    /// The header of the two profiler harnesses (harness.c, rnn_harness.c): what they share beyond estimator.h.
    static let commonHeader = (path: "harness_common.h", contents: EmbeddedCSources.contents(of: "CHarness/profiler/harness_common.h"))
    /// Everything a profiler harness includes besides the runtime, written beside it: `sharedFiles` and
    /// `commonHeader`.
    static let profilerFiles: [(path: String, contents: String)] = sharedFiles + [commonHeader]

    /// Writes a profiler harness's sources for a build: `runtimeFiles` under `runtimeDirectory`, the
    /// harness `text` as `directory/fileName` and `profilerFiles` beside it (the harness includes them by
    /// name). Returns the C files to compile: the runtime's `.c` files, then the harness.
    static func stage(runtimeFiles: [(path: String, contents: String)], fileName: String, text: String,
                      directory: String, runtimeDirectory: String) throws -> [String] {
        var sources: [String] = []
        for file in runtimeFiles {
            let path = "\(runtimeDirectory)/\(file.path)"
            try FileProblem.createDirectory((path as NSString).deletingLastPathComponent)
            try AtomicFile.write(file.contents, to: path)
            if path.hasSuffix(".c") { sources.append(path) }
        }
        let harnessPath = "\(directory)/\(fileName)"
        try AtomicFile.write(text, to: harnessPath)
        for file in profilerFiles { try AtomicFile.write(file.contents, to: "\(directory)/\(file.path)") }
        return sources + [harnessPath]
    }
}
