import COpenBLAS
import Foundation

/// Chooses OpenBLAS's kernel ("core type") and checks it.
///
/// Distro OpenBLAS builds (0.3.21 in Debian 12) do not recognise recent CPUs (e.g. Xeon family 6
/// model 207) and fall back to the generic Prescott kernel, 3-5x slower than the SkylakeX kernel
/// the CPU can run. OpenBLAS reads `OPENBLAS_CORETYPE` only when the library loads, before
/// `main`, so the CLI calls `reexecIfBeneficial()` first thing: when the variable is unset and
/// the detected core is a fallback while the CPU flags allow a better kernel, it sets the
/// variable and re-executes itself once. A user-set `OPENBLAS_CORETYPE` always wins;
/// `AUTOSHRINK_BLAS_CORETYPE=off` disables the choice. `verify()` compares sgemm against a
/// float64 reference so a wrong kernel is caught, not trusted.
public enum BLASConfiguration {
    /// Set (with `OPENBLAS_CORETYPE`) when autoshrink chose the core type and re-executed itself;
    /// the Slurm executor drops both from its jobs' environment (docs/cluster.md).
    public static let markerVariable = "AUTOSHRINK_BLAS_REEXEC"

    /// The core OpenBLAS is running (e.g. "Prescott", "SkylakeX").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS build configuration string.
    public static var buildConfiguration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config)
    }

    /// CPU feature flags from /proc/cpuinfo (empty where unreadable).
    public static func cpuFlags(cpuinfo: String? = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) -> Set<String> {
        guard let cpuinfo else { return [] }
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }

    /// The best OpenBLAS x86_64 core type these flags support, or nil (other architectures,
    /// or nothing better than what OpenBLAS detects on its own).
    public static func bestCoreType(flags: Set<String>) -> String? {
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) {
            return flags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// Core names OpenBLAS uses when it does not recognise an x86_64 CPU.
    static let fallbackCores: Set<String> = ["prescott", "core2", "nehalem", "katmai", "coppermine", "northwood", "banias", "atom", "unknown"]

    /// What `reexecIfBeneficial` would set, or nil to leave OpenBLAS alone.
    public static func chosenCoreType(environment: [String: String], detectedCore: String, flags: Set<String>) -> String? {
        if environment["OPENBLAS_CORETYPE"] != nil { return nil }            // the user's choice wins
        if environment["AUTOSHRINK_BLAS_CORETYPE"] == "off" { return nil }
        if let forced = environment["AUTOSHRINK_BLAS_CORETYPE"], !forced.isEmpty { return forced }
        if environment[markerVariable] != nil { return nil }                  // already re-executed once
        guard fallbackCores.contains(detectedCore.lowercased()) else { return nil }
        return bestCoreType(flags: flags)
    }

    /// Re-executes the current program with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to
    /// a generic kernel on a CPU that supports a faster one. Returns only when no re-exec happened.
    public static func reexecIfBeneficial() {
        let environment = ProcessInfo.processInfo.environment
        guard let core = chosenCoreType(environment: environment, detectedCore: coreName, flags: cpuFlags()) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(markerVariable, "1", 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // exec failed: carry on with the generic kernel.
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// Maximum absolute error of sgemm (n x n, values in [-1, 1]) against a float64 reference.
    public static func verify(size: Int = 96) -> Float {
        let n = size
        var state: UInt64 = 0x1234_5678
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
        let a = (0..<n * n).map { _ in next() }
        let b = (0..<n * n).map { _ in next() }
        var fast = [Float](repeating: 0, count: n * n)
        var slow = [Float](repeating: 0, count: n * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                fast.withUnsafeMutableBufferPointer { c in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                                a.baseAddress, Int32(n), b.baseAddress, Int32(n), 0, c.baseAddress, Int32(n))
                }
                slow.withUnsafeMutableBufferPointer { c in
                    GEMM.reference(m: n, n: n, k: n, a: a.baseAddress!, lda: n, b: b.baseAddress!, ldb: n,
                                   c: c.baseAddress!, ldc: n)
                }
            }
        }
        return zip(fast, slow).map { abs($0 - $1) }.max() ?? 0
    }

    /// Makes OpenBLAS single-threaded (the engine parallelises around it) and checks the kernel.
    /// Returns a warning to print, or nil.
    @discardableResult
    public static func configureForEngine() -> String? {
        openblas_set_num_threads(1)
        let error = verify()
        if error > 1e-3 {
            return "warning: OpenBLAS core \(coreName) gives wrong sgemm results (max error \(error)); set OPENBLAS_CORETYPE to a supported core"
        }
        return nil
    }

    /// One line for the resolved configuration printout.
    public static var summary: String {
        let source = ProcessInfo.processInfo.environment[markerVariable] != nil ? "chosen by autoshrink"
            : (ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil ? "from OPENBLAS_CORETYPE" : "detected by OpenBLAS")
        return "OpenBLAS core \(coreName) (\(source))"
    }
}
