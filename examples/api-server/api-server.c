/* SPDX-License-Identifier: Apache-2.0 */
/* pixiecore-api-example: a Pixiecore boot API server that tells every machine to boot the same
 * kernel, initrds and command line. That is pixiecore's static mode, rebuilt on the API, and a
 * starting point for your own server.
 *
 *   pixiecore-api-example -port 4242 -kernel vmlinuz -initrd initrd.img -cmdline console=ttyS0
 *   pixiecore -api http://127.0.0.1:4242/
 *
 * The whole API is one request: GET <api>/v1/boot/<mac>. Answer 200 and JSON to boot the
 * machine, anything else to leave it alone. pixiecore adds ?arch=<n>&firmware=<name>; servers
 * that do not care simply ignore the query.
 *
 * Kernel and initrds given as local paths are served by this program at /files/<name>, and the
 * JSON names them with relative URLs ("files/kernel"). pixiecore resolves relative URLs against
 * <api>/v1, so "files/kernel" lands back here, under whatever prefix the server is mounted.
 * http:// and https:// URLs are passed on unchanged. Either way pixiecore fetches the files and
 * hands them to the machine itself; the machine never sees these URLs. */

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>

typedef struct Options {
        char *listen; /* address to listen on; NULL: all */
        guint port;
        char *kernel;
        GPtrArray *initrds; /* char* */
        char *cmdline;
        char *message;
        GHashTable *files; /* name -> local path, served at /files/<name> */
} Options;

static const char usage[] =
        "usage: pixiecore-api-example [-listen ADDR] [-port N] -kernel PATH|URL [-initrd PATH|URL[,...]]...\n"
        "                             [-cmdline TEXT] [-message TEXT] [-file NAME=PATH]...\n"
        "Flags may be written -flag or --flag, -flag VALUE or -flag=VALUE. -port 0 picks a free port.\n"
        "In -cmdline, {{ URL \"files/NAME\" }} hands a -file to the booting machine through pixiecore.\n";

static gboolean is_url(const char *s) {
        return g_str_has_prefix(s, "http://") || g_str_has_prefix(s, "https://");
}

/* A local path becomes /files/<name> here and "files/<name>" in the JSON; URLs stay as they are. */
static char *add_file(Options *o, const char *name, const char *path_or_url) {
        if (is_url(path_or_url))
                return g_strdup(path_or_url);
        if (!g_file_test(path_or_url, G_FILE_TEST_IS_REGULAR)) {
                fprintf(stderr, "%s: no such file\n", path_or_url);
                exit(2);
        }
        g_hash_table_insert(o->files, g_strdup(name), g_strdup(path_or_url));
        return g_strdup_printf("files/%s", name);
}

static void parse_args(Options *o, int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                g_autofree char *name = NULL;
                const char *arg = argv[i], *value, *eq;

                if (arg[0] != '-')
                        goto bad;
                while (*arg == '-')
                        arg++;
                if (g_str_equal(arg, "help") || g_str_equal(arg, "h")) {
                        fputs(usage, stdout);
                        exit(0);
                }
                eq = strchr(arg, '=');
                name = eq ? g_strndup(arg, eq - arg) : g_strdup(arg);
                if (eq)
                        value = eq + 1;
                else if (i + 1 < argc)
                        value = argv[++i];
                else
                        goto bad;

                if (g_str_equal(name, "listen"))
                        o->listen = g_strdup(value);
                else if (g_str_equal(name, "port"))
                        o->port = (guint) g_ascii_strtoull(value, NULL, 10);
                else if (g_str_equal(name, "kernel"))
                        o->kernel = add_file(o, "kernel", value);
                else if (g_str_equal(name, "initrd")) {
                        g_auto(GStrv) list = g_strsplit(value, ",", -1);
                        for (char **l = list; *l; l++) {
                                g_autofree char *n = g_strdup_printf("initrd-%u", o->initrds->len);
                                g_ptr_array_add(o->initrds, add_file(o, n, *l));
                        }
                } else if (g_str_equal(name, "cmdline"))
                        o->cmdline = g_strdup(value);
                else if (g_str_equal(name, "message") || g_str_equal(name, "bootmsg"))
                        o->message = g_strdup(value);
                else if (g_str_equal(name, "file") && strchr(value, '=')) {
                        g_autofree char *n = g_strndup(value, strchr(value, '=') - value);
                        g_free(add_file(o, n, strchr(value, '=') + 1));
                } else
                        goto bad;
        }
        if (o->kernel)
                return;
bad:
        fputs(usage, stderr);
        exit(2);
}

static gboolean is_mac(const char *s) {
        if (strlen(s) != 17)
                return FALSE;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !g_ascii_isxdigit(s[i]))
                        return FALSE;
        return TRUE;
}

/* GET /v1/boot/<mac>: the boot decision. */
static void handle_boot(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                        gpointer userdata) {
        Options *o = userdata;
        const char *mac = path + strlen("/v1/boot/");
        const char *arch = query ? g_hash_table_lookup(query, "arch") : NULL;
        const char *firmware = query ? g_hash_table_lookup(query, "firmware") : NULL;
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        char *body;

        if (!g_str_equal(soup_server_message_get_method(msg), "GET")) {
                soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
                return;
        }
        if (!is_mac(mac)) {
                /* any status but 200 means "do not boot this machine" */
                soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
                return;
        }
        printf("boot request: mac=%s arch=%s firmware=%s\n", mac, arch ? arch : "-", firmware ? firmware : "-");
        fflush(stdout);

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "kernel");
        json_builder_add_string_value(b, o->kernel);
        json_builder_set_member_name(b, "initrd");
        json_builder_begin_array(b);
        for (guint i = 0; i < o->initrds->len; i++)
                json_builder_add_string_value(b, o->initrds->pdata[i]);
        json_builder_end_array(b);
        if (o->cmdline) {
                json_builder_set_member_name(b, "cmdline");
                json_builder_add_string_value(b, o->cmdline);
        }
        if (o->message) {
                json_builder_set_member_name(b, "message");
                json_builder_add_string_value(b, o->message);
        }
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        body = json_to_string(root, TRUE);
        soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
        soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, body, strlen(body));
}

/* GET /files/<name>: the local files the JSON points to. libsoup sends Content-Length, which
 * iPXE needs to download at full speed. */
static void handle_file(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                        gpointer userdata) {
        Options *o = userdata;
        const char *file = g_hash_table_lookup(o->files, path + strlen("/files/"));
        const char *method = soup_server_message_get_method(msg);
        g_autoptr(GMappedFile) map = NULL;
        g_autoptr(GBytes) data = NULL;

        if (!g_str_equal(method, "GET") && !g_str_equal(method, "HEAD")) {
                soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
                return;
        }
        if (!file || !(map = g_mapped_file_new(file, FALSE, NULL))) {
                soup_server_message_set_status(msg, SOUP_STATUS_NOT_FOUND, NULL);
                return;
        }
        printf("file: %s (%s)\n", path, file);
        fflush(stdout);
        data = g_mapped_file_get_bytes(map);
        soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
        soup_message_headers_set_content_type(soup_server_message_get_response_headers(msg), "application/octet-stream",
                                              NULL);
        soup_message_body_append_bytes(soup_server_message_get_response_body(msg), data);
}

int main(int argc, char **argv) {
        Options o = {
                .port = 4242,
                .initrds = g_ptr_array_new_with_free_func(g_free),
                .files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
        };
        g_autoptr(SoupServer) server = NULL;
        g_autoptr(GSocketAddress) addr = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GMainLoop) loop = NULL;
        GSList *uris;

        parse_args(&o, argc, argv);

        server = soup_server_new("server-header", "pixiecore-api-example ", NULL);
        soup_server_add_handler(server, "/v1/boot/", handle_boot, &o, NULL);
        soup_server_add_handler(server, "/files/", handle_file, &o, NULL);

        if (o.listen) {
                addr = g_inet_socket_address_new_from_string(o.listen, o.port);
                if (!addr) {
                        fprintf(stderr, "-listen %s: not an IP address\n", o.listen);
                        return 2;
                }
                if (!soup_server_listen(server, addr, 0, &error)) {
                        fprintf(stderr, "listen: %s\n", error->message);
                        return 1;
                }
        } else if (!soup_server_listen_all(server, o.port, 0, &error)) {
                fprintf(stderr, "listen: %s\n", error->message);
                return 1;
        }

        uris = soup_server_get_uris(server);
        for (GSList *u = uris; u; u = u->next) {
                g_autofree char *s = g_uri_to_string(u->data);
                printf("listening on %s (pixiecore -api %s)\n", s, s);
        }
        g_slist_free_full(uris, (GDestroyNotify) g_uri_unref);
        fflush(stdout);

        loop = g_main_loop_new(NULL, FALSE);
        g_main_loop_run(loop);
        return 0;
}
