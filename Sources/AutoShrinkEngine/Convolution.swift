import Foundation

/// 2-D convolution without bias on CNHW feature maps: any kernel, stride, padding and groups.
/// Weights are [outputChannels, inputChannels/groups, kernel, kernel].
///
/// Strategy: depthwise (groups == in == out) runs a direct kernel per channel; 1x1 stride-1
/// convolutions are one GEMM straight on the input (CNHW makes X a [Cin, N*H*W] matrix); all
/// others im2col the whole batch into cols[Cin*k*k, N*Ho*Wo] and run one GEMM per group,
/// whose result is already the CNHW output.
public final class Convolution: InferenceFusable {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let groups: Int
    public let weight: Parameter
    public var parameters: [Parameter] { [weight] }

    private let depthwise = DepthwiseKernels()
    private let columns = Scratch()          // im2col of the forward input, kept for backward
    private let blockColumns = ChunkScratch() // per-chunk im2col blocks of the inference path
    private let columnGradient = Scratch()

    public init(name: String, inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int = 1,
                padding: Int? = nil, groups: Int = 1) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0, "channels must divide by groups")
        self.inputChannels = inputChannels; self.outputChannels = outputChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding ?? kernel / 2; self.groups = groups
        weight = Parameter(name: name + ".weight", shape: [outputChannels, inputChannels / groups, kernel, kernel], decay: true)
    }

    public var isDepthwise: Bool { groups > 1 && groups == inputChannels && groups == outputChannels }
    var isDirectPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 && groups == 1 }
    /// Rows of one group's im2col matrix: (inputChannels/groups) * kernel * kernel.
    var patch: Int { inputChannels / groups * kernel * kernel }

    func outputSize(_ size: Int) -> Int { (size + 2 * padding - kernel) / stride + 1 }

    public func outputShape(for inputs: [ValueShape]) -> ValueShape {
        precondition(inputs[0].channels == inputChannels, "\(weight.name): expected \(inputChannels) input channels, got \(inputs[0].channels)")
        return ValueShape(channels: outputChannels, height: outputSize(inputs[0].height), width: outputSize(inputs[0].width))
    }

    public func prepare(batch: Int, inputs: [ValueShape]) {
        guard !isDepthwise, !isDirectPointwise else { return }
        let out = outputShape(for: inputs)
        let count = inputChannels * kernel * kernel * batch * out.height * out.width
        _ = columns.ensure(count)
        _ = columnGradient.ensure(count)
    }

    /// Kaiming-normal (fan-in, ReLU gain) initialisation.
    public func initialize(using generator: inout some RandomNumberGenerator) {
        let fanIn = Float(inputChannels / groups * kernel * kernel)
        Initialization.normal(weight.value, standardDeviation: (2 / fanIn).squareRoot(), using: &generator)
    }

    public func forward(inputs: [FeatureMap], output: FeatureMap, training: Bool, context: ExecutionContext) {
        let input = inputs[0]
        if !training {
            forwardInference(inputs: inputs, output: output, epilogue: nil, context: context)
            return
        }
        if isDepthwise {
            depthwise.forward(input: input, weights: weight.value.data, output: output,
                              kernel: kernel, stride: stride, padding: padding, epilogue: nil, context: context)
            return
        }
        forwardWhole(input: input, output: output, context: context)
    }

    /// Inference, with `epilogue` (a following batch norm) applied to each piece of output as it is made.
    public func forwardInference(inputs: [FeatureMap], output: FeatureMap, epilogue: ChannelAffine?, context: ExecutionContext) {
        let input = inputs[0]
        if isDepthwise {
            depthwise.forward(input: input, weights: weight.value.data, output: output,
                              kernel: kernel, stride: stride, padding: padding, epilogue: epilogue, context: context)
        } else if groups == 1 {
            forwardInBlocks(input: input, output: output, epilogue: epilogue, context: context)
        } else {
            forwardWhole(input: input, output: output, context: context)
            if let epilogue {
                context.parallelFor(outputChannels) { range in
                    for c in range { epilogue.apply(channel: c, output.channel(c), count: output.channelStride) }
                }
            }
        }
    }

    /// The whole batch at once: im2col of every image (kept for backward), one GEMM per group.
    private func forwardWhole(input: FeatureMap, output: FeatureMap, context: ExecutionContext) {
        let columnsCount = output.batch * output.plane
        let source: UnsafeMutablePointer<Float>
        if isDirectPointwise {
            source = input.data
        } else {
            source = columns.ensure(inputChannels * kernel * kernel * columnsCount)
            Im2Col.pack(input: input, columns: source, kernel: kernel, stride: stride, padding: padding,
                        outputHeight: output.height, outputWidth: output.width, context: context)
        }
        let outputPerGroup = outputChannels / groups
        for group in 0..<groups {
            GEMM.multiply(m: outputPerGroup, n: columnsCount, k: patch,
                          a: weight.value.data + group * outputPerGroup * patch, lda: patch,
                          b: source + group * patch * columnsCount, ldb: columnsCount,
                          c: output.data + group * outputPerGroup * columnsCount, ldc: columnsCount, context: context)
        }
    }

    /// Inference (nothing kept for backward): im2col and GEMM one block of images at a time, so each
    /// block's columns (about 256 KiB) stay in cache instead of a whole-batch column matrix making a
    /// round trip through memory; a 1x1 stride-1 convolution multiplies the block's input columns
    /// in place. Blocks are fixed by the shapes, not by the thread count, every block is one
    /// single-threaded sgemm writing its own output columns, and `epilogue` runs on those columns
    /// right after, while they are in cache.
    private func forwardInBlocks(input: FeatureMap, output: FeatureMap, epilogue: ChannelAffine?, context: ExecutionContext) {
        let plane = output.plane
        let capacity = max(1, 65_536 / (patch * plane))  // images per block at most; fixed per layer, so buffers are reused
        // Equal blocks, at least 8 and a multiple of 8 when the batch allows, so that whole blocks
        // share out evenly over 2, 4 or 8 threads (7 blocks on 2 threads would leave one idle 1/7 of
        // the time). The blocks depend on the batch and the layer only.
        var wanted = (input.batch + capacity - 1) / capacity
        if input.batch >= 8 { wanted = (max(wanted, 8) + 7) / 8 * 8 }
        let imagesPerBlock = (input.batch + min(wanted, input.batch) - 1) / min(wanted, input.batch)
        let blocks = (input.batch + imagesPerBlock - 1) / imagesPerBlock
        let direct = isDirectPointwise
        let buffers = direct ? [] : blockColumns.buffers(chunks: context.chunkCount(blocks), size: patch * capacity * plane, layout: [])
        let rowLength = output.batch * plane
        context.parallelChunks(blocks) { chunk, range in
            for block in range {
                let first = block * imagesPerBlock, count = min(imagesPerBlock, input.batch - first)
                let columns: UnsafeMutablePointer<Float>, columnStride: Int
                if direct {
                    columns = input.data + first * plane; columnStride = input.batch * plane
                } else {
                    columns = buffers[chunk]; columnStride = count * plane
                    Im2Col.pack(input: input, images: first..<(first + count), columns: columns, kernel: kernel,
                                stride: stride, padding: padding, outputHeight: output.height, outputWidth: output.width)
                }
                let destination = output.data + first * plane
                GEMM.multiplyInOneCall(m: outputChannels, n: count * plane, k: patch, a: weight.value.data, lda: patch,
                                       b: columns, ldb: columnStride, c: destination, ldc: rowLength)
                if let epilogue {
                    for c in 0..<outputChannels { epilogue.apply(channel: c, destination + c * rowLength, count: count * plane) }
                }
            }
        }
    }

    public func backward(inputs: [FeatureMap], output: FeatureMap, outputGradient: FeatureMap,
                         inputGradients: [FeatureMap?], accumulate: [Bool], context: ExecutionContext) {
        let input = inputs[0]
        if isDepthwise {
            depthwise.backward(input: input, weights: weight.value.data, weightGradient: weight.gradient.data,
                                      outputGradient: outputGradient, inputGradient: inputGradients[0],
                                      accumulateInput: accumulate[0], kernel: kernel, stride: stride,
                                      padding: padding, context: context)
            return
        }
        let columnsCount = output.batch * output.plane
        let source = isDirectPointwise ? input.data : columns.data
        let outputPerGroup = outputChannels / groups
        // dW_g[Cout_g, patch] = dY_g[Cout_g, cols] x cols_g^T
        var products = (0..<groups).map { group in
            GEMM.Product(transposeB: true, m: outputPerGroup, n: patch, k: columnsCount,
                         a: outputGradient.data + group * outputPerGroup * columnsCount, lda: columnsCount,
                         b: source + group * patch * columnsCount, ldb: columnsCount,
                         c: weight.gradient.data + group * outputPerGroup * patch, ldc: patch)
        }
        var gradientColumns: UnsafeMutablePointer<Float>?
        if let inputGradient = inputGradients[0] {
            if isDirectPointwise {
                // dX[Cin, cols] (+)= W^T x dY
                products.append(GEMM.Product(transposeA: true, m: inputChannels, n: columnsCount, k: outputChannels,
                                             a: weight.value.data, lda: inputChannels, b: outputGradient.data, ldb: columnsCount,
                                             beta: accumulate[0] ? 1 : 0, c: inputGradient.data, ldc: columnsCount))
            } else {
                let columns = columnGradient.ensure(inputChannels * kernel * kernel * columnsCount)
                gradientColumns = columns
                for group in 0..<groups {
                    products.append(GEMM.Product(transposeA: true, m: patch, n: columnsCount, k: outputPerGroup,
                                                 a: weight.value.data + group * outputPerGroup * patch, lda: patch,
                                                 b: outputGradient.data + group * outputPerGroup * columnsCount, ldb: columnsCount,
                                                 c: columns + group * patch * columnsCount, ldc: columnsCount))
                }
            }
        }
        // The weight- and input-gradient GEMMs are independent: their blocks run as one set of tasks, so a
        // weight gradient that is one call (its split dimension is short) overlaps the input gradient's blocks
        // instead of running alone; the calls are those GEMM.multiply makes (docs/architecture.md, "Threads").
        let tasks = products.flatMap { product in (0..<product.blocks).map { (product, $0) } }
        context.parallelTasks(tasks.count) { task in tasks[task].0.run(block: tasks[task].1) }
        guard let inputGradient = inputGradients[0], let gradientColumns else { return }
        Im2Col.unpack(columns: gradientColumns, inputGradient: inputGradient, accumulate: accumulate[0],
                      kernel: kernel, stride: stride, padding: padding,
                      outputHeight: output.height, outputWidth: output.width, context: context)
    }
}

/// Copies a short row with an inlined loop: rows here are 7..32 floats, where a memmove call
/// costs more than the copy.
@inline(__always)
func copyRow(_ destination: UnsafeMutablePointer<Float>, _ source: UnsafePointer<Float>, _ count: Int) {
    for i in 0..<count { destination[i] = source[i] }
}

/// im2col / col2im for CNHW batches. Row r = (c, ky, kx) of cols[C*k*k, N*Ho*Wo];
/// column (n, oy, ox) holds input (c, n, oy*stride - padding + ky, ox*stride - padding + kx) or 0.
///
/// Work is split over images. Each (channel, image) plane is first copied into a small
/// zero-bordered plane P (H + 2*padding) x (W + 2*padding) kept in L1, so the gathers need no
/// bounds checks: cols(c, ky, kx)[n, oy, ox] = P[oy*stride + ky][ox*stride + kx].
enum Im2Col {
    struct Geometry {
        let height: Int, width: Int, outputHeight: Int, outputWidth: Int, kernel: Int, stride: Int, padding: Int
        var paddedWidth: Int { width + 2 * padding }
        var paddedCount: Int { (height + 2 * padding) * paddedWidth }
    }

    static func pack(input: FeatureMap, columns: UnsafeMutablePointer<Float>, kernel: Int, stride: Int, padding: Int,
                     outputHeight: Int, outputWidth: Int, context: ExecutionContext) {
        let g = Geometry(height: input.height, width: input.width, outputHeight: outputHeight, outputWidth: outputWidth,
                         kernel: kernel, stride: stride, padding: padding)
        context.parallelFor(input.batch) { images in
            pack(input: input, images: images, into: columns, firstImage: 0, rowLength: input.batch * outputHeight * outputWidth, g)
        }
    }

    /// Packs `images` of the batch: the columns of image n start at (n - firstImage) * outputPlane in
    /// rows of `rowLength`, i.e. a block [C*K*K][images.count * outputPlane] when firstImage is
    /// images.lowerBound.
    static func pack(input: FeatureMap, images: Range<Int>, columns: UnsafeMutablePointer<Float>, kernel: Int, stride: Int,
                     padding: Int, outputHeight: Int, outputWidth: Int) {
        let g = Geometry(height: input.height, width: input.width, outputHeight: outputHeight, outputWidth: outputWidth,
                         kernel: kernel, stride: stride, padding: padding)
        pack(input: input, images: images, into: columns, firstImage: images.lowerBound,
             rowLength: images.count * outputHeight * outputWidth, g)
    }

    private static func pack(input: FeatureMap, images: Range<Int>, into columns: UnsafeMutablePointer<Float>,
                             firstImage: Int, rowLength: Int, _ g: Geometry) {
        let kernel = g.kernel, stride = g.stride, padding = g.padding
        let outputHeight = g.outputHeight, outputWidth = g.outputWidth
        let outputPlane = outputHeight * outputWidth
        if stride == 2 {
            packStrideTwo(input: input, images: images, into: columns, firstImage: firstImage, rowLength: rowLength, g)
            return
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: g.paddedCount) { buffer in
            let padded = buffer.baseAddress!
            padded.update(repeating: 0, count: g.paddedCount)
            for n in images {
                for c in 0..<input.channels {
                    let source = input.channel(c) + n * input.plane
                    for y in 0..<g.height {
                        copyRow(padded + (y + padding) * g.paddedWidth + padding, source + y * g.width, g.width)
                    }
                    for ky in 0..<kernel {
                        for kx in 0..<kernel {
                            let destination = columns + ((c * kernel + ky) * kernel + kx) * rowLength + (n - firstImage) * outputPlane
                            for oy in 0..<outputHeight {
                                let from = padded + (oy * stride + ky) * g.paddedWidth + kx
                                let to = destination + oy * outputWidth
                                if stride == 1 {
                                    copyRow(to, from, outputWidth)
                                } else {
                                    for ox in 0..<outputWidth { to[ox] = from[ox * stride] }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Stride 2: the padded plane P is split into four phase planes Q[a][b][i][j] = P[2i+a][2j+b]
    /// (QH = ceil(PH/2), QW = ceil(PW/2)), so row oy of tap (ky, kx) is the contiguous run
    /// Q[ky%2][kx%2][oy + ky/2][kx/2 ..< kx/2 + Wo] and every gather is a plain row copy.
    /// The same values as strided gathers from P, so results do not change.
    private static func packStrideTwo(input: FeatureMap, images: Range<Int>, into columns: UnsafeMutablePointer<Float>,
                                      firstImage: Int, rowLength: Int, _ g: Geometry) {
        let kernel = g.kernel, padding = g.padding
        let outputHeight = g.outputHeight, outputWidth = g.outputWidth, outputPlane = outputHeight * outputWidth
        let phaseWidth = (g.paddedWidth + 1) / 2, phasePlane = ((g.height + 2 * padding + 1) / 2) * phaseWidth
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * phasePlane) { buffer in
            let phases = buffer.baseAddress!
            // Positions that map to padding (or past P's edge) are never written below, so they stay zero.
            phases.update(repeating: 0, count: 4 * phasePlane)
            for n in images {
                for c in 0..<input.channels {
                    let source = input.channel(c) + n * input.plane
                    for y in 0..<g.height {
                        let py = y + padding
                        let row = source + y * g.width
                        let even = phases + ((py & 1) * 2) * phasePlane + (py >> 1) * phaseWidth
                        let odd = even + phasePlane
                        for x in 0..<g.width {
                            let px = x + padding
                            (px & 1 == 0 ? even : odd)[px >> 1] = row[x]
                        }
                    }
                    for ky in 0..<kernel {
                        for kx in 0..<kernel {
                            let destination = columns + ((c * kernel + ky) * kernel + kx) * rowLength + (n - firstImage) * outputPlane
                            let phase = phases + ((ky & 1) * 2 + (kx & 1)) * phasePlane + (ky >> 1) * phaseWidth + (kx >> 1)
                            for oy in 0..<outputHeight {
                                copyRow(destination + oy * outputWidth, phase + oy * phaseWidth, outputWidth)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds (or writes, when `accumulate` is false) the column gradients back into the input gradient.
    static func unpack(columns: UnsafeMutablePointer<Float>, inputGradient: FeatureMap, accumulate: Bool,
                       kernel: Int, stride: Int, padding: Int, outputHeight: Int, outputWidth: Int,
                       context: ExecutionContext) {
        let g = Geometry(height: inputGradient.height, width: inputGradient.width, outputHeight: outputHeight,
                         outputWidth: outputWidth, kernel: kernel, stride: stride, padding: padding)
        let outputPlane = outputHeight * outputWidth
        let rowLength = inputGradient.batch * outputPlane
        context.parallelFor(inputGradient.batch) { images in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: g.paddedCount) { buffer in
                let padded = buffer.baseAddress!
                for n in images {
                    for c in 0..<inputGradient.channels {
                        padded.update(repeating: 0, count: g.paddedCount)
                        for ky in 0..<kernel {
                            for kx in 0..<kernel {
                                let source = columns + ((c * kernel + ky) * kernel + kx) * rowLength + n * outputPlane
                                for oy in 0..<outputHeight {
                                    let to = padded + (oy * stride + ky) * g.paddedWidth + kx
                                    let from = source + oy * outputWidth
                                    if stride == 1 {
                                        for ox in 0..<outputWidth { to[ox] += from[ox] }
                                    } else {
                                        for ox in 0..<outputWidth { to[ox * stride] += from[ox] }
                                    }
                                }
                            }
                        }
                        let destination = inputGradient.channel(c) + n * inputGradient.plane
                        for y in 0..<g.height {
                            let from = padded + (y + padding) * g.paddedWidth + padding
                            let row = destination + y * g.width
                            if accumulate {
                                for x in 0..<g.width { row[x] += from[x] }
                            } else {
                                copyRow(row, from, g.width)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Direct depthwise convolution (one KxK filter per channel), parallel over channels.
///
/// For one channel, a block of B images is copied into a stack of zero-padded planes
/// S[B][PH][PW] (PH = H + 2*padding, PW = W + 2*padding). In that layout every filter tap is a
/// fixed offset `ky*PW + kx`, so the stride-1 convolution of the whole block is
///     wide[j] = sum over taps of w[tap] * S[j + offset(tap)],
/// one long contiguous multiply-add per tap that the compiler vectorises. Output pixel
/// (n, oy, ox) is wide[n*PH*PW + (oy*stride)*PW + ox*stride]; the other positions are junk and
/// are skipped (forward) or hold zero gradient (backward). Backward at stride 2 works on the
/// stride-1 layout (4x the multiply-adds, but vector ones instead of scalar gathers); forward at
/// stride 2 uses four phase planes instead (`forwardStrideTwo`), with no wasted work.
/// Backward uses the same layout: with G the output gradient scattered into wide positions,
///     dW[tap] = sum_j G[j] * S[j + offset(tap)]  and  dS[i] = sum over taps of w[tap] * G[i - offset(tap)].
final class DepthwiseKernels {
    struct Geometry {
        let height: Int, width: Int, outputHeight: Int, outputWidth: Int
        let kernel: Int, stride: Int, padding: Int, batch: Int
        var paddedHeight: Int { height + 2 * padding }
        var paddedWidth: Int { width + 2 * padding }
        var paddedPlane: Int { paddedHeight * paddedWidth }
        /// Images per block: as many padded planes as fit in ~16 KiB (L1), at least one.
        var block: Int { max(1, min(batch, 4096 / paddedPlane)) }
        /// Largest tap offset: (K-1)*PW + (K-1).
        var margin: Int { (kernel - 1) * paddedWidth + kernel - 1 }
        func offset(_ tap: Int) -> Int { (tap / kernel) * paddedWidth + tap % kernel }
        func widePosition(_ n: Int, _ oy: Int, _ ox: Int) -> Int { n * paddedPlane + oy * stride * paddedWidth + ox * stride }
    }

    /// Per-chunk scratch, laid out as [stack | forward wide | margin zeros | gradient G | stack gradient].
    /// Zeroed only when (re)allocated: stack borders and G's junk positions are never written, every
    /// other position is fully overwritten before it is read.
    private let scratch = ChunkScratch()

    private func buffers(chunks: Int, _ g: Geometry) -> [UnsafeMutablePointer<Float>] {
        scratch.buffers(chunks: chunks, size: 4 * g.block * g.paddedPlane + g.margin, layout: [g.paddedPlane, g.block, g.margin])
    }

    /// wide[j] = w[0]*S_0[j] + w[1]*S_1[j] + ... + w[taps-1]*S_{taps-1}[j] for j in 0..<length, where
    /// S_t = `source(t)`. The taps are summed left to right for every j, exactly the sums of one
    /// multiply-add pass per tap, but 32 outputs at a time stay in registers across all taps, so
    /// `wide` is written once instead of read and written once per tap.
    @inline(__always)
    static func sumTaps(into wide: UnsafeMutablePointer<Float>, length: Int, weights: UnsafePointer<Float>, taps: Int,
                        source: (Int) -> UnsafePointer<Float>) {
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: taps) { sources in
            for tap in 0..<taps { sources[tap] = source(tap) }
            @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> { Reductions.load8(p) }
            @inline(__always) func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
                UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
            }
            var j = 0
            while j + 32 <= length {
                var w = SIMD8<Float>(repeating: weights[0])
                var p = sources[0] + j
                var a0 = w * load(p), a1 = w * load(p + 8), a2 = w * load(p + 16), a3 = w * load(p + 24)
                for tap in 1..<taps {
                    w = SIMD8<Float>(repeating: weights[tap]); p = sources[tap] + j
                    a0 += w * load(p); a1 += w * load(p + 8); a2 += w * load(p + 16); a3 += w * load(p + 24)
                }
                store(a0, wide + j); store(a1, wide + j + 8); store(a2, wide + j + 16); store(a3, wide + j + 24)
                j += 32
            }
            while j + 8 <= length {
                var a = SIMD8<Float>(repeating: weights[0]) * load(sources[0] + j)
                for tap in 1..<taps { a += SIMD8<Float>(repeating: weights[tap]) * load(sources[tap] + j) }
                store(a, wide + j)
                j += 8
            }
            while j < length {
                var a = weights[0] * sources[0][j]
                for tap in 1..<taps { a += weights[tap] * sources[tap][j] }
                wide[j] = a
                j += 1
            }
        }
    }

    /// Copies images first..<first+count of one channel plane set into the padded stack (interiors only).
    @inline(__always)
    private static func fill(_ stack: UnsafeMutablePointer<Float>, from source: UnsafePointer<Float>, count: Int, _ g: Geometry) {
        for n in 0..<count {
            for y in 0..<g.height {
                copyRow(stack + n * g.paddedPlane + (y + g.padding) * g.paddedWidth + g.padding,
                        source + (n * g.height + y) * g.width, g.width)
            }
        }
    }

    /// `epilogue` (a following batch norm at inference) is applied to each block of a channel's
    /// output right after it is written.
    func forward(input: FeatureMap, weights: UnsafeMutablePointer<Float>, output: FeatureMap,
                 kernel: Int, stride: Int, padding: Int, epilogue: ChannelAffine?, context: ExecutionContext) {
        let g = Geometry(height: input.height, width: input.width, outputHeight: output.height, outputWidth: output.width,
                         kernel: kernel, stride: stride, padding: padding, batch: input.batch)
        if stride == 2 {
            forwardStrideTwo(input: input, weights: weights, output: output, g, epilogue: epilogue, context: context)
            return
        }
        let chunkBuffers = buffers(chunks: context.chunkCount(input.channels), g)
        let taps = kernel * kernel
        context.parallelChunks(input.channels) { chunk, range in
            let stack = chunkBuffers[chunk], wide = stack + g.block * g.paddedPlane
            for c in range {
                let filter = weights + c * taps
                var first = 0
                while first < input.batch {
                    let count = min(g.block, input.batch - first)
                    DepthwiseKernels.fill(stack, from: input.channel(c) + first * input.plane, count: count, g)
                    let length = count * g.paddedPlane - g.margin
                    DepthwiseKernels.sumTaps(into: wide, length: length, weights: filter, taps: taps) { UnsafePointer(stack + g.offset($0)) }
                    let destination = output.channel(c) + first * output.plane
                    for n in 0..<count {
                        for oy in 0..<g.outputHeight {
                            let row = destination + (n * g.outputHeight + oy) * g.outputWidth
                            let source = wide + g.widePosition(n, oy, 0)
                            if stride == 1 {
                                copyRow(row, source, g.outputWidth)
                            } else {
                                for ox in 0..<g.outputWidth { row[ox] = source[ox * stride] }
                            }
                        }
                    }
                    epilogue?.apply(channel: c, destination, count: count * output.plane)
                    first += count
                }
            }
        }
    }

    /// Stride 2 forward without the 4x waste of subsampling a stride-1 result: the padded plane P
    /// is split into four phase planes Q[a][b][i][j] = P[2i+a][2j+b] (QH = ceil(PH/2), QW = ceil(PW/2)),
    /// so tap (ky, kx) reads phase (ky%2, kx%2) at the fixed offset (ky/2)*QW + kx/2 and
    ///     wide[j] = sum over taps of w[tap] * Q[phase(tap)][j + offset(tap)]
    /// is again one contiguous multiply-add per tap; output (n, oy, ox) = wide[n*QH*QW + oy*QW + ox].
    private func forwardStrideTwo(input: FeatureMap, weights: UnsafeMutablePointer<Float>, output: FeatureMap,
                                  _ g: Geometry, epilogue: ChannelAffine?, context: ExecutionContext) {
        let phaseWidth = (g.paddedWidth + 1) / 2, phasePlane = ((g.paddedHeight + 1) / 2) * phaseWidth
        let block = g.block, half = (g.kernel - 1) / 2
        let margin = half * phaseWidth + half
        let stack = block * phasePlane
        let taps = g.kernel * g.kernel
        let chunks = context.chunkCount(input.channels)
        // [4 phase stacks | wide]; phase positions that map to padding are never written, so they stay zero.
        let buffers = phaseScratch.buffers(chunks: chunks, size: 5 * stack, layout: [phasePlane, block, margin])
        context.parallelChunks(input.channels) { chunk, range in
            let phases = buffers[chunk], wide = phases + 4 * stack
            for c in range {
                let filter = weights + c * taps
                var first = 0
                while first < input.batch {
                    let count = min(block, input.batch - first)
                    let source = input.channel(c) + first * input.plane
                    for n in 0..<count {
                        for y in 0..<g.height {
                            let py = y + g.padding
                            let row = source + (n * g.height + y) * g.width
                            let base = phases + (py & 1) * 2 * stack + n * phasePlane + (py >> 1) * phaseWidth
                            for x in 0..<g.width {
                                let px = x + g.padding
                                base[(px & 1) * stack + (px >> 1)] = row[x]
                            }
                        }
                    }
                    let length = count * phasePlane - margin
                    DepthwiseKernels.sumTaps(into: wide, length: length, weights: filter, taps: taps) { tap in
                        let ky = tap / g.kernel, kx = tap % g.kernel
                        let phase: Int = ((ky & 1) * 2 + (kx & 1)) * stack
                        let offset: Int = (ky >> 1) * phaseWidth + (kx >> 1)
                        return UnsafePointer(phases + phase + offset)
                    }
                    let destination = output.channel(c) + first * output.plane
                    for n in 0..<count {
                        for oy in 0..<g.outputHeight {
                            copyRow(destination + (n * g.outputHeight + oy) * g.outputWidth,
                                    wide + n * phasePlane + oy * phaseWidth, g.outputWidth)
                        }
                    }
                    epilogue?.apply(channel: c, destination, count: count * output.plane)
                    first += count
                }
            }
        }
    }

    private let phaseScratch = ChunkScratch()

    func backward(input: FeatureMap, weights: UnsafeMutablePointer<Float>, weightGradient: UnsafeMutablePointer<Float>,
                  outputGradient: FeatureMap, inputGradient: FeatureMap?, accumulateInput: Bool,
                  kernel: Int, stride: Int, padding: Int, context: ExecutionContext) {
        let g = Geometry(height: input.height, width: input.width, outputHeight: outputGradient.height,
                         outputWidth: outputGradient.width, kernel: kernel, stride: stride, padding: padding, batch: input.batch)
        let chunkBuffers = buffers(chunks: context.chunkCount(input.channels), g)
        let taps = kernel * kernel
        context.parallelChunks(input.channels) { chunk, range in
            let stackSize = g.block * g.paddedPlane
            let stack = chunkBuffers[chunk]
            let gradient = stack + 2 * stackSize + g.margin    // G[j], with g.margin zeros before index 0
            let stackGradient = gradient + stackSize
            for c in range {
                let filter = weights + c * taps
                let filterGradient = weightGradient + c * taps
                filterGradient.update(repeating: 0, count: taps)
                var first = 0
                while first < input.batch {
                    let count = min(g.block, input.batch - first)
                    let total = count * g.paddedPlane
                    DepthwiseKernels.fill(stack, from: input.channel(c) + first * input.plane, count: count, g)
                    let dy = outputGradient.channel(c) + first * outputGradient.plane
                    for n in 0..<count {
                        for oy in 0..<g.outputHeight {
                            let row = dy + (n * g.outputHeight + oy) * g.outputWidth
                            let target = gradient + g.widePosition(n, oy, 0)
                            if stride == 1 {
                                copyRow(target, row, g.outputWidth)
                            } else {
                                for ox in 0..<g.outputWidth { target[ox * stride] = row[ox] }
                            }
                        }
                    }
                    for tap in 0..<taps {
                        let offset = g.offset(tap)
                        filterGradient[tap] += Reductions.dot(gradient, stack + offset, total - offset)
                    }
                    guard let inputGradient else { first += count; continue }
                    // stackGradient[i] = sum over taps of w[t] * G[i - offset(t)], the taps summed in order with
                    // the sums kept in registers (one pass over the stack, not one per tap)
                    DepthwiseKernels.sumTaps(into: stackGradient, length: total, weights: filter, taps: taps) {
                        UnsafePointer(gradient - g.offset($0))
                    }
                    let destination = inputGradient.channel(c) + first * inputGradient.plane
                    for n in 0..<count {
                        for y in 0..<g.height {
                            let source = stackGradient + n * g.paddedPlane + (y + g.padding) * g.paddedWidth + g.padding
                            let row = destination + (n * g.height + y) * g.width
                            if accumulateInput {
                                for x in 0..<g.width { row[x] += source[x] }
                            } else {
                                copyRow(row, source, g.width)
                            }
                        }
                    }
                    first += count
                }
            }
        }
    }
}
