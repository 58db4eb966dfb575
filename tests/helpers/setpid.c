/* setpid: run a command under a chosen pid. "setpid PID CMD ARGS..." creates
 * the child with clone3(set_tid = {PID}) (needs CAP_SYS_ADMIN over the
 * current pid namespace, i.e. root inside a test's private namespace) and the
 * child execs CMD. If set_tid is refused it falls back to writing PID-1 to
 * /proc/sys/kernel/ns_last_pid and forking, retrying a few times when another
 * process took the pid first. The parent prints "pid=N" once the child has
 * the pid, waits for it and exits with its status (128+signal if killed).
 * Exit 111 with a message on stderr when the pid cannot be had. The tests use
 * it to hand a dead service's pid to an unrelated process. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static int wait_and_exit(pid_t pid)
{
        int status;

        for (;;) {
                if (waitpid(pid, &status, 0) >= 0)
                        break;
                if (errno != EINTR) {
                        fprintf(stderr, "setpid: waitpid: %s\n", strerror(errno));
                        return 111;
                }
        }
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 111;
}

static void child_exec(char **argv)
{
        execvp(argv[0], argv);
        fprintf(stderr, "setpid: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
}

/* clone3 with set_tid: returns the child's pid, or -errno. */
static pid_t try_clone3(pid_t want, char **argv)
{
        pid_t tid[1] = { want };
        struct clone_args args;
        long r;

        memset(&args, 0, sizeof args);
        args.exit_signal = SIGCHLD;
        args.set_tid = (uint64_t)(uintptr_t)tid;
        args.set_tid_size = 1;

        r = syscall(SYS_clone3, &args, sizeof args);
        if (r < 0)
                return -errno;
        if (r == 0)
                child_exec(argv);
        return (pid_t)r;
}

static int write_ns_last_pid(pid_t last)
{
        char b[32];
        int fd, n, r = 0;

        fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = snprintf(b, sizeof b, "%d", (int)last);
        if (write(fd, b, (size_t)n) != n)
                r = -errno;
        close(fd);
        return r;
}

/* ns_last_pid then fork; the child waits on a pipe until the parent has
 * checked that it got the right pid. Returns the pid or -errno. */
static pid_t try_ns_last_pid(pid_t want, char **argv)
{
        for (int attempt = 0; attempt < 20; attempt++) {
                int p[2], r;
                pid_t pid;
                char go;

                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                r = write_ns_last_pid(want - 1);
                if (r < 0) {
                        close(p[0]);
                        close(p[1]);
                        return r;
                }
                pid = fork();
                if (pid < 0) {
                        r = -errno;
                        close(p[0]);
                        close(p[1]);
                        return r;
                }
                if (pid == 0) {
                        close(p[1]);
                        if (read(p[0], &go, 1) != 1 || go != 'y')
                                _exit(0);
                        close(p[0]);
                        child_exec(argv);
                }
                close(p[0]);
                go = pid == want ? 'y' : 'n';
                if (write(p[1], &go, 1) != 1) {
                        r = -errno;
                        close(p[1]);
                        return r;
                }
                close(p[1]);
                if (pid == want)
                        return pid;
                (void)waitpid(pid, NULL, 0);
                if (kill(want, 0) == 0 || errno != ESRCH)
                        return -EEXIST; /* someone holds it: retrying will not help */
        }
        return -EAGAIN;
}

int main(int argc, char **argv)
{
        char *end;
        long want;
        pid_t pid;

        if (argc < 3) {
                fprintf(stderr, "usage: setpid PID CMD [ARGS...]\n");
                return 2;
        }
        errno = 0;
        want = strtol(argv[1], &end, 10);
        if (errno || *end || want < 2 || want > INT32_MAX) {
                fprintf(stderr, "setpid: bad pid '%s'\n", argv[1]);
                return 2;
        }

        pid = try_clone3((pid_t)want, argv + 2);
        if (pid < 0) {
                int e = (int)-pid;

                fprintf(stderr, "setpid: clone3 set_tid=%ld: %s; trying ns_last_pid\n", want,
                        strerror(e));
                if (e == EEXIST) {
                        fprintf(stderr, "setpid: pid %ld is in use\n", want);
                        return 111;
                }
                pid = try_ns_last_pid((pid_t)want, argv + 2);
                if (pid < 0) {
                        fprintf(stderr, "setpid: ns_last_pid=%ld then fork: %s\n", want - 1,
                                strerror((int)-pid));
                        return 111;
                }
        }
        printf("pid=%d\n", (int)pid);
        fflush(stdout);
        return wait_and_exit(pid);
}
