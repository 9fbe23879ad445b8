import AutoShrinkExport
import AutoShrinkModel
import AutoShrinkProfiler
import AutoShrinkTarget
import Foundation

/// What `Deployment.run` measured on a device, next to what the export and the profile expected:
/// the `--json` summary (`DeploySummary`, AutoShrinkFormats) plus the whole device and latency
/// records the summary names by a few fields (as `ExportReport` carries its `ExportManifest`).
public struct DeploymentReport: Sendable {
    /// The `--json` summary of `autoshrink deploy`; every figure below but `device` and `latency` is read from it.
    public let summary: DeploySummary
    public let device: DeviceDescription
    /// The bench's whole record (the summary has its median, p90, runs, SIMD level and emulation flag).
    public let latency: LatencyMeasurement

    /// The export's binary (when `rebuilt`, a build of its sources for this device ran instead).
    public var binary: String { summary.binary }
    /// Whether the export was rebuilt with this device's toolchain.
    public var rebuilt: Bool { summary.rebuilt }
    public var precision: ModelPrecision { summary.precision }
    public var images: Int { summary.images }
    public var accuracy: Double? { summary.accuracy }
    /// The accuracy the export measured for the same binary precision.
    public var exportAccuracy: Double? { summary.exportAccuracy }
    /// From `profiles/<device>.json`, nil without a (usable) profile.
    public var predictedLatencyMilliseconds: Double? { summary.predictedLatencyMilliseconds }
    /// Why there is no prediction, when there is none.
    public var predictionNote: String? { summary.predictionNote }
    public var peakResidentKiB: Int? { summary.peakRSSKiB }
    public var arenaBytes: Int? { summary.arenaBytes }
    /// The bench's latency at the profile's machine speed (`LatencyMeasurement.normalizedMilliseconds`
    /// with the profile's speed probe as the reference, docs/devices.md "Shared cores"); nil when the
    /// profile has no usable speed probe (`probeNote` says why).
    public var normalizedLatencyMilliseconds: Double? { summary.measuredLatencyNormalizedMilliseconds }
    public var probeNote: String = ""
    /// What to compare with the profile's prediction: the normalized latency, else the bench's estimate.
    public var comparableLatencyMilliseconds: Double { normalizedLatencyMilliseconds ?? latency.typicalMilliseconds }

    init(device: DeviceDescription, binary: String, rebuilt: Bool, precision: ModelPrecision, images: Int, accuracy: Double?,
         exportAccuracy: Double?, latency: LatencyMeasurement, predictedLatencyMilliseconds: Double?, predictionNote: String?,
         peakResidentKiB: Int?, arenaBytes: Int?, normalizedLatencyMilliseconds: Double? = nil) {
        self.device = device
        self.latency = latency
        var summary = DeploySummary(device: device.name, arch: device.architecture, binary: binary, rebuilt: rebuilt, precision: precision,
                                    images: images, accuracy: accuracy, exportAccuracy: exportAccuracy,
                                    measuredLatencyMilliseconds: latency.medianMilliseconds,
                                    measuredLatencyP90Milliseconds: latency.p90Milliseconds,
                                    measuredLatencyEstimateMilliseconds: latency.estimateMilliseconds,
                                    measuredLatencyNormalizedMilliseconds: normalizedLatencyMilliseconds,
                                    benchRuns: latency.runs, simd: latency.simd,
                                    emulated: latency.emulated, predictedLatencyMilliseconds: predictedLatencyMilliseconds,
                                    predictionNote: predictionNote, peakRSSKiB: peakResidentKiB, arenaBytes: arenaBytes)
        summary.measuredLatencySpeedGated = normalizedLatencyMilliseconds == nil ? nil : latency.speedGated
        self.summary = summary
    }
}

/// `autoshrink deploy`: runs an export's binary on a device — real test images and the latency
/// bench — and sets the figures beside the export's and the profile's.
///
/// A binary built for another toolchain (other compiler, flags or architecture) is rebuilt from the
/// export's sources with this device's toolchain in a temporary directory; when that compiler is not
/// installed the deployment is refused with a one-line reason.
public enum Deployment {
    /// Reads and checks `DIRECTORY/export.json`.
    public static func manifest(directory: String) throws -> ExportManifest {
        let path = "\(directory)/export.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw ExportError("\(directory): not an export directory (no export.json); run autoshrink export first")
        }
        return try ExportManifest.loadDocument(path: path)
    }

    /// Deploys `exportDirectory` to `device`: `images` test images (nil = all) and `benchRuns` timed runs.
    public static func run(exportDirectory: String, device: DeviceDescription, images: Int?, dataDirectory: String?,
                           benchRuns: Int = 2000, profilesDirectory: String = "profiles", runTimeout: Double = 1800,
                           progress: (String) -> Void = { _ in }) throws -> DeploymentReport {
        let manifest = try Deployment.manifest(directory: exportDirectory)
        let binaryName = (manifest.binary as NSString).lastPathComponent
        let built = manifest.device
        let architecture = try Architecture.load(path: "\(exportDirectory)/\(manifest.architectureFile)")
        let fileManager = FileManager.default
        let scratch = ScratchFiles.path("deploy")
        try FileProblem.createDirectory(scratch)
        defer { try? fileManager.removeItem(atPath: scratch) }

        // Reach the device before rebuilding or staging anything: an unreachable device fails at once.
        let runner = makeRunner(for: device)
        progress("connecting to \(device.name) (\(device.runner.kind.rawValue) runner)")
        try runner.prepare()
        defer { try? runner.cleanup() }

        let (binary, rebuilt) = try deviceBinary(exportDirectory: exportDirectory, binaryName: binaryName, built: built, device: device,
                                                 sources: .image, scratch: scratch, progress: progress)
        let tests = try TestImages.locate(dataset: manifest.dataset, directory: dataDirectory, scratch: "\(scratch)/tests")

        progress("uploading \((binary as NSString).lastPathComponent) and the test images")
        let deviceBinary = try runner.upload(binary)
        let deviceTests = TestImages(images: try runner.upload(tests.images), labels: try runner.upload(tests.labels))
        progress("classifying \(images.map(String.init) ?? "all") test images on \(device.name)")
        let classification = try ModelRun.classify(runner: runner, binary: deviceBinary, tests: deviceTests, limit: images,
                                                   timeout: runTimeout)
        let profile = "\(profilesDirectory)/\(device.name).json"
        // The bench also reports its latency at the profile's machine speed when the profile has a speed
        // probe (docs/devices.md, "Shared cores").
        let probe = try DeviceProfile.speedProbeReference(path: profile, required: false)
        progress("timing \(benchRuns) runs on \(device.name)")
        let latency = try ModelRun.bench(runner: runner, binary: deviceBinary, runs: benchRuns, timeout: runTimeout,
                                         probeReferenceMilliseconds: probe.milliseconds)

        var predicted: Double?
        var note: String?
        if fileManager.fileExists(atPath: profile) {
            do {
                predicted = try ProfileLatencyPredictor.load(path: profile, device: device.name).predictLatencyMilliseconds(architecture.lowered())
            } catch {
                note = FileProblem.reason(error)
            }
        } else {
            note = "no profile \(profile); run autoshrink profile --device \(device.name)"
        }
        var report = DeploymentReport(device: device, binary: rebuilt ? "\(exportDirectory)/\(binaryName)" : binary, rebuilt: rebuilt,
                                      precision: manifest.precision, images: classification.images, accuracy: classification.accuracy,
                                      exportAccuracy: manifest.accuracy(manifest.precision), latency: latency,
                                      predictedLatencyMilliseconds: predicted, predictionNote: note,
                                      peakResidentKiB: classification.peakResidentKiB, arenaBytes: manifest.arenaBytes,
                                      normalizedLatencyMilliseconds: probe.milliseconds == nil ? nil : latency.normalizedMilliseconds)
        report.probeNote = probe.note
        return report
    }

    /// The sources a rebuild compiles besides `model.c`: the harness and the runtime files (nil: every
    /// `runtime/*.c` of the export, as the image export's Makefile does).
    struct RebuildSources: Sendable {
        var harness: [String]
        var runtime: [String]?
        /// An image export (`main.c` + `idx.c`, every kernel).
        static let image = RebuildSources(harness: ["main.c", "idx.c"], runtime: nil)
    }

    /// The export's main binary for `device`: the one in `exportDirectory` when it was built with this
    /// device's compiler for its architecture, else a build of the export's sources with this device's
    /// toolchain in `scratch` (refused with one line when that compiler is not installed). Checks the
    /// binary's ELF machine against the device's architecture. Shared by the image and the
    /// language-model deployment.
    static func deviceBinary(exportDirectory: String, binaryName: String, built: DeviceDescription, device: DeviceDescription,
                             sources: RebuildSources, scratch: String, progress: (String) -> Void) throws -> (path: String, rebuilt: Bool) {
        var binary = "\(exportDirectory)/\(binaryName)"
        var rebuilt = false
        if built.compiler != device.compiler || built.architecture != device.architecture {
            let toolchain = Toolchain(device: device)
            guard toolchain.isAvailable else {
                throw ExportError("\(exportDirectory) was built for \(built.name) (\(built.architecture.rawValue), \(built.compiler.cc)); \(device.name) (\(device.architecture.rawValue)) needs a rebuild with \(device.compiler.cc), which is not installed (run tools/setup, or export for \(device.name) on a machine that has it)")
            }
            progress("rebuilding for \(device.name) with \(device.compiler.cc) \(device.compiler.flags.joined(separator: " ")) (the export was built for \(built.name))")
            binary = try rebuild(exportDirectory: exportDirectory, binaryName: binaryName, device: device, sources: sources, scratch: scratch)
            rebuilt = true
        }
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ExportError("\(binary): missing or not executable; run autoshrink export again")
        }
        let machine = try ELFSectionSizes.read(path: binary).machineName
        let expected = device.architecture == .armv7 ? "arm" : device.architecture.rawValue
        guard machine == expected else {
            throw ExportError("\(binary) is a \(machine) binary but \(device.name) is \(device.architecture.rawValue); export for \(device.name) first")
        }
        return (binary, rebuilt)
    }

    /// Builds the export's main binary (`model.c`) from its sources with `device`'s toolchain in `scratch`.
    static func rebuild(exportDirectory: String, binaryName: String, device: DeviceDescription, sources: RebuildSources,
                        scratch: String) throws -> String {
        let fileManager = FileManager.default
        let copy = "\(scratch)/project"
        try FileProblem.createDirectory(copy)
        var runtime: [String] = []
        for entry in try fileManager.subpathsOfDirectory(atPath: exportDirectory) {
            guard entry.hasSuffix(".c") || entry.hasSuffix(".h") else { continue }
            let target = "\(copy)/\(entry)"
            try FileProblem.createDirectory((target as NSString).deletingLastPathComponent)
            do { try fileManager.copyItem(atPath: "\(exportDirectory)/\(entry)", toPath: target) } catch {
                throw FileAccessError(path: "\(exportDirectory)/\(entry)", reason: "cannot copy to \(target): \(FileProblem.reason(error))")
            }
            if entry.hasPrefix("runtime/") && entry.hasSuffix(".c") { runtime.append(entry) }
        }
        if let wanted = sources.runtime { runtime = wanted.allSatisfy(runtime.contains) ? wanted : [] }
        let missing = (["model.c"] + sources.harness).filter { !fileManager.fileExists(atPath: "\(copy)/\($0)") }
        guard missing.isEmpty, !runtime.isEmpty else {
            throw ExportError("\(exportDirectory): \((missing.isEmpty ? ["runtime/"] : missing).joined(separator: ", ")) missing; run autoshrink export again")
        }
        let result = try ProjectBuilder(device: device).build(
            directory: copy, runtimeSources: runtime.sorted(), harnessSources: sources.harness,
            targets: [ProjectBuilder.Target(modelSource: "model.c", binary: binaryName)], scratch: "\(scratch)/objects")
        return result.binaries["model.c"]!
    }
}
