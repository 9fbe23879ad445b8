/*
 * rnn_kernels.h - the kernels of an exported recurrent language model (docs/shrinkrnn.md, "Deploy"):
 * matrix-vector products over float32 or int8 weights with float32 activations, the cell's node
 * activations and highway mix, and softmax / log-softmax over the vocabulary. C99 + libc (own exp, tanh
 * and log approximations, rnn_kernels.c), batch 1,
 * no allocation, no global state. The generated model file (`autoshrink export` of a language-model
 * checkpoint) calls them as straight-line code, one call per step of the cell's DAG.
 *
 * Layouts (row-major):
 *   rnn_vecmat_*   W [K][N], y[N] = x[K] W: the cell's weights as the Swift engine stores them
 *                  (W0x [D][2H], W0h [H][2H], W_i [H][2H]); the inner loop runs along N (axpy form), so
 *                  it vectorises without reassociating a sum.
 *   rnn_rowdot_*   W [R][K], y[r] = bias[r] + W[r] . x: the decoder [V][H] (the embedding when tied);
 *                  each dot product is summed in RNN_LANES interleaved partial sums.
 * int8 weights are symmetric with one float scale per output (column n of a [K][N] matrix, row r of
 * a [R][K] one): w = scale * q, q in [-127, 127]. Activations stay float32.
 */
#ifndef AUTOSHRINK_RNN_KERNELS_H
#define AUTOSHRINK_RNN_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Partial sums per dot product in rnn_rowdot_* (a fixed order on every machine). */
#define RNN_LANES 16

/* y[N] = x[K] W[K][N] (accumulate == 0) or y += x W (accumulate != 0). */
void rnn_vecmat_f32(float *y, const float *x, const float *w, int k, int n, int accumulate);
/* The same with int8 weights q[K][N] and one scale per column: y[n] (+)= scale[n] * sum_k x[k] q[k][n]. */
void rnn_vecmat_s8(float *y, const float *x, const int8_t *q, const float *scale, int k, int n, int accumulate);

/* y[R] = bias[R] + W[R][K] x[K] (bias may be NULL). */
void rnn_rowdot_f32(float *y, const float *x, const float *w, const float *bias, int rows, int k);
/* The same with int8 rows q[R][K] and one scale per row: y[r] = bias[r] + scale[r] * (q[r] . x). */
void rnn_rowdot_s8(float *y, const float *x, const int8_t *q, const float *scale, const float *bias, int rows, int k);

/* Row `row` of a [R][D] table into x[D]; the int8 form multiplies by the row's scale. */
void rnn_embed_f32(float *x, const float *table, int row, int d);
void rnn_embed_s8(float *x, const int8_t *table, const float *scale, int row, int d);

/* Element-wise activations, y may equal x. */
void rnn_sigmoid(float *y, const float *x, int n);
void rnn_tanh(float *y, const float *x, int n);
void rnn_relu(float *y, const float *x, int n);
/* A cell node's gate: y = sigmoid(x + bias), y may equal x (the bias of docs/shrinkrnn.md, "The cell"). */
void rnn_sigmoid_bias(float *y, const float *x, const float *bias, int n);

/* The highway mix of a cell node: s = u + gate * (g - u), gate already through the sigmoid. */
void rnn_highway(float *s, const float *gate, const float *g, const float *u, int n);
/* out[n] = mean of count inputs (summed in order, then times 1/count), out may be none of the inputs. */
void rnn_mean(float *out, const float *const *inputs, int count, int n);

/* log sum_j exp(z[j]): max + log(sum exp(z - max)), the sum in float in index order. */
float rnn_log_sum_exp(const float *z, int n);
/* p[n] = softmax(z) (p may equal z). */
void rnn_softmax(float *p, const float *z, int n);
/* The k largest entries of z (ties: lower index first) into ids[k], largest first; k <= n. */
void rnn_top_k(const float *z, int n, int k, int *ids);

#ifdef __cplusplus
}
#endif

#endif /* AUTOSHRINK_RNN_KERNELS_H */
