/// Training-time augmentation: a random crop of the zero-padded image, then a random horizontal flip.
///
/// "Zero" means a black raw pixel, i.e. the normalised value `-mean[c] / std[c]`, as if the raw image
/// had been padded before normalisation. The crop offset is uniform in `-padding...padding` on each axis;
/// the flip happens with probability 1/2.
public struct Augmentation: Sendable, Equatable, Hashable, Codable {
    /// Pixels of padding on each side before cropping back to H x W (0 = no crop).
    public var padding: Int
    /// Mirror left-right with probability 1/2.
    public var horizontalFlip: Bool

    public init(padding: Int, horizontalFlip: Bool) {
        precondition(padding >= 0, "augmentation padding must not be negative")
        self.padding = padding
        self.horizontalFlip = horizontalFlip
    }
}

extension Dataset {
    /// Copies the examples at `indices` into caller-owned buffers, augmenting when asked.
    ///
    /// - `images`: room for `indices.count * imageSize` floats, written as (B, C, H, W), B = indices.count.
    /// - `labels`: room for `indices.count` values, written as (B).
    ///
    /// Allocates nothing, so a training loop can reuse one buffer per batch. With `augment`, each example
    /// draws its row offset, column offset and flip from `rng` (the flip bit is drawn even when flips
    /// are off); without it nothing is drawn.
    public func fillBatch(
        indices: ArraySlice<Int>, into images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>,
        augment: Augmentation?, rng: inout SeededGenerator
    ) {
        let size = imageSize
        let plane = height * width
        self.images.withUnsafeBufferPointer { source in
            guard let sourceBase = source.baseAddress else { return }
            for (row, index) in indices.enumerated() {
                precondition(index >= 0 && index < count, "batch index \(index) out of range 0..<\(count)")
                labels[row] = self.labels[index]
                let from = sourceBase + index * size
                let to = images + row * size
                guard let augment else {
                    to.update(from: from, count: size)
                    continue
                }
                let span = 2 * augment.padding + 1
                let rowShift = rng.nextInt(below: span) - augment.padding
                let columnShift = rng.nextInt(below: span) - augment.padding
                let flip = rng.nextBool() && augment.horizontalFlip
                for channel in 0..<channels {
                    let fill = normalization.normalize(0, channel: channel)
                    Dataset.cropAndFlip(
                        from: from + channel * plane, to: to + channel * plane, height: height, width: width,
                        rowShift: rowShift, columnShift: columnShift, flip: flip, fill: fill)
                }
            }
        }
    }

    /// Safe variant of `fillBatch` over buffers whose sizes are checked.
    public func fillBatch(
        indices: ArraySlice<Int>, into images: UnsafeMutableBufferPointer<Float>,
        labels: UnsafeMutableBufferPointer<Int32>, augment: Augmentation?, rng: inout SeededGenerator
    ) {
        precondition(images.count >= indices.count * imageSize, "image buffer too small for the batch")
        precondition(labels.count >= indices.count, "label buffer too small for the batch")
        guard let imageBase = images.baseAddress, let labelBase = labels.baseAddress else { return }
        fillBatch(indices: indices, into: imageBase, labels: labelBase, augment: augment, rng: &rng)
    }

    /// One plane (H, W): `output[y][x] = input[y + rowShift][x' + columnShift]` with
    /// `x' = flip ? W - 1 - x : x`, and `fill` where that falls outside the input.
    static func cropAndFlip(
        from input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>, height: Int, width: Int,
        rowShift: Int, columnShift: Int, flip: Bool, fill: Float
    ) {
        for y in 0..<height {
            let sourceRow = y + rowShift
            let target = output + y * width
            guard sourceRow >= 0 && sourceRow < height else {
                target.update(repeating: fill, count: width)
                continue
            }
            let source = input + sourceRow * width
            if !flip {
                // Columns whose source x + columnShift lies inside the row.
                let first = max(0, -columnShift)
                let last = min(width, width - columnShift)
                if first >= last {
                    target.update(repeating: fill, count: width)
                    continue
                }
                target.update(repeating: fill, count: first)
                (target + first).update(from: source + first + columnShift, count: last - first)
                (target + last).update(repeating: fill, count: width - last)
            } else {
                for x in 0..<width {
                    let sourceColumn = width - 1 - x + columnShift
                    target[x] = sourceColumn >= 0 && sourceColumn < width ? source[sourceColumn] : fill
                }
            }
        }
    }
}
