/* graph.c: after=/requires=/wants= names resolved into edges, and cycles. */
#include <errno.h>
#include <stdlib.h>

#include "graph.h"
#include "util.h"

void graph_done(struct graph *g)
{
        free(g->edges);
        free(g->first);
        *g = (struct graph){ 0 };
}

/* The bits of the edge to name: every list of sc that names it. */
static uint8_t graph_kinds(const struct service_config *sc, const char *name)
{
        return (uint8_t)((strv_contains(sc->after, name) ? DEP_AFTER : 0) |
                         (strv_contains(sc->requires, name) ? DEP_REQUIRES : 0) |
                         (strv_contains(sc->wants, name) ? DEP_WANTS : 0));
}

/* Edges of one node: after= in order, then the requires= names not in
 * after=, then the wants= names in neither: one edge per name. */
static int graph_add_node(struct graph *g, size_t from, const struct service_config *sc,
                          graph_lookup_fn lookup, graph_unknown_fn unknown, void *userdata,
                          size_t *cap)
{
        for (unsigned pass = 0; pass < 3; pass++) {
                static const enum dep_kind kinds[] = { DEP_AFTER, DEP_REQUIRES, DEP_WANTS };
                enum dep_kind kind = kinds[pass];
                char *const *names = pass == 0 ? sc->after : pass == 1 ? sc->requires : sc->wants;

                for (; names && *names; names++) {
                        size_t to;

                        if (pass > 0 && strv_contains(sc->after, *names))
                                continue; /* made with every bit in the first pass */
                        if (pass > 1 && strv_contains(sc->requires, *names))
                                continue; /* ...or in the second */
                        to = lookup(*names, userdata);
                        if (to == SIZE_MAX) {
                                if (unknown)
                                        unknown(from, kind, *names, userdata);
                                continue;
                        }
                        if (g->n_edges == *cap) {
                                size_t nc = *cap ? *cap * 2 : 64;
                                struct graph_edge *e = realloc(g->edges, nc * sizeof *e);
                                if (!e)
                                        return -ENOMEM;
                                g->edges = e;
                                *cap = nc;
                        }
                        g->edges[g->n_edges++] = (struct graph_edge){
                                .from = (uint32_t)from,
                                .to = (uint32_t)to,
                                .kind = graph_kinds(sc, *names),
                        };
                }
        }
        return 0;
}

/* See graph.h. */
int graph_build(struct graph *g, const struct service_config *const *configs, size_t n,
                graph_lookup_fn lookup, graph_unknown_fn unknown, void *userdata)
{
        size_t cap = 0;
        int r;

        *g = (struct graph){ .n = n };
        if (n >= UINT32_MAX)
                return -E2BIG;
        g->first = calloc(n + 1, sizeof *g->first);
        if (!g->first)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                g->first[i] = g->n_edges;
                r = graph_add_node(g, i, configs[i], lookup, unknown, userdata, &cap);
                if (r < 0) {
                        graph_done(g);
                        return r;
                }
        }
        g->first[n] = g->n_edges;
        return 0;
}

/* A node on the walk's stack: the edge it follows next. */
struct graph_frame {
        size_t v, next; /* next: index into g->edges */
};

struct graph_walk {
        const struct graph *g;
        unsigned char *color; /* 0 not seen, 1 on the stack, 2 done */
        size_t *pos;          /* where a node on the stack is in it */
        struct graph_frame *stack;
        const struct graph_edge **path;
        size_t depth;
        graph_cycle_fn cb;
        void *userdata;
};

/* The stack from to's frame up, plus the edge being followed, is a cycle. */
static void graph_report(struct graph_walk *w, size_t to)
{
        size_t start = w->pos[to], hops = w->depth - start;

        for (size_t i = 0; i < hops; i++)
                w->path[i] = &w->g->edges[w->stack[start + i].next];
        w->cb(w->path, hops, w->userdata);
}

static void graph_visit(struct graph_walk *w, size_t root)
{
        const struct graph *g = w->g;

        w->color[root] = 1;
        w->pos[root] = 0;
        w->stack[0] = (struct graph_frame){ root, g->first[root] };
        w->depth = 1;
        while (w->depth > 0) {
                struct graph_frame *fr = &w->stack[w->depth - 1];
                size_t u;

                if (fr->next == g->first[fr->v + 1]) {
                        w->color[fr->v] = 2;
                        if (--w->depth > 0)
                                w->stack[w->depth - 1].next++; /* the edge that led here */
                        continue;
                }
                u = g->edges[fr->next].to;
                if (w->color[u] == 1)
                        graph_report(w, u);
                if (w->color[u] != 0) {
                        fr->next++;
                        continue;
                }
                /* Descend; the frame keeps naming the edge it follows until
                 * u is done, which is what a report shows. */
                w->color[u] = 1;
                w->pos[u] = w->depth;
                w->stack[w->depth++] = (struct graph_frame){ u, g->first[u] };
        }
}

/* See graph.h. */
int graph_find_cycles(const struct graph *g, graph_cycle_fn cb, void *userdata)
{
        struct graph_walk w = { .g = g, .cb = cb, .userdata = userdata };
        int r = 0;

        w.color = calloc(g->n + 1, 1);
        w.pos = calloc(g->n + 1, sizeof *w.pos);
        w.stack = calloc(g->n + 1, sizeof *w.stack);
        w.path = calloc(g->n + 1, sizeof *w.path);
        if (!w.color || !w.pos || !w.stack || !w.path)
                r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < g->n; i++)
                if (w.color[i] == 0)
                        graph_visit(&w, i);
        free(w.color);
        free(w.pos);
        free(w.stack);
        free(w.path);
        return r;
}
