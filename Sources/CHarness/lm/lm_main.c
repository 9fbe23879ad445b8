/*
 * lm_main.c - command-line harness around an exported recurrent language model (docs/shrinkrnn.md,
 * "Deploy"). C99 + libc; the model (lm_model.h, generated) never allocates, only this harness does.
 *
 *   model --perplexity FILE [--limit N] [--vocab VOCAB] [--json]   perplexity of a text file
 *   model --predict K [FILE] [--vocab VOCAB] [--json]              top-K next words after every line
 *   model --bench N [--cpu C|none] [--json]                        latency of one token
 *   model --bench-ops N [--cpu C|none] [--json]                    median of every operator of a token
 *
 * VOCAB is the model's vocabulary, one word a line in id order (default: vocab.txt beside the binary).
 * Text is read as autoshrink's Swift reader reads the PTB text format (PTBCorpusReader and
 * Vocabulary.encode in Sources/AutoShrinkData/TextCorpus.swift): lines are split at '\n', words at
 * ' ', '\t' and '\r'; a line without words is skipped; every line is followed by <eos>; a word not
 * in the vocabulary is <unk>. Swift compares Characters (grapheme clusters), in which "\r\n" is one
 * character that is neither '\n' nor '\r': a '\r' directly before '\n' is therefore part of a word
 * and that '\n' ends no line, here as there. (Not reproduced: a space followed by a combining mark is
 * one Swift Character and splits nothing there; words are compared byte for byte here, canonically
 * equivalent in Swift.) A NUL byte is refused, as the Swift reader does.
 *
 * --perplexity starts from a zero state, feeds every token but the last and scores the next one:
 * the Swift engine's evaluation at batch 1 (LMTrainer.evaluate with evaluationBatch 1). --limit keeps
 * the first N tokens (<eos> included). --predict carries the state across lines: after the words of a
 * line it prints the K most likely next words with their probabilities, then feeds the line's <eos>.
 *
 * --bench times one token: embedding, cell, decoder and the log-softmax normaliser (the work per token
 * of --perplexity), over a fixed pseudo-random token sequence, in rounds of BENCH_ROUND_RUNS tokens
 * (harness_cli.h: the options, errors and bench summary shared with export/main.c); the estimate is estimator.h's (10th percentile of the round medians with its 95 % interval), as
 * the image models' `model --bench`; median_ms, p90_ms and min_ms are over all N tokens. The bench
 * pins the process to core C (default: the least loaded core; "none": no pinning). --bench-ops times
 * every operator of lm_step (embedding, each cell node, the leaf mean, the decoder: lm_run_op) and the
 * log-softmax normaliser one by one over N tokens and prints each one's median.
 * Any problem is one line on stderr and exit status 1 (2 for a usage error).
 */
#define _GNU_SOURCE /* sched_setaffinity (estimator.h), getline */

#include "autoshrink_runtime.h"
#include "estimator.h"
/* The speed probe (speed_probe.h) runs the image kernels, which a language-model export does not link:
 * its bench reports no probe figures (docs/devices.md, "Shared cores"). */
#define AS_SPEED_PROBE_NONE
#include "harness_cli.h"
#include "lm_model.h"
#include "rnn_kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOP_K 100

typedef struct options {
    const char *perplexity; /* --perplexity FILE */
    const char *predict;    /* --predict's FILE (NULL: stdin) */
    const char *vocab;      /* --vocab */
    long top_k;             /* --predict K, 0 = off */
    long limit;             /* --limit tokens, 0 = all */
    long bench;             /* --bench runs, 0 = off */
    long bench_ops;         /* --bench-ops runs, 0 = off */
    int cpu;                /* -1 least loaded, -2 none */
    int json;
} options;

static void usage(void)
{
    printf("usage: model --perplexity FILE [--limit N] [--vocab VOCAB] [--json]\n"
           "       model --predict K [FILE] [--vocab VOCAB] [--json]\n"
           "       model --bench N [--cpu C|none] [--json]\n"
           "       model --bench-ops N [--cpu C|none] [--json]\n"
           "%s language model %s: vocabulary %d, embed %d, hidden %d\n",
           lm_precision(), LM_NAME, LM_VOCABULARY, LM_EMBED, LM_HIDDEN);
}

static options parse_options(int argc, char **argv)
{
    options o;
    double probe_ref_ms = 0.0; /* --probe-ref-ms: refused below (no speed probe in this program) */
    int i;
    memset(&o, 0, sizeof o);
    o.cpu = -1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--perplexity") == 0 || strcmp(a, "--vocab") == 0) {
            *(a[2] == 'p' ? &o.perplexity : &o.vocab) = parse_file(next, a);
            i++;
        } else if (strcmp(a, "--predict") == 0) {
            o.top_k = parse_count(next, a);
            if (o.top_k > MAX_TOP_K || o.top_k > LM_VOCABULARY) {
                fail(2, "--predict shows at most %d words", MAX_TOP_K < LM_VOCABULARY ? MAX_TOP_K : LM_VOCABULARY);
            }
            i++;
        } else if (strcmp(a, "--limit") == 0) {
            o.limit = parse_count(next, a);
            i++;
        } else if (strcmp(a, "--bench-ops") == 0) {
            o.bench_ops = parse_count(next, a);
            i++;
        } else if (parse_shared_option(argc, argv, &i, &o.bench, &o.cpu, &o.json, &probe_ref_ms, usage)) {
            continue;
        } else if (a[0] == '-' && a[1] != '\0') {
            fail(2, "unknown option '%s' (see --help)", a);
        } else if (o.top_k > 0 && o.predict == NULL) {
            o.predict = a;
        } else {
            fail(2, "unexpected argument '%s' (see --help)", a);
        }
    }
    if ((o.perplexity != NULL) + (o.top_k > 0) + (o.bench > 0 || o.bench_ops > 0) != 1) {
        usage();
        exit(2);
    }
    if (o.limit > 0 && o.perplexity == NULL) {
        fail(2, "--limit needs --perplexity");
    }
    if (probe_ref_ms > 0.0) {
        fail(2, "--probe-ref-ms: a language model's bench has no speed probe (docs/devices.md, \"Shared cores\")");
    }
    return o;
}

/* ---- vocabulary ---------------------------------------------------------------------------------- */

typedef struct vocabulary {
    char **words;     /* [LM_VOCABULARY] */
    int *slots;       /* open addressing: word id + 1, 0 = empty */
    size_t mask;      /* slots - 1 */
} vocabulary;

static uint64_t fnv1a(const char *text, size_t length)
{
    uint64_t hash = UINT64_C(0xcbf29ce484222325);
    size_t i;
    for (i = 0; i < length; i++) {
        hash = (hash ^ (unsigned char)text[i]) * UINT64_C(0x100000001b3);
    }
    return hash;
}

static int vocabulary_find(const vocabulary *v, const char *word, size_t length)
{
    size_t slot = (size_t)fnv1a(word, length) & v->mask;
    while (v->slots[slot] != 0) {
        const char *candidate = v->words[v->slots[slot] - 1];
        if (strlen(candidate) == length && memcmp(candidate, word, length) == 0) {
            return v->slots[slot] - 1;
        }
        slot = (slot + 1) & v->mask;
    }
    return -1;
}

/* vocab.txt beside the binary (argv[0]'s directory), malloc'd. */
static char *default_vocab_path(const char *program)
{
    const char *slash = strrchr(program, '/');
    const size_t prefix = slash ? (size_t)(slash - program) + 1 : 0;
    char *path = (char *)malloc(prefix + sizeof "vocab.txt");
    if (path == NULL) {
        fail(1, "out of memory");
    }
    memcpy(path, program, prefix);
    strcpy(path + prefix, "vocab.txt");
    return path;
}

static void load_vocabulary(vocabulary *v, const char *path)
{
    FILE *file = fopen(path, "rb");
    char *line = NULL;
    size_t capacity = 0, slots = 1;
    ssize_t length;
    int count = 0;
    if (file == NULL) {
        fail(1, "%s: cannot open the vocabulary (give --vocab FILE)", path);
    }
    while (slots < 2 * (size_t)LM_VOCABULARY) {
        slots *= 2;
    }
    v->words = (char **)calloc((size_t)LM_VOCABULARY, sizeof *v->words);
    v->slots = (int *)calloc(slots, sizeof *v->slots);
    v->mask = slots - 1;
    if (v->words == NULL || v->slots == NULL) {
        fail(1, "out of memory for the vocabulary");
    }
    while ((length = getline(&line, &capacity, file)) != -1) {
        size_t slot;
        if (length > 0 && line[length - 1] == '\n') {
            line[--length] = '\0';
        }
        if (count >= LM_VOCABULARY) {
            fail(1, "%s: more than the model's %d words", path, LM_VOCABULARY);
        }
        if (length == 0 || strpbrk(line, " \t\r") != NULL || memchr(line, '\0', (size_t)length) != NULL) {
            fail(1, "%s: line %d is empty or holds whitespace (one word a line)", path, count + 1);
        }
        if (vocabulary_find(v, line, (size_t)length) >= 0) {
            fail(1, "%s: '%s' is listed twice", path, line);
        }
        v->words[count] = strdup(line);
        if (v->words[count] == NULL) {
            fail(1, "out of memory for the vocabulary");
        }
        slot = (size_t)fnv1a(line, (size_t)length) & v->mask;
        while (v->slots[slot] != 0) {
            slot = (slot + 1) & v->mask;
        }
        v->slots[slot] = count + 1;
        count++;
    }
    free(line);
    fclose(file);
    if (count != LM_VOCABULARY) {
        fail(1, "%s: %d words, the model has %d", path, count, LM_VOCABULARY);
    }
    if (strcmp(v->words[LM_UNK_ID], "<unk>") != 0 || strcmp(v->words[LM_EOS_ID], "<eos>") != 0) {
        fail(1, "%s: not this model's vocabulary (<unk> must be word %d, <eos> word %d)", path, LM_UNK_ID, LM_EOS_ID);
    }
}

/* ---- text -------------------------------------------------------------------------------------- */

/* One logical line at a time (see the top: a '\n' after '\r' ends no line). */
typedef struct line_reader {
    FILE *file;
    const char *name;
    char *piece;      /* getline buffer */
    size_t piece_capacity;
    char *text;       /* the logical line */
    size_t length, capacity;
} line_reader;

/* Reads the next logical line into r->text (without its '\n'); returns 0 at the end of the input. */
static int read_line(line_reader *r)
{
    ssize_t got;
    int any = 0;
    r->length = 0;
    while ((got = getline(&r->piece, &r->piece_capacity, r->file)) != -1) {
        const int newline = got > 0 && r->piece[got - 1] == '\n';
        any = 1;
        if (memchr(r->piece, '\0', (size_t)got) != NULL) {
            fail(1, "%s: binary data (NUL byte), not a text file", r->name);
        }
        if (r->length + (size_t)got + 1 > r->capacity) {
            r->capacity = 2 * (r->length + (size_t)got + 1);
            r->text = (char *)realloc(r->text, r->capacity);
            if (r->text == NULL) {
                fail(1, "out of memory reading %s", r->name);
            }
        }
        memcpy(r->text + r->length, r->piece, (size_t)got);
        r->length += (size_t)got;
        if (!newline) {
            break; /* end of input */
        }
        if (got >= 2 && r->piece[got - 2] == '\r') {
            continue; /* "\r\n" is one character in Swift: no line end */
        }
        r->length--; /* drop the '\n' */
        break;
    }
    if (r->text != NULL) {
        r->text[r->length] = '\0';
    }
    return any;
}

/* Word separators of the Swift reader: ' ', '\t', and '\r' unless a '\n' follows. */
static int is_separator(const char *text, size_t i, size_t length)
{
    const char c = text[i];
    return c == ' ' || c == '\t' || (c == '\r' && !(i + 1 < length && text[i + 1] == '\n'));
}

/* Token ids of one line's words (no <eos>) into *tokens (grown as needed); returns the count. */
static size_t line_tokens(const vocabulary *v, const line_reader *r, int **tokens, size_t *capacity, long *unknown)
{
    size_t i = 0, count = 0;
    while (i < r->length) {
        size_t start;
        int id;
        while (i < r->length && is_separator(r->text, i, r->length)) {
            i++;
        }
        if (i >= r->length) {
            break;
        }
        start = i;
        while (i < r->length && !is_separator(r->text, i, r->length)) {
            i++;
        }
        id = vocabulary_find(v, r->text + start, i - start);
        if (id < 0) {
            id = LM_UNK_ID;
            (*unknown)++;
        }
        if (count == *capacity) {
            *capacity = *capacity ? 2 * *capacity : 64;
            *tokens = (int *)realloc(*tokens, *capacity * sizeof **tokens);
            if (*tokens == NULL) {
                fail(1, "out of memory reading %s", r->name);
            }
        }
        (*tokens)[count++] = id;
    }
    return count;
}

static void open_reader(line_reader *r, const char *path)
{
    memset(r, 0, sizeof *r);
    r->name = path ? path : "standard input";
    r->file = path ? fopen(path, "rb") : stdin;
    if (r->file == NULL) {
        fail(1, "%s: cannot open", path);
    }
}

static void close_reader(line_reader *r)
{
    if (r->file != stdin) {
        fclose(r->file);
    }
    free(r->piece);
    free(r->text);
}

/* ---- perplexity -------------------------------------------------------------------------------- */

typedef struct scorer {
    int have_previous, previous;
    long tokens, predicted, correct;
    double loss; /* summed nats */
} scorer;

/* Feeds the previous token and scores `token` as its successor (the first token is only fed later). */
static void score_token(scorer *s, int token)
{
    if (s->have_previous) {
        const float *logits;
        float row_loss;
        int best;
        lm_step(s->previous);
        logits = lm_logits();
        row_loss = rnn_log_sum_exp(logits, LM_VOCABULARY) - logits[token];
        rnn_top_k(logits, LM_VOCABULARY, 1, &best);
        s->loss += (double)row_loss;
        s->correct += best == token;
        s->predicted++;
    }
    s->previous = token;
    s->have_previous = 1;
    s->tokens++;
}

static void run_perplexity(const options *o, const vocabulary *v)
{
    line_reader reader;
    scorer s;
    int *tokens = NULL;
    size_t capacity = 0;
    long unknown = 0, lines = 0, empty = 0;
    double perplexity, loss;
    memset(&s, 0, sizeof s);
    open_reader(&reader, o->perplexity);
    lm_reset();
    while ((o->limit == 0 || s.tokens < o->limit) && read_line(&reader)) {
        const size_t count = line_tokens(v, &reader, &tokens, &capacity, &unknown);
        size_t i;
        if (count == 0) {
            empty++;
            continue;
        }
        lines++;
        for (i = 0; i < count && (o->limit == 0 || s.tokens < o->limit); i++) {
            score_token(&s, tokens[i]);
        }
        if (o->limit == 0 || s.tokens < o->limit) {
            score_token(&s, LM_EOS_ID);
        }
    }
    close_reader(&reader);
    free(tokens);
    if (s.predicted == 0) {
        fail(1, "%s: fewer than two tokens, nothing to score", o->perplexity);
    }
    loss = s.loss / (double)s.predicted;
    perplexity = exp(loss);
    printf("perplexity %.4f  loss %.6f  next-word accuracy %.4f  (%ld tokens scored of %ld, %ld lines, %ld words not in the "
           "vocabulary; %s %s)\n",
           perplexity, loss, (double)s.correct / (double)s.predicted, s.predicted, s.tokens, lines, unknown, LM_NAME,
           lm_precision());
    if (o->json) {
        printf("{\"model\":\"%s\",\"precision\":\"%s\",\"tokens\":%ld,\"scored\":%ld,\"lines\":%ld,\"empty_lines\":%ld,"
               "\"unknown_words\":%ld,\"loss\":%.9f,\"perplexity\":%.9f,\"accuracy\":%.6f,\"weight_bytes\":%lu,"
               "\"peak_rss_kib\":%ld}\n",
               LM_NAME, lm_precision(), s.tokens, s.predicted, lines, empty, unknown, loss, perplexity,
               (double)s.correct / (double)s.predicted, (unsigned long)lm_weight_bytes(), peak_rss_kib());
    }
}

/* ---- predictions ------------------------------------------------------------------------------- */

/* A word as a JSON string: quotes, backslashes and control bytes escaped (UTF-8 passes through). */
static void print_json_string(const char *text)
{
    putchar('"');
    for (; *text != '\0'; text++) {
        const unsigned char c = (unsigned char)*text;
        if (c == '"' || c == '\\') {
            printf("\\%c", c);
        } else if (c < 0x20) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void run_predict(const options *o, const vocabulary *v)
{
    line_reader reader;
    int *tokens = NULL, ids[MAX_TOP_K];
    static float probabilities[LM_VOCABULARY]; /* static: a large vocabulary does not fit a small stack */
    size_t capacity = 0;
    long unknown = 0, lines = 0;
    open_reader(&reader, o->predict);
    lm_reset();
    while (read_line(&reader)) {
        const size_t count = line_tokens(v, &reader, &tokens, &capacity, &unknown);
        size_t i;
        int k;
        if (count == 0) {
            continue;
        }
        for (i = 0; i < count; i++) {
            lm_step(tokens[i]);
        }
        rnn_softmax(probabilities, lm_logits(), LM_VOCABULARY);
        rnn_top_k(probabilities, LM_VOCABULARY, (int)o->top_k, ids);
        if (o->json) {
            printf("{\"line\":%ld,\"next\":[", lines + 1);
            for (k = 0; k < o->top_k; k++) {
                printf("%s{\"word\":", k ? "," : "");
                print_json_string(v->words[ids[k]]);
                printf(",\"p\":%.6f}", probabilities[ids[k]]);
            }
            printf("]}\n");
        } else {
            printf("%ld:", lines + 1);
            for (k = 0; k < o->top_k; k++) {
                printf(" %s %.4f", v->words[ids[k]], probabilities[ids[k]]);
            }
            putchar('\n');
        }
        fflush(stdout);
        lm_step(LM_EOS_ID);
        lines++;
    }
    close_reader(&reader);
    free(tokens);
    if (!o->json) {
        printf("# %ld lines, %ld words not in the vocabulary (%s %s)\n", lines, unknown, LM_NAME, lm_precision());
    }
}

/* ---- bench ------------------------------------------------------------------------------------- */

/* The next token of the bench's fixed sequence (a 64-bit LCG). */
static int next_token(uint64_t *state)
{
    *state = *state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (int)((*state >> 33) % (uint64_t)LM_VOCABULARY);
}

static void bench(long requested, int json, int cpu)
{
    const long warmup = requested / 10 + 10;
    volatile float sink = 0.0f;
    uint64_t state = 1, warmup_start;
    bench_summary s;
    double *times;
    long run, runs;
    lm_reset();
    warmup_start = as_time_ns();
    for (run = 0; run < warmup; run++) {
        lm_step(next_token(&state));
        sink += rnn_log_sum_exp(lm_logits(), LM_VOCABULARY);
    }
    runs = bench_run_count(requested, (double)(as_time_ns() - warmup_start) * 1e-9 / (double)warmup);
    times = allocate_times(runs);
    for (run = 0; run < runs; run++) {
        const int token = next_token(&state);
        const uint64_t start = as_time_ns();
        lm_step(token);
        sink += rnn_log_sum_exp(lm_logits(), LM_VOCABULARY);
        times[run] = (double)(as_time_ns() - start) * 1e-6;
    }
    (void)sink;
    s = bench_summarize(times, runs, NULL, 0.0, 0, cpu, json);
    bench_print(&s, runs, json, LM_NAME, lm_precision(), " per token", "tokens", "1 thread", "weight_bytes",
                (unsigned long)lm_weight_bytes());
    free(times);
}

/* Median time of every operator of a token (lm_run_op in lm_step's order) and of the normaliser. */
static void bench_ops(long runs, int json, int cpu)
{
    const int ops = lm_op_count() + 1; /* the last one: rnn_log_sum_exp over the logits */
    double *times = allocate_times(runs * (long)ops), *medians = allocate_times(ops), total = 0.0;
    const long warmup = runs / 10 + 10;
    volatile float sink = 0.0f;
    uint64_t state = 2;
    long run;
    int op;
    lm_reset();
    for (run = 0; run < warmup; run++) {
        lm_step(next_token(&state));
    }
    for (run = 0; run < runs; run++) {
        const int token = next_token(&state);
        uint64_t start;
        for (op = 0; op < ops - 1; op++) {
            start = as_time_ns();
            lm_run_op(op, token);
            times[(long)op * runs + run] = (double)(as_time_ns() - start) * 1e-6;
        }
        start = as_time_ns();
        sink += rnn_log_sum_exp(lm_logits(), LM_VOCABULARY);
        times[(long)(ops - 1) * runs + run] = (double)(as_time_ns() - start) * 1e-6;
    }
    (void)sink;
    for (op = 0; op < ops; op++) {
        double p90;
        medians[op] = median_and_p90(times + (long)op * runs, runs, &p90);
        total += medians[op];
    }
    if (json) {
        printf("{\"model\":\"%s\",\"precision\":\"%s\",\"runs\":%ld,\"simd\":\"%s\",\"cpu\":", LM_NAME, lm_precision(), runs,
               as_runtime_simd_path());
        if (cpu >= 0) {
            printf("%d", cpu);
        } else {
            printf("null");
        }
        printf(",\"sum_of_medians_ms\":%.6f,\"ops\":[", total);
        for (op = 0; op < ops; op++) {
            printf("%s{\"op\":\"%s\",\"median_ms\":%.6f}", op ? "," : "", op < ops - 1 ? lm_op_name(op) : "log-softmax",
                   medians[op]);
        }
        printf("]}\n");
    } else {
        printf("%s %s per operator of one token, median over %ld tokens (%s):\n", LM_NAME, lm_precision(), runs,
               as_runtime_simd_path());
        for (op = 0; op < ops; op++) {
            printf("  %-28s %9.4f ms  %5.1f %%\n", op < ops - 1 ? lm_op_name(op) : "log-softmax", medians[op],
                   total > 0 ? 100.0 * medians[op] / total : 0.0);
        }
        printf("  %-28s %9.4f ms\n", "sum of medians", total);
    }
    free(medians);
    free(times);
}

int main(int argc, char **argv)
{
    const options o = parse_options(argc, argv);
    vocabulary v;
    char *vocab_path;
    if (o.bench > 0 || o.bench_ops > 0) {
        const int cpu = bench_pin(o.cpu);
        if (o.bench > 0) {
            bench(o.bench, o.json, cpu);
        }
        if (o.bench_ops > 0) {
            bench_ops(o.bench_ops, o.json, cpu);
        }
        return 0;
    }
    vocab_path = o.vocab ? NULL : default_vocab_path(argv[0]);
    load_vocabulary(&v, o.vocab ? o.vocab : vocab_path);
    if (o.perplexity != NULL) {
        run_perplexity(&o, &v);
    } else {
        run_predict(&o, &v);
    }
    free(vocab_path);
    return 0;
}
