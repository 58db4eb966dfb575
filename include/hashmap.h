/* hashmap.h: a string-keyed open hash map (chaining) for services by name.
 * Keys are borrowed: the value owns the key string. O(1) lookup, insert, remove. */
#pragma once

#include <stddef.h>

struct hashmap;

struct hashmap *hashmap_new(void);
struct hashmap *hashmap_free(struct hashmap *h);
/* -EEXIST if the key is present, -ENOMEM. */
int hashmap_put(struct hashmap *h, const char *key, void *value);
void *hashmap_get(const struct hashmap *h, const char *key);
/* Returns the removed value or NULL. */
void *hashmap_remove(struct hashmap *h, const char *key);
size_t hashmap_size(const struct hashmap *h);
