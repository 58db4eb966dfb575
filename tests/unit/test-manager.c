/* test-manager: the manager as the services' host, through the syscall
 * seam: its counts, the spawn queue, and dependencies resolved into edges. */
#include <ev.h>
#include <stdio.h>

#include "deps.h"
#include "fake-sys.h"
#include "manager.h"
#include "tap.h"

/* manager.c's SPAWN_SLICE: how long one loop iteration spawns. */
#define SPAWN_SLICE_USEC (3 * USEC_PER_MSEC)

static struct ev_loop *loop;
static enum service_state hook_last_old;
static unsigned hook_calls;

static void hook(struct service *s, enum service_state old, void *userdata)
{
        hook_calls++;
        hook_last_old = old;
}

static const struct manager_listener hook_listener = { .state_changed = hook };

/* A manager over a config of the given services (name, then requires,
 * after; NULL ends), none started. */
static struct manager *make_manager(const char *const (*svcs)[3], size_t n)
{
        struct config *c = calloc(1, sizeof *c);
        struct manager *m = NULL;

        c->log_dir = strdup("/nonexistent");
        c->services = calloc(n + 1, sizeof *c->services);
        for (size_t i = 0; i < n; i++) {
                struct service_config *sc =
                        make_named_config(svcs[i][0], SERVICE_SIMPLE, RESTART_ON_FAILURE);
                if (svcs[i][1])
                        (void)strv_extend(&sc->requires, svcs[i][1]);
                if (svcs[i][2])
                        (void)strv_extend(&sc->after, svcs[i][2]);
                sc->enabled = false;
                c->services[c->n_services++] = sc;
        }
        fake_reset();
        if (manager_new(loop, "/nonexistent/tend.ini", c, &m) < 0 || manager_start(m) < 0)
                return NULL;
        (void)manager_listen(m, &hook_listener);
        return m;
}

/* Run the loop until the queues are drained. */
static void settle(void)
{
        for (int i = 0; i < 10; i++)
                ev_run(loop, EVRUN_NOWAIT);
}

static void test_hook(void)
{
        static const char *const svcs[][3] = { { "svc", NULL, NULL } };
        struct manager *m = make_manager(svcs, 1);
        struct service *s = manager_find(m, "svc");

        hook_calls = 0;
        service_dispatch(s, SERVICE_EVENT_START);
        ok(hook_calls == 1 && hook_last_old == SERVICE_STOPPED, "state hook sees old state");
        ok(m->n_live == 1 && m->n_in_state[SERVICE_RUNNING] == 1, "manager counts live services");
        ok(manager_find_by_session(m, s->sid) == s, "and indexes its session (%d)", (int)s->sid);
        service_dispatch(s, SERVICE_EVENT_STOP);
        fake.exit_code = 0;
        service_handle_pidfd(s);
        ok(m->n_live == 0 && m->n_in_state[SERVICE_STOPPED] == 1, "and stops counting them");
        ok(!manager_find_by_session(m, s->sid), "the session is gone from the index");
        manager_free(m);
}

/* More spawns in one loop iteration than the budget: the rest wait in order,
 * keep their state, and go out in later iterations; a stop cancels one. */
static void test_spawn_budget(void)
{
        const char *svcs[100][3];
        char names[100][8];
        struct manager *m;
        struct service *last, *stopped;
        unsigned spawned = 0, rounds = 0;

        for (size_t i = 0; i < ELEMENTSOF(svcs); i++) {
                (void)snprintf(names[i], sizeof names[i], "s%03zu", i);
                svcs[i][0] = names[i];
                svcs[i][1] = svcs[i][2] = NULL;
        }
        m = make_manager((const char *const(*)[3])svcs, ELEMENTSOF(svcs));
        ev_run(loop, EVRUN_NOWAIT); /* a fresh iteration: a fresh budget */
        for (size_t i = 0; i < ELEMENTSOF(svcs); i++)
                service_dispatch(manager_find(m, names[i]), SERVICE_EVENT_START);
        last = manager_find(m, names[ELEMENTSOF(svcs) - 1]);
        stopped = manager_find(m, names[ELEMENTSOF(svcs) - 2]);
        ok(fake.spawns > 0 && fake.spawns < ELEMENTSOF(svcs), "one iteration spawns %u of %zu",
           fake.spawns, ELEMENTSOF(svcs));
        ok(last->state == SERVICE_STOPPED && last->spawn_queued,
           "the last one waits, stopped, in the spawn queue");
        service_dispatch(stopped, SERVICE_EVENT_STOP);
        while (fake.spawns != spawned && rounds++ < 100) {
                spawned = fake.spawns;
                ev_run(loop, EVRUN_NOWAIT);
        }
        ok(fake.spawns == ELEMENTSOF(svcs) - 1,
           "later iterations spawn the rest but the stopped one (%u)", fake.spawns);
        ok(last->state == SERVICE_RUNNING && !last->spawn_queued, "the last one runs");
        ok(stopped->state == SERVICE_STOPPED, "the stopped one stays stopped");
        ok(rounds > 1, "it took %u iterations", rounds);
        manager_free(m);
}

/* A dependency that waited in the spawn queue comes up in the loop's
 * deferred work (the prepare watcher), after that pass reconciled the queue:
 * the dependent its state change queues is still reconciled, in the next
 * iteration, though nothing else wakes the loop. */
static void busy_cb(struct ev_loop *l, ev_timer *w, int revents)
{
}

static void test_spawn_queue_wakes_dependents(void)
{
        ev_timer busy;
        static const char *const svcs[][3] = {
                { "app", "db", NULL },
                { "db", NULL, NULL },
                { "first", NULL, NULL },
        };
        struct manager *m = make_manager(svcs, ELEMENTSOF(svcs));
        struct service *app = manager_find(m, "app"), *db = manager_find(m, "db");
        usec_t until;

        ev_run(loop, EVRUN_NOWAIT); /* a fresh iteration: a fresh budget */
        service_dispatch(manager_find(m, "first"), SERVICE_EVENT_START);
        /* This iteration's spawning time is over: db waits for the next. */
        until = now_monotonic() + 2 * SPAWN_SLICE_USEC;
        while (now_monotonic() < until)
                ;
        service_dispatch(db, SERVICE_EVENT_START);
        service_dispatch(app, SERVICE_EVENT_START);
        ok(db->spawn_queued && app->state == SERVICE_STOPPED,
           "db waits in the spawn queue, app for db (%s)", app->reason);
        /* An event in the next iteration (as a service's exit would be) keeps
         * the idle watcher from running: the one after spawns db from the
         * prepare watcher. */
        ev_timer_init(&busy, busy_cb, 0., 0.);
        ev_timer_start(loop, &busy);
        settle();
        ok(db->state == SERVICE_RUNNING, "db was spawned from the queue (%s)", db->reason);
        ok(app->state == SERVICE_RUNNING, "then app started (%s)", app->reason);
        manager_free(m);
}

/* Names are resolved once into edges, both ways; a name in both lists is
 * one edge with both kinds. */
static void test_edges(void)
{
        static const char *const svcs[][3] = {
                { "app", "db", "db" },
                { "db", NULL, NULL },
                { "web", NULL, "app" },
        };
        struct manager *m = make_manager(svcs, ELEMENTSOF(svcs));
        struct service *app = manager_find(m, "app"), *db = manager_find(m, "db"),
                       *web = manager_find(m, "web");

        ok(app->n_deps == 1 && app->deps[0].to == db &&
                   app->deps[0].kind == (DEP_AFTER | DEP_REQUIRES),
           "app -> db: one edge, after and requires");
        ok(db->n_dependents == 1 && db->dependents[0]->from == app, "db knows app depends on it");
        ok(web->n_deps == 1 && web->deps[0].kind == DEP_AFTER && app->n_dependents == 1,
           "web -> app: after only");
        manager_free(m);
}

/* A start pulls requirements through the edges and waits for them; a
 * requirement going down takes its dependents with it. */
static void test_dependencies(void)
{
        static const char *const svcs[][3] = { { "app", "db", NULL }, { "db", NULL, NULL } };
        struct manager *m = make_manager(svcs, ELEMENTSOF(svcs));
        struct service *app = manager_find(m, "app"), *db = manager_find(m, "db");

        service_dispatch(app, SERVICE_EVENT_START);
        ok(app->state == SERVICE_STOPPED && strcmp(app->reason, "waiting for db") == 0,
           "app waits for db (%s)", app->reason);
        settle();
        ok(db->state == SERVICE_RUNNING && app->state == SERVICE_RUNNING,
           "db was pulled up, then app started (%s, %s)", db->reason, app->reason);
        service_dispatch(db, SERVICE_EVENT_STOP);
        ok(db->state == SERVICE_RUNNING && db->stop_pending == STOP_CAUSE_OPERATOR &&
                   strcmp(db->reason, "stopping after app") == 0,
           "db's stop waits for app (%s)", db->reason);
        settle();
        ok(app->state == SERVICE_STOPPING && app->stop_cause == STOP_CAUSE_DEPENDENCY,
           "app is stopped for it (%s)", app->reason);
        service_handle_pidfd(app);
        settle();
        ok(db->state == SERVICE_STOPPING, "then db stops (%s)", db->reason);
        service_handle_pidfd(db);
        settle();
        ok(db->state == SERVICE_STOPPED && app->state == SERVICE_STOPPED && app->want_up &&
                   strcmp(app->reason, "waiting for db") == 0,
           "app stays wanted, waiting for db (%s)", app->reason);
        manager_free(m);
}

/* x, db, y: nodes 1, 2, 3 of a graph whose node 0 names them. */
static size_t wants_lookup(const char *name, void *userdata)
{
        if (strcmp(name, "x") == 0)
                return 1;
        if (strcmp(name, "db") == 0)
                return 2;
        return strcmp(name, "y") == 0 ? 3 : SIZE_MAX;
}

/* wants: a start pulls the wanted service and waits while it comes up,
 * but a wanted service that fails or stops holds nothing back or down. */
static void test_wants(void)
{
        static const char *const svcs[][3] = { { "app", NULL, NULL }, { "db", NULL, NULL } };
        struct config *c = calloc(1, sizeof *c);
        struct manager *m = NULL;
        struct service *app, *db;

        c->log_dir = strdup("/nonexistent");
        c->services = calloc(3, sizeof *c->services);
        for (size_t i = 0; i < ELEMENTSOF(svcs); i++) {
                struct service_config *sc =
                        make_named_config(svcs[i][0], SERVICE_SIMPLE, RESTART_NEVER);
                sc->enabled = false;
                c->services[c->n_services++] = sc;
        }
        (void)strv_extend(&c->services[0]->wants, "db");
        fake_reset();
        if (manager_new(loop, "/nonexistent/tend.ini", c, &m) < 0 || manager_start(m) < 0) {
                ok(false, "manager for wants");
                return;
        }
        app = manager_find(m, "app");
        db = manager_find(m, "db");
        ok(app->n_deps == 1 && app->deps[0].to == db && app->deps[0].kind == DEP_WANTS,
           "app -> db: one wants edge");
        {
                struct service_config *sc = service_config_copy(app->config);
                struct graph g;
                size_t n;

                /* A name in several lists is one edge with each bit; a wants
                 * name also in after comes in after's place. */
                (void)strv_extend(&sc->after, "x");
                (void)strv_extend(&sc->after, "db");
                (void)strv_extend(&sc->requires, "x");
                (void)strv_extend(&sc->wants, "y");
                (void)strv_extend(&sc->wants, "x");
                n = 1;
                ok(graph_build(&g, (const struct service_config *const *)&sc, n,
                               wants_lookup, NULL, NULL) == 0 &&
                           g.n_edges == 3 && g.edges[0].to == 1 &&
                           g.edges[0].kind == (DEP_AFTER | DEP_REQUIRES | DEP_WANTS) &&
                           g.edges[1].to == 2 && g.edges[1].kind == (DEP_AFTER | DEP_WANTS) &&
                           g.edges[2].to == 3 && g.edges[2].kind == DEP_WANTS,
                   "graph: after x db, requires x, wants db y x: x (all three), db, y");
                graph_done(&g);
                service_config_free(sc);
        }

        service_dispatch(app, SERVICE_EVENT_START);
        ok(app->state == SERVICE_STOPPED && strcmp(app->reason, "waiting for db") == 0,
           "app waits for the db it pulled (%s)", app->reason);
        settle();
        ok(db->state == SERVICE_RUNNING && app->state == SERVICE_RUNNING,
           "db was pulled up, then app started (%s, %s)", db->reason, app->reason);

        service_dispatch(db, SERVICE_EVENT_STOP);
        ok(db->state == SERVICE_STOPPING, "db's stop does not wait for app (%s)", db->reason);
        service_handle_pidfd(db);
        settle();
        ok(db->state == SERVICE_STOPPED && app->state == SERVICE_RUNNING,
           "app keeps running without db (%s)", app->reason);

        service_dispatch(app, SERVICE_EVENT_STOP);
        service_handle_pidfd(app);
        settle();
        fake.spawn_err = -ENOENT;
        fake.spawn_step = "exec";
        service_dispatch(db, SERVICE_EVENT_START);
        fake.spawn_err = 0;
        ok(db->state == SERVICE_FAILED, "db failed to start (%s)", db->reason);
        service_dispatch(app, SERVICE_EVENT_START);
        ok(app->state == SERVICE_RUNNING && !app->dep_failed && db->pull_start,
           "a failed wanted db is pulled again but does not hold app back (%s)", app->reason);
        fake.spawn_err = -ENOENT;
        settle();
        fake.spawn_err = 0;
        ok(db->state == SERVICE_FAILED && app->state == SERVICE_RUNNING,
           "db failing again leaves app running (%s)", app->reason);
        manager_free(m);
}

/* A reload that adds a service waiting for an existing one: the new one
 * starts only once the edge exists, so it waits. */
static void test_reload_adds_dependent(void)
{
        static const char *const svcs[][3] = { { "db", NULL, NULL } };
        struct manager *m = make_manager(svcs, ELEMENTSOF(svcs));
        struct config *c = calloc(1, sizeof *c);
        struct service_config *db = make_named_config("db", SERVICE_SIMPLE, RESTART_ON_FAILURE);
        struct service_config *app = make_named_config("app", SERVICE_SIMPLE, RESTART_ON_FAILURE);
        struct service *a;

        db->enabled = false;
        (void)strv_extend(&app->after, "db");
        c->log_dir = strdup("/nonexistent");
        c->services = calloc(3, sizeof *c->services);
        c->services[c->n_services++] = app;
        c->services[c->n_services++] = db;
        ev_run(loop, EVRUN_NOWAIT);
        ok(manager_apply(m, c) == 0, "reload applied");
        a = manager_find(m, "app");
        ok(a->state == SERVICE_STOPPED && a->n_deps == 1 && strcmp(a->reason, "waiting for db") == 0,
           "the added service waits for db (%s, %s)", service_state_to_string(a->state), a->reason);
        manager_free(m);
}

/* Restarts of many services whose exits arrive in one loop iteration: those
 * beyond the spawn budget wait their turn, and all come back. */
static void test_restart_budget(void)
{
        const char *svcs[100][3];
        char names[100][8];
        struct manager *m;
        unsigned stuck = 0;

        for (size_t i = 0; i < ELEMENTSOF(svcs); i++) {
                (void)snprintf(names[i], sizeof names[i], "r%03zu", i);
                svcs[i][0] = names[i];
                svcs[i][1] = svcs[i][2] = NULL;
        }
        m = make_manager((const char *const(*)[3])svcs, ELEMENTSOF(svcs));
        for (size_t i = 0; i < ELEMENTSOF(svcs); i++) {
                service_dispatch(manager_find(m, names[i]), SERVICE_EVENT_START);
                settle();
        }
        ev_run(loop, EVRUN_NOWAIT);
        for (size_t i = 0; i < ELEMENTSOF(svcs); i++)
                service_dispatch(manager_find(m, names[i]), SERVICE_EVENT_RESTART);
        for (size_t i = 0; i < ELEMENTSOF(svcs); i++)
                service_handle_pidfd(manager_find(m, names[i]));
        for (int k = 0; k < 200; k++)
                ev_run(loop, EVRUN_NOWAIT);
        for (size_t i = 0; i < ELEMENTSOF(svcs); i++)
                stuck += manager_find(m, names[i])->state != SERVICE_RUNNING;
        ok(stuck == 0, "all restarted (%u not running)", stuck);
        manager_free(m);
}

/* deps_order: a stop goes through dependents before what they depend on, a
 * start the other way round, whatever order the set came in. */
static void test_order(void)
{
        static const char *const svcs[][3] = {
                { "a", NULL, NULL }, { "b", NULL, "a" }, { "c", "b", NULL }, { "x", NULL, NULL },
        };
        struct manager *m = make_manager(svcs, ELEMENTSOF(svcs));
        struct service *a = manager_find(m, "a"), *b = manager_find(m, "b"),
                       *c = manager_find(m, "c"), *x = manager_find(m, "x");
        struct service *set[] = { a, x, b, c };

        ok(deps_order(set, 4, true) == 0 && set[0] == c && set[1] == b && set[2] == a &&
                   set[3] == x,
           "stop order: c b a, then x (%s %s %s %s)", set[0]->name, set[1]->name,
           set[2]->name, set[3]->name);
        ok(deps_order(set, 4, false) == 0 && set[0] == a && set[1] == b && set[2] == c &&
                   set[3] == x,
           "start order: a b c, then x (%s %s %s %s)", set[0]->name, set[1]->name,
           set[2]->name, set[3]->name);
        manager_free(m);
}

/* Stopping a set with both ends of an after= and a requires= edge, named
 * in the worst order: every signal goes out in dependency order, no stop
 * waits on another forever. */
static void test_dispatch_many(void)
{
        static const char *const svcs[][3] = {
                { "a", NULL, NULL }, { "b", NULL, "a" }, { "c", "b", NULL }, { "x", NULL, NULL },
        };
        struct manager *m = make_manager(svcs, ELEMENTSOF(svcs));
        struct service *a = manager_find(m, "a"), *b = manager_find(m, "b"),
                       *c = manager_find(m, "c"), *x = manager_find(m, "x");
        struct service *all[] = { a, b, c, x }, *set[] = { a, b, c };

        ok(manager_dispatch_many(m, all, 4, SERVICE_EVENT_START) == 0, "start all in one pass");
        for (int i = 0; i < 5; i++)
                settle();
        ok(a->state == SERVICE_RUNNING && b->state == SERVICE_RUNNING &&
                   c->state == SERVICE_RUNNING && x->state == SERVICE_RUNNING,
           "all running");
        fake.signals = 0;
        ok(manager_dispatch_many(m, set, 3, SERVICE_EVENT_STOP) == 0, "stop a, b, c");
        ok(c->state == SERVICE_STOPPING && b->state == SERVICE_RUNNING &&
                   b->stop_pending == STOP_CAUSE_OPERATOR && a->state == SERVICE_RUNNING &&
                   a->stop_pending == STOP_CAUSE_OPERATOR && fake.signals == 1,
           "c is signalled first, b and a wait (%s; %s)", b->reason, a->reason);
        ok(set[0] == a && set[1] == b && set[2] == c, "the caller's set is left as it was");
        service_handle_pidfd(c);
        settle();
        ok(b->state == SERVICE_STOPPING && a->state == SERVICE_RUNNING, "then b (%s)", a->reason);
        service_handle_pidfd(b);
        settle();
        ok(a->state == SERVICE_STOPPING, "then a");
        service_handle_pidfd(a);
        settle();
        ok(a->state == SERVICE_STOPPED && b->state == SERVICE_STOPPED &&
                   c->state == SERVICE_STOPPED && !a->want_up && !b->want_up && !c->want_up &&
                   x->state == SERVICE_RUNNING,
           "all three stopped, x untouched");
        manager_free(m);
}

int main(void)
{
        loop = ev_loop_new(EVFLAG_AUTO);
        sys_set(&fake_ops);
        test_hook();
        test_spawn_budget();
        test_spawn_queue_wakes_dependents();
        test_edges();
        test_dependencies();
        test_wants();
        test_reload_adds_dependent();
        test_restart_budget();
        test_order();
        test_dispatch_many();
        ev_loop_destroy(loop);
        return tap_done();
}
