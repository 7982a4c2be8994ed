/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* TFTP packet codec (RFC 1350, option extension RFC 2347, blksize RFC 2348, timeout/tsize
 * RFC 2349, windowsize RFC 7440). Pure: bytes in, structs out. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TFTP_DEFAULT_BLKSIZE 512
#define TFTP_MIN_BLKSIZE     8
#define TFTP_MAX_BLKSIZE     65464
#define TFTP_MAX_WINDOWSIZE  65535
#define TFTP_MAX_FILENAME    255

enum {
        TFTP_OP_RRQ = 1,
        TFTP_OP_WRQ = 2,
        TFTP_OP_DATA = 3,
        TFTP_OP_ACK = 4,
        TFTP_OP_ERROR = 5,
        TFTP_OP_OACK = 6,
};

enum {
        TFTP_ERR_UNDEFINED = 0,
        TFTP_ERR_NOT_FOUND = 1,
        TFTP_ERR_ACCESS = 2,
        TFTP_ERR_DISK_FULL = 3,
        TFTP_ERR_ILLEGAL_OP = 4,
        TFTP_ERR_UNKNOWN_TID = 5,
        TFTP_ERR_FILE_EXISTS = 6,
        TFTP_ERR_NO_USER = 7,
        TFTP_ERR_OPTION = 8,
};

typedef struct TftpRequest {
        uint16_t opcode; /* RRQ or WRQ */
        char filename[TFTP_MAX_FILENAME + 1];
        char mode[16]; /* lower-cased: "octet", "netascii", "mail" */
        /* Options; value -1 means "not requested". Out-of-range values are reported as -1
         * and the option flagged in `invalid_options` so the server can ignore it (RFC 2347). */
        int32_t blksize;
        int32_t timeout_s;
        int64_t tsize;
        int32_t windowsize;
        bool invalid_options;
} TftpRequest;

/* Parses an RRQ/WRQ. -EBADMSG on malformed packets (no NULs, empty name, bad opcode, non
 * printable filename characters), -ENAMETOOLONG on an over-long filename. Unknown options are
 * ignored. */
int tftp_request_parse(const uint8_t *buf, size_t len, TftpRequest *ret);

/* Parses an ACK (returns block number) ; -EBADMSG otherwise. */
int tftp_ack_parse(const uint8_t *buf, size_t len, uint16_t *ret_block);
/* Parses an ERROR packet; ret_msg (optional) points into buf's copy truncated at 255 chars. */
int tftp_error_parse(const uint8_t *buf, size_t len, uint16_t *ret_code, char *ret_msg, size_t msg_size);
/* Peeks the opcode; -EBADMSG if len < 2. */
int tftp_opcode(const uint8_t *buf, size_t len);

/* Builders: return bytes written or a negative errno (-ENOBUFS). */
typedef struct TftpOack {
        int32_t blksize;    /* -1: omit */
        int32_t timeout_s;  /* -1: omit */
        int64_t tsize;      /* -1: omit */
        int32_t windowsize; /* -1: omit */
} TftpOack;
int tftp_build_oack(uint8_t *buf, size_t size, const TftpOack *o);
/* Writes the 4-byte DATA header only; the payload follows at buf + 4. */
void tftp_build_data_header(uint8_t *buf, uint16_t block);
int tftp_build_error(uint8_t *buf, size_t size, uint16_t code, const char *msg);
