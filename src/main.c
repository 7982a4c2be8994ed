/* SPDX-License-Identifier: Apache-2.0 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "config.h"
#include "manager.h"
#include "px-log.h"

int main(int argc, char **argv) {
        g_auto(PxConfig) config = {};
        g_autoptr(GError) error = NULL;
        g_autoptr(PxManager) manager = NULL;
        sigset_t mask;
        int r;

        /* Block the signals sd-event handles before any thread exists (libsoup and GIO start
         * some while loading files and resolving names): a thread with them unblocked would take
         * the default action and kill the process without a clean shutdown. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                perror("pixiecore: sigprocmask");
                return EXIT_FAILURE;
        }

        /* Every HTTP connection and TFTP transfer holds descriptors (-max-http-conns 1024 alone);
         * systemd's soft limit of 1024 is for select() users, which we are not: take the hard limit. */
        struct rlimit nofile;
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
                nofile.rlim_cur = nofile.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &nofile);
        }

        px_config_init_defaults(&config);
        if (!px_config_load(&config, argc, argv, &error)) {
                if (g_error_matches(error, PX_CONFIG_ERROR, PX_CONFIG_ERROR_HELP))
                        return EXIT_SUCCESS;
                fprintf(stderr, "pixiecore: %s\n", error->message);
                return 2;
        }
        px_log_setup(config.debug);

        r = px_manager_new(&config, &manager);
        if (r < 0) {
                px_log_errno(LOG_ERR, r, NULL, "init", "cannot set up: %m");
                return EXIT_FAILURE;
        }
        if (!px_manager_start(manager, &error)) {
                px_log_error(NULL, "init", "cannot start: %s", error->message);
                return EXIT_FAILURE;
        }
        r = px_manager_run(manager);
        if (r < 0) {
                px_log_errno(LOG_ERR, r, NULL, "init", "failed: %m");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
