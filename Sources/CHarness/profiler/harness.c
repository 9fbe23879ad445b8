/*
 * harness.c - the autoshrink profiler's benchmark harness.
 *
 * Written by `autoshrink profile` next to the runtime kernel sources and built with the device's own
 * compiler and flags, so it times exactly the kernels an export ships. It interprets small networks
 * described in a text plan; an entry of the per-operator latency table is a network of one layer.
 * The harness mallocs its buffers (the kernels never do); weights and inputs are pseudo-random from a
 * per-network seed with integer arithmetic only, so an int8 network computes bit-identical outputs
 * on every architecture.
 *
 * Usage:
 *   harness time PLAN ROUNDS PER_ROUND SAMPLE_US [CPU]   time every network of PLAN
 *   harness check PLAN                            run every network once, print checksums
 *   harness info                                  print the runtime's SIMD path
 *
 * PLAN, one item per line:
 *   network NAME DTYPE SEED           DTYPE s8 or f32; starts a network
 *   tensor C H W                      tensors are numbered 0, 1, ... per network; 0 is the input
 *   slice T PARENT OFFSET             tensor T's data is channels [OFFSET, OFFSET + C_T) of PARENT's (same
 *                                     H and W, pixel stride that of PARENT's buffer): the activation layout
 *                                     of an export (ActivationLayout, docs/devices.md "Predictor"): a concat
 *                                     input written straight into its slice, a concat whose inputs already
 *                                     lie side by side, an add writing over its dying input (OFFSET 0)
 *   arena BYTES                       one block for the buffers placed by `at` lines (the export's static
 *                                     activation arena, so a network touches the memory an export touches)
 *   at T BYTE_OFFSET                  tensor T (not a slice) owns arena bytes [OFFSET, OFFSET + its size);
 *                                     a tensor without a place gets a buffer of its own
 *   image                             (s8 only) every run first converts a uint8 image [C][H*W] into the
 *                                     input through a [C][256] table, as an export's model_set_input does
 *                                     before its layers (whole networks: the export's bench times it too;
 *                                     the values are those the input was drawn with, so checksums stay)
 *   conv OUT IN KERNEL STRIDE ACT     full KxK convolution (groups 1); ACT 0 none, 1 relu
 *   pointwise OUT IN STRIDE ACT       1x1 convolution
 *   pointwise_add OUT IN STRIDE ACT MID OTHER
 *                                     (s8 only) a 1x1 convolution of IN whose int8 value (quantized as MID,
 *                                     which is never written) is added to OTHER into OUT in the convolution's
 *                                     epilogue: as_pointwise_conv_add_s8, what an int8 export runs for an add
 *                                     fused into its pointwise convolution (AddFusion, docs/benchmarks.md)
 *   depthwise OUT IN STRIDE ACT       depthwise 3x3
 *   maxpool OUT IN                    2x2, stride 2
 *   concat OUT COUNT IN... REQ...     channel concat in order; REQ per input (s8): 1 requantized into its
 *                                     slice (as_requantize_s8: another quantization than OUT), 0 copied as
 *                                     it is (as_copy_channels_s8), as the export decides (ConcatParts.swift);
 *                                     an input that already lies in its slice of OUT (slice lines) is not
 *                                     touched, so a concat whose inputs all do runs no kernel, as in an export
 *   add OUT IN1 IN2
 *   gap OUT IN                        global average pool
 *   linear OUT IN                     fully connected with bias
 *   end                               the last layer's output is the network's output
 *
 * Output (stdout), one line each:
 *   simd PATH
 *   cpu N | cpu none                  the core the harness is pinned to (time)
 *   samples NAME BATCH OUTPUT_CHECKSUM ALL_CHECKSUM NS...                        (time, round after round)
 *   estimate NAME ROUNDS PER_ROUND NS LOW_NS HIGH_NS                             (time, estimator.h)
 *   probe NAME NS...                  (time) the speed probe right after NAME's samples, one per round
 *   checksum NAME OUTPUT_CHECKSUM ALL_CHECKSUM                                     (check)
 *   peak_rss_kb N                     peak resident set at the end (VmHWM, else ru_maxrss)
 * Checksums are FNV-1a (32 bit) over the network output's bytes and over every tensor's bytes.
 *
 * Timing. One sample runs the network BATCH times back to back between two as_time_ns() calls and
 * records the mean nanoseconds per run; BATCH is chosen per network (from the fastest of a few single
 * runs) so that a sample lasts at least SAMPLE_US, which keeps clock overhead and timer resolution out
 * of tiny operators. Samples are taken in ROUNDS rounds over the whole plan (each round starts at
 * another network); in a round every network is set up again (fresh buffers), warmed up with one
 * untimed batch and sampled PER_ROUND times back to back, so a burst of interference hits a few
 * rounds of many networks rather than all samples of one. The estimate of a network is estimator.h's:
 * the 10th percentile of its per-round medians, with an order-statistic interval. The raw samples are
 * printed too; the profiler pools the rounds of several runs with the same estimator (its Swift twin).
 * CPU: a core to pin the harness to, -1 (the default) the least loaded one, "none" no pinning.
 *
 * Speed probe (speed_probe.h, docs/devices.md "Shared cores"): right after a network's samples of a round
 * the harness measures the fixed probe workload once (median of a few single calls, nanoseconds), so
 * every round of every network has the machine's speed of that moment beside it. The profiler keeps
 * the probe's full-speed time in the profile (an export's bench normalizes its rounds by it) and can
 * divide each round by its probe (Profiler, `speedProbe`).
 *
 * Layout letters: H = height, W = width, C = channels, K = kernel size, R = K*K*C_in.
 * Every tensor is [H][W][C]; its pixel stride is C unless it is a slice of a wider buffer.
 */
#define _XOPEN_SOURCE 700 /* getrusage under -std=c99 */
#define _GNU_SOURCE /* sched_setaffinity (estimator.h) */
#define HARNESS_NAME "harness"

#include "autoshrink_runtime.h"
#include "estimator.h"
#include "harness_common.h" /* fail, SplitMix64, FNV-1a, timing, output lines (shared with rnn_harness.c) */
#include "speed_probe.h"    /* the speed probe shared with the export's bench (Sources/CHarness/common) */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 8192
#define MAX_CONCAT_INPUTS 64

typedef enum layer_kind {
    LAYER_CONV,
    LAYER_POINTWISE,
    LAYER_POINTWISE_ADD,
    LAYER_DEPTHWISE,
    LAYER_MAXPOOL,
    LAYER_CONCAT,
    LAYER_ADD,
    LAYER_GAP,
    LAYER_LINEAR
} layer_kind;

/* One activation tensor [H][W][C] and its int8 quantization. */
typedef struct tensor {
    int channels, height, width;
    int32_t zero_point;
    float scale;
    int parent, channel_offset; /* slice of tensor `parent` (-1: owns its buffer) at this channel */
    long arena_offset;          /* byte offset of its buffer in the network's arena (-1: malloc'd) */
    int stride;                 /* pixel stride: the channels of the buffer holding the data (set up) */
    void *data;                 /* int8_t or float [H][W][stride], owned when parent < 0 */
} tensor;

typedef struct layer {
    layer_kind kind;
    int output;
    int inputs[MAX_CONCAT_INPUTS];
    int requantized[MAX_CONCAT_INPUTS]; /* concat: 1 when input i is requantized into its slice */
    int input_count;
    int kernel, stride, relu;
    /* Set up per pass: */
    void *weights;          /* s8: [R4][C_out][4] (dw [3][3][C]); f32: [K][K][C_in][C_out] (dw [3][3][C]) */
    void *bias;             /* [C_out] int32 or float */
    int32_t *multiplier;    /* [C_out] */
    int32_t *shift;         /* [C_out] */
    as_requant_s8 requant;
    as_add_params_s8 add;
    int32_t gap_multiplier;
    int gap_shift;
    const void **parts;     /* concat inputs */
    int *part_channels;
    int *part_strides;
    int32_t *part_multiplier; /* s8 concat: requantization of the requantized parts into the concat */
    int *part_shift;
    int *part_copied;         /* 1: the part is copied at the concat; 0: it already lies in its slice */
} layer;

typedef struct network {
    char name[128];
    int is_s8;
    uint64_t seed;
    tensor *tensors;
    int tensor_count, tensor_capacity;
    layer *layers;
    int layer_count, layer_capacity;
    int output;
    long arena_bytes;  /* 0: no arena */
    void *arena;
    int image;              /* 1: run_network converts image_pixels into tensor 0 first (`image` line) */
    uint8_t *image_pixels;  /* [C][H*W] as model_set_input reads them */
    int8_t *image_table;    /* [C][256] */
    harness_timing timing; /* kept across passes */
    double *probes;         /* [ROUNDS] the speed probe after this network's samples, nanoseconds */
} network;

/* ---- deterministic data ----------------------------------------------------------------------- */

/* From harness_common.h's SplitMix64 (next_random, random_f32). */
static int8_t random_s8(uint64_t *state) { return (int8_t)(int)((next_random(state) >> 56) - 128); }

/* Symmetric weight in [-127, 127]. */
static int8_t random_weight_s8(uint64_t *state) { return (int8_t)((int)(next_random(state) % 255u) - 127); }

/* ---- plan parsing ----------------------------------------------------------------------------- */

static size_t tensor_elements(const tensor *t) { return (size_t)t->channels * (size_t)t->height * (size_t)t->width; }

static int add_tensor(network *net, int channels, int height, int width)
{
    tensor *t;
    if (net->tensor_count == net->tensor_capacity) {
        net->tensor_capacity = net->tensor_capacity ? 2 * net->tensor_capacity : 16;
        net->tensors = (tensor *)realloc(net->tensors, (size_t)net->tensor_capacity * sizeof(tensor));
        if (!net->tensors) fail("out of memory", NULL);
    }
    t = &net->tensors[net->tensor_count];
    memset(t, 0, sizeof(*t));
    t->channels = channels;
    t->height = height;
    t->width = width;
    /* Per-tensor quantization: zero points in [-32, 31], one scale (1/16, exact) for all. */
    t->zero_point = (int32_t)((net->tensor_count * 37) % 64) - 32;
    t->scale = 0.0625f;
    t->parent = -1;
    t->arena_offset = -1;
    return net->tensor_count++;
}

static layer *add_layer(network *net)
{
    layer *l;
    if (net->layer_count == net->layer_capacity) {
        net->layer_capacity = net->layer_capacity ? 2 * net->layer_capacity : 16;
        net->layers = (layer *)realloc(net->layers, (size_t)net->layer_capacity * sizeof(layer));
        if (!net->layers) fail("out of memory", NULL);
    }
    l = &net->layers[net->layer_count++];
    memset(l, 0, sizeof(*l));
    return l;
}

static const tensor *checked_tensor(const network *net, int index, const char *line)
{
    if (index < 0 || index >= net->tensor_count) fail("tensor index out of range in line", line);
    return &net->tensors[index];
}

/* Checks that the layer's output tensor has the shape its kernel writes. */
static void check_shapes(const network *net, const layer *l, const char *line)
{
    const tensor *out = checked_tensor(net, l->output, line);
    const tensor *in = checked_tensor(net, l->inputs[0], line);
    int i, channels = 0, ok = 1;
    switch (l->kind) {
    case LAYER_CONV:
        ok = (l->kernel == 1 || l->kernel == 3 || l->kernel == 5 || l->kernel == 7) && (l->stride == 1 || l->stride == 2)
             && out->height == as_conv_output_size(in->height, l->kernel, l->stride)
             && out->width == as_conv_output_size(in->width, l->kernel, l->stride);
        break;
    case LAYER_POINTWISE:
        ok = (l->stride == 1 || l->stride == 2) && out->height == (in->height - 1) / l->stride + 1
             && out->width == (in->width - 1) / l->stride + 1;
        break;
    case LAYER_POINTWISE_ADD: {
        const tensor *mid = checked_tensor(net, l->inputs[1], line), *other = checked_tensor(net, l->inputs[2], line);
        ok = net->is_s8 && (l->stride == 1 || l->stride == 2) && out->height == (in->height - 1) / l->stride + 1
             && out->width == (in->width - 1) / l->stride + 1 && mid->channels == out->channels
             && mid->height == out->height && mid->width == out->width && other->channels == out->channels
             && other->height == out->height && other->width == out->width;
        break;
    }
    case LAYER_DEPTHWISE:
        ok = (l->stride == 1 || l->stride == 2) && out->channels == in->channels
             && out->height == as_conv_output_size(in->height, 3, l->stride)
             && out->width == as_conv_output_size(in->width, 3, l->stride);
        break;
    case LAYER_MAXPOOL:
        ok = out->channels == in->channels && out->height == in->height / 2 && out->width == in->width / 2;
        break;
    case LAYER_CONCAT:
        for (i = 0; i < l->input_count; i++) {
            const tensor *part = checked_tensor(net, l->inputs[i], line);
            ok = ok && part->height == out->height && part->width == out->width;
            channels += part->channels;
        }
        ok = ok && channels == out->channels;
        break;
    case LAYER_ADD: {
        const tensor *second = checked_tensor(net, l->inputs[1], line);
        ok = in->channels == out->channels && second->channels == out->channels && in->height == out->height
             && second->height == out->height && in->width == out->width && second->width == out->width;
        break;
    }
    case LAYER_GAP:
        ok = out->channels == in->channels && out->height == 1 && out->width == 1;
        break;
    case LAYER_LINEAR:
        ok = in->height == 1 && in->width == 1 && out->height == 1 && out->width == 1;
        break;
    }
    if (!ok) fail("tensor shapes do not match the layer in line", line);
}

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

/* Reads every network of the plan file. */
static network *read_plan(const char *path, int *network_count)
{
    FILE *file = fopen(path, "r");
    char line[MAX_LINE];
    network *networks = NULL;
    network *net = NULL;
    int count = 0, capacity = 0;
    if (!file) fail("cannot open plan", path);
    while (fgets(line, sizeof line, file)) {
        char word[32];
        int values[2 * MAX_CONCAT_INPUTS + 4];
        int n, offset = 0;
        line[strcspn(line, "\r\n")] = '\0';
        if (sscanf(line, "%31s%n", word, &offset) != 1 || word[0] == '#') continue;
        if (strcmp(word, "network") == 0) {
            char name[128], dtype[8];
            unsigned long long seed;
            if (net) fail("network without end before line", line);
            if (count == capacity) {
                capacity = capacity ? 2 * capacity : 64;
                networks = (network *)realloc(networks, (size_t)capacity * sizeof(network));
                if (!networks) fail("out of memory", NULL);
            }
            net = &networks[count];
            memset(net, 0, sizeof(*net));
            if (sscanf(line + offset, "%127s %7s %llu", name, dtype, &seed) != 3) fail("bad network line", line);
            if (strcmp(dtype, "s8") != 0 && strcmp(dtype, "f32") != 0) fail("unknown dtype in line", line);
            strcpy(net->name, name);
            net->is_s8 = strcmp(dtype, "s8") == 0;
            net->seed = (uint64_t)seed;
            net->output = -1;
            continue;
        }
        if (!net) fail("item outside a network in line", line);
        if (strcmp(word, "image") == 0) {
            if (!net->is_s8 || net->image) fail("image only once and only in s8 networks, line", line);
            net->image = 1;
            continue;
        }
        n = parse_ints(line + offset, values, 2 * MAX_CONCAT_INPUTS + 4);
        if (strcmp(word, "tensor") == 0) {
            if (n != 3 || values[0] < 1 || values[1] < 1 || values[2] < 1) fail("bad tensor line", line);
            add_tensor(net, values[0], values[1], values[2]);
        } else if (strcmp(word, "arena") == 0) {
            if (n != 1 || values[0] < 1 || net->arena_bytes) fail("bad arena line", line);
            net->arena_bytes = values[0];
        } else if (strcmp(word, "at") == 0) {
            tensor *t;
            if (n != 2 || values[1] < 0) fail("bad at line", line);
            t = (tensor *)checked_tensor(net, values[0], line);
            if (t->arena_offset >= 0) fail("tensor placed twice in line", line);
            t->arena_offset = values[1];
        } else if (strcmp(word, "slice") == 0) {
            tensor *t;
            const tensor *parent;
            if (n != 3) fail("bad slice line", line);
            t = (tensor *)checked_tensor(net, values[0], line);
            parent = checked_tensor(net, values[1], line);
            if (values[0] == values[1] || t->parent >= 0 || values[2] < 0 || values[2] + t->channels > parent->channels
                || t->height != parent->height || t->width != parent->width) {
                fail("slice does not fit its parent in line", line);
            }
            t->parent = values[1];
            t->channel_offset = values[2];
        } else if (strcmp(word, "end") == 0) {
            if (net->layer_count == 0) fail("network without layers", net->name);
            net->output = net->layers[net->layer_count - 1].output;
            count++;
            net = NULL;
        } else {
            layer *l = add_layer(net);
            int expected;
            if (strcmp(word, "conv") == 0) { l->kind = LAYER_CONV; expected = 5; }
            else if (strcmp(word, "pointwise") == 0) { l->kind = LAYER_POINTWISE; expected = 4; }
            else if (strcmp(word, "pointwise_add") == 0) { l->kind = LAYER_POINTWISE_ADD; expected = 6; }
            else if (strcmp(word, "depthwise") == 0) { l->kind = LAYER_DEPTHWISE; expected = 4; }
            else if (strcmp(word, "maxpool") == 0) { l->kind = LAYER_MAXPOOL; expected = 2; }
            else if (strcmp(word, "concat") == 0) { l->kind = LAYER_CONCAT; expected = n >= 2 ? 2 + 2 * values[1] : -1; }
            else if (strcmp(word, "add") == 0) { l->kind = LAYER_ADD; expected = 3; }
            else if (strcmp(word, "gap") == 0) { l->kind = LAYER_GAP; expected = 2; }
            else if (strcmp(word, "linear") == 0) { l->kind = LAYER_LINEAR; expected = 2; }
            else { fail("unknown item in line", line); expected = 0; }
            if (n != expected || n < 2) fail("wrong number of values in line", line);
            l->output = values[0];
            switch (l->kind) {
            case LAYER_CONV:
                l->inputs[0] = values[1]; l->input_count = 1;
                l->kernel = values[2]; l->stride = values[3]; l->relu = values[4];
                break;
            case LAYER_POINTWISE:
            case LAYER_DEPTHWISE:
                l->inputs[0] = values[1]; l->input_count = 1;
                l->kernel = l->kind == LAYER_DEPTHWISE ? 3 : 1; l->stride = values[2]; l->relu = values[3];
                break;
            case LAYER_POINTWISE_ADD:
                l->inputs[0] = values[1]; l->inputs[1] = values[4]; l->inputs[2] = values[5]; l->input_count = 3;
                l->kernel = 1; l->stride = values[2]; l->relu = values[3];
                break;
            case LAYER_CONCAT: {
                int i;
                if (values[1] < 1 || values[1] > MAX_CONCAT_INPUTS) fail("bad concat count in line", line);
                l->input_count = values[1];
                for (i = 0; i < l->input_count; i++) {
                    l->inputs[i] = values[2 + i];
                    if (values[2 + l->input_count + i] != 0 && values[2 + l->input_count + i] != 1) {
                        fail("concat flags must be 0 or 1 in line", line);
                    }
                    l->requantized[i] = values[2 + l->input_count + i];
                }
                break;
            }
            case LAYER_ADD:
                l->inputs[0] = values[1]; l->inputs[1] = values[2]; l->input_count = 2;
                break;
            default:
                l->inputs[0] = values[1]; l->input_count = 1;
                break;
            }
            check_shapes(net, l, line);
        }
    }
    fclose(file);
    if (net) fail("plan ends inside network", net->name);
    *network_count = count;
    return networks;
}

/* ---- set-up: buffers, data, weights ----------------------------------------------------------- */

static void setup_requant(layer *l, int reduction, int out_channels, const tensor *out)
{
    int c;
    /* Accumulator spread ~ sqrt(R) * 73 (weights) * ~40 (inputs); aim the output spread at ~24 steps,
     * varied a little per channel. sqrt and division are correctly rounded, so identical everywhere. */
    double base = 24.0 / (73.0 * 40.0) / sqrt((double)reduction);
    l->multiplier = (int32_t *)checked_malloc((size_t)out_channels * sizeof(int32_t));
    l->shift = (int32_t *)checked_malloc((size_t)out_channels * sizeof(int32_t));
    for (c = 0; c < out_channels; c++) {
        int shift;
        as_quantize_multiplier(base * (1.0 + (double)(c % 5) / 8.0), &l->multiplier[c], &shift);
        l->shift[c] = shift;
    }
    l->requant.multiplier = l->multiplier;
    l->requant.shift = l->shift;
    l->requant.output_zero_point = out->zero_point;
    if (l->relu) {
        as_activation_range_s8(AS_ACTIVATION_RELU, out->scale, out->zero_point, &l->requant.activation_min,
                               &l->requant.activation_max);
    } else {
        l->requant.activation_min = -128;
        l->requant.activation_max = 127;
    }
}

static void *random_bias(uint64_t *state, int count, int is_s8)
{
    int i;
    if (is_s8) {
        int32_t *bias = (int32_t *)checked_malloc((size_t)count * sizeof(int32_t));
        for (i = 0; i < count; i++) bias[i] = (int32_t)(next_random(state) % 2001u) - 1000;
        return bias;
    } else {
        float *bias = (float *)checked_malloc((size_t)count * sizeof(float));
        for (i = 0; i < count; i++) bias[i] = 0.1f * random_f32(state);
        return bias;
    }
}

/* Weights of a GEMM-shaped layer (conv KxK, pointwise, FC): reduction R, C_out outputs. */
static void *random_gemm_weights(uint64_t *state, int reduction, int out_channels, int is_s8)
{
    size_t count = (size_t)reduction * (size_t)out_channels, i;
    if (is_s8) {
        int8_t *natural = (int8_t *)checked_malloc(count); /* [C_out][R] */
        int8_t *packed = (int8_t *)checked_malloc(AS_WEIGHTS_S8_BYTES(reduction, out_channels));
        for (i = 0; i < count; i++) natural[i] = random_weight_s8(state);
        as_pack_weights_s8(natural, out_channels, reduction, packed);
        free(natural);
        return packed;
    } else {
        float *weights = (float *)checked_malloc(count * sizeof(float)); /* [R][C_out] */
        float scale = 1.0f / (float)sqrt((double)reduction);
        for (i = 0; i < count; i++) weights[i] = scale * random_f32(state);
        return weights;
    }
}

/* Draws a tensor's [H][W][C] random values and, unless `keep` is given, writes them into its data
 * (pixels `stride` apart); with `keep` they go there instead (contiguous). */
static void fill_tensor(network *net, tensor *x, uint64_t *state, void *keep)
{
    size_t element = net->is_s8 ? 1 : sizeof(float), pixels = (size_t)x->height * (size_t)x->width, pixel;
    int c;
    for (pixel = 0; pixel < pixels; pixel++) {
        char *row = keep ? (char *)keep + pixel * (size_t)x->channels * element
                         : (char *)x->data + pixel * (size_t)x->stride * element;
        for (c = 0; c < x->channels; c++) {
            if (net->is_s8) ((int8_t *)row)[c] = random_s8(state);
            else ((float *)row)[c] = random_f32(state);
        }
    }
}

static void setup_network(network *net)
{
    uint64_t state = net->seed;
    int t, i;
    size_t element = net->is_s8 ? 1 : sizeof(float);
    void *input_values;
    /* Buffers for the tensors that own one (in the arena when placed there), then the slices in them. */
    net->arena = net->arena_bytes ? checked_malloc((size_t)net->arena_bytes) : NULL;
    for (t = 0; t < net->tensor_count; t++) {
        tensor *x = &net->tensors[t];
        x->stride = x->channels;
        if (x->arena_offset >= 0) {
            if (x->parent >= 0 || !net->arena
                || (size_t)x->arena_offset + tensor_elements(x) * element > (size_t)net->arena_bytes) {
                fail("a tensor placed outside its network's arena", net->name);
            }
            x->data = (char *)net->arena + x->arena_offset;
        } else {
            x->data = x->parent < 0 ? checked_malloc(tensor_elements(x) * element) : NULL;
        }
    }
    for (t = 0; t < net->tensor_count; t++) {
        tensor *x = &net->tensors[t];
        const tensor *root = x;
        int offset = 0, steps = 0;
        while (root->parent >= 0) {
            offset += root->channel_offset;
            root = &net->tensors[root->parent];
            if (++steps > net->tensor_count) fail("slices form a cycle in network", net->name);
        }
        if (root == x) continue;
        if (offset + x->channels > root->channels) fail("slice does not fit its buffer in network", net->name);
        x->stride = root->channels;
        x->data = (char *)root->data + (size_t)offset * element;
    }
    /* Values drawn tensor by tensor in order, so the weights after them and the input do not depend on
     * the layout: the input's values are written last (a buffer it is a slice of must not overwrite
     * them); every other tensor is written by its producer before it is read. */
    input_values = checked_malloc(tensor_elements(&net->tensors[0]) * element);
    fill_tensor(net, &net->tensors[0], &state, input_values);
    for (t = 1; t < net->tensor_count; t++) fill_tensor(net, &net->tensors[t], &state, NULL);
    {
        tensor *x = &net->tensors[0];
        size_t pixel, pixels = (size_t)x->height * (size_t)x->width;
        for (pixel = 0; pixel < pixels; pixel++) {
            memcpy((char *)x->data + pixel * (size_t)x->stride * element,
                   (const char *)input_values + pixel * (size_t)x->channels * element, (size_t)x->channels * element);
        }
    }
    if (net->image) {
        /* The export's input step with an identity table (pixel v -> v - 128): the same int8 values. */
        const tensor *x = &net->tensors[0];
        const size_t pixels = (size_t)x->height * (size_t)x->width;
        size_t pixel;
        int c, v;
        net->image_pixels = (uint8_t *)checked_malloc((size_t)x->channels * pixels);
        net->image_table = (int8_t *)checked_malloc((size_t)x->channels * 256);
        for (c = 0; c < x->channels; c++) {
            for (v = 0; v < 256; v++) net->image_table[c * 256 + v] = (int8_t)(v - 128);
            for (pixel = 0; pixel < pixels; pixel++) {
                net->image_pixels[(size_t)c * pixels + pixel] =
                    (uint8_t)(((const int8_t *)input_values)[pixel * (size_t)x->channels + (size_t)c] + 128);
            }
        }
    }
    free(input_values);
    for (i = 0; i < net->layer_count; i++) {
        layer *l = &net->layers[i];
        const tensor *in = &net->tensors[l->inputs[0]];
        const tensor *out = &net->tensors[l->output];
        switch (l->kind) {
        case LAYER_CONV:
        case LAYER_POINTWISE:
        case LAYER_LINEAR: {
            int reduction = l->kind == LAYER_CONV ? l->kernel * l->kernel * in->channels : in->channels;
            l->weights = random_gemm_weights(&state, reduction, out->channels, net->is_s8);
            l->bias = random_bias(&state, out->channels, net->is_s8);
            if (net->is_s8) setup_requant(l, reduction, out->channels, out);
            break;
        }
        case LAYER_POINTWISE_ADD: {
            /* the convolution requantizes to MID's quantization, the add sums MID and OTHER into OUT */
            const tensor *mid = &net->tensors[l->inputs[1]], *other = &net->tensors[l->inputs[2]];
            l->weights = random_gemm_weights(&state, in->channels, out->channels, 1);
            l->bias = random_bias(&state, out->channels, 1);
            setup_requant(l, in->channels, out->channels, mid);
            as_add_params_s8_init(mid->scale, mid->zero_point, other->scale, other->zero_point, out->scale,
                                  out->zero_point, AS_ACTIVATION_NONE, &l->add);
            break;
        }
        case LAYER_DEPTHWISE: {
            size_t count = 9 * (size_t)in->channels, e;
            if (net->is_s8) {
                int8_t *weights = (int8_t *)checked_malloc(count); /* [3][3][C] */
                for (e = 0; e < count; e++) weights[e] = random_weight_s8(&state);
                l->weights = weights;
            } else {
                float *weights = (float *)checked_malloc(count * sizeof(float));
                for (e = 0; e < count; e++) weights[e] = (1.0f / 3.0f) * random_f32(&state);
                l->weights = weights;
            }
            l->bias = random_bias(&state, in->channels, net->is_s8);
            if (net->is_s8) setup_requant(l, 9, in->channels, out);
            break;
        }
        case LAYER_CONCAT: {
            int p, offset;
            l->parts = (const void **)checked_malloc((size_t)l->input_count * sizeof(void *));
            l->part_channels = (int *)checked_malloc((size_t)l->input_count * sizeof(int));
            l->part_strides = (int *)checked_malloc((size_t)l->input_count * sizeof(int));
            l->part_multiplier = (int32_t *)checked_malloc((size_t)l->input_count * sizeof(int32_t));
            l->part_shift = (int *)checked_malloc((size_t)l->input_count * sizeof(int));
            l->part_copied = (int *)checked_malloc((size_t)l->input_count * sizeof(int));
            for (p = 0, offset = 0; p < l->input_count; p++) {
                const tensor *part = &net->tensors[l->inputs[p]];
                l->parts[p] = part->data;
                l->part_channels[p] = part->channels;
                l->part_strides[p] = part->stride;
                l->part_copied[p] = !(part->data == (const char *)out->data + (size_t)offset * (net->is_s8 ? 1 : sizeof(float))
                                      && part->stride == out->stride);
                offset += part->channels;
                /* As in an export: an input of the concat's quantization is copied, one of another is
                 * requantized into its slice (as_requantize_s8); here with 3/4 of its scale (the cost
                 * does not depend on the values). */
                as_quantize_multiplier(!l->requantized[p] ? 1.0 : 0.75 * (double)part->scale / (double)out->scale,
                                       &l->part_multiplier[p], &l->part_shift[p]);
            }
            break;
        }
        case LAYER_ADD: {
            const tensor *second = &net->tensors[l->inputs[1]];
            as_add_params_s8_init(in->scale, in->zero_point, second->scale, second->zero_point, out->scale,
                                  out->zero_point, AS_ACTIVATION_NONE, &l->add);
            break;
        }
        case LAYER_GAP:
            as_quantize_multiplier(1.0 / (double)(in->height * in->width), &l->gap_multiplier, &l->gap_shift);
            break;
        case LAYER_MAXPOOL:
            break;
        }
    }
}

static void teardown_network(network *net)
{
    int t, i;
    for (t = 0; t < net->tensor_count; t++) {
        if (net->tensors[t].parent < 0 && net->tensors[t].arena_offset < 0) free(net->tensors[t].data);
        net->tensors[t].data = NULL;
    }
    free(net->arena);
    net->arena = NULL;
    free(net->image_pixels);
    free(net->image_table);
    net->image_pixels = NULL;
    net->image_table = NULL;
    for (i = 0; i < net->layer_count; i++) {
        layer *l = &net->layers[i];
        free(l->weights); free(l->bias); free(l->multiplier); free(l->shift);
        free((void *)l->parts); free(l->part_channels); free(l->part_strides);
        free(l->part_multiplier); free(l->part_shift); free(l->part_copied);
        l->weights = l->bias = NULL; l->multiplier = l->shift = NULL;
        l->parts = NULL; l->part_channels = l->part_strides = NULL;
        l->part_multiplier = NULL; l->part_shift = NULL; l->part_copied = NULL;
    }
}

/* ---- execution -------------------------------------------------------------------------------- */

static void run_layer_s8(network *net, const layer *l)
{
    const tensor *in = &net->tensors[l->inputs[0]];
    tensor *out = &net->tensors[l->output];
    const int8_t *x = (const int8_t *)in->data;
    int8_t *y = (int8_t *)out->data;
    switch (l->kind) {
    case LAYER_CONV:
        as_conv2d_s8(x, in->height, in->width, in->channels, in->stride, in->zero_point, (const int8_t *)l->weights,
                     (const int32_t *)l->bias, l->kernel, l->stride, out->channels, &l->requant, y, out->stride);
        break;
    case LAYER_POINTWISE:
        as_pointwise_conv_s8(x, in->height, in->width, in->channels, in->stride, in->zero_point,
                             (const int8_t *)l->weights, (const int32_t *)l->bias, l->stride, out->channels,
                             &l->requant, y, out->stride);
        break;
    case LAYER_POINTWISE_ADD: {
        const tensor *other = &net->tensors[l->inputs[2]];
        as_pointwise_conv_add_s8(x, in->height, in->width, in->channels, in->stride, in->zero_point,
                                 (const int8_t *)l->weights, (const int32_t *)l->bias, l->stride, out->channels,
                                 &l->requant, (const int8_t *)other->data, other->stride, &l->add, y, out->stride);
        break;
    }
    case LAYER_DEPTHWISE:
        as_depthwise_conv3x3_s8(x, in->height, in->width, in->channels, in->stride, in->zero_point,
                                (const int8_t *)l->weights, (const int32_t *)l->bias, l->stride, &l->requant, y,
                                out->stride);
        break;
    case LAYER_MAXPOOL:
        as_max_pool2x2_s8(x, in->height, in->width, in->channels, in->stride, y, out->stride);
        break;
    case LAYER_CONCAT: {
        /* what a generated model.c runs for a concat whose inputs are all copied: as_copy_channels_s8
         * for the input that has the concat's quantization, as_requantize_s8 for the others */
        int p, offset = 0;
        for (p = 0; p < l->input_count; offset += l->part_channels[p], p++) {
            const tensor *part = &net->tensors[l->inputs[p]];
            if (!l->part_copied[p]) continue;
            if (!l->requantized[p]) {
                as_copy_channels_s8((const int8_t *)l->parts[p], out->height, out->width, l->part_channels[p],
                                    l->part_strides[p], y + offset, out->stride);
            } else {
                as_requantize_s8((const int8_t *)l->parts[p], out->height, out->width, l->part_channels[p],
                                 l->part_strides[p], part->zero_point, l->part_multiplier[p], l->part_shift[p],
                                 out->zero_point, y + offset, out->stride);
            }
        }
        break;
    }
    case LAYER_ADD: {
        const tensor *second = &net->tensors[l->inputs[1]];
        as_add_s8(x, in->stride, (const int8_t *)second->data, second->stride, out->height, out->width,
                  out->channels, &l->add, y, out->stride);
        break;
    }
    case LAYER_GAP:
        as_global_avg_pool_s8(x, in->height, in->width, in->channels, in->stride, in->zero_point, l->gap_multiplier,
                              l->gap_shift, out->zero_point, y);
        break;
    case LAYER_LINEAR:
        as_fully_connected_s8(x, in->channels, in->zero_point, (const int8_t *)l->weights, (const int32_t *)l->bias,
                              out->channels, &l->requant, y);
        break;
    }
}

static void run_layer_f32(network *net, const layer *l)
{
    const tensor *in = &net->tensors[l->inputs[0]];
    tensor *out = &net->tensors[l->output];
    const float *x = (const float *)in->data;
    float *y = (float *)out->data;
    as_activation activation = l->relu ? AS_ACTIVATION_RELU : AS_ACTIVATION_NONE;
    switch (l->kind) {
    case LAYER_CONV:
        as_conv2d_f32(x, in->height, in->width, in->channels, in->stride, (const float *)l->weights,
                      (const float *)l->bias, l->kernel, l->stride, out->channels, activation, y, out->stride);
        break;
    case LAYER_POINTWISE_ADD: /* s8 only (check_shapes) */
        break;
    case LAYER_POINTWISE:
        as_pointwise_conv_f32(x, in->height, in->width, in->channels, in->stride, (const float *)l->weights,
                              (const float *)l->bias, l->stride, out->channels, activation, y, out->stride);
        break;
    case LAYER_DEPTHWISE:
        as_depthwise_conv3x3_f32(x, in->height, in->width, in->channels, in->stride, (const float *)l->weights,
                                 (const float *)l->bias, l->stride, activation, y, out->stride);
        break;
    case LAYER_MAXPOOL:
        as_max_pool2x2_f32(x, in->height, in->width, in->channels, in->stride, y, out->stride);
        break;
    case LAYER_CONCAT: {
        /* the copied parts, one call each (an in-place part is already in its slice) */
        int p, offset = 0;
        for (p = 0; p < l->input_count; offset += l->part_channels[p], p++) {
            if (!l->part_copied[p]) continue;
            as_concat_channels_f32((const float *const *)&l->parts[p], &l->part_channels[p], &l->part_strides[p], 1,
                                   out->height, out->width, y + offset, out->stride);
        }
        break;
    }
    case LAYER_ADD: {
        const tensor *second = &net->tensors[l->inputs[1]];
        as_add_f32(x, in->stride, (const float *)second->data, second->stride, out->height, out->width,
                   out->channels, AS_ACTIVATION_NONE, y, out->stride);
        break;
    }
    case LAYER_GAP:
        as_global_avg_pool_f32(x, in->height, in->width, in->channels, in->stride, y);
        break;
    case LAYER_LINEAR:
        as_fully_connected_f32(x, in->channels, (const float *)l->weights, (const float *)l->bias, out->channels,
                               AS_ACTIVATION_NONE, y);
        break;
    }
}

/* model_set_input of an export: input[p][c] = table[c][pixels[c][p]]. */
static void convert_image(network *net)
{
    tensor *x = &net->tensors[0];
    int8_t *data = (int8_t *)x->data;
    const int pixels = x->height * x->width;
    int c, p;
    for (c = 0; c < x->channels; c++) {
        const int8_t *table = net->image_table + c * 256;
        const uint8_t *plane = net->image_pixels + (size_t)c * (size_t)pixels;
        for (p = 0; p < pixels; p++) data[(size_t)p * (size_t)x->stride + (size_t)c] = table[plane[p]];
    }
}

static void run_network(network *net)
{
    int i;
    if (net->image) convert_image(net);
    if (net->is_s8) {
        for (i = 0; i < net->layer_count; i++) run_layer_s8(net, &net->layers[i]);
    } else {
        for (i = 0; i < net->layer_count; i++) run_layer_f32(net, &net->layers[i]);
    }
}

/* FNV-1a over a tensor's [H][W][C] values, pixel by pixel (a slice's pixels are `stride` apart). */
static uint32_t tensor_hash(uint32_t hash, const tensor *t, size_t element)
{
    size_t pixel, pixels = (size_t)t->height * (size_t)t->width;
    if (t->stride == t->channels) return fnv1a(hash, t->data, tensor_elements(t) * element);
    for (pixel = 0; pixel < pixels; pixel++) {
        hash = fnv1a(hash, (const char *)t->data + pixel * (size_t)t->stride * element, (size_t)t->channels * element);
    }
    return hash;
}

static void checksums(const network *net, uint32_t *output, uint32_t *all)
{
    size_t element = net->is_s8 ? 1 : sizeof(float);
    const tensor *out = &net->tensors[net->output];
    int t;
    *output = tensor_hash(2166136261u, out, element);
    *all = 2166136261u;
    for (t = 0; t < net->tensor_count; t++) *all = tensor_hash(*all, &net->tensors[t], element);
}

/* ---- timing ----------------------------------------------------------------------------------- */

/* Runs `batch` inferences back to back; mean nanoseconds per inference (a harness_time_batch). */
static double time_batch(void *item, int batch)
{
    network *net = (network *)item;
    uint64_t start = as_time_ns(), stop;
    int b;
    for (b = 0; b < batch; b++) run_network(net);
    stop = as_time_ns();
    return (double)(stop - start) / (double)batch;
}

static int usage(void)
{
    fprintf(stderr, "usage: harness time PLAN ROUNDS PER_ROUND SAMPLE_US [CPU|none] | harness check PLAN | harness info\n");
    return 2;
}

int main(int argc, char **argv)
{
    network *networks;
    int count, i;
    if (argc < 2) return usage();
    printf("simd %s\n", as_runtime_simd_path());
    if (strcmp(argv[1], "info") == 0) return 0;
    if (argc < 3) return usage();
    networks = read_plan(argv[2], &count);
    if (strcmp(argv[1], "check") == 0) {
        for (i = 0; i < count; i++) {
            uint32_t output_checksum, all_checksum;
            setup_network(&networks[i]);
            run_network(&networks[i]);
            checksums(&networks[i], &output_checksum, &all_checksum);
            printf("checksum %s %08x %08x\n", networks[i].name, (unsigned)output_checksum, (unsigned)all_checksum);
            teardown_network(&networks[i]);
        }
    } else if (strcmp(argv[1], "time") == 0 && (argc == 6 || argc == 7)) {
        int rounds, per_round, round, cpu;
        double sample_ns;
        as_speed_probe *probe = as_probe_create();
        uint32_t *output_checksums, *all_checksums;
        double *scratch;
        if (harness_time_arguments(argc, argv, &rounds, &per_round, &sample_ns, &cpu) != 0) return usage();
        harness_pin(cpu);
        output_checksums = (uint32_t *)checked_malloc((size_t)count * sizeof(uint32_t));
        all_checksums = (uint32_t *)checked_malloc((size_t)count * sizeof(uint32_t));
        scratch = (double *)checked_malloc((size_t)(rounds + per_round) * sizeof(double));
        for (i = 0; i < count; i++) {
            networks[i].timing.samples = (double *)checked_malloc((size_t)rounds * (size_t)per_round * sizeof(double));
            networks[i].probes = (double *)checked_malloc((size_t)rounds * sizeof(double));
        }
        if (probe == NULL) fail("out of memory", NULL);
        for (round = 0; round < rounds; round++) {
            int start = (int)(((long)round * count) / rounds), n;
            for (n = 0; n < count; n++) {
                network *net = &networks[(start + n) % count];
                setup_network(net);
                run_network(net);
                /* Checksums of the first run after set-up: the same data in every round. */
                if (round == 0) checksums(net, &output_checksums[net - networks], &all_checksums[net - networks]);
                harness_measure(&net->timing, net, time_batch, per_round, sample_ns);
                net->probes[round] = as_probe_measure_ms(probe) * 1e6;
                teardown_network(net);
            }
        }
        for (i = 0; i < count; i++) {
            int r;
            harness_report(networks[i].name, &networks[i].timing, output_checksums[i], all_checksums[i], rounds, per_round,
                           scratch);
            printf("probe %s", networks[i].name);
            for (r = 0; r < rounds; r++) printf(" %.1f", networks[i].probes[r]);
            printf("\n");
            free(networks[i].probes);
        }
        as_probe_destroy(probe);
    } else {
        return usage();
    }
    print_peak_rss();
    return 0;
}
