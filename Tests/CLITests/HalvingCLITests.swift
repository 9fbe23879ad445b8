import Foundation
import Testing

/// `search --halving` through the command line (docs/algorithm.md §1, "Successive halving").
@Suite struct HalvingCLITests {
    @Test func halvingSearchIsThreadIndependentAndRefusesWorkers() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let options = ["--nodes", "3", "--candidates", "3", "--proxy-per-class", "12", "--validation-per-class", "8",
                       "--epochs", "2", "--batch-size", "32", "--seed", "3", "--halving", "1"]
        var lines: [[String]] = []
        for threads in ["1", "2"] {
            let result = try CLI.run(["search", "--runs-dir", runs, "--name", "t\(threads)", "--threads", threads] + options)
            #expect(result.status == 0, "\(result.stderr)")
            lines.append(try String(contentsOfFile: runs + "/t\(threads)/trajectory.jsonl", encoding: .utf8).split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
                return "\(object["step"] ?? "") \(object["removed_edge"] ?? "") \(object["accuracy"] ?? "") \(object["score"] ?? "") \(object["rung"] ?? "")/\(object["rungs"] ?? "")"
            })
        }
        #expect(!lines[0].isEmpty && lines[0] == lines[1])
        // 3 candidates at step 1: 2 continue past rung 1, 1 is recorded as partial.
        #expect(lines[0].filter { $0.hasPrefix("1 ") && $0.hasSuffix(" 1/2") }.count == 1)
        let refused = try CLI.run(["search", "--runs-dir", runs, "--name", "w", "--workers", "2"] + options)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--halving") && refused.stderr.contains("--workers"))
        #expect(!FileManager.default.fileExists(atPath: runs + "/w"))
    }
}
