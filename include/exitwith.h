/* exitwith.h: tendd as a container's main program. When the service named by
 * tendd --exit-with, else by [tend] exit_with (read at each event, so a reload
 * that changes the key is followed), ends for good, every service is stopped
 * and tendd exits with that service's status, as tini and s6-overlay exit with
 * their main program's: its exit code, or 128+N when signal N killed it.
 *
 * Ends for good: it enters stopped or failed while still wanted up and not
 * waiting for its dependencies, that is, its main process exited on its own
 * and the restart policy will not start it again (an exit it does not restart,
 * restart = never, the start limit), or it could not be started (status 1:
 * no process exited). Not an operator's stop (tendctl stop/restart; signal
 * tendd to end it), not a stop because a requirement went down (it comes back
 * with it), not tendd's own shutdown (SIGTERM still exits 0).
 *
 * A manager listener: the manager knows nothing of it. The shutdown runs from
 * the loop, never inside the service's transition. */
#pragma once

#include "manager.h"

struct exitwith;

/* Listen to m's services; name (borrowed, may be NULL) overrides the config's
 * exit_with. -ENOMEM, or manager_listen()'s error. */
int exitwith_new(struct manager *m, const char *name, struct exitwith **ret);
/* Stop listening and free; NULL-safe, returns NULL. */
struct exitwith *exitwith_free(struct exitwith *e);

/* The status tendd exits with (0-255) once the service ended, else -1. */
int exitwith_status(const struct exitwith *e);

/* The status a service's last exit gives: its code, 128+N for signal N, 1
 * when none is known. */
int exitwith_status_of(const struct service *s);
