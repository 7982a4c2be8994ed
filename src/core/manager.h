/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The root object: owns the loops, the sockets, the servers, the policy and the sessions. */

#include <libsoup/soup.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "file-store.h"
#include "listen.h"
#include "policy.h"
#include "session.h"
#include "tftp-server.h"
#include "udp.h"

typedef struct PxDhcpStats {
        uint64_t received;
        uint64_t malformed;
        uint64_t not_pxe;
        uint64_t unsupported_arch;
        uint64_t ignored; /* wrong message type, interface, or policy said no */
        uint64_t offers;  /* port 67 */
        uint64_t acks;    /* port 4011 */
        uint64_t send_errors;
} PxDhcpStats;

typedef struct PxHttpStats {
        uint64_t requests;
        uint64_t not_found;
        uint64_t bytes_sent;
        uint64_t conns_open;      /* now */
        uint64_t conns_accepted;  /* handed to the HTTP server */
        uint64_t conns_refused;   /* over -max-http-conns or -max-http-conns-per-client */
        uint64_t header_timeouts; /* no complete request within -http-header-timeout */
        uint64_t stalled;         /* dropped: the client stopped reading a file */
} PxHttpStats;

/* A file a bootloader fetches, by the name it asks for. */
typedef struct PxLoader {
        const char *name;     /* e.g. "undionly.kpxe" */
        const char *store_id; /* file store ID: "loader/<name>" */
} PxLoader;

typedef struct PxManager {
        PxConfig *config; /* borrowed */
        sd_event *event;
        GMainLoop *loop;
        GSource *event_glue;
        PxFileStore *files;
        PxPolicy *policy;
        PxSessionTable *sessions;
        sd_event_source *expire_timer;
        GCancellable *cancellable;

        PxListenFds fds;
        sd_event_source *dhcp_source;
        sd_event_source *pxe_source;
        int ifindex_filter;
        PxDhcpStats dhcp_stats;

        TftpServer *tftp;
        SoupServer *http;
        SoupSession *upstream;         /* API mode: proxied kernel/initrd/cmdline files */
        struct PxFileIds *file_ids;    /* sealed IDs for API and run-time targets */
        struct PxTargetStore *targets; /* machine and default targets (D-Bus) */
        struct PxBus *bus;             /* NULL when no system bus is reachable */
        char *cache_dir;               /* API mode: upstream copies; NULL: none */
        PxHttpStats http_stats;
        struct PxHttpConns *http_conns; /* our accept loop: caps and deadlines (http-server.c) */
} PxManager;

int px_manager_new(PxConfig *config, PxManager **ret);
PxManager *px_manager_free(PxManager *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PxManager, px_manager_free)

/* Loads files, opens sockets, starts the servers. GError names the failing part. */
gboolean px_manager_start(PxManager *m, GError **error);
/* Runs until SIGTERM/SIGINT. Returns 0 or a negative errno. */
int px_manager_run(PxManager *m);

/* Loader lookup by the name a client asks for; NULL if we do not serve it. */
const PxLoader *px_manager_find_loader(PxManager *m, const char *name);

/* Parses "<mac>/<name>", "/<mac>/<name>" or "<name>". */
int px_split_boot_path(const char *path, uint8_t ret_mac[6], bool *ret_has_mac, const char **ret_name);

/* dhcp-server.c */
int px_dhcp_server_start(PxManager *m, GError **error);
void px_dhcp_server_stop(PxManager *m);

/* http-server.c */
gboolean px_http_server_start(PxManager *m, GError **error);
void px_http_server_stop(PxManager *m);
