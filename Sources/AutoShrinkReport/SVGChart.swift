import Foundation

/// Minimal SVG plotting for the HTML report: scatter and line charts with axes, ticks and
/// native tooltips (`<title>`), no scripts.
struct SVGChart {
    struct Point {
        var x: Double
        var y: Double
        var label: String
        var style: Style
    }
    enum Style { case candidate, infeasible, pareto, chosen, step, baseline }

    var width = 640.0, height = 360.0
    var left = 64.0, right = 16.0, top = 16.0, bottom = 48.0
    var xLabel: String
    var yLabel: String
    var logX = false
    /// Formats x tick values (after the log transform when `logX`); default: plain numbers.
    var xTickLabel: ((Double) -> String)?
    var points: [Point] = []
    /// Polylines drawn under the points (e.g. the Pareto front, the trajectory).
    var lines: [(points: [(Double, Double)], color: String, dashed: Bool)] = []

    private func transform(_ value: Double, log: Bool) -> Double { log ? log10(max(value, 1e-12)) : value }

    private var xRange: (Double, Double) {
        padded(points.map { transform($0.x, log: logX) } + lines.flatMap { $0.points.map { transform($0.0, log: logX) } })
    }
    private var yRange: (Double, Double) { padded(points.map(\.y) + lines.flatMap { $0.points.map(\.1) }) }

    private func padded(_ values: [Double]) -> (Double, Double) {
        guard let low = values.min(), let high = values.max() else { return (0, 1) }
        let span = high - low
        return span > 0 ? (low - span * 0.05, high + span * 0.05) : (low - 0.5, high + 0.5)
    }

    private func px(_ x: Double) -> Double {
        let (low, high) = xRange
        return left + (transform(x, log: logX) - low) / (high - low) * (width - left - right)
    }
    private func py(_ y: Double) -> Double {
        let (low, high) = yRange
        return height - bottom - (y - low) / (high - low) * (height - top - bottom)
    }

    private func ticks(_ range: (Double, Double), count: Int = 5) -> [Double] {
        let (low, high) = range
        let raw = (high - low) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var value = ceil(low / step) * step
        var result: [Double] = []
        while value <= high { result.append(value); value += step }
        return result
    }

    func render() -> String {
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\">"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(width - left - right)\" height=\"\(height - top - bottom)\" fill=\"#fafafa\" stroke=\"#ccc\"/>"
        for tick in ticks(xRange) {
            let x = left + (tick - xRange.0) / (xRange.1 - xRange.0) * (width - left - right)
            let text = xTickLabel?(tick) ?? (logX ? HTML.scaled(pow(10, tick)) : HTML.number(tick))
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(top))\" x2=\"\(f(x))\" y2=\"\(f(height - bottom))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(f(x))\" y=\"\(f(height - bottom + 16))\" font-size=\"11\" text-anchor=\"middle\">\(text)</text>"
        }
        for tick in ticks(yRange) {
            let y = py(tick)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(width - right))\" y2=\"\(f(y))\" stroke=\"#eee\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" font-size=\"11\" text-anchor=\"end\">\(HTML.number(tick))</text>"
        }
        svg += "<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 10))\" font-size=\"12\" text-anchor=\"middle\">\(HTML.escape(xLabel))</text>"
        svg += "<text x=\"14\" y=\"\(f((top + height - bottom) / 2))\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(f((top + height - bottom) / 2)))\">\(HTML.escape(yLabel))</text>"
        for line in lines where line.points.count > 1 {
            let path = line.points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\"\(line.dashed ? " stroke-dasharray=\"5 4\"" : "")/>"
        }
        for point in points.sorted(by: { order($0.style) < order($1.style) }) {
            let (x, y) = (f(px(point.x)), f(py(point.y)))
            let title = "<title>\(HTML.escape(point.label))</title>"
            switch point.style {
            case .candidate: svg += "<circle cx=\"\(x)\" cy=\"\(y)\" r=\"3\" fill=\"#7aa6d6\" fill-opacity=\"0.7\">\(title)</circle>"
            case .infeasible: svg += "<circle cx=\"\(x)\" cy=\"\(y)\" r=\"3\" fill=\"none\" stroke=\"#c44\">\(title)</circle>"
            case .pareto: svg += "<circle cx=\"\(x)\" cy=\"\(y)\" r=\"4.5\" fill=\"#e08a1e\">\(title)</circle>"
            case .step: svg += "<circle cx=\"\(x)\" cy=\"\(y)\" r=\"3.5\" fill=\"#2b6cb0\">\(title)</circle>"
            case .baseline:
                svg += "<rect x=\"\(f(px(point.x) - 4.5))\" y=\"\(f(py(point.y) - 4.5))\" width=\"9\" height=\"9\" fill=\"#555555\">\(title)</rect>"
            case .chosen:
                svg += "<path d=\"M \(x) \(f(py(point.y) - 9)) l 2.6 6 6.4 0.6 -4.9 4.2 1.5 6.3 -5.6 -3.4 -5.6 3.4 1.5 -6.3 -4.9 -4.2 6.4 -0.6 z\" fill=\"#d62728\" stroke=\"#600\">\(title)</path>"
            }
        }
        return svg + "</svg>"
    }

    private func order(_ style: Style) -> Int {
        switch style { case .candidate, .infeasible: 0; case .step, .baseline: 1; case .pareto: 2; case .chosen: 3 }
    }
    private func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
