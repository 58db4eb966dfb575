/* fuzz.h: the libFuzzer entry point every tests/fuzz target defines. Built
 * with -Dfuzz=true (clang), each target is a libFuzzer binary; otherwise it
 * links fuzz-main.c and replays a corpus directory as a TAP test. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* assert() that NDEBUG (release builds) does not remove: a broken property
 * is a crash libFuzzer records. */
#define fuzz_check(x)                                                                              \
        do {                                                                                       \
                if (!(x)) {                                                                        \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);     \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
