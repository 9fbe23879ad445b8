import Foundation

/// What a device looked like when it was measured: CPU, cores, governor, temperature, kernel.
///
/// Probed through a runner with two native commands (`grep` over the interesting /proc and /sys files,
/// and `uname`). Every field is optional: a file that does not exist on the device (no cpufreq, no thermal
/// zones, a container) leaves its field nil and is never an error. Only failing to run at all is.
public struct DeviceEnvironment: Codable, Equatable, Sendable {
    /// CPU model, e.g. "Intel(R) Xeon(R) ..." or "ARM Cortex-A72" (from the implementer/part codes).
    public var cpuModel: String?
    /// Board model from the device tree, e.g. "Raspberry Pi 4 Model B Rev 1.4".
    public var boardModel: String?
    /// Online logical CPUs.
    public var coreCount: Int?
    /// cpufreq governor of cpu0, e.g. "ondemand" or "performance".
    public var governor: String?
    /// Current and maximum frequency of cpu0 in MHz.
    public var currentFrequencyMHz: Double?
    public var maxFrequencyMHz: Double?
    /// Highest thermal-zone temperature in degrees Celsius.
    public var temperatureCelsius: Double?
    /// Every readable thermal zone (type and degrees Celsius).
    public var thermalZones: [ThermalZone]
    /// Kernel release, e.g. "6.1.0-18-amd64".
    public var kernel: String?
    /// Machine as the device reports it (`uname -m`), or the device's architecture under emulation.
    public var arch: String?
    /// The emulator when the device is emulated (e.g. "qemu-aarch64 -cpu max"); the other fields then describe the host.
    public var emulator: String?
    /// The SIMD extensions the kernels care about, from /proc/cpuinfo's `flags` (x86) or `Features`
    /// (ARM) line, sorted (`DeviceEnvironment.isaFlagsOfInterest`). Nil in profiles made before it was recorded.
    public var isaFlags: [String]?

    public struct ThermalZone: Codable, Equatable, Sendable {
        public var name: String
        public var celsius: Double

        public init(name: String, celsius: Double) {
            self.name = name
            self.celsius = celsius
        }
    }

    public init(cpuModel: String? = nil, boardModel: String? = nil, coreCount: Int? = nil, governor: String? = nil,
                currentFrequencyMHz: Double? = nil, maxFrequencyMHz: Double? = nil, temperatureCelsius: Double? = nil,
                thermalZones: [ThermalZone] = [], kernel: String? = nil, arch: String? = nil, emulator: String? = nil,
                isaFlags: [String]? = nil) {
        self.cpuModel = cpuModel
        self.boardModel = boardModel
        self.coreCount = coreCount
        self.governor = governor
        self.currentFrequencyMHz = currentFrequencyMHz
        self.maxFrequencyMHz = maxFrequencyMHz
        self.temperatureCelsius = temperatureCelsius
        self.thermalZones = thermalZones
        self.kernel = kernel
        self.arch = arch
        self.emulator = emulator
        self.isaFlags = isaFlags
    }

    /// The CPU flags that decide which kernel paths run and how fast: two machines that differ in
    /// one of these are different machines to a profile, even with the same model name (VMs often
    /// report only "AMD EPYC").
    public static let isaFlagsOfInterest: Set<String> = [
        "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd",
        "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_int8", "amx_bf16",
        "neon", "asimd", "asimddp", "asimdhp", "i8mm", "sve", "sve2", "bf16", "vfpv4", "idiva",
    ]

    /// This machine, read straight from /proc and /sys (what `probe` reads through a local runner).
    public static func thisMachine() -> DeviceEnvironment {
        var lines: [String] = []
        for path in probedFiles {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) { lines.append("\(path):\(line)") }
        }
        var environment = parse(grepOutput: lines.joined(separator: "\n"))
        var name = utsname()
        uname(&name)
        environment.arch = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return environment
    }

    /// How `self` (the machine a profile was measured on) differs from `other` in what makes
    /// timings carry over: architecture, emulator, CPU model, core count and SIMD flags (flags only
    /// when both sides recorded them). Empty when they are the same machine as far as that goes.
    public func identityDifferences(from other: DeviceEnvironment) -> [String] {
        var differences: [String] = []
        func compare<T: Equatable>(_ what: String, _ mine: T?, _ theirs: T?, _ show: (T) -> String) {
            guard let mine, let theirs, mine != theirs else { return }
            differences.append("\(what) \(show(mine)) vs \(show(theirs))")
        }
        compare("arch", arch, other.arch) { $0 }
        compare("CPU", cpuModel, other.cpuModel) { "'\($0)'" }
        compare("cores", coreCount, other.coreCount) { String($0) }
        if emulator != other.emulator { differences.append("emulator \(emulator ?? "none") vs \(other.emulator ?? "none")") }
        if let mine = isaFlags, let theirs = other.isaFlags, mine != theirs {
            let onlyMine = Set(mine).subtracting(theirs).sorted(), onlyTheirs = Set(theirs).subtracting(mine).sorted()
            var parts: [String] = []
            if !onlyMine.isEmpty { parts.append("only the profiled machine has \(onlyMine.joined(separator: " "))") }
            if !onlyTheirs.isEmpty { parts.append("only this one has \(onlyTheirs.joined(separator: " "))") }
            differences.append("SIMD flags: " + parts.joined(separator: "; "))
        }
        return differences
    }

    /// Thermal zones probed (thermal_zone0 ... thermal_zone15).
    static let thermalZoneLimit = 16

    /// Files read in one `grep` call; missing ones are skipped silently (`-s`).
    static var probedFiles: [String] {
        var files = [
            "/proc/cpuinfo",
            "/sys/devices/system/cpu/online",
            "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
            "/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq",
            "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq",
            "/proc/device-tree/model",
            "/proc/sys/kernel/osrelease",
        ]
        for zone in 0..<thermalZoneLimit {
            files.append("/sys/class/thermal/thermal_zone\(zone)/type")
            files.append("/sys/class/thermal/thermal_zone\(zone)/temp")
        }
        return files
    }

    /// Probes the device behind `runner`. Throws only when the runner cannot run commands at all.
    public static func probe(using runner: any DeviceRunner, timeout: Double = 30) throws -> DeviceEnvironment {
        // `grep -s -H -a ''` prints "path:line" for every line of every file that exists (-a: the
        // device-tree model ends in a NUL byte), in one round trip; its exit status is ignored because a
        // missing file makes it 2 even though the others were printed.
        let files = try runner.execute(["grep", "-s", "-H", "-a", ""] + probedFiles, timeout: timeout)
        let uname = try? runner.execute(["uname", "-m"], timeout: timeout)
        var environment = parse(grepOutput: files.stdout)
        if let uname, uname.exitStatus == 0, let machine = firstNonEmptyLine(uname.stdout) {
            environment.arch = machine
        }
        if case .qemu(let settings) = runner.device.runner {
            environment.arch = runner.device.architecture.rawValue
            environment.emulator = "\(settings.binary) -cpu \(settings.cpu)"
        }
        return environment
    }

    /// Builds an environment from `path:line` output (as printed by `grep -H`).
    public static func parse(grepOutput: String) -> DeviceEnvironment {
        var lines: [String: [String]] = [:]
        for line in grepOutput.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            let value = String(line[line.index(after: colon)...]).replacingOccurrences(of: "\0", with: "")
            lines[path, default: []].append(value)
        }
        func first(_ path: String) -> String? {
            guard let value = lines[path]?.first?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
                return nil
            }
            return value
        }

        var environment = DeviceEnvironment()
        let cpuinfo = parseCPUInfo(lines["/proc/cpuinfo"] ?? [])
        environment.cpuModel = cpuinfo.model
        environment.isaFlags = cpuinfo.flags
        environment.coreCount = first("/sys/devices/system/cpu/online").flatMap(countCPUs) ?? cpuinfo.processors
        environment.governor = first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
        // cpufreq reports kHz.
        environment.currentFrequencyMHz = first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
            .flatMap(Double.init).map { $0 / 1000 }
        environment.maxFrequencyMHz = first("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
            .flatMap(Double.init).map { $0 / 1000 }
        environment.boardModel = first("/proc/device-tree/model") ?? cpuinfo.board
        environment.kernel = first("/proc/sys/kernel/osrelease")

        for zone in 0..<thermalZoneLimit {
            let base = "/sys/class/thermal/thermal_zone\(zone)"
            // Millidegrees Celsius. Switched-off or virtual sensors report -1, 0 or absurd values; a running
            // CPU below 0 C or above 200 C is not a reading worth keeping.
            guard let milli = first("\(base)/temp").flatMap(Double.init), milli > 0, milli < 200_000 else { continue }
            environment.thermalZones.append(ThermalZone(name: first("\(base)/type") ?? "thermal_zone\(zone)",
                                                        celsius: milli / 1000))
        }
        environment.temperatureCelsius = environment.thermalZones.map(\.celsius).max()
        return environment
    }

    /// Counts CPUs in a cpulist such as "0-3,6,8-9".
    static func countCPUs(_ list: String) -> Int? {
        var count = 0
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1:
                guard bounds[0] != nil else { return nil }
                count += 1
            case 2:
                guard let low = bounds[0], let high = bounds[1], high >= low else { return nil }
                count += high - low + 1
            default:
                return nil
            }
        }
        return count > 0 ? count : nil
    }

    /// Model name, processor count and board from /proc/cpuinfo lines ("key<TAB>: value").
    static func parseCPUInfo(_ lines: [String]) -> (model: String?, processors: Int?, board: String?, flags: [String]?) {
        var fields: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((line[..<colon].trimmingCharacters(in: .whitespaces),
                           line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        func value(_ key: String) -> String? { fields.first { $0.0 == key && !$0.1.isEmpty }?.1 }
        let processors = fields.filter { $0.0 == "processor" }.count
        var model = value("model name") ?? value("cpu model") ?? value("Processor")
        if model == nil, let implementer = value("CPU implementer"), let part = value("CPU part") {
            model = armCoreName(implementer: implementer, part: part)
        }
        let flags = (value("flags") ?? value("Features")).map { line in
            Set(line.split(separator: " ").map(String.init)).intersection(isaFlagsOfInterest).sorted()
        }
        return (model, processors > 0 ? processors : nil, value("Model") ?? value("Hardware"), flags)
    }

    /// Names for common ARM cores from the MIDR implementer and part numbers (as printed in /proc/cpuinfo).
    static func armCoreName(implementer: String, part: String) -> String {
        let parts: [String: String] = [
            "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57",
            "0xd08": "Cortex-A72", "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76",
            "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77", "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78",
            "0xd42": "Cortex-A78AE", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710",
            "0xd48": "Cortex-X2", "0xd49": "Neoverse-N2", "0xd4b": "Cortex-A78C", "0xd4d": "Cortex-A715",
            "0xd4e": "Cortex-X3", "0xd4f": "Neoverse-V2", "0xd80": "Cortex-A520", "0xd81": "Cortex-A720",
            "0xd82": "Cortex-X4", "0xc07": "Cortex-A7", "0xc09": "Cortex-A9", "0xc0f": "Cortex-A15",
        ]
        if implementer.lowercased() == "0x41", let name = parts[part.lowercased()] {
            return "ARM \(name)"
        }
        return "CPU implementer \(implementer) part \(part)"
    }
}
