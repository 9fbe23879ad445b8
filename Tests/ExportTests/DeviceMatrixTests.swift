import AutoShrinkData
import AutoShrinkProfiler
import AutoShrinkTarget
import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkExport
#if canImport(Glibc)
import Glibc
#endif

/// Per-device correctness matrix (docs/devices.md, "Which CPUs each file stands for"): every file in devices/ loads;
/// every device whose compiler is installed exports a small int8 cell network; every device that can
/// run here runs it on 300 test images, real boards under the qemu CPU model that stands for them,
/// and prints exactly what the x86_64 build prints (predictions and int8 scores), without SIGILL.
///
/// Builds are shared by devices with the same compiler, flags and architecture (raspberry-pi-4 and
/// qemu-aarch64-a72, raspberry-pi-3-armv7 and qemu-armv7, local and ssh-localhost); ssh-localhost
/// needs a running sshd and is not run here (SSHRunnerTests and ExportPipelineTests cover SSH).
@Suite("Device matrix (every device file, cross builds, qemu CPU models)", .serialized,
       .enabled(if: ExportFixtures.hasGCC, "gcc not installed"))
struct DeviceMatrixTests {
    static let devicesDirectory = "\(ExportFixtures.repositoryRoot)/devices"

    /// The qemu CPU models that stand for each device that cannot run here itself (real boards
    /// reached over SSH); qemu devices also run under these in addition to their own `cpu`.
    /// A new board file must be added here, to expectedTier and expectedSIMDPath, and to the table in docs/devices.md.
    static let standIns: [String: [String]] = [
        "raspberry-pi-3-armv7": ["max"],                 // qemu-arm has no Cortex-A53 model: ARMv8 AArch32
        "raspberry-pi-4": ["cortex-a72", "cortex-a53"],  // A72; the A53 (Pi 3, Zero 2 W) has the same ISA
        "raspberry-pi-5": ["cortex-a76"],
        "jetson-orin-nano-cpu": ["max"],                 // Cortex-A78AE: qemu has no model, max is a superset
        "qemu-aarch64": ["cortex-a76"],                  // the dotprod device stands for A55/A76 (Pi 5)
        "qemu-aarch64-a72": ["cortex-a53"],
    ]

    /// Devices not run here: they need a service this test does not start.
    static let notRun: [String: String] = ["ssh-localhost": "needs a running sshd (tools/test-sshd)"]

    /// `as_runtime_simd_path()` each cross device's build must report (`model --bench`): a dotprod
    /// build for an A72 would die on the board, a plain NEON build for a Pi 5 would leave sdot unused.
    static let expectedSIMDPath: [String: String] = [
        "qemu-aarch64": "aarch64-neon-dotprod", "raspberry-pi-5": "aarch64-neon-dotprod",
        "jetson-orin-nano-cpu": "aarch64-neon-dotprod", "qemu-aarch64-i8mm": "aarch64-neon-i8mm",
        "qemu-aarch64-a72": "aarch64-neon", "raspberry-pi-4": "aarch64-neon",
        "qemu-armv7": "armv7-neon", "raspberry-pi-3-armv7": "armv7-neon", "x86-avx2": "x86-avx2",
    ]

    /// Whether this CPU runs an x86 tier's code (its /proc/cpuinfo flags): x86-avx2 needs avx2, fma and bmi2.
    static func cpuRuns(_ path: String) -> Bool {
        guard path == "x86-avx2", let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flags = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let present = Set(flags.split(separator: " ").map(String.init))
        return ["avx2", "fma", "bmi2"].allSatisfy(present.contains)
    }

    /// `as_simd_tier()` of each cross device's build (docs/devices.md's table).
    static let expectedTier: [String: String] = [
        "qemu-aarch64": "aarch64 NEON dotprod", "raspberry-pi-5": "aarch64 NEON dotprod",
        "jetson-orin-nano-cpu": "aarch64 NEON dotprod", "qemu-aarch64-i8mm": "aarch64 NEON i8mm",
        "qemu-aarch64-a72": "aarch64 NEON", "raspberry-pi-4": "aarch64 NEON",
        "qemu-armv7": "armv7 NEON", "raspberry-pi-3-armv7": "armv7 NEON", "x86-avx2": "x86 AVX2",
    ]

    /// The tier name of each hand-written path of `as_runtime_simd_path()`.
    static let tierOfPath: [String: String] = [
        "x86-avx512-vnni": "x86 AVX-512 VNNI", "x86-avx512": "x86 AVX-512", "x86-avx2-vnni": "x86 AVX2 + AVX-VNNI", "x86-avx2": "x86 AVX2",
        "aarch64-neon-i8mm": "aarch64 NEON i8mm", "aarch64-neon-dotprod": "aarch64 NEON dotprod", "aarch64-neon": "aarch64 NEON",
        "armv7-neon": "armv7 NEON",
    ]

    /// The result lines of a model run (per-image classes and scores, accuracy), without the `#`
    /// comment lines, which may name the build (e.g. its SIMD tier) and so differ between devices.
    static func results(_ stdout: String) -> [Substring] {
        stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
    }

    static func allDevices() throws -> [DeviceDescription] {
        try DeviceDescription.availableDeviceNames(in: devicesDirectory).map {
            try DeviceDescription.load(path: "\(devicesDirectory)/\($0).toml")
        }
    }

    /// The qemu runner settings of `device` under `cpu`: its own for qemu devices, else the usual
    /// emulator and sysroot for its architecture.
    static func qemuSettings(_ device: DeviceDescription, cpu: String) -> QemuSettings {
        var settings = QemuSettings.defaults(for: device.architecture)
        if case .qemu(let own) = device.runner { settings = own }
        settings.cpu = cpu
        return settings
    }

    @Test("every device file loads, is consistent, and says how it is checked here")
    func deviceFilesValidate() throws {
        let names = DeviceDescription.availableDeviceNames(in: Self.devicesDirectory)
        #expect(names.count >= 9, "devices/: \(names)")
        for name in ["qemu-aarch64", "qemu-aarch64-a72", "qemu-armv7"] {
            #expect(names.contains(name), "devices/\(name).toml is missing")
        }
        let documentation = try String(contentsOfFile: "\(ExportFixtures.repositoryRoot)/docs/devices.md", encoding: .utf8)
        for device in try Self.allDevices() {
            let file = "devices/\(device.name).toml"
            #expect(names.contains(device.name), "\(file): name differs from the file name")
            #expect(!device.notes.isEmpty, "\(file): no notes")
            let cc = (device.compiler.cc as NSString).lastPathComponent
            switch device.architecture {
            case .x86_64:
                #expect(cc == "gcc" || cc == "cc" || cc == "clang", "\(file): x86_64 with \(cc)")
            case .aarch64:
                #expect(cc.hasPrefix("aarch64-"), "\(file): aarch64 with \(cc)")
                #expect(!device.compiler.flags.contains("-march=native"), "\(file): -march=native in a cross build")
            case .armv7:
                #expect(cc.hasPrefix("arm-") && cc.contains("gnueabihf"), "\(file): armv7 with \(cc)")
                #expect(device.compiler.flags.contains("-mfloat-abi=hard") && device.compiler.flags.contains { $0.hasPrefix("-mfpu=neon") },
                        "\(file): armv7 without NEON and the hard-float ABI")
            }
            if case .qemu(let settings) = device.runner {
                let expected = device.architecture == .armv7 ? "qemu-arm" : "qemu-\(device.architecture.rawValue)"
                #expect((settings.binary as NSString).lastPathComponent == expected, "\(file): \(settings.binary) for \(device.architecture)")
            }
            // A device that cannot run here needs a qemu stand-in (or a stated reason); every file is in the docs' table.
            if case .ssh = device.runner, device.architecture != .x86_64 {
                #expect(Self.standIns[device.name] != nil, "\(file): no qemu CPU model stands for it in DeviceMatrixTests.standIns")
            } else if case .ssh = device.runner {
                #expect(Self.notRun[device.name] != nil, "\(file): an x86_64 SSH device the matrix neither runs nor explains")
            }
            if device.architecture != .x86_64 {
                #expect(Self.expectedTier[device.name] != nil && Self.expectedSIMDPath[device.name] != nil,
                        "\(file): its SIMD tier and path are not in DeviceMatrixTests.expectedTier / expectedSIMDPath")
            }
            let documented = documentation.contains("| `\(device.name)` |")
            #expect(documented, "docs/devices.md has no table row for \(device.name)")
        }
    }

    @Test("every device builds the exported model; each runs it under its qemu CPU models bit-identically to x86_64, no SIGILL")
    func correctnessMatrix() throws {
        let started = Date()
        let scratch = try ExportFixtures.temporaryDirectory("matrix")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // A deliberate SIGILL below must not leave a qemu core file in the working directory.
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        getrlimit(Int32(RLIMIT_CORE.rawValue), &noCore)
        noCore.rlim_cur = 0
        setrlimit(Int32(RLIMIT_CORE.rawValue), &noCore)

        let (checkpoint, train, _) = try ExportFixtures.quadrantCheckpoint(ExportFixtures.cellArchitecture(), directory: scratch)
        let test = ExportFixtures.quadrants(count: 300, seed: 11)
        let tests = try TestImages.write(test, directory: "\(scratch)/data")
        let devices = try Self.allDevices()
        let local = try #require(devices.first { $0.name == "local" })

        // One export per distinct toolchain (compiler, flags, architecture), the local one first.
        struct BuildKey: Hashable {
            var architecture: DeviceArchitecture, cc: String, flags: [String], ldflags: [String]
            init(_ device: DeviceDescription) {
                (architecture, cc, flags, ldflags) = (device.architecture, device.compiler.cc, device.compiler.flags, device.compiler.ldflags)
            }
        }
        var builds: [BuildKey: ExportReport] = [:]
        var buildOrder: [BuildKey] = []
        var unbuilt: [String] = []
        var tierBinaries: [BuildKey: String] = [:]
        let tierSource = "\(scratch)/tier.c"
        try """
            #include <stdio.h>
            #include "autoshrink_runtime.h"
            int main(void) { printf("%s|%s\\n", as_simd_tier(), as_runtime_simd_path()); return 0; }

            """.write(toFile: tierSource, atomically: true, encoding: .utf8)
        for device in [local] + devices {
            let key = BuildKey(device)
            if builds[key] != nil { continue }
            guard Toolchain(device: device).isAvailable else {
                unbuilt.append("\(device.name) (\(device.compiler.cc) not installed)")
                continue
            }
            let report = try ModelExporter.export(checkpoint: checkpoint, calibration: train, testImages: nil, device: device,
                                                  outputDirectory: "\(scratch)/deploy/\(device.name)",
                                                  options: ExportFixtures.buildOnlyOptions(), context: ExportFixtures.context)
            let expectedMachine = device.architecture == .armv7 ? "arm" : device.architecture.rawValue
            #expect(try ELFSectionSizes.read(path: report.binary).machineName == expectedMachine, "\(device.name)")
            builds[key] = report
            buildOrder.append(key)
            // The exported runtime names its SIMD tier (as_simd_tier, simd_tier.c) consistently with its path.
            let tierBinary = "\(scratch)/tier-\(device.name)"
            try Toolchain(device: device).compile(
                sources: [tierSource] + ["simd_tier.c", "layout.c"].map { "\(report.directory)/runtime/\($0)" },
                includeDirectories: ["\(report.directory)/runtime/include", "\(report.directory)/runtime"],
                output: tierBinary, extraFlags: ["-Werror", "-pedantic"])
            tierBinaries[key] = tierBinary
        }
        let buildSeconds = Date().timeIntervalSince(started)
        let reference = try #require(builds[BuildKey(local)])
        // The quantized model does not depend on the device: only the compiler differs.
        let referenceModel = try String(contentsOfFile: "\(reference.directory)/model.c", encoding: .utf8)
        for key in buildOrder {
            let model = try String(contentsOfFile: "\(builds[key]!.directory)/model.c", encoding: .utf8)
            let same = model == referenceModel
            #expect(same, "\(builds[key]!.device.name): model.c differs from the local export's")
        }

        let arguments = ["--idx", tests.images, "--labels", tests.labels]
        let native = try ExportFixtures.run(reference.binary, arguments)
        #expect(native.exitStatus == 0, "\(native.stderr)")
        let referenceRows = ExportFixtures.parsePredictions(native.stdout)
        #expect(referenceRows.count == 300 && native.stdout.contains("accuracy ") && Self.results(native.stdout).count == 301)
        #expect(Set(referenceRows.map(\.predicted)).count >= 2, "the reference predicts a single class: a weak fixture")

        // Runs: (device, qemu CPU model); one run per distinct (build, CPU model).
        struct RunKey: Hashable { var build: BuildKey; var cpu: String }
        var results: [RunKey: RunResult] = [:]
        var matrix: [String] = []
        var emulatedRuns = 0
        // The local build's tier matches its path (which one depends on this machine's CPU).
        let localTier = try ExportFixtures.run(tierBinaries[BuildKey(local)]!, [])
        let localParts = localTier.stdout.trimmingCharacters(in: .newlines).split(separator: "|").map(String.init)
        #expect(localParts.count == 2 && Self.tierOfPath[localParts[1]].map { $0 == localParts[0] } ?? localParts[0].hasSuffix("(portable C)"),
                "local: as_simd_tier|as_runtime_simd_path printed \(localTier.stdout)")
        for device in devices {
            let key = BuildKey(device)
            guard let report = builds[key] else { continue }
            if let reason = Self.notRun[device.name] {
                matrix.append("\(device.name): built (shared with \(report.device.name)), not run: \(reason)")
                continue
            }
            var cpus: [String] = []
            switch device.runner {
            case .local where device.name == local.name:
                matrix.append("\(device.name): native x86_64 reference, \(localParts.first ?? "?")")
                continue
            case .local:
                // Another tier of this CPU (x86-avx2): run here when the CPU has the tier's instructions.
                guard let expected = Self.expectedSIMDPath[device.name], Self.cpuRuns(expected) else {
                    matrix.append("\(device.name): built, not run (this CPU lacks \(Self.expectedSIMDPath[device.name] ?? "its tier"))")
                    continue
                }
                let result = try ExportFixtures.run(report.binary, arguments)
                let identical = Self.results(result.stdout) == Self.results(native.stdout)
                #expect(result.exitStatus == 0 && identical, "\(device.name): exit \(result.exitStatus), output identical to local: \(identical)")
                let bench = try ExportFixtures.run(report.binary, ["--bench", "1", "--json"])
                #expect(bench.stdout.contains("\"simd\":\"\(expected)\""), "\(device.name): expected the \(expected) kernels: \(bench.stdout)")
                let tier = try ExportFixtures.run(tierBinaries[key]!, [])
                #expect(tier.stdout == "\(Self.expectedTier[device.name] ?? "?")|\(expected)\n", "\(device.name): \(tier.stdout)")
                matrix.append("\(device.name) [\(device.compiler.flags.joined(separator: " "))] \(Self.expectedTier[device.name] ?? "?"): native \(identical ? "identical" : "FAILED")")
                continue
            case .qemu(let settings):
                cpus = [settings.cpu] + (Self.standIns[device.name] ?? [])
            case .ssh:
                cpus = Self.standIns[device.name] ?? []
            }
            guard device.architecture != .x86_64, !cpus.isEmpty else { continue }
            var line = "\(device.name) [\(device.compiler.flags.joined(separator: " "))] \(Self.expectedTier[device.name] ?? "?"):"
            for cpu in cpus {
                let runKey = RunKey(build: key, cpu: cpu)
                if results[runKey] == nil {
                    var emulated = device
                    emulated.runner = .qemu(Self.qemuSettings(device, cpu: cpu))
                    let runner = makeRunner(for: emulated)
                    try runner.prepare()
                    defer { try? runner.cleanup() }
                    let binary = try runner.upload(report.binary)
                    results[runKey] = try runner.run(binary, arguments: arguments, timeout: 300)
                    emulatedRuns += 1
                    if cpu == cpus[0], let expected = Self.expectedSIMDPath[device.name] {
                        let bench = try runner.run(binary, arguments: ["--bench", "1", "--json"], timeout: 300)
                        #expect(bench.exitStatus == 0 && bench.stdout.contains("\"simd\":\"\(expected)\""),
                                "\(device.name): expected the \(expected) kernels, the bench printed: \(bench.stdout) \(bench.stderr)")
                        let tier = try runner.run(try runner.upload(tierBinaries[key]!), arguments: [], timeout: 60)
                        #expect(tier.stdout == "\(Self.expectedTier[device.name] ?? "?")|\(expected)\n",
                                "\(device.name): as_simd_tier|as_runtime_simd_path printed \(tier.stdout) \(tier.stderr)")
                    }
                }
                let result = results[runKey]!
                let sigill = result.exitStatus == 128 + SIGILL
                #expect(result.exitStatus == 0, """
                    \(device.name) under qemu -cpu \(cpu): exit status \(result.exitStatus)\(sigill ? " (SIGILL: the build uses an instruction this CPU lacks)" : ""): \(result.firstOutputLine)
                    """)
                let rows = ExportFixtures.parsePredictions(result.stdout)
                let differing = zip(rows, referenceRows).filter { $0.predicted != $1.predicted || $0.scores != $1.scores }.count
                let identical = Self.results(result.stdout) == Self.results(native.stdout)
                #expect(identical, """
                    \(device.name) under qemu -cpu \(cpu): output differs from x86_64 (\(rows.count) rows, \(differing) differing)
                    """)
                line += " \(cpu) \(result.exitStatus == 0 && identical ? "identical" : "FAILED")"
            }
            matrix.append(line)
        }

        // The CPU model is honoured, and each Arm build uses its instructions: a program of the exported runtime that
        // runs one int8 pointwise conv with a 64-channel reduction (long enough for every GEMM tile; the fixture's
        // layers are too narrow for smmla) exits 0 under the device's own CPU model and dies with SIGILL under the
        // older core: the dotprod build on a Cortex-A72 (Pi 4; sdot), the i8mm build on a Cortex-A76 (Pi 5; smmla).
        let probeSource = "\(scratch)/gemm_probe.c"
        try """
            #include <stdio.h>
            #include "autoshrink_runtime.h"
            int main(void) {
                static int8_t input[8 * 64], weights[16 * 16 * 4], output[8 * 16];
                static int32_t multiplier[16], shift[16];
                as_requant_s8 rq;
                int i;
                for (i = 0; i < (int)sizeof input; i++) input[i] = (int8_t)(i * 7);
                for (i = 0; i < (int)sizeof weights; i++) weights[i] = (int8_t)(i % 200 - 100);
                for (i = 0; i < 16; i++) { multiplier[i] = 1 << 30; shift[i] = -8; }
                rq.multiplier = multiplier; rq.shift = shift; rq.output_zero_point = 0;
                rq.activation_min = -128; rq.activation_max = 127;
                as_pointwise_conv_s8(input, 1, 8, 64, 64, 0, weights, NULL, 1, 16, &rq, output, 16);
                printf("%d %d\\n", output[0], output[127]);
                return 0;
            }

            """.write(toFile: probeSource, atomically: true, encoding: .utf8)
        for (name, older, instruction) in [("qemu-aarch64", "cortex-a72", "sdot"), ("qemu-aarch64-i8mm", "cortex-a76", "smmla")] {
            guard let device = devices.first(where: { $0.name == name }), let report = builds[BuildKey(device)],
                  case .qemu(let own) = device.runner else { continue }
            let runtime = "\(report.directory)/runtime"
            let runtimeSources = try FileManager.default.contentsOfDirectory(atPath: runtime).filter { $0.hasSuffix(".c") }.sorted()
            let probe = "\(scratch)/gemm-probe-\(name)"
            try Toolchain(device: device).compile(sources: [probeSource] + runtimeSources.map { "\(runtime)/\($0)" },
                                                  includeDirectories: ["\(runtime)/include", runtime], output: probe)
            var statuses: [String: Int32] = [:]
            for cpu in [own.cpu, older] {
                var emulated = device
                emulated.runner = .qemu(Self.qemuSettings(device, cpu: cpu))
                let runner = makeRunner(for: emulated)
                defer { try? runner.cleanup() }
                statuses[cpu] = try runner.run(try runner.upload(probe), arguments: [], timeout: 120).exitStatus
            }
            #expect(statuses[own.cpu] == 0, "the \(name) GEMM probe failed under its own qemu -cpu \(own.cpu): status \(statuses[own.cpu] ?? -1)")
            #expect(statuses[older] == 128 + SIGILL,
                    "the \(name) GEMM probe ran on qemu -cpu \(older) (status \(statuses[older] ?? -1)): \(instruction) unused or -cpu ignored")
            matrix.append("\(name) GEMM probe (control): \(own.cpu) status \(statuses[own.cpu] ?? -1), \(older) status \(statuses[older] ?? -1), SIGILL expected")
        }

        #expect(emulatedRuns >= 8 || !unbuilt.isEmpty, "only \(emulatedRuns) emulated runs")
        if !unbuilt.isEmpty { print("device matrix: not built here: \(unbuilt.joined(separator: ", "))") }
        print("device matrix (\(buildOrder.count) builds in \(Int(buildSeconds)) s, \(emulatedRuns) emulated runs of 300 images, \(Int(Date().timeIntervalSince(started))) s):\n  "
              + matrix.joined(separator: "\n  "))
    }
}
