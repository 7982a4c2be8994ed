/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Command line (seed-compatible: -flag and --flag, v2 subcommands) and key-file
 * configuration (/etc/pixiecore/pixiecore.conf). Command-line flags override the file. */

#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum PxBootloader {
        PX_BOOTLOADER_IPXE,
        PX_BOOTLOADER_PXELINUX,
        _PX_BOOTLOADER_MAX,
        _PX_BOOTLOADER_INVALID = -EINVAL,
} PxBootloader;

const char *px_bootloader_to_string(PxBootloader b);
PxBootloader px_bootloader_from_string(const char *s);

typedef struct PxConfig {
        /* static mode */
        char *kernel;
        char **initrds; /* NULL-terminated, may be empty */
        char *cmdline;
        char *message;
        /* API mode */
        char *api_url;
        guint64 api_timeout_usec;
        guint64 api_cache_usec;     /* how long one API answer serves a machine's boot */
        char *state_dir;            /* persistent state (file ID key); $STATE_DIRECTORY by default */
        char *cache_dir;            /* copies of upstream files (API mode); $CACHE_DIRECTORY by default */
        guint64 upstream_max_bytes; /* cap on a proxied upstream file */

        bool debug;
        struct in_addr listen_addr; /* INADDR_ANY by default */
        char *interface;            /* only answer DHCP on this interface; NULL: all */
        guint16 http_port;
        guint16 dhcp_port, pxe_port, tftp_port;
        PxBootloader bootloader;

        /* bootloader files (Debian's locations by default) */
        char *ipxe_bios;      /* undionly.kpxe: BIOS PXE ROMs */
        char *ipxe_ipxe;      /* ipxe.pxe: BIOS machines whose ROM is a limited iPXE */
        char *ipxe_efi32;     /* may be missing: then EFI32 clients are not answered */
        char *ipxe_efi64;     /* ipxe.efi */
        char *pxelinux;       /* lpxelinux.0 */
        char *ldlinux;        /* ldlinux.c32 */
        char *syslinux_efi64; /* syslinux.efi (optional) */
        char *ldlinux_e64;    /* ldlinux.e64 (optional) */

        /* limits */
        unsigned max_sessions;
        unsigned max_tftp_transfers;
        unsigned max_http_conns;            /* open HTTP connections */
        unsigned max_http_conns_per_client; /* open HTTP connections per peer address */
        guint64 http_header_timeout_usec;   /* no (next) request by then: dropped */

        char *config_file; /* the file that was loaded, if any */
} PxConfig;

void px_config_init_defaults(PxConfig *c);
void px_config_clear(PxConfig *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PxConfig, px_config_clear)

#define PX_CONFIG_ERROR (px_config_error_quark())
GQuark px_config_error_quark(void);
typedef enum {
        PX_CONFIG_ERROR_USAGE,   /* bad command line */
        PX_CONFIG_ERROR_INVALID, /* a bad value in file or command line */
        PX_CONFIG_ERROR_HELP,    /* --help/--version printed; exit 0 */
} PxConfigError;

/* Loads the config file (explicit --config, else the default path if it exists), then
 * applies the command line on top, then validates. On failure the GError message names the
 * problem (flag or key, and value). */
gboolean px_config_load(PxConfig *c, int argc, char **argv, GError **error);

/* Checks that the mode is consistent and every referenced local file exists and is readable.
 * Separate so that tests can build configs by hand. */
gboolean px_config_validate(PxConfig *c, GError **error);

/* Validates a kernel command line for the configured bootloader: refuses what iPXE or
 * pxelinux would silently change. */
gboolean px_cmdline_check(const char *cmdline, PxBootloader bootloader, GError **error);

void px_config_print_help(FILE *f);
