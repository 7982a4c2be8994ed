/* SPDX-License-Identifier: Apache-2.0 */
#include "udp.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "px-macro.h"

ssize_t px_udp_recv(int fd, void *buf, size_t size, PxUdpMeta *ret_meta) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        } control;
        struct sockaddr_in peer = {};
        struct iovec iov = {.iov_base = buf, .iov_len = size};
        struct msghdr msg = {
                .msg_name = &peer,
                .msg_namelen = sizeof(peer),
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        PxUdpMeta meta = {};
        ssize_t n;

        n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0)
                return -errno;
        if (msg.msg_flags & MSG_TRUNC || (size_t) n > size)
                return -EMSGSIZE;
        if (peer.sin_family != AF_INET)
                return -EAFNOSUPPORT;

        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                        struct in_pktinfo info;
                        memcpy(&info, CMSG_DATA(c), sizeof(info));
                        meta.local = info.ipi_spec_dst;
                        meta.destination = info.ipi_addr;
                        meta.ifindex = info.ipi_ifindex;
                }
        meta.peer = peer;
        *ret_meta = meta;
        return n;
}

int px_udp_send(int fd, const void *buf, size_t len, const struct sockaddr_in *to, int ifindex, struct in_addr src) {
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        } control = {};
        struct iovec iov = {.iov_base = (void *) buf, .iov_len = len};
        struct msghdr msg = {
                .msg_name = (void *) to,
                .msg_namelen = sizeof(*to),
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };

        if (ifindex > 0 || src.s_addr != INADDR_ANY) {
                struct in_pktinfo info = {.ipi_ifindex = ifindex, .ipi_spec_dst = src};
                struct cmsghdr *c;

                msg.msg_control = &control;
                msg.msg_controllen = sizeof(control);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = IPPROTO_IP;
                c->cmsg_type = IP_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(info));
                memcpy(CMSG_DATA(c), &info, sizeof(info));
        }

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
