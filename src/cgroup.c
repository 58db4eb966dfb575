/* cgroup.c: tend's cgroup v2 subtree and the services' cgroups in it. */
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "cgroup.h"
#include "sys.h"
#include "util.h"

#define CGROUP_LEAF "supervisor"
/* A read of a cgroupfs file returns at most a page. */
#define CGROUP_READ_CHUNK 4096
#define CGROUP_UNIT_SUFFIX ".service"

/* See cgroup.h. */
ssize_t cgroup_read(int dfd, const char *file, char *buf, size_t size)
{
        _cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t n = 0;

        if (fd < 0)
                return -errno;
        while (n < size - 1) {
                ssize_t k = read(fd, buf + n, size - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t)k;
                /* cgroupfs fills a read as far as whole lines fit, at most a
                 * page: far short of both, this was the end (one read(), not
                 * two, for the small files). */
                if ((size_t)k + 64 < CGROUP_READ_CHUNK && (size_t)k + 64 < size - 1 - (n - (size_t)k))
                        break;
        }
        buf[n] = '\0';
        return (ssize_t)n;
}

static int cgroup_write(int dfd, const char *file, const char *text)
{
        _cleanup_close_ int fd = openat(dfd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t len = strlen(text);

        if (fd < 0)
                return -errno;
        if (write(fd, text, len) != (ssize_t)len)
                return -errno;
        return 0;
}

/* "\040" in a mountinfo field is a space: decode in place. */
static void cgroup_unescape(char *s)
{
        char *o = s;

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                        s += 3;
                } else
                        *o++ = *s;
        }
        *o = '\0';
}

/* The cgroup2 mount point holding path (the longest that is a prefix of it;
 * NULL path: the first one), allocated in *ret. */
static int cgroup_find_mount(const char *path, char **ret)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char *line = NULL, *best = NULL;
        size_t cap = 0, best_len = 0;

        if (!f)
                return -errno;
        while (getline(&line, &cap, f) > 0) {
                char mnt[4096], fstype[64];
                const char *dash = strstr(line, " - ");
                size_t len;

                if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1 ||
                    sscanf(dash + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0)
                        continue;
                cgroup_unescape(mnt);
                len = strlen(mnt);
                if (path && !(strncmp(path, mnt, len) == 0 &&
                              (path[len] == '/' || path[len] == '\0' || len == 1)))
                        continue;
                if (best && len <= best_len)
                        continue;
                free(best);
                best = strdup(mnt);
                best_len = len;
                if (!best)
                        break;
                if (!path)
                        break;
        }
        free(line);
        (void)fclose(f);
        if (!best)
                return -ENOENT;
        *ret = best;
        return 0;
}

/* tendd's own cgroup v2 path, as /proc/self/cgroup's "0::" line says. */
static int cgroup_own(char **ret)
{
        char buf[8192], *p;
        _cleanup_close_ int dfd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ssize_t n;

        if (dfd < 0)
                return -errno;
        n = cgroup_read(dfd, "cgroup", buf, sizeof buf);
        if (n < 0)
                return (int)n;
        p = strstr(buf, "0::");
        if (!p || (p != buf && p[-1] != '\n'))
                return -ENOENT;
        p += 3;
        p[strcspn(p, "\n")] = '\0';
        *ret = strdup(p);
        return *ret ? 0 : -ENOMEM;
}

/* Did systemd (or whoever made it) hand this cgroup over to us? */
static bool cgroup_delegated(const char *path)
{
        char v[8];
        ssize_t n = getxattr(path, "trusted.delegate", v, sizeof v - 1);

        if (n < 0)
                n = getxattr(path, "user.delegate", v, sizeof v - 1);
        if (n > 0) {
                v[n] = '\0';
                return strcmp(v, "1") == 0;
        }
        /* Not root: being able to write it is what delegation means. */
        return geteuid() != 0 && access(path, W_OK) == 0;
}

/* The reason, then strerror(-r) in parentheses, in why; returns r. */
static int cgroup_fail(char *why, size_t why_len, int r, const char *fmt, ...) _printf_(4, 5);

static int cgroup_fail(char *why, size_t why_len, int r, const char *fmt, ...)
{
        va_list ap;
        size_t n;

        va_start(ap, fmt);
        (void)vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
        n = strnlen(why, why_len);
        (void)snprintf(why + n, why_len - n, " (%s)", strerror(-r));
        return r;
}

/* The absolute path of the subtree, and the part below the mount. */
static int cgroup_locate(const char *configured, char **ret_path, char **ret_rel, char *why,
                         size_t why_len)
{
        _cleanup_free_ char *mnt = NULL, *own = NULL;
        int r;

        if (configured) {
                if (configured[0] != '/')
                        return cgroup_fail(why, why_len, -EINVAL, "%s: not an absolute path",
                                           configured);
                /* As the kernel shows it: no "//", "." or trailing "/", or
                 * the match against /proc/PID/cgroup would fail. */
                *ret_path = strdup(configured);
                if (!*ret_path)
                        return -ENOMEM;
                path_simplify(*ret_path);
                r = cgroup_find_mount(*ret_path, &mnt);
                if (r < 0)
                        return cgroup_fail(why, why_len, r, "%s: not under a cgroup2 mount",
                                           configured);
                *ret_rel = strdup(*ret_path + (strlen(mnt) == 1 ? 0 : strlen(mnt)));
                if (*ret_rel && !**ret_rel) {
                        free(*ret_rel);
                        *ret_rel = strdup("/");
                }
                return *ret_rel ? 0 : -ENOMEM;
        }
        r = cgroup_find_mount(NULL, &mnt);
        if (r < 0)
                return cgroup_fail(why, why_len, r, "no cgroup2 mount");
        r = cgroup_own(&own);
        if (r < 0)
                return cgroup_fail(why, why_len, r, "cannot read /proc/self/cgroup");
        if (strcmp(own, "/") == 0) {
                (void)snprintf(why, why_len, "tendd runs in the root cgroup, which is not "
                               "delegated to it; set cgroup in [tend] or run it under "
                               "Delegate=yes");
                return -EPERM;
        }
        if (asprintf(ret_path, "%s%s", strcmp(mnt, "/") == 0 ? "" : mnt, own) < 0)
                return -ENOMEM;
        *ret_rel = TAKE_PTR(own);
        if (!cgroup_delegated(*ret_path)) {
                (void)snprintf(why, why_len, "tendd's cgroup %s is not delegated to it; run it "
                               "under Delegate=yes or set cgroup in [tend]", *ret_path);
                return -EPERM;
        }
        return 0;
}

/* See cgroup.h. */
int cgroup_tree_open(const char *configured, struct cgroup_tree **ret, char *why, size_t why_len)
{
        struct cgroup_tree *t = calloc(1, sizeof *t);
        struct statfs sfs;
        int r;

        if (!t)
                return -ENOMEM;
        t->dfd = -1;
        r = cgroup_locate(configured, &t->path, &t->rel, why, why_len);
        if (r >= 0 && configured && mkdir(t->path, 0755) < 0 && errno != EEXIST)
                r = cgroup_fail(why, why_len, -errno, "%s: cannot make it", t->path);
        if (r >= 0) {
                t->dfd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (t->dfd < 0)
                        r = cgroup_fail(why, why_len, -errno, "%s", t->path);
        }
        if (r >= 0 && (fstatfs(t->dfd, &sfs) < 0 || sfs.f_type != CGROUP2_SUPER_MAGIC))
                r = cgroup_fail(why, why_len, -ENOTDIR, "%s: not a cgroup2 directory",
                                t->path);
        if (r >= 0 && faccessat(t->dfd, "cgroup.procs", W_OK, 0) < 0)
                r = cgroup_fail(why, why_len, -errno, "%s: cannot write its cgroup.procs",
                                t->path);
        if (r < 0) {
                cgroup_tree_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

/* See cgroup.h. */
int cgroup_tree_enter(struct cgroup_tree *t)
{
        _cleanup_close_ int leaf = -1;

        if (mkdirat(t->dfd, CGROUP_LEAF, 0755) < 0 && errno != EEXIST)
                return -errno;
        leaf = openat(t->dfd, CGROUP_LEAF, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (leaf < 0)
                return -errno;
        return cgroup_write(leaf, "cgroup.procs", "0");
}

struct cgroup_tree *cgroup_tree_free(struct cgroup_tree *t)
{
        if (!t)
                return NULL;
        safe_close(t->dfd);
        free(t->path);
        free(t->rel);
        free(t);
        return NULL;
}

static int cgroup_unit_dir(const char *name, char buf[static 256])
{
        int n = snprintf(buf, 256, "%s" CGROUP_UNIT_SUFFIX, name);

        return n > 0 && n < 256 ? 0 : -ENAMETOOLONG;
}

/* See cgroup.h. */
int cgroup_unit_open(const struct cgroup_tree *t, const char *name, int *ret_dfd)
{
        char dir[256];
        int r = cgroup_unit_dir(name, dir), fd;

        if (r < 0)
                return r;
        if (mkdirat(t->dfd, dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(t->dfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        *ret_dfd = fd;
        return 0;
}

/* See cgroup.h. */
int cgroup_unit_remove(const struct cgroup_tree *t, const char *name)
{
        char dir[256];
        int r = cgroup_unit_dir(name, dir);

        if (r < 0)
                return r;
        if (unlinkat(t->dfd, dir, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* See cgroup.h. */
int cgroup_unit_populated(int dfd)
{
        char buf[256], *p;
        ssize_t n = cgroup_read(dfd, "cgroup.events", buf, sizeof buf);

        if (n < 0)
                return (int)n;
        p = strstr(buf, "populated ");
        if (!p)
                return -EBADMSG;
        return p[strlen("populated ")] == '1';
}

/* See cgroup.h. */
int cgroup_unit_watch(const struct cgroup_tree *t, const char *name, int ino)
{
        char path[PATH_MAX];
        int wd;

        if (snprintf(path, sizeof path, "%s/%s" CGROUP_UNIT_SUFFIX "/cgroup.events", t->path,
                     name) >= (int)sizeof path)
                return -ENAMETOOLONG;
        wd = inotify_add_watch(ino, path, IN_MODIFY);
        return wd < 0 ? -errno : wd;
}

/* Is the process behind pidfd (pid) in the cgroup rel/dir? */
static bool cgroup_holds(const char *rel, const char *dir, pid_t pid)
{
        char path[64], buf[4096], want[4096 + 256];
        _cleanup_close_ int pdfd = -1;
        const char *hit;
        ssize_t n;

        (void)snprintf(path, sizeof path, "/proc/%d", (int)pid);
        pdfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pdfd < 0)
                return false;
        n = cgroup_read(pdfd, "cgroup", buf, sizeof buf);
        if (n < 0)
                return false;
        (void)snprintf(want, sizeof want, "0::%s/%s\n", strcmp(rel, "/") == 0 ? "" : rel, dir);
        hit = strstr(buf, want);
        return hit && (hit == buf || hit[-1] == '\n');
}

/* One pid of cgroup.procs: through main_pidfd if it is main, else through
 * a pidfd opened and checked. True if it was signalled. */
static bool cgroup_signal_one(const struct cgroup_tree *t, const char *dir, pid_t pid, int sig,
                              pid_t main, int main_pidfd)
{
        _cleanup_close_ int pidfd = -1;

        if (pid == main && main_pidfd >= 0)
                return sys_pidfd_send_signal(main_pidfd, sig, false) == 0;
        pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0 || !cgroup_holds(t->rel, dir, pid))
                return false;
        return sys_pidfd_send_signal(pidfd, sig, false) == 0;
}

/* Signal each process cgroup.procs lists. Read into a small buffer first:
 * most cgroups hold a process or two. */
static int cgroup_signal_each(const struct cgroup_tree *t, const char *dir, int dfd, int sig,
                              pid_t main, int main_pidfd)
{
        char small[512], *buf = small;
        _cleanup_free_ char *big = NULL;
        size_t cap = sizeof small;
        bool any = false, got_main = false;
        ssize_t n;

        for (;;) {
                n = cgroup_read(dfd, "cgroup.procs", buf, cap);
                if (n < 0)
                        return (int)n;
                if ((size_t)n < cap - 1 || cap >= (64U << 20))
                        break;
                free(big);
                cap *= 16;
                big = malloc(cap);
                if (!big)
                        return -ENOMEM;
                buf = big;
        }
        for (char *p = buf, *end; *p; p = end) {
                long pid = strtol(p, &end, 10);

                if (end == p)
                        break;
                while (*end == '\n')
                        end++;
                if (cgroup_signal_one(t, dir, (pid_t)pid, sig, main, main_pidfd)) {
                        any = true;
                        got_main |= pid == main;
                }
        }
        return got_main ? 1 : any ? 0 : -ESRCH;
}

/* See cgroup.h. */
int cgroup_unit_signal(const struct cgroup_tree *t, const char *name, int dfd, int sig,
                       pid_t main, int main_pidfd)
{
        char dir[256];
        int r = cgroup_unit_dir(name, dir);

        if (r < 0)
                return r;
        if (sig == SIGKILL) {
                r = cgroup_unit_populated(dfd);
                if (r == 0)
                        return -ESRCH;
                r = cgroup_write(dfd, "cgroup.kill", "1");
                if (r != -ENOENT)
                        return r; /* before 5.14 there is no cgroup.kill: one by one */
        }
        return cgroup_signal_each(t, dir, dfd, sig, main, main_pidfd);
}
