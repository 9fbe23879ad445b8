/*
 * fuzz_inputs.c - libFuzzer target for the input parsing of generated programs (Sources/CHarness/
 * export/idx.c): gzip inflate, IDX arrays and PGM headers, on arbitrary bytes. Built and run for a
 * bounded time by Tests/RuntimeTests/InputFuzzTests.swift with the Swift toolchain's clang:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *         -I Sources/CHarness/export tools/fuzz/fuzz_inputs.c Sources/CHarness/export/idx.c -o fuzz
 *   ./fuzz -max_total_time=20 CORPUS_DIR
 *
 * Any crash, sanitizer report or leak fails the run; the inputs that once did are kept in
 * Tests/RuntimeTests/Fixtures/fuzz-regressions and replayed by the test.
 */
#include "idx.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char error[160];
    idx_array array;
    idx_pgm pgm;
    uint8_t *inflated = NULL;
    size_t inflated_size = 0;
    /* What idx_read_file does after reading: gunzip when the gzip magic is there, then parse. */
    if (idx_gunzip(data, size, &inflated, &inflated_size, error, sizeof error) == 0) {
        if (idx_parse(inflated, inflated_size, &array, error, sizeof error) == 0) {
            volatile uint8_t sink = array.count > 0 ? array.values[array.count - 1] : 0;
            (void)sink;
        }
        free(inflated);
    } else if (strlen(error) == 0) {
        abort(); /* every failure carries a reason */
    }
    if (idx_parse(data, size, &array, error, sizeof error) == 0 && array.count > 0) {
        volatile uint8_t sink = array.values[array.count - 1];
        (void)sink;
    }
    if (idx_parse_pgm(data, size, &pgm, error, sizeof error) == 0 && pgm.pixel_bytes > 0) {
        volatile uint8_t sink = pgm.pixels[pgm.pixel_bytes - 1];
        (void)sink;
    }
    return 0;
}
