/* SPDX-License-Identifier: Apache-2.0 */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "px-macro.h"
#include "udp.h"

static const char *const listener_names[_PX_LISTENER_MAX] = {
        [PX_LISTENER_DHCP] = "dhcp",
        [PX_LISTENER_PXE] = "pxe",
        [PX_LISTENER_TFTP] = "tftp",
        [PX_LISTENER_HTTP] = "http",
};

const char *px_listener_to_string(PxListener l) {
        return l < _PX_LISTENER_MAX ? listener_names[l] : NULL;
}

void px_listen_fds_close(PxListenFds *fds) {
        for (int i = 0; i < _PX_LISTENER_MAX; i++)
                fds->fd[i] = px_safe_close(fds->fd[i]);
}

static int socket_port(int fd) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
                return -errno;
        if (ss.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *) &ss)->sin_port);
        if (ss.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
        return -EAFNOSUPPORT;
}

static int identify(int fd, const char *name, const PxListenPorts *ports) {
        for (int i = 0; i < _PX_LISTENER_MAX; i++)
                if (name && g_str_equal(name, listener_names[i]))
                        return i;

        /* One socket unit names all its fds alike: fall back to type and port. */
        int port = socket_port(fd);
        if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0)
                return PX_LISTENER_HTTP;
        if (sd_is_socket(fd, AF_UNSPEC, SOCK_DGRAM, -1) > 0)
                for (int i = PX_LISTENER_DHCP; i <= PX_LISTENER_TFTP; i++)
                        if (ports->port[i] != 0 && port == ports->port[i])
                                return i;
        return -ENOENT;
}

static gboolean bind_listener(PxListener l, const PxListenPorts *ports, int *ret_fd, GError **error) {
        struct in_addr addr = ports->addr;
        char text[INET_ADDRSTRLEN];
        int r;

        /* DHCP broadcasts only reach a socket bound to the wildcard address. */
        if (l == PX_LISTENER_DHCP)
                addr.s_addr = htonl(INADDR_ANY);
        inet_ntop(AF_INET, &addr, text, sizeof(text));

        if (l == PX_LISTENER_HTTP) {
                _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ports->port[l]), .sin_addr = addr};
                int one = 1;

                if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
                    bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
                        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "TCP %s:%u (http): %s", text,
                                    ports->port[l], g_strerror(errno));
                        return FALSE;
                }
                *ret_fd = px_steal_fd(&fd);
                return TRUE;
        }

        r = px_udp_bind(addr, ports->port[l], l == PX_LISTENER_DHCP, ret_fd);
        if (r < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "UDP %s:%u (%s): %s%s", text, ports->port[l],
                            listener_names[l], g_strerror(-r),
                            r == -EACCES ? " (binding ports below 1024 needs root or CAP_NET_BIND_SERVICE)"
                            : r == -EADDRINUSE && l == PX_LISTENER_DHCP
                                    ? " (another DHCP server runs on this host; see README, Troubleshooting)"
                                    : "");
                return FALSE;
        }
        return TRUE;
}

gboolean px_listen_open(const PxListenPorts *ports, PxListenFds *ret, GError **error) {
        PxListenFds fds;
        char **names = NULL;
        int n;

        for (int i = 0; i < _PX_LISTENER_MAX; i++) {
                fds.fd[i] = -1;
                fds.activated[i] = false;
        }

        n = sd_listen_fds_with_names(true, &names);
        if (n < 0) {
                g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot take sockets from systemd: %s",
                            g_strerror(-n));
                return FALSE;
        }
        for (int k = 0; k < n; k++) {
                int fd = SD_LISTEN_FDS_START + k;
                int which = identify(fd, names ? names[k] : NULL, ports);

                (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
                if (which < 0 || fds.fd[which] >= 0) {
                        g_warning("closing unexpected socket passed by systemd (fd %d, name %s)", fd,
                                  names && names[k] ? names[k] : "?");
                        close(fd);
                        continue;
                }
                if (which != PX_LISTENER_HTTP && sd_is_socket_inet(fd, AF_INET, SOCK_DGRAM, -1, 0) <= 0) {
                        int port = socket_port(fd);
                        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                                    "the %s socket passed by systemd is not an IPv4 UDP socket; use "
                                    "ListenDatagram=0.0.0.0:%d (a bare port number makes an IPv6 socket)",
                                    listener_names[which], port);
                        close(fd);
                        for (int j = k + 1; j < n; j++)
                                close(SD_LISTEN_FDS_START + j);
                        g_strfreev(names);
                        px_listen_fds_close(&fds);
                        return FALSE;
                }
                (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                if (which != PX_LISTENER_HTTP)
                        (void) px_udp_setup(fd, which == PX_LISTENER_DHCP);
                fds.fd[which] = fd;
                fds.activated[which] = true;
        }
        g_strfreev(names);

        for (int i = 0; i < _PX_LISTENER_MAX; i++) {
                if (fds.fd[i] >= 0 || ports->port[i] == 0)
                        continue;
                if (!bind_listener(i, ports, &fds.fd[i], error)) {
                        px_listen_fds_close(&fds);
                        return FALSE;
                }
        }
        *ret = fds;
        return TRUE;
}
