// The input parsing of generated programs (Sources/CHarness/export/idx.c: gzip, IDX, PGM) against
// arbitrary bytes: tools/fuzz/fuzz_inputs.c built with clang's libFuzzer, AddressSanitizer and
// UndefinedBehaviorSanitizer and run for a bounded time from a seed corpus plus every input that
// once crashed or hung it (Fixtures/fuzz-regressions); and the messages users see for truncated,
// oversized and malformed files (tools/fuzz/read_input.c, built with the strict warning flags).
import Foundation
import Testing

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
private let exportSources = repository.appendingPathComponent("Sources/CHarness/export")
private let regressions = repository.appendingPathComponent("Tests/RuntimeTests/Fixtures/fuzz-regressions")

/// clang with libFuzzer: the Swift toolchain ships one next to `swift`.
private let fuzzingClang: String? = {
    var candidates = ["/opt/swift/usr/bin/clang"]
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        candidates.append("\(directory)/clang")
    }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

private func run(_ executable: String, _ arguments: [String], timeout: TimeInterval) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("autoshrink-fuzz-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: log) }
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(50_000) }
    if process.isRunning { process.terminate(); process.waitUntilExit() }
    process.waitUntilExit()
    try handle.close()
    return (process.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
}

@Suite(.serialized) struct InputFuzzTests {
    /// Small valid inputs of every kind, for the fuzzer to mutate.
    static func seedCorpus(in directory: URL) throws {
        var idx = Data([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3])
        idx.append(Data((0..<18).map { UInt8($0 * 13 % 256) }))
        try idx.write(to: directory.appendingPathComponent("seed.idx"))
        try Data("P5\n# a comment\n3 3\n255\n".utf8 + [0, 64, 128, 192, 255, 1, 2, 3, 4]).write(to: directory.appendingPathComponent("seed.pgm"))
        for file in try FileManager.default.contentsOfDirectory(at: regressions, includingPropertiesForKeys: nil) {
            try FileManager.default.copyItem(at: file, to: directory.appendingPathComponent(file.lastPathComponent))
        }
    }

    @Test(.enabled(if: fuzzingClang != nil, "needs clang with libFuzzer (the Swift toolchain's)"))
    func fuzzedInputParsingNeverCrashes() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("autoshrink-fuzz-\(UUID().uuidString)")
        let corpus = work.appendingPathComponent("corpus")
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        try Self.seedCorpus(in: corpus)
        let fuzzer = work.appendingPathComponent("fuzz").path
        let build = try run(fuzzingClang!, ["-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
                                            "-I", exportSources.path, repository.appendingPathComponent("tools/fuzz/fuzz_inputs.c").path,
                                            exportSources.appendingPathComponent("idx.c").path, "-o", fuzzer], timeout: 180)
        try #require(build.status == 0, "building the fuzzer failed: \(build.output.suffix(2000))")
        // Every kept input once, then new mutations for a bounded time. A crash, a sanitizer report,
        // a leak or an input that takes more than 10 s fails the run; libFuzzer names the input.
        let replay = try run(fuzzer, ["-timeout=10", "-rss_limit_mb=1536"]
                             + (try FileManager.default.contentsOfDirectory(atPath: regressions.path)).map { regressions.appendingPathComponent($0).path },
                             timeout: 120)
        #expect(replay.status == 0, "a kept regression input fails again: \(replay.output.suffix(3000))")
        let fuzz = try run(fuzzer, ["-max_total_time=20", "-timeout=10", "-rss_limit_mb=1536", "-seed=1",
                                    "-artifact_prefix=\(work.path)/", corpus.path], timeout: 120)
        #expect(fuzz.status == 0, "the fuzzer found an input that crashes or hangs the parser (keep it in Fixtures/fuzz-regressions): \(fuzz.output.suffix(3000))")
        #expect(fuzz.output.contains("Done ") , "the fuzzer did not finish its run: \(fuzz.output.suffix(1000))")
    }

    /// What users see for bad inputs: truncated and oversized gzip, a gzip bomb whose IDX header
    /// promises little, a folder, PGM headers with huge or missing numbers. Each is a short reason
    /// and costs little memory and time.
    @Test func badInputsGiveShortReasons() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("autoshrink-inputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let reader = work.appendingPathComponent("read_input").path
        let build = try run("/usr/bin/gcc", ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-I", exportSources.path,
                                             repository.appendingPathComponent("tools/fuzz/read_input.c").path,
                                             exportSources.appendingPathComponent("idx.c").path, "-o", reader], timeout: 120)
        try #require(build.status == 0, "\(build.output)")
        // 300 MB of zeros compressed (a bomb without an IDX header): gzip -1 from Debian's gzip.
        let bomb = work.appendingPathComponent("bomb.gz").path
        let zeros = try run("/bin/sh", ["-c", "head -c 300000000 /dev/zero | gzip -1 > '\(bomb)'"], timeout: 120)
        try #require(zeros.status == 0, "\(zeros.output)")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("folder"), withIntermediateDirectories: true)
        let cases: [(String, String)] = [
            (regressions.appendingPathComponent("ok.idx.gz").path, "ok idx 1000 values"),
            (regressions.appendingPathComponent("truncated.gz").path, "error: truncated gzip file (the compressed data ends early)"),
            (regressions.appendingPathComponent("hang-idx-header-limit.gz").path, "error: gzip data inflates to more than its IDX header says"),
            (bomb, "error: gzip data inflates to more than the 256 MiB limit"),
            (work.appendingPathComponent("folder").path, "error: is a directory"),
            (regressions.appendingPathComponent("pgm20").path, "error: bad PGM header (width has more than 5 digits)"),
            (regressions.appendingPathComponent("pgm-trunc").path, "error: truncated PGM (no pixel data after the header)"),
        ]
        for (path, expected) in cases {
            let started = Date()
            let result = try run(reader, [path], timeout: 30)
            #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == expected, "\(path)")
            #expect(Date().timeIntervalSince(started) < 10, "\(path) took \(Date().timeIntervalSince(started)) s")
        }
    }
}
