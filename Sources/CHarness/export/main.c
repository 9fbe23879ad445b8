/*
 * main.c - command-line harness around the generated model (C99 + libc; the model itself never
 * allocates, only this harness does, for reading files).
 *
 *   model --idx IMAGES [--labels LABELS] [--limit N] [--quiet] [--json]
 *   model IMAGE [--json]                              one image: raw C*H*W bytes or a binary PGM (P5)
 *   model --bench N [--idx IMAGES | IMAGE] [--cpu C|none] [--probe-ref-ms X [--speed-wait-s S]] [--json]
 *                                                     latency of one inference (input to scores)
 *   model --bench-layers N [--idx IMAGES | IMAGE] [--cpu C|none] [--json]   median of every layer
 *
 * IMAGES is an IDX file (N x H x W, or N x C x H x W) of unsigned bytes, plain or gzip compressed.
 * Without --labels, a labels file next to it is used when its name follows the MNIST convention
 * (t10k-images-idx3-ubyte[.gz] -> t10k-labels-idx1-ubyte[.gz]).
 * Each image prints one line "index class score_0 ... score_{K-1}" (scores: see model_score_kind());
 * with labels the last line is "accuracy A (correct/images)". --json adds a JSON summary as the last
 * line. Any problem is one line on stderr and exit status 1 (2 for a usage error).
 *
 * --bench runs N inferences in rounds of BENCH_ROUND_RUNS (harness_cli.h) consecutive runs (the last round may be
 * shorter) and reports estimator.h's estimate: the 10th percentile of the per-round medians with its
 * order-statistic interval (estimate_ms, ci_low_ms, ci_high_ms), the same estimator the profiler's
 * harness times operators and networks with; median_ms, p90_ms and min_ms are over all N runs. The
 * benchmarks pin the process to core C (default: the least loaded core; "none": no pinning) and
 * report it ("cpu", null when not pinned).
 *
 * Speed probe (speed_probe.h, docs/devices.md "Shared cores"): right before every round the bench also
 * measures a small fixed int8 workload, so the item and the probe are estimated over the same rounds
 * and their ratio does not change when a shared machine slows everything down. The JSON adds
 * probe_ms (the probe's own estimate over the rounds), ratio (estimate_ms / probe_ms),
 * probe_ref_ms (--probe-ref-ms X, the profile's full-speed probe time `speed_probe_ms`, else probe_ms)
 * and normalized_ms = ratio x probe_ref_ms: the inference time at the reference's machine speed.
 * estimate_ms and the other figures keep their meaning.
 *
 * Speed gate (with --probe-ref-ms; harness_cli.h BENCH_SPEED_TOLERANCE, docs/devices.md "Speed-gated
 * bench"): when fewer than half the planned rounds ran at the reference's speed (their probe at most
 * 10 % above X), the bench adds rounds until that many did or --speed-wait-s S seconds (default 10; 0:
 * never) have passed, and normalized_ms is then over the rounds at the reference's speed. The JSON adds
 * fast_rounds, speed_gated (true: normalized_ms is over those rounds) and waited_s (seconds added).
 */
#define _GNU_SOURCE /* sched_setaffinity (estimator.h) */

#include "autoshrink_runtime.h"
#include "estimator.h"
#include "harness_cli.h"
#include "idx.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One image as the model reads it: [C][H][W] bytes. */
#define IMAGE_BYTES (MODEL_INPUT_CHANNELS * MODEL_INPUT_HEIGHT * MODEL_INPUT_WIDTH)
#define ERROR_BYTES 256

typedef struct options {
    const char *idx;    /* --idx */
    const char *labels; /* --labels */
    const char *image;  /* positional IMAGE */
    long limit;         /* --limit, 0 = all */
    long bench;         /* --bench runs, 0 = off */
    long bench_layers;  /* --bench-layers runs, 0 = off */
    double probe_ref_ms; /* --probe-ref-ms, 0 = none */
    double speed_wait_s; /* --speed-wait-s, default BENCH_SPEED_WAIT_SECONDS */
    int cpu;            /* --cpu: core to pin the benchmarks to; -1 least loaded, -2 none */
    int quiet;
    int json;
} options;

static void usage(void)
{
    printf("usage: model --idx IMAGES [--labels LABELS] [--limit N] [--quiet] [--json]\n"
           "       model IMAGE [--json]            (raw %dx%dx%d uint8 bytes or a binary PGM)\n"
           "       model --bench N [--idx IMAGES | IMAGE] [--cpu C|none] [--probe-ref-ms X [--speed-wait-s S]] [--json]\n"
           "       model --bench-layers N [--idx IMAGES | IMAGE] [--cpu C|none] [--json]\n"
           "%s model %s: %d classes, scores are %s\n",
           MODEL_INPUT_CHANNELS, MODEL_INPUT_HEIGHT, MODEL_INPUT_WIDTH, model_precision(), MODEL_NAME,
           MODEL_CLASSES, model_score_kind());
}

static options parse_options(int argc, char **argv)
{
    options o;
    int i;
    memset(&o, 0, sizeof o);
    o.cpu = -1;
    o.speed_wait_s = BENCH_SPEED_WAIT_SECONDS;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--idx") == 0 || strcmp(a, "--labels") == 0) {
            *(a[2] == 'i' ? &o.idx : &o.labels) = parse_file(next, a);
            i++;
        } else if (strcmp(a, "--limit") == 0) {
            o.limit = parse_count(next, a);
            i++;
        } else if (strcmp(a, "--bench-layers") == 0) {
            o.bench_layers = parse_count(next, a);
            i++;
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
        } else if (strcmp(a, "--speed-wait-s") == 0) {
            char *end = NULL;
            double value = next != NULL ? strtod(next, &end) : -1.0;
            if (next == NULL || end == next || *end != '\0' || !(value >= 0.0 && value <= 3600.0)) {
                fail(2, "--speed-wait-s needs a number of seconds from 0 to 3600, got '%s'", next ? next : "");
            }
            o.speed_wait_s = value;
            i++;
        } else if (parse_shared_option(argc, argv, &i, &o.bench, &o.cpu, &o.json, &o.probe_ref_ms, usage)) {
            continue;
        } else if (a[0] == '-' && a[1] != '\0') {
            fail(2, "unknown option '%s' (see --help)", a);
        } else if (o.image == NULL) {
            o.image = a;
        } else {
            fail(2, "more than one image given ('%s' and '%s')", o.image, a);
        }
    }
    if (o.idx != NULL && o.image != NULL) {
        fail(2, "give either --idx IMAGES or one IMAGE, not both");
    }
    if (o.idx == NULL && o.image == NULL && o.bench == 0 && o.bench_layers == 0) {
        usage();
        exit(2);
    }
    if (o.labels != NULL && o.idx == NULL) {
        fail(2, "--labels needs --idx");
    }
    return o;
}

/* ---- inputs -------------------------------------------------------------------------------------- */

static uint8_t *read_or_fail(const char *path, size_t *size)
{
    char error[ERROR_BYTES];
    uint8_t *data;
    if (idx_read_file(path, &data, size, error, sizeof error) != 0) {
        fail(1, "%s: %s", path, error);
    }
    return data;
}

/* The images of an IDX file as [N][C][H][W]; `storage` receives the buffer to free. */
static const uint8_t *load_images(const char *path, long *count, uint8_t **storage)
{
    char error[ERROR_BYTES];
    size_t size;
    idx_array images;
    int matches;
    *storage = read_or_fail(path, &size);
    if (idx_parse(*storage, size, &images, error, sizeof error) != 0) {
        fail(1, "%s: %s", path, error);
    }
    matches = (images.dims == 3 && MODEL_INPUT_CHANNELS == 1 && images.shape[1] == MODEL_INPUT_HEIGHT &&
               images.shape[2] == MODEL_INPUT_WIDTH) ||
              (images.dims == 4 && images.shape[1] == MODEL_INPUT_CHANNELS &&
               images.shape[2] == MODEL_INPUT_HEIGHT && images.shape[3] == MODEL_INPUT_WIDTH);
    if (!matches) {
        char shape[64];
        int d, used = 0;
        for (d = 1; d < images.dims; d++) {
            used += snprintf(shape + used, sizeof shape - (size_t)used, "%s%lu", d > 1 ? "x" : "",
                             (unsigned long)images.shape[d]);
        }
        fail(1, "%s: images are %s, the model expects %dx%dx%d (C x H x W)", path, images.dims > 1 ? shape : "scalars",
             MODEL_INPUT_CHANNELS, MODEL_INPUT_HEIGHT, MODEL_INPUT_WIDTH);
    }
    *count = (long)images.shape[0];
    return images.values;
}

static const uint8_t *load_labels(const char *path, long count, uint8_t **storage)
{
    char error[ERROR_BYTES];
    size_t size, i;
    idx_array labels;
    *storage = read_or_fail(path, &size);
    if (idx_parse(*storage, size, &labels, error, sizeof error) != 0) {
        fail(1, "%s: %s", path, error);
    }
    if (labels.dims != 1 || (long)labels.shape[0] != count) {
        fail(1, "%s: expected %ld labels (one per image), got an IDX array of %lu values", path, count,
             (unsigned long)labels.count);
    }
    for (i = 0; i < labels.count; i++) {
        if (labels.values[i] >= MODEL_CLASSES) {
            fail(1, "%s: label %d of image %lu is not one of the model's %d classes", path, labels.values[i],
                 (unsigned long)i, MODEL_CLASSES);
        }
    }
    return labels.values;
}

static int file_exists(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        return 0;
    }
    fclose(file);
    return 1;
}

/* The labels file that goes with an MNIST-style images file name, or NULL; malloc'd. */
static char *find_labels(const char *images)
{
    static const char *const names[2][2] = {{"images-idx3-ubyte", "labels-idx1-ubyte"},
                                            {"images.idx3-ubyte", "labels.idx1-ubyte"}};
    const char *base = strrchr(images, '/');
    int n;
    base = base ? base + 1 : images;
    for (n = 0; n < 2; n++) {
        const char *at = strstr(base, names[n][0]);
        size_t prefix, length;
        char *candidate;
        if (at == NULL) {
            continue;
        }
        prefix = (size_t)(at - images);
        length = strlen(images);
        candidate = (char *)malloc(length + 4);
        if (candidate == NULL) {
            return NULL;
        }
        memcpy(candidate, images, prefix);
        strcpy(candidate + prefix, names[n][1]);
        strcat(candidate, at + strlen(names[n][0]));
        if (file_exists(candidate)) {
            return candidate;
        }
        length = strlen(candidate);
        if (length > 3 && strcmp(candidate + length - 3, ".gz") == 0) {
            candidate[length - 3] = '\0';
        } else {
            strcat(candidate, ".gz");
        }
        if (file_exists(candidate)) {
            return candidate;
        }
        free(candidate);
    }
    return NULL;
}

/* One image from a raw [C][H][W] byte file or a binary PGM (P5, 8-bit) into image. */
static void load_single_image(const char *path, uint8_t *image)
{
    size_t size, i;
    uint8_t *data = read_or_fail(path, &size);
    if (size >= 2 && data[0] == 'P' && data[1] == '5') {
        idx_pgm pgm;
        char error[160];
        if (idx_parse_pgm(data, size, &pgm, error, sizeof error) != 0) {
            fail(1, "%s: %s", path, error);
        }
        if (MODEL_INPUT_CHANNELS != 1 || pgm.width != MODEL_INPUT_WIDTH || pgm.height != MODEL_INPUT_HEIGHT) {
            fail(1, "%s: PGM image is %ldx%ld, the model expects %dx%dx%d (C x H x W)", path, pgm.height, pgm.width,
                 MODEL_INPUT_CHANNELS, MODEL_INPUT_HEIGHT, MODEL_INPUT_WIDTH);
        }
        if (pgm.pixel_bytes != (size_t)IMAGE_BYTES) {
            fail(1, "%s: PGM pixel data is %lu bytes, expected %d%s", path, (unsigned long)pgm.pixel_bytes, IMAGE_BYTES,
                 pgm.pixel_bytes < (size_t)IMAGE_BYTES ? " (truncated)" : "");
        }
        for (i = 0; i < (size_t)IMAGE_BYTES; i++) {
            const long v = pgm.pixels[i];
            if (v > pgm.maximum) {
                fail(1, "%s: pixel %lu is %ld, above the PGM maxval %ld", path, (unsigned long)i, v, pgm.maximum);
            }
            image[i] = (uint8_t)((v * 255 + pgm.maximum / 2) / pgm.maximum);
        }
    } else if (size == (size_t)IMAGE_BYTES) {
        memcpy(image, data, IMAGE_BYTES);
    } else {
        fail(1, "%s: %lu bytes, expected %d (raw %dx%dx%d uint8) or a binary PGM (P5)", path, (unsigned long)size,
             IMAGE_BYTES, MODEL_INPUT_CHANNELS, MODEL_INPUT_HEIGHT, MODEL_INPUT_WIDTH);
    }
    free(data);
}

/* ---- classification ------------------------------------------------------------------------------ */

static int classify(const uint8_t *image, float *scores)
{
    model_set_input(image);
    model_run();
    return model_output(scores);
}

static void print_scores(long index, int predicted, const float *scores)
{
    int k;
    printf("%ld %d", index, predicted);
    for (k = 0; k < MODEL_CLASSES; k++) {
        printf(" %.6g", scores[k]);
    }
    putchar('\n');
}

static void run_images(const options *o)
{
    uint8_t *image_storage, *label_storage = NULL;
    char *found_labels = NULL;
    const char *labels_path = o->labels;
    const uint8_t *images, *labels = NULL;
    float scores[MODEL_CLASSES];
    long count, index, correct = 0;
    images = load_images(o->idx, &count, &image_storage);
    if (labels_path == NULL) {
        labels_path = found_labels = find_labels(o->idx);
    }
    if (labels_path != NULL) {
        labels = load_labels(labels_path, count, &label_storage);
    }
    if (o->limit > 0 && o->limit < count) {
        count = o->limit;
    }
    if (!o->quiet) {
        printf("# %s %s: index class scores (%s)\n", MODEL_NAME, model_precision(), model_score_kind());
    }
    for (index = 0; index < count; index++) {
        const int predicted = classify(images + (size_t)index * IMAGE_BYTES, scores);
        if (labels != NULL && predicted == labels[index]) {
            correct++;
        }
        if (!o->quiet) {
            print_scores(index, predicted, scores);
        }
    }
    if (labels != NULL) {
        printf("accuracy %.4f (%ld/%ld)\n", count ? (double)correct / (double)count : 0.0, correct, count);
    }
    if (o->json) {
        printf("{\"model\":\"%s\",\"precision\":\"%s\",\"images\":%ld,", MODEL_NAME, model_precision(), count);
        if (labels != NULL) {
            printf("\"correct\":%ld,\"accuracy\":%.6f,", correct, count ? (double)correct / (double)count : 0.0);
        } else {
            printf("\"correct\":null,\"accuracy\":null,");
        }
        printf("\"arena_bytes\":%lu,\"peak_rss_kib\":%ld}\n", (unsigned long)model_arena_bytes(), peak_rss_kib());
    }
    free(found_labels);
    free(label_storage);
    free(image_storage);
}

/* ---- benchmarks ---------------------------------------------------------------------------------- */

/* Times whole inferences: input preprocessing, every layer and the scores, as classify() runs them, in
 * rounds of BENCH_ROUND_RUNS consecutive runs; the estimate is estimator.h's (see the top of this file).
 * The speed probe is measured right before every round (probes[round]); its time is not in times. With a
 * reference probe time the runs are whole rounds, and rounds are added while fewer than half the planned
 * ones ran at the reference's speed, for at most speed_wait_s seconds (the speed gate, top of this file). */
static void bench(const uint8_t *image, long requested, int json, int cpu, double probe_ref_ms, double speed_wait_s)
{
    const long warmup = requested / 10 + 10;
    float scores[MODEL_CLASSES];
    as_speed_probe *probe = as_probe_create();
    bench_summary s;
    double *times, *probes;
    double waited = 0.0;
    long run, runs, rounds, fast = 0, fast_needed = 0;
    uint64_t warmup_start;
    if (probe == NULL) {
        fail(1, "out of memory for the speed probe");
    }
    as_probe_measure_ms(probe); /* warm-up of the probe's code and buffers */
    warmup_start = as_time_ns();
    for (run = 0; run < warmup; run++) {
        classify(image, scores);
    }
    runs = bench_run_count(requested, (double)(as_time_ns() - warmup_start) * 1e-9 / (double)warmup);
    if (probe_ref_ms > 0.0 && runs > BENCH_ROUND_RUNS) {
        runs = (runs + BENCH_ROUND_RUNS - 1) / BENCH_ROUND_RUNS * BENCH_ROUND_RUNS; /* rounds can be added */
    }
    rounds = bench_round_count(runs);
    times = allocate_times(runs);
    probes = allocate_times(rounds);
    for (run = 0; run < runs; run++) {
        uint64_t start;
        if (run % BENCH_ROUND_RUNS == 0) {
            probes[run / BENCH_ROUND_RUNS] = as_probe_measure_ms(probe);
            fast += bench_round_at_reference_speed(probes[run / BENCH_ROUND_RUNS], probe_ref_ms);
        }
        start = as_time_ns();
        classify(image, scores);
        times[run] = (double)(as_time_ns() - start) * 1e-6;
    }
    if (probe_ref_ms > 0.0) {
        const uint64_t wait_start = as_time_ns();
        long capacity = rounds;
        fast_needed = (rounds + 1) / 2;
        while (fast < fast_needed && runs % BENCH_ROUND_RUNS == 0 && speed_wait_s > 0.0 &&
               (double)(as_time_ns() - wait_start) * 1e-9 < speed_wait_s) {
            if (rounds == capacity) { /* grow both arrays by half */
                capacity += capacity / 2 + 1;
                times = (double *)realloc(times, (size_t)capacity * BENCH_ROUND_RUNS * sizeof *times);
                probes = (double *)realloc(probes, (size_t)capacity * sizeof *probes);
                if (times == NULL || probes == NULL) fail(1, "out of memory for %ld timings", capacity);
            }
            probes[rounds] = as_probe_measure_ms(probe);
            fast += bench_round_at_reference_speed(probes[rounds], probe_ref_ms);
            for (run = 0; run < BENCH_ROUND_RUNS; run++) {
                const uint64_t start = as_time_ns();
                classify(image, scores);
                times[runs + run] = (double)(as_time_ns() - start) * 1e-6;
            }
            runs += BENCH_ROUND_RUNS;
            rounds++;
            waited = (double)(as_time_ns() - wait_start) * 1e-9;
        }
    }
    s = bench_summarize(times, runs, probes, probe_ref_ms, fast_needed, cpu, json);
    s.waited_s = waited;
    bench_print(&s, runs, json, MODEL_NAME, model_precision(), "", "runs", "1 thread, batch 1", "arena_bytes",
                (unsigned long)model_arena_bytes());
    free(probes);
    free(times);
    as_probe_destroy(probe);
}

static void bench_layers(const uint8_t *image, long runs, int json)
{
    const int layers = model_layer_count();
    double *times = allocate_times(runs * (long)layers), total = 0.0;
    double *medians = allocate_times(layers);
    const long warmup = runs / 10 + 10;
    long run;
    int layer;
    model_set_input(image);
    for (run = 0; run < warmup; run++) {
        model_run();
    }
    for (run = 0; run < runs; run++) {
        for (layer = 0; layer < layers; layer++) {
            const uint64_t start = as_time_ns();
            model_run_layer(layer);
            times[(long)layer * runs + run] = (double)(as_time_ns() - start) * 1e-6;
        }
    }
    for (layer = 0; layer < layers; layer++) {
        double p90;
        medians[layer] = median_and_p90(times + (long)layer * runs, runs, &p90);
        total += medians[layer];
    }
    if (json) {
        printf("{\"model\":\"%s\",\"precision\":\"%s\",\"runs\":%ld,\"simd\":\"%s\",\"sum_of_medians_ms\":%.6f,\"layers\":[",
               MODEL_NAME, model_precision(), runs, as_runtime_simd_path(), total);
        for (layer = 0; layer < layers; layer++) {
            printf("%s{\"layer\":\"%s\",\"median_ms\":%.6f}", layer ? "," : "", model_layer_name(layer), medians[layer]);
        }
        printf("]}\n");
    } else {
        printf("%s %s per layer, median over %ld runs (%s):\n", MODEL_NAME, model_precision(), runs,
               as_runtime_simd_path());
        for (layer = 0; layer < layers; layer++) {
            printf("  %-36s %9.4f ms  %5.1f %%\n", model_layer_name(layer), medians[layer],
                   total > 0 ? 100.0 * medians[layer] / total : 0.0);
        }
        printf("  %-36s %9.4f ms\n", "sum of medians", total);
    }
    free(medians);
    free(times);
}

int main(int argc, char **argv)
{
    static uint8_t single[IMAGE_BYTES];
    const options o = parse_options(argc, argv);
    if (o.bench > 0 || o.bench_layers > 0) {
        /* time on the first image given, or on a mid-grey image */
        uint8_t *storage = NULL;
        const uint8_t *image = single;
        int cpu;
        if (o.idx != NULL) {
            long count;
            image = load_images(o.idx, &count, &storage);
            if (count < 1) {
                fail(1, "%s: no images", o.idx);
            }
        } else if (o.image != NULL) {
            load_single_image(o.image, single);
        } else {
            memset(single, 128, sizeof single);
        }
        cpu = bench_pin(o.cpu);
        if (o.bench > 0) {
            bench(image, o.bench, o.json, cpu, o.probe_ref_ms, o.speed_wait_s);
        }
        if (o.bench_layers > 0) {
            bench_layers(image, o.bench_layers, o.json);
        }
        free(storage);
        return 0;
    }
    if (o.idx != NULL) {
        run_images(&o);
    } else {
        float scores[MODEL_CLASSES];
        int predicted;
        load_single_image(o.image, single);
        predicted = classify(single, scores);
        if (!o.quiet) {
            print_scores(0, predicted, scores);
        }
        if (o.json) {
            int k;
            printf("{\"model\":\"%s\",\"precision\":\"%s\",\"class\":%d,\"scores\":[", MODEL_NAME, model_precision(),
                   predicted);
            for (k = 0; k < MODEL_CLASSES; k++) {
                printf("%s%.6g", k ? "," : "", scores[k]);
            }
            printf("]}\n");
        }
    }
    return 0;
}
