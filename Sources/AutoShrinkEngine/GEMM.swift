import COpenBLAS

/// Row-major single-precision GEMM: C[M,N] = alpha * op(A)[M,K] x op(B)[K,N] + beta * C.
///
/// OpenBLAS runs single-threaded (see `BLASConfiguration`); this wrapper cuts the larger of M and N
/// into blocks and calls sgemm once per block, the threads of `context` taking whole blocks.
/// The blocks depend on the shape only, never on the thread count: OpenBLAS's result for an element
/// can depend on the shape of the call it belongs to (small-matrix paths, edge kernels, blocking
/// differ per core type, e.g. Haswell/Zen vs SkylakeX), so only identical calls for every thread
/// count make results bit-identical for 1, 2 or 16 threads (docs/architecture.md, "Threads").
public enum GEMM {
    /// How a GEMM of this shape is cut: along columns (N) or rows (M), in blocks of `length`
    /// (a multiple of 16, so every call but the last stays on the kernel's full-width path), `count` blocks.
    public struct Blocking: Equatable, Sendable {
        public let splitColumns: Bool
        public let length: Int
        public let count: Int
    }

    /// Below this many multiply-adds a GEMM is one call (splitting would cost more than it saves).
    static let singleCallWork = 64 * 64 * 32
    /// At most this many blocks: enough to keep up to 8 threads busy, few enough that every block
    /// still amortises OpenBLAS's packing of the other operand.
    static let maximumBlocks = 8
    /// Blocks are at least this long along the split dimension...
    static let minimumBlockLength = 64
    /// ...and hold at least this many multiply-adds, so a mid-sized GEMM is not cut into calls
    /// too small to run at the kernel's full speed.
    static let minimumBlockWork = 256 * 1024

    /// The blocking of an m x n x k GEMM; a function of the shape alone.
    public static func blocking(m: Int, n: Int, k: Int) -> Blocking {
        let splitColumns = n >= m
        let total = splitColumns ? n : m
        let work = m.multipliedReportingOverflow(by: n).partialValue.multipliedReportingOverflow(by: k).partialValue
        guard work >= singleCallWork, total >= 2 * minimumBlockLength else {
            return Blocking(splitColumns: splitColumns, length: total, count: 1)
        }
        let count = max(1, min(maximumBlocks, total / minimumBlockLength, work / minimumBlockWork))
        let length = ((total + count - 1) / count + 15) / 16 * 16
        return Blocking(splitColumns: splitColumns, length: length, count: (total + length - 1) / length)
    }

    public static func multiply(transposeA: Bool = false, transposeB: Bool = false,
                                m: Int, n: Int, k: Int, alpha: Float = 1,
                                a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int,
                                beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
                                context: ExecutionContext) {
        let product = Product(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                              a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        guard product.blocks > 1 else {
            product.run(block: 0)
            return
        }
        context.parallelFor(product.blocks) { range in
            for block in range { product.run(block: block) }
        }
    }

    /// One GEMM as its blocks (`blocking`), each an independent sgemm call writing its own part of C, so that
    /// a caller can run the blocks of several products as one set of tasks (`ExecutionContext.parallelTasks`):
    /// the calls are the ones `multiply` makes, whichever thread runs them.
    public struct Product {
        let transposeA: Bool, transposeB: Bool
        let m: Int, n: Int, k: Int
        let alpha: Float, beta: Float
        let a: UnsafePointer<Float>, lda: Int
        let b: UnsafePointer<Float>, ldb: Int
        let c: UnsafeMutablePointer<Float>, ldc: Int
        let blocking: Blocking
        /// Number of blocks (1: one call for the whole product).
        public var blocks: Int { k > 0 ? blocking.count : 1 }

        public init(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
            self.transposeA = transposeA; self.transposeB = transposeB
            self.m = m; self.n = n; self.k = k; self.alpha = alpha; self.beta = beta
            self.a = a; self.lda = lda; self.b = b; self.ldb = ldb; self.c = c; self.ldc = ldc
            blocking = GEMM.blocking(m: m, n: n, k: k)
        }

        /// Block `block` of the product (0..<blocks).
        public func run(block: Int) {
            guard blocks > 1 else {
                multiplyInOneCall(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                  a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                return
            }
            let total = blocking.splitColumns ? n : m
            let start = block * blocking.length
            let end = min(total, start + blocking.length)
            if blocking.splitColumns {
                // op(B) columns start..<end; C columns start..<end.
                let bBlock = transposeB ? b + start * ldb : b + start
                call(transposeA, transposeB, m, end - start, k, alpha, a, lda, bBlock, ldb, beta, c + start, ldc)
            } else {
                let aBlock = transposeA ? a + start : a + start * lda
                call(transposeA, transposeB, end - start, n, k, alpha, aBlock, lda, b, ldb, beta, c + start * ldc, ldc)
            }
        }
    }

    /// One sgemm call for the whole product, for callers that already cut the work by shape
    /// (e.g. inference blocks of images) and run it on one thread.
    public static func multiplyInOneCall(transposeA: Bool = false, transposeB: Bool = false,
                                         m: Int, n: Int, k: Int, alpha: Float = 1,
                                         a: UnsafePointer<Float>, lda: Int,
                                         b: UnsafePointer<Float>, ldb: Int,
                                         beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for row in 0..<m { scale(c + row * ldc, count: n, by: beta) }
            return
        }
        call(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    @inline(__always)
    private static func call(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                             _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                             _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    private static func scale(_ row: UnsafeMutablePointer<Float>, count: Int, by beta: Float) {
        if beta == 0 { row.update(repeating: 0, count: count) } else { for i in 0..<count { row[i] *= beta } }
    }

    /// Plain triple-loop reference with float64 accumulation (the test oracle).
    public static func reference(transposeA: Bool = false, transposeB: Bool = false,
                                 m: Int, n: Int, k: Int, alpha: Float = 1,
                                 a: UnsafePointer<Float>, lda: Int,
                                 b: UnsafePointer<Float>, ldb: Int,
                                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let av = transposeA ? a[p * lda + i] : a[i * lda + p]
                    let bv = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(av) * Double(bv)
                }
                let previous = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * sum + previous)
            }
        }
    }
}
