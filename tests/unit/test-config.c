/* SPDX-License-Identifier: Apache-2.0 */
/* Command line and key file configuration (src/core/config.c): px_config_load with argv arrays,
 * px_cmdline_check, px_config_validate and the messages of their errors.
 *
 * Hermetic: every load names an explicit --config file in a temporary directory, so a real
 * /etc/pixiecore/pixiecore.conf never leaks in; bootloader paths point at stand-in files there. */

#include <glib.h>
#include <glib/gstdio.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char *tmpdir;
static char *kernel, *initrd_a, *initrd_b, *initrd_c;
static char *loader_bios, *loader_efi64, *loader_ipxe, *loader_pxelinux, *loader_ldlinux;
static char *base_conf; /* [pixiecore] with the stand-in loader paths only */

static char *write_file(const char *name, const char *content) {
        char *path = g_build_filename(tmpdir, name, NULL);
        g_autoptr(GError) error = NULL;

        if (!g_file_set_contents(path, content, -1, &error))
                g_error("cannot write %s: %s", path, error->message);
        return path;
}

/* A config file: the stand-in loaders plus `extra` lines (inside [pixiecore] unless extra starts
 * another group). */
static char *write_conf(const char *name, const char *extra) {
        g_autofree char *text = g_strdup_printf("[pixiecore]\n"
                                                "ipxe-bios = %s\n"
                                                "ipxe-efi64 = %s\n"
                                                "ipxe-ipxe = %s\n"
                                                "pxelinux = %s\n"
                                                "ldlinux = %s\n"
                                                "%s",
                                                loader_bios, loader_efi64, loader_ipxe, loader_pxelinux, loader_ldlinux,
                                                extra ? extra : "");
        return write_file(name, text);
}

static void setup_files(void) {
        g_autoptr(GError) error = NULL;

        tmpdir = g_dir_make_tmp("px-test-config-XXXXXX", &error);
        g_assert_no_error(error);
        kernel = write_file("vmlinuz", "kernel\n");
        initrd_a = write_file("a.img", "a\n");
        initrd_b = write_file("b.img", "b\n");
        initrd_c = write_file("c.img", "c\n");
        loader_bios = write_file("undionly.kpxe", "fake\n");
        loader_efi64 = write_file("ipxe.efi", "fake\n");
        loader_ipxe = write_file("ipxe.pxe", "fake\n");
        loader_pxelinux = write_file("lpxelinux.0", "fake\n");
        loader_ldlinux = write_file("ldlinux.c32", "fake\n");
        base_conf = write_conf("base.conf", NULL);
}

static void remove_files(void) {
        g_autoptr(GDir) dir = g_dir_open(tmpdir, 0, NULL);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *path = g_build_filename(tmpdir, name, NULL);
                g_unlink(path);
        }
        g_rmdir(tmpdir);
}

/* Runs px_config_load on exactly "pixiecore ARGS..." (NULL-terminated). getopt may permute the
 * array, so it is a private copy. */
static gboolean load_va(PxConfig *c, GError **error, const char *first, va_list ap, bool add_config) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);

        g_ptr_array_add(argv, g_strdup("pixiecore"));
        for (const char *a = first; a; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, g_strdup(a));
        if (add_config) {
                g_ptr_array_add(argv, g_strdup("--config"));
                g_ptr_array_add(argv, g_strdup(base_conf));
        }
        g_ptr_array_add(argv, NULL);
        px_config_init_defaults(c);
        /* keep an extra reference to the strings: getopt reorders the pointer array only */
        g_autofree char **copy = g_memdup2(argv->pdata, argv->len * sizeof(char *));
        return px_config_load(c, (int) argv->len - 1, copy, error);
}

/* "pixiecore ARGS... --config base.conf" */
static gboolean load(PxConfig *c, GError **error, const char *first, ...) {
        va_list ap;
        gboolean r;

        va_start(ap, first);
        r = load_va(c, error, first, ap, true);
        va_end(ap);
        return r;
}

/* "pixiecore ARGS..." exactly; the caller names a --config itself. */
static gboolean load_exact(PxConfig *c, GError **error, const char *first, ...) {
        va_list ap;
        gboolean r;

        va_start(ap, first);
        r = load_va(c, error, first, ap, false);
        va_end(ap);
        return r;
}

static void assert_strv(char **got, const char *const *want) {
        guint n = want ? g_strv_length((char **) want) : 0;

        g_assert_nonnull(got);
        if (!got)
                return;
        g_assert_cmpuint(g_strv_length(got), ==, n);
        for (guint i = 0; i < n && got[i]; i++)
                g_assert_cmpstr(got[i], ==, want[i]);
}

/* The error is set, in `domain/code`, and its message contains every NULL-terminated needle. */
static void assert_error_mentions(GError *error, int code, ...) {
        va_list ap;

        g_assert_nonnull(error);
        if (!error)
                return;
        g_assert_true(error->domain == PX_CONFIG_ERROR);
        if (code >= 0)
                g_assert_cmpint(error->code, ==, code);
        g_test_message("error: %s", error->message);
        va_start(ap, code);
        for (const char *needle = va_arg(ap, const char *); needle; needle = va_arg(ap, const char *)) {
                if (!strstr(error->message, needle))
                        g_test_message("'%s' not in the message", needle);
                g_assert_nonnull(strstr(error->message, needle));
        }
        va_end(ap);
}

/* ---- defaults and names ---- */

static void test_defaults(void) {
        g_auto(PxConfig) c = {};

        px_config_init_defaults(&c);
        g_assert_null(c.kernel);
        g_assert_nonnull(c.initrds);
        g_assert_null(c.initrds[0]);
        g_assert_null(c.api_url);
        g_assert_false(c.debug);
        g_assert_cmpuint(c.listen_addr.s_addr, ==, htonl(INADDR_ANY));
        g_assert_cmpuint(c.http_port, ==, 80);
        g_assert_cmpuint(c.dhcp_port, ==, 67);
        g_assert_cmpuint(c.pxe_port, ==, 4011);
        g_assert_cmpuint(c.tftp_port, ==, 69);
        g_assert_cmpint(c.bootloader, ==, PX_BOOTLOADER_IPXE);
        g_assert_nonnull(c.ipxe_bios);
        g_assert_true(g_str_has_suffix(c.ipxe_bios, "/undionly.kpxe"));
        g_assert_true(g_str_has_suffix(c.ipxe_efi64, "/ipxe.efi"));
        g_assert_null(c.ipxe_efi32);
        g_assert_true(g_str_has_suffix(c.pxelinux, "/lpxelinux.0"));
        g_assert_true(g_str_has_suffix(c.ldlinux, "/ldlinux.c32"));
        g_assert_cmpuint(c.api_timeout_usec, ==, 5 * G_USEC_PER_SEC);
        g_assert_cmpuint(c.max_sessions, >, 0);
        g_assert_cmpuint(c.max_tftp_transfers, >, 0);
        g_assert_cmpuint(c.max_http_conns, ==, 1024);
        g_assert_cmpuint(c.max_http_conns_per_client, ==, 16);
        g_assert_cmpuint(c.http_header_timeout_usec, ==, 10 * G_USEC_PER_SEC);
}

static void test_bootloader_names(void) {
        g_assert_cmpstr(px_bootloader_to_string(PX_BOOTLOADER_IPXE), ==, "ipxe");
        g_assert_cmpstr(px_bootloader_to_string(PX_BOOTLOADER_PXELINUX), ==, "pxelinux");
        g_assert_null(px_bootloader_to_string(_PX_BOOTLOADER_MAX));
        g_assert_null(px_bootloader_to_string(_PX_BOOTLOADER_INVALID));
        g_assert_cmpint(px_bootloader_from_string("ipxe"), ==, PX_BOOTLOADER_IPXE);
        g_assert_cmpint(px_bootloader_from_string("pxelinux"), ==, PX_BOOTLOADER_PXELINUX);
        g_assert_cmpint(px_bootloader_from_string("grub"), <, 0);
        g_assert_cmpint(px_bootloader_from_string(""), <, 0);
        g_assert_cmpint(px_bootloader_from_string(NULL), <, 0);
        g_assert_cmpint(px_bootloader_from_string("iPXE"), <, 0);
}

/* ---- command line forms ---- */

static void test_seed_form(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;
        g_autofree char *initrds = g_strdup_printf("%s,%s,%s", initrd_a, initrd_b, initrd_c);
        const char *want[] = {initrd_a, initrd_b, initrd_c, NULL};

        g_assert_true(load(&c, &error, "-kernel", kernel, "-initrd", initrds, "--cmdline", "x", "-debug", NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.kernel, ==, kernel);
        assert_strv(c.initrds, want);
        g_assert_cmpstr(c.cmdline, ==, "x");
        g_assert_true(c.debug);
        g_assert_null(c.api_url);
        g_assert_cmpstr(c.config_file, ==, base_conf);
}

static void test_boot_verb(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;
        const char *want[] = {initrd_a, initrd_b, NULL};

        g_assert_true(load(&c, &error, "boot", kernel, initrd_a, initrd_b, NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.kernel, ==, kernel);
        assert_strv(c.initrds, want);
}

static void test_boot_verb_after_flags(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;
        const char *want[] = {initrd_a, NULL};

        g_assert_true(load(&c, &error, "-debug", "-port", "8080", "boot", kernel, initrd_a, NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.kernel, ==, kernel);
        assert_strv(c.initrds, want);
        g_assert_cmpuint(c.http_port, ==, 8080);
        g_assert_true(c.debug);
}

static void test_boot_verb_kernel_only(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        g_assert_true(load(&c, &error, "boot", kernel, NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.kernel, ==, kernel);
        assert_strv(c.initrds, NULL);
}

static void test_boot_verb_usage(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        g_assert_false(load(&c, &error, "boot", NULL));
        assert_error_mentions(error, PX_CONFIG_ERROR_USAGE, "boot", NULL);
}

static void test_equals_form(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;
        g_autofree char *k = g_strdup_printf("--kernel=%s", kernel);
        g_autofree char *i = g_strdup_printf("-initrd=%s", initrd_a);
        const char *want[] = {initrd_a, NULL};

        g_assert_true(load(&c, &error, k, i, "--cmdline=a=b c=d", "--port=8081", NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.kernel, ==, kernel);
        assert_strv(c.initrds, want);
        g_assert_cmpstr(c.cmdline, ==, "a=b c=d");
        g_assert_cmpuint(c.http_port, ==, 8081);
}

static void test_initrd_lists(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;
        g_autofree char *bc = g_strdup_printf("%s, %s", initrd_b, initrd_c);
        const char *want[] = {initrd_a, initrd_b, initrd_c, NULL};

        /* repeated flags append; ", " separated lists are trimmed */
        g_assert_true(load(&c, &error, "-kernel", kernel, "-initrd", initrd_a, "-initrd", bc, NULL));
        g_assert_no_error(error);
        assert_strv(c.initrds, want);
}

static void test_short_flags(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        g_assert_true(load(&c, &error, "-kernel", kernel, "-d", "-t", "-l", "127.0.0.1", "-p", "8080", NULL));
        g_assert_no_error(error);
        g_assert_true(c.debug);
        g_assert_cmpuint(c.listen_addr.s_addr, ==, htonl(INADDR_LOOPBACK));
        g_assert_cmpuint(c.http_port, ==, 8080);
}

static void test_long_flags_double_dash(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        g_assert_true(load(&c, &error, "--kernel", kernel, "--listen-addr", "10.1.2.3", "--port-http", "81",
                           "--port-dhcp", "0", "--port-pxe", "0", "--port-tftp", "6969", "--bootmsg", "hello",
                           "--max-sessions", "7", "--max-tftp-transfers", "9", "--api-timeout", "500ms",
                           "--log-timestamps", "--max-http-conns", "99", "--max-http-conns-per-client", "3",
                           "--http-header-timeout", "1500ms", NULL));
        g_assert_no_error(error);
        g_assert_cmpuint(c.max_http_conns, ==, 99);
        g_assert_cmpuint(c.max_http_conns_per_client, ==, 3);
        g_assert_cmpuint(c.http_header_timeout_usec, ==, 1500 * 1000);
        g_assert_cmpuint(ntohl(c.listen_addr.s_addr), ==, 0x0a010203);
        g_assert_cmpuint(c.http_port, ==, 81);
        g_assert_cmpuint(c.dhcp_port, ==, 0);
        g_assert_cmpuint(c.pxe_port, ==, 0);
        g_assert_cmpuint(c.tftp_port, ==, 6969);
        g_assert_cmpstr(c.message, ==, "hello");
        g_assert_cmpuint(c.max_sessions, ==, 7);
        g_assert_cmpuint(c.max_tftp_transfers, ==, 9);
        g_assert_cmpuint(c.api_timeout_usec, ==, 500 * 1000);
}

static void test_api_timeout_values(void) {
        static const struct {
                const char *value;
                guint64 usec; /* 0: refused */
        } cases[] = {
                {"5s", 5 * G_USEC_PER_SEC},
                {"2", 2 * G_USEC_PER_SEC},
                {"250ms", 250000},
                {"1m", 60 * G_USEC_PER_SEC},
                {"1.5s", 1500000},
                {"0", 0},
                {"soon", 0},
                {"-1s", 0},
                {"5h", 0},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;
                gboolean r = load(&c, &error, "-kernel", kernel, "-api-timeout", cases[i].value, NULL);

                g_test_message("-api-timeout %s", cases[i].value);
                if (cases[i].usec) {
                        g_assert_no_error(error);
                        g_assert_true(r);
                        g_assert_cmpuint(c.api_timeout_usec, ==, cases[i].usec);
                } else {
                        g_assert_false(r);
                        assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, "api-timeout", cases[i].value, NULL);
                }
        }
}

static void test_api_mode(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        g_assert_true(load(&c, &error, "-api", "http://127.0.0.1:9/boot", NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.api_url, ==, "http://127.0.0.1:9/boot");
        g_assert_null(c.kernel);
}

static void test_api_verb(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        g_assert_true(load(&c, &error, "api", "https://127.0.0.1:9/", NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.api_url, ==, "https://127.0.0.1:9/");
}

static void test_kernel_url(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        /* URLs are fetched at startup by the file store, not checked by validation */
        g_assert_true(load(&c, &error, "-kernel", "http://127.0.0.1:9/vmlinuz", "-initrd",
                           "https://127.0.0.1:9/initrd.img", NULL));
        g_assert_no_error(error);
}

static void test_interface(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        g_assert_true(load(&c, &error, "-kernel", kernel, "-interface", "lo", NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.interface, ==, "lo");
}

static void test_repeated_loads(void) {
        /* getopt state is reset on every call */
        for (int i = 0; i < 3; i++) {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_assert_true(load(&c, &error, "-kernel", kernel, "-port", "8082", NULL));
                g_assert_no_error(error);
                g_assert_cmpuint(c.http_port, ==, 8082);
                g_clear_error(&error);
                px_config_clear(&c);
                g_assert_false(load(&c, &error, "-kernel", kernel, "-frobnicate", NULL));
                assert_error_mentions(error, PX_CONFIG_ERROR_USAGE, "-frobnicate", NULL);
        }
}

/* ---- command line errors ---- */

typedef struct BadArgs {
        const char *args[8];
        int code;
        const char *mentions[4];
} BadArgs;

static void test_bad_args(void) {
        const BadArgs cases[] = {
                {{"-kernel", kernel, "-frobnicate"}, PX_CONFIG_ERROR_USAGE, {"-frobnicate"}},
                {{"-kernel", kernel, "--frobnicate=1"}, PX_CONFIG_ERROR_USAGE, {"frobnicate"}},
                {{"-kernel", kernel, "-port", "0"}, PX_CONFIG_ERROR_INVALID, {"port", "'0'"}},
                {{"-kernel", kernel, "-port", "70000"}, PX_CONFIG_ERROR_INVALID, {"port", "70000"}},
                {{"-kernel", kernel, "-port", "80x"}, PX_CONFIG_ERROR_INVALID, {"port", "80x"}},
                {{"-kernel", kernel, "-port", "-1"}, -1, {"port"}},
                {{"-kernel", kernel, "-port-dhcp", "65536"}, PX_CONFIG_ERROR_INVALID, {"port-dhcp", "65536"}},
                {{"-kernel", kernel, "-port-tftp", "x"}, PX_CONFIG_ERROR_INVALID, {"port-tftp"}},
                {{"-kernel", kernel, "-listen-addr", "300.1.2.3"},
                 PX_CONFIG_ERROR_INVALID,
                 {"listen-addr", "300.1.2.3"}},
                {{"-kernel", kernel, "-listen-addr", "::1"}, PX_CONFIG_ERROR_INVALID, {"listen-addr"}},
                {{"-kernel", kernel, "-listen-addr", ""}, PX_CONFIG_ERROR_INVALID, {"listen-addr"}},
                {{"-kernel", kernel, "-l", "foo"}, PX_CONFIG_ERROR_INVALID, {"listen-addr", "foo"}},
                {{"-kernel", kernel, "-bootloader", "foo"}, PX_CONFIG_ERROR_INVALID, {"bootloader", "foo", "pxelinux"}},
                {{"-kernel", kernel, "-interface", ""}, PX_CONFIG_ERROR_INVALID, {"interface"}},
                {{"-kernel", kernel, "-interface", "averyveryverylongifname"}, PX_CONFIG_ERROR_INVALID, {"interface"}},
                {{"-kernel", kernel, "-interface", "nosuchif0"}, PX_CONFIG_ERROR_INVALID, {"nosuchif0"}},
                {{"-kernel", kernel, "-max-sessions", "0"}, PX_CONFIG_ERROR_INVALID, {"max-sessions"}},
                {{"-kernel", kernel, "-max-tftp-transfers", "lots"}, PX_CONFIG_ERROR_INVALID, {"max-tftp-transfers"}},
                {{"-kernel", kernel, "-max-http-conns", "0"}, PX_CONFIG_ERROR_INVALID, {"max-http-conns"}},
                {{"-kernel", kernel, "-max-http-conns-per-client", "-1"},
                 PX_CONFIG_ERROR_INVALID,
                 {"max-http-conns-per-client"}},
                {{"-kernel", kernel, "-http-header-timeout", "0"}, PX_CONFIG_ERROR_INVALID, {"http-header-timeout"}},
                {{"-kernel", kernel, "frob"}, PX_CONFIG_ERROR_USAGE, {"frob"}},
                {{"api"}, PX_CONFIG_ERROR_USAGE, {"api"}},
                {{"api", "http://127.0.0.1:9/", "extra"}, PX_CONFIG_ERROR_USAGE, {"api"}},
                {{"-api", "http://127.0.0.1:9/", "-kernel", kernel}, PX_CONFIG_ERROR_USAGE, {"api", "kernel"}},
                {{"-api", "http://127.0.0.1:9/", "-cmdline", "x"}, PX_CONFIG_ERROR_USAGE, {"api"}},
                {{"-api", "http://127.0.0.1:9/", "-initrd", "x"}, PX_CONFIG_ERROR_USAGE, {"api"}},
                {{"-api", "ftp://127.0.0.1/"}, PX_CONFIG_ERROR_INVALID, {"api", "ftp://127.0.0.1/"}},
                {{"-api", "not a url"}, PX_CONFIG_ERROR_INVALID, {"api"}},
                {{"-debug"}, PX_CONFIG_ERROR_USAGE, {"kernel", "api"}},
                {{"-initrd", "x"}, PX_CONFIG_ERROR_USAGE, {"initrd", "kernel"}},
                {{"-cmdline", "x"}, PX_CONFIG_ERROR_USAGE, {"kernel"}},
        };

        {
                /* a flag missing its value, at the very end (so --config goes first here) */
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_assert_false(load_exact(&c, &error, "--config", base_conf, "-kernel", NULL));
                assert_error_mentions(error, PX_CONFIG_ERROR_USAGE, "-kernel", "value", NULL);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;
                const char *const *a = cases[i].args;
                g_autofree char *joined = g_strjoinv(" ", (char **) a);
                gboolean r;

                g_test_message("case %zu: %s", i, joined);
                r = load(&c, &error, a[0], a[1], a[2], a[3], a[4], a[5], a[6], NULL);
                g_assert_false(r);
                assert_error_mentions(error, cases[i].code, cases[i].mentions[0], cases[i].mentions[1],
                                      cases[i].mentions[2], cases[i].mentions[3], NULL);
        }
}

static void test_missing_files(void) {
        g_autofree char *missing = g_build_filename(tmpdir, "no-such-file", NULL);
        g_autofree char *initrds = g_strdup_printf("%s,%s", initrd_a, missing);
        struct {
                const char *args[8];
                const char *mentions[3];
        } cases[] = {
                {{"-kernel", missing}, {missing, "kernel"}},
                {{"-kernel", kernel, "-initrd", initrds}, {missing, "initrd"}},
                {{"-kernel", tmpdir}, {tmpdir, "regular file"}},
                {{"-kernel", ""}, {"kernel"}},
                {{"-kernel", kernel, "-ipxe-bios", "/nonexistent"}, {"/nonexistent", "'ipxe'", "ipxe-bios"}},
                {{"-kernel", kernel, "-ipxe-efi64", "/nonexistent"}, {"/nonexistent", "'ipxe'", "ipxe-efi64"}},
                {{"-kernel", kernel, "-ipxe-efi32", "/nonexistent"}, {"/nonexistent", "ipxe-efi32"}},
                {{"-kernel", kernel, "--bootloader", "pxelinux", "-pxelinux", "/nonexistent"},
                 {"/nonexistent", "'pxelinux'"}},
                {{"-kernel", kernel, "--bootloader", "pxelinux", "-ldlinux", "/nonexistent"},
                 {"/nonexistent", "'syslinux-common'"}},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;
                const char *const *a = cases[i].args;

                g_test_message("case %zu", i);
                g_assert_false(load(&c, &error, a[0], a[1], a[2], a[3], a[4], a[5], NULL));
                assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, cases[i].mentions[0], cases[i].mentions[1],
                                      cases[i].mentions[2], NULL);
        }
}

static void test_loaders_of_the_other_bootloader_not_needed(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        /* iPXE mode does not need PXELINUX, and the other way round */
        g_assert_true(
                load(&c, &error, "-kernel", kernel, "-pxelinux", "/nonexistent", "-ldlinux", "/nonexistent", NULL));
        g_assert_no_error(error);
        px_config_clear(&c);
        g_assert_true(load(&c, &error, "-kernel", kernel, "--bootloader", "pxelinux", "-ipxe-bios", "/nonexistent",
                           "-ipxe-efi64", "/nonexistent", NULL));
        g_assert_no_error(error);
        g_assert_cmpint(c.bootloader, ==, PX_BOOTLOADER_PXELINUX);
}

static void test_optional_loaders(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        /* a missing optional loader drops out instead of failing */
        g_assert_true(load(&c, &error, "-kernel", kernel, "-ipxe-ipxe", "/nonexistent", NULL));
        g_assert_no_error(error);
        g_assert_null(c.ipxe_ipxe);
        px_config_clear(&c);

        g_assert_true(load(&c, &error, "-kernel", kernel, "--bootloader", "pxelinux", "-syslinux-efi64", "/nonexistent",
                           NULL));
        g_assert_no_error(error);
        g_assert_null(c.syslinux_efi64);
        px_config_clear(&c);

        /* syslinux.efi without ldlinux.e64 is useless: both drop out */
        g_assert_true(load(&c, &error, "-kernel", kernel, "--bootloader", "pxelinux", "-syslinux-efi64",
                           loader_pxelinux, "-ldlinux-e64", "/nonexistent", NULL));
        g_assert_no_error(error);
        g_assert_null(c.syslinux_efi64);
        px_config_clear(&c);

        g_assert_true(load(&c, &error, "-kernel", kernel, "--bootloader", "pxelinux", "-syslinux-efi64",
                           loader_pxelinux, "-ldlinux-e64", loader_ldlinux, NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.syslinux_efi64, ==, loader_pxelinux);
        g_assert_cmpstr(c.ldlinux_e64, ==, loader_ldlinux);
}

static void test_help_subprocess(void) {
        if (g_test_subprocess()) {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;
                const char *flag = g_getenv("PX_TEST_HELP_FLAG");

                g_assert_false(load(&c, &error, flag, NULL));
                g_assert_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_HELP);
                return;
        }
        static const char *const flags[] = {"-help", "--help", "-h"};
        for (size_t i = 0; i < G_N_ELEMENTS(flags); i++) {
                g_setenv("PX_TEST_HELP_FLAG", flags[i], TRUE);
                g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
                g_test_trap_assert_passed();
                g_test_trap_assert_stdout("*Usage*-kernel*");
        }
        g_setenv("PX_TEST_HELP_FLAG", "-version", TRUE);
        g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
        g_test_trap_assert_passed();
        g_test_trap_assert_stdout("pixiecore *");
        g_unsetenv("PX_TEST_HELP_FLAG");
}

/* ---- key file ---- */

static void test_file_values(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;
        g_autofree char *extra = g_strdup_printf("# comment\n"
                                                 "kernel = %s\n"
                                                 "initrd = %s,%s\n"
                                                 "cmdline = console=ttyS0 quiet\n"
                                                 "bootmsg = Hello\n"
                                                 "listen-addr = 127.0.0.1\n"
                                                 "port = 8080\n"
                                                 "port-dhcp = 0\n"
                                                 "port-pxe = 4012\n"
                                                 "port-tftp = 0\n"
                                                 "debug = true\n"
                                                 "max-sessions = 12\n"
                                                 "max-http-conns-per-client = 5\n"
                                                 "api-timeout = 2s\n",
                                                 kernel, initrd_a, initrd_b);
        g_autofree char *conf = write_conf("values.conf", extra);
        const char *want[] = {initrd_a, initrd_b, NULL};

        g_assert_true(load_exact(&c, &error, "--config", conf, NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.kernel, ==, kernel);
        assert_strv(c.initrds, want);
        g_assert_cmpstr(c.cmdline, ==, "console=ttyS0 quiet");
        g_assert_cmpstr(c.message, ==, "Hello");
        g_assert_cmpuint(c.listen_addr.s_addr, ==, htonl(INADDR_LOOPBACK));
        g_assert_cmpuint(c.http_port, ==, 8080);
        g_assert_cmpuint(c.dhcp_port, ==, 0);
        g_assert_cmpuint(c.pxe_port, ==, 4012);
        g_assert_cmpuint(c.tftp_port, ==, 0);
        g_assert_true(c.debug);
        g_assert_cmpuint(c.max_sessions, ==, 12);
        g_assert_cmpuint(c.max_http_conns_per_client, ==, 5);
        g_assert_cmpuint(c.api_timeout_usec, ==, 2 * G_USEC_PER_SEC);
        g_assert_cmpstr(c.config_file, ==, conf);
        g_assert_cmpstr(c.ipxe_bios, ==, loader_bios);
}

static void test_file_single_dash_and_equals(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;
        g_autofree char *extra = g_strdup_printf("kernel = %s\n", kernel);
        g_autofree char *conf = write_conf("dash.conf", extra);
        g_autofree char *eq = g_strdup_printf("--config=%s", conf);
        g_autofree char *eq1 = g_strdup_printf("-config=%s", conf);

        g_assert_true(load_exact(&c, &error, "-config", conf, NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.kernel, ==, kernel);
        px_config_clear(&c);
        g_assert_true(load_exact(&c, &error, eq, NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.config_file, ==, conf);
        px_config_clear(&c);
        g_assert_true(load_exact(&c, &error, eq1, NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.config_file, ==, conf);
}

static void test_file_command_line_overrides(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;
        g_autofree char *extra = g_strdup_printf("kernel = %s\n"
                                                 "initrd = %s\n"
                                                 "cmdline = from-file\n"
                                                 "port = 8080\n"
                                                 "bootloader = pxelinux\n"
                                                 "debug = false\n",
                                                 kernel, initrd_a);
        g_autofree char *conf = write_conf("override.conf", extra);
        const char *want[] = {initrd_a, NULL};

        /* the command line wins wherever it says something; the file's other values stay */
        g_assert_true(load_exact(&c, &error, "-port", "9090", "-cmdline", "from-cli", "-bootloader", "ipxe", "-debug",
                                 "--config", conf, NULL));
        g_assert_no_error(error);
        g_assert_cmpuint(c.http_port, ==, 9090);
        g_assert_cmpstr(c.cmdline, ==, "from-cli");
        g_assert_cmpint(c.bootloader, ==, PX_BOOTLOADER_IPXE);
        g_assert_true(c.debug);
        g_assert_cmpstr(c.kernel, ==, kernel);
        assert_strv(c.initrds, want);
}

static void test_file_initrds_replaced_by_command_line(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;
        g_autofree char *extra = g_strdup_printf("kernel = %s\ninitrd = %s,%s\n", kernel, initrd_a, initrd_b);
        g_autofree char *conf = write_conf("initrds.conf", extra);
        const char *want[] = {initrd_c, NULL};

        g_assert_true(load_exact(&c, &error, "--config", conf, "-initrd", initrd_c, NULL));
        g_assert_no_error(error);
        assert_strv(c.initrds, want);
        px_config_clear(&c);
        g_assert_true(load_exact(&c, &error, "--config", conf, "--initrd=", NULL) || error);
        g_clear_error(&error);
}

/* Flag values that merely start with "initrd" must not throw away the file's initrd list. */
static void test_file_initrds_kept_for_unrelated_flags(void) {
        g_autofree char *extra = g_strdup_printf("kernel = %s\ninitrd = %s\n", kernel, initrd_a);
        g_autofree char *conf = write_conf("keep.conf", extra);
        const char *want[] = {initrd_a, NULL};
        const char *const argsets[][3] = {
                {"-cmdline", "initrd=/boot/extra.img", NULL},
                {"-bootmsg", "initrd-loading", NULL},
                {"-debug", NULL, NULL},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(argsets); i++) {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_test_message("--config F %s %s", argsets[i][0], argsets[i][1] ? argsets[i][1] : "");
                g_assert_true(load_exact(&c, &error, "--config", conf, argsets[i][0], argsets[i][1], NULL));
                g_assert_no_error(error);
                assert_strv(c.initrds, want);
        }
}

/* "boot KERNEL INITRD..." names the whole payload, wherever it stands on the command line. */
static void test_file_initrds_replaced_by_boot_verb(void) {
        g_autofree char *extra = g_strdup_printf("kernel = %s\ninitrd = %s\n", kernel, initrd_a);
        g_autofree char *conf = write_conf("boot.conf", extra);
        const char *want[] = {initrd_b, NULL};

        {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_assert_true(load_exact(&c, &error, "boot", kernel, initrd_b, "--config", conf, NULL));
                g_assert_no_error(error);
                assert_strv(c.initrds, want);
        }
        {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_assert_true(load_exact(&c, &error, "--config", conf, "boot", kernel, initrd_b, NULL));
                g_assert_no_error(error);
                assert_strv(c.initrds, want);
        }
}

static void test_file_errors(void) {
        g_autofree char *missing = g_build_filename(tmpdir, "no-such.conf", NULL);
        g_autofree char *k = g_strdup_printf("kernel = %s\n", kernel);
        g_autofree char *unknown_key_text = g_strdup_printf("%sfrobnicate = 1\n", k);
        g_autofree char *unknown_key = write_conf("unknown-key.conf", unknown_key_text);
        g_autofree char *section_text = g_strdup_printf("%s[network]\nport = 80\n", k);
        g_autofree char *section = write_conf("section.conf", section_text);
        g_autofree char *bad_port_text = g_strdup_printf("%sport = eighty\n", k);
        g_autofree char *bad_port = write_conf("bad-port.conf", bad_port_text);
        g_autofree char *bad_bool_text = g_strdup_printf("%sdebug = maybe\n", k);
        g_autofree char *bad_bool = write_conf("bad-bool.conf", bad_bool_text);
        g_autofree char *bad_loader_text = g_strdup_printf("%sbootloader = grub\n", k);
        g_autofree char *bad_loader = write_conf("bad-loader.conf", bad_loader_text);
        g_autofree char *config_key_text = g_strdup_printf("%sconfig = /etc/other.conf\n", k);
        g_autofree char *config_key = write_conf("config-key.conf", config_key_text);
        g_autofree char *help_key_text = g_strdup_printf("%shelp = true\n", k);
        g_autofree char *help_key = write_conf("help-key.conf", help_key_text);
        g_autofree char *garbage = write_file("garbage.conf", "this is not a key file\n");
        g_autofree char *no_group = write_file("no-group.conf", "kernel = /x\n");
        struct {
                const char *path;
                const char *mentions[3];
        } cases[] = {
                {missing, {missing}},
                {unknown_key, {unknown_key, "frobnicate"}},
                {section, {section, "network"}},
                {bad_port, {bad_port, "port", "eighty"}},
                {bad_bool, {bad_bool, "debug", "maybe"}},
                {bad_loader, {bad_loader, "bootloader", "grub"}},
                {config_key, {config_key, "config"}},
                {help_key, {help_key, "help"}},
                {garbage, {garbage}},
                {no_group, {no_group}},
                {tmpdir, {tmpdir}},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_test_message("config file %s", cases[i].path);
                g_assert_false(load_exact(&c, &error, "--config", cases[i].path, "-kernel", kernel, NULL));
                assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, cases[i].mentions[0], cases[i].mentions[1],
                                      cases[i].mentions[2], NULL);
        }
        {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_assert_false(load_exact(&c, &error, "-kernel", kernel, "--config", NULL));
                assert_error_mentions(error, PX_CONFIG_ERROR_USAGE, "config", NULL);
                g_clear_error(&error);
                px_config_clear(&c);
                g_assert_false(load_exact(&c, &error, "-kernel", kernel, "--config=", NULL));
                assert_error_mentions(error, PX_CONFIG_ERROR_USAGE, "config", NULL);
        }
}

static void test_file_empty(void) {
        g_autofree char *empty = write_file("empty.conf", "");
        g_autofree char *group_only = write_file("group-only.conf", "[pixiecore]\n");

        for (int i = 0; i < 2; i++) {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_assert_true(load_exact(&c, &error, "--config", i ? group_only : empty, "-kernel", kernel,
                                         "-ipxe-bios", loader_bios, "-ipxe-efi64", loader_efi64, NULL));
                g_assert_no_error(error);
        }
}

static void test_file_cmdline_checked(void) {
        g_autofree char *extra = g_strdup_printf("kernel = %s\ncmdline = a ${b}\n", kernel);
        g_autofree char *conf = write_conf("cmdline.conf", extra);
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        g_assert_false(load_exact(&c, &error, "--config", conf, NULL));
        assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, "cmdline", "${", NULL);
        g_clear_error(&error);
        px_config_clear(&c);
        /* the command line's bootloader applies to the file's cmdline */
        g_assert_true(load_exact(&c, &error, "--config", conf, "--bootloader", "pxelinux", NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.cmdline, ==, "a ${b}");
}

/* ---- cmdline and message checks ---- */

static void test_cmdline_check(void) {
        g_autofree char *max = g_strnfill(1900, 'x');
        g_autofree char *too_long = g_strnfill(1901, 'x');
        const struct {
                const char *cmdline;
                bool ipxe_ok, pxelinux_ok;
                const char *why; /* in the iPXE error message */
        } cases[] = {
                {NULL, true, true, NULL},
                {"", true, true, NULL},
                {"console=ttyS0 quiet", true, true, NULL},
                {"console=ttyS0,115200n8 root=UUID=abc-1 ip=dhcp x=\"a\" 'b' -- init=/bin/sh", true, true, NULL},
                {"nfsroot=10.0.0.1:/srv,vers=3", true, true, NULL},
                {"a#b c", true, true, NULL},
                {"a;b a|b a&b $x $ {x}", true, true, NULL},
                {"caf\xc3\xa9", true, true, NULL},
                {max, true, true, NULL},
                {too_long, false, false, "1901"},
                {"a ${b}", false, true, "${"},
                {"${b}", false, true, "${"},
                {"a #b", false, true, "#b"},
                {"#", false, true, "#"},
                {"a || b", false, true, "||"},
                {"a && b", false, true, "&&"},
                {"a ; b", false, true, ";"},
                {"a  b", false, true, "spaces"},
                {" a", false, true, "spaces"},
                {"a ", false, true, "spaces"},
                {" ", false, true, "spaces"},
                {"a\tb", false, false, "control"},
                {"a\nb", false, false, "control"},
                {"a\rb", false, false, "control"},
                {"a\x7f", false, false, "control"},
                {"a\x1b[0m", false, false, "control"},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GError) e1 = NULL;
                g_autoptr(GError) e2 = NULL;
                gboolean r;

                g_test_message("cmdline case %zu: '%s'", i,
                               cases[i].cmdline && strlen(cases[i].cmdline) < 100 ? cases[i].cmdline : "(long)");
                r = px_cmdline_check(cases[i].cmdline, PX_BOOTLOADER_IPXE, &e1);
                g_assert_cmpint(r, ==, cases[i].ipxe_ok);
                if (cases[i].ipxe_ok)
                        g_assert_no_error(e1);
                else
                        assert_error_mentions(e1, PX_CONFIG_ERROR_INVALID, "cmdline", cases[i].why, NULL);
                r = px_cmdline_check(cases[i].cmdline, PX_BOOTLOADER_PXELINUX, &e2);
                g_assert_cmpint(r, ==, cases[i].pxelinux_ok);
                if (cases[i].pxelinux_ok)
                        g_assert_no_error(e2);
                else
                        g_assert_nonnull(e2);
        }
}

static void test_cmdline_refusal_says_how(void) {
        g_autoptr(GError) error = NULL;

        /* the message points at the way out */
        g_assert_false(px_cmdline_check("x=${y}", PX_BOOTLOADER_IPXE, &error));
        assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, "pxelinux", NULL);
        g_clear_error(&error);
        g_assert_false(px_cmdline_check("a #b", PX_BOOTLOADER_IPXE, &error));
        assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, "pxelinux", NULL);
        g_clear_error(&error);
        g_assert_false(px_cmdline_check("a  b", PX_BOOTLOADER_IPXE, &error));
        assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, "single spaces", NULL);
        g_clear_error(&error);
        /* a NULL error pointer is fine */
        g_assert_false(px_cmdline_check("a  b", PX_BOOTLOADER_IPXE, NULL));
}

static void test_cmdline_on_command_line(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        g_assert_false(load(&c, &error, "-kernel", kernel, "-cmdline", "root=/dev/sda #x", NULL));
        assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, "cmdline", "#x", NULL);
        g_clear_error(&error);
        px_config_clear(&c);
        g_assert_true(
                load(&c, &error, "-kernel", kernel, "-cmdline", "root=/dev/sda #x", "--bootloader", "pxelinux", NULL));
        g_assert_no_error(error);
        g_assert_cmpstr(c.cmdline, ==, "root=/dev/sda #x");
}

/* -bootmsg lines become "echo <line>" in the iPXE script: iPXE syntax in them would be
 * interpreted (settings expanded, '#' ends the line, '&&' runs the next command). */
static void test_bootmsg_checked_for_ipxe(void) {
        static const char *const bad[] = {"Booting ${net0/mac}", "hi && chain http://127.0.0.1:9/x", "hi #note",
                                          "a || b", "a ; b"};

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_test_message("-bootmsg '%s' under ipxe", bad[i]);
                g_assert_false(load(&c, &error, "-kernel", kernel, "-bootmsg", bad[i], NULL));
                g_assert_nonnull(error);
                g_clear_error(&error);
                px_config_clear(&c);
                /* PXELINUX shows it with SAY: fine there */
                g_assert_true(
                        load(&c, &error, "-kernel", kernel, "-bootmsg", bad[i], "--bootloader", "pxelinux", NULL));
                g_assert_no_error(error);
        }
        {
                g_auto(PxConfig) c = {};
                g_autoptr(GError) error = NULL;

                g_assert_true(
                        load(&c, &error, "-kernel", kernel, "-bootmsg", "Booting, please wait\nsecond line", NULL));
                g_assert_no_error(error);
                g_clear_error(&error);
                px_config_clear(&c);
                g_assert_false(load(&c, &error, "-kernel", kernel, "-bootmsg", "a\r\nb", NULL));
                assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, "bootmsg", NULL);
        }
}

/* ---- px_config_validate on hand-built configs ---- */

static void test_validate_by_hand(void) {
        g_auto(PxConfig) c = {};
        g_autoptr(GError) error = NULL;

        px_config_init_defaults(&c);
        g_free(c.ipxe_bios);
        c.ipxe_bios = g_strdup(loader_bios);
        g_free(c.ipxe_efi64);
        c.ipxe_efi64 = g_strdup(loader_efi64);
        g_free(c.ipxe_ipxe);
        c.ipxe_ipxe = g_strdup(loader_ipxe);

        g_assert_false(px_config_validate(&c, &error));
        assert_error_mentions(error, PX_CONFIG_ERROR_USAGE, "kernel", NULL);
        g_clear_error(&error);

        c.kernel = g_strdup(kernel);
        g_assert_true(px_config_validate(&c, &error));
        g_assert_no_error(error);

        c.cmdline = g_strdup("a  b");
        g_assert_false(px_config_validate(&c, &error));
        assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, "cmdline", NULL);
        g_clear_error(&error);
        c.bootloader = PX_BOOTLOADER_PXELINUX;
        g_free(c.pxelinux);
        c.pxelinux = g_strdup(loader_pxelinux);
        g_free(c.ldlinux);
        c.ldlinux = g_strdup(loader_ldlinux);
        g_assert_true(px_config_validate(&c, &error));
        g_assert_no_error(error);

        c.message = g_strdup("a\rb");
        g_assert_false(px_config_validate(&c, &error));
        g_assert_nonnull(error);
        g_clear_error(&error);
        g_clear_pointer(&c.message, g_free);

        c.interface = g_strdup("nosuchif0");
        g_assert_false(px_config_validate(&c, &error));
        assert_error_mentions(error, PX_CONFIG_ERROR_INVALID, "nosuchif0", NULL);
        g_clear_error(&error);
        g_clear_pointer(&c.interface, g_free);

        c.api_url = g_strdup("http://127.0.0.1:9/");
        g_assert_false(px_config_validate(&c, &error));
        assert_error_mentions(error, PX_CONFIG_ERROR_USAGE, "api", NULL);
}

int main(int argc, char **argv) {
        int r;

        g_test_init(&argc, &argv, NULL);
        /* report every failing check, not just the first one */
        g_test_set_nonfatal_assertions();
        setup_files();

        g_test_add_func("/config/defaults", test_defaults);
        g_test_add_func("/config/bootloader-names", test_bootloader_names);
        g_test_add_func("/config/argv/seed-form", test_seed_form);
        g_test_add_func("/config/argv/boot-verb", test_boot_verb);
        g_test_add_func("/config/argv/boot-verb-after-flags", test_boot_verb_after_flags);
        g_test_add_func("/config/argv/boot-verb-kernel-only", test_boot_verb_kernel_only);
        g_test_add_func("/config/argv/boot-verb-usage", test_boot_verb_usage);
        g_test_add_func("/config/argv/equals-form", test_equals_form);
        g_test_add_func("/config/argv/initrd-lists", test_initrd_lists);
        g_test_add_func("/config/argv/short-flags", test_short_flags);
        g_test_add_func("/config/argv/long-flags", test_long_flags_double_dash);
        g_test_add_func("/config/argv/api-timeout", test_api_timeout_values);
        g_test_add_func("/config/argv/api-mode", test_api_mode);
        g_test_add_func("/config/argv/api-verb", test_api_verb);
        g_test_add_func("/config/argv/kernel-url", test_kernel_url);
        g_test_add_func("/config/argv/interface", test_interface);
        g_test_add_func("/config/argv/repeated-loads", test_repeated_loads);
        g_test_add_func("/config/argv/bad-args", test_bad_args);
        g_test_add_func("/config/argv/help", test_help_subprocess);
        g_test_add_func("/config/files/missing", test_missing_files);
        g_test_add_func("/config/files/other-bootloader-not-needed", test_loaders_of_the_other_bootloader_not_needed);
        g_test_add_func("/config/files/optional-loaders", test_optional_loaders);
        g_test_add_func("/config/keyfile/values", test_file_values);
        g_test_add_func("/config/keyfile/config-flag-forms", test_file_single_dash_and_equals);
        g_test_add_func("/config/keyfile/command-line-overrides", test_file_command_line_overrides);
        g_test_add_func("/config/keyfile/initrds-replaced-by-command-line", test_file_initrds_replaced_by_command_line);
        g_test_add_func("/config/keyfile/initrds-kept-for-unrelated-flags", test_file_initrds_kept_for_unrelated_flags);
        g_test_add_func("/config/keyfile/initrds-replaced-by-boot-verb", test_file_initrds_replaced_by_boot_verb);
        g_test_add_func("/config/keyfile/errors", test_file_errors);
        g_test_add_func("/config/keyfile/empty", test_file_empty);
        g_test_add_func("/config/keyfile/cmdline-checked", test_file_cmdline_checked);
        g_test_add_func("/config/cmdline-check/table", test_cmdline_check);
        g_test_add_func("/config/cmdline-check/says-how", test_cmdline_refusal_says_how);
        g_test_add_func("/config/cmdline-check/command-line", test_cmdline_on_command_line);
        g_test_add_func("/config/bootmsg-checked-for-ipxe", test_bootmsg_checked_for_ipxe);
        g_test_add_func("/config/validate-by-hand", test_validate_by_hand);

        r = g_test_run();
        remove_files();
        return r;
}
