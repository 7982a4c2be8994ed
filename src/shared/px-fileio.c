/* SPDX-License-Identifier: Apache-2.0 */
#include "px-fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "px-macro.h"

ssize_t px_read_full(int fd, void *buf, size_t n) {
        size_t got = 0;

        while (got < n) {
                ssize_t k = read(fd, (uint8_t *) buf + got, n - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -1;
                if (k == 0)
                        break;
                got += (size_t) k;
        }
        return (ssize_t) got;
}

int px_write_full(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -1;
                if (k == 0) {
                        errno = EIO;
                        return -1;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int fail(GError **error, int err, const char *what, const char *dir, const char *name) {
        g_autofree char *path = name ? g_build_filename(dir, name, NULL) : g_strdup(dir);

        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s %s: %s", what, path, g_strerror(err));
        return -err;
}

#define TMP_SUFFIX_LEN 6 /* ".%06x" */

static bool is_tmp_name(const char *entry, const char *name) {
        size_t n = strlen(name);

        if (entry[0] != '.' || strncmp(entry + 1, name, n) != 0 || entry[1 + n] != '.')
                return false;
        entry += 2 + n;
        return strlen(entry) == TMP_SUFFIX_LEN && strspn(entry, "0123456789abcdef") == TMP_SUFFIX_LEN;
}

int px_remove_stale_temp_files(int dirfd, const char *name) {
        _cleanup_close_ int fd = -1;
        DIR *d;
        struct dirent *de;
        int removed = 0;

        fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d)
                return -errno;
        fd = -1; /* the DIR owns it now */
        while ((de = readdir(d)))
                if (is_tmp_name(de->d_name, name) && unlinkat(dirfd, de->d_name, 0) == 0)
                        removed++;
        closedir(d);
        return removed;
}

/* Creates "<dir>/.<name>.XXXXXX" exclusively, relative to dirfd. */
static int tmp_create(int dirfd, const char *name, mode_t mode, char **ret_tmp) {
        for (int attempt = 0; attempt < 100; attempt++) {
                g_autofree char *tmp = g_strdup_printf(".%s.%06x", name, g_random_int() & 0xffffff);
                int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, mode);

                if (fd >= 0) {
                        *ret_tmp = g_steal_pointer(&tmp);
                        return fd;
                }
                if (errno != EEXIST)
                        return -1;
        }
        errno = EEXIST;
        return -1;
}

static int install(int dirfd, const char *tmp, const char *name, PxAtomicWriteFlags flags) {
        int r;

        if (!(flags & PX_ATOMIC_WRITE_NOREPLACE))
                return renameat(dirfd, tmp, dirfd, name);

        r = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);
        if (r < 0 && (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP)) {
                /* file system without RENAME_NOREPLACE: link() does not replace either */
                r = linkat(dirfd, tmp, dirfd, name, 0);
                if (r == 0)
                        (void) unlinkat(dirfd, tmp, 0);
        }
        return r;
}

int px_write_file_atomic(const char *dir, const char *name, const void *data, size_t n, mode_t mode,
                         PxAtomicWriteFlags flags, GError **error) {
        g_autofree char *tmp = NULL;
        _cleanup_close_ int dirfd = -1, fd = -1;
        int err;

        g_return_val_if_fail(dir && name && (data || n == 0), -EINVAL);

        dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return fail(error, errno, "cannot open directory", dir, NULL);

        fd = tmp_create(dirfd, name, mode, &tmp);
        if (fd < 0)
                return fail(error, errno, "cannot create a temporary file for", dir, name);
        if (fchmod(fd, mode) < 0 || px_write_full(fd, data, n) < 0 || fsync(fd) < 0) {
                err = errno;
                (void) unlinkat(dirfd, tmp, 0);
                return fail(error, err, "cannot write", dir, name);
        }
        /* close() can report a deferred write error (NFS) */
        if (close(px_steal_fd(&fd)) < 0 && errno != EINTR) {
                err = errno;
                (void) unlinkat(dirfd, tmp, 0);
                return fail(error, err, "cannot write", dir, name);
        }
        if (install(dirfd, tmp, name, flags) < 0) {
                err = errno;
                (void) unlinkat(dirfd, tmp, 0);
                return fail(error, err, "cannot install", dir, name);
        }
        /* Some file systems cannot fsync a directory (EINVAL): nothing more can be done there. */
        if (fsync(dirfd) < 0 && errno != EINVAL && errno != ENOTSUP)
                return fail(error, errno, "cannot sync directory", dir, NULL);
        return 0;
}
