// swift-tools-version:6.0
// autoshrink: topology-aware NAS (AutoShrink) for Linux edge devices.
// Layers (dependencies point down only), see docs/architecture.md:
//   autoshrink (CLI)
//   AutoShrinkReport   -> AutoShrinkSearch, AutoShrinkModel, AutoShrinkExport (an LM export's manifest)
//   AutoShrinkDeploy   -> AutoShrinkExport, AutoShrinkProfiler, AutoShrinkTarget (run an export on a device;
//                         AutoShrinkData, AutoShrinkLM for a language model's test text)
//   AutoShrinkExport   -> AutoShrinkTarget, AutoShrinkCSources, AutoShrinkModel, AutoShrinkData, CRuntime
//                         (the exporter calls the kernels' quantization and packing helpers),
//                         AutoShrinkLM (language-model checkpoints exported as C, docs/shrinkrnn.md "Deploy")
//   AutoShrinkProfiler -> AutoShrinkTarget, AutoShrinkCSources, AutoShrinkModel, CArmadillo
//                         (harness, profiles, estimator, latency fit, predictor)
//   AutoShrinkSearch   -> AutoShrinkModel -> AutoShrinkEngine -> COpenBLAS; AutoShrinkData
//                         AutoShrinkSearch -> AutoShrinkTarget (Subprocess, for worker processes and the Slurm commands)
//                         AutoShrinkSearch -> AutoShrinkLM (the LM search, Sources/AutoShrinkSearch/LM)
//   AutoShrinkTarget   -> AutoShrinkFormats, TOMLKit (device files, toolchains, ELF sizes, runners, Subprocess)
//   AutoShrinkFormats  (Foundation only: VersionedDocument loading, export.json, command summaries,
//                       DeviceDescription, SafeName, ScratchFiles), under everything above
//   AutoShrinkCSources (the embedded C sources and their hash)
//   AutoShrinkData (datasets, CZlib)      CArmadillo (least squares)      CRuntime (C99 inference kernels)
// C sources: Sources/CRuntime (kernels) and Sources/CHarness (profiler harness, export main/idx; not a
// target, they contain main()) are embedded into AutoShrinkCSources at build time by the EmbedCSources
// plugin (tool: embed-c-sources, library: CSourceEmbedding); nothing generated is committed.
import Foundation
import PackageDescription

/// The training engine's Swift kernels (SIMD8 loops: depthwise taps, batch norm, im2col, epilogues)
/// are compiled for the SIMD level of the machine that builds them, as `-march=native` would: AVX2
/// where /proc/cpuinfo lists it (the Swift compiler takes its target features from the clang
/// options). Swift never contracts a*b+c into an FMA, so the numbers are bit-identical to a
/// baseline x86-64 build; only the speed changes. `AUTOSHRINK_PORTABLE_BUILD=1` builds for any
/// x86-64 (for a binary copied to other machines). See docs/architecture.md, "Training engine".
let engineSIMDFlags: [String] = {
    #if arch(x86_64)
    if ProcessInfo.processInfo.environment["AUTOSHRINK_PORTABLE_BUILD"] == "1" { return [] }
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    return line.split(separator: " ").contains("avx2") ? ["-Xcc", "-mavx2"] : []
    #else
    return []
    #endif
}()

let package = Package(
    name: "autoshrink",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "autoshrink", targets: ["autoshrink"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // System libraries.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Least squares over Armadillo behind an extern "C" API.
        .target(name: "CArmadillo", linkerSettings: [.linkedLibrary("armadillo")]),
        // The C99 inference kernels; linked by the exporter and copied verbatim into every export.
        .target(name: "CRuntime",
                cSettings: [.unsafeFlags(["-O3", "-std=c99", "-Wall", "-Wextra", "-Werror"])]),
        // Build-time embedding of the C sources (see docs/architecture.md, "C sources").
        .target(name: "CSourceEmbedding"),
        .executableTarget(name: "embed-c-sources", dependencies: ["CSourceEmbedding"]),
        .plugin(name: "EmbedCSources", capability: .buildTool(), dependencies: ["embed-c-sources"]),

        .target(name: "AutoShrinkEngine", dependencies: ["COpenBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"] + engineSIMDFlags)]),
        .target(name: "AutoShrinkData", dependencies: ["CZlib"]),
        // Typed, versioned file formats and command summaries shared by writers and readers.
        .target(name: "AutoShrinkFormats"),
        .target(name: "AutoShrinkModel", dependencies: ["AutoShrinkFormats", "AutoShrinkEngine", "AutoShrinkData"]),
        .target(name: "AutoShrinkSearch", dependencies: ["AutoShrinkModel", "AutoShrinkData", "AutoShrinkEngine", "AutoShrinkTarget", "AutoShrinkLM"]),
        // The embedded C sources (kernels and harnesses) and their hash; nothing else.
        .target(name: "AutoShrinkCSources", plugins: ["EmbedCSources"]),
        // Reaching a device: device files, toolchains, ELF sizes, runners (local/ssh/qemu), subprocesses.
        .target(name: "AutoShrinkTarget", dependencies: ["AutoShrinkFormats", "TOMLKit"]),
        // Measuring a device and predicting latency: harness, profiles, estimator, latency fit.
        .target(name: "AutoShrinkProfiler", dependencies: ["AutoShrinkTarget", "AutoShrinkCSources", "AutoShrinkModel", "CArmadillo"]),
        // Recurrent language models (ShrinkRNN foundation, docs/shrinkrnn.md): cell DAG, engine, trainer, checkpoint.
        .target(name: "AutoShrinkLM", dependencies: ["AutoShrinkModel", "AutoShrinkEngine", "AutoShrinkData", "COpenBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"] + engineSIMDFlags)]),
        .target(name: "AutoShrinkReport", dependencies: ["AutoShrinkFormats", "AutoShrinkSearch", "AutoShrinkModel", "AutoShrinkExport", "AutoShrinkLM"]),
        .target(name: "AutoShrinkExport", dependencies: ["AutoShrinkModel", "AutoShrinkTarget", "AutoShrinkCSources", "AutoShrinkData", "AutoShrinkEngine", "AutoShrinkLM", "CRuntime"]),
        // `autoshrink deploy`: runs an export on a device, compares with the export and the profile.
        .target(name: "AutoShrinkDeploy", dependencies: ["AutoShrinkExport", "AutoShrinkProfiler", "AutoShrinkTarget", "AutoShrinkModel",
                                                         "AutoShrinkFormats", "AutoShrinkData", "AutoShrinkLM"]),
        .executableTarget(name: "autoshrink", dependencies: [
            "AutoShrinkFormats", "AutoShrinkEngine", "AutoShrinkData", "AutoShrinkModel", "AutoShrinkSearch",
            "AutoShrinkTarget", "AutoShrinkProfiler", "AutoShrinkCSources", "AutoShrinkExport", "AutoShrinkDeploy", "AutoShrinkReport", "AutoShrinkLM",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "EngineTests", dependencies: ["AutoShrinkEngine"]),
        .testTarget(name: "DataTests", dependencies: ["AutoShrinkData", "CArmadillo"]),
        .testTarget(name: "ModelTests", dependencies: ["AutoShrinkModel", "AutoShrinkEngine"]),
        .testTarget(name: "SearchTests", dependencies: ["AutoShrinkSearch", "AutoShrinkModel", "AutoShrinkData"]),
        .target(name: "AutoShrinkTestSupport", path: "Tests/Support"),
        .testTarget(name: "DeviceTests", dependencies: ["AutoShrinkTarget", "AutoShrinkProfiler", "AutoShrinkCSources", "AutoShrinkModel", "AutoShrinkTestSupport", "CSourceEmbedding"], exclude: ["Fixtures"]),
        .testTarget(name: "RuntimeTests", dependencies: ["CRuntime"], exclude: ["Fixtures"]),
        .testTarget(name: "ExportTests", dependencies: ["AutoShrinkExport", "AutoShrinkDeploy", "AutoShrinkModel", "AutoShrinkTarget", "AutoShrinkProfiler", "AutoShrinkCSources", "AutoShrinkReport", "AutoShrinkSearch", "AutoShrinkLM", "CRuntime"]),
        .testTarget(name: "ReportTests", dependencies: ["AutoShrinkReport", "AutoShrinkSearch", "AutoShrinkModel", "AutoShrinkFormats", "AutoShrinkLM"]),
        .testTarget(name: "LMTests", dependencies: ["AutoShrinkLM", "AutoShrinkData", "AutoShrinkEngine", "AutoShrinkModel", "AutoShrinkSearch"]),
        .testTarget(name: "FormatsTests", dependencies: ["AutoShrinkFormats"]),
        .testTarget(name: "CLITests", dependencies: ["autoshrink", "AutoShrinkEngine", "AutoShrinkTestSupport"], exclude: ["Fixtures"]),
    ]
)
