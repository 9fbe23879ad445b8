import Foundation
import Testing

/// Progress bars and colour: on a terminal (a real pseudo-terminal from util-linux `script`) bars
/// are redrawn in place and headings/errors are styled; in a file or pipe there are no escape codes.
@Suite("console: progress bars and colour", .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
struct ConsoleTests {
    static let escape = "\u{1B}["
    static let trainArguments = ["train", "--train-per-class", "30", "--validation-per-class", "5", "--epochs", "2", "--threads", "1"]

    /// Runs `autoshrink ARGS` on a pseudo-terminal; returns what the terminal showed.
    static func runOnTerminal(_ arguments: [String], in directory: String, environment: [String: String] = [:]) throws -> (status: Int32, screen: String) {
        let quoted = ([CLI.executable] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let result = try CLIProcess.run("/usr/bin/script", ["-qec", quoted, "/dev/null"], in: directory,
                                        environment: ["TERM": "xterm", "NO_COLOR": ""].merging(environment) { $1 })
        return (result.status, result.stdout)
    }

    @Test func terminalGetsBarsAndColourFilesGetPlainText() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let terminal = try Self.runOnTerminal(Self.trainArguments + ["--out", "tty"], in: directory)
        #expect(terminal.status == 0)
        #expect(terminal.screen.contains("\r\(Self.escape)2K  training    ["), "bar redrawn in place")
        #expect(terminal.screen.contains("batches  100%"))
        #expect(terminal.screen.contains("\(Self.escape)1mautoshrink train\(Self.escape)0m"), "bold heading")
        #expect(terminal.screen.contains("training: 10 batches in"), "the bar ends in a summary line")

        let file = try CLI.run(Self.trainArguments + ["--out", "file"], in: directory)
        #expect(file.status == 0)
        #expect(!file.stdout.contains(Self.escape) && !file.stderr.contains(Self.escape))
        #expect(!file.stdout.contains("\r"))
        #expect(file.stdout.contains("epoch   2/2"))

        let noColour = try Self.runOnTerminal(Self.trainArguments + ["--out", "nocolour"], in: directory, environment: ["NO_COLOR": "1"])
        #expect(noColour.status == 0)
        #expect(!noColour.screen.contains("\(Self.escape)1m"), "NO_COLOR turns styling off")
        #expect(noColour.screen.contains("\r\(Self.escape)2K  training    ["), "bars stay (they are not colour)")
    }

    @Test func errorsAreRedOnATerminalAndPlainElsewhere() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let terminal = try Self.runOnTerminal(["train", "--data-dir", "/nonexistent/fashion"], in: directory)
        #expect(terminal.status == 1)
        #expect(terminal.screen.contains("\(Self.escape)31mError:\(Self.escape)0m /nonexistent/fashion/train-images-idx3-ubyte: missing file"))
        let file = try CLI.run(["train", "--data-dir", "/nonexistent/fashion"], in: directory)
        #expect(file.status == 1)
        #expect(file.stderr.hasPrefix("Error: /nonexistent/fashion/train-images-idx3-ubyte: missing file"))
    }

    @Test func progressFileHoldsTheNewestState() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let progress = directory + "/progress.json"
        let result = try CLI.run(Self.trainArguments + ["--out", "model"], in: directory, environment: ["AUTOSHRINK_PROGRESS_FILE": progress])
        #expect(result.status == 0)
        let data = try #require(FileManager.default.contents(atPath: progress))
        let state = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(state["label"] as? String == "training")
        #expect(state["done"] as? Int == 10 && state["total"] as? Int == 10)
        #expect(state["unit"] as? String == "batches")
        #expect((state["detail"] as? String)?.hasSuffix("train images/s") == true)
    }
}
