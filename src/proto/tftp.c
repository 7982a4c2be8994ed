/* SPDX-License-Identifier: Apache-2.0 */
#include "tftp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "px-macro.h"

/* Reads a NUL-terminated string starting at *pos. Returns its length and advances *pos past the
 * NUL, or -EBADMSG when no NUL follows within buf. */
static ssize_t read_string(const uint8_t *buf, size_t len, size_t *pos, const char **ret) {
        const uint8_t *start, *nul;

        if (*pos >= len)
                return -EBADMSG;

        start = buf + *pos;
        nul = memchr(start, 0, len - *pos);
        if (!nul)
                return -EBADMSG;

        *ret = (const char *) start;
        *pos += (size_t) (nul - start) + 1;
        return nul - start;
}

static bool is_printable(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7e)
                        return false;
        return true;
}

/* Strict unsigned decimal: digits only, no sign, no spaces, at most 18 digits so it fits an
 * int64 without overflow checks. Leading zeros are fine. */
static int parse_decimal(const char *s, size_t n, int64_t *ret) {
        int64_t v = 0;

        if (n == 0 || n > 18)
                return -EINVAL;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }

        *ret = v;
        return 0;
}

static bool option_is(const char *name, size_t n, const char *want) {
        return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Stores one option value if in [min, max]; out-of-range or non-numeric values are flagged.
 * The first occurrence of an option wins; repeats are ignored. */
static void parse_option_int32(const char *value, size_t n, int64_t min, int64_t max, bool *seen, int32_t *field,
                               bool *invalid) {
        int64_t v;

        if (*seen)
                return;
        *seen = true;

        if (parse_decimal(value, n, &v) < 0 || v < min || v > max) {
                *invalid = true;
                return;
        }
        *field = (int32_t) v;
}

int tftp_request_parse(const uint8_t *buf, size_t len, TftpRequest *ret) {
        bool seen_blksize = false, seen_timeout = false, seen_tsize = false, seen_windowsize = false;
        TftpRequest req = {
                .blksize = -1,
                .timeout_s = -1,
                .tsize = -1,
                .windowsize = -1,
        };
        const char *filename, *mode;
        ssize_t filename_len, mode_len;
        size_t pos = 2;

        if (!buf || !ret)
                return -EINVAL;
        if (len < 2)
                return -EBADMSG;

        req.opcode = px_read_be16(buf);
        if (req.opcode != TFTP_OP_RRQ && req.opcode != TFTP_OP_WRQ)
                return -EBADMSG;

        filename_len = read_string(buf, len, &pos, &filename);
        if (filename_len < 0)
                return (int) filename_len;
        if (filename_len == 0)
                return -EBADMSG;
        if (filename_len > TFTP_MAX_FILENAME)
                return -ENAMETOOLONG;
        if (!is_printable(filename, (size_t) filename_len))
                return -EBADMSG;

        mode_len = read_string(buf, len, &pos, &mode);
        if (mode_len < 0)
                return (int) mode_len;
        if (mode_len == 0 || (size_t) mode_len >= sizeof(req.mode) || !is_printable(mode, (size_t) mode_len))
                return -EBADMSG;

        memcpy(req.filename, filename, (size_t) filename_len);
        req.filename[filename_len] = 0;
        for (ssize_t i = 0; i < mode_len; i++)
                req.mode[i] = (char) ((mode[i] >= 'A' && mode[i] <= 'Z') ? mode[i] - 'A' + 'a' : mode[i]);
        req.mode[mode_len] = 0;

        /* Options (RFC 2347): name NUL value NUL pairs. Some firmware pads requests with zero bytes
         * or leaves the final pair unterminated; parsing stops quietly at an empty option name or an
         * incomplete pair rather than rejecting an otherwise valid request. */
        while (pos < len) {
                const char *name, *value;
                ssize_t name_len, value_len;

                name_len = read_string(buf, len, &pos, &name);
                if (name_len <= 0)
                        break;
                value_len = read_string(buf, len, &pos, &value);
                if (value_len < 0)
                        break;

                if (option_is(name, (size_t) name_len, "blksize"))
                        parse_option_int32(value, (size_t) value_len, TFTP_MIN_BLKSIZE, TFTP_MAX_BLKSIZE, &seen_blksize,
                                           &req.blksize, &req.invalid_options);
                else if (option_is(name, (size_t) name_len, "timeout"))
                        parse_option_int32(value, (size_t) value_len, 1, 255, &seen_timeout, &req.timeout_s,
                                           &req.invalid_options);
                else if (option_is(name, (size_t) name_len, "windowsize"))
                        parse_option_int32(value, (size_t) value_len, 1, TFTP_MAX_WINDOWSIZE, &seen_windowsize,
                                           &req.windowsize, &req.invalid_options);
                else if (option_is(name, (size_t) name_len, "tsize") && !seen_tsize) {
                        int64_t v;

                        seen_tsize = true;
                        if (parse_decimal(value, (size_t) value_len, &v) < 0)
                                req.invalid_options = true;
                        else
                                req.tsize = v;
                }
                /* Anything else (multicast, utimeout, rollover, ...) is not ours: ignore it. */
        }

        *ret = req;
        return 0;
}

int tftp_opcode(const uint8_t *buf, size_t len) {
        if (!buf || len < 2)
                return -EBADMSG;
        return px_read_be16(buf);
}

int tftp_ack_parse(const uint8_t *buf, size_t len, uint16_t *ret_block) {
        if (!buf || len < 4 || px_read_be16(buf) != TFTP_OP_ACK)
                return -EBADMSG;
        /* Trailing bytes after the block number are tolerated (padding by some stacks). */
        if (ret_block)
                *ret_block = px_read_be16(buf + 2);
        return 0;
}

int tftp_error_parse(const uint8_t *buf, size_t len, uint16_t *ret_code, char *ret_msg, size_t msg_size) {
        if (!buf || len < 4 || px_read_be16(buf) != TFTP_OP_ERROR)
                return -EBADMSG;

        if (ret_msg && msg_size > 0) {
                size_t n = 0, max = msg_size - 1;

                if (max > 255)
                        max = 255;
                /* The message should be NUL-terminated; accept it without, and copy only printable
                 * text so the caller can log it safely. */
                for (size_t i = 4; i < len && n < max && buf[i] != 0; i++)
                        ret_msg[n++] = (buf[i] >= 0x20 && buf[i] <= 0x7e) ? (char) buf[i] : '?';
                ret_msg[n] = 0;
        }
        if (ret_code)
                *ret_code = px_read_be16(buf + 2);
        return 0;
}

static int append_option(uint8_t *buf, size_t size, size_t *pos, const char *name, int64_t value) {
        char num[24];
        size_t name_len = strlen(name), num_len;
        int n;

        n = snprintf(num, sizeof(num), "%" PRId64, value);
        if (n < 0 || (size_t) n >= sizeof(num))
                return -EINVAL;
        num_len = (size_t) n;

        if (size - *pos < name_len + 1 + num_len + 1)
                return -ENOBUFS;

        memcpy(buf + *pos, name, name_len + 1);
        *pos += name_len + 1;
        memcpy(buf + *pos, num, num_len + 1);
        *pos += num_len + 1;
        return 0;
}

int tftp_build_oack(uint8_t *buf, size_t size, const TftpOack *o) {
        size_t pos = 2;
        int r;

        if (!buf || !o)
                return -EINVAL;
        if (size < 2)
                return -ENOBUFS;

        px_write_be16(buf, TFTP_OP_OACK);

        if (o->blksize >= 0) {
                r = append_option(buf, size, &pos, "blksize", o->blksize);
                if (r < 0)
                        return r;
        }
        if (o->tsize >= 0) {
                r = append_option(buf, size, &pos, "tsize", o->tsize);
                if (r < 0)
                        return r;
        }
        if (o->timeout_s >= 0) {
                r = append_option(buf, size, &pos, "timeout", o->timeout_s);
                if (r < 0)
                        return r;
        }
        if (o->windowsize >= 0) {
                r = append_option(buf, size, &pos, "windowsize", o->windowsize);
                if (r < 0)
                        return r;
        }

        return (int) pos;
}

void tftp_build_data_header(uint8_t *buf, uint16_t block) {
        px_write_be16(buf, TFTP_OP_DATA);
        px_write_be16(buf + 2, block);
}

int tftp_build_error(uint8_t *buf, size_t size, uint16_t code, const char *msg) {
        size_t pos = 4;

        if (!buf)
                return -EINVAL;
        if (size < 5)
                return -ENOBUFS;

        px_write_be16(buf, TFTP_OP_ERROR);
        px_write_be16(buf + 2, code);

        /* Truncate the message to what fits (and to 255 characters); replace anything that is not
         * printable ASCII so a client never sees control characters from us. */
        for (const char *p = msg ?: ""; *p && pos < size - 1 && pos - 4 < 255; p++)
                buf[pos++] = ((unsigned char) *p >= 0x20 && (unsigned char) *p <= 0x7e) ? (uint8_t) *p : '?';
        buf[pos++] = 0;

        return (int) pos;
}
