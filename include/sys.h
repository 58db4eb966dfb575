/* sys.h: the system-call seam under the service state machine. Production code
 * goes through sys_real; unit tests install fakes with sys_set() and drive every
 * (state, event) pair without real processes or sleeps. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "spawn.h"

struct sys_ops {
        /* spawn_child() contract. */
        int (*spawn)(const struct spawn_params *p, pid_t *ret_pid, int *ret_pidfd,
                     const char **ret_step);
        /* pidfd_send_signal; group: the process group led by the pidfd's process
         * (falls back to the process alone where the kernel lacks it). -ESRCH:
         * the process was reaped, or no process is left in the group. */
        int (*pidfd_signal)(int pidfd, int sig, bool group);
        /* waitid(P_PIDFD, WEXITED|WNOHANG): 1 and *ret filled when reaped, 0 when
         * still running, -errno. */
        int (*reap)(int pidfd, siginfo_t *ret);
        usec_t (*now)(void); /* monotonic */
};

extern const struct sys_ops sys_real;
extern const struct sys_ops *sys;
void sys_set(const struct sys_ops *ops);

int sys_pidfd_send_signal(int pidfd, int sig, bool group);
int sys_reap(int pidfd, siginfo_t *ret);
