import AutoShrinkDevice

// The model harness written into every export (Sources/CHarness/export, embedded at build time):
// main.c (command line, benchmarks) and idx.c/idx.h (IDX test files, gzip via its own inflate).
// C99 + libc only; the same for every model, which it reaches through model.h.

/// C sources of the harness, written verbatim into `deploy/NAME/`.
enum HarnessSources {
    /// (file name, contents): idx.c, idx.h, main.c.
    static let files: [(path: String, contents: String)] = EmbeddedCSources.files(under: "CHarness/export")
}
