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
