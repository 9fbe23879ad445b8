import AutoShrinkExport
import AutoShrinkModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which folders `export` may replace (docs/architecture.md, "Names, locks and output folders"):
/// - a path that does not exist yet, an empty directory, or a directory holding an earlier export
///   (`export.json` whose `format` is `ModelExporter.manifestFormat`, or `LMExportManifest.formatName` for a
///   language-model export) is replaced;
/// - anything else (a regular file, a folder of other files) is refused unless `--force`;
/// - never, even with `--force`: `/`, the current directory or one of its ancestors, or a folder
///   that holds one of the command's inputs (checkpoint, dataset, device file).
enum OutputFolder {
    /// Throws a one-line `CLIError` when `path` must not be replaced; `option` names where the path came from.
    static func checkReplaceable(_ path: String, option: String, inputs: [String], force: Bool) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }  // nothing there yet
        let resolved = realPath(path) ?? URL(fileURLWithPath: path).standardizedFileURL.path
        func refuse(_ reason: String) -> CLIError { CLIError("\(option) \(path): \(reason)") }
        if resolved == "/" { throw refuse("refusing to replace the root directory") }
        let current = realPath(FileManager.default.currentDirectoryPath) ?? FileManager.default.currentDirectoryPath
        if current == resolved || current.hasPrefix(resolved + "/") {
            throw refuse("refusing to replace the current directory or a folder that contains it")
        }
        for input in inputs {
            guard let inputPath = realPath(input) else { continue }
            if inputPath == resolved || inputPath.hasPrefix(resolved + "/") {
                throw refuse("refusing to replace a folder that holds the input \(input)")
            }
        }
        if force { return }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw refuse("exists and is not a directory; choose another --out or use --force to replace it")
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: resolved)) ?? []
        if entries.isEmpty || isEarlierExport(resolved) { return }
        throw refuse("exists and is not an earlier export (no export.json with format '\(ModelExporter.manifestFormat)'); choose another --out or use --force to replace it")
    }

    /// True when `directory/export.json` carries our format tag.
    static func isEarlierExport(_ directory: String) -> Bool {
        struct Tag: Decodable { var format: String? }
        guard let data = FileManager.default.contents(atPath: directory + "/export.json"),
              let tag = try? JSONDecoder().decode(Tag.self, from: data) else { return false }
        return tag.format == ModelExporter.manifestFormat || tag.format == LMExportManifest.formatName
    }

    /// Takes the lock of an output folder: `.NAME.lock` beside it (the folder itself is replaced by a
    /// rename, so the lock cannot live inside it).
    static func lock(_ path: String) throws -> FileLock {
        let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
        let parent = (standardized as NSString).deletingLastPathComponent
        let name = (standardized as NSString).lastPathComponent
        try FileProblem.createDirectory(parent)
        return try FileLock(path: "\(parent)/.\(name).lock", what: path)
    }

    /// `realpath(3)` of an existing path, nil when it does not resolve.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
