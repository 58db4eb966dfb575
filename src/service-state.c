/* service-state.c: one service's state across tendd's execve of itself
 * (see state.h): every field of struct service that is not derived, its
 * config and pending config, its fds (pidfds, the readiness pipe, the output
 * pipes) and the deadlines of its timers. The watchers are started again by
 * service_resume() once the host has every service back. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "config-state.h"
#include "health.h"
#include "output.h"
#include "service.h"
#include "state.h"
#include "sys.h"
#include "util.h"

enum {
        SS_NAME = 1,
        SS_CONFIG,
        SS_NEXT_CONFIG,
        SS_REASON,
        SS_STATUS_TEXT,
        SS_PIDFD,
        SS_LEADER_PIDFD,
        SS_LEADER_WATCHING,
        SS_READY_FD,
        SS_TIMER,      /* monotonic deadline of the state's timer */
        SS_REAP_RETRY, /* ...and of the reap retry */
        SS_START_TIMES,
        SS_OUTPUT,
        SS_CGROUP,     /* it had its cgroup open */
        SS_SID_INDEXED,
        SS_HOOK,         /* the hook running (command.h's record) */
        SS_HOOK_FAILURE, /* a failed start waiting for exec_stop_post */
        SS_START_ENV,    /* variables for its next spawn (on_failure) */
        SS_HEALTH,       /* its health check's counters, last result, next probe */
        SS_FIELDS = 32, /* the plain fields below, from here on */
};

/* The plain fields: tag offset, kind, member, bound (enums: values below it;
 * 0 none). B: bool, U: unsigned, I: signed. A new field is one more line at
 * the end, with the next offset. */
#define SERVICE_STATE_FIELDS(X)                                   \
        X(0, I, state, _SERVICE_STATE_MAX)                        \
        X(1, B, want_up, 0)                                       \
        X(2, B, restart_on_exit, 0)                               \
        X(3, B, removed, 0)                                       \
        X(4, I, stop_cause, _STOP_CAUSE_MAX)                      \
        X(5, I, stop_pending, _STOP_CAUSE_MAX)                    \
        X(6, B, waiting, 0)                                       \
        X(7, B, dep_failed, 0)                                    \
        X(8, B, completed, 0)                                     \
        X(9, B, pull_start, 0)                                    \
        X(10, B, spawn_granted, 0)                                \
        X(11, I, notify_errno, 0)                                 \
        X(12, B, reloading, 0)                                    \
        X(13, U, watchdog_usec, 0)                                \
        X(14, I, sid, 0)                                          \
        X(15, B, leader_stale, 0)                                 \
        X(16, U, reap_tries, 0)                                   \
        X(17, I, pid, 0)                                          \
        X(18, U, started_mono, 0)                                 \
        X(19, U, since_mono, 0)                                   \
        X(20, U, since_real, 0)                                   \
        X(21, U, restarts, 0)                                     \
        X(22, U, backoff_step, 0)                                 \
        X(23, U, retry_delay, 0)                                  \
        X(24, I, restart_from, _SERVICE_STATE_MAX)                \
        X(25, U, n_start_times, 0)                                \
        X(26, U, start_times_pos, 0)                              \
        X(27, B, has_exit, 0)                                     \
        X(28, I, exit_code, 0)                                    \
        X(29, I, exit_signal, 0)                                  \
        X(30, B, draining, 0)                                     \
        X(31, B, cgroup_killed, 0)                                \
        X(32, U, oom_seen, 0)                                     \
        X(33, B, oom_killed, 0)                                   \
        X(34, I, hook_kind, _HOOK_MAX)                            \
        X(35, U, hook_index, 0)                                   \
        X(36, B, failure_pending, 0)                              \
        X(37, B, before_main, 0)                                  \
        X(38, B, stop_timed_out, 0)

/* Deadline of an active timer on loop, in sys->now()'s clock. */
static void service_state_put_timer(struct state_writer *w, uint16_t tag, struct ev_loop *loop,
                                    ev_timer *t)
{
        double left;

        if (!ev_is_active(t))
                return;
        left = ev_timer_remaining(loop, t);
        state_put_u64(w, tag, sys->now() + (left > 0 ? (usec_t)(left * (double)USEC_PER_SEC) : 0));
}

/* See service.h. */
void service_state_put(const struct service *s, struct state_writer *w, uint16_t tag)
{
        size_t mark = state_begin(w, tag), times;

        state_put_str(w, SS_NAME, s->name);
        config_state_put_service(w, SS_CONFIG, s->config);
        if (s->next_config)
                config_state_put_service(w, SS_NEXT_CONFIG, s->next_config);
        state_put_str(w, SS_REASON, s->reason);
        state_put_str(w, SS_STATUS_TEXT, s->status_text);
        state_put_fd(w, SS_PIDFD, s->pidfd);
        state_put_fd(w, SS_LEADER_PIDFD, s->leader_pidfd);
        state_put_bool(w, SS_LEADER_WATCHING, ev_is_active(&s->leader_watcher));
        state_put_fd(w, SS_READY_FD, s->ready_fd);
        service_state_put_timer(w, SS_TIMER, s->host->loop, (ev_timer *)&s->timer);
        service_state_put_timer(w, SS_REAP_RETRY, s->host->loop, (ev_timer *)&s->reap_retry);
        times = state_begin(w, SS_START_TIMES);
        for (unsigned i = 0; i < s->config->start_limit_burst && s->start_times; i++)
                state_put_u64(w, 1, s->start_times[i]);
        state_end(w, times);
        if (s->output) {
                int r = output_state_put(s->output, w, SS_OUTPUT);
                if (r < 0 && w->error == 0)
                        w->error = r; /* the whole state fails: no output left behind */
        }
        state_put_bool(w, SS_CGROUP, s->cgroup_fd >= 0);
        state_put_bool(w, SS_SID_INDEXED, s->sid_indexed);
        if (s->health)
                health_state_put(s->health, w, SS_HEALTH);
        command_state_put(s->hook, w, SS_HOOK);
        if (s->hook_failure)
                state_put_str(w, SS_HOOK_FAILURE, s->hook_failure);
        if (s->start_env)
                state_put_strv(w, SS_START_ENV, s->start_env);

#define PUT_B(tag, v) state_put_bool(w, tag, v)
#define PUT_U(tag, v) state_put_u64(w, tag, (uint64_t)(v))
#define PUT_I(tag, v) state_put_i64(w, tag, (int64_t)(v))
#define X(off, kind, member, bound) PUT_##kind(SS_FIELDS + (off), s->member);
        SERVICE_STATE_FIELDS(X)
#undef X
        state_end(w, mark);
}

/* One plain field from its record; -EBADMSG when it does not fit the
 * member or is out of its range. */
#define GET_B(member, bound)                              \
        ({                                                \
                bool b_;                                  \
                int r_ = state_get_bool(v, &b_);          \
                if (r_ >= 0)                              \
                        s->member = b_;                   \
                r_;                                       \
        })
#define GET_U(member, bound)                                                \
        ({                                                                  \
                uint64_t u_;                                                \
                int r_ = state_get_u64(v, &u_);                             \
                if (r_ >= 0 && (uint64_t)(typeof(s->member))u_ != u_)       \
                        r_ = -EBADMSG;                                      \
                if (r_ >= 0)                                                \
                        s->member = (typeof(s->member))u_;                  \
                r_;                                                         \
        })
#define GET_I(member, bound)                                                           \
        ({                                                                             \
                int64_t i_;                                                            \
                int r_ = state_get_i64(v, &i_);                                        \
                if (r_ >= 0 && ((int64_t)(typeof(s->member))i_ != i_ ||                \
                                ((bound) > 0 && (i_ < 0 || i_ >= (int64_t)(bound))))) \
                        r_ = -EBADMSG;                                                 \
                if (r_ >= 0)                                                           \
                        s->member = (typeof(s->member))i_;                             \
                r_;                                                                    \
        })

static int service_state_get_field(struct service *s, uint16_t off, const struct state_reader *v)
{
        switch (off) {
#define X(o, kind, member, bound) \
        case o:                   \
                return GET_##kind(member, bound);
                SERVICE_STATE_FIELDS(X)
#undef X
        default:
                return 0; /* a newer field: its default stays */
        }
}

static int service_state_get_record(struct service *s, uint16_t tag, const struct state_reader *v,
                                    struct service_resume *x)
{
        struct state_reader rest = *v, item;
        uint16_t t;
        unsigned n = 0;
        uint64_t u;
        char *str;
        int r;

        switch (tag) {
        case SS_NEXT_CONFIG:
                s->next_config = service_config_free(s->next_config);
                return config_state_get_service(v, &s->next_config);
        case SS_REASON:
        case SS_STATUS_TEXT:
                r = state_get_str(v, &str);
                if (r < 0)
                        return r;
                if (tag == SS_REASON) {
                        free(s->reason);
                        s->reason = str;
                } else {
                        free(s->status_text);
                        s->status_text = str;
                }
                return 0;
        case SS_PIDFD:
                return state_get_fd(v, &s->pidfd);
        case SS_LEADER_PIDFD:
                return state_get_fd(v, &s->leader_pidfd);
        case SS_READY_FD:
                return state_get_fd(v, &s->ready_fd);
        case SS_LEADER_WATCHING:
                return state_get_bool(v, &x->leader_watching);
        case SS_CGROUP:
                return state_get_bool(v, &x->cgroup);
        case SS_SID_INDEXED:
                return state_get_bool(v, &x->session);
        case SS_HOOK:
                s->hook = command_free(s->hook);
                return command_state_get(s->host->loop, v, service_hook_done, s, &s->hook);
        case SS_HOOK_FAILURE:
                free(s->hook_failure);
                return state_get_str(v, &s->hook_failure);
        case SS_START_ENV:
                s->start_env = strv_free(s->start_env);
                return state_get_strv(v, &s->start_env);
        case SS_TIMER:
                return state_get_u64(v, &x->timer);
        case SS_REAP_RETRY:
                return state_get_u64(v, &x->reap_retry);
        case SS_START_TIMES:
                while ((r = state_next(&rest, &t, &item)) > 0) {
                        if (t != 1)
                                continue;
                        r = state_get_u64(&item, &u);
                        if (r < 0)
                                return r;
                        if (n < s->config->start_limit_burst && s->start_times)
                                s->start_times[n++] = u;
                }
                return r;
        case SS_HEALTH:
                if (!service_config_has_health(s->config))
                        return 0; /* none in this config: nothing to keep */
                r = service_health_make(s);
                if (r < 0)
                        return r;
                return health_state_get(s->health, v, &x->health_due);
        case SS_OUTPUT: {
                const struct output_owner owner = {
                        .name = s->name,
                        .loop = s->host->loop,
                        .log_dir = &s->host->log_dir,
                        .config = &s->config,
                };
                s->output = output_free(s->output);
                return output_state_get(&owner, v, &s->output);
        }
        default:
                if (tag >= SS_FIELDS)
                        return service_state_get_field(s, (uint16_t)(tag - SS_FIELDS), v);
                return 0; /* a newer record: skipped */
        }
}

/* See service.h. */
int service_state_get(const struct service_host *host, const struct state_reader *v,
                      struct service **ret, struct service_resume *ret_resume)
{
        struct state_reader rest = *v, item;
        struct service_resume x = { .timer = USEC_INFINITY, .reap_retry = USEC_INFINITY,
                                    .health_due = USEC_INFINITY };
        struct service_config *sc = NULL;
        struct service *s = NULL;
        uint16_t tag;
        int r;

        /* The config first, wherever it is: the service is made from it. */
        while ((r = state_next(&rest, &tag, &item)) > 0)
                if (tag == SS_CONFIG) {
                        r = config_state_get_service(&item, &sc);
                        break;
                }
        if (r < 0)
                return r;
        if (!sc)
                return -EBADMSG;
        r = service_new(host, sc, &s);
        if (r < 0) {
                service_config_free(sc);
                return r;
        }
        rest = *v;
        while ((r = state_next(&rest, &tag, &item)) > 0) {
                if (tag == SS_CONFIG || tag == SS_NAME)
                        continue;
                r = service_state_get_record(s, tag, &item, &x);
                if (r < 0)
                        break;
        }
        if (r >= 0 && !s->hook)
                s->hook_kind = HOOK_NONE; /* the hook ended with the tendd before */
        if (r < 0 || s->n_start_times > s->config->start_limit_burst ||
            s->start_times_pos > s->config->start_limit_burst ||
            (s->hook && s->hook_kind == HOOK_NONE)) {
                service_free(s);
                return r < 0 ? r : -EBADMSG;
        }
        *ret = s;
        *ret_resume = x;
        return 0;
}
