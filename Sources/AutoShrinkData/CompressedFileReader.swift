import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sequential reader for a file that may be gzip-compressed; plain files pass through zlib unchanged.
///
/// Every failure surfaces as a `DatasetError` naming the file: a missing file, an unreadable one, and a
/// damaged gzip stream (bad header, bad block, CRC mismatch, or compressed data ending early).
final class CompressedFileReader {
    let path: String
    /// Size of the file on disk (compressed size for a gzip file).
    let fileSize: Int
    private let file: gzFile

    /// Opens `path`; throws `.missingFile` when it does not exist.
    init(path: String) throws(DatasetError) {
        self.path = path
        var status = stat()
        guard stat(path, &status) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw DatasetError(file: path, problem: .missingFile(alternatives: []))
            }
            throw DatasetError(file: path, problem: .unreadable(String(cString: strerror(code))))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw DatasetError(file: path, problem: .unreadable("not a regular file"))
        }
        fileSize = Int(status.st_size)
        guard let opened = gzopen(path, "rb") else {
            throw DatasetError(file: path, problem: .unreadable(String(cString: strerror(errno))))
        }
        file = opened
        // A larger buffer than zlib's 8 KiB default roughly halves the system calls on big files.
        gzbuffer(file, 1 << 17)
    }

    deinit {
        gzclose_r(file)
    }

    /// True when the file is gzip-compressed (false for a plain file read through unchanged).
    var isCompressed: Bool { gzdirect(file) == 0 }

    /// Reads until `buffer` is full or the data ends; returns the number of bytes stored.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(DatasetError) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var total = 0
        while total < buffer.count {
            // gzread takes an unsigned count but returns an int: stay well below Int32.max per call.
            let request = UInt32(min(buffer.count - total, 1 << 30))
            let got = gzread(file, base + total, request)
            if got < 0 { throw corruption() }
            if got == 0 { break }
            total += Int(got)
        }
        if total < buffer.count {
            // zlib reports a gzip stream that stops mid-way as a short read plus Z_BUF_ERROR.
            var code: Int32 = 0
            _ = gzerror(file, &code)
            if code != Z_OK { throw corruption() }
        }
        return total
    }

    /// Reads `count` bytes; a shorter result means the data ended early.
    func read(count: Int) throws(DatasetError) -> [UInt8] {
        var failure: DatasetError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do throws(DatasetError) { initialized = try read(into: UnsafeMutableRawBufferPointer(buffer)) } catch {
                failure = error
                initialized = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// An upper bound on the bytes left to read, to refuse absurd header sizes before allocating:
    /// the file size for a plain file, deflate's best ratio (about 1032:1) for a gzip file.
    var maximumContentSize: Int {
        isCompressed ? fileSize.multipliedReportingOverflow(by: 1040).partialValue : fileSize
    }

    /// Reads everything that is left; returns the number of bytes and discards them. Used to detect
    /// trailing data and, for gzip, to reach the end of the stream where the CRC is checked.
    func skipToEnd() throws(DatasetError) -> Int {
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        var total = 0
        var failure: DatasetError?
        scratch.withUnsafeMutableBytes { raw in
            while true {
                let got: Int
                do throws(DatasetError) { got = try read(into: raw) } catch { failure = error; return }
                total += got
                if got < raw.count { return }
            }
        }
        if let failure { throw failure }
        return total
    }

    /// Reads the whole (remaining) content.
    func readToEnd() throws(DatasetError) -> [UInt8] {
        // A plain file's size is exact; a compressed one usually grows 2-5x.
        var result = [UInt8](repeating: 0, count: max(isCompressed ? fileSize * 4 : fileSize + 1, 1 << 16))
        var filled = 0
        while true {
            var got = 0
            var failure: DatasetError?
            result.withUnsafeMutableBytes { raw in
                do throws(DatasetError) { got = try read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...])) } catch {
                    failure = error
                }
            }
            if let failure { throw failure }
            filled += got
            if filled < result.count {
                result.removeSubrange(filled...)
                return result
            }
            result.append(contentsOf: repeatElement(0, count: result.count))
        }
    }

    private func corruption() -> DatasetError {
        var code: Int32 = 0
        var message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown zlib error"
        // zlib prefixes the path it was opened with; DatasetError names the file itself.
        if message.hasPrefix(path + ": ") { message.removeFirst(path.count + 2) }
        if code == Z_ERRNO {
            return DatasetError(file: path, problem: .unreadable(String(cString: strerror(errno))))
        }
        if code == Z_BUF_ERROR {
            return DatasetError(file: path, problem: .corruptGzip("compressed stream ends early (\(message))"))
        }
        return DatasetError(file: path, problem: .corruptGzip(message))
    }
}
