/* tendctl.c: the command-line client. Talks D-Bus to tendd over its private
 * control socket (peer to peer, no bus daemon); see control.h for the API and
 * DESIGN.md for the commands and exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>

#include "config.h"
#include "control.h"
#include "output.h"
#include "parse.h"
#include "util.h"

#ifndef TEND_VERSION
#define TEND_VERSION "unknown"
#endif

enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,
        EXIT_USAGE = 2,
        EXIT_NOT_RUNNING = 3,
        EXIT_UNREACHABLE = 4,
};

struct ctl_service {
        char *name, *state, *reason, *type, *status;
        char *output, *log_path;
        uint32_t pid, restarts;
        uint64_t since; /* realtime usec */
        bool has_exit, want_up;
        int32_t exit_code, exit_signal;
};

static const char *arg_socket;
static sd_bus *ctl_bus;

static void ctl_service_done(struct ctl_service *s)
{
        free(s->name);
        free(s->state);
        free(s->reason);
        free(s->status);
        free(s->type);
        free(s->output);
        free(s->log_path);
        memset(s, 0, sizeof *s);
}

static void ctl_services_free(struct ctl_service *v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                ctl_service_done(&v[i]);
        free(v);
}

static void help(FILE *f)
{
        fprintf(f,
                "Usage: tendctl [-s|--socket PATH] COMMAND ...\n"
                "\n"
                "Control tendd, the tend process supervisor.\n"
                "\n"
                "Commands:\n"
                "  status [--json] [NAME...]          Show services (exit 3: a named one is\n"
                "                                     not running)\n"
                "  start [--no-block] NAME...         Start and wait until running\n"
                "  stop [--no-block] NAME...          Stop and wait until stopped\n"
                "  restart [--no-block] NAME...       Restart and wait until running again\n"
                "  kill [-s SIGNAL] NAME...           Send a signal (default TERM)\n"
                "  reload                             Reload the configuration\n"
                "  logs [-n N] [-f] NAME              Show a service's output (the last N\n"
                "                                     lines; -f: follow). File output is read\n"
                "                                     from its log files, journal output with\n"
                "                                     journalctl -t NAME\n"
                "\n"
                "Options:\n"
                "  -s, --socket PATH   Control socket (default: $TEND_SOCKET, else the\n"
                "                      daemon's default)\n"
                "  -h, --help          Show this help\n"
                "      --version       Show the version\n"
                "\n"
                "Exit status: 0 ok, 1 operation failed, 2 usage, 3 not running,\n"
                "4 daemon unreachable.\n");
}

_printf_(1, 2) static int usage_error(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "tendctl: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'tendctl --help'.\n");
        return EXIT_USAGE;
}

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

/* Connect on first use, after the command line was checked; returns an exit
 * code (0: *ret is connected). */
static int ctl_connect(sd_bus **ret)
{
        _cleanup_free_ char *defpath = NULL, *address = NULL;
        const char *path = arg_socket;
        sd_bus *bus = NULL;
        int r;

        if (ctl_bus) {
                *ret = ctl_bus;
                return 0;
        }
        if (!path)
                path = getenv("TEND_SOCKET");
        if (!path || !*path) {
                r = config_default_socket_path(&defpath);
                if (r < 0) {
                        fprintf(stderr, "tendctl: no control socket: %s (use --socket or "
                                        "TEND_SOCKET)\n", strerror(-r));
                        return EXIT_UNREACHABLE;
                }
                path = defpath;
        }
        address = ctl_address(path);
        if (!address)
                goto oom;
        r = sd_bus_new(&bus);
        if (r < 0)
                goto fail;
        r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 0);
        if (r >= 0)
                r = sd_bus_negotiate_fds(bus, 0);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                goto fail;
        *ret = ctl_bus = bus;
        return 0;

fail:
        sd_bus_unref(bus);
        fprintf(stderr, "tendctl: cannot connect to tendd at %s: %s\n", path, strerror(-r));
        return EXIT_UNREACHABLE;
oom:
        fprintf(stderr, "tendctl: out of memory\n");
        return EXIT_FAILED;
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

/* One UTF-8 sequence at p: its length and code point, or 0 when invalid
 * (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *p, uint32_t *ret)
{
        size_t n;
        uint32_t cp;

        if (*p < 0x80) {
                *ret = *p;
                return 1;
        }
        if ((*p & 0xe0) == 0xc0) {
                n = 2;
                cp = *p & 0x1f;
        } else if ((*p & 0xf0) == 0xe0) {
                n = 3;
                cp = *p & 0x0f;
        } else if ((*p & 0xf8) == 0xf0) {
                n = 4;
                cp = *p & 0x07;
        } else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret = cp;
        return n;
}

/* Characters a terminal acts on instead of showing: C0, DEL, C1 (a lone 0x9b
 * is CSI to some terminals), and the bidirectional overrides and isolates
 * that reorder what follows them on the line. */
static bool is_control(uint32_t cp)
{
        return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
               (cp >= 0x2066 && cp <= 0x2069);
}

/* s as one line of inert text, for a table or a terminal: control characters
 * as \xNN or \uNNNN, invalid UTF-8 bytes as \xNN, a backslash doubled (so
 * what looks like an escape is one). Text from tendd may quote services (their
 * STATUS=, exit reasons): never printed raw. NULL out of memory. */
static char *ctl_escape(const char *s)
{
        const unsigned char *p = (const unsigned char *)(s ? s : "");
        char *buf = malloc(strlen((const char *)p) * 6 + 1), *o = buf;

        if (!buf)
                return NULL;
        while (*p) {
                uint32_t cp;
                size_t n = utf8_decode(p, &cp);

                if (n == 0) {
                        o += sprintf(o, "\\x%02x", *p++);
                        continue;
                }
                if (cp == '\\') {
                        o = stpcpy(o, "\\\\");
                } else if (is_control(cp)) {
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

/* Report a failed call about name; returns the exit code it maps to. */
static int ctl_report(const char *name, const sd_bus_error *e, int r)
{
        /* tendd's messages quote services (exit reasons, paths): escaped. */
        _cleanup_free_ char *msg = e && e->message ? ctl_escape(e->message) : NULL;
        size_t nl = name ? strlen(name) : 0;

        if (!name)
                name = "tendd";
        if (sd_bus_error_has_name(e, CONTROL_ERROR_NO_SUCH_SERVICE)) {
                fprintf(stderr, "tendctl: %s: unknown service\n", name);
                return EXIT_FAILED;
        }
        if (sd_bus_error_has_name(e, CONTROL_ERROR_ACCESS_DENIED)) {
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

static int ctl_read_string(sd_bus_message *m, char **field)
{
        const char *v;
        int r = sd_bus_message_read(m, "v", "s", &v);
        if (r < 0)
                return r;
        free(*field);
        *field = strdup(v);
        return *field ? 0 : -ENOMEM;
}

/* Read one a{sv} service dict; unknown keys are skipped. */
static int ctl_read_service(sd_bus_message *m, struct ctl_service *s)
{
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key;
                int b;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (strcmp(key, "Name") == 0)
                        r = ctl_read_string(m, &s->name);
                else if (strcmp(key, "State") == 0)
                        r = ctl_read_string(m, &s->state);
                else if (strcmp(key, "Reason") == 0)
                        r = ctl_read_string(m, &s->reason);
                else if (strcmp(key, "Status") == 0)
                        r = ctl_read_string(m, &s->status);
                else if (strcmp(key, "Type") == 0)
                        r = ctl_read_string(m, &s->type);
                else if (strcmp(key, "Output") == 0)
                        r = ctl_read_string(m, &s->output);
                else if (strcmp(key, "LogPath") == 0)
                        r = ctl_read_string(m, &s->log_path);
                else if (strcmp(key, "Pid") == 0)
                        r = sd_bus_message_read(m, "v", "u", &s->pid);
                else if (strcmp(key, "Restarts") == 0)
                        r = sd_bus_message_read(m, "v", "u", &s->restarts);
                else if (strcmp(key, "Since") == 0)
                        r = sd_bus_message_read(m, "v", "t", &s->since);
                else if (strcmp(key, "ExitCode") == 0)
                        r = sd_bus_message_read(m, "v", "i", &s->exit_code);
                else if (strcmp(key, "ExitSignal") == 0)
                        r = sd_bus_message_read(m, "v", "i", &s->exit_signal);
                else if (strcmp(key, "HasExit") == 0) {
                        r = sd_bus_message_read(m, "v", "b", &b);
                        s->has_exit = b;
                } else if (strcmp(key, "WantUp") == 0) {
                        r = sd_bus_message_read(m, "v", "b", &b);
                        s->want_up = b;
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        if (!s->name)
                return -EBADMSG;
        return sd_bus_message_exit_container(m);
}

/* One entry of ListServicesCompact (see CONTROL_COMPACT_SIGNATURE). */
static int ctl_read_service_compact(sd_bus_message *m, struct ctl_service *s)
{
        const char *name, *state, *reason, *type, *status, *output, *log_path;
        int32_t notify_errno;
        int has_exit, want_up, r;

        r = sd_bus_message_read(m, CONTROL_COMPACT_SIGNATURE, &name, &state, &s->pid,
                                &s->restarts, &s->since, &has_exit, &s->exit_code,
                                &s->exit_signal, &reason, &type, &want_up, &status,
                                &notify_errno, &output, &log_path);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;
        s->has_exit = has_exit;
        s->want_up = want_up;
        s->name = strdup(name);
        s->state = strdup(state);
        s->reason = strdup(reason);
        s->type = strdup(type);
        s->status = strdup(status);
        s->output = strdup(output);
        s->log_path = strdup(log_path);
        if (!s->name || !s->state || !s->reason || !s->type || !s->status || !s->output ||
            !s->log_path)
                return -ENOMEM;
        return 0;
}

static int ctl_append_service(struct ctl_service **v, size_t *n, struct ctl_service *s)
{
        struct ctl_service *nv = realloc(*v, (*n + 1) * sizeof **v);
        if (!nv)
                return -ENOMEM;
        nv[(*n)++] = *s;
        memset(s, 0, sizeof *s);
        *v = nv;
        return 0;
}

static const char *str_or(const char *s, const char *dflt)
{
        return s && *s ? s : dflt;
}

static void format_since(char *buf, size_t size, uint64_t since)
{
        uint64_t now, d;
        struct timespec ts;

        if (since == 0) {
                snprintf(buf, size, "-");
                return;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
        d = now > since ? (now - since) / USEC_PER_SEC : 0;
        if (d < 60)
                snprintf(buf, size, "%" PRIu64 "s ago", d);
        else if (d < 3600)
                snprintf(buf, size, "%" PRIu64 "min ago", d / 60);
        else if (d < 86400)
                snprintf(buf, size, "%" PRIu64 "h ago", d / 3600);
        else
                snprintf(buf, size, "%" PRIu64 "d ago", d / 86400);
}

/* The columns of one row, escaped. */
struct ctl_row {
        char *name, *state, *reason, *status;
        char pid[16], since[64];
};

static void print_table(const struct ctl_service *v, size_t n)
{
        int wname = 4, wstate = 5, wpid = 3, wrest = 8, wsince = 5;
        struct ctl_row *rows = calloc(n ? n : 1, sizeof *rows);

        if (!rows) {
                fprintf(stderr, "tendctl: out of memory\n");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                struct ctl_row *row = &rows[i];
                int l;

                row->name = ctl_escape(str_or(v[i].name, "-"));
                row->state = ctl_escape(str_or(v[i].state, "-"));
                row->reason = ctl_escape(str_or(v[i].reason, "-"));
                row->status = ctl_escape(v[i].status);
                if (!row->name || !row->state || !row->reason || !row->status) {
                        fprintf(stderr, "tendctl: out of memory\n");
                        goto finish;
                }
                if (v[i].pid)
                        snprintf(row->pid, sizeof row->pid, "%" PRIu32, v[i].pid);
                else
                        snprintf(row->pid, sizeof row->pid, "-");
                format_since(row->since, sizeof row->since, v[i].since);
                l = (int)strlen(row->name);
                wname = l > wname ? l : wname;
                l = (int)strlen(row->state);
                wstate = l > wstate ? l : wstate;
                l = (int)strlen(row->pid);
                wpid = l > wpid ? l : wpid;
                l = (int)strlen(row->since);
                wsince = l > wsince ? l : wsince;
        }
        printf("%-*s  %-*s  %*s  %*s  %-*s  %s\n", wname, "NAME", wstate, "STATE", wpid, "PID",
               wrest, "RESTARTS", wsince, "SINCE", "REASON");
        for (size_t i = 0; i < n; i++) {
                const struct ctl_row *row = &rows[i];

                /* A service's own STATUS= text says more than tendd's reason. */
                printf("%-*s  %-*s  %*s  %*" PRIu32 "  %-*s  %s%s%s\n", wname, row->name, wstate,
                       row->state, wpid, row->pid, wrest, v[i].restarts, wsince, row->since,
                       row->reason, *row->status ? " | status: " : "", row->status);
        }
finish:
        for (size_t i = 0; i < n; i++) {
                free(rows[i].name);
                free(rows[i].state);
                free(rows[i].reason);
                free(rows[i].status);
        }
        free(rows);
}

static void json_string(const char *s)
{
        /* RFC 8259: these by name, other control characters as \u00XX; C1 and
         * the bidi controls too (valid JSON either way, inert on a terminal). */
        static const char *const named[128] = {
                ['"'] = "\\\"", ['\\'] = "\\\\", ['\n'] = "\\n", ['\r'] = "\\r",
                ['\t'] = "\\t", ['\b'] = "\\b", ['\f'] = "\\f",
        };

        putchar('"');
        for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
                uint32_t cp;
                size_t n = utf8_decode(p, &cp);

                if (n == 0) /* not from tendd, which sends UTF-8 only */
                        printf("\\ufffd");
                else if (cp < 128 && named[cp])
                        fputs(named[cp], stdout);
                else if (is_control(cp))
                        printf("\\u%04x", (unsigned)cp);
                else
                        fwrite(p, 1, n, stdout);
                p += n ? n : 1;
        }
        putchar('"');
}

static void print_json(const struct ctl_service *v, size_t n)
{
        putchar('[');
        for (size_t i = 0; i < n; i++) {
                const struct ctl_service *s = &v[i];

                fputs(i ? ",\n {" : "\n {", stdout);
                fputs("\"name\": ", stdout);
                json_string(s->name);
                fputs(", \"state\": ", stdout);
                json_string(s->state);
                if (s->pid)
                        printf(", \"pid\": %" PRIu32, s->pid);
                else
                        fputs(", \"pid\": null", stdout);
                printf(", \"restarts\": %" PRIu32, s->restarts);
                printf(", \"since\": %" PRIu64, s->since / USEC_PER_SEC);
                if (s->has_exit && s->exit_code >= 0)
                        printf(", \"exit_code\": %" PRId32, s->exit_code);
                else
                        fputs(", \"exit_code\": null", stdout);
                if (s->has_exit && s->exit_signal > 0)
                        printf(", \"exit_signal\": %" PRId32, s->exit_signal);
                else
                        fputs(", \"exit_signal\": null", stdout);
                fputs(", \"reason\": ", stdout);
                json_string(s->reason);
                fputs(", \"status\": ", stdout);
                if (s->status && *s->status)
                        json_string(s->status);
                else
                        fputs("null", stdout);
                fputs(", \"type\": ", stdout);
                json_string(s->type);
                printf(", \"want_up\": %s}", s->want_up ? "true" : "false");
        }
        fputs(n ? "\n]\n" : "]\n", stdout);
}

static int ctl_get_service(const char *name, struct ctl_service *ret)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        sd_bus *bus;
        int r, code;

        code = ctl_connect(&bus);
        if (code != EXIT_OK)
                return code;
        r = sd_bus_call_method(bus, NULL, CONTROL_PATH, CONTROL_INTERFACE, "GetService", &error,
                               &reply, "s", name);
        if (r < 0)
                code = ctl_report(name, &error, r);
        else if ((r = ctl_read_service(reply, ret)) < 0) {
                fprintf(stderr, "tendctl: %s: bad reply from tendd: %s\n", name, strerror(-r));
                code = EXIT_FAILED;
        }
        sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        return code;
}

static int cmd_status(int argc, char **argv)
{
        static const struct option options[] = {
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct ctl_service *v = NULL, s = {};
        size_t n = 0;
        bool json = false;
        int c, r, code = EXIT_OK;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                default:
                        return usage_error("%s: invalid option %s", argv[0], argv[optind - 1]);
                }
        }

        if (optind >= argc) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                sd_bus *bus;

                code = ctl_connect(&bus);
                if (code != EXIT_OK)
                        return code;
                r = sd_bus_call_method(bus, NULL, CONTROL_PATH, CONTROL_INTERFACE,
                                       "ListServicesCompact", &error, &reply, NULL);
                if (r < 0) {
                        code = ctl_report(NULL, &error, r);
                        sd_bus_error_free(&error);
                        return code;
                }
                r = sd_bus_message_enter_container(reply, 'a', CONTROL_COMPACT_SIGNATURE);
                while (r >= 0) {
                        r = sd_bus_message_at_end(reply, false);
                        if (r != 0)
                                break;
                        r = ctl_read_service_compact(reply, &s);
                        if (r >= 0)
                                r = ctl_append_service(&v, &n, &s);
                        ctl_service_done(&s);
                }
                sd_bus_message_unref(reply);
                if (r < 0) {
                        fprintf(stderr, "tendctl: bad reply from tendd: %s\n", strerror(-r));
                        ctl_services_free(v, n);
                        return EXIT_FAILED;
                }
        } else {
                for (int i = optind; i < argc; i++) {
                        r = ctl_get_service(argv[i], &s);
                        if (r != EXIT_OK) {
                                ctl_service_done(&s);
                                if (r == EXIT_UNREACHABLE) {
                                        ctl_services_free(v, n);
                                        return r;
                                }
                                code = EXIT_FAILED;
                                continue;
                        }
                        if (code == EXIT_OK && !streq_ptr(s.state, "running") &&
                            !streq_ptr(s.state, "starting"))
                                code = EXIT_NOT_RUNNING;
                        if (ctl_append_service(&v, &n, &s) < 0) {
                                ctl_service_done(&s);
                                ctl_services_free(v, n);
                                fprintf(stderr, "tendctl: out of memory\n");
                                return EXIT_FAILED;
                        }
                }
        }

        if (json)
                print_json(v, n);
        else if (n || optind >= argc)
                print_table(v, n);
        fflush(stdout);
        ctl_services_free(v, n);
        return code;
}

struct ctl_call {
        const char *name;
        sd_bus_slot *slot;
        bool done;
        int code;
};

static int ctl_call_done_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        struct ctl_call *call = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        call->done = true;
        if (e)
                call->code = ctl_report(call->name, e, -sd_bus_error_get_errno(e));
        return 1;
}

static int cmd_change(int argc, char **argv)
{
        static const struct option options[] = {
                { "no-block", no_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *method = strcmp(argv[0], "start") == 0  ? "StartService"
                             : strcmp(argv[0], "stop") == 0 ? "StopService"
                                                            : "RestartService";
        struct ctl_call *calls;
        sd_bus *bus;
        bool no_block = false;
        int c, r, n, code = EXIT_OK, pending = 0;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        no_block = true;
                        break;
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                default:
                        return usage_error("%s: invalid option %s", argv[0], argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return usage_error("%s: no service named", argv[0]);
        code = ctl_connect(&bus);
        if (code != EXIT_OK)
                return code;
        n = argc - optind;
        calls = calloc((size_t)n, sizeof *calls);
        if (!calls) {
                fprintf(stderr, "tendctl: out of memory\n");
                return EXIT_FAILED;
        }

        for (int i = 0; i < n; i++) {
                sd_bus_message *m = NULL;

                calls[i].name = argv[optind + i];
                calls[i].done = true;
                if (no_block) {
                        /* The call itself will not report anything: check the name first. */
                        struct ctl_service s = {};
                        r = ctl_get_service(calls[i].name, &s);
                        ctl_service_done(&s);
                        if (r != EXIT_OK) {
                                calls[i].code = r;
                                continue;
                        }
                }
                r = sd_bus_message_new_method_call(bus, &m, NULL, CONTROL_PATH, CONTROL_INTERFACE,
                                                   method);
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", calls[i].name);
                if (r >= 0 && no_block)
                        r = sd_bus_message_set_expect_reply(m, 0);
                if (r >= 0) {
                        /* No timeout: a stop may legitimately take stop_timeout and more. */
                        if (no_block)
                                r = sd_bus_send(bus, m, NULL);
                        else
                                r = sd_bus_call_async(bus, &calls[i].slot, m, ctl_call_done_cb,
                                                      &calls[i], UINT64_MAX);
                }
                sd_bus_message_unref(m);
                if (r < 0) {
                        sd_bus_error none = SD_BUS_ERROR_NULL;
                        calls[i].code = ctl_report(calls[i].name, &none, r);
                        continue;
                }
                if (!no_block) {
                        calls[i].done = false;
                        pending++;
                }
        }

        if (no_block) {
                r = sd_bus_flush(bus);
                if (r < 0) {
                        fprintf(stderr, "tendctl: cannot send to tendd: %s\n", strerror(-r));
                        code = EXIT_UNREACHABLE;
                }
        }
        while (pending > 0) {
                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "tendctl: lost connection to tendd: %s\n", strerror(-r));
                        code = EXIT_UNREACHABLE;
                        break;
                }
                pending = 0;
                for (int i = 0; i < n; i++)
                        pending += !calls[i].done;
                if (r > 0 || pending == 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR) {
                        fprintf(stderr, "tendctl: lost connection to tendd: %s\n", strerror(-r));
                        code = EXIT_UNREACHABLE;
                        break;
                }
        }

        for (int i = 0; i < n; i++) {
                if (calls[i].code > code)
                        code = calls[i].code;
                sd_bus_slot_unref(calls[i].slot);
        }
        free(calls);
        return code;
}

static int cmd_kill(int argc, char **argv)
{
        static const struct option options[] = {
                { "signal", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c, r, sig = SIGTERM, code = EXIT_OK;
        sd_bus *bus;

        while ((c = getopt_long(argc, argv, "s:h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        if (parse_signal(optarg, &sig) < 0)
                                return usage_error("invalid signal: %s", optarg);
                        break;
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                default:
                        return usage_error("%s: invalid option %s", argv[0], argv[optind - 1]);
                }
        }
        if (optind >= argc)
                return usage_error("%s: no service named", argv[0]);
        code = ctl_connect(&bus);
        if (code != EXIT_OK)
                return code;
        for (int i = optind; i < argc; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;

                r = sd_bus_call_method(bus, NULL, CONTROL_PATH, CONTROL_INTERFACE, "KillService",
                                       &error, NULL, "si", argv[i], (int32_t)sig);
                if (r < 0) {
                        r = ctl_report(argv[i], &error, r);
                        if (r > code)
                                code = r;
                }
                sd_bus_error_free(&error);
        }
        return code;
}

static int cmd_reload(int argc, char **argv)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus;
        int r, code;

        if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
                help(stdout);
                return EXIT_OK;
        }
        if (argc > 1)
                return usage_error("reload: unexpected argument %s", argv[1]);
        code = ctl_connect(&bus);
        if (code != EXIT_OK)
                return code;
        r = sd_bus_call_method(bus, NULL, CONTROL_PATH, CONTROL_INTERFACE, "Reload", &error, NULL,
                               NULL);
        if (r < 0 && sd_bus_error_has_name(&error, CONTROL_ERROR_INVALID_CONFIG)) {
                const char *p = error.message ? error.message : "";

                fprintf(stderr, "tendctl: reload: configuration rejected, nothing changed\n");
                while (*p) {
                        size_t l = strcspn(p, "\n");
                        _cleanup_free_ char *line = strndup(p, l);
                        _cleanup_free_ char *safe = line ? ctl_escape(line) : NULL;

                        fprintf(stderr, "tendctl: %s\n", safe ? safe : "(out of memory)");
                        p += l;
                        if (*p == '\n')
                                p++;
                }
                code = EXIT_FAILED;
        } else if (r < 0)
                code = ctl_report("reload", &error, r);
        sd_bus_error_free(&error);
        return code;
}

/* The lines of one file, newest last, into a ring of the last n (n == 0: print
 * as they come). */
struct ctl_tail {
        char **ring;
        size_t n, pos, count;
};

/* Read path (or, with keep, the file behind *keep, opened here and left open
 * for following, its end in *ret_end: nothing appended meanwhile is lost). */
static int ctl_tail_file(const char *path, struct ctl_tail *t, int *keep, off_t *ret_end)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        FILE *f;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        off_t end = 0;

        if (fd < 0)
                return -errno;
        if (keep) {
                *keep = fd;
                fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
        }
        f = fdopen(fd, "re");
        if (!f) {
                (void)close(fd);
                return -ENOMEM;
        }
        while ((len = getline(&line, &cap, f)) > 0) {
                end += len;
                if (t->n == 0) {
                        fwrite(line, 1, (size_t)len, stdout);
                        continue;
                }
                free(t->ring[t->pos]);
                t->ring[t->pos] = strdup(line);
                t->pos = (t->pos + 1) % t->n;
                if (t->count < t->n)
                        t->count++;
        }
        free(line);
        fclose(f);
        if (ret_end)
                *ret_end = end;
        return 0;
}

/* Copy what is appended to fd (path's file) from offset on; follow rotation and
 * truncation. fd < 0: path did not exist yet. */
static void ctl_follow(const char *path, int fd, off_t offset)
{
        struct stat st, cur;
        char buf[65536];

        for (;;) {
                ssize_t n;

                if (fd >= 0) {
                        while ((n = pread(fd, buf, sizeof buf, offset)) > 0) {
                                fwrite(buf, 1, (size_t)n, stdout);
                                offset += n;
                        }
                        fflush(stdout);
                        if (ferror(stdout))
                                break;
                        if (fstat(fd, &st) == 0 && st.st_size < offset)
                                offset = 0; /* truncated */
                }
                /* Rotated (renamed away) or recreated: the old one is read to
                 * the end above, then the new one from its start. */
                if (stat(path, &cur) == 0 &&
                    (fd < 0 || fstat(fd, &st) < 0 || cur.st_ino != st.st_ino ||
                     cur.st_dev != st.st_dev)) {
                        if (fd >= 0) {
                                while ((n = pread(fd, buf, sizeof buf, offset)) > 0) {
                                        fwrite(buf, 1, (size_t)n, stdout);
                                        offset += n;
                                }
                                close(fd);
                        }
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        offset = 0;
                        continue;
                }
                (void)poll(NULL, 0, 100);
        }
        if (fd >= 0)
                close(fd);
}

static int cmd_logs(int argc, char **argv)
{
        static const struct option options[] = {
                { "lines", required_argument, NULL, 'n' },
                { "follow", no_argument, NULL, 'f' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct ctl_service s = {};
        struct ctl_tail t = {};
        bool follow = false, any = false;
        unsigned long long lines = 0;
        int follow_fd = -1;
        off_t follow_from = 0;
        const char *name;
        char *end, nbuf[32];
        struct stat st;
        int c, code;

        while ((c = getopt_long(argc, argv, "n:fh", options, NULL)) >= 0) {
                switch (c) {
                case 'n':
                        errno = 0;
                        lines = strtoull(optarg, &end, 10);
                        if (errno || !*optarg || *end || optarg[0] == '-' || lines > 1000000000)
                                return usage_error("logs: invalid line count: %s", optarg);
                        break;
                case 'f':
                        follow = true;
                        break;
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                default:
                        return usage_error("logs: invalid option %s", argv[optind - 1]);
                }
        }
        if (optind + 1 != argc)
                return usage_error("logs: name exactly one service");
        name = argv[optind];
        code = ctl_get_service(name, &s);
        if (code != EXIT_OK)
                return code;
        sd_bus_flush_close_unref(ctl_bus);
        ctl_bus = NULL;

        if (s.output && strcmp(s.output, "journal") == 0) {
                /* The journal has it, under the service's name as identifier. */
                char *av[8];
                int n = 0;

                av[n++] = (char *)"journalctl";
                av[n++] = (char *)"-t";
                av[n++] = (char *)name;
                if (lines > 0) {
                        (void)snprintf(nbuf, sizeof nbuf, "-n%llu", lines);
                        av[n++] = nbuf;
                }
                if (follow)
                        av[n++] = (char *)"-f";
                av[n] = NULL;
                fflush(stdout);
                execvp(av[0], av);
                fprintf(stderr, "tendctl: logs: %s: output is in the journal, but running "
                        "journalctl failed: %s\n", name, strerror(errno));
                ctl_service_done(&s);
                return EXIT_FAILED;
        }
        if (!s.log_path || !*s.log_path || !s.output || strcmp(s.output, "file") != 0) {
                fprintf(stderr, "tendctl: logs: %s: output goes to %s, not to a file\n", name,
                        s.output && strcmp(s.output, "console") == 0 ? "tendd's stdout"
                                                                      : "nowhere (null)");
                ctl_service_done(&s);
                return EXIT_FAILED;
        }

        if (lines > 0) {
                t.n = (size_t)lines;
                t.ring = calloc(t.n, sizeof *t.ring);
                if (!t.ring) {
                        ctl_service_done(&s);
                        return EXIT_FAILED;
                }
        }
        /* Oldest first: LogPath.K ... LogPath.1, then LogPath. */
        {
                unsigned k = 0;
                char path[4096 + 16];

                while (output_rotated_path(path, sizeof path, s.log_path, k + 1) == 0 &&
                       stat(path, &st) == 0)
                        k++;
                for (; k > 0; k--)
                        if (output_rotated_path(path, sizeof path, s.log_path, k) == 0 &&
                            ctl_tail_file(path, &t, NULL, NULL) == 0)
                                any = true;
        }
        if (ctl_tail_file(s.log_path, &t, &follow_fd, &follow_from) == 0)
                any = true;
        for (size_t i = 0; i < t.count; i++) {
                size_t j = (t.pos + t.n - t.count + i) % t.n;
                fputs(t.ring[j], stdout);
        }
        for (size_t i = 0; i < t.n; i++)
                free(t.ring[i]);
        free(t.ring);
        fflush(stdout);
        if (!any && !follow) {
                fprintf(stderr, "tendctl: logs: %s: no log file at %s\n", name, s.log_path);
                ctl_service_done(&s);
                return EXIT_FAILED;
        }
        if (follow)
                ctl_follow(s.log_path, follow_fd, follow_from); /* closes follow_fd */
        else if (follow_fd >= 0)
                (void)close(follow_fd);
        ctl_service_done(&s);
        return EXIT_OK;
}

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
} commands[] = {
        { "status", cmd_status },   { "start", cmd_change }, { "stop", cmd_change },
        { "restart", cmd_change }, { "kill", cmd_kill },    { "reload", cmd_reload },
        { "logs", cmd_logs },
};

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "+s:h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        arg_socket = optarg;
                        break;
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case 'V':
                        printf("tendctl " TEND_VERSION "\n");
                        return EXIT_OK;
                default:
                        fprintf(stderr, "Try 'tendctl --help'.\n");
                        return EXIT_USAGE;
                }
        }
        if (optind >= argc) {
                help(stderr);
                return EXIT_USAGE;
        }

        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                int sub_argc = argc - optind;
                char **sub_argv = argv + optind;

                if (strcmp(commands[i].name, argv[optind]) != 0)
                        continue;
                optind = 0; /* restart getopt on the command's own arguments */
                opterr = 0;
                r = commands[i].run(sub_argc, sub_argv);
                sd_bus_flush_close_unref(ctl_bus);
                return r;
        }
        return usage_error("unknown command: %s", argv[optind]);
}
