/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP (libsoup): boot scripts, PXELINUX configs and support files, kernels and initrds.
 * Always with Content-Length (iPXE crawls without it); Range handled by libsoup. */
#include <arpa/inet.h>
#include <string.h>

#include "bootscript.h"
#include "file-id.h"
#include "http-proxy.h"
#include "manager.h"
#include "px-build-config.h"
#include "px-log.h"

#define PHASE "http"

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

static void on_wrote_body_data(SoupServerMessage *msg, guint chunk, gpointer userdata) {
        Download *d = userdata;
        PxSession *s;

        d->sent += chunk;
        d->manager->http_stats.bytes_sent += chunk;
        if (d->has_mac && (s = px_session_table_lookup(d->manager->sessions, d->mac)) &&
            g_strcmp0(s->current_file, d->file) == 0)
                px_session_set_progress(s, d->sent);
}

static void on_download_finished(SoupServerMessage *msg, gpointer userdata) {
        Download *d = userdata;
        char mac[PX_MAC_STRLEN] = "";
        PxSession *s = NULL;
        guint status = soup_server_message_get_status(msg);
        bool complete = (status == SOUP_STATUS_OK || status == SOUP_STATUS_PARTIAL_CONTENT) && d->sent >= d->total;

        if (d->has_mac) {
                px_mac_to_string(d->mac, mac);
                s = px_session_table_lookup(d->manager->sessions, d->mac);
        }
        if (status != SOUP_STATUS_OK && status != SOUP_STATUS_PARTIAL_CONTENT)
                return; /* the failure was logged where it happened */
        if (complete)
                px_log_info(d->has_mac ? mac : NULL, PHASE, "sent %s (%" G_GUINT64_FORMAT " bytes)", d->file, d->sent);
        else
                px_log_info(d->has_mac ? mac : NULL, PHASE,
                            "transfer of %s ended after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes", d->file,
                            d->sent, d->total);
        if (s && complete && d->last_file && g_strcmp0(s->current_file, d->file) == 0)
                px_session_set_state(s, PX_SESSION_BOOTING);
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

static void serve_bytes(PxManager *m, SoupServerMessage *msg, GBytes *data, Download *d) {
        SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);

        soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
        soup_message_headers_set_content_type(h, "application/octet-stream", NULL);
        soup_message_headers_replace(h, "Accept-Ranges", "bytes");
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
                g_autoptr(GMappedFile) mapped = local ? g_mapped_file_new(local, FALSE, &error) : NULL;
                g_autoptr(GBytes) data = mapped ? g_mapped_file_get_bytes(mapped) : NULL;

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

/* /_/file/<mac>/<id>: only IDs the machine's boot spec names. */
static void serve_boot_file(PxManager *m, SoupServerMessage *msg, const char *path) {
        const char *rest = path + strlen("/_/file/");
        g_auto(GStrv) parts = g_strsplit(rest, "/", 3);
        uint8_t mac[6];
        g_autoptr(GBytes) data = NULL;
        FileLookup lookup = {};
        PxSession *session;
        Download *d;

        if (g_strv_length(parts) != 2 || px_mac_from_string(parts[0], mac) < 0) {
                not_found(m, msg, path);
                return;
        }
        if (!px_file_store_contains(m->files, parts[1])) {
                serve_sealed_file(m, msg, path, mac, parts[1]);
                return;
        }
        /* Static targets are known at once; an asynchronous policy has been asked for the
         * script already, and file IDs there are self-authenticating (API mode). */
        PxMachine machine = {};
        memcpy(machine.mac, mac, 6);
        lookup.id = parts[1];
        m->policy->resolve(m->policy, &machine, NULL, file_policy_answer, &lookup);
        if (!lookup.done || !lookup.listed || !(data = px_file_store_get(m->files, parts[1]))) {
                not_found(m, msg, path);
                return;
        }

        session = session_for(m, mac, msg);
        d = g_new0(Download, 1);
        d->manager = m;
        memcpy(d->mac, mac, 6);
        d->has_mac = true;
        d->file = g_strdup(parts[1]);
        d->total = g_bytes_get_size(data);
        d->last_file = lookup.last;
        if (soup_server_message_get_method(msg) != SOUP_METHOD_GET) {
                download_free(d); /* HEAD: no body, no progress */
                serve_bytes(m, msg, data, NULL);
                return;
        }
        px_session_begin_file(session,
                              g_str_equal(parts[1], "kernel") || g_str_has_prefix(parts[1], "kernel")
                                      ? PX_SESSION_LOADING_KERNEL
                                      : PX_SESSION_LOADING_INITRD,
                              parts[1], d->total);
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
        const char *mac_arg = query ? g_hash_table_lookup(query, "mac") : NULL;
        uint8_t mac[6];

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

        if (g_str_equal(path, "/")) {
                text_response(msg, SOUP_STATUS_OK, "text/plain",
                              g_strdup_printf("pixiecore %s: a PXE boot server.\nMachines netbooting on this network "
                                              "fetch their boot files here; there is nothing to browse.\n",
                                              PACKAGE_VERSION));
                return;
        }
        if (g_str_equal(path, "/_/ipxe")) {
                if (!mac_arg || px_mac_from_string(mac_arg, mac) < 0) {
                        text_response(msg, SOUP_STATUS_BAD_REQUEST, "text/plain",
                                      g_strdup("missing or invalid mac parameter\n"));
                        return;
                }
                const char *arch_arg = g_hash_table_lookup(query, "arch");
                guint64 arch;
                if (arch_arg && g_ascii_string_to_unsigned(arch_arg, 10, 0, 65535, &arch, NULL)) {
                        /* the firmware's option 93, carried from our DHCP offer: the API wants it */
                        PxSession *s = px_session_table_ensure(m->sessions, mac, false);
                        if (s->firmware < 0 && px_firmware_from_arch((uint16_t) arch) >= 0)
                                px_session_set_client(s, px_firmware_from_arch((uint16_t) arch), (uint16_t) arch);
                }
                serve_script(m, msg, SCRIPT_IPXE, mac);
                return;
        }
        if (g_str_equal(path, "/_/booting")) {
                if (mac_arg && px_mac_from_string(mac_arg, mac) >= 0) {
                        PxSession *s = px_session_table_lookup(m->sessions, mac);
                        char text[PX_MAC_STRLEN];
                        px_mac_to_string(mac, text);
                        if (s)
                                px_session_set_state(s, PX_SESSION_BOOTING);
                        px_log_info(text, PHASE, "booting");
                }
                /* a harmless script that iPXE fetches and frees right away */
                text_response(msg, SOUP_STATUS_OK, "text/plain", g_strdup("#!ipxe\n# Booting\n"));
                return;
        }
        if (g_str_has_prefix(path, "/_/file/")) {
                serve_boot_file(m, msg, path);
                return;
        }
        if (g_str_has_prefix(path, "/pxelinux.cfg/") && m->config->bootloader == PX_BOOTLOADER_PXELINUX) {
                const char *name = path + strlen("/pxelinux.cfg/");
                /* PXELINUX tries 01-<mac> first, then IP-derived names and "default": only the
                 * first carries the MAC, so the rest get a quick 404 */
                if (g_str_has_prefix(name, "01-") && px_mac_from_string(name + 3, mac) >= 0) {
                        serve_script(m, msg, SCRIPT_PXELINUX, mac);
                        return;
                }
                not_found(m, msg, path);
                return;
        }
        const PxLoader *loader = px_manager_find_loader(m, path + 1);
        if (loader) {
                serve_loader(m, msg, path, loader);
                return;
        }
        not_found(m, msg, path);
}

gboolean px_http_server_start(PxManager *m, GError **error) {
        g_autoptr(GSocket) socket = NULL;
        int fd = m->fds.fd[PX_LISTENER_HTTP];

        if (fd < 0)
                return TRUE;
        m->http = soup_server_new("server-header", "pixiecore/" PACKAGE_VERSION " ", NULL);
        soup_server_add_handler(m->http, NULL, handle_request, m, NULL);
        socket = g_socket_new_from_fd(fd, error);
        if (!socket)
                return FALSE;
        m->fds.fd[PX_LISTENER_HTTP] = -1; /* owned by the GSocket now */
        if (!soup_server_listen_socket(m->http, socket, 0, error)) {
                g_prefix_error(error, "HTTP: ");
                return FALSE;
        }
        return TRUE;
}

void px_http_server_stop(PxManager *m) {
        if (!m->http)
                return;
        soup_server_disconnect(m->http);
        g_clear_object(&m->http);
}
