/* SPDX-License-Identifier: Apache-2.0 */
/* DHCPv4/BOOTP codec. See dhcp4.h for the contract; this file only explains the how.
 *
 * Parsing runs in two passes over the same option areas (the options field, then the file field,
 * then sname, as RFC 3396 section 7 orders them when option 52 overloads them):
 *   1. validate every area and add up, per option code, the payload bytes of all its instances;
 *   2. lay the codes out back to back in optbuf and copy each instance after the previous one.
 * Pass 1 finds every error before `ret` is touched, so a failed parse never clobbers it. The
 * option payloads are a subset of the packet's bytes, so they always fit in optbuf. */

#include <errno.h>
#include <string.h>

#include "dhcp4.h"
#include "px-macro.h"

#define DHCP4_MAGIC_OFFSET       DHCP4_HEADER_LEN
#define DHCP4_SNAME_OFFSET       44
#define DHCP4_SNAME_LEN          64
#define DHCP4_FILE_OFFSET        108
#define DHCP4_FILE_LEN           128
#define DHCP4_CHADDR_LEN         16
#define DHCP4_OPTION_MAX_PAYLOAD 255

static const uint8_t dhcp4_magic_cookie[DHCP4_MAGIC_LEN] = {0x63, 0x82, 0x53, 0x63};

/* Option 52 values (RFC 2132 section 9.3). */
enum {
        OVERLOAD_FILE = 1u << 0,
        OVERLOAD_SNAME = 1u << 1,
};

typedef struct OptionTally {
        uint16_t total_length[256]; /* pass 1: payload bytes per code over all instances */
        uint16_t copied[256];       /* pass 2: bytes already copied per code */
        uint8_t present[256 / 8];
        int overload; /* value of the first option 52 in the options field, or -1 */
} OptionTally;

static void bitmap_set(uint8_t *map, uint8_t bit) {
        map[bit / 8] |= (uint8_t) (1u << (bit % 8));
}

static bool bitmap_test(const uint8_t *map, uint8_t bit) {
        return map[bit / 8] & (1u << (bit % 8));
}

/* Walks one option area. Without `sink` it validates the area and counts payload bytes into
 * `tally`; with `sink` (pass 2, area known valid) it copies the payloads into sink->optbuf. */
static int option_area_walk(const uint8_t *area, size_t size, OptionTally *tally, Dhcp4Packet *sink) {
        size_t pos = 0;

        while (pos < size) {
                uint8_t code = area[pos];
                uint8_t length;

                if (code == DHCP4_OPT_PAD) {
                        pos++;
                        continue;
                }
                if (code == DHCP4_OPT_END)
                        return 0; /* whatever follows END is ignored */

                if (size - pos < 2)
                        return -EBADMSG; /* code without a length byte */
                length = area[pos + 1];
                if (size - pos - 2 < length)
                        return -EBADMSG; /* payload runs past the area */

                if (sink) {
                        memcpy(sink->optbuf + sink->opt_offset[code] + tally->copied[code], area + pos + 2, length);
                        tally->copied[code] += length;
                } else {
                        if (code == DHCP4_OPT_OVERLOAD && tally->overload < 0 && length >= 1)
                                tally->overload = area[pos + 2];
                        tally->total_length[code] += length;
                        bitmap_set(tally->present, code);
                }

                pos += 2 + (size_t) length;
        }

        return 0; /* no END: tolerated */
}

/* Copies a fixed-size, normally NUL-terminated header field into a C string. */
static void header_string_copy(char *dst, const uint8_t *src, size_t field_len) {
        size_t n = strnlen((const char *) src, field_len);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

int dhcp4_packet_parse(const uint8_t *buf, size_t len, Dhcp4Packet *ret) {
        OptionTally tally = {.overload = -1};
        int overload = 0;
        size_t offset = 0;
        int r;

        if (!buf || !ret)
                return -EINVAL;
        if (len > DHCP4_MAX_PACKET)
                return -EMSGSIZE;
        if (len < DHCP4_MIN_LEN)
                return -EBADMSG;
        if (memcmp(buf + DHCP4_MAGIC_OFFSET, dhcp4_magic_cookie, DHCP4_MAGIC_LEN) != 0)
                return -EBADMSG;
        if (buf[2] > DHCP4_CHADDR_LEN)
                return -EBADMSG;

        /* Pass 1: validate and count. Option 52 is only honoured in the options field. */
        r = option_area_walk(buf + DHCP4_MIN_LEN, len - DHCP4_MIN_LEN, &tally, NULL);
        if (r < 0)
                return r;
        if (tally.overload >= 1 && tally.overload <= 3)
                overload = tally.overload; /* other values are nonsense: keep sname/file as strings */
        if (overload & OVERLOAD_FILE) {
                r = option_area_walk(buf + DHCP4_FILE_OFFSET, DHCP4_FILE_LEN, &tally, NULL);
                if (r < 0)
                        return r;
        }
        if (overload & OVERLOAD_SNAME) {
                r = option_area_walk(buf + DHCP4_SNAME_OFFSET, DHCP4_SNAME_LEN, &tally, NULL);
                if (r < 0)
                        return r;
        }

        memset(ret, 0, sizeof(*ret));
        ret->op = buf[0];
        ret->htype = buf[1];
        ret->hlen = buf[2];
        ret->hops = buf[3];
        ret->xid = px_read_be32(buf + 4);
        ret->secs = px_read_be16(buf + 8);
        ret->flags = px_read_be16(buf + 10);
        memcpy(&ret->ciaddr, buf + 12, 4);
        memcpy(&ret->yiaddr, buf + 16, 4);
        memcpy(&ret->siaddr, buf + 20, 4);
        memcpy(&ret->giaddr, buf + 24, 4);
        memcpy(ret->chaddr, buf + 28, DHCP4_CHADDR_LEN);
        if (!(overload & OVERLOAD_SNAME))
                header_string_copy(ret->sname, buf + DHCP4_SNAME_OFFSET, DHCP4_SNAME_LEN);
        if (!(overload & OVERLOAD_FILE))
                header_string_copy(ret->file, buf + DHCP4_FILE_OFFSET, DHCP4_FILE_LEN);

        /* Pass 2: lay out and copy. */
        for (unsigned code = 0; code < 256; code++) {
                ret->opt_offset[code] = (uint16_t) offset;
                ret->opt_length[code] = tally.total_length[code];
                offset += tally.total_length[code];
        }
        /* Payload bytes are packet bytes, and the packet is at most DHCP4_MAX_PACKET long. */
        ret->optbuf_used = (uint16_t) offset;
        memcpy(ret->opt_present, tally.present, sizeof(ret->opt_present));

        (void) option_area_walk(buf + DHCP4_MIN_LEN, len - DHCP4_MIN_LEN, &tally, ret);
        if (overload & OVERLOAD_FILE)
                (void) option_area_walk(buf + DHCP4_FILE_OFFSET, DHCP4_FILE_LEN, &tally, ret);
        if (overload & OVERLOAD_SNAME)
                (void) option_area_walk(buf + DHCP4_SNAME_OFFSET, DHCP4_SNAME_LEN, &tally, ret);

        if (dhcp4_packet_has_option(ret, DHCP4_OPT_MESSAGE_TYPE) && ret->opt_length[DHCP4_OPT_MESSAGE_TYPE] >= 1)
                ret->message_type = ret->optbuf[ret->opt_offset[DHCP4_OPT_MESSAGE_TYPE]];
        else
                ret->message_type = -1;

        return 0;
}

bool dhcp4_packet_has_option(const Dhcp4Packet *p, uint8_t code) {
        if (!p)
                return false;
        return bitmap_test(p->opt_present, code);
}

const uint8_t *dhcp4_packet_get_option(const Dhcp4Packet *p, uint8_t code, size_t *ret_len) {
        if (!dhcp4_packet_has_option(p, code))
                return NULL;
        if (ret_len)
                *ret_len = p->opt_length[code];
        return p->optbuf + p->opt_offset[code]; /* non-NULL even for an empty option */
}

/* Builder */

static bool builder_ok(const Dhcp4Builder *b) {
        return b && b->error == 0;
}

static void builder_fail(Dhcp4Builder *b, int error) {
        if (b->error == 0)
                b->error = error;
}

void dhcp4_builder_init_reply(Dhcp4Builder *b, uint8_t *buf, size_t size, const Dhcp4Packet *request) {
        if (!b)
                return;

        *b = (Dhcp4Builder){
                .buf = buf,
                .size = size < DHCP4_MAX_PACKET ? size : DHCP4_MAX_PACKET,
        };
        if (!buf || !request || request->hlen > DHCP4_CHADDR_LEN) {
                b->error = -EINVAL;
                return;
        }
        if (size < DHCP4_MIN_REPLY_LEN) {
                b->error = -ENOBUFS;
                return;
        }

        memset(buf, 0, DHCP4_MIN_REPLY_LEN);
        buf[0] = DHCP4_OP_REPLY;
        buf[1] = request->htype;
        buf[2] = request->hlen;
        /* hops, secs, yiaddr and siaddr stay 0 */
        px_write_be32(buf + 4, request->xid);
        px_write_be16(buf + 10, request->flags);
        memcpy(buf + 12, &request->ciaddr, 4);
        memcpy(buf + 24, &request->giaddr, 4);
        memcpy(buf + 28, request->chaddr, request->hlen);
        memcpy(buf + DHCP4_MAGIC_OFFSET, dhcp4_magic_cookie, DHCP4_MAGIC_LEN);
        b->len = DHCP4_MIN_LEN;
}

void dhcp4_builder_set_siaddr(Dhcp4Builder *b, struct in_addr siaddr) {
        if (!builder_ok(b))
                return;
        memcpy(b->buf + 20, &siaddr, 4);
}

void dhcp4_builder_set_yiaddr(Dhcp4Builder *b, struct in_addr yiaddr) {
        if (!builder_ok(b))
                return;
        memcpy(b->buf + 16, &yiaddr, 4);
}

void dhcp4_builder_set_flags(Dhcp4Builder *b, uint16_t flags) {
        if (!builder_ok(b))
                return;
        px_write_be16(b->buf + 10, flags);
}

/* Writes a string into a fixed header field, keeping at least one NUL at its end. */
static void builder_set_header_string(Dhcp4Builder *b, size_t offset, size_t field_len, const char *s) {
        size_t n;

        if (!builder_ok(b))
                return;

        n = s ? strlen(s) : 0;
        if (n >= field_len) {
                builder_fail(b, -ENAMETOOLONG);
                return;
        }
        memset(b->buf + offset, 0, field_len);
        if (n > 0)
                memcpy(b->buf + offset, s, n);
}

void dhcp4_builder_set_sname(Dhcp4Builder *b, const char *sname) {
        builder_set_header_string(b, DHCP4_SNAME_OFFSET, DHCP4_SNAME_LEN, sname);
}

void dhcp4_builder_set_file(Dhcp4Builder *b, const char *file) {
        builder_set_header_string(b, DHCP4_FILE_OFFSET, DHCP4_FILE_LEN, file);
}

void dhcp4_builder_add_option(Dhcp4Builder *b, uint8_t code, const void *data, size_t len) {
        const uint8_t *payload = data;
        size_t instances, needed;

        if (!builder_ok(b))
                return;
        if (code == DHCP4_OPT_PAD || code == DHCP4_OPT_END || (!data && len > 0)) {
                builder_fail(b, -EINVAL);
                return;
        }

        /* RFC 3396: a payload over 255 bytes goes out as consecutive instances of the code. */
        instances = len == 0 ? 1 : (len + DHCP4_OPTION_MAX_PAYLOAD - 1) / DHCP4_OPTION_MAX_PAYLOAD;
        if (len > b->size) {
                builder_fail(b, -ENOBUFS);
                return;
        }
        needed = 2 * instances + len;
        if (needed + 1 > b->size - b->len) { /* + 1: always leave room for END */
                builder_fail(b, -ENOBUFS);
                return;
        }

        for (size_t done = 0, i = 0; i < instances; i++) {
                size_t chunk = len - done < DHCP4_OPTION_MAX_PAYLOAD ? len - done : DHCP4_OPTION_MAX_PAYLOAD;

                b->buf[b->len] = code;
                b->buf[b->len + 1] = (uint8_t) chunk;
                if (chunk > 0) /* payload may be NULL for an empty option */
                        memcpy(b->buf + b->len + 2, payload + done, chunk);
                b->len += 2 + chunk;
                done += chunk;
        }
}

void dhcp4_builder_add_option_u8(Dhcp4Builder *b, uint8_t code, uint8_t v) {
        dhcp4_builder_add_option(b, code, &v, 1);
}

void dhcp4_builder_add_option_u32(Dhcp4Builder *b, uint8_t code, uint32_t v) {
        uint8_t be[4];

        px_write_be32(be, v);
        dhcp4_builder_add_option(b, code, be, sizeof(be));
}

void dhcp4_builder_add_option_in_addr(Dhcp4Builder *b, uint8_t code, struct in_addr a) {
        dhcp4_builder_add_option(b, code, &a.s_addr, 4);
}

void dhcp4_builder_add_option_string(Dhcp4Builder *b, uint8_t code, const char *s) {
        if (!s) {
                if (b)
                        builder_fail(b, -EINVAL);
                return;
        }
        dhcp4_builder_add_option(b, code, s, strlen(s));
}

int dhcp4_builder_finish(Dhcp4Builder *b) {
        if (!b)
                return -EINVAL;
        if (b->error != 0)
                return b->error;
        if (b->len >= b->size)
                return -ENOBUFS; /* cannot happen: add_option keeps room for END */

        b->buf[b->len++] = DHCP4_OPT_END;
        if (b->len < DHCP4_MIN_REPLY_LEN) {
                memset(b->buf + b->len, 0, DHCP4_MIN_REPLY_LEN - b->len);
                b->len = DHCP4_MIN_REPLY_LEN;
        }
        return (int) b->len;
}
