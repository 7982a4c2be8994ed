/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Boot targets set at run time (over D-Bus): per machine (boot this / boot this once / ignore)
 * and a default. Persisted in the state directory (atomic write, fsync, rename) so they survive
 * a restart; a corrupt state file is logged, kept aside and ignored. No sd-bus here. */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef struct PxTarget {
        char *kernel;   /* local path or http(s) URL */
        char **initrds; /* NULL-terminated, never NULL */
        char *cmdline;  /* may be NULL */
} PxTarget;

void px_target_clear(PxTarget *t);
void px_target_copy(PxTarget *dst, const PxTarget *src);

typedef enum PxMachineRuleKind {
        PX_MACHINE_RULE_TARGET,
        PX_MACHINE_RULE_IGNORE,
} PxMachineRuleKind;

typedef struct PxMachineRule {
        uint8_t mac[6];
        PxMachineRuleKind kind;
        PxTarget target;  /* empty for IGNORE */
        bool once;        /* boot it the next time only, then fall back */
        guint64 set_usec; /* CLOCK_REALTIME when set */
} PxMachineRule;

typedef struct PxTargetStore PxTargetStore;

#define PX_TARGET_ERROR (px_target_error_quark())
GQuark px_target_error_quark(void);
typedef enum {
        PX_TARGET_ERROR_INVALID,   /* bad MAC, kernel missing/unreadable, bad URL, bad cmdline */
        PX_TARGET_ERROR_NOT_FOUND, /* no rule for this machine / no default to clear */
        PX_TARGET_ERROR_STORAGE,   /* could not persist: nothing was changed */
        PX_TARGET_ERROR_LIMIT,     /* too many machine rules */
} PxTargetError;

#define PX_TARGET_MAX_MACHINES 65536

/* state_dir NULL: in memory only. Loads <state_dir>/targets.json when present. The
 * bootloader decides which cmdlines are acceptable (see px_cmdline_check).
 *
 * Faults: a state directory that exists but cannot be written (read-only, not ours) is a
 * warning naming it and the problem; the persisted targets are served and every change fails
 * with PX_TARGET_ERROR_STORAGE (so does a change on a full disk), leaving targets.json as it was.
 * A directory that cannot be created or opened, or a targets.json that cannot be read, is an
 * error. Temporary files a crash left behind (".targets.json.XXXXXX") are removed. */
PxTargetStore *px_target_store_new(const char *state_dir, PxBootloader bootloader, GError **error);
void px_target_store_free(PxTargetStore *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PxTargetStore, px_target_store_free)

/* Checks a target: kernel and initrds exist and are readable regular files (or http/https
 * URLs), cmdline passes px_cmdline_check. Error messages name the offending file. */
gboolean px_target_validate(PxTargetStore *s, const PxTarget *t, GError **error);

/* Each mutation validates, then persists, and changes nothing when either fails. */
gboolean px_target_store_set_machine(PxTargetStore *s, const uint8_t mac[6], const PxTarget *t, bool once,
                                     GError **error);
gboolean px_target_store_ignore_machine(PxTargetStore *s, const uint8_t mac[6], GError **error);
gboolean px_target_store_clear_machine(PxTargetStore *s, const uint8_t mac[6], GError **error);
/* Drops a once-rule after it was used. Returns TRUE if one was dropped. */
gboolean px_target_store_consume_once(PxTargetStore *s, const uint8_t mac[6], GError **error);
gboolean px_target_store_set_default(PxTargetStore *s, const PxTarget *t, GError **error);
gboolean px_target_store_clear_default(PxTargetStore *s, GError **error);

const PxMachineRule *px_target_store_lookup(PxTargetStore *s, const uint8_t mac[6]);
const PxTarget *px_target_store_get_default(PxTargetStore *s); /* NULL if none */
/* All machine rules, sorted by MAC; the array does not own the rules. */
GPtrArray *px_target_store_list(PxTargetStore *s);
/* Bumped on every change, so observers (D-Bus properties) can tell. */
guint64 px_target_store_generation(PxTargetStore *s);
