/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Runs an sd-event loop inside the GLib main loop: GLib is primary (libsoup needs it),
 * sd-event carries UDP I/O, timers, signals, the watchdog and sd-bus. */

#include <glib.h>
#include <systemd/sd-event.h>

/* Attaches `event` to `context` (NULL: default). Returns the GSource (owned by the context;
 * g_source_destroy() it before unreffing the event). When the sd-event loop exits
 * (sd_event_exit, e.g. from SIGTERM with sd_event_set_signal_exit), `loop` is quit. */
/* The caller owns one reference: g_source_destroy() + g_source_unref() when done. */
GSource *px_event_glue_attach(sd_event *event, GMainContext *context, GMainLoop *loop);
