import Foundation
import Testing
import AutoShrinkTestSupport
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget
#if canImport(Glibc)
import Glibc
#endif

/// The checkout's root directory (Tests/DeviceTests/TestSupport.swift is three levels down).
let repositoryRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

let fixturesDirectory = "\(repositoryRoot)/Tests/DeviceTests/Fixtures"

/// Arguments that break naive quoting: spaces, both quotes, expansions, separators, globs, newlines, unicode.
let trickyArguments: [String] = [
    "plain",
    "two words",
    "",
    "it's",
    "\"double\" quoted",
    "$(touch /tmp/autoshrink-pwned)",
    "`id`",
    "a; echo injected",
    "x && y || z",
    "$HOME ${PATH}",
    "*.c ?",
    "back\\slash",
    "-n",
    "--",
    "~root",
    "tab\there",
    "new\nline",
    "ünïcødé ✓",
    "'''",
    "a=b",
]

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ label: String = "test") throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("autoshrink-devicetests-\(label)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ contents: String) throws -> String {
        let filePath = file(name)
        try contents.write(toFile: filePath, atomically: true, encoding: .utf8)
        return filePath
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A device that builds with this machine's gcc and runs locally.
func localDevice(name: String = "test-local") -> DeviceDescription {
    DeviceDescription(name: name, architecture: .x86_64,
                      compiler: CompilerSettings(cc: "gcc", flags: ["-O2"]), runner: .local)
}

/// The shipped qemu-aarch64 device.
func shippedDevice(_ name: String) throws -> DeviceDescription {
    try DeviceDescription.load(path: "\(repositoryRoot)/devices/\(name).toml")
}

/// The expected output of echo_args for `arguments` compiled for `arch`.
func echoOutput(arch: String, _ arguments: [String]) -> String {
    "arch=\(arch)\nargc=\(arguments.count)\n" + arguments.map { "<\($0)>\n" }.joined()
}

let hasAArch64Toolchain = findExecutable("aarch64-linux-gnu-gcc") != nil
    && findExecutable("qemu-aarch64") != nil
    && FileManager.default.fileExists(atPath: "/usr/aarch64-linux-gnu/lib")

/// Runs a program directly (test plumbing; the code under test has its own).
func runTool(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    guard case .finished(let result) = try runSubprocess(executable: executable, arguments: arguments, timeout: 60) else {
        throw TestSetupError("\(executable) timed out")
    }
    return (result.exitStatus, result.stdout, result.stderr)
}

/// A private sshd on 127.0.0.1 started with tools/test-sshd (own config, host key and client key in a temp dir).
struct TestSSHServer {
    static let sshdPath: String? = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    static var isAvailable: Bool {
        sshdPath != nil && findExecutable("ssh") != nil && findExecutable("scp") != nil && findExecutable("ssh-keygen") != nil
    }

    let directory: TemporaryDirectory
    let port: Int

    /// Starts the server; throws (the test fails) when sshd is installed but does not come up.
    static func start() throws -> TestSSHServer {
        let directory = try TemporaryDirectory("sshd")
        var lastError = ""
        // A port found free can be taken before sshd binds it; try a few.
        for _ in 0..<3 {
            let port = try freeLoopbackPort()
            let result = try runTool("\(repositoryRoot)/tools/test-sshd", ["start", directory.path, String(port)])
            if result.status == 0 { return TestSSHServer(directory: directory, port: port) }
            lastError = (result.stderr + result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        directory.remove()
        throw TestSetupError("tools/test-sshd could not start sshd: \(lastError)")
    }

    func stop() {
        _ = try? runTool("\(repositoryRoot)/tools/test-sshd", ["stop", directory.path])
        directory.remove()
    }

    /// A device that logs in to this server with the generated key, checking the generated host key.
    func device(name: String = "test-ssh", port: Int? = nil, knownHosts: String? = nil) -> DeviceDescription {
        let settings = SSHSettings(
            host: "127.0.0.1", user: String(cString: getpwuid(getuid()).pointee.pw_name), port: port ?? self.port,
            remoteDirectory: "\(directory.path)/remote dir",
            identityFile: directory.file("client_ed25519_key"),
            options: ["-o", "UserKnownHostsFile=\(knownHosts ?? directory.file("known_hosts"))",
                      "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes"])
        return DeviceDescription(name: name, architecture: .x86_64,
                                 compiler: CompilerSettings(cc: "gcc", flags: ["-O2"]), runner: .ssh(settings))
    }
}

/// Compiles Fixtures/echo_args.c for `device` into `directory`.
func buildEchoArgs(for device: DeviceDescription, in directory: TemporaryDirectory) throws -> String {
    let output = directory.file("echo_args")
    try Toolchain(device: device).compile(sources: ["\(fixturesDirectory)/echo_args.c"], output: output)
    return output
}
