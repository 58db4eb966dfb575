/* bus.c: tendctl's connection to tendd and its reports of what failed. Text
 * from tendd may quote services (exit reasons, paths, STATUS=): it is
 * escaped before it reaches a terminal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "tendctl.h"

/* D-Bus addresses escape everything outside [-0-9A-Za-z_/.\*] as %XX. */
static char *ctl_address(const char *path)
{
        static const char prefix[] = "unix:path=";
        char *a = malloc(sizeof prefix + strlen(path) * 3);
        char *o;

        if (!a)
                return NULL;
        o = stpcpy(a, prefix);
        for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
                if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= 'A' && *p <= 'Z') || strchr("-_/.\\*", *p))
                        *o++ = (char)*p;
                else
                        o += sprintf(o, "%%%02x", *p);
        }
        *o = '\0';
        return a;
}

/* Connect without a word; see tendctl.h. */
int ctl_connect_quiet(const char *socket_path, sd_bus **ret, const char **ret_path)
{
        static char *defpath;
        _cleanup_free_ char *address = NULL;
        const char *path = socket_path;
        sd_bus *bus = NULL;
        int r;

        if (ret_path)
                *ret_path = "";
        if (!path)
                path = getenv("TEND_SOCKET");
        if (!path || !*path) {
                if (!defpath) {
                        r = paths_default_socket(&defpath);
                        if (r < 0)
                                return r;
                }
                path = defpath;
        }
        if (ret_path)
                *ret_path = path;
        address = ctl_address(path);
        if (!address)
                return -ENOMEM;
        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 0);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, 0);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

/* Connect; see tendctl.h. */
int ctl_connect(const char *socket_path, sd_bus **ret)
{
        const char *path = NULL;
        int r = ctl_connect_quiet(socket_path, ret, &path);

        if (r >= 0)
                return 0;
        if (r == -ENOMEM) {
                fprintf(stderr, "tendctl: out of memory\n");
                return EXIT_FAILED;
        }
        if (!*path)
                fprintf(stderr,
                        "tendctl: no control socket: %s (use --socket or "
                        "TEND_SOCKET)\n",
                        strerror(-r));
        else
                fprintf(stderr, "tendctl: cannot connect to tendd at %s: %s\n", path, strerror(-r));
        return EXIT_UNREACHABLE;
}

static bool ctl_error_is_connection(const sd_bus_error *e, int r)
{
        int err = sd_bus_error_is_set(e) ? sd_bus_error_get_errno(e) : -r;

        if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) ||
            sd_bus_error_has_name(e, SD_BUS_ERROR_DISCONNECTED))
                return true;
        return err == ECONNRESET || err == ENOTCONN || err == ECONNREFUSED || err == EPIPE ||
               err == ENOENT || err == ESHUTDOWN;
}

/* Characters a terminal acts on instead of showing: C0, DEL, C1 (a lone 0x9b
 * is CSI to some terminals), and the bidirectional overrides and isolates
 * that reorder what follows them on the line. */
bool ctl_is_control(uint32_t cp)
{
        return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
               (cp >= 0x2066 && cp <= 0x2069);
}

/* s as one line of inert text, for a table or a terminal: control characters
 * as \xNN or \uNNNN, invalid UTF-8 bytes as \xNN, a backslash doubled (so
 * what looks like an escape is one). Text from tendd may quote services (their
 * STATUS=, exit reasons): never printed raw. NULL out of memory. */
char *ctl_escape(const char *s)
{
        const unsigned char *p = (const unsigned char *)(s ? s : "");
        char *buf = malloc(strlen((const char *)p) * 6 + 1), *o = buf;

        if (!buf)
                return NULL;
        while (*p) {
                uint32_t cp;
                size_t n = wire_utf8_decode(p, &cp);

                if (n == 0) {
                        o += sprintf(o, "\\x%02x", *p++);
                        continue;
                }
                if (cp == '\\') {
                        o = stpcpy(o, "\\\\");
                } else if (ctl_is_control(cp)) {
                        if (cp < 0x100)
                                o += sprintf(o, "\\x%02x", (unsigned)cp);
                        else
                                o += sprintf(o, "\\u%04x", (unsigned)cp);
                } else {
                        memcpy(o, p, n);
                        o += n;
                }
                p += n;
        }
        *o = '\0';
        return buf;
}

/* Report a failed call; see tendctl.h. */
int ctl_report(const char *name, const sd_bus_error *e, int r)
{
        /* tendd's messages quote services (exit reasons, paths): escaped. */
        _cleanup_free_ char *msg = e && e->message ? ctl_escape(e->message) : NULL;
        size_t nl = name ? strlen(name) : 0;

        if (!name)
                name = "tendd";
        if (sd_bus_error_has_name(e, WIRE_ERROR_NO_SUCH_SERVICE)) {
                fprintf(stderr, "tendctl: %s: unknown service\n", name);
                return EXIT_FAILED;
        }
        if (sd_bus_error_has_name(e, WIRE_ERROR_ACCESS_DENIED)) {
                fprintf(stderr, "tendctl: %s: permission denied%s%s%s\n", name,
                        msg ? " (" : "", msg ? msg : "", msg ? ")" : "");
                return EXIT_FAILED;
        }
        if (ctl_error_is_connection(e, r)) {
                fprintf(stderr, "tendctl: %s: lost connection to tendd: %s\n", name,
                        msg ? msg : strerror(r < 0 ? -r : EIO));
                return EXIT_UNREACHABLE;
        }
        /* tendd's failures already read "NAME: reason". */
        if (msg && nl && strncmp(msg, name, nl) == 0 && msg[nl] == ':')
                fprintf(stderr, "tendctl: %s\n", msg);
        else
                fprintf(stderr, "tendctl: %s: %s\n", name, msg ? msg : strerror(r < 0 ? -r : EIO));
        return EXIT_FAILED;
}

/* GetService(name); see tendctl.h. */
int ctl_get_service(sd_bus *bus, const char *name, struct wire_service *ret)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r, code = EXIT_OK;

        r = sd_bus_call_method(bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_GET, &error,
                               &reply, "s", name);
        if (r < 0)
                code = ctl_report(name, &error, r);
        else if ((r = wire_service_read(reply, ret)) < 0) {
                fprintf(stderr, "tendctl: %s: bad reply from tendd: %s\n", name, strerror(-r));
                code = EXIT_FAILED;
        }
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return code;
}
