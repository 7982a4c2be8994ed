/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Boot policy: what a machine should boot. Asynchronous by contract, so that a remote API
 * (API mode) and local targets (static mode, later D-Bus) sit behind the same interface and a
 * slow answer for one machine never delays another. */

#include <gio/gio.h>

#include "config.h"
#include "pxe.h"

typedef struct PxBootSpec {
        int refcount;
        char *kernel_id;   /* file ID served at /_/file/<mac>/<id> */
        char **initrd_ids; /* NULL-terminated */
        char *cmdline;
        char *message;
        char *ipxe_script; /* served verbatim instead of a generated script (API mode) */
        char *source;      /* where the decision came from: "static", "api", ... */
} PxBootSpec;

PxBootSpec *px_boot_spec_new(void);
PxBootSpec *px_boot_spec_ref(PxBootSpec *s);
void px_boot_spec_unref(PxBootSpec *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PxBootSpec, px_boot_spec_unref)

typedef struct PxMachine {
        uint8_t mac[6];
        PxFirmware firmware;
        uint16_t arch;
        /* "http://<address>:<port>" the machine reaches us at, when known (HTTP stage); URLs
         * in the command line are made to point there. NULL at the DHCP stage, where only the
         * yes/no answer matters. */
        const char *base_url;
} PxMachine;

/* spec NULL means "do not boot this machine now"; reason says why (for logs and sessions).
 * The callback runs exactly once: maybe before resolve() returns (static answers are
 * immediate), maybe later (API mode). Once `cancellable` is cancelled, or when the policy is
 * freed with calls in flight, it runs with spec NULL; callers free their userdata there. */
typedef void (*PxPolicyCallback)(PxBootSpec *spec, const char *reason, void *userdata);

typedef struct PxPolicy PxPolicy;
struct PxPolicy {
        const char *mode; /* "static", "api" */
        void (*resolve)(PxPolicy *p, const PxMachine *m, GCancellable *cancellable, PxPolicyCallback cb,
                        void *userdata);
        void (*free)(PxPolicy *p);
};

void px_policy_free(PxPolicy *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PxPolicy, px_policy_free)

typedef struct PxFileIds PxFileIds;

/* API mode: asks GET <api>/v1/boot/<mac> (libsoup, asynchronous) and keeps each answer for
 * config->api_cache_usec, so one boot costs one call. Kernel, initrd and cmdline URLs become
 * sealed file IDs (see file-id.h), served by pixiecore's own HTTP server. */
PxPolicy *px_api_policy_new(const PxConfig *config, PxFileIds *ids);

/* Statistics of the API policy, for logs and tests; NULL for other policies. */
typedef struct PxApiStats {
        uint64_t calls; /* HTTP requests made */
        uint64_t cache_hits;
        uint64_t joined;   /* resolves that waited for a call already in flight */
        uint64_t refusals; /* non-200, bad JSON, timeouts, transport errors */
} PxApiStats;
const PxApiStats *px_api_policy_get_stats(PxPolicy *p);

typedef struct PxTargetStore PxTargetStore;
typedef struct PxFileStore PxFileStore;

/* The policy order of the running daemon: a machine's own target (set over D-Bus) > the API's
 * answer (API mode) > the default target (set over D-Bus, else the configured static target) >
 * do not boot. `api` may be NULL; the layered policy takes ownership of it. Files of targets set
 * at run time are served through sealed IDs (ids). */
PxPolicy *px_layered_policy_new(const PxConfig *config, PxTargetStore *targets, PxPolicy *api, PxFileIds *ids);

/* What a machine would boot right now and why, without asking the API (API mode reports
 * source "api"). Strings are owned by the caller; kernel may be NULL when nothing boots. */
typedef struct PxResolution {
        char *source; /* "machine", "machine-once", "api", "default", "static", "ignored", "none" */
        char *kernel;
        char **initrds;
        char *cmdline;
        char *reason;
} PxResolution;
void px_resolution_clear(PxResolution *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PxResolution, px_resolution_clear)
void px_layered_policy_describe(PxPolicy *p, const uint8_t mac[6], PxResolution *ret);

/* Called once a machine was handed the script of a once-target: the rule is used up. */
void px_layered_policy_consumed(PxPolicy *p, const uint8_t mac[6], const PxBootSpec *spec);
/* The API policy inside, for statistics; NULL in static mode. */
PxPolicy *px_layered_policy_get_api(PxPolicy *p);
