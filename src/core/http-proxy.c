/* SPDX-License-Identifier: Apache-2.0 */
#include "http-proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "px-fileio.h"
#include "px-log.h"
#include "px-macro.h"

#define PHASE      "http"
#define CHUNK_SIZE (256 * 1024)

typedef struct Proxy {
        SoupServerMessage *msg;
        SoupMessage *upstream;
        GInputStream *in;
        GCancellable *cancellable;
        guint64 max_bytes;
        guint64 expected;
        guint64 received;
        char *url_for_log; /* scheme://host/… without query: tokens stay out of the journal */
        char *mac;
        char *name;
        gulong finished_id;
        gulong wrote_chunk_id;
        bool streaming;
        bool done;
        /* cache */
        char *cache_path; /* <dir>/<sha256(url)>, NULL without a cache */
        char *url;
        int tee_fd; /* temp file being filled while streaming, -1 if none */
        char *tee_path;
} Proxy;

#define CACHE_GROUP "upstream"

static char *cache_meta_path(const Proxy *p) {
        return g_strconcat(p->cache_path, ".meta", NULL);
}

/* The cached copy, if it is complete and describes this URL; validators in ret_*. */
static GBytes *cache_lookup(Proxy *p, char **ret_etag, char **ret_modified) {
        g_autofree char *meta_path = cache_meta_path(p);
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GBytes) data = NULL;
        g_autofree char *url = NULL;
        guint64 length;

        if (!p->cache_path || !g_key_file_load_from_file(kf, meta_path, G_KEY_FILE_NONE, NULL))
                return NULL;
        url = g_key_file_get_string(kf, CACHE_GROUP, "url", NULL);
        length = g_key_file_get_uint64(kf, CACHE_GROUP, "length", NULL);
        if (g_strcmp0(url, p->url) != 0)
                return NULL;
        data = px_map_file(p->cache_path, NULL);
        if (!data || g_bytes_get_size(data) != length)
                return NULL;
        *ret_etag = g_key_file_get_string(kf, CACHE_GROUP, "etag", NULL);
        *ret_modified = g_key_file_get_string(kf, CACHE_GROUP, "last-modified", NULL);
        return g_steal_pointer(&data);
}

static void tee_abort(Proxy *p) {
        if (p->tee_fd < 0)
                return;
        p->tee_fd = px_safe_close(p->tee_fd);
        (void) unlink(p->tee_path);
        g_clear_pointer(&p->tee_path, g_free);
}

static void tee_start(Proxy *p) {
        if (!p->cache_path)
                return;
        p->tee_path = g_strdup_printf("%s.tmp-XXXXXX", p->cache_path);
        p->tee_fd = g_mkstemp_full(p->tee_path, O_WRONLY | O_CLOEXEC, 0600);
        if (p->tee_fd < 0) {
                px_log_warning(p->mac, PHASE, "cannot cache %s: %s", p->url_for_log, g_strerror(errno));
                g_clear_pointer(&p->tee_path, g_free);
        }
}

static void tee_write(Proxy *p, GBytes *chunk) {
        gsize size;
        const guint8 *data = g_bytes_get_data(chunk, &size);

        while (p->tee_fd >= 0 && size > 0) {
                ssize_t n = write(p->tee_fd, data, size);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        /* a full disk costs the cache, never the boot */
                        px_log_warning(p->mac, PHASE, "cannot cache %s: %s", p->url_for_log,
                                       n < 0 ? g_strerror(errno) : "short write");
                        tee_abort(p);
                        return;
                }
                data += n;
                size -= (gsize) n;
        }
}

/* The whole file arrived: publish the copy and its validators atomically. */
static void tee_commit(Proxy *p) {
        SoupMessageHeaders *h = soup_message_get_response_headers(p->upstream);
        const char *etag = soup_message_headers_get_one(h, "ETag");
        const char *modified = soup_message_headers_get_one(h, "Last-Modified");
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autofree char *meta_path = cache_meta_path(p);
        g_autoptr(GError) error = NULL;

        if (p->tee_fd < 0)
                return;
        if (fsync(p->tee_fd) < 0 || rename(p->tee_path, p->cache_path) < 0) {
                px_log_warning(p->mac, PHASE, "cannot cache %s: %s", p->url_for_log, g_strerror(errno));
                tee_abort(p);
                return;
        }
        p->tee_fd = px_safe_close(p->tee_fd);
        g_clear_pointer(&p->tee_path, g_free);
        g_key_file_set_string(kf, CACHE_GROUP, "url", p->url);
        g_key_file_set_uint64(kf, CACHE_GROUP, "length", p->expected);
        if (etag)
                g_key_file_set_string(kf, CACHE_GROUP, "etag", etag);
        if (modified)
                g_key_file_set_string(kf, CACHE_GROUP, "last-modified", modified);
        if (!g_key_file_save_to_file(kf, meta_path, &error))
                px_log_warning(p->mac, PHASE, "cannot cache %s: %s", p->url_for_log, error->message);
        else
                px_log_debug(p->mac, PHASE, "cached %s (%" G_GUINT64_FORMAT " bytes)", p->url_for_log, p->expected);
}

static void serve_cached(Proxy *p, GBytes *data, const char *why) {
        SoupMessageHeaders *h = soup_server_message_get_response_headers(p->msg);

        px_log_debug(p->mac, PHASE, "serving %s from the cache (%s)", p->name, why);
        soup_server_message_set_status(p->msg, SOUP_STATUS_OK, NULL);
        soup_message_headers_set_content_type(h, "application/octet-stream", NULL);
        soup_message_body_append_bytes(soup_server_message_get_response_body(p->msg), data);
        soup_server_message_unpause(p->msg);
}

static void proxy_free(Proxy *p) {
        tee_abort(p);
        g_free(p->cache_path);
        g_free(p->url);
        g_cancellable_cancel(p->cancellable);
        if (p->finished_id)
                g_signal_handler_disconnect(p->msg, p->finished_id);
        if (p->wrote_chunk_id)
                g_signal_handler_disconnect(p->msg, p->wrote_chunk_id);
        g_clear_object(&p->in);
        g_clear_object(&p->upstream);
        g_clear_object(&p->cancellable);
        g_object_unref(p->msg);
        g_free(p->url_for_log);
        g_free(p->mac);
        g_free(p->name);
        g_free(p);
}

static char *url_without_query(const char *url) {
        g_autoptr(GUri) u = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);

        if (!u)
                return g_strdup("(invalid URL)");
        if (g_uri_get_port(u) > 0)
                return g_strdup_printf("%s://%s:%d%s", g_uri_get_scheme(u), g_uri_get_host(u) ? g_uri_get_host(u) : "",
                                       g_uri_get_port(u), g_uri_get_path(u));
        return g_strdup_printf("%s://%s%s", g_uri_get_scheme(u), g_uri_get_host(u) ? g_uri_get_host(u) : "",
                               g_uri_get_path(u));
}

static void fail_before_body(Proxy *p, guint status, const char *why) {
        px_log_warning(p->mac, PHASE, "cannot fetch %s from %s: %s", p->name, p->url_for_log, why);
        soup_server_message_set_status(p->msg, status, NULL);
        soup_server_message_set_response(p->msg, "text/plain", SOUP_MEMORY_COPY, "pixiecore: upstream failed\n",
                                         strlen("pixiecore: upstream failed\n"));
        soup_server_message_unpause(p->msg);
        proxy_free(p);
}

/* A failure after the headers went out: the only honest thing left is to cut the connection. */
static void fail_mid_stream(Proxy *p, const char *why) {
        GSocket *socket = soup_server_message_get_socket(p->msg);

        px_log_warning(p->mac, PHASE,
                       "upstream %s failed after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes: %s",
                       p->url_for_log, p->received, p->expected, why);
        p->done = true;
        tee_abort(p);
        if (socket)
                g_socket_shutdown(socket, TRUE, TRUE, NULL);
        soup_message_body_complete(soup_server_message_get_response_body(p->msg));
        soup_server_message_unpause(p->msg);
}

static void on_client_finished(SoupServerMessage *msg, gpointer userdata) {
        Proxy *p = userdata;

        /* the booting machine went away (or the transfer ended): stop fetching */
        g_signal_handler_disconnect(p->msg, p->finished_id);
        p->finished_id = 0;
        if (p->streaming)
                proxy_free(p);
        else
                g_cancellable_cancel(p->cancellable); /* on_upstream_sent frees */
}

static void read_chunk(Proxy *p);

static void on_chunk(GObject *source, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);
        Proxy *p = userdata;

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return; /* freed by on_client_finished */
        if (!chunk) {
                fail_mid_stream(p, error->message);
                return;
        }
        if (g_bytes_get_size(chunk) == 0) {
                if (p->received != p->expected) {
                        fail_mid_stream(p, "upstream ended early");
                        return;
                }
                p->done = true;
                tee_commit(p);
                soup_message_body_complete(soup_server_message_get_response_body(p->msg));
                soup_server_message_unpause(p->msg);
                return;
        }
        p->received += g_bytes_get_size(chunk);
        tee_write(p, chunk);
        if (p->received > p->expected) {
                fail_mid_stream(p, "upstream sent more than its Content-Length");
                return;
        }
        soup_message_body_append_bytes(soup_server_message_get_response_body(p->msg), chunk);
        if (p->received == p->expected) {
                /* all there: finish now, the client may be done before the upstream's EOF */
                p->done = true;
                tee_commit(p);
                soup_message_body_complete(soup_server_message_get_response_body(p->msg));
        }
        soup_server_message_unpause(p->msg);
}

static void on_wrote_chunk(SoupServerMessage *msg, gpointer userdata) {
        Proxy *p = userdata;

        /* one chunk in memory at a time: read the next once the last one is on the wire */
        if (!p->done)
                read_chunk(p);
}

static void read_chunk(Proxy *p) {
        g_input_stream_read_bytes_async(p->in, CHUNK_SIZE, G_PRIORITY_DEFAULT, p->cancellable, on_chunk, p);
}

static void on_upstream_sent(GObject *source, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        GInputStream *in = soup_session_send_finish(SOUP_SESSION(source), res, &error);
        Proxy *p = userdata;
        SoupMessageHeaders *up_headers, *headers;
        g_autofree char *why = NULL;
        guint status;

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && !p->finished_id) {
                proxy_free(p); /* client left while we were connecting */
                return;
        }
        if (!in) {
                g_autofree char *etag = NULL, *modified = NULL;
                g_autoptr(GBytes) cached = cache_lookup(p, &etag, &modified);
                if (cached) {
                        px_log_warning(p->mac, PHASE, "upstream %s unreachable (%s); serving the cached copy",
                                       p->url_for_log, error->message);
                        serve_cached(p, cached, "upstream unreachable");
                        proxy_free(p);
                        return;
                }
                fail_before_body(p, SOUP_STATUS_BAD_GATEWAY, error->message);
                return;
        }
        p->in = in;
        status = soup_message_get_status(p->upstream);
        if (status == SOUP_STATUS_NOT_MODIFIED) {
                g_autofree char *etag = NULL, *modified = NULL;
                g_autoptr(GBytes) cached = cache_lookup(p, &etag, &modified);
                if (cached) {
                        serve_cached(p, cached, "not modified");
                        proxy_free(p);
                        return;
                }
        }
        if (status != SOUP_STATUS_OK) {
                why = g_strdup_printf("HTTP %u %s", status, soup_message_get_reason_phrase(p->upstream));
                fail_before_body(p, SOUP_STATUS_BAD_GATEWAY, why);
                return;
        }
        up_headers = soup_message_get_response_headers(p->upstream);
        if (soup_message_headers_get_encoding(up_headers) != SOUP_ENCODING_CONTENT_LENGTH) {
                /* iPXE crawls without a length; refuse rather than serve it slowly */
                fail_before_body(p, SOUP_STATUS_BAD_GATEWAY, "upstream sent no Content-Length");
                return;
        }
        p->expected = (guint64) soup_message_headers_get_content_length(up_headers);
        if (p->expected > p->max_bytes) {
                why = g_strdup_printf("%" G_GUINT64_FORMAT " bytes is more than the limit of %" G_GUINT64_FORMAT,
                                      p->expected, p->max_bytes);
                fail_before_body(p, SOUP_STATUS_BAD_GATEWAY, why);
                return;
        }

        headers = soup_server_message_get_response_headers(p->msg);
        soup_server_message_set_status(p->msg, SOUP_STATUS_OK, NULL);
        soup_message_headers_set_content_type(headers, "application/octet-stream", NULL);
        soup_message_headers_set_encoding(headers, SOUP_ENCODING_CONTENT_LENGTH);
        soup_message_headers_set_content_length(headers, (goffset) p->expected);
        soup_message_body_set_accumulate(soup_server_message_get_response_body(p->msg), FALSE);
        p->streaming = true;
        if (soup_server_message_get_method(p->msg) == SOUP_METHOD_HEAD || p->expected == 0) {
                p->done = true;
                soup_message_body_complete(soup_server_message_get_response_body(p->msg));
                soup_server_message_unpause(p->msg);
                return;
        }
        p->wrote_chunk_id = g_signal_connect(p->msg, "wrote-chunk", G_CALLBACK(on_wrote_chunk), p);
        tee_start(p);
        read_chunk(p);
}

void px_http_proxy_serve(SoupServerMessage *msg, const char *url, const PxProxyOptions *o) {
        Proxy *p = g_new0(Proxy, 1);

        p->msg = g_object_ref(msg);
        p->cancellable = g_cancellable_new();
        p->max_bytes = o->max_bytes;
        p->url_for_log = url_without_query(url);
        p->mac = g_strdup(o->log_mac);
        p->name = g_strdup(o->log_name ? o->log_name : "file");
        p->url = g_strdup(url);
        p->tee_fd = -1;
        if (o->cache_dir) {
                g_autofree char *key = g_compute_checksum_for_string(G_CHECKSUM_SHA256, url, -1);
                p->cache_path = g_build_filename(o->cache_dir, key, NULL);
        }
        p->upstream = soup_message_new(SOUP_METHOD_GET, url);
        if (!p->upstream) {
                soup_server_message_pause(msg);
                fail_before_body(p, SOUP_STATUS_BAD_GATEWAY, "invalid URL");
                return;
        }
        if (p->cache_path) {
                g_autofree char *etag = NULL, *modified = NULL;
                g_autoptr(GBytes) cached = cache_lookup(p, &etag, &modified);
                SoupMessageHeaders *h = soup_message_get_request_headers(p->upstream);
                if (cached && etag)
                        soup_message_headers_replace(h, "If-None-Match", etag);
                if (cached && modified)
                        soup_message_headers_replace(h, "If-Modified-Since", modified);
        }
        p->finished_id = g_signal_connect(msg, "finished", G_CALLBACK(on_client_finished), p);
        soup_server_message_pause(msg);
        soup_session_send_async(o->session, p->upstream, G_PRIORITY_DEFAULT, p->cancellable, on_upstream_sent, p);
}
