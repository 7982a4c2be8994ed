/* SPDX-License-Identifier: Apache-2.0 */
/* Boot targets: validation, every mutation's success and error paths, persistence across
 * stores, damaged state files, and write failures that must leave the store unchanged. */

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "px-fileio.h"
#include "px-macro.h"
#include "targets.h"

static const uint8_t mac_a[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t mac_b[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x57};
static const uint8_t mac_c[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

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
                if (warnings->len > 0)
                        g_error("unexpected warning '%s'", (char *) warnings->pdata[0]);
                return;
        }
        g_assert_cmpuint(warnings->len, ==, 1);
        if (!g_pattern_match_simple(pattern, warnings->pdata[0]))
                g_error("warning '%s' does not match '%s'", (char *) warnings->pdata[0], pattern);
        g_ptr_array_set_size(warnings, 0);
}

static void assert_message_matches(const GError *e, const char *pattern) {
        g_assert_nonnull(e);
        if (!g_pattern_match_simple(pattern, e->message))
                g_error("error '%s' does not match '%s'", e->message, pattern);
}

static void rm_rf(const char *dir) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        (void) chmod(dir, 0700);
        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(dir, name, NULL);
                if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
                        rm_rf(p);
                else
                        (void) g_unlink(p);
        }
        (void) g_rmdir(dir);
}

/* A scratch directory with boot files in <tmp>/files and the state dir <tmp>/state. */
typedef struct Fixture {
        char *tmp;
        char *files;
        char *state;
        char *kernel;
        char *initrd1;
        char *initrd2;
} Fixture;

static void write_file(const char *path, const char *contents) {
        g_autoptr(GError) e = NULL;

        g_assert_true(g_file_set_contents(path, contents, -1, &e));
        g_assert_no_error(e);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        f->tmp = g_dir_make_tmp("test-targets-XXXXXX", NULL);
        g_assert_nonnull(f->tmp);
        f->files = g_build_filename(f->tmp, "files", NULL);
        f->state = g_build_filename(f->tmp, "state", NULL);
        g_assert_cmpint(g_mkdir(f->files, 0755), ==, 0);
        g_assert_cmpint(g_mkdir(f->state, 0700), ==, 0);
        f->kernel = g_build_filename(f->files, "vmlinuz", NULL);
        f->initrd1 = g_build_filename(f->files, "initrd.img", NULL);
        f->initrd2 = g_build_filename(f->files, "extra.cpio", NULL);
        write_file(f->kernel, "kernel");
        write_file(f->initrd1, "initrd");
        write_file(f->initrd2, "extra");
        g_ptr_array_set_size(warnings, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        assert_warnings(NULL);
        rm_rf(f->tmp);
        g_free(f->tmp);
        g_free(f->files);
        g_free(f->state);
        g_free(f->kernel);
        g_free(f->initrd1);
        g_free(f->initrd2);
}

static char *state_file(Fixture *f) {
        return g_build_filename(f->state, "targets.json", NULL);
}

static PxTargetStore *store_new(const char *dir, PxBootloader bl) {
        g_autoptr(GError) e = NULL;
        PxTargetStore *s = px_target_store_new(dir, bl, &e);

        g_assert_no_error(e);
        g_assert_nonnull(s);
        return s;
}

static PxTarget target(const char *kernel, const char *initrd1, const char *initrd2, const char *cmdline) {
        const char *v[] = {initrd1, initrd2, NULL};
        PxTarget t = {.kernel = g_strdup(kernel), .initrds = g_strdupv((char **) v), .cmdline = g_strdup(cmdline)};
        return t;
}

static void assert_target_eq(const PxTarget *a, const PxTarget *b) {
        g_assert_nonnull(a);
        g_assert_nonnull(b);
        g_assert_cmpstr(a->kernel, ==, b->kernel);
        g_assert_nonnull(a->initrds);
        g_assert_nonnull(b->initrds);
        g_assert_true(g_strv_equal((const char *const *) a->initrds, (const char *const *) b->initrds));
        g_assert_cmpstr(a->cmdline, ==, b->cmdline);
}

static unsigned count_files(const char *dir, const char *prefix) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;
        unsigned n = 0;

        g_assert_nonnull(d);
        while ((name = g_dir_read_name(d)))
                if (!prefix || g_str_has_prefix(name, prefix))
                        n++;
        return n;
}

/* ---- PxTarget helpers -------------------------------------------------------------------------- */

static void test_copy_clear(void) {
        PxTarget a = target("/k", "/i1", "/i2", "quiet"), b, c;
        PxTarget none = {.kernel = g_strdup("/k")};

        px_target_copy(&b, &a);
        assert_target_eq(&a, &b);
        g_assert_true(a.initrds != b.initrds);
        px_target_clear(&a);
        g_assert_null(a.kernel);
        g_assert_null(a.initrds);
        g_assert_null(a.cmdline);
        px_target_clear(&a); /* twice is fine */
        px_target_clear(NULL);
        px_target_clear(&b);

        /* NULL initrds become an empty list: "never NULL" */
        px_target_copy(&c, &none);
        g_assert_nonnull(c.initrds);
        g_assert_null(c.initrds[0]);
        g_assert_null(c.cmdline);
        px_target_clear(&c);
        px_target_clear(&none);
}

/* ---- validation -------------------------------------------------------------------------------- */

static void assert_invalid(PxTargetStore *s, const PxTarget *t, const char *pattern) {
        g_autoptr(GError) e = NULL;

        g_assert_false(px_target_validate(s, t, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_INVALID);
        assert_message_matches(e, pattern);
}

static void assert_valid(PxTargetStore *s, const PxTarget *t) {
        g_autoptr(GError) e = NULL;

        g_assert_true(px_target_validate(s, t, &e));
        g_assert_no_error(e);
}

static void test_validate(Fixture *f, gconstpointer data) {
        g_autoptr(PxTargetStore) ipxe = store_new(NULL, PX_BOOTLOADER_IPXE);
        g_autoptr(PxTargetStore) pxelinux = store_new(NULL, PX_BOOTLOADER_PXELINUX);
        g_autofree char *missing = g_build_filename(f->files, "no-such-vmlinuz", NULL);
        g_autofree char *missing_pattern = g_strdup_printf("*kernel %s*%s*", missing, g_strerror(ENOENT));
        g_autofree char *dir_pattern = g_strdup_printf("*kernel %s*not a regular file*", f->files);
        g_autofree char *initrd_pattern = g_strdup_printf("*initrd %s*%s*", missing, g_strerror(ENOENT));
        PxTarget t;

        /* local files, no initrd, no cmdline */
        t = (PxTarget){.kernel = f->kernel};
        assert_valid(ipxe, &t);
        t = target(f->kernel, f->initrd1, f->initrd2, "console=ttyS0 quiet");
        assert_valid(ipxe, &t);
        px_target_clear(&t);

        /* URLs, mixed with local files */
        t = target("http://boot.example/vmlinuz", "https://boot.example:8443/initrd?x=1", f->initrd1, NULL);
        assert_valid(ipxe, &t);
        px_target_clear(&t);
        t = target("HTTPS://boot.example/vmlinuz", NULL, NULL, NULL);
        assert_valid(ipxe, &t);
        px_target_clear(&t);

        /* kernel required */
        t = (PxTarget){0};
        assert_invalid(ipxe, &t, "*kernel*required*");
        t = (PxTarget){.kernel = (char *) ""};
        assert_invalid(ipxe, &t, "*kernel*required*");

        /* missing kernel: the message names the file and the reason */
        t = (PxTarget){.kernel = missing};
        assert_invalid(ipxe, &t, missing_pattern);
        /* a directory is not a kernel */
        t = (PxTarget){.kernel = f->files};
        assert_invalid(ipxe, &t, dir_pattern);
        /* relative paths are refused */
        t = (PxTarget){.kernel = (char *) "files/vmlinuz"};
        assert_invalid(ipxe, &t, "*kernel 'files/vmlinuz'*absolute path*");
        /* only http and https */
        t = (PxTarget){.kernel = (char *) "ftp://boot.example/vmlinuz"};
        assert_invalid(ipxe, &t, "*kernel 'ftp://boot.example/vmlinuz'*scheme 'ftp'*");
        t = (PxTarget){.kernel = (char *) "tftp://boot.example/vmlinuz"};
        assert_invalid(ipxe, &t, "*scheme 'tftp'*");
        t = (PxTarget){.kernel = (char *) "http:///vmlinuz"};
        assert_invalid(ipxe, &t, "*kernel 'http:///vmlinuz'*no host*");
        t = (PxTarget){.kernel = (char *) "http://boot.example:99999999/vmlinuz"};
        assert_invalid(ipxe, &t, "*kernel 'http://boot.example:99999999/vmlinuz'*invalid URL*");
        t = (PxTarget){.kernel = (char *) "http://bad host/vmlinuz"};
        assert_invalid(ipxe, &t, "*kernel 'http://bad host/vmlinuz'*space*percent-encoded*");
        t = (PxTarget){.kernel = (char *) "http://boot.example/{x}"};
        assert_invalid(ipxe, &t, "*0x7b*percent-encoded*");
        t = (PxTarget){.kernel = (char *) "http://bad!host/vmlinuz"};
        assert_invalid(ipxe, &t, "*invalid host name 'bad!host'*");
        t = (PxTarget){.kernel = (char *) "http://[::1]:8080/vmlinuz%20x"};
        assert_valid(ipxe, &t);
        /* the state file is JSON, and names end up in scripts and logs */
        t = (PxTarget){.kernel = (char *) "/boot/vmlinuz\xff"};
        assert_invalid(ipxe, &t, "*kernel*UTF-8*");
        t = (PxTarget){.kernel = (char *) "/boot/vmlinuz\n"};
        assert_invalid(ipxe, &t, "*kernel*control character*");
        t = (PxTarget){.kernel = f->kernel, .cmdline = (char *) "quiet \xff"};
        assert_invalid(ipxe, &t, "*cmdline*UTF-8*");

        /* the initrds are checked the same way, and named */
        t = target(f->kernel, f->initrd1, missing, NULL);
        assert_invalid(ipxe, &t, initrd_pattern);
        px_target_clear(&t);
        t = target(f->kernel, "ftp://x/initrd", NULL, NULL);
        assert_invalid(ipxe, &t, "*initrd 'ftp://x/initrd'*scheme*");
        px_target_clear(&t);
        t = target(f->kernel, f->files, NULL, NULL);
        assert_invalid(ipxe, &t, "*initrd*not a regular file*");
        px_target_clear(&t);

        /* at most 32 initrds */
        {
                g_autoptr(GPtrArray) many = g_ptr_array_new();
                for (int i = 0; i < 32; i++)
                        g_ptr_array_add(many, f->initrd1);
                g_ptr_array_add(many, NULL);
                t = (PxTarget){.kernel = f->kernel, .initrds = (char **) many->pdata};
                assert_valid(ipxe, &t);
                many->pdata[32] = f->initrd2;
                g_ptr_array_add(many, NULL);
                t = (PxTarget){.kernel = f->kernel, .initrds = (char **) many->pdata};
                assert_invalid(ipxe, &t, "*33 initrds*at most 32*");
        }

        /* the cmdline is checked for the store's bootloader */
        t = (PxTarget){.kernel = f->kernel, .cmdline = (char *) "root=/dev/sda ip=${ip}"};
        assert_invalid(ipxe, &t, "*${*");
        assert_valid(pxelinux, &t);
        t = (PxTarget){.kernel = f->kernel, .cmdline = (char *) "a\nb"};
        assert_invalid(pxelinux, &t, "*control character*");
}

static void test_validate_unreadable(Fixture *f, gconstpointer data) {
        g_autoptr(PxTargetStore) s = store_new(NULL, PX_BOOTLOADER_IPXE);
        g_autofree char *pattern = g_strdup_printf("*kernel %s*%s*", f->kernel, g_strerror(EACCES));
        PxTarget t = {.kernel = f->kernel};

        if (geteuid() == 0) {
                g_test_skip("root can read any file");
                return;
        }
        g_assert_cmpint(chmod(f->kernel, 0), ==, 0);
        assert_invalid(s, &t, pattern);
}

/* ---- mutations --------------------------------------------------------------------------------- */

static void test_set_machine(Fixture *f, gconstpointer data) {
        g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
        g_autoptr(GError) e = NULL;
        PxTarget t1 = target(f->kernel, f->initrd1, NULL, "quiet");
        PxTarget t2 = target("http://boot.example/vmlinuz", f->initrd1, f->initrd2, NULL);
        PxTarget bad = {.kernel = (char *) "/nonexistent/vmlinuz"};
        const PxMachineRule *r;
        guint64 before = (guint64) g_get_real_time(), gen;

        g_assert_null(px_target_store_lookup(s, mac_a));
        g_assert_cmpuint(px_target_store_generation(s), ==, 0);

        g_assert_true(px_target_store_set_machine(s, mac_a, &t1, false, &e));
        g_assert_no_error(e);
        g_assert_cmpuint(px_target_store_generation(s), ==, 1);
        r = px_target_store_lookup(s, mac_a);
        g_assert_nonnull(r);
        g_assert_cmpmem(r->mac, 6, mac_a, 6);
        g_assert_cmpint(r->kind, ==, PX_MACHINE_RULE_TARGET);
        g_assert_false(r->once);
        g_assert_cmpuint(r->set_usec, >=, before);
        g_assert_cmpuint(r->set_usec, <=, (guint64) g_get_real_time());
        assert_target_eq(&r->target, &t1);
        g_assert_true(r->target.kernel != t1.kernel); /* the store has its own copy */
        g_assert_null(px_target_store_lookup(s, mac_b));

        /* replacing */
        g_assert_true(px_target_store_set_machine(s, mac_a, &t2, true, &e));
        g_assert_no_error(e);
        g_assert_cmpuint(px_target_store_generation(s), ==, 2);
        r = px_target_store_lookup(s, mac_a);
        assert_target_eq(&r->target, &t2);
        g_assert_true(r->once);
        {
                g_autoptr(GPtrArray) all = px_target_store_list(s);
                g_assert_cmpuint(all->len, ==, 1);
        }

        /* invalid: refused, nothing changes */
        gen = px_target_store_generation(s);
        g_assert_false(px_target_store_set_machine(s, mac_a, &bad, false, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_INVALID);
        assert_message_matches(e, "*/nonexistent/vmlinuz*");
        g_clear_error(&e);
        g_assert_false(px_target_store_set_machine(s, mac_b, &bad, false, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_INVALID);
        g_clear_error(&e);
        g_assert_cmpuint(px_target_store_generation(s), ==, gen);
        assert_target_eq(&px_target_store_lookup(s, mac_a)->target, &t2);
        g_assert_null(px_target_store_lookup(s, mac_b));

        px_target_clear(&t1);
        px_target_clear(&t2);
}

static void test_ignore_machine(Fixture *f, gconstpointer data) {
        g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
        g_autoptr(GError) e = NULL;
        PxTarget t = target(f->kernel, NULL, NULL, NULL);
        const PxMachineRule *r;

        /* an unknown machine */
        g_assert_true(px_target_store_ignore_machine(s, mac_b, &e));
        g_assert_no_error(e);
        r = px_target_store_lookup(s, mac_b);
        g_assert_nonnull(r);
        g_assert_cmpint(r->kind, ==, PX_MACHINE_RULE_IGNORE);
        g_assert_null(r->target.kernel);
        g_assert_false(r->once);
        g_assert_cmpuint(px_target_store_generation(s), ==, 1);

        /* already ignored: succeeds, nothing changes */
        g_assert_true(px_target_store_ignore_machine(s, mac_b, &e));
        g_assert_no_error(e);
        g_assert_cmpuint(px_target_store_generation(s), ==, 1);

        /* replaces a target rule, once or not */
        g_assert_true(px_target_store_set_machine(s, mac_a, &t, true, &e));
        g_assert_true(px_target_store_ignore_machine(s, mac_a, &e));
        g_assert_no_error(e);
        r = px_target_store_lookup(s, mac_a);
        g_assert_cmpint(r->kind, ==, PX_MACHINE_RULE_IGNORE);
        g_assert_null(r->target.kernel);
        g_assert_false(r->once);
        g_assert_cmpuint(px_target_store_generation(s), ==, 3);

        /* and a target rule replaces an ignore rule */
        g_assert_true(px_target_store_set_machine(s, mac_a, &t, false, &e));
        g_assert_cmpint(px_target_store_lookup(s, mac_a)->kind, ==, PX_MACHINE_RULE_TARGET);
        px_target_clear(&t);
}

static void test_clear_machine(Fixture *f, gconstpointer data) {
        g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
        g_autoptr(GError) e = NULL;
        PxTarget t = target(f->kernel, NULL, NULL, NULL);

        g_assert_false(px_target_store_clear_machine(s, mac_a, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_NOT_FOUND);
        assert_message_matches(e, "*52:54:00:12:34:56*");
        g_clear_error(&e);
        g_assert_cmpuint(px_target_store_generation(s), ==, 0);

        g_assert_true(px_target_store_set_machine(s, mac_a, &t, false, &e));
        g_assert_true(px_target_store_ignore_machine(s, mac_b, &e));
        g_assert_true(px_target_store_clear_machine(s, mac_a, &e));
        g_assert_no_error(e);
        g_assert_null(px_target_store_lookup(s, mac_a));
        g_assert_nonnull(px_target_store_lookup(s, mac_b));
        g_assert_true(px_target_store_clear_machine(s, mac_b, &e)); /* ignore rules too */
        g_assert_null(px_target_store_lookup(s, mac_b));
        g_assert_cmpuint(px_target_store_generation(s), ==, 4);

        g_assert_false(px_target_store_clear_machine(s, mac_a, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_NOT_FOUND);
        px_target_clear(&t);
}

static void test_consume_once(Fixture *f, gconstpointer data) {
        g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
        g_autoptr(GError) e = NULL;
        PxTarget t = target(f->kernel, NULL, NULL, NULL);

        /* nothing to drop: FALSE without an error */
        g_assert_false(px_target_store_consume_once(s, mac_a, &e));
        g_assert_no_error(e);

        g_assert_true(px_target_store_set_machine(s, mac_a, &t, false, &e));
        g_assert_true(px_target_store_ignore_machine(s, mac_b, &e));
        g_assert_true(px_target_store_set_machine(s, mac_c, &t, true, &e));
        g_assert_no_error(e);
        g_assert_cmpuint(px_target_store_generation(s), ==, 3);

        g_assert_false(px_target_store_consume_once(s, mac_a, &e)); /* a permanent target stays */
        g_assert_no_error(e);
        g_assert_nonnull(px_target_store_lookup(s, mac_a));
        g_assert_false(px_target_store_consume_once(s, mac_b, &e)); /* so does an ignore rule */
        g_assert_no_error(e);
        g_assert_nonnull(px_target_store_lookup(s, mac_b));
        g_assert_cmpuint(px_target_store_generation(s), ==, 3);

        g_assert_true(px_target_store_consume_once(s, mac_c, &e));
        g_assert_no_error(e);
        g_assert_null(px_target_store_lookup(s, mac_c));
        g_assert_cmpuint(px_target_store_generation(s), ==, 4);
        g_assert_false(px_target_store_consume_once(s, mac_c, &e));
        g_assert_no_error(e);
        px_target_clear(&t);
}

static void test_default(Fixture *f, gconstpointer data) {
        g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
        g_autoptr(GError) e = NULL;
        PxTarget t1 = target(f->kernel, f->initrd1, NULL, "quiet");
        PxTarget t2 = target("https://boot.example/vmlinuz", NULL, NULL, NULL);
        PxTarget bad = {.kernel = f->files};

        g_assert_null(px_target_store_get_default(s));
        g_assert_false(px_target_store_clear_default(s, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_NOT_FOUND);
        g_clear_error(&e);

        g_assert_true(px_target_store_set_default(s, &t1, &e));
        g_assert_no_error(e);
        assert_target_eq(px_target_store_get_default(s), &t1);
        g_assert_cmpuint(px_target_store_generation(s), ==, 1);

        g_assert_true(px_target_store_set_default(s, &t2, &e));
        assert_target_eq(px_target_store_get_default(s), &t2);
        g_assert_cmpuint(px_target_store_generation(s), ==, 2);

        g_assert_false(px_target_store_set_default(s, &bad, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_INVALID);
        g_clear_error(&e);
        assert_target_eq(px_target_store_get_default(s), &t2);
        g_assert_cmpuint(px_target_store_generation(s), ==, 2);

        /* the default does not touch the machine rules, nor they it */
        g_assert_true(px_target_store_ignore_machine(s, mac_a, &e));
        assert_target_eq(px_target_store_get_default(s), &t2);

        g_assert_true(px_target_store_clear_default(s, &e));
        g_assert_no_error(e);
        g_assert_null(px_target_store_get_default(s));
        g_assert_nonnull(px_target_store_lookup(s, mac_a));
        g_assert_cmpuint(px_target_store_generation(s), ==, 4);
        g_assert_false(px_target_store_clear_default(s, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_NOT_FOUND);
        px_target_clear(&t1);
        px_target_clear(&t2);
}

static void test_list_sorted(Fixture *f, gconstpointer data) {
        g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
        g_autoptr(GPtrArray) empty = px_target_store_list(s);
        g_autoptr(GPtrArray) all = NULL;
        PxTarget t = target(f->kernel, NULL, NULL, NULL);
        uint8_t macs[20][6];

        g_assert_cmpuint(empty->len, ==, 0);
        for (int i = 0; i < 20; i++) {
                /* an order unlike the sorted one */
                uint8_t m[6] = {(uint8_t) ((i * 7) % 20), 0xff, 0, 0, 0, (uint8_t) (19 - i)};
                memcpy(macs[i], m, 6);
                if (i % 3 == 0)
                        g_assert_true(px_target_store_ignore_machine(s, m, NULL));
                else
                        g_assert_true(px_target_store_set_machine(s, m, &t, i % 2, NULL));
        }
        all = px_target_store_list(s);
        g_assert_cmpuint(all->len, ==, 20);
        for (guint i = 1; i < all->len; i++) {
                const PxMachineRule *p = all->pdata[i - 1], *q = all->pdata[i];
                g_assert_cmpint(memcmp(p->mac, q->mac, 6), <, 0);
        }
        /* the list points at the store's rules */
        for (guint i = 0; i < all->len; i++) {
                const PxMachineRule *r = all->pdata[i];
                g_assert_true(px_target_store_lookup(s, r->mac) == r);
        }
        px_target_clear(&t);
}

static void test_limit(void) {
        g_autoptr(PxTargetStore) s = store_new(NULL, PX_BOOTLOADER_IPXE);
        g_autoptr(GError) e = NULL;
        PxTarget t = target("http://boot.example/vmlinuz", NULL, NULL, NULL);
        const uint8_t extra[6] = {0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa};
        uint8_t first[6] = {0};
        guint64 gen;

        for (guint32 i = 0; i < PX_TARGET_MAX_MACHINES; i++) {
                uint8_t m[6] = {0x02, 0, (uint8_t) (i >> 24), (uint8_t) (i >> 16), (uint8_t) (i >> 8), (uint8_t) i};
                if (i == 0)
                        memcpy(first, m, 6);
                g_assert_true(i % 2 ? px_target_store_ignore_machine(s, m, NULL)
                                    : px_target_store_set_machine(s, m, &t, false, NULL));
        }
        gen = px_target_store_generation(s);
        g_assert_cmpuint(gen, ==, PX_TARGET_MAX_MACHINES);

        g_assert_false(px_target_store_set_machine(s, extra, &t, false, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_LIMIT);
        g_clear_error(&e);
        g_assert_false(px_target_store_ignore_machine(s, extra, &e));
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_LIMIT);
        g_clear_error(&e);
        g_assert_null(px_target_store_lookup(s, extra));
        g_assert_cmpuint(px_target_store_generation(s), ==, gen);

        /* changing a machine that has a rule is still fine, and clearing one makes room */
        g_assert_true(px_target_store_set_machine(s, first, &t, true, &e));
        g_assert_true(px_target_store_ignore_machine(s, first, &e));
        g_assert_true(px_target_store_clear_machine(s, first, &e));
        g_assert_true(px_target_store_set_machine(s, extra, &t, false, &e));
        g_assert_no_error(e);
        px_target_clear(&t);
}

static void test_memory_only(Fixture *f, gconstpointer data) {
        g_autoptr(PxTargetStore) s = store_new(NULL, PX_BOOTLOADER_IPXE);
        PxTarget t = target(f->kernel, NULL, NULL, NULL);

        g_assert_true(px_target_store_set_machine(s, mac_a, &t, true, NULL));
        g_assert_true(px_target_store_set_default(s, &t, NULL));
        g_assert_true(px_target_store_consume_once(s, mac_a, NULL));
        g_assert_cmpuint(px_target_store_generation(s), ==, 3);
        g_assert_cmpuint(count_files(f->state, NULL), ==, 0);
        px_target_clear(&t);
}

/* ---- persistence ------------------------------------------------------------------------------- */

static void test_round_trip(Fixture *f, gconstpointer data) {
        g_autoptr(GError) e = NULL;
        g_autofree char *path = state_file(f);
        PxTarget t1 = target(f->kernel, f->initrd1, f->initrd2, "console=ttyS0 quiet \"x\" \\ é");
        PxTarget t2 = target("https://boot.example/vmlinuz?a=1&b=2", NULL, NULL, NULL);
        PxTarget dflt = target("http://boot.example/default", f->initrd1, NULL, "default=1");
        PxMachineRule saved[3];
        struct stat st;

        {
                g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
                g_assert_true(px_target_store_set_machine(s, mac_a, &t1, false, &e));
                g_assert_true(px_target_store_set_machine(s, mac_b, &t2, true, &e));
                g_assert_true(px_target_store_ignore_machine(s, mac_c, &e));
                g_assert_true(px_target_store_set_default(s, &dflt, &e));
                g_assert_no_error(e);
                memcpy(&saved[0], px_target_store_lookup(s, mac_c), sizeof(PxMachineRule));
                memcpy(&saved[1], px_target_store_lookup(s, mac_a), sizeof(PxMachineRule));
                memcpy(&saved[2], px_target_store_lookup(s, mac_b), sizeof(PxMachineRule));
        }

        /* private, and no temporary files left behind */
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);
        g_assert_cmpuint(count_files(f->state, NULL), ==, 1);

        /* a file that no longer exists does not lose the rule */
        g_assert_cmpint(g_unlink(f->initrd2), ==, 0);

        {
                g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
                g_autoptr(GPtrArray) all = px_target_store_list(s);
                const PxMachineRule *r;

                g_assert_cmpuint(px_target_store_generation(s), ==, 0);
                g_assert_cmpuint(all->len, ==, 3);
                for (guint i = 0; i < 3; i++) {
                        r = all->pdata[i];
                        g_assert_cmpmem(r->mac, 6, saved[i].mac, 6);
                        g_assert_cmpint(r->kind, ==, saved[i].kind);
                        g_assert_cmpint(r->once, ==, saved[i].once);
                        g_assert_cmpuint(r->set_usec, ==, saved[i].set_usec);
                }
                r = px_target_store_lookup(s, mac_a);
                assert_target_eq(&r->target, &t1);
                g_assert_false(r->once);
                r = px_target_store_lookup(s, mac_b);
                assert_target_eq(&r->target, &t2);
                g_assert_null(r->target.cmdline);
                g_assert_true(r->once);
                r = px_target_store_lookup(s, mac_c);
                g_assert_cmpint(r->kind, ==, PX_MACHINE_RULE_IGNORE);
                g_assert_null(r->target.kernel);
                g_assert_nonnull(r->target.initrds);
                assert_target_eq(px_target_store_get_default(s), &dflt);

                /* changes in the second store reach a third */
                g_assert_true(px_target_store_consume_once(s, mac_b, &e));
                g_assert_true(px_target_store_clear_default(s, &e));
                g_assert_no_error(e);
        }
        {
                g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
                g_autoptr(GPtrArray) all = px_target_store_list(s);
                g_assert_cmpuint(all->len, ==, 2);
                g_assert_null(px_target_store_lookup(s, mac_b));
                g_assert_null(px_target_store_get_default(s));
                assert_target_eq(&px_target_store_lookup(s, mac_a)->target, &t1);
        }
        px_target_clear(&t1);
        px_target_clear(&t2);
        px_target_clear(&dflt);
}

/* The documented format, as an outside reader sees it. */
static void test_file_format(Fixture *f, gconstpointer data) {
        g_autofree char *path = state_file(f), *contents = NULL;
        g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
        PxTarget t = target(f->kernel, f->initrd1, NULL, "quiet");

        g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS)); /* nothing written until a change */
        g_assert_true(px_target_store_set_machine(s, mac_a, &t, true, NULL));
        g_assert_true(px_target_store_ignore_machine(s, mac_c, NULL));
        g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
        g_assert_true(g_str_has_suffix(contents, "}\n"));
        {
                g_autoptr(JsonParser) p = json_parser_new();
                JsonObject *root, *m;
                JsonArray *machines;

                g_assert_true(json_parser_load_from_data(p, contents, -1, NULL));
                root = json_node_get_object(json_parser_get_root(p));
                g_assert_cmpint(json_object_get_int_member(root, "version"), ==, 1);
                g_assert_true(JSON_NODE_HOLDS_NULL(json_object_get_member(root, "default")));
                machines = json_object_get_array_member(root, "machines");
                g_assert_cmpuint(json_array_get_length(machines), ==, 2);
                m = json_array_get_object_element(machines, 0); /* sorted: 02:00:... first */
                g_assert_cmpstr(json_object_get_string_member(m, "mac"), ==, "02:00:00:00:00:01");
                g_assert_cmpstr(json_object_get_string_member(m, "kind"), ==, "ignore");
                g_assert_false(json_object_get_boolean_member(m, "once"));
                m = json_array_get_object_element(machines, 1);
                g_assert_cmpstr(json_object_get_string_member(m, "mac"), ==, "52:54:00:12:34:56");
                g_assert_cmpstr(json_object_get_string_member(m, "kind"), ==, "target");
                g_assert_cmpstr(json_object_get_string_member(m, "kernel"), ==, f->kernel);
                g_assert_cmpuint(json_array_get_length(json_object_get_array_member(m, "initrds")), ==, 1);
                g_assert_cmpstr(json_object_get_string_member(m, "cmdline"), ==, "quiet");
                g_assert_true(json_object_get_boolean_member(m, "once"));
                g_assert_cmpint(json_object_get_int_member(m, "set_usec"), >, 0);
        }
        px_target_clear(&t);
}

/* Written by hand, in the documented format, with upper-case and dashed MACs: accepted. */
static void test_load_handwritten(Fixture *f, gconstpointer data) {
        g_autofree char *path = state_file(f);
        g_autoptr(PxTargetStore) s = NULL;
        const PxMachineRule *r;

        write_file(path,
                   "{\"version\": 1, \"default\": {\"kernel\": \"/boot/vmlinuz\", \"initrds\": [], \"cmdline\": null},"
                   " \"machines\": [ {\"mac\": \"52-54-00-12-34-56\", \"kind\": \"target\","
                   " \"kernel\": \"http://h/k\", \"initrds\": [\"http://h/i\"], \"once\": true},"
                   " {\"mac\": \"02:00:00:00:00:01\", \"kind\": \"ignore\"} ] }");
        s = store_new(f->state, PX_BOOTLOADER_IPXE);
        r = px_target_store_lookup(s, mac_a);
        g_assert_nonnull(r);
        g_assert_cmpstr(r->target.kernel, ==, "http://h/k");
        g_assert_cmpstr(r->target.initrds[0], ==, "http://h/i");
        g_assert_null(r->target.cmdline);
        g_assert_true(r->once);
        g_assert_cmpuint(r->set_usec, ==, 0);
        r = px_target_store_lookup(s, mac_c);
        g_assert_cmpint(r->kind, ==, PX_MACHINE_RULE_IGNORE);
        g_assert_cmpstr(px_target_store_get_default(s)->kernel, ==, "/boot/vmlinuz"); /* missing: kept */

        /* empty state documents */
        g_clear_pointer(&s, px_target_store_free);
        write_file(path, "{\"version\":1}");
        s = store_new(f->state, PX_BOOTLOADER_IPXE);
        g_assert_null(px_target_store_get_default(s));
        g_clear_pointer(&s, px_target_store_free);
        write_file(path, "{\"version\":1,\"default\":null,\"machines\":[]}");
        s = store_new(f->state, PX_BOOTLOADER_IPXE);
        g_assert_null(px_target_store_get_default(s));
}

/* Saved under pxelinux, loaded under iPXE: the rule is kept, with a warning. */
static void test_load_bootloader_changed(Fixture *f, gconstpointer data) {
        PxTarget t = target(f->kernel, NULL, NULL, "ip=${ip}");

        {
                g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_PXELINUX);
                g_assert_true(px_target_store_set_machine(s, mac_a, &t, false, NULL));
        }
        {
                g_autoptr(PxTargetStore) s = store_new(f->state, PX_BOOTLOADER_IPXE);
                assert_warnings("*rule for 52:54:00:12:34:56*cmdline*ipxe*kept*");
                assert_target_eq(&px_target_store_lookup(s, mac_a)->target, &t);
        }
        px_target_clear(&t);
}

typedef struct Damage {
        const char *contents;
        const char *problem; /* pattern for the warning */
        size_t len;          /* 0: strlen(contents) */
} Damage;

static const Damage damages[] = {
        {"", "*empty*"},
        {" \n", "*empty*"},
        {"{\"version\": 1}\n\0garbage", "*NUL*", 23},
        {"{\"version\": 1, \"machines\": [", "*not valid JSON*"},
        {"garbage", "*not valid JSON*"},
        {"[1, 2]", "*top level*"},
        {"{\"machines\": []}", "*version*missing*"},
        {"{\"version\": \"1\"}", "*version*"},
        {"{\"version\": 2, \"machines\": []}", "*version 2*"},
        {"{\"version\": 1, \"default\": 5}", "*default*"},
        {"{\"version\": 1, \"default\": {\"initrds\": []}}", "*default*kernel*string*"},
        {"{\"version\": 1, \"default\": {\"kernel\": \"relative\"}}", "*default*absolute*"},
        {"{\"version\": 1, \"machines\": {}}", "*machines*array*"},
        {"{\"version\": 1, \"machines\": [5]}", "*machines[0]*object*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": \"52:54:00:12:34\", \"kind\": \"ignore\"}]}", "*bad MAC*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": 5, \"kind\": \"ignore\"}]}", "*mac*string*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": \"52:54:00:12:34:56\", \"kind\": \"boot\"}]}", "*unknown kind*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": \"52:54:00:12:34:56\", \"kind\": \"target\"}]}",
         "*machines[0] (52:54:00:12:34:56)*kernel*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": \"52:54:00:12:34:56\", \"kind\": \"target\", \"kernel\": \"/k\","
         " \"initrds\": [1]}]}",
         "*initrds*strings*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": \"52:54:00:12:34:56\", \"kind\": \"target\", \"kernel\": \"/k\","
         " \"initrds\": \"/i\"}]}",
         "*initrds*array*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": \"52:54:00:12:34:56\", \"kind\": \"target\", \"kernel\": \"/k\","
         " \"once\": \"yes\"}]}",
         "*once*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": \"52:54:00:12:34:56\", \"kind\": \"target\", \"kernel\": \"/k\","
         " \"set_usec\": -1}]}",
         "*set_usec*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": \"52:54:00:12:34:56\", \"kind\": \"target\","
         " \"kernel\": \"ftp://h/k\"}]}",
         "*scheme 'ftp'*"},
        {"{\"version\": 1, \"machines\": [{\"mac\": \"52:54:00:12:34:56\", \"kind\": \"ignore\"},"
         " {\"mac\": \"52:54:00:12:34:56\", \"kind\": \"ignore\"}]}",
         "*second rule for 52:54:00:12:34:56*"},
};

static void test_corrupt(Fixture *f, gconstpointer data) {
        g_autofree char *path = state_file(f);
        PxTarget t = target(f->kernel, NULL, NULL, NULL);

        for (size_t i = 0; i < ELEMENTSOF(damages); i++) {
                g_autofree char *pattern = g_strdup_printf("%s is damaged (%s); moving it to targets.json.corrupt-*",
                                                           path, damages[i].problem);
                g_autoptr(PxTargetStore) s = NULL;
                g_autoptr(GPtrArray) all = NULL;
                g_autoptr(GDir) d = NULL;
                g_autoptr(GError) e = NULL;
                const char *name;
                unsigned asides = 0;

                size_t len = damages[i].len ? damages[i].len : strlen(damages[i].contents);

                g_test_message("damage %zu: %s", i, damages[i].contents);
                g_assert_true(g_file_set_contents(path, damages[i].contents, (gssize) len, NULL));
                s = px_target_store_new(f->state, PX_BOOTLOADER_IPXE, &e);
                g_assert_no_error(e);
                g_assert_nonnull(s);
                assert_warnings(pattern);

                /* empty, and the damaged file kept byte for byte */
                all = px_target_store_list(s);
                g_assert_cmpuint(all->len, ==, 0);
                g_assert_null(px_target_store_get_default(s));
                g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
                d = g_dir_open(f->state, 0, NULL);
                while ((name = g_dir_read_name(d))) {
                        g_autofree char *p = g_build_filename(f->state, name, NULL);
                        g_autofree char *contents = NULL;
                        gsize got;

                        g_assert_true(g_str_has_prefix(name, "targets.json.corrupt-"));
                        asides++;
                        g_assert_true(g_file_get_contents(p, &contents, &got, NULL));
                        g_assert_cmpmem(contents, got, damages[i].contents, len);
                        g_assert_cmpint(g_unlink(p), ==, 0);
                }
                g_assert_cmpuint(asides, ==, 1);

                /* works from there on, and the new file loads without complaint */
                g_assert_true(px_target_store_set_machine(s, mac_a, &t, false, &e));
                g_assert_no_error(e);
                g_clear_pointer(&s, px_target_store_free);
                s = store_new(f->state, PX_BOOTLOADER_IPXE);
                assert_warnings(NULL);
                g_assert_nonnull(px_target_store_lookup(s, mac_a));
        }
        px_target_clear(&t);
}

/* Two damaged files in the same second: both are kept. */
static void test_corrupt_twice(Fixture *f, gconstpointer data) {
        g_autofree char *path = state_file(f);

        write_file(path, "one");
        px_target_store_free(store_new(f->state, PX_BOOTLOADER_IPXE));
        assert_warnings("*damaged*");
        write_file(path, "two");
        px_target_store_free(store_new(f->state, PX_BOOTLOADER_IPXE));
        assert_warnings("*damaged*");
        /* (a second boundary may fall in between; either way nothing is overwritten) */
        g_assert_cmpuint(count_files(f->state, "targets.json.corrupt-"), ==, 2);
}

/* ---- startup errors ---------------------------------------------------------------------------- */

static void assert_new_fails(const char *dir, const char *pattern) {
        g_autoptr(GError) e = NULL;
        PxTargetStore *s = px_target_store_new(dir, PX_BOOTLOADER_IPXE, &e);

        g_assert_null(s);
        g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE);
        assert_message_matches(e, pattern);
}

static void test_startup_errors(Fixture *f, gconstpointer data) {
        g_autofree char *path = state_file(f);
        g_autofree char *elsewhere = g_build_filename(f->tmp, "elsewhere.json", NULL);
        g_autofree char *notdir = g_build_filename(f->tmp, "plain-file", NULL);
        g_autofree char *below = g_build_filename(notdir, "state", NULL);
        g_autofree char *fresh = g_build_filename(f->tmp, "new", "state", NULL);
        g_autofree char *pattern = NULL;

        /* the state dir is a regular file, or below one */
        write_file(notdir, "x");
        pattern = g_strdup_printf("*%s*%s*", notdir, g_strerror(ENOTDIR));
        assert_new_fails(notdir, pattern);
        assert_new_fails(below, "*plain-file*");

        /* targets.json is not a regular file, or a symlink: refused, and left alone */
        g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
        assert_new_fails(f->state, "*targets.json*");
        g_assert_true(g_file_test(path, G_FILE_TEST_IS_DIR));
        g_assert_cmpint(g_rmdir(path), ==, 0);
        write_file(elsewhere, "{\"version\":1}");
        g_assert_cmpint(symlink(elsewhere, path), ==, 0);
        assert_new_fails(f->state, "*targets.json*symbolic link*");
        g_assert_true(g_file_test(path, G_FILE_TEST_IS_SYMLINK));
        g_assert_cmpint(g_unlink(path), ==, 0);

        /* a missing state dir is made */
        px_target_store_free(store_new(fresh, PX_BOOTLOADER_IPXE));
        g_assert_true(g_file_test(fresh, G_FILE_TEST_IS_DIR));
}

static void test_startup_unreadable(Fixture *f, gconstpointer data) {
        g_autofree char *path = state_file(f);

        if (geteuid() == 0) {
                g_test_skip("root can read any directory");
                return;
        }
        g_assert_cmpint(chmod(f->state, 0), ==, 0);
        assert_new_fails(f->state, "*state*");
        g_assert_cmpint(chmod(f->state, 0700), ==, 0);
        write_file(path, "{\"version\":1}");
        g_assert_cmpint(chmod(path, 0), ==, 0);
        assert_new_fails(f->state, "*targets.json*");
        g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS)); /* not moved aside */
}

/* ---- write failures ---------------------------------------------------------------------------- */

/* Snapshot of what a store holds, to show a failed mutation changed nothing. */
static char *describe(PxTargetStore *s) {
        g_autoptr(GPtrArray) all = px_target_store_list(s);
        GString *out = g_string_new(NULL);
        const PxTarget *d = px_target_store_get_default(s);

        g_string_append_printf(out, "gen=%" G_GUINT64_FORMAT " default=%s\n", px_target_store_generation(s),
                               d ? d->kernel : "-");
        for (guint i = 0; i < all->len; i++) {
                const PxMachineRule *r = all->pdata[i];
                char mac[PX_MAC_STRLEN];
                g_autofree char *initrds = g_strjoinv(",", r->target.initrds);

                px_mac_to_string(r->mac, mac);
                g_string_append_printf(out, "%s %d %s [%s] %s once=%d t=%" G_GUINT64_FORMAT "\n", mac, r->kind,
                                       r->target.kernel ? r->target.kernel : "-", initrds,
                                       r->target.cmdline ? r->target.cmdline : "-", r->once, r->set_usec);
        }
        return g_string_free(out, FALSE);
}

/* Every mutation fails with STORAGE, a message matching `pattern`, and no change. */
static void assert_all_mutations_fail(PxTargetStore *s, const PxTarget *t, const char *pattern) {
        g_autofree char *before = describe(s);
        g_autoptr(GError) e = NULL;

#define CHECK_FAILS(call)                                                                                              \
        do {                                                                                                           \
                g_autofree char *after = NULL;                                                                         \
                g_assert_false(call);                                                                                  \
                g_assert_error(e, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE);                                           \
                assert_message_matches(e, pattern);                                                                    \
                g_clear_error(&e);                                                                                     \
                after = describe(s);                                                                                   \
                g_assert_cmpstr(after, ==, before);                                                                    \
        } while (0)

        CHECK_FAILS(px_target_store_set_machine(s, mac_a, t, false, &e)); /* replace */
        CHECK_FAILS(px_target_store_set_machine(s, mac_c, t, true, &e));  /* add */
        CHECK_FAILS(px_target_store_ignore_machine(s, mac_a, &e));
        CHECK_FAILS(px_target_store_ignore_machine(s, mac_c, &e));
        CHECK_FAILS(px_target_store_clear_machine(s, mac_a, &e));
        CHECK_FAILS(px_target_store_clear_machine(s, mac_b, &e));
        CHECK_FAILS(px_target_store_consume_once(s, mac_b, &e));
        CHECK_FAILS(px_target_store_set_default(s, t, &e));
        CHECK_FAILS(px_target_store_clear_default(s, &e));
#undef CHECK_FAILS
}

static PxTargetStore *store_with_rules(Fixture *f, const PxTarget *t) {
        PxTargetStore *s = store_new(f->state, PX_BOOTLOADER_IPXE);

        g_assert_true(px_target_store_set_machine(s, mac_a, t, false, NULL));
        g_assert_true(px_target_store_set_machine(s, mac_b, t, true, NULL));
        g_assert_true(px_target_store_set_default(s, t, NULL));
        return s;
}

/* The state dir is replaced by a regular file after startup: fails even for root. */
static void test_write_fails_not_a_directory(Fixture *f, gconstpointer data) {
        g_autofree char *moved = g_build_filename(f->tmp, "state.moved", NULL);
        g_autofree char *pattern = NULL;
        PxTarget t = target(f->kernel, f->initrd1, NULL, "quiet");
        PxTarget t2 = target("http://boot.example/other", NULL, NULL, NULL);
        g_autoptr(PxTargetStore) s = store_with_rules(f, &t);
        g_autofree char *saved = NULL;

        g_assert_cmpint(g_rename(f->state, moved), ==, 0);
        write_file(f->state, "not a directory");
        pattern = g_strdup_printf("*%s*%s*", f->state, g_strerror(ENOTDIR));
        assert_all_mutations_fail(s, &t2, pattern);

        /* once the directory is back, the first failure left the file as it was */
        g_assert_cmpint(g_unlink(f->state), ==, 0);
        g_assert_cmpint(g_rename(moved, f->state), ==, 0);
        saved = describe(s);
        {
                g_autoptr(PxTargetStore) again = store_new(f->state, PX_BOOTLOADER_IPXE);
                g_autofree char *loaded = describe(again);
                /* same rules; only the generation differs */
                g_assert_cmpstr(strchr(loaded, ' '), ==, strchr(saved, ' '));
        }
        /* and writing works again */
        g_assert_true(px_target_store_set_machine(s, mac_c, &t2, false, NULL));
        px_target_clear(&t);
        px_target_clear(&t2);
}

/* The write itself fails half way (as on a full disk): RLIMIT_FSIZE stops root too. */
static void test_write_fails_midway(Fixture *f, gconstpointer data) {
        g_autofree char *path = state_file(f), *before = NULL, *after = NULL, *pattern = NULL;
        PxTarget t = target(f->kernel, f->initrd1, f->initrd2, "quiet");
        g_autoptr(PxTargetStore) s = store_with_rules(f, &t);
        struct rlimit saved, small;

        g_assert_true(g_file_get_contents(path, &before, NULL, NULL));
        g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &saved), ==, 0);
        small = (struct rlimit){.rlim_cur = 64, .rlim_max = saved.rlim_max};
        g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &small), ==, 0);
        pattern = g_strdup_printf("*cannot write %s: %s*", path, g_strerror(EFBIG));
        assert_all_mutations_fail(s, &t, pattern);
        g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &saved), ==, 0);

        /* the old file is intact and no temporary file is left */
        g_assert_true(g_file_get_contents(path, &after, NULL, NULL));
        g_assert_cmpstr(after, ==, before);
        g_assert_cmpuint(count_files(f->state, NULL), ==, 1);
        px_target_clear(&t);
}

/* targets.json replaced by a directory: the rename fails; no temporary file is left. */
static void test_write_fails_rename(Fixture *f, gconstpointer data) {
        g_autofree char *path = state_file(f);
        g_autofree char *pattern = NULL;
        PxTarget t = target(f->kernel, NULL, NULL, NULL);
        g_autoptr(PxTargetStore) s = store_with_rules(f, &t);

        g_assert_cmpint(g_unlink(path), ==, 0);
        g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
        pattern = g_strdup_printf("*%s*%s*", path, g_strerror(EISDIR));
        assert_all_mutations_fail(s, &t, pattern);
        g_assert_cmpuint(count_files(f->state, NULL), ==, 1);
        g_assert_cmpint(g_rmdir(path), ==, 0);
        px_target_clear(&t);
}

static void test_write_fails_read_only_dir(Fixture *f, gconstpointer data) {
        g_autofree char *pattern = NULL;
        g_autoptr(PxTargetStore) s = NULL;
        PxTarget t;

        if (geteuid() == 0) {
                g_test_skip("chmod does not stop root; see write-fails/not-a-directory");
                return;
        }
        t = target(f->kernel, NULL, NULL, NULL);
        s = store_with_rules(f, &t);
        g_assert_cmpint(chmod(f->state, 0500), ==, 0);
        pattern = g_strdup_printf("*%s*%s*", f->state, g_strerror(EACCES));
        assert_all_mutations_fail(s, &t, pattern);
        g_assert_cmpint(chmod(f->state, 0700), ==, 0);

        /* and a read-only state dir at startup is a warning, not an error */
        g_clear_pointer(&s, px_target_store_free);
        g_assert_cmpint(chmod(f->state, 0500), ==, 0);
        s = store_new(f->state, PX_BOOTLOADER_IPXE);
        assert_warnings("*not writable*");
        g_assert_cmpint(chmod(f->state, 0700), ==, 0);
        px_target_clear(&t);
}

/* ---- px_write_file_atomic ---------------------------------------------------------------------- */

static void test_fileio_atomic(Fixture *f, gconstpointer data) {
        g_autofree char *path = g_build_filename(f->state, "file", NULL);
        g_autofree char *contents = NULL;
        g_autoptr(GError) e = NULL;
        struct stat st;

        g_assert_cmpint(px_write_file_atomic(f->state, "file", "one", 3, 0600, 0, &e), ==, 0);
        g_assert_no_error(e);
        g_assert_cmpint(px_write_file_atomic(f->state, "file", "two", 3, 0640, 0, &e), ==, 0);
        g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
        g_assert_cmpstr(contents, ==, "two");
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0640);

        /* NOREPLACE: refused with EEXIST, the old file untouched */
        g_assert_cmpint(px_write_file_atomic(f->state, "file", "three", 5, 0600, PX_ATOMIC_WRITE_NOREPLACE, &e), ==,
                        -EEXIST);
        g_assert_error(e, G_FILE_ERROR, G_FILE_ERROR_EXIST);
        g_clear_error(&e);
        g_clear_pointer(&contents, g_free);
        g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
        g_assert_cmpstr(contents, ==, "two");
        g_assert_cmpint(px_write_file_atomic(f->state, "new", "", 0, 0600, PX_ATOMIC_WRITE_NOREPLACE, &e), ==, 0);
        g_assert_no_error(e);
        g_assert_cmpuint(count_files(f->state, NULL), ==, 2);

        /* a missing directory */
        g_assert_cmpint(px_write_file_atomic(f->files, "x/y", "", 0, 0600, 0, &e), ==, -ENOENT);
        g_assert_error(e, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

/* A crash between creating and renaming leaves ".<name>.<6 hex digits>" behind: removed at startup, and
 * nothing else is (other names, other files' temporaries, directories). */
static void test_fileio_stale_temp_files(Fixture *f, gconstpointer data) {
        static const char *const stale[] = {".targets.json.a1b2c3", ".targets.json.0000ff"};
        static const char *const kept[] = {"targets.json",        ".targets.json.a1b2c3d", ".targets.json.zzzzzz",
                                           ".file-id.key.a1b2c3", ".targets.json.",        "targets.json.a1B2c3"};
        _cleanup_close_ int dirfd = -1;

        for (size_t i = 0; i < G_N_ELEMENTS(stale); i++) {
                g_autofree char *p = g_build_filename(f->state, stale[i], NULL);
                g_assert_true(g_file_set_contents(p, "{", 1, NULL));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(kept); i++) {
                g_autofree char *p = g_build_filename(f->state, kept[i], NULL);
                g_assert_true(g_file_set_contents(p, "{}", 2, NULL));
        }
        dirfd = open(f->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        g_assert_cmpint(dirfd, >=, 0);
        g_assert_cmpint(px_remove_stale_temp_files(dirfd, "targets.json"), ==, (int) G_N_ELEMENTS(stale));
        for (size_t i = 0; i < G_N_ELEMENTS(stale); i++) {
                g_autofree char *p = g_build_filename(f->state, stale[i], NULL);
                g_assert_false(g_file_test(p, G_FILE_TEST_EXISTS));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(kept); i++) {
                g_autofree char *p = g_build_filename(f->state, kept[i], NULL);
                g_assert_true(g_file_test(p, G_FILE_TEST_EXISTS));
        }
        g_assert_cmpint(px_remove_stale_temp_files(dirfd, "targets.json"), ==, 0);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        warnings = g_ptr_array_new_with_free_func(g_free);
        g_log_set_writer_func(collect_writer, NULL, NULL);
        signal(SIGXFSZ, SIG_IGN); /* write-fails/midway: EFBIG instead */

#define ADD(name, fn) g_test_add("/targets/" name, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        g_test_add_func("/targets/copy-clear", test_copy_clear);
        ADD("validate", test_validate);
        ADD("validate-unreadable", test_validate_unreadable);
        ADD("set-machine", test_set_machine);
        ADD("ignore-machine", test_ignore_machine);
        ADD("clear-machine", test_clear_machine);
        ADD("consume-once", test_consume_once);
        ADD("default", test_default);
        ADD("list-sorted", test_list_sorted);
        g_test_add_func("/targets/limit", test_limit);
        ADD("memory-only", test_memory_only);
        ADD("persist/round-trip", test_round_trip);
        ADD("persist/file-format", test_file_format);
        ADD("persist/handwritten", test_load_handwritten);
        ADD("persist/bootloader-changed", test_load_bootloader_changed);
        ADD("persist/corrupt", test_corrupt);
        ADD("persist/corrupt-twice", test_corrupt_twice);
        ADD("startup/errors", test_startup_errors);
        ADD("startup/unreadable", test_startup_unreadable);
        ADD("write-fails/not-a-directory", test_write_fails_not_a_directory);
        ADD("write-fails/midway", test_write_fails_midway);
        ADD("write-fails/rename", test_write_fails_rename);
        ADD("write-fails/read-only-dir", test_write_fails_read_only_dir);
        ADD("fileio/atomic", test_fileio_atomic);
        ADD("fileio/stale-temp-files", test_fileio_stale_temp_files);
#undef ADD
        return g_test_run();
}
