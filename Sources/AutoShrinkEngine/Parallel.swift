/// How many threads engine kernels use; set once per process from `--threads`.
/// Kernels split work into at most this many contiguous chunks, so results do not depend
/// on scheduling (each output element is computed by exactly one chunk, in a fixed order).
public struct ExecutionContext: Sendable {
    public var threads: Int
    public init(threads: Int) { self.threads = max(1, threads) }

    /// Calls `body(range)` for `threads` (or fewer) contiguous chunks of 0..<count, in parallel.
    /// Small jobs (count < minimumPerChunk * 2) run inline.
    @inline(__always)
    public func parallelFor(_ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        split(count, chunks: min(threads, max(1, count / max(minimumPerChunk, 1)))) { _, range in body(range) }
    }

    /// Like `parallelFor`, also passing the chunk index (0..<chunkCount(count)) so a body can
    /// use per-chunk scratch memory.
    @inline(__always)
    public func parallelChunks(_ count: Int, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
        split(count, chunks: chunkCount(count), body)
    }

    /// Calls `body(task)` once for each task of 0..<count on up to `threads` threads, each thread taking the next
    /// task in order when it is free: for independent tasks of unequal size (e.g. the weight-gradient and input-
    /// gradient GEMMs of one layer, docs/architecture.md "Threads"). Every task must write memory no other task
    /// touches and compute the same values on any thread; which thread runs which task then changes nothing.
    public func parallelTasks(_ count: Int, _ body: (_ task: Int) -> Void) {
        guard min(threads, count) > 1 else {
            for task in 0..<count { body(task) }
            return
        }
        // one task per chunk: the team's threads take its chunks in order as they come free
        WorkerTeam.shared.run(count, chunks: count, threads: threads) { task, _ in body(task) }
    }

    /// Runs `body(chunk, range)` for `chunks` contiguous chunks of 0..<count, inline when one chunk, else on the
    /// process's `WorkerTeam`.
    @inline(__always)
    private func split(_ count: Int, chunks: Int, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
        if chunks <= 1 || count <= 1 {
            body(0, 0..<count)
            return
        }
        WorkerTeam.shared.run(count, chunks: chunks, threads: chunks, body)
    }

    /// Number of chunks `parallelChunks` uses for `count` items.
    public func chunkCount(_ count: Int) -> Int { max(1, min(threads, count)) }
}

