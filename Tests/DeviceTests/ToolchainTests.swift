import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

@Suite("Toolchain and ELF sizes")
struct ToolchainTests {
    static let kernelSource = """
        #include <math.h>
        /* A little code and a little constant data, so .text and .rodata are both non-empty. */
        static const float table[64] = { 1.0f, 2.0f, 3.0f };
        float kernel(const float *x, int n) {
            float sum = 0.0f;
            for (int i = 0; i < n; i++) sum += x[i] * table[i & 63];
            return sqrtf(sum);
        }
        """

    @Test("argument order: base flags, device flags, extra flags, includes, sources, output, ldflags, -lm")
    func linkArguments() {
        var device = localDevice()
        device.compiler.ldflags = ["-static"]
        let arguments = Toolchain(device: device).linkArguments(sources: ["a.c", "b c.c"], includeDirectories: ["inc dir"],
                                                                output: "out", extraFlags: ["-Werror"])
        #expect(arguments == ["-std=c99", "-Wall", "-Wextra", "-O2", "-Werror", "-Iinc dir", "a.c", "b c.c",
                              "-o", "out", "-static", "-lm"])
    }

    @Test("compiles and links a program with an include directory whose path has a space")
    func compileWithIncludes() throws {
        let directory = try TemporaryDirectory("toolchain")
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.file("my include"), withIntermediateDirectories: true)
        _ = try directory.write("my include/answer.h", "#define ANSWER 42\n")
        let source = try directory.write("main file.c", """
            #include <stdio.h>
            #include <math.h>
            #include "answer.h"
            int main(void) { printf("%d %.1f\\n", ANSWER, sqrt(2.25)); return 0; }
            """)
        let output = directory.file("out dir/program")
        let warnings = try Toolchain(device: localDevice()).compile(sources: [source], includeDirectories: [directory.file("my include")],
                                                                    output: output)
        #expect(warnings.isEmpty)
        #expect(try runTool(output, []).stdout == "42 1.5\n")
    }

    @Test("a missing compiler is one line naming the device and telling to run tools/setup")
    func missingCompiler() throws {
        var device = localDevice(name: "pi-x")
        device.compiler.cc = "aarch64-nonexistent-linux-gnu-gcc"
        #expect(throws: ToolchainError.compilerNotFound(device: "pi-x", compiler: "aarch64-nonexistent-linux-gnu-gcc")) {
            try Toolchain(device: device).compile(sources: ["x.c"], output: "/tmp/x")
        }
        let error = ToolchainError.compilerNotFound(device: "pi-x", compiler: "aarch64-linux-gnu-gcc")
        #expect(error.description == "device pi-x: compiler 'aarch64-linux-gnu-gcc' not found; run tools/setup")
    }

    @Test("a compile error is one line with the compiler's first error")
    func compileError() throws {
        let directory = try TemporaryDirectory("toolchain")
        defer { directory.remove() }
        let source = try directory.write("broken.c", "int main(void) {\n    int x = ;\n    return undefined_name;\n}\n")
        do {
            try Toolchain(device: localDevice()).compile(sources: [source], output: directory.file("broken"))
            Issue.record("broken.c compiled")
        } catch let error as ToolchainError {
            let message = error.description
            #expect(!message.contains("\n"))
            #expect(message.hasPrefix("device test-local: compiling \(directory.file("broken")) failed: "))
            #expect(message.contains("broken.c:2:"), "\(message)")
            #expect(message.contains("error:"), "\(message)")
        }
    }

    @Test("extra flags reach the compiler: -Werror turns a warning into an error")
    func extraFlags() throws {
        let directory = try TemporaryDirectory("toolchain")
        defer { directory.remove() }
        let source = try directory.write("warn.c", "int main(void) { int unused; return 0; }\n")
        let warnings = try Toolchain(device: localDevice()).compile(sources: [source], output: directory.file("a"))
        #expect(warnings.contains("unused"))
        #expect(throws: ToolchainError.self) {
            try Toolchain(device: localDevice()).compile(sources: [source], output: directory.file("b"), extraFlags: ["-Werror"])
        }
    }

    /// Section sizes as binutils' `size -A` prints them, as an oracle for the Swift ELF reader.
    private func binutilsSizes(_ tool: String, _ path: String) throws -> [String: Int]? {
        guard let executable = findExecutable(tool) else { return nil }
        let result = try runTool(executable, ["-A", path])
        var sizes: [String: Int] = [:]
        for line in result.stdout.split(separator: "\n") {
            let columns = line.split(whereSeparator: \.isWhitespace)
            if columns.count >= 2, columns[0].hasPrefix("."), let size = Int(columns[1]) { sizes[String(columns[0])] = size }
        }
        return sizes
    }

    private func checkObject(device: DeviceDescription, sizeTool: String, machine: UInt16, bits: Int) throws {
        let directory = try TemporaryDirectory("elf")
        defer { directory.remove() }
        let source = try directory.write("kernel.c", Self.kernelSource)
        let object = directory.file("kernel.o")
        try Toolchain(device: device).compileObject(source: source, output: object)
        let sizes = try ELFSectionSizes.read(path: object)
        #expect(sizes.machine == machine)
        #expect(sizes.bits == bits)
        #expect(sizes.text > 16)
        #expect(sizes.readOnlyData >= 64 * 4)
        if let oracle = try binutilsSizes(sizeTool, object) {
            #expect(sizes.text == oracle[".text"])
            #expect(sizes.readOnlyData == oracle.filter { $0.key.hasPrefix(".rodata") }.values.reduce(0, +))
        }
        // Function sections are summed into .text.
        let split = directory.file("split.o")
        try Toolchain(device: device).compileObject(source: source, output: split, extraFlags: ["-ffunction-sections"])
        let splitSizes = try ELFSectionSizes.read(path: split)
        #expect(splitSizes.sections.contains { $0.name.hasPrefix(".text.") })
        #expect(splitSizes.text == sizes.text)
    }

    @Test(".text of an x86_64 object")
    func textSizeX86() throws {
        try checkObject(device: localDevice(), sizeTool: "size", machine: 62, bits: 64)
    }

    @Test(".text of an aarch64 object", .enabled(if: findExecutable("aarch64-linux-gnu-gcc") != nil, "aarch64-linux-gnu-gcc not installed (tools/setup)"))
    func textSizeAArch64() throws {
        try checkObject(device: try shippedDevice("qemu-aarch64"), sizeTool: "aarch64-linux-gnu-size", machine: 183, bits: 64)
    }

    @Test(".text of a 32-bit armv7 object", .enabled(if: findExecutable("arm-linux-gnueabihf-gcc") != nil, "arm-linux-gnueabihf-gcc not installed (tools/setup)"))
    func textSizeArmv7() throws {
        try checkObject(device: try shippedDevice("raspberry-pi-3-armv7"), sizeTool: "arm-linux-gnueabihf-size", machine: 40, bits: 32)
    }

    @Test("non-ELF and truncated files are one-line errors")
    func notELF() throws {
        #expect(throws: ToolchainError.self) { try ELFSectionSizes.parse(Data("#!/bin/sh\n".utf8), path: "script") }
        #expect(throws: ToolchainError.self) { try ELFSectionSizes.parse(Data([0x7F, 0x45, 0x4C, 0x46, 2, 1]), path: "short") }
        let directory = try TemporaryDirectory("elf")
        defer { directory.remove() }
        let source = try directory.write("k.c", Self.kernelSource)
        try Toolchain(device: localDevice()).compileObject(source: source, output: directory.file("k.o"))
        let full = try Data(contentsOf: URL(fileURLWithPath: directory.file("k.o")))
        // Cut off the section header table at the end of the file.
        do {
            _ = try ELFSectionSizes.parse(full.prefix(full.count - 100), path: "cut.o")
            Issue.record("a truncated object parsed")
        } catch let error as ToolchainError {
            #expect(error.description.hasPrefix("cut.o: not a readable ELF file ("))
        }
        #expect(throws: ToolchainError.notELF(path: "/nonexistent.o", reason: "cannot read file")) {
            try ELFSectionSizes.read(path: "/nonexistent.o")
        }
    }
}
