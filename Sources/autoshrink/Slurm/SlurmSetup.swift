import AutoShrinkSearch
import Foundation

/// What `search --executor slurm` does before any work (docs/cluster.md): find the Slurm commands,
/// have `sbatch --test-only` accept the job options (partition, limits, `--slurm-option`s), and
/// build the executor with absolute paths, since jobs start elsewhere.
enum SlurmSetup {
    static func check(_ options: ExecutorOptions, threads: Int, candidates: Int) throws -> SlurmCommands {
        let commands = try SlurmCommands.locate()
        var arguments = ["--array=0-\(max(0, candidates - 1))", "--ntasks=1", "--nodes=1", "--cpus-per-task=\(threads)", "--output=/dev/null"]
        if let partition = options.partition { arguments.append("--partition=\(partition)") }
        do { try commands.check(arguments + options.slurmOptions) } catch {
            throw CLIError("--executor slurm: sbatch refuses the candidate jobs: \(error)".replacingOccurrences(of: "\n", with: " "))
        }
        return commands
    }

    static func evaluator(_ options: ExecutorOptions, commands: SlurmCommands, configuration: SearchConfiguration,
                          runDirectory: String, dataDirectory: String, threads: Int, resume: Bool, runName: String) throws -> SlurmEvaluator {
        func absolute(_ path: String) -> String {
            URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL.path
        }
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let settings = SlurmEvaluator.Settings(
            runDirectory: absolute(runDirectory), binary: binary, dataDirectory: absolute(dataDirectory), threads: threads,
            partition: options.partition, extraOptions: options.slurmOptions, maxJobs: options.maxJobs,
            attempts: options.jobAttempts, resume: resume, runName: runName)
        return SlurmEvaluator(settings: settings, configuration: configuration, commands: commands)
    }
}
