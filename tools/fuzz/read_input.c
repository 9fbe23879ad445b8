/*
 * read_input.c - reads one input file the way generated programs do (idx.c: plain or gzip IDX, or
 * a binary PGM) and prints "ok <what>" or "error: <reason>". Used by Tests/RuntimeTests/
 * InputFuzzTests.swift to check the messages users see for truncated, oversized and malformed input.
 */
#include "idx.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    char error[200];
    uint8_t *data;
    size_t size;
    idx_array array;
    idx_pgm pgm;
    if (argc != 2) {
        fprintf(stderr, "usage: read_input FILE\n");
        return 2;
    }
    if (idx_read_file(argv[1], &data, &size, error, sizeof error) != 0) {
        printf("error: %s\n", error);
        return 1;
    }
    if (size >= 2 && data[0] == 'P' && data[1] == '5') {
        if (idx_parse_pgm(data, size, &pgm, error, sizeof error) != 0) {
            printf("error: %s\n", error);
            free(data);
            return 1;
        }
        printf("ok pgm %ldx%ld maxval %ld, %lu pixel bytes\n", pgm.width, pgm.height, pgm.maximum,
               (unsigned long)pgm.pixel_bytes);
    } else if (idx_parse(data, size, &array, error, sizeof error) != 0) {
        printf("error: %s\n", error);
        free(data);
        return 1;
    } else {
        printf("ok idx %lu values\n", (unsigned long)array.count);
    }
    free(data);
    return 0;
}
