/* manager.c: services by name, config application and reloads, shutdown. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cglimits.h"
#include "cgroup.h"
#include "command.h"
#include "deps.h"
#include "hashmap.h"
#include "intmap.h"
#include "log.h"
#include "manager.h"
#include "spawn.h"
#include "state.h"
#include "config-state.h"

static void manager_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
        struct manager *m = w->data;

        if (w->signum == SIGHUP) {
                log_info("SIGHUP: reloading %s", m->config_path);
                (void)manager_reload(m, NULL);
        } else {
                log_info("SIG%s: stopping all services", signal_to_name(w->signum));
                manager_shutdown(m);
        }
}

/* A walk for orphans soon: at once if the last one is MANAGER_REAP_INTERVAL
 * ago, else when it will be; one walk for every SIGCHLD until then. */
static void manager_schedule_reap(struct manager *m)
{
        ev_tstamp wait = m->reap_last + MANAGER_REAP_INTERVAL - ev_now(m->loop);

        /* Pending: it expired and runs later in this iteration (lowest
         * priority); starting it again would not cancel that walk. */
        if (ev_is_active(&m->reap) || ev_is_pending(&m->reap))
                return;
        ev_timer_set(&m->reap, wait > 0 ? wait : 0., 0.);
        ev_timer_start(m->loop, &m->reap);
}

static void manager_reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct manager *m = w->data;

        m->reap_last = ev_now(loop);
        manager_reap_orphans(m);
}

static void manager_sigchld_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
        manager_schedule_reap(w->data);
}

static void manager_work_cb(struct ev_loop *loop, ev_prepare *w, int revents);
static void manager_wake_cb(struct ev_loop *loop, ev_idle *w, int revents);
static void manager_wake(struct manager *m);
static void manager_spawn_queued(struct manager *m);
static bool manager_spawnq_push(struct manager *m, struct service *s);
static const struct service_host_ops manager_host_ops;

/* Spawning in one loop iteration stops after this long (or this many), the
 * rest waits for the next: a client's round trip waits at most about that. */
#define SPAWN_SLICE (3 * USEC_PER_MSEC)
#define SPAWN_BATCH 64

/* A manager for config c (owned) on loop. */
int manager_new(struct ev_loop *loop, const char *config_path, struct config *c, struct manager **ret)
{
        struct manager *m = calloc(1, sizeof *m);

        if (!m)
                return -ENOMEM;
        m->loop = loop;
        m->config = c;
        m->config_path = strdup(config_path);
        m->by_name = hashmap_new();
        m->by_sid = intmap_new();
        m->by_wd = intmap_new();
        m->cgroup_ino = -1;
        if (!m->config_path || !m->by_name || !m->by_sid || !m->by_wd) {
                m->config = NULL;
                manager_free(m);
                return -ENOMEM;
        }
        ev_signal_init(&m->sigterm, manager_signal_cb, SIGTERM);
        ev_signal_init(&m->sigint, manager_signal_cb, SIGINT);
        ev_signal_init(&m->sigquit, manager_signal_cb, SIGQUIT);
        ev_signal_init(&m->sighup, manager_signal_cb, SIGHUP);
        ev_signal_init(&m->sigchld, manager_sigchld_cb, SIGCHLD);
        m->sigterm.data = m->sigint.data = m->sigquit.data = m->sighup.data = m;
        m->sigchld.data = m;
        ev_timer_init(&m->reap, manager_reap_cb, 0., 0.);
        /* After the iteration's exits and the restarts they cause. */
        ev_set_priority(&m->reap, EV_MINPRI);
        m->reap.data = m;
        ev_prepare_init(&m->work, manager_work_cb);
        ev_set_priority(&m->work, EV_MAXPRI);
        ev_idle_init(&m->wake, manager_wake_cb);
        m->host = (struct service_host){
                .loop = loop,
                .log_dir = c->log_dir,
                .ops = &manager_host_ops,
                .userdata = m,
        };
        *ret = m;
        return 0;
}

/* Free every service (without signalling them) and the manager. */
struct manager *manager_free(struct manager *m)
{
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_services; i++)
                service_free(m->services[i]);
        free(m->services);
        hashmap_free(m->by_name);
        intmap_free(m->by_sid);
        intmap_free(m->by_wd);
        free(m->queue);
        free(m->spawnq);
        if (m->loop) {
                ev_signal_stop(m->loop, &m->sigterm);
                ev_signal_stop(m->loop, &m->sigint);
                ev_signal_stop(m->loop, &m->sigquit);
                ev_signal_stop(m->loop, &m->sighup);
                ev_signal_stop(m->loop, &m->sigchld);
                ev_timer_stop(m->loop, &m->reap);
                ev_prepare_stop(m->loop, &m->work);
                ev_idle_stop(m->loop, &m->wake);
                ev_io_stop(m->loop, &m->cgroup_io);
        }
        safe_close(m->cgroup_ino);
        cgroup_tree_free(m->cgroup);
        config_free(m->config);
        free(m->config_path);
        free(m);
        return NULL;
}

/* See manager.h. */
int manager_listen(struct manager *m, const struct manager_listener *l)
{
        if (m->n_listeners == MANAGER_LISTENERS_MAX)
                return -ENOSPC;
        m->listeners[m->n_listeners++] = l;
        return 0;
}

/* See manager.h. */
void manager_unlisten(struct manager *m, const struct manager_listener *l)
{
        for (size_t i = 0; i < m->n_listeners; i++)
                if (m->listeners[i] == l) {
                        memmove(m->listeners + i, m->listeners + i + 1,
                                (m->n_listeners - i - 1) * sizeof *m->listeners);
                        m->n_listeners--;
                        return;
                }
}

static void manager_announce_phase(struct manager *m, enum manager_phase phase)
{
        for (size_t i = 0; i < m->n_listeners; i++)
                if (m->listeners[i]->phase)
                        m->listeners[i]->phase(phase, m->listeners[i]->userdata);
}

/* Every draining service looks at its cgroup again. */
static void manager_cgroups_changed(struct manager *m)
{
        for (size_t i = 0; i < m->n_services; i++)
                if (m->services[i]->draining)
                        service_cgroup_changed(m->services[i]);
}

/* Some service's cgroup.events changed: tell the services watched. */
static void manager_cgroup_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct manager *m = container_of(w, struct manager, cgroup_io);
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n;

        while ((n = read(m->cgroup_ino, buf, sizeof buf)) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *)p;
                        struct service *s = intmap_get(m->by_wd, (uint64_t)e->wd);

                        p += sizeof *e + e->len;
                        if (e->mask & IN_Q_OVERFLOW)
                                manager_cgroups_changed(m); /* events were lost: look at all */
                        else if (s && (e->mask & IN_MODIFY))
                                service_cgroup_changed(s);
                }
}

/* See manager.h. */
int manager_set_cgroup(struct manager *m, struct cgroup_tree *t)
{
        m->cgroup_ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (m->cgroup_ino < 0) {
                int r = -errno;
                cgroup_tree_free(t);
                (void)snprintf(m->cgroup_why, sizeof m->cgroup_why, "inotify: %s", strerror(-r));
                m->host.cgroup_why = m->cgroup_why;
                return r;
        }
        ev_io_init(&m->cgroup_io, manager_cgroup_cb, m->cgroup_ino, EV_READ);
        ev_io_start(m->loop, &m->cgroup_io);
        m->cgroup = t;
        m->host.cgroup = t;
        return 0;
}

/* See manager.h. */
void manager_no_cgroup(struct manager *m, const char *why)
{
        (void)snprintf(m->cgroup_why, sizeof m->cgroup_why, "%s", why);
        m->host.cgroup_why = m->cgroup_why;
}

static int manager_cgroup_watch(struct service *s, void *userdata)
{
        struct manager *m = userdata;
        int wd = cgroup_unit_watch(m->cgroup, s->name, m->cgroup_ino), r;

        if (wd < 0)
                return wd;
        r = intmap_put(m->by_wd, (uint64_t)wd, s);
        if (r < 0) {
                (void)inotify_rm_watch(m->cgroup_ino, wd);
                return r;
        }
        return wd;
}

static void manager_cgroup_unwatch(struct service *s, int wd, bool removed, void *userdata)
{
        struct manager *m = userdata;

        (void)intmap_remove(m->by_wd, (uint64_t)wd);
        if (!removed)
                (void)inotify_rm_watch(m->cgroup_ino, wd);
}

/* Watch TERM, INT, QUIT and HUP in the loop (no handler does work). */
int manager_watch_signals(struct manager *m)
{
        int r = 0;

        ev_signal_start(m->loop, &m->sigterm);
        ev_signal_start(m->loop, &m->sigint);
        ev_signal_start(m->loop, &m->sigquit);
        ev_signal_start(m->loop, &m->sighup);
        ev_signal_start(m->loop, &m->sigchld);
        /* A daemon that forks away (MAINPID=) or leaves children behind
         * stays tendd's: its exit status can be reaped, and none of them
         * turns into a zombie elsewhere. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                r = log_warning_errno(-errno, "cannot become a subreaper");
        manager_reap_orphans(m);
        return r;
}

/* See manager.h. */
void manager_reap_orphans(struct manager *m)
{
        m->orphans_pending = false;
        for (;;) {
                siginfo_t si = { 0 };
                struct service *s;

                /* Without __WALL: children that exit with SIGCHLD, adopted
                 * ones and every one that has exec'd (tendd's services too).
                 * WNOWAIT: look before reaping. */
                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
                        return;
                /* A zombie keeps its pid and session: no reuse in between. */
                s = manager_find_by_session(m, getsid(si.si_pid));
                if ((s && s->pid == si.si_pid && s->pidfd >= 0) || command_is_child(si.si_pid)) {
                        m->orphans_pending = true;
                        return;
                }
                if (waitid(P_PID, (id_t)si.si_pid, &si, WEXITED | WNOHANG) < 0)
                        return;
        }
}

/* The service called name, or NULL. */
struct service *manager_find(struct manager *m, const char *name)
{
        return hashmap_get(m->by_name, name);
}

static size_t manager_index(const struct manager *m, const char *name, bool *found)
{
        size_t lo = 0, hi = m->n_services;

        *found = false;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(m->services[mid]->name, name);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* Put s, already in by_name, into the sorted list (which has room for it). */
static void manager_link(struct manager *m, struct service *s)
{
        bool found;
        size_t i = manager_index(m, s->name, &found);

        memmove(m->services + i + 1, m->services + i, (m->n_services - i) * sizeof *m->services);
        m->services[i] = s;
        m->n_services++;
        m->n_in_state[s->state]++;
}

/* Take s over: in by_name and the sorted list. Frees s on failure (a
 * second service of the same name is -EEXIST). */
static int manager_insert(struct manager *m, struct service *s)
{
        struct service **nv;
        int r;

        if (manager_find(m, s->name)) {
                service_free(s);
                return -EEXIST;
        }
        nv = realloc(m->services, (m->n_services + 1) * sizeof *nv);
        if (!nv) {
                service_free(s);
                return -ENOMEM;
        }
        m->services = nv;
        r = hashmap_put(m->by_name, s->name, s);
        if (r < 0) {
                service_free(s);
                return r;
        }
        manager_link(m, s);
        return 0;
}

static int manager_add(struct manager *m, struct service_config *sc, struct service **ret)
{
        struct service *s = NULL;
        int r;

        r = service_new(&m->host, sc, &s);
        if (r < 0) {
                service_config_free(sc);
                return r;
        }
        r = manager_insert(m, s);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

static void manager_drop(struct manager *m, struct service *s)
{
        bool found;
        size_t i = manager_index(m, s->name, &found);

        if (found) {
                memmove(m->services + i, m->services + i + 1,
                        (m->n_services - i - 1) * sizeof *m->services);
                m->n_services--;
                m->n_in_state[s->state]--;
        }
        (void)hashmap_remove(m->by_name, s->name);
        for (size_t k = 0; k < m->n_queue; k++)
                if (m->queue[k] == s)
                        m->queue[k] = NULL;
        for (size_t k = 0; s->spawn_queued && k < m->spawnq_n; k++)
                if (m->spawnq[(m->spawnq_head + k) % m->spawnq_cap] == s)
                        m->spawnq[(m->spawnq_head + k) % m->spawnq_cap] = NULL;
        for (size_t k = 0; k < m->n_listeners; k++)
                if (m->listeners[k]->removed)
                        m->listeners[k]->removed(s, m->listeners[k]->userdata);
        service_free(s);
}

/* Frees services that reload removed once they have stopped. Runs from the
 * loop, never from inside a transition. */
static void manager_gc(struct manager *m)
{
        struct service **keep = malloc((m->n_services + 1) * sizeof *keep);
        size_t n_keep = 0;

        /* The others' edges are linked anew without the dropped services
         * first: an edge must never point at a freed one. Out of memory, it
         * waits for the next pass. */
        if (!keep)
                return;
        for (size_t i = 0; i < m->n_services; i++)
                if (!(m->services[i]->removed && !service_is_live(m->services[i])))
                        keep[n_keep++] = m->services[i];
        if (n_keep == m->n_services || deps_link(keep, n_keep) < 0) {
                free(keep);
                m->gc_pending = n_keep != m->n_services;
                return;
        }
        free(keep);
        m->gc_pending = false;
        for (size_t i = 0; i < m->n_services;) {
                struct service *s = m->services[i];
                if (s->removed && !service_is_live(s)) {
                        log_service(LOG_INFO, s->name, "removed");
                        manager_drop(m, s);
                } else
                        i++;
        }
}

static void manager_check_done(struct manager *m)
{
        if (m->shutting_down && m->n_live == 0) {
                log_info("all services stopped, exiting");
                ev_break(m->loop, EVBREAK_ALL);
        }
}

static void manager_queue_cb(struct service *s, void *userdata)
{
        manager_queue(userdata, s);
}

/* Bookkeeping after every state change, then the listeners' hook. */
static void manager_service_state_changed(struct service *s, enum service_state old,
                                          void *userdata)
{
        struct manager *m = userdata;
        bool was_live = old == SERVICE_STARTING || old == SERVICE_RUNNING ||
                        old == SERVICE_STOPPING;
        bool live = service_is_live(s);

        m->n_in_state[old]--;
        m->n_in_state[s->state]++;
        if (was_live && !live)
                m->n_live--;
        else if (!was_live && live)
                m->n_live++;
        for (size_t i = 0; i < m->n_listeners; i++)
                if (m->listeners[i]->state_changed)
                        m->listeners[i]->state_changed(s, old, m->listeners[i]->userdata);
        if (old != s->state)
                /* Dependents may start or must stop; dependencies may now stop. */
                deps_queue_neighbours(s, manager_queue_cb, m);
        if (s->state == SERVICE_FAILED && old != SERVICE_FAILED && s->config->on_failure &&
            s->config->on_failure[0]) {
                /* Its on_failure services start from the queue, not from
                 * inside this transition. */
                s->failure_pending = true;
                manager_queue(m, s);
        }
        if (s->removed && !live) {
                m->gc_pending = true;
                manager_wake(m);
        }
        manager_check_done(m);
}

/* Hand the controllers the services' limits need down to their cgroups
 * (cgroup.subtree_control of tend's subtree), at start and at each reload. */
static void manager_enable_controllers(struct manager *m, const struct config *c)
{
        unsigned want = 0, enabled = 0;
        int r;

        if (!m->cgroup)
                return;
        for (size_t i = 0; i < c->n_services; i++)
                want |= cglimits_needed(c->services[i]);
        /* With nothing wanted it only reads what the services' cgroups get. */
        r = cglimits_enable(m->cgroup->dfd, want, &enabled);
        m->host.cgroup_memory = enabled & CGLIMITS_MEMORY;
        if (want != 0 && (r < 0 || (want & ~enabled)))
                log_warning("cgroup %s: some controllers for the services' limits are not "
                            "available (%s): services that need them fail to start with why",
                            m->cgroup->path, r < 0 ? strerror(-r) : "not offered by the parent");
}

/* See manager.h. */
int manager_create(struct manager *m)
{
        int r;

        if (m->n_services > 0 && m->config->n_services == 0)
                return 0; /* done: the services took their configs over */

        /* log_dir is made by output.c when a file log first needs it, checked
         * directory by directory: never by path here, where a service's user
         * might have put a link. */
        manager_enable_controllers(m, m->config);
        /* Each service takes its config over; the manager keeps the daemon's part. */
        for (size_t i = 0; i < m->config->n_services; i++) {
                struct service_config *sc = TAKE_PTR(m->config->services[i]);
                char name[SERVICE_NAME_MAX + 1];
                struct service *s;

                (void)snprintf(name, sizeof name, "%s", sc->name);
                r = manager_add(m, sc, &s);
                if (r < 0)
                        return log_error_errno(r, "adding service %s", name);
        }
        config_drop_services(m->config);
        r = manager_rebuild_graph(m);
        if (r < 0)
                return log_error_errno(r, "building the dependency graph");
        return 0;
}

/* Create the services of the current config (unless done) and start the
 * enabled ones: START leaves a running one (adopted) as it is. */
int manager_start(struct manager *m)
{
        int r = manager_create(m);

        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_services; i++)
                if (m->services[i]->config->enabled)
                        service_dispatch(m->services[i], SERVICE_EVENT_START);
        /* Parsing left free chunks all over the heap: give them back. */
        (void)malloc_trim(0);
        return 0;
}

/* Everything a reload allocates, made before anything changes: a service
 * object for each added name (borrowing its config, in by_name, with room in
 * the list) and the start-limit ring for each changed one. */
struct manager_plan {
        struct service **fresh; /* [i]: the new service for new_config->services[i] */
        usec_t **rings;         /* [i]: for the existing one, or NULL */
        size_t n, n_fresh, n_put;
        /* Starts and restarts, dispatched once the new edges are linked. */
        struct service **deferred;
        enum service_event *deferred_ev;
        size_t n_deferred;
};

static void manager_plan_undo(struct manager *m, struct manager_plan *p)
{
        for (size_t i = 0; i < p->n; i++) {
                if (p->fresh && p->fresh[i]) {
                        if (hashmap_get(m->by_name, p->fresh[i]->name) == p->fresh[i])
                                (void)hashmap_remove(m->by_name, p->fresh[i]->name);
                        p->fresh[i]->config = NULL; /* borrowed */
                        service_free(p->fresh[i]);
                }
                if (p->rings)
                        free(p->rings[i]);
        }
        free(p->fresh);
        free(p->rings);
        free(p->deferred);
        free(p->deferred_ev);
}

static int manager_plan_make(struct manager *m, const struct config *c, struct manager_plan *p)
{
        struct service **nv;
        int r;

        *p = (struct manager_plan){ .n = c->n_services };
        p->fresh = calloc(p->n + 1, sizeof *p->fresh);
        p->rings = calloc(p->n + 1, sizeof *p->rings);
        p->deferred = calloc(p->n + 1, sizeof *p->deferred);
        p->deferred_ev = calloc(p->n + 1, sizeof *p->deferred_ev);
        if (!p->fresh || !p->rings || !p->deferred || !p->deferred_ev)
                return -ENOMEM;
        for (size_t i = 0; i < p->n; i++) {
                struct service_config *nsc = c->services[i];
                struct service *s = manager_find(m, nsc->name);

                if (s)
                        r = service_config_alloc(s, nsc, &p->rings[i]);
                else {
                        r = service_new(&m->host, nsc, &p->fresh[i]);
                        p->n_fresh += r >= 0;
                }
                if (r < 0)
                        return r;
        }
        nv = realloc(m->services, (m->n_services + p->n_fresh + 1) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        m->services = nv;
        for (size_t i = 0; i < p->n; i++)
                if (p->fresh[i]) {
                        r = hashmap_put(m->by_name, p->fresh[i]->name, p->fresh[i]);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* Remember a start or restart for once the edges are linked. */
static void manager_plan_dispatch(struct manager_plan *p, struct service *s, enum service_event ev)
{
        p->deferred[p->n_deferred] = s;
        p->deferred_ev[p->n_deferred++] = ev;
}

/* Apply new_config (owned) to the running set; see manager.h. */
int manager_apply(struct manager *m, struct config *new_config)
{
        struct config *old = m->config;
        unsigned added = 0, removed = 0, restarted = 0, updated = 0;
        struct manager_plan plan;
        int r;

        r = manager_plan_make(m, new_config, &plan);
        if (r < 0) {
                manager_plan_undo(m, &plan);
                config_free(new_config);
                return log_error_errno(r, "reload of %s failed, nothing changed", m->config_path);
        }
        /* From here on nothing can fail. */
        manager_enable_controllers(m, new_config);
        if (!streq_ptr(old->socket_path, new_config->socket_path))
                log_warning("reload: socket changed to %s; the old one stays until tendd restarts",
                            new_config->socket_path);
        if (!streq_ptr(old->cgroup_path, new_config->cgroup_path))
                log_warning("reload: cgroup changed to %s; the services stay where they are "
                            "until tendd restarts",
                            new_config->cgroup_path ? new_config->cgroup_path : "(none)");
        m->config = new_config;
        m->host.log_dir = new_config->log_dir;

        /* Removed services: stop, free once down (by manager_gc). */
        for (size_t i = 0; i < m->n_services; i++) {
                struct service *s = m->services[i];

                if (s->removed || config_find(new_config, s->name))
                        continue;
                s->removed = true;
                removed++;
                service_dispatch(s, SERVICE_EVENT_STOP);
                if (!service_is_live(s)) {
                        m->gc_pending = true;
                        manager_wake(m);
                }
        }

        for (size_t i = 0; i < new_config->n_services; i++) {
                const struct service_config *nsc = new_config->services[i];
                struct service *s = plan.fresh[i] ? plan.fresh[i] : manager_find(m, nsc->name);
                struct service_config *copy;
                usec_t *ring = TAKE_PTR(plan.rings[i]);

                if (plan.fresh[i]) {
                        plan.fresh[i] = NULL;
                        new_config->services[i] = NULL; /* the service had it already */
                        manager_link(m, s);
                        added++;
                        if (s->config->enabled)
                                manager_plan_dispatch(&plan, s, SERVICE_EVENT_START);
                        continue;
                }
                if (s->removed) {
                        /* Came back before the old one stopped: revive it. */
                        s->removed = false;
                        removed--;
                }
                if (service_config_equal(s->config, nsc) && !s->next_config) {
                        free(ring);
                        continue;
                }
                copy = TAKE_PTR(new_config->services[i]); /* the service takes it over */
                if (service_config_spawn_equal(s->config, copy)) {
                        service_set_config(s, copy, ring);
                        updated++;
                        continue;
                }
                service_set_config(s, copy, ring);
                restarted++;
                if (service_is_live(s) && s->want_up)
                        manager_plan_dispatch(&plan, s, SERVICE_EVENT_RESTART);
                else if (!service_is_live(s) && s->state != SERVICE_BACKOFF && s->want_up)
                        manager_plan_dispatch(&plan, s, SERVICE_EVENT_START);
        }
        /* Edges first: a start looks at the dependencies of the new config. */
        if (manager_rebuild_graph(m) < 0)
                log_error("reload: out of memory building the dependency graph");
        for (size_t i = 0; i < plan.n_deferred; i++)
                service_dispatch(plan.deferred[i], plan.deferred_ev[i]);
        manager_plan_undo(m, &plan); /* only the emptied arrays are left */
        config_drop_services(new_config);
        for (size_t i = 0; i < m->n_services; i++)
                manager_queue(m, m->services[i]);
        log_info("reloaded %s: %u added, %u removed, %u restarted, %u updated in place",
                 m->config_path, added, removed, restarted, updated);
        config_free(old);
        (void)malloc_trim(0);
        return 0;
}

/* The names of every service, for a new instance's after= and requires=;
 * borrowed. */
static char **manager_names(const struct manager *m, size_t *ret_n)
{
        char **v = calloc(m->n_services + 1, sizeof *v);
        size_t n = 0;

        for (size_t i = 0; v && i < m->n_services; i++)
                if (!m->services[i]->removed)
                        v[n++] = m->services[i]->name;
        *ret_n = n;
        return v;
}

/* See manager.h. */
int manager_instantiate(struct manager *m, const char *name, struct service **ret,
                        char ***ret_errors)
{
        _cleanup_free_ char **names = NULL;
        struct service_config *sc = NULL;
        struct service *s;
        size_t n = 0;
        int r;

        *ret = NULL;
        if (ret_errors)
                *ret_errors = NULL;
        if (m->shutting_down)
                return -ECANCELED;
        if (!config_find_template(m->config, name))
                return -ENOENT;
        names = manager_names(m, &n);
        if (!names)
                return -ENOMEM;
        r = config_instance_new(m->config, name, names, n, &sc, ret_errors);
        if (r < 0)
                return r;
        r = manager_add(m, sc, &s);
        if (r < 0)
                return r;
        r = manager_rebuild_graph(m);
        if (r < 0) {
                manager_drop(m, s);
                (void)manager_rebuild_graph(m);
                return r;
        }
        log_service(LOG_INFO, s->name, "instance made from %s", s->config->file);
        *ret = s;
        return 0;
}

/* The instances made at runtime that are to outlive a reload: those still
 * wanted up (a stopped one is dropped), added to c while their template is
 * there. */
static int manager_keep_instances(struct manager *m, struct config *c, char ***ret_errors)
{
        _cleanup_free_ char **keep = calloc(m->n_services + 1, sizeof *keep);
        size_t n = 0;

        if (!keep)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_services; i++) {
                struct service *s = m->services[i];

                if (s->config->transient && s->want_up && !s->removed)
                        keep[n++] = s->name;
        }
        return n == 0 ? 0 : config_add_instances(c, keep, n, ret_errors);
}

/* Reload the config file; a config with any error changes nothing. */
int manager_reload(struct manager *m, char ***ret_errors)
{
        struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        if (m->shutting_down)
                return -ECANCELED;
        manager_announce_phase(m, MANAGER_RELOADING);
        r = config_load(m->config_path, &c, &errors);
        if (r >= 0) {
                r = manager_keep_instances(m, c, &errors);
                if (r < 0)
                        c = config_free(c);
        }
        if (r < 0) {
                log_error("reload of %s rejected, nothing changed:", m->config_path);
                for (char **e = errors; e && *e; e++)
                        log_error("  %s", *e);
                if (!errors)
                        log_error_errno(r, "  loading %s", m->config_path);
                if (ret_errors)
                        *ret_errors = TAKE_PTR(errors);
                manager_announce_phase(m, MANAGER_RELOADED);
                return r;
        }
        spawn_forget_self(); /* a changed HOME or SHELL of tendd's user counts too */
        r = manager_apply(m, c);
        if (r < 0 && ret_errors) {
                char *e = NULL;
                if (asprintf(&e, "%s: reload failed, nothing changed: %s", m->config_path,
                             strerror(-r)) >= 0)
                        (void)strv_push(ret_errors, e);
        }
        manager_announce_phase(m, MANAGER_RELOADED);
        return r;
}

/* Stop everything in parallel; the loop ends when nothing is live. */
void manager_shutdown(struct manager *m)
{
        m->shutting_down = true;
        manager_announce_phase(m, MANAGER_STOPPING);
        for (size_t i = 0; i < m->n_services; i++)
                service_dispatch(m->services[i], SERVICE_EVENT_STOP);
        manager_check_done(m);
}

/* See manager.h. */
int manager_dispatch_many(struct manager *m, struct service *const *set, size_t n,
                          enum service_event ev)
{
        _cleanup_free_ struct service **order = malloc((n + 1) * sizeof *order);
        int r;

        if (!order)
                return -ENOMEM;
        memcpy(order, set, n * sizeof *order);
        r = deps_order(order, n, ev == SERVICE_EVENT_STOP);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                service_dispatch(order[i], ev);
        return 0;
}

/* The host's session index: live services by the session their process
 * created, where notify senders are looked up. */
static void manager_index_session(struct service *s, bool live, void *userdata)
{
        struct manager *m = userdata;
        int r;

        if (!live) {
                if (intmap_get(m->by_sid, (uint64_t)s->sid) == s)
                        (void)intmap_remove(m->by_sid, (uint64_t)s->sid);
                return;
        }
        r = intmap_put(m->by_sid, (uint64_t)s->sid, s);
        if (r < 0)
                log_service(LOG_WARNING, s->name,
                            "session %d not indexed (%s): its notify messages will be dropped",
                            (int)s->sid, strerror(-r));
}

/* The live service whose process created session sid, or NULL. */
struct service *manager_find_by_session(struct manager *m, pid_t sid)
{
        return sid > 0 ? intmap_get(m->by_sid, (uint64_t)sid) : NULL;
}

static size_t manager_unmet_dependencies(struct service *s, char *buf, size_t len,
                                         bool *ret_failed, void *userdata)
{
        return deps_unmet(s, buf, len, ret_failed);
}

static void manager_pull_requirements(struct service *s, void *userdata)
{
        deps_pull_requirements(s, manager_queue_cb, userdata);
}

static size_t manager_stop_blockers(struct service *s, char *buf, size_t len, void *userdata)
{
        struct manager *m = userdata;

        return deps_stop_blockers(s, m->shutting_down, buf, len, manager_queue_cb, m);
}

/* A main process was reaped: the orphans waiting behind it can be now. */
static void manager_service_reaped(struct service *s, void *userdata)
{
        struct manager *m = userdata;

        if (m->orphans_pending)
                manager_schedule_reap(m);
}

/* Queue s for manager_reconcile() from the loop. */
void manager_queue(struct manager *m, struct service *s)
{
        if (s->queued)
                return;
        if (m->n_queue == m->queue_cap) {
                size_t cap = m->queue_cap ? m->queue_cap * 2 : 64;
                struct service **q = realloc(m->queue, cap * sizeof *q);
                if (!q) {
                        log_error("out of memory queueing %s", s->name);
                        return;
                }
                m->queue = q;
                m->queue_cap = cap;
        }
        m->queue[m->n_queue++] = s;
        s->queued = true;
        manager_wake(m);
}

/* "KEY=VALUE" appended to env; false: out of memory. */
static bool manager_env_push(char ***env, const char *key, const char *value)
{
        char *e;

        if (asprintf(&e, "%s=%s", key, value) < 0)
                return false;
        return strv_push(env, e) >= 0;
}

/* s entered failed: start its on_failure services, each with the failure in
 * its environment for that spawn. One already live is left as it is. */
static void manager_on_failure(struct manager *m, struct service *s)
{
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *tail = NULL;
        char code[16] = "", sig[16] = "";
        bool ok;

        s->failure_pending = false;
        if (m->shutting_down)
                return;
        if (s->has_exit && s->exit_signal == 0)
                (void)snprintf(code, sizeof code, "%d", s->exit_code);
        else if (s->has_exit) {
                const char *n = signal_to_name(s->exit_signal);
                if (n)
                        (void)snprintf(sig, sizeof sig, "%s",
                                       strncmp(n, "SIG", 3) == 0 ? n + 3 : n);
                else
                        (void)snprintf(sig, sizeof sig, "%d", s->exit_signal);
        }
        (void)service_output_tail(s, &tail);
        ok = manager_env_push(&env, "TEND_FAILED_SERVICE", s->name) &&
             manager_env_push(&env, "TEND_EXIT_CODE", code) &&
             manager_env_push(&env, "TEND_EXIT_SIGNAL", sig) &&
             manager_env_push(&env, "TEND_FAILED_REASON", s->reason) &&
             manager_env_push(&env, "TEND_FAILED_OUTPUT", tail ? tail : "");
        for (char **n = s->config->on_failure; *n; n++) {
                struct service *t = manager_find(m, *n);

                if (!t || t->removed)
                        continue; /* a reload took it away meanwhile */
                if (service_is_live(t)) {
                        log_service(LOG_INFO, t->name, "on_failure of %s: running already",
                                    s->name);
                        continue;
                }
                if (!ok) {
                        log_service(LOG_WARNING, t->name,
                                    "on_failure of %s: out of memory for its environment", s->name);
                        continue;
                }
                strv_free(t->start_env);
                t->start_env = strv_copy(env);
                log_service(LOG_INFO, t->name, "on_failure of %s: starting", s->name);
                service_dispatch(t, SERVICE_EVENT_START);
        }
}

/* Bring one service in line with its dependencies and its pending requests. */
static void manager_reconcile(struct manager *m, struct service *s)
{
        char why[SERVICE_REASON_MAX];
        struct service *dep;

        if (s->failure_pending)
                manager_on_failure(m, s);
        if (s->removed)
                return;
        if (service_is_live(s) && s->state != SERVICE_STOPPING) {
                if (s->stop_pending != STOP_CAUSE_NONE) {
                        if (manager_stop_blockers(s, why, sizeof why, m) == 0)
                                service_stop_now(s);
                        return;
                }
                /* A requirement that is down, or on its way down, takes s with it. */
                dep = deps_requirement_down(s);
                if (dep && (s->state == SERVICE_STARTING || s->state == SERVICE_RUNNING))
                        service_stop_for_dependency(s, dep->name);
                return;
        }
        if (m->shutting_down)
                return;
        if (s->pull_start) {
                s->pull_start = false;
                if (s->state == SERVICE_STOPPED || s->state == SERVICE_FAILED) {
                        service_dispatch(s, SERVICE_EVENT_START);
                        return;
                }
                s->want_up = true;
        }
        if (s->state == SERVICE_STOPPED && s->waiting)
                service_start_waiting(s);
}

/* Room for one more spawn in this loop iteration? The first always fits. */
static bool manager_spawn_budget(struct manager *m)
{
        unsigned it = ev_iteration(m->loop);

        if (m->spawn_iteration != it) {
                m->spawn_iteration = it;
                m->spawns_this_iteration = 0;
                m->spawn_slice_start = now_monotonic();
        }
        return m->spawns_this_iteration == 0 ||
               (m->spawns_this_iteration < SPAWN_BATCH &&
                now_monotonic() - m->spawn_slice_start < SPAWN_SLICE);
}

/* May s spawn now? False: it was queued (s->spawn_queued) and gets
 * service_start_queued() from the loop. First come, first served: nobody
 * overtakes the queue. */
static bool manager_spawn_slot(struct service *s, void *userdata)
{
        struct manager *m = userdata;

        if (s->spawn_queued)
                return false;
        if (m->spawnq_n == 0 && manager_spawn_budget(m)) {
                m->spawns_this_iteration++;
                return true;
        }
        if (!manager_spawnq_push(m, s)) {
                m->spawns_this_iteration++; /* no room to wait in: over the budget */
                return true;
        }
        return false;
}

/* Put s at the end of the spawn queue; false: no memory for it. */
static bool manager_spawnq_push(struct manager *m, struct service *s)
{
        if (m->spawnq_n == m->spawnq_cap) {
                size_t cap = m->spawnq_cap ? m->spawnq_cap * 2 : 64;
                struct service **q = malloc(cap * sizeof *q);
                if (!q)
                        return false;
                for (size_t i = 0; i < m->spawnq_n; i++)
                        q[i] = m->spawnq[(m->spawnq_head + i) % m->spawnq_cap];
                free(m->spawnq);
                m->spawnq = q;
                m->spawnq_head = 0;
                m->spawnq_cap = cap;
        }
        m->spawnq[(m->spawnq_head + m->spawnq_n) % m->spawnq_cap] = s;
        m->spawnq_n++;
        s->spawn_queued = true;
        manager_wake(m);
        return true;
}

/* As many queued spawns as this iteration's budget allows. */
static void manager_spawn_queued(struct manager *m)
{
        while (m->spawnq_n > 0 && manager_spawn_budget(m)) {
                struct service *s = m->spawnq[m->spawnq_head];

                m->spawnq_head = (m->spawnq_head + 1) % m->spawnq_cap;
                m->spawnq_n--;
                if (!s)
                        continue; /* dropped by reload meanwhile */
                s->spawn_queued = false;
                if (m->shutting_down)
                        continue;
                m->spawns_this_iteration++;
                service_start_queued(s);
        }
}

static void manager_drain(struct manager *m)
{
        /* Reconciling may queue more; drain until nothing is left. */
        for (size_t i = 0; i < m->n_queue; i++) {
                struct service *s = m->queue[i];
                if (!s)
                        continue;
                s->queued = false;
                m->queue[i] = NULL;
                manager_reconcile(m, s);
        }
        m->n_queue = 0;
        if (m->gc_pending)
                manager_gc(m);
        manager_spawn_queued(m);
}

/* Deferred work runs before the loop polls, in every iteration however many
 * events keep arriving (an idle watcher alone would starve while services
 * crash-loop), and first among the prepare watchers, so what it changes is
 * seen by the others (the control API's re-arming) before the loop sleeps. */
static void manager_work_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
        struct manager *m = container_of(w, struct manager, work);

        manager_drain(m);
        /* More next iteration, after a look at what else happened: queued
         * spawns, and what they queued (a dependency that came up queues its
         * dependents after the drain's reconcile pass). */
        if (m->spawnq_n > 0 || m->n_queue > 0)
                return;
        ev_idle_stop(loop, &m->wake);
        ev_prepare_stop(loop, w);
}

/* Work queued by a watcher that ran after ours in this iteration's prepare
 * phase: the idle watcher keeps the loop from blocking, the prepare of the
 * next iteration does it. */
static void manager_wake_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
        struct manager *m = container_of(w, struct manager, wake);

        manager_drain(m);
        if (m->spawnq_n == 0 && m->n_queue == 0)
                ev_idle_stop(loop, w);
}

/* Make sure queued work runs before the loop next sleeps. */
static void manager_wake(struct manager *m)
{
        if (!ev_is_active(&m->work))
                ev_prepare_start(m->loop, &m->work);
        if (!ev_is_active(&m->wake))
                ev_idle_start(m->loop, &m->wake);
}

/* Resolve every service's dependencies into edges again. */
int manager_rebuild_graph(struct manager *m)
{
        return deps_link(m->services, m->n_services);
}

/* The manager's records in its state (see state.h). */
enum {
        MS_CONFIG_PATH = 1,
        MS_CONFIG,  /* the daemon's part: services are in their own records */
        MS_SERVICE, /* one per service, in name order */
        MS_QUEUE,   /* names waiting to be reconciled, in order */
        MS_SPAWNQ,  /* names waiting for their turn to spawn, in order */
};

/* See manager.h. */
void manager_state_put(const struct manager *m, struct state_writer *w, uint16_t tag)
{
        size_t mark = state_begin(w, tag);

        state_put_str(w, MS_CONFIG_PATH, m->config_path);
        (void)config_state_put(w, MS_CONFIG, m->config);
        for (size_t i = 0; i < m->n_services; i++)
                service_state_put(m->services[i], w, MS_SERVICE);
        for (size_t i = 0; i < m->n_queue; i++)
                if (m->queue[i])
                        state_put_str(w, MS_QUEUE, m->queue[i]->name);
        for (size_t i = 0; i < m->spawnq_n; i++) {
                struct service *q = m->spawnq[(m->spawnq_head + i) % m->spawnq_cap];
                if (q)
                        state_put_str(w, MS_SPAWNQ, q->name);
        }
        state_end(w, mark);
}

/* See manager.h. */
int manager_state_config(const struct state_reader *v, char **ret_path, struct config **ret)
{
        struct state_reader rest = *v, item;
        _cleanup_free_ char *path = NULL;
        struct config *c = NULL;
        uint16_t tag;
        int r;

        while ((r = state_next(&rest, &tag, &item)) > 0) {
                if (tag == MS_CONFIG_PATH && !path)
                        r = state_get_str(&item, &path);
                else if (tag == MS_CONFIG && !c)
                        r = config_state_get(&item, &c);
                if (r < 0)
                        break;
        }
        if (r < 0 || !path || !c) {
                config_free(c);
                return r < 0 ? r : -EBADMSG;
        }
        *ret_path = TAKE_PTR(path);
        *ret = c;
        return 0;
}

/* A name of the manager's queues, as its service. */
static struct service *manager_state_name(struct manager *m, const struct state_reader *v)
{
        _cleanup_free_ char *name = NULL;

        return state_get_str(v, &name) < 0 ? NULL : manager_find(m, name);
}

/* See manager.h. */
int manager_restore(struct manager *m, const struct state_reader *v)
{
        struct state_reader rest = *v, item;
        struct service_resume *resume = NULL;
        struct service **made = NULL, *s;
        uint16_t tag;
        size_t n = 0;
        int r;

        while ((r = state_next(&rest, &tag, &item)) > 0) {
                struct service_resume *nr;
                struct service **nm;

                if (tag != MS_SERVICE)
                        continue;
                nr = realloc(resume, (n + 1) * sizeof *nr);
                if (nr)
                        resume = nr;
                nm = realloc(made, (n + 1) * sizeof *nm);
                if (nm)
                        made = nm;
                if (!nr || !nm) {
                        r = -ENOMEM;
                        break;
                }
                r = service_state_get(&m->host, &item, &s, &resume[n]);
                if (r < 0)
                        break;
                r = manager_insert(m, s);
                if (r < 0)
                        break;
                made[n++] = s;
        }
        if (r >= 0)
                r = manager_rebuild_graph(m);
        if (r < 0) {
                free(resume);
                free(made);
                return r;
        }
        config_drop_services(m->config);
        for (size_t i = 0; i < m->n_services; i++) {
                if (service_is_live(m->services[i]))
                        m->n_live++;
                else if (m->services[i]->removed)
                        m->gc_pending = true; /* down, and dropped by a reload */
        }
        if (m->gc_pending)
                manager_wake(m);
        rest = *v;
        while (state_next(&rest, &tag, &item) > 0) {
                s = tag == MS_QUEUE || tag == MS_SPAWNQ ? manager_state_name(m, &item) : NULL;
                if (!s)
                        continue;
                if (tag == MS_QUEUE)
                        manager_queue(m, s);
                else if (!s->spawn_queued && !manager_spawnq_push(m, s))
                        manager_queue(m, s); /* no room to wait: looked at again */
        }
        /* The timers' deadlines are against now, not against the loop's
         * time from before the restore. */
        ev_now_update(m->loop);
        for (size_t i = 0; i < n; i++)
                service_resume(made[i], &resume[i]);
        free(resume);
        free(made);
        return 0;
}

static const struct service_host_ops manager_host_ops = {
        .state_changed = manager_service_state_changed,
        .unmet_dependencies = manager_unmet_dependencies,
        .pull_requirements = manager_pull_requirements,
        .stop_blockers = manager_stop_blockers,
        .spawn_slot = manager_spawn_slot,
        .session = manager_index_session,
        .reaped = manager_service_reaped,
        .cgroup_watch = manager_cgroup_watch,
        .cgroup_unwatch = manager_cgroup_unwatch,
};
