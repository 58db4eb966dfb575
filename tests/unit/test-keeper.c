/* test-keeper: the keeper started by keeper_open() (the built tend-keeper, from
 * $TEND_KEEPER) and run in a forked child (keeper_main): fds parked survive
 * their client, come back with take, are replaced, unparked and let go; a
 * malformed request drops only its connection; what is at the socket's path
 * is never followed; the connection across a re-exec's state. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "keeper.h"
#include "state-find.h"
#include "state.h"
#include "tap.h"
#include "util.h"

static const char *keeper_exe;

/* The one keeper this test started and has not reaped: a child whose command
 * line is "tend-keeper --keeper" (a zombie has none). 0 if there is none. */
static pid_t keeper_child(void)
{
        DIR *d = opendir("/proc");
        struct dirent *de;
        pid_t found = 0;

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                char path[300], buf[512];
                unsigned long ppid = 0;
                ssize_t n;
                int fd;

                if (!string_is_digits(de->d_name))
                        continue;
                (void)snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                n = read(fd, buf, sizeof buf - 1);
                close(fd);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                if (!strrchr(buf, ')') || sscanf(strrchr(buf, ')'), ") %*c %lu", &ppid) != 1 ||
                    ppid != (unsigned long)getpid())
                        continue;
                (void)snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                n = read(fd, buf, sizeof buf);
                close(fd);
                if (n == sizeof "tend-keeper\0" KEEPER_OPTION &&
                    memcmp(buf, "tend-keeper\0" KEEPER_OPTION, (size_t)n) == 0)
                        found = (pid_t)atoi(de->d_name);
        }
        closedir(d);
        return found;
}

/* The exit status of pid, waiting at most 5 s; -1 if it does not exit. */
static int wait_exit(pid_t pid)
{
        for (int i = 0; i < 500; i++) {
                int status;
                pid_t p = waitpid(pid, &status, WNOHANG);

                if (p == pid)
                        return status;
                if (p < 0)
                        return -1;
                (void)poll(NULL, 0, 10);
        }
        return -1;
}

static void kill_child(pid_t pid)
{
        if (pid <= 0)
                return;
        (void)kill(pid, SIGKILL);
        (void)waitpid(pid, NULL, 0);
}

/* True if every read end of the pipe whose write end is w is closed. */
static bool pipe_orphaned(int w)
{
        return write(w, "x", 1) < 0 && errno == EPIPE;
}

/* A read end carries what is written into its write end. */
static bool pipe_same(int r, int w)
{
        char c = 0;

        return write(w, "z", 1) == 1 && read(r, &c, 1) == 1 && c == 'z';
}

struct taken {
        size_t n;
        char names[4][64];
        int fds[4];
        size_t closed; /* fds closed at once (beyond the array) */
};

static void take_cb(const char *name, int fd, void *userdata)
{
        struct taken *t = userdata;

        if (t->n < ELEMENTSOF(t->fds)) {
                (void)snprintf(t->names[t->n], sizeof t->names[t->n], "%s", name);
                t->fds[t->n] = fd;
        } else {
                close(fd);
                t->closed++;
        }
        t->n++;
}

static void taken_free(struct taken *t)
{
        for (size_t i = 0; i < t->n && i < ELEMENTSOF(t->fds); i++)
                close(t->fds[i]);
        memset(t, 0, sizeof *t);
}

static int taken_fd(const struct taken *t, const char *name)
{
        for (size_t i = 0; i < t->n && i < ELEMENTSOF(t->fds); i++)
                if (strcmp(t->names[i], name) == 0)
                        return t->fds[i];
        return -1;
}

static int take(struct keeper *k, struct taken *t)
{
        memset(t, 0, sizeof *t);
        return keeper_take(k, take_cb, t);
}

/* The pid of the keeper k is connected to, once it answered (before, it may
 * still be in its execve, where /proc shows no command line). */
static pid_t keeper_pid(struct keeper *k)
{
        struct taken t;
        int r = take(k, &t);

        taken_free(&t);
        return r < 0 ? 0 : keeper_child();
}

/* The connection was closed by the keeper: EOF within 5 s. */
static bool dropped(struct keeper *k)
{
        struct pollfd p = { .fd = keeper_fd(k), .events = POLLIN };
        char c;

        return poll(&p, 1, 5000) == 1 && recv(keeper_fd(k), &c, 1, MSG_DONTWAIT) == 0;
}

/* A raw request: kind, then name (may be NULL), with fd (-1: none). */
static int send_raw(struct keeper *k, const char *payload, size_t len, int fd)
{
        return send_fds(keeper_fd(k), payload, len, &fd, fd >= 0 ? 1 : 0, 0, NULL, 0);
}

static int make_dir(char *tmpl)
{
        if (!mkdtemp(tmpl))
                abort();
        return open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Start, find, park, crash, take back, replace, unpark, bad requests, bye. */
static void test_spawned(void)
{
        char dir[] = "/tmp/test-keeper-XXXXXX";
        int dfd = make_dir(dir), p[3][2], q[2], r;
        static const char *const names[3] = { "a.main", "b.out", "c~!#x" };
        struct keeper *k = NULL, *k2 = NULL;
        struct taken t;
        struct stat st;
        bool found = true;
        pid_t pid;

        r = keeper_open(dfd, keeper_exe, &k, &found);
        ok(r == 0 && k && !found, "open with no keeper starts one (%d)", r);
        pid = keeper_pid(k);
        ok(pid > 0, "the keeper is a child of ours running tend-keeper --keeper");
        ok(fstatat(dfd, KEEPER_SOCKET, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
                   (st.st_mode & 07777) == 0600,
           "its socket is there, mode 0600");
        ok(faccessat(dfd, KEEPER_SOCKET ".new", F_OK, AT_SYMLINK_NOFOLLOW) < 0,
           "no temporary name is left");
        ok(keeper_fd(k) >= 0 && (fcntl(keeper_fd(k), F_GETFD) & FD_CLOEXEC),
           "the connection is close-on-exec");

        r = keeper_open(dfd, keeper_exe, &k2, &found);
        ok(r == 0 && found, "a second open finds it (%d)", r);
        ok(keeper_child() == pid, "and starts no other");
        ok(dropped(k), "the keeper dropped the connection it replaced");
        k = keeper_close(k, false);

        for (int i = 0; i < 3; i++) {
                if (pipe2(p[i], O_CLOEXEC) < 0)
                        abort();
                ok(keeper_park(k2, names[i], p[i][0]) == 0, "park %s", names[i]);
                close(p[i][0]);
        }
        ok(keeper_park(k2, "bad name", p[0][1]) == -EINVAL &&
                   keeper_park(k2, "", p[0][1]) == -EINVAL,
           "park: a bad name is refused before it is sent");
        k2 = keeper_close(k2, false); /* a crash: no bye */

        r = keeper_open(dfd, keeper_exe, &k, &found);
        ok(r == 0 && found, "open after a crash finds the keeper");
        r = take(k, &t);
        ok(r == 3 && t.n == 3, "take returns the 3 parked (%d)", r);
        for (int i = 0; i < 3; i++) {
                int fd = taken_fd(&t, names[i]);

                ok(fd >= 0 && pipe_same(fd, p[i][1]) && (fcntl(fd, F_GETFD) & FD_CLOEXEC),
                   "%s comes back as the same pipe, close-on-exec", names[i]);
        }
        taken_free(&t);
        ok(!pipe_orphaned(p[0][1]), "the keeper keeps its own copies");

        /* Replace: the fd parked before under that name is closed. */
        if (pipe2(q, O_CLOEXEC) < 0)
                abort();
        ok(keeper_park(k, names[0], q[0]) == 0, "park again under %s", names[0]);
        close(q[0]);
        r = take(k, &t);
        ok(r == 3 && pipe_same(taken_fd(&t, names[0]), q[1]), "take: the new fd under that name");
        taken_free(&t);
        ok(pipe_orphaned(p[0][1]), "the replaced fd was closed by the keeper");

        ok(keeper_unpark(k, names[1]) == 0 && keeper_unpark(k, "never-parked") == 0, "unpark");
        r = take(k, &t);
        ok(r == 2 && taken_fd(&t, names[1]) < 0, "take after unpark: 2 (%d)", r);
        taken_free(&t);
        ok(pipe_orphaned(p[1][1]), "the unparked fd was closed by the keeper");

        /* Malformed requests: the connection goes, what was parked stays, any
         * fd that came with one is closed. */
        static const struct {
                const char *what, *payload;
                size_t len;
                bool with_fd;
        } bad[] = {
                { "a name with a space", "Pbad name", 9, true },
                { "an empty name", "P", 1, true },
                { "a name with a control byte", "Pa\tb", 4, true },
                { "'P' without an fd", "Pnofd", 5, false },
                { "an unknown kind", "Xwhat", 5, false },
                { "'T' with an fd", "T", 1, true },
                { "'U' with an fd", "Ua.main", 7, true },
                { "'B' with a name", "Bx", 2, false },
                { "a name too long", NULL, 1 + KEEPER_NAME_MAX + 1, true },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char payload[1 + KEEPER_NAME_MAX + 1];
                int b[2];

                if (pipe2(b, O_CLOEXEC) < 0)
                        abort();
                if (bad[i].payload)
                        memcpy(payload, bad[i].payload, bad[i].len);
                else
                        memset(payload, 'n', sizeof payload), payload[0] = 'P';
                r = send_raw(k, payload, bad[i].len, bad[i].with_fd ? b[0] : -1);
                close(b[0]);
                ok(r == 0 && dropped(k), "%s: the connection is dropped", bad[i].what);
                ok(pipe_orphaned(b[1]), "%s: no fd is kept", bad[i].what);
                close(b[1]);
                k = keeper_close(k, false);
                r = keeper_open(dfd, keeper_exe, &k, &found);
                r = r < 0 ? r : take(k, &t);
                ok(r == 2 && taken_fd(&t, names[0]) >= 0 && taken_fd(&t, names[2]) >= 0,
                   "%s: what was parked stays (%d)", bad[i].what, r);
                taken_free(&t);
        }

        /* A park queued before a crash is not lost to the next client. */
        ok(keeper_park(k, "late", p[2][1]) == 0, "park just before a crash");
        k = keeper_close(k, false);
        r = keeper_open(dfd, keeper_exe, &k, &found);
        r = r < 0 ? r : take(k, &t);
        ok(r == 3 && taken_fd(&t, "late") >= 0, "it is there for the next client (%d)", r);
        taken_free(&t);
        ok(keeper_unpark(k, "late") == 0, "unpark it");

        /* Bye: the keeper lets everything go and exits. */
        k = keeper_close(k, true);
        ok(pipe_orphaned(q[1]) && pipe_orphaned(p[2][1]), "after bye every fd parked is closed");
        ok(wait_exit(pid) == 0, "the keeper exits 0 after bye (no leak under ASan)");
        r = keeper_open(dfd, keeper_exe, &k, &found);
        ok(r == 0 && !found, "the next open starts a new keeper (%d)", r);
        kill_child(r < 0 ? 0 : keeper_pid(k));
        k = keeper_close(k, false);

        for (int i = 0; i < 3; i++)
                close(p[i][1]);
        close(q[1]);
        (void)unlinkat(dfd, KEEPER_SOCKET, 0);
        close(dfd);
        (void)rmdir(dir);
}

/* What is at the socket's path: a stale socket is replaced, a symlink or a
 * file is refused and left alone. */
static void test_path(void)
{
        char dir[] = "/tmp/test-keeper-XXXXXX", other[] = "/tmp/test-keeper-XXXXXX";
        char target[sizeof other + sizeof KEEPER_SOCKET];
        int dfd = make_dir(dir), ofd = make_dir(other), s, r;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct keeper *k = NULL, *ko = NULL;
        bool found = true;
        struct stat st;
        pid_t pid;

        s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        (void)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", dir, KEEPER_SOCKET);
        ok(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0, "a socket bound, nobody listening");
        close(s);
        r = keeper_open(dfd, keeper_exe, &k, &found);
        ok(r == 0 && !found, "a stale socket is replaced by a new keeper (%d)", r);
        r = r < 0 ? r : keeper_take(k, take_cb, &(struct taken){});
        ok(r == 0, "which answers (%d)", r);
        kill_child(k ? keeper_pid(k) : 0);
        k = keeper_close(k, false);
        (void)unlinkat(dfd, KEEPER_SOCKET, 0);

        /* A live keeper elsewhere, and a symlink to its socket here. */
        r = keeper_open(ofd, keeper_exe, &ko, &found);
        pid = r < 0 ? 0 : keeper_pid(ko);
        ok(r == 0 && pid > 0, "a keeper in another directory (%d, %d)", r, (int)pid);
        (void)snprintf(target, sizeof target, "%s/%s", other, KEEPER_SOCKET);
        if (symlinkat(target, dfd, KEEPER_SOCKET) < 0)
                abort();
        r = keeper_open(dfd, keeper_exe, &k, &found);
        ok(r == -ELOOP && !k, "a symlink at the socket's path is refused (%d)", r);
        ok(fstatat(dfd, KEEPER_SOCKET, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode),
           "and left there");
        ok(keeper_child() == pid, "no keeper was started for it");
        r = keeper_take(ko, take_cb, &(struct taken){});
        ok(r == 0, "the other keeper kept its client: not connected through the link (%d)", r);
        (void)unlinkat(dfd, KEEPER_SOCKET, 0);

        s = openat(dfd, KEEPER_SOCKET, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        close(s);
        r = keeper_open(dfd, keeper_exe, &k, &found);
        ok(r == -ENOTSOCK && faccessat(dfd, KEEPER_SOCKET, F_OK, 0) == 0,
           "a regular file there is refused and left (%d)", r);
        (void)unlinkat(dfd, KEEPER_SOCKET, 0);

        kill_child(pid);
        ko = keeper_close(ko, false);
        (void)unlinkat(ofd, KEEPER_SOCKET, 0);
        close(dfd);
        close(ofd);
        (void)rmdir(dir);
        (void)rmdir(other);
}

static double now_ms(void)
{
        return (double)now_monotonic() / 1000.0;
}

/* Park n fds; a full socket (-EAGAIN) waits for room, as tendd's loop would. */
static int park_many(struct keeper *k, int fd, unsigned n)
{
        for (unsigned i = 0; i < n; i++) {
                char name[32];
                int r;

                (void)snprintf(name, sizeof name, "svc-%u.main", i);
                while ((r = keeper_park(k, name, fd)) == -EAGAIN)
                        (void)poll(&(struct pollfd){ .fd = keeper_fd(k), .events = POLLOUT }, 1,
                                   1000);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void report_memory(pid_t pid, const char *when)
{
        char path[64], line[256];
        FILE *f;

        (void)snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, "Rss:", 4) == 0 || strncmp(line, "Pss:", 4) == 0)
                        diag("keeper %s: %.*s", when, (int)strcspn(line, "\n"), line);
        fclose(f);
}

/* Thousands of parks in a row, then one take of all. */
static void test_many(void)
{
        char dir[] = "/tmp/test-keeper-XXXXXX";
        int dfd = make_dir(dir), p[2], r;
        struct rlimit rl;
        struct keeper *k = NULL;
        struct taken t = {};
        bool found;
        double t0;
        pid_t pid;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (pipe2(p, O_CLOEXEC) < 0)
                abort();
        r = keeper_open(dfd, keeper_exe, &k, &found);
        pid = r < 0 ? 0 : keeper_pid(k);
        ok(r == 0 && pid > 0, "a keeper for 3000 fds");
        report_memory(pid, "idle, empty");
        t0 = now_ms();
        r = park_many(k, p[0], 1000);
        diag("1000 parks: %.2f ms", now_ms() - t0);
        r = r < 0 ? r : park_many(k, p[0], 2000); /* the first 1000 replaced */
        t0 = now_ms();
        r = r < 0 ? r : take(k, &t);
        diag("a take of 2000 fds: %.2f ms", now_ms() - t0);
        ok(r == 2000, "2000 parks, of which 1000 replace, then take returns 2000 (%d)", r);
        taken_free(&t);
        report_memory(pid, "idle, 2000 fds");
        r = park_many(k, p[0], 3000);
        ok(r == 0, "3000 parks in a row (%d)", r);
        r = take(k, &t);
        ok(r == 3000 && t.n == 3000, "take returns 3000 (%d)", r);
        taken_free(&t);
        /* More parks than the keeper serves in one go, queued while it is
         * stopped, then a crash and a new client: the keeper serves the old
         * client's queue to its end before the new one. */
        r = keeper_unpark(k, "svc-0.main");
        r = r < 0 ? r : take(k, &t);
        taken_free(&t);
        ok(r == 2999 && kill(pid, SIGSTOP) == 0, "a keeper of 2999 fds, stopped");
        for (unsigned i = 0; i < 600 && r >= 0; i++) {
                char name[32];

                (void)snprintf(name, sizeof name, "queued-%u", i);
                r = keeper_park(k, name, p[0]);
        }
        k = keeper_close(k, false);
        r = r < 0 ? r : keeper_open(dfd, keeper_exe, &k, &found);
        ok(r == 0 && found, "600 parks queued, a crash, a new client (%d)", r);
        (void)kill(pid, SIGCONT);
        r = r < 0 ? r : take(k, &t);
        ok(r == 3599, "every park queued before the crash is served (%d)", r);
        taken_free(&t);

        k = keeper_close(k, true);
        ok(wait_exit(pid) == 0, "bye: the keeper exits 0");
        close(p[0]);
        ok(pipe_orphaned(p[1]), "and every copy is closed");
        close(p[1]);
        (void)unlinkat(dfd, KEEPER_SOCKET, 0);
        close(dfd);
        (void)rmdir(dir);
}

/* keeper_main in a forked child: a connection given at start, SIGTERM, a
 * client that is not of our uid. */
static pid_t fork_keeper(const char *path, struct keeper **ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), sv[2];
        struct state_writer w;
        struct state_reader v;
        size_t mark;
        pid_t pid;

        (void)snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0666) < 0 ||
            listen(l, 16) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                abort();
        pid = fork();
        if (pid == 0) {
                close(sv[0]);
                exit(keeper_main(l, sv[1]));
        }
        close(l);
        close(sv[1]);
        /* The connection through a state record, as tendd's re-exec hands it
         * (written by hand: there is no keeper to put yet). */
        state_writer_init(&w);
        mark = state_begin(&w, 9);
        state_put_fd(&w, 1, sv[0]);
        state_end(&w, mark);
        if (state_find(&w, 9, &v) < 0 || keeper_state_get(&v, ret) < 0)
                abort();
        state_writer_free(&w);
        return pid;
}

static void test_forked(void)
{
        char dir[] = "/tmp/test-keeper-XXXXXX", path[64];
        int dfd = make_dir(dir), p[2], r, status;
        struct keeper *k = NULL, *k2 = NULL;
        struct state_writer w;
        struct state_reader v;
        struct taken t;
        pid_t pid, child;

        (void)snprintf(path, sizeof path, "%s/listen", dir);
        (void)chmod(dir, 0711); /* for the client of another uid */
        pid = fork_keeper(path, &k);
        ok(k != NULL, "keeper_state_get: the connection from a state record");
        if (pipe2(p, O_CLOEXEC) < 0)
                abort();
        ok(keeper_park(k, "x", p[0]) == 0, "park through it");
        close(p[0]);

        state_writer_init(&w);
        ok(keeper_state_put(k, &w, 4) == 0 && w.n_fds == 1 && w.fds[0] == keeper_fd(k),
           "keeper_state_put: one fd kept");
        r = state_find(&w, 4, &v);
        ok(r == 0 && keeper_state_get(&v, &k2) == -EBADMSG, "the same fd cannot be claimed twice");
        state_writer_free(&w);
        r = take(k, &t);
        ok(r == 1 && pipe_same(taken_fd(&t, "x"), p[1]), "take through it (%d)", r);
        taken_free(&t);

        /* A client of another uid: refused, the keeper's client stays. */
        if (geteuid() == 0) {
                child = fork();
                if (child == 0) {
                        struct sockaddr_un sa = { .sun_family = AF_UNIX };
                        int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                        struct pollfd pf = { .events = POLLIN };
                        char c;

                        (void)snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
                        if (setresgid(65534, 65534, 65534) < 0 ||
                            setresuid(65534, 65534, 65534) < 0 ||
                            connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
                                _exit(2);
                        /* Closed before the request (EPIPE), or with it
                         * unread (a reset), or after (end of file). */
                        if (send(s, "T", 1, MSG_NOSIGNAL) < 0)
                                _exit(errno == EPIPE || errno == ECONNRESET ? 0 : 3);
                        pf.fd = s;
                        if (poll(&pf, 1, 5000) != 1)
                                _exit(4);
                        _exit(recv(s, &c, 1, 0) == 0 || errno == ECONNRESET ? 0 : 1);
                }
                if (waitpid(child, &status, 0) != child)
                        status = -1;
                ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                   "a client of another uid is closed without an answer (%#x)", status);
                r = take(k, &t);
                ok(r == 1, "and the keeper's client stays (%d)", r);
                taken_free(&t);
        } else {
                ok(true, "# SKIP another uid needs root");
                ok(true, "# SKIP another uid needs root");
        }

        ok(kill(pid, SIGINT) == 0 && kill(pid, SIGHUP) == 0 && kill(pid, SIGPIPE) == 0 &&
                   take(k, &t) == 1,
           "INT, HUP and PIPE are ignored");
        taken_free(&t);
        ok(kill(pid, SIGTERM) == 0 && wait_exit(pid) == 0, "TERM: the keeper exits 0");
        ok(pipe_orphaned(p[1]), "having closed what it held");
        r = keeper_take(k, take_cb, &t);
        ok(r == -ECONNRESET || r == -EPIPE, "take from a keeper gone: %d", r);
        ok(keeper_park(k, "y", p[1]) == -EPIPE || keeper_park(k, "y", p[1]) == -ECONNRESET,
           "park to a keeper gone: -EPIPE");
        k = keeper_close(k, true); /* bye to no one: nothing waits */
        close(p[1]);

        /* Not a socket in the state. */
        if (pipe2(p, O_CLOEXEC) < 0)
                abort();
        state_writer_init(&w);
        {
                size_t mark = state_begin(&w, 4);
                state_put_fd(&w, 1, p[0]);
                state_put_u64(&w, 99, 1); /* a newer image's record: skipped */
                state_end(&w, mark);
        }
        ok(state_find(&w, 4, &v) == 0 && keeper_state_get(&v, &k) == -ENOTSOCK && !k,
           "keeper_state_get: not a socket, -ENOTSOCK");
        state_writer_free(&w);
        state_writer_init(&w);
        {
                size_t mark = state_begin(&w, 4);
                state_end(&w, mark);
        }
        ok(state_find(&w, 4, &v) == 0 && keeper_state_get(&v, &k) == -EBADMSG,
           "keeper_state_get: no fd, -EBADMSG");
        state_writer_free(&w);
        close(p[1]);
        (void)unlink(path);
        close(dfd);
        (void)rmdir(dir);
}

int main(void)
{
        keeper_exe = getenv("TEND_KEEPER");
        if (!keeper_exe || access(keeper_exe, X_OK) < 0) {
                printf("1..0 # SKIP $TEND_KEEPER is not the built keeper\n");
                return 77;
        }
        (void)signal(SIGPIPE, SIG_IGN);
        test_spawned();
        test_path();
        test_many();
        test_forked();
        return tap_done();
}
