/* fuzz-control: any byte stream a client may send on the control socket, fed
 * through a socketpair into a real connection (control_attach): tendd's
 * framing relay, sd-bus's handshake and parser, then control.c's methods on a
 * manager with a few services (a fake system-call seam: nothing is spawned or
 * signalled). The input is the whole stream, handshake included; it ends
 * with EOF. The connection must close by itself once the stream has ended,
 * with everything freed. */
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "fuzz.h"
#include "log.h"
#include "manager.h"
#include "sys.h"
#include "util.h"

/* Loop turns after EOF before a still open connection counts as a hang. */
#define FUZZ_TURNS_MAX 10000

static char dir[] = "/tmp/tend-fuzz-control.XXXXXX";
static char *tend_ini, *sock_path;
static struct ev_loop *loop;
static pid_t next_pid = 100;

static int fake_spawn(const struct spawn_params *p, pid_t *ret_pid, int *ret_pidfd,
                      const char **ret_step)
{
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); /* never readable: never exits */

        if (fd < 0) {
                *ret_step = "eventfd";
                return -errno;
        }
        *ret_pid = ++next_pid;
        *ret_pidfd = fd;
        *ret_step = NULL;
        return 0;
}

static int fake_signal(int pidfd, int sig, bool group)
{
        return 0;
}

static int fake_reap(int pidfd, siginfo_t *ret)
{
        return 0;
}

static const struct sys_ops fake_ops = {
        .spawn = fake_spawn,
        .pidfd_signal = fake_signal,
        .reap = fake_reap,
        .now = now_monotonic,
};

static void write_file(const char *name, const char *text)
{
        char *path;
        FILE *f;

        fuzz_check(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "we");
        fuzz_check(f);
        fputs(text, f);
        fclose(f);
        free(path);
}

static void setup(void)
{
        char *d;

        if (loop)
                return;
        fuzz_check(mkdtemp(dir));
        fuzz_check(asprintf(&tend_ini, "%s/tend.ini", dir) > 0);
        fuzz_check(asprintf(&sock_path, "%s/tend.sock", dir) > 0);
        fuzz_check(asprintf(&d, "%s/services.d", dir) > 0);
        fuzz_check(mkdir_p(d, 0755) >= 0);
        free(d);
        {
                char *ini;

                fuzz_check(asprintf(&ini, "[tend]\nservices = services.d\nsocket = %s\n"
                                          "log_dir = %s/log\n",
                                    sock_path, dir) > 0);
                write_file("tend.ini", ini);
                free(ini);
        }
        write_file("services.d/a.ini", "[service]\nexec = /bin/true\noutput = null\n");
        write_file("services.d/b.ini",
                   "[service]\nexec = /bin/true\ntype = oneshot\noutput = null\n");
        write_file("services.d/c.ini",
                   "[service]\nexec = /bin/true\ntype = notify\nrequires = a\noutput = null\n");
        write_file("services.d/d.ini", "[service]\nexec = /bin/true\nenabled = no\n"
                                       "output = null\n");
        sys_set(&fake_ops);
        log_set_max_level(LOG_CRIT); /* every call logs at info: noise at a million runs */
        loop = ev_loop_new(EVFLAG_AUTO);
        fuzz_check(loop);
}

/* Read and discard what the server sent. */
static void drain(int fd)
{
        char buf[65536];

        while (read(fd, buf, sizeof buf) > 0)
                ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct config *c = NULL;
        struct manager *m = NULL;
        struct control *ctl = NULL;
        char **errors = NULL;
        size_t off = 0;
        unsigned turns = 0;
        int sp[2];

        setup();
        fuzz_check(config_load(tend_ini, &c, &errors) >= 0);
        strv_free(errors);
        fuzz_check(manager_new(loop, tend_ini, c, &m) >= 0);
        fuzz_check(manager_start(m) >= 0);
        fuzz_check(control_new(m, sock_path, 0600, NULL, &ctl) >= 0);
        fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) >= 0);
        fuzz_check(control_attach(ctl, sp[1]) >= 0);

        while (off < size && control_connections(ctl) > 0) {
                ssize_t n = write(sp[0], data + off, size - off);

                if (n > 0)
                        off += (size_t)n;
                else
                        fuzz_check(n < 0 && (errno == EAGAIN || errno == EPIPE ||
                                             errno == ECONNRESET));
                if (n < 0 && errno != EAGAIN)
                        break;
                (void)ev_run(loop, EVRUN_NOWAIT);
                drain(sp[0]);
        }
        (void)shutdown(sp[0], SHUT_WR);
        while (control_connections(ctl) > 0 && turns++ < FUZZ_TURNS_MAX) {
                (void)ev_run(loop, EVRUN_NOWAIT);
                drain(sp[0]);
        }
        /* EOF reached sd-bus after everything before it: nothing may hold the
         * connection open (a relay or a deadline that never moves). */
        fuzz_check(control_connections(ctl) == 0);
        close(sp[0]);
        control_free(ctl);
        manager_free(m);
        return 0;
}
