/* test-service: the state machine through the syscall seam. Every (state,
 * event) pair is walked; no real process is spawned and nothing sleeps. */
#include <ev.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>

#include "manager.h"
#include "service.h"
#include "sys.h"
#include "tap.h"

/* The fake kernel. */
static struct {
        usec_t now;
        int spawn_err;      /* -errno to fail the next spawns with */
        const char *spawn_step;
        unsigned spawns;
        pid_t next_pid;
        int exit_code;      /* reap result: exit code, or -1 for signal */
        int exit_signal;
        unsigned signals;   /* pidfd_signal calls */
        int last_signal;
        bool last_group;
        int reap_result;    /* 1 reaped, 0 running */
} fake;

static int fake_spawn(const struct spawn_params *p, pid_t *ret_pid, int *ret_pidfd,
                      const char **ret_step)
{
        if (fake.spawn_err) {
                *ret_step = fake.spawn_step;
                return fake.spawn_err;
        }
        fake.spawns++;
        *ret_pid = ++fake.next_pid;
        *ret_pidfd = eventfd(0, EFD_CLOEXEC); /* a real fd for the watcher */
        *ret_step = NULL;
        return 0;
}

static int fake_signal(int pidfd, int sig, bool group)
{
        fake.signals++;
        fake.last_signal = sig;
        fake.last_group = group;
        return 0;
}

static int fake_reap(int pidfd, siginfo_t *ret)
{
        if (fake.reap_result <= 0)
                return fake.reap_result;
        memset(ret, 0, sizeof *ret);
        if (fake.exit_code >= 0) {
                ret->si_code = CLD_EXITED;
                ret->si_status = fake.exit_code;
        } else {
                ret->si_code = CLD_KILLED;
                ret->si_status = fake.exit_signal;
        }
        return 1;
}

static usec_t fake_now(void)
{
        return fake.now;
}

static const struct sys_ops fake_ops = {
        .spawn = fake_spawn,
        .pidfd_signal = fake_signal,
        .reap = fake_reap,
        .now = fake_now,
};

static struct ev_loop *loop;
static struct manager *mgr;
static enum service_state hook_last_old;
static unsigned hook_calls;

static void hook(struct service *s, enum service_state old, void *userdata)
{
        hook_calls++;
        hook_last_old = old;
}

static struct service_config *make_config(enum service_type type, enum restart_policy restart)
{
        struct service_config *sc = calloc(1, sizeof *sc);

        sc->name = strdup("svc");
        sc->file = strdup("/nonexistent/svc.ini");
        sc->exec = strdup("/bin/true");
        sc->argv = calloc(2, sizeof(char *));
        sc->argv[0] = strdup("/bin/true");
        sc->type = type;
        sc->restart = restart;
        sc->restart_delay = 100 * USEC_PER_MSEC;
        sc->restart_max_delay = 1 * USEC_PER_SEC;
        sc->start_limit_burst = 5;
        sc->start_limit_interval = 10 * USEC_PER_SEC;
        sc->stop_signal = SIGTERM;
        sc->stop_timeout = 10 * USEC_PER_SEC;
        sc->output = OUTPUT_NULL;
        sc->output_set = true;
        sc->enabled = true;
        sc->kill_mode = KILL_GROUP;
        sc->ready_fd = -1;
        return sc;
}

static struct service *make_service(enum service_type type, enum restart_policy restart)
{
        struct service *s = NULL;

        /* A new loop iteration: a fresh spawn budget (manager_spawn_slot). */
        ev_run(loop, EVRUN_NOWAIT);
        memset(&fake, 0, sizeof fake);
        fake.now = 1000 * USEC_PER_SEC;
        fake.next_pid = 100;
        fake.reap_result = 1;
        fake.exit_code = 1;
        (void)service_new(mgr, make_config(type, restart), &s);
        return s;
}

/* The main process exits with code (or signal when code < 0). */
static void exit_with(struct service *s, int code, int sig)
{
        fake.exit_code = code;
        fake.exit_signal = sig;
        fake.reap_result = 1;
        service_handle_pidfd(s);
}

static struct service *reach(enum service_state st)
{
        struct service *s;

        switch (st) {
        case SERVICE_STOPPED:
                return make_service(SERVICE_SIMPLE, RESTART_ON_FAILURE);
        case SERVICE_STARTING:
                s = make_service(SERVICE_ONESHOT, RESTART_ON_FAILURE);
                service_dispatch(s, SERVICE_EVENT_START);
                return s;
        case SERVICE_RUNNING:
                s = make_service(SERVICE_SIMPLE, RESTART_ON_FAILURE);
                service_dispatch(s, SERVICE_EVENT_START);
                return s;
        case SERVICE_STOPPING:
                s = reach(SERVICE_RUNNING);
                service_dispatch(s, SERVICE_EVENT_STOP);
                return s;
        case SERVICE_BACKOFF:
                s = reach(SERVICE_RUNNING);
                exit_with(s, 1, 0);
                return s;
        case SERVICE_FAILED:
                s = make_service(SERVICE_SIMPLE, RESTART_NEVER);
                service_dispatch(s, SERVICE_EVENT_START);
                exit_with(s, 1, 0);
                return s;
        default:
                return NULL;
        }
}

static void feed(struct service *s, enum service_event ev)
{
        if (ev == SERVICE_EVENT_EXIT && s->pidfd >= 0)
                exit_with(s, 1, 0); /* a live process exits with a failure */
        else
                service_dispatch(s, ev);
}

static void test_every_pair(void)
{
        /* expected[state][event]: START STOP RESTART EXIT TIMER READY */
        static const enum service_state expected[_SERVICE_STATE_MAX][_SERVICE_EVENT_MAX] = {
                [SERVICE_STOPPED] = { SERVICE_RUNNING, SERVICE_STOPPED, SERVICE_RUNNING,
                                      SERVICE_STOPPED, SERVICE_STOPPED, SERVICE_STOPPED },
                [SERVICE_STARTING] = { SERVICE_STARTING, SERVICE_STOPPING, SERVICE_STOPPING,
                                       SERVICE_BACKOFF, SERVICE_STARTING, SERVICE_RUNNING },
                [SERVICE_RUNNING] = { SERVICE_RUNNING, SERVICE_STOPPING, SERVICE_STOPPING,
                                      SERVICE_BACKOFF, SERVICE_RUNNING, SERVICE_RUNNING },
                [SERVICE_STOPPING] = { SERVICE_STOPPING, SERVICE_STOPPING, SERVICE_STOPPING,
                                       SERVICE_STOPPED, SERVICE_STOPPING, SERVICE_STOPPING },
                [SERVICE_BACKOFF] = { SERVICE_RUNNING, SERVICE_STOPPED, SERVICE_RUNNING,
                                      SERVICE_BACKOFF, SERVICE_RUNNING, SERVICE_BACKOFF },
                [SERVICE_FAILED] = { SERVICE_RUNNING, SERVICE_STOPPED, SERVICE_RUNNING,
                                     SERVICE_FAILED, SERVICE_FAILED, SERVICE_FAILED },
        };

        for (int st = 0; st < _SERVICE_STATE_MAX; st++)
                for (int ev = 0; ev < _SERVICE_EVENT_MAX; ev++) {
                        struct service *s = reach((enum service_state)st);
                        enum service_state want = expected[st][ev];

                        if (!ok(s && s->state == (enum service_state)st, "reach %s",
                                service_state_to_string((enum service_state)st))) {
                                service_free(s);
                                continue;
                        }
                        feed(s, (enum service_event)ev);
                        ok(s->state == want, "%s + %s -> %s (got %s: %s)",
                           service_state_to_string((enum service_state)st),
                           service_event_to_string((enum service_event)ev),
                           service_state_to_string(want), service_state_to_string(s->state),
                           s->reason);
                        ok(service_is_live(s) == (s->pidfd >= 0),
                           "%s + %s: a pidfd exactly when live",
                           service_state_to_string((enum service_state)st),
                           service_event_to_string((enum service_event)ev));
                        service_free(s);
                }
}

static void test_stop_and_kill(void)
{
        struct service *s = reach(SERVICE_RUNNING);

        fake.signals = 0;
        service_dispatch(s, SERVICE_EVENT_STOP);
        ok(fake.signals == 1 && fake.last_signal == SIGTERM && fake.last_group,
           "stop sends stop_signal to the process group");
        ok(!s->want_up, "stop clears want_up");
        ok(ev_is_active(&s->timer), "stop arms the stop timeout");
        service_dispatch(s, SERVICE_EVENT_TIMER);
        ok(fake.last_signal == SIGKILL && fake.last_group && s->state == SERVICE_STOPPING,
           "stop timeout escalates to SIGKILL on the group");
        exit_with(s, -1, SIGKILL);
        ok(s->state == SERVICE_STOPPED && s->exit_signal == SIGKILL && s->pidfd < 0,
           "exit completes the stop (%s)", s->reason);
        ok(!ev_is_active(&s->timer), "stopped: no timer left");
        service_free(s);

        s = reach(SERVICE_RUNNING);
        s->config->kill_mode = KILL_PROCESS;
        s->config->stop_signal = SIGINT;
        service_dispatch(s, SERVICE_EVENT_STOP);
        ok(fake.last_signal == SIGINT && !fake.last_group, "kill_mode=process signals the process only");
        service_free(s);
}

static void test_restart_request(void)
{
        struct service *s = reach(SERVICE_RUNNING);
        pid_t old = s->pid;

        service_dispatch(s, SERVICE_EVENT_RESTART);
        ok(s->state == SERVICE_STOPPING && s->restart_on_exit, "restart stops first");
        exit_with(s, -1, SIGTERM);
        ok(s->state == SERVICE_RUNNING && s->pid != old, "then spawns anew (pid %d -> %d)", old,
           s->pid);
        ok(s->restarts == 0, "an operator restart is not counted as a crash restart");
        service_dispatch(s, SERVICE_EVENT_STOP);
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STOPPING && s->restart_on_exit && s->want_up,
           "start while stopping: comes back up after exit");
        exit_with(s, 0, 0);
        ok(s->state == SERVICE_RUNNING, "and does");
        service_free(s);
}

static void test_backoff(void)
{
        struct service *s = reach(SERVICE_RUNNING);
        usec_t expect[] = { 100, 200, 400, 800, 1000, 1000 };

        s->config->start_limit_burst = 0;
        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                exit_with(s, 1, 0);
                ok(s->state == SERVICE_BACKOFF && service_backoff_delay(s) == expect[i] * USEC_PER_MSEC,
                   "failure %zu: backoff %llu ms (got %llu)", i + 1,
                   (unsigned long long)expect[i],
                   (unsigned long long)(service_backoff_delay(s) / USEC_PER_MSEC));
                ok(ev_is_active(&s->timer), "backoff timer armed");
                fake.now += service_backoff_delay(s);
                service_dispatch(s, SERVICE_EVENT_TIMER);
                ok(s->state == SERVICE_RUNNING && s->restarts == i + 1, "timer respawns, restarts=%u",
                   s->restarts);
        }
        /* Stays up longer than the cap: the backoff resets. */
        fake.now += 2 * USEC_PER_SEC;
        exit_with(s, 1, 0);
        ok(service_backoff_delay(s) == 100 * USEC_PER_MSEC, "stable uptime resets the backoff");
        /* Far into a crash loop the delay is still the cap, computed at once. */
        s->backoff_step = UINT_MAX;
        ok(service_backoff_delay(s) == s->config->restart_max_delay, "step UINT_MAX: the cap");
        s->config->restart_delay = 0;
        ok(service_backoff_delay(s) == 0, "restart_delay 0: no delay at any step");
        service_free(s);
}

static void test_start_limit(void)
{
        struct service *s = reach(SERVICE_RUNNING);

        for (int i = 0; i < 4; i++) {
                exit_with(s, 1, 0);
                ok(s->state == SERVICE_BACKOFF, "crash %d within burst: backoff", i + 1);
                fake.now += 10 * USEC_PER_MSEC;
                service_dispatch(s, SERVICE_EVENT_TIMER);
        }
        exit_with(s, 1, 0);
        ok(s->state == SERVICE_FAILED && strstr(s->reason, "start limit"),
           "5 starts within the interval: failed (%s)", s->reason);
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_RUNNING, "operator start clears the limit");
        exit_with(s, 1, 0);
        ok(s->state == SERVICE_BACKOFF, "and the count starts over");
        service_free(s);

        /* Starts spread out over more than the interval never hit it. */
        s = reach(SERVICE_RUNNING);
        for (int i = 0; i < 10; i++) {
                fake.now += 3 * USEC_PER_SEC;
                exit_with(s, 1, 0);
                service_dispatch(s, SERVICE_EVENT_TIMER);
        }
        ok(s->state == SERVICE_RUNNING, "slow crashes stay under the limit");
        service_free(s);
}

static void test_policies(void)
{
        struct service *s;

        s = make_service(SERVICE_SIMPLE, RESTART_ON_FAILURE);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, 0, 0);
        ok(s->state == SERVICE_STOPPED, "on-failure + exit 0: stopped (%s)", s->reason);
        service_free(s);

        s = make_service(SERVICE_SIMPLE, RESTART_ALWAYS);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, 0, 0);
        ok(s->state == SERVICE_BACKOFF, "always + exit 0: restarted");
        service_free(s);

        s = make_service(SERVICE_SIMPLE, RESTART_NEVER);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, -1, SIGSEGV);
        ok(s->state == SERVICE_FAILED && strstr(s->reason, "SEGV"), "never + SIGSEGV: failed (%s)",
           s->reason);
        ok(fake.last_signal == SIGKILL && fake.last_group,
           "leftovers in the process group are killed when the main process exits");
        service_free(s);

        s = make_service(SERVICE_ONESHOT, RESTART_ON_FAILURE);
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STARTING, "oneshot is starting while it runs");
        exit_with(s, 0, 0);
        ok(s->state == SERVICE_STOPPED && strcmp(s->reason, "completed") == 0,
           "oneshot exit 0: completed");
        service_free(s);

        s = make_service(SERVICE_SIMPLE, RESTART_ALWAYS);
        fake.spawn_err = -ENOENT;
        fake.spawn_step = "exec";
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_FAILED && strstr(s->reason, "No such file or directory") &&
                   strstr(s->reason, "exec"),
           "exec failure: failed with the reason (%s)", s->reason);
        ok(s->restarts == 0 && !ev_is_active(&s->timer), "exec failure is not retried");
        service_free(s);

        s = reach(SERVICE_RUNNING);
        fake.reap_result = 0;
        service_handle_pidfd(s);
        ok(s->state == SERVICE_RUNNING && s->pidfd >= 0, "spurious pidfd wakeup changes nothing");
        service_free(s);
}

static void test_readiness(void)
{
        struct service *s = make_service(SERVICE_NOTIFY, RESTART_ON_FAILURE);
        struct service_notify_msg msg = { .mainpid_fd = -1 };

        s->config->ready_timeout = 2 * USEC_PER_SEC;
        s->config->watchdog = 500 * USEC_PER_MSEC;
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STARTING && ev_is_active(&s->timer),
           "notify: starting, ready timeout armed");
        msg.status = "warming up";
        service_handle_notify(s, &msg);
        ok(s->state == SERVICE_STARTING && s->status_text && strcmp(s->status_text, "warming up") == 0,
           "STATUS= is kept, readiness unchanged");
        msg = (struct service_notify_msg){ .mainpid_fd = -1, .ready = true };
        service_handle_notify(s, &msg);
        ok(s->state == SERVICE_RUNNING && ev_is_active(&s->timer) &&
                   s->watchdog_usec == 500 * USEC_PER_MSEC,
           "READY=1: running, watchdog armed");
        fake.signals = 0;
        service_dispatch(s, SERVICE_EVENT_TIMER);
        ok(s->state == SERVICE_STOPPING && s->stop_cause == STOP_CAUSE_WATCHDOG &&
                   fake.last_signal == SIGABRT && !fake.last_group,
           "watchdog expiry: SIGABRT to the main process (%s)", s->reason);
        service_dispatch(s, SERVICE_EVENT_TIMER);
        ok(fake.last_signal == SIGKILL, "then SIGKILL after stop_timeout");
        exit_with(s, -1, SIGABRT);
        ok(s->state == SERVICE_BACKOFF && strstr(s->reason, "watchdog"),
           "the restart policy decides: backoff (%s)", s->reason);
        service_free(s);

        s = make_service(SERVICE_NOTIFY, RESTART_NEVER);
        s->config->ready_timeout = USEC_PER_SEC;
        service_dispatch(s, SERVICE_EVENT_START);
        service_dispatch(s, SERVICE_EVENT_TIMER);
        ok(s->state == SERVICE_STOPPING && s->stop_cause == STOP_CAUSE_READY_TIMEOUT &&
                   fake.last_signal == SIGTERM,
           "ready timeout: stopped with stop_signal");
        exit_with(s, -1, SIGTERM);
        ok(s->state == SERVICE_FAILED && strstr(s->reason, "not ready"),
           "handled as a failed start (%s)", s->reason);
        service_free(s);

        s = make_service(SERVICE_NOTIFY, RESTART_ON_FAILURE);
        s->config->ready_timeout = USEC_PER_SEC;
        service_dispatch(s, SERVICE_EVENT_START);
        msg = (struct service_notify_msg){ .mainpid_fd = -1, .has_extend = true,
                                           .extend_usec = 5 * USEC_PER_SEC };
        service_handle_notify(s, &msg);
        ok(ev_timer_remaining(loop, &s->timer) > 4.0, "EXTEND_TIMEOUT_USEC extends the timeout");
        exit_with(s, 0, 0);
        ok(s->state == SERVICE_BACKOFF && strstr(s->reason, "before it was ready"),
           "exit 0 before READY=1 is a failed start (%s)", s->reason);
        service_free(s);
}

static void test_hook(void)
{
        struct service *s = make_service(SERVICE_SIMPLE, RESTART_ON_FAILURE);

        hook_calls = 0;
        mgr->n_live = 0;
        service_dispatch(s, SERVICE_EVENT_START);
        ok(hook_calls == 1 && hook_last_old == SERVICE_STOPPED, "state hook sees old state");
        ok(mgr->n_live == 1, "manager counts live services");
        service_dispatch(s, SERVICE_EVENT_STOP);
        exit_with(s, 0, 0);
        ok(mgr->n_live == 0, "and stops counting them");
        service_free(s);
}

/* More spawns in one loop iteration than the budget: the rest wait in order,
 * keep their state, and go out in later iterations; a stop cancels one. */
static void test_spawn_budget(void)
{
        struct service *s[100];
        unsigned spawned = 0, rounds = 0;

        ev_run(loop, EVRUN_NOWAIT);
        memset(&fake, 0, sizeof fake);
        fake.next_pid = 100;
        for (size_t i = 0; i < ELEMENTSOF(s); i++) {
                (void)service_new(mgr, make_config(SERVICE_SIMPLE, RESTART_ON_FAILURE), &s[i]);
                service_dispatch(s[i], SERVICE_EVENT_START);
        }
        ok(fake.spawns > 0 && fake.spawns < ELEMENTSOF(s), "one iteration spawns %u of %zu",
           fake.spawns, ELEMENTSOF(s));
        ok(s[ELEMENTSOF(s) - 1]->state == SERVICE_STOPPED && s[ELEMENTSOF(s) - 1]->spawn_queued,
           "the last one waits, stopped, in the spawn queue");
        service_dispatch(s[ELEMENTSOF(s) - 2], SERVICE_EVENT_STOP);
        while (fake.spawns != spawned && rounds++ < 100) {
                spawned = fake.spawns;
                ev_run(loop, EVRUN_NOWAIT);
        }
        ok(fake.spawns == ELEMENTSOF(s) - 1, "later iterations spawn the rest but the stopped one "
           "(%u)", fake.spawns);
        ok(s[ELEMENTSOF(s) - 1]->state == SERVICE_RUNNING && !s[ELEMENTSOF(s) - 1]->spawn_queued,
           "the last one runs");
        ok(s[ELEMENTSOF(s) - 2]->state == SERVICE_STOPPED, "the stopped one stays stopped");
        ok(rounds > 1, "it took %u iterations", rounds);
        for (size_t i = 0; i < ELEMENTSOF(s); i++)
                service_free(s[i]);
}

int main(void)
{
        struct config *c = calloc(1, sizeof *c);

        c->log_dir = strdup("/nonexistent");
        loop = ev_loop_new(EVFLAG_AUTO);
        sys_set(&fake_ops);
        if (manager_new(loop, "/nonexistent/tend.ini", c, &mgr) < 0)
                return 1;
        mgr->state_hook = hook;
        test_every_pair();
        test_stop_and_kill();
        test_restart_request();
        test_backoff();
        test_start_limit();
        test_policies();
        test_readiness();
        test_hook();
        test_spawn_budget();
        mgr->n_services = 0;
        manager_free(mgr);
        ev_loop_destroy(loop);
        return tap_done();
}
