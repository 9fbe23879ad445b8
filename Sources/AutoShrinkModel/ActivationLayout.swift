/// Where one activation tensor's data lives.
public enum TensorPlacement: Hashable, Sendable {
    /// The tensor owns an arena buffer [H][W][C] (pixel stride C).
    case buffer
    /// Channels [channelOffset, channelOffset + C) of another tensor's data: a concat input written
    /// straight into its concat's slice, a concat whose inputs already sit side by side in a bigger
    /// buffer, or dropout (identity). Shares that tensor's quantization.
    case slice(of: Int, channelOffset: Int)
    /// Reuses the buffer of `of`, which dies at the layer producing this tensor (an elementwise add
    /// writing over one of its inputs). Quantization is independent.
    case inPlace(of: Int)
    /// Never stored: the output of a pointwise convolution that runs inside the add writing `into`
    /// (`AddFusion`, int8 exports); no buffer, only its quantization is used (the fused call's input 1).
    case fused(into: Int)

    var parent: Int? {
        switch self {
        case .buffer, .fused: return nil
        case .slice(let parent, _), .inPlace(let parent): return parent
        }
    }
}

/// How a lowered graph's activations map onto arena buffers, before the buffers get offsets.
///
/// Decisions, in order:
/// 1. dropout output is its input (a slice at offset 0);
/// 2. concats, latest first: a concat whose inputs already lie side by side, in order, in one
///    buffer is a slice of that buffer (no work); otherwise it gets a buffer and each of its inputs
///    that has no place yet (and whose producer can write with a pixel stride) is written straight
///    into its channel slice, so the concat's buffer is live from its first input on; the remaining
///    inputs are copied (requantized in int8 when their quantization differs) at the concat;
/// 3. an elementwise add writes over an input buffer that dies there (same shape, unit pixel stride).
/// With `fuseAdds` (int8 exports), the pointwise convolutions `AddFusion` runs inside their adds store no
/// output (`TensorPlacement.fused`) and their inputs live through the add's step, where the fused call reads
/// them; such an add never writes over its convolution's input.
/// Lifetimes: a tensor is live from its producing step (the input from step 0) through its last
/// consumer (the network output through the last step); a buffer from the first step any tensor in
/// it is live through the last.
public struct ActivationLayout: Sendable {
    /// Switches for the aliasing decisions (all on by default; off gives one buffer per tensor).
    public struct Options: Hashable, Sendable {
        public var concatInPlace: Bool
        public var addInPlace: Bool
        /// Concat layers (steps) that copy all their inputs even when `concatInPlace` is on.
        public var copiedConcats: Set<Int>
        /// Run the adds `AddFusion` picks inside their pointwise convolutions (int8 exports and the profiler's harness).
        public var fuseAdds: Bool
        public init(concatInPlace: Bool = true, addInPlace: Bool = true, copiedConcats: Set<Int> = [], fuseAdds: Bool = false) {
            self.concatInPlace = concatInPlace; self.addInPlace = addInPlace; self.copiedConcats = copiedConcats
            self.fuseAdds = fuseAdds
        }
    }

    /// The options this layout was made with.
    public let options: Options
    public let graph: LayerGraph
    /// The fused convolution + add pairs (`AddFusion.none` unless `options.fuseAdds`).
    public let fusion: AddFusion
    /// Placement of each tensor.
    public let placements: [TensorPlacement]
    /// Live steps of each tensor (inclusive).
    public let lifetimes: [ClosedRange<Int>]
    /// For each concat layer (by layer index) that does work: the inputs it copies into its slices.
    public let concatCopies: [Int: [Int]]
    /// Tensors that own a buffer, ascending; `bufferRequests` and plans are parallel to this.
    public let buffers: [Int]

    public init(graph: LayerGraph, options: Options = Options()) {
        self.graph = graph
        self.options = options
        let fusion = options.fuseAdds ? AddFusion(graph: graph) : AddFusion.none
        self.fusion = fusion
        let tensorCount = graph.tensors.count
        let steps = graph.layers.count
        var producer = [Int](repeating: -1, count: tensorCount)
        var lastUse = [Int](repeating: -1, count: tensorCount)
        for (step, layer) in graph.layers.enumerated() {
            producer[layer.output] = step
            for input in layer.inputs { lastUse[input] = max(lastUse[input], step) }
        }
        lastUse[graph.output] = max(lastUse[graph.output], steps - 1)
        // a fused convolution runs at its add's step: its input is read there
        for pair in fusion.pairs.values {
            let input = graph.layers[pair.convolution].inputs[0]
            lastUse[input] = max(lastUse[input], pair.add)
        }
        var lifetimes: [ClosedRange<Int>] = []
        for tensor in 0..<tensorCount {
            let first = max(producer[tensor], 0)
            lifetimes.append(first...max(first, lastUse[tensor]))
        }

        var placements = [TensorPlacement](repeating: .buffer, count: tensorCount)
        for pair in fusion.pairs.values {
            placements[graph.layers[pair.convolution].output] = .fused(into: graph.layers[pair.add].output)
        }
        func root(_ tensor: Int) -> (tensor: Int, channelOffset: Int) {
            let found = Self.root(of: tensor, in: placements)
            return (found.buffer, found.channelOffset)
        }
        // Producers that can write with a pixel stride (every kernel but GAP and FC); the network
        // input is written by the generated preprocessing, which can too.
        func stridedWriter(_ tensor: Int) -> Bool {
            guard producer[tensor] >= 0 else { return tensor == graph.input }
            switch graph.layers[producer[tensor]].operation {
            case .convolution, .maxPool, .add, .concat: return true
            case .globalAveragePool, .dropout, .linear: return false
            }
        }

        for layer in graph.layers {
            if case .dropout = layer.operation { placements[layer.output] = .slice(of: layer.inputs[0], channelOffset: 0) }
        }
        var copies: [Int: [Int]] = [:]
        for step in stride(from: steps - 1, through: 0, by: -1) {
            let layer = graph.layers[step]
            guard case .concat = layer.operation else { continue }
            let concat = layer.output
            guard options.concatInPlace, !options.copiedConcats.contains(step) else { copies[step] = layer.inputs; continue }
            // A free view: inputs side by side, in order, in one buffer (the buffer's full pixel stride).
            let roots = layer.inputs.map { placements[$0] == .buffer ? nil : root($0) }
            if placements[concat] == .buffer, let first = roots.first ?? nil, roots.allSatisfy({ $0?.tensor == first.tensor }) {
                var expected = first.channelOffset
                var contiguous = true
                for (input, place) in zip(layer.inputs, roots) {
                    if place!.channelOffset != expected { contiguous = false; break }
                    expected += graph.tensors[input].channels
                }
                if contiguous {
                    placements[concat] = .slice(of: first.tensor, channelOffset: first.channelOffset)
                    continue
                }
            }
            var offset = 0
            var copied: [Int] = []
            for input in layer.inputs {
                if placements[input] == .buffer && stridedWriter(input) && root(concat).tensor != input {
                    placements[input] = .slice(of: concat, channelOffset: offset)
                } else {
                    copied.append(input)
                }
                offset += graph.tensors[input].channels
            }
            if !copied.isEmpty { copies[step] = copied }
        }

        if options.addInPlace {
            // The last step at which any tensor stored in each buffer is live.
            var bufferLastStep = [Int: Int]()
            for tensor in 0..<tensorCount {
                let buffer = root(tensor).tensor
                bufferLastStep[buffer] = max(bufferLastStep[buffer] ?? -1, lifetimes[tensor].upperBound)
            }
            for (step, layer) in graph.layers.enumerated() {
                guard case .add = layer.operation, placements[layer.output] == .buffer else { continue }
                // a fused add reads its convolution's input pixel by pixel while it writes: never over that buffer
                let convolutionInput = fusion.pair(add: step).map { root(graph.layers[$0.convolution].inputs[0]).tensor }
                for input in layer.inputs where placements[input] == .buffer && input != graph.input
                    && root(input).tensor != convolutionInput
                    && graph.tensors[input] == graph.tensors[layer.output] && bufferLastStep[input] == step
                    && layer.inputs.allSatisfy({ $0 == input || root($0).tensor != input }) {
                    placements[layer.output] = .inPlace(of: input)
                    bufferLastStep[input] = lifetimes[layer.output].upperBound
                    break
                }
            }
        }
        self.placements = placements
        self.lifetimes = lifetimes
        self.concatCopies = copies
        self.buffers = (0..<tensorCount).filter { placements[$0] == .buffer }
    }

    /// The layout whose plan gives the smallest arena. Writing a concat's inputs into its slices saves
    /// the copies and the separate input buffers, but keeps the whole concat buffer live from its first
    /// input on, which can raise the peak (e.g. a large cell input placed in the last node's concat). So
    /// starting from "every concat in place", concats are switched to copying one at a time while that
    /// shrinks the arena (ties keep fewer copies); the same search from "every concat copies" runs too,
    /// and the smaller result wins. With `fuseAdds` the concat decisions are those of the layout without fused
    /// adds, then the adds are fused: the int8 export's tensors and quantization groups are then the same as the
    /// unfused pair's, so the fused call is bit-exact with it on a whole network too.
    public static func optimized(graph: LayerGraph, planner: any MemoryPlanner, bytesPerElement: Int = 1,
                                 alignment: Int = 16, fuseAdds: Bool = false) -> ActivationLayout {
        let unfused = concatSearch(graph: graph, planner: planner, bytesPerElement: bytesPerElement, alignment: alignment)
        guard fuseAdds else { return unfused }
        var options = unfused.options
        options.fuseAdds = true
        return ActivationLayout(graph: graph, options: options)
    }

    private static func concatSearch(graph: LayerGraph, planner: any MemoryPlanner, bytesPerElement: Int,
                                     alignment: Int) -> ActivationLayout {
        let concats = graph.layers.indices.filter { if case .concat = graph.layers[$0].operation { return true }; return false }
        func arena(_ copied: Set<Int>) -> (ActivationLayout, Int) {
            let layout = ActivationLayout(graph: graph, options: Options(copiedConcats: copied))
            return (layout, planner.plan(layout.bufferRequests(bytesPerElement: bytesPerElement), alignment: alignment).arenaBytes)
        }
        func search(from start: Set<Int>) -> (ActivationLayout, Int, Int) {
            var copied = start
            var (best, bytes) = arena(copied)
            for _ in 0..<4 {
                var changed = false
                for step in concats {
                    var candidate = copied
                    if candidate.contains(step) { candidate.remove(step) } else { candidate.insert(step) }
                    let (layout, size) = arena(candidate)
                    let fewerCopies = candidate.count < copied.count
                    if size < bytes || (size == bytes && fewerCopies) {
                        copied = candidate; best = layout; bytes = size; changed = true
                    }
                }
                if !changed { break }
            }
            return (best, bytes, copied.count)
        }
        let inPlace = search(from: [])
        guard !concats.isEmpty else { return inPlace.0 }
        let copying = search(from: Set(concats))
        return (copying.1, copying.2) < (inPlace.1, inPlace.2) ? copying.0 : inPlace.0
    }

    /// The layout `autoshrink export` gives `graph`'s int8 model with its default planner (`optimized` with
    /// `GreedyBySizePlanner`, int8 sizes, fused adds). The profiler's harness lays out its networks by it and the
    /// latency predictor counts a concat only for the inputs it copies and a fused convolution + add as one
    /// operator (docs/devices.md, "Predictor"), so predictions follow what an export runs.
    public static func exported(_ graph: LayerGraph) -> ActivationLayout {
        optimized(graph: graph, planner: GreedyBySizePlanner(), fuseAdds: true)
    }

    /// The buffer holding `tensor` and the tensor's first channel within it.
    public func root(of tensor: Int) -> (buffer: Int, channelOffset: Int) { Self.root(of: tensor, in: placements) }

    /// `root(of:)` over a placement list (also while the layout is being decided): follow slices and
    /// in-place links up to the tensor that owns a buffer, summing the slices' channel offsets.
    static func root(of tensor: Int, in placements: [TensorPlacement]) -> (buffer: Int, channelOffset: Int) {
        var current = tensor, offset = 0
        while true {
            switch placements[current] {
            case .buffer, .fused: return (current, offset)
            case .slice(let parent, let channels): offset += channels; current = parent
            case .inPlace(let parent): current = parent
            }
        }
    }

    /// Elements from one pixel of `tensor` to the next: its buffer's channel count.
    public func pixelStride(of tensor: Int) -> Int { graph.tensors[root(of: tensor).buffer].channels }

    /// Whether the concat layer at `step` is free (its output is a slice of a buffer its inputs filled).
    public func isFreeConcat(step: Int) -> Bool {
        guard case .concat = graph.layers[step].operation else { return false }
        return concatCopies[step] == nil
    }

    /// The layer (step) whose output data the layer at `step` overwrites in place, if any.
    public func inPlaceInput(step: Int) -> Int? {
        if case .inPlace(let input) = placements[graph.layers[step].output] { return input }
        return nil
    }

    /// One request per buffer (parallel to `buffers`): bytes = elements x `bytesPerElement`, live from
    /// the first step any tensor in it is live through the last.
    public func bufferRequests(bytesPerElement: Int) -> [BufferRequest] {
        var first = [Int: Int](), last = [Int: Int]()
        for tensor in graph.tensors.indices {
            let buffer = root(of: tensor).buffer
            first[buffer] = min(first[buffer] ?? .max, lifetimes[tensor].lowerBound)
            last[buffer] = max(last[buffer] ?? .min, lifetimes[tensor].upperBound)
        }
        return buffers.map {
            BufferRequest(bytes: graph.tensors[$0].elements * bytesPerElement, firstStep: first[$0]!, lastStep: last[$0]!)
        }
    }

    /// Checks a plan at the level of tensors: two tensors live at a common step must not share bytes
    /// unless one holds the other's data (a slice, or a free concat and its inputs), or one overwrites
    /// the other in place exactly at the step where the overwritten one dies. Returns a description of
    /// every violation (empty when the plan is sound).
    public func violations(plan: MemoryPlan, bytesPerElement: Int) -> [String] {
        var bufferIndex = [Int: Int]()
        for (index, buffer) in buffers.enumerated() { bufferIndex[buffer] = index }
        var producer = [Int: Int]()
        for (step, layer) in graph.layers.enumerated() { producer[layer.output] = step }
        // Whether a's data includes b's: b is a slice inside a, or a is a free concat built from b.
        func contains(_ a: Int, _ b: Int) -> Bool {
            if a == b { return true }
            var current = b
            while case .slice(let parent, _) = placements[current] {
                if parent == a { return true }
                current = parent
            }
            if let step = producer[a], isFreeConcat(step: step) {
                return graph.layers[step].inputs.contains { contains($0, b) }
            }
            return false
        }
        // In-place links between a tensor and its buffer: data written over older data.
        func generation(_ tensor: Int) -> Int {
            var count = 0, current = tensor
            while let parent = placements[current].parent {
                if case .inPlace = placements[current] { count += 1 }
                current = parent
            }
            return count
        }
        var problems: [String] = []
        let stored = graph.tensors.indices.filter { if case .fused = placements[$0] { return false }; return true }
        for a in stored {
            for b in stored where b > a && lifetimes[a].overlaps(lifetimes[b]) {
                let (bufferA, channelA) = root(of: a), (bufferB, channelB) = root(of: b)
                let startA = plan.offsets[bufferIndex[bufferA]!], startB = plan.offsets[bufferIndex[bufferB]!]
                let endA = startA + graph.tensors[bufferA].elements * bytesPerElement
                let endB = startB + graph.tensors[bufferB].elements * bytesPerElement
                guard startA < endB && startB < endA && endA > startA && endB > startB else { continue }
                guard bufferA == bufferB else {
                    problems.append("tensors \(a) and \(b) (buffers \(bufferA) and \(bufferB)) share arena bytes while both are live")
                    continue
                }
                let channelsA = channelA..<(channelA + graph.tensors[a].channels)
                let channelsB = channelB..<(channelB + graph.tensors[b].channels)
                guard channelsA.overlaps(channelsB) else { continue }
                let generationA = generation(a), generationB = generation(b)
                if generationA == generationB {
                    if contains(a, b) || contains(b, a) { continue }
                } else {
                    let (older, newer) = generationA < generationB ? (a, b) : (b, a)
                    if lifetimes[older].upperBound == lifetimes[newer].lowerBound { continue }
                }
                problems.append("tensors \(a) and \(b) share channels of buffer \(bufferA) while both are live")
            }
        }
        return problems
    }
}
