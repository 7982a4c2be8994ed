/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* One logging facade. Writes structured entries to the journal when stderr is connected to
 * it (JOURNAL_STREAM), plain lines on stderr otherwise. Fields: PIXIECORE_MAC=,
 * PIXIECORE_PHASE=, PIXIECORE_FIRMWARE=, CODE_FILE/LINE/FUNC. */

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "px-macro.h"

void px_log_setup(bool debug);
bool px_log_debug_enabled(void);
int px_log_get_max_level(void);

/* mac and phase may be NULL. Returns -abs(error) when error != 0, so callers can
 * "return px_log_errno(...)". */
int px_log_full(int level, int error, const char *mac, const char *phase, const char *file, int line, const char *func,
                const char *format, ...) _printf_(8, 9);

#define px_log(level, mac, phase, ...)                                                                                 \
        ({                                                                                                             \
                int _l = (level);                                                                                      \
                _l <= px_log_get_max_level()                                                                           \
                        ? px_log_full(_l, 0, mac, phase, __FILE__, __LINE__, __func__, __VA_ARGS__)                    \
                        : 0;                                                                                           \
        })

#define px_log_debug(mac, phase, ...)   px_log(LOG_DEBUG, mac, phase, __VA_ARGS__)
#define px_log_info(mac, phase, ...)    px_log(LOG_INFO, mac, phase, __VA_ARGS__)
#define px_log_notice(mac, phase, ...)  px_log(LOG_NOTICE, mac, phase, __VA_ARGS__)
#define px_log_warning(mac, phase, ...) px_log(LOG_WARNING, mac, phase, __VA_ARGS__)
#define px_log_error(mac, phase, ...)   px_log(LOG_ERR, mac, phase, __VA_ARGS__)
#define px_log_errno(level, error, mac, phase, ...)                                                                    \
        px_log_full(level, error, mac, phase, __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Rate limiting for per-packet logs (offers, refusals, drops): at most `burst` messages per
 * `interval_usec` window and call site, like systemd's log_ratelimit_*(); the rest is counted and
 * reported as one line ("suppressed N similar messages ...") when the next message gets through
 * or at the latest on px_log_ratelimit_flush(). Any host on the LAN decides how many packets we
 * see, so a flood must not turn into megabytes of log and CPU spent formatting them.
 *
 * With -debug nothing is limited: the admin asked for every packet. */
typedef struct PxLogRatelimit {
        uint64_t interval_usec;
        unsigned burst;
        /* state, zero-initialized */
        uint64_t begin_usec; /* start of the current window, 0: none yet */
        unsigned num;        /* messages let through in the current window */
        uint64_t suppressed; /* messages dropped since the last report */
        int level;           /* of the dropped messages, for the report */
        const char *phase;   /* ditto; must be a static string */
        bool registered;     /* on the list that px_log_ratelimit_flush() walks */
        struct PxLogRatelimit *next;
} PxLogRatelimit;

#define PX_LOG_RATELIMIT_INIT(interval, b)                                                                             \
        { .interval_usec = (interval), .burst = (b) }

/* Defaults for per-packet info logs: enough for a rack of machines booting at once (each
 * firmware retransmits its DISCOVER a few times), a trickle during a flood. */
#define PX_LOG_RATELIMIT_INTERVAL_USEC (10ULL * 1000 * 1000)
#define PX_LOG_RATELIMIT_BURST         50u

/* The decision alone, at time now_usec (CLOCK_MONOTONIC). Returns true if a message may be
 * logged. When a new window begins, *ret_suppressed (if not NULL) gets the number of messages
 * dropped before and the count is reset; otherwise it is set to 0. */
bool px_log_ratelimit_below(PxLogRatelimit *rl, uint64_t now_usec, uint64_t *ret_suppressed);

/* Emits the pending "suppressed" line of every limiter whose window ended by now_usec
 * (0: now). Call it from a periodic timer so that the count of the last burst is not lost. */
void px_log_ratelimit_flush(uint64_t now_usec);

/* Test hook: replaces the clock the limiters read (NULL: CLOCK_MONOTONIC). */
void px_log_set_clock(uint64_t (*now_usec)(void));

int px_log_ratelimit_full(PxLogRatelimit *rl, int level, int error, const char *mac, const char *phase,
                          const char *file, int line, const char *func, const char *format, ...) _printf_(9, 10);

/* One limiter per call site (the static lives in the expansion). */
#define px_log_ratelimited(interval, burst, level, mac, phase, ...)                                                    \
        ({                                                                                                             \
                static PxLogRatelimit _rl = PX_LOG_RATELIMIT_INIT(interval, burst);                                    \
                int _l = (level);                                                                                      \
                _l <= px_log_get_max_level()                                                                           \
                        ? px_log_ratelimit_full(&_rl, _l, 0, mac, phase, __FILE__, __LINE__, __func__, __VA_ARGS__)    \
                        : 0;                                                                                           \
        })

#define px_log_info_ratelimited(mac, phase, ...)                                                                       \
        px_log_ratelimited(PX_LOG_RATELIMIT_INTERVAL_USEC, PX_LOG_RATELIMIT_BURST, LOG_INFO, mac, phase, __VA_ARGS__)
#define px_log_warning_ratelimited(mac, phase, ...)                                                                    \
        px_log_ratelimited(PX_LOG_RATELIMIT_INTERVAL_USEC, PX_LOG_RATELIMIT_BURST, LOG_WARNING, mac, phase, __VA_ARGS__)
