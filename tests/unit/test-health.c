/* test-health: the health check's targets (parse_host_port, parse_http_url)
 * and its probes against real loopback sockets in a real loop: a connect,
 * a refused one, HTTP status lines good, bad, endless, missing, a peer that
 * never answers (timed out), the interval from a probe's end, and the
 * counters across a state record. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "health.h"
#include "parse.h"
#include "spawn.h"
#include "state.h"
#include "tap.h"
#include "util.h"

static void test_targets(void)
{
        struct parse_target t;
        const char *why = NULL;
        char buf[INET6_ADDRSTRLEN];
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)&t.addr;
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&t.addr;
        static const struct {
                const char *s, *why;
        } bad_tcp[] = {
                { "127.0.0.1", "no port (expected HOST:PORT)" },
                { "127.0.0.1:", "invalid port (expected 1 to 65535)" },
                { "127.0.0.1:0", "invalid port (expected 1 to 65535)" },
                { "127.0.0.1:65536", "invalid port (expected 1 to 65535)" },
                { "127.0.0.1:+80", "invalid port (expected 1 to 65535)" },
                { ":80", "no host" },
                { "::1:80", "an IPv6 address must be written in brackets, as [::1]:80" },
                { "[::1]80", "expected ':PORT' after ']'" },
                { "[::1", "unterminated '[' of an IPv6 address" },
                { "[127.0.0.1]:80", "invalid IPv6 address in brackets" },
                { "example.com:80",
                  "host is not a numeric address or localhost (no name is looked up)" },
                { "[::1]", "no port (expected HOST:PORT)" },
        };
        static const struct {
                const char *s, *why;
        } bad_http[] = {
                { "https://127.0.0.1/", "https is not supported (plain http:// only)" },
                { "127.0.0.1:80/", "not an http:// URL" },
                { "http://", "no host" },
                { "http://u:p@127.0.0.1/", "user information in the URL is not supported" },
                { "http://127.0.0.1/a b", "the path has a blank or a character that is not "
                                          "printable ASCII (percent-encode it)" },
                { "http://127.0.0.1/a\r\nX: y", "the path has a blank or a character that is "
                                                "not printable ASCII (percent-encode it)" },
                { "http://127.0.0.1:0/", "invalid port (expected 1 to 65535)" },
        };

        ok(parse_host_port("127.0.0.1:8080", &t, &why) == 0 && in4->sin_family == AF_INET &&
                   ntohs(in4->sin_port) == 8080 && in4->sin_addr.s_addr == htonl(0x7f000001),
           "127.0.0.1:8080");
        ok(parse_host_port("localhost:1", &t, &why) == 0 && ntohs(in4->sin_port) == 1 &&
                   in4->sin_addr.s_addr == htonl(0x7f000001),
           "localhost is 127.0.0.1, nothing looked up");
        ok(parse_host_port("[::1]:65535", &t, &why) == 0 && in6->sin6_family == AF_INET6 &&
                   ntohs(in6->sin6_port) == 65535 &&
                   strcmp(inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf), "::1") == 0,
           "[::1]:65535");
        for (size_t i = 0; i < ELEMENTSOF(bad_tcp); i++) {
                int r;

                why = NULL;
                r = parse_host_port(bad_tcp[i].s, &t, &why);
                ok(r == -EINVAL && why && strcmp(why, bad_tcp[i].why) == 0,
                   "bad health_tcp %zu: %s", i, why ? why : "(accepted)");
        }
        ok(parse_http_url("http://127.0.0.1:8080/healthz?x=1", &t, &why) == 0 &&
                   ntohs(in4->sin_port) == 8080 && strcmp(t.path, "/healthz?x=1") == 0 &&
                   t.host_len == strlen("127.0.0.1:8080") &&
                   strncmp(t.host, "127.0.0.1:8080", t.host_len) == 0,
           "http URL: port, path, Host");
        ok(parse_http_url("HTTP://[::1]", &t, &why) == 0 && ntohs(in6->sin6_port) == 80 &&
                   strcmp(t.path, "") == 0 && t.host_len == 5,
           "http URL: the scheme in any case, port 80, no path");
        for (size_t i = 0; i < ELEMENTSOF(bad_http); i++) {
                int r;

                why = NULL;
                r = parse_http_url(bad_http[i].s, &t, &why);
                ok(r == -EINVAL && why && strcmp(why, bad_http[i].why) == 0,
                   "bad health_http %zu: %s", i, why ? why : "(accepted)");
        }
}

/* A loopback peer for the probes, driven by the same loop: it accepts and
 * answers as told (NULL: accept and say nothing; no accept at all: the
 * kernel's backlog completes the connect). */
struct peer {
        int listen_fd;
        uint16_t port;
        ev_io io;
        const char *answer; /* written at accept, then closed; NULL: held open */
        size_t answer_len;
        int held[16];
        unsigned n_held, accepted;
};

static void peer_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct peer *p = container_of(w, struct peer, io);
        int c = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);

        if (c < 0)
                return;
        p->accepted++;
        if (p->answer) {
                (void)!write(c, p->answer, p->answer_len);
                close(c);
        } else if (p->n_held < ELEMENTSOF(p->held))
                p->held[p->n_held++] = c;
        else
                close(c);
}

static void peer_open(struct peer *p, struct ev_loop *loop, bool accepting)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
        socklen_t len = sizeof a;

        memset(p, 0, sizeof *p);
        p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        (void)bind(p->listen_fd, (struct sockaddr *)&a, sizeof a);
        (void)listen(p->listen_fd, 16);
        (void)getsockname(p->listen_fd, (struct sockaddr *)&a, &len);
        p->port = ntohs(a.sin_port);
        ev_io_init(&p->io, peer_cb, p->listen_fd, EV_READ);
        if (accepting)
                ev_io_start(loop, &p->io);
}

static void peer_close(struct peer *p, struct ev_loop *loop)
{
        ev_io_stop(loop, &p->io);
        for (unsigned i = 0; i < p->n_held; i++)
                close(p->held[i]);
        close(p->listen_fd);
}

struct probe_run {
        unsigned done;
        unsigned stop_after;
        double at[8];
};

static void probe_done(struct health *h, void *userdata)
{
        struct probe_run *r = userdata;

        if (r->done < ELEMENTSOF(r->at))
                r->at[r->done] = ev_time();
        if (++r->done >= r->stop_after) {
                health_stop(h);
                ev_break(h->loop, EVBREAK_ALL);
        }
}

/* health_exec as tendd runs it, less the service: the command line split,
 * spawned with its output into the check's pipe. */
static int test_exec(struct health *h, int out_fd, usec_t timeout, command_done_fn done,
                     struct command **ret, char **ret_reason, void *userdata)
{
        _cleanup_strv_free_ char **argv = NULL;
        struct spawn_params p;
        const char *step = NULL;
        int r;

        r = shell_split((*h->config)->health_exec, &argv);
        if (r < 0)
                return r;
        r = spawn_prepare_argv(*h->config, argv, &p, ret_reason);
        if (r < 0)
                return r;
        p.stdout_fd = p.stderr_fd = out_fd;
        r = command_start(h->loop, &p, timeout, SIGTERM, done, h, ret, &step);
        if (r < 0)
                (void)asprintf(ret_reason, "%s %s: %s", step ? step : "spawn", argv[0],
                               strerror(-r));
        spawn_params_done(&p);
        return r;
}

/* A safety net: no probe test may hang the test program. */
static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        ev_break(loop, EVBREAK_ALL);
}

/* Run a check of sc until n probes ended (or 5 s passed); its result. */
static struct health *probe(struct ev_loop *loop, struct service_config **scp, struct probe_run *r,
                            unsigned n)
{
        struct health *h = NULL;
        ev_timer guard;

        memset(r, 0, sizeof *r);
        r->stop_after = n;
        if (health_new(loop, scp, probe_done, test_exec, r, &h) < 0)
                return NULL;
        ev_timer_init(&guard, guard_cb, 5., 0.);
        ev_timer_start(loop, &guard);
        health_schedule(h, 0);
        ev_run(loop, 0);
        ev_timer_stop(loop, &guard);
        return h;
}

static void test_probes(void)
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct service_config sc = { .health_interval = 50 * USEC_PER_MSEC,
                                     .health_timeout = 200 * USEC_PER_MSEC,
                                     .health_retries = 3 };
        struct service_config *scp = &sc;
        struct probe_run r;
        struct health *h;
        struct peer p;
        char target[64], url[128], want[256];
        int closed_port;
        double t0;

        /* health_tcp: the backlog completes the connect, nothing accepts. */
        peer_open(&p, loop, false);
        (void)snprintf(target, sizeof target, "127.0.0.1:%u", p.port);
        sc.health_tcp = target;
        h = probe(loop, &scp, &r, 1);
        ok(h && r.done == 1 && h->has_result && h->last_ok && strcmp(h->last_what, "ok") == 0 &&
                   h->last_real > 0,
           "tcp: a connection made passes");
        ok(h && !h->active && h->fd < 0 && !ev_is_active(&h->timer), "stopped: no fd, no timer");
        h = health_free(h);
        peer_close(&p, loop);

        /* Refused: the port of a socket closed again. */
        peer_open(&p, loop, false);
        closed_port = p.port;
        peer_close(&p, loop);
        (void)snprintf(target, sizeof target, "127.0.0.1:%d", closed_port);
        h = probe(loop, &scp, &r, 1);
        (void)snprintf(want, sizeof want, "connect 127.0.0.1:%d: Connection refused", closed_port);
        ok(h && r.done == 1 && !h->last_ok && strcmp(h->last_what, want) == 0,
           "tcp: refused fails: %s", h ? h->last_what : "-");
        h = health_free(h);
        sc.health_tcp = NULL;

        /* health_http against answers of every kind. */
        static const struct {
                const char *answer, *want; /* want: NULL passes; else after "URL: " */
        } answers[] = {
                { "HTTP/1.1 204 No Content\r\n\r\n", NULL },
                { "HTTP/1.0 302 Found\nLocation: /\n\n", NULL },
                { "HTTP/1.1 200\r\n", NULL },
                { "HTTP/1.1 503 Service Unavailable\r\n\r\n", "HTTP/1.1 503 Service Unavailable" },
                { "HTTP/1.1 404 Not Found\r\n", "HTTP/1.1 404 Not Found" },
                { "HTTP/1.1 199 Odd\r\n", "HTTP/1.1 199 Odd" },
                { "SSH-2.0-OpenSSH\r\n", "not an HTTP status line: 'SSH-2.0-OpenSSH'" },
                { "HTTP/1.1 2000 OK\r\n", "not an HTTP status line: 'HTTP/1.1 2000 OK'" },
                { "HTTP/1.1 200 OK", "connection closed before a status line" },
                { "", "connection closed before a status line" },
                { "HTTP/1.1 500 \x1b[31mred\r\n", "HTTP/1.1 500 ?[31mred" },
        };
        for (size_t i = 0; i < ELEMENTSOF(answers); i++) {
                peer_open(&p, loop, true);
                p.answer = answers[i].answer;
                p.answer_len = strlen(answers[i].answer);
                (void)snprintf(url, sizeof url, "http://127.0.0.1:%u/health", p.port);
                sc.health_http = url;
                h = probe(loop, &scp, &r, 1);
                (void)snprintf(want, sizeof want, "%s: %s", url,
                               answers[i].want ? answers[i].want : "");
                ok(h && r.done == 1 && h->last_ok == !answers[i].want &&
                           strcmp(h->last_what, answers[i].want ? want : "ok") == 0,
                   "http: answer %zu: %s", i, h ? h->last_what : "-");
                h = health_free(h);
                peer_close(&p, loop);
        }

        /* An endless line: cut at the bound. */
        {
                static char endless[4096];
                memset(endless, 'x', sizeof endless);
                memcpy(endless, "HTTP/1.1 200 ", 13);
                peer_open(&p, loop, true);
                p.answer = endless;
                p.answer_len = sizeof endless;
                (void)snprintf(url, sizeof url, "http://127.0.0.1:%u/", p.port);
                h = probe(loop, &scp, &r, 1);
                (void)snprintf(want, sizeof want, "%s: status line longer than 255 bytes", url);
                ok(h && !h->last_ok && strcmp(h->last_what, want) == 0,
                   "http: an endless status line fails at the bound: %s", h ? h->last_what : "-");
                h = health_free(h);
                peer_close(&p, loop);
        }

        /* A peer that accepts and never answers: abandoned at the timeout;
         * the next probe an interval after that end, never sooner. */
        peer_open(&p, loop, true);
        (void)snprintf(url, sizeof url, "http://127.0.0.1:%u/", p.port);
        t0 = ev_time();
        h = probe(loop, &scp, &r, 3);
        (void)snprintf(want, sizeof want, "%s: no status line within 200ms", url);
        ok(h && r.done == 3 && !h->last_ok && strcmp(h->last_what, want) == 0,
           "http: no answer times out: %s", h ? h->last_what : "-");
        ok(r.at[0] - t0 >= 0.19 && r.at[1] - r.at[0] >= 0.24 && r.at[2] - r.at[1] >= 0.24,
           "timeouts at %.3f, %.3f, %.3f: each probe 50ms after the last one's 200ms", r.at[0] - t0,
           r.at[1] - r.at[0], r.at[2] - r.at[1]);
        ok(p.accepted == 3, "one connection per probe: %u", p.accepted);
        h = health_free(h);
        peer_close(&p, loop);
        sc.health_http = NULL;

        /* health_exec: exit 0 passes; else the last line of its output, or
         * its exit, says why; a hung one is stopped at the timeout. */
        static const struct {
                const char *cmd, *want; /* want NULL: passes */
        } execs[] = {
                { "true", NULL },
                { "sh -c 'echo all good; exit 0'", NULL },
                { "sh -c 'echo starting; echo \"db down\" >&2; exit 3'",
                  "db down (exited with code 3)" },
                { "sh -c 'printf \"no newline\\r\\n\\n  \\n\"; exit 1'",
                  "no newline (exited with code 1)" },
                { "sh -c 'printf \"partial\"; exit 2'", "partial (exited with code 2)" },
                { "false", "exited with code 1" },
                { "sh -c 'kill -KILL $$'", "killed by signal KILL" },
                { "sh -c 'echo waiting; exec sleep 30'", "waiting (no result within 200ms)" },
                { "/nonexistent/probe", "exec /nonexistent/probe: No such file or directory" },
        };
        for (size_t i = 0; i < ELEMENTSOF(execs); i++) {
                sc.health_exec = (char *)execs[i].cmd;
                t0 = ev_time();
                h = probe(loop, &scp, &r, 1);
                ok(h && r.done == 1 && h->last_ok == !execs[i].want &&
                           strcmp(h->last_what, execs[i].want ? execs[i].want : "ok") == 0 &&
                           !h->cmd && h->fd < 0,
                   "exec %zu: %s", i, h ? h->last_what : "-");
                if (i == 7)
                        ok(r.at[0] - t0 >= 0.19 && r.at[0] - t0 < 3.0,
                           "a hung command is stopped at its timeout: %.3fs", r.at[0] - t0);
                h = health_free(h);
        }
        {
                static char cmd[1024];
                char *w;

                (void)snprintf(cmd, sizeof cmd, "sh -c 'printf \"%%0400d\\n\" 7; exit 1'");
                sc.health_exec = cmd;
                h = probe(loop, &scp, &r, 1);
                w = h ? strchr(h->last_what, ' ') : NULL;
                ok(h && !h->last_ok && w && (size_t)(w - h->last_what) == 150 &&
                           strcmp(w, " (exited with code 1)") == 0,
                   "a long line is cut: %zu bytes kept", w && h ? (size_t)(w - h->last_what) : 0);
                h = health_free(h);
        }
        /* Abandoned while it runs: killed, nothing reported. */
        sc.health_exec = (char *)"sleep 30";
        sc.health_timeout = 30 * USEC_PER_SEC;
        if (health_new(loop, &scp, probe_done, test_exec, &r, &h) == 0) {
                memset(&r, 0, sizeof r);
                health_schedule(h, 0);
                ev_run(loop, EVRUN_NOWAIT);
                ok(h->cmd && h->phase == HEALTH_EXEC && h->fd >= 0 && !ev_is_active(&h->timer),
                   "exec: running, no timer of its own");
                health_stop(h);
                ok(!h->cmd && h->fd < 0 && r.done == 0, "stopped: killed, nothing reported");
                h = health_free(h);
        }
        sc.health_exec = NULL;
        sc.health_timeout = 200 * USEC_PER_MSEC;

        /* Until a probe passed, probes come at least every second. */
        sc.health_interval = 10 * USEC_PER_SEC;
        if (health_new(loop, &scp, probe_done, NULL, &r, &h) == 0) {
                ok(health_interval(h) == USEC_PER_SEC, "starting: at most 1s apart");
                h->passed = true;
                ok(health_interval(h) == 10 * USEC_PER_SEC, "passed: health_interval");
                h = health_free(h);
        }
        ev_loop_destroy(loop);
}

static void test_state_and_describe(void)
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct service_config sc = { .health_tcp = (char *)"127.0.0.1:9",
                                     .health_interval = 30 * USEC_PER_SEC,
                                     .health_timeout = USEC_PER_SEC,
                                     .health_retries = 3 };
        struct service_config *scp = &sc;
        struct health *a = NULL, *b = NULL;
        struct state_writer w;
        struct state_reader all, v;
        uint16_t tag;
        usec_t due = 0;
        char buf[64];
        int r = -1;

        (void)health_new(loop, &scp, NULL, NULL, NULL, &a);
        (void)health_new(loop, &scp, NULL, NULL, NULL, &b);
        ok(strcmp(health_describe(NULL, true, buf, sizeof buf), "") == 0, "no check: ''");
        ok(strcmp(health_describe(a, true, buf, sizeof buf), "starting") == 0, "starting");
        a->failures = 2;
        a->passed = true;
        a->has_result = true;
        a->last_real = 1234567;
        (void)snprintf(a->last_what, sizeof a->last_what, "connect 127.0.0.1:9: refused");
        ok(strcmp(health_describe(a, true, buf, sizeof buf), "unhealthy 2/3") == 0, "%s", buf);
        ok(strcmp(health_describe(a, false, buf, sizeof buf), "inactive") == 0, "%s", buf);
        health_schedule(a, 20 * USEC_PER_SEC);

        state_writer_init(&w);
        health_state_put(a, &w, 7);
        all = (struct state_reader){ w.buf, w.len };
        if (state_next(&all, &tag, &v) > 0 && tag == 7)
                r = health_state_get(b, &v, &due);
        ok(r >= 0 && b->failures == 2 && b->passed && b->has_result && !b->last_ok &&
                   b->last_real == 1234567 && strcmp(b->last_what, a->last_what) == 0,
           "counters and the last result across a state record");
        ok(due != USEC_INFINITY, "the next probe's deadline with it");
        ok(!b->active && b->fd < 0, "read back idle: the owner schedules it");
        state_writer_free(&w);
        health_stop(a);
        state_writer_init(&w);
        health_state_put(a, &w, 7);
        all = (struct state_reader){ w.buf, w.len };
        r = -1;
        if (state_next(&all, &tag, &v) > 0)
                r = health_state_get(b, &v, &due);
        ok(r >= 0 && due == USEC_INFINITY, "inactive: no deadline");
        state_writer_free(&w);
        health_free(a);
        health_free(b);
        ev_loop_destroy(loop);
}

int main(void)
{
        test_targets();
        test_probes();
        test_state_and_describe();
        return tap_done();
}
