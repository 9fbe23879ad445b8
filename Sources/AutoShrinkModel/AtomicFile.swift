import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes whole result files (checkpoints, profiles, architectures, reports, ONNX models, manifests)
/// so that a failure never leaves a half-written file or a stray temporary behind.
///
/// `write` creates a hidden temporary file in the target's directory (`.NAME.tmp-XXXXXXXX`, so the
/// rename stays on one file system), writes all bytes, `fsync`s, closes and renames it over the
/// target, then `fsync`s the directory. On any failure (a full disk, a file size limit, a missing
/// directory) the temporary file is removed, the target keeps its earlier contents and the error is
/// one line naming the target and the system's reason: `cannot write PATH: No space left on device`.
/// The new file takes the permissions of the file it replaces (or 0666 minus the umask).
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        guard !name.isEmpty, name != ".", name != ".." else { throw FileAccessError(path: path, reason: "not a file name", operation: .write) }
        let prefix = directory.isEmpty ? "" : directory + "/"

        // A fresh name per attempt; O_EXCL makes a clash (or an attacker's symlink) an error, not an overwrite.
        var temporary = ""
        var descriptor: Int32 = -1
        for _ in 0..<16 {
            temporary = "\(prefix).\(name).tmp-\(UUID().uuidString.prefix(8).lowercased())"
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if descriptor >= 0 || errno != EEXIST { break }
        }
        guard descriptor >= 0 else { throw FileAccessError.write(path: path, errno: errno) }

        var renamed = false
        defer {
            if descriptor >= 0 { close(descriptor) }
            if !renamed { unlink(temporary) }
        }
        var existing = stat()
        if stat(path, &existing) == 0, fchmod(descriptor, existing.st_mode & 0o7777) != 0 {
            throw FileAccessError.write(path: path, errno: errno)
        }
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < buffer.count {
                let written = posixWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileAccessError.write(path: path, errno: errno)
                }
                offset += written
            }
        }
        // Some file systems (NFS, quotas) report a full disk only at fsync or close.
        guard fsync(descriptor) == 0 else { throw FileAccessError.write(path: path, errno: errno) }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else { throw FileAccessError.write(path: path, errno: errno) }
        guard rename(temporary, path) == 0 else { throw FileAccessError.write(path: path, errno: errno) }
        renamed = true
        // Make the rename itself durable; a failure here cannot be undone and the data is in place.
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Removes temporaries of writes that were killed: regular files named `.NAME.tmp-xxxxxxxx` (8 lowercase
    /// hex digits, as `write` names them) in `directory`, last modified more than `age` seconds ago (a
    /// write in progress is seconds old). Call it where the caller holds the folder's lock. Returns the
    /// names removed; errors are ignored.
    @discardableResult
    public static func removeLeftovers(in directory: String, olderThan age: TimeInterval = 3600, now: Date = Date()) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(".") {
            guard let marker = name.range(of: ".tmp-", options: .backwards), marker.lowerBound > name.index(after: name.startIndex) else { continue }
            let suffix = name[marker.upperBound...]
            guard suffix.count == 8, suffix.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { continue }
            let path = directory + "/" + name
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG,
                  now.timeIntervalSince1970 - TimeInterval(status.st_mtim.tv_sec) > age, unlink(path) == 0 else { continue }
            removed.append(name)
        }
        return removed
    }

    /// Writes `text` as UTF-8.
    public static func write(_ text: String, to path: String) throws {
        try write(Data(text.utf8), to: path)
    }
}

/// `write(2)` (inside `AtomicFile` the name means the static method).
private func posixWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}
