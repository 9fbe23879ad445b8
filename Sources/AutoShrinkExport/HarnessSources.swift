// The model harness written into every export: main.c (command line, benchmarks) and idx.c/idx.h
// (IDX test files, gzip via its own inflate). C99 + libc only; the same for every model, which it
// reaches through model.h.

/// C sources of the harness, written verbatim into `deploy/NAME/`.
enum HarnessSources {
    /// `idx.h`.
    static let idxHeader = #"""
/*
 * idx.h - reading test images for the model harness: IDX files (MNIST format), plain or gzip
 * compressed, with a small inflate of its own (no zlib), plus raw and PGM single images.
 * C99 + libc only.
 */
#ifndef IDX_H
#define IDX_H

#include <stddef.h>
#include <stdint.h>

/** One IDX array of unsigned bytes: shape[0..dims) big-endian in the file, values row-major. */
typedef struct idx_array {
    int dims;               /**< 1..4 */
    uint32_t shape[4];
    const uint8_t *values;  /**< points into the buffer the array was parsed from */
    size_t count;           /**< product of the shape */
} idx_array;

/**
 * Reads a whole file into a malloc'd buffer, gunzipping it when it starts with the gzip magic.
 * Returns 0, or -1 with a one-line reason in error (the caller adds the file name).
 */
int idx_read_file(const char *path, uint8_t **data, size_t *size, char *error, size_t error_size);

/** Decompresses one gzip member (RFC 1952, deflate RFC 1951) into a malloc'd buffer; 0 or -1. */
int idx_gunzip(const uint8_t *input, size_t input_size, uint8_t **output, size_t *output_size,
               char *error, size_t error_size);

/** Parses an IDX file of unsigned bytes (type 0x08); 0 or -1 with a reason. */
int idx_parse(const uint8_t *data, size_t size, idx_array *array, char *error, size_t error_size);

#endif /* IDX_H */
"""#

    /// `idx.c`.
    static let idxSource = #"""
/*
 * idx.c - IDX files, plain or gzip compressed, for the model harness (C99 + libc only).
 *
 * The inflate here decodes canonical Huffman codes one bit at a time from per-length code counts:
 * simple and small, and fast enough for test sets (Fashion-MNIST's 7.8 MB of images inflate in
 * well under a second). Every read and every back-reference is bounds checked, and the gzip
 * trailer's CRC-32 and length are verified, so a truncated or corrupt file is an error, never a
 * crash.
 */
#include "idx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CODE_BITS 15
#define LITERAL_LENGTH_CODES 288
#define DISTANCE_CODES 30
#define CODE_LENGTH_CODES 19
#define MAX_OUTPUT_BYTES ((size_t)1 << 30)

static void set_error(char *error, size_t error_size, const char *format, ...)
{
    va_list arguments;
    if (error == NULL || error_size == 0) {
        return;
    }
    va_start(arguments, format);
    vsnprintf(error, error_size, format, arguments);
    va_end(arguments);
}

/* ---- deflate (RFC 1951) ------------------------------------------------------------------------ */

typedef struct inflate_state {
    const uint8_t *input;
    size_t input_size, input_position;
    uint32_t bit_buffer; /* pending input bits, least significant first */
    int bit_count;
    uint8_t *output;
    size_t output_size, output_position;
    const char *error;
} inflate_state;

/* A canonical Huffman code: how many codes have each length, and the symbols ordered by code. */
typedef struct huffman_code {
    uint16_t count[MAX_CODE_BITS + 1];
    uint16_t symbol[LITERAL_LENGTH_CODES];
} huffman_code;

/* Base values and extra bits of length symbols 257..285 and distance symbols 0..29 (RFC 1951 3.2.5). */
static const uint16_t length_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                         31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                         2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t distance_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                           33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                           1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t distance_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                           6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
/* Order in which the code-length code lengths are stored. */
static const uint8_t code_length_order[CODE_LENGTH_CODES] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                                             11, 4,  12, 3, 13, 2, 14, 1, 15};

/* Takes `count` (0..16) bits, least significant first. */
static int take_bits(inflate_state *s, int count, uint32_t *value)
{
    while (s->bit_count < count) {
        if (s->input_position >= s->input_size) {
            s->error = "truncated deflate stream";
            return -1;
        }
        s->bit_buffer |= (uint32_t)s->input[s->input_position++] << s->bit_count;
        s->bit_count += 8;
    }
    *value = s->bit_buffer & ((UINT32_C(1) << count) - 1u);
    s->bit_buffer >>= count;
    s->bit_count -= count;
    return 0;
}

/* Builds a code from code lengths [symbols]; -1 when the lengths over-subscribe the code space. */
static int huffman_build(huffman_code *code, const uint8_t *lengths, int symbols)
{
    uint16_t next[MAX_CODE_BITS + 1];
    int length, symbol, left = 1;
    memset(code->count, 0, sizeof code->count);
    for (symbol = 0; symbol < symbols; symbol++) {
        code->count[lengths[symbol]]++;
    }
    for (length = 1; length <= MAX_CODE_BITS; length++) {
        left = 2 * left - code->count[length];
        if (left < 0) {
            return -1;
        }
    }
    next[1] = 0;
    for (length = 1; length < MAX_CODE_BITS; length++) {
        next[length + 1] = (uint16_t)(next[length] + code->count[length]);
    }
    for (symbol = 0; symbol < symbols; symbol++) {
        if (lengths[symbol] != 0) {
            code->symbol[next[lengths[symbol]]++] = (uint16_t)symbol;
        }
    }
    return 0;
}

/* Decodes one symbol: codes of each length are consecutive integers, read most significant bit first. */
static int huffman_decode(inflate_state *s, const huffman_code *code)
{
    int value = 0, first = 0, index = 0, length;
    for (length = 1; length <= MAX_CODE_BITS; length++) {
        uint32_t bit;
        const int count = code->count[length];
        if (take_bits(s, 1, &bit) != 0) {
            return -1;
        }
        value |= (int)bit;
        if (value - first < count) {
            return code->symbol[index + value - first];
        }
        index += count;
        first = (first + count) << 1;
        value <<= 1;
    }
    s->error = "invalid Huffman code";
    return -1;
}

/* Decodes literals and back-references until the end-of-block symbol. */
static int inflate_block_data(inflate_state *s, const huffman_code *literals, const huffman_code *distances)
{
    for (;;) {
        int symbol = huffman_decode(s, literals);
        uint32_t extra;
        size_t length, distance;
        if (symbol < 0) {
            return -1;
        }
        if (symbol < 256) {
            if (s->output_position >= s->output_size) {
                s->error = "inflated data longer than the gzip trailer says";
                return -1;
            }
            s->output[s->output_position++] = (uint8_t)symbol;
            continue;
        }
        if (symbol == 256) {
            return 0;
        }
        symbol -= 257;
        if (symbol >= 29) {
            s->error = "invalid length symbol";
            return -1;
        }
        if (take_bits(s, length_extra[symbol], &extra) != 0) {
            return -1;
        }
        length = length_base[symbol] + (size_t)extra;
        symbol = huffman_decode(s, distances);
        if (symbol < 0) {
            return -1;
        }
        if (symbol >= 30) {
            s->error = "invalid distance symbol";
            return -1;
        }
        if (take_bits(s, distance_extra[symbol], &extra) != 0) {
            return -1;
        }
        distance = distance_base[symbol] + (size_t)extra;
        if (distance > s->output_position) {
            s->error = "back-reference before the start of the data";
            return -1;
        }
        if (length > s->output_size - s->output_position) {
            s->error = "inflated data longer than the gzip trailer says";
            return -1;
        }
        while (length-- > 0) { /* byte by byte: source and destination may overlap */
            s->output[s->output_position] = s->output[s->output_position - distance];
            s->output_position++;
        }
    }
}

static int inflate_stored(inflate_state *s)
{
    size_t length, complement;
    s->bit_buffer = 0; /* skip to the byte boundary (fewer than 8 bits are pending) */
    s->bit_count = 0;
    if (s->input_size - s->input_position < 4) {
        s->error = "truncated stored block";
        return -1;
    }
    length = s->input[s->input_position] | (size_t)s->input[s->input_position + 1] << 8;
    complement = s->input[s->input_position + 2] | (size_t)s->input[s->input_position + 3] << 8;
    s->input_position += 4;
    if (length != (~complement & 0xFFFFu)) {
        s->error = "corrupt stored block length";
        return -1;
    }
    if (length > s->input_size - s->input_position) {
        s->error = "truncated stored block";
        return -1;
    }
    if (length > s->output_size - s->output_position) {
        s->error = "inflated data longer than the gzip trailer says";
        return -1;
    }
    memcpy(s->output + s->output_position, s->input + s->input_position, length);
    s->input_position += length;
    s->output_position += length;
    return 0;
}

static int inflate_fixed(inflate_state *s)
{
    uint8_t lengths[LITERAL_LENGTH_CODES + DISTANCE_CODES];
    huffman_code literals, distances;
    int symbol;
    for (symbol = 0; symbol < LITERAL_LENGTH_CODES; symbol++) {
        lengths[symbol] = symbol < 144 ? 8 : symbol < 256 ? 9 : symbol < 280 ? 7 : 8;
    }
    for (symbol = 0; symbol < DISTANCE_CODES; symbol++) {
        lengths[LITERAL_LENGTH_CODES + symbol] = 5;
    }
    huffman_build(&literals, lengths, LITERAL_LENGTH_CODES);
    huffman_build(&distances, lengths + LITERAL_LENGTH_CODES, DISTANCE_CODES);
    return inflate_block_data(s, &literals, &distances);
}

static int inflate_dynamic(inflate_state *s)
{
    uint8_t lengths[LITERAL_LENGTH_CODES + DISTANCE_CODES];
    huffman_code code_lengths, literals, distances;
    uint32_t value;
    int literal_count, distance_count, length_count, index;
    if (take_bits(s, 5, &value) != 0) {
        return -1;
    }
    literal_count = (int)value + 257;
    if (take_bits(s, 5, &value) != 0) {
        return -1;
    }
    distance_count = (int)value + 1;
    if (take_bits(s, 4, &value) != 0) {
        return -1;
    }
    length_count = (int)value + 4;
    if (literal_count > 286 || distance_count > 30) {
        s->error = "too many codes in a dynamic block";
        return -1;
    }
    memset(lengths, 0, sizeof lengths);
    for (index = 0; index < length_count; index++) {
        if (take_bits(s, 3, &value) != 0) {
            return -1;
        }
        lengths[code_length_order[index]] = (uint8_t)value;
    }
    if (huffman_build(&code_lengths, lengths, CODE_LENGTH_CODES) != 0) {
        s->error = "invalid code-length code";
        return -1;
    }
    index = 0;
    while (index < literal_count + distance_count) {
        int symbol = huffman_decode(s, &code_lengths), repeat;
        uint8_t repeated = 0;
        if (symbol < 0) {
            return -1;
        }
        if (symbol < 16) {
            lengths[index++] = (uint8_t)symbol;
            continue;
        }
        if (symbol == 16) {
            if (index == 0) {
                s->error = "code-length repeat with nothing before it";
                return -1;
            }
            repeated = lengths[index - 1];
            if (take_bits(s, 2, &value) != 0) {
                return -1;
            }
            repeat = 3 + (int)value;
        } else if (symbol == 17) {
            if (take_bits(s, 3, &value) != 0) {
                return -1;
            }
            repeat = 3 + (int)value;
        } else {
            if (take_bits(s, 7, &value) != 0) {
                return -1;
            }
            repeat = 11 + (int)value;
        }
        if (index + repeat > literal_count + distance_count) {
            s->error = "code lengths run past the end";
            return -1;
        }
        while (repeat-- > 0) {
            lengths[index++] = repeated;
        }
    }
    if (lengths[256] == 0) {
        s->error = "dynamic block without an end-of-block code";
        return -1;
    }
    if (huffman_build(&literals, lengths, literal_count) != 0) {
        s->error = "invalid literal/length code";
        return -1;
    }
    if (huffman_build(&distances, lengths + literal_count, distance_count) != 0) {
        s->error = "invalid distance code";
        return -1;
    }
    return inflate_block_data(s, &literals, &distances);
}

static int inflate_stream(inflate_state *s)
{
    uint32_t last, type;
    do {
        if (take_bits(s, 1, &last) != 0 || take_bits(s, 2, &type) != 0) {
            return -1;
        }
        switch (type) {
        case 0:
            if (inflate_stored(s) != 0) {
                return -1;
            }
            break;
        case 1:
            if (inflate_fixed(s) != 0) {
                return -1;
            }
            break;
        case 2:
            if (inflate_dynamic(s) != 0) {
                return -1;
            }
            break;
        default:
            s->error = "invalid deflate block type";
            return -1;
        }
    } while (!last);
    return 0;
}

/* ---- gzip (RFC 1952) --------------------------------------------------------------------------- */

static uint32_t crc32_of(const uint8_t *data, size_t size)
{
    uint32_t table[256], crc = 0xFFFFFFFFu;
    uint32_t n;
    size_t i;
    for (n = 0; n < 256; n++) {
        uint32_t c = n;
        int k;
        for (k = 0; k < 8; k++) {
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        table[n] = c;
    }
    for (i = 0; i < size; i++) {
        crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
    }
    return crc ^ 0xFFFFFFFFu;
}

static uint32_t read_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t read_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int idx_gunzip(const uint8_t *input, size_t input_size, uint8_t **output, size_t *output_size,
               char *error, size_t error_size)
{
    enum { FLAG_HEADER_CRC = 2, FLAG_EXTRA = 4, FLAG_NAME = 8, FLAG_COMMENT = 16 };
    inflate_state s;
    size_t position = 10, expected;
    uint8_t flags;
    *output = NULL;
    *output_size = 0;
    if (input_size < 18 || input[0] != 0x1F || input[1] != 0x8B) {
        set_error(error, error_size, "not a gzip file");
        return -1;
    }
    if (input[2] != 8) {
        set_error(error, error_size, "gzip compression method %d is not deflate", input[2]);
        return -1;
    }
    flags = input[3];
    if (flags & FLAG_EXTRA) {
        position += 2 + (input[10] | (size_t)input[11] << 8);
    }
    if (flags & FLAG_NAME) {
        while (position < input_size && input[position] != 0) {
            position++;
        }
        position++;
    }
    if (flags & FLAG_COMMENT) {
        while (position < input_size && input[position] != 0) {
            position++;
        }
        position++;
    }
    if (flags & FLAG_HEADER_CRC) {
        position += 2;
    }
    if (position + 8 > input_size) {
        set_error(error, error_size, "truncated gzip header");
        return -1;
    }
    /* ISIZE (the last 4 bytes) sizes the output buffer; it is checked again after inflating */
    expected = read_le32(input + input_size - 4);
    if (expected > MAX_OUTPUT_BYTES) {
        set_error(error, error_size, "gzip data of %lu bytes is too large", (unsigned long)expected);
        return -1;
    }
    memset(&s, 0, sizeof s);
    s.input = input;
    s.input_size = input_size - 8;
    s.input_position = position;
    s.output_size = expected;
    s.output = (uint8_t *)malloc(expected > 0 ? expected : 1);
    if (s.output == NULL) {
        set_error(error, error_size, "out of memory for %lu bytes", (unsigned long)expected);
        return -1;
    }
    if (inflate_stream(&s) != 0) {
        set_error(error, error_size, "corrupt gzip data (%s)", s.error);
        free(s.output);
        return -1;
    }
    if (s.output_position != expected) {
        set_error(error, error_size, "corrupt gzip data (%lu bytes inflated, trailer says %lu)",
                  (unsigned long)s.output_position, (unsigned long)expected);
        free(s.output);
        return -1;
    }
    if (crc32_of(s.output, s.output_position) != read_le32(input + input_size - 8)) {
        set_error(error, error_size, "corrupt gzip data (CRC-32 mismatch)");
        free(s.output);
        return -1;
    }
    *output = s.output;
    *output_size = s.output_position;
    return 0;
}

/* ---- files ------------------------------------------------------------------------------------- */

int idx_read_file(const char *path, uint8_t **data, size_t *size, char *error, size_t error_size)
{
    FILE *file = fopen(path, "rb");
    uint8_t *buffer = NULL;
    size_t capacity = 0, length = 0;
    *data = NULL;
    *size = 0;
    if (file == NULL) {
        set_error(error, error_size, "cannot open (%s)", strerror(errno));
        return -1;
    }
    for (;;) {
        size_t got;
        if (length == capacity) {
            uint8_t *grown;
            capacity = capacity ? 2 * capacity : 1 << 16;
            grown = (uint8_t *)realloc(buffer, capacity);
            if (grown == NULL) {
                free(buffer);
                fclose(file);
                set_error(error, error_size, "out of memory");
                return -1;
            }
            buffer = grown;
        }
        got = fread(buffer + length, 1, capacity - length, file);
        length += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(file)) {
        free(buffer);
        fclose(file);
        set_error(error, error_size, "read error");
        return -1;
    }
    fclose(file);
    if (length >= 2 && buffer[0] == 0x1F && buffer[1] == 0x8B) {
        uint8_t *inflated;
        size_t inflated_size;
        const int status = idx_gunzip(buffer, length, &inflated, &inflated_size, error, error_size);
        free(buffer);
        if (status != 0) {
            return -1;
        }
        buffer = inflated;
        length = inflated_size;
    }
    *data = buffer;
    *size = length;
    return 0;
}

int idx_parse(const uint8_t *data, size_t size, idx_array *array, char *error, size_t error_size)
{
    size_t header, count = 1;
    int d;
    memset(array, 0, sizeof *array);
    if (size < 4 || data[0] != 0 || data[1] != 0) {
        set_error(error, error_size, "not an IDX file (bad magic number)");
        return -1;
    }
    if (data[2] != 0x08) {
        set_error(error, error_size, "IDX element type 0x%02x is not unsigned bytes", data[2]);
        return -1;
    }
    if (data[3] < 1 || data[3] > 4) {
        set_error(error, error_size, "IDX file with %d dimensions (expected 1 to 4)", data[3]);
        return -1;
    }
    array->dims = data[3];
    header = 4 + 4 * (size_t)array->dims;
    if (size < header) {
        set_error(error, error_size, "truncated IDX header");
        return -1;
    }
    for (d = 0; d < array->dims; d++) {
        array->shape[d] = read_be32(data + 4 + 4 * d);
        if (array->shape[d] != 0 && count > MAX_OUTPUT_BYTES / array->shape[d]) {
            set_error(error, error_size, "implausible IDX shape");
            return -1;
        }
        count *= array->shape[d];
    }
    if (size - header < count) {
        set_error(error, error_size, "truncated IDX data (%lu of %lu bytes)", (unsigned long)(size - header),
                  (unsigned long)count);
        return -1;
    }
    if (size - header > count) {
        set_error(error, error_size, "IDX file has %lu unexpected trailing bytes", (unsigned long)(size - header - count));
        return -1;
    }
    array->values = data + header;
    array->count = count;
    return 0;
}
"""#

    /// `main.c`.
    static let mainSource = #"""
/*
 * main.c - command-line harness around the generated model (C99 + libc; the model itself never
 * allocates, only this harness does, for reading files).
 *
 *   model --idx IMAGES [--labels LABELS] [--limit N] [--quiet] [--json]
 *   model IMAGE [--json]                              one image: raw C*H*W bytes or a binary PGM (P5)
 *   model --bench N [--idx IMAGES | IMAGE] [--json]   latency of one inference (input to scores): median, p90
 *   model --bench-layers N [--idx IMAGES | IMAGE] [--json]   the same for every layer
 *
 * IMAGES is an IDX file (N x H x W, or N x C x H x W) of unsigned bytes, plain or gzip compressed.
 * Without --labels, a labels file next to it is used when its name follows the MNIST convention
 * (t10k-images-idx3-ubyte[.gz] -> t10k-labels-idx1-ubyte[.gz]).
 * Each image prints one line "index class score_0 ... score_{K-1}" (scores: see model_score_kind());
 * with labels the last line is "accuracy A (correct/images)". --json adds a JSON summary as the last
 * line. Any problem is one line on stderr and exit status 1 (2 for a usage error).
 */
#include "autoshrink_runtime.h"
#include "idx.h"
#include "model.h"

#include <stdarg.h>
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
    int quiet;
    int json;
} options;

static void fail(int status, const char *format, ...)
{
    va_list arguments;
    fflush(stdout);
    fputs("model: ", stderr);
    va_start(arguments, format);
    vfprintf(stderr, format, arguments);
    va_end(arguments);
    fputc('\n', stderr);
    exit(status);
}

static void usage(void)
{
    printf("usage: model --idx IMAGES [--labels LABELS] [--limit N] [--quiet] [--json]\n"
           "       model IMAGE [--json]            (raw %dx%dx%d uint8 bytes or a binary PGM)\n"
           "       model --bench N [--idx IMAGES | IMAGE] [--json]\n"
           "       model --bench-layers N [--idx IMAGES | IMAGE] [--json]\n"
           "%s model %s: %d classes, scores are %s\n",
           MODEL_INPUT_CHANNELS, MODEL_INPUT_HEIGHT, MODEL_INPUT_WIDTH, model_precision(), MODEL_NAME,
           MODEL_CLASSES, model_score_kind());
}

static long parse_count(const char *text, const char *option)
{
    char *end = NULL;
    long value;
    if (text == NULL) {
        fail(2, "%s needs a number", option);
    }
    value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < 1) {
        fail(2, "%s needs a positive number, got '%s'", option, text);
    }
    return value;
}

static options parse_options(int argc, char **argv)
{
    options o;
    int i;
    memset(&o, 0, sizeof o);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--idx") == 0 || strcmp(a, "--labels") == 0) {
            if (next == NULL) {
                fail(2, "%s needs a file", a);
            }
            *(a[2] == 'i' ? &o.idx : &o.labels) = next;
            i++;
        } else if (strcmp(a, "--limit") == 0) {
            o.limit = parse_count(next, a);
            i++;
        } else if (strcmp(a, "--bench") == 0) {
            o.bench = parse_count(next, a);
            i++;
        } else if (strcmp(a, "--bench-layers") == 0) {
            o.bench_layers = parse_count(next, a);
            i++;
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            exit(0);
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

/* Reads the next header integer of a PGM (whitespace and # comments before it); -1 if none. */
static long pgm_number(const uint8_t *data, size_t size, size_t *position)
{
    long value = -1;
    while (*position < size) {
        const uint8_t c = data[*position];
        if (c == '#') {
            while (*position < size && data[*position] != '\n') {
                (*position)++;
            }
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            (*position)++;
        } else {
            break;
        }
    }
    while (*position < size && data[*position] >= '0' && data[*position] <= '9' && value < 100000) {
        value = (value < 0 ? 0 : 10 * value) + (data[*position] - '0');
        (*position)++;
    }
    return value;
}

/* One image from a raw [C][H][W] byte file or a binary PGM (P5, 8-bit) into image. */
static void load_single_image(const char *path, uint8_t *image)
{
    size_t size, position = 2, i;
    uint8_t *data = read_or_fail(path, &size);
    if (size >= 2 && data[0] == 'P' && data[1] == '5') {
        const long width = pgm_number(data, size, &position);
        const long height = pgm_number(data, size, &position);
        const long maximum = pgm_number(data, size, &position);
        if (width < 1 || height < 1 || maximum < 1 || position >= size) {
            fail(1, "%s: malformed PGM header", path);
        }
        if (maximum > 255) {
            fail(1, "%s: 16-bit PGM (maxval %ld) is not supported", path, maximum);
        }
        if (MODEL_INPUT_CHANNELS != 1 || width != MODEL_INPUT_WIDTH || height != MODEL_INPUT_HEIGHT) {
            fail(1, "%s: PGM image is %ldx%ld, the model expects %dx%dx%d (C x H x W)", path, height, width,
                 MODEL_INPUT_CHANNELS, MODEL_INPUT_HEIGHT, MODEL_INPUT_WIDTH);
        }
        position++; /* the single whitespace byte after maxval */
        if (size - position != (size_t)IMAGE_BYTES) {
            fail(1, "%s: PGM pixel data is %lu bytes, expected %d", path, (unsigned long)(size - position),
                 IMAGE_BYTES);
        }
        for (i = 0; i < (size_t)IMAGE_BYTES; i++) {
            const long v = data[position + i];
            if (v > maximum) {
                fail(1, "%s: pixel %lu is %ld, above the PGM maxval %ld", path, (unsigned long)i, v, maximum);
            }
            image[i] = (uint8_t)((v * 255 + maximum / 2) / maximum);
        }
    } else if (size == (size_t)IMAGE_BYTES) {
        memcpy(image, data, IMAGE_BYTES);
    } else {
        fail(1, "%s: %lu bytes, expected %d (raw %dx%dx%d uint8) or a binary PGM (P5)", path, (unsigned long)size,
             IMAGE_BYTES, MODEL_INPUT_CHANNELS, MODEL_INPUT_HEIGHT, MODEL_INPUT_WIDTH);
    }
    free(data);
}

/* Peak resident set size from /proc/self/status (VmHWM) in KiB, or -1 where unavailable. */
static long peak_rss_kib(void)
{
    char line[256];
    long value = -1;
    FILE *file = fopen("/proc/self/status", "r");
    if (file == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, file) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) {
            value = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(file);
    return value;
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

static int compare_doubles(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Sorts times[count] and returns the median; *p90 receives the 90th percentile (nearest rank). */
static double median_and_p90(double *times, long count, double *p90)
{
    long rank = (long)(0.9 * (double)count + 0.999999);
    qsort(times, (size_t)count, sizeof *times, compare_doubles);
    *p90 = times[(rank < 1 ? 1 : rank) - 1];
    return count % 2 ? times[count / 2] : 0.5 * (times[count / 2 - 1] + times[count / 2]);
}

static double *allocate_times(long count)
{
    double *times = (double *)malloc((size_t)count * sizeof(double));
    if (times == NULL) {
        fail(1, "out of memory for %ld timings", count);
    }
    return times;
}

/* Times whole inferences: input preprocessing, every layer and the scores, as classify() runs them. */
static void bench(const uint8_t *image, long runs, int json)
{
    double *times = allocate_times(runs), median, p90;
    const long warmup = runs / 10 + 10;
    float scores[MODEL_CLASSES];
    long run;
    for (run = 0; run < warmup; run++) {
        classify(image, scores);
    }
    for (run = 0; run < runs; run++) {
        const uint64_t start = as_time_ns();
        classify(image, scores);
        times[run] = (double)(as_time_ns() - start) * 1e-6;
    }
    median = median_and_p90(times, runs, &p90);
    if (json) {
        printf("{\"model\":\"%s\",\"precision\":\"%s\",\"runs\":%ld,\"median_ms\":%.6f,\"p90_ms\":%.6f,"
               "\"min_ms\":%.6f,\"simd\":\"%s\",\"arena_bytes\":%lu,\"peak_rss_kib\":%ld}\n",
               MODEL_NAME, model_precision(), runs, median, p90, times[0], as_runtime_simd_path(),
               (unsigned long)model_arena_bytes(), peak_rss_kib());
    } else {
        printf("%s %s: median %.4f ms, p90 %.4f ms, min %.4f ms over %ld runs (1 thread, batch 1, %s)\n", MODEL_NAME,
               model_precision(), median, p90, times[0], runs, as_runtime_simd_path());
    }
    free(times);
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
        if (o.bench > 0) {
            bench(image, o.bench, o.json);
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
"""#
}
