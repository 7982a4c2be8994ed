/* SPDX-License-Identifier: Apache-2.0 */
/* Test driver: runs a TftpServer on a loopback UDP port serving the given files, until SIGTERM.
 *
 *   tftp-serve [--bind ADDR] [--port N] [--max-blksize N] [--max-windowsize N] [--timeout-ms N]
 *              [--max-transfers N] [--verbose] NAME=PATH...
 *
 * Prints "PORT <n>" on stdout once it is ready (port 0 picks a free one), and the statistics on
 * stderr when it exits. */

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "px-macro.h"
#include "tftp-server.h"

static GHashTable *files; /* name -> GBytes */
static gboolean verbose;

static int serve_open_file(void *userdata, const char *filename, const struct sockaddr_in *peer, GBytes **ret_data,
                           void **ret_file_tag) {
        GBytes *b = g_hash_table_lookup(files, filename);

        if (!b)
                return -ENOENT;
        *ret_data = g_bytes_ref(b);
        *ret_file_tag = NULL;
        return 0;
}

static void serve_event(void *userdata, const TftpEvent *ev) {
        static const char *const names[] = { "started", "progress", "done", "failed", "aborted" };
        char addr[INET_ADDRSTRLEN];

        if (!verbose && ev->kind == TFTP_EVENT_PROGRESS)
                return;
        inet_ntop(AF_INET, &ev->peer->sin_addr, addr, sizeof(addr));
        fprintf(stderr, "tftp-serve: %s:%u %s %s %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT "%s%s\n", addr,
                ntohs(ev->peer->sin_port), ev->filename, names[ev->kind], ev->bytes_sent, ev->total,
                ev->error ? " " : "", ev->error ?: "");
}

int main(int argc, char **argv) {
        g_autofree char *bind_addr = NULL;
        gint port = 0, max_blksize = 0, max_windowsize = 0, timeout_ms = 0, max_transfers = 0;
        GOptionEntry entries[] = {
                { "bind", 0, 0, G_OPTION_ARG_STRING, &bind_addr, "Address to bind (127.0.0.1)", "ADDR" },
                { "port", 0, 0, G_OPTION_ARG_INT, &port, "UDP port (0: any free one)", "N" },
                { "max-blksize", 0, 0, G_OPTION_ARG_INT, &max_blksize, "Cap on blksize", "N" },
                { "max-windowsize", 0, 0, G_OPTION_ARG_INT, &max_windowsize, "Cap on windowsize", "N" },
                { "timeout-ms", 0, 0, G_OPTION_ARG_INT, &timeout_ms, "Retransmit timeout", "MS" },
                { "max-transfers", 0, 0, G_OPTION_ARG_INT, &max_transfers, "Concurrent transfers", "N" },
                { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Print progress events", NULL },
                {},
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("NAME=PATH...");
        g_autoptr(GError) error = NULL;
        _cleanup_close_ int fd = -1;
        struct sockaddr_in sa = { .sin_family = AF_INET };
        socklen_t salen = sizeof(sa);
        TftpServerConfig cfg = {};
        TftpServerOps ops = { .open_file = serve_open_file, .event = serve_event };
        TftpServer *server = NULL;
        const TftpServerStats *st;
        sd_event *event = NULL;
        sigset_t mask;
        int r;

        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
                fprintf(stderr, "tftp-serve: %s\n", error->message);
                return 2;
        }

        files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
        for (int i = 1; i < argc; i++) {
                const char *eq = strchr(argv[i], '=');
                GMappedFile *mf;

                if (!eq || eq == argv[i]) {
                        fprintf(stderr, "tftp-serve: expected NAME=PATH, got '%s'\n", argv[i]);
                        return 2;
                }
                mf = g_mapped_file_new(eq + 1, FALSE, &error);
                if (!mf) {
                        fprintf(stderr, "tftp-serve: %s\n", error->message);
                        return 1;
                }
                g_hash_table_insert(files, g_strndup(argv[i], (gsize) (eq - argv[i])), g_mapped_file_get_bytes(mf));
                g_mapped_file_unref(mf);
        }

        if (inet_pton(AF_INET, bind_addr ?: "127.0.0.1", &sa.sin_addr) != 1) {
                fprintf(stderr, "tftp-serve: bad address\n");
                return 2;
        }
        sa.sin_port = htons((uint16_t) port);

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &salen) < 0) {
                fprintf(stderr, "tftp-serve: socket: %s\n", strerror(errno));
                return 1;
        }

        cfg.max_blksize = (unsigned) MAX(max_blksize, 0);
        cfg.max_windowsize = (unsigned) MAX(max_windowsize, 0);
        cfg.timeout_ms = (unsigned) MAX(timeout_ms, 0);
        cfg.max_transfers = (unsigned) MAX(max_transfers, 0);

        r = sd_event_default(&event);
        if (r >= 0) {
                sigemptyset(&mask);
                sigaddset(&mask, SIGTERM);
                sigaddset(&mask, SIGINT);
                sigprocmask(SIG_BLOCK, &mask, NULL);
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        }
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = tftp_server_new(event, fd, &cfg, &ops, NULL, &server);
        if (r < 0) {
                fprintf(stderr, "tftp-serve: setup failed: %s\n", strerror(-r));
                return 1;
        }
        fd = -1; /* owned by the server now */

        printf("PORT %u\n", ntohs(sa.sin_port));
        fflush(stdout);

        r = sd_event_loop(event);

        st = tftp_server_get_stats(server);
        fprintf(stderr,
                "tftp-serve: requests=%" G_GUINT64_FORMAT " malformed=%" G_GUINT64_FORMAT " refused=%" G_GUINT64_FORMAT
                " completed=%" G_GUINT64_FORMAT " failed=%" G_GUINT64_FORMAT " bytes=%" G_GUINT64_FORMAT "\n",
                st->requests, st->malformed, st->refused, st->completed, st->failed, st->bytes_sent);

        tftp_server_free(server);
        sd_event_unref(event);
        g_hash_table_destroy(files);
        return r < 0 ? 1 : 0;
}
