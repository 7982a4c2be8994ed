/* SPDX-License-Identifier: Apache-2.0 */
#include "file-id.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "px-fileio.h"
#include "px-macro.h"

G_DEFINE_QUARK(px - file - id - error - quark, px_file_id_error)

#define KEY_SIZE    32
#define NONCE_SIZE  12
#define TAG_SIZE    16
#define ID_VERSION  0x01
#define HEADER_SIZE (1 + NONCE_SIZE)
#define PLAIN_FIXED (8 + 6) /* expiry, mac */

/* Key file: magic, key, SHA-256(magic || key). */
#define KEY_FILE       "file-id.key"
#define KEY_MAGIC      "PXK1"
#define KEY_MAGIC_SIZE 4
#define KEY_FILE_SIZE  (KEY_MAGIC_SIZE + KEY_SIZE + 32)

struct PxFileIds {
        uint8_t key[KEY_SIZE];
        gnutls_aead_cipher_hd_t aead;
};

/* ---- base64url without padding, canonical ---------------------------------------------------- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const uint8_t *in, size_t n) {
        char *out = g_malloc((n + 2) / 3 * 4 + 1), *o = out;
        size_t i = 0;

        for (; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
                *o++ = b64_alphabet[v >> 18];
                *o++ = b64_alphabet[(v >> 12) & 63];
                *o++ = b64_alphabet[(v >> 6) & 63];
                *o++ = b64_alphabet[v & 63];
        }
        if (n - i == 1) {
                *o++ = b64_alphabet[in[i] >> 2];
                *o++ = b64_alphabet[(in[i] & 3) << 4];
        } else if (n - i == 2) {
                uint32_t v = (uint32_t) in[i] << 8 | in[i + 1];
                *o++ = b64_alphabet[v >> 10];
                *o++ = b64_alphabet[(v >> 4) & 63];
                *o++ = b64_alphabet[(v & 15) << 2];
        }
        *o = '\0';
        return out;
}

static int b64_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '-')
                return 62;
        if (c == '_')
                return 63;
        return -1;
}

/* Refuses anything but the one encoding b64url_encode() produces for some input: other
 * characters, padding, a length of 4k+1, and non-zero bits in the last character. */
static uint8_t *b64url_decode(const char *in, size_t len, size_t *ret_n) {
        g_autofree uint8_t *out = NULL;
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t n = 0;

        if (len % 4 == 1)
                return NULL;
        out = g_malloc(len / 4 * 3 + 3);
        for (size_t i = 0; i < len; i++) {
                int v = b64_value(in[i]);
                if (v < 0)
                        return NULL;
                acc = acc << 6 | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (uint8_t) (acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        if (acc != 0) /* leftover bits must be zero */
                return NULL;
        *ret_n = n;
        return g_steal_pointer(&out);
}

/* ---- Key ------------------------------------------------------------------------------------- */

static gboolean key_checksum(const uint8_t *data, size_t n, uint8_t ret[32]) {
        return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, n, ret) == 0;
}

static gboolean key_file_parse(const uint8_t *buf, size_t n, uint8_t ret_key[KEY_SIZE]) {
        uint8_t sum[32];

        if (n != KEY_FILE_SIZE || memcmp(buf, KEY_MAGIC, KEY_MAGIC_SIZE) != 0)
                return FALSE;
        if (!key_checksum(buf, KEY_MAGIC_SIZE + KEY_SIZE, sum) ||
            memcmp(sum, buf + KEY_MAGIC_SIZE + KEY_SIZE, sizeof(sum)) != 0)
                return FALSE;
        memcpy(ret_key, buf + KEY_MAGIC_SIZE, KEY_SIZE);
        return TRUE;
}

static gboolean key_error(GError **error, int err, const char *what, const char *path) {
        g_set_error(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY, "%s %s: %s", what, path, g_strerror(err));
        return FALSE;
}

/* Reads the key file. Returns 1 with the key, 0 if absent or damaged (*ret_damaged tells which),
 * -1 with error set when it cannot be read. */
static int key_file_read(int dirfd, const char *path, uint8_t key[KEY_SIZE], gboolean *ret_damaged, GError **error) {
        _cleanup_close_ int fd = -1;
        uint8_t buf[KEY_FILE_SIZE + 1];
        struct stat st;
        ssize_t n;

        *ret_damaged = FALSE;
        fd = openat(dirfd, KEY_FILE, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                key_error(error, errno, "cannot open", path);
                return -1;
        }
        if (fstat(fd, &st) < 0) {
                key_error(error, errno, "cannot stat", path);
                return -1;
        }
        if (!S_ISREG(st.st_mode)) {
                g_set_error(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY, "%s is not a regular file", path);
                return -1;
        }
        n = px_read_full(fd, buf, sizeof(buf));
        if (n < 0) {
                key_error(error, errno, "cannot read", path);
                return -1;
        }
        if (!key_file_parse(buf, (size_t) n, key)) {
                explicit_bzero(buf, sizeof(buf));
                *ret_damaged = TRUE;
                return 0;
        }
        explicit_bzero(buf, sizeof(buf));
        if (st.st_mode & 077) {
                g_warning("%s was readable by others; making it private (mode 0600)", path);
                (void) fchmod(fd, 0600);
        }
        return 1;
}

/* Writes a new key file and moves it into place unless one appeared meanwhile. Returns 1 when
 * ours is in place, 0 when another one won the race, -1 on error. When only the writing failed
 * (read-only or full file system, no permission), *ret_unwritable is set and the new key is
 * still in `key`. */
static int key_file_create(int dirfd, const char *state_dir, const char *path, uint8_t key[KEY_SIZE],
                           gboolean *ret_unwritable, GError **error) {
        g_autoptr(GError) local = NULL;
        uint8_t buf[KEY_FILE_SIZE];
        int r;

        *ret_unwritable = FALSE;

        if (gnutls_rnd(GNUTLS_RND_KEY, key, KEY_SIZE) < 0) {
                g_set_error_literal(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY, "no randomness for a new key");
                return -1;
        }
        memcpy(buf, KEY_MAGIC, KEY_MAGIC_SIZE);
        memcpy(buf + KEY_MAGIC_SIZE, key, KEY_SIZE);
        if (!key_checksum(buf, KEY_MAGIC_SIZE + KEY_SIZE, buf + KEY_MAGIC_SIZE + KEY_SIZE)) {
                explicit_bzero(buf, sizeof(buf));
                g_set_error_literal(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY, "SHA-256 unavailable");
                return -1;
        }

        r = px_write_file_atomic(state_dir, KEY_FILE, buf, sizeof(buf), 0600, PX_ATOMIC_WRITE_NOREPLACE, &local);
        explicit_bzero(buf, sizeof(buf));
        if (r == -EEXIST)
                return 0;
        if (r < 0) {
                *ret_unwritable = TRUE;
                g_set_error(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY, "%s", local->message);
                return -1;
        }
        return 1;
}

static gboolean key_load_or_create(const char *state_dir, uint8_t key[KEY_SIZE], GError **error) {
        g_autofree char *path = g_build_filename(state_dir, KEY_FILE, NULL);
        _cleanup_close_ int dirfd = -1;

        if (g_mkdir_with_parents(state_dir, 0700) < 0)
                return key_error(error, errno, "cannot create directory", state_dir);
        dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return key_error(error, errno, "cannot open directory", state_dir);

        /* what a crash between writing and renaming a new key left behind */
        px_remove_stale_temp_files(dirfd, KEY_FILE);
        /* A few rounds in case another process creates or replaces the file at the same time. */
        for (int attempt = 0; attempt < 4; attempt++) {
                g_autoptr(GError) local = NULL;
                gboolean damaged, unwritable;
                int r = key_file_read(dirfd, path, key, &damaged, error);

                if (r < 0)
                        return FALSE;
                if (r > 0)
                        return TRUE;
                if (damaged) {
                        g_autofree char *aside = g_strdup_printf("%s.corrupt-%" G_GINT64_FORMAT, KEY_FILE,
                                                                 g_get_real_time() / G_USEC_PER_SEC);
                        g_warning("%s is damaged; moving it to %s and making a new key (file IDs handed out "
                                  "before no longer open)",
                                  path, aside);
                        if (renameat(dirfd, KEY_FILE, dirfd, aside) < 0 && errno != ENOENT) {
                                g_warning("state directory %s: cannot move aside %s: %s; using a file ID key kept "
                                          "in memory only, so file links handed to machines stop working when "
                                          "pixiecore restarts",
                                          state_dir, path, g_strerror(errno));
                                if (gnutls_rnd(GNUTLS_RND_KEY, key, KEY_SIZE) < 0)
                                        return key_error(error, EIO, "no randomness for a key instead of", path);
                                return TRUE;
                        }
                }
                r = key_file_create(dirfd, state_dir, path, key, &unwritable, &local);
                if (r < 0 && unwritable) {
                        /* Degraded, not dead: a boot server that cannot write its state directory
                         * (remounted read-only after an error, full, wrong owner) still boots
                         * machines. Only links handed out before a restart are lost. */
                        g_warning("state directory %s: %s; using a file ID key kept in memory only, so file links "
                                  "handed to machines stop working when pixiecore restarts",
                                  state_dir, local->message);
                        return TRUE;
                }
                if (r < 0) {
                        g_propagate_error(error, g_steal_pointer(&local));
                        return FALSE;
                }
                if (r > 0)
                        return TRUE;
        }
        g_set_error(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY, "%s keeps changing; giving up", path);
        return FALSE;
}

/* ---- IDs ------------------------------------------------------------------------------------- */

static PxFileIds *file_ids_new_with_key(const uint8_t key[KEY_SIZE], GError **error) {
        g_autofree PxFileIds *ids = g_new0(PxFileIds, 1);
        gnutls_datum_t k = {.data = ids->key, .size = KEY_SIZE};
        int r;

        memcpy(ids->key, key, KEY_SIZE);
        r = gnutls_aead_cipher_init(&ids->aead, GNUTLS_CIPHER_AES_256_GCM, &k);
        if (r < 0) {
                explicit_bzero(ids->key, KEY_SIZE);
                g_set_error(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY, "AES-256-GCM unavailable: %s",
                            gnutls_strerror(r));
                return NULL;
        }
        return g_steal_pointer(&ids);
}

PxFileIds *px_file_ids_new(const char *state_dir, GError **error) {
        uint8_t key[KEY_SIZE];
        PxFileIds *ids;

        g_return_val_if_fail(state_dir && *state_dir, NULL);
        if (!key_load_or_create(state_dir, key, error))
                return NULL;
        ids = file_ids_new_with_key(key, error);
        explicit_bzero(key, sizeof(key));
        return ids;
}

PxFileIds *px_file_ids_new_ephemeral(void) {
        uint8_t key[KEY_SIZE];
        PxFileIds *ids;

        if (gnutls_rnd(GNUTLS_RND_KEY, key, sizeof(key)) < 0)
                g_error("no randomness for a file ID key");
        ids = file_ids_new_with_key(key, NULL);
        explicit_bzero(key, sizeof(key));
        if (!ids)
                g_error("AES-256-GCM unavailable");
        return ids;
}

void px_file_ids_free(PxFileIds *ids) {
        if (!ids)
                return;
        gnutls_aead_cipher_deinit(ids->aead);
        explicit_bzero(ids->key, KEY_SIZE);
        g_free(ids);
}

static void write_be64(uint8_t *p, guint64 v) {
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t) v;
}

static guint64 read_be64(const uint8_t *p) {
        guint64 v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static guint64 now_s(void) {
        gint64 t = g_get_real_time() / G_USEC_PER_SEC;
        return t > 0 ? (guint64) t : 0;
}

char *px_file_id_seal(PxFileIds *ids, const uint8_t mac[6], const char *url, guint64 lifetime_s, GError **error) {
        g_autofree uint8_t *plain = NULL, *raw = NULL;
        size_t url_len, plain_len, ct_len;
        guint64 now = now_s(), expiry;
        int r;

        g_return_val_if_fail(ids && mac && url, NULL);
        url_len = strlen(url);
        if (url_len == 0 || url_len > PX_FILE_ID_MAX_URL) {
                g_set_error(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_URL, "URL is empty or longer than %d bytes",
                            PX_FILE_ID_MAX_URL);
                return NULL;
        }
        expiry = lifetime_s > G_MAXUINT64 - now ? G_MAXUINT64 : now + lifetime_s;

        plain_len = PLAIN_FIXED + url_len;
        plain = g_malloc(plain_len);
        write_be64(plain, expiry);
        memcpy(plain + 8, mac, 6);
        memcpy(plain + PLAIN_FIXED, url, url_len);

        ct_len = plain_len + TAG_SIZE;
        raw = g_malloc(HEADER_SIZE + ct_len);
        raw[0] = ID_VERSION;
        if (gnutls_rnd(GNUTLS_RND_NONCE, raw + 1, NONCE_SIZE) < 0) {
                g_set_error_literal(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY, "no randomness for a nonce");
                return NULL;
        }
        r = gnutls_aead_cipher_encrypt(ids->aead, raw + 1, NONCE_SIZE, raw, 1, TAG_SIZE, plain, plain_len,
                                       raw + HEADER_SIZE, &ct_len);
        if (r < 0 || ct_len != plain_len + TAG_SIZE) {
                g_set_error(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_KEY, "encryption failed: %s", gnutls_strerror(r));
                return NULL;
        }
        return b64url_encode(raw, HEADER_SIZE + ct_len);
}

gboolean px_file_id_open(PxFileIds *ids, const char *id, const uint8_t *expected_mac, char **ret_url, uint8_t *ret_mac,
                         GError **error) {
        g_autofree uint8_t *raw = NULL, *plain = NULL;
        size_t len, n = 0, plain_len;
        guint64 expiry;
        int r;

        g_return_val_if_fail(ids && id && ret_url, FALSE);
        len = strlen(id);
        if (len > PX_FILE_ID_MAX_LEN || !(raw = b64url_decode(id, len, &n)) ||
            n < HEADER_SIZE + PLAIN_FIXED + 1 + TAG_SIZE || raw[0] != ID_VERSION) {
                g_set_error_literal(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_INVALID, "malformed file ID");
                return FALSE;
        }
        plain_len = n - HEADER_SIZE - TAG_SIZE;
        plain = g_malloc(plain_len);
        r = gnutls_aead_cipher_decrypt(ids->aead, raw + 1, NONCE_SIZE, raw, 1, TAG_SIZE, raw + HEADER_SIZE,
                                       n - HEADER_SIZE, plain, &plain_len);
        if (r < 0 || plain_len != n - HEADER_SIZE - TAG_SIZE) {
                g_set_error_literal(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_INVALID,
                                    "file ID fails authentication (forged, altered, or from another key)");
                return FALSE;
        }
        if (memchr(plain + PLAIN_FIXED, '\0', plain_len - PLAIN_FIXED)) {
                g_set_error_literal(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_INVALID, "file ID holds a bad URL");
                return FALSE;
        }
        if (expected_mac && memcmp(plain + 8, expected_mac, 6) != 0) {
                g_set_error_literal(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_WRONG_MACHINE,
                                    "file ID was handed out to another machine");
                return FALSE;
        }
        expiry = read_be64(plain);
        if (now_s() >= expiry) {
                g_set_error(error, PX_FILE_ID_ERROR, PX_FILE_ID_ERROR_EXPIRED,
                            "file ID expired %" G_GUINT64_FORMAT " s ago", now_s() - expiry);
                return FALSE;
        }
        *ret_url = g_strndup((const char *) plain + PLAIN_FIXED, plain_len - PLAIN_FIXED);
        if (ret_mac)
                memcpy(ret_mac, plain + 8, 6);
        return TRUE;
}
