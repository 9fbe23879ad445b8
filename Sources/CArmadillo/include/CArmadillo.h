/*
 * CArmadillo: least-squares solvers over Armadillo behind a plain C API.
 *
 * Used by the device layer to fit latency and accuracy models. Matrices are dense, double precision,
 * row-major: A has shape (rows, cols), element (i, j) at A[i * cols + j]; b has shape (rows);
 * x_out has shape (cols). No function throws or aborts: every failure is a status code, and on any
 * non-zero status x_out and residual_norm_out are left untouched.
 *
 * residual_norm_out (optional, may be NULL) receives ||A x - b||_2 of the returned x.
 */
#ifndef CARMADILLO_H
#define CARMADILLO_H

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
#define AS_STATUS_OK 0
/* NULL pointer, rows or cols < 1, negative or non-finite lambda. */
#define AS_STATUS_INVALID_ARGUMENT 1
/* A or b contains NaN or infinity. */
#define AS_STATUS_NONFINITE_INPUT 2
/* The solver failed or produced a non-finite solution. */
#define AS_STATUS_NUMERICAL_FAILURE 3
/* The non-negative solver hit its iteration limit. */
#define AS_STATUS_NOT_CONVERGED 4
/* Out of memory or another unexpected C++ exception. */
#define AS_STATUS_INTERNAL_ERROR 5

/*
 * min_x ||A x - b||_2 by SVD (LAPACK gelsd through Armadillo). Singular values below
 * max(rows, cols) * eps * s_max count as zero, so a rank-deficient A (duplicated or constant features,
 * rows < cols) gives the minimum-norm solution instead of a failure, like numpy.linalg.lstsq.
 */
int as_least_squares(const double *A, int rows, int cols, const double *b,
                     double *x_out, double *residual_norm_out);

/*
 * Ridge regression: min_x ||A x - b||_2^2 + lambda ||x||_2^2 with lambda >= 0 (lambda = 0 is plain
 * least squares). Every coefficient is penalised, an intercept column included: centre the data or
 * scale that column up when the intercept should be (almost) free. Solved as the stacked least-squares
 * problem [A; sqrt(lambda) I] x = [b; 0], which avoids squaring the condition number.
 */
int as_ridge(const double *A, int rows, int cols, const double *b, double lambda,
             double *x_out, double *residual_norm_out);

/*
 * Non-negative least squares: min_x ||A x - b||_2 subject to x >= 0 (Lawson-Hanson active set).
 * Suits latency models whose per-operator costs cannot be negative.
 */
int as_nonnegative_least_squares(const double *A, int rows, int cols, const double *b,
                                 double *x_out, double *residual_norm_out);

/* Numerical rank of A, with the same singular-value threshold as as_least_squares. */
int as_matrix_rank(const double *A, int rows, int cols, int *rank_out);

/* A static, human-readable description of a status code ("ok", "invalid argument", ...). */
const char *as_status_message(int status);

#ifdef __cplusplus
}
#endif

#endif /* CARMADILLO_H */
