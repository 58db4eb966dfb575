/* list.h: an intrusive, circular, doubly-linked list (the Linux kernel's
 * list.h, smaller). A struct list_head is both the list's head, kept by the
 * owner, and the link embedded in each element; an element is recovered from
 * its link with list_entry(). An empty list is a head pointing at itself:
 * initialize every head with list_init() before use. O(1) insertion at
 * either end and removal of any element; nothing is allocated. */
#pragma once

#include <stdbool.h>

#include "util.h"

struct list_head {
        struct list_head *next, *prev;
};

static inline void list_init(struct list_head *head)
{
        head->next = head->prev = head;
}

static inline bool list_empty(const struct list_head *head)
{
        return head->next == head;
}

static inline void list_insert_between(struct list_head *item, struct list_head *prev,
                                       struct list_head *next)
{
        item->prev = prev;
        item->next = next;
        prev->next = item;
        next->prev = item;
}

/* Insert item first (newest first when used for every insertion). */
static inline void list_add(struct list_head *item, struct list_head *head)
{
        list_insert_between(item, head, head->next);
}

/* Insert item last. */
static inline void list_add_tail(struct list_head *item, struct list_head *head)
{
        list_insert_between(item, head->prev, head);
}

/* Unlink item from whatever list holds it; item is left pointing at itself. */
static inline void list_del(struct list_head *item)
{
        item->prev->next = item->next;
        item->next->prev = item->prev;
        list_init(item);
}

/* The element of type whose link member is ptr. */
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)
#define list_last_entry(head, type, member) list_entry((head)->prev, type, member)

/* Walk the elements first to last; pos must not be removed. */
#define list_for_each_entry(pos, head, member)                                                     \
        for (pos = list_entry((head)->next, __typeof__(*pos), member); &pos->member != (head);   \
             pos = list_entry(pos->member.next, __typeof__(*pos), member))

/* The same, where the body may remove pos (n holds the next one). */
#define list_for_each_entry_safe(pos, n, head, member)                                             \
        for (pos = list_entry((head)->next, __typeof__(*pos), member),                            \
            n = list_entry(pos->member.next, __typeof__(*pos), member);                           \
             &pos->member != (head);                                                               \
             pos = n, n = list_entry(n->member.next, __typeof__(*n), member))
