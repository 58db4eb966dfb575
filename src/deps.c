/* deps.c: dependency decisions over resolved edges. */
#include <stdint.h>
#include <stdio.h>

#include "deps.h"
#include "intmap.h"

struct deps_sorted {
        struct service *const *services;
        size_t n;
};

static int deps_name_cmp(const void *name, const void *elem)
{
        return strcmp(name, (*(struct service *const *)elem)->name);
}

/* Binary search of the name-sorted services. */
static size_t deps_lookup(const char *name, void *userdata)
{
        const struct deps_sorted *d = userdata;
        struct service *const *hit = bsearch(name, d->services, d->n, sizeof *d->services,
                                             deps_name_cmp);

        return hit ? (size_t)(hit - d->services) : SIZE_MAX;
}

static const struct service_config *deps_config_of(const struct service *s)
{
        return s->next_config ? s->next_config : s->config;
}

/* Per service: its edges out and its edges in, all allocated first. */
struct deps_new {
        struct service_dep **out;
        struct service_dep ***in;
        size_t *n_in;
};

static void deps_new_free(struct deps_new *nw, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                if (nw->out)
                        free(nw->out[i]);
                if (nw->in)
                        free(nw->in[i]);
        }
        free(nw->out);
        free(nw->in);
        free(nw->n_in);
}

static int deps_new_alloc(struct deps_new *nw, const struct graph *g)
{
        size_t n = g->n;

        nw->out = calloc(n + 1, sizeof *nw->out);
        nw->in = calloc(n + 1, sizeof *nw->in);
        nw->n_in = calloc(n + 1, sizeof *nw->n_in);
        if (!nw->out || !nw->in || !nw->n_in)
                return -ENOMEM;
        for (size_t e = 0; e < g->n_edges; e++)
                nw->n_in[g->edges[e].to]++;
        for (size_t i = 0; i < n; i++) {
                size_t n_out = g->first[i + 1] - g->first[i];

                if (n_out > 0 && !(nw->out[i] = calloc(n_out, sizeof **nw->out)))
                        return -ENOMEM;
                if (nw->n_in[i] > 0 && !(nw->in[i] = calloc(nw->n_in[i], sizeof **nw->in)))
                        return -ENOMEM;
                nw->n_in[i] = 0; /* counted again while filling */
        }
        return 0;
}

/* See deps.h. */
int deps_link(struct service *const *services, size_t n)
{
        struct deps_sorted sorted = { services, n };
        const struct service_config **configs = calloc(n + 1, sizeof *configs);
        struct deps_new nw = { 0 };
        struct graph g = { 0 };
        int r = -ENOMEM;

        if (!configs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                configs[i] = deps_config_of(services[i]);
        r = graph_build(&g, configs, n, deps_lookup, NULL, &sorted);
        if (r >= 0)
                r = deps_new_alloc(&nw, &g);
        if (r < 0) {
                deps_new_free(&nw, n);
                graph_done(&g);
                free(configs);
                return r;
        }
        /* Nothing can fail from here on. */
        for (size_t i = 0; i < n; i++) {
                struct service *s = services[i];

                free(s->deps);
                free(s->dependents);
                s->deps = TAKE_PTR(nw.out[i]);
                s->n_deps = g.first[i + 1] - g.first[i];
                for (size_t k = 0; k < s->n_deps; k++) {
                        const struct graph_edge *e = &g.edges[g.first[i] + k];
                        s->deps[k] = (struct service_dep){ s, services[e->to], e->kind };
                }
        }
        for (size_t i = 0; i < n; i++) {
                services[i]->dependents = TAKE_PTR(nw.in[i]);
                services[i]->n_dependents = 0;
        }
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < services[i]->n_deps; k++) {
                        struct service_dep *d = &services[i]->deps[k];
                        d->to->dependents[d->to->n_dependents++] = d;
                }
        deps_new_free(&nw, n);
        graph_done(&g);
        free(configs);
        return 0;
}

static void deps_buf_append(char *buf, size_t len, size_t *n, const char *s)
{
        int k;

        if (*n >= len)
                return;
        k = snprintf(buf + *n, len - *n, "%s%s", *n ? ", " : "", s);
        if (k > 0)
                *n += (size_t)k;
}

/* A wanted service holds its dependents back only while it is on its way
 * up: pulled by a start (not yet taken up), or wanted up and starting,
 * stopped waiting for its own start (its dependencies not failed), or being
 * restarted. Failed (even when pulled again: failing again is no change of
 * state that would look at its dependents once more), backoff, or stopped
 * for good: it does not. */
static bool deps_wanted_coming(const struct service *to)
{
        if (to->state == SERVICE_FAILED)
                return false;
        if (to->pull_start)
                return true;
        if (!to->want_up)
                return false;
        return to->state == SERVICE_STARTING || to->state == SERVICE_STOPPING ||
               (to->state == SERVICE_STOPPED && !to->dep_failed);
}

/* See deps.h. */
size_t deps_unmet(const struct service *s, char *buf, size_t len, bool *ret_failed)
{
        char names[SERVICE_REASON_MAX] = "", failed[SERVICE_REASON_MAX] = "";
        size_t n = 0, nn = 0, nf = 0;

        for (size_t i = 0; i < s->n_deps; i++) {
                const struct service_dep *d = &s->deps[i];

                if (d->to->removed || service_is_ready(d->to))
                        continue;
                if (!(d->kind & (DEP_AFTER | DEP_REQUIRES)) && !deps_wanted_coming(d->to))
                        continue;
                n++;
                if ((d->kind & DEP_REQUIRES) && d->to->state == SERVICE_FAILED)
                        deps_buf_append(failed, sizeof failed, &nf, d->to->name);
                else
                        deps_buf_append(names, sizeof names, &nn, d->to->name);
        }
        *ret_failed = nf > 0;
        if (nf > 0)
                (void)snprintf(buf, len, "requirement %s failed", failed);
        else if (n > 0)
                (void)snprintf(buf, len, "waiting for %s", names);
        return n;
}

/* See deps.h. */
void deps_pull_requirements(struct service *s, deps_queue_fn queue, void *userdata)
{
        for (size_t i = 0; i < s->n_deps; i++) {
                struct service *to = s->deps[i].to;

                if (!(s->deps[i].kind & (DEP_REQUIRES | DEP_WANTS)) || to->removed)
                        continue;
                if (!to->want_up || to->state == SERVICE_FAILED) {
                        to->pull_start = true;
                        queue(to, userdata);
                }
        }
}

/* Does the dependent at the edge's far end have to be down before s stops? */
static bool deps_blocks_stop(const struct service_dep *d, bool shutting_down)
{
        const struct service *from = d->from;

        if (!service_is_live(from))
                return false;
        return (d->kind & DEP_REQUIRES) || !from->want_up || shutting_down ||
               from->stop_pending != STOP_CAUSE_NONE;
}

/* See deps.h. */
size_t deps_stop_blockers(const struct service *s, bool shutting_down, char *buf, size_t len,
                          deps_queue_fn queue, void *userdata)
{
        size_t n = 0, nb = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < s->n_dependents; i++) {
                const struct service_dep *d = s->dependents[i];

                if (!deps_blocks_stop(d, shutting_down))
                        continue;
                n++;
                deps_buf_append(buf, len, &nb, d->from->name);
                queue(d->from, userdata);
        }
        return n;
}

/* See deps.h. */
struct service *deps_requirement_down(const struct service *s)
{
        for (size_t i = 0; i < s->n_deps; i++) {
                struct service *to = s->deps[i].to;

                if ((s->deps[i].kind & DEP_REQUIRES) && !to->removed &&
                    (!service_is_ready(to) || to->stop_pending != STOP_CAUSE_NONE))
                        return to;
        }
        return NULL;
}

/* See deps.h. */
void deps_queue_neighbours(const struct service *s, deps_queue_fn queue, void *userdata)
{
        for (size_t i = 0; i < s->n_dependents; i++)
                queue(s->dependents[i]->from, userdata);
        for (size_t i = 0; i < s->n_deps; i++)
                queue(s->deps[i].to, userdata);
}

/* A member of the set being ordered, not placed yet. */
#define DEPS_UNSEEN ((void *)1)
#define DEPS_SEEN ((void *)2)

/* The far end of s's k-th edge the way the order goes. */
static struct service *deps_next(const struct service *s, size_t k, bool dependents_first)
{
        return dependents_first ? s->dependents[k]->from : s->deps[k].to;
}

/* See deps.h. */
int deps_order(struct service **set, size_t n, bool dependents_first)
{
        struct {
                struct service *s;
                size_t k;
        } *stack = NULL;
        struct service **order = NULL;
        struct intmap *mark = NULL;
        size_t n_order = 0;
        bool edges = false;
        int r = -ENOMEM;

        for (size_t i = 0; i < n && !edges; i++)
                edges = set[i]->n_deps > 0 || set[i]->n_dependents > 0;
        if (!edges)
                return 0; /* nothing to keep: the order given */
        mark = intmap_new();
        order = malloc(n * sizeof *order);
        stack = malloc(n * sizeof *stack);
        if (!mark || !order || !stack)
                goto out;
        for (size_t i = 0; i < n; i++) {
                r = intmap_put(mark, (uintptr_t)set[i], DEPS_UNSEEN);
                if (r < 0 && r != -EEXIST)
                        goto out;
        }
        /* Depth first, each service placed after everything it reaches in
         * the set; the graph has no cycles (the config check refuses them),
         * and each service is pushed once, so the stack holds at most n. */
        for (size_t i = 0; i < n; i++) {
                size_t top = 0;

                if (intmap_get(mark, (uintptr_t)set[i]) != DEPS_UNSEEN)
                        continue;
                (void)intmap_remove(mark, (uintptr_t)set[i]);
                (void)intmap_put(mark, (uintptr_t)set[i], DEPS_SEEN);
                stack[top++] = (typeof(*stack)){ set[i], 0 };
                while (top > 0) {
                        struct service *s = stack[top - 1].s, *to;
                        size_t edges_out = dependents_first ? s->n_dependents : s->n_deps;

                        if (stack[top - 1].k == edges_out) {
                                order[n_order++] = s;
                                top--;
                                continue;
                        }
                        to = deps_next(s, stack[top - 1].k++, dependents_first);
                        if (intmap_get(mark, (uintptr_t)to) != DEPS_UNSEEN)
                                continue;
                        (void)intmap_remove(mark, (uintptr_t)to);
                        (void)intmap_put(mark, (uintptr_t)to, DEPS_SEEN);
                        stack[top++] = (typeof(*stack)){ to, 0 };
                }
        }
        memcpy(set, order, n_order * sizeof *order);
        r = 0;
out:
        intmap_free(mark);
        free(order);
        free(stack);
        return r;
}
