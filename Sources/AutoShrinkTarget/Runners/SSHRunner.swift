import Foundation

/// Runs binaries on a remote device with the system's OpenSSH client (`ssh` and `scp`).
///
/// Every call is `ssh [ssh_options] -o BatchMode=yes -o ConnectTimeout=10 [-i identity] [-p port] [user@]host -- <command>`.
/// Host-key checking stays on and ~/.ssh/config applies; the device file's `ssh_options` are added verbatim.
/// The remote login shell parses `<command>`, so it is built only by `ShellQuoting.command` from an argument vector.
/// Remote runs are wrapped in the device's `timeout` tool when it has one, so a hung benchmark does not
/// outlive the connection; the local ssh process is killed as a backstop.
public final class SSHRunner: DeviceRunner, @unchecked Sendable {
    public let device: DeviceDescription
    public let settings: SSHSettings
    /// Seconds ssh may spend connecting (`-o ConnectTimeout`).
    public let connectTimeout: Int
    // Paths uploaded by this runner, removed by `cleanup`; guarded by `lock`.
    private var uploaded: Set<String> = []
    private let lock = NSLock()

    public init(device: DeviceDescription, settings: SSHSettings, connectTimeout: Int = 10) {
        self.device = device
        self.settings = settings
        self.connectTimeout = connectTimeout
    }

    // MARK: Command lines

    /// `[user@]host` as ssh wants it.
    var destination: String {
        (settings.user.map { "\($0)@" } ?? "") + settings.host
    }

    /// Options shared by ssh and scp, before the port option (which differs: `-p` vs `-P`).
    /// The device's own options come first because ssh keeps the first value it sees for each setting,
    /// so a device file can raise ConnectTimeout for a slow link.
    var commonOptions: [String] {
        var options = settings.options + ["-o", "BatchMode=yes", "-o", "ConnectTimeout=\(connectTimeout)"]
        if let identity = settings.identityFile { options += ["-i", identity] }
        return options
    }

    /// The remote working directory as ssh and sftp see it: `~/x` becomes `x` (both start in the login directory).
    public var remoteDirectory: String {
        var directory = settings.remoteDirectory
        if directory.hasPrefix("~/") { directory.removeFirst(2) }
        while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
        return directory
    }

    /// The ssh argument vector that runs `remoteCommand` (one shell string) on the device.
    public func sshArguments(remoteCommand: String) -> [String] {
        commonOptions + (settings.port.map { ["-p", String($0)] } ?? []) + [destination, "--", remoteCommand]
    }

    /// The scp argument vector that copies `localPath` to `remotePath`.
    public func scpArguments(localPath: String, remotePath: String) -> [String] {
        // `-p` keeps the executable bit. No `-q`: it would also hide ssh's diagnostics, which name the failure.
        // A host with ':' (IPv6) needs brackets in scp's host:path syntax.
        let host = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        let target = (settings.user.map { "\($0)@" } ?? "") + host + ":" + remotePath
        return ["-p"] + commonOptions + (settings.port.map { ["-P", String($0)] } ?? []) + ["--", localPath, target]
    }

    /// The remote shell command for `arguments`, killed by the device's `timeout` after `seconds` when it has one.
    public static func timedCommand(_ arguments: [String], seconds: Double) -> String {
        let quoted = ShellQuoting.command(arguments)
        let limit = String(max(1, Int(seconds.rounded(.up))))
        // No `exec`: the shell turns a death by signal N into status 128+N, as the local runner reports it.
        return "if command -v timeout >/dev/null 2>&1; then timeout -k 5 \(limit) \(quoted); else \(quoted); fi; exit $?"
    }

    /// A device path that the remote shell executes as a file rather than looking it up on PATH.
    static func executablePath(_ path: String) -> String {
        path.hasPrefix("/") || path.hasPrefix("./") || path.hasPrefix("../") ? path : "./" + path
    }

    // MARK: DeviceRunner

    public func prepare() throws {
        let result = try ssh(ShellQuoting.command(["mkdir", "-p", remoteDirectory]), timeout: 30, step: "prepare")
        guard result.exitStatus == 0 else {
            throw DeviceRunnerError.stepFailed(device: device.name, step: "prepare",
                                               reason: "cannot create \(remoteDirectory): \(result.firstOutputLine)")
        }
    }

    public func upload(_ localPath: String) throws -> String {
        let step = stepName("upload", localPath)
        guard FileManager.default.fileExists(atPath: localPath) else {
            throw DeviceRunnerError.stepFailed(device: device.name, step: step, reason: "\(localPath) does not exist")
        }
        let name = (localPath as NSString).lastPathComponent
        let remotePath = Self.executablePath(remoteDirectory == "/" ? "/\(name)" : "\(remoteDirectory)/\(name)")
        // An absolute local path: scp would read "a:b" as host a.
        let absoluteLocal = URL(fileURLWithPath: localPath).standardizedFileURL.path
        let result = try tool("scp", arguments: scpArguments(localPath: absoluteLocal, remotePath: remotePath),
                              timeout: 600, step: step)
        if result.exitStatus != 0 {
            if let failure = connectionFailure(result, step: step) { throw failure }
            throw DeviceRunnerError.stepFailed(device: device.name, step: step,
                                               reason: "scp to \(remotePath) failed: \(result.firstOutputLine)")
        }
        lock.withLock { _ = uploaded.insert(remotePath) }
        return remotePath
    }

    public func run(_ devicePath: String, arguments: [String], timeout: Double) throws -> RunResult {
        let step = stepName("run", devicePath)
        let command = Self.timedCommand([Self.executablePath(devicePath)] + arguments, seconds: timeout)
        return try remoteTimed(command, timeout: timeout, step: step)
    }

    public func execute(_ command: [String], timeout: Double) throws -> RunResult {
        guard let tool = command.first else {
            throw DeviceRunnerError.stepFailed(device: device.name, step: "execute", reason: "empty command")
        }
        return try remoteTimed(Self.timedCommand(command, seconds: timeout), timeout: timeout, step: "execute \(tool)")
    }

    public func readFile(_ devicePath: String) throws -> String? {
        let step = stepName("read", devicePath)
        let path = Self.executablePath(devicePath)
        let result = try ssh("if [ -e \(ShellQuoting.quote(path)) ]; then exec cat \(ShellQuoting.quote(path)); else exit 3; fi",
                             timeout: 60, step: step)
        switch result.exitStatus {
        case 0: return result.stdout
        case 3: return nil
        default:
            throw DeviceRunnerError.stepFailed(device: device.name, step: step, reason: result.firstOutputLine)
        }
    }

    public func cleanup() throws {
        let paths = lock.withLock { uploaded.sorted() }
        guard !paths.isEmpty else { return }
        let result = try ssh(ShellQuoting.command(["rm", "-f"] + paths), timeout: 30, step: "cleanup")
        guard result.exitStatus == 0 else {
            throw DeviceRunnerError.stepFailed(device: device.name, step: "cleanup", reason: result.firstOutputLine)
        }
        lock.withLock { uploaded.subtract(paths) }
    }

    // MARK: Plumbing

    /// Runs a timed remote command; exit 124 from the remote `timeout` (or the local backstop) is a timeout.
    private func remoteTimed(_ command: String, timeout: Double, step: String) throws -> RunResult {
        let result = try ssh(command, timeout: timeout, step: step)
        if result.exitStatus == 124 || (result.exitStatus == 137 && result.seconds >= timeout) {
            throw DeviceRunnerError.timedOut(device: device.name, step: step, seconds: timeout, partial: result)
        }
        return result
    }

    /// Runs one remote shell command; connection-level failures become errors, everything else is returned.
    private func ssh(_ remoteCommand: String, timeout: Double, step: String) throws -> RunResult {
        let result = try tool("ssh", arguments: sshArguments(remoteCommand: remoteCommand), timeout: timeout, step: step)
        // ssh reports its own failures with status 255; a remote program exiting 255 prints no ssh diagnostics.
        if result.exitStatus == 255, let failure = connectionFailure(result, step: step) { throw failure }
        return result
    }

    /// Runs the local ssh or scp binary; the local timeout leaves room for connecting and the remote `timeout`.
    private func tool(_ name: String, arguments: [String], timeout: Double, step: String) throws -> RunResult {
        guard let executable = findExecutable(name) else {
            throw DeviceRunnerError.toolNotFound(device: device.name, tool: name)
        }
        let outcome: SubprocessOutcome
        do {
            outcome = try runSubprocess(executable: executable, arguments: arguments,
                                        timeout: timeout + Double(connectTimeout) + 10)
        } catch {
            throw DeviceRunnerError.stepFailed(device: device.name, step: step, reason: FileProblem.reason(error))
        }
        switch outcome {
        case .finished(let result): return result
        case .timedOut(let partial):
            throw DeviceRunnerError.timedOut(device: device.name, step: step, seconds: timeout, partial: partial)
        }
    }

    /// Classifies ssh/scp diagnostics: an unreachable host or a refused login, or nil for anything else.
    func connectionFailure(_ result: RunResult, step: String) -> DeviceRunnerError? {
        let lines = result.stderr.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        let loginMarkers = ["Permission denied", "Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
                            "No matching host key", "Too many authentication failures"]
        let networkMarkers = ["ssh: connect to host", "ssh: Could not resolve hostname", "Connection refused",
                              "Connection timed out", "Connection closed by", "Connection reset by",
                              "kex_exchange_identification", "No route to host", "Network is unreachable",
                              "Could not resolve hostname", "Operation timed out"]
        let target = settings.displayTarget
        if let line = lines.first(where: { line in loginMarkers.contains { line.contains($0) } }) {
            return .loginFailed(device: device.name, step: step, target: target, reason: line)
        }
        if let line = lines.first(where: { line in networkMarkers.contains { line.contains($0) } }) {
            return .unreachable(device: device.name, step: step, target: target, reason: line)
        }
        if let line = lines.first(where: { $0.hasPrefix("ssh:") }) {
            return .unreachable(device: device.name, step: step, target: target, reason: line)
        }
        return nil
    }
}
