/* SPDX-License-Identifier: Apache-2.0 */
/* TFTP load client for the benchmarks: N concurrent downloads of one file from one server, with
 * blksize (RFC 2348) and windowsize (RFC 7440), in one thread (epoll + recvmmsg). Plain libc.
 *
 *   tftp-load --port N --file NAME [--host 127.0.0.1] [--blksize N] [--windowsize N]
 *             [--clients N] [--verify PATH] [--timeout-ms N] [--max-seconds N]
 *
 * --blksize 0 sends a plain RFC 1350 request (no options). A server that leaves windowsize out
 * of its OACK gets lock-step transfers (windowsize 1). Data is discarded, or compared with PATH
 * (--verify). Prints one line per client and a final line:
 *   TOTAL clients=N ok=N bytes=N seconds=F mbps=F windowsize=N blksize=N retransmits=N
 * (mbps: 10^6 bytes per second, all clients together). Exit status 0 when every client got the
 * whole file. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS  1024
#define RECV_BATCH   64
#define RCVBUF_BYTES (8 * 1024 * 1024)

typedef struct Client {
        int fd;
        bool connected; /* to the server's transfer port, after its first reply */
        bool done;
        bool failed;
        unsigned blksize;    /* negotiated */
        unsigned windowsize; /* negotiated */
        uint64_t expected;   /* next block index (64-bit, from 1) */
        unsigned in_window;  /* blocks received in order since the last ACK */
        uint64_t bytes;
        uint64_t retransmits;
        double start, end, last_rx;
        struct sockaddr_in server;
} Client;

static const char *opt_host = "127.0.0.1";
static unsigned opt_port, opt_blksize = 1468, opt_windowsize, opt_clients = 1, opt_timeout_ms = 1000,
                          opt_max_seconds = 120;
static const char *opt_file, *opt_verify;
static const uint8_t *verify_data;
static uint64_t verify_size;

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static size_t put_str(uint8_t *buf, size_t pos, size_t size, const char *s) {
        size_t n = strlen(s) + 1;

        if (pos + n > size)
                return size + 1;
        memcpy(buf + pos, s, n);
        return pos + n;
}

static int send_rrq(Client *c) {
        uint8_t buf[512];
        char num[16];
        size_t pos = 2;

        buf[0] = 0;
        buf[1] = 1;
        pos = put_str(buf, pos, sizeof(buf), opt_file);
        pos = put_str(buf, pos, sizeof(buf), "octet");
        if (opt_blksize > 0) {
                snprintf(num, sizeof(num), "%u", opt_blksize);
                pos = put_str(buf, pos, sizeof(buf), "blksize");
                pos = put_str(buf, pos, sizeof(buf), num);
        }
        if (opt_windowsize > 0) {
                snprintf(num, sizeof(num), "%u", opt_windowsize);
                pos = put_str(buf, pos, sizeof(buf), "windowsize");
                pos = put_str(buf, pos, sizeof(buf), num);
        }
        if (pos > sizeof(buf))
                return -ENAMETOOLONG;
        if (sendto(c->fd, buf, pos, 0, (struct sockaddr *) &c->server, sizeof(c->server)) < 0)
                return -errno;
        return 0;
}

static void send_ack(Client *c, uint16_t block) {
        uint8_t buf[4] = {0, 4, (uint8_t) (block >> 8), (uint8_t) block};

        (void) send(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        c->in_window = 0;
}

static void send_error(Client *c, const char *msg) {
        uint8_t buf[128] = {0, 5, 0, 0};
        size_t n = 4 + (size_t) snprintf((char *) buf + 4, sizeof(buf) - 4, "%s", msg) + 1;

        (void) send(c->fd, buf, n, MSG_DONTWAIT);
}

/* Parses an OACK; returns false on an option we did not ask for. */
static bool parse_oack(Client *c, const uint8_t *p, size_t len) {
        size_t pos = 2;

        c->blksize = 512;
        c->windowsize = 1;
        while (pos < len) {
                const char *name = (const char *) p + pos, *value;
                const uint8_t *nul = memchr(p + pos, 0, len - pos);

                if (!nul)
                        return false;
                pos = (size_t) (nul - p) + 1;
                value = (const char *) p + pos;
                nul = memchr(p + pos, 0, len - pos);
                if (!nul)
                        return false;
                pos = (size_t) (nul - p) + 1;
                if (strcasecmp(name, "blksize") == 0)
                        c->blksize = (unsigned) strtoul(value, NULL, 10);
                else if (strcasecmp(name, "windowsize") == 0)
                        c->windowsize = (unsigned) strtoul(value, NULL, 10);
                else if (strcasecmp(name, "tsize") != 0 && strcasecmp(name, "timeout") != 0)
                        return false;
        }
        return c->blksize >= 8 && c->blksize <= 65464 && c->windowsize >= 1;
}

static void finish(Client *c, bool ok, const char *why) {
        c->done = true;
        c->failed = !ok;
        c->end = now();
        if (!ok)
                fprintf(stderr, "tftp-load: client %d: %s\n", c->fd, why);
}

static void handle_datagram(Client *c, const uint8_t *p, size_t len, const struct sockaddr_in *from) {
        unsigned op;

        if (len < 4)
                return;
        if (!c->connected) {
                c->server.sin_port = from->sin_port;
                if (connect(c->fd, (const struct sockaddr *) &c->server, sizeof(c->server)) < 0) {
                        finish(c, false, "connect failed");
                        return;
                }
                c->connected = true;
        }
        c->last_rx = now();

        op = (unsigned) p[0] << 8 | p[1];
        if (op == 6) { /* OACK */
                if (c->expected != 1 || c->bytes > 0)
                        return;
                if (!parse_oack(c, p, len)) {
                        send_error(c, "bad OACK");
                        finish(c, false, "bad OACK");
                        return;
                }
                send_ack(c, 0);
                return;
        }
        if (op == 5) {
                finish(c, false, (const char *) p + 4);
                return;
        }
        if (op != 3)
                return;

        if (c->blksize == 0) { /* DATA without an OACK: the server ignored our options */
                c->blksize = 512;
                c->windowsize = 1;
        }

        uint16_t block = (uint16_t) (p[2] << 8 | p[3]);
        size_t n = len - 4;

        if (block != (uint16_t) c->expected) {
                /* Out of order or duplicate (our ACK was lost): tell the server what we hold in
                 * order (RFC 7440 §4). */
                send_ack(c, (uint16_t) (c->expected - 1));
                return;
        }
        if (n > c->blksize) {
                finish(c, false, "oversized block");
                return;
        }
        if (verify_data) {
                uint64_t off = (c->expected - 1) * c->blksize;

                if (off + n > verify_size || memcmp(verify_data + off, p + 4, n) != 0) {
                        send_error(c, "content mismatch");
                        finish(c, false, "content mismatch");
                        return;
                }
        }
        c->bytes += n;
        c->expected++;
        c->in_window++;
        if (n < c->blksize) {
                send_ack(c, block);
                if (verify_data && c->bytes != verify_size)
                        finish(c, false, "size mismatch");
                else
                        finish(c, true, NULL);
                return;
        }
        if (c->in_window >= c->windowsize)
                send_ack(c, block);
}

static void usage(void) {
        fprintf(stderr, "usage: tftp-load --port N --file NAME [--host ADDR] [--blksize N] [--windowsize N]\n"
                        "                 [--clients N] [--verify PATH] [--timeout-ms N] [--max-seconds N]\n");
        exit(2);
}

static unsigned parse_uint(const char *s, unsigned max) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > max)
                usage();
        return (unsigned) v;
}

static int load_verify(const char *path) {
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        verify_size = (uint64_t) st.st_size;
        if (verify_size > 0) {
                void *p = mmap(NULL, verify_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
                if (p == MAP_FAILED)
                        return -errno;
                verify_data = p;
        } else
                verify_data = (const uint8_t *) "";
        close(fd);
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"host", required_argument, NULL, 'H'},        {"port", required_argument, NULL, 'p'},
                {"file", required_argument, NULL, 'f'},        {"blksize", required_argument, NULL, 'b'},
                {"windowsize", required_argument, NULL, 'w'},  {"clients", required_argument, NULL, 'c'},
                {"verify", required_argument, NULL, 'V'},      {"timeout-ms", required_argument, NULL, 't'},
                {"max-seconds", required_argument, NULL, 'm'}, {},
        };
        static Client clients[MAX_CLIENTS];
        static uint8_t bufs[RECV_BATCH][65536 + 4];
        struct mmsghdr msgs[RECV_BATCH];
        struct iovec iovs[RECV_BATCH];
        struct sockaddr_in froms[RECV_BATCH];
        struct epoll_event evs[64];
        unsigned remaining, ok = 0;
        uint64_t total = 0, retransmits = 0;
        double start, end = 0, deadline;
        int c, ep, rcvbuf = RCVBUF_BYTES;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'H':
                        opt_host = optarg;
                        break;
                case 'p':
                        opt_port = parse_uint(optarg, 65535);
                        break;
                case 'f':
                        opt_file = optarg;
                        break;
                case 'b':
                        opt_blksize = parse_uint(optarg, 65464);
                        break;
                case 'w':
                        opt_windowsize = parse_uint(optarg, 65535);
                        break;
                case 'c':
                        opt_clients = parse_uint(optarg, MAX_CLIENTS);
                        break;
                case 'V':
                        opt_verify = optarg;
                        break;
                case 't':
                        opt_timeout_ms = parse_uint(optarg, 600000);
                        break;
                case 'm':
                        opt_max_seconds = parse_uint(optarg, 3600);
                        break;
                default:
                        usage();
                }
        if (!opt_file || opt_port == 0 || opt_clients == 0 || (opt_blksize > 0 && opt_blksize < 8))
                usage();
        if (opt_verify && load_verify(opt_verify) < 0) {
                fprintf(stderr, "tftp-load: cannot read %s: %m\n", opt_verify);
                return 1;
        }
        if (opt_blksize == 0)
                opt_windowsize = 0; /* options need blksize's OACK path in this client */

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0)
                return 1;
        for (unsigned i = 0; i < RECV_BATCH; i++) {
                iovs[i] = (struct iovec){.iov_base = bufs[i], .iov_len = sizeof(bufs[i])};
                msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iovs[i], .msg_iovlen = 1}};
        }

        start = now();
        deadline = start + opt_max_seconds;
        for (unsigned i = 0; i < opt_clients; i++) {
                Client *cl = &clients[i];
                struct sockaddr_in any = {.sin_family = AF_INET};
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = cl};

                cl->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (cl->fd < 0) {
                        perror("socket");
                        return 1;
                }
                if (setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
                        (void) setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
                if (bind(cl->fd, (struct sockaddr *) &any, sizeof(any)) < 0) {
                        perror("bind");
                        return 1;
                }
                cl->server = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t) opt_port)};
                if (inet_pton(AF_INET, opt_host, &cl->server.sin_addr) != 1)
                        usage();
                cl->expected = 1;
                cl->blksize = opt_blksize > 0 ? 0 : 512; /* 0: OACK still expected */
                cl->windowsize = 1;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, cl->fd, &ev) < 0)
                        return 1;
                cl->start = cl->last_rx = now();
                if (send_rrq(cl) < 0) {
                        finish(cl, false, "send RRQ failed");
                        continue;
                }
        }
        remaining = opt_clients;
        for (unsigned i = 0; i < opt_clients; i++)
                if (clients[i].done)
                        remaining--;

        while (remaining > 0) {
                double t = now();
                int n;

                if (t > deadline) {
                        for (unsigned i = 0; i < opt_clients; i++)
                                if (!clients[i].done)
                                        finish(&clients[i], false, "deadline");
                        break;
                }
                /* Retransmit timer: resend what we last sent (RRQ, or the ACK of what we hold). */
                for (unsigned i = 0; i < opt_clients; i++) {
                        Client *cl = &clients[i];

                        if (cl->done || t - cl->last_rx < opt_timeout_ms / 1000.0)
                                continue;
                        cl->retransmits++;
                        cl->last_rx = t;
                        if (!cl->connected)
                                (void) send_rrq(cl);
                        else
                                send_ack(cl, (uint16_t) (cl->expected - 1));
                }

                n = epoll_wait(ep, evs, 64, 20);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("epoll_wait");
                        return 1;
                }
                for (int e = 0; e < n; e++) {
                        Client *cl = evs[e].data.ptr;

                        for (;;) {
                                int k;

                                if (cl->done)
                                        break;
                                for (unsigned i = 0; i < RECV_BATCH; i++) {
                                        msgs[i].msg_hdr.msg_name = &froms[i];
                                        msgs[i].msg_hdr.msg_namelen = sizeof(froms[i]);
                                }
                                k = recvmmsg(cl->fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
                                if (k <= 0)
                                        break;
                                for (int i = 0; i < k && !cl->done; i++) {
                                        if (cl->connected || froms[i].sin_addr.s_addr == cl->server.sin_addr.s_addr)
                                                handle_datagram(cl, bufs[i], msgs[i].msg_len, &froms[i]);
                                }
                                if (k < RECV_BATCH)
                                        break;
                        }
                        if (cl->done) {
                                remaining--;
                                (void) epoll_ctl(ep, EPOLL_CTL_DEL, cl->fd, NULL);
                        }
                }
        }

        for (unsigned i = 0; i < opt_clients; i++) {
                Client *cl = &clients[i];

                if (!cl->failed && cl->done)
                        ok++;
                total += cl->bytes;
                retransmits += cl->retransmits;
                if (cl->end > end)
                        end = cl->end;
                printf("CLIENT %u ok=%d bytes=%" PRIu64 " seconds=%.6f blksize=%u windowsize=%u\n", i,
                       cl->done && !cl->failed, cl->bytes, cl->end - cl->start, cl->blksize, cl->windowsize);
                close(cl->fd);
        }
        if (end <= start)
                end = now();
        printf("TOTAL clients=%u ok=%u bytes=%" PRIu64 " seconds=%.6f mbps=%.2f windowsize=%u blksize=%u "
               "retransmits=%" PRIu64 "\n",
               opt_clients, ok, total, end - start, (double) total / (end - start) / 1e6, clients[0].windowsize,
               clients[0].blksize, retransmits);
        return ok == opt_clients ? 0 : 1;
}
