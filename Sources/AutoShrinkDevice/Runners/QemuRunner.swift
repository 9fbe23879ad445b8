import Foundation

/// Runs binaries for another architecture on this machine under qemu user-mode emulation:
/// `qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu <binary> args...`.
///
/// Staging, file reads and native tools (`execute`) are the local runner's, so the environment
/// probe sees the host; only `run` is emulated. Timings under emulation say nothing about real hardware.
public struct QemuRunner: DeviceRunner {
    public let device: DeviceDescription
    public let settings: QemuSettings
    private let local: LocalRunner

    public init(device: DeviceDescription, settings: QemuSettings, stagingDirectory: String? = nil) {
        self.device = device
        self.settings = settings
        self.local = LocalRunner(device: device, stagingDirectory: stagingDirectory)
    }

    /// The qemu binary's path, or `toolNotFound`; also checks the sysroot.
    public func emulatorPath() throws -> String {
        guard let path = findExecutable(settings.binary) else {
            throw DeviceRunnerError.toolNotFound(device: device.name, tool: settings.binary)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: settings.sysroot, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DeviceRunnerError.stepFailed(device: device.name, step: "prepare",
                                               reason: "sysroot '\(settings.sysroot)' not found; run tools/setup")
        }
        return path
    }

    /// The qemu arguments in front of the binary.
    public var emulatorArguments: [String] { ["-cpu", settings.cpu, "-L", settings.sysroot] }

    public func prepare() throws {
        _ = try emulatorPath()
        try local.prepare()
    }

    public func upload(_ localPath: String) throws -> String {
        try local.upload(localPath)
    }

    public func run(_ devicePath: String, arguments: [String], timeout: Double) throws -> RunResult {
        let step = stepName("run", devicePath)
        guard FileManager.default.fileExists(atPath: devicePath) else {
            throw DeviceRunnerError.stepFailed(device: device.name, step: step, reason: "\(devicePath) does not exist")
        }
        return try local.launch(executable: try emulatorPath(), arguments: emulatorArguments + [devicePath] + arguments,
                                timeout: timeout, step: step)
    }

    public func execute(_ command: [String], timeout: Double) throws -> RunResult {
        try local.execute(command, timeout: timeout)
    }

    public func readFile(_ devicePath: String) throws -> String? {
        try local.readFile(devicePath)
    }

    public func cleanup() throws {
        try local.cleanup()
    }
}
