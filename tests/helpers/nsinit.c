/* nsinit: a tiny init for a test's private pid namespace. Run as
 *   unshare --pid --fork --mount-proc -- nsinit [-r REPORT] [--] CMD ARGS...
 * It is PID 1 there: it spawns CMD, forwards SIGTERM, SIGINT and SIGHUP to
 * it, reaps every orphan, and exits with CMD's status (128+signal if CMD was
 * killed) as soon as CMD exits. Exiting tears the namespace down: the kernel
 * kills every process left in it.
 *
 * CMD inherits nsinit's signal mask, ignored signals, fds and environment
 * unchanged, so a test can hand tendd a hostile start (ignored SIGPIPE, a
 * blocked signal, a leaked fd) through unshare and nsinit.
 *
 * With -r REPORT, once CMD has exited nsinit waits up to a second for the
 * processes still in the namespace to go away (reaping them), then writes
 * REPORT (atomically) listing those that remain, one "pid=N state=S comm=C
 * cmdline=..." line each, after a "survivors=N" line. A process that was
 * SIGKILLed just before CMD exited is given time to die and is not listed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP };
#define N_FORWARDED (sizeof forwarded / sizeof forwarded[0])

static void nop_handler(int sig)
{
        (void)sig;
}

/* Reap every child that has exited; record the status of cmd. */
static void reap(pid_t cmd, int *cmd_status, int *cmd_done)
{
        for (;;) {
                int status;
                pid_t p = waitpid(-1, &status, WNOHANG);

                if (p <= 0) {
                        if (p < 0 && errno == EINTR)
                                continue;
                        return;
                }
                if (p == cmd) {
                        *cmd_status = status;
                        *cmd_done = 1;
                }
        }
}

static int read_small(const char *path, char *buf, size_t len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -1;
        n = read(fd, buf, len - 1);
        close(fd);
        if (n < 0)
                return -1;
        buf[n] = 0;
        return (int)n;
}

/* Append one line per process in /proc other than ourselves; returns how many. */
static int list_others(FILE *f)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        int n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d))) {
                char path[PATH_MAX], stat[1024], cmdline[1024], comm[64] = "?";
                char state = '?';
                const char *rp;
                int len;

                if (!isdigit((unsigned char)de->d_name[0]) || atoi(de->d_name) == getpid())
                        continue;
                snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
                if (read_small(path, stat, sizeof stat) < 0)
                        continue; /* gone meanwhile */
                rp = strrchr(stat, ')');
                if (rp && rp[1] == ' ')
                        state = rp[2];
                if (state == 'Z' || state == 'X')
                        continue; /* dead, only waiting to be reaped */
                snprintf(path, sizeof path, "/proc/%s/comm", de->d_name);
                if (read_small(path, comm, sizeof comm) > 0)
                        comm[strcspn(comm, "\n")] = 0;
                snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
                len = read_small(path, cmdline, sizeof cmdline);
                for (int i = 0; i < len - 1; i++)
                        if (cmdline[i] == 0)
                                cmdline[i] = ' ';
                if (len < 0)
                        cmdline[0] = 0;
                n++;
                if (f)
                        fprintf(f, "pid=%s state=%c comm=%s cmdline=%s\n", de->d_name, state,
                                comm, cmdline);
        }
        closedir(d);
        return n;
}

static void write_report(const char *path, pid_t cmd, int *cmd_status, int *cmd_done)
{
        struct timespec start, now, tick = { 0, 10 * 1000 * 1000 };
        char tmp[PATH_MAX];
        long waited_ms = 0;
        FILE *f;
        int n;

        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                reap(cmd, cmd_status, cmd_done);
                n = list_others(NULL);
                clock_gettime(CLOCK_MONOTONIC, &now);
                waited_ms = (now.tv_sec - start.tv_sec) * 1000 +
                            (now.tv_nsec - start.tv_nsec) / 1000000;
                if (n <= 0 || waited_ms >= 1000)
                        break;
                nanosleep(&tick, NULL);
        }

        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        f = fopen(tmp, "we");
        if (!f) {
                fprintf(stderr, "nsinit: %s: %s\n", tmp, strerror(errno));
                return;
        }
        if (getpid() != 1)
                fprintf(f, "error=not pid 1, /proc is not the namespace's\n");
        fprintf(f, "waited_ms=%ld\n", waited_ms);
        n = list_others(NULL);
        fprintf(f, "survivors=%d\n", n);
        (void)list_others(f);
        if (fclose(f) != 0 || rename(tmp, path) < 0)
                fprintf(stderr, "nsinit: writing %s: %s\n", path, strerror(errno));
}

int main(int argc, char **argv)
{
        struct sigaction old[N_FORWARDED], old_chld, sa;
        sigset_t waitset, oldmask;
        const char *report = NULL;
        int cmd_status = 0, cmd_done = 0;
        pid_t cmd;
        int i = 1;

        if (i + 1 < argc && strcmp(argv[i], "-r") == 0) {
                report = argv[i + 1];
                i += 2;
        }
        if (i < argc && strcmp(argv[i], "--") == 0)
                i++;
        if (i >= argc) {
                fprintf(stderr, "usage: nsinit [-r REPORT] [--] CMD [ARGS...]\n");
                return 2;
        }

        /* Signals arrive through sigwaitinfo(); blocked signals are queued even
         * for a namespace's init, which otherwise drops signals it has no
         * handler for. A handler is installed too, and SIGCHLD must not be
         * SIG_IGN here or children would be reaped behind our back. */
        sigemptyset(&waitset);
        for (size_t k = 0; k < N_FORWARDED; k++)
                sigaddset(&waitset, forwarded[k]);
        sigaddset(&waitset, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &waitset, &oldmask) < 0) {
                perror("nsinit: sigprocmask");
                return 111;
        }
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = nop_handler;
        sigemptyset(&sa.sa_mask);
        for (size_t k = 0; k < N_FORWARDED; k++)
                (void)sigaction(forwarded[k], &sa, &old[k]);
        sa.sa_handler = SIG_DFL;
        (void)sigaction(SIGCHLD, &sa, &old_chld);

        cmd = fork();
        if (cmd < 0) {
                perror("nsinit: fork");
                return 111;
        }
        if (cmd == 0) {
                /* Give CMD exactly what nsinit inherited. */
                for (size_t k = 0; k < N_FORWARDED; k++)
                        (void)sigaction(forwarded[k], &old[k], NULL);
                (void)sigaction(SIGCHLD, &old_chld, NULL);
                (void)sigprocmask(SIG_SETMASK, &oldmask, NULL);
                execvp(argv[i], argv + i);
                fprintf(stderr, "nsinit: exec %s: %s\n", argv[i], strerror(errno));
                _exit(127);
        }

        while (!cmd_done) {
                siginfo_t si;
                int sig = sigwaitinfo(&waitset, &si);

                if (sig < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("nsinit: sigwaitinfo");
                        return 111;
                }
                if (sig == SIGCHLD)
                        reap(cmd, &cmd_status, &cmd_done);
                else
                        (void)kill(cmd, sig);
        }

        if (report)
                write_report(report, cmd, &cmd_status, &cmd_done);

        if (WIFEXITED(cmd_status))
                return WEXITSTATUS(cmd_status);
        if (WIFSIGNALED(cmd_status))
                return 128 + WTERMSIG(cmd_status);
        return 111;
}
