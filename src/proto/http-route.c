/* SPDX-License-Identifier: Apache-2.0 */
#include "http-route.h"

#include <glib.h>
#include <string.h>

#include "px-macro.h"

#define FILE_PREFIX     "/_/file/"
#define PXELINUX_PREFIX "/pxelinux.cfg/"

const char *px_http_route_kind_to_string(PxHttpRouteKind kind) {
        switch (kind) {
        case PX_HTTP_ROUTE_NOT_FOUND:
                return "not-found";
        case PX_HTTP_ROUTE_BAD_REQUEST:
                return "bad-request";
        case PX_HTTP_ROUTE_ROOT:
                return "root";
        case PX_HTTP_ROUTE_IPXE_SCRIPT:
                return "ipxe-script";
        case PX_HTTP_ROUTE_BOOTING:
                return "booting";
        case PX_HTTP_ROUTE_BOOT_FILE:
                return "boot-file";
        case PX_HTTP_ROUTE_PXELINUX_CONFIG:
                return "pxelinux-config";
        case PX_HTTP_ROUTE_LOADER:
                return "loader";
        case _PX_HTTP_ROUTE_KIND_MAX:
        case _PX_HTTP_ROUTE_KIND_INVALID:
        default:
                return NULL;
        }
}

/* Form-decodes s[0..n) ('+' is a space, %XX a byte) into a new string, which ends at the first
 * decoded NUL as a C string would. -EINVAL for an invalid or truncated %-escape anywhere. */
static int form_decode(const char *s, size_t n, char **ret) {
        g_autofree char *out = g_malloc(n + 1);
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        int hi = i + 1 < n ? px_unhexchar(s[i + 1]) : -1;
                        int lo = i + 2 < n ? px_unhexchar(s[i + 2]) : -1;
                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        out[k++] = (char) (hi << 4 | lo);
                        i += 2;
                } else
                        out[k++] = s[i] == '+' ? ' ' : s[i];
        }
        out[k] = '\0';
        *ret = g_steal_pointer(&out);
        return 0;
}

/* The last decodable values of the "mac" and "arch" parameters, as soup_form_decode() and a
 * hash table lookup would find them. */
static void query_find(const char *query, char **ret_mac, char **ret_arch) {
        g_autofree char *mac = NULL, *arch = NULL;

        for (const char *pair = query; query && pair;) {
                const char *amp = strchr(pair, '&');
                size_t len = amp ? (size_t) (amp - pair) : strlen(pair);
                const char *eq = memchr(pair, '=', len);
                g_autofree char *name = NULL, *value = NULL;

                if (eq && form_decode(pair, eq - pair, &name) >= 0 &&
                    form_decode(eq + 1, len - (eq + 1 - pair), &value) >= 0) {
                        if (g_str_equal(name, "mac")) {
                                g_free(mac);
                                mac = g_steal_pointer(&value);
                        } else if (g_str_equal(name, "arch")) {
                                g_free(arch);
                                arch = g_steal_pointer(&value);
                        }
                }
                pair = amp ? amp + 1 : NULL;
        }
        *ret_mac = g_steal_pointer(&mac);
        *ret_arch = g_steal_pointer(&arch);
}

static bool name_is_valid(const char *name, size_t max) {
        size_t len = strlen(name);

        return len > 0 && len <= max && !strchr(name, '/') && !strstr(name, "..");
}

int px_http_route_parse(const char *path, const char *query, PxHttpRoute *ret) {
        PxHttpRoute r = {.kind = PX_HTTP_ROUTE_NOT_FOUND};

        if (!path || !ret)
                return -EINVAL;

        if (path[0] != '/') {
                /* libsoup never hands out such a path */
        } else if (g_str_equal(path, "/")) {
                r.kind = PX_HTTP_ROUTE_ROOT;
        } else if (g_str_equal(path, "/_/ipxe") || g_str_equal(path, "/_/booting")) {
                g_autofree char *mac = NULL, *arch = NULL;
                bool ipxe = g_str_equal(path, "/_/ipxe");
                guint64 n;

                query_find(query, &mac, &arch);
                r.has_mac = mac && px_mac_from_string(mac, r.mac) >= 0;
                if (ipxe && !r.has_mac)
                        r.kind = PX_HTTP_ROUTE_BAD_REQUEST;
                else if (ipxe) {
                        r.kind = PX_HTTP_ROUTE_IPXE_SCRIPT;
                        if (arch && g_ascii_string_to_unsigned(arch, 10, 0, UINT16_MAX, &n, NULL)) {
                                r.has_arch = true;
                                r.arch = (uint16_t) n;
                        }
                } else
                        r.kind = PX_HTTP_ROUTE_BOOTING;
        } else if (g_str_has_prefix(path, FILE_PREFIX)) {
                /* exactly "<mac>/<id>": a MAC is 17 bytes, then one '/', then the ID */
                const char *mac = path + strlen(FILE_PREFIX);
                const char *slash = strchr(mac, '/');
                char buf[PX_MAC_STRLEN];

                if (slash && slash - mac == PX_MAC_STRLEN - 1 && name_is_valid(slash + 1, PX_HTTP_ROUTE_MAX_NAME)) {
                        memcpy(buf, mac, PX_MAC_STRLEN - 1);
                        buf[PX_MAC_STRLEN - 1] = '\0';
                        if (px_mac_from_string(buf, r.mac) >= 0) {
                                r.kind = PX_HTTP_ROUTE_BOOT_FILE;
                                r.has_mac = true;
                                r.name = slash + 1;
                        }
                }
        } else if (g_str_has_prefix(path, PXELINUX_PREFIX)) {
                /* PXELINUX asks for 01-<mac> first, then IP-derived names and "default": only
                 * the first carries the MAC */
                const char *name = path + strlen(PXELINUX_PREFIX);

                if (g_str_has_prefix(name, "01-") && px_mac_from_string(name + 3, r.mac) >= 0) {
                        r.kind = PX_HTTP_ROUTE_PXELINUX_CONFIG;
                        r.has_mac = true;
                }
        } else if (name_is_valid(path + 1, PX_HTTP_ROUTE_MAX_LOADER_NAME)) {
                r.kind = PX_HTTP_ROUTE_LOADER;
                r.name = path + 1;
        }

        *ret = r;
        return 0;
}
