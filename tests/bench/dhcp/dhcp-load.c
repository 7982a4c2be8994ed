/* SPDX-License-Identifier: Apache-2.0 */
/* ProxyDHCP load generator for the benchmarks: sends PXE DHCPDISCOVERs (BIOS PXE 2.1, like
 * tests/data/dhcp/bios-discover.hex) at a fixed rate from port 68, each with its own xid and a
 * MAC out of a bounded set, receives the OFFERs (broadcast to port 68), matches them by xid and
 * records the latency on CLOCK_MONOTONIC.
 *
 *   dhcp-load [--rate N/s] [--count N] [--duration S] [--macs N] [--wait-ms MS] [--iface IF]
 *             [--to ADDR] [--port N] [--src-port N] [--first] [--latencies FILE]
 *   dhcp-load --reflect [--duration S] [--iface IF]    (the "floor" server, see reflect())
 *
 * Sending is bounded by --count and --duration (whichever ends first); afterwards it waits
 * --wait-ms for late replies. --first (the cold start benchmark) stops at the first OFFER: it
 * sends DISCOVERs at --rate (retransmissions; at most --count) until one is answered. Output: one
 * line of "key=value" pairs: sent answered rate_sent rate_answered p50_us p90_us p99_us max_us
 * dup bad unknown send_errors, first_us (first DISCOVER sent to first OFFER received, any xid)
 * and first_tx_ns/first_rx_ns (CLOCK_MONOTONIC, to relate them to other processes' clocks).
 * Exits 0 when it ran, 2 on bad usage or socket errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PACKET_SIZE  548
#define RECV_BATCH   64
#define RECV_BUFSIZE 1500
#define MAX_COUNT    (10 * 1000 * 1000)

typedef struct Options {
        double rate;
        uint64_t count;
        double duration_s;
        unsigned macs;
        unsigned wait_ms;
        const char *iface;
        struct in_addr to;
        uint16_t port;
        uint16_t src_port;
        bool first;
        bool reflect;
        const char *latencies;
} Options;

typedef struct Slot {
        uint64_t sent_ns; /* 0: not sent */
        uint64_t latency_ns;
        bool answered;
} Slot;

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static void put_option(uint8_t *p, size_t *off, uint8_t code, const void *data, uint8_t len) {
        p[(*off)++] = code;
        p[(*off)++] = len;
        memcpy(p + *off, data, len);
        *off += len;
}

/* A BIOS PXE 2.1 DISCOVER: option order as Intel UNDI ROMs send them (53, 57, 55, 97, 94, 93,
 * 60), padded to 548 bytes. */
static void build_discover(uint8_t p[PACKET_SIZE], uint32_t xid, const uint8_t mac[6]) {
        static const uint8_t prl[] = {1,  2,  3,  4,  5,  6,  11, 12, 13, 15, 16,  17,  18,  22,  23,  28,  40,  41,
                                      42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135};
        static const char vendor[] = "PXEClient:Arch:00000:UNDI:002001";
        const uint8_t type = 1, maxsize[2] = {0x04, 0xec}, undi[3] = {1, 2, 1}, arch[2] = {0, 0};
        uint8_t guid[17] = {0};
        size_t off = 240;

        memset(p, 0, PACKET_SIZE);
        p[0] = 1; /* BOOTREQUEST */
        p[1] = 1; /* Ethernet */
        p[2] = 6;
        p[4] = (uint8_t) (xid >> 24);
        p[5] = (uint8_t) (xid >> 16);
        p[6] = (uint8_t) (xid >> 8);
        p[7] = (uint8_t) xid;
        p[10] = 0x80; /* broadcast flag */
        memcpy(p + 28, mac, 6);
        p[236] = 0x63;
        p[237] = 0x82;
        p[238] = 0x53;
        p[239] = 0x63;
        memcpy(guid + 1, mac, 6);
        guid[16] = 0x42;
        put_option(p, &off, 53, &type, 1);
        put_option(p, &off, 57, maxsize, 2);
        put_option(p, &off, 55, prl, sizeof(prl));
        put_option(p, &off, 97, guid, sizeof(guid));
        put_option(p, &off, 94, undi, sizeof(undi));
        put_option(p, &off, 93, arch, sizeof(arch));
        put_option(p, &off, 60, vendor, sizeof(vendor) - 1);
        p[off] = 255;
}

static void make_mac(uint64_t i, unsigned macs, uint8_t mac[6]) {
        uint32_t n = (uint32_t) (i % macs);

        mac[0] = 0x52;
        mac[1] = 0x54;
        mac[2] = 0xbe;
        mac[3] = (uint8_t) (n >> 16);
        mac[4] = (uint8_t) (n >> 8);
        mac[5] = (uint8_t) n;
}

/* Returns the DHCP message type (option 53) or -1. Options in sname/file are not looked at: an
 * OFFER always carries 53 in the options field. */
static int message_type(const uint8_t *p, size_t len) {
        size_t i = 240;

        if (len < 241 || p[0] != 2 || p[236] != 0x63 || p[237] != 0x82 || p[238] != 0x53 || p[239] != 0x63)
                return -1;
        while (i < len) {
                uint8_t code = p[i];
                if (code == 0) {
                        i++;
                        continue;
                }
                if (code == 255 || i + 1 >= len || i + 2 + p[i + 1] > len)
                        return -1;
                if (code == 53 && p[i + 1] == 1)
                        return p[i + 2];
                i += 2 + p[i + 1];
        }
        return -1;
}

typedef struct Stats {
        uint64_t answered, dup, bad, unknown;
        uint64_t first_rx_ns; /* CLOCK_MONOTONIC when the first OFFER arrived, 0: none */
} Stats;

/* CLOCK_REALTIME minus CLOCK_MONOTONIC, to put the kernel's receive timestamps (SO_TIMESTAMPNS,
 * realtime) on the monotonic clock of the send times. Taken once: a run lasts seconds. */
static int64_t realtime_offset_ns;

static void measure_clock_offset(void) {
        struct timespec rt, mono;

        clock_gettime(CLOCK_MONOTONIC, &mono);
        clock_gettime(CLOCK_REALTIME, &rt);
        realtime_offset_ns = ((int64_t) rt.tv_sec - (int64_t) mono.tv_sec) * 1000000000LL +
                             ((int64_t) rt.tv_nsec - (int64_t) mono.tv_nsec);
}

/* When the reply reached our socket, on CLOCK_MONOTONIC: the kernel's timestamp, so that our
 * own wakeup delay is not counted against the server; `fallback` if there is none. */
static uint64_t rx_time(struct msghdr *msg, uint64_t fallback) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                        struct timespec ts;
                        int64_t t;

                        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                        t = (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec - realtime_offset_ns;
                        return t > 0 && (uint64_t) t <= fallback ? (uint64_t) t : fallback;
                }
        return fallback;
}

static void drain(int fd, Slot *slots, uint64_t nslots, uint32_t xid_base, Stats *st) {
        static uint8_t bufs[RECV_BATCH][RECV_BUFSIZE];
        static union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(struct timespec))];
        } control[RECV_BATCH];
        struct mmsghdr msgs[RECV_BATCH];
        struct iovec iovs[RECV_BATCH];

        for (;;) {
                int n;
                uint64_t t;

                for (int i = 0; i < RECV_BATCH; i++) {
                        iovs[i] = (struct iovec){.iov_base = bufs[i], .iov_len = RECV_BUFSIZE};
                        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iovs[i],
                                                               .msg_iovlen = 1,
                                                               .msg_control = &control[i],
                                                               .msg_controllen = sizeof(control[i])}};
                }
                n = recvmmsg(fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
                if (n <= 0)
                        return;
                t = now_ns();
                for (int i = 0; i < n; i++) {
                        const uint8_t *p = bufs[i];
                        size_t len = msgs[i].msg_len;
                        uint32_t xid;
                        uint64_t k, rx;

                        if (message_type(p, len) != 2) {
                                st->bad++;
                                continue;
                        }
                        xid = ((uint32_t) p[4] << 24) | ((uint32_t) p[5] << 16) | ((uint32_t) p[6] << 8) | p[7];
                        k = (uint64_t) (uint32_t) (xid - xid_base);
                        if (k >= nslots || slots[k].sent_ns == 0) {
                                st->unknown++;
                                continue;
                        }
                        if (slots[k].answered) {
                                st->dup++;
                                continue;
                        }
                        slots[k].answered = true;
                        rx = rx_time(&msgs[i].msg_hdr, t);
                        if (rx < slots[k].sent_ns)
                                rx = t; /* the clocks disagree: fall back to our own reading */
                        slots[k].latency_ns = rx - slots[k].sent_ns;
                        st->answered++;
                        if (st->first_rx_ns == 0)
                                st->first_rx_ns = rx;
                }
        }
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *sorted, uint64_t n, double p) {
        uint64_t k;

        if (n == 0)
                return NAN;
        k = (uint64_t) llround(p / 100.0 * (double) (n - 1));
        return (double) sorted[k < n ? k : n - 1] / 1000.0;
}

static void usage(void) {
        fprintf(stderr,
                "usage: dhcp-load [--rate N] [--count N] [--duration S] [--macs N] [--wait-ms MS] "
                "[--iface IF] [--to ADDR] [--port N] [--src-port N] [--first] [--latencies FILE] [--reflect]\n");
}

static int parse_options(int argc, char **argv, Options *o) {
        static const struct option longopts[] = {
                {"rate", required_argument, NULL, 'r'},
                {"count", required_argument, NULL, 'c'},
                {"duration", required_argument, NULL, 'd'},
                {"macs", required_argument, NULL, 'm'},
                {"wait-ms", required_argument, NULL, 'w'},
                {"iface", required_argument, NULL, 'i'},
                {"to", required_argument, NULL, 't'},
                {"port", required_argument, NULL, 'p'},
                {"src-port", required_argument, NULL, 's'},
                {"first", no_argument, NULL, 'f'},
                {"latencies", required_argument, NULL, 'l'},
                {"reflect", no_argument, NULL, 'R'},
                {},
        };
        int c;

        *o = (Options){
                .rate = 1000, .count = 1000, .duration_s = 5, .macs = 256, .wait_ms = 500, .port = 67, .src_port = 68};
        o->to.s_addr = htonl(INADDR_BROADCAST);
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (c) {
                case 'r':
                        o->rate = strtod(optarg, NULL);
                        break;
                case 'c':
                        o->count = strtoull(optarg, NULL, 10);
                        break;
                case 'd':
                        o->duration_s = strtod(optarg, NULL);
                        break;
                case 'm':
                        o->macs = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'w':
                        o->wait_ms = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'i':
                        o->iface = optarg;
                        break;
                case 't':
                        if (inet_pton(AF_INET, optarg, &o->to) != 1)
                                return -EINVAL;
                        break;
                case 'p':
                        o->port = (uint16_t) strtoul(optarg, NULL, 10);
                        break;
                case 's':
                        o->src_port = (uint16_t) strtoul(optarg, NULL, 10);
                        break;
                case 'f':
                        o->first = true;
                        break;
                case 'l':
                        o->latencies = optarg;
                        break;
                case 'R':
                        o->reflect = true;
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (!(o->rate > 0 && o->rate <= 1e6) || o->count == 0 || o->count > MAX_COUNT || !(o->duration_s > 0) ||
            o->duration_s > 600 || o->macs == 0 || o->macs > (1u << 24) || o->wait_ms > 60000)
                return -EINVAL;
        return 0;
}

static int open_socket(const Options *o) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(o->src_port)};
        int one = 1, size = 4 << 20, fd;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0)
                goto fail;
        /* room for a whole burst of replies; SO_RCVBUFFORCE works for root beyond rmem_max */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (o->iface && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->iface, (socklen_t) strlen(o->iface)) < 0)
                goto fail;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                goto fail;
        return fd;
fail:;
        int r = -errno;
        close(fd);
        return r;
}

/* --reflect: the floor of this machine. The smallest possible ProxyDHCP responder: bound to
 * port 67, it answers every DISCOVER with a fixed-form OFFER (same xid and chaddr) broadcast to
 * port 68, in batches, no parsing beyond the message type, no logging. Runs for --duration. */
static int reflect(const Options *o) {
        static uint8_t in[RECV_BATCH][RECV_BUFSIZE], out[RECV_BATCH][300];
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(o->port)};
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(o->src_port)};
        struct mmsghdr rm[RECV_BATCH], sm[RECV_BATCH];
        struct iovec riov[RECV_BATCH], siov[RECV_BATCH];
        static const char vendor[] = "PXEClient";
        uint64_t end = now_ns() + (uint64_t) (o->duration_s * 1e9), answered = 0;
        int one = 1, size = 1 << 20, fd;

        to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
            (o->iface && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o->iface, (socklen_t) strlen(o->iface)) < 0) ||
            bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "dhcp-load --reflect: socket: %m\n");
                return 2;
        }
        /* the receive buffer pixiecore asks for, so that both absorb the same bursts */
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
        printf("ready\n");
        fflush(stdout);
        for (;;) {
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                uint64_t t = now_ns();
                int n, k = 0;

                if (t >= end)
                        break;
                if (poll(&pfd, 1, (int) ((end - t) / 1000000) + 1) <= 0)
                        continue;
                for (int i = 0; i < RECV_BATCH; i++) {
                        riov[i] = (struct iovec){.iov_base = in[i], .iov_len = RECV_BUFSIZE};
                        rm[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &riov[i], .msg_iovlen = 1}};
                }
                n = recvmmsg(fd, rm, RECV_BATCH, MSG_DONTWAIT, NULL);
                for (int i = 0; i < n; i++) {
                        uint8_t *r = out[k];
                        size_t off = 240;

                        if (rm[i].msg_len < 243 || in[i][0] != 1 || in[i][240] != 53 || in[i][242] != 1)
                                continue;
                        memset(r, 0, sizeof(out[k]));
                        memcpy(r, in[i], 236);
                        r[0] = 2;
                        memcpy(r + 236, in[i] + 236, 4); /* magic cookie */
                        r[off++] = 53, r[off++] = 1, r[off++] = 2;
                        r[off++] = 60, r[off++] = sizeof(vendor) - 1;
                        memcpy(r + off, vendor, sizeof(vendor) - 1);
                        off += sizeof(vendor) - 1;
                        r[off] = 255;
                        siov[k] = (struct iovec){.iov_base = r, .iov_len = sizeof(out[k])};
                        sm[k] = (struct mmsghdr){.msg_hdr = {.msg_name = &to,
                                                             .msg_namelen = sizeof(to),
                                                             .msg_iov = &siov[k],
                                                             .msg_iovlen = 1}};
                        k++;
                }
                if (k > 0 && sendmmsg(fd, sm, (unsigned) k, 0) > 0)
                        answered += (uint64_t) k;
        }
        printf("answered=%" PRIu64 "\n", answered);
        close(fd);
        return 0;
}

int main(int argc, char **argv) {
        Options o;
        Stats st = {};
        struct sockaddr_in to = {.sin_family = AF_INET};
        uint8_t pkt[PACKET_SIZE], mac[6];
        uint64_t sent = 0, send_errors = 0, start, end_send, deadline, nlat = 0, *lat;
        uint32_t xid_base;
        Slot *slots;
        int fd;

        if (parse_options(argc, argv, &o) < 0) {
                usage();
                return 2;
        }
        if (o.reflect)
                return reflect(&o);
        fd = open_socket(&o);
        if (fd < 0) {
                fprintf(stderr, "dhcp-load: socket: %s\n", strerror(-fd));
                return 2;
        }
        (void) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake up on time between packets */
        to.sin_addr = o.to;
        to.sin_port = htons(o.port);

        slots = calloc(o.count, sizeof(Slot));
        lat = calloc(o.count, sizeof(uint64_t));
        if (!slots || !lat) {
                fprintf(stderr, "dhcp-load: out of memory\n");
                return 2;
        }
        xid_base = (uint32_t) (now_ns() ^ ((uint64_t) getpid() << 16));
        measure_clock_offset();

        start = now_ns();
        end_send = start + (uint64_t) (o.duration_s * 1e9);
        for (;;) {
                uint64_t t = now_ns(), due;
                int64_t wait_ns;

                /* send every packet that is due by now */
                while (sent < o.count && t < end_send && start + (uint64_t) ((double) sent * 1e9 / o.rate) <= t) {
                        make_mac(sent, o.macs, mac);
                        build_discover(pkt, xid_base + (uint32_t) sent, mac);
                        slots[sent].sent_ns = now_ns();
                        if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *) &to, sizeof(to)) < 0) {
                                send_errors++;
                                slots[sent].sent_ns = 0;
                        }
                        sent++;
                        if (o.first && (st.answered > 0))
                                break;
                }
                drain(fd, slots, o.count, xid_base, &st);
                if (o.first && st.answered > 0)
                        break;
                t = now_ns();
                if (sent >= o.count || t >= end_send)
                        break;
                due = start + (uint64_t) ((double) sent * 1e9 / o.rate);
                wait_ns = (int64_t) (due - t);
                if (wait_ns > 0) {
                        struct pollfd pfd = {.fd = fd, .events = POLLIN};
                        struct timespec ts = {.tv_sec = wait_ns / 1000000000, .tv_nsec = wait_ns % 1000000000};
                        (void) ppoll(&pfd, 1, &ts, NULL);
                }
        }
        end_send = now_ns();

        /* late replies */
        deadline = end_send + (uint64_t) o.wait_ms * 1000000ULL;
        while (st.answered + send_errors < sent || o.first) {
                uint64_t t = now_ns();
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                struct timespec ts;

                if (t >= deadline || (o.first && st.answered > 0))
                        break;
                ts = (struct timespec){.tv_sec = (deadline - t) / 1000000000, .tv_nsec = (deadline - t) % 1000000000};
                (void) ppoll(&pfd, 1, &ts, NULL);
                drain(fd, slots, o.count, xid_base, &st);
        }

        for (uint64_t i = 0; i < sent; i++)
                if (slots[i].answered)
                        lat[nlat++] = slots[i].latency_ns;
        if (o.latencies) {
                FILE *f = fopen(o.latencies, "we");
                if (f) {
                        for (uint64_t i = 0; i < nlat; i++)
                                fprintf(f, "%.3f\n", (double) lat[i] / 1000.0);
                        fclose(f);
                }
        }
        qsort(lat, nlat, sizeof(uint64_t), cmp_u64);
        {
                double send_s = (double) (end_send - start) / 1e9;
                printf("sent=%" PRIu64 " answered=%" PRIu64 " rate_sent=%.0f rate_answered=%.0f p50_us=%.1f "
                       "p90_us=%.1f p99_us=%.1f max_us=%.1f dup=%" PRIu64 " bad=%" PRIu64 " unknown=%" PRIu64
                       " send_errors=%" PRIu64 " first_us=%.1f first_tx_ns=%" PRIu64 " first_rx_ns=%" PRIu64 "\n",
                       sent, st.answered, send_s > 0 ? (double) sent / send_s : 0.0,
                       send_s > 0 ? (double) st.answered / send_s : 0.0, pct_us(lat, nlat, 50), pct_us(lat, nlat, 90),
                       pct_us(lat, nlat, 99), nlat ? (double) lat[nlat - 1] / 1000.0 : NAN, st.dup, st.bad, st.unknown,
                       send_errors,
                       st.first_rx_ns && sent ? (double) (st.first_rx_ns - slots[0].sent_ns) / 1000.0 : NAN,
                       sent ? slots[0].sent_ns : 0, st.first_rx_ns);
        }
        free(slots);
        free(lat);
        close(fd);
        return 0;
}
