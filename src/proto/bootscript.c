/* SPDX-License-Identifier: Apache-2.0 */
#include "bootscript.h"

#include <string.h>

static bool word_is_ipxe_terminator(const char *w) {
        return w[0] == '#' || g_str_equal(w, "||") || g_str_equal(w, "&&") || g_str_equal(w, ";");
}

static bool is_control(char c) {
        return (unsigned char) c < 0x20 || c == 0x7f;
}

bool px_bootscript_url_is_safe(const char *url) {
        if (!url || !*url || word_is_ipxe_terminator(url) || strstr(url, "${"))
                return false;
        for (const char *p = url; *p; p++)
                if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == ',')
                        return false;
        return true;
}

bool px_bootscript_cmdline_is_safe(const char *cmdline, bool ipxe) {
        if (!cmdline)
                return true;
        for (const char *p = cmdline; *p; p++)
                if (is_control(*p))
                        return false;
        if (!ipxe)
                return true;
        if (strstr(cmdline, "${"))
                return false;
        g_auto(GStrv) words = g_strsplit(cmdline, " ", -1);
        for (char **w = words; *w; w++)
                if (**w && word_is_ipxe_terminator(*w))
                        return false;
        return true;
}

/* Display text for PXELINUX's SAY: one line per '\n', nothing else that ends a line. */
static bool say_text_is_safe(const char *text) {
        for (const char *p = text; p && *p; p++)
                if (is_control(*p) && *p != '\n' && *p != '\t')
                        return false;
        return true;
}

bool px_bootscript_message_is_safe(const char *message) {
        if (!message)
                return true;
        if (strstr(message, "${"))
                return false;
        if (!say_text_is_safe(message))
                return false;
        g_auto(GStrv) words = g_strsplit_set(message, " \t\n", -1);
        for (char **w = words; *w; w++)
                if (**w && word_is_ipxe_terminator(*w))
                        return false;
        return true;
}

static void append_echo_lines(GString *out, const char *text) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

        for (char **l = lines; *l; l++)
                /* a bare "echo" prints an empty line, keeping the message's shape */
                g_string_append_printf(out, "echo %s\n", *l);
}

static bool urls_are_safe(const PxBootScript *s) {
        if (!px_bootscript_url_is_safe(s->kernel_url))
                return false;
        for (const char *const *i = s->initrd_urls; i && *i; i++)
                if (!px_bootscript_url_is_safe(*i))
                        return false;
        return true;
}

char *px_ipxe_script_render(const PxBootScript *s) {
        GString *out;
        unsigned n = 0;

        if (!s || !urls_are_safe(s) || (s->booting_url && !px_bootscript_url_is_safe(s->booting_url)) ||
            (s->retry_url && !px_bootscript_url_is_safe(s->retry_url)) ||
            !px_bootscript_cmdline_is_safe(s->cmdline, true) || !px_bootscript_message_is_safe(s->message))
                return NULL;

        out = g_string_new("#!ipxe\n");

        if (s->message)
                append_echo_lines(out, s->message);
        g_string_append_printf(out, "kernel --name kernel %s || goto failed\n", s->kernel_url);
        for (const char *const *i = s->initrd_urls; i && *i; i++, n++)
                g_string_append_printf(out, "initrd --name initrd%u %s || goto failed\n", n, *i);
        if (s->booting_url)
                g_string_append_printf(out, "imgfetch --name ready %s ||\nimgfree ready ||\n", s->booting_url);
        g_string_append(out, "boot kernel");
        for (unsigned k = 0; k < n; k++)
                g_string_append_printf(out, " initrd=initrd%u", k);
        if (s->cmdline && *s->cmdline)
                g_string_append_printf(out, " %s", s->cmdline);
        g_string_append(out, " || goto failed\n");
        g_string_append(out, ":failed\n");
        if (s->retry_url)
                g_string_append_printf(out,
                                       "echo pixiecore: boot failed, retrying in 5 seconds\n"
                                       "sleep 5\n"
                                       "chain %s\n",
                                       s->retry_url);
        else
                g_string_append(out, "echo pixiecore: boot failed\nsleep 5\nexit 1\n");
        return g_string_free(out, FALSE);
}

char *px_ipxe_script_render_refusal(const char *reason) {
        GString *out = g_string_new("#!ipxe\n");

        append_echo_lines(out, reason && px_bootscript_message_is_safe(reason) ? reason
                                                                               : "pixiecore: not booting this machine");
        g_string_append(out, "sleep 5\nexit 1\n");
        return g_string_free(out, FALSE);
}

static void append_say_lines(GString *out, const char *text) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

        for (char **l = lines; *l; l++)
                g_string_append_printf(out, "SAY %s\n", *l);
}

char *px_pxelinux_config_render(const PxBootScript *s) {
        GString *out;
        bool first = true;

        if (!s || !urls_are_safe(s) || !px_bootscript_cmdline_is_safe(s->cmdline, false) ||
            !say_text_is_safe(s->message))
                return NULL;

        out = g_string_new(NULL);

        if (s->message)
                append_say_lines(out, s->message);
        g_string_append(out, "DEFAULT pixiecore\nPROMPT 0\nTIMEOUT 0\nLABEL pixiecore\n");
        /* KERNEL, not LINUX: lets non-Linux images such as memtest86+ boot as well */
        g_string_append_printf(out, "  KERNEL %s\n", s->kernel_url);
        g_string_append(out, "  APPEND");
        if (s->initrd_urls && s->initrd_urls[0]) {
                g_string_append(out, " initrd=");
                for (const char *const *i = s->initrd_urls; *i; i++, first = false)
                        g_string_append_printf(out, "%s%s", first ? "" : ",", *i);
        }
        if (s->cmdline && *s->cmdline)
                g_string_append_printf(out, " %s", s->cmdline);
        g_string_append_c(out, '\n');
        return g_string_free(out, FALSE);
}

char *px_pxelinux_config_render_local(const char *reason) {
        GString *out = g_string_new(NULL);

        if (reason)
                append_say_lines(out, say_text_is_safe(reason) ? reason : "pixiecore: not booting this machine");
        g_string_append(out, "DEFAULT local\nPROMPT 0\nTIMEOUT 0\nLABEL local\n  LOCALBOOT 0\n");
        return g_string_free(out, FALSE);
}
