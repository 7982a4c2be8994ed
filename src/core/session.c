/* SPDX-License-Identifier: Apache-2.0 */
#include "session.h"

#include <string.h>

#include "policy.h"

static const char *const state_names[_PX_SESSION_STATE_MAX] = {
        [PX_SESSION_DISCOVERED] = "discovered",
        [PX_SESSION_OFFERED] = "offered",
        [PX_SESSION_PXE_ACKED] = "pxe-acked",
        [PX_SESSION_LOADING_BOOTLOADER] = "loading-bootloader",
        [PX_SESSION_BOOTLOADER_LOADED] = "bootloader-loaded",
        [PX_SESSION_SCRIPT_SENT] = "script-sent",
        [PX_SESSION_LOADING_KERNEL] = "loading-kernel",
        [PX_SESSION_LOADING_INITRD] = "loading-initrd",
        [PX_SESSION_BOOTING] = "booting",
        [PX_SESSION_IGNORED] = "ignored",
        [PX_SESSION_FAILED] = "failed",
};

const char *px_session_state_to_string(PxSessionState s) {
        return s >= 0 && s < _PX_SESSION_STATE_MAX ? state_names[s] : NULL;
}

struct PxSessionTable {
        GHashTable *by_mac; /* the session's mac -> its GList link in order */
        GQueue order;       /* sessions (owned), least recently active first */
        GArray *observers;  /* PxSessionObserver */
        unsigned max_sessions;
        uint64_t idle_timeout_usec;
        uint64_t next_serial;
        uint64_t completed_boots;
        uint64_t evicted;
};

static void session_free(PxSession *s) {
        g_free(s->current_file);
        g_free(s->error);
        g_free(s->target_source);
        px_boot_spec_unref(s->spec);
        g_free(s);
}

/* Keys point at the session's own mac (lookups pass the caller's): no key allocations. */
static guint mac_hash(gconstpointer k) {
        guint64 v = px_mac_to_u64(k);
        return (guint) (v ^ (v >> 29));
}

static gboolean mac_equal(gconstpointer a, gconstpointer b) {
        return memcmp(a, b, 6) == 0;
}

PxSessionTable *px_session_table_new(unsigned max_sessions, uint64_t idle_timeout_usec) {
        PxSessionTable *t = g_new0(PxSessionTable, 1);

        t->by_mac = g_hash_table_new(mac_hash, mac_equal);
        g_queue_init(&t->order);
        t->observers = g_array_new(FALSE, TRUE, sizeof(PxSessionObserver));
        t->max_sessions = max_sessions ? max_sessions : 1;
        t->idle_timeout_usec = idle_timeout_usec;
        t->next_serial = 1;
        return t;
}

static void notify(PxSessionTable *t, PxSession *s, int what) {
        for (guint i = 0; i < t->observers->len; i++) {
                PxSessionObserver *o = &g_array_index(t->observers, PxSessionObserver, i);
                void (*fn)(void *, PxSession *) = what == 0 ? o->added : what == 1 ? o->changed : o->removed;
                if (fn)
                        fn(o->userdata, s);
        }
}

static GList *lookup_link(PxSessionTable *t, const uint8_t mac[6]) {
        return g_hash_table_lookup(t->by_mac, mac);
}

static void remove_session(PxSessionTable *t, PxSession *s) {
        GList *link = lookup_link(t, s->mac);

        notify(t, s, 2);
        g_hash_table_remove(t->by_mac, s->mac);
        if (link)
                g_queue_delete_link(&t->order, link);
        session_free(s);
}

void px_session_table_free(PxSessionTable *t) {
        PxSession *s;

        if (!t)
                return;
        while ((s = g_queue_peek_head(&t->order)))
                remove_session(t, s);
        g_hash_table_unref(t->by_mac);
        g_array_unref(t->observers);
        g_free(t);
}

void px_session_table_add_observer(PxSessionTable *t, const PxSessionObserver *o) {
        g_array_append_val(t->observers, *o);
}

PxSession *px_session_table_lookup(PxSessionTable *t, const uint8_t mac[6]) {
        GList *link = lookup_link(t, mac);
        return link ? link->data : NULL;
}

static bool state_is_final(PxSessionState s) {
        return s == PX_SESSION_BOOTING || s == PX_SESSION_FAILED || s == PX_SESSION_IGNORED;
}

static void touch(PxSession *s) {
        s->updated_usec = (uint64_t) g_get_real_time();
        s->last_activity_monotonic_usec = (uint64_t) g_get_monotonic_time();
}

PxSession *px_session_table_ensure(PxSessionTable *t, const uint8_t mac[6], bool restart) {
        GList *link = lookup_link(t, mac);
        PxSession *s = link ? link->data : NULL;

        if (s && !(restart && state_is_final(s->state))) {
                /* keep recency order: the most recently active session is evicted last (O(1):
                 * the link moves, the hash table keeps pointing at it) */
                g_queue_unlink(&t->order, link);
                g_queue_push_tail_link(&t->order, link);
                touch(s);
                return s;
        }
        if (s)
                remove_session(t, s);

        while (g_hash_table_size(t->by_mac) >= t->max_sessions) {
                remove_session(t, g_queue_peek_head(&t->order));
                t->evicted++;
        }

        s = g_new0(PxSession, 1);
        s->table = t;
        memcpy(s->mac, mac, 6);
        px_mac_to_string(mac, s->mac_str);
        s->serial = t->next_serial++;
        s->firmware = _PX_FIRMWARE_INVALID;
        s->state = PX_SESSION_DISCOVERED;
        s->started_usec = (uint64_t) g_get_real_time();
        touch(s);
        g_queue_push_tail(&t->order, s);
        g_hash_table_insert(t->by_mac, s->mac, t->order.tail);
        notify(t, s, 0);
        return s;
}

unsigned px_session_table_expire(PxSessionTable *t) {
        uint64_t now = (uint64_t) g_get_monotonic_time();
        unsigned n = 0;
        GList *l = t->order.head;

        while (l) {
                PxSession *s = l->data;
                l = l->next;
                if (now - s->last_activity_monotonic_usec >= t->idle_timeout_usec) {
                        remove_session(t, s);
                        n++;
                }
        }
        return n;
}

unsigned px_session_table_size(PxSessionTable *t) {
        return g_hash_table_size(t->by_mac);
}

uint64_t px_session_table_completed_boots(PxSessionTable *t) {
        return t->completed_boots;
}

uint64_t px_session_table_evicted(PxSessionTable *t) {
        return t->evicted;
}

void px_session_table_foreach(PxSessionTable *t, void (*fn)(PxSession *s, void *userdata), void *userdata) {
        for (GList *l = t->order.head; l;) {
                PxSession *s = l->data;
                l = l->next;
                fn(s, userdata);
        }
}

void px_session_set_state(PxSession *s, PxSessionState state) {
        touch(s);
        if (s->state == state)
                return;
        if (state == PX_SESSION_BOOTING)
                s->table->completed_boots++;
        s->state = state;
        notify(s->table, s, 1);
}

void px_session_set_client(PxSession *s, PxFirmware firmware, uint16_t arch) {
        if (s->firmware == firmware && s->arch == arch)
                return;
        s->firmware = firmware;
        s->arch = arch;
        notify(s->table, s, 1);
}

void px_session_set_client_addr(PxSession *s, struct in_addr addr) {
        if (addr.s_addr == 0 || s->client_addr.s_addr == addr.s_addr)
                return;
        s->client_addr = addr;
        notify(s->table, s, 1);
}

void px_session_begin_file(PxSession *s, PxSessionState state, const char *file, uint64_t total) {
        touch(s);
        g_free(s->current_file);
        s->current_file = g_strdup(file);
        s->bytes_sent = 0;
        s->bytes_total = total;
        g_clear_pointer(&s->error, g_free);
        if (s->state != state && state == PX_SESSION_BOOTING)
                s->table->completed_boots++;
        s->state = state;
        notify(s->table, s, 1);
}

void px_session_set_progress(PxSession *s, uint64_t sent) {
        touch(s);
        if (s->bytes_sent == sent)
                return;
        s->bytes_sent = sent;
        notify(s->table, s, 1);
}

void px_session_fail(PxSession *s, const char *error) {
        g_free(s->error);
        s->error = g_strdup(error);
        px_session_set_state(s, PX_SESSION_FAILED);
}

void px_session_set_target_source(PxSession *s, const char *source) {
        if (g_strcmp0(s->target_source, source) == 0)
                return;
        g_free(s->target_source);
        s->target_source = g_strdup(source);
        notify(s->table, s, 1);
}

void px_session_set_spec(PxSession *s, PxBootSpec *spec) {
        if (s->spec == spec)
                return;
        px_boot_spec_unref(s->spec);
        s->spec = px_boot_spec_ref(spec);
}

void px_session_set_ignored(PxSession *s, const char *reason) {
        g_free(s->error);
        s->error = g_strdup(reason);
        g_clear_pointer(&s->current_file, g_free);
        s->bytes_sent = s->bytes_total = 0;
        px_session_set_state(s, PX_SESSION_IGNORED);
        notify(s->table, s, 1); /* Error and the file changed even if the state did not */
}
