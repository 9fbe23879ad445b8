import Foundation
import Testing
@testable import AutoShrinkModel

/// Scratch names and what counts as left over (docs/architecture.md, "Names, locks and output folders").
@Suite("ScratchFiles and ExportLeftovers names")
struct ScratchFilesTests {
    @Test("current and earlier scratch names parse; anything else is not ours")
    func owners() {
        #expect(ScratchFiles.owner(of: "autoshrink-subprocess-p123-ABCDEF12") == .process(123))
        #expect(ScratchFiles.owner(of: "autoshrink-progress-p9-0123ABCD.json") == .process(9))
        #expect(ScratchFiles.owner(of: "autoshrink-subprocess-11111111-2222-3333-4444-555555555555") == .unknown)
        #expect(ScratchFiles.owner(of: "autoshrink-export-ABCDEF12") == .unknown)
        #expect(ScratchFiles.owner(of: "autoshrink-profile-raspberry-pi-4-ABCDEF12") == .unknown)
        for foreign in ["autoshrink-subprocess-p123-abcdef12", "autoshrink-subprocess-p0123-ABCDEF12", "autoshrink-subprocess-p-1-ABCDEF12",
                        "autoshrink-subprocess-p123-ABCDEF123", "autoshrink-export-tests-x-ABCDEF12", "autoshrink-cli-ABCDEF12",
                        "autoshrink-progress-p9-0123ABCD", "autoshrink-subprocess-notes", "my-autoshrink-export-ABCDEF12",
                        "autoshrink-profile--ABCDEF12", "autoshrink-unknown-p1-ABCDEF12"] {
            #expect(ScratchFiles.owner(of: foreign) == nil, "\(foreign)")
        }
        let path = ScratchFiles.path("export", in: "/x")
        #expect(ScratchFiles.owner(of: (path as NSString).lastPathComponent) == .process(getpid()))
    }

    @Test("staging and parked folders of an output folder by name")
    func exportLeftovers() {
        #expect(ExportLeftovers.kind(of: ".tiny.tmp-ABCDEF12", outputName: "tiny") == .staging)
        #expect(ExportLeftovers.kind(of: ".tiny.old-0123ABCD", outputName: "tiny") == .parked)
        for other in [".tiny.tmp-abcdef12", ".tiny.tmp-ABCDEF1", ".tinyx.tmp-ABCDEF12", "tiny.tmp-ABCDEF12", ".tiny.tmp-notes"] {
            #expect(ExportLeftovers.kind(of: other, outputName: "tiny") == nil, "\(other)")
        }
    }
}
