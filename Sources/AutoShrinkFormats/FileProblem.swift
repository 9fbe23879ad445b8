import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading user files and describing file-system failures in one line that names the file and what is
/// wrong (docs/architecture.md, "CLI": errors). Foundation's own messages ("The operation could not be
/// completed. (NSCocoaErrorDomain error 512.)", or `Error Domain=... Code=3840` when printed) name
/// neither, so every read of a user file goes through `read` and every Foundation error that can reach
/// the user is turned into `PATH: reason` by `describe`.
public enum FileProblem {
    /// Reads a whole file. Throws a `FileAccessError` "PATH: no such file" / "permission denied" /
    /// "is a directory" / "larger than N bytes" / the system's reason. `maximumBytes` bounds what is
    /// read (and at most `streamBytes` from anything but a regular file), so `/dev/zero` or a pipe
    /// that never ends cannot exhaust memory.
    public static func read(_ path: String, maximumBytes: Int = 1 << 31, streamBytes: Int = 1 << 26) throws -> Data {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileAccessError(path: path, reason: reason(errno: errno)) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw FileAccessError(path: path, reason: reason(errno: errno)) }
        if status.st_mode & S_IFMT == S_IFDIR { throw FileAccessError(path: path, reason: reason(errno: EISDIR)) }
        if status.st_mode & S_IFMT == S_IFREG, Int(status.st_size) > maximumBytes {
            throw FileAccessError(path: path, reason: "larger than \(maximumBytes) bytes")
        }
        let limit = status.st_mode & S_IFMT == S_IFREG ? maximumBytes : min(maximumBytes, streamBytes)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileAccessError(path: path, reason: reason(errno: errno))
            }
            if count == 0 { break }
            guard data.count + count <= limit else {
                throw FileAccessError(path: path, reason: "larger than \(limit) bytes")
            }
            data.append(contentsOf: buffer[0..<count])
        }
        return data
    }

    /// Reads a whole file as UTF-8 text; "PATH: not UTF-8 text" when it is not.
    public static func readText(_ path: String, maximumBytes: Int = 1 << 28) throws -> String {
        let data = try read(path, maximumBytes: maximumBytes)
        guard let text = String(data: data, encoding: .utf8) else {
            throw FileAccessError(path: path, reason: "not UTF-8 text (a binary file?)")
        }
        return text
    }

    /// Creates a directory and its parents (`mkdir -p`); "PATH: cannot create the directory: REASON",
    /// where the reason names a parent that is a file ("afile is not a directory").
    public static func createDirectory(_ path: String) throws {
        if let problem = directoryProblem(path) {
            throw FileAccessError(path: path, reason: "cannot create the directory: \(problem)")
        }
    }

    /// Makes `path` and its missing parents; nil on success, else why not.
    public static func directoryProblem(_ path: String) -> String? {
        var status = stat()
        if stat(path, &status) == 0 {
            return status.st_mode & S_IFMT == S_IFDIR ? nil : "\(path) exists and is not a directory"
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, let problem = directoryProblem(parent) { return problem }
        if mkdir(path, 0o777) == 0 { return nil }
        let code = errno
        if code == EEXIST, stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR { return nil }  // made meanwhile
        return reason(errno: code)
    }

    /// True when the file system holding `path`'s directory has (almost) no space left for the user:
    /// fewer than 16 KiB available.
    public static func isFull(directoryOf path: String) -> Bool {
        let directory = (path as NSString).deletingLastPathComponent
        var status = statvfs()
        guard statvfs(directory.isEmpty ? "." : directory, &status) == 0 else { return false }
        return UInt64(status.f_bavail) * UInt64(status.f_frsize) < 16 * 1024
    }

    /// A short lower-case phrase for an `errno` value.
    public static func reason(errno code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file"
        case EACCES, EPERM: return "permission denied"
        case EISDIR: return "is a directory"
        case ENOTDIR: return "a component of the path is not a directory"
        case ENOSPC: return "disk full (no space left on device)"
        case EDQUOT: return "disk quota exceeded"
        case EFBIG: return "file too large (file size limit)"
        case EROFS: return "read-only file system"
        case EEXIST: return "already exists"
        case ENOTEMPTY: return "directory not empty"
        case ELOOP: return "too many levels of symbolic links"
        case ENAMETOOLONG: return "file name too long"
        case EXDEV: return "on another file system"
        default:
            let text = String(cString: strerror(code))
            return text.prefix(1).lowercased() + text.dropFirst()
        }
    }

    /// The reason of any error as a phrase: the POSIX error under a Foundation error, "not valid JSON"
    /// for a JSON parse error, "not UTF-8 text" for a decoding error, the description of our own errors.
    public static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return reason(errno: Int32(underlying.code))
        }
        if nsError.domain == NSPOSIXErrorDomain { return reason(errno: Int32(nsError.code)) }
        if nsError.domain == NSCocoaErrorDomain {
            switch nsError.code {
            case 3840: return "not valid JSON"
            case CocoaError.fileReadNoSuchFile.rawValue, CocoaError.fileNoSuchFile.rawValue: return reason(errno: ENOENT)
            case CocoaError.fileReadNoPermission.rawValue, CocoaError.fileWriteNoPermission.rawValue: return reason(errno: EACCES)
            case CocoaError.fileWriteOutOfSpace.rawValue: return reason(errno: ENOSPC)
            case CocoaError.fileWriteVolumeReadOnly.rawValue: return reason(errno: EROFS)
            case CocoaError.fileWriteFileExists.rawValue: return reason(errno: EEXIST)
            case CocoaError.fileReadInapplicableStringEncoding.rawValue, CocoaError.fileReadCorruptFile.rawValue:
                return "not UTF-8 text (a binary file?)"
            case CocoaError.fileReadTooLarge.rawValue: return "file too large"
            default: break
            }
        }
        if !(type(of: error) is NSError.Type), !(error is CocoaError) {
            let text = String(describing: error)
            if !text.hasPrefix("Error Domain=") { return text }
        }
        return "error \(nsError.code) (\(nsError.domain))"
    }

    /// One line for an error that reached the top of a command without a message of ours: Foundation
    /// errors become `PATH: reason` (the path from the error's user info); nil for other errors.
    public static func message(for error: any Error) -> String? {
        guard type(of: error) is NSError.Type || error is CocoaError else { return nil }
        let nsError = error as NSError
        guard nsError.domain == NSCocoaErrorDomain || nsError.domain == NSPOSIXErrorDomain else { return nil }
        let path = nsError.userInfo[NSFilePathErrorKey] as? String ?? (nsError.userInfo[NSURLErrorKey] as? URL)?.path
        return path.map { "\($0): \(reason(error))" } ?? reason(error)
    }
}

/// A file that cannot be read, made or written: the one file error type of every layer. One line:
/// `PATH: REASON` (`FileProblem` reads and folders), or `cannot write PATH: REASON` for a result file
/// `AtomicFile` could not write (the reason then is the system's, e.g. "No space left on device").
public struct FileAccessError: Error, CustomStringConvertible, LocalizedError, Equatable, Sendable {
    /// What failed: reading or reaching the file, or writing a result file.
    public enum Operation: Sendable, Equatable { case access, write }
    public var path: String
    public var reason: String
    public var operation: Operation
    public init(path: String, reason: String, operation: Operation = .access) {
        self.path = path
        self.reason = reason
        self.operation = operation
    }
    /// A result file that could not be written, with the system's reason for `code`.
    public static func write(path: String, errno code: Int32) -> FileAccessError {
        FileAccessError(path: path, reason: String(cString: strerror(code)), operation: .write)
    }
    public var description: String { operation == .write ? "cannot write \(path): \(reason)" : "\(path): \(reason)" }
    public var errorDescription: String? { description }
}
