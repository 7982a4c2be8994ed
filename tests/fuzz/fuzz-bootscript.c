/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer entry for the boot script generators (src/proto/bootscript.c): a boot spec made from
 * the input the way the HTTP server makes one (file IDs under a base URL, cmdline, message,
 * refusal reason), rendered as an iPXE script and as a PXELINUX config. Whatever is rendered
 * must have exactly the expected lines (no input adds or removes one) and, for iPXE, no input
 * word may end a command, start a comment or expand a setting. Whatever the callers' own checks
 * (px_cmdline_check(), px_bootscript_message_is_safe()) accept must render.
 * Input: byte 0 flags, bytes 1..6 the MAC, then NUL-separated fields:
 *   [base URL if flag 0x80] kernel-id initrd-id... cmdline message reason
 *   flags: 0x07 initrd count, 0x08 message, 0x10 cmdline, 0x20 cmdline is an API template
 *          (rendered by api_cmdline_render_template() first), 0x40 booting/retry URLs.
 * Build: meson -Dfuzzing=true (needs the core library: px_cmdline_check() lives in config.c).
 *   ./fuzz-bootscript -dict=tests/fuzz/bootscript.dict tests/fuzz/corpus/bootscript */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "api-response.h"
#include "bootscript.h"
#include "config.h"
#include "px-macro.h"
#include "fuzz.h"

#define MAX_INITRDS 7

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
        return 0;
}

/* ---- an independent "obviously harmless" oracle: such inputs must always render ---- */

static bool only(const char *s, const char *allowed) {
        return s && strspn(s, allowed) == strlen(s);
}

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

static bool clean_id(const char *s) {
        return *s && only(s, ALNUM "_-");
}

static bool clean_base(const char *s) {
        return g_str_has_prefix(s, "http://") && s[7] && only(s + 7, ALNUM ".:-[]");
}

static bool clean_cmdline(const char *s) {
        /* words of harmless characters, single spaces between them */
        return !s || (only(s, ALNUM "=,./:_- ") && !strstr(s, "  ") && s[0] != ' ' && (!*s || s[strlen(s) - 1] != ' '));
}

static bool clean_message(const char *s) {
        return !s || only(s, ALNUM " .,:!?-\n");
}

/* ---- structure checks ---- */

typedef struct Spec {
        const char *kernel_url;
        const char *initrd_urls[MAX_INITRDS + 1];
        unsigned n_initrds;
        const char *cmdline;
        const char *message;
        const char *booting_url;
        const char *retry_url;
} Spec;

static unsigned text_lines(const char *s) {
        unsigned n = 1;

        if (!s || !*s)
                return 0; /* g_strsplit("") is empty: no echo/SAY line at all */
        for (; *s; s++)
                n += *s == '\n';
        return n;
}

/* No control characters but the line ends and tabs from a message. */
static void check_bytes(const char *out) {
        for (const char *p = out; *p; p++)
                fuzz_check((unsigned char) *p >= 0x20 ? *p != 0x7f : (*p == '\n' || *p == '\t'));
        fuzz_check(*out && out[strlen(out) - 1] == '\n');
}

static bool is_terminator(const char *w) {
        return g_str_equal(w, "||") || g_str_equal(w, "&&") || g_str_equal(w, ";");
}

/* iPXE's view of a line: words split on white space. `want` is where the one command terminator
 * must be: -1 none, otherwise counted from the end (3: "... || goto failed", 1: "... ||"). */
static void check_ipxe_words(const char *line, int want) {
        g_autoptr(GPtrArray) words = g_ptr_array_new_with_free_func(g_free);
        int terminators = 0;

        fuzz_check(!strstr(line, "${"));
        for (const char *p = line; *p;) {
                const char *start;
                while (*p && isspace((unsigned char) *p))
                        p++;
                if (!*p)
                        break;
                start = p;
                while (*p && !isspace((unsigned char) *p))
                        p++;
                g_ptr_array_add(words, g_strndup(start, p - start));
        }
        for (unsigned i = 0; i < words->len; i++) {
                const char *w = words->pdata[i];
                fuzz_check(w[0] != '#');
                if (is_terminator(w)) {
                        terminators++;
                        fuzz_check(want > 0 && i == words->len - (unsigned) want && g_str_equal(w, "||"));
                }
        }
        fuzz_check(terminators == (want > 0));
        if (want == 3)
                fuzz_check(g_str_equal(words->pdata[words->len - 2], "goto") &&
                           g_str_equal(words->pdata[words->len - 1], "failed"));
}

static void check_ipxe(const char *out, const Spec *s) {
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        g_auto(GStrv) msg = s->message ? g_strsplit(s->message, "\n", -1) : NULL;
        unsigned n_msg = text_lines(s->message), i = 0;
        unsigned want_lines = 1 + n_msg + 1 + s->n_initrds + (s->booting_url ? 2 : 0) + 2 + 3;
        g_autoptr(GString) boot = g_string_new("boot kernel");

        check_bytes(out);
        /* the text ends with '\n', so the split has one empty string more */
        fuzz_check(g_strv_length(lines) == want_lines + 1 && !*lines[want_lines]);
        fuzz_check(g_str_equal(lines[i++], "#!ipxe"));
        for (unsigned k = 0; k < n_msg; k++, i++) {
                fuzz_check(g_str_has_prefix(lines[i], "echo ") && g_str_equal(lines[i] + 5, msg[k]));
                check_ipxe_words(lines[i], -1);
        }
        {
                g_autofree char *want = g_strdup_printf("kernel --name kernel %s || goto failed", s->kernel_url);
                fuzz_check(g_str_equal(lines[i], want));
                check_ipxe_words(lines[i++], 3);
        }
        for (unsigned k = 0; k < s->n_initrds; k++) {
                g_autofree char *want =
                        g_strdup_printf("initrd --name initrd%u %s || goto failed", k, s->initrd_urls[k]);
                fuzz_check(g_str_equal(lines[i], want));
                check_ipxe_words(lines[i++], 3);
                g_string_append_printf(boot, " initrd=initrd%u", k);
        }
        if (s->booting_url) {
                g_autofree char *want = g_strdup_printf("imgfetch --name ready %s ||", s->booting_url);
                fuzz_check(g_str_equal(lines[i], want));
                check_ipxe_words(lines[i++], 1);
                fuzz_check(g_str_equal(lines[i], "imgfree ready ||"));
                check_ipxe_words(lines[i++], 1);
        }
        /* the cmdline reaches the kernel byte for byte */
        if (s->cmdline && *s->cmdline)
                g_string_append_printf(boot, " %s", s->cmdline);
        g_string_append(boot, " || goto failed");
        fuzz_check(g_str_equal(lines[i], boot->str));
        check_ipxe_words(lines[i++], 3);
        fuzz_check(g_str_equal(lines[i++], ":failed"));
        for (; i < want_lines; i++) {
                fuzz_check(lines[i][0] != ':');
                check_ipxe_words(lines[i], -1);
        }
        if (s->retry_url) {
                g_autofree char *want = g_strdup_printf("chain %s", s->retry_url);
                fuzz_check(g_str_equal(lines[want_lines - 1], want));
        } else
                fuzz_check(g_str_equal(lines[want_lines - 1], "exit 1"));
}

static void check_pxelinux(const char *out, const Spec *s) {
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        g_auto(GStrv) msg = s->message ? g_strsplit(s->message, "\n", -1) : NULL;
        unsigned n_msg = text_lines(s->message), i = 0;
        unsigned want_lines = n_msg + 6;
        static const char *const fixed[] = {"DEFAULT pixiecore", "PROMPT 0", "TIMEOUT 0", "LABEL pixiecore"};
        g_autoptr(GString) append = g_string_new("  APPEND");

        check_bytes(out);
        fuzz_check(g_strv_length(lines) == want_lines + 1 && !*lines[want_lines]);
        for (unsigned k = 0; k < n_msg; k++, i++)
                fuzz_check(g_str_has_prefix(lines[i], "SAY ") && g_str_equal(lines[i] + 4, msg[k]));
        for (unsigned k = 0; k < G_N_ELEMENTS(fixed); k++)
                fuzz_check(g_str_equal(lines[i++], fixed[k]));
        fuzz_check(g_str_has_prefix(lines[i], "  KERNEL ") && g_str_equal(lines[i] + 9, s->kernel_url));
        /* a single word: PXELINUX takes the rest of the line as the kernel's name */
        fuzz_check(!strpbrk(lines[i++] + 9, " \t"));
        if (s->n_initrds > 0) {
                g_string_append(append, " initrd=");
                for (unsigned k = 0; k < s->n_initrds; k++)
                        g_string_append_printf(append, "%s%s", k ? "," : "", s->initrd_urls[k]);
        }
        if (s->cmdline && *s->cmdline)
                g_string_append_printf(append, " %s", s->cmdline);
        fuzz_check(g_str_equal(lines[i], append->str));
        if (s->n_initrds > 0) {
                /* the initrd= list has exactly one entry per initrd */
                const char *list = lines[i] + strlen("  APPEND initrd=");
                size_t len = strcspn(list, " \t");
                unsigned commas = 0;
                for (size_t k = 0; k < len; k++)
                        commas += list[k] == ',';
                fuzz_check(commas == s->n_initrds - 1);
        }
}

static void check_ipxe_refusal(const char *out) {
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        unsigned n = g_strv_length(lines);

        check_bytes(out);
        fuzz_check(n >= 5 && !*lines[n - 1]);
        fuzz_check(g_str_equal(lines[0], "#!ipxe"));
        for (unsigned i = 1; i < n - 3; i++) {
                fuzz_check(g_str_has_prefix(lines[i], "echo "));
                check_ipxe_words(lines[i], -1);
        }
        fuzz_check(g_str_equal(lines[n - 3], "sleep 5") && g_str_equal(lines[n - 2], "exit 1"));
}

static void check_pxelinux_local(const char *out) {
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        unsigned n = g_strv_length(lines);
        static const char *const fixed[] = {"DEFAULT local", "PROMPT 0", "TIMEOUT 0", "LABEL local", "  LOCALBOOT 0"};

        check_bytes(out);
        fuzz_check(n >= 6 && !*lines[n - 1]);
        for (unsigned i = 0; i < n - 6; i++)
                fuzz_check(g_str_has_prefix(lines[i], "SAY "));
        for (unsigned k = 0; k < G_N_ELEMENTS(fixed); k++)
                fuzz_check(g_str_equal(lines[n - 6 + k], fixed[k]));
}

/* ---- the spec, as the HTTP server and the API policy build it ---- */

typedef struct MapContext {
        const char *base;
        const char *dashed;
        unsigned calls;
} MapContext;

static char *map_url(const char *absolute_url, void *userdata, GError **error) {
        MapContext *c = userdata;
        /* a sealed file ID is base64url: stand in with a recognisable one */
        return g_strdup_printf("%s/_/file/%s/AAAAsealed%u", c->base, c->dashed, c->calls++);
}

static const char *next_field(const char **p, const char *end) {
        const char *start = *p;
        const char *nul;

        if (start >= end)
                return "";
        nul = memchr(start, '\0', end - start);
        *p = nul ? nul + 1 : end;
        return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *buf = NULL;
        g_autofree char *booting = NULL, *retry = NULL, *kernel = NULL, *rendered = NULL;
        g_autofree char *ipxe = NULL, *pxelinux = NULL, *refusal = NULL, *local = NULL;
        char *initrds[MAX_INITRDS] = {};
        const char *p, *end, *base = "http://192.168.0.1:8080", *kernel_id, *ids[MAX_INITRDS];
        const char *cmdline_field, *message_field, *reason;
        char colon[PX_MAC_STRLEN], dashed[PX_MAC_STRLEN];
        Spec s = {};
        uint8_t flags, mac[6];
        bool clean, urls_safe, pxl_urls_safe, msg_control_free;

        if (size < 7 || size > 16384)
                return 0;
        flags = data[0];
        memcpy(mac, data + 1, 6);
        px_mac_to_string(mac, colon);
        px_mac_to_dashed(mac, dashed);

        /* NUL-terminated copy: every field is then a C string up to its separator */
        buf = g_malloc(size - 7 + 1);
        memcpy(buf, data + 7, size - 7);
        buf[size - 7] = '\0';
        p = buf;
        end = buf + (size - 7);
        if (flags & 0x80)
                base = next_field(&p, end);
        kernel_id = next_field(&p, end);
        s.n_initrds = flags & 0x07;
        for (unsigned k = 0; k < s.n_initrds; k++)
                ids[k] = next_field(&p, end);
        cmdline_field = next_field(&p, end);
        message_field = next_field(&p, end);
        reason = next_field(&p, end);

        kernel = g_strdup_printf("%s/_/file/%s/%s", base, dashed, kernel_id);
        s.kernel_url = kernel;
        clean = clean_base(base) && clean_id(kernel_id);
        for (unsigned k = 0; k < s.n_initrds; k++) {
                initrds[k] = g_strdup_printf("%s/_/file/%s/%s", base, dashed, ids[k]);
                s.initrd_urls[k] = initrds[k];
                clean = clean && clean_id(ids[k]);
        }
        if (flags & 0x40) {
                s.booting_url = booting = g_strdup_printf("%s/_/booting?mac=%s", base, colon);
                s.retry_url = retry = g_strdup_printf("%s/_/ipxe?mac=%s", base, colon);
        }
        if (flags & 0x10) {
                s.cmdline = cmdline_field;
                if (flags & 0x20) {
                        /* an API answer's template: its URLs become file links like the kernel's */
                        MapContext ctx = {.base = base, .dashed = dashed};
                        g_autoptr(GError) error = NULL;

                        rendered = api_cmdline_render_template("http://api.example/v1", cmdline_field, map_url, &ctx,
                                                               &error);
                        fuzz_check(!!rendered != !!error);
                        if (rendered)
                                s.cmdline = rendered;
                }
                clean = clean && clean_cmdline(s.cmdline);
        }
        if (flags & 0x08) {
                s.message = message_field;
                clean = clean && clean_message(s.message);
        }

        /* the renderers must not crash on any of it, and they refuse rather than write a
         * script that does something else than load these files with this cmdline */
        ipxe = px_ipxe_script_render(&(PxBootScript){
                .kernel_url = s.kernel_url,
                .initrd_urls = s.initrd_urls,
                .cmdline = s.cmdline,
                .message = s.message,
                .booting_url = s.booting_url,
                .retry_url = s.retry_url,
        });
        pxelinux = px_pxelinux_config_render(&(PxBootScript){
                .kernel_url = s.kernel_url,
                .initrd_urls = s.initrd_urls,
                .cmdline = s.cmdline,
                .message = s.message,
        });
        if (ipxe)
                check_ipxe(ipxe, &s);
        if (pxelinux)
                check_pxelinux(pxelinux, &s);

        /* what is obviously harmless renders */
        if (clean)
                fuzz_check(ipxe && pxelinux);

        /* what the callers' checks let through renders: the renderers are never stricter */
        pxl_urls_safe = px_bootscript_url_is_safe(s.kernel_url);
        for (unsigned k = 0; k < s.n_initrds; k++)
                pxl_urls_safe = pxl_urls_safe && px_bootscript_url_is_safe(s.initrd_urls[k]);
        urls_safe = pxl_urls_safe && (!s.booting_url || px_bootscript_url_is_safe(s.booting_url)) &&
                    (!s.retry_url || px_bootscript_url_is_safe(s.retry_url));
        msg_control_free = true;
        for (const char *c = s.message; c && *c; c++)
                if (((unsigned char) *c < 0x20 && *c != '\n' && *c != '\t') || *c == 0x7f)
                        msg_control_free = false;
        if (urls_safe && px_cmdline_check(s.cmdline, PX_BOOTLOADER_IPXE, NULL) &&
            px_bootscript_message_is_safe(s.message))
                fuzz_check(ipxe);
        if (pxl_urls_safe && px_cmdline_check(s.cmdline, PX_BOOTLOADER_PXELINUX, NULL) && msg_control_free)
                fuzz_check(pxelinux);

        /* refusals take any reason */
        refusal = px_ipxe_script_render_refusal(*reason ? reason : NULL);
        fuzz_check(refusal);
        check_ipxe_refusal(refusal);
        local = px_pxelinux_config_render_local(*reason ? reason : NULL);
        fuzz_check(local);
        check_pxelinux_local(local);

        for (unsigned k = 0; k < s.n_initrds; k++)
                g_free(initrds[k]);
        return 0;
}
