import AutoShrinkData
import AutoShrinkEngine
import AutoShrinkModel

/// The calibrated value range of one activation tensor (real values, min <= max).
public struct ValueRange: Sendable, Equatable, Codable {
    public var min: Float
    public var max: Float
    public init(min: Float, max: Float) {
        precondition(min <= max, "range minimum must not exceed its maximum")
        self.min = min; self.max = max
    }
}

/// Per-tensor activation ranges of a lowered graph, keyed by tensor id (`LayerGraph.tensors`
/// index; 0 is the network input). A convolution's tensor holds values after batch norm and
/// activation, which is what int8 inference stores.
public struct ActivationRanges: Sendable, Equatable, Codable {
    public var ranges: [Int: ValueRange]
    /// Images the ranges were measured on (0 when set by hand).
    public var images: Int

    public init(ranges: [Int: ValueRange] = [:], images: Int = 0) {
        self.ranges = ranges; self.images = images
    }

    public subscript(tensor: Int) -> ValueRange? {
        get { ranges[tensor] }
        set { ranges[tensor] = newValue }
    }
}

/// How a tensor's range is taken from the values it showed during calibration.
public enum CalibrationMethod: Sendable, Equatable {
    /// Smallest and largest value seen.
    case minMax
    /// The given lower and upper percentiles (e.g. 99.99 keeps [0.01 %, 99.99 %]) of a strided
    /// sample of at most `CalibrationMethod.sampleLimit` values per tensor; clips rare outliers.
    case percentile(Double)

    /// Values kept per tensor for percentile estimates.
    public static let sampleLimit = 200_000
}

/// Measures activation ranges by running the float network on calibration images.
public enum Calibration {
    /// Runs `network` in inference mode on `count` images (N, C, H, W, normalised as in training)
    /// and records every lowered tensor's range. With `inputNormalization`, the input tensor's
    /// range is instead the full pixel range [(0 - mean) / std, (1 - mean) / std] over channels,
    /// so that no valid pixel saturates when the input is quantised.
    public static func collect(network: Network, images: UnsafeBufferPointer<Float>, count: Int,
                               method: CalibrationMethod = .minMax, inputNormalization: Normalization? = nil,
                               batchSize: Int = 64) -> ActivationRanges {
        let graph = network.layers
        let imageSize = graph.tensors[0].elements
        precondition(count > 0 && images.count >= count * imageSize, "calibration needs count images of C x H x W")
        let engine = network.graph
        let fused = engine.fusesInference
        engine.fusesInference = false  // every value is read below, including those a fused pass skips
        defer { engine.fusesInference = fused }
        let batchCapacity = min(batchSize, count)
        engine.prepare(batch: batchCapacity)
        let tensorCount = graph.tensors.count
        var minimum = [Float](repeating: .infinity, count: tensorCount)
        var maximum = [Float](repeating: -.infinity, count: tensorCount)
        // Percentile sampling: every `stride[t]`-th value of tensor t over the whole run.
        var samples = [[Float]](repeating: [], count: tensorCount)
        var sampleStride = [Int](repeating: 1, count: tensorCount)
        var sampleOffset = [Int](repeating: 0, count: tensorCount)
        if case .percentile = method {
            for tensor in 0..<tensorCount {
                let total = graph.tensors[tensor].elements * count
                sampleStride[tensor] = Swift.max(1, (total + CalibrationMethod.sampleLimit - 1) / CalibrationMethod.sampleLimit)
            }
        }
        var start = 0
        while start < count {
            let batch = min(batchCapacity, count - start)
            engine.setInput(images.baseAddress! + start * imageSize, batch: batch)
            engine.forward(batch: batch, training: false)
            for tensor in 0..<tensorCount {
                let value = network.valueOfTensor[tensor]
                guard value >= 0 else { continue }
                let map = engine.value(value)
                let buffer = UnsafeBufferPointer(start: map.data, count: map.count)
                var low = minimum[tensor], high = maximum[tensor]
                for element in buffer {
                    low = Swift.min(low, element); high = Swift.max(high, element)
                }
                minimum[tensor] = low; maximum[tensor] = high
                if case .percentile = method {
                    var index = sampleOffset[tensor]
                    while index < buffer.count {
                        samples[tensor].append(buffer[index])
                        index += sampleStride[tensor]
                    }
                    sampleOffset[tensor] = index - buffer.count
                }
            }
            start += batch
        }
        var ranges = ActivationRanges(images: count)
        for tensor in 0..<tensorCount where minimum[tensor] <= maximum[tensor] {
            var range = ValueRange(min: minimum[tensor], max: maximum[tensor])
            if case .percentile(let percent) = method, !samples[tensor].isEmpty {
                let sorted = samples[tensor].sorted()
                let upper = Swift.min(Swift.max(percent, 50), 100) / 100
                let low = sorted[Int(((1 - upper) * Double(sorted.count - 1)).rounded())]
                let high = sorted[Int((upper * Double(sorted.count - 1)).rounded())]
                range = ValueRange(min: Swift.max(low, range.min), max: Swift.min(high, range.max))
            }
            ranges[tensor] = range
        }
        if let normalization = inputNormalization {
            let lows = zip(normalization.mean, normalization.std).map { (0 - $0) / $1 }
            let highs = zip(normalization.mean, normalization.std).map { (1 - $0) / $1 }
            ranges[0] = ValueRange(min: lows.min() ?? 0, max: highs.max() ?? 0)
        }
        return ranges
    }

    /// `collect` over the first `limit` images of `dataset` (normalised images); the input range
    /// comes from the dataset's normalisation.
    public static func collect(network: Network, dataset: Dataset, limit: Int = 500,
                               method: CalibrationMethod = .minMax, batchSize: Int = 64) -> ActivationRanges {
        let count = min(limit, dataset.count)
        return dataset.images.withUnsafeBufferPointer {
            collect(network: network, images: $0, count: count, method: method,
                    inputNormalization: dataset.normalization, batchSize: batchSize)
        }
    }
}
