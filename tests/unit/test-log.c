/* SPDX-License-Identifier: Apache-2.0 */
/* Log rate limiting: the window arithmetic on its own, then what reaches stderr through the
 * per-call-site macros: first-boot visibility, a flood cut to the burst, the "suppressed" report
 * (on the next message and on flush), independent call sites, and -debug letting everything
 * through. The clock is the test's own. */

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "px-log.h"

#define SEC 1000000ULL

static uint64_t fake_now = 1000 * SEC;

static uint64_t fake_clock(void) {
        return fake_now;
}

/* ---- the decision alone ---- */

static void test_below_window(void) {
        PxLogRatelimit rl = PX_LOG_RATELIMIT_INIT(10 * SEC, 3);
        uint64_t suppressed = 99;
        uint64_t t = 5 * SEC;

        for (int i = 0; i < 3; i++) {
                g_assert_true(px_log_ratelimit_below(&rl, t + (uint64_t) i, &suppressed));
                g_assert_cmpuint(suppressed, ==, 0);
        }
        for (int i = 0; i < 7; i++)
                g_assert_false(px_log_ratelimit_below(&rl, t + 9 * SEC, &suppressed));
        g_assert_cmpuint(rl.suppressed, ==, 7);

        /* just before the window ends: still limited */
        g_assert_false(px_log_ratelimit_below(&rl, t + 10 * SEC - 1, &suppressed));
        g_assert_cmpuint(suppressed, ==, 0);

        /* the next window reports the 8 dropped messages once and lets the burst through again */
        g_assert_true(px_log_ratelimit_below(&rl, t + 10 * SEC, &suppressed));
        g_assert_cmpuint(suppressed, ==, 8);
        g_assert_cmpuint(rl.suppressed, ==, 0);
        g_assert_true(px_log_ratelimit_below(&rl, t + 10 * SEC + 1, &suppressed));
        g_assert_cmpuint(suppressed, ==, 0);
        g_assert_true(px_log_ratelimit_below(&rl, t + 10 * SEC + 2, &suppressed));
        g_assert_false(px_log_ratelimit_below(&rl, t + 10 * SEC + 3, &suppressed));

        /* the next window reports the one dropped however late it comes; a quiet one nothing */
        g_assert_true(px_log_ratelimit_below(&rl, t + 100 * SEC, &suppressed));
        g_assert_cmpuint(suppressed, ==, 1);
        g_assert_true(px_log_ratelimit_below(&rl, t + 200 * SEC, &suppressed));
        g_assert_cmpuint(suppressed, ==, 0);
}

static void test_below_edge_cases(void) {
        PxLogRatelimit unlimited = PX_LOG_RATELIMIT_INIT(0, 0);
        PxLogRatelimit rl = PX_LOG_RATELIMIT_INIT(10 * SEC, 1);
        uint64_t suppressed;

        for (int i = 0; i < 1000; i++)
                g_assert_true(px_log_ratelimit_below(&unlimited, (uint64_t) i, &suppressed));
        g_assert_cmpuint(unlimited.suppressed, ==, 0);

        /* time 0 is a valid first reading, and NULL is accepted for the report */
        g_assert_true(px_log_ratelimit_below(&rl, 0, NULL));
        g_assert_false(px_log_ratelimit_below(&rl, 1, NULL));
        /* a clock that goes backwards starts a new window instead of limiting for ever */
        g_assert_true(px_log_ratelimit_below(&rl, 50 * SEC, NULL));
        g_assert_false(px_log_ratelimit_below(&rl, 50 * SEC, NULL));
        g_assert_true(px_log_ratelimit_below(&rl, 20 * SEC, &suppressed));
        g_assert_cmpuint(suppressed, ==, 1);
}

/* ---- through the logging functions, stderr captured ---- */

static char *capture_path;
static int saved_stderr = -1;

static void capture_begin(void) {
        int fd;

        g_assert_null(capture_path);
        fd = g_file_open_tmp("test-log-XXXXXX", &capture_path, NULL);
        g_assert_cmpint(fd, >=, 0);
        fflush(stderr);
        saved_stderr = dup(STDERR_FILENO);
        g_assert_cmpint(dup2(fd, STDERR_FILENO), ==, STDERR_FILENO);
        close(fd);
}

/* Returns the captured lines. */
static char **capture_end(void) {
        g_autofree char *text = NULL;
        char **lines;

        fflush(stderr);
        g_assert_cmpint(dup2(saved_stderr, STDERR_FILENO), ==, STDERR_FILENO);
        close(saved_stderr);
        g_assert_true(g_file_get_contents(capture_path, &text, NULL, NULL));
        (void) g_unlink(capture_path);
        g_clear_pointer(&capture_path, g_free);
        lines = g_strsplit(text, "\n", -1);
        /* drop the empty string after the last newline */
        if (lines[0]) {
                guint n = g_strv_length(lines);
                if (*lines[n - 1] == '\0') {
                        g_free(lines[n - 1]);
                        lines[n - 1] = NULL;
                }
        }
        return lines;
}

static guint count_matching(char **lines, const char *needle) {
        guint n = 0;

        for (char **l = lines; *l; l++)
                if (strstr(*l, needle))
                        n++;
        return n;
}

/* One call site each, like the DHCP server's offer and refusal lines. */
static void log_offer(const char *mac) {
        px_log_info_ratelimited(mac, "dhcp", "offered BIOS firmware: boot file %s/undionly.kpxe", mac);
}

static void log_refusal(const char *mac) {
        px_log_info_ratelimited(mac, "dhcp", "not booting this machine: %s", "policy");
}

static void test_first_boot_visible(void) {
        const char *macs[] = {"52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03", "52:54:00:00:00:04",
                              "52:54:00:00:00:05"};
        g_auto(GStrv) lines = NULL;

        /* five machines, each firmware retransmitting its DISCOVER four times */
        fake_now += 3600 * SEC;
        capture_begin();
        for (int round = 0; round < 4; round++)
                for (size_t i = 0; i < G_N_ELEMENTS(macs); i++) {
                        log_offer(macs[i]);
                        fake_now += SEC / 10;
                }
        lines = capture_end();
        for (size_t i = 0; i < G_N_ELEMENTS(macs); i++)
                g_assert_cmpuint(count_matching(lines, macs[i]), ==, 4);
        g_assert_cmpuint(count_matching(lines, "suppressed"), ==, 0);
        g_assert_cmpuint(g_strv_length(lines), ==, 20);
}

static void test_flood_limited(void) {
        g_auto(GStrv) lines = NULL, after = NULL;
        char mac[PX_MAC_STRLEN];
        const unsigned flood = 40000;
        g_autofree char *want = NULL;

        fake_now += 3600 * SEC; /* a fresh window for this call site */
        capture_begin();
        for (unsigned i = 0; i < flood; i++) {
                g_snprintf(mac, sizeof(mac), "02:00:00:%02x:%02x:%02x", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
                log_offer(mac);
                fake_now += 25; /* 40 000 per second */
        }
        lines = capture_end();
        g_assert_cmpuint(g_strv_length(lines), ==, PX_LOG_RATELIMIT_BURST);
        g_assert_cmpuint(count_matching(lines, "offered"), ==, PX_LOG_RATELIMIT_BURST);
        /* the first machines of the flood are the ones shown */
        g_assert_nonnull(strstr(lines[0], "02:00:00:00:00:00"));
        g_assert_nonnull(strstr(lines[PX_LOG_RATELIMIT_BURST - 1], "02:00:00:00:00:31"));

        /* after the window: one report with the exact count, then the message itself */
        fake_now += PX_LOG_RATELIMIT_INTERVAL_USEC;
        capture_begin();
        log_offer("52:54:00:aa:bb:cc");
        after = capture_end();
        g_assert_cmpuint(g_strv_length(after), ==, 2);
        want = g_strdup_printf("[dhcp] suppressed %u similar messages", flood - PX_LOG_RATELIMIT_BURST);
        g_assert_true(g_str_has_prefix(after[0], want));
        g_assert_nonnull(strstr(after[1], "52:54:00:aa:bb:cc"));
}

static void test_flush(void) {
        g_auto(GStrv) during = NULL, early = NULL, lines = NULL, again = NULL;

        fake_now += 3600 * SEC;
        capture_begin();
        for (unsigned i = 0; i < PX_LOG_RATELIMIT_BURST + 7; i++)
                log_refusal("52:54:00:00:00:09");
        during = capture_end();
        g_assert_cmpuint(g_strv_length(during), ==, PX_LOG_RATELIMIT_BURST);

        /* the window is still open: nothing to report yet */
        capture_begin();
        px_log_ratelimit_flush(0);
        early = capture_end();
        g_assert_cmpuint(g_strv_length(early), ==, 0);

        /* the flood is over: the timer's flush reports it, exactly once */
        fake_now += PX_LOG_RATELIMIT_INTERVAL_USEC;
        capture_begin();
        px_log_ratelimit_flush(0);
        lines = capture_end();
        g_assert_cmpuint(g_strv_length(lines), ==, 1);
        g_assert_true(g_str_has_prefix(lines[0], "[dhcp] suppressed 7 similar messages"));

        capture_begin();
        px_log_ratelimit_flush(0);
        log_refusal("52:54:00:00:00:09"); /* a new window: logged, and no second report */
        again = capture_end();
        g_assert_cmpuint(g_strv_length(again), ==, 1);
        g_assert_cmpuint(count_matching(again, "suppressed"), ==, 0);
}

static void test_call_sites_independent(void) {
        g_auto(GStrv) lines = NULL;
        g_autofree char *want = NULL;

        fake_now += 3600 * SEC;
        capture_begin();
        for (unsigned i = 0; i < 3 * PX_LOG_RATELIMIT_BURST; i++)
                log_offer("52:54:00:00:00:0a");
        /* the offers used up their budget; the refusals have their own */
        for (unsigned i = 0; i < 5; i++)
                log_refusal("52:54:00:00:00:0b");
        /* each reports its own count at the end */
        fake_now += PX_LOG_RATELIMIT_INTERVAL_USEC;
        px_log_ratelimit_flush(0);
        lines = capture_end();
        g_assert_cmpuint(count_matching(lines, "offered"), ==, PX_LOG_RATELIMIT_BURST);
        g_assert_cmpuint(count_matching(lines, "not booting"), ==, 5);
        g_assert_cmpuint(count_matching(lines, "suppressed"), ==, 1);
        want = g_strdup_printf("suppressed %u similar messages", 2 * PX_LOG_RATELIMIT_BURST);
        g_assert_cmpuint(count_matching(lines, want), ==, 1);
}

static void test_debug_unlimited(void) {
        if (g_test_subprocess()) {
                g_auto(GStrv) lines = NULL;

                px_log_setup(true); /* -debug */
                px_log_set_clock(fake_clock);
                capture_begin();
                for (unsigned i = 0; i < 4 * PX_LOG_RATELIMIT_BURST; i++)
                        log_offer("52:54:00:00:00:0c");
                px_log_ratelimit_flush(0);
                lines = capture_end();
                g_assert_cmpuint(g_strv_length(lines), ==, 4 * PX_LOG_RATELIMIT_BURST);
                g_assert_cmpuint(count_matching(lines, "suppressed"), ==, 0);
                return;
        }
        g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
        g_test_trap_assert_passed();
}

static void test_level_filtered_first(void) {
        g_auto(GStrv) lines = NULL;
        int r;

        /* below the log level nothing is counted either: no report appears later */
        fake_now += 3600 * SEC;
        capture_begin();
        for (unsigned i = 0; i < 2 * PX_LOG_RATELIMIT_BURST; i++) {
                r = px_log_ratelimited(PX_LOG_RATELIMIT_INTERVAL_USEC, 1, LOG_DEBUG, NULL, "tftp", "timeout %u", i);
                g_assert_cmpint(r, ==, 0);
        }
        fake_now += PX_LOG_RATELIMIT_INTERVAL_USEC;
        px_log_ratelimit_flush(0);
        lines = capture_end();
        g_assert_cmpuint(g_strv_length(lines), ==, 0);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_unsetenv("JOURNAL_STREAM"); /* plain lines on stderr, not the journal */
        if (!g_test_subprocess()) {
                px_log_setup(false);
                px_log_set_clock(fake_clock);
        }

        g_test_add_func("/log/ratelimit/window", test_below_window);
        g_test_add_func("/log/ratelimit/edge-cases", test_below_edge_cases);
        g_test_add_func("/log/ratelimit/first-boot-visible", test_first_boot_visible);
        g_test_add_func("/log/ratelimit/flood", test_flood_limited);
        g_test_add_func("/log/ratelimit/flush", test_flush);
        g_test_add_func("/log/ratelimit/call-sites", test_call_sites_independent);
        g_test_add_func("/log/ratelimit/debug-unlimited", test_debug_unlimited);
        g_test_add_func("/log/ratelimit/level-filtered", test_level_filtered_first);
        return g_test_run();
}
