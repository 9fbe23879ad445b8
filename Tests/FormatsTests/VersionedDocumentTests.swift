import Foundation
import Testing
@testable import AutoShrinkFormats

/// A document with a table, shaped like a profile, to check the shared loading path's messages.
private struct TableDocument: VersionedDocument, Codable {
    static let formatName = "autoshrink.test-table"
    static let currentVersion = 2
    static let documentKind = "a test table"
    static let versionLabel = "test table"
    static let versionHint = "; make it again"

    struct Row: Codable { var op: Kind; var medianMicroseconds: Double
        enum CodingKeys: String, CodingKey { case op, medianMicroseconds = "median_us" } }
    enum Kind: String, Codable { case convolution, pool }

    var format: String
    var version: Int
    var table: [Row]
    var count: Int

    func validate(source: String) throws {
        guard count == table.count else { throw DocumentError("\(source): count is \(count) but the table has \(table.count) rows") }
    }
}

@Suite struct VersionedDocumentTests {
    static let good = """
        {"format": "autoshrink.test-table", "version": 2, "count": 4, "table": [
          {"op": "convolution", "median_us": 1.5}, {"op": "pool", "median_us": 2}, {"op": "pool", "median_us": 3},
          {"op": "convolution", "median_us": 4}]}
        """

    static func message(_ text: String) -> String {
        do { _ = try TableDocument.decodeDocument(Data(text.utf8), source: "profiles/local.json"); return "accepted" } catch {
            return "\(error)"
        }
    }

    @Test("tag, version, keys and values: one line naming the file and the key")
    func messages() throws {
        let document = try TableDocument.decodeDocument(Data(Self.good.utf8), source: "x")
        #expect(document.table.map(\.medianMicroseconds) == [1.5, 2, 3, 4])
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"median_us\": 4", with: "\"median_us\": \"fast\""))
                == "profiles/local.json: key 'table[3].median_us': expected a number")
        // Foundation's JSONDecoder on Linux names no key for a fraction where an integer belongs.
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"count\": 4", with: "\"count\": 4.5"))
                == "profiles/local.json: a number does not fit its key's type (a fraction or an out-of-range value where an integer belongs)")
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"count\": 4", with: "\"count\": true"))
                == "profiles/local.json: key 'count': expected an integer")
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"count\": 4", with: "\"count\": null"))
                == "profiles/local.json: key 'count': expected an integer, got null")
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"count\": 4,", with: ""))
                == "profiles/local.json: missing key 'count'")
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"table\": [", with: "\"table\": {\"a\": 1}, \"x\": ["))
                == "profiles/local.json: key 'table': expected an array")
        #expect(Self.message(Self.good.replacingOccurrences(of: "{\"op\": \"pool\", \"median_us\": 2}", with: "7"))
                == "profiles/local.json: key 'table[1]': expected an object")
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"op\": \"pool\", \"median_us\": 3", with: "\"op\": \"winograd\", \"median_us\": 3"))
                .hasPrefix("profiles/local.json: key 'table[2].op': invalid value ("))
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"version\": 2", with: "\"version\": 3"))
                == "profiles/local.json: unsupported test table version 3 (this autoshrink reads version 2); make it again")
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"version\": 2,", with: ""))
                == "profiles/local.json: unsupported test table version missing (this autoshrink reads version 2); make it again")
        #expect(Self.message(Self.good.replacingOccurrences(of: "autoshrink.test-table", with: "autoshrink.profile"))
                == "profiles/local.json: not a test table (format is 'autoshrink.profile', expected 'autoshrink.test-table')")
        #expect(Self.message("{\"version\": 2}") == "profiles/local.json: not a test table (format is missing, expected 'autoshrink.test-table')")
        #expect(Self.message(String(Self.good.prefix(40))) == "profiles/local.json: not valid JSON")
        #expect(Self.message("") == "profiles/local.json: not valid JSON")
        #expect(Self.message("[1, 2]") == "profiles/local.json: key '(top level)': expected an object")
        #expect(Self.message(Self.good.replacingOccurrences(of: "\"count\": 4", with: "\"count\": 3"))
                == "profiles/local.json: count is 3 but the table has 4 rows")
        for text in [Self.good.replacingOccurrences(of: "\"median_us\": 4", with: "\"median_us\": \"fast\""), "", "[1"] {
            #expect(!Self.message(text).contains("\n"))
        }
    }

    @Test("a missing file names the path")
    func missingFile() {
        #expect(throws: DocumentError("/nonexistent/t.json: no such file")) { try TableDocument.loadDocument(path: "/nonexistent/t.json") }
    }

    @Test("summaries write every key, absent values as null, and decode back to the same value")
    func summaryNulls() throws {
        let summary = SearchSummary(bestArch: nil, bestAccuracy: nil, bestScore: nil, macs: nil, params: nil, peakActivationBytes: nil,
                                    weightBytes: nil, latencyMilliseconds: nil, seconds: 2.5, candidateSeconds: 2, candidatesTrained: 3,
                                    candidatesTrainedThisSession: 3, steps: 1, runDirectory: "runs/x", strategy: "autoshrink")
        let data = try summary.jsonData()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == Set(SearchSummary.CodingKeys.allCases.map(\.stringValue)))
        #expect(object["best_arch"] is NSNull && object["latency_ms"] is NSNull)
        #expect(object["candidates_trained"] as? Int == 3)
        #expect(!String(decoding: data, as: UTF8.self).contains("\n"))
        #expect(try SearchSummary.decodeSummary(data, source: "search") == summary)
        #expect(throws: DocumentError("autoshrink search --json: key 'steps': expected an integer")) {
            try SearchSummary.decodeSummary(Data(String(decoding: data, as: UTF8.self)
                .replacingOccurrences(of: "\"steps\":1", with: "\"steps\":\"one\"").utf8), source: "autoshrink search --json")
        }
    }

    static func manifest(device: DeviceDescription) -> ExportManifest {
        ExportManifest(
            exporterVersion: "1", autoshrinkVersion: "0.1.0", model: "refnet", architectureHash: "abc", architectureFile: "model.arch.json",
            runtimeHash: "r", device: device, precision: .int8, binary: "/d/model", binaries: [.int8: "/d/model", .float32: "/d/model-float"],
            onnx: "/d/model.onnx", onnxInt8: nil, dataset: "fashion-mnist", testImages: 100, checkpointTestAccuracy: 0.8,
            floatAccuracy: 0.81, int8Accuracy: 0.8, peakRSSKiB: 900, textBytes: 1000, textBytesModel: 400, textBytesBinary: 5000,
            textBytesInt8: 1000, textBytesFloat: 1200, textBytesAllKernels: 9000, weightBytes: 17000, weightBytesInt8: 17000,
            weightBytesFloat: 68000, quantizationConstantBytes: 300, arenaBytes: 18816, arenaLowerBoundBytes: 18816,
            arenaBytesInt8: 18816, arenaLowerBoundBytesInt8: 18816, arenaBytesFloat: 75264, arenaLowerBoundBytesFloat: 75264,
            arenaUnplannedPeakBytesInt8: 18816, planner: "greedy-by-size",
            latency: LatencyMeasurement(medianMilliseconds: 0.25, p90Milliseconds: 0.3, runs: 200, simd: "avx2", emulated: false),
            latencyFloat: LatencyMeasurement(medianMilliseconds: 0.5, p90Milliseconds: 0.6, runs: 200, simd: "avx2", emulated: false),
            latencyInt8: LatencyMeasurement(medianMilliseconds: 0.25, p90Milliseconds: 0.3, runs: 200, simd: "avx2", emulated: false),
            calibration: .init(images: 512, method: "min/max"),
            quantization: [TensorQuantizationRecord(tensor: 0, name: "input", scale: 0.0078125, zeroPoint: -1, min: -1, max: 1)],
            seconds: 3)
    }

    @Test("export.json: snake-case keys, the device embedded whole, older flat devices still load")
    func exportManifest() throws {
        let ssh = SSHSettings(host: "pi.local", user: "pi", port: 2222, remoteDirectory: "autoshrink")
        let device = DeviceDescription(name: "pi", architecture: .aarch64,
                                       compiler: CompilerSettings(cc: "aarch64-linux-gnu-gcc", flags: ["-O3"], ldflags: ["-static"]),
                                       threads: 1, notes: "board", runner: .ssh(ssh))
        let data = try Self.manifest(device: device).jsonData(pretty: true)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["latency_median_ms"] as? Double == 0.25)
        #expect(object["onnx_int8"] is NSNull)
        #expect(abs((object["accuracy_drop_points"] as? Double ?? 0) - 1) < 1e-9)
        #expect((object["binaries"] as? [String: String])?["float32"] == "/d/model-float")
        #expect((object["latency"] as? [String: Any])?["median_ms"] as? Double == 0.25)
        #expect(((object["quantization"] as? [[String: Any]])?.first)?["zero_point"] as? Int == -1)
        let embedded = try #require(object["device"] as? [String: Any])
        #expect(embedded["cc"] as? String == "aarch64-linux-gnu-gcc" && embedded["arch"] as? String == "aarch64")
        #expect((embedded["runner"] as? [String: Any])?["host"] as? String == "pi.local")

        let decoded = try ExportManifest.decodeDocument(data, source: "export.json")
        #expect(decoded.device == device)
        #expect(decoded.latencyMedianMilliseconds == 0.25 && decoded.latencyFloat?.medianMilliseconds == 0.5)
        #expect(decoded.accuracy(.int8) == 0.8 && decoded.accuracy(.float32) == 0.81)
        #expect(try decoded.jsonData(pretty: true) == data)

        // An export.json written before the device was embedded: name, arch, cc, flags, ldflags.
        var legacy = object
        legacy["device"] = ["name": "pi", "arch": "aarch64", "cc": "aarch64-linux-gnu-gcc", "flags": ["-O3"], "ldflags": ["-static"]]
        let old = try ExportManifest.decodeDocument(try JSONSerialization.data(withJSONObject: legacy), source: "export.json")
        #expect(old.device == DeviceDescription(name: "pi", architecture: .aarch64, compiler: device.compiler, runner: .local))

        legacy["device"] = ["name": "pi", "arch": "sparc", "cc": "gcc", "flags": [String]()]
        #expect(throws: DocumentError("d/export.json: key 'device.arch': invalid value (Cannot initialize DeviceArchitecture from invalid String value sparc)")) {
            try ExportManifest.decodeDocument(try JSONSerialization.data(withJSONObject: legacy), source: "d/export.json")
        }
        legacy["version"] = 2
        #expect(throws: DocumentError("d/export.json: unsupported export version 2 (this autoshrink reads version 1); run autoshrink export again")) {
            try ExportManifest.decodeDocument(try JSONSerialization.data(withJSONObject: legacy), source: "d/export.json")
        }
    }
}
