import Foundation
import Testing
@testable import AutoShrinkProfiler
@testable import AutoShrinkTarget

@Suite("Device description files")
struct DeviceTests {
    static let shippedNames = ["local", "qemu-aarch64", "raspberry-pi-4", "raspberry-pi-5",
                               "jetson-orin-nano-cpu", "raspberry-pi-3-armv7", "ssh-localhost"]

    @Test("every shipped device file loads", arguments: DeviceDescription.availableDeviceNames(in: "\(repositoryRoot)/devices"))
    func shippedFileLoads(name: String) throws {
        let device = try shippedDevice(name)
        #expect(device.name == name, "the name inside \(name).toml should match its file name")
        #expect(!device.compiler.flags.isEmpty)
        #expect(!device.notes.isEmpty)
    }

    @Test("the required device files are shipped")
    func requiredFilesShipped() {
        let available = Set(DeviceDescription.availableDeviceNames(in: "\(repositoryRoot)/devices"))
        for name in Self.shippedNames {
            #expect(available.contains(name), "devices/\(name).toml is missing")
        }
    }

    @Test("shipped files say what the design asks for")
    func shippedContents() throws {
        let local = try shippedDevice("local")
        #expect(local.architecture == .x86_64)
        #expect(local.compiler == CompilerSettings(cc: "gcc", flags: ["-O3", "-march=native"]))
        #expect(local.runner == .local)

        let qemu = try shippedDevice("qemu-aarch64")
        #expect(qemu.architecture == .aarch64)
        #expect(qemu.compiler.cc == "aarch64-linux-gnu-gcc")
        #expect(qemu.compiler.flags == ["-O3", "-march=armv8.2-a+dotprod"])
        #expect(qemu.runner == .qemu(QemuSettings(binary: "qemu-aarch64", sysroot: "/usr/aarch64-linux-gnu", cpu: "max")))

        let pi4 = try shippedDevice("raspberry-pi-4")
        #expect(pi4.compiler.flags == ["-O3", "-mcpu=cortex-a72"])
        guard case .ssh(let pi4SSH) = pi4.runner else { Issue.record("raspberry-pi-4 is not ssh"); return }
        #expect(pi4SSH.user == "pi")
        #expect(pi4SSH.displayTarget == "pi@raspberrypi.local:22")

        #expect(try shippedDevice("raspberry-pi-5").compiler.flags.contains("-mcpu=cortex-a76"))
        #expect(try shippedDevice("jetson-orin-nano-cpu").compiler.flags.contains("-mcpu=cortex-a78ae"))

        let pi3 = try shippedDevice("raspberry-pi-3-armv7")
        #expect(pi3.architecture == .armv7)
        #expect(pi3.compiler == CompilerSettings(cc: "arm-linux-gnueabihf-gcc",
                                                 flags: ["-O3", "-mcpu=cortex-a53", "-mfpu=neon-fp-armv8", "-mfloat-abi=hard"]))

        let loopback = try shippedDevice("ssh-localhost")
        guard case .ssh(let settings) = loopback.runner else { Issue.record("ssh-localhost is not ssh"); return }
        #expect(settings.host == "127.0.0.1")
        #expect(settings.port == 2222)
        #expect(settings.user == nil)
        #expect(settings.options.contains("UserKnownHostsFile=/tmp/autoshrink-test-sshd/known_hosts"))
    }

    static let minimal = """
        name = "pi"
        arch = "aarch64"
        threads = 1
        [compiler]
        cc = "aarch64-linux-gnu-gcc"
        flags = ["-O3"]
        [runner]
        kind = "ssh"
        host = "pi.local"
        remote_dir = "autoshrink"
        """

    @Test("defaults for optional keys")
    func optionalDefaults() throws {
        let device = try DeviceDescription.parse(toml: Self.minimal, file: "devices/pi.toml")
        #expect(device.notes == "")
        #expect(device.compiler.ldflags == [])
        #expect(device.runner == .ssh(SSHSettings(host: "pi.local", remoteDirectory: "autoshrink")))

        let qemu = try DeviceDescription.parse(toml: """
            name = "q"
            arch = "armv7"
            threads = 2
            [compiler]
            cc = "arm-linux-gnueabihf-gcc"
            flags = []
            [runner]
            kind = "qemu"
            """, file: "q.toml")
        #expect(qemu.runner == .qemu(QemuSettings(binary: "qemu-arm", sysroot: "/usr/arm-linux-gnueabihf", cpu: "max")))
        #expect(qemu.threads == 2)
    }

    /// A device file that must not load: why, its text, the key the message must name (nil for whole-file
    /// problems) and text the message must contain.
    struct BadFile: Sendable, CustomTestStringConvertible {
        let why: String
        let toml: String
        let key: String?
        let expected: String
        var testDescription: String { why }

        init(_ why: String, _ toml: String, _ key: String?, _ expected: String) {
            self.why = why
            self.toml = toml
            self.key = key
            self.expected = expected
        }
    }

    static let badFiles: [BadFile] = [
        BadFile("missing host", minimal.replacingOccurrences(of: "host = \"pi.local\"\n", with: ""),
         "runner.host", "missing key 'runner.host' (required for ssh runners)"),
        BadFile("missing name", minimal.replacingOccurrences(of: "name = \"pi\"\n", with: ""), "name", "missing key 'name'"),
        BadFile("missing compiler table", """
            name = "pi"
            arch = "aarch64"
            threads = 1
            [runner]
            kind = "local"
            """, "compiler", "missing key 'compiler'"),
        BadFile("missing flags", minimal.replacingOccurrences(of: "flags = [\"-O3\"]\n", with: ""), "compiler.flags", "missing key 'compiler.flags'"),
        BadFile("missing threads", minimal.replacingOccurrences(of: "threads = 1\n", with: ""), "threads", "missing key 'threads'"),
        BadFile("missing runner kind", minimal.replacingOccurrences(of: "kind = \"ssh\"\n", with: ""), "runner.kind", "missing key 'runner.kind'"),
        BadFile("unknown top-level key", minimal.replacingOccurrences(of: "threads = 1\n", with: "threads = 1\nthreds = 2\n"),
         "threds", "unknown key 'threds' (did you mean 'threads'?)"),
        BadFile("unknown compiler key", minimal.replacingOccurrences(of: "flags = [\"-O3\"]", with: "fags = [\"-O3\"]\nflags = []"),
         "compiler.fags", "unknown key 'compiler.fags' (did you mean 'compiler.flags'?)"),
        BadFile("unknown runner key", minimal.replacingOccurrences(of: "host = \"pi.local\"", with: "host = \"pi.local\"\nhots = \"x\""),
         "runner.hots", "unknown key 'runner.hots'"),
        BadFile("unknown table", minimal + "\n[extra]\nx = 1\n", "extra", "unknown key 'extra'"),
        BadFile("key of another runner kind", minimal.replacingOccurrences(of: "host = \"pi.local\"", with: "host = \"pi.local\"\nsysroot = \"/\""),
         "runner.sysroot", "key 'runner.sysroot' is not used by ssh runners (only by qemu)"),
        BadFile("wrong type: port string", minimal + "\nport = \"22\"\n", "runner.port", "key 'runner.port' must be an integer, got a string"),
        BadFile("wrong type: flags string", minimal.replacingOccurrences(of: "flags = [\"-O3\"]", with: "flags = \"-O3 -mcpu=cortex-a72\""),
         "compiler.flags", "key 'compiler.flags' must be an array of strings, got a string"),
        BadFile("wrong type: flags item", minimal.replacingOccurrences(of: "flags = [\"-O3\"]", with: "flags = [\"-O3\", 3]"),
         "compiler.flags", "item 2 is an integer"),
        BadFile("wrong type: threads float", minimal.replacingOccurrences(of: "threads = 1", with: "threads = 1.5"),
         "threads", "key 'threads' must be an integer, got a floating-point number"),
        BadFile("wrong type: runner not a table", """
            name = "pi"
            arch = "aarch64"
            threads = 1
            runner = "local"
            [compiler]
            cc = "gcc"
            flags = []
            """, "runner", "key 'runner' must be a table, got a string"),
        BadFile("unknown arch", minimal.replacingOccurrences(of: "arch = \"aarch64\"", with: "arch = \"arm64\""),
         "arch", "unknown arch 'arm64' for key 'arch' (expected one of: x86_64, aarch64, armv7)"),
        BadFile("unknown runner kind", minimal.replacingOccurrences(of: "kind = \"ssh\"", with: "kind = \"telnet\""),
         "runner.kind", "unknown runner kind 'telnet' for key 'runner.kind' (expected one of: local, ssh, qemu)"),
        BadFile("port out of range", minimal + "\nport = 70000\n", "runner.port", "between 1 and 65535"),
        BadFile("threads zero", minimal.replacingOccurrences(of: "threads = 1", with: "threads = 0"), "threads", "between 1 and 1024"),
        BadFile("dangerous remote_dir", minimal.replacingOccurrences(of: "remote_dir = \"autoshrink\"", with: "remote_dir = \"/\""),
         "runner.remote_dir", "key 'runner.remote_dir'"),
        BadFile("ssh_options not for scp", minimal + "\nssh_options = [\"-p\", \"2222\"]\n", "runner.ssh_options", "item '-p'"),
        BadFile("ssh_options bare KEY=VALUE", minimal + "\nssh_options = [\"UserKnownHostsFile=/x\"]\n",
         "runner.ssh_options", "item 'UserKnownHostsFile=/x'"),
        BadFile("malformed TOML", "name = \"pi\"\narch = aarch64\n", nil, "malformed TOML at line 2"),
        BadFile("malformed TOML: duplicate key", "name = \"pi\"\nname = \"again\"\n", nil, "malformed TOML at line 2"),
    ]

    @Test("bad files give one line naming file and key", arguments: badFiles)
    func badFile(_ bad: BadFile) throws {
        let (why, toml, key, expected) = (bad.why, bad.toml, bad.key, bad.expected)
        let directory = try TemporaryDirectory("parse")
        defer { directory.remove() }
        let path = try directory.write("pi.toml", toml)
        do {
            let device = try DeviceDescription.load(path: path)
            Issue.record("\(why): loaded \(device.name) instead of failing")
        } catch let error as DeviceDescriptionError {
            let message = error.description
            #expect(!message.contains("\n"), "\(why): more than one line: \(message)")
            #expect(message.hasPrefix("\(path): "), "\(why): does not start with the file: \(message)")
            #expect(message.contains(expected), "\(why): \(message)")
            #expect(error.key == key, "\(why): \(message)")
            if let key { #expect(message.contains("'\(key)'"), "\(why): key not named: \(message)") }
            #expect(error.localizedDescription == message)
        }
    }

    @Test("missing file and unknown device name")
    func missingFiles() throws {
        #expect(throws: DeviceDescriptionError(file: "/nonexistent/x.toml", key: nil, problem: "no such file")) {
            try DeviceDescription.load(path: "/nonexistent/x.toml")
        }
        do {
            _ = try DeviceDescription.resolve("raspberry-pi-9", devicesDirectory: "\(repositoryRoot)/devices")
            Issue.record("resolved a device that does not exist")
        } catch let error as DeviceDescriptionError {
            #expect(error.description.contains("no such device 'raspberry-pi-9'"))
            #expect(error.description.contains("raspberry-pi-4"))
        }
        let byName = try DeviceDescription.resolve("qemu-aarch64", devicesDirectory: "\(repositoryRoot)/devices")
        #expect(byName == (try shippedDevice("qemu-aarch64")))
    }

    @Test("JSON round trip keeps every field", arguments: shippedNames)
    func jsonRoundTrip(name: String) throws {
        let device = try shippedDevice(name)
        let data = try JSONEncoder().encode(device)
        #expect(try JSONDecoder().decode(DeviceDescription.self, from: data) == device)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let runner = object?["runner"] as? [String: Any]
        #expect(runner?["kind"] as? String == device.runner.kind.rawValue)
    }

    @Test("ssh_options accept the options ssh and scp share")
    func sshOptionsValidation() {
        #expect(DeviceDescription.sshOptionsProblem([]) == nil)
        #expect(DeviceDescription.sshOptionsProblem(["-o", "A=b", "-F", "/c", "-J", "gw", "-4", "-oX=y", "-C"]) == nil)
        #expect(DeviceDescription.sshOptionsProblem(["-o"]) != nil)
        #expect(DeviceDescription.sshOptionsProblem(["-t"]) != nil)
        #expect(DeviceDescription.sshOptionsProblem(["-P", "22"]) != nil)
    }
}
