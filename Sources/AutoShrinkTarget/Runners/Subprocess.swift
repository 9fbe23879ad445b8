import AutoShrinkFormats
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The first line of `text` that is not blank, trimmed.
func firstNonEmptyLine(_ text: String) -> String? {
    for line in text.split(whereSeparator: \.isNewline) {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty { return trimmed }
    }
    return nil
}

/// Finds `name` on `PATH` (or checks it directly when it contains a slash); nil when not executable.
public func findExecutable(_ name: String, path: String? = nil) -> String? {
    if name.isEmpty { return nil }
    if name.contains("/") {
        return FileManager.default.isExecutableFile(atPath: name) ? name : nil
    }
    let searchPath = path ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in searchPath.split(separator: ":") where !directory.isEmpty {
        let candidate = "\(directory)/\(name)"
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
           FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
    }
    return nil
}

/// How a subprocess ended.
public enum SubprocessOutcome: Sendable {
    case finished(RunResult)
    /// Killed after `timeout` seconds; what it printed until then.
    case timedOut(RunResult)
}

/// Failures to start a subprocess at all (as opposed to the program failing).
public struct SubprocessLaunchError: Error, CustomStringConvertible {
    var executable: String
    var reason: String
    public var description: String { "cannot start '\(executable)': \(reason)" }
}

/// Runs `executable` (a path) with `arguments` by posix_spawn (fork/exec, no shell), capturing stdout and stderr.
///
/// Not Foundation's `Process`: on Linux it starts children with the calling thread's signal mask, and the
/// worker threads of Dispatch and Swift concurrency block nearly every signal, so a child started from
/// them ignored SIGTERM and could not be stopped on timeout. Here the child gets an empty signal mask,
/// default signal handlers and no inherited file descriptors beyond 0, 1 and 2.
/// Output goes to temporary files rather than pipes, so a chatty program cannot fill a pipe buffer and
/// a killed program's leftover children cannot keep a read blocked.
/// On timeout the process gets SIGTERM, then SIGKILL two seconds later.
public func runSubprocess(
    executable: String,
    arguments: [String],
    timeout: Double? = nil,
    environment: [String: String]? = nil
) throws -> SubprocessOutcome {
    let fileManager = FileManager.default
    // autoshrink-subprocess-pPID-XXXXXXXX: a killed process's folder is removed by the next run (ScratchFiles).
    let captureDirectory = URL(fileURLWithPath: ScratchFiles.path("subprocess"))
    try FileProblem.createDirectory(captureDirectory.path)
    defer { try? fileManager.removeItem(at: captureDirectory) }
    let stdoutPath = captureDirectory.appendingPathComponent("stdout").path
    let stderrPath = captureDirectory.appendingPathComponent("stderr").path

    var fileActions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&fileActions)
    defer { posix_spawn_file_actions_destroy(&fileActions) }
    posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&fileActions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&fileActions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if let closeFrom = spawnAddCloseFrom {
        _ = closeFrom(&fileActions, 3)
    }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let environmentStrings = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
    var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    var envp: [UnsafeMutablePointer<CChar>?] = environmentStrings.map { strdup($0) } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }

    var pid: pid_t = 0
    let start = DispatchTime.now()
    let spawnResult = posix_spawn(&pid, executable, &fileActions, &attributes, &argv, &envp)
    guard spawnResult == 0 else {
        throw SubprocessLaunchError(executable: executable, reason: String(cString: strerror(spawnResult)))
    }

    let watch = ChildWatch(pid: pid)
    if let timeout {
        watch.scheduleKill(after: timeout)
    }
    // Wait without reaping first, so the watchdog can never signal a recycled pid.
    var info = siginfo_t()
    while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR {}
    let timedOut = watch.markFinished()
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9

    // Wait status: low 7 bits = terminating signal (0 when it exited), bits 8-15 = exit code.
    let signal = status & 0x7F
    let exitStatus = signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    let stdoutText = String(decoding: fileManager.contents(atPath: stdoutPath) ?? Data(), as: UTF8.self)
    let stderrText = String(decoding: fileManager.contents(atPath: stderrPath) ?? Data(), as: UTF8.self)
    let result = RunResult(stdout: stdoutText, stderr: stderrText, exitStatus: exitStatus, seconds: seconds)
    return timedOut ? .timedOut(result) : .finished(result)
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does not export;
/// looked up at run time so older C libraries still work (children then inherit descriptors without CLOEXEC).
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private let spawnAddCloseFrom: AddCloseFrom? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
        return nil
    }
    return unsafeBitCast(symbol, to: AddCloseFrom.self)
}()

/// Kills a child after a timeout unless it has finished; both sides hold `lock`, so a pid is only
/// signalled while it is known to be unreaped.
private final class ChildWatch: @unchecked Sendable {
    private let pid: pid_t
    private let lock = NSLock()
    private var finished = false
    private var killed = false

    init(pid: pid_t) { self.pid = pid }

    func scheduleKill(after seconds: Double) {
        let queue = DispatchQueue.global()
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(max(0, seconds) * 1e9))) {
            self.signal(SIGTERM)
            queue.asyncAfter(deadline: .now() + .seconds(2)) { self.signal(SIGKILL) }
        }
    }

    private func signal(_ number: Int32) {
        lock.withLock {
            guard !finished else { return }
            killed = true
            kill(pid, number)
        }
    }

    /// Marks the child finished; returns whether it was killed for taking too long.
    func markFinished() -> Bool {
        lock.withLock {
            finished = true
            return killed
        }
    }
}
