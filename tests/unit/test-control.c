/* test-control: the pure verdict function for pending Start/Stop/Restart calls,
 * the framing check of what clients send, the control socket's setup rules (mode, stale socket, live socket, unlink on
 * free), a D-Bus round trip: a forked sd-bus client against control.c
 * served from a private libev loop, and Reexec with the socket handed over
 * to a new control (control_state_put, control_new_from_state). */
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>

#include "control.h"
#include "hashmap.h"
#include "manager.h"
#include "service.h"
#include "state.h"
#include "state-find.h"
#include "tap.h"
#include "wire.h"

static struct service fake(enum service_state st, enum service_type type, bool restart_on_exit,
                           bool has_exit, int code)
{
        static struct service_config sc;
        struct service s = { 0 };

        sc.type = type;
        s.config = &sc;
        s.state = st;
        s.restart_on_exit = restart_on_exit;
        s.has_exit = has_exit;
        s.exit_code = code;
        /* what the state machine records when a oneshot runs to success */
        s.completed = type == SERVICE_ONESHOT && st == SERVICE_STOPPED && has_exit && code == 0;
        return s;
}

static void test_evaluate(void)
{
        static const struct {
                enum control_op op;
                enum service_state st;
                enum service_type type;
                bool roe, has_exit;
                int code;
                enum control_verdict want;
        } cases[] = {
                { CONTROL_OP_START, SERVICE_RUNNING, SERVICE_SIMPLE, 0, 0, 0, CONTROL_DONE },
                { CONTROL_OP_START, SERVICE_STARTING, SERVICE_SIMPLE, 0, 0, 0, CONTROL_WAIT },
                { CONTROL_OP_START, SERVICE_STOPPING, SERVICE_SIMPLE, 1, 0, 0, CONTROL_WAIT },
                { CONTROL_OP_START, SERVICE_STOPPING, SERVICE_SIMPLE, 0, 0, 0, CONTROL_WAIT },
                { CONTROL_OP_START, SERVICE_BACKOFF, SERVICE_SIMPLE, 0, 1, 1, CONTROL_FAIL },
                { CONTROL_OP_START, SERVICE_FAILED, SERVICE_SIMPLE, 0, 1, 1, CONTROL_FAIL },
                { CONTROL_OP_START, SERVICE_STOPPED, SERVICE_SIMPLE, 0, 1, 0, CONTROL_FAIL },
                { CONTROL_OP_START, SERVICE_STOPPED, SERVICE_ONESHOT, 0, 1, 0, CONTROL_DONE },
                { CONTROL_OP_START, SERVICE_STOPPED, SERVICE_ONESHOT, 0, 1, 2, CONTROL_FAIL },
                { CONTROL_OP_START, SERVICE_STOPPED, SERVICE_ONESHOT, 0, 0, 0, CONTROL_FAIL },
                { CONTROL_OP_START, SERVICE_STARTING, SERVICE_ONESHOT, 0, 1, 0, CONTROL_WAIT },
                { CONTROL_OP_RESTART, SERVICE_STOPPING, SERVICE_SIMPLE, 1, 0, 0, CONTROL_WAIT },
                /* a transient state during a restart is no answer */
                { CONTROL_OP_RESTART, SERVICE_RUNNING, SERVICE_SIMPLE, 1, 0, 0, CONTROL_WAIT },
                { CONTROL_OP_RESTART, SERVICE_STOPPED, SERVICE_SIMPLE, 1, 1, 0, CONTROL_WAIT },
                { CONTROL_OP_RESTART, SERVICE_RUNNING, SERVICE_SIMPLE, 0, 1, 0, CONTROL_DONE },
                { CONTROL_OP_RESTART, SERVICE_FAILED, SERVICE_SIMPLE, 0, 0, 0, CONTROL_FAIL },
                { CONTROL_OP_RESTART, SERVICE_BACKOFF, SERVICE_SIMPLE, 0, 1, 1, CONTROL_FAIL },
                { CONTROL_OP_STOP, SERVICE_STOPPING, SERVICE_SIMPLE, 0, 0, 0, CONTROL_WAIT },
                { CONTROL_OP_STOP, SERVICE_STOPPED, SERVICE_SIMPLE, 0, 1, 0, CONTROL_DONE },
                { CONTROL_OP_STOP, SERVICE_FAILED, SERVICE_SIMPLE, 0, 1, 1, CONTROL_DONE },
                { CONTROL_OP_STOP, SERVICE_RUNNING, SERVICE_SIMPLE, 0, 0, 0, CONTROL_FAIL },
                { CONTROL_OP_STOP, SERVICE_STARTING, SERVICE_SIMPLE, 0, 0, 0, CONTROL_FAIL },
                { CONTROL_OP_STOP, SERVICE_BACKOFF, SERVICE_SIMPLE, 0, 1, 1, CONTROL_FAIL },
                { CONTROL_OP_STOP, SERVICE_STOPPING, SERVICE_SIMPLE, 1, 0, 0, CONTROL_WAIT },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct service s = fake(cases[i].st, cases[i].type, cases[i].roe,
                                        cases[i].has_exit, cases[i].code);
                enum control_verdict v = control_evaluate(cases[i].op, &s);

                ok(v == cases[i].want, "evaluate case %zu: op %d %s%s -> %d (want %d)", i,
                   (int)cases[i].op, service_state_to_string(cases[i].st),
                   cases[i].roe ? " restart_on_exit" : "", (int)v, (int)cases[i].want);
        }
}

/* A message header: endianness, version, body length, header fields length. */
static void header(uint8_t *h, char endian, uint8_t version, uint32_t body, uint32_t fields)
{
        memset(h, 0, 16);
        h[0] = (uint8_t)endian;
        h[1] = 1;
        h[3] = version;
        for (int i = 0; i < 4; i++) {
                int shift = endian == 'l' ? 8 * i : 8 * (3 - i);
                h[4 + i] = (uint8_t)(body >> shift);
                h[12 + i] = (uint8_t)(fields >> shift);
        }
}

static int feed_str(struct control_frame *f, const char *s)
{
        return control_frame_feed(f, (const uint8_t *)s, strlen(s) + (s[0] == '\0'));
}

static void test_frame(void)
{
        static const char auth[] = "\0AUTH EXTERNAL 30\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
        struct control_frame f = { 0 };
        uint8_t h[16], big[CONTROL_AUTH_MAX + 2];
        size_t fields = 100, body = CONTROL_MESSAGE_MAX - 16 - 104;
        int r, total = 0;

        ok(!control_frame_idle(&f), "a new connection is not idle: the handshake is due");
        r = control_frame_feed(&f, (const uint8_t *)auth, sizeof auth - 1);
        ok(r == 1 && control_frame_idle(&f), "handshake up to BEGIN: one step, idle (%d)", r);

        memset(&f, 0, sizeof f);
        for (size_t i = 0; i < sizeof auth - 1; i++)
                total += control_frame_feed(&f, (const uint8_t *)auth + i, 1);
        ok(total == 1 && control_frame_idle(&f), "the same byte by byte (%d)", total);

        memset(&f, 0, sizeof f);
        ok(feed_str(&f, "AUTH EXTERNAL 30\r\n") == -EBADMSG, "no leading NUL: not D-Bus");
        memset(&f, 0, sizeof f);
        {
                static const char near[] = "\0XBEGIN\r\nBEGIN\n\r\nBEGINX\r\nBEGIN\r";

                r = control_frame_feed(&f, (const uint8_t *)near, sizeof near - 1);
        }
        ok(r == 0 && !control_frame_idle(&f), "only a line BEGIN ends the handshake (%d)", r);
        memset(&f, 0, sizeof f);
        memset(big, 'A', sizeof big);
        big[0] = '\0';
        ok(control_frame_feed(&f, big, sizeof big) == -EMSGSIZE, "an endless handshake is refused");

        memset(&f, 0, sizeof f);
        (void)control_frame_feed(&f, (const uint8_t *)auth, sizeof auth - 1);
        header(h, 'l', 1, (uint32_t)body, (uint32_t)fields);
        r = control_frame_feed(&f, h, 10);
        ok(r == 0 && !control_frame_idle(&f), "half a header: waiting");
        r = control_frame_feed(&f, h + 10, 6);
        ok(r == 0 && !control_frame_idle(&f), "a header: the rest of the message is due");
        {
                uint8_t *rest = calloc(1, CONTROL_MESSAGE_MAX);
                size_t left = CONTROL_MESSAGE_MAX - 16;

                r = control_frame_feed(&f, rest, left - 1);
                ok(r == 0 && !control_frame_idle(&f), "all but one byte: waiting");
                r = control_frame_feed(&f, rest, 1);
                ok(r == 1 && control_frame_idle(&f), "a message of exactly the limit passes");
                free(rest);
        }
        header(h, 'l', 1, (uint32_t)body + 1, (uint32_t)fields);
        ok(control_frame_feed(&f, h, 16) == -EMSGSIZE, "one byte over the limit is refused");

        memset(&f, 0, sizeof f);
        (void)control_frame_feed(&f, (const uint8_t *)auth, sizeof auth - 1);
        header(h, 'l', 1, UINT32_MAX, UINT32_MAX);
        ok(control_frame_feed(&f, h, 16) == -EMSGSIZE, "4 GiB lengths: refused, no overflow");
        memset(&f, 0, sizeof f);
        (void)control_frame_feed(&f, (const uint8_t *)auth, sizeof auth - 1);
        header(h, 'B', 1, 0, 0x1000000);
        ok(control_frame_feed(&f, h, 16) == -EMSGSIZE, "big endian lengths read as such");
        memset(&f, 0, sizeof f);
        (void)control_frame_feed(&f, (const uint8_t *)auth, sizeof auth - 1);
        header(h, 'l', 2, 0, 0);
        ok(control_frame_feed(&f, h, 16) == -EBADMSG, "protocol version 2 refused");
        memset(&f, 0, sizeof f);
        (void)control_frame_feed(&f, (const uint8_t *)auth, sizeof auth - 1);
        header(h, 'x', 1, 0, 0);
        ok(control_frame_feed(&f, h, 16) == -EBADMSG, "unknown endianness refused");

        /* Two messages and a half in one read: 8-byte padding of the fields. */
        memset(&f, 0, sizeof f);
        (void)control_frame_feed(&f, (const uint8_t *)auth, sizeof auth - 1);
        {
                uint8_t stream[3 * 40] = { 0 };

                header(stream, 'l', 1, 4, 17); /* 16 + 24 (17 padded) + 4 */
                header(stream + 44, 'l', 1, 0, 8);
                header(stream + 68, 'l', 1, 8, 0);
                r = control_frame_feed(&f, stream, 80);
                ok(r == 2 && !control_frame_idle(&f), "two messages and part of a third (%d)", r);
                r = control_frame_feed(&f, stream + 80, 12);
                ok(r == 1 && control_frame_idle(&f), "the third completes (%d)", r);
        }
}

static int listen_at(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0)
                return -1;
        return fd;
}

static void test_socket(struct manager *m, const char *dir)
{
        char path[256];
        struct control *c = NULL;
        struct stat st;
        int r, fd;

        snprintf(path, sizeof path, "%s/sub/dir/tend.sock", dir);
        r = control_new(m, path, 0600, NULL, &c);
        ok(r == 0, "control_new creates missing parents (%d)", r);
        ok(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600,
           "socket exists with mode 0600");
        ok(m->n_listeners == 1 && m->listeners[0]->state_changed &&
                   m->listeners[0]->userdata == c,
           "state hook installed");
        c = control_free(c);
        ok(stat(path, &st) < 0 && errno == ENOENT, "control_free unlinks the socket");
        ok(m->n_listeners == 0, "hooks cleared");

        /* A stale socket (nobody listening) is replaced. */
        fd = listen_at(path);
        ok(fd >= 0, "made a socket at the path");
        close(fd);
        r = control_new(m, path, 0660, NULL, &c);
        ok(r == 0, "stale socket replaced (%d)", r);
        ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0660, "mode 0660 applied");
        c = control_free(c);

        /* A socket someone listens on is not stolen. */
        fd = listen_at(path);
        r = control_new(m, path, 0600, NULL, &c);
        ok(r == -EADDRINUSE && !c, "live socket refused with EADDRINUSE (%d)", r);
        close(fd);
        unlink(path);

        /* Anything but a socket is never removed. */
        fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        close(fd);
        r = control_new(m, path, 0600, NULL, &c);
        ok(r == -EEXIST, "regular file at the path refused (%d)", r);
        ok(stat(path, &st) == 0 && S_ISREG(st.st_mode), "regular file left alone");
        unlink(path);

        r = control_new(m, path, 0600, "no-such-group-tend-test", &c);
        ok(r < 0 && !c, "unknown group refused (%d)", r);
        ok(stat(path, &st) < 0, "no socket left behind after a failed setup");
}

/* A peer-to-peer connection to the control socket at path, as tendctl makes it. */
static int connect_p2p(const char *path, sd_bus **ret)
{
        char addr[300];
        int r;

        snprintf(addr, sizeof addr, "unix:path=%s", path);
        r = sd_bus_new(ret);
        if (r >= 0)
                r = sd_bus_set_address(*ret, addr);
        if (r >= 0)
                r = sd_bus_set_bus_client(*ret, 0);
        if (r >= 0)
                r = sd_bus_start(*ret);
        return r;
}

/* Child: one line per check, "1" or "0" then a description. */
static void client(const char *path, int out)
{
        sd_bus *bus = NULL;
        sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *xml = NULL;
        int r;

        r = connect_p2p(path, &bus);
        dprintf(out, "%d connect\n", r >= 0);

        r = sd_bus_call_method(bus, NULL, WIRE_PATH, WIRE_INTERFACE, "ListServices", &error,
                               &reply, NULL);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (r >= 0)
                r = sd_bus_message_at_end(reply, false);
        dprintf(out, "%d ListServices on no services returns an empty array\n", r > 0);
        reply = sd_bus_message_unref(reply);
        sd_bus_error_free(&error);

        r = sd_bus_call_method(bus, NULL, WIRE_PATH, WIRE_INTERFACE, "GetService", &error,
                               NULL, "s", "nope");
        dprintf(out, "%d GetService(nope) fails with NoSuchService\n",
                r < 0 && sd_bus_error_has_name(&error, WIRE_ERROR_NO_SUCH_SERVICE));
        sd_bus_error_free(&error);

        r = sd_bus_call_method(bus, NULL, WIRE_PATH, WIRE_INTERFACE, "StartService", &error,
                               NULL, "s", "nope");
        dprintf(out, "%d StartService(nope) fails with NoSuchService\n",
                r < 0 && sd_bus_error_has_name(&error, WIRE_ERROR_NO_SUCH_SERVICE));
        sd_bus_error_free(&error);

        r = sd_bus_call_method(bus, NULL, WIRE_PATH, "org.freedesktop.DBus.Introspectable",
                               "Introspect", &error, &reply, NULL);
        if (r >= 0)
                r = sd_bus_message_read(reply, "s", &xml);
        dprintf(out, "%d Introspect names the interface and the signal\n",
                r >= 0 && xml && strstr(xml, WIRE_INTERFACE) &&
                        strstr(xml, "ServiceStateChanged"));
        reply = sd_bus_message_unref(reply);
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);

        /* Junk instead of the auth handshake must not hurt the server. */
        {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

                if (strlen(path) >= sizeof sa.sun_path)
                        abort();
                memcpy(sa.sun_path, path, strlen(path) + 1);
                r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
                if (r == 0)
                        r = write(fd, "\0JUNK JUNK\r\n\xff\xfe", 14) == 14 ? 0 : -1;
                dprintf(out, "%d junk sent\n", r == 0);
                close(fd);
        }

        /* And the server still answers afterwards. */
        bus = NULL;
        r = connect_p2p(path, &bus);
        if (r >= 0)
                r = sd_bus_call_method(bus, NULL, WIRE_PATH, "org.freedesktop.DBus.Peer",
                                       "Ping", &error, NULL, NULL);
        dprintf(out, "%d server answers after junk\n", r >= 0);
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
}

struct roundtrip {
        ev_io io;
        ev_timer timeout;
        char buf[4096];
        size_t len;
        bool timed_out;
};

static void roundtrip_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct roundtrip *rt = container_of(w, struct roundtrip, io);
        ssize_t n = read(w->fd, rt->buf + rt->len, sizeof rt->buf - 1 - rt->len);

        if (n <= 0) {
                ev_break(loop, EVBREAK_ALL);
                return;
        }
        rt->len += (size_t)n;
}

static void roundtrip_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct roundtrip *rt = container_of(w, struct roundtrip, timeout);

        rt->timed_out = true;
        ev_break(loop, EVBREAK_ALL);
}

static void test_roundtrip(struct manager *m, const char *dir)
{
        char path[256];
        struct control *c = NULL;
        struct roundtrip rt = { 0 };
        int p[2], r, status;
        pid_t pid;

        snprintf(path, sizeof path, "%s/rt.sock", dir);
        r = control_new(m, path, 0600, NULL, &c);
        ok(r == 0, "control_new for the round trip (%d)", r);
        if (r < 0)
                return;
        if (pipe2(p, O_CLOEXEC) < 0)
                return;
        pid = fork();
        if (pid == 0) {
                close(p[0]);
                client(path, p[1]);
                _exit(0);
        }
        close(p[1]);
        ev_io_init(&rt.io, roundtrip_io_cb, p[0], EV_READ);
        ev_io_start(m->loop, &rt.io);
        ev_timer_init(&rt.timeout, roundtrip_timeout_cb, 10., 0.);
        ev_timer_start(m->loop, &rt.timeout);
        ev_run(m->loop, 0);
        ev_io_stop(m->loop, &rt.io);
        ev_timer_stop(m->loop, &rt.timeout);
        close(p[0]);
        (void)waitpid(pid, &status, 0);
        ok(!rt.timed_out, "client finished within 10s");

        rt.buf[rt.len] = '\0';
        for (char *line = strtok(rt.buf, "\n"); line; line = strtok(NULL, "\n"))
                ok(line[0] == '1', "%s", line + 2);
        control_free(c);
}

/* Child of test_reexec: Reexec, not answered, its connection closed (as the
 * execve would), a new one made while no image serves the socket, answered
 * by the new one. */
static void reexec_client(const char *path, int out)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus *bus = NULL;
        usec_t until = now_monotonic() + 10 * USEC_PER_SEC;
        int r;

        r = connect_p2p(path, &bus);
        if (r >= 0)
                r = sd_bus_call_method(bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_REEXEC,
                                       &error, NULL, NULL);
        /* No reply: the execve closes the caller's connection. */
        dprintf(out, "%d Reexec is not answered, its connection closed (%d %s)\n",
                r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE, r,
                error.message ? error.message : "");
        sd_bus_error_free(&error);
        /* The old image closes the connection (here: control_state_put). */
        while ((r = sd_bus_process(bus, NULL)) >= 0 && now_monotonic() < until)
                if (r == 0)
                        (void)sd_bus_wait(bus, 100 * USEC_PER_MSEC);
        dprintf(out, "%d then the connection is closed\n", r < 0);
        sd_bus_close_unref(bus);
        bus = NULL;
        /* The test moves the socket's name away for a moment (the old
         * image must not unlink it): a connect then is retried, as tendctl
         * reexec does. */
        while ((r = connect_p2p(path, &bus)) == -ENOENT && now_monotonic() < until) {
                bus = sd_bus_unref(bus);
                (void)usleep(1000);
        }
        dprintf(out, "%d connect while no image serves: waits in the backlog (%d)\n", r >= 0, r);
        if (r >= 0)
                r = sd_bus_call_method(bus, NULL, WIRE_PATH, "org.freedesktop.DBus.Peer", "Ping",
                                       &error, NULL, NULL);
        dprintf(out, "%d and is answered by the new image (%d)\n", r >= 0, r);
        sd_bus_error_free(&error);
        r = sd_bus_call_method(bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_REEXEC, &error,
                               NULL, NULL);
        dprintf(out, "%d Reexec with no callback fails: %s\n",
                r < 0 && sd_bus_error_has_name(&error, WIRE_ERROR_FAILED),
                error.message ? error.message : "");
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
}

struct reexec_call {
        struct ev_loop *loop;
        unsigned calls;
};

static void reexec_cb(void *userdata)
{
        struct reexec_call *rc = userdata;

        rc->calls++;
        ev_break(rc->loop, EVBREAK_ALL);
}

/* Read the child's lines until want is among them or 10 s passed. */
static void read_until(struct roundtrip *rt, const char *want)
{
        struct pollfd pfd = { .fd = rt->io.fd, .events = POLLIN };

        rt->buf[rt->len] = '\0';
        while (!strstr(rt->buf, want) && poll(&pfd, 1, 10000) > 0) {
                ssize_t n = read(pfd.fd, rt->buf + rt->len, sizeof rt->buf - 1 - rt->len);
                if (n <= 0)
                        break;
                rt->len += (size_t)n;
                rt->buf[rt->len] = '\0';
        }
}

static void test_reexec(struct manager *m, const char *dir)
{
        char path[256], moved[256];
        struct reexec_call rc = { .loop = m->loop };
        struct control *c = NULL;
        struct roundtrip rt = { 0 };
        struct state_writer w;
        struct state_reader v;
        struct stat st;
        int p[2], r, status, fd = -1, keep;
        pid_t pid;

        snprintf(path, sizeof path, "%s/re.sock", dir);
        snprintf(moved, sizeof moved, "%s/moved.sock", dir);
        r = control_new(m, path, 0600, NULL, &c);
        ok(r == 0, "control_new for Reexec (%d)", r);
        if (r < 0 || pipe2(p, O_CLOEXEC) < 0)
                return;
        control_set_reexec(c, reexec_cb, &rc);
        pid = fork();
        if (pid == 0) {
                close(p[0]);
                reexec_client(path, p[1]);
                _exit(0);
        }
        close(p[1]);
        ev_io_init(&rt.io, roundtrip_io_cb, p[0], EV_READ);
        ev_timer_init(&rt.timeout, roundtrip_timeout_cb, 10., 0.);
        ev_timer_start(m->loop, &rt.timeout);
        ev_run(m->loop, 0); /* until the callback */
        ok(rc.calls == 1 && !rt.timed_out, "the callback ran once, from the loop");

        state_writer_init(&w);
        r = control_state_put(c, &w, 5);
        ok(r == 0 && w.n_fds == 1 && control_connections(c) == 1,
           "control_state_put: the listening fd, connections closed but the caller's (%d)", r);
        if (w.n_fds == 1)
                fd = w.fds[0];
        /* The old image vanishes: no unlink, no close of the kept fd. */
        keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        (void)rename(path, moved);
        c = control_free(c);
        (void)rename(moved, path);
        (void)dup2(keep, fd);
        close(keep);
        read_until(&rt, "waits in the backlog");
        ok(state_find(&w, 5, &v) == 0 && control_new_from_state(m, &v, &c) == 0 && c,
           "control_new_from_state");
        ok(fcntl(fd, F_GETFD) == FD_CLOEXEC, "the socket is close-on-exec again");
        ev_io_start(m->loop, &rt.io);
        ev_run(m->loop, 0); /* until the child is done */
        ev_io_stop(m->loop, &rt.io);
        ev_timer_stop(m->loop, &rt.timeout);
        close(p[0]);
        (void)waitpid(pid, &status, 0);
        ok(!rt.timed_out, "client finished within 10s");
        rt.buf[rt.len] = '\0';
        for (char *line = strtok(rt.buf, "\n"); line; line = strtok(NULL, "\n"))
                ok(line[0] == '1', "%s", line + 2);
        c = control_free(c);
        ok(stat(path, &st) < 0, "the new control unlinks the socket when freed");
        state_writer_free(&w);

        /* Not a listening socket: refused, the path left alone. */
        state_writer_init(&w);
        {
                int sp[2];
                size_t mark = state_begin(&w, 5);

                (void)socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp);
                /* A number no restore above claimed: each may be claimed once. */
                sp[0] = fcntl(sp[0], F_DUPFD_CLOEXEC, 900);
                state_put_fd(&w, 1, sp[0]);
                state_put_str(&w, 2, path);
                state_put_u64(&w, 3, 0);
                state_put_u64(&w, 99, 1); /* a newer image's record: skipped */
                state_end(&w, mark);
                close(sp[1]);
                r = state_find(&w, 5, &v);
                ok(r == 0 && control_new_from_state(m, &v, &c) == -ENOTSOCK && !c,
                   "a socket that does not listen: -ENOTSOCK");
        }
        state_writer_free(&w);
}

/* Append in (as a dict or compact), seal, and read it back into out. */
static int wire_roundtrip(sd_bus *bus, const struct wire_service *in, bool compact,
                          struct wire_service *out)
{
        static char scratch[WIRE_STRING_MAX];
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NULL, WIRE_PATH, WIRE_INTERFACE,
                                           WIRE_METHOD_GET);
        if (r >= 0)
                r = compact ? wire_service_append_compact(m, in, scratch)
                            : wire_service_append(m, in, scratch);
        if (r >= 0)
                r = sd_bus_message_seal(m, 1, 0);
        if (r >= 0)
                r = sd_bus_message_rewind(m, true);
        if (r >= 0)
                r = compact ? wire_service_read_compact(m, out) : wire_service_read(m, out);
        sd_bus_message_unref(m);
        return r;
}

/* Do a and b hold the same fields (reason aside: it is sanitized)? */
static bool wire_same(const struct wire_service *a, const struct wire_service *b)
{
        bool same = true;

        for (size_t i = 0; i < wire_service_n_fields; i++) {
                const struct wire_field *f = &wire_service_fields[i];
                const void *pa = wire_field_ptr(a, f), *pb = wire_field_ptr(b, f);

                if (f->offset == offsetof(struct wire_service, reason) ||
                    f->offset == offsetof(struct wire_service, status))
                        continue; /* made valid UTF-8 on the way: checked apart */
                if (f->type == 's')
                        same &= strcmp(*(const char *const *)pa, *(const char *const *)pb) == 0;
                else
                        same &= memcmp(pa, pb, f->type == 't' ? 8 : 4) == 0;
        }
        return same;
}

/* A record through the generic appenders and readers (dict and compact)
 * comes back field for field; strings are made valid UTF-8 on the way. */
static void test_wire(void)
{
        struct wire_service in = { 0 };
        uint8_t *raw = (uint8_t *)&in;
        sd_bus *bus = NULL;
        int sp[2];

        /* Clients read the compact struct by position: fields are only added at its end. */
        ok(strncmp(WIRE_SERVICE_SIGNATURE, "(ssuutbiissbsisst", 17) == 0,
           "the compact struct starts with the published fields (%s)", WIRE_SERVICE_SIGNATURE);
        /* Every number a distinct pattern, every string its bus name. */
        for (size_t i = 0; i < sizeof in; i++)
                raw[i] = (uint8_t)(i * 7 + 1);
        for (size_t i = 0; i < wire_service_n_fields; i++) {
                const struct wire_field *f = &wire_service_fields[i];
                if (f->type == 's')
                        *(const char **)(void *)(raw + f->offset) = f->bus;
                if (f->type == 'b')
                        *(int *)(void *)(raw + f->offset) = (int)(i & 1);
        }
        in.reason = "bad \xff byte";
        in.status = "nonchar \xef\xbf\xbe \xef\xb7\x90 \xf4\x8f\xbf\xbf end";
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || sd_bus_new(&bus) < 0 ||
            sd_bus_set_fd(bus, sp[0], sp[1]) < 0 || sd_bus_start(bus) < 0) {
                ok(false, "a bus to build messages on");
                return;
        }
        for (int compact = 0; compact <= 1; compact++) {
                struct wire_service out = { 0 };
                const char *how = compact ? "compact" : "dict";
                int r = wire_roundtrip(bus, &in, compact, &out);

                ok(r >= 0 && wire_same(&in, &out), "%s: every field comes back (%d)", how, r);
                ok(r >= 0 && out.reason && strcmp(out.reason, "bad ? byte") == 0,
                   "%s: invalid UTF-8 is sent as '?' (%s)", how, out.reason ? out.reason : "-");
                ok(r >= 0 && out.status && strcmp(out.status, "nonchar ??? ??? ???? end") == 0,
                   "%s: noncharacters, which sd-bus refuses, go as a ? per byte (%s)", how,
                   out.status ? out.status : "-");
                wire_service_done(&out);
        }
        sd_bus_close_unref(bus);
}

/* Append a record of the struct signature contents, field i's value made
 * from i: "f<i>" for a string, i + 100 for a number ('x' is no field of ours). */
static int append_record(sd_bus_message *m, const char *contents)
{
        int r = sd_bus_message_open_container(m, 'r', contents);

        for (size_t i = 0; r >= 0 && contents[i]; i++) {
                char s[24];
                uint32_t u = (uint32_t)i + 100;
                uint64_t t = i + 100;
                int32_t v = (int32_t)i + 100;
                int b = (int)(i & 1);

                snprintf(s, sizeof s, "f%zu", i);
                switch (contents[i]) {
                case 's':
                        r = sd_bus_message_append_basic(m, 's', s);
                        break;
                case 'u':
                        r = sd_bus_message_append_basic(m, 'u', &u);
                        break;
                case 'b':
                        r = sd_bus_message_append_basic(m, 'b', &b);
                        break;
                case 'i':
                        r = sd_bus_message_append_basic(m, 'i', &v);
                        break;
                default: /* 't', 'x' */
                        r = sd_bus_message_append_basic(m, contents[i], &t);
                }
        }
        return r < 0 ? r : sd_bus_message_close_container(m);
}

/* Did w get field i as append_record() made it, or, for a field the record
 * lacked, not known: NULL, 0, or UINT64_MAX where that means not known? */
static bool record_field_is(const struct wire_service *w, size_t i, bool sent)
{
        const struct wire_field *f = &wire_service_fields[i];
        const void *p = wire_field_ptr(w, f);
        uint64_t unknown = f->json_form == WIRE_JSON_KNOWN ? UINT64_MAX : 0;
        char s[24];

        snprintf(s, sizeof s, "f%zu", i);
        switch (f->type) {
        case 's':
                return sent ? streq_ptr(*(const char *const *)p, s) : !*(const char *const *)p;
        case 'u':
                return *(const uint32_t *)p == (sent ? i + 100 : 0);
        case 'b':
                return *(const int *)p == (sent ? (int)(i & 1) : 0);
        case 'i':
                return *(const int32_t *)p == (sent ? (int32_t)i + 100 : 0);
        default:
                return *(const uint64_t *)p == (sent ? i + 100 : unknown);
        }
}

/* Two records of signature contents, read back: the fields both know. */
static int read_records(sd_bus *bus, const char *contents, struct wire_service out[2])
{
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NULL, WIRE_PATH, WIRE_INTERFACE,
                                           WIRE_METHOD_GET);
        for (int k = 0; k < 2 && r >= 0; k++)
                r = append_record(m, contents);
        if (r >= 0)
                r = sd_bus_message_seal(m, 1, 0);
        if (r >= 0)
                r = sd_bus_message_rewind(m, true);
        for (int k = 0; k < 2 && r >= 0; k++)
                r = wire_service_read_compact(m, &out[k]);
        sd_bus_message_unref(m);
        return r;
}

/* A compact record from an older tendd (fewer fields) or a newer one (more,
 * at the end) is read for the fields both know, the others not known; a
 * record that is neither is refused. */
static void test_wire_versions(void)
{
        char ours[64], newer[sizeof ours + 3];
        const char *older = "ssuutbiissbsisst"; /* before CPUUsageUSec, MemoryCurrent */
        const struct {
                const char *contents;
                int r;
        } cases[] = {
                { older, 0 },
                { "s", 0 },
                { ours, 0 },
                { newer, 0 },
                { "x", -EBADMSG },
                { "ssx", -EBADMSG },
                { "ssuutbiissbsisss", -EBADMSG },
        };
        sd_bus *bus = NULL;
        int sp[2];

        /* The record's fields: the signature less its parentheses. */
        snprintf(ours, sizeof ours, "%.*s", (int)strlen(WIRE_SERVICE_SIGNATURE) - 2,
                 &WIRE_SERVICE_SIGNATURE[1]);
        snprintf(newer, sizeof newer, "%sxsu", ours);
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || sd_bus_new(&bus) < 0 ||
            sd_bus_set_fd(bus, sp[0], sp[1]) < 0 || sd_bus_start(bus) < 0) {
                ok(false, "a bus to build messages on");
                return;
        }
        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                struct wire_service out[2] = { 0 };
                size_t sent = strlen(cases[c].contents);
                int r = read_records(bus, cases[c].contents, out);
                bool same = true;

                for (size_t k = 0; cases[c].r == 0 && k < 2; k++)
                        for (size_t i = 0; i < wire_service_n_fields; i++)
                                same &= record_field_is(&out[k], i, i < sent);
                ok(r >= 0 ? cases[c].r == 0 && same : r == cases[c].r,
                   "compact record (%s): %s (%d)", cases[c].contents,
                   cases[c].r == 0 ? "the fields both know read, the others not known" : "refused",
                   r);
                wire_service_done(&out[0]);
                wire_service_done(&out[1]);
        }

        /* A dict without the newer members: they are not known either. */
        {
                sd_bus_message *m = NULL;
                struct wire_service w = { 0 };
                int r;

                r = sd_bus_message_new_method_call(bus, &m, NULL, WIRE_PATH, WIRE_INTERFACE,
                                                   WIRE_METHOD_GET);
                if (r >= 0)
                        r = sd_bus_message_append(m, "a{sv}", 2, "Name", "s", "web", "Pid", "u",
                                                  42);
                if (r >= 0)
                        r = sd_bus_message_seal(m, 1, 0);
                if (r >= 0)
                        r = sd_bus_message_rewind(m, true);
                if (r >= 0)
                        r = wire_service_read(m, &w);
                ok(r >= 0 && streq_ptr(w.name, "web") && w.pid == 42 && !w.state &&
                           w.cpu_usec == UINT64_MAX && w.memory_bytes == UINT64_MAX,
                   "a dict without CPUUsageUSec and MemoryCurrent: not known (%d)", r);
                wire_service_done(&w);
                sd_bus_message_unref(m);
        }
        sd_bus_close_unref(bus);
}

int main(void)
{
        char dir[] = "/tmp/test-control-XXXXXX";
        struct manager m = { 0 };

        test_evaluate();
        test_frame();
        test_wire();
        test_wire_versions();

        if (!mkdtemp(dir)) {
                diag("mkdtemp: %s", strerror(errno));
                return tap_done();
        }
        m.loop = ev_loop_new(EVFLAG_AUTO);
        m.by_name = hashmap_new();
        if (!m.loop || !m.by_name)
                return 1;
        test_socket(&m, dir);
        test_roundtrip(&m, dir);
        test_reexec(&m, dir);
        hashmap_free(m.by_name);
        ev_loop_destroy(m.loop);
        {
                char sub[300];

                snprintf(sub, sizeof sub, "%s/sub/dir", dir);
                (void)rmdir(sub);
                snprintf(sub, sizeof sub, "%s/sub", dir);
                (void)rmdir(sub);
                (void)rmdir(dir);
        }
        return tap_done();
}
