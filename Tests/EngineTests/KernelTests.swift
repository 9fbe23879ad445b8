import Testing
@testable import AutoShrinkEngine

/// Fast kernels against the plain reference kernels on random and odd shapes.
@Suite struct KernelTests {
    struct Case: Sendable, CustomStringConvertible {
        var inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int, groups: Int, height: Int, width: Int, batch: Int
        var description: String { "\(inputChannels)->\(outputChannels) k\(kernel) s\(stride) g\(groups) \(height)x\(width) n\(batch)" }
    }

    static let cases: [Case] = [
        Case(inputChannels: 1, outputChannels: 16, kernel: 3, stride: 1, groups: 1, height: 28, width: 28, batch: 3),
        Case(inputChannels: 16, outputChannels: 32, kernel: 3, stride: 2, groups: 1, height: 28, width: 28, batch: 2),
        Case(inputChannels: 7, outputChannels: 7, kernel: 3, stride: 1, groups: 7, height: 9, width: 13, batch: 3),
        Case(inputChannels: 33, outputChannels: 33, kernel: 3, stride: 2, groups: 33, height: 14, width: 14, batch: 2),
        Case(inputChannels: 5, outputChannels: 5, kernel: 3, stride: 2, groups: 5, height: 7, width: 7, batch: 2),
        Case(inputChannels: 6, outputChannels: 6, kernel: 5, stride: 1, groups: 6, height: 8, width: 5, batch: 2),
        Case(inputChannels: 33, outputChannels: 17, kernel: 1, stride: 1, groups: 1, height: 7, width: 7, batch: 5),
        Case(inputChannels: 12, outputChannels: 20, kernel: 1, stride: 2, groups: 1, height: 14, width: 14, batch: 3),
        Case(inputChannels: 6, outputChannels: 9, kernel: 3, stride: 1, groups: 3, height: 11, width: 6, batch: 2),
        Case(inputChannels: 3, outputChannels: 4, kernel: 7, stride: 2, groups: 1, height: 15, width: 15, batch: 2),
        Case(inputChannels: 6, outputChannels: 6, kernel: 5, stride: 2, groups: 6, height: 9, width: 11, batch: 3),
        // Inference runs im2col + GEMM in blocks of images: several blocks and a short last one.
        Case(inputChannels: 1, outputChannels: 16, kernel: 3, stride: 1, groups: 1, height: 28, width: 28, batch: 20),
        Case(inputChannels: 16, outputChannels: 32, kernel: 3, stride: 2, groups: 1, height: 28, width: 28, batch: 7),
    ]

    @Test(arguments: cases)
    func convolutionMatchesReference(_ c: Case) {
        var generator = SplitMix64(seed: 77)
        let layer = Convolution(name: "conv", inputChannels: c.inputChannels, outputChannels: c.outputChannels,
                                kernel: c.kernel, stride: c.stride, groups: c.groups)
        layer.initialize(using: &generator)
        let inputShape = ValueShape(channels: c.inputChannels, height: c.height, width: c.width)
        let outputShape = layer.outputShape(for: [inputShape])
        layer.prepare(batch: c.batch, inputs: [inputShape])
        let x = Tensor(shape: [inputShape.elements * c.batch])
        for i in 0..<x.count { x.data[i] = Float.random(in: -1...1, using: &generator) }
        // One guard element after the output must stay untouched.
        let fast = Tensor(shape: [outputShape.elements * c.batch + 1]), slow = Tensor(shape: [outputShape.elements * c.batch])
        fast.data[fast.count - 1] = 12345
        let xMap = FeatureMap(data: x.data, channels: c.inputChannels, batch: c.batch, height: c.height, width: c.width)
        func map(_ t: Tensor) -> FeatureMap {
            FeatureMap(data: t.data, channels: outputShape.channels, batch: c.batch, height: outputShape.height, width: outputShape.width)
        }
        ReferenceKernels.convolution(input: xMap, weights: layer.weight.value.data, output: map(slow),
                                     kernel: c.kernel, stride: c.stride, padding: c.kernel / 2, groups: c.groups)
        var inferenceOutputs: [[Float]] = []
        for (training, threads) in [(true, 2), (false, 2), (false, 1)] {
            fast.data.update(repeating: .nan, count: slow.count)
            layer.forward(inputs: [xMap], output: map(fast), training: training, context: ExecutionContext(threads: threads))
            var worst: Float = 0
            for i in 0..<slow.count { worst = max(worst, abs(fast.data[i] - slow.data[i])) }
            #expect(worst < 1e-4, "max error \(worst) for \(c), training \(training), \(threads) threads")
            #expect(fast.data[fast.count - 1] == 12345, "wrote past the output for \(c)")
            if !training { inferenceOutputs.append(Array(UnsafeBufferPointer(start: fast.data, count: slow.count))) }
        }
        #expect(inferenceOutputs[0] == inferenceOutputs[1], "inference depends on the thread count for \(c)")
    }

    @Test(arguments: [(m: 17, n: 33, k: 9), (m: 64, n: 200, k: 32), (m: 3, n: 1000, k: 70), (m: 130, n: 40, k: 129)])
    func gemmMatchesReferenceAndIsThreadIndependent(_ s: (m: Int, n: Int, k: Int)) {
        var generator = SplitMix64(seed: 5)
        for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = Tensor(shape: [s.m * s.k]), b = Tensor(shape: [s.k * s.n])
            for i in 0..<a.count { a.data[i] = Float.random(in: -1...1, using: &generator) }
            for i in 0..<b.count { b.data[i] = Float.random(in: -1...1, using: &generator) }
            let lda = transposeA ? s.m : s.k, ldb = transposeB ? s.k : s.n
            let one = Tensor(shape: [s.m * s.n]), two = Tensor(shape: [s.m * s.n]), reference = Tensor(shape: [s.m * s.n])
            for c in [one, two, reference] { c.fill(0.5) }
            GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: s.m, n: s.n, k: s.k, a: a.data, lda: lda, b: b.data, ldb: ldb,
                          beta: 1, c: one.data, ldc: s.n, context: ExecutionContext(threads: 1))
            GEMM.multiply(transposeA: transposeA, transposeB: transposeB, m: s.m, n: s.n, k: s.k, a: a.data, lda: lda, b: b.data, ldb: ldb,
                          beta: 1, c: two.data, ldc: s.n, context: ExecutionContext(threads: 2))
            GEMM.reference(transposeA: transposeA, transposeB: transposeB, m: s.m, n: s.n, k: s.k, a: a.data, lda: lda, b: b.data, ldb: ldb,
                           beta: 1, c: reference.data, ldc: s.n)
            var worst: Float = 0
            for i in 0..<one.count { worst = max(worst, abs(one.data[i] - reference.data[i])) }
            #expect(worst < 1e-4, "max error \(worst)")
            #expect(one.array == two.array, "1 and 2 threads differ")
        }
    }

    @Test func openBLASKernelIsCorrect() {
        #expect(BLASConfiguration.verify(size: 128) < 1e-3, "OpenBLAS core \(BLASConfiguration.coreName) gives wrong sgemm results")
    }

    @Test func coreTypeChoice() {
        let avx512: Set<String> = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]
        #expect(BLASConfiguration.chosenCoreType(environment: [:], detectedCore: "Prescott", flags: avx512) == "SkylakeX")
        #expect(BLASConfiguration.chosenCoreType(environment: [:], detectedCore: "Prescott", flags: avx512.union(["avx512_bf16"])) == "Cooperlake")
        #expect(BLASConfiguration.chosenCoreType(environment: [:], detectedCore: "Prescott", flags: ["avx2", "fma"]) == "Haswell")
        #expect(BLASConfiguration.chosenCoreType(environment: [:], detectedCore: "Prescott", flags: ["sse2"]) == nil)
        // A recognised CPU is left alone, a user's choice wins, and there is only one re-exec.
        #expect(BLASConfiguration.chosenCoreType(environment: [:], detectedCore: "SkylakeX", flags: avx512) == nil)
        #expect(BLASConfiguration.chosenCoreType(environment: ["OPENBLAS_CORETYPE": "Haswell"], detectedCore: "Prescott", flags: avx512) == nil)
        #expect(BLASConfiguration.chosenCoreType(environment: ["AUTOSHRINK_BLAS_REEXEC": "1"], detectedCore: "Prescott", flags: avx512) == nil)
        #expect(BLASConfiguration.chosenCoreType(environment: ["AUTOSHRINK_BLAS_CORETYPE": "off"], detectedCore: "Prescott", flags: avx512) == nil)
        #expect(BLASConfiguration.chosenCoreType(environment: ["AUTOSHRINK_BLAS_CORETYPE": "Haswell"], detectedCore: "SkylakeX", flags: avx512) == "Haswell")
        #expect(BLASConfiguration.cpuFlags(cpuinfo: "processor : 0\nflags\t\t: fpu avx2 fma\n") == ["fpu", "avx2", "fma"])
    }

    @Test func learningRateSchedules() {
        let cosine = LearningRateSchedule(kind: .cosine, baseRate: 1, warmupSteps: 10, totalSteps: 110)
        #expect(abs(cosine.rate(at: 0) - 0.1) < 1e-6)
        #expect(abs(cosine.rate(at: 9) - 1) < 1e-6)
        #expect(abs(cosine.rate(at: 10) - 1) < 1e-6)
        #expect(abs(cosine.rate(at: 60) - 0.5) < 1e-5)
        #expect(cosine.rate(at: 110) < 1e-6)
        let step = LearningRateSchedule(kind: .step, baseRate: 1, totalSteps: 100, stepSize: 30, gamma: 0.1)
        #expect(step.rate(at: 29) == 1)
        #expect(abs(step.rate(at: 30) - 0.1) < 1e-7)
        #expect(abs(step.rate(at: 65) - 0.01) < 1e-8)
    }

    /// Each optimizer minimises a convex quadratic sum((p - 3)^2).
    @Test(arguments: OptimizerKind.allCases)
    func optimizersConverge(_ kind: OptimizerKind) {
        let parameter = Parameter(name: "p", shape: [4], decay: false)
        let rate: Float = kind == .sgd ? 0.05 : 0.05
        let optimizer = OptimizerConfiguration(kind: kind, learningRate: rate, weightDecay: 0).make(for: [parameter])
        for _ in 0..<600 {
            for i in 0..<4 { parameter.gradient.data[i] = 2 * (parameter.value.data[i] - 3) }
            optimizer.step([parameter])
        }
        for i in 0..<4 { #expect(abs(parameter.value.data[i] - 3) < 0.05, "\(kind): \(parameter.value.array)") }
    }
}
