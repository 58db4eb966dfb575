/* service.c: the per-service state machine. service_dispatch() decides every
 * (state, event) pair; service_set_state() is the only writer of s->state. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "log.h"
#include "manager.h"
#include "output.h"
#include "service.h"
#include "sys.h"

static const char *const service_state_names[_SERVICE_STATE_MAX] = {
        [SERVICE_STOPPED] = "stopped", [SERVICE_STARTING] = "starting",
        [SERVICE_RUNNING] = "running", [SERVICE_STOPPING] = "stopping",
        [SERVICE_BACKOFF] = "backoff", [SERVICE_FAILED] = "failed",
};

static const char *const service_event_names[_SERVICE_EVENT_MAX] = {
        [SERVICE_EVENT_START] = "start", [SERVICE_EVENT_STOP] = "stop",
        [SERVICE_EVENT_RESTART] = "restart", [SERVICE_EVENT_EXIT] = "exit",
        [SERVICE_EVENT_TIMER] = "timer", [SERVICE_EVENT_READY] = "ready",
};

/* "running", "backoff", ... */
const char *service_state_to_string(enum service_state st)
{
        return st >= 0 && st < _SERVICE_STATE_MAX ? service_state_names[st] : "invalid";
}

/* "start", "exit", ... */
const char *service_event_to_string(enum service_event ev)
{
        return ev >= 0 && ev < _SERVICE_EVENT_MAX ? service_event_names[ev] : "invalid";
}

/* A process may exist in these states, and only in these. */
bool service_is_live(const struct service *s)
{
        return s->state == SERVICE_STARTING || s->state == SERVICE_RUNNING ||
               s->state == SERVICE_STOPPING;
}

static void service_pidfd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        service_handle_pidfd(container_of(w, struct service, pidfd_watcher));
}

static void service_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        service_dispatch(container_of(w, struct service, timer), SERVICE_EVENT_TIMER);
}

static int service_alloc_start_times(struct service *s)
{
        unsigned n = s->config->start_limit_burst;

        free(s->start_times);
        s->start_times = NULL;
        s->n_start_times = s->start_times_pos = 0;
        if (n == 0)
                return 0;
        s->start_times = calloc(n, sizeof(usec_t));
        return s->start_times ? 0 : -ENOMEM;
}

/* A new stopped service owning sc. */
int service_new(struct manager *m, struct service_config *sc, struct service **ret)
{
        struct service *s = calloc(1, sizeof *s);

        if (!s)
                return -ENOMEM;
        s->manager = m;
        s->config = sc;
        (void)snprintf(s->name, sizeof s->name, "%s", sc->name);
        s->state = SERVICE_STOPPED;
        s->pidfd = -1;
        s->exit_code = -1;
        s->since_mono = sys->now();
        s->since_real = now_realtime();
        ev_io_init(&s->pidfd_watcher, service_pidfd_cb, -1, EV_READ);
        ev_init(&s->timer, service_timer_cb);
        if (service_alloc_start_times(s) < 0) {
                free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

/* Free s: watchers stopped, pidfd closed; never signals anything. */
struct service *service_free(struct service *s)
{
        if (!s)
                return NULL;
        if (s->manager && s->manager->loop) {
                ev_io_stop(s->manager->loop, &s->pidfd_watcher);
                ev_timer_stop(s->manager->loop, &s->timer);
        }
        s->output = output_free(s->output); /* drains what the pipes still hold */
        s->pidfd = safe_close(s->pidfd);
        service_config_free(s->config);
        service_config_free(s->next_config);
        free(s->start_times);
        free(s);
        return NULL;
}

static void service_set_state(struct service *s, enum service_state st, const char *fmt, ...)
        _printf_(3, 4);

static void service_set_state(struct service *s, enum service_state st, const char *fmt, ...)
{
        enum service_state old = s->state;
        va_list ap;

        /* Each state arms its own timer after entering. */
        ev_timer_stop(s->manager->loop, &s->timer);
        va_start(ap, fmt);
        (void)vsnprintf(s->reason, sizeof s->reason, fmt, ap);
        va_end(ap);
        s->state = st;
        s->since_mono = sys->now();
        s->since_real = now_realtime();
        log_service(st == SERVICE_FAILED ? LOG_WARNING : LOG_INFO, s->name, "%s -> %s (%s)",
                    service_state_to_string(old), service_state_to_string(st), s->reason);
        manager_service_state_changed(s->manager, s, old);
}

static void service_arm_timer(struct service *s, usec_t delay)
{
        ev_timer_set(&s->timer, (double)delay / (double)USEC_PER_SEC, 0.);
        ev_timer_start(s->manager->loop, &s->timer);
}

/* Delay before the next automatic restart. */
usec_t service_backoff_delay(const struct service *s)
{
        usec_t d = s->config->restart_delay;
        usec_t cap = s->config->restart_max_delay;

        for (unsigned i = 1; i < s->backoff_step && d < cap; i++)
                d = d > cap / 2 ? cap : d * 2;
        return d < cap ? d : cap;
}

/* How long a service must stay up for its backoff to reset. */
static usec_t service_stable_after(const struct service *s)
{
        return s->config->restart_max_delay > USEC_PER_SEC ? s->config->restart_max_delay
                                                           : USEC_PER_SEC;
}

static void service_clear_start_limit(struct service *s)
{
        s->n_start_times = s->start_times_pos = 0;
        s->backoff_step = 0;
}

static void service_record_start(struct service *s, usec_t now)
{
        unsigned burst = s->config->start_limit_burst;

        if (burst == 0 || !s->start_times)
                return;
        s->start_times[s->start_times_pos] = now;
        s->start_times_pos = (s->start_times_pos + 1) % burst;
        if (s->n_start_times < burst)
                s->n_start_times++;
}

/* True if another start now would exceed start_limit_burst within the interval. */
static bool service_start_limit_hit(const struct service *s, usec_t now)
{
        unsigned burst = s->config->start_limit_burst;
        usec_t oldest;

        if (burst == 0 || s->n_start_times < burst)
                return false;
        /* The ring is full: the next slot holds the oldest of the last burst starts. */
        oldest = s->start_times[s->start_times_pos];
        return now - oldest < s->config->start_limit_interval;
}

static void service_format_exit(const struct service *s, char *buf, size_t len)
{
        if (!s->has_exit)
                (void)snprintf(buf, len, "exited");
        else if (s->exit_signal > 0) {
                const char *name = signal_to_name(s->exit_signal);
                if (name)
                        (void)snprintf(buf, len, "killed by signal %s", name);
                else
                        (void)snprintf(buf, len, "killed by signal %d", s->exit_signal);
        } else
                (void)snprintf(buf, len, "exited with code %d", s->exit_code);
}

static int service_open_output(struct service *s, int *ret_out, int *ret_err)
{
        int r;

        *ret_out = *ret_err = -1;
        if (!s->output) {
                r = output_new(s, &s->output);
                if (r < 0)
                        return r;
        }
        return output_open(s->output, ret_out, ret_err);
}

/* Spawn the main process and enter starting or running; on any failure enter
 * failed with the reason. automatic: a restart by policy (counts toward the
 * start limit like any start, and toward restarts). */
static void service_spawn(struct service *s)
{
        struct spawn_params p;
        _cleanup_free_ char *why = NULL;
        const char *step = NULL;
        int out = -1, err = -1, pidfd = -1, r;
        pid_t pid = 0;
        usec_t now;

        if (s->next_config) {
                service_config_free(s->config);
                s->config = TAKE_PTR(s->next_config);
                if (service_alloc_start_times(s) < 0) {
                        service_set_state(s, SERVICE_FAILED, "out of memory");
                        return;
                }
        }

        r = spawn_prepare(s->config, &p, &why);
        if (r < 0) {
                service_set_state(s, SERVICE_FAILED, "%s", why ? why : strerror(-r));
                return;
        }
        r = service_open_output(s, &out, &err);
        if (r < 0) {
                spawn_params_done(&p);
                service_set_state(s, SERVICE_FAILED, "output %s/%s.log: %s",
                                  s->manager->config->log_dir, s->name, strerror(-r));
                return;
        }
        p.stdout_fd = out;
        p.stderr_fd = err;
        r = sys->spawn(&p, &pid, &pidfd, &step);
        if (out > STDERR_FILENO)
                (void)close(out);
        if (err > STDERR_FILENO && err != out)
                (void)close(err);
        spawn_params_done(&p);
        if (r < 0) {
                if (step && strcmp(step, "exec") == 0)
                        service_set_state(s, SERVICE_FAILED, "exec %s: %s", s->config->argv[0],
                                          strerror(-r));
                else
                        service_set_state(s, SERVICE_FAILED, "%s: %s", step ? step : "spawn",
                                          strerror(-r));
                return;
        }

        now = sys->now();
        s->pid = pid;
        s->pidfd = pidfd;
        s->started_mono = now;
        service_record_start(s, now);
        ev_io_set(&s->pidfd_watcher, pidfd, EV_READ);
        ev_io_start(s->manager->loop, &s->pidfd_watcher);
        if (s->config->type == SERVICE_SIMPLE)
                service_set_state(s, SERVICE_RUNNING, "started, pid %d", (int)pid);
        else
                service_set_state(s, SERVICE_STARTING, "started, pid %d", (int)pid);
}

static void service_signal(struct service *s, int sig)
{
        int r;

        if (s->pidfd < 0)
                return;
        r = sys->pidfd_signal(s->pidfd, sig, s->config->kill_mode != KILL_PROCESS);
        if (r < 0)
                log_service(LOG_WARNING, s->name, "sending %s: %s",
                            signal_to_name(sig) ? signal_to_name(sig) : "signal", strerror(-r));
}

static void service_begin_stop(struct service *s, bool restart)
{
        s->restart_on_exit = restart;
        service_signal(s, s->config->stop_signal);
        service_set_state(s, SERVICE_STOPPING, "%s, sent %s", restart ? "restart" : "stop",
                          signal_to_name(s->config->stop_signal)
                                  ? signal_to_name(s->config->stop_signal)
                                  : "stop signal");
        service_arm_timer(s, s->config->stop_timeout);
}

/* The main process exited on its own while starting or running: apply policy. */
static void service_exited(struct service *s)
{
        char what[64];
        bool success = s->has_exit && s->exit_signal == 0 && s->exit_code == 0;
        bool restart;
        usec_t now = sys->now(), delay;

        service_format_exit(s, what, sizeof what);
        if (s->config->type == SERVICE_ONESHOT && success) {
                s->backoff_step = 0;
                service_set_state(s, SERVICE_STOPPED, "completed");
                return;
        }
        restart = s->want_up && (s->config->restart == RESTART_ALWAYS ||
                                 (s->config->restart == RESTART_ON_FAILURE && !success));
        if (!restart) {
                if (success)
                        service_set_state(s, SERVICE_STOPPED, "%s", what);
                else
                        service_set_state(s, SERVICE_FAILED, "%s", what);
                return;
        }
        if (now - s->started_mono >= service_stable_after(s))
                s->backoff_step = 0;
        if (service_start_limit_hit(s, now)) {
                char iv[32];
                service_set_state(s, SERVICE_FAILED, "%s; start limit hit (%u starts in %s)", what,
                                  s->config->start_limit_burst,
                                  format_duration(iv, sizeof iv, s->config->start_limit_interval));
                return;
        }
        s->backoff_step++;
        delay = service_backoff_delay(s);
        {
                char d[32];
                service_set_state(s, SERVICE_BACKOFF, "%s; restarting in %s", what,
                                  format_duration(d, sizeof d, delay));
        }
        service_arm_timer(s, delay);
}

/* Reap the main process once its pidfd is readable and dispatch EXIT. */
void service_handle_pidfd(struct service *s)
{
        siginfo_t si = { 0 };
        int r;

        if (s->pidfd < 0)
                return;
        r = sys->reap(s->pidfd, &si);
        if (r == 0)
                return; /* spurious wakeup: still running */
        if (r < 0) {
                /* Someone else reaped it (or it never was our child): the status is lost. */
                log_service(LOG_WARNING, s->name, "reaping: %s", strerror(-r));
                s->has_exit = false;
                s->exit_code = -1;
                s->exit_signal = 0;
        } else {
                s->has_exit = true;
                if (si.si_code == CLD_EXITED) {
                        s->exit_code = si.si_status;
                        s->exit_signal = 0;
                } else {
                        s->exit_code = -1;
                        s->exit_signal = si.si_status;
                }
        }
        /* Whatever the main process left in its process group goes with it. The
         * pidfd still names the group's struct pid, so no pid number is used. */
        if (s->config->kill_mode != KILL_PROCESS)
                (void)sys->pidfd_signal(s->pidfd, SIGKILL, true);
        ev_io_stop(s->manager->loop, &s->pidfd_watcher);
        s->pidfd = safe_close(s->pidfd);
        s->pid = 0;
        service_dispatch(s, SERVICE_EVENT_EXIT);
}

static void service_operator_start(struct service *s)
{
        s->want_up = true;
        service_clear_start_limit(s);
        service_spawn(s);
}

/* Every (state, event) pair is decided here. */
void service_dispatch(struct service *s, enum service_event ev)
{
        switch (s->state) {
        case SERVICE_STOPPED:
        case SERVICE_FAILED:
                switch (ev) {
                case SERVICE_EVENT_START:
                case SERVICE_EVENT_RESTART:
                        service_operator_start(s);
                        break;
                case SERVICE_EVENT_STOP:
                        s->want_up = false;
                        if (s->state == SERVICE_FAILED) {
                                char was[SERVICE_REASON_MAX];
                                (void)snprintf(was, sizeof was, "%s", s->reason);
                                service_set_state(s, SERVICE_STOPPED, "stopped (was: %.200s)", was);
                        }
                        break;
                case SERVICE_EVENT_EXIT:
                case SERVICE_EVENT_TIMER:
                case SERVICE_EVENT_READY:
                case _SERVICE_EVENT_MAX:
                        break; /* no process, no timer: stale event */
                }
                break;

        case SERVICE_STARTING:
        case SERVICE_RUNNING:
                switch (ev) {
                case SERVICE_EVENT_START:
                        s->want_up = true;
                        break;
                case SERVICE_EVENT_STOP:
                        s->want_up = false;
                        service_begin_stop(s, false);
                        break;
                case SERVICE_EVENT_RESTART:
                        s->want_up = true;
                        service_begin_stop(s, true);
                        break;
                case SERVICE_EVENT_EXIT:
                        service_exited(s);
                        break;
                case SERVICE_EVENT_READY:
                        if (s->state == SERVICE_STARTING)
                                service_set_state(s, SERVICE_RUNNING, "ready");
                        break;
                case SERVICE_EVENT_TIMER:
                case _SERVICE_EVENT_MAX:
                        break;
                }
                break;

        case SERVICE_STOPPING:
                switch (ev) {
                case SERVICE_EVENT_START:
                case SERVICE_EVENT_RESTART:
                        s->want_up = true;
                        s->restart_on_exit = true;
                        break;
                case SERVICE_EVENT_STOP:
                        s->want_up = false;
                        s->restart_on_exit = false;
                        break;
                case SERVICE_EVENT_TIMER:
                        log_service(LOG_WARNING, s->name, "stop timeout, sending KILL");
                        (void)snprintf(s->reason, sizeof s->reason, "stop timed out, sent KILL");
                        if (s->pidfd >= 0)
                                (void)sys->pidfd_signal(s->pidfd, SIGKILL,
                                                        s->config->kill_mode != KILL_PROCESS);
                        break;
                case SERVICE_EVENT_EXIT:
                        if (s->restart_on_exit && s->want_up) {
                                s->restart_on_exit = false;
                                service_clear_start_limit(s);
                                service_spawn(s);
                        } else {
                                char what[64];
                                s->restart_on_exit = false;
                                service_format_exit(s, what, sizeof what);
                                service_set_state(s, SERVICE_STOPPED, "stopped, %s", what);
                        }
                        break;
                case SERVICE_EVENT_READY:
                case _SERVICE_EVENT_MAX:
                        break;
                }
                break;

        case SERVICE_BACKOFF:
                switch (ev) {
                case SERVICE_EVENT_START:
                case SERVICE_EVENT_RESTART:
                        service_operator_start(s);
                        break;
                case SERVICE_EVENT_STOP:
                        s->want_up = false;
                        service_set_state(s, SERVICE_STOPPED, "stopped while waiting to restart");
                        break;
                case SERVICE_EVENT_TIMER:
                        s->restarts++;
                        service_spawn(s);
                        break;
                case SERVICE_EVENT_EXIT:
                case SERVICE_EVENT_READY:
                case _SERVICE_EVENT_MAX:
                        break;
                }
                break;

        case _SERVICE_STATE_MAX:
                break;
        }
}

/* Install a new config; spawn-relevant parts wait for the next spawn. */
void service_set_config(struct service *s, struct service_config *sc)
{
        bool burst_changed = sc->start_limit_burst != s->config->start_limit_burst;

        if (service_is_live(s) && !service_config_spawn_equal(s->config, sc)) {
                service_config_free(s->next_config);
                s->next_config = sc;
                return;
        }
        service_config_free(s->config);
        s->config = sc;
        service_config_free(s->next_config);
        s->next_config = NULL;
        if (burst_changed && service_alloc_start_times(s) < 0)
                log_service(LOG_WARNING, s->name, "out of memory: start limit not tracked");
}
