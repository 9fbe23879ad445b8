import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import AutoShrinkEngine

/// `ExecutionContext`'s chunks on the worker team (docs/architecture.md, "Threads"): every index once, in the
/// context's chunks, whichever thread runs them; nested and concurrent calls; workers that parked come back.
@Suite struct WorkerTeamTests {
    /// Runs `parallelChunks` and records which chunk saw each index.
    private func owners(threads: Int, count: Int) -> [Int] {
        let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
        defer { seen.deallocate() }
        seen.initialize(repeating: -1)
        nonisolated(unsafe) let pointer = seen
        ExecutionContext(threads: threads).parallelChunks(count) { chunk, range in
            for index in range {
                precondition(pointer[index] == -1, "index \(index) ran twice")
                pointer[index] = chunk
            }
        }
        return Array(seen)
    }

    @Test(arguments: [1, 2, 3, 8])
    func everyIndexOnceInItsChunk(threads: Int) {
        for count in [1, 2, 3, 7, 64, 1000] {
            let chunks = ExecutionContext(threads: threads).chunkCount(count)
            let expected = (0..<count).map { index in (0..<chunks).first { index < count * ($0 + 1) / chunks }! }
            #expect(owners(threads: threads, count: count) == expected, "threads \(threads), count \(count)")
        }
    }

    /// More chunks than processors (`--threads` above the core count): every chunk still runs once, on no more
    /// threads than there are processors.
    @Test func moreChunksThanProcessors() {
        let threads = 4 * WorkerTeam.processors + 1
        let count = 10 * threads
        #expect(owners(threads: threads, count: count) == (0..<count).map { $0 / 10 })
        #expect(WorkerTeam.shared.startedWorkers <= WorkerTeam.processors - 1)
    }

    /// Many short calls in a row (the hand-over a training step makes between layers), then one after the workers
    /// have parked (longer than `WorkerTeam.pollNanoseconds`).
    @Test func handOverAndWakeAfterParking() {
        let context = ExecutionContext(threads: 3)
        let total = Atomic<Int>(0)
        for _ in 0..<2000 {
            context.parallelFor(3) { range in total.add(range.count, ordering: .relaxed) }
        }
        #expect(total.load(ordering: .relaxed) == 6000)
        for _ in 0..<3 {
            usleep(UInt32(3 * WorkerTeam.pollNanoseconds / 1000))
            context.parallelFor(3) { range in total.add(range.count, ordering: .relaxed) }
        }
        #expect(total.load(ordering: .relaxed) == 6009)
    }

    /// A chunk that calls `parallelFor` again runs the inner call on its own thread; two callers at once both
    /// finish (one of them inline), each index of each call once.
    @Test func nestedAndConcurrentCalls() {
        let context = ExecutionContext(threads: 2)
        let inner = Atomic<Int>(0)
        context.parallelFor(4) { outer in
            for _ in outer { context.parallelFor(10) { range in inner.add(range.count, ordering: .relaxed) } }
        }
        #expect(inner.load(ordering: .relaxed) == 40)

        let concurrent = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<200 {
                context.parallelFor(16) { range in concurrent.add(range.count, ordering: .relaxed) }
            }
        }
        #expect(concurrent.load(ordering: .relaxed) == 4 * 200 * 16)
    }

    /// `parallelTasks`: each task exactly once, for any thread count, tasks of very unequal size included.
    @Test(arguments: [1, 2, 3])
    func everyTaskOnce(threads: Int) {
        for count in [0, 1, 2, 5, 100] {
            let runs = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
            defer { runs.deallocate() }
            runs.initialize(repeating: 0)
            nonisolated(unsafe) let pointer = runs
            ExecutionContext(threads: threads).parallelTasks(count) { task in
                if task == 0 { usleep(2000) }  // one long task: the others go to the other threads meanwhile
                pointer[task] += 1
            }
            #expect(Array(runs.prefix(count)) == [Int](repeating: 1, count: count), "threads \(threads), count \(count)")
        }
    }

    /// A GEMM's blocks run as tasks write what `GEMM.multiply` writes, bit for bit.
    @Test func productBlocksMatchMultiply() {
        let (m, n, k) = (64, 1000, 96)  // cut into blocks along n
        let a = (0..<(m * k)).map { Float(($0 * 7919) % 97) / 97 - 0.5 }
        let b = (0..<(k * n)).map { Float(($0 * 104_729) % 89) / 89 - 0.5 }
        var viaMultiply = [Float](repeating: 0, count: m * n), viaTasks = viaMultiply
        let context = ExecutionContext(threads: 2)
        GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &viaMultiply, ldc: n, context: context)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                viaTasks.withUnsafeMutableBufferPointer { c in
                    let product = GEMM.Product(m: m, n: n, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: n,
                                               c: c.baseAddress!, ldc: n)
                    #expect(product.blocks > 1)
                    context.parallelTasks(product.blocks) { product.run(block: $0) }
                }
            }
        }
        #expect(viaTasks == viaMultiply)
    }
}
