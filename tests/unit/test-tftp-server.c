/* SPDX-License-Identifier: Apache-2.0 */
/* Runs the TFTP server on 127.0.0.1 with its own sd-event loop and drives it with hand-written
 * client sockets. */

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "px-macro.h"
#include "tftp-server.h"
#include "tftp.h"

typedef struct Fixture {
        sd_event *event;
        TftpServer *server;
        uint16_t port;
        int client;
        GHashTable *files; /* name -> GBytes */
        GArray *events;    /* TftpEventKind */
        char last_error[320];
        uint64_t last_bytes;
        unsigned progress_events;
} Fixture;

static int fixture_open_file(void *userdata, const char *filename, const struct sockaddr_in *peer, GBytes **ret_data,
                             void **ret_file_tag) {
        Fixture *f = userdata;
        GBytes *b;

        if (g_str_equal(filename, "secret"))
                return -EACCES;
        b = g_hash_table_lookup(f->files, filename);
        if (!b)
                return -ENOENT;
        *ret_data = g_bytes_ref(b);
        *ret_file_tag = f;
        return 0;
}

static void fixture_event(void *userdata, const TftpEvent *ev) {
        Fixture *f = userdata;
        TftpEventKind k = ev->kind;

        /* over the limit no file was opened: no tag */
        g_assert_true(ev->file_tag == (k == TFTP_EVENT_OVER_LIMIT ? NULL : f));
        g_assert_cmpuint(ev->bytes_sent, <=, ev->total);
        g_assert_cmpuint(ntohl(ev->peer->sin_addr.s_addr), ==, INADDR_LOOPBACK);
        if (k == TFTP_EVENT_PROGRESS)
                f->progress_events++;
        else
                g_array_append_val(f->events, k);
        f->last_bytes = ev->bytes_sent;
        if (ev->error)
                g_strlcpy(f->last_error, ev->error, sizeof(f->last_error));
}

static int open_client_socket(void) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        return fd;
}

static void fixture_setup_cfg(Fixture *f, const TftpServerConfig *cfg) {
        static const TftpServerOps ops = {.open_file = fixture_open_file, .event = fixture_event};
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t salen = sizeof(sa);
        int fd;

        memset(f, 0, sizeof(*f));
        g_assert_cmpint(sd_event_new(&f->event), >=, 0);

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), ==, 0);
        g_assert_cmpint(getsockname(fd, (struct sockaddr *) &sa, &salen), ==, 0);
        f->port = ntohs(sa.sin_port);

        g_assert_cmpint(tftp_server_new(f->event, fd, cfg, &ops, f, &f->server), ==, 0);
        f->client = open_client_socket();
        f->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
        f->events = g_array_new(FALSE, FALSE, sizeof(TftpEventKind));
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        fixture_setup_cfg(f, data);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        f->server = tftp_server_free(f->server);
        f->event = sd_event_unref(f->event);
        f->client = px_safe_close(f->client);
        g_hash_table_destroy(f->files);
        g_array_free(f->events, TRUE);
}

static GBytes *add_file(Fixture *f, const char *name, size_t size) {
        uint8_t *p = g_malloc(size ?: 1);
        GBytes *b;

        /* Position-dependent pattern so misplaced blocks show. */
        for (size_t i = 0; i < size; i++)
                p[i] = (uint8_t) ((i * 2654435761U) >> 13);
        b = g_bytes_new_take(p, size);
        g_hash_table_insert(f->files, g_strdup(name), g_bytes_ref(b));
        return b;
}

/* Runs the server's loop until fd has a datagram or timeout_ms passed. Returns the length or
 * -ETIMEDOUT. */
static ssize_t pump_recv(Fixture *f, int fd, uint8_t *buf, size_t size, struct sockaddr_in *ret_from, int timeout_ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;

        for (;;) {
                struct sockaddr_in from = {};
                socklen_t fromlen = sizeof(from);
                struct pollfd p[2] = {
                        {.fd = sd_event_get_fd(f->event), .events = POLLIN},
                        {.fd = fd, .events = POLLIN},
                };
                gint64 left;
                ssize_t n;

                if (fd >= 0) {
                        n = recvfrom(fd, buf, size, MSG_DONTWAIT, (struct sockaddr *) &from, &fromlen);
                        if (n >= 0) {
                                if (ret_from)
                                        *ret_from = from;
                                return n;
                        }
                        g_assert_cmpint(errno, ==, EAGAIN);
                }

                g_assert_cmpint(sd_event_run(f->event, 0), >=, 0);

                left = deadline - g_get_monotonic_time();
                if (left <= 0)
                        return -ETIMEDOUT;
                (void) poll(p, fd >= 0 ? 2 : 1, (int) MIN(left / 1000 + 1, 10));
        }
}

/* Just runs the loop for a while. */
static void pump(Fixture *f, int ms) {
        (void) pump_recv(f, -1, NULL, 0, NULL, ms);
}

static void pump_until_idle(Fixture *f, int ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) ms * 1000;

        while (tftp_server_active_transfers(f->server) > 0 && g_get_monotonic_time() < deadline)
                pump(f, 5);
}

static void send_to_port(int fd, uint16_t port, const void *buf, size_t len) {
        struct sockaddr_in to = {
                .sin_family = AF_INET,
                .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                .sin_port = htons(port),
        };

        g_assert_cmpint(sendto(fd, buf, len, 0, (struct sockaddr *) &to, sizeof(to)), ==, (ssize_t) len);
}

/* RRQ/WRQ with a NULL-terminated list of strings after the opcode: name, mode, options. */
static void send_request_strv(Fixture *f, int fd, uint16_t opcode, const char *const *strv) {
        uint8_t buf[1024];
        size_t pos = 2;

        px_write_be16(buf, opcode);
        for (; *strv; strv++) {
                g_assert_cmpuint(pos + strlen(*strv) + 1, <=, sizeof(buf));
                memcpy(buf + pos, *strv, strlen(*strv) + 1);
                pos += strlen(*strv) + 1;
        }
        send_to_port(fd, f->port, buf, pos);
}

#define send_request(f, fd, opcode, ...) send_request_strv(f, fd, opcode, (const char *const[]){__VA_ARGS__})

static void send_ack(int fd, uint16_t tid, uint16_t block) {
        uint8_t buf[4];

        px_write_be16(buf, TFTP_OP_ACK);
        px_write_be16(buf + 2, block);
        send_to_port(fd, tid, buf, sizeof(buf));
}

static void send_error(int fd, uint16_t tid, uint16_t code, const char *msg) {
        uint8_t buf[300];
        int n = tftp_build_error(buf, sizeof(buf), code, msg);

        g_assert_cmpint(n, >, 0);
        send_to_port(fd, tid, buf, (size_t) n);
}

/* Expects an ERROR with the given code; returns its source port. */
static uint16_t expect_error(Fixture *f, int fd, uint16_t code) {
        uint8_t buf[1024];
        struct sockaddr_in from;
        char msg[256];
        uint16_t c;
        ssize_t n;

        n = pump_recv(f, fd, buf, sizeof(buf), &from, 2000);
        g_assert_cmpint(n, >, 0);
        g_assert_cmpint(tftp_opcode(buf, (size_t) n), ==, TFTP_OP_ERROR);
        g_assert_cmpint(tftp_error_parse(buf, (size_t) n, &c, msg, sizeof(msg)), ==, 0);
        g_assert_cmpuint(c, ==, code);
        g_test_message("got ERROR %u \"%s\"", c, msg);
        return ntohs(from.sin_port);
}

static void expect_nothing(Fixture *f, int fd, int ms) {
        uint8_t buf[1024];

        g_assert_cmpint(pump_recv(f, fd, buf, sizeof(buf), NULL, ms), ==, -ETIMEDOUT);
}

static bool has_event(Fixture *f, TftpEventKind k) {
        for (guint i = 0; i < f->events->len; i++)
                if (g_array_index(f->events, TftpEventKind, i) == k)
                        return true;
        return false;
}

/* Parses OACK options with the request parser (same grammar after the mode). */
static void parse_oack(const uint8_t *buf, size_t len, TftpRequest *ret) {
        uint8_t tmp[1100];

        g_assert_cmpuint(len, <, sizeof(tmp) - 10);
        memcpy(tmp, "\0\1x\0octet", 10);
        memcpy(tmp + 10, buf + 2, len - 2);
        g_assert_cmpint(tftp_request_parse(tmp, 10 + len - 2, ret), ==, 0);
}

typedef struct FetchOpts {
        const char *blksize, *windowsize, *tsize, *timeout;
        uint64_t drop_block;   /* pretend this block index got lost, once */
        uint64_t withhold_ack; /* don't send the ACK for this block index, once */
} FetchOpts;

typedef struct FetchResult {
        GByteArray *data;
        int error_code;   /* -1: none */
        TftpRequest oack; /* -1 fields when no OACK */
        bool got_oack;
        unsigned duplicates; /* DATA we already had (retransmissions) */
        unsigned packets;
        bool saw_block0; /* DATA block number 0 (rollover) */
} FetchResult;

/* A windowed client (RFC 7440 receiver): ACKs at the end of each window and on the last block;
 * on a block out of order it ACKs the last block it holds in order. */
static void fetch(Fixture *f, int fd, const char *name, const FetchOpts *o, FetchResult *res) {
        g_autofree uint8_t *buf = g_malloc(70000);
        uint64_t expected = 1;
        unsigned blksize = 512, window = 1, in_window = 0;
        uint16_t tid = 0;
        bool dropped = false, withheld = false, complete = false;

        memset(res, 0, sizeof(*res));
        res->data = g_byte_array_new();
        res->error_code = -1;
        res->oack = (TftpRequest){.blksize = -1, .timeout_s = -1, .tsize = -1, .windowsize = -1};

        {
                const char *strv[11] = {name, "octet"};
                size_t k = 2;

                if (o->blksize) {
                        strv[k++] = "blksize";
                        strv[k++] = o->blksize;
                }
                if (o->windowsize) {
                        strv[k++] = "windowsize";
                        strv[k++] = o->windowsize;
                }
                if (o->tsize) {
                        strv[k++] = "tsize";
                        strv[k++] = o->tsize;
                }
                if (o->timeout) {
                        strv[k++] = "timeout";
                        strv[k++] = o->timeout;
                }
                send_request_strv(f, fd, TFTP_OP_RRQ, strv);
        }

        for (;;) {
                struct sockaddr_in from;
                ssize_t n;
                int op;

                n = pump_recv(f, fd, buf, 70000, &from, 3000);
                g_assert_cmpint(n, >=, 4);
                if (tid == 0)
                        tid = ntohs(from.sin_port);
                g_assert_cmpuint(ntohs(from.sin_port), ==, tid);
                res->packets++;
                if (g_getenv("TFTP_TEST_TRACE"))
                        fprintf(stderr, "rx op=%d blk=%u len=%zd expected=%" G_GUINT64_FORMAT "\n",
                                tftp_opcode(buf, (size_t) n), px_read_be16(buf + 2), n, expected);

                op = tftp_opcode(buf, (size_t) n);
                if (op == TFTP_OP_ERROR) {
                        uint16_t code;

                        g_assert_cmpint(tftp_error_parse(buf, (size_t) n, &code, NULL, 0), ==, 0);
                        res->error_code = code;
                        return;
                }
                if (op == TFTP_OP_OACK) {
                        g_assert_false(res->got_oack);
                        g_assert_cmpuint(expected, ==, 1);
                        parse_oack(buf, (size_t) n, &res->oack);
                        res->got_oack = true;
                        if (res->oack.blksize > 0)
                                blksize = (unsigned) res->oack.blksize;
                        if (res->oack.windowsize > 0)
                                window = (unsigned) res->oack.windowsize;
                        send_ack(fd, tid, 0);
                        continue;
                }
                g_assert_cmpint(op, ==, TFTP_OP_DATA);

                if (px_read_be16(buf + 2) == 0)
                        res->saw_block0 = true;

                if (px_read_be16(buf + 2) == (uint16_t) (expected & 0xffff)) {
                        bool last = (size_t) n - 4 < blksize;

                        if (expected == o->drop_block && !dropped) {
                                dropped = true;
                                continue;
                        }
                        g_assert_cmpuint((size_t) n - 4, <=, blksize);
                        g_byte_array_append(res->data, buf + 4, (guint) n - 4);
                        expected++;
                        in_window++;
                        if (last || in_window >= window) {
                                in_window = 0;
                                if (expected - 1 == o->withhold_ack && !withheld) {
                                        withheld = true;
                                        complete = last;
                                        continue;
                                }
                                send_ack(fd, tid, (uint16_t) ((expected - 1) & 0xffff));
                                if (last)
                                        return;
                        }
                } else {
                        res->duplicates++;
                        in_window = 0;
                        send_ack(fd, tid, (uint16_t) ((expected - 1) & 0xffff));
                        if (complete)
                                return;
                }
        }
}

static void fetch_result_clear(FetchResult *r) {
        g_clear_pointer(&r->data, g_byte_array_unref);
}

static void assert_same(FetchResult *r, GBytes *b) {
        g_assert_nonnull(r->data);
        g_assert_cmpmem(r->data->data, r->data->len, g_bytes_get_data(b, NULL), g_bytes_get_size(b));
}

static void test_plain_512(Fixture *f, gconstpointer data) {
        g_autoptr(GBytes) b = add_file(f, "exact", 3 * 512);
        FetchOpts o = {};
        FetchResult r;

        fetch(f, f->client, "exact", &o, &r);
        g_assert_cmpint(r.error_code, ==, -1);
        g_assert_false(r.got_oack);
        g_assert_cmpuint(r.packets, ==, 4); /* 3 full blocks and an empty one */
        g_assert_cmpuint(r.duplicates, ==, 0);
        assert_same(&r, b);

        pump_until_idle(f, 1000);
        g_assert_cmpuint(tftp_server_active_transfers(f->server), ==, 0);
        g_assert_true(has_event(f, TFTP_EVENT_STARTED));
        g_assert_true(has_event(f, TFTP_EVENT_DONE));
        g_assert_cmpuint(f->progress_events, >=, 1);
        g_assert_cmpuint(f->last_bytes, ==, 3 * 512);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->completed, ==, 1);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->bytes_sent, ==, 3 * 512);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->requests, ==, 1);
        fetch_result_clear(&r);

        /* Empty file: one empty block. */
        g_bytes_unref(add_file(f, "empty", 0));
        fetch(f, f->client, "empty", &o, &r);
        g_assert_cmpuint(r.packets, ==, 1);
        g_assert_cmpuint(r.data->len, ==, 0);
        fetch_result_clear(&r);
}

static void test_blksize(Fixture *f, gconstpointer data) {
        g_autoptr(GBytes) b = add_file(f, "ipxe.efi", 100000);
        FetchOpts o = {.blksize = "1468", .tsize = "0"};
        FetchResult r;

        fetch(f, f->client, "ipxe.efi", &o, &r);
        g_assert_cmpint(r.error_code, ==, -1);
        g_assert_true(r.got_oack);
        g_assert_cmpint(r.oack.blksize, ==, 1468);
        g_assert_cmpint(r.oack.tsize, ==, 100000);
        g_assert_cmpint(r.oack.windowsize, ==, -1);
        g_assert_cmpint(r.oack.timeout_s, ==, -1);
        g_assert_cmpuint(r.packets, ==, 1 + 100000 / 1468 + 1);
        assert_same(&r, b);
        fetch_result_clear(&r);
        pump_until_idle(f, 1000);

        /* Loopback allows the maximum. */
        o = (FetchOpts){.blksize = "65464"};
        fetch(f, f->client, "ipxe.efi", &o, &r);
        g_assert_cmpint(r.oack.blksize, ==, 65464);
        g_assert_cmpint(r.oack.tsize, ==, -1);
        assert_same(&r, b);
        fetch_result_clear(&r);
        pump_until_idle(f, 1000);

        /* Invalid values are ignored: no OACK at all, 512-byte blocks. */
        o = (FetchOpts){.blksize = "4", .windowsize = "0", .timeout = "999"};
        fetch(f, f->client, "ipxe.efi", &o, &r);
        g_assert_false(r.got_oack);
        g_assert_cmpuint(r.packets, ==, 100000 / 512 + 1);
        assert_same(&r, b);
        fetch_result_clear(&r);
        pump_until_idle(f, 1000);

        /* timeout is echoed as is. */
        o = (FetchOpts){.timeout = "3", .windowsize = "1000"};
        fetch(f, f->client, "ipxe.efi", &o, &r);
        g_assert_cmpint(r.oack.timeout_s, ==, 3);
        g_assert_cmpint(r.oack.windowsize, ==, 64); /* default cap */
        g_assert_cmpint(r.oack.blksize, ==, -1);
        assert_same(&r, b);
        fetch_result_clear(&r);
        pump_until_idle(f, 1000);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->completed, ==, 4);
}

static const TftpServerConfig cfg_small = {.max_blksize = 1024, .max_windowsize = 8};

static void test_config_caps(Fixture *f, gconstpointer data) {
        g_autoptr(GBytes) b = add_file(f, "f", 50000);
        FetchOpts o = {.blksize = "1468", .windowsize = "16"};
        FetchResult r;

        fetch(f, f->client, "f", &o, &r);
        g_assert_cmpint(r.oack.blksize, ==, 1024);
        g_assert_cmpint(r.oack.windowsize, ==, 8);
        assert_same(&r, b);
        fetch_result_clear(&r);
}

static const TftpServerConfig cfg_fast = {.timeout_ms = 200, .max_retries = 3};

static void test_window_loss(Fixture *f, gconstpointer data) {
        g_autoptr(GBytes) b = add_file(f, "initrd", 40 * 512 + 100);
        FetchOpts o = {.windowsize = "4", .withhold_ack = 8};
        FetchResult r;

        /* Lost ACK at the end of the second window: the server must retransmit. */
        fetch(f, f->client, "initrd", &o, &r);
        g_assert_cmpint(r.error_code, ==, -1);
        g_assert_cmpint(r.oack.windowsize, ==, 4);
        g_assert_cmpuint(r.duplicates, >=, 1);
        assert_same(&r, b);
        fetch_result_clear(&r);
        pump_until_idle(f, 2000);
        g_assert_true(has_event(f, TFTP_EVENT_DONE));

        /* A block lost in the middle of a window: the client ACKs the block before it when the
         * next arrives, and the server resumes from there (partial window). */
        o = (FetchOpts){.windowsize = "4", .blksize = "512", .drop_block = 14};
        fetch(f, f->client, "initrd", &o, &r);
        g_assert_cmpint(r.error_code, ==, -1);
        assert_same(&r, b);
        fetch_result_clear(&r);

        /* Lost last block. */
        o = (FetchOpts){.windowsize = "4", .drop_block = 41};
        fetch(f, f->client, "initrd", &o, &r);
        assert_same(&r, b);
        fetch_result_clear(&r);

        /* Lost first block and lost ACK at the very end. */
        o = (FetchOpts){.windowsize = "4", .drop_block = 1, .withhold_ack = 41};
        fetch(f, f->client, "initrd", &o, &r);
        assert_same(&r, b);
        fetch_result_clear(&r);

        pump_until_idle(f, 3000);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->completed, ==, 4);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->failed, ==, 0);
}

static void test_lockstep_loss(Fixture *f, gconstpointer data) {
        g_autoptr(GBytes) b = add_file(f, "f", 10 * 512);
        FetchOpts o = {.withhold_ack = 3, .drop_block = 6};
        FetchResult r;

        fetch(f, f->client, "f", &o, &r);
        g_assert_false(r.got_oack);
        g_assert_cmpuint(r.duplicates, >=, 1);
        assert_same(&r, b);
        fetch_result_clear(&r);
        pump_until_idle(f, 2000);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->completed, ==, 1);
}

static void test_tsize_probe_abort(Fixture *f, gconstpointer data) {
        g_autoptr(GBytes) b = add_file(f, "bootx64.efi", 12345);
        uint8_t buf[1024];
        struct sockaddr_in from;
        TftpRequest oack;
        FetchOpts o = {.tsize = "0", .blksize = "1468"};
        FetchResult r;
        ssize_t n;

        send_request(f, f->client, TFTP_OP_RRQ, "bootx64.efi", "octet", "tsize", "0", NULL);
        n = pump_recv(f, f->client, buf, sizeof(buf), &from, 2000);
        g_assert_cmpint(n, >, 0);
        g_assert_cmpint(tftp_opcode(buf, (size_t) n), ==, TFTP_OP_OACK);
        g_assert_cmpuint(ntohs(from.sin_port), !=, f->port);
        parse_oack(buf, (size_t) n, &oack);
        g_assert_cmpint(oack.tsize, ==, 12345);
        g_assert_cmpint(oack.blksize, ==, -1);

        send_error(f->client, ntohs(from.sin_port), TFTP_ERR_OPTION, "User aborted the transfer");
        pump_until_idle(f, 1000);
        g_assert_cmpuint(tftp_server_active_transfers(f->server), ==, 0);
        g_assert_true(has_event(f, TFTP_EVENT_ABORTED));
        g_assert_false(has_event(f, TFTP_EVENT_FAILED));
        g_assert_false(has_event(f, TFTP_EVENT_STARTED));
        g_assert_nonnull(strstr(f->last_error, "User aborted"));
        g_assert_cmpuint(tftp_server_get_stats(f->server)->failed, ==, 0);
        /* The server does not answer the client's ERROR. */
        expect_nothing(f, f->client, 50);

        /* Then the real download, same source port, as firmware does. */
        fetch(f, f->client, "bootx64.efi", &o, &r);
        g_assert_cmpint(r.oack.tsize, ==, 12345);
        assert_same(&r, b);
        fetch_result_clear(&r);
        pump_until_idle(f, 1000);
        g_assert_true(has_event(f, TFTP_EVENT_DONE));
}

static void test_refusals(Fixture *f, gconstpointer data) {
        uint8_t junk[8] = {0, TFTP_OP_DATA, 0, 1, 'x'};
        const TftpServerStats *st = tftp_server_get_stats(f->server);
        gint64 t0;

        g_bytes_unref(add_file(f, "ipxe.efi", 10));

        /* Unknown file: error 1, fast, from the listen port (no transfer socket). */
        t0 = g_get_monotonic_time();
        send_request(f, f->client, TFTP_OP_RRQ, "autoexec.ipxe", "octet", NULL);
        g_assert_cmpuint(expect_error(f, f->client, TFTP_ERR_NOT_FOUND), ==, f->port);
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 100 * 1000);

        /* With options, still error 1 (no OACK first). */
        send_request(f, f->client, TFTP_OP_RRQ, "nope", "octet", "tsize", "0", "blksize", "1468", NULL);
        expect_error(f, f->client, TFTP_ERR_NOT_FOUND);

        send_request(f, f->client, TFTP_OP_RRQ, "secret", "octet", NULL);
        expect_error(f, f->client, TFTP_ERR_ACCESS);

        send_request(f, f->client, TFTP_OP_WRQ, "ipxe.efi", "octet", NULL);
        expect_error(f, f->client, TFTP_ERR_ACCESS);

        send_request(f, f->client, TFTP_OP_RRQ, "ipxe.efi", "netascii", NULL);
        expect_error(f, f->client, TFTP_ERR_UNDEFINED);
        send_request(f, f->client, TFTP_OP_RRQ, "ipxe.efi", "mail", NULL);
        expect_error(f, f->client, TFTP_ERR_UNDEFINED);
        g_assert_cmpuint(st->refused, ==, 6);

        /* Garbage: dropped quietly, or error 4 for a stray opcode. */
        send_to_port(f->client, f->port, junk, 1);
        send_to_port(f->client, f->port, "\0\1\0\0", 4);     /* empty name */
        send_to_port(f->client, f->port, "\0\1abc", 5);      /* no NUL */
        send_to_port(f->client, f->port, "\0\5\0\0oops", 9); /* ERROR: never answered */
        expect_nothing(f, f->client, 50);
        send_to_port(f->client, f->port, junk, 5);
        expect_error(f, f->client, TFTP_ERR_ILLEGAL_OP);
        send_to_port(f->client, f->port, "\0\x63\0\0", 4);
        expect_error(f, f->client, TFTP_ERR_ILLEGAL_OP);
        g_assert_cmpuint(st->malformed, ==, 6);
        g_assert_cmpuint(tftp_server_active_transfers(f->server), ==, 0);
        g_assert_cmpuint(f->events->len, ==, 0);
}

static void test_wrong_tid(Fixture *f, gconstpointer data) {
        _cleanup_close_ int other = open_client_socket();
        uint8_t buf[1024];
        struct sockaddr_in from;
        uint16_t tid;
        ssize_t n;

        g_bytes_unref(add_file(f, "f", 2000));
        send_request(f, f->client, TFTP_OP_RRQ, "f", "octet", NULL);
        n = pump_recv(f, f->client, buf, sizeof(buf), &from, 2000);
        g_assert_cmpint(n, ==, 4 + 512);
        g_assert_cmpuint(px_read_be16(buf + 2), ==, 1);
        tid = ntohs(from.sin_port);
        g_assert_cmpuint(tid, !=, f->port);

        /* Another port talks to the transfer: ERROR 5 to it, transfer unaffected. */
        send_ack(other, tid, 1);
        g_assert_cmpuint(expect_error(f, other, TFTP_ERR_UNKNOWN_TID), ==, tid);
        g_assert_cmpuint(tftp_server_active_transfers(f->server), ==, 1);

        /* The client goes on. */
        for (uint16_t blk = 1;; blk++) {
                send_ack(f->client, tid, blk);
                if (blk == 4)
                        break;
                n = pump_recv(f, f->client, buf, sizeof(buf), &from, 2000);
                g_assert_cmpint(n, >=, 4);
                g_assert_cmpuint(px_read_be16(buf + 2), ==, blk + 1);
        }
        pump_until_idle(f, 1000);
        g_assert_true(has_event(f, TFTP_EVENT_DONE));
        expect_nothing(f, other, 20);
}

/* With room for one more fd only, a transfer cannot have its connected socket and the
 * unconnected one beside it: it runs on one unconnected socket, and still answers a foreign
 * source with ERROR 5 while the transfer goes on. */
static void test_one_fd_fallback(Fixture *f, gconstpointer data) {
        _cleanup_close_ int other = open_client_socket();
        sd_event_source *warm = NULL;
        struct rlimit saved, tight;
        uint8_t buf[1024];
        struct sockaddr_in from;
        uint16_t tid;
        ssize_t n;
        int lowest;

        g_bytes_unref(add_file(f, "f", 2000));
        /* sd-event opens its CLOCK_MONOTONIC timerfd with the first such timer: before the limit */
        g_assert_cmpint(sd_event_add_time_relative(f->event, &warm, CLOCK_MONOTONIC, UINT64_C(3600) * G_USEC_PER_SEC, 0,
                                                   NULL, NULL),
                        >=, 0);
        g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &saved), ==, 0);
        lowest = dup(0);
        g_assert_cmpint(lowest, >=, 0);
        close(lowest);
        tight = (struct rlimit){.rlim_cur = (rlim_t) lowest + 1, .rlim_max = saved.rlim_max};
        g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &tight), ==, 0);

        send_request(f, f->client, TFTP_OP_RRQ, "f", "octet", NULL);
        n = pump_recv(f, f->client, buf, sizeof(buf), &from, 2000);
        g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &saved), ==, 0);
        g_assert_cmpint(n, ==, 4 + 512);
        tid = ntohs(from.sin_port);

        send_ack(other, tid, 1);
        g_assert_cmpuint(expect_error(f, other, TFTP_ERR_UNKNOWN_TID), ==, tid);
        g_assert_cmpuint(tftp_server_active_transfers(f->server), ==, 1);

        for (uint16_t blk = 1;; blk++) {
                send_ack(f->client, tid, blk);
                if (blk == 4)
                        break;
                n = pump_recv(f, f->client, buf, sizeof(buf), &from, 2000);
                g_assert_cmpint(n, >=, 4);
                g_assert_cmpuint(px_read_be16(buf + 2), ==, blk + 1);
        }
        pump_until_idle(f, 1000);
        g_assert_true(has_event(f, TFTP_EVENT_DONE));
        sd_event_source_disable_unref(warm);
}

static void test_duplicate_rrq(Fixture *f, gconstpointer data) {
        uint8_t buf[1024];
        ssize_t n;

        g_bytes_unref(add_file(f, "f", 1000));
        send_request(f, f->client, TFTP_OP_RRQ, "f", "octet", NULL);
        n = pump_recv(f, f->client, buf, sizeof(buf), NULL, 2000);
        g_assert_cmpint(n, ==, 516);

        /* Firmware retransmits its RRQ: no second transfer, no second DATA 1 before the timeout. */
        send_request(f, f->client, TFTP_OP_RRQ, "f", "octet", NULL);
        send_request(f, f->client, TFTP_OP_RRQ, "f", "octet", "blksize", "1024", NULL);
        expect_nothing(f, f->client, 100);
        g_assert_cmpuint(tftp_server_active_transfers(f->server), ==, 1);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->requests, ==, 3);
}

static const TftpServerConfig cfg_timeout = {.timeout_ms = 50, .max_retries = 2};

static void test_timeout(Fixture *f, gconstpointer data) {
        uint8_t buf[1024];
        unsigned copies = 0;
        gint64 t0 = g_get_monotonic_time();

        g_bytes_unref(add_file(f, "f", 1000));
        send_request(f, f->client, TFTP_OP_RRQ, "f", "octet", NULL);
        for (;;) {
                ssize_t n = pump_recv(f, f->client, buf, sizeof(buf), NULL, 2000);

                g_assert_cmpint(n, >=, 4);
                if (tftp_opcode(buf, (size_t) n) == TFTP_OP_ERROR)
                        break;
                g_assert_cmpint(tftp_opcode(buf, (size_t) n), ==, TFTP_OP_DATA);
                g_assert_cmpuint(px_read_be16(buf + 2), ==, 1);
                copies++;
        }
        /* First transmission plus max_retries retransmissions, one timeout apart. */
        g_assert_cmpuint(copies, ==, 3);
        g_assert_cmpint(g_get_monotonic_time() - t0, >=, 3 * 50 * 1000 - 5000);
        g_assert_cmpuint(tftp_server_active_transfers(f->server), ==, 0);
        g_assert_true(has_event(f, TFTP_EVENT_FAILED));
        g_assert_cmpstr(f->last_error, ==, "timeout");
        g_assert_cmpuint(tftp_server_get_stats(f->server)->failed, ==, 1);

        /* Silent after OACK too. */
        send_request(f, f->client, TFTP_OP_RRQ, "f", "octet", "tsize", "0", NULL);
        copies = 0;
        for (;;) {
                ssize_t n = pump_recv(f, f->client, buf, sizeof(buf), NULL, 2000);

                g_assert_cmpint(n, >=, 4);
                if (tftp_opcode(buf, (size_t) n) == TFTP_OP_ERROR)
                        break;
                g_assert_cmpint(tftp_opcode(buf, (size_t) n), ==, TFTP_OP_OACK);
                copies++;
        }
        g_assert_cmpuint(copies, ==, 3);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->failed, ==, 2);
}

static const TftpServerConfig cfg_two = {.max_transfers = 2};

static void test_max_transfers(Fixture *f, gconstpointer data) {
        _cleanup_close_ int c2 = open_client_socket(), c3 = open_client_socket();
        uint8_t buf[1024];

        g_bytes_unref(add_file(f, "f", 5000));
        struct sockaddr_in from;
        uint16_t first_tid;

        send_request(f, f->client, TFTP_OP_RRQ, "f", "octet", NULL);
        g_assert_cmpint(pump_recv(f, f->client, buf, sizeof(buf), &from, 2000), ==, 516);
        first_tid = ntohs(from.sin_port);
        send_request(f, c2, TFTP_OP_RRQ, "f", "octet", NULL);
        g_assert_cmpint(pump_recv(f, c2, buf, sizeof(buf), NULL, 2000), ==, 516);
        g_assert_cmpuint(tftp_server_active_transfers(f->server), ==, 2);

        /* Over the cap: no answer at all (PXE ROMs abort on an ERROR but retransmit the RRQ)... */
        send_request(f, c3, TFTP_OP_RRQ, "f", "octet", NULL);
        expect_nothing(f, c3, 300);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->over_limit, ==, 1);
        g_assert_true(has_event(f, TFTP_EVENT_OVER_LIMIT));
        g_assert_cmpuint(tftp_server_get_stats(f->server)->refused, ==, 0);

        /* ...and the retransmission is served once a slot is free. */
        send_error(f->client, first_tid, TFTP_ERR_UNDEFINED, "abort");
        for (int i = 0; i < 50 && tftp_server_active_transfers(f->server) > 1; i++)
                pump_recv(f, c3, buf, sizeof(buf), NULL, 20);
        g_assert_cmpuint(tftp_server_active_transfers(f->server), ==, 1);
        send_request(f, c3, TFTP_OP_RRQ, "f", "octet", NULL);
        g_assert_cmpint(pump_recv(f, c3, buf, sizeof(buf), NULL, 2000), ==, 516);

        /* Freeing the server tells the clients in flight. */
        f->server = tftp_server_free(f->server);
        g_assert_cmpint(recv(c3, buf, sizeof(buf), 0), >, 4);
        g_assert_cmpint(tftp_opcode(buf, 5), ==, TFTP_OP_ERROR);
        g_assert_cmpint(recv(c2, buf, sizeof(buf), 0), >, 4);
        g_assert_cmpint(tftp_opcode(buf, 5), ==, TFTP_OP_ERROR);
}

static void test_rollover(Fixture *f, gconstpointer data) {
        /* 70000 blocks of 8 bytes plus a partial one: block numbers wrap 65535 -> 0. */
        g_autoptr(GBytes) b = add_file(f, "big", 70000 * 8 + 3);
        FetchOpts o = {.blksize = "8", .windowsize = "16"};
        FetchResult r;

        fetch(f, f->client, "big", &o, &r);
        g_assert_cmpint(r.error_code, ==, -1);
        g_assert_true(r.saw_block0);
        assert_same(&r, b);
        fetch_result_clear(&r);
        pump_until_idle(f, 2000);
        g_assert_true(has_event(f, TFTP_EVENT_DONE));
        g_assert_cmpuint(tftp_server_get_stats(f->server)->bytes_sent, ==, 70000 * 8 + 3);

        /* Lockstep across the wrap too, with a loss right at it. */
        o = (FetchOpts){.blksize = "8", .withhold_ack = 65536};
        fetch(f, f->client, "big", &o, &r);
        g_assert_true(r.saw_block0);
        g_assert_cmpuint(r.duplicates, >=, 1);
        assert_same(&r, b);
        fetch_result_clear(&r);
}

static void test_concurrent(Fixture *f, gconstpointer data) {
        _cleanup_close_ int c2 = open_client_socket();
        uint8_t buf[1024];
        struct sockaddr_in from;
        uint16_t tid1, tid2;
        uint64_t got1 = 0, got2 = 0;

        g_bytes_unref(add_file(f, "f", 20000));
        /* Two interleaved lockstep transfers from the same host, different ports. */
        send_request(f, f->client, TFTP_OP_RRQ, "f", "octet", NULL);
        send_request(f, c2, TFTP_OP_RRQ, "f", "octet", NULL);
        g_assert_cmpint(pump_recv(f, f->client, buf, sizeof(buf), &from, 2000), ==, 516);
        tid1 = ntohs(from.sin_port);
        g_assert_cmpint(pump_recv(f, c2, buf, sizeof(buf), &from, 2000), ==, 516);
        tid2 = ntohs(from.sin_port);
        g_assert_cmpuint(tid1, !=, tid2);

        for (uint16_t blk = 1; blk <= 20000 / 512 + 1; blk++) {
                ssize_t n;

                send_ack(f->client, tid1, blk);
                send_ack(c2, tid2, blk);
                if (blk == 20000 / 512 + 1)
                        break;
                n = pump_recv(f, f->client, buf, sizeof(buf), NULL, 2000);
                g_assert_cmpuint(px_read_be16(buf + 2), ==, blk + 1);
                got1 += (uint64_t) n - 4;
                n = pump_recv(f, c2, buf, sizeof(buf), NULL, 2000);
                g_assert_cmpuint(px_read_be16(buf + 2), ==, blk + 1);
                got2 += (uint64_t) n - 4;
        }
        g_assert_cmpuint(got1 + 512, ==, 20000);
        g_assert_cmpuint(got2 + 512, ==, 20000);
        pump_until_idle(f, 1000);
        g_assert_cmpuint(tftp_server_get_stats(f->server)->completed, ==, 2);
}

#define ADD(path, fn, cfg) g_test_add(path, Fixture, cfg, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        ADD("/tftp-server/plain-512", test_plain_512, NULL);
        ADD("/tftp-server/blksize", test_blksize, NULL);
        ADD("/tftp-server/config-caps", test_config_caps, &cfg_small);
        ADD("/tftp-server/window-loss", test_window_loss, &cfg_fast);
        ADD("/tftp-server/lockstep-loss", test_lockstep_loss, &cfg_fast);
        ADD("/tftp-server/tsize-probe-abort", test_tsize_probe_abort, NULL);
        ADD("/tftp-server/refusals", test_refusals, NULL);
        ADD("/tftp-server/wrong-tid", test_wrong_tid, NULL);
        ADD("/tftp-server/one-fd-fallback", test_one_fd_fallback, NULL);
        ADD("/tftp-server/duplicate-rrq", test_duplicate_rrq, NULL);
        ADD("/tftp-server/timeout", test_timeout, &cfg_timeout);
        ADD("/tftp-server/max-transfers", test_max_transfers, &cfg_two);
        ADD("/tftp-server/rollover", test_rollover, &cfg_fast);
        ADD("/tftp-server/concurrent", test_concurrent, NULL);

        return g_test_run();
}
