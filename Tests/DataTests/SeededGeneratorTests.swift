import AutoShrinkData
import Testing

@Suite struct SeededGeneratorTests {
    @Test func sameSeedGivesSameSequence() {
        var first = SeededGenerator(seed: 42)
        var second = SeededGenerator(seed: 42)
        let a = (0..<100).map { _ in first.next() }
        let b = (0..<100).map { _ in second.next() }
        #expect(a == b)
    }

    @Test func seedsAndStreamsDiffer() {
        var base = SeededGenerator(seed: 1)
        var otherSeed = SeededGenerator(seed: 2)
        var otherStream = SeededGenerator(seed: 1, stream: 1)
        let a = (0..<8).map { _ in base.next() }
        #expect(a != (0..<8).map { _ in otherSeed.next() })
        #expect(a != (0..<8).map { _ in otherStream.next() })
    }

    /// Pins the sequence: a change here silently changes every seeded run of the toolkit.
    @Test func sequenceIsStable() {
        // xoshiro256** seeded with four SplitMix64 outputs from state 0 (checked against an independent
        // C implementation of both published algorithms).
        var generator = SeededGenerator(seed: 0)
        #expect(generator.next() == 0x99EC_5F36_CB75_F2B4)
        #expect(generator.next() == 0xBF6E_1F78_4956_452A)
        #expect(generator.next() == 0x1A5F_849D_4933_E6E0)
        var mixer: UInt64 = 0
        // Published SplitMix64 reference output for seed 0.
        #expect(SeededGenerator.splitMix64(&mixer) == 0xE220_A839_7B1D_CDAF)
    }

    @Test func stateRoundTrips() {
        var generator = SeededGenerator(seed: 7)
        _ = generator.next()
        var restored = SeededGenerator(state: generator.state)!
        #expect(restored.next() == generator.next())
        #expect(SeededGenerator(state: [0, 0, 0, 0]) == nil)
        #expect(SeededGenerator(state: [1, 2]) == nil)
    }

    @Test func boundedIntegersAreInRangeAndCoverIt() {
        var generator = SeededGenerator(seed: 3)
        var seen = [Int](repeating: 0, count: 7)
        for _ in 0..<7000 {
            let value = generator.nextInt(below: 7)
            #expect(value >= 0 && value < 7)
            seen[value] += 1
        }
        // Each bucket expects 1000; 800 is more than six standard deviations away.
        #expect(seen.allSatisfy { $0 > 800 })
    }

    @Test func unitIntervalAndGaussian() {
        var generator = SeededGenerator(seed: 5)
        var sum = 0.0
        var squares = 0.0
        for _ in 0..<20000 {
            let uniform = generator.nextDouble()
            #expect(uniform >= 0 && uniform < 1)
            let single = generator.nextFloat()
            #expect(single >= 0 && single < 1)
            let normal = generator.nextGaussian()
            sum += normal
            squares += normal * normal
        }
        let mean = sum / 20000
        #expect(abs(mean) < 0.05)
        #expect(abs(squares / 20000 - mean * mean - 1) < 0.05)
    }

    @Test func shuffleIsAPermutationAndDeterministic() {
        var first = SeededGenerator(seed: 11)
        var second = SeededGenerator(seed: 11)
        let a = first.permutation(count: 50)
        let b = second.permutation(count: 50)
        #expect(a == b)
        #expect(a.sorted() == Array(0..<50))
        #expect(a != Array(0..<50))
    }
}
