// Shared helpers of the runtime kernel tests: deterministic data, C buffers with sentinels and guard
// bytes, channel slices, and running external tools (compilers, qemu).
import CRuntime
import Foundation
import Testing

/// Package root, found from this file's location (Tests/RuntimeTests/RuntimeTestSupport.swift).
let packageRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Sources/CRuntime: the kernel .c files and include/.
let runtimeDirectory: URL = packageRoot.appendingPathComponent("Sources/CRuntime")

/// Tests/RuntimeTests/Fixtures: C programs built at test time.
let fixturesDirectory: URL = packageRoot.appendingPathComponent("Tests/RuntimeTests/Fixtures")

/// Every kernel source file, sorted (the set an export copies and the device layer hashes).
func runtimeSources() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: runtimeDirectory.path)
        .filter { $0.hasSuffix(".c") }
        .sorted()
        .map { runtimeDirectory.appendingPathComponent($0).path }
}

// MARK: - Deterministic data

/// 64-bit LCG (Knuth's MMIX constants): the same stream on every platform.
struct TestRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt32 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt32(truncatingIfNeeded: state >> 32)
    }

    /// Uniform in lo...hi (inclusive).
    mutating func int(_ lo: Int, _ hi: Int) -> Int {
        lo + Int(next() % UInt32(hi - lo + 1))
    }

    mutating func int32(_ lo: Int, _ hi: Int) -> Int32 { Int32(int(lo, hi)) }

    mutating func int8(_ lo: Int = -128, _ hi: Int = 127) -> Int8 { Int8(int(lo, hi)) }

    mutating func float(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 8) / 16_777_216
    }

    mutating func pick<T>(_ values: [T]) -> T { values[int(0, values.count - 1)] }

    mutating func bool() -> Bool { next() & 1 == 1 }
}

// MARK: - C buffers

/// Heap buffer of exactly `count` elements (so over-reads leave the allocation), freed on deinit.
final class CBuffer<Element> {
    let pointer: UnsafeMutablePointer<Element>
    let count: Int

    init(count: Int, initial: Element) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: initial, count: max(count, 1))
    }

    convenience init(_ values: [Element]) {
        precondition(!values.isEmpty)
        self.init(count: values.count, initial: values[0])
        for (index, value) in values.enumerated() { pointer[index] = value }
    }

    deinit { pointer.deallocate() }

    var array: [Element] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    subscript(index: Int) -> Element {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }
}

/// A [pixels][channels] tensor stored as channel slice [offset, offset + channels) of pixels
/// `stride` elements apart (a concat slice when stride > channels).
struct ChannelSlice: CustomStringConvertible {
    var pixels: Int
    var channels: Int
    var offset: Int
    var stride: Int

    /// Dense, or a random slice of a wider pixel.
    init(pixels: Int, channels: Int, wide: Bool, random: inout TestRandom) {
        self.pixels = pixels
        self.channels = channels
        offset = wide ? random.int(0, 5) : 0
        stride = channels + offset + (wide ? random.int(1, 7) : 0)
    }

    /// Elements from the slice base to the end of the last pixel's channels.
    var extent: Int { pixels == 0 ? 0 : (pixels - 1) * stride + offset + channels }

    func contains(_ element: Int) -> Bool {
        let pixel = element / stride, within = element % stride
        return pixel < pixels && within >= offset && within < offset + channels
    }

    var description: String { "\(channels)ch@\(offset)/\(stride)x\(pixels)" }
}

/// Bytes after every output buffer that must stay untouched.
let guardElements = 64

/// Sentinel pattern for outputs (position dependent, so a stray copy is caught too).
func sentinelInt8(_ index: Int) -> Int8 { Int8(truncatingIfNeeded: index &* 37 &+ 11) }
func sentinelFloat(_ index: Int) -> Float { Float(-1000 - index % 97) }

/// An output buffer for `slice` plus guard elements, filled with the sentinel pattern.
func outputBufferInt8(_ slice: ChannelSlice) -> CBuffer<Int8> {
    let buffer = CBuffer<Int8>(count: slice.extent + guardElements, initial: 0)
    for index in 0..<buffer.count { buffer[index] = sentinelInt8(index) }
    return buffer
}

func outputBufferFloat(_ slice: ChannelSlice) -> CBuffer<Float> {
    let buffer = CBuffer<Float>(count: slice.extent + guardElements, initial: 0)
    for index in 0..<buffer.count { buffer[index] = sentinelFloat(index) }
    return buffer
}

func randomInt8(_ count: Int, _ random: inout TestRandom, _ lo: Int = -128, _ hi: Int = 127) -> CBuffer<Int8> {
    CBuffer((0..<max(count, 1)).map { _ in random.int8(lo, hi) })
}

func randomFloat(_ count: Int, _ random: inout TestRandom, _ lo: Float = -1, _ hi: Float = 1) -> CBuffer<Float> {
    CBuffer((0..<max(count, 1)).map { _ in random.float(lo, hi) })
}

/// Exact comparison of two int8 outputs (slice and guard bytes) plus the untouched check.
func expectSameInt8(_ got: CBuffer<Int8>, _ want: CBuffer<Int8>, _ slice: ChannelSlice, _ what: String,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    var mismatches = 0, first = ""
    for index in 0..<got.count where got[index] != want[index] {
        if mismatches == 0 { first = "element \(index): optimized \(got[index]) reference \(want[index])" }
        mismatches += 1
    }
    #expect(mismatches == 0, "\(what): \(mismatches) mismatches, first \(first)", sourceLocation: sourceLocation)
    var touched = 0
    for index in 0..<got.count where !slice.contains(index) && got[index] != sentinelInt8(index) { touched += 1 }
    #expect(touched == 0, "\(what): \(touched) elements outside the output slice were written",
            sourceLocation: sourceLocation)
}

/// Runs an int8 kernel (`reference` false) and its `_ref` twin (true) into fresh sentinel-filled
/// output buffers and expects the same bytes. With `preload`, the output slice starts as a copy of
/// it, for kernels that run in place (the closure then reads its input from the output buffer).
func expectInt8Twin(_ out: ChannelSlice, preload: CBuffer<Int8>? = nil, _ what: String,
                    sourceLocation: SourceLocation = #_sourceLocation,
                    _ run: (_ output: UnsafeMutablePointer<Int8>, _ reference: Bool) -> Void) {
    let got = outputBufferInt8(out), want = outputBufferInt8(out)
    if let preload {
        for index in 0..<out.extent where out.contains(index) {
            got[index] = preload[index]
            want[index] = preload[index]
        }
    }
    run(got.pointer, false)
    run(want.pointer, true)
    expectSameInt8(got, want, out, what, sourceLocation: sourceLocation)
}

/// Float comparison with tolerance (relative to 1 + |reference|) plus the untouched check.
func expectCloseFloat(_ got: CBuffer<Float>, _ want: CBuffer<Float>, _ slice: ChannelSlice, tolerance: Float,
                      _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    var worst: Float = 0, worstIndex = -1
    for index in 0..<got.count where slice.contains(index) {
        let error = abs(got[index] - want[index]) / (1 + abs(want[index]))
        if !(error <= worst) || error.isNaN { worst = error; worstIndex = index }
    }
    #expect(worst <= tolerance, "\(what): relative error \(worst) at element \(worstIndex)",
            sourceLocation: sourceLocation)
    var touched = 0
    for index in 0..<got.count where !slice.contains(index) && got[index] != sentinelFloat(index) { touched += 1 }
    #expect(touched == 0, "\(what): \(touched) elements outside the output slice were written",
            sourceLocation: sourceLocation)
}

// MARK: - Quantization parameters

/// Per-channel requantization as an exporter would build it; keeps its arrays alive.
final class Requant {
    let multipliers: CBuffer<Int32>
    let shifts: CBuffer<Int32>
    let outputZeroPoint: Int32
    let activationMin: Int32
    let activationMax: Int32

    init(channels: Int, typical: Double, random: inout TestRandom) {
        var multiplierValues: [Int32] = [], shiftValues: [Int32] = []
        for _ in 0..<channels {
            var real = typical * (0.25 + 1.5 * Double(random.float(0, 1)))
            if random.int(0, 15) == 0 { real = 1 + 3 * Double(random.float(0, 1)) } // exercises the left shift
            var multiplier: Int32 = 0, shift: Int32 = 0
            as_quantize_multiplier(real, &multiplier, &shift)
            multiplierValues.append(multiplier)
            shiftValues.append(shift)
        }
        multipliers = CBuffer(multiplierValues)
        shifts = CBuffer(shiftValues)
        outputZeroPoint = random.int32(-128, 127)
        let activation = as_activation(rawValue: UInt32(random.int(0, 2)))
        var lo: Int32 = 0, hi: Int32 = 0
        as_activation_range_s8(activation, random.float(0.01, 0.1), outputZeroPoint, &lo, &hi)
        activationMin = min(lo, hi)
        activationMax = hi
    }

    /// Calls body with the C parameter struct (valid only inside).
    func withParams<R>(_ body: (UnsafePointer<as_requant_s8>) -> R) -> R {
        var params = as_requant_s8(multiplier: multipliers.pointer, shift: shifts.pointer,
                                   output_zero_point: outputZeroPoint, activation_min: activationMin,
                                   activation_max: activationMax)
        return withUnsafePointer(to: &params) { body($0) }
    }
}

/// Weights in the natural [C_out][R] order packed into the int8 GEMM layout [R4][C_out][4].
func packedWeightsInt8(outChannels: Int, reduction: Int, random: inout TestRandom) -> CBuffer<Int8> {
    let natural = randomInt8(outChannels * reduction, &random, -127, 127)
    let packed = CBuffer<Int8>(count: ((reduction + 3) / 4) * outChannels * 4, initial: 0)
    as_pack_weights_s8(natural.pointer, Int32(outChannels), Int32(reduction), packed.pointer)
    return packed
}

/// Float weights [C_out][R] packed into the float GEMM layout [R][C_out].
func packedWeightsFloat(outChannels: Int, reduction: Int, random: inout TestRandom) -> CBuffer<Float> {
    let natural = randomFloat(outChannels * reduction, &random)
    let packed = CBuffer<Float>(count: reduction * outChannels, initial: 0)
    as_pack_weights_f32(natural.pointer, Int32(outChannels), Int32(reduction), packed.pointer)
    return packed
}

// MARK: - External tools

struct ToolResult {
    var status: Int32
    var output: String
    var error: String
}

/// Runs `executable` with `arguments`, capturing stdout and stderr (through files, so a chatty child
/// never blocks on a full pipe).
func runTool(_ executable: String, _ arguments: [String]) throws -> ToolResult {
    let directory = try makeScratchDirectory("run")
    defer { try? FileManager.default.removeItem(at: directory) }
    let outputURL = directory.appendingPathComponent("stdout"), errorURL = directory.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
    let output = try FileHandle(forWritingTo: outputURL), error = try FileHandle(forWritingTo: errorURL)
    defer {
        try? output.close()
        try? error.close()
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = output
    process.standardError = error
    try process.run()
    process.waitUntilExit()
    return ToolResult(status: process.terminationStatus,
                      output: (try? String(contentsOf: outputURL, encoding: .utf8)) ?? "",
                      error: (try? String(contentsOf: errorURL, encoding: .utf8)) ?? "")
}

/// Absolute path of `tool` on PATH, or nil.
func findTool(_ tool: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// Scratch directory for fixture builds (removed by the caller).
func makeScratchDirectory(_ name: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("autoshrink-runtime-tests-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}
