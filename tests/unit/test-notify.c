/* test-notify: parsing sd_notify datagrams; the socket handed over to a new
 * image (notify_state_put, notify_new_from_state). */
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "notify.h"
#include "state.h"
#include "state-find.h"
#include "tap.h"

static int parse(const char *text, struct service_notify_msg *msg)
{
        static char buf[4200];
        size_t n = strlen(text);

        memcpy(buf, text, n + 1);
        return notify_parse(buf, n, msg);
}

static int send_to(const char *path, const char *msg)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ssize_t n;

        (void)snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        n = sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sa, sizeof sa);
        close(fd);
        return n < 0 ? -errno : 0;
}

/* The socket across a re-execution: a datagram sent before it waits in the
 * queue and is read by the new image, which serves the same path. */
static void test_handover(void)
{
        char dir[] = "/tmp/test-notify-XXXXXX", *path = NULL, *moved = NULL, buf[64];
        struct config *c = calloc(1, sizeof *c);
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
        struct sockaddr_un sa;
        socklen_t salen = sizeof sa;
        struct manager *m = NULL;
        struct notify *n = NULL;
        struct state_writer w;
        struct state_reader v;
        int fd = -1, keep, pending = -1, p[2];
        ssize_t len;

        if (!mkdtemp(dir) || asprintf(&c->log_dir, "%s/log", dir) < 0 ||
            manager_new(loop, "/nonexistent/tend.ini", c, &m) < 0)
                abort();
        (void)asprintf(&path, "%s/notify.sock", dir);
        (void)asprintf(&moved, "%s/moved.sock", dir);
        ok(notify_new(m, path, &n) == 0, "notify_new");
        state_writer_init(&w);
        ok(notify_state_put(n, &w, 3) == 0 && w.n_fds == 1, "notify_state_put: one fd kept");
        if (w.n_fds == 1)
                fd = w.fds[0];
        ok(fd >= 0 && getsockname(fd, (struct sockaddr *)&sa, &salen) == 0 &&
                   strcmp(sa.sun_path, path) == 0,
           "the bound socket");
        ok(send_to(path, "READY=1") == 0, "a datagram sent during the exec");

        /* The old image goes without unlinking the socket or reading it. */
        keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        (void)rename(path, moved);
        n = notify_free(n);
        (void)rename(moved, path);
        (void)dup2(keep, fd);
        close(keep);
        ok(m->host.notify_path == NULL, "the old image's path is gone with it");

        ok(state_find(&w, 3, &v) == 0 && notify_new_from_state(m, &v, &n) == 0 && n,
           "notify_new_from_state");
        ok(m->host.notify_path && strcmp(m->host.notify_path, path) == 0,
           "services are given the same path");
        ok(fcntl(fd, F_GETFD) == FD_CLOEXEC, "the socket is close-on-exec again");
        len = recv(fd, buf, sizeof buf - 1, MSG_PEEK | MSG_DONTWAIT);
        ok(len == 7 && memcmp(buf, "READY=1", 7) == 0, "the datagram waits in the queue");
        ev_run(loop, EVRUN_NOWAIT);
        ok(ioctl(fd, FIONREAD, &pending) == 0 && pending == 0, "and the new image reads it");
        ok(send_to(path, "READY=1") == 0, "the path reaches the new image");
        ev_run(loop, EVRUN_NOWAIT);
        ok(ioctl(fd, FIONREAD, &pending) == 0 && pending == 0, "which reads that too");
        n = notify_free(n);
        ok(access(path, F_OK) < 0, "notify_free unlinks it as before");
        state_writer_free(&w);

        /* Not a datagram socket: refused. */
        (void)pipe2(p, O_CLOEXEC);
        /* A number no restore above claimed: each may be claimed once. */
        p[0] = fcntl(p[0], F_DUPFD_CLOEXEC, 900);
        state_writer_init(&w);
        {
                size_t mark = state_begin(&w, 3);
                state_put_fd(&w, 1, p[0]);
                state_put_str(&w, 2, path);
                state_put_u64(&w, 77, 1); /* a newer image's record: skipped */
                state_end(&w, mark);
        }
        ok(state_find(&w, 3, &v) == 0 && notify_new_from_state(m, &v, &n) == -ENOTSOCK,
           "a pipe is not a notify socket: -ENOTSOCK");
        state_writer_free(&w);
        state_writer_init(&w);
        {
                size_t mark = state_begin(&w, 3);
                state_put_str(&w, 2, path);
                state_end(&w, mark);
        }
        ok(state_find(&w, 3, &v) == 0 && notify_new_from_state(m, &v, &n) == -EBADMSG,
           "no socket in the state: -EBADMSG");
        state_writer_free(&w);
        close(p[1]);
        manager_free(m);
        ev_loop_destroy(loop);
        (void)rmdir(dir);
        free(path);
        free(moved);
}

int main(void)
{
        struct service_notify_msg m;
        char *path = NULL;

        ok(parse("READY=1", &m) == 0 && m.ready && !m.status, "READY=1");
        ok(parse("READY=1\nSTATUS=serving 10 clients\n", &m) == 0 && m.ready && m.status &&
                   strcmp(m.status, "serving 10 clients") == 0,
           "READY and STATUS, trailing newline");
        ok(parse("STATUS=", &m) == 0 && m.status && !*m.status, "empty STATUS clears it");
        ok(parse("WATCHDOG=1", &m) == 0 && m.watchdog && !m.watchdog_trigger, "WATCHDOG=1");
        ok(parse("WATCHDOG=trigger", &m) == 0 && m.watchdog_trigger, "WATCHDOG=trigger");
        ok(parse("WATCHDOG_USEC=2000000", &m) == 0 && m.has_watchdog_usec &&
                   m.watchdog_usec == 2000000,
           "WATCHDOG_USEC=");
        ok(parse("EXTEND_TIMEOUT_USEC=5000000", &m) == 0 && m.has_extend &&
                   m.extend_usec == 5000000,
           "EXTEND_TIMEOUT_USEC=");
        ok(parse("RELOADING=1\nMONOTONIC_USEC=123", &m) == 0 && m.reloading, "RELOADING=1");
        ok(parse("STOPPING=1", &m) == 0 && m.stopping, "STOPPING=1");
        ok(parse("ERRNO=2", &m) == 0 && m.has_errno && m.errno_value == 2, "ERRNO=");
        ok(parse("MAINPID=4242", &m) == 0 && m.mainpid == 4242 && m.mainpid_fd == -1,
           "MAINPID= parsed, not yet opened");
        ok(parse("MAINPID=0", &m) == -EINVAL, "MAINPID=0 ignored");
        ok(parse("MAINPID=-5\nERRNO=x\nWATCHDOG_USEC=soon", &m) == -EINVAL,
           "malformed values are ignored");
        ok(parse("READY=0", &m) == -EINVAL && !m.ready, "READY=0 is not readiness");
        ok(parse("FOO=bar\nX", &m) == -EINVAL, "unknown keys only: nothing to do");
        ok(parse("BARRIER=1", &m) == 0, "BARRIER=1 is understood");
        ok(parse("READYX=1\nREADY", &m) == -EINVAL, "keys match exactly");
        ok(notify_default_path("/run/tend/tend.sock", &path) == 0 &&
                   strcmp(path, "/run/tend/notify.sock") == 0,
           "notify socket next to the control socket");
        free(path);
        test_handover();
        return tap_done();
}
