/* enable.c: tendctl enable|disable NAME...: SetServiceEnabled for each
 * name, in turn: tendd writes enabled = yes|no into the admin's
 * NAME.ini.d/50-enable.ini (never NAME.ini itself) and reloads, so the
 * change is in effect (and in `tendctl cat`) when the command returns. It
 * neither starts nor stops anything. */
#include <stdio.h>
#include <string.h>

#include "tendctl.h"

/* enable, disable; see tendctl.h. */
int ctl_enable(struct ctl_args *a)
{
        bool enable = strcmp(a->verb->name, "enable") == 0;
        int code = EXIT_OK;

        for (int i = 0; i < a->n_operands; i++) {
                const char *name = a->operands[i], *path = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int r, c = EXIT_OK;

                r = sd_bus_call_method(a->bus, NULL, WIRE_PATH, WIRE_INTERFACE,
                                       WIRE_METHOD_SET_ENABLED, &error, &reply, "sb", name,
                                       (int)enable);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "s", &path);
                if (r >= 0) {
                        _cleanup_free_ char *shown = ctl_escape(path);

                        printf("%s: %s (%s)\n", name, enable ? "enabled" : "disabled",
                               shown ? shown : path);
                } else if (sd_bus_error_has_name(&error, WIRE_ERROR_INVALID_CONFIG)) {
                        fprintf(stderr, "tendctl: %s: not %s:\n", name,
                                enable ? "enabled" : "disabled");
                        ctl_print_lines(error.message ? error.message : "");
                        c = EXIT_FAILED;
                } else
                        c = ctl_report(name, &error, r);
                sd_bus_error_free(&error);
                sd_bus_message_unref(reply);
                code = c > code ? c : code;
        }
        return code;
}
