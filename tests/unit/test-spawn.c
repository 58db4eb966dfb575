/* test-spawn: spawn_child on both paths (run again with TEND_SPAWN_NO_VM=1 for
 * the fork-like one): what the child inherits, what the parent keeps, exec
 * errors, many spawns on the reused stack, and CLONE_INTO_CGROUP. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "spawn.h"
#include "sys.h"
#include "tap.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-spawn.XXXXXX";

static int wait_exit(int pidfd, siginfo_t *si)
{
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

        if (poll(&pfd, 1, 10000) != 1)
                return -ETIMEDOUT;
        return sys_reap(pidfd, si);
}

/* Run argv with stdout into a file; return the file's contents (caller frees). */
static char *run_capture(char **argv, int cgroup_fd, int *ret_status)
{
        struct spawn_params p = { .stdout_fd = -1, .stderr_fd = -1, .cgroup_fd = cgroup_fd };
        char *envp[] = { "PATH=/usr/bin:/bin", NULL };
        char path[64];
        const char *step;
        static char buf[16384];
        siginfo_t si;
        pid_t pid;
        int fd, pidfd = -1, r;
        ssize_t n;

        (void)snprintf(path, sizeof path, "%s/out", tmpdir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return NULL;
        p.path = argv[0];
        p.argv = argv;
        p.envp = envp;
        p.workdir = "/";
        p.stdout_fd = fd;
        r = spawn_child(&p, &pid, &pidfd, &step);
        if (r < 0 || wait_exit(pidfd, &si) != 1) {
                close(fd);
                safe_close(pidfd);
                return NULL;
        }
        *ret_status = si.si_code == CLD_EXITED ? si.si_status : 1000 + si.si_status;
        close(pidfd);
        n = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        if (n < 0)
                return NULL;
        buf[n] = 0;
        return strdup(buf);
}

static unsigned long long status_field(const char *s, const char *key)
{
        const char *f = strstr(s, key);
        return f ? strtoull(f + strlen(key), NULL, 16) : ~0ULL;
}

static void test_inheritance(void)
{
        char *argv[] = { "/bin/cat", "/proc/self/status", NULL };
        _cleanup_free_ char *out = NULL;
        sigset_t usr2, before, after;
        int keep = open("/dev/null", O_RDONLY); /* not CLOEXEC: must still not leak */
        int canary = 42, status = -1;

        /* tendd's start: an inherited SIG_IGN becomes blocked + SIG_DFL. */
        (void)signal(SIGUSR1, SIG_IGN);
        ok(spawn_signals_setup() == 0, "spawn_signals_setup");
        {
                struct sigaction sa;
                sigset_t now;

                (void)sigaction(SIGUSR1, NULL, &sa);
                sigprocmask(SIG_BLOCK, NULL, &now);
                ok(sa.sa_handler == SIG_DFL && sigismember(&now, SIGUSR1) == 1 &&
                           sigismember(&now, SIGPIPE) == 1 && sigismember(&now, SIGXFSZ) == 1,
                   "SIGUSR1 (was ignored), SIGPIPE and SIGXFSZ: blocked, SIG_DFL");
        }
        sigemptyset(&usr2);
        sigaddset(&usr2, SIGUSR2);
        sigprocmask(SIG_BLOCK, &usr2, &before);
        sigprocmask(SIG_BLOCK, NULL, &before);
        errno = 1234;
        out = run_capture(argv, -1, &status);
        ok(errno == 1234 || out != NULL, "parent's errno survives (or the spawn failed anyway)");
        ok(out && status == 0, "cat /proc/self/status ran (status %d)", status);
        sigprocmask(SIG_BLOCK, NULL, &after);
        ok(sigismember(&after, SIGUSR2) == 1 && sigismember(&after, SIGTERM) == 0,
           "parent's signal mask restored");
        ok(canary == 42, "parent's stack untouched");
        if (!out)
                return;
        ok(status_field(out, "SigBlk:") == 0, "child: no blocked signals");
        ok(status_field(out, "SigIgn:") == 0, "child: nothing ignored (SIGUSR1 was, in tendd's parent)");
        {
                const char *pp = strstr(out, "PPid:");
                ok(pp && atoi(pp + 5) == (int)getpid(), "child's parent is us");
        }
        (void)signal(SIGUSR1, SIG_DFL);
        sigprocmask(SIG_UNBLOCK, &usr2, NULL);
        close(keep);
}

static void test_fds(void)
{
        char *argv[] = { "/bin/ls", "/proc/self/fd", NULL };
        _cleanup_free_ char *out = NULL;
        int keep = open("/dev/null", O_RDONLY), status = -1;
        char *line;
        size_t n = 0;

        out = run_capture(argv, -1, &status);
        ok(out && status == 0, "ls /proc/self/fd ran");
        /* 0, 1, 2 and ls's own directory handle. */
        for (line = out; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
                if (*line != '\n')
                        n++;
        ok(n == 4, "child has fds 0-2 only (plus ls's own): %zu listed", n);
        close(keep);
}

/* Thousands of open fds (tendd's pidfds): the child still gets only 0-2 and
 * the fds handed to it, wherever they sit in the table. */
static void test_many_fds_and_pass_fd(void)
{
        struct spawn_params p = { .stdout_fd = -1, .stderr_fd = -1, .cgroup_fd = -1 };
        char *argv[] = { "/bin/sh", "-c", "ls /proc/self/fd | wc -l; echo passed >&3", NULL };
        char *envp[] = { "PATH=/usr/bin:/bin", NULL };
        int fds[3000], n = 0, pipefd[2], outfd, pidfd = -1, status = -1;
        char path[64], buf[256] = "";
        const char *step;
        siginfo_t si;
        pid_t pid;
        ssize_t k;

        while (n < 3000 && (fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
                n++;
        (void)snprintf(path, sizeof path, "%s/many", tmpdir);
        outfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ok(pipe2(pipefd, O_CLOEXEC) == 0 && outfd > 1000, "%d fds open, stdout at fd %d", n,
           outfd);
        p.path = argv[0];
        p.argv = argv;
        p.envp = envp;
        p.workdir = "/";
        p.stdout_fd = outfd;
        p.pass_fd = pipefd[1];
        p.pass_fd_target = 3;
        if (spawn_child(&p, &pid, &pidfd, &step) == 0 && wait_exit(pidfd, &si) == 1)
                status = si.si_code == CLD_EXITED ? si.si_status : 1000;
        ok(status == 0, "child ran (status %d)", status);
        close(pipefd[1]);
        k = pread(outfd, buf, sizeof buf - 1, 0);
        /* 0, 1, 2, 3 and ls's own directory handle. */
        ok(k > 0 && atoi(buf) == 5, "child has fds 0-3 only (plus ls's own): %s", buf);
        k = read(pipefd[0], buf, sizeof buf - 1);
        ok(k == 7 && strncmp(buf, "passed\n", 7) == 0, "pass_fd reached the child as fd 3");
        close(pipefd[0]);
        close(outfd);
        safe_close(pidfd);
        (void)unlink(path);
        while (n > 0)
                close(fds[--n]);
}

static void test_errors_and_reuse(void)
{
        struct spawn_params p = { .stdout_fd = -1, .stderr_fd = -1, .cgroup_fd = -1 };
        char *argv_true[] = { "true", NULL };
        char *envp[] = { NULL };
        const char *step;
        siginfo_t si;
        pid_t pid;
        int pidfd = -1, r, good = 0;

        p.argv = argv_true;
        p.envp = envp;
        p.workdir = "/";
        p.path = "/nonexistent/true";
        r = spawn_child(&p, &pid, &pidfd, &step);
        ok(r == -ENOENT && step && strcmp(step, "exec") == 0 && pidfd < 0,
           "missing program: -ENOENT at exec (got %d %s)", r, step ? step : "-");
        p.path = "/bin/true";
        p.workdir = "/nonexistent";
        r = spawn_child(&p, &pid, &pidfd, &step);
        ok(r == -ENOENT && step && strcmp(step, "chdir") == 0, "bad workdir: -ENOENT at chdir");
        p.workdir = "/";
        p.limits[LIMIT_NOFILE].set = true;
        p.limits[LIMIT_NOFILE].resource = RLIMIT_NOFILE;
        p.limits[LIMIT_NOFILE].value.rlim_cur = 2;
        p.limits[LIMIT_NOFILE].value.rlim_max = 1; /* soft > hard: EINVAL */
        r = spawn_child(&p, &pid, &pidfd, &step);
        ok(r == -EINVAL && step && strcmp(step, "setrlimit") == 0,
           "bad rlimit: -EINVAL at setrlimit");
        p.limits[LIMIT_NOFILE].set = false;

        for (int i = 0; i < 200; i++) {
                r = spawn_child(&p, &pid, &pidfd, &step);
                if (r == 0 && wait_exit(pidfd, &si) == 1 && si.si_code == CLD_EXITED &&
                    si.si_status == 0)
                        good++;
                pidfd = safe_close(pidfd);
        }
        ok(good == 200, "200 spawns on the reused stack: %d exited 0", good);
}

static void test_cgroup(void)
{
        static const char *roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
        char dir[256], *argv[] = { "/bin/cat", "/proc/self/cgroup", NULL };
        _cleanup_free_ char *out = NULL;
        int status = -1, fd = -1;

        for (size_t i = 0; i < ELEMENTSOF(roots) && fd < 0; i++) {
                char probe[300];

                (void)snprintf(probe, sizeof probe, "%s/cgroup.procs", roots[i]);
                if (access(probe, W_OK) < 0)
                        continue;
                (void)snprintf(dir, sizeof dir, "%s/test-spawn-%d", roots[i], (int)getpid());
                if (mkdir(dir, 0755) < 0)
                        continue;
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        (void)rmdir(dir);
        }
        if (fd < 0) {
                ok(1, "# SKIP no writable cgroup2 hierarchy");
                return;
        }
        out = run_capture(argv, fd, &status);
        ok(out && strstr(out, strrchr(dir, '/')) != NULL,
           "CLONE_INTO_CGROUP: child starts in %s (%s)", dir, out ? out : "spawn failed");
        close(fd);
        ok(rmdir(dir) == 0, "cgroup empty again after the child exited");
}

int main(void)
{
        if (!mkdtemp(tmpdir)) {
                printf("1..0 # SKIP mkdtemp\n");
                return 77;
        }
        diag("path: %s",
             getenv("TEND_SPAWN_NO_VM") ? "fork-like" : "default (vfork-style on x86_64)");
        test_inheritance();
        test_fds();
        test_many_fds_and_pass_fd();
        test_errors_and_reuse();
        test_cgroup();
        {
                char path[64];
                (void)snprintf(path, sizeof path, "%s/out", tmpdir);
                (void)unlink(path);
                (void)rmdir(tmpdir);
        }
        return tap_done();
}
