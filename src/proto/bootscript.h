/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Boot scripts handed to the second-stage bootloader: iPXE scripts and PXELINUX configs.
 * Pure text generation. Callers validate first (px_cmdline_check(), px_bootscript_message_is_safe();
 * URLs are built by the HTTP layer), but the renderers check again and refuse (NULL) what could
 * add a line or a command to the script: no input can do more than fill its own slot. */

#include <glib.h>
#include <stdbool.h>

typedef struct PxBootScript {
        const char *kernel_url;
        const char *const *initrd_urls; /* NULL-terminated, may be NULL */
        const char *cmdline;            /* may be NULL */
        const char *message;            /* may be NULL; several lines allowed */
        const char *booting_url;        /* iPXE: fetched right before boot, marks the session; may be NULL */
        const char *retry_url;          /* iPXE: chained after a failed fetch; NULL: exit to firmware */
} PxBootScript;

/* "#!ipxe" script that loads kernel and initrds by name and boots them with
 * "initrd=initrdN" arguments (EFI stub kernels find iPXE's initrds that way).
 * NULL (refused) unless every URL passes px_bootscript_url_is_safe(), the cmdline
 * px_bootscript_cmdline_is_safe(.., true) and the message px_bootscript_message_is_safe(). */
char *px_ipxe_script_render(const PxBootScript *s);

/* Script for a machine that should not boot now: prints why, returns to the firmware. */
char *px_ipxe_script_render_refusal(const char *reason);

/* PXELINUX configuration booting the kernel with a comma-separated initrd list.
 * NULL (refused) unless kernel and initrd URLs pass px_bootscript_url_is_safe(), the cmdline
 * px_bootscript_cmdline_is_safe(.., false), and the message has no control characters besides
 * newline and tab (booting_url and retry_url are not used). */
char *px_pxelinux_config_render(const PxBootScript *s);

/* Config that makes PXELINUX boot from the local disk instead. A reason with control characters
 * besides newline and tab is replaced by a fixed text. */
char *px_pxelinux_config_render_local(const char *reason);

/* True if `url` can be written into a script unchanged (no whitespace, control characters,
 * commas, '${', not starting with '#', not "||", "&&" or ";"). */
bool px_bootscript_url_is_safe(const char *url);

/* True if `cmdline` (NULL is fine) can be appended to a boot line: no control characters; for
 * iPXE also no '${' and no space-separated word that starts with '#' or is '||', '&&', ';'.
 * The bare minimum for the script's integrity: px_cmdline_check() is stricter. */
bool px_bootscript_cmdline_is_safe(const char *cmdline, bool ipxe);

/* Checks a message for display by iPXE's echo (no "${", no word that starts with '#' or is
 * '||', '&&', ';', no control characters besides newline and tab). */
bool px_bootscript_message_is_safe(const char *message);
