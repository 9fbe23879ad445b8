import Foundation
import Testing
@testable import AutoShrinkFormats

/// `FileProblem`: reads and folder creation that fail with one phrase naming what is wrong, and
/// Foundation errors turned into `PATH: reason` (docs/architecture.md, "CLI").
@Suite("FileProblem")
struct FileProblemTests {
    let directory: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fileproblem-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    @Test("read: missing, a directory, a bounded stream, a binary file as text")
    func readErrors() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: FileAccessError(path: "\(directory)/none", reason: "no such file")) { try FileProblem.read("\(directory)/none") }
        #expect(throws: FileAccessError(path: directory, reason: "is a directory")) { try FileProblem.read(directory) }
        #expect(throws: FileAccessError(path: "/dev/zero", reason: "larger than 4096 bytes")) {
            try FileProblem.read("/dev/zero", streamBytes: 4096)
        }
        try Data([0xFF, 0xFE, 0x00, 0xC3]).write(to: URL(fileURLWithPath: "\(directory)/bin"))
        #expect(throws: FileAccessError(path: "\(directory)/bin", reason: "not UTF-8 text (a binary file?)")) {
            try FileProblem.readText("\(directory)/bin")
        }
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(directory)/ok.json"))
        #expect(try FileProblem.read("\(directory)/ok.json") == Data("{}".utf8))
        #expect(throws: FileAccessError(path: "\(directory)/ok.json", reason: "larger than 1 bytes")) {
            try FileProblem.read("\(directory)/ok.json", maximumBytes: 1)
        }
    }

    @Test("createDirectory names a parent that is a file")
    func createDirectoryErrors() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(directory)/afile"))
        #expect(throws: FileAccessError(path: "\(directory)/afile/b/c", reason: "cannot create the directory: \(directory)/afile exists and is not a directory")) {
            try FileProblem.createDirectory("\(directory)/afile/b/c")
        }
        try FileProblem.createDirectory("\(directory)/new/a/b")
        try FileProblem.createDirectory("\(directory)/new/a/b")  // existing: fine
        #expect(FileManager.default.fileExists(atPath: "\(directory)/new/a/b"))
    }

    @Test("Foundation errors become 'PATH: reason', never 'Error Domain=...'")
    func foundationErrors() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            _ = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/missing"))
            Issue.record("no error")
        } catch {
            #expect(FileProblem.message(for: error) == "\(directory)/missing: no such file")
        }
        do {
            _ = try JSONSerialization.jsonObject(with: Data("{".utf8))
            Issue.record("no error")
        } catch {
            #expect(FileProblem.reason(error) == "not valid JSON")
        }
        do {
            try FileManager.default.moveItem(atPath: "\(directory)/missing", toPath: "\(directory)/other")
            Issue.record("no error")
        } catch {
            let message = FileProblem.message(for: error) ?? ""
            #expect(message.contains("no such file") && !message.contains("Error Domain"), "\(message)")
        }
        struct Own: Error, CustomStringConvertible { var description: String { "own message" } }
        #expect(FileProblem.message(for: Own()) == nil)
        #expect(FileProblem.reason(Own()) == "own message")
        #expect(FileProblem.reason(errno: ENOSPC) == "disk full (no space left on device)")
    }
}
