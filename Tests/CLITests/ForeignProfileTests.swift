import Foundation
import Testing

/// `predict` and `search` refuse a profile measured on another machine with one line that says what
/// differs and how to fix it; `--allow-foreign-profile` uses it with a warning.
@Suite struct ForeignProfileTests {
    @Test func profileOfAnotherMachineIsRefusedUnlessAllowed() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let data = try Data(contentsOf: URL(fileURLWithPath: repository + "/profiles/local.json"))
        var profile = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var environment = try #require(profile["environment"] as? [String: Any])
        environment["cpuModel"] = "Imaginary CPU 9000"
        profile["environment"] = environment
        let path = directory + "/foreign.json"
        try JSONSerialization.data(withJSONObject: profile).write(to: URL(fileURLWithPath: path))
        let before = try FileManager.default.contentsOfDirectory(atPath: directory)

        let refused = try CLI.run(["predict", "refnet", "--profile", path])
        #expect(refused.status == 1)
        let lines = refused.stderr.split(separator: "\n").filter { $0.contains("Error:") }
        #expect(lines.count == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("\(path): measured on another machine than this one (CPU 'Imaginary CPU 9000' vs"))
        #expect(refused.stderr.contains("re-run autoshrink profile --device local") && refused.stderr.contains("--allow-foreign-profile"))

        let allowed = try CLI.run(["predict", "refnet", "--profile", path, "--allow-foreign-profile", "--json"])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(allowed.stderr.contains("warning: \(path): measured on another machine"))
        #expect((allowed.json["latency_ms"] as? Double ?? 0) > 0)

        let search = try CLI.run(["search", "--profile", path, "--max-latency-ms", "1", "--runs-dir", directory + "/runs"])
        #expect(search.status == 1 && search.stderr.contains("measured on another machine"), "\(search.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == before, "the refused search left files")
    }
}
