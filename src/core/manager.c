/* SPDX-License-Identifier: Apache-2.0 */
#include "manager.h"

#include <arpa/inet.h>
#include <signal.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "bus.h"
#include "event-glue.h"
#include "targets.h"
#include "file-id.h"
#include "px-build-config.h"
#include "px-log.h"

#define SESSION_IDLE_TIMEOUT_USEC (10 * 60 * G_USEC_PER_SEC)
#define EXPIRE_INTERVAL_USEC      (30 * G_USEC_PER_SEC)

/* Every file a bootloader may ask for by name, over TFTP or HTTP. */
static const PxLoader ipxe_loaders[] = {
        {"undionly.kpxe", "loader/undionly.kpxe"},
        {"ipxe.pxe", "loader/ipxe.pxe"},
        {"ipxe.efi", "loader/ipxe.efi"},
        {"ipxe-ia32.efi", "loader/ipxe-ia32.efi"},
};

static const PxLoader pxelinux_loaders[] = {
        {"lpxelinux.0", "loader/lpxelinux.0"},
        {"ldlinux.c32", "loader/ldlinux.c32"},
        {"syslinux.efi", "loader/syslinux.efi"},
        {"ldlinux.e64", "loader/ldlinux.e64"},
};

const PxLoader *px_manager_find_loader(PxManager *m, const char *name) {
        const PxLoader *table = m->config->bootloader == PX_BOOTLOADER_PXELINUX ? pxelinux_loaders : ipxe_loaders;
        size_t n = m->config->bootloader == PX_BOOTLOADER_PXELINUX ? ELEMENTSOF(pxelinux_loaders)
                                                                   : ELEMENTSOF(ipxe_loaders);

        for (size_t i = 0; i < n; i++)
                if (g_str_equal(table[i].name, name))
                        return px_file_store_contains(m->files, table[i].store_id) ? &table[i] : NULL;
        return NULL;
}

int px_split_boot_path(const char *path, uint8_t ret_mac[6], bool *ret_has_mac, const char **ret_name) {
        const char *slash;
        char macbuf[PX_MAC_STRLEN];

        while (*path == '/')
                path++;
        slash = strchr(path, '/');
        if (!slash) {
                *ret_has_mac = false;
                *ret_name = path;
                return 0;
        }
        if (slash - path != 17 || strchr(slash + 1, '/'))
                return -ENOENT;
        memcpy(macbuf, path, 17);
        macbuf[17] = '\0';
        if (px_mac_from_string(macbuf, ret_mac) < 0)
                return -ENOENT;
        *ret_has_mac = true;
        *ret_name = slash + 1;
        return 0;
}

/* ---- TFTP glue ---- */

static int tftp_open_file(void *userdata, const char *filename, const struct sockaddr_in *peer, GBytes **ret_data,
                          void **ret_tag) {
        PxManager *m = userdata;
        uint8_t mac[6];
        bool has_mac;
        const char *name;
        const PxLoader *loader;

        if (px_split_boot_path(filename, mac, &has_mac, &name) < 0)
                return -ENOENT;
        loader = px_manager_find_loader(m, name);
        if (!loader)
                return -ENOENT;
        *ret_data = px_file_store_get(m->files, loader->store_id);
        *ret_tag = (void *) loader;
        return *ret_data ? 0 : -ENOENT;
}

static void tftp_event(void *userdata, const TftpEvent *ev) {
        PxManager *m = userdata;
        const PxLoader *loader = ev->file_tag;
        char mac_str[PX_MAC_STRLEN], peer[INET_ADDRSTRLEN];
        uint8_t mac[6];
        bool has_mac = false;
        const char *name;
        PxSession *s = NULL;

        inet_ntop(AF_INET, &ev->peer->sin_addr, peer, sizeof(peer));
        if (px_split_boot_path(ev->filename, mac, &has_mac, &name) >= 0 && has_mac) {
                px_mac_to_string(mac, mac_str);
                s = ev->kind == TFTP_EVENT_STARTED ? px_session_table_ensure(m->sessions, mac, false)
                                                   : px_session_table_lookup(m->sessions, mac);
        }
        if (s)
                px_session_set_client_addr(s, ev->peer->sin_addr);

        switch (ev->kind) {
        case TFTP_EVENT_STARTED:
                px_log_debug(has_mac ? mac_str : NULL, "tftp", "sending %s to %s", ev->filename, peer);
                if (s && loader)
                        px_session_begin_file(s, PX_SESSION_LOADING_BOOTLOADER, loader->name, ev->total);
                break;
        case TFTP_EVENT_PROGRESS:
                if (s && loader && g_strcmp0(s->current_file, loader->name) == 0)
                        px_session_set_progress(s, ev->bytes_sent);
                break;
        case TFTP_EVENT_DONE:
                px_log_info_ratelimited(has_mac ? mac_str : NULL, "tftp", "sent %s to %s (%" G_GUINT64_FORMAT " bytes)",
                                        ev->filename, peer, ev->total);
                if (s && loader && g_strcmp0(s->current_file, loader->name) == 0) {
                        px_session_set_progress(s, ev->bytes_sent);
                        px_session_set_state(s, PX_SESSION_BOOTLOADER_LOADED);
                }
                break;
        case TFTP_EVENT_ABORTED:
                /* firmware asks tsize, then aborts and asks again: normal */
                px_log_debug(has_mac ? mac_str : NULL, "tftp",
                             "%s: client ended transfer after option negotiation (%s)", ev->filename,
                             ev->error ? ev->error : "");
                break;
        case TFTP_EVENT_OVER_LIMIT:
                px_log_warning_ratelimited(has_mac ? mac_str : NULL, "tftp",
                                           "%s from %s not answered: %u transfers running (-max-tftp-transfers); "
                                           "the client will retransmit",
                                           ev->filename, peer, m->config->max_tftp_transfers);
                break;
        case TFTP_EVENT_FAILED:
                px_log_warning_ratelimited(has_mac ? mac_str : NULL, "tftp", "transfer of %s to %s failed: %s",
                                           ev->filename, peer, ev->error ? ev->error : "unknown error");
                if (s)
                        px_session_fail(s, ev->error ? ev->error : "TFTP transfer failed");
                break;
        }
}

static const TftpServerOps tftp_ops = {
        .open_file = tftp_open_file,
        .event = tftp_event,
};

/* ---- sessions ---- */

static void session_changed(void *userdata, PxSession *s) {
        px_log_debug(s->mac_str, "session", "state %s file %s %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                     px_session_state_to_string(s->state), s->current_file ? s->current_file : "-", s->bytes_sent,
                     s->bytes_total);
}

static int on_expire_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        PxManager *m = userdata;

        px_session_table_expire(m->sessions);
        (void) sd_event_source_set_time(source, usec + EXPIRE_INTERVAL_USEC);
        /* a time source is one-shot: it is disabled once it has fired */
        (void) sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        return 0;
}

/* ---- lifecycle ---- */

int px_manager_new(PxConfig *config, PxManager **ret) {
        g_autoptr(PxManager) m = g_new0(PxManager, 1);
        PxSessionObserver observer = {.changed = session_changed};
        int r;

        m->config = config;
        for (int i = 0; i < _PX_LISTENER_MAX; i++)
                m->fds.fd[i] = -1;
        r = sd_event_new(&m->event);
        if (r < 0)
                return r;
        m->loop = g_main_loop_new(NULL, FALSE);
        m->files = px_file_store_new();
        m->sessions = px_session_table_new(config->max_sessions, SESSION_IDLE_TIMEOUT_USEC);
        px_session_table_add_observer(m->sessions, &observer);
        m->cancellable = g_cancellable_new();
        *ret = g_steal_pointer(&m);
        return 0;
}

PxManager *px_manager_free(PxManager *m) {
        if (!m)
                return NULL;
        g_cancellable_cancel(m->cancellable);
        px_http_server_stop(m);
        px_dhcp_server_stop(m);
        m->tftp = tftp_server_free(m->tftp);
        m->expire_timer = sd_event_source_disable_unref(m->expire_timer);
        px_listen_fds_close(&m->fds);
        g_clear_pointer(&m->policy, px_policy_free);
        /* sessions go before the bus, which announces their removal */
        g_clear_pointer(&m->sessions, px_session_table_free);
        m->bus = px_bus_free(m->bus);
        g_clear_pointer(&m->targets, px_target_store_free);
        g_clear_object(&m->upstream);
        g_clear_pointer(&m->file_ids, px_file_ids_free);
        g_free(m->cache_dir);
        g_clear_pointer(&m->files, px_file_store_free);
        if (m->event_glue) {
                g_source_destroy(m->event_glue);
                g_clear_pointer(&m->event_glue, g_source_unref);
        }
        g_clear_pointer(&m->loop, g_main_loop_unref);
        m->event = sd_event_unref(m->event);
        g_clear_object(&m->cancellable);
        g_free(m);
        return NULL;
}

static gboolean load_files(PxManager *m, GError **error) {
        PxConfig *c = m->config;
        const struct {
                const char *store_id;
                const char *path;
        } loaders[] = {
                {"loader/undionly.kpxe", c->bootloader == PX_BOOTLOADER_IPXE ? c->ipxe_bios : NULL},
                {"loader/ipxe.pxe", c->bootloader == PX_BOOTLOADER_IPXE ? c->ipxe_ipxe : NULL},
                {"loader/ipxe.efi", c->bootloader == PX_BOOTLOADER_IPXE ? c->ipxe_efi64 : NULL},
                {"loader/ipxe-ia32.efi", c->bootloader == PX_BOOTLOADER_IPXE ? c->ipxe_efi32 : NULL},
                {"loader/lpxelinux.0", c->bootloader == PX_BOOTLOADER_PXELINUX ? c->pxelinux : NULL},
                {"loader/ldlinux.c32", c->bootloader == PX_BOOTLOADER_PXELINUX ? c->ldlinux : NULL},
                {"loader/syslinux.efi", c->bootloader == PX_BOOTLOADER_PXELINUX ? c->syslinux_efi64 : NULL},
                {"loader/ldlinux.e64", c->bootloader == PX_BOOTLOADER_PXELINUX ? c->ldlinux_e64 : NULL},
        };
        unsigned n = 0;

        for (size_t i = 0; i < ELEMENTSOF(loaders); i++)
                if (loaders[i].path && !px_file_store_add(m->files, loaders[i].store_id, loaders[i].path, error))
                        return FALSE;

        if (c->kernel) {
                if (!px_file_store_add(m->files, "kernel", c->kernel, error))
                        return FALSE;
                for (char **i = c->initrds; i && *i; i++, n++) {
                        g_autofree char *id = g_strdup_printf("initrd-%u", n);
                        if (!px_file_store_add(m->files, id, *i, error))
                                return FALSE;
                }
        }
        return TRUE;
}

gboolean px_manager_start(PxManager *m, GError **error) {
        PxConfig *c = m->config;
        PxListenPorts ports = {.addr = c->listen_addr};
        TftpServerConfig tftp_config = {.max_transfers = c->max_tftp_transfers};
        int r;

        if (!load_files(m, error))
                return FALSE;
        const char *state_env = c->state_dir ? c->state_dir : g_getenv("STATE_DIRECTORY");
        g_autofree char *state_dir = NULL;
        if (state_env && *state_env) {
                /* systemd may pass several, colon-separated: ours is the first */
                g_auto(GStrv) dirs = g_strsplit(state_env, ":", 2);
                state_dir = g_strdup(dirs[0]);
                if (g_mkdir_with_parents(state_dir, 0700) < 0) {
                        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "state directory %s: %s",
                                    state_dir, g_strerror(errno));
                        return FALSE;
                }
                m->file_ids = px_file_ids_new(state_dir, error);
                if (!m->file_ids) {
                        g_prefix_error(error, "state directory %s: ", state_dir);
                        return FALSE;
                }
        } else {
                px_log_notice(NULL, "init",
                              "no state directory (-state-dir or $STATE_DIRECTORY): targets set over D-Bus and "
                              "file links handed to machines will not survive a restart");
                m->file_ids = px_file_ids_new_ephemeral();
        }
        m->targets = px_target_store_new(state_dir, c->bootloader, error);
        if (!m->targets)
                return FALSE;

        m->upstream = soup_session_new_with_options("timeout", 30, "idle-timeout", 60, "user-agent",
                                                    "pixiecore/" PACKAGE_VERSION, "max-conns", 1024,
                                                    "max-conns-per-host", 512, NULL);
        g_autofree char *cache_dir = NULL;
        if (px_first_directory(c->cache_dir ? c->cache_dir : g_getenv("CACHE_DIRECTORY"), &cache_dir) >= 0) {
                if (g_mkdir_with_parents(cache_dir, 0700) < 0)
                        px_log_warning(NULL, "init", "cache directory %s: %s; not caching upstream files", cache_dir,
                                       g_strerror(errno));
                else
                        m->cache_dir = g_steal_pointer(&cache_dir);
        }
        m->policy = px_layered_policy_new(c, m->targets, c->api_url ? px_api_policy_new(c, m->file_ids) : NULL,
                                          m->file_ids);

        ports.port[PX_LISTENER_DHCP] = c->dhcp_port;
        ports.port[PX_LISTENER_PXE] = c->pxe_port;
        ports.port[PX_LISTENER_TFTP] = c->tftp_port;
        ports.port[PX_LISTENER_HTTP] = c->http_port;
        if (!px_listen_open(&ports, &m->fds, error))
                return FALSE;

        if (px_dhcp_server_start(m, error) < 0)
                return FALSE;
        if (m->fds.fd[PX_LISTENER_TFTP] >= 0) {
                r = tftp_server_new(m->event, m->fds.fd[PX_LISTENER_TFTP], &tftp_config, &tftp_ops, m, &m->tftp);
                if (r < 0) {
                        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "TFTP: %s", g_strerror(-r));
                        return FALSE;
                }
                m->fds.fd[PX_LISTENER_TFTP] = -1; /* owned by the TFTP server */
        }
        if (!px_http_server_start(m, error))
                return FALSE;

        r = px_bus_new(m, &m->bus);
        if (r == -ENOENT || r == -ECONNREFUSED)
                /* no system bus on this machine (containers, minimal installs): a normal setup */
                px_log_notice(NULL, "init", "no system bus (%s): running without the D-Bus interface", g_strerror(-r));
        else if (r < 0)
                px_log_warning(NULL, "init", "no D-Bus service: cannot connect to the system bus (%s)", g_strerror(-r));

        r = sd_event_add_time_relative(m->event, &m->expire_timer, CLOCK_MONOTONIC, EXPIRE_INTERVAL_USEC, 0,
                                       on_expire_timer, m);
        if (r < 0) {
                g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "timer: %s", g_strerror(-r));
                return FALSE;
        }
        return TRUE;
}

int px_manager_run(PxManager *m) {
        g_autofree char *status = NULL;
        int r;

        /* SIGTERM and SIGINT are blocked in main() before any thread starts */
        r = sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
        if (r < 0)
                return r;
        (void) sd_event_set_watchdog(m->event, true);
        m->event_glue = px_event_glue_attach(m->event, NULL, m->loop);

        status = g_strdup_printf("STATUS=Serving %s mode with %s (ProxyDHCP%s, PXE%s, TFTP%s, HTTP :%u)",
                                 m->policy->mode, px_bootloader_to_string(m->config->bootloader),
                                 m->dhcp_source ? "" : " off", m->pxe_source ? "" : " off", m->tftp ? "" : " off",
                                 m->config->http_port);
        px_log_info(NULL, "init", "%s", status + strlen("STATUS="));
        (void) sd_notifyf(false, "READY=1\n%s", status);

        g_main_loop_run(m->loop);

        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down");
        px_log_info(NULL, "init", "shutting down");
        return 0;
}
