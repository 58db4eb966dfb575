/* cgroup.h: tend's cgroup v2 subtree and one child cgroup per service.
 *
 * The subtree is the directory [tend] cgroup names (under a cgroup2 mount;
 * made if missing), or else tendd's own cgroup when tendd may write to it
 * (systemd's Delegate=yes). tendd moves itself into the leaf
 * SUBTREE/supervisor: cgroup v2 keeps processes out of a cgroup whose
 * children get controllers. A service's cgroup is SUBTREE/NAME.service, made
 * before its first spawn and kept across restarts (nothing on the restart
 * path but one read of cgroup.events), removed once the service is stopped
 * for good or removed. Children are spawned straight into it
 * (CLONE_INTO_CGROUP with the directory's fd). Never logs: functions return
 * -errno, and the finder says why in words. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Where a cgroup lives: the files, through dfd. */
struct cgroup_tree {
        int dfd;    /* the subtree's directory, O_RDONLY */
        char *path; /* absolute, for messages and inotify */
        char *rel;  /* the same below the cgroup2 mount, as /proc/PID/cgroup shows it */
};

/* Open the subtree: configured (an absolute path under a cgroup2 mount, its
 * last component made if missing), or NULL for tendd's own cgroup if it is
 * not the root and tendd may write to it. -errno with the reason in why
 * (e.g. "no cgroup2 mount", "tendd's cgroup / is not delegated to it"). */
int cgroup_tree_open(const char *configured, struct cgroup_tree **ret, char *why, size_t why_len);
/* Move tendd into SUBTREE/supervisor. */
int cgroup_tree_enter(struct cgroup_tree *t);
struct cgroup_tree *cgroup_tree_free(struct cgroup_tree *t);

/* Read a cgroup file of dfd (at most size - 1 bytes) into buf as a string;
 * its length, or -errno. One read() for what fits with room to spare:
 * cgroupfs fills a read as far as whole lines fit. */
ssize_t cgroup_read(int dfd, const char *file, char *buf, size_t size);

/* Make (if missing) and open NAME.service: its directory fd in *ret_dfd
 * (O_RDONLY|O_DIRECTORY|O_CLOEXEC), for CLONE_INTO_CGROUP and the calls below. */
int cgroup_unit_open(const struct cgroup_tree *t, const char *name, int *ret_dfd);
/* Remove NAME.service; -EBUSY while a process is in it. */
int cgroup_unit_remove(const struct cgroup_tree *t, const char *name);

/* 1 if a process is in the unit (cgroup.events "populated 1"), 0 if not. */
int cgroup_unit_populated(int dfd);
/* Watch NAME.service's cgroup.events (IN_MODIFY: populated changed) on
 * inotify fd ino: the watch descriptor, or -errno. */
int cgroup_unit_watch(const struct cgroup_tree *t, const char *name, int ino);

/* Send sig to every process in NAME.service: SIGKILL through cgroup.kill
 * (the kernel kills the whole tree, forks in flight included); any other
 * signal process by process, each through a pidfd opened and checked to be
 * in the unit still, so a reused pid is never signalled; main (with its
 * pidfd main_pidfd, or main 0) is one the caller holds a pidfd of already,
 * signalled through it without a check. 1: main was among them; 0: others
 * were (or SIGKILL went through cgroup.kill); -ESRCH: no process was there. */
int cgroup_unit_signal(const struct cgroup_tree *t, const char *name, int dfd, int sig,
                       pid_t main, int main_pidfd);
