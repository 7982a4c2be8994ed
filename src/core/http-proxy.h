/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Streams an upstream http(s) file to a booting machine (API mode): Content-Length passed on,
 * bounded size, I/O timeouts, cancelled when the machine goes away. Never an open proxy: the
 * caller has already opened a sealed file ID to get `url`. */

#include <libsoup/soup.h>

typedef struct PxProxyOptions {
        SoupSession *session;  /* for upstream requests */
        guint64 max_bytes;     /* refuse larger files */
        const char *log_mac;   /* for log lines, may be NULL */
        const char *log_name;  /* what the file is, for log lines ("kernel", "initrd 1") */
        const char *cache_dir; /* keep validated copies here (ETag/Last-Modified); NULL: no cache */
} PxProxyOptions;

/* Pauses msg, fetches url and streams it. With a cache directory, a copy is kept while
 * streaming; the next request revalidates it (If-None-Match / If-Modified-Since) and a 304 is
 * served from the copy, so a rack booting one image downloads it once. When the upstream cannot
 * be reached at all, a cached copy is served as it is. The response is 502 when the upstream fails before
 * the first byte; a failure mid-stream closes the connection so the client sees a short read. */
void px_http_proxy_serve(SoupServerMessage *msg, const char *url, const PxProxyOptions *options);
