/* graph.h: the dependency graph of a set of services, after=, requires= and
 * wants= names resolved into edges once per load, and its cycles. Nodes are the
 * positions of the services' configs in the array given; the graph knows no
 * service objects, so the config check and the running set share it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* What one edge means; a name in both lists is one edge with both bits. */
enum dep_kind {
        DEP_AFTER = 1u << 0,    /* start once the other is ready, stop before it */
        DEP_REQUIRES = 1u << 1, /* ...and start it too, stop when it goes down */
        DEP_WANTS = 1u << 2,    /* start it too, and after it while it comes up; never
                                 * blocked, failed or stopped by it */
};

/* from depends on to. */
struct graph_edge {
        uint32_t from, to;
        uint8_t kind; /* enum dep_kind bits */
};

struct graph {
        size_t n;                 /* nodes */
        struct graph_edge *edges; /* by from; within one, after= order, then requires=,
                                   * then wants= */
        size_t n_edges;
        size_t *first; /* edges of node i: [first[i], first[i + 1]); n + 1 entries */
};

/* The node called name, or SIZE_MAX. */
typedef size_t (*graph_lookup_fn)(const char *name, void *userdata);
/* A name in node from's list kind (one bit) that lookup does not know. */
typedef void (*graph_unknown_fn)(size_t from, enum dep_kind kind, const char *name, void *userdata);

/* Resolve the after=, requires= and wants= names of configs[0..n) through lookup
 * into g (left empty on failure). unknown (may be NULL) hears of each name
 * lookup does not find; such names make no edge. -ENOMEM, -E2BIG (more than
 * UINT32_MAX nodes). */
int graph_build(struct graph *g, const struct service_config *const *configs, size_t n,
                graph_lookup_fn lookup, graph_unknown_fn unknown, void *userdata);
void graph_done(struct graph *g);

/* Called for each edge that closes a cycle, with the cycle as the edges
 * path[0..hops) from the node the closing edge returns to; path[hops - 1]
 * is the closing edge. */
typedef void (*graph_cycle_fn)(const struct graph_edge *const *path, size_t hops, void *userdata);

/* Walk every edge once, depth first with a stack of its own (a chain of
 * 100,000 services takes no C frames), calling cb for each edge that closes
 * a cycle. 0, or -ENOMEM. */
int graph_find_cycles(const struct graph *g, graph_cycle_fn cb, void *userdata);
