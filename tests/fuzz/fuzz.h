/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* What every fuzz target shares: the libFuzzer entry points (also driven by corpus-main.c, which
 * runs a corpus as a regression test) and invariant checks that hold in release builds too. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_check(expr)                                                                                               \
        do {                                                                                                           \
                if (!(expr))                                                                                           \
                        abort();                                                                                       \
        } while (0)
