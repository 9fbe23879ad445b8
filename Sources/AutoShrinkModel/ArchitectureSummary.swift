import Foundation

/// Human-readable renderings of an architecture for `autoshrink info`: the cell as text or
/// Graphviz DOT, a per-layer cost table and totals. Pure functions returning Strings.
public enum ArchitectureSummary {
    /// Everything `autoshrink info` prints: header, cell (if any), layer table and totals.
    public static func render(_ architecture: Architecture) -> String {
        let graph = architecture.lowered()
        let cost = CostModel.costs(of: graph)
        var text = header(architecture) + "\n"
        if let cell = architecture.cell { text += "\n" + cellText(cell, residual: residualStages(architecture)) }
        text += "\n" + layerTable(cost)
        text += "\n" + totals(cost)
        return text
    }

    /// Name, hash, input, classes and macro structure, one item per line.
    public static func header(_ architecture: Architecture) -> String {
        var lines = [
            "architecture  \(architecture.name)",
            "hash          \(architecture.stableHash)",
            "input         \(architecture.input.channels)x\(architecture.input.height)x\(architecture.input.width)",
            "classes       \(architecture.classes)",
        ]
        let stem = architecture.stem.map { layer -> String in
            let kind: String
            switch layer.kind {
            case .depthwise: kind = "dw\(layer.kernel)x\(layer.kernel)"
            case .conv: kind = "conv\(layer.kernel)x\(layer.kernel)(\(layer.outputChannels))"
            case .invertedResidual: kind = "ir\(layer.kernel)x\(layer.kernel)t\(layer.expansion ?? 1)(\(layer.outputChannels))"
            }
            return layer.stride > 1 ? "\(kind)/\(layer.stride)" : kind
        }
        lines.append("stem          \(stem.isEmpty ? "-" : stem.joined(separator: " "))")
        if !architecture.stages.isEmpty {
            let stages = architecture.stages.map { "width \($0.width) pool \($0.pool) cells \($0.cells)" + ($0.residual ? "" : " no residual") }
            lines.append("stages        \(stages.joined(separator: "; "))")
        }
        lines.append("head          global average pool"
                     + (architecture.head.dropout > 0 ? " -> dropout \(architecture.head.dropout)" : "")
                     + " -> linear(\(architecture.classes))")
        return lines.joined(separator: "\n")
    }

    /// Which stages' cells add their input (`Stage.residual`): "" for all of them, nil for none,
    /// else " in stages 1, 3" (1-based), the text `cellText` and `dot` append to "residual".
    public static func residualStages(_ architecture: Architecture) -> String? {
        let stages = architecture.stages.indices.filter { architecture.stages[$0].residual }
        if stages.isEmpty { return nil }
        if stages.count == architecture.stages.count { return "" }
        return " in stages " + stages.map { String($0 + 1) }.joined(separator: ", ")
    }

    /// The cell as text: one line per node with its operation and live inputs, unreachable
    /// nodes marked, then the output (concat of leaves + residual; `residual` as `residualStages`
    /// gives it, nil: plain cells, no residual).
    public static func cellText(_ dag: CellDAG, residual: String? = "") -> String {
        let live = dag.reachable
        let leaves = dag.leaves
        var lines = ["cell: \(dag.nodes) nodes, \(dag.edges.count) edges, shrink space \(dag.shrinkSpace.count), leaves \(leaves.map(String.init).joined(separator: ","))"]
        let width = NodeOperation.allCases.map(\.rawValue.count).max() ?? 10
        for node in 0..<dag.nodes {
            let operation = dag.operations[node].rawValue.padding(toLength: width, withPad: " ", startingAt: 0)
            if node == 0 {
                lines.append("  node \(node)  \(operation)  (cell input; 2x2 max-pool in a reducing cell)")
            } else if !live[node] {
                lines.append("  node \(node)  \(operation)  unreachable")
            } else {
                let inputs = dag.livePredecessors(of: node)
                let merge = inputs.count > 1 ? "concat(\(inputs.map(String.init).joined(separator: ", ")))" : "\(inputs[0])"
                lines.append("  node \(node)  \(operation)  <- \(merge)" + (leaves.contains(node) ? "  [leaf]" : ""))
            }
        }
        if leaves == [0] {
            lines.append("  output  node 0 (no edges: identity, or max-pool in a reducing cell)")
        } else {
            let body = leaves.count > 1 ? "concat(\(leaves.map(String.init).joined(separator: ", ")))" : "node \(leaves[0])"
            lines.append("  output  \(body)" + (residual.map { " + residual(cell input, 1x1 projection when shape differs)\($0)" } ?? " (plain cells: no residual)"))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The cell as a Graphviz digraph: live nodes solid, unreachable nodes dashed and grey,
    /// leaf -> output edges and the residual edge into the output (`residual` as `residualStages`
    /// gives it; nil: none).
    public static func dot(_ dag: CellDAG, name: String = "cell", residual: String? = "") -> String {
        let live = dag.reachable
        let leaves = dag.leaves
        var lines = ["digraph \"\(name.replacingOccurrences(of: "\"", with: "'"))\" {",
                     "  rankdir=LR;",
                     "  node [shape=box, style=rounded, fontname=\"Helvetica\"];"]
        for node in 0..<dag.nodes {
            let label = "\(node): \(dag.operations[node].rawValue)"
            lines.append(live[node]
                ? "  n\(node) [label=\"\(label)\"];"
                : "  n\(node) [label=\"\(label)\", style=\"rounded,dashed\", color=gray, fontcolor=gray];")
        }
        lines.append("  output [label=\"output\", shape=ellipse];")
        for edge in dag.edges.sorted() {
            lines.append(live[edge.from] ? "  n\(edge.from) -> n\(edge.to);" : "  n\(edge.from) -> n\(edge.to) [style=dashed, color=gray];")
        }
        for leaf in leaves { lines.append("  n\(leaf) -> output;") }
        if leaves != [0], let residual { lines.append("  n0 -> output [style=dashed, label=\"residual\(residual)\"];") }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Graphviz DOT of an architecture's cell; nil for a network without a cell.
    public static func dot(_ architecture: Architecture) -> String? {
        architecture.cell.map { dot($0, name: architecture.name, residual: residualStages(architecture)) }
    }

    /// One row per layer: index, name, op, input -> output shape, MACs, parameters.
    public static func layerTable(_ cost: NetworkCost) -> String {
        let headers = ["#", "layer", "op", "input -> output", "MACs", "params"]
        let rows = cost.layers.enumerated().map { index, layer -> [String] in
            let inputs = layer.inputShapes.map(\.description).joined(separator: " + ")
            return [String(index), layer.name, layer.operation, "\(inputs) -> \(layer.outputShape)",
                    grouped(layer.macs), grouped(layer.parameters)]
        }
        return table(headers: headers, rows: rows, rightAligned: [0, 4, 5])
    }

    /// Totals: MACs, parameters, weight bytes (float32 and int8), peak activation bytes.
    public static func totals(_ cost: NetworkCost) -> String {
        let peakLayer = cost.layers.indices.contains(cost.peakStep) ? cost.layers[cost.peakStep].name : "-"
        let rows: [(String, String)] = [
            ("MACs", "\(grouped(cost.macs)) (\(scaled(Double(cost.macs))))"),
            ("parameters", "\(grouped(cost.parameters)) (\(scaled(Double(cost.parameters))))"),
            ("weights float32", bytes(cost.weightBytesFloat32) + " (BN folded)"),
            ("weights int8", bytes(cost.weightBytesInt8) + " (int8 weights + int32 bias)"),
            ("peak activations f32", bytes(cost.peakActivationBytesFloat32) + " at \(peakLayer)"),
            ("peak activations int8", bytes(cost.peakActivationBytesInt8)),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
            .joined(separator: "\n") + "\n"
    }

    // MARK: - Formatting helpers (shared with the search's progress lines)

    /// An integer with thousands separators: 1904832 -> "1,904,832".
    public static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return (value < 0 ? "-" : "") + result
    }

    /// A count with a K/M/G suffix and 3 significant digits: 1904832 -> "1.90M".
    public static func scaled(_ value: Double) -> String {
        let magnitude = abs(value)
        let (divisor, suffix): (Double, String) =
            magnitude >= 1e9 ? (1e9, "G") : magnitude >= 1e6 ? (1e6, "M") : magnitude >= 1e3 ? (1e3, "K") : (1, "")
        let scaledValue = value / divisor
        if suffix.isEmpty { return String(format: "%.0f", value) }
        let decimals = abs(scaledValue) >= 100 ? 0 : abs(scaledValue) >= 10 ? 1 : 2
        return String(format: "%.\(decimals)f", scaledValue) + suffix
    }

    /// Bytes with a binary-unit gloss: 75264 -> "75,264 B (73.5 KiB)".
    public static func bytes(_ value: Int) -> String {
        let kib = Double(value) / 1024
        if kib < 1 { return "\(grouped(value)) B" }
        if kib < 1024 { return "\(grouped(value)) B (\(String(format: "%.1f", kib)) KiB)" }
        return "\(grouped(value)) B (\(String(format: "%.2f", kib / 1024)) MiB)"
    }

    /// A plain-text table with a header rule; `rightAligned` column indices are padded on the left.
    public static func table(headers: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        var widths = headers.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) } }
        func format(_ row: [String]) -> String {
            row.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: max(0, widths[index] - cell.count))
                return rightAligned.contains(index) ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var lines = [format(headers), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        lines += rows.map(format)
        return lines.joined(separator: "\n") + "\n"
    }
}
