/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Opaque, unforgeable, restart-stable IDs for upstream URLs (API mode).
 *
 * pixiecore serves the API server's kernel, initrd and cmdline URLs to a booting machine at
 * /_/file/<mac>/<id> instead of handing out the URLs, so that it is not an open proxy and the
 * URLs (which may carry tokens) stay secret. An ID is
 *
 *     base64url, no padding ( version 0x01 || nonce[12] || AES-256-GCM(key, nonce, aad = version,
 *                             expiry (u64 BE, Unix seconds) || mac[6] || url) || tag[16] )
 *
 * so it names the URL, the machine it was minted for and an expiry, and cannot be made or
 * altered without the key: a changed, truncated or extended ID fails authentication (the
 * encoding is checked to be canonical, so no two strings open the same ID). Every seal uses a
 * fresh random nonce, so IDs differ on every API call even for the same URL.
 *
 * The 32-byte key lives in <state_dir>/file-id.key (mode 0600, created with write-to-temp,
 * fsync, no-replace rename and a directory fsync), so IDs survive a daemon restart. A key file
 * that is damaged (wrong size, magic or checksum) is renamed to file-id.key.corrupt-<time>
 * with a warning and a new key is made; IDs minted with the old key then stop working. A key
 * file that cannot be read for other reasons (permissions, not a regular file, a symlink) is an
 * error, never silently replaced. A key file that cannot be written (the state directory is
 * read-only, full, or not ours) is not: a warning names the directory and the problem, and a key
 * kept in memory is used, so machines still boot; only IDs handed out before a restart stop
 * working then (as with no state directory at all). Temporary files that a crash left behind
 * (".file-id.key.XXXXXX") are removed when the key is loaded.
 *
 * ID length: at most PX_FILE_ID_MAX_LEN characters, from the alphabet [A-Za-z0-9_-], so an ID
 * is safe in a URL path segment and in iPXE scripts as is. */

#include <glib.h>
#include <stdint.h>

#define PX_FILE_ID_MAX_URL 4096
/* version + nonce + expiry + mac + url + tag, base64 without padding */
#define PX_FILE_ID_RAW_OVERHEAD (1 + 12 + 8 + 6 + 16)
#define PX_FILE_ID_MAX_LEN      (((PX_FILE_ID_RAW_OVERHEAD + PX_FILE_ID_MAX_URL) * 4 + 2) / 3)

#define PX_FILE_ID_ERROR (px_file_id_error_quark())
GQuark px_file_id_error_quark(void);
typedef enum {
        PX_FILE_ID_ERROR_INVALID,       /* not an ID of ours: malformed, forged or tampered with */
        PX_FILE_ID_ERROR_WRONG_MACHINE, /* authentic, but minted for another MAC */
        PX_FILE_ID_ERROR_EXPIRED,       /* authentic, but past its expiry */
        PX_FILE_ID_ERROR_URL,           /* seal: URL empty or longer than PX_FILE_ID_MAX_URL */
        PX_FILE_ID_ERROR_KEY,           /* the key file could not be read or written */
} PxFileIdError;

typedef struct PxFileIds PxFileIds;

/* Loads the key from state_dir (created 0700 if missing), creating the key file if absent. */
PxFileIds *px_file_ids_new(const char *state_dir, GError **error);
/* A random key that lives only in memory (tests, or no state directory). */
PxFileIds *px_file_ids_new_ephemeral(void);
/* Wipes the key. Accepts NULL. */
void px_file_ids_free(PxFileIds *ids);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PxFileIds, px_file_ids_free)

/* Mints an ID for url, usable by machine `mac` for lifetime_s seconds from now. */
char *px_file_id_seal(PxFileIds *ids, const uint8_t mac[6], const char *url, guint64 lifetime_s, GError **error);

/* Opens an ID. expected_mac NULL skips the machine check. On success *ret_url (and *ret_mac
 * when ret_mac is non-NULL) are set; on failure they are untouched. Errors:
 * PX_FILE_ID_ERROR_INVALID, _WRONG_MACHINE or _EXPIRED. Never does I/O. */
gboolean px_file_id_open(PxFileIds *ids, const char *id, const uint8_t *expected_mac, char **ret_url, uint8_t *ret_mac,
                         GError **error);
