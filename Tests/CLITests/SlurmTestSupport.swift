import Foundation
import Testing

/// The real single-node Slurm of `tools/slurm-local` (docs/cluster.md, "A local cluster") around a
/// suite: started before its first test (unless already running) and stopped after its last (only
/// if it started it). Needs root and the slurm-wlm and munge packages (tools/setup).
struct LocalSlurmCluster: SuiteTrait, TestScoping {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = repository.appendingPathComponent("tools/slurm-local").path
    static let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autoshrink-slurm-test").path
    static let conf = directory + "/slurm.conf"
    /// Client environment for `autoshrink search --executor slurm` and the Slurm commands.
    static let environment = ["SLURM_CONF": conf, "SLURM_LOCAL_DIR": directory, "SLURM_LOCAL_PORT": "16837"]

    static var available: Bool {
        getuid() == 0 && ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch"].allSatisfy {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let wasRunning = (try? CLIProcess.run("/bin/sh", [Self.script, "status"], environment: Self.environment))?.status == 0
        let start = try CLIProcess.run("/bin/sh", [Self.script, "start"], environment: Self.environment)
        try #require(start.status == 0, "tools/slurm-local start failed: \(start.stderr)")
        defer { if !wasRunning { _ = try? CLIProcess.run("/bin/sh", [Self.script, "stop"], environment: Self.environment) } }
        try await function()
    }

    /// Runs a Slurm client command against the local cluster.
    @discardableResult
    static func slurm(_ command: String, _ arguments: [String]) throws -> CLI.Result {
        try CLIProcess.run("/usr/bin/" + command, arguments, environment: environment)
    }
}

extension Trait where Self == LocalSlurmCluster {
    static var localSlurmCluster: Self { LocalSlurmCluster() }
}
