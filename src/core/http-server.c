/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP (libsoup): boot scripts, PXELINUX configs and support files, kernels and initrds.
 * Always with Content-Length (iPXE crawls without it); Range handled by libsoup. We accept the
 * connections ourselves (caps per client and in total, a deadline for the request) and send big
 * file bodies without copying them; libsoup parses requests and writes everything else. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <string.h>
#include <glib-unix.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bootscript.h"
#include "file-id.h"
#include "http-proxy.h"
#include "http-route.h"
#include "manager.h"
#include "px-build-config.h"
#include "px-fileio.h"
#include "px-log.h"

#define PHASE "http"

/* Files at least this big skip libsoup's body writer: after libsoup has written the headers we
 * take the connection over and send the body without copying it: sendfile() from the file the
 * data is mapped from, or else vmsplice()+splice() of the mapped pages. Copying (what libsoup
 * does) costs three times the CPU per byte. Smaller files are not worth it. */
#define ZEROCOPY_MIN_SIZE   (64 * 1024)
#define ZEROCOPY_PIPE_SIZE  (256 * 1024)
#define SEND_BURST          (1 * 1024 * 1024) /* per wakeup, so that one client cannot hog the loop */
#define SEND_STALL_USEC     (60 * G_USEC_PER_SEC)
#define SWEEP_INTERVAL_MSEC 250
#define ACCEPT_BATCH        64
#define REFUSAL_LOG_USEC    (10 * G_USEC_PER_SEC)
#define KEEPALIVE_MAX       32 /* requests on one connection (each one wraps its stream once more) */

/* Our own accept loop in front of libsoup: it counts connections per client address and in
 * total, closes those over the caps at once, and drops connections whose request has not been
 * read by the deadline (slowloris). A connection is tracked until libsoup (or the zero-copy
 * sender) lets go of its GSocketConnection. */
typedef struct HttpConn {
        PxManager *manager;
        uint64_t id;
        char *peer;             /* client address; the key of the per-client count */
        GSocket *socket;        /* borrowed: the connection object owns it */
        GObject *connection;    /* the GSocketConnection given to libsoup; weak reference */
        uint64_t deadline_usec; /* monotonic; 0 once the request has been read */
        bool timed_out;
        unsigned requests; /* read on this connection */
} HttpConn;

typedef struct Sender Sender;

typedef struct PxHttpConns {
        GSocket *listener;
        GSource *accept_source;
        GSource *accept_retry;
        GSource *sweep;
        GHashTable *by_id;    /* uint64 id -> HttpConn (owned) */
        GHashTable *per_peer; /* address text -> count */
        GHashTable *senders;  /* Sender set (owned) */
        int epoll_fd;         /* the senders' sockets */
        GSource *epoll_source;
        uint64_t next_id;
        HttpConn *accepting; /* while soup_server_accept_iostream() runs */
} PxHttpConns;

#define CONN_ID_KEY "px-http-conn-id"

/* Progress of one file download, tied to the message's lifetime. The session is looked up
 * again on every update: it may expire while a slow client is still downloading. */
typedef struct Download {
        PxManager *manager;
        uint8_t mac[6];
        bool has_mac;
        char *file;
        uint64_t total;
        uint64_t sent;
        bool last_file; /* the boot is complete once this one is */
} Download;

static void download_free(Download *d) {
        g_free(d->file);
        g_free(d);
}

static void text_response(SoupServerMessage *msg, guint status, const char *content_type, char *body) {
        soup_server_message_set_status(msg, status, NULL);
        soup_server_message_set_response(msg, content_type, SOUP_MEMORY_TAKE, body, strlen(body));
}

static void not_found(PxManager *m, SoupServerMessage *msg, const char *path) {
        m->http_stats.not_found++;
        text_response(msg, SOUP_STATUS_NOT_FOUND, "text/plain",
                      g_strdup_printf("pixiecore: nothing at %s.\nThis server only serves files to machines that "
                                      "are netbooting from it.\n",
                                      path));
}

/* Base URL that the booting machine can reach us at: the connection's local address and our
 * port. Never the Host header, which the client controls and scripts would carry. */
static char *base_url(SoupServerMessage *msg) {
        GSocketAddress *local = soup_server_message_get_local_address(msg);
        g_autofree char *ip = NULL;
        guint16 port;

        if (!G_IS_INET_SOCKET_ADDRESS(local))
                return g_strdup("http://0.0.0.0");
        GInetAddress *addr = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(local));
        port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
        if (g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6) {
                /* v4-mapped peers (dual-stack sockets) get the plain IPv4 form */
                const guint8 *b = g_inet_address_to_bytes(addr);
                static const guint8 v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
                if (memcmp(b, v4mapped, 12) == 0)
                        ip = g_strdup_printf("%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
                else {
                        g_autofree char *s = g_inet_address_to_string(addr);
                        ip = g_strdup_printf("[%s]", s);
                }
        } else
                ip = g_inet_address_to_string(addr);
        return port == 80 ? g_strdup_printf("http://%s", ip) : g_strdup_printf("http://%s:%u", ip, port);
}

static PxSession *session_for(PxManager *m, const uint8_t mac[6], SoupServerMessage *msg) {
        PxSession *s = px_session_table_ensure(m->sessions, mac, false);
        GSocketAddress *remote = soup_server_message_get_remote_address(msg);

        if (G_IS_INET_SOCKET_ADDRESS(remote)) {
                GInetAddress *a = g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(remote));
                if (g_inet_address_get_family(a) == G_SOCKET_FAMILY_IPV4) {
                        struct in_addr in;
                        memcpy(&in, g_inet_address_to_bytes(a), 4);
                        px_session_set_client_addr(s, in);
                }
        }
        return s;
}

/* ---- boot script / config ---- */

typedef enum ScriptKind {
        SCRIPT_IPXE,
        SCRIPT_PXELINUX,
} ScriptKind;

typedef struct ScriptRequest {
        PxManager *manager;
        SoupServerMessage *msg;
        ScriptKind kind;
        uint8_t mac[6];
        bool answered;
        bool paused;
        GCancellable *cancellable;
        gulong finished_id;
} ScriptRequest;

static void script_request_free(ScriptRequest *r) {
        if (r->finished_id)
                g_signal_handler_disconnect(r->msg, r->finished_id);
        g_object_unref(r->msg);
        g_object_unref(r->cancellable);
        g_free(r);
}

static void on_script_msg_finished(SoupServerMessage *msg, gpointer userdata) {
        ScriptRequest *r = userdata;
        /* client went away while the policy was thinking */
        g_cancellable_cancel(r->cancellable);
}

static void script_answered(PxBootSpec *spec, const char *reason, void *userdata) {
        ScriptRequest *r = userdata;
        PxManager *m = r->manager;

        r->answered = true;
        if (g_cancellable_is_cancelled(r->cancellable))
                return; /* the client is gone, or we are shutting down */
        char mac[PX_MAC_STRLEN], dashed[PX_MAC_STRLEN];
        g_autofree char *base = base_url(r->msg);
        g_autofree char *body = NULL;
        PxSession *session = px_session_table_lookup(m->sessions, r->mac);

        px_mac_to_string(r->mac, mac);
        px_mac_to_dashed(r->mac, dashed);

        if (!spec) {
                px_log_info(mac, PHASE, "not booting this machine: %s", reason ? reason : "policy");
                if (session)
                        px_session_set_ignored(session, reason ? reason : "policy");
                if (r->kind == SCRIPT_IPXE)
                        body = px_ipxe_script_render_refusal(reason);
                else
                        body = px_pxelinux_config_render_local(reason);
        } else if (r->kind == SCRIPT_IPXE && spec->ipxe_script) {
                body = g_strdup(spec->ipxe_script);
        } else {
                g_autoptr(GPtrArray) initrds = g_ptr_array_new_with_free_func(g_free);
                g_autofree char *kernel = g_strdup_printf("%s/_/file/%s/%s", base, dashed, spec->kernel_id);
                g_autofree char *booting = g_strdup_printf("%s/_/booting?mac=%s", base, mac);
                g_autofree char *retry = g_strdup_printf("%s/_/ipxe?mac=%s", base, mac);
                PxBootScript script = {
                        .kernel_url = kernel,
                        .cmdline = spec->cmdline,
                        .message = spec->message,
                        .booting_url = booting,
                        .retry_url = retry,
                };

                for (char **i = spec->initrd_ids; i && *i; i++)
                        g_ptr_array_add(initrds, g_strdup_printf("%s/_/file/%s/%s", base, dashed, *i));
                g_ptr_array_add(initrds, NULL);
                script.initrd_urls = (const char *const *) initrds->pdata;
                body = r->kind == SCRIPT_IPXE ? px_ipxe_script_render(&script) : px_pxelinux_config_render(&script);
                if (!body) {
                        /* the renderer refused an input that would change the script's meaning */
                        px_log_warning(mac, PHASE, "refusing to send a boot script: unsafe cmdline, message or URL");
                        text_response(r->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "text/plain",
                                      g_strdup("pixiecore: cannot build a safe boot script for this machine\n"));
                        if (r->paused)
                                soup_server_message_unpause(r->msg);
                        return;
                }
                px_layered_policy_consumed(m->policy, r->mac, spec);
                if (session) {
                        px_session_set_spec(session, spec);
                        px_session_set_target_source(session, spec->source);
                        px_session_begin_file(session, PX_SESSION_SCRIPT_SENT,
                                              r->kind == SCRIPT_IPXE ? "boot.ipxe" : "pxelinux.cfg", strlen(body));
                        /* a few hundred bytes, handed to libsoup in one piece */
                        px_session_set_progress(session, strlen(body));
                }
                px_log_info(mac, PHASE, "sent %s", r->kind == SCRIPT_IPXE ? "iPXE script" : "PXELINUX config");
        }
        text_response(r->msg, SOUP_STATUS_OK, "text/plain", g_steal_pointer(&body));
        if (r->paused)
                soup_server_message_unpause(r->msg);
}

static void policy_callback(PxBootSpec *spec, const char *reason, void *userdata) {
        ScriptRequest *r = userdata;

        script_answered(spec, reason, r);
        if (r->paused)
                script_request_free(r); /* otherwise the handler frees it */
}

static void serve_script(PxManager *m, SoupServerMessage *msg, ScriptKind kind, const uint8_t mac[6]) {
        ScriptRequest *r = g_new0(ScriptRequest, 1);
        PxSession *session = session_for(m, mac, msg);
        g_autofree char *base = base_url(msg);
        PxMachine machine = {.firmware = session->firmware, .arch = session->arch, .base_url = base};

        r->manager = m;
        r->msg = g_object_ref(msg);
        r->kind = kind;
        memcpy(r->mac, mac, 6);
        memcpy(machine.mac, mac, 6);
        r->cancellable = g_cancellable_new();
        r->finished_id = g_signal_connect(msg, "finished", G_CALLBACK(on_script_msg_finished), r);

        m->policy->resolve(m->policy, &machine, r->cancellable, policy_callback, r);
        if (r->answered) {
                script_request_free(r);
                return;
        }
        /* the policy answers later (API mode) */
        r->paused = true;
        soup_server_message_pause(msg);
}

/* ---- files ---- */

static void download_progress(Download *d, uint64_t chunk) {
        PxSession *s;

        d->sent += chunk;
        d->manager->http_stats.bytes_sent += chunk;
        if (d->has_mac && (s = px_session_table_lookup(d->manager->sessions, d->mac)) &&
            g_strcmp0(s->current_file, d->file) == 0)
                px_session_set_progress(s, d->sent);
}

static void on_wrote_body_data(SoupServerMessage *msg, guint chunk, gpointer userdata) {
        download_progress(userdata, chunk);
}

static void download_finished(Download *d, guint status) {
        char mac[PX_MAC_STRLEN] = "";
        PxSession *s = NULL;
        bool complete = (status == SOUP_STATUS_OK || status == SOUP_STATUS_PARTIAL_CONTENT) && d->sent >= d->total;

        if (d->has_mac) {
                px_mac_to_string(d->mac, mac);
                s = px_session_table_lookup(d->manager->sessions, d->mac);
        }
        if (status != SOUP_STATUS_OK && status != SOUP_STATUS_PARTIAL_CONTENT)
                return; /* the failure was logged where it happened */
        if (complete)
                px_log_info_ratelimited(d->has_mac ? mac : NULL, PHASE, "sent %s (%" G_GUINT64_FORMAT " bytes)",
                                        d->file, d->sent);
        else
                px_log_info_ratelimited(d->has_mac ? mac : NULL, PHASE,
                                        "transfer of %s ended after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                        " bytes",
                                        d->file, d->sent, d->total);
        if (s && complete && d->last_file && g_strcmp0(s->current_file, d->file) == 0)
                px_session_set_state(s, PX_SESSION_BOOTING);
}

static void on_download_finished(SoupServerMessage *msg, gpointer userdata) {
        download_finished(userdata, soup_server_message_get_status(msg));
}

static void on_proxy_headers(SoupServerMessage *msg, gpointer userdata) {
        Download *d = userdata;
        PxSession *s;
        goffset length = soup_message_headers_get_content_length(soup_server_message_get_response_headers(msg));

        if (soup_server_message_get_status(msg) != SOUP_STATUS_OK)
                return;
        d->total = (uint64_t) length;
        if ((s = px_session_table_lookup(d->manager->sessions, d->mac)) && g_strcmp0(s->current_file, d->file) == 0) {
                s->bytes_total = d->total;
                px_session_set_progress(s, 0);
        }
}

/* ---- zero-copy file bodies ---- */

struct Sender {
        PxManager *manager;
        uint64_t conn_id;
        GIOStream *stream; /* taken from libsoup: holds the connection (and its socket) open */
        GSocket *socket;   /* borrowed from the connection */
        GBytes *data;
        const uint8_t *bytes;
        size_t size;
        size_t offset;      /* handed to the pipe (or sent) */
        size_t in_pipe;     /* in the pipe, not yet in the socket */
        int file;           /* the file data is mapped from, for sendfile(); -1: none (not ours) */
        int pipe[2];        /* -1: plain send() from the mapping */
        bool polled;        /* in the senders' epoll set */
        bool keep_alive;    /* hand the connection back to libsoup for the next request */
        Download *download; /* NULL: no session progress (HEAD never gets here) */
        uint64_t progress_usec;
};

static void sender_free(Sender *s) {
        if (!s)
                return;
        if (s->polled)
                (void) epoll_ctl(s->manager->http_conns->epoll_fd, EPOLL_CTL_DEL, g_socket_get_fd(s->socket), NULL);
        if (s->pipe[0] >= 0)
                close(s->pipe[0]);
        if (s->pipe[1] >= 0)
                close(s->pipe[1]);
        if (s->socket)
                (void) g_socket_close(s->socket, NULL);
        g_clear_object(&s->stream);
        g_bytes_unref(s->data);
        if (s->download)
                download_free(s->download);
        g_free(s);
}

/* Ends the transfer (complete or not: the log line tells from the byte count); the Sender goes
 * away with the connection. */
static void sender_done(Sender *s) {
        PxManager *m = s->manager;

        if (s->download)
                download_finished(s->download, SOUP_STATUS_OK);
        g_hash_table_remove(m->http_conns->senders, s); /* frees it */
}

static void conn_hand_over(PxManager *m, HttpConn *c, GIOStream *stream);

/* The whole body went out on a keep-alive connection: libsoup reads the next request from it
 * (libsoup 3.2 keeps no connection of its own alive without listeners, so we do), under a new
 * request deadline, which also ends idle connections. */
static void sender_keep_alive(Sender *s) {
        PxManager *m = s->manager;
        HttpConn *c = g_hash_table_lookup(m->http_conns->by_id, &s->conn_id);
        g_autoptr(GIOStream) stream = g_object_ref(s->stream);

        (void) g_socket_set_option(s->socket, IPPROTO_TCP, TCP_CORK, FALSE, NULL); /* flush the tail */
        (void) epoll_ctl(m->http_conns->epoll_fd, EPOLL_CTL_DEL, g_socket_get_fd(s->socket), NULL);
        s->polled = false;
        s->socket = NULL; /* not ours to close any more */
        sender_done(s);
        if (c)
                conn_hand_over(m, c, stream);
}

static void sender_sent(Sender *s, size_t n) {
        s->progress_usec = g_get_monotonic_time();
        if (s->download)
                download_progress(s->download, n); /* counts the bytes too */
        else
                s->manager->http_stats.bytes_sent += n;
}

/* Moves as much as the socket takes now. 1: all sent, 0: the socket is full, <0: errno. */
static int sender_push(Sender *s) {
        int fd = g_socket_get_fd(s->socket);
        size_t burst = 0;

        while (burst < SEND_BURST) {
                ssize_t n;

                if (s->in_pipe > 0) {
                        unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
                        if (s->offset < s->size)
                                flags |= SPLICE_F_MORE;
                        n = splice(s->pipe[0], NULL, fd, NULL, s->in_pipe, flags);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return errno == EAGAIN ? 0 : -errno;
                        }
                        s->in_pipe -= (size_t) n;
                        burst += (size_t) n;
                        sender_sent(s, (size_t) n);
                        continue;
                }
                if (s->offset >= s->size)
                        return 1;

                if (s->file >= 0) {
                        off_t off = (off_t) s->offset;
                        n = sendfile(fd, s->file, &off, MIN(s->size - s->offset, (size_t) SEND_BURST - burst));
                        if (n > 0) {
                                s->offset += (size_t) n;
                                burst += (size_t) n;
                                sender_sent(s, (size_t) n);
                                continue;
                        }
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 && errno == EAGAIN)
                                return 0;
                        if (n < 0 && errno != EINVAL && errno != ENOSYS)
                                return -errno;
                        /* the file shrank, or cannot be sent from: the mapping from here on */
                        s->file = -1;
                        continue;
                }

                size_t len = MIN(s->size - s->offset, (size_t) ZEROCOPY_PIPE_SIZE);
                if (s->pipe[0] >= 0) {
                        /* the pipe takes references to the mapped pages, not copies */
                        struct iovec iov = {.iov_base = (void *) (s->bytes + s->offset), .iov_len = len};
                        n = vmsplice(s->pipe[1], &iov, 1, SPLICE_F_NONBLOCK);
                        if (n > 0) {
                                s->offset += (size_t) n;
                                s->in_pipe += (size_t) n;
                                continue;
                        }
                        if (n < 0 && errno == EINTR)
                                continue;
                        /* cannot splice this memory: copy from here on (the pipe is empty) */
                        close(s->pipe[0]);
                        close(s->pipe[1]);
                        s->pipe[0] = s->pipe[1] = -1;
                }
                n = send(fd, s->bytes + s->offset, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                s->offset += (size_t) n;
                burst += (size_t) n;
                sender_sent(s, (size_t) n);
        }
        return 0; /* more to do, after the others had their turn */
}

static void sender_run(Sender *s) {
        int r = sender_push(s);

        if (r == 0)
                return;
        if (r < 0)
                px_log_debug(NULL, PHASE, "sending to client failed: %s", g_strerror(-r));
        if (r > 0 && s->keep_alive)
                sender_keep_alive(s);
        else
                sender_done(s);
}

/* All senders' sockets are in one epoll set, which the main loop polls as one fd: GLib's
 * poll() over dozens of busy sockets cost a quarter of the CPU time at 64 downloads. */
static gboolean on_senders_ready(int fd, GIOCondition cond, gpointer userdata) {
        struct epoll_event events[64];
        int n = epoll_wait(fd, events, G_N_ELEMENTS(events), 0);

        /* level-triggered: a sender that stopped at its burst limit is picked up again */
        for (int i = 0; i < n; i++)
                sender_run(events[i].data.ptr);
        return G_SOURCE_CONTINUE;
}

static void sweep_start(PxManager *m);

/* What a file response needs once libsoup has written its headers. */
typedef struct ZeroCopy {
        PxManager *manager;
        uint64_t conn_id;
        GBytes *data;
        Download *download;
        bool keep_alive;
} ZeroCopy;

static void zero_copy_free(ZeroCopy *z) {
        g_bytes_unref(z->data);
        if (z->download)
                download_free(z->download);
        g_free(z);
}

static void on_zero_copy_headers(SoupServerMessage *msg, gpointer userdata) {
        ZeroCopy *z = userdata;
        PxManager *m = z->manager;
        HttpConn *c = m->http_conns ? g_hash_table_lookup(m->http_conns->by_id, &z->conn_id) : NULL;
        Sender *s;

        if (!c)
                return; /* shutting down; otherwise it cannot happen: libsoup is writing to it */
        s = g_new0(Sender, 1);
        s->manager = m;
        s->conn_id = z->conn_id;
        s->socket = c->socket;
        s->data = g_steal_pointer(&z->data);
        s->bytes = g_bytes_get_data(s->data, &s->size);
        s->download = g_steal_pointer(&z->download);
        s->file = px_mapped_file_fd(s->data); /* lives as long as s->data */
        s->keep_alive = z->keep_alive;
        s->pipe[0] = s->pipe[1] = -1;
        s->progress_usec = g_get_monotonic_time();
        if (s->file < 0) {
                /* no file to send from: splice the mapped pages (or copy, without a pipe) */
                if (pipe2(s->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                        s->pipe[0] = s->pipe[1] = -1;
                else
                        (void) fcntl(s->pipe[1], F_SETPIPE_SZ, ZEROCOPY_PIPE_SIZE);
        }
        /* may free msg and z */
        s->stream = soup_server_message_steal_connection(msg);
        g_hash_table_add(m->http_conns->senders, s);
        if (!s->stream) {
                s->socket = NULL; /* still libsoup's */
                sender_done(s);
                return;
        }
        struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = s};
        if (epoll_ctl(m->http_conns->epoll_fd, EPOLL_CTL_ADD, g_socket_get_fd(s->socket), &ev) < 0) {
                px_log_warning(NULL, PHASE, "cannot wait for a client: %m");
                sender_done(s);
                return;
        }
        s->polled = true;
        /* full segments only, like nginx's tcp_nopush: the tail goes out when we close */
        (void) g_socket_set_option(s->socket, IPPROTO_TCP, TCP_CORK, TRUE, NULL);
        sweep_start(m); /* watches for a client that stops reading */
        sender_run(s);  /* the socket is most likely writable now */
}

/* The connection of a message, when it came through our accept loop. */
static HttpConn *conn_of(PxManager *m, SoupServerMessage *msg) {
        uint64_t *id = g_object_get_data(G_OBJECT(msg), CONN_ID_KEY);
        return id && m->http_conns ? g_hash_table_lookup(m->http_conns->by_id, id) : NULL;
}

static bool serve_zero_copy(PxManager *m, SoupServerMessage *msg, GBytes *data, Download *d) {
        SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
        HttpConn *c;
        ZeroCopy *z;

        if (g_bytes_get_size(data) < ZEROCOPY_MIN_SIZE || soup_server_message_get_method(msg) != SOUP_METHOD_GET ||
            soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Range") ||
            !(c = conn_of(m, msg)))
                return false;
        z = g_new0(ZeroCopy, 1);
        z->manager = m;
        z->conn_id = c->id;
        z->data = g_bytes_ref(data);
        z->download = d;
        /* HTTP/1.1 clients keep the connection unless they say otherwise (a file of ours is
         * the only response that does not close it) */
        z->keep_alive = soup_server_message_get_http_version(msg) == SOUP_HTTP_1_1 && c->requests < KEEPALIVE_MAX &&
                        !soup_message_headers_header_contains(soup_server_message_get_request_headers(msg),
                                                              "Connection", "close");
        if (z->keep_alive)
                soup_message_headers_remove(h, "Connection");
        /* libsoup writes the status line and headers; the body stays empty and is ours */
        soup_message_headers_set_content_length(h, (goffset) g_bytes_get_size(data));
        g_signal_connect_data(msg, "wrote-headers", G_CALLBACK(on_zero_copy_headers), z,
                              (GClosureNotify) (void (*)(void)) zero_copy_free, 0);
        return true;
}

static void serve_bytes(PxManager *m, SoupServerMessage *msg, GBytes *data, Download *d) {
        SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);

        soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
        soup_message_headers_set_content_type(h, "application/octet-stream", NULL);
        soup_message_headers_replace(h, "Accept-Ranges", "bytes");
        if (serve_zero_copy(m, msg, data, d))
                return;
        soup_message_body_append_bytes(soup_server_message_get_response_body(msg), data);
        if (d) {
                g_signal_connect(msg, "wrote-body-data", G_CALLBACK(on_wrote_body_data), d);
                g_signal_connect_data(msg, "finished", G_CALLBACK(on_download_finished), d,
                                      (GClosureNotify) (void (*)(void)) download_free, 0);
        }
}

/* ret_index: -1 for the kernel, else the initrd's position. */
static bool spec_find_file(const PxBootSpec *spec, const char *id, bool *ret_last, int *ret_index) {
        unsigned n = spec->initrd_ids ? g_strv_length(spec->initrd_ids) : 0;

        if (g_strcmp0(spec->kernel_id, id) == 0) {
                *ret_last = n == 0;
                *ret_index = -1;
                return true;
        }
        for (unsigned i = 0; i < n; i++)
                if (g_str_equal(spec->initrd_ids[i], id)) {
                        *ret_last = i == n - 1;
                        *ret_index = (int) i;
                        return true;
                }
        return false;
}

static bool spec_lists_file(const PxBootSpec *spec, const char *id, bool *ret_last) {
        int unused;
        return spec_find_file(spec, id, ret_last, &unused);
}

typedef struct FileLookup {
        bool done;
        bool listed;
        bool last;
        const char *id;
} FileLookup;

static void file_policy_answer(PxBootSpec *spec, const char *reason, void *userdata) {
        FileLookup *l = userdata;
        l->done = true;
        l->listed = spec && spec_lists_file(spec, l->id, &l->last);
}

/* API mode: the ID itself says which URL, sealed for this machine. */
static void serve_sealed_file(PxManager *m, SoupServerMessage *msg, const char *path, const uint8_t mac[6],
                              const char *id) {
        g_autoptr(GError) error = NULL;
        g_autofree char *url = NULL;
        char mac_str[PX_MAC_STRLEN];
        PxSession *session;
        PxSessionState state = PX_SESSION_LOADING_INITRD;
        bool last = false, listed = false;
        Download *d = NULL;

        px_mac_to_string(mac, mac_str);
        if (strlen(id) < PX_FILE_ID_RAW_OVERHEAD) {
                /* not even shaped like a sealed link: an unknown static name */
                not_found(m, msg, path);
                return;
        }
        if (!px_file_id_open(m->file_ids, id, mac, &url, NULL, &error)) {
                bool expired = g_error_matches(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_EXPIRED);
                px_log_info(mac_str, PHASE, "refused file ID: %s", error->message);
                m->http_stats.not_found++;
                text_response(msg, expired ? SOUP_STATUS_NOT_FOUND : SOUP_STATUS_FORBIDDEN, "text/plain",
                              g_strdup(expired ? "pixiecore: this file link has expired\n"
                                               : "pixiecore: not a file link for this machine\n"));
                return;
        }

        session = session_for(m, mac, msg);
        int index = 0;
        if (session->spec) {
                listed = spec_find_file(session->spec, id, &last, &index);
                if (listed && index < 0)
                        state = PX_SESSION_LOADING_KERNEL;
        }
        /* the same names as static mode's files, so watchers see one file after the other */
        g_autofree char *name = !listed                              ? g_strdup("file")
                                : state == PX_SESSION_LOADING_KERNEL ? g_strdup("kernel")
                                                                     : g_strdup_printf("initrd-%d", index);

        if (soup_server_message_get_method(msg) == SOUP_METHOD_GET && listed) {
                d = g_new0(Download, 1);
                d->manager = m;
                memcpy(d->mac, mac, 6);
                d->has_mac = true;
                d->file = g_strdup(name);
                d->last_file = last;
        }

        if (g_str_has_prefix(url, "file://")) {
                g_autofree char *local = g_filename_from_uri(url, NULL, &error);
                g_autoptr(GBytes) data = local ? px_map_file(local, &error) : NULL;

                if (!data) {
                        px_log_warning(mac_str, PHASE, "cannot serve %s: %s", name, error->message);
                        if (d)
                                download_free(d);
                        not_found(m, msg, path);
                        return;
                }
                if (d) {
                        d->total = g_bytes_get_size(data);
                        px_session_begin_file(session, state, name, d->total);
                }
                serve_bytes(m, msg, data, d);
                return;
        }

        PxProxyOptions options = {
                .session = m->upstream,
                .max_bytes = m->config->upstream_max_bytes,
                .log_mac = mac_str,
                .log_name = name,
                .cache_dir = m->cache_dir,
        };
        if (d) {
                /* the total is known once the upstream answers; progress counts what we wrote */
                px_session_begin_file(session, state, name, 0);
                g_signal_connect(msg, "wrote-body-data", G_CALLBACK(on_wrote_body_data), d);
                g_signal_connect_data(msg, "finished", G_CALLBACK(on_download_finished), d,
                                      (GClosureNotify) (void (*)(void)) download_free, 0);
                g_signal_connect(msg, "wrote-headers", G_CALLBACK(on_proxy_headers), d);
        }
        px_http_proxy_serve(msg, url, &options);
}

/* /_/file/<mac>/<id>, split by px_http_route_parse(): only IDs the machine's boot spec names. */
static void serve_boot_file(PxManager *m, SoupServerMessage *msg, const char *path, const uint8_t mac[6],
                            const char *id) {
        g_autoptr(GBytes) data = NULL;
        FileLookup lookup = {};
        PxSession *session;
        Download *d;

        if (!px_file_store_contains(m->files, id)) {
                serve_sealed_file(m, msg, path, mac, id);
                return;
        }
        /* Static targets are known at once; an asynchronous policy has been asked for the
         * script already, and file IDs there are self-authenticating (API mode). */
        PxMachine machine = {};
        memcpy(machine.mac, mac, 6);
        lookup.id = id;
        m->policy->resolve(m->policy, &machine, NULL, file_policy_answer, &lookup);
        if (!lookup.done || !lookup.listed || !(data = px_file_store_get(m->files, id))) {
                not_found(m, msg, path);
                return;
        }

        session = session_for(m, mac, msg);
        d = g_new0(Download, 1);
        d->manager = m;
        memcpy(d->mac, mac, 6);
        d->has_mac = true;
        d->file = g_strdup(id);
        d->total = g_bytes_get_size(data);
        d->last_file = lookup.last;
        if (soup_server_message_get_method(msg) != SOUP_METHOD_GET) {
                download_free(d); /* HEAD: no body, no progress */
                serve_bytes(m, msg, data, NULL);
                return;
        }
        px_session_begin_file(session,
                              g_str_equal(id, "kernel") || g_str_has_prefix(id, "kernel") ? PX_SESSION_LOADING_KERNEL
                                                                                          : PX_SESSION_LOADING_INITRD,
                              id, d->total);
        serve_bytes(m, msg, data, d);
}

static void serve_loader(PxManager *m, SoupServerMessage *msg, const char *path, const PxLoader *loader) {
        g_autoptr(GBytes) data = px_file_store_get(m->files, loader->store_id);

        if (!data) {
                not_found(m, msg, path);
                return;
        }
        px_log_debug(NULL, PHASE, "serving %s", loader->name);
        serve_bytes(m, msg, data, NULL);
}

static void handle_request(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                           gpointer userdata) {
        PxManager *m = userdata;
        const char *method = soup_server_message_get_method(msg);
        PxHttpRoute route;

        m->http_stats.requests++;
        /* libsoup 3.2 never notices a client closing an idle keep-alive connection (the socket
         * stays in CLOSE_WAIT until the process exits), so a LAN host could exhaust our file
         * descriptors: close after every response. Firmware opens one connection per file anyway. */
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection", "close");
        if (px_log_debug_enabled()) {
                GSocketAddress *remote = soup_server_message_get_remote_address(msg);
                g_autofree char *who = remote && G_IS_INET_SOCKET_ADDRESS(remote)
                                               ? g_inet_address_to_string(g_inet_socket_address_get_address(
                                                         G_INET_SOCKET_ADDRESS(remote)))
                                               : g_strdup("?");
                px_log_debug(NULL, PHASE, "%s %s from %s", method, path, who);
        }

        if (method != SOUP_METHOD_GET && method != SOUP_METHOD_HEAD) {
                soup_server_message_set_status(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, NULL);
                soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Allow", "GET, HEAD");
                return;
        }

        /* libsoup has decoded the path (and answered 400 to "%00" and to new ".." segments);
         * the router decodes the raw query the way soup_form_decode() does */
        if (px_http_route_parse(path, g_uri_get_query(soup_server_message_get_uri(msg)), &route) < 0) {
                not_found(m, msg, path);
                return;
        }
        switch (route.kind) {
        case PX_HTTP_ROUTE_ROOT:
                text_response(msg, SOUP_STATUS_OK, "text/plain",
                              g_strdup_printf("pixiecore %s: a PXE boot server.\nMachines netbooting on this network "
                                              "fetch their boot files here; there is nothing to browse.\n",
                                              PACKAGE_VERSION));
                return;
        case PX_HTTP_ROUTE_BAD_REQUEST:
                text_response(msg, SOUP_STATUS_BAD_REQUEST, "text/plain",
                              g_strdup("missing or invalid mac parameter\n"));
                return;
        case PX_HTTP_ROUTE_IPXE_SCRIPT:
                if (route.has_arch) {
                        /* the firmware's option 93, carried from our DHCP offer: the API wants it */
                        PxSession *s = px_session_table_ensure(m->sessions, route.mac, false);
                        if (s->firmware < 0 && px_firmware_from_arch(route.arch) >= 0)
                                px_session_set_client(s, px_firmware_from_arch(route.arch), route.arch);
                }
                serve_script(m, msg, SCRIPT_IPXE, route.mac);
                return;
        case PX_HTTP_ROUTE_BOOTING:
                if (route.has_mac) {
                        PxSession *s = px_session_table_lookup(m->sessions, route.mac);
                        char text[PX_MAC_STRLEN];
                        px_mac_to_string(route.mac, text);
                        if (s)
                                px_session_set_state(s, PX_SESSION_BOOTING);
                        px_log_info(text, PHASE, "booting");
                }
                /* a harmless script that iPXE fetches and frees right away */
                text_response(msg, SOUP_STATUS_OK, "text/plain", g_strdup("#!ipxe\n# Booting\n"));
                return;
        case PX_HTTP_ROUTE_BOOT_FILE:
                serve_boot_file(m, msg, path, route.mac, route.name);
                return;
        case PX_HTTP_ROUTE_PXELINUX_CONFIG:
                /* PXELINUX tries 01-<mac> first, then IP-derived names and "default": the router
                 * gives the rest a quick 404. Only PXELINUX mode has configs at all. */
                if (m->config->bootloader == PX_BOOTLOADER_PXELINUX) {
                        serve_script(m, msg, SCRIPT_PXELINUX, route.mac);
                        return;
                }
                break;
        case PX_HTTP_ROUTE_LOADER: {
                const PxLoader *loader = px_manager_find_loader(m, route.name);
                if (loader) {
                        serve_loader(m, msg, path, loader);
                        return;
                }
                break;
        }
        case PX_HTTP_ROUTE_NOT_FOUND:
        case _PX_HTTP_ROUTE_KIND_MAX:
        case _PX_HTTP_ROUTE_KIND_INVALID:
                break;
        }
        not_found(m, msg, path);
}

/* ---- connections ---- */

/* A LAN host decides how often these happen: one line per REFUSAL_LOG_USEC and kind (the
 * D-Bus Counters have the totals). */
#define log_limited(...) px_log_ratelimited(REFUSAL_LOG_USEC, 1, LOG_NOTICE, NULL, PHASE, __VA_ARGS__)

static void peer_add(PxHttpConns *h, const char *peer, int delta) {
        unsigned n = GPOINTER_TO_UINT(g_hash_table_lookup(h->per_peer, peer)) + delta;

        if (n == 0)
                g_hash_table_remove(h->per_peer, peer);
        else
                g_hash_table_replace(h->per_peer, g_strdup(peer), GUINT_TO_POINTER(n));
}

static void http_conn_free(HttpConn *c) {
        g_free(c->peer);
        g_free(c);
}

/* The connection object is being finalized: libsoup (or our sender) is done with it. */
static void on_conn_gone(gpointer userdata, GObject *where_the_object_was) {
        HttpConn *c = userdata;
        PxManager *m = c->manager;

        peer_add(m->http_conns, c->peer, -1);
        m->http_stats.conns_open--;
        g_hash_table_remove(m->http_conns->by_id, &c->id);
}

static void on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer userdata) {
        PxManager *m = userdata;
        HttpConn *c = m->http_conns ? m->http_conns->accepting : NULL;

        /* Without listeners of its own, libsoup closes the connection after one request:
         * every request starts inside soup_server_accept_iostream(). */
        if (c)
                g_object_set_data_full(G_OBJECT(msg), CONN_ID_KEY, g_memdup2(&c->id, sizeof(c->id)), g_free);
}

static void on_request_read(SoupServer *server, SoupServerMessage *msg, gpointer userdata) {
        HttpConn *c = conn_of(userdata, msg);

        if (!c)
                return;
        c->requests++;
        c->deadline_usec = 0;
        /* libsoup takes the end of the stream for the end of the headers: what a dropped client
         * had sent by then is no request (a status here keeps the handler from running) */
        if (c->timed_out)
                soup_server_message_set_status(msg, SOUP_STATUS_REQUEST_TIMEOUT, NULL);
}

static gboolean on_sweep(gpointer userdata) {
        PxManager *m = userdata;
        PxHttpConns *h = m->http_conns;
        uint64_t now = g_get_monotonic_time();
        bool pending = false;
        GHashTableIter i;
        gpointer value;

        g_hash_table_iter_init(&i, h->by_id);
        while (g_hash_table_iter_next(&i, NULL, &value)) {
                HttpConn *c = value;
                if (!c->deadline_usec)
                        continue;
                if (now < c->deadline_usec) {
                        pending = true;
                        continue;
                }
                /* libsoup sees the end of the stream and closes the connection itself */
                c->deadline_usec = 0;
                c->timed_out = true;
                m->http_stats.header_timeouts++;
                (void) shutdown(g_socket_get_fd(c->socket), SHUT_RDWR);
                log_limited("dropped a connection from %s: no complete request within %" G_GUINT64_FORMAT " ms",
                            c->peer, m->config->http_header_timeout_usec / 1000);
        }

        /* senders whose client stopped reading */
        g_autoptr(GPtrArray) stalled = g_ptr_array_new();
        g_hash_table_iter_init(&i, h->senders);
        while (g_hash_table_iter_next(&i, &value, NULL)) {
                Sender *s = value;
                if (now >= s->progress_usec + SEND_STALL_USEC)
                        g_ptr_array_add(stalled, s);
                else
                        pending = true;
        }
        for (guint k = 0; k < stalled->len; k++) {
                Sender *s = stalled->pdata[k];
                m->http_stats.stalled++;
                px_log_info(NULL, PHASE, "client stopped reading for %d s: dropping its connection",
                            (int) (SEND_STALL_USEC / G_USEC_PER_SEC));
                sender_done(s);
        }

        if (pending)
                return G_SOURCE_CONTINUE;
        g_clear_pointer(&h->sweep, g_source_unref);
        return G_SOURCE_REMOVE;
}

static void sweep_start(PxManager *m) {
        PxHttpConns *h = m->http_conns;

        if (h->sweep)
                return;
        h->sweep = g_timeout_source_new(SWEEP_INTERVAL_MSEC);
        g_source_set_callback(h->sweep, on_sweep, m, NULL);
        g_source_attach(h->sweep, NULL);
}

static char *peer_text(GSocketAddress *a) {
        if (!G_IS_INET_SOCKET_ADDRESS(a))
                return g_strdup("?");
        return g_inet_address_to_string(g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a)));
}

static void refuse(PxManager *m, GSocket *socket, const char *peer, const char *why) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

        m->http_stats.conns_refused++;
        /* best effort: the client may learn why, but we never wait for it */
        (void) send(g_socket_get_fd(socket), busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void) g_socket_close(socket, NULL);
        log_limited("refused an HTTP connection from %s: %s", peer, why);
}

/* libsoup reads (the next) request from the connection, which has until the deadline to send it. */
static void conn_hand_over(PxManager *m, HttpConn *c, GIOStream *stream) {
        PxHttpConns *h = m->http_conns;
        g_autoptr(GSocketAddress) remote = g_socket_get_remote_address(c->socket, NULL);
        g_autoptr(GSocketAddress) local = g_socket_get_local_address(c->socket, NULL);
        g_autoptr(GError) error = NULL;

        c->deadline_usec = g_get_monotonic_time() + m->config->http_header_timeout_usec;
        sweep_start(m);
        h->accepting = c;
        if (!soup_server_accept_iostream(m->http, stream, local, remote, &error))
                px_log_warning(NULL, PHASE, "cannot serve a connection: %s", error->message);
        h->accepting = NULL;
}

static void accept_one(PxManager *m, GSocket *socket) {
        PxHttpConns *h = m->http_conns;
        g_autoptr(GSocketAddress) remote = g_socket_get_remote_address(socket, NULL);
        g_autofree char *peer = peer_text(remote);
        g_autoptr(GSocketConnection) connection = NULL;
        unsigned open_here = GPOINTER_TO_UINT(g_hash_table_lookup(h->per_peer, peer));
        HttpConn *c;

        if (m->http_stats.conns_open >= m->config->max_http_conns) {
                refuse(m, socket, peer, "too many connections in total (-max-http-conns)");
                return;
        }
        if (open_here >= m->config->max_http_conns_per_client) {
                refuse(m, socket, peer, "too many connections from this client (-max-http-conns-per-client)");
                return;
        }

        (void) g_socket_set_option(socket, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
        connection = g_socket_connection_factory_create_connection(socket);
        c = g_new0(HttpConn, 1);
        c->manager = m;
        c->id = ++h->next_id;
        c->peer = g_steal_pointer(&peer);
        c->socket = socket;
        c->connection = G_OBJECT(connection);
        g_hash_table_insert(h->by_id, &c->id, c);
        g_object_weak_ref(c->connection, on_conn_gone, c);
        peer_add(h, c->peer, +1);
        m->http_stats.conns_open++;
        m->http_stats.conns_accepted++;
        conn_hand_over(m, c, G_IO_STREAM(connection));
        /* c may be gone from here on: libsoup may have answered and closed already */
}

static gboolean on_accept_retry(gpointer userdata);

static gboolean on_listener_readable(GSocket *listener, GIOCondition cond, gpointer userdata) {
        PxManager *m = userdata;
        PxHttpConns *h = m->http_conns;

        for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GSocket) socket = g_socket_accept(listener, NULL, &error);

                if (socket) {
                        accept_one(m, socket);
                        continue;
                }
                if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                        break;
                /* out of file descriptors, say: the listener stays readable, so pause instead of
                 * spinning */
                px_log_warning(NULL, PHASE, "accepting a connection failed: %s", error->message);
                g_clear_pointer(&h->accept_source, g_source_unref);
                h->accept_retry = g_timeout_source_new(200);
                g_source_set_callback(h->accept_retry, on_accept_retry, m, NULL);
                g_source_attach(h->accept_retry, NULL);
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
}

static void accept_start(PxManager *m) {
        PxHttpConns *h = m->http_conns;

        h->accept_source = g_socket_create_source(h->listener, G_IO_IN, NULL);
        g_source_set_callback(h->accept_source, G_SOURCE_FUNC(on_listener_readable), m, NULL);
        g_source_attach(h->accept_source, NULL);
}

static gboolean on_accept_retry(gpointer userdata) {
        PxManager *m = userdata;

        g_clear_pointer(&m->http_conns->accept_retry, g_source_unref);
        accept_start(m);
        return G_SOURCE_REMOVE;
}

static void source_clear(GSource **s) {
        if (!*s)
                return;
        g_source_destroy(*s);
        g_clear_pointer(s, g_source_unref);
}

static void http_conns_free(PxHttpConns *h) {
        GHashTableIter i;
        gpointer value;

        if (!h)
                return;
        source_clear(&h->accept_source);
        source_clear(&h->accept_retry);
        source_clear(&h->sweep);
        source_clear(&h->epoll_source);
        /* nobody counts connections any more; then the senders close theirs */
        g_hash_table_iter_init(&i, h->by_id);
        while (g_hash_table_iter_next(&i, NULL, &value)) {
                HttpConn *c = value;
                g_object_weak_unref(c->connection, on_conn_gone, c);
        }
        g_clear_pointer(&h->senders, g_hash_table_unref);
        g_clear_pointer(&h->by_id, g_hash_table_unref);
        g_clear_pointer(&h->per_peer, g_hash_table_unref);
        if (h->epoll_fd >= 0)
                close(h->epoll_fd);
        g_clear_object(&h->listener);
        g_free(h);
}

gboolean px_http_server_start(PxManager *m, GError **error) {
        g_autoptr(GSocket) socket = NULL;
        int fd = m->fds.fd[PX_LISTENER_HTTP];
        PxHttpConns *h;

        if (fd < 0)
                return TRUE;
        m->http = soup_server_new("server-header", "pixiecore/" PACKAGE_VERSION " ", NULL);
        soup_server_add_handler(m->http, NULL, handle_request, m, NULL);
        g_signal_connect(m->http, "request-started", G_CALLBACK(on_request_started), m);
        g_signal_connect(m->http, "request-read", G_CALLBACK(on_request_read), m);
        socket = g_socket_new_from_fd(fd, error);
        if (!socket) {
                g_prefix_error(error, "HTTP: ");
                return FALSE;
        }
        m->fds.fd[PX_LISTENER_HTTP] = -1; /* owned by the GSocket now */
        g_socket_set_blocking(socket, FALSE);
        /* splice() to a client that has gone raises SIGPIPE (it has no MSG_NOSIGNAL); systemd
         * services ignore it anyway (IgnoreSIGPIPE=yes) */
        (void) signal(SIGPIPE, SIG_IGN);

        h = g_new0(PxHttpConns, 1);
        h->epoll_fd = -1;
        h->listener = g_steal_pointer(&socket);
        h->by_id = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) http_conn_free);
        h->per_peer = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        h->senders = g_hash_table_new_full(NULL, NULL, (GDestroyNotify) sender_free, NULL);
        m->http_conns = h;
        h->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (h->epoll_fd < 0) {
                int e = errno;
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "HTTP: epoll: %s", g_strerror(e));
                return FALSE;
        }
        h->epoll_source = g_unix_fd_source_new(h->epoll_fd, G_IO_IN);
        g_source_set_callback(h->epoll_source, G_SOURCE_FUNC(on_senders_ready), m, NULL);
        g_source_attach(h->epoll_source, NULL);
        accept_start(m);
        return TRUE;
}

void px_http_server_stop(PxManager *m) {
        const PxHttpStats *st = &m->http_stats;

        if (!m->http)
                return;
        px_log_info(NULL, PHASE,
                    "HTTP totals: %" G_GUINT64_FORMAT " requests, %" G_GUINT64_FORMAT " connections, %" G_GUINT64_FORMAT
                    " refused, %" G_GUINT64_FORMAT " request timeouts, %" G_GUINT64_FORMAT
                    " stalled, %" G_GUINT64_FORMAT " bytes sent",
                    st->requests, st->conns_accepted, st->conns_refused, st->header_timeouts, st->stalled,
                    st->bytes_sent);
        http_conns_free(m->http_conns);
        m->http_conns = NULL;
        soup_server_disconnect(m->http);
        g_clear_object(&m->http);
}
