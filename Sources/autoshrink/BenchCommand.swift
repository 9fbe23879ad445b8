import AutoShrinkFormats
import ArgumentParser
import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkModel
import Foundation

/// `autoshrink bench`: benchmarks that print figures.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks that print figures.", subcommands: [BenchTrainCommand.self])
}

/// `autoshrink bench train`: training and inference throughput on random data after warm-up.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Training and inference images/s of an architecture on random data.")

    @Option(help: "Architecture: built-in name or *.arch.json.") var arch: String = "refnet"
    @Option(parsing: .unconditional, help: "Images per batch.") var batchSize: Int = 64
    @Option(help: "Input shape CxHxW for built-in architectures.") var input: String = "1x28x28"
    @Option(parsing: .unconditional, help: "Timed repetitions (the median is reported).") var repeats: Int = 5
    @Option(parsing: .unconditional, help: "Training steps per repetition.") var steps: Int = 20
    @Flag(help: "Also print training forward/backward and inference milliseconds per layer.") var layers = false
    @OptionGroup var engine: EngineOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        try OptionCheck.integer(batchSize, "--batch-size", in: 1...65_536)
        try OptionCheck.integer(repeats, "--repeats", in: 1...10_000)
        try OptionCheck.integer(steps, "--steps", in: 1...1_000_000)
        guard batchSize >= 1, repeats >= 1, steps >= 1 else { throw ValidationError("--batch-size, --repeats and --steps must be positive") }
        guard parsedInput != nil else { throw ValidationError("--input must look like 1x28x28 (channels at most \(InputLimits.maximumChannels), sides at most \(InputLimits.maximumImageSide))") }
    }

    var parsedInput: InputShape? {
        let parts = input.split(separator: "x").compactMap { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ $0 > 0 }), parts[0] <= InputLimits.maximumChannels,
              parts[1] <= InputLimits.maximumImageSide, parts[2] <= InputLimits.maximumImageSide else { return nil }
        return InputShape(channels: parts[0], height: parts[1], width: parts[2])
    }

    func run() throws {
        let out = Output(options: output)
        let context = engine.makeContext(output: out)
        let architecture = try resolveArchitecture(arch, input: parsedInput!, classes: 10)
        try checkTrainingFits(architecture, batchSize: batchSize, source: arch)
        let network = Network(architecture: architecture, context: context, seed: engine.seed)
        out.line("bench train: \(architecture.name), batch \(batchSize), \(engine.threads) threads, \(BLASConfiguration.summary)")
        // Random images and labels, one batch's worth, reused every step.
        let count = batchSize * 8
        let imageSize = architecture.input.channels * architecture.input.height * architecture.input.width
        var generator = SeededGenerator(seed: engine.seed)
        let pixels = (0..<(count * imageSize)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let labels = (0..<count).map { _ in Int32(generator.nextInt(below: architecture.classes)) }
        let dataset = Dataset(name: "random", split: .train, channels: architecture.input.channels,
                              height: architecture.input.height, width: architecture.input.width,
                              classCount: architecture.classes, rawPixels: pixels, labels: labels)
        let images = dataset.images
        let trainer = Trainer(network: network, configuration: TrainingConfiguration(
            epochs: 1, batchSize: batchSize, optimizer: OptimizerConfiguration(kind: .sgd, learningRate: 0.01, weightDecay: 5e-4)))
        let batches = (0..<8).map { Array(($0 * batchSize)..<(($0 + 1) * batchSize))[...] }
        for step in 0..<5 { trainer.trainStep(dataset, indices: batches[step % 8]) }   // warm-up
        var trainRates: [Double] = [], trainCPURates: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now(), cpuStart = processCPUSeconds()
            for step in 0..<steps { trainer.trainStep(dataset, indices: batches[step % 8]) }
            trainRates.append(Double(steps * batchSize) / elapsed(since: start))
            trainCPURates.append(Double(steps * batchSize) / (processCPUSeconds() - cpuStart))
        }
        let graph = network.graph
        if layers {
            graph.profiling = true
            for step in 0..<steps { trainer.trainStep(dataset, indices: batches[step % 8]) }
            let training = (forward: graph.forwardSeconds, backward: graph.backwardSeconds)
            graph.profiling = false
            // Inference per layer: a fresh profile of forward passes without training.
            graph.profiling = true
            images.withUnsafeBufferPointer { graph.setInput($0.baseAddress!, batch: batchSize) }
            for _ in 0..<steps { graph.forward(batch: batchSize, training: false) }
            let inference = zip(graph.forwardSeconds, training.forward).map { $0 - $1 }
            graph.profiling = false
            out.result("layer                                     shape        forward ms  backward ms  inference ms")
            for (index, node) in graph.nodes.enumerated() {
                let name = String(describing: type(of: node.layer))
                out.result(String(format: "%-4d %-36@ %-12@ %9.3f  %9.3f  %9.3f", index, name, graph.shapes[node.output].description,
                                  training.forward[index] * 1000 / Double(steps), training.backward[index] * 1000 / Double(steps),
                                  inference[index] * 1000 / Double(steps)))
            }
        }
        var inferRates: [Double] = [], inferCPURates: [Double] = []
        images.withUnsafeBufferPointer { graph.setInput($0.baseAddress!, batch: batchSize) }
        for _ in 0..<3 { graph.forward(batch: batchSize, training: false) }
        for _ in 0..<repeats {
            let start = DispatchTime.now(), cpuStart = processCPUSeconds()
            for step in 0..<steps {
                images.withUnsafeBufferPointer { graph.setInput($0.baseAddress! + (step % 8) * batchSize * imageSize, batch: batchSize) }
                graph.forward(batch: batchSize, training: false)
            }
            inferRates.append(Double(steps * batchSize) / elapsed(since: start))
            inferCPURates.append(Double(steps * batchSize) / (processCPUSeconds() - cpuStart))
        }
        let train = median(trainRates), infer = median(inferRates)
        out.result(String(format: "train %.0f images/s  infer %.0f images/s  (median of %d x %d steps; train min %.0f max %.0f)",
                          train, infer, repeats, steps, trainRates.min()!, trainRates.max()!))
        // Images per CPU-second of this process: with --threads 1 it does not count the time the
        // process waited for a core, so it stays comparable on a busy machine (docs/benchmarks.md).
        out.result(String(format: "per CPU-second: train %.0f images  infer %.0f images", median(trainCPURates), median(inferCPURates)))
        out.json(BenchSummary(trainImagesPerSecond: train, inferImagesPerSecond: infer,
                              trainImagesPerCPUSecond: median(trainCPURates), inferImagesPerCPUSecond: median(inferCPURates),
                              batchSize: batchSize, threads: engine.threads, architecture: architecture.name,
                              blasCore: BLASConfiguration.coreName))
    }
}

/// CPU time used so far by all threads of this process, in seconds.
func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func elapsed(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}
