/* probe: the service the child-hygiene tests run. "probe OUTFILE [sleep]"
 * records what the process inherited from its supervisor as key=value lines
 * and writes them to OUTFILE atomically (OUTFILE.tmp.PID, then rename), so a
 * reader never sees half a file. With "sleep" it then pauses until killed,
 * else it exits 0.
 *
 * Keys (lists are comma-separated, empty when none):
 *   start_mono_ns   CLOCK_MONOTONIC at start, nanoseconds
 *   pid ppid pgid sid
 *   uid euid gid egid groups
 *   umask           octal, 4 digits
 *   cwd
 *   fds             open fd numbers
 *   fd.N            readlink of /proc/self/fd/N
 *   fd.N.nonblock   0 or 1
 *   sigmask         blocked signal numbers
 *   sigign          signals whose disposition is SIG_IGN
 *   rlimit.nofile rlimit.nproc rlimit.core   "soft:hard", "inf" for unlimited
 *   env.KEY         every environment variable; "\" and newline in values are
 *                   written as "\\" and "\n"
 *   envcount        number of environment entries
 *   done=1          last line
 * Only the fds open when main() starts are listed: the directory handle used
 * to list them and the output file are opened after the list is taken. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char *buf;
static size_t buf_len, buf_cap;

static void die(const char *what)
{
        fprintf(stderr, "probe: %s: %s\n", what, strerror(errno));
        exit(111);
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
        va_list ap;
        int n;

        for (;;) {
                va_start(ap, fmt);
                n = vsnprintf(buf + buf_len, buf_cap - buf_len, fmt, ap);
                va_end(ap);
                if (n < 0)
                        die("vsnprintf");
                if ((size_t)n < buf_cap - buf_len)
                        break;
                buf_cap = (buf_cap + (size_t)n + 1) * 2;
                buf = realloc(buf, buf_cap);
                if (!buf)
                        die("realloc");
        }
        buf_len += (size_t)n;
}

static void out_escaped(const char *s)
{
        for (; *s; s++) {
                if (*s == '\\')
                        out("\\\\");
                else if (*s == '\n')
                        out("\\n");
                else
                        out("%c", *s);
        }
}

static void out_rlimit(const char *name, int resource)
{
        struct rlimit rl;

        if (getrlimit(resource, &rl) < 0)
                die("getrlimit");
        out("rlimit.%s=", name);
        if (rl.rlim_cur == RLIM_INFINITY)
                out("inf:");
        else
                out("%llu:", (unsigned long long)rl.rlim_cur);
        if (rl.rlim_max == RLIM_INFINITY)
                out("inf\n");
        else
                out("%llu\n", (unsigned long long)rl.rlim_max);
}

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;
        return (x > y) - (x < y);
}

/* Take the list of open fds before anything else is opened. */
static int list_fds(int **ret)
{
        int *fds = NULL;
        size_t n = 0;
        DIR *d;
        struct dirent *de;

        d = opendir("/proc/self/fd");
        if (!d)
                die("opendir /proc/self/fd");
        while ((de = readdir(d))) {
                char *end;
                long fd;

                if (de->d_name[0] == '.')
                        continue;
                errno = 0;
                fd = strtol(de->d_name, &end, 10);
                if (errno || *end || fd < 0 || fd == dirfd(d))
                        continue;
                fds = realloc(fds, (n + 1) * sizeof(int));
                if (!fds)
                        die("realloc");
                fds[n++] = (int)fd;
        }
        closedir(d);
        qsort(fds, n, sizeof(int), cmp_int);
        *ret = fds;
        return (int)n;
}

int main(int argc, char **argv)
{
        struct timespec ts;
        int *fds, n_fds;
        sigset_t mask;
        gid_t *groups;
        int n_groups;
        mode_t um;
        char cwd[PATH_MAX];
        const char *sep;
        size_t n_env = 0;
        char tmp[PATH_MAX];
        int fd;

        /* First things first: the start time and the fd list. */
        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                die("clock_gettime");
        n_fds = list_fds(&fds);

        if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "sleep") != 0)) {
                fprintf(stderr, "usage: probe OUTFILE [sleep]\n");
                return 2;
        }

        buf_cap = 8192;
        buf = malloc(buf_cap);
        if (!buf)
                die("malloc");

        out("start_mono_ns=%llu\n",
            (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
        out("pid=%d\nppid=%d\npgid=%d\nsid=%d\n", (int)getpid(), (int)getppid(), (int)getpgid(0),
            (int)getsid(0));
        out("uid=%u\neuid=%u\ngid=%u\negid=%u\n", (unsigned)getuid(), (unsigned)geteuid(),
            (unsigned)getgid(), (unsigned)getegid());

        n_groups = getgroups(0, NULL);
        if (n_groups < 0)
                die("getgroups");
        groups = calloc((size_t)n_groups + 1, sizeof(gid_t));
        if (!groups)
                die("calloc");
        n_groups = getgroups(n_groups, groups);
        if (n_groups < 0)
                die("getgroups");
        out("groups=");
        for (int i = 0; i < n_groups; i++)
                out("%s%u", i ? "," : "", (unsigned)groups[i]);
        out("\n");

        um = umask(0);
        umask(um);
        out("umask=%04o\n", (unsigned)um);

        if (!getcwd(cwd, sizeof cwd))
                snprintf(cwd, sizeof cwd, "(error: %s)", strerror(errno));
        out("cwd=%s\n", cwd);

        out("fds=");
        for (int i = 0; i < n_fds; i++)
                out("%s%d", i ? "," : "", fds[i]);
        out("\n");
        for (int i = 0; i < n_fds; i++) {
                char path[64], target[PATH_MAX];
                ssize_t l;
                int fl;

                snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
                l = readlink(path, target, sizeof target - 1);
                if (l < 0)
                        snprintf(target, sizeof target, "(error: %s)", strerror(errno));
                else
                        target[l] = 0;
                fl = fcntl(fds[i], F_GETFL);
                out("fd.%d=", fds[i]);
                out_escaped(target);
                out("\nfd.%d.nonblock=%d\n", fds[i], fl >= 0 && (fl & O_NONBLOCK) ? 1 : 0);
        }

        if (sigprocmask(SIG_BLOCK, NULL, &mask) < 0)
                die("sigprocmask");
        out("sigmask=");
        sep = "";
        for (int sig = 1; sig <= SIGRTMAX; sig++)
                if (sigismember(&mask, sig) == 1) {
                        out("%s%d", sep, sig);
                        sep = ",";
                }
        out("\n");

        out("sigign=");
        sep = "";
        for (int sig = 1; sig <= SIGRTMAX; sig++) {
                struct sigaction sa;

                if (sigaction(sig, NULL, &sa) < 0)
                        continue; /* glibc-reserved real-time signals */
                if (!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN) {
                        out("%s%d", sep, sig);
                        sep = ",";
                }
        }
        out("\n");

        out_rlimit("nofile", RLIMIT_NOFILE);
        out_rlimit("nproc", RLIMIT_NPROC);
        out_rlimit("core", RLIMIT_CORE);

        for (char **e = environ; e && *e; e++) {
                const char *eq = strchr(*e, '=');

                n_env++;
                if (!eq) {
                        out("env.");
                        out_escaped(*e);
                        out("\n");
                        continue;
                }
                out("env.%.*s=", (int)(eq - *e), *e);
                out_escaped(eq + 1);
                out("\n");
        }
        out("envcount=%zu\n", n_env);
        out("done=1\n");

        snprintf(tmp, sizeof tmp, "%s.tmp.%d", argv[1], (int)getpid());
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                die(tmp);
        for (size_t off = 0; off < buf_len;) {
                ssize_t w = write(fd, buf + off, buf_len - off);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        die("write");
                }
                off += (size_t)w;
        }
        if (close(fd) < 0)
                die("close");
        if (rename(tmp, argv[1]) < 0)
                die("rename");

        free(buf);
        free(groups);
        free(fds);

        if (argc == 3)
                for (;;)
                        pause();
        return 0;
}
