/* SPDX-License-Identifier: Apache-2.0 */
/* ProxyDHCP (UDP 67) and PXE boot server (UDP 4011): answers PXE clients only, never offers
 * an address, stays silent to everything else. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "manager.h"
#include "px-log.h"

#define MAX_PACKETS_PER_WAKEUP 256           /* then TFTP and HTTP get a turn: ~1 ms of work at most */
#define RECEIVE_BUFFER_BYTES   (1024 * 1024) /* ~450 DISCOVERs: a burst of 10 ms at 40 000/s */
#define LOG_FLUSH_USEC         (10ULL * 1000 * 1000)

typedef enum ReplyPort {
        REPLY_PROXY_DHCP,  /* answer on 67 */
        REPLY_BOOT_SERVER, /* answer on 4011 */
} ReplyPort;

/* Everything needed to answer once the policy has spoken (maybe later, in API mode). */
typedef struct PendingReply {
        PxManager *manager;
        ReplyPort port;
        PxUdpMeta meta;
        PxeClient client;
        Dhcp4Packet request;
} PendingReply;

/* Replies built while one wakeup's datagrams are handled go out together (sendmmsg). The policy
 * answers synchronously in static mode; an answer that comes later (API mode) is sent at once. */
typedef struct ReplyBatch {
        int fd;
        unsigned n;
        PxUdpOutgoing out[PX_UDP_BATCH_MAX];
        const char *phase[PX_UDP_BATCH_MAX];
        bool offer[PX_UDP_BATCH_MAX]; /* else a boot server ACK: which counter a success counts in */
        char mac[PX_UDP_BATCH_MAX][PX_MAC_STRLEN];
        uint8_t buf[PX_UDP_BATCH_MAX][DHCP4_MAX_PACKET];
} ReplyBatch;

static ReplyBatch *current_batch; /* set while on_readable() runs; single-threaded */

/* PendingReply is ~3 KiB (the parsed request): recycle a few instead of a malloc()/free() pair
 * of that size per packet. */
#define PENDING_CACHE_MAX 8
static PendingReply *pending_cache[PENDING_CACHE_MAX];
static unsigned pending_cached;

static PendingReply *pending_new(void) {
        if (pending_cached > 0)
                return pending_cache[--pending_cached]; /* the caller overwrites every field */
        return g_new(PendingReply, 1);
}

static void pending_free(PendingReply *p) {
        if (!p)
                return;
        if (pending_cached < PENDING_CACHE_MAX)
                pending_cache[pending_cached++] = p;
        else
                g_free(p);
}

static void pending_freep(PendingReply **p) {
        pending_free(*p);
}

/* inet_ntop() without printf (glibc's formats with sprintf): this runs for every packet. */
static void format_ipv4(struct in_addr a, char buf[INET_ADDRSTRLEN]) {
        const uint8_t *b = (const uint8_t *) &a.s_addr;
        char *p = buf;

        for (int i = 0; i < 4; i++) {
                if (b[i] >= 100)
                        *p++ = (char) ('0' + b[i] / 100);
                if (b[i] >= 10)
                        *p++ = (char) ('0' + b[i] / 10 % 10);
                *p++ = (char) ('0' + b[i] % 10);
                *p++ = i < 3 ? '.' : '\0';
        }
}

static const char *phase_name(ReplyPort port) {
        return port == REPLY_PROXY_DHCP ? "dhcp" : "pxe";
}

static struct in_addr server_address(PxManager *m, const PxUdpMeta *meta) {
        if (m->config->listen_addr.s_addr != htonl(INADDR_ANY))
                return m->config->listen_addr;
        return meta->local;
}

/* The loader this firmware gets over TFTP, by bootloader family; NULL if none fits. */
static const char *tftp_loader_for(PxManager *m, const PxeClient *c) {
        bool pxelinux = m->config->bootloader == PX_BOOTLOADER_PXELINUX;

        switch (c->firmware) {
        case PX_FIRMWARE_BIOS:
                if (pxelinux)
                        return "lpxelinux.0";
                /* undionly.kpxe cannot be chainloaded from another iPXE (UNDI is gone by then) */
                if (c->is_ipxe)
                        return m->config->ipxe_ipxe ? "ipxe.pxe" : NULL;
                return "undionly.kpxe";
        case PX_FIRMWARE_EFI32:
                return !pxelinux && m->config->ipxe_efi32 ? "ipxe-ia32.efi" : NULL;
        case PX_FIRMWARE_EFI64:
                if (pxelinux)
                        return m->config->syslinux_efi64 ? "syslinux.efi" : NULL;
                return "ipxe.efi";
        case _PX_FIRMWARE_MAX:
        case _PX_FIRMWARE_INVALID:
                break;
        }
        return NULL;
}

static void batch_flush(PxManager *m, ReplyBatch *b) {
        unsigned sent;

        if (b->n == 0)
                return;
        sent = px_udp_send_batch(b->fd, b->out, b->n);
        for (unsigned i = 0; i < b->n; i++) {
                if (b->out[i].error < 0) {
                        m->dhcp_stats.send_errors++;
                        px_log_errno(LOG_DEBUG, b->out[i].error, b->mac[i], b->phase[i], "cannot send reply: %m");
                } else if (b->offer[i])
                        m->dhcp_stats.offers++;
                else
                        m->dhcp_stats.acks++;
        }
        if (sent < b->n)
                px_log_warning_ratelimited(NULL, "dhcp", "cannot send %u of %u replies: %s", b->n - sent, b->n,
                                           g_strerror(-b->out[b->n - 1].error ?: EIO));
        b->n = 0;
}

/* Appends into b->buf of the next slot; the caller has built the packet there. */
static void batch_add(PxManager *m, ReplyBatch *b, int fd, size_t len, const struct sockaddr_in *to, int ifindex,
                      struct in_addr src, bool offer, const char *phase, const char *mac) {
        if (b->n > 0 && b->fd != fd)
                batch_flush(m, b);
        b->fd = fd;
        b->out[b->n] = (PxUdpOutgoing){.buf = b->buf[b->n], .len = len, .to = *to, .ifindex = ifindex, .src = src};
        b->phase[b->n] = phase;
        b->offer[b->n] = offer;
        memcpy(b->mac[b->n], mac, PX_MAC_STRLEN);
        b->n++;
        if (b->n == PX_UDP_BATCH_MAX)
                batch_flush(m, b);
}

static void send_reply(PendingReply *p, PxBootSpec *spec, const char *reason) {
        PxManager *m = p->manager;
        PxeClient *c = &p->client;
        const char *phase = phase_name(p->port);
        char mac[PX_MAC_STRLEN], dashed[PX_MAC_STRLEN], ip[INET_ADDRSTRLEN];
        struct in_addr server_ip = server_address(m, &p->meta);
        char boot_file[256], port[16] = "", prefix[64] = "";
        PxeReplyParams params = {.server_ip = server_ip};
        uint8_t own_buf[DHCP4_MAX_PACKET], *buf;
        ReplyBatch *batch = current_batch;
        struct sockaddr_in to = {.sin_family = AF_INET};
        PxSession *session;
        const char *loader;
        int len, r, fd;

        px_mac_to_string(c->mac, mac);

        session = px_session_table_lookup(m->sessions, c->mac);
        if (!spec) {
                m->dhcp_stats.ignored++;
                px_log_info_ratelimited(mac, phase, "not booting this machine: %s", reason ? reason : "policy");
                if (session)
                        px_session_set_ignored(session, reason ? reason : "policy");
                return;
        }
        if (session)
                px_session_set_target_source(session, spec->source);

        if (server_ip.s_addr == htonl(INADDR_ANY)) {
                px_log_warning_ratelimited(mac, phase, "no IPv4 address on the receiving interface; cannot answer");
                return;
        }
        format_ipv4(server_ip, ip);

        /* An iPXE that can fetch and boot over HTTP goes straight to the script; everything
         * else first gets a bootloader over TFTP. */
        if (m->config->bootloader == PX_BOOTLOADER_IPXE && pxe_client_ipxe_can_boot_http(c)) {
                if (m->config->http_port != 80)
                        snprintf(port, sizeof(port), ":%u", m->config->http_port);
                snprintf(boot_file, sizeof(boot_file), "http://%s%s/_/ipxe?mac=%s&arch=%u", ip, port, mac, c->arch);
        } else {
                loader = tftp_loader_for(m, c);
                if (!loader) {
                        m->dhcp_stats.ignored++;
                        px_log_info_ratelimited(mac, phase, "no bootloader for %s firmware (arch %u); not answering",
                                                px_firmware_to_string(c->firmware), c->arch);
                        return;
                }
                px_mac_to_dashed(c->mac, dashed);
                if (c->is_ipxe)
                        /* iPXE takes a URL, and ignores discovery control */
                        snprintf(boot_file, sizeof(boot_file), "tftp://%s/%s/%s", ip, dashed, loader);
                else
                        snprintf(boot_file, sizeof(boot_file), "%s/%s", dashed, loader);
                params.sname_is_server_ip = !c->is_ipxe;
                /* BIOS PXE ROMs boot the file straight from the ProxyDHCP offer. EFI firmware
                 * tends to ignore offers that skip discovery, and without option 43 asks the
                 * boot server on port 4011 instead. */
                params.discovery_control = c->firmware == PX_FIRMWARE_BIOS;
        }
        if (m->config->bootloader == PX_BOOTLOADER_PXELINUX) {
                if (m->config->http_port != 80)
                        snprintf(port, sizeof(port), ":%u", m->config->http_port);
                snprintf(prefix, sizeof(prefix), "http://%s%s/", ip, port);
                params.pxelinux_prefix = prefix;
                params.pxelinux_reboot_s = 5;
        }
        params.boot_file = boot_file;
        params.kind = p->port == REPLY_PROXY_DHCP ? PXE_REPLY_PROXY_OFFER : PXE_REPLY_BOOT_ACK;

        if (p->port == REPLY_PROXY_DHCP) {
                fd = m->fds.fd[PX_LISTENER_DHCP];
                if (p->request.giaddr.s_addr != 0) {
                        /* relayed: the relay agent forwards it to the client */
                        to.sin_addr = p->request.giaddr;
                        to.sin_port = htons(m->config->dhcp_port);
                } else {
                        to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
                        to.sin_port = htons(68);
                }
        } else {
                fd = m->fds.fd[PX_LISTENER_PXE];
                to = p->meta.peer; /* OVMF asks from port 4011, others from 68 */
                if (to.sin_addr.s_addr == htonl(INADDR_ANY))
                        to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
        }

        if (batch && batch->n > 0 && batch->fd != fd)
                batch_flush(m, batch);
        buf = batch ? batch->buf[batch->n] : own_buf;
        len = pxe_build_reply(&p->request, c, &params, buf, DHCP4_MAX_PACKET);
        if (len < 0) {
                px_log_errno(LOG_WARNING, len, mac, phase, "cannot build reply: %m");
                return;
        }

        if (batch)
                /* counted (offers, acks or send errors) when the batch goes out */
                batch_add(m, batch, fd, (size_t) len, &to, p->meta.ifindex, server_ip, p->port == REPLY_PROXY_DHCP,
                          phase, mac);
        else {
                r = px_udp_send(fd, buf, (size_t) len, &to, p->meta.ifindex, server_ip);
                if (r < 0) {
                        m->dhcp_stats.send_errors++;
                        px_log_errno(LOG_WARNING, r, mac, phase, "cannot send reply: %m");
                        return;
                }
                if (p->port == REPLY_PROXY_DHCP)
                        m->dhcp_stats.offers++;
                else
                        m->dhcp_stats.acks++;
        }
        /* Per packet, so rate limited: a flood must not become megabytes of log. The first
         * machines of a burst are always shown (see PX_LOG_RATELIMIT_BURST). */
        px_log_info_ratelimited(mac, phase, "%s %s firmware%s: boot file %s",
                                p->port == REPLY_PROXY_DHCP ? "offered" : "answered boot server request of",
                                px_firmware_to_string(c->firmware), c->is_ipxe ? " (iPXE)" : "", boot_file);

        if (session && p->port == REPLY_PROXY_DHCP && session->state == PX_SESSION_DISCOVERED)
                px_session_set_state(session, PX_SESSION_OFFERED);
        else if (session && p->port == REPLY_BOOT_SERVER && session->state <= PX_SESSION_OFFERED)
                px_session_set_state(session, PX_SESSION_PXE_ACKED);
}

static void policy_answered(PxBootSpec *spec, const char *reason, void *userdata) {
        _cleanup_(pending_freep) PendingReply *p = userdata;

        if (g_cancellable_is_cancelled(p->manager->cancellable))
                return; /* shutting down */
        send_reply(p, spec, reason);
}

static void log_packet(const char *phase, const PxUdpMeta *meta, const Dhcp4Packet *pkt, const PxeClient *c) {
        char peer[INET_ADDRSTRLEN], mac[PX_MAC_STRLEN];

        if (!px_log_debug_enabled())
                return;
        inet_ntop(AF_INET, &meta->peer.sin_addr, peer, sizeof(peer));
        px_mac_to_string(pkt->chaddr, mac);
        px_log_debug(mac, phase,
                     "packet from %s:%u if %d: type %d xid 0x%08x giaddr %s arch %d ipxe %s features 0x%x "
                     "user-class '%s' guid %s",
                     peer, ntohs(meta->peer.sin_port), meta->ifindex, pkt->message_type, pkt->xid,
                     inet_ntoa(pkt->giaddr), c ? c->arch : -1, c && c->is_ipxe ? "yes" : "no", c ? c->ipxe_features : 0,
                     c ? c->user_class : "", c && c->has_guid ? "yes" : "no");
}

static void handle_packet(PxManager *m, ReplyPort port, const uint8_t *buf, size_t len, const PxUdpMeta *meta) {
        _cleanup_(pending_freep) PendingReply *p = pending_new();
        const char *phase = phase_name(port);
        char mac[PX_MAC_STRLEN] = "";
        PxSession *session;
        PxMachine machine;
        int r;

        p->client = (PxeClient){}; /* recycled: p->request is overwritten by a successful parse */
        m->dhcp_stats.received++;
        r = dhcp4_packet_parse(buf, len, &p->request);
        if (r < 0 || p->request.op != DHCP4_OP_REQUEST || p->request.htype != 1 || p->request.hlen != 6) {
                m->dhcp_stats.malformed++;
                px_log_debug(NULL, phase, "dropped malformed packet (%zu bytes)", len);
                return;
        }
        if (m->ifindex_filter > 0 && meta->ifindex != m->ifindex_filter) {
                m->dhcp_stats.ignored++;
                return;
        }

        r = pxe_client_parse(&p->request, &p->client);
        log_packet(phase, meta, &p->request, r >= 0 ? &p->client : NULL);
        if (px_log_debug_enabled()) /* only the debug lines below need it */
                px_mac_to_string(p->request.chaddr, mac);
        if (r == -ENOMSG) {
                m->dhcp_stats.not_pxe++;
                return;
        }
        if (r == -EPROTONOSUPPORT) {
                m->dhcp_stats.unsupported_arch++;
                px_log_debug(mac, phase, "unsupported client architecture %u", p->client.arch);
                return;
        }
        if (r < 0) {
                m->dhcp_stats.malformed++;
                px_log_debug(mac, phase, "malformed PXE options");
                return;
        }

        if (port == REPLY_PROXY_DHCP && p->request.message_type != DHCP4_DISCOVER) {
                /* ProxyDHCP answers DISCOVERs only; REQUESTs go to the real DHCP server */
                m->dhcp_stats.ignored++;
                return;
        }
        if (port == REPLY_BOOT_SERVER && p->request.message_type != DHCP4_REQUEST &&
            p->request.message_type != DHCP4_DISCOVER && p->request.message_type != DHCP4_INFORM) {
                m->dhcp_stats.ignored++;
                return;
        }

        session = px_session_table_ensure(m->sessions, p->client.mac, port == REPLY_PROXY_DHCP);
        px_session_set_client(session, p->client.firmware, p->client.arch);
        if (port == REPLY_BOOT_SERVER)
                px_session_set_client_addr(session, p->request.ciaddr.s_addr ? p->request.ciaddr : meta->peer.sin_addr);

        p->manager = m;
        p->port = port;
        p->meta = *meta;
        machine = (PxMachine){.firmware = p->client.firmware, .arch = p->client.arch};
        memcpy(machine.mac, p->client.mac, 6);
        m->policy->resolve(m->policy, &machine, m->cancellable, policy_answered, g_steal_pointer(&p));
}

static int on_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        PxManager *m = userdata;
        ReplyPort port = fd == m->fds.fd[PX_LISTENER_DHCP] ? REPLY_PROXY_DHCP : REPLY_BOOT_SERVER;
        static uint8_t bufs[PX_UDP_BATCH_MAX][DHCP4_MAX_PACKET];
        static ReplyBatch batch;
        PxUdpDatagram d[PX_UDP_BATCH_MAX];
        unsigned handled = 0;

        /* Bounded per wakeup, so that TFTP and HTTP get their turn during a flood. */
        current_batch = &batch;
        while (handled < MAX_PACKETS_PER_WAKEUP) {
                int n;

                for (unsigned i = 0; i < PX_UDP_BATCH_MAX; i++)
                        d[i] = (PxUdpDatagram){.buf = bufs[i], .size = sizeof(bufs[i])};
                n = px_udp_recv_batch(fd, d, PX_UDP_BATCH_MAX);
                if (n == -EINTR)
                        continue;
                if (n < 0)
                        break; /* -EAGAIN: drained; anything else: try again on the next wakeup */
                for (int i = 0; i < n; i++) {
                        if (d[i].error < 0) {
                                m->dhcp_stats.received++;
                                m->dhcp_stats.malformed++;
                                continue;
                        }
                        handle_packet(m, port, d[i].buf, d[i].len, &d[i].meta);
                }
                batch_flush(m, &batch);
                handled += (unsigned) n;
                if (n < PX_UDP_BATCH_MAX)
                        break; /* nothing more waiting */
        }
        batch_flush(m, &batch);
        current_batch = NULL;
        return 0;
}

static int on_log_flush(sd_event_source *s, uint64_t usec, void *userdata) {
        px_log_ratelimit_flush(0);
        (void) sd_event_source_set_time(s, usec + LOG_FLUSH_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

int px_dhcp_server_start(PxManager *m, GError **error) {
        int r;

        if (m->config->interface) {
                m->ifindex_filter = (int) if_nametoindex(m->config->interface);
                if (m->ifindex_filter == 0) {
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no interface named %s",
                                    m->config->interface);
                        return -ENODEV;
                }
        }
        for (int l = PX_LISTENER_DHCP; l <= PX_LISTENER_PXE; l++)
                if (m->fds.fd[l] >= 0) {
                        /* absorb bursts; a socket from systemd keeps its ReceiveBuffer= when we
                         * lack the privilege to raise it */
                        r = px_udp_grow_receive_buffer(m->fds.fd[l], RECEIVE_BUFFER_BYTES);
                        if (r < 0)
                                px_log_debug(NULL, "dhcp", "cannot raise the receive buffer: %s", g_strerror(-r));
                }
        /* Reports what the per-packet log limits held back once a burst is over. Floating: it
         * lives as long as the event loop. */
        r = sd_event_add_time_relative(m->event, NULL, CLOCK_MONOTONIC, LOG_FLUSH_USEC, 0, on_log_flush, NULL);
        if (r < 0)
                goto fail;
        if (m->fds.fd[PX_LISTENER_DHCP] >= 0) {
                r = sd_event_add_io(m->event, &m->dhcp_source, m->fds.fd[PX_LISTENER_DHCP], EPOLLIN, on_readable, m);
                if (r < 0)
                        goto fail;
        }
        if (m->fds.fd[PX_LISTENER_PXE] >= 0) {
                r = sd_event_add_io(m->event, &m->pxe_source, m->fds.fd[PX_LISTENER_PXE], EPOLLIN, on_readable, m);
                if (r < 0)
                        goto fail;
        }
        return 0;
fail:
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "cannot watch DHCP sockets: %s", g_strerror(-r));
        return r;
}

void px_dhcp_server_stop(PxManager *m) {
        m->dhcp_source = sd_event_source_disable_unref(m->dhcp_source);
        m->pxe_source = sd_event_source_disable_unref(m->pxe_source);
        while (pending_cached > 0)
                g_free(pending_cache[--pending_cached]);
}
