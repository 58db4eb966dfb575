/* sys.c: the real system calls behind the state machine's seam. */
#include <sys/syscall.h>
#include <sys/wait.h>

#include "sys.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP (1U << 2)
#endif

/* Signal the process behind pidfd, or the process group it leads (kernel ≥
 * 6.9; older kernels reject the flag with EINVAL and we fall back to the
 * process alone). -ESRCH is passed on: for a process it means it was reaped,
 * for a group that no process is in it any more; the caller decides. */
int sys_pidfd_send_signal(int pidfd, int sig, bool group)
{
        static bool group_unsupported;

        if (group && !group_unsupported) {
                if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, PIDFD_SIGNAL_PROCESS_GROUP) == 0)
                        return 0;
                if (errno != EINVAL)
                        return -errno;
                group_unsupported = true;
        }
        if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0)
                return 0;
        return -errno;
}

/* Reap exactly the child behind pidfd if it has exited: 1 reaped, 0 running.
 * __WALL: a child that failed before its exec exits with no signal (see
 * spawn.c), the others with SIGCHLD; both are reaped here. */
int sys_reap(int pidfd, siginfo_t *ret)
{
        siginfo_t si = { 0 };

        if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG | __WALL) < 0)
                return -errno;
        if (si.si_pid == 0)
                return 0;
        *ret = si;
        return 1;
}

const struct sys_ops sys_real = {
        .spawn = spawn_child,
        .pidfd_signal = sys_pidfd_send_signal,
        .reap = sys_reap,
        .now = now_monotonic,
};

const struct sys_ops *sys = &sys_real;

/* Install ops (tests); NULL restores the real calls. */
void sys_set(const struct sys_ops *ops)
{
        sys = ops ? ops : &sys_real;
}
