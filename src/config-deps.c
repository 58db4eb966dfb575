/* config-deps.c: the checks of after=, requires= and wants= across services: every
 * name must be a service file of the directory, and the graph of the loaded
 * services (graph.h) must have no cycle. The names are checked as each
 * file is parsed (config-keys.c); a cycle is reported here, once, with its
 * path and the file:line of every edge: where its key was last set. */
#include <stdio.h>

#include "config-deps.h"
#include "graph.h"

/* Hops of a cycle shown in its message; the rest are counted. */
#define CONFIG_DEPS_CYCLE_SHOWN 16

/* The key an edge was written with: after= when it is in several, then
 * requires=, as the graph (after= first) makes it that way. */
static const char *config_deps_key(const struct graph_edge *e)
{
        return e->kind & DEP_AFTER ? "after" : e->kind & DEP_REQUIRES ? "requires" : "wants";
}

static unsigned config_deps_line(const struct service_config *sc, const struct graph_edge *e)
{
        return e->kind & DEP_AFTER      ? sc->after_line
               : e->kind & DEP_REQUIRES ? sc->requires_line
                                        : sc->wants_line;
}

/* The file that set the key of edge e, as shown; NULL when out of memory. */
static char *config_deps_file(const struct config_load_ctx *l, const struct config *c,
                              const struct service_config *sc, const struct graph_edge *e)
{
        unsigned i = e->kind & DEP_AFTER      ? sc->after_file
                     : e->kind & DEP_REQUIRES ? sc->requires_file
                                              : sc->wants_file;

        return config_display(l, c, i < strv_length(sc->files) ? sc->files[i] : sc->file);
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
                _cleanup_free_ char *file = config_deps_file(x->l, x->c, sc, path[i]);

                fprintf(p, "%s -> ", sc->name);
                fprintf(e, "%s%s:%u %s", i > 0 ? ", " : "", file ? file : sc->file,
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
        _cleanup_free_ char *text = NULL, *where = NULL, *file = NULL;
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
        file = config_deps_file(x->l, x->c, from, last);
        if (!file) {
                x->l->oom = true;
                return;
        }
        config_errorf(x->l, "%s:%u: %s: dependency cycle %s (%s)", file,
                      config_deps_line(from, last), config_deps_key(last), text, where);
}

static size_t config_deps_lookup(const char *name, void *userdata)
{
        return config_index(userdata, name);
}

/* See config-deps.h. */
int config_deps_check(struct config_load_ctx *l, const struct config *c)
{
        struct config_deps_cycles x = { l, c };
        struct graph g;
        int r;

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
