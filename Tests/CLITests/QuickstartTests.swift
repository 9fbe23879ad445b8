import Foundation
import Testing

/// The README's main command, end to end at tiny settings: real profile of this machine, search,
/// training, int8 export, the binary run on the 10,000 test images, the report.
@Suite("quickstart")
struct QuickstartTests {
    @Test(.enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
    func tinyQuickstartEndToEnd() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/qs"
        let result = try CLI.run(["quickstart", "--out", out, "--nodes", "3", "--candidates", "1", "--proxy-per-class", "20",
                                  "--search-epochs", "1", "--train-epochs", "1", "--json"], in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        let summary = result.json
        let int8 = try #require(summary["int8_accuracy"] as? Double)
        let float = try #require(summary["float_accuracy"] as? Double)
        #expect(int8 > 0.5 && abs(int8 - float) < 0.02, "int8 \(int8) vs float \(float)")
        #expect((summary["measured_latency_ms"] as? Double ?? 0) > 0)
        #expect((summary["predicted_latency_ms"] as? Double ?? 0) > 0)
        #expect((summary["seconds"] as? Double ?? 0) > 0)
        for key in ["report", "binary", "checkpoint", "best_arch"] {
            let path = try #require(summary[key] as? String, "\(key)")
            #expect(FileManager.default.fileExists(atPath: path), "\(key): \(path)")
        }
        let report = try String(contentsOfFile: try #require(summary["report"] as? String), encoding: .utf8)
        #expect(report.contains("<svg"))
        // The report reads export.json's measured latency (it once looked for keys export.json never had).
        let final = try #require(report.components(separatedBy: "<h2>Final network (export)</h2>").dropFirst().first)
        for row in ["float32 test accuracy", "int8 test accuracy", "measured latency (median, int8 binary)", "predicted latency",
                    "measured / predicted", "refnet predicted latency"] {
            #expect(final.contains("<th>\(row)</th><td>"), "the report's final network section lacks \(row)")
        }
        #expect(final.contains(">refnet, predicted</text>") && final.contains(">final network, int8 binary, measured</text>"))

        // The quickstart's own profile times the image kernels only (`profile --no-recurrent`).
        let profile = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/profiles/local.json")))
        #expect((profile as? [String: Any])?["entries"] != nil && (profile as? [String: Any])?["recurrent"] == nil)

        // Off a terminal: plain lines from the children's progress, no escape codes, the summary table.
        #expect(!result.stdout.contains("\u{1B}["))
        #expect(result.stdout.contains("measuring operators"))
        #expect(result.stdout.contains("quickstart summary"))
        #expect(result.stdout.contains("measured latency (median)"))
        #expect(result.stderr.isEmpty, "\(result.stderr)")
    }
}
