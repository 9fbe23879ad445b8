import Dispatch

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

    /// Runs `body(chunk, range)` for `chunks` contiguous chunks of 0..<count, inline when one chunk.
    @inline(__always)
    private func split(_ count: Int, chunks: Int, _ body: (_ chunk: Int, _ range: Range<Int>) -> Void) {
        if chunks <= 1 || count <= 1 {
            body(0, 0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            // Chunks touch disjoint memory by construction; the closure is only shared for this call.
            nonisolated(unsafe) let shared = body
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                if start < end { shared(chunk, start..<end) }
            }
        }
    }

    /// Number of chunks `parallelChunks` uses for `count` items.
    public func chunkCount(_ count: Int) -> Int { max(1, min(threads, count)) }
}
