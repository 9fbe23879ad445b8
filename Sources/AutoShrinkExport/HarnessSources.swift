import AutoShrinkCSources

// The model harness written into every export (Sources/CHarness/export, embedded at build time):
// main.c (command line, benchmarks), idx.c/idx.h (IDX test files, gzip via its own inflate), the
// latency estimator estimator.h and the speed probe speed_probe.h shared with the profiler's harness, and
// harness_cli.h (errors, shared options, the --bench summary) shared with the language-model harness
// (Sources/CHarness/common).
// C99 + libc only; the same for every model, which it reaches through model.h.

/// C sources of the harness, written verbatim into `deploy/NAME/`.
enum HarnessSources {
    /// (file name, contents): estimator.h, harness_cli.h, idx.c, idx.h, main.c, speed_probe.h.
    static let files: [(path: String, contents: String)] = (EmbeddedCSources.files(under: "CHarness/common")
        + EmbeddedCSources.files(under: "CHarness/export")).sorted { $0.path < $1.path }
}
