/* SPDX-License-Identifier: Apache-2.0 */
/* PXE client classification and ProxyDHCP / boot server replies, against the packets in
 * tests/data/dhcp/NAME.hex and, when present, lab captures in tests/data/captures/NAME.pcap. */

#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "pxe.h"

#define OFF_FLAGS   10
#define OFF_CIADDR  12
#define OFF_YIADDR  16
#define OFF_SIADDR  20
#define OFF_GIADDR  24
#define OFF_CHADDR  28
#define OFF_SNAME   44
#define OFF_FILE    108
#define OFF_OPTIONS 240

static const uint8_t bios_guid[17] = {0x00, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00, 0x05,
                                      0x00, 0x06, 0x00, 0x07, 0x00, 0x08, 0x00, 0x09};

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

static void byte_array_insert(GByteArray *bytes, size_t pos, const void *data, size_t len) {
        if (len > 0)
                g_array_insert_vals((GArray *) bytes, (guint) pos, data, (guint) len);
}

/* Offset of option `code`'s first instance in a raw packet, or 0. */
static size_t raw_find_option(const GByteArray *bytes, uint8_t code) {
        size_t pos = OFF_OPTIONS;

        while (pos + 1 < bytes->len && bytes->data[pos] != 255) {
                if (bytes->data[pos] == 0) {
                        pos++;
                        continue;
                }
                if (bytes->data[pos] == code)
                        return pos;
                pos += 2 + bytes->data[pos + 1];
        }
        return 0;
}

/* Replaces the payload of option `code` (which must exist) by `payload`, or removes the option
 * when payload is NULL. */
static void raw_set_option(GByteArray *bytes, uint8_t code, const void *payload, size_t len) {
        size_t pos = raw_find_option(bytes, code);
        size_t old_len;

        g_assert_cmpuint(pos, >, 0);
        old_len = bytes->data[pos + 1];
        g_byte_array_remove_range(bytes, (guint) pos, (guint) (2 + old_len));
        if (payload) {
                uint8_t header[2] = {code, (uint8_t) len};

                byte_array_insert(bytes, pos, header, 2);
                byte_array_insert(bytes, pos + 2, payload, len);
        }
}

/* Appends an option right before END. */
static void raw_add_option(GByteArray *bytes, uint8_t code, const void *payload, size_t len) {
        size_t pos = OFF_OPTIONS;
        uint8_t header[2] = {code, (uint8_t) len};

        while (bytes->data[pos] != 255)
                pos += bytes->data[pos] == 0 ? 1 : 2 + bytes->data[pos + 1];
        byte_array_insert(bytes, pos, header, 2);
        byte_array_insert(bytes, pos + 2, payload, len);
}

static int classify(const GByteArray *bytes, PxeClient *ret) {
        g_autofree Dhcp4Packet *p = g_new0(Dhcp4Packet, 1);

        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, p), ==, 0);
        return pxe_client_parse(p, ret);
}

static int classify_fixture(const char *name, PxeClient *ret) {
        g_autoptr(GByteArray) bytes = fixture_load_hex(name);
        return classify(bytes, ret);
}

/* Classification */

static void test_classify_bios_discover(void) {
        PxeClient c;
        static const uint8_t mac[] = {0xd0, 0x50, 0x99, 0x4e, 0x05, 0x57};

        memset(&c, 0xaa, sizeof(c));
        g_assert_cmpint(classify_fixture("bios-discover.hex", &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_BIOS);
        g_assert_cmpuint(c.arch, ==, 0);
        g_assert_cmpmem(c.mac, 6, mac, 6);
        g_assert_true(c.has_vendor_class);
        g_assert_true(c.has_guid);
        g_assert_cmpmem(c.guid, 17, bios_guid, 17);
        g_assert_false(c.is_ipxe);
        g_assert_cmpuint(c.ipxe_features, ==, 0);
        g_assert_cmpstr(c.user_class, ==, "");
        g_assert_false(c.has_boot_item);
        g_assert_false(pxe_client_ipxe_can_boot_http(&c));
}

static void test_classify_ovmf_discover(void) {
        PxeClient c;

        g_assert_cmpint(classify_fixture("ovmf-discover.hex", &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_EFI64);
        g_assert_cmpuint(c.arch, ==, 7);
        g_assert_true(c.has_vendor_class);
        g_assert_true(c.has_guid);
        g_assert_cmpuint(c.guid[0], ==, 0);
        g_assert_cmpuint(c.guid[1], ==, 0x8a);
        g_assert_false(c.is_ipxe);
        g_assert_cmpstr(px_firmware_to_string(c.firmware), ==, "efi64");
}

static void test_classify_arch_table(void) {
        static const struct {
                uint16_t arch;
                int r;
                PxFirmware firmware;
        } table[] = {
                {0, 0, PX_FIRMWARE_BIOS},
                {6, 0, PX_FIRMWARE_EFI32},
                {7, 0, PX_FIRMWARE_EFI64},
                {9, 0, PX_FIRMWARE_EFI64},
                {1, -EPROTONOSUPPORT, _PX_FIRMWARE_INVALID},  /* NEC PC98 */
                {2, -EPROTONOSUPPORT, _PX_FIRMWARE_INVALID},  /* Itanium */
                {8, -EPROTONOSUPPORT, _PX_FIRMWARE_INVALID},  /* EFI Xscale */
                {10, -EPROTONOSUPPORT, _PX_FIRMWARE_INVALID}, /* ARM 32 UEFI */
                {11, -EPROTONOSUPPORT, _PX_FIRMWARE_INVALID}, /* ARM 64 UEFI */
                {16, -EPROTONOSUPPORT, _PX_FIRMWARE_INVALID}, /* x64 UEFI HTTP boot */
                {0x0100, -EPROTONOSUPPORT, _PX_FIRMWARE_INVALID},
                {0xdead, -EPROTONOSUPPORT, _PX_FIRMWARE_INVALID},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
                g_autoptr(GByteArray) bytes = fixture_load_hex("ovmf-discover.hex");
                uint8_t be[2] = {(uint8_t) (table[i].arch >> 8), (uint8_t) table[i].arch};
                PxeClient c = {};

                raw_set_option(bytes, DHCP4_OPT_CLIENT_ARCH, be, 2);
                g_test_message("arch %u", table[i].arch);
                g_assert_cmpint(classify(bytes, &c), ==, table[i].r);
                g_assert_cmpuint(c.arch, ==, table[i].arch);
                g_assert_cmpint(c.firmware, ==, table[i].firmware);
                g_assert_cmpuint(c.mac[5], ==, 0x56); /* filled for logging even when refused */
        }
}

static void test_classify_arch_from_vendor_class(void) {
        static const struct {
                const char *vendor_class;
                int r;
                uint16_t arch;
                PxFirmware firmware;
        } table[] = {
                {"PXEClient:Arch:00007:UNDI:003000", 0, 7, PX_FIRMWARE_EFI64},
                {"PXEClient:Arch:00009:UNDI:003016", 0, 9, PX_FIRMWARE_EFI64},
                {"PXEClient:Arch:00006", 0, 6, PX_FIRMWARE_EFI32},
                {"PXEClient:Arch:00000:UNDI:002001", 0, 0, PX_FIRMWARE_BIOS},
                {"PXEClient:Arch:00011:UNDI:003000", -EPROTONOSUPPORT, 11, _PX_FIRMWARE_INVALID},
                {"PXEClient:Arch:00016:UNDI:003001", -EPROTONOSUPPORT, 16, _PX_FIRMWARE_INVALID},
                {"PXEClient", 0, 0, PX_FIRMWARE_BIOS},                        /* no arch: BIOS */
                {"PXEClient:Arch:", 0, 0, PX_FIRMWARE_BIOS},                  /* empty arch */
                {"PXEClient:Arch:0x007:UNDI:003000", 0, 0, PX_FIRMWARE_BIOS}, /* not decimal */
                {"PXEClient:Arch:000007:UNDI", 0, 0, PX_FIRMWARE_BIOS},       /* too many digits */
                {"PXEClient:Arch:99999", 0, 0, PX_FIRMWARE_BIOS},             /* out of range */
                {"PXEClientXYZ", 0, 0, PX_FIRMWARE_BIOS},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
                g_autoptr(GByteArray) bytes = fixture_load_hex("ovmf-discover.hex");
                PxeClient c = {};

                raw_set_option(bytes, DHCP4_OPT_CLIENT_ARCH, NULL, 0);
                raw_set_option(bytes, DHCP4_OPT_VENDOR_CLASS, table[i].vendor_class, strlen(table[i].vendor_class));
                g_test_message("%s", table[i].vendor_class);
                g_assert_cmpint(classify(bytes, &c), ==, table[i].r);
                g_assert_cmpuint(c.arch, ==, table[i].arch);
                g_assert_cmpint(c.firmware, ==, table[i].firmware);
                g_assert_true(c.has_vendor_class);
        }
}

static void test_classify_option_93_wins(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("ovmf-discover.hex");
        const char *vc = "PXEClient:Arch:00000:UNDI:002001";
        PxeClient c;

        raw_set_option(bytes, DHCP4_OPT_VENDOR_CLASS, vc, strlen(vc));
        g_assert_cmpint(classify(bytes, &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_EFI64);

        /* 93 without any option 60 is enough */
        raw_set_option(bytes, DHCP4_OPT_VENDOR_CLASS, NULL, 0);
        g_assert_cmpint(classify(bytes, &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_EFI64);
        g_assert_false(c.has_vendor_class);
}

static void test_classify_bad_option_93(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        PxeClient c, untouched;

        memset(&c, 0x3c, sizeof(c));
        memcpy(&untouched, &c, sizeof(c));
        raw_set_option(bytes, DHCP4_OPT_CLIENT_ARCH, "\x00", 1);
        g_assert_cmpint(classify(bytes, &c), ==, -EBADMSG);
        g_assert_cmpmem(&c, sizeof(c), &untouched, sizeof(untouched));

        raw_set_option(bytes, DHCP4_OPT_CLIENT_ARCH, "", 0);
        g_assert_cmpint(classify(bytes, &c), ==, -EBADMSG);
        raw_set_option(bytes, DHCP4_OPT_CLIENT_ARCH, "\x00\x07\x00", 3);
        g_assert_cmpint(classify(bytes, &c), ==, -EBADMSG);

        /* RFC 4578 list: the first entry counts */
        raw_set_option(bytes, DHCP4_OPT_CLIENT_ARCH, "\x00\x07\x00\x00", 4);
        g_assert_cmpint(classify(bytes, &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_EFI64);
}

static void test_classify_not_pxe(void) {
        g_autoptr(GByteArray) bios = fixture_load_hex("bios-discover.hex");
        PxeClient c, untouched;

        memset(&c, 0x3c, sizeof(c));
        memcpy(&untouched, &c, sizeof(c));
        g_assert_cmpint(classify_fixture("linux-discover.hex", &c), ==, -ENOMSG);
        g_assert_cmpint(classify_fixture("relayed-request.hex", &c), ==, -ENOMSG);
        g_assert_cmpmem(&c, sizeof(c), &untouched, sizeof(untouched));

        /* the real DISCOVER without 93 and with a vendor class that is not PXEClient */
        raw_set_option(bios, DHCP4_OPT_CLIENT_ARCH, NULL, 0);
        raw_set_option(bios, DHCP4_OPT_VENDOR_CLASS, "PXECli", 6);
        g_assert_cmpint(classify(bios, &c), ==, -ENOMSG);
        raw_set_option(bios, DHCP4_OPT_VENDOR_CLASS, "pxeclient:Arch:00000", 20);
        g_assert_cmpint(classify(bios, &c), ==, -ENOMSG);
        raw_set_option(bios, DHCP4_OPT_VENDOR_CLASS, "HTTPClient:Arch:00016", 21);
        g_assert_cmpint(classify(bios, &c), ==, -ENOMSG);
        raw_set_option(bios, DHCP4_OPT_VENDOR_CLASS, NULL, 0);
        g_assert_cmpint(classify(bios, &c), ==, -ENOMSG);
        g_assert_cmpmem(&c, sizeof(c), &untouched, sizeof(untouched));
        g_assert_cmpint(pxe_client_parse(NULL, &c), ==, -EINVAL);
}

static void test_classify_hlen(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        PxeClient c;

        bytes->data[2] = 0;
        g_assert_cmpint(classify(bytes, &c), ==, -EBADMSG);
        bytes->data[2] = 16;
        g_assert_cmpint(classify(bytes, &c), ==, -EBADMSG);
        bytes->data[2] = 6;
        g_assert_cmpint(classify(bytes, &c), ==, 0);
}

static void test_classify_guid(void) {
        /* clang-format off */
        static const struct {
                const char *payload;
                size_t len;
                bool has_guid;
        } table[] = {
                {"\x00" "0123456789abcdef", 17, true},
                {"\x01" "0123456789abcdef", 17, false}, /* type must be 0 */
                {"\x00" "0123456789abcde", 16, false},
                {"\x00" "0123456789abcdefX", 18, false},
                {"", 0, false},
        };
        /* clang-format on */

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
                g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
                PxeClient c;

                raw_set_option(bytes, DHCP4_OPT_CLIENT_GUID, table[i].payload, table[i].len);
                g_assert_cmpint(classify(bytes, &c), ==, 0); /* never a reason to refuse */
                g_assert_cmpint(c.has_guid, ==, table[i].has_guid);
                if (c.has_guid)
                        g_assert_cmpmem(c.guid, 17, table[i].payload, 17);
        }

        {
                g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
                PxeClient c;

                raw_set_option(bytes, DHCP4_OPT_CLIENT_GUID, NULL, 0); /* Intel ROMs of pc#21 */
                g_assert_cmpint(classify(bytes, &c), ==, 0);
                g_assert_false(c.has_guid);
        }
}

static void test_classify_ipxe_bios(void) {
        PxeClient c;

        g_assert_cmpint(classify_fixture("ipxe-bios-discover.hex", &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_BIOS);
        g_assert_true(c.is_ipxe);
        g_assert_cmpstr(c.user_class, ==, "iPXE");
        g_assert_cmphex(c.ipxe_features, ==,
                        IPXE_FEATURE_PXE_EXT | IPXE_FEATURE_HTTP | IPXE_FEATURE_HTTPS | IPXE_FEATURE_TFTP |
                                IPXE_FEATURE_DNS | IPXE_FEATURE_BZIMAGE | IPXE_FEATURE_MULTIBOOT | IPXE_FEATURE_PXE |
                                IPXE_FEATURE_ELF | IPXE_FEATURE_COMBOOT | IPXE_FEATURE_MENU);
        g_assert_true(pxe_client_ipxe_can_boot_http(&c));
        g_assert_true(c.has_guid);
}

static void test_classify_ipxe_efi(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("ipxe-efi-discover.hex");
        PxeClient c;

        g_assert_cmpint(classify(bytes, &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_EFI64);
        g_assert_true(c.is_ipxe);
        g_assert_true(c.ipxe_features & IPXE_FEATURE_EFI);
        g_assert_true(c.ipxe_features & IPXE_FEATURE_HTTP);
        g_assert_false(c.ipxe_features & IPXE_FEATURE_BZIMAGE);
        g_assert_true(pxe_client_ipxe_can_boot_http(&c));

        /* the same feature set on a BIOS machine cannot boot a bzImage */
        raw_set_option(bytes, DHCP4_OPT_CLIENT_ARCH, "\x00\x00", 2);
        g_assert_cmpint(classify(bytes, &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_BIOS);
        g_assert_false(pxe_client_ipxe_can_boot_http(&c));
}

static void test_classify_ipxe_features(void) {
        static const struct {
                const char *encap;
                size_t len;
                uint32_t features;
                bool can_boot_http; /* on BIOS */
        } table[] = {
                {"\x13\x01\x01\x18\x01\x01", 6, IPXE_FEATURE_HTTP | IPXE_FEATURE_BZIMAGE, true},
                {"\x13\x01\x01", 3, IPXE_FEATURE_HTTP, false}, /* VirtualBox: HTTP without bzImage */
                {"\x18\x01\x01", 3, IPXE_FEATURE_BZIMAGE, false},
                {"", 0, 0, false},
                {"\x00\x13\x01\x01\x00\x18\x00", 7, IPXE_FEATURE_HTTP | IPXE_FEATURE_BZIMAGE, true}, /* PADs */
                {"\x13\x01\x01\xff\x18\x01\x01", 7, IPXE_FEATURE_HTTP, false},                       /* END stops */
                {"\x13\x01\x01\x18\x05\x01", 6, IPXE_FEATURE_HTTP, false},                           /* truncated */
                {"\x13\x01\x01\x18", 4, IPXE_FEATURE_HTTP, false},                                   /* dangling */
                {"\xeb\x03\x01\x00\x00\x13\x01\x01\x18\x01\x01\x24\x01\x01\x27\x01\x01", 17,
                 IPXE_FEATURE_HTTP | IPXE_FEATURE_BZIMAGE | IPXE_FEATURE_EFI | IPXE_FEATURE_MENU, true},
                {"\x10\x01\x02\x14\x01\x01\x15\x01\x01\x17\x01\x01\x19\x01\x01\x21\x01\x01\x22\x01\x01\x23\x01\x01", 24,
                 IPXE_FEATURE_PXE_EXT | IPXE_FEATURE_HTTPS | IPXE_FEATURE_TFTP | IPXE_FEATURE_DNS |
                         IPXE_FEATURE_MULTIBOOT | IPXE_FEATURE_PXE | IPXE_FEATURE_ELF | IPXE_FEATURE_COMBOOT,
                 false},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
                g_autoptr(GByteArray) bytes = fixture_load_hex("ipxe-bios-discover.hex");
                PxeClient c;

                g_test_message("case %zu", i);
                raw_set_option(bytes, DHCP4_OPT_IPXE_ENCAP, table[i].encap, table[i].len);
                g_assert_cmpint(classify(bytes, &c), ==, 0);
                g_assert_true(c.is_ipxe);
                g_assert_cmphex(c.ipxe_features, ==, table[i].features);
                g_assert_cmpint(pxe_client_ipxe_can_boot_http(&c), ==, table[i].can_boot_http);
        }
}

static void test_classify_user_class(void) {
        /* clang-format off */
        static const struct {
                const char *payload;
                size_t len;
                bool is_ipxe;
                const char *rendered;
        } table[] = {
                {"iPXE", 4, true, "iPXE"},
                {"\x04iPXE", 5, true, "iPXE"},                  /* RFC 3004 */
                {"\x03" "foo\x04iPXE", 9, true, "foo,iPXE"},   /* RFC 3004, second item */
                {"\x09pixiecore", 10, false, "pixiecore"},
                {"pixiecore", 9, false, "pixiecore"},
                {"ipxe", 4, false, "ipxe"},
                {"iPXE2", 5, false, "iPXE2"},
                {"iPX", 3, false, "iPX"},
                {"ab\x01" "c\x7f", 5, false, "ab?c?"},
                {"\x05iPXE", 5, false, "?iPXE"},                /* broken framing: raw */
                {"", 0, false, ""},
        };
        /* clang-format on */

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
                g_autoptr(GByteArray) bytes = fixture_load_hex("ipxe-bios-discover.hex");
                PxeClient c;

                g_test_message("case %zu", i);
                raw_set_option(bytes, DHCP4_OPT_IPXE_ENCAP, NULL, 0);
                raw_set_option(bytes, DHCP4_OPT_USER_CLASS, table[i].payload, table[i].len);
                g_assert_cmpint(classify(bytes, &c), ==, 0);
                g_assert_cmpint(c.is_ipxe, ==, table[i].is_ipxe);
                g_assert_cmpstr(c.user_class, ==, table[i].rendered);
                g_assert_cmpuint(c.ipxe_features, ==, 0);
                /* capability unknown without option 175: chainload rather than guess */
                g_assert_false(pxe_client_ipxe_can_boot_http(&c));
        }
}

static void test_classify_user_class_long(void) {
        g_autoptr(GByteArray) bytes = fixture_load_hex("bios-discover.hex");
        char payload[200];
        PxeClient c;

        memset(payload, 'u', sizeof(payload));
        raw_add_option(bytes, DHCP4_OPT_USER_CLASS, payload, sizeof(payload));
        g_assert_cmpint(classify(bytes, &c), ==, 0);
        g_assert_cmpuint(strlen(c.user_class), ==, sizeof(c.user_class) - 1);
        g_assert_true(g_str_has_prefix(c.user_class, "uuuu"));
}

static void test_classify_boot_item(void) {
        static const struct {
                const char *vendor;
                size_t len;
                bool has_item;
        } table[] = {
                {"\x06\x01\x08\x47\x04\x80\x00\x00\x01\xff", 10, true}, /* after discovery control */
                {"\x47\x03\x80\x00\x00\xff", 6, false},                 /* wrong length */
                {"\x47\x04\x80\x00\x00", 5, false},                     /* truncated */
                {"\xff\x47\x04\x80\x00\x00\x00", 7, false},             /* after END */
                {"", 0, false},
        };
        PxeClient c;
        static const uint8_t bios_item[] = {0x80, 0x00, 0x00, 0x00};

        g_assert_cmpint(classify_fixture("bios-request-4011.hex", &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_BIOS);
        g_assert_true(c.has_boot_item);
        g_assert_cmpmem(c.boot_item, 4, bios_item, 4);

        g_assert_cmpint(classify_fixture("ovmf-request-4011.hex", &c), ==, 0);
        g_assert_cmpint(c.firmware, ==, PX_FIRMWARE_EFI64);
        g_assert_false(c.has_boot_item); /* EDK2 after an offer without option 43 */

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
                g_autoptr(GByteArray) bytes = fixture_load_hex("bios-request-4011.hex");

                raw_set_option(bytes, DHCP4_OPT_VENDOR_SPECIFIC, table[i].vendor, table[i].len);
                g_assert_cmpint(classify(bytes, &c), ==, 0);
                g_assert_cmpint(c.has_boot_item, ==, table[i].has_item);
                if (c.has_boot_item)
                        g_assert_cmpmem(c.boot_item, 4, "\x80\x00\x00\x01", 4);
        }
}

static void test_firmware_to_string(void) {
        g_assert_cmpstr(px_firmware_to_string(PX_FIRMWARE_BIOS), ==, "bios");
        g_assert_cmpstr(px_firmware_to_string(PX_FIRMWARE_EFI32), ==, "efi32");
        g_assert_cmpstr(px_firmware_to_string(PX_FIRMWARE_EFI64), ==, "efi64");
        g_assert_null(px_firmware_to_string(_PX_FIRMWARE_MAX));
        g_assert_null(px_firmware_to_string(_PX_FIRMWARE_INVALID));
}

/* Replies */

typedef struct Exchange {
        Dhcp4Packet request;
        PxeClient client;
        uint8_t buf[DHCP4_MAX_PACKET];
        Dhcp4Packet reply;
        int len;
} Exchange;

static Exchange *exchange_new(const char *fixture) {
        g_autoptr(GByteArray) bytes = fixture_load_hex(fixture);
        Exchange *e = g_new0(Exchange, 1);

        g_assert_cmpint(dhcp4_packet_parse(bytes->data, bytes->len, &e->request), ==, 0);
        g_assert_cmpint(pxe_client_parse(&e->request, &e->client), ==, 0);
        memset(e->buf, 0xee, sizeof(e->buf));
        return e;
}

static void exchange_build(Exchange *e, const PxeReplyParams *params) {
        e->len = pxe_build_reply(&e->request, &e->client, params, e->buf, sizeof(e->buf));
        g_assert_cmpint(e->len, >=, DHCP4_MIN_REPLY_LEN);
        g_assert_cmpint(dhcp4_packet_parse(e->buf, (size_t) e->len, &e->reply), ==, 0);
}

static struct in_addr server_ip(void) {
        return (struct in_addr){.s_addr = htonl(0xc0a81001)}; /* 192.168.16.1 */
}

/* Checks that the options area lists exactly `codes` in order, then END, then zeros. */
static void assert_option_order(const Exchange *e, const uint8_t *codes, size_t n) {
        size_t pos = OFF_OPTIONS;

        for (size_t i = 0; i < n; i++) {
                g_assert_cmpuint(pos + 1, <, (size_t) e->len);
                g_assert_cmpuint(e->buf[pos], ==, codes[i]);
                pos += 2 + e->buf[pos + 1];
        }
        g_assert_cmpuint(e->buf[pos], ==, DHCP4_OPT_END);
        for (pos++; pos < (size_t) e->len; pos++)
                g_assert_cmpuint(e->buf[pos], ==, 0);
}

static void test_reply_bios_offer_golden(void) {
        g_autofree Exchange *e = exchange_new("bios-discover.hex");
        PxeReplyParams params = {
                .kind = PXE_REPLY_PROXY_OFFER,
                .server_ip = server_ip(),
                .boot_file = "d0:50:99:4e:05:57/0",
                .sname_is_server_ip = true,
                .discovery_control = true,
        };
        /* clang-format off */
        static const uint8_t header[] = {
                0x02, 0x01, 0x06, 0x00, /* op, htype, hlen, hops */
                0x9b, 0x4e, 0x05, 0x57, /* xid */
                0x00, 0x00, 0x80, 0x00, /* secs, flags: broadcast */
                0, 0, 0, 0,             /* ciaddr */
                0, 0, 0, 0,             /* yiaddr */
                0xc0, 0xa8, 0x10, 0x01, /* siaddr */
                0, 0, 0, 0,             /* giaddr */
                0xd0, 0x50, 0x99, 0x4e, 0x05, 0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        };
        static const uint8_t options[] = {
                0x63, 0x82, 0x53, 0x63,                                      /* magic */
                0x35, 0x01, 0x02,                                            /* 53: OFFER */
                0x36, 0x04, 0xc0, 0xa8, 0x10, 0x01,                          /* 54: server */
                0x3c, 0x09, 'P', 'X', 'E', 'C', 'l', 'i', 'e', 'n', 't',     /* 60 */
                0x61, 0x11, 0x00, 0x00, 0x02, 0x00, 0x03, 0x00, 0x04, 0x00,
                0x05, 0x00, 0x06, 0x00, 0x07, 0x00, 0x08, 0x00, 0x09,        /* 97: echoed */
                0x2b, 0x04, 0x06, 0x01, 0x08, 0xff,                          /* 43: discovery control 8 */
                0xff,                                                        /* END */
        };
        /* clang-format on */
        uint8_t sname[64] = "192.168.16.1", file[128] = "d0:50:99:4e:05:57/0";

        exchange_build(e, &params);
        g_assert_cmpint(e->len, ==, DHCP4_MIN_REPLY_LEN);
        g_assert_cmpmem(e->buf, sizeof(header), header, sizeof(header));
        g_assert_cmpmem(e->buf + OFF_SNAME, 64, sname, 64);
        g_assert_cmpmem(e->buf + OFF_FILE, 128, file, 128);
        g_assert_cmpmem(e->buf + 236, sizeof(options), options, sizeof(options));
        g_assert_cmpuint(236 + sizeof(options), ==, 286);
        for (size_t i = 286; i < DHCP4_MIN_REPLY_LEN; i++)
                g_assert_cmpuint(e->buf[i], ==, 0);
        g_assert_cmpuint(e->buf[DHCP4_MIN_REPLY_LEN], ==, 0xee); /* not written past the reply */

        assert_option_order(e, (const uint8_t[]){53, 54, 60, 97, 43}, 5);
}

static void test_reply_round_trip(void) {
        g_autofree Exchange *e = exchange_new("bios-discover.hex");
        PxeReplyParams params = {
                .kind = PXE_REPLY_PROXY_OFFER,
                .server_ip = server_ip(),
                .boot_file = "d0:50:99:4e:05:57/0",
                .sname_is_server_ip = true,
                .discovery_control = true,
        };
        size_t len;

        exchange_build(e, &params);
        g_assert_cmpuint(e->reply.op, ==, DHCP4_OP_REPLY);
        g_assert_cmpuint(e->reply.htype, ==, e->request.htype);
        g_assert_cmpuint(e->reply.hlen, ==, 6);
        g_assert_cmpuint(e->reply.xid, ==, e->request.xid);
        g_assert_cmpuint(e->reply.flags, ==, 0x8000);
        g_assert_cmpmem(e->reply.chaddr, 16, e->request.chaddr, 16);
        g_assert_cmpuint(e->reply.yiaddr.s_addr, ==, 0);
        g_assert_cmpuint(e->reply.siaddr.s_addr, ==, server_ip().s_addr);
        g_assert_cmpstr(e->reply.sname, ==, "192.168.16.1");
        g_assert_cmpstr(e->reply.file, ==, "d0:50:99:4e:05:57/0");
        g_assert_cmpint(e->reply.message_type, ==, DHCP4_OFFER);
        g_assert_cmpmem(dhcp4_packet_get_option(&e->reply, DHCP4_OPT_SERVER_ID, &len), len, &params.server_ip, 4);
        g_assert_cmpmem(dhcp4_packet_get_option(&e->reply, DHCP4_OPT_VENDOR_CLASS, &len), len, "PXEClient", 9);
        g_assert_cmpmem(dhcp4_packet_get_option(&e->reply, DHCP4_OPT_CLIENT_GUID, &len), len, bios_guid, 17);
        g_assert_cmpmem(dhcp4_packet_get_option(&e->reply, DHCP4_OPT_VENDOR_SPECIFIC, &len), len, "\x06\x01\x08\xff",
                        4);
        g_assert_false(dhcp4_packet_has_option(&e->reply, DHCP4_OPT_PXELINUX_PATH_PREFIX));
        g_assert_false(dhcp4_packet_has_option(&e->reply, DHCP4_OPT_CLIENT_ARCH));
}

static void test_reply_efi_offer(void) {
        g_autofree Exchange *e = exchange_new("ovmf-discover.hex");
        PxeReplyParams params = {
                .kind = PXE_REPLY_PROXY_OFFER,
                .server_ip = server_ip(),
                .boot_file = "52:54:00:12:34:56/2",
                .sname_is_server_ip = true,
                .discovery_control = false,
        };

        exchange_build(e, &params);
        g_assert_cmpint(e->len, ==, DHCP4_MIN_REPLY_LEN);
        assert_option_order(e, (const uint8_t[]){53, 54, 60, 97}, 4);
        g_assert_false(dhcp4_packet_has_option(&e->reply, DHCP4_OPT_VENDOR_SPECIFIC));
        g_assert_cmpuint(e->reply.flags, ==, 0x8000);
        g_assert_cmpint(e->reply.message_type, ==, DHCP4_OFFER);
        g_assert_cmpstr(e->reply.file, ==, "52:54:00:12:34:56/2");
        g_assert_cmpmem(e->buf + OFF_SIADDR, 4, "\xc0\xa8\x10\x01", 4);
}

static void test_reply_offer_without_guid_and_names(void) {
        g_autofree Exchange *e = exchange_new("bios-discover.hex");
        PxeReplyParams params = {
                .kind = PXE_REPLY_PROXY_OFFER,
                .server_ip = server_ip(),
                .boot_file = NULL,
                .sname_is_server_ip = false,
                .discovery_control = true,
        };

        e->client.has_guid = false;
        exchange_build(e, &params);
        assert_option_order(e, (const uint8_t[]){53, 54, 60, 43}, 4);
        g_assert_cmpstr(e->reply.sname, ==, "");
        g_assert_cmpstr(e->reply.file, ==, "");
        for (size_t i = OFF_SNAME; i < 236; i++)
                g_assert_cmpuint(e->buf[i], ==, 0);
}

static void test_reply_boot_ack(void) {
        g_autofree Exchange *e = exchange_new("bios-request-4011.hex");
        PxeReplyParams params = {
                .kind = PXE_REPLY_BOOT_ACK,
                .server_ip = server_ip(),
                .boot_file = "lpxelinux.0",
                .sname_is_server_ip = true,
        };
        size_t len;

        exchange_build(e, &params);
        g_assert_cmpint(e->len, ==, DHCP4_MIN_REPLY_LEN);
        g_assert_cmpuint(e->buf[0], ==, DHCP4_OP_REPLY);
        g_assert_cmpmem(e->buf + OFF_FLAGS, 2, "\x00\x00", 2);          /* request's flags kept */
        g_assert_cmpmem(e->buf + OFF_CIADDR, 4, "\xc0\xa8\x10\x0c", 4); /* ciaddr copied */
        g_assert_cmpmem(e->buf + OFF_YIADDR, 4, "\x00\x00\x00\x00", 4);
        g_assert_cmpmem(e->buf + OFF_SIADDR, 4, "\xc0\xa8\x10\x01", 4);
        g_assert_cmpmem(e->buf + OFF_CHADDR, 6, "\xd0\x50\x99\x4e\x05\x57", 6);
        g_assert_cmpint(e->reply.message_type, ==, DHCP4_ACK);
        assert_option_order(e, (const uint8_t[]){53, 54, 60, 97, 43}, 5);
        g_assert_cmpmem(e->buf + 240, 3, "\x35\x01\x05", 3);
        g_assert_cmpmem(dhcp4_packet_get_option(&e->reply, DHCP4_OPT_VENDOR_SPECIFIC, &len), len,
                        "\x47\x04\x80\x00\x00\x00\xff", 7);
        g_assert_cmpstr(e->reply.file, ==, "lpxelinux.0");
        g_assert_cmpstr(e->reply.sname, ==, "192.168.16.1");

        /* with discovery control, it comes first */
        params.discovery_control = true;
        exchange_build(e, &params);
        g_assert_cmpmem(dhcp4_packet_get_option(&e->reply, DHCP4_OPT_VENDOR_SPECIFIC, &len), len,
                        "\x06\x01\x08\x47\x04\x80\x00\x00\x00\xff", 10);

        /* the request's broadcast flag is kept too */
        e->request.flags = 0x8000;
        exchange_build(e, &params);
        g_assert_cmpuint(e->reply.flags, ==, 0x8000);
}

static void test_reply_boot_ack_pxelinux(void) {
        g_autofree Exchange *e = exchange_new("bios-request-4011.hex");
        PxeReplyParams params = {
                .kind = PXE_REPLY_BOOT_ACK,
                .server_ip = server_ip(),
                .boot_file = "lpxelinux.0",
                .pxelinux_prefix = "http://192.168.16.1:80/",
                .pxelinux_reboot_s = 5,
        };
        size_t len;

        exchange_build(e, &params);
        assert_option_order(e, (const uint8_t[]){53, 54, 60, 97, 43, 210, 211}, 7);
        g_assert_cmpmem(dhcp4_packet_get_option(&e->reply, DHCP4_OPT_PXELINUX_PATH_PREFIX, &len), len,
                        "http://192.168.16.1:80/", 23);
        g_assert_cmpmem(dhcp4_packet_get_option(&e->reply, DHCP4_OPT_PXELINUX_REBOOT_TIME, &len), len,
                        "\x00\x00\x00\x05", 4);
        g_assert_cmpstr(e->reply.sname, ==, ""); /* sname_is_server_ip false */
}

static void test_reply_boot_ack_without_boot_item(void) {
        g_autofree Exchange *e = exchange_new("ovmf-request-4011.hex");
        PxeReplyParams params = {
                .kind = PXE_REPLY_BOOT_ACK,
                .server_ip = server_ip(),
                .boot_file = "52:54:00:12:34:56/2",
                .sname_is_server_ip = true,
                .discovery_control = true,
        };

        g_assert_false(e->client.has_boot_item);
        exchange_build(e, &params);
        assert_option_order(e, (const uint8_t[]){53, 54, 60, 97}, 4);
        g_assert_cmpint(e->reply.message_type, ==, DHCP4_ACK);

        /* a boot item is never echoed in an offer */
        e->client.has_boot_item = true;
        memcpy(e->client.boot_item, "\x80\x00\x00\x00", 4);
        params.kind = PXE_REPLY_PROXY_OFFER;
        exchange_build(e, &params);
        g_assert_cmpmem(e->buf + 279, 6, "\x2b\x04\x06\x01\x08\xff", 6);
}

static void test_reply_relayed(void) {
        g_autofree Exchange *e = exchange_new("bios-discover.hex");
        PxeReplyParams params = {.kind = PXE_REPLY_PROXY_OFFER, .server_ip = server_ip()};

        e->request.giaddr.s_addr = htonl(0xc0a82801);
        exchange_build(e, &params);
        g_assert_cmpmem(e->buf + OFF_GIADDR, 4, "\xc0\xa8\x28\x01", 4);
        g_assert_cmpuint(e->reply.giaddr.s_addr, ==, e->request.giaddr.s_addr);
}

static void test_reply_errors(void) {
        g_autofree Exchange *e = exchange_new("bios-discover.hex");
        char long_name[200];
        PxeReplyParams params = {.kind = PXE_REPLY_PROXY_OFFER, .server_ip = server_ip(), .boot_file = long_name};
        uint8_t small[DHCP4_MIN_REPLY_LEN - 1];

        memset(long_name, 'x', sizeof(long_name));
        long_name[127] = '\0';
        g_assert_cmpint(pxe_build_reply(&e->request, &e->client, &params, e->buf, sizeof(e->buf)), ==,
                        DHCP4_MIN_REPLY_LEN);
        long_name[127] = 'x';
        long_name[128] = '\0';
        g_assert_cmpint(pxe_build_reply(&e->request, &e->client, &params, e->buf, sizeof(e->buf)), ==, -ENAMETOOLONG);
        long_name[128] = 'x';
        long_name[199] = '\0';
        g_assert_cmpint(pxe_build_reply(&e->request, &e->client, &params, e->buf, sizeof(e->buf)), ==, -ENAMETOOLONG);

        params.boot_file = "";
        g_assert_cmpint(pxe_build_reply(&e->request, &e->client, &params, small, sizeof(small)), ==, -ENOBUFS);
        g_assert_cmpint(pxe_build_reply(&e->request, &e->client, &params, e->buf, DHCP4_MIN_REPLY_LEN), ==,
                        DHCP4_MIN_REPLY_LEN);

        /* a path prefix too big for the packet */
        {
                g_autofree char *prefix = g_strnfill(1400, 'p');

                params.pxelinux_prefix = prefix;
                g_assert_cmpint(pxe_build_reply(&e->request, &e->client, &params, e->buf, sizeof(e->buf)), ==,
                                -ENOBUFS);
                prefix[600] = '\0'; /* fits: split in 3 instances, parsed back whole */
                exchange_build(e, &params);
                g_assert_cmpuint(e->reply.opt_length[DHCP4_OPT_PXELINUX_PATH_PREFIX], ==, 600);
                params.pxelinux_prefix = NULL;
        }

        params.kind = (PxeReplyKind) 7;
        g_assert_cmpint(pxe_build_reply(&e->request, &e->client, &params, e->buf, sizeof(e->buf)), ==, -EINVAL);
        params.kind = PXE_REPLY_BOOT_ACK;
        g_assert_cmpint(pxe_build_reply(NULL, &e->client, &params, e->buf, sizeof(e->buf)), ==, -EINVAL);
        g_assert_cmpint(pxe_build_reply(&e->request, NULL, &params, e->buf, sizeof(e->buf)), ==, -EINVAL);
        g_assert_cmpint(pxe_build_reply(&e->request, &e->client, NULL, e->buf, sizeof(e->buf)), ==, -EINVAL);
        g_assert_cmpint(pxe_build_reply(&e->request, &e->client, &params, NULL, sizeof(e->buf)), ==, -EINVAL);
}

/* Lab captures (tests/data/captures/NAME.pcap): every client packet to port 67 or 4011 must parse,
 * every PXE one must classify, and a reply must be buildable and parse back. */

#define PCAP_LINKTYPE_ETHERNET  1
#define PCAP_LINKTYPE_LINUX_SLL 113

typedef struct CaptureStats {
        unsigned dhcp, discovers, pxe, ipxe, unsupported;
        unsigned native_discovers, ipxe_discovers; /* PXE DISCOVERs by firmware ROM vs iPXE */
        unsigned ipxe_http_capable, ipxe_http_incapable;
        unsigned boot_items;     /* requests carrying option 43 sub-option 71 */
        uint32_t firmwares_seen; /* 1 << PxFirmware */
} CaptureStats;

/* What the lab's clients are known to send (tests/lab, docs/netboot-lab.md "Which client is which").
 * Captures with other names only get the generic checks. */
static const struct {
        const char *name_part;
        PxFirmware firmware;
        unsigned min_native_discovers;
        unsigned min_ipxe_discovers;
        unsigned min_boot_items;
} capture_expectations[] = {
        /* SeaBIOS + QEMU NIC ROM: the ROM is iPXE; it follows the PXE menu to 4011 with item 0x8000 */
        {"bios-ipxe-rom", PX_FIRMWARE_BIOS, 0, 1, 1},
        /* OVMF + QEMU EFI NIC ROM: iPXE too */
        {"uefi-ipxe-rom", PX_FIRMWARE_EFI64, 0, 1, 0},
        /* OVMF's own PxeBcDxe (arch 7, no 77/175), then the ipxe.efi it was given */
        {"uefi-native-edk2", PX_FIRMWARE_EFI64, 1, 1, 0},
};

static uint32_t pcap_u32(const uint8_t *p, bool swapped) {
        uint32_t v;

        memcpy(&v, p, 4);
        return swapped ? GUINT32_SWAP_LE_BE(v) : v;
}

/* Returns the UDP payload of an IPv4/UDP frame to port 67 or 4011, or NULL. */
static const uint8_t *frame_dhcp_payload(const uint8_t *frame, size_t len, uint32_t linktype, size_t *ret_len) {
        size_t off, ihl;
        uint16_t ethertype, dport, udp_len;

        if (linktype == PCAP_LINKTYPE_ETHERNET) {
                if (len < 14)
                        return NULL;
                ethertype = (uint16_t) (frame[12] << 8 | frame[13]);
                off = 14;
                if (ethertype == 0x8100 && len >= 18) { /* 802.1Q */
                        ethertype = (uint16_t) (frame[16] << 8 | frame[17]);
                        off = 18;
                }
        } else if (linktype == PCAP_LINKTYPE_LINUX_SLL) {
                if (len < 16)
                        return NULL;
                ethertype = (uint16_t) (frame[14] << 8 | frame[15]);
                off = 16;
        } else
                return NULL;

        if (ethertype != 0x0800 || len < off + 20 || (frame[off] >> 4) != 4 || frame[off + 9] != 17)
                return NULL;
        ihl = (size_t) (frame[off] & 0x0f) * 4;
        if (ihl < 20 || len < off + ihl + 8)
                return NULL;
        off += ihl;
        dport = (uint16_t) (frame[off + 2] << 8 | frame[off + 3]);
        udp_len = (uint16_t) (frame[off + 4] << 8 | frame[off + 5]);
        if (dport != 67 && dport != 4011)
                return NULL;
        if (udp_len < 8 || off + udp_len > len)
                return NULL;
        *ret_len = udp_len - 8u;
        return frame + off + 8;
}

static void capture_check_packet(const uint8_t *payload, size_t len, CaptureStats *stats) {
        g_autofree Exchange *e = g_new0(Exchange, 1);
        PxeReplyParams params = {.server_ip = server_ip(), .boot_file = "x", .sname_is_server_ip = true};
        const uint8_t *opt;
        size_t opt_len;
        int r;

        g_assert_cmpint(dhcp4_packet_parse(payload, len, &e->request), ==, 0);
        if (e->request.op != DHCP4_OP_REQUEST)
                return;
        stats->dhcp++;
        if (e->request.message_type == DHCP4_DISCOVER)
                stats->discovers++;

        r = pxe_client_parse(&e->request, &e->client);
        if (r == -ENOMSG) {
                g_assert_false(dhcp4_packet_has_option(&e->request, DHCP4_OPT_CLIENT_ARCH));
                return;
        }
        if (r == -EPROTONOSUPPORT) {
                stats->unsupported++;
                return;
        }
        g_assert_cmpint(r, ==, 0);
        stats->pxe++;
        stats->firmwares_seen |= 1u << e->client.firmware;
        if (e->client.is_ipxe) {
                stats->ipxe++;
                if (pxe_client_ipxe_can_boot_http(&e->client))
                        stats->ipxe_http_capable++;
                else
                        stats->ipxe_http_incapable++;
        }
        if (e->request.message_type == DHCP4_DISCOVER) {
                if (e->client.is_ipxe)
                        stats->ipxe_discovers++;
                else
                        stats->native_discovers++;
        }
        if (e->client.has_boot_item)
                stats->boot_items++;
        g_assert_cmpmem(e->client.mac, 6, e->request.chaddr, 6);
        g_assert_true(e->client.has_vendor_class);

        /* option 60's own arch, where present, agrees with option 93 */
        opt = dhcp4_packet_get_option(&e->request, DHCP4_OPT_VENDOR_CLASS, &opt_len);
        if (opt && opt_len >= 20 && memcmp(opt, "PXEClient:Arch:", 15) == 0) {
                char digits[6] = {};

                memcpy(digits, opt + 15, 5);
                g_assert_cmpuint(g_ascii_strtoull(digits, NULL, 10), ==, e->client.arch);
        }
        /* iPXE always tells its features */
        if (g_strcmp0(e->client.user_class, "iPXE") == 0)
                g_assert_true(dhcp4_packet_has_option(&e->request, DHCP4_OPT_IPXE_ENCAP));

        params.kind = e->request.message_type == DHCP4_DISCOVER ? PXE_REPLY_PROXY_OFFER : PXE_REPLY_BOOT_ACK;
        exchange_build(e, &params);
        g_assert_cmpuint(e->reply.xid, ==, e->request.xid);
        g_assert_cmpint(dhcp4_packet_has_option(&e->reply, DHCP4_OPT_CLIENT_GUID), ==, e->client.has_guid);
}

static void capture_check_file(const char *path, CaptureStats *stats) {
        g_autofree uint8_t *data = NULL;
        size_t len, off = 24;
        uint32_t magic, linktype;
        bool swapped;

        g_assert_true(g_file_get_contents(path, (char **) &data, &len, NULL));
        g_assert_cmpuint(len, >=, 24);
        memcpy(&magic, data, 4);
        swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
        g_assert_true(swapped || magic == 0xa1b2c3d4 || magic == 0xa1b23c4d); /* pcap, not pcapng */
        linktype = pcap_u32(data + 20, swapped) & 0x0fffffff;

        while (off + 16 <= len) {
                uint32_t caplen = pcap_u32(data + off + 8, swapped);
                const uint8_t *payload;
                size_t payload_len;

                off += 16;
                g_assert_cmpuint(caplen, <=, len - off);
                payload = frame_dhcp_payload(data + off, caplen, linktype, &payload_len);
                if (payload)
                        capture_check_packet(payload, payload_len, stats);
                off += caplen;
        }
}

static void test_captures(void) {
        g_autofree char *dir_path = g_test_build_filename(G_TEST_DIST, "data", "captures", NULL);
        g_autoptr(GDir) dir = g_dir_open(dir_path, 0, NULL);
        CaptureStats total = {};
        const char *name;
        unsigned files = 0;

        while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *path = g_build_filename(dir_path, name, NULL);
                CaptureStats stats = {};

                if (!g_str_has_suffix(name, ".pcap"))
                        continue;
                capture_check_file(path, &stats);
                g_test_message("%s: %u client DHCP packets, %u DISCOVERs, %u PXE (%u iPXE), %u unsupported arch", name,
                               stats.dhcp, stats.discovers, stats.pxe, stats.ipxe, stats.unsupported);
                for (size_t i = 0; i < G_N_ELEMENTS(capture_expectations); i++) {
                        if (!strstr(name, capture_expectations[i].name_part))
                                continue;
                        g_assert_cmphex(stats.firmwares_seen, ==, 1u << capture_expectations[i].firmware);
                        g_assert_cmpuint(stats.native_discovers, >=, capture_expectations[i].min_native_discovers);
                        g_assert_cmpuint(stats.ipxe_discovers, >=, capture_expectations[i].min_ipxe_discovers);
                        g_assert_cmpuint(stats.boot_items, >=, capture_expectations[i].min_boot_items);
                        /* every iPXE build the lab uses fetches and boots kernels over HTTP */
                        g_assert_cmpuint(stats.ipxe_http_capable, ==, stats.ipxe);
                        g_assert_cmpuint(stats.ipxe_http_incapable, ==, 0);
                        g_assert_cmpuint(stats.unsupported, ==, 0);
                }
                total.dhcp += stats.dhcp;
                total.pxe += stats.pxe;
                files++;
        }
        if (files == 0) {
                g_test_skip("no captures in tests/data/captures");
                return;
        }
        g_assert_cmpuint(total.dhcp, >, 0);
        g_assert_cmpuint(total.pxe, >, 0);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/pxe/classify/bios-discover", test_classify_bios_discover);
        g_test_add_func("/pxe/classify/ovmf-discover", test_classify_ovmf_discover);
        g_test_add_func("/pxe/classify/arch-table", test_classify_arch_table);
        g_test_add_func("/pxe/classify/arch-from-vendor-class", test_classify_arch_from_vendor_class);
        g_test_add_func("/pxe/classify/option-93-wins", test_classify_option_93_wins);
        g_test_add_func("/pxe/classify/bad-option-93", test_classify_bad_option_93);
        g_test_add_func("/pxe/classify/not-pxe", test_classify_not_pxe);
        g_test_add_func("/pxe/classify/hlen", test_classify_hlen);
        g_test_add_func("/pxe/classify/guid", test_classify_guid);
        g_test_add_func("/pxe/classify/ipxe-bios", test_classify_ipxe_bios);
        g_test_add_func("/pxe/classify/ipxe-efi", test_classify_ipxe_efi);
        g_test_add_func("/pxe/classify/ipxe-features", test_classify_ipxe_features);
        g_test_add_func("/pxe/classify/user-class", test_classify_user_class);
        g_test_add_func("/pxe/classify/user-class-long", test_classify_user_class_long);
        g_test_add_func("/pxe/classify/boot-item", test_classify_boot_item);
        g_test_add_func("/pxe/firmware-to-string", test_firmware_to_string);
        g_test_add_func("/pxe/reply/bios-offer-golden", test_reply_bios_offer_golden);
        g_test_add_func("/pxe/reply/round-trip", test_reply_round_trip);
        g_test_add_func("/pxe/reply/efi-offer", test_reply_efi_offer);
        g_test_add_func("/pxe/reply/offer-without-guid-and-names", test_reply_offer_without_guid_and_names);
        g_test_add_func("/pxe/reply/boot-ack", test_reply_boot_ack);
        g_test_add_func("/pxe/reply/boot-ack-pxelinux", test_reply_boot_ack_pxelinux);
        g_test_add_func("/pxe/reply/boot-ack-without-boot-item", test_reply_boot_ack_without_boot_item);
        g_test_add_func("/pxe/reply/relayed", test_reply_relayed);
        g_test_add_func("/pxe/reply/errors", test_reply_errors);
        g_test_add_func("/pxe/captures", test_captures);

        return g_test_run();
}
