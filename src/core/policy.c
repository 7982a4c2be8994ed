/* SPDX-License-Identifier: Apache-2.0 */
#include "policy.h"

PxBootSpec *px_boot_spec_new(void) {
        PxBootSpec *s = g_new0(PxBootSpec, 1);
        s->refcount = 1;
        return s;
}

PxBootSpec *px_boot_spec_ref(PxBootSpec *s) {
        if (s)
                s->refcount++;
        return s;
}

void px_boot_spec_unref(PxBootSpec *s) {
        if (!s || --s->refcount > 0)
                return;
        g_free(s->kernel_id);
        g_strfreev(s->initrd_ids);
        g_free(s->cmdline);
        g_free(s->message);
        g_free(s->ipxe_script);
        g_free(s->source);
        g_free(s);
}

void px_policy_free(PxPolicy *p) {
        if (p)
                p->free(p);
}

typedef struct StaticPolicy {
        PxPolicy base;
        PxBootSpec *spec;
} StaticPolicy;

static void static_resolve(PxPolicy *p, const PxMachine *m, GCancellable *cancellable, PxPolicyCallback cb,
                           void *userdata) {
        StaticPolicy *sp = (StaticPolicy *) p;

        if (g_cancellable_is_cancelled(cancellable)) {
                cb(NULL, "cancelled", userdata);
                return;
        }
        cb(sp->spec, NULL, userdata);
}

static void static_free(PxPolicy *p) {
        StaticPolicy *sp = (StaticPolicy *) p;

        px_boot_spec_unref(sp->spec);
        g_free(sp);
}

PxPolicy *px_static_policy_new(const PxConfig *config) {
        StaticPolicy *sp = g_new0(StaticPolicy, 1);
        g_autoptr(GStrvBuilder) ids = g_strv_builder_new();
        unsigned n = 0;

        sp->base.mode = "static";
        sp->base.resolve = static_resolve;
        sp->base.free = static_free;
        sp->spec = px_boot_spec_new();
        sp->spec->kernel_id = g_strdup("kernel");
        for (char **i = config->initrds; i && *i; i++, n++) {
                g_autofree char *id = g_strdup_printf("initrd-%u", n);
                g_strv_builder_add(ids, id);
        }
        sp->spec->initrd_ids = g_strv_builder_end(ids);
        sp->spec->cmdline = g_strdup(config->cmdline);
        sp->spec->message = g_strdup(config->message);
        sp->spec->source = g_strdup("static");
        return &sp->base;
}
