/* hashmap.c: string keys, chained buckets, FNV-1a, grows at load factor 1. */
#include "hashmap.h"
#include "util.h"

struct hashmap_entry {
        const char *key;
        void *value;
        struct hashmap_entry *next;
};

struct hashmap {
        struct hashmap_entry **buckets;
        size_t n_buckets; /* power of two */
        size_t size;
};

static uint64_t hashmap_hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL;

        for (; *s; s++) {
                h ^= (unsigned char)*s;
                h *= 1099511628211ULL;
        }
        return h;
}

/* A new empty map, or NULL on OOM. */
struct hashmap *hashmap_new(void)
{
        struct hashmap *h = calloc(1, sizeof *h);

        if (!h)
                return NULL;
        h->n_buckets = 16;
        h->buckets = calloc(h->n_buckets, sizeof *h->buckets);
        if (!h->buckets) {
                free(h);
                return NULL;
        }
        return h;
}

/* Free the map (not the values); NULL-safe; returns NULL. */
struct hashmap *hashmap_free(struct hashmap *h)
{
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_buckets; i++) {
                struct hashmap_entry *e = h->buckets[i];
                while (e) {
                        struct hashmap_entry *next = e->next;
                        free(e);
                        e = next;
                }
        }
        free(h->buckets);
        free(h);
        return NULL;
}

static int hashmap_grow(struct hashmap *h)
{
        size_t n = h->n_buckets * 2;
        struct hashmap_entry **b = calloc(n, sizeof *b);

        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < h->n_buckets; i++) {
                struct hashmap_entry *e = h->buckets[i];
                while (e) {
                        struct hashmap_entry *next = e->next;
                        size_t k = hashmap_hash(e->key) & (n - 1);
                        e->next = b[k];
                        b[k] = e;
                        e = next;
                }
        }
        free(h->buckets);
        h->buckets = b;
        h->n_buckets = n;
        return 0;
}

static struct hashmap_entry **hashmap_slot(const struct hashmap *h, const char *key)
{
        struct hashmap_entry **p = &h->buckets[hashmap_hash(key) & (h->n_buckets - 1)];

        while (*p && strcmp((*p)->key, key) != 0)
                p = &(*p)->next;
        return p;
}

/* Insert key → value; -EEXIST if key is present. */
int hashmap_put(struct hashmap *h, const char *key, void *value)
{
        struct hashmap_entry **p, *e;

        if (*hashmap_slot(h, key))
                return -EEXIST;
        if (h->size >= h->n_buckets)
                (void)hashmap_grow(h); /* a full table still works, only slower */
        e = malloc(sizeof *e);
        if (!e)
                return -ENOMEM;
        p = &h->buckets[hashmap_hash(key) & (h->n_buckets - 1)];
        *e = (struct hashmap_entry){ .key = key, .value = value, .next = *p };
        *p = e;
        h->size++;
        return 0;
}

/* The value for key, or NULL. */
void *hashmap_get(const struct hashmap *h, const char *key)
{
        struct hashmap_entry *e = *hashmap_slot(h, key);

        return e ? e->value : NULL;
}

/* Remove key; returns its value or NULL. */
void *hashmap_remove(struct hashmap *h, const char *key)
{
        struct hashmap_entry **p = hashmap_slot(h, key), *e = *p;
        void *v;

        if (!e)
                return NULL;
        v = e->value;
        *p = e->next;
        free(e);
        h->size--;
        return v;
}

/* Number of entries. */
size_t hashmap_size(const struct hashmap *h)
{
        return h->size;
}
