import AutoShrinkFormats
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AutoShrinkModel

/// One evaluated candidate: a line of `trajectory.jsonl` (JSON object, sorted keys):
/// `step`, `candidate` (index in the step), `id`, `removed_edge` ([from, to] or null for random
/// candidates), `cell_edges` (the candidate cell's edges), `edges_left`, `arch_hash` (stable hash
/// of the candidate network), `accuracy` (0..1), `macs`, `params`, `weight_bytes` (int8),
/// `peak_activation_bytes` (int8), `latency_ms` (or null), `score`, `feasible`, `seconds`, `epochs`;
/// with a queueing executor (Slurm, docs/cluster.md) also `queue_seconds` (submission to job start)
/// and `run_seconds` (the job's run); those two keys are absent otherwise, and absent keys read as nil.
/// Under successive halving (`--halving`, docs/algorithm.md §1) also `rung` and `rungs`: the candidate
/// trained through rung `rung` of `rungs`; `rung < rungs` marks a partial score (dropped early).
/// With `--fit-candidates` also `macro`: the skeleton spec the candidate trained on (e.g. `32s2-48p2`).
public struct CandidateRecord: TrajectoryRecord, Hashable, Sendable {
    public var step: Int
    public var candidate: Int
    public var id: String
    public var removedEdge: Edge?
    public var cellEdges: [Edge]
    public var edgesLeft: Int
    public var architectureHash: String
    public var accuracy: Double
    public var resources: CandidateResources
    public var score: Double
    public var feasible: Bool
    public var seconds: Double
    public var epochs: Int
    public var queueSeconds: Double?
    public var runSeconds: Double?
    /// Successive halving only: how far the candidate trained (nil without halving).
    public var halving: HalvingRung?
    /// `--fit-candidates` only: the macro skeleton fitted to this candidate's cell (nil: the run's skeleton).
    public var skeleton: MacroSkeleton?
    /// Dropped by successive halving before the last rung: accuracy and score are after fewer epochs.
    public var isPartial: Bool { halving?.isPartial ?? false }

    public init(step: Int, candidate: Int, id: String, removedEdge: Edge?, cellEdges: [Edge], edgesLeft: Int,
                architectureHash: String, accuracy: Double, resources: CandidateResources, score: Double,
                feasible: Bool, seconds: Double, epochs: Int, queueSeconds: Double? = nil, runSeconds: Double? = nil,
                halving: HalvingRung? = nil, skeleton: MacroSkeleton? = nil) {
        self.step = step; self.candidate = candidate; self.id = id; self.removedEdge = removedEdge
        self.cellEdges = cellEdges; self.edgesLeft = edgesLeft; self.architectureHash = architectureHash
        self.accuracy = accuracy; self.resources = resources; self.score = score; self.feasible = feasible
        self.seconds = seconds; self.epochs = epochs; self.queueSeconds = queueSeconds; self.runSeconds = runSeconds
        self.halving = halving
        self.skeleton = skeleton
    }

    /// The record's own keys (the shared ones: `TrajectoryRecordFields.Keys`).
    enum CodingKeys: String, CodingKey {
        case accuracy, macs, params, weightBytes = "weight_bytes"
        case peakActivationBytes = "peak_activation_bytes", latencyMilliseconds = "latency_ms"
        case queueSeconds = "queue_seconds", runSeconds = "run_seconds"
        case rung, rungs, macro
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let shared = try TrajectoryRecordFields(from: decoder)
        let accuracy = try container.decode(Double.self, forKey: .accuracy)
        let resources = CandidateResources(
            macs: try container.decode(Int.self, forKey: .macs),
            parameters: try container.decode(Int.self, forKey: .params),
            weightBytes: try container.decode(Int.self, forKey: .weightBytes),
            peakActivationBytes: try container.decode(Int.self, forKey: .peakActivationBytes),
            latencyMilliseconds: try container.decodeIfPresent(Double.self, forKey: .latencyMilliseconds))
        let queueSeconds = try container.decodeIfPresent(Double.self, forKey: .queueSeconds)
        let runSeconds = try container.decodeIfPresent(Double.self, forKey: .runSeconds)
        let rung = try container.decodeIfPresent(Int.self, forKey: .rung), rungs = try container.decodeIfPresent(Int.self, forKey: .rungs)
        let halving: HalvingRung?
        switch (rung, rungs) {
        case (nil, nil): halving = nil
        case (let rung?, let rungs?) where (1...9).contains(rungs) && (1...rungs).contains(rung):
            halving = HalvingRung(reached: rung, rungs: rungs)
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath + [CodingKeys.rung],
                                                    debugDescription: "expected rung and rungs both absent, or 1 <= rung <= rungs <= 9"))
        }
        func bad(_ key: CodingKeys, _ expected: String) -> DecodingError { TrajectoryRecordFields.corrupt(container, key, expected) }
        let skeleton = try container.decodeIfPresent(String.self, forKey: .macro).map { spec -> MacroSkeleton in
            guard let skeleton = try? MacroSkeleton(spec: spec) else { throw bad(.macro, "absent or a macro skeleton spec like 32s2-48p2") }
            return skeleton
        }
        // The record's own values a search writes (the shared ones are checked by `TrajectoryRecordFields`).
        let sizes: [(CodingKeys, Int, Int)] = [(.macs, resources.macs, InputLimits.maximumMACs),
                                               (.params, resources.parameters, InputLimits.maximumParameters),
                                               (.weightBytes, resources.weightBytes, InputLimits.maximumParameters * 4),
                                               (.peakActivationBytes, resources.peakActivationBytes, InputLimits.maximumActivationElements * 4)]
        for (key, value, limit) in sizes where !(0...limit).contains(value) { throw bad(key, "an integer in 0...\(limit)") }
        guard accuracy.isFinite, (0...1).contains(accuracy) else { throw bad(.accuracy, "a number in 0...1") }
        for (key, value) in [(CodingKeys.queueSeconds, queueSeconds), (.runSeconds, runSeconds)] {
            if let value, !(value.isFinite && (0...1e9).contains(value)) { throw bad(key, "absent or a number of seconds in 0...1e9") }
        }
        if let latency = resources.latencyMilliseconds, !(latency.isFinite && (0...1e9).contains(latency)) {
            throw bad(.latencyMilliseconds, "null or a number of milliseconds in 0...1e9")
        }
        self.init(step: shared.step, candidate: shared.candidate, id: shared.id, removedEdge: shared.removedEdge,
                  cellEdges: shared.cellEdges, edgesLeft: shared.edgesLeft, architectureHash: shared.architectureHash,
                  accuracy: accuracy, resources: resources, score: shared.score, feasible: shared.feasible,
                  seconds: shared.seconds, epochs: shared.epochs, queueSeconds: queueSeconds, runSeconds: runSeconds, halving: halving,
                  skeleton: skeleton)
    }

    public func encode(to encoder: Encoder) throws {
        try encodeSharedKeys(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accuracy, forKey: .accuracy)
        try container.encode(resources.macs, forKey: .macs)
        try container.encode(resources.parameters, forKey: .params)
        try container.encode(resources.weightBytes, forKey: .weightBytes)
        try container.encode(resources.peakActivationBytes, forKey: .peakActivationBytes)
        if let latency = resources.latencyMilliseconds { try container.encode(latency, forKey: .latencyMilliseconds) } else {
            try container.encodeNil(forKey: .latencyMilliseconds)
        }
        try container.encodeIfPresent(queueSeconds, forKey: .queueSeconds)
        try container.encodeIfPresent(runSeconds, forKey: .runSeconds)
        try container.encodeIfPresent(halving?.reached, forKey: .rung)
        try container.encodeIfPresent(halving?.rungs, forKey: .rungs)
        try container.encodeIfPresent(skeleton?.description, forKey: .macro)
    }

    /// The candidate's cell over `operations`.
    public func cell(operations: [NodeOperation]) -> CellDAG {
        CellDAG(nodes: operations.count, operations: operations, edges: cellEdges)
    }
}

/// A line of `trajectory.jsonl`: the CNN search's `CandidateRecord` or the LM search's `LMCandidateRecord`
/// (docs/shrinkrnn.md, "Search"). The keys both have (`step`, `candidate`, `id`, `removed_edge`,
/// `cell_edges`, `edges_left`, `arch_hash`, `score`, `feasible`, `seconds`, `epochs`) mean the same and
/// are decoded, checked and encoded once, here.
public protocol TrajectoryRecord: Codable {
    var step: Int { get }
    var candidate: Int { get }
    var id: String { get }
    var removedEdge: Edge? { get }
    var cellEdges: [Edge] { get }
    var edgesLeft: Int { get }
    var architectureHash: String { get }
    var score: Double { get }
    var feasible: Bool { get }
    var seconds: Double { get }
    var epochs: Int { get }
}

extension TrajectoryRecord {
    /// The line written to `trajectory.jsonl` (sorted keys, no newline).
    public func jsonLine() -> String {
        SearchJSON.line(self)
    }

    /// Writes the shared keys (the record writes its own into a second container of the same object).
    func encodeSharedKeys(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: TrajectoryRecordFields.Keys.self)
        try container.encode(step, forKey: .step)
        try container.encode(candidate, forKey: .candidate)
        try container.encode(id, forKey: .id)
        if let removedEdge { try container.encode(removedEdge, forKey: .removedEdge) } else { try container.encodeNil(forKey: .removedEdge) }
        try container.encode(cellEdges, forKey: .cellEdges)
        try container.encode(edgesLeft, forKey: .edgesLeft)
        try container.encode(architectureHash, forKey: .architectureHash)
        try container.encode(score, forKey: .score)
        try container.encode(feasible, forKey: .feasible)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(epochs, forKey: .epochs)
    }
}

/// The shared values of a trajectory line, decoded and checked before the record is built from them.
struct TrajectoryRecordFields {
    enum Keys: String, CodingKey {
        case step, candidate, id, score, feasible, seconds, epochs
        case removedEdge = "removed_edge", cellEdges = "cell_edges", edgesLeft = "edges_left", architectureHash = "arch_hash"
    }

    var step, candidate, edgesLeft, epochs: Int
    var id, architectureHash: String
    var removedEdge: Edge?
    var cellEdges: [Edge]
    var score, seconds: Double
    var feasible: Bool

    /// Decodes the shared keys and checks them: values a search writes; anything else is a corrupt line
    /// (a one-line error naming the key), never a trap later in a report or a resumed search.
    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        step = try container.decode(Int.self, forKey: .step)
        candidate = try container.decode(Int.self, forKey: .candidate)
        id = try container.decode(String.self, forKey: .id)
        removedEdge = try container.decodeIfPresent(Edge.self, forKey: .removedEdge)
        cellEdges = try container.decode([Edge].self, forKey: .cellEdges)
        edgesLeft = try container.decode(Int.self, forKey: .edgesLeft)
        architectureHash = try container.decode(String.self, forKey: .architectureHash)
        score = try container.decode(Double.self, forKey: .score)
        feasible = try container.decode(Bool.self, forKey: .feasible)
        seconds = try container.decode(Double.self, forKey: .seconds)
        epochs = try container.decode(Int.self, forKey: .epochs)
        func bad(_ key: Keys, _ expected: String) -> DecodingError { Self.corrupt(container, key, expected) }
        for (key, value) in [(Keys.step, step), (.candidate, candidate), (.edgesLeft, edgesLeft), (.epochs, epochs)]
            where !(0...1_000_000).contains(value) { throw bad(key, "an integer in 0...1000000") }
        guard score.isFinite, abs(score) < 1e12 else { throw bad(.score, "a finite number") }
        guard seconds.isFinite, (0...1e9).contains(seconds) else { throw bad(.seconds, "a number of seconds in 0...1e9") }
        let node = 0..<InputLimits.maximumCellNodes
        if let removedEdge, !(node.contains(removedEdge.from) && node.contains(removedEdge.to)) {
            throw bad(.removedEdge, "null or [from, to] with nodes in 0..<\(InputLimits.maximumCellNodes)")
        }
        guard cellEdges.count <= InputLimits.maximumCellNodes * InputLimits.maximumCellNodes,
              cellEdges.allSatisfy({ node.contains($0.from) && node.contains($0.to) }) else {
            throw bad(.cellEdges, "edges [from, to] with nodes in 0..<\(InputLimits.maximumCellNodes)")
        }
    }

    /// The error for a value of `key` in `container` that a search does not write.
    static func corrupt<Key: CodingKey>(_ container: KeyedDecodingContainer<Key>, _ key: Key, _ expected: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: container.codingPath + [key], debugDescription: "expected \(expected)"))
    }
}

/// `trajectory.jsonl`: append-only, one `CandidateRecord` per line, each line written with a
/// single `write` and `fsync`ed, so a kill leaves at most a torn last line.
public enum TrajectoryFile {
    /// Records of the file at `path` ([] if it does not exist). A torn last line (no newline, or
    /// not decodable) is ignored and, when `repair` is true, cut off the file. Any other
    /// undecodable line is an error naming the line.
    public static func load(path: String, repair: Bool) throws -> [CandidateRecord] {
        try load(path: path, repair: repair, as: CandidateRecord.self)
    }

    /// `load(path:repair:)` for another record type (the LM search's `LMCandidateRecord`).
    public static func load<Record: Decodable>(path: String, repair: Bool, as type: Record.Type) throws -> [Record] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let data: Data
        do { data = try FileProblem.read(path) } catch let error as FileAccessError {
            throw SearchError("\(path): cannot read the trajectory (\(error.reason))")
        }
        var records: [Record] = []
        var validLength = 0
        var lineStart = data.startIndex
        var lineNumber = 0
        let decoder = JSONDecoder()
        while lineStart < data.endIndex {
            lineNumber += 1
            guard let newline = data[lineStart...].firstIndex(of: UInt8(ascii: "\n")) else { break }  // torn tail
            let line = data[lineStart..<newline]
            let isLast = newline + 1 == data.endIndex
            if !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
                do {
                    records.append(try decoder.decode(Record.self, from: Data(line)))
                } catch {
                    if isLast { break }  // the last complete line may still be a torn write
                    throw SearchError("\(path): line \(lineNumber) is not a valid trajectory record (\(DocumentError.describe(error, data: Data(line)))); the file is corrupt (fix or remove it, or use --force to start over)")
                }
            }
            validLength = newline + 1 - data.startIndex
            lineStart = newline + 1
        }
        if repair && validLength < data.count {
            guard truncate(path, off_t(validLength)) == 0 else {
                throw SearchError("\(path): cannot cut the torn last line (\(String(cString: strerror(errno))))")
            }
        }
        return records
    }

    /// Appends `record` as one line and syncs it to disk.
    public static func append(_ record: CandidateRecord, path: String) throws {
        try appendLine(record.jsonLine(), path: path, sync: true)
    }
}

/// Appends `line` + newline to `path` with one `write` call (creating the file), optionally `fsync`ed.
func appendLine(_ line: String, path: String, sync: Bool) throws {
    let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    guard descriptor >= 0 else { throw SearchError("\(path): cannot open for appending (\(String(cString: strerror(errno))))") }
    defer { close(descriptor) }
    var bytes = Array((line + "\n").utf8)
    var written = 0
    while written < bytes.count {
        let result = bytes.withUnsafeMutableBytes { buffer in
            write(descriptor, buffer.baseAddress! + written, buffer.count - written)
        }
        if result < 0 {
            if errno == EINTR { continue }
            throw SearchError("\(path): write failed (\(String(cString: strerror(errno))))")
        }
        written += result
    }
    if sync && fsync(descriptor) != 0 {
        throw SearchError("\(path): fsync failed (\(String(cString: strerror(errno))))")
    }
}
