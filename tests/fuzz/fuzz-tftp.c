/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer entry point for the TFTP codec:
 *   clang -fsanitize=fuzzer,address -I src/proto -I src/shared src/proto/tftp.c tests/fuzz/fuzz-tftp.c
 *   ./a.out tests/fuzz/corpus/tftp */

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tftp.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        TftpRequest req;
        uint8_t out[1024];
        char msg[256];
        uint16_t u16;
        int r;

        (void) tftp_opcode(data, size);
        (void) tftp_ack_parse(data, size, &u16);
        if (tftp_error_parse(data, size, &u16, msg, sizeof(msg)) == 0)
                assert(strlen(msg) <= 255);
        (void) tftp_error_parse(data, size, &u16, msg, 1 + (size % sizeof(msg)));

        r = tftp_request_parse(data, size, &req);
        if (r == 0) {
                TftpOack o = {
                        .blksize = req.blksize,
                        .timeout_s = req.timeout_s,
                        .tsize = req.tsize,
                        .windowsize = req.windowsize,
                };
                size_t n = strlen(req.filename);

                assert(n > 0 && n <= TFTP_MAX_FILENAME);
                assert(strlen(req.mode) > 0 && strlen(req.mode) < sizeof(req.mode));
                assert(req.opcode == TFTP_OP_RRQ || req.opcode == TFTP_OP_WRQ);
                assert(req.blksize == -1 || (req.blksize >= TFTP_MIN_BLKSIZE && req.blksize <= TFTP_MAX_BLKSIZE));
                assert(req.windowsize == -1 || (req.windowsize >= 1 && req.windowsize <= TFTP_MAX_WINDOWSIZE));
                assert(req.timeout_s == -1 || (req.timeout_s >= 1 && req.timeout_s <= 255));
                assert(req.tsize >= -1);

                /* What we would answer must build at any buffer size without overflowing. */
                r = tftp_build_oack(out, size % sizeof(out), &o);
                assert(r == -ENOBUFS || (r >= 2 && (size_t) r <= size % sizeof(out)));
                r = tftp_build_error(out, size % 300, TFTP_ERR_NOT_FOUND, req.filename);
                assert(r == -ENOBUFS || (r >= 5 && (size_t) r <= size % 300));
        }

        /* Arbitrary text into the error builder. */
        if (size > 0) {
                char text[600];
                size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;

                memcpy(text, data, n);
                text[n] = 0;
                r = tftp_build_error(out, sizeof(out), data[0], text);
                assert(r >= 5 && r <= 4 + 255 + 1);
                assert(tftp_error_parse(out, (size_t) r, &u16, msg, sizeof(msg)) == 0);
                assert(u16 == data[0]);
        }

        return 0;
}
