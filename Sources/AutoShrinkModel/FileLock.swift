import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive advisory lock (`flock`) on a lock file, held for the life of one search or export
/// (docs/architecture.md, "Names, locks and output folders"). The holder writes its pid into the file
/// so a second process can say who has it. The kernel drops the lock when the holder exits, even when
/// it is killed, so a stale lock file never blocks anyone.
public final class FileLock: @unchecked Sendable {
    public let path: String
    private var descriptor: Int32

    /// Takes the lock without waiting; throws a one-line `FileLockError` naming `what` and the holder's pid.
    public init(path: String, what: String) throws {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FileLockError("\(path): cannot create lock file (\(String(cString: strerror(errno))))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            var holder = ""
            if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                holder = text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            close(descriptor)
            descriptor = -1
            if reason == EWOULDBLOCK {
                throw FileLockError("\(what) is in use by another autoshrink process\(holder.isEmpty ? "" : " (pid \(holder))")")
            }
            throw FileLockError("\(path): cannot lock (\(String(cString: strerror(reason))))")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = text.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    /// Releases the lock (also done on deinit and, by the kernel, on exit).
    public func release() {
        guard descriptor >= 0 else { return }
        _ = flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// A lock held by another process, or a lock file that cannot be made; the description is one line.
public struct FileLockError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
