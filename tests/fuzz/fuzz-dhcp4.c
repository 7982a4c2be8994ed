/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer entry for the DHCP and PXE codecs: parse any byte string, classify it, and when it is
 * a PXE client build both kinds of reply, which must parse back and echo the request. Build:
 *   clang -fsanitize=fuzzer,address -I src/proto -I src/shared \
 *         src/proto/dhcp4.c src/proto/pxe.c tests/fuzz/fuzz-dhcp4.c -o fuzz-dhcp4
 *   ./fuzz-dhcp4 -max_len=2048 tests/fuzz/corpus/dhcp4 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp4.h"
#include "pxe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Invariants are checked with abort() so they hold in release builds too. */
#define fuzz_check(expr)                                                                                               \
        do {                                                                                                           \
                if (!(expr))                                                                                           \
                        abort();                                                                                       \
        } while (0)

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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Dhcp4Packet request; /* static: 3.5 KiB, keep the fuzzer's stack small */
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
