/* SPDX-License-Identifier: Apache-2.0 */
#include "px-log.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

static int max_level = LOG_INFO;
static bool use_journal;

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

static const char *level_name(int level) {
        static const char *const names[] = {"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"};
        return level >= 0 && level <= LOG_DEBUG ? names[level] : "?";
}

static void emit(int level, const char *mac, const char *phase, const char *file, int line, const char *func,
                 const char *domain, const char *message) {
        if (use_journal) {
                char code_file[256], code_line[32];
                snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file ? file : "?");
                snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
                sd_journal_send_with_location(code_file, code_line, func ? func : "?", "MESSAGE=%s%s%s",
                                              phase ? phase : "", phase ? ": " : "", message, "PRIORITY=%d", level,
                                              "PIXIECORE_MAC=%s", mac ? mac : "", "PIXIECORE_PHASE=%s",
                                              phase ? phase : "", "GLIB_DOMAIN=%s", domain ? domain : "", NULL);
                return;
        }

        /* Plain stderr: "level [phase] mac: message" keeps grep-ability for tests and humans. */
        fprintf(stderr, "%s%s%s%s%s%s%s%s\n", level <= LOG_WARNING ? level_name(level) : "",
                level <= LOG_WARNING ? ": " : "", phase ? "[" : "", phase ? phase : "", phase ? "] " : "",
                mac ? mac : "", mac ? " " : "", message);
}

int px_log_full(int level, int error, const char *mac, const char *phase, const char *file, int line, const char *func,
                const char *format, ...) {
        int saved = errno;
        char buf[2048];
        va_list ap;

        if (level <= max_level) {
                if (error != 0)
                        errno = error < 0 ? -error : error; /* so that %m works */
                va_start(ap, format);
                vsnprintf(buf, sizeof(buf), format, ap);
                va_end(ap);
                emit(level, mac, phase, file, line, func, NULL, buf);
        }
        errno = saved;
        return error < 0 ? error : -error;
}

static GLogWriterOutput glib_writer(GLogLevelFlags log_level, const GLogField *fields, gsize n_fields,
                                    gpointer user_data) {
        const char *message = NULL, *domain = NULL;
        int level;

        if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
                level = LOG_ERR;
        else if (log_level & G_LOG_LEVEL_WARNING)
                level = LOG_WARNING;
        else if (log_level & G_LOG_LEVEL_MESSAGE)
                level = LOG_NOTICE;
        else if (log_level & G_LOG_LEVEL_INFO)
                level = LOG_INFO;
        else
                level = LOG_DEBUG;
        if (level > max_level)
                return G_LOG_WRITER_HANDLED;

        for (gsize i = 0; i < n_fields; i++) {
                if (g_strcmp0(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
                        message = fields[i].value;
                else if (g_strcmp0(fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
                        domain = fields[i].value;
        }
        emit(level, NULL, domain, NULL, 0, NULL, domain, message ? message : "(no message)");
        return G_LOG_WRITER_HANDLED;
}

void px_log_setup(bool debug) {
        max_level = debug ? LOG_DEBUG : LOG_INFO;
        use_journal = stderr_is_journal();
        g_log_set_writer_func(glib_writer, NULL, NULL);
}

bool px_log_debug_enabled(void) {
        return max_level >= LOG_DEBUG;
}

int px_log_get_max_level(void) {
        return max_level;
}
