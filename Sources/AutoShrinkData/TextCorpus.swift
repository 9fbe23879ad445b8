import Foundation

// Word-level language-modelling corpora (docs/shrinkrnn.md): a vocabulary and three token streams.
// Readers: the PTB text format (`PTBCorpusReader`) and the built-in WordNet gloss corpus
// (`WordNetCorpus`). Both end every sentence with `<eos>` and map words outside the vocabulary to `<unk>`.

/// Why a text corpus could not be loaded. `description` is one line naming the file and the problem.
public struct CorpusError: Error, CustomStringConvertible, Equatable, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Word <-> id map. Ids are dense, 0..<count; `<unk>` and `<eos>` are always present.
public struct Vocabulary: Sendable, Equatable {
    public static let unknown = "<unk>"
    public static let endOfSentence = "<eos>"
    /// Largest vocabulary a corpus may have (the softmax is over the vocabulary).
    public static let maximumSize = 200_000

    public let words: [String]
    private let ids: [String: Int32]
    public let unknownID: Int32
    public let endOfSentenceID: Int32

    /// `words` must be distinct and include `<unk>` and `<eos>`.
    public init(words: [String]) throws(CorpusError) {
        guard words.count <= Vocabulary.maximumSize else { throw CorpusError("vocabulary of \(words.count) words exceeds \(Vocabulary.maximumSize)") }
        var ids: [String: Int32] = [:]
        ids.reserveCapacity(words.count)
        for (index, word) in words.enumerated() {
            guard !word.isEmpty, !word.contains(where: \.isWhitespace) else { throw CorpusError("vocabulary entry \(index) is empty or contains whitespace") }
            guard ids.updateValue(Int32(index), forKey: word) == nil else { throw CorpusError("vocabulary lists '\(word)' twice") }
        }
        guard let unknown = ids[Vocabulary.unknown], let end = ids[Vocabulary.endOfSentence] else {
            throw CorpusError("vocabulary lacks \(Vocabulary.unknown) or \(Vocabulary.endOfSentence)")
        }
        self.words = words; self.ids = ids; unknownID = unknown; endOfSentenceID = end
    }

    /// The `limit` most frequent words of `sentences` (ties broken alphabetically, so the cut is
    /// deterministic), plus `<unk>` and `<eos>` (which count towards the limit).
    public static func mostFrequent<Word: StringProtocol & Hashable>(in sentences: [[Word]], limit: Int) throws(CorpusError) -> Vocabulary {
        guard limit >= 3 else { throw CorpusError("vocabulary limit \(limit) must be at least 3") }
        var counts: [Word: Int] = [:]
        for sentence in sentences { for word in sentence { counts[word, default: 0] += 1 } }
        let ranked = counts.filter { $0.key != unknown && $0.key != endOfSentence }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        let kept = ranked.prefix(limit - 2).map { String($0.key) }.sorted()
        return try Vocabulary(words: [unknown, endOfSentence] + kept)
    }

    public var count: Int { words.count }
    public func id(of word: some StringProtocol) -> Int32? { ids[String(word)] }

    /// Token ids of `sentences`, each followed by `<eos>`; `unknownWords` counts words mapped to `<unk>`
    /// (a literal `<unk>` in the text is not counted).
    public func encode<Word: StringProtocol>(_ sentences: [[Word]]) -> (tokens: [Int32], unknownWords: Int) {
        var tokens: [Int32] = []
        tokens.reserveCapacity(sentences.reduce(0) { $0 + $1.count + 1 })
        var unknownWords = 0
        for sentence in sentences {
            for word in sentence {
                if let id = ids[String(word)] { tokens.append(id) } else { tokens.append(unknownID); unknownWords += 1 }
            }
            tokens.append(endOfSentenceID)
        }
        return (tokens, unknownWords)
    }
}

/// A tokenised corpus: vocabulary and the train / validation / test token streams.
public struct TextCorpus: Sendable {
    public var name: String
    public var vocabulary: Vocabulary
    public var train: [Int32]
    public var valid: [Int32]
    public var test: [Int32]
    /// Words of the validation and test text that were not in the vocabulary (mapped to `<unk>`).
    public var unknownEvaluationWords: Int
    /// Lines skipped because they held no words.
    public var emptyLines: Int

    public init(name: String, vocabulary: Vocabulary, train: [Int32], valid: [Int32], test: [Int32],
                unknownEvaluationWords: Int = 0, emptyLines: Int = 0) {
        self.name = name; self.vocabulary = vocabulary; self.train = train; self.valid = valid; self.test = test
        self.unknownEvaluationWords = unknownEvaluationWords; self.emptyLines = emptyLines
    }

    /// Fraction of `tokens` that are `<unk>` (PTB's train split: 4.8 %).
    public func unknownShare(_ tokens: [Int32]) -> Double {
        tokens.isEmpty ? 0 : Double(tokens.reduce(0) { $0 + ($1 == vocabulary.unknownID ? 1 : 0) }) / Double(tokens.count)
    }

    /// "929589 train, 73760 valid, 82430 test tokens, vocabulary 10000".
    public var sizeText: String {
        "\(train.count) train, \(valid.count) valid, \(test.count) test tokens, vocabulary \(vocabulary.count)"
    }
}

/// Bounded, checked text reading shared by the corpus readers.
enum CorpusFile {
    /// Corpus files above this size are refused (PTB's train file is 5 MB, WordNet's data.noun 15 MB).
    static let maximumBytes = 256 << 20

    /// The file as UTF-8 text; one-line errors for a missing, unreadable, oversized or binary file.
    static func readText(_ path: String, maximumBytes: Int = maximumBytes) throws(CorpusError) -> String {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            throw CorpusError(code == ENOENT ? "\(path): missing file" : "\(path): cannot read file: \(String(cString: strerror(code)))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw CorpusError("\(path): cannot read file: \(String(cString: strerror(errno)))") }
        if status.st_mode & S_IFMT == S_IFDIR { throw CorpusError("\(path): is a directory") }
        if status.st_mode & S_IFMT == S_IFREG, Int(status.st_size) > maximumBytes {
            throw CorpusError("\(path): larger than \(maximumBytes) bytes")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CorpusError("\(path): cannot read file: \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            guard bytes.count + count <= maximumBytes else { throw CorpusError("\(path): larger than \(maximumBytes) bytes") }
            bytes.append(contentsOf: buffer[0..<count])
        }
        if let nul = bytes.firstIndex(of: 0) { throw CorpusError("\(path): binary data (NUL byte at offset \(nul)), not a text corpus") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CorpusError("\(path): not UTF-8 text (a binary file?)") }
        return text
    }
}

/// The PTB text format (Mikolov's ptb.{train,valid,test}.txt): one sentence a line, words separated
/// by spaces, rare words already `<unk>`. Each line gets `<eos>`; lines with no words are skipped
/// and counted. The vocabulary is the `vocabularyLimit` most frequent training words (all 10,000 of
/// PTB's); validation/test words outside it become `<unk>` and are counted (PTB has none).
public enum PTBCorpusReader {
    public static let fileNames = (train: "ptb.train.txt", valid: "ptb.valid.txt", test: "ptb.test.txt")
    /// At most this many words per line (a file without newlines is not a corpus of sentences).
    public static let maximumWordsPerLine = 10_000

    public static func load(directory: String, vocabularyLimit: Int = 10_000) throws(CorpusError) -> TextCorpus {
        let paths = [fileNames.train, fileNames.valid, fileNames.test].map { (directory as NSString).appendingPathComponent($0) }
        var splits: [[[Substring]]] = []
        var empty = 0
        for path in paths {
            let (sentences, emptyLines) = try sentences(in: CorpusFile.readText(path), source: path)
            guard !sentences.isEmpty else { throw CorpusError("\(path): no sentences (empty file)") }
            splits.append(sentences)
            empty += emptyLines
        }
        let vocabulary = try Vocabulary.mostFrequent(in: splits[0], limit: vocabularyLimit)
        let train = vocabulary.encode(splits[0]), valid = vocabulary.encode(splits[1]), test = vocabulary.encode(splits[2])
        return TextCorpus(name: "ptb-format \(directory)", vocabulary: vocabulary, train: train.tokens, valid: valid.tokens, test: test.tokens,
                          unknownEvaluationWords: valid.unknownWords + test.unknownWords, emptyLines: empty)
    }

    /// Lines split on whitespace; blank lines skipped and counted.
    static func sentences(in text: String, source: String) throws(CorpusError) -> (sentences: [[Substring]], emptyLines: Int) {
        var sentences: [[Substring]] = []
        var empty = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { empty += 1; continue }
            guard words.count <= maximumWordsPerLine else {
                throw CorpusError("\(source): line \(number + 1) has \(words.count) words (at most \(maximumWordsPerLine); one sentence a line)")
            }
            sentences.append(words)
        }
        // The newline that ends the file (or an empty file) leaves one empty piece that is no line.
        if text.isEmpty || text.hasSuffix("\n") { empty -= 1 }
        return (sentences, max(0, empty))
    }
}
