/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer entry for the DHCP and PXE codecs: parse any byte string, classify it, and when it is
 * a PXE client build both kinds of reply, which must parse back and echo the request. The option
 * table (RFC 3396 concatenation, option 52 overload into file and sname) and the PXE boot item
 * (option 43 sub-option 71) are compared with a small independent reference walker. Build:
 *   clang -fsanitize=fuzzer,address -I src/proto -I src/shared \
 *         src/proto/dhcp4.c src/proto/pxe.c tests/fuzz/fuzz-dhcp4.c -o fuzz-dhcp4
 *   ./fuzz-dhcp4 -max_len=2048 tests/fuzz/corpus/dhcp4 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp4.h"
#include "pxe.h"
#include "fuzz.h"

/* ---- reference: the options of a packet, as RFC 2131/2132/3396 describe them ---- */

/* BOOTP header layout (RFC 951). */
#define REF_SNAME_OFFSET 44
#define REF_SNAME_LEN    64
#define REF_FILE_OFFSET  108
#define REF_FILE_LEN     128
#define REF_OPTIONS      240

typedef struct RefOptions {
        bool present[256];
        size_t length[256];
        uint8_t payload[256][DHCP4_MAX_PACKET];
} RefOptions;

/* One option area: false when an option is truncated (a code without length, or a payload that
 * runs past the area). PAD is skipped, END ends the area, a missing END is fine. */
static bool ref_walk(const uint8_t *area, size_t size, RefOptions *o, int *overload) {
        for (size_t pos = 0; pos < size;) {
                uint8_t code = area[pos], len;

                if (code == 0) {
                        pos++;
                        continue;
                }
                if (code == 255)
                        return true;
                if (pos + 1 >= size)
                        return false;
                len = area[pos + 1];
                if (pos + 2 + len > size)
                        return false;
                if (overload && code == DHCP4_OPT_OVERLOAD && *overload < 0 && len >= 1)
                        *overload = area[pos + 2];
                memcpy(o->payload[code] + o->length[code], area + pos + 2, len);
                o->length[code] += len;
                o->present[code] = true;
                pos += 2 + len;
        }
        return true;
}

/* 0 with the options in `o`, or -EBADMSG/-EMSGSIZE, for a packet that dhcp4_packet_parse() must
 * accept or refuse the same way. *ret_overload: the honoured option 52 value (0 if none). */
static int ref_parse(const uint8_t *buf, size_t size, RefOptions *o, int *ret_overload) {
        static const uint8_t cookie[4] = {99, 130, 83, 99};
        int overload = -1;

        memset(o->present, 0, sizeof(o->present));
        memset(o->length, 0, sizeof(o->length));
        *ret_overload = 0;
        if (size > DHCP4_MAX_PACKET)
                return -EMSGSIZE;
        if (size < REF_OPTIONS || memcmp(buf + 236, cookie, 4) != 0 || buf[2] > 16)
                return -EBADMSG;
        /* 52 counts only in the options field; values other than 1, 2, 3 are ignored */
        if (!ref_walk(buf + REF_OPTIONS, size - REF_OPTIONS, o, &overload))
                return -EBADMSG;
        if (overload < 1 || overload > 3)
                overload = 0;
        /* RFC 3396 order: options field, then file, then sname */
        if ((overload & 1) && !ref_walk(buf + REF_FILE_OFFSET, REF_FILE_LEN, o, NULL))
                return -EBADMSG;
        if ((overload & 2) && !ref_walk(buf + REF_SNAME_OFFSET, REF_SNAME_LEN, o, NULL))
                return -EBADMSG;
        *ret_overload = overload;
        return 0;
}

/* PXE 2.1: the first well-formed sub-option 71 of option 43 with 4 bytes of payload; PAD skipped,
 * END or a truncated sub-option ends the walk. */
static bool ref_boot_item(const RefOptions *o, uint8_t ret_item[4]) {
        const uint8_t *v = o->payload[DHCP4_OPT_VENDOR_SPECIFIC];
        size_t n = o->length[DHCP4_OPT_VENDOR_SPECIFIC];

        if (!o->present[DHCP4_OPT_VENDOR_SPECIFIC])
                return false;
        for (size_t pos = 0; pos < n;) {
                if (v[pos] == 0) {
                        pos++;
                        continue;
                }
                if (v[pos] == 255 || pos + 1 >= n || pos + 2 + v[pos + 1] > n)
                        return false;
                if (v[pos] == 71 && v[pos + 1] == 4) {
                        memcpy(ret_item, v + pos + 2, 4);
                        return true;
                }
                pos += 2 + v[pos + 1];
        }
        return false;
}

static void check_against_reference(const uint8_t *data, size_t size, int r, const Dhcp4Packet *p,
                                    const RefOptions *ref, int ref_r, int overload) {
        fuzz_check(r == ref_r || (size == 0 && r == -EINVAL));
        if (r < 0)
                return;
        for (unsigned code = 0; code < 256; code++) {
                size_t len;
                const uint8_t *opt = dhcp4_packet_get_option(p, (uint8_t) code, &len);

                fuzz_check(!!opt == ref->present[code]);
                fuzz_check(!opt || (len == ref->length[code] && memcmp(opt, ref->payload[code], len) == 0));
        }
        /* an area that carries options is not also a name */
        if (overload & 1)
                fuzz_check(p->file[0] == '\0');
        else
                fuzz_check(strncmp(p->file, (const char *) data + REF_FILE_OFFSET, REF_FILE_LEN) == 0 &&
                           strlen(p->file) == strnlen((const char *) data + REF_FILE_OFFSET, REF_FILE_LEN));
        if (overload & 2)
                fuzz_check(p->sname[0] == '\0');
        else
                fuzz_check(strncmp(p->sname, (const char *) data + REF_SNAME_OFFSET, REF_SNAME_LEN) == 0 &&
                           strlen(p->sname) == strnlen((const char *) data + REF_SNAME_OFFSET, REF_SNAME_LEN));
}

static void check_packet_tables(const Dhcp4Packet *p) {
        fuzz_check(p->optbuf_used <= sizeof(p->optbuf));
        for (unsigned code = 0; code < 256; code++)
                fuzz_check((size_t) p->opt_offset[code] + p->opt_length[code] <= p->optbuf_used);
        fuzz_check(memchr(p->sname, '\0', sizeof(p->sname)));
        fuzz_check(memchr(p->file, '\0', sizeof(p->file)));
}

static void check_reply(const Dhcp4Packet *request, const PxeClient *client, const PxeReplyParams *params) {
        static Dhcp4Packet reply;
        uint8_t buf[DHCP4_MAX_PACKET];
        size_t len;
        const uint8_t *opt;
        int r;

        r = pxe_build_reply(request, client, params, buf, sizeof(buf));
        if (r < 0) {
                fuzz_check(r == -ENOBUFS || r == -ENAMETOOLONG);
                return;
        }
        fuzz_check(r >= DHCP4_MIN_REPLY_LEN && r <= (int) sizeof(buf));
        fuzz_check(dhcp4_packet_parse(buf, (size_t) r, &reply) == 0);
        check_packet_tables(&reply);

        fuzz_check(reply.op == DHCP4_OP_REPLY);
        fuzz_check(reply.xid == request->xid);
        fuzz_check(reply.hlen == request->hlen);
        fuzz_check(memcmp(reply.chaddr, request->chaddr, request->hlen) == 0);
        fuzz_check(reply.giaddr.s_addr == request->giaddr.s_addr);
        fuzz_check(reply.siaddr.s_addr == params->server_ip.s_addr);
        fuzz_check(reply.yiaddr.s_addr == 0);
        fuzz_check(reply.message_type == (params->kind == PXE_REPLY_PROXY_OFFER ? DHCP4_OFFER : DHCP4_ACK));
        fuzz_check(reply.flags == (params->kind == PXE_REPLY_PROXY_OFFER ? 0x8000 : request->flags));
        fuzz_check(strcmp(reply.file, params->boot_file ? params->boot_file : "") == 0);

        opt = dhcp4_packet_get_option(&reply, DHCP4_OPT_CLIENT_GUID, &len);
        fuzz_check(!!opt == client->has_guid);
        fuzz_check(!opt || (len == sizeof(client->guid) && memcmp(opt, client->guid, len) == 0));
        opt = dhcp4_packet_get_option(&reply, DHCP4_OPT_VENDOR_CLASS, &len);
        fuzz_check(opt && len == 9 && memcmp(opt, "PXEClient", 9) == 0);
        opt = dhcp4_packet_get_option(&reply, DHCP4_OPT_VENDOR_SPECIFIC, &len);
        if (opt)
                fuzz_check(len >= 4 && opt[len - 1] == DHCP4_OPT_END);
        /* option 43: discovery control (06 01 08) when asked for, and on a boot server ACK the
         * client's boot item (47 04 xx xx xx xx) echoed; nothing else */
        {
                uint8_t want[11];
                size_t n = 0;
                bool item = params->kind == PXE_REPLY_BOOT_ACK && client->has_boot_item;

                if (params->discovery_control && (params->kind == PXE_REPLY_PROXY_OFFER || item)) {
                        want[n++] = 6;
                        want[n++] = 1;
                        want[n++] = 8;
                }
                if (item) {
                        want[n++] = 71;
                        want[n++] = 4;
                        memcpy(want + n, client->boot_item, 4);
                        n += 4;
                }
                if (n == 0)
                        fuzz_check(!opt);
                else {
                        want[n++] = 255;
                        fuzz_check(opt && len == n && memcmp(opt, want, n) == 0);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Dhcp4Packet request; /* static: 3.5 KiB, keep the fuzzer's stack small */
        static RefOptions ref;      /* 380 KiB */
        int ref_r, overload;
        uint8_t item[4];
        PxeClient client;
        PxeReplyParams params = {
                .server_ip = {.s_addr = htonl(0xc0a80001)},
                .sname_is_server_ip = true,
                .discovery_control = true,
                .pxelinux_prefix = "http://192.168.0.1:80/",
                .pxelinux_reboot_s = 5,
        };
        char boot_file[160];
        int r;

        r = dhcp4_packet_parse(data, size, &request);
        ref_r = ref_parse(data, size, &ref, &overload);
        check_against_reference(data, size, r, &request, &ref, ref_r, overload);
        if (r < 0) {
                fuzz_check(r == -EBADMSG || r == -EMSGSIZE || (r == -EINVAL && size == 0));
                return 0;
        }
        check_packet_tables(&request);

        r = pxe_client_parse(&request, &client);
        if (r < 0) {
                fuzz_check(r == -ENOMSG || r == -EBADMSG || r == -EPROTONOSUPPORT);
                return 0;
        }
        fuzz_check(px_firmware_to_string(client.firmware));
        fuzz_check(client.has_boot_item == ref_boot_item(&ref, item));
        fuzz_check(!client.has_boot_item || memcmp(client.boot_item, item, 4) == 0);
        fuzz_check(memchr(client.user_class, '\0', sizeof(client.user_class)));
        (void) pxe_client_ipxe_can_boot_http(&client);

        /* a boot file whose length comes from the input, to reach -ENAMETOOLONG sometimes */
        memset(boot_file, 'b', sizeof(boot_file));
        boot_file[(request.xid & 0xff) % sizeof(boot_file)] = '\0';
        params.boot_file = boot_file;

        params.kind = PXE_REPLY_PROXY_OFFER;
        check_reply(&request, &client, &params);
        params.kind = PXE_REPLY_BOOT_ACK;
        check_reply(&request, &client, &params);
        params.discovery_control = false;
        params.pxelinux_prefix = NULL;
        params.boot_file = NULL;
        check_reply(&request, &client, &params);

        return 0;
}
