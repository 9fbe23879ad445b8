// swift-tools-version:6.0
// autoshrink: topology-aware NAS (AutoShrink) for Linux edge devices.
// Layers (dependencies point down only), see docs/architecture.md:
//   autoshrink (CLI)
//   AutoShrinkExport  -> AutoShrinkDevice -> AutoShrinkSearch -> AutoShrinkModel -> AutoShrinkEngine -> COpenBLAS
//   AutoShrinkReport  -> AutoShrinkSearch, AutoShrinkModel
//   AutoShrinkFormats (Foundation only: VersionedDocument loading, export.json, command summaries,
//                      DeviceDescription), under AutoShrinkModel and everything above it
//   AutoShrinkData (datasets, CZlib)      CArmadillo (least squares)      CRuntime (C99 inference kernels)
import PackageDescription

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
        // The C99 inference kernels; the same files are copied verbatim into every export.
        .target(name: "CRuntime",
                cSettings: [.unsafeFlags(["-O3", "-std=c99"])]),

        .target(name: "AutoShrinkEngine", dependencies: ["COpenBLAS"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .target(name: "AutoShrinkData", dependencies: ["CZlib"]),
        // Typed, versioned file formats and command summaries shared by writers and readers.
        .target(name: "AutoShrinkFormats"),
        .target(name: "AutoShrinkModel", dependencies: ["AutoShrinkFormats", "AutoShrinkEngine", "AutoShrinkData"]),
        .target(name: "AutoShrinkSearch", dependencies: ["AutoShrinkModel", "AutoShrinkData", "AutoShrinkEngine"]),
        .target(name: "AutoShrinkDevice", dependencies: ["AutoShrinkFormats", "AutoShrinkModel", "CArmadillo", "TOMLKit"]),
        .target(name: "AutoShrinkReport", dependencies: ["AutoShrinkFormats", "AutoShrinkSearch", "AutoShrinkModel"]),
        .target(name: "AutoShrinkExport", dependencies: ["AutoShrinkModel", "AutoShrinkDevice", "AutoShrinkData", "AutoShrinkEngine"]),
        .executableTarget(name: "autoshrink", dependencies: [
            "AutoShrinkFormats", "AutoShrinkEngine", "AutoShrinkData", "AutoShrinkModel", "AutoShrinkSearch",
            "AutoShrinkDevice", "AutoShrinkExport", "AutoShrinkReport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "EngineTests", dependencies: ["AutoShrinkEngine"]),
        .testTarget(name: "DataTests", dependencies: ["AutoShrinkData", "CArmadillo"]),
        .testTarget(name: "ModelTests", dependencies: ["AutoShrinkModel", "AutoShrinkEngine"]),
        .testTarget(name: "SearchTests", dependencies: ["AutoShrinkSearch", "AutoShrinkModel", "AutoShrinkData"]),
        .target(name: "AutoShrinkTestSupport", path: "Tests/Support"),
        .testTarget(name: "DeviceTests", dependencies: ["AutoShrinkDevice", "AutoShrinkModel", "AutoShrinkTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "RuntimeTests", dependencies: ["CRuntime"], exclude: ["Fixtures"]),
        .testTarget(name: "ExportTests", dependencies: ["AutoShrinkExport", "AutoShrinkModel", "AutoShrinkDevice", "AutoShrinkReport", "AutoShrinkSearch"]),
        .testTarget(name: "ReportTests", dependencies: ["AutoShrinkReport", "AutoShrinkSearch", "AutoShrinkModel", "AutoShrinkFormats"]),
        .testTarget(name: "FormatsTests", dependencies: ["AutoShrinkFormats"]),
        .testTarget(name: "CLITests", dependencies: ["autoshrink", "AutoShrinkTestSupport"], exclude: ["Fixtures"]),
    ]
)
