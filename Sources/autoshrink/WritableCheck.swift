import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checks, before any work, that a command will be able to write its output (docs/architecture.md,
/// "CLI"): `train` and `profile` used to train or measure for minutes and only then find `--out`
/// unwritable. Nothing is left behind: the check finds the deepest existing folder on the way to
/// the output and creates and removes a hidden probe file in it (which also catches a read-only
/// file system, where permission bits say nothing, and works for root).
enum WritableCheck {
    /// `path` will be (or is inside) a folder the command creates: `train --out DIR`.
    static func directory(_ path: String, option: String) throws {
        try check(path, option: option, isFile: false)
    }

    /// `path` is a file the command writes: `profile --out FILE`.
    static func file(_ path: String, option: String) throws {
        try check(path, option: option, isFile: true)
    }

    private static func check(_ path: String, option: String, isFile: Bool) throws {
        func fail(_ reason: String) -> CLIError { CLIError("\(option) \(path): \(reason)") }
        guard !path.isEmpty else { throw fail("empty path") }
        var status = stat()
        if stat(path, &status) == 0 {
            let isDirectory = status.st_mode & S_IFMT == S_IFDIR
            if isFile && isDirectory { throw fail("is a directory") }
            if !isFile && !isDirectory { throw fail("exists and is not a directory") }
        }
        // The deepest existing ancestor (the path itself for an existing folder).
        var folder = isFile ? (path as NSString).deletingLastPathComponent : path
        if folder.isEmpty { folder = "." }
        while stat(folder, &status) != 0 {
            let code = errno
            guard code == ENOENT || code == ENOTDIR else { throw fail("cannot reach \(folder): \(String(cString: strerror(code)))") }
            let parent = (folder as NSString).deletingLastPathComponent
            if parent.isEmpty || parent == folder { folder = parent.isEmpty ? "." : parent; break }
            folder = parent
        }
        guard stat(folder, &status) == 0 else { throw fail("cannot reach \(folder): \(String(cString: strerror(errno)))") }
        guard status.st_mode & S_IFMT == S_IFDIR else { throw fail("\(folder) is not a directory") }
        let probe = (folder as NSString).appendingPathComponent(".autoshrink-probe-\(getpid())-\(UUID().uuidString.prefix(8))")
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw fail(folder == path ? "cannot write in it: \(reason)" : "cannot write in \(folder): \(reason)")
        }
        close(descriptor)
        unlink(probe)
    }
}
