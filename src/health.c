/* health.c: a service's health check, probed inside the loop (see health.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health.h"
#include "parse.h"
#include "state.h"
#include "sys.h"
#include "util.h"

static void health_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void health_io_cb(struct ev_loop *loop, ev_io *w, int revents);

/* See health.h. */
int health_new(struct ev_loop *loop, struct service_config *const *config, health_done_fn done,
               health_exec_fn exec, void *userdata, struct health **ret)
{
        struct health *h = calloc(1, sizeof *h);

        if (!h)
                return -ENOMEM;
        h->loop = loop;
        h->config = config;
        h->done = done;
        h->exec = exec;
        h->userdata = userdata;
        h->fd = -1;
        ev_init(&h->io, health_io_cb);
        ev_init(&h->timer, health_timer_cb);
        *ret = h;
        return 0;
}

/* The probe's socket, request or command go; the timer is the caller's. */
static void health_abandon(struct health *h)
{
        h->cmd = command_abandon(h->cmd); /* killed, reaped in the loop */
        h->line_cut = false;
        if (h->fd >= 0) {
                ev_io_stop(h->loop, &h->io);
                h->fd = safe_close(h->fd);
        }
        free(h->request);
        h->request = NULL;
        h->request_len = h->sent = h->got = 0;
        h->phase = HEALTH_IDLE;
}

/* See health.h. */
struct health *health_free(struct health *h)
{
        if (!h)
                return NULL;
        health_stop(h);
        free(h);
        return NULL;
}

static void health_arm(struct health *h, usec_t delay)
{
        ev_timer_stop(h->loop, &h->timer);
        ev_timer_set(&h->timer, (double)delay / (double)USEC_PER_SEC, 0.);
        ev_timer_start(h->loop, &h->timer);
}

/* See health.h. */
usec_t health_interval(const struct health *h)
{
        usec_t i = (*h->config)->health_interval;

        return !h->passed && i > HEALTH_STARTING_INTERVAL ? HEALTH_STARTING_INTERVAL : i;
}

/* See health.h. */
void health_schedule(struct health *h, usec_t delay)
{
        h->active = true;
        if (h->phase == HEALTH_IDLE)
                health_arm(h, delay);
}

/* See health.h. */
void health_stop(struct health *h)
{
        h->active = false;
        health_abandon(h);
        ev_timer_stop(h->loop, &h->timer);
}

/* The probe ended: keep its result, space the next one, tell the owner
 * (which may stop the check, or free the service: nothing of h is used
 * after done()). */
static void health_finish(struct health *h, bool ok, const char *fmt, ...) _printf_(3, 4);

static void health_finish(struct health *h, bool ok, const char *fmt, ...)
{
        va_list ap;

        health_abandon(h);
        va_start(ap, fmt);
        (void)vsnprintf(h->last_what, sizeof h->last_what, fmt, ap);
        va_end(ap);
        h->has_result = true;
        h->last_ok = ok;
        h->passed = h->passed || ok; /* before the interval: it depends on it */
        h->last_real = now_realtime();
        if (h->active)
                health_arm(h, health_interval(h));
        h->done(h, h->userdata);
}

/* The target as written, for messages. */
static const char *health_target(const struct health *h)
{
        const struct service_config *sc = *h->config;

        return sc->health_http   ? sc->health_http
               : sc->health_tcp  ? sc->health_tcp
               : sc->health_exec ? sc->health_exec
                                 : "";
}

static void health_watch(struct health *h, int events)
{
        ev_io_stop(h->loop, &h->io);
        ev_io_set(&h->io, h->fd, events);
        ev_io_start(h->loop, &h->io);
}

/* Connected: tcp passes; http sends its request. */
static void health_connected(struct health *h)
{
        const struct service_config *sc = *h->config;
        struct parse_target t;
        const char *why;

        if (!sc->health_http) {
                health_finish(h, true, "ok");
                return;
        }
        if (parse_http_url(sc->health_http, &t, &why) < 0) {
                health_finish(h, false, "%s: %s", sc->health_http, why); /* checked at load */
                return;
        }
        if (asprintf(&h->request,
                     "GET %s HTTP/1.0\r\nHost: %.*s\r\nUser-Agent: tend\r\nConnection: "
                     "close\r\n\r\n",
                     t.path[0] ? t.path : "/", (int)t.host_len, t.host) < 0) {
                h->request = NULL;
                health_finish(h, false, "out of memory");
                return;
        }
        h->request_len = strlen(h->request);
        h->sent = 0;
        h->phase = HEALTH_SENDING;
        health_watch(h, EV_WRITE);
}

/* The line read so far ended: it is the last line, unless it is empty. */
static void health_exec_line_end(struct health *h)
{
        size_t n = h->got;

        while (n > 0 && (h->line[n - 1] == '\r' || h->line[n - 1] == ' ' || h->line[n - 1] == '\t'))
                n--;
        if (n > 0) {
                for (size_t i = 0; i < n; i++)
                        h->out_last[i] = (unsigned char)h->line[i] < ' ' || h->line[i] == 127
                                                 ? '?'
                                                 : h->line[i];
                h->out_last[n] = '\0';
        }
        h->got = 0;
        h->line_cut = false;
}

/* Read what the probe wrote, at most 16 KiB a call, keeping its last line
 * (cut at HEALTH_LINE_MAX - 1 bytes). False: the pipe is at its end. */
static bool health_exec_read(struct health *h)
{
        char buf[4096];

        for (int i = 0; i < 4; i++) {
                ssize_t n = read(h->fd, buf, sizeof buf);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n <= 0)
                        return false;
                for (ssize_t j = 0; j < n; j++) {
                        if (buf[j] == '\n')
                                health_exec_line_end(h);
                        else if (h->got < sizeof h->line - 1)
                                h->line[h->got++] = buf[j];
                        else
                                h->line_cut = true;
                }
        }
        return true;
}

static void health_exec_close(struct health *h)
{
        if (h->fd < 0)
                return;
        ev_io_stop(h->loop, &h->io);
        h->fd = safe_close(h->fd);
}

/* The health_exec probe ended: exit 0 passes; else its last line of output
 * says why, or its exit does. */
static void health_exec_done(struct command *c, const struct command_result *res, void *userdata)
{
        struct health *h = userdata;
        char how[64], d[32];
        const char *sig;

        /* What it wrote before it ended is in the pipe: read it (bounded),
         * then let go of the pipe, whoever else still holds it. */
        if (h->fd >= 0)
                (void)health_exec_read(h);
        health_exec_close(h);
        if (h->got > 0)
                health_exec_line_end(h);
        h->cmd = command_free(c);
        if (res->exited && res->code == 0) {
                health_finish(h, true, "ok");
                return;
        }
        sig = res->exited ? NULL : signal_to_name(res->signal);
        if (res->timed_out)
                (void)snprintf(how, sizeof how, "no result within %s",
                               format_duration(d, sizeof d, (*h->config)->health_timeout));
        else if (res->exited)
                (void)snprintf(how, sizeof how, "exited with code %d", res->code);
        else if (sig)
                (void)snprintf(how, sizeof how, "killed by signal %s", sig);
        else
                (void)snprintf(how, sizeof how, "killed by signal %d", res->signal);
        if (h->out_last[0])
                health_finish(h, false, "%.150s (%s)", h->out_last, how);
        else
                health_finish(h, false, "%s", how);
}

/* Start health_exec through the owner, its output into a pipe read here. */
static void health_exec_start(struct health *h)
{
        _cleanup_free_ char *reason = NULL;
        int fds[2], r;

        ev_timer_stop(h->loop, &h->timer); /* command.c times it out */
        if (pipe2(fds, O_CLOEXEC) < 0) {
                health_finish(h, false, "pipe: %s", strerror(errno));
                return;
        }
        (void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
        h->out_last[0] = '\0';
        h->got = 0;
        h->phase = HEALTH_EXEC;
        h->fd = fds[0];
        r = h->exec(h, fds[1], (*h->config)->health_timeout, health_exec_done, &h->cmd, &reason,
                    h->userdata);
        (void)close(fds[1]);
        if (r < 0) {
                health_finish(h, false, "%s", reason ? reason : strerror(-r));
                return;
        }
        health_watch(h, EV_READ);
}

/* Start a probe: a non-blocking connect, with the timeout on the timer, or
 * the command. */
static void health_probe(struct health *h)
{
        const struct service_config *sc = *h->config;
        struct parse_target t;
        const char *why = NULL;
        int r;

        if (sc->health_exec) {
                health_exec_start(h);
                return;
        }
        if (sc->health_http)
                r = parse_http_url(sc->health_http, &t, &why);
        else if (sc->health_tcp)
                r = parse_host_port(sc->health_tcp, &t, &why);
        else {
                /* The check went with a reload; the owner drops it. */
                health_finish(h, true, "no health check");
                return;
        }
        if (r < 0) {
                health_finish(h, false, "%s: %s", health_target(h), why);
                return;
        }
        health_arm(h, sc->health_timeout);
        h->fd = socket(t.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (h->fd < 0) {
                health_finish(h, false, "socket: %s", strerror(errno));
                return;
        }
        h->phase = HEALTH_CONNECTING;
        if (connect(h->fd, (struct sockaddr *)&t.addr, t.addr_len) == 0) {
                health_connected(h);
                return;
        }
        if (errno != EINPROGRESS) {
                health_finish(h, false, "connect %s: %s", health_target(h), strerror(errno));
                return;
        }
        health_watch(h, EV_WRITE);
}

/* "HTTP/1.x NNN ...": NNN, or -1. */
static int health_status_code(const char *line)
{
        int code = 0;

        if (strncmp(line, "HTTP/", 5) != 0)
                return -1;
        line = strchr(line, ' ');
        if (!line)
                return -1;
        for (int i = 1; i <= 3; i++) {
                if (line[i] < '0' || line[i] > '9')
                        return -1;
                code = code * 10 + (line[i] - '0');
        }
        if (line[4] != '\0' && line[4] != ' ' && line[4] != '\r')
                return -1;
        return code;
}

/* The status line is in: 2xx and 3xx pass. */
static void health_status_line(struct health *h)
{
        char *nl = memchr(h->line, '\n', h->got);
        int code;

        *nl = '\0';
        if (nl > h->line && nl[-1] == '\r')
                nl[-1] = '\0';
        for (char *p = h->line; *p; p++)
                if ((unsigned char)*p < ' ' || (unsigned char)*p == 127)
                        *p = '?';
        code = health_status_code(h->line);
        if (code < 0)
                health_finish(h, false, "%s: not an HTTP status line: '%.80s'", health_target(h),
                              h->line);
        else if (code >= 200 && code < 400)
                health_finish(h, true, "ok");
        else
                health_finish(h, false, "%s: %.100s", health_target(h), h->line);
}

static void health_read(struct health *h)
{
        ssize_t n = read(h->fd, h->line + h->got, sizeof h->line - 1 - h->got);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n < 0) {
                health_finish(h, false, "%s: reading the answer: %s", health_target(h),
                              strerror(errno));
                return;
        }
        if (n == 0) {
                health_finish(h, false, "%s: connection closed before a status line",
                              health_target(h));
                return;
        }
        h->got += (size_t)n;
        h->line[h->got] = '\0';
        if (memchr(h->line, '\n', h->got))
                health_status_line(h);
        else if (h->got == sizeof h->line - 1)
                health_finish(h, false, "%s: status line longer than %d bytes", health_target(h),
                              HEALTH_LINE_MAX - 1);
}

static void health_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct health *h = container_of(w, struct health, io);
        socklen_t len = sizeof(int);
        int err = 0;
        ssize_t n;

        switch (h->phase) {
        case HEALTH_CONNECTING:
                if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err == EINPROGRESS)
                        return;
                if (err != 0) {
                        health_finish(h, false, "connect %s: %s", health_target(h), strerror(err));
                        return;
                }
                health_connected(h);
                return;
        case HEALTH_SENDING:
                n = send(h->fd, h->request + h->sent, h->request_len - h->sent, MSG_NOSIGNAL);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return;
                if (n < 0) {
                        health_finish(h, false, "%s: sending the request: %s", health_target(h),
                                      strerror(errno));
                        return;
                }
                h->sent += (size_t)n;
                if (h->sent < h->request_len)
                        return;
                h->phase = HEALTH_READING;
                health_watch(h, EV_READ);
                return;
        case HEALTH_READING:
                health_read(h);
                return;
        case HEALTH_EXEC:
                /* At its end the command may still run: its exit decides. */
                if (!health_exec_read(h))
                        health_exec_close(h);
                return;
        case HEALTH_IDLE:
                return;
        }
}

static void health_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct health *h = container_of(w, struct health, timer);
        char d[32];

        switch (h->phase) {
        case HEALTH_IDLE:
                health_probe(h);
                return;
        case HEALTH_CONNECTING:
                health_finish(h, false, "connect %s: no answer within %s", health_target(h),
                              format_duration(d, sizeof d, (*h->config)->health_timeout));
                return;
        case HEALTH_SENDING:
        case HEALTH_READING:
                health_finish(h, false, "%s: no status line within %s", health_target(h),
                              format_duration(d, sizeof d, (*h->config)->health_timeout));
                return;
        case HEALTH_EXEC:
                return; /* command.c times it out */
        }
}

enum {
        HS_PASSED = 1,
        HS_FAILURES,
        HS_HAS_RESULT,
        HS_LAST_OK,
        HS_LAST_REAL,
        HS_LAST_WHAT,
        HS_DUE,      /* sys->now() of the next probe; a socket probe under way: now */
        HS_CMD,      /* a health_exec probe under way (command.h's record) */
        HS_OUT_FD,   /* ...the read end of its output pipe */
        HS_OUT_LAST, /* ...its last line so far */
};

/* See health.h. */
void health_state_put(const struct health *h, struct state_writer *w, uint16_t tag)
{
        size_t mark = state_begin(w, tag);

        state_put_bool(w, HS_PASSED, h->passed);
        state_put_u64(w, HS_FAILURES, h->failures);
        state_put_bool(w, HS_HAS_RESULT, h->has_result);
        state_put_bool(w, HS_LAST_OK, h->last_ok);
        state_put_u64(w, HS_LAST_REAL, h->last_real);
        state_put_str(w, HS_LAST_WHAT, h->last_what);
        if (h->phase == HEALTH_EXEC && h->cmd) {
                command_state_put(h->cmd, w, HS_CMD);
                state_put_fd(w, HS_OUT_FD, h->fd);
                state_put_str(w, HS_OUT_LAST, h->out_last);
        } else if (h->active) {
                usec_t now = sys->now(), due = now;

                if (h->phase == HEALTH_IDLE && ev_is_active(&h->timer)) {
                        double left = ev_timer_remaining(h->loop, (ev_timer *)&h->timer);
                        due += left > 0 ? (usec_t)(left * (double)USEC_PER_SEC) : 0;
                }
                state_put_u64(w, HS_DUE, due);
        }
        state_end(w, mark);
}

/* See health.h. */
int health_state_get(struct health *h, const struct state_reader *v, usec_t *ret_due)
{
        struct state_reader rest = *v, item;
        uint16_t tag;
        uint64_t u;
        char *s;
        int r;

        *ret_due = USEC_INFINITY;
        while ((r = state_next(&rest, &tag, &item)) > 0) {
                switch (tag) {
                case HS_PASSED:
                        r = state_get_bool(&item, &h->passed);
                        break;
                case HS_HAS_RESULT:
                        r = state_get_bool(&item, &h->has_result);
                        break;
                case HS_LAST_OK:
                        r = state_get_bool(&item, &h->last_ok);
                        break;
                case HS_FAILURES:
                        r = state_get_u64(&item, &u);
                        if (r >= 0 && u > UINT32_MAX)
                                r = -EBADMSG;
                        if (r >= 0)
                                h->failures = (unsigned)u;
                        break;
                case HS_LAST_REAL:
                        r = state_get_u64(&item, &h->last_real);
                        break;
                case HS_DUE:
                        r = state_get_u64(&item, ret_due);
                        break;
                case HS_CMD:
                        h->cmd = command_free(h->cmd);
                        r = command_state_get(h->loop, &item, health_exec_done, h, &h->cmd);
                        if (r >= 0) {
                                h->phase = HEALTH_EXEC;
                                h->active = true;
                        }
                        break;
                case HS_OUT_FD:
                        h->fd = safe_close(h->fd);
                        r = state_get_fd(&item, &h->fd);
                        break;
                case HS_OUT_LAST:
                        r = state_get_str(&item, &s);
                        if (r >= 0) {
                                (void)snprintf(h->out_last, sizeof h->out_last, "%s", s);
                                free(s);
                        }
                        break;
                case HS_LAST_WHAT:
                        r = state_get_str(&item, &s);
                        if (r >= 0) {
                                (void)snprintf(h->last_what, sizeof h->last_what, "%s", s);
                                free(s);
                        }
                        break;
                default:
                        break; /* a newer field: its default stays */
                }
                if (r < 0)
                        return r;
        }
        return r;
}

/* See health.h. */
void health_resume(struct health *h, usec_t due)
{
        usec_t now = sys->now();

        if (h->cmd) {
                command_resume(h->cmd);
                if (h->fd >= 0)
                        health_watch(h, EV_READ);
                return;
        }
        h->fd = safe_close(h->fd); /* a pipe without its command: nothing to read it for */
        if (due != USEC_INFINITY)
                health_schedule(h, due > now ? due - now : 0);
}

/* See health.h. */
const char *health_describe(const struct health *h, bool live, char *buf, size_t len)
{
        if (!h)
                (void)snprintf(buf, len, "%s", "");
        else if (!live)
                (void)snprintf(buf, len, "inactive");
        else if (h->failures > 0)
                (void)snprintf(buf, len, "unhealthy %u/%u", h->failures,
                               (*h->config)->health_retries);
        else if (!h->passed)
                (void)snprintf(buf, len, "starting");
        else
                (void)snprintf(buf, len, "healthy");
        return buf;
}
