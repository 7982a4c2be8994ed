/* SPDX-License-Identifier: Apache-2.0 */
/* File IDs: round trip, every kind of tampering, machine binding, expiry, key persistence and
 * damaged key files. */

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file-id.h"

static const uint8_t mac_a[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t mac_b[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};
static const char *const url = "https://user:secret-token@files.example/boot/vmlinuz?sig=abc";
static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Test-side base64url (no padding) through GLib's standard base64. */
static uint8_t *b64url_to_raw(const char *id, size_t *ret_n) {
        GString *s = g_string_new(id);

        g_strdelimit(s->str, "-", '+');
        g_strdelimit(s->str, "_", '/');
        while (s->len % 4)
                g_string_append_c(s, '=');
        uint8_t *raw = g_base64_decode(s->str, ret_n);
        g_string_free(s, TRUE);
        return raw;
}

static char *raw_to_b64url(const uint8_t *raw, size_t n) {
        char *s = g_base64_encode(raw, n);
        char *eq = strchr(s, '=');

        if (eq)
                *eq = '\0';
        g_strdelimit(s, "+", '-');
        g_strdelimit(s, "/", '_');
        return s;
}

/* Warnings go through structured logging, which g_test_expect_message() does not see in GLib
 * 2.74: a writer collects them instead, and each test checks what it expects. */
static GPtrArray *warnings;

static GLogWriterOutput collect_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer userdata) {
        if (level & G_LOG_LEVEL_WARNING)
                for (gsize i = 0; i < n; i++)
                        if (g_str_equal(fields[i].key, "MESSAGE")) {
                                g_ptr_array_add(warnings, g_strdup(fields[i].value));
                                return G_LOG_WRITER_HANDLED;
                        }
        return g_log_writer_default(level, fields, n, userdata);
}

static void assert_warnings(const char *pattern) {
        if (!pattern) {
                g_assert_cmpuint(warnings->len, ==, 0);
                return;
        }
        g_assert_cmpuint(warnings->len, ==, 1);
        if (!g_pattern_match_simple(pattern, warnings->pdata[0]))
                g_error("warning '%s' does not match '%s'", (char *) warnings->pdata[0], pattern);
        g_ptr_array_set_size(warnings, 0);
}

static void assert_open_fails(PxFileIds *ids, const char *id, const uint8_t *mac, int code) {
        g_autoptr(GError) e = NULL;
        char *out = (char *) "untouched";
        uint8_t got_mac[6] = {0};

        g_assert_false(px_file_id_open(ids, id, mac, &out, got_mac, &e));
        g_assert_error(e, PX_FILE_ID_ERROR, code);
        g_assert_cmpstr(out, ==, "untouched");
        g_assert_cmpint(got_mac[0], ==, 0);
}

static char *open_ok(PxFileIds *ids, const char *id, const uint8_t *mac) {
        g_autoptr(GError) e = NULL;
        char *out = NULL;

        g_assert_true(px_file_id_open(ids, id, mac, &out, NULL, &e));
        g_assert_no_error(e);
        return out;
}

static void test_round_trip(void) {
        g_autoptr(PxFileIds) ids = px_file_ids_new_ephemeral();
        g_autoptr(GError) e = NULL;
        g_autofree char *id = px_file_id_seal(ids, mac_a, url, 3600, &e);
        g_autofree char *id2 = px_file_id_seal(ids, mac_a, url, 3600, &e);
        g_autofree char *u1 = NULL, *u2 = NULL, *u3 = NULL;
        uint8_t got_mac[6];

        g_assert_no_error(e);
        g_assert_nonnull(id);
        g_assert_cmpuint(strspn(id, alphabet), ==, strlen(id));
        g_assert_cmpuint(strlen(id), <=, PX_FILE_ID_MAX_LEN);
        g_assert_null(strstr(id, "files.example")); /* opaque */
        g_assert_cmpstr(id, !=, id2);               /* fresh nonce every time */

        u1 = open_ok(ids, id, mac_a);
        g_assert_cmpstr(u1, ==, url);
        u2 = open_ok(ids, id, NULL);
        g_assert_cmpstr(u2, ==, url);
        g_assert_true(px_file_id_open(ids, id2, mac_a, &u3, got_mac, &e));
        g_assert_cmpstr(u3, ==, url);
        g_assert_cmpmem(got_mac, 6, mac_a, 6);
}

static void test_url_lengths(void) {
        g_autoptr(PxFileIds) ids = px_file_ids_new_ephemeral();
        g_autoptr(GError) e = NULL;

        for (size_t len = 1; len <= PX_FILE_ID_MAX_URL; len += len < 70 ? 1 : 997) {
                g_autofree char *u = g_strnfill(len, 'u');
                g_autofree char *id = px_file_id_seal(ids, mac_a, u, 60, &e);
                g_autofree char *back = NULL;

                g_assert_no_error(e);
                g_assert_cmpuint(strlen(id), <=, PX_FILE_ID_MAX_LEN);
                back = open_ok(ids, id, mac_a);
                g_assert_cmpstr(back, ==, u);
        }

        g_autofree char *max = g_strnfill(PX_FILE_ID_MAX_URL, 'm');
        g_autofree char *over = g_strnfill(PX_FILE_ID_MAX_URL + 1, 'm');
        g_autofree char *id_max = px_file_id_seal(ids, mac_a, max, 60, &e);
        g_assert_no_error(e);
        g_assert_cmpuint(strlen(id_max), ==, PX_FILE_ID_MAX_LEN);
        g_assert_null(px_file_id_seal(ids, mac_a, over, 60, &e));
        g_assert_error(e, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_URL);
        g_clear_error(&e);
        g_assert_null(px_file_id_seal(ids, mac_a, "", 60, &e));
        g_assert_error(e, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_URL);
}

/* Every character of the ID replaced by every other character of the alphabet. */
static void test_tamper_every_char(void) {
        g_autoptr(PxFileIds) ids = px_file_ids_new_ephemeral();
        g_autofree char *id = px_file_id_seal(ids, mac_a, "http://h/k", 3600, NULL);
        size_t len = strlen(id);

        for (size_t i = 0; i < len; i++) {
                g_autofree char *t = g_strdup(id);
                for (const char *c = alphabet; *c; c++) {
                        if (*c == id[i])
                                continue;
                        t[i] = *c;
                        assert_open_fails(ids, t, NULL, PX_FILE_ID_ERROR_INVALID);
                }
                /* characters outside the alphabet, padding, URL escapes */
                for (const char *c = "=+/.%~ \t!"; *c; c++) {
                        t[i] = *c;
                        assert_open_fails(ids, t, NULL, PX_FILE_ID_ERROR_INVALID);
                }
        }
}

/* Every bit of the decoded ID flipped and re-encoded. */
static void test_tamper_every_bit(void) {
        g_autoptr(PxFileIds) ids = px_file_ids_new_ephemeral();
        g_autofree char *id = px_file_id_seal(ids, mac_a, "http://h/k", 3600, NULL);
        size_t n;
        g_autofree uint8_t *raw = b64url_to_raw(id, &n);
        g_autofree char *same = raw_to_b64url(raw, n);

        g_assert_cmpstr(same, ==, id); /* the test's codec agrees with the ID's */
        for (size_t i = 0; i < n; i++)
                for (int bit = 0; bit < 8; bit++) {
                        g_autofree char *t = NULL;
                        raw[i] ^= (uint8_t) (1u << bit);
                        t = raw_to_b64url(raw, n);
                        assert_open_fails(ids, t, NULL, PX_FILE_ID_ERROR_INVALID);
                        raw[i] ^= (uint8_t) (1u << bit);
                }
}

static void test_truncate_and_extend(void) {
        g_autoptr(PxFileIds) ids = px_file_ids_new_ephemeral();
        g_autofree char *id = px_file_id_seal(ids, mac_a, url, 3600, NULL);
        size_t len = strlen(id), n;
        g_autofree uint8_t *raw = b64url_to_raw(id, &n);

        for (size_t i = 0; i < len; i++) {
                g_autofree char *t = g_strndup(id, i);
                assert_open_fails(ids, t, NULL, PX_FILE_ID_ERROR_INVALID);
        }
        for (const char *c = alphabet; *c; c++) {
                g_autofree char *t = g_strdup_printf("%s%c", id, *c);
                g_autofree char *t2 = g_strdup_printf("%c%s", *c, id);
                assert_open_fails(ids, t, NULL, PX_FILE_ID_ERROR_INVALID);
                assert_open_fails(ids, t2, NULL, PX_FILE_ID_ERROR_INVALID);
        }
        /* whole bytes appended or dropped at the end of the raw form */
        for (size_t k = 1; k <= 3; k++) {
                g_autofree uint8_t *longer = g_malloc0(n + k);
                g_autofree char *t = NULL, *t2 = NULL;
                memcpy(longer, raw, n);
                t = raw_to_b64url(longer, n + k);
                t2 = raw_to_b64url(raw, n - k);
                assert_open_fails(ids, t, NULL, PX_FILE_ID_ERROR_INVALID);
                assert_open_fails(ids, t2, NULL, PX_FILE_ID_ERROR_INVALID);
        }
}

static void test_garbage(void) {
        g_autoptr(PxFileIds) ids = px_file_ids_new_ephemeral();
        g_autofree char *huge = g_strnfill(PX_FILE_ID_MAX_LEN + 1, 'A');
        g_autofree char *zeros = g_strnfill(200, 'A');
        const char *bad[] = {"",
                             "A",
                             "AA",
                             "AAAA",
                             "kernel",
                             "initrd-0",
                             "../../etc/passwd",
                             "%41%41%41%41",
                             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                             huge,
                             zeros};

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                assert_open_fails(ids, bad[i], NULL, PX_FILE_ID_ERROR_INVALID);
}

static void test_other_key(void) {
        g_autoptr(PxFileIds) a = px_file_ids_new_ephemeral();
        g_autoptr(PxFileIds) b = px_file_ids_new_ephemeral();
        g_autofree char *id = px_file_id_seal(a, mac_a, url, 3600, NULL);

        assert_open_fails(b, id, NULL, PX_FILE_ID_ERROR_INVALID);
        assert_open_fails(b, id, mac_a, PX_FILE_ID_ERROR_INVALID);
}

static void test_wrong_mac(void) {
        g_autoptr(PxFileIds) ids = px_file_ids_new_ephemeral();
        g_autofree char *id = px_file_id_seal(ids, mac_a, url, 3600, NULL);

        assert_open_fails(ids, id, mac_b, PX_FILE_ID_ERROR_WRONG_MACHINE);
}

static void test_expiry(void) {
        g_autoptr(PxFileIds) ids = px_file_ids_new_ephemeral();
        g_autofree char *dead = px_file_id_seal(ids, mac_a, url, 0, NULL);
        g_autofree char *forever = px_file_id_seal(ids, mac_a, url, G_MAXUINT64, NULL);
        g_autofree char *u = NULL;

        assert_open_fails(ids, dead, mac_a, PX_FILE_ID_ERROR_EXPIRED);
        assert_open_fails(ids, dead, NULL, PX_FILE_ID_ERROR_EXPIRED);
        /* an expired ID for another machine is reported as the wrong machine */
        assert_open_fails(ids, dead, mac_b, PX_FILE_ID_ERROR_WRONG_MACHINE);
        u = open_ok(ids, forever, mac_a);
        g_assert_cmpstr(u, ==, url);
}

static void test_expiry_passes(void) {
        g_autoptr(PxFileIds) ids = px_file_ids_new_ephemeral();
        g_autofree char *id = px_file_id_seal(ids, mac_a, url, 1, NULL);
        gint64 start = g_get_real_time();

        /* valid now (unless the second ticked over already), expired once a second has passed */
        while (g_get_real_time() - start < 2100000)
                g_usleep(100000);
        assert_open_fails(ids, id, mac_a, PX_FILE_ID_ERROR_EXPIRED);
}

static char *key_path(const char *dir) {
        return g_build_filename(dir, "file-id.key", NULL);
}

static void test_persistence(void) {
        g_autofree char *tmp = g_dir_make_tmp("test-file-id-XXXXXX", NULL);
        g_autofree char *dir = g_build_filename(tmp, "state", "pixiecore", NULL); /* created on demand */
        g_autofree char *path = key_path(dir);
        g_autoptr(GError) e = NULL;
        g_autofree char *id = NULL, *u = NULL, *id2 = NULL, *u2 = NULL;
        g_autofree char *before = NULL, *after = NULL;
        PxFileIds *first, *second;
        struct stat st;

        first = px_file_ids_new(dir, &e);
        g_assert_no_error(e);
        id = px_file_id_seal(first, mac_a, url, 3600, NULL);
        px_file_ids_free(first);

        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_true(S_ISREG(st.st_mode));
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);
        g_assert_cmpint(stat(dir, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0700);
        g_assert_true(g_file_get_contents(path, &before, NULL, NULL));

        second = px_file_ids_new(dir, &e);
        g_assert_no_error(e);
        u = open_ok(second, id, mac_a);
        g_assert_cmpstr(u, ==, url);
        id2 = px_file_id_seal(second, mac_b, url, 3600, NULL);
        px_file_ids_free(second);

        /* the key file is not rewritten by loading it */
        g_assert_true(g_file_get_contents(path, &after, NULL, NULL));
        g_assert_cmpmem(before, 68, after, 68);

        /* no temporary files left behind */
        {
                g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
                const char *name;
                unsigned n = 0;
                while ((name = g_dir_read_name(d)))
                        n++;
                g_assert_cmpuint(n, ==, 1);
        }

        /* a separate ephemeral key cannot open it; a third load can */
        {
                g_autoptr(PxFileIds) third = px_file_ids_new(dir, &e);
                g_autoptr(PxFileIds) eph = px_file_ids_new_ephemeral();
                g_assert_no_error(e);
                u2 = open_ok(third, id2, mac_b);
                g_assert_cmpstr(u2, ==, url);
                assert_open_fails(eph, id2, mac_b, PX_FILE_ID_ERROR_INVALID);
        }
        g_assert_cmpint(g_unlink(path), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
        {
                g_autofree char *parent = g_path_get_dirname(dir);
                g_assert_cmpint(g_rmdir(parent), ==, 0);
        }
        g_assert_cmpint(g_rmdir(tmp), ==, 0);
}

static void rm_rf(const char *dir) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(dir, name, NULL);
                if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
                        rm_rf(p);
                else
                        (void) g_unlink(p);
        }
        (void) g_rmdir(dir);
}

/* Damages a good key file with `damage`, reloads, and checks the bad file was moved aside, a
 * new key made, old IDs refused and new ones stable. */
static void check_corrupt(void (*damage)(const char *path)) {
        g_autofree char *dir = g_dir_make_tmp("test-file-id-XXXXXX", NULL);
        g_autofree char *path = key_path(dir);
        g_autoptr(GError) e = NULL;
        g_autofree char *old_id = NULL, *new_id = NULL, *damaged = NULL, *u = NULL;
        g_autoptr(PxFileIds) first = px_file_ids_new(dir, &e);
        g_autoptr(PxFileIds) second = NULL, third = NULL;
        gsize damaged_len = 0;
        unsigned asides = 0;

        g_assert_no_error(e);
        old_id = px_file_id_seal(first, mac_a, url, 3600, NULL);
        damage(path);
        g_assert_true(g_file_get_contents(path, &damaged, &damaged_len, NULL));

        assert_warnings(NULL);
        second = px_file_ids_new(dir, &e);
        assert_warnings("*damaged*moving it to file-id.key.corrupt-*");
        g_assert_no_error(e);
        g_assert_nonnull(second);
        assert_open_fails(second, old_id, mac_a, PX_FILE_ID_ERROR_INVALID);

        /* the damaged file is kept for inspection, byte for byte */
        {
                g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
                const char *name;
                while ((name = g_dir_read_name(d))) {
                        g_autofree char *p = g_build_filename(dir, name, NULL);
                        g_autofree char *contents = NULL;
                        gsize len;
                        if (!g_str_has_prefix(name, "file-id.key.corrupt-"))
                                continue;
                        asides++;
                        g_assert_true(g_file_get_contents(p, &contents, &len, NULL));
                        g_assert_cmpmem(contents, len, damaged, damaged_len);
                }
        }
        g_assert_cmpuint(asides, ==, 1);

        new_id = px_file_id_seal(second, mac_a, url, 3600, NULL);
        third = px_file_ids_new(dir, &e); /* no warning: the new file is good */
        g_assert_no_error(e);
        assert_warnings(NULL);
        u = open_ok(third, new_id, mac_a);
        g_assert_cmpstr(u, ==, url);
        rm_rf(dir);
}

static void damage_garbage(const char *path) {
        g_assert_true(
                g_file_set_contents_full(path, "this is not a key\n", -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
}

static void damage_empty(const char *path) {
        g_assert_true(g_file_set_contents_full(path, "", 0, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
}

static void damage_flip(const char *path) {
        g_autofree char *data = NULL;
        gsize len;

        g_assert_true(g_file_get_contents(path, &data, &len, NULL));
        g_assert_cmpuint(len, ==, 68);
        data[10] ^= 1; /* inside the key: checksum no longer matches */
        g_assert_true(g_file_set_contents_full(path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
}

static void damage_truncate(const char *path) {
        g_assert_cmpint(truncate(path, 40), ==, 0);
}

static void damage_extend(const char *path) {
        g_autofree char *data = NULL;
        g_autofree char *longer = NULL;
        gsize len;

        g_assert_true(g_file_get_contents(path, &data, &len, NULL));
        longer = g_malloc(len + 1); /* binary: no printf */
        memcpy(longer, data, len);
        longer[len] = 'X';
        g_assert_true(
                g_file_set_contents_full(path, longer, (gssize) len + 1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL));
}

static void test_corrupt_garbage(void) {
        check_corrupt(damage_garbage);
}

static void test_corrupt_empty(void) {
        check_corrupt(damage_empty);
}

static void test_corrupt_bitflip(void) {
        check_corrupt(damage_flip);
}

static void test_corrupt_truncated(void) {
        check_corrupt(damage_truncate);
}

static void test_corrupt_extended(void) {
        check_corrupt(damage_extend);
}

/* Not damage but something else: refused, and nothing is replaced. */
static void test_key_not_a_file(void) {
        g_autofree char *dir = g_dir_make_tmp("test-file-id-XXXXXX", NULL);
        g_autofree char *path = key_path(dir);
        g_autofree char *target = g_build_filename(dir, "elsewhere", NULL);
        g_autoptr(GError) e = NULL;
        PxFileIds *ids;

        g_assert_true(g_file_set_contents(target, "x", -1, NULL));
        g_assert_cmpint(symlink(target, path), ==, 0);
        ids = px_file_ids_new(dir, &e);
        g_assert_null(ids);
        g_assert_error(e, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY);
        g_clear_error(&e);
        g_assert_true(g_file_test(path, G_FILE_TEST_IS_SYMLINK));
        g_assert_cmpint(g_unlink(path), ==, 0);

        g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
        ids = px_file_ids_new(dir, &e);
        g_assert_null(ids);
        g_assert_error(e, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY);
        g_assert_true(g_file_test(path, G_FILE_TEST_IS_DIR));
        rm_rf(dir);
}

static void test_key_permissions_fixed(void) {
        g_autofree char *dir = g_dir_make_tmp("test-file-id-XXXXXX", NULL);
        g_autofree char *path = key_path(dir);
        g_autoptr(GError) e = NULL;
        struct stat st;

        px_file_ids_free(px_file_ids_new(dir, &e));
        g_assert_no_error(e);
        g_assert_cmpint(chmod(path, 0644), ==, 0);
        px_file_ids_free(px_file_ids_new(dir, &e));
        assert_warnings("*readable by others*");
        g_assert_no_error(e);
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);
        rm_rf(dir);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        warnings = g_ptr_array_new_with_free_func(g_free);
        g_log_set_writer_func(collect_writer, NULL, NULL);

        g_test_add_func("/file-id/round-trip", test_round_trip);
        g_test_add_func("/file-id/url-lengths", test_url_lengths);
        g_test_add_func("/file-id/tamper-every-char", test_tamper_every_char);
        g_test_add_func("/file-id/tamper-every-bit", test_tamper_every_bit);
        g_test_add_func("/file-id/truncate-and-extend", test_truncate_and_extend);
        g_test_add_func("/file-id/garbage", test_garbage);
        g_test_add_func("/file-id/other-key", test_other_key);
        g_test_add_func("/file-id/wrong-mac", test_wrong_mac);
        g_test_add_func("/file-id/expiry", test_expiry);
        g_test_add_func("/file-id/expiry-passes", test_expiry_passes);
        g_test_add_func("/file-id/key/persistence", test_persistence);
        g_test_add_func("/file-id/key/corrupt-garbage", test_corrupt_garbage);
        g_test_add_func("/file-id/key/corrupt-empty", test_corrupt_empty);
        g_test_add_func("/file-id/key/corrupt-bitflip", test_corrupt_bitflip);
        g_test_add_func("/file-id/key/corrupt-truncated", test_corrupt_truncated);
        g_test_add_func("/file-id/key/corrupt-extended", test_corrupt_extended);
        g_test_add_func("/file-id/key/not-a-file", test_key_not_a_file);
        g_test_add_func("/file-id/key/permissions-fixed", test_key_permissions_fixed);

        return g_test_run();
}
