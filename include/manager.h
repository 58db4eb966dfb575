/* manager.h: the set of services, by name, and the daemon's lifecycle:
 * applying a config (first load and reloads, diffed per service), the signal
 * watchers (TERM/INT/QUIT: stop everything and leave the loop; HUP: reload), and
 * the listeners (the control API, sdnotify) that hear of every change. The
 * manager is the services' host (service.h) and calls its listeners only
 * through the pointers they registered: nothing above it is called by name. */
#pragma once

#include <ev.h>
#include <stdbool.h>

#include "config.h"
#include "service.h"

struct cgroup_tree;
struct hashmap;
struct intmap;

/* The daemon's own steps, as listeners hear them. */
enum manager_phase {
        MANAGER_RELOADING, /* a reload begins */
        MANAGER_RELOADED,  /* ...and is over, applied or rejected */
        MANAGER_STOPPING,  /* shutdown began */
};

/* One listener; any callback may be NULL. Registered with manager_listen(). */
struct manager_listener {
        /* After every change of a service's state or reason (old == s->state:
         * a new reason or STATUS= text). */
        void (*state_changed)(struct service *s, enum service_state old, void *userdata);
        /* s is about to be freed (a reload removed it and it is down). */
        void (*removed)(struct service *s, void *userdata);
        void (*phase)(enum manager_phase phase, void *userdata);
        void *userdata;
};

#define MANAGER_LISTENERS_MAX 8

struct manager {
        struct ev_loop *loop; /* from ev_loop_new(), never the default loop */
        struct config *config;
        char *config_path;
        struct hashmap *by_name;
        struct intmap *by_sid;  /* live services by the session their process created */
        struct service **services; /* sorted by name, for listing */
        size_t n_services;

        size_t n_live; /* services in starting, running or stopping */
        size_t n_in_state[_SERVICE_STATE_MAX]; /* services per state, kept as they change */
        bool shutting_down;

        const struct manager_listener *listeners[MANAGER_LISTENERS_MAX]; /* in order */
        size_t n_listeners;

        /* QUIT too: as PID 1 of a container a signal nobody watches is
         * ignored, and container runtimes stop with TERM or QUIT. */
        ev_signal sigterm, sigint, sigquit, sighup;
        /* tendd is a subreaper: orphans of services become its children and
         * are reaped after SIGCHLD. Finding them walks every child of tendd
         * (waitid(P_ALL)), and every exit of a service sends SIGCHLD too (an
         * exec makes a child's exit signal SIGCHLD whatever clone3 was
         * given): so a walk runs from the reap timer, at most once per
         * MANAGER_REAP_INTERVAL, after the exits and restarts at hand,
         * never once per exit. */
        ev_signal sigchld;
        ev_timer reap;
        ev_tstamp reap_last;  /* ev_now() of the last walk */
        bool orphans_pending; /* reaping waits for a service's main process to be reaped */
        bool gc_pending; /* a service removed by reload is down: free it */

        /* Services to re-examine against their dependencies, drained from the
         * loop so a transition never recurses into another service. */
        struct service **queue;
        size_t n_queue, queue_cap;
        /* Spawns beyond a few ms' worth in one loop iteration wait here, in
         * order, so a thousand timers expiring together cannot hold the
         * loop (and the control API) for the time of a thousand spawns. */
        struct service **spawnq; /* ring */
        size_t spawnq_head, spawnq_n, spawnq_cap;
        unsigned spawn_iteration, spawns_this_iteration;
        usec_t spawn_slice_start;

        ev_prepare work; /* drains the queues and frees removed services, every iteration */
        ev_idle wake;    /* while work is queued: the loop does not block */

        struct service_host host; /* what every service is given; see service.h */

        /* tend's cgroup subtree (owned), NULL: none, and why (host.cgroup_why). */
        struct cgroup_tree *cgroup;
        char cgroup_why[256];
        int cgroup_ino;          /* inotify on the services' cgroup.events, -1 */
        ev_io cgroup_io;
        struct intmap *by_wd;    /* services by their inotify watch */
};

/* Create a manager on loop for the config at path; takes ownership of c. */
int manager_new(struct ev_loop *loop, const char *config_path, struct config *c, struct manager **ret);
struct manager *manager_free(struct manager *m);

/* Add l (kept by the caller until manager_unlisten()); -ENOSPC beyond
 * MANAGER_LISTENERS_MAX. Listeners are called in the order they came. */
int manager_listen(struct manager *m, const struct manager_listener *l);
void manager_unlisten(struct manager *m, const struct manager_listener *l);

/* Use t (owned) as tend's cgroup subtree: services default to kill_mode =
 * cgroup and get a cgroup each. -errno (inotify) leaves t unused, freed. */
int manager_set_cgroup(struct manager *m, struct cgroup_tree *t);
/* No cgroup subtree, and why (for a service that asks for kill_mode = cgroup). */
void manager_no_cgroup(struct manager *m, const char *why);

/* Start the ev_signal watchers (TERM, INT, QUIT, HUP) and become the subreaper of
 * everything tendd starts (SIGCHLD: reap what it adopts). */
int manager_watch_signals(struct manager *m);

/* Seconds between two walks for orphans (see struct manager's reap). */
#define MANAGER_REAP_INTERVAL 0.1

/* Reap every adopted child that has exited, except a service's main process,
 * which its pidfd reaps with its status; a walk runs again once it is. */
void manager_reap_orphans(struct manager *m);

/* Across tendd's execve of itself (see state.h): manager_state_put()
 * writes the config path, the daemon's config, every service and the
 * queues as one record. In the new image, manager_state_config() reads the
 * config path and config back (for manager_new()); manager_restore() then
 * makes every service again instead of manager_start(), with its processes,
 * fds, timers and place in the queues, and starts nothing. */
struct state_writer;
struct state_reader;
void manager_state_put(const struct manager *m, struct state_writer *w, uint16_t tag);
int manager_state_config(const struct state_reader *v, char **ret_path, struct config **ret);
int manager_restore(struct manager *m, const struct state_reader *v);

/* Create services for m->config, stopped (what the config still holds of
 * them: once done, again does nothing). */
int manager_create(struct manager *m);
/* Create services for m->config (manager_create()) and start the enabled
 * ones; one running already (adopted, see recover.h) is left as it is. */
int manager_start(struct manager *m);

/* Load the config file again and apply it: added → start (if enabled),
 * removed → stop then drop, spawn-relevant change → restart if up, policy
 * change → live, unchanged → untouched. On any config error nothing changes;
 * the errors are logged and returned in *ret_errors (may be NULL). */
int manager_reload(struct manager *m, char ***ret_errors);

/* Apply new (owned) to the running set; used by manager_reload and tests.
 * Everything it needs is allocated first: out of memory, it fails (-ENOMEM)
 * with nothing changed and new freed. */
int manager_apply(struct manager *m, struct config *new_config);

/* Stop every service in parallel; break the loop once none is live. */
void manager_shutdown(struct manager *m);

/* Dispatch ev (start, stop, restart) to each of set[0..n) (distinct
 * services) in one pass, in an order that keeps the edges among them: a stop
 * reaches dependents before what they depend on, a start or restart the
 * other way round; a service whose dependents must stop first waits for
 * them as with a single stop (see deps_stop_blockers()). -ENOMEM: nothing
 * dispatched. */
int manager_dispatch_many(struct manager *m, struct service *const *set, size_t n,
                          enum service_event ev);

struct service *manager_find(struct manager *m, const char *name);

/* Make name, an instance NAME@X of a template of the config that no file
 * or instances= made, into a new service (stopped; transient: it stays
 * until a reload finds it stopped or its template gone). -ENOENT: no such
 * template; -EINVAL: the instance has errors, in *ret_errors. */
int manager_instantiate(struct manager *m, const char *name, struct service **ret,
                        char ***ret_errors);

/* The live service whose process created session sid, or NULL. */
struct service *manager_find_by_session(struct manager *m, pid_t sid);

/* Queue s to be re-examined against its dependencies. */
void manager_queue(struct manager *m, struct service *s);
/* Resolve every service's dependencies into edges (after a config change). */
int manager_rebuild_graph(struct manager *m);
