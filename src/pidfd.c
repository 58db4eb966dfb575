/* pidfd.c: facts about a process read through its pidfd. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "pidfd.h"
#include "util.h"

/* Debian 12's headers predate PIDFD_GET_INFO (6.13) and PIDFD_INFO_EXIT (6.15). */
struct tend_pidfd_info {
        uint64_t mask;
        uint64_t cgroupid;
        uint32_t pid;
        uint32_t tgid;
        uint32_t ppid;
        uint32_t ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
        int32_t exit_code;
        uint32_t coredump_mask;
        uint32_t spare1;
};
#define TEND_PIDFD_GET_INFO _IOWR(0xFF, 11, struct tend_pidfd_info)
#define TEND_PIDFD_INFO_PID (1ULL << 0)
#define TEND_PIDFD_INFO_EXIT (1ULL << 3)

static int pidfd_fdinfo_pid(int pidfd, pid_t *ret)
{
        char path[64], line[256];
        FILE *f;
        int r = -ENOENT;

        (void)snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pidfd);
        f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, "Pid:", 4) == 0) {
                        long v = strtol(line + 4, NULL, 10);
                        r = v > 0 ? 0 : -ESRCH; /* -1: reaped; 0: another namespace */
                        *ret = (pid_t)v;
                        break;
                }
        (void)fclose(f);
        return r;
}

/* The pid behind pidfd, or -ESRCH once reaped. */
int pidfd_get_pid(int pidfd, pid_t *ret)
{
        struct tend_pidfd_info info = { .mask = TEND_PIDFD_INFO_PID };

        if (ioctl(pidfd, TEND_PIDFD_GET_INFO, &info) == 0) {
                *ret = (pid_t)info.pid;
                return info.pid > 0 ? 0 : -ESRCH;
        }
        if (errno == ESRCH)
                return -ESRCH;
        return pidfd_fdinfo_pid(pidfd, ret); /* kernel before 6.13 */
}

/* Exit status of a reaped process, for holders that are not its parent. */
int pidfd_exit_status(int pidfd, siginfo_t *ret)
{
        struct tend_pidfd_info info = { .mask = TEND_PIDFD_INFO_EXIT };

        if (ioctl(pidfd, TEND_PIDFD_GET_INFO, &info) < 0)
                return -errno;
        if (!(info.mask & TEND_PIDFD_INFO_EXIT))
                return -ENODATA;
        memset(ret, 0, sizeof *ret);
        if (WIFEXITED(info.exit_code)) {
                ret->si_code = CLD_EXITED;
                ret->si_status = WEXITSTATUS(info.exit_code);
        } else {
                ret->si_code = WCOREDUMP(info.exit_code) ? CLD_DUMPED : CLD_KILLED;
                ret->si_status = WTERMSIG(info.exit_code);
        }
        return 0;
}

/* /proc/PID/stat into buf: a pointer just past the comm's ')' (field 3
 * follows a blank), or NULL with *err (-ESRCH when pid is gone). */
static const char *proc_stat_fields(pid_t pid, char *buf, size_t size, int *err)
{
        char path[64];
        const char *p;
        ssize_t n;
        int fd;

        (void)snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                *err = errno == ENOENT ? -ESRCH : -errno;
                return NULL;
        }
        n = read(fd, buf, size - 1);
        *err = n < 0 ? -errno : -EIO;
        (void)close(fd);
        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        p = strrchr(buf, ')');
        return p ? p + 1 : NULL;
}

/* Process group and session of pid from /proc/PID/stat (fields 5 and 6,
 * after the comm's ')'). */
static int proc_ids_of(pid_t pid, pid_t *ret_pgrp, pid_t *ret_sid)
{
        char buf[512];
        const char *p;
        int pgrp, sid, err;
        char state;

        p = proc_stat_fields(pid, buf, sizeof buf, &err);
        if (!p)
                return err == -ESRCH ? -ENOENT : err;
        if (sscanf(p, " %c %*d %d %d", &state, &pgrp, &sid) != 3)
                return -EIO;
        if (ret_pgrp)
                *ret_pgrp = (pid_t)pgrp;
        if (ret_sid)
                *ret_sid = (pid_t)sid;
        return 0;
}

/* Session id of pid, from /proc. */
int proc_session_of(pid_t pid, pid_t *ret)
{
        return proc_ids_of(pid, NULL, ret);
}

/* Process group and session of the process behind pidfd; -ESRCH if it was
 * reaped before or while /proc was read. */
static int pidfd_ids(int pidfd, pid_t *ret_pid, pid_t *ret_pgrp, pid_t *ret_sid)
{
        pid_t pid, again;
        int r;

        r = pidfd_get_pid(pidfd, &pid);
        if (r < 0)
                return r;
        r = proc_ids_of(pid, ret_pgrp, ret_sid);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        /* Still the same process? Then /proc described it, not a successor. */
        r = pidfd_get_pid(pidfd, &again);
        if (r < 0 || again != pid)
                return -ESRCH;
        if (ret_pid)
                *ret_pid = pid;
        return 0;
}

/* Session of the process behind pidfd; fails if it was reaped meanwhile. */
int pidfd_session(int pidfd, pid_t *ret_pid, pid_t *ret_sid)
{
        return pidfd_ids(pidfd, ret_pid, NULL, ret_sid);
}

/* Process group of the process behind pidfd, verified like pidfd_session(). */
int pidfd_process_group(int pidfd, pid_t *ret_pgrp)
{
        return pidfd_ids(pidfd, NULL, ret_pgrp, NULL);
}

/* Field 22 of /proc/PID/stat (the start time, in clock ticks after boot):
 * with the pid, it tells a process from a later one that got its number. */
static int proc_start_time(pid_t pid, uint64_t *ret)
{
        char buf[1024];
        const char *p;
        int err;

        p = proc_stat_fields(pid, buf, sizeof buf, &err);
        if (!p)
                return err;
        /* p + 1 is field 3; field 22 follows 19 more separators. */
        p += 1;
        for (int field = 3; field < 22; field++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EIO;
                p++;
        }
        errno = 0;
        *ret = strtoull(p, NULL, 10);
        return errno ? -EIO : 0;
}

/* See pidfd.h. */
int pidfd_identity(int pidfd, struct pidfd_id *ret)
{
        struct pidfd_id id = {};
        struct stat st;
        pid_t again;
        int r;

        r = pidfd_get_pid(pidfd, &id.pid);
        if (r < 0)
                return r;
        if (fstat(pidfd, &st) < 0)
                return -errno;
        id.ino = (uint64_t)st.st_ino;
        id.dev = (uint64_t)st.st_dev;
        r = proc_start_time(id.pid, &id.start);
        if (r < 0)
                return r;
        /* Still the same process: /proc described it, not a successor. */
        r = pidfd_get_pid(pidfd, &again);
        if (r < 0 || again != id.pid)
                return -ESRCH;
        *ret = id;
        return 0;
}
