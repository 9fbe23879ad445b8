import AutoShrinkFormats
import AutoShrinkLM
import Foundation

/// Weights of a language model in the layouts the C kernels read (Sources/CRuntime/include/rnn_kernels.h),
/// taken from a checkpoint by tensor name (`LanguageModel`'s parameter names).
struct LMExportWeights {
    var cell: RNNCell
    var shape: LanguageModelShape
    /// [V][D]; also the decoder when tied.
    var embedding: [Float]
    /// W0x [D][2H], W0h [H][2H].
    var inputWeight: [Float]
    var recurrentWeight: [Float]
    /// W_i [H][2H] of every live compute node.
    var nodeWeights: [Int: [Float]]
    /// [V][H] when untied.
    var decoderWeight: [Float]?
    var decoderBias: [Float]
    /// b_i [H] of node 0 and every live compute node (zeros for checkpoints written before the gate biases,
    /// whose cells computed exactly that).
    var gateBiases: [Int: [Float]]

    init(checkpoint: LMCheckpoint) throws {
        cell = try LMExporter.exportableCell(checkpoint); shape = checkpoint.shape
        let (v, d, h) = (shape.vocabulary, shape.embed, shape.hidden)
        func tensor(_ name: String, _ count: Int) throws -> [Float] {
            guard let stored = checkpoint.tensors.first(where: { $0.record.name == name }) else {
                throw ExportError("language-model checkpoint has no tensor \(name)")
            }
            guard stored.values.count == count else {
                throw ExportError("language-model checkpoint tensor \(name) has \(stored.values.count) values, expected \(count)")
            }
            return stored.values
        }
        embedding = try tensor("embedding.weight", v * d)
        inputWeight = try tensor("cell.node0.input_weight", d * 2 * h)
        recurrentWeight = try tensor("cell.node0.recurrent_weight", h * 2 * h)
        var nodes: [Int: [Float]] = [:]
        for node in cell.schedule.nodes { nodes[node] = try tensor("cell.node\(node).weight", h * 2 * h) }
        nodeWeights = nodes
        decoderWeight = shape.tied ? nil : try tensor("decoder.weight", v * h)
        decoderBias = try tensor("decoder.bias", v)
        var biases: [Int: [Float]] = [:]
        for node in [0] + cell.schedule.nodes {
            let name = "cell.node\(node).gate_bias"
            biases[node] = checkpoint.tensors.contains { $0.record.name == name } ? try tensor(name, h) : [Float](repeating: 0, count: h)
        }
        gateBiases = biases
    }
}

/// Symmetric int8 weights with one float scale per output: w ~ scale * q, q in [-127, 127], scale =
/// max |w| / 127 of the output's weights (0 for an all-zero output, whose q are 0).
struct Int8Weights {
    var values: [Int8]
    var scales: [Float]

    /// [K][N] with one scale per column n (the cell's [K][N] matrices; outputs are columns).
    static func perColumn(_ w: [Float], rows k: Int, columns n: Int) -> Int8Weights {
        var scales = [Float](repeating: 0, count: n)
        for i in 0..<k { for j in 0..<n { scales[j] = max(scales[j], abs(w[i * n + j])) } }
        scales = scales.map { $0 / 127 }
        var q = [Int8](repeating: 0, count: k * n)
        for i in 0..<k { for j in 0..<n { q[i * n + j] = quantize(w[i * n + j], scales[j]) } }
        return Int8Weights(values: q, scales: scales)
    }

    /// [R][K] with one scale per row r (the embedding and decoder; outputs are rows).
    static func perRow(_ w: [Float], rows r: Int, columns k: Int) -> Int8Weights {
        var scales = [Float](repeating: 0, count: r)
        var q = [Int8](repeating: 0, count: r * k)
        for row in 0..<r {
            var largest: Float = 0
            for j in 0..<k { largest = max(largest, abs(w[row * k + j])) }
            scales[row] = largest / 127
            for j in 0..<k { q[row * k + j] = quantize(w[row * k + j], scales[row]) }
        }
        return Int8Weights(values: q, scales: scales)
    }

    static func quantize(_ value: Float, _ scale: Float) -> Int8 {
        guard scale > 0 else { return 0 }
        return Int8(max(-127, min(127, (value / scale).rounded())))
    }

    /// The float weights these stand for (scale * q), for the Swift twin of the int8 binary.
    func dequantizedPerColumn(columns n: Int) -> [Float] { values.indices.map { Float(values[$0]) * scales[$0 % n] } }
    func dequantizedPerRow(columns k: Int) -> [Float] { values.indices.map { Float(values[$0]) * scales[$0 / k] } }
}

/// Writes the C of one exported language model (docs/shrinkrnn.md, "Deploy"): `lm_model.h` (sizes and the
/// API the harness Sources/CHarness/lm/lm_main.c calls) and one model file per precision with the weights
/// as const arrays and `lm_step`, the cell's DAG unrolled into straight-line kernel calls (one static function per
/// operator, called in order; the harness's `--bench-ops` times them one by one through a table):
///
///     x = E[token]
///     node 0:  pre = x W0x + h W0h;  s_0 = h + sigmoid(pre[:H]) * (act_0(pre[H:]) - h)
///     node i:  u_i = mean(states of its live predecessors);  pre = u_i W_i;  s_i = u_i + sigmoid(...) * (act_i(...) - u_i)
///     h = mean(states of the leaves);  logits = decoder h + bias
///
/// the function `LanguageModel.forward` computes (Sources/AutoShrinkLM/LanguageModel.swift) at batch 1
/// without dropout. float32: the checkpoint's weights. int8: every weight matrix symmetric int8 with
/// one float scale per output (`Int8Weights`), activations float32.
struct LMCModelGenerator {
    let weights: LMExportWeights
    let name: String
    let precision: ModelPrecision
    let unknownID: Int32
    let endOfSentenceID: Int32
    let description: String

    init(weights: LMExportWeights, name: String, precision: ModelPrecision, unknownID: Int32, endOfSentenceID: Int32, description: String) {
        self.weights = weights; self.name = name; self.precision = precision
        self.unknownID = unknownID; self.endOfSentenceID = endOfSentenceID
        // It goes into C comments: no comment end, one line.
        self.description = description.replacingOccurrences(of: "*/", with: "* /").replacingOccurrences(of: "\n", with: " ")
    }

    var v: Int { weights.shape.vocabulary }
    var d: Int { weights.shape.embed }
    var h: Int { weights.shape.hidden }

    /// `lm_model.h`: the same for both precisions.
    func header() -> String {
        """
        /*
         * lm_model.h - \(name): exported recurrent language model (\(description)).
         * Generated by autoshrink; do not edit (run autoshrink export again). docs/shrinkrnn.md, "Deploy".
         * The harness (lm_main.c) reads text, feeds tokens with lm_step and reads lm_logits.
         */
        #ifndef LM_MODEL_H
        #define LM_MODEL_H

        #include <stddef.h>

        #define LM_NAME "\(name)"
        #define LM_VOCABULARY \(v)
        #define LM_EMBED \(d)
        #define LM_HIDDEN \(h)
        #define LM_UNK_ID \(unknownID)
        #define LM_EOS_ID \(endOfSentenceID)

        /* "float32" or "int8" (int8 weights, float32 activations). */
        const char *lm_precision(void);
        /* Bytes of the const weight arrays (scales and biases included). */
        size_t lm_weight_bytes(void);
        /* Zero hidden state (the start of a text). */
        void lm_reset(void);
        /* Feeds one token id (0 <= token < LM_VOCABULARY): updates the hidden state and the logits. */
        void lm_step(int token);
        /* [LM_VOCABULARY] logits of the token after the last one fed (softmax gives the probabilities). */
        const float *lm_logits(void);
        /* The operators lm_step runs in order (embedding, cell nodes, leaf mean, decoder), for the
         * per-operator bench: lm_run_op(0 ... count - 1, token) in order is one lm_step(token). */
        int lm_op_count(void);
        const char *lm_op_name(int op);
        void lm_run_op(int op, int token);

        #endif /* LM_MODEL_H */

        """
    }

    /// Bytes of the weight arrays of this precision.
    var weightBytes: Int {
        let matrices = v * d + (d + h) * 2 * h + weights.nodeWeights.count * h * 2 * h + (weights.shape.tied ? 0 : v * h)
        let gateBiases = weights.gateBiases.count * h  // float32 in both precisions
        guard precision == .int8 else { return 4 * (matrices + v + gateBiases) }
        let scales = v + 2 * (2 * h) + weights.nodeWeights.count * 2 * h + (weights.shape.tied ? 0 : v)
        return matrices + 4 * (scales + v + gateBiases)
    }

    /// The model file (`model.c` or `model_int8.c` / `model_float.c`).
    func source() -> String {
        var out = CWriter()
        let schedule = weights.cell.schedule
        let int8 = precision == .int8
        out.line("""
        /*
         * \(name) \(precision.rawValue): \(description)
         * Cell: \(weights.cell.summary); embed \(d), hidden \(h), vocabulary \(v)\(weights.shape.tied ? ", decoder tied to the embedding" : "").
         * \(int8 ? "Weights int8, symmetric, one float scale per output (column of W [K][N], row of the embedding/decoder); activations float32." : "Weights float32 as trained.")
         * Generated by autoshrink; do not edit (run autoshrink export again). docs/shrinkrnn.md, "Deploy".
         */
        #include "lm_model.h"
        #include "rnn_kernels.h"

        #include <stdint.h>
        #include <string.h>

        #define D LM_EMBED
        #define H LM_HIDDEN
        #define V LM_VOCABULARY

        /* ---- weights ---- */

        """)
        writeMatrix(&out, "embedding", comment: "embedding [V][D]\(weights.shape.tied ? " (also the decoder [V][H])" : "")",
                    values: weights.embedding, rows: v, columns: d, perRow: true)
        writeMatrix(&out, "w0x", comment: "node 0, input half W0x [D][2H]", values: weights.inputWeight, rows: d, columns: 2 * h, perRow: false)
        writeMatrix(&out, "w0h", comment: "node 0, recurrent half W0h [H][2H]", values: weights.recurrentWeight, rows: h, columns: 2 * h, perRow: false)
        for node in schedule.nodes {
            writeMatrix(&out, "w\(node)", comment: "node \(node) (\(weights.cell.activations[node].rawValue)) W_\(node) [H][2H]",
                        values: weights.nodeWeights[node]!, rows: h, columns: 2 * h, perRow: false)
        }
        if let decoder = weights.decoderWeight {
            writeMatrix(&out, "decoder", comment: "decoder [V][H]", values: decoder, rows: v, columns: h, perRow: true)
        }
        out.line("/* decoder bias [V] */")
        out.array("static const float decoder_bias[V]", values: weights.decoderBias.map(cFloat), perLine: 8)
        for node in [0] + schedule.nodes {
            out.line("/* node \(node) gate bias [H]: c = sigmoid(c_pre + b) */")
            out.array("static const float gate_bias\(node)[H]", values: weights.gateBiases[node]!.map(cFloat), perLine: 8)
        }
        out.line()

        // State: h, x, the pre-activations, one state per live node, node inputs that are means.
        out.line("/* ---- state (static: no allocation) ---- */")
        out.line()
        out.line("static float h[H];        /* h_{t-1} before a step, h_t after */")
        out.line("static float x[D];        /* embedded token */")
        out.line("static float pre[2 * H];  /* [gate | transform] pre-activations of the current node */")
        out.line("static float logits[V];")
        let nodes = [0] + schedule.nodes
        for node in nodes { out.line("static float s\(node)[H];       /* state of node \(node) */") }
        for node in schedule.nodes where schedule.predecessors[node]!.count > 1 {
            out.line("static float u\(node)[H];       /* input of node \(node): mean of \(schedule.predecessors[node]!.map { "s\($0)" }.joined(separator: ", ")) */")
        }
        out.line()
        out.line("""
        const char *lm_precision(void)
        {
            return "\(precision.rawValue)";
        }

        size_t lm_weight_bytes(void)
        {
            return \(weightBytes)u;
        }

        void lm_reset(void)
        {
            memset(h, 0, sizeof h);
        }

        const float *lm_logits(void)
        {
            return logits;
        }

        """)
        // One static function per operator (embedding, each node, the leaf mean, the decoder), called in
        // straight line by lm_step and through a table by the harness's per-operator bench.
        var operators: [(function: String, name: String)] = []
        func begin(_ function: String, _ name: String, _ comment: String) {
            operators.append((function, name))
            out.line("/* \(comment) */")
            out.line("static void \(function)(void)")
            out.line("{")
        }
        func end() { out.line("}"); out.line() }
        out.line("static int token_in; /* the token lm_step feeds */")
        out.line()
        begin("op_embedding", "embedding", "x = E[token]")
        out.statement(int8 ? "rnn_embed_s8(x, embedding_q, embedding_scale, token_in, D);" : "rnn_embed_f32(x, embedding, token_in, D);")
        end()
        begin("op_node0", "node 0 (\(weights.cell.activations[0].rawValue))",
              "node 0 (\(weights.cell.activations[0].rawValue)): [c, g] = x W0x + h W0h, s0 = h + sigmoid(c + b0) * (act(g) - h)")
        out.statement(vecmat("pre", "x", "w0x", k: "D", accumulate: false))
        out.statement(vecmat("pre", "h", "w0h", k: "H", accumulate: true))
        writeActivation(&out, node: 0, input: "h")
        end()
        for node in schedule.nodes {
            let predecessors = schedule.predecessors[node]!
            let activation = weights.cell.activations[node].rawValue
            let input: String
            if predecessors.count > 1 {
                input = "u\(node)"
                begin("op_node\(node)", "node \(node) (\(activation))", "node \(node) (\(activation)) <- mean of nodes \(predecessors.map(String.init).joined(separator: ", "))")
                out.statement("rnn_mean(u\(node), (const float *const[]){\(predecessors.map { "s\($0)" }.joined(separator: ", "))}, \(predecessors.count), H);")
            } else {
                input = "s\(predecessors[0])"
                begin("op_node\(node)", "node \(node) (\(activation))", "node \(node) (\(activation)) <- node \(predecessors[0])")
            }
            out.statement(vecmat("pre", input, "w\(node)", k: "H", accumulate: false))
            writeActivation(&out, node: node, input: input)
            end()
        }
        begin("op_output", "h = mean of leaves", "h_t = mean of the leaves (\(schedule.leaves.map { "node \($0)" }.joined(separator: ", ")))")
        out.statement("rnn_mean(h, (const float *const[]){\(schedule.leaves.map { "s\($0)" }.joined(separator: ", "))}, \(schedule.leaves.count), H);")
        end()
        let decoder = weights.shape.tied ? "embedding" : "decoder"
        begin("op_decoder", "decoder", "decoder: logits = \(weights.shape.tied ? "E" : "Wd") h + bias")
        out.statement(int8 ? "rnn_rowdot_s8(logits, h, \(decoder)_q, \(decoder)_scale, decoder_bias, V, H);"
                           : "rnn_rowdot_f32(logits, h, \(decoder), decoder_bias, V, H);")
        end()
        out.line("void lm_step(int token)")
        out.line("{")
        out.line("    token_in = token;")
        for op in operators { out.line("    \(op.function)();") }
        out.line("}")
        out.line()
        out.line("#define OP_COUNT \(operators.count)")
        out.line("static void (*const op_functions[OP_COUNT])(void) = {\(operators.map(\.function).joined(separator: ", "))};")
        out.line("static const char *const op_names[OP_COUNT] = {\(operators.map { "\"\($0.name)\"" }.joined(separator: ", "))};")
        out.line("""

        int lm_op_count(void)
        {
            return OP_COUNT;
        }

        const char *lm_op_name(int op)
        {
            return op_names[op];
        }

        void lm_run_op(int op, int token)
        {
            token_in = token;
            op_functions[op]();
        }
        """)
        return out.text
    }

    private func vecmat(_ y: String, _ x: String, _ w: String, k: String, accumulate: Bool) -> String {
        precision == .int8
            ? "rnn_vecmat_s8(\(y), \(x), \(w)_q, \(w)_scale, \(k), 2 * H, \(accumulate ? 1 : 0));"
            : "rnn_vecmat_f32(\(y), \(x), \(w), \(k), 2 * H, \(accumulate ? 1 : 0));"
    }

    /// Gate, the node's activation and the highway mix into s<node>.
    private func writeActivation(_ out: inout CWriter, node: Int, input: String) {
        out.statement("rnn_sigmoid_bias(pre, pre, gate_bias\(node), H);")
        switch weights.cell.activations[node] {
        case .tanh: out.statement("rnn_tanh(pre + H, pre + H, H);")
        case .relu: out.statement("rnn_relu(pre + H, pre + H, H);")
        case .sigmoid: out.statement("rnn_sigmoid(pre + H, pre + H, H);")
        case .identity: break
        }
        out.statement("rnn_highway(s\(node), pre, pre + H, \(input), H);")
    }

    private func writeMatrix(_ out: inout CWriter, _ name: String, comment: String, values: [Float], rows: Int, columns: Int, perRow: Bool) {
        if precision == .int8 {
            let q = perRow ? Int8Weights.perRow(values, rows: rows, columns: columns) : Int8Weights.perColumn(values, rows: rows, columns: columns)
            out.line("/* \(comment), int8; scale per \(perRow ? "row" : "column") */")
            out.array("static const int8_t \(name)_q[\(q.values.count)]", values: q.values.map { String($0) }, perLine: 32)
            out.array("static const float \(name)_scale[\(q.scales.count)]", values: q.scales.map(cFloat), perLine: 8)
        } else {
            out.line("/* \(comment) */")
            out.array("static const float \(name)[\(values.count)]", values: values.map(cFloat), perLine: 8)
        }
        out.line()
    }

    /// The weights the int8 binary computes with (scale * q), for the Swift twin that checks it.
    static func dequantized(_ weights: LMExportWeights) -> LMExportWeights {
        var result = weights
        let (v, d, h) = (weights.shape.vocabulary, weights.shape.embed, weights.shape.hidden)
        result.embedding = Int8Weights.perRow(weights.embedding, rows: v, columns: d).dequantizedPerRow(columns: d)
        result.inputWeight = Int8Weights.perColumn(weights.inputWeight, rows: d, columns: 2 * h).dequantizedPerColumn(columns: 2 * h)
        result.recurrentWeight = Int8Weights.perColumn(weights.recurrentWeight, rows: h, columns: 2 * h).dequantizedPerColumn(columns: 2 * h)
        result.nodeWeights = weights.nodeWeights.mapValues { Int8Weights.perColumn($0, rows: h, columns: 2 * h).dequantizedPerColumn(columns: 2 * h) }
        result.decoderWeight = weights.decoderWeight.map { Int8Weights.perRow($0, rows: v, columns: h).dequantizedPerRow(columns: h) }
        return result
    }
}
