/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api-response.h"
#include "bootscript.h"
#include "px-macro.h"
#include "px-build-config.h"

#define DEFAULT_CONFIG_FILE PX_SYSCONFDIR "/pixiecore/pixiecore.conf"
#define KEYFILE_GROUP       "pixiecore"
/* Linux x86 COMMAND_LINE_SIZE is 2048 including the NUL and the initrd= arguments we add. */
#define CMDLINE_MAX 1900

G_DEFINE_QUARK(px - config - error - quark, px_config_error)

static const char *const bootloader_names[_PX_BOOTLOADER_MAX] = {
        [PX_BOOTLOADER_IPXE] = "ipxe",
        [PX_BOOTLOADER_PXELINUX] = "pxelinux",
};

const char *px_bootloader_to_string(PxBootloader b) {
        return b >= 0 && b < _PX_BOOTLOADER_MAX ? bootloader_names[b] : NULL;
}

PxBootloader px_bootloader_from_string(const char *s) {
        for (int i = 0; i < _PX_BOOTLOADER_MAX; i++)
                if (g_strcmp0(s, bootloader_names[i]) == 0)
                        return i;
        return _PX_BOOTLOADER_INVALID;
}

void px_config_init_defaults(PxConfig *c) {
        *c = (PxConfig){
                .api_timeout_usec = 5 * G_USEC_PER_SEC,
                .api_cache_usec = 60 * G_USEC_PER_SEC,
                .upstream_max_bytes = 4ull << 30,
                .listen_addr = {.s_addr = htonl(INADDR_ANY)},
                .http_port = 80,
                .dhcp_port = 67,
                .pxe_port = 4011,
                .tftp_port = 69,
                .bootloader = PX_BOOTLOADER_IPXE,
                .ipxe_bios = g_strdup(PX_IPXE_DIR "/undionly.kpxe"),
                .ipxe_ipxe = g_strdup(PX_IPXE_DIR "/ipxe.pxe"),
                .ipxe_efi32 = NULL, /* Debian ships no i386 ipxe.efi */
                .ipxe_efi64 = g_strdup(PX_IPXE_DIR "/ipxe.efi"),
                .pxelinux = g_strdup(PX_PXELINUX_DIR "/lpxelinux.0"),
                .ldlinux = g_strdup(PX_SYSLINUX_MODULES_DIR "/bios/ldlinux.c32"),
                .syslinux_efi64 = g_strdup(PX_SYSLINUX_EFI_DIR "/efi64/syslinux.efi"),
                .ldlinux_e64 = g_strdup(PX_SYSLINUX_MODULES_DIR "/efi64/ldlinux.e64"),
                .max_sessions = 1024,
                .max_tftp_transfers = 256,
                .max_http_conns = 1024,
                .max_http_conns_per_client = 16,
                .http_header_timeout_usec = 10 * G_USEC_PER_SEC,
        };
        c->initrds = g_new0(char *, 1);
}

void px_config_clear(PxConfig *c) {
        g_clear_pointer(&c->kernel, g_free);
        g_clear_pointer(&c->initrds, g_strfreev);
        g_clear_pointer(&c->cmdline, g_free);
        g_clear_pointer(&c->message, g_free);
        g_clear_pointer(&c->api_url, g_free);
        g_clear_pointer(&c->state_dir, g_free);
        g_clear_pointer(&c->cache_dir, g_free);
        g_clear_pointer(&c->interface, g_free);
        g_clear_pointer(&c->ipxe_bios, g_free);
        g_clear_pointer(&c->ipxe_ipxe, g_free);
        g_clear_pointer(&c->ipxe_efi32, g_free);
        g_clear_pointer(&c->ipxe_efi64, g_free);
        g_clear_pointer(&c->pxelinux, g_free);
        g_clear_pointer(&c->ldlinux, g_free);
        g_clear_pointer(&c->syslinux_efi64, g_free);
        g_clear_pointer(&c->ldlinux_e64, g_free);
        g_clear_pointer(&c->config_file, g_free);
}

/* ---- value parsers ---- */

static gboolean parse_duration(const char *s, guint64 *ret_usec) {
        char *end = NULL;
        double v;

        errno = 0;
        v = g_ascii_strtod(s, &end);
        if (errno != 0 || end == s || v < 0 || v > 3600 * 24)
                return FALSE;
        if (*end == '\0' || g_str_equal(end, "s"))
                *ret_usec = (guint64) (v * G_USEC_PER_SEC);
        else if (g_str_equal(end, "ms"))
                *ret_usec = (guint64) (v * 1000);
        else if (g_str_equal(end, "m") || g_str_equal(end, "min"))
                *ret_usec = (guint64) (v * 60 * G_USEC_PER_SEC);
        else
                return FALSE;
        return TRUE;
}

static gboolean parse_port(const char *s, gboolean allow_zero, guint16 *ret) {
        guint64 v;

        if (!g_ascii_string_to_unsigned(s, 10, allow_zero ? 0 : 1, 65535, &v, NULL))
                return FALSE;
        *ret = (guint16) v;
        return TRUE;
}

static gboolean parse_bool(const char *s, bool *ret) {
        if (!s || g_ascii_strcasecmp(s, "true") == 0 || g_str_equal(s, "1") || g_ascii_strcasecmp(s, "yes") == 0) {
                *ret = true;
                return TRUE;
        }
        if (g_ascii_strcasecmp(s, "false") == 0 || g_str_equal(s, "0") || g_ascii_strcasecmp(s, "no") == 0) {
                *ret = false;
                return TRUE;
        }
        return FALSE;
}

static void set_string(char **field, const char *value) {
        g_free(*field);
        *field = g_strdup(value);
}

/* "-initrd a,b" and repeated "-initrd a -initrd b" both append. */
static void append_initrds(PxConfig *c, const char *value) {
        g_auto(GStrv) parts = g_strsplit_set(value, ",;", -1);
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();

        g_strv_builder_addv(b, (const char **) c->initrds);
        for (char **p = parts; *p; p++) {
                g_autofree char *item = g_strstrip(g_strdup(*p));
                if (*item)
                        g_strv_builder_add(b, item);
        }
        g_strfreev(c->initrds);
        c->initrds = g_strv_builder_end(b);
}

/* ---- the option table: one entry per flag, shared by argv and the key file ---- */

typedef enum {
        OPT_KERNEL = 1000,
        OPT_INITRD,
        OPT_CMDLINE,
        OPT_MESSAGE,
        OPT_API,
        OPT_API_TIMEOUT,
        OPT_API_CACHE,
        OPT_STATE_DIR,
        OPT_CACHE_DIR,
        OPT_DEBUG,
        OPT_LOG_TIMESTAMPS,
        OPT_LISTEN_ADDR,
        OPT_INTERFACE,
        OPT_PORT,
        OPT_PORT_DHCP,
        OPT_PORT_PXE,
        OPT_PORT_TFTP,
        OPT_BOOTLOADER,
        OPT_IPXE_BIOS,
        OPT_IPXE_IPXE,
        OPT_IPXE_EFI32,
        OPT_IPXE_EFI64,
        OPT_PXELINUX,
        OPT_LDLINUX,
        OPT_SYSLINUX_EFI64,
        OPT_LDLINUX_E64,
        OPT_MAX_SESSIONS,
        OPT_MAX_TFTP_TRANSFERS,
        OPT_MAX_HTTP_CONNS,
        OPT_MAX_HTTP_CONNS_PER_CLIENT,
        OPT_HTTP_HEADER_TIMEOUT,
        OPT_CONFIG,
        OPT_HELP,
        OPT_VERSION,
} OptionId;

static const struct option long_options[] = {
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"initrd", required_argument, NULL, OPT_INITRD},
        {"cmdline", required_argument, NULL, OPT_CMDLINE},
        {"bootmsg", required_argument, NULL, OPT_MESSAGE},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"api", required_argument, NULL, OPT_API},
        {"api-timeout", required_argument, NULL, OPT_API_TIMEOUT},
        {"api-request-timeout", required_argument, NULL, OPT_API_TIMEOUT},
        {"api-cache-time", required_argument, NULL, OPT_API_CACHE},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
        {"debug", no_argument, NULL, OPT_DEBUG},
        {"log-timestamps", no_argument, NULL, OPT_LOG_TIMESTAMPS},
        {"listen-addr", required_argument, NULL, OPT_LISTEN_ADDR},
        {"interface", required_argument, NULL, OPT_INTERFACE},
        {"port", required_argument, NULL, OPT_PORT},
        {"port-http", required_argument, NULL, OPT_PORT},
        {"port-dhcp", required_argument, NULL, OPT_PORT_DHCP},
        {"port-pxe", required_argument, NULL, OPT_PORT_PXE},
        {"port-tftp", required_argument, NULL, OPT_PORT_TFTP},
        {"bootloader", required_argument, NULL, OPT_BOOTLOADER},
        {"ipxe-bios", required_argument, NULL, OPT_IPXE_BIOS},
        {"ipxe-ipxe", required_argument, NULL, OPT_IPXE_IPXE},
        {"ipxe-efi32", required_argument, NULL, OPT_IPXE_EFI32},
        {"ipxe-efi64", required_argument, NULL, OPT_IPXE_EFI64},
        {"pxelinux", required_argument, NULL, OPT_PXELINUX},
        {"ldlinux", required_argument, NULL, OPT_LDLINUX},
        {"syslinux-efi64", required_argument, NULL, OPT_SYSLINUX_EFI64},
        {"ldlinux-e64", required_argument, NULL, OPT_LDLINUX_E64},
        {"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
        {"max-tftp-transfers", required_argument, NULL, OPT_MAX_TFTP_TRANSFERS},
        {"max-http-conns", required_argument, NULL, OPT_MAX_HTTP_CONNS},
        {"max-http-conns-per-client", required_argument, NULL, OPT_MAX_HTTP_CONNS_PER_CLIENT},
        {"http-header-timeout", required_argument, NULL, OPT_HTTP_HEADER_TIMEOUT},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {}};

static const struct option *find_option(const char *name) {
        for (const struct option *o = long_options; o->name; o++)
                if (g_str_equal(o->name, name))
                        return o;
        return NULL;
}

static gboolean invalid(GError **error, const char *origin, const char *name, const char *value, const char *why) {
        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "%s%s%s: invalid value '%s': %s",
                    origin ? origin : "--", origin ? " key " : "", name, value ? value : "", why);
        return FALSE;
}

/* origin: NULL for the command line, else "<file>" for messages. */
static gboolean apply_option(PxConfig *c, int id, const char *name, const char *value, const char *origin,
                             GError **error) {
        guint64 n;

        switch ((OptionId) id) {
        case OPT_KERNEL:
                set_string(&c->kernel, value);
                return TRUE;
        case OPT_INITRD:
                append_initrds(c, value);
                return TRUE;
        case OPT_CMDLINE:
                set_string(&c->cmdline, value);
                return TRUE;
        case OPT_MESSAGE:
                set_string(&c->message, value);
                return TRUE;
        case OPT_API:
                set_string(&c->api_url, value);
                return TRUE;
        case OPT_API_TIMEOUT:
                if (!parse_duration(value, &c->api_timeout_usec) || c->api_timeout_usec == 0)
                        return invalid(error, origin, name, value, "expected a duration like 5s or 500ms");
                return TRUE;
        case OPT_API_CACHE:
                if (!parse_duration(value, &c->api_cache_usec))
                        return invalid(error, origin, name, value, "expected a duration like 60s (0 disables)");
                return TRUE;
        case OPT_STATE_DIR:
                if (!g_path_is_absolute(value))
                        return invalid(error, origin, name, value, "expected an absolute path");
                set_string(&c->state_dir, value);
                return TRUE;
        case OPT_CACHE_DIR:
                if (*value && !g_path_is_absolute(value))
                        return invalid(error, origin, name, value, "expected an absolute path (empty disables)");
                set_string(&c->cache_dir, value);
                return TRUE;
        case OPT_DEBUG:
                if (!parse_bool(value, &c->debug))
                        return invalid(error, origin, name, value, "expected true or false");
                return TRUE;
        case OPT_LOG_TIMESTAMPS:
                return TRUE; /* accepted for compatibility; the journal timestamps every line */
        case OPT_LISTEN_ADDR:
                if (inet_pton(AF_INET, value, &c->listen_addr) != 1)
                        return invalid(error, origin, name, value, "expected an IPv4 address");
                return TRUE;
        case OPT_INTERFACE:
                if (!*value || strlen(value) >= IF_NAMESIZE)
                        return invalid(error, origin, name, value, "expected an interface name");
                set_string(&c->interface, value);
                return TRUE;
        case OPT_PORT:
                if (!parse_port(value, FALSE, &c->http_port))
                        return invalid(error, origin, name, value, "expected a port number 1-65535");
                return TRUE;
        case OPT_PORT_DHCP:
                if (!parse_port(value, TRUE, &c->dhcp_port))
                        return invalid(error, origin, name, value, "expected a port number 0-65535 (0 disables)");
                return TRUE;
        case OPT_PORT_PXE:
                if (!parse_port(value, TRUE, &c->pxe_port))
                        return invalid(error, origin, name, value, "expected a port number 0-65535 (0 disables)");
                return TRUE;
        case OPT_PORT_TFTP:
                if (!parse_port(value, TRUE, &c->tftp_port))
                        return invalid(error, origin, name, value, "expected a port number 0-65535 (0 disables)");
                return TRUE;
        case OPT_BOOTLOADER: {
                PxBootloader b = px_bootloader_from_string(value);
                if (b < 0)
                        return invalid(error, origin, name, value, "expected ipxe or pxelinux");
                c->bootloader = b;
                return TRUE;
        }
        case OPT_IPXE_BIOS:
                set_string(&c->ipxe_bios, value);
                return TRUE;
        case OPT_IPXE_IPXE:
                set_string(&c->ipxe_ipxe, value);
                return TRUE;
        case OPT_IPXE_EFI32:
                set_string(&c->ipxe_efi32, value);
                return TRUE;
        case OPT_IPXE_EFI64:
                set_string(&c->ipxe_efi64, value);
                return TRUE;
        case OPT_PXELINUX:
                set_string(&c->pxelinux, value);
                return TRUE;
        case OPT_LDLINUX:
                set_string(&c->ldlinux, value);
                return TRUE;
        case OPT_SYSLINUX_EFI64:
                set_string(&c->syslinux_efi64, value);
                return TRUE;
        case OPT_LDLINUX_E64:
                set_string(&c->ldlinux_e64, value);
                return TRUE;
        case OPT_MAX_SESSIONS:
                if (!g_ascii_string_to_unsigned(value, 10, 1, 1000000, &n, NULL))
                        return invalid(error, origin, name, value, "expected a number 1-1000000");
                c->max_sessions = (unsigned) n;
                return TRUE;
        case OPT_MAX_TFTP_TRANSFERS:
                if (!g_ascii_string_to_unsigned(value, 10, 1, 100000, &n, NULL))
                        return invalid(error, origin, name, value, "expected a number 1-100000");
                c->max_tftp_transfers = (unsigned) n;
                return TRUE;
        case OPT_MAX_HTTP_CONNS:
                if (!g_ascii_string_to_unsigned(value, 10, 1, 100000, &n, NULL))
                        return invalid(error, origin, name, value, "expected a number 1-100000");
                c->max_http_conns = (unsigned) n;
                return TRUE;
        case OPT_MAX_HTTP_CONNS_PER_CLIENT:
                if (!g_ascii_string_to_unsigned(value, 10, 1, 100000, &n, NULL))
                        return invalid(error, origin, name, value, "expected a number 1-100000");
                c->max_http_conns_per_client = (unsigned) n;
                return TRUE;
        case OPT_HTTP_HEADER_TIMEOUT:
                if (!parse_duration(value, &c->http_header_timeout_usec) || c->http_header_timeout_usec == 0)
                        return invalid(error, origin, name, value, "expected a duration like 10s or 500ms");
                return TRUE;
        case OPT_CONFIG:
        case OPT_HELP:
        case OPT_VERSION:
                break;
        }
        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "%s: key '%s' is not allowed here",
                    origin ? origin : "command line", name);
        return FALSE;
}

static gboolean load_keyfile(PxConfig *c, const char *path, gboolean must_exist, GError **error) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) local = NULL;
        g_auto(GStrv) keys = NULL;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
                if (!must_exist && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return TRUE;
                g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "config file %s: %s", path,
                            local->message);
                return FALSE;
        }

        g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++)
                if (!g_str_equal(*g, KEYFILE_GROUP)) {
                        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID,
                                    "config file %s: unknown section [%s] (expected [%s])", path, *g, KEYFILE_GROUP);
                        return FALSE;
                }

        keys = g_key_file_get_keys(kf, KEYFILE_GROUP, NULL, NULL);
        for (char **k = keys ? keys : (char *[]){NULL}; *k; k++) {
                const struct option *o = find_option(*k);
                g_autofree char *value = NULL;

                if (!o || o->val == OPT_CONFIG || o->val == OPT_HELP || o->val == OPT_VERSION) {
                        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID,
                                    "config file %s: unknown key '%s' in [%s]", path, *k, KEYFILE_GROUP);
                        return FALSE;
                }
                value = g_key_file_get_string(kf, KEYFILE_GROUP, *k, &local);
                if (!value) {
                        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "config file %s: key '%s': %s",
                                    path, *k, local->message);
                        return FALSE;
                }
                if (!apply_option(c, o->val, *k, value, path, error))
                        return FALSE;
        }
        set_string(&c->config_file, path);
        return TRUE;
}

void px_config_print_help(FILE *f) {
        fputs("Usage:\n"
              "  pixiecore -kernel FILE|URL [-initrd FILE|URL[,...]] [--cmdline ARGS] [options]\n"
              "  pixiecore boot KERNEL [INITRD...] [options]\n"
              "  pixiecore -api URL [options]      (also: pixiecore api URL)\n"
              "\n"
              "Boots every PXE machine on the segment into KERNEL with INITRDs, alongside the\n"
              "network's existing DHCP server (ProxyDHCP). Flags may be spelled -flag or --flag.\n"
              "\n"
              "Boot payload:\n"
              "  -kernel FILE|URL           kernel to boot (local path or http(s) URL)\n"
              "  -initrd FILE|URL[,...]     initrds, merged by the kernel in order; repeatable\n"
              "  -cmdline ARGS              kernel command line, passed exactly as given\n"
              "  -bootmsg TEXT              message shown on the booting machine's console\n"
              "  -api URL                   ask this HTTP API what to boot (API mode)\n"
              "  -api-timeout DURATION      API request timeout (default 5s)\n"
              "  -api-cache-time DURATION   reuse one API answer for a machine this long (default 60s)\n"
              "  -state-dir DIR             keeps the key of proxied-file IDs (default $STATE_DIRECTORY)\n"
              "  -cache-dir DIR             keeps copies of upstream files (default $CACHE_DIRECTORY;\n"
              "                             an empty value disables the cache)\n"
              "\n"
              "Network:\n"
              "  -listen-addr IP, -l IP     IPv4 address to serve on (default 0.0.0.0)\n"
              "  -interface IF              answer DHCP only on this interface\n"
              "  -port PORT, -p PORT        HTTP port (default 80)\n"
              "  -port-dhcp/-port-pxe/-port-tftp PORT  (defaults 67/4011/69; 0 disables)\n"
              "\n"
              "Bootloaders (Debian's packages by default):\n"
              "  -bootloader ipxe|pxelinux  chainload iPXE (default) or PXELINUX\n"
              "  -ipxe-bios FILE            default " PX_IPXE_DIR "/undionly.kpxe (ipxe)\n"
              "  -ipxe-ipxe FILE            default " PX_IPXE_DIR "/ipxe.pxe (ipxe)\n"
              "  -ipxe-efi64 FILE           default " PX_IPXE_DIR "/ipxe.efi (ipxe)\n"
              "  -ipxe-efi32 FILE           no default (EFI IA32 clients are ignored)\n"
              "  -pxelinux FILE             default " PX_PXELINUX_DIR "/lpxelinux.0 (pxelinux)\n"
              "  -ldlinux FILE              default " PX_SYSLINUX_MODULES_DIR "/bios/ldlinux.c32 (syslinux-common)\n"
              "  -syslinux-efi64 FILE       default " PX_SYSLINUX_EFI_DIR "/efi64/syslinux.efi (syslinux-efi)\n"
              "  -ldlinux-e64 FILE          default " PX_SYSLINUX_MODULES_DIR "/efi64/ldlinux.e64 (syslinux-efi)\n"
              "\n"
              "Other:\n"
              "  -config FILE               key file, default " DEFAULT_CONFIG_FILE " (if present)\n"
              "  -max-sessions N            boot sessions tracked at once (default 1024)\n"
              "  -max-tftp-transfers N      concurrent TFTP transfers (default 256)\n"
              "  -max-http-conns N          open HTTP connections (default 1024)\n"
              "  -max-http-conns-per-client N\n"
              "                             open HTTP connections per client address (default 16)\n"
              "  -http-header-timeout TIME  drop a connection that has not sent its (next) request\n"
              "                             by then (default 10s)\n"
              "  -debug, -d                 log every packet\n"
              "  -help, -h                  this text;  -version  the version\n",
              f);
}

/* The config file's initrd list is replaced, not extended, by initrds from the command line. */
static void take_over_initrds(PxConfig *c, bool *taken) {
        if (*taken)
                return;
        g_strfreev(c->initrds);
        c->initrds = g_new0(char *, 1);
        *taken = true;
}

static gboolean parse_argv(PxConfig *c, int argc, char **argv, GError **error) {
        g_autoptr(GPtrArray) positional = g_ptr_array_new();
        bool initrds_taken = false;
        int opt;

        optind = 0; /* reset getopt, also for repeated calls in tests */
        opterr = 0;
        while ((opt = getopt_long_only(argc, argv, ":hdtl:p:", long_options, NULL)) != -1) {
                const char *name = NULL;

                for (const struct option *o = long_options; o->name; o++)
                        if (o->val == opt) {
                                name = o->name;
                                break;
                        }
                switch (opt) {
                case 'h':
                case OPT_HELP:
                        px_config_print_help(stdout);
                        g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_HELP, "help");
                        return FALSE;
                case OPT_VERSION:
                        printf("pixiecore %s\n", PACKAGE_VERSION);
                        g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_HELP, "version");
                        return FALSE;
                case 'd':
                        c->debug = true;
                        break;
                case 't':
                        break;
                case 'l':
                        if (!apply_option(c, OPT_LISTEN_ADDR, "listen-addr", optarg, NULL, error))
                                return FALSE;
                        break;
                case 'p':
                        if (!apply_option(c, OPT_PORT, "port", optarg, NULL, error))
                                return FALSE;
                        break;
                case OPT_CONFIG:
                        break; /* handled before */
                case OPT_DEBUG:
                        c->debug = true;
                        break;
                case OPT_INITRD:
                        take_over_initrds(c, &initrds_taken);
                        append_initrds(c, optarg);
                        break;
                case ':':
                        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_USAGE, "option '%s' needs a value",
                                    argv[optind - 1]);
                        return FALSE;
                case '?':
                        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_USAGE,
                                    "unknown option '%s' (see pixiecore --help)", argv[optind - 1]);
                        return FALSE;
                default:
                        if (!name || !apply_option(c, opt, name, optarg, NULL, error)) {
                                if (error && !*error)
                                        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_USAGE, "bad option");
                                return FALSE;
                        }
                }
        }
        for (int i = optind; i < argc; i++)
                g_ptr_array_add(positional, argv[i]);

        if (positional->len == 0)
                return TRUE;

        const char *verb = positional->pdata[0];
        if (g_str_equal(verb, "boot")) {
                if (positional->len < 2) {
                        g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_USAGE,
                                            "usage: pixiecore boot KERNEL [INITRD...]");
                        return FALSE;
                }
                set_string(&c->kernel, positional->pdata[1]);
                take_over_initrds(c, &initrds_taken);
                for (guint i = 2; i < positional->len; i++)
                        append_initrds(c, positional->pdata[i]);
                return TRUE;
        }
        if (g_str_equal(verb, "api")) {
                if (positional->len != 2) {
                        g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_USAGE, "usage: pixiecore api URL");
                        return FALSE;
                }
                set_string(&c->api_url, positional->pdata[1]);
                return TRUE;
        }
        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_USAGE,
                    "unexpected argument '%s' (commands are 'boot' and 'api'; see pixiecore --help)", verb);
        return FALSE;
}

/* Finds --config/-config FILE before the real parse, so the file applies first. */
static const char *find_config_arg(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (g_str_equal(a, "--"))
                        break;
                if (g_str_equal(a, "-config") || g_str_equal(a, "--config"))
                        return i + 1 < argc ? argv[i + 1] : "";
                if (g_str_has_prefix(a, "-config=") || g_str_has_prefix(a, "--config="))
                        return strchr(a, '=') + 1;
        }
        return NULL;
}

gboolean px_cmdline_check(const char *cmdline, PxBootloader bootloader, GError **error) {
        size_t len;

        if (!cmdline)
                return TRUE;
        len = strlen(cmdline);
        if (len > CMDLINE_MAX) {
                g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID,
                            "cmdline is %zu bytes; the kernel accepts at most %d here", len, CMDLINE_MAX);
                return FALSE;
        }
        for (const char *p = cmdline; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID,
                                    "cmdline contains a control character (0x%02x) at offset %td; it cannot be "
                                    "passed to the kernel unchanged",
                                    (unsigned char) *p, p - cmdline);
                        return FALSE;
                }
        if (bootloader != PX_BOOTLOADER_IPXE)
                return TRUE;

        /* iPXE's script parser splits on whitespace and re-joins with single spaces, expands
         * ${settings}, ends a command at a '#' word and at '||', '&&', ';' words. None of that can
         * be escaped, so refuse instead of letting the kernel see something else. */
        if (strstr(cmdline, "${")) {
                g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID,
                                    "cmdline contains '${', which iPXE would expand as a setting "
                                    "(use --bootloader pxelinux to pass it literally)");
                return FALSE;
        }
        if (strstr(cmdline, "  ") || cmdline[0] == ' ' || (len > 0 && cmdline[len - 1] == ' ')) {
                g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID,
                                    "cmdline has leading, trailing or repeated spaces, which iPXE would "
                                    "collapse; use single spaces between arguments");
                return FALSE;
        }
        g_auto(GStrv) words = g_strsplit(cmdline, " ", -1);
        for (char **w = words; *w; w++) {
                if ((*w)[0] == '#' || g_str_equal(*w, "||") || g_str_equal(*w, "&&") || g_str_equal(*w, ";")) {
                        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID,
                                    "cmdline word '%s' would end the iPXE command (a word starting with '#', or "
                                    "'||', '&&', ';'); use --bootloader pxelinux to pass it literally",
                                    *w);
                        return FALSE;
                }
        }
        return TRUE;
}

static gboolean check_file(const char *what, const char *path, const char *package, GError **error) {
        struct stat st;

        if (!path || !*path) {
                g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "%s: no file configured", what);
                return FALSE;
        }
        if (g_str_has_prefix(path, "http://") || g_str_has_prefix(path, "https://"))
                return TRUE;
        if (stat(path, &st) < 0) {
                g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "%s %s: %s%s%s%s", what, path,
                            g_strerror(errno), package ? " (install the Debian package '" : "", package ? package : "",
                            package ? "')" : "");
                return FALSE;
        }
        if (!S_ISREG(st.st_mode)) {
                g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "%s %s: not a regular file", what, path);
                return FALSE;
        }
        if (access(path, R_OK) < 0) {
                g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "%s %s: %s", what, path,
                            g_strerror(errno));
                return FALSE;
        }
        return TRUE;
}

static gboolean check_optional_file(char **path) {
        /* Optional loaders (EFI pxelinux) simply drop out when their package is absent. */
        if (*path && access(*path, R_OK) < 0)
                g_clear_pointer(path, g_free);
        return TRUE;
}

gboolean px_config_validate(PxConfig *c, GError **error) {
        bool static_mode = c->kernel != NULL;

        if (c->api_url && (c->kernel || (c->initrds && c->initrds[0]) || c->cmdline)) {
                g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_USAGE,
                                    "-api cannot be combined with -kernel, -initrd or -cmdline");
                return FALSE;
        }
        if (!c->api_url && !static_mode) {
                g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_USAGE,
                                    (c->initrds && c->initrds[0]) || c->cmdline
                                            ? "-initrd and -cmdline need -kernel"
                                            : "must specify either -api, or -kernel/-initrd (see pixiecore --help)");
                return FALSE;
        }
        if (c->api_url) {
                g_autoptr(GError) local = NULL;
                if (!api_base_url_check(c->api_url, &local)) {
                        g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "-api: invalid value '%s': %s",
                                    c->api_url, local->message);
                        return FALSE;
                }
        }
        if (static_mode) {
                if (!check_file("kernel", c->kernel, NULL, error))
                        return FALSE;
                for (char **i = c->initrds; i && *i; i++)
                        if (!check_file("initrd", *i, NULL, error))
                                return FALSE;
                if (c->cmdline) {
                        g_autoptr(GError) local = NULL;
                        if (!px_cmdline_check(c->cmdline, c->bootloader, &local)) {
                                g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "-cmdline: %s",
                                            local->message);
                                return FALSE;
                        }
                }
        }
        if (c->message) {
                for (const char *p = c->message; *p; p++)
                        if (((unsigned char) *p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f) {
                                g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID,
                                                    "-bootmsg: control characters other than newline are not allowed");
                                return FALSE;
                        }
                if (c->bootloader == PX_BOOTLOADER_IPXE && !px_bootscript_message_is_safe(c->message)) {
                        g_set_error_literal(
                                error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID,
                                "-bootmsg: '${', or words starting with '#' or being '||', '&&', ';' "
                                "cannot be shown by iPXE's echo (--bootloader pxelinux shows them literally)");
                        return FALSE;
                }
        }
        if (c->interface && if_nametoindex(c->interface) == 0) {
                g_set_error(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_INVALID, "-interface: no interface named '%s'",
                            c->interface);
                return FALSE;
        }

        switch (c->bootloader) {
        case PX_BOOTLOADER_IPXE:
                if (!check_file("iPXE for BIOS (-ipxe-bios)", c->ipxe_bios, "ipxe", error) ||
                    !check_file("iPXE for EFI x86-64 (-ipxe-efi64)", c->ipxe_efi64, "ipxe", error))
                        return FALSE;
                check_optional_file(&c->ipxe_ipxe);
                if (c->ipxe_efi32 && !check_file("iPXE for EFI IA32 (-ipxe-efi32)", c->ipxe_efi32, NULL, error))
                        return FALSE;
                break;
        case PX_BOOTLOADER_PXELINUX:
                if (!check_file("PXELINUX (-pxelinux)", c->pxelinux, "pxelinux", error) ||
                    !check_file("ldlinux.c32 (-ldlinux)", c->ldlinux, "syslinux-common", error))
                        return FALSE;
                check_optional_file(&c->syslinux_efi64);
                check_optional_file(&c->ldlinux_e64);
                if (!c->syslinux_efi64 || !c->ldlinux_e64)
                        g_clear_pointer(&c->syslinux_efi64, g_free);
                break;
        case _PX_BOOTLOADER_MAX:
        case _PX_BOOTLOADER_INVALID:
                g_assert_not_reached();
        }
        return TRUE;
}

gboolean px_config_load(PxConfig *c, int argc, char **argv, GError **error) {
        const char *explicit_file = find_config_arg(argc, argv);

        /* --help and --version work even with a broken config file */
        for (int i = 1; i < argc && !g_str_equal(argv[i], "--"); i++) {
                const char *a = argv[i];
                if (g_str_equal(a, "-h") || g_str_equal(a, "-help") || g_str_equal(a, "--help")) {
                        px_config_print_help(stdout);
                        g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_HELP, "help");
                        return FALSE;
                }
                if (g_str_equal(a, "-version") || g_str_equal(a, "--version")) {
                        printf("pixiecore %s\n", PACKAGE_VERSION);
                        g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_HELP, "version");
                        return FALSE;
                }
        }

        if (explicit_file && !*explicit_file) {
                g_set_error_literal(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_USAGE, "option '-config' needs a value");
                return FALSE;
        }
        if (!load_keyfile(c, explicit_file ? explicit_file : DEFAULT_CONFIG_FILE, explicit_file != NULL, error))
                return FALSE;

        if (!parse_argv(c, argc, argv, error))
                return FALSE;
        return px_config_validate(c, error);
}
