import AutoShrinkData
import CArmadillo
import Testing

/// Tests of the CArmadillo C API (least squares, ridge, non-negative least squares, rank).
@Suite struct LeastSquaresTests {
    /// Row-major design matrix (rows, 3): an intercept column and two random features.
    static func design(rows: Int, seed: UInt64) -> [Double] {
        var generator = SeededGenerator(seed: seed)
        return (0..<rows).flatMap { _ in [1.0, generator.nextDouble() * 10, generator.nextGaussian()] }
    }

    static func multiply(_ matrix: [Double], rows: Int, cols: Int, _ vector: [Double]) -> [Double] {
        (0..<rows).map { row in (0..<cols).reduce(0.0) { $0 + matrix[row * cols + $1] * vector[$1] } }
    }

    static func norm(_ vector: [Double]) -> Double {
        vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
    }

    @Test func recoversALinearModelFromNoisyData() {
        let rows = 400
        let truth = [2.0, 3.0, -0.5]
        let matrix = Self.design(rows: rows, seed: 1)
        var noise = SeededGenerator(seed: 2)
        let clean = Self.multiply(matrix, rows: rows, cols: 3, truth)
        let target = clean.map { $0 + 0.05 * noise.nextGaussian() }
        var solution = [Double](repeating: .nan, count: 3)
        var residual = Double.nan
        let status = as_least_squares(matrix, Int32(rows), 3, target, &solution, &residual)
        #expect(status == AS_STATUS_OK)
        for (estimate, expected) in zip(solution, truth) {
            #expect(abs(estimate - expected) < 0.02)
        }
        let fitted = Self.multiply(matrix, rows: rows, cols: 3, solution)
        let computed = Self.norm(zip(fitted, target).map { $0 - $1 })
        #expect(abs(residual - computed) < 1e-9)
        // The least-squares residual is no larger than that of the true coefficients.
        #expect(residual <= Self.norm(zip(clean, target).map { $0 - $1 }) + 1e-12)
        // Residual of pure noise with 3 fitted parameters: about 0.05 * sqrt(397).
        #expect(abs(residual - 0.05 * Double(rows - 3).squareRoot()) < 0.2)
    }

    @Test func exactFitOfASquareSystem() {
        let matrix: [Double] = [2, 1, 1, 3]  // (2, 2)
        let target: [Double] = [3, 5]
        var solution = [0.0, 0.0]
        var residual = -1.0
        #expect(as_least_squares(matrix, 2, 2, target, &solution, &residual) == AS_STATUS_OK)
        #expect(abs(solution[0] - 0.8) < 1e-12 && abs(solution[1] - 1.4) < 1e-12)
        #expect(residual < 1e-12)
    }

    @Test func rankDeficientGivesMinimumNormSolution() {
        // Columns 1 and 2 are identical: only their sum is determined; the minimum-norm answer splits it.
        let rows = 50
        var generator = SeededGenerator(seed: 3)
        var matrix: [Double] = []
        for _ in 0..<rows {
            let feature = generator.nextDouble()
            matrix += [1, feature, feature]
        }
        let target = Self.multiply(matrix, rows: rows, cols: 3, [1.0, 4.0, 0.0])
        var solution = [Double](repeating: .nan, count: 3)
        var residual = Double.nan
        #expect(as_least_squares(matrix, Int32(rows), 3, target, &solution, &residual) == AS_STATUS_OK)
        #expect(abs(solution[0] - 1) < 1e-9)
        #expect(abs(solution[1] - 2) < 1e-9 && abs(solution[2] - 2) < 1e-9)
        #expect(residual < 1e-9)
        var rank: Int32 = -1
        #expect(as_matrix_rank(matrix, Int32(rows), 3, &rank) == AS_STATUS_OK)
        #expect(rank == 2)
    }

    @Test func underdeterminedSystem() {
        // One equation x + y = 2: the minimum-norm solution is (1, 1).
        var solution = [0.0, 0.0]
        #expect(as_least_squares([1, 1], 1, 2, [2], &solution, nil) == AS_STATUS_OK)
        #expect(abs(solution[0] - 1) < 1e-12 && abs(solution[1] - 1) < 1e-12)
    }

    @Test func ridgeMatchesClosedForm() {
        // A (3, 2); x = (A^T A + lambda I)^-1 A^T b, solved by hand for the 2 x 2 system.
        let matrix: [Double] = [1, 2, 3, 4, 5, 7]
        let target: [Double] = [1, 2, 2]
        let lambda = 0.7
        let (a, b, d) = (1.0 + 9 + 25 + lambda, 2.0 + 12 + 35, 4.0 + 16 + 49 + lambda)  // [[a, b], [b, d]]
        let (u, v) = (1.0 + 6 + 10, 2.0 + 8 + 14)  // A^T b
        let determinant = a * d - b * b
        let expected = [(d * u - b * v) / determinant, (a * v - b * u) / determinant]
        var solution = [0.0, 0.0]
        var residual = 0.0
        #expect(as_ridge(matrix, 3, 2, target, lambda, &solution, &residual) == AS_STATUS_OK)
        #expect(abs(solution[0] - expected[0]) < 1e-10 && abs(solution[1] - expected[1]) < 1e-10)
        let fitted = Self.multiply(matrix, rows: 3, cols: 2, solution)
        #expect(abs(residual - Self.norm(zip(fitted, target).map { $0 - $1 })) < 1e-12)
    }

    @Test func ridgeShrinksAndZeroLambdaIsLeastSquares() {
        let rows = 100
        let matrix = Self.design(rows: rows, seed: 5)
        let target = Self.multiply(matrix, rows: rows, cols: 3, [1, 2, 3])
        var plain = [0.0, 0.0, 0.0]
        var ridgeZero = [0.0, 0.0, 0.0]
        var ridgeLarge = [0.0, 0.0, 0.0]
        #expect(as_least_squares(matrix, Int32(rows), 3, target, &plain, nil) == AS_STATUS_OK)
        #expect(as_ridge(matrix, Int32(rows), 3, target, 0, &ridgeZero, nil) == AS_STATUS_OK)
        #expect(as_ridge(matrix, Int32(rows), 3, target, 1e4, &ridgeLarge, nil) == AS_STATUS_OK)
        for index in 0..<3 { #expect(abs(plain[index] - ridgeZero[index]) < 1e-9) }
        #expect(Self.norm(ridgeLarge) < Self.norm(plain))
    }

    @Test func nonNegativeLeastSquares() {
        // Unconstrained, the best fit needs a negative second coefficient; NNLS pins it at zero.
        let rows = 60
        var generator = SeededGenerator(seed: 8)
        var matrix: [Double] = []
        for _ in 0..<rows { matrix += [1, generator.nextDouble(), generator.nextDouble()] }
        var noise = SeededGenerator(seed: 9)
        let target = Self.multiply(matrix, rows: rows, cols: 3, [0.5, -1.0, 2.0]).map { $0 + 0.01 * noise.nextGaussian() }
        var unconstrained = [0.0, 0.0, 0.0]
        #expect(as_least_squares(matrix, Int32(rows), 3, target, &unconstrained, nil) == AS_STATUS_OK)
        #expect(unconstrained[1] < 0)
        var solution = [Double](repeating: .nan, count: 3)
        var residual = Double.nan
        #expect(as_nonnegative_least_squares(matrix, Int32(rows), 3, target, &solution, &residual) == AS_STATUS_OK)
        #expect(solution.allSatisfy { $0 >= 0 })
        #expect(solution[1] == 0)
        // KKT: the gradient A^T (b - A x) is ~0 on free coefficients and <= 0 on pinned ones.
        let fitted = Self.multiply(matrix, rows: rows, cols: 3, solution)
        let remainder = zip(target, fitted).map { $0 - $1 }
        for column in 0..<3 {
            let gradient = (0..<rows).reduce(0.0) { $0 + matrix[$1 * 3 + column] * remainder[$1] }
            if solution[column] > 0 { #expect(abs(gradient) < 1e-8) } else { #expect(gradient <= 1e-8) }
        }
        #expect(residual >= Self.norm(zip(Self.multiply(matrix, rows: rows, cols: 3, unconstrained), target).map { $0 - $1 }) - 1e-12)
    }

    @Test func nonNegativeMatchesUnconstrainedWhenAlreadyPositive() {
        let rows = 40
        let matrix = Self.design(rows: rows, seed: 12).enumerated().map { $0.offset % 3 == 2 ? abs($0.element) : $0.element }
        let target = Self.multiply(matrix, rows: rows, cols: 3, [1, 0.5, 2])
        var solution = [0.0, 0.0, 0.0]
        #expect(as_nonnegative_least_squares(matrix, Int32(rows), 3, target, &solution, nil) == AS_STATUS_OK)
        #expect(abs(solution[0] - 1) < 1e-9 && abs(solution[1] - 0.5) < 1e-9 && abs(solution[2] - 2) < 1e-9)
    }

    /// Oracle: for K = 4 the NNLS optimum is the best non-negative least-squares fit over the 16 subsets
    /// of free columns.
    @Test(arguments: 0..<20)
    func nonNegativeMatchesSubsetEnumeration(seed: Int) {
        let (rows, cols) = (12, 4)
        var generator = SeededGenerator(seed: UInt64(seed), stream: 77)
        let matrix = (0..<(rows * cols)).map { _ in generator.nextGaussian() }
        let target = (0..<rows).map { _ in generator.nextGaussian() }
        var best = Double.infinity
        for mask in 0..<(1 << cols) {
            let columns = (0..<cols).filter { mask & (1 << $0) != 0 }
            var coefficients = [Double](repeating: 0, count: cols)
            if !columns.isEmpty {
                let sub = (0..<rows).flatMap { row in columns.map { matrix[row * cols + $0] } }
                var subSolution = [Double](repeating: 0, count: columns.count)
                guard as_least_squares(sub, Int32(rows), Int32(columns.count), target, &subSolution, nil) == AS_STATUS_OK,
                      subSolution.allSatisfy({ $0 >= 0 }) else { continue }
                for (position, column) in columns.enumerated() { coefficients[column] = subSolution[position] }
            }
            let fitted = Self.multiply(matrix, rows: rows, cols: cols, coefficients)
            best = min(best, Self.norm(zip(fitted, target).map { $0 - $1 }))
        }
        var solution = [Double](repeating: 0, count: cols)
        var residual = Double.nan
        #expect(as_nonnegative_least_squares(matrix, Int32(rows), Int32(cols), target, &solution, &residual) == AS_STATUS_OK)
        #expect(solution.allSatisfy { $0 >= 0 })
        #expect(abs(residual - best) < 1e-9)
    }

    @Test func errorReturns() {
        var solution = [7.0, 7.0]
        var residual = 7.0
        let matrix: [Double] = [1, 2, 3, 4]
        #expect(as_least_squares(nil, 2, 2, [1, 2], &solution, &residual) == AS_STATUS_INVALID_ARGUMENT)
        #expect(as_least_squares(matrix, 2, 2, nil, &solution, &residual) == AS_STATUS_INVALID_ARGUMENT)
        #expect(as_least_squares(matrix, 2, 2, [1, 2], nil, &residual) == AS_STATUS_INVALID_ARGUMENT)
        #expect(as_least_squares(matrix, 0, 2, [1, 2], &solution, &residual) == AS_STATUS_INVALID_ARGUMENT)
        #expect(as_least_squares(matrix, 2, -1, [1, 2], &solution, &residual) == AS_STATUS_INVALID_ARGUMENT)
        #expect(as_least_squares([1, .nan, 3, 4], 2, 2, [1, 2], &solution, &residual) == AS_STATUS_NONFINITE_INPUT)
        #expect(as_least_squares(matrix, 2, 2, [1, .infinity], &solution, &residual) == AS_STATUS_NONFINITE_INPUT)
        #expect(as_ridge(matrix, 2, 2, [1, 2], -1, &solution, &residual) == AS_STATUS_INVALID_ARGUMENT)
        #expect(as_ridge(matrix, 2, 2, [1, 2], .nan, &solution, &residual) == AS_STATUS_INVALID_ARGUMENT)
        #expect(as_nonnegative_least_squares(matrix, 2, 2, [.nan, 2], &solution, &residual) == AS_STATUS_NONFINITE_INPUT)
        var rank: Int32 = 0
        #expect(as_matrix_rank(matrix, 2, 2, nil) == AS_STATUS_INVALID_ARGUMENT)
        #expect(as_matrix_rank([.infinity, 0, 0, 1], 2, 2, &rank) == AS_STATUS_NONFINITE_INPUT)
        // Failures leave the outputs untouched.
        #expect(solution == [7, 7] && residual == 7)
        #expect(String(cString: as_status_message(AS_STATUS_NONFINITE_INPUT)) == "input contains NaN or infinity")
        #expect(String(cString: as_status_message(99)) == "unknown status")
    }
}
