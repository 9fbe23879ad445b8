import Foundation
import Testing
import AutoShrinkEngine
import AutoShrinkTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Property test of the reliability issue (issue 12): random valid and random corrupted input files
/// (arch.json, checkpoint, profile, config.json, trajectory.jsonl, device .toml) never crash a command
/// that reads them. Every run exits 0 or 1, never by a signal, prints no Swift crash report, and a failure
/// is one `Error:` line on stderr; the other input files stay byte for byte as they were and TMPDIR is
/// left empty. Seeded (`AUTOSHRINK_PROPERTY_SEED` overrides the seed), about 200 cases in all.
///
/// Mutations: truncation, byte flips, a value replaced by one of another type, huge numbers (1e400,
/// 2^63, 2^64), NaN/Infinity literals, deep nesting, a removed or unknown key, an empty file, binary
/// garbage, valid JSON of the wrong shape (another kind's file included); checkpoints also get header
/// edits with the length and checksum recomputed (so they reach the value checks) and NaN weights.
/// An input that ever crashed is kept in Fixtures/CorruptInputs/ and replayed by `regressions`.
@Suite("corrupt input files never crash a command",
       .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
struct CorruptInputPropertyTests {
    enum Kind: String, CaseIterable, Sendable {
        case architecture, checkpoint, profile, configuration, trajectory, device

        /// Where the mutated file goes, relative to the workspace.
        var target: String {
            switch self {
            case .architecture: return "m.arch.json"
            case .checkpoint: return "m.ckpt"
            case .profile: return "profiles/m.json"
            case .configuration: return "runs/tiny/config.json"
            case .trajectory: return "runs/tiny/trajectory.jsonl"
            case .device: return "m.toml"
            }
        }

        /// The valid file the mutations start from, relative to the corpus.
        var original: String {
            switch self {
            case .architecture: return "tiny.arch.json"
            case .checkpoint: return "model.ckpt"
            case .profile: return "profiles/local.json"
            case .configuration: return "runs/tiny/config.json"
            case .trajectory: return "runs/tiny/trajectory.jsonl"
            case .device: return "local.toml"
            }
        }

        /// Commands that read the file (`afile` is a regular file, so `--out afile/x` fails after parsing),
        /// taken in turn; the ones that load the dataset (train, search) come up less often.
        func commands(_ w: Workspace) -> [[String]] {
            let x = target
            let search = ["search", "--resume"] + ErrorPathTests.fastSearch(w)
            switch self {
            case .architecture:
                let predict = ["predict", x, "--profile", "profiles/local.json"]
                return [["info", x], predict, ["info", x, "--dot"], predict, ["info", x], predict, ["info", x, "--json"],
                        ["train", "--arch", x, "--out", "afile/t"] + ErrorPathTests.fastTraining]
            case .checkpoint:
                return [["info", x], ["evaluate", x, "--quiet", "--threads", "2"], ["predict", x, "--profile", "profiles/local.json"],
                        ["export", x, "--no-run", "--quiet", "--threads", "2", "--out", "afile/e"]]
            case .profile:
                return [["predict", "tiny.arch.json", "--profile", x],
                        ["report", "runs/tiny", "--profile", x, "--out", "reports/r.html", "--quiet"]]
            case .configuration, .trajectory:
                let report = ["report", "runs/tiny", "--out", "reports/r.html", "--quiet"]
                return [report, report + ["--json"], search]
            case .device:
                return [["export", "model.ckpt", "--no-run", "--quiet", "--device", x, "--out", "afile/e"],
                        ["profile", "--device", x, "--quiet", "--out", "afile/p.json"]]
            }
        }

        /// Cases per kind: about 200 in all.
        var cases: Int {
            switch self {
            case .architecture, .checkpoint: return 40
            case .profile, .device: return 30
            case .configuration, .trajectory: return 30
            }
        }
    }

    // MARK: - Tests

    @Test("corrupt files of each kind", arguments: Kind.allCases)
    func corruptFiles(kind: Kind) throws {
        let corpus = try Self.corpus()
        let seed = ProcessInfo.processInfo.environment["AUTOSHRINK_PROPERTY_SEED"].flatMap(UInt64.init) ?? 20261201
        var random = SplitMix64(seed: seed ^ UInt64(Kind.allCases.firstIndex(of: kind)! + 1) &* 0x9E37_79B9_7F4A_7C15)
        let original = try Data(contentsOf: URL(fileURLWithPath: corpus + "/" + kind.original))
        let others = Kind.allCases.filter { $0 != kind && $0 != .checkpoint }
            .map { try! Data(contentsOf: URL(fileURLWithPath: corpus + "/" + $0.original)) }
        let w = try Self.workspace(from: corpus)
        defer { w.remove() }
        let start = Date()
        var statuses: [Int32: Int] = [:]
        for index in 0..<kind.cases {
            let (label, bytes) = Mutator.mutate(kind: kind, original, others: others, random: &random)
            let commands = kind.commands(w)
            let command = commands[index % commands.count]
            let status = try check(w, kind: kind, label: "\(kind.rawValue) #\(index) \(label)", bytes: bytes, command: command)
            statuses[status, default: 0] += 1
        }
        print("corrupt-inputs: \(kind.rawValue): \(kind.cases) cases (seed \(seed)) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s, exit statuses \(statuses.sorted { $0.key < $1.key })")
    }

    @Test("inputs that once crashed a command are one-line errors now")
    func regressions() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/CorruptInputs").path
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        let corpus = try Self.corpus()
        let w = try Self.workspace(from: corpus)
        defer { w.remove() }
        for file in files {
            // NAME.KIND.bin: KIND says which file it stands for.
            let parts = file.split(separator: ".")
            guard parts.count >= 3, let kind = Kind(rawValue: String(parts[parts.count - 2])) else { continue }
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
            for command in kind.commands(w) {
                _ = try check(w, kind: kind, label: "regression \(file)", bytes: bytes, command: command)
            }
        }
    }

    // MARK: - One case

    /// Writes `bytes` as the kind's file, runs `command` and checks the contract; returns the exit status.
    @discardableResult
    func check(_ w: Workspace, kind: Kind, label: String, bytes: Data, command: [String],
               sourceLocation: SourceLocation = #_sourceLocation) throws -> Int32 {
        // A fresh copy of the run (search --resume repairs and rewrites its files).
        try? FileManager.default.removeItem(atPath: w.path("runs"))
        try FileManager.default.copyItem(atPath: w.path(".pristine/runs"), toPath: w.path("runs"))
        try bytes.write(to: URL(fileURLWithPath: w.path(kind.target)))
        let before = try Snapshot(w.root)
        let outcome = try w.run(command, timeout: 60)
        let shown = "\(label): autoshrink \(command.joined(separator: " "))"
        let crashed = outcome.signalled || [132, 133, 134, 135, 136, 137, 139].contains(outcome.status)
            || ["Program crashed", "Fatal error", "Backtrace", "Thread 0 crashed", "Stack dump"].contains { outcome.stderr.contains($0) }
        if crashed { Self.keep(bytes, kind: kind, label: label) }
        #expect(!crashed, "\(shown): crashed (exit \(outcome.status))\n\(outcome.stderr.prefix(2000))", sourceLocation: sourceLocation)
        #expect(outcome.status == 0 || outcome.status == 1, "\(shown): exit \(outcome.status)\n\(outcome.stderr.prefix(2000))", sourceLocation: sourceLocation)
        if outcome.status != 0 {
            let lines = outcome.lines.filter { !$0.hasPrefix("warning:") }
            #expect(lines.count == 1 && lines[0].hasPrefix("Error: "), "\(shown): stderr is not one Error: line:\n\(outcome.stderr.prefix(2000))",
                    sourceLocation: sourceLocation)
            #expect(!outcome.stderr.contains("Error Domain="), "\(shown): a raw Foundation error: \(outcome.stderr)", sourceLocation: sourceLocation)
        }
        // Nothing but the run (search --resume), reports/ and the output under afile may change.
        let after = try Snapshot(w.root)
        func inputs(_ snapshot: Snapshot) -> [String: Data] {
            snapshot.files.filter { !["runs/", "reports/", ".capture/", "tmp/"].contains(where: $0.key.hasPrefix) }
        }
        #expect(inputs(before) == inputs(after), "\(shown): input files changed: \(Set(inputs(before).keys).symmetricDifference(inputs(after).keys).sorted())",
                sourceLocation: sourceLocation)
        if kind != .configuration, let config = before.files["runs/tiny/config.json"] {
            #expect(after.files["runs/tiny/config.json"] == config, "\(shown): changed the run's config.json", sourceLocation: sourceLocation)
        }
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: w.temporary)) ?? []
        #expect(leftovers.isEmpty, "\(shown): left \(leftovers) in TMPDIR", sourceLocation: sourceLocation)
        for entry in leftovers { try? FileManager.default.removeItem(atPath: w.temporary + "/" + entry) }
        try? FileManager.default.removeItem(atPath: w.path("reports"))
        return outcome.status
    }

    /// Saves an input that crashed a command where a developer finds it (and can move it to Fixtures/CorruptInputs/).
    static func keep(_ bytes: Data, kind: Kind, label: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autoshrink-property-failures").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = label.map { $0.isLetter || $0.isNumber ? $0 : "-" }.reduce("") { $0 + String($1) }
        let path = "\(directory)/\(name).\(kind.rawValue).bin"
        try? bytes.write(to: URL(fileURLWithPath: path))
        print("corrupt-inputs: kept the crashing input as \(path)")
    }

    // MARK: - Corpus

    /// A workspace holding a copy of the corpus, `afile` (a regular file) and a pristine copy of the run.
    static func workspace(from corpus: String) throws -> Workspace {
        let w = try Workspace()
        for entry in try FileManager.default.contentsOfDirectory(atPath: corpus) {
            try FileManager.default.copyItem(atPath: corpus + "/" + entry, toPath: w.path(entry))
        }
        try FileManager.default.createDirectory(atPath: w.path(".pristine"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: corpus + "/runs", toPath: w.path(".pristine/runs"))
        try w.write("afile", "a regular file\n")
        return w
    }

    /// Valid inputs of every kind, made once per test process: the tiny architecture and its checkpoint,
    /// a finished tiny search run, a quick profile of this machine and devices/local.toml.
    static func corpus() throws -> String {
        if let failure = corpusResult.failure { throw TestSetupError(failure) }
        return corpusResult.directory
    }

    struct Corpus: Sendable {
        var directory: String
        var failure: String?
    }

    static let corpusResult: Corpus = {
        do {
            let w = try Workspace()
            guard let checkpoint = DataSafetyTests.fixture.checkpoint else {
                return Corpus(directory: "", failure: DataSafetyTests.fixture.failure)
            }
            try FileManager.default.copyItem(atPath: checkpoint, toPath: w.path("model.ckpt"))
            try w.write("tiny.arch.json", ErrorPathTests.tinyArchitecture)
            try FileManager.default.copyItem(atPath: ErrorPathTests.localDevice, toPath: w.path("local.toml"))
            let search = try w.run(["search"] + ErrorPathTests.fastSearch(w))
            guard search.status == 0 else { return Corpus(directory: "", failure: "corpus search failed: \(search.stderr)") }
            let profile = try w.run(["profile", "--device", w.path("local.toml"), "--out", w.path("profiles/local.json")] + ErrorPathTests.fastProfile(w))
            guard profile.status == 0 else { return Corpus(directory: "", failure: "corpus profile failed: \(profile.stderr)") }
            try? FileManager.default.removeItem(atPath: w.temporary)
            try? FileManager.default.removeItem(atPath: w.root + "/.capture")
            return Corpus(directory: w.root, failure: nil)
        } catch {
            return Corpus(directory: "", failure: "corpus: \(error)")
        }
    }()
}

// MARK: - Mutations

enum Mutator {
    /// Placeholders written as JSON strings and replaced by raw text afterwards (JSONSerialization
    /// cannot write these).
    static let rawLiterals = ["NaN", "Infinity", "-Infinity", "nan", "1e400", "-1e400", "1e308", "9223372036854775807",
                              "9223372036854775808", "18446744073709551616", "-9223372036854775809", "4294967296",
                              "2147483648", "-1", "0", "-0", "1.5", "1e-400", "123456789012345678901234567890"]

    static func mutate(kind: CorruptInputPropertyTests.Kind, _ original: Data, others: [Data],
                       random: inout SplitMix64) -> (String, Data) {
        switch kind {
        case .device: return mutateTOML(original, random: &random)
        case .checkpoint: return mutateCheckpoint(original, random: &random)
        case .trajectory: return mutateLines(original, others: others, random: &random)
        default: return mutateJSON(original, others: others, random: &random)
        }
    }

    // Byte-level mutations shared by every kind.
    static func bytewise(_ data: Data, random: inout SplitMix64) -> (String, Data)? {
        switch Int.random(in: 0..<5, using: &random) {
        case 0:
            let length = Int.random(in: 0..<max(data.count, 1), using: &random)
            return ("truncated to \(length) bytes", data.prefix(length))
        case 1:
            var bytes = [UInt8](data)
            let flips = Int.random(in: 1...8, using: &random)
            for _ in 0..<flips where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &random)] ^= UInt8.random(in: 1...255, using: &random)
            }
            return ("\(flips) byte flips", Data(bytes))
        case 2:
            return ("empty", Data())
        case 3:
            let count = Int.random(in: 1...4096, using: &random)
            return ("\(count) bytes of garbage", Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }))
        default:
            return nil
        }
    }

    static func mutateJSON(_ original: Data, others: [Data], random: inout SplitMix64) -> (String, Data) {
        if Int.random(in: 0..<4, using: &random) == 0, let bytewise = bytewise(original, random: &random) { return bytewise }
        guard let root = try? JSONSerialization.jsonObject(with: original) else { return ("unchanged", original) }
        return structural(root, others: others, random: &random)
    }

    /// A structural change of a parsed JSON document, written back as text.
    static func structural(_ root: Any, others: [Data], random: inout SplitMix64) -> (String, Data) {
        let paths = JSONPath.all(in: root)
        let numeric = paths.filter { JSONPath.value(at: $0, in: root) is NSNumber }
        func pick(_ preferNumbers: Bool) -> [JSONPath.Component] {
            let pool = preferNumbers && !numeric.isEmpty ? numeric : paths
            return pool.isEmpty ? [] : pool[Int.random(in: 0..<pool.count, using: &random)]
        }
        func text(_ value: Any) -> Data {
            (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])) ?? Data("null".utf8)
        }
        func raw(_ document: Any, _ placeholder: String, _ literal: String) -> Data {
            let written = String(decoding: text(document), as: UTF8.self)
            return Data(written.replacingOccurrences(of: "\"\(placeholder)\"", with: literal).utf8)
        }
        let placeholder = "@@RAW@@"
        switch Int.random(in: 0..<8, using: &random) {
        case 0:
            let path = pick(false)
            let replacements: [Any] = ["x", "", 0, -1, true, NSNull(), [Any](), [String: Any](), 1.5, [1, 2, 3], ["a": 1]]
            let value = replacements[Int.random(in: 0..<replacements.count, using: &random)]
            return ("\(JSONPath.show(path)) = \(String(decoding: text(value), as: UTF8.self))", text(JSONPath.replacing(path, in: root, with: value)))
        case 1, 2:
            let path = pick(true)
            let literal = rawLiterals[Int.random(in: 0..<rawLiterals.count, using: &random)]
            return ("\(JSONPath.show(path)) = \(literal)", raw(JSONPath.replacing(path, in: root, with: placeholder), placeholder, literal))
        case 3:
            let path = pick(false)
            let depth = [64, 600, 5000, 100_000][Int.random(in: 0..<4, using: &random)]
            let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            return ("\(JSONPath.show(path)) nested \(depth) deep", raw(JSONPath.replacing(path, in: root, with: placeholder), placeholder, nested))
        case 4:
            let path = pick(false)
            guard !path.isEmpty else { return ("unchanged", text(root)) }
            return ("removed \(JSONPath.show(path))", text(JSONPath.removing(path, in: root)))
        case 5:
            let shapes: [Data] = [Data("[]".utf8), Data("42".utf8), Data("\"text\"".utf8), Data("null".utf8), Data("{}".utf8),
                                  Data("true".utf8), Data("{\"format\": 7, \"version\": \"1\"}".utf8)] + others
            let index = Int.random(in: 0..<shapes.count, using: &random)
            return ("wrong shape #\(index)", shapes[index])
        case 6:
            // An unknown key next to a known one, or an object where an array belongs.
            let path = pick(false)
            return ("\(JSONPath.show(path)) = {unknown}", text(JSONPath.replacing(path, in: root, with: ["unknown": ["deep": [1, "x", NSNull()]]])))
        default:
            let path = pick(true)
            let huge = [Int64.max, Int64.min, 1 << 40, Int64(Int32.max) + 1, -(1 << 31)][Int.random(in: 0..<5, using: &random)]
            return ("\(JSONPath.show(path)) = \(huge)", text(JSONPath.replacing(path, in: root, with: NSNumber(value: huge))))
        }
    }

    /// trajectory.jsonl: one line mutated (or the whole file).
    static func mutateLines(_ original: Data, others: [Data], random: inout SplitMix64) -> (String, Data) {
        if Int.random(in: 0..<4, using: &random) == 0, let bytewise = bytewise(original, random: &random) { return bytewise }
        var lines = String(decoding: original, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { return ("unchanged", original) }
        let index = Int.random(in: 0..<lines.count, using: &random)
        guard let record = try? JSONSerialization.jsonObject(with: Data(lines[index].utf8)) else { return ("unchanged", original) }
        let (label, changed) = structural(record, others: others, random: &random)
        lines[index] = String(decoding: changed, as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
        if Int.random(in: 0..<4, using: &random) == 0 { lines.append(lines[index]) }  // and a duplicate
        return ("line \(index + 1): \(label)", Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    /// A device file: a value replaced, a line dropped or doubled, an unknown key or table, or bytes.
    static func mutateTOML(_ original: Data, random: inout SplitMix64) -> (String, Data) {
        if Int.random(in: 0..<4, using: &random) == 0, let bytewise = bytewise(original, random: &random) { return bytewise }
        var lines = String(decoding: original, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let assignments = lines.indices.filter { lines[$0].contains(" = ") && !lines[$0].hasPrefix("#") }
        guard !assignments.isEmpty else { return ("unchanged", original) }
        let line = assignments[Int.random(in: 0..<assignments.count, using: &random)]
        let key = String(lines[line].prefix { $0 != " " })
        let values = ["\"x\"", "\"\"", "1e400", "nan", "inf", "-inf", "99999999999999999999999", "-1", "0", "9223372036854775807",
                      "true", "[]", "{}", "[1, \"a\"]", "{ a = 1 }", String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000),
                      "\"\\u0000\"", "'''", "\"" + String(repeating: "a", count: 100_000) + "\"", "1979-05-27T07:32:00Z"]
        switch Int.random(in: 0..<5, using: &random) {
        case 0, 1:
            let value = values[Int.random(in: 0..<values.count, using: &random)]
            lines[line] = "\(key) = \(value)"
            return ("\(key) = \(value.prefix(40))", Data(lines.joined(separator: "\n").utf8))
        case 2:
            lines.remove(at: line)
            return ("removed \(key)", Data(lines.joined(separator: "\n").utf8))
        case 3:
            lines.insert(lines[line], at: line)
            return ("doubled \(key)", Data(lines.joined(separator: "\n").utf8))
        default:
            let extra = ["unknown = 1", "[runner.extra]", "[[compiler]]", "[compiler]", "name.sub = 1", "\u{FEFF}x = 1"]
            let text = extra[Int.random(in: 0..<extra.count, using: &random)]
            lines.insert(text, at: Int.random(in: 0...lines.count, using: &random))
            return ("added '\(text)'", Data(lines.joined(separator: "\n").utf8))
        }
    }

    /// A checkpoint: bytes, or its JSON header / payload edited with the frame recomputed so the edit
    /// gets past the checksum (layout in docs/architecture.md, "File formats").
    static func mutateCheckpoint(_ original: Data, random: inout SplitMix64) -> (String, Data) {
        if Int.random(in: 0..<3, using: &random) == 0, let bytewise = bytewise(original, random: &random) { return bytewise }
        let bytes = [UInt8](original)
        let length = (0..<8).reduce(0) { $0 | Int(bytes[12 + $1]) << (8 * $1) }
        let header = Data(bytes[20..<(20 + length)])
        var payload = Array(bytes[(20 + length)..<(bytes.count - 8)])
        var json = [UInt8](header)
        var label: String
        var lengthField: UInt64?
        var version = Array(bytes[8..<12])
        switch Int.random(in: 0..<6, using: &random) {
        case 0, 1, 2:
            let root = (try? JSONSerialization.jsonObject(with: header)) ?? [:]
            let (what, changed) = structural(root, others: [], random: &random)
            label = "header: \(what)"
            json = [UInt8](changed)
        case 3:
            let value: Float = [.nan, .infinity, -.infinity, .greatestFiniteMagnitude, 1e30][Int.random(in: 0..<5, using: &random)]
            let count = max(payload.count / 4, 1)
            for _ in 0..<Int.random(in: 1...4, using: &random) where payload.count >= 4 {
                let at = Int.random(in: 0..<count, using: &random) * 4
                withUnsafeBytes(of: value.bitPattern.littleEndian) { payload.replaceSubrange(at..<(at + 4), with: $0) }
            }
            label = "payload: weights set to \(value)"
        case 4:
            lengthField = [0, UInt64(length) + 1, UInt64(length) - 1, UInt64.max, UInt64(Int64.max), 1 << 40][Int.random(in: 0..<6, using: &random)]
            label = "header length field \(lengthField!)"
        default:
            let value = [0, 2, UInt32.max][Int.random(in: 0..<3, using: &random)]
            version = withUnsafeBytes(of: value.littleEndian) { Array($0) }
            label = "version \(value)"
        }
        let body = json + payload
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in body { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        var out = Array(bytes[0..<8]) + version
        out += (0..<8).map { UInt8(truncatingIfNeeded: (lengthField ?? UInt64(json.count)) >> (8 * $0)) }
        out += body
        out += (0..<8).map { UInt8(truncatingIfNeeded: hash >> (8 * $0)) }
        return (label, Data(out))
    }
}

/// Paths into a parsed JSON value.
enum JSONPath {
    enum Component { case key(String), index(Int) }

    static func all(in value: Any, prefix: [Component] = []) -> [[Component]] {
        var paths: [[Component]] = prefix.isEmpty ? [] : [prefix]
        if let object = value as? [String: Any] {
            for key in object.keys.sorted() { paths += all(in: object[key]!, prefix: prefix + [.key(key)]) }
        } else if let array = value as? [Any] {
            for (index, element) in array.enumerated() { paths += all(in: element, prefix: prefix + [.index(index)]) }
        }
        return paths
    }

    static func value(at path: [Component], in root: Any) -> Any? {
        var current: Any = root
        for component in path {
            switch component {
            case .key(let key): guard let next = (current as? [String: Any])?[key] else { return nil }; current = next
            case .index(let index): guard let array = current as? [Any], array.indices.contains(index) else { return nil }; current = array[index]
            }
        }
        return current
    }

    static func replacing(_ path: [Component], in root: Any, with replacement: Any) -> Any {
        guard let first = path.first else { return replacement }
        let rest = Array(path.dropFirst())
        switch first {
        case .key(let key):
            guard var object = root as? [String: Any], let child = object[key] else { return root }
            object[key] = replacing(rest, in: child, with: replacement)
            return object
        case .index(let index):
            guard var array = root as? [Any], array.indices.contains(index) else { return root }
            array[index] = replacing(rest, in: array[index], with: replacement)
            return array
        }
    }

    static func removing(_ path: [Component], in root: Any) -> Any {
        guard let first = path.first else { return root }
        let rest = Array(path.dropFirst())
        switch first {
        case .key(let key):
            guard var object = root as? [String: Any], let child = object[key] else { return root }
            if rest.isEmpty { object[key] = nil } else { object[key] = removing(rest, in: child) }
            return object
        case .index(let index):
            guard var array = root as? [Any], array.indices.contains(index) else { return root }
            if rest.isEmpty { array.remove(at: index) } else { array[index] = removing(rest, in: array[index]) }
            return array
        }
    }

    static func show(_ path: [Component]) -> String {
        path.isEmpty ? "(top level)" : path.map {
            switch $0 { case .key(let key): return ".\(key)"; case .index(let index): return "[\(index)]" }
        }.joined()
    }
}
