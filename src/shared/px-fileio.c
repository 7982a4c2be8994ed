/* SPDX-License-Identifier: Apache-2.0 */
#include "px-fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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

/* ---- mapped files ---- */

typedef struct MappedFile {
        void *addr;
        size_t size;
        int fd;
} MappedFile;

/* start address -> MappedFile, for px_mapped_file_fd(); startup may map from a worker thread */
static GHashTable *mapped_files;
G_LOCK_DEFINE_STATIC(mapped_files);

static void mapped_file_free(gpointer userdata) {
        MappedFile *f = userdata;

        G_LOCK(mapped_files);
        g_hash_table_remove(mapped_files, f->addr);
        G_UNLOCK(mapped_files);
        (void) munmap(f->addr, f->size);
        close(f->fd);
        g_free(f);
}

GBytes *px_map_file(const char *path, GError **error) {
        _cleanup_close_ int fd = -1;
        MappedFile *f;
        struct stat st;
        void *addr;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0) {
                int e = errno;
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", path, g_strerror(e));
                return NULL;
        }
        if (!S_ISREG(st.st_mode)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not a regular file", path);
                return NULL;
        }
        if (st.st_size == 0)
                return g_bytes_new(NULL, 0); /* nothing to map */
        addr = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (addr == MAP_FAILED) {
                int e = errno;
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: cannot map: %s", path, g_strerror(e));
                return NULL;
        }
        f = g_new0(MappedFile, 1);
        f->addr = addr;
        f->size = (size_t) st.st_size;
        f->fd = fd;
        fd = -1; /* the mapping's now */
        G_LOCK(mapped_files);
        if (!mapped_files)
                mapped_files = g_hash_table_new(NULL, NULL);
        g_hash_table_insert(mapped_files, addr, f);
        G_UNLOCK(mapped_files);
        return g_bytes_new_with_free_func(addr, f->size, mapped_file_free, f);
}

int px_mapped_file_fd(GBytes *bytes) {
        size_t size;
        const void *addr = g_bytes_get_data(bytes, &size);
        MappedFile *f;
        int fd = -1;

        if (!addr)
                return -1;
        G_LOCK(mapped_files);
        f = mapped_files ? g_hash_table_lookup(mapped_files, addr) : NULL;
        if (f && f->size == size)
                fd = f->fd;
        G_UNLOCK(mapped_files);
        return fd;
}
