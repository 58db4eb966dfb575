/* config-state.h: a loaded configuration as state records (state.h), for
 * tendd's re-execution. Every field of struct config and struct
 * service_config has its own tag in one table (config-state.c), so a field
 * added later is one line there. A reader skips tags it does not know and
 * gives a field the state lacks the default config_load() gives it (the
 * key tables' defaults, through their own parsers); only what every loaded
 * config has is required: the config's path, a service's name, file, exec
 * and argv. What is read back is freed as a loaded one is
 * (config_free(), service_config_free()). */
#pragma once

#include <stdint.h>

#include "config.h"
#include "state.h"

/* c as one record of tag: its [tend] fields, then a nested record per
 * service (NULL entries, taken by the manager, are skipped). 0, or the
 * writer's error (state_writer_finish()). */
int config_state_put(struct state_writer *w, uint16_t tag, const struct config *c);
/* A new config from the value of such a record, its services in name order
 * as config_find() needs; -EBADMSG if it is malformed, lacks a required
 * field, or its services are not in strict name order; -ENOMEM. */
int config_state_get(const struct state_reader *v, struct config **ret);

/* One service config as one record of tag (a service keeps its own config
 * once the manager has taken it out of struct config). */
int config_state_put_service(struct state_writer *w, uint16_t tag, const struct service_config *sc);
/* A new service config from the value of such a record; errors as
 * config_state_get(). */
int config_state_get_service(const struct state_reader *v, struct service_config **ret);
