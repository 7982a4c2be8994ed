/* SPDX-License-Identifier: Apache-2.0 */
/* API mode: a remote HTTP API decides, per machine, whether and what to boot. Calls are
 * asynchronous on the GLib main loop, so a slow API for one machine never delays another, and
 * each answer is kept briefly so that the firmware DISCOVER, iPXE's DISCOVER and the script
 * fetch of one boot share one call. */
#include <libsoup/soup.h>
#include <string.h>

#include "api-response.h"
#include "bootscript.h"
#include "file-id.h"
#include "policy.h"
#include "px-build-config.h"
#include "px-log.h"

#define PHASE "api"
/* refusals and errors are kept only long enough to absorb a burst of retransmissions */
#define REFUSAL_CACHE_USEC     (2 * G_USEC_PER_SEC)
#define MAX_CACHE_ENTRIES      4096
#define MAX_CALLS_IN_FLIGHT    256
#define BOOT_FILE_LIFETIME_S   (6 * 3600)
#define CMDLINE_URL_LIFETIME_S (30 * 24 * 3600)
#define READ_CHUNK             16384

typedef struct Waiter {
        PxPolicyCallback cb;
        void *userdata;
        GCancellable *cancellable;
        PxMachine machine;
        char *base_url;
} Waiter;

typedef struct ApiPolicy ApiPolicy;

/* One MAC's answer: in flight (waiters), or cached (body or refusal). */
typedef struct Entry {
        ApiPolicy *policy;
        uint8_t mac[6];
        bool in_flight;
        GBytes *body;   /* 200 answer, NULL when refused */
        char *refusal;  /* why not, when body is NULL */
        gint64 expires; /* monotonic */
        GPtrArray *waiters;
        GCancellable *cancellable; /* of the HTTP call */
        SoupMessage *msg;
        GByteArray *buffer;
        GInputStream *stream;
        guint timeout_id;
} Entry;

struct ApiPolicy {
        PxPolicy base;
        char *api_url;
        guint64 cache_usec;
        guint64 timeout_usec;
        PxBootloader bootloader;
        PxFileIds *ids; /* borrowed */
        SoupSession *session;
        GHashTable *entries; /* uint64 mac key -> Entry */
        unsigned in_flight;
        PxApiStats stats;
};

static void waiter_free(Waiter *w) {
        g_clear_object(&w->cancellable);
        g_free(w->base_url);
        g_free(w);
}

static void entry_free(Entry *e) {
        if (e->timeout_id)
                g_source_remove(e->timeout_id);
        /* the policy is going away with a call in flight: everyone waiting hears "no" */
        for (guint i = 0; e->waiters && i < e->waiters->len; i++) {
                Waiter *w = e->waiters->pdata[i];
                w->cb(NULL, "shutting down", w->userdata);
        }
        if (e->cancellable)
                g_cancellable_cancel(e->cancellable);
        g_clear_object(&e->cancellable);
        g_clear_object(&e->msg);
        g_clear_object(&e->stream);
        g_clear_pointer(&e->buffer, g_byte_array_unref);
        g_clear_pointer(&e->body, g_bytes_unref);
        g_free(e->refusal);
        g_ptr_array_unref(e->waiters);
        g_free(e);
}

/* ---- turning an answer into a boot spec ---- */

typedef struct MapContext {
        ApiPolicy *policy;
        const uint8_t *mac;
        const char *base_url;
} MapContext;

static char *map_cmdline_url(const char *absolute_url, void *userdata, GError **error) {
        MapContext *c = userdata;
        char dashed[PX_MAC_STRLEN];
        g_autofree char *id = px_file_id_seal(c->policy->ids, c->mac, absolute_url, CMDLINE_URL_LIFETIME_S, error);

        if (!id)
                return NULL;
        px_mac_to_dashed(c->mac, dashed);
        return g_strdup_printf("%s/_/file/%s/%s", c->base_url, dashed, id);
}

static PxBootSpec *spec_from_body(ApiPolicy *p, const uint8_t mac[6], const char *base_url, GBytes *body,
                                  GError **error) {
        MapContext ctx = {.policy = p, .mac = mac, .base_url = base_url ? base_url : "http://pixiecore"};
        g_autoptr(ApiBootResponse) r = NULL;
        g_autoptr(PxBootSpec) spec = px_boot_spec_new();
        g_autoptr(GStrvBuilder) ids = g_strv_builder_new();
        gsize size;
        const void *data = g_bytes_get_data(body, &size);

        r = api_boot_response_decode(p->api_url, data, size, map_cmdline_url, &ctx, error);
        if (!r)
                return NULL;
        spec->source = g_strdup("api");
        if (r->ipxe_script) {
                spec->ipxe_script = g_steal_pointer(&r->ipxe_script);
                return g_steal_pointer(&spec);
        }
        if (r->cmdline && !px_cmdline_check(r->cmdline, p->bootloader, error)) {
                g_prefix_error(error, "cmdline: ");
                return NULL;
        }
        if (r->message && !px_bootscript_message_is_safe(r->message)) {
                g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                    "message: contains what iPXE's echo would interpret");
                return NULL;
        }
        spec->kernel_id = px_file_id_seal(p->ids, mac, r->kernel, BOOT_FILE_LIFETIME_S, error);
        if (!spec->kernel_id)
                return NULL;
        for (char **i = r->initrds; i && *i; i++) {
                g_autofree char *id = px_file_id_seal(p->ids, mac, *i, BOOT_FILE_LIFETIME_S, error);
                if (!id)
                        return NULL;
                g_strv_builder_add(ids, id);
        }
        spec->initrd_ids = g_strv_builder_end(ids);
        spec->cmdline = g_steal_pointer(&r->cmdline);
        spec->message = g_steal_pointer(&r->message);
        return g_steal_pointer(&spec);
}

static void answer(ApiPolicy *p, Entry *e, const PxMachine *m, const char *base_url, GCancellable *cancellable,
                   PxPolicyCallback cb, void *userdata) {
        char mac[PX_MAC_STRLEN];
        g_autoptr(GError) error = NULL;
        g_autoptr(PxBootSpec) spec = NULL;

        if (g_cancellable_is_cancelled(cancellable)) {
                cb(NULL, "cancelled", userdata);
                return;
        }
        if (!e->body) {
                cb(NULL, e->refusal, userdata);
                return;
        }
        spec = spec_from_body(p, m->mac, base_url, e->body, &error);
        if (!spec) {
                px_mac_to_string(m->mac, mac);
                px_log_warning(mac, PHASE, "unusable API answer: %s", error->message);
                cb(NULL, error->message, userdata);
                return;
        }
        cb(spec, NULL, userdata);
}

/* ---- the HTTP call ---- */

static void finish_call(Entry *e, GBytes *body, const char *refusal) {
        ApiPolicy *p = e->policy;
        g_autoptr(GPtrArray) waiters = NULL;
        char mac[PX_MAC_STRLEN];

        px_mac_to_string(e->mac, mac);
        e->in_flight = false;
        p->in_flight--;
        if (e->timeout_id) {
                g_source_remove(e->timeout_id);
                e->timeout_id = 0;
        }
        if (e->cancellable)
                g_cancellable_cancel(e->cancellable); /* stops a read still under way */
        g_clear_object(&e->cancellable);
        g_clear_object(&e->msg);
        g_clear_object(&e->stream);
        g_clear_pointer(&e->buffer, g_byte_array_unref);
        e->body = body;
        e->refusal = g_strdup(refusal);
        e->expires = g_get_monotonic_time() + (body ? (gint64) p->cache_usec : REFUSAL_CACHE_USEC);
        if (refusal) {
                p->stats.refusals++;
                px_log_info(mac, PHASE, "API says no boot: %s", refusal);
        } else
                px_log_info(mac, PHASE, "API answered (%zu bytes)", g_bytes_get_size(body));

        /* callbacks may resolve again (and so look at this entry): detach the list first */
        waiters = g_steal_pointer(&e->waiters);
        e->waiters = g_ptr_array_new_with_free_func((GDestroyNotify) waiter_free);
        for (guint i = 0; i < waiters->len; i++) {
                Waiter *w = waiters->pdata[i];
                answer(p, e, &w->machine, w->base_url, w->cancellable, w->cb, w->userdata);
        }
        g_ptr_array_set_free_func(waiters, (GDestroyNotify) waiter_free);
}

static void on_read(GObject *source, GAsyncResult *res, gpointer userdata);

static void read_more(Entry *e) {
        g_input_stream_read_bytes_async(e->stream, READ_CHUNK, G_PRIORITY_DEFAULT, e->cancellable, on_read, e);
}

static void on_read(GObject *source, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GBytes) chunk = g_input_stream_read_bytes_finish(G_INPUT_STREAM(source), res, &error);
        Entry *e = userdata;
        g_autofree char *why = NULL;

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return; /* the entry is gone */
        if (!chunk) {
                why = g_strdup_printf("reading the answer failed: %s", error->message);
                finish_call(e, NULL, why);
                return;
        }
        if (g_bytes_get_size(chunk) == 0) {
                GBytes *body = g_byte_array_free_to_bytes(g_steal_pointer(&e->buffer));
                /* decode once now, so a malformed answer is a refusal for every waiter */
                g_autoptr(ApiBootResponse) r = api_boot_response_decode(
                        e->policy->api_url, g_bytes_get_data(body, NULL), g_bytes_get_size(body), NULL, NULL, &error);
                if (!r) {
                        why = g_strdup_printf("malformed answer: %s", error->message);
                        g_bytes_unref(body);
                        finish_call(e, NULL, why);
                        return;
                }
                finish_call(e, body, NULL);
                return;
        }
        if (e->buffer->len + g_bytes_get_size(chunk) > API_MAX_BODY) {
                finish_call(e, NULL, "answer larger than 1 MiB");
                return;
        }
        g_byte_array_append(e->buffer, g_bytes_get_data(chunk, NULL), g_bytes_get_size(chunk));
        read_more(e);
}

static void on_sent(GObject *source, GAsyncResult *res, gpointer userdata) {
        g_autoptr(GError) error = NULL;
        GInputStream *stream = soup_session_send_finish(SOUP_SESSION(source), res, &error);
        Entry *e = userdata;
        g_autofree char *why = NULL;
        guint status;
        goffset length;

        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
                return;
        if (!stream) {
                why = g_strdup_printf("API request failed: %s", error->message);
                finish_call(e, NULL, why);
                return;
        }
        e->stream = stream;
        status = soup_message_get_status(e->msg);
        if (status != SOUP_STATUS_OK) {
                why = g_strdup_printf("API answered HTTP %u %s", status, soup_message_get_reason_phrase(e->msg));
                finish_call(e, NULL, why);
                return;
        }
        length = soup_message_headers_get_content_length(soup_message_get_response_headers(e->msg));
        if (length > API_MAX_BODY) {
                finish_call(e, NULL, "answer larger than 1 MiB");
                return;
        }
        e->buffer = g_byte_array_new();
        read_more(e);
}

/* libsoup's timeout is per read or write; this bounds the whole call, slow dribbles included */
static gboolean on_call_timeout(gpointer userdata) {
        Entry *e = userdata;
        g_autofree char *why =
                g_strdup_printf("API did not answer within %.1f s", (double) e->policy->timeout_usec / G_USEC_PER_SEC);

        e->timeout_id = 0;
        finish_call(e, NULL, why);
        return G_SOURCE_REMOVE;
}

static void start_call(ApiPolicy *p, Entry *e, const PxMachine *m) {
        g_autofree char *url = api_url_for_machine(p->api_url, m->mac, m->firmware, m->arch);
        char mac[PX_MAC_STRLEN];

        px_mac_to_string(m->mac, mac);
        e->in_flight = true;
        p->in_flight++;
        p->stats.calls++;
        g_clear_pointer(&e->body, g_bytes_unref);
        g_clear_pointer(&e->refusal, g_free);
        e->cancellable = g_cancellable_new();
        e->msg = soup_message_new(SOUP_METHOD_GET, url);
        if (!e->msg) {
                finish_call(e, NULL, "cannot build the API URL");
                return;
        }
        soup_message_headers_replace(soup_message_get_request_headers(e->msg), "Accept", "application/json");
        px_log_debug(mac, PHASE, "GET %s", url);
        e->timeout_id = g_timeout_add((guint) (p->timeout_usec / 1000), on_call_timeout, e);
        soup_session_send_async(p->session, e->msg, G_PRIORITY_DEFAULT, e->cancellable, on_sent, e);
}

/* ---- PxPolicy ---- */

static void evict_expired(ApiPolicy *p) {
        GHashTableIter it;
        Entry *e;
        gint64 now = g_get_monotonic_time();

        g_hash_table_iter_init(&it, p->entries);
        while (g_hash_table_iter_next(&it, NULL, (gpointer *) &e))
                if (!e->in_flight && e->expires <= now)
                        g_hash_table_iter_remove(&it);
}

static void api_resolve(PxPolicy *base, const PxMachine *m, GCancellable *cancellable, PxPolicyCallback cb,
                        void *userdata) {
        ApiPolicy *p = (ApiPolicy *) base;
        guint64 key = px_mac_to_u64(m->mac);
        Entry *e = g_hash_table_lookup(p->entries, &key);
        Waiter *w;

        if (e && !e->in_flight && e->expires > g_get_monotonic_time()) {
                p->stats.cache_hits++;
                answer(p, e, m, m->base_url, cancellable, cb, userdata);
                return;
        }
        if (!e) {
                if (g_hash_table_size(p->entries) >= MAX_CACHE_ENTRIES)
                        evict_expired(p);
                if (g_hash_table_size(p->entries) >= MAX_CACHE_ENTRIES || p->in_flight >= MAX_CALLS_IN_FLIGHT) {
                        /* a LAN host inventing MACs must not make us call the API without bound */
                        cb(NULL, "too many machines asking at once", userdata);
                        return;
                }
                e = g_new0(Entry, 1);
                e->policy = p;
                memcpy(e->mac, m->mac, 6);
                e->waiters = g_ptr_array_new_with_free_func((GDestroyNotify) waiter_free);
                guint64 *k = g_new(guint64, 1);
                *k = key;
                g_hash_table_insert(p->entries, k, e);
        }

        w = g_new0(Waiter, 1);
        w->cb = cb;
        w->userdata = userdata;
        w->cancellable = cancellable ? g_object_ref(cancellable) : NULL;
        w->machine = *m;
        w->base_url = g_strdup(m->base_url);
        w->machine.base_url = NULL;
        if (e->in_flight) {
                p->stats.joined++;
                g_ptr_array_add(e->waiters, w);
                return;
        }
        g_ptr_array_add(e->waiters, w);
        start_call(p, e, m);
}

static void api_free(PxPolicy *base) {
        ApiPolicy *p = (ApiPolicy *) base;

        g_hash_table_unref(p->entries);
        g_clear_object(&p->session);
        g_free(p->api_url);
        g_free(p);
}

PxPolicy *px_api_policy_new(const PxConfig *config, PxFileIds *ids) {
        ApiPolicy *p = g_new0(ApiPolicy, 1);
        guint timeout_s = (guint) MAX(1, (config->api_timeout_usec + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);

        p->base.mode = "api";
        p->base.resolve = api_resolve;
        p->base.free = api_free;
        p->api_url = g_strdup(config->api_url);
        p->cache_usec = config->api_cache_usec;
        p->timeout_usec = config->api_timeout_usec;
        p->bootloader = config->bootloader;
        p->ids = ids;
        /* libsoup allows 2 connections per host by default: one slow machine would queue the rest */
        p->session = soup_session_new_with_options("timeout", timeout_s, "idle-timeout", timeout_s, "user-agent",
                                                   "pixiecore/" PACKAGE_VERSION, "max-conns", 512, "max-conns-per-host",
                                                   256, NULL);
        p->entries = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, (GDestroyNotify) entry_free);
        return &p->base;
}

const PxApiStats *px_api_policy_get_stats(PxPolicy *base) {
        if (!base || base->free != api_free)
                return NULL;
        return &((ApiPolicy *) base)->stats;
}
