/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The Pixiecore boot API (API mode), client side: the request URL for a machine, and the
 * decoding of the API server's JSON answer into absolute URLs and a rendered kernel command
 * line. Pure: bytes in, struct out; no I/O, no main loop, no logging.
 *
 * Request: GET <api>/v1/boot/<mac>?arch=<n>&firmware=<bios|efi32|efi64>
 *   <api> is the configured prefix; a '/' is added when it does not end in one. <mac> is lower
 *   case and colon separated. The query parameters are an extension of this implementation:
 *   <n> is the client's PXE architecture (option 93, decimal) and firmware its class. Servers
 *   written for the original Pixiecore route on the path only and ignore them.
 *
 * Response (HTTP 200, JSON object, at most API_MAX_BODY bytes). Field names match ASCII
 * case-insensitively, as Go's encoding/json does; an exact-case name wins over a folded one;
 * unknown fields are ignored; null counts as absent; of duplicate names the last one counts.
 *   kernel       string, URL. Required unless ipxe-script is given. Must not be empty.
 *   initrd       array of strings, URLs, in order; at most API_MAX_INITRDS. No empty entries.
 *   cmdline      string: a template, see below; or the deprecated object form, see below.
 *   message      string, shown on the booting machine's console.
 *   ipxe-script  string, served verbatim instead of a generated script. When it is non-empty,
 *                kernel, initrd, cmdline and message are type-checked but otherwise ignored
 *                (no URL is resolved, map_url is not called), as in the original.
 * An empty cmdline, message or ipxe-script ("") is the same as an absent one, because servers
 * written in Go often send every field.
 *
 * URLs: a reference is resolved (RFC 3986) against <api>/v1, never against the request URL:
 * with <api> = http://h/p, "/x" means http://h/x and "x" means http://h/p/x. The result must be
 * http:// or https:// with a host, or file:// with an absolute path and no host (or
 * "localhost"), at most API_MAX_URL bytes. An absolute URL must have the "//" authority part
 * ("file:/x" is refused; write file:///x). Host names are DNS names or IP literals (GLib decodes
 * %-escapes in them and turns IDNs into punycode). References with control characters, invalid
 * %-escapes or invalid UTF-8 are refused. Spaces and non-ASCII in paths and queries come out
 * %-encoded, and so do the characters RFC 3986 allows nowhere (" < > \ ^ ` { | }). The result
 * is printable ASCII without spaces.
 *
 * cmdline, string form: Go text/template syntax restricted to one action,
 *     {{ URL "<url>" }}
 * which becomes map_url(<absolute url>). Whitespace (space, tab, CR, LF) inside the braces is
 * free, but at least one separates URL from its argument. The argument is a Go string literal:
 * "..." with Go escapes (\a \b \f \n \r \t \v \\ \" \xHH \OOO \uHHHH \UHHHHHHHH) or `raw`
 * (carriage returns dropped, as Go does). Go's trim markers work: "{{- " removes the whitespace
 * before the action, " -}}" the whitespace after it. Everything else in braces is refused:
 * other functions, pipelines, variables, comments, an empty action, a "{{" with no matching
 * "}}", an empty URL. A lone "}}" outside an action is plain text, as in Go. At most
 * API_MAX_CMDLINE_URLS actions.
 *
 * cmdline, object form (deprecated): keys in byte order (Go's sort.Strings), joined by one
 * space. Per value:
 *   true or false      -> key              (a bare flag, even for false)
 *   string             -> key="value"      quoted as Go's %q / strconv.Quote, see below
 *   {"url": "<url>"}   -> key=<map_url(absolute url)>   (other members are ignored; the url
 *                         must not be empty; these count towards API_MAX_CMDLINE_URLS)
 *   null, number, array, object without a string "url" -> refused
 * %q quoting: the value is wrapped in double quotes; '"' and '\' get a backslash; \a \b \f \n
 * \r \t \v are written as such; other bytes below 0x20 and 0x7f as \xHH; other code points
 * that Go's unicode.IsPrint rejects (not a letter, mark, number, punctuation or symbol, except
 * U+0020) as \uHHHH, or \UHHHHHHHH above U+FFFF; hex digits are lower case; everything else,
 * including printable non-ASCII, verbatim. (Printability comes from GLib's Unicode tables,
 * which may be of a different Unicode version than Go's for newly assigned code points.)
 * Deliberate deviations from the original, which would have produced garbage or a template
 * error: an empty key, a key with whitespace or control characters, and a key or string
 * value containing "{{" are refused.
 *
 * After rendering (both forms): leading and trailing white space (Go's unicode.IsSpace) is
 * trimmed; the result must contain no newline and be at most API_MAX_CMDLINE bytes. Nothing
 * else is checked here: the caller must still run px_cmdline_check() (control characters, and
 * for iPXE '${', '#' words, '||', '&&', ';', repeated spaces), px_bootscript_message_is_safe()
 * on message, and whatever it wants on ipxe_script.
 *
 * The body itself must be strict RFC 8259 JSON in UTF-8 (no comments, single quotes, hex
 * numbers or raw control characters in strings, which json-glib would otherwise accept), with
 * no "\u0000" escape and no unpaired surrogate escape, nested at most API_MAX_DEPTH arrays or
 * objects deep (the top-level object counts as 1). The nesting limit is checked before
 * json-glib sees the body. */

#include <glib.h>
#include <stdint.h>

#include "pxe.h"

#define API_MAX_BODY         (1024 * 1024)
#define API_MAX_DEPTH        16
#define API_MAX_INITRDS      32
#define API_MAX_CMDLINE      1900
#define API_MAX_CMDLINE_URLS 64
#define API_MAX_URL          4096

#define API_RESPONSE_ERROR (api_response_error_quark())
GQuark api_response_error_quark(void);
typedef enum {
        API_RESPONSE_ERROR_MALFORMED, /* not JSON, not UTF-8, not an object */
        API_RESPONSE_ERROR_LIMIT,     /* body, depth, initrd count, cmdline length or URL count */
        API_RESPONSE_ERROR_INVALID,   /* a field of the wrong type, missing or empty */
        API_RESPONSE_ERROR_URL,       /* unparsable URL or scheme other than http, https, file */
        API_RESPONSE_ERROR_CMDLINE,   /* template syntax, object form value, newline */
} ApiResponseError;

typedef struct ApiBootResponse {
        char *kernel;      /* absolute URL; NULL only when ipxe_script is set */
        char **initrds;    /* absolute URLs, NULL-terminated; never NULL (maybe empty) */
        char *cmdline;     /* rendered; NULL when absent or empty */
        char *message;     /* NULL when absent or empty */
        char *ipxe_script; /* NULL when absent or empty */
} ApiBootResponse;

void api_boot_response_free(ApiBootResponse *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ApiBootResponse, api_boot_response_free)

/* Called for every URL in the cmdline with the resolved, checked absolute URL; returns what to
 * write into the command line instead (newly allocated), or NULL and sets error, which then
 * fails the whole decode (its error is passed on with domain and code kept; the message gets
 * a prefix saying where). */
typedef char *(*ApiMapUrlFunc)(const char *absolute_url, void *userdata, GError **error);

/* Checks a configured API prefix: http:// or https:// with a host, no query or fragment, at
 * most 1024 bytes. */
gboolean api_base_url_check(const char *api_url, GError **error);

/* "<api_url>[/]v1/boot/aa:bb:cc:dd:ee:ff?arch=<arch>&firmware=<name>"; the firmware parameter
 * is left out when firmware is not a valid PxFirmware. api_url should have passed
 * api_base_url_check(). */
char *api_url_for_machine(const char *api_url, const uint8_t mac[6], PxFirmware firmware, uint16_t arch);

/* Resolves a URL reference from the API against <api_url>[/]v1 and checks it (see above).
 * Returns the absolute URL, or NULL with API_RESPONSE_ERROR_URL (or _LIMIT when too long). */
char *api_resolve_url(const char *api_url, const char *ref, GError **error);

/* Renders a string-form cmdline (template, trim, newline and length checks). An empty result
 * is returned as "". map_url NULL substitutes the absolute URL itself. */
char *api_cmdline_render_template(const char *api_url, const char *tmpl, ApiMapUrlFunc map_url, void *userdata,
                                  GError **error);

/* Decodes an API answer. body need not be NUL-terminated. map_url NULL substitutes the absolute
 * URL itself. Returns NULL with an API_RESPONSE_ERROR (or map_url's error) on any rejection. */
ApiBootResponse *api_boot_response_decode(const char *api_url, const void *body, size_t size, ApiMapUrlFunc map_url,
                                          void *userdata, GError **error);
