/* test-util: string vectors, the hashmap, the sys seam's real calls. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "closer.h"
#include "hashmap.h"
#include "spawn.h"
#include "sys.h"
#include "tap.h"
#include "util.h"

static void test_strv(void)
{
        _cleanup_strv_free_ char **v = NULL, **c = NULL;

        ok(strv_length(NULL) == 0, "strv_length(NULL) == 0");
        ok(strv_extend(&v, "a") == 0 && strv_extend(&v, "b") == 0 && strv_length(v) == 2,
           "strv_extend appends");
        c = strv_copy(v);
        ok(c && strv_equal(v, c), "strv_copy equals the original");
        ok(strv_push(&c, strdup("x")) == 0 && !strv_equal(v, c), "differs after a push");
        ok(strv_equal(NULL, NULL), "NULL equals NULL");
        {
                _cleanup_strv_free_ char **b = NULL;
                size_t n = 0, cap = 0;
                bool all = true;

                for (int i = 0; i < 1000; i++) {
                        char *s;
                        if (asprintf(&s, "%d", i) < 0 || strv_append(&b, &n, &cap, s) < 0)
                                all = false;
                }
                ok(all && n == 1000 && strv_length(b) == 1000 && cap >= 1001 && cap < 4096 &&
                           strcmp(b[999], "999") == 0 && !b[1000],
                   "strv_append: 1000 pushes, NULL-terminated, room doubling (%zu)", cap);
        }
}

static void test_hashmap(void)
{
        struct hashmap *h = hashmap_new();
        char keys[2000][16];
        bool all = true;

        for (int i = 0; i < 2000; i++) {
                (void)snprintf(keys[i], sizeof keys[i], "svc-%d", i);
                if (hashmap_put(h, keys[i], keys[i]) < 0)
                        all = false;
        }
        ok(all && hashmap_size(h) == 2000, "2000 inserts (with growth)");
        ok(hashmap_put(h, "svc-7", NULL) == -EEXIST, "duplicate key rejected");
        all = true;
        for (int i = 0; i < 2000; i++)
                if (hashmap_get(h, keys[i]) != keys[i])
                        all = false;
        ok(all, "every key found");
        ok(hashmap_get(h, "nope") == NULL, "missing key: NULL");
        ok(hashmap_remove(h, "svc-5") == keys[5] && hashmap_get(h, "svc-5") == NULL &&
                   hashmap_size(h) == 1999,
           "remove");
        ok(hashmap_remove(h, "svc-5") == NULL, "remove twice: NULL");
        hashmap_free(h);
}

static void test_spawn_and_signal(void)
{
        struct spawn_params p = { .stdout_fd = -1, .stderr_fd = -1, .cgroup_fd = -1 };
        char *argv_sleep[] = { "sleep", "1000", NULL };
        char *envp[] = { "PATH=/usr/bin:/bin", NULL };
        const char *step;
        siginfo_t si;
        pid_t pid;
        int pidfd = -1, r;

        p.path = "/bin/sleep";
        p.argv = argv_sleep;
        p.envp = envp;
        p.workdir = "/";
        r = spawn_child(&p, &pid, &pidfd, &step);
        ok(r == 0 && pidfd >= 0 && pid > 0, "spawn_child runs /bin/sleep");
        ok(sys_reap(pidfd, &si) == 0, "still running: reap returns 0");
        ok(sys_pidfd_send_signal(pidfd, SIGKILL, true) == 0, "group SIGKILL by pidfd");
        {
                struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
                ok(poll(&pfd, 1, 5000) == 1, "pidfd becomes readable on exit");
        }
        r = sys_reap(pidfd, &si);
        ok(r == 1 && si.si_code == CLD_KILLED && si.si_status == SIGKILL, "reaped: killed by KILL");
        ok(sys_pidfd_send_signal(pidfd, SIGTERM, false) == -ESRCH, "signal after reap: -ESRCH, for the caller to judge");
        ok(sys_pidfd_send_signal(pidfd, SIGTERM, true) == -ESRCH, "group signal with nobody left: -ESRCH");
        pidfd = safe_close(pidfd);

        p.path = "/nonexistent/program";
        r = spawn_child(&p, &pid, &pidfd, &step);
        ok(r == -ENOENT && step && strcmp(step, "exec") == 0 && pidfd < 0,
           "missing program: -ENOENT at step exec (got %d %s)", r, step ? step : "-");
        p.path = "/etc/passwd";
        r = spawn_child(&p, &pid, &pidfd, &step);
        ok(r == -EACCES && strcmp(step, "exec") == 0, "not executable: -EACCES");
        p.path = "/bin/sleep";
        p.workdir = "/nonexistent";
        r = spawn_child(&p, &pid, &pidfd, &step);
        ok(r == -ENOENT && strcmp(step, "chdir") == 0, "bad workdir: -ENOENT at chdir");
}

static void test_paths(void)
{
        static const struct {
                const char *dir, *rel, *joined, *dirname;
        } cases[] = {
                { "/etc/tend", "services.d", "/etc/tend/services.d", "/etc/tend" },
                { "conf", "./a//b/", "conf/a/b", "conf/a" },
                { "/x", "/abs/./p", "/abs/p", "/abs" },
                { NULL, "rel", "rel", "." },
                { "", ".", ".", "." },
                { "/", "..//", "/..", "/" },
        };
        char buf[] = "  \t a b \r\n";

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *j = path_join(cases[i].dir, cases[i].rel);
                _cleanup_free_ char *d = cases[i].dir ? path_dirname(cases[i].joined) : NULL;

                ok(j && strcmp(j, cases[i].joined) == 0, "path_join(%s, %s) = %s (got %s)",
                   cases[i].dir ? cases[i].dir : "NULL", cases[i].rel, cases[i].joined, j ? j : "-");
                if (cases[i].dir)
                        ok(d && strcmp(d, cases[i].dirname) == 0, "path_dirname(%s) = %s (got %s)",
                           cases[i].joined, cases[i].dirname, d ? d : "-");
        }
        ok(strcmp(string_strip(buf), "a b") == 0, "string_strip cuts blanks at both ends");
}

static void test_strings_and_dirs(void)
{
        char tmpl[] = "/tmp/test-util-XXXXXX", path[128];
        struct stat st;

        ok(string_is_digits("0123") && !string_is_digits("") && !string_is_digits("12a") &&
                   !string_is_digits("-1"),
           "string_is_digits");
        if (!mkdtemp(tmpl)) {
                ok(0, "mkdtemp");
                return;
        }
        (void)snprintf(path, sizeof path, "%s/a/b/c", tmpl);
        ok(mkdir_parents(path, 0755) == 0 && stat(path, &st) < 0, "mkdir_parents stops short");
        ok(mkdir_p(path, 0750) == 0 && stat(path, &st) == 0 && (st.st_mode & 0777) == 0750,
           "mkdir_p makes the last one with its mode");
        ok(mkdir_p(path, 0750) == 0, "mkdir_p on an existing directory is fine");
        (void)snprintf(path, sizeof path, "rm -rf %s", tmpl);
        (void)!system(path);
}

static bool fd_is_open(int fd)
{
        return fcntl(fd, F_GETFD) >= 0;
}

/* A pipe is closed at once; anything else by a worker, which closer_drain() waits for. */
static void test_closer(void)
{
        int p[2], sp[2];

        ok(pipe2(p, O_CLOEXEC) == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0,
           "a pipe and a socketpair");
        closer_close(p[0]);
        ok(!fd_is_open(p[0]), "a pipe is closed inline");
        closer_close(sp[0]);
        closer_drain();
        ok(!fd_is_open(sp[0]) && closer_pending() == 0, "a socket is closed by a worker");
        for (int i = 0; i < 100; i++) {
                int fd = dup(sp[1]);
                closer_close(fd);
        }
        closer_drain();
        ok(closer_pending() == 0, "100 more, all closed");
        closer_close(-1);
        (void)close(p[1]);
        (void)close(sp[1]);
}

/* A rate limit lets burst through per interval and counts the rest. */
static void test_ratelimit(void)
{
        struct ratelimit rl = { .interval = 5 * USEC_PER_SEC, .burst = 3 };
        unsigned passed = 0, suppressed = 0;

        for (int i = 0; i < 10; i++)
                passed += ratelimit_below(&rl, USEC_PER_SEC + (usec_t)i, &suppressed);
        ok(passed == 3 && suppressed == 0, "3 of 10 in one interval");
        ok(ratelimit_below(&rl, 7 * USEC_PER_SEC, &suppressed) && suppressed == 7,
           "the next interval reports the 7 suppressed");
}

/* A held lock file makes the second taker fail with -EBUSY. */
static void test_lockfile(void)
{
        char dir[] = "/tmp/test-util-XXXXXX", path[64];
        int a, b;

        ok(mkdtemp(dir) != NULL, "temp dir");
        (void)snprintf(path, sizeof path, "%s/x.lock", dir);
        a = lockfile_acquire(path);
        b = lockfile_acquire(path);
        ok(a >= 0 && b == -EBUSY, "second acquire: -EBUSY (%d)", b);
        (void)close(a);
        b = lockfile_acquire(path);
        ok(b >= 0, "free again once the holder closed it");
        (void)close(b);
        (void)snprintf(path, sizeof path, "%s/link.lock", dir);
        ok(symlink("/nonexistent", path) == 0 && lockfile_acquire(path) == -ELOOP,
           "never through a symlink");
        (void)unlink(path);
        (void)snprintf(path, sizeof path, "%s/x.lock", dir);
        (void)unlink(path);
        (void)rmdir(dir);
}

int main(void)
{
        test_strv();
        test_hashmap();
        test_paths();
        test_strings_and_dirs();
        test_spawn_and_signal();
        test_closer();
        test_ratelimit();
        test_lockfile();
        return tap_done();
}
