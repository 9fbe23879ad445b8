import Foundation

// The device description types (`devices/<name>.toml`, parsed strictly by AutoShrinkTarget; embedded
// as JSON in profiles and in export.json). They live here so every file format can carry a device typed.

/// The instruction set of a device; decides the cross compiler and the qemu binary.
public enum DeviceArchitecture: String, Codable, Sendable, CaseIterable {
    case x86_64
    case aarch64
    case armv7
}

/// The C compiler for a device: the driver (`cc`), optimisation/target flags and extra linker flags.
public struct CompilerSettings: Codable, Equatable, Sendable {
    /// Compiler driver, a name on PATH or a path (e.g. `aarch64-linux-gnu-gcc`).
    public var cc: String
    /// Code generation flags (e.g. `["-O3", "-mcpu=cortex-a72"]`).
    public var flags: [String]
    /// Extra linker flags placed after the sources (e.g. `["-static"]`).
    public var ldflags: [String]

    public init(cc: String, flags: [String], ldflags: [String] = []) {
        self.cc = cc
        self.flags = flags
        self.ldflags = ldflags
    }
}

/// How to reach a device over SSH; the user's ~/.ssh/config still applies on top of these.
public struct SSHSettings: Codable, Equatable, Sendable {
    public var host: String
    /// Login name; nil lets ssh config (or the local user name) decide.
    public var user: String?
    /// Port; nil lets ssh config decide (ssh's default is 22).
    public var port: Int?
    /// Directory on the device for uploaded binaries; relative paths are under the login directory.
    public var remoteDirectory: String
    public var identityFile: String?
    /// Extra arguments passed verbatim to both ssh and scp (e.g. `["-o", "UserKnownHostsFile=/x"]`).
    public var options: [String]

    public init(host: String, user: String? = nil, port: Int? = nil, remoteDirectory: String,
                identityFile: String? = nil, options: [String] = []) {
        self.host = host
        self.user = user
        self.port = port
        self.remoteDirectory = remoteDirectory
        self.identityFile = identityFile
        self.options = options
    }

    /// `user@host:port` (or `host:port`) for messages.
    public var displayTarget: String {
        "\(user.map { "\($0)@" } ?? "")\(host):\(port ?? 22)"
    }

    enum CodingKeys: String, CodingKey {
        case host, user, port
        case remoteDirectory = "remote_dir"
        case identityFile = "identity_file"
        case options = "ssh_options"
    }
}

/// How to run binaries of another architecture on this machine with qemu user-mode emulation.
public struct QemuSettings: Codable, Equatable, Sendable {
    /// The qemu user-mode binary (e.g. `qemu-aarch64`).
    public var binary: String
    /// Where the target's dynamic loader and libc live (qemu's `-L`, e.g. `/usr/aarch64-linux-gnu`).
    public var sysroot: String
    /// The emulated CPU model (qemu's `-cpu`, e.g. `max`).
    public var cpu: String

    public init(binary: String, sysroot: String, cpu: String = "max") {
        self.binary = binary
        self.sysroot = sysroot
        self.cpu = cpu
    }

    /// The usual qemu binary and sysroot for `architecture` on a Debian host.
    public static func defaults(for architecture: DeviceArchitecture) -> QemuSettings {
        switch architecture {
        case .aarch64: return QemuSettings(binary: "qemu-aarch64", sysroot: "/usr/aarch64-linux-gnu")
        case .armv7: return QemuSettings(binary: "qemu-arm", sysroot: "/usr/arm-linux-gnueabihf")
        case .x86_64: return QemuSettings(binary: "qemu-x86_64", sysroot: "/")
        }
    }
}

/// The kinds of runner a device file can name.
public enum RunnerKind: String, Codable, Sendable, CaseIterable {
    case local, ssh, qemu
}

/// Where and how the device runs binaries.
public enum RunnerSettings: Equatable, Sendable, Codable {
    case local
    case ssh(SSHSettings)
    case qemu(QemuSettings)

    public var kind: RunnerKind {
        switch self {
        case .local: return .local
        case .ssh: return .ssh
        case .qemu: return .qemu
        }
    }

    // Encoded flat, like the TOML table: {"kind": "ssh", "host": ..., "port": ...}.
    enum KindKey: String, CodingKey { case kind }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: KindKey.self)
        switch try container.decode(RunnerKind.self, forKey: .kind) {
        case .local: self = .local
        case .ssh: self = .ssh(try SSHSettings(from: decoder))
        case .qemu: self = .qemu(try QemuSettings(from: decoder))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: KindKey.self)
        try container.encode(kind, forKey: .kind)
        switch self {
        case .local: break
        case .ssh(let settings): try settings.encode(to: encoder)
        case .qemu(let settings): try settings.encode(to: encoder)
        }
    }
}

/// A device as described by `devices/<name>.toml`: architecture, compiler, runner, threads and notes.
public struct DeviceDescription: Codable, Equatable, Sendable {
    public var name: String
    public var architecture: DeviceArchitecture
    public var compiler: CompilerSettings
    /// Threads the deployed binary may use (1 for the single-threaded kernels).
    public var threads: Int
    public var notes: String
    public var runner: RunnerSettings

    public init(name: String, architecture: DeviceArchitecture, compiler: CompilerSettings,
                threads: Int = 1, notes: String = "", runner: RunnerSettings) {
        self.name = name
        self.architecture = architecture
        self.compiler = compiler
        self.threads = threads
        self.notes = notes
        self.runner = runner
    }

    enum CodingKeys: String, CodingKey {
        case name
        case architecture = "arch"
        case compiler, threads, notes, runner
    }
}

