import AutoShrinkData
import Testing

@Suite struct BatchingTests {
    /// 12 images of (C, H, W) = (2, 5, 6) with distinct, asymmetric content.
    let dataset = Dataset(
        name: "toy", split: .train, channels: 2, height: 5, width: 6, classCount: 3,
        rawPixels: TestData.pixels(12 * 60, seed: 21), labels: (0..<12).map { Int32($0 % 3) })

    func fill(_ indices: [Int], augment: Augmentation?, seed: UInt64) -> (images: [Float], labels: [Int32]) {
        var images = [Float](repeating: .nan, count: indices.count * dataset.imageSize)
        var labels = [Int32](repeating: -1, count: indices.count)
        var generator = SeededGenerator(seed: seed)
        images.withUnsafeMutableBufferPointer { imageBuffer in
            labels.withUnsafeMutableBufferPointer { labelBuffer in
                dataset.fillBatch(
                    indices: indices[...], into: imageBuffer, labels: labelBuffer, augment: augment, rng: &generator)
            }
        }
        return (images, labels)
    }

    /// Plane (H, W) of `channel` of image `index` of the dataset.
    func plane(_ index: Int, _ channel: Int) -> [Float] {
        Array(dataset.image(at: index)[...].dropFirst(channel * 30).prefix(30))
    }

    func mirrored(_ plane: [Float]) -> [Float] {
        (0..<5).flatMap { y in (0..<6).map { x in plane[y * 6 + 5 - x] } }
    }

    @Test func plainCopy() {
        let indices = [4, 0, 11]
        let (images, labels) = fill(indices, augment: nil, seed: 1)
        #expect(labels == [1, 0, 2])
        for (row, index) in indices.enumerated() {
            #expect(Array(images[(row * 60)..<((row + 1) * 60)]) == Array(dataset.image(at: index)))
        }
    }

    @Test func flipIsATrueMirror() {
        let indices = Array(0..<12) + Array(0..<12) + Array(0..<12)
        let (images, _) = fill(indices, augment: Augmentation(padding: 0, horizontalFlip: true), seed: 3)
        var flipped = 0
        for (row, index) in indices.enumerated() {
            let first = Array(images[(row * 60)..<(row * 60 + 30)])
            let second = Array(images[(row * 60 + 30)..<(row * 60 + 60)])
            if first == plane(index, 0) {
                #expect(second == plane(index, 1))  // both channels untouched
            } else {
                #expect(first == mirrored(plane(index, 0)))
                #expect(second == mirrored(plane(index, 1)))  // both channels flipped together
                flipped += 1
            }
        }
        // Probability 1/2 each: 36 draws land far from 0 and 36.
        #expect(flipped > 6 && flipped < 30)
    }

    @Test func cropIsAShiftWithBlackPadding() {
        let padding = 2
        let indices = Array(0..<12) + Array(0..<12)
        let (images, _) = fill(indices, augment: Augmentation(padding: padding, horizontalFlip: false), seed: 5)
        #expect(images.allSatisfy { $0.isFinite })  // every value written
        var shifted = 0
        for (row, index) in indices.enumerated() {
            let output = Array(images[(row * 60)..<(row * 60 + 30)])
            let source = plane(index, 0)
            let black = dataset.normalization.normalize(0, channel: 0)
            // Some offset in -2...2 x -2...2 must explain the output exactly.
            var matches: [(Int, Int)] = []
            for dy in -padding...padding {
                for dx in -padding...padding {
                    let candidate = (0..<5).flatMap { y in
                        (0..<6).map { x in
                            let (sy, sx) = (y + dy, x + dx)
                            return sy >= 0 && sy < 5 && sx >= 0 && sx < 6 ? source[sy * 6 + sx] : black
                        }
                    }
                    if candidate == output { matches.append((dy, dx)) }
                }
            }
            #expect(!matches.isEmpty)
            if !matches.contains(where: { $0 == (0, 0) }) { shifted += 1 }
        }
        #expect(shifted > 0)
    }

    @Test func augmentationIsDeterministicForASeed() {
        let augment = Augmentation(padding: 2, horizontalFlip: true)
        let indices = [3, 1, 4, 1, 5, 9, 2, 6]
        let first = fill(indices, augment: augment, seed: 77)
        let second = fill(indices, augment: augment, seed: 77)
        let other = fill(indices, augment: augment, seed: 78)
        #expect(first.images == second.images)
        #expect(first.images != other.images)
        #expect(first.labels == other.labels)
    }

    @Test func writesOnlyTheBatch() {
        // Guard values after the batch must survive.
        let indices = [2, 7]
        var images = [Float](repeating: -42, count: 3 * dataset.imageSize)
        var labels = [Int32](repeating: -7, count: 3)
        var generator = SeededGenerator(seed: 0)
        images.withUnsafeMutableBufferPointer { imageBuffer in
            labels.withUnsafeMutableBufferPointer { labelBuffer in
                dataset.fillBatch(
                    indices: indices[...], into: imageBuffer.baseAddress!, labels: labelBuffer.baseAddress!,
                    augment: Augmentation(padding: 1, horizontalFlip: true), rng: &generator)
            }
        }
        #expect(images[(2 * 60)...].allSatisfy { $0 == -42 })
        #expect(labels[2] == -7)
    }
}
