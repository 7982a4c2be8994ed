/* SPDX-License-Identifier: Apache-2.0 */
/* pixiecorectl: query and control the running pixiecore daemon over D-Bus (the system bus, or
 * $DBUS_SYSTEM_BUS_ADDRESS), in the style of hostnamectl. A client only: it links libsystemd
 * (sd-bus, sd-event), GLib and json-glib, and knows the daemon through its D-Bus API alone
 * (dbus/org.pixiecore.Pixiecore1.*.xml).
 *
 * Exit status: 0 success, 1 failure (the D-Bus error message is printed), 2 usage error,
 * 3 pixiecore is not running. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "px-build-config.h"

#define BUS_NAME             "org.pixiecore.Pixiecore1"
#define BUS_PATH             "/org/pixiecore/Pixiecore1"
#define BUS_SESSION_PREFIX   "/org/pixiecore/Pixiecore1/session/"
#define MANAGER_IFACE        "org.pixiecore.Pixiecore1.Manager"
#define SESSION_IFACE        "org.pixiecore.Pixiecore1.Session"
#define PROPERTIES_IFACE     "org.freedesktop.DBus.Properties"
#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

enum {
        EXIT_OK = 0,
        EXIT_FAIL = 1,
        EXIT_USAGE = 2,
        EXIT_NOT_RUNNING = 3,
};

typedef enum JsonMode {
        JSON_OFF,
        JSON_SHORT,
        JSON_PRETTY,
} JsonMode;

static JsonMode arg_json = JSON_OFF;
static bool arg_legend = true;
static bool arg_ask_password = true;
static bool arg_help = false;
static const char *arg_kernel = NULL;
static GPtrArray *arg_initrds = NULL; /* char*, borrowed from argv */
static const char *arg_cmdline = NULL;
static bool arg_once = false;
static double arg_timeout = 0; /* seconds, 0: none */
/* which command-specific options were given, for refusing them where they do not apply */
static unsigned arg_seen = 0;
enum {
        SEEN_KERNEL = 1 << 0,
        SEEN_INITRD = 1 << 1,
        SEEN_CMDLINE = 1 << 2,
        SEEN_ONCE = 1 << 3,
        SEEN_TIMEOUT = 1 << 4,
        SEEN_JSON = 1 << 5,
        SEEN_LEGEND = 1 << 6,
};

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(sd_bus_error, sd_bus_error_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus, sd_bus_flush_close_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_message, sd_bus_message_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_event, sd_event_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_event_source, sd_event_source_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(sd_bus_slot, sd_bus_slot_unref)

/* ---- small helpers ---- */

static bool use_color(void) {
        return isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && g_strcmp0(getenv("TERM"), "dumb") != 0;
}

static const char *ansi(const char *seq) {
        return use_color() ? seq : "";
}
#define ANSI_BOLD   ansi("\033[1m")
#define ANSI_RED    ansi("\033[31m")
#define ANSI_GREEN  ansi("\033[32m")
#define ANSI_YELLOW ansi("\033[33m")
#define ANSI_NORMAL ansi("\033[0m")

static char *format_realtime(uint64_t usec) {
        g_autoptr(GDateTime) dt = NULL;

        if (usec == 0)
                return g_strdup("-");
        dt = g_date_time_new_from_unix_local((gint64) (usec / G_USEC_PER_SEC));
        return dt ? g_date_time_format(dt, "%Y-%m-%d %H:%M:%S") : g_strdup("-");
}

static char *format_bytes(uint64_t b) {
        GString *s = g_string_new(NULL);
        g_autofree char *text = g_format_size_full(b, G_FORMAT_SIZE_IEC_UNITS);

        /* GLib separates number and unit with U+00A0; plain text tables want a plain space */
        g_string_append(s, text);
        g_string_replace(s, "\u00a0", " ", 0);
        return g_string_free(s, FALSE);
}

/* "12% (1.0 MB/8.4 MB)", or without the parentheses; NULL when the total is unknown */
static char *format_progress(uint64_t sent, uint64_t total, bool parens) {
        g_autofree char *s_sent = NULL, *s_total = NULL;
        unsigned pct;

        if (total == 0)
                return NULL;
        s_sent = format_bytes(sent);
        s_total = format_bytes(total);
        pct = sent >= total ? 100 : (unsigned) (sent * 100 / total);
        if (parens)
                return g_strdup_printf("%u%% (%s/%s)", pct, s_sent, s_total);
        return g_strdup_printf("%u%% %s/%s", pct, s_sent, s_total);
}

/* A local path is made absolute (the daemon's working directory is "/"); URLs stay as they are. */
static char *absolute_target_path(const char *p) {
        if (strstr(p, "://") || g_path_is_absolute(p))
                return g_strdup(p);
        return g_canonicalize_filename(p, NULL);
}

/* ---- D-Bus values -> GVariant (so that the rest is plain GLib) ---- */

static int read_value(sd_bus_message *m, GVariant **ret);

/* Adds the values up to the end of the current container (complete: of the whole message) to b. */
static int read_values(sd_bus_message *m, bool complete, GVariantBuilder *b) {
        for (;;) {
                GVariant *child = NULL;
                int r;

                r = sd_bus_message_at_end(m, complete);
                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                r = read_value(m, &child);
                if (r < 0)
                        return r;
                g_variant_builder_add_value(b, child);
        }
}

static int read_container(sd_bus_message *m, char type, const char *contents, GVariant **ret) {
        g_autofree char *type_string = NULL;
        GVariantBuilder b;
        int r;

        switch (type) {
        case 'a':
                type_string = g_strconcat("a", contents, NULL);
                break;
        case 'r':
                type_string = g_strconcat("(", contents, ")", NULL);
                break;
        case 'e':
                type_string = g_strconcat("{", contents, "}", NULL);
                break;
        default:
                return -EINVAL;
        }
        if (!g_variant_type_string_is_valid(type_string))
                return -EBADMSG;
        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;
        g_variant_builder_init(&b, G_VARIANT_TYPE(type_string));
        r = read_values(m, false, &b);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                g_variant_builder_clear(&b);
                return r;
        }
        *ret = g_variant_builder_end(&b);
        return 0;
}

/* A fixed-size basic value: sd-bus stores it at the start of the union, in the type's size. */
static int read_fixed(sd_bus_message *m, char type, GVariant **ret) {
        union {
                uint8_t y;
                int b;
                int16_t n;
                uint16_t q;
                int32_t i;
                uint32_t u;
                int64_t x;
                uint64_t t;
                double d;
        } v = {};
        int r;

        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        switch (type) {
        case 'y':
                *ret = g_variant_new_byte(v.y);
                break;
        case 'b':
                *ret = g_variant_new_boolean(v.b);
                break;
        case 'n':
                *ret = g_variant_new_int16(v.n);
                break;
        case 'q':
                *ret = g_variant_new_uint16(v.q);
                break;
        case 'i':
                *ret = g_variant_new_int32(v.i);
                break;
        case 'u':
                *ret = g_variant_new_uint32(v.u);
                break;
        case 'x':
                *ret = g_variant_new_int64(v.x);
                break;
        case 't':
                *ret = g_variant_new_uint64(v.t);
                break;
        case 'd':
                *ret = g_variant_new_double(v.d);
                break;
        default:
                return -EINVAL;
        }
        return 0;
}

static int read_value(sd_bus_message *m, GVariant **ret) {
        const char *contents = NULL;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;

        switch (type) {
        case 'y':
        case 'b':
        case 'n':
        case 'q':
        case 'i':
        case 'u':
        case 'x':
        case 't':
        case 'd':
                return read_fixed(m, type, ret);
        case 's':
        case 'o':
        case 'g': {
                const char *v;
                r = sd_bus_message_read_basic(m, type, &v);
                if (r < 0)
                        return r;
                if (type == 'o')
                        *ret = g_variant_new_object_path(v);
                else if (type == 'g')
                        *ret = g_variant_new_signature(v);
                else
                        *ret = g_variant_new_string(g_utf8_validate(v, -1, NULL) ? v : "(invalid UTF-8)");
                return 0;
        }
        case 'v': {
                GVariant *inner = NULL;
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = read_value(m, &inner);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0) {
                        g_variant_unref(g_variant_ref_sink(inner));
                        return r;
                }
                *ret = g_variant_new_variant(inner);
                return 0;
        }
        case 'a':
        case 'r':
        case 'e':
                return read_container(m, type, contents, ret);
        default:
                return -EBADMSG; /* 'h' (fds) does not occur in this API */
        }
}

/* The whole body of a reply as one tuple, sunk. */
static int read_body(sd_bus_message *m, GVariant **ret) {
        GVariantBuilder b;
        int r;

        g_variant_builder_init(&b, G_VARIANT_TYPE_TUPLE);
        r = read_values(m, true, &b);
        if (r < 0) {
                g_variant_builder_clear(&b);
                return r;
        }
        *ret = g_variant_ref_sink(g_variant_builder_end(&b));
        return 0;
}

/* ---- talking to the daemon ---- */

static int name_has_owner(sd_bus *bus) {
        g_autoptr(sd_bus_message) reply = NULL;
        int owned = 1;

        if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", NULL, &reply, "s", BUS_NAME) < 0)
                return 1; /* cannot tell: report the original error */
        if (sd_bus_message_read(reply, "b", &owned) < 0)
                return 1;
        return owned;
}

static int not_running(void) {
        fprintf(stderr, "pixiecore is not running (no owner for %s on the system bus)\n", BUS_NAME);
        return EXIT_NOT_RUNNING;
}

/* Reports a failed call: "not running" when nobody owns the name (whatever the error said:
 * ServiceUnknown, NameHasNoOwner, or a failed gated activation), else the error's message. */
static int call_failed(sd_bus *bus, const sd_bus_error *error, int r, const char *what) {
        if (!name_has_owner(bus))
                return not_running();
        if (error && sd_bus_error_is_set(error)) {
                if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED) && error->message &&
                    !strstr(error->message, "manage-targets"))
                        fprintf(stderr,
                                "Failed to %s: %s\n(Changes need root or polkit authorization for "
                                "org.pixiecore.Pixiecore1.manage-targets.)\n",
                                what, error->message);
                else
                        fprintf(stderr, "Failed to %s: %s\n", what, error->message ? error->message : error->name);
        } else
                fprintf(stderr, "Failed to %s: %s\n", what, g_strerror(r < 0 ? -r : r));
        return EXIT_FAIL;
}

static int bus_connect(sd_bus **ret) {
        g_autoptr(sd_bus) bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "Failed to connect to the system bus: %s\n", g_strerror(-r));
                return EXIT_FAIL;
        }
        (void) sd_bus_set_allow_interactive_authorization(bus, arg_ask_password);
        *ret = g_steal_pointer(&bus);
        return EXIT_OK;
}

/* Calls member of iface on pixiecore's object and reads the reply body, a tuple of reply_type.
 * Returns an exit status; what names the call in "Failed to ...". */
static int call_method(sd_bus *bus, const char *iface, const char *member, const char *what, const char *reply_type,
                       GVariant **ret, const char *types, ...) {
        g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
        g_autoptr(sd_bus_message) reply = NULL;
        g_autoptr(GVariant) body = NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = sd_bus_call_methodv(bus, BUS_NAME, BUS_PATH, iface, member, &error, &reply, types, ap);
        va_end(ap);
        if (r < 0)
                return call_failed(bus, &error, r, what);
        r = read_body(reply, &body);
        if (r >= 0 && !g_variant_is_of_type(body, G_VARIANT_TYPE(reply_type)))
                r = -EBADMSG;
        if (r < 0) {
                fprintf(stderr, "Failed to parse the reply of %s: %s\n", member, g_strerror(-r));
                return EXIT_FAIL;
        }
        *ret = g_steal_pointer(&body);
        return EXIT_OK;
}

/* The Manager's properties, as a{sv}. Returns an exit status. */
static int get_manager_properties(sd_bus *bus, GVariant **ret) {
        g_autoptr(GVariant) body = NULL;
        int r;

        r = call_method(bus, PROPERTIES_IFACE, "GetAll", "get the properties of pixiecore", "(a{sv})", &body, "s",
                        MANAGER_IFACE);
        if (r == EXIT_OK)
                *ret = g_variant_get_child_value(body, 0);
        return r;
}

/* GetManagedObjects: a{oa{sa{sv}}} */
static int get_managed_objects(sd_bus *bus, GVariant **ret) {
        g_autoptr(GVariant) body = NULL;
        int r;

        r = call_method(bus, OBJECT_MANAGER_IFACE, "GetManagedObjects", "list the boot sessions", "(a{oa{sa{sv}}})",
                        &body, NULL);
        if (r == EXIT_OK)
                *ret = g_variant_get_child_value(body, 0);
        return r;
}

/* Property values out of an a{sv}; "" and 0 when missing (or of another type). */
static const char *dict_str(GVariant *dict, const char *key) {
        const char *v = NULL;

        if (!dict || !g_variant_lookup(dict, key, "&s", &v))
                return "";
        return v;
}

static uint64_t dict_u64(GVariant *dict, const char *key) {
        g_autoptr(GVariant) v = dict ? g_variant_lookup_value(dict, key, NULL) : NULL;

        if (!v)
                return 0;
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT64))
                return g_variant_get_uint64(v);
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT32))
                return g_variant_get_uint32(v);
        if (g_variant_is_of_type(v, G_VARIANT_TYPE_UINT16))
                return g_variant_get_uint16(v);
        return 0;
}

/* "-" for an empty value, in tables and fields */
static char *strdup_or_dash(const char *s) {
        return g_strdup(s && *s ? s : "-");
}

/* ---- polkit agent for interactive authorization (as systemd's tools do) ---- */

static pid_t agent_pid = 0;

static void polkit_agent_open(void) {
        g_autofree char *agent = NULL;
        char fd_text[16];
        int pipe_fd[2];
        pid_t pid;

        if (!arg_ask_password || geteuid() == 0 || !isatty(STDIN_FILENO) || agent_pid > 0)
                return;
        agent = g_find_program_in_path("pkttyagent");
        if (!agent)
                return;
        if (pipe2(pipe_fd, O_CLOEXEC) < 0)
                return;
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                close(pipe_fd[0]);
                close(pipe_fd[1]);
                return;
        }
        if (pid == 0) {
                /* child: the notify fd stays open across exec, everything else is CLOEXEC */
                if (fcntl(pipe_fd[1], F_SETFD, 0) < 0)
                        _exit(127);
                snprintf(fd_text, sizeof(fd_text), "%d", pipe_fd[1]);
                execl(agent, agent, "--notify-fd", fd_text, "--fallback", (char *) NULL);
                _exit(127);
        }
        close(pipe_fd[1]);
        agent_pid = pid;
        /* the agent closes its end once it is registered; do not wait forever */
        (void) poll(&(struct pollfd){.fd = pipe_fd[0], .events = POLLIN}, 1, 5000);
        close(pipe_fd[0]);
}

static void polkit_agent_close(void) {
        if (agent_pid <= 0)
                return;
        (void) kill(agent_pid, SIGTERM);
        (void) kill(agent_pid, SIGCONT);
        (void) waitpid(agent_pid, NULL, 0);
        agent_pid = 0;
}

/* ---- output ---- */

/* Prints what b built, short or pretty as --json asked. */
static void json_print(JsonBuilder *b) {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = json_builder_get_root(b);
        g_autofree char *text = NULL;

        json_generator_set_pretty(gen, arg_json == JSON_PRETTY);
        json_generator_set_root(gen, root);
        text = json_generator_to_data(gen, NULL);
        printf("%s\n", text);
}

static void json_add_string(JsonBuilder *b, const char *member, const char *value) {
        json_builder_set_member_name(b, member);
        json_builder_add_string_value(b, value);
}

static void json_add_int(JsonBuilder *b, const char *member, gint64 value) {
        json_builder_set_member_name(b, member);
        json_builder_add_int_value(b, value);
}

static void json_add_strv(JsonBuilder *b, const char *member, const char *const *strv) {
        json_builder_set_member_name(b, member);
        json_builder_begin_array(b);
        for (; strv && *strv; strv++)
                json_builder_add_string_value(b, *strv);
        json_builder_end_array(b);
}

/* The members "kernel", "initrds" and "cmdline" of a target */
static void json_add_target(JsonBuilder *b, const char *kernel, const char *const *initrds, const char *cmdline) {
        json_add_string(b, "kernel", kernel);
        json_add_strv(b, "initrds", initrds);
        json_add_string(b, "cmdline", cmdline);
}

/* A table with aligned columns; the header is printed unless --no-legend. */
typedef struct Table {
        guint n_columns;
        GPtrArray *rows; /* of GStrv, the first one the header */
} Table;

static Table *table_new(const char *const *header) {
        Table *t = g_new0(Table, 1);

        t->n_columns = g_strv_length((char **) header);
        t->rows = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
        g_ptr_array_add(t->rows, g_strdupv((char **) header));
        return t;
}

static void table_free(Table *t) {
        if (!t)
                return;
        g_ptr_array_unref(t->rows);
        g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Table, table_free)

/* takes ownership of the strings */
static void table_add(Table *t, ...) {
        GStrvBuilder *b = g_strv_builder_new();
        va_list ap;

        va_start(ap, t);
        for (guint i = 0; i < t->n_columns; i++) {
                char *cell = va_arg(ap, char *);
                g_strv_builder_add(b, cell ? cell : "");
                g_free(cell);
        }
        va_end(ap);
        g_ptr_array_add(t->rows, g_strv_builder_end(b));
        g_strv_builder_unref(b);
}

static void table_print(Table *t, GString *out) {
        g_autofree size_t *width = g_new0(size_t, t->n_columns);

        for (guint r = arg_legend ? 0 : 1; r < t->rows->len; r++) {
                char **row = t->rows->pdata[r];
                for (guint c = 0; c < t->n_columns; c++)
                        width[c] = MAX(width[c], (size_t) g_utf8_strlen(row[c], -1));
        }
        for (guint r = arg_legend ? 0 : 1; r < t->rows->len; r++) {
                char **row = t->rows->pdata[r];
                g_autoptr(GString) line = g_string_new(NULL);

                for (guint c = 0; c < t->n_columns; c++) {
                        bool last = c + 1 == t->n_columns;
                        g_string_append(line, row[c]);
                        if (!last)
                                for (size_t pad = g_utf8_strlen(row[c], -1); pad < width[c] + 2; pad++)
                                        g_string_append_c(line, ' ');
                }
                /* no trailing blanks */
                while (line->len > 0 && line->str[line->len - 1] == ' ')
                        g_string_truncate(line, line->len - 1);
                g_string_append_printf(out, "%s%s%s\n", r == 0 ? ANSI_BOLD : "", line->str, r == 0 ? ANSI_NORMAL : "");
        }
}

/* Prints the table to stdout, then (unless --no-legend) "\nN <noun>s listed." */
static void table_print_listed(Table *t, const char *noun) {
        g_autoptr(GString) out = g_string_new(NULL);
        guint n = t->rows->len - 1;

        table_print(t, out);
        fputs(out->str, stdout);
        if (arg_legend)
                printf("\n%u %s%s listed.\n", n, noun, n == 1 ? "" : "s");
}

/* ---- status ---- */

/* "       Name: value"; an empty name continues the previous field */
static void print_field(const char *name, const char *value) {
        if (!*name)
                printf("%*s%s\n", 19, "", value);
        else
                printf("%*s%s: %s\n", (int) (17 - MIN(strlen(name), 17)), "", name, value && *value ? value : "-");
}

/* A target's kernel, initrds (one a line) and command line (when there is one) as fields, under
 * labels[0], labels[1] and labels[2] */
static void print_target(const char *const labels[3], const char *kernel, const char *const *initrds,
                         const char *cmdline) {
        print_field(labels[0], kernel);
        for (const char *const *i = initrds; i && *i; i++)
                print_field(i == initrds ? labels[1] : "", *i);
        if (*cmdline)
                print_field(labels[2], cmdline);
}

/* The Manager's counters: property and field name */
static const struct {
        const char *property;
        const char *label;
} counters[] = {
        {"MachineTargets", "Machine targets"},
        {"Sessions", "Sessions"},
        {"CompletedBoots", "Completed boots"},
};

static int cmd_status(sd_bus *bus, char **args) {
        static const char *const strings[] = {"Version", "Mode", "ApiURL", "Bootloader"};
        g_autoptr(GVariant) props = NULL;
        g_autoptr(GVariant) def = NULL;
        const char *kernel = "", *cmdline = "";
        g_autofree const char **initrds = NULL;
        int r;

        r = get_manager_properties(bus, &props);
        if (r != EXIT_OK)
                return r;
        def = g_variant_lookup_value(props, "DefaultTarget", G_VARIANT_TYPE("(sass)"));
        if (def)
                g_variant_get(def, "(&s^a&s&s)", &kernel, &initrds, &cmdline);

        if (arg_json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                for (size_t i = 0; i < G_N_ELEMENTS(strings); i++)
                        json_add_string(b, strings[i], dict_str(props, strings[i]));
                json_builder_set_member_name(b, "DefaultTarget");
                if (*kernel) {
                        json_builder_begin_object(b);
                        json_add_target(b, kernel, initrds, cmdline);
                        json_builder_end_object(b);
                } else
                        json_builder_add_null_value(b);
                for (size_t i = 0; i < G_N_ELEMENTS(counters); i++)
                        json_add_int(b, counters[i].property, (gint64) dict_u64(props, counters[i].property));
                json_builder_end_object(b);
                json_print(b);
                return EXIT_OK;
        }

        print_field("Version", dict_str(props, "Version"));
        print_field("Mode", dict_str(props, "Mode"));
        if (g_str_equal(dict_str(props, "Mode"), "api") || *dict_str(props, "ApiURL"))
                print_field("API URL", dict_str(props, "ApiURL"));
        print_field("Bootloader", dict_str(props, "Bootloader"));
        if (*kernel)
                print_target((const char *const[]){"Default kernel", "Default initrds", "Default cmdline"}, kernel,
                             initrds, cmdline);
        else
                print_field("Default target", "none");
        for (size_t i = 0; i < G_N_ELEMENTS(counters); i++) {
                g_autofree char *n = g_strdup_printf("%" G_GUINT64_FORMAT, dict_u64(props, counters[i].property));
                print_field(counters[i].label, n);
        }
        return EXIT_OK;
}

/* ---- sessions ---- */

typedef struct SessionRow {
        const char *path;
        GVariant *props; /* a{sv} of the Session interface */
} SessionRow;

static int session_row_compare(gconstpointer a, gconstpointer b) {
        const SessionRow *x = a, *y = b;
        return g_strcmp0(dict_str(x->props, "MACAddress"), dict_str(y->props, "MACAddress"));
}

static void session_row_clear(SessionRow *row) {
        g_clear_pointer(&row->props, g_variant_unref);
}

/* Session objects out of GetManagedObjects, sorted by MAC. The paths point into objects. */
static GArray *session_rows(GVariant *objects) {
        GArray *rows = g_array_new(FALSE, TRUE, sizeof(SessionRow));
        GVariantIter it;
        const char *path;
        GVariant *ifaces;

        g_variant_iter_init(&it, objects);
        while (g_variant_iter_next(&it, "{&o@a{sa{sv}}}", &path, &ifaces)) {
                GVariant *props = g_variant_lookup_value(ifaces, SESSION_IFACE, G_VARIANT_TYPE_VARDICT);
                g_variant_unref(ifaces);
                if (!props)
                        continue;
                g_array_append_val(rows, ((SessionRow){.path = path, .props = props}));
        }
        g_array_set_clear_func(rows, (GDestroyNotify) session_row_clear);
        g_array_sort(rows, session_row_compare);
        return rows;
}

static void json_add_session(JsonBuilder *b, const char *path, GVariant *props) {
        GVariantIter it;
        const char *key;
        GVariant *value;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "Path");
        json_builder_add_string_value(b, path);
        g_variant_iter_init(&it, props);
        while (g_variant_iter_loop(&it, "{&sv}", &key, &value)) {
                json_builder_set_member_name(b, key);
                if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
                        json_builder_add_string_value(b, g_variant_get_string(value, NULL));
                else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT64))
                        json_builder_add_int_value(b, (gint64) g_variant_get_uint64(value));
                else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT16))
                        json_builder_add_int_value(b, g_variant_get_uint16(value));
                else if (g_variant_is_of_type(value, G_VARIANT_TYPE_UINT32))
                        json_builder_add_int_value(b, g_variant_get_uint32(value));
                else if (g_variant_is_of_type(value, G_VARIANT_TYPE_BOOLEAN))
                        json_builder_add_boolean_value(b, g_variant_get_boolean(value));
                else
                        json_builder_add_value(b, json_gvariant_serialize(value));
        }
        json_builder_end_object(b);
}

static int cmd_sessions(sd_bus *bus, char **args) {
        g_autoptr(GVariant) objects = NULL;
        g_autoptr(GArray) rows = NULL;
        int r;

        r = get_managed_objects(bus, &objects);
        if (r != EXIT_OK)
                return r;
        rows = session_rows(objects);

        if (arg_json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_array(b);
                for (guint i = 0; i < rows->len; i++) {
                        SessionRow *row = &g_array_index(rows, SessionRow, i);
                        json_add_session(b, row->path, row->props);
                }
                json_builder_end_array(b);
                json_print(b);
                return EXIT_OK;
        }

        g_autoptr(Table) t =
                table_new((const char *[]){"MAC", "FIRMWARE", "ADDRESS", "STATE", "FILE", "PROGRESS", NULL});
        for (guint i = 0; i < rows->len; i++) {
                GVariant *p = g_array_index(rows, SessionRow, i).props;
                const char *state = dict_str(p, "State");
                char *state_text =
                        (g_str_equal(state, "failed") || g_str_equal(state, "ignored")) && *dict_str(p, "Error")
                                ? g_strdup_printf("%s (%s)", state, dict_str(p, "Error"))
                                : g_strdup(state);

                table_add(t, g_strdup(dict_str(p, "MACAddress")), g_strdup(dict_str(p, "Firmware")),
                          strdup_or_dash(dict_str(p, "ClientAddress")), state_text,
                          strdup_or_dash(dict_str(p, "CurrentFile")),
                          format_progress(dict_u64(p, "BytesSent"), dict_u64(p, "BytesTotal"), true) ?: g_strdup("-"));
        }
        table_print_listed(t, "session");
        return EXIT_OK;
}

/* ---- targets ---- */

static int cmd_targets(sd_bus *bus, char **args) {
        g_autoptr(GVariant) body = NULL;
        g_autoptr(GVariant) list = NULL;
        g_autoptr(JsonBuilder) b = NULL;
        g_autoptr(Table) t = NULL;
        GVariantIter it;
        const char *mac, *kind, *kernel, *cmdline;
        const char **initrds;
        gboolean once;
        guint64 set_usec;
        int r;

        r = call_method(bus, MANAGER_IFACE, "ListMachineTargets", "list the machine targets", "(a(sssassbt))", &body,
                        NULL);
        if (r != EXIT_OK)
                return r;
        list = g_variant_get_child_value(body, 0);

        if (arg_json) {
                b = json_builder_new();
                json_builder_begin_array(b);
        } else
                t = table_new((const char *[]){"MAC", "KIND", "ONCE", "SET", "KERNEL", "INITRDS", "CMDLINE", NULL});
        g_variant_iter_init(&it, list);
        while (g_variant_iter_next(&it, "(&s&s&s^a&s&sbt)", &mac, &kind, &kernel, &initrds, &cmdline, &once,
                                   &set_usec)) {
                if (b) {
                        json_builder_begin_object(b);
                        json_add_string(b, "mac", mac);
                        json_add_string(b, "kind", kind);
                        json_add_target(b, kernel, initrds, cmdline);
                        json_builder_set_member_name(b, "once");
                        json_builder_add_boolean_value(b, once);
                        json_add_int(b, "set_usec", (gint64) set_usec);
                        json_builder_end_object(b);
                } else {
                        g_autofree char *joined = g_strjoinv(",", (char **) initrds);
                        table_add(t, g_strdup(mac), g_strdup(kind), g_strdup(once ? "yes" : "no"),
                                  format_realtime(set_usec), strdup_or_dash(kernel), strdup_or_dash(joined),
                                  strdup_or_dash(cmdline));
                }
                g_free(initrds);
        }
        if (b) {
                json_builder_end_array(b);
                json_print(b);
        } else
                table_print_listed(t, "machine target");
        return EXIT_OK;
}

/* ---- resolve ---- */

static int cmd_resolve(sd_bus *bus, char **args) {
        g_autoptr(GVariant) body = NULL;
        const char *source, *kernel, *cmdline, *reason;
        g_autofree const char **initrds = NULL;
        int r;

        r = call_method(bus, MANAGER_IFACE, "ResolveTarget", "resolve the target", "(ssasss)", &body, "s", args[0]);
        if (r != EXIT_OK)
                return r;
        g_variant_get(body, "(&s&s^a&s&s&s)", &source, &kernel, &initrds, &cmdline, &reason);

        if (arg_json) {
                g_autoptr(JsonBuilder) b = json_builder_new();

                json_builder_begin_object(b);
                json_add_string(b, "mac", args[0]);
                json_add_string(b, "source", source);
                json_add_target(b, kernel, initrds, cmdline);
                json_add_string(b, "reason", reason);
                json_builder_end_object(b);
                json_print(b);
                return EXIT_OK;
        }

        print_field("Machine", args[0]);
        print_field("Source", source);
        if (*kernel)
                print_target((const char *const[]){"Kernel", "Initrds", "Cmdline"}, kernel, initrds, cmdline);
        print_field("Reason", reason);
        return EXIT_OK;
}

/* ---- mutations ---- */

static int call_mutation(sd_bus *bus, sd_bus_message *m, const char *what) {
        g_auto(sd_bus_error) error = SD_BUS_ERROR_NULL;
        int r;

        polkit_agent_open();
        /* long enough for a person to type a password */
        r = sd_bus_call(bus, m, 120 * G_USEC_PER_SEC, &error, NULL);
        polkit_agent_close();
        if (r < 0)
                return call_failed(bus, &error, r, what);
        return EXIT_OK;
}

static int append_target(sd_bus_message *m) {
        g_autofree char *kernel = absolute_target_path(arg_kernel);
        g_autoptr(GPtrArray) initrds = g_ptr_array_new_with_free_func(g_free);
        int r;

        for (guint i = 0; arg_initrds && i < arg_initrds->len; i++)
                g_ptr_array_add(initrds, absolute_target_path(arg_initrds->pdata[i]));
        g_ptr_array_add(initrds, NULL);
        r = sd_bus_message_append(m, "s", kernel);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) initrds->pdata);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", arg_cmdline ? arg_cmdline : "");
        return r;
}

static int new_call(sd_bus *bus, const char *member, sd_bus_message **ret) {
        int r = sd_bus_message_new_method_call(bus, ret, BUS_NAME, BUS_PATH, MANAGER_IFACE, member);
        if (r < 0)
                fprintf(stderr, "Failed to create a D-Bus message: %s\n", g_strerror(-r));
        return r;
}

static int cmd_set_target(sd_bus *bus, char **args) {
        g_autoptr(sd_bus_message) m = NULL;
        g_autofree char *what = g_strdup_printf("set the target of %s", args[0]);
        int r;

        if (new_call(bus, "SetMachineTarget", &m) < 0)
                return EXIT_FAIL;
        r = sd_bus_message_append(m, "s", args[0]);
        if (r >= 0)
                r = append_target(m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && arg_once)
                r = sd_bus_message_append(m, "{sv}", "once", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0) {
                fprintf(stderr, "Failed to build the D-Bus message: %s\n", g_strerror(-r));
                return EXIT_FAIL;
        }
        return call_mutation(bus, m, what);
}

/* what: "clear the target of", "ignore": completed with the MAC in messages */
static int cmd_mac_only(sd_bus *bus, const char *member, const char *mac, const char *what_prefix) {
        g_autoptr(sd_bus_message) m = NULL;
        g_autofree char *what = g_strdup_printf("%s %s", what_prefix, mac);

        if (new_call(bus, member, &m) < 0)
                return EXIT_FAIL;
        if (sd_bus_message_append(m, "s", mac) < 0)
                return EXIT_FAIL;
        return call_mutation(bus, m, what);
}

static int cmd_clear_target(sd_bus *bus, char **args) {
        return cmd_mac_only(bus, "ClearMachineTarget", args[0], "clear the target of");
}

static int cmd_ignore(sd_bus *bus, char **args) {
        return cmd_mac_only(bus, "IgnoreMachine", args[0], "ignore");
}

static int cmd_set_default(sd_bus *bus, char **args) {
        g_autoptr(sd_bus_message) m = NULL;

        if (new_call(bus, "SetDefaultTarget", &m) < 0)
                return EXIT_FAIL;
        if (append_target(m) < 0) {
                fprintf(stderr, "Failed to build the D-Bus message\n");
                return EXIT_FAIL;
        }
        return call_mutation(bus, m, "set the default target");
}

static int cmd_clear_default(sd_bus *bus, char **args) {
        g_autoptr(sd_bus_message) m = NULL;

        if (new_call(bus, "ClearDefaultTarget", &m) < 0)
                return EXIT_FAIL;
        return call_mutation(bus, m, "clear the default target");
}

/* ---- watch ---- */

typedef struct Watch {
        sd_bus *bus;
        sd_event *event;
        GHashTable *sessions; /* object path -> a{sv} of the Session's properties */
        GVariant *manager;    /* a{sv} of the Manager's properties, NULL before the first read */
        sd_event_source *redraw;
        bool running;
        bool tty;
        bool drawn;
} Watch;

static void watch_schedule(Watch *w) {
        (void) sd_event_source_set_enabled(w->redraw, SD_EVENT_ONESHOT);
}

/* Folds changed (a{sv}) into *props (a{sv}, or NULL for none yet). */
static void merge_props(GVariant **props, GVariant *changed) {
        g_autoptr(GVariantDict) d = g_variant_dict_new(*props);
        GVariantIter it;
        const char *key;
        GVariant *value;

        g_variant_iter_init(&it, changed);
        while (g_variant_iter_loop(&it, "{&sv}", &key, &value))
                g_variant_dict_insert_value(d, key, value);
        g_clear_pointer(props, g_variant_unref);
        *props = g_variant_ref_sink(g_variant_dict_end(d));
}

static void watch_merge_session(Watch *w, const char *path, GVariant *changed) {
        GVariant *props = g_hash_table_lookup(w->sessions, path);

        if (props)
                g_variant_ref(props);
        merge_props(&props, changed);
        g_hash_table_insert(w->sessions, g_strdup(path), props);
}

static void watch_load_objects(Watch *w, GVariant *objects) {
        GVariantIter it;
        const char *path;
        GVariant *ifaces;

        g_hash_table_remove_all(w->sessions);
        g_variant_iter_init(&it, objects);
        while (g_variant_iter_loop(&it, "{&o@a{sa{sv}}}", &path, &ifaces)) {
                GVariant *props = g_variant_lookup_value(ifaces, SESSION_IFACE, G_VARIANT_TYPE_VARDICT);
                if (props)
                        g_hash_table_insert(w->sessions, g_strdup(path), props);
        }
}

static char *progress_bar(uint64_t sent, uint64_t total, unsigned width) {
        GString *s = g_string_new("[");
        unsigned filled = total ? (unsigned) (MIN(sent, total) * width / total) : 0;

        for (unsigned i = 0; i < width; i++)
                g_string_append_c(s, i < filled ? '#' : (total ? '.' : ' '));
        g_string_append_c(s, ']');
        return g_string_free(s, FALSE);
}

static int watch_compare(gconstpointer a, gconstpointer b) {
        return g_strcmp0(*(const char *const *) a, *(const char *const *) b);
}

static int watch_draw(sd_event_source *s, void *userdata) {
        Watch *w = userdata;
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GPtrArray) paths = g_ptr_array_new();
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *clock = g_date_time_format(now, "%H:%M:%S");
        GVariant *mgr = w->manager;

        GHashTableIter it;
        gpointer key;

        g_hash_table_iter_init(&it, w->sessions);
        while (g_hash_table_iter_next(&it, &key, NULL))
                g_ptr_array_add(paths, key);
        g_ptr_array_sort(paths, watch_compare);
        if (w->tty)
                g_string_append(out, "\033[H\033[2J");
        else if (w->drawn)
                g_string_append_c(out, '\n');
        if (w->running) {
                g_string_append_printf(
                        out, "%spixiecore %s%s (%s, %s): %u session%s, %" G_GUINT64_FORMAT " completed boot%s, %s\n",
                        ANSI_BOLD, dict_str(mgr, "Version"), ANSI_NORMAL, dict_str(mgr, "Mode"),
                        dict_str(mgr, "Bootloader"), paths->len, paths->len == 1 ? "" : "s",
                        dict_u64(mgr, "CompletedBoots"), dict_u64(mgr, "CompletedBoots") == 1 ? "" : "s", clock);
        } else
                g_string_append_printf(out, "%spixiecore is not running%s (waiting for %s), %s\n", ANSI_RED,
                                       ANSI_NORMAL, BUS_NAME, clock);

        g_autoptr(Table) t = table_new((const char *[]){"MAC", "STATE", "FILE", "PROGRESS", "", NULL});
        for (guint i = 0; i < paths->len; i++) {
                GVariant *d = g_hash_table_lookup(w->sessions, paths->pdata[i]);

                table_add(t, g_strdup(dict_str(d, "MACAddress")), strdup_or_dash(dict_str(d, "State")),
                          strdup_or_dash(dict_str(d, "CurrentFile")),
                          progress_bar(dict_u64(d, "BytesSent"), dict_u64(d, "BytesTotal"), 24),
                          format_progress(dict_u64(d, "BytesSent"), dict_u64(d, "BytesTotal"), false));
        }
        if (paths->len > 0 || arg_legend)
                table_print(t, out);
        if (w->tty)
                g_string_append(out, "\nPress Ctrl+C to quit.\n");
        fputs(out->str, stdout);
        fflush(stdout);
        w->drawn = true;
        return 0;
}

static int watch_refresh(Watch *w) {
        g_autoptr(GVariant) objects = NULL;
        g_autoptr(GVariant) props = NULL;
        int r;

        r = get_manager_properties(w->bus, &props);
        if (r != EXIT_OK)
                return r;
        r = get_managed_objects(w->bus, &objects);
        if (r != EXIT_OK)
                return r;
        g_clear_pointer(&w->manager, g_variant_unref);
        w->manager = g_steal_pointer(&props);
        watch_load_objects(w, objects);
        w->running = true;
        watch_schedule(w);
        return EXIT_OK;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        g_autoptr(GVariant) body = NULL;
        const char *iface, *path = sd_bus_message_get_path(m);
        g_autoptr(GVariant) changed = NULL;

        if (read_body(m, &body) < 0 || !g_variant_is_of_type(body, G_VARIANT_TYPE("(sa{sv}as)")))
                return 0;
        g_variant_get(body, "(&s@a{sv}@as)", &iface, &changed, NULL);
        if (g_str_equal(iface, SESSION_IFACE) && path && g_str_has_prefix(path, BUS_SESSION_PREFIX))
                watch_merge_session(w, path, changed);
        else if (g_str_equal(iface, MANAGER_IFACE) && g_strcmp0(path, BUS_PATH) == 0)
                merge_props(&w->manager, changed);
        else
                return 0;
        watch_schedule(w);
        return 0;
}

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        g_autoptr(GVariant) body = NULL;
        g_autoptr(GVariant) ifaces = NULL;
        g_autoptr(GVariant) props = NULL;
        const char *path;

        if (read_body(m, &body) < 0 || !g_variant_is_of_type(body, G_VARIANT_TYPE("(oa{sa{sv}})")))
                return 0;
        g_variant_get(body, "(&o@a{sa{sv}})", &path, &ifaces);
        props = g_variant_lookup_value(ifaces, SESSION_IFACE, G_VARIANT_TYPE_VARDICT);
        if (!props)
                return 0;
        /* a fresh session at the same path starts clean */
        g_hash_table_insert(w->sessions, g_strdup(path), g_steal_pointer(&props));
        watch_schedule(w);
        return 0;
}

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        g_autoptr(GVariant) body = NULL;
        g_autofree const char **ifaces = NULL;
        const char *path;

        if (read_body(m, &body) < 0 || !g_variant_is_of_type(body, G_VARIANT_TYPE("(oas)")))
                return 0;
        g_variant_get(body, "(&o^a&s)", &path, &ifaces);
        if (g_strv_contains(ifaces, SESSION_IFACE) && g_hash_table_remove(w->sessions, path))
                watch_schedule(w);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Watch *w = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !g_str_equal(name, BUS_NAME))
                return 0;
        if (*new_owner) {
                /* (re)started: read everything again; a failure here shows as "not running" */
                if (watch_refresh(w) != EXIT_OK)
                        w->running = false;
        } else {
                w->running = false;
                g_hash_table_remove_all(w->sessions);
        }
        watch_schedule(w);
        return 0;
}

static int on_watch_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), EXIT_OK);
}

static int on_watch_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(sd_event_source_get_event(s), EXIT_OK);
}

static int cmd_watch(sd_bus *bus, char **args) {
        g_autoptr(sd_event) event = NULL;
        g_autoptr(sd_event_source) sigint = NULL, sigterm = NULL, timer = NULL, redraw = NULL;
        g_autoptr(sd_bus_slot) s1 = NULL, s2 = NULL, s3 = NULL, s4 = NULL;
        Watch w = {
                .bus = bus,
                .sessions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref),
                .tty = isatty(STDOUT_FILENO),
        };
        sigset_t mask;
        int r, ret = EXIT_FAIL;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, &sigint, SIGINT, on_watch_signal, &w);
        if (r >= 0)
                r = sd_event_add_signal(event, &sigterm, SIGTERM, on_watch_signal, &w);
        if (r >= 0 && arg_timeout > 0) {
                uint64_t now;
                r = sd_event_now(event, CLOCK_MONOTONIC, &now);
                if (r >= 0)
                        r = sd_event_add_time(event, &timer, CLOCK_MONOTONIC, now + (uint64_t) (arg_timeout * 1e6), 0,
                                              on_watch_timeout, &w);
        }
        if (r >= 0)
                r = sd_event_add_defer(event, &redraw, watch_draw, &w);
        if (r >= 0)
                r = sd_event_source_set_priority(redraw, SD_EVENT_PRIORITY_IDLE);
        if (r >= 0)
                r = sd_event_source_set_enabled(redraw, SD_EVENT_OFF);
        if (r < 0) {
                fprintf(stderr, "Failed to set up the event loop: %s\n", g_strerror(-r));
                goto finish;
        }
        w.redraw = redraw;
        w.event = event;

        /* subscribe first, then read the state: no change falls in between */
        r = sd_bus_match_signal(bus, &s1, BUS_NAME, NULL, PROPERTIES_IFACE, "PropertiesChanged", on_properties_changed,
                                &w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &s2, BUS_NAME, BUS_PATH, OBJECT_MANAGER_IFACE, "InterfacesAdded",
                                        on_interfaces_added, &w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, &s3, BUS_NAME, BUS_PATH, OBJECT_MANAGER_IFACE, "InterfacesRemoved",
                                        on_interfaces_removed, &w);
        if (r >= 0)
                r = sd_bus_add_match(bus, &s4,
                                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" BUS_NAME "'",
                                     on_name_owner_changed, &w);
        if (r < 0) {
                fprintf(stderr, "Failed to subscribe to the signals of pixiecore: %s\n", g_strerror(-r));
                goto finish;
        }
        ret = watch_refresh(&w);
        if (ret != EXIT_OK)
                goto finish;
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                fprintf(stderr, "Failed to attach the bus to the event loop: %s\n", g_strerror(-r));
                ret = EXIT_FAIL;
                goto finish;
        }
        r = sd_event_loop(event);
        ret = r < 0 ? EXIT_FAIL : r;
        (void) sd_bus_detach_event(bus);
        if (w.tty)
                putchar('\n');
finish:
        g_hash_table_unref(w.sessions);
        g_clear_pointer(&w.manager, g_variant_unref);
        return ret;
}

/* ---- command line ---- */

typedef struct Verb {
        const char *name;
        const char *args; /* for help: "MAC" or "" */
        unsigned n_args;
        unsigned allowed; /* SEEN_* options that apply */
        bool needs_kernel;
        int (*run)(sd_bus *bus, char **args);
        const char *summary;
        const char *help; /* command-specific help text, after the usage line */
} Verb;

#define READ_OPTS   (SEEN_JSON | SEEN_LEGEND)
#define TARGET_OPTS (SEEN_KERNEL | SEEN_INITRD | SEEN_CMDLINE)

static const Verb verbs[] = {
        {"status", "", 0, SEEN_JSON, false, cmd_status, "Show the daemon's mode, default target and counters",
         "Shows the version, the mode (static or api), the policy API URL, the bootloader, the default\n"
         "target (kernel, initrds, command line), and how many machine targets, sessions and completed\n"
         "boots there are.\n"
         "\n"
         "Options:\n"
         "  --json[=short|pretty]  Print a JSON object (D-Bus property names as keys)\n"},
        {"sessions", "", 0, READ_OPTS, false, cmd_sessions, "List the boot sessions",
         "Lists the machines booting or recently booted from pixiecore: MAC address, firmware, IPv4\n"
         "address, state, the file being sent and its progress.\n"
         "\n"
         "Options:\n"
         "  --json[=short|pretty]  Print a JSON array of objects (D-Bus property names as keys, plus Path)\n"
         "  --no-legend            Leave out the header and the footer\n"},
        {"watch", "", 0, SEEN_TIMEOUT | SEEN_LEGEND, false, cmd_watch, "Show the boot sessions live",
         "Shows the boot sessions as a table with a progress bar per machine, redrawn whenever pixiecore\n"
         "announces a change (PropertiesChanged, InterfacesAdded, InterfacesRemoved). When standard output\n"
         "is not a terminal, each redraw is appended instead. Keeps watching across daemon restarts.\n"
         "Ends on Ctrl+C (SIGINT), SIGTERM, or after --timeout.\n"
         "\n"
         "Options:\n"
         "  --timeout SECONDS      Stop after this many seconds (exit status 0)\n"
         "  --no-legend            Leave out the table header\n"},
        {"targets", "", 0, READ_OPTS, false, cmd_targets, "List the per-machine targets and ignores",
         "Lists the rules set with set-target and ignore: MAC, kind (target or ignore), whether it is\n"
         "for the next boot only, when it was set, kernel, initrds and command line.\n"
         "\n"
         "Options:\n"
         "  --json[=short|pretty]  Print a JSON array of objects (mac, kind, kernel, initrds, cmdline,\n"
         "                         once, set_usec)\n"
         "  --no-legend            Leave out the header and the footer\n"},
        {"resolve", "MAC", 1, SEEN_JSON, false, cmd_resolve, "Show what a machine would boot now, and why",
         "Asks the daemon what MAC would boot if it asked now, and where the answer comes from: machine,\n"
         "machine-once, api, default, static, ignored or none. Changes nothing (a once-target is not\n"
         "used up) and does not contact the policy API.\n"
         "\n"
         "Options:\n"
         "  --json[=short|pretty]  Print a JSON object (mac, source, kernel, initrds, cmdline, reason)\n"},
        {"set-target", "MAC", 1, TARGET_OPTS | SEEN_ONCE, true, cmd_set_target, "Make a machine boot a target",
         "Makes the machine MAC boot KERNEL (with INITRDs and CMDLINE), ahead of the policy API and the\n"
         "default. Replaces an earlier target or ignore of the machine. Relative paths are made absolute;\n"
         "files must be readable by the daemon (which runs as user pixiecore, sandboxed), or be\n"
         "http:// or https:// URLs.\n"
         "\n"
         "Options:\n"
         "  --kernel KERNEL        The kernel (required)\n"
         "  --initrd INITRD        An initrd; repeat for several, in order\n"
         "  --cmdline CMDLINE      The kernel command line\n"
         "  --once                 For the next boot only; then the machine falls back to the policy\n"},
        {"clear-target", "MAC", 1, 0, false, cmd_clear_target, "Remove a machine's target or ignore",
         "Removes the target or ignore set for MAC; it boots what the policy says again.\n"
         "Fails when the machine has no rule.\n"},
        {"ignore", "MAC", 1, 0, false, cmd_ignore, "Make pixiecore ignore a machine",
         "Makes pixiecore ignore the machine MAC: no ProxyDHCP offer, and a refusal if its iPXE asks\n"
         "for a script. Undo with clear-target.\n"},
        {"set-default", "", 0, TARGET_OPTS, true, cmd_set_default, "Set the default target",
         "Sets what machines without a target of their own boot in static mode: it overrides the\n"
         "configured kernel until clear-default. (In API mode the policy API decides for them; the\n"
         "default is kept but not used.)\n"
         "\n"
         "Options:\n"
         "  --kernel KERNEL        The kernel (required)\n"
         "  --initrd INITRD        An initrd; repeat for several, in order\n"
         "  --cmdline CMDLINE      The kernel command line\n"},
        {"clear-default", "", 0, 0, false, cmd_clear_default, "Remove the default target",
         "Removes the default set with set-default; the configured static target (if any) applies\n"
         "again. Fails when no default was set.\n"},
};

static const Verb *find_verb(const char *name) {
        for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
                if (g_str_equal(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Query and control the pixiecore PXE boot server over D-Bus (%s on the system bus).\n\n"
               "Commands:\n",
               g_get_prgname(), BUS_NAME);
        for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++) {
                g_autofree char *usage = g_strdup_printf("%s%s%s%s", verbs[i].name, *verbs[i].args ? " " : "",
                                                         verbs[i].args, verbs[i].needs_kernel ? " --kernel K ..." : "");
                printf("  %-30s %s\n", usage, verbs[i].summary);
        }
        printf("\nOptions:\n"
               "  -h --help              Show this help, or a command's help (COMMAND --help)\n"
               "     --version           Show the version\n"
               "     --json[=MODE]       Read commands: print JSON (MODE short or pretty; default:\n"
               "                         pretty on a terminal, short otherwise)\n"
               "     --no-legend         Leave out table headers and footers\n"
               "     --no-ask-password   Do not ask for a password when polkit wants one\n"
               "\n"
               "Changing targets needs root or polkit authorization (org.pixiecore.Pixiecore1.manage-targets);\n"
               "reading is open to everyone. $DBUS_SYSTEM_BUS_ADDRESS selects another system bus.\n"
               "\n"
               "Exit status: 0 success, 1 failure, 2 invalid usage, 3 pixiecore is not running.\n"
               "See pixiecorectl(1) for details.\n");
}

static void verb_help(const Verb *v) {
        printf("%s [OPTIONS...] %s%s%s%s\n\n%s.\n\n%s", g_get_prgname(), v->name, *v->args ? " " : "", v->args,
               v->needs_kernel ? " --kernel KERNEL [--initrd INITRD]... [--cmdline CMDLINE]" : "", v->summary, v->help);
        printf("\nGeneral options: -h --help, --no-ask-password%s. See pixiecorectl --help.\n",
               v->allowed & SEEN_JSON ? ", --json" : "");
}

static int usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", g_get_prgname());
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s --help' for more information.\n", g_get_prgname());
        return EXIT_USAGE;
}

static const char *option_name(unsigned seen) {
        switch (seen) {
        case SEEN_KERNEL:
                return "--kernel";
        case SEEN_INITRD:
                return "--initrd";
        case SEEN_CMDLINE:
                return "--cmdline";
        case SEEN_ONCE:
                return "--once";
        case SEEN_TIMEOUT:
                return "--timeout";
        case SEEN_JSON:
                return "--json";
        case SEEN_LEGEND:
                return "--no-legend";
        default:
                return "?";
        }
}

enum {
        OPT_VERSION = 0x100,
        OPT_JSON,
        OPT_NO_LEGEND,
        OPT_NO_ASK_PASSWORD,
        OPT_KERNEL,
        OPT_INITRD,
        OPT_CMDLINE,
        OPT_ONCE,
        OPT_TIMEOUT,
};

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, OPT_VERSION},
                {"json", optional_argument, NULL, OPT_JSON},
                {"no-legend", no_argument, NULL, OPT_NO_LEGEND},
                {"no-ask-password", no_argument, NULL, OPT_NO_ASK_PASSWORD},
                {"kernel", required_argument, NULL, OPT_KERNEL},
                {"initrd", required_argument, NULL, OPT_INITRD},
                {"cmdline", required_argument, NULL, OPT_CMDLINE},
                {"once", no_argument, NULL, OPT_ONCE},
                {"timeout", required_argument, NULL, OPT_TIMEOUT},
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        arg_help = true;
                        break;
                case OPT_VERSION:
                        printf("pixiecorectl %s\n", PACKAGE_VERSION);
                        return -1;
                case OPT_JSON:
                        arg_seen |= SEEN_JSON;
                        if (!optarg)
                                arg_json = isatty(STDOUT_FILENO) ? JSON_PRETTY : JSON_SHORT;
                        else if (g_str_equal(optarg, "short"))
                                arg_json = JSON_SHORT;
                        else if (g_str_equal(optarg, "pretty"))
                                arg_json = JSON_PRETTY;
                        else
                                return usage_error("--json: unknown mode '%s' (short or pretty)", optarg);
                        break;
                case OPT_NO_LEGEND:
                        arg_seen |= SEEN_LEGEND;
                        arg_legend = false;
                        break;
                case OPT_NO_ASK_PASSWORD:
                        arg_ask_password = false;
                        break;
                case OPT_KERNEL:
                        arg_seen |= SEEN_KERNEL;
                        if (!*optarg)
                                return usage_error("--kernel: empty value");
                        arg_kernel = optarg;
                        break;
                case OPT_INITRD:
                        arg_seen |= SEEN_INITRD;
                        if (!*optarg)
                                return usage_error("--initrd: empty value");
                        g_ptr_array_add(arg_initrds, optarg);
                        break;
                case OPT_CMDLINE:
                        arg_seen |= SEEN_CMDLINE;
                        arg_cmdline = optarg;
                        break;
                case OPT_ONCE:
                        arg_seen |= SEEN_ONCE;
                        arg_once = true;
                        break;
                case OPT_TIMEOUT: {
                        char *end = NULL;
                        arg_seen |= SEEN_TIMEOUT;
                        arg_timeout = g_ascii_strtod(optarg, &end);
                        if (!end || end == optarg || *end || !(arg_timeout > 0) || arg_timeout > 1e7)
                                return usage_error("--timeout: '%s' is not a positive number of seconds", optarg);
                        break;
                }
                case ':':
                        return usage_error("option '%s' needs a value", argv[optind - 1]);
                case '?':
                default:
                        if (optopt)
                                return usage_error("unknown option '-%c'", optopt);
                        return usage_error("unknown option '%s'", argv[optind - 1]);
                }
        }
        return 0;
}

int main(int argc, char *argv[]) {
        g_autoptr(sd_bus) bus = NULL;
        const Verb *v;
        int r;

        setlocale(LC_ALL, "");
        g_set_prgname("pixiecorectl");
        arg_initrds = g_ptr_array_new();

        r = parse_argv(argc, argv);
        if (r < 0)
                return EXIT_OK; /* --version */
        if (r > 0)
                return r;

        if (optind >= argc) {
                if (arg_help) {
                        help();
                        return EXIT_OK;
                }
                /* like hostnamectl: no command is "status" */
                v = find_verb("status");
        } else {
                v = find_verb(argv[optind]);
                if (!v)
                        return usage_error("unknown command '%s'", argv[optind]);
                optind++;
        }
        if (arg_help) {
                verb_help(v);
                return EXIT_OK;
        }
        if ((unsigned) (argc - optind) != v->n_args) {
                if (v->n_args == 0)
                        return usage_error("%s takes no arguments", v->name);
                return usage_error("%s needs exactly one argument: %s", v->name, v->args);
        }
        for (unsigned bit = 1; bit <= SEEN_LEGEND; bit <<= 1)
                if ((arg_seen & bit) && !(v->allowed & bit))
                        return usage_error("%s does not apply to %s", option_name(bit), v->name);
        if (v->needs_kernel && !arg_kernel)
                return usage_error("%s needs --kernel", v->name);

        r = bus_connect(&bus);
        if (r != EXIT_OK)
                return r;
        r = v->run(bus, argv + optind);
        g_ptr_array_unref(arg_initrds);
        return r;
}
