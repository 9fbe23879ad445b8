import AutoShrinkModel
import AutoShrinkTarget
import Foundation

/// Builds the binaries of a generated project with a device's toolchain and measures their code.
///
/// Every source is compiled once to an object (`-ffunction-sections -fdata-sections`, in parallel),
/// then each binary is linked from objects with `--gc-sections` and a linker map. Code size is the
/// `.text` the linker kept from the model and kernel objects (the harness and libc excluded; weights
/// are `.rodata`, not counted); the whole kernel library's `.text` (every kernel, read from the
/// objects' ELF section tables) is reported beside it.
public struct ProjectBuilder: Sendable {
    /// One binary: its model source and output name (both relative to the project directory).
    public struct Target: Sendable, Hashable {
        public var modelSource: String
        public var binary: String
        public init(modelSource: String, binary: String) { self.modelSource = modelSource; self.binary = binary }
    }

    /// Code size of one linked binary.
    public struct CodeSize: Sendable, Hashable, Codable {
        /// Kept `.text` bytes of the model object and the kernel objects.
        public var textBytes: Int
        /// Of which from the model object.
        public var modelTextBytes: Int
        /// `.text` of the whole binary (harness, libc start-up and static parts included).
        public var binaryTextBytes: Int
    }

    public struct Result: Sendable {
        /// Absolute paths of the binaries, by model source.
        public var binaries: [String: String]
        public var codeSizes: [String: CodeSize]
        /// `.text` of every runtime object (all kernels, reference twins included).
        public var allKernelsTextBytes: Int
    }

    public let device: DeviceDescription
    /// Flags after the device's (e.g. `-Werror`).
    public var extraFlags: [String]

    public init(device: DeviceDescription, extraFlags: [String] = []) {
        self.device = device
        self.extraFlags = extraFlags
    }

    /// Flags of every object: section per function/datum so the linker can drop unused kernels.
    public static let sectionFlags = ["-ffunction-sections", "-fdata-sections"]

    /// Compiles and links `targets` in `directory` (objects and maps go to `scratch`).
    public func build(directory: String, runtimeSources: [String], harnessSources: [String], targets: [Target],
                      scratch: String) throws -> Result {
        let toolchain = Toolchain(device: device)
        _ = try toolchain.compilerPath()
        try FileProblem.createDirectory(scratch)
        let includes = [directory, "\(directory)/runtime/include"]
        let sources = runtimeSources + harnessSources + targets.map(\.modelSource)
        @Sendable func objectPath(_ source: String) -> String {
            "\(scratch)/" + source.replacingOccurrences(of: "/", with: "__").replacingOccurrences(of: ".c", with: ".o")
        }
        // Compile in parallel; collect the first failure.
        let failures = LockedBox<[Int: Error]>([:])
        let flags = Self.sectionFlags + extraFlags
        DispatchQueue.concurrentPerform(iterations: sources.count) { index in
            do {
                try toolchain.compileObject(source: "\(directory)/\(sources[index])", includeDirectories: includes,
                                            output: objectPath(sources[index]), extraFlags: flags)
            } catch {
                failures.mutate { $0[index] = error }
            }
        }
        if let first = failures.value.sorted(by: { $0.key < $1.key }).first { throw first.value }

        var allKernels = 0
        for source in runtimeSources {
            allKernels += try sections(objectPath(source)).text
        }
        var binaries: [String: String] = [:]
        var sizes: [String: CodeSize] = [:]
        let counted = Set(runtimeSources.map { (objectPath($0) as NSString).lastPathComponent })
        for target in targets {
            let binary = "\(directory)/\(target.binary)"
            let map = "\(scratch)/\(target.binary).map"
            let objects = (runtimeSources + harnessSources + [target.modelSource]).map(objectPath)
            try toolchain.compile(sources: objects, output: binary,
                                  extraFlags: extraFlags + ["-Wl,--gc-sections", "-Wl,-Map=\(map)"])
            let mapText = (try? String(contentsOfFile: map, encoding: .utf8)) ?? ""
            let modelObject = (objectPath(target.modelSource) as NSString).lastPathComponent
            let kept = Self.keptTextBytes(linkerMap: mapText)
            let model = kept[modelObject] ?? 0
            let kernels = kept.filter { counted.contains($0.key) }.values.reduce(0, +)
            sizes[target.modelSource] = CodeSize(textBytes: model + kernels, modelTextBytes: model,
                                                 binaryTextBytes: try sections(binary).text)
            binaries[target.modelSource] = binary
        }
        return Result(binaries: binaries, codeSizes: sizes, allKernelsTextBytes: allKernels)
    }

    /// The sections of a file the toolchain just wrote. A compiler or linker that ran out of disk
    /// space does not always fail (GNU ld can leave a truncated binary and exit 0), so an unreadable
    /// file on a full file system is reported as a full disk.
    func sections(_ path: String) throws -> ELFSectionSizes {
        do { return try ELFSectionSizes.read(path: path) } catch {
            guard FileProblem.isFull(directoryOf: path) else { throw error }
            throw ToolchainError.compilationFailed(device: device.name, output: path,
                                                   firstError: "disk full: the toolchain left a truncated file (no space left on device)")
        }
    }

    /// `.text*` input sections the linker kept, summed per object file name, from a GNU ld map
    /// (`-Wl,-Map`): entries after "Linker script and memory map", each `<section> <address> <size> <file>`,
    /// the name alone on its line when it is long. Sections listed as discarded are not counted.
    public static func keptTextBytes(linkerMap: String) -> [String: Int] {
        var totals: [String: Int] = [:]
        guard let start = linkerMap.range(of: "Linker script and memory map") else { return totals }
        var pendingSection: String?
        for rawLine in linkerMap[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard !fields.isEmpty else { pendingSection = nil; continue }
            var section: String?
            var rest: ArraySlice<String>
            if line.hasPrefix(" .") {
                section = fields[0]
                rest = fields.dropFirst()
                if rest.isEmpty { pendingSection = section; continue }
            } else if let pending = pendingSection, line.hasPrefix("  "), fields[0].hasPrefix("0x") {
                section = pending
                rest = fields[...]
            } else {
                pendingSection = nil
                continue
            }
            pendingSection = nil
            guard let name = section, name == ".text" || name.hasPrefix(".text."), rest.count >= 3,
                  rest[rest.startIndex].hasPrefix("0x"), rest[rest.startIndex + 1].hasPrefix("0x"),
                  let size = Int(rest[rest.startIndex + 1].dropFirst(2), radix: 16) else { continue }
            let file = (rest[rest.startIndex + 2] as NSString).lastPathComponent
            totals[file, default: 0] += size
        }
        return totals
    }
}

/// A value shared between threads behind a lock.
final class LockedBox<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate(_ change: (inout Value) -> Void) { lock.withLock { change(&stored) } }
}
