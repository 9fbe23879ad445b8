import AutoShrinkModel

// Shape probes: operator shapes *around* a cell space, measured with it so that the per-kind cost
// models (OperatorCostModel) see how each kernel's time moves with channels, resolution and stride
// beyond the few values the space itself produces (a 5-node space has only three KxK convolutions).
// They are what lets the predictor estimate width-scaled networks, other stage widths and stride-2
// stems (docs/devices.md, "Predictor"). Sizes are multiples of the space's first stage width W and
// its input side H: about 80 shapes, a fifth of the quick space's table.

extension ProfileSpace {
    /// The probe shapes of a space whose first stage is `width` channels wide on `input` (int8; the
    /// caller copies them per data type). Sides that would be odd for a pool are skipped.
    static func probeOperators(input: InputShape, width: Int) -> [OperatorConfiguration] {
        let w = max(2, width)
        let side = input.height, sideW = input.width
        func sides(_ divisors: [Int]) -> [(Int, Int)] {
            divisors.compactMap { d in side / d >= 2 && sideW / d >= 2 ? (side / d, sideW / d) : nil }
        }
        var result: [OperatorConfiguration] = []
        func add(_ kind: OperatorKind, _ inputChannels: Int, _ outputChannels: Int, _ size: (Int, Int), stride: Int = 1,
                 kernel: Int = 1, inputs: Int = 1) {
            result.append(OperatorConfiguration(kind: kind, dtype: .int8, inputChannels: inputChannels, outputChannels: outputChannels,
                                                height: size.0, width: size.1, stride: stride, kernel: kernel, inputs: inputs))
        }
        // KxK convolutions (stems): from the image and between feature maps, both strides.
        for size in sides([1, 2]) {
            for stride in [1, 2] {
                for (cin, cout) in [(input.channels, w / 2), (input.channels, 2 * w), (input.channels, 4 * w),
                                    (w / 2, w), (w, 2 * w), (2 * w, 4 * w)] {
                    add(.convolution, cin, cout, size, stride: stride, kernel: 3)
                }
            }
        }
        // Pointwise: narrow, wide and unbalanced, four resolutions (down to the 4x4 maps of stride-2
        // stems); stride 2 (residual projections).
        for size in sides([1, 2, 4, 7]) {
            for (cin, cout) in [(w / 2, w / 2), (w / 2, 4 * w), (6 * w, w), (8 * w, 8 * w), (3 * w / 2, 5 * w / 2)] {
                add(.pointwise, cin, cout, size)
            }
        }
        for size in sides([1, 2]) {
            for (cin, cout) in [(w / 2, 2 * w), (2 * w, 4 * w)] { add(.pointwise, cin, cout, size, stride: 2) }
        }
        // Depthwise 3x3.
        for size in sides([1, 2, 4, 7]) {
            for channels in [w / 2, 3 * w / 2, 8 * w] { add(.depthwise, channels, channels, size, kernel: 3) }
        }
        for size in sides([1, 2]) {
            for channels in [w / 2, 8 * w] { add(.depthwise, channels, channels, size, stride: 2, kernel: 3) }
        }
        // Memory operators.
        for size in sides([1, 2]) where size.0 % 2 == 0 && size.1 % 2 == 0 {
            for channels in [w / 2, 8 * w] { add(.maxPool, channels, channels, size, stride: 2, kernel: 2) }
        }
        for size in sides([1, 4]) {
            for channels in [w / 2, 8 * w] { add(.add, channels, channels, size, inputs: 2) }
        }
        for size in sides([2, 4]) {
            for channels in [w / 2, 8 * w, 16 * w] { add(.globalAveragePool, channels, channels, size) }
        }
        for size in sides([2, 4]) {
            for (channels, parts) in [(3 * w, 2), (3 * w, 3), (8 * w, 2), (12 * w, 4)] { add(.concat, channels, channels, size, inputs: parts) }
        }
        // Concats with uneven parts, as cells copy them (a cell input of another width beside node outputs;
        // requantized, or copied as they are when they share the concat's quantization), at three
        // resolutions and with widths past whole blocks of 16 (ConcatPart).
        for size in sides([1, 2, 4]) {
            for parts in [[(2 * w, true), (w, true)], [(2 * w, true), (3 * w, false)], [(w, true), (w, false), (w, true)],
                          [(3 * w / 2, true), (3 * w / 2, true)], [(5 * w / 2, true), (3 * w / 2, false), (5 * w / 2, true)]] {
                guard parts.allSatisfy({ $0.0 >= 1 }) else { continue }
                result.append(.concat(parts.map { ConcatPart(channels: $0.0, requantized: $0.1) }, dtype: .int8, height: size.0, width: size.1))
            }
        }
        add(.linear, w / 2, 10, (1, 1))
        add(.linear, 16 * w, 10, (1, 1))
        return result.filter { $0.inputChannels >= 1 && $0.outputChannels >= 1 && $0.inputChannels <= InputLimits.maximumChannels
            && $0.outputChannels <= InputLimits.maximumChannels }
    }
}

extension ProfileSpace {
    /// Probe networks around the space, timed with its sampled networks (they take the place of random
    /// ones, so the count stays `--networks`): refnet scaled to 0.625x, 1.25x and 2.5x (and 1.25x with a
    /// stride-2 first layer), and the space's full network with 0.75x and 1.5x stage widths, two cells per
    /// stage, and a stride-2 stem. Their layers are mostly not in the table, so the latency model is fitted
    /// and chosen on networks whose shapes it had to estimate, as it will be on architectures outside the
    /// space. Networks that fail the architecture checks (odd maps before a pool) are left out.
    func probeNetworks() -> [SampledNetwork] {
        var result: [SampledNetwork] = []
        func add(_ architecture: Architecture, edges: Int?) {
            guard (try? architecture.validate(source: architecture.name)) != nil else { return }
            result.append(SampledNetwork(name: architecture.name, architecture: architecture, edges: edges))
        }
        let refnet = BuiltinArchitectures.refnet(input: input, classes: classes)
        for (scale, label, firstStride) in [(0.625, "0.625x", 1), (1.25, "1.25x", 1), (2.5, "2.5x", 1), (1.25, "1.25x-s2", 2)] {
            var scaled = refnet
            scaled.name = "probe-refnet-\(label)"
            for index in scaled.stem.indices {
                scaled.stem[index].outputChannels = max(4, Int((Double(refnet.stem[index].outputChannels) * scale / 4).rounded()) * 4)
            }
            scaled.stem[0].stride = firstStride
            add(scaled, edges: nil)
        }
        guard let base, let cell = base.cell else { return result }
        for (scale, label) in [(0.75, "0.75x"), (1.5, "1.5x")] {
            var scaled = base
            scaled.name = "probe-cells-\(label)"
            scaled.stages = base.stages.map { stage in
                var scaled = stage
                scaled.width = max(2, Int((Double(stage.width) * scale / 2).rounded()) * 2)
                return scaled
            }
            add(scaled, edges: cell.edges.count)
        }
        var deeper = base
        deeper.name = "probe-cells-2x"
        deeper.stages = base.stages.map { stage in
            var deeper = stage
            deeper.cells *= 2
            return deeper
        }
        add(deeper, edges: cell.edges.count)
        if !base.stem.isEmpty {
            var strided = base
            strided.name = "probe-cells-s2stem"
            strided.stem[0].stride = 2
            strided.stages = base.stages.enumerated().map { index, stage in
                var strided = stage
                if index == 1 { strided.pool = 1 }
                return strided
            }
            add(strided, edges: cell.edges.count)
        }
        return result
    }
}
