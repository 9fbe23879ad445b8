import Foundation
import Testing

/// `--macro`, `bench rank` and `bench search` end to end on a tiny Fashion-MNIST proxy.
@Suite(.serialized, .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
struct MacroBenchCLITests {
    static let tiny = ["--nodes", "3", "--proxy-per-class", "6", "--validation-per-class", "4", "--epochs", "1",
                       "--threads", "2", "--seed", "3"]
    static let smallMacro = "8s2-4p1-8p2-16p1"

    @Test func searchRecordsTheMacroSkeleton() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let custom = try CLI.run(["search", "--runs-dir", runs, "--name", "custom", "--candidates", "2", "--macro", Self.smallMacro,
                                  "--json"] + Self.tiny)
        #expect(custom.status == 0, "\(custom.stderr)")
        #expect(custom.stdout.contains("macro        \(Self.smallMacro) (--macro \(Self.smallMacro))"))
        let config = try String(contentsOfFile: runs + "/custom/config.json", encoding: .utf8)
        #expect(config.contains("\"macro\"") && config.contains("\"stemStride\" : 2"))
        let best = try String(contentsOfFile: try #require(custom.json["best_arch"] as? String), encoding: .utf8)
        #expect(best.contains("\"stride\" : 2"))

        // The reference skeleton records nothing, so config.json is what it was before --macro existed.
        let reference = try CLI.run(["search", "--runs-dir", runs, "--name", "reference", "--candidates", "1", "--min-edges", "2",
                                     "--macro", "reference"] + Self.tiny)
        #expect(reference.status == 0, "\(reference.stderr)")
        #expect(try !String(contentsOfFile: runs + "/reference/config.json", encoding: .utf8).contains("macro"))

        let noLimit = try CLI.run(["search", "--runs-dir", runs, "--name", "auto", "--macro", "auto"] + Self.tiny)
        #expect(noLimit.status != 0 && noLimit.stderr.contains("--macro auto needs a hard limit"))
        let bad = try CLI.run(["search", "--runs-dir", runs, "--name", "bad", "--macro", "32s3-16p1"] + Self.tiny)
        #expect(bad.status != 0 && bad.stderr.contains("stem stride must be 1 or 2"))
    }

    @Test func searchRefitsTheMacroToTheBestCell() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let arguments = ["search", "--runs-dir", runs, "--name", "refit", "--candidates", "1", "--min-edges", "1", "--macro", "auto",
                         "--max-macs", "300000", "--force"] + Self.tiny
        let result = try CLI.run(arguments + ["--refit"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("macro refit: chose"))
        func load(_ name: String) throws -> [String: Any] {
            try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runs + "/refit/" + name))) as? [String: Any])
        }
        let refit = try load("refit.arch.json"), best = try load("best.arch.json")
        // The best cell, or a step winner's within one standard error of the best proxy accuracy whose refit network is
        // larger (MacroFit.refitTrajectory), which the output then names with the snapshots it compared.
        if refit["cell"] as? NSDictionary != best["cell"] as? NSDictionary {
            #expect(result.stdout.contains("snapshots within one standard error") && result.stdout.contains("of a tied snapshot"))
        } else {
            #expect(result.stdout.contains("around the best cell"))
        }
        #expect((refit["name"] as? String)?.hasSuffix("-refit") == true)
        #expect(result.stdout.contains("refit: ") && result.stdout.contains("refit.arch.json"))
        // A run without --refit leaves no stale refit file behind.
        let plain = try CLI.run(arguments)
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(!FileManager.default.fileExists(atPath: runs + "/refit/refit.arch.json"))
        let noLimit = try CLI.run(["search", "--runs-dir", runs, "--name", "nolimit", "--refit"] + Self.tiny)
        #expect(noLimit.status != 0 && noLimit.stderr.contains("--refit needs a hard limit"))
    }

    @Test func searchFitsTheMacroToEveryCandidate() throws {
        let runs = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: runs) }
        let result = try CLI.run(["search", "--runs-dir", runs, "--name", "fit", "--candidates", "2", "--macro", "auto",
                                  "--max-macs", "300000", "--fit-candidates", "--json"] + Self.tiny)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("fitted to every candidate's cell"))
        let config = try String(contentsOfFile: runs + "/fit/config.json", encoding: .utf8)
        #expect(config.contains("\"fitCandidates\" : true"))
        // Every trajectory line names its skeleton, and every candidate fits the limit.
        let lines = try String(contentsOfFile: runs + "/fit/trajectory.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let record = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(record["macro"] is String && (record["macs"] as? Int ?? .max) <= 300000 && record["feasible"] as? Bool == true)
        }
        #expect(result.stdout.contains(" on ") && result.json["best_arch"] is String)
        let noLimit = try CLI.run(["search", "--runs-dir", runs, "--name", "nolimit", "--fit-candidates"] + Self.tiny)
        #expect(noLimit.status != 0 && noLimit.stderr.contains("--fit-candidates needs a hard limit"))
        let inherit = try CLI.run(["search", "--runs-dir", runs, "--name", "inherit", "--fit-candidates", "--inherit",
                                   "--max-macs", "300000"] + Self.tiny)
        #expect(inherit.status != 0 && inherit.stderr.contains("cannot be combined with --inherit"))
    }

    @Test func benchRankPrintsKendallTau() throws {
        let result = try CLI.run(["bench", "rank", "--samples", "3", "--macro", Self.smallMacro, "--cheap-inherit",
                                  "--full-epochs", "2", "--nodes", "3", "--proxy-per-class", "6", "--validation-per-class", "4",
                                  "--threads", "2", "--seed", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("parent trained 1 epoch(s)"))
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("Kendall tau ") })
        let tau = try #require(Double(line.split(separator: " ")[2]))
        #expect((-1...1).contains(tau) && line.contains("over 3 candidates"))
    }

    /// `--cheap-seed`: a cheap evaluation that is the full training itself (same epochs, same seed) ranks
    /// exactly like it (tau 1, the engine is deterministic); halving refuses the option.
    @Test func benchRankCheapSeedRetest() throws {
        let common = ["bench", "rank", "--samples", "3", "--macro", Self.smallMacro, "--full-epochs", "2", "--cheap-epochs", "2",
                      "--nodes", "3", "--proxy-per-class", "6", "--validation-per-class", "8", "--threads", "2", "--seed", "3"]
        let same = try CLI.run(common + ["--cheap-seed", "3"])
        #expect(same.status == 0, "\(same.stderr)")
        #expect(same.stdout.contains("training seed 3"))
        // Every candidate line: "  i LABEL MACS MACs  cheap A (...)  full B (...)" with A == B.
        let rows = same.stdout.split(separator: "\n").filter { $0.contains(" MACs  cheap ") }
        #expect(rows.count == 3)
        for row in rows {
            let words = row.split(separator: " ")
            let cheap = words.firstIndex(of: "cheap").map { words[$0 + 1] }, full = words.firstIndex(of: "full").map { words[$0 + 1] }
            #expect(cheap != nil && cheap == full, "\(row)")
        }
        let refused = try CLI.run(common + ["--cheap-seed", "4", "--halving", "1"])
        #expect(refused.status != 0 && refused.stderr.contains("drop --cheap-seed"))
    }

    @Test func benchSearchComparesStrategiesOverSeeds() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arguments = ["bench", "search", "--out", directory + "/bench", "--seeds", "2", "--candidates", "2", "--macro", Self.smallMacro]
            + ["--nodes", "3", "--proxy-per-class", "6", "--validation-per-class", "4", "--epochs", "1", "--threads", "2"]
        let result = try CLI.run(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        for run in ["autoshrink-s1", "random-s1", "autoshrink-s2", "random-s2"] {
            #expect(FileManager.default.fileExists(atPath: "\(directory)/bench/\(run)/trajectory.jsonl"), "missing \(run)")
        }
        let rows = result.stdout.split(separator: "\n").filter { $0.hasPrefix("autoshrink  ") || $0.hasPrefix("random      ") }
        #expect(rows.count == 2 && rows.allSatisfy { $0.contains(" 2      ") && $0.contains("±") })
        // Random draws the edge counts of the same seed's AutoShrink trajectory: equal candidate budgets.
        for seed in [1, 2] {
            let lines = { (name: String) in
                (try? String(contentsOfFile: "\(directory)/bench/\(name)-s\(seed)/trajectory.jsonl", encoding: .utf8))?
                    .split(separator: "\n").count
            }
            #expect(lines("autoshrink") != nil && lines("autoshrink") == lines("random"))
        }
        // A second run resumes every run instead of training again; with --retrain-epochs it trains each
        // best once with `train` (a train.json per run) and prints the paired difference.
        let retrain = ["--retrain-epochs", "1", "--retrain-per-class", "10"]
        let again = try CLI.run(arguments + retrain)
        #expect(again.status == 0 && again.stdout.contains("already done"), "\(again.stderr)")
        for run in ["autoshrink-s1", "random-s2"] {
            #expect(FileManager.default.fileExists(atPath: "\(directory)/bench/\(run)/retrain-e1-pc10/train.json"), "missing \(run)")
        }
        let paired = try #require(again.stdout.split(separator: "\n").first { $0.hasPrefix("autoshrink - random, paired by seed") })
        #expect(paired.contains("retrained test acc") && paired.contains("2 seeds"), "\(paired)")
        // ... and the same on the score both strategies maximise (retrained accuracy with the best's resource terms)
        let scored = try #require(again.stdout.split(separator: "\n").first { $0.hasPrefix("autoshrink - random, paired by seed: retrained score") })
        #expect(scored.contains("standard error") && scored.contains("2 seeds"), "\(scored)")
        let trained = "\(directory)/bench/random-s1/retrain-e1-pc10/train.json"
        let before = try FileManager.default.attributesOfItem(atPath: trained)[.modificationDate] as? Date
        let third = try CLI.run(arguments + retrain)
        #expect(third.status == 0 && third.stdout.contains("retrained 1 epochs: test"), "\(third.stderr)")
        #expect(try FileManager.default.attributesOfItem(atPath: trained)[.modificationDate] as? Date == before, "trained again")
    }
}
