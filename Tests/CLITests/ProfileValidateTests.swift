import Foundation
import Testing
import AutoShrinkFormats

/// `autoshrink profile --validate ARCH...`: architectures timed on the device with the profile's
/// estimator beside the profile's prediction; the noise summary of a profile run.
@Suite("profile --validate and the noise summary")
struct ProfileValidateTests {
    @Test("a tiny profile prints its noise; --validate times architectures and prints predicted vs measured, --json decodes")
    func validateAgainstProfile() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let arch = "\(directory)/tiny.arch.json"
        try ErrorPathTests.tinyArchitecture.write(toFile: arch, atomically: true, encoding: .utf8)
        let profile = "\(directory)/profiles/local.json"
        let profiled = try CLI.run(["profile", "--device", ErrorPathTests.localDevice, "--out", profile, "--space", arch,
                                    "--repeats", "6", "--networks", "4", "--sample-ms", "0.05", "--int8-only", "--cpu", "0"])
        #expect(profiled.status == 0, "\(profiled.stderr)")
        #expect(profiled.stdout.contains("noise        operators ("), "\(profiled.stdout)")
        #expect(profiled.stdout.contains("harness pinned to core 0"), "\(profiled.stdout)")

        let validated = try CLI.run(["profile", "--device", ErrorPathTests.localDevice, "--out", profile, "--repeats", "6",
                                     "--sample-ms", "0.05", "--validate", arch, arch, "--json"])
        #expect(validated.status == 0, "\(validated.stderr)")
        #expect(validated.stdout.contains("predicted ms"))
        let summary = try ProfileValidationSummary.decodeSummary(Data(validated.lastLine.utf8), source: "profile --validate --json")
        #expect(summary.architectures.count == 2)
        #expect(summary.architectures.allSatisfy {
            $0.name == "tiny" && $0.predictedMilliseconds > 0 && $0.ciLowMilliseconds <= $0.measuredMilliseconds
                && $0.measuredMilliseconds <= $0.ciHighMilliseconds
        })
        #expect(summary.profile == profile && summary.device == "local")

        // An unknown architecture is a one-line error before anything is built.
        let unknown = try CLI.run(["profile", "--device", ErrorPathTests.localDevice, "--out", profile, "--validate", "no-such-arch"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("--validate: unknown architecture 'no-such-arch'"), "\(unknown.stderr)")
        // --cpu is checked.
        let badCPU = try CLI.run(["profile", "--device", ErrorPathTests.localDevice, "--cpu", "fast"])
        #expect(badCPU.status != 0 && badCPU.stderr.contains("--cpu"), "\(badCPU.stderr)")
    }
}
