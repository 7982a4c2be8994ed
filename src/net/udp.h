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

/* Sends `len` bytes to `to`, out of `ifindex` (0: routing decides) with source address `src`
 * (INADDR_ANY: kernel decides). */
int px_udp_send(int fd, const void *buf, size_t len, const struct sockaddr_in *to, int ifindex, struct in_addr src);

/* Enables IP_PKTINFO (and SO_BROADCAST if asked) on an existing socket. */
int px_udp_setup(int fd, bool broadcast);

/* Batched I/O (recvmmsg/sendmmsg): one system call for up to PX_UDP_BATCH_MAX datagrams. */
#define PX_UDP_BATCH_MAX 32

typedef struct PxUdpDatagram {
        void *buf;      /* in: where to receive */
        size_t size;    /* in: its size */
        size_t len;     /* out: datagram length */
        PxUdpMeta meta; /* out */
        int error;      /* out: 0, or -EMSGSIZE (truncated), -EAFNOSUPPORT (not IPv4) */
} PxUdpDatagram;

/* Non-blocking receive of up to n (≤ PX_UDP_BATCH_MAX) datagrams. Returns how many were
 * received (each may carry an error of its own), -EAGAIN when none is waiting, other -errno. */
int px_udp_recv_batch(int fd, PxUdpDatagram *d, unsigned n);

typedef struct PxUdpOutgoing {
        const void *buf;
        size_t len;
        struct sockaddr_in to;
        int ifindex;        /* 0: routing decides */
        struct in_addr src; /* INADDR_ANY: kernel decides */
        int error;          /* out: 0 or the -errno of this datagram */
} PxUdpOutgoing;

/* Sends n (≤ PX_UDP_BATCH_MAX) datagrams, non-blocking. A datagram that fails gets its error
 * and the rest are still tried. Returns how many were sent. */
unsigned px_udp_send_batch(int fd, PxUdpOutgoing *out, unsigned n);

/* Raises the receive buffer to `bytes` (SO_RCVBUFFORCE when privileged, else SO_RCVBUF, which
 * the kernel caps at net.core.rmem_max). Never shrinks it. */
int px_udp_grow_receive_buffer(int fd, int bytes);

/* Creates a non-blocking, CLOEXEC UDP socket bound to addr:port with IP_PKTINFO. */
int px_udp_bind(struct in_addr addr, uint16_t port, bool broadcast, int *ret_fd);

/* MTU of an interface, or a negative errno. */
int px_interface_mtu(int ifindex);
