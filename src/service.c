/* service.c: the per-service state machine. service_dispatch() decides every
 * (state, event) pair; service_set_state() is the only writer of s->state. */
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cglimits.h"
#include "cgroup.h"
#include "health.h"
#include "command.h"
#include "expand.h"
#include "log.h"
#include "output.h"
#include "parse.h"
#include "pidfd.h"
#include "service.h"
#include "sys.h"

static const char *const service_state_table[_SERVICE_STATE_MAX] = {
        [SERVICE_STOPPED] = "stopped", [SERVICE_STARTING] = "starting",
        [SERVICE_RUNNING] = "running", [SERVICE_STOPPING] = "stopping",
        [SERVICE_BACKOFF] = "backoff", [SERVICE_FAILED] = "failed",
};
DEFINE_STRING_TABLE_LOOKUP(service_state, enum service_state)

static const char *const service_event_table[_SERVICE_EVENT_MAX] = {
        [SERVICE_EVENT_START] = "start", [SERVICE_EVENT_STOP] = "stop",
        [SERVICE_EVENT_RESTART] = "restart", [SERVICE_EVENT_EXIT] = "exit",
        [SERVICE_EVENT_TIMER] = "timer", [SERVICE_EVENT_READY] = "ready",
};
DEFINE_STRING_TABLE_LOOKUP(service_event, enum service_event)

static const char *const service_hook_table[_HOOK_MAX] = {
        [HOOK_NONE] = "none",
        [HOOK_START_PRE] = "exec_start_pre",
        [HOOK_START_POST] = "exec_start_post",
        [HOOK_STOP] = "exec_stop",
        [HOOK_RELOAD] = "exec_reload",
        [HOOK_STOP_POST] = "exec_stop_post",
};

/* See service.h. */
const char *service_hook_to_string(enum service_hook h)
{
        return h >= 0 && h < _HOOK_MAX ? service_hook_table[h] : NULL;
}

/* A process may exist in these states, and only in these. */
bool service_is_live(const struct service *s)
{
        return s->state == SERVICE_STARTING || s->state == SERVICE_RUNNING ||
               s->state == SERVICE_STOPPING;
}

static void service_arm_timer(struct service *s, usec_t delay);
static void service_health_sync(struct service *s);

static void service_pidfd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        service_handle_pidfd(container_of(w, struct service, pidfd_watcher));
}

static void service_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        service_dispatch(container_of(w, struct service, timer), SERVICE_EVENT_TIMER);
}

static void service_reap_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        service_handle_pidfd(container_of(w, struct service, reap_retry));
}

static void service_leader_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct service *s = container_of(w, struct service, leader_watcher);
        siginfo_t si;

        /* The process we spawned, after MAINPID= named another main process:
         * reap it so it leaves no zombie; its exit means nothing to the state.
         * Its pidfd stays open while the instance lives: it names the group. */
        if (sys->reap(s->leader_pidfd, &si) == 0)
                return;
        ev_io_stop(loop, w);
        if (s->leader_stale) {
                s->leader_pidfd = safe_close(s->leader_pidfd);
                s->leader_stale = false;
        }
}

/* The instance is over: let go of the group leader's pidfd, at once if it was
 * reaped, else once it is. */
static void service_release_leader(struct service *s)
{
        if (s->leader_pidfd < 0)
                return;
        if (ev_is_active(&s->leader_watcher))
                s->leader_stale = true;
        else
                s->leader_pidfd = safe_close(s->leader_pidfd);
}

static void service_close_ready_fd(struct service *s)
{
        if (s->ready_fd < 0)
                return;
        ev_io_stop(s->host->loop, &s->ready_watcher);
        s->ready_fd = safe_close(s->ready_fd);
}

static void service_ready_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct service *s = container_of(w, struct service, ready_watcher);
        char buf[256];
        ssize_t n;

        n = read(s->ready_fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n > 0 && !memchr(buf, '\n', (size_t)n))
                return; /* s6 protocol: readiness is the newline */
        service_close_ready_fd(s);
        if (n > 0)
                service_dispatch(s, SERVICE_EVENT_READY);
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

/* Tell the host whether s->sid names a live instance's session. */
static void service_index_session(struct service *s, bool live)
{
        if (s->sid_indexed == live)
                return;
        s->sid_indexed = live;
        s->host->ops->session(s, live, s->host->userdata);
}

/* See service.h. */
enum kill_mode service_kill_mode(const struct service *s)
{
        if (s->config->kill_mode_set)
                return s->config->kill_mode;
        return s->host->cgroup ? KILL_CGROUP : KILL_GROUP;
}

static void service_release_cgroup(struct service *s);

/* Start counting OOM kills from the cgroup's count now (it lives across
 * restarts, and may be an old one found again); unknown without the memory
 * controller, and then not read at all. */
static void service_sync_oom(struct service *s)
{
        s->oom_seen = 0;
        if (!s->host->cgroup_memory || s->cgroup_fd < 0)
                s->oom_seen = CGLIMITS_UNKNOWN;
        else
                (void)cglimits_oom_killed(s->cgroup_fd, &s->oom_seen);
}

/* Its cgroup, made at the first spawn that needs it. Not watched: only a
 * draining instance waits for it to empty (see service_watch_cgroup()); a
 * watch for its whole life would cost an inotify event at every exit in it
 * and at its removal. */
static int service_open_cgroup(struct service *s)
{
        int r;

        /* The kernel kills a child that CLONE_INTO_CGROUP puts into a cgroup
         * that cgroup.kill was written to (6.18): a killed one is made anew. */
        if (s->cgroup_killed)
                service_release_cgroup(s);
        if (s->cgroup_fd >= 0)
                return 0;
        r = cgroup_unit_open(s->host->cgroup, s->name, &s->cgroup_fd);
        if (r < 0)
                return r;
        /* Without the memory controller there is no memory.events to read. */
        service_sync_oom(s);
        return 0;
}

/* Watch the cgroup's "populated" (service_cgroup_changed() is called when it
 * changes); set before the caller reads it, so an exit in between is not
 * missed. */
static int service_watch_cgroup(struct service *s)
{
        int r;

        if (s->cgroup_wd >= 0)
                return 0;
        r = s->host->ops->cgroup_watch(s, s->host->userdata);
        if (r < 0)
                return r;
        s->cgroup_wd = r;
        return 0;
}

/* Drop the watch; removed: the directory is gone, and the watch went with it. */
static void service_unwatch_cgroup(struct service *s, bool removed)
{
        if (s->cgroup_wd >= 0)
                s->host->ops->cgroup_unwatch(s, s->cgroup_wd, removed, s->host->userdata);
        s->cgroup_wd = -1;
}

/* Close the cgroup and drop its watch. */
static void service_forget_cgroup(struct service *s, bool removed)
{
        s->cgroup_fd = safe_close(s->cgroup_fd);
        s->cgroup_killed = false;
        service_unwatch_cgroup(s, removed);
}

/* Let go of the cgroup and remove it; one that still holds a process (it
 * moved itself out of reach of the watch) stays. */
static void service_release_cgroup(struct service *s)
{
        int r;

        if (s->cgroup_fd < 0)
                return;
        r = cgroup_unit_remove(s->host->cgroup, s->name);
        if (r < 0)
                log_service(LOG_WARNING, s->name, "cannot remove its cgroup %s/%s.service: %s",
                            s->host->cgroup->path, s->name, strerror(-r));
        service_forget_cgroup(s, r >= 0);
}

/* A new stopped service owning sc. */
int service_new(const struct service_host *host, struct service_config *sc, struct service **ret)
{
        struct service *s = calloc(1, sizeof *s);

        if (!s)
                return -ENOMEM;
        s->host = host;
        s->config = sc;
        (void)snprintf(s->name, sizeof s->name, "%s", sc->name);
        s->state = SERVICE_STOPPED;
        s->pidfd = -1;
        s->exit_code = -1;
        s->since_mono = sys->now();
        s->since_real = now_realtime();
        s->leader_pidfd = -1;
        s->ready_fd = -1;
        s->cgroup_fd = -1;
        s->cgroup_wd = -1;
        ev_io_init(&s->pidfd_watcher, service_pidfd_cb, -1, EV_READ);
        ev_io_init(&s->leader_watcher, service_leader_cb, -1, EV_READ);
        ev_io_init(&s->ready_watcher, service_ready_cb, -1, EV_READ);
        ev_init(&s->timer, service_timer_cb);
        ev_init(&s->reap_retry, service_reap_retry_cb);
        s->reason = strdup("");
        if (!s->reason || service_alloc_start_times(s) < 0) {
                free(s->reason);
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
        if (s->host->loop) {
                ev_io_stop(s->host->loop, &s->pidfd_watcher);
                ev_io_stop(s->host->loop, &s->leader_watcher);
                ev_io_stop(s->host->loop, &s->ready_watcher);
                ev_timer_stop(s->host->loop, &s->timer);
                ev_timer_stop(s->host->loop, &s->reap_retry);
        }
        s->health = health_free(s->health);
        s->hook = command_free(s->hook); /* killed: it does not outlive its service */
        free(s->hook_failure);
        strv_free(s->start_env);
        service_index_session(s, false);
        service_release_cgroup(s);
        s->output = output_free(s->output); /* drains what the pipes still hold */
        s->pidfd = safe_close(s->pidfd);
        s->leader_pidfd = safe_close(s->leader_pidfd);
        s->ready_fd = safe_close(s->ready_fd);
        free(s->deps);
        free(s->dependents);
        free(s->status_text);
        free(s->reason);
        service_config_free(s->config);
        service_config_free(s->next_config);
        free(s->start_times);
        free(s);
        return NULL;
}

static void service_set_state(struct service *s, enum service_state st, const char *fmt, ...)
        _printf_(3, 4);

/* The reason, allocated to fit (a fixed buffer in each of thousands of
 * services is most of their memory), at most SERVICE_REASON_MAX - 1 bytes.
 * Out of memory, the old one stays. */
static void service_vset_reason(struct service *s, const char *fmt, va_list ap)
        _printf_(2, 0);

static void service_vset_reason(struct service *s, const char *fmt, va_list ap)
{
        char buf[SERVICE_REASON_MAX], *r;
        int n = vsnprintf(buf, sizeof buf, fmt, ap);
        size_t len = n < 0 ? 0 : strnlen(buf, sizeof buf - 1);

        buf[len] = '\0';
        r = realloc(s->reason, len + 1); /* in place while the size class holds */
        if (!r)
                return;
        memcpy(r, buf, len + 1);
        s->reason = r;
}

/* What the state's timer is set to on entry; USEC_INFINITY: none. */
static usec_t service_state_timeout(const struct service *s)
{
        /* exec_start_pre, exec_start_post and exec_stop_post have their own
         * timeout (hook_timeout); exec_stop is bounded by the stop's. */
        if (s->hook && s->hook_kind != HOOK_STOP && s->hook_kind != HOOK_RELOAD)
                return USEC_INFINITY;
        switch (s->state) {
        case SERVICE_STARTING:
                return s->config->type != SERVICE_ONESHOT && s->config->ready_timeout > 0
                               ? s->config->ready_timeout
                               : USEC_INFINITY;
        case SERVICE_RUNNING:
                return s->watchdog_usec > 0 ? s->watchdog_usec : USEC_INFINITY;
        case SERVICE_STOPPING:
                return s->config->stop_timeout;
        case SERVICE_BACKOFF:
                /* 0: the restart follows at once, without the loop. */
                return s->retry_delay > 0 ? s->retry_delay : USEC_INFINITY;
        default:
                return USEC_INFINITY;
        }
}

/* Enter st (again, if it is the state already) with a reason: the state's
 * timer is set afresh, the change logged and the host told. */
static void service_set_state(struct service *s, enum service_state st, const char *fmt, ...)
{
        enum service_state old = s->state;
        usec_t timeout;
        va_list ap;

        va_start(ap, fmt);
        service_vset_reason(s, fmt, ap);
        va_end(ap);
        s->state = st;
        if (st != old) {
                s->since_mono = sys->now();
                s->since_real = now_realtime();
        }
        if (st == SERVICE_STOPPED || st == SERVICE_FAILED)
                service_release_cgroup(s); /* empty: the instance ended with it */
        timeout = service_state_timeout(s);
        if (timeout != USEC_INFINITY)
                service_arm_timer(s, timeout);
        else
                ev_timer_stop(s->host->loop, &s->timer);
        service_health_sync(s);
        if (s->restart_what && st == SERVICE_BACKOFF) {
                /* Logged with the start that follows at once, see below. */
        } else if (s->restart_what) {
                log_service(st == SERVICE_FAILED ? LOG_WARNING : LOG_INFO, s->name,
                            "%s -> %s (%s; %s)", service_state_to_string(s->restart_from),
                            service_state_to_string(st), s->restart_what, s->reason);
                s->restart_what = NULL;
        } else if (st == old)
                log_service(LOG_INFO, s->name, "%s: %s", service_state_to_string(st), s->reason);
        else
                log_service(st == SERVICE_FAILED ? LOG_WARNING : LOG_INFO, s->name,
                            "%s -> %s (%s)", service_state_to_string(old),
                            service_state_to_string(st), s->reason);
        s->host->ops->state_changed(s, old, s->host->userdata);
}

/* A new reason within the same state, logged at level: its timer runs on. */
static void service_update(struct service *s, int level, const char *fmt, ...) _printf_(3, 4);

static void service_update(struct service *s, int level, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        service_vset_reason(s, fmt, ap);
        va_end(ap);
        log_service(level, s->name, "%s: %s", service_state_to_string(s->state), s->reason);
        s->host->ops->state_changed(s, s->state, s->host->userdata);
}

static void service_arm_timer(struct service *s, usec_t delay)
{
        ev_timer_stop(s->host->loop, &s->timer); /* set on an active watcher is undefined */
        ev_timer_set(&s->timer, (double)delay / (double)USEC_PER_SEC, 0.);
        ev_timer_start(s->host->loop, &s->timer);
}

/* Delay before the next automatic restart. */
usec_t service_backoff_delay(const struct service *s)
{
        usec_t d = s->config->restart_delay;
        usec_t cap = s->config->restart_max_delay;

        /* Doubling stops at the cap, and 0 never grows: a crash loop with no
         * delay must not cost a step per restart it has made. */
        if (d == 0)
                return 0;
        for (unsigned i = 1; i < s->backoff_step && d < cap; i++)
                d = d > cap / 2 ? cap : d * 2;
        return d < cap ? d : cap;
}

/* How long a service must stay up for its backoff to reset. */
static usec_t service_stable_after(const struct service *s)
{
        return s->config->restart_max_delay;
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
        if (s->oom_killed) {
                size_t n = strlen(buf);
                (void)snprintf(buf + n, len - n, " (the OOM killer killed a process of it%s)",
                               s->config->cgroup.memory_max ? ": memory_max" : "");
        }
        if (s->notify_errno > 0) {
                /* The service said why (ERRNO=): worth more than the code. */
                size_t n = strlen(buf);
                (void)snprintf(buf + n, len - n, " (ERRNO=%d: %s)", s->notify_errno,
                               strerror(s->notify_errno));
        }
}

/* s's output, made at its first use; NULL in *ret for /dev/null (none kept). */
static int service_output(struct service *s, struct output **ret)
{
        *ret = NULL;
        if (!s->output && output_mode_of(s->config) == OUTPUT_NULL)
                return 0; /* nothing to keep for /dev/null */
        if (!s->output) {
                const struct output_owner owner = {
                        .name = s->name,
                        .loop = s->host->loop,
                        .log_dir = &s->host->log_dir,
                        .config = &s->config,
                };
                int r = output_new(&owner, &s->output);
                if (r < 0)
                        return r;
        }
        *ret = s->output;
        return 0;
}

static int service_open_output(struct service *s, int *ret_out, int *ret_err)
{
        struct output *o;
        int r;

        *ret_out = *ret_err = -1;
        r = service_output(s, &o);
        if (r < 0 || !o)
                return r;
        return output_open(o, ret_out, ret_err);
}

/* Environment a service gets from tendd itself, on top of its config. */
static int service_add_environment(struct service *s, struct spawn_params *p)
{
        char buf[64];
        int r;

        if (s->config->type == SERVICE_NOTIFY && s->host->notify_path) {
                _cleanup_free_ char *e = NULL;
                if (asprintf(&e, "NOTIFY_SOCKET=%s", s->host->notify_path) < 0)
                        return -ENOMEM;
                r = strv_push(&p->envp, TAKE_PTR(e));
                if (r < 0)
                        return r;
        }
        if (s->config->watchdog > 0) {
                (void)snprintf(buf, sizeof buf, "WATCHDOG_USEC=%llu",
                               (unsigned long long)s->config->watchdog);
                r = strv_extend(&p->envp, buf);
                if (r < 0)
                        return r;
                /* The child fills in its own pid: it is not known before clone. */
                r = strv_extend(&p->envp, "WATCHDOG_PID=            ");
                if (r < 0)
                        return r;
                p->pid_env_slot = p->envp[strv_length(p->envp) - 1] + strlen("WATCHDOG_PID=");
        }
        return 0;
}

/* A simple service without a ready fd that has a health check is ready when
 * the check first passes. */
static bool service_health_gates(const struct service *s)
{
        const struct service_config *sc = s->config;

        return service_config_has_health(sc) && sc->type == SERVICE_SIMPLE &&
               s->ready_fd < 0;
}

/* What a starting service waits for, for its reason. */
static const char *service_waits_for(const struct service *s)
{
        if (s->config->type == SERVICE_ONESHOT)
                return "it to finish";
        if (s->ready_fd >= 0)
                return "the ready fd";
        if (s->config->type == SERVICE_SIMPLE)
                return "its health check to pass";
        return "READY=1";
}

/* The check probes the main process while running, and while starting
 * where it gates readiness (not before: exec_start_pre). */
static bool service_health_wanted(const struct service *s)
{
        return s->pidfd >= 0 && (s->state == SERVICE_RUNNING ||
                                 (s->state == SERVICE_STARTING && service_health_gates(s)));
}

static void service_begin_stop(struct service *s, enum service_stop_cause cause,
                               const char *detail);

/* A probe ended. While starting, a pass makes the service ready and a
 * failure is left to ready_timeout; while running, a failure after
 * health_start_period counts, and health_retries of them in a row stop it
 * for the restart policy (STOP_CAUSE_HEALTH). */
static void service_health_done(struct health *h, void *userdata)
{
        struct service *s = userdata;

        if (s->config->health_exec)
                s->host->ops->reaped(s, s->host->userdata); /* children queued behind it */
        if (!service_health_wanted(s)) {
                health_stop(h); /* draining: the main process is gone */
                return;
        }
        if (h->last_ok) {
                bool again = h->failures > 0;

                h->failures = 0;
                if (s->state == SERVICE_STARTING) {
                        service_dispatch(s, SERVICE_EVENT_READY);
                        return;
                }
                if (again) {
                        log_service(LOG_INFO, s->name, "health check passed again");
                        s->host->ops->state_changed(s, s->state, s->host->userdata);
                }
                return;
        }
        if (s->state != SERVICE_RUNNING)
                return; /* starting: ready_timeout decides */
        if (sys->now() - s->started_mono < s->config->health_start_period) {
                log_service(LOG_INFO, s->name, "health check failed within health_start_period "
                            "(not counted): %s", h->last_what);
                return;
        }
        if (h->failures < UINT_MAX)
                h->failures++;
        log_service(LOG_WARNING, s->name, "health check failed (%u/%u): %s", h->failures,
                    s->config->health_retries, h->last_what);
        if (h->failures >= s->config->health_retries) {
                service_begin_stop(s, STOP_CAUSE_HEALTH, NULL);
                return;
        }
        s->host->ops->state_changed(s, s->state, s->host->userdata);
}

static int service_command_spawn(struct service *s, const char *line, char *const *env,
                                 usec_t timeout, int out_fd, command_done_fn done, void *userdata,
                                 struct command **ret, char **ret_reason);

/* health_exec: a command of the service (its user, environment, cgroup),
 * with TEND_SERVICE and MAINPID, its output to the check's pipe. */
static int service_health_exec(struct health *h, int out_fd, usec_t timeout,
                               command_done_fn done, struct command **ret, char **ret_reason,
                               void *userdata)
{
        struct service *s = userdata;
        char name[sizeof "TEND_SERVICE=" + SERVICE_NAME_MAX], pid[32];
        char *env[] = { name, pid, NULL };

        (void)snprintf(name, sizeof name, "TEND_SERVICE=%s", s->name);
        (void)snprintf(pid, sizeof pid, "MAINPID=%d", (int)s->pid);
        return service_command_spawn(s, s->config->health_exec, env, timeout, out_fd, done, h, ret,
                                     ret_reason);
}

/* See service.h. */
int service_health_make(struct service *s)
{
        if (s->health)
                return 0;
        return health_new(s->host->loop, &s->config, service_health_done, service_health_exec, s,
                          &s->health);
}

/* The check follows the config and the state: made when the config has one
 * (out of memory: said, and the service runs without), dropped when it has
 * none, probing only while wanted. */
static void service_health_sync(struct service *s)
{
        int r;

        if (!service_config_has_health(s->config)) {
                s->health = health_free(s->health);
                return;
        }
        if (!s->health) {
                r = service_health_make(s);
                if (r < 0) {
                        log_service(LOG_WARNING, s->name, "no health check: %s", strerror(-r));
                        return;
                }
        }
        if (!service_health_wanted(s)) {
                if (s->health->active)
                        health_stop(s->health);
                return;
        }
        if (!s->health->active)
                health_schedule(s->health,
                                s->state == SERVICE_STARTING ? 0 : health_interval(s->health));
}

/* See service.h. */
const char *service_health(const struct service *s, char *buf, size_t len)
{
        if (!s->health && service_config_has_health(s->config))
                return "inactive"; /* not started since it has one */
        return health_describe(s->health, service_is_live(s), buf, len);
}

/* Spawn the main process and enter starting or running; on any failure enter
 * failed with the reason. */
/* A spawn that failed for want of a resource is tried again after at least this. */
#define SPAWN_RETRY_MIN (100 * USEC_PER_MSEC)

/* Out of fds, memory or processes: not the service's fault and not for good. */
static bool service_error_is_transient(int err)
{
        return err == -EMFILE || err == -ENFILE || err == -ENOMEM || err == -EAGAIN ||
               err == -ENOBUFS;
}

/* The spawn failed. For want of a resource, it is a failed start the restart
 * policy retries (with the backoff delay, not counted against the start limit:
 * nothing started); anything else is for good: failed. */
static void service_restart_or_give_up(struct service *s, const char *what, bool not_started);
static void service_spawn_failed(struct service *s, int err, const char *fmt, ...) _printf_(3, 4);

static void service_spawn_failed(struct service *s, int err, const char *fmt, ...)
{
        char what[SERVICE_REASON_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        if (service_error_is_transient(err))
                service_restart_or_give_up(s, what, true);
        else
                service_set_state(s, SERVICE_FAILED, "%s", what);
}

/* With kill_mode = cgroup, spawn into the service's cgroup; without a
 * cgroup subtree that is a failed start, with the reason. */
static int service_spawn_cgroup(struct service *s, struct spawn_params *p)
{
        char why[CGLIMITS_WHY_MAX];
        int r;

        if (service_kill_mode(s) != KILL_CGROUP) {
                if (cglimits_needed(s->config) == 0)
                        return 0;
                service_set_state(s, SERVICE_FAILED,
                                  "resource limits need the service's cgroup: kill_mode = %s",
                                  kill_mode_to_string(service_kill_mode(s)));
                return -EINVAL;
        }
        if (!s->host->cgroup) {
                service_set_state(s, SERVICE_FAILED, "kill_mode = cgroup, but tend has no cgroup: %s",
                                  s->host->cgroup_why ? s->host->cgroup_why : "none set up");
                return -ENOENT;
        }
        r = service_open_cgroup(s);
        if (r < 0) {
                service_spawn_failed(s, r, "cgroup %s/%s.service: %s", s->host->cgroup->path,
                                     s->name, strerror(-r));
                return r;
        }
        /* Before the first process: written again into a cgroup made anew. */
        r = cglimits_apply(s->cgroup_fd, NULL, s->config, why, sizeof why);
        if (r < 0) {
                service_set_state(s, SERVICE_FAILED, "%s", why);
                return r;
        }
        p->cgroup_fd = s->cgroup_fd;
        return 0;
}

static bool service_has_start_pre(const struct service *s)
{
        return s->config->exec_start_pre && s->config->exec_start_pre[0];
}

static void service_run_start_pre(struct service *s, unsigned index);
static void service_ready(struct service *s, const char *fmt, ...) _printf_(2, 3);

/* Spawn the main process and enter starting or running; on any failure enter
 * failed with the reason. */
static void service_spawn_main(struct service *s)
{
        struct spawn_params p;
        _cleanup_free_ char *why = NULL;
        _cleanup_close_ int ready_read = -1, ready_write = -1;
        const char *step = NULL;
        int out = -1, err = -1, pidfd = -1, r;
        pid_t pid = 0;
        usec_t now;

        /* The control socket's fds first: a spawn never takes the last ones. */
        r = fd_reserve_fill();
        if (r < 0) {
                service_spawn_failed(s, r, "spawn: %s (the last %d are kept for the control "
                                     "socket)", strerror(-r), FD_RESERVE);
                return;
        }
        r = spawn_prepare(s->config, &p, &why);
        if (r < 0) {
                service_set_state(s, SERVICE_FAILED, "%s", why ? why : strerror(-r));
                return;
        }
        r = service_add_environment(s, &p);
        for (char **e = s->start_env; r >= 0 && e && *e; e++)
                r = strv_extend(&p.envp, *e);
        s->start_env = strv_free(s->start_env); /* for this spawn only */
        if (r >= 0 && s->config->ready_fd >= 0) {
                int fds[2];
                if (pipe2(fds, O_CLOEXEC) < 0)
                        r = -errno;
                else {
                        ready_read = fds[0];
                        ready_write = fds[1];
                        (void)fcntl(ready_read, F_SETFL, O_NONBLOCK);
                        p.pass_fd = ready_write;
                        p.pass_fd_target = s->config->ready_fd;
                }
        }
        if (r < 0) {
                spawn_params_done(&p);
                service_spawn_failed(s, r, "setting up: %s", strerror(-r));
                return;
        }
        r = service_spawn_cgroup(s, &p);
        if (r < 0) {
                spawn_params_done(&p);
                return; /* failed, with the reason */
        }
        r = service_open_output(s, &out, &err);
        if (r < 0) {
                spawn_params_done(&p);
                service_spawn_failed(s, r, "output %s/%s.log: %s", s->host->log_dir,
                                     s->name, strerror(-r));
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
                        service_spawn_failed(s, r, "%s: %s", step ? step : "spawn", strerror(-r));
                return;
        }

        now = sys->now();
        s->pid = pid;
        s->sid = pid; /* the child called setsid() */
        s->pidfd = pidfd;
        s->before_main = false;
        if (!service_has_start_pre(s)) {
                /* With exec_start_pre, the start began with the first of them. */
                s->started_mono = now;
                service_record_start(s, now);
        }
        service_index_session(s, true);
        ev_io_set(&s->pidfd_watcher, pidfd, EV_READ);
        ev_io_start(s->host->loop, &s->pidfd_watcher);
        if (ready_read >= 0) {
                s->ready_fd = TAKE_FD(ready_read);
                ev_io_set(&s->ready_watcher, s->ready_fd, EV_READ);
                ev_io_start(s->host->loop, &s->ready_watcher);
        }
        if (s->config->type == SERVICE_SIMPLE && s->ready_fd < 0 && !service_health_gates(s)) {
                service_ready(s, "started, pid %d", (int)pid);
                return;
        }
        service_set_state(s, SERVICE_STARTING, "started, pid %d, waiting for %s", (int)pid,
                          service_waits_for(s));
}

/* Hooks: a service's auxiliary commands around its main process. At most
 * one runs at a time (s->hook, s->hook_kind); the state says where the
 * service is, the reason names the hook. */

static void service_begin_stop(struct service *s, enum service_stop_cause cause,
                               const char *detail);
static void service_signal(struct service *s, int sig, bool group);

/* Its cgroup for an auxiliary command (kill_mode = cgroup): made anew if it
 * was killed, with its limits written, as for a spawn. */
static int service_command_cgroup(struct service *s, struct spawn_params *p, char **ret_reason)
{
        char why[CGLIMITS_WHY_MAX];
        bool fresh;
        int r;

        if (service_kill_mode(s) != KILL_CGROUP || !s->host->cgroup)
                return 0;
        if (s->draining && s->cgroup_killed) {
                /* Made anew it would lose the watch that ends the instance. */
                *ret_reason = strdup("its cgroup is being emptied (cgroup.kill)");
                return -EBUSY;
        }
        fresh = s->cgroup_fd < 0 || s->cgroup_killed;
        r = service_open_cgroup(s);
        if (r < 0) {
                (void)asprintf(ret_reason, "cgroup %s/%s.service: %s", s->host->cgroup->path,
                               s->name, strerror(-r));
                return r;
        }
        if (fresh) {
                r = cglimits_apply(s->cgroup_fd, NULL, s->config, why, sizeof why);
                if (r < 0) {
                        *ret_reason = strdup(why);
                        return r;
                }
        }
        p->cgroup_fd = s->cgroup_fd;
        return 0;
}

/* See service.h. */
int service_command_start(struct service *s, const char *line, char *const *env, usec_t timeout,
                          void (*done)(struct command *c, const struct command_result *res,
                                       void *userdata),
                          void *userdata, struct command **ret, char **ret_reason)
{
        return service_command_spawn(s, line, env, timeout, -1, done, userdata, ret, ret_reason);
}

/* service_command_start(), with its output to out_fd (borrowed) instead
 * of the service's when out_fd >= 0. */
static int service_command_spawn(struct service *s, const char *line, char *const *env,
                                 usec_t timeout, int out_fd, command_done_fn done, void *userdata,
                                 struct command **ret, char **ret_reason)
{
        _cleanup_strv_free_ char **argv = NULL;
        struct spawn_params p;
        struct output *o;
        const char *step = NULL;
        int out = -1, err = -1, r;

        *ret_reason = NULL;
        r = shell_split(line, &argv);
        if (r < 0 || !argv[0]) {
                *ret_reason = strdup("invalid command line");
                return r < 0 ? r : -EINVAL;
        }
        if (s->config->expand) {
                /* As exec's words at load (config.c checked that this expands). */
                _cleanup_free_ char *bad = NULL;
                char **e = NULL;

                r = expand_strv(argv, s->config->environment, &e, &bad);
                if (r < 0) {
                        *ret_reason = strdup(r == -ENOENT ? "unknown variable in command line"
                                                          : "cannot expand command line");
                        return r;
                }
                strv_free(argv);
                argv = e;
        }
        r = fd_reserve_fill();
        if (r < 0)
                return r;
        r = spawn_prepare_argv(s->config, argv, &p, ret_reason);
        if (r < 0)
                return r;
        for (char *const *e = env; e && *e && r >= 0; e++)
                r = strv_extend(&p.envp, *e);
        if (r >= 0)
                r = service_command_cgroup(s, &p, ret_reason);
        if (r >= 0 && out_fd >= 0)
                out = err = out_fd;
        else if (r >= 0) {
                r = service_output(s, &o);
                if (r >= 0 && o)
                        r = output_open_aux(o, &out, &err);
        }
        if (r >= 0) {
                p.stdout_fd = out;
                p.stderr_fd = err;
                r = command_start(s->host->loop, &p, timeout, s->config->stop_signal, done,
                                  userdata, ret, &step);
                if (r < 0 && !*ret_reason)
                        (void)asprintf(ret_reason, "%s %s: %s", step ? step : "spawn", argv[0],
                                       strerror(-r));
        }
        if (out > STDERR_FILENO && out != out_fd)
                (void)close(out);
        if (err > STDERR_FILENO && err != out && err != out_fd)
                (void)close(err);
        spawn_params_done(&p);
        return r;
}

static bool service_exit_in(const struct service *s, const struct config_exit_set *set);

/* "TEND_RESULT" for exec_stop_post: why the service went. */
static const char *service_result(const struct service *s)
{
        if (s->hook_failure)
                return strncmp(s->hook_failure, "exec_start_pre", 14) == 0 ? "start-pre"
                                                                           : "start-post";
        if (s->stop_cause == STOP_CAUSE_WATCHDOG)
                return "watchdog";
        if (s->stop_cause == STOP_CAUSE_READY_TIMEOUT || s->stop_timed_out)
                return "timeout";
        if (s->stop_cause == STOP_CAUSE_HEALTH)
                return "health";
        if (!s->has_exit || s->before_main)
                return "success"; /* stopped before its main process ran */
        if (service_exit_in(s, &s->config->success_exit))
                return "success"; /* it counts as exit 0 */
        if (s->exit_signal == 0)
                return s->exit_code == 0 ? "success" : "exit-code";
        if (s->state == SERVICE_STOPPING && s->exit_signal == s->config->stop_signal)
                return "success"; /* the signal it was stopped with */
        return "signal";
}

/* Run the hook kind (index: of exec_start_pre) of s. Its end comes to
 * service_hook_done(). -errno with the reason in why when it cannot. */
static int service_run_hook(struct service *s, enum service_hook kind, unsigned index, char *why,
                            size_t len)
{
        const struct service_config *sc = s->config;
        const char *line = kind == HOOK_START_PRE    ? sc->exec_start_pre[index]
                           : kind == HOOK_START_POST ? sc->exec_start_post
                           : kind == HOOK_STOP       ? sc->exec_stop
                           : kind == HOOK_RELOAD     ? sc->exec_reload
                                                     : sc->exec_stop_post;
        char env[6][96];
        char *envp[7] = { NULL };
        _cleanup_free_ char *service = NULL, *reason = NULL;
        size_t n = 0;
        usec_t timeout =
                kind == HOOK_STOP || sc->hook_timeout == 0 ? USEC_INFINITY : sc->hook_timeout;
        int r;

        assert(!s->hook);
        if (asprintf(&service, "TEND_SERVICE=%s", s->name) < 0)
                return -ENOMEM;
        envp[n++] = service;
        (void)snprintf(env[n], sizeof env[n], "TEND_HOOK=%s", service_hook_to_string(kind));
        envp[n] = env[n];
        n++;
        if (s->pid > 0 && s->pidfd >= 0) {
                (void)snprintf(env[n], sizeof env[n], "MAINPID=%d", (int)s->pid);
                envp[n] = env[n];
                n++;
        }
        if (kind == HOOK_STOP_POST) {
                /* Stopped before its main process ran: no exit of this start
                 * (a failed exec_start_pre's is, as hook_failure says). */
                bool exited = s->has_exit && (!s->before_main || s->hook_failure);
                const char *sig =
                        exited && s->exit_signal > 0 ? signal_to_name(s->exit_signal) : NULL;

                if (exited && s->exit_signal == 0)
                        (void)snprintf(env[n], sizeof env[n], "TEND_EXIT_CODE=%d", s->exit_code);
                else
                        (void)snprintf(env[n], sizeof env[n], "TEND_EXIT_CODE=");
                envp[n] = env[n];
                n++;
                if (sig)
                        (void)snprintf(env[n], sizeof env[n], "TEND_EXIT_SIGNAL=%s",
                                       strncmp(sig, "SIG", 3) == 0 ? sig + 3 : sig);
                else if (exited && s->exit_signal > 0)
                        (void)snprintf(env[n], sizeof env[n], "TEND_EXIT_SIGNAL=%d",
                                       s->exit_signal);
                else
                        (void)snprintf(env[n], sizeof env[n], "TEND_EXIT_SIGNAL=");
                envp[n] = env[n];
                n++;
                (void)snprintf(env[n], sizeof env[n], "TEND_RESULT=%s", service_result(s));
                envp[n] = env[n];
                n++;
        }
        r = service_command_start(s, line, envp, timeout, service_hook_done, s, &s->hook, &reason);
        if (r < 0) {
                (void)snprintf(why, len, "%s", reason ? reason : strerror(-r));
                return r;
        }
        s->hook_kind = kind;
        s->hook_index = index;
        return 0;
}

/* How a hook ended, for a reason: "exited with code 3". */
static void service_format_result(const struct command_result *res, char *buf, size_t len)
{
        const char *sig = res->exited ? NULL : signal_to_name(res->signal);

        if (res->exited)
                (void)snprintf(buf, len, "exited with code %d", res->code);
        else if (sig)
                (void)snprintf(buf, len, "killed by signal %s", sig);
        else
                (void)snprintf(buf, len, "killed by signal %d", res->signal);
        if (res->timed_out) {
                size_t n = strlen(buf);
                (void)snprintf(buf + n, len - n, " (timed out)");
        }
}

static void service_start_failed(struct service *s, const char *what);

/* exec_start_pre number index (from 0), in starting; its failure fails the start. */
static void service_run_start_pre(struct service *s, unsigned index)
{
        char why[SERVICE_REASON_MAX];
        size_t n = strv_length(s->config->exec_start_pre);

        if (service_run_hook(s, HOOK_START_PRE, index, why, sizeof why) < 0) {
                char what[SERVICE_REASON_MAX + 64];

                (void)snprintf(what, sizeof what, "exec_start_pre %u/%zu: %s", index + 1, n, why);
                s->has_exit = false; /* nothing of this start exited */
                if (s->state != SERVICE_STARTING)
                        service_set_state(s, SERVICE_STARTING, "%s", what);
                service_start_failed(s, what);
                return;
        }
        service_set_state(s, SERVICE_STARTING, "running exec_start_pre %u/%zu", index + 1, n);
}

/* Ready (simple: spawned; notify: READY=1; ready_fd): running, after
 * exec_start_post if it has one. */
static void service_ready(struct service *s, const char *fmt, ...)
{
        char what[SERVICE_REASON_MAX], why[SERVICE_REASON_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        if (s->config->exec_start_post && !s->hook) {
                if (service_run_hook(s, HOOK_START_POST, 0, why, sizeof why) >= 0) {
                        service_set_state(s, SERVICE_STARTING, "%s, running exec_start_post", what);
                        return;
                }
                free(s->hook_failure);
                if (asprintf(&s->hook_failure, "exec_start_post: %s", why) < 0)
                        s->hook_failure = NULL;
                service_begin_stop(s, STOP_CAUSE_START_POST, NULL);
                return;
        }
        service_set_state(s, SERVICE_RUNNING, "%s", what);
}

/* exec_stop_post, once the main process is gone (or never came); false:
 * it has none or it could not be spawned (said). Its end dispatches EXIT,
 * or applies the restart policy to a failed start (hook_failure). */
static bool service_run_stop_post(struct service *s)
{
        char why[SERVICE_REASON_MAX];

        if (!s->config->exec_stop_post)
                return false;
        if (service_run_hook(s, HOOK_STOP_POST, 0, why, sizeof why) < 0) {
                log_service(LOG_WARNING, s->name, "exec_stop_post: %s", why);
                return false;
        }
        ev_timer_stop(s->host->loop, &s->timer); /* it has its own timeout */
        service_update(s, LOG_INFO, "%s; running exec_stop_post",
                       s->hook_failure ? s->hook_failure : "main process gone");
        return true;
}

/* A start failed without a main process running (exec_start_pre):
 * exec_stop_post, then the restart policy. */
static void service_start_failed(struct service *s, const char *what)
{
        char *w = strdup(what);

        if (!w) {
                service_restart_or_give_up(s, what, false);
                return;
        }
        free(s->hook_failure);
        s->hook_failure = w;
        if (service_run_stop_post(s))
                return;
        s->hook_failure = NULL;
        service_restart_or_give_up(s, w, false);
        free(w);
}

/* The main process is gone (and what was left of its cgroup): exec_stop
 * still running is waited for; another hook is killed; then exec_stop_post,
 * then EXIT. */
static void service_main_gone(struct service *s)
{
        if (s->hook && s->hook_kind == HOOK_STOP) {
                service_update(s, LOG_INFO, "main process gone, waiting for exec_stop");
                return;
        }
        if (s->hook && s->hook_kind == HOOK_STOP_POST)
                return; /* it ends the instance */
        s->hook = command_abandon(s->hook);
        s->hook_kind = HOOK_NONE;
        if (service_run_stop_post(s))
                return;
        service_dispatch(s, SERVICE_EVENT_EXIT);
}

/* See service.h. */
void service_hook_done(struct command *c, const struct command_result *res, void *userdata)
{
        struct service *s = userdata;
        enum service_hook kind = s->hook_kind;
        unsigned index = s->hook_index;
        char how[128], what[SERVICE_REASON_MAX];
        bool ok = res->exited && res->code == 0;
        size_t n;

        assert(c == s->hook);
        s->hook = command_free(s->hook);
        s->host->ops->reaped(s, s->host->userdata); /* children queued behind it */
        s->hook_kind = HOOK_NONE;
        s->hook_index = 0;
        service_format_result(res, how, sizeof how);
        switch (kind) {
        case HOOK_START_PRE:
                n = strv_length(s->config->exec_start_pre);
                if (ok && index + 1 < n) {
                        service_run_start_pre(s, index + 1);
                        return;
                }
                if (ok) {
                        service_spawn_main(s);
                        return;
                }
                /* Its exit is the service's last exit, as the reason says. */
                s->has_exit = true;
                s->exit_code = res->exited ? res->code : -1;
                s->exit_signal = res->exited ? 0 : res->signal;
                (void)snprintf(what, sizeof what, "exec_start_pre %u/%zu %s", index + 1, n, how);
                service_start_failed(s, what);
                return;
        case HOOK_START_POST:
                if (ok) {
                        if (s->pidfd >= 0 || s->draining)
                                service_set_state(s, SERVICE_RUNNING, "ready");
                        else {
                                /* A oneshot's: it ran to success. */
                                s->backoff_step = 0;
                                s->completed = true;
                                service_set_state(s, SERVICE_STOPPED, "completed");
                        }
                        return;
                }
                (void)snprintf(what, sizeof what, "exec_start_post %s", how);
                if (s->pidfd < 0 && !s->draining) {
                        service_start_failed(s, what);
                        return;
                }
                free(s->hook_failure);
                s->hook_failure = strdup(what);
                service_begin_stop(s, STOP_CAUSE_START_POST, NULL);
                return;
        case HOOK_STOP:
                if (s->pidfd >= 0 || s->draining) {
                        /* What is left gets the stop signal; the stop's timer runs on. */
                        service_signal(s, s->config->stop_signal, true);
                        service_update(s, LOG_INFO, "exec_stop %s, sent %s", how,
                                       signal_to_name(s->config->stop_signal)
                                               ? signal_to_name(s->config->stop_signal)
                                               : "the stop signal");
                        return;
                }
                service_main_gone(s);
                return;
        case HOOK_RELOAD:
                if (ok)
                        service_update(s, LOG_INFO, "reloaded (exec_reload)");
                else
                        service_update(s, LOG_WARNING, "exec_reload %s", how);
                return;
        case HOOK_STOP_POST:
                if (!ok)
                        log_service(LOG_WARNING, s->name, "exec_stop_post %s", how);
                if (s->hook_failure && s->state == SERVICE_STARTING) {
                        /* After a failed start with no main process. */
                        char *w = TAKE_PTR(s->hook_failure);

                        service_restart_or_give_up(s, w, false);
                        free(w);
                        return;
                }
                service_dispatch(s, SERVICE_EVENT_EXIT);
                return;
        case HOOK_NONE:
        case _HOOK_MAX:
                break;
        }
}

/* See service.h. */
int service_output_tail(struct service *s, char **ret)
{
        if (!s->output) {
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        return output_tail(s->output, ret);
}

/* See service.h. */
int service_reload(struct service *s, char *err, size_t len)
{
        char why[SERVICE_REASON_MAX];
        const char *sig;
        int r;

        if (!s->config->exec_reload && s->config->reload_signal == 0) {
                (void)snprintf(err, len, "%s has neither exec_reload nor reload_signal", s->name);
                return -EOPNOTSUPP;
        }
        if (s->state != SERVICE_RUNNING) {
                (void)snprintf(err, len, "%s is not running (%s)", s->name,
                               service_state_to_string(s->state));
                return -EAGAIN;
        }
        if (s->pidfd < 0) {
                (void)snprintf(err, len, "%s is not running (its main process is gone)", s->name);
                return -EAGAIN;
        }
        if (s->hook) {
                (void)snprintf(err, len, "%s is running %s", s->name,
                               service_hook_to_string(s->hook_kind));
                return -EBUSY;
        }
        if (s->config->exec_reload) {
                r = service_run_hook(s, HOOK_RELOAD, 0, why, sizeof why);
                if (r < 0) {
                        (void)snprintf(err, len, "%s: exec_reload: %s", s->name, why);
                        return r;
                }
                service_update(s, LOG_INFO, "reloading (exec_reload)");
                return 0;
        }
        r = s->pidfd >= 0 ? sys->pidfd_signal(s->pidfd, s->config->reload_signal, false) : -ESRCH;
        if (r < 0) {
                (void)snprintf(err, len, "%s: sending the reload signal: %s", s->name,
                               strerror(-r));
                return r;
        }
        sig = signal_to_name(s->config->reload_signal);
        service_update(s, LOG_INFO, "reload: sent %s", sig ? sig : "the reload signal");
        return 0;
}

/* A start: the config that waited for it, then exec_start_pre (each in
 * turn, see service_hook_done()) or at once the main process. */
static void service_spawn(struct service *s)
{
        if (s->next_config) {
                service_config_free(s->config);
                s->config = TAKE_PTR(s->next_config);
                if (service_alloc_start_times(s) < 0) {
                        service_set_state(s, SERVICE_FAILED, "out of memory");
                        return;
                }
        }
        s->waiting = s->dep_failed = s->completed = s->reloading = false;
        free(s->status_text);
        s->status_text = NULL;
        s->notify_errno = 0;
        s->watchdog_usec = s->config->watchdog;
        free(s->hook_failure);
        s->hook_failure = NULL;
        if (s->health) {
                s->health->passed = false;
                s->health->failures = 0;
        }
        s->before_main = false;
        s->stop_timed_out = false;
        if (service_has_start_pre(s)) {
                usec_t now = sys->now();

                s->before_main = true;
                s->started_mono = now;
                service_record_start(s, now); /* a failing one counts as a start */
                service_run_start_pre(s, 0);
                return;
        }
        service_spawn_main(s);
}

/* Start if every dependency is ready, else wait (stopped, wanted up) with the
 * names as the reason. pull: also ask required services to start. */
static void service_try_start(struct service *s, bool pull)
{
        char why[SERVICE_REASON_MAX];
        bool failed = false;

        if (pull)
                s->host->ops->pull_requirements(s, s->host->userdata);
        if (s->host->ops->unmet_dependencies(s, why, sizeof why, &failed, s->host->userdata) > 0) {
                bool again = s->waiting && s->dep_failed == failed && s->state == SERVICE_STOPPED &&
                             strcmp(s->reason, why) == 0;
                s->waiting = true;
                s->dep_failed = failed;
                if (!again)
                        service_set_state(s, SERVICE_STOPPED, "%s", why);
                return;
        }
        if (s->spawn_granted)
                s->spawn_granted = false;
        else if (!s->host->ops->spawn_slot(s, s->host->userdata)) {
                /* Later, in turn. A restart's old instance is gone: it waits
                 * stopped (a queued spawn starts from stopped, failed or
                 * backoff); other states stay what they are. */
                if (s->state == SERVICE_STOPPING)
                        service_set_state(s, SERVICE_STOPPED, "waiting for its turn to spawn");
                return;
        }
        service_spawn(s);
}

/* See service.h. Whatever happened while it waited decides: a stop, a
 * reload that removed it, shutdown, or a spawn by another path. */
void service_start_queued(struct service *s)
{
        if (!s->want_up || s->removed ||
            (s->state != SERVICE_STOPPED && s->state != SERVICE_FAILED &&
             s->state != SERVICE_BACKOFF))
                return;
        s->spawn_granted = true;
        service_try_start(s, false);
        s->spawn_granted = false;
}

/* Signal the main process alone, or (group) the process group tendd created
 * for the service, addressed through the pidfd of the process that leads it,
 * and the main process too if MAINPID= named one outside that group. A group
 * nobody is left in (ESRCH) says nothing about the main process: it is then
 * signalled by its own pidfd, whose ESRCH alone means it is gone. */
/* Signal every process of the cgroup. */
static int service_cgroup_signal(struct service *s, int sig)
{
        int r = cgroup_unit_signal(s->host->cgroup, s->name, s->cgroup_fd, sig, s->pid, s->pidfd);

        if (sig == SIGKILL && r >= 0)
                s->cgroup_killed = true;
        return r;
}

static int service_send_signal(struct service *s, int sig, bool group)
{
        int leader = s->leader_pidfd >= 0 ? s->leader_pidfd : s->pidfd;
        enum kill_mode mode = service_kill_mode(s);
        int r;

        if (group && mode == KILL_CGROUP && s->cgroup_fd >= 0) {
                /* Every process of the cgroup; the main process too if
                 * MAINPID= named one outside it. */
                r = service_cgroup_signal(s, sig);
                if ((r < 0 && r != -ESRCH) || s->pidfd < 0)
                        return r < 0 ? r : 0;
                if (r == 1)
                        return 0; /* the main process was in it */
                return sys->pidfd_signal(s->pidfd, sig, false);
        }
        if (group && mode != KILL_PROCESS && leader >= 0) {
                r = sys->pidfd_signal(leader, sig, true);
                if (r < 0 && r != -ESRCH)
                        return r;
                if (r == 0) {
                        pid_t pgrp;
                        if (leader == s->pidfd || s->pidfd < 0)
                                return 0;
                        if (pidfd_process_group(s->pidfd, &pgrp) >= 0 && pgrp == s->sid)
                                return 0; /* the main process got it with its group */
                }
        }
        if (s->pidfd < 0)
                return -ESRCH;
        return sys->pidfd_signal(s->pidfd, sig, false);
}

/* See service.h. */
int service_kill(struct service *s, int sig)
{
        if (!service_is_live(s))
                return -ESRCH;
        return service_send_signal(s, sig, true);
}

static void service_signal(struct service *s, int sig, bool group)
{
        int r = service_send_signal(s, sig, group);

        if (r < 0 && r != -ESRCH)
                log_service(LOG_WARNING, s->name, "sending %s: %s",
                            signal_to_name(sig) ? signal_to_name(sig) : "signal", strerror(-r));
}

static const char *service_signal_name(int sig)
{
        const char *n = signal_to_name(sig);
        return n ? n : "signal";
}

static void service_begin_stop(struct service *s, enum service_stop_cause cause, const char *detail)
{
        char d[32], act[64], why[SERVICE_REASON_MAX], last[HEALTH_WHAT_MAX + 32] = "";
        int sig = cause == STOP_CAUSE_WATCHDOG ? SIGABRT : s->config->stop_signal;
        bool main = s->pidfd >= 0 || s->draining;
        /* exec_stop is for the main process: not once it is gone (what it
         * left drains, killed already). */
        bool exec_stop = s->config->exec_stop && cause != STOP_CAUSE_WATCHDOG && s->pidfd >= 0;

        s->stop_cause = cause;
        s->stop_pending = STOP_CAUSE_NONE;
        s->restart_on_exit = cause == STOP_CAUSE_RESTART;
        if (s->hook && s->hook_kind == HOOK_STOP_POST) {
                /* The main process is gone already: the hook ends the instance. */
                (void)snprintf(act, sizeof act, "waiting for exec_stop_post");
        } else {
                /* exec_start_pre, exec_start_post, exec_reload: killed. */
                s->hook = command_abandon(s->hook);
                s->hook_kind = HOOK_NONE;
                if (!main)
                        (void)snprintf(act, sizeof act, "no main process yet");
                else if (exec_stop && service_run_hook(s, HOOK_STOP, 0, why, sizeof why) >= 0)
                        (void)snprintf(act, sizeof act, "running exec_stop");
                else {
                        if (exec_stop)
                                log_service(LOG_WARNING, s->name, "exec_stop: %s", why);
                        /* SIGABRT for a hung service goes to the main process, for its core dump. */
                        service_signal(s, sig, cause != STOP_CAUSE_WATCHDOG);
                        (void)snprintf(act, sizeof act, "sent %s", service_signal_name(sig));
                }
        }
        switch (cause) {
        case STOP_CAUSE_RESTART:
                service_set_state(s, SERVICE_STOPPING, "restarting, %s", act);
                break;
        case STOP_CAUSE_READY_TIMEOUT:
                if (service_health_gates(s) && s->health && s->health->has_result &&
                    !s->health->last_ok)
                        (void)snprintf(last, sizeof last, " (health check: %s)",
                                       s->health->last_what);
                service_set_state(s, SERVICE_STOPPING, "not ready within %s%s, %s",
                                  format_duration(d, sizeof d, s->config->ready_timeout), last,
                                  act);
                break;
        case STOP_CAUSE_HEALTH:
                service_set_state(s, SERVICE_STOPPING, "health check failed %u time%s in a row: "
                                  "%s, %s", s->health ? s->health->failures : 0,
                                  s->health && s->health->failures == 1 ? "" : "s",
                                  s->health ? s->health->last_what : "?", act);
                break;
        case STOP_CAUSE_WATCHDOG:
                service_set_state(s, SERVICE_STOPPING, "watchdog: no WATCHDOG=1 within %s, %s",
                                  format_duration(d, sizeof d, s->watchdog_usec), act);
                break;
        case STOP_CAUSE_DEPENDENCY:
                service_set_state(s, SERVICE_STOPPING, "requirement %s is not running, %s",
                                  detail ? detail : "?", act);
                break;
        case STOP_CAUSE_START_POST:
                service_set_state(s, SERVICE_STOPPING, "%s, %s",
                                  s->hook_failure ? s->hook_failure : "exec_start_post failed",
                                  act);
                break;
        default:
                service_set_state(s, SERVICE_STOPPING, "stop requested, %s", act);
                break;
        }
        if (!main && !s->hook)
                service_main_gone(s); /* exec_stop_post, else the end of the stop */
}

/* Stop a live service, unless services that depend on it must stop first:
 * then remember the request; the host calls service_stop_now() later. */
static void service_request_stop(struct service *s, enum service_stop_cause cause)
{
        char who[SERVICE_REASON_MAX];

        s->restart_on_exit = cause == STOP_CAUSE_RESTART;
        if (s->host->ops->stop_blockers(s, who, sizeof who, s->host->userdata) > 0) {
                s->stop_pending = cause;
                service_update(s, LOG_INFO, "%s after %s",
                               cause == STOP_CAUSE_RESTART ? "restarting" : "stopping", who);
                return;
        }
        service_begin_stop(s, cause, NULL);
}

/* Begin the deferred stop now that no dependent blocks it. */
void service_stop_now(struct service *s)
{
        if (s->stop_pending == STOP_CAUSE_NONE || !service_is_live(s) ||
            s->state == SERVICE_STOPPING)
                return;
        service_begin_stop(s, s->stop_pending, NULL);
}

/* A requirement went down: stop, stay wanted up, come back with it. */
void service_stop_for_dependency(struct service *s, const char *requirement)
{
        if (!service_is_live(s) || s->state == SERVICE_STOPPING)
                return;
        service_begin_stop(s, STOP_CAUSE_DEPENDENCY, requirement);
}

/* Spawn a service that waits for its dependencies, if they are ready now. */
void service_start_waiting(struct service *s)
{
        if (!s->want_up || s->state != SERVICE_STOPPED || !s->waiting)
                return;
        service_try_start(s, false);
}

/* The main process ended and policy may restart it: back off, or give up
 * (restart=never, no longer wanted, start limit hit). */
static void service_restart_or_give_up(struct service *s, const char *what, bool not_started)
{
        usec_t now = sys->now(), delay;
        char d[32];

        if (!s->want_up || s->config->restart == RESTART_NEVER) {
                service_set_state(s, SERVICE_FAILED, "%s", what);
                return;
        }
        if (!not_started && now - s->started_mono >= service_stable_after(s))
                s->backoff_step = 0;
        if (service_start_limit_hit(s, now)) {
                service_set_state(s, SERVICE_FAILED, "%s; start limit hit (%u starts in %s)", what,
                                  s->config->start_limit_burst,
                                  format_duration(d, sizeof d, s->config->start_limit_interval));
                return;
        }
        if (s->backoff_step < UINT_MAX)
                s->backoff_step++;
        delay = service_backoff_delay(s);
        if (not_started && delay < SPAWN_RETRY_MIN)
                delay = SPAWN_RETRY_MIN; /* the resource may take a while to come back */
        s->retry_delay = delay;
        if (delay == 0) {
                /* Nothing to wait for: restart now, not one loop iteration
                 * later, and log the exit with the new start: one write. */
                s->restart_what = what;
                s->restart_from = s->state;
        }
        service_set_state(s, SERVICE_BACKOFF, "%s; restarting in %s", what,
                          format_duration(d, sizeof d, delay));
        if (delay > 0)
                return; /* the state's timer */
        if (s->state == SERVICE_BACKOFF)
                service_dispatch(s, SERVICE_EVENT_TIMER);
        if (s->restart_what) {
                /* Nothing followed: the exit gets its own line after all. */
                s->restart_what = NULL;
                log_service(LOG_INFO, s->name, "%s -> %s (%s)",
                            service_state_to_string(s->restart_from),
                            service_state_to_string(s->state), s->reason);
        }
}

/* Is the last exit in set (a status, or the signal that killed it)? */
static bool service_exit_in(const struct service *s, const struct config_exit_set *set)
{
        if (!s->has_exit)
                return false;
        if (s->exit_signal > 0)
                return s->exit_signal <= 64 && (set->signals & (1ULL << (s->exit_signal - 1)));
        return s->exit_code >= 0 && s->exit_code <= 255 &&
               (set->status[s->exit_code / 64] & (1ULL << (s->exit_code % 64)));
}

/* The main process exited on its own while starting or running: apply
 * policy. Success: exit status 0 or one of success_exit_codes; one of
 * restart_prevent_exit_codes is never restarted (failed, or stopped if it
 * is a success too). */
static void service_exited(struct service *s)
{
        char what[SERVICE_REASON_MAX];
        bool plain = s->has_exit && s->exit_signal == 0 && s->exit_code == 0;
        bool listed = !plain && service_exit_in(s, &s->config->success_exit);
        bool success = plain || listed;
        bool prevent = service_exit_in(s, &s->config->prevent_exit);
        bool early = s->state == SERVICE_STARTING && s->config->type != SERVICE_ONESHOT;
        size_t n;

        service_format_exit(s, what, sizeof what);
        n = strlen(what);
        if (s->config->type == SERVICE_ONESHOT && success) {
                s->backoff_step = 0;
                s->completed = true;
                if (listed)
                        service_set_state(s, SERVICE_STOPPED, "completed, %s (success_exit_codes)",
                                          what);
                else
                        service_set_state(s, SERVICE_STOPPED, "completed");
                return;
        }
        if (early)
                /* Gone before it said it was ready: a failed start, whatever the code. */
                (void)snprintf(what + n, sizeof what - n, " before it was ready");
        if (prevent) {
                n = strlen(what);
                (void)snprintf(what + n, sizeof what - n, " (restart_prevent_exit_codes)");
                s->backoff_step = 0;
                service_set_state(s, success && !early ? SERVICE_STOPPED : SERVICE_FAILED, "%s",
                                  what);
                return;
        }
        if (early) {
                service_restart_or_give_up(s, what, false);
                return;
        }
        if (listed)
                (void)snprintf(what + n, sizeof what - n, " (success_exit_codes)");
        if (success && !(s->want_up && s->config->restart == RESTART_ALWAYS)) {
                service_set_state(s, SERVICE_STOPPED, "%s", what);
                return;
        }
        service_restart_or_give_up(s, what, false); /* a failure, or restart=always */
}

/* The main process is gone after a stop: what happens next depends on why. */
static void service_stopped(struct service *s)
{
        enum service_stop_cause cause = s->stop_cause;
        char what[128], reason[SERVICE_REASON_MAX];

        s->stop_cause = STOP_CAUSE_NONE;
        s->restart_on_exit = false;
        if (s->before_main)
                (void)snprintf(what, sizeof what, "before its main process ran");
        else
                service_format_exit(s, what, sizeof what);
        switch (cause) {
        case STOP_CAUSE_RESTART:
                if (s->want_up) {
                        service_clear_start_limit(s);
                        service_try_start(s, false);
                        return;
                }
                break;
        case STOP_CAUSE_READY_TIMEOUT:
                (void)snprintf(reason, sizeof reason, "not ready within the ready timeout, %s",
                               what);
                service_restart_or_give_up(s, reason, false);
                return;
        case STOP_CAUSE_WATCHDOG:
                (void)snprintf(reason, sizeof reason, "watchdog timeout, %s", what);
                service_restart_or_give_up(s, reason, false);
                return;
        case STOP_CAUSE_HEALTH:
                (void)snprintf(reason, sizeof reason, "health check failed: %.100s, %s",
                               s->health ? s->health->last_what : "?", what);
                service_restart_or_give_up(s, reason, false);
                return;
        case STOP_CAUSE_START_POST:
                (void)snprintf(reason, sizeof reason, "%.100s, then %.100s",
                               s->hook_failure ? s->hook_failure : "exec_start_post failed", what);
                free(s->hook_failure);
                s->hook_failure = NULL;
                service_restart_or_give_up(s, reason, false);
                return;
        case STOP_CAUSE_DEPENDENCY:
                if (s->want_up) {
                        /* Wait for the requirement; the reason names it. */
                        s->waiting = true;
                        service_try_start(s, false);
                        return;
                }
                break;
        default:
                break;
        }
        service_set_state(s, SERVICE_STOPPED, "stopped, %s", what);
}

/* Stopping, and it ends stopped: no restart follows the exit. */
static bool service_stop_is_final(const struct service *s)
{
        return s->state == SERVICE_STOPPING && !s->want_up && !s->restart_on_exit &&
               s->stop_cause != STOP_CAUSE_READY_TIMEOUT && s->stop_cause != STOP_CAUSE_WATCHDOG &&
               s->stop_cause != STOP_CAUSE_HEALTH && s->stop_cause != STOP_CAUSE_START_POST;
}

/* The main process is gone: what it left behind goes too, at once, unless it
 * was being stopped (then the rest has its stop timeout, as it had). The
 * group: the leader's pidfd still names the group's struct pid after it was
 * reaped, so no pid number is used. The cgroup: cgroup.kill, if anything is
 * left in it (one read of cgroup.events when nothing is). True: processes
 * are left in the cgroup. */
static bool service_kill_leftovers(struct service *s)
{
        enum kill_mode mode = service_kill_mode(s);

        if (mode == KILL_CGROUP && s->cgroup_fd >= 0) {
                if (service_stop_is_final(s)) {
                        /* The cgroup goes with the stop: rmdir is the test,
                         * refused (EBUSY) while a process is left in it. */
                        int r = cgroup_unit_remove(s->host->cgroup, s->name);

                        if (r == 0) {
                                service_forget_cgroup(s, true);
                                return false;
                        }
                        if (r == -EBUSY)
                                return true;
                }
                if (cgroup_unit_populated(s->cgroup_fd) <= 0)
                        return false;
                if (s->state != SERVICE_STOPPING)
                        (void)service_cgroup_signal(s, SIGKILL);
                return true;
        }
        if (mode != KILL_PROCESS)
                (void)sys->pidfd_signal(s->leader_pidfd >= 0 ? s->leader_pidfd : s->pidfd,
                                        SIGKILL, true);
        return false;
}

/* The main process was reaped and processes were left in the cgroup: the
 * instance ends with the last of them, when the watch says the cgroup is
 * empty. False: it is empty already, or cannot be watched (said; then
 * nothing would tell when it empties, and the instance ends now). */
static bool service_start_draining(struct service *s)
{
        int r = service_watch_cgroup(s);

        if (r < 0) {
                log_service(LOG_WARNING, s->name, "cannot watch its cgroup: %s; not waiting "
                            "for the rest of it", strerror(-r));
                return false;
        }
        if (cgroup_unit_populated(s->cgroup_fd) > 0) {
                s->draining = true;
                return true;
        }
        service_unwatch_cgroup(s, false);
        return false;
}

/* Reap the main process once its pidfd is readable and dispatch EXIT. */
void service_handle_pidfd(struct service *s)
{
        siginfo_t si = { 0 };
        bool left;
        int r;

        if (s->pidfd < 0)
                return;
        r = sys->reap(s->pidfd, &si);
        if (r == 0)
                return; /* spurious wakeup: still running */
        if (r == -ECHILD) {
                /* A MAINPID= process is not our child: its parent reaps it, and
                 * any holder of its pidfd may read the status afterwards. Until
                 * then it is a zombie: look again shortly (1ms doubling, ~2s). */
                r = pidfd_exit_status(s->pidfd, &si);
                if (r == -ENODATA && s->reap_tries < 12) {
                        ev_io_stop(s->host->loop, &s->pidfd_watcher);
                        ev_timer_set(&s->reap_retry, 0.001 * (1 << s->reap_tries++), 0.);
                        ev_timer_start(s->host->loop, &s->reap_retry);
                        return;
                }
        }
        s->reap_tries = 0;
        if (r < 0) {
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
        s->oom_killed = s->cgroup_fd >= 0 && s->oom_seen != CGLIMITS_UNKNOWN &&
                        cglimits_oom_killed(s->cgroup_fd, &s->oom_seen);
        if (s->hook && s->hook_kind != HOOK_STOP && s->hook_kind != HOOK_STOP_POST) {
                /* exec_start_post, exec_reload: they go with the main process
                 * (see service_main_gone()), now, before cgroup.kill takes them
                 * and their end passes for a failure of theirs. */
                s->hook = command_abandon(s->hook);
                s->hook_kind = HOOK_NONE;
        }
        left = service_kill_leftovers(s);
        ev_io_stop(s->host->loop, &s->pidfd_watcher);
        s->pidfd = safe_close(s->pidfd);
        service_health_sync(s); /* nothing to probe while it drains or exec_stop_post runs */
        service_release_leader(s);
        s->pid = 0;
        service_close_ready_fd(s);
        service_index_session(s, false);
        if (r > 0)
                s->host->ops->reaped(s, s->host->userdata); /* children queued behind it */
        if (left && service_start_draining(s)) {
                service_update(s, LOG_INFO, "main process %s, waiting for the rest of its cgroup",
                               s->has_exit && s->exit_signal == 0 ? "exited" : "ended");
                return;
        }
        service_main_gone(s);
}

/* See service.h. */
void service_cgroup_changed(struct service *s)
{
        if (!s->draining || cgroup_unit_populated(s->cgroup_fd) > 0)
                return;
        s->draining = false;
        service_main_gone(s);
        /* Kept (a restart): unwatched until it drains again. Removed: the
         * watch went with it. */
        if (!s->draining)
                service_unwatch_cgroup(s, false);
}

/* A WATCHDOG=1 or a new WATCHDOG_USEC=: the interval starts again. */
static void service_rearm_watchdog(struct service *s)
{
        if (s->watchdog_usec > 0)
                service_arm_timer(s, s->watchdog_usec);
        else
                ev_timer_stop(s->host->loop, &s->timer);
}

static void service_operator_start(struct service *s)
{
        s->want_up = true;
        service_clear_start_limit(s);
        service_try_start(s, true);
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
                        s->waiting = s->dep_failed = false;
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
                        if (s->stop_pending != STOP_CAUSE_NONE) {
                                s->stop_pending = STOP_CAUSE_NONE;
                                s->restart_on_exit = false;
                        }
                        break;
                case SERVICE_EVENT_STOP:
                        s->want_up = false;
                        service_request_stop(s, STOP_CAUSE_OPERATOR);
                        break;
                case SERVICE_EVENT_RESTART:
                        s->want_up = true;
                        service_request_stop(s, STOP_CAUSE_RESTART);
                        break;
                case SERVICE_EVENT_EXIT:
                        if (s->stop_pending != STOP_CAUSE_NONE) {
                                /* Died while its stop waited for dependents. */
                                s->stop_cause = s->stop_pending;
                                s->stop_pending = STOP_CAUSE_NONE;
                                service_stopped(s);
                        } else
                                service_exited(s);
                        break;
                case SERVICE_EVENT_READY:
                        /* Not again while exec_start_post runs, nor before
                         * the main process (exec_start_pre). */
                        if (s->state == SERVICE_STARTING && !s->hook)
                                service_ready(s, "ready");
                        break;
                case SERVICE_EVENT_TIMER:
                        if (s->state == SERVICE_STARTING) {
                                if (s->config->type != SERVICE_ONESHOT &&
                                    s->config->ready_timeout > 0)
                                        service_begin_stop(s, STOP_CAUSE_READY_TIMEOUT, NULL);
                        } else if (s->watchdog_usec > 0)
                                service_begin_stop(s, STOP_CAUSE_WATCHDOG, NULL);
                        break;
                case _SERVICE_EVENT_MAX:
                        break;
                }
                break;

        case SERVICE_STOPPING:
                switch (ev) {
                case SERVICE_EVENT_START:
                case SERVICE_EVENT_RESTART:
                        s->want_up = true;
                        if (s->stop_cause == STOP_CAUSE_OPERATOR)
                                s->stop_cause = STOP_CAUSE_RESTART;
                        s->restart_on_exit = s->stop_cause == STOP_CAUSE_RESTART ||
                                             s->stop_cause == STOP_CAUSE_DEPENDENCY;
                        break;
                case SERVICE_EVENT_STOP:
                        s->want_up = false;
                        s->stop_cause = STOP_CAUSE_OPERATOR;
                        s->restart_on_exit = false;
                        break;
                case SERVICE_EVENT_TIMER:
                        s->stop_timed_out = true;
                        if (s->hook && s->hook_kind == HOOK_STOP) {
                                /* exec_stop hung: it goes, and the service with it. */
                                s->hook = command_abandon(s->hook);
                                s->hook_kind = HOOK_NONE;
                                service_signal(s, SIGKILL, true);
                                service_update(s, LOG_WARNING,
                                               "stop timed out, exec_stop killed, sent KILL");
                                if (s->pidfd < 0 && !s->draining)
                                        service_main_gone(s);
                                break;
                        }
                        service_signal(s, SIGKILL, true);
                        service_update(s, LOG_WARNING, "stop timed out, sent KILL");
                        break;
                case SERVICE_EVENT_EXIT:
                        service_stopped(s);
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
                        service_try_start(s, false);
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

/* Readiness as dependents see it. */
bool service_is_ready(const struct service *s)
{
        /* Not once its main process is gone and exec_stop_post runs. */
        return (s->state == SERVICE_RUNNING && s->stop_pending == STOP_CAUSE_NONE &&
                s->hook_kind != HOOK_STOP_POST) ||
               (s->state == SERVICE_STOPPED && s->completed);
}

/* See service.h. */
enum service_outcome service_start_outcome(const struct service *s)
{
        /* A restart under way, or a spawn waiting for its turn in whatever
         * state it was asked in (stopped, failed, backoff). */
        if (s->restart_on_exit || (s->spawn_queued && s->want_up))
                return SERVICE_OUTCOME_PENDING;
        switch (s->state) {
        case SERVICE_RUNNING:
                /* Its main process gone, exec_stop_post decides nothing yet. */
                return s->hook_kind == HOOK_STOP_POST ? SERVICE_OUTCOME_PENDING
                                                      : SERVICE_OUTCOME_DONE;
        case SERVICE_STARTING:
        case SERVICE_STOPPING:
                return SERVICE_OUTCOME_PENDING;
        case SERVICE_STOPPED:
                if (s->completed)
                        return SERVICE_OUTCOME_DONE; /* a oneshot that ran to success */
                if (s->want_up && s->waiting)
                        /* waiting for its dependencies, unless one of them failed */
                        return s->dep_failed ? SERVICE_OUTCOME_FAILED : SERVICE_OUTCOME_PENDING;
                return SERVICE_OUTCOME_FAILED;
        case SERVICE_BACKOFF:
        case SERVICE_FAILED:
        default:
                return SERVICE_OUTCOME_FAILED;
        }
}

/* See service.h. */
enum service_outcome service_stop_outcome(const struct service *s)
{
        /* restart_on_exit: the stop is a step of a restart, not the end;
         * stop_pending: waiting for dependents to stop first. */
        if (s->state == SERVICE_STOPPING || s->restart_on_exit ||
            s->stop_pending != STOP_CAUSE_NONE)
                return SERVICE_OUTCOME_PENDING;
        if (s->state == SERVICE_STOPPED || s->state == SERVICE_FAILED)
                return SERVICE_OUTCOME_DONE;
        return SERVICE_OUTCOME_FAILED; /* started again (or restarting) before it stopped */
}

/* See service.h. */
bool service_is_settled(const struct service *s)
{
        if (!s->config->enabled)
                return true;
        switch (s->state) {
        case SERVICE_RUNNING:
        case SERVICE_FAILED:
        case SERVICE_BACKOFF:
                return true;
        case SERVICE_STOPPED:
                return !s->want_up || s->has_exit;
        default:
                return false;
        }
}

/* Apply one notify message from a verified sender of this service. */
void service_handle_notify(struct service *s, struct service_notify_msg *msg)
{
        if (msg->status) {
                char *t = strndup(msg->status, SERVICE_STATUS_MAX - 1);
                if (t) {
                        free(s->status_text);
                        s->status_text = t;
                }
                s->host->ops->state_changed(s, s->state, s->host->userdata);
        }
        if (msg->has_errno)
                s->notify_errno = msg->errno_value;
        if (msg->mainpid_fd >= 0 && service_is_live(s)) {
                /* Keep reaping the process we spawned; watch the new main. */
                if (s->leader_pidfd >= 0 && s->leader_stale) {
                        /* A previous instance's leader outlived it (kill_mode =
                         * process); the subreaper's SIGCHLD path cannot see it
                         * (no exit signal), so look once more, then let go. */
                        siginfo_t si;
                        (void)sys->reap(s->leader_pidfd, &si);
                        ev_io_stop(s->host->loop, &s->leader_watcher);
                        s->leader_pidfd = safe_close(s->leader_pidfd);
                        s->leader_stale = false;
                }
                if (s->leader_pidfd < 0 && s->pidfd >= 0) {
                        s->leader_pidfd = s->pidfd;
                        ev_io_set(&s->leader_watcher, s->leader_pidfd, EV_READ);
                        ev_io_start(s->host->loop, &s->leader_watcher);
                } else
                        s->pidfd = safe_close(s->pidfd);
                ev_io_stop(s->host->loop, &s->pidfd_watcher);
                s->pidfd = TAKE_FD(msg->mainpid_fd);
                s->pid = msg->mainpid;
                ev_io_set(&s->pidfd_watcher, s->pidfd, EV_READ);
                ev_io_start(s->host->loop, &s->pidfd_watcher);
                log_service(LOG_INFO, s->name, "main process is now %d (MAINPID=)", (int)s->pid);
                /* No new state, but a new main process: the host (and what
                 * records it for after a crash of tendd, recover.h) hears of it. */
                s->host->ops->state_changed(s, s->state, s->host->userdata);
        }
        if (msg->has_watchdog_usec) {
                s->watchdog_usec = msg->watchdog_usec;
                if (s->state == SERVICE_RUNNING)
                        service_rearm_watchdog(s);
        }
        if (msg->has_extend && (s->state == SERVICE_STARTING || s->state == SERVICE_STOPPING ||
                                s->state == SERVICE_RUNNING)) {
                /* EXTEND_TIMEOUT_USEC: the current timeout ends no sooner than now + extend. */
                ev_tstamp left = ev_timer_remaining(s->host->loop, &s->timer);
                if (!ev_is_active(&s->timer) || left * 1e6 < (double)msg->extend_usec)
                        service_arm_timer(s, msg->extend_usec);
        }
        if (msg->watchdog_trigger && s->state == SERVICE_RUNNING) {
                service_begin_stop(s, STOP_CAUSE_WATCHDOG, NULL);
                return;
        }
        if (msg->watchdog && s->state == SERVICE_RUNNING && s->watchdog_usec > 0)
                service_rearm_watchdog(s);
        if (msg->reloading) {
                s->reloading = true;
                if (s->state == SERVICE_RUNNING)
                        service_update(s, LOG_INFO, "reloading (RELOADING=1)");
        }
        if (msg->stopping && service_is_live(s) && s->state != SERVICE_STOPPING)
                service_update(s, LOG_INFO, "stopping on its own (STOPPING=1)");
        if (msg->ready) {
                if (s->reloading && s->state == SERVICE_RUNNING)
                        service_update(s, LOG_INFO, "reloaded");
                s->reloading = false;
                service_dispatch(s, SERVICE_EVENT_READY);
        }
}

/* A new config replaces the current one at once unless it changes how a live
 * service is spawned: then it waits for the next spawn. */
static bool service_config_now(const struct service *s, const struct service_config *sc)
{
        return !service_is_live(s) || service_config_spawn_equal(s->config, sc);
}

/* See service.h. */
int service_config_alloc(const struct service *s, const struct service_config *sc, usec_t **ret)
{
        *ret = NULL;
        if (!service_config_now(s, sc) || sc->start_limit_burst == s->config->start_limit_burst ||
            sc->start_limit_burst == 0)
                return 0;
        *ret = calloc(sc->start_limit_burst, sizeof(usec_t));
        return *ret ? 0 : -ENOMEM;
}

/* A reload changed the limits of a service that has its cgroup: written at
 * once (a removed one back to the kernel's default). The service runs on if
 * the kernel refuses; the next spawn into a new cgroup fails with why. */
static void service_apply_limits(struct service *s, const struct service_config *sc)
{
        /* What the cgroup has now: an earlier reload may have written a
         * config that still waits for the spawn. */
        const struct service_config *old = s->next_config ? s->next_config : s->config;
        char why[CGLIMITS_WHY_MAX];

        if (s->cgroup_fd < 0 || memcmp(&old->cgroup, &sc->cgroup, sizeof sc->cgroup) == 0)
                return;
        service_sync_oom(s);
        if (cglimits_apply(s->cgroup_fd, old, sc, why, sizeof why) < 0)
                log_service(LOG_WARNING, s->name, "reload: %s", why);
        else
                log_service(LOG_INFO, s->name, "reload: resource limits updated");
}

/* See service.h. */
void service_set_config(struct service *s, struct service_config *sc, usec_t *ring)
{
        bool burst_changed = sc->start_limit_burst != s->config->start_limit_burst;
        bool health_changed = !service_config_health_equal(s->config, sc);

        if (!service_config_now(s, sc)) {
                /* Limits are policy: at once, whatever waits for the spawn. */
                service_apply_limits(s, sc);
                free(ring);
                service_config_free(s->next_config);
                s->next_config = sc;
                return;
        }
        service_apply_limits(s, sc);
        service_config_free(s->config);
        s->config = sc;
        service_config_free(s->next_config);
        s->next_config = NULL;
        if (burst_changed) {
                free(s->start_times);
                s->start_times = ring;
                s->n_start_times = s->start_times_pos = 0;
        } else
                free(ring);
        if (health_changed) {
                /* A new check starts counting afresh, at its own interval. */
                if (s->health) {
                        health_stop(s->health);
                        s->health->failures = 0;
                }
                service_health_sync(s);
        }
}

/* See service.h. Used once, at a start after a crash of tendd: the one
 * way into running that is not a spawn. */
int service_adopt(struct service *s, const struct service_adoption *a)
{
        pid_t sid = 0;
        int r;

        if (service_is_live(s) || s->pidfd >= 0)
                return -EBUSY;
        /* Its session (the process tendd spawned made it): where its notify
         * messages come from, checked as for a spawned one. A process that
         * is gone has none: its exit is read through the pidfd at once. */
        r = pidfd_session(a->leader_pidfd >= 0 ? a->leader_pidfd : a->pidfd, NULL, &sid);
        if (r < 0 && a->leader_pidfd >= 0)
                r = pidfd_session(a->pidfd, NULL, &sid);
        if (r == -ESRCH && a->leader_pidfd < 0)
                sid = 0;
        else if (r < 0)
                return r;
        s->pid = a->pid;
        s->sid = sid;
        s->pidfd = a->pidfd;
        s->leader_pidfd = a->leader_pidfd; /* not a child: no leader_watcher to reap it */
        s->want_up = true;
        s->started_mono = sys->now();
        s->watchdog_usec = s->config->watchdog; /* it still has WATCHDOG_USEC= */
        if (sid > 0)
                service_index_session(s, true);
        ev_io_set(&s->pidfd_watcher, s->pidfd, EV_READ);
        ev_io_start(s->host->loop, &s->pidfd_watcher);
        if (a->ready_fd >= 0) {
                s->ready_fd = a->ready_fd;
                ev_io_set(&s->ready_watcher, s->ready_fd, EV_READ);
                ev_io_start(s->host->loop, &s->ready_watcher);
        }
        if (service_kill_mode(s) == KILL_CGROUP && s->host->cgroup) {
                /* Its cgroup is still there: found again by name. */
                r = service_open_cgroup(s);
                if (r < 0)
                        log_service(LOG_WARNING, s->name, "cannot open its cgroup again: %s",
                                    strerror(-r));
        }
        /* Waiting only for what it can still say: a service that is simple
         * now (its config changed) with no ready pipe has nothing to wait for. */
        if (a->starting && (s->config->type != SERVICE_SIMPLE || s->ready_fd >= 0 ||
                            service_health_gates(s)))
                service_set_state(s, SERVICE_STARTING, "%s, waiting for %s", a->reason,
                                  service_waits_for(s));
        else
                service_set_state(s, SERVICE_RUNNING, "%s", a->reason);
        return 0;
}

/* See service.h. */
int service_adopt_output(struct service *s, int fd)
{
        struct output *o;
        int r = service_output(s, &o);

        if (r >= 0 && !o) {
                /* output = null now: read it out into a file rather than lose it. */
                const struct output_owner owner = {
                        .name = s->name,
                        .loop = s->host->loop,
                        .log_dir = &s->host->log_dir,
                        .config = &s->config,
                };
                r = output_new(&owner, &s->output);
                o = s->output;
        }
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        return output_adopt(o, fd);
}

/* See service.h. */
void service_resume(struct service *s, const struct service_resume *x)
{
        usec_t now = sys->now();

        /* Not while reap_retry waits for a MAINPID= process's parent to
         * reap it: its pidfd stays readable, and reap_retry looks again. */
        if (s->pidfd >= 0 && x->reap_retry == USEC_INFINITY) {
                ev_io_set(&s->pidfd_watcher, s->pidfd, EV_READ);
                ev_io_start(s->host->loop, &s->pidfd_watcher);
        }
        if (s->leader_pidfd >= 0 && x->leader_watching) {
                ev_io_set(&s->leader_watcher, s->leader_pidfd, EV_READ);
                ev_io_start(s->host->loop, &s->leader_watcher);
        }
        if (s->ready_fd >= 0) {
                ev_io_set(&s->ready_watcher, s->ready_fd, EV_READ);
                ev_io_start(s->host->loop, &s->ready_watcher);
        }
        if (s->hook)
                command_resume(s->hook);
        if (x->timer != USEC_INFINITY)
                service_arm_timer(s, x->timer > now ? x->timer - now : 0);
        if (x->reap_retry != USEC_INFINITY) {
                ev_timer_set(&s->reap_retry,
                             (double)(x->reap_retry > now ? x->reap_retry - now : 0) /
                                     (double)USEC_PER_SEC,
                             0.);
                ev_timer_start(s->host->loop, &s->reap_retry);
        }
        if (x->session)
                service_index_session(s, true);
        if (s->health)
                health_resume(s->health, x->health_due);
        if (x->cgroup && s->host->cgroup) {
                /* The same cgroup, found again by name; the OOM count as it
                 * was seen, so a kill during the exec still shows. */
                uint64_t oom_seen = s->oom_seen;
                bool killed = s->cgroup_killed;
                int r;

                s->cgroup_killed = false;
                r = service_open_cgroup(s);
                s->cgroup_killed = killed;
                if (r < 0) {
                        log_service(LOG_WARNING, s->name, "cannot open its cgroup again: %s",
                                    strerror(-r));
                        if (s->draining) {
                                /* Nothing would say when it empties. */
                                s->draining = false;
                                service_main_gone(s);
                        }
                } else {
                        s->oom_seen = oom_seen;
                        if (s->draining && !service_start_draining(s)) {
                                /* Emptied during the exec: exec_stop still
                                 * running is waited for, then exec_stop_post. */
                                s->draining = false;
                                service_main_gone(s);
                        }
                }
        }
}
