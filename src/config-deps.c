/* config-deps.c: the checks of after= and requires= across services: every
 * name must be a service file of the directory, and the graph of the loaded
 * services must have no cycle. Each problem is reported at the file:line of
 * the key, a cycle once with its path and the file:line of every edge. */
#include <stdio.h>

#include "config-internal.h"

static int config_deps_name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True if the n sorted names hold name. */
static bool config_deps_name_known(char *const *names, size_t n, const char *name)
{
        return n > 0 && bsearch(&name, names, n, sizeof *names, config_deps_name_cmp);
}

/* Dependency edges of sc: after, then requires (which implies ordering). */
static char *const *config_deps_of(const struct service_config *sc, int which)
{
        return which == 0 ? sc->after : sc->requires;
}

/* A service on the walk's stack and the edge it is following. */
struct config_deps_frame {
        size_t v;
        int which;   /* 0 after, 1 requires */
        size_t next; /* index of the next edge in that list */
};

struct config_deps_walk {
        struct config_load_ctx *l;
        const struct config *c;
        unsigned char *color; /* 0 white, 1 on the stack, 2 done */
        size_t *pos;          /* where a service on the stack is in it */
        struct config_deps_frame *stack;
        size_t depth;
};

/* Hops of a cycle shown in its message; the rest are counted. */
#define CONFIG_DEPS_CYCLE_SHOWN 16

/* The stack from to's place up to the top, and the edge back to to, is a
 * cycle: report it at the top's edge, at most CONFIG_DEPS_CYCLE_SHOWN hops named. */
static void config_deps_report_cycle(struct config_deps_walk *w, size_t to)
{
        const struct config_deps_frame *top = &w->stack[w->depth - 1];
        const struct service_config *from = w->c->services[top->v];
        size_t start = w->pos[to], hops = w->depth - start;
        size_t shown = hops > CONFIG_DEPS_CYCLE_SHOWN ? CONFIG_DEPS_CYCLE_SHOWN - 1 : hops;
        _cleanup_free_ char *path = NULL, *where = NULL;
        size_t path_len = 0, where_len = 0;
        FILE *p, *e;

        if (config_errors_full(w->l)) {
                w->l->n_more++;
                return;
        }
        p = open_memstream(&path, &path_len);
        e = p ? open_memstream(&where, &where_len) : NULL;
        if (!e) {
                if (p)
                        (void)fclose(p);
                w->l->oom = true;
                return;
        }
        for (size_t i = start; i < start + shown; i++) {
                const struct config_deps_frame *fr = &w->stack[i];
                const struct service_config *sc = w->c->services[fr->v];

                fprintf(p, "%s -> ", sc->name);
                fprintf(e, "%s%s/%s.ini:%u %s", i > start ? ", " : "", w->l->services_display,
                        sc->name, fr->which ? sc->requires_line : sc->after_line,
                        fr->which ? "requires" : "after");
        }
        if (shown < hops) {
                fprintf(p, "... (%zu more) -> ", hops - shown);
                fprintf(e, ", ... (%zu more)", hops - shown);
        }
        fprintf(p, "%s", w->c->services[to]->name);
        if ((fclose(p) | fclose(e)) != 0 || !path || !where) {
                w->l->oom = true;
                return;
        }
        config_errorf(w->l, "%s/%s.ini:%u: %s: dependency cycle %s (%s)", w->l->services_display,
                      from->name, top->which ? from->requires_line : from->after_line,
                      top->which ? "requires" : "after", path, where);
}

/* Depth-first from root with a stack of our own: a chain of 100,000
 * services must not take as many C frames. Each edge is looked at once. */
static void config_deps_visit(struct config_deps_walk *w, size_t root)
{
        w->color[root] = 1;
        w->pos[root] = 0;
        w->stack[0] = (struct config_deps_frame){ root, 0, 0 };
        w->depth = 1;
        while (w->depth > 0 && !w->l->oom) {
                struct config_deps_frame *fr = &w->stack[w->depth - 1];
                char *const *d = config_deps_of(w->c->services[fr->v], fr->which);
                size_t u;

                if (!d || !d[fr->next]) {
                        if (fr->which == 0) {
                                fr->which = 1;
                                fr->next = 0;
                                continue;
                        }
                        w->color[fr->v] = 2;
                        w->depth--;
                        continue;
                }
                u = config_index(w->c, d[fr->next]);
                if (u == SIZE_MAX) {
                        fr->next++;
                        continue;
                }
                if (w->color[u] == 1)
                        config_deps_report_cycle(w, u);
                if (w->color[u] != 0) {
                        fr->next++;
                        continue;
                }
                /* Descend; fr->next still names this edge for a report. */
                w->color[u] = 1;
                w->pos[u] = w->depth;
                w->stack[w->depth++] = (struct config_deps_frame){ u, 0, 0 };
                fr->next++;
        }
}

/* Report every after/requires name that is not one of the n sorted names. */
static void config_deps_check_names(struct config_load_ctx *l, const struct config *c,
                                    char *const *names, size_t n_names)
{
        for (size_t i = 0; i < c->n_services; i++) {
                const struct service_config *sc = c->services[i];

                for (int which = 0; which < 2; which++)
                        for (char *const *d = config_deps_of(sc, which); d && *d; d++) {
                                if (config_deps_name_known(names, n_names, *d))
                                        continue;
                                config_errorf(l, "%s/%s.ini:%u: %s: unknown service '%s'",
                                              l->services_display, sc->name,
                                              which == 0 ? sc->after_line : sc->requires_line,
                                              which == 0 ? "after" : "requires", *d);
                        }
        }
}

/* Report every cycle among c's services. */
static void config_deps_check_cycles(struct config_load_ctx *l, const struct config *c)
{
        struct config_deps_walk w = { .l = l, .c = c };

        w.color = calloc(c->n_services + 1, 1);
        w.pos = calloc(c->n_services + 1, sizeof(size_t));
        w.stack = calloc(c->n_services + 1, sizeof(struct config_deps_frame));
        if (!w.color || !w.pos || !w.stack)
                l->oom = true;
        for (size_t i = 0; i < c->n_services && !l->oom; i++)
                if (w.color[i] == 0)
                        config_deps_visit(&w, i);
        free(w.color);
        free(w.pos);
        free(w.stack);
}

/* See config-internal.h. */
int config_deps_check(struct config_load_ctx *l, const struct config *c, char *const *names,
                      size_t n_names)
{
        config_deps_check_names(l, c, names, n_names);
        config_deps_check_cycles(l, c);
        return l->oom ? -ENOMEM : 0;
}
