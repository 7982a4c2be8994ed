/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* One logging facade. Writes structured entries to the journal when stderr is connected to
 * it (JOURNAL_STREAM), plain lines on stderr otherwise. Fields: PIXIECORE_MAC=,
 * PIXIECORE_PHASE=, PIXIECORE_FIRMWARE=, CODE_FILE/LINE/FUNC. */

#include <stdbool.h>
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
