import AutoShrinkFormats
import Foundation

/// Runs binaries on this machine by fork/exec; the reference runner the others are tested against.
///
/// Uploads are copied into a private staging directory (created on first use, removed by `cleanup`),
/// so a later rebuild of the local file cannot change a binary that is being measured.
public struct LocalRunner: DeviceRunner {
    public let device: DeviceDescription
    /// Where uploads are staged.
    public let stagingDirectory: String

    public init(device: DeviceDescription, stagingDirectory: String? = nil) {
        self.device = device
        self.stagingDirectory = stagingDirectory ?? ScratchFiles.path("runner")
    }

    public func prepare() throws {
        do {
            try FileManager.default.createDirectory(atPath: stagingDirectory, withIntermediateDirectories: true)
        } catch {
            throw DeviceRunnerError.stepFailed(device: device.name, step: "prepare",
                                               reason: "cannot create \(stagingDirectory): \(FileProblem.reason(error))")
        }
    }

    public func upload(_ localPath: String) throws -> String {
        try prepare()
        let fileManager = FileManager.default
        let destination = (stagingDirectory as NSString).appendingPathComponent((localPath as NSString).lastPathComponent)
        let step = stepName("upload", localPath)
        do {
            if fileManager.fileExists(atPath: destination) { try fileManager.removeItem(atPath: destination) }
            try fileManager.copyItem(atPath: localPath, toPath: destination)
            if let permissions = try fileManager.attributesOfItem(atPath: localPath)[.posixPermissions] {
                try fileManager.setAttributes([.posixPermissions: permissions], ofItemAtPath: destination)
            }
        } catch {
            throw DeviceRunnerError.stepFailed(device: device.name, step: step,
                                               reason: "cannot copy \(localPath) to \(destination): \(FileProblem.reason(error))")
        }
        return destination
    }

    public func run(_ devicePath: String, arguments: [String], timeout: Double) throws -> RunResult {
        try launch(executable: devicePath, arguments: arguments, timeout: timeout, step: stepName("run", devicePath))
    }

    public func execute(_ command: [String], timeout: Double) throws -> RunResult {
        guard let tool = command.first else {
            throw DeviceRunnerError.stepFailed(device: device.name, step: "execute", reason: "empty command")
        }
        guard let executable = findExecutable(tool) else {
            throw DeviceRunnerError.toolNotFound(device: device.name, tool: tool)
        }
        return try launch(executable: executable, arguments: Array(command.dropFirst()), timeout: timeout,
                          step: "execute \(tool)")
    }

    /// Fork/execs `executable` (a path) and maps launch failures and timeouts to `DeviceRunnerError`.
    func launch(executable: String, arguments: [String], timeout: Double, step: String) throws -> RunResult {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            let reason = FileManager.default.fileExists(atPath: executable)
                ? "\(executable) is not executable" : "\(executable) does not exist"
            throw DeviceRunnerError.stepFailed(device: device.name, step: step, reason: reason)
        }
        let outcome: SubprocessOutcome
        do {
            outcome = try runSubprocess(executable: executable, arguments: arguments, timeout: timeout)
        } catch {
            throw DeviceRunnerError.stepFailed(device: device.name, step: step, reason: FileProblem.reason(error))
        }
        switch outcome {
        case .finished(let result):
            return result
        case .timedOut(let partial):
            throw DeviceRunnerError.timedOut(device: device.name, step: step, seconds: timeout, partial: partial)
        }
    }

    public func readFile(_ devicePath: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: devicePath) else { return nil }
        // Read to end of file rather than by stat size: /proc and /sys files report size 0.
        guard let handle = FileHandle(forReadingAtPath: devicePath) else {
            throw DeviceRunnerError.stepFailed(device: device.name, step: stepName("read", devicePath),
                                               reason: "cannot open \(devicePath)")
        }
        defer { try? handle.close() }
        do {
            let data = try handle.readToEnd() ?? Data()
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw DeviceRunnerError.stepFailed(device: device.name, step: stepName("read", devicePath),
                                               reason: FileProblem.reason(error))
        }
    }

    public func cleanup() throws {
        guard FileManager.default.fileExists(atPath: stagingDirectory) else { return }
        do {
            try FileManager.default.removeItem(atPath: stagingDirectory)
        } catch {
            throw DeviceRunnerError.stepFailed(device: device.name, step: "cleanup",
                                               reason: "cannot remove \(stagingDirectory): \(FileProblem.reason(error))")
        }
    }
}
