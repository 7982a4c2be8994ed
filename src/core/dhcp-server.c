/* SPDX-License-Identifier: Apache-2.0 */
/* ProxyDHCP (UDP 67) and PXE boot server (UDP 4011): answers PXE clients only, never offers
 * an address, stays silent to everything else. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "manager.h"
#include "px-log.h"

#define MAX_PACKETS_PER_WAKEUP 64

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

static void send_reply(PendingReply *p, PxBootSpec *spec, const char *reason) {
        PxManager *m = p->manager;
        PxeClient *c = &p->client;
        char mac[PX_MAC_STRLEN], dashed[PX_MAC_STRLEN], ip[INET_ADDRSTRLEN];
        struct in_addr server_ip = server_address(m, &p->meta);
        g_autofree char *boot_file = NULL, *prefix = NULL;
        PxeReplyParams params = {.server_ip = server_ip};
        uint8_t buf[DHCP4_MAX_PACKET];
        struct sockaddr_in to = {.sin_family = AF_INET};
        PxSession *session;
        const char *loader;
        int len, r, fd;

        px_mac_to_string(c->mac, mac);
        px_mac_to_dashed(c->mac, dashed);
        inet_ntop(AF_INET, &server_ip, ip, sizeof(ip));

        session = px_session_table_lookup(m->sessions, c->mac);
        if (!spec) {
                m->dhcp_stats.ignored++;
                px_log_info(mac, phase_name(p->port), "not booting this machine: %s", reason ? reason : "policy");
                if (session)
                        px_session_set_ignored(session, reason ? reason : "policy");
                return;
        }
        if (session)
                px_session_set_target_source(session, spec->source);

        if (server_ip.s_addr == htonl(INADDR_ANY)) {
                px_log_warning(mac, phase_name(p->port), "no IPv4 address on the receiving interface; cannot answer");
                return;
        }

        /* An iPXE that can fetch and boot over HTTP goes straight to the script; everything
         * else first gets a bootloader over TFTP. */
        if (m->config->bootloader == PX_BOOTLOADER_IPXE && pxe_client_ipxe_can_boot_http(c)) {
                char port[16] = "";
                if (m->config->http_port != 80)
                        snprintf(port, sizeof(port), ":%u", m->config->http_port);
                boot_file = g_strdup_printf("http://%s%s/_/ipxe?mac=%s&arch=%u", ip, port, mac, c->arch);
        } else {
                loader = tftp_loader_for(m, c);
                if (!loader) {
                        m->dhcp_stats.ignored++;
                        px_log_info(mac, phase_name(p->port), "no bootloader for %s firmware (arch %u); not answering",
                                    px_firmware_to_string(c->firmware), c->arch);
                        return;
                }
                if (c->is_ipxe)
                        /* iPXE takes a URL, and ignores discovery control */
                        boot_file = g_strdup_printf("tftp://%s/%s/%s", ip, dashed, loader);
                else
                        boot_file = g_strdup_printf("%s/%s", dashed, loader);
                params.sname_is_server_ip = !c->is_ipxe;
                /* BIOS PXE ROMs boot the file straight from the ProxyDHCP offer. EFI firmware
                 * tends to ignore offers that skip discovery, and without option 43 asks the
                 * boot server on port 4011 instead. */
                params.discovery_control = c->firmware == PX_FIRMWARE_BIOS;
        }
        if (m->config->bootloader == PX_BOOTLOADER_PXELINUX) {
                char port[16] = "";
                if (m->config->http_port != 80)
                        snprintf(port, sizeof(port), ":%u", m->config->http_port);
                prefix = g_strdup_printf("http://%s%s/", ip, port);
                params.pxelinux_prefix = prefix;
                params.pxelinux_reboot_s = 5;
        }
        params.boot_file = boot_file;
        params.kind = p->port == REPLY_PROXY_DHCP ? PXE_REPLY_PROXY_OFFER : PXE_REPLY_BOOT_ACK;

        len = pxe_build_reply(&p->request, c, &params, buf, sizeof(buf));
        if (len < 0) {
                px_log_errno(LOG_WARNING, len, mac, phase_name(p->port), "cannot build reply: %m");
                return;
        }

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

        r = px_udp_send(fd, buf, (size_t) len, &to, p->meta.ifindex, server_ip);
        if (r < 0) {
                m->dhcp_stats.send_errors++;
                px_log_errno(LOG_WARNING, r, mac, phase_name(p->port), "cannot send reply: %m");
                return;
        }

        if (p->port == REPLY_PROXY_DHCP)
                m->dhcp_stats.offers++;
        else
                m->dhcp_stats.acks++;
        px_log_info(mac, phase_name(p->port), "%s %s firmware%s: boot file %s",
                    p->port == REPLY_PROXY_DHCP ? "offered" : "answered boot server request of",
                    px_firmware_to_string(c->firmware), c->is_ipxe ? " (iPXE)" : "", boot_file);

        if (session && p->port == REPLY_PROXY_DHCP && session->state == PX_SESSION_DISCOVERED)
                px_session_set_state(session, PX_SESSION_OFFERED);
        else if (session && p->port == REPLY_BOOT_SERVER && session->state <= PX_SESSION_OFFERED)
                px_session_set_state(session, PX_SESSION_PXE_ACKED);
}

static void policy_answered(PxBootSpec *spec, const char *reason, void *userdata) {
        g_autofree PendingReply *p = userdata;

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
        g_autofree PendingReply *p = g_new0(PendingReply, 1);
        const char *phase = phase_name(port);
        char mac[PX_MAC_STRLEN];
        PxSession *session;
        PxMachine machine;
        int r;

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
        uint8_t buf[DHCP4_MAX_PACKET];

        for (int i = 0; i < MAX_PACKETS_PER_WAKEUP; i++) {
                PxUdpMeta meta;
                ssize_t n = px_udp_recv(fd, buf, sizeof(buf), &meta);

                if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
                        break;
                if (n < 0) {
                        m->dhcp_stats.malformed++;
                        continue;
                }
                handle_packet(m, port, buf, (size_t) n, &meta);
        }
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
}
