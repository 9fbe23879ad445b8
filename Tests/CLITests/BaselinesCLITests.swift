import AutoShrinkFormats
import Foundation
import Testing

/// `autoshrink baselines` end to end at a tiny setting (docs/baselines.md).
@Suite struct BaselinesCLITests {
    @Test("baselines: option errors are one line")
    func optionErrors() throws {
        for (arguments, expected) in [
            (["baselines", "--families", "resnet"], "unknown family 'resnet'"),
            (["baselines", "--widths", "0"], "--widths: '0' is not a number"),
            (["baselines", "--lrs", "0.1,abc"], "--lrs: 'abc' is not a number"),
            (["baselines", "--epochs", "0"], "--epochs"),
        ] {
            let result = try CLI.run(arguments)
            #expect(result.status != 0 && result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }

    @Test("baselines: 1 family, 1 width, tiny data, 1 epoch, 2 rates writes a valid baselines.json; the folder rules hold",
          .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
    func tinyFront() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/front"
        let arguments = ["baselines", "--device", "local", "--families", "mbv2", "--widths", "0.5", "--per-class", "20",
                         "--validation-per-class", "10", "--search-per-class", "20", "--lrs", "0.05,0.2", "--epochs", "1",
                         "--test-images", "100", "--bench-runs", "20", "--threads", "2", "--out", out, "--json"]
        let result = try CLI.run(arguments, in: ExportRepository.root)
        #expect(result.status == 0, "\(result.stderr)")
        let front = try BaselineFront.load(path: out + "/baselines.json")
        #expect(front.entries.map(\.name) == ["mbv2-w0.5"])
        let entry = try #require(front.entries.first)
        #expect(entry.family == "mbv2" && entry.width == 0.5)
        #expect(entry.trials.map(\.learningRate) == [0.05, 0.2])
        #expect([0.05, 0.2].contains(entry.learningRate))
        #expect(entry.int8TestAccuracy != nil && entry.floatTestAccuracy != nil)
        #expect((entry.latencyMilliseconds ?? 0) > 0 && entry.latencyCILowMilliseconds != nil)
        #expect(entry.macs > 0 && entry.parameters > 0)
        #expect(front.recipe.epochs == 1 && front.recipe.validationPerClass == 10 && front.device == "local")
        #expect(FileManager.default.fileExists(atPath: "\(out)/\(entry.export)/model"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/checkpoints/mbv2-w0.5.ckpt"))
        let summary = result.json
        #expect(summary["file"] as? String == out + "/baselines.json")
        #expect((summary["entries"] as? [[String: Any]])?.first?["name"] as? String == "mbv2-w0.5")

        // `report --baselines` draws a (tiny) search run against the front.
        let runs = directory + "/runs"
        let search = try CLI.run(["search", "--runs-dir", runs, "--name", "tiny", "--nodes", "4", "--candidates", "2",
                                  "--proxy-per-class", "12", "--validation-per-class", "8", "--epochs", "1", "--batch-size", "32",
                                  "--threads", "2", "--seed", "3", "--quiet"])
        #expect(search.status == 0, "\(search.stderr)")
        let report = try CLI.run(["report", runs + "/tiny", "--baselines", out + "/baselines.json", "--export", "\(out)/\(entry.export)",
                                  "--json"])
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOfFile: runs + "/tiny/report.html", encoding: .utf8)
        #expect(html.contains("Against hand-designed baselines") && html.contains("<td>mbv2-w0.5</td>"))
        let bad = try CLI.run(["report", runs + "/tiny", "--baselines", out + "/checkpoints/mbv2-w0.5.ckpt"])
        #expect(bad.status != 0 && bad.stderr.split(separator: "\n").count <= 2, "\(bad.stderr)")

        // A folder of other files is refused (nothing written); --force writes into it.
        let other = directory + "/other"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: other + "/notes.txt"))
        let refused = try CLI.run(["baselines", "--families", "mbv2", "--widths", "0.5", "--out", other], in: ExportRepository.root)
        #expect(refused.status != 0 && refused.stderr.contains("is not an earlier baselines folder"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: other) == ["notes.txt"])
    }
}

/// The repository root (devices/ lives there).
enum ExportRepository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
}
