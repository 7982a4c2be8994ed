/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Read-only TFTP server on sd-event. Serves only what the owner's open_file callback hands
 * out, never a filesystem path named by a client. Every transfer has its own socket, bound to
 * the local address the request arrived on, so replies leave from the address asked. */

#include <glib.h>
#include <netinet/in.h>
#include <systemd/sd-event.h>

typedef struct TftpServer TftpServer;

typedef enum TftpEventKind {
        TFTP_EVENT_STARTED,    /* first DATA block sent (after OACK negotiation) */
        TFTP_EVENT_PROGRESS,   /* at most every ~64 KiB, and at the end */
        TFTP_EVENT_DONE,       /* last block acknowledged */
        TFTP_EVENT_FAILED,     /* timeout, client ERROR, socket error */
        TFTP_EVENT_ABORTED,    /* client aborted after OACK (tsize probe): normal for firmware */
        TFTP_EVENT_OVER_LIMIT, /* an RRQ left unanswered: max_transfers are running (no file_tag) */
} TftpEventKind;

typedef struct TftpEvent {
        TftpEventKind kind;
        const struct sockaddr_in *peer;
        const char *filename; /* as requested */
        void *file_tag;       /* the tag open_file returned */
        uint64_t bytes_sent;  /* payload bytes acknowledged so far */
        uint64_t total;
        const char *error; /* FAILED/ABORTED: why */
} TftpEvent;

typedef struct TftpServerOps {
        /* Map a requested name to content. Return 0 with a new reference in *ret_data and an
         * optional tag passed back in events; or -ENOENT (TFTP error 1) / -EACCES (error 2). */
        int (*open_file)(void *userdata, const char *filename, const struct sockaddr_in *peer, GBytes **ret_data,
                         void **ret_file_tag);
        void (*event)(void *userdata, const TftpEvent *ev);
} TftpServerOps;

typedef struct TftpServerConfig {
        unsigned max_transfers;  /* concurrent transfers; further RRQs go unanswered (default 256) */
        unsigned max_blksize;    /* cap on negotiated blksize (default 65464; also capped by
                                  * the ingress interface MTU - 32) */
        unsigned max_windowsize; /* cap on negotiated windowsize (default 64) */
        unsigned timeout_ms;     /* retransmit timeout when the client asks none (default 1000) */
        unsigned max_retries;    /* retransmits per window before giving up (default 5) */
} TftpServerConfig;

typedef struct TftpServerStats {
        uint64_t requests;
        uint64_t malformed;  /* dropped or refused malformed packets */
        uint64_t refused;    /* not found / access / bad mode */
        uint64_t over_limit; /* RRQs dropped unanswered while max_transfers ran */
        uint64_t completed;
        uint64_t failed;
        uint64_t bytes_sent;
} TftpServerStats;

/* listen_fd: bound UDP socket (port 69), ownership passes to the server. IP_PKTINFO is
 * enabled on it by the server. cfg may be NULL for defaults. */
int tftp_server_new(sd_event *event, int listen_fd, const TftpServerConfig *cfg, const TftpServerOps *ops,
                    void *userdata, TftpServer **ret);
TftpServer *tftp_server_free(TftpServer *s);
unsigned tftp_server_active_transfers(const TftpServer *s);
const TftpServerStats *tftp_server_get_stats(const TftpServer *s);
