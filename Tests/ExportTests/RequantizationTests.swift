import AutoShrinkDevice
import AutoShrinkModel
import Foundation
import Testing
@testable import AutoShrinkExport

/// The Swift fixed-point arithmetic against the C runtime itself: a small helper program compiled from
/// the embedded kernel sources (requantize.c) reads inputs as hex bit patterns and prints the C results.
@Suite(.enabled(if: ExportFixtures.hasGCC, "gcc not installed"))
struct RequantizationTests {
    static let helperSource = #"""
    #include "autoshrink_runtime.h"
    #include <inttypes.h>
    #include <stdio.h>
    #include <string.h>

    static double as_double(uint64_t bits) { double d; memcpy(&d, &bits, sizeof d); return d; }
    static float as_float(uint32_t bits) { float f; memcpy(&f, &bits, sizeof f); return f; }

    /* Lines in: "m BITS" (quantize multiplier), "a S1 Z1 S2 Z2 SO ZO" (add params, float bits),
       "r SCALE ZP ACT" (activation range), "q X M S" (MBQM). One result line out per input line. */
    int main(void)
    {
        char kind;
        while (scanf(" %c", &kind) == 1) {
            if (kind == 'm') {
                uint64_t bits; int32_t m; int s;
                if (scanf("%" SCNx64, &bits) != 1) return 1;
                as_quantize_multiplier(as_double(bits), &m, &s);
                printf("%" PRId32 " %d\n", m, s);
            } else if (kind == 'a') {
                uint32_t s1, s2, so; int z1, z2, zo; as_add_params_s8 p;
                if (scanf("%" SCNx32 " %d %" SCNx32 " %d %" SCNx32 " %d", &s1, &z1, &s2, &z2, &so, &zo) != 6) return 1;
                as_add_params_s8_init(as_float(s1), z1, as_float(s2), z2, as_float(so), zo, AS_ACTIVATION_NONE, &p);
                printf("%d %d %d %d %d %d %d %d %d\n", (int)p.input1_multiplier, (int)p.input1_shift, (int)p.input2_multiplier,
                       (int)p.input2_shift, (int)p.output_multiplier, (int)p.output_shift, (int)p.left_shift,
                       (int)p.activation_min, (int)p.activation_max);
            } else if (kind == 'r') {
                uint32_t scale; int zp, act; int32_t lo, hi;
                if (scanf("%" SCNx32 " %d %d", &scale, &zp, &act) != 3) return 1;
                as_activation_range_s8((as_activation)act, as_float(scale), zp, &lo, &hi);
                printf("%d %d\n", (int)lo, (int)hi);
            } else if (kind == 'q') {
                int32_t x, m; int s;
                if (scanf("%" SCNd32 " %" SCNd32 " %d", &x, &m, &s) != 3) return 1;
                printf("%" PRId32 "\n", as_multiply_by_quantized_multiplier(x, m, s));
            } else {
                return 1;
            }
        }
        return 0;
    }
    """#

    /// Compiles the helper with the runtime's requantize.c (from the embedded sources) once.
    static let helper: Result<String, Error> = Result {
        let directory = try ExportFixtures.temporaryDirectory("requant")
        for file in RuntimeSources.files {
            let path = "\(directory)/runtime/\(file.path)"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try file.contents.write(toFile: path, atomically: true, encoding: .utf8)
        }
        try helperSource.write(toFile: "\(directory)/helper.c", atomically: true, encoding: .utf8)
        let device = DeviceDescription(name: "test-local", architecture: .x86_64,
                                       compiler: CompilerSettings(cc: "gcc", flags: ["-O2"]), runner: .local)
        try Toolchain(device: device).compile(sources: ["\(directory)/helper.c", "\(directory)/runtime/requantize.c"],
                                              includeDirectories: ["\(directory)/runtime/include"],
                                              output: "\(directory)/helper", extraFlags: ["-Werror"])
        return "\(directory)/helper"
    }

    /// Runs the helper on `lines` and returns its output lines.
    func c(_ lines: [String]) throws -> [String] {
        let helper = try Self.helper.get()
        let input = (helper as NSString).deletingLastPathComponent + "/input-\(UUID().uuidString.prefix(6)).txt"
        try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: input) }
        let result = try ExportFixtures.run("/bin/sh", ["-c", "\"$0\" < \"$1\"", helper, input])
        #expect(result.exitStatus == 0, "helper failed: \(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// Reals that exercise every branch: random over many magnitudes, exact powers of two, mantissas that
    /// round up to 2^31, the 2^-32 and 2^30 limits, zero, negatives, subnormals, infinity and NaN.
    static func multiplierInputs() -> [Double] {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [0, -0.0, -1, 1, 0.5, 0.25, 2, 1e-300, 4.9e-324, .infinity, -.infinity, .nan,
                                .greatestFiniteMagnitude, 0x1p-32, 0x1p-33, 0x1.fffffffffp-33, 0x1p30, 0x1p31, 0x1.ffffp29]
        for exponent in -40...35 {
            let power = pow2(exponent)
            values += [power, power * (1 - 0x1p-33), power * (1 - 0x1p-32), power * (1 + 0x1p-31), power * (1 - 0x1p-31)]
        }
        for _ in 0..<3000 {
            let exponent = Int.random(in: -45...40, using: &generator)
            values.append(Double.random(in: 0.5..<1, using: &generator) * pow2(exponent))
        }
        return values
    }

    @Test("Q0.31 multiplier and shift equal as_quantize_multiplier on thousands of values")
    func multiplierMatchesC() throws {
        let inputs = Self.multiplierInputs()
        let results = try c(inputs.map { "m \(String($0.bitPattern, radix: 16))" })
        #expect(results.count == inputs.count)
        var mismatches: [String] = []
        for (value, line) in zip(inputs, results) {
            let swift = Requantization.quantizeMultiplier(value)
            if "\(swift.multiplier) \(swift.shift)" != line { mismatches.append("\(value): Swift \(swift), C \(line)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches, first: \(mismatches.prefix(3))")
        // Spot checks of the definition.
        #expect(Requantization.quantizeMultiplier(0.5) == .init(multiplier: 1 << 30, shift: 0))
        #expect(Requantization.quantizeMultiplier(1) == .init(multiplier: 1 << 30, shift: 1))
        #expect(Requantization.quantizeMultiplier(0) == .init(multiplier: 0, shift: 0))
        #expect(Requantization.quantizeMultiplier(0x1p40) == .init(multiplier: Int32.max, shift: 30))
        let quarter = Requantization.quantizeMultiplier(0.3)
        #expect(abs(quarter.real - 0.3) < 1e-9)
    }

    @Test("add parameters and activation ranges equal the C initialisers")
    func addAndActivationMatchC() throws {
        var generator = SystemRandomNumberGenerator()
        var additions: [(AffineQuantization, AffineQuantization, AffineQuantization)] = []
        for _ in 0..<500 {
            func random() -> AffineQuantization {
                AffineQuantization(scale: Float.random(in: 1e-4..<0.5, using: &generator), zeroPoint: Int.random(in: -128...127, using: &generator))
            }
            additions.append((random(), random(), random()))
        }
        let addLines = additions.map { a, b, o in
            "a \(String(a.scale.bitPattern, radix: 16)) \(a.zeroPoint) \(String(b.scale.bitPattern, radix: 16)) \(b.zeroPoint) \(String(o.scale.bitPattern, radix: 16)) \(o.zeroPoint)"
        }
        let addResults = try c(addLines)
        for ((a, b, o), line) in zip(additions, addResults) {
            let p = AddParameters(input1: a, input2: b, output: o)
            let swift = [p.input1.multiplier, p.input1.shift, p.input2.multiplier, p.input2.shift, p.output.multiplier,
                         p.output.shift, AddParameters.leftShift, p.activationMin, p.activationMax].map(String.init).joined(separator: " ")
            #expect(swift == line)
        }

        var ranges: [(AffineQuantization, Activation)] = []
        for activation in [Activation.none, .relu, .relu6] {
            for _ in 0..<100 {
                ranges.append((AffineQuantization(scale: Float.random(in: 1e-3..<0.2, using: &generator),
                                                  zeroPoint: Int.random(in: -128...127, using: &generator)), activation))
            }
        }
        let code: [Activation: Int] = [.none: 0, .relu: 1, .relu6: 2]
        let rangeResults = try c(ranges.map { "r \(String($0.0.scale.bitPattern, radix: 16)) \($0.0.zeroPoint) \(code[$0.1]!)" })
        for ((quantization, activation), line) in zip(ranges, rangeResults) {
            let range = Requantization.activationRange(activation, output: quantization)
            #expect("\(range.lowerBound) \(range.upperBound)" == line)
        }
    }

    @Test("MBQM equals as_multiply_by_quantized_multiplier, including saturation and negative rounding")
    func multiplyMatchesC() throws {
        var generator = SystemRandomNumberGenerator()
        var cases: [(Int32, Requantization.Multiplier)] = [(Int32.min, .init(multiplier: Int32.min, shift: 0)),
                                                          (Int32.max, .init(multiplier: Int32.max, shift: 30)),
                                                          (-5, .init(multiplier: 1 << 30, shift: -1)), (5, .init(multiplier: 1 << 30, shift: -1))]
        for _ in 0..<2000 {
            let x = Int32.random(in: -(1 << 24)...(1 << 24), using: &generator)
            let multiplier = Requantization.quantizeMultiplier(Double.random(in: 1e-6..<4, using: &generator))
            cases.append((x, multiplier))
        }
        let results = try c(cases.map { "q \($0.0) \($0.1.multiplier) \($0.1.shift)" })
        for ((x, multiplier), line) in zip(cases, results) {
            #expect(String(Requantization.multiply(x, by: multiplier)) == line, "MBQM(\(x), \(multiplier))")
        }
    }
}
