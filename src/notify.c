/* notify.c: sd_notify datagrams from services, authenticated by sender. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>

#include "closer.h"
#include "log.h"
#include "notify.h"
#include "parse.h"
#include "pidfd.h"
#include "state.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

#ifndef PIDFS_MAGIC
#define PIDFS_MAGIC 0x50494446
#endif

#define NOTIFY_BUFFER_MAX 4096 /* as systemd: PIPE_BUF */
/* The kernel's SCM_MAX_FD: room for every fd one datagram can carry. Any the
 * control buffer had no room for would be released by the kernel in tendd's
 * own context, where a lingering socket's close sleeps. */
#define NOTIFY_FD_MAX 253
#define NOTIFY_BATCH 64 /* datagrams per wakeup, so a flood cannot hold the loop */
/* Lines about dropped datagrams: anyone may send them, as fast as they like. */
#define NOTIFY_LOG_INTERVAL (5 * USEC_PER_SEC)
#define NOTIFY_LOG_BURST 5

struct notify {
        struct manager *manager;
        int fd;
        char *path;
        ev_io io;
        struct ratelimit log_limit;
};

static bool notify_key(const char *line, const char *key, const char **ret_value)
{
        size_t n = strlen(key);

        if (strncmp(line, key, n) != 0 || line[n] != '=')
                return false;
        *ret_value = line + n + 1;
        return true;
}

/* Parse one datagram; see notify.h. */
int notify_parse(char *buf, size_t len, struct service_notify_msg *msg)
{
        char *line = buf, *end = buf + len;
        unsigned known = 0;

        *msg = (struct service_notify_msg){ .mainpid_fd = -1 };
        while (line < end) {
                char *nl = memchr(line, '\n', (size_t)(end - line));
                const char *v;
                uint64_t u;

                if (nl)
                        *nl = '\0';
                else
                        *end = '\0'; /* buf has room for the terminator */
                if (notify_key(line, "READY", &v) && strcmp(v, "1") == 0)
                        msg->ready = true, known++;
                else if (notify_key(line, "RELOADING", &v) && strcmp(v, "1") == 0)
                        msg->reloading = true, known++;
                else if (notify_key(line, "STOPPING", &v) && strcmp(v, "1") == 0)
                        msg->stopping = true, known++;
                else if (notify_key(line, "WATCHDOG", &v) && strcmp(v, "1") == 0)
                        msg->watchdog = true, known++;
                else if (notify_key(line, "WATCHDOG", &v) && strcmp(v, "trigger") == 0)
                        msg->watchdog_trigger = true, known++;
                else if (notify_key(line, "STATUS", &v))
                        msg->status = v, known++;
                else if (notify_key(line, "ERRNO", &v) && parse_u64(v, false, &u) == 0 &&
                         u < 4096)
                        msg->has_errno = true, msg->errno_value = (int)u, known++;
                else if (notify_key(line, "WATCHDOG_USEC", &v) && parse_u64(v, false, &u) == 0)
                        msg->has_watchdog_usec = true, msg->watchdog_usec = u, known++;
                else if (notify_key(line, "EXTEND_TIMEOUT_USEC", &v) &&
                         parse_u64(v, false, &u) == 0)
                        msg->has_extend = true, msg->extend_usec = u, known++;
                else if (notify_key(line, "MAINPID", &v) && parse_u64(v, false, &u) == 0 &&
                         u > 0 && u < INT32_MAX)
                        msg->mainpid = (pid_t)u, known++;
                else if (notify_key(line, "BARRIER", &v))
                        known++; /* the passed fd is closed after handling: that is the answer */
                if (!nl)
                        break;
                line = nl + 1;
        }
        return known > 0 ? 0 : -EINVAL;
}

/* Two pidfds for the same process? On pidfs (6.9) every process has its own
 * inode; on older kernels all pidfds share one, which proves nothing. */
static bool notify_same_process(int a, int b)
{
        struct statfs sfs;
        struct stat sa, sb;

        if (a < 0 || b < 0 || fstatfs(a, &sfs) < 0 || sfs.f_type != PIDFS_MAGIC)
                return false;
        return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
               sa.st_ino == sb.st_ino;
}

/* Which live service sent this? The real sender (its pidfd) must be in the
 * session of a service's spawned process. A sender already reaped counts only
 * if it was that service's main process (the same pidfs inode): a claimed pid
 * in the credentials alone proves nothing, root may claim any. */
static struct service *notify_attribute(struct manager *m, int sender_pidfd,
                                        const struct ucred *cred)
{
        struct service *s;
        pid_t pid, sid;

        if (sender_pidfd >= 0) {
                int r = pidfd_session(sender_pidfd, &pid, &sid);
                if (r >= 0)
                        return manager_find_by_session(m, sid);
                if (r != -ESRCH || !cred)
                        return NULL;
                s = manager_find_by_session(m, cred->pid);
                return s && s->pid == cred->pid && notify_same_process(sender_pidfd, s->pidfd)
                               ? s
                               : NULL;
        }
        /* No SO_PASSPIDFD (kernel < 6.5): /proc by number, the best there is. */
        if (cred && proc_session_of(cred->pid, &sid) >= 0)
                return manager_find_by_session(m, sid);
        return NULL;
}

/* MAINPID=: open the named process as a pidfd and accept it only inside the service. */
static int notify_open_mainpid(struct service *s, pid_t pid)
{
        _cleanup_close_ int fd = -1;
        pid_t real, sid;

        fd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0)
                return -errno;
        if (pidfd_session(fd, &real, &sid) < 0 || real != pid || sid != s->sid)
                return -EPERM;
        return TAKE_FD(fd);
}

/* Log about a datagram dropped before it reached a service, rate limited
 * (any local user can send them) and attributed to the sender as the kernel
 * names it. */
static void notify_log_dropped(struct notify *n, const struct ucred *cred, const char *why)
{
        unsigned suppressed;

        if (!ratelimit_below(&n->log_limit, now_monotonic(), &suppressed))
                return;
        if (suppressed > 0)
                log_warning("notify: %u more dropped messages not logged", suppressed);
        if (cred)
                log_warning("notify: dropped %s from pid %d (uid %u)", why, (int)cred->pid,
                            (unsigned)cred->uid);
        else
                log_warning("notify: dropped %s from an unknown sender", why);
}

static void notify_handle_one(struct notify *n)
{
        char buf[NOTIFY_BUFFER_MAX + 1];
        union {
                struct cmsghdr h;
                uint8_t b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) +
                          CMSG_SPACE(sizeof(int) * NOTIFY_FD_MAX)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf - 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof control,
        };
        struct ucred *cred = NULL;
        int fds[sizeof control / sizeof(int)], n_fds = 0, pidfd = -1;
        struct service_notify_msg msg;
        struct service *s;
        ssize_t len;

        len = recvmsg(n->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
        if (len < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning_errno(-errno, "notify socket");
                return;
        }
        /* Every fd the kernel installed is ours to close, whatever the count. */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET)
                        continue;
                if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                        cred = (struct ucred *)CMSG_DATA(c);
                else if (c->cmsg_type == SCM_PIDFD && c->cmsg_len == CMSG_LEN(sizeof(int)))
                        memcpy(&pidfd, CMSG_DATA(c), sizeof(int));
                else if (c->cmsg_type == SCM_RIGHTS) {
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < k && (size_t)n_fds < ELEMENTSOF(fds); i++)
                                memcpy(&fds[n_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                }
        }

        if ((size_t)len >= sizeof buf || (mh.msg_flags & MSG_TRUNC)) {
                notify_log_dropped(n, cred, "an oversized message");
                goto done;
        }
        if (mh.msg_flags & MSG_CTRUNC) {
                notify_log_dropped(n, cred, "a message with truncated credentials or fds");
                goto done;
        }
        s = notify_attribute(n->manager, pidfd, cred);
        if (!s) {
                log_debug("notify: dropped a message from pid %d: not part of any service",
                          cred ? (int)cred->pid : -1);
                goto done;
        }
        if (s->config->type != SERVICE_NOTIFY) {
                log_service(LOG_DEBUG, s->name, "notify message ignored: not type=notify");
                goto done;
        }
        if (notify_parse(buf, (size_t)len, &msg) < 0)
                goto done;
        if (msg.mainpid > 0) {
                int fd = notify_open_mainpid(s, msg.mainpid);
                if (fd < 0)
                        log_service(LOG_WARNING, s->name,
                                    "MAINPID=%d rejected: not a process of this service",
                                    (int)msg.mainpid);
                else
                        msg.mainpid_fd = fd;
        }
        service_handle_notify(s, &msg);
        msg.mainpid_fd = safe_close(msg.mainpid_fd);
done:
        /* Passed fds are not used (BARRIER=1's answer is their close), and
         * closing one can block as long as its sender likes: off the loop. */
        for (int i = 0; i < n_fds; i++)
                closer_close(fds[i]);
        (void)safe_close(pidfd);
}

static void notify_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        struct notify *n = container_of(w, struct notify, io);

        for (int i = 0; i < NOTIFY_BATCH; i++) {
                int pending = 0;
                notify_handle_one(n);
                if (ioctl(n->fd, FIONREAD, &pending) < 0 || pending == 0)
                        break;
        }
}

/* The bound socket in n->fd (its options set) watched in the loop, its path
 * what type = notify services are given. */
static void notify_watch(struct notify *n)
{
        n->manager->host.notify_path = n->path;
        ev_io_init(&n->io, notify_io_cb, n->fd, EV_READ);
        /* Before pidfd events of the same iteration: a READY=1 sent just
         * before exiting is seen before the exit. */
        ev_set_priority(&n->io, EV_MAXPRI);
        ev_io_start(n->manager->loop, &n->io);
}

/* Bind the notify socket and watch it. */
int notify_new(struct manager *m, const char *path, struct notify **ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct notify *n;
        static const int one = 1;
        int r;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->manager = m;
        n->log_limit = (struct ratelimit){ .interval = NOTIFY_LOG_INTERVAL, .burst = NOTIFY_LOG_BURST };
        n->path = strdup(path);
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (!n->path || n->fd < 0) {
                r = n->path ? -errno : -ENOMEM;
                goto fail;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        (void)unlink(path);
        if (bind(n->fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0666) < 0 ||
            setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
                r = -errno;
                goto fail;
        }
        /* The sender's pidfd, where the kernel has it (6.5): no pid-reuse race. */
        (void)setsockopt(n->fd, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof one);
        notify_watch(n);
        *ret = n;
        return 0;
fail:
        if (n->fd >= 0)
                (void)close(n->fd);
        free(n->path);
        free(n);
        return r;
}

/* The records of the notify socket in the state, inside its tag. */
enum {
        NOTIFY_STATE_FD = 1,   /* fd: the bound socket */
        NOTIFY_STATE_PATH = 2, /* str: where it is bound */
};

/* See notify.h. */
int notify_state_put(const struct notify *n, struct state_writer *w, uint16_t tag)
{
        size_t mark = state_begin(w, tag);

        state_put_fd(w, NOTIFY_STATE_FD, n->fd);
        state_put_str(w, NOTIFY_STATE_PATH, n->path);
        state_end(w, mark);
        return w->error; /* fds put twice: state_writer_finish(), once */
}

/* See notify.h. */
int notify_new_from_state(struct manager *m, const struct state_reader *v, struct notify **ret)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *path = NULL;
        struct state_reader r = *v, val;
        uint16_t tag;
        int k;

        while ((k = state_next(&r, &tag, &val)) > 0) {
                if (tag == NOTIFY_STATE_FD && fd < 0)
                        k = state_get_fd(&val, &fd);
                else if (tag == NOTIFY_STATE_PATH && !path)
                        k = state_get_str(&val, &path);
                else if (tag == NOTIFY_STATE_FD || tag == NOTIFY_STATE_PATH)
                        k = -EBADMSG;
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        if (fd < 0 || !path)
                return -EBADMSG;
        return notify_new_from_fd(m, TAKE_FD(fd), path, ret);
}

/* See notify.h. */
int notify_new_from_fd(struct manager *m, int fd, const char *path, struct notify **ret)
{
        _cleanup_close_ int owned = fd;
        struct sockaddr_un sa = {};
        socklen_t salen = sizeof sa;
        int type = 0, domain = 0;
        socklen_t len = sizeof type;
        struct notify *n;

        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &(socklen_t){ sizeof domain }) < 0 ||
            type != SOCK_DGRAM || domain != AF_UNIX)
                return -ENOTSOCK;
        if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
                return -errno;
        if (salen <= offsetof(struct sockaddr_un, sun_path) ||
            strnlen(sa.sun_path, sizeof sa.sun_path) == sizeof sa.sun_path ||
            strcmp(sa.sun_path, path) != 0)
                return -EADDRNOTAVAIL;
        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->manager = m;
        n->log_limit =
                (struct ratelimit){ .interval = NOTIFY_LOG_INTERVAL, .burst = NOTIFY_LOG_BURST };
        n->path = strdup(path);
        if (!n->path) {
                free(n);
                return -ENOMEM;
        }
        n->fd = TAKE_FD(owned);
        /* SO_PASSCRED and SO_PASSPIDFD are the socket's, non-blocking the open
         * file's: all still set. The last is cheap to make sure of. */
        (void)fcntl(n->fd, F_SETFL, fcntl(n->fd, F_GETFL) | O_NONBLOCK);
        notify_watch(n);
        *ret = n;
        return 0;
}

/* See notify.h. */
int notify_fd(const struct notify *n)
{
        return n ? n->fd : -1;
}

/* Stop watching, close and unlink. NULL-safe. */
struct notify *notify_free(struct notify *n)
{
        if (!n)
                return NULL;
        ev_io_stop(n->manager->loop, &n->io);
        (void)close(n->fd);
        (void)unlink(n->path);
        if (n->manager->host.notify_path == n->path)
                n->manager->host.notify_path = NULL;
        free(n->path);
        free(n);
        return NULL;
}

/* "notify.sock" in the control socket's directory. */
int notify_default_path(const char *control_socket, char **ret)
{
        const char *slash = strrchr(control_socket, '/');
        int k;

        if (slash)
                k = asprintf(ret, "%.*s/notify.sock", (int)(slash - control_socket), control_socket);
        else
                k = asprintf(ret, "notify.sock");
        return k < 0 ? -ENOMEM : 0;
}
