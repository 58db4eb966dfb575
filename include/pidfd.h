/* pidfd.h: what a pidfd can tell about its process, for code that must not
 * trust pid numbers: the pid it refers to now, its session, and (after it was
 * reaped by whoever its parent is) its wait status. */
#pragma once

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* The pid (in our namespace) of the process behind pidfd: > 0, or -ESRCH once
 * it has been reaped. PIDFD_GET_INFO (6.13), falling back to fdinfo. */
int pidfd_get_pid(int pidfd, pid_t *ret);

/* The wait status of a reaped process we are not the parent of, as waitid
 * would have reported it (PIDFD_INFO_EXIT, 6.15). -ENODATA if not available. */
int pidfd_exit_status(int pidfd, siginfo_t *ret);

/* Session id of a live process, from /proc. Only meaningful while the caller
 * holds a pidfd for it that still resolves to pid afterwards. */
int proc_session_of(pid_t pid, pid_t *ret);

/* Session id of the process behind pidfd, verified against pid reuse: the
 * pidfd is re-checked after /proc was read. */
int pidfd_session(int pidfd, pid_t *ret_pid, pid_t *ret_sid);

/* Process group of the process behind pidfd, verified the same way. */
int pidfd_process_group(int pidfd, pid_t *ret_pgrp);

/* Who a process is, beyond its number: the pidfs inode of a pidfd for it
 * (st_ino, st_dev: a new inode per process on kernels with pidfs, 6.9) and
 * its start time (/proc/PID/stat field 22). A pid seen again later is the
 * same process only if all of them match. */
struct pidfd_id {
        pid_t pid;
        uint64_t ino, dev, start;
};
/* The identity of the live process behind pidfd; -ESRCH once it exited and
 * was reaped (or while /proc was read). */
int pidfd_identity(int pidfd, struct pidfd_id *ret);
