import Foundation

/// Runs binaries for another architecture on this machine under qemu user-mode emulation:
/// `qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu <binary> args...` (`qemu-arm` for armv7 devices).
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

    /// Checks the emulator, the sysroot and the CPU model before anything is built or staged: qemu
    /// knows only some cores (qemu 7.2: no cortex-a55, and qemu-arm has no cortex-a53; docs/devices.md).
    public func prepare() throws {
        let emulator = try emulatorPath()
        let model = String(settings.cpu.prefix { $0 != "," })  // "max,sve=off": the model is before the comma
        if let models = Self.cpuModels(emulator: emulator), !models.contains(model) {
            throw DeviceRunnerError.stepFailed(device: device.name, step: "prepare",
                                               reason: "\(settings.binary) has no CPU model '\(model)' (runner.cpu); it knows: \(models.joined(separator: ", "))")
        }
        try local.prepare()
    }

    /// The CPU models `emulator -cpu help` lists, or nil when it cannot say (then qemu itself reports a bad model).
    static func cpuModels(emulator: String) -> [String]? {
        // qemu 7.2 exits with status 1 after listing them: the list's header is what counts.
        guard case .finished(let result)? = try? runSubprocess(executable: emulator, arguments: ["-cpu", "help"], timeout: 30),
              let header = result.stdout.range(of: "Available CPUs:") else { return nil }
        var models: [String] = []
        for line in result.stdout[header.upperBound...].split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard let first = fields.first else { continue }
            // qemu-x86_64 prints "x86 <model>  <description>", the ARM emulators "  <model>".
            let name = first == "x86" && fields.count > 1 ? fields[1] : first
            models.append(String(name))
        }
        return models.isEmpty ? nil : models
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
