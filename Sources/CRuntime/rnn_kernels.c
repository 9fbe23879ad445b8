/*
 * rnn_kernels.c - kernels of an exported recurrent language model (rnn_kernels.h; docs/shrinkrnn.md,
 * "Deploy"). Portable C99 written so that gcc/clang vectorise it at -O3 for whatever the device flags
 * allow (AVX2/AVX-512, NEON) without -ffast-math: the [K][N] products run along N (no reduction), the
 * dot products keep RNN_LANES separate partial sums (each lane its own accumulator, so the order of
 * every addition is fixed by the source and the same on every machine).
 *
 * Like every runtime file, libc only (no libm: the kernels are linked into binaries that may not link
 * it, and CrossArchitectureTests checks the symbols): exp, tanh and log are the Cephes single-precision
 * approximations below (relative error below 2e-7 over the ranges used), so activations differ from the
 * Swift engine's libm values by a few units in the last place; the exported perplexity agrees with
 * the Swift engine's to about 1e-6 (tests: LMExportTests).
 */
#include "rnn_kernels.h"

#include <stddef.h>
#include <string.h>

/* exp(x) for x in [-87, 88] (clamped there): x = n ln2 + r, |r| <= ln2 / 2, a degree-7 polynomial in r
 * (Cephes expf), times 2^n built in the exponent bits. */
static float rnn_exp(float x)
{
    float n, r, p, scale;
    int32_t bits;
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    n = (float)(int32_t)(x * 1.44269504088896341f + (x >= 0.0f ? 0.5f : -0.5f));
    r = x - n * 0.693359375f - n * -2.12194440e-4f;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    bits = ((int32_t)n + 127) * (1 << 23);
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh(x): an odd polynomial below |x| = 0.625 (Cephes tanhf), 1 - 2 / (exp(2|x|) + 1) above, +-1 beyond 9. */
static float rnn_tanh_one(float x)
{
    const float a = x < 0.0f ? -x : x;
    float y;
    if (a < 0.625f) {
        const float z = x * x;
        return ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
                3.33332819422e-1f) * z * x + x;
    }
    y = a > 9.0f ? 1.0f : 1.0f - 2.0f / (rnn_exp(2.0f * a) + 1.0f);
    return x < 0.0f ? -y : y;
}

/* log(x) for a positive normal x: x = m 2^e with m in [sqrt(1/2), sqrt(2)), a polynomial in m - 1 (Cephes logf). */
static float rnn_log(float x)
{
    int32_t bits, e;
    float m, z, y;
    memcpy(&bits, &x, sizeof bits);
    e = ((bits >> 23) & 0xff) - 126;
    bits = (bits & 0x007fffff) | 0x3f000000; /* m in [0.5, 1) */
    memcpy(&m, &bits, sizeof m);
    if (m < 0.707106781186547524f) {
        e -= 1;
        m = m + m - 1.0f;
    } else {
        m = m - 1.0f;
    }
    z = m * m;
    y = ((((((((7.0376836292e-2f * m - 1.1514610310e-1f) * m + 1.1676998740e-1f) * m - 1.2420140846e-1f) * m +
             1.4249322787e-1f) * m - 1.6668057665e-1f) * m + 2.0000714765e-1f) * m - 2.4999993993e-1f) * m +
         3.3333331174e-1f) * m * z;
    y += -2.12194440e-4f * (float)e;
    y += -0.5f * z;
    return m + y + 0.693359375f * (float)e;
}

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
        y[j] = 1.0f / (1.0f + rnn_exp(-x[j]));
    }
}

void rnn_sigmoid_bias(float *y, const float *x, const float *bias, int n)
{
    int j;
    for (j = 0; j < n; j++) {
        y[j] = 1.0f / (1.0f + rnn_exp(-(x[j] + bias[j])));
    }
}

void rnn_tanh(float *y, const float *x, int n)
{
    int j;
    for (j = 0; j < n; j++) {
        y[j] = rnn_tanh_one(x[j]);
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
    float largest = z[0], sum = 0.0f;
    int j;
    for (j = 0; j < n; j++) {
        if (z[j] > largest) {
            largest = z[j];
        }
    }
    for (j = 0; j < n; j++) {
        sum += rnn_exp(z[j] - largest);
    }
    return rnn_log(sum) + largest;
}

void rnn_softmax(float *p, const float *z, int n)
{
    const float normalizer = rnn_log_sum_exp(z, n);
    int j;
    for (j = 0; j < n; j++) {
        p[j] = rnn_exp(z[j] - normalizer);
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
