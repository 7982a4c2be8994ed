/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer entry for the API answer decoder: any byte string as a JSON body, as a cmdline
 * template and as a URL reference. Whatever is accepted must satisfy the documented bounds.
 * Build and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I src/proto -I src/shared \
 *         src/proto/api-response.c src/proto/pxe.c src/proto/dhcp4.c src/shared/px-util.c \
 *         tests/fuzz/fuzz-api-response.c $(pkg-config --cflags --libs glib-2.0 json-glib-1.0) \
 *         -o fuzz-api-response
 *   ./fuzz-api-response -max_len=4096 -dict=tests/fuzz/api-response.dict tests/fuzz/corpus/api-response */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api-response.h"
#include "fuzz.h"

static const char *const api = "http://api.example:4242/prefix";

/* GLib criticals (a failed g_return_if_fail inside GLib or json-glib) are bugs too. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
        g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
        return 0;
}

static void check_url(const char *u) {
        fuzz_check(u && *u);
        fuzz_check(strlen(u) <= API_MAX_URL);
        fuzz_check(g_str_has_prefix(u, "http://") || g_str_has_prefix(u, "https://") || g_str_has_prefix(u, "file:"));
        /* printable ASCII only, nothing RFC 3986 excludes: safe for any HTTP client */
        for (const char *p = u; *p; p++)
                fuzz_check((unsigned char) *p > 0x20 && (unsigned char) *p < 0x7f && !strchr("\"<>\\^`{|}", *p));
}

/* Checks the URL it is given, and maps it to something recognisable. */
static char *map(const char *abs, void *userdata, GError **error) {
        unsigned *calls = userdata;

        check_url(abs);
        if (calls)
                (*calls)++;
        if (abs[strlen(abs) - 1] == '!') { /* exercise the callback's error path */
                g_set_error_literal(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "refused");
                return NULL;
        }
        return g_strdup("http://px/_/file/id");
}

static void check_cmdline(const char *c, bool utf8_input) {
        if (!c)
                return;
        fuzz_check(strlen(c) <= API_MAX_CMDLINE);
        fuzz_check(!strchr(c, '\n'));
        if (utf8_input) /* JSON bodies are UTF-8; rendering must not break that */
                fuzz_check(g_utf8_validate(c, -1, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(GError) error = NULL;
        g_autoptr(ApiBootResponse) r = NULL;
        g_autofree char *str = NULL;
        g_autofree char *rendered = NULL, *resolved = NULL;
        unsigned calls = 0;

        if (size > API_MAX_BODY + 16)
                return 0;

        /* 1: as a response body */
        r = api_boot_response_decode(api, data, size, map, &calls, &error);
        if (!r) {
                fuzz_check(error && error->message);
                fuzz_check(calls <= API_MAX_CMDLINE_URLS);
        } else {
                fuzz_check(!error);
                fuzz_check(r->initrds);
                fuzz_check(g_strv_length(r->initrds) <= API_MAX_INITRDS);
                fuzz_check(calls <= API_MAX_CMDLINE_URLS);
                if (r->ipxe_script) {
                        fuzz_check(*r->ipxe_script);
                        fuzz_check(!r->kernel && !r->initrds[0] && !r->cmdline && !r->message && calls == 0);
                } else {
                        check_url(r->kernel);
                        for (char **i = r->initrds; *i; i++)
                                check_url(*i);
                }
                check_cmdline(r->cmdline, true);
                fuzz_check(!r->cmdline || *r->cmdline);
                fuzz_check(!r->message || *r->message);
        }
        g_clear_error(&error);

        /* 2: as a cmdline template, and 3: as a URL reference */
        str = g_strndup((const char *) data, size);
        calls = 0;
        rendered = api_cmdline_render_template(api, str, map, &calls, &error);
        fuzz_check(!!rendered != !!error);
        fuzz_check(calls <= API_MAX_CMDLINE_URLS);
        check_cmdline(rendered, g_utf8_validate(str, -1, NULL));
        g_clear_error(&error);

        resolved = api_resolve_url(api, str, &error);
        fuzz_check(!!resolved != !!error);
        if (resolved)
                check_url(resolved);
        return 0;
}
