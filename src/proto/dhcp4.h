/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* DHCPv4/BOOTP packet codec (RFC 2131/2132, RFC 3396 long options, option 52 overload).
 * Pure: bytes in, structs out. No sockets, no allocation, no logging. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DHCP4_HEADER_LEN    236
#define DHCP4_MAGIC_LEN     4
#define DHCP4_MIN_LEN       (DHCP4_HEADER_LEN + DHCP4_MAGIC_LEN)
#define DHCP4_MIN_REPLY_LEN 300  /* BOOTP minimum; replies are padded up to it */
#define DHCP4_MAX_PACKET    1500 /* largest packet parsed or built */

enum {
        DHCP4_OP_REQUEST = 1,
        DHCP4_OP_REPLY = 2,
};

enum {
        DHCP4_DISCOVER = 1,
        DHCP4_OFFER = 2,
        DHCP4_REQUEST = 3,
        DHCP4_DECLINE = 4,
        DHCP4_ACK = 5,
        DHCP4_NAK = 6,
        DHCP4_RELEASE = 7,
        DHCP4_INFORM = 8,
};

enum {
        DHCP4_OPT_PAD = 0,
        DHCP4_OPT_VENDOR_SPECIFIC = 43,
        DHCP4_OPT_OVERLOAD = 52,
        DHCP4_OPT_MESSAGE_TYPE = 53,
        DHCP4_OPT_SERVER_ID = 54,
        DHCP4_OPT_PARAMETER_LIST = 55,
        DHCP4_OPT_MAX_MESSAGE_SIZE = 57,
        DHCP4_OPT_VENDOR_CLASS = 60,
        DHCP4_OPT_USER_CLASS = 77,
        DHCP4_OPT_CLIENT_ARCH = 93,
        DHCP4_OPT_CLIENT_NDI = 94,
        DHCP4_OPT_CLIENT_GUID = 97,
        DHCP4_OPT_IPXE_ENCAP = 175,
        DHCP4_OPT_PXELINUX_PATH_PREFIX = 210,
        DHCP4_OPT_PXELINUX_REBOOT_TIME = 211,
        DHCP4_OPT_END = 255,
};

/* A parsed packet. Option payloads are stored concatenated per code (RFC 3396: repeated
 * instances of one option are joined in order), so a parsed packet is self-contained and
 * can outlive the receive buffer. */
typedef struct Dhcp4Packet {
        uint8_t op, htype, hlen, hops;
        uint32_t xid;
        uint16_t secs, flags;
        struct in_addr ciaddr, yiaddr, siaddr, giaddr;
        uint8_t chaddr[16];
        char sname[65]; /* NUL-terminated copy; empty when used for options (overload) */
        char file[129];
        int message_type; /* option 53, or -1 when absent */

        /* option table: offset/length into optbuf, present flag per code */
        uint16_t opt_offset[256];
        uint16_t opt_length[256];
        uint8_t opt_present[256 / 8];
        uint16_t optbuf_used;
        uint8_t optbuf[DHCP4_MAX_PACKET];
} Dhcp4Packet;

/* Parse a DHCP packet. Returns 0 on success, or a negative errno:
 *  -EBADMSG  shorter than DHCP4_MIN_LEN, bad magic cookie, truncated option, or hlen > 16
 *  -EMSGSIZE longer than DHCP4_MAX_PACKET
 * Lenient where real firmware is sloppy: a missing END option, trailing garbage after END,
 * duplicate options (concatenated), unterminated sname/file (truncated copy).
 * Option 52 is honoured only in the options field; options continue in file (1), sname (2) or
 * both (3), read in that order (RFC 3396). Other values of 52 are ignored. htype is not checked.
 * On failure `ret` is left untouched. */
int dhcp4_packet_parse(const uint8_t *buf, size_t len, Dhcp4Packet *ret);

bool dhcp4_packet_has_option(const Dhcp4Packet *p, uint8_t code);
/* Returns the option payload (NULL if absent) and its length. */
const uint8_t *dhcp4_packet_get_option(const Dhcp4Packet *p, uint8_t code, size_t *ret_len);

/* Builder for replies. Writes into a caller-provided buffer. Options are written in the order
 * added (callers put 53 first, as ISC and dnsmasq do); option payloads longer than 255 bytes
 * are split into several instances (RFC 3396). */
typedef struct Dhcp4Builder {
        uint8_t *buf;
        size_t size;
        size_t len;
        int error; /* sticky: first error seen, reported by finish */
} Dhcp4Builder;

/* Starts a BOOTREPLY to `request`: copies xid, flags, giaddr, htype, hlen, chaddr, ciaddr.
 * buf must have room for at least DHCP4_MIN_REPLY_LEN bytes. */
void dhcp4_builder_init_reply(Dhcp4Builder *b, uint8_t *buf, size_t size, const Dhcp4Packet *request);
void dhcp4_builder_set_siaddr(Dhcp4Builder *b, struct in_addr siaddr);
void dhcp4_builder_set_yiaddr(Dhcp4Builder *b, struct in_addr yiaddr);
void dhcp4_builder_set_flags(Dhcp4Builder *b, uint16_t flags);
/* sname must fit 63 chars, file 127; longer sets -ENAMETOOLONG. */
void dhcp4_builder_set_sname(Dhcp4Builder *b, const char *sname);
void dhcp4_builder_set_file(Dhcp4Builder *b, const char *file);
/* code must not be PAD or END (-EINVAL); a zero-length option is written as code, 0. */
void dhcp4_builder_add_option(Dhcp4Builder *b, uint8_t code, const void *data, size_t len);
void dhcp4_builder_add_option_u8(Dhcp4Builder *b, uint8_t code, uint8_t v);
void dhcp4_builder_add_option_u32(Dhcp4Builder *b, uint8_t code, uint32_t v);
void dhcp4_builder_add_option_in_addr(Dhcp4Builder *b, uint8_t code, struct in_addr a);
void dhcp4_builder_add_option_string(Dhcp4Builder *b, uint8_t code, const char *s);
/* Appends END, pads to DHCP4_MIN_REPLY_LEN. Returns the packet length or a negative errno
 * (-ENOBUFS when it did not fit, or the sticky error). */
int dhcp4_builder_finish(Dhcp4Builder *b);
