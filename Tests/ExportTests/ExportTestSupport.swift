import AutoShrinkData
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkEngine
import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkExport
#if canImport(Glibc)
import Glibc
#endif

/// Shared fixtures of the exporter tests: devices, small networks, data and process helpers.
enum ExportFixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let context = ExecutionContext(threads: 2)
    static let fashionDirectory = DatasetKind.fashionMNIST.defaultDirectory
    static let hasFashionMNIST = FileManager.default.fileExists(atPath: "\(fashionDirectory)/t10k-images-idx3-ubyte.gz")
        || FileManager.default.fileExists(atPath: "\(fashionDirectory)/t10k-images-idx3-ubyte")
    static let hasAArch64 = findExecutable("aarch64-linux-gnu-gcc") != nil && findExecutable("qemu-aarch64") != nil
        && FileManager.default.fileExists(atPath: "/usr/aarch64-linux-gnu/lib")
    static let hasGCC = findExecutable("gcc") != nil

    /// The shipped `local` device (gcc -O3 -march=native).
    static func device(_ name: String) throws -> DeviceDescription {
        try DeviceDescription.load(path: "\(repositoryRoot)/devices/\(name).toml")
    }

    /// A fresh temporary directory.
    static func temporaryDirectory(_ label: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autoshrink-export-tests-\(label)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// 4 classes on 16x16: a bright 6x6 square in quadrant k over noise (clear margins after a few steps).
    static func quadrants(count: Int, seed: UInt64) -> Dataset {
        var generator = SeededGenerator(seed: seed)
        var pixels = [UInt8](repeating: 0, count: count * 256)
        var labels = [Int32](repeating: 0, count: count)
        for image in 0..<count {
            let label = Int(generator.next() % 4)
            labels[image] = Int32(label)
            let top = (label / 2) * 8 + 1, left = (label % 2) * 8 + 1
            for y in 0..<16 {
                for x in 0..<16 {
                    let inside = (top..<(top + 6)).contains(y) && (left..<(left + 6)).contains(x)
                    let noise = Int(generator.next() % 96)
                    pixels[image * 256 + y * 16 + x] = UInt8(inside ? 159 + noise : noise)
                }
            }
        }
        return Dataset(name: "quadrants", split: .train, channels: 1, height: 16, width: 16, classCount: 4,
                       rawPixels: pixels, labels: labels)
    }

    /// A cell network with every operator the exporter writes: a relu6 stem, node concats (free and
    /// copied), a leaf concat, residual adds with and without 1x1 projection, two cells per stage (a cell
    /// input that is an add output), a reducing stage (max-pool node 0 and a stride-2 projection), dropout.
    static func cellArchitecture(classes: Int = 4, input: InputShape = InputShape(channels: 1, height: 16, width: 16)) -> Architecture {
        // node 1 = sepconv(n0); node 2 = conv1x1(n0, n1); node 3 = sepconv(n1, n2); node 4 = conv1x1(n0, n1).
        // Node 4's concat holds n0 and n1, node 2's concat is a view of it, node 3's concat holds n2 and
        // copies (requantizes) n1; the leaves 3 and 4 are written into the output concat.
        let cell = CellDAG(nodes: 5, operations: [.input, .sepconv3x3, .conv1x1, .sepconv3x3, .conv1x1],
                           edges: [Edge(0, 1), Edge(0, 2), Edge(1, 2), Edge(1, 3), Edge(2, 3), Edge(0, 4), Edge(1, 4)])
        return Architecture(name: "export-cell", input: input, classes: classes,
                            stem: [StemLayer(.conv, outputChannels: 8, kernel: 3, stride: 1, activation: .relu6)],
                            cell: cell, stages: [Stage(width: 4, pool: 1, cells: 2), Stage(width: 8, pool: 2)],
                            head: Head(dropout: 0.2))
    }

    /// Trains `architecture` briefly on quadrant images (batch-norm statistics move off 0/1) and returns
    /// the checkpoint (reloaded from disk), training and test data.
    static func quadrantCheckpoint(_ architecture: Architecture, directory: String, steps: Int = 2) throws -> (Checkpoint, Dataset, Dataset) {
        let train = quadrants(count: 256, seed: 1)
        let test = quadrants(count: 64, seed: 2).normalized(with: train.normalization)
        let network = Network(architecture: architecture, context: context, seed: 3)
        let trainer = Trainer(network: network, configuration: TrainingConfiguration(
            epochs: steps, batchSize: 32, optimizer: OptimizerConfiguration(kind: .adam, learningRate: 0.01, weightDecay: 0),
            schedule: .constant, seed: 4))
        _ = trainer.fit(train: train, validation: nil)
        let metadata = CheckpointMetadata(dataset: train.name, epochs: steps, testAccuracy: nil, validationAccuracy: nil, seed: 3,
                                          normalizationMean: train.normalization.mean, normalizationStd: train.normalization.std)
        let path = "\(directory)/model.ckpt"
        try Checkpoint(network: network, metadata: metadata).write(to: path)
        return (try Checkpoint.load(path: path), train, test)
    }

    /// Logits [image][class] of the float engine in inference mode.
    static func engineLogits(_ network: Network, _ dataset: Dataset) -> [[Float]] {
        let graph = network.graph
        graph.prepare(batch: dataset.count)
        dataset.images.withUnsafeBufferPointer { graph.setInput($0.baseAddress!, batch: dataset.count) }
        graph.forward(batch: dataset.count, training: false)
        let logits = graph.value(graph.output)
        return (0..<dataset.count).map { image in (0..<logits.channels).map { logits.data[$0 * dataset.count + image] } }
    }

    static func argmax(_ values: [Float]) -> Int { values.indices.max { values[$0] < values[$1] || (values[$0] == values[$1] && $0 > $1) }! }

    /// Export options for tests: no device runs, warnings are errors.
    static func buildOnlyOptions(calibration: Int = 64) -> ExportOptions {
        var options = ExportOptions()
        options.calibrationImages = calibration
        options.measure = false
        options.extraCFlags = ["-Werror"]
        return options
    }

    /// Runs a program (test plumbing) and returns its status and output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 300) throws -> RunResult {
        let path = executable.contains("/") ? executable : (findExecutable(executable) ?? executable)
        guard case .finished(let result) = try runSubprocess(executable: path, arguments: arguments, timeout: timeout) else {
            throw ExportError("\(executable) timed out")
        }
        return result
    }

    /// Per-image lines "index class scores..." of a model binary's output.
    static func parsePredictions(_ output: String) -> [(predicted: Int, scores: [Float])] {
        output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 2, let first = fields.first, Int(first) != nil, let predicted = Int(fields[1]) else { return nil }
            return (predicted, fields.dropFirst(2).compactMap { Float($0) })
        }
    }
}

/// A private sshd on 127.0.0.1 from tools/test-sshd (its own config, host key and client key).
struct ExportTestSSHServer {
    static let isAvailable = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"].contains { FileManager.default.isExecutableFile(atPath: $0) }
        && findExecutable("ssh") != nil && findExecutable("scp") != nil && findExecutable("ssh-keygen") != nil

    let directory: String
    let port: Int

    /// Starts sshd, or returns nil with the reason when it cannot start.
    static func start() throws -> (server: ExportTestSSHServer?, problem: String) {
        let directory = try ExportFixtures.temporaryDirectory("sshd")
        var problem = ""
        for _ in 0..<3 {
            let port = Int.random(in: 20000..<60000)
            let result = try ExportFixtures.run("\(ExportFixtures.repositoryRoot)/tools/test-sshd", ["start", directory, String(port)])
            if result.exitStatus == 0 { return (ExportTestSSHServer(directory: directory, port: port), "") }
            problem = (result.stderr + result.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try? FileManager.default.removeItem(atPath: directory)
        return (nil, problem)
    }

    func stop() {
        _ = try? ExportFixtures.run("\(ExportFixtures.repositoryRoot)/tools/test-sshd", ["stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// An x86_64 device that logs in to this server (gcc with `flags`, so it can match an export's toolchain).
    func device(compiler: CompilerSettings) -> DeviceDescription {
        let settings = SSHSettings(
            host: "127.0.0.1", user: String(cString: getpwuid(getuid()).pointee.pw_name), port: port,
            remoteDirectory: "\(directory)/remote", identityFile: "\(directory)/client_ed25519_key",
            options: ["-o", "UserKnownHostsFile=\(directory)/known_hosts", "-o", "GlobalKnownHostsFile=/dev/null",
                      "-o", "IdentitiesOnly=yes"])
        return DeviceDescription(name: "test-ssh", architecture: .x86_64, compiler: compiler, runner: .ssh(settings))
    }
}
