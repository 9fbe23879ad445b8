@testable import AutoShrinkData
import Foundation
import Testing

/// The word-level corpus readers (docs/shrinkrnn.md, "Corpus").
@Suite struct TextCorpusTests {
    func corpusError(_ body: () throws -> Void) -> String {
        do { try body(); Issue.record("expected a CorpusError"); return "" } catch let error as CorpusError {
            #expect(!error.description.contains("\n"))
            return error.description
        } catch { Issue.record("expected a CorpusError, got \(error)"); return "" }
    }

    func writePTB(_ directory: TemporaryDirectory, train: String, valid: String, test: String) {
        directory.write("ptb.train.txt", Array(train.utf8))
        directory.write("ptb.valid.txt", Array(valid.utf8))
        directory.write("ptb.test.txt", Array(test.utf8))
    }

    @Test func readsPTBFormatWithEosEmptyLinesAndUnknownWords() throws {
        let directory = TemporaryDirectory()
        writePTB(directory, train: " the cat sat \n\n the dog <unk> sat \n", valid: "the bird sat\n", test: "   \nthe cat\n")
        let corpus = try PTBCorpusReader.load(directory: directory.path)
        let v = corpus.vocabulary
        // Words: <unk> <eos> + cat dog sat the (sorted); "<unk>" in the text is the unknown word.
        #expect(v.words == ["<unk>", "<eos>", "cat", "dog", "sat", "the"])
        let ids = { (words: [String]) in words.map { v.id(of: $0)! } }
        #expect(corpus.train == ids(["the", "cat", "sat", "<eos>", "the", "dog", "<unk>", "sat", "<eos>"]))
        #expect(corpus.valid == ids(["the", "<unk>", "sat", "<eos>"]))   // "bird" is not in the vocabulary
        #expect(corpus.test == ids(["the", "cat", "<eos>"]))
        #expect(corpus.unknownEvaluationWords == 1)
        #expect(corpus.emptyLines == 2)
    }

    @Test func vocabularyKeepsTheMostFrequentTrainingWords() throws {
        let directory = TemporaryDirectory()
        writePTB(directory, train: "a a a b b c\nd a b\n", valid: "c d\n", test: "a\n")
        let corpus = try PTBCorpusReader.load(directory: directory.path, vocabularyLimit: 4)
        #expect(corpus.vocabulary.words == ["<unk>", "<eos>", "a", "b"])
        let unk = corpus.vocabulary.unknownID
        #expect(corpus.valid == [unk, unk, corpus.vocabulary.endOfSentenceID])
        #expect(corpus.unknownEvaluationWords == 2)
    }

    @Test func corruptMissingAndEmptyFilesAreOneLineErrors() throws {
        let directory = TemporaryDirectory()
        #expect(corpusError { _ = try PTBCorpusReader.load(directory: directory.path) }.hasSuffix("ptb.train.txt: missing file"))
        writePTB(directory, train: "a b\n", valid: "a\n", test: "b\n")
        directory.write("ptb.valid.txt", [0x61, 0x00, 0x62, 0x0a])
        #expect(corpusError { _ = try PTBCorpusReader.load(directory: directory.path) }.contains("ptb.valid.txt: binary data (NUL byte at offset 1)"))
        directory.write("ptb.valid.txt", [0x61, 0xff, 0xfe, 0x0a])
        #expect(corpusError { _ = try PTBCorpusReader.load(directory: directory.path) }.contains("ptb.valid.txt: not UTF-8 text"))
        directory.write("ptb.valid.txt", Array("\n \n\n".utf8))
        #expect(corpusError { _ = try PTBCorpusReader.load(directory: directory.path) }.contains("ptb.valid.txt: no sentences"))
        directory.write("ptb.valid.txt", Array("a\n".utf8))
        #expect(corpusError { _ = try CorpusFile.readText(directory.file("ptb.valid.txt"), maximumBytes: 1) }.contains("larger than 1 bytes"))
        let longLine = String(repeating: "a ", count: PTBCorpusReader.maximumWordsPerLine + 1)
        directory.write("ptb.test.txt", Array(longLine.utf8))
        #expect(corpusError { _ = try PTBCorpusReader.load(directory: directory.path) }.contains("line 1 has 10001 words"))
        #expect(corpusError { _ = try LanguageCorpusLoader.load(directory: directory.file("nothing")) }.contains("no such directory"))
        let other = TemporaryDirectory()
        #expect(corpusError { _ = try LanguageCorpusLoader.load(directory: other.path) }.contains("holds neither ptb.train.txt"))
    }

    @Test func tokenizerFollowsPTBConventions() {
        #expect(WordNetCorpus.tokenize("(botany) A plant's leaf; \"it isn't green\"") == ["botany", "a", "plant", "'s", "leaf", "it", "is", "n't", "green"])
        #expect(WordNetCorpus.tokenize("a well-known 1,000-year-old tree of 3.5 m in the 1920s") ==
                ["a", "well-known", "N", "tree", "of", "N", "m", "in", "the", "N"])
        #expect(WordNetCorpus.tokenize("o'clock -- dash - end.") == ["o", "clock", "dash", "end"])
        #expect(WordNetCorpus.tokenize("Café NAÏVE") == ["café", "naïve"])
        #expect(WordNetCorpus.tokenize("  ;;; ") == [])
    }

    /// Four small WordNet-format files: license header lines, synset lines with glosses.
    func writeWordNet(_ directory: TemporaryDirectory, synsets: Int) {
        for (file, pos) in zip(WordNetCorpus.fileNames, ["n", "v", "a", "r"]) {
            var text = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2 Princeton University  \n"
            for index in 0..<synsets {
                let offset = String(format: "%08d", 1000 + index * 37)
                let word = ["alpha", "beta", "gamma", "delta"][index % 4]
                text += "\(offset) 03 \(pos) 01 \(word) 0 000 | the \(word) of a thing; \"a \(word) is here\"  \n"
            }
            directory.write(file, Array(text.utf8))
        }
    }

    @Test func wordNetGlossCorpusSplitsBySynset() throws {
        let directory = TemporaryDirectory()
        writeWordNet(directory, synsets: 200)
        let corpus = try LanguageCorpusLoader.load(directory: directory.path)
        // 800 glosses of 9 words + <eos>; split about 90/5/5 by the offset hash.
        let sentences = [corpus.train, corpus.valid, corpus.test].map { $0.filter { $0 == corpus.vocabulary.endOfSentenceID }.count }
        #expect(sentences.reduce(0, +) == 800)
        #expect(corpus.train.count + corpus.valid.count + corpus.test.count == 8000)
        #expect(sentences[0] > 650 && sentences[1] > 15 && sentences[2] > 15)
        #expect(corpus.vocabulary.words.contains("gamma") && !corpus.vocabulary.words.contains("LICENSEE"))
        #expect(corpus.unknownEvaluationWords == 0)
        // The split depends on (part of speech, offset) only.
        #expect(WordNetCorpus.split(partOfSpeech: "n", offset: "00001740") == WordNetCorpus.split(partOfSpeech: "n", offset: "00001740"))
        let again = try WordNetCorpus.load(directory: directory.path)
        #expect(again.train == corpus.train && again.test == corpus.test)
    }

    @Test func corruptWordNetFilesAreOneLineErrors() throws {
        let directory = TemporaryDirectory()
        writeWordNet(directory, synsets: 40)
        directory.write("data.verb", Array("  1 header\n00001000 03 v 01 run 0 000 no gloss here\n".utf8))
        #expect(corpusError { _ = try WordNetCorpus.load(directory: directory.path) }.contains("data.verb: line 2 (synset 00001000) has no gloss"))
        directory.write("data.verb", Array("hello world | gloss\n".utf8))
        #expect(corpusError { _ = try WordNetCorpus.load(directory: directory.path) }.contains("data.verb: line 1 is not a WordNet synset line"))
        directory.write("data.verb", [0x00, 0x01, 0x02])
        #expect(corpusError { _ = try WordNetCorpus.load(directory: directory.path) }.contains("data.verb: binary data"))
    }

    /// The real corpus when wordnet-base is installed (tools/setup installs it): about 1M words.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/wordnet/data.noun")))
    func installedWordNetCorpusSizes() throws {
        let corpus = try LanguageCorpusLoader.load(directory: nil)
        #expect(corpus.vocabulary.count == 10_000)
        #expect(corpus.train.count > 1_000_000 && corpus.train.count < 2_000_000)
        #expect(corpus.valid.count > 50_000 && corpus.test.count > 50_000)
    }
}
