import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Names of the scratch folders and files autoshrink makes in the temporary directory, and the
/// cleaning of ones a killed process left behind (docs/architecture.md, "Names, locks and output folders").
///
/// Every scratch item is `autoshrink-KIND-pPID-XXXXXXXX[.json]` in `$TMPDIR` (KIND one of `kinds`, PID
/// the creating process, X uppercase hex). `cleanStale` removes the ones whose process is gone; items
/// named by older versions, without a pid, are removed when they are more than a day old. Nothing else
/// is touched: only exact matches of these patterns, owned by the current user, never through a symlink.
public enum ScratchFiles {
    /// The kinds of scratch item, one per place that makes one.
    public static let kinds: Set<String> = ["subprocess", "export", "deploy", "profile", "runner", "progress", "bench"]

    /// How old a scratch item without a recorded pid must be before it counts as left over.
    public static let legacyAge: TimeInterval = 24 * 3600

    /// A fresh path for a scratch item of `kind` in the temporary directory (nothing is created).
    public static func path(_ kind: String, suffix: String = "", in directory: String? = nil) -> String {
        precondition(kinds.contains(kind), "unknown scratch kind \(kind)")
        let base = directory ?? temporaryDirectory
        return (base as NSString).appendingPathComponent("autoshrink-\(kind)-p\(getpid())-\(UUID().uuidString.prefix(8))\(suffix)")
    }

    /// `$TMPDIR` (or /tmp), as Foundation's `temporaryDirectory` resolves it.
    public static var temporaryDirectory: String { FileManager.default.temporaryDirectory.path }

    /// Who owns a scratch item, from its name alone; nil when the name is not one of ours.
    public enum Owner: Equatable, Sendable {
        case process(pid_t)
        /// Named by a version that did not record its pid.
        case unknown
    }

    /// Parses `name` (a file name, no directory) against the current and the earlier naming patterns.
    public static func owner(of name: String) -> Owner? {
        guard name.hasPrefix("autoshrink-") else { return nil }
        let rest = name.dropFirst("autoshrink-".count)
        // Current: KIND-pPID-HEX8, with ".json" for progress files.
        if let dash = rest.firstIndex(of: "-"), kinds.contains(String(rest[..<dash])) {
            let kind = String(rest[..<dash])
            var tail = rest[rest.index(after: dash)...]
            if kind == "progress" {
                guard tail.hasSuffix(".json") else { return legacyOwner(name) }
                tail = tail.dropLast(".json".count)
            }
            let parts = tail.split(separator: "-", omittingEmptySubsequences: false)
            if parts.count == 2, parts[0].first == "p", let pid = Int32(parts[0].dropFirst()), pid > 0,
               String(parts[0].dropFirst()) == String(pid), isHex(parts[1], count: 8) {
                return .process(pid)
            }
        }
        return legacyOwner(name)
    }

    /// Names used before pids were recorded: `autoshrink-subprocess-UUID`, `autoshrink-progress-UUID.json`,
    /// `autoshrink-export-HEX8`, `autoshrink-deploy-HEX8`, `autoshrink-profile-DEVICE-HEX8`.
    private static func legacyOwner(_ name: String) -> Owner? {
        let rest = name.dropFirst("autoshrink-".count)
        if rest.hasPrefix("subprocess-"), isUUID(rest.dropFirst("subprocess-".count)) { return .unknown }
        if rest.hasPrefix("progress-"), rest.hasSuffix(".json"),
           isUUID(rest.dropFirst("progress-".count).dropLast(".json".count)) { return .unknown }
        for kind in ["export-", "deploy-"] where rest.hasPrefix(kind) {
            if isHex(rest.dropFirst(kind.count), count: 8) { return .unknown }
        }
        if rest.hasPrefix("profile-") {
            let device = rest.dropFirst("profile-".count).dropLast(9)  // "-HEX8"
            let tail = rest.suffix(9)
            if !device.isEmpty, tail.first == "-", isHex(tail.dropFirst(), count: 8), SafeName.problem(String(device)) == nil {
                return .unknown
            }
        }
        return nil
    }

    /// Removes left-over scratch items from `directory` (default `$TMPDIR`); returns the names removed.
    /// An item is left over when its process no longer exists, or, for an item without a pid, when it
    /// was last modified more than `legacyAge` ago. Errors are ignored: cleaning must never fail a command.
    @discardableResult
    public static func cleanStale(in directory: String? = nil, now: Date = Date()) -> [String] {
        let base = directory ?? temporaryDirectory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { return [] }
        var removed: [String] = []
        for name in names.sorted() {
            guard let owner = owner(of: name) else { continue }
            let path = (base as NSString).appendingPathComponent(name)
            var status = stat()
            guard lstat(path, &status) == 0, status.st_uid == getuid() else { continue }
            let type = status.st_mode & S_IFMT
            guard type == S_IFDIR || type == S_IFREG else { continue }  // never a symlink
            switch owner {
            case .process(let pid):
                if pid == getpid() || isAlive(pid) { continue }
            case .unknown:
                let modified = Date(timeIntervalSince1970: TimeInterval(status.st_mtim.tv_sec))
                if now.timeIntervalSince(modified) < legacyAge { continue }
            }
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(name) }
        }
        return removed
    }

    /// True when a process with this pid exists (possibly another user's: EPERM).
    public static func isAlive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    static func isHex<S: StringProtocol>(_ text: S, count: Int) -> Bool {
        text.count == count && text.utf8.allSatisfy { (48...57).contains($0) || (65...70).contains($0) }
    }

    static func isUUID<S: StringProtocol>(_ text: S) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { isHex($0, count: $0.count) }
    }
}

/// What a killed export leaves beside its output folder `deploy/NAME`: the staging folder
/// `.NAME.tmp-XXXXXXXX` and, when it died between its two renames, the earlier export parked as
/// `.NAME.old-XXXXXXXX`. Called while holding the folder's export lock (`.NAME.lock`), which every
/// export that makes these holds for its whole life, so none of them belongs to a live process.
public enum ExportLeftovers {
    /// Kind of a left-over item beside an output folder named `name`, from its file name.
    public enum Kind: Equatable, Sendable { case staging, parked }

    public static func kind(of entry: String, outputName name: String) -> Kind? {
        for (marker, kind) in [(".tmp-", Kind.staging), (".old-", Kind.parked)] {
            let prefix = ".\(name)\(marker)"
            if entry.hasPrefix(prefix), ScratchFiles.isHex(entry.dropFirst(prefix.count), count: 8) { return kind }
        }
        return nil
    }

    /// Removes staging folders; puts a parked earlier export back when the output folder is missing
    /// (removes it otherwise). Returns one line per action, for the log.
    @discardableResult
    public static func clean(outputFolder path: String) -> [String] {
        let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
        let parent = (standardized as NSString).deletingLastPathComponent
        let name = (standardized as NSString).lastPathComponent
        guard !name.isEmpty, name != "/", let entries = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return [] }
        var actions: [String] = []
        // Parked exports newest first, so the most recent one is the one restored.
        let matches = entries.compactMap { entry in kind(of: entry, outputName: name).map { (entry, $0) } }
        for (entry, kind) in matches.sorted(by: { modified("\(parent)/\($0.0)") > modified("\(parent)/\($1.0)") }) {
            let full = "\(parent)/\(entry)"
            var status = stat()
            guard lstat(full, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else { continue }
            var outputStatus = stat()
            if kind == .parked, lstat(standardized, &outputStatus) != 0, rename(full, standardized) == 0 {
                actions.append("restored the earlier export \(standardized) from \(full) (left by a killed export)")
                continue
            }
            if (try? FileManager.default.removeItem(atPath: full)) != nil {
                actions.append("removed \(full) (left by a killed export)")
            }
        }
        return actions
    }

    private static func modified(_ path: String) -> Int {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mtim.tv_sec : 0
    }
}
