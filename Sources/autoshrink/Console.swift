import AutoShrinkFormats
import Foundation

/// Output switches decide what is printed; the console decides how.
///
/// stdout carries progress and results, stderr warnings and errors. On a terminal, progress bars are
/// redrawn in place and headings, warnings and errors are coloured (unless `NO_COLOR` is set or
/// `TERM=dumb`); in a file or pipe every line is plain text without escape codes. A parent process
/// (quickstart) can follow a child's progress through the file named by `AUTOSHRINK_PROGRESS_FILE`,
/// which always holds the newest `ProgressState` as one JSON object.
final class Console: @unchecked Sendable {
    let stdoutIsTerminal: Bool
    let colours: Bool
    let errorColours: Bool
    let progressFile: String?
    /// Columns available for a bar (the terminal's width, 80 when unknown).
    let width: Int
    private let lock = NSLock()
    /// The bar currently drawn on the last stdout line, redrawn after every printed line.
    private var drawnBar: String?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        stdoutIsTerminal = isatty(STDOUT_FILENO) == 1
        let coloursOff = !(environment["NO_COLOR"] ?? "").isEmpty || environment["TERM"] == "dumb"
        colours = stdoutIsTerminal && !coloursOff
        errorColours = isatty(STDERR_FILENO) == 1 && !coloursOff
        progressFile = environment["AUTOSHRINK_PROGRESS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        var size = winsize()
        width = stdoutIsTerminal && ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col >= 20 ? Int(size.ws_col) : 80
    }

    enum Style: String {
        case bold = "1", red = "31", green = "32", yellow = "33", dim = "2"
    }

    /// `text` wrapped in an ANSI style when colours are on for that stream.
    func styled(_ text: String, _ style: Style, stderr: Bool = false) -> String {
        (stderr ? errorColours : colours) ? "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m" : text
    }

    func printLine(_ text: String) {
        lock.withLock {
            clearBar()
            print(text)
            redrawBar()
            fflush(nil)
        }
    }

    func printError(_ text: String) {
        lock.withLock {
            clearBar()
            fflush(nil)
            FileHandle.standardError.write(Data((text + "\n").utf8))
            redrawBar()
            fflush(nil)
        }
    }

    /// Draws (or redraws) a bar on the last line; terminals only.
    func drawBar(_ text: String) {
        guard stdoutIsTerminal else { return }
        lock.withLock {
            drawnBar = String(text.prefix(width - 1))
            redrawBar()
            fflush(nil)
        }
    }

    /// Removes the bar; the next printed line takes its place.
    func removeBar() {
        lock.withLock {
            clearBar()
            drawnBar = nil
            fflush(nil)
        }
    }

    private func clearBar() {
        if drawnBar != nil { print("\r\u{1B}[2K", terminator: "") }
    }

    private func redrawBar() {
        if let drawnBar { print("\r\u{1B}[2K" + drawnBar, terminator: "") }
    }

    /// Replaces the progress file's content (written to a temporary file and renamed, so a reader
    /// never sees half an object). Not `AtomicFile`: this runs up to ten times a second and needs no
    /// fsync, and a failed update must not stop the work.
    func publish(_ state: ProgressState) {
        guard let progressFile, let data = try? JSONEncoder().encode(state) else { return }
        try? data.write(to: URL(fileURLWithPath: progressFile), options: .atomic)
    }
}

/// Prints progress to stdout (unless quiet), warnings to stderr, and the JSON summary last.
struct Output {
    let options: OutputOptions
    let console: Console

    init(options: OutputOptions, console: Console = Console()) {
        self.options = options
        self.console = console
    }

    func line(_ text: String) {
        if !options.quiet { console.printLine(text) }
    }
    /// A command's first line (bold on a terminal).
    func heading(_ text: String) {
        guard !options.quiet else { return }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        console.printLine(([console.styled(String(lines[0]), .bold)] + lines.dropFirst().map(String.init)).joined(separator: "\n"))
    }
    func result(_ text: String) { console.printLine(text) }
    func warn(_ text: String) { console.printError(console.styled(text, .yellow, stderr: true)) }

    /// Prints `summary` as one JSON line when --json is on.
    func json(_ summary: some JSONSummary) {
        guard options.json else { return }
        // Encoding plain value types cannot fail.
        let data = try! summary.jsonData()
        console.removeBar()
        console.printLine(String(decoding: data, as: UTF8.self))
    }

    func progress(_ label: String, total: Int, unit: String, plainLines: Bool = true) -> ProgressBar {
        ProgressBar(output: self, label: label, total: total, unit: unit, plainLines: plainLines)
    }
}

/// What a progress bar shows; also the content of `AUTOSHRINK_PROGRESS_FILE`.
struct ProgressState: Codable, Equatable {
    var label: String
    var done: Int
    var total: Int
    var unit: String
    var elapsedSeconds: Double
    var etaSeconds: Double?
    var detail: String

    /// `  search      [=========>          ]  12/27 candidates  44%  1m02s, ETA 1m20s  best 0.697`
    func barText(width: Int) -> String {
        let fraction = total > 0 ? min(max(Double(done) / Double(total), 0), 1) : 0
        let head = "  " + label.padding(toLength: max(label.count, 10), withPad: " ", startingAt: 0) + "  "
        let counts = "  \(done)/\(total) \(unit)  \(Int((fraction * 100).rounded(.down)))%  \(timing)"
        let tail = detail.isEmpty ? "" : "  " + detail
        let barWidth = width >= 100 ? 24 : 12
        let filled = Int(fraction * Double(barWidth))
        let bar = String(repeating: "=", count: filled) + (filled < barWidth ? ">" + String(repeating: " ", count: barWidth - filled - 1) : "")
        return head + "[" + bar + "]" + counts + tail
    }

    /// `  search: 12/27 candidates (44%), 1m02s, ETA 1m20s; best 0.697`
    var plainText: String {
        let percent = total > 0 ? 100 * done / total : 100
        return "  \(label): \(done)/\(total) \(unit) (\(percent)%), \(timing)" + (detail.isEmpty ? "" : "; " + detail)
    }

    private var timing: String {
        let elapsed = formatDuration(elapsedSeconds)
        guard done < total, let etaSeconds else { return elapsed }
        return "\(elapsed), ETA \(formatDuration(etaSeconds))"
    }
}

/// A long step's progress: a bar redrawn at most ten times a second on a terminal; elsewhere a plain
/// line each time another 10 % is done or 30 s have passed (unless `plainLines` is off because the
/// step already prints its own per-item lines). ETA: given by the caller, else elapsed time per item
/// times the items left.
final class ProgressBar {
    private let output: Output
    private let label: String
    private let unit: String
    private let plainLines: Bool
    private var total: Int
    private let start = Date()
    private var lastDraw = -1.0
    private var lastPlain = 0.0
    private var lastPlainTenth = 0
    private(set) var state: ProgressState

    init(output: Output, label: String, total: Int, unit: String, plainLines: Bool) {
        self.output = output
        self.label = label
        self.total = total
        self.unit = unit
        self.plainLines = plainLines
        state = ProgressState(label: label, done: 0, total: total, unit: unit, elapsedSeconds: 0, etaSeconds: nil, detail: "")
        update(0)
    }

    func update(_ done: Int, total newTotal: Int? = nil, eta: Double? = nil, detail: String = "") {
        if let newTotal { total = newTotal }
        let elapsed = Date().timeIntervalSince(start)
        let estimated = eta ?? (done > 0 ? elapsed / Double(done) * Double(max(total - done, 0)) : nil)
        state = ProgressState(label: label, done: done, total: total, unit: unit, elapsedSeconds: elapsed,
                              etaSeconds: estimated, detail: detail)
        let finished = done >= total
        guard finished || elapsed - lastDraw >= 0.1 else { return }
        lastDraw = elapsed
        output.console.publish(state)
        guard !output.options.quiet else { return }
        if output.console.stdoutIsTerminal {
            output.console.drawBar(state.barText(width: output.console.width))
        } else if plainLines, done > 0, !finished {
            let tenth = total > 0 ? 10 * done / total : 10
            if tenth > lastPlainTenth || elapsed - lastPlain >= 30 {
                lastPlainTenth = tenth
                lastPlain = elapsed
                output.line(state.plainText)
            }
        }
    }

    /// Ends the bar with a plain summary line (`label: N unit in T; detail`).
    func finish(_ detail: String = "") {
        let elapsed = Date().timeIntervalSince(start)
        state = ProgressState(label: label, done: state.done, total: total, unit: unit, elapsedSeconds: elapsed,
                              etaSeconds: 0, detail: detail)
        output.console.publish(state)
        output.console.removeBar()
        if plainLines || output.console.stdoutIsTerminal {
            output.line("  \(label): \(state.done) \(unit) in \(formatDuration(elapsed))" + (detail.isEmpty ? "" : "; " + detail))
        }
    }
}

/// Steps whose length is not known in advance (building, running a binary on a device). Off a
/// terminal each step is one line as it starts; on a terminal the running step is redrawn with its
/// elapsed time twice a second and stays behind as a line with its duration once the next begins.
final class StepTicker: @unchecked Sendable {
    private let output: Output
    private let lock = NSLock()
    private var current: (text: String, start: Date)?
    private var timer: DispatchSourceTimer?

    init(output: Output) { self.output = output }

    func start(_ text: String) {
        finish()
        guard output.console.stdoutIsTerminal, !output.options.quiet else {
            output.line("  ... \(text)")
            return
        }
        lock.withLock { current = (text, Date()) }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now(), repeating: .milliseconds(500))
        timer.setEventHandler { [weak self] in self?.redraw() }
        lock.withLock { self.timer = timer }
        timer.resume()
    }

    func finish() {
        let ended: (text: String, start: Date)? = lock.withLock {
            timer?.cancel()
            timer = nil
            defer { current = nil }
            return current
        }
        guard let ended else { return }
        output.console.removeBar()
        output.line("  ... \(ended.text) (\(formatDuration(Date().timeIntervalSince(ended.start))))")
    }

    private func redraw() {
        guard let step = lock.withLock({ current }) else { return }
        output.console.drawBar("  ... \(step.text)  \(formatDuration(Date().timeIntervalSince(step.start)))")
    }
}
