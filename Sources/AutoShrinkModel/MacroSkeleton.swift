/// The macro skeleton of the AutoShrink proxy network around the searched cell (docs/algorithm.md §1,
/// "Macro skeleton"): the stem conv3x3 (channels, stride) and the stages (node width, pooling,
/// cells). `reference` is the paper's: stem 32 channels at stride 1, stages 16/32/64 with pooling
/// 1, 2, 2 and one cell each.
///
/// An optional full-resolution layer before the stem (`preStemChannels`): a conv3x3 at stride 1, as
/// refnet's first layer, so the stride-2 stem sees features instead of raw pixels.
///
/// Text form (`--macro SPEC`, `description`): `[PREs1+]STEMsSTRIDE-WIDTHpPOOL[xCELLS][n]-...`, e.g. the
/// reference `32s1-16p1-32p2-64p2`, `16s2-24p1-48p2x2-96p1`, with a full-resolution layer
/// `16s1+32s2-48p2`, or with plain cells (a trailing `n`: no residual add, `Stage.residual`)
/// `32s2-48p2n-96p1n`.
public struct MacroSkeleton: Codable, Hashable, Sendable, CustomStringConvertible {
    public var stemChannels: Int
    public var stemStride: Int
    public var stages: [Stage]
    /// Channels of a conv3x3 stride-1 layer before the stem conv; nil: none (not written, so skeletons
    /// recorded before it existed decode and compare unchanged).
    public var preStemChannels: Int?

    public init(stemChannels: Int, stemStride: Int, stages: [Stage], preStemChannels: Int? = nil) {
        self.stemChannels = stemChannels; self.stemStride = stemStride; self.stages = stages
        self.preStemChannels = preStemChannels
    }

    /// Cells over all stages.
    public var totalCells: Int { stages.reduce(0) { $0 + $1.cells } }

    /// The stem layers of the network: the optional full-resolution conv3x3, then the stem conv3x3.
    public var stemLayers: [StemLayer] {
        (preStemChannels.map { [StemLayer(.conv, outputChannels: $0, kernel: 3, stride: 1)] } ?? [])
            + [StemLayer(.conv, outputChannels: stemChannels, kernel: 3, stride: stemStride)]
    }

    /// The paper's skeleton with stage widths `baseWidth` x (1, 2, 4), pooling 1, 2, 2.
    public static func reference(baseWidth: Int = 16, cellsPerStage: Int = 1) -> MacroSkeleton {
        MacroSkeleton(stemChannels: 32, stemStride: 1,
                      stages: [Stage(width: baseWidth, pool: 1, cells: cellsPerStage),
                               Stage(width: baseWidth * 2, pool: 2, cells: cellsPerStage),
                               Stage(width: baseWidth * 4, pool: 2, cells: cellsPerStage)])
    }

    /// Bounds every number of a skeleton must meet (checked where a skeleton enters: spec text, config files).
    public static let maximumChannels = 4096
    public static let maximumStages = 6
    public static let maximumCellsPerStage = 8

    public var description: String {
        (preStemChannels.map { "\($0)s1+" } ?? "") + "\(stemChannels)s\(stemStride)-" + stages.map {
            "\($0.width)p\($0.pool)" + ($0.cells == 1 ? "" : "x\($0.cells)") + ($0.residual ? "" : "n")
        }
            .joined(separator: "-")
    }

    /// Parses the text form; throws a one-line `ArchitectureError` naming what is wrong.
    public init(spec: String) throws {
        func fail(_ message: String) -> ArchitectureError {
            ArchitectureError("--macro '\(spec)': \(message) (expected [PREs1+]STEMsSTRIDE-WIDTHpPOOL[xCELLS][n]-..., e.g. 32s1-16p1-32p2-64p2, 16s1+32s2-48p2 or 32s2-48p2n-96p1n)")
        }
        let parts = spec.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else { throw fail("needs a stem and at least one stage") }
        func number(_ text: Substring, _ what: String) throws -> Int {
            guard !text.isEmpty, text.count <= 6, text.allSatisfy(\.isASCII), let value = Int(text) else { throw fail("\(what) '\(text)' is not a number") }
            return value
        }
        let stemParts = parts[0].split(separator: "+", omittingEmptySubsequences: false)
        guard stemParts.count <= 2 else { throw fail("stem '\(parts[0])' has more than one '+'") }
        if stemParts.count == 2 {
            let pre = stemParts[0].split(separator: "s", omittingEmptySubsequences: false)
            guard pre.count == 2, pre[1] == "1" else { throw fail("full-resolution layer '\(stemParts[0])' must look like 16s1 (stride 1)") }
            preStemChannels = try number(pre[0], "full-resolution channels")
        } else {
            preStemChannels = nil
        }
        let stem = stemParts[stemParts.count - 1].split(separator: "s", omittingEmptySubsequences: false)
        guard stem.count == 2 else { throw fail("stem '\(stemParts[stemParts.count - 1])' must look like 32s1") }
        stemChannels = try number(stem[0], "stem channels")
        stemStride = try number(stem[1], "stem stride")
        stages = try parts.dropFirst().map { text in
            let plain = text.hasSuffix("n")
            let cellsSplit = text.dropLast(plain ? 1 : 0).split(separator: "x", omittingEmptySubsequences: false)
            guard cellsSplit.count <= 2 else { throw fail("stage '\(text)' must look like 16p1, 16p2x2 or 16p2x2n") }
            let widthPool = cellsSplit[0].split(separator: "p", omittingEmptySubsequences: false)
            guard widthPool.count == 2 else { throw fail("stage '\(text)' must look like 16p1, 16p2x2 or 16p2x2n") }
            return Stage(width: try number(widthPool[0], "stage width"), pool: try number(widthPool[1], "stage pool"),
                         cells: cellsSplit.count == 2 ? try number(cellsSplit[1], "cells per stage") : 1, residual: !plain)
        }
        try validate(source: "--macro '\(spec)'")
    }

    /// Checks ranges (the architecture's own check covers the feature-map sizes for an input).
    public func validate(source: String = "macro skeleton") throws {
        func fail(_ message: String) -> ArchitectureError { ArchitectureError("\(source): \(message)") }
        guard (1...MacroSkeleton.maximumChannels).contains(stemChannels) else { throw fail("stem channels must be in 1...\(MacroSkeleton.maximumChannels)") }
        guard stemStride == 1 || stemStride == 2 else { throw fail("stem stride must be 1 or 2") }
        if let preStemChannels, !(1...MacroSkeleton.maximumChannels).contains(preStemChannels) {
            throw fail("full-resolution channels must be in 1...\(MacroSkeleton.maximumChannels)")
        }
        guard (1...MacroSkeleton.maximumStages).contains(stages.count) else { throw fail("needs 1...\(MacroSkeleton.maximumStages) stages") }
        for (index, stage) in stages.enumerated() {
            guard (1...MacroSkeleton.maximumChannels).contains(stage.width) else { throw fail("stage \(index + 1): width must be in 1...\(MacroSkeleton.maximumChannels)") }
            guard stage.pool == 1 || stage.pool == 2 else { throw fail("stage \(index + 1): pool must be 1 or 2") }
            guard (1...MacroSkeleton.maximumCellsPerStage).contains(stage.cells) else { throw fail("stage \(index + 1): cells must be in 1...\(MacroSkeleton.maximumCellsPerStage)") }
        }
    }
}
