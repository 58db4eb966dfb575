/* config-deps.h: the dependency check across a config's services
 * (config-deps.c), over graph.h's edges. */
#pragma once

#include "config-load.h"

/* The graph of c's loaded services must be acyclic (that each after/requires
 * name is a service is checked as the files are parsed). Reports each cycle;
 * -ENOMEM, else 0. */
int config_deps_check(struct config_load_ctx *l, const struct config *c);
