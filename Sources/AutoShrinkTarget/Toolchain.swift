import AutoShrinkFormats
import Foundation

/// A compiler problem; `description` is one line naming the device.
public enum ToolchainError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The device's `cc` is not on PATH (or not executable).
    case compilerNotFound(device: String, compiler: String)
    /// The compiler ran and failed; `firstError` is its first error line.
    case compilationFailed(device: String, output: String, firstError: String)
    /// The compiler did not finish in time.
    case compilerTimedOut(device: String, output: String, seconds: Double)
    /// A file is not an ELF object, or is truncated.
    case notELF(path: String, reason: String)

    public var description: String {
        switch self {
        case let .compilerNotFound(device, compiler):
            return "device \(device): compiler '\(compiler)' not found; run tools/setup"
        case let .compilationFailed(device, output, firstError):
            return "device \(device): compiling \(output) failed: \(firstError)"
        case let .compilerTimedOut(device, output, seconds):
            return "device \(device): compiling \(output) did not finish within \(formatSeconds(seconds)) s"
        case let .notELF(path, reason):
            return "\(path): not a readable ELF file (\(reason))"
        }
    }

    public var errorDescription: String? { description }
}

/// Builds C for one device with its compiler and flags: `cc -std=c99 -Wall -Wextra <device flags> ... -lm`.
///
/// The compiler is started by fork/exec with an argument array, never through a shell,
/// so paths with spaces or quotes are passed through unchanged.
public struct Toolchain: Sendable {
    public let device: DeviceDescription
    /// How long one compiler invocation may take.
    public var timeout: Double

    /// Flags every build gets before the device's own.
    public static let baseFlags = ["-std=c99", "-Wall", "-Wextra"]

    public init(device: DeviceDescription, timeout: Double = 600) {
        self.device = device
        self.timeout = timeout
    }

    /// Absolute path of the device's compiler, or `ToolchainError.compilerNotFound`.
    public func compilerPath() throws -> String {
        guard let path = findExecutable(device.compiler.cc) else {
            throw ToolchainError.compilerNotFound(device: device.name, compiler: device.compiler.cc)
        }
        return path
    }

    /// Whether the device's compiler is installed.
    public var isAvailable: Bool { findExecutable(device.compiler.cc) != nil }

    /// The compiler arguments (without the compiler itself) for linking `sources` into `output`.
    public func linkArguments(sources: [String], includeDirectories: [String] = [], output: String,
                              extraFlags: [String] = []) -> [String] {
        Self.baseFlags + device.compiler.flags + extraFlags
            + includeDirectories.map { "-I\($0)" }
            + sources + ["-o", output]
            + device.compiler.ldflags + ["-lm"]
    }

    /// The compiler arguments for compiling one source into an object file (`-c`, no linking).
    public func objectArguments(source: String, includeDirectories: [String] = [], output: String,
                                extraFlags: [String] = []) -> [String] {
        Self.baseFlags + device.compiler.flags + extraFlags
            + includeDirectories.map { "-I\($0)" }
            + ["-c", source, "-o", output]
    }

    /// Compiles and links `sources` into the executable `output`; returns the compiler's warnings (may be empty).
    /// `extraFlags` go after the device flags (e.g. `["-Werror"]`, `["-DREPEATS=10"]`).
    @discardableResult
    public func compile(sources: [String], includeDirectories: [String] = [], output: String,
                        extraFlags: [String] = []) throws -> String {
        try invoke(linkArguments(sources: sources, includeDirectories: includeDirectories,
                                 output: output, extraFlags: extraFlags), output: output)
    }

    /// Compiles one source into the object file `output`; returns the compiler's warnings (may be empty).
    @discardableResult
    public func compileObject(source: String, includeDirectories: [String] = [], output: String,
                              extraFlags: [String] = []) throws -> String {
        try invoke(objectArguments(source: source, includeDirectories: includeDirectories,
                                   output: output, extraFlags: extraFlags), output: output)
    }

    private func invoke(_ arguments: [String], output: String) throws -> String {
        let compiler = try compilerPath()
        let outputDirectory = (output as NSString).deletingLastPathComponent
        if !outputDirectory.isEmpty {
            try FileProblem.createDirectory(outputDirectory)
        }
        let outcome: SubprocessOutcome
        do {
            outcome = try runSubprocess(executable: compiler, arguments: arguments, timeout: timeout)
        } catch let error as SubprocessLaunchError {
            throw ToolchainError.compilationFailed(device: device.name, output: output, firstError: error.description)
        }
        switch outcome {
        case .timedOut:
            throw ToolchainError.compilerTimedOut(device: device.name, output: output, seconds: timeout)
        case .finished(let result):
            let diagnostics = result.stderr + result.stdout
            guard result.exitStatus == 0 else {
                throw ToolchainError.compilationFailed(device: device.name, output: output,
                                                       firstError: Self.firstErrorLine(diagnostics))
            }
            return diagnostics
        }
    }

    /// The first line that reads like an error (`error:`, then `undefined reference`, then anything).
    /// A full disk or a file size limit comes first, said plainly: the compiler's or linker's own line
    /// ("final link failed: No space left on device") is often followed by a vaguer
    /// "collect2: error: ld returned 1 exit status".
    static func firstErrorLine(_ diagnostics: String) -> String {
        let lines = diagnostics.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        for (marker, plain) in [("No space left on device", "disk full"), ("Disk quota exceeded", "disk quota exceeded"),
                                ("File too large", "file size limit reached"), ("File size limit exceeded", "file size limit reached")] {
            if let line = lines.first(where: { $0.contains(marker) }) { return "\(plain): \(line)" }
        }
        for marker in ["error:", "undefined reference", "fatal"] {
            if let line = lines.first(where: { $0.contains(marker) }) { return line }
        }
        return lines.first(where: { !$0.isEmpty }) ?? "compiler exited with an error and printed nothing"
    }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
}

// MARK: - ELF section sizes

/// Section sizes of an ELF object or executable, read from its section headers (any architecture, 32 or 64 bit).
///
/// Groups follow the usual names: `.text` and `.text.*` (code, also with `-ffunction-sections`),
/// `.rodata*` (constant data such as int8 weights), `.data*`, `.bss*`.
public struct ELFSectionSizes: Sendable, Equatable, Codable {
    /// ELF machine number (62 = x86-64, 183 = AArch64, 40 = ARM).
    public var machine: UInt16
    /// 32 or 64.
    public var bits: Int
    /// Every section with a name, in file order; sizes in bytes.
    public var sections: [Section]

    public struct Section: Sendable, Equatable, Codable {
        public var name: String
        public var size: Int
    }

    /// Bytes of code.
    public var text: Int { total { $0 == ".text" || $0.hasPrefix(".text.") } }
    /// Bytes of read-only data.
    public var readOnlyData: Int { total { $0 == ".rodata" || $0.hasPrefix(".rodata.") } }
    /// Bytes of initialised writable data.
    public var data: Int { total { $0 == ".data" || $0.hasPrefix(".data.") } }
    /// Bytes of zero-initialised data (occupies memory, not file space).
    public var bss: Int { total { $0 == ".bss" || $0.hasPrefix(".bss.") } }

    private func total(_ include: (String) -> Bool) -> Int {
        sections.filter { include($0.name) }.reduce(0) { $0 + $1.size }
    }

    /// Machine names for the ELF machine numbers autoshrink builds for.
    public var machineName: String {
        switch machine {
        case 62: return "x86_64"
        case 183: return "aarch64"
        case 40: return "arm"
        case 3: return "i386"
        default: return "machine \(machine)"
        }
    }

    /// Reads the section table of the ELF file at `path`.
    public static func read(path: String) throws -> ELFSectionSizes {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ToolchainError.notELF(path: path, reason: "cannot read file")
        }
        return try parse(data, path: path)
    }

    /// Parses an ELF image held in memory; `path` is only used in error messages.
    public static func parse(_ data: Data, path: String = "<memory>") throws -> ELFSectionSizes {
        let bytes = [UInt8](data)
        func fail(_ reason: String) -> ToolchainError { .notELF(path: path, reason: reason) }
        guard bytes.count >= 16, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else {
            throw fail("no ELF magic")
        }
        // e_ident[EI_CLASS]: 1 = 32 bit, 2 = 64 bit; e_ident[EI_DATA]: 1 = little, 2 = big endian.
        let is64: Bool
        switch bytes[4] {
        case 1: is64 = false
        case 2: is64 = true
        default: throw fail("unknown ELF class \(bytes[4])")
        }
        let littleEndian: Bool
        switch bytes[5] {
        case 1: littleEndian = true
        case 2: littleEndian = false
        default: throw fail("unknown ELF data encoding \(bytes[5])")
        }
        let reader = ByteReader(bytes: bytes, littleEndian: littleEndian)
        guard bytes.count >= (is64 ? 64 : 52), let machine = reader.u16(18) else { throw fail("truncated ELF header") }
        let sectionHeaderOffset: Int
        let sectionHeaderEntrySize: Int
        var sectionCount: Int
        var nameTableIndex: Int
        if is64 {
            sectionHeaderOffset = Int(clamping: reader.u64(0x28) ?? 0)
            sectionHeaderEntrySize = Int(reader.u16(0x3A) ?? 0)
            sectionCount = Int(reader.u16(0x3C) ?? 0)
            nameTableIndex = Int(reader.u16(0x3E) ?? 0)
        } else {
            sectionHeaderOffset = Int(reader.u32(0x20) ?? 0)
            sectionHeaderEntrySize = Int(reader.u16(0x2E) ?? 0)
            sectionCount = Int(reader.u16(0x30) ?? 0)
            nameTableIndex = Int(reader.u16(0x32) ?? 0)
        }
        if sectionHeaderOffset == 0 {
            return ELFSectionSizes(machine: machine, bits: is64 ? 64 : 32, sections: [])
        }
        let minimumEntrySize = is64 ? 64 : 40
        guard sectionHeaderEntrySize >= minimumEntrySize else { throw fail("section header entries of \(sectionHeaderEntrySize) bytes") }

        // Section header fields: (name offset, type, size, file offset, link).
        func header(_ index: Int) throws -> (name: Int, type: UInt32, size: Int, offset: Int, link: Int) {
            let base = sectionHeaderOffset + index * sectionHeaderEntrySize
            guard base >= 0, base + minimumEntrySize <= bytes.count else { throw fail("section header \(index) outside the file") }
            if is64 {
                return (Int(reader.u32(base)!), reader.u32(base + 4)!, Int(clamping: reader.u64(base + 0x20)!),
                        Int(clamping: reader.u64(base + 0x18)!), Int(reader.u32(base + 0x28)!))
            }
            return (Int(reader.u32(base)!), reader.u32(base + 4)!, Int(reader.u32(base + 0x14)!),
                    Int(reader.u32(base + 0x10)!), Int(reader.u32(base + 0x18)!))
        }
        // More than 0xff00 sections: the real count and name-table index live in section 0.
        let first = try header(0)
        if sectionCount == 0 { sectionCount = first.size }
        if nameTableIndex == 0xFFFF { nameTableIndex = first.link }
        guard sectionCount > 0, sectionCount <= (bytes.count - sectionHeaderOffset) / sectionHeaderEntrySize + 1 else {
            throw fail("implausible section count \(sectionCount)")
        }
        guard nameTableIndex < sectionCount else { throw fail("section name table index \(nameTableIndex) out of range") }
        let names = try header(nameTableIndex)
        guard names.offset >= 0, names.offset + names.size <= bytes.count else { throw fail("section name table outside the file") }

        func name(at offset: Int) -> String {
            var end = names.offset + offset
            let limit = names.offset + names.size
            guard end < limit else { return "" }
            let start = end
            while end < limit, bytes[end] != 0 { end += 1 }
            return String(decoding: bytes[start..<end], as: UTF8.self)
        }

        var sections: [Section] = []
        for index in 1..<sectionCount {
            let section = try header(index)
            let sectionName = name(at: section.name)
            if !sectionName.isEmpty { sections.append(Section(name: sectionName, size: section.size)) }
        }
        return ELFSectionSizes(machine: machine, bits: is64 ? 64 : 32, sections: sections)
    }
}

/// Bounds-checked little/big-endian integer reads from a byte array.
private struct ByteReader {
    let bytes: [UInt8]
    let littleEndian: Bool

    private func value(_ offset: Int, _ width: Int) -> UInt64? {
        guard offset >= 0, offset + width <= bytes.count else { return nil }
        var result: UInt64 = 0
        for index in 0..<width {
            let byte = UInt64(bytes[littleEndian ? offset + width - 1 - index : offset + index])
            result = (result << 8) | byte
        }
        return result
    }

    func u16(_ offset: Int) -> UInt16? { value(offset, 2).map { UInt16($0) } }
    func u32(_ offset: Int) -> UInt32? { value(offset, 4).map { UInt32($0) } }
    func u64(_ offset: Int) -> UInt64? { value(offset, 8) }
}
