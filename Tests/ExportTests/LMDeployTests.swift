import AutoShrinkData
import AutoShrinkDeploy
import AutoShrinkEngine
import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import AutoShrinkTarget
import Foundation
import Testing
@testable import AutoShrinkExport

/// `LMDeployment` (docs/shrinkrnn.md, "Deploy") over the SSH runner and its refusals, on the tiny model
/// of `LMExportFixtures` (the CLI tests cover `local` and `qemu-aarch64-a72`).
@Suite struct LMDeployTests {
    struct Exported: Sendable {
        var directory: String
        var export: LMExportReport
        var corpus: TextCorpus
    }

    static let exported: Result<Exported, Error> = Result {
        let directory = try LMExportFixtures.corpusDirectory()
        let (checkpoint, corpus) = try LMExportFixtures.checkpoint(directory: directory)
        var options = LMExportOptions()
        options.benchRuns = 20
        options.testTokenLimit = 300
        let export = try LMExporter.export(checkpoint: checkpoint, testTokens: corpus.test, corpusName: corpus.name,
                                           device: try ExportFixtures.device("local"), outputDirectory: "\(directory)/deploy/lm",
                                           options: options, context: ExecutionContext(threads: 2))
        return Exported(directory: directory, export: export, corpus: corpus)
    }

    static func test(_ corpus: TextCorpus) -> LMDeployTest { LMDeployTest(corpus: corpus.name, vocabulary: corpus.vocabulary, tokens: corpus.test) }

    @Test("deploy over SSH to a real sshd on 127.0.0.1: the export's perplexity on the same tokens",
          .enabled(if: ExportTestSSHServer.isAvailable, "sshd, ssh, scp or ssh-keygen missing (tools/setup installs openssh)"))
    func deploysOverSSH() throws {
        let exported = try Self.exported.get()
        let (started, problem) = try ExportTestSSHServer.start()
        guard let server = started else {
            print("skipping the SSH deployment: tools/test-sshd could not start sshd: \(problem)")
            return
        }
        defer { server.stop() }
        let device = server.device(compiler: exported.export.manifest.device.compiler)
        let report = try LMDeployment.run(exportDirectory: exported.export.directory, device: device, loadTest: { Self.test(exported.corpus) },
                                          tokenLimit: nil, benchRuns: 10)
        #expect(!report.summary.rebuilt && report.summary.tokens == 300 && !report.summary.emulated)
        #expect(report.summary.testPerplexity == exported.export.manifest.testPerplexity)
        #expect(report.summary.perplexityMatchesExport == true && (10...1000).contains(report.latency.runs))
        #expect(report.summary.predictedLatencyMilliseconds == nil && report.summary.predictionNote != nil)
    }

    @Test("deploy refuses: a device whose compiler is missing, a corpus of another vocabulary, an image export")
    func refusals() throws {
        let exported = try Self.exported.get()
        let foreign = DeviceDescription(name: "far-away", architecture: .armv7,
                                        compiler: CompilerSettings(cc: "autoshrink-no-such-cc", flags: ["-O2"]), runner: .local)
        do {
            _ = try LMDeployment.run(exportDirectory: exported.export.directory, device: foreign, loadTest: { Self.test(exported.corpus) },
                                     tokenLimit: nil, benchRuns: 5)
            Issue.record("deploying an x86_64 build to an armv7 device without its compiler succeeded")
        } catch {
            #expect("\(error)".contains("needs a rebuild with autoshrink-no-such-cc, which is not installed"), "\(error)")
        }
        var words = exported.corpus.vocabulary.words
        words.swapAt(2, 3)
        let other = LMDeployTest(corpus: "shuffled", vocabulary: try Vocabulary(words: words), tokens: exported.corpus.test)
        do {
            _ = try LMDeployment.run(exportDirectory: exported.export.directory, device: try ExportFixtures.device("local"),
                                     loadTest: { other }, tokenLimit: nil, benchRuns: 5)
            Issue.record("a corpus with another vocabulary was accepted")
        } catch {
            #expect("\(error)".contains("not the one shuffled gives"), "\(error)")
        }
        let image = "\(exported.directory)/image-export"
        try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
        try Data("{\"format\": \"autoshrink.export\", \"version\": 1}\n".utf8).write(to: URL(fileURLWithPath: "\(image)/export.json"))
        #expect(try ExportKind.of(directory: image) == .image && ExportKind.of(directory: exported.export.directory) == .languageModel)
        do {
            _ = try LMDeployment.manifest(directory: image)
            Issue.record("an image export was read as a language model")
        } catch {
            #expect("\(error)".contains("an image-classifier export, not a language model"), "\(error)")
        }
    }
}
