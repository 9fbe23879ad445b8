import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Leftovers of killed runs and outputs found unwritable too late (reliability issue 12), with the real
/// binary: scratch folders in TMPDIR whose process is gone and staging folders of killed exports are
/// removed by the next run, nothing else is touched, and `train` / `profile` refuse an unwritable
/// `--out` before any work (docs/architecture.md, "Names, locks and output folders").
@Suite("leftovers of killed runs; --out checked first")
struct LeftoverTests {
    /// The pid of a process that has exited and been reaped.
    static func deadPid() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    static func age(_ path: String, days: Double) {
        let date = Date().addingTimeInterval(-days * 86_400)
        try? FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: path)
    }

    @Test("TMPDIR: scratch folders of dead processes and day-old unpidded ones go; live, fresh, foreign and symlinked stay")
    func scratchFoldersOfDeadProcessesAreRemoved() throws {
        let w = try Workspace()
        defer { w.remove() }
        try w.write("tiny.arch.json", ErrorPathTests.tinyArchitecture)
        let dead = try Self.deadPid()
        let live = getpid()
        let tmp = w.temporary
        let fm = FileManager.default
        func folder(_ name: String, days: Double = 0) throws {
            try fm.createDirectory(atPath: "\(tmp)/\(name)", withIntermediateDirectories: true)
            try Data("captured\n".utf8).write(to: URL(fileURLWithPath: "\(tmp)/\(name)/stdout"))
            if days > 0 { Self.age("\(tmp)/\(name)", days: days) }
        }
        func file(_ name: String, days: Double = 0) throws {
            try Data("{}\n".utf8).write(to: URL(fileURLWithPath: "\(tmp)/\(name)"))
            if days > 0 { Self.age("\(tmp)/\(name)", days: days) }
        }
        let gone = [
            "autoshrink-subprocess-p\(dead)-ABCDEF12", "autoshrink-export-p\(dead)-0123ABCD", "autoshrink-runner-p\(dead)-0123ABCD",
            "autoshrink-subprocess-11111111-2222-3333-4444-555555555555", "autoshrink-export-ABCDEF12", "autoshrink-deploy-ABCDEF12",
            "autoshrink-profile-local-1234ABCD", "autoshrink-progress-p\(dead)-ABCDEF12.json",
            "autoshrink-progress-11111111-2222-3333-4444-555555555555.json",
        ]
        for name in gone where !name.hasSuffix(".json") { try folder(name, days: name.contains("-p\(dead)-") ? 0 : 2) }
        for name in gone where name.hasSuffix(".json") { try file(name, days: name.contains("-p\(dead)-") ? 0 : 2) }
        // Kept: a live owner, legacy names younger than a day, names that are not exactly ours, a symlink.
        try folder("autoshrink-subprocess-p\(live)-ABCDEF12")
        try folder("autoshrink-subprocess-22222222-2222-3333-4444-555555555555")
        try folder("autoshrink-export-tests-label-ABCDEF12", days: 2)
        try folder("autoshrink-subprocess-notes", days: 2)
        try folder("autoshrink-subprocess-p\(dead)-abcdef12", days: 2)  // lowercase: not ours
        try folder("autoshrink-cli-\(UUID().uuidString)", days: 2)
        try folder("my-things", days: 2)
        try folder("target-of-link")
        try fm.createSymbolicLink(atPath: "\(tmp)/autoshrink-subprocess-p\(dead)-0000AAAA", withDestinationPath: "\(tmp)/target-of-link")
        let kept = Set(try fm.contentsOfDirectory(atPath: tmp)).subtracting(gone)
        let keptSnapshot = try Snapshot(tmp + "/target-of-link")

        let outcome = try w.run(["info", "tiny.arch.json"])
        #expect(outcome.status == 0, "info failed: \(outcome.stderr)")
        let after = Set(try fm.contentsOfDirectory(atPath: tmp))
        #expect(after == kept, "removed \(kept.subtracting(after).sorted()), left \(after.intersection(gone).sorted())")
        keptSnapshot.expectUnchanged("the folder a scratch-named symlink points to")
    }

    /// A workspace with the trained tiny checkpoint (needs the dataset, like `DataSafetyTests`).
    func exportWorkspace() throws -> Workspace { try DataSafetyTests().workspace() }

    @Test("export removes the staging folders of a killed export of the same name, and nothing else",
          .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
    func exportRemovesKilledStaging() throws {
        let w = try exportWorkspace()
        defer { w.remove() }
        try w.write("deploy/tiny/export.json", "{\"format\": \"autoshrink.export\", \"version\": 1}\n")
        try w.write("deploy/.tiny.tmp-ABCDEF12/model.c", "/* half written */\n")
        try w.write("deploy/.tiny.tmp-0123ABCD/runtime/x.c", "/* half written */\n")
        try w.write("deploy/.tiny.old-1234ABCD/export.json", "{\"format\": \"autoshrink.export\", \"version\": 1}\n")
        // Not ours to remove: another name's staging, near-miss names, a file with a staging name.
        try w.write("deploy/.other.tmp-ABCDEF12/model.c", "/* other export */\n")
        try w.write("deploy/.tiny.tmp-notes/keep.txt", "keep\n")
        try w.write("deploy/.tiny.tmp-ABCDEF123/keep.txt", "keep\n")
        try w.write("deploy/.tiny.tmp-FEDCBA98", "a file, not a folder\n")
        try w.write("deploy/tinyx.tmp-ABCDEF12/keep.txt", "keep\n")
        let keep = ["deploy/.other.tmp-ABCDEF12", "deploy/.tiny.tmp-notes", "deploy/.tiny.tmp-ABCDEF123", "deploy/tinyx.tmp-ABCDEF12"]
        let snapshots = try keep.map { try Snapshot(w.path($0)) }
        let outcome = try w.run(["export", "in/model.ckpt", "--no-run", "--out", "deploy/tiny"])
        #expect(outcome.status == 0, "export failed: \(outcome.stderr)")
        let fm = FileManager.default
        for gone in ["deploy/.tiny.tmp-ABCDEF12", "deploy/.tiny.tmp-0123ABCD", "deploy/.tiny.old-1234ABCD"] {
            #expect(!fm.fileExists(atPath: w.path(gone)), "\(gone) is still there")
            #expect(outcome.stdout.contains("removed \(w.path(gone))"), "no note about \(gone):\n\(outcome.stdout)")
        }
        for snapshot in snapshots { snapshot.expectUnchanged("\(snapshot.root) (not a staging folder of this export)") }
        #expect(fm.fileExists(atPath: w.path("deploy/.tiny.tmp-FEDCBA98")))
        #expect(fm.fileExists(atPath: w.path("deploy/tiny/model.c")), "the new export is not in place")
        let entries = (try? fm.contentsOfDirectory(atPath: w.temporary)) ?? []
        #expect(entries.isEmpty, "left \(entries) in TMPDIR")
    }

    @Test("an export killed with SIGKILL while compiling leaves leftovers that the next export removes",
          .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
    func killedExportIsCleanedUp() throws {
        let w = try exportWorkspace()
        defer { w.remove() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.executable)
        process.arguments = ["export", "in/model.ckpt", "--no-run", "--quiet", "--out", "deploy/tiny"]
        process.currentDirectoryURL = URL(fileURLWithPath: w.root)
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": w.temporary]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until it compiles (objects appear in the staging folder), then kill it.
        let fm = FileManager.default
        var staging: String?
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning, Date() < deadline {
            staging = (try? fm.contentsOfDirectory(atPath: w.path("deploy")))?.first { $0.hasPrefix(".tiny.tmp-") }
            if let staging, ((try? fm.contentsOfDirectory(atPath: w.path("deploy/\(staging)/.build"))) ?? []).contains(where: { $0.hasSuffix(".o") }) { break }
            usleep(20_000)
        }
        try #require(process.isRunning, "the export finished before it could be killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let killedPid = process.processIdentifier
        sleep(2)  // let the orphaned compilers finish
        let staged = try #require(staging)
        #expect(fm.fileExists(atPath: w.path("deploy/\(staged)")), "no staging folder left by the kill")
        let scratch = ((try? fm.contentsOfDirectory(atPath: w.temporary)) ?? []).filter { $0.contains("-p\(killedPid)-") }
        print("leftovers: the killed export (pid \(killedPid)) left deploy/\(staged) and \(scratch) in TMPDIR")

        let outcome = try w.run(["export", "in/model.ckpt", "--no-run", "--out", "deploy/tiny"])
        #expect(outcome.status == 0, "the next export failed: \(outcome.stderr)")
        let left = ((try? fm.contentsOfDirectory(atPath: w.path("deploy"))) ?? []).filter { $0.contains(".tmp-") || $0.contains(".old-") }
        #expect(left.isEmpty, "left \(left) beside deploy/tiny")
        let tmp = (try? fm.contentsOfDirectory(atPath: w.temporary)) ?? []
        #expect(tmp.isEmpty, "left \(tmp) in TMPDIR")
        #expect(fm.fileExists(atPath: w.path("deploy/tiny/export.json")))
    }

    @Test("an earlier export parked by an export killed between its renames is put back, even when this export fails",
          .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
    func parkedExportIsRestored() throws {
        let w = try exportWorkspace()
        defer { w.remove() }
        try w.write("deploy/.tiny.old-1234ABCD/export.json", "{\"format\": \"autoshrink.export\", \"version\": 1}\n")
        try w.write("deploy/.tiny.old-1234ABCD/model.c", "/* the earlier export */\n")
        let parked = try Snapshot(w.path("deploy/.tiny.old-1234ABCD"))
        try w.expectFailure("export with a missing dataset after a killed export",
                            ["export", "in/model.ckpt", "--no-run", "--quiet", "--data-dir", w.path("no-such-data")],
                            mentions: ["no-such-data"])
        #expect(!FileManager.default.fileExists(atPath: w.path("deploy/.tiny.old-1234ABCD")))
        let restored = try Snapshot(w.path("deploy/tiny"))
        #expect(restored.files == parked.files, "deploy/tiny is not the parked export: \(restored.files.keys.sorted())")
    }

    @Test("search --resume removes hour-old temporaries of a killed search's atomic writes, and nothing else",
          .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
    func searchRemovesKilledWriteTemporaries() throws {
        let w = try Workspace()
        defer { w.remove() }
        let first = try w.run(["search"] + ErrorPathTests.fastSearch(w))
        try #require(first.status == 0, "the first search failed: \(first.stderr)")
        let run = w.path("runs/tiny")
        let gone = [".best.arch.json.tmp-abcdef12", "snapshots/.step-002.arch.json.tmp-0123abcd", ".state.json.tmp-99999999"]
        let kept = [".search.log.tmp-0123abcd",  // fresh: may be a write in progress
                    ".notes.tmp-ABCDEF12", "notes.tmp-abcdef12", ".x.tmp-abcdef1", "keep.txt"]
        for name in gone + kept { try w.write("runs/tiny/\(name)", "partial\n") }
        for name in gone + kept where name != ".search.log.tmp-0123abcd" { Self.age("\(run)/\(name)", days: 0.1) }
        let resumed = try w.run(["search", "--resume"] + ErrorPathTests.fastSearch(w))
        #expect(resumed.status == 0, "search --resume failed: \(resumed.stderr)")
        for name in gone { #expect(!FileManager.default.fileExists(atPath: "\(run)/\(name)"), "\(name) is still there") }
        for name in kept { #expect(FileManager.default.fileExists(atPath: "\(run)/\(name)"), "\(name) was removed") }
    }

    @Test("train and profile refuse an unwritable --out before training or measuring",
          .enabled(if: CLI.fashionMNISTPresent, "needs dataset-fashion-mnist (tools/setup)"))
    func outIsCheckedFirst() throws {
        let w = try Workspace()
        defer { w.remove() }
        try w.write("tiny.arch.json", ErrorPathTests.tinyArchitecture)
        try w.write("afile", "precious\n")
        try w.mkdir("adir.json")
        let before = try Snapshot(w.root)
        // 1000 epochs would take minutes: the check must come first.
        let train = ["train", "--arch", "tiny.arch.json", "--train-per-class", "50", "--validation-per-class", "0",
                     "--epochs", "1000", "--batch-size", "32", "--threads", "2", "--quiet", "--out"]
        for (out, reason) in [("afile/model", "afile is not a directory"), ("afile", "exists and is not a directory"),
                              ("/proc/autoshrink-model", "cannot write in /proc")] {
            let outcome = try w.expectFailure("train --out \(out)", train + [out], mentions: ["--out \(out): \(reason)"])
            #expect(outcome.seconds < 30, "train --out \(out) took \(outcome.seconds) s to fail")
        }
        let profile = ["profile", "--device", ErrorPathTests.localDevice, "--quiet", "--out"]
        for (out, reason) in [("adir.json", "is a directory"), ("afile/local.json", "afile is not a directory"),
                              ("/proc/autoshrink.json", "cannot write in /proc")] {
            let outcome = try w.expectFailure("profile --out \(out)", profile + [out], mentions: ["--out \(out): \(reason)"])
            #expect(outcome.seconds < 30, "profile --out \(out) took \(outcome.seconds) s to fail")
        }
        before.expectUnchanged("the workspace after refused outputs")
    }
}
