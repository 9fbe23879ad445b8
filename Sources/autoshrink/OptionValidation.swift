import ArgumentParser
import AutoShrinkModel
import AutoShrinkSearch
import Foundation

// Numeric options are checked once, in each command's `validate()`, with these helpers
// (docs/architecture.md, "Names, locks and output folders"): finite, in range, one line naming the
// option. Options that take numbers use `parsing: .unconditional` so `--lr -1` reaches the range check
// instead of being read as a flag ("Missing value").

enum OptionCheck {
    /// `value` must be finite and in `range` (closed); `name` is the option as typed (`--lr`).
    static func finite<T: BinaryFloatingPoint>(_ value: T?, _ name: String, in range: ClosedRange<T>) throws {
        guard let value else { return }
        guard value.isFinite else { throw ValidationError("\(name) must be a finite number, got \(value)") }
        guard range.contains(value) else {
            throw ValidationError("\(name) must be in \(format(range.lowerBound))...\(format(range.upperBound)), got \(format(value))")
        }
    }

    /// `value` must be finite, greater than zero and at most `maximum`.
    static func positive<T: BinaryFloatingPoint>(_ value: T?, _ name: String, maximum: T) throws {
        guard let value else { return }
        guard value.isFinite else { throw ValidationError("\(name) must be a finite number, got \(value)") }
        guard value > 0, value <= maximum else {
            throw ValidationError("\(name) must be greater than 0 and at most \(format(maximum)), got \(format(value))")
        }
    }

    /// An integer option in `range`.
    static func integer(_ value: Int?, _ name: String, in range: ClosedRange<Int>) throws {
        guard let value else { return }
        guard range.contains(value) else { throw ValidationError("\(name) must be in \(range.lowerBound)...\(range.upperBound), got \(value)") }
    }

    /// The `SafeName` rule for a name option such as `--name`.
    /// `--macro`: `reference`, `auto` where the command fits a skeleton, or a skeleton spec
    /// (docs/algorithm.md §1, "Macro skeleton").
    static func macro(_ value: String, allowsAuto: Bool) throws {
        if value == "reference" || (allowsAuto && value == "auto") { return }
        do { _ = try MacroSkeleton(spec: value) } catch { throw ValidationError("\(error)") }
    }

    /// `--halving` and `--halving-eta` as a schedule checked against the epochs it splits; nil for off.
    @discardableResult
    static func halving(_ spec: String, eta: Int, epochs: Int) throws -> HalvingSchedule? {
        do {
            let schedule = try HalvingSchedule(spec: spec, eta: eta)
            try schedule?.validate(epochs: epochs)
            return schedule
        } catch { throw ValidationError("\(error)") }
    }

    static func name(_ value: String?, _ option: String) throws {
        guard let value else { return }
        if let problem = SafeName.problem(value) { throw ValidationError("\(option) '\(value)' \(problem)") }
    }

    static func format<T: BinaryFloatingPoint>(_ value: T) -> String {
        let double = Double(value)
        if double == double.rounded(), abs(double) < 1e15 { return String(Int(double)) }
        return "\(value)"
    }
}

/// Refuses a network whose training buffers cannot fit in the memory this process may use, before
/// anything is allocated (an out-of-memory kill is not a message); `source` names the architecture.
func checkTrainingFits(_ architecture: Architecture, batchSize: Int, source: String, purpose: String = "training") throws {
    let needed = architecture.trainingMemoryEstimate(batchSize: batchSize)
    let memory = Architecture.availableMemoryBytes()
    guard needed <= memory * 0.9 else {
        let advice = purpose == "training" ? "use a smaller --batch-size or network" : "the network is too large for this machine"
        throw CLIError(String(format: "%@: %@ needs about %.1f GB at batch %d, more than 90 %% of the %.1f GB of memory available; %@",
                              source, purpose, needed / 1e9, batchSize, memory / 1e9, advice))
    }
}
