/* SPDX-License-Identifier: Apache-2.0 */
#include "http-proxy.h"

#include <string.h>

#include "px-log.h"

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
} Proxy;

static void proxy_free(Proxy *p) {
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
                soup_message_body_complete(soup_server_message_get_response_body(p->msg));
                soup_server_message_unpause(p->msg);
                return;
        }
        p->received += g_bytes_get_size(chunk);
        if (p->received > p->expected) {
                fail_mid_stream(p, "upstream sent more than its Content-Length");
                return;
        }
        soup_message_body_append_bytes(soup_server_message_get_response_body(p->msg), chunk);
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
                fail_before_body(p, SOUP_STATUS_BAD_GATEWAY, error->message);
                return;
        }
        p->in = in;
        status = soup_message_get_status(p->upstream);
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
        p->upstream = soup_message_new(SOUP_METHOD_GET, url);
        if (!p->upstream) {
                soup_server_message_pause(msg);
                fail_before_body(p, SOUP_STATUS_BAD_GATEWAY, "invalid URL");
                return;
        }
        p->finished_id = g_signal_connect(msg, "finished", G_CALLBACK(on_client_finished), p);
        soup_server_message_pause(msg);
        soup_session_send_async(o->session, p->upstream, G_PRIORITY_DEFAULT, p->cancellable, on_upstream_sent, p);
}
