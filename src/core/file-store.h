/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The files pixiecore serves, by ID: bootloaders, kernel, initrds. Local files are mapped;
 * http(s) URLs are fetched once at startup into the cache directory and mapped, so a rack of
 * machines booting the same image costs one download. */

#include <gio/gio.h>

typedef struct PxFileStore PxFileStore;

PxFileStore *px_file_store_new(void);
void px_file_store_free(PxFileStore *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PxFileStore, px_file_store_free)

/* Loads `source` (a path or an http(s) URL) under `id`. Errors name the source. */
gboolean px_file_store_add(PxFileStore *s, const char *id, const char *source, GError **error);

/* New reference to the content, or NULL when there is no such ID. */
GBytes *px_file_store_get(PxFileStore *s, const char *id);
gboolean px_file_store_contains(PxFileStore *s, const char *id);
const char *px_file_store_get_source(PxFileStore *s, const char *id);
