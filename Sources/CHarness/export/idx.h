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

/** A binary PGM image (P5) with 8-bit samples: its size, maxval and pixel bytes (inside the buffer). */
typedef struct idx_pgm {
    long width, height, maximum;
    const uint8_t *pixels;  /**< the bytes after the header's single trailing whitespace */
    size_t pixel_bytes;     /**< how many bytes follow the header (not checked against width x height) */
} idx_pgm;

/**
 * Parses a P5 header (whitespace and # comments between the numbers); 0, or -1 with a one-line
 * reason ("bad PGM header (...)", "16-bit PGM ... is not supported", "truncated PGM ...").
 */
int idx_parse_pgm(const uint8_t *data, size_t size, idx_pgm *pgm, char *error, size_t error_size);

#endif /* IDX_H */
