import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

@Suite("qemu runner", .enabled(if: hasAArch64Toolchain, "aarch64-linux-gnu-gcc, qemu-aarch64 or /usr/aarch64-linux-gnu missing (tools/setup)"))
struct QemuRunnerTests {
    @Test("an aarch64 build runs under qemu with its arguments intact, same output as the local oracle")
    func runUnderQemu() throws {
        let directory = try TemporaryDirectory("qemu")
        defer { directory.remove() }
        let device = try shippedDevice("qemu-aarch64")
        let runner = makeRunner(for: device)
        #expect(runner is QemuRunner)
        defer { try? runner.cleanup() }
        try runner.prepare()
        let binary = try runner.upload(try buildEchoArgs(for: device, in: directory))
        #expect(try ELFSectionSizes.read(path: binary).machineName == "aarch64")

        let result = try runner.run(binary, arguments: trickyArguments, timeout: 60)
        #expect(result.exitStatus == 0, "\(result.stderr)")
        #expect(result.stdout == echoOutput(arch: "aarch64", trickyArguments))

        let oracle = LocalRunner(device: localDevice())
        defer { try? oracle.cleanup() }
        let localResult = try oracle.run(try oracle.upload(try buildEchoArgs(for: oracle.device, in: directory)),
                                         arguments: trickyArguments, timeout: 30)
        #expect(result.stdout.replacingOccurrences(of: "arch=aarch64", with: "arch=x86_64") == localResult.stdout)

        let failing = try runner.run(binary, arguments: ["--exit", "5"], timeout: 60)
        #expect(failing.exitStatus == 5)
        #expect(failing.stderr == "exiting 5\n")
    }

    @Test("a missing emulator or sysroot is a one-line error")
    func missingEmulator() throws {
        var device = try shippedDevice("qemu-aarch64")
        device.runner = .qemu(QemuSettings(binary: "qemu-nonexistent", sysroot: "/usr/aarch64-linux-gnu"))
        #expect(throws: DeviceRunnerError.toolNotFound(device: "qemu-aarch64", tool: "qemu-nonexistent")) {
            try makeRunner(for: device).prepare()
        }
        device.runner = .qemu(QemuSettings(binary: "qemu-aarch64", sysroot: "/nonexistent/sysroot"))
        do {
            try makeRunner(for: device).prepare()
            Issue.record("a missing sysroot passed prepare")
        } catch let error as DeviceRunnerError {
            #expect(error.description == "device qemu-aarch64: prepare: sysroot '/nonexistent/sysroot' not found; run tools/setup")
        }
    }
}
