/* intmap.h: integer keys (pids, session ids) to non-NULL pointers; open
 * addressing with linear probing, grows at 3/4 full. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct intmap;

/* A new empty map, or NULL on OOM. */
struct intmap *intmap_new(void);
struct intmap *intmap_free(struct intmap *m);

/* Add key -> value (value must not be NULL): 0, -EEXIST (key present,
 * unchanged) or -ENOMEM. */
int intmap_put(struct intmap *m, uint64_t key, void *value);
/* The value of key, or NULL. */
void *intmap_get(const struct intmap *m, uint64_t key);
/* Remove key; its value, or NULL if it was not there. */
void *intmap_remove(struct intmap *m, uint64_t key);
size_t intmap_size(const struct intmap *m);
