import Foundation

/// The search's JSON text (run-directory files, trajectory lines, `--json` summaries): sorted keys and
/// unescaped slashes, so the same value always gives the same bytes (docs/architecture.md, formats).
enum SearchJSON {
    /// `value` as one line without a trailing newline.
    static func line(_ value: some Encodable) -> String {
        String(decoding: encode(value, [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    /// `value` as a whole file: pretty printed, with a trailing newline.
    static func file(_ value: some Encodable) -> Data {
        encode(value, [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]) + Data("\n".utf8)
    }

    /// The search's own types always encode (no non-finite numbers reach them: they are checked where they enter).
    private static func encode(_ value: some Encodable, _ formatting: JSONEncoder.OutputFormatting) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        return try! encoder.encode(value)
    }
}
