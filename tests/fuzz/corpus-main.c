/* SPDX-License-Identifier: Apache-2.0 */
/* Runs a libFuzzer target over every file of its seed corpus, so the corpora are regression
 * tests in an ordinary (gcc, sanitizer-less or ASan) build: fuzz-<name> DIR... */
#include <glib.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

int main(int argc, char **argv) {
        unsigned n = 0;

        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++) {
                g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
                const char *name;

                if (!dir) {
                        fprintf(stderr, "cannot open corpus %s\n", argv[i]);
                        return 1;
                }
                while ((name = g_dir_read_name(dir))) {
                        g_autofree char *path = g_build_filename(argv[i], name, NULL);
                        g_autofree char *data = NULL;
                        gsize size;

                        if (!g_file_get_contents(path, &data, &size, NULL))
                                continue;
                        LLVMFuzzerTestOneInput((const uint8_t *) data, size);
                        n++;
                }
        }
        printf("ran %u inputs\n", n);
        return n > 0 ? 0 : 1;
}
