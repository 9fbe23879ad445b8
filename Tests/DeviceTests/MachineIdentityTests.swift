import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

/// Profiles record the machine they were measured on (CPU model, cores, SIMD flags) and are refused
/// on another machine unless the user allows it (issues 12 and 15: an AVX-512 profile used on an
/// AVX2 machine under-predicted 3.9x without a word).
@Suite("Machine identity of profiles")
struct MachineIdentityTests {
    static let avx512 = DeviceEnvironment(cpuModel: "AMD EPYC", coreCount: 2, arch: "x86_64",
                                          isaFlags: ["avx", "avx2", "avx512bw", "avx512f", "avx512vl", "avx512_vnni", "fma"])
    static let avx2 = DeviceEnvironment(cpuModel: "AMD EPYC", coreCount: 2, arch: "x86_64", isaFlags: ["avx", "avx2", "fma"])

    @Test("cpuinfo flags and Features lines are kept to the SIMD flags of interest, sorted")
    func parsesFlags() {
        let x86 = DeviceEnvironment.parse(grepOutput: """
            /proc/cpuinfo:processor\t: 0
            /proc/cpuinfo:model name\t: AMD EPYC
            /proc/cpuinfo:flags\t\t: fpu vme avx2 sse4_2 fma avx512f avx512_vnni rdrand
            """)
        #expect(x86.isaFlags == ["avx2", "avx512_vnni", "avx512f", "fma", "sse4_2"])
        let arm = DeviceEnvironment.parse(grepOutput: """
            /proc/cpuinfo:processor\t: 0
            /proc/cpuinfo:Features\t: fp asimd evtstrm aes asimddp i8mm cpuid
            """)
        #expect(arm.isaFlags == ["asimd", "asimddp", "i8mm"])
        #expect(DeviceEnvironment.thisMachine().isaFlags?.isEmpty == false)
        #expect(DeviceEnvironment.thisMachine().identityDifferences(from: .thisMachine()).isEmpty)
    }

    @Test("same model name, other SIMD flags: a different machine; fields one side lacks are not compared")
    func differences() {
        let differences = Self.avx512.identityDifferences(from: Self.avx2)
        #expect(differences == ["SIMD flags: only the profiled machine has avx512_vnni avx512bw avx512f avx512vl"])
        var other = Self.avx2
        other.cpuModel = "Intel Xeon"; other.coreCount = 4
        #expect(Self.avx2.identityDifferences(from: other) == ["CPU 'AMD EPYC' vs 'Intel Xeon'", "cores 2 vs 4"])
        var old = Self.avx512
        old.isaFlags = nil  // profiles made before flags were recorded
        #expect(old.identityDifferences(from: Self.avx2).isEmpty)
    }

    @Test("load refuses a local profile of another machine, names what differs and how to fix it; allowing it warns")
    func loadRefusesForeignProfiles() throws {
        let directory = try TemporaryDirectory("identity")
        defer { directory.remove() }
        let entries = try PredictorTests.refnetEntries()
        var foreign = DeviceEnvironment.thisMachine()
        foreign.cpuModel = "Some Other CPU"
        let path = directory.file("foreign.json")
        try handMadeProfile(entries, environment: foreign).write(to: path)
        do {
            _ = try ProfileLatencyPredictor.load(path: path)
            Issue.record("a profile of another machine was accepted")
        } catch {
            let message = "\(error)"
            #expect(message.hasPrefix("\(path): measured on another machine than this one (CPU 'Some Other CPU' vs"))
            #expect(message.contains("re-run autoshrink profile --device bench") && message.contains("--allow-foreign-profile"))
            #expect(!message.contains("\n"))
        }
        let allowed = try ProfileLatencyPredictor.load(path: path, allowForeignMachine: true)
        #expect(allowed.foreignMachineWarning?.hasPrefix("warning: \(path): measured on another machine") == true)
        // This machine's own profile loads without a warning; a profile of another device name is refused for that device.
        let own = directory.file("own.json")
        try handMadeProfile(entries).write(to: own)
        #expect(try ProfileLatencyPredictor.load(path: own).foreignMachineWarning == nil)
        #expect(throws: ProfileError.self) { try ProfileLatencyPredictor.load(path: own, device: "raspberry-pi-4") }
    }

    @Test("qemu profiles compare the host only; SSH profiles are not checked without reaching the device")
    func runnerKinds() throws {
        let entries = try PredictorTests.refnetEntries()
        var profile = handMadeProfile(entries)
        var host = DeviceEnvironment.thisMachine()
        host.arch = "aarch64"; host.emulator = "qemu-aarch64 -cpu max"
        profile.environment = host
        profile.device.description.runner = .qemu(QemuSettings(binary: "qemu-aarch64", sysroot: "/usr/aarch64-linux-gnu", cpu: "max"))
        #expect(ProfileLatencyPredictor.foreignMachineDifferences(profile).isEmpty)
        profile.environment.coreCount = 64
        #expect(ProfileLatencyPredictor.foreignMachineDifferences(profile).count == 1)
        profile.device.description.runner = .ssh(SSHSettings(host: "pi.local", remoteDirectory: "/tmp/autoshrink"))
        #expect(ProfileLatencyPredictor.foreignMachineDifferences(profile).isEmpty)
    }
}
