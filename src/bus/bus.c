/* SPDX-License-Identifier: Apache-2.0 */
#include "bus.h"

#include <arpa/inet.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "manager.h"
#include "px-build-config.h"
#include "px-log.h"
#include "targets.h"

#define PHASE                "bus"
#define POLKIT_ACTION_MANAGE "org.pixiecore.Pixiecore1.manage-targets"
#define ERROR_INVALID_TARGET "org.pixiecore.Pixiecore1.Error.InvalidTarget"
#define ERROR_NO_SUCH_TARGET "org.pixiecore.Pixiecore1.Error.NoSuchTarget"
#define ERROR_STORAGE        "org.pixiecore.Pixiecore1.Error.StorageFailed"
#define ERROR_LIMIT          "org.pixiecore.Pixiecore1.Error.LimitExceeded"
/* Progress-only changes (BytesSent) are announced at most this often per session; state
 * changes go out at the end of the loop iteration in which they happened. */
#define PROGRESS_INTERVAL_USEC (250 * 1000)

typedef struct Announced {
        bool announced; /* InterfacesAdded sent */
        bool dirty;
        PxSessionState last_state;
        char *last_file;
        uint64_t last_emit; /* monotonic usec */
} Announced;

struct PxBus {
        PxManager *manager;
        sd_bus *bus;
        sd_event_source *flush;       /* deferred: emit what changed in this iteration */
        sd_event_source *flush_timer; /* rate-limited progress */
        GHashTable *sessions;         /* mac u64 -> Announced */
        bool manager_dirty;
        uint64_t last_sessions;
        uint64_t last_boots;
};

static void announced_free(Announced *a) {
        g_free(a->last_file);
        g_free(a);
}

/* ---- paths ---- */

static char *session_path(const uint8_t mac[6]) {
        return g_strdup_printf(PX_BUS_SESSION_PATH "/%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                               mac[5]);
}

static int mac_from_path(const char *path, uint8_t ret[6]) {
        const char *suffix;

        if (!g_str_has_prefix(path, PX_BUS_SESSION_PATH "/"))
                return -ENOENT;
        suffix = path + strlen(PX_BUS_SESSION_PATH "/");
        if (strlen(suffix) != 12)
                return -ENOENT;
        for (int i = 0; i < 6; i++) {
                int hi = g_ascii_xdigit_value(suffix[2 * i]), lo = g_ascii_xdigit_value(suffix[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -ENOENT;
                ret[i] = (uint8_t) (hi << 4 | lo);
        }
        return 0;
}

/* ---- Session objects ---- */

static int session_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                        sd_bus_error *error) {
        PxBus *b = userdata;
        uint8_t mac[6];
        PxSession *s;

        if (mac_from_path(path, mac) < 0)
                return 0;
        s = px_session_table_lookup(b->manager->sessions, mac);
        if (!s)
                return 0;
        *found = s;
        return 1;
}

static void add_session_path(PxSession *s, void *data) {
        g_ptr_array_add(data, session_path(s->mac));
}

static int session_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        PxBus *b = userdata;
        g_autoptr(GPtrArray) paths = g_ptr_array_new();

        px_session_table_foreach(b->manager->sessions, add_session_path, paths);
        g_ptr_array_add(paths, NULL);
        /* sd-bus frees the strv with free(); GLib's g_malloc is malloc on Linux */
        *nodes = (char **) g_ptr_array_free(g_steal_pointer(&paths), FALSE);
        return 1;
}

#define SESSION_STRING_GETTER(name, expr)                                                                              \
        static int name(sd_bus *bus, const char *path, const char *interface, const char *property,                    \
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {                                  \
                PxSession *s = userdata;                                                                               \
                const char *v = (expr);                                                                                \
                return sd_bus_message_append(reply, "s", v ? v : "");                                                  \
        }

SESSION_STRING_GETTER(get_mac, s->mac_str)
SESSION_STRING_GETTER(get_firmware, s->firmware >= 0 ? px_firmware_to_string(s->firmware) : "unknown")
SESSION_STRING_GETTER(get_state, px_session_state_to_string(s->state))
SESSION_STRING_GETTER(get_current_file, s->current_file)
SESSION_STRING_GETTER(get_error, s->error)
SESSION_STRING_GETTER(get_target_source, s->target_source)

static int get_client_address(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PxSession *s = userdata;
        char text[INET_ADDRSTRLEN] = "";

        if (s->client_addr.s_addr)
                inet_ntop(AF_INET, &s->client_addr, text, sizeof(text));
        return sd_bus_message_append(reply, "s", text);
}

static const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("MACAddress", "s", get_mac, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Firmware", "s", get_firmware, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Architecture", "q", NULL, offsetof(PxSession, arch), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ClientAddress", "s", get_client_address, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CurrentFile", "s", get_current_file, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesSent", "t", NULL, offsetof(PxSession, bytes_sent), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesTotal", "t", NULL, offsetof(PxSession, bytes_total), SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StartedUSec", "t", NULL, offsetof(PxSession, started_usec), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("UpdatedUSec", "t", NULL, offsetof(PxSession, updated_usec),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Error", "s", get_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TargetSource", "s", get_target_source, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

/* ---- change announcements ---- */

static int flush(sd_event_source *source, void *userdata);

static void schedule(PxBus *b, bool urgent, uint64_t not_before) {
        if (urgent || not_before <= (uint64_t) g_get_monotonic_time()) {
                (void) sd_event_source_set_enabled(b->flush, SD_EVENT_ONESHOT);
                return;
        }
        /* CLOCK_MONOTONIC in sd-event and g_get_monotonic_time() are the same clock */
        (void) sd_event_source_set_time(b->flush_timer, not_before);
        (void) sd_event_source_set_enabled(b->flush_timer, SD_EVENT_ONESHOT);
}

static Announced *announced_for(PxBus *b, const uint8_t mac[6], bool create) {
        guint64 key = px_mac_to_u64(mac);
        Announced *a = g_hash_table_lookup(b->sessions, &key);

        if (!a && create) {
                guint64 *k = g_new(guint64, 1);
                *k = key;
                a = g_new0(Announced, 1);
                a->last_state = _PX_SESSION_STATE_INVALID;
                g_hash_table_insert(b->sessions, k, a);
        }
        return a;
}

static void on_session_changed(void *userdata, PxSession *s) {
        PxBus *b = userdata;
        Announced *a = announced_for(b, s->mac, true);
        bool urgent = !a->announced || a->last_state != s->state || g_strcmp0(a->last_file, s->current_file) != 0 ||
                      s->bytes_sent == s->bytes_total;

        a->dirty = true;
        b->manager_dirty = true;
        if (a->announced && s->bytes_total > 0 && s->bytes_sent == s->bytes_total) {
                /* a finished file is announced at once: the next may start in the same iteration */
                flush(NULL, b);
                return;
        }
        schedule(b, urgent, a->last_emit + PROGRESS_INTERVAL_USEC);
}

static void on_session_removed(void *userdata, PxSession *s) {
        PxBus *b = userdata;
        guint64 key = px_mac_to_u64(s->mac);
        Announced *a = g_hash_table_lookup(b->sessions, &key);
        g_autofree char *path = session_path(s->mac);

        if (a && a->announced)
                /* the object is already gone from our tables when sd-bus would look: say it by hand */
                (void) sd_bus_emit_signal(b->bus, PX_BUS_PATH, "org.freedesktop.DBus.ObjectManager",
                                          "InterfacesRemoved", "oas", path, 4, PX_BUS_SESSION_IFACE,
                                          "org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Introspectable",
                                          "org.freedesktop.DBus.Peer");
        g_hash_table_remove(b->sessions, &key);
        b->manager_dirty = true;
        schedule(b, true, 0);
}

static int flush(sd_event_source *source, void *userdata) {
        PxBus *b = userdata;
        GHashTableIter it;
        gpointer key;
        Announced *a;
        uint64_t now = (uint64_t) g_get_monotonic_time();
        uint64_t next = 0;

        g_hash_table_iter_init(&it, b->sessions);
        while (g_hash_table_iter_next(&it, &key, (gpointer *) &a)) {
                uint8_t mac[6];
                PxSession *s;
                guint64 k = *(guint64 *) key;
                g_autofree char *path = NULL;

                if (!a->dirty)
                        continue;
                for (int i = 5; i >= 0; i--, k >>= 8)
                        mac[i] = (uint8_t) (k & 0xff);
                s = px_session_table_lookup(b->manager->sessions, mac);
                if (!s)
                        continue;
                bool urgent = !a->announced || a->last_state != s->state ||
                              g_strcmp0(a->last_file, s->current_file) != 0 || s->bytes_sent == s->bytes_total;
                if (!urgent && now < a->last_emit + PROGRESS_INTERVAL_USEC) {
                        uint64_t when = a->last_emit + PROGRESS_INTERVAL_USEC;
                        next = next == 0 || when < next ? when : next;
                        continue;
                }
                path = session_path(mac);
                if (!a->announced) {
                        (void) sd_bus_emit_object_added(b->bus, path);
                        a->announced = true;
                } else
                        (void) sd_bus_emit_properties_changed_strv(b->bus, path, PX_BUS_SESSION_IFACE, NULL);
                a->dirty = false;
                a->last_state = s->state;
                g_free(a->last_file);
                a->last_file = g_strdup(s->current_file);
                a->last_emit = now;
        }
        if (b->manager_dirty) {
                uint64_t sessions = px_session_table_size(b->manager->sessions);
                uint64_t boots = px_session_table_completed_boots(b->manager->sessions);
                if (sessions != b->last_sessions || boots != b->last_boots)
                        (void) sd_bus_emit_properties_changed(b->bus, PX_BUS_PATH, PX_BUS_MANAGER_IFACE, "Sessions",
                                                              "CompletedBoots", NULL);
                b->last_sessions = sessions;
                b->last_boots = boots;
                b->manager_dirty = false;
        }
        if (next)
                schedule(b, false, next);
        return 0;
}

static int on_flush_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        return flush(source, userdata);
}

void px_bus_manager_changed(PxBus *b) {
        if (!b)
                return;
        (void) sd_bus_emit_properties_changed(b->bus, PX_BUS_PATH, PX_BUS_MANAGER_IFACE, "DefaultTarget",
                                              "MachineTargets", NULL);
}

/* ---- authorization (polkit, asynchronously; root always allowed) ---- */

typedef int (*Mutation)(PxBus *b, sd_bus_message *m, sd_bus_error *error);

typedef struct PendingAuth {
        PxBus *bus;
        sd_bus_message *call;
        Mutation fn;
} PendingAuth;

static void reply_with(sd_bus_message *call, int r, sd_bus_error *error) {
        if (sd_bus_error_is_set(error))
                (void) sd_bus_reply_method_error(call, error);
        else if (r < 0)
                (void) sd_bus_reply_method_errno(call, r, NULL);
}

static int on_polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PendingAuth *p = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int authorized = 0, challenge = 0, r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);
                px_log_warning(NULL, PHASE, "polkit check failed: %s", e && e->message ? e->message : "?");
                (void) sd_bus_reply_method_errorf(p->call, SD_BUS_ERROR_ACCESS_DENIED,
                                                  "Authorization check failed (is polkit running?)");
                goto done;
        }
        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0 || !authorized) {
                (void) sd_bus_reply_method_errorf(p->call, SD_BUS_ERROR_ACCESS_DENIED, "Not authorized for %s%s",
                                                  POLKIT_ACTION_MANAGE, challenge ? " (authentication required)" : "");
                goto done;
        }
        r = p->fn(p->bus, p->call, &error);
        reply_with(p->call, r, &error);
done:
        sd_bus_message_unref(p->call);
        g_free(p);
        return 0;
}

static int authorize_then(PxBus *b, sd_bus_message *m, Mutation fn, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(m);
        PendingAuth *p;
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r >= 0 && uid == 0)
                return fn(b, m, error);
        if (!sender)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "No sender");

        p = g_new0(PendingAuth, 1);
        p->bus = b;
        p->call = sd_bus_message_ref(m);
        p->fn = fn;
        r = sd_bus_call_method_async(b->bus, NULL, "org.freedesktop.PolicyKit1",
                                     "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority",
                                     "CheckAuthorization", on_polkit_reply, p, "(sa{sv})sa{ss}us", "system-bus-name", 1,
                                     "name", "s", sender, POLKIT_ACTION_MANAGE, 0,
                                     sd_bus_message_get_allow_interactive_authorization(m) ? 1u : 0u, "");
        if (r < 0) {
                sd_bus_message_unref(p->call);
                g_free(p);
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Cannot ask polkit");
        }
        return 1; /* replied later */
}

/* ---- Manager methods ---- */

static int set_target_error(sd_bus_error *error, GError *e) {
        const char *name = ERROR_INVALID_TARGET;

        if (g_error_matches(e, PX_TARGET_ERROR, PX_TARGET_ERROR_NOT_FOUND))
                name = ERROR_NO_SUCH_TARGET;
        else if (g_error_matches(e, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE))
                name = ERROR_STORAGE;
        else if (g_error_matches(e, PX_TARGET_ERROR, PX_TARGET_ERROR_LIMIT))
                name = ERROR_LIMIT;
        return sd_bus_error_set(error, name, e->message);
}

static int read_mac(sd_bus_message *m, uint8_t mac[6], sd_bus_error *error) {
        const char *text;
        int r = sd_bus_message_read(m, "s", &text);

        if (r < 0)
                return r;
        if (px_mac_from_string(text, mac) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid MAC address '%s'", text);
        return 0;
}

/* reads "s kernel, as initrds, s cmdline" */
static int read_target(sd_bus_message *m, PxTarget *t) {
        const char *kernel, *cmdline;
        char **initrds = NULL;
        int r;

        r = sd_bus_message_read(m, "s", &kernel);
        if (r < 0)
                return r;
        r = sd_bus_message_read_strv(m, &initrds);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &cmdline);
        if (r < 0) {
                g_strfreev(initrds);
                return r;
        }
        t->kernel = g_strdup(kernel);
        t->initrds = initrds ? initrds : g_new0(char *, 1);
        t->cmdline = *cmdline ? g_strdup(cmdline) : NULL;
        return 0;
}

static void log_mutation(sd_bus_message *m, const uint8_t *mac, const char *what) {
        char text[PX_MAC_STRLEN];
        const char *sender = sd_bus_message_get_sender(m);

        if (mac)
                px_mac_to_string(mac, text);
        px_log_info(mac ? text : NULL, PHASE, "%s %s", sender ? sender : "a local caller", what);
}

static int do_set_machine_target(PxBus *b, sd_bus_message *m, sd_bus_error *error) {
        g_autoptr(GError) e = NULL;
        PxTarget t = {};
        uint8_t mac[6];
        int once = 0, r;

        r = sd_bus_message_rewind(m, true);
        if (r < 0)
                return r;
        r = read_mac(m, mac, error);
        if (r < 0 || sd_bus_error_is_set(error))
                return r;
        r = read_target(m, &t);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        break;
                if (g_str_equal(key, "once")) {
                        if (sd_bus_message_verify_type(m, 'v', "b") <= 0) {
                                px_target_clear(&t);
                                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                                        "Option 'once' must be a boolean (b)");
                        }
                        r = sd_bus_message_read(m, "v", "b", &once);
                } else {
                        px_target_clear(&t);
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown option '%s'", key);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r < 0) {
                px_target_clear(&t);
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid options (expected a{sv})");
        }
        if (!px_target_store_set_machine(b->manager->targets, mac, &t, once, &e)) {
                px_target_clear(&t);
                return set_target_error(error, e);
        }
        px_target_clear(&t);
        log_mutation(m, mac, once ? "set a machine target (once)" : "set a machine target");
        px_bus_manager_changed(b);
        return sd_bus_reply_method_return(m, NULL);
}

/* ClearMachineTarget and IgnoreMachine: one MAC in, one store call, nothing out. */
static int mutate_machine(PxBus *b, sd_bus_message *m, sd_bus_error *error,
                          gboolean (*change)(PxTargetStore *, const uint8_t *, GError **), const char *what) {
        g_autoptr(GError) e = NULL;
        uint8_t mac[6];
        int r;

        r = sd_bus_message_rewind(m, true);
        if (r >= 0)
                r = read_mac(m, mac, error);
        if (r < 0 || sd_bus_error_is_set(error))
                return r;
        if (!change(b->manager->targets, mac, &e))
                return set_target_error(error, e);
        log_mutation(m, mac, what);
        px_bus_manager_changed(b);
        return sd_bus_reply_method_return(m, NULL);
}

static int do_clear_machine_target(PxBus *b, sd_bus_message *m, sd_bus_error *error) {
        return mutate_machine(b, m, error, px_target_store_clear_machine, "cleared the machine target");
}

static int do_ignore_machine(PxBus *b, sd_bus_message *m, sd_bus_error *error) {
        return mutate_machine(b, m, error, px_target_store_ignore_machine, "ignores the machine from now on");
}

static int do_set_default_target(PxBus *b, sd_bus_message *m, sd_bus_error *error) {
        g_autoptr(GError) e = NULL;
        PxTarget t = {};
        int r;

        r = sd_bus_message_rewind(m, true);
        if (r >= 0)
                r = read_target(m, &t);
        if (r < 0)
                return r;
        if (!px_target_store_set_default(b->manager->targets, &t, &e)) {
                px_target_clear(&t);
                return set_target_error(error, e);
        }
        log_mutation(m, NULL, "set the default target");
        px_target_clear(&t);
        px_bus_manager_changed(b);
        return sd_bus_reply_method_return(m, NULL);
}

static int do_clear_default_target(PxBus *b, sd_bus_message *m, sd_bus_error *error) {
        g_autoptr(GError) e = NULL;

        if (!px_target_store_clear_default(b->manager->targets, &e))
                return set_target_error(error, e);
        log_mutation(m, NULL, "cleared the default target");
        px_bus_manager_changed(b);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_set_machine_target(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return authorize_then(userdata, m, do_set_machine_target, error);
}
static int method_clear_machine_target(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return authorize_then(userdata, m, do_clear_machine_target, error);
}
static int method_ignore_machine(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return authorize_then(userdata, m, do_ignore_machine, error);
}
static int method_set_default_target(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return authorize_then(userdata, m, do_set_default_target, error);
}
static int method_clear_default_target(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return authorize_then(userdata, m, do_clear_default_target, error);
}

static int append_target(sd_bus_message *reply, const PxTarget *t) {
        int r = sd_bus_message_append(reply, "s", t && t->kernel ? t->kernel : "");
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, t && t->initrds ? t->initrds : (char *[]){NULL});
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", t && t->cmdline ? t->cmdline : "");
        return r;
}

static int method_list_machine_targets(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GPtrArray) rules = px_target_store_list(b->manager->targets);
        int r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sssassbt)");
        for (guint i = 0; r >= 0 && i < rules->len; i++) {
                const PxMachineRule *rule = rules->pdata[i];
                char mac[PX_MAC_STRLEN];

                px_mac_to_string(rule->mac, mac);
                r = sd_bus_message_open_container(reply, 'r', "sssassbt");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ss", mac,
                                                  rule->kind == PX_MACHINE_RULE_IGNORE ? "ignore" : "target");
                if (r >= 0)
                        r = append_target(reply, rule->kind == PX_MACHINE_RULE_IGNORE ? NULL : &rule->target);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "bt", (int) rule->once, (uint64_t) rule->set_usec);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_resolve_target(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_auto(PxResolution) res = {};
        uint8_t mac[6];
        int r;

        r = read_mac(m, mac, error);
        if (r < 0 || sd_bus_error_is_set(error))
                return r;
        px_layered_policy_describe(b->manager->policy, mac, &res);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", res.source);
        if (r >= 0)
                r = append_target(reply,
                                  &(PxTarget){.kernel = res.kernel, .initrds = res.initrds, .cmdline = res.cmdline});
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", res.reason ? res.reason : "");
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- Manager properties ---- */

static int get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int get_mode(sd_bus *bus, const char *path, const char *interface, const char *property, sd_bus_message *reply,
                    void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        return sd_bus_message_append(reply, "s", b->manager->config->api_url ? "api" : "static");
}

static int get_api_url(sd_bus *bus, const char *path, const char *interface, const char *property,
                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        return sd_bus_message_append(reply, "s", b->manager->config->api_url ? b->manager->config->api_url : "");
}

static int get_bootloader(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        return sd_bus_message_append(reply, "s", px_bootloader_to_string(b->manager->config->bootloader));
}

static int get_default_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        const PxTarget *def = px_target_store_get_default(b->manager->targets);
        PxConfig *c = b->manager->config;
        PxTarget configured = {.kernel = c->api_url ? NULL : c->kernel, .initrds = c->initrds, .cmdline = c->cmdline};
        int r;

        r = sd_bus_message_open_container(reply, 'r', "sass");
        if (r >= 0)
                r = append_target(reply, def ? def : configured.kernel ? &configured : NULL);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int get_sessions(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        return sd_bus_message_append(reply, "u", px_session_table_size(b->manager->sessions));
}

static int get_completed_boots(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        return sd_bus_message_append(reply, "t", px_session_table_completed_boots(b->manager->sessions));
}

static int get_machine_targets(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        g_autoptr(GPtrArray) rules = px_target_store_list(b->manager->targets);
        return sd_bus_message_append(reply, "u", rules->len);
}

/* Everything a LAN host can make us spend or drop, for dashboards and for spotting abuse. Not
 * announced: it changes with every packet. */
static int get_counters(sd_bus *bus, const char *path, const char *interface, const char *property,
                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        PxBus *b = userdata;
        PxManager *m = b->manager;
        const TftpServerStats *t = m->tftp ? tftp_server_get_stats(m->tftp) : NULL;
        PxPolicy *api = px_layered_policy_get_api(m->policy);
        const PxApiStats *a = api ? px_api_policy_get_stats(api) : NULL;
        const struct {
                const char *name;
                uint64_t value;
        } counters[] = {
                {"dhcp-received", m->dhcp_stats.received},
                {"dhcp-malformed", m->dhcp_stats.malformed},
                {"dhcp-not-pxe", m->dhcp_stats.not_pxe},
                {"dhcp-unsupported-arch", m->dhcp_stats.unsupported_arch},
                {"dhcp-ignored", m->dhcp_stats.ignored},
                {"dhcp-offers", m->dhcp_stats.offers},
                {"pxe-acks", m->dhcp_stats.acks},
                {"dhcp-send-errors", m->dhcp_stats.send_errors},
                {"tftp-requests", t ? t->requests : 0},
                {"tftp-malformed", t ? t->malformed : 0},
                {"tftp-refused", t ? t->refused : 0},
                {"tftp-over-limit", t ? t->over_limit : 0},
                {"tftp-completed", t ? t->completed : 0},
                {"tftp-failed", t ? t->failed : 0},
                {"tftp-bytes-sent", t ? t->bytes_sent : 0},
                {"tftp-active-transfers", m->tftp ? tftp_server_active_transfers(m->tftp) : 0},
                {"http-requests", m->http_stats.requests},
                {"http-not-found", m->http_stats.not_found},
                {"http-bytes-sent", m->http_stats.bytes_sent},
                {"http-connections", m->http_stats.conns_open},
                {"http-connections-accepted", m->http_stats.conns_accepted},
                {"http-connections-refused", m->http_stats.conns_refused},
                {"http-header-timeouts", m->http_stats.header_timeouts},
                {"http-stalled", m->http_stats.stalled},
                {"sessions-evicted", px_session_table_evicted(m->sessions)},
                {"api-calls", a ? a->calls : 0},
                {"api-cache-hits", a ? a->cache_hits : 0},
                {"api-joined", a ? a->joined : 0},
                {"api-refusals", a ? a->refusals : 0},
        };
        int r = sd_bus_message_open_container(reply, 'a', "{st}");

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(counters); i++)
                r = sd_bus_message_append(reply, "{st}", counters[i].name, counters[i].value);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Mode", "s", get_mode, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("ApiURL", "s", get_api_url, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Bootloader", "s", get_bootloader, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* the command line may carry secrets: announced by name only, never by value */
        SD_BUS_PROPERTY("DefaultTarget", "(sass)", get_default_target, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("MachineTargets", "u", get_machine_targets, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Counters", "a{st}", get_counters, 0, 0),
        SD_BUS_PROPERTY("Sessions", "u", get_sessions, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CompletedBoots", "t", get_completed_boots, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("SetMachineTarget",
                                SD_BUS_ARGS("s", mac, "s", kernel, "as", initrds, "s", cmdline, "a{sv}", options),
                                SD_BUS_NO_RESULT, method_set_machine_target, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ClearMachineTarget", SD_BUS_ARGS("s", mac), SD_BUS_NO_RESULT,
                                method_clear_machine_target, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("IgnoreMachine", SD_BUS_ARGS("s", mac), SD_BUS_NO_RESULT, method_ignore_machine,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListMachineTargets", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sssassbt)", targets),
                                method_list_machine_targets, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetDefaultTarget", SD_BUS_ARGS("s", kernel, "as", initrds, "s", cmdline),
                                SD_BUS_NO_RESULT, method_set_default_target, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ClearDefaultTarget", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_clear_default_target,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ResolveTarget", SD_BUS_ARGS("s", mac),
                                SD_BUS_RESULT("s", source, "s", kernel, "as", initrds, "s", cmdline, "s", reason),
                                method_resolve_target, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* ---- lifecycle ---- */

static int on_name_acquired(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e)
                px_log_error(NULL, PHASE, "cannot own %s on the system bus: %s", PX_BUS_NAME, e->message);
        else
                px_log_info(NULL, PHASE, "owns %s on the system bus", PX_BUS_NAME);
        return 0;
}

int px_bus_new(PxManager *m, PxBus **ret) {
        PxBus *b = g_new0(PxBus, 1);
        PxSessionObserver observer = {
                .added = on_session_changed,
                .changed = on_session_changed,
                .removed = on_session_removed,
                .userdata = b,
        };
        int r;

        b->manager = m;
        b->sessions = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, (GDestroyNotify) announced_free);
        r = sd_bus_open_system(&b->bus);
        if (r < 0)
                goto fail;
        r = sd_bus_add_object_vtable(b->bus, NULL, PX_BUS_PATH, PX_BUS_MANAGER_IFACE, manager_vtable, b);
        if (r >= 0)
                r = sd_bus_add_object_manager(b->bus, NULL, PX_BUS_PATH);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(b->bus, NULL, PX_BUS_SESSION_PATH, PX_BUS_SESSION_IFACE, session_vtable,
                                               session_find, b);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(b->bus, NULL, PX_BUS_SESSION_PATH, session_enumerate, b);
        if (r >= 0)
                r = sd_bus_attach_event(b->bus, m->event, 0);
        if (r >= 0)
                r = sd_event_add_defer(m->event, &b->flush, flush, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->flush, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_source_set_priority(b->flush, SD_EVENT_PRIORITY_IDLE);
        if (r >= 0)
                r = sd_event_add_time(m->event, &b->flush_timer, CLOCK_MONOTONIC, 0, 0, on_flush_timer, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->flush_timer, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_bus_request_name_async(b->bus, NULL, PX_BUS_NAME, 0, on_name_acquired, b);
        if (r < 0)
                goto fail;
        px_session_table_add_observer(m->sessions, &observer);
        *ret = b;
        return 0;
fail:
        px_bus_free(b);
        return r;
}

PxBus *px_bus_free(PxBus *b) {
        if (!b)
                return NULL;
        b->flush = sd_event_source_disable_unref(b->flush);
        b->flush_timer = sd_event_source_disable_unref(b->flush_timer);
        if (b->bus) {
                (void) sd_bus_flush(b->bus);
                b->bus = sd_bus_flush_close_unref(b->bus);
        }
        g_hash_table_unref(b->sessions);
        g_free(b);
        return NULL;
}
