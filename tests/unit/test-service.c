/* test-service: the state machine through the syscall seam. Every (state,
 * event) pair is walked; no real process is spawned and nothing sleeps. */
#include <ev.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "cgroup.h"
#include "command.h"
#include "fake-sys.h"
#include "health.h"
#include "service.h"
#include "state.h"
#include <sys/syscall.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tap.h"

/* The stub host: records what the service asked, answers as told. */
static struct {
        unsigned state_changes;
        enum service_state last_old;
        size_t unmet;           /* dependencies reported not ready */
        bool unmet_failed;
        unsigned pulls;
        size_t blockers;        /* dependents reported in the way of a stop */
        bool spawn_denied;      /* spawn_slot says: wait your turn */
        unsigned slot_asks;
        int sessions;           /* live sessions indexed */
        unsigned reaped;
} host_log;

static void stub_state_changed(struct service *s, enum service_state old, void *userdata)
{
        host_log.state_changes++;
        host_log.last_old = old;
}

static size_t stub_unmet(struct service *s, char *buf, size_t len, bool *ret_failed,
                         void *userdata)
{
        *ret_failed = host_log.unmet_failed;
        if (host_log.unmet > 0)
                (void)snprintf(buf, len, "%s %s", host_log.unmet_failed ? "requirement" : "waiting for",
                               host_log.unmet_failed ? "db failed" : "db");
        return host_log.unmet;
}

static void stub_pull(struct service *s, void *userdata)
{
        host_log.pulls++;
}

static size_t stub_blockers(struct service *s, char *buf, size_t len, void *userdata)
{
        (void)snprintf(buf, len, "%s", host_log.blockers ? "web" : "");
        return host_log.blockers;
}

static bool stub_spawn_slot(struct service *s, void *userdata)
{
        host_log.slot_asks++;
        if (host_log.spawn_denied)
                s->spawn_queued = true; /* as a host's queue would */
        return !host_log.spawn_denied;
}

static void stub_session(struct service *s, bool live, void *userdata)
{
        host_log.sessions += live ? 1 : -1;
}

static void stub_reaped(struct service *s, void *userdata)
{
        host_log.reaped++;
}

static const struct service_host_ops stub_ops = {
        .state_changed = stub_state_changed,
        .unmet_dependencies = stub_unmet,
        .pull_requirements = stub_pull,
        .stop_blockers = stub_blockers,
        .spawn_slot = stub_spawn_slot,
        .session = stub_session,
        .reaped = stub_reaped,
};

static struct ev_loop *loop;
static struct service_host host = { .log_dir = "/nonexistent", .ops = &stub_ops };

static struct service *make_service(enum service_type type, enum restart_policy restart)
{
        struct service *s = NULL;

        fake_reset();
        memset(&host_log, 0, sizeof host_log);
        (void)service_new(&host, make_config(type, restart), &s);
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

/* The invariants of the state machine and the flags beside it (listed in
 * doc/DESIGN.md); NULL if they hold, else the first one broken. */
static const char *broken_invariant(const struct service *s)
{
        bool timed = s->state == SERVICE_STARTING || s->state == SERVICE_RUNNING ||
                     s->state == SERVICE_STOPPING || s->state == SERVICE_BACKOFF;

        if (service_is_live(s) != (s->pidfd >= 0))
                return "a pidfd exactly when live";
        if (ev_is_active(&s->timer) && !timed)
                return "a timer only in starting, running, stopping, backoff";
        if (s->state == SERVICE_STOPPING && !ev_is_active(&s->timer))
                return "stopping always has its stop timeout";
        if ((s->stop_cause != STOP_CAUSE_NONE) != (s->state == SERVICE_STOPPING))
                return "a stop cause exactly while stopping";
        if (s->stop_pending != STOP_CAUSE_NONE &&
            s->state != SERVICE_STARTING && s->state != SERVICE_RUNNING)
                return "a deferred stop only while starting or running";
        if (s->restart_on_exit && s->state != SERVICE_STOPPING &&
            s->stop_pending != STOP_CAUSE_RESTART)
                return "restart_on_exit only in a stop (or a deferred restart)";
        if (s->waiting && (s->state != SERVICE_STOPPED || !s->want_up))
                return "waiting only stopped and wanted up";
        if (s->dep_failed && !s->waiting)
                return "dep_failed only while waiting";
        if (s->completed && (s->state != SERVICE_STOPPED || s->config->type != SERVICE_ONESHOT))
                return "completed only for a stopped oneshot";
        if (s->ready_fd >= 0 && !service_is_live(s))
                return "a ready fd only while live";
        if (s->spawn_granted)
                return "spawn_granted only inside service_start_queued()";
        if (!s->reason)
                return "a reason, always";
        if (s->health && !service_config_has_health(s->config))
                return "a health check only with one configured";
        if (s->health && s->health->active && s->state != SERVICE_RUNNING &&
            s->state != SERVICE_STARTING)
                return "health probes only while starting or running";
        if (s->health && s->health->active && s->pidfd < 0)
                return "health probes only while its main process runs";
        return NULL;
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
                        ok(!broken_invariant(s), "%s + %s: the invariants hold (%s)",
                           service_state_to_string((enum service_state)st),
                           service_event_to_string((enum service_event)ev),
                           broken_invariant(s) ? broken_invariant(s) : "all");
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
        s->config->kill_mode_set = true;
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

/* success_exit_codes and restart_prevent_exit_codes on the service's own
 * exits; a stop by tend is clean whatever they say. */
static void test_exit_code_policy(void)
{
        struct service *s;

        s = make_service(SERVICE_SIMPLE, RESTART_ON_FAILURE);
        s->config->success_exit.status[0] = 1ULL << 3;
        s->config->success_exit.signals = 1ULL << (SIGTERM - 1);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, 3, 0);
        ok(s->state == SERVICE_STOPPED &&
                   strcmp(s->reason, "exited with code 3 (success_exit_codes)") == 0,
           "on-failure + a success code: stopped (%s)", s->reason);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, -1, SIGTERM);
        ok(s->state == SERVICE_STOPPED &&
                   strcmp(s->reason, "killed by signal TERM (success_exit_codes)") == 0,
           "on-failure + a success signal: stopped (%s)", s->reason);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, 4, 0);
        ok(s->state == SERVICE_BACKOFF, "on-failure + another code: restarted (%s)", s->reason);
        service_free(s);

        s = make_service(SERVICE_ONESHOT, RESTART_ON_FAILURE);
        s->config->success_exit.status[1] = 1ULL << (100 - 64);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, 100, 0);
        ok(s->state == SERVICE_STOPPED && s->completed &&
                   strcmp(s->reason, "completed, exited with code 100 (success_exit_codes)") == 0,
           "oneshot + a success code: completed (%s)", s->reason);
        service_free(s);

        s = make_service(SERVICE_SIMPLE, RESTART_ALWAYS);
        s->config->prevent_exit.status[1] = 1ULL << (78 - 64);
        s->config->prevent_exit.status[0] = 1ULL << 0;
        s->config->prevent_exit.signals = 1ULL << (SIGUSR1 - 1);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, 78, 0);
        ok(s->state == SERVICE_FAILED && s->restarts == 0 && !ev_is_active(&s->timer) &&
                   strcmp(s->reason, "exited with code 78 (restart_prevent_exit_codes)") == 0,
           "always + a prevent code: failed, no restart (%s)", s->reason);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, -1, SIGUSR1);
        ok(s->state == SERVICE_FAILED &&
                   strcmp(s->reason, "killed by signal USR1 (restart_prevent_exit_codes)") == 0,
           "always + a prevent signal: failed (%s)", s->reason);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, 0, 0);
        ok(s->state == SERVICE_STOPPED &&
                   strcmp(s->reason, "exited with code 0 (restart_prevent_exit_codes)") == 0,
           "always + a prevent code that is a success: stopped (%s)", s->reason);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, 1, 0);
        ok(s->state == SERVICE_BACKOFF, "always + another code: restarted (%s)", s->reason);
        service_free(s);

        s = make_service(SERVICE_NOTIFY, RESTART_ALWAYS);
        s->config->prevent_exit.status[1] = 1ULL << (78 - 64);
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, 78, 0);
        ok(s->state == SERVICE_FAILED &&
                   strcmp(s->reason, "exited with code 78 before it was ready "
                                     "(restart_prevent_exit_codes)") == 0,
           "a prevent code before ready: failed (%s)", s->reason);
        service_free(s);

        s = make_service(SERVICE_SIMPLE, RESTART_ALWAYS);
        s->config->prevent_exit.signals = 1ULL << (SIGTERM - 1);
        service_dispatch(s, SERVICE_EVENT_START);
        service_dispatch(s, SERVICE_EVENT_STOP);
        exit_with(s, -1, SIGTERM);
        ok(s->state == SERVICE_STOPPED && strcmp(s->reason, "stopped, killed by signal TERM") == 0,
           "an operator's stop is clean whatever the lists say (%s)", s->reason);
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

/* Everything beyond itself goes through the host: changes are reported,
 * dependencies and spawn turns asked, sessions and reaps announced. */
static void test_host(void)
{
        struct service *s = make_service(SERVICE_SIMPLE, RESTART_ON_FAILURE);

        service_dispatch(s, SERVICE_EVENT_START);
        ok(host_log.state_changes == 1 && host_log.last_old == SERVICE_STOPPED,
           "the host hears of the change, with the old state");
        ok(host_log.pulls == 1 && host_log.slot_asks == 1 && host_log.sessions == 1,
           "an operator start pulls requirements, asks for a spawn slot, indexes the session");
        exit_with(s, 1, 0);
        ok(host_log.reaped == 1 && host_log.sessions == 0, "the reap is announced, the session gone");
        service_free(s);

        s = make_service(SERVICE_SIMPLE, RESTART_ON_FAILURE);
        host_log.unmet = 1;
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STOPPED && s->waiting && strcmp(s->reason, "waiting for db") == 0 &&
                   fake.spawns == 0,
           "unmet dependencies: stopped, waiting, with the host's words (%s)", s->reason);
        ok(service_start_outcome(s) == SERVICE_OUTCOME_PENDING, "a start is pending meanwhile");
        host_log.unmet_failed = true;
        service_start_waiting(s);
        ok(s->dep_failed && service_start_outcome(s) == SERVICE_OUTCOME_FAILED,
           "a failed requirement fails the start (%s)", s->reason);
        host_log.unmet = 0;
        host_log.unmet_failed = false;
        service_start_waiting(s);
        ok(s->state == SERVICE_RUNNING && !s->waiting, "dependencies ready: it spawns");
        host_log.blockers = 1;
        service_dispatch(s, SERVICE_EVENT_STOP);
        ok(s->state == SERVICE_RUNNING && s->stop_pending == STOP_CAUSE_OPERATOR &&
                   strcmp(s->reason, "stopping after web") == 0 && fake.signals == 0,
           "a dependent in the way: the stop waits (%s)", s->reason);
        ok(service_stop_outcome(s) == SERVICE_OUTCOME_PENDING, "the stop is pending meanwhile");
        host_log.blockers = 0;
        service_stop_now(s);
        ok(s->state == SERVICE_STOPPING && fake.last_signal == SIGTERM, "then it stops");
        service_free(s);

        s = make_service(SERVICE_SIMPLE, RESTART_ON_FAILURE);
        host_log.spawn_denied = true;
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STOPPED && s->want_up && fake.spawns == 0,
           "no spawn slot: it waits in its state, wanted up");
        ok(service_start_outcome(s) == SERVICE_OUTCOME_PENDING,
           "a start waiting for its spawn turn is pending, not failed");
        host_log.spawn_denied = false;
        s->spawn_queued = false;
        service_start_queued(s);
        ok(s->state == SERVICE_RUNNING && fake.spawns == 1 && host_log.slot_asks == 1,
           "its turn: spawned without asking again");
        service_free(s);

        /* The same from failed and from backoff. */
        for (int from = 0; from < 2; from++) {
                s = reach(from == 0 ? SERVICE_FAILED : SERVICE_BACKOFF);
                host_log.spawn_denied = true;
                service_dispatch(s, SERVICE_EVENT_START);
                ok(s->spawn_queued && service_start_outcome(s) == SERVICE_OUTCOME_PENDING,
                   "a start of a %s service waiting for its turn is pending",
                   from == 0 ? "failed" : "backing off");
                service_free(s);
        }
}

/* Each state sets its own timer on entry; a new reason keeps it running. */
static void test_state_timers(void)
{
        struct service *s = make_service(SERVICE_NOTIFY, RESTART_ON_FAILURE);
        struct service_notify_msg msg = { .mainpid_fd = -1, .ready = true };

        s->config->ready_timeout = 3 * USEC_PER_SEC;
        s->config->watchdog = 2 * USEC_PER_SEC;
        service_dispatch(s, SERVICE_EVENT_START);
        ok(ev_is_active(&s->timer) && ev_timer_remaining(loop, &s->timer) > 2.5,
           "starting: the ready timeout");
        service_handle_notify(s, &msg);
        ok(ev_is_active(&s->timer) && ev_timer_remaining(loop, &s->timer) < 2.5,
           "running: the watchdog");
        msg = (struct service_notify_msg){ .mainpid_fd = -1, .reloading = true };
        service_handle_notify(s, &msg);
        ok(strstr(s->reason, "reloading") && ev_is_active(&s->timer),
           "RELOADING=1 keeps the watchdog running");
        host_log.blockers = 1;
        service_dispatch(s, SERVICE_EVENT_STOP);
        ok(s->stop_pending != STOP_CAUSE_NONE && ev_is_active(&s->timer),
           "a stop waiting for dependents keeps it too");
        host_log.blockers = 0;
        service_stop_now(s);
        ok(s->state == SERVICE_STOPPING && ev_timer_remaining(loop, &s->timer) > 9.0,
           "stopping: the stop timeout");
        exit_with(s, -1, SIGTERM);
        ok(s->state == SERVICE_STOPPED && !ev_is_active(&s->timer), "stopped: none");
        service_free(s);
}

/* A MAINPID= process exited, its parent (not tendd) has not reaped it yet:
 * the pidfd watcher is stopped and reap_retry looks again later. Across a
 * re-exec the service must come back the same way: with the pidfd watcher
 * on as well, the still-readable pidfd at once re-arms reap_retry while it
 * is active (ev_timer_set on an active watcher: undefined in libev). */
static void test_state_reap_retry(void)
{
        struct service *s = reach(SERVICE_RUNNING), *s2 = NULL;
        struct service_resume x;
        struct state_writer w;
        struct state_reader r, v;
        int p[2], pfd, k;
        uint16_t tag;
        pid_t c, g = 0;
        char path[64], st[512];

        if (pipe(p) < 0)
                return;
        c = fork();
        if (c == 0) {
                pid_t gg = fork();
                if (gg == 0) {
                        pause();
                        _exit(0);
                }
                (void)!write(p[1], &gg, sizeof gg);
                for (;;)
                        pause(); /* never reaps gg */
        }
        (void)!read(p[0], &g, sizeof g);
        close(p[0]);
        close(p[1]);
        pfd = (int)syscall(SYS_pidfd_open, g, 0);
        kill(g, SIGKILL);
        snprintf(path, sizeof path, "/proc/%d/stat", (int)g);
        for (int i = 0; i < 500; i++) {
                FILE *f = fopen(path, "re");
                size_t n = f ? fread(st, 1, sizeof st - 1, f) : 0;
                if (f)
                        fclose(f);
                st[n] = '\0';
                if (strstr(st, ") Z "))
                        break;
                usleep(10000);
        }
        /* The process tendd watches is now g, someone else's zombie. */
        ev_io_stop(loop, &s->pidfd_watcher);
        (void)dup2(pfd, s->pidfd);
        close(pfd);
        fake.reap_result = -ECHILD;
        service_handle_pidfd(s);
        ok(ev_is_active(&s->reap_retry) && !ev_is_active(&s->pidfd_watcher),
           "a zombie not ours: reap_retry armed, the pidfd watcher stopped");

        state_writer_init(&w);
        service_state_put(s, &w, 1);
        ok(w.error == 0, "service_state_put");
        r = (struct state_reader){ w.buf, w.len };
        k = state_next(&r, &tag, &v);
        ok(k == 1 && service_state_get(&host, &v, &s2, &x) == 0 && s2, "service_state_get");
        if (s2) {
                service_resume(s2, &x);
                ok(ev_is_active(&s2->reap_retry), "restored: reap_retry armed");
                ok(!ev_is_active(&s2->pidfd_watcher),
                   "restored: the pidfd watcher stays stopped while reap_retry waits");
                s2->pidfd = -1; /* the same fds as s: closed once, by s */
                s2->ready_fd = -1;
                s2->leader_pidfd = -1;
                service_free(s2);
        }
        state_close_unclaimed(-1);
        state_writer_free(&w);
        service_free(s);
        kill(c, SIGKILL);
        (void)waitpid(c, NULL, 0);
}

/* The hook running exits with code (or is killed by sig when code < 0): its
 * pidfd (an eventfd of the fake kernel) becomes readable, the loop reaps. */
static void hook_exits(struct service *s, int code, int sig)
{
        uint64_t one = 1;

        fake.exit_code = code;
        fake.exit_signal = sig;
        fake.reap_result = 1;
        if (write(s->hook->pidfd, &one, sizeof one) != sizeof one)
                return;
        ev_run(loop, EVRUN_NOWAIT);
}

static struct service *make_hooked(enum service_type type, enum restart_policy restart,
                                   const char *pre1, const char *pre2, const char *post,
                                   const char *stop, const char *stop_post)
{
        struct service *s = make_service(type, restart);

        if (pre1)
                (void)strv_extend(&s->config->exec_start_pre, pre1);
        if (pre2)
                (void)strv_extend(&s->config->exec_start_pre, pre2);
        s->config->exec_start_post = post ? strdup(post) : NULL;
        s->config->exec_stop = stop ? strdup(stop) : NULL;
        s->config->exec_stop_post = stop_post ? strdup(stop_post) : NULL;
        s->config->hook_timeout = 90 * USEC_PER_SEC;
        return s;
}

static void test_hooks(void)
{
        struct service *s;
        char err[256];

        /* exec_start_pre in order, then the main process; the second fails. */
        s = make_hooked(SERVICE_SIMPLE, RESTART_ON_FAILURE, "true", "false", NULL, NULL, NULL);
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STARTING && s->hook && s->hook_kind == HOOK_START_PRE &&
                   s->hook_index == 0 && s->pidfd < 0 && fake.spawns == 1,
           "start: exec_start_pre 1 runs, no main process");
        ok(strcmp(s->reason, "running exec_start_pre 1/2") == 0, "reason: %s", s->reason);
        ok(!ev_is_active(&s->timer), "no ready timeout while a hook of the start runs");
        hook_exits(s, 0, 0);
        ok(s->hook && s->hook_index == 1 && fake.spawns == 2 && s->pidfd < 0,
           "exec_start_pre 2 after 1 exited 0");
        hook_exits(s, 3, 0);
        ok(s->state == SERVICE_BACKOFF && !s->hook && s->hook_kind == HOOK_NONE && s->has_exit &&
                   s->exit_code == 3 && fake.spawns == 2,
           "its failure: backoff, its exit the last, no main process");
        ok(strcmp(s->reason, "exec_start_pre 2/2 exited with code 3; restarting in 100ms") == 0,
           "reason: %s", s->reason);
        ok(!broken_invariant(s) || strcmp(broken_invariant(s), "a pidfd exactly when live") == 0,
           "invariants hold");
        service_free(s);

        /* A stop while exec_start_pre runs kills it: stopped. */
        s = make_hooked(SERVICE_SIMPLE, RESTART_ON_FAILURE, "sleep 100", NULL, NULL, NULL, NULL);
        service_dispatch(s, SERVICE_EVENT_START);
        service_dispatch(s, SERVICE_EVENT_STOP);
        ok(s->state == SERVICE_STOPPED && !s->hook && fake.last_signal == SIGKILL &&
                   fake.last_group,
           "stop during exec_start_pre: its group killed, stopped");
        ok(strcmp(s->reason, "stopped, before its main process ran") == 0, "reason: %s",
           s->reason);
        service_free(s);

        /* exec_start_post: running only after it; its failure stops the service. */
        s = make_hooked(SERVICE_SIMPLE, RESTART_NEVER, NULL, NULL, "post", NULL, NULL);
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STARTING && s->pidfd >= 0 && s->hook_kind == HOOK_START_POST,
           "spawned, exec_start_post runs, still starting");
        ok(strcmp(s->reason, "started, pid 101, running exec_start_post") == 0, "reason: %s",
           s->reason);
        service_dispatch(s, SERVICE_EVENT_READY);
        ok(s->state == SERVICE_STARTING, "a readiness meanwhile changes nothing");
        hook_exits(s, 0, 0);
        ok(s->state == SERVICE_RUNNING && !s->hook && strcmp(s->reason, "ready") == 0,
           "running once it exited 0");
        service_free(s);
        s = make_hooked(SERVICE_SIMPLE, RESTART_NEVER, NULL, NULL, "post", NULL, NULL);
        service_dispatch(s, SERVICE_EVENT_START);
        hook_exits(s, 5, 0);
        ok(s->state == SERVICE_STOPPING && s->stop_cause == STOP_CAUSE_START_POST &&
                   fake.last_signal == SIGTERM,
           "its failure: stopped with the stop signal");
        exit_with(s, -1, SIGTERM);
        ok(s->state == SERVICE_FAILED &&
                   strcmp(s->reason,
                          "exec_start_post exited with code 5, then killed by signal TERM") == 0,
           "then failed: %s", s->reason);
        service_free(s);

        /* A stop while exec_start_post runs kills it, then stops the service. */
        s = make_hooked(SERVICE_SIMPLE, RESTART_NEVER, NULL, NULL, "post", NULL, NULL);
        service_dispatch(s, SERVICE_EVENT_START);
        fake.signals = 0;
        service_dispatch(s, SERVICE_EVENT_STOP);
        ok(s->state == SERVICE_STOPPING && !s->hook && fake.signals == 2 &&
                   fake.last_signal == SIGTERM,
           "stop during exec_start_post: the hook killed, the stop signal sent");
        service_free(s);

        /* exec_stop instead of the signal, then the signal; the timer kills both. */
        s = make_hooked(SERVICE_SIMPLE, RESTART_ON_FAILURE, NULL, NULL, NULL, "stop", NULL);
        service_dispatch(s, SERVICE_EVENT_START);
        fake.signals = 0;
        service_dispatch(s, SERVICE_EVENT_STOP);
        ok(s->state == SERVICE_STOPPING && s->hook_kind == HOOK_STOP && fake.signals == 0 &&
                   ev_is_active(&s->timer),
           "stop: exec_stop runs, no signal, the stop timeout runs");
        hook_exits(s, 0, 0);
        ok(fake.signals == 1 && fake.last_signal == SIGTERM && !s->hook &&
                   strcmp(s->reason, "exec_stop exited with code 0, sent TERM") == 0,
           "its end: the stop signal to what is left (%s)", s->reason);
        exit_with(s, -1, SIGTERM);
        ok(s->state == SERVICE_STOPPED, "stopped");
        service_dispatch(s, SERVICE_EVENT_START);
        service_dispatch(s, SERVICE_EVENT_STOP);
        service_dispatch(s, SERVICE_EVENT_TIMER);
        ok(!s->hook && fake.last_signal == SIGKILL &&
                   strcmp(s->reason, "stop timed out, exec_stop killed, sent KILL") == 0,
           "the stop timeout kills exec_stop and the service");
        service_free(s);

        /* exec_stop_post after a crash; the restart waits for it. */
        s = make_hooked(SERVICE_SIMPLE, RESTART_ON_FAILURE, NULL, NULL, NULL, NULL, "post");
        service_dispatch(s, SERVICE_EVENT_START);
        exit_with(s, -1, SIGKILL);
        ok(s->state == SERVICE_RUNNING && s->pidfd < 0 && s->hook_kind == HOOK_STOP_POST &&
                   fake.spawns == 2,
           "crash: exec_stop_post runs, nothing else yet");
        ok(strcmp(s->reason, "main process gone; running exec_stop_post") == 0, "reason: %s",
           s->reason);
        ok(!service_is_ready(s) && service_start_outcome(s) == SERVICE_OUTCOME_PENDING,
           "neither ready for its dependents nor a start's answer meanwhile");
        hook_exits(s, 0, 0);
        ok(s->state == SERVICE_BACKOFF && !s->hook, "then the restart policy");
        service_free(s);

        /* tendctl reload NAME. */
        s = make_hooked(SERVICE_SIMPLE, RESTART_ON_FAILURE, NULL, NULL, NULL, NULL, NULL);
        ok(service_reload(s, err, sizeof err) == -EOPNOTSUPP &&
                   strcmp(err, "svc has neither exec_reload nor reload_signal") == 0,
           "reload without the keys: %s", err);
        s->config->reload_signal = SIGHUP;
        ok(service_reload(s, err, sizeof err) == -EAGAIN, "reload while stopped: %s", err);
        service_dispatch(s, SERVICE_EVENT_START);
        ok(service_reload(s, err, sizeof err) == 0 && fake.last_signal == SIGHUP &&
                   !fake.last_group,
           "reload_signal to the main process");
        s->config->exec_reload = strdup("reload");
        ok(service_reload(s, err, sizeof err) == 0 && s->hook_kind == HOOK_RELOAD &&
                   s->state == SERVICE_RUNNING && strcmp(s->reason, "reloading (exec_reload)") == 0,
           "exec_reload runs, running");
        ok(service_reload(s, err, sizeof err) == -EBUSY, "one at a time: %s", err);
        hook_exits(s, 7, 0);
        ok(!s->hook && strcmp(s->reason, "exec_reload exited with code 7") == 0 &&
                   s->state == SERVICE_RUNNING,
           "a failed reload stops nothing");
        service_free(s);
}

static int fake_cgroup_watch(struct service *s, void *userdata)
{
        return 7;
}

static void fake_cgroup_unwatch(struct service *s, int wd, bool removed, void *userdata)
{
}

/* Write "populated N" as the cgroup.events of the fake cgroup dir. */
static void set_populated(int dfd, int populated)
{
        int fd = openat(dfd, "cgroup.events", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0)
                return;
        (void)!write(fd, populated ? "populated 1\n" : "populated 0\n", 12);
        close(fd);
}

/* A cgroup tree that is a plain directory, with the test writing the
 * cgroup.events of the service's cgroup, and a host with it. */
struct fake_cgroup {
        char dir[32], unit[64];
        struct cgroup_tree tree;
        struct service_host_ops ops;
        struct service_host host;
        int ufd;
};

static bool fake_cgroup_open(struct fake_cgroup *f)
{
        *f = (struct fake_cgroup){ .dir = "/tmp/test-service-cg.XXXXXX", .ufd = -1 };
        if (!mkdtemp(f->dir))
                return false;
        f->tree = (struct cgroup_tree){ .dfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
                                        .path = f->dir,
                                        .rel = f->dir };
        f->ops = stub_ops;
        f->ops.cgroup_watch = fake_cgroup_watch;
        f->ops.cgroup_unwatch = fake_cgroup_unwatch;
        f->host = host;
        f->host.ops = &f->ops;
        f->host.cgroup = &f->tree;
        (void)snprintf(f->unit, sizeof f->unit, "%s/svc.service", f->dir);
        return true;
}

/* A hooked service of the fake cgroup tree, running; its cgroup can be
 * killed (cgroup.kill) and is populated. */
static struct service *fake_cgroup_service(struct fake_cgroup *f, const char *reload,
                                           const char *stop, const char *stop_post)
{
        struct service *s =
                make_hooked(SERVICE_SIMPLE, RESTART_ON_FAILURE, NULL, NULL, NULL, stop, stop_post);

        s->host = &f->host;
        s->config->kill_mode = KILL_CGROUP;
        s->config->kill_mode_set = true;
        s->config->exec_reload = reload ? strdup(reload) : NULL;
        service_dispatch(s, SERVICE_EVENT_START);
        f->ufd = open(f->unit, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        (void)close(openat(f->ufd, "cgroup.kill", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        set_populated(f->ufd, 1);
        return s;
}

static void fake_cgroup_close(struct fake_cgroup *f)
{
        (void)unlinkat(f->ufd, "cgroup.events", 0);
        (void)unlinkat(f->ufd, "cgroup.kill", 0);
        close(f->ufd);
        (void)rmdir(f->unit);
        close(f->tree.dfd);
        (void)rmdir(f->dir);
}

/* The main process exited, leaving processes in its cgroup; tendd
 * re-executes while it waits for them, and they are gone by the time the
 * new image looks: the instance ends as it would have before the exec,
 * with exec_stop_post. */
static void test_drain_across_reexec(void)
{
        struct fake_cgroup f;
        struct service *s, *s2 = NULL;
        struct service_resume x;
        struct state_writer w;
        struct state_reader r, v;
        uint16_t tag;
        int k;

        if (!fake_cgroup_open(&f))
                return;
        s = fake_cgroup_service(&f, NULL, NULL, "post");
        ok(s->state == SERVICE_RUNNING && s->cgroup_fd >= 0 && f.ufd >= 0, "running in its cgroup");
        exit_with(s, 1, 0);
        ok(s->state == SERVICE_RUNNING && s->draining && !s->hook, "main exited: draining");

        state_writer_init(&w);
        service_state_put(s, &w, 1);
        ok(w.error == 0, "service_state_put");
        set_populated(f.ufd, 0); /* emptied during the exec */
        r = (struct state_reader){ w.buf, w.len };
        k = state_next(&r, &tag, &v);
        ok(k == 1 && service_state_get(&f.host, &v, &s2, &x) == 0 && s2, "service_state_get");
        if (s2) {
                fake.spawns = 0;
                service_resume(s2, &x);
                ok(!s2->draining && s2->hook && s2->hook_kind == HOOK_STOP_POST &&
                           fake.spawns == 1 && s2->state == SERVICE_RUNNING,
                   "emptied during the exec: exec_stop_post runs (%s)", s2->reason);
                if (s2->hook)
                        hook_exits(s2, 0, 0);
                ok(s2->state == SERVICE_BACKOFF && !s2->hook, "then the restart policy (%s)",
                   s2->reason);
                service_free(s2);
        }
        state_close_unclaimed(-1);
        state_writer_free(&w);
        s->draining = false;
        service_free(s);
        fake_cgroup_close(&f);
}

/* While a killed cgroup drains (the main process exited, cgroup.kill took
 * the rest), a reload or a stop must not lose the watch that says when it
 * is empty: the instance would never end. */
static void test_drain_keeps_its_watch(void)
{
        struct fake_cgroup f;
        struct service *s;
        char err[256];

        if (!fake_cgroup_open(&f))
                return;
        s = fake_cgroup_service(&f, "reload", "stop", NULL);
        exit_with(s, 1, 0);
        ok(s->draining && s->cgroup_killed && s->cgroup_wd >= 0, "draining a killed cgroup");
        fake.spawns = 0;
        ok(service_reload(s, err, sizeof err) == -EAGAIN && !s->hook && fake.spawns == 0,
           "no reload without a main process: %s", err);
        ok(s->draining && s->cgroup_wd >= 0 && s->cgroup_fd >= 0, "still watched");
        service_dispatch(s, SERVICE_EVENT_STOP);
        ok(s->state == SERVICE_STOPPING && s->draining && s->cgroup_wd >= 0 && s->cgroup_fd >= 0,
           "a stop meanwhile: still watched (%s)", s->reason);
        set_populated(f.ufd, 0);
        service_cgroup_changed(s);
        if (s->hook)
                hook_exits(s, 0, 0);
        ok(s->state == SERVICE_STOPPED && !s->hook && !s->draining, "emptied: stopped (%s)",
           s->reason);
        service_free(s);
        fake_cgroup_close(&f);
}

/* The main process exits while exec_start_post runs in its cgroup: the
 * hook goes with the rest (cgroup.kill), and the exit is what the restart
 * policy sees, as without a cgroup, not the killed hook. */
static void test_drain_after_an_exit_during_start_post(void)
{
        struct fake_cgroup f;
        struct service *s;

        if (!fake_cgroup_open(&f))
                return;
        s = fake_cgroup_service(&f, NULL, NULL, NULL);
        s->config->exec_start_post = strdup("post");
        set_populated(f.ufd, 0);
        service_dispatch(s, SERVICE_EVENT_STOP);
        exit_with(s, -1, SIGTERM);
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STARTING && s->hook_kind == HOOK_START_POST,
           "exec_start_post runs (%s)", s->reason);
        set_populated(f.ufd, 1);
        s->config->prevent_exit.status[78 / 64] |= 1ULL << (78 % 64);
        exit_with(s, 78, 0);
        ok(s->draining && !s->hook && s->hook_kind == HOOK_NONE,
           "the main process exited: the hook is killed with the rest, forgotten");
        if (s->hook)
                hook_exits(s, -1, SIGKILL); /* cgroup.kill took it */
        set_populated(f.ufd, 0);
        service_cgroup_changed(s);
        ok(s->state == SERVICE_FAILED &&
                   strcmp(s->reason, "exited with code 78 before it was ready "
                                     "(restart_prevent_exit_codes)") == 0,
           "its exit decides: %s", s->reason);
        service_free(s);
        fake_cgroup_close(&f);
}

/* A loopback port: listening (the backlog completes a connect) or, with
 * listening false, closed again (a connect is refused). */
static int health_port(bool listening, int *ret_fd)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        (void)bind(fd, (struct sockaddr *)&a, sizeof a);
        (void)listen(fd, 16);
        (void)getsockname(fd, (struct sockaddr *)&a, &len);
        if (!listening)
                fd = safe_close(fd);
        *ret_fd = fd;
        return ntohs(a.sin_port);
}

static void health_guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
        ev_break(l, EVBREAK_ALL);
}

/* Run the loop until s is in st (or 5 s passed). */
static bool run_until(struct service *s, enum service_state st)
{
        ev_timer guard;
        bool reached;

        ev_timer_init(&guard, health_guard_cb, 5., 0.);
        ev_timer_start(loop, &guard);
        while (s->state != st && ev_is_active(&guard))
                ev_run(loop, EVRUN_ONCE);
        reached = s->state == st;
        ev_timer_stop(loop, &guard);
        return reached;
}

static void set_health_tcp(struct service *s, int port)
{
        free(s->config->health_tcp);
        (void)asprintf(&s->config->health_tcp, "127.0.0.1:%d", port);
}

/* The health check as readiness and as liveness, through a real loop and
 * real loopback sockets (the clock and the processes are fake). */
static void test_health(void)
{
        struct service *s = make_service(SERVICE_SIMPLE, RESTART_ON_FAILURE);
        int lfd, closed, port = health_port(true, &lfd), cport = health_port(false, &closed);
        char want[128];
        bool reached;

        s->config->health_interval = 20 * USEC_PER_MSEC;
        s->config->health_timeout = USEC_PER_SEC;
        s->config->health_retries = 2;
        s->config->ready_timeout = 10 * USEC_PER_SEC;
        set_health_tcp(s, cport);
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STARTING && s->health && s->health->active &&
                   strstr(s->reason, "waiting for its health check to pass"),
           "simple with a check: starting, probing (%s)", s->reason);
        ev_run(loop, EVRUN_ONCE);
        ev_run(loop, EVRUN_ONCE);
        ok(s->state == SERVICE_STARTING && s->health->has_result && !s->health->last_ok &&
                   s->health->failures == 0,
           "while starting a failure is not counted (%s)", s->health->last_what);
        set_health_tcp(s, port);
        reached = run_until(s, SERVICE_RUNNING);
        ok(reached && strcmp(s->reason, "ready") == 0 &&
                   s->health->passed && ev_is_active(&s->health->timer),
           "its first pass makes it ready and running, probing on");
        set_health_tcp(s, cport);
        fake.signals = 0;
        reached = run_until(s, SERVICE_STOPPING);
        ok(reached && s->stop_cause == STOP_CAUSE_HEALTH &&
                   fake.last_signal == SIGTERM && fake.last_group,
           "health_retries failures: stopped with stop_signal (%s)", s->reason);
        (void)snprintf(want, sizeof want,
                       "health check failed 2 times in a row: connect 127.0.0.1:%d: Connection "
                       "refused, sent TERM", cport);
        ok(strcmp(s->reason, want) == 0, "the stop's reason: %s", s->reason);
        ok(!s->health->active && !ev_is_active(&s->health->timer), "no probe while stopping");
        exit_with(s, -1, SIGTERM);
        (void)snprintf(want, sizeof want,
                       "health check failed: connect 127.0.0.1:%d: Connection refused, killed by "
                       "signal TERM; restarting in", cport);
        ok(s->state == SERVICE_BACKOFF && strncmp(s->reason, want, strlen(want)) == 0,
           "a failure for the restart policy: %s", s->reason);
        service_free(s);

        /* health_start_period: failures from the spawn until then are not counted. */
        s = make_service(SERVICE_SIMPLE, RESTART_NEVER);
        s->config->health_interval = 10 * USEC_PER_MSEC;
        s->config->health_timeout = USEC_PER_SEC;
        s->config->health_retries = 1;
        s->config->health_start_period = 60 * USEC_PER_SEC;
        set_health_tcp(s, port);
        service_dispatch(s, SERVICE_EVENT_START);
        (void)run_until(s, SERVICE_RUNNING);
        set_health_tcp(s, cport);
        for (int i = 0; i < 6; i++)
                ev_run(loop, EVRUN_ONCE);
        ok(s->state == SERVICE_RUNNING && s->health->failures == 0 && !s->health->last_ok,
           "failures within health_start_period do not count");
        fake.now += 61 * USEC_PER_SEC;
        ok(run_until(s, SERVICE_STOPPING) && s->stop_cause == STOP_CAUSE_HEALTH,
           "after it they do");
        exit_with(s, -1, SIGTERM);
        ok(s->state == SERVICE_FAILED && strncmp(s->reason, "health check failed: ", 21) == 0,
           "restart = never: failed (%s)", s->reason);
        ok(s->health && !s->health->active, "kept while failed, for its last result, idle");
        service_free(s);

        /* notify: liveness only, from READY=1 on. */
        s = make_service(SERVICE_NOTIFY, RESTART_ON_FAILURE);
        s->config->health_interval = 10 * USEC_PER_MSEC;
        s->config->health_timeout = USEC_PER_SEC;
        s->config->health_retries = 3;
        set_health_tcp(s, port);
        service_dispatch(s, SERVICE_EVENT_START);
        ok(s->state == SERVICE_STARTING && s->health && !s->health->active,
           "notify: no probe before READY=1");
        service_dispatch(s, SERVICE_EVENT_READY);
        ok(s->state == SERVICE_RUNNING && s->health->active, "probing once running");
        /* A reload that removes the check drops it at once. */
        {
                struct service_config *sc = service_config_copy(s->config);
                free(sc->health_tcp);
                sc->health_tcp = NULL;
                service_set_config(s, sc, NULL);
                ok(s->state == SERVICE_RUNNING && !s->health, "a reload without it: no check");
                sc = service_config_copy(s->config);
                sc->health_tcp = strdup("127.0.0.1:1");
                service_set_config(s, sc, NULL);
                ok(s->state == SERVICE_RUNNING && s->health && s->health->active,
                   "a reload adding one: probing, without a restart");
        }
        service_free(s);

        /* Its main process gone (exec_stop_post runs, or its cgroup
         * drains), the check has nothing to probe: no probe, no timer. */
        s = make_hooked(SERVICE_SIMPLE, RESTART_ON_FAILURE, NULL, NULL, NULL, NULL, "post");
        s->config->health_interval = 10 * USEC_PER_MSEC;
        s->config->health_timeout = USEC_PER_SEC;
        s->config->health_retries = 3;
        set_health_tcp(s, port);
        service_dispatch(s, SERVICE_EVENT_START);
        (void)run_until(s, SERVICE_RUNNING);
        ok(s->state == SERVICE_RUNNING && s->health->active, "probing while running");
        exit_with(s, -1, SIGKILL);
        ok(s->state == SERVICE_RUNNING && s->hook_kind == HOOK_STOP_POST && s->pidfd < 0 &&
                   !s->health->active && !ev_is_active(&s->health->timer),
           "main process gone, exec_stop_post runs: no probe, no timer");
        hook_exits(s, 0, 0);
        ok(s->state == SERVICE_BACKOFF && !s->health->active, "then backoff, idle");
        service_free(s);
        close(lfd);
}

int main(void)
{
        loop = ev_loop_new(EVFLAG_AUTO);
        host.loop = loop;
        sys_set(&fake_ops);
        test_every_pair();
        test_stop_and_kill();
        test_restart_request();
        test_backoff();
        test_start_limit();
        test_policies();
        test_exit_code_policy();
        test_readiness();
        test_host();
        test_state_timers();
        test_state_reap_retry();
        test_hooks();
        test_drain_across_reexec();
        test_drain_keeps_its_watch();
        test_drain_after_an_exit_during_start_post();
        test_health();
        ev_loop_destroy(loop);
        return tap_done();
}
