/* SPDX-License-Identifier: Apache-2.0 */
#include "udp.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "px-macro.h"

typedef union PktinfoControl {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
} PktinfoControl;

static void read_pktinfo(struct msghdr *msg, PxUdpMeta *meta) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                        struct in_pktinfo info;
                        memcpy(&info, CMSG_DATA(c), sizeof(info));
                        meta->local = info.ipi_spec_dst;
                        meta->destination = info.ipi_addr;
                        meta->ifindex = info.ipi_ifindex;
                }
}

int px_udp_recv_batch(int fd, PxUdpDatagram *d, unsigned n) {
        struct mmsghdr msgs[PX_UDP_BATCH_MAX];
        struct iovec iov[PX_UDP_BATCH_MAX];
        struct sockaddr_in peers[PX_UDP_BATCH_MAX];
        PktinfoControl control[PX_UDP_BATCH_MAX];
        int k;

        if (n == 0 || n > PX_UDP_BATCH_MAX)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++) {
                iov[i] = (struct iovec){.iov_base = d[i].buf, .iov_len = d[i].size};
                msgs[i] = (struct mmsghdr){.msg_hdr = {
                                                   .msg_name = &peers[i],
                                                   .msg_namelen = sizeof(peers[i]),
                                                   .msg_iov = &iov[i],
                                                   .msg_iovlen = 1,
                                                   .msg_control = &control[i],
                                                   .msg_controllen = sizeof(control[i]),
                                           }};
        }
        k = recvmmsg(fd, msgs, n, MSG_DONTWAIT, NULL);
        if (k < 0)
                return -errno;
        if (k == 0)
                return -EAGAIN;
        for (int i = 0; i < k; i++) {
                struct msghdr *msg = &msgs[i].msg_hdr;

                d[i].len = msgs[i].msg_len;
                d[i].meta = (PxUdpMeta){.peer = peers[i]};
                d[i].error = 0;
                if (msg->msg_flags & MSG_TRUNC)
                        d[i].error = -EMSGSIZE;
                else if (msg->msg_namelen < sizeof(struct sockaddr_in) || peers[i].sin_family != AF_INET)
                        d[i].error = -EAFNOSUPPORT;
                else
                        read_pktinfo(msg, &d[i].meta);
        }
        return k;
}

static void set_pktinfo(struct msghdr *msg, PktinfoControl *control, int ifindex, struct in_addr src) {
        struct in_pktinfo info = {.ipi_ifindex = ifindex, .ipi_spec_dst = src};
        struct cmsghdr *c;

        if (ifindex <= 0 && src.s_addr == INADDR_ANY)
                return;
        *control = (PktinfoControl){};
        msg->msg_control = control;
        msg->msg_controllen = sizeof(*control);
        c = CMSG_FIRSTHDR(msg);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(info));
        memcpy(CMSG_DATA(c), &info, sizeof(info));
}

unsigned px_udp_send_batch(int fd, PxUdpOutgoing *out, unsigned n) {
        struct mmsghdr msgs[PX_UDP_BATCH_MAX];
        struct iovec iov[PX_UDP_BATCH_MAX];
        PktinfoControl control[PX_UDP_BATCH_MAX];
        unsigned sent = 0, i = 0;

        n = n > PX_UDP_BATCH_MAX ? PX_UDP_BATCH_MAX : n;
        for (unsigned j = 0; j < n; j++) {
                iov[j] = (struct iovec){.iov_base = (void *) out[j].buf, .iov_len = out[j].len};
                msgs[j] = (struct mmsghdr){.msg_hdr = {
                                                   .msg_name = &out[j].to,
                                                   .msg_namelen = sizeof(out[j].to),
                                                   .msg_iov = &iov[j],
                                                   .msg_iovlen = 1,
                                           }};
                set_pktinfo(&msgs[j].msg_hdr, &control[j], out[j].ifindex, out[j].src);
                out[j].error = 0;
        }
        while (i < n) {
                int k = sendmmsg(fd, msgs + i, n - i, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        /* the first of the rest failed: note it, go on with the next */
                        out[i++].error = -errno;
                        continue;
                }
                if (k == 0) {
                        out[i++].error = -EIO;
                        continue;
                }
                sent += (unsigned) k;
                i += (unsigned) k;
        }
        return sent;
}

int px_udp_grow_receive_buffer(int fd, int bytes) {
        int cur = 0;
        socklen_t l = sizeof(cur);

        /* the kernel reports twice the requested value (bookkeeping overhead) */
        if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cur, &l) >= 0 && cur / 2 >= bytes)
                return 0;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) >= 0)
                return 0;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) < 0)
                return -errno;
        return 0;
}

int px_udp_send(int fd, const void *buf, size_t len, const struct sockaddr_in *to, int ifindex, struct in_addr src) {
        PktinfoControl control;
        struct iovec iov = {.iov_base = (void *) buf, .iov_len = len};
        struct msghdr msg = {
                .msg_name = (void *) to,
                .msg_namelen = sizeof(*to),
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };

        set_pktinfo(&msg, &control, ifindex, src);
        if (sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

int px_udp_setup(int fd, bool broadcast) {
        int one = 1;

        if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
                return -errno;
        if (broadcast && setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0)
                return -errno;
        return 0;
}

int px_udp_bind(struct in_addr addr, uint16_t port, bool broadcast, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr};
        int one = 1, r;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return -errno;
        r = px_udp_setup(fd, broadcast);
        if (r < 0)
                return r;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        *ret_fd = px_steal_fd(&fd);
        return 0;
}

int px_interface_mtu(int ifindex) {
        _cleanup_close_ int fd = -1;
        struct ifreq ifr = {};

        if (ifindex <= 0 || !if_indextoname((unsigned) ifindex, ifr.ifr_name))
                return -ENODEV;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
                return -errno;
        return ifr.ifr_mtu;
}
