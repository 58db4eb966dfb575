/* util.c: fd, time, string, string-vector and path helpers. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

/* Close fd if open; always returns -1. */
int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;
                (void)close(fd);
                errno = saved;
        }
        return -1;
}

static usec_t now_clock(clockid_t id)
{
        struct timespec ts;

        (void)clock_gettime(id, &ts);
        return (usec_t)ts.tv_sec * USEC_PER_SEC + (usec_t)ts.tv_nsec / 1000;
}

/* CLOCK_MONOTONIC in microseconds. */
usec_t now_monotonic(void)
{
        return now_clock(CLOCK_MONOTONIC);
}

/* CLOCK_REALTIME in microseconds. */
usec_t now_realtime(void)
{
        return now_clock(CLOCK_REALTIME);
}

/* Free a string vector and its strings; returns NULL. */
char **strv_free(char **v)
{
        if (!v)
                return NULL;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
        return NULL;
}

/* Number of strings in v (0 for NULL). */
size_t strv_length(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

/* Append s, taking ownership; frees s on failure. */
int strv_push(char ***v, char *s)
{
        size_t n = strv_length(*v);
        char **nv;

        if (!s)
                return -ENOMEM;
        nv = realloc(*v, (n + 2) * sizeof(char *));
        if (!nv) {
                free(s);
                return -ENOMEM;
        }
        nv[n] = s;
        nv[n + 1] = NULL;
        *v = nv;
        return 0;
}

/* See util.h. */
int strv_append(char ***v, size_t *n, size_t *cap, char *s)
{
        if (!s)
                return -ENOMEM;
        if (*n + 2 > *cap) {
                size_t c = *cap ? 2 * *cap : 16;
                char **nv = realloc(*v, c * sizeof(char *));

                if (!nv) {
                        free(s);
                        return -ENOMEM;
                }
                *v = nv;
                *cap = c;
        }
        (*v)[(*n)++] = s;
        (*v)[*n] = NULL;
        return 0;
}

/* Append a copy of s. */
int strv_extend(char ***v, const char *s)
{
        return strv_push(v, strdup(s));
}

/* True if both vectors hold the same strings in the same order. */
bool strv_equal(char *const *a, char *const *b)
{
        size_t i;

        for (i = 0; a && b && a[i] && b[i]; i++)
                if (strcmp(a[i], b[i]) != 0)
                        return false;
        return (!a || !a[i]) && (!b || !b[i]);
}

/* See util.h. */
bool strv_contains(char *const *v, const char *s)
{
        for (; v && *v; v++)
                if (strcmp(*v, s) == 0)
                        return true;
        return false;
}

/* Deep copy; NULL in gives an empty vector; NULL on OOM. */
char **strv_copy(char *const *v)
{
        size_t n = strv_length(v);
        char **c = calloc(n + 1, sizeof(char *));

        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(v[i]);
                if (!c[i])
                        return strv_free(c);
        }
        return c;
}

/* Write all of buf to fd, retrying on EINTR and short writes. */
int loop_write(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                len -= (size_t)k;
        }
        return 0;
}

/* True for a non-empty string of ASCII digits only. */
bool string_is_digits(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

/* See util.h. */
char *string_strip(char *s)
{
        size_t n;

        while (ascii_isspace(*s))
                s++;
        n = strlen(s);
        while (n > 0 && ascii_isspace(s[n - 1]))
                s[--n] = 0;
        return s;
}

/* See util.h. */
void path_simplify(char *p)
{
        char *out = p, *in = p;
        bool absolute = *p == '/';

        while (*in) {
                size_t n;

                while (*in == '/')
                        in++;
                n = strcspn(in, "/");
                if (n == 0 || (n == 1 && in[0] == '.')) {
                        in += n;
                        continue;
                }
                if (out > p || absolute)
                        *out++ = '/';
                memmove(out, in, n);
                out += n;
                in += n;
        }
        if (out == p)
                *out++ = absolute ? '/' : '.';
        *out = 0;
}

/* See util.h. */
char *path_join(const char *dir, const char *rel)
{
        char *p;

        if (rel[0] == '/' || !dir || !*dir)
                p = strdup(rel);
        else if (asprintf(&p, "%s/%s", dir, rel) < 0)
                p = NULL;
        if (p)
                path_simplify(p);
        return p;
}

/* See util.h. */
char *path_dirname(const char *path)
{
        const char *slash = strrchr(path, '/');

        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t)(slash - path));
}

/* Create every missing directory above path with mode. */
int mkdir_parents(const char *path, mode_t mode)
{
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
        }
        return 0;
}

/* Parents 0755, then path itself with mode. */
int mkdir_p(const char *path, mode_t mode)
{
        int r = mkdir_parents(path, 0755);

        if (r < 0)
                return r;
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* See util.h. */
bool ratelimit_below(struct ratelimit *rl, usec_t now, unsigned *ret_suppressed)
{
        *ret_suppressed = 0;
        if (rl->begin == 0 || now - rl->begin >= rl->interval) {
                *ret_suppressed = rl->suppressed;
                rl->begin = now;
                rl->n = 0;
                rl->suppressed = 0;
        }
        if (rl->n < rl->burst) {
                rl->n++;
                return true;
        }
        rl->suppressed++;
        return false;
}

/* See util.h. */
int lockfile_acquire(const char *path)
{
        int fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
                      0600);

        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                (void)close(fd);
                return r;
        }
        return fd;
}

static int fd_reserve[FD_RESERVE];
static unsigned fd_reserve_held;

/* See util.h. O(1) while the reserve is whole: no system call on a spawn. */
int fd_reserve_fill(void)
{
        while (fd_reserve_held < FD_RESERVE) {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return -errno;
                fd_reserve[fd_reserve_held++] = fd;
        }
        return 0;
}

/* See util.h. */
unsigned fd_reserve_release(void)
{
        unsigned n = fd_reserve_held;

        while (fd_reserve_held > 0)
                (void)close(fd_reserve[--fd_reserve_held]);
        return n;
}

/* See util.h. */
int send_fds(int sock, const void *buf, size_t len, const int *fds, size_t n_fds, int flags,
             const struct sockaddr *to, unsigned to_len)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * SEND_FDS_MAX)];
        } control = {};
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
        struct msghdr mh = {
                .msg_name = (void *)to,
                .msg_namelen = to ? to_len : 0,
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };

        if (n_fds > SEND_FDS_MAX)
                return -EINVAL;
        if (n_fds > 0) {
                struct cmsghdr *c;

                mh.msg_control = &control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        while (sendmsg(sock, &mh, flags | MSG_NOSIGNAL) < 0)
                if (errno != EINTR)
                        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        return 0;
}
