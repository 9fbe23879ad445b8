/// Vectorised float reductions (Swift does not reassociate float sums on its own).
enum Reductions {
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// sum of x[i]
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var a = SIMD8<Float>(), b = SIMD8<Float>()
        var i = 0
        while i + 16 <= count { a += load8(x + i); b += load8(x + i + 8); i += 16 }
        var total = (a + b).sum()
        while i < count { total += x[i]; i += 1 }
        return total
    }

    /// Mean and biased variance in one pass, with sums shifted by x[0] so that a large common
    /// offset does not cancel catastrophically.
    @inline(__always)
    static func meanAndVariance(_ x: UnsafePointer<Float>, _ count: Int) -> (Float, Float) {
        guard count > 0 else { return (0, 0) }
        let shift = x[0]
        let k = SIMD8<Float>(repeating: shift)
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), q0 = SIMD8<Float>(), q1 = SIMD8<Float>()
        var i = 0
        while i + 16 <= count {
            let d0 = load8(x + i) - k, d1 = load8(x + i + 8) - k
            s0 += d0; s1 += d1; q0 += d0 * d0; q1 += d1 * d1; i += 16
        }
        var sum = (s0 + s1).sum(), squares = (q0 + q1).sum()
        while i < count { let d = x[i] - shift; sum += d; squares += d * d; i += 1 }
        let n = Float(count)
        let meanShifted = sum / n
        let mean = shift + meanShifted
        // Second, exact pass for the variance when the one-pass estimate may have cancelled badly.
        var variance = squares / n - meanShifted * meanShifted
        if variance < 1e-3 * squares / n {
            var total: Float = 0
            for j in 0..<count { let d = x[j] - mean; total += d * d }
            variance = total / n
        }
        return (mean, max(variance, 0))
    }

    /// (sum of g[i], sum of g[i] * x[i])
    @inline(__always)
    static func sumAndDot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int) -> (Float, Float) {
        var s = SIMD8<Float>(), d = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            let gv = load8(g + i)
            s += gv; d += gv * load8(x + i); i += 8
        }
        var sum = s.sum(), dot = d.sum()
        while i < count { sum += g[i]; dot += g[i] * x[i]; i += 1 }
        return (sum, dot)
    }

    /// sum of x[i] * y[i]
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ count: Int) -> Float {
        var a = SIMD8<Float>(), b = SIMD8<Float>()
        var i = 0
        while i + 16 <= count {
            a += load8(x + i) * load8(y + i); b += load8(x + i + 8) * load8(y + i + 8); i += 16
        }
        var total = (a + b).sum()
        while i < count { total += x[i] * y[i]; i += 1 }
        return total
    }

    /// Zeroes g[i] where the activation blocks the gradient (judged from its output y[i]),
    /// in place, and returns (sum of g[i], sum of g[i] * x[i]) of the masked g.
    @inline(__always)
    static func maskedSumAndDot(_ g: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                                _ count: Int, activation: ActivationFunction) -> (Float, Float) {
        switch activation {
        case .none: return sumAndDot(g, x, count)
        case .relu: return masked(g, x, y, count, upper: .infinity)
        case .relu6: return masked(g, x, y, count, upper: 6)
        }
    }

    @inline(__always)
    private static func masked(_ g: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>,
                               _ count: Int, upper: Float) -> (Float, Float) {
        var s = SIMD8<Float>(), d = SIMD8<Float>()
        let zero = SIMD8<Float>(), top = SIMD8<Float>(repeating: upper)
        var i = 0
        while i + 8 <= count {
            let yv = load8(y + i)
            var gv = load8(g + i)
            gv.replace(with: zero, where: (yv .<= zero) .| (yv .>= top))
            UnsafeMutableRawPointer(g + i).storeBytes(of: gv, as: SIMD8<Float>.self)
            s += gv; d += gv * load8(x + i); i += 8
        }
        var sum = s.sum(), dot = d.sum()
        while i < count {
            if y[i] <= 0 || y[i] >= upper { g[i] = 0 }
            sum += g[i]; dot += g[i] * x[i]; i += 1
        }
        return (sum, dot)
    }
}
