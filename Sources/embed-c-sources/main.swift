// embed-c-sources OUTPUT SOURCES_DIRECTORY RELATIVE_PATH...
//
// Run by the EmbedCSources build-tool plugin: reads each file (a path relative to
// SOURCES_DIRECTORY, e.g. CRuntime/add.c) and writes OUTPUT, a Swift file declaring
// `EmbeddedCSources` (contents and hash, see CSourceBundle). OUTPUT is only rewritten when it changes.
import CSourceEmbedding
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: embed-c-sources OUTPUT SOURCES_DIRECTORY RELATIVE_PATH...\n".utf8))
    exit(2)
}
let output = arguments[1], root = arguments[2]
var files: [(path: String, contents: String)] = []
for path in arguments.dropFirst(3) {
    guard let data = FileManager.default.contents(atPath: "\(root)/\(path)"),
          let text = String(data: data, encoding: .utf8), Array(text.utf8) == Array(data) else {
        FileHandle.standardError.write(Data("embed-c-sources: cannot read \(root)/\(path) as UTF-8\n".utf8))
        exit(1)
    }
    files.append((path, text))
}
let source = Data(CSourceBundle(files: files).swiftSource().utf8)
if FileManager.default.contents(atPath: output) != source {
    do {
        try source.write(to: URL(fileURLWithPath: output), options: .atomic)
    } catch {
        FileHandle.standardError.write(Data("embed-c-sources: cannot write \(output): \(error)\n".utf8))
        exit(1)
    }
}
