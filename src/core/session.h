/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* One boot session per machine (MAC): where it is in its boot and how many bytes it got.
 * Any host on the LAN can create sessions, so the table is capped (oldest evicted) and idle
 * sessions expire. Observers (logging, later the D-Bus objects) hear about every change. */

#include <glib.h>
#include <netinet/in.h>
#include <stdint.h>

#include "px-macro.h"
#include "pxe.h"

typedef enum PxSessionState {
        PX_SESSION_DISCOVERED,         /* PXE DHCPDISCOVER seen */
        PX_SESSION_OFFERED,            /* ProxyDHCP offer sent */
        PX_SESSION_PXE_ACKED,          /* boot server (port 4011) answer sent */
        PX_SESSION_LOADING_BOOTLOADER, /* bootloader being sent over TFTP */
        PX_SESSION_BOOTLOADER_LOADED,  /* bootloader transfer complete */
        PX_SESSION_SCRIPT_SENT,        /* iPXE script or PXELINUX config served */
        PX_SESSION_LOADING_KERNEL,
        PX_SESSION_LOADING_INITRD,
        PX_SESSION_BOOTING, /* everything sent: the machine is starting its kernel */
        PX_SESSION_IGNORED, /* policy says: do not boot this machine */
        PX_SESSION_FAILED,
        _PX_SESSION_STATE_MAX,
        _PX_SESSION_STATE_INVALID = -EINVAL,
} PxSessionState;

const char *px_session_state_to_string(PxSessionState s);

typedef struct PxSessionTable PxSessionTable;

typedef struct PxSession {
        PxSessionTable *table;
        uint8_t mac[6];
        char mac_str[PX_MAC_STRLEN];
        uint64_t serial; /* unique per session, for object paths and logs */
        PxFirmware firmware;
        uint16_t arch;
        struct in_addr client_addr;
        PxSessionState state;
        char *current_file;
        uint64_t bytes_sent;
        uint64_t bytes_total;
        uint64_t started_usec; /* CLOCK_REALTIME */
        uint64_t updated_usec;
        uint64_t last_activity_monotonic_usec;
        char *error;
        char *target_source;     /* "static", later "machine", "api", "default" */
        struct PxBootSpec *spec; /* what the last script told it to fetch */
} PxSession;

typedef struct PxSessionObserver {
        void (*added)(void *userdata, PxSession *s);
        void (*changed)(void *userdata, PxSession *s);
        void (*removed)(void *userdata, PxSession *s);
        void *userdata;
} PxSessionObserver;

PxSessionTable *px_session_table_new(unsigned max_sessions, uint64_t idle_timeout_usec);
void px_session_table_free(PxSessionTable *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PxSessionTable, px_session_table_free)

void px_session_table_add_observer(PxSessionTable *t, const PxSessionObserver *o);

PxSession *px_session_table_lookup(PxSessionTable *t, const uint8_t mac[6]);
/* Finds or creates the session for mac. A firmware DISCOVER (restart = true) from a machine
 * whose previous boot finished or failed starts a fresh session. */
PxSession *px_session_table_ensure(PxSessionTable *t, const uint8_t mac[6], bool restart);
/* Drops sessions idle for longer than the timeout. Returns how many were dropped. */
unsigned px_session_table_expire(PxSessionTable *t);
unsigned px_session_table_size(PxSessionTable *t);
uint64_t px_session_table_completed_boots(PxSessionTable *t);
uint64_t px_session_table_evicted(PxSessionTable *t);
/* Iterates in creation order. */
void px_session_table_foreach(PxSessionTable *t, void (*fn)(PxSession *s, void *userdata), void *userdata);

void px_session_set_state(PxSession *s, PxSessionState state);
void px_session_set_client(PxSession *s, PxFirmware firmware, uint16_t arch);
void px_session_set_client_addr(PxSession *s, struct in_addr addr);
/* Starts a file: resets progress. */
void px_session_begin_file(PxSession *s, PxSessionState state, const char *file, uint64_t total);
void px_session_set_progress(PxSession *s, uint64_t sent);
void px_session_fail(PxSession *s, const char *error);
/* The policy said no: state IGNORED with the reason in Error, no current file. */
void px_session_set_ignored(PxSession *s, const char *reason);
void px_session_set_target_source(PxSession *s, const char *source);
void px_session_set_spec(PxSession *s, struct PxBootSpec *spec);
