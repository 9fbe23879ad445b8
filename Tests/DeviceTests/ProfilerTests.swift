import AutoShrinkModel
import Foundation
import Testing
import AutoShrinkTestSupport
#if canImport(Glibc)
import Glibc
#endif
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// A space small enough to profile in seconds: 3-node cells, widths 4/8/16, 8x8 inputs, 3 classes.
let tinySpace = ProfileSpace.cellSpace(name: "tiny", nodes: 3, baseWidth: 4,
                                       input: InputShape(channels: 1, height: 8, width: 8), classes: 3)

/// Fast options for the tiny space: int8 only, 2 rounds (one per harness run) of 2 samples of >= 50 us,
/// 6 networks, no re-measuring.
func tinyOptions() -> ProfilerOptions {
    var options = ProfilerOptions(space: tinySpace, dtypes: [.int8], repeats: 4, rounds: 2, sampleMicroseconds: 50, networks: 6,
                                  runTimeout: 120)
    options.roundsPerRun = 1
    options.remeasureBudget = 0
    options.remeasureMinimumSeconds = 0
    return options
}

/// Builds the harness for `device` and stages it with the device's runner.
func stagedHarness(_ device: DeviceDescription, in directory: TemporaryDirectory) throws -> DeviceHarness {
    let binary = try HarnessBuilder(device: device).build(in: directory.file("build-\(device.name)"))
    return try DeviceHarness.upload(binary, runner: makeRunner(for: device), localDirectory: directory.path)
}

/// Fixed-seed int8 networks whose output checksums must agree across architectures.
func checksumNetworks() throws -> [HarnessNetwork] {
    let operations = BuiltinArchitectures.nodeOperations(nodes: 5, seed: 2)
    let pruned = CellDAG(nodes: 5, operations: operations, edges: [Edge(0, 1), Edge(0, 3), Edge(1, 2), Edge(1, 4), Edge(3, 4)])
    let architectures = [BuiltinArchitectures.refnet(), BuiltinArchitectures.architecture(named: "shrinkcnn-full")!,
                         BuiltinArchitectures.shrinkCNN(cell: pruned, name: "pruned")]
    var networks = try architectures.enumerated().map {
        try HarnessNetwork(graph: $1.lowered(), name: $1.name, dtype: .int8, seed: 42 + UInt64($0))
    }
    // One of every operator kind on odd shapes, too.
    let odd: [OperatorConfiguration] = [
        .init(kind: .convolution, dtype: .int8, inputChannels: 3, outputChannels: 13, height: 9, width: 11, stride: 2, kernel: 3),
        .init(kind: .pointwise, dtype: .int8, inputChannels: 37, outputChannels: 19, height: 7, width: 5, stride: 2),
        .init(kind: .depthwise, dtype: .int8, inputChannels: 21, outputChannels: 21, height: 9, width: 7, stride: 2, kernel: 3),
        .init(kind: .maxPool, dtype: .int8, inputChannels: 9, outputChannels: 9, height: 7, width: 6, stride: 2, kernel: 2),
        .init(kind: .concat, dtype: .int8, inputChannels: 23, outputChannels: 23, height: 5, width: 5, inputs: 3),
        .init(kind: .add, dtype: .int8, inputChannels: 17, outputChannels: 17, height: 6, width: 3, inputs: 2),
        .init(kind: .globalAveragePool, dtype: .int8, inputChannels: 33, outputChannels: 33, height: 5, width: 7),
        .init(kind: .linear, dtype: .int8, inputChannels: 70, outputChannels: 11, height: 1, width: 1),
        .init(kind: .pointwiseAdd, dtype: .int8, inputChannels: 37, outputChannels: 19, height: 7, width: 5, stride: 2),
    ]
    networks += odd.enumerated().map { HarnessNetwork(operator: $1, name: "odd-\($1.kind.rawValue)", seed: 7 + UInt64($0)) }
    return networks
}

@Suite("Profiler: harness, profiling runs and their errors")
struct ProfilerTests {
    @Test("timing summary: 10th percentile of per-round medians with its interval; p10/p90 of the samples below the Q3 + 3 IQR fence")
    func timingSummary() throws {
        // Three rounds; the second was disturbed throughout, one sample of the third is a preemption.
        let rounds: [[Double]] = [[10_000, 10_400, 10_200], [14_000, 15_000, 14_500], [10_100, 900_000, 10_300]]
        let summary = try #require(TimingSummary(rounds: rounds))
        // round medians 10.2, 14.5, 10.3 us: 10th percentile 10.22; three rounds give the whole range as interval
        #expect(abs(summary.medianMicroseconds - 10.22) < 1e-9)
        #expect(summary.ciLowMicroseconds == 10.2 && summary.ciHighMicroseconds == 14.5 && summary.rounds == 3)
        #expect(summary.samples == 9)
        #expect(summary.kept == 8, "only the 900 us sample is beyond the fence")
        #expect(summary.p90Microseconds < 16 && summary.p10Microseconds >= 10)
        #expect(TimingSummary(rounds: []) == nil)
        #expect(TimingSummary(rounds: [[]]) == nil)
        #expect(TimingSummary(rounds: [[5_000]])?.medianMicroseconds == 5)
    }

    @Test("the harness built for this machine times a few operators with sane numbers")
    func localHarness() throws {
        let directory = try TemporaryDirectory("harness")
        defer { directory.remove() }
        let device = localDevice()
        let harness = try stagedHarness(device, in: directory)
        defer { try? harness.runner.cleanup() }
        func pointwise(_ channels: Int, _ size: Int, _ dtype: OperatorDataType) -> OperatorConfiguration {
            OperatorConfiguration(kind: .pointwise, dtype: dtype, inputChannels: channels, outputChannels: channels, height: size, width: size)
        }
        let small = pointwise(8, 4, .int8), large = pointwise(128, 28, .int8), largeFloat = pointwise(128, 28, .float32)
        let networks = [HarnessNetwork(operator: small, name: "small", seed: 1), HarnessNetwork(operator: large, name: "large", seed: 2),
                        HarnessNetwork(operator: largeFloat, name: "large-f32", seed: 2),
                        try HarnessNetwork(graph: BuiltinArchitectures.refnet().lowered(), name: "refnet", dtype: .int8, seed: 3)]
        let output = try harness.time(networks, rounds: 5, perRound: 1, sampleMicroseconds: 200, timeout: 60)
        #expect(output.simdPath != nil)
        #expect(output.cpu != nil, "the harness pins itself to the least loaded core by default")
        #expect((output.peakRSSKilobytes ?? 0) > 100)
        #expect(output.samples.map(\.name) == networks.map(\.name))
        var summaries: [String: TimingSummary] = [:]
        for samples in output.samples {
            #expect(samples.nanoseconds.count == 5)
            #expect(samples.batch >= 1)
            #expect(samples.outputChecksum.count == 8)
            // The harness's own estimate (estimator.h) is what the Swift twin computes from its samples.
            let harnessEstimate = try #require(samples.estimate)
            let twin = try #require(RoundEstimator.estimate(samples: samples.nanoseconds, perRound: samples.perRound))
            #expect(samples.perRound == 1 && harnessEstimate.rounds == 5 && twin.rounds == 5)
            #expect(abs(twin.value - harnessEstimate.value) <= 0.05 + 1e-9 * twin.value, "\(samples.name): \(twin) vs \(harnessEstimate)")
            #expect(twin.low == harnessEstimate.low && twin.high == harnessEstimate.high)
            let summary = try #require(TimingSummary(rounds: samples.rounds))
            #expect(summary.medianMicroseconds > 0)
            #expect(summary.p10Microseconds <= summary.p90Microseconds && summary.medianMicroseconds <= summary.p90Microseconds)
            #expect((1...5).contains(summary.kept))
            summaries[samples.name] = summary
        }
        let batches = Dictionary(uniqueKeysWithValues: output.samples.map { ($0.name, $0.batch) })
        // 12.8 M vs 1 K multiply-accumulates: no amount of noise turns that around.
        #expect(summaries["large"]!.medianMicroseconds > 20 * summaries["small"]!.medianMicroseconds)
        #expect(batches["small"]! > batches["large"]!, "tiny operators are batched per sample")

        // `check` computes the same outputs as the timed runs.
        let checked = try harness.check(networks, timeout: 60)
        for samples in output.samples { #expect(checked.checksums[samples.name]?.output == samples.outputChecksum) }
        // A different seed gives different data.
        let reseeded = try harness.check([HarnessNetwork(operator: large, name: "large", seed: 9)], timeout: 60)
        #expect(reseeded.checksums["large"]?.output != checked.checksums["large"]?.output)

        // A broken plan is the harness's own one-line error, reported with the device and the step.
        var broken = HarnessNetwork(operator: small, name: "broken", seed: 1)
        broken.body[1] = "tensor 8 5 5"
        do {
            _ = try harness.check([broken], timeout: 60)
            Issue.record("a plan with mismatched shapes ran")
        } catch let error as ProfileError {
            #expect(error.description == "device test-local: run harness: the harness exited with status 2: harness: tensor shapes do not match the layer in line: pointwise 1 0 1 1")
        }
    }

    @Test("an aarch64 harness under qemu computes bit-identical int8 outputs to the x86_64 build",
          .enabled(if: hasAArch64Toolchain, "aarch64-linux-gnu-gcc, qemu-aarch64 or /usr/aarch64-linux-gnu missing (tools/setup)"))
    func qemuChecksumsMatch() throws {
        let directory = try TemporaryDirectory("harness-qemu")
        defer { directory.remove() }
        let networks = try checksumNetworks()
        let native = try stagedHarness(try shippedDevice("local"), in: directory)
        defer { try? native.runner.cleanup() }
        let emulated = try stagedHarness(try shippedDevice("qemu-aarch64"), in: directory)
        defer { try? emulated.runner.cleanup() }
        let nativeOutput = try native.check(networks, timeout: 120)
        let emulatedOutput = try emulated.check(networks, timeout: 300)
        #expect(emulatedOutput.simdPath?.hasPrefix("aarch64") == true, "\(emulatedOutput.simdPath ?? "nil")")
        #expect(nativeOutput.simdPath?.hasPrefix("x86") == true, "\(nativeOutput.simdPath ?? "nil")")
        #expect(nativeOutput.checksums.count == networks.count)
        for network in networks {
            let x86 = try #require(nativeOutput.checksums[network.name]), arm = try #require(emulatedOutput.checksums[network.name])
            #expect(x86.output == arm.output, "\(network.name): output checksum x86_64 \(x86.output) != aarch64 \(arm.output)")
            #expect(x86.all == arm.all, "\(network.name): some intermediate tensor differs")
        }
        // The networks' outputs are not all alike (a degenerate network would pass trivially).
        #expect(Set(networks.compactMap { nativeOutput.checksums[$0.name]?.output }).count == networks.count)
    }

    @Test("a tiny space profiles locally end to end; the profile loads and predicts its own networks")
    func profileLocally() throws {
        let directory = try TemporaryDirectory("profile-local")
        defer { directory.remove() }
        var events: [String] = []
        let path = directory.file("profiles/test-local.json")
        let profile = try Profiler(device: localDevice(), options: tinyOptions()).run(writingTo: path) { event in
            if case let .progress(phase, done, total, _) = event { events.append("\(phase) \(done)/\(total)") }
        }
        let operators = try tinySpace.operators(dtypes: [.int8])
        #expect(profile.entries.count == operators.count)
        #expect(profile.entries.map(\.configuration) == operators)
        #expect(profile.entries.allSatisfy { $0.medianMicroseconds > 0 && $0.repetitions >= 1 })
        #expect(profile.networks.count == 6)
        #expect(profile.networks.filter { $0.role == "fit" }.count == 3)
        #expect(profile.networks.filter { $0.role == "heldout" }.count == 3)
        #expect(profile.predictor.heldoutMAPE != nil)
        #expect(profile.networks.allSatisfy { $0.measuredMilliseconds > 0 && $0.tableSumMilliseconds > 0 })
        #expect(profile.runtime.hash == RuntimeSources.hash)
        #expect(profile.harness.peakRSSBytes != nil)
        #expect(profile.environment.cpuModel != nil)
        #expect(events.first == "operators (\(operators.count)) 0/2")
        #expect(events.contains("networks (6) 2/2"))
        // Every estimate carries its interval; the noise of both phases is recorded; nothing re-measured without budget.
        #expect(profile.entries.allSatisfy { entry in
            entry.rounds == 2 && entry.ciLowMicroseconds.map { $0 <= entry.medianMicroseconds } == true
                && entry.ciHighMicroseconds.map { $0 >= entry.medianMicroseconds } == true
        })
        #expect(profile.networks.allSatisfy { $0.ciLowMilliseconds != nil && $0.ciHighMilliseconds != nil })
        let noise = try #require(profile.harness.noise)
        #expect(noise.map(\.items) == [operators.count, 6])
        #expect(noise.allSatisfy { $0.remeasured == 0 && $0.stillWide == $0.wideAfterFirstPass && $0.medianCIWidth >= 0 })
        #expect(profile.harness.runs == 4)
        #expect((profile.harness.cores ?? []).count + (profile.harness.unpinnedRuns ?? 0) >= 1)

        let predictor = try ProfileLatencyPredictor.load(path: path)
        for network in tinySpace.sampleNetworks(count: 6, seed: 1) {
            let graph = network.architecture.lowered()
            #expect(try predictor.missingConfigurations(graph).isEmpty)
            #expect(try predictor.predictLatencyMilliseconds(graph) > 0)
        }
    }

    @Test("entries whose interval is wider than the threshold are measured again, within the time budget")
    func remeasuresWideEntries() throws {
        var options = tinyOptions()
        options.networks = 2
        options.remeasureHalfWidth = 0  // every interval is "wide": the budget alone ends re-measuring
        options.remeasureBudget = 3
        options.pinning = .core(0)
        let profile = try Profiler(device: localDevice(), options: options).run()
        let noise = try #require(profile.harness.noise)
        let operators = noise[0]
        #expect(operators.remeasured > 0 && operators.remeasured <= operators.items)
        #expect(operators.remeasureSeconds > 0)
        #expect(operators.remeasureSeconds <= 3 * operators.firstPassSeconds + 1)
        // re-measured entries have more rounds than the first pass's 2
        #expect(profile.entries.contains { ($0.rounds ?? 0) > 2 })
        #expect(profile.harness.runs > 4)
        #expect(profile.harness.cores == [0])
    }

    @Test("profiling over SSH against a real sshd on 127.0.0.1 with a device file",
          .enabled(if: TestSSHServer.isAvailable, "sshd, ssh, scp or ssh-keygen missing, so no sshd can start (tools/setup installs openssh-server and openssh-client)"))
    func profileOverSSH() throws {
        let server = try TestSSHServer.start()
        defer { server.stop() }
        let directory = try TemporaryDirectory("profile-ssh")
        defer { directory.remove() }
        let user = String(cString: getpwuid(getuid()).pointee.pw_name)
        let deviceFile = try directory.write("test-ssh.toml", """
            name = "test-ssh"
            arch = "x86_64"
            threads = 1
            notes = "loopback sshd for the profiler test"

            [compiler]
            cc = "gcc"
            flags = ["-O2"]

            [runner]
            kind = "ssh"
            host = "127.0.0.1"
            port = \(server.port)
            user = "\(user)"
            remote_dir = "\(server.directory.path)/remote"
            identity_file = "\(server.directory.file("client_ed25519_key"))"
            ssh_options = ["-o", "UserKnownHostsFile=\(server.directory.file("known_hosts"))", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes"]
            """)
        let device = try DeviceDescription.load(path: deviceFile)
        let path = directory.file("test-ssh.json")
        let profile = try Profiler(device: device, options: tinyOptions()).run(writingTo: path)
        #expect(profile.device.name == "test-ssh")
        #expect(profile.device.description.runner.kind == .ssh)
        #expect(profile.entries.count == (try tinySpace.operators(dtypes: [.int8])).count)
        #expect(profile.environment.arch == "x86_64")
        #expect(try ProfileLatencyPredictor.load(path: path).identity.hasPrefix("test-ssh@"))
        // The harness and plans were removed from the device afterwards.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: "\(server.directory.path)/remote")) ?? []
        #expect(left.isEmpty, "\(left)")
    }

    @Test("failures are one line naming the device and the step, and leave an earlier profile untouched")
    func failures() throws {
        let directory = try TemporaryDirectory("profile-fail")
        defer { directory.remove() }
        let path = try directory.write("earlier.json", "{\"an\": \"earlier profile\"}\n")
        func failure(_ device: DeviceDescription) -> String {
            do {
                try Profiler(device: device, options: tinyOptions()).run(writingTo: path)
                return "succeeded"
            } catch {
                return "\(error)"
            }
        }

        var missingCompiler = localDevice(name: "pi-x")
        missingCompiler.compiler.cc = "aarch64-nonexistent-linux-gnu-gcc"
        #expect(failure(missingCompiler) == "device pi-x: build harness: compiler 'aarch64-nonexistent-linux-gnu-gcc' not found; run tools/setup")

        var unreachable = localDevice(name: "raspberry-pi-4")
        unreachable.runner = .ssh(SSHSettings(host: "127.0.0.1", port: try freeLoopbackPort(), remoteDirectory: "autoshrink",
                                              options: ["-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null"]))
        let message = failure(unreachable)
        #expect(message.hasPrefix("device raspberry-pi-4: prepare: cannot reach 127.0.0.1:"), "\(message)")
        #expect(!message.contains("\n"))

        var badSpace = tinyOptions()
        badSpace.space = .architecture(Architecture(name: "odd", input: ProfileSpace.defaultInput, classes: 10,
                                                    stem: [StemLayer(.conv, outputChannels: 8, kernel: 3),
                                                           StemLayer(.depthwise, outputChannels: 8, kernel: 7)]), name: "odd.arch.json")
        do {
            try Profiler(device: localDevice(name: "box"), options: badSpace).run(writingTo: path)
            Issue.record("an architecture without runtime kernels was profiled")
        } catch {
            #expect("\(error)".hasPrefix("device box: enumerate operators: layer stem1: the runtime has depthwise 3x3"))
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"an\": \"earlier profile\"}\n")
    }
}
