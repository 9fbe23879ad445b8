import Foundation

/// The built-in language-modelling corpus: the glosses of WordNet 3.0 (Debian package `wordnet-base`,
/// /usr/share/wordnet/data.{noun,verb,adj,adv}), one gloss a sentence, tokenised like Mikolov's PTB
/// text (docs/shrinkrnn.md, "Corpus"):
///
/// - the gloss is the text after the first `| ` of a synset line; the license header lines (they
///   start with two spaces) are skipped;
/// - lowercase; a word is a run of letters and digits; `-` between two word characters joins
///   (hyphenated words stay one word, as in PTB); `.` or `,` between two digits joins (`1.5`, `1,000`);
///   the clitics `n't` and `'s` are split off as their own words (`isn't` -> `is n't`); every other
///   character (punctuation, quotes, brackets, symbols) separates words and is dropped (PTB's text has
///   no punctuation);
/// - a word containing a digit becomes `N`;
/// - split by synset: FNV-1a 64 of "POS OFFSET" (e.g. "n 00001740") modulo 100: below 90 train,
///   below 95 validation, else test, so the split is the same on every machine and for every order;
/// - vocabulary: the 10,000 most frequent training words (with `<unk>` and `<eos>`); rarer words are `<unk>`.
public enum WordNetCorpus {
    public static let defaultDirectory = "/usr/share/wordnet"
    public static let fileNames = ["data.noun", "data.verb", "data.adj", "data.adv"]
    /// Part-of-speech letters of the four files, used in the split hash.
    static let partOfSpeech = ["n", "v", "a", "r"]

    public enum Split: Int, Sendable { case train, valid, test }

    public static func load(directory: String = defaultDirectory, vocabularyLimit: Int = 10_000) throws(CorpusError) -> TextCorpus {
        var splits: [[[String]]] = [[], [], []]
        var empty = 0
        for (file, pos) in zip(fileNames, partOfSpeech) {
            let path = (directory as NSString).appendingPathComponent(file)
            let glosses = try self.glosses(in: CorpusFile.readText(path), source: path)
            guard !glosses.isEmpty else { throw CorpusError("\(path): no synset lines (not a WordNet data file)") }
            for (offset, gloss) in glosses {
                let words = tokenize(gloss)
                if words.isEmpty { empty += 1; continue }
                splits[split(partOfSpeech: pos, offset: offset).rawValue].append(words)
            }
        }
        for (index, name) in ["training", "validation", "test"].enumerated() where splits[index].isEmpty {
            throw CorpusError("\(directory): the WordNet glosses give no \(name) sentences")
        }
        let vocabulary = try Vocabulary.mostFrequent(in: splits[0], limit: vocabularyLimit)
        let train = vocabulary.encode(splits[0]), valid = vocabulary.encode(splits[1]), test = vocabulary.encode(splits[2])
        return TextCorpus(name: "wordnet-glosses \(directory)", vocabulary: vocabulary, train: train.tokens, valid: valid.tokens,
                          test: test.tokens, unknownEvaluationWords: valid.unknownWords + test.unknownWords, emptyLines: empty)
    }

    /// (offset, gloss) of every synset line; license header lines (two leading spaces) are skipped.
    /// A synset line must start with an 8-digit offset and hold `| `.
    static func glosses(in text: String, source: String) throws(CorpusError) -> [(offset: Substring, gloss: Substring)] {
        var result: [(Substring, Substring)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if line.hasPrefix("  ") { continue }
            let offset = line.prefix(while: { $0 != " " })
            guard offset.count == 8, offset.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw CorpusError("\(source): line \(number + 1) is not a WordNet synset line (no 8-digit offset)")
            }
            guard let bar = line.range(of: "| ") else {
                throw CorpusError("\(source): line \(number + 1) (synset \(offset)) has no gloss ('| ')")
            }
            result.append((offset, line[bar.upperBound...]))
        }
        return result
    }

    /// Which split a synset belongs to (see the type's comment).
    public static func split(partOfSpeech: String, offset: Substring) -> Split {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(partOfSpeech) \(offset)".utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let bucket = hash % 100
        return bucket < 90 ? .train : bucket < 95 ? .valid : .test
    }

    /// The PTB-like tokenisation described on the type.
    public static func tokenize(_ text: some StringProtocol) -> [String] {
        let scalars = Array(text.lowercased().unicodeScalars)
        // ASCII (almost all of WordNet) without Unicode property lookups.
        func isWord(_ s: Unicode.Scalar) -> Bool {
            if s.isASCII { return ("a"..."z").contains(s) || ("0"..."9").contains(s) || ("A"..."Z").contains(s) }
            return s.properties.isAlphabetic || s.properties.numericType != nil
        }
        func isDigit(_ s: Unicode.Scalar) -> Bool { s.isASCII ? ("0"..."9").contains(s) : s.properties.numericType != nil }
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            guard !current.isEmpty else { return }
            let word = String(current)
            current = String.UnicodeScalarView()
            if word.unicodeScalars.contains(where: isDigit) { words.append("N"); return }
            words.append(word)
        }
        var index = 0
        while index < scalars.count {
            let s = scalars[index]
            let previous: Unicode.Scalar? = index > 0 ? scalars[index - 1] : nil
            let next: Unicode.Scalar? = index + 1 < scalars.count ? scalars[index + 1] : nil
            if isWord(s) {
                current.append(s)
            } else if s == "-", let previous, let next, isWord(previous), isWord(next), !current.isEmpty {
                current.append(s)
            } else if s == "." || s == ",", let previous, let next, isDigit(previous), isDigit(next), !current.isEmpty {
                current.append(s)
            } else if s == "'" || s == "\u{2019}", !current.isEmpty {
                // Clitics: "'s" after a word; "n't" (the n is already in `current`).
                let after = index + 1 < scalars.count ? scalars[index + 1] : nil
                let afterNext = index + 2 < scalars.count ? scalars[index + 2] : nil
                let endsWord = afterNext.map { !isWord($0) } ?? true
                if after == "s", endsWord {
                    flush(); words.append("'s"); index += 2; continue
                } else if after == "t", endsWord, current.count >= 2, current.last == "n" {
                    current.removeLast()
                    flush(); words.append("n't"); index += 2; continue
                } else {
                    flush()
                }
            } else {
                flush()
            }
            index += 1
        }
        flush()
        return words
    }
}

/// Word-level corpora by location: no directory = the WordNet glosses at /usr/share/wordnet; a
/// directory holding `ptb.train.txt` = the PTB format; one holding `data.noun` = WordNet from there.
public enum LanguageCorpusLoader {
    public static func load(directory: String?, vocabularyLimit: Int = 10_000) throws(CorpusError) -> TextCorpus {
        guard let directory else {
            guard FileManager.default.fileExists(atPath: WordNetCorpus.defaultDirectory + "/data.noun") else {
                throw CorpusError("\(WordNetCorpus.defaultDirectory)/data.noun: missing file (install the Debian package wordnet-base: tools/setup; or give --data-dir with ptb.train.txt)")
            }
            return try WordNetCorpus.load(vocabularyLimit: vocabularyLimit)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { throw CorpusError("\(directory): no such directory") }
        guard isDirectory.boolValue else { throw CorpusError("\(directory): not a directory") }
        if FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(PTBCorpusReader.fileNames.train)) {
            return try PTBCorpusReader.load(directory: directory, vocabularyLimit: vocabularyLimit)
        }
        if FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("data.noun")) {
            return try WordNetCorpus.load(directory: directory, vocabularyLimit: vocabularyLimit)
        }
        throw CorpusError("\(directory): holds neither \(PTBCorpusReader.fileNames.train) (PTB format) nor data.noun (WordNet)")
    }
}
