import AutoShrinkModel

// How an export runs a concat, part by part (docs/devices.md, "Predictor"; docs/architecture.md,
// "Export"). `ActivationLayout.exported` decides which inputs are written straight into their slices
// (no work at the concat) and which are copied. A copied input is requantized into its slice
// (`as_requantize_s8`) unless it shares the concat's quantization, when it is copied as it is
// (`as_copy_channels_s8`). Quantizations are shared by the tensors the exporter groups
// (AutoShrinkExport/QuantizedNetwork.swift): a tensor placed as a channel slice of another, and the
// input and output of a max-pool or dropout. Beyond the groups, a concat's calibrated range is the
// hull of its inputs' ranges, so the input with the widest range usually has exactly the concat's
// scale and is copied as it is (cell4-w48's export: cell0.node2.concat requantizes the 32-channel stem
// and copies the 48-channel node output whose scale it took). Ranges are only known after
// calibration; the rule here takes the input with the most channels (the first of equals) for it.
// Every other input is requantized. The harness runs its networks' concats by the same rule (a flag
// per part in the plan's concat line), and the predictor costs the same parts.

/// The quantization groups of a lowered network under a layout, as the exporter forms them.
public struct QuantizationGroups: Sendable {
    private var parent: [Int]

    public init(graph: LayerGraph, layout: ActivationLayout) {
        parent = Array(graph.tensors.indices)
        for (tensor, placement) in layout.placements.enumerated() {
            if case .slice(let owner, _) = placement { unite(tensor, owner) }
        }
        for layer in graph.layers {
            switch layer.operation {
            case .maxPool, .dropout: unite(layer.inputs[0], layer.output)
            default: break
            }
        }
    }

    private func find(_ tensor: Int) -> Int {
        var current = tensor
        while parent[current] != current { current = parent[current] }
        return current
    }

    private mutating func unite(_ a: Int, _ b: Int) {
        let (rootA, rootB) = (find(a), find(b))
        if rootA != rootB { parent[rootA] = rootB }
    }

    /// Whether `a` and `b` share one quantization.
    public func same(_ a: Int, _ b: Int) -> Bool { find(a) == find(b) }
}

extension ConcatPart {
    /// Every input of the concat at `step` in order: its part (channels, requantized or not) and whether
    /// the concat copies it (false: its producer wrote it in place). Nil when the layer is not a concat.
    public static func inputs(step: Int, in graph: LayerGraph, layout: ActivationLayout,
                              groups: QuantizationGroups) -> [(part: ConcatPart, copied: Bool)]? {
        let layer = graph.layers[step]
        guard case .concat = layer.operation else { return nil }
        let copied = Set(layout.concatCopies[step] ?? [])
        let widths = layer.inputs.map { graph.tensors[$0].channels }
        let widest = widths.firstIndex(of: widths.max() ?? 0)
        return layer.inputs.enumerated().map { index, input in
            let shared = groups.same(input, layer.output) || index == widest
            return (ConcatPart(channels: widths[index], requantized: !shared), copied.contains(input))
        }
    }
}
