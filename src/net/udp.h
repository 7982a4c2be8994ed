/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* UDP datagrams with IP_PKTINFO: learn where a request arrived, reply from there. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct PxUdpMeta {
        struct sockaddr_in peer;
        struct in_addr local;       /* ipi_spec_dst: our address on the ingress interface */
        struct in_addr destination; /* ipi_addr: header destination (may be broadcast) */
        int ifindex;                /* 0 if unknown */
} PxUdpMeta;

/* Non-blocking receive. Returns the datagram length, -EAGAIN when empty, other -errno. A
 * datagram longer than size is reported as -EMSGSIZE (and consumed). */
ssize_t px_udp_recv(int fd, void *buf, size_t size, PxUdpMeta *ret_meta);

/* Sends `len` bytes to `to`, out of `ifindex` (0: routing decides) with source address `src`
 * (INADDR_ANY: kernel decides). */
int px_udp_send(int fd, const void *buf, size_t len, const struct sockaddr_in *to, int ifindex, struct in_addr src);

/* Enables IP_PKTINFO (and SO_BROADCAST if asked) on an existing socket. */
int px_udp_setup(int fd, bool broadcast);

/* Creates a non-blocking, CLOEXEC UDP socket bound to addr:port with IP_PKTINFO. */
int px_udp_bind(struct in_addr addr, uint16_t port, bool broadcast, int *ret_fd);

/* MTU of an interface, or a negative errno. */
int px_interface_mtu(int ifindex);
