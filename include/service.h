/* service.h: one supervised service: its config, its observed state, the
 * operator's intent, its pidfd and its watchers. Every (state, event) pair is
 * decided in service_dispatch(); service_set_state() is the only writer of
 * state, disarms what the new state does not need, and logs "old -> new".
 *
 *             start                 exit (policy: restart)
 *  stopped ---------> starting/running ------------------> backoff
 *    ^  ^                 |   ^    \  exit (no restart)       | timer
 *    |  |  exit           |   |     `--> stopped / failed     v
 *    |  `--------- stopping <-'  stop                     (spawn again)
 *    |                 ^
 *    `------- stop ----'(backoff/failed go straight to stopped)
 *
 * starting: spawned, not yet ready (oneshot: until it exits 0).
 * Each state sets its one timer on entry: starting the ready timeout,
 * running the watchdog, stopping the stop timeout (then KILL), backoff the
 * restart delay; the others none. Within a state only the watchdog's
 * keep-alives and EXTEND_TIMEOUT_USEC= move it.
 * Hooks (command.h) run inside these states, one at a time: exec_start_pre
 * in starting before the main process, exec_start_post in starting once it
 * is ready, exec_stop in stopping, exec_reload in running, exec_stop_post in
 * the state the main process left, once it is gone (its end is the EXIT).
 * All fields are plain data except the watchers and the pidfd.
 */
#pragma once

#include <ev.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "graph.h"
#include "parse.h"

struct cgroup_tree;
struct health;
struct command;
struct command_result;
struct output;
struct service;

enum service_state {
        SERVICE_STOPPED,
        SERVICE_STARTING,
        SERVICE_RUNNING,
        SERVICE_STOPPING,
        SERVICE_BACKOFF,
        SERVICE_FAILED,
        _SERVICE_STATE_MAX
};

enum service_event {
        SERVICE_EVENT_START,   /* operator or manager wants it up */
        SERVICE_EVENT_STOP,    /* operator or manager wants it down */
        SERVICE_EVENT_RESTART, /* operator: stop if live, then start */
        SERVICE_EVENT_EXIT,    /* main process reaped; exit in service->last_exit */
        SERVICE_EVENT_TIMER,   /* the state's timer fired */
        SERVICE_EVENT_READY,   /* readiness reported */
        _SERVICE_EVENT_MAX
};

/* What the hook a service runs is for (see command.h for how it runs). */
enum service_hook {
        HOOK_NONE,
        HOOK_START_PRE,  /* starting, before the main process; one of exec_start_pre */
        HOOK_START_POST, /* starting, once it is ready; running only after it */
        HOOK_STOP,       /* stopping: exec_stop instead of the stop signal */
        HOOK_RELOAD,     /* running: tendctl reload NAME */
        HOOK_STOP_POST,  /* its main process is gone (or never came): exec_stop_post */
        _HOOK_MAX
};

#define SERVICE_REASON_MAX 256
#define SERVICE_STATUS_MAX 256

/* Why a live service is being stopped; decides what its exit means. */
enum service_stop_cause {
        STOP_CAUSE_NONE,
        STOP_CAUSE_OPERATOR,      /* stop requested: stopped afterwards */
        STOP_CAUSE_RESTART,       /* restart requested: spawn again afterwards */
        STOP_CAUSE_READY_TIMEOUT, /* not ready in time: a failed start, policy decides */
        STOP_CAUSE_WATCHDOG,      /* missed a WATCHDOG=1: a failure, policy decides */
        STOP_CAUSE_DEPENDENCY,    /* a requirement went down: back when it is up again */
        STOP_CAUSE_HEALTH,        /* health_retries failed checks: a failure, policy decides */
        STOP_CAUSE_START_POST,    /* exec_start_post failed: a failed start, policy decides */
        _STOP_CAUSE_MAX
};

/* What a service asks of whoever holds it (the manager; a stub in unit
 * tests). A service reaches nothing else outside itself: the holder learns
 * of every change through state_changed and decides everything that
 * involves other services. */
struct service_host_ops {
        /* After every change of state or reason, and of STATUS= text (then
         * old == s->state). */
        void (*state_changed)(struct service *s, enum service_state old, void *userdata);
        /* Dependencies not ready yet, described in buf ("waiting for a, b" or
         * "requirement a failed"); their number. *ret_failed: a required one
         * failed. */
        size_t (*unmet_dependencies)(struct service *s, char *buf, size_t len, bool *ret_failed,
                                     void *userdata);
        /* An operator's start: its requirements are wanted up too. */
        void (*pull_requirements)(struct service *s, void *userdata);
        /* Live dependents that must stop before s (named in buf); their number. */
        size_t (*stop_blockers)(struct service *s, char *buf, size_t len, void *userdata);
        /* May s spawn now? False: it waits its turn and gets
         * service_start_queued() later. */
        bool (*spawn_slot)(struct service *s, void *userdata);
        /* s->sid names the session of a live instance (live), or no longer. */
        void (*session)(struct service *s, bool live, void *userdata);
        /* s's main process was reaped: other children may be now. */
        void (*reaped)(struct service *s, void *userdata);
        /* Watch the cgroup of s for "populated" changes and call
         * service_cgroup_changed(); the watch's id, or -errno. */
        int (*cgroup_watch)(struct service *s, void *userdata);
        /* The watch is over; removed: the cgroup was removed, and the watch
         * with it. */
        void (*cgroup_unwatch)(struct service *s, int wd, bool removed, void *userdata);
};

/* Given to a service at creation; the holder keeps it alive and current. */
struct service_host {
        struct ev_loop *loop;
        const char *log_dir;     /* where output = file logs go */
        const char *notify_path; /* NOTIFY_SOCKET for type = notify; NULL: none */
        const struct cgroup_tree *cgroup; /* tend's cgroup subtree; NULL: none */
        const char *cgroup_why;  /* ...and why there is none */
        bool cgroup_memory;      /* the services' cgroups have the memory controller */
        const struct service_host_ops *ops;
        void *userdata;
};

/* One resolved dependency (see graph.h): from depends on to. */
struct service_dep {
        struct service *from, *to;
        unsigned kind; /* enum dep_kind bits */
};

/* One parsed sd_notify datagram, already attributed to a service. */
struct service_notify_msg {
        bool ready, reloading, stopping, watchdog, watchdog_trigger;
        const char *status; /* NULL: unchanged */
        bool has_errno;
        int errno_value;
        bool has_watchdog_usec;
        usec_t watchdog_usec;
        bool has_extend;
        usec_t extend_usec;
        int mainpid_fd; /* verified pidfd of the new main process, or -1 */
        pid_t mainpid;
};

struct service {
        const struct service_host *host;
        char name[SERVICE_NAME_MAX + 1]; /* hash key; stable across config changes */
        struct service_config *config; /* owned */
        struct service_config *next_config; /* owned; replaces config at the next spawn */

        enum service_state state;
        bool want_up;         /* operator intent, kept apart from state */
        bool restart_on_exit; /* stopping as part of a restart */
        bool removed;         /* dropped by reload: free once stopped */
        char *reason; /* why it is in this state; never NULL, < SERVICE_REASON_MAX */

        enum service_stop_cause stop_cause;   /* while stopping */
        enum service_stop_cause stop_pending; /* stop asked, waiting for dependents */
        bool waiting;     /* wanted up, stopped until its dependencies are ready */
        bool dep_failed;  /* ...and one of them failed: a start request fails */
        bool completed;   /* oneshot ran to success since its last spawn */
        bool queued;      /* in the manager's reconcile queue */
        bool pull_start;  /* a dependent's start asked for this one */
        bool spawn_queued;  /* in the manager's spawn queue */
        bool spawn_granted; /* ...and its turn came: spawn without asking again */

        char *status_text;  /* last STATUS=, NULL: none (most services never send one) */
        int notify_errno;   /* last ERRNO=, 0 none */
        bool reloading;     /* RELOADING=1 seen, until READY=1 */
        usec_t watchdog_usec; /* effective interval (WATCHDOG_USEC= may change it) */

        pid_t sid; /* session the spawned process created (= its pid); notify senders must be in it */
        bool sid_indexed; /* host->ops->session() was told it is live */
        /* The process tendd spawned, once MAINPID= named another main process
         * (-1 before: pidfd is that process). It leads the service's session
         * and process group; holding its pidfd keeps the group addressable by
         * pidfd after it exits, so it stays open until the instance ends.
         * leader_watcher reaps it; leader_stale: the instance ended first. */
        int leader_pidfd;
        ev_io leader_watcher;
        bool leader_stale;
        ev_timer reap_retry; /* a MAINPID= process exited: wait for its parent to reap it */
        unsigned reap_tries;
        int ready_fd;     /* read end of the ready_fd pipe, -1 */
        ev_io ready_watcher;

        struct service_dep *deps;        /* what it depends on (owned), set by deps_link() */
        size_t n_deps;
        struct service_dep **dependents; /* edges of others to this one */
        size_t n_dependents;

        pid_t pid; /* for display only; never used to signal or reap */
        int pidfd;
        usec_t started_mono; /* monotonic time of the last spawn */
        usec_t since_mono;   /* monotonic time of the last state change */
        usec_t since_real;   /* realtime, same moment, for status */

        unsigned restarts;     /* automatic restarts since tendd started */
        unsigned backoff_step; /* consecutive quick failures */
        usec_t retry_delay;    /* backoff: how long it waits this time */
        /* Only during a restart at once (restart_delay 0), else NULL: the exit,
         * logged in one line with what followed the state it left. */
        const char *restart_what;
        enum service_state restart_from;
        usec_t *start_times;   /* ring of the last start_limit_burst automatic starts */
        unsigned n_start_times;
        unsigned start_times_pos;

        bool has_exit; /* last_exit valid */
        int exit_code;   /* CLD_EXITED: code, else -1 */
        int exit_signal; /* CLD_KILLED/DUMPED: signal, else 0 */

        /* Its cgroup (kill_mode = cgroup): made at the first spawn, kept across
         * restarts, removed once it is stopped or failed. */
        int cgroup_fd;  /* -1: none */
        int cgroup_wd;  /* the host's watch on it while draining, -1 none */
        bool draining;  /* main process reaped, processes left in the cgroup: the
                         * instance ends when the cgroup is empty */
        bool cgroup_killed; /* cgroup.kill was used: made anew before the next spawn */
        uint64_t oom_seen;  /* memory.events oom_kill count last seen */
        bool oom_killed;    /* the last instance lost a process to the OOM killer */

        ev_io pidfd_watcher;
        ev_timer timer;
        struct output *output; /* stdout/stderr handling, made at the first spawn */
        /* Its health check while its config has one, else NULL: probing
         * while running (and, for a simple service, while starting: its first
         * pass makes it ready); kept while stopped for the last result. */
        struct health *health;

        /* The hook running (command.h), NULL: none, and what it is for; at
         * most one at a time. A service without hooks never has one. */
        struct command *hook;
        enum service_hook hook_kind; /* HOOK_NONE when no hook runs */
        unsigned hook_index;         /* exec_start_pre: which one, from 0 */
        bool before_main;            /* this start has not spawned its main process yet
                                      * (exec_start_pre runs, or failed, or was stopped) */
        bool stop_timed_out;         /* this instance's stop needed SIGKILL (TEND_RESULT) */
        /* A failed start (exec_start_pre, exec_start_post) waiting for
         * exec_stop_post to end: why, for the restart policy; NULL: none. */
        char *hook_failure;

        /* It entered failed and its on_failure services are to be started
         * (by the manager, from its queue). */
        bool failure_pending;
        /* Variables for its next spawn only ("KEY=VALUE"), set by whoever
         * starts it (on_failure); NULL: none. */
        char **start_env;
};

/* Allocate a service in state stopped, owning sc, held by host. Does not
 * start it. */
int service_new(const struct service_host *host, struct service_config *sc, struct service **ret);
/* Stops the watchers and closes the pidfd; never signals. NULL-safe. */
struct service *service_free(struct service *s);

/* A process tendd did not spawn in this life, to take over: the main
 * process of a service before a crash of the previous tendd. */
struct service_adoption {
        int pidfd;          /* the main process */
        pid_t pid;          /* its pid, for display; 0: unknown (it is gone) */
        int leader_pidfd;   /* -1, or the process that leads its group if
                             * MAINPID= had moved the main process away from it */
        int ready_fd;       /* -1, or the read end of its ready_fd pipe */
        bool starting;      /* it was not ready yet (or a oneshot still running) */
        const char *reason;
};

/* Take a over as s's running instance, verified by the caller (see
 * recover.h, fdstore.h). s must be stopped with no process; it is running
 * (starting if a->starting: waiting for its readiness, ready_timeout from
 * now, or a oneshot's end; not if its config is simple now and no ready
 * pipe came: nothing would say it is ready) from now on, and owns a's fds. Nothing is
 * spawned or signalled. Neither process is tendd's child: the exit is seen
 * when the pidfd polls readable and read through it (PIDFD_INFO_EXIT, as for
 * a MAINPID= process). A process already gone (a pidfd kept for it while no
 * tendd ran) is taken all the same, without a leader: its exit is read and
 * handled as soon as the loop runs, restart policy included. -EBUSY: s has a
 * process already; on any error nothing is taken. */
int service_adopt(struct service *s, const struct service_adoption *a);
/* Read the pipe read end fd (taken) as the output of s's running instance,
 * left by the tendd before (see output_adopt()). */
int service_adopt_output(struct service *s, int fd);

/* Run line, a command line of s's config, as an auxiliary command of s:
 * spawned as its main process is (user, group, limits, environment plus
 * env, working directory, its cgroup with kill_mode = cgroup), its output
 * to s's output; killed at timeout (command.h). *ret_reason (caller frees)
 * says why it could not be spawned. */
int service_command_start(struct service *s, const char *line, char *const *env, usec_t timeout,
                          void (*done)(struct command *c, const struct command_result *res,
                                       void *userdata),
                          void *userdata, struct command **ret, char **ret_reason);
/* The end of s's hook (the callback of s->hook; service-state.c gives it
 * again to a hook resumed after a re-exec). */
void service_hook_done(struct command *c, const struct command_result *res, void *userdata);

/* The last lines of s's output (output_tail()) in *ret (caller frees; ""
 * when none kept). */
int service_output_tail(struct service *s, char **ret);

/* tendctl reload NAME: run exec_reload, or send reload_signal to the main
 * process. -EOPNOTSUPP: it has neither; -EAGAIN: it is not running;
 * -EBUSY: a hook runs; the message for the caller in err. */
int service_reload(struct service *s, char *err, size_t len);

/* "exec_start_pre", ...; NULL out of range. */
const char *service_hook_to_string(enum service_hook h);

/* Feed one event to the state machine. */
void service_dispatch(struct service *s, enum service_event ev);
/* The pidfd became readable: reap and dispatch EXIT. Called by the watcher. */
void service_handle_pidfd(struct service *s);

/* A notify message from a process of this service. */
void service_handle_notify(struct service *s, struct service_notify_msg *msg);

/* Readiness as dependents see it: running, or a oneshot that completed. */
bool service_is_ready(const struct service *s);

/* Where an operator's request stands, from the service's state alone. */
enum service_outcome {
        SERVICE_OUTCOME_PENDING, /* still on its way */
        SERVICE_OUTCOME_DONE,    /* it got there */
        SERVICE_OUTCOME_FAILED,  /* it cannot get there (failed, or asked otherwise since) */
};
/* A start or restart: running, or a oneshot that ran to success. A restart
 * in progress passes through stopping and stopped: pending, not an answer. */
enum service_outcome service_start_outcome(const struct service *s);
/* A stop: stopped or failed, with no restart or dependents' stop under way. */
enum service_outcome service_stop_outcome(const struct service *s);

/* Settled for tendd's own readiness (READY=1 to systemd): disabled, or in a
 * state it will stay in without an operator (running, failed, backoff, or
 * stopped and not waiting to start). */
bool service_is_settled(const struct service *s);

/* Send sig to what kill_mode covers: the main process alone (process); the
 * process group tendd created for the service plus the main process if
 * MAINPID= moved it out of that group (group); every process of the
 * service's cgroup plus the main process if it is outside (cgroup; SIGKILL
 * through cgroup.kill). -ESRCH: no process left. */
int service_kill(struct service *s, int sig);

/* The cgroup's "populated" may have changed (the host's watch): a
 * draining instance ends once it is empty. */
void service_cgroup_changed(struct service *s);

/* The kill_mode in effect: as configured, else cgroup where the host has a
 * cgroup subtree, else group. */
enum kill_mode service_kill_mode(const struct service *s);

/* Begin a stop that was deferred for dependents (the host calls it once none blocks). */
void service_stop_now(struct service *s);

/* Stop a live service because a requirement went down; it stays wanted up. */
void service_stop_for_dependency(struct service *s, const char *requirement);

/* Its turn in the host's spawn queue: spawn if it is still wanted. */
void service_start_queued(struct service *s);

/* Spawn a service that was waiting for its dependencies. */
void service_start_waiting(struct service *s);

/* What installing sc will allocate (the start-limit ring when sc applies at
 * once with another size), so that a reload can fail before changing
 * anything. *ret is NULL when nothing is needed. */
int service_config_alloc(const struct service *s, const struct service_config *sc, usec_t **ret);
/* Replace the config, taking sc and ring (from service_config_alloc) over;
 * cannot fail. Spawn-relevant changes take effect at the next spawn (the
 * caller restarts a live service); policy changes apply at once. */
void service_set_config(struct service *s, struct service_config *sc, usec_t *ring);

/* True while a process of this service may exist. */
bool service_is_live(const struct service *s);

/* Make s->health (idle) if there is none yet: its config has a check. */
int service_health_make(struct service *s);
/* Its health check as status shows it, in buf (see health_describe()). */
const char *service_health(const struct service *s, char *buf, size_t len);

/* Delay before the next automatic restart, from restart_delay doubling per
 * consecutive quick failure up to restart_max_delay. */
usec_t service_backoff_delay(const struct service *s);

/* Across tendd's execve of itself (see state.h). service_state_put() writes
 * every field of s that is not derived, its configs, the fds it holds and
 * its timers' deadlines as one record. service_state_get() makes the
 * service again from such a record (fds claimed, nothing started yet) and
 * says in *ret_resume what service_resume() takes up again once the host
 * has every service back: the watchers, the timers (what was left of
 * them), its session in the host's index, its cgroup and watch. */
struct state_writer;
struct state_reader;
struct service_resume {
        usec_t timer, reap_retry; /* deadlines (sys->now()), USEC_INFINITY: none */
        bool leader_watching;     /* its first process is still to be reaped */
        bool cgroup;              /* it had its cgroup */
        bool session;             /* its session was in the host's index */
        usec_t health_due;        /* its next health probe, USEC_INFINITY: none */
};
void service_state_put(const struct service *s, struct state_writer *w, uint16_t tag);
int service_state_get(const struct service_host *host, const struct state_reader *v,
                      struct service **ret, struct service_resume *ret_resume);
void service_resume(struct service *s, const struct service_resume *x);

/* "running", "backoff", ...; NULL out of range. from: -EINVAL unknown. */
const char *service_state_to_string(enum service_state st);
int service_state_from_string(const char *s);
/* "start", "exit", ... */
const char *service_event_to_string(enum service_event ev);
int service_event_from_string(const char *s);
