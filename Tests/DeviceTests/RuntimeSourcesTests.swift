import Foundation
import Testing
@testable import AutoShrinkDevice

@Suite("Embedded runtime sources")
struct RuntimeSourcesTests {
    @Test("the embedded copy equals Sources/CRuntime on disk (tools/embed-runtime --check exits 0)",
          .enabled(if: findExecutable("python3") != nil, "python3 missing: tools/embed-runtime is a Python script"))
    func embeddedCopyIsCurrent() throws {
        let result = try runTool("\(repositoryRoot)/tools/embed-runtime", ["--check"])
        #expect(result.status == 0, "RuntimeSources.generated.swift is stale: run tools/embed-runtime")
    }

    @Test("every embedded file has the contents of its file on disk, and every kernel file is embedded")
    func filesMatchDisk() throws {
        let runtime = "\(repositoryRoot)/Sources/CRuntime"
        var onDisk: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: runtime)
        while let path = enumerator?.nextObject() as? String {
            if path.hasSuffix(".c") || path.hasSuffix(".h") { onDisk.append(path) }
        }
        #expect(RuntimeSources.files.map(\.path) == onDisk.sorted())
        for file in RuntimeSources.files {
            let contents = try String(contentsOfFile: "\(runtime)/\(file.path)", encoding: .utf8)
            #expect(contents == file.contents, "\(file.path) differs from its embedded copy: run tools/embed-runtime")
        }
        #expect(RuntimeSources.hash.count == 64)
        #expect(RuntimeSources.files.contains { $0.path == "include/autoshrink_runtime.h" })
    }
}
