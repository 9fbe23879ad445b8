/*
 * rnn_harness.c - the autoshrink profiler's benchmark harness for the recurrent language model's kernels
 * (Sources/CRuntime/rnn_kernels.c; docs/shrinkrnn.md "Profiling recurrent operators", docs/devices.md).
 *
 * Written by `autoshrink profile` next to the runtime sources and built with the device's own compiler
 * and flags (rnn_kernels.c, timing.c, simd_tier.c and this file), so it times exactly the kernels an
 * exported language model calls. It has the command line, the plan framing, the timing rounds and the
 * output lines of the image harness (harness.c), so the profiler drives both the same way (rounds,
 * estimator.h, re-measuring); those live once in harness_common.h, which both include. It is a program
 * of its own so the image harness stays as it is.
 *
 * Usage:
 *   rnn_harness time PLAN ROUNDS PER_ROUND SAMPLE_US [CPU]   time every item of PLAN
 *   rnn_harness info                                         print the runtime's SIMD path
 *
 * PLAN, one item per block:
 *   network NAME DTYPE SEED     DTYPE f32 or s8: the weights of embed, vecmat, rowdot and lm (activations
 *                               are float32 either way, as in an export)
 *   then one of:
 *   embed V D                   rnn_embed_*: x[D] = E[token], E [V][D] (tokens of a fixed LCG sequence)
 *   vecmat K N                  rnn_vecmat_*: y[N] = x[K] W[K][N] (a cell node's [c, g] = u W)
 *   rowdot R K                  rnn_rowdot_*: y[R] = bias + W[R][K] x[K] (the decoder, R = vocabulary)
 *   sigmoid N | tanh N | relu N | highway N    element-wise over N values (highway: s = u + c (g - u))
 *   mean COUNT N                rnn_mean of COUNT inputs of N values
 *   logsumexp N | softmax N     over N logits
 *   lm D H V TIED               one token of an exported model (what `model --bench` times per token):
 *   node I ACT [PRED...]        the calls of lm_step (docs/shrinkrnn.md "Deploy") and the log-softmax
 *   leaves L...                 normaliser; node lines in execution order, node 0 first without PRED,
 *                               ACT 0 tanh, 1 relu, 2 sigmoid, 3 identity; TIED 1: the decoder is E
 *   end
 *
 * Output (stdout), one line each, as harness.c:
 *   simd PATH
 *   cpu N | cpu none
 *   samples NAME BATCH OUTPUT_CHECKSUM OUTPUT_CHECKSUM NS...      (round after round)
 *   estimate NAME ROUNDS PER_ROUND NS LOW_NS HIGH_NS              (estimator.h)
 *   peak_rss_kb N
 *
 * Timing as harness.c: one sample runs the item BATCH times back to back (a sample lasts at least
 * SAMPLE_US); in every round each item is set up again (fresh buffers and pseudo-random data from its
 * seed), warmed up with one batch and sampled PER_ROUND times.
 */
#define _XOPEN_SOURCE 700 /* getrusage under -std=c99 */
#define _GNU_SOURCE       /* sched_setaffinity (estimator.h) */
#define HARNESS_NAME "rnn_harness"

#include "autoshrink_runtime.h"
#include "estimator.h"
#include "harness_common.h" /* fail, SplitMix64, FNV-1a, timing, output lines (shared with harness.c) */
#include "rnn_kernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096
#define MAX_NODES 64

typedef enum item_kind {
    ITEM_EMBED,
    ITEM_VECMAT,
    ITEM_ROWDOT,
    ITEM_SIGMOID,
    ITEM_TANH,
    ITEM_RELU,
    ITEM_HIGHWAY,
    ITEM_MEAN,
    ITEM_LOGSUMEXP,
    ITEM_SOFTMAX,
    ITEM_LM
} item_kind;

/* A weight matrix: float32, or int8 with one scale per output. */
typedef struct matrix {
    float *f;
    int8_t *q;
    float *scale;
} matrix;

typedef struct item {
    char name[128];
    int is_s8;
    uint64_t seed;
    item_kind kind;
    int a, b;   /* the shape: V D, K N, R K, N, COUNT N, or (lm) D H */
    int v, tied; /* lm */
    int node_count, leaf_count;
    int node_index[MAX_NODES], node_activation[MAX_NODES], pred_count[MAX_NODES];
    int preds[MAX_NODES][MAX_NODES];
    int leaves[MAX_NODES];
    /* Set up per round: */
    matrix w, w0x, w0h, decoder, node_w[MAX_NODES];
    float *x, *y, *u, *bias, *h, *pre, *states, *logits, *gate_bias;
    const float **inputs;
    uint64_t token_state;
    volatile float sink;
    harness_timing timing; /* kept across rounds */
} item;

/* Weights and inputs from harness_common.h's SplitMix64 (next_random, random_f32). */
static float *random_floats(uint64_t *state, size_t count, float range)
{
    float *values = (float *)checked_malloc(count * sizeof(float));
    size_t i;
    for (i = 0; i < count; i++) values[i] = range * random_f32(state);
    return values;
}

/* rows x columns weights; int8: symmetric in [-127, 127] with `scales` scales (one per output). */
static matrix random_matrix(uint64_t *state, int is_s8, size_t rows, size_t columns, size_t scales)
{
    matrix m;
    size_t i, count = rows * columns;
    memset(&m, 0, sizeof m);
    if (!is_s8) {
        m.f = random_floats(state, count, 0.1f);
        return m;
    }
    m.q = (int8_t *)checked_malloc(count);
    for (i = 0; i < count; i++) m.q[i] = (int8_t)((int)(next_random(state) % 255u) - 127);
    m.scale = (float *)checked_malloc(scales * sizeof(float));
    for (i = 0; i < scales; i++) m.scale[i] = (1.0f + random_f32(state)) * (0.1f / 127.0f) + 1e-6f;
    return m;
}

static void free_matrix(matrix *m)
{
    free(m->f); free(m->q); free(m->scale);
    memset(m, 0, sizeof *m);
}

/* The next token of a fixed sequence (the 64-bit LCG of lm_main.c's bench). */
static int next_token(uint64_t *state, int vocabulary)
{
    *state = *state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (int)((*state >> 33) % (uint64_t)vocabulary);
}

/* ---- plan ------------------------------------------------------------------------------------- */

static int parse_ints(const char *text, int *values, int max_count)
{
    int count = 0;
    char *end;
    while (count < max_count) {
        long value = strtol(text, &end, 10);
        if (end == text) break;
        values[count++] = (int)value;
        text = end;
    }
    return count;
}

static item *read_plan(const char *path, int *item_count)
{
    FILE *file = fopen(path, "r");
    char line[MAX_LINE];
    item *items = NULL, *it = NULL;
    int count = 0, capacity = 0, has_op = 0;
    if (!file) fail("cannot open plan", path);
    while (fgets(line, sizeof line, file)) {
        char word[32];
        int values[MAX_NODES + 4];
        int n, offset = 0;
        line[strcspn(line, "\r\n")] = '\0';
        if (sscanf(line, "%31s%n", word, &offset) != 1 || word[0] == '#') continue;
        if (strcmp(word, "network") == 0) {
            char name[128], dtype[8];
            unsigned long long seed;
            if (it) fail("network without end before line", line);
            if (count == capacity) {
                capacity = capacity ? 2 * capacity : 64;
                items = (item *)realloc(items, (size_t)capacity * sizeof(item));
                if (!items) fail("out of memory", NULL);
            }
            it = &items[count];
            memset(it, 0, sizeof *it);
            if (sscanf(line + offset, "%127s %7s %llu", name, dtype, &seed) != 3) fail("bad network line", line);
            if (strcmp(dtype, "s8") != 0 && strcmp(dtype, "f32") != 0) fail("unknown dtype in line", line);
            strcpy(it->name, name);
            it->is_s8 = strcmp(dtype, "s8") == 0;
            it->seed = (uint64_t)seed;
            has_op = 0;
            continue;
        }
        if (!it) fail("item outside a network in line", line);
        n = parse_ints(line + offset, values, MAX_NODES + 4);
        if (strcmp(word, "end") == 0) {
            if (!has_op) fail("network without an operator", it->name);
            if (it->kind == ITEM_LM && (it->node_count == 0 || it->leaf_count == 0)) fail("lm without nodes or leaves", it->name);
            count++;
            it = NULL;
        } else if (strcmp(word, "node") == 0) {
            int i, index;
            if (!has_op || it->kind != ITEM_LM || it->leaf_count || n < 2 || it->node_count == MAX_NODES) fail("bad node line", line);
            index = values[0];
            if (index < 0 || index >= MAX_NODES || values[1] < 0 || values[1] > 3) fail("bad node line", line);
            if ((it->node_count == 0) != (index == 0 && n == 2)) fail("node 0 comes first and has no predecessors, line", line);
            if (it->node_count > 0 && index <= it->node_index[it->node_count - 1]) fail("nodes must be in increasing order, line", line);
            for (i = 2; i < n; i++) {
                int p, known = 0;
                for (p = 0; p < it->node_count; p++) known |= it->node_index[p] == values[i];
                if (!known) fail("a predecessor that is not an earlier node in line", line);
                it->preds[it->node_count][i - 2] = values[i];
            }
            it->node_index[it->node_count] = index;
            it->node_activation[it->node_count] = values[1];
            it->pred_count[it->node_count] = n - 2;
            it->node_count++;
        } else if (strcmp(word, "leaves") == 0) {
            int i;
            if (!has_op || it->kind != ITEM_LM || it->node_count == 0 || it->leaf_count || n < 1) fail("bad leaves line", line);
            for (i = 0; i < n; i++) {
                int p, known = 0;
                for (p = 0; p < it->node_count; p++) known |= it->node_index[p] == values[i];
                if (!known) fail("a leaf that is not a node in line", line);
                it->leaves[i] = values[i];
            }
            it->leaf_count = n;
        } else {
            int expected = 2;
            if (has_op) fail("one operator per network, line", line);
            if (strcmp(word, "embed") == 0) it->kind = ITEM_EMBED;
            else if (strcmp(word, "vecmat") == 0) it->kind = ITEM_VECMAT;
            else if (strcmp(word, "rowdot") == 0) it->kind = ITEM_ROWDOT;
            else if (strcmp(word, "mean") == 0) it->kind = ITEM_MEAN;
            else if (strcmp(word, "lm") == 0) { it->kind = ITEM_LM; expected = 4; }
            else {
                expected = 1;
                if (strcmp(word, "sigmoid") == 0) it->kind = ITEM_SIGMOID;
                else if (strcmp(word, "tanh") == 0) it->kind = ITEM_TANH;
                else if (strcmp(word, "relu") == 0) it->kind = ITEM_RELU;
                else if (strcmp(word, "highway") == 0) it->kind = ITEM_HIGHWAY;
                else if (strcmp(word, "logsumexp") == 0) it->kind = ITEM_LOGSUMEXP;
                else if (strcmp(word, "softmax") == 0) it->kind = ITEM_SOFTMAX;
                else fail("unknown item in line", line);
            }
            if (n != expected) fail("wrong number of values in line", line);
            it->a = expected == 1 ? 1 : values[0];
            it->b = expected == 1 ? values[0] : values[1];
            if (it->kind == ITEM_LM) { it->v = values[2]; it->tied = values[3] != 0; }
            if (it->a < 1 || it->b < 1 || it->a > 100000000 || it->b > 100000000 || (it->kind == ITEM_LM && it->v < 1)) {
                fail("sizes must be positive in line", line);
            }
            if (it->kind == ITEM_LM && it->tied && it->a != it->b) fail("a tied lm needs D = H, line", line);
            if (it->kind == ITEM_MEAN && it->a > MAX_NODES) fail("mean of too many inputs in line", line);
            has_op = 1;
        }
    }
    fclose(file);
    if (it) fail("plan ends inside network", it->name);
    *item_count = count;
    return items;
}

/* ---- set-up and execution --------------------------------------------------------------------- */

static int max_node_index(const item *it) { return it->node_index[it->node_count - 1]; }

static void setup_item(item *it)
{
    uint64_t state = it->seed;
    const int a = it->a, b = it->b;
    int i;
    it->token_state = it->seed ^ UINT64_C(0xC0FFEE);
    switch (it->kind) {
    case ITEM_EMBED: /* E [V = a][D = b], a scale per row */
        it->w = random_matrix(&state, it->is_s8, (size_t)a, (size_t)b, (size_t)a);
        it->y = random_floats(&state, (size_t)b, 1.0f);
        break;
    case ITEM_VECMAT: /* W [K = a][N = b], a scale per column */
        it->w = random_matrix(&state, it->is_s8, (size_t)a, (size_t)b, (size_t)b);
        it->x = random_floats(&state, (size_t)a, 1.0f);
        it->y = random_floats(&state, (size_t)b, 1.0f);
        break;
    case ITEM_ROWDOT: /* W [R = a][K = b], a scale per row */
        it->w = random_matrix(&state, it->is_s8, (size_t)a, (size_t)b, (size_t)a);
        it->x = random_floats(&state, (size_t)b, 1.0f);
        it->bias = random_floats(&state, (size_t)a, 0.1f);
        it->y = random_floats(&state, (size_t)a, 1.0f);
        break;
    case ITEM_MEAN:
        it->states = random_floats(&state, (size_t)a * (size_t)b, 1.0f);
        it->inputs = (const float **)checked_malloc((size_t)a * sizeof(float *));
        for (i = 0; i < a; i++) it->inputs[i] = it->states + (size_t)i * (size_t)b;
        it->y = random_floats(&state, (size_t)b, 1.0f);
        break;
    case ITEM_LM: {
        const int d = a, h = b, v = it->v, states = max_node_index(it) + 1;
        it->w = random_matrix(&state, it->is_s8, (size_t)v, (size_t)d, (size_t)v);
        it->w0x = random_matrix(&state, it->is_s8, (size_t)d, (size_t)(2 * h), (size_t)(2 * h));
        it->w0h = random_matrix(&state, it->is_s8, (size_t)h, (size_t)(2 * h), (size_t)(2 * h));
        for (i = 1; i < it->node_count; i++) {
            it->node_w[i] = random_matrix(&state, it->is_s8, (size_t)h, (size_t)(2 * h), (size_t)(2 * h));
        }
        if (!it->tied) it->decoder = random_matrix(&state, it->is_s8, (size_t)v, (size_t)h, (size_t)v);
        it->bias = random_floats(&state, (size_t)v, 0.1f);
        it->x = random_floats(&state, (size_t)d, 1.0f);
        it->h = random_floats(&state, (size_t)h, 0.1f);
        it->u = random_floats(&state, (size_t)h, 1.0f);
        it->pre = random_floats(&state, (size_t)(2 * h), 1.0f);
        it->states = random_floats(&state, (size_t)states * (size_t)h, 1.0f);
        it->logits = random_floats(&state, (size_t)v, 1.0f);
        it->inputs = (const float **)checked_malloc((size_t)MAX_NODES * sizeof(float *));
        it->gate_bias = random_floats(&state, (size_t)h, 0.1f);
        break;
    }
    default: /* element-wise and the normalisers over b values; highway reads three inputs */
        it->x = random_floats(&state, (size_t)b, 4.0f);
        it->y = random_floats(&state, (size_t)b, 1.0f);
        it->u = random_floats(&state, (size_t)b, 1.0f);
        it->h = random_floats(&state, (size_t)b, 1.0f);
        break;
    }
}

static void teardown_item(item *it)
{
    int i;
    free_matrix(&it->w); free_matrix(&it->w0x); free_matrix(&it->w0h); free_matrix(&it->decoder);
    for (i = 0; i < MAX_NODES; i++) free_matrix(&it->node_w[i]);
    free(it->x); free(it->y); free(it->u); free(it->bias); free(it->h); free(it->pre); free(it->states);
    free(it->logits); free((void *)it->inputs); free(it->gate_bias);
    it->x = it->y = it->u = it->bias = it->h = it->pre = it->states = it->logits = it->gate_bias = NULL;
    it->inputs = NULL;
}

static void vecmat(const item *it, float *y, const float *x, const matrix *w, int k, int n, int accumulate)
{
    if (it->is_s8) rnn_vecmat_s8(y, x, w->q, w->scale, k, n, accumulate);
    else rnn_vecmat_f32(y, x, w->f, k, n, accumulate);
}

static void activation(int kind, float *values, int n)
{
    switch (kind) {
    case 0: rnn_tanh(values, values, n); break;
    case 1: rnn_relu(values, values, n); break;
    case 2: rnn_sigmoid(values, values, n); break;
    default: break; /* identity */
    }
}

/* One token of an exported model: lm_step's calls in order (LMCModelGenerator), then the normaliser. */
static void run_lm(item *it)
{
    const int d = it->a, h = it->b, v = it->v;
    const int token = next_token(&it->token_state, v);
    const matrix *decoder = it->tied ? &it->w : &it->decoder;
    int i, p;
    if (it->is_s8) rnn_embed_s8(it->x, it->w.q, it->w.scale, token, d);
    else rnn_embed_f32(it->x, it->w.f, token, d);
    for (i = 0; i < it->node_count; i++) {
        float *s = it->states + (size_t)it->node_index[i] * (size_t)h;
        const float *input;
        if (i == 0) {
            vecmat(it, it->pre, it->x, &it->w0x, d, 2 * h, 0);
            vecmat(it, it->pre, it->h, &it->w0h, h, 2 * h, 1);
            input = it->h;
        } else {
            if (it->pred_count[i] > 1) {
                for (p = 0; p < it->pred_count[i]; p++) it->inputs[p] = it->states + (size_t)it->preds[i][p] * (size_t)h;
                rnn_mean(it->u, it->inputs, it->pred_count[i], h);
                input = it->u;
            } else {
                input = it->states + (size_t)it->preds[i][0] * (size_t)h;
            }
            vecmat(it, it->pre, input, &it->node_w[i], h, 2 * h, 0);
        }
        rnn_sigmoid_bias(it->pre, it->pre, it->gate_bias, h); /* one bias for every node: the cost is the same */
        activation(it->node_activation[i], it->pre + h, h);
        rnn_highway(s, it->pre, it->pre + h, input, h);
    }
    for (p = 0; p < it->leaf_count; p++) it->inputs[p] = it->states + (size_t)it->leaves[p] * (size_t)h;
    rnn_mean(it->h, it->inputs, it->leaf_count, h);
    if (it->is_s8) rnn_rowdot_s8(it->logits, it->h, decoder->q, decoder->scale, it->bias, v, h);
    else rnn_rowdot_f32(it->logits, it->h, decoder->f, it->bias, v, h);
    it->sink += rnn_log_sum_exp(it->logits, v);
}

static void run_item(item *it)
{
    const int a = it->a, b = it->b;
    switch (it->kind) {
    case ITEM_EMBED: {
        const int token = next_token(&it->token_state, a);
        if (it->is_s8) rnn_embed_s8(it->y, it->w.q, it->w.scale, token, b);
        else rnn_embed_f32(it->y, it->w.f, token, b);
        break;
    }
    case ITEM_VECMAT: vecmat(it, it->y, it->x, &it->w, a, b, 0); break;
    case ITEM_ROWDOT:
        if (it->is_s8) rnn_rowdot_s8(it->y, it->x, it->w.q, it->w.scale, it->bias, a, b);
        else rnn_rowdot_f32(it->y, it->x, it->w.f, it->bias, a, b);
        break;
    /* element-wise from x into y, so every call sees the same data */
    case ITEM_SIGMOID: rnn_sigmoid(it->y, it->x, b); break;
    case ITEM_TANH: rnn_tanh(it->y, it->x, b); break;
    case ITEM_RELU: rnn_relu(it->y, it->x, b); break;
    case ITEM_HIGHWAY: rnn_highway(it->y, it->u, it->x, it->h, b); break;
    case ITEM_MEAN: rnn_mean(it->y, it->inputs, a, b); break;
    case ITEM_LOGSUMEXP: it->sink += rnn_log_sum_exp(it->x, b); break;
    case ITEM_SOFTMAX: rnn_softmax(it->y, it->x, b); break;
    case ITEM_LM: run_lm(it); break;
    }
}

/* FNV-1a over the item's output after its first run. */
static uint32_t output_checksum(const item *it)
{
    float sink = it->sink;
    switch (it->kind) {
    case ITEM_ROWDOT: return fnv1a(2166136261u, it->y, (size_t)it->a * sizeof(float));
    case ITEM_LM: return fnv1a(2166136261u, it->logits, (size_t)it->v * sizeof(float));
    case ITEM_LOGSUMEXP: return fnv1a(2166136261u, &sink, sizeof sink);
    default: return fnv1a(2166136261u, it->y, (size_t)it->b * sizeof(float));
    }
}

/* ---- timing (as harness.c) -------------------------------------------------------------------- */

/* Runs `batch` tokens or calls back to back; mean nanoseconds per run (a harness_time_batch). */
static double time_batch(void *pointer, int batch)
{
    item *it = (item *)pointer;
    uint64_t start = as_time_ns(), stop;
    int b;
    for (b = 0; b < batch; b++) run_item(it);
    stop = as_time_ns();
    return (double)(stop - start) / (double)batch;
}

static int usage(void)
{
    fprintf(stderr, "usage: rnn_harness time PLAN ROUNDS PER_ROUND SAMPLE_US [CPU|none] | rnn_harness info\n");
    return 2;
}

int main(int argc, char **argv)
{
    item *items;
    uint32_t *checksums;
    double *scratch, sample_ns;
    int count, i, rounds, per_round, round, cpu;
    if (argc < 2) return usage();
    printf("simd %s\n", as_runtime_simd_path());
    if (strcmp(argv[1], "info") == 0) return 0;
    if (strcmp(argv[1], "time") != 0 || (argc != 6 && argc != 7)) return usage();
    if (harness_time_arguments(argc, argv, &rounds, &per_round, &sample_ns, &cpu) != 0) return usage();
    items = read_plan(argv[2], &count);
    harness_pin(cpu);
    checksums = (uint32_t *)checked_malloc((size_t)count * sizeof(uint32_t));
    scratch = (double *)checked_malloc((size_t)(rounds + per_round) * sizeof(double));
    for (i = 0; i < count; i++) items[i].timing.samples = (double *)checked_malloc((size_t)rounds * (size_t)per_round * sizeof(double));
    for (round = 0; round < rounds; round++) {
        int start = (int)(((long)round * count) / rounds), n;
        for (n = 0; n < count; n++) {
            item *it = &items[(start + n) % count];
            setup_item(it);
            run_item(it);
            if (round == 0) checksums[it - items] = output_checksum(it);
            harness_measure(&it->timing, it, time_batch, per_round, sample_ns);
            teardown_item(it);
        }
    }
    /* one output checksum: it stands in both checksum fields of the samples line (harness.c's format) */
    for (i = 0; i < count; i++) {
        harness_report(items[i].name, &items[i].timing, checksums[i], checksums[i], rounds, per_round, scratch);
    }
    print_peak_rss();
    return 0;
}
