import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import AutoShrinkTarget
import CRuntime
import Foundation
import Testing
@testable import AutoShrinkExport

/// A tiny language model on a generated PTB-format corpus (seconds to train), for the export tests.
enum LMExportFixtures {
    /// Sentences over a 40-word language with some structure (a word predicts the next few), written
    /// as ptb.{train,valid,test}.txt; the test file also has what the reader must handle: empty lines,
    /// tabs, several spaces, words outside the vocabulary, a '\r' between words and a "\r\n" line end
    /// (one Swift Character, so no line end there).
    static func corpusDirectory() throws -> String {
        let directory = try ExportFixtures.temporaryDirectory("lm-corpus")
        var generator = SplitMix64(seed: 7)
        func sentence() -> String {
            let length = 3 + Int(generator.next() % 8)
            var word = Int(generator.next() % 40)
            var words: [String] = []
            for _ in 0..<length {
                words.append("w\(word)")
                word = (word * 7 + 3 + Int(generator.next() % 3)) % 40
            }
            return words.joined(separator: " ")
        }
        // A word with a quote and a backslash, frequent enough to be in the vocabulary (JSON escaping).
        let train = ((0..<1500).map { _ in sentence() } + Array(repeating: #"w1 q"u\o w2"#, count: 30)).joined(separator: "\n") + "\n"
        let valid = (0..<100).map { _ in sentence() }.joined(separator: "\n") + "\n"
        var test = (0..<120).map { _ in sentence() }
        test[3] = "  w1\tw2   zzunknown w3  "
        test[5] = ""
        test[7] = "w4 w5\rw6 qqnotaword"
        test[9] = "w7 w8\r\nw9 w10"   // "\r\n" is one Character in Swift: neither a line end nor a word break
        try (train).write(toFile: "\(directory)/ptb.train.txt", atomically: true, encoding: .utf8)
        try (valid).write(toFile: "\(directory)/ptb.valid.txt", atomically: true, encoding: .utf8)
        try (test.joined(separator: "\n") + "\n\n").write(toFile: "\(directory)/ptb.test.txt", atomically: true, encoding: .utf8)
        return directory
    }

    /// Trains a 4-node cell (embed = hidden = 12, tied, or untied 10/12) for two epochs; returns the
    /// checkpoint (reloaded from disk) and the corpus.
    static func checkpoint(directory: String, tied: Bool = true) throws -> (LMCheckpoint, TextCorpus) {
        let corpus = try PTBCorpusReader.load(directory: directory, vocabularyLimit: 50)
        let cell = RNNCell(activations: [.tanh, .relu, .sigmoid, .identity], edges: [Edge(0, 1), Edge(0, 2), Edge(1, 3), Edge(2, 3), Edge(0, 3)])
        let shape = LanguageModelShape(vocabulary: corpus.vocabulary.count, embed: tied ? 12 : 10, hidden: 12, tied: tied)
        let context = ExecutionContext(threads: 2)
        let model = LanguageModel(cell: cell, shape: shape, context: context, seed: 5)
        let trainer = LMTrainer(model: model, configuration: LMTrainingConfiguration(epochs: 2, batchSize: 8, bptt: 10, learningRate: 5, seed: 5))
        _ = trainer.fit(train: corpus.train, valid: corpus.valid)
        let metadata = LMCheckpointMetadata(corpus: corpus.name, epochs: 2, validPerplexity: nil,
                                            testPerplexity: trainer.evaluate(corpus.test).perplexity, seed: 5, bptt: 10)
        let path = "\(directory)/model.ckpt"
        try LMCheckpoint(model: model, vocabulary: corpus.vocabulary, metadata: metadata).write(to: path)
        return (try LMCheckpoint.load(path: path), corpus)
    }

    /// The checkpoint with the int8 binary's weights (scale * q): the Swift twin of `model-int8`.
    static func dequantized(_ checkpoint: LMCheckpoint) throws -> LMCheckpoint {
        let weights = LMCModelGenerator.dequantized(try LMExportWeights(checkpoint: checkpoint))
        var copy = checkpoint
        copy.tensors = checkpoint.tensors.map { tensor in
            let name = tensor.record.name
            let values: [Float]
            switch name {
            case "embedding.weight": values = weights.embedding
            case "cell.node0.input_weight": values = weights.inputWeight
            case "cell.node0.recurrent_weight": values = weights.recurrentWeight
            case "decoder.weight": values = weights.decoderWeight!
            case "decoder.bias": values = weights.decoderBias
            default:
                let node = Int(name.dropFirst("cell.node".count).prefix { $0 != "." })!
                values = name.hasSuffix(".gate_bias") ? weights.gateBiases[node]! : weights.nodeWeights[node]!
            }
            return (tensor.record, values)
        }
        return copy
    }
}

@Suite("Language-model export: C kernels, generated program, perplexity agreement", .serialized)
struct LMExportTests {
    @Test("rnn kernels match plain loops (float and int8 products, softmax, top-k, mean)")
    func kernelsMatchPlainLoops() {
        var generator = SplitMix64(seed: 11)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float.random(in: -1...1, using: &generator) } }
        for (k, n) in [(1, 1), (5, 7), (13, 70), (40, 130), (300, 5)] {
            let x = random(k), w = random(k * n), start = random(n)
            var y = start
            rnn_vecmat_f32(&y, x, w, Int32(k), Int32(n), 1)
            for j in 0..<n {
                let expected = (0..<k).reduce(Double(start[j])) { $0 + Double(x[$1]) * Double(w[$1 * n + j]) }
                #expect(abs(Double(y[j]) - expected) < 1e-4)
            }
            let q = Int8Weights.perColumn(w, rows: k, columns: n)
            var yq = [Float](repeating: 9, count: n)
            rnn_vecmat_s8(&yq, x, q.values, q.scales, Int32(k), Int32(n), 0)
            let dequantized = q.dequantizedPerColumn(columns: n)
            for j in 0..<n {
                let expected = (0..<k).reduce(0.0) { $0 + Double(x[$1]) * Double(dequantized[$1 * n + j]) }
                #expect(abs(Double(yq[j]) - expected) < 1e-4)
                // int8 stays close to the float weights (half a step of each weight at most).
                let exact = (0..<k).reduce(0.0) { $0 + Double(x[$1]) * Double(w[$1 * n + j]) }
                #expect(abs(expected - exact) <= Double(q.scales[j]) / 2 * Double(k) + 1e-6)
            }
            // Rows: [n][k] dot x, with bias.
            let bias = random(n)
            var z = [Float](repeating: 0, count: n)
            rnn_rowdot_f32(&z, x, w, bias, Int32(n), Int32(k))
            let rq = Int8Weights.perRow(w, rows: n, columns: k)
            var zq = [Float](repeating: 0, count: n)
            rnn_rowdot_s8(&zq, x, rq.values, rq.scales, bias, Int32(n), Int32(k))
            let rowDequantized = rq.dequantizedPerRow(columns: k)
            for r in 0..<n {
                #expect(abs(Double(z[r]) - (0..<k).reduce(Double(bias[r])) { $0 + Double(w[r * k + $1]) * Double(x[$1]) }) < 1e-4)
                #expect(abs(Double(zq[r]) - (0..<k).reduce(Double(bias[r])) { $0 + Double(rowDequantized[r * k + $1]) * Double(x[$1]) }) < 1e-4)
            }
        }
        let z = random(300).map { $0 * 20 }
        let largest = Double(z.max()!)
        let lse = log(z.reduce(0.0) { $0 + exp(Double($1) - largest) }) + largest
        #expect(abs(Double(rnn_log_sum_exp(z, 300)) - lse) < 1e-4)
        var p = [Float](repeating: 0, count: 300)
        rnn_softmax(&p, z, 300)
        #expect(abs(p.reduce(0, +) - 1) < 1e-4)
        var ids = [Int32](repeating: -1, count: 5)
        rnn_top_k(z, 300, 5, &ids)
        #expect(ids.map(Int.init) == Array(z.indices.sorted { z[$0] > z[$1] || (z[$0] == z[$1] && $0 < $1) }.prefix(5)))
        let a = random(9), b = random(9), c = random(9)
        var mean = [Float](repeating: 0, count: 9)
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeBufferPointer { pc in
            let inputs: [UnsafePointer<Float>?] = [pa.baseAddress, pb.baseAddress, pc.baseAddress]
            rnn_mean(&mean, inputs, 3, 9)
        } } }
        for j in 0..<9 { #expect(mean[j] == (a[j] + b[j] + c[j]) * (1 / Float(3))) }
        // exp, tanh and log are the kernels' own approximations (libc only): within 2e-7 of float64.
        let inputs = stride(from: -20.0, through: 20.0, by: 0.001).map { Float($0) }
        var tanhs = [Float](repeating: 0, count: inputs.count), sigmoids = tanhs
        rnn_tanh(&tanhs, inputs, Int32(inputs.count))
        rnn_sigmoid(&sigmoids, inputs, Int32(inputs.count))
        for (i, x) in inputs.enumerated() {
            let t = Foundation.tanh(Double(x)), s = 1 / (1 + Foundation.exp(-Double(x)))
            #expect(abs(Double(tanhs[i]) - t) <= 2e-7 * max(abs(t), 1e-30), "tanh(\(x))")
            #expect(abs(Double(sigmoids[i]) - s) <= 2e-7 * s, "sigmoid(\(x))")
        }
        // The gate's sigmoid with a bias is the sigmoid of the sum (the same float addition as the loop's).
        let biases = inputs.indices.map { Float(($0 * 37) % 101) * 0.02 - 1 }
        var biased = [Float](repeating: 0, count: inputs.count)
        rnn_sigmoid_bias(&biased, inputs, biases, Int32(inputs.count))
        let sums = zip(inputs, biases).map { $0 + $1 }
        rnn_sigmoid(&sigmoids, sums, Int32(sums.count))
        #expect(biased == sigmoids)
        for count in [1, 2, 3, 10, 777, 10_000, 123_456] {
            // exp(0) = 1 exactly and a float sum of ones is exact below 2^24: only the log approximates.
            let zeros = [Float](repeating: 0, count: count)
            let expected = Foundation.log(Double(count))
            #expect(abs(Double(rnn_log_sum_exp(zeros, Int32(count))) - expected) <= 3e-7 * max(1, expected), "log(\(count))")
        }
        var highway = [Float](repeating: 0, count: 9)
        rnn_highway(&highway, a, b, c, 9)
        for j in 0..<9 { #expect(highway[j] == c[j] + a[j] * (b[j] - c[j])) }
    }

    @Test("the exported program reads text exactly as the Swift reader and its perplexity equals the Swift engine's (float32 and int8)",
          .enabled(if: ExportFixtures.hasGCC))
    func exportedPerplexityMatchesSwift() throws {
        let directory = try LMExportFixtures.corpusDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (checkpoint, corpus) = try LMExportFixtures.checkpoint(directory: directory)
        var options = LMExportOptions()
        options.extraCFlags = ["-Werror"]
        options.benchRuns = 50
        let out = "\(directory)/deploy"
        let report = try LMExporter.export(checkpoint: checkpoint, testTokens: corpus.test, corpusName: corpus.name,
                                           device: try ExportFixtures.device("local"), outputDirectory: out, options: options,
                                           context: ExecutionContext(threads: 2))
        let m = report.manifest
        let swift = try LMExporter.referencePerplexity(checkpoint: checkpoint, tokens: corpus.test, context: ExecutionContext(threads: 1))
        let float = try #require(m.floatPerplexity), int8 = try #require(m.int8Perplexity)
        #expect(m.swiftPerplexity == swift)
        #expect(abs(float / swift - 1) < 1e-4, "float32 binary \(float) vs Swift \(swift)")
        #expect(m.floatMatchesSwift == true)
        #expect(m.testPerplexity == float && m.precision == .float32)
        // The int8 binary computes the Swift model with its dequantized weights.
        let int8Swift = try LMExporter.referencePerplexity(checkpoint: try LMExportFixtures.dequantized(checkpoint), tokens: corpus.test,
                                                           context: ExecutionContext(threads: 1))
        #expect(abs(int8 / int8Swift - 1) < 1e-4, "int8 binary \(int8) vs its Swift twin \(int8Swift)")
        #expect(m.int8PerplexityIncrease == int8 / float - 1)
        #expect(float < Double(corpus.vocabulary.count))   // it learned something

        // The raw test file (empty lines, tabs, unknown words, '\r', "\r\n") gives the tokens the Swift reader gave.
        let binary = "\(out)/model"
        let run = try ExportFixtures.run(binary, ["--perplexity", "\(directory)/ptb.test.txt", "--json"])
        #expect(run.exitStatus == 0, "\(run.stderr)")
        struct Summary: Decodable { var tokens: Int; var perplexity: Double; var unknown_words: Int; var empty_lines: Int }
        let summary = try JSONDecoder().decode(Summary.self, from: Data(run.stdout.split(separator: "\n").last!.utf8))
        #expect(summary.tokens == corpus.test.count)
        #expect(abs(summary.perplexity / swift - 1) < 1e-4)
        #expect(summary.unknown_words == 3)   // zzunknown, qqnotaword and "w8\r\nw9"
        #expect(summary.empty_lines == 2)
        // A prefix: --limit N gives the Swift engine's figure on the first N tokens.
        let limited = try ExportFixtures.run(binary, ["--perplexity", "\(directory)/ptb.test.txt", "--limit", "57", "--json"])
        let prefix = try JSONDecoder().decode(Summary.self, from: Data(limited.stdout.split(separator: "\n").last!.utf8))
        let swiftPrefix = try LMExporter.referencePerplexity(checkpoint: checkpoint, tokens: Array(corpus.test.prefix(57)), context: ExecutionContext(threads: 1))
        #expect(prefix.tokens == 57)
        #expect(abs(prefix.perplexity / swiftPrefix - 1) < 1e-4)

        // Predictions: K words a line, probabilities in decreasing order.
        try "w1 w2 w3\nzzz w5\n".write(toFile: "\(directory)/prompt.txt", atomically: true, encoding: .utf8)
        let predict = try ExportFixtures.run(binary, ["--predict", "3", "\(directory)/prompt.txt"])
        #expect(predict.exitStatus == 0, "\(predict.stderr)")
        let lines = predict.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines.count == 2)
        for line in lines {
            let fields = line.split(separator: " ").dropFirst()
            #expect(fields.count == 6)
            let probabilities = fields.enumerated().filter { $0.offset % 2 == 1 }.compactMap { Double($0.element) }
            #expect(probabilities == probabilities.sorted(by: >) && probabilities.allSatisfy { $0 > 0 && $0 <= 1 })
            #expect(fields.enumerated().filter { $0.offset % 2 == 0 }.allSatisfy { corpus.vocabulary.id(of: $0.element) != nil })
        }
        // --json predictions are valid JSON whatever the words (all of them here: K = the vocabulary).
        let all = try ExportFixtures.run(binary, ["--predict", String(corpus.vocabulary.count), "\(directory)/prompt.txt", "--json"])
        let objects = try all.stdout.split(separator: "\n").map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.count == 2)
        for object in objects {
            let words = try #require(object["next"] as? [[String: Any]]).compactMap { $0["word"] as? String }
            #expect(Set(words) == Set(corpus.vocabulary.words))
        }
        // Errors are one line and a non-zero status.
        let wrongVocabulary = try ExportFixtures.run(binary, ["--perplexity", "\(directory)/ptb.test.txt", "--vocab", "\(directory)/ptb.valid.txt"])
        #expect(wrongVocabulary.exitStatus == 1 && wrongVocabulary.stderr.split(separator: "\n").count == 1)
        #expect(try ExportFixtures.run(binary, ["--bogus"]).exitStatus == 2)

        // The manifest loads through its versioned loader; latency was measured per token.
        let loaded = try LMExportManifest.loadDocument(path: "\(out)/export.json")
        #expect(loaded.testPerplexity == m.testPerplexity && loaded.cell == checkpoint.cell)
        #expect((loaded.latencyFloat?.medianMilliseconds ?? 0) > 0 && (loaded.latencyInt8?.medianMilliseconds ?? 0) > 0)
        #expect(loaded.testTokens == corpus.test.count && loaded.testTokensTotal == corpus.test.count)
        // Per-operator medians: embedding, node 0 and the 3 live nodes, leaf mean, decoder, log-softmax.
        #expect(loaded.operators?.map(\.op) == ["embedding", "node 0 (tanh)", "node 1 (relu)", "node 2 (sigmoid)", "node 3 (identity)",
                                                 "h = mean of leaves", "decoder", "log-softmax"])
        #expect(FileManager.default.fileExists(atPath: "\(out)/vocab.txt") && FileManager.default.fileExists(atPath: "\(out)/model-int8"))
    }

    @Test("an untied model exports with --int8 as the main binary and builds from its Makefile",
          .enabled(if: ExportFixtures.hasGCC && findExecutable("make") != nil))
    func untiedInt8AndMakefile() throws {
        let directory = try LMExportFixtures.corpusDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (checkpoint, corpus) = try LMExportFixtures.checkpoint(directory: directory, tied: false)
        var options = LMExportOptions()
        options.extraCFlags = ["-Werror"]
        options.precision = .int8
        options.benchRuns = 20
        options.testTokenLimit = 200
        let out = "\(directory)/deploy"
        let report = try LMExporter.export(checkpoint: checkpoint, testTokens: corpus.test, corpusName: corpus.name,
                                           device: try ExportFixtures.device("local"), outputDirectory: out, options: options,
                                           context: ExecutionContext(threads: 2))
        #expect(report.manifest.precision == .int8 && report.manifest.testPerplexity == report.manifest.int8Perplexity)
        #expect(report.manifest.testTokens == 200 && report.manifest.testTokensTotal == corpus.test.count)
        let swift = try #require(report.manifest.swiftPerplexity)
        #expect(abs(try #require(report.manifest.floatPerplexity) / swift - 1) < 1e-4)
        try FileManager.default.removeItem(atPath: "\(out)/model")
        let make = try ExportFixtures.run("make", ["-C", out, "model"])
        #expect(make.exitStatus == 0, "\(make.stderr)")
        let run = try ExportFixtures.run("\(out)/model", ["--perplexity", "\(directory)/ptb.test.txt", "--limit", "200", "--json"])
        #expect(run.stdout.contains("\"precision\":\"int8\""))
    }

    @Test("the aarch64 build under qemu reads and scores the text as the local one",
          .enabled(if: ExportFixtures.hasAArch64))
    func qemuAArch64AgreesWithLocal() throws {
        let directory = try LMExportFixtures.corpusDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (checkpoint, corpus) = try LMExportFixtures.checkpoint(directory: directory)
        var options = LMExportOptions()
        options.extraCFlags = ["-Werror"]
        options.benchRuns = 20
        options.testTokenLimit = 300
        let report = try LMExporter.export(checkpoint: checkpoint, testTokens: corpus.test, corpusName: corpus.name,
                                           device: try ExportFixtures.device("qemu-aarch64-a72"), outputDirectory: "\(directory)/deploy-a72",
                                           options: options, context: ExecutionContext(threads: 2))
        let swift = try #require(report.manifest.swiftPerplexity)
        #expect(abs(try #require(report.manifest.floatPerplexity) / swift - 1) < 1e-4)
        #expect(report.manifest.latencyFloat?.emulated == true)
        #expect(report.manifest.latencyFloat?.simd.hasPrefix("aarch64") == true)
    }
}
