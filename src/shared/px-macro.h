/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Small plain-C helpers shared by every module. GLib-facing code uses g_autoptr instead. */

#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x)    __builtin_expect(!!(x), 1)
#define _unlikely_(x)  __builtin_expect(!!(x), 0)

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

static inline void px_freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(px_freep)

static inline int px_safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -1;
}

static inline void px_closep(int *fd) {
        *fd = px_safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(px_closep)

static inline int px_steal_fd(int *fd) {
        int r = *fd;
        *fd = -1;
        return r;
}

static inline uint16_t px_read_be16(const uint8_t *p) {
        return (uint16_t) ((p[0] << 8) | p[1]);
}

static inline uint32_t px_read_be32(const uint8_t *p) {
        return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static inline void px_write_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

static inline void px_write_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

/* A MAC address as text: "aa:bb:cc:dd:ee:ff" plus NUL. */
#define PX_MAC_STRLEN 18

void px_mac_to_string(const uint8_t mac[6], char buf[PX_MAC_STRLEN]);
/* "aa-bb-cc-dd-ee-ff": the form used in file names and URL paths. */
void px_mac_to_dashed(const uint8_t mac[6], char buf[PX_MAC_STRLEN]);
/* The MAC as a number, for hash table keys. */
uint64_t px_mac_to_u64(const uint8_t mac[6]);
/* The value of one hex digit (either case), -EINVAL for anything else. */
int px_unhexchar(char c);
/* Accepts aa:bb:cc:dd:ee:ff and aa-bb-cc-dd-ee-ff, any case. */
int px_mac_from_string(const char *s, uint8_t ret_mac[6]);

/* systemd passes $STATE_DIRECTORY, $CACHE_DIRECTORY, ... as colon-separated lists whose first entry
 * is ours: returns that entry, newly allocated (free()). -ENOENT when list is NULL or its first
 * entry is empty, -ENOMEM. */
int px_first_directory(const char *list, char **ret);
