/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Boot scripts handed to the second-stage bootloader: iPXE scripts and PXELINUX configs.
 * Pure text generation. Inputs are trusted to have passed px_cmdline_check() and
 * px_bootscript_check_text(); URLs are built by the HTTP layer and contain no whitespace. */

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
 * "initrd=initrdN" arguments (EFI stub kernels find iPXE's initrds that way). */
char *px_ipxe_script_render(const PxBootScript *s);

/* Script for a machine that should not boot now: prints why, returns to the firmware. */
char *px_ipxe_script_render_refusal(const char *reason);

/* PXELINUX configuration booting the kernel with a comma-separated initrd list. */
char *px_pxelinux_config_render(const PxBootScript *s);

/* Config that makes PXELINUX boot from the local disk instead. */
char *px_pxelinux_config_render_local(const char *reason);

/* True if `url` can be written into a script unchanged (no whitespace, control characters,
 * commas, '${' and not starting with '#'). */
bool px_bootscript_url_is_safe(const char *url);

/* Checks a message for display by iPXE's echo (no "${", no word that starts with '#' or is
 * '||', '&&', ';', no control characters besides newline and tab). */
bool px_bootscript_message_is_safe(const char *message);
