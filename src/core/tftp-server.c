/* SPDX-License-Identifier: Apache-2.0 */
#include "tftp-server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "px-macro.h"
#include "tftp.h"

/* Design notes
 *
 * - One listen socket (the passed fd) with IP_PKTINFO, so each request's local address and
 *   ingress interface are known. Refusals (not found, WRQ, bad mode) are answered from the
 *   listen socket with that local address as source: no socket churn when iPXE probes
 *   autoexec.ipxe on every boot.
 * - Each transfer has its own UDP port on <local address> (the server TID), held by two sockets
 *   in one SO_REUSEPORT group: one connect()ed to the client, which carries the transfer (no
 *   route lookup and no address copy per packet: sendmsg/recv without names), and one left
 *   unconnected, which the kernel hands only the datagrams from other sources; those are answered
 *   with ERROR 5 while the transfer goes on (RFC 1350 §4). Should the second socket not be
 *   possible (fd limit), the transfer runs on one unconnected socket and checks sources itself.
 * - Transfer sockets sit in an epoll set of the server's own, which is one sd-event source: one
 *   dispatch serves every transfer that has an ACK waiting, instead of one event-loop iteration
 *   (GLib and sd-event) per socket. A transfer that ends during a batch is only unlinked and
 *   marked dead; it is freed after the batch (server_reap), so later events in it are skipped.
 * - The retransmit timer is not re-armed per packet: an ACK only moves t->deadline_usec, and a
 *   timer that fires before it is pushed to it (at most once per RTO, not once per block).
 * - Blocks are indexed with a 64-bit counter starting at 1; the 16-bit wire number is its low
 *   half, so block numbers roll over 65535 -> 0 like tftpd-hpa and atftpd do.
 * - The payload lives in the GBytes handed out by open_file; DATA packets are a 4-byte header on
 *   the stack plus an iovec pointing into that memory. No per-packet allocation.
 * - Every allocation is bounded by the configuration (max_transfers), never by client input.
 *
 * Ownership of listen_fd passes to the server only when tftp_server_new() succeeds; on failure
 * the caller still owns it. Event callbacks must not free the server. */

#define DEFAULT_MAX_TRANSFERS  256U
#define DEFAULT_MAX_WINDOWSIZE 64U
#define DEFAULT_TIMEOUT_MS     1000U
#define DEFAULT_MAX_RETRIES    5U
/* Used when the ingress interface's MTU cannot be determined: Ethernet (1500 - 32). */
#define FALLBACK_BLKSIZE_CAP 1468U
/* IPv4 header (20) + UDP header (8) + TFTP DATA header (4). */
#define DATA_OVERHEAD 32U
/* Floor of the adaptive retransmit timeout. */
#define MIN_RTO_USEC  (20U * 1000U)
#define PROGRESS_STEP (64U * 1024U)
#define SEND_BATCH    32U
/* Packets handled per wakeup on one socket before yielding to other sources. */
#define RECV_BUDGET 64
/* Ready transfer sockets taken per epoll_wait, and rounds per dispatch. */
#define EPOLL_BATCH  64
#define EPOLL_ROUNDS 4
/* Tag in the low bit of epoll data: the transfer's unconnected (foreign TID) socket. */
#define EP_TAG_TID        1U
#define RX_BUFFER_SIZE    4096
#define OACK_BUFFER_SIZE  128
#define ERROR_BUFFER_SIZE 512

typedef struct TftpTransfer TftpTransfer;

struct TftpServer {
        sd_event *event;
        int fd;
        sd_event_source *io;

        TftpServerConfig cfg;
        TftpServerOps ops;
        void *userdata;
        TftpServerStats stats;

        /* peer key (address << 16 | port) -> TftpTransfer, owned */
        GHashTable *transfers;
        /* ended transfers, freed by server_reap() once no event batch can refer to them */
        GPtrArray *dead;

        int epfd; /* every transfer socket */
        sd_event_source *ep_io;

        uint8_t rx[RX_BUFFER_SIZE];
};

struct TftpTransfer {
        TftpServer *server;
        gint64 key;

        struct sockaddr_in peer;
        int fd;
        bool connected; /* fd is connect()ed to peer; tid_fd catches other sources */
        int tid_fd;     /* -1 when not connected */
        bool dead;      /* ended, waiting for server_reap() */
        sd_event_source *timer;
        uint64_t deadline_usec; /* retransmit when no progress by then */
        uint64_t timer_usec;    /* when the timer source is set to fire; 0: disabled */

        char filename[TFTP_MAX_FILENAME + 1];
        void *file_tag;
        GBytes *data;
        const uint8_t *content;
        uint64_t size;

        unsigned blksize;
        unsigned windowsize;
        uint64_t timeout_usec; /* negotiated or configured retransmit timeout */
        unsigned retries;

        /* Adaptive retransmit timer (RFC 6298 estimator, Karn's rule), only when the client did not
         * ask for a timeout: a lost tail of a window then costs a few round trips instead of a whole
         * second. Early retransmits don't count as retries; the give-up time is still max_retries
         * times timeout_usec. */
        bool adaptive;
        uint64_t rto_usec;      /* current, possibly backed off */
        uint64_t rto_base_usec; /* from the estimator */
        uint64_t srtt_usec;
        uint64_t rttvar_usec;
        uint64_t sent_at_usec; /* first transmission of the current window (or OACK) */
        bool sample_valid;     /* current window was not retransmitted */

        uint64_t n_blocks;   /* number of DATA blocks, including the final short (maybe empty) one */
        uint64_t acked;      /* highest block index acknowledged; 0 before any */
        uint64_t max_sent;   /* highest block index ever sent */
        uint64_t next_send;  /* next block of the current window to put on the wire */
        uint64_t window_end; /* last block of the current window */
        bool want_write;

        bool oack_pending;
        uint8_t oack[OACK_BUFFER_SIZE];
        size_t oack_len;

        bool started;
        uint64_t progress_reported;
};

static gint64 peer_key(const struct sockaddr_in *peer) {
        return ((gint64) ntohl(peer->sin_addr.s_addr) << 16) | ntohs(peer->sin_port);
}

static bool same_peer(const struct sockaddr_in *a, const struct sockaddr_in *b) {
        return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

static uint64_t transfer_bytes_acked(const TftpTransfer *t) {
        if (t->acked >= t->n_blocks)
                return t->size;
        return t->acked * t->blksize;
}

static void transfer_free(TftpTransfer *t) {
        if (!t)
                return;
        t->timer = sd_event_source_disable_unref(t->timer);
        t->fd = px_safe_close(t->fd);
        t->tid_fd = px_safe_close(t->tid_fd);
        g_clear_pointer(&t->data, g_bytes_unref);
        g_free(t);
}

static void transfer_emit(TftpTransfer *t, TftpEventKind kind, const char *error) {
        TftpServer *s = t->server;
        TftpEvent ev = {
                .kind = kind,
                .peer = &t->peer,
                .filename = t->filename,
                .file_tag = t->file_tag,
                .bytes_sent = transfer_bytes_acked(t),
                .total = t->size,
                .error = error,
        };

        if (s->ops.event)
                s->ops.event(s->userdata, &ev);
}

static void transfer_send_error(TftpTransfer *t, const struct sockaddr_in *to, uint16_t code, const char *msg) {
        uint8_t buf[ERROR_BUFFER_SIZE];
        int n;

        n = tftp_build_error(buf, sizeof(buf), code, msg);
        if (n < 0)
                return;
        if (t->connected && same_peer(to, &t->peer))
                (void) send(t->fd, buf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL);
        else
                (void) sendto(t->connected ? t->tid_fd : t->fd, buf, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL,
                              (const struct sockaddr *) to, sizeof(*to));
}

/* Ends the transfer: reports it and frees it. The transfer must not be touched afterwards. */
static void transfer_finish(TftpTransfer *t, TftpEventKind kind, const char *error) {
        TftpServer *s = t->server;

        switch (kind) {
        case TFTP_EVENT_DONE:
                s->stats.completed++;
                if (t->progress_reported != t->size)
                        transfer_emit(t, TFTP_EVENT_PROGRESS, NULL);
                break;
        case TFTP_EVENT_FAILED:
                s->stats.failed++;
                break;
        case TFTP_EVENT_ABORTED:
        case TFTP_EVENT_STARTED:
        case TFTP_EVENT_PROGRESS:
        case TFTP_EVENT_OVER_LIMIT:
                break;
        }

        transfer_emit(t, kind, error);
        (void) g_hash_table_steal(s->transfers, &t->key);
        t->dead = true;
        (void) sd_event_source_set_enabled(t->timer, SD_EVENT_OFF);
        g_ptr_array_add(s->dead, t);
}

static void server_reap(TftpServer *s) {
        if (s->dead->len > 0)
                g_ptr_array_set_size(s->dead, 0); /* frees them */
}

static void transfer_fail(TftpTransfer *t, const char *error) {
        transfer_send_error(t, &t->peer, TFTP_ERR_UNDEFINED, error);
        transfer_finish(t, TFTP_EVENT_FAILED, error);
}

static int transfer_set_want_write(TftpTransfer *t, bool b) {
        struct epoll_event ev = {.events = b ? (EPOLLIN | EPOLLOUT) : EPOLLIN, .data.ptr = t};

        if (t->want_write == b)
                return 0;
        if (epoll_ctl(t->server->epfd, EPOLL_CTL_MOD, t->fd, &ev) < 0)
                return -errno;
        t->want_write = b;
        return 0;
}

/* Send failures the retransmit timer will take care of. */
static bool errno_is_transient(int e) {
        return e == EAGAIN || e == ENOBUFS || e == EINTR || e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH;
}

/* Puts blocks next_send..window_end on the wire, in batches. Stops at EAGAIN and resumes when the
 * socket becomes writable. */
static int transfer_send_pending(TftpTransfer *t) {
        while (t->next_send <= t->window_end) {
                struct mmsghdr msgs[SEND_BATCH];
                struct iovec iov[SEND_BATCH][2];
                uint8_t headers[SEND_BATCH][4];
                unsigned n = 0;
                int k;

                for (uint64_t idx = t->next_send; idx <= t->window_end && n < SEND_BATCH; idx++, n++) {
                        uint64_t offset = (idx - 1) * t->blksize;
                        size_t len = (size_t) MIN((uint64_t) t->blksize, t->size - offset);

                        tftp_build_data_header(headers[n], (uint16_t) (idx & 0xffff));
                        iov[n][0] = (struct iovec){.iov_base = headers[n], .iov_len = 4};
                        iov[n][1] = (struct iovec){.iov_base = (void *) (t->content + offset), .iov_len = len};
                        msgs[n] = (struct mmsghdr){
                                .msg_hdr =
                                        {
                                                .msg_name = t->connected ? NULL : &t->peer,
                                                .msg_namelen = t->connected ? 0 : sizeof(t->peer),
                                                .msg_iov = iov[n],
                                                .msg_iovlen = len > 0 ? 2 : 1,
                                        },
                        };
                }

                /* Lock step sends one block per ACK: plain sendmsg is the cheaper call for that. */
                if (n == 1)
                        k = sendmsg(t->fd, &msgs[0].msg_hdr, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -1 : 1;
                else
                        k = sendmmsg(t->fd, msgs, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return transfer_set_want_write(t, true);
                        if (errno_is_transient(errno))
                                break; /* dropped; the retransmit timer resends the window */
                        return -errno;
                }

                t->next_send += (unsigned) k;
                t->max_sent = MAX(t->max_sent, t->next_send - 1);
        }

        return transfer_set_want_write(t, false);
}

static int transfer_send_block(TftpTransfer *t, uint64_t idx) {
        uint64_t offset = (idx - 1) * t->blksize;
        uint8_t header[4];
        struct iovec iov[2] = {
                {.iov_base = header, .iov_len = sizeof(header)},
                {
                        .iov_base = (void *) (t->content + offset),
                        .iov_len = (size_t) MIN((uint64_t) t->blksize, t->size - offset),
                },
        };
        struct msghdr mh = {
                .msg_name = t->connected ? NULL : &t->peer,
                .msg_namelen = t->connected ? 0 : sizeof(t->peer),
                .msg_iov = iov,
                .msg_iovlen = iov[1].iov_len > 0 ? 2 : 1,
        };

        assert(idx >= 1 && idx <= t->n_blocks);

        tftp_build_data_header(header, (uint16_t) (idx & 0xffff));
        if (sendmsg(t->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && !errno_is_transient(errno))
                return -errno;
        t->max_sent = MAX(t->max_sent, idx);
        return 0;
}

static int transfer_set_timer(TftpTransfer *t, uint64_t usec) {
        int r;

        r = sd_event_source_set_time(t->timer, usec);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(t->timer, SD_EVENT_ONESHOT);
        if (r < 0)
                return r;
        t->timer_usec = usec;
        return 0;
}

static int transfer_arm_timer(TftpTransfer *t, bool retransmit) {
        uint64_t now = 0;

        (void) sd_event_now(t->server->event, CLOCK_MONOTONIC, &now);
        t->sent_at_usec = now;
        t->sample_valid = !retransmit;
        t->deadline_usec = now + t->rto_usec;

        /* A timer set for later than the new deadline (the RTO shrank), or none, is set now; one
         * set for earlier is left alone and moves itself on when it fires. */
        if (t->timer_usec == 0 || t->timer_usec > t->deadline_usec)
                return transfer_set_timer(t, t->deadline_usec);
        return 0;
}

/* Feeds the round trip of the window (or OACK) that was just acknowledged to the estimator. */
static void transfer_rtt_sample(TftpTransfer *t) {
        uint64_t now = 0, rtt, diff;

        /* The peer made progress: drop any backoff (a probe answered proves the path works). */
        t->rto_usec = t->rto_base_usec;

        if (!t->adaptive || !t->sample_valid)
                return;
        t->sample_valid = false;
        if (sd_event_now(t->server->event, CLOCK_MONOTONIC, &now) < 0 || now < t->sent_at_usec)
                return;
        rtt = now - t->sent_at_usec;

        if (t->srtt_usec == 0) {
                t->srtt_usec = MAX(rtt, 1U);
                t->rttvar_usec = rtt / 2;
        } else {
                diff = t->srtt_usec > rtt ? t->srtt_usec - rtt : rtt - t->srtt_usec;
                t->rttvar_usec = (3 * t->rttvar_usec + diff) / 4;
                t->srtt_usec = MAX((7 * t->srtt_usec + rtt) / 8, 1U);
        }
        t->rto_base_usec =
                CLAMP(t->srtt_usec + MAX(4 * t->rttvar_usec, MIN_RTO_USEC / 4), MIN_RTO_USEC, t->timeout_usec);
        t->rto_usec = t->rto_base_usec;
}

/* Starts (or restarts) the window right after the last acknowledged block. */
static int transfer_start_window(TftpTransfer *t, bool retransmit) {
        int r;

        t->next_send = t->acked + 1;
        t->window_end = MIN(t->acked + t->windowsize, t->n_blocks);

        r = transfer_arm_timer(t, retransmit);
        if (r < 0)
                return r;

        r = transfer_send_pending(t);
        if (r < 0)
                return r;

        if (!t->started) {
                t->started = true;
                transfer_emit(t, TFTP_EVENT_STARTED, NULL);
        }
        return 0;
}

static int transfer_send_oack(TftpTransfer *t, bool retransmit) {
        int r;

        r = transfer_arm_timer(t, retransmit);
        if (r < 0)
                return r;

        if (sendto(t->fd, t->oack, t->oack_len, MSG_DONTWAIT | MSG_NOSIGNAL,
                   t->connected ? NULL : (const struct sockaddr *) &t->peer, t->connected ? 0 : sizeof(t->peer)) < 0 &&
            !errno_is_transient(errno))
                return -errno;
        return 0;
}

/* Returns true when the transfer was freed. */
static bool transfer_handle_ack(TftpTransfer *t, uint16_t block) {
        uint64_t before, delta;
        int r;

        if (t->oack_pending) {
                if (block != 0)
                        return false; /* stray */
                t->oack_pending = false;
                t->retries = 0;
                transfer_rtt_sample(t);
                r = transfer_start_window(t, false);
                if (r < 0) {
                        transfer_fail(t, "send failed");
                        return true;
                }
                return false;
        }

        /* The ACK names the highest block the client holds in order. Only blocks in
         * (acked, max_sent] are news; duplicates and old ACKs are ignored, which also keeps us clear
         * of the Sorcerer's Apprentice problem. The window never exceeds 65535 blocks, so the 16-bit
         * number maps to exactly one candidate. */
        delta = (uint16_t) (block - (uint16_t) (t->acked & 0xffff));
        if (delta == 0 || delta > t->max_sent - t->acked)
                return false;

        before = transfer_bytes_acked(t);
        t->acked += delta;
        t->retries = 0;
        transfer_rtt_sample(t);
        t->server->stats.bytes_sent += transfer_bytes_acked(t) - before;

        if (t->acked >= t->n_blocks) {
                transfer_finish(t, TFTP_EVENT_DONE, NULL);
                return true;
        }

        if (transfer_bytes_acked(t) - t->progress_reported >= PROGRESS_STEP) {
                t->progress_reported = transfer_bytes_acked(t);
                transfer_emit(t, TFTP_EVENT_PROGRESS, NULL);
        }

        /* Full window acknowledged: next window. Partial window (RFC 7440 §4: the client reports the
         * last block it got in order): resend from the block after it. Either way the new window
         * starts at acked + 1. While the current window is still being written out after EAGAIN,
         * an ACK inside it just moves the start. */
        r = transfer_start_window(t, false);
        if (r < 0) {
                transfer_fail(t, "send failed");
                return true;
        }
        return false;
}

/* Returns true when the transfer was freed. */
static bool transfer_handle_packet(TftpTransfer *t, const uint8_t *buf, size_t len) {
        int op = tftp_opcode(buf, len);

        switch (op) {
        case TFTP_OP_ACK: {
                uint16_t block;

                if (tftp_ack_parse(buf, len, &block) < 0) {
                        t->server->stats.malformed++;
                        return false;
                }
                return transfer_handle_ack(t, block);
        }

        case TFTP_OP_ERROR: {
                char msg[256], why[320];
                uint16_t code;

                if (tftp_error_parse(buf, len, &code, msg, sizeof(msg)) < 0) {
                        t->server->stats.malformed++;
                        return false;
                }
                if (t->oack_pending) {
                        /* Firmware asking for tsize only to size its buffer aborts here, then
                         * requests the file again. Normal, not worth a warning. */
                        snprintf(why, sizeof(why), "client aborted after option negotiation (%u: %s)", code, msg);
                        transfer_finish(t, TFTP_EVENT_ABORTED, why);
                } else {
                        snprintf(why, sizeof(why), "client sent error %u: %s", code, msg);
                        transfer_finish(t, TFTP_EVENT_FAILED, why);
                }
                return true;
        }

        default:
                /* Retransmitted RRQs, stray DATA, garbage: ignore, the transfer goes on. */
                t->server->stats.malformed++;
                return false;
        }
}

static int transfer_on_io(int fd, uint32_t revents, TftpTransfer *t) {
        TftpServer *s = t->server;
        int r;

        if (revents & EPOLLOUT) {
                r = transfer_send_pending(t);
                if (r < 0) {
                        transfer_finish(t, TFTP_EVENT_FAILED, "send failed");
                        return 0;
                }
        }

        if (!(revents & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                return 0;

        for (int i = 0; i < RECV_BUDGET; i++) {
                struct sockaddr_in from = {};
                socklen_t fromlen = sizeof(from);
                ssize_t n;

                if (t->connected) {
                        /* Only the peer's datagrams reach a connected socket. */
                        n = recv(fd, s->rx, sizeof(s->rx), MSG_DONTWAIT);
                        if (n >= 0) {
                                if (transfer_handle_packet(t, s->rx, (size_t) n))
                                        return 0;
                                continue;
                        }
                } else
                        n = recvfrom(fd, s->rx, sizeof(s->rx), MSG_DONTWAIT, (struct sockaddr *) &from, &fromlen);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH)
                                continue; /* ICMP noise; the retransmit timer decides */
                        transfer_finish(t, TFTP_EVENT_FAILED, "receive failed");
                        return 0;
                }
                if (fromlen < sizeof(from) || from.sin_family != AF_INET)
                        continue;

                if (!same_peer(&from, &t->peer)) {
                        /* Wrong TID (RFC 1350 §4): tell the sender, keep the transfer. Never answer
                         * an ERROR with an ERROR. */
                        if (tftp_opcode(s->rx, (size_t) n) != TFTP_OP_ERROR && from.sin_port != 0)
                                transfer_send_error(t, &from, TFTP_ERR_UNKNOWN_TID, "Unknown transfer ID");
                        continue;
                }

                if (transfer_handle_packet(t, s->rx, (size_t) n))
                        return 0;
        }

        return 0;
}

static void transfer_timer(TftpTransfer *t, uint64_t usec);

static int transfer_on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        TftpTransfer *t = userdata;
        TftpServer *s = t->server;

        if (!t->dead)
                transfer_timer(t, usec);
        server_reap(s);
        return 0;
}

static void transfer_timer(TftpTransfer *t, uint64_t usec) {
        int r;

        t->timer_usec = 0;
        if (usec < t->deadline_usec) {
                /* Progress since the timer was set: it moves to the current deadline. */
                r = transfer_set_timer(t, t->deadline_usec);
                if (r < 0)
                        transfer_fail(t, "timer failed");
                return;
        }

        if (t->rto_usec < t->timeout_usec) {
                /* Early timeout from the adaptive timer: back off, don't count it, and probe with the
                 * last block sent rather than the whole window. Any RFC 7440 receiver answers that
                 * with an ACK of what it holds in order (it is either out of order or a duplicate),
                 * and a receiver whose buffer overflowed is not flooded with a second copy of the
                 * window it could not take the first time. */
                t->rto_usec = MIN(t->rto_usec * 2, t->timeout_usec);
                if (!t->oack_pending) {
                        r = transfer_arm_timer(t, true);
                        if (r >= 0)
                                r = transfer_send_block(t, MAX(t->next_send - 1, t->acked + 1));
                        if (r < 0)
                                transfer_fail(t, "send failed");
                        return;
                }
        } else {
                if (t->retries >= t->server->cfg.max_retries) {
                        transfer_fail(t, "timeout");
                        return;
                }
                t->retries++;
        }

        if (t->oack_pending)
                r = transfer_send_oack(t, true);
        else
                r = transfer_start_window(t, true);
        if (r < 0)
                transfer_fail(t, "send failed");
}

/* The largest blksize whose datagrams fit the MTU of the interface the request came in on. */
static unsigned ifindex_blksize_cap(int ifindex) {
        char name[IF_NAMESIZE] = {};
        struct ifreq ifr = {};
        _cleanup_close_ int fd = -1;
        unsigned cap;

        if (ifindex <= 0 || !if_indextoname((unsigned) ifindex, name))
                return FALLBACK_BLKSIZE_CAP;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return FALLBACK_BLKSIZE_CAP;

        memcpy(ifr.ifr_name, name, MIN(sizeof(ifr.ifr_name) - 1, strlen(name)));
        if (ioctl(fd, SIOCGIFMTU, &ifr) < 0 || ifr.ifr_mtu <= (int) (DATA_OVERHEAD + TFTP_MIN_BLKSIZE))
                return FALLBACK_BLKSIZE_CAP;

        cap = (unsigned) ifr.ifr_mtu - DATA_OVERHEAD;
        return MIN(cap, (unsigned) TFTP_MAX_BLKSIZE);
}

static void server_send_error(TftpServer *s, const struct sockaddr_in *peer, struct in_addr local, uint16_t code,
                              const char *msg) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        } control = {};
        uint8_t buf[ERROR_BUFFER_SIZE];
        struct iovec iov;
        struct msghdr mh = {
                .msg_name = (void *) peer,
                .msg_namelen = sizeof(*peer),
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };
        int n;

        n = tftp_build_error(buf, sizeof(buf), code, msg);
        if (n < 0)
                return;
        iov = (struct iovec){.iov_base = buf, .iov_len = (size_t) n};

        if (local.s_addr != INADDR_ANY) {
                struct cmsghdr *cmsg;
                struct in_pktinfo *pi;

                mh.msg_control = control.buf;
                mh.msg_controllen = sizeof(control.buf);
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = IPPROTO_IP;
                cmsg->cmsg_type = IP_PKTINFO;
                cmsg->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
                pi = (struct in_pktinfo *) CMSG_DATA(cmsg);
                pi->ipi_spec_dst = local;
        }

        (void) sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* A UDP socket bound to local:0, or to the wildcard when local cannot be bound (a request sent to
 * a broadcast address: routing picks the source then). With reuseport, the port can be shared. */
static int transfer_open_socket(struct in_addr local, bool reuseport) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_in sa = {
                .sin_family = AF_INET,
                .sin_addr = local,
        };
        int one = 1;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
                return -errno;

        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (errno != EADDRNOTAVAIL || local.s_addr == INADDR_ANY)
                        return -errno;
                sa.sin_addr.s_addr = INADDR_ANY;
                if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return -errno;
        }

        return px_steal_fd(&fd);
}

/* The connected half of the pair: same address and port as tid_fd, connect()ed to the peer. The
 * kernel prefers a connected socket for its peer's datagrams over the unconnected one of the
 * same SO_REUSEPORT group, and gives that one the rest. */
static int transfer_open_connected(int tid_fd, const struct sockaddr_in *peer) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_in sa;
        socklen_t salen = sizeof(sa);
        int one = 1;

        if (getsockname(tid_fd, (struct sockaddr *) &sa, &salen) < 0)
                return -errno;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) peer, sizeof(*peer)) < 0)
                return -errno;
        return px_steal_fd(&fd);
}

/* Datagrams to the transfer's port from anyone but the peer: ERROR 5 (RFC 1350 §4). */
static int transfer_on_tid_io(int fd, TftpTransfer *t) {
        TftpServer *s = t->server;

        for (int i = 0; i < RECV_BUDGET; i++) {
                struct sockaddr_in from = {};
                socklen_t fromlen = sizeof(from);
                ssize_t n;

                n = recvfrom(fd, s->rx, sizeof(s->rx), MSG_DONTWAIT, (struct sockaddr *) &from, &fromlen);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return 0; /* EAGAIN, or ICMP noise */
                }
                if (fromlen < sizeof(from) || from.sin_family != AF_INET)
                        continue;
                if (same_peer(&from, &t->peer)) {
                        /* Queued here before the connected socket existed. */
                        if (transfer_handle_packet(t, s->rx, (size_t) n))
                                return 0;
                        continue;
                }
                if (tftp_opcode(s->rx, (size_t) n) != TFTP_OP_ERROR && from.sin_port != 0)
                        transfer_send_error(t, &from, TFTP_ERR_UNKNOWN_TID, "Unknown transfer ID");
        }
        return 0;
}

static int transfer_open_sockets(TftpTransfer *t, struct in_addr local) {
        _cleanup_close_ int tid_fd = -1;
        int r;

        tid_fd = transfer_open_socket(local, true);
        if (tid_fd >= 0) {
                r = transfer_open_connected(tid_fd, &t->peer);
                if (r >= 0) {
                        t->fd = r;
                        t->tid_fd = px_steal_fd(&tid_fd);
                        t->connected = true;
                        return 0;
                }
        }

        /* Fallback: one unconnected socket that checks the source of every datagram itself. */
        tid_fd = px_safe_close(tid_fd);
        r = transfer_open_socket(local, false);
        if (r < 0)
                return r;
        t->fd = r;
        return 0;
}

/* Every transfer socket with something to read (or room to write) in one go. */
static int server_on_transfers(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        TftpServer *s = userdata;

        for (int round = 0; round < EPOLL_ROUNDS; round++) {
                struct epoll_event evs[EPOLL_BATCH];
                int n;

                n = epoll_wait(s->epfd, evs, EPOLL_BATCH, 0);
                if (n <= 0)
                        break;
                for (int i = 0; i < n; i++) {
                        uintptr_t v = (uintptr_t) evs[i].data.u64;
                        TftpTransfer *t = (TftpTransfer *) (v & ~(uintptr_t) EP_TAG_TID);

                        if (t->dead)
                                continue;
                        if (v & EP_TAG_TID)
                                (void) transfer_on_tid_io(t->tid_fd, t);
                        else
                                (void) transfer_on_io(t->fd, evs[i].events, t);
                }
                server_reap(s);
                if (n < EPOLL_BATCH)
                        break;
        }
        return 0;
}

static int transfer_new(TftpServer *s, const TftpRequest *req, const struct sockaddr_in *peer, struct in_addr local,
                        int ifindex, GBytes *data, void *file_tag, TftpTransfer **ret) {
        g_autoptr(GBytes) bytes = g_bytes_ref(data);
        TftpTransfer *t;
        TftpOack oack = {.blksize = -1, .timeout_s = -1, .tsize = -1, .windowsize = -1};
        gsize size;
        int r, sndbuf;

        t = g_new0(TftpTransfer, 1);
        t->server = s;
        t->fd = -1;
        t->tid_fd = -1;
        t->peer = *peer;
        t->key = peer_key(peer);
        g_strlcpy(t->filename, req->filename, sizeof(t->filename));
        t->file_tag = file_tag;
        t->content = g_bytes_get_data(bytes, &size);
        t->size = size;
        t->data = g_steal_pointer(&bytes);
        t->blksize = TFTP_DEFAULT_BLKSIZE;
        t->windowsize = 1;
        t->timeout_usec = (uint64_t) s->cfg.timeout_ms * 1000U;

        if (req->blksize > 0) {
                unsigned b = MIN((unsigned) req->blksize, s->cfg.max_blksize);

                b = MIN(b, ifindex_blksize_cap(ifindex));
                t->blksize = MAX(b, (unsigned) TFTP_MIN_BLKSIZE);
                oack.blksize = (int32_t) t->blksize;
        }
        if (req->tsize >= 0)
                oack.tsize = (int64_t) t->size;
        t->adaptive = true;
        if (req->timeout_s > 0) {
                /* RFC 2349: the client's timeout is what we use, exactly. */
                t->timeout_usec = (uint64_t) req->timeout_s * G_USEC_PER_SEC;
                t->adaptive = false;
                oack.timeout_s = req->timeout_s;
        }
        t->rto_usec = t->rto_base_usec = t->timeout_usec;
        if (req->windowsize > 0) {
                t->windowsize = MAX(MIN((unsigned) req->windowsize, s->cfg.max_windowsize), 1U);
                oack.windowsize = (int32_t) t->windowsize;
        }

        t->n_blocks = t->size / t->blksize + 1;

        if (oack.blksize >= 0 || oack.tsize >= 0 || oack.timeout_s >= 0 || oack.windowsize >= 0) {
                r = tftp_build_oack(t->oack, sizeof(t->oack), &oack);
                if (r < 0)
                        goto fail;
                t->oack_len = (size_t) r;
                t->oack_pending = true;
        }

        r = transfer_open_sockets(t, local);
        if (r < 0)
                goto fail;

        /* Room for a full window in the send queue (the kernel caps this at wmem_max). */
        sndbuf = (int) MIN((uint64_t) (t->blksize + 64) * t->windowsize * 2, 4U * 1024U * 1024U);
        if (sndbuf > 65536)
                (void) setsockopt(t->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, t->fd, &(struct epoll_event){.events = EPOLLIN, .data.ptr = t}) < 0) {
                r = -errno;
                goto fail;
        }
        if (t->tid_fd >= 0 &&
            epoll_ctl(s->epfd, EPOLL_CTL_ADD, t->tid_fd,
                      &(struct epoll_event){.events = EPOLLIN, .data.u64 = (uintptr_t) t | EP_TAG_TID}) < 0) {
                r = -errno;
                goto fail;
        }

        r = sd_event_add_time_relative(s->event, &t->timer, CLOCK_MONOTONIC, t->timeout_usec, 1000, transfer_on_timer,
                                       t);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(t->timer, "tftp-retransmit");

        *ret = t;
        return 0;

fail:
        transfer_free(t);
        return r;
}

static void server_handle_request(TftpServer *s, const uint8_t *buf, size_t len, const struct sockaddr_in *peer,
                                  struct in_addr local, int ifindex) {
        g_autoptr(GBytes) data = NULL;
        TftpRequest req;
        TftpTransfer *t = NULL;
        void *tag = NULL;
        gint64 key;
        int r;

        s->stats.requests++;

        r = tftp_request_parse(buf, len, &req);
        if (r < 0) {
                s->stats.malformed++;
                return;
        }

        if (req.opcode == TFTP_OP_WRQ) {
                s->stats.refused++;
                server_send_error(s, peer, local, TFTP_ERR_ACCESS, "Access violation: read-only server");
                return;
        }

        if (!g_str_equal(req.mode, "octet")) {
                s->stats.refused++;
                server_send_error(s, peer, local, TFTP_ERR_UNDEFINED, "only octet mode supported");
                return;
        }

        /* Firmware retransmits its RRQ when the first reply is slow: one transfer per peer. */
        key = peer_key(peer);
        if (g_hash_table_contains(s->transfers, &key))
                return;

        /* No "busy" ERROR: PXE ROMs give up the boot on any TFTP error, but they retransmit an
         * unanswered RRQ, and by then a slot has usually come free. Silence also gives a flood
         * nothing to reflect. */
        if (g_hash_table_size(s->transfers) >= s->cfg.max_transfers) {
                s->stats.over_limit++;
                if (s->ops.event) {
                        TftpEvent ev = {.kind = TFTP_EVENT_OVER_LIMIT, .peer = peer, .filename = req.filename};
                        s->ops.event(s->userdata, &ev);
                }
                return;
        }

        r = s->ops.open_file ? s->ops.open_file(s->userdata, req.filename, peer, &data, &tag) : -ENOENT;
        if (r < 0 || !data) {
                s->stats.refused++;
                if (r == -ENOENT || r >= 0)
                        server_send_error(s, peer, local, TFTP_ERR_NOT_FOUND, "File not found");
                else if (r == -EACCES || r == -EPERM)
                        server_send_error(s, peer, local, TFTP_ERR_ACCESS, "Access violation");
                else
                        server_send_error(s, peer, local, TFTP_ERR_UNDEFINED, "internal error");
                return;
        }

        r = transfer_new(s, &req, peer, local, ifindex, data, tag, &t);
        if (r < 0) {
                s->stats.refused++;
                server_send_error(s, peer, local, TFTP_ERR_UNDEFINED, "internal error");
                return;
        }
        g_hash_table_insert(s->transfers, &t->key, t);

        if (t->oack_pending)
                r = transfer_send_oack(t, false);
        else
                r = transfer_start_window(t, false);
        if (r < 0)
                transfer_fail(t, "send failed");
}

static void server_handle_packet(TftpServer *s, const uint8_t *buf, size_t len, const struct sockaddr_in *peer,
                                 struct in_addr local, int ifindex) {
        switch (tftp_opcode(buf, len)) {
        case TFTP_OP_RRQ:
        case TFTP_OP_WRQ:
                server_handle_request(s, buf, len, peer, local, ifindex);
                return;
        case TFTP_OP_ERROR:
                /* Never answer an error with an error. */
                s->stats.malformed++;
                return;
        case TFTP_OP_DATA:
        case TFTP_OP_ACK:
        case TFTP_OP_OACK:
        default:
                s->stats.malformed++;
                if (len >= 2)
                        server_send_error(s, peer, local, TFTP_ERR_ILLEGAL_OP, "Illegal TFTP operation");
                return;
        }
}

static int server_on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        TftpServer *s = userdata;

        for (int i = 0; i < RECV_BUDGET; i++) {
                union {
                        struct cmsghdr align;
                        uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo)) + 64];
                } control;
                struct sockaddr_in peer = {};
                struct iovec iov = {.iov_base = s->rx, .iov_len = sizeof(s->rx)};
                struct msghdr mh = {
                        .msg_name = &peer,
                        .msg_namelen = sizeof(peer),
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf),
                };
                struct in_addr local = {.s_addr = INADDR_ANY};
                int ifindex = 0;
                ssize_t n;

                n = recvmsg(fd, &mh, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        /* EAGAIN, or a pending ICMP error: nothing to do either way. */
                        return 0;
                }

                if ((mh.msg_flags & MSG_TRUNC) || mh.msg_namelen < sizeof(peer) || peer.sin_family != AF_INET ||
                    peer.sin_port == 0) {
                        s->stats.malformed++;
                        continue;
                }

                for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh); cmsg; cmsg = CMSG_NXTHDR(&mh, cmsg))
                        if (cmsg->cmsg_level == IPPROTO_IP && cmsg->cmsg_type == IP_PKTINFO &&
                            cmsg->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
                                struct in_pktinfo pi;

                                memcpy(&pi, CMSG_DATA(cmsg), sizeof(pi));
                                local = pi.ipi_spec_dst;
                                ifindex = pi.ipi_ifindex;
                        }

                server_handle_packet(s, s->rx, (size_t) n, &peer, local, ifindex);
                server_reap(s);
        }

        return 0;
}

int tftp_server_new(sd_event *event, int listen_fd, const TftpServerConfig *cfg, const TftpServerOps *ops,
                    void *userdata, TftpServer **ret) {
        TftpServer *s;
        struct sockaddr_in sa;
        socklen_t salen = sizeof(sa);
        int r, flags, one = 1;

        if (!event || listen_fd < 0 || !ops || !ret)
                return -EINVAL;

        if (getsockname(listen_fd, (struct sockaddr *) &sa, &salen) < 0)
                return -errno;
        if (sa.sin_family != AF_INET)
                return -EAFNOSUPPORT;

        if (setsockopt(listen_fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
                return -errno;

        flags = fcntl(listen_fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (!(flags & O_NONBLOCK) && fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;

        s = g_new0(TftpServer, 1);
        s->event = sd_event_ref(event);
        s->fd = -1;
        s->epfd = -1;
        s->ops = *ops;
        s->userdata = userdata;
        if (cfg)
                s->cfg = *cfg;
        if (s->cfg.max_transfers == 0)
                s->cfg.max_transfers = DEFAULT_MAX_TRANSFERS;
        if (s->cfg.max_blksize == 0)
                s->cfg.max_blksize = TFTP_MAX_BLKSIZE;
        s->cfg.max_blksize = CLAMP(s->cfg.max_blksize, (unsigned) TFTP_MIN_BLKSIZE, (unsigned) TFTP_MAX_BLKSIZE);
        if (s->cfg.max_windowsize == 0)
                s->cfg.max_windowsize = DEFAULT_MAX_WINDOWSIZE;
        s->cfg.max_windowsize = MIN(s->cfg.max_windowsize, (unsigned) TFTP_MAX_WINDOWSIZE);
        if (s->cfg.timeout_ms == 0)
                s->cfg.timeout_ms = DEFAULT_TIMEOUT_MS;
        if (s->cfg.max_retries == 0)
                s->cfg.max_retries = DEFAULT_MAX_RETRIES;
        s->transfers = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) transfer_free);
        s->dead = g_ptr_array_new_with_free_func((GDestroyNotify) transfer_free);

        s->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (s->epfd < 0) {
                r = -errno;
                tftp_server_free(s);
                return r;
        }
        r = sd_event_add_io(event, &s->ep_io, s->epfd, EPOLLIN, server_on_transfers, s);
        if (r < 0) {
                tftp_server_free(s);
                return r;
        }
        (void) sd_event_source_set_description(s->ep_io, "tftp-transfers");

        r = sd_event_add_io(event, &s->io, listen_fd, EPOLLIN, server_on_io, s);
        if (r < 0) {
                tftp_server_free(s);
                return r;
        }
        (void) sd_event_source_set_description(s->io, "tftp-listen");

        s->fd = listen_fd;
        *ret = s;
        return 0;
}

TftpServer *tftp_server_free(TftpServer *s) {
        GHashTableIter iter;
        gpointer value;

        if (!s)
                return NULL;

        if (s->transfers) {
                /* Tell clients in flight instead of leaving them to time out. */
                g_hash_table_iter_init(&iter, s->transfers);
                while (g_hash_table_iter_next(&iter, NULL, &value)) {
                        TftpTransfer *t = value;

                        transfer_send_error(t, &t->peer, TFTP_ERR_UNDEFINED, "server shutting down");
                }
                g_hash_table_destroy(s->transfers);
        }
        if (s->dead)
                g_ptr_array_free(s->dead, TRUE);

        s->ep_io = sd_event_source_disable_unref(s->ep_io);
        s->epfd = px_safe_close(s->epfd);

        s->io = sd_event_source_disable_unref(s->io);
        s->fd = px_safe_close(s->fd);
        s->event = sd_event_unref(s->event);
        g_free(s);
        return NULL;
}

unsigned tftp_server_active_transfers(const TftpServer *s) {
        return s ? g_hash_table_size(s->transfers) : 0;
}

const TftpServerStats *tftp_server_get_stats(const TftpServer *s) {
        return s ? &s->stats : NULL;
}
