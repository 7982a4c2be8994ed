/* SPDX-License-Identifier: Apache-2.0 */
#include "api-response.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "px-macro.h"

G_DEFINE_QUARK(api - response - error - quark, api_response_error)

void api_boot_response_free(ApiBootResponse *r) {
        if (!r)
                return;
        g_free(r->kernel);
        g_strfreev(r->initrds);
        g_free(r->cmdline);
        g_free(r->message);
        g_free(r->ipxe_script);
        g_free(r);
}

/* ---- Strict JSON check ----------------------------------------------------------------------
 * json-glib accepts comments, single quotes, hex numbers and raw control characters, truncates
 * strings at "\u0000", and recurses without a depth limit. So the body is checked against the
 * RFC 8259 grammar first, with the nesting bounded; json-glib only ever sees what passed. */

typedef struct JsonCheck {
        const char *start, *p, *end;
        GError **error;
} JsonCheck;

static gboolean check_fail(JsonCheck *c, ApiResponseError code, const char *what) {
        g_set_error(c->error, API_RESPONSE_ERROR, code, "invalid JSON at byte %td: %s", c->p - c->start, what);
        return FALSE;
}

static void check_skip_ws(JsonCheck *c) {
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
                c->p++;
}

/* n hex digits at p (bounded by end) into *ret. */
static gboolean read_hex(const char *p, const char *end, unsigned n, uint32_t *ret) {
        uint32_t v = 0;

        if (end - p < (ptrdiff_t) n)
                return FALSE;
        for (unsigned i = 0; i < n; i++) {
                int d = px_unhexchar(p[i]);
                if (d < 0)
                        return FALSE;
                v = v << 4 | (uint32_t) d;
        }
        *ret = v;
        return TRUE;
}

static gboolean check_string(JsonCheck *c) {
        c->p++; /* opening quote */
        while (c->p < c->end) {
                unsigned char ch = (unsigned char) *c->p;
                uint32_t u, lo;

                if (ch == '"') {
                        c->p++;
                        return TRUE;
                }
                if (ch < 0x20)
                        return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "control character in a string");
                if (ch != '\\') {
                        c->p++;
                        continue;
                }
                c->p++;
                if (c->p >= c->end)
                        break;
                switch (*c->p) {
                case '"':
                case '\\':
                case '/':
                case 'b':
                case 'f':
                case 'n':
                case 'r':
                case 't':
                        c->p++;
                        break;
                case 'u':
                        if (!read_hex(c->p + 1, c->end, 4, &u))
                                return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "bad \\u escape");
                        if (u == 0)
                                return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "\\u0000 is not allowed");
                        if (u >= 0xdc00 && u <= 0xdfff)
                                return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "unpaired surrogate escape");
                        c->p += 5;
                        if (u >= 0xd800 && u <= 0xdbff) {
                                if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
                                    !read_hex(c->p + 2, c->end, 4, &lo) || lo < 0xdc00 || lo > 0xdfff)
                                        return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "unpaired surrogate escape");
                                c->p += 6;
                        }
                        break;
                default:
                        return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "invalid escape in a string");
                }
        }
        return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "unterminated string");
}

static gboolean check_digits(JsonCheck *c) {
        const char *first = c->p;

        while (c->p < c->end && g_ascii_isdigit(*c->p))
                c->p++;
        return c->p > first;
}

static gboolean check_number(JsonCheck *c) {
        if (*c->p == '-')
                c->p++;
        if (c->p < c->end && *c->p == '0')
                c->p++;
        else if (!check_digits(c))
                return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "bad number");
        if (c->p < c->end && *c->p == '.') {
                c->p++;
                if (!check_digits(c))
                        return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "bad number");
        }
        if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
                c->p++;
                if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
                        c->p++;
                if (!check_digits(c))
                        return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "bad number");
        }
        return TRUE;
}

static gboolean check_literal(JsonCheck *c, const char *word) {
        size_t n = strlen(word);

        if ((size_t) (c->end - c->p) < n || memcmp(c->p, word, n) != 0)
                return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "unexpected character");
        c->p += n;
        return TRUE;
}

/* depth: number of arrays and objects around this value. */
static gboolean check_value(JsonCheck *c, unsigned depth) {
        char close;

        check_skip_ws(c);
        if (c->p >= c->end)
                return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "unexpected end");
        switch (*c->p) {
        case '"':
                return check_string(c);
        case 't':
                return check_literal(c, "true");
        case 'f':
                return check_literal(c, "false");
        case 'n':
                return check_literal(c, "null");
        case '{':
        case '[':
                break;
        default:
                if (*c->p == '-' || g_ascii_isdigit(*c->p))
                        return check_number(c);
                return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "unexpected character");
        }

        if (depth + 1 > API_MAX_DEPTH)
                return check_fail(c, API_RESPONSE_ERROR_LIMIT, "nested more than " G_STRINGIFY(API_MAX_DEPTH) " deep");
        close = *c->p == '{' ? '}' : ']';
        c->p++;
        check_skip_ws(c);
        if (c->p < c->end && *c->p == close) {
                c->p++;
                return TRUE;
        }
        for (;;) {
                if (close == '}') {
                        check_skip_ws(c);
                        if (c->p >= c->end || *c->p != '"')
                                return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "expected a member name");
                        if (!check_string(c))
                                return FALSE;
                        check_skip_ws(c);
                        if (c->p >= c->end || *c->p != ':')
                                return check_fail(c, API_RESPONSE_ERROR_MALFORMED, "expected ':'");
                        c->p++;
                }
                if (!check_value(c, depth + 1))
                        return FALSE;
                check_skip_ws(c);
                if (c->p < c->end && *c->p == ',') {
                        c->p++;
                        continue;
                }
                if (c->p < c->end && *c->p == close) {
                        c->p++;
                        return TRUE;
                }
                return check_fail(c, API_RESPONSE_ERROR_MALFORMED,
                                  close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
        }
}

static gboolean json_check_document(const char *body, size_t size, GError **error) {
        JsonCheck c = {.start = body, .p = body, .end = body + size, .error = error};
        const char *bad;

        if (!g_utf8_validate_len(body, size, &bad)) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_MALFORMED,
                            "body is not UTF-8 (or contains a NUL byte) at byte %td", bad - body);
                return FALSE;
        }
        if (!check_value(&c, 0))
                return FALSE;
        check_skip_ws(&c);
        if (c.p != c.end)
                return check_fail(&c, API_RESPONSE_ERROR_MALFORMED, "data after the JSON value");
        return TRUE;
}

/* ---- URLs ----------------------------------------------------------------------------------- */

gboolean api_base_url_check(const char *api_url, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autoptr(GUri) uri = NULL;
        const char *scheme;

        if (!api_url || !*api_url || strlen(api_url) > 1024) {
                g_set_error_literal(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL,
                                    "the API URL must be given and at most 1024 bytes long");
                return FALSE;
        }
        uri = g_uri_parse(api_url, G_URI_FLAGS_ENCODED, &local);
        if (!uri) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL, "'%s' is not a URL: %s", api_url,
                            local->message);
                return FALSE;
        }
        scheme = g_uri_get_scheme(uri);
        if (g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL,
                            "'%s': the API must be an http:// or https:// URL", api_url);
                return FALSE;
        }
        if (!g_uri_get_host(uri) || !*g_uri_get_host(uri)) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL, "'%s' has no host", api_url);
                return FALSE;
        }
        if (g_uri_get_query(uri) || g_uri_get_fragment(uri)) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL,
                            "'%s': the API URL is a prefix and cannot have a query or fragment", api_url);
                return FALSE;
        }
        return TRUE;
}

static void append_prefix(GString *s, const char *api_url) {
        g_string_append(s, api_url);
        if (!g_str_has_suffix(api_url, "/"))
                g_string_append_c(s, '/');
        g_string_append(s, "v1");
}

char *api_url_for_machine(const char *api_url, const uint8_t mac[6], PxFirmware firmware, uint16_t arch) {
        GString *s = g_string_new(NULL);
        char m[PX_MAC_STRLEN];
        const char *fw = px_firmware_to_string(firmware);

        px_mac_to_string(mac, m);
        append_prefix(s, api_url);
        g_string_append_printf(s, "/boot/%s?arch=%u", m, (unsigned) arch);
        if (fw)
                g_string_append_printf(s, "&firmware=%s", fw);
        return g_string_free(s, FALSE);
}

/* ASCII printables that RFC 3986 allows nowhere in a URI. */
#define URI_EXCLUDED "\"<>\\^`{|}"

char *api_resolve_url(const char *api_url, const char *ref, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autoptr(GString) base = g_string_new(NULL);
        g_autoptr(GUri) uri = NULL;
        g_autofree char *abs = NULL, *ref_scheme = NULL, *ref_host = NULL;
        const char *scheme, *host;

        if (!ref || !*ref) {
                g_set_error_literal(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL, "empty URL");
                return NULL;
        }
        if (strlen(ref) > API_MAX_URL) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT, "URL longer than %d bytes",
                            API_MAX_URL);
                return NULL;
        }
        for (const char *p = ref; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL,
                                    "URL contains a control character (0x%02x)", (unsigned char) *p);
                        return NULL;
                }
        if (!g_utf8_validate(ref, -1, NULL)) {
                g_set_error_literal(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL, "URL is not UTF-8");
                return NULL;
        }

        /* A scheme without "//host" ("file:/x", "http:x") is refused up front: besides being
         * unusual, GLib trips an assertion when such a path normalises to "//...". */
        if (!g_uri_split(ref, G_URI_FLAGS_ENCODED, &ref_scheme, NULL, &ref_host, NULL, NULL, NULL, NULL, &local)) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL, "'%s' is not a valid URL: %s", ref,
                            local->message);
                return NULL;
        }
        if (ref_scheme && !ref_host) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL,
                            "'%s': a URL with a scheme needs '//' and a host (file:///path for local files)", ref);
                return NULL;
        }

        append_prefix(base, api_url);
        abs = g_uri_resolve_relative(base->str, ref, G_URI_FLAGS_ENCODED, &local);
        if (abs && abs[strcspn(abs, URI_EXCLUDED)]) {
                /* GLib keeps these; HTTP clients may not take them. Go's url.String() escapes
                 * them too (in the path). */
                g_autoptr(GString) esc = g_string_new(NULL);
                for (const char *p = abs; *p; p++)
                        if (strchr(URI_EXCLUDED, *p))
                                g_string_append_printf(esc, "%%%02X", (unsigned char) *p);
                        else
                                g_string_append_c(esc, *p);
                g_free(abs);
                abs = g_string_free(g_steal_pointer(&esc), FALSE);
        }
        if (abs)
                uri = g_uri_parse(abs, G_URI_FLAGS_ENCODED, local ? NULL : &local);
        if (!uri) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL, "'%s' is not a valid URL: %s", ref,
                            local ? local->message : "unparsable");
                return NULL;
        }

        for (const char *p = abs; *p; p++)
                if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f) {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL,
                                    "'%s' is not a valid URL (stray space or byte 0x%02x)", ref, (unsigned char) *p);
                        return NULL;
                }
        scheme = g_uri_get_scheme(uri);
        host = g_uri_get_host(uri);
        /* GLib does not check host names: allow DNS names and IP literals only */
        if (host && host[strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:")]) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL, "'%s': invalid host name", ref);
                return NULL;
        }
        if (g_ascii_strcasecmp(scheme, "http") == 0 || g_ascii_strcasecmp(scheme, "https") == 0) {
                if (!host || !*host) {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL, "'%s' has no host", ref);
                        return NULL;
                }
        } else if (g_ascii_strcasecmp(scheme, "file") == 0) {
                if (host && *host && g_ascii_strcasecmp(host, "localhost") != 0) {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL,
                                    "'%s': file URLs name local files, not host '%s'", ref, host);
                        return NULL;
                }
                if (g_uri_get_path(uri)[0] != '/') {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL,
                                    "'%s': file URLs need an absolute path", ref);
                        return NULL;
                }
        } else {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL,
                            "'%s': scheme '%s' is not supported (only http, https and file)", ref, scheme);
                return NULL;
        }
        if (strlen(abs) > API_MAX_URL) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT,
                            "URL longer than %d bytes once resolved", API_MAX_URL);
                return NULL;
        }
        return g_steal_pointer(&abs);
}

/* ---- cmdline -------------------------------------------------------------------------------- */

typedef struct Render {
        const char *api_url;
        ApiMapUrlFunc map_url;
        void *userdata;
        unsigned n_urls;
} Render;

static gboolean append_mapped_url(Render *r, GString *out, const char *ref, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autofree char *abs = NULL;
        g_autofree char *mapped = NULL;

        if (++r->n_urls > API_MAX_CMDLINE_URLS) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT, "more than %d URLs",
                            API_MAX_CMDLINE_URLS);
                return FALSE;
        }
        abs = api_resolve_url(r->api_url, ref, error);
        if (!abs)
                return FALSE;
        if (!r->map_url) {
                g_string_append(out, abs);
                return TRUE;
        }
        mapped = r->map_url(abs, r->userdata, &local);
        if (!mapped) {
                if (local)
                        g_propagate_error(error, g_steal_pointer(&local));
                else
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL, "'%s' could not be mapped", abs);
                return FALSE;
        }
        g_string_append(out, mapped);
        return TRUE;
}

/* Go's unicode.IsSpace. */
static gboolean is_go_space(gunichar c) {
        switch (c) {
        case '\t':
        case '\n':
        case '\v':
        case '\f':
        case '\r':
        case ' ':
        case 0x85:
        case 0xa0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202f:
        case 0x205f:
        case 0x3000:
                return TRUE;
        default:
                return c >= 0x2000 && c <= 0x200a;
        }
}

/* strings.TrimSpace, then the newline and length checks. Returns the finished string. */
static char *finish_cmdline(GString *s, GError **error) {
        const char *start = s->str, *end = s->str + s->len;

        while (start < end) {
                gunichar c = g_utf8_get_char_validated(start, end - start);
                if (c >= 0x110000 || !is_go_space(c))
                        break;
                start = g_utf8_next_char(start);
        }
        while (end > start) {
                const char *prev = g_utf8_find_prev_char(start, end);
                gunichar c;

                if (!prev)
                        break;
                c = g_utf8_get_char_validated(prev, end - prev);
                if (c >= 0x110000 || g_utf8_next_char(prev) != end || !is_go_space(c))
                        break;
                end = prev;
        }
        if (memchr(start, '\n', (size_t) (end - start))) {
                g_set_error_literal(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_CMDLINE,
                                    "cmdline contains a newline");
                return NULL;
        }
        if (end - start > API_MAX_CMDLINE) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT, "cmdline is %td bytes, more than %d",
                            end - start, API_MAX_CMDLINE);
                return NULL;
        }
        return g_strndup(start, (size_t) (end - start));
}

/* Space as Go's template lexer sees it. */
static gboolean is_tmpl_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gboolean tmpl_fail(GError **error, const char *tmpl, const char *at, const char *what) {
        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_CMDLINE, "cmdline template, byte %td: %s", at - tmpl,
                    what);
        return FALSE;
}

static void append_utf8(GString *out, uint32_t c) {
        char buf[6];
        g_string_append_len(out, buf, g_unichar_to_utf8(c, buf));
}

/* A Go string literal at *pp ('"' or '`'), unquoted into out; *pp moves past it. */
static gboolean parse_go_string(const char *tmpl, const char **pp, GString *out, GError **error) {
        const char *p = *pp;
        uint32_t v;

        if (*p == '`') {
                const char *close = strchr(p + 1, '`');
                if (!close)
                        return tmpl_fail(error, tmpl, p, "unterminated raw string");
                for (const char *q = p + 1; q < close; q++)
                        if (*q != '\r')
                                g_string_append_c(out, *q);
                *pp = close + 1;
                return TRUE;
        }

        for (p++;; p++) {
                const char *esc = p;

                if (*p == '\0' || *p == '\n')
                        return tmpl_fail(error, tmpl, p, "unterminated quoted string");
                if (*p == '"')
                        break;
                if (*p != '\\') {
                        g_string_append_c(out, *p);
                        continue;
                }
                p++;
                switch (*p) {
                case 'a':
                        g_string_append_c(out, '\a');
                        break;
                case 'b':
                        g_string_append_c(out, '\b');
                        break;
                case 'f':
                        g_string_append_c(out, '\f');
                        break;
                case 'n':
                        g_string_append_c(out, '\n');
                        break;
                case 'r':
                        g_string_append_c(out, '\r');
                        break;
                case 't':
                        g_string_append_c(out, '\t');
                        break;
                case 'v':
                        g_string_append_c(out, '\v');
                        break;
                case '\\':
                case '"':
                        g_string_append_c(out, *p);
                        break;
                case 'x':
                        if (!read_hex(p + 1, p + 1 + strnlen(p + 1, 2), 2, &v))
                                return tmpl_fail(error, tmpl, esc, "bad \\x escape");
                        g_string_append_c(out, (char) v);
                        p += 2;
                        break;
                case 'u':
                case 'U': {
                        unsigned n = *p == 'u' ? 4 : 8;
                        if (!read_hex(p + 1, p + 1 + strnlen(p + 1, n), n, &v) || v > 0x10ffff ||
                            (v >= 0xd800 && v <= 0xdfff))
                                return tmpl_fail(error, tmpl, esc, "bad \\u or \\U escape");
                        append_utf8(out, v);
                        p += n;
                        break;
                }
                default:
                        if (*p >= '0' && *p <= '7' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7') {
                                v = (uint32_t) ((p[0] - '0') << 6 | (p[1] - '0') << 3 | (p[2] - '0'));
                                if (v > 255)
                                        return tmpl_fail(error, tmpl, esc, "octal escape above \\377");
                                g_string_append_c(out, (char) v);
                                p += 2;
                                break;
                        }
                        return tmpl_fail(error, tmpl, esc, "unknown escape sequence");
                }
        }
        *pp = p + 1;
        return TRUE;
}

static const char *skip_tmpl_space(const char *p) {
        while (is_tmpl_space(*p))
                p++;
        return p;
}

static gboolean render_template(Render *r, const char *tmpl, GString *out, GError **error) {
        const char *p = tmpl;
        gboolean trim_next = FALSE;

        for (;;) {
                const char *open = strstr(p, "{{");
                const char *text_end = open ? open : p + strlen(p);
                const char *a, *ident;
                gboolean had_space;
                g_autoptr(GString) url = NULL;

                if (trim_next)
                        p = skip_tmpl_space(p);
                if (!open) {
                        g_string_append_len(out, p, text_end - p);
                        return TRUE;
                }
                a = open + 2;
                if (a[0] == '-' && is_tmpl_space(a[1])) { /* "{{- ": trim the text before */
                        while (text_end > p && is_tmpl_space(text_end[-1]))
                                text_end--;
                        a++;
                }
                g_string_append_len(out, p, text_end - p);

                a = skip_tmpl_space(a);
                if (*a == '\0')
                        return tmpl_fail(error, tmpl, open, "unclosed action");
                if (a[0] == '}' && a[1] == '}')
                        return tmpl_fail(error, tmpl, open, "empty action");
                if (a[0] == '/' && a[1] == '*')
                        return tmpl_fail(error, tmpl, open, "comments are not supported");
                ident = a;
                while (g_ascii_isalnum(*a) || *a == '_')
                        a++;
                if (a - ident != 3 || memcmp(ident, "URL", 3) != 0)
                        return tmpl_fail(error, tmpl, open, "only {{ URL \"...\" }} actions are supported");
                if (!is_tmpl_space(*a))
                        return tmpl_fail(error, tmpl, open,
                                         *a ? "URL needs a space, then one string argument" : "unclosed action");
                a = skip_tmpl_space(a);
                if (*a != '"' && *a != '`')
                        return tmpl_fail(error, tmpl, open, *a ? "URL takes one string argument" : "unclosed action");
                url = g_string_new(NULL);
                if (!parse_go_string(tmpl, &a, url, error))
                        return FALSE;
                had_space = is_tmpl_space(*a);
                a = skip_tmpl_space(a);
                if (had_space && a[0] == '-' && a[1] == '}' && a[2] == '}') { /* " -}}": trim the text after */
                        trim_next = TRUE;
                        a += 3;
                } else if (a[0] == '}' && a[1] == '}') {
                        trim_next = FALSE;
                        a += 2;
                } else
                        return tmpl_fail(error, tmpl, open,
                                         *a ? "URL takes exactly one string argument" : "unclosed action");

                if (memchr(url->str, '\0', url->len))
                        return tmpl_fail(error, tmpl, open, "URL contains a NUL byte");
                if (url->len == 0)
                        return tmpl_fail(error, tmpl, open, "empty URL");
                if (!append_mapped_url(r, out, url->str, error)) {
                        g_prefix_error(error, "cmdline template, byte %td: ", open - tmpl);
                        return FALSE;
                }
                p = a;
        }
}

char *api_cmdline_render_template(const char *api_url, const char *tmpl, ApiMapUrlFunc map_url, void *userdata,
                                  GError **error) {
        Render r = {.api_url = api_url, .map_url = map_url, .userdata = userdata};
        g_autoptr(GString) out = g_string_new(NULL);

        if (!render_template(&r, tmpl, out, error))
                return NULL;
        return finish_cmdline(out, error);
}

/* Go's unicode.IsPrint: categories L, M, N, P, S, and U+0020. */
static gboolean is_go_print(gunichar c) {
        if (c == ' ')
                return TRUE;
        switch (g_unichar_type(c)) {
        case G_UNICODE_LOWERCASE_LETTER:
        case G_UNICODE_MODIFIER_LETTER:
        case G_UNICODE_OTHER_LETTER:
        case G_UNICODE_TITLECASE_LETTER:
        case G_UNICODE_UPPERCASE_LETTER:
        case G_UNICODE_SPACING_MARK:
        case G_UNICODE_ENCLOSING_MARK:
        case G_UNICODE_NON_SPACING_MARK:
        case G_UNICODE_DECIMAL_NUMBER:
        case G_UNICODE_LETTER_NUMBER:
        case G_UNICODE_OTHER_NUMBER:
        case G_UNICODE_CONNECT_PUNCTUATION:
        case G_UNICODE_DASH_PUNCTUATION:
        case G_UNICODE_CLOSE_PUNCTUATION:
        case G_UNICODE_FINAL_PUNCTUATION:
        case G_UNICODE_INITIAL_PUNCTUATION:
        case G_UNICODE_OTHER_PUNCTUATION:
        case G_UNICODE_OPEN_PUNCTUATION:
        case G_UNICODE_CURRENCY_SYMBOL:
        case G_UNICODE_MODIFIER_SYMBOL:
        case G_UNICODE_MATH_SYMBOL:
        case G_UNICODE_OTHER_SYMBOL:
                return TRUE;
        default:
                return FALSE;
        }
}

/* Go's strconv.Quote (the %q verb for strings). */
static void append_go_quoted(GString *out, const char *s) {
        const char *p = s, *end = s + strlen(s);

        g_string_append_c(out, '"');
        while (p < end) {
                gunichar c = g_utf8_get_char_validated(p, end - p);
                size_t w;

                if (c >= 0x110000) { /* invalid byte: Go writes it as \xHH */
                        g_string_append_printf(out, "\\x%02x", (unsigned char) *p);
                        p++;
                        continue;
                }
                w = (size_t) (g_utf8_next_char(p) - p);
                if (c == '"' || c == '\\') {
                        g_string_append_c(out, '\\');
                        g_string_append_c(out, (char) c);
                } else if (is_go_print(c))
                        g_string_append_len(out, p, (gssize) w);
                else
                        switch (c) {
                        case '\a':
                                g_string_append(out, "\\a");
                                break;
                        case '\b':
                                g_string_append(out, "\\b");
                                break;
                        case '\f':
                                g_string_append(out, "\\f");
                                break;
                        case '\n':
                                g_string_append(out, "\\n");
                                break;
                        case '\r':
                                g_string_append(out, "\\r");
                                break;
                        case '\t':
                                g_string_append(out, "\\t");
                                break;
                        case '\v':
                                g_string_append(out, "\\v");
                                break;
                        default:
                                if (c < ' ' || c == 0x7f)
                                        g_string_append_printf(out, "\\x%02x", (unsigned) c);
                                else if (c < 0x10000)
                                        g_string_append_printf(out, "\\u%04x", (unsigned) c);
                                else
                                        g_string_append_printf(out, "\\U%08x", (unsigned) c);
                        }
                p += w;
        }
        g_string_append_c(out, '"');
}

static const char *node_kind(JsonNode *n) {
        switch (json_node_get_node_type(n)) {
        case JSON_NODE_OBJECT:
                return "an object";
        case JSON_NODE_ARRAY:
                return "an array";
        case JSON_NODE_NULL:
                return "null";
        case JSON_NODE_VALUE:
                break;
        }
        switch (json_node_get_value_type(n)) {
        case G_TYPE_STRING:
                return "a string";
        case G_TYPE_BOOLEAN:
                return "a boolean";
        default:
                return "a number";
        }
}

static gboolean node_is_string(JsonNode *n) {
        return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
}

static gboolean node_is_bool(JsonNode *n) {
        return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN;
}

static gboolean object_key_ok(const char *key, GError **error) {
        if (!*key) {
                g_set_error_literal(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_CMDLINE, "cmdline object: empty key");
                return FALSE;
        }
        for (const char *p = key; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f) {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_CMDLINE,
                                    "cmdline object: key \"%s\" contains whitespace or a control character", key);
                        return FALSE;
                }
        if (strstr(key, "{{")) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_CMDLINE,
                            "cmdline object: key \"%s\" contains \"{{\"", key);
                return FALSE;
        }
        return TRUE;
}

static char *render_object(Render *r, JsonObject *o, GError **error) {
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GList) keys = json_object_get_members(o);

        keys = g_list_sort(keys, (GCompareFunc) strcmp);
        for (GList *l = keys; l; l = l->next) {
                const char *key = l->data;
                JsonNode *v = json_object_get_member(o, key);

                if (!object_key_ok(key, error))
                        return NULL;
                if (out->len)
                        g_string_append_c(out, ' ');
                if (node_is_bool(v)) {
                        g_string_append(out, key);
                } else if (node_is_string(v)) {
                        const char *s = json_node_get_string(v);
                        if (strstr(s, "{{")) {
                                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_CMDLINE,
                                            "cmdline object: the value of \"%s\" contains \"{{\"", key);
                                return NULL;
                        }
                        g_string_append_printf(out, "%s=", key);
                        append_go_quoted(out, s);
                } else if (JSON_NODE_HOLDS_OBJECT(v)) {
                        JsonNode *u = json_object_get_member(json_node_get_object(v), "url");
                        if (!u || !node_is_string(u)) {
                                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_CMDLINE,
                                            "cmdline object: key \"%s\" has an object value with no string 'url'", key);
                                return NULL;
                        }
                        if (!*json_node_get_string(u)) {
                                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_INVALID,
                                            "cmdline object: key \"%s\" has an empty url", key);
                                return NULL;
                        }
                        g_string_append_printf(out, "%s=", key);
                        if (!append_mapped_url(r, out, json_node_get_string(u), error)) {
                                g_prefix_error(error, "cmdline object, key \"%s\": ", key);
                                return NULL;
                        }
                } else {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_CMDLINE,
                                    "cmdline object: key \"%s\" has %s value (only booleans, strings and "
                                    "{\"url\": ...} objects are allowed)",
                                    key, node_kind(v));
                        return NULL;
                }
        }
        return finish_cmdline(out, error);
}

/* ---- The response --------------------------------------------------------------------------- */

/* A member by name, ASCII case-insensitively as Go's encoding/json; an exact match wins. */
static JsonNode *find_member(JsonObject *o, const char *name) {
        JsonNode *found = json_object_get_member(o, name);
        g_autoptr(GList) members = NULL;

        if (found)
                return found;
        members = json_object_get_members(o);
        for (GList *l = members; l; l = l->next)
                if (g_ascii_strcasecmp(l->data, name) == 0)
                        found = json_object_get_member(o, l->data);
        return found;
}

/* *ret borrowed; NULL when absent or null. */
static gboolean get_string(JsonObject *o, const char *name, const char **ret, GError **error) {
        JsonNode *n = find_member(o, name);

        *ret = NULL;
        if (!n || JSON_NODE_HOLDS_NULL(n))
                return TRUE;
        if (!node_is_string(n)) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_INVALID, "'%s' must be a string, not %s",
                            name, node_kind(n));
                return FALSE;
        }
        *ret = json_node_get_string(n);
        return TRUE;
}

ApiBootResponse *api_boot_response_decode(const char *api_url, const void *body, size_t size, ApiMapUrlFunc map_url,
                                          void *userdata, GError **error) {
        g_autoptr(JsonParser) parser = NULL;
        g_autoptr(ApiBootResponse) r = NULL;
        g_autoptr(GStrvBuilder) initrds = g_strv_builder_new();
        Render render = {.api_url = api_url, .map_url = map_url, .userdata = userdata};
        const char *kernel, *message, *script;
        JsonNode *root, *initrd, *cmdline;
        JsonObject *o;
        JsonArray *a = NULL;

        g_return_val_if_fail(api_url, NULL);
        g_return_val_if_fail(body || size == 0, NULL);

        if (size == 0) {
                g_set_error_literal(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_MALFORMED, "empty body");
                return NULL;
        }
        if (size > API_MAX_BODY) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT, "body is %zu bytes, more than %d",
                            size, API_MAX_BODY);
                return NULL;
        }
        if (!json_check_document(body, size, error))
                return NULL;
        parser = json_parser_new_immutable();
        if (!json_parser_load_from_data(parser, body, (gssize) size, error)) {
                g_prefix_error(error, "invalid JSON: ");
                return NULL;
        }
        root = json_parser_get_root(parser);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_MALFORMED,
                            "the answer is %s, not a JSON object", root ? node_kind(root) : "empty");
                return NULL;
        }
        o = json_node_get_object(root);

        if (!get_string(o, "kernel", &kernel, error) || !get_string(o, "message", &message, error) ||
            !get_string(o, "ipxe-script", &script, error))
                return NULL;
        initrd = find_member(o, "initrd");
        if (initrd && !JSON_NODE_HOLDS_NULL(initrd)) {
                if (!JSON_NODE_HOLDS_ARRAY(initrd)) {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_INVALID,
                                    "'initrd' must be an array of strings, not %s", node_kind(initrd));
                        return NULL;
                }
                a = json_node_get_array(initrd);
                if (json_array_get_length(a) > API_MAX_INITRDS) {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT, "%u initrds, more than %d",
                                    json_array_get_length(a), API_MAX_INITRDS);
                        return NULL;
                }
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonNode *e = json_array_get_element(a, i);
                        if (!node_is_string(e)) {
                                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_INVALID,
                                            "'initrd[%u]' must be a string, not %s", i, node_kind(e));
                                return NULL;
                        }
                }
        }
        cmdline = find_member(o, "cmdline");
        if (cmdline && !JSON_NODE_HOLDS_NULL(cmdline) && !node_is_string(cmdline) && !JSON_NODE_HOLDS_OBJECT(cmdline)) {
                g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_INVALID,
                            "'cmdline' must be a string or an object, not %s", node_kind(cmdline));
                return NULL;
        }

        r = g_new0(ApiBootResponse, 1);
        if (script && *script) {
                r->ipxe_script = g_strdup(script);
                r->initrds = g_new0(char *, 1);
                return g_steal_pointer(&r);
        }

        if (!kernel) {
                g_set_error_literal(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_INVALID,
                                    "no 'kernel' (and no 'ipxe-script')");
                return NULL;
        }
        if (!*kernel) {
                g_set_error_literal(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_INVALID, "'kernel' is empty");
                return NULL;
        }
        r->kernel = api_resolve_url(api_url, kernel, error);
        if (!r->kernel) {
                g_prefix_error(error, "kernel: ");
                return NULL;
        }
        for (guint i = 0; a && i < json_array_get_length(a); i++) {
                const char *ref = json_array_get_string_element(a, i);
                g_autofree char *abs = NULL;

                if (!*ref) {
                        g_set_error(error, API_RESPONSE_ERROR, API_RESPONSE_ERROR_INVALID, "'initrd[%u]' is empty", i);
                        return NULL;
                }
                abs = api_resolve_url(api_url, ref, error);
                if (!abs) {
                        g_prefix_error(error, "initrd[%u]: ", i);
                        return NULL;
                }
                g_strv_builder_add(initrds, abs);
        }
        r->initrds = g_strv_builder_end(initrds);

        if (cmdline && node_is_string(cmdline) && *json_node_get_string(cmdline))
                r->cmdline =
                        api_cmdline_render_template(api_url, json_node_get_string(cmdline), map_url, userdata, error);
        else if (cmdline && JSON_NODE_HOLDS_OBJECT(cmdline))
                r->cmdline = render_object(&render, json_node_get_object(cmdline), error);
        else
                r->cmdline = g_strdup("");
        if (!r->cmdline)
                return NULL;
        if (!*r->cmdline)
                g_clear_pointer(&r->cmdline, g_free);

        if (message && *message)
                r->message = g_strdup(message);
        return g_steal_pointer(&r);
}
