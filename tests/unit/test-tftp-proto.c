/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "px-macro.h"
#include "tftp.h"

/* Builds a request from NUL-separated pieces: "name", "mode", then option pairs. */
static size_t build_request(uint8_t *buf, size_t size, uint16_t opcode, const char *const *parts, size_t n) {
        size_t pos = 2;

        px_write_be16(buf, opcode);
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(parts[i]) + 1;

                g_assert_cmpuint(pos + l, <=, size);
                memcpy(buf + pos, parts[i], l);
                pos += l;
        }
        return pos;
}

#define REQ(buf, op, ...)                                                                                            \
        build_request(buf, sizeof(buf), op, (const char *const[]) { __VA_ARGS__ },                                  \
                      sizeof((const char *const[]) { __VA_ARGS__ }) / sizeof(const char *))

static void test_rrq_plain(void) {
        uint8_t buf[512];
        TftpRequest req;
        size_t len = REQ(buf, TFTP_OP_RRQ, "undionly.kpxe", "octet");

        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpuint(req.opcode, ==, TFTP_OP_RRQ);
        g_assert_cmpstr(req.filename, ==, "undionly.kpxe");
        g_assert_cmpstr(req.mode, ==, "octet");
        g_assert_cmpint(req.blksize, ==, -1);
        g_assert_cmpint(req.timeout_s, ==, -1);
        g_assert_cmpint(req.tsize, ==, -1);
        g_assert_cmpint(req.windowsize, ==, -1);
        g_assert_false(req.invalid_options);

        len = REQ(buf, TFTP_OP_WRQ, "upload", "OcTeT");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpuint(req.opcode, ==, TFTP_OP_WRQ);
        g_assert_cmpstr(req.mode, ==, "octet");

        len = REQ(buf, TFTP_OP_RRQ, "a", "NetASCII");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpstr(req.mode, ==, "netascii");
}

static void test_rrq_options(void) {
        uint8_t buf[512];
        TftpRequest req;
        size_t len;

        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "blksize", "1468");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpint(req.blksize, ==, 1468);

        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "tsize", "0");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpint(req.tsize, ==, 0);

        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "timeout", "3");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpint(req.timeout_s, ==, 3);

        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "windowsize", "4");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpint(req.windowsize, ==, 4);

        /* All at once, mixed case names, unknown options in between. */
        len = REQ(buf, TFTP_OP_RRQ, "pxelinux.0", "OCTET", "BLKSIZE", "1456", "multicast", "", "TSize", "0",
                  "utimeout", "500000", "Timeout", "255", "WindowSize", "64");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpint(req.blksize, ==, 1456);
        g_assert_cmpint(req.tsize, ==, 0);
        g_assert_cmpint(req.timeout_s, ==, 255);
        g_assert_cmpint(req.windowsize, ==, 64);
        g_assert_false(req.invalid_options);

        /* Limits. */
        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "blksize", "8", "windowsize", "65535", "timeout", "1");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpint(req.blksize, ==, 8);
        g_assert_cmpint(req.windowsize, ==, 65535);
        g_assert_cmpint(req.timeout_s, ==, 1);
        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "blksize", "65464", "tsize", "123456789012");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpint(req.blksize, ==, 65464);
        g_assert_cmpint(req.tsize, ==, 123456789012LL);

        /* The first occurrence of a repeated option wins. */
        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "blksize", "1024", "blksize", "512");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpint(req.blksize, ==, 1024);
}

static void test_rrq_invalid_values(void) {
        static const struct {
                const char *name, *value;
        } cases[] = {
                { "blksize", "7" },           { "blksize", "65465" },    { "blksize", "0" },
                { "blksize", "-1" },          { "blksize", "+512" },     { "blksize", " 512" },
                { "blksize", "512 " },        { "blksize", "" },         { "blksize", "abc" },
                { "blksize", "99999999999999999999999" }, { "blksize", "0x200" },
                { "timeout", "0" },           { "timeout", "256" },      { "timeout", "1.5" },
                { "windowsize", "0" },        { "windowsize", "65536" }, { "windowsize", "-4" },
                { "tsize", "-1" },            { "tsize", "x" },          { "tsize", "" },
                { "tsize", "9999999999999999999" },
        };
        uint8_t buf[512];
        TftpRequest req;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t len = REQ(buf, TFTP_OP_RRQ, "f", "octet", cases[i].name, cases[i].value, "blksize", "1024");

                g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
                g_assert_true(req.invalid_options);
                if (g_str_equal(cases[i].name, "blksize"))
                        /* Invalid first blksize: ignored, and the repeat doesn't replace it. */
                        g_assert_cmpint(req.blksize, ==, -1);
                else
                        g_assert_cmpint(req.blksize, ==, 1024);
                g_assert_cmpint(req.timeout_s, ==, -1);
                g_assert_cmpint(req.windowsize, ==, -1);
                g_assert_cmpint(req.tsize, ==, -1);
        }
}

static void test_rrq_malformed(void) {
        uint8_t buf[1024] = {};
        TftpRequest req;
        size_t len;
        char longname[TFTP_MAX_FILENAME + 2];

        g_assert_cmpint(tftp_request_parse(buf, 0, &req), ==, -EBADMSG);
        g_assert_cmpint(tftp_request_parse((const uint8_t *) "\0", 1, &req), ==, -EBADMSG);
        g_assert_cmpint(tftp_request_parse((const uint8_t *) "\0\1", 2, &req), ==, -EBADMSG);

        /* Wrong opcodes. */
        len = REQ(buf, TFTP_OP_DATA, "f", "octet");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -EBADMSG);
        len = REQ(buf, 0, "f", "octet");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -EBADMSG);
        len = REQ(buf, 0x0101, "f", "octet");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -EBADMSG);

        /* Empty name, empty mode. */
        len = REQ(buf, TFTP_OP_RRQ, "", "octet");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -EBADMSG);
        len = REQ(buf, TFTP_OP_RRQ, "f", "");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -EBADMSG);

        /* Missing NULs: name or mode not terminated. */
        len = REQ(buf, TFTP_OP_RRQ, "f", "octet");
        g_assert_cmpint(tftp_request_parse(buf, len - 1, &req), ==, -EBADMSG);
        g_assert_cmpint(tftp_request_parse(buf, 3, &req), ==, -EBADMSG);
        memcpy(buf + 2, "abcdef", 6);
        g_assert_cmpint(tftp_request_parse(buf, 8, &req), ==, -EBADMSG);
        /* Name only. */
        g_assert_cmpint(tftp_request_parse(buf, 4, &req), ==, -EBADMSG);

        /* Over-long name and mode. */
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = 0;
        len = REQ(buf, TFTP_OP_RRQ, longname, "octet");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -ENAMETOOLONG);
        longname[TFTP_MAX_FILENAME] = 0; /* exactly the maximum */
        len = REQ(buf, TFTP_OP_RRQ, longname, "octet");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpuint(strlen(req.filename), ==, TFTP_MAX_FILENAME);
        len = REQ(buf, TFTP_OP_RRQ, "f", "octetoctetoctetoctet");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -EBADMSG);

        /* Non-printable characters in name or mode. */
        len = REQ(buf, TFTP_OP_RRQ, "a\nb", "octet");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -EBADMSG);
        len = REQ(buf, TFTP_OP_RRQ, "a\xc3\xa9", "octet");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -EBADMSG);
        len = REQ(buf, TFTP_OP_RRQ, "a", "oct\x7f");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, -EBADMSG);

        /* Bad arguments. */
        g_assert_cmpint(tftp_request_parse(NULL, 10, &req), ==, -EINVAL);
        g_assert_cmpint(tftp_request_parse(buf, len, NULL), ==, -EINVAL);
}

static void test_rrq_lenient_options(void) {
        uint8_t buf[512];
        TftpRequest req;
        size_t len;

        /* Trailing padding (some ROMs pad the request). */
        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "tsize", "0");
        memset(buf + len, 0, 16);
        g_assert_cmpint(tftp_request_parse(buf, len + 16, &req), ==, 0);
        g_assert_cmpint(req.tsize, ==, 0);

        /* Unterminated last option value: the pair is dropped, the request stands. */
        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "tsize", "0", "blksize", "1024");
        g_assert_cmpint(tftp_request_parse(buf, len - 1, &req), ==, 0);
        g_assert_cmpint(req.tsize, ==, 0);
        g_assert_cmpint(req.blksize, ==, -1);

        /* Option name without value. */
        len = REQ(buf, TFTP_OP_RRQ, "f", "octet", "blksize");
        g_assert_cmpint(tftp_request_parse(buf, len, &req), ==, 0);
        g_assert_cmpint(req.blksize, ==, -1);
}

/* Every prefix of a valid request either parses or fails cleanly; never reads past len (run
 * under ASan/valgrind to make this meaningful). */
static void test_rrq_truncation(void) {
        uint8_t buf[512];
        size_t len = REQ(buf, TFTP_OP_RRQ, "boot/x86_64/ipxe.efi", "octet", "tsize", "0", "blksize", "1468",
                         "timeout", "2", "windowsize", "8");

        for (size_t l = 0; l <= len; l++) {
                g_autofree uint8_t *copy = g_memdup2(buf, l ?: 1);
                TftpRequest req;
                int r = tftp_request_parse(copy, l, &req);

                if (l < 2 + 21 + 6)
                        g_assert_cmpint(r, ==, -EBADMSG);
                else
                        g_assert_cmpint(r, ==, 0);
                if (l == len) {
                        g_assert_cmpint(req.tsize, ==, 0);
                        g_assert_cmpint(req.blksize, ==, 1468);
                        g_assert_cmpint(req.timeout_s, ==, 2);
                        g_assert_cmpint(req.windowsize, ==, 8);
                }
        }
}

static void test_oack_roundtrip(void) {
        uint8_t buf[128], rrq[128];
        TftpOack o = { .blksize = 1468, .timeout_s = 3, .tsize = 4294967296LL, .windowsize = 16 };
        TftpRequest req;
        int n;

        n = tftp_build_oack(buf, sizeof(buf), &o);
        g_assert_cmpint(n, >, 2);
        g_assert_cmpint(tftp_opcode(buf, (size_t) n), ==, TFTP_OP_OACK);
        g_assert_cmpmem(buf + 2, (size_t) n - 2,
                        "blksize\0" "1468\0" "tsize\0" "4294967296\0" "timeout\0" "3\0" "windowsize\0" "16", 54);

        /* Parse the options back with the request parser (same option grammar). */
        memcpy(rrq, "\0\1f\0octet", 10);
        memcpy(rrq + 10, buf + 2, (size_t) n - 2);
        g_assert_cmpint(tftp_request_parse(rrq, 10 + (size_t) n - 2, &req), ==, 0);
        g_assert_cmpint(req.blksize, ==, 1468);
        g_assert_cmpint(req.timeout_s, ==, 3);
        g_assert_cmpint(req.tsize, ==, 4294967296LL);
        g_assert_cmpint(req.windowsize, ==, 16);

        /* Only requested options appear. */
        o = (TftpOack) { .blksize = -1, .timeout_s = -1, .tsize = 0, .windowsize = -1 };
        n = tftp_build_oack(buf, sizeof(buf), &o);
        g_assert_cmpint(n, ==, 2 + 6 + 2);
        g_assert_cmpmem(buf, (size_t) n, "\0\6tsize\0" "0", 10);

        /* Too small buffers, at every size. */
        o = (TftpOack) { .blksize = 65464, .timeout_s = 255, .tsize = 123456789, .windowsize = 65535 };
        n = tftp_build_oack(buf, sizeof(buf), &o);
        g_assert_cmpint(n, >, 0);
        for (size_t s = 0; s < (size_t) n; s++)
                g_assert_cmpint(tftp_build_oack(buf, s, &o), ==, -ENOBUFS);
        g_assert_cmpint(tftp_build_oack(buf, (size_t) n, &o), ==, n);
}

static void test_error_roundtrip(void) {
        uint8_t buf[600];
        char msg[256], big[400];
        uint16_t code;
        int n;

        n = tftp_build_error(buf, sizeof(buf), TFTP_ERR_NOT_FOUND, "File not found");
        g_assert_cmpint(n, ==, 4 + 14 + 1);
        g_assert_cmpmem(buf, 4, "\0\5\0\1", 4);
        g_assert_cmpint(tftp_error_parse(buf, (size_t) n, &code, msg, sizeof(msg)), ==, 0);
        g_assert_cmpuint(code, ==, TFTP_ERR_NOT_FOUND);
        g_assert_cmpstr(msg, ==, "File not found");

        /* Control characters are replaced both ways. */
        n = tftp_build_error(buf, sizeof(buf), 0, "bad\nthing\x01");
        g_assert_cmpint(tftp_error_parse(buf, (size_t) n, &code, msg, sizeof(msg)), ==, 0);
        g_assert_cmpstr(msg, ==, "bad?thing?");
        memcpy(buf, "\0\5\0\10User \x1b[31maborted", 21);
        g_assert_cmpint(tftp_error_parse(buf, 21, &code, msg, sizeof(msg)), ==, 0);
        g_assert_cmpuint(code, ==, TFTP_ERR_OPTION);
        g_assert_cmpstr(msg, ==, "User ?[31maborted");

        /* Messages are capped at 255 characters, and truncated to small buffers. */
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        n = tftp_build_error(buf, sizeof(buf), 0, big);
        g_assert_cmpint(n, ==, 4 + 255 + 1);
        n = tftp_build_error(buf, 10, 0, big);
        g_assert_cmpint(n, ==, 10);
        g_assert_cmpuint(buf[9], ==, 0);
        g_assert_cmpint(tftp_build_error(buf, 4, 0, "x"), ==, -ENOBUFS);
        g_assert_cmpint(tftp_build_error(buf, 5, 0, "x"), ==, 5);
        g_assert_cmpint(tftp_build_error(buf, 5, 0, NULL), ==, 5);

        /* Missing NUL, no message, small output buffer. */
        memcpy(buf, "\0\5\0\2abc", 7);
        g_assert_cmpint(tftp_error_parse(buf, 7, &code, msg, sizeof(msg)), ==, 0);
        g_assert_cmpstr(msg, ==, "abc");
        g_assert_cmpint(tftp_error_parse(buf, 4, &code, msg, sizeof(msg)), ==, 0);
        g_assert_cmpstr(msg, ==, "");
        g_assert_cmpint(tftp_error_parse(buf, 7, &code, msg, 2), ==, 0);
        g_assert_cmpstr(msg, ==, "a");
        g_assert_cmpint(tftp_error_parse(buf, 7, NULL, NULL, 0), ==, 0);

        /* Truncated at every length / wrong opcode. */
        for (size_t l = 0; l < 4; l++)
                g_assert_cmpint(tftp_error_parse(buf, l, &code, msg, sizeof(msg)), ==, -EBADMSG);
        memcpy(buf, "\0\4\0\2", 4);
        g_assert_cmpint(tftp_error_parse(buf, 4, &code, msg, sizeof(msg)), ==, -EBADMSG);
}

static void test_ack_data(void) {
        uint8_t buf[8];
        uint16_t block;

        tftp_build_data_header(buf, 0xfffe);
        g_assert_cmpmem(buf, 4, "\0\3\xff\xfe", 4);
        g_assert_cmpint(tftp_opcode(buf, 4), ==, TFTP_OP_DATA);
        g_assert_cmpint(tftp_ack_parse(buf, 4, &block), ==, -EBADMSG);

        memcpy(buf, "\0\4\x12\x34", 4);
        g_assert_cmpint(tftp_ack_parse(buf, 4, &block), ==, 0);
        g_assert_cmpuint(block, ==, 0x1234);
        g_assert_cmpint(tftp_ack_parse(buf, 8, &block), ==, 0); /* padded */
        for (size_t l = 0; l < 4; l++)
                g_assert_cmpint(tftp_ack_parse(buf, l, &block), ==, -EBADMSG);

        g_assert_cmpint(tftp_opcode(buf, 0), ==, -EBADMSG);
        g_assert_cmpint(tftp_opcode(buf, 1), ==, -EBADMSG);
        g_assert_cmpint(tftp_opcode(buf, 2), ==, TFTP_OP_ACK);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/tftp-proto/rrq/plain", test_rrq_plain);
        g_test_add_func("/tftp-proto/rrq/options", test_rrq_options);
        g_test_add_func("/tftp-proto/rrq/invalid-values", test_rrq_invalid_values);
        g_test_add_func("/tftp-proto/rrq/malformed", test_rrq_malformed);
        g_test_add_func("/tftp-proto/rrq/lenient-options", test_rrq_lenient_options);
        g_test_add_func("/tftp-proto/rrq/truncation", test_rrq_truncation);
        g_test_add_func("/tftp-proto/oack/roundtrip", test_oack_roundtrip);
        g_test_add_func("/tftp-proto/error/roundtrip", test_error_roundtrip);
        g_test_add_func("/tftp-proto/ack-data", test_ack_data);

        return g_test_run();
}
