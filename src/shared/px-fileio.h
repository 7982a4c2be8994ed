/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* File helpers: the state files in the state directory (file-id.key, targets.json), and the
 * mapped files that boot files are served from. */

#include <glib.h>
#include <stddef.h>
#include <sys/types.h>

/* Reads until n bytes or end of file, retrying on EINTR and short reads. Returns the number of
 * bytes read, or -1 with errno set. */
ssize_t px_read_full(int fd, void *buf, size_t n);

/* Writes all n bytes, retrying on EINTR and short writes. Returns 0, or -1 with errno set. */
int px_write_full(int fd, const void *buf, size_t n);

typedef enum PxAtomicWriteFlags {
        PX_ATOMIC_WRITE_NOREPLACE = 1 << 0, /* do not replace an existing file: -EEXIST instead */
} PxAtomicWriteFlags;

/* Installs <dir>/<name> with the given contents so that a reader, or a crash at any moment,
 * sees either the old file or the complete new one: writes a fresh temporary file
 * "<dir>/.<name>.XXXXXX" with exactly `mode`, fsyncs it, renames it over <dir>/<name> (with
 * PX_ATOMIC_WRITE_NOREPLACE only if <dir>/<name> does not exist yet), then fsyncs <dir>. The
 * temporary file is removed on every failure; before the rename nothing visible has changed.
 *
 * Returns 0, or a negative errno with error set in the G_FILE_ERROR domain (a message naming the
 * path and the errno text). With NOREPLACE, an existing file gives -EEXIST (G_FILE_ERROR_EXIST).
 * A failing directory fsync is reported too, although the new file is in place by then. */
int px_write_file_atomic(const char *dir, const char *name, const void *data, size_t n, mode_t mode,
                         PxAtomicWriteFlags flags, GError **error);

/* Removes the temporary files "<dir>/.<name>.XXXXXX" that px_write_file_atomic() leaves behind
 * when the process dies between creating and renaming one. Only for startup, when no write to
 * <name> can be in progress. Returns how many were removed, or a negative errno. */
int px_remove_stale_temp_files(int dirfd, const char *name);

/* Maps the whole file at path read-only and keeps its descriptor open for as long as the
 * returned bytes live, so that they can be sent with sendfile() (px_mapped_file_fd()) instead of
 * being copied. An empty file gives empty bytes. NULL with error (G_FILE_ERROR, naming the path). */
GBytes *px_map_file(const char *path, GError **error);

/* The descriptor of the file that px_map_file() mapped into `bytes` (valid while they are), or
 * -1 for any other bytes, a slice of them included. */
int px_mapped_file_fd(GBytes *bytes);
