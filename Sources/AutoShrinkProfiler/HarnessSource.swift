// The profiler's C benchmark harness (Sources/CHarness/profiler/harness.c, embedded at build time),
// written next to the runtime sources and built with the device's compiler (see `HarnessBuilder`).
// One plain C file so it can be read, built and run by hand:
// `cc -std=c99 -O3 -Iruntime/include -Iruntime harness.c runtime/*.c -lm`, with estimator.h (shared with the
// export's main.c, Sources/CHarness/common) beside harness.c.

/// The harness's C source (`harness.c`).
enum HarnessSource {
    static let fileName = "harness.c"
    static let text = EmbeddedCSources.contents(of: "CHarness/profiler/harness.c")
    /// The files shared with the export's harness (estimator.h), written beside harness.c: (file name, contents).
    public static let sharedFiles: [(path: String, contents: String)] = EmbeddedCSources.files(under: "CHarness/common")
}
