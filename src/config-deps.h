/* config-deps.h: the dependency check across a config's services
 * (config-deps.c), over graph.h's edges. */
#pragma once

#include "config-load.h"

/* Every after/requires name of c's services must be one of the n_names
 * sorted names (the service files found, loaded or not); the graph of the
 * loaded ones must be acyclic. Reports each problem; -ENOMEM, else 0. */
int config_deps_check(struct config_load_ctx *l, const struct config *c, char *const *names,
                      size_t n_names);
