/* SPDX-License-Identifier: Apache-2.0 */
/* PXE client recognition and ProxyDHCP / boot server replies. See pxe.h for the contract. */

#include <arpa/inet.h>
#include <string.h>

#include "pxe.h"
#include "px-macro.h"

#define PXE_VENDOR_CLASS             "PXEClient"
#define PXE_VENDOR_CLASS_ARCH_PREFIX "PXEClient:Arch:"
#define PXE_GUID_LEN                 17
#define IPXE_USER_CLASS              "iPXE"
#define ETHER_ADDR_LEN               6

/* PXE 2.1 vendor options, carried inside option 43. */
enum {
        PXE_SUBOPT_DISCOVERY_CONTROL = 6,
        PXE_SUBOPT_BOOT_ITEM = 71,
};

/* PXE_DISCOVERY_CONTROL bit 3: a boot file name is present, download it without discovery. */
#define PXE_DISCOVERY_CONTROL_USE_BOOT_FILE 0x08

/* RFC 4578 section 2.1 processor architecture types that we boot. */
enum {
        PXE_ARCH_X86_BIOS = 0,
        PXE_ARCH_EFI_IA32 = 6,
        PXE_ARCH_EFI_BC = 7,
        PXE_ARCH_EFI_X86_64 = 9,
};

static const char *const px_firmware_table[_PX_FIRMWARE_MAX] = {
        [PX_FIRMWARE_BIOS] = "bios",
        [PX_FIRMWARE_EFI32] = "efi32",
        [PX_FIRMWARE_EFI64] = "efi64",
};

const char *px_firmware_to_string(PxFirmware f) {
        if (f < 0 || f >= _PX_FIRMWARE_MAX)
                return NULL;
        return px_firmware_table[f];
}

PxFirmware px_firmware_from_arch(uint16_t arch) {
        switch (arch) {
        case PXE_ARCH_X86_BIOS:
                return PX_FIRMWARE_BIOS;
        case PXE_ARCH_EFI_IA32:
                return PX_FIRMWARE_EFI32;
        case PXE_ARCH_EFI_BC:
        case PXE_ARCH_EFI_X86_64:
                return PX_FIRMWARE_EFI64;
        default:
                return _PX_FIRMWARE_INVALID;
        }
}

/* Iterates over encapsulated sub-options (code, length, payload), as found in options 43 and 175.
 * PAD is skipped; END or a truncated sub-option ends the walk (lenient: what came before counts). */
typedef struct SubOptionIter {
        const uint8_t *data;
        size_t size;
        size_t pos;
} SubOptionIter;

static bool sub_option_next(SubOptionIter *it, uint8_t *ret_code, const uint8_t **ret_data, size_t *ret_len) {
        while (it->pos < it->size) {
                uint8_t code = it->data[it->pos];
                uint8_t length;

                if (code == DHCP4_OPT_PAD) {
                        it->pos++;
                        continue;
                }
                if (code == DHCP4_OPT_END || it->size - it->pos < 2)
                        break;
                length = it->data[it->pos + 1];
                if (it->size - it->pos - 2 < length)
                        break;

                *ret_code = code;
                *ret_data = it->data + it->pos + 2;
                *ret_len = length;
                it->pos += 2 + (size_t) length;
                return true;
        }

        it->pos = it->size;
        return false;
}

/* "PXEClient:Arch:00007:UNDI:003000" -> 7. Returns false when the string carries no usable arch. */
static bool vendor_class_get_arch(const uint8_t *vc, size_t len, uint16_t *ret_arch) {
        const size_t prefix_len = strlen(PXE_VENDOR_CLASS_ARCH_PREFIX);
        uint32_t value = 0;
        size_t digits = 0;

        if (len < prefix_len || memcmp(vc, PXE_VENDOR_CLASS_ARCH_PREFIX, prefix_len) != 0)
                return false;

        for (size_t i = prefix_len; i < len; i++) {
                if (vc[i] == ':' || vc[i] == '\0')
                        break;
                if (vc[i] < '0' || vc[i] > '9' || ++digits > 5)
                        return false;
                value = value * 10 + (uint32_t) (vc[i] - '0');
        }
        if (digits == 0 || value > UINT16_MAX)
                return false;

        *ret_arch = (uint16_t) value;
        return true;
}

/* RFC 3004: the option is a list of (length, data) items, each item non-empty. */
static bool user_class_is_rfc3004(const uint8_t *uc, size_t len) {
        size_t pos = 0;

        if (len == 0)
                return false;
        while (pos < len) {
                size_t item_len = uc[pos];

                if (item_len == 0 || len - pos - 1 < item_len)
                        return false;
                pos += 1 + item_len;
        }
        return true;
}

static bool user_class_says_ipxe(const uint8_t *uc, size_t len) {
        const size_t ipxe_len = strlen(IPXE_USER_CLASS);
        size_t pos = 0;

        /* iPXE itself sends the bare string. */
        if (len == ipxe_len && memcmp(uc, IPXE_USER_CLASS, ipxe_len) == 0)
                return true;

        /* RFC 3004 framing: any item equal to "iPXE". Walk only as far as the framing holds. */
        while (pos < len) {
                size_t item_len = uc[pos];

                if (len - pos - 1 < item_len)
                        break;
                if (item_len == ipxe_len && memcmp(uc + pos + 1, IPXE_USER_CLASS, ipxe_len) == 0)
                        return true;
                pos += 1 + item_len;
        }
        return false;
}

static size_t render_printable(char *dst, size_t dst_size, size_t at, const uint8_t *src, size_t len) {
        for (size_t i = 0; i < len && at + 1 < dst_size; i++)
                dst[at++] = src[i] >= 0x20 && src[i] < 0x7f ? (char) src[i] : '?';
        dst[at] = '\0';
        return at;
}

/* For logs: well-formed RFC 3004 items are shown joined by ',', anything else as raw text. */
static void user_class_render(const uint8_t *uc, size_t len, char *dst, size_t dst_size) {
        size_t at = 0;

        dst[0] = '\0';
        if (!user_class_is_rfc3004(uc, len)) {
                (void) render_printable(dst, dst_size, 0, uc, len);
                return;
        }

        for (size_t pos = 0; pos < len; pos += 1 + (size_t) uc[pos]) {
                if (pos > 0 && at + 1 < dst_size) {
                        dst[at++] = ',';
                        dst[at] = '\0';
                }
                at = render_printable(dst, dst_size, at, uc + pos + 1, uc[pos]);
        }
}

static uint32_t ipxe_feature_from_code(uint8_t code) {
        switch (code) {
        case 16:
                return IPXE_FEATURE_PXE_EXT;
        case 19:
                return IPXE_FEATURE_HTTP;
        case 20:
                return IPXE_FEATURE_HTTPS;
        case 21:
                return IPXE_FEATURE_TFTP;
        case 23:
                return IPXE_FEATURE_DNS;
        case 24:
                return IPXE_FEATURE_BZIMAGE;
        case 25:
                return IPXE_FEATURE_MULTIBOOT;
        case 33:
                return IPXE_FEATURE_PXE;
        case 34:
                return IPXE_FEATURE_ELF;
        case 35:
                return IPXE_FEATURE_COMBOOT;
        case 36:
                return IPXE_FEATURE_EFI;
        case 39:
                return IPXE_FEATURE_MENU;
        default:
                return 0;
        }
}

static uint32_t ipxe_features_parse(const uint8_t *encap, size_t len) {
        SubOptionIter it = {.data = encap, .size = len};
        uint32_t features = 0;
        const uint8_t *data;
        size_t data_len;
        uint8_t code;

        /* A feature sub-option's presence is the claim; its payload is a feature version. */
        while (sub_option_next(&it, &code, &data, &data_len))
                features |= ipxe_feature_from_code(code);
        return features;
}

static bool vendor_options_get_boot_item(const uint8_t *vendor, size_t len, uint8_t ret_item[4]) {
        SubOptionIter it = {.data = vendor, .size = len};
        const uint8_t *data;
        size_t data_len;
        uint8_t code;

        while (sub_option_next(&it, &code, &data, &data_len))
                if (code == PXE_SUBOPT_BOOT_ITEM && data_len == 4) {
                        memcpy(ret_item, data, 4);
                        return true;
                }
        return false;
}

int pxe_client_parse(const Dhcp4Packet *p, PxeClient *ret) {
        PxeClient c = {};
        const uint8_t *opt;
        bool has_arch = false;
        size_t len;

        if (!p || !ret)
                return -EINVAL;

        opt = dhcp4_packet_get_option(p, DHCP4_OPT_CLIENT_ARCH, &len);
        if (opt) {
                /* RFC 4578 allows a list of types; the first one is the client's own. */
                if (len == 0 || len % 2 != 0)
                        return -EBADMSG;
                c.arch = px_read_be16(opt);
                has_arch = true;
        }

        opt = dhcp4_packet_get_option(p, DHCP4_OPT_VENDOR_CLASS, &len);
        if (opt && len >= strlen(PXE_VENDOR_CLASS) && memcmp(opt, PXE_VENDOR_CLASS, strlen(PXE_VENDOR_CLASS)) == 0) {
                c.has_vendor_class = true;
                if (!has_arch)
                        has_arch = vendor_class_get_arch(opt, len, &c.arch);
        }

        if (!has_arch && !c.has_vendor_class)
                return -ENOMSG;
        /* A PXE client is identified by its MAC; anything but Ethernet's 6 bytes is not one we boot. */
        if (p->hlen != ETHER_ADDR_LEN)
                return -EBADMSG;
        memcpy(c.mac, p->chaddr, ETHER_ADDR_LEN);
        /* Without any arch (option 60 "PXEClient" alone), c.arch stays 0: x86 BIOS. */

        opt = dhcp4_packet_get_option(p, DHCP4_OPT_CLIENT_GUID, &len);
        if (opt && len == PXE_GUID_LEN && opt[0] == 0) {
                c.has_guid = true;
                memcpy(c.guid, opt, PXE_GUID_LEN);
        }

        opt = dhcp4_packet_get_option(p, DHCP4_OPT_USER_CLASS, &len);
        if (opt) {
                user_class_render(opt, len, c.user_class, sizeof(c.user_class));
                c.is_ipxe = user_class_says_ipxe(opt, len);
        }

        opt = dhcp4_packet_get_option(p, DHCP4_OPT_IPXE_ENCAP, &len);
        if (opt) {
                c.is_ipxe = true;
                c.ipxe_features = ipxe_features_parse(opt, len);
        }

        opt = dhcp4_packet_get_option(p, DHCP4_OPT_VENDOR_SPECIFIC, &len);
        if (opt)
                c.has_boot_item = vendor_options_get_boot_item(opt, len, c.boot_item);

        c.firmware = px_firmware_from_arch(c.arch);
        *ret = c;
        if (c.firmware < 0)
                return -EPROTONOSUPPORT;
        return 0;
}

bool pxe_client_ipxe_can_boot_http(const PxeClient *c) {
        uint32_t kernel_format;

        if (!c || !c->is_ipxe || !(c->ipxe_features & IPXE_FEATURE_HTTP))
                return false;

        switch (c->firmware) {
        case PX_FIRMWARE_BIOS:
                kernel_format = IPXE_FEATURE_BZIMAGE;
                break;
        case PX_FIRMWARE_EFI32:
        case PX_FIRMWARE_EFI64:
                kernel_format = IPXE_FEATURE_EFI;
                break;
        case _PX_FIRMWARE_MAX:
        case _PX_FIRMWARE_INVALID:
        default:
                return false;
        }
        return c->ipxe_features & kernel_format;
}

/* Option 43 payload per pxe.h; returns its length, 0 when the option is to be omitted. */
static size_t vendor_options_build(const PxeClient *client, const PxeReplyParams *params, uint8_t out[11]) {
        bool boot_item = params->kind == PXE_REPLY_BOOT_ACK && client->has_boot_item;
        size_t n = 0;

        if (params->kind == PXE_REPLY_PROXY_OFFER && !params->discovery_control)
                return 0;
        if (params->kind == PXE_REPLY_BOOT_ACK && !boot_item)
                return 0;

        if (params->discovery_control) {
                out[n++] = PXE_SUBOPT_DISCOVERY_CONTROL;
                out[n++] = 1;
                out[n++] = PXE_DISCOVERY_CONTROL_USE_BOOT_FILE;
        }
        if (boot_item) {
                out[n++] = PXE_SUBOPT_BOOT_ITEM;
                out[n++] = 4;
                memcpy(out + n, client->boot_item, 4);
                n += 4;
        }
        out[n++] = DHCP4_OPT_END;
        return n;
}

int pxe_build_reply(const Dhcp4Packet *request, const PxeClient *client, const PxeReplyParams *params, uint8_t *buf,
                    size_t size) {
        char server_ip_text[INET_ADDRSTRLEN];
        uint8_t vendor[11];
        size_t vendor_len;
        Dhcp4Builder b;
        uint8_t message_type;

        if (!request || !client || !params || !buf)
                return -EINVAL;
        switch (params->kind) {
        case PXE_REPLY_PROXY_OFFER:
                message_type = DHCP4_OFFER;
                break;
        case PXE_REPLY_BOOT_ACK:
                message_type = DHCP4_ACK;
                break;
        default:
                return -EINVAL;
        }

        dhcp4_builder_init_reply(&b, buf, size, request);
        dhcp4_builder_set_siaddr(&b, params->server_ip);
        if (params->kind == PXE_REPLY_PROXY_OFFER)
                dhcp4_builder_set_flags(&b, 0x8000); /* no address offered: the client must get it broadcast */
        if (params->sname_is_server_ip) {
                if (!inet_ntop(AF_INET, &params->server_ip, server_ip_text, sizeof(server_ip_text)))
                        return -errno;
                dhcp4_builder_set_sname(&b, server_ip_text);
        }
        if (params->boot_file)
                dhcp4_builder_set_file(&b, params->boot_file);

        dhcp4_builder_add_option_u8(&b, DHCP4_OPT_MESSAGE_TYPE, message_type);
        dhcp4_builder_add_option_in_addr(&b, DHCP4_OPT_SERVER_ID, params->server_ip);
        dhcp4_builder_add_option_string(&b, DHCP4_OPT_VENDOR_CLASS, PXE_VENDOR_CLASS);
        if (client->has_guid)
                dhcp4_builder_add_option(&b, DHCP4_OPT_CLIENT_GUID, client->guid, PXE_GUID_LEN);
        vendor_len = vendor_options_build(client, params, vendor);
        if (vendor_len > 0)
                dhcp4_builder_add_option(&b, DHCP4_OPT_VENDOR_SPECIFIC, vendor, vendor_len);
        if (params->pxelinux_prefix) {
                dhcp4_builder_add_option_string(&b, DHCP4_OPT_PXELINUX_PATH_PREFIX, params->pxelinux_prefix);
                dhcp4_builder_add_option_u32(&b, DHCP4_OPT_PXELINUX_REBOOT_TIME, params->pxelinux_reboot_s);
        }

        return dhcp4_builder_finish(&b);
}
