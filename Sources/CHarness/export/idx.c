/*
 * idx.c - IDX files, plain or gzip compressed, for the model harness (C99 + libc only).
 *
 * The inflate here decodes canonical Huffman codes one bit at a time from per-length code counts:
 * simple and small, and fast enough for test sets (Fashion-MNIST's 7.8 MB of images inflate in
 * well under a second). Every read and every back-reference is bounds checked, and the gzip
 * trailer's CRC-32 and length are verified, so a truncated or corrupt file is an error, never a
 * crash.
 */
#define _POSIX_C_SOURCE 200809L /* fileno, fstat */
#include "idx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_CODE_BITS 15
#define LITERAL_LENGTH_CODES 288
#define DISTANCE_CODES 30
#define CODE_LENGTH_CODES 19
/* The most a test-set file may hold, plain or inflated: Fashion-MNIST's training images are 47 MB. */
#define MAX_OUTPUT_BYTES ((size_t)1 << 28)

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
    uint8_t *output;        /* grows (realloc) as inflating needs, up to output_limit */
    size_t output_size, output_position;
    size_t output_limit;    /* MAX_OUTPUT_BYTES, lowered to the exact size once an IDX header is out */
    int limit_from_header;  /* whether output_limit comes from the IDX header */
    const char *error;
} inflate_state;

/*
 * Makes room for `extra` more output bytes. The output never grows past output_limit: once the
 * first bytes out form an IDX header, the limit becomes the size that header promises, so a gzip
 * bomb stops at what its own header says (or at MAX_OUTPUT_BYTES) instead of filling memory.
 */
static int reserve_output(inflate_state *s, size_t extra)
{
    size_t needed, capacity;
    uint8_t *grown;
    if (!s->limit_from_header && s->output_position >= 4 && s->output[0] == 0 && s->output[1] == 0 &&
        s->output[3] >= 1 && s->output[3] <= 4 && s->output_position >= 4 + 4 * (size_t)s->output[3]) {
        size_t total = 4 + 4 * (size_t)s->output[3];
        int d;
        for (d = 0; d < s->output[3] && total <= MAX_OUTPUT_BYTES; d++) {
            const uint8_t *p = s->output + 4 + 4 * d;
            const size_t dimension = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
            const size_t body = total - (4 + 4 * (size_t)s->output[3]);
            if (dimension != 0 && body > 0 && body > MAX_OUTPUT_BYTES / dimension) {
                total = MAX_OUTPUT_BYTES + 1;
                break;
            }
            total = 4 + 4 * (size_t)s->output[3] + (body == 0 ? dimension : body * dimension);
        }
        s->limit_from_header = 1;
        if (total > MAX_OUTPUT_BYTES) {
            s->error = "gzip data's IDX header promises more than the 256 MiB limit";
            return -1;
        }
        s->output_limit = total;
    }
    if (s->output_position > s->output_limit || extra > s->output_limit - s->output_position) {
        s->error = s->limit_from_header ? "gzip data inflates to more than its IDX header says"
                                        : "gzip data inflates to more than the 256 MiB limit";
        return -1;
    }
    needed = s->output_position + extra;
    if (needed <= s->output_size) {
        return 0;
    }
    capacity = s->output_size < 4096 ? 4096 : s->output_size;
    while (capacity < needed) {
        capacity = capacity > s->output_limit / 2 ? s->output_limit : 2 * capacity;
    }
    grown = (uint8_t *)realloc(s->output, capacity);
    if (grown == NULL) {
        s->error = "out of memory";
        return -1;
    }
    s->output = grown;
    s->output_size = capacity;
    return 0;
}

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
            if (s->output_position >= s->output_size && reserve_output(s, 1) != 0) {
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
        if (length > s->output_size - s->output_position && reserve_output(s, length) != 0) {
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
    if (length > s->output_size - s->output_position && reserve_output(s, length) != 0) {
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
    /* ISIZE (the last 4 bytes, the size modulo 2^32) is only a hint for the first allocation: a
     * truncated file ends in compressed bytes, not in a trailer. It is checked after inflating. */
    expected = read_le32(input + input_size - 4);
    memset(&s, 0, sizeof s);
    s.input = input;
    s.input_size = input_size - 8;
    s.input_position = position;
    s.output_limit = MAX_OUTPUT_BYTES;
    s.output_size = 4096; /* grows by doubling; starting small lets the IDX header set the limit early */
    s.output = (uint8_t *)malloc(s.output_size);
    if (s.output == NULL) {
        set_error(error, error_size, "out of memory");
        return -1;
    }
    if (inflate_stream(&s) != 0) {
        if (strcmp(s.error, "truncated deflate stream") == 0 || strcmp(s.error, "truncated stored block") == 0) {
            set_error(error, error_size, "truncated gzip file (the compressed data ends early)");
        } else if (strncmp(s.error, "gzip data", 9) == 0 || strcmp(s.error, "out of memory") == 0) {
            set_error(error, error_size, "%s", s.error);
        } else {
            set_error(error, error_size, "corrupt gzip data (%s)", s.error);
        }
        free(s.output);
        return -1;
    }
    if ((uint32_t)s.output_position != (uint32_t)expected) {
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
    {
        /* A regular file's size is known before reading: refuse what is too large, and folders. */
        struct stat status;
        if (fstat(fileno(file), &status) == 0) {
            if (S_ISDIR(status.st_mode)) {
                fclose(file);
                set_error(error, error_size, "is a directory");
                return -1;
            }
            if (S_ISREG(status.st_mode) && (unsigned long long)status.st_size > MAX_OUTPUT_BYTES) {
                fclose(file);
                set_error(error, error_size, "is %llu bytes, more than the 256 MiB limit",
                          (unsigned long long)status.st_size);
                return -1;
            }
        }
    }
    for (;;) {
        size_t got;
        if (length > MAX_OUTPUT_BYTES) { /* a pipe or device that does not end */
            free(buffer);
            fclose(file);
            set_error(error, error_size, "holds more than the 256 MiB limit");
            return -1;
        }
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
        set_error(error, error_size, "read error (%s)", strerror(errno));
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

/* ---- PGM ---------------------------------------------------------------------------------------- */

/* The largest width, height or maxval read (five digits); larger numbers are a bad header. */
#define PGM_NUMBER_LIMIT 99999L

/* Reads the next header integer (whitespace and # comments before it): the value, -1 when there is
 * no number, -2 when it has more digits than PGM_NUMBER_LIMIT allows. */
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
    while (*position < size && data[*position] >= '0' && data[*position] <= '9') {
        if (value > PGM_NUMBER_LIMIT / 10) {
            return -2;
        }
        value = (value < 0 ? 0 : 10 * value) + (data[*position] - '0');
        (*position)++;
    }
    return value > PGM_NUMBER_LIMIT ? -2 : value;
}

int idx_parse_pgm(const uint8_t *data, size_t size, idx_pgm *pgm, char *error, size_t error_size)
{
    static const char *const names[3] = {"width", "height", "maxval"};
    long numbers[3];
    size_t position = 2;
    int i;
    memset(pgm, 0, sizeof *pgm);
    if (size < 2 || data[0] != 'P' || data[1] != '5') {
        set_error(error, error_size, "not a binary PGM (no P5 magic)");
        return -1;
    }
    for (i = 0; i < 3; i++) {
        numbers[i] = pgm_number(data, size, &position);
        if (numbers[i] == -2) {
            set_error(error, error_size, "bad PGM header (%s has more than 5 digits)", names[i]);
            return -1;
        }
        if (numbers[i] < 1) {
            set_error(error, error_size, "bad PGM header (%s missing or 0)", names[i]);
            return -1;
        }
    }
    if (numbers[2] > 255) {
        set_error(error, error_size, "16-bit PGM (maxval %ld) is not supported", numbers[2]);
        return -1;
    }
    if (position >= size) {
        set_error(error, error_size, "truncated PGM (no pixel data after the header)");
        return -1;
    }
    if (data[position] != ' ' && data[position] != '\t' && data[position] != '\r' && data[position] != '\n') {
        set_error(error, error_size, "bad PGM header (no whitespace after maxval)");
        return -1;
    }
    position++;
    pgm->width = numbers[0];
    pgm->height = numbers[1];
    pgm->maximum = numbers[2];
    pgm->pixels = data + position;
    pgm->pixel_bytes = size - position;
    return 0;
}
