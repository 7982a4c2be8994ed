/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The four listening sockets: taken from systemd (socket activation) or bound by us. */

#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>

typedef enum PxListener {
        PX_LISTENER_DHCP, /* UDP 67 */
        PX_LISTENER_PXE,  /* UDP 4011 */
        PX_LISTENER_TFTP, /* UDP 69 */
        PX_LISTENER_HTTP, /* TCP 80 */
        _PX_LISTENER_MAX,
} PxListener;

const char *px_listener_to_string(PxListener l);

typedef struct PxListenPorts {
        uint16_t port[_PX_LISTENER_MAX]; /* 0: listener disabled */
        struct in_addr addr;             /* address to bind UDP 4011/69 and TCP to; DHCP always binds any */
} PxListenPorts;

typedef struct PxListenFds {
        int fd[_PX_LISTENER_MAX]; /* -1: none */
        bool activated[_PX_LISTENER_MAX];
} PxListenFds;

/* Takes sockets passed by systemd (LISTEN_FDS): identified by FileDescriptorName= (dhcp, pxe,
 * tftp, http) when set, otherwise by socket type and port. Then binds whatever is still
 * missing. Unknown passed fds are closed with an error. Fails with a message naming the
 * socket (e.g. "UDP 0.0.0.0:67: Address already in use"). */
gboolean px_listen_open(const PxListenPorts *ports, PxListenFds *ret, GError **error);
void px_listen_fds_close(PxListenFds *fds);
