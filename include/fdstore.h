/* fdstore.h: what a tendd started after a crash of the previous one needs to
 * take the services over with nothing lost, parked outside tendd: for each
 * live service, the pidfd of its main process ("NAME.pidfd", or
 * "NAME.pidfd-starting" while it is starting: not ready yet, or a oneshot
 * that has not finished), the read end of its output pipe ("NAME.out", with
 * output = file or console) and of its ready_fd pipe while it waits on it
 * ("NAME.ready"). tendd parks its notify socket beside them (see tendd.c).
 * Where they are parked is a backend: systemd's fd store under systemd
 * (FDSTORE=1, sdnotify.h), the keeper otherwise (keeper.h).
 *
 * A listener of the manager keeps the store in line with the services: at
 * each change of state, what is parked for a service is compared with what
 * it has (the inodes of its fds, and whether it is starting) and parked
 * again or unparked where they differ, at once (a service spawned in the
 * iteration tendd dies in is in the store already). A service with no
 * process has nothing parked.
 *
 * At a start after a crash, the fds the backend hands back are offered
 * (fdstore_offer) and adopted (fdstore_adopt): a pidfd whose process still
 * runs makes its service running with it (starting, waiting for readiness
 * from now on, if it was parked as starting; service_adopt), its ready pipe
 * is read again, and its output pipe goes to the service's output, so what
 * the service wrote while no tendd ran is read from the pipe. A pidfd whose
 * process is gone is adopted too, and its exit status (PIDFD_INFO_EXIT) is
 * handled as soon as the loop runs: recorded, and the restart policy
 * followed. Anything else (a name that is not a service of the config, a
 * second fd of one kind, a service with a process already, a pipe without
 * its process) is closed and unparked. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct manager;
struct fdstore;

/* Where fds are parked: park replaces what name had. */
struct fdstore_backend {
        int (*park)(void *userdata, const char *name, int fd);
        int (*unpark)(void *userdata, const char *name);
        /* A park or unpark failed with -errno: the backend may reconnect
         * (then >= 0: everything is parked again) or give up (< 0: the
         * failure is logged once, the store stops). NULL: give up. */
        int (*failed)(void *userdata, int error);
        size_t capacity; /* fds it takes at most (warned about); 0: no limit */
        void *userdata;
};

#define FDSTORE_PIDFD_SUFFIX ".pidfd"
#define FDSTORE_STARTING_SUFFIX ".pidfd-starting" /* not ready yet, or a oneshot */
#define FDSTORE_OUT_SUFFIX ".out"
#define FDSTORE_READY_SUFFIX ".ready"

/* Keep m's services parked in b from now on (a listener of m). */
int fdstore_new(struct manager *m, const struct fdstore_backend *b, struct fdstore **ret);
struct fdstore *fdstore_free(struct fdstore *f);

/* An fd handed back under name (fd taken). */
void fdstore_offer(struct fdstore *f, const char *name, int fd);
/* Offer what systemd passed (LISTEN_FDS, LISTEN_FDNAMES: the variables are
 * unset); f NULL: close them. The number passed. */
size_t fdstore_offer_listen_fds(struct fdstore *f);
/* Take the fd offered under name out of the offers (tendd's own: its
 * notify socket); -1: none. */
int fdstore_claim(struct fdstore *f, const char *name);
/* Adopt what was offered (m's services are created, not yet started). The
 * number of services adopted. */
size_t fdstore_adopt(struct fdstore *f);

/* Park fd (borrowed: open while f lives) of tendd's own under name, now and
 * again whenever everything is parked again; at most FDSTORE_OWN_MAX. */
#define FDSTORE_OWN_MAX 4
int fdstore_keep(struct fdstore *f, const char *name, int fd);

/* Whether what is parked is what the services have (nothing failed). */
bool fdstore_in_step(const struct fdstore *f);
/* Note that what is parked is what every service has now, without sending
 * anything: after a re-exec from an image whose store was in step (the
 * fds are the same across execve). */
void fdstore_assume_parked(struct fdstore *f);

/* Park everything as it is now, forgetting what was parked before (after a
 * re-exec, or a backend that lost what it held or failed a call), and unpark
 * every name of a service that it does not use now (the store may still
 * hold it: a dead pidfd there would be adopted after a crash). */
void fdstore_sync(struct fdstore *f);
