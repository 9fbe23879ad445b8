/// Why a dataset could not be loaded or sampled. `description` is one line that names the file (or the
/// dataset) and the problem, suitable for printing as-is after "error: ".
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The specific problem.
    public enum Problem: Equatable, Sendable {
        /// The file does not exist (`alternatives` lists the other names that were tried).
        case missingFile(alternatives: [String])
        /// The file exists but could not be opened or read (operating-system message).
        case unreadable(String)
        /// The first four bytes are not the expected magic number.
        case wrongMagic(expected: UInt32, found: UInt32, kind: String)
        /// The header declares an impossible shape (zero or absurd dimensions).
        case badHeader(String)
        /// The file holds fewer bytes than its header (or record size) promises.
        case truncated(expectedBytes: Int, actualBytes: Int, detail: String)
        /// The file holds more bytes than its header promises.
        case trailingBytes(expectedBytes: Int, extraBytes: Int)
        /// A label is not in `0..<classCount`.
        case labelOutOfRange(index: Int, label: Int, classCount: Int)
        /// The images file and the labels file disagree on the number of examples.
        case countMismatch(labels: Int, images: Int, imagesFile: String)
        /// The gzip stream is damaged (zlib's message).
        case corruptGzip(String)
        /// The dataset name is not one of the known ones.
        case unknownDataset(known: [String])
        /// A class has fewer examples than a balanced sample asks for.
        case notEnoughExamples(classIndex: Int, available: Int, requested: Int)
    }

    /// The file path (or, for `unknownDataset` / `notEnoughExamples`, the dataset name).
    public let file: String
    public let problem: Problem

    public init(file: String, problem: Problem) {
        self.file = file
        self.problem = problem
    }

    public var description: String {
        switch problem {
        case .missingFile(let alternatives):
            if alternatives.isEmpty { return "\(file): missing file" }
            return "\(file): missing file (also tried \(alternatives.joined(separator: ", ")))"
        case .unreadable(let message):
            return "\(file): cannot read file: \(message)"
        case .wrongMagic(let expected, let found, let kind):
            return "\(file): wrong magic number \(hex(found)), expected \(hex(expected)) (\(kind))"
        case .badHeader(let message):
            return "\(file): bad header: \(message)"
        case .truncated(let expectedBytes, let actualBytes, let detail):
            return "\(file): truncated: \(detail) needs \(expectedBytes) bytes but the file holds only \(actualBytes)"
        case .trailingBytes(let expectedBytes, let extraBytes):
            return "\(file): \(extraBytes) unexpected bytes after the \(expectedBytes) bytes the header describes"
        case .labelOutOfRange(let index, let label, let classCount):
            return "\(file): label \(label) at index \(index) is out of range for \(classCount) classes"
        case .countMismatch(let labels, let images, let imagesFile):
            return "\(file): holds \(labels) labels but \(imagesFile) holds \(images) images"
        case .corruptGzip(let message):
            return "\(file): corrupt gzip data: \(message)"
        case .unknownDataset(let known):
            return "unknown dataset '\(file)' (known: \(known.joined(separator: ", ")))"
        case .notEnoughExamples(let classIndex, let available, let requested):
            return "\(file): class \(classIndex) has \(available) examples but \(requested) were requested"
        }
    }

    private func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
