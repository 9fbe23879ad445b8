/// Which half of a dataset's official split.
public enum DatasetSplit: String, Sendable, Codable, CaseIterable {
    case train
    case test
}

/// Per-channel normalisation: `image = (raw / 255 - mean[c]) / std[c]`.
///
/// `mean` and `std` have shape (C) and are in units of `raw / 255`, so Fashion-MNIST's training set
/// gives roughly mean 0.286 and std 0.353. The exporter folds these into the int8 input quantisation.
public struct Normalization: Sendable, Equatable, Hashable, Codable {
    /// Channel means, shape (C), in units of raw / 255.
    public var mean: [Float]
    /// Channel standard deviations, shape (C), in units of raw / 255; always positive.
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "Normalization needs one mean and one std per channel")
        precondition(std.allSatisfy { $0 > 0 && $0.isFinite }, "Normalization std must be positive")
        self.mean = mean
        self.std = std
    }

    /// Scale to [0, 1] only (mean 0, std 1).
    public static func unit(channels: Int) -> Normalization {
        Normalization(mean: [Float](repeating: 0, count: channels), std: [Float](repeating: 1, count: channels))
    }

    /// Measures mean and std per channel over raw pixels laid out (N, C, H*W).
    /// A channel with zero variance gets std 1 so that normalising never divides by zero.
    public static func measure(rawPixels: [UInt8], channels: Int, pixelsPerChannel: Int) -> Normalization {
        precondition(channels > 0 && pixelsPerChannel > 0)
        let imageSize = channels * pixelsPerChannel
        precondition(rawPixels.count % imageSize == 0, "raw pixels are not a whole number of images")
        let count = rawPixels.count / imageSize
        // A histogram of byte values per channel (256 bins) gives exact sums in one cheap pass.
        var histograms = [Int](repeating: 0, count: channels * 256)
        rawPixels.withUnsafeBufferPointer { pixels in
            histograms.withUnsafeMutableBufferPointer { bins in
                guard let source = pixels.baseAddress, let counts = bins.baseAddress else { return }
                for image in 0..<count {
                    for channel in 0..<channels {
                        let plane = source + image * imageSize + channel * pixelsPerChannel
                        let channelCounts = counts + channel * 256
                        for offset in 0..<pixelsPerChannel {
                            channelCounts[Int(plane[offset])] += 1
                        }
                    }
                }
            }
        }
        var sums = [Double](repeating: 0, count: channels)
        var squares = [Double](repeating: 0, count: channels)
        for channel in 0..<channels {
            for value in 0..<256 {
                let occurrences = Double(histograms[channel * 256 + value])
                sums[channel] += occurrences * Double(value)
                squares[channel] += occurrences * Double(value * value)
            }
        }
        let samples = Double(max(count * pixelsPerChannel, 1))
        var mean = [Float](repeating: 0, count: channels)
        var std = [Float](repeating: 1, count: channels)
        for channel in 0..<channels {
            let average = sums[channel] / samples
            let variance = max(squares[channel] / samples - average * average, 0)
            mean[channel] = Float(average / 255)
            let deviation = variance.squareRoot() / 255
            std[channel] = deviation > 1e-6 ? Float(deviation) : 1
        }
        return Normalization(mean: mean, std: std)
    }

    /// The normalised value of every raw byte for one channel, shape (256).
    public func lookupTable(channel: Int) -> [Float] {
        (0...255).map { normalize(UInt8($0), channel: channel) }
    }

    /// The normalised value of a raw byte in `channel`.
    public func normalize(_ raw: UInt8, channel: Int) -> Float {
        (Float(raw) / 255 - mean[channel]) / std[channel]
    }
}

/// A labelled image dataset held in memory: `images` (N, C, H, W) float32 normalised, `rawPixels`
/// (N, C, H, W) uint8 as stored on disk, `labels` (N) in `0..<classCount`.
///
/// A value type: subsets and re-normalised copies are new datasets, the arrays are shared until written.
public struct Dataset: Sendable {
    /// Dataset name, e.g. "fashion-mnist".
    public let name: String
    public let split: DatasetSplit
    /// Number of examples N.
    public let count: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let classCount: Int
    /// Human-readable class names, shape (classCount); generic "class k" when the source has none.
    public let classNames: [String]
    /// The normalisation that turned `rawPixels` into `images`.
    public let normalization: Normalization
    /// Normalised images, shape (N, C, H, W), contiguous.
    public let images: [Float]
    /// The original bytes, shape (N, C, H, W); the exporter feeds these to the generated C binary.
    public let rawPixels: [UInt8]
    /// Class indices, shape (N).
    public let labels: [Int32]

    /// Values per image, C * H * W.
    public var imageSize: Int { channels * height * width }

    /// Builds a dataset from raw pixels (N, C, H, W) and labels (N), normalising with `normalization`
    /// (or with statistics measured on these pixels when nil). Inputs must be consistent: the loaders
    /// validate files before they get here, so a mismatch is a programming error.
    public init(
        name: String, split: DatasetSplit, channels: Int, height: Int, width: Int, classCount: Int,
        classNames: [String]? = nil, rawPixels: [UInt8], labels: [Int32], normalization: Normalization? = nil
    ) {
        precondition(channels > 0 && height > 0 && width > 0 && classCount > 0, "dataset shape must be positive")
        let imageSize = channels * height * width
        precondition(rawPixels.count == labels.count * imageSize, "raw pixels do not match labels x C x H x W")
        precondition(labels.allSatisfy { $0 >= 0 && Int($0) < classCount }, "label out of range")
        let chosen = normalization
            ?? Normalization.measure(rawPixels: rawPixels, channels: channels, pixelsPerChannel: height * width)
        precondition(chosen.mean.count == channels, "normalization has the wrong number of channels")
        self.name = name
        self.split = split
        self.count = labels.count
        self.channels = channels
        self.height = height
        self.width = width
        self.classCount = classCount
        self.classNames = classNames ?? (0..<classCount).map { "class \($0)" }
        precondition(self.classNames.count == classCount, "one class name per class")
        self.normalization = chosen
        self.rawPixels = rawPixels
        self.labels = labels
        self.images = Dataset.normalizedImages(
            rawPixels, channels: channels, pixelsPerChannel: height * width, normalization: chosen)
    }

    /// The same examples normalised with other statistics (e.g. the test set with the training set's).
    public func normalized(with normalization: Normalization) -> Dataset {
        Dataset(
            name: name, split: split, channels: channels, height: height, width: width,
            classCount: classCount, classNames: classNames, rawPixels: rawPixels, labels: labels,
            normalization: normalization)
    }

    /// The examples at `indices`, in that order, with the same normalisation.
    public func subset(_ indices: [Int]) -> Dataset {
        let size = imageSize
        var pixels = [UInt8](repeating: 0, count: indices.count * size)
        var picked = [Int32](repeating: 0, count: indices.count)
        rawPixels.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                for (row, index) in indices.enumerated() {
                    precondition(index >= 0 && index < count, "subset index \(index) out of range 0..<\(count)")
                    let from = UnsafeBufferPointer(rebasing: source[(index * size)..<((index + 1) * size)])
                    _ = UnsafeMutableBufferPointer(rebasing: target[(row * size)..<((row + 1) * size)])
                        .initialize(fromContentsOf: from)
                    picked[row] = labels[index]
                }
            }
        }
        return Dataset(
            name: name, split: split, channels: channels, height: height, width: width,
            classCount: classCount, classNames: classNames, rawPixels: pixels, labels: picked,
            normalization: normalization)
    }

    /// Normalised image `index`, shape (C, H, W).
    public func image(at index: Int) -> ArraySlice<Float> {
        images[(index * imageSize)..<((index + 1) * imageSize)]
    }

    /// Raw bytes of image `index`, shape (C, H, W).
    public func rawImage(at index: Int) -> ArraySlice<UInt8> {
        rawPixels[(index * imageSize)..<((index + 1) * imageSize)]
    }

    /// Number of examples of each class, shape (classCount).
    public func classCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for label in labels { counts[Int(label)] += 1 }
        return counts
    }

    /// Converts raw bytes (N, C, P) to floats through a 256-entry table per channel.
    static func normalizedImages(
        _ raw: [UInt8], channels: Int, pixelsPerChannel: Int, normalization: Normalization
    ) -> [Float] {
        let tables = (0..<channels).map { normalization.lookupTable(channel: $0) }
        let imageSize = channels * pixelsPerChannel
        let count = raw.count / max(imageSize, 1)
        return [Float](unsafeUninitializedCapacity: raw.count) { output, initialized in
            raw.withUnsafeBufferPointer { input in
                for channel in 0..<channels {
                    tables[channel].withUnsafeBufferPointer { table in
                        for image in 0..<count {
                            let start = image * imageSize + channel * pixelsPerChannel
                            for offset in start..<(start + pixelsPerChannel) {
                                (output.baseAddress! + offset).initialize(to: table[Int(input[offset])])
                            }
                        }
                    }
                }
            }
            initialized = raw.count
        }
    }
}
