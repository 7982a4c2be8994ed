/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "file-id.h"
#include "policy.h"
#include "px-log.h"
#include "targets.h"

#define TARGET_FILE_LIFETIME_S (6 * 3600)

typedef struct LayeredPolicy {
        PxPolicy base;
        PxTargetStore *targets; /* borrowed */
        PxPolicy *api;          /* owned, may be NULL */
        PxFileIds *ids;         /* borrowed */
        PxTarget configured;    /* the static target of the command line/config file; kernel NULL if none */
        char *message;          /* -bootmsg, shown by every target's script */
} LayeredPolicy;

void px_resolution_clear(PxResolution *r) {
        g_clear_pointer(&r->source, g_free);
        g_clear_pointer(&r->kernel, g_free);
        g_clear_pointer(&r->initrds, g_strfreev);
        g_clear_pointer(&r->cmdline, g_free);
        g_clear_pointer(&r->reason, g_free);
}

static char *seal_source(LayeredPolicy *p, const uint8_t mac[6], const char *source, GError **error) {
        g_autofree char *uri = NULL;

        if (g_str_has_prefix(source, "http://") || g_str_has_prefix(source, "https://"))
                return px_file_id_seal(p->ids, mac, source, TARGET_FILE_LIFETIME_S, error);
        uri = g_filename_to_uri(source, NULL, error);
        if (!uri)
                return NULL;
        return px_file_id_seal(p->ids, mac, uri, TARGET_FILE_LIFETIME_S, error);
}

/* A boot spec whose files are served through sealed IDs. */
static PxBootSpec *spec_from_target(LayeredPolicy *p, const uint8_t mac[6], const PxTarget *t, const char *source,
                                    GError **error) {
        g_autoptr(PxBootSpec) spec = px_boot_spec_new();
        g_autoptr(GStrvBuilder) ids = g_strv_builder_new();

        spec->kernel_id = seal_source(p, mac, t->kernel, error);
        if (!spec->kernel_id)
                return NULL;
        for (char **i = t->initrds; i && *i; i++) {
                g_autofree char *id = seal_source(p, mac, *i, error);
                if (!id)
                        return NULL;
                g_strv_builder_add(ids, id);
        }
        spec->initrd_ids = g_strv_builder_end(ids);
        spec->cmdline = g_strdup(t->cmdline);
        spec->message = g_strdup(p->message);
        spec->source = g_strdup(source);
        return g_steal_pointer(&spec);
}

/* The command-line target keeps its fixed IDs, fetched at startup into the file store. */
static PxBootSpec *spec_from_configured(LayeredPolicy *p, const PxConfig *unused) {
        g_autoptr(PxBootSpec) spec = px_boot_spec_new();
        g_autoptr(GStrvBuilder) ids = g_strv_builder_new();
        unsigned n = 0;

        spec->kernel_id = g_strdup("kernel");
        for (char **i = p->configured.initrds; i && *i; i++, n++) {
                g_autofree char *id = g_strdup_printf("initrd-%u", n);
                g_strv_builder_add(ids, id);
        }
        spec->initrd_ids = g_strv_builder_end(ids);
        spec->cmdline = g_strdup(p->configured.cmdline);
        spec->message = g_strdup(p->message);
        spec->source = g_strdup("static");
        return g_steal_pointer(&spec);
}

static void answer_with_target(LayeredPolicy *p, const uint8_t mac[6], const PxTarget *t, const char *source,
                               PxPolicyCallback cb, void *userdata) {
        g_autoptr(GError) error = NULL;
        g_autoptr(PxBootSpec) spec = spec_from_target(p, mac, t, source, &error);
        char text[PX_MAC_STRLEN];

        if (!spec) {
                px_mac_to_string(mac, text);
                px_log_warning(text, "policy", "cannot use the %s target: %s", source, error->message);
                cb(NULL, error->message, userdata);
                return;
        }
        cb(spec, NULL, userdata);
}

static void layered_resolve(PxPolicy *base, const PxMachine *m, GCancellable *cancellable, PxPolicyCallback cb,
                            void *userdata) {
        LayeredPolicy *p = (LayeredPolicy *) base;
        const PxMachineRule *rule = px_target_store_lookup(p->targets, m->mac);
        const PxTarget *def;

        if (g_cancellable_is_cancelled(cancellable)) {
                cb(NULL, "cancelled", userdata);
                return;
        }
        if (rule && rule->kind == PX_MACHINE_RULE_IGNORE) {
                cb(NULL, "this machine is ignored (IgnoreMachine)", userdata);
                return;
        }
        if (rule) {
                answer_with_target(p, m->mac, &rule->target, rule->once ? "machine-once" : "machine", cb, userdata);
                return;
        }
        if (p->api) {
                p->api->resolve(p->api, m, cancellable, cb, userdata);
                return;
        }
        def = px_target_store_get_default(p->targets);
        if (def) {
                answer_with_target(p, m->mac, def, "default", cb, userdata);
                return;
        }
        if (p->configured.kernel) {
                g_autoptr(PxBootSpec) spec = spec_from_configured(p, NULL);
                cb(spec, NULL, userdata);
                return;
        }
        cb(NULL, "no target for this machine and no default target", userdata);
}

static void fill(PxResolution *r, const char *source, const PxTarget *t, const char *reason) {
        r->source = g_strdup(source);
        if (t) {
                r->kernel = g_strdup(t->kernel);
                r->initrds = g_strdupv(t->initrds);
                r->cmdline = g_strdup(t->cmdline);
        }
        r->reason = g_strdup(reason);
}

void px_layered_policy_describe(PxPolicy *base, const uint8_t mac[6], PxResolution *ret) {
        LayeredPolicy *p = (LayeredPolicy *) base;
        const PxMachineRule *rule = px_target_store_lookup(p->targets, mac);
        const PxTarget *def = px_target_store_get_default(p->targets);

        *ret = (PxResolution){};
        if (rule && rule->kind == PX_MACHINE_RULE_IGNORE)
                fill(ret, "ignored", NULL, "the machine is ignored (IgnoreMachine)");
        else if (rule)
                fill(ret, rule->once ? "machine-once" : "machine", &rule->target,
                     rule->once ? "the machine's own target, for its next boot only" : "the machine's own target");
        else if (p->api)
                fill(ret, "api", NULL, "the boot API decides when the machine boots");
        else if (def)
                fill(ret, "default", def, "the default target set over D-Bus");
        else if (p->configured.kernel)
                fill(ret, "static", &p->configured, "the target given on the command line or in the config file");
        else
                fill(ret, "none", NULL, "no target for this machine and no default target");
        if (!ret->initrds)
                ret->initrds = g_new0(char *, 1);
}

void px_layered_policy_consumed(PxPolicy *base, const uint8_t mac[6], const PxBootSpec *spec) {
        LayeredPolicy *p = (LayeredPolicy *) base;
        g_autoptr(GError) error = NULL;
        char text[PX_MAC_STRLEN];

        if (!spec || g_strcmp0(spec->source, "machine-once") != 0)
                return;
        px_mac_to_string(mac, text);
        if (!px_target_store_consume_once(p->targets, mac, &error) && error)
                px_log_warning(text, "policy", "cannot drop the once-target: %s", error->message);
        else
                px_log_info(text, "policy", "once-target used; the machine falls back to the next policy");
}

PxPolicy *px_layered_policy_get_api(PxPolicy *base) {
        return ((LayeredPolicy *) base)->api;
}

static void layered_free(PxPolicy *base) {
        LayeredPolicy *p = (LayeredPolicy *) base;

        px_policy_free(p->api);
        px_target_clear(&p->configured);
        g_free(p->message);
        g_free(p);
}

PxPolicy *px_layered_policy_new(const PxConfig *config, PxTargetStore *targets, PxPolicy *api, PxFileIds *ids) {
        LayeredPolicy *p = g_new0(LayeredPolicy, 1);

        p->base.mode = api ? "api" : "static";
        p->base.resolve = layered_resolve;
        p->base.free = layered_free;
        p->targets = targets;
        p->api = api;
        p->ids = ids;
        p->message = g_strdup(config->message);
        if (config->kernel && !api) {
                p->configured.kernel = g_strdup(config->kernel);
                p->configured.initrds = g_strdupv(config->initrds ? config->initrds : (char *[]){NULL});
                p->configured.cmdline = g_strdup(config->cmdline);
        }
        return &p->base;
}
