/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer entry for file IDs: any string opened as an ID (it must never open unless it is a
 * byte-exact ID we minted), and any string sealed as a URL (it must open back to itself, for
 * the same machine only). The key is fixed, written to a temporary state directory at start,
 * so that the corpus can hold real IDs for the fuzzer to mutate. Build and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I src/core -I src/shared \
 *         src/core/file-id.c tests/fuzz/fuzz-file-id.c \
 *         $(pkg-config --cflags --libs glib-2.0 gnutls) -o fuzz-file-id
 *   ./fuzz-file-id -max_len=6000 tests/fuzz/corpus/file-id
 * The corpus IDs were minted with this key, for MAC 52:54:00:12:34:56, without expiry. */

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "file-id.h"
#include "fuzz.h"

static const uint8_t fuzz_key[32] = "pixiecore file-id fuzzing key!!";
static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t other_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};
static PxFileIds *ids;

/* The key file format of file-id.c: "PXK1", key, SHA-256 of both. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
        g_autofree char *dir = g_dir_make_tmp("fuzz-file-id-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "file-id.key", NULL);
        uint8_t file[4 + 32 + 32];

        g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
        memcpy(file, "PXK1", 4);
        memcpy(file + 4, fuzz_key, 32);
        fuzz_check(gnutls_hash_fast(GNUTLS_DIG_SHA256, file, 36, file + 36) == 0);
        fuzz_check(g_file_set_contents_full(path, (const char *) file, sizeof(file), G_FILE_SET_CONTENTS_CONSISTENT,
                                            0600, NULL));
        ids = px_file_ids_new(dir, NULL);
        fuzz_check(ids);
        (void) g_unlink(path);
        (void) g_rmdir(dir);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *str = g_strndup((const char *) data, size);
        g_autofree char *url = NULL, *id = NULL, *back = NULL, *reseal = NULL;
        g_autoptr(GError) error = NULL;
        uint8_t got_mac[6];

        /* 1: open it as an ID */
        if (px_file_id_open(ids, str, NULL, &url, got_mac, &error)) {
                g_autofree char *again = NULL;

                fuzz_check(!error && url && *url && strlen(url) <= PX_FILE_ID_MAX_URL);
                fuzz_check(strlen(str) <= PX_FILE_ID_MAX_LEN);
                fuzz_check(strspn(str, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                           strlen(str));
                /* the MAC check agrees with what the ID holds */
                fuzz_check(px_file_id_open(ids, str, got_mac, &again, NULL, NULL));
                fuzz_check(g_str_equal(again, url));
        } else {
                fuzz_check(error && error->domain == PX_FILE_ID_ERROR);
                fuzz_check(error->code == PX_FILE_ID_ERROR_INVALID || error->code == PX_FILE_ID_ERROR_EXPIRED);
        }
        g_clear_error(&error);

        /* 2: seal it as a URL: opens back to itself, for this machine only */
        id = px_file_id_seal(ids, mac, str, 3600, &error);
        if (!id) {
                fuzz_check(error && error->code == PX_FILE_ID_ERROR_URL);
                fuzz_check(!*str || strlen(str) > PX_FILE_ID_MAX_URL);
                return 0;
        }
        fuzz_check(strlen(id) <= PX_FILE_ID_MAX_LEN);
        fuzz_check(px_file_id_open(ids, id, mac, &back, NULL, NULL));
        fuzz_check(g_str_equal(back, str));
        fuzz_check(!px_file_id_open(ids, id, other_mac, &reseal, NULL, &error));
        fuzz_check(error->code == PX_FILE_ID_ERROR_WRONG_MACHINE);
        return 0;
}
