/* SPDX-License-Identifier: Apache-2.0 */
/* DHCPv4 codec: parsing of real-world-shaped packets (tests/data/dhcp/NAME.hex), hostile input
 * (truncation, overruns, bad magic, sizes), option 52 overload, RFC 3396 concatenation, and the
 * reply builder. Fixtures are loaded from G_TEST_SRCDIR (meson sets it to tests/). */

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "dhcp4.h"

#define OFF_SNAME   44
#define OFF_FILE    108
#define OFF_OPTIONS 240

/* Fixtures */

/* Reads an annotated hex fixture: '#' to end of line is a comment, other non-hex chars are ignored. */
static GByteArray *fixture_load_hex(const char *name) {
        g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "dhcp", name, NULL);
        g_autoptr(GError) error = NULL;
        g_autofree char *text = NULL;
        GByteArray *bytes = g_byte_array_new();
        bool comment = false;
        int high = -1;

        if (!g_file_get_contents(path, &text, NULL, &error))
                g_error("cannot read fixture %s: %s", path, error->message);

        for (const char *c = text; *c; c++) {
                if (*c == '\n') {
                        comment = false;
                        continue;
                }
                if (comment || *c == '#') {
                        comment = true;
                        continue;
                }
                if (!g_ascii_isxdigit(*c))
                        continue;
                if (high < 0)
                        high = g_ascii_xdigit_value(*c);
                else {
                        uint8_t byte = (uint8_t) (high << 4 | g_ascii_xdigit_value(*c));
                        g_byte_array_append(bytes, &byte, 1);
                        high = -1;
                }
        }
        g_assert_cmpint(high, ==, -1);
        return bytes;
}

static const char *const all_fixtures[] = {
        "bios-discover.hex",     "ovmf-discover.hex",     "ipxe-bios-discover.hex",
        "ipxe-efi-discover.hex", "bios-request-4011.hex", "ovmf-request-4011.hex",
        "linux-discover.hex",    "relayed-request.hex",   "overload-discover.hex",
};

/* Builds a packet: a zeroed BOOTREQUEST header with the magic cookie, then `options` verbatim. */
static GByteArray *packet_with_options(const void *options, size_t len) {
        static const uint8_t header_start[] = {1, 1, 6, 0, 0xde, 0xad, 0xbe, 0xef};
        static const uint8_t magic[] = {0x63, 0x82, 0x53, 0x63};
        GByteArray *p = g_byte_array_new();

        g_byte_array_set_size(p, OFF_OPTIONS);
        memset(p->data, 0, OFF_OPTIONS);
        memcpy(p->data, header_start, sizeof(header_start));
        p->data[28] = 0x52; /* chaddr 52:54:00:00:00:01 */
        p->data[29] = 0x54;
        p->data[33] = 0x01;
        memcpy(p->data + 236, magic, sizeof(magic));
        g_byte_array_append(p, options, (guint) len);
        return p;
}

static Dhcp4Packet *parse_ok(const GByteArray *bytes) {
        Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);

        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        return p;
}

static void assert_option(const Dhcp4Packet *p, uint8_t code, const void *expected, size_t expected_len) {
        size_t len = 0xdead;
        const uint8_t *data = dhcp4_packet_get_option(p, code, &len);

        g_assert_nonnull(data);
        g_assert_true(dhcp4_packet_has_option(p, code));
        g_assert_cmpmem(data, len, expected, expected_len);
}

static void assert_no_option(const Dhcp4Packet *p, uint8_t code) {
        size_t len = 0xdead;

        g_assert_false(dhcp4_packet_has_option(p, code));
        g_assert_null(dhcp4_packet_get_option(p, code, &len));
        g_assert_cmpuint(len, ==, 0xdead); /* not written when absent */
}

/* Parsing real-world-shaped packets */

static void test_parse_bios_discover(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        g_autofree Dhcp4Packet *p = NULL;
        static const uint8_t mac[] = {0xd0, 0x50, 0x99, 0x4e, 0x05, 0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        static const uint8_t guid[] = {0x00, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00, 0x05,
                                       0x00, 0x06, 0x00, 0x07, 0x00, 0x08, 0x00, 0x09};
        static const uint8_t prl[] = {1,  2,  3,  4,  5,  6,  11, 12, 13, 15, 16,  17,  18,  22,  23,  28,  40,  41,
                                      42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 128, 129, 130, 131, 132, 133, 134, 135};

        g_assert_cmpuint(bytes->len, ==, 548);
        p = parse_ok(bytes);

        g_assert_cmpuint(p->op, ==, DHCP4_OP_REQUEST);
        g_assert_cmpuint(p->htype, ==, 1);
        g_assert_cmpuint(p->hlen, ==, 6);
        g_assert_cmpuint(p->hops, ==, 0);
        g_assert_cmpuint(p->xid, ==, 0x9b4e0557);
        g_assert_cmpuint(p->flags, ==, 0x8000);
        g_assert_cmpuint(p->ciaddr.s_addr, ==, 0);
        g_assert_cmpuint(p->giaddr.s_addr, ==, 0);
        g_assert_cmpmem(p->chaddr, sizeof(p->chaddr), mac, sizeof(mac));
        g_assert_cmpstr(p->sname, ==, "");
        g_assert_cmpstr(p->file, ==, "");
        g_assert_cmpint(p->message_type, ==, DHCP4_DISCOVER);

        assert_option(p, DHCP4_OPT_MESSAGE_TYPE, "\x01", 1);
        assert_option(p, DHCP4_OPT_MAX_MESSAGE_SIZE, "\x04\xec", 2);
        assert_option(p, DHCP4_OPT_PARAMETER_LIST, prl, sizeof(prl));
        assert_option(p, DHCP4_OPT_VENDOR_CLASS, "PXEClient:Arch:00000:UNDI:002001", 32);
        assert_option(p, DHCP4_OPT_CLIENT_ARCH, "\x00\x00", 2);
        assert_option(p, DHCP4_OPT_CLIENT_NDI, "\x01\x02\x01", 3);
        assert_option(p, DHCP4_OPT_CLIENT_GUID, guid, sizeof(guid));
        assert_no_option(p, DHCP4_OPT_USER_CLASS);
        assert_no_option(p, DHCP4_OPT_VENDOR_SPECIFIC);
        assert_no_option(p, DHCP4_OPT_PAD);
        assert_no_option(p, DHCP4_OPT_END);
        assert_no_option(p, DHCP4_OPT_OVERLOAD);

        /* 3 + 4 + 38 + 19 + 5 + 4 + 34 option bytes minus 2 per option header */
        g_assert_cmpuint(p->optbuf_used, ==, 1 + 2 + 36 + 17 + 3 + 2 + 32);
}

static void test_parse_relayed_request(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("relayed-request.hex");
        g_autofree Dhcp4Packet *p = parse_ok(bytes);
        static const uint8_t mac[] = {0x00, 0x24, 0xd7, 0xba, 0x0b, 0x20};

        g_assert_cmpint(p->message_type, ==, DHCP4_REQUEST);
        g_assert_cmpuint(p->xid, ==, 0x52cff007);
        g_assert_cmpuint(p->hops, ==, 1);
        g_assert_cmpuint(p->flags, ==, 0);
        g_assert_cmpuint(ntohl(p->giaddr.s_addr), ==, 0xc0a82801); /* 192.168.40.1 */
        g_assert_cmpmem(p->chaddr, 6, mac, sizeof(mac));
        assert_option(p, 12, "sibeal", 6);
        assert_option(p, 50, "\xc0\xa8\x28\x04", 4);
        assert_no_option(p, DHCP4_OPT_CLIENT_ARCH);
}

static void test_parse_all_fixtures(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(all_fixtures); i++) {
                g_autoptr(GByteArray) bytes = fixture_load_hex(all_fixtures[i]);
                g_autofree Dhcp4Packet *p = NULL;

                g_test_message("%s", all_fixtures[i]);
                p = parse_ok(bytes);
                g_assert_cmpuint(p->op, ==, DHCP4_OP_REQUEST);
                g_assert_true(p->message_type == DHCP4_DISCOVER || p->message_type == DHCP4_REQUEST);
        }
}

/* Hostile input */

/* Every prefix of every fixture, each in a heap block of exactly that size so that the sanitizers
 * (and valgrind) catch any read past the end. */
static void test_parse_truncated_everywhere(void) {
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);

        for (size_t i = 0; i < G_N_ELEMENTS(all_fixtures); i++) {
                g_autoptr(GByteArray) bytes = fixture_load_hex(all_fixtures[i]);
                unsigned n_ok = 0;

                for (size_t len = 0; len <= bytes->len; len++) {
                        g_autofree uint8_t *copy = len > 0 ? g_memdup2(bytes->data, len) : NULL;
                        int r = dhcp4_packet_parse(copy, len, p);

                        if (len < DHCP4_MIN_LEN)
                                g_assert_cmpint(r, ==, len == 0 ? -EINVAL : -EBADMSG);
                        else
                                g_assert_true(r == 0 || r == -EBADMSG);
                        if (r == 0) {
                                n_ok++;
                                g_assert_cmpuint(p->optbuf_used, <=, len - DHCP4_MIN_LEN + 64 + 128);
                        }
                }
                /* a cut exactly between options parses (no END is tolerated) */
                g_assert_cmpuint(n_ok, >=, 2);
        }
}

static void test_parse_truncated_at_option_boundaries(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);

        /* Options: 53 (3 bytes) at 240, 57 (4) at 243, 55 (38) at 247, 97 (19) at 285 ... */
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, 240, p), ==, 0);
        g_assert_cmpint(p->message_type, ==, -1);
        g_assert_cmpuint(p->optbuf_used, ==, 0);

        g_assert_cmpint(dhcp4_packet_parse(bytes->data, 241, p), ==, -EBADMSG); /* code, no length */
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, 242, p), ==, -EBADMSG); /* length, no payload */

        g_assert_cmpint(dhcp4_packet_parse(bytes->data, 243, p), ==, 0);
        g_assert_cmpint(p->message_type, ==, DHCP4_DISCOVER);
        assert_no_option(p, DHCP4_OPT_MAX_MESSAGE_SIZE);

        g_assert_cmpint(dhcp4_packet_parse(bytes->data, 246, p), ==, -EBADMSG);
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, 247, p), ==, 0);
        assert_option(p, DHCP4_OPT_MAX_MESSAGE_SIZE, "\x04\xec", 2);
        assert_no_option(p, DHCP4_OPT_PARAMETER_LIST);
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, 284, p), ==, -EBADMSG);
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, 285, p), ==, 0);
        g_assert_true(dhcp4_packet_has_option(p, DHCP4_OPT_PARAMETER_LIST));
        assert_no_option(p, DHCP4_OPT_CLIENT_GUID);

        /* anywhere in the trailing padding after END */
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len - 100, p), ==, 0);
        g_assert_true(dhcp4_packet_has_option(p, DHCP4_OPT_VENDOR_CLASS));
}

static void test_parse_bad_magic(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);
        g_autofree Dhcp4Packet *untouched = g_new0(Dhcp4Packet, 1);

        for (size_t i = 236; i < 240; i++) {
                uint8_t saved = bytes->data[i];

                memset(p, 0xaa, sizeof(*p));
                memset(untouched, 0xaa, sizeof(*untouched));
                bytes->data[i] ^= 0x01;
                g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, -EBADMSG);
                g_assert_cmpmem(p, sizeof(*p), untouched, sizeof(*untouched));
                bytes->data[i] = saved;
        }
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
}

static void test_parse_option_overrun(void) {
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);
        static const uint8_t overrun[] = {53, 1, 1, 60, 10, 'P', 'X', 'E'}; /* 10 claimed, 3 there */
        static const uint8_t overrun_by_one[] = {53, 1, 1, 12, 4, 'h', 'o', 's'};
        static const uint8_t exact[] = {53, 1, 1, 12, 3, 'h', 'o', 's'};
        static const uint8_t dangling_code[] = {53, 1, 1, 12};
        static const uint8_t max_len[] = {53, 1, 1, 43, 255, 0};
        g_autoptr(GByteArray) a = packet_with_options(overrun, sizeof(overrun));
        g_autoptr(GByteArray) b = packet_with_options(overrun_by_one, sizeof(overrun_by_one));
        g_autoptr(GByteArray) c = packet_with_options(exact, sizeof(exact));
        g_autoptr(GByteArray) d = packet_with_options(dangling_code, sizeof(dangling_code));
        g_autoptr(GByteArray) e = packet_with_options(max_len, sizeof(max_len));

        g_assert_cmpint(dhcp4_packet_parse(a->data, a->len, p), ==, -EBADMSG);
        g_assert_cmpint(dhcp4_packet_parse(b->data, b->len, p), ==, -EBADMSG);
        g_assert_cmpint(dhcp4_packet_parse(d->data, d->len, p), ==, -EBADMSG);
        g_assert_cmpint(dhcp4_packet_parse(e->data, e->len, p), ==, -EBADMSG);
        g_assert_cmpint(dhcp4_packet_parse(c->data, c->len, p), ==, 0);
        assert_option(p, 12, "hos", 3);
}

static void test_parse_lenient_end(void) {
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);
        /* no END at all */
        static const uint8_t no_end[] = {53, 1, 1, 0, 0, 93, 2, 0, 7};
        /* garbage after END, including an option whose length runs far past the end */
        static const uint8_t garbage[] = {53, 1, 1, 255, 93, 2, 0, 7, 60, 200, 'x'};
        g_autoptr(GByteArray) a = packet_with_options(no_end, sizeof(no_end));
        g_autoptr(GByteArray) b = packet_with_options(garbage, sizeof(garbage));

        g_assert_cmpint(dhcp4_packet_parse(a->data, a->len, p), ==, 0);
        assert_option(p, DHCP4_OPT_CLIENT_ARCH, "\x00\x07", 2);

        g_assert_cmpint(dhcp4_packet_parse(b->data, b->len, p), ==, 0);
        g_assert_cmpint(p->message_type, ==, DHCP4_DISCOVER);
        assert_no_option(p, DHCP4_OPT_CLIENT_ARCH);
        assert_no_option(p, DHCP4_OPT_VENDOR_CLASS);
}

static void test_parse_sizes(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);
        g_autofree uint8_t *big = g_malloc0(65535);

        memcpy(big, bytes->data, bytes->len);
        g_assert_cmpint(dhcp4_packet_parse(big, DHCP4_MAX_PACKET, p), ==, 0); /* trailing PAD */
        g_assert_cmpint(p->message_type, ==, DHCP4_DISCOVER);
        g_assert_cmpint(dhcp4_packet_parse(big, DHCP4_MAX_PACKET + 1, p), ==, -EMSGSIZE);
        g_assert_cmpint(dhcp4_packet_parse(big, 65535, p), ==, -EMSGSIZE);
        g_assert_cmpint(dhcp4_packet_parse(big, 239, p), ==, -EBADMSG);
        g_assert_cmpint(dhcp4_packet_parse(NULL, 300, p), ==, -EINVAL);
        g_assert_cmpint(dhcp4_packet_parse(big, 300, NULL), ==, -EINVAL);

        /* a 1500-byte packet whose options are all real: a 255-byte option x5 and change */
        memset(big + OFF_OPTIONS, 0, DHCP4_MAX_PACKET - OFF_OPTIONS);
        for (size_t off = OFF_OPTIONS; off + 257 <= DHCP4_MAX_PACKET; off += 257) {
                big[off] = 224;
                big[off + 1] = 255;
                memset(big + off + 2, (int) off, 255);
        }
        g_assert_cmpint(dhcp4_packet_parse(big, DHCP4_MAX_PACKET, p), ==, 0);
        g_assert_cmpuint(p->opt_length[224], ==, 4 * 255);
}

static void test_parse_hlen(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);

        bytes->data[2] = 17;
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, -EBADMSG);
        bytes->data[2] = 255;
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, -EBADMSG);
        bytes->data[2] = 16;
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        g_assert_cmpuint(p->hlen, ==, 16);
        bytes->data[1] = 32; /* htype is not checked (InfiniBand and friends) */
        bytes->data[2] = 0;
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        g_assert_cmpuint(p->htype, ==, 32);
}

static void test_parse_header_strings(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);
        char expected_sname[65], expected_file[129];

        /* unterminated: the whole field is copied and terminated */
        memset(bytes->data + OFF_SNAME, 's', 64);
        memset(bytes->data + OFF_FILE, 'f', 128);
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        memset(expected_sname, 's', 64);
        expected_sname[64] = '\0';
        memset(expected_file, 'f', 128);
        expected_file[128] = '\0';
        g_assert_cmpstr(p->sname, ==, expected_sname);
        g_assert_cmpstr(p->file, ==, expected_file);

        /* terminated early, garbage after the NUL is not copied */
        memcpy(bytes->data + OFF_SNAME, "boot.example\0zz", 15);
        memcpy(bytes->data + OFF_FILE, "pxelinux.0\0yy", 13);
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        g_assert_cmpstr(p->sname, ==, "boot.example");
        g_assert_cmpstr(p->file, ==, "pxelinux.0");
}

static void test_parse_empty_option(void) {
        static const uint8_t options[] = {53, 1, 3, 80, 0, 255}; /* 80 = rapid commit, empty */
        g_autoptr(GByteArray) bytes = packet_with_options(options, sizeof(options));
        g_autofree Dhcp4Packet *p = parse_ok(bytes);
        size_t len = 99;

        g_assert_nonnull(dhcp4_packet_get_option(p, 80, &len));
        g_assert_cmpuint(len, ==, 0);
        g_assert_true(dhcp4_packet_has_option(p, 80));
        g_assert_cmpint(p->message_type, ==, DHCP4_REQUEST);
        g_assert_false(dhcp4_packet_has_option(NULL, 53));
        g_assert_null(dhcp4_packet_get_option(NULL, 53, NULL));
}

/* Option 52 and RFC 3396 */

static void test_parse_overload(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("overload-discover.hex");
        g_autofree Dhcp4Packet *p = parse_ok(bytes);

        /* options field "PXE", then file "Client", then sname ":Arch:00007:UND" */
        assert_option(p, DHCP4_OPT_VENDOR_CLASS, "PXEClient:Arch:00007:UND", 24);
        assert_option(p, 67, "boot.efi", 8);
        assert_option(p, 66, "10.0.0.10", 9);
        assert_option(p, DHCP4_OPT_OVERLOAD, "\x03", 1);
        g_assert_cmpstr(p->sname, ==, ""); /* they carry options, not names */
        g_assert_cmpstr(p->file, ==, "");
        g_assert_cmpint(p->message_type, ==, DHCP4_DISCOVER);
}

static void test_parse_overload_variants(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("overload-discover.hex");
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);
        size_t overload_at = OFF_OPTIONS + 3 + 2; /* option 53 (3 bytes), then 52's code and length */

        g_assert_cmpuint(bytes->data[overload_at - 2], ==, DHCP4_OPT_OVERLOAD);

        /* 1: only file carries options; sname is a (binary, NUL-stopped) string */
        bytes->data[overload_at] = 1;
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        assert_option(p, DHCP4_OPT_VENDOR_CLASS, "PXEClient", 9);
        assert_no_option(p, 66);
        g_assert_cmpstr(p->file, ==, "");
        g_assert_cmpstr(p->sname, ==, "<\x0f:Arch:00007:UNDB\t10.0.0.10\xff");

        /* 2: only sname */
        bytes->data[overload_at] = 2;
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        assert_option(p, DHCP4_OPT_VENDOR_CLASS, "PXE:Arch:00007:UND", 18);
        assert_no_option(p, 67);
        g_assert_cmpstr(p->sname, ==, "");
        g_assert_cmpuint(strlen(p->file), ==, 19);

        /* nonsense values are ignored: both fields are strings */
        for (unsigned v = 0; v < 256; v++) {
                if (v >= 1 && v <= 3)
                        continue;
                bytes->data[overload_at] = (uint8_t) v;
                g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
                assert_option(p, DHCP4_OPT_VENDOR_CLASS, "PXE", 3);
                g_assert_cmpuint(strlen(p->sname), ==, 29);
        }

        /* an overrun inside the overloaded file field is an error like anywhere else */
        bytes->data[overload_at] = 3;
        bytes->data[OFF_FILE + 1] = 127;
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, -EBADMSG);
        bytes->data[OFF_FILE + 1] = 126; /* exactly fills the field: fine */
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        g_assert_cmpuint(p->opt_length[DHCP4_OPT_VENDOR_CLASS], ==, 3 + 126 + 15);
}

static void test_parse_overload_only_in_options_field(void) {
        /* option 52 inside the file field does not make sname an option area */
        g_autoptr(GByteArray) bytes = NULL;
        static const uint8_t options[] = {53, 1, 1, 52, 1, 1, 255};
        static const uint8_t file_area[] = {52, 1, 2, 12, 2, 'h', 'i', 255};
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);

        bytes = packet_with_options(options, sizeof(options));
        memcpy(bytes->data + OFF_FILE, file_area, sizeof(file_area));
        memcpy(bytes->data + OFF_SNAME, "\x0c\xff", 2); /* would overrun if parsed as options */
        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        assert_option(p, 12, "hi", 2);
        assert_option(p, DHCP4_OPT_OVERLOAD, "\x01\x02", 2); /* both instances, concatenated */
        g_assert_cmpstr(p->sname, ==, "\x0c\xff");
}

static void test_parse_rfc3396_split(void) {
        /* 43 split in three pieces with other options between, and 55 repeated */
        /* clang-format off */
        static const uint8_t options[] = {
                53, 1, 1,                  /**/
                43, 3, 6, 1, 8,            /**/
                55, 2, 1, 3,               /**/
                0,  0,                     /* PAD between instances */
                43, 2, 71, 4,              /**/
                55, 1, 6,                  /**/
                43, 5, 0x80, 0, 0, 0, 255, /**/
                255,
        };
        /* clang-format on */
        static const uint8_t vendor[] = {6, 1, 8, 71, 4, 0x80, 0, 0, 0, 255};
        g_autoptr(GByteArray) bytes = packet_with_options(options, sizeof(options));
        g_autofree Dhcp4Packet *p = parse_ok(bytes);

        assert_option(p, DHCP4_OPT_VENDOR_SPECIFIC, vendor, sizeof(vendor));
        assert_option(p, DHCP4_OPT_PARAMETER_LIST, "\x01\x03\x06", 3);
        assert_option(p, DHCP4_OPT_MESSAGE_TYPE, "\x01", 1);
        g_assert_cmpuint(p->optbuf_used, ==, sizeof(vendor) + 3 + 1);
}

static void test_parse_message_type(void) {
        static const uint8_t none[] = {12, 1, 'x', 255};
        static const uint8_t empty[] = {53, 0, 255};
        static const uint8_t ack[] = {53, 1, 5, 255};
        g_autoptr(GByteArray) a = packet_with_options(none, sizeof(none));
        g_autoptr(GByteArray) b = packet_with_options(empty, sizeof(empty));
        g_autoptr(GByteArray) c = packet_with_options(ack, sizeof(ack));
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);

        g_assert_cmpint(dhcp4_packet_parse(a->data, a->len, p), ==, 0);
        g_assert_cmpint(p->message_type, ==, -1);
        g_assert_cmpint(dhcp4_packet_parse(b->data, b->len, p), ==, 0);
        g_assert_cmpint(p->message_type, ==, -1);
        g_assert_cmpint(dhcp4_packet_parse(c->data, c->len, p), ==, 0);
        g_assert_cmpint(p->message_type, ==, DHCP4_ACK);
}

/* Deterministic pseudo-random packets and mutations: no crash, sane results. */
static void test_parse_random(void) {
        g_autoptr(GRand) rand = g_rand_new_with_seed(0x7078c0de);
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);
        unsigned n_ok = 0;

        for (unsigned round = 0; round < 20000; round++) {
                size_t len = (size_t) g_rand_int_range(rand, 0, 1600);
                g_autofree uint8_t *buf = g_malloc(len + 1);
                int r;

                for (size_t i = 0; i < len; i++)
                        buf[i] = (uint8_t) g_rand_int(rand);
                if (len >= DHCP4_MIN_LEN) {
                        memcpy(buf + 236, "\x63\x82\x53\x63", 4);
                        buf[2] %= 17;
                        if (round % 2) /* bias towards options the parser gives meaning to */
                                for (size_t i = DHCP4_MIN_LEN; i < len; i += 7)
                                        buf[i] = (uint8_t[]){0, 52, 53, 255, 43, 60, 93}[g_rand_int_range(rand, 0, 7)];
                }
                r = dhcp4_packet_parse(buf, len, p);
                g_assert_true(r == 0 || r == -EBADMSG || r == -EMSGSIZE);
                if (r == 0) {
                        n_ok++;
                        g_assert_cmpuint(p->optbuf_used, <=, sizeof(p->optbuf));
                        for (unsigned code = 0; code < 256; code++)
                                g_assert_cmpuint((size_t) p->opt_offset[code] + p->opt_length[code], <=,
                                                 p->optbuf_used);
                }
        }
        g_assert_cmpuint(n_ok, >, 100);
}

static void test_parse_fuzz_corpus(void) {
        g_autofree char *dir_path = g_test_build_filename(G_TEST_DIST, "fuzz", "corpus", "dhcp4", NULL);
        g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);
        const char *name;
        unsigned n = 0;

        if (!dir) {
                g_test_skip("no fuzz corpus");
                return;
        }
        while ((name = g_dir_read_name(dir))) {
                g_autofree char *path = g_build_filename(dir_path, name, NULL);
                g_autofree char *data = NULL;
                size_t len;
                int r;

                g_assert_true(g_file_get_contents(path, &data, &len, NULL));
                r = dhcp4_packet_parse((const uint8_t *) data, len, p);
                g_assert_true(r == 0 || r == -EBADMSG || r == -EMSGSIZE);
                n++;
        }
        g_assert_cmpuint(n, >, 0);
}

/* Builder */

static Dhcp4Packet *bios_discover_parsed(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        return parse_ok(bytes);
}

static void test_builder_reply_header(void) {
        g_autofree Dhcp4Packet *req = bios_discover_parsed();
        g_autofree Dhcp4Packet *back = g_new0(Dhcp4Packet, 1);
        uint8_t buf[DHCP4_MAX_PACKET];
        Dhcp4Builder b;
        struct in_addr a = {.s_addr = htonl(0x0a000001)};
        int len;

        memset(buf, 0xee, sizeof(buf));
        req->ciaddr.s_addr = htonl(0x0a000063);
        req->giaddr.s_addr = htonl(0x0a0000fe);
        req->hops = 3;
        req->secs = 77;
        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_set_siaddr(&b, a);
        dhcp4_builder_add_option_u8(&b, DHCP4_OPT_MESSAGE_TYPE, DHCP4_OFFER);
        len = dhcp4_builder_finish(&b);
        g_assert_cmpint(len, ==, DHCP4_MIN_REPLY_LEN);

        g_assert_cmpmem(buf, 12, "\x02\x01\x06\x00\x9b\x4e\x05\x57\x00\x00\x80\x00", 12);
        g_assert_cmpmem(buf + 12, 16,
                        "\x0a\x00\x00\x63"
                        "\x00\x00\x00\x00"
                        "\x0a\x00\x00\x01"
                        "\x0a\x00\x00\xfe",
                        16);
        g_assert_cmpmem(buf + 28, 16, req->chaddr, 16);
        for (size_t i = OFF_SNAME; i < 236; i++)
                g_assert_cmpuint(buf[i], ==, 0);
        g_assert_cmpmem(buf + 236, 8, "\x63\x82\x53\x63\x35\x01\x02\xff", 8);
        for (size_t i = 244; i < DHCP4_MIN_REPLY_LEN; i++)
                g_assert_cmpuint(buf[i], ==, 0);
        g_assert_cmpuint(buf[DHCP4_MIN_REPLY_LEN], ==, 0xee); /* nothing written past the packet */

        g_assert_cmpint(dhcp4_packet_parse(buf, (size_t) len, back), ==, 0);
        g_assert_cmpuint(back->op, ==, DHCP4_OP_REPLY);
        g_assert_cmpuint(back->xid, ==, req->xid);
        g_assert_cmpint(back->message_type, ==, DHCP4_OFFER);
        g_assert_cmpuint(back->siaddr.s_addr, ==, a.s_addr);
}

static void test_builder_chaddr_only_hlen(void) {
        g_autofree Dhcp4Packet *req = bios_discover_parsed();
        uint8_t buf[DHCP4_MIN_REPLY_LEN];
        Dhcp4Builder b;

        memset(req->chaddr + 6, 0x77, 10); /* junk beyond hlen is not echoed */
        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, DHCP4_MIN_REPLY_LEN);
        g_assert_cmpmem(buf + 28, 16, "\xd0\x50\x99\x4e\x05\x57\0\0\0\0\0\0\0\0\0\0", 16);
}

static void test_builder_long_option_split(void) {
        g_autofree Dhcp4Packet *req = bios_discover_parsed();
        g_autofree Dhcp4Packet *back = g_new0(Dhcp4Packet, 1);
        uint8_t payload[600], buf[DHCP4_MAX_PACKET];
        size_t got_len;
        Dhcp4Builder b;
        int len;

        for (size_t i = 0; i < sizeof(payload); i++)
                payload[i] = (uint8_t) (i * 7);
        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_add_option_u8(&b, DHCP4_OPT_MESSAGE_TYPE, DHCP4_ACK);
        dhcp4_builder_add_option(&b, 224, payload, sizeof(payload));
        dhcp4_builder_add_option(&b, 80, NULL, 0);
        len = dhcp4_builder_finish(&b);
        g_assert_cmpint(len, ==, 240 + 3 + (2 + 255) * 2 + (2 + 90) + 2 + 1);

        /* three instances: 255, 255, 90 */
        g_assert_cmpuint(buf[243], ==, 224);
        g_assert_cmpuint(buf[244], ==, 255);
        g_assert_cmpuint(buf[243 + 257], ==, 224);
        g_assert_cmpuint(buf[244 + 257], ==, 255);
        g_assert_cmpuint(buf[243 + 514], ==, 224);
        g_assert_cmpuint(buf[244 + 514], ==, 90);
        g_assert_cmpmem(buf + 243 + 514 + 92, 3, "\x50\x00\xff", 3);

        g_assert_cmpint(dhcp4_packet_parse(buf, (size_t) len, back), ==, 0);
        assert_option(back, 224, payload, sizeof(payload));
        g_assert_nonnull(dhcp4_packet_get_option(back, 80, &got_len));
        g_assert_cmpuint(got_len, ==, 0);
}

static void test_builder_exact_fit_and_enobufs(void) {
        g_autofree Dhcp4Packet *req = bios_discover_parsed();
        uint8_t buf[DHCP4_MIN_REPLY_LEN + 1];
        uint8_t payload[255] = {};
        Dhcp4Builder b;

        /* 240 header + (2 + 57) option + END = 300 */
        dhcp4_builder_init_reply(&b, buf, DHCP4_MIN_REPLY_LEN, req);
        dhcp4_builder_add_option(&b, 224, payload, 57);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, DHCP4_MIN_REPLY_LEN);
        g_assert_cmpuint(buf[DHCP4_MIN_REPLY_LEN - 1], ==, DHCP4_OPT_END);

        /* one byte more does not fit, and the error is sticky */
        dhcp4_builder_init_reply(&b, buf, DHCP4_MIN_REPLY_LEN, req);
        dhcp4_builder_add_option(&b, 224, payload, 58);
        dhcp4_builder_add_option_u8(&b, DHCP4_OPT_MESSAGE_TYPE, DHCP4_ACK);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -ENOBUFS);

        /* a buffer smaller than a minimal reply is refused up front, and never written */
        memset(buf, 0x5a, sizeof(buf));
        dhcp4_builder_init_reply(&b, buf, DHCP4_MIN_REPLY_LEN - 1, req);
        dhcp4_builder_add_option_u8(&b, DHCP4_OPT_MESSAGE_TYPE, DHCP4_ACK);
        dhcp4_builder_set_file(&b, "x");
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -ENOBUFS);
        for (size_t i = 0; i < sizeof(buf); i++)
                g_assert_cmpuint(buf[i], ==, 0x5a);

        /* a huge length cannot wrap the size computation */
        dhcp4_builder_init_reply(&b, buf, DHCP4_MIN_REPLY_LEN, req);
        dhcp4_builder_add_option(&b, 224, payload, SIZE_MAX);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -ENOBUFS);
}

static void test_builder_names(void) {
        g_autofree Dhcp4Packet *req = bios_discover_parsed();
        g_autofree Dhcp4Packet *back = g_new0(Dhcp4Packet, 1);
        char sname[65], file[129];
        uint8_t buf[DHCP4_MAX_PACKET];
        Dhcp4Builder b;
        int len;

        memset(sname, 'n', 63);
        sname[63] = '\0';
        memset(file, 'f', 127);
        file[127] = '\0';
        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_set_sname(&b, sname);
        dhcp4_builder_set_file(&b, file);
        len = dhcp4_builder_finish(&b);
        g_assert_cmpint(len, ==, DHCP4_MIN_REPLY_LEN);
        g_assert_cmpuint(buf[OFF_SNAME + 63], ==, 0);
        g_assert_cmpuint(buf[OFF_FILE + 127], ==, 0);
        g_assert_cmpint(dhcp4_packet_parse(buf, (size_t) len, back), ==, 0);
        g_assert_cmpstr(back->sname, ==, sname);
        g_assert_cmpstr(back->file, ==, file);

        /* replacing a long name with a short one leaves no tail behind */
        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_set_file(&b, file);
        dhcp4_builder_set_file(&b, "short");
        dhcp4_builder_set_sname(&b, NULL);
        len = dhcp4_builder_finish(&b);
        g_assert_cmpint(dhcp4_packet_parse(buf, (size_t) len, back), ==, 0);
        g_assert_cmpstr(back->file, ==, "short");
        g_assert_cmpuint(buf[OFF_FILE + 6], ==, 0);
        g_assert_cmpuint(buf[OFF_FILE + 126], ==, 0);

        sname[63] = 'n';
        sname[64] = '\0';
        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_set_sname(&b, sname);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -ENAMETOOLONG);

        file[127] = 'f';
        file[128] = '\0';
        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_set_file(&b, file);
        dhcp4_builder_add_option(&b, DHCP4_OPT_END, NULL, 0); /* first error wins */
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -ENAMETOOLONG);
}

static void test_builder_invalid(void) {
        g_autofree Dhcp4Packet *req = bios_discover_parsed();
        uint8_t buf[DHCP4_MIN_REPLY_LEN];
        Dhcp4Builder b;

        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_add_option(&b, DHCP4_OPT_PAD, "x", 1);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -EINVAL);

        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_add_option_u8(&b, DHCP4_OPT_END, 1);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -EINVAL);

        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_add_option(&b, 12, NULL, 3);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -EINVAL);

        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_add_option_string(&b, 12, NULL);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -EINVAL);

        dhcp4_builder_init_reply(&b, buf, sizeof(buf), NULL);
        g_assert_cmpint(dhcp4_builder_finish(&b), ==, -EINVAL);
        g_assert_cmpint(dhcp4_builder_finish(NULL), ==, -EINVAL);
}

static void test_builder_option_helpers(void) {
        g_autofree Dhcp4Packet *req = bios_discover_parsed();
        g_autofree Dhcp4Packet *back = g_new0(Dhcp4Packet, 1);
        uint8_t buf[DHCP4_MAX_PACKET];
        struct in_addr a = {.s_addr = htonl(0xc0a81001)};
        Dhcp4Builder b;
        int len;

        dhcp4_builder_init_reply(&b, buf, sizeof(buf), req);
        dhcp4_builder_add_option_u8(&b, DHCP4_OPT_MESSAGE_TYPE, DHCP4_ACK);
        dhcp4_builder_add_option_in_addr(&b, DHCP4_OPT_SERVER_ID, a);
        dhcp4_builder_add_option_u32(&b, DHCP4_OPT_PXELINUX_REBOOT_TIME, 0x01020304);
        dhcp4_builder_add_option_string(&b, DHCP4_OPT_VENDOR_CLASS, "PXEClient");
        dhcp4_builder_set_yiaddr(&b, a);
        dhcp4_builder_set_flags(&b, 0x1234);
        len = dhcp4_builder_finish(&b);
        g_assert_cmpint(len, ==, DHCP4_MIN_REPLY_LEN);
        g_assert_cmpmem(buf + 240, 3 + 6 + 6 + 11 + 1,
                        "\x35\x01\x05"
                        "\x36\x04\xc0\xa8\x10\x01"
                        "\xd3\x04\x01\x02\x03\x04"
                        "\x3c\x09PXEClient"
                        "\xff",
                        27);
        g_assert_cmpint(dhcp4_packet_parse(buf, (size_t) len, back), ==, 0);
        g_assert_cmpuint(back->yiaddr.s_addr, ==, a.s_addr);
        g_assert_cmpuint(back->flags, ==, 0x1234);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/dhcp4/parse/bios-discover", test_parse_bios_discover);
        g_test_add_func("/dhcp4/parse/relayed-request", test_parse_relayed_request);
        g_test_add_func("/dhcp4/parse/all-fixtures", test_parse_all_fixtures);
        g_test_add_func("/dhcp4/parse/truncated-everywhere", test_parse_truncated_everywhere);
        g_test_add_func("/dhcp4/parse/truncated-at-option-boundaries", test_parse_truncated_at_option_boundaries);
        g_test_add_func("/dhcp4/parse/bad-magic", test_parse_bad_magic);
        g_test_add_func("/dhcp4/parse/option-overrun", test_parse_option_overrun);
        g_test_add_func("/dhcp4/parse/lenient-end", test_parse_lenient_end);
        g_test_add_func("/dhcp4/parse/sizes", test_parse_sizes);
        g_test_add_func("/dhcp4/parse/hlen", test_parse_hlen);
        g_test_add_func("/dhcp4/parse/header-strings", test_parse_header_strings);
        g_test_add_func("/dhcp4/parse/empty-option", test_parse_empty_option);
        g_test_add_func("/dhcp4/parse/overload", test_parse_overload);
        g_test_add_func("/dhcp4/parse/overload-variants", test_parse_overload_variants);
        g_test_add_func("/dhcp4/parse/overload-only-in-options-field", test_parse_overload_only_in_options_field);
        g_test_add_func("/dhcp4/parse/rfc3396-split", test_parse_rfc3396_split);
        g_test_add_func("/dhcp4/parse/message-type", test_parse_message_type);
        g_test_add_func("/dhcp4/parse/random", test_parse_random);
        g_test_add_func("/dhcp4/parse/fuzz-corpus", test_parse_fuzz_corpus);
        g_test_add_func("/dhcp4/builder/reply-header", test_builder_reply_header);
        g_test_add_func("/dhcp4/builder/chaddr-only-hlen", test_builder_chaddr_only_hlen);
        g_test_add_func("/dhcp4/builder/long-option-split", test_builder_long_option_split);
        g_test_add_func("/dhcp4/builder/exact-fit-and-enobufs", test_builder_exact_fit_and_enobufs);
        g_test_add_func("/dhcp4/builder/names", test_builder_names);
        g_test_add_func("/dhcp4/builder/invalid", test_builder_invalid);
        g_test_add_func("/dhcp4/builder/option-helpers", test_builder_option_helpers);

        return g_test_run();
}
