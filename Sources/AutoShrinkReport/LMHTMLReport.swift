import AutoShrinkExport
import AutoShrinkFormats
import AutoShrinkLM
import AutoShrinkModel
import AutoShrinkSearch
import Foundation

/// What a language-model export adds to the report: the figures of its `export.json`
/// (`LMExportManifest`, docs/shrinkrnn.md "Deploy"). Latencies are per token.
public struct LMExportFigures: Sendable {
    public var model: String
    public var cellSummary: String
    public var deviceName: String
    public var precision: ModelPrecision
    public var testTokens: Int?
    public var floatPerplexity: Double?
    public var int8Perplexity: Double?
    public var swiftPerplexity: Double?
    public var checkpointTestPerplexity: Double?
    public var int8PerplexityIncrease: Double?
    /// Next-word accuracy of the main binary.
    public var testAccuracy: Double?
    public var latencyFloat: LatencyMeasurement?
    public var latencyInt8: LatencyMeasurement?
    public var operators: [LMExportManifest.OperatorTime]
    public var macsPerToken: Int
    public var parameters: Int
    public var textBytes: Int
    public var weightBytesFloat: Int
    public var weightBytesInt8: Int
    public var binary: String

    public init(manifest m: LMExportManifest) {
        model = m.model; cellSummary = m.cell.summary; deviceName = m.device.name; precision = m.precision; testTokens = m.testTokens
        floatPerplexity = m.floatPerplexity; int8Perplexity = m.int8Perplexity; swiftPerplexity = m.swiftPerplexity
        checkpointTestPerplexity = m.checkpointTestPerplexity; int8PerplexityIncrease = m.int8PerplexityIncrease
        testAccuracy = m.testAccuracy; latencyFloat = m.latencyFloat; latencyInt8 = m.latencyInt8; operators = m.operators ?? []
        macsPerToken = m.macsPerToken; parameters = m.parameters; textBytes = m.textBytes
        weightBytesFloat = m.weightBytesFloat; weightBytesInt8 = m.weightBytesInt8; binary = m.binary
    }

    /// Whether the latencies were measured under qemu.
    public var emulated: Bool { (latencyFloat ?? latencyInt8)?.emulated ?? false }
}

/// Everything the report of an LM search run (`search --task lm`) shows, gathered by the CLI.
public struct LMReportInput: Sendable {
    public var runName: String
    public var configuration: LMSearchConfiguration
    public var records: [LMCandidateRecord]
    /// `best.rnncell.json`, nil before the first feasible snapshot.
    public var chosen: RNNCell?
    public var export: LMExportFigures?

    public init(runName: String, configuration: LMSearchConfiguration, records: [LMCandidateRecord], chosen: RNNCell?,
                export: LMExportFigures? = nil) {
        self.runName = runName; self.configuration = configuration; self.records = records; self.chosen = chosen; self.export = export
    }
}

/// The HTML report of an LM search run (docs/shrinkrnn.md, "Report"): the image report's page, charts
/// (`SVGChart`), bars and cell drawing (`CellDrawing`) with validation perplexity in place of accuracy
/// and MACs per token as the resource.
public enum LMHTMLReport {
    public static func render(_ input: LMReportInput) -> String {
        let records = input.records
        let configuration = input.configuration
        let winners = Dictionary(grouping: records, by: \.step).sorted { $0.key < $1.key }.map { LMSearchRunner.winner(of: $0.value) }
        let chosenRecord = input.chosen.flatMap { cell in winners.last { $0.cellEdges == cell.edges } }
        let front = paretoFront(records)
        let frontIDs = Set(front.map(\.id))
        let proxy = configuration.proxy

        var body = "<h1>autoshrink report: \(HTML.escape(input.runName))</h1>"
        body += "<p class=\"meta\">language-model search (ShrinkRNN) on \(HTML.escape(configuration.corpus)); start cell \(HTML.escape(configuration.startCell.summary)); K=\(configuration.candidates), seed \(configuration.seed); proxy: hidden \(proxy.hidden), vocabulary \(proxy.vocabulary), \(HTML.grouped(proxy.trainTokens)) training tokens, \(proxy.epochs) epoch\(proxy.epochs == 1 ? "" : "s"), scored on \(HTML.grouped(proxy.validTokens)) validation tokens; resources in the target model (embed \(configuration.target.embed), hidden \(configuration.target.hidden), vocabulary \(configuration.target.vocabulary), \(configuration.target.tied ? "tied" : "untied")); score \(HTML.escape(configuration.scoreSummary)); \(records.count) candidates trained in \(SearchReport.duration(records.reduce(0) { $0 + $1.seconds }))</p>"

        if let record = chosenRecord ?? winners.max(by: { $0.score < $1.score }) {
            body += "<h2>Chosen cell</h2><table class=\"figures\">"
            body += HTMLReport.row("proxy valid perplexity", String(format: "%.2f", record.validPerplexity))
            body += HTMLReport.row("score", String(format: "%.4f", record.score))
            body += HTMLReport.row("edges", "\(record.edgesLeft) (step \(record.step))")
            body += HTMLReport.row("MACs per token", HTML.scaled(Double(record.macs)) + " (cell \(HTML.scaled(Double(record.cellMACs))))")
            body += HTMLReport.row("parameters", HTML.scaled(Double(record.parameters)))
            if let latency = record.latencyMillisecondsPerToken {
                body += HTMLReport.row("predicted latency per token", String(format: "%.4f ms", latency))
            }
            body += "</table>"
        }
        if let cell = input.chosen {
            body += "<figure>" + cellSVG(cell) + "<figcaption>best.rnncell.json: node 0 reads x_t and h_{t-1}; a node reads the mean of its inputs; h_t is the mean of the ringed leaves</figcaption></figure>"
            body += "<pre>" + HTML.escape(RNNCellDrawing.text(cell, shape: configuration.target)) + "</pre>"
        }

        body += "<h2>Trajectory</h2><p>The winning candidate of each shrinking step (edges left decrease to the right).</p><div class=\"row\">"
        var perplexityChart = SVGChart(width: 480, height: 300, xLabel: "edges left", yLabel: "proxy valid perplexity")
        perplexityChart.points = winners.map { .init(x: -Double($0.edgesLeft), y: $0.validPerplexity, label: "step \($0.step): \($0.edgesLeft) edges, valid ppl \(String(format: "%.2f", $0.validPerplexity))", style: .step) }
        perplexityChart.lines = [(winners.map { (-Double($0.edgesLeft), $0.validPerplexity) }, "#2b6cb0", false)]
        perplexityChart.xTickLabel = { HTML.number(-$0) }
        body += "<figure>" + perplexityChart.render() + "<figcaption>edges left vs validation perplexity</figcaption></figure>"
        var macsChart = SVGChart(width: 480, height: 300, xLabel: "edges left", yLabel: "cell MACs per token")
        macsChart.points = winners.map { .init(x: -Double($0.edgesLeft), y: Double($0.cellMACs), label: "step \($0.step): \($0.edgesLeft) edges, cell MACs/token \(HTML.scaled(Double($0.cellMACs))) (\(HTML.scaled(Double($0.macs))) with the decoder)", style: .step) }
        macsChart.lines = [(winners.map { (-Double($0.edgesLeft), Double($0.cellMACs)) }, "#2b6cb0", false)]
        macsChart.xTickLabel = { HTML.number(-$0) }
        body += "<figure>" + macsChart.render() + "<figcaption>edges left vs the cell's MACs per token</figcaption></figure></div>"

        body += "<h2>All candidates</h2><p>Every trained candidate; orange: Pareto front (no other candidate has both a lower perplexity and fewer MACs per token); star: the chosen cell; hollow red: infeasible.</p>"
        var scatter = SVGChart(width: 720, height: 400, xLabel: "MACs per token (with the decoder)", yLabel: "proxy valid perplexity")
        scatter.points = records.map { record in
            let style: SVGChart.Style = record.id == chosenRecord?.id ? .chosen : (!record.feasible ? .infeasible : (frontIDs.contains(record.id) ? .pareto : .candidate))
            return .init(x: Double(record.macs), y: record.validPerplexity,
                         label: "\(record.id): \(record.edgesLeft) edges, valid ppl \(String(format: "%.2f", record.validPerplexity)), MACs/token \(HTML.scaled(Double(record.macs))), score \(String(format: "%.4f", record.score))",
                         style: style)
        }
        scatter.lines = [(front.map { (Double($0.macs), $0.validPerplexity) }, "#e08a1e", true)]
        scatter.xTickLabel = { HTML.scaled($0) }
        body += "<figure>" + scatter.render() + "</figure>"
        // With --profile every candidate has a predicted latency per token (docs/shrinkrnn.md,
        // "Profiling recurrent operators"): the same candidates against the device's time.
        let timed = records.filter { $0.latencyMillisecondsPerToken != nil }
        if !timed.isEmpty {
            var latencyScatter = SVGChart(width: 720, height: 400, xLabel: "predicted latency per token (ms)", yLabel: "proxy valid perplexity")
            latencyScatter.points = timed.map { record in
                let style: SVGChart.Style = record.id == chosenRecord?.id ? .chosen : (!record.feasible ? .infeasible : (frontIDs.contains(record.id) ? .pareto : .candidate))
                return .init(x: record.latencyMillisecondsPerToken!, y: record.validPerplexity,
                             label: "\(record.id): \(record.edgesLeft) edges, valid ppl \(String(format: "%.2f", record.validPerplexity)), predicted \(String(format: "%.4f", record.latencyMillisecondsPerToken!)) ms/token",
                             style: style)
            }
            latencyScatter.xTickLabel = { String(format: "%.3g", $0) }
            body += "<figure>" + latencyScatter.render() + "<figcaption>the same candidates by predicted latency per token on the profiled device (orange: the MACs front above)</figcaption></figure>"
        }

        body += "<h2>Steps</h2><table><tr><th>step</th><th>removed</th><th>edges</th><th>valid ppl</th><th>MACs/token</th><th>cell MACs</th><th>params</th>\(timed.isEmpty ? "" : "<th>ms/token</th>")<th>score</th><th></th></tr>"
        for winner in winners {
            body += "<tr><td>\(winner.step)</td><td>\(winner.removedEdge.map { "\($0)" } ?? "-")</td><td class=\"n\">\(winner.edgesLeft)</td><td class=\"n\">\(String(format: "%.2f", winner.validPerplexity))\(winner.diverged ? " (diverged)" : "")</td><td class=\"n\">\(HTML.scaled(Double(winner.macs)))</td><td class=\"n\">\(HTML.scaled(Double(winner.cellMACs)))</td><td class=\"n\">\(HTML.scaled(Double(winner.parameters)))</td>\(timed.isEmpty ? "" : "<td class=\"n\">\(winner.latencyMillisecondsPerToken.map { String(format: "%.4f", $0) } ?? "-")</td>")<td class=\"n\">\(String(format: "%.4f", winner.score))</td><td>\(winner.id == chosenRecord?.id ? "chosen" : (winner.feasible ? "" : "infeasible"))</td></tr>"
        }
        body += "</table>"

        if let export = input.export { body += exportSection(export) }
        return HTMLReport.page(title: "autoshrink: \(input.runName)", body: body)
    }

    /// The export's figures: perplexities of both binaries and the Swift engine, per-token latency of
    /// both binaries (bars) and of each operator of the main one, sizes.
    static func exportSection(_ export: LMExportFigures) -> String {
        func ppl(_ value: Double?) -> String { value.map { String(format: "%.3f", $0) } ?? "-" }
        func ms(_ latency: LatencyMeasurement) -> String {
            String(format: "estimate %.4f ms (95%% interval %.4f-%.4f), median %.4f ms", latency.typicalMilliseconds,
                   latency.ciLowMilliseconds ?? latency.typicalMilliseconds, latency.ciHighMilliseconds ?? latency.typicalMilliseconds,
                   latency.medianMilliseconds)
        }
        var body = "<h2>Exported model</h2><p>\(HTML.escape(export.model)) (\(HTML.escape(export.cellSummary))) as exported: perplexity of the float32 and int8 binaries on \(export.testTokens.map { HTML.grouped($0) } ?? "no") test tokens, latency per token measured on \(HTML.escape(export.deviceName))\(export.emulated ? " <b>under qemu emulation (not a hardware figure)</b>" : "").</p><table class=\"figures\">"
        body += HTMLReport.row("float32 test perplexity", ppl(export.floatPerplexity))
        body += HTMLReport.row("int8 test perplexity", ppl(export.int8Perplexity)
                               + (export.int8PerplexityIncrease.map { String(format: " (%+.2f %%)", $0 * 100) } ?? ""))
        body += HTMLReport.row("Swift engine (batch 1, same tokens)", ppl(export.swiftPerplexity))
        if let value = export.checkpointTestPerplexity { body += HTMLReport.row("training's test perplexity (batch 10, whole split)", ppl(value)) }
        if let value = export.testAccuracy { body += HTMLReport.row("next-word accuracy (\(export.precision.rawValue))", String(format: "%.4f", value)) }
        if let latency = export.latencyFloat { body += HTMLReport.row("latency per token, float32", ms(latency) + " (\(HTML.escape(latency.simd)))") }
        if let latency = export.latencyInt8 { body += HTMLReport.row("latency per token, int8", ms(latency) + " (\(HTML.escape(latency.simd)))") }
        body += HTMLReport.row("MACs per token", HTML.scaled(Double(export.macsPerToken)))
        body += HTMLReport.row("parameters", HTML.grouped(export.parameters))
        body += HTMLReport.row("weights", "float32 \(HTML.bytes(export.weightBytesFloat)), int8 \(HTML.bytes(export.weightBytesInt8))")
        body += HTMLReport.row("code (.text, model + kernels, \(export.precision.rawValue))", HTML.bytes(export.textBytes))
        body += HTMLReport.row("binary", HTML.escape(export.binary))
        body += "</table>"
        var bars: [(label: String, milliseconds: Double, color: String)] = []
        if let latency = export.latencyFloat { bars.append(("float32 binary, per token", latency.typicalMilliseconds, "#e377c2")) }
        if let latency = export.latencyInt8 { bars.append(("int8 binary, per token", latency.typicalMilliseconds, "#d62728")) }
        if !bars.isEmpty {
            body += "<figure>" + HTMLReport.barChart(bars) + "<figcaption>latency per token (estimator.h's estimate)</figcaption></figure>"
        }
        if !export.operators.isEmpty {
            let operators = export.operators.map { (label: $0.op, milliseconds: $0.medianMilliseconds, color: "#2b6cb0") }
            body += "<figure>" + HTMLReport.barChart(operators) + "<figcaption>median time of each operator of a token (\(export.precision.rawValue) binary)</figcaption></figure>"
        }
        return body
    }

    /// Candidates no other one beats on both perplexity and MACs per token, by ascending MACs (equal
    /// cells counted once).
    static func paretoFront(_ records: [LMCandidateRecord]) -> [LMCandidateRecord] {
        var seen = Set<[Edge]>()
        let sorted = records.filter { seen.insert($0.cellEdges).inserted }.sorted {
            ($0.macs, $0.validPerplexity, $0.step, $0.candidate) < ($1.macs, $1.validPerplexity, $1.step, $1.candidate)
        }
        var front: [LMCandidateRecord] = []
        for record in sorted where record.validPerplexity < (front.last?.validPerplexity ?? .infinity) { front.append(record) }
        return front
    }

    /// The RNN cell on `CellDrawing`: nodes labelled with their activation, the leaves (averaged into h_t) ringed.
    static func cellSVG(_ cell: RNNCell) -> String {
        let live = cell.topology.reachable
        let colors: [RNNActivation: String] = [.tanh: "#a1d99b", .relu: "#fdae6b", .sigmoid: "#bcbddc", .identity: "#9ecae1"]
        return CellDrawing.svg(nodes: cell.nodes, edges: cell.edges, live: live, ringed: Set(cell.schedule.leaves),
                               legend: "red ring: leaf (h_t is the mean of the leaves' states); grey: unused") { node in
            let activation = cell.activations[node]
            return CellDrawing.NodeStyle(label: activation.rawValue, color: live[node] ? colors[activation] ?? "#ddd" : "#ddd",
                                         title: "node \(node): \(activation.rawValue)\(node == 0 ? " <- x_t, h_{t-1}" : "")\(live[node] ? "" : " (unused)")")
        }
    }
}
