/* SPDX-License-Identifier: Apache-2.0 */
#include "event-glue.h"

typedef struct EventSource {
        GSource source;
        gpointer fd_tag;
        sd_event *event;
        GMainLoop *loop;
} EventSource;

/* GLib does not promise check() between two prepare() calls (another thread may wake the
 * context during poll), which would leave sd-event ARMED. Finish such an iteration first. */
static int finish_armed_iteration(sd_event *e) {
        if (sd_event_get_state(e) == SD_EVENT_ARMED)
                return sd_event_wait(e, 0);
        return 0;
}

static gboolean event_prepare(GSource *source, gint *timeout) {
        EventSource *s = (EventSource *) source;
        int r;

        *timeout = -1;
        r = finish_armed_iteration(s->event);
        if (r > 0)
                return TRUE; /* PENDING: dispatch right away */
        if (sd_event_get_state(s->event) == SD_EVENT_PENDING)
                return TRUE;
        if (sd_event_get_state(s->event) == SD_EVENT_FINISHED)
                return FALSE;
        return sd_event_prepare(s->event) > 0;
}

static gboolean event_check(GSource *source) {
        EventSource *s = (EventSource *) source;

        if (sd_event_get_state(s->event) == SD_EVENT_PENDING)
                return TRUE;
        if (sd_event_get_state(s->event) != SD_EVENT_ARMED)
                return FALSE;
        return sd_event_wait(s->event, 0) > 0;
}

static gboolean event_dispatch(GSource *source, GSourceFunc callback, gpointer user_data) {
        EventSource *s = (EventSource *) source;

        if (sd_event_get_state(s->event) == SD_EVENT_PENDING)
                (void) sd_event_dispatch(s->event);
        if (sd_event_get_state(s->event) == SD_EVENT_FINISHED) {
                if (s->loop)
                        g_main_loop_quit(s->loop);
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
}

static void event_finalize(GSource *source) {
        EventSource *s = (EventSource *) source;

        if (s->loop)
                g_main_loop_unref(s->loop);
        sd_event_unref(s->event);
}

static GSourceFuncs event_funcs = {
        .prepare = event_prepare,
        .check = event_check,
        .dispatch = event_dispatch,
        .finalize = event_finalize,
};

GSource *px_event_glue_attach(sd_event *event, GMainContext *context, GMainLoop *loop) {
        GSource *source = g_source_new(&event_funcs, sizeof(EventSource));
        EventSource *s = (EventSource *) source;

        s->event = sd_event_ref(event);
        s->loop = loop ? g_main_loop_ref(loop) : NULL;
        s->fd_tag = g_source_add_unix_fd(source, sd_event_get_fd(event), G_IO_IN | G_IO_HUP | G_IO_ERR);
        g_source_set_name(source, "sd-event");
        /* A non-recursive source has its fd removed from the poll set and re-added around every
         * dispatch, which wakes the context once more each time (an eventfd write and a spurious
         * loop iteration per TFTP block). Recursion is harmless: sd-event refuses to nest, so a
         * nested prepare/check sees RUNNING and returns FALSE. */
        g_source_set_can_recurse(source, TRUE);
        g_source_attach(source, context);
        return source; /* the caller's reference */
}
