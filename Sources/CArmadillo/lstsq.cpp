// Least-squares solvers for the C API in include/CArmadillo.h.
//
// Layout letters: R = rows (observations), K = cols (coefficients). The C API passes A row-major
// (R, K); Armadillo stores column-major, so every entry point first copies A into an arma::mat.
// Nothing may escape across the C boundary: each entry point catches every exception.

// Quiet: Armadillo would otherwise print "solve(): system is singular" and exception texts to stderr;
// the status code carries the information instead.
#define ARMA_WARN_LEVEL 0
#define ARMA_DONT_PRINT_EXCEPTIONS

#include "CArmadillo.h"

#include <armadillo>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <new>
#include <vector>

namespace {

// Validates the common arguments and copies A (R, K) row-major and b (R) into Armadillo objects.
int load_problem(const double *A, int rows, int cols, const double *b, const double *x_out,
                 arma::mat &matrix, arma::vec &target) {
    if (A == nullptr || b == nullptr || x_out == nullptr || rows < 1 || cols < 1) {
        return AS_STATUS_INVALID_ARGUMENT;
    }
    const std::size_t R = static_cast<std::size_t>(rows);
    const std::size_t K = static_cast<std::size_t>(cols);
    for (std::size_t i = 0; i < R * K; ++i) {
        if (!std::isfinite(A[i])) return AS_STATUS_NONFINITE_INPUT;
    }
    for (std::size_t i = 0; i < R; ++i) {
        if (!std::isfinite(b[i])) return AS_STATUS_NONFINITE_INPUT;
    }
    // Read row-major (R, K) as column-major (K, R), then transpose to (R, K).
    const arma::mat transposed(A, K, R);
    matrix = transposed.t();
    target = arma::vec(b, R);
    return AS_STATUS_OK;
}

// Copies a finished solution out; refuses to hand back NaN or infinity.
int store_solution(const arma::mat &matrix, const arma::vec &target, const arma::vec &solution,
                   double *x_out, double *residual_norm_out) {
    if (!solution.is_finite()) return AS_STATUS_NUMERICAL_FAILURE;
    const double residual = arma::norm(matrix * solution - target, 2);
    if (!std::isfinite(residual)) return AS_STATUS_NUMERICAL_FAILURE;
    std::copy(solution.begin(), solution.end(), x_out);
    if (residual_norm_out != nullptr) *residual_norm_out = residual;
    return AS_STATUS_OK;
}

// min ||M x - t|| by SVD (LAPACK gelsd, singular values below max(R, K) * eps * s_max are treated as
// zero): the minimum-norm solution whatever the rank, like numpy.linalg.lstsq.
bool solve_minimum_norm(const arma::mat &matrix, const arma::vec &target, arma::vec &solution) {
    return arma::solve(solution, matrix, target, arma::solve_opts::force_approx);
}

// Lawson-Hanson active-set NNLS. `passive` holds the coefficients currently free to be positive; all
// others are pinned at zero. Each outer step frees the pinned coefficient whose gradient most wants to
// grow; the inner loop backs off along the segment towards the unconstrained sub-solution until every
// free coefficient is positive again.
int solve_nonnegative(const arma::mat &matrix, const arma::vec &target, arma::vec &solution) {
    const arma::uword K = matrix.n_cols;
    const double eps = std::numeric_limits<double>::epsilon();
    const double gradient_tolerance =
        10.0 * eps * arma::norm(matrix, 1) * static_cast<double>(std::max(matrix.n_rows, K)) * std::max(1.0, arma::norm(target, "inf"));
    const int iteration_limit = 3 * static_cast<int>(K) + 30;

    solution.zeros(K);
    std::vector<bool> passive(K, false);
    arma::vec gradient = matrix.t() * (target - matrix * solution);  // (K): -d/dx of ||Mx - t||^2 / 2
    int iterations = 0;

    for (;;) {
        arma::uword entering = K;
        double largest = gradient_tolerance;
        for (arma::uword k = 0; k < K; ++k) {
            if (!passive[k] && gradient(k) > largest) {
                largest = gradient(k);
                entering = k;
            }
        }
        if (entering == K) return AS_STATUS_OK;  // KKT conditions hold
        if (++iterations > iteration_limit) return AS_STATUS_NOT_CONVERGED;
        passive[entering] = true;

        bool first_inner = true;
        bool rejected = false;
        for (;;) {
            std::vector<arma::uword> free_list;
            for (arma::uword k = 0; k < K; ++k) {
                if (passive[k]) free_list.push_back(k);
            }
            if (free_list.empty()) {
                solution.zeros();
                break;
            }
            const arma::uvec free_indices(free_list);
            arma::vec sub_solution;  // (|free|)
            if (!solve_minimum_norm(matrix.cols(free_indices), target, sub_solution)) {
                return AS_STATUS_NUMERICAL_FAILURE;
            }
            if (first_inner) {
                // Rounding can make the entering coefficient non-positive right away; taking it would
                // step by zero and pick it again forever. Skip it for this selection instead.
                const arma::uword position =
                    static_cast<arma::uword>(std::find(free_list.begin(), free_list.end(), entering) - free_list.begin());
                if (sub_solution(position) <= 0.0) {
                    passive[entering] = false;
                    gradient(entering) = 0.0;
                    rejected = true;
                    break;
                }
                first_inner = false;
            }
            if (sub_solution.min() > 0.0) {
                solution.zeros();
                solution(free_indices) = sub_solution;
                break;
            }
            // Largest step from the current point towards sub_solution that keeps every free x >= 0.
            double step = 1.0;
            for (arma::uword i = 0; i < free_indices.n_elem; ++i) {
                if (sub_solution(i) <= 0.0) {
                    const double current = solution(free_indices(i));
                    step = std::min(step, current / (current - sub_solution(i)));
                }
            }
            const double pin_tolerance = 10.0 * eps * std::max(1.0, arma::norm(solution, "inf"));
            for (arma::uword i = 0; i < free_indices.n_elem; ++i) {
                const arma::uword k = free_indices(i);
                solution(k) += step * (sub_solution(i) - solution(k));
                if (solution(k) <= pin_tolerance) {
                    solution(k) = 0.0;
                    passive[k] = false;
                }
            }
            if (++iterations > iteration_limit) return AS_STATUS_NOT_CONVERGED;
        }
        if (!rejected) gradient = matrix.t() * (target - matrix * solution);
    }
}

}  // namespace

extern "C" {

int as_least_squares(const double *A, int rows, int cols, const double *b,
                     double *x_out, double *residual_norm_out) {
    try {
        arma::mat matrix;  // (R, K)
        arma::vec target;  // (R)
        const int status = load_problem(A, rows, cols, b, x_out, matrix, target);
        if (status != AS_STATUS_OK) return status;
        arma::vec solution;  // (K)
        if (!solve_minimum_norm(matrix, target, solution)) return AS_STATUS_NUMERICAL_FAILURE;
        return store_solution(matrix, target, solution, x_out, residual_norm_out);
    } catch (...) {
        return AS_STATUS_INTERNAL_ERROR;
    }
}

int as_ridge(const double *A, int rows, int cols, const double *b, double lambda,
             double *x_out, double *residual_norm_out) {
    try {
        if (!std::isfinite(lambda) || lambda < 0.0) return AS_STATUS_INVALID_ARGUMENT;
        arma::mat matrix;  // (R, K)
        arma::vec target;  // (R)
        const int status = load_problem(A, rows, cols, b, x_out, matrix, target);
        if (status != AS_STATUS_OK) return status;
        const arma::uword R = matrix.n_rows;
        const arma::uword K = matrix.n_cols;
        // [A; sqrt(lambda) I] (R + K, K) against [b; 0] (R + K).
        arma::mat stacked(R + K, K, arma::fill::zeros);
        stacked.rows(0, R - 1) = matrix;
        stacked.rows(R, R + K - 1).diag().fill(std::sqrt(lambda));
        arma::vec stacked_target(R + K, arma::fill::zeros);
        stacked_target.head(R) = target;
        arma::vec solution;  // (K)
        if (!solve_minimum_norm(stacked, stacked_target, solution)) return AS_STATUS_NUMERICAL_FAILURE;
        return store_solution(matrix, target, solution, x_out, residual_norm_out);
    } catch (...) {
        return AS_STATUS_INTERNAL_ERROR;
    }
}

int as_nonnegative_least_squares(const double *A, int rows, int cols, const double *b,
                                 double *x_out, double *residual_norm_out) {
    try {
        arma::mat matrix;  // (R, K)
        arma::vec target;  // (R)
        const int status = load_problem(A, rows, cols, b, x_out, matrix, target);
        if (status != AS_STATUS_OK) return status;
        arma::vec solution;  // (K)
        const int solved = solve_nonnegative(matrix, target, solution);
        if (solved != AS_STATUS_OK) return solved;
        return store_solution(matrix, target, solution, x_out, residual_norm_out);
    } catch (...) {
        return AS_STATUS_INTERNAL_ERROR;
    }
}

int as_matrix_rank(const double *A, int rows, int cols, int *rank_out) {
    try {
        if (A == nullptr || rank_out == nullptr || rows < 1 || cols < 1) return AS_STATUS_INVALID_ARGUMENT;
        const std::size_t count = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
        for (std::size_t i = 0; i < count; ++i) {
            if (!std::isfinite(A[i])) return AS_STATUS_NONFINITE_INPUT;
        }
        const arma::mat transposed(A, static_cast<arma::uword>(cols), static_cast<arma::uword>(rows));
        arma::vec singular_values;
        if (!arma::svd(singular_values, transposed)) return AS_STATUS_NUMERICAL_FAILURE;
        // Same threshold as solve_minimum_norm: max(R, K) * eps * s_max (rank is transpose-invariant).
        const double threshold = static_cast<double>(std::max(rows, cols)) *
                                 std::numeric_limits<double>::epsilon() *
                                 (singular_values.n_elem > 0 ? singular_values.max() : 0.0);
        int rank = 0;
        for (arma::uword i = 0; i < singular_values.n_elem; ++i) {
            if (singular_values(i) > threshold) ++rank;
        }
        *rank_out = rank;
        return AS_STATUS_OK;
    } catch (...) {
        return AS_STATUS_INTERNAL_ERROR;
    }
}

const char *as_status_message(int status) {
    switch (status) {
    case AS_STATUS_OK: return "ok";
    case AS_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case AS_STATUS_NONFINITE_INPUT: return "input contains NaN or infinity";
    case AS_STATUS_NUMERICAL_FAILURE: return "numerical failure";
    case AS_STATUS_NOT_CONVERGED: return "did not converge";
    case AS_STATUS_INTERNAL_ERROR: return "internal error";
    default: return "unknown status";
    }
}

}  // extern "C"
