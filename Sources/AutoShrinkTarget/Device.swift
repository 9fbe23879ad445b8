import Foundation
import TOMLKit
@_exported import AutoShrinkFormats

// A device description is a small human-written TOML file (`devices/<name>.toml`) that says how to
// build C for a device and how to reach it. Loading is strict: every unknown, missing or mistyped key
// is an error naming the file and the key, because a typo that passes silently (e.g. `fags = [...]`)
// would otherwise produce a profile measured with the wrong compiler flags.

/// A device file that cannot be used; `description` is one line naming the file and, where there is one, the key.
public struct DeviceDescriptionError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// The file as it was given to the loader.
    public var file: String
    /// The dotted key at fault (e.g. `runner.host`), nil for whole-file problems such as malformed TOML.
    public var key: String?
    /// The problem, without the file name.
    public var problem: String

    public init(file: String, key: String?, problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }
    public var errorDescription: String? { description }
}

// MARK: - Loading

extension DeviceDescription {
    /// Loads and validates a device file.
    public static func load(path: String) throws -> DeviceDescription {
        let text: String
        do { text = try FileProblem.readText(path, maximumBytes: 1 << 20) } catch let error as FileAccessError {
            throw DeviceDescriptionError(file: path, key: nil, problem: error.reason)
        }
        return try parse(toml: text, file: path)
    }

    /// Loads a device by name (`devices/<name>.toml`) or by path (anything with a slash or a `.toml` suffix).
    public static func resolve(_ nameOrPath: String, devicesDirectory: String? = nil) throws -> DeviceDescription {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".toml") {
            return try load(path: nameOrPath)
        }
        let directories = devicesDirectory.map { [$0] } ?? searchDirectories()
        for directory in directories where FileManager.default.fileExists(atPath: "\(directory)/\(nameOrPath).toml") {
            return try load(path: "\(directory)/\(nameOrPath).toml")
        }
        let available = Set(directories.flatMap { availableDeviceNames(in: $0) }).sorted()
        let list = available.isEmpty ? "none" : available.joined(separator: ", ")
        throw DeviceDescriptionError(file: "\(directories[0])/\(nameOrPath).toml", key: nil,
                                     problem: "no such device '\(nameOrPath)' (looked in \(directories.joined(separator: ", ")); available: \(list))")
    }

    /// Where device names are looked up: `./devices`, then `$AUTOSHRINK_DEVICES`, then the `devices/`
    /// of the checkout the running executable was built in (`.build/release/autoshrink` -> `devices/`),
    /// so the shipped boards work from any directory.
    public static func searchDirectories(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var directories = ["devices"]
        if let custom = environment["AUTOSHRINK_DEVICES"], !custom.isEmpty { directories.append(custom) }
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("devices").path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), isDirectory.boolValue {
                directories.append(candidate)
                break
            }
            directory = directory.deletingLastPathComponent()
        }
        var seen = Set<String>()
        return directories.filter { seen.insert(URL(fileURLWithPath: $0).standardizedFileURL.path).inserted }
    }

    /// Device names (file stems) in `directory`, sorted.
    public static func availableDeviceNames(in directory: String = "devices") -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.filter { $0.hasSuffix(".toml") }.map { String($0.dropLast(5)) }.sorted()
    }

    /// Parses device TOML; `file` is only used in error messages.
    public static func parse(toml text: String, file: String) throws -> DeviceDescription {
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let position = error.source.begin
            let reason = error.description.split(whereSeparator: \.isNewline).joined(separator: " ")
            throw DeviceDescriptionError(file: file, key: nil,
                                         problem: "malformed TOML at line \(position.line), column \(position.column): \(reason)")
        } catch {
            throw DeviceDescriptionError(file: file, key: nil, problem: "malformed TOML: \(error)")
        }

        let top = TableReader(file: file, prefix: "", table: root)
        try top.rejectUnknownKeys(allowed: ["name", "arch", "threads", "notes", "compiler", "runner"])

        let name = try top.requiredString("name")
        guard SafeName.problem(name) == nil else {  // it names profiles/<name>.json
            throw top.error("name", "key 'name' must be a non-empty name of at most \(SafeName.maximumLength) letters, digits, '-', '_' or '.', not starting with '.' (got '\(name)')")
        }
        let archText = try top.requiredString("arch")
        guard let architecture = DeviceArchitecture(rawValue: archText) else {
            throw top.error("arch", "unknown arch '\(archText)' for key 'arch' (expected one of: \(DeviceArchitecture.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let threads = try top.requiredInt("threads")
        guard (1...1024).contains(threads) else {
            throw top.error("threads", "key 'threads' must be between 1 and 1024 (got \(threads))")
        }
        let notes = try top.string("notes") ?? ""

        let compilerTable = try top.requiredTable("compiler")
        try compilerTable.rejectUnknownKeys(allowed: ["cc", "flags", "ldflags"])
        let cc = try compilerTable.requiredString("cc")
        guard !cc.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw compilerTable.error("cc", "key 'compiler.cc' must not be empty")
        }
        let compiler = CompilerSettings(cc: cc,
                                        flags: try compilerTable.requiredStringArray("flags"),
                                        ldflags: try compilerTable.stringArray("ldflags") ?? [])

        let runnerTable = try top.requiredTable("runner")
        let runner = try parseRunner(runnerTable, architecture: architecture)

        return DeviceDescription(name: name, architecture: architecture, compiler: compiler,
                                 threads: threads, notes: notes, runner: runner)
    }

    private static let keysByRunnerKind: [RunnerKind: [String]] = [
        .local: ["kind"],
        .ssh: ["kind", "host", "user", "port", "remote_dir", "identity_file", "ssh_options"],
        .qemu: ["kind", "binary", "sysroot", "cpu"],
    ]

    private static func parseRunner(_ table: TableReader, architecture: DeviceArchitecture) throws -> RunnerSettings {
        let kindText = try table.requiredString("kind")
        guard let kind = RunnerKind(rawValue: kindText) else {
            throw table.error("kind", "unknown runner kind '\(kindText)' for key 'runner.kind' (expected one of: \(RunnerKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let allowed = keysByRunnerKind[kind] ?? []
        for key in table.table.keys.sorted() where !allowed.contains(key) {
            let owners = RunnerKind.allCases.filter { keysByRunnerKind[$0]?.contains(key) == true }.map(\.rawValue)
            if !owners.isEmpty {
                throw table.error(key, "key 'runner.\(key)' is not used by \(kind.rawValue) runners (only by \(owners.joined(separator: ", ")))")
            }
            throw table.unknownKeyError(key, allowed: allowed)
        }

        switch kind {
        case .local:
            return .local
        case .ssh:
            let why = "(required for ssh runners)"
            let host = try table.requiredString("host", why: why)
            guard !host.isEmpty, !host.contains(where: \.isWhitespace), !host.hasPrefix("-") else {
                throw table.error("host", "key 'runner.host' must be a host name or address (got '\(host)')")
            }
            let user = try table.string("user")
            if let user, user.isEmpty || user.contains(where: \.isWhitespace) || user.hasPrefix("-") || user.contains("@") {
                throw table.error("user", "key 'runner.user' must be a login name (got '\(user)')")
            }
            let port = try table.int("port")
            if let port, !(1...65535).contains(port) {
                throw table.error("port", "key 'runner.port' must be between 1 and 65535 (got \(port))")
            }
            let remoteDirectory = try table.requiredString("remote_dir", why: why)
            guard !remoteDirectory.isEmpty, remoteDirectory != "/", remoteDirectory != "~", remoteDirectory != "~/" else {
                throw table.error("remote_dir", "key 'runner.remote_dir' must name a directory for autoshrink's files, not '\(remoteDirectory)'")
            }
            let options = try table.stringArray("ssh_options") ?? []
            if let problem = sshOptionsProblem(options) {
                throw table.error("ssh_options", "key 'runner.ssh_options' \(problem)")
            }
            return .ssh(SSHSettings(host: host, user: user, port: port, remoteDirectory: remoteDirectory,
                                    identityFile: try table.string("identity_file"), options: options))
        case .qemu:
            let defaults = QemuSettings.defaults(for: architecture)
            return .qemu(QemuSettings(binary: try table.string("binary") ?? defaults.binary,
                                      sysroot: try table.string("sysroot") ?? defaults.sysroot,
                                      cpu: try table.string("cpu") ?? defaults.cpu))
        }
    }

    /// ssh_options go to both ssh and scp, so only options both accept are allowed.
    /// Returns a description of the first offending item, or nil.
    static func sshOptionsProblem(_ options: [String]) -> String? {
        let flags: Set<String> = ["-4", "-6", "-A", "-C", "-q", "-v", "-vv", "-vvv"]
        let flagsWithValue: Set<String> = ["-o", "-F", "-J", "-i", "-c"]
        let allowedText = "only options that both ssh and scp accept are allowed (-o KEY=VALUE, -F FILE, -J HOST, -i FILE, -c CIPHER, -4, -6, -A, -C, -q, -v)"
        var index = 0
        while index < options.count {
            let item = options[index]
            if flags.contains(item) {
                index += 1
            } else if flagsWithValue.contains(item) {
                guard index + 1 < options.count else { return "item '\(item)' needs a value after it" }
                index += 2
            } else if item.count > 2, flagsWithValue.contains(String(item.prefix(2))) {
                index += 1  // attached value, e.g. "-oIdentitiesOnly=yes"
            } else {
                return "item '\(item)': \(allowedText)"
            }
        }
        return nil
    }
}

/// Typed access to one TOML table with error messages naming the file and the dotted key.
struct TableReader {
    let file: String
    /// Dotted prefix of this table's keys, e.g. "runner." (empty at the top level).
    let prefix: String
    let table: TOMLTable

    func error(_ key: String, _ problem: String) -> DeviceDescriptionError {
        DeviceDescriptionError(file: file, key: prefix + key, problem: problem)
    }

    func unknownKeyError(_ key: String, allowed: [String]) -> DeviceDescriptionError {
        var problem = "unknown key '\(prefix)\(key)'"
        if let suggestion = closestKey(to: key, among: allowed) {
            problem += " (did you mean '\(prefix)\(suggestion)'?)"
        } else {
            problem += " (allowed here: \(allowed.joined(separator: ", ")))"
        }
        return error(key, problem)
    }

    func rejectUnknownKeys(allowed: [String]) throws {
        for key in table.keys.sorted() where !allowed.contains(key) {
            throw unknownKeyError(key, allowed: allowed)
        }
    }

    private func wrongType(_ key: String, expected: String, value: TOMLValueConvertible) -> DeviceDescriptionError {
        error(key, "key '\(prefix)\(key)' must be \(expected), got \(article(value.type.description))")
    }

    private func missing(_ key: String, why: String?) -> DeviceDescriptionError {
        error(key, "missing key '\(prefix)\(key)'" + (why.map { " \($0)" } ?? ""))
    }

    func string(_ key: String) throws -> String? {
        guard let value = table[key] else { return nil }
        guard let string = value.string else { throw wrongType(key, expected: "a string", value: value) }
        return string
    }

    func requiredString(_ key: String, why: String? = nil) throws -> String {
        guard let string = try string(key) else { throw missing(key, why: why) }
        return string
    }

    func int(_ key: String) throws -> Int? {
        guard let value = table[key] else { return nil }
        guard let int = value.int else { throw wrongType(key, expected: "an integer", value: value) }
        return int
    }

    func requiredInt(_ key: String) throws -> Int {
        guard let int = try int(key) else { throw missing(key, why: nil) }
        return int
    }

    func stringArray(_ key: String) throws -> [String]? {
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw wrongType(key, expected: "an array of strings", value: value) }
        var strings: [String] = []
        for (index, item) in array.enumerated() {
            guard let string = item.string else {
                throw error(key, "key '\(prefix)\(key)' must be an array of strings, item \(index + 1) is \(article(item.type.description))")
            }
            strings.append(string)
        }
        return strings
    }

    func requiredStringArray(_ key: String) throws -> [String] {
        guard let array = try stringArray(key) else { throw missing(key, why: nil) }
        return array
    }

    func requiredTable(_ key: String) throws -> TableReader {
        guard let value = table[key] else { throw missing(key, why: "(a [\(prefix)\(key)] table)") }
        guard let subtable = value.table else { throw wrongType(key, expected: "a table", value: value) }
        return TableReader(file: file, prefix: "\(prefix)\(key).", table: subtable)
    }
}

private func article(_ noun: String) -> String {
    "aeiou".contains(noun.first ?? "x") ? "an \(noun)" : "a \(noun)"
}

/// The allowed key within edit distance 2 of `key`, for "did you mean" hints.
private func closestKey(to key: String, among candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(key, $0)) }.filter { $0.1 <= 2 }
    return scored.min { $0.1 < $1.1 }?.0
}

private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
