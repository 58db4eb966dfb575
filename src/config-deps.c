/* config-deps.c: the checks of after= and requires= across services: every
 * name must be a service file of the directory, and the graph of the loaded
 * services (graph.h) must have no cycle. Each problem is reported at the
 * file:line of the key, a cycle once with its path and the file:line of
 * every edge. */
#include <stdio.h>

#include "config-deps.h"
#include "graph.h"

/* Hops of a cycle shown in its message; the rest are counted. */
#define CONFIG_DEPS_CYCLE_SHOWN 16

static int config_deps_name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True if the n sorted names hold name. */
static bool config_deps_name_known(char *const *names, size_t n, const char *name)
{
        return n > 0 && bsearch(&name, names, n, sizeof *names, config_deps_name_cmp);
}

/* Report every after/requires name that is not one of the n sorted names. */
static void config_deps_check_names(struct config_load_ctx *l, const struct config *c,
                                    char *const *names, size_t n_names)
{
        for (size_t i = 0; i < c->n_services; i++) {
                const struct service_config *sc = c->services[i];

                for (int which = 0; which < 2; which++)
                        for (char *const *d = which == 0 ? sc->after : sc->requires; d && *d; d++) {
                                if (config_deps_name_known(names, n_names, *d))
                                        continue;
                                config_errorf(l, "%s/%s.ini:%u: %s: unknown service '%s'",
                                              l->services_display, sc->name,
                                              which == 0 ? sc->after_line : sc->requires_line,
                                              which == 0 ? "after" : "requires", *d);
                        }
        }
}

/* The key an edge was written with: after= when it is in both, as the walk
 * (after= first) follows it that way. */
static const char *config_deps_key(const struct graph_edge *e)
{
        return e->kind & DEP_AFTER ? "after" : "requires";
}

static unsigned config_deps_line(const struct service_config *sc, const struct graph_edge *e)
{
        return e->kind & DEP_AFTER ? sc->after_line : sc->requires_line;
}

struct config_deps_cycles {
        struct config_load_ctx *l;
        const struct config *c;
};

/* Write the cycle's path ("a -> b -> ... -> a") to p and its edges
 * ("dir/a.ini:3 after, ...") to e, at most CONFIG_DEPS_CYCLE_SHOWN hops. */
static void config_deps_write_cycle(const struct config_deps_cycles *x,
                                    const struct graph_edge *const *path, size_t hops, FILE *p,
                                    FILE *e)
{
        size_t shown = hops > CONFIG_DEPS_CYCLE_SHOWN ? CONFIG_DEPS_CYCLE_SHOWN - 1 : hops;

        for (size_t i = 0; i < shown; i++) {
                const struct service_config *sc = x->c->services[path[i]->from];

                fprintf(p, "%s -> ", sc->name);
                fprintf(e, "%s%s/%s.ini:%u %s", i > 0 ? ", " : "", x->l->services_display, sc->name,
                        config_deps_line(sc, path[i]), config_deps_key(path[i]));
        }
        if (shown < hops) {
                fprintf(p, "... (%zu more) -> ", hops - shown);
                fprintf(e, ", ... (%zu more)", hops - shown);
        }
        fprintf(p, "%s", x->c->services[path[hops - 1]->to]->name);
}

/* graph_find_cycles() callback: report the cycle at its closing edge. */
static void config_deps_cycle(const struct graph_edge *const *path, size_t hops, void *userdata)
{
        const struct config_deps_cycles *x = userdata;
        const struct graph_edge *last = path[hops - 1];
        const struct service_config *from = x->c->services[last->from];
        _cleanup_free_ char *text = NULL, *where = NULL;
        size_t text_len = 0, where_len = 0;
        FILE *p, *e;

        if (config_errors_full(x->l)) {
                x->l->n_more++;
                return;
        }
        p = open_memstream(&text, &text_len);
        e = p ? open_memstream(&where, &where_len) : NULL;
        if (!e) {
                if (p)
                        (void)fclose(p);
                x->l->oom = true;
                return;
        }
        config_deps_write_cycle(x, path, hops, p, e);
        if ((fclose(p) | fclose(e)) != 0 || !text || !where) {
                x->l->oom = true;
                return;
        }
        config_errorf(x->l, "%s/%s.ini:%u: %s: dependency cycle %s (%s)", x->l->services_display,
                      from->name, config_deps_line(from, last), config_deps_key(last), text, where);
}

static size_t config_deps_lookup(const char *name, void *userdata)
{
        return config_index(userdata, name);
}

/* See config-deps.h. */
int config_deps_check(struct config_load_ctx *l, const struct config *c, char *const *names,
                      size_t n_names)
{
        struct config_deps_cycles x = { l, c };
        struct graph g;
        int r;

        config_deps_check_names(l, c, names, n_names);
        r = graph_build(&g, (const struct service_config *const *)c->services, c->n_services,
                        config_deps_lookup, NULL, (void *)c);
        if (r < 0)
                return r;
        r = graph_find_cycles(&g, config_deps_cycle, &x);
        graph_done(&g);
        if (r >= 0 && l->oom)
                r = -ENOMEM;
        return r;
}
