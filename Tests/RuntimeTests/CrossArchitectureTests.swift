// Cross-architecture bit-exactness of the int8 kernels: Fixtures/kernel_selftest.c is built against the
// Sources/CRuntime files for the optimized paths (x86 -march=native, x86-64-v3 = the AVX2 tier and, where
// the CPU has it, x86-64-v3 + AVX-VNNI, an ASan+UBSan build, aarch64 with i8mm, with dotprod and without
// either, armv7 NEON; with AUTOSHRINK_RUNTIME_FULL_MATRIX=1 also x86 portable, x86 -mavx2 -mfma and armv7),
// each build checks optimized against reference internally, and every build must print the same int8
// checksums as the x86 build. aarch64 and armv7 run under qemu-user. The builds run concurrently and
// dominate the suite's time; tools/runtime-selftest runs the full matrix from the command line.
import CRuntime
import Foundation
import Testing

/// Warning flags every build of the runtime must pass.
private let strictFlags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]

private struct Target {
    var name: String
    var compiler: String
    var flags: [String]
    /// Command prefix that runs the binary (qemu), empty for native.
    var runner: [String]
}

/// A child process writing to log files, waited for later.
private final class RunningTool {
    let process = Process()
    let outputURL: URL
    let errorURL: URL
    let description: String

    init(_ executable: String, _ arguments: [String], logs: URL, name: String, directory: URL? = nil) throws {
        outputURL = logs.appendingPathComponent("\(name).out")
        errorURL = logs.appendingPathComponent("\(name).err")
        description = ([executable] + arguments).joined(separator: " ")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        try process.run()
    }

    /// Waits (killing the child after `timeout` seconds) and returns its status and output.
    func finish(timeout: Double = 300) -> ToolResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                break
            }
            usleep(5000)
        }
        process.waitUntilExit()
        return ToolResult(status: process.terminationStatus,
                          output: (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "",
                          error: (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "")
    }
}

private func cpuHasAVX2() -> Bool {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    return info.contains(" avx2") && info.contains(" fma")
}

/// AVX-VNNI (vpdpbusd on ymm, VEX-encoded): Alder Lake and later, Zen 5.
private func cpuHasAVXVNNI() -> Bool {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    return info.contains(" avx_vnni")
}

@Suite("Cross-architecture bit-exactness (compilers, qemu)")
struct CrossArchitectureTests {
    @Test("int8 kernels print identical outputs on x86_64, aarch64 (sdot / NEON) and armv7 NEON; the rest in the full matrix")
    func bitExactAcrossTargets() throws {
        #if !(os(Linux) && arch(x86_64))
        return // the fixture matrix assumes an x86_64 Linux host with the cross toolchains of tools/setup
        #else
        var missing: [String] = []
        var tools: [String: String] = [:]
        let fullMatrix = ProcessInfo.processInfo.environment["AUTOSHRINK_RUNTIME_FULL_MATRIX"] == "1"
        let required = ["gcc", "nm", "aarch64-linux-gnu-gcc", "qemu-aarch64", "arm-linux-gnueabihf-gcc", "qemu-arm"]
        let sysroots = ["/usr/aarch64-linux-gnu", "/usr/arm-linux-gnueabihf"]
        for tool in required {
            if let path = findTool(tool) { tools[tool] = path } else { missing.append(tool) }
        }
        for sysroot in sysroots where !FileManager.default.fileExists(atPath: sysroot) {
            missing.append(sysroot)
        }
        guard missing.isEmpty else {
            Issue.record("""
                cross-architecture test needs \(missing.joined(separator: ", ")); \
                install them with tools/setup (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, \
                gcc-arm-linux-gnueabihf, libc6-dev-armhf-cross, qemu-user)
                """)
            return
        }

        let scratch = try makeScratchDirectory("cross")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let sources = try runtimeSources()
        let includes = ["-I", runtimeDirectory.appendingPathComponent("include").path, "-I", runtimeDirectory.path]
        let selftest = fixturesDirectory.appendingPathComponent("kernel_selftest.c").path
        let gcc = tools["gcc"]!
        var targets = [
            Target(name: "x86_64-native", compiler: gcc, flags: ["-O3", "-march=native"], runner: []),
            Target(name: "x86_64-asan-ubsan", compiler: gcc,
                   flags: ["-O1", "-g", "-march=native", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
                   runner: []),
            // dotprod under the first core qemu models with it and without i8mm (A76, Pi 5)
            Target(name: "aarch64-dotprod", compiler: tools["aarch64-linux-gnu-gcc"]!,
                   flags: ["-O3", "-march=armv8.2-a+dotprod"],
                   runner: [tools["qemu-aarch64"]!, "-cpu", "cortex-a76", "-L", "/usr/aarch64-linux-gnu"]),
            // i8mm (smmla GEMM tiles): qemu models it only in `max`
            Target(name: "aarch64-i8mm", compiler: tools["aarch64-linux-gnu-gcc"]!,
                   flags: ["-O3", "-march=armv8.2-a+dotprod+i8mm"],
                   runner: [tools["qemu-aarch64"]!, "-cpu", "max", "-L", "/usr/aarch64-linux-gnu"]),
            // ARMv8.0 without dotprod under the oldest core that has it (Pi 3's A53; the Pi 4's A72 has the same ISA).
            Target(name: "aarch64-neon", compiler: tools["aarch64-linux-gnu-gcc"]!, flags: ["-O3", "-march=armv8-a"],
                   runner: [tools["qemu-aarch64"]!, "-cpu", "cortex-a53", "-L", "/usr/aarch64-linux-gnu"]),
            // armv7 NEON as the armv7 device files build (docs/devices.md): the NEON kernels on 32-bit Arm;
            // qemu-arm has no A53 model.
            Target(name: "armv7-neon", compiler: tools["arm-linux-gnueabihf-gcc"]!,
                   flags: ["-O3", "-mcpu=cortex-a53", "-mfpu=neon-fp-armv8", "-mfloat-abi=hard"],
                   runner: [tools["qemu-arm"]!, "-cpu", "max", "-L", "/usr/arm-linux-gnueabihf"]),
        ]
        // the AVX2 tier (AVX2-only machines such as Zen 3) even when the build machine has AVX-512: its
        // binaries run natively on any AVX2 CPU, so every kernel's AVX2 path is checked against _ref
        if cpuHasAVX2() {
            targets.append(Target(name: "x86_64-v3", compiler: gcc, flags: ["-O3", "-march=x86-64-v3"], runner: []))
            if cpuHasAVXVNNI() {
                targets.append(Target(name: "x86_64-v3-avxvnni", compiler: gcc,
                                      flags: ["-O3", "-march=x86-64-v3", "-mavxvnni"], runner: []))
            }
        }
        if fullMatrix {
            targets.append(Target(name: "x86_64-baseline", compiler: gcc, flags: ["-O3"], runner: []))
            targets.append(Target(name: "armv7", compiler: tools["arm-linux-gnueabihf-gcc"]!, flags: ["-O3"],
                                  runner: [tools["qemu-arm"]!, "-L", "/usr/arm-linux-gnueabihf"]))
            if cpuHasAVX2() {
                targets.append(Target(name: "x86_64-avx2", compiler: gcc, flags: ["-O3", "-mavx2", "-mfma"], runner: []))
            }
        }

        // all compilations at once: the bench, a libc-symbol check of the kernel objects, every target
        var builds: [(String, RunningTool)] = []
        for target in targets {
            let arguments = strictFlags + target.flags + includes + [selftest] + sources
                + ["-o", scratch.appendingPathComponent(target.name).path]
            builds.append((target.name, try RunningTool(target.compiler, arguments, logs: scratch,
                                                         name: "build-\(target.name)")))
        }
        let bench = scratch.appendingPathComponent("kernel_bench")
        builds.append(("kernel_bench", try RunningTool(
            gcc, strictFlags + ["-O3", "-march=native"] + includes
                + [fixturesDirectory.appendingPathComponent("kernel_bench.c").path] + sources + ["-o", bench.path],
            logs: scratch, name: "build-bench")))
        let objects = scratch.appendingPathComponent("objects")
        try FileManager.default.createDirectory(at: objects, withIntermediateDirectories: true)
        builds.append(("objects", try RunningTool(gcc, strictFlags + ["-O0", "-c"] + includes + sources, logs: scratch,
                                                  name: "build-objects", directory: objects)))
        var built: Set<String> = []
        for (name, build) in builds {
            let result = build.finish()
            #expect(result.status == 0, "build \(name) failed:\n\(build.description)\n\(result.error)")
            if result.status == 0 { built.insert(name) }
        }

        // no allocation, no stdio: the kernels may only call these libc functions
        if built.contains("objects") {
            let files = try FileManager.default.contentsOfDirectory(atPath: objects.path).filter { $0.hasSuffix(".o") }
            let symbols = try runTool(tools["nm"]!, files.map { objects.appendingPathComponent($0).path })
            let allowed: Set<String> = ["memcpy", "memset", "memmove", "clock_gettime", "__stack_chk_fail",
                                        "_GLOBAL_OFFSET_TABLE_"]
            var defined: Set<String> = [], referenced: Set<String> = []
            for line in symbols.output.split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count >= 2 else { continue }
                if parts[parts.count - 2] == "U" {
                    referenced.insert(String(parts.last!))
                } else {
                    defined.insert(String(parts.last!))
                }
            }
            let undefined = referenced.subtracting(defined)
            #expect(undefined.isSubset(of: allowed),
                    "kernels call \(undefined.subtracting(allowed).sorted()) (only libc memcpy/memset/clock_gettime allowed)")
        }

        // run every target (the emulated ones concurrently), compare with the native x86 output
        var runs: [(Target, RunningTool)] = []
        for target in targets where built.contains(target.name) {
            let binary = scratch.appendingPathComponent(target.name).path
            let command = target.runner.isEmpty ? binary : target.runner[0]
            let arguments = target.runner.isEmpty ? [] : Array(target.runner.dropFirst()) + [binary]
            runs.append((target, try RunningTool(command, arguments, logs: scratch, name: "run-\(target.name)")))
        }
        var outputs: [String: String] = [:]
        for (target, run) in runs {
            let result = run.finish()
            #expect(result.status == 0, "\(target.name): optimized kernels differ from the reference:\n\(result.error)")
            #expect(result.output.contains("summary int8_cases="), "\(target.name): incomplete output\n\(result.error)")
            outputs[target.name] = result.output
        }
        if let reference = outputs["x86_64-native"] {
            let referenceLines = reference.split(separator: "\n")
            #expect(referenceLines.count > 500)
            for (name, output) in outputs where name != "x86_64-native" {
                let lines = output.split(separator: "\n")
                let firstDifference = zip(referenceLines, lines).first { $0 != $1 }
                #expect(output == reference, """
                    \(name) int8 outputs differ from x86_64-native \
                    (\(lines.count) vs \(referenceLines.count) lines), first: \
                    \(firstDifference.map { "\($0.1) vs \($0.0)" } ?? "length")
                    """)
            }
        }

        // the bench builds and runs (timings are not asserted: see tools/runtime-selftest)
        if built.contains("kernel_bench") {
            let result = try runTool(bench.path, ["5"])
            #expect(result.status == 0 && result.output.contains("refnet int8 median"), "kernel_bench: \(result.error)")
        }
        #endif
    }
}
