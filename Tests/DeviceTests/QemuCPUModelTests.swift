import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// The qemu runner checks `runner.cpu` against the emulator's models before anything is built,
/// and runs armv7 binaries with qemu-arm (docs/devices.md, "Which CPUs each file stands for").
@Suite("qemu runner: CPU models and armv7", .enabled(if: hasAArch64Toolchain, "qemu-aarch64 or /usr/aarch64-linux-gnu missing (tools/setup)"))
struct QemuCPUModelTests {
    static let hasARMv7 = findExecutable("arm-linux-gnueabihf-gcc") != nil && findExecutable("qemu-arm") != nil
        && FileManager.default.fileExists(atPath: "/usr/arm-linux-gnueabihf/lib")

    @Test("qemu-aarch64 -cpu help is parsed: the models the device files use are there")
    func modelsListed() throws {
        let emulator = try #require(findExecutable("qemu-aarch64"))
        let models = try #require(QemuRunner.cpuModels(emulator: emulator))
        for model in ["max", "cortex-a53", "cortex-a72", "cortex-a76"] {
            #expect(models.contains(model), "\(models)")
        }
        #expect(!models.contains("Available"))
    }

    @Test("the shipped qemu devices prepare; an unknown CPU model is a one-line error at prepare")
    func unknownModel() throws {
        for name in ["qemu-aarch64", "qemu-aarch64-a72", "qemu-aarch64-i8mm"] + (Self.hasARMv7 ? ["qemu-armv7"] : []) {
            let runner = makeRunner(for: try shippedDevice(name))
            defer { try? runner.cleanup() }
            try runner.prepare()
        }
        var device = try shippedDevice("qemu-aarch64-a72")
        device.runner = .qemu(QemuSettings(binary: "qemu-aarch64", sysroot: "/usr/aarch64-linux-gnu", cpu: "cortex-a55"))
        do {
            try makeRunner(for: device).prepare()
            Issue.record("prepare accepted a CPU model qemu-aarch64 does not have")
        } catch let error as DeviceRunnerError {
            #expect(error.description.hasPrefix("device qemu-aarch64-a72: prepare: qemu-aarch64 has no CPU model 'cortex-a55' (runner.cpu); it knows: "))
            #expect(error.description.contains("cortex-a76") && !error.description.contains("\n"))
        }
        // Options after the model name are qemu's business.
        device.runner = .qemu(QemuSettings(binary: "qemu-aarch64", sysroot: "/usr/aarch64-linux-gnu", cpu: "max,sve=off"))
        let runner = makeRunner(for: device)
        defer { try? runner.cleanup() }
        try runner.prepare()
    }

    @Test("armv7: qemu-arm has no cortex-a53 (use max); an armv7 build runs under max with its arguments intact",
          .enabled(if: hasARMv7, "arm-linux-gnueabihf-gcc, qemu-arm or /usr/arm-linux-gnueabihf missing (tools/setup)"))
    func armv7() throws {
        var device = try shippedDevice("qemu-armv7")
        #expect(device.runner == .qemu(QemuSettings(binary: "qemu-arm", sysroot: "/usr/arm-linux-gnueabihf", cpu: "max")))
        let directory = try TemporaryDirectory("qemu-armv7")
        defer { directory.remove() }
        let runner = makeRunner(for: device)
        defer { try? runner.cleanup() }
        try runner.prepare()
        let binary = try runner.upload(try buildEchoArgs(for: device, in: directory))
        #expect(try ELFSectionSizes.read(path: binary).machineName == "arm")
        let result = try runner.run(binary, arguments: trickyArguments, timeout: 60)
        #expect(result.exitStatus == 0, "\(result.stderr)")
        #expect(result.stdout == echoOutput(arch: "armv7", trickyArguments))

        device.runner = .qemu(QemuSettings(binary: "qemu-arm", sysroot: "/usr/arm-linux-gnueabihf", cpu: "cortex-a53"))
        #expect(throws: DeviceRunnerError.self) { try makeRunner(for: device).prepare() }
    }
}
