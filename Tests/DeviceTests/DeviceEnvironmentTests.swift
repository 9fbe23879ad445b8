import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

@Suite("Device environment probe")
struct DeviceEnvironmentTests {
    @Test("probing this machine through the local runner")
    func probeLocal() throws {
        let environment = try DeviceEnvironment.probe(using: LocalRunner(device: localDevice()))
        #expect(environment.arch == "x86_64")
        #expect((environment.coreCount ?? 0) >= 1)
        #expect(environment.kernel != nil)
        #expect(environment.cpuModel != nil)
        #expect(environment.emulator == nil)
        let json = try JSONEncoder().encode(environment)
        #expect(try JSONDecoder().decode(DeviceEnvironment.self, from: json) == environment)
    }

    @Test("under qemu the architecture is the device's and the emulator is named",
          .enabled(if: hasAArch64Toolchain, "qemu-aarch64 missing (tools/setup)"))
    func probeQemu() throws {
        let environment = try DeviceEnvironment.probe(using: makeRunner(for: try shippedDevice("qemu-aarch64")))
        #expect(environment.arch == "aarch64")
        #expect(environment.emulator == "qemu-aarch64 -cpu max")
    }

    static let raspberryPiOutput = """
        /proc/cpuinfo:processor\t: 0
        /proc/cpuinfo:BogoMIPS\t: 108.00
        /proc/cpuinfo:CPU implementer\t: 0x41
        /proc/cpuinfo:CPU part\t: 0xd08
        /proc/cpuinfo:
        /proc/cpuinfo:processor\t: 1
        /proc/cpuinfo:CPU implementer\t: 0x41
        /proc/cpuinfo:CPU part\t: 0xd08
        /proc/cpuinfo:Hardware\t: BCM2835
        /proc/cpuinfo:Model\t: Raspberry Pi 4 Model B Rev 1.4
        /sys/devices/system/cpu/online:0-3
        /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor:ondemand
        /sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq:600000
        /sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq:1800000
        /proc/device-tree/model:Raspberry Pi 4 Model B Rev 1.4\u{0}
        /proc/sys/kernel/osrelease:6.1.21-v8+
        /sys/class/thermal/thermal_zone0/type:cpu-thermal
        /sys/class/thermal/thermal_zone0/temp:51121
        """

    @Test("parsing a Raspberry Pi's files")
    func parseRaspberryPi() {
        let environment = DeviceEnvironment.parse(grepOutput: Self.raspberryPiOutput)
        #expect(environment == DeviceEnvironment(
            cpuModel: "ARM Cortex-A72", boardModel: "Raspberry Pi 4 Model B Rev 1.4", coreCount: 4, governor: "ondemand",
            currentFrequencyMHz: 600, maxFrequencyMHz: 1800, temperatureCelsius: 51.121,
            thermalZones: [.init(name: "cpu-thermal", celsius: 51.121)], kernel: "6.1.21-v8+"))
    }

    @Test("missing files leave fields nil; nothing at all is not an error")
    func missingFiles() {
        #expect(DeviceEnvironment.parse(grepOutput: "") == DeviceEnvironment())
        let containerLike = """
            /proc/cpuinfo:processor\t: 0
            /proc/cpuinfo:model name\t: Example CPU @ 2.00GHz
            /proc/cpuinfo:processor\t: 1
            /proc/cpuinfo:model name\t: Example CPU @ 2.00GHz
            /sys/class/thermal/thermal_zone0/temp:-1
            """
        let environment = DeviceEnvironment.parse(grepOutput: containerLike)
        #expect(environment.cpuModel == "Example CPU @ 2.00GHz")
        #expect(environment.coreCount == 2)
        #expect(environment.governor == nil)
        #expect(environment.temperatureCelsius == nil, "a -1 millidegree sensor reading is a switched-off sensor")
        #expect(environment.kernel == nil)
    }

    @Test("cpu lists and ARM part names")
    func helpers() {
        #expect(DeviceEnvironment.countCPUs("0-3") == 4)
        #expect(DeviceEnvironment.countCPUs("0-3,6,8-9") == 7)
        #expect(DeviceEnvironment.countCPUs("0") == 1)
        #expect(DeviceEnvironment.countCPUs("x") == nil)
        #expect(DeviceEnvironment.armCoreName(implementer: "0x41", part: "0xd0b") == "ARM Cortex-A76")
        #expect(DeviceEnvironment.armCoreName(implementer: "0x41", part: "0xd42") == "ARM Cortex-A78AE")
        #expect(DeviceEnvironment.armCoreName(implementer: "0x51", part: "0x001") == "CPU implementer 0x51 part 0x001")
    }
}
