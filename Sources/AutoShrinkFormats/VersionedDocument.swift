import Foundation

/// A file format with a format tag and a version (`{"format": "autoshrink.x", "version": 1, ...}`),
/// read through one path: `loadDocument(path:)` / `decodeDocument(_:source:)` check the tag and the
/// version, decode, run `validate(source:)`, and turn every problem into a one-line error naming the
/// file and the key (docs/architecture.md, "File formats").
public protocol VersionedDocument: Decodable {
    /// The `format` tag, e.g. `autoshrink.profile`.
    static var formatName: String { get }
    /// The one version this autoshrink reads and writes.
    static var currentVersion: Int { get }
    /// The kind of file with its article, for "not <kind>" messages: "a device profile".
    static var documentKind: String { get }
    /// The name used in "unsupported <name> version N": "profile".
    static var versionLabel: String { get }
    /// Appended to the unsupported-version message (e.g. "; re-run autoshrink profile"); empty by default.
    static var versionHint: String { get }
    /// The error type the document's loader throws for `message` (one line, already naming the file).
    static func documentError(_ message: String) -> any Error
    /// Checks the decoder cannot do; throws a one-line error naming `source`. Nothing by default.
    func validate(source: String) throws
}

extension VersionedDocument {
    public static var versionHint: String { "" }
    public static func documentError(_ message: String) -> any Error { DocumentError(message) }
    public func validate(source: String) throws {}

    /// Reads `path` as this document (tag, version, keys, values).
    public static func loadDocument(path: String) throws -> Self {
        let data: Data
        do { data = try FileProblem.read(path, maximumBytes: 1 << 30) } catch let error as FileAccessError {
            throw documentError("\(path): \(error.reason)")
        }
        return try decodeDocument(data, source: path)
    }

    /// Decodes JSON text as this document; `source` names the file in errors.
    public static func decodeDocument(_ data: Data, source: String) throws -> Self {
        let header: DocumentHeader
        do { header = try JSONDecoder().decode(DocumentHeader.self, from: data) } catch {
            throw documentError("\(source): \(DocumentError.describe(error))")
        }
        guard header.format == formatName else {
            throw documentError("\(source): not \(documentKind) (format is \(header.format.map { "'\($0)'" } ?? "missing"), expected '\(formatName)')")
        }
        guard header.version == currentVersion else {
            throw documentError("\(source): unsupported \(versionLabel) version \(header.version.map(String.init) ?? "missing") (this autoshrink reads version \(currentVersion))\(versionHint)")
        }
        let document: Self
        do { document = try JSONDecoder().decode(Self.self, from: data) } catch {
            throw documentError("\(source): \(DocumentError.describe(error, data: data))")
        }
        try document.validate(source: source)
        return document
    }
}

/// The two keys every versioned document starts with.
struct DocumentHeader: Decodable {
    var format: String?
    var version: Int?
}

/// Which document a JSON file is, before loading it as one: commands that take either kind
/// (`deploy` and `report` read image and language-model exports and search runs) choose the loader by it.
public enum DocumentFormat {
    /// The `format` tag of `path`; nil when the file is missing, unreadable, not JSON or has no tag.
    public static func tag(path: String) -> String? {
        guard let data = try? FileProblem.read(path, maximumBytes: 1 << 30),
              let header = try? JSONDecoder().decode(DocumentHeader.self, from: data) else { return nil }
        return header.format
    }
}

/// A file that cannot be used; `description` is one line naming the file and the key at fault.
public struct DocumentError: Error, CustomStringConvertible, LocalizedError, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
    public var errorDescription: String? { description }

    /// A decoding error as one phrase naming the key path, e.g. `key 'entries[3].median_us': expected a number`
    /// or `missing key 'input.channels'`; invalid JSON is `not valid JSON`. Given the decoded `data`,
    /// valid JSON whose number does not fit (Foundation on Linux reports a fraction where an integer
    /// belongs as invalid JSON, without a key) is told apart from JSON that does not parse.
    public static func describe(_ error: any Error, data: Data? = nil) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(keyPath(context.codingPath + [key]))'"
        case DecodingError.typeMismatch(let type, let context):
            return "key '\(keyPath(context.codingPath))': expected \(expectation(type))"
        case DecodingError.valueNotFound(let type, let context):
            return "key '\(keyPath(context.codingPath))': expected \(expectation(type)), got null"
        case DecodingError.dataCorrupted(let context):
            if context.codingPath.isEmpty {
                guard let data, (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil else {
                    return "not valid JSON"
                }
                return "a number does not fit its key's type (a fraction or an out-of-range value where an integer belongs)"
            }
            return "key '\(keyPath(context.codingPath))': invalid value (\(context.debugDescription.replacingOccurrences(of: "\n", with: " ")))"
        default:
            return "\(error)".replacingOccurrences(of: "\n", with: " ")
        }
    }

    /// `a.b[3].c`: array positions in brackets, object keys joined by dots.
    public static func keyPath(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
        return text.isEmpty ? "(top level)" : text
    }

    private static func expectation(_ type: Any.Type) -> String {
        switch type {
        case is any BinaryInteger.Type: return "an integer"
        case is any BinaryFloatingPoint.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is [Any].Type: return "an array"
        case is [String: Any].Type: return "an object"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") || name.contains("KeyedDecodingContainer") { return "an object" }
            return "a value of type \(name)"
        }
    }
}

/// A `--json` summary or a report file written by a command: encoded with sorted keys, and every
/// key of `Keys` present (an absent optional is written as `null`, so readers see every key).
public protocol JSONSummary: Codable {
    associatedtype Keys: CodingKey & CaseIterable
}

extension JSONSummary {
    /// The summary as JSON text without a trailing newline.
    public func jsonData(pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let encoded = try encoder.encode(self)
        guard var object = try JSONSerialization.jsonObject(with: encoded) as? [String: Any] else { return encoded }
        for key in Keys.allCases where object[key.stringValue] == nil { object[key.stringValue] = NSNull() }
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        return try JSONSerialization.data(withJSONObject: object, options: options)
    }

    /// Decodes one summary (e.g. a child command's last stdout line); `source` names it in errors.
    public static func decodeSummary(_ data: Data, source: String) throws -> Self {
        do { return try JSONDecoder().decode(Self.self, from: data) } catch {
            throw DocumentError("\(source): \(DocumentError.describe(error, data: data))")
        }
    }
}
