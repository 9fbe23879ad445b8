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
    /// Compiler flags after the device's (e.g. `-Werror` in tests).
    public var extraCFlags: [String] = []
    /// Run the binaries on the device (accuracy on the test images and the latency bench).
    public var measure = true
    /// Test images for the accuracy runs (nil = all).
    public var testImageLimit: Int?
    public var benchRuns = 2000
    /// Seconds one run on the device may take.
    public var runTimeout: Double = 1800

    public init() {}
}

/// Everything an export produced and measured; `manifest()` is `export.json`.
public struct ExportReport: Sendable {
    public var directory: String
    public var modelName: String
    public var architectureHash: String
    public var device: DeviceDescription
    public var precision: ModelPrecision
    /// Binary paths (under `directory`) by precision.
    public var binaries: [ModelPrecision: String]
    public var onnx: String?
    public var onnxInt8: String?
    public var dataset: String
    public var testImages: Int?
    public var checkpointTestAccuracy: Double?
    public var accuracy: [ModelPrecision: Double]
    public var peakResidentKiB: [ModelPrecision: Int]
    public var codeSizes: [ModelPrecision: ProjectBuilder.CodeSize]
    public var allKernelsTextBytes: Int
    public var weightBytes: [ModelPrecision: Int]
    public var quantizationConstantBytes: Int
    public var plans: [ModelPrecision: MemoryPlan]
    /// Peak live activation bytes with one buffer per tensor and no reuse (int8, the cost model's figure).
    public var unplannedPeakBytes: Int
    public var latency: [ModelPrecision: LatencyMeasurement]
    public var calibrationImages: Int
    public var calibrationMethod: String
    /// Quantization of every lowered tensor.
    public var quantization: [TensorQuantizationRecord]
    public var seconds: Double

    public var binary: String { binaries[precision]! }

    /// `export.json`, also the `--json` summary of `autoshrink export`.
    public func manifest() -> ExportManifest {
        let primary = precision
        return ExportManifest(
            exporterVersion: ModelExporter.version, autoshrinkVersion: AutoShrinkVersion.string, model: modelName,
            architectureHash: architectureHash, architectureFile: "model.arch.json", runtimeHash: RuntimeSources.hash,
            device: device, precision: primary, binary: binary, binaries: binaries, onnx: onnx, onnxInt8: onnxInt8,
            dataset: dataset, testImages: testImages, checkpointTestAccuracy: checkpointTestAccuracy,
            floatAccuracy: accuracy[.float32], int8Accuracy: accuracy[.int8], peakRSSKiB: peakResidentKiB[primary],
            textBytes: codeSizes[primary]!.textBytes, textBytesModel: codeSizes[primary]!.modelTextBytes,
            textBytesBinary: codeSizes[primary]!.binaryTextBytes, textBytesInt8: codeSizes[.int8]?.textBytes,
            textBytesFloat: codeSizes[.float32]?.textBytes, textBytesAllKernels: allKernelsTextBytes,
            weightBytes: weightBytes[primary]!, weightBytesInt8: weightBytes[.int8], weightBytesFloat: weightBytes[.float32],
            quantizationConstantBytes: quantizationConstantBytes, arenaBytes: plans[primary]!.arenaBytes,
            arenaLowerBoundBytes: plans[primary]!.lowerBoundBytes, arenaBytesInt8: plans[.int8]?.arenaBytes,
            arenaLowerBoundBytesInt8: plans[.int8]?.lowerBoundBytes, arenaBytesFloat: plans[.float32]?.arenaBytes,
            arenaLowerBoundBytesFloat: plans[.float32]?.lowerBoundBytes, arenaUnplannedPeakBytesInt8: unplannedPeakBytes,
            planner: plans[primary]!.planner, latency: latency[primary], latencyFloat: latency[.float32],
            latencyInt8: latency[.int8],
            calibration: ExportManifest.Calibration(images: calibrationImages, method: calibrationMethod),
            quantization: quantization, seconds: seconds)
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

    public static func export(checkpoint: Checkpoint, calibration: Dataset, testImages: TestImages?,
                              device: DeviceDescription, outputDirectory: String, options: ExportOptions,
                              context: ExecutionContext, progress: (String) -> Void = { _ in }) throws -> ExportReport {
        let start = Date()
        let architecture = checkpoint.architecture
        let folded = try FoldedNetwork(checkpoint: checkpoint)
        let graph = folded.graph
        try QuantizedNetwork.checkSupported(graph)
        let metadata = checkpoint.metadata
        let normalization = Normalization(mean: metadata.normalizationMean, std: metadata.normalizationStd)
        let input = graph.tensors[graph.input]
        guard calibration.channels == input.channels, calibration.height == input.height, calibration.width == input.width else {
            throw ExportError("calibration images are \(calibration.channels)x\(calibration.height)x\(calibration.width), the model expects \(input)")
        }

        progress("calibrating on \(min(options.calibrationImages, calibration.count)) training images (\(label(options.calibrationMethod)))")
        let network = try checkpoint.makeNetwork(context: context)
        let calibrationSet = calibration.normalization == normalization ? calibration : calibration.normalized(with: normalization)
        let ranges = Calibration.collect(network: network, dataset: calibrationSet, limit: options.calibrationImages,
                                         method: options.calibrationMethod)
        let layout = ActivationLayout.optimized(graph: graph, planner: options.planner)
        var plans: [ModelPrecision: MemoryPlan] = [:]
        for precision in ModelPrecision.allCases {
            let plan = options.planner.plan(layout.bufferRequests(bytesPerElement: precision.bytesPerElement), alignment: 16)
            if let problem = layout.violations(plan: plan, bytesPerElement: precision.bytesPerElement).first {
                throw ExportError("internal error: the \(plan.planner) plan overlaps live tensors (\(problem))")
            }
            plans[precision] = plan
        }
        let quantized = try QuantizedNetwork(network: folded, ranges: ranges, layout: layout, normalization: normalization)
        let description = ExportDescription(
            modelName: architecture.name, architectureHash: architecture.stableHash, dataset: metadata.dataset,
            calibration: "\(ranges.images) training images, \(label(options.calibrationMethod))",
            exporterVersion: "\(AutoShrinkVersion.string) (exporter \(version))", runtimeHash: RuntimeSources.hash)
        let generators = Dictionary(uniqueKeysWithValues: ModelPrecision.allCases.map { precision in
            (precision, CModelGenerator(network: folded, layout: layout, quantized: precision == .int8 ? quantized : nil,
                                        plan: plans[precision]!, precision: precision, normalization: normalization,
                                        description: description))
        })

        // Stage the project next to its destination.
        let fileManager = FileManager.default
        let destination = URL(fileURLWithPath: outputDirectory).standardizedFileURL.path
        let parent = (destination as NSString).deletingLastPathComponent
        let name = (destination as NSString).lastPathComponent
        try FileProblem.createDirectory(parent)
        let staging = "\(parent)/.\(name).tmp-\(UUID().uuidString.prefix(8))"
        try FileProblem.createDirectory(staging)
        var finished = false
        defer { if !finished { try? fileManager.removeItem(atPath: staging) } }
        // Errors name files where the user will look for them, not in the staging folder that is removed.
        func inStaging<T>(_ body: () throws -> T) throws -> T {
            func unstaged(_ path: String) -> String { path.hasPrefix(staging + "/") ? destination + path.dropFirst(staging.count) : path }
            do { return try body() } catch let error as FileWriteError {
                throw FileWriteError(path: unstaged(error.path), reason: error.reason)
            } catch let error as FileAccessError {
                throw FileAccessError(path: unstaged(error.path), reason: error.reason)
            } catch let ToolchainError.compilationFailed(device, output, firstError) {
                throw ToolchainError.compilationFailed(device: device, output: unstaged(output), firstError: firstError)
            } catch let ToolchainError.notELF(path, reason) {
                throw ToolchainError.notELF(path: unstaged(path), reason: reason)
            }
        }

        progress("generating C in \(destination)/ (arena \(plans[options.precision]!.arenaBytes) bytes, lower bound \(plans[options.precision]!.lowerBoundBytes))")
        let files = files(primary: options.precision)
        let sources = try inStaging { try writeProject(directory: staging, generators: generators, files: files, graph: graph,
                                       description: description, device: device, architecture: architecture) }

        var onnx: String?, onnxInt8: String?
        try inStaging { try ONNXExporter.write(checkpoint: checkpoint, to: "\(staging)/model.onnx") }
        onnx = "\(destination)/model.onnx"
        if options.quantizedONNX {
            try inStaging {
                try ONNXExporter.write(checkpoint: checkpoint, to: "\(staging)/model.int8.onnx",
                                       options: ONNXExportOptions(precision: .qdq(ranges: ranges, activationType: .uint8)))
            }
            onnxInt8 = "\(destination)/model.int8.onnx"
        }

        progress("building with \(device.compiler.cc) \(device.compiler.flags.joined(separator: " ")) for \(device.name) (\(device.architecture.rawValue))")
        let builder = ProjectBuilder(device: device, extraFlags: options.extraCFlags)
        let scratch = "\(staging)/.build"
        let targets = ModelPrecision.allCases.map { ProjectBuilder.Target(modelSource: files[$0]!.source, binary: files[$0]!.binary) }
        let build = try inStaging {
            try builder.build(directory: staging, runtimeSources: sources.runtime, harnessSources: sources.harness,
                              targets: targets, scratch: scratch)
        }
        try? fileManager.removeItem(atPath: scratch)
        var codeSizes: [ModelPrecision: ProjectBuilder.CodeSize] = [:]
        for precision in ModelPrecision.allCases { codeSizes[precision] = build.codeSizes[files[precision]!.source] }

        var accuracy: [ModelPrecision: Double] = [:]
        var peak: [ModelPrecision: Int] = [:]
        var latency: [ModelPrecision: LatencyMeasurement] = [:]
        var testCount: Int?
        if options.measure {
            let runner = makeRunner(for: device)
            try runner.prepare()
            defer { try? runner.cleanup() }
            var uploadedTests: TestImages?
            if let testImages {
                progress("uploading test images to \(device.name)")
                uploadedTests = TestImages(images: try runner.upload(testImages.images), labels: try runner.upload(testImages.labels))
            }
            for precision in [options.precision, options.precision == .int8 ? .float32 : .int8] {
                let binary = try runner.upload(build.binaries[files[precision]!.source]!)
                if let tests = uploadedTests {
                    progress("running the \(precision.rawValue) binary on the test images (\(device.name))")
                    let result = try ModelRun.classify(runner: runner, binary: binary, tests: tests, limit: options.testImageLimit,
                                                       timeout: options.runTimeout)
                    accuracy[precision] = result.accuracy
                    peak[precision] = result.peakResidentKiB
                    testCount = result.images
                }
                progress("timing the \(precision.rawValue) binary (\(options.benchRuns) runs)")
                latency[precision] = try ModelRun.bench(runner: runner, binary: binary, runs: options.benchRuns,
                                                        timeout: options.runTimeout)
            }
        }

        let quantizationTable = graph.tensors.indices.map { tensor in
            TensorQuantizationRecord(tensor: tensor, name: QuantizedNetwork.tensorName(tensor, graph),
                                     scale: quantized.tensors[tensor].scale, zeroPoint: quantized.tensors[tensor].zeroPoint,
                                     min: quantized.ranges[tensor].min, max: quantized.ranges[tensor].max)
        }
        let report = ExportReport(
            directory: destination, modelName: architecture.name, architectureHash: architecture.stableHash, device: device,
            precision: options.precision,
            binaries: Dictionary(uniqueKeysWithValues: ModelPrecision.allCases.map { ($0, "\(destination)/\(files[$0]!.binary)") }),
            onnx: onnx, onnxInt8: onnxInt8, dataset: metadata.dataset, testImages: testCount,
            checkpointTestAccuracy: metadata.testAccuracy, accuracy: accuracy, peakResidentKiB: peak, codeSizes: codeSizes,
            allKernelsTextBytes: build.allKernelsTextBytes,
            weightBytes: generators.mapValues(\.weightBytes),
            quantizationConstantBytes: generators[.int8]!.quantizationConstantBytes, plans: plans,
            unplannedPeakBytes: CostModel.costs(of: graph).peakActivationBytesInt8, latency: latency,
            calibrationImages: ranges.images, calibrationMethod: label(options.calibrationMethod),
            quantization: quantizationTable, seconds: Date().timeIntervalSince(start))
        try inStaging { try AtomicFile.write(try report.manifest().jsonData(pretty: true) + Data("\n".utf8), to: "\(staging)/export.json") }

        try replaceDirectory(destination, with: staging)
        finished = true
        return report
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
        for file in RuntimeSources.files {
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
        let ordered = files.sorted { $0.value.binary < $1.value.binary }
        var text = """
        # Makefile - \(description.modelName) inference binaries for device \(device.name) (\(device.architecture.rawValue)).
        # Generated by autoshrink \(description.exporterVersion). `make` builds \(ordered.map(\.value.binary).joined(separator: " and ")).

        CC = \(device.compiler.cc)
        CFLAGS = \((Toolchain.baseFlags + device.compiler.flags + ProjectBuilder.sectionFlags).joined(separator: " "))
        CPPFLAGS = -I. -Iruntime/include
        LDFLAGS = -Wl,--gc-sections\(device.compiler.ldflags.isEmpty ? "" : " " + device.compiler.ldflags.joined(separator: " "))
        LDLIBS = -lm

        RUNTIME = \(runtime.joined(separator: " \\\n\t"))
        HARNESS = main.c idx.c
        HEADERS = model.h idx.h estimator.h runtime/include/autoshrink_runtime.h

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
        enum CodingKeys: String, CodingKey {
            case runs, simd, cpu, medianMilliseconds = "median_ms", p90Milliseconds = "p90_ms"
            case estimateMilliseconds = "estimate_ms", ciLowMilliseconds = "ci_low_ms", ciHighMilliseconds = "ci_high_ms"
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

    /// `model --bench RUNS --json` on the device.
    public static func bench(runner: any DeviceRunner, binary: String, runs: Int, timeout: Double) throws -> LatencyMeasurement {
        let summary = try runJSON(BenchSummary.self, runner: runner, binary: binary, arguments: ["--bench", String(runs), "--json"],
                                  timeout: timeout)
        guard let median = summary.medianMilliseconds, let p90 = summary.p90Milliseconds else {
            throw ExportError("device \(runner.device.name): the bench printed no latency")
        }
        return LatencyMeasurement(medianMilliseconds: median, p90Milliseconds: p90, runs: summary.runs ?? runs,
                                  simd: summary.simd ?? "", emulated: runner.device.runner.kind == .qemu,
                                  estimateMilliseconds: summary.estimateMilliseconds, ciLowMilliseconds: summary.ciLowMilliseconds,
                                  ciHighMilliseconds: summary.ciHighMilliseconds, cpu: summary.cpu)
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
