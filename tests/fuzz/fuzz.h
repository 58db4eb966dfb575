/* fuzz.h: the libFuzzer entry point every tests/fuzz target defines. Built
 * with -Dfuzz=true (clang), each target is a libFuzzer binary; otherwise it
 * links fuzz-main.c and replays a corpus directory as a TAP test. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
