import AutoShrinkFormats
import AutoShrinkTarget
import Foundation

/// Runs `autoshrink ARGS` as a child process and decodes its --json summary (the last stdout line).
/// While it runs, the child's progress (its `AUTOSHRINK_PROGRESS_FILE`) is shown as this process's bar;
/// errors name `caller` (the command that runs the child: quickstart, bench search).
func runChildCommand<Summary: JSONSummary>(_ arguments: [String], as type: Summary.Type, output: Output, caller: String) throws -> Summary {
    let progressPath = ScratchFiles.path("progress", suffix: ".json")
    defer { try? FileManager.default.removeItem(atPath: progressPath) }
    var environment = ProcessInfo.processInfo.environment
    environment["AUTOSHRINK_PROGRESS_FILE"] = progressPath
    let child = ChildProcess()
    Thread.detachNewThread { [environment] in
        child.finish(Result { try runSubprocess(executable: "/proc/self/exe", arguments: arguments, environment: environment) })
    }
    var bar: ProgressBar?
    var shown: ProgressState?
    while true {
        let outcome = child.wait(seconds: 0.25)
        if let data = FileManager.default.contents(atPath: progressPath),
           let state = try? JSONDecoder().decode(ProgressState.self, from: data), state != shown {
            if let shown, state.label != shown.label {
                bar?.update(shown.total, total: shown.total)  // the child moved on, so that phase ended
                bar?.finish(shown.detail)
            }
            if state.label != shown?.label {
                bar = output.progress(state.label, total: state.total, unit: state.unit)
            }
            bar?.update(state.done, total: state.total, eta: state.etaSeconds, detail: state.detail)
            shown = state
        }
        guard let outcome else { continue }
        bar?.finish(shown?.detail ?? "")
        guard case .finished(let result) = try outcome.get() else { throw CLIError("\(caller): autoshrink \(arguments[0]) timed out") }
        guard result.exitStatus == 0 else {
            let reason = result.stderr.split(separator: "\n").first { $0.hasPrefix("Error: ") }.map { String($0.dropFirst(7)) }
                ?? result.stderr.split(separator: "\n").last.map(String.init) ?? "exit status \(result.exitStatus)"
            throw CLIError("\(caller): autoshrink \(arguments[0]) failed: \(reason)")
        }
        guard let line = result.stdout.split(separator: "\n").last else {
            throw CLIError("\(caller): autoshrink \(arguments[0]) printed no JSON summary")
        }
        do {
            return try Summary.decodeSummary(Data(line.utf8), source: "autoshrink \(arguments[0]) --json")
        } catch {
            throw CLIError("\(caller): \(FileProblem.reason(error))")
        }
    }
}

/// A child process run on its own thread, so the caller can poll its progress meanwhile.
private final class ChildProcess: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var outcome: Result<SubprocessOutcome, Error>?

    func finish(_ outcome: Result<SubprocessOutcome, Error>) {
        self.outcome = outcome
        done.signal()
    }

    /// The outcome once the child has ended, nil if still running after `seconds`.
    func wait(seconds: Double) -> Result<SubprocessOutcome, Error>? {
        done.wait(timeout: .now() + seconds) == .success ? outcome : nil
    }
}
