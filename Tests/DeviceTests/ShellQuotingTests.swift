import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

@Suite("Shell quoting for remote commands")
struct ShellQuotingTests {
    /// Splits NUL-terminated fields.
    private func fields(_ output: String) -> [String] {
        var parts = output.components(separatedBy: "\0")
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    @Test("each argument survives a real /bin/sh unchanged")
    func roundTripThroughShell() throws {
        let sentinel = "/tmp/autoshrink-pwned"
        try? FileManager.default.removeItem(atPath: sentinel)
        // printf with %s\0 so arguments containing newlines come back exactly.
        let script = "printf '%s\\0' " + ShellQuoting.command(trickyArguments)
        let result = try runTool("/bin/sh", ["-c", script])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(fields(result.stdout) == trickyArguments)
        #expect(!FileManager.default.fileExists(atPath: sentinel), "a $(...) argument was executed")
    }

    @Test("one argument at a time, including quote-only strings", arguments: trickyArguments + ["'", "''", "\\'", "'\"'\"'", " "])
    func singleArgument(_ argument: String) throws {
        let result = try runTool("/bin/sh", ["-c", "printf '%s\\0' " + ShellQuoting.quote(argument)])
        #expect(fields(result.stdout) == [argument])
    }

    @Test("plain words stay readable, everything else is single-quoted")
    func quotingStyle() {
        #expect(ShellQuoting.quote("/tmp/autoshrink/bench") == "/tmp/autoshrink/bench")
        #expect(ShellQuoting.quote("--repeats") == "--repeats")
        #expect(ShellQuoting.quote("") == "''")
        #expect(ShellQuoting.quote("two words") == "'two words'")
        #expect(ShellQuoting.quote("it's") == "'it'\\''s'")
        #expect(ShellQuoting.quote("a=b") == "'a=b'")
        #expect(ShellQuoting.quote("~") == "'~'")
        #expect(ShellQuoting.command(["ls", "-l", "my file"]) == "ls -l 'my file'")
    }

    @Test("the SSH runner's timed command keeps arguments intact and reports the exit status")
    func timedCommandThroughShell() throws {
        let command = SSHRunner.timedCommand(["/bin/sh", "-c", "printf '%s\\0' \"$@\"; exit 7", "sh"] + trickyArguments, seconds: 10)
        let result = try runTool("/bin/sh", ["-c", command])
        #expect(result.status == 7)
        #expect(fields(result.stdout) == trickyArguments)
    }
}
