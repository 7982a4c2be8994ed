/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Which of the HTTP server's resources a request names. Pure: strings in, struct out; no I/O,
 * no allocation that outlives the call, no logging.
 *
 * Input, as libsoup 3 hands it to a SoupServer handler:
 *   path   the DECODED path (the handler's `path` argument): libsoup has already turned %XX into
 *          bytes, refused with 400 any path whose decoding fails or contains a NUL ("%00"), a
 *          "/../" segment or ends in "/..", and turned an empty path into "/". The function
 *          copes with any C string anyway: a path that does not start with '/' is NOT_FOUND.
 *   query  the RAW query string (g_uri_get_query() of the message's URI, without the '?'), or
 *          NULL when there is none. It is decoded here the way soup_form_decode() does it:
 *          pairs split on '&'; a pair without '=' is skipped; name and value are decoded ('+' is
 *          a space, %XX a byte); a pair with an invalid %-escape in either is skipped; names match
 *          case-sensitively; of repeated names the last decodable pair counts; a decoded NUL
 *          ends the name or value (libsoup hands out C strings).
 *
 * Routes (anything else is NOT_FOUND):
 *   "/"                        ROOT
 *   "/_/ipxe"                  IPXE_SCRIPT with mac (aa:bb:.. or aa-bb-.., any case), and arch when
 *                              the arch parameter is a decimal 0..65535 without sign or spaces;
 *                              another arch value is ignored (has_arch false). BAD_REQUEST (400)
 *                              when the mac parameter is missing or not a MAC.
 *   "/_/booting"               BOOTING; mac when the mac parameter is a MAC (optional).
 *   "/_/file/<mac>/<id>"       BOOT_FILE with mac and name = <id>: exactly two segments, <mac> a
 *                              MAC in either form, <id> 1..PX_HTTP_ROUTE_MAX_NAME bytes without
 *                              "..". Anything else under "/_/file/" is NOT_FOUND.
 *   "/pxelinux.cfg/01-<mac>"   PXELINUX_CONFIG with mac (either MAC form after "01-"). Other names
 *                              under /pxelinux.cfg/ (IP-derived names, "default") are NOT_FOUND.
 *                              The caller serves it only in PXELINUX mode (404 otherwise).
 *   "/<name>"                  LOADER with name = <name> (1..PX_HTTP_ROUTE_MAX_LOADER_NAME bytes,
 *                              no '/'), for the caller to look up in its loader table.
 * The query only matters for /_/ipxe and /_/booting.
 *
 * Guarantees: `name` is set exactly for BOOT_FILE and LOADER, points into `path` (a suffix of
 * it), is non-empty, contains no '/' and no ".."; `has_mac` is true for IPXE_SCRIPT, BOOT_FILE and
 * PXELINUX_CONFIG; `has_arch` only for IPXE_SCRIPT. */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* Longer than any file ID (PX_FILE_ID_MAX_LEN, about 5.5 KiB) or static name. */
#define PX_HTTP_ROUTE_MAX_NAME 8192
/* Loader names are short file names ("undionly.kpxe", "ldlinux.c32"). */
#define PX_HTTP_ROUTE_MAX_LOADER_NAME 255

typedef enum PxHttpRouteKind {
        PX_HTTP_ROUTE_NOT_FOUND,       /* 404 */
        PX_HTTP_ROUTE_BAD_REQUEST,     /* 400: /_/ipxe without a valid mac parameter */
        PX_HTTP_ROUTE_ROOT,            /* "/": a short text saying what this server is */
        PX_HTTP_ROUTE_IPXE_SCRIPT,     /* "/_/ipxe?mac=..[&arch=..]" */
        PX_HTTP_ROUTE_BOOTING,         /* "/_/booting[?mac=..]" */
        PX_HTTP_ROUTE_BOOT_FILE,       /* "/_/file/<mac>/<id>" */
        PX_HTTP_ROUTE_PXELINUX_CONFIG, /* "/pxelinux.cfg/01-<mac>" */
        PX_HTTP_ROUTE_LOADER,          /* "/<name>" */
        _PX_HTTP_ROUTE_KIND_MAX,
        _PX_HTTP_ROUTE_KIND_INVALID = -EINVAL,
} PxHttpRouteKind;

typedef struct PxHttpRoute {
        PxHttpRouteKind kind;
        bool has_mac;
        uint8_t mac[6];
        bool has_arch;
        uint16_t arch;    /* raw option 93 value from the arch parameter */
        const char *name; /* BOOT_FILE: the file ID; LOADER: the loader name; else NULL */
} PxHttpRoute;

/* "not-found", "bad-request", "root", "ipxe-script", "booting", "boot-file", "pxelinux-config",
 * "loader"; NULL for other values. */
const char *px_http_route_kind_to_string(PxHttpRouteKind kind);

/* Classifies a request (see above). Returns 0 and fills `ret` (every field), or -EINVAL when
 * path or ret is NULL (ret untouched). An unknown path is not an error: kind NOT_FOUND. */
int px_http_route_parse(const char *path, const char *query, PxHttpRoute *ret);
