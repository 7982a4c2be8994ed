/* SPDX-License-Identifier: Apache-2.0 */
/* The API client's pure parts: request URL, relative URL resolution, JSON decoding with every
 * rejection, and both cmdline forms (template string and deprecated object). */

#include <gio/gio.h>
#include <string.h>

#include "api-response.h"

#define API "http://api.example:8080/prefix"

/* Maps every cmdline URL to "[<absolute url>]", so expectations show what was resolved. */
static char *wrap_map(const char *abs, void *userdata, GError **error) {
        GPtrArray *seen = userdata;

        if (seen)
                g_ptr_array_add(seen, g_strdup(abs));
        return g_strdup_printf("[%s]", abs);
}

static char *failing_map(const char *abs, void *userdata, GError **error) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "no ID for %s", abs);
        return NULL;
}

static char *silent_failing_map(const char *abs, void *userdata, GError **error) {
        return NULL;
}

static ApiBootResponse *decode(const char *json, GError **error) {
        return api_boot_response_decode(API, json, strlen(json), wrap_map, NULL, error);
}

/* ---- Request URL ---------------------------------------------------------------------------- */

static void test_url_for_machine(void) {
        const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xAB, 0xcd, 0x0F};
        g_autofree char *a = api_url_for_machine("http://h:4242/prefix", mac, PX_FIRMWARE_EFI64, 7);
        g_autofree char *b = api_url_for_machine("http://h:4242/prefix/", mac, PX_FIRMWARE_BIOS, 0);
        g_autofree char *c = api_url_for_machine("http://h", mac, PX_FIRMWARE_EFI32, 6);
        g_autofree char *d = api_url_for_machine("https://h/", mac, _PX_FIRMWARE_INVALID, 9);

        g_assert_cmpstr(a, ==, "http://h:4242/prefix/v1/boot/52:54:00:ab:cd:0f?arch=7&firmware=efi64");
        g_assert_cmpstr(b, ==, "http://h:4242/prefix/v1/boot/52:54:00:ab:cd:0f?arch=0&firmware=bios");
        g_assert_cmpstr(c, ==, "http://h/v1/boot/52:54:00:ab:cd:0f?arch=6&firmware=efi32");
        g_assert_cmpstr(d, ==, "https://h/v1/boot/52:54:00:ab:cd:0f?arch=9");
}

static void test_base_url_check(void) {
        const char *good[] = {"http://h", "http://h/", "https://h:8443/a/b", "http://[::1]:4242/", "http://u:p@h/x"};
        const char *bad[] = {"",
                             "h",
                             "ftp://h/",
                             "file:///x",
                             "http://",
                             "http:///x",
                             "http://h/?x=1",
                             "http://h/#frag",
                             "http://h/%zz",
                             "mailto:x@y"};

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
                g_autoptr(GError) e = NULL;
                g_assert_true(api_base_url_check(good[i], &e));
                g_assert_no_error(e);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) e = NULL;
                g_assert_false(api_base_url_check(bad[i], &e));
                g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL);
        }
        g_assert_false(api_base_url_check(NULL, NULL));
}

/* ---- URL resolution ------------------------------------------------------------------------- */

typedef struct ResolveCase {
        const char *api, *ref, *want; /* want NULL: refused with `code` */
        int code;
} ResolveCase;

static const ResolveCase resolve_cases[] = {
        /* the reference's rule: against <prefix>/v1, not against .../v1/boot/<mac> */
        {API, "/foo", "http://api.example:8080/foo"},
        {API, "foo", "http://api.example:8080/prefix/foo"},
        {API "/", "foo", "http://api.example:8080/prefix/foo"},
        {API "/", "/foo", "http://api.example:8080/foo"},
        {"http://h", "foo", "http://h/foo"},
        {"http://h/", "/foo/bar?x=1", "http://h/foo/bar?x=1"},
        {API, "./foo", "http://api.example:8080/prefix/foo"},
        {API, "../foo", "http://api.example:8080/foo"},
        {API, "v1/x", "http://api.example:8080/prefix/v1/x"},
        {API, "?q=1", "http://api.example:8080/prefix/v1?q=1"},
        {API, "//other.example/k", "http://other.example/k"},
        {"https://h/p", "k", "https://h/p/k"},
        /* absolute references are kept */
        {API, "http://files.local/kernel", "http://files.local/kernel"},
        {API, "https://u:tok@files.local:8443/k?sig=abc#x", "https://u:tok@files.local:8443/k?sig=abc#x"},
        {API, "HTTP://files.local/K", "http://files.local/K"},
        {API, "file:///srv/boot/vmlinuz", "file:///srv/boot/vmlinuz"},
        {API, "file://localhost/srv/k", "file://localhost/srv/k"},
        {API, "http://h/a%2Fb", "http://h/a%2Fb"},
        {API, "http://[::1]:8080/k", "http://[::1]:8080/k"},
        {API, "http://10.0.0.1/k", "http://10.0.0.1/k"},
        {API, "http://my_host.example-1.local/k", "http://my_host.example-1.local/k"},
        /* characters RFC 3986 allows nowhere are %-encoded, wherever they are */
        {API, "http://h/a\"<>\\^`{|}?q=\"", "http://h/a%22%3C%3E%5C%5E%60%7B%7C%7D?q=%22"},
        /* spaces and non-ASCII come out %-encoded */
        {API, "a b", "http://api.example:8080/prefix/a%20b"},
        {API, "http://h/\xc3\xa9", "http://h/%C3%A9"},
        /* refusals */
        {API, "", NULL, API_RESPONSE_ERROR_URL},
        {API, "ftp://h/k", NULL, API_RESPONSE_ERROR_URL},
        {API, "tftp://h/k", NULL, API_RESPONSE_ERROR_URL},
        {API, "mailto:a@b", NULL, API_RESPONSE_ERROR_URL},
        {API, "data:,hello", NULL, API_RESPONSE_ERROR_URL},
        {API, "http:foo", NULL, API_RESPONSE_ERROR_URL},
        {API, "http://", NULL, API_RESPONSE_ERROR_URL},
        {API, "https:///x", NULL, API_RESPONSE_ERROR_URL},
        {API, "file://otherhost/etc/passwd", NULL, API_RESPONSE_ERROR_URL},
        {API, "file:relative", NULL, API_RESPONSE_ERROR_URL},
        {API, "file:/srv/k", NULL, API_RESPONSE_ERROR_URL},
        {API, "file:/.//etc/passwd", NULL, API_RESPONSE_ERROR_URL},
        {API, "http:/.//x", NULL, API_RESPONSE_ERROR_URL},
        {API, "/.//x", "http://api.example:8080//x"},
        {API, "///x", NULL, API_RESPONSE_ERROR_URL},
        {API, "http://h/%zz", NULL, API_RESPONSE_ERROR_URL},
        {API, "http://h/a\tb", NULL, API_RESPONSE_ERROR_URL},
        {API, "http://h/a\nb", NULL, API_RESPONSE_ERROR_URL},
        {API, "http://h/a\x7f", NULL, API_RESPONSE_ERROR_URL},
        {API, "http://h/\xff", NULL, API_RESPONSE_ERROR_URL},
        {API, "http://a b/", NULL, API_RESPONSE_ERROR_URL},
        {API, "https://f{- }} x/", NULL, API_RESPONSE_ERROR_URL},
        {API, "http://h%20x/", NULL, API_RESPONSE_ERROR_URL},
        /* GLib decodes %-escapes in host names and turns IDNs into punycode */
        {API, "http://h%41/", "http://hA/"},
        {API, "http://h\xc3\xa9/", "http://xn--h-bga/"},
};

static void test_resolve(gconstpointer data) {
        const ResolveCase *c = data;
        g_autoptr(GError) e = NULL;
        g_autofree char *got = api_resolve_url(c->api, c->ref, &e);

        if (c->want) {
                g_assert_no_error(e);
                g_assert_cmpstr(got, ==, c->want);
        } else {
                g_assert_null(got);
                g_assert_error(e, API_RESPONSE_ERROR, c->code);
        }
}

static void test_resolve_length(void) {
        g_autoptr(GError) e = NULL;
        g_autofree char *path = g_strnfill(API_MAX_URL - strlen("http://h/"), 'a');
        g_autofree char *max = g_strconcat("http://h/", path, NULL);
        g_autofree char *over = g_strconcat(max, "a", NULL);
        g_autofree char *ok = api_resolve_url(API, max, &e);
        g_autofree char *rel = NULL, *no = NULL;

        g_assert_no_error(e);
        g_assert_cmpstr(ok, ==, max);
        no = api_resolve_url(API, over, &e);
        g_assert_null(no);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
        g_clear_error(&e);
        /* short enough as a reference, too long once resolved */
        path[API_MAX_URL - 20] = '\0';
        rel = api_resolve_url(API, path, &e);
        g_assert_null(rel);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
}

/* ---- Decoding: accepted answers ------------------------------------------------------------- */

static void test_decode_full(void) {
        g_autoptr(GError) e = NULL;
        g_autoptr(ApiBootResponse) r = decode("{\"kernel\": \"https://files.local/kernel\","
                                              " \"initrd\": [\"https://files.local/initrd-a\", \"/b\", \"c\"],"
                                              " \"cmdline\": \"selinux=1 coreos.autologin\","
                                              " \"message\": \"Booting CoreOS\\nplease wait\"}",
                                              &e);

        g_assert_no_error(e);
        g_assert_cmpstr(r->kernel, ==, "https://files.local/kernel");
        g_assert_cmpuint(g_strv_length(r->initrds), ==, 3);
        g_assert_cmpstr(r->initrds[0], ==, "https://files.local/initrd-a");
        g_assert_cmpstr(r->initrds[1], ==, "http://api.example:8080/b");
        g_assert_cmpstr(r->initrds[2], ==, "http://api.example:8080/prefix/c");
        g_assert_cmpstr(r->cmdline, ==, "selinux=1 coreos.autologin");
        g_assert_cmpstr(r->message, ==, "Booting CoreOS\nplease wait");
        g_assert_null(r->ipxe_script);
}

static void test_decode_minimal(void) {
        g_autoptr(GError) e = NULL;
        g_autoptr(ApiBootResponse) r = decode("{\"kernel\":\"k\"}", &e);

        g_assert_no_error(e);
        g_assert_cmpstr(r->kernel, ==, "http://api.example:8080/prefix/k");
        g_assert_nonnull(r->initrds);
        g_assert_null(r->initrds[0]);
        g_assert_null(r->cmdline);
        g_assert_null(r->message);
        g_assert_null(r->ipxe_script);
}

/* What a Go server without omitempty sends: every field, nulls and empty strings. */
static void test_decode_go_zero_values(void) {
        g_autoptr(GError) e = NULL;
        g_autoptr(ApiBootResponse) r = decode(
                "{\"kernel\":\"/k\",\"initrd\":null,\"cmdline\":\"\",\"message\":\"\",\"ipxe-script\":\"\"}", &e);
        g_autoptr(ApiBootResponse) r2 = NULL;

        g_assert_no_error(e);
        g_assert_cmpstr(r->kernel, ==, "http://api.example:8080/k");
        g_assert_null(r->initrds[0]);
        g_assert_null(r->cmdline);
        g_assert_null(r->message);
        g_assert_null(r->ipxe_script);

        r2 = decode("{\"kernel\":\"/k\",\"cmdline\":null,\"message\":null,\"ipxe-script\":null,\"initrd\":[]}", &e);
        g_assert_no_error(e);
        g_assert_null(r2->cmdline);
}

static void test_decode_ipxe_script(void) {
        g_autoptr(GError) e = NULL;
        GPtrArray *seen = g_ptr_array_new_with_free_func(g_free);
        const char *json = "{\"ipxe-script\": \"#!ipxe\\nchain http://x/y\\n\", \"kernel\": \"ftp://ignored\","
                           " \"initrd\": [\"ftp://ignored\"], \"cmdline\": {\"a\": [1]}, \"message\": \"ignored\"}";
        g_autoptr(ApiBootResponse) r = api_boot_response_decode(API, json, strlen(json), wrap_map, seen, &e);
        g_autoptr(ApiBootResponse) r2 = NULL;

        g_assert_no_error(e);
        g_assert_cmpstr(r->ipxe_script, ==, "#!ipxe\nchain http://x/y\n");
        g_assert_null(r->kernel);
        g_assert_nonnull(r->initrds);
        g_assert_null(r->initrds[0]);
        g_assert_null(r->cmdline);
        g_assert_null(r->message);
        g_assert_cmpuint(seen->len, ==, 0); /* nothing resolved or mapped */
        g_ptr_array_unref(seen);

        r2 = decode("{\"ipxe-script\": \"#!ipxe\"}", &e);
        g_assert_no_error(e);
        g_assert_cmpstr(r2->ipxe_script, ==, "#!ipxe");
}

static void test_decode_case_insensitive(void) {
        g_autoptr(GError) e = NULL;
        g_autoptr(ApiBootResponse) r = decode("{\"Kernel\":\"/k\",\"INITRD\":[\"/i\"],\"CmdLine\":\"x=1\","
                                              "\"Message\":\"m\"}",
                                              &e);
        g_autoptr(ApiBootResponse) r2 = NULL, r3 = NULL;

        g_assert_no_error(e);
        g_assert_cmpstr(r->kernel, ==, "http://api.example:8080/k");
        g_assert_cmpstr(r->initrds[0], ==, "http://api.example:8080/i");
        g_assert_cmpstr(r->cmdline, ==, "x=1");
        g_assert_cmpstr(r->message, ==, "m");

        /* the exact name wins over a folded one, wherever it is */
        r2 = decode("{\"kernel\":\"/exact\",\"KERNEL\":\"/folded\"}", &e);
        g_assert_no_error(e);
        g_assert_cmpstr(r2->kernel, ==, "http://api.example:8080/exact");
        r3 = decode("{\"IPXE-Script\":\"#!ipxe\"}", &e);
        g_assert_no_error(e);
        g_assert_cmpstr(r3->ipxe_script, ==, "#!ipxe");
}

static void test_decode_unknown_fields(void) {
        g_autoptr(GError) e = NULL;
        g_autoptr(ApiBootResponse) r =
                decode("{\"kernel\":\"/k\",\"extra\":{\"a\":[1,2.5e3,-0,true,false,null,\"s\"]},\"n\":1E+2}", &e);

        g_assert_no_error(e);
        g_assert_cmpstr(r->kernel, ==, "http://api.example:8080/k");
}

static void test_decode_duplicate_keys(void) {
        g_autoptr(GError) e = NULL;
        g_autoptr(ApiBootResponse) r = decode("{\"kernel\":\"/a\",\"kernel\":\"/b\"}", &e);

        g_assert_no_error(e);
        g_assert_cmpstr(r->kernel, ==, "http://api.example:8080/b"); /* last one, as in Go */
}

static void test_decode_escapes(void) {
        g_autoptr(GError) e = NULL;
        g_autoptr(ApiBootResponse) r =
                decode("{\"kernel\":\"\\/k\\u00e9\",\"message\":\"\\ud83d\\ude00 \\\"hi\\\" \\t\\\\\"}", &e);

        g_assert_no_error(e);
        g_assert_cmpstr(r->kernel, ==, "http://api.example:8080/k%C3%A9");
        g_assert_cmpstr(r->message, ==, "\xf0\x9f\x98\x80 \"hi\" \t\\");
}

static void test_decode_depth(void) {
        g_autoptr(GError) e = NULL;
        g_autofree char *ok_json = g_strdup("{\"kernel\":\"/k\",\"x\":[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]}");     /* 16 */
        g_autofree char *deep_json = g_strdup("{\"kernel\":\"/k\",\"x\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}"); /* 17 */
        g_autoptr(ApiBootResponse) ok = decode(ok_json, &e);
        g_autoptr(ApiBootResponse) deep = NULL;
        g_autofree char *bomb = NULL;

        g_assert_no_error(e);
        g_assert_nonnull(ok);
        deep = decode(deep_json, &e);
        g_assert_null(deep);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
        g_clear_error(&e);

        /* a nesting bomb never reaches json-glib's recursive parser */
        bomb = g_strnfill(API_MAX_BODY, '[');
        g_assert_null(api_boot_response_decode(API, bomb, strlen(bomb), NULL, NULL, &e));
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
        g_clear_error(&e);

        /* brackets in strings do not count */
        g_autoptr(ApiBootResponse) s = decode("{\"kernel\":\"/k\",\"x\":\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{\"}", &e);
        g_assert_no_error(e);
        g_assert_nonnull(s);
}

static void test_decode_body_size(void) {
        g_autoptr(GError) e = NULL;
        const char *head = "{\"kernel\":\"/k\"}";
        g_autofree char *body = g_malloc(API_MAX_BODY + 1);
        g_autoptr(ApiBootResponse) r = NULL;

        memset(body, ' ', API_MAX_BODY + 1);
        memcpy(body, head, strlen(head));
        r = api_boot_response_decode(API, body, API_MAX_BODY, NULL, NULL, &e);
        g_assert_no_error(e);
        g_assert_nonnull(r);
        g_assert_null(api_boot_response_decode(API, body, API_MAX_BODY + 1, NULL, NULL, &e));
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
}

static void test_decode_not_nul_terminated(void) {
        g_autoptr(GError) e = NULL;
        const char buf[] = "{\"kernel\":\"/k\"}GARBAGE";
        g_autoptr(ApiBootResponse) r =
                api_boot_response_decode(API, buf, strlen("{\"kernel\":\"/k\"}"), NULL, NULL, &e);

        g_assert_no_error(e);
        g_assert_cmpstr(r->kernel, ==, "http://api.example:8080/k");
}

static void test_decode_initrd_count(void) {
        g_autoptr(GError) e = NULL;
        GString *s = g_string_new("{\"kernel\":\"/k\",\"initrd\":[");
        g_autofree char *ok = NULL, *over = NULL;
        g_autoptr(ApiBootResponse) r = NULL, r2 = NULL;

        for (int i = 0; i < API_MAX_INITRDS; i++)
                g_string_append_printf(s, "%s\"/i%d\"", i ? "," : "", i);
        ok = g_strdup_printf("%s]}", s->str);
        g_string_append(s, ",\"/one-too-many\"]}");
        over = g_string_free(s, FALSE);

        r = decode(ok, &e);
        g_assert_no_error(e);
        g_assert_cmpuint(g_strv_length(r->initrds), ==, API_MAX_INITRDS);
        g_assert_cmpstr(r->initrds[31], ==, "http://api.example:8080/i31");
        r2 = decode(over, &e);
        g_assert_null(r2);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
}

/* ---- Decoding: refusals --------------------------------------------------------------------- */

typedef struct RejectCase {
        const char *name, *json;
        int code;
} RejectCase;

#define MALFORMED API_RESPONSE_ERROR_MALFORMED
#define LIMIT     API_RESPONSE_ERROR_LIMIT
#define INVALID   API_RESPONSE_ERROR_INVALID
#define URL       API_RESPONSE_ERROR_URL
#define CMDLINE   API_RESPONSE_ERROR_CMDLINE

static const RejectCase reject_cases[] = {
        {"empty", "", MALFORMED},
        {"whitespace", "  \n", MALFORMED},
        {"not-json", "kernel=/k", MALFORMED},
        {"truncated", "{\"kernel\":\"/k\"", MALFORMED},
        {"trailing-data", "{\"kernel\":\"/k\"} {}", MALFORMED},
        {"trailing-comma", "{\"kernel\":\"/k\",}", MALFORMED},
        {"comment", "{\"kernel\":\"/k\" /* c */}", MALFORMED},
        {"single-quotes", "{'kernel':'/k'}", MALFORMED},
        {"hex-number", "{\"kernel\":\"/k\",\"x\":0x10}", MALFORMED},
        {"leading-zero", "{\"kernel\":\"/k\",\"x\":01}", MALFORMED},
        {"nan", "{\"kernel\":\"/k\",\"x\":NaN}", MALFORMED},
        {"bare-word", "{\"kernel\":/k}", MALFORMED},
        {"raw-tab-in-string", "{\"kernel\":\"/k\",\"message\":\"a\tb\"}", MALFORMED},
        {"bad-escape", "{\"kernel\":\"\\q\"}", MALFORMED},
        {"nul-escape", "{\"kernel\":\"/k\",\"message\":\"a\\u0000b\"}", MALFORMED},
        {"lone-high-surrogate", "{\"kernel\":\"/k\",\"message\":\"\\ud800\"}", MALFORMED},
        {"lone-low-surrogate", "{\"kernel\":\"/k\",\"message\":\"\\udc00x\"}", MALFORMED},
        {"bad-u-escape", "{\"kernel\":\"/k\",\"message\":\"\\u12g4\"}", MALFORMED},
        {"invalid-utf8", "{\"kernel\":\"/k\",\"message\":\"\xc3\x28\"}", MALFORMED},
        {"bom", "\xef\xbb\xbf{\"kernel\":\"/k\"}", MALFORMED},
        {"array", "[{\"kernel\":\"/k\"}]", MALFORMED},
        {"string", "\"/k\"", MALFORMED},
        {"null", "null", MALFORMED},
        {"number", "42", MALFORMED},
        {"no-kernel", "{}", INVALID},
        {"no-kernel-but-initrd", "{\"initrd\":[\"/i\"]}", INVALID},
        {"null-kernel", "{\"kernel\":null}", INVALID},
        {"empty-kernel", "{\"kernel\":\"\"}", INVALID},
        {"kernel-number", "{\"kernel\":1}", INVALID},
        {"kernel-array", "{\"kernel\":[\"/k\"]}", INVALID},
        {"kernel-object", "{\"kernel\":{\"url\":\"/k\"}}", INVALID},
        {"kernel-bool", "{\"kernel\":true}", INVALID},
        {"kernel-wrong-type-with-script", "{\"ipxe-script\":\"#!ipxe\",\"kernel\":1}", INVALID},
        {"initrd-string", "{\"kernel\":\"/k\",\"initrd\":\"/i\"}", INVALID},
        {"initrd-object", "{\"kernel\":\"/k\",\"initrd\":{\"0\":\"/i\"}}", INVALID},
        {"initrd-number-item", "{\"kernel\":\"/k\",\"initrd\":[\"/i\",2]}", INVALID},
        {"initrd-null-item", "{\"kernel\":\"/k\",\"initrd\":[null]}", INVALID},
        {"initrd-empty-item", "{\"kernel\":\"/k\",\"initrd\":[\"/i\",\"\"]}", INVALID},
        {"initrd-nested", "{\"kernel\":\"/k\",\"initrd\":[[\"/i\"]]}", INVALID},
        {"cmdline-number", "{\"kernel\":\"/k\",\"cmdline\":1}", INVALID},
        {"cmdline-array", "{\"kernel\":\"/k\",\"cmdline\":[\"a\"]}", INVALID},
        {"cmdline-bool", "{\"kernel\":\"/k\",\"cmdline\":true}", INVALID},
        {"message-number", "{\"kernel\":\"/k\",\"message\":1}", INVALID},
        {"message-object", "{\"kernel\":\"/k\",\"message\":{}}", INVALID},
        {"script-object", "{\"ipxe-script\":{}}", INVALID},
        {"script-array", "{\"kernel\":\"/k\",\"ipxe-script\":[\"#!ipxe\"]}", INVALID},
        {"kernel-ftp", "{\"kernel\":\"ftp://h/k\"}", URL},
        {"kernel-no-host", "{\"kernel\":\"http:///k\"}", URL},
        {"kernel-remote-file", "{\"kernel\":\"file://h/k\"}", URL},
        {"kernel-bad-escape", "{\"kernel\":\"/k%zz\"}", URL},
        {"kernel-control-char", "{\"kernel\":\"/k\\n\"}", URL},
        {"initrd-ftp", "{\"kernel\":\"/k\",\"initrd\":[\"/i\",\"ftp://h/i\"]}", URL},
        {"initrd-tftp", "{\"kernel\":\"/k\",\"initrd\":[\"tftp://h/i\"]}", URL},
};

static void test_reject(gconstpointer data) {
        const RejectCase *c = data;
        g_autoptr(GError) e = NULL;
        g_autoptr(ApiBootResponse) r = decode(c->json, &e);

        g_assert_null(r);
        g_assert_error(e, API_RESPONSE_ERROR, c->code);
        g_assert_nonnull(e->message);
}

/* ---- cmdline, string form ------------------------------------------------------------------- */

typedef struct TemplateCase {
        const char *name, *tmpl, *want; /* want NULL: refused with code */
        int code;
} TemplateCase;

static const TemplateCase template_cases[] = {
        {"plain", "console=ttyS0 quiet", "console=ttyS0 quiet"},
        /* the reference's example */
        {"reference-example", "cloud-config-url={{ URL \"https://files.local/cloud-config\" }} other=x",
         "cloud-config-url=[https://files.local/cloud-config] other=x"},
        {"relative-root", "cc={{ URL \"/cc\" }}", "cc=[http://api.example:8080/cc]"},
        {"relative-prefix", "cc={{ URL \"cc\" }}", "cc=[http://api.example:8080/prefix/cc]"},
        {"file-scheme", "a={{ URL \"file:///srv/a\" }}", "a=[file:///srv/a]"},
        {"two", "a={{ URL \"/a\" }} b={{ URL \"/b\" }}", "a=[http://api.example:8080/a] b=[http://api.example:8080/b]"},
        {"adjacent", "{{URL \"/a\"}}{{URL \"/b\"}}", "[http://api.example:8080/a][http://api.example:8080/b]"},
        {"no-spaces-in-braces", "x={{URL \"/a\"}}", "x=[http://api.example:8080/a]"},
        {"much-whitespace", "x={{ \t\r\n URL \t \"/a\"\n\t}}", "x=[http://api.example:8080/a]"},
        {"raw-string", "x={{ URL `/a b` }}", "x=[http://api.example:8080/a%20b]"},
        {"raw-string-cr-dropped", "x={{ URL `/a\rb` }}", "x=[http://api.example:8080/ab]"},
        {"go-escapes", "x={{ URL \"/\\x61\\u0062\\U00000063\\144\\\"\" }}", "x=[http://api.example:8080/abcd%22]"},
        {"escaped-backslash", "x={{ URL \"/a\\\\b\" }}", "x=[http://api.example:8080/a%5Cb]"},
        {"non-ascii-escape", "x={{ URL \"/\\u00e9\" }}", "x=[http://api.example:8080/%C3%A9]"},
        {"braces-in-string", "x={{ URL \"/a}}b\" }}", "x=[http://api.example:8080/a%7D%7Db]"},
        {"lone-close-braces", "a}}b {x} }", "a}}b {x} }"},
        {"single-brace", "a={b", "a={b"},
        {"trim-left", "a= \n {{- URL \"/x\" }}", "a=[http://api.example:8080/x]"},
        {"trim-right", "{{ URL \"/x\" -}} \t b", "[http://api.example:8080/x]b"},
        {"trim-both", "a {{- URL \"/x\" -}} b", "a[http://api.example:8080/x]b"},
        {"dash-without-space-is-not-trim", "a {{-URL \"/x\" }}", NULL, CMDLINE},
        {"trimspace", " \t\n console=ttyS0 \n\r\v\f ", "console=ttyS0"},
        {"trimspace-unicode", "\xc2\xa0\xe3\x80\x80x\xe2\x80\xa8\xc2\x85", "x"},
        {"inner-nbsp-kept",
         "a\xc2\xa0"
         "b",
         "a\xc2\xa0"
         "b"},
        {"only-space", "   ", ""},
        {"newline-inside", "a\nb", NULL, CMDLINE},
        {"newline-from-url-escape", "a={{ URL \"/x\\n\" }}", NULL, URL},
        {"cr-is-not-refused-here", "a\rb", "a\rb"},
        {"other-function", "{{ printf \"%s\" \"x\" }}", NULL, CMDLINE},
        {"lowercase-url", "{{ url \"/x\" }}", NULL, CMDLINE},
        {"ID-function", "{{ ID \"abc\" }}", NULL, CMDLINE},
        {"field", "{{ .Kernel }}", NULL, CMDLINE},
        {"variable", "{{ $x := 1 }}", NULL, CMDLINE},
        {"if", "{{ if true }}a{{ end }}", NULL, CMDLINE},
        {"comment", "{{/* hi */}}", NULL, CMDLINE},
        {"empty-action", "a {{}} b", NULL, CMDLINE},
        {"blank-action", "a {{  }} b", NULL, CMDLINE},
        {"string-action", "{{ \"/x\" }}", NULL, CMDLINE},
        {"pipeline", "{{ \"/x\" | URL }}", NULL, CMDLINE},
        {"pipeline-after", "{{ URL \"/x\" | printf }}", NULL, CMDLINE},
        {"parenthesised", "{{ URL (\"/x\") }}", NULL, CMDLINE},
        {"no-argument", "{{ URL }}", NULL, CMDLINE},
        {"two-arguments", "{{ URL \"/a\" \"/b\" }}", NULL, CMDLINE},
        {"number-argument", "{{ URL 42 }}", NULL, CMDLINE},
        {"single-quoted", "{{ URL '/x' }}", NULL, CMDLINE},
        {"no-space-before-arg", "{{URL\"/x\"}}", NULL, CMDLINE},
        {"junk-after-arg", "{{ URL \"/x\"x }}", NULL, CMDLINE},
        {"dash-without-space-after-arg", "{{ URL \"/x\"-}}", NULL, CMDLINE},
        {"unclosed-open", "a {{", NULL, CMDLINE},
        {"unclosed-after-url", "a {{ URL", NULL, CMDLINE},
        {"unclosed-after-space", "a {{ URL ", NULL, CMDLINE},
        {"unclosed-after-arg", "a {{ URL \"/x\"", NULL, CMDLINE},
        {"unclosed-after-arg-space", "a {{ URL \"/x\" ", NULL, CMDLINE},
        {"single-close", "a {{ URL \"/x\" }", NULL, CMDLINE},
        {"unterminated-string", "a {{ URL \"/x }}", NULL, CMDLINE},
        {"newline-in-quoted", "a {{ URL \"/x\n\" }}", NULL, CMDLINE},
        {"unterminated-raw", "a {{ URL `/x }}", NULL, CMDLINE},
        {"unknown-escape", "{{ URL \"/\\q\" }}", NULL, CMDLINE},
        {"single-quote-escape", "{{ URL \"/\\'\" }}", NULL, CMDLINE},
        {"short-hex-escape", "{{ URL \"/\\x4\" }}", NULL, CMDLINE},
        {"short-octal-escape", "{{ URL \"/\\14\" }}", NULL, CMDLINE},
        {"octal-over-255", "{{ URL \"/\\400\" }}", NULL, CMDLINE},
        {"surrogate-escape", "{{ URL \"/\\ud800\" }}", NULL, CMDLINE},
        {"too-big-U-escape", "{{ URL \"/\\U00110000\" }}", NULL, CMDLINE},
        {"nul-escape", "{{ URL \"/a\\x00b\" }}", NULL, CMDLINE},
        {"nul-octal", "{{ URL \"/a\\000\" }}", NULL, CMDLINE},
        {"empty-url", "{{ URL \"\" }}", NULL, CMDLINE},
        {"empty-raw-url", "{{ URL `` }}", NULL, CMDLINE},
        {"bad-scheme", "{{ URL \"ftp://h/x\" }}", NULL, URL},
        {"remote-file", "{{ URL \"file://h/x\" }}", NULL, URL},
        {"bad-percent", "{{ URL \"/%zz\" }}", NULL, URL},
        {"invalid-utf8-from-escape", "{{ URL \"/\\xff\" }}", NULL, URL},
};

static void test_template(gconstpointer data) {
        const TemplateCase *c = data;
        g_autoptr(GError) e = NULL;
        g_autofree char *got = api_cmdline_render_template(API, c->tmpl, wrap_map, NULL, &e);

        if (c->want) {
                g_assert_no_error(e);
                g_assert_cmpstr(got, ==, c->want);
        } else {
                g_assert_null(got);
                g_assert_error(e, API_RESPONSE_ERROR, c->code);
        }
}

/* Through the decoder: JSON escapes first, then the template. */
static void test_template_via_json(void) {
        g_autoptr(GError) e = NULL;
        GPtrArray *seen = g_ptr_array_new_with_free_func(g_free);
        const char *json = "{\"kernel\":\"/k\",\"cmdline\":\"  cc={{ URL \\\"cloud/config?x=1&y=2\\\" }} "
                           "ks={{URL `https://ks.local/a`}}  \\n\"}";
        g_autoptr(ApiBootResponse) r = api_boot_response_decode(API, json, strlen(json), wrap_map, seen, &e);

        g_assert_no_error(e);
        g_assert_cmpstr(r->cmdline, ==,
                        "cc=[http://api.example:8080/prefix/cloud/config?x=1&y=2] ks=[https://ks.local/a]");
        g_assert_cmpuint(seen->len, ==, 2);
        g_assert_cmpstr(seen->pdata[0], ==, "http://api.example:8080/prefix/cloud/config?x=1&y=2");
        g_assert_cmpstr(seen->pdata[1], ==, "https://ks.local/a");
        g_ptr_array_unref(seen);
}

static void test_template_no_map(void) {
        g_autoptr(GError) e = NULL;
        g_autofree char *got = api_cmdline_render_template(API, "a={{ URL \"b\" }}", NULL, NULL, &e);

        g_assert_no_error(e);
        g_assert_cmpstr(got, ==, "a=http://api.example:8080/prefix/b");
}

static void test_template_map_errors(void) {
        g_autoptr(GError) e = NULL;
        g_autofree char *a = api_cmdline_render_template(API, "a={{ URL \"b\" }}", failing_map, NULL, &e);
        g_autofree char *b = NULL;
        const char *json = "{\"kernel\":\"/k\",\"cmdline\":{\"a\":{\"url\":\"/x\"}}}";
        g_autoptr(ApiBootResponse) r = NULL;

        g_assert_null(a);
        g_assert_error(e, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED); /* passed on, domain and code kept */
        g_clear_error(&e);
        b = api_cmdline_render_template(API, "a={{ URL \"b\" }}", silent_failing_map, NULL, &e);
        g_assert_null(b);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_URL);
        g_clear_error(&e);
        r = api_boot_response_decode(API, json, strlen(json), failing_map, NULL, &e);
        g_assert_null(r);
        g_assert_error(e, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
}

static void test_template_url_count(void) {
        g_autoptr(GError) e = NULL;
        GString *s = g_string_new(NULL);
        g_autofree char *ok = NULL, *over = NULL;
        g_autofree char *r1 = NULL, *r2 = NULL;

        for (int i = 0; i < API_MAX_CMDLINE_URLS; i++)
                g_string_append(s, "{{URL \"/\"}}");
        ok = g_strdup(s->str);
        g_string_append(s, "{{URL \"/\"}}");
        over = g_string_free(s, FALSE);

        r1 = api_cmdline_render_template(API, ok, NULL, NULL, &e);
        g_assert_no_error(e);
        g_assert_nonnull(r1);
        r2 = api_cmdline_render_template(API, over, NULL, NULL, &e);
        g_assert_null(r2);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
}

static void test_cmdline_length(void) {
        g_autoptr(GError) e = NULL;
        g_autofree char *max = g_strnfill(API_MAX_CMDLINE, 'a');
        g_autofree char *over = g_strnfill(API_MAX_CMDLINE + 1, 'a');
        g_autofree char *padded = g_strdup_printf("   %s \n ", max);
        g_autofree char *a = api_cmdline_render_template(API, max, NULL, NULL, &e);
        g_autofree char *b = NULL, *c = NULL, *d = NULL;
        g_autofree char *tmpl = NULL;

        g_assert_no_error(e);
        g_assert_cmpuint(strlen(a), ==, API_MAX_CMDLINE);
        b = api_cmdline_render_template(API, over, NULL, NULL, &e);
        g_assert_null(b);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
        g_clear_error(&e);
        /* the limit applies after trimming */
        c = api_cmdline_render_template(API, padded, NULL, NULL, &e);
        g_assert_no_error(e);
        g_assert_cmpstr(c, ==, max);
        /* and after expansion: a short template whose URL makes it too long */
        max[API_MAX_CMDLINE - 20] = '\0';
        tmpl = g_strdup_printf("%s {{ URL \"/a\" }}", max);
        d = api_cmdline_render_template(API, tmpl, NULL, NULL, &e);
        g_assert_null(d);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
}

/* ---- cmdline, object form ------------------------------------------------------------------- */

typedef struct ObjectCase {
        const char *name, *object, *want; /* want NULL: refused with code */
        int code;
} ObjectCase;

static const ObjectCase object_cases[] = {
        {"sorted", "{\"b\":true,\"a\":true,\"C\":true,\"aa\":true,\"_\":true,\"1\":true}", "1 C _ a aa b"},
        {"bytewise-order", "{\"\xc3\xa9\":true,\"z\":true,\"Z\":true}", "Z z \xc3\xa9"},
        {"false-is-bare", "{\"quiet\":false,\"debug\":true}", "debug quiet"},
        {"string-quoted", "{\"console\":\"ttyS0,115200n8\"}", "console=\"ttyS0,115200n8\""},
        {"empty-string", "{\"root\":\"\"}", "root=\"\""},
        {"string-with-space", "{\"a\":\"x y\"}", "a=\"x y\""},
        {"quote-and-backslash", "{\"a\":\"q\\\"b\\\\c\"}", "a=\"q\\\"b\\\\c\""},
        {"named-escapes", "{\"a\":\"\\u0007\\b\\f\\n\\r\\t\\u000b\"}", "a=\"\\a\\b\\f\\n\\r\\t\\v\""},
        {"control-hex", "{\"a\":\"\\u0001\\u001f\\u007f\"}", "a=\"\\x01\\x1f\\x7f\""},
        {"latin1-control", "{\"a\":\"\\u0085\\u009f\"}", "a=\"\\u0085\\u009f\""},
        {"printable-non-ascii", "{\"a\":\"\xc3\xa9\xe2\x82\xac\xe4\xb8\xad\"}",
         "a=\"\xc3\xa9\xe2\x82\xac\xe4\xb8\xad\""},
        {"emoji-printable", "{\"a\":\"\\ud83d\\ude00\"}", "a=\"\xf0\x9f\x98\x80\""},
        {"nbsp-escaped", "{\"a\":\"x\\u00a0y\"}", "a=\"x\\u00a0y\""},
        {"format-chars-escaped", "{\"a\":\"\\u200b\\ufeff\\u2028\"}", "a=\"\\u200b\\ufeff\\u2028\""},
        {"private-use", "{\"a\":\"\\ue000\"}", "a=\"\\ue000\""},
        {"astral-private-use", "{\"a\":\"\\udbff\\udffd\"}", "a=\"\\U0010fffd\""},
        {"close-braces-ok", "{\"a\":\"}}\"}", "a=\"}}\""},
        {"dollar-brace-kept", "{\"a\":\"${x}\"}", "a=\"${x}\""},
        {"url-object", "{\"cc\":{\"url\":\"cc\"}}", "cc=[http://api.example:8080/prefix/cc]"},
        {"url-object-root", "{\"cc\":{\"url\":\"/cc\"}}", "cc=[http://api.example:8080/cc]"},
        {"url-object-extra-members", "{\"cc\":{\"url\":\"https://x/y\",\"other\":1}}", "cc=[https://x/y]"},
        {"mixed",
         "{\"rancher.cloud_init.datasources\":{\"url\":\"/cc\"},\"console\":\"tty0\",\"quiet\":true,"
         "\"debug\":false}",
         "console=\"tty0\" debug quiet rancher.cloud_init.datasources=[http://api.example:8080/cc]"},
        {"empty-object", "{}", NULL, -1},
        {"duplicate-last-wins", "{\"a\":\"1\",\"a\":\"2\"}", "a=\"2\""},
        {"key-with-equals", "{\"a=b\":true}", "a=b"},
        {"null", "{\"a\":null}", NULL, CMDLINE},
        {"number", "{\"a\":1}", NULL, CMDLINE},
        {"float", "{\"a\":1.5}", NULL, CMDLINE},
        {"array", "{\"a\":[\"x\"]}", NULL, CMDLINE},
        {"object-without-url", "{\"a\":{\"href\":\"/x\"}}", NULL, CMDLINE},
        {"object-url-number", "{\"a\":{\"url\":1}}", NULL, CMDLINE},
        {"object-url-null", "{\"a\":{\"url\":null}}", NULL, CMDLINE},
        {"object-url-empty", "{\"a\":{\"url\":\"\"}}", NULL, INVALID},
        {"object-url-bad-scheme", "{\"a\":{\"url\":\"ftp://h/x\"}}", NULL, URL},
        {"object-url-remote-file", "{\"a\":{\"url\":\"file://h/x\"}}", NULL, URL},
        {"empty-key", "{\"\":true}", NULL, CMDLINE},
        {"key-with-space", "{\"a b\":true}", NULL, CMDLINE},
        {"key-with-tab", "{\"a\\tb\":true}", NULL, CMDLINE},
        {"key-with-newline", "{\"a\\nb\":true}", NULL, CMDLINE},
        {"key-with-braces", "{\"a{{b\":true}", NULL, CMDLINE},
        {"value-with-braces", "{\"a\":\"{{ URL \\\"/x\\\" }}\"}", NULL, CMDLINE},
        {"bad-one-among-good", "{\"a\":true,\"b\":null,\"c\":\"x\"}", NULL, CMDLINE},
};

static void test_object(gconstpointer data) {
        const ObjectCase *c = data;
        g_autoptr(GError) e = NULL;
        g_autofree char *json = g_strdup_printf("{\"kernel\":\"/k\",\"cmdline\":%s}", c->object);
        g_autoptr(ApiBootResponse) r = decode(json, &e);

        if (c->want) {
                g_assert_no_error(e);
                g_assert_cmpstr(r->cmdline, ==, c->want);
        } else if (c->code < 0) {
                g_assert_no_error(e);
                g_assert_null(r->cmdline);
        } else {
                g_assert_null(r);
                g_assert_error(e, API_RESPONSE_ERROR, c->code);
        }
}

static void test_object_length(void) {
        g_autoptr(GError) e = NULL;
        g_autofree char *v = g_strnfill(API_MAX_CMDLINE - 4, 'x'); /* a="<v>" is exactly the limit */
        g_autofree char *ok = g_strdup_printf("{\"kernel\":\"/k\",\"cmdline\":{\"a\":\"%s\"}}", v);
        g_autofree char *over = g_strdup_printf("{\"kernel\":\"/k\",\"cmdline\":{\"a\":\"%sx\"}}", v);
        g_autoptr(ApiBootResponse) r = decode(ok, &e), r2 = NULL;

        g_assert_no_error(e);
        g_assert_cmpuint(strlen(r->cmdline), ==, API_MAX_CMDLINE);
        r2 = decode(over, &e);
        g_assert_null(r2);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
}

static void test_object_url_count(void) {
        g_autoptr(GError) e = NULL;
        GString *s = g_string_new("{\"kernel\":\"/k\",\"cmdline\":{");
        g_autoptr(ApiBootResponse) r = NULL;

        for (int i = 0; i <= API_MAX_CMDLINE_URLS; i++)
                g_string_append_printf(s, "%s\"k%d\":{\"url\":\"/\"}", i ? "," : "", i);
        g_string_append(s, "}}");
        r = api_boot_response_decode(API, s->str, s->len, NULL, NULL, &e);
        g_assert_null(r);
        g_assert_error(e, API_RESPONSE_ERROR, API_RESPONSE_ERROR_LIMIT);
        g_string_free(s, TRUE);
}

/* What examples/api-server sends, decoded as pixiecore will. */
static void test_example_server_answer(void) {
        g_autoptr(GError) e = NULL;
        const char *json = "{\n  \"kernel\" : \"files/kernel\",\n  \"initrd\" : [\n    \"files/initrd-0\",\n"
                           "    \"http://mirror.local/x.img\"\n  ],\n  \"cmdline\" : \"console=ttyS0 cc={{ URL "
                           "\\\"files/cc\\\" }}\",\n  \"message\" : \"hello\"\n}";
        g_autoptr(ApiBootResponse) r =
                api_boot_response_decode("http://127.0.0.1:4242/", json, strlen(json), NULL, NULL, &e);

        g_assert_no_error(e);
        g_assert_cmpstr(r->kernel, ==, "http://127.0.0.1:4242/files/kernel");
        g_assert_cmpstr(r->initrds[0], ==, "http://127.0.0.1:4242/files/initrd-0");
        g_assert_cmpstr(r->initrds[1], ==, "http://mirror.local/x.img");
        g_assert_cmpstr(r->cmdline, ==, "console=ttyS0 cc=http://127.0.0.1:4242/files/cc");
        g_assert_cmpstr(r->message, ==, "hello");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/api/url-for-machine", test_url_for_machine);
        g_test_add_func("/api/base-url-check", test_base_url_check);
        for (size_t i = 0; i < G_N_ELEMENTS(resolve_cases); i++) {
                g_autofree char *name = g_strdup_printf("/api/resolve/%zu", i);
                g_test_add_data_func(name, &resolve_cases[i], test_resolve);
        }
        g_test_add_func("/api/resolve-length", test_resolve_length);

        g_test_add_func("/api/decode/full", test_decode_full);
        g_test_add_func("/api/decode/minimal", test_decode_minimal);
        g_test_add_func("/api/decode/go-zero-values", test_decode_go_zero_values);
        g_test_add_func("/api/decode/ipxe-script", test_decode_ipxe_script);
        g_test_add_func("/api/decode/case-insensitive", test_decode_case_insensitive);
        g_test_add_func("/api/decode/unknown-fields", test_decode_unknown_fields);
        g_test_add_func("/api/decode/duplicate-keys", test_decode_duplicate_keys);
        g_test_add_func("/api/decode/escapes", test_decode_escapes);
        g_test_add_func("/api/decode/depth", test_decode_depth);
        g_test_add_func("/api/decode/body-size", test_decode_body_size);
        g_test_add_func("/api/decode/not-nul-terminated", test_decode_not_nul_terminated);
        g_test_add_func("/api/decode/initrd-count", test_decode_initrd_count);
        g_test_add_func("/api/decode/example-server-answer", test_example_server_answer);
        for (size_t i = 0; i < G_N_ELEMENTS(reject_cases); i++) {
                g_autofree char *name = g_strdup_printf("/api/reject/%s", reject_cases[i].name);
                g_test_add_data_func(name, &reject_cases[i], test_reject);
        }

        for (size_t i = 0; i < G_N_ELEMENTS(template_cases); i++) {
                g_autofree char *name = g_strdup_printf("/api/cmdline-template/%s", template_cases[i].name);
                g_test_add_data_func(name, &template_cases[i], test_template);
        }
        g_test_add_func("/api/cmdline-template/via-json", test_template_via_json);
        g_test_add_func("/api/cmdline-template/no-map", test_template_no_map);
        g_test_add_func("/api/cmdline-template/map-errors", test_template_map_errors);
        g_test_add_func("/api/cmdline-template/url-count", test_template_url_count);
        g_test_add_func("/api/cmdline-template/length", test_cmdline_length);

        for (size_t i = 0; i < G_N_ELEMENTS(object_cases); i++) {
                g_autofree char *name = g_strdup_printf("/api/cmdline-object/%s", object_cases[i].name);
                g_test_add_data_func(name, &object_cases[i], test_object);
        }
        g_test_add_func("/api/cmdline-object/length", test_object_length);
        g_test_add_func("/api/cmdline-object/url-count", test_object_url_count);

        return g_test_run();
}
