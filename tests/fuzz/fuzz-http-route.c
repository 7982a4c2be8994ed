/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer entry for the HTTP router (src/proto/http-route.c). Input: the decoded path, then
 * optionally a NUL byte and the raw query string (no NUL: no query at all).
 * Checks the router's guarantees (a returned name is a non-empty suffix of the path without '/'
 * or ".."; MACs round-trip through the forms the scripts write) and compares every answer with a
 * reference written the way the HTTP handler dispatched before the router existed: libsoup's
 * soup_form_decode() plus hash table lookups for the query, g_strsplit() for /_/file/.
 * Build and run (or meson -Dfuzzing=true):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I src/proto -I src/shared \
 *         src/proto/http-route.c src/shared/px-util.c tests/fuzz/fuzz-http-route.c \
 *         $(pkg-config --cflags --libs glib-2.0 libsoup-3.0) -o fuzz-http-route
 *   ./fuzz-http-route -dict=tests/fuzz/http-route.dict tests/fuzz/corpus/http-route */

#include <libsoup/soup.h>
#include <stdlib.h>
#include <string.h>

#include "http-route.h"
#include "px-macro.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
        return 0;
}

/* The handler's dispatch before the router, for the same (path, query). Where the router is
 * deliberately stricter, the comment says why the HTTP answer cannot differ (or how little). */
static void reference_route(const char *path, const char *query, PxHttpRoute *ret) {
        g_autoptr(GHashTable) form = query ? soup_form_decode(query) : NULL;
        const char *mac_arg = form ? g_hash_table_lookup(form, "mac") : NULL;
        PxHttpRoute r = {.kind = PX_HTTP_ROUTE_NOT_FOUND};

        if (path[0] != '/') {
                /* libsoup hands out no such path; the old code would have read path + 1 */
        } else if (g_str_equal(path, "/")) {
                r.kind = PX_HTTP_ROUTE_ROOT;
        } else if (g_str_equal(path, "/_/ipxe")) {
                if (!mac_arg || px_mac_from_string(mac_arg, r.mac) < 0)
                        r.kind = PX_HTTP_ROUTE_BAD_REQUEST;
                else {
                        const char *arch_arg = g_hash_table_lookup(form, "arch");
                        guint64 arch;

                        r.kind = PX_HTTP_ROUTE_IPXE_SCRIPT;
                        r.has_mac = true;
                        if (arch_arg && g_ascii_string_to_unsigned(arch_arg, 10, 0, 65535, &arch, NULL)) {
                                r.has_arch = true;
                                r.arch = (uint16_t) arch;
                        }
                }
        } else if (g_str_equal(path, "/_/booting")) {
                r.kind = PX_HTTP_ROUTE_BOOTING;
                r.has_mac = mac_arg && px_mac_from_string(mac_arg, r.mac) >= 0;
        } else if (g_str_has_prefix(path, "/_/file/")) {
                g_auto(GStrv) parts = g_strsplit(path + strlen("/_/file/"), "/", 3);

                if (g_strv_length(parts) == 2 && px_mac_from_string(parts[0], r.mac) >= 0) {
                        size_t len = strlen(parts[1]);
                        /* Stricter: an empty ID, one with "..", or one longer than any minted ID is
                         * neither a static name nor a sealed ID (base64url, bounded): it was 404
                         * (shorter than a sealed ID) or 403 (not a valid sealed ID), now 404. */
                        if (len > 0 && len <= PX_HTTP_ROUTE_MAX_NAME && !strstr(parts[1], "..")) {
                                r.kind = PX_HTTP_ROUTE_BOOT_FILE;
                                r.has_mac = true;
                                r.name = path + strlen(path) - len;
                        } else
                                memset(r.mac, 0, sizeof(r.mac));
                } else
                        memset(r.mac, 0, sizeof(r.mac));
        } else if (g_str_has_prefix(path, "/pxelinux.cfg/")) {
                const char *name = path + strlen("/pxelinux.cfg/");

                if (g_str_has_prefix(name, "01-") && px_mac_from_string(name + 3, r.mac) >= 0) {
                        r.kind = PX_HTTP_ROUTE_PXELINUX_CONFIG;
                        r.has_mac = true;
                }
                /* in iPXE mode the old code looked "pxelinux.cfg/..." up as a loader: no loader
                 * name has a '/', so that was a 404 too (the caller checks the mode) */
        } else {
                const char *name = path + 1;
                /* Stricter: loader names are short file names without '/' or ".."; anything else
                 * was a failed table lookup, 404, as now. */
                if (*name && !strchr(name, '/') && !strstr(name, "..") &&
                    strlen(name) <= PX_HTTP_ROUTE_MAX_LOADER_NAME) {
                        r.kind = PX_HTTP_ROUTE_LOADER;
                        r.name = name;
                }
        }
        *ret = r;
}

static void check_same(const PxHttpRoute *a, const PxHttpRoute *b) {
        fuzz_check(a->kind == b->kind);
        fuzz_check(a->has_mac == b->has_mac);
        fuzz_check(!a->has_mac || memcmp(a->mac, b->mac, 6) == 0);
        fuzz_check(a->has_arch == b->has_arch);
        fuzz_check(!a->has_arch || a->arch == b->arch);
        fuzz_check(!!a->name == !!b->name);
        fuzz_check(!a->name || strcmp(a->name, b->name) == 0);
}

static void check_invariants(const char *path, const PxHttpRoute *r) {
        size_t path_len = strlen(path);

        fuzz_check(r->kind >= 0 && r->kind < _PX_HTTP_ROUTE_KIND_MAX);
        fuzz_check(px_http_route_kind_to_string(r->kind));
        fuzz_check(!!r->name == (r->kind == PX_HTTP_ROUTE_BOOT_FILE || r->kind == PX_HTTP_ROUTE_LOADER));
        if (r->name) {
                size_t len = strlen(r->name);
                /* borrowed: the tail of the path */
                fuzz_check(r->name >= path && r->name + len == path + path_len);
                fuzz_check(len > 0 && len <= PX_HTTP_ROUTE_MAX_NAME);
                fuzz_check(!strchr(r->name, '/'));
                fuzz_check(!strstr(r->name, ".."));
        }
        switch (r->kind) {
        case PX_HTTP_ROUTE_IPXE_SCRIPT:
                fuzz_check(r->has_mac && g_str_equal(path, "/_/ipxe"));
                break;
        case PX_HTTP_ROUTE_BAD_REQUEST:
                fuzz_check(!r->has_mac && !r->has_arch && g_str_equal(path, "/_/ipxe"));
                break;
        case PX_HTTP_ROUTE_BOOTING:
                fuzz_check(!r->has_arch && g_str_equal(path, "/_/booting"));
                break;
        case PX_HTTP_ROUTE_BOOT_FILE:
                fuzz_check(r->has_mac && !r->has_arch && g_str_has_prefix(path, "/_/file/"));
                fuzz_check(path_len == strlen("/_/file/") + PX_MAC_STRLEN + strlen(r->name));
                break;
        case PX_HTTP_ROUTE_PXELINUX_CONFIG:
                fuzz_check(r->has_mac && !r->has_arch && g_str_has_prefix(path, "/pxelinux.cfg/01-"));
                fuzz_check(path_len == strlen("/pxelinux.cfg/01-") + PX_MAC_STRLEN - 1);
                break;
        case PX_HTTP_ROUTE_LOADER:
                fuzz_check(!r->has_mac && !r->has_arch && r->name == path + 1);
                fuzz_check(strlen(r->name) <= PX_HTTP_ROUTE_MAX_LOADER_NAME);
                break;
        case PX_HTTP_ROUTE_ROOT:
        case PX_HTTP_ROUTE_NOT_FOUND:
                fuzz_check(!r->has_mac && !r->has_arch);
                break;
        case _PX_HTTP_ROUTE_KIND_MAX:
        case _PX_HTTP_ROUTE_KIND_INVALID:
        default:
                fuzz_check(false);
        }
}

/* What the server writes into scripts must route back to the same machine and file. */
static void check_round_trip(const PxHttpRoute *r) {
        char colon[PX_MAC_STRLEN], dashed[PX_MAC_STRLEN];
        PxHttpRoute again;

        if (!r->has_mac)
                return;
        px_mac_to_string(r->mac, colon);
        px_mac_to_dashed(r->mac, dashed);

        if (r->kind == PX_HTTP_ROUTE_BOOT_FILE) {
                g_autofree char *p = g_strdup_printf("/_/file/%s/%s", dashed, r->name);
                fuzz_check(px_http_route_parse(p, NULL, &again) == 0);
                fuzz_check(again.kind == PX_HTTP_ROUTE_BOOT_FILE && memcmp(again.mac, r->mac, 6) == 0);
                fuzz_check(g_str_equal(again.name, r->name));
        }
        if (r->kind == PX_HTTP_ROUTE_IPXE_SCRIPT || r->kind == PX_HTTP_ROUTE_BOOTING) {
                g_autofree char *q = r->has_arch ? g_strdup_printf("mac=%s&arch=%u", colon, r->arch)
                                                 : g_strdup_printf("mac=%s", colon);
                fuzz_check(px_http_route_parse(r->kind == PX_HTTP_ROUTE_BOOTING ? "/_/booting" : "/_/ipxe", q,
                                               &again) == 0);
                fuzz_check(again.kind == r->kind && again.has_mac && memcmp(again.mac, r->mac, 6) == 0);
                fuzz_check(again.has_arch == r->has_arch && (!r->has_arch || again.arch == r->arch));
        }
        if (r->kind == PX_HTTP_ROUTE_PXELINUX_CONFIG) {
                g_autofree char *p = g_strdup_printf("/pxelinux.cfg/01-%s", dashed);
                fuzz_check(px_http_route_parse(p, NULL, &again) == 0);
                fuzz_check(again.kind == PX_HTTP_ROUTE_PXELINUX_CONFIG && memcmp(again.mac, r->mac, 6) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nul = memchr(data, '\0', size);
        g_autofree char *path = g_strndup((const char *) data, nul ? (size_t) (nul - data) : size);
        g_autofree char *query = nul ? g_strndup((const char *) nul + 1, size - (nul + 1 - data)) : NULL;
        PxHttpRoute r, ref, again;

        if (size > 64 * 1024)
                return 0;
        memset(&r, 0x5a, sizeof(r));
        fuzz_check(px_http_route_parse(path, query, &r) == 0);
        check_invariants(path, &r);
        reference_route(path, query, &ref);
        check_same(&r, &ref);
        check_round_trip(&r);

        /* deterministic, and the query matters only to /_/ipxe and /_/booting */
        fuzz_check(px_http_route_parse(path, query, &again) == 0);
        check_same(&r, &again);
        if (r.kind != PX_HTTP_ROUTE_IPXE_SCRIPT && r.kind != PX_HTTP_ROUTE_BAD_REQUEST &&
            r.kind != PX_HTTP_ROUTE_BOOTING) {
                fuzz_check(px_http_route_parse(path, NULL, &again) == 0);
                check_same(&r, &again);
        }
        return 0;
}
