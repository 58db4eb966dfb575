/* manager.c: services by name, config application and reloads, shutdown. */
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>

#include "hashmap.h"
#include "log.h"
#include "manager.h"

static int manager_mkdir_p(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static void manager_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
        struct manager *m = w->data;

        if (w->signum == SIGHUP) {
                log_info("SIGHUP: reloading %s", m->config_path);
                (void)manager_reload(m, NULL);
        } else {
                log_info("%s: stopping all services", w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
                manager_shutdown(m);
        }
}

static void manager_gc_cb(struct ev_loop *loop, ev_idle *w, int revents);

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
        if (!m->config_path || !m->by_name) {
                m->config = NULL;
                manager_free(m);
                return -ENOMEM;
        }
        ev_signal_init(&m->sigterm, manager_signal_cb, SIGTERM);
        ev_signal_init(&m->sigint, manager_signal_cb, SIGINT);
        ev_signal_init(&m->sighup, manager_signal_cb, SIGHUP);
        m->sigterm.data = m->sigint.data = m->sighup.data = m;
        ev_idle_init(&m->gc, manager_gc_cb);
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
        if (m->loop) {
                ev_signal_stop(m->loop, &m->sigterm);
                ev_signal_stop(m->loop, &m->sigint);
                ev_signal_stop(m->loop, &m->sighup);
                ev_idle_stop(m->loop, &m->gc);
        }
        config_free(m->config);
        free(m->config_path);
        free(m);
        return NULL;
}

/* Watch TERM, INT and HUP in the loop (no handler does work). */
int manager_watch_signals(struct manager *m)
{
        ev_signal_start(m->loop, &m->sigterm);
        ev_signal_start(m->loop, &m->sigint);
        ev_signal_start(m->loop, &m->sighup);
        return 0;
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

static int manager_add(struct manager *m, struct service_config *sc, struct service **ret)
{
        struct service *s = NULL, **nv;
        bool found;
        size_t i;
        int r;

        r = service_new(m, sc, &s);
        if (r < 0) {
                service_config_free(sc);
                return r;
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
        i = manager_index(m, s->name, &found);
        memmove(m->services + i + 1, m->services + i, (m->n_services - i) * sizeof *nv);
        m->services[i] = s;
        m->n_services++;
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
        }
        (void)hashmap_remove(m->by_name, s->name);
        if (m->removed_hook)
                m->removed_hook(s, m->state_hook_userdata);
        service_free(s);
}

/* Frees services that reload removed once they have stopped. Runs from the
 * loop, never from inside a transition. */
static void manager_gc_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
        struct manager *m = container_of(w, struct manager, gc);

        ev_idle_stop(loop, w);
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

/* Bookkeeping after every state change, then the listeners' hook. */
void manager_service_state_changed(struct manager *m, struct service *s, enum service_state old)
{
        bool was_live = old == SERVICE_STARTING || old == SERVICE_RUNNING ||
                        old == SERVICE_STOPPING;
        bool live = service_is_live(s);

        if (was_live && !live)
                m->n_live--;
        else if (!was_live && live)
                m->n_live++;
        if (m->state_hook)
                m->state_hook(s, old, m->state_hook_userdata);
        if (s->removed && !live)
                ev_idle_start(m->loop, &m->gc);
        manager_check_done(m);
}

/* Create the services of the current config and start the enabled ones. */
int manager_start(struct manager *m)
{
        int r;

        r = manager_mkdir_p(m->config->log_dir, 0750);
        if (r < 0)
                log_warning_errno(r, "creating log directory %s", m->config->log_dir);
        for (size_t i = 0; i < m->config->n_services; i++) {
                struct service_config *sc = service_config_copy(m->config->services[i]);
                struct service *s;

                if (!sc)
                        return log_error_errno(-ENOMEM, "loading services");
                r = manager_add(m, sc, &s);
                if (r < 0)
                        return log_error_errno(r, "adding service %s", m->config->services[i]->name);
        }
        for (size_t i = 0; i < m->n_services; i++)
                if (m->services[i]->config->enabled)
                        service_dispatch(m->services[i], SERVICE_EVENT_START);
        return 0;
}

/* Apply new_config (owned) to the running set; see manager.h. */
void manager_apply(struct manager *m, struct config *new_config)
{
        struct config *old = m->config;
        unsigned added = 0, removed = 0, restarted = 0, updated = 0;
        int r;

        if (!streq_ptr(old->socket_path, new_config->socket_path))
                log_warning("reload: socket changed to %s; the old one stays until tendd restarts",
                            new_config->socket_path);
        if (!streq_ptr(old->log_dir, new_config->log_dir)) {
                r = manager_mkdir_p(new_config->log_dir, 0750);
                if (r < 0)
                        log_warning_errno(r, "creating log directory %s", new_config->log_dir);
        }
        m->config = new_config;

        /* Removed services: stop, free once down (the gc idle watcher). */
        for (size_t i = 0; i < m->n_services; i++) {
                struct service *s = m->services[i];

                if (s->removed || config_find(new_config, s->name))
                        continue;
                s->removed = true;
                removed++;
                service_dispatch(s, SERVICE_EVENT_STOP);
                if (!service_is_live(s))
                        ev_idle_start(m->loop, &m->gc);
        }

        for (size_t i = 0; i < new_config->n_services; i++) {
                const struct service_config *nsc = new_config->services[i];
                struct service *s = manager_find(m, nsc->name);
                struct service_config *copy;

                if (s && s->removed) {
                        /* Came back before the old one stopped: revive it. */
                        s->removed = false;
                        removed--;
                }
                if (s && service_config_equal(s->config, nsc) && !s->next_config)
                        continue;
                copy = service_config_copy(nsc);
                if (!copy) {
                        log_service(LOG_ERR, nsc->name, "reload: out of memory, left unchanged");
                        continue;
                }
                if (!s) {
                        r = manager_add(m, copy, &s);
                        if (r < 0) {
                                log_service(LOG_ERR, nsc->name, "reload: adding: %s", strerror(-r));
                                continue;
                        }
                        added++;
                        if (s->config->enabled)
                                service_dispatch(s, SERVICE_EVENT_START);
                        continue;
                }
                if (service_config_spawn_equal(s->config, copy)) {
                        service_set_config(s, copy);
                        updated++;
                        continue;
                }
                service_set_config(s, copy);
                restarted++;
                if (service_is_live(s) && s->want_up)
                        service_dispatch(s, SERVICE_EVENT_RESTART);
                else if (!service_is_live(s) && s->state != SERVICE_BACKOFF && s->want_up)
                        service_dispatch(s, SERVICE_EVENT_START);
        }
        log_info("reloaded %s: %u added, %u removed, %u restarted, %u updated in place",
                 m->config_path, added, removed, restarted, updated);
        config_free(old);
}

/* Reload the config file; a config with any error changes nothing. */
int manager_reload(struct manager *m, char ***ret_errors)
{
        struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        if (m->shutting_down)
                return -ECANCELED;
        r = config_load(m->config_path, &c, &errors);
        if (r < 0) {
                log_error("reload of %s rejected, nothing changed:", m->config_path);
                for (char **e = errors; e && *e; e++)
                        log_error("  %s", *e);
                if (!errors)
                        log_error_errno(r, "  loading %s", m->config_path);
                if (ret_errors)
                        *ret_errors = TAKE_PTR(errors);
                return r;
        }
        manager_apply(m, c);
        return 0;
}

/* Stop everything in parallel; the loop ends when nothing is live. */
void manager_shutdown(struct manager *m)
{
        m->shutting_down = true;
        for (size_t i = 0; i < m->n_services; i++)
                service_dispatch(m->services[i], SERVICE_EVENT_STOP);
        manager_check_done(m);
}
