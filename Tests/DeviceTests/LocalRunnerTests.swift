import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

@Suite("Local runner (the oracle)")
struct LocalRunnerTests {
    @Test("upload and run a compiled program with tricky arguments intact")
    func runWithArguments() throws {
        let directory = try TemporaryDirectory("local")
        defer { directory.remove() }
        let runner = makeRunner(for: localDevice())
        #expect(runner is LocalRunner)
        defer { try? runner.cleanup() }
        try runner.prepare()
        let binary = try runner.upload(try buildEchoArgs(for: runner.device, in: directory))
        #expect(binary != directory.file("echo_args"), "upload should stage a copy")

        let result = try runner.run(binary, arguments: trickyArguments, timeout: 30)
        #expect(result.exitStatus == 0)
        #expect(result.stdout == echoOutput(arch: "x86_64", trickyArguments))
        #expect(result.stderr == "")
        #expect(result.seconds >= 0 && result.seconds < 30)
    }

    @Test("exit status and stderr are reported, not thrown", arguments: [0, 1, 3, 255])
    func exitStatus(_ status: Int) throws {
        let directory = try TemporaryDirectory("local")
        defer { directory.remove() }
        let runner = LocalRunner(device: localDevice())
        defer { try? runner.cleanup() }
        let binary = try runner.upload(try buildEchoArgs(for: runner.device, in: directory))
        let result = try runner.run(binary, arguments: ["--exit", String(status)], timeout: 30)
        #expect(result.exitStatus == Int32(status))
        #expect(result.stderr == "exiting \(status)\n")
        #expect(result.firstOutputLine == "exiting \(status)")
    }

    @Test("a death by signal reports 128 + signal")
    func signalStatus() throws {
        let runner = LocalRunner(device: localDevice())
        let result = try runner.execute(["sh", "-c", "kill -TERM $$"], timeout: 10)
        #expect(result.exitStatus == 128 + 15)
    }

    @Test("timeout kills a sleeping program and says so in one line")
    func timeoutKills() throws {
        let directory = try TemporaryDirectory("local")
        defer { directory.remove() }
        let runner = LocalRunner(device: localDevice(name: "sleepy"))
        defer { try? runner.cleanup() }
        let binary = try runner.upload(try buildEchoArgs(for: runner.device, in: directory))
        let start = Date()
        do {
            _ = try runner.run(binary, arguments: ["--sleep", "60"], timeout: 1)
            Issue.record("a 60 s sleep finished within a 1 s timeout")
        } catch let error as DeviceRunnerError {
            guard case .timedOut(let device, let step, let seconds, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(device == "sleepy")
            #expect(step == "run echo_args")
            #expect(seconds == 1)
            #expect(error.description == "device sleepy: run echo_args: timed out after 1 s and was killed")
        }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test("missing binary, missing tool and missing file")
    func missingThings() throws {
        let runner = LocalRunner(device: localDevice())
        #expect(throws: DeviceRunnerError.stepFailed(device: "test-local", step: "run nope", reason: "/nonexistent/nope does not exist")) {
            try runner.run("/nonexistent/nope", arguments: [], timeout: 5)
        }
        #expect(throws: DeviceRunnerError.toolNotFound(device: "test-local", tool: "no-such-tool-xyz")) {
            try runner.execute(["no-such-tool-xyz"], timeout: 5)
        }
        #expect(try runner.readFile("/nonexistent/file") == nil)
        #expect(try runner.readFile("/proc/sys/kernel/osrelease")?.isEmpty == false)
    }

    @Test("cleanup removes the staging directory")
    func cleanupRemovesStaging() throws {
        let directory = try TemporaryDirectory("local")
        defer { directory.remove() }
        let runner = LocalRunner(device: localDevice())
        let staged = try runner.upload(try directory.write("data.txt", "hello"))
        #expect(try runner.readFile(staged) == "hello")
        try runner.cleanup()
        #expect(!FileManager.default.fileExists(atPath: runner.stagingDirectory))
        try runner.cleanup()
    }
}
