import COpenBLAS

/// Row-major single-precision GEMM: C[M,N] = alpha * op(A)[M,K] x op(B)[K,N] + beta * C.
///
/// OpenBLAS runs single-threaded (see `BLASConfiguration`); this wrapper splits the larger of
/// M and N into `context.threads` blocks and calls sgemm once per block in parallel. Each
/// element of C is produced by exactly one call, so results are identical for any thread count.
public enum GEMM {
    public static func multiply(transposeA: Bool = false, transposeB: Bool = false,
                                m: Int, n: Int, k: Int, alpha: Float = 1,
                                a: UnsafePointer<Float>, lda: Int,
                                b: UnsafePointer<Float>, ldb: Int,
                                beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
                                context: ExecutionContext) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for row in 0..<m { scale(c + row * ldc, count: n, by: beta) }
            return
        }
        let work = m * n * k
        let threads = work < 64 * 64 * 32 ? 1 : context.threads
        if threads == 1 {
            call(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        let splitColumns = n >= m
        let length = splitColumns ? n : m
        // Blocks are multiples of 16 columns/rows so that every call stays on the kernel's fast path.
        let unit = 16
        let units = (length + unit - 1) / unit
        ExecutionContext(threads: threads).parallelFor(units) { range in
            let start = range.lowerBound * unit
            let end = min(length, range.upperBound * unit)
            if start >= end { return }
            if splitColumns {
                // op(B) columns start..<end; C columns start..<end.
                let bBlock = transposeB ? b + start * ldb : b + start
                call(transposeA, transposeB, m, end - start, k, alpha, a, lda, bBlock, ldb, beta, c + start, ldc)
            } else {
                let aBlock = transposeA ? a + start : a + start * lda
                call(transposeA, transposeB, end - start, n, k, alpha, aBlock, lda, b, ldb, beta, c + start * ldc, ldc)
            }
        }
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
