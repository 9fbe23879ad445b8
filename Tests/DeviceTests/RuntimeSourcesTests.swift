import CSourceEmbedding
import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// The C sources embedded at build time by the EmbedCSources plugin (docs/architecture.md, "C sources").
@Suite("Embedded C sources")
struct RuntimeSourcesTests {
    /// Every .c/.h file under Sources/CRuntime and Sources/CHarness, as (path relative to Sources/, contents).
    static func filesOnDisk() throws -> [(path: String, contents: String)] {
        var files: [(path: String, contents: String)] = []
        for folder in CSourceBundle.folders {
            let base = "\(repositoryRoot)/Sources/\(folder)"
            let enumerator = FileManager.default.enumerator(atPath: base)
            while let path = enumerator?.nextObject() as? String {
                guard CSourceBundle.isEmbedded(path) else { continue }
                files.append(("\(folder)/\(path)", try String(contentsOfFile: "\(base)/\(path)", encoding: .utf8)))
            }
        }
        return files.sorted { $0.path < $1.path }
    }

    @Test("every embedded file has the contents of its file on disk, and every kernel and harness file is embedded")
    func filesMatchDisk() throws {
        let onDisk = try Self.filesOnDisk()
        #expect(EmbeddedCSources.files.map(\.path) == onDisk.map(\.path))
        for (embedded, disk) in zip(EmbeddedCSources.files, onDisk) where embedded.path == disk.path {
            #expect(embedded.contents == disk.contents, "\(disk.path) differs from its embedded copy: rebuild")
        }
        #expect(RuntimeSources.files.contains { $0.path == "include/autoshrink_runtime.h" })
        #expect(RuntimeSources.files.count == onDisk.filter { $0.path.hasPrefix("CRuntime/") }.count)
        #expect(HarnessSource.text == onDisk.first { $0.path == "CHarness/profiler/harness.c" }?.contents)
        // both profiler harnesses get common/ (estimator.h, harness_cli.h, speed_probe.h) and harness_common.h
        // beside them; exports only common/
        #expect(HarnessSource.profilerFiles.map(\.path).sorted() == ["estimator.h", "harness_cli.h", "harness_common.h", "speed_probe.h"])
        #expect(HarnessSource.profilerFiles.first { $0.path == "harness_common.h" }?.contents
                == onDisk.first { $0.path == "CHarness/profiler/harness_common.h" }?.contents)
    }

    @Test("the runtime hash is SHA-256 over the kernels and the harnesses: editing harness.c or main.c changes it")
    func hashCoversHarnesses() throws {
        let onDisk = try Self.filesOnDisk()
        #expect(RuntimeSources.hash == EmbeddedCSources.hash)
        #expect(EmbeddedCSources.hash == CSourceBundle(files: onDisk).hash)
        #expect(EmbeddedCSources.hash.count == 64)
        for harness in ["CHarness/profiler/harness.c", "CHarness/export/main.c", "CHarness/export/idx.c", "CHarness/common/estimator.h",
                        "CHarness/export/idx.h", "CHarness/common/harness_cli.h", "CHarness/lm/lm_main.c", "CRuntime/concat.c",
                        "CRuntime/rnn_kernels.c", "CHarness/profiler/rnn_harness.c", "CHarness/profiler/harness_common.h"] {
            #expect(onDisk.contains { $0.path == harness }, "\(harness) missing")
            let edited = onDisk.map { $0.path == harness ? ($0.path, $0.contents + "\n") : $0 }
            #expect(CSourceBundle(files: edited).hash != EmbeddedCSources.hash, "the hash ignores \(harness)")
            let without = onDisk.filter { $0.path != harness }
            #expect(CSourceBundle(files: without).hash != EmbeddedCSources.hash, "the hash ignores \(harness)")
        }
    }

    @Test("SHA-256 matches the FIPS 180-4 test vectors")
    func sha256Vectors() {
        #expect(SHA256.hex(Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test("the generated literals escape quotes, backslashes, control characters and non-ASCII")
    func literalRoundTrip() {
        let bundle = CSourceBundle(files: [("x/a.c", "a \"b\" \\n \t\r\n é \u{1F600} \\(x) \"\"\" #")])
        let source = bundle.swiftSource()
        #expect(source.contains(#"("x/a.c", "a \"b\" \\n \t\r\n \u{e9} \u{1f600} \\(x) \"\"\" #"),"#))
    }

    @Test("harness.c, rnn_harness.c, the export's idx.c and the other C programs compile with -std=c99 -Wall -Wextra -Werror",
          .enabled(if: findExecutable("cc") != nil, "no C compiler"))
    func harnessesCompileWithoutWarnings() throws {
        let directory = try TemporaryDirectory("harness-warnings")
        defer { directory.remove() }
        let runtime = "\(repositoryRoot)/Sources/CRuntime"
        let harness = "\(repositoryRoot)/Sources/CHarness"
        for (source, includes) in [("\(harness)/profiler/harness.c", ["\(runtime)/include", runtime, "\(harness)/common"]),
                                   ("\(harness)/profiler/rnn_harness.c", ["\(runtime)/include", runtime, "\(harness)/common"]),
                                   ("\(harness)/export/idx.c", ["\(runtime)/include"]),
                                   ("\(repositoryRoot)/tools/kernel-bench.c", ["\(runtime)/include", runtime]),
                                   ("\(fixturesDirectory)/echo_args.c", [])] {
            for optimization in ["-O0", "-O3"] {
                let result = try runTool(findExecutable("cc")!, ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", optimization]
                                         + includes.map { "-I\($0)" } + ["-c", source, "-o", "\(directory.path)/out.o"])
                #expect(result.status == 0, "\(source) \(optimization): \(result.stderr)")
            }
        }
    }
}
