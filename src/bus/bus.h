/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* The D-Bus service org.pixiecore.Pixiecore1 on the system bus (sd-bus on the daemon's sd-event
 * loop): boot policy methods on the Manager, one Session object per booting machine. The only
 * module that includes sd-bus. */

#include <glib.h>

typedef struct PxManager PxManager;
typedef struct PxBus PxBus;

#define PX_BUS_NAME          "org.pixiecore.Pixiecore1"
#define PX_BUS_PATH          "/org/pixiecore/Pixiecore1"
#define PX_BUS_SESSION_PATH  "/org/pixiecore/Pixiecore1/session"
#define PX_BUS_MANAGER_IFACE "org.pixiecore.Pixiecore1.Manager"
#define PX_BUS_SESSION_IFACE "org.pixiecore.Pixiecore1.Session"

/* Connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS honoured), exports the objects and
 * requests the name. Fails when the bus cannot be reached. */
int px_bus_new(PxManager *m, PxBus **ret);
PxBus *px_bus_free(PxBus *b);

/* Tell the bus that manager-level properties may have changed (targets, counters). */
void px_bus_manager_changed(PxBus *b);
