/* deps.h: what dependencies allow, decided by walking the resolved edges
 * of services (struct service_dep, both directions). Decisions only: where
 * another service must be looked at again, the caller's queue function is
 * called, and the caller runs it later from its loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "service.h"

typedef void (*deps_queue_fn)(struct service *s, void *userdata);

/* Resolve the after= and requires= names of every service's newest config
 * (the one its next spawn uses) into edges. services[0..n) must be sorted
 * by name. All or nothing: -ENOMEM leaves every service's edges as they
 * were. Names no service has make no edge (the config check reports them). */
int deps_link(struct service *const *services, size_t n);

/* Dependencies of s (after and requires) not ready yet, as "waiting for a,
 * b" (or "requirement a failed") in buf; their number. *ret_failed: one of
 * them is required and failed. Services being removed do not count. */
size_t deps_unmet(const struct service *s, char *buf, size_t len, bool *ret_failed);

/* An operator's start of s: each required service not wanted up, or
 * failed, is marked pull_start and queued. */
void deps_pull_requirements(struct service *s, deps_queue_fn queue, void *userdata);

/* Live dependents of s that must be down before s stops, named in buf; their
 * number. Each is queued (one that requires s is then stopped by its
 * reconcile). shutting_down: every live dependent blocks. */
size_t deps_stop_blockers(const struct service *s, bool shutting_down, char *buf, size_t len,
                          deps_queue_fn queue, void *userdata);

/* A requirement of s that is not ready or is about to stop, or NULL. */
struct service *deps_requirement_down(const struct service *s);

/* Queue the services whose decisions may change when s changes state: its
 * dependents and its dependencies. */
void deps_queue_neighbours(const struct service *s, deps_queue_fn queue, void *userdata);

/* Order set[0..n) (distinct services) so that the edges among them are kept
 * by going through it from the start: dependents_first (a stop) puts every
 * service after those of the set that depend on it, else (a start) after
 * those it depends on; what the edges leave open keeps the order given.
 * -ENOMEM: set left as it was. */
int deps_order(struct service **set, size_t n, bool dependents_first);
