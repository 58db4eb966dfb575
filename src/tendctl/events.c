/* events.c: tendctl events: every ServiceStateChanged tendd sends (to the
 * connections that called Subscribe()), a line each, flushed, until SIGINT or
 * SIGTERM (exit 0), the reader of stdout goes away (exit 0), or tendd does
 * (exit 4). One poll() on the connection, a signalfd and stdout. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tendctl.h"

struct events {
        const struct ctl_args *a;
        bool output_gone; /* writing stdout failed */
};

/* Now as "2025-01-31T12:00:00.123456Z" (UTC, as the log files' lines). */
static void events_now(char *buf, size_t size)
{
        struct timespec ts;
        struct tm tm;
        size_t n;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%06ldZ", ts.tv_nsec / 1000);
}

static int events_signal_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        struct events *e = userdata;
        const char *name, *state, *reason;
        char now[64];

        if (sd_bus_message_read(m, "sss", &name, &state, &reason) < 0)
                return 0; /* not the signature wire.h gives: not ours to print */
        events_now(now, sizeof now);
        if (e->a->json) {
                printf("{\"time\": \"%s\", \"name\": ", now);
                ctl_json_string(name);
                fputs(", \"state\": ", stdout);
                ctl_json_string(state);
                fputs(", \"reason\": ", stdout);
                ctl_json_string(reason);
                fputs("}\n", stdout);
        } else {
                _cleanup_free_ char *n = ctl_escape(name), *s = ctl_escape(state),
                                    *r = ctl_escape(reason);

                if (n && s && r) {
                        const char *on = e->a->colour ? ctl_state_colour(state) : "";

                        printf("%s %s %s%s%s %s\n", now, n, on, s, *on ? CTL_COLOUR_OFF : "", r);
                }
        }
        if (fflush(stdout) != 0 || ferror(stdout))
                e->output_gone = true;
        return 0;
}

/* stdout's reader can go away while no event comes: a pipe or socket is
 * watched for it (POLLERR/POLLHUP), a file or terminal is not. */
static bool events_watch_stdout(void)
{
        struct stat st;

        return fstat(STDOUT_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

static int events_lost(int r)
{
        fprintf(stderr, "tendctl: events: lost connection to tendd%s%s\n", r < 0 ? ": " : "",
                r < 0 ? strerror(-r) : "");
        return EXIT_UNREACHABLE;
}

/* events [--json]; see tendctl.h. */
int ctl_events(struct ctl_args *a)
{
        struct events e = { .a = a };
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_slot *slot = NULL;
        sigset_t mask;
        int sfd = -1, r, code = EXIT_OK;
        bool watch_out = events_watch_stdout();

        r = sd_bus_match_signal(a->bus, &slot, NULL, WIRE_PATH, WIRE_INTERFACE,
                                WIRE_SIGNAL_STATE_CHANGED, events_signal_cb, &e);
        if (r < 0) {
                fprintf(stderr, "tendctl: events: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        /* Once tendd has answered, every later change reaches this
         * connection. A tendd before Subscribe() sends the signals to every
         * connection: its "unknown method" answer does as well. */
        r = sd_bus_call_method(a->bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_SUBSCRIBE,
                               &error, NULL, NULL);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD))
                r = 0;
        if (r < 0) {
                code = ctl_report(NULL, &error, r);
                goto finish;
        }
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN); /* a reader gone is seen as EPIPE */
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                fprintf(stderr, "tendctl: events: signalfd: %s\n", strerror(errno));
                code = EXIT_FAILED;
                goto finish;
        }
        for (;;) {
                struct pollfd p[3];
                uint64_t usec;
                int timeout = -1;

                while ((r = sd_bus_process(a->bus, NULL)) > 0 && !e.output_gone)
                        ;
                if (e.output_gone)
                        break;
                if (r < 0 || sd_bus_is_open(a->bus) <= 0) {
                        code = events_lost(r == -ECONNRESET || r == -ENOTCONN ? 0 : r);
                        break;
                }
                p[0] = (struct pollfd){ .fd = sd_bus_get_fd(a->bus),
                                        .events = (short)sd_bus_get_events(a->bus) };
                p[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
                p[2] = (struct pollfd){ .fd = watch_out ? STDOUT_FILENO : -1, .events = 0 };
                if (sd_bus_get_timeout(a->bus, &usec) > 0 && usec != UINT64_MAX) {
                        struct timespec ts;
                        uint64_t now;

                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        now = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
                        timeout = usec <= now ? 0 : (int)((usec - now + 999) / 1000);
                }
                r = poll(p, 3, timeout);
                if (r < 0 && errno != EINTR) {
                        fprintf(stderr, "tendctl: events: poll: %s\n", strerror(errno));
                        code = EXIT_FAILED;
                        break;
                }
                if (r > 0 && (p[1].revents & POLLIN))
                        break; /* SIGINT or SIGTERM: done */
                if (r > 0 && (p[2].revents & (POLLERR | POLLHUP)))
                        break;
        }
finish:
        if (sfd >= 0)
                close(sfd);
        sd_bus_slot_unref(slot);
        sd_bus_error_free(&error);
        return code;
}
