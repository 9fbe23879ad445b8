/*
 * rnn_kernels.c - kernels of an exported recurrent language model (rnn_kernels.h; docs/shrinkrnn.md,
 * "Deploy"). Portable C99 written so that gcc/clang vectorise it at -O3 for whatever the device flags
 * allow (AVX2/AVX-512, NEON) without -ffast-math: the [K][N] products run along N (no reduction), the
 * dot products keep RNN_LANES separate partial sums (each lane its own accumulator, so the order of
 * every addition is fixed by the source and the same on every machine).
 *
 * Transcendentals are libm's expf / tanhf / logf, the functions the Swift engine calls
 * (Foundation.exp, tanh and log on Float), so activations match it bit for bit on the same libm.
 */
#include "rnn_kernels.h"

#include <math.h>
#include <stddef.h>

/* Columns of an int8 [K][N] product accumulated on the stack before scaling. */
#define RNN_COLUMN_BLOCK 64

void rnn_vecmat_f32(float *y, const float *x, const float *w, int k, int n, int accumulate)
{
    int i = 0, j;
    if (!accumulate) {
        for (j = 0; j < n; j++) {
            y[j] = 0.0f;
        }
    }
    /* four rows of W per pass: y is loaded and stored once for four multiply-adds */
    for (; i + 4 <= k; i += 4) {
        const float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
        const float *w0 = w + (size_t)i * (size_t)n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        for (j = 0; j < n; j++) {
            y[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j];
        }
    }
    for (; i < k; i++) {
        const float xi = x[i];
        const float *wi = w + (size_t)i * (size_t)n;
        for (j = 0; j < n; j++) {
            y[j] += xi * wi[j];
        }
    }
}

void rnn_vecmat_s8(float *y, const float *x, const int8_t *q, const float *scale, int k, int n, int accumulate)
{
    float acc[RNN_COLUMN_BLOCK];
    int c, i, j;
    for (c = 0; c < n; c += RNN_COLUMN_BLOCK) {
        const int width = n - c < RNN_COLUMN_BLOCK ? n - c : RNN_COLUMN_BLOCK;
        for (j = 0; j < width; j++) {
            acc[j] = 0.0f;
        }
        i = 0;
        for (; i + 4 <= k; i += 4) {
            const float x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
            const int8_t *q0 = q + (size_t)i * (size_t)n + c, *q1 = q0 + n, *q2 = q1 + n, *q3 = q2 + n;
            for (j = 0; j < width; j++) {
                acc[j] += x0 * (float)q0[j] + x1 * (float)q1[j] + x2 * (float)q2[j] + x3 * (float)q3[j];
            }
        }
        for (; i < k; i++) {
            const float xi = x[i];
            const int8_t *qi = q + (size_t)i * (size_t)n + c;
            for (j = 0; j < width; j++) {
                acc[j] += xi * (float)qi[j];
            }
        }
        if (accumulate) {
            for (j = 0; j < width; j++) {
                y[c + j] += acc[j] * scale[c + j];
            }
        } else {
            for (j = 0; j < width; j++) {
                y[c + j] = acc[j] * scale[c + j];
            }
        }
    }
}

/* Sum of the RNN_LANES partial sums, pairwise in a fixed order. */
static float lanes_sum(const float *lanes)
{
    float s[RNN_LANES / 2];
    int width, l;
    for (l = 0; l < RNN_LANES / 2; l++) {
        s[l] = lanes[l] + lanes[l + RNN_LANES / 2];
    }
    for (width = RNN_LANES / 4; width >= 1; width /= 2) {
        for (l = 0; l < width; l++) {
            s[l] += s[l + width];
        }
    }
    return s[0];
}

/* Dot product of w[k] (float) and x[k] in RNN_LANES partial sums. */
static float dot_lanes(const float *w, const float *x, int k)
{
    const int body = k - k % RNN_LANES;
    float lanes[RNN_LANES];
    int i, l;
    for (l = 0; l < RNN_LANES; l++) {
        lanes[l] = 0.0f;
    }
    for (i = 0; i < body; i += RNN_LANES) {
        for (l = 0; l < RNN_LANES; l++) {
            lanes[l] += w[i + l] * x[i + l];
        }
    }
    for (; i < k; i++) {
        lanes[i - body] += w[i] * x[i];
    }
    return lanes_sum(lanes);
}

void rnn_rowdot_f32(float *y, const float *x, const float *w, const float *bias, int rows, int k)
{
    int r;
    for (r = 0; r < rows; r++) {
        const float sum = dot_lanes(w + (size_t)r * (size_t)k, x, k);
        y[r] = bias ? bias[r] + sum : sum;
    }
}

/* Elements of an int8 row converted to float per pass of rnn_rowdot_s8 (a multiple of RNN_LANES). */
#define RNN_ROW_CHUNK 256

void rnn_rowdot_s8(float *y, const float *x, const int8_t *q, const float *scale, const float *bias, int rows, int k)
{
    /* Each chunk of a row is first widened to float in a separate loop (a plain conversion loop
     * vectorises to full-width sign-extend + convert; mixed into the multiply-add loop gcc picked
     * 4-wide code, 1.6x slower on the decoder of docs/shrinkrnn.md "Deploy"), then dotted like a float
     * row (rows longer than RNN_ROW_CHUNK as a sum of chunk dot products) and times the row's scale. */
    float row_values[RNN_ROW_CHUNK];
    int r, c, j;
    for (r = 0; r < rows; r++) {
        const int8_t *qr = q + (size_t)r * (size_t)k;
        float lanes_total = 0.0f, sum;
        if (k <= RNN_ROW_CHUNK) {
            for (j = 0; j < k; j++) {
                row_values[j] = (float)qr[j];
            }
            sum = dot_lanes(row_values, x, k);
        } else {
            for (c = 0; c < k; c += RNN_ROW_CHUNK) {
                const int width = k - c < RNN_ROW_CHUNK ? k - c : RNN_ROW_CHUNK;
                for (j = 0; j < width; j++) {
                    row_values[j] = (float)qr[c + j];
                }
                lanes_total += dot_lanes(row_values, x + c, width);
            }
            sum = lanes_total;
        }
        sum *= scale[r];
        y[r] = bias ? bias[r] + sum : sum;
    }
}

void rnn_embed_f32(float *x, const float *table, int row, int d)
{
    const float *source = table + (size_t)row * (size_t)d;
    int j;
    for (j = 0; j < d; j++) {
        x[j] = source[j];
    }
}

void rnn_embed_s8(float *x, const int8_t *table, const float *scale, int row, int d)
{
    const int8_t *source = table + (size_t)row * (size_t)d;
    const float s = scale[row];
    int j;
    for (j = 0; j < d; j++) {
        x[j] = (float)source[j] * s;
    }
}

void rnn_sigmoid(float *y, const float *x, int n)
{
    int j;
    for (j = 0; j < n; j++) {
        y[j] = 1.0f / (1.0f + expf(-x[j]));
    }
}

void rnn_tanh(float *y, const float *x, int n)
{
    int j;
    for (j = 0; j < n; j++) {
        y[j] = tanhf(x[j]);
    }
}

void rnn_relu(float *y, const float *x, int n)
{
    int j;
    for (j = 0; j < n; j++) {
        y[j] = x[j] > 0.0f ? x[j] : 0.0f;
    }
}

void rnn_highway(float *s, const float *gate, const float *g, const float *u, int n)
{
    int j;
    for (j = 0; j < n; j++) {
        s[j] = u[j] + gate[j] * (g[j] - u[j]);
    }
}

void rnn_mean(float *out, const float *const *inputs, int count, int n)
{
    int i, j;
    for (j = 0; j < n; j++) {
        out[j] = inputs[0][j];
    }
    for (i = 1; i < count; i++) {
        const float *in = inputs[i];
        for (j = 0; j < n; j++) {
            out[j] += in[j];
        }
    }
    if (count > 1) {
        const float inverse = 1.0f / (float)count;
        for (j = 0; j < n; j++) {
            out[j] *= inverse;
        }
    }
}

float rnn_log_sum_exp(const float *z, int n)
{
    float largest = -INFINITY, sum = 0.0f;
    int j;
    for (j = 0; j < n; j++) {
        if (z[j] > largest) {
            largest = z[j];
        }
    }
    for (j = 0; j < n; j++) {
        sum += expf(z[j] - largest);
    }
    return logf(sum) + largest;
}

void rnn_softmax(float *p, const float *z, int n)
{
    const float normalizer = rnn_log_sum_exp(z, n);
    int j;
    for (j = 0; j < n; j++) {
        p[j] = expf(z[j] - normalizer);
    }
}

void rnn_top_k(const float *z, int n, int k, int *ids)
{
    int filled = 0, j, at;
    if (k > n) {
        k = n;
    }
    /* insertion into a sorted list of k: O(n k), k is small (the number of predictions shown) */
    for (j = 0; j < n; j++) {
        if (filled == k && !(z[j] > z[ids[k - 1]])) {
            continue;
        }
        at = filled < k ? filled++ : k - 1;
        while (at > 0 && z[j] > z[ids[at - 1]]) {
            ids[at] = ids[at - 1];
            at--;
        }
        ids[at] = j;
    }
}
