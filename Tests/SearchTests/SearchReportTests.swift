import Foundation
import Testing
import AutoShrinkModel
@testable import AutoShrinkSearch

@Test func progressLinesAndTables() throws {
    let events = EventLog()
    let run = temporaryRunPath("report")
    var configuration = smallConfiguration()
    configuration.minEdges = 7
    let result = try SearchRunner(configuration: configuration, runDirectory: run, evaluator: PseudoAccuracyEvaluator(),
                                  observer: events).run()
    let first = events.lines[0]
    #expect(first.hasPrefix("step 1 [0] rm "))
    #expect(first.contains("edges  acc 0."))
    #expect(first.contains("MACs ") && first.contains("params ") && first.contains("peak ") && first.contains("score "))
    #expect(first.contains("(1 done, ETA "))
    let stepLine = try #require(events.lines.first { $0.hasPrefix("== step 1:") })
    #expect(stepLine.contains("edges left") && stepLine.contains("best so far step 1"))

    let table = SearchReport.trajectoryTable(result)
    let rows = table.split(separator: "\n")
    #expect(rows.count == 2 + result.steps.count)
    #expect(rows[0].hasPrefix("step  removed  edges"))
    #expect(rows.filter { $0.hasSuffix("*") }.count == 1)
    let summary = SearchReport.summary(result)
    #expect(summary.contains("best: step \(result.best!.step)"))
    #expect(summary.contains("candidates trained: \(result.candidatesTrained) (\(result.candidatesTrained) in this session)"))
    #expect(SearchReport.paretoTable(result).split(separator: "\n").count == 2 + result.paretoFront.count)
    #expect(!result.paretoFront.isEmpty)
    #expect(result.paretoResource == .macs)

    let json = try #require(try JSONSerialization.jsonObject(with: Data(SearchReport.json(result).utf8)) as? [String: Any])
    #expect(json["candidates_trained"] as? Int == result.candidatesTrained)
    let best = try #require(json["best"] as? [String: Any])
    #expect(best["path"] as? String == RunDirectory(path: run).bestArchitecturePath)
    #expect(abs((best["score"] as? Double ?? 0) - result.bestScore!) < 1e-12)
    #expect(best["latency_ms"] is NSNull)
}

@Test func durations() {
    #expect(SearchReport.duration(0) == "0s")
    #expect(SearchReport.duration(59.4) == "59s")
    #expect(SearchReport.duration(245) == "4m05s")
    #expect(SearchReport.duration(3 * 3600 + 120) == "3h02m")
    #expect(SearchReport.duration(.infinity) == "?")
}
