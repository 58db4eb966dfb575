/* command.c: one auxiliary command of a service while it runs (see
 * command.h). Spawned, signalled and reaped through the sys seam, so the
 * service's unit tests drive hooks with the fake kernel too. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "command.h"
#include "intmap.h"
#include "state.h"
#include "sys.h"

/* How long command_abandon() waits for a killed command to be reapable. */
#define COMMAND_ABANDON_WAIT_MS 100

enum {
        COMMAND_STATE_PIDFD = 1,
        COMMAND_STATE_PID,
        COMMAND_STATE_DEADLINE,
        COMMAND_STATE_STOP_SIGNAL,
        COMMAND_STATE_TIMED_OUT,
};

/* The commands not reaped yet, by pid, for command_is_child(); made with
 * the first, freed with the last. */
static struct intmap *command_pids;

static int command_register(struct command *c)
{
        if (!command_pids) {
                command_pids = intmap_new();
                if (!command_pids)
                        return -ENOMEM;
        }
        /* A command read from the state stands for the one of the image
         * before, which may be known still (a test in one process). */
        (void)intmap_remove(command_pids, (uint64_t)c->pid);
        return intmap_put(command_pids, (uint64_t)c->pid, c);
}

static void command_unregister(struct command *c)
{
        if (!command_pids || c->pid <= 0 || intmap_get(command_pids, (uint64_t)c->pid) != c)
                return;
        (void)intmap_remove(command_pids, (uint64_t)c->pid);
        if (intmap_size(command_pids) == 0)
                command_pids = intmap_free(command_pids);
}

/* See command.h. */
bool command_is_child(pid_t pid)
{
        return command_pids && intmap_get(command_pids, (uint64_t)pid);
}

static void command_arm(struct command *c)
{
        usec_t now = sys->now();

        ev_timer_stop(c->loop, &c->timer);
        if (c->deadline == USEC_INFINITY)
                return;
        /* libev counts from the loop's cached time, which may be behind
         * sys->now() after a long iteration: the deadline is not early. */
        ev_now_update(c->loop);
        ev_timer_set(&c->timer,
                     (double)(c->deadline > now ? c->deadline - now : 0) / (double)USEC_PER_SEC,
                     0.);
        ev_timer_start(c->loop, &c->timer);
}

static void command_stop_watching(struct command *c)
{
        ev_io_stop(c->loop, &c->watcher);
        ev_timer_stop(c->loop, &c->timer);
}

static void command_pidfd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct command *c = container_of(w, struct command, watcher);
        struct command_result res = { .code = -1 };
        siginfo_t si = { 0 };
        int r;

        r = sys->reap(c->pidfd, &si);
        if (r == 0)
                return; /* not yet */
        command_stop_watching(c);
        command_unregister(c);
        c->pidfd = safe_close(c->pidfd);
        if (c->abandoned) {
                free(c);
                return;
        }
        if (r > 0 && si.si_code == CLD_EXITED) {
                res.exited = true;
                res.code = si.si_status;
        } else if (r > 0)
                res.signal = si.si_status;
        else
                res.signal = SIGKILL; /* cannot be read: say it did not exit */
        res.timed_out = c->timed_out;
        c->done(c, &res, c->userdata);
}

static void command_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct command *c = container_of(w, struct command, timer);

        if (!c->timed_out) {
                c->timed_out = true;
                (void)command_signal(c, c->stop_signal);
                c->deadline = sys->now() + COMMAND_KILL_GRACE;
                command_arm(c);
                return;
        }
        (void)command_signal(c, SIGKILL);
        c->deadline = USEC_INFINITY; /* nothing more to send: its exit follows */
}

static struct command *command_alloc(struct ev_loop *loop, command_done_fn done, void *userdata)
{
        struct command *c = calloc(1, sizeof *c);

        if (!c)
                return NULL;
        c->loop = loop;
        c->pidfd = -1;
        c->deadline = USEC_INFINITY;
        c->done = done;
        c->userdata = userdata;
        ev_io_init(&c->watcher, command_pidfd_cb, -1, EV_READ);
        ev_init(&c->timer, command_timer_cb);
        return c;
}

static void command_watch(struct command *c)
{
        ev_io_set(&c->watcher, c->pidfd, EV_READ);
        ev_io_start(c->loop, &c->watcher);
        command_arm(c);
}

/* See command.h. */
int command_start(struct ev_loop *loop, const struct spawn_params *p, usec_t timeout,
                  int stop_signal, command_done_fn done, void *userdata, struct command **ret,
                  const char **ret_step)
{
        struct command *c = command_alloc(loop, done, userdata);
        int r;

        *ret_step = NULL;
        if (!c)
                return -ENOMEM;
        r = sys->spawn(p, &c->pid, &c->pidfd, ret_step);
        if (r < 0) {
                free(c);
                return r;
        }
        if (command_register(c) < 0) {
                /* Without it tendd's reaper of orphans could take its exit. */
                (void)command_signal(c, SIGKILL);
                c->abandoned = true;
                command_watch(c);
                ev_timer_stop(loop, &c->timer);
                *ret_step = "out of memory";
                return -ENOMEM;
        }
        c->stop_signal = stop_signal > 0 ? stop_signal : SIGTERM;
        c->deadline = timeout == USEC_INFINITY ? USEC_INFINITY : sys->now() + timeout;
        command_watch(c);
        *ret = c;
        return 0;
}

/* See command.h. */
int command_signal(struct command *c, int sig)
{
        int r;

        if (c->pidfd < 0)
                return -ESRCH;
        r = sys->pidfd_signal(c->pidfd, sig, true);
        if (r == -ESRCH)
                r = sys->pidfd_signal(c->pidfd, sig, false); /* its group is empty */
        return r;
}

/* See command.h. */
struct command *command_abandon(struct command *c)
{
        siginfo_t si;

        if (!c)
                return NULL;
        if (c->pidfd < 0) {
                command_stop_watching(c);
                command_unregister(c);
                free(c);
                return NULL;
        }
        (void)command_signal(c, SIGKILL);
        ev_timer_stop(c->loop, &c->timer);
        /* A killed process is gone within a moment, unless the kernel holds
         * it (uninterruptible sleep): wait that moment, not longer. */
        if (c->pidfd >= 0 && sys->spawn == sys_real.spawn)
                (void)poll(&(struct pollfd){ .fd = c->pidfd, .events = POLLIN }, 1,
                           COMMAND_ABANDON_WAIT_MS);
        if (sys->reap(c->pidfd, &si) != 0) {
                /* Gone already (or cannot be waited for): nothing to keep. */
                command_stop_watching(c);
                command_unregister(c);
                safe_close(c->pidfd);
                free(c);
                return NULL;
        }
        c->abandoned = true; /* reaped by its watcher, which frees it */
        return NULL;
}

/* See command.h. */
struct command *command_free(struct command *c)
{
        return command_abandon(c);
}

/* See command.h. */
void command_state_put(const struct command *c, struct state_writer *w, uint16_t tag)
{
        size_t mark;

        if (!c || c->abandoned || c->pidfd < 0)
                return;
        mark = state_begin(w, tag);
        state_put_fd(w, COMMAND_STATE_PIDFD, c->pidfd);
        state_put_i64(w, COMMAND_STATE_PID, c->pid);
        state_put_u64(w, COMMAND_STATE_DEADLINE, c->deadline);
        state_put_i64(w, COMMAND_STATE_STOP_SIGNAL, c->stop_signal);
        state_put_bool(w, COMMAND_STATE_TIMED_OUT, c->timed_out);
        state_end(w, mark);
}

/* See command.h. */
int command_state_get(struct ev_loop *loop, const struct state_reader *v, command_done_fn done,
                      void *userdata, struct command **ret)
{
        struct state_reader rest = *v, item;
        struct command *c = command_alloc(loop, done, userdata);
        uint16_t tag;
        int64_t i;
        int r;

        if (!c)
                return -ENOMEM;
        while ((r = state_next(&rest, &tag, &item)) > 0) {
                switch (tag) {
                case COMMAND_STATE_PIDFD:
                        r = state_get_fd(&item, &c->pidfd);
                        break;
                case COMMAND_STATE_PID:
                        r = state_get_i64(&item, &i);
                        if (r >= 0 && (i < 0 || i > INT32_MAX))
                                r = -EBADMSG;
                        c->pid = (pid_t)i;
                        break;
                case COMMAND_STATE_DEADLINE:
                        r = state_get_u64(&item, &c->deadline);
                        break;
                case COMMAND_STATE_STOP_SIGNAL:
                        r = state_get_i64(&item, &i);
                        if (r >= 0 && (i <= 0 || i >= NSIG))
                                r = -EBADMSG;
                        c->stop_signal = (int)i;
                        break;
                case COMMAND_STATE_TIMED_OUT:
                        r = state_get_bool(&item, &c->timed_out);
                        break;
                default:
                        break; /* a newer record: skipped */
                }
                if (r < 0)
                        break;
        }
        if (r >= 0 && c->pidfd < 0)
                r = -EBADMSG;
        if (r < 0) {
                safe_close(c->pidfd);
                free(c);
                return r;
        }
        if (c->stop_signal == 0)
                c->stop_signal = SIGTERM;
        r = c->pid > 0 ? command_register(c) : 0;
        if (r < 0) {
                safe_close(c->pidfd);
                free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* See command.h. */
void command_resume(struct command *c)
{
        command_watch(c);
}
