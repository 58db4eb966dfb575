/* exitwith.c: end tendd when the exit_with service ends; see exitwith.h. */
#include <stdlib.h>

#include "exitwith.h"
#include "log.h"

struct exitwith {
        struct manager *manager;
        const char *name; /* --exit-with; NULL: the config's key */
        int status;       /* -1 until the service ended */
        struct manager_listener listener;
        ev_timer later; /* the shutdown, from the loop */
};

/* See exitwith.h. */
int exitwith_status_of(const struct service *s)
{
        if (!s->has_exit)
                return 1;
        if (s->exit_signal > 0)
                return 128 + s->exit_signal;
        return s->exit_code >= 0 && s->exit_code <= 255 ? s->exit_code : 1;
}

static const char *exitwith_name(const struct exitwith *e)
{
        return e->name ? e->name : e->manager->config->exit_with;
}

/* Stopped or failed, still wanted up, not waiting for dependencies or its
 * spawn turn: nothing will start it. */
static bool exitwith_ended(const struct service *s, enum service_state old)
{
        return old != s->state && (s->state == SERVICE_STOPPED || s->state == SERVICE_FAILED) &&
               s->want_up && !s->waiting && !s->spawn_queued;
}

static void exitwith_state_changed(struct service *s, enum service_state old, void *userdata)
{
        struct exitwith *e = userdata;
        const char *name = exitwith_name(e);
        bool was_live =
                old == SERVICE_STARTING || old == SERVICE_RUNNING || old == SERVICE_STOPPING;

        if (e->status >= 0 || e->manager->shutting_down || !name || strcmp(s->name, name) != 0 ||
            !exitwith_ended(s, old))
                return;
        /* Not started this time: an exit seen before says nothing about it. */
        e->status = was_live ? exitwith_status_of(s) : 1;
        log_service(LOG_NOTICE, s->name,
                    "exit_with service ended (%s): stopping all services, "
                    "tendd exits with %d",
                    s->reason, e->status);
        ev_timer_start(e->manager->loop, &e->later);
}

static void exitwith_later_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct exitwith *e = container_of(w, struct exitwith, later);

        if (!e->manager->shutting_down)
                manager_shutdown(e->manager);
}

/* See exitwith.h. */
int exitwith_new(struct manager *m, const char *name, struct exitwith **ret)
{
        struct exitwith *e = calloc(1, sizeof *e);
        int r;

        if (!e)
                return -ENOMEM;
        e->manager = m;
        e->name = name;
        e->status = -1;
        e->listener = (struct manager_listener){
                .state_changed = exitwith_state_changed,
                .userdata = e,
        };
        ev_timer_init(&e->later, exitwith_later_cb, 0., 0.);
        r = manager_listen(m, &e->listener);
        if (r < 0) {
                free(e);
                return r;
        }
        *ret = e;
        return 0;
}

/* See exitwith.h. */
struct exitwith *exitwith_free(struct exitwith *e)
{
        if (!e)
                return NULL;
        ev_timer_stop(e->manager->loop, &e->later);
        manager_unlisten(e->manager, &e->listener);
        free(e);
        return NULL;
}

/* See exitwith.h. */
int exitwith_status(const struct exitwith *e)
{
        return e ? e->status : -1;
}
