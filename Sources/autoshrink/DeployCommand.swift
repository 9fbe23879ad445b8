import AutoShrinkFormats
import ArgumentParser
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkDeploy
import AutoShrinkExport
import Foundation

/// `autoshrink deploy`: run an exported model on a device and compare with the export and the profile.
struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Copy an exported model to a device, run real test images and the latency bench there.",
        discussion: """
        Uploads the export's binary and the test images with the device's runner (scp for SSH devices, qemu for \
        emulated ones), classifies the images, times the binary and prints measured accuracy and latency next to \
        what the export measured and what profiles/<device>.json predicts. An export built for another toolchain \
        is rebuilt from its sources for this device first.
        """)

    @Argument(help: "Export directory (deploy/NAME).") var export: String
    @Option(help: "Device: a name from devices/ or a devices/*.toml file.") var device: String = "local"
    @Option(parsing: .unconditional, help: "Test images to classify on the device (default: all).") var images: Int?
    @Option(parsing: .unconditional, help: "Timed runs of the latency bench.") var benchRuns: Int = 2000
    @Option(help: "Directory holding the dataset files (default: the dataset's standard location).") var dataDir: String?
    @Option(help: "Directory of device profiles.") var profiles: String = "profiles"
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try OptionCheck.integer(images, "--images", in: 1...100_000_000)
        try OptionCheck.integer(benchRuns, "--bench-runs", in: 1...100_000_000)
        guard benchRuns >= 1 else { throw ValidationError("--bench-runs must be at least 1") }
    }

    func run() throws {
        let out = Output(options: output)
        let target = try DeviceDescription.resolve(device)
        let manifest = try Deployment.manifest(directory: export)
        out.heading("""
            autoshrink deploy
              export        \(export) (\(manifest.precision.rawValue), built for \(manifest.device.name), \(manifest.device.architecture.rawValue))
              device        \(target.name) (\(target.architecture.rawValue), \(target.runner.kind.rawValue) runner)
              run           \(images.map(String.init) ?? "all") \(manifest.dataset) test images, \(benchRuns) timed runs
            """)
        let steps = StepTicker(output: out)
        defer { steps.finish() }
        let report = try Deployment.run(exportDirectory: export, device: target, images: images, dataDirectory: dataDir,
                                        benchRuns: benchRuns, profilesDirectory: profiles,
                                        progress: { steps.start($0) })
        steps.finish()
        func percent(_ value: Double?) -> String { value.map { String(format: "%.2f %%", $0 * 100) } ?? "-" }
        out.result(report.rebuilt
            ? "deployed \(export) on \(target.name), rebuilt with \(target.compiler.cc) \(target.compiler.flags.joined(separator: " "))"
            : "deployed \(report.binary) on \(target.name)")
        out.result("  accuracy      \(percent(report.accuracy)) on \(report.images) test images (export measured \(percent(report.exportAccuracy)))")
        out.result(String(format: "  latency       measured %@median %.4f ms, p90 %.4f ms (%@)%@",
                          report.latency.estimateMilliseconds.map { String(format: "estimate %.4f ms, ", $0) } ?? "",
                          report.latency.medianMilliseconds,
                          report.latency.p90Milliseconds, report.latency.simd,
                          report.latency.emulated ? " [emulated: not a hardware figure]" : ""))
        if let predicted = report.predictedLatencyMilliseconds {
            out.result(String(format: "  predicted     %.4f ms from %@/%@.json (measured / predicted = %.2f)", predicted, profiles,
                              target.name, report.latency.typicalMilliseconds / predicted))
        } else {
            out.result("  predicted     - (\(report.predictionNote ?? "no profile"))")
        }
        if let peak = report.peakResidentKiB {
            out.result("  memory        peak RSS \(peak) KiB (arena \(report.arenaBytes.map(String.init) ?? "-") bytes)")
        }
        out.json(report.summary)
    }
}
