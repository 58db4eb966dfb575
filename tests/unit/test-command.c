/* test-command: command.c with real processes on a real loop: an exit code,
 * a signal, the timeout (stop signal, then SIGKILL when it is ignored), an
 * abandoned command killed and reaped, the pids the orphan reaper must leave,
 * and a running command taken through its state record. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "command.h"
#include "spawn.h"
#include "state.h"
#include "sys.h"
#include "tap.h"
#include "util.h"

struct done {
        bool called;
        struct command_result res;
};

static void done_cb(struct command *c, const struct command_result *res, void *userdata)
{
        struct done *d = userdata;

        d->called = true;
        d->res = *res;
}

static int start(struct ev_loop *loop, const char *line, usec_t timeout, struct done *d,
                 struct command **ret)
{
        char *argv[] = { "/bin/sh", "-c", (char *)line, NULL };
        char *envp[] = { "PATH=/usr/bin:/bin", NULL };
        struct spawn_params p = {
                .path = "/bin/sh",
                .argv = argv,
                .envp = envp,
                .workdir = "/",
                .stdout_fd = -1,
                .stderr_fd = -1,
                .cgroup_fd = -1,
        };
        const char *step;

        *d = (struct done){ 0 };
        return command_start(loop, &p, timeout, SIGTERM, done_cb, d, ret, &step);
}

/* Run the loop until d is called or limit passes; the time it took. */
static usec_t run_until(struct ev_loop *loop, struct done *d, usec_t limit)
{
        usec_t t0 = now_monotonic();

        while (!d->called && now_monotonic() - t0 < limit)
                ev_run(loop, EVRUN_ONCE);
        return now_monotonic() - t0;
}

static void test_exit_and_signal(struct ev_loop *loop)
{
        struct command *c = NULL;
        struct done d;
        pid_t pid;

        ok(start(loop, "exit 7", USEC_INFINITY, &d, &c) == 0 && c, "started");
        pid = c->pid;
        ok(command_is_child(pid), "its pid is known while it is not reaped");
        run_until(loop, &d, 10 * USEC_PER_SEC);
        ok(d.called && d.res.exited && d.res.code == 7 && d.res.signal == 0 && !d.res.timed_out,
           "exit code 7 reported");
        ok(!command_is_child(pid), "and forgotten once reaped");
        c = command_free(c);

        ok(start(loop, "kill -USR1 $$", USEC_INFINITY, &d, &c) == 0, "started");
        run_until(loop, &d, 10 * USEC_PER_SEC);
        ok(d.called && !d.res.exited && d.res.code == -1 && d.res.signal == SIGUSR1,
           "killed by USR1 reported");
        c = command_free(c);
}

static void test_timeout(struct ev_loop *loop)
{
        struct command *c = NULL;
        struct done d;
        usec_t took;

        ok(start(loop, "exec sleep 100", 50 * USEC_PER_MSEC, &d, &c) == 0, "started");
        took = run_until(loop, &d, 10 * USEC_PER_SEC);
        ok(d.called && d.res.signal == SIGTERM && d.res.timed_out,
           "at its timeout: the stop signal, said to have timed out");
        ok(took < 2 * USEC_PER_SEC, "promptly (%llu ms)", (unsigned long long)(took / 1000));
        c = command_free(c);

        /* It ignores the stop signal: SIGKILL after the grace. */
        ok(start(loop, "trap '' TERM; sleep 100", 50 * USEC_PER_MSEC, &d, &c) == 0, "started");
        took = run_until(loop, &d, 10 * USEC_PER_SEC);
        ok(d.called && d.res.signal == SIGKILL && d.res.timed_out, "then SIGKILL");
        ok(took >= COMMAND_KILL_GRACE && took < COMMAND_KILL_GRACE + 2 * USEC_PER_SEC,
           "after COMMAND_KILL_GRACE (%llu ms)", (unsigned long long)(took / 1000));
        c = command_free(c);
}

static void test_abandon(struct ev_loop *loop)
{
        struct command *c = NULL;
        struct done d;
        pid_t pid;

        ok(start(loop, "sleep 100 & sleep 100", USEC_INFINITY, &d, &c) == 0, "started");
        pid = c->pid;
        c = command_abandon(c);
        ok(!c, "abandoned");
        /* Killed with its group and reaped (at once or in the loop). */
        for (int i = 0; i < 100 && command_is_child(pid); i++)
                ev_run(loop, EVRUN_NOWAIT);
        ok(!command_is_child(pid), "reaped");
        /* Its other process was killed with it; once init reaps it, the
         * group is empty (a bounded wait for another process's work). */
        for (int i = 0; i < 500 && kill(-pid, 0) == 0; i++)
                (void)poll(NULL, 0, 10);
        ok(kill(-pid, 0) < 0 && errno == ESRCH, "nothing left of its process group");
        ok(!d.called, "no callback for an abandoned command");
        ok(command_abandon(NULL) == NULL && command_free(NULL) == NULL, "NULL-safe");
}

static void test_state(struct ev_loop *loop)
{
        struct command *c = NULL, *again = NULL;
        struct state_writer w;
        struct state_reader body, rec;
        struct done d, d2 = { 0 };
        void *map = NULL;
        size_t map_len = 0;
        uint16_t tag;
        int fd;

        ok(start(loop, "exec sleep 100", 10 * USEC_PER_SEC, &d, &c) == 0, "started");
        state_writer_init(&w);
        state_put_header(&w);
        command_state_put(c, &w, 9);
        fd = state_writer_memfd(&w);
        ok(fd >= 0, "written");
        ok(state_open(fd, &body, &map, &map_len) == 0 && state_next(&body, &tag, &rec) == 1 &&
                   tag == 9,
           "one record");
        /* As the new image would: another command for the same pidfd (the
         * old one is dropped without a kill: it stands for the old image). */
        ev_io_stop(loop, &c->watcher);
        ev_timer_stop(loop, &c->timer);
        ok(command_state_get(loop, &rec, done_cb, &d2, &again) == 0 && again &&
                   again->pidfd == c->pidfd && again->pid == c->pid && !again->timed_out,
           "read back: its pidfd, pid and deadline");
        ok(again && again->deadline == c->deadline, "the same deadline");
        free(c);
        command_resume(again);
        kill(again->pid, SIGTERM);
        run_until(loop, &d2, 10 * USEC_PER_SEC);
        ok(d2.called && d2.res.signal == SIGTERM, "its end is reported to the new callback");
        command_free(again);
        state_unmap(map, map_len);
        state_writer_free(&w);
}

int main(void)
{
        struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

        (void)spawn_signals_setup();
        test_exit_and_signal(loop);
        test_timeout(loop);
        test_abandon(loop);
        test_state(loop);
        ev_loop_destroy(loop);
        return tap_done();
}
