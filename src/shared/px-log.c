/* SPDX-License-Identifier: Apache-2.0 */
#include "px-log.h"

#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>

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

/* Formats and emits one message; errno is the caller's to restore. */
static void log_va(int level, int error, const char *mac, const char *phase, const char *file, int line,
                   const char *func, const char *format, va_list ap) {
        char buf[2048];

        if (error != 0)
                errno = error < 0 ? -error : error; /* so that %m works */
        vsnprintf(buf, sizeof(buf), format, ap);
        emit(level, mac, phase, file, line, func, NULL, buf);
}

int px_log_full(int level, int error, const char *mac, const char *phase, const char *file, int line, const char *func,
                const char *format, ...) {
        int saved = errno;
        va_list ap;

        if (level <= max_level) {
                va_start(ap, format);
                log_va(level, error, mac, phase, file, line, func, format, ap);
                va_end(ap);
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

/* ---- rate limiting ---- */

static PxLogRatelimit *ratelimits; /* limiters with a pending report; single-threaded daemon */
static uint64_t (*clock_hook)(void);

void px_log_set_clock(uint64_t (*now_usec)(void)) {
        clock_hook = now_usec;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        if (clock_hook)
                return clock_hook();
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

bool px_log_ratelimit_below(PxLogRatelimit *rl, uint64_t now, uint64_t *ret_suppressed) {
        uint64_t suppressed = 0;

        if (rl->burst == 0 || rl->interval_usec == 0) {
                /* no limit configured */
                if (ret_suppressed)
                        *ret_suppressed = 0;
                return true;
        }
        if (rl->begin_usec == 0 || now < rl->begin_usec || now - rl->begin_usec >= rl->interval_usec) {
                /* a new window; a clock going backwards also starts one */
                suppressed = rl->suppressed;
                rl->suppressed = 0;
                rl->begin_usec = now ? now : 1;
                rl->num = 0;
        }
        if (ret_suppressed)
                *ret_suppressed = suppressed;
        if (rl->num < rl->burst) {
                rl->num++;
                return true;
        }
        rl->suppressed++;
        return false;
}

static void emit_suppressed(const PxLogRatelimit *rl, int level, const char *phase, uint64_t n) {
        char buf[256];

        snprintf(buf, sizeof(buf),
                 "suppressed %" PRIu64 " similar message%s (at most %u per %" PRIu64 " s are logged; -debug logs all)",
                 n, n == 1 ? "" : "s", rl->burst, rl->interval_usec / 1000000);
        emit(level, NULL, phase, NULL, 0, NULL, NULL, buf);
}

static void unregister(PxLogRatelimit *rl) {
        for (PxLogRatelimit **i = &ratelimits; *i; i = &(*i)->next)
                if (*i == rl) {
                        *i = rl->next;
                        break;
                }
        rl->next = NULL;
        rl->registered = false;
}

int px_log_ratelimit_full(PxLogRatelimit *rl, int level, int error, const char *mac, const char *phase,
                          const char *file, int line, const char *func, const char *format, ...) {
        int saved = errno;
        uint64_t suppressed;
        va_list ap;

        if (level > max_level)
                goto out;
        if (max_level < LOG_DEBUG) {
                bool ok = px_log_ratelimit_below(rl, now_usec(), &suppressed);

                if (suppressed > 0)
                        emit_suppressed(rl, rl->level, rl->phase, suppressed);
                if (!ok) {
                        rl->level = level;
                        rl->phase = phase;
                        if (!rl->registered) {
                                rl->next = ratelimits;
                                ratelimits = rl;
                                rl->registered = true;
                        }
                        goto out;
                }
                if (suppressed > 0 && rl->registered && rl->suppressed == 0)
                        unregister(rl);
        }
        va_start(ap, format);
        log_va(level, error, mac, phase, file, line, func, format, ap);
        va_end(ap);
out:
        errno = saved;
        return error < 0 ? error : -error;
}

void px_log_ratelimit_flush(uint64_t now) {
        PxLogRatelimit *rl, *next;

        if (now == 0)
                now = now_usec();
        for (rl = ratelimits; rl; rl = next) {
                next = rl->next;
                if (rl->suppressed > 0 && now - rl->begin_usec < rl->interval_usec)
                        continue; /* window still open: more may come, report once at its end */
                if (rl->suppressed > 0)
                        emit_suppressed(rl, rl->level, rl->phase, rl->suppressed);
                rl->suppressed = 0;
                unregister(rl);
        }
}
