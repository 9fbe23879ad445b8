import Foundation
import AutoShrinkData
import AutoShrinkModel

/// Arithmetic of a generated model (`ModelPrecision` is declared in AutoShrinkFormats, export.json's module).
extension ModelPrecision {
    var bytesPerElement: Int { self == .int8 ? 1 : 4 }
    var cType: String { self == .int8 ? "int8_t" : "float" }
    var suffix: String { self == .int8 ? "s8" : "f32" }
}

/// What the generated files' header comments name.
public struct ExportDescription: Sendable, Hashable {
    public var modelName: String
    public var architectureHash: String
    public var dataset: String
    /// e.g. "512 training images, min/max".
    public var calibration: String
    public var exporterVersion: String
    public var runtimeHash: String

    /// Names are reduced to letters, digits and `-_.+` so that they are safe in C strings and comments.
    public init(modelName: String, architectureHash: String, dataset: String, calibration: String,
                exporterVersion: String, runtimeHash: String) {
        func safe(_ text: String) -> String {
            let kept = String(text.filter { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.+".contains($0)) })
            return kept.isEmpty ? "model" : kept
        }
        self.modelName = safe(modelName); self.architectureHash = safe(architectureHash); self.dataset = safe(dataset)
        self.calibration = calibration; self.exporterVersion = exporterVersion; self.runtimeHash = runtimeHash
    }
}

/// Writes `model.c` (int8) or `model_float.c` (float32) for one network: const weights in the kernels'
/// packed layouts, named constants for shapes and quantization, one static arena, one function per
/// layer with a comment naming it, and `model_run` calling them in execution order.
/// Every source implements the API of `model.h`, so one harness (`main.c`) links with either.
public struct CModelGenerator {
    public let network: FoldedNetwork
    public let layout: ActivationLayout
    /// Required for int8.
    public let quantized: QuantizedNetwork?
    public let plan: MemoryPlan
    public let precision: ModelPrecision
    public let description: ExportDescription
    public let normalization: Normalization

    public init(network: FoldedNetwork, layout: ActivationLayout, quantized: QuantizedNetwork?, plan: MemoryPlan,
                precision: ModelPrecision, normalization: Normalization, description: ExportDescription) {
        precondition(precision == .float32 || quantized != nil, "an int8 model needs its quantization")
        self.network = network; self.layout = layout; self.quantized = quantized; self.plan = plan
        self.precision = precision; self.normalization = normalization; self.description = description
    }

    var graph: LayerGraph { network.graph }

    // MARK: Names

    /// C identifier of a tensor (its producing layer's name, `input` for the input).
    func tensorName(_ tensor: Int) -> String {
        tensor == graph.input ? "input" : Self.identifier(graph.layers[producerStep(tensor)].name)
    }

    func macro(_ tensor: Int, _ field: String) -> String { tensorName(tensor).uppercased() + "_" + field }

    func producerStep(_ tensor: Int) -> Int { graph.layers.firstIndex { $0.output == tensor }! }

    /// A layer name as a C identifier: `cell0.node1.conv` -> `cell0_node1_conv`.
    public static func identifier(_ name: String) -> String {
        var result = String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        if let first = result.first, first.isNumber { result = "l_" + result }
        return result
    }

    /// Whether the layer at `step` does work at run time (free concats, dropout and a convolution fused into the
    /// next step's add, which runs it, do not).
    func hasWork(_ step: Int) -> Bool {
        if layout.fusion.isFusedConvolution(step: step) { return false }
        switch graph.layers[step].operation {
        case .dropout: return false
        case .concat: return !layout.isFreeConcat(step: step)
        default: return true
        }
    }

    // MARK: Descriptions

    static func activationLabel(_ activation: Activation) -> String {
        switch activation {
        case .relu: return "relu"
        case .relu6: return "relu6"
        case .none: return "no activation"
        }
    }

    /// One-line description of a layer, used in comments: `depthwise 3x3 s2, 32 ch, 14x14 -> 7x7, relu`.
    public static func layerSummary(_ layer: LayerNode, graph: LayerGraph, layout: ActivationLayout? = nil) -> String {
        let input = graph.tensors[layer.inputs[0]], output = graph.tensors[layer.output]
        let sizes = input.height == output.height && input.width == output.width
            ? "\(output.height)x\(output.width)" : "\(input.height)x\(input.width) -> \(output.height)x\(output.width)"
        func name(_ tensor: Int) -> String {
            tensor == graph.input ? "input" : graph.layers.first { $0.output == tensor }!.name
        }
        switch layer.operation {
        case .convolution(let spec):
            let activation = activationLabel(spec.activation)
            if spec.isDepthwise {
                return "depthwise \(spec.kernel)x\(spec.kernel) s\(spec.stride), \(spec.outputChannels) ch, \(sizes), \(activation)"
            }
            let kind = spec.kernel == 1 ? "pointwise 1x1" : "conv \(spec.kernel)x\(spec.kernel)"
            return "\(kind) s\(spec.stride), \(spec.inputChannels) -> \(spec.outputChannels) ch, \(sizes), \(activation)"
        case .maxPool:
            return "max-pool 2x2 s2, \(output.channels) ch, \(sizes)"
        case .concat:
            let parts = layer.inputs.map { String(graph.tensors[$0].channels) }.joined(separator: " + ")
            var text = "concat \(parts) -> \(output.channels) ch, \(sizes)"
            if let layout, let step = graph.layers.firstIndex(of: layer) {
                if let copies = layout.concatCopies[step] {
                    text += " (copies \(copies.map(name).joined(separator: ", ")); the others write into their slices)"
                } else {
                    text += " (free: its inputs are written into its slices)"
                }
            }
            return text
        case .add:
            var text = "add, \(output.channels) ch, \(sizes)"
            if let layout, let step = graph.layers.firstIndex(of: layer) {
                if let pair = layout.fusion.pair(add: step) {
                    text += " (fused into \(graph.layers[pair.convolution].name)'s epilogue)"
                }
                if let input = layout.inPlaceInput(step: step) { text += " (in place over \(name(input)))" }
            }
            return text
        case .globalAveragePool:
            return "global average pool, \(output.channels) ch, \(input.height)x\(input.width) -> 1x1"
        case .dropout:
            return "dropout (identity at inference)"
        case .linear(let inputFeatures, let outputFeatures):
            return "fully connected \(inputFeatures) -> \(outputFeatures)"
        }
    }

    // MARK: Sizes

    /// Bytes of the const weight and bias arrays (packed, with padding); int8: int8 weights + int32 bias.
    public var weightBytes: Int {
        var total = 0
        for layer in graph.layers {
            switch layer.operation {
            case .convolution(let spec):
                let reduction = spec.kernel * spec.kernel * (spec.inputChannels / spec.groups)
                let weights = spec.isDepthwise || precision == .float32
                    ? spec.outputChannels * reduction : (reduction + 3) / 4 * spec.outputChannels * 4
                total += weights * precision.bytesPerElement + spec.outputChannels * 4
            case .linear(let inputFeatures, let outputFeatures):
                let weights = precision == .float32 ? inputFeatures * outputFeatures : (inputFeatures + 3) / 4 * outputFeatures * 4
                total += weights * precision.bytesPerElement + outputFeatures * 4
            default: break
            }
        }
        return total
    }

    /// Bytes of the per-channel requantization tables (int32 multiplier + shift) and the input table.
    public var quantizationConstantBytes: Int {
        guard precision == .int8 else { return normalization.mean.count * 256 * 4 }
        var total = normalization.mean.count * 256
        for layer in graph.layers {
            switch layer.operation {
            case .convolution(let spec): total += 8 * spec.outputChannels
            case .linear(_, let outputFeatures): total += 8 * outputFeatures
            default: break
            }
        }
        return total
    }

    // MARK: model.h

    /// `model.h`: the precision-independent API both model sources implement.
    public static func header(graph: LayerGraph, description: ExportDescription) -> String {
        let input = graph.tensors[graph.input]
        let classes = graph.tensors[graph.output].channels
        return """
        /*
         * model.h - \(description.modelName), generated by autoshrink \(description.exporterVersion).
         * Architecture hash \(description.architectureHash), trained on \(description.dataset).
         *
         * The API of the generated model. model.c (int8) and model_float.c (float32) both implement it,
         * so the same harness (main.c) builds either binary. Inference is single-threaded, batch 1, and
         * uses one static arena: no allocation, no state besides the arena.
         */
        #ifndef MODEL_H
        #define MODEL_H

        #include <stddef.h>
        #include <stdint.h>

        #define MODEL_NAME "\(description.modelName)"
        #define MODEL_ARCHITECTURE_HASH "\(description.architectureHash)"
        /* Input image: [C][H][W] raw bytes (0..255); the model normalises and quantizes them itself. */
        #define MODEL_INPUT_CHANNELS \(input.channels)
        #define MODEL_INPUT_HEIGHT \(input.height)
        #define MODEL_INPUT_WIDTH \(input.width)
        #define MODEL_CLASSES \(classes)

        /** "int8" or "float32". */
        const char *model_precision(void);
        /** What model_output's scores are, e.g. "dequantized int8 logits". */
        const char *model_score_kind(void);
        /** Bytes of the static activation arena. */
        size_t model_arena_bytes(void);

        /** Loads one image, pixels [MODEL_INPUT_CHANNELS][MODEL_INPUT_HEIGHT][MODEL_INPUT_WIDTH]. */
        void model_set_input(const uint8_t *pixels);
        /** Runs every layer on the loaded image. */
        void model_run(void);
        /**
         * Writes the scores [MODEL_CLASSES] of the last run and returns the top-1 class: the highest score;
         * in int8, classes whose int8 logits tie are ordered by the classifier's exact int32 result (before
         * its output rounding); remaining ties go to the lower class index.
         */
        int model_output(float *scores);

        /** Layers that do work at run time (free concats and dropout are not counted), for per-layer timing. */
        int model_layer_count(void);
        const char *model_layer_name(int layer);
        /** Runs one layer; layers must run in order 0..count-1 after model_set_input. */
        void model_run_layer(int layer);

        #endif /* MODEL_H */

        """
    }

    // MARK: model.c

    /// The model source for this precision.
    public func source() -> String {
        var out = CWriter()
        writePreamble(&out)
        writeTensors(&out)
        writeInput(&out)
        for (step, layer) in graph.layers.enumerated() {
            writeLayer(&out, step: step, layer: layer)
        }
        writeSchedule(&out)
        return out.text
    }

    private func writePreamble(_ out: inout CWriter) {
        let cost = CostModel.costs(of: graph)
        let fileName = precision == .int8 ? "model.c" : "model_float.c"
        let scheme = precision == .int8
            ? """
             * Scheme         TFLite int8: weights symmetric per output channel (zero point 0, [-127, 127]),
             *                activations asymmetric per tensor (real = scale * (q - zero_point)), int32 bias
             *                with scale s_in * s_w[c], Q0.31 multiplier + shift requantization.
             * Calibration    \(description.calibration)
            """
            : """
             * Scheme         float32, batch norm folded into the convolutions (the int8 build's reference).
            """
        out.line("""
        /*
         * \(fileName) - \(description.modelName), \(precision.rawValue) inference generated by autoshrink \(description.exporterVersion).
         *
         * Architecture   \(description.modelName) [hash \(description.architectureHash)], \(graph.layers.count) layers, \
        \(cost.macs) MACs, input \(graph.tensors[graph.input]) (C x H x W), \(graph.tensors[graph.output].channels) classes
        \(scheme)
         * Arena          \(plan.arenaBytes) bytes, one static buffer (lower bound \(plan.lowerBoundBytes) bytes, planner \(plan.planner))
         * Weights        \(weightBytes) bytes (\(precision == .int8 ? "int8 weights + int32 bias" : "float32 weights + bias"))
         * Runtime        autoshrink kernels \(description.runtimeHash.prefix(16)) (runtime/)
         *
         * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K * K * C_in,
         * R4 = ceil(R / 4). Activations are [H][W][C] with a pixel stride (elements from one pixel to the
         * next): a tensor that is a channel slice of a concat lives inside the concat's buffer.
         * Generated code: do not edit; run autoshrink export again.
         */
        #include "model.h"

        #include "autoshrink_runtime.h"

        #include <math.h>

        """)
        if precision == .int8 {
            out.line("/* Activation arena: every tensor lives at a fixed offset, planned from tensor lifetimes. */")
            out.line("#define ARENA_BYTES \(plan.arenaBytes)")
            out.line("static union {")
            out.line("    int8_t bytes[ARENA_BYTES];")
            out.line("    int64_t alignment;")
            out.line("} arena;")
        } else {
            out.line("/* Activation arena: every tensor lives at a fixed offset, planned from tensor lifetimes. */")
            out.line("#define ARENA_BYTES \(plan.arenaBytes)")
            out.line("static float arena[ARENA_BYTES / sizeof(float)];")
        }
        out.line()
    }

    private func writeTensors(_ out: inout CWriter) {
        out.line("/* ---- activation tensors: shape, place in the arena\(precision == .int8 ? ", quantization" : "") ---- */")
        out.line()
        var bufferIndex = [Int: Int]()
        for (index, buffer) in layout.buffers.enumerated() { bufferIndex[buffer] = index }
        for tensor in graph.tensors.indices {
            let shape = graph.tensors[tensor]
            if case .fused(let into) = layout.placements[tensor] {
                // never stored: only its quantization (the fused add's input 1) and shape are named
                out.line("/* \(graph.layers[producerStep(tensor)].name): \(shape.channels)x\(shape.height)x\(shape.width), never stored (the fused add writes \(tensorName(into)))\(quantized.map { "; real range [\(format($0.ranges[tensor].min)), \(format($0.ranges[tensor].max))]" } ?? "") */")
                out.define(macro(tensor, "HEIGHT"), "\(shape.height)")
                out.define(macro(tensor, "WIDTH"), "\(shape.width)")
                out.define(macro(tensor, "CHANNELS"), "\(shape.channels)")
                if let quantized {
                    out.define(macro(tensor, "SCALE"), cFloat(quantized.tensors[tensor].scale))
                    out.define(macro(tensor, "ZERO_POINT"), cInt(quantized.tensors[tensor].zeroPoint))
                }
                out.line()
                continue
            }
            let (buffer, channel) = layout.root(of: tensor)
            let byteOffset = plan.offsets[bufferIndex[buffer]!] + channel * precision.bytesPerElement
            var comment = "\(tensor == graph.input ? "input" : graph.layers[producerStep(tensor)].name): \(shape.channels)x\(shape.height)x\(shape.width)"
            switch layout.placements[tensor] {
            case .buffer:
                comment += ", arena bytes \(byteOffset)..\(byteOffset + shape.elements * precision.bytesPerElement)"
            case .slice(let parent, let offset):
                comment += ", channels \(offset)..\(offset + shape.channels) of \(tensorName(parent))"
            case .inPlace(let parent):
                comment += ", in place over \(tensorName(parent))"
            case .fused:
                preconditionFailure("handled above")
            }
            if let quantized {
                let range = quantized.ranges[tensor]
                comment += "; real range [\(format(range.min)), \(format(range.max))]"
            }
            out.line("/* \(comment) */")
            let pointer = precision == .int8 ? "(arena.bytes + \(byteOffset))" : "(arena + \(byteOffset / 4))"
            out.define(macro(tensor, "DATA"), pointer)
            out.define(macro(tensor, "HEIGHT"), "\(shape.height)")
            out.define(macro(tensor, "WIDTH"), "\(shape.width)")
            out.define(macro(tensor, "CHANNELS"), "\(shape.channels)")
            out.define(macro(tensor, "PIXEL_STRIDE"), "\(layout.pixelStride(of: tensor))")
            if let quantized {
                let q = quantized.tensors[tensor]
                out.define(macro(tensor, "SCALE"), cFloat(q.scale))
                out.define(macro(tensor, "ZERO_POINT"), cInt(q.zeroPoint))
            }
            out.line()
        }
    }

    private func writeInput(_ out: inout CWriter) {
        let channels = normalization.mean.count
        let meanText = normalization.mean.map { format($0) }.joined(separator: ", ")
        let stdText = normalization.std.map { format($0) }.joined(separator: ", ")
        out.line("/* ---- input: x = (pixel / 255 - mean) / std, mean [\(meanText)], std [\(stdText)] ---- */")
        out.line()
        if let quantized {
            out.line("/* [C][256]: the quantized x of every pixel value (scale INPUT_SCALE, zero point INPUT_ZERO_POINT). */")
            out.array("static const int8_t input_table[\(channels)][256]", rows: quantized.inputTable.map { $0.map { String($0) } })
        } else {
            let table = (0..<channels).map { channel in normalization.lookupTable(channel: channel).map { cFloat($0) } }
            out.line("/* [C][256]: x of every pixel value. */")
            out.array("static const float input_table[\(channels)][256]", rows: table, perLine: 8)
        }
        out.line()
        out.line("""
        void model_set_input(const uint8_t *pixels)
        {
            int c, p;
            for (c = 0; c < INPUT_CHANNELS; c++) {
                for (p = 0; p < INPUT_HEIGHT * INPUT_WIDTH; p++) {
                    INPUT_DATA[p * INPUT_PIXEL_STRIDE + c] = input_table[c][pixels[c * INPUT_HEIGHT * INPUT_WIDTH + p]];
                }
            }
        }

        """)
    }

    private func activationConstant(_ activation: Activation) -> String {
        switch activation {
        case .relu: return "AS_ACTIVATION_RELU"
        case .relu6: return "AS_ACTIVATION_RELU6"
        case .none: return "AS_ACTIVATION_NONE"
        }
    }

    /// Arguments (data, height, width, channels, pixel stride) of a tensor.
    private func view(_ tensor: Int) -> String {
        ["DATA", "HEIGHT", "WIDTH", "CHANNELS", "PIXEL_STRIDE"].map { macro(tensor, $0) }.joined(separator: ", ")
    }

    /// What every per-operator emitter needs about the layer it writes.
    private struct LayerEmission {
        let step: Int
        let layer: LayerNode
        /// C identifier of the layer, and its upper-case form for macros.
        let name: String
        let upper: String
        var input: Int { layer.inputs[0] }
        var output: Int { layer.output }
    }

    /// Writes one layer: a header comment, the operator's constants (written by its emitter), and
    /// `run_<name>` holding the kernel calls the emitter returned. One emitter per operator, so adding
    /// an operator (or a fused one) is one new function and one `case` here.
    private func writeLayer(_ out: inout CWriter, step: Int, layer: LayerNode) {
        let summary = Self.layerSummary(layer, graph: graph, layout: layout)
        guard hasWork(step) else { return }
        let name = Self.identifier(layer.name)
        let emission = LayerEmission(step: step, layer: layer, name: name, upper: name.uppercased())
        out.line("/* ---- layer \(step): \(layer.name), \(summary) ---- */")
        out.line()
        let body: [String]
        switch layer.operation {
        case .convolution(let spec): body = emitConvolution(&out, emission, spec: spec)
        case .linear(let inputFeatures, let outputFeatures):
            body = emitLinear(&out, emission, inputFeatures: inputFeatures, outputFeatures: outputFeatures)
        case .maxPool: body = emitMaxPool(&out, emission)
        case .add: body = emitAdd(&out, emission)
        case .globalAveragePool: body = emitGlobalAveragePool(&out, emission)
        case .concat: body = emitConcat(&out, emission)
        case .dropout: body = []
        }
        out.line("static void run_\(name)(void)")
        out.line("{")
        for statement in body { out.statement(statement) }
        out.line("}")
        out.line()
    }

    /// Convolution (KxK, pointwise or depthwise 3x3): packed weights, bias, requantization, the kernel call.
    private func emitConvolution(_ out: inout CWriter, _ e: LayerEmission, spec: ConvolutionSpec) -> [String] {
        let (name, upper, input, output) = (e.name, e.upper, e.input, e.output)
        let folded = network.layers[e.layer.name]!
        let reduction = spec.kernel * spec.kernel * (spec.inputChannels / spec.groups)
        if spec.isDepthwise {
            out.line("/* weights [3][3][C] */")
            writeWeights(&out, name: name, values: folded.weights, layerStep: e.step) { weights in
                WeightPacking.depthwise(weights, channels: spec.outputChannels)
            }
        } else {
            out.line(precision == .int8
                     ? "/* weights [R4 = \((reduction + 3) / 4)][C_out = \(spec.outputChannels)][4], R = \(spec.kernel)*\(spec.kernel)*\(spec.inputChannels) (entries r >= R are 0) */"
                     : "/* weights [R = \(spec.kernel)*\(spec.kernel)*\(spec.inputChannels)][C_out = \(spec.outputChannels)] */")
            writeDenseWeights(&out, name: name, folded: folded, step: e.step, outputChannels: spec.outputChannels,
                              inputChannels: spec.inputChannels, kernel: spec.kernel)
        }
        writeBiasAndRequant(&out, name: name, step: e.step, folded: folded)
        out.define("\(upper)_STRIDE", "\(spec.stride)")
        if !spec.isDepthwise && spec.kernel > 1 { out.define("\(upper)_KERNEL_SIZE", "\(spec.kernel)") }
        out.line()
        let destination = "\(macro(output, "DATA")), \(macro(output, "PIXEL_STRIDE"))"
        if precision == .int8 {
            let zero = macro(input, "ZERO_POINT")
            if spec.isDepthwise {
                return ["as_depthwise_conv3x3_s8(\(view(input)), \(zero), \(name)_weights, \(name)_bias, \(upper)_STRIDE, &\(name)_requant, \(destination));"]
            } else if spec.kernel == 1 {
                return ["as_pointwise_conv_s8(\(view(input)), \(zero), \(name)_weights, \(name)_bias, \(upper)_STRIDE, \(macro(output, "CHANNELS")), &\(name)_requant, \(destination));"]
            }
            return ["as_conv2d_s8(\(view(input)), \(zero), \(name)_weights, \(name)_bias, \(upper)_KERNEL_SIZE, \(upper)_STRIDE, \(macro(output, "CHANNELS")), &\(name)_requant, \(destination));"]
        }
        let activation = activationConstant(spec.activation)
        if spec.isDepthwise {
            return ["as_depthwise_conv3x3_f32(\(view(input)), \(name)_weights, \(name)_bias, \(upper)_STRIDE, \(activation), \(destination));"]
        } else if spec.kernel == 1 {
            return ["as_pointwise_conv_f32(\(view(input)), \(name)_weights, \(name)_bias, \(upper)_STRIDE, \(macro(output, "CHANNELS")), \(activation), \(destination));"]
        }
        return ["as_conv2d_f32(\(view(input)), \(name)_weights, \(name)_bias, \(upper)_KERNEL_SIZE, \(upper)_STRIDE, \(macro(output, "CHANNELS")), \(activation), \(destination));"]
    }

    /// Fully connected classifier: packed weights, bias, requantization, the kernel call.
    private func emitLinear(_ out: inout CWriter, _ e: LayerEmission, inputFeatures: Int, outputFeatures: Int) -> [String] {
        let (name, input, output) = (e.name, e.input, e.output)
        let folded = network.layers[e.layer.name]!
        out.line(precision == .int8
                 ? "/* weights [R4 = \((inputFeatures + 3) / 4)][C_out = \(outputFeatures)][4], R = C_in = \(inputFeatures) */"
                 : "/* weights [C_in = \(inputFeatures)][C_out = \(outputFeatures)] */")
        writeDenseWeights(&out, name: name, folded: folded, step: e.step, outputChannels: outputFeatures,
                          inputChannels: inputFeatures, kernel: 1)
        writeBiasAndRequant(&out, name: name, step: e.step, folded: folded)
        out.line()
        if precision == .int8 {
            return ["as_fully_connected_s8(\(macro(input, "DATA")), \(macro(input, "CHANNELS")), \(macro(input, "ZERO_POINT")), \(name)_weights, \(name)_bias, \(macro(output, "CHANNELS")), &\(name)_requant, \(macro(output, "DATA")));"]
        }
        return ["as_fully_connected_f32(\(macro(input, "DATA")), \(macro(input, "CHANNELS")), \(name)_weights, \(name)_bias, \(macro(output, "CHANNELS")), AS_ACTIVATION_NONE, \(macro(output, "DATA")));"]
    }

    /// 2x2 max-pool (int8 shares its input's quantization, so no constants).
    private func emitMaxPool(_ out: inout CWriter, _ e: LayerEmission) -> [String] {
        ["as_max_pool2x2_\(precision.suffix)(\(view(e.input)), \(macro(e.output, "DATA")), \(macro(e.output, "PIXEL_STRIDE")));"]
    }

    /// Element-wise add of two tensors (int8: TFLite ADD parameters).
    private func emitAdd(_ out: inout CWriter, _ e: LayerEmission) -> [String] {
        let (name, output) = (e.name, e.output)
        let fused = layout.fusion.pair(add: e.step)
        // the fused call takes its convolution's value as input 1: swap the inputs if it is the second (the
        // sum of the two rescaled inputs is symmetric, so the integers are the same)
        let swapped = fused?.convolutionIsSecondInput ?? false
        let input = swapped ? e.layer.inputs[1] : e.layer.inputs[0]
        let other = swapped ? e.layer.inputs[0] : e.layer.inputs[1]
        if case .add(let unswapped)? = quantized?.layers[e.step] {
            var parameters = unswapped
            if swapped {
                swap(&parameters.input1, &parameters.input2)
                swap(&parameters.input1ZeroPoint, &parameters.input2ZeroPoint)
            }
            var convolutionCall: String?
            if let fused {
                // the convolution's constants, then the one call computing both layers (docs/benchmarks.md, "fused add")
                let layer = graph.layers[fused.convolution]
                guard case .convolution(let spec) = layer.operation else { preconditionFailure("AddFusion pairs a convolution") }
                let convolution = Self.identifier(layer.name)
                out.line("/* layer \(fused.convolution): \(layer.name), \(Self.layerSummary(layer, graph: graph, layout: layout)), runs inside this add */")
                let emission = LayerEmission(step: fused.convolution, layer: layer, name: convolution, upper: convolution.uppercased())
                _ = emitConvolution(&out, emission, spec: spec)
                let view = "\(macro(layer.inputs[0], "DATA")), \(macro(layer.inputs[0], "HEIGHT")), \(macro(layer.inputs[0], "WIDTH")), \(macro(layer.inputs[0], "CHANNELS")), \(macro(layer.inputs[0], "PIXEL_STRIDE"))"
                convolutionCall = "as_pointwise_conv_add_s8(\(view), \(macro(layer.inputs[0], "ZERO_POINT")), \(convolution)_weights, \(convolution)_bias, \(convolution.uppercased())_STRIDE, \(macro(layer.output, "CHANNELS")), &\(convolution)_requant, \(macro(other, "DATA")), \(macro(other, "PIXEL_STRIDE")), &\(name)_params, \(macro(output, "DATA")), \(macro(output, "PIXEL_STRIDE")));"
            }
            out.line("/* TFLite ADD: both inputs to the common scale 2 max(s1, s2), summed, requantized to the output\(fused == nil ? "" : "; input 1 is the convolution's int8 value, never stored"). */")
            out.line("""
            static const as_add_params_s8 \(name)_params = {
                .input1_zero_point = \(macro(input, "ZERO_POINT")),
                .input2_zero_point = \(macro(other, "ZERO_POINT")),
                .output_zero_point = \(macro(output, "ZERO_POINT")),
                .left_shift = AS_ADD_LEFT_SHIFT,
                .input1_multiplier = \(parameters.input1.multiplier),
                .input1_shift = \(parameters.input1.shift),
                .input2_multiplier = \(parameters.input2.multiplier),
                .input2_shift = \(parameters.input2.shift),
                .output_multiplier = \(parameters.output.multiplier),
                .output_shift = \(parameters.output.shift),
                .activation_min = \(parameters.activationMin),
                .activation_max = \(parameters.activationMax),
            };

            """)
            if let convolutionCall { return [convolutionCall] }
            return ["as_add_s8(\(macro(input, "DATA")), \(macro(input, "PIXEL_STRIDE")), \(macro(other, "DATA")), \(macro(other, "PIXEL_STRIDE")), \(macro(output, "HEIGHT")), \(macro(output, "WIDTH")), \(macro(output, "CHANNELS")), &\(name)_params, \(macro(output, "DATA")), \(macro(output, "PIXEL_STRIDE")));"]
        }
        return ["as_add_f32(\(macro(input, "DATA")), \(macro(input, "PIXEL_STRIDE")), \(macro(other, "DATA")), \(macro(other, "PIXEL_STRIDE")), \(macro(output, "HEIGHT")), \(macro(output, "WIDTH")), \(macro(output, "CHANNELS")), AS_ACTIVATION_NONE, \(macro(output, "DATA")), \(macro(output, "PIXEL_STRIDE")));"]
    }

    /// Global average pool (int8: one multiplier for s_in / (s_out * H * W)).
    private func emitGlobalAveragePool(_ out: inout CWriter, _ e: LayerEmission) -> [String] {
        let (upper, input, output) = (e.upper, e.input, e.output)
        if case .globalAveragePool(let multiplier)? = quantized?.layers[e.step] {
            out.line("/* s_in / (s_out * H * W) = multiplier * 2^(shift - 31) */")
            out.define("\(upper)_MULTIPLIER", "\(multiplier.multiplier)")
            out.define("\(upper)_SHIFT", cInt(Int(multiplier.shift)))
            out.line()
            return ["as_global_avg_pool_s8(\(view(input)), \(macro(input, "ZERO_POINT")), \(upper)_MULTIPLIER, \(upper)_SHIFT, \(macro(output, "ZERO_POINT")), \(macro(output, "DATA")));"]
        }
        return ["as_global_avg_pool_f32(\(view(input)), \(macro(output, "DATA")));"]
    }

    /// Concat: one copy (or int8 requantizing copy) per input that its producer did not write in place.
    private func emitConcat(_ out: inout CWriter, _ e: LayerEmission) -> [String] {
        let (upper, output) = (e.upper, e.output)
        var offsets = [Int: Int]()
        var running = 0
        for source in e.layer.inputs { offsets[source] = running; running += graph.tensors[source].channels }
        let copies: [ConcatCopy]
        if case .concat(let list)? = quantized?.layers[e.step] {
            copies = list
        } else {
            copies = (layout.concatCopies[e.step] ?? []).map { ConcatCopy(input: $0, channelOffset: offsets[$0]!, requantization: nil) }
        }
        var body: [String] = []
        for (index, copy) in copies.enumerated() {
            let source = copy.input
            let destination = macro(output, "DATA") + (copy.channelOffset > 0 ? " + \(copy.channelOffset)" : "")
            let sourceView = "\(macro(source, "DATA")), \(macro(source, "HEIGHT")), \(macro(source, "WIDTH")), \(macro(source, "CHANNELS")), \(macro(source, "PIXEL_STRIDE"))"
            if let requantization = copy.requantization {
                if index == 0 || copies[..<index].allSatisfy({ $0.requantization == nil }) {
                    out.line("/* inputs of another quantization: s_in / s_out = multiplier * 2^(shift - 31) */")
                }
                out.define("\(upper)_COPY\(index)_MULTIPLIER", "\(requantization.multiplier)")
                out.define("\(upper)_COPY\(index)_SHIFT", cInt(Int(requantization.shift)))
                body.append("as_requantize_s8(\(sourceView), \(macro(source, "ZERO_POINT")), \(upper)_COPY\(index)_MULTIPLIER, \(upper)_COPY\(index)_SHIFT, \(macro(output, "ZERO_POINT")), \(destination), \(macro(output, "PIXEL_STRIDE")));")
            } else {
                body.append("as_copy_channels_\(precision.suffix)(\(sourceView), \(destination), \(macro(output, "PIXEL_STRIDE")));")
            }
        }
        if copies.contains(where: { $0.requantization != nil }) { out.line() }
        return body
    }

    /// Dense (conv KxK, pointwise, linear) weights in the kernel layout.
    private func writeDenseWeights(_ out: inout CWriter, name: String, folded: FoldedWeights, step: Int,
                                   outputChannels: Int, inputChannels: Int, kernel: Int) {
        let reduction = kernel * kernel * inputChannels
        writeWeights(&out, name: name, values: folded.weights, layerStep: step) { weights in
            WeightPacking.naturalOrder(weights, outputChannels: outputChannels, inputChannels: inputChannels, kernel: kernel)
        } pack: { natural in
            natural.int8.isEmpty
                ? AnyWeights(int8: [], float: WeightPacking.packFloat(natural.float, outputChannels: outputChannels, reduction: reduction))
                : AnyWeights(int8: WeightPacking.packInt8(natural.int8, outputChannels: outputChannels, reduction: reduction), float: [])
        }
    }

    /// Writes `<name>_weights` after reordering (and, for dense layers, packing) in the right precision.
    private func writeWeights(_ out: inout CWriter, name: String, values: [Float], layerStep: Int,
                              reorder: (AnyWeights) -> AnyWeights,
                              pack: ((AnyWeights) -> AnyWeights)? = nil) {
        if precision == .int8 {
            guard case .convolution(let q)? = quantized?.layers[layerStep] else { preconditionFailure("int8 layer without quantization") }
            let natural = reorder(AnyWeights(int8: q.weights, float: []))
            let packed = pack?(natural).int8 ?? natural.int8
            out.array("static const int8_t \(name)_weights[\(packed.count)]", values: packed.map { String($0) }, perLine: 24)
        } else {
            let natural = reorder(AnyWeights(int8: [], float: values))
            let packed = pack?(natural).float ?? natural.float
            out.array("static const float \(name)_weights[\(packed.count)]", values: packed.map { cFloat($0) }, perLine: 8)
        }
    }

    private func writeBiasAndRequant(_ out: inout CWriter, name: String, step: Int, folded: FoldedWeights) {
        let upper = name.uppercased()
        let layer = graph.layers[step]
        if precision == .float32 {
            out.line("/* bias [C_out] (batch norm folded) */")
            out.array("static const float \(name)_bias[\(folded.bias.count)]", values: folded.bias.map { cFloat($0) }, perLine: 8)
            return
        }
        guard case .convolution(let q)? = quantized?.layers[step] else { preconditionFailure("int8 layer without quantization") }
        out.line("/* bias [C_out], int32 with scale s_in * s_w[c] */")
        out.array("static const int32_t \(name)_bias[\(q.bias.count)]", values: q.bias.map { String($0) }, perLine: 12)
        out.line("/* requantization [C_out]: s_in * s_w[c] / s_out = multiplier[c] * 2^(shift[c] - 31) */")
        out.array("static const int32_t \(name)_multiplier[\(q.multipliers.count)]", values: q.multipliers.map { String($0.multiplier) }, perLine: 10)
        out.array("static const int32_t \(name)_shift[\(q.multipliers.count)]", values: q.multipliers.map { String($0.shift) }, perLine: 24)
        out.define("\(upper)_ACTIVATION_MIN", cInt(Int(q.activationRange.lowerBound)))
        out.define("\(upper)_ACTIVATION_MAX", cInt(Int(q.activationRange.upperBound)))
        out.line("""
        static const as_requant_s8 \(name)_requant = {
            .multiplier = \(name)_multiplier,
            .shift = \(name)_shift,
            .output_zero_point = \(macro(layer.output, "ZERO_POINT")),
            .activation_min = \(upper)_ACTIVATION_MIN,
            .activation_max = \(upper)_ACTIVATION_MAX,
        };
        """)
    }

    private func writeSchedule(_ out: inout CWriter) {
        let working = graph.layers.indices.filter(hasWork)
        out.line("/* ---- schedule ---- */")
        out.line()
        out.line("void model_run(void)")
        out.line("{")
        let width = working.map { Self.identifier(graph.layers[$0].name).count }.max() ?? 0
        for (step, layer) in graph.layers.enumerated() {
            let summary = Self.layerSummary(layer, graph: graph, layout: layout)
            if hasWork(step) {
                let call = "run_\(Self.identifier(layer.name))();"
                out.line("    \(call)\(String(repeating: " ", count: width + 7 - call.count)) /* layer \(step): \(summary) */")
            } else {
                let inside = layout.fusion.pair(convolution: step).map { ": runs inside layer \($0.add)'s call" } ?? ": nothing to do"
                out.line("    /* layer \(step): \(layer.name), \(summary)\(inside) */")
            }
        }
        out.line("}")
        out.line()
        out.line("#define LAYER_COUNT \(working.count)")
        out.line("static void (*const layer_functions[LAYER_COUNT])(void) = {")
        for step in working { out.line("    run_\(Self.identifier(graph.layers[step].name)),") }
        out.line("};")
        out.line("static const char *const layer_names[LAYER_COUNT] = {")
        for step in working { out.line("    \"\(graph.layers[step].name)\",") }
        out.line("};")
        out.line()
        out.line("""
        int model_layer_count(void)
        {
            return LAYER_COUNT;
        }

        const char *model_layer_name(int layer)
        {
            return layer >= 0 && layer < LAYER_COUNT ? layer_names[layer] : "";
        }

        void model_run_layer(int layer)
        {
            if (layer >= 0 && layer < LAYER_COUNT) {
                layer_functions[layer]();
            }
        }

        \(precision == .int8 ? int8Output() : floatOutput())

        const char *model_precision(void)
        {
            return "\(precision.rawValue)";
        }

        const char *model_score_kind(void)
        {
            return "\(precision == .int8 ? "dequantized int8 logits" : "float32 logits")";
        }

        size_t model_arena_bytes(void)
        {
            return ARENA_BYTES;
        }
        """)
    }
}

/// Weights in either precision while they are reordered.
struct AnyWeights {
    var int8: [Int8]
    var float: [Float]
}

extension WeightPacking {
    static func naturalOrder(_ weights: AnyWeights, outputChannels: Int, inputChannels: Int, kernel: Int) -> AnyWeights {
        AnyWeights(int8: weights.int8.isEmpty ? [] : naturalOrder(weights.int8, outputChannels: outputChannels, inputChannels: inputChannels, kernel: kernel),
                   float: weights.float.isEmpty ? [] : naturalOrder(weights.float, outputChannels: outputChannels, inputChannels: inputChannels, kernel: kernel))
    }

    static func depthwise(_ weights: AnyWeights, channels: Int) -> AnyWeights {
        AnyWeights(int8: weights.int8.isEmpty ? [] : depthwise(weights.int8, channels: channels),
                   float: weights.float.isEmpty ? [] : depthwise(weights.float, channels: channels))
    }
}

/// A float as a C literal that reads back to the same value (`0.0123f`).
func cFloat(_ value: Float) -> String {
    precondition(value.isFinite, "weights and scales must be finite")
    return "\(value)f"
}

/// An integer as a C constant expression (negative values in parentheses, safe in macros).
func cInt(_ value: Int) -> String { value < 0 ? "(\(value))" : "\(value)" }

/// Short decimal for comments.
func format(_ value: Float) -> String {
    let text = "\(value)"
    return text.count <= 8 ? text : String(format: "%.5g", Double(value))
}

/// Accumulates C source text.
struct CWriter {
    var text = ""

    mutating func line(_ line: String = "") { text += line + "\n" }

    mutating func define(_ name: String, _ value: String) {
        let padding = max(1, 40 - name.count)
        line("#define \(name)\(String(repeating: " ", count: padding))\(value)")
    }

    /// A statement inside a function body, wrapped after commas at about 110 columns.
    mutating func statement(_ statement: String) {
        let indent = "    "
        guard statement.count + indent.count > 110, let open = statement.firstIndex(of: "(") else {
            line(indent + statement); return
        }
        let continuation = String(repeating: " ", count: indent.count + statement.distance(from: statement.startIndex, to: open) + 1)
        var current = indent
        let parts = statement.components(separatedBy: ", ")
        for (index, part) in parts.enumerated() {
            let piece = part + (index < parts.count - 1 ? "," : "")
            if current.count + piece.count + 1 > 110 && current.trimmingCharacters(in: .whitespaces).count > 0 {
                line(current)
                current = continuation + piece
            } else {
                current += (current == indent || current == continuation ? "" : " ") + piece
            }
        }
        line(current)
    }

    /// A one-dimensional initialised array.
    mutating func array(_ declaration: String, values: [String], perLine: Int = 16) {
        line("\(declaration) = {")
        var index = 0
        while index < values.count {
            let end = min(index + perLine, values.count)
            line("    " + values[index..<end].joined(separator: ", ") + ",")
            index = end
        }
        line("};")
    }

    /// A two-dimensional initialised array, one brace group per row.
    mutating func array(_ declaration: String, rows: [[String]], perLine: Int = 16) {
        line("\(declaration) = {")
        for row in rows {
            line("    {")
            var index = 0
            while index < row.count {
                let end = min(index + perLine, row.count)
                line("        " + row[index..<end].joined(separator: ", ") + ",")
                index = end
            }
            line("    },")
        }
        line("};")
    }
}

extension CModelGenerator {
    /// `model_output` of the float build: the logits themselves.
    func floatOutput() -> String {
        """
        int model_output(float *scores)
        {
            const float *logits = \(macro(graph.output, "DATA"));
            int k, best = 0;
            for (k = 0; k < MODEL_CLASSES; k++) {
                scores[k] = logits[k];
                if (logits[k] > logits[best]) {
                    best = k;
                }
            }
            return best;
        }
        """
    }

    /// `model_output` of the int8 build: dequantized int8 logits; ties of the int8 logits (they are
    /// rounded to one output scale, so close classes can tie) are decided by the classifier's exact
    /// int32 accumulators, rescaled by each class's own multiplier.
    func int8Output() -> String {
        let output = graph.output
        let classifier = graph.layers[producerStep(output)]
        let dequantize = "scores[k] = \(macro(output, "SCALE")) * (float)(logits[k] - \(macro(output, "ZERO_POINT")));"
        guard case .linear = classifier.operation else {
            return floatOutput().replacingOccurrences(of: "const float *logits", with: "const int8_t *logits")
                .replacingOccurrences(of: "scores[k] = logits[k];", with: dequantize)
        }
        let name = Self.identifier(classifier.name)
        let input = classifier.inputs[0]
        return """
        /* Class k's logit before the int8 output rounding, in units of the output scale:
           (bias[k] + sum over r of (x[r] - zero point) * w[k][r]) * multiplier[k] * 2^(shift[k] - 31). */
        static double exact_logit(int k)
        {
            const int8_t *x = \(macro(input, "DATA"));
            int32_t accumulator = \(name)_bias[k];
            int r;
            for (r = 0; r < \(macro(input, "CHANNELS")); r++) {
                accumulator += ((int32_t)x[r] - \(macro(input, "ZERO_POINT"))) *
                               (int32_t)\(name)_weights[((r / 4) * \(macro(output, "CHANNELS")) + k) * 4 + r % 4];
            }
            return ldexp((double)accumulator * (double)\(name)_multiplier[k], \(name)_shift[k] - 31);
        }

        int model_output(float *scores)
        {
            const int8_t *logits = \(macro(output, "DATA"));
            int k, best = 0;
            double best_exact = 0.0;
            int best_exact_known = 0;
            for (k = 0; k < MODEL_CLASSES; k++) {
                \(dequantize)
                if (logits[k] > logits[best]) {
                    best = k;
                }
            }
            /* int8 logits share one output scale, so close classes can tie: order those by the exact values */
            for (k = best + 1; k < MODEL_CLASSES; k++) {
                if (logits[k] == logits[best]) {
                    const double exact = exact_logit(k);
                    if (!best_exact_known) {
                        best_exact = exact_logit(best);
                        best_exact_known = 1;
                    }
                    if (exact > best_exact) {
                        best = k;
                        best_exact = exact;
                    }
                }
            }
            return best;
        }
        """
    }
}
