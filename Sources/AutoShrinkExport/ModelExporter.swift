import AutoShrinkCSources
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkModel
import AutoShrinkTarget
import Foundation

/// Test images on this machine as IDX files (plain or gzip) that the generated binary reads.
public struct TestImages: Sendable, Hashable {
    public var images: String
    public var labels: String
    public init(images: String, labels: String) { self.images = images; self.labels = labels }

    /// The official test files of an IDX dataset (Fashion-MNIST, MNIST), or — for other datasets —
    /// the test split written as plain IDX files into `scratch`.
    public static func locate(dataset name: String, directory: String?, scratch: String) throws -> TestImages {
        guard let kind = DatasetKind(rawValue: name.lowercased()) else {
            throw ExportError("the checkpoint was trained on '\(name)', which autoshrink cannot load test images for")
        }
        switch kind {
        case .fashionMNIST, .mnist:
            let paths = try DatasetLoader.idxPaths(kind, split: .test, directory: directory ?? kind.defaultDirectory)
            return TestImages(images: paths.images, labels: paths.labels)
        case .cifar10:
            let test = try DatasetLoader.load(kind, split: .test, directory: directory, normalization: .unit(channels: 3))
            return try write(test, directory: scratch)
        }
    }

    /// Writes `dataset`'s raw pixels and labels as IDX files (`IDXWriter.testSet`) named like the
    /// MNIST test files.
    public static func write(_ dataset: Dataset, directory: String, limit: Int? = nil) throws -> TestImages {
        try FileProblem.createDirectory(directory)
        let files = IDXWriter.testSet(dataset, limit: limit)
        let result = TestImages(images: "\(directory)/t10k-images-idx3-ubyte", labels: "\(directory)/t10k-labels-idx1-ubyte")
        try AtomicFile.write(files.images, to: result.images)
        try AtomicFile.write(files.labels, to: result.labels)
        return result
    }
}

/// How `ModelExporter.export` works.
public struct ExportOptions: Sendable {
    /// Precision of the main binary `model`; the other one is built beside it for comparison.
    public var precision: ModelPrecision = .int8
    public var calibrationImages: Int = 512
    public var calibrationMethod: CalibrationMethod = .minMax
    /// Also write `model.int8.onnx` (QDQ, uint8 activations).
    public var quantizedONNX = false
    public var planner: any MemoryPlanner = GreedyBySizePlanner()
    /// int8: run the adds `AddFusion` picks inside their pointwise convolutions (`as_pointwise_conv_add_s8`, what
    /// the profiler times and predicts). Off only to compare with the unfused pair (tests): the same numbers.
    public var fuseAdds = true
    /// Compiler flags after the device's (e.g. `-Werror` in tests).
    public var extraCFlags: [String] = []
    /// Run the binaries on the device (accuracy on the test images and the latency bench).
    public var measure = true
    /// Test images for the accuracy runs (nil = all).
    public var testImageLimit: Int?
    public var benchRuns = 2000
    /// The profile's full-speed speed-probe time (`DeviceProfile.speedProbeMilliseconds`): the bench then
    /// also reports its latency normalized to that machine speed (`model --bench --probe-ref-ms`,
    /// docs/devices.md "Shared cores"); nil: normalized to the bench's own probe.
    public var probeReferenceMilliseconds: Double?
    /// Seconds one run on the device may take.
    public var runTimeout: Double = 1800

    public init() {}
}

/// Everything an export produced and measured: `manifest` is `export.json` (also the `--json` summary
/// of `autoshrink export`); beside it only what the manifest keeps as figures (code sizes, arena plans)
/// and where the export is. The per-precision views below read the manifest.
public struct ExportReport: Sendable {
    public var manifest: ExportManifest
    public var directory: String
    public var codeSizes: [ModelPrecision: ProjectBuilder.CodeSize]
    public var plans: [ModelPrecision: MemoryPlan]

    public var device: DeviceDescription { manifest.device }
    public var precision: ModelPrecision { manifest.precision }
    public var binary: String { manifest.binary }
    /// Binary paths (under `directory`) by precision.
    public var binaries: [ModelPrecision: String] { manifest.binaries }
    public var testImages: Int? { manifest.testImages }
    public var accuracy: [ModelPrecision: Double] { Self.byPrecision(float: manifest.floatAccuracy, int8: manifest.int8Accuracy) }
    public var latency: [ModelPrecision: LatencyMeasurement] { Self.byPrecision(float: manifest.latencyFloat, int8: manifest.latencyInt8) }
    public var weightBytes: [ModelPrecision: Int] { Self.byPrecision(float: manifest.weightBytesFloat, int8: manifest.weightBytesInt8) }
    public var allKernelsTextBytes: Int { manifest.textBytesAllKernels }
    /// Peak live activation bytes with one buffer per tensor and no reuse (int8, the cost model's figure).
    public var unplannedPeakBytes: Int { manifest.arenaUnplannedPeakBytesInt8 }

    static func byPrecision<T>(float: T?, int8: T?) -> [ModelPrecision: T] {
        var values: [ModelPrecision: T] = [:]
        values[.float32] = float
        values[.int8] = int8
        return values
    }
}

/// `autoshrink export`: checkpoint -> BN folding, calibration, int8 quantization, arena plan ->
/// a standalone C project `deploy/NAME/` built for a device, measured on it.
///
/// The project (docs/algorithm.md §2): `model.h`, `model.c` (main precision) and `model_float.c` /
/// `model_int8.c` (the other), `main.c` + `idx.c`/`idx.h` (harness), `runtime/` (the kernels verbatim),
/// `Makefile`, `model.arch.json`, `model.onnx` (and `model.int8.onnx`), `export.json`, and the binaries
/// `model` and `model-float` / `model-int8`. It is built in a temporary sibling directory and renamed
/// into place only when everything succeeded, so a failed export leaves an earlier one intact.
public enum ModelExporter {
    /// Version of the generator (bump when generated code changes).
    public static let version = "1"
    public static let manifestFormat = ExportManifest.formatName
    public static let manifestVersion = ExportManifest.currentVersion

    /// Source and binary names of each precision, given the main one.
    public static func files(primary: ModelPrecision) -> [ModelPrecision: (source: String, binary: String)] {
        primary == .int8
            ? [.int8: ("model.c", "model"), .float32: ("model_float.c", "model-float")]
            : [.float32: ("model.c", "model"), .int8: ("model_int8.c", "model-int8")]
    }

    /// The pipeline: `PreparedModel.prepare` (fold, calibrate, lay out, plan, quantize, set up the
    /// generators), then in an `ExportStaging` folder `writeProject` and `writeONNX`, `buildBinaries`,
    /// `measure` on the device, `manifest`, and `replaceDirectory` to put the staged project in place.
    public static func export(checkpoint: Checkpoint, calibration: Dataset, testImages: TestImages?,
                              device: DeviceDescription, outputDirectory: String, options: ExportOptions,
                              context: ExecutionContext, progress: (String) -> Void = { _ in }) throws -> ExportReport {
        let start = Date()
        let model = try PreparedModel.prepare(checkpoint: checkpoint, calibration: calibration, options: options,
                                              context: context, progress: progress)
        let staging = try ExportStaging(outputDirectory: outputDirectory)
        var finished = false
        defer { if !finished { staging.discard() } }

        let primaryPlan = model.plans[options.precision]!
        progress("generating C in \(staging.destination)/ (arena \(primaryPlan.arenaBytes) bytes, lower bound \(primaryPlan.lowerBoundBytes))")
        let files = files(primary: options.precision)
        let sources = try staging.run { try writeProject(directory: staging.path, generators: model.generators, files: files,
                                                         graph: model.graph, description: model.description, device: device,
                                                         architecture: model.architecture) }
        let onnx = try writeONNX(checkpoint: checkpoint, ranges: model.ranges, staging: staging, quantized: options.quantizedONNX)

        progress("building with \(device.compiler.cc) \(device.compiler.flags.joined(separator: " ")) for \(device.name) (\(device.architecture.rawValue))")
        let build = try buildBinaries(sources: sources, files: files, device: device, options: options, staging: staging)
        let measured = options.measure
            ? try measure(binaries: build.binaries, files: files, testImages: testImages, device: device, options: options, progress: progress)
            : Measurements()

        let manifest = manifest(model: model, device: device, precision: options.precision, onnx: onnx, build: build,
                                measured: measured, options: options, destination: staging.destination, files: files,
                                seconds: Date().timeIntervalSince(start))
        let report = ExportReport(manifest: manifest, directory: staging.destination, codeSizes: build.codeSizes, plans: model.plans)
        try staging.run { try AtomicFile.write(try manifest.jsonData(pretty: true) + Data("\n".utf8), to: "\(staging.path)/export.json") }

        try replaceDirectory(staging.destination, with: staging.path)
        finished = true
        return report
    }

    /// `model.onnx` and, when asked, `model.int8.onnx` (QDQ, uint8 activations) in the staging folder;
    /// returns their final paths.
    static func writeONNX(checkpoint: Checkpoint, ranges: ActivationRanges, staging: ExportStaging,
                          quantized: Bool) throws -> (float: String, int8: String?) {
        try staging.run { try ONNXExporter.write(checkpoint: checkpoint, to: "\(staging.path)/model.onnx") }
        guard quantized else { return ("\(staging.destination)/model.onnx", nil) }
        try staging.run {
            try ONNXExporter.write(checkpoint: checkpoint, to: "\(staging.path)/model.int8.onnx",
                                   options: ONNXExportOptions(precision: .qdq(ranges: ranges, activationType: .uint8)))
        }
        return ("\(staging.destination)/model.onnx", "\(staging.destination)/model.int8.onnx")
    }

    /// What the build produced, code sizes keyed by precision.
    struct BuiltBinaries {
        var binaries: [String: String]
        var codeSizes: [ModelPrecision: ProjectBuilder.CodeSize]
        var allKernelsTextBytes: Int
    }

    /// Compiles every precision's binary with the device toolchain in the staging folder.
    static func buildBinaries(sources: (runtime: [String], harness: [String]), files: [ModelPrecision: (source: String, binary: String)],
                              device: DeviceDescription, options: ExportOptions, staging: ExportStaging) throws -> BuiltBinaries {
        let builder = ProjectBuilder(device: device, extraFlags: options.extraCFlags)
        let scratch = "\(staging.path)/.build"
        let targets = ModelPrecision.allCases.map { ProjectBuilder.Target(modelSource: files[$0]!.source, binary: files[$0]!.binary) }
        let build = try staging.run {
            try builder.build(directory: staging.path, runtimeSources: sources.runtime, harnessSources: sources.harness,
                              targets: targets, scratch: scratch)
        }
        try? FileManager.default.removeItem(atPath: scratch)
        var codeSizes: [ModelPrecision: ProjectBuilder.CodeSize] = [:]
        for precision in ModelPrecision.allCases { codeSizes[precision] = build.codeSizes[files[precision]!.source] }
        return BuiltBinaries(binaries: build.binaries, codeSizes: codeSizes, allKernelsTextBytes: build.allKernelsTextBytes)
    }

    /// What the binaries measured on the device, by precision.
    struct Measurements {
        var accuracy: [ModelPrecision: Double] = [:]
        var peakResidentKiB: [ModelPrecision: Int] = [:]
        var latency: [ModelPrecision: LatencyMeasurement] = [:]
        var testImages: Int?
    }

    /// Uploads the binaries (and the test images) to the device, classifies and times them, main precision first.
    static func measure(binaries: [String: String], files: [ModelPrecision: (source: String, binary: String)],
                        testImages: TestImages?, device: DeviceDescription, options: ExportOptions,
                        progress: (String) -> Void) throws -> Measurements {
        var measured = Measurements()
        let runner = makeRunner(for: device)
        try runner.prepare()
        defer { try? runner.cleanup() }
        var uploadedTests: TestImages?
        if let testImages {
            progress("uploading test images to \(device.name)")
            uploadedTests = TestImages(images: try runner.upload(testImages.images), labels: try runner.upload(testImages.labels))
        }
        for precision in [options.precision, options.precision == .int8 ? .float32 : .int8] {
            let binary = try runner.upload(binaries[files[precision]!.source]!)
            if let tests = uploadedTests {
                progress("running the \(precision.rawValue) binary on the test images (\(device.name))")
                let result = try ModelRun.classify(runner: runner, binary: binary, tests: tests, limit: options.testImageLimit,
                                                   timeout: options.runTimeout)
                measured.accuracy[precision] = result.accuracy
                measured.peakResidentKiB[precision] = result.peakResidentKiB
                measured.testImages = result.images
            }
            progress("timing the \(precision.rawValue) binary (\(options.benchRuns) runs)")
            measured.latency[precision] = try ModelRun.bench(runner: runner, binary: binary, runs: options.benchRuns,
                                                             timeout: options.runTimeout,
                                                             probeReferenceMilliseconds: options.probeReferenceMilliseconds)
        }
        return measured
    }

    /// `export.json`: everything above, the main precision's figures first.
    static func manifest(model: PreparedModel, device: DeviceDescription, precision primary: ModelPrecision,
                         onnx: (float: String, int8: String?), build: BuiltBinaries, measured: Measurements,
                         options: ExportOptions, destination: String, files: [ModelPrecision: (source: String, binary: String)],
                         seconds: Double) -> ExportManifest {
        let graph = model.graph
        let quantizationTable = graph.tensors.indices.map { tensor in
            TensorQuantizationRecord(tensor: tensor, name: QuantizedNetwork.tensorName(tensor, graph),
                                     scale: model.quantized.tensors[tensor].scale, zeroPoint: model.quantized.tensors[tensor].zeroPoint,
                                     min: model.quantized.ranges[tensor].min, max: model.quantized.ranges[tensor].max)
        }
        let binaries = Dictionary(uniqueKeysWithValues: ModelPrecision.allCases.map { ($0, "\(destination)/\(files[$0]!.binary)") })
        let codeSizes = build.codeSizes, plans = model.plans
        let weightBytes = model.generators.mapValues(\.weightBytes)
        return ExportManifest(
            exporterVersion: version, autoshrinkVersion: AutoShrinkVersion.string, model: model.architecture.name,
            architectureHash: model.architecture.stableHash, architectureFile: "model.arch.json", runtimeHash: RuntimeSources.hash,
            device: device, precision: primary, binary: binaries[primary]!, binaries: binaries, onnx: onnx.float, onnxInt8: onnx.int8,
            dataset: model.metadata.dataset, testImages: measured.testImages, checkpointTestAccuracy: model.metadata.testAccuracy,
            floatAccuracy: measured.accuracy[.float32], int8Accuracy: measured.accuracy[.int8],
            peakRSSKiB: measured.peakResidentKiB[primary],
            textBytes: codeSizes[primary]!.textBytes, textBytesModel: codeSizes[primary]!.modelTextBytes,
            textBytesBinary: codeSizes[primary]!.binaryTextBytes, textBytesInt8: codeSizes[.int8]?.textBytes,
            textBytesFloat: codeSizes[.float32]?.textBytes, textBytesAllKernels: build.allKernelsTextBytes,
            weightBytes: weightBytes[primary]!, weightBytesInt8: weightBytes[.int8], weightBytesFloat: weightBytes[.float32],
            quantizationConstantBytes: model.generators[.int8]!.quantizationConstantBytes, arenaBytes: plans[primary]!.arenaBytes,
            arenaLowerBoundBytes: plans[primary]!.lowerBoundBytes, arenaBytesInt8: plans[.int8]?.arenaBytes,
            arenaLowerBoundBytesInt8: plans[.int8]?.lowerBoundBytes, arenaBytesFloat: plans[.float32]?.arenaBytes,
            arenaLowerBoundBytesFloat: plans[.float32]?.lowerBoundBytes,
            arenaUnplannedPeakBytesInt8: CostModel.costs(of: graph).peakActivationBytesInt8,
            planner: plans[primary]!.planner, latency: measured.latency[primary], latencyFloat: measured.latency[.float32],
            latencyInt8: measured.latency[.int8],
            calibration: ExportManifest.Calibration(images: model.ranges.images, method: label(options.calibrationMethod)),
            quantization: quantizationTable, seconds: seconds)
    }

    /// Writes every project file; returns the C sources (relative paths) of the runtime and the harness.
    static func writeProject(directory: String, generators: [ModelPrecision: CModelGenerator],
                             files: [ModelPrecision: (source: String, binary: String)], graph: LayerGraph,
                             description: ExportDescription, device: DeviceDescription,
                             architecture: Architecture) throws -> (runtime: [String], harness: [String]) {
        func write(_ path: String, _ text: String) throws {
            let full = "\(directory)/\(path)"
            try FileProblem.createDirectory((full as NSString).deletingLastPathComponent)
            try AtomicFile.write(text, to: full)
        }
        var runtime: [String] = []
        for file in RuntimeSources.imageFiles {
            try write("runtime/\(file.path)", file.contents)
            if file.path.hasSuffix(".c") { runtime.append("runtime/\(file.path)") }
        }
        try write("model.h", CModelGenerator.header(graph: graph, description: description))
        for (precision, generator) in generators { try write(files[precision]!.source, generator.source()) }
        for file in HarnessSources.files { try write(file.path, file.contents) }
        try write("Makefile", makefile(device: device, files: files, runtime: runtime, description: description))
        try architecture.write(to: "\(directory)/model.arch.json")
        return (runtime, ["main.c", "idx.c"])
    }

    /// The project's Makefile: the device's compiler and flags after `-std=c99 -Wall -Wextra`.
    static func makefile(device: DeviceDescription, files: [ModelPrecision: (source: String, binary: String)],
                         runtime: [String], description: ExportDescription) -> String {
        projectMakefile(device: device, files: files, title: "\(description.modelName) inference",
                        generator: description.exporterVersion, runtime: runtime.joined(separator: " \\\n\t"),
                        harness: "main.c idx.c", headers: "model.h idx.h estimator.h harness_cli.h speed_probe.h runtime/include/autoshrink_runtime.h")
    }

    /// A device project's Makefile, shared by the CNN and LM exporters: `title` binaries for the device,
    /// made by autoshrink `generator`; the device's compiler and flags after `-std=c99 -Wall -Wextra`; one
    /// binary a precision from `$(HARNESS)`, its model source and `$(RUNTIME)` (`runtime`, `harness` and
    /// `headers` are the variables' values).
    static func projectMakefile(device: DeviceDescription, files: [ModelPrecision: (source: String, binary: String)],
                                title: String, generator: String, runtime: String, harness: String, headers: String) -> String {
        let ordered = files.sorted { $0.value.binary < $1.value.binary }
        var text = """
        # Makefile - \(title) binaries for device \(device.name) (\(device.architecture.rawValue)).
        # Generated by autoshrink \(generator). `make` builds \(ordered.map(\.value.binary).joined(separator: " and ")).

        CC = \(device.compiler.cc)
        CFLAGS = \((Toolchain.baseFlags + device.compiler.flags + ProjectBuilder.sectionFlags).joined(separator: " "))
        CPPFLAGS = -I. -Iruntime/include
        LDFLAGS = -Wl,--gc-sections\(device.compiler.ldflags.isEmpty ? "" : " " + device.compiler.ldflags.joined(separator: " "))
        LDLIBS = -lm

        RUNTIME = \(runtime)
        HARNESS = \(harness)
        HEADERS = \(headers)

        all: \(ordered.map(\.value.binary).joined(separator: " "))

        """
        for (precision, file) in ordered {
            text += """

            # \(precision.rawValue)
            \(file.binary): $(HARNESS) \(file.source) $(RUNTIME) $(HEADERS)
            \t$(CC) $(CFLAGS) $(CPPFLAGS) -o $@ $(HARNESS) \(file.source) $(RUNTIME) $(LDFLAGS) $(LDLIBS)

            """
        }
        text += """

        clean:
        \trm -f \(ordered.map(\.value.binary).joined(separator: " "))

        .PHONY: all clean

        """
        return text
    }

    /// Puts `staging` at `destination`, replacing what is there only once the rename can happen.
    static func replaceDirectory(_ destination: String, with staging: String) throws {
        let fileManager = FileManager.default
        guard fileManager.fileExists(atPath: destination) else {
            do { try fileManager.moveItem(atPath: staging, toPath: destination) } catch {
                throw ExportError("cannot move the new export into \(destination): \(FileProblem.reason(error))")
            }
            return
        }
        let parent = (destination as NSString).deletingLastPathComponent
        let old = "\(parent)/.\((destination as NSString).lastPathComponent).old-\(UUID().uuidString.prefix(8))"
        do { try fileManager.moveItem(atPath: destination, toPath: old) } catch {
            throw ExportError("cannot move the earlier export \(destination) aside: \(FileProblem.reason(error))")
        }
        do {
            try fileManager.moveItem(atPath: staging, toPath: destination)
        } catch {
            try? fileManager.moveItem(atPath: old, toPath: destination)
            throw ExportError("cannot move the new export into \(destination): \(FileProblem.reason(error))")
        }
        try? fileManager.removeItem(atPath: old)
    }

    static func label(_ method: CalibrationMethod) -> String {
        switch method {
        case .minMax: return "min/max"
        case .percentile(let p): return "percentile \(p)"
        }
    }
}

/// Runs a generated binary on a device and reads its JSON summary line.
public enum ModelRun {
    public struct Classification: Sendable, Hashable {
        public var images: Int
        public var accuracy: Double?
        public var peakResidentKiB: Int?
    }

    /// The generated binary's `--json` line after classifying images (main.c's summary).
    struct ClassifySummary: Decodable {
        var images: Int?
        var accuracy: Double?
        var peakRSSKiB: Int?
        enum CodingKeys: String, CodingKey { case images, accuracy, peakRSSKiB = "peak_rss_kib" }
    }

    /// The generated binary's `--json` line after `--bench`.
    struct BenchSummary: Decodable {
        var medianMilliseconds: Double?
        var p90Milliseconds: Double?
        var runs: Int?
        var simd: String?
        var estimateMilliseconds: Double?
        var ciLowMilliseconds: Double?
        var ciHighMilliseconds: Double?
        var cpu: Int?
        var probeMilliseconds: Double?
        var ratio: Double?
        var probeReferenceMilliseconds: Double?
        var normalizedMilliseconds: Double?
        var fastRounds: Int?
        var speedGated: Bool?
        var waitedSeconds: Double?
        enum CodingKeys: String, CodingKey {
            case runs, simd, cpu, ratio, medianMilliseconds = "median_ms", p90Milliseconds = "p90_ms"
            case estimateMilliseconds = "estimate_ms", ciLowMilliseconds = "ci_low_ms", ciHighMilliseconds = "ci_high_ms"
            case probeMilliseconds = "probe_ms", probeReferenceMilliseconds = "probe_ref_ms", normalizedMilliseconds = "normalized_ms"
            case fastRounds = "fast_rounds", speedGated = "speed_gated", waitedSeconds = "waited_s"
        }
    }

    /// `model --idx IMAGES --labels LABELS [--limit N] --quiet --json` on the device.
    public static func classify(runner: any DeviceRunner, binary: String, tests: TestImages, limit: Int?,
                                timeout: Double) throws -> Classification {
        var arguments = ["--idx", tests.images, "--labels", tests.labels, "--quiet", "--json"]
        if let limit { arguments += ["--limit", String(limit)] }
        let summary = try runJSON(ClassifySummary.self, runner: runner, binary: binary, arguments: arguments, timeout: timeout)
        return Classification(images: summary.images ?? 0, accuracy: summary.accuracy,
                              peakResidentKiB: summary.peakRSSKiB.flatMap { $0 >= 0 ? $0 : nil })
    }

    /// `model --bench RUNS --json [--probe-ref-ms X]` on the device (X: the profile's speed-probe time,
    /// `LatencyMeasurement.normalizedMilliseconds` is then the latency at the profile's machine speed, over
    /// the rounds at that speed when there were enough: the bench's speed gate, docs/devices.md). The
    /// gate may add up to 10 s of rounds (the binary's --speed-wait-s default) to the bench.
    public static func bench(runner: any DeviceRunner, binary: String, runs: Int, timeout: Double,
                             probeReferenceMilliseconds: Double? = nil) throws -> LatencyMeasurement {
        var arguments = ["--bench", String(runs), "--json"]
        if let reference = probeReferenceMilliseconds, reference > 0, reference.isFinite {
            arguments += ["--probe-ref-ms", String(format: "%.6f", reference)]
        }
        let summary = try runJSON(BenchSummary.self, runner: runner, binary: binary, arguments: arguments, timeout: timeout)
        guard let median = summary.medianMilliseconds, let p90 = summary.p90Milliseconds else {
            throw ExportError("device \(runner.device.name): the bench printed no latency")
        }
        var latency = LatencyMeasurement(medianMilliseconds: median, p90Milliseconds: p90, runs: summary.runs ?? runs,
                                         simd: summary.simd ?? "", emulated: runner.device.runner.kind == .qemu,
                                         estimateMilliseconds: summary.estimateMilliseconds, ciLowMilliseconds: summary.ciLowMilliseconds,
                                         ciHighMilliseconds: summary.ciHighMilliseconds, cpu: summary.cpu)
        latency.probeMilliseconds = summary.probeMilliseconds
        latency.probeRatio = summary.ratio
        latency.probeReferenceMilliseconds = summary.probeReferenceMilliseconds
        latency.normalizedMilliseconds = summary.normalizedMilliseconds
        latency.fastRounds = summary.fastRounds
        latency.speedGated = summary.speedGated
        latency.waitedSeconds = summary.waitedSeconds
        return latency
    }

    /// Runs the binary and decodes the last stdout line as `T`.
    static func runJSON<T: Decodable>(_ type: T.Type, runner: any DeviceRunner, binary: String, arguments: [String],
                                      timeout: Double) throws -> T {
        let result = try runner.run(binary, arguments: arguments, timeout: timeout)
        guard result.exitStatus == 0 else {
            throw ExportError("device \(runner.device.name): \((binary as NSString).lastPathComponent) exited with status \(result.exitStatus): \(result.firstOutputLine)")
        }
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try? JSONDecoder().decode(T.self, from: Data(last.utf8)) else {
            throw ExportError("device \(runner.device.name): \((binary as NSString).lastPathComponent) printed no JSON summary (last line: \(last.prefix(120)))")
        }
        return object
    }
}
