/* SPDX-License-Identifier: Apache-2.0 */
#include "targets.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "px-fileio.h"
#include "px-macro.h"

G_DEFINE_QUARK(px - target - error - quark, px_target_error)

#define TARGETS_FILE    "targets.json"
#define TARGETS_VERSION 1
#define MAX_INITRDS     32
/* A local path (PATH_MAX) or a URL (what a file ID can carry, see file-id.h). */
#define MAX_LOCATION 4096

struct PxTargetStore {
        char *state_dir; /* NULL: in memory only */
        char *path;      /* <state_dir>/targets.json */
        PxBootloader bootloader;
        GTree *machines; /* mac (inside the value) -> PxMachineRule*, owned; sorted by MAC */
        PxTarget *dflt;  /* NULL: no default */
        guint64 generation;
};

/* ---- targets and rules ------------------------------------------------------------------------ */

void px_target_clear(PxTarget *t) {
        if (!t)
                return;
        g_clear_pointer(&t->kernel, g_free);
        g_clear_pointer(&t->initrds, g_strfreev);
        g_clear_pointer(&t->cmdline, g_free);
}

/* dst is overwritten, not cleared first: pass an empty or uninitialized PxTarget. */
void px_target_copy(PxTarget *dst, const PxTarget *src) {
        *dst = (PxTarget){
                .kernel = g_strdup(src->kernel),
                .initrds = src->initrds ? g_strdupv(src->initrds) : g_new0(char *, 1),
                .cmdline = g_strdup(src->cmdline),
        };
}

static PxTarget *target_dup(const PxTarget *src) {
        PxTarget *t = g_new0(PxTarget, 1);

        px_target_copy(t, src);
        return t;
}

static void target_free(PxTarget *t) {
        px_target_clear(t);
        g_free(t);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PxTarget, target_free)

static PxMachineRule *rule_new(const uint8_t mac[6], PxMachineRuleKind kind) {
        PxMachineRule *r = g_new0(PxMachineRule, 1);

        memcpy(r->mac, mac, 6);
        r->kind = kind;
        r->target.initrds = g_new0(char *, 1);
        return r;
}

static void rule_free(PxMachineRule *r) {
        if (!r)
                return;
        px_target_clear(&r->target);
        g_free(r);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PxMachineRule, rule_free)

static int mac_compare(gconstpointer a, gconstpointer b, gpointer userdata) {
        return memcmp(a, b, 6);
}

static guint64 now_usec(void) {
        gint64 t = g_get_real_time();
        return t > 0 ? (guint64) t : 0;
}

/* ---- validation ------------------------------------------------------------------------------- */

static gboolean invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);
static gboolean invalid(GError **error, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        g_propagate_error(error, g_error_new_valist(PX_TARGET_ERROR, PX_TARGET_ERROR_INVALID, format, ap));
        va_end(ap);
        return FALSE;
}

static bool is_url(const char *s) {
        return strstr(s, "://") != NULL;
}

/* ASCII printables that RFC 3986 allows nowhere in a URI (as in api-response.c). */
#define URI_EXCLUDED "\"<>\\^`{|}"
/* GLib does not check host names: DNS names and IP literals only (as in api-response.c). */
#define HOST_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:"

static gboolean url_check_syntax(const char *what, const char *url, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autoptr(GUri) uri = NULL;
        const char *scheme, *host;

        for (const char *p = url; *p; p++)
                if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f || strchr(URI_EXCLUDED, *p))
                        return invalid(error, "%s '%s': a space or byte 0x%02x that must be percent-encoded in a URL",
                                       what, url, (unsigned char) *p);
        uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, &local);
        if (!uri)
                return invalid(error, "%s '%s': invalid URL: %s", what, url, local->message);
        scheme = g_uri_get_scheme(uri);
        if (g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0)
                return invalid(error, "%s '%s': unsupported URL scheme '%s' (only http and https)", what, url, scheme);
        host = g_uri_get_host(uri);
        if (!host || !*host)
                return invalid(error, "%s '%s': URL has no host", what, url);
        if (host[strspn(host, HOST_CHARS)])
                return invalid(error, "%s '%s': invalid host name '%s'", what, url, host);
        return TRUE;
}

/* The form alone: an absolute path, or an http(s) URL with a host. Used at set time and when
 * loading (where the files themselves are not checked). Strings must be UTF-8 without control
 * characters, as the state file is JSON and the names end up in boot scripts and logs. */
static gboolean location_check_syntax(const char *what, const char *loc, GError **error) {
        if (!loc || !*loc)
                return invalid(error, "%s: empty path", what);
        if (strlen(loc) > MAX_LOCATION)
                return invalid(error, "%s: longer than %d bytes", what, MAX_LOCATION);
        if (!g_utf8_validate(loc, -1, NULL))
                return invalid(error, "%s: not valid UTF-8", what);
        for (const char *p = loc; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return invalid(error, "%s: contains a control character (0x%02x)", what, (unsigned char) *p);
        if (is_url(loc))
                return url_check_syntax(what, loc, error);
        if (!g_path_is_absolute(loc))
                return invalid(error, "%s '%s': neither an absolute path nor an http:// or https:// URL", what, loc);
        return TRUE;
}

/* Local files must exist and be readable regular files now; URLs are checked at boot time. */
static gboolean location_check(const char *what, const char *loc, GError **error) {
        struct stat st;

        if (!location_check_syntax(what, loc, error))
                return FALSE;
        if (is_url(loc))
                return TRUE;
        if (stat(loc, &st) < 0)
                return invalid(error, "%s %s: %s", what, loc, g_strerror(errno));
        if (!S_ISREG(st.st_mode))
                return invalid(error, "%s %s: not a regular file", what, loc);
        if (access(loc, R_OK) < 0)
                return invalid(error, "%s %s: %s", what, loc, g_strerror(errno));
        return TRUE;
}

static gboolean cmdline_check(const char *cmdline, PxBootloader bootloader, GError **error) {
        g_autoptr(GError) local = NULL;

        if (cmdline && !g_utf8_validate(cmdline, -1, NULL))
                return invalid(error, "cmdline is not valid UTF-8");

        if (!px_cmdline_check(cmdline, bootloader, &local))
                return invalid(error, "%s", local->message);
        return TRUE;
}

gboolean px_target_validate(PxTargetStore *s, const PxTarget *t, GError **error) {
        guint n;

        g_return_val_if_fail(s && t, FALSE);

        if (!t->kernel || !*t->kernel)
                return invalid(error, "a kernel is required");
        n = t->initrds ? g_strv_length(t->initrds) : 0;
        if (n > MAX_INITRDS)
                return invalid(error, "%u initrds; at most %d are allowed", n, MAX_INITRDS);
        if (!location_check("kernel", t->kernel, error))
                return FALSE;
        for (guint i = 0; i < n; i++)
                if (!location_check("initrd", t->initrds[i], error))
                        return FALSE;
        return cmdline_check(t->cmdline, s->bootloader, error);
}

/* ---- the state file --------------------------------------------------------------------------- */

static void build_target(JsonBuilder *b, const PxTarget *t) {
        json_builder_set_member_name(b, "kernel");
        if (t && t->kernel)
                json_builder_add_string_value(b, t->kernel);
        else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "initrds");
        json_builder_begin_array(b);
        for (char **i = t ? t->initrds : NULL; i && *i; i++)
                json_builder_add_string_value(b, *i);
        json_builder_end_array(b);
        json_builder_set_member_name(b, "cmdline");
        if (t && t->cmdline)
                json_builder_add_string_value(b, t->cmdline);
        else
                json_builder_add_null_value(b);
}

static char *serialize(const PxTarget *dflt, GPtrArray *rules, size_t *ret_len) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autoptr(JsonNode) root = NULL;
        char *data;
        gsize len;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "version");
        json_builder_add_int_value(b, TARGETS_VERSION);
        json_builder_set_member_name(b, "default");
        if (dflt) {
                json_builder_begin_object(b);
                build_target(b, dflt);
                json_builder_end_object(b);
        } else
                json_builder_add_null_value(b);
        json_builder_set_member_name(b, "machines");
        json_builder_begin_array(b);
        for (guint i = 0; i < rules->len; i++) {
                const PxMachineRule *r = rules->pdata[i];
                char mac[PX_MAC_STRLEN];

                px_mac_to_string(r->mac, mac);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "mac");
                json_builder_add_string_value(b, mac);
                json_builder_set_member_name(b, "kind");
                json_builder_add_string_value(b, r->kind == PX_MACHINE_RULE_IGNORE ? "ignore" : "target");
                build_target(b, r->kind == PX_MACHINE_RULE_TARGET ? &r->target : NULL);
                json_builder_set_member_name(b, "once");
                json_builder_add_boolean_value(b, r->kind == PX_MACHINE_RULE_TARGET && r->once);
                json_builder_set_member_name(b, "set_usec");
                json_builder_add_int_value(b, (gint64) MIN(r->set_usec, (guint64) G_MAXINT64));
                json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);

        root = json_builder_get_root(b);
        json_generator_set_root(gen, root);
        json_generator_set_pretty(gen, TRUE);
        data = json_generator_to_data(gen, &len);
        /* end with a newline, like any text file */
        data = g_realloc(data, len + 2);
        data[len++] = '\n';
        data[len] = '\0';
        *ret_len = len;
        return data;
}

/* Loading: every problem is described in *ret_problem and makes the whole file "damaged". */

static gboolean problem(char **ret_problem, const char *format, ...) G_GNUC_PRINTF(2, 3);
static gboolean problem(char **ret_problem, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        *ret_problem = g_strdup_vprintf(format, ap);
        va_end(ap);
        return FALSE;
}

static bool node_is(JsonNode *n, GType type) {
        return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type;
}

/* A member that must be a string; *ret is NULL when absent or null and null_ok. */
static gboolean get_string(JsonObject *o, const char *name, bool null_ok, const char *where, const char **ret,
                           char **ret_problem) {
        JsonNode *n = json_object_get_member(o, name);

        *ret = NULL;
        if ((!n || JSON_NODE_HOLDS_NULL(n)) && null_ok)
                return TRUE;
        if (!node_is(n, G_TYPE_STRING))
                return problem(ret_problem, "%s: \"%s\" must be a string", where, name);
        *ret = json_node_get_string(n);
        return TRUE;
}

static gboolean parse_target(JsonObject *o, const char *where, PxTarget *t, char **ret_problem) {
        g_autoptr(GStrvBuilder) b = g_strv_builder_new();
        g_autoptr(GError) local = NULL;
        const char *kernel, *cmdline;
        JsonNode *n;

        if (!get_string(o, "kernel", false, where, &kernel, ret_problem) ||
            !get_string(o, "cmdline", true, where, &cmdline, ret_problem))
                return FALSE;
        if (!location_check_syntax("kernel", kernel, &local))
                return problem(ret_problem, "%s: %s", where, local->message);

        n = json_object_get_member(o, "initrds");
        if (n && !JSON_NODE_HOLDS_NULL(n)) {
                JsonArray *a;

                if (!JSON_NODE_HOLDS_ARRAY(n))
                        return problem(ret_problem, "%s: \"initrds\" must be an array", where);
                a = json_node_get_array(n);
                if (json_array_get_length(a) > MAX_INITRDS)
                        return problem(ret_problem, "%s: more than %d initrds", where, MAX_INITRDS);
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        JsonNode *e = json_array_get_element(a, i);

                        if (!node_is(e, G_TYPE_STRING))
                                return problem(ret_problem, "%s: \"initrds\" must hold strings", where);
                        if (!location_check_syntax("initrd", json_node_get_string(e), &local))
                                return problem(ret_problem, "%s: %s", where, local->message);
                        g_strv_builder_add(b, json_node_get_string(e));
                }
        }
        *t = (PxTarget){
                .kernel = g_strdup(kernel),
                .initrds = g_strv_builder_end(b),
                .cmdline = g_strdup(cmdline),
        };
        return TRUE;
}

static PxMachineRule *parse_machine(JsonNode *node, guint index, char **ret_problem) {
        g_autofree char *where = g_strdup_printf("machines[%u]", index);
        g_autoptr(PxMachineRule) r = NULL;
        const char *mac_s, *kind;
        uint8_t mac[6];
        JsonObject *o;
        JsonNode *n;

        if (!JSON_NODE_HOLDS_OBJECT(node)) {
                problem(ret_problem, "%s must be an object", where);
                return NULL;
        }
        o = json_node_get_object(node);
        if (!get_string(o, "mac", false, where, &mac_s, ret_problem) ||
            !get_string(o, "kind", false, where, &kind, ret_problem))
                return NULL;
        if (px_mac_from_string(mac_s, mac) < 0) {
                problem(ret_problem, "%s: bad MAC address '%s'", where, mac_s);
                return NULL;
        }
        g_free(where);
        where = g_strdup_printf("machines[%u] (%s)", index, mac_s);

        if (g_str_equal(kind, "target")) {
                r = rule_new(mac, PX_MACHINE_RULE_TARGET);
                g_strfreev(r->target.initrds);
                r->target.initrds = NULL;
                if (!parse_target(o, where, &r->target, ret_problem))
                        return NULL;
                n = json_object_get_member(o, "once");
                if (n && !JSON_NODE_HOLDS_NULL(n)) {
                        if (!node_is(n, G_TYPE_BOOLEAN)) {
                                problem(ret_problem, "%s: \"once\" must be true or false", where);
                                return NULL;
                        }
                        r->once = json_node_get_boolean(n);
                }
        } else if (g_str_equal(kind, "ignore"))
                r = rule_new(mac, PX_MACHINE_RULE_IGNORE); /* any target members are meaningless: skipped */
        else {
                problem(ret_problem, "%s: unknown kind '%s' (expected \"target\" or \"ignore\")", where, kind);
                return NULL;
        }

        n = json_object_get_member(o, "set_usec");
        if (n && !JSON_NODE_HOLDS_NULL(n)) {
                if (!node_is(n, G_TYPE_INT64) || json_node_get_int(n) < 0) {
                        problem(ret_problem, "%s: \"set_usec\" must be a non-negative integer", where);
                        return NULL;
                }
                r->set_usec = (guint64) json_node_get_int(n);
        }
        return g_steal_pointer(&r);
}

/* Parses the whole file into a fresh tree and default, or describes the first problem. */
static gboolean parse_file(const char *data, size_t len, GTree **ret_machines, PxTarget **ret_default,
                           char **ret_problem) {
        g_autoptr(JsonParser) parser = json_parser_new_immutable();
        g_autoptr(GTree) machines = g_tree_new_full(mac_compare, NULL, NULL, (GDestroyNotify) rule_free);
        g_autoptr(PxTarget) dflt = NULL;
        g_autoptr(GError) local = NULL;
        JsonObject *root;
        JsonNode *n;

        if (memchr(data, '\0', len))
                return problem(ret_problem, "it contains a NUL byte");
        if (!json_parser_load_from_data(parser, data, (gssize) len, &local))
                return problem(ret_problem, "not valid JSON: %s", local->message);
        if (!json_parser_get_root(parser))
                return problem(ret_problem, "it is empty");
        if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
                return problem(ret_problem, "the top level is not a JSON object");
        root = json_node_get_object(json_parser_get_root(parser));

        n = json_object_get_member(root, "version");
        if (!node_is(n, G_TYPE_INT64))
                return problem(ret_problem, "\"version\" is missing or not a number");
        if (json_node_get_int(n) != TARGETS_VERSION)
                return problem(ret_problem, "unsupported version %" G_GINT64_FORMAT " (expected %d)",
                               json_node_get_int(n), TARGETS_VERSION);

        n = json_object_get_member(root, "default");
        if (n && !JSON_NODE_HOLDS_NULL(n)) {
                if (!JSON_NODE_HOLDS_OBJECT(n))
                        return problem(ret_problem, "\"default\" must be an object or null");
                dflt = g_new0(PxTarget, 1);
                if (!parse_target(json_node_get_object(n), "default", dflt, ret_problem))
                        return FALSE;
        }

        n = json_object_get_member(root, "machines");
        if (n && !JSON_NODE_HOLDS_NULL(n)) {
                JsonArray *a;

                if (!JSON_NODE_HOLDS_ARRAY(n))
                        return problem(ret_problem, "\"machines\" must be an array");
                a = json_node_get_array(n);
                if (json_array_get_length(a) > PX_TARGET_MAX_MACHINES)
                        return problem(ret_problem, "more than %d machines", PX_TARGET_MAX_MACHINES);
                for (guint i = 0; i < json_array_get_length(a); i++) {
                        PxMachineRule *r = parse_machine(json_array_get_element(a, i), i, ret_problem);
                        char mac[PX_MAC_STRLEN];

                        if (!r)
                                return FALSE;
                        if (g_tree_lookup(machines, r->mac)) {
                                px_mac_to_string(r->mac, mac);
                                rule_free(r);
                                return problem(ret_problem, "machines[%u]: a second rule for %s", i, mac);
                        }
                        g_tree_insert(machines, r->mac, r);
                }
        }
        *ret_machines = g_steal_pointer(&machines);
        *ret_default = g_steal_pointer(&dflt);
        return TRUE;
}

/* Reads the whole file. Returns 1 with the contents, 0 when there is none, -1 with error set
 * when it cannot be read (which is not damage: the file is left alone and startup fails). */
static int read_state_file(const char *path, char **ret_data, size_t *ret_len, GError **error) {
        _cleanup_close_ int fd = -1;
        g_autofree char *data = NULL;
        struct stat st;
        size_t size, len = 0;
        ssize_t k;

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE, "cannot open %s: %s", path,
                            errno == ELOOP ? "it is a symbolic link" : g_strerror(errno));
                return -1;
        }
        if (fstat(fd, &st) < 0) {
                g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE, "cannot stat %s: %s", path,
                            g_strerror(errno));
                return -1;
        }
        if (!S_ISREG(st.st_mode)) {
                g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE, "%s is not a regular file", path);
                return -1;
        }
        /* read to the end even if the size changed since fstat() */
        size = (size_t) st.st_size + 1;
        data = g_malloc(size + 1);
        for (;;) {
                k = px_read_full(fd, data + len, size - len);
                if (k < 0) {
                        g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE, "cannot read %s: %s", path,
                                    g_strerror(errno));
                        return -1;
                }
                len += (size_t) k;
                if (len < size)
                        break;
                size *= 2;
                data = g_realloc(data, size + 1);
        }
        data[len] = '\0';
        *ret_data = g_steal_pointer(&data);
        *ret_len = len;
        return 1;
}

/* Renames a damaged file to targets.json.corrupt-<unix time>[.N], keeping earlier ones. */
static gboolean move_aside(PxTargetStore *s, const char *problem_text, GError **error) {
        gint64 now = g_get_real_time() / G_USEC_PER_SEC;
        g_autofree char *aside = g_strdup_printf("%s.corrupt-%" G_GINT64_FORMAT, TARGETS_FILE, now);
        g_autofree char *aside_path = NULL;

        for (int i = 1;; i++) {
                aside_path = g_build_filename(s->state_dir, aside, NULL);
                if (i >= 100 || !g_file_test(aside_path, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK))
                        break;
                g_free(aside_path);
                g_free(aside);
                aside = g_strdup_printf("%s.corrupt-%" G_GINT64_FORMAT ".%d", TARGETS_FILE, now, i);
        }
        g_warning("%s is damaged (%s); moving it to %s and starting with no boot targets", s->path, problem_text,
                  aside);
        if (rename(s->path, aside_path) < 0) {
                g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE, "cannot move damaged %s aside: %s",
                            s->path, g_strerror(errno));
                return FALSE;
        }
        return TRUE;
}

/* Rules are kept as they were saved even when the bootloader changed since: say so. */
static void warn_unusable_cmdline(PxTargetStore *s, const char *who, const PxTarget *t) {
        g_autoptr(GError) local = NULL;

        if (!px_cmdline_check(t->cmdline, s->bootloader, &local))
                g_warning("%s: the %s has a cmdline that %s cannot pass unchanged (%s); kept, but set it again or "
                          "clear it",
                          s->path, who, px_bootloader_to_string(s->bootloader), local->message);
}

static gboolean load(PxTargetStore *s, GError **error) {
        g_autofree char *data = NULL, *problem_text = NULL;
        g_autoptr(GTree) machines = NULL;
        g_autoptr(PxTarget) dflt = NULL;
        GTreeNode *node;
        size_t len = 0;
        int r;

        r = read_state_file(s->path, &data, &len, error);
        if (r <= 0)
                return r == 0;
        if (!parse_file(data, len, &machines, &dflt, &problem_text))
                return move_aside(s, problem_text, error);

        g_clear_pointer(&s->machines, g_tree_destroy);
        s->machines = g_steal_pointer(&machines);
        s->dflt = g_steal_pointer(&dflt);

        if (s->dflt)
                warn_unusable_cmdline(s, "default target", s->dflt);
        for (node = g_tree_node_first(s->machines); node; node = g_tree_node_next(node)) {
                const PxMachineRule *rule = g_tree_node_value(node);
                char mac[PX_MAC_STRLEN], who[64];

                if (rule->kind != PX_MACHINE_RULE_TARGET)
                        continue;
                px_mac_to_string(rule->mac, mac);
                g_snprintf(who, sizeof(who), "rule for %s", mac);
                warn_unusable_cmdline(s, who, &rule->target);
        }
        return TRUE;
}

/* ---- the store -------------------------------------------------------------------------------- */

PxTargetStore *px_target_store_new(const char *state_dir, PxBootloader bootloader, GError **error) {
        g_autoptr(PxTargetStore) s = g_new0(PxTargetStore, 1);
        _cleanup_close_ int dirfd = -1;
        int r;

        g_return_val_if_fail(bootloader >= 0 && bootloader < _PX_BOOTLOADER_MAX, NULL);

        s->bootloader = bootloader;
        s->machines = g_tree_new_full(mac_compare, NULL, NULL, (GDestroyNotify) rule_free);
        if (!state_dir)
                return g_steal_pointer(&s);

        s->state_dir = g_strdup(state_dir);
        s->path = g_build_filename(state_dir, TARGETS_FILE, NULL);
        if (g_mkdir_with_parents(state_dir, 0700) < 0) {
                g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE, "cannot create state directory %s: %s",
                            state_dir, g_strerror(errno));
                return NULL;
        }
        dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
                g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE, "cannot open state directory %s: %s",
                            state_dir, g_strerror(errno));
                return NULL;
        }
        /* what a crash between writing and renaming a new state file left behind */
        r = px_remove_stale_temp_files(dirfd, TARGETS_FILE);
        if (r > 0)
                g_debug("removed %d stale temporary file(s) of %s", r, s->path);
        if (!load(s, error))
                return NULL;
        if (faccessat(dirfd, ".", W_OK, AT_EACCESS) < 0)
                g_warning("state directory %s is not writable (%s): boot target changes will be refused", state_dir,
                          g_strerror(errno));
        return g_steal_pointer(&s);
}

void px_target_store_free(PxTargetStore *s) {
        if (!s)
                return;
        g_clear_pointer(&s->machines, g_tree_destroy);
        g_clear_pointer(&s->dflt, target_free);
        g_free(s->state_dir);
        g_free(s->path);
        g_free(s);
}

/* One mutation: the rule for `mac` becomes `rule` (NULL: removed), and/or the default becomes
 * `dflt` (NULL: none). Owns rule and dflt until apply() takes them over. */
typedef struct Change {
        const uint8_t *mac;
        PxMachineRule *rule;
        bool default_changes;
        PxTarget *dflt;
} Change;

static void change_clear(Change *c) {
        g_clear_pointer(&c->rule, rule_free);
        g_clear_pointer(&c->dflt, target_free);
}

static int rule_ptr_compare(gconstpointer a, gconstpointer b) {
        const PxMachineRule *const *ra = a, *const *rb = b;
        return memcmp((*ra)->mac, (*rb)->mac, 6);
}

static gboolean collect_rule(gpointer key, gpointer value, gpointer userdata) {
        g_ptr_array_add(userdata, value);
        return FALSE;
}

/* Writes the state as it will be after `c`; the store itself is not touched. */
static gboolean persist(PxTargetStore *s, const Change *c, GError **error) {
        g_autoptr(GPtrArray) rules = NULL;
        g_autoptr(GError) local = NULL;
        g_autofree char *data = NULL;
        size_t len;

        if (!s->state_dir)
                return TRUE;

        rules = g_ptr_array_sized_new(g_tree_nnodes(s->machines) + 1);
        g_tree_foreach(s->machines, collect_rule, rules);
        if (c->mac) {
                bool found = false;

                for (guint i = 0; i < rules->len; i++) {
                        const PxMachineRule *r = rules->pdata[i];
                        if (memcmp(r->mac, c->mac, 6) != 0)
                                continue;
                        found = true;
                        if (c->rule)
                                rules->pdata[i] = c->rule;
                        else
                                g_ptr_array_remove_index(rules, i);
                        break;
                }
                if (!found && c->rule) {
                        g_ptr_array_add(rules, c->rule);
                        g_ptr_array_sort(rules, rule_ptr_compare);
                }
        }
        data = serialize(c->default_changes ? c->dflt : s->dflt, rules, &len);
        if (px_write_file_atomic(s->state_dir, TARGETS_FILE, data, len, 0600, 0, &local) < 0) {
                g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_STORAGE, "cannot save boot targets: %s",
                            local->message);
                return FALSE;
        }
        return TRUE;
}

/* Persists the state after `c`, then applies `c` to the store. On failure nothing changed. */
static gboolean apply(PxTargetStore *s, Change *c, GError **error) {
        if (!persist(s, c, error))
                return FALSE;
        if (c->mac) {
                g_tree_remove(s->machines, c->mac);
                if (c->rule) {
                        PxMachineRule *r = g_steal_pointer(&c->rule);
                        g_tree_insert(s->machines, r->mac, r);
                }
        }
        if (c->default_changes) {
                g_clear_pointer(&s->dflt, target_free);
                s->dflt = g_steal_pointer(&c->dflt);
        }
        s->generation++;
        return TRUE;
}

static gboolean check_limit(PxTargetStore *s, const uint8_t mac[6], GError **error) {
        if (g_tree_lookup(s->machines, mac) || g_tree_nnodes(s->machines) < PX_TARGET_MAX_MACHINES)
                return TRUE;
        g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_LIMIT,
                    "too many machine rules (at most %d); clear some first", PX_TARGET_MAX_MACHINES);
        return FALSE;
}

static gboolean not_found(const uint8_t mac[6], GError **error) {
        char buf[PX_MAC_STRLEN];

        px_mac_to_string(mac, buf);
        g_set_error(error, PX_TARGET_ERROR, PX_TARGET_ERROR_NOT_FOUND, "no rule for machine %s", buf);
        return FALSE;
}

gboolean px_target_store_set_machine(PxTargetStore *s, const uint8_t mac[6], const PxTarget *t, bool once,
                                     GError **error) {
        _cleanup_(change_clear) Change c = {.mac = mac};

        g_return_val_if_fail(s && mac && t, FALSE);

        if (!px_target_validate(s, t, error) || !check_limit(s, mac, error))
                return FALSE;
        c.rule = rule_new(mac, PX_MACHINE_RULE_TARGET);
        px_target_clear(&c.rule->target);
        px_target_copy(&c.rule->target, t);
        c.rule->once = once;
        c.rule->set_usec = now_usec();
        return apply(s, &c, error);
}

gboolean px_target_store_ignore_machine(PxTargetStore *s, const uint8_t mac[6], GError **error) {
        _cleanup_(change_clear) Change c = {.mac = mac};
        const PxMachineRule *old;

        g_return_val_if_fail(s && mac, FALSE);

        old = g_tree_lookup(s->machines, mac);
        if (old && old->kind == PX_MACHINE_RULE_IGNORE)
                return TRUE; /* already ignored: nothing changes */
        if (!check_limit(s, mac, error))
                return FALSE;
        c.rule = rule_new(mac, PX_MACHINE_RULE_IGNORE);
        c.rule->set_usec = now_usec();
        return apply(s, &c, error);
}

gboolean px_target_store_clear_machine(PxTargetStore *s, const uint8_t mac[6], GError **error) {
        g_return_val_if_fail(s && mac, FALSE);

        if (!g_tree_lookup(s->machines, mac))
                return not_found(mac, error);
        return apply(s, &(Change){.mac = mac}, error);
}

gboolean px_target_store_consume_once(PxTargetStore *s, const uint8_t mac[6], GError **error) {
        const PxMachineRule *r;

        g_return_val_if_fail(s && mac, FALSE);

        r = g_tree_lookup(s->machines, mac);
        if (!r || r->kind != PX_MACHINE_RULE_TARGET || !r->once)
                return FALSE; /* nothing to drop; not an error */
        return apply(s, &(Change){.mac = mac}, error);
}

gboolean px_target_store_set_default(PxTargetStore *s, const PxTarget *t, GError **error) {
        _cleanup_(change_clear) Change c = {.default_changes = true};

        g_return_val_if_fail(s && t, FALSE);

        if (!px_target_validate(s, t, error))
                return FALSE;
        c.dflt = target_dup(t);
        return apply(s, &c, error);
}

gboolean px_target_store_clear_default(PxTargetStore *s, GError **error) {
        g_return_val_if_fail(s, FALSE);

        if (!s->dflt) {
                g_set_error_literal(error, PX_TARGET_ERROR, PX_TARGET_ERROR_NOT_FOUND, "no default target is set");
                return FALSE;
        }
        return apply(s, &(Change){.default_changes = true}, error);
}

const PxMachineRule *px_target_store_lookup(PxTargetStore *s, const uint8_t mac[6]) {
        g_return_val_if_fail(s && mac, NULL);
        return g_tree_lookup(s->machines, mac);
}

const PxTarget *px_target_store_get_default(PxTargetStore *s) {
        g_return_val_if_fail(s, NULL);
        return s->dflt;
}

GPtrArray *px_target_store_list(PxTargetStore *s) {
        GPtrArray *a;

        g_return_val_if_fail(s, NULL);
        a = g_ptr_array_sized_new(g_tree_nnodes(s->machines));
        g_tree_foreach(s->machines, collect_rule, a);
        return a;
}

guint64 px_target_store_generation(PxTargetStore *s) {
        g_return_val_if_fail(s, 0);
        return s->generation;
}
