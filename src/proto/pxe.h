/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* PXE client recognition (options 60, 77, 93, 97, 175) and ProxyDHCP / PXE boot server
 * reply construction (PXE 2.1 spec, RFC 4578, iPXE's encapsulated options). Pure. */

#include <errno.h>

#include "dhcp4.h"

typedef enum PxFirmware {
        PX_FIRMWARE_BIOS,  /* option 93 = 0: x86 BIOS */
        PX_FIRMWARE_EFI32, /* option 93 = 6: EFI IA32 */
        PX_FIRMWARE_EFI64, /* option 93 = 7 or 9: EFI x86-64 (BC) */
        _PX_FIRMWARE_MAX,
        _PX_FIRMWARE_INVALID = -EINVAL,
} PxFirmware;

const char *px_firmware_to_string(PxFirmware f); /* "bios", "efi32", "efi64" */
/* Option 93 value to firmware class; _PX_FIRMWARE_INVALID for architectures we do not boot. */
PxFirmware px_firmware_from_arch(uint16_t arch);

/* iPXE feature bits from option 175 (iPXE's DHCP_EB_FEATURE_* codes). */
typedef enum IpxeFeature {
        IPXE_FEATURE_PXE_EXT = 1u << 0,   /* 175.16 */
        IPXE_FEATURE_HTTP = 1u << 1,      /* 175.19 */
        IPXE_FEATURE_HTTPS = 1u << 2,     /* 175.20 */
        IPXE_FEATURE_TFTP = 1u << 3,      /* 175.21 */
        IPXE_FEATURE_DNS = 1u << 4,       /* 175.23 */
        IPXE_FEATURE_BZIMAGE = 1u << 5,   /* 175.24 */
        IPXE_FEATURE_MULTIBOOT = 1u << 6, /* 175.25 */
        IPXE_FEATURE_PXE = 1u << 7,       /* 175.33 */
        IPXE_FEATURE_ELF = 1u << 8,       /* 175.34 */
        IPXE_FEATURE_COMBOOT = 1u << 9,   /* 175.35 */
        IPXE_FEATURE_EFI = 1u << 10,      /* 175.36 */
        IPXE_FEATURE_MENU = 1u << 11,     /* 175.39 */
} IpxeFeature;

typedef struct PxeClient {
        uint8_t mac[6];
        uint16_t arch; /* raw option 93 value */
        PxFirmware firmware;
        bool has_vendor_class;  /* option 60 starts with "PXEClient" */
        bool has_guid;          /* option 97 present and well formed */
        uint8_t guid[17];       /* option 97 payload, echoed verbatim */
        bool is_ipxe;           /* user class (77) "iPXE", or option 175 present */
        uint32_t ipxe_features; /* IpxeFeature bits, 0 if not iPXE */
        char user_class[64];    /* printable rendering of option 77, for logs: RFC 3004 items joined by
                                 * ',' ("\x04iPXE" -> "iPXE"), else the raw bytes; '?' for unprintables */
        bool has_boot_item;     /* option 43 sub-option 71 (PXE_BOOT_ITEM), port 4011 requests */
        uint8_t boot_item[4];
} PxeClient;

/* Classifies a request as a PXE client. Returns 0 and fills `ret` for a PXE request.
 *  -ENOMSG      not a PXE client (no option 93 and no "PXEClient" option 60)
 *  -EPROTONOSUPPORT  PXE client of an architecture we do not boot (ret->arch is set)
 *  -EBADMSG     malformed PXE request: option 93 empty or of odd length (RFC 4578 allows a
 *               list; the first entry is used), or hlen is not 6 (no Ethernet MAC)
 * Without option 93 the arch comes from "PXEClient:Arch:NNNNN" in option 60, else BIOS is assumed.
 * A malformed option 97 (not 17 bytes, or first byte not 0) is ignored (has_guid false), not
 * rejected: some ROMs get it wrong or omit it.
 * On -EPROTONOSUPPORT every field of `ret` is filled (firmware = _PX_FIRMWARE_INVALID) for logging;
 * on the other errors `ret` is untouched.
 * The message type is not checked here: callers decide (DISCOVER on 67, REQUEST on 4011). */
int pxe_client_parse(const Dhcp4Packet *p, PxeClient *ret);

/* True if this iPXE client can fetch a script over HTTP and boot a Linux kernel with it. */
bool pxe_client_ipxe_can_boot_http(const PxeClient *c);

typedef enum PxeReplyKind {
        PXE_REPLY_PROXY_OFFER, /* port 67: DHCPOFFER, broadcast flag, no address */
        PXE_REPLY_BOOT_ACK,    /* port 4011: DHCPACK to a boot server request */
} PxeReplyKind;

typedef struct PxeReplyParams {
        PxeReplyKind kind;
        struct in_addr server_ip;    /* siaddr, option 54 */
        const char *boot_file;       /* BOOTP file field; NULL or "" for none */
        bool sname_is_server_ip;     /* write server IP as text into sname */
        bool discovery_control;      /* option 43 = 06 01 08 FF: "boot the file, skip discovery" */
        const char *pxelinux_prefix; /* option 210, NULL to omit */
        uint32_t pxelinux_reboot_s;  /* option 211 when pxelinux_prefix is set */
} PxeReplyParams;

/* Builds a ProxyDHCP OFFER or a PXE boot server ACK into buf (size >= DHCP4_MIN_REPLY_LEN).
 * Options in order: 53, 54, 60 "PXEClient", 97 (echoed iff the client sent it), 43 (per
 * params, and on PXE_REPLY_BOOT_ACK the client's boot item 71 echoed when it sent one),
 * 210/211. Returns the length or a negative errno. */
int pxe_build_reply(const Dhcp4Packet *request, const PxeClient *client, const PxeReplyParams *params, uint8_t *buf,
                    size_t size);
