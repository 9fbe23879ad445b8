import ArgumentParser
import Foundation

/// Where `autoshrink search` trains its candidates (docs/cluster.md).
enum ExecutorKind: String, CaseIterable, ExpressibleByArgument {
    /// In-process, or `--workers W` local worker processes.
    case local
    /// One Slurm job array per step on a cluster sharing the run directory.
    case slurm
}

/// `search`'s executor options: `--executor slurm [--partition P] [--slurm-option OPT]... [--max-jobs N]`.
struct ExecutorOptions: ParsableArguments {
    @Option(help: "Where candidates train: local (in this process, or --workers processes) or slurm (one job array per step; see docs/cluster.md).")
    var executor: ExecutorKind = .local
    @Option(help: "Slurm partition for the candidate jobs (default: the cluster's default partition).")
    var partition: String?
    @Option(name: .customLong("slurm-option"), parsing: .unconditionalSingleValue,
            help: "Extra sbatch option for every candidate job, e.g. --slurm-option=--time=00:30:00 (repeatable).")
    var slurmOptions: [String] = []
    @Option(parsing: .unconditional, help: "Slurm jobs of a step running at once (default: all of the step's candidates).")
    var maxJobs: Int?
    @Option(parsing: .unconditional, help: "Attempts per candidate job (failed, cancelled, preempted, timed out) before the search stops.")
    var jobAttempts: Int = 3

    /// sbatch options the executor sets itself; a `--slurm-option` may not change them.
    static let reservedOptions = ["--array", "-a", "--output", "-o", "--error", "-e", "--cpus-per-task", "-c", "--parsable",
                                  "--chdir", "-D", "--job-name", "-J", "--wrap", "--export", "--ntasks", "-n", "--nodes", "-N",
                                  "--requeue", "--no-requeue", "--test-only", "--wait", "-W"]

    func validate(workers: Int) throws {
        try OptionCheck.integer(maxJobs, "--max-jobs", in: 1...100_000)
        try OptionCheck.integer(jobAttempts, "--job-attempts", in: 1...100)
        guard executor == .slurm else {
            if partition != nil || !slurmOptions.isEmpty || maxJobs != nil {
                throw ValidationError("--partition, --slurm-option and --max-jobs need --executor slurm")
            }
            return
        }
        if workers != 1 { throw ValidationError("--workers applies to --executor local; with slurm every candidate is a job (limit them with --max-jobs)") }
        if let partition {
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "_-.,"))
            guard !partition.isEmpty, partition.count <= 200, partition.unicodeScalars.allSatisfy(allowed.contains) else {
                throw ValidationError("--partition '\(partition)': expected a Slurm partition name (letters, digits, _ - . and , between several)")
            }
        }
        for option in slurmOptions {
            guard option.hasPrefix("-"), option.count <= 1000, !option.contains(where: { $0.isNewline || $0 == "\0" }) else {
                throw ValidationError("--slurm-option '\(option)': expected one sbatch option such as --time=00:30:00")
            }
            let name = String(option.split(separator: "=", maxSplits: 1).first ?? "")
            let short = option.hasPrefix("--") ? name : String(option.prefix(2))
            if Self.reservedOptions.contains(name) || Self.reservedOptions.contains(short) {
                throw ValidationError("--slurm-option '\(option)': autoshrink sets \(name) itself (see docs/cluster.md)")
            }
        }
    }
}
