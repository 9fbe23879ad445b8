import AutoShrinkFormats
import AutoShrinkModel
import AutoShrinkSearch
import Foundation

/// What the exported (final trained) network adds to the report: the figures of its `export.json`
/// (`ExportManifest`) and the profile's predicted latency for it.
public struct ExportFigures: Sendable {
    public var floatAccuracy: Double?
    public var int8Accuracy: Double?
    public var textBytes: Int?
    public var weightBytes: Int?
    public var arenaBytes: Int?
    public var arenaLowerBoundBytes: Int?
    /// Median latency of the main binary measured on the export's device.
    public var measuredLatencyMilliseconds: Double?
    /// The profile's prediction for the exported network (filled by the caller, nil without a profile).
    public var predictedLatencyMilliseconds: Double?
    public var binary: String?
    /// Precision of the main binary (whose latency is `measuredLatencyMilliseconds`).
    public var precision: ModelPrecision?
    /// Median latency of the float32 binary, when measured.
    public var floatLatencyMilliseconds: Double?
    /// The latencies were measured under qemu emulation.
    public var emulated: Bool
    public var deviceName: String?

    public init(floatAccuracy: Double? = nil, int8Accuracy: Double? = nil, textBytes: Int? = nil, weightBytes: Int? = nil,
                arenaBytes: Int? = nil, arenaLowerBoundBytes: Int? = nil, measuredLatencyMilliseconds: Double? = nil,
                predictedLatencyMilliseconds: Double? = nil, binary: String? = nil, precision: ModelPrecision? = nil,
                floatLatencyMilliseconds: Double? = nil, emulated: Bool = false, deviceName: String? = nil) {
        self.floatAccuracy = floatAccuracy; self.int8Accuracy = int8Accuracy; self.textBytes = textBytes
        self.weightBytes = weightBytes; self.arenaBytes = arenaBytes; self.arenaLowerBoundBytes = arenaLowerBoundBytes
        self.measuredLatencyMilliseconds = measuredLatencyMilliseconds
        self.predictedLatencyMilliseconds = predictedLatencyMilliseconds; self.binary = binary
        self.precision = precision; self.floatLatencyMilliseconds = floatLatencyMilliseconds
        self.emulated = emulated; self.deviceName = deviceName
    }

    /// The figures of an export manifest; `predictedLatencyMilliseconds` comes from a profile.
    public init(manifest: ExportManifest, predictedLatencyMilliseconds: Double? = nil) {
        self.init(floatAccuracy: manifest.floatAccuracy, int8Accuracy: manifest.int8Accuracy, textBytes: manifest.textBytes,
                  weightBytes: manifest.weightBytes, arenaBytes: manifest.arenaBytes,
                  arenaLowerBoundBytes: manifest.arenaLowerBoundBytes,
                  measuredLatencyMilliseconds: manifest.latencyMedianMilliseconds,
                  predictedLatencyMilliseconds: predictedLatencyMilliseconds, binary: manifest.binary,
                  precision: manifest.precision,
                  floatLatencyMilliseconds: manifest.precision == .float32 ? nil : manifest.latencyFloat?.medianMilliseconds,
                  emulated: manifest.latency?.emulated ?? false, deviceName: manifest.device.name)
    }

    /// Reads `export.json` (an `ExportManifest`); `predictedLatencyMilliseconds` stays nil.
    public static func load(exportJSON path: String) throws -> ExportFigures {
        ExportFigures(manifest: try ExportManifest.loadDocument(path: path))
    }
}

public struct ReportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Everything the report shows, gathered by the caller (the CLI) from a run directory.
public struct ReportInput: Sendable {
    public var runName: String
    public var configuration: SearchConfiguration
    public var records: [CandidateRecord]
    public var chosen: Architecture?
    /// Per-layer predicted latency of the chosen network from the device profile, if any.
    public var layerLatencies: [(name: String, milliseconds: Double)]?
    public var profileName: String?
    public var export: ExportFigures?
    /// refnet's predicted latency on the profile's device (the baseline a search budget is set against).
    public var refnetLatencyMilliseconds: Double?
    /// The hand-designed baseline front of the device (`baselines.json`, docs/baselines.md), if any.
    public var baselines: BaselineFront?

    public init(runName: String, configuration: SearchConfiguration, records: [CandidateRecord], chosen: Architecture?,
                layerLatencies: [(name: String, milliseconds: Double)]? = nil, profileName: String? = nil, export: ExportFigures? = nil,
                refnetLatencyMilliseconds: Double? = nil, baselines: BaselineFront? = nil) {
        self.runName = runName; self.configuration = configuration; self.records = records; self.chosen = chosen
        self.layerLatencies = layerLatencies; self.profileName = profileName; self.export = export
        self.refnetLatencyMilliseconds = refnetLatencyMilliseconds; self.baselines = baselines
    }
}

/// One self-contained HTML page (inline CSS and SVG, no scripts, no network) about a search run.
public enum HTMLReport {
    public static func render(_ input: ReportInput) -> String {
        // Candidates stopped at an early rung of successive halving (`search --halving`) have partial
        // scores: they are counted, not plotted or tabled (docs/algorithm.md, docs/search-quality.md).
        let records = input.records.filter { !$0.isPartial }
        let stoppedEarly = input.records.count - records.count
        let useLatency = !records.isEmpty && records.allSatisfy { $0.resources.latencyMilliseconds != nil }
        let resource: (CandidateRecord) -> Double = {
            useLatency ? $0.resources.latencyMilliseconds! : Double($0.resources.macs)
        }
        let resourceName = useLatency ? "predicted latency (ms)" : "MACs"
        let winners = stepWinners(records)
        let chosenEdges = input.chosen?.cell.map { Set($0.edges) }
        let chosenRecord = winners.last { chosenEdges != nil && Set($0.cellEdges) == chosenEdges }
        let front = ParetoFront.compute(records, resource: useLatency ? .latencyMilliseconds : .macs)
        let frontIDs = Set(front.map(\.id))

        var body = ""
        body += "<h1>autoshrink report: \(HTML.escape(input.runName))</h1>"
        body += "<p class=\"meta\">strategy <b>\(input.configuration.strategy.rawValue)</b>, N=\(input.configuration.nodes) nodes, K=\(input.configuration.candidates), proxy \(input.configuration.proxyPerClass)/class, ≤\(input.configuration.epochs) epochs, seed \(input.configuration.seed); score \(HTML.escape(input.configuration.score.summary)); \(input.records.count) candidates trained\(stoppedEarly > 0 ? " (\(stoppedEarly) stopped early by successive halving)" : "") in \(SearchReport.duration(input.records.reduce(0) { $0 + $1.seconds }))\(input.profileName.map { "; profile \(HTML.escape($0))" } ?? "")</p>"

        if let record = chosenRecord ?? winners.max(by: { $0.score < $1.score }) {
            body += "<h2>Chosen network</h2><table class=\"figures\">"
            body += row("proxy accuracy", HTML.percent(record.accuracy))
            body += row("score", String(format: "%.4f", record.score))
            body += row("edges", "\(record.edgesLeft) (step \(record.step))")
            body += row("MACs", HTML.scaled(Double(record.resources.macs)))
            body += row("parameters", HTML.scaled(Double(record.resources.parameters)))
            body += row("int8 weights", HTML.bytes(record.resources.weightBytes))
            body += row("peak int8 activations", HTML.bytes(record.resources.peakActivationBytes))
            if let latency = record.resources.latencyMilliseconds { body += row("predicted latency", String(format: "%.3f ms", latency)) }
            body += "</table>"
        }

        body += "<h2>Trajectory</h2><p>The winning candidate of each shrinking step (edges left decrease to the right).</p><div class=\"row\">"
        var accuracyChart = SVGChart(width: 480, height: 300, xLabel: "edges left", yLabel: "accuracy")
        accuracyChart.points = winners.map { .init(x: -Double($0.edgesLeft), y: $0.accuracy, label: "step \($0.step): \($0.edgesLeft) edges, acc \(HTML.percent($0.accuracy))", style: .step) }
        accuracyChart.lines = [(winners.map { (-Double($0.edgesLeft), $0.accuracy) }, "#2b6cb0", false)]
        accuracyChart.xTickLabel = { HTML.number(-$0) }
        body += "<figure>" + accuracyChart.render() + "<figcaption>edges left vs accuracy</figcaption></figure>"
        var resourceChart = SVGChart(width: 480, height: 300, xLabel: "edges left", yLabel: resourceName)
        resourceChart.points = winners.map { .init(x: -Double($0.edgesLeft), y: resource($0), label: "step \($0.step): \($0.edgesLeft) edges, \(resourceName) \(HTML.scaled(resource($0)))", style: .step) }
        resourceChart.lines = [(winners.map { (-Double($0.edgesLeft), resource($0)) }, "#2b6cb0", false)]
        resourceChart.xTickLabel = { HTML.number(-$0) }
        body += "<figure>" + resourceChart.render() + "<figcaption>edges left vs \(resourceName)</figcaption></figure></div>"

        body += "<h2>All candidates</h2><p>Every trained candidate; orange: Pareto front (no other candidate is both more accurate and cheaper); star: the chosen network; hollow red: infeasible.</p>"
        var scatter = SVGChart(width: 720, height: 400, xLabel: resourceName + (useLatency ? "" : " (log)"), yLabel: "accuracy")
        scatter.logX = !useLatency
        scatter.points = records.map { record in
            let style: SVGChart.Style = record.id == chosenRecord?.id ? .chosen : (!record.feasible ? .infeasible : (frontIDs.contains(record.id) ? .pareto : .candidate))
            return .init(x: resource(record), y: record.accuracy,
                         label: "\(record.id): \(record.edgesLeft) edges, acc \(HTML.percent(record.accuracy)), \(resourceName) \(HTML.scaled(resource(record))), score \(String(format: "%.4f", record.score))",
                         style: style)
        }
        scatter.lines = [(front.sorted { resource($0) < resource($1) }.map { (resource($0), $0.accuracy) }, "#e08a1e", true)]
        body += "<figure>" + scatter.render() + "</figure>"

        // Candidates trained as cluster jobs (search --executor slurm, docs/cluster.md).
        let queued = records.filter { $0.queueSeconds != nil && $0.runSeconds != nil }
        if !queued.isEmpty {
            body += "<h2>Cluster jobs</h2><p>Per candidate: queue wait (submission to the job's start), the job's run (including loading the data) and the training inside it.</p>"
            body += "<table><tr><th>candidate</th><th>queue wait</th><th>job run</th><th>training</th></tr>"
            for record in queued {
                body += "<tr><td>\(HTML.escape(record.id))</td><td>\(String(format: "%.1f s", record.queueSeconds!))</td><td>\(String(format: "%.1f s", record.runSeconds!))</td><td>\(String(format: "%.1f s", record.seconds))</td></tr>"
            }
            body += "</table>"
        }

        if let cell = input.chosen?.cell {
            body += "<h2>Chosen cell</h2><p>Node 0 is the cell input (a 2x2 max-pool in reducing cells); leaves are concatenated and added to the (projected) input.</p>"
            body += "<figure>" + CellDrawing.svg(cell) + "</figure>"
        }

        if let chosen = input.chosen {
            let cost = CostModel.costs(of: chosen)
            let latencies = Dictionary((input.layerLatencies ?? []).map { ($0.name, $0.milliseconds) }, uniquingKeysWith: { a, _ in a })
            body += "<h2>Layers</h2><table><tr><th>#</th><th>layer</th><th>op</th><th>output</th><th>MACs</th><th>params</th>"
            body += input.layerLatencies == nil ? "</tr>" : "<th>predicted latency</th><th></th></tr>"
            let maxLatency = latencies.values.max() ?? 1
            for (index, layer) in cost.layers.enumerated() {
                body += "<tr><td>\(index)</td><td>\(HTML.escape(layer.name))</td><td>\(HTML.escape(layer.operation))</td><td>\(layer.outputShape)</td><td class=\"n\">\(HTML.grouped(layer.macs))</td><td class=\"n\">\(HTML.grouped(layer.parameters))</td>"
                if input.layerLatencies != nil {
                    let ms = latencies[layer.name] ?? 0
                    body += "<td class=\"n\">\(String(format: "%.4f ms", ms))</td><td><svg width=\"160\" height=\"10\"><rect width=\"\(String(format: "%.1f", 160 * ms / max(maxLatency, 1e-12)))\" height=\"10\" fill=\"#2b6cb0\"/></svg></td>"
                }
                body += "</tr>"
            }
            body += "</table>"
        }

        if let export = input.export {
            body += "<h2>Final network (export)</h2><p>The trained winner as exported: test accuracy of the float32 and int8 binaries, latency measured on \(HTML.escape(export.deviceName ?? "the device"))\(export.emulated ? " <b>under qemu emulation (not a hardware figure)</b>" : "") against the profile's prediction and refnet's.</p><table class=\"figures\">"
            if let value = export.floatAccuracy { body += row("float32 test accuracy", HTML.percent(value)) }
            if let value = export.int8Accuracy { body += row("int8 test accuracy", HTML.percent(value)) }
            if let f = export.floatAccuracy, let q = export.int8Accuracy { body += row("int8 - float", String(format: "%+.2f points", (q - f) * 100)) }
            let precision = export.precision?.rawValue ?? "main"
            if let value = export.measuredLatencyMilliseconds { body += row("measured latency (median, \(precision) binary)", String(format: "%.4f ms", value)) }
            if let value = export.floatLatencyMilliseconds { body += row("measured latency (median, float32 binary)", String(format: "%.4f ms", value)) }
            if let value = export.predictedLatencyMilliseconds { body += row("predicted latency", String(format: "%.4f ms", value)) }
            if let measured = export.measuredLatencyMilliseconds, let predicted = export.predictedLatencyMilliseconds, predicted > 0 {
                body += row("measured / predicted", String(format: "%.2f", measured / predicted))
            }
            if let refnet = input.refnetLatencyMilliseconds {
                body += row("refnet predicted latency", String(format: "%.4f ms", refnet))
                if let predicted = export.predictedLatencyMilliseconds, refnet > 0 {
                    body += row("final / refnet (predicted)", String(format: "%.2f x", predicted / refnet))
                }
            }
            if let value = export.textBytes { body += row("code (.text, model + kernels)", HTML.bytes(value)) }
            if let value = export.weightBytes { body += row("weights", HTML.bytes(value)) }
            if let value = export.arenaBytes {
                body += row("activation arena", HTML.bytes(value) + (export.arenaLowerBoundBytes.map { " (lower bound \(HTML.bytes($0)))" } ?? ""))
            }
            if let value = export.binary { body += row("binary", HTML.escape(value)) }
            body += "</table>"
            let bars = latencyBars(export: export, refnet: input.refnetLatencyMilliseconds)
            if !bars.isEmpty {
                body += "<figure>" + barChart(bars) + "<figcaption>latency: the final network measured and predicted, refnet predicted</figcaption></figure>"
            }
        }
        body += baselineSection(input, records: records, useLatency: useLatency, chosenID: chosenRecord?.id)
        return page(title: "autoshrink: \(input.runName)", body: body)
    }

    /// "Against hand-designed baselines": accuracy vs latency of the baseline front (int8 test accuracy
    /// and median latency measured on the device), the final network as exported (the same two
    /// figures) and the searched candidates (proxy accuracy, predicted latency: short training on a
    /// subset, so below what full training gives). Without a front, refnet's predicted latency is
    /// drawn as a dashed line. Empty when there is nothing to draw on a latency axis.
    static func baselineSection(_ input: ReportInput, records: [CandidateRecord], useLatency: Bool, chosenID: String?) -> String {
        let entries = (input.baselines?.entries ?? []).filter { $0.latencyMedianMilliseconds != nil }
        let export = input.export
        let finalPoint: (latency: Double, accuracy: Double)? = export.flatMap { figures in
            guard let latency = figures.measuredLatencyMilliseconds, let accuracy = figures.int8Accuracy ?? figures.floatAccuracy else { return nil }
            return (latency, accuracy)
        }
        let candidates = useLatency ? records : []
        guard !entries.isEmpty || (finalPoint != nil && input.refnetLatencyMilliseconds != nil) else { return "" }
        var body = "<h2>Against hand-designed baselines</h2>"
        var chart = SVGChart(width: 720, height: 400, xLabel: "latency (ms)", yLabel: "test accuracy")
        if let front = input.baselines, !entries.isEmpty {
            body += "<p>Squares: the baseline front of \(HTML.escape(front.device)) (\(HTML.escape(front.dataset)); refnet and MobileNetV2-style widths, each trained \(front.recipe.epochs) epochs with its learning rate chosen on a validation split; int8 test accuracy and median latency measured on the device, docs/baselines.md); grey line: its Pareto front. Star: the final network as exported (int8 test accuracy, median measured latency\(export?.deviceName.map { " on \(HTML.escape($0))" } ?? "")). Dots: searched candidates at their proxy accuracy (short training on a subset, not comparable in accuracy) and predicted latency.</p>"
            chart.points += entries.map { entry in
                .init(x: entry.latencyMedianMilliseconds!, y: entry.accuracy,
                      label: "\(entry.name): \(HTML.percent(entry.accuracy)) int8, \(String(format: "%.4f", entry.latencyMedianMilliseconds!)) ms, \(HTML.scaled(Double(entry.macs))) MACs, lr \(String(format: "%g", entry.learningRate))",
                      style: .baseline)
            }
            let sorted = entries.sorted { $0.latencyMedianMilliseconds! < $1.latencyMedianMilliseconds! }
            var pareto: [(Double, Double)] = []
            for entry in sorted where entry.accuracy > (pareto.last?.1 ?? -1) { pareto.append((entry.latencyMedianMilliseconds!, entry.accuracy)) }
            chart.lines.append((pareto, "#555555", false))
        } else {
            body += "<p>No baselines.json (run <code>autoshrink baselines</code>, docs/baselines.md): the dashed line is refnet's predicted latency. Star: the final network as exported (int8 test accuracy, median measured latency). Dots: searched candidates at their proxy accuracy (short training on a subset) and predicted latency.</p>"
        }
        chart.points += candidates.map { record in
            .init(x: record.resources.latencyMilliseconds!, y: record.accuracy,
                  label: "\(record.id): proxy acc \(HTML.percent(record.accuracy)), predicted \(String(format: "%.4f", record.resources.latencyMilliseconds!)) ms",
                  style: .candidate)
        }
        if let finalPoint {
            chart.points.append(.init(x: finalPoint.latency, y: finalPoint.accuracy,
                                      label: "final network: \(HTML.percent(finalPoint.accuracy)) int8, \(String(format: "%.4f", finalPoint.latency)) ms measured",
                                      style: .chosen))
        }
        if entries.isEmpty, let refnet = input.refnetLatencyMilliseconds {
            let accuracies = chart.points.map(\.y)
            chart.lines.append(([(refnet, accuracies.min() ?? 0), (refnet, accuracies.max() ?? 1)], "#555555", true))
        }
        body += "<figure>" + chart.render() + "<figcaption>test accuracy vs latency on the device</figcaption></figure>"
        if let front = input.baselines, !front.entries.isEmpty {
            body += "<table><tr><th>baseline</th><th>MACs</th><th>params</th><th>lr</th><th>float32</th><th>int8</th><th>latency (estimate, 95% interval)</th><th>median</th><th>predicted</th></tr>"
            func ms(_ value: Double?) -> String { value.map { String(format: "%.4f ms", $0) } ?? "-" }
            for entry in front.entries {
                let interval = entry.latencyCILowMilliseconds.map { low in " (\(String(format: "%.4f", low))-\(String(format: "%.4f", entry.latencyCIHighMilliseconds ?? low)))" } ?? ""
                body += "<tr><td>\(HTML.escape(entry.name))</td><td class=\"n\">\(HTML.scaled(Double(entry.macs)))</td><td class=\"n\">\(HTML.grouped(entry.parameters))</td><td class=\"n\">\(String(format: "%g", entry.learningRate))</td><td class=\"n\">\(entry.floatTestAccuracy.map(HTML.percent) ?? "-")</td><td class=\"n\">\(entry.int8TestAccuracy.map(HTML.percent) ?? "-")</td><td class=\"n\">\(ms(entry.latencyMilliseconds))\(interval)\(entry.emulated ? " [emulated]" : "")</td><td class=\"n\">\(ms(entry.latencyMedianMilliseconds))</td><td class=\"n\">\(ms(entry.predictedLatencyMilliseconds))</td></tr>"
            }
            body += "</table>"
        }
        return body
    }

    /// Winners of each step in order (the trajectory).
    static func stepWinners(_ records: [CandidateRecord]) -> [CandidateRecord] {
        let steps = Dictionary(grouping: records, by: \.step)
        return steps.keys.sorted().compactMap { step in
            steps[step]!.max { a, b in (a.feasible ? 1 : 0, a.score) < (b.feasible ? 1 : 0, b.score) }
        }
    }

    /// The latency bars of the final network and refnet (label, milliseconds, colour).
    static func latencyBars(export: ExportFigures, refnet: Double?) -> [(label: String, milliseconds: Double, color: String)] {
        var bars: [(label: String, milliseconds: Double, color: String)] = []
        if let value = export.measuredLatencyMilliseconds {
            bars.append(("final network, \(export.precision?.rawValue ?? "main") binary, measured", value, "#d62728"))
        }
        if let value = export.floatLatencyMilliseconds { bars.append(("final network, float32 binary, measured", value, "#e377c2")) }
        if let value = export.predictedLatencyMilliseconds { bars.append(("final network, predicted", value, "#2b6cb0")) }
        if let refnet { bars.append(("refnet, predicted", refnet, "#7f7f7f")) }
        return bars
    }

    /// Horizontal bars with their values, on one millisecond scale.
    static func barChart(_ bars: [(label: String, milliseconds: Double, color: String)]) -> String {
        let labelWidth = 300.0, barWidth = 360.0, rowHeight = 26.0
        let width = labelWidth + barWidth + 110, height = rowHeight * Double(bars.count) + 10
        let maximum = max(bars.map(\.milliseconds).max() ?? 1, 1e-12)
        var svg = "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
        for (index, bar) in bars.enumerated() {
            let y = 5 + rowHeight * Double(index)
            let length = barWidth * bar.milliseconds / maximum
            svg += "<text x=\"\(labelWidth - 8)\" y=\"\(y + 16)\" font-size=\"12\" text-anchor=\"end\">\(HTML.escape(bar.label))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(String(format: "%.1f", length))\" height=\"18\" fill=\"\(bar.color)\"><title>\(HTML.escape(bar.label)): \(String(format: "%.4f ms", bar.milliseconds))</title></rect>"
            svg += "<text x=\"\(String(format: "%.1f", labelWidth + length + 6))\" y=\"\(y + 16)\" font-size=\"12\">\(String(format: "%.4f ms", bar.milliseconds))</text>"
        }
        return svg + "</svg>"
    }

    static func row(_ name: String, _ value: String) -> String { "<tr><th>\(HTML.escape(name))</th><td>\(value)</td></tr>" }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(HTML.escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
        h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
        .meta { color: #555; } table { border-collapse: collapse; font-size: 0.9em; }
        td, th { padding: 2px 8px; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
        tr:nth-child(even) { background: #f6f6f6; } .figures th { font-weight: normal; color: #555; }
        .row { display: flex; gap: 1em; flex-wrap: wrap; } .row figure { flex: 1 1 45%; } figure { margin: 0.5em 0; }
        figure > svg { width: 100%; height: auto; } figure > svg.cell, figure > svg.bars { width: auto; max-width: 100%; }
        figcaption { color: #555; font-size: 0.85em; text-align: center; }
        </style></head><body>
        \(body)
        <p class="meta">generated by autoshrink \(AutoShrinkVersion.string)</p>
        </body></html>

        """
    }
}

/// Draws a cell DAG: nodes left to right in index order, edges as arcs above the row.
enum CellDrawing {
    /// A node's look: the label under it, its fill and its tooltip.
    struct NodeStyle {
        var label: String
        var color: String
        var title: String
    }

    /// A CNN cell: input, sep3x3 and conv1x1 nodes; leaves other than the input ringed (they feed the cell output).
    static func svg(_ cell: CellDAG) -> String {
        let live = cell.reachable
        let leaves = Set(cell.leaves)
        return svg(nodes: cell.nodes, edges: cell.edges, live: live, ringed: leaves.subtracting([0]), legend: "red ring: leaf (feeds the cell output)") { node in
            let operation = cell.operations[node]
            let color = !live[node] ? "#ddd" : (operation == .input ? "#9ecae1" : (operation == .sepconv3x3 ? "#fdae6b" : "#a1d99b"))
            let label = operation == .input ? "input" : (operation == .sepconv3x3 ? "sep3x3" : "conv1x1")
            return NodeStyle(label: label, color: color, title: "node \(node): \(operation.rawValue)\(live[node] ? "" : " (unreachable)")")
        }
    }

    /// Any node DAG (the CNN cell above, the RNN cell of docs/shrinkrnn.md): `ringed` nodes get a red ring.
    static func svg(nodes: Int, edges: [Edge], live: [Bool], ringed: Set<Int>, legend: String, style: (Int) -> NodeStyle) -> String {
        let spacing = 100.0, width = spacing * Double(nodes) + 40
        let highest = edges.map { 28.0 * Double($0.to - $0.from) * 0.75 }.max() ?? 0
        let baseline = highest + 40, height = baseline + 60
        func x(_ node: Int) -> Double { 40 + spacing * Double(node) + spacing / 2 - 30 }
        var svg = "<svg class=\"cell\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
        svg += "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>"
        for edge in edges where live[edge.from] {
            let (x1, x2) = (x(edge.from) + 14, x(edge.to) - 14)
            let lift = 28.0 * Double(edge.to - edge.from)
            svg += "<path d=\"M \(x1) \(baseline - 12) C \(x1) \(baseline - 12 - lift), \(x2) \(baseline - 12 - lift), \(x2) \(baseline - 12)\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.4\" marker-end=\"url(#arrow)\"><title>\(edge)</title></path>"
        }
        for node in 0..<nodes {
            let look = style(node)
            svg += "<circle cx=\"\(x(node))\" cy=\"\(baseline)\" r=\"16\" fill=\"\(look.color)\" stroke=\"\(ringed.contains(node) ? "#d62728" : "#333")\" stroke-width=\"\(ringed.contains(node) ? 2.5 : 1)\"><title>\(HTML.escape(look.title))</title></circle>"
            svg += "<text x=\"\(x(node))\" y=\"\(baseline + 5)\" font-size=\"13\" text-anchor=\"middle\">\(node)</text>"
            svg += "<text x=\"\(x(node))\" y=\"\(baseline + 36)\" font-size=\"11\" text-anchor=\"middle\">\(HTML.escape(look.label))</text>"
        }
        svg += "<text x=\"10\" y=\"\(height - 6)\" font-size=\"11\" fill=\"#555\">\(HTML.escape(legend))</text>"
        return svg + "</svg>"
    }
}

/// HTML text helpers.
enum HTML {
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
    static func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }
    static func scaled(_ value: Double) -> String { ArchitectureSummary.scaled(value) }
    static func grouped(_ value: Int) -> String { ArchitectureSummary.grouped(value) }
    static func bytes(_ value: Int) -> String { ArchitectureSummary.bytes(value) }
    static func number(_ value: Double) -> String {
        abs(value) >= 1000 ? scaled(value) : (value == value.rounded() ? String(Int(value)) : String(format: "%.3g", value))
    }
}
