/* SPDX-License-Identifier: Apache-2.0 */
#include "file-store.h"

#include <errno.h>
#include <gio/gunixoutputstream.h>
#include <libsoup/soup.h>
#include <string.h>
#include <unistd.h>

#include "px-build-config.h"
#include "px-fileio.h"
#include "px-macro.h"
#include <stdio.h>
#include <sys/stat.h>

#define DOWNLOAD_TIMEOUT_S 60

typedef struct Entry {
        char *source;
        GBytes *data;
} Entry;

struct PxFileStore {
        GHashTable *entries; /* id -> Entry */
        SoupSession *http;
};

static void entry_free(Entry *e) {
        g_free(e->source);
        g_bytes_unref(e->data);
        g_free(e);
}

PxFileStore *px_file_store_new(void) {
        PxFileStore *s = g_new0(PxFileStore, 1);

        s->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) entry_free);
        return s;
}

void px_file_store_free(PxFileStore *s) {
        if (!s)
                return;
        g_hash_table_unref(s->entries);
        g_clear_object(&s->http);
        g_free(s);
}

/* Where downloads go: our entry of $CACHE_DIRECTORY (systemd's CacheDirectory=), else the temp dir. */
static char *cache_directory(void) {
        char *d = NULL;

        if (px_first_directory(g_getenv("CACHE_DIRECTORY"), &d) < 0)
                return g_strdup(g_get_tmp_dir());
        return d;
}

/* Downloads into an unlinked file in the cache directory and maps it. */
static GBytes *fetch_url(PxFileStore *s, const char *url, GError **error) {
        g_autoptr(SoupMessage) msg = NULL;
        g_autoptr(GInputStream) in = NULL;
        g_autoptr(GOutputStream) out = NULL;
        g_autofree char *dir = NULL;
        g_autofree char *path = NULL;
        g_autoptr(GFile) file = NULL;
        gssize copied;
        goffset expected;
        int fd;

        if (!s->http)
                s->http =
                        soup_session_new_with_options("timeout", DOWNLOAD_TIMEOUT_S, "idle-timeout", DOWNLOAD_TIMEOUT_S,
                                                      "user-agent", "pixiecore/" PACKAGE_VERSION, NULL);
        msg = soup_message_new(SOUP_METHOD_GET, url);
        if (!msg) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: not a valid URL", url);
                return NULL;
        }
        in = soup_session_send(s->http, msg, NULL, error);
        if (!in) {
                g_prefix_error(error, "%s: ", url);
                return NULL;
        }
        if (soup_message_get_status(msg) != SOUP_STATUS_OK) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: HTTP %u %s", url, soup_message_get_status(msg),
                            soup_message_get_reason_phrase(msg));
                return NULL;
        }
        expected = soup_message_headers_get_content_length(soup_message_get_response_headers(msg));

        dir = cache_directory();
        path = g_build_filename(dir, "pixiecore-download-XXXXXX", NULL);
        fd = g_mkstemp(path);
        if (fd < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: cannot create %s: %s", url, path,
                            g_strerror(errno));
                return NULL;
        }
        out = g_unix_output_stream_new(fd, TRUE);
        copied = g_output_stream_splice(out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE, NULL, error);
        if (copied < 0 || !g_output_stream_close(out, NULL, error)) {
                g_prefix_error(error, "%s: ", url);
                (void) unlink(path);
                return NULL;
        }
        if (expected > 0 && copied != expected) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                            "%s: got %" G_GSSIZE_FORMAT " of %" G_GOFFSET_FORMAT " bytes", url, copied, expected);
                (void) unlink(path);
                return NULL;
        }
        GBytes *data = px_map_file(path, error);
        (void) unlink(path); /* the mapping keeps the data; nothing is left behind on exit */
        if (!data)
                g_prefix_error(error, "%s: ", url);
        return data;
}

gboolean px_file_store_add(PxFileStore *s, const char *id, const char *source, GError **error) {
        g_autoptr(GBytes) data = NULL;
        Entry *e;

        if (g_str_has_prefix(source, "http://") || g_str_has_prefix(source, "https://"))
                data = fetch_url(s, source, error);
        else {
                struct stat st;
                if (stat(source, &st) < 0 || !S_ISREG(st.st_mode)) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE, "%s: not a readable regular file",
                                    source);
                        return FALSE;
                }
                data = px_map_file(source, error);
        }
        if (!data)
                return FALSE;

        e = g_new0(Entry, 1);
        e->source = g_strdup(source);
        e->data = g_steal_pointer(&data);
        g_hash_table_replace(s->entries, g_strdup(id), e);
        return TRUE;
}

GBytes *px_file_store_get(PxFileStore *s, const char *id) {
        Entry *e = g_hash_table_lookup(s->entries, id);
        return e ? g_bytes_ref(e->data) : NULL;
}

gboolean px_file_store_contains(PxFileStore *s, const char *id) {
        return g_hash_table_contains(s->entries, id);
}

const char *px_file_store_get_source(PxFileStore *s, const char *id) {
        Entry *e = g_hash_table_lookup(s->entries, id);
        return e ? e->source : NULL;
}
