/* SPDX-License-Identifier: Apache-2.0 */
#include "px-macro.h"

#include <stdio.h>
#include <string.h>

/* Without printf: this runs for every DHCP packet. */
static void mac_format(const uint8_t mac[6], char sep, char buf[PX_MAC_STRLEN]) {
        static const char hex[] = "0123456789abcdef";

        for (int i = 0; i < 6; i++) {
                buf[i * 3] = hex[mac[i] >> 4];
                buf[i * 3 + 1] = hex[mac[i] & 0xf];
                buf[i * 3 + 2] = i < 5 ? sep : '\0';
        }
}

void px_mac_to_string(const uint8_t mac[6], char buf[PX_MAC_STRLEN]) {
        mac_format(mac, ':', buf);
}

void px_mac_to_dashed(const uint8_t mac[6], char buf[PX_MAC_STRLEN]) {
        mac_format(mac, '-', buf);
}

uint64_t px_mac_to_u64(const uint8_t mac[6]) {
        uint64_t k = 0;
        for (int i = 0; i < 6; i++)
                k = k << 8 | mac[i];
        return k;
}

int px_unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int px_mac_from_string(const char *s, uint8_t ret_mac[6]) {
        uint8_t mac[6];
        char sep = 0;

        if (!s || strlen(s) != 17)
                return -EINVAL;
        for (int i = 0; i < 6; i++) {
                int hi = px_unhexchar(s[i * 3]), lo = px_unhexchar(s[i * 3 + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                mac[i] = (uint8_t) (hi << 4 | lo);
                if (i < 5) {
                        char c = s[i * 3 + 2];
                        if (c != ':' && c != '-')
                                return -EINVAL;
                        if (sep && c != sep)
                                return -EINVAL;
                        sep = c;
                }
        }
        memcpy(ret_mac, mac, 6);
        return 0;
}

int px_first_directory(const char *list, char **ret) {
        char *d;

        if (!list || !*list || *list == ':')
                return -ENOENT;
        d = strndup(list, strcspn(list, ":"));
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}
