/* sdnotify.h: tendd telling systemd how it is (sd_notify protocol on
 * $NOTIFY_SOCKET; everything here is a no-op without it).
 *
 *   READY=1      once, after manager_start(), when every enabled service has
 *                settled: running; failed; backoff (it was started and will be
 *                retried: a crash loop must not hold up the unit forever);
 *                stopped after an exit (a oneshot that completed) or because
 *                it is no longer wanted. starting, stopping and "stopped,
 *                never ran yet" (e.g. waiting for a dependency) are not
 *                settled.
 *   STATUS=      "N services: R running, F failed, ..." whenever the counts
 *                change (coalesced: sent once per loop iteration at most).
 *   RELOADING=1  + MONOTONIC_USEC= before a reload, READY=1 after it (also
 *                after a rejected one: the old config keeps running). The
 *                same around a re-execution of tendd: RELOADING=1 from the
 *                old image (sdnotify_reloading), READY=1 from the new one as
 *                soon as it started (sdnotify_started after
 *                sdnotify_state_get). NOTIFY_SOCKET stays in tendd's
 *                environment (tendd never unsets it), so the new image
 *                finds it; its watchdog timer starts afresh.
 *   STOPPING=1   when shutdown begins.
 *   FDSTORE=1    with FDNAME=, FDPOLL=0 and an fd, FDSTOREREMOVE=1 with FDNAME=: the
 *                backend of fdstore.h under systemd, when $FDSTORE is more
 *                than 0 (set by systemd 254+ from FileDescriptorStoreMax=,
 *                by tend.service for older ones). A tendd that systemd
 *                restarted after a crash gets them back (LISTEN_FDS).
 *   WATCHDOG=1   every half WATCHDOG_USEC, from an ev_timer: only a loop that
 *                runs its timers pings.
 * Datagrams go out on a non-blocking socket: a receiver that does not read
 * costs a dropped message (logged once), never a blocked loop. */
#pragma once

#include <stdbool.h>

#include "util.h"

struct manager;
struct sdnotify;
struct state_reader;
struct state_writer;

/* NULL in *ret (and 0) when NOTIFY_SOCKET is unset. Listens to m until freed. */
int sdnotify_new(struct manager *m, struct sdnotify **ret);
struct sdnotify *sdnotify_free(struct sdnotify *n);

/* The manager started every enabled service; READY=1 may follow. Changes
 * of state, reloads and shutdown it hears as a listener of the manager. */
void sdnotify_started(struct sdnotify *n);

/* RELOADING=1 with MONOTONIC_USEC= (systemd 253 wants it; older ones ignore
 * it), if READY=1 was sent: systemd knows reloads of a ready unit only. The
 * manager's reload phase sends it; tendd before it re-executes. NULL-safe. */
void sdnotify_reloading(struct sdnotify *n);
/* What sdnotify_reloading() began is over (a reload done, a re-exec that
 * failed): READY=1 again, once the first one was sent. */
void sdnotify_reloaded(struct sdnotify *n);

/* Put into w under tag whether READY=1 was sent (n NULL: nothing put). */
int sdnotify_state_put(const struct sdnotify *n, struct state_writer *w, uint16_t tag);
/* From v (what sdnotify_state_put wrote): if the image before had sent
 * READY=1, sdnotify_started() sends it again at once (ending the
 * RELOADING=1), else it waits for every service to settle as at a first
 * start. n NULL: 0, nothing to do. -EBADMSG for a malformed value. */
int sdnotify_state_get(struct sdnotify *n, const struct state_reader *v);

/* Whether systemd's fd store is there for tendd ($FDSTORE > 0). */
bool sdnotify_fdstore_enabled(const struct sdnotify *n);
/* How many fds it takes ($FDSTORE: FileDescriptorStoreMax=). */
size_t sdnotify_fdstore_capacity(const struct sdnotify *n);
/* fdstore.h's backend (userdata: the struct sdnotify): park fd under name
 * (FDSTOREREMOVE=1 of what name had, then FDSTORE=1), unpark name. */
int sdnotify_fdstore_park(void *userdata, const char *name, int fd);
int sdnotify_fdstore_unpark(void *userdata, const char *name);

/* Send msg with fds (at most 4) as SCM_RIGHTS; -errno. */
int sdnotify_send_fds(struct sdnotify *n, const char *msg, const int *fds, size_t n_fds);

/* Send one message now ("KEY=VALUE\n..."); -errno. For the above and tests. */
int sdnotify_send(struct sdnotify *n, const char *msg);
