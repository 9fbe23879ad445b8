import Foundation
import Testing
import AutoShrinkTestSupport
#if canImport(Glibc)
import Glibc
#endif
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// Against a real sshd on 127.0.0.1 started by tools/test-sshd in a temp dir (own config, host key, client key).
@Suite("SSH runner", .enabled(if: TestSSHServer.isAvailable, "sshd, ssh, scp or ssh-keygen missing (tools/setup installs openssh-server and openssh-client)"))
struct SSHRunnerTests {
    @Test("upload with scp, run with tricky arguments, exit status, stderr, readFile, cleanup")
    func uploadAndRun() throws {
        let server = try TestSSHServer.start()
        defer { server.stop() }
        let directory = try TemporaryDirectory("ssh")
        defer { directory.remove() }
        let device = server.device()
        let runner = makeRunner(for: device)
        #expect(runner is SSHRunner)
        try runner.prepare()
        let remoteDirectory = server.directory.file("remote dir")
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: remoteDirectory, isDirectory: &isDirectory) && isDirectory.boolValue)

        let binary = try runner.upload(try buildEchoArgs(for: device, in: directory))
        #expect(binary == "\(remoteDirectory)/echo_args")
        #expect(FileManager.default.isExecutableFile(atPath: binary), "scp -p should keep the executable bit")

        let sentinel = "/tmp/autoshrink-pwned"
        try? FileManager.default.removeItem(atPath: sentinel)
        let result = try runner.run(binary, arguments: trickyArguments, timeout: 30)
        #expect(result.exitStatus == 0, "\(result.stderr)")
        #expect(result.stdout == echoOutput(arch: "x86_64", trickyArguments))
        #expect(!FileManager.default.fileExists(atPath: sentinel), "an argument was run by the remote shell")

        // The local runner is the oracle.
        let oracle = LocalRunner(device: localDevice())
        defer { try? oracle.cleanup() }
        let oracleResult = try oracle.run(try oracle.upload(directory.file("echo_args")), arguments: trickyArguments, timeout: 30)
        #expect(result.stdout == oracleResult.stdout)

        let failing = try runner.run(binary, arguments: ["--exit", "3"], timeout: 30)
        #expect(failing.exitStatus == 3)
        #expect(failing.stderr.contains("exiting 3"))
        // A remote 255 without ssh diagnostics is the program's own status, not a connection error.
        #expect(try runner.run(binary, arguments: ["--exit", "255"], timeout: 30).exitStatus == 255)

        let dataFile = try runner.upload(try directory.write("notes 'quoted'.txt", "line one\nline two\n"))
        #expect(try runner.readFile(dataFile) == "line one\nline two\n")
        #expect(try runner.readFile("\(remoteDirectory)/missing file") == nil)

        let uname = try runner.execute(["uname", "-m"], timeout: 30)
        #expect(uname.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "x86_64")

        try runner.cleanup()
        #expect(!FileManager.default.fileExists(atPath: binary))
        #expect(!FileManager.default.fileExists(atPath: dataFile))
    }

    @Test("a remote timeout kills the program and is one line")
    func remoteTimeout() throws {
        let server = try TestSSHServer.start()
        defer { server.stop() }
        let runner = makeRunner(for: server.device(name: "slow-ssh"))
        try runner.prepare()
        let start = Date()
        do {
            _ = try runner.execute(["sleep", "60"], timeout: 1)
            Issue.record("a 60 s sleep finished within a 1 s timeout")
        } catch let error as DeviceRunnerError {
            #expect(error.description == "device slow-ssh: execute sleep: timed out after 1 s and was killed")
        }
        #expect(Date().timeIntervalSince(start) < 20)
    }

    @Test("environment probe over ssh")
    func probeOverSSH() throws {
        let server = try TestSSHServer.start()
        defer { server.stop() }
        let environment = try DeviceEnvironment.probe(using: makeRunner(for: server.device()))
        #expect(environment.arch == "x86_64")
        #expect((environment.coreCount ?? 0) >= 1)
        #expect(environment.kernel != nil)
        #expect(environment == (try DeviceEnvironment.probe(using: LocalRunner(device: localDevice())))
                    .with(currentFrequencyMHz: environment.currentFrequencyMHz, thermal: environment))
    }

    @Test("an unreachable port is a one-line error naming the device, the step and the target")
    func unreachable() throws {
        let server = try TestSSHServer.start()
        defer { server.stop() }
        let closedPort = try freeLoopbackPort()
        let runner = makeRunner(for: server.device(name: "gone", port: closedPort))
        do {
            try runner.prepare()
            Issue.record("prepare succeeded against a closed port")
        } catch let error as DeviceRunnerError {
            let message = error.description
            #expect(!message.contains("\n"))
            #expect(message.hasPrefix("device gone: prepare: cannot reach "), "\(message)")
            #expect(message.contains("@127.0.0.1:\(closedPort) (ssh: connect to host 127.0.0.1 port \(closedPort): Connection refused)"),
                    "\(message)")
        }
        let expectedReason = "ssh: connect to host 127.0.0.1 port \(closedPort): Connection refused"
        let target = "\(String(cString: getpwuid(getuid()).pointee.pw_name))@127.0.0.1:\(closedPort)"
        #expect(throws: DeviceRunnerError.unreachable(device: "gone", step: "upload hostname", target: target, reason: expectedReason)) {
            try runner.upload("/etc/hostname")
        }
        #expect(throws: DeviceRunnerError.unreachable(device: "gone", step: "run true", target: target, reason: expectedReason)) {
            try runner.run("/bin/true", arguments: [], timeout: 5)
        }
    }

    @Test("host-key checking stays on: an unknown host key refuses to log in")
    func hostKeyChecked() throws {
        let server = try TestSSHServer.start()
        defer { server.stop() }
        let emptyKnownHosts = try server.directory.write("empty_known_hosts", "")
        let runner = makeRunner(for: server.device(name: "stranger", knownHosts: emptyKnownHosts))
        do {
            try runner.prepare()
            Issue.record("logged in to a host whose key is not known")
        } catch let error as DeviceRunnerError {
            guard case .loginFailed = error else { Issue.record("expected loginFailed, got \(error)"); return }
            #expect(error.description.contains("device stranger: prepare: cannot log in to "))
            #expect(error.description.contains("Host key verification failed"))
        }
    }

    @Test("ssh and scp command lines")
    func commandLines() {
        let settings = SSHSettings(host: "pi.local", user: "pi", port: 2200, remoteDirectory: "~/auto shrink/",
                                   identityFile: "/k", options: ["-o", "ServerAliveInterval=5"])
        let device = DeviceDescription(name: "pi", architecture: .aarch64,
                                       compiler: CompilerSettings(cc: "gcc", flags: []), runner: .ssh(settings))
        let runner = SSHRunner(device: device, settings: settings)
        #expect(runner.remoteDirectory == "auto shrink")
        #expect(runner.sshArguments(remoteCommand: "uname -m") == [
            "-o", "ServerAliveInterval=5", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-i", "/k",
            "-p", "2200", "pi@pi.local", "--", "uname -m"])
        #expect(runner.scpArguments(localPath: "/a b", remotePath: "./auto shrink/a b") == [
            "-p", "-o", "ServerAliveInterval=5", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-i", "/k",
            "-P", "2200", "--", "/a b", "pi@pi.local:./auto shrink/a b"])
        let noPort = SSHSettings(host: "::1", remoteDirectory: "x")
        let bare = SSHRunner(device: device, settings: noPort)
        #expect(!bare.sshArguments(remoteCommand: "true").contains("-p"))
        #expect(bare.scpArguments(localPath: "/f", remotePath: "x/f").last == "[::1]:x/f")
    }
}

extension DeviceEnvironment {
    /// This environment with the fields that change from one moment to the next taken from `other`.
    func with(currentFrequencyMHz: Double?, thermal other: DeviceEnvironment) -> DeviceEnvironment {
        var copy = self
        copy.currentFrequencyMHz = currentFrequencyMHz
        copy.thermalZones = other.thermalZones
        copy.temperatureCelsius = other.temperatureCelsius
        return copy
    }
}
