/* intmap.c: integer keys, linear probing, deletion by backward shift (no
 * tombstones, so a map that churns through pids stays short). */
#include <errno.h>
#include <stdlib.h>

#include "intmap.h"

struct intmap_slot {
        uint64_t key;
        void *value; /* NULL: empty */
};

struct intmap {
        struct intmap_slot *slots;
        size_t cap; /* power of two */
        size_t size;
};

static size_t intmap_home(const struct intmap *m, uint64_t key)
{
        return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & (m->cap - 1);
}

struct intmap *intmap_new(void)
{
        struct intmap *m = calloc(1, sizeof *m);

        if (!m)
                return NULL;
        m->cap = 16;
        m->slots = calloc(m->cap, sizeof *m->slots);
        if (!m->slots) {
                free(m);
                return NULL;
        }
        return m;
}

struct intmap *intmap_free(struct intmap *m)
{
        if (m) {
                free(m->slots);
                free(m);
        }
        return NULL;
}

/* The slot holding key, or the empty slot where it would go. */
static struct intmap_slot *intmap_find(const struct intmap *m, uint64_t key)
{
        size_t i = intmap_home(m, key);

        while (m->slots[i].value && m->slots[i].key != key)
                i = (i + 1) & (m->cap - 1);
        return &m->slots[i];
}

static int intmap_grow(struct intmap *m)
{
        struct intmap old = *m;

        m->cap = old.cap * 2;
        m->slots = calloc(m->cap, sizeof *m->slots);
        if (!m->slots) {
                *m = old;
                return -ENOMEM;
        }
        for (size_t i = 0; i < old.cap; i++)
                if (old.slots[i].value)
                        *intmap_find(m, old.slots[i].key) = old.slots[i];
        free(old.slots);
        return 0;
}

int intmap_put(struct intmap *m, uint64_t key, void *value)
{
        struct intmap_slot *slot;

        if (!value)
                return -EINVAL;
        if ((m->size + 1) * 4 > m->cap * 3 && intmap_grow(m) < 0)
                return -ENOMEM;
        slot = intmap_find(m, key);
        if (slot->value)
                return -EEXIST;
        *slot = (struct intmap_slot){ key, value };
        m->size++;
        return 0;
}

void *intmap_get(const struct intmap *m, uint64_t key)
{
        return intmap_find(m, key)->value;
}

/* Is the slot at k, whose key belongs at home, out of place for a hole at
 * i, that is: is home not cyclically within (i, k]? */
static int intmap_movable(size_t home, size_t i, size_t k)
{
        return i <= k ? (home <= i || home > k) : (home <= i && home > k);
}

void *intmap_remove(struct intmap *m, uint64_t key)
{
        struct intmap_slot *slot = intmap_find(m, key);
        size_t i = (size_t)(slot - m->slots), k = i;
        void *value = slot->value;

        if (!value)
                return NULL;
        /* Shift later members of the run back into the hole until a slot
         * that is empty or already home ends the run. */
        for (;;) {
                k = (k + 1) & (m->cap - 1);
                if (!m->slots[k].value)
                        break;
                if (intmap_movable(intmap_home(m, m->slots[k].key), i, k)) {
                        m->slots[i] = m->slots[k];
                        i = k;
                }
        }
        m->slots[i] = (struct intmap_slot){ 0 };
        m->size--;
        return value;
}

size_t intmap_size(const struct intmap *m)
{
        return m->size;
}
