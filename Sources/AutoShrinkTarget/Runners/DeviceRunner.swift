import Foundation

/// Runs binaries on a device: stage files there, run them with an argument list, read results back.
///
/// Implementations: `LocalRunner` (this machine; the simplest one and the oracle the others are
/// tested against), `QemuRunner` (this machine under qemu user-mode emulation) and `SSHRunner`.
/// A non-zero exit status is a result, not an error; errors are reserved for not being able to
/// run at all (unreachable device, missing tool, timeout).
public protocol DeviceRunner: Sendable {
    /// The device this runner talks to.
    var device: DeviceDescription { get }

    /// Gets the device ready for uploads (creates the working directory); safe to call again.
    func prepare() throws

    /// Copies a local file to the device's working directory (keeping its permissions) and returns its path there.
    func upload(_ localPath: String) throws -> String

    /// Runs an uploaded binary with `arguments` passed through unchanged; kills it after `timeout` seconds.
    func run(_ devicePath: String, arguments: [String], timeout: Double) throws -> RunResult

    /// Runs a tool that is already installed on the device natively (`command[0]` looked up on its PATH),
    /// e.g. `["uname", "-m"]`; never emulated.
    func execute(_ command: [String], timeout: Double) throws -> RunResult

    /// The text of a file on the device, or nil when it does not exist.
    func readFile(_ devicePath: String) throws -> String?

    /// Removes what this runner uploaded or staged.
    func cleanup() throws
}

/// What one finished program run produced: its output, exit status and wall-clock time.
///
/// `exitStatus` follows the shell convention: a program killed by signal N reports `128 + N`.
/// `seconds` is measured by the controller, so for SSH it includes the connection.
public struct RunResult: Sendable, Equatable, Codable {
    public var stdout: String
    public var stderr: String
    public var exitStatus: Int32
    public var seconds: Double

    public init(stdout: String, stderr: String, exitStatus: Int32, seconds: Double) {
        self.stdout = stdout
        self.stderr = stderr
        self.exitStatus = exitStatus
        self.seconds = seconds
    }

    /// The first non-empty line of stderr (or stdout when stderr is empty), for one-line error messages.
    public var firstOutputLine: String {
        firstNonEmptyLine(stderr) ?? firstNonEmptyLine(stdout) ?? ""
    }
}

/// A runner could not do its step; `description` is one line naming the device and the step.
public enum DeviceRunnerError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The network connection failed (refused, timed out, name not resolved).
    case unreachable(device: String, step: String, target: String, reason: String)
    /// Connected, but authentication or host-key verification failed.
    case loginFailed(device: String, step: String, target: String, reason: String)
    /// The program was killed after `seconds`; `partial` holds what it printed until then.
    case timedOut(device: String, step: String, seconds: Double, partial: RunResult)
    /// A local tool the runner needs (ssh, scp, qemu) is missing.
    case toolNotFound(device: String, tool: String)
    /// Any other failure of a step (e.g. the remote directory cannot be created).
    case stepFailed(device: String, step: String, reason: String)

    public var description: String {
        switch self {
        case let .unreachable(device, step, target, reason):
            return "device \(device): \(step): cannot reach \(target) (\(reason))"
        case let .loginFailed(device, step, target, reason):
            return "device \(device): \(step): cannot log in to \(target) (\(reason))"
        case let .timedOut(device, step, seconds, _):
            return "device \(device): \(step): timed out after \(formatSeconds(seconds)) s and was killed"
        case let .toolNotFound(device, tool):
            return "device \(device): '\(tool)' not found; run tools/setup"
        case let .stepFailed(device, step, reason):
            return "device \(device): \(step): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}

/// The runner the device file asks for.
public func makeRunner(for device: DeviceDescription) -> any DeviceRunner {
    switch device.runner {
    case .local: return LocalRunner(device: device)
    case .ssh(let settings): return SSHRunner(device: device, settings: settings)
    case .qemu(let settings): return QemuRunner(device: device, settings: settings)
    }
}

/// A short name for a path in step descriptions ("run bench").
func stepName(_ verb: String, _ path: String) -> String {
    "\(verb) \((path as NSString).lastPathComponent)"
}
