/* Test program for the device runners; built by the tests for each device's toolchain.
 *
 *   echo_args ARG...        prints "arch=<compiled architecture>", "argc=<n>", then each argument as <ARG>
 *   echo_args --exit N      prints "exiting N" to stderr and exits with status N
 *   echo_args --sleep S     sleeps S seconds, then prints "woke"
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__aarch64__)
#define COMPILED_ARCH "aarch64"
#elif defined(__arm__)
#define COMPILED_ARCH "armv7"
#elif defined(__x86_64__)
#define COMPILED_ARCH "x86_64"
#else
#define COMPILED_ARCH "unknown"
#endif

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--exit") == 0) {
        int status = atoi(argv[2]);
        fprintf(stderr, "exiting %d\n", status);
        return status;
    }
    if (argc == 3 && strcmp(argv[1], "--sleep") == 0) {
        /* nanosleep is POSIX (hence _POSIX_C_SOURCE above); -std=c99 alone hides sleep(). */
        struct timespec duration = { atoi(argv[2]), 0 };
        nanosleep(&duration, NULL);
        printf("woke\n");
        return 0;
    }
    printf("arch=%s\n", COMPILED_ARCH);
    printf("argc=%d\n", argc - 1);
    for (int index = 1; index < argc; index++) {
        printf("<%s>\n", argv[index]);
    }
    return 0;
}
