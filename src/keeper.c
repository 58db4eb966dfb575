/* keeper.c: the keeper (tend-keeper), which holds fds by name across a
 * crash of tendd, and tendd's side of its socket. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "hashmap.h"
#include "keeper.h"
#include "log.h"
#include "posix-spawn.h"
#include "state.h"
#include "util.h"

extern char **environ;

/* How long either side waits for the other before giving up on it. */
#define KEEPER_TIMEOUT_MS 5000
/* Room for the parks of a start of thousands of services before the
 * keeper has read them (about 1 KiB each, the fd's reference included). */
#define KEEPER_SNDBUF (4 << 20)
/* fds read with one datagram; more is malformed (the kernel drops the rest). */
#define KEEPER_FDS_MAX 4
/* Requests handled per wakeup, so TERM and a new client are not starved. */
#define KEEPER_BATCH 256
/* The bound socket's name until it listens: a connect to the final name
 * never finds a socket that refuses (and would be removed as stale). */
#define KEEPER_SOCKET_NEW KEEPER_SOCKET ".new"

struct keeper {
        int fd;
};

static bool keeper_name_valid(const char *name, size_t len)
{
        if (len == 0 || len > KEEPER_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (name[i] <= ' ' || name[i] > '~') /* also every byte >= 0x80 */
                        return false;
        return true;
}

static void keeper_close_fds(int *fds, size_t n)
{
        for (size_t i = 0; i < n; i++)
                (void)close(fds[i]);
}

/* One datagram kind + name, with fd unless it is -1. */
static int keeper_send(int sock, char kind, const char *name, int fd, int flags)
{
        char buf[1 + KEEPER_NAME_MAX];
        size_t len = name ? strlen(name) : 0;

        if (len > KEEPER_NAME_MAX)
                return -EINVAL;
        buf[0] = kind;
        if (len > 0)
                memcpy(buf + 1, name, len);
        return send_fds(sock, buf, 1 + len, &fd, fd >= 0 ? 1 : 0, flags, NULL, 0);
}

/* One datagram into buf: its length (0: end of file), its fds (close-on-exec)
 * in fds and *n_fds. -EMSGSIZE if it was longer than size, -EMFILE if fds
 * were cut off (more than KEEPER_FDS_MAX, or no room for them here): the
 * datagram is gone and none of its fds is left open. */
static ssize_t keeper_recv(int sock, char *buf, size_t size, int fds[KEEPER_FDS_MAX], size_t *n_fds,
                           int flags)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(KEEPER_FDS_MAX * sizeof(int))];
        } c;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr m = { .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = c.buf,
                            .msg_controllen = sizeof c.buf };
        ssize_t n;

        *n_fds = 0;
        do
                n = recvmsg(sock, &m, flags | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
                size_t k;

                if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k && *n_fds < KEEPER_FDS_MAX; i++)
                        memcpy(&fds[(*n_fds)++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
        }
        if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                keeper_close_fds(fds, *n_fds);
                *n_fds = 0;
                return m.msg_flags & MSG_TRUNC ? -EMSGSIZE : -EMFILE;
        }
        return n;
}

/* Wait for events on sock, at most KEEPER_TIMEOUT_MS: 0 or -ETIMEDOUT. */
static int keeper_wait(int sock, short events)
{
        struct pollfd p = { .fd = sock, .events = events };
        int n;

        do
                n = poll(&p, 1, KEEPER_TIMEOUT_MS);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return n == 0 ? -ETIMEDOUT : 0;
}

/* The uid at the other end of sock is ours. */
static int keeper_check_peer(int sock)
{
        struct ucred cred;
        socklen_t len = sizeof cred;

        if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        return cred.uid == geteuid() ? 0 : -EPERM;
}

/* Room for thousands of requests (or answers) in flight: above the
 * system's cap where we may (root), else up to it. */
static void keeper_grow_sndbuf(int sock)
{
        int size = KEEPER_SNDBUF;

        if (setsockopt(sock, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
                (void)setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

/* name in the directory dfd as a socket address: through /proc/self/fd, so
 * that the directory's own path may be of any length. */
static int keeper_address(int dfd, const char *name, struct sockaddr_un *sa, socklen_t *len)
{
        int n;

        *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
        if (dfd == AT_FDCWD)
                n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s", name);
        else
                n = snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", dfd, name);
        if (n < 0 || (size_t)n >= sizeof sa->sun_path)
                return -ENAMETOOLONG;
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
        return 0;
}

/* A connection to the keeper listening in dfd: -ENOENT if there is no
 * socket, -ECONNREFUSED if nobody listens on it, -ELOOP for a symlink,
 * -ENOTSOCK for anything else that is not a socket, -EPERM if it or the
 * keeper is another user's. */
static int keeper_connect(int dfd, int *ret)
{
        static const struct timeval timeout = { .tv_sec = KEEPER_TIMEOUT_MS / 1000 };
        _cleanup_close_ int sock = -1;
        struct sockaddr_un sa;
        socklen_t len;
        struct stat st;
        int r;

        if (fstatat(dfd, KEEPER_SOCKET, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        if (st.st_uid != geteuid())
                return -EPERM;
        r = keeper_address(dfd, KEEPER_SOCKET, &sa, &len);
        if (r < 0)
                return r;
        sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (sock < 0)
                return -errno;
        /* A connect to a keeper that stopped accepting (its backlog full)
         * waits this long, then fails with EAGAIN. */
        (void)setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        while (connect(sock, (struct sockaddr *)&sa, len) < 0)
                if (errno != EINTR)
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
        r = keeper_check_peer(sock);
        if (r < 0)
                return r;
        *ret = TAKE_FD(sock);
        return 0;
}

/* fd moved above 4, where the child's dup2 onto 3 and 4 cannot overwrite it. */
static int keeper_fd_above_4(int *fd)
{
        int n;

        if (*fd > 4)
                return 0;
        n = fcntl(*fd, F_DUPFD_CLOEXEC, 5);
        if (n < 0)
                return -errno;
        (void)close(*fd);
        *fd = n;
        return 0;
}

/* Run exe as the keeper in a session of its own: listen_fd as fd 3, conn as
 * fd 4, /dev/null as stdin and stdout, our stderr for its log, no other fd,
 * no signal blocked or handled. Not waited for (tendd reaps it as an
 * unknown child). */
static int keeper_spawn(const char *exe, int listen_fd, int conn)
{
        char *argv[] = { (char *)"tend-keeper", (char *)KEEPER_OPTION, NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t all, none;
        pid_t pid;
        int r;

        (void)sigfillset(&all);
        (void)sigemptyset(&none);
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawnattr_init(&attr);
        if (r != 0) {
                (void)posix_spawn_file_actions_destroy(&fa);
                return -r;
        }
        if ((r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
            (r = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) != 0 ||
            (r = posix_spawn_file_actions_adddup2(&fa, listen_fd, 3)) != 0 ||
            (r = posix_spawn_file_actions_adddup2(&fa, conn, 4)) != 0 ||
            (r = posix_spawn_file_actions_addclosefrom_np(&fa, 5)) != 0 ||
            (r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
                                                         POSIX_SPAWN_SETSIGMASK)) != 0 ||
            (r = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
            (r = posix_spawnattr_setsigmask(&attr, &none)) != 0)
                goto out;
        r = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
out:
        (void)posix_spawnattr_destroy(&attr);
        (void)posix_spawn_file_actions_destroy(&fa);
        return -r;
}

/* A new keeper listening at KEEPER_SOCKET in dfd; our end of its first
 * connection in *ret. */
static int keeper_start(int dfd, const char *exe, int *ret)
{
        _cleanup_close_ int listen_fd = -1, conn = -1, theirs = -1;
        struct sockaddr_un sa;
        socklen_t len;
        int sv[2], r;

        r = keeper_address(dfd, KEEPER_SOCKET_NEW, &sa, &len);
        if (r < 0)
                return r;
        listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (listen_fd < 0)
                return -errno;
        /* Left by a start that failed half way (one tendd at a time). */
        (void)unlinkat(dfd, KEEPER_SOCKET_NEW, 0);
        if (bind(listen_fd, (struct sockaddr *)&sa, len) < 0)
                return -errno;
        /* Until the chmod another user may connect: the keeper refuses any
         * peer whose uid is not its own. */
        if (fchmodat(dfd, KEEPER_SOCKET_NEW, 0600, 0) < 0 || listen(listen_fd, 16) < 0 ||
            renameat(dfd, KEEPER_SOCKET_NEW, dfd, KEEPER_SOCKET) < 0) {
                r = -errno;
                (void)unlinkat(dfd, KEEPER_SOCKET_NEW, 0);
                return r;
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                r = -errno;
                goto fail;
        }
        conn = sv[0];
        theirs = sv[1];
        r = keeper_fd_above_4(&listen_fd);
        if (r >= 0)
                r = keeper_fd_above_4(&theirs);
        if (r >= 0)
                r = keeper_spawn(exe, listen_fd, theirs);
        if (r < 0)
                goto fail;
        *ret = TAKE_FD(conn);
        return 0;
fail:
        (void)unlinkat(dfd, KEEPER_SOCKET, 0);
        return r;
}

static int keeper_new(int fd, struct keeper **ret)
{
        struct keeper *k = malloc(sizeof *k);

        if (!k)
                return -ENOMEM;
        k->fd = fd;
        *ret = k;
        return 0;
}

/* See keeper.h. */
int keeper_open(int dfd, const char *exe, struct keeper **ret, bool *ret_found)
{
        _cleanup_close_ int fd = -1;
        bool found = true;
        int r;

        r = keeper_connect(dfd, &fd);
        if (r == -ECONNREFUSED) {
                /* A keeper that died (killed, or after bye) left its socket. */
                if (unlinkat(dfd, KEEPER_SOCKET, 0) < 0 && errno != ENOENT)
                        return -errno;
                r = -ENOENT;
        }
        if (r == -ENOENT) {
                found = false;
                r = keeper_start(dfd, exe, &fd);
        }
        if (r < 0)
                return r;
        keeper_grow_sndbuf(fd);
        r = keeper_new(fd, ret);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        if (ret_found)
                *ret_found = found;
        return 0;
}

/* See keeper.h. */
int keeper_park(struct keeper *k, const char *name, int fd)
{
        if (!keeper_name_valid(name, strlen(name)) || fd < 0)
                return -EINVAL;
        return keeper_send(k->fd, 'P', name, fd, MSG_DONTWAIT);
}

/* See keeper.h. */
int keeper_unpark(struct keeper *k, const char *name)
{
        if (!keeper_name_valid(name, strlen(name)))
                return -EINVAL;
        return keeper_send(k->fd, 'U', name, -1, MSG_DONTWAIT);
}

/* See keeper.h. Each answer must come within KEEPER_TIMEOUT_MS of the one
 * before; an 'F' that cannot be read whole (no fd free here) is skipped and
 * its error returned once 'E' came, so the connection stays in step. */
int keeper_take(struct keeper *k, keeper_take_cb cb, void *userdata)
{
        char buf[1 + KEEPER_NAME_MAX + 1];
        int fds[KEEPER_FDS_MAX], r, error = 0, count = 0;
        size_t n_fds;
        ssize_t n;

        r = keeper_send(k->fd, 'T', NULL, -1, MSG_DONTWAIT);
        if (r == -EAGAIN) {
                r = keeper_wait(k->fd, POLLOUT);
                if (r >= 0)
                        r = keeper_send(k->fd, 'T', NULL, -1, MSG_DONTWAIT);
        }
        if (r < 0)
                return r == -EAGAIN ? -ETIMEDOUT : r;
        for (;;) {
                n = keeper_recv(k->fd, buf, sizeof buf - 1, fds, &n_fds, MSG_DONTWAIT);
                if (n == -EAGAIN) {
                        r = keeper_wait(k->fd, POLLIN);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n == -EMSGSIZE || n == -EMFILE) {
                        error = error ?: (int)n;
                        continue;
                }
                if (n < 0)
                        return (int)n;
                if (n == 0)
                        return -ECONNRESET;
                if (n == 1 && buf[0] == 'E' && n_fds == 0)
                        return error ?: count;
                if (buf[0] == 'F' && n_fds == 1 && keeper_name_valid(buf + 1, (size_t)n - 1)) {
                        buf[n] = 0;
                        cb(buf + 1, fds[0], userdata);
                        count++;
                        continue;
                }
                keeper_close_fds(fds, n_fds);
                error = error ?: -EBADMSG;
        }
}

/* See keeper.h. */
int keeper_fd(const struct keeper *k)
{
        return k->fd;
}

/* After bye, wait (KEEPER_TIMEOUT_MS at most) for the keeper to close the
 * connection: by then it let everything go and no longer listens, so a
 * tendd started next starts a keeper of its own. */
static void keeper_wait_gone(int sock)
{
        char buf[1 + KEEPER_NAME_MAX];
        int fds[KEEPER_FDS_MAX];
        size_t n_fds;
        ssize_t n;

        for (;;) {
                n = keeper_recv(sock, buf, sizeof buf, fds, &n_fds, MSG_DONTWAIT);
                keeper_close_fds(fds, n_fds);
                if (n == -EAGAIN && keeper_wait(sock, POLLIN) >= 0)
                        continue;
                if (n > 0 || n == -EMSGSIZE || n == -EMFILE)
                        continue;
                return;
        }
}

/* See keeper.h. */
struct keeper *keeper_close(struct keeper *k, bool bye)
{
        int r;

        if (!k)
                return NULL;
        if (bye) {
                r = keeper_send(k->fd, 'B', NULL, -1, MSG_DONTWAIT);
                if (r == -EAGAIN && keeper_wait(k->fd, POLLOUT) >= 0)
                        r = keeper_send(k->fd, 'B', NULL, -1, MSG_DONTWAIT);
                if (r >= 0)
                        keeper_wait_gone(k->fd);
        }
        (void)close(k->fd);
        free(k);
        return NULL;
}

/* The records of the connection in the state, inside its tag. */
enum {
        KEEPER_STATE_FD = 1, /* fd: the connected socket */
};

/* See keeper.h. */
int keeper_state_put(const struct keeper *k, struct state_writer *w, uint16_t tag)
{
        size_t mark = state_begin(w, tag);

        state_put_fd(w, KEEPER_STATE_FD, k->fd);
        state_end(w, mark);
        return w->error; /* fds put twice: state_writer_finish(), once */
}

/* See keeper.h. */
int keeper_state_get(const struct state_reader *v, struct keeper **ret)
{
        _cleanup_close_ int fd = -1;
        struct state_reader r = *v, val;
        int type = 0, domain = 0, k;
        uint16_t tag;

        while ((k = state_next(&r, &tag, &val)) > 0) {
                if (tag == KEEPER_STATE_FD)
                        k = fd < 0 ? state_get_fd(&val, &fd) : -EBADMSG;
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        if (fd < 0)
                return -EBADMSG;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &(socklen_t){ sizeof type }) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &(socklen_t){ sizeof domain }) < 0 ||
            type != SOCK_SEQPACKET || domain != AF_UNIX)
                return -ENOTSOCK;
        k = keeper_new(fd, ret);
        if (k < 0)
                return k;
        TAKE_FD(fd);
        return 0;
}

/* The keeper's side. */

struct keeper_entry {
        int fd;
        size_t index; /* in keeper_server.entries */
        char name[];
};

struct keeper_server {
        int listen_fd, client_fd, signal_fd;
        struct hashmap *by_name;       /* name -> entry */
        struct keeper_entry **entries; /* in no order: a removal moves the last */
        size_t n_entries, cap_entries;
};

static void keeper_server_free(struct keeper_server *s)
{
        for (size_t i = 0; i < s->n_entries; i++) {
                (void)close(s->entries[i]->fd);
                free(s->entries[i]);
        }
        free(s->entries);
        s->entries = NULL;
        s->n_entries = s->cap_entries = 0;
        s->by_name = hashmap_free(s->by_name);
        s->listen_fd = safe_close(s->listen_fd);
        s->client_fd = safe_close(s->client_fd);
        s->signal_fd = safe_close(s->signal_fd);
}

/* Park fd under name (taking it), closing what was there. */
static int keeper_server_park(struct keeper_server *s, const char *name, int fd)
{
        struct keeper_entry *e = hashmap_get(s->by_name, name);
        size_t len = strlen(name);
        int r;

        if (e) {
                (void)close(e->fd);
                e->fd = fd;
                return 0;
        }
        if (s->n_entries == s->cap_entries) {
                size_t cap = s->cap_entries ? 2 * s->cap_entries : 64;
                struct keeper_entry **a = realloc(s->entries, cap * sizeof *a);

                if (!a)
                        return -ENOMEM;
                s->entries = a;
                s->cap_entries = cap;
        }
        e = malloc(sizeof *e + len + 1);
        if (!e)
                return -ENOMEM;
        memcpy(e->name, name, len + 1);
        r = hashmap_put(s->by_name, e->name, e);
        if (r < 0) {
                free(e);
                return r;
        }
        e->fd = fd;
        e->index = s->n_entries;
        s->entries[s->n_entries++] = e;
        return 0;
}

static void keeper_server_unpark(struct keeper_server *s, const char *name)
{
        struct keeper_entry *e = hashmap_remove(s->by_name, name);

        if (!e)
                return;
        s->entries[e->index] = s->entries[--s->n_entries];
        s->entries[e->index]->index = e->index;
        (void)close(e->fd);
        free(e);
}

static void keeper_server_drop(struct keeper_server *s)
{
        s->client_fd = safe_close(s->client_fd);
}

/* Answer 'T': a copy of every fd, then 'E'. A client that does not read
 * within KEEPER_TIMEOUT_MS (SO_SNDTIMEO) is dropped. */
static void keeper_server_take(struct keeper_server *s)
{
        int r = 0;

        for (size_t i = 0; i < s->n_entries && r >= 0; i++)
                r = keeper_send(s->client_fd, 'F', s->entries[i]->name, s->entries[i]->fd, 0);
        if (r >= 0)
                r = keeper_send(s->client_fd, 'E', NULL, -1, 0);
        if (r < 0) {
                log_warning_errno(r, "keeper: cannot answer take, dropping the client");
                keeper_server_drop(s);
        }
}

/* One request of len bytes in buf (room for one more), with its fds: 0 done
 * (the fds taken or closed), 1 bye, -EBADMSG malformed (*why says how; the
 * fds are the caller's), -ENOMEM. */
static int keeper_server_request(struct keeper_server *s, char *buf, size_t len, int *fds,
                                 size_t n_fds, const char **why)
{
        char kind = buf[0];
        bool named = kind == 'P' || kind == 'U';
        int r;

        if (kind != 'P' && kind != 'U' && kind != 'T' && kind != 'B') {
                *why = "unknown kind";
                return -EBADMSG;
        }
        if (n_fds != (kind == 'P' ? 1U : 0U)) {
                *why = kind == 'P' ? "a park without exactly one fd" : "fds with a request";
                return -EBADMSG;
        }
        if (named ? !keeper_name_valid(buf + 1, len - 1) : len != 1) {
                *why = named ? "a bad name" : "bytes after the kind";
                return -EBADMSG;
        }
        buf[len] = 0;
        switch (kind) {
        case 'P':
                r = keeper_server_park(s, buf + 1, fds[0]);
                if (r < 0)
                        *why = "out of memory";
                return r;
        case 'U':
                keeper_server_unpark(s, buf + 1);
                return 0;
        case 'T':
                keeper_server_take(s);
                return 0;
        default:
                return 1;
        }
}

/* Serve up to limit requests of the client, until it has none: 1 on bye. A
 * malformed request, an error or the end of file drops the client. */
static int keeper_server_read(struct keeper_server *s, size_t limit)
{
        char buf[1 + KEEPER_NAME_MAX + 1];
        int fds[KEEPER_FDS_MAX];
        const char *why = NULL;
        size_t n_fds;
        ssize_t n;
        int r;

        for (size_t i = 0; i < limit && s->client_fd >= 0; i++) {
                n = keeper_recv(s->client_fd, buf, sizeof buf - 1, fds, &n_fds, MSG_DONTWAIT);
                if (n == -EAGAIN)
                        return 0;
                if (n == 0) {
                        keeper_close_fds(fds, n_fds);
                        log_notice("keeper: the client went away, keeping %zu fds", s->n_entries);
                        keeper_server_drop(s);
                        return 0;
                }
                if (n < 0) {
                        why = n == -EMSGSIZE ? "a request too long"
                              : n == -EMFILE ? "fds of a request cut off (too many, or none free)"
                                             : "cannot read";
                        log_warning_errno((int)n, "keeper: %s, dropping the client", why);
                        keeper_server_drop(s);
                        return 0;
                }
                r = keeper_server_request(s, buf, (size_t)n, fds, n_fds, &why);
                if (r > 0)
                        return 1;
                if (r < 0) {
                        keeper_close_fds(fds, n_fds);
                        log_warning_errno(r == -EBADMSG ? 0 : r,
                                          "keeper: %s request (%s; kind %#x, %zd bytes, %zu "
                                          "fds), dropping the client",
                                          r == -EBADMSG ? "malformed" : "failed", why,
                                          (unsigned char)buf[0], n, n_fds);
                        keeper_server_drop(s);
                        return 0;
                }
        }
        return 0;
}

/* fd as the client: a peer of our uid, blocking (answers to a take wait for
 * room, KEEPER_TIMEOUT_MS at most), close-on-exec. */
static int keeper_server_client(int fd)
{
        static const struct timeval timeout = { .tv_sec = KEEPER_TIMEOUT_MS / 1000 };
        int flags, r;

        r = keeper_check_peer(fd);
        if (r < 0)
                return r;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) < 0)
                return -errno;
        keeper_grow_sndbuf(fd);
        return 0;
}

/* A new connection replaces the client: what the one before still had
 * queued (the parks of a tendd that crashed) is served first. 1 on bye. */
static int keeper_server_accept(struct keeper_server *s)
{
        _cleanup_close_ int fd = -1;
        int r;

        fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return errno == EAGAIN || errno == EINTR || errno == ECONNABORTED ? 0 : -errno;
        r = keeper_server_client(fd);
        if (r < 0) {
                log_warning_errno(r, "keeper: refused a client");
                return 0;
        }
        if (s->client_fd >= 0) {
                if (keeper_server_read(s, SIZE_MAX) > 0)
                        return 1;
                keeper_server_drop(s);
        }
        s->client_fd = TAKE_FD(fd);
        return 0;
}

/* See keeper.h. */
int keeper_main(int listen_fd, int conn_fd)
{
        struct keeper_server s = { .listen_fd = listen_fd, .client_fd = -1, .signal_fd = -1 };
        int listening = 0, r = 0;
        bool paused = false;
        struct rlimit rl;
        sigset_t term;

        log_open();
        /* What ps and top show, whichever program runs it (tend-keeper, or
         * tendd through /proc/self/exe, which would show as "exe"). */
        (void)prctl(PR_SET_NAME, "tend-keeper", 0, 0, 0);
        /* Every fd parked is one of ours: as many as we may. */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        (void)signal(SIGINT, SIG_IGN);
        (void)signal(SIGHUP, SIG_IGN);
        (void)signal(SIGPIPE, SIG_IGN);
        (void)sigemptyset(&term);
        (void)sigaddset(&term, SIGTERM);
        (void)sigprocmask(SIG_BLOCK, &term, NULL);
        if (chdir("/") < 0)
                (void)log_warning_errno(-errno, "keeper: cannot leave the working directory");
        if (getsockopt(listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
                       &(socklen_t){ sizeof listening }) < 0 ||
            !listening || fcntl(listen_fd, F_SETFD, FD_CLOEXEC) < 0) {
                log_error("keeper: fd %d is not a listening socket", listen_fd);
                (void)safe_close(conn_fd);
                return 1;
        }
        s.signal_fd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
        s.by_name = hashmap_new();
        if (s.signal_fd < 0 || !s.by_name) {
                r = log_error_errno(s.by_name ? -errno : -ENOMEM, "keeper: cannot start");
                keeper_server_free(&s);
                (void)safe_close(conn_fd);
                return 1;
        }
        if (conn_fd >= 0 && fcntl(conn_fd, F_GETFD) >= 0) {
                r = keeper_server_client(conn_fd);
                if (r < 0) {
                        log_warning_errno(r, "keeper: refused the first client");
                        (void)close(conn_fd);
                } else
                        s.client_fd = conn_fd;
        }

        for (;;) {
                struct pollfd p[3] = {
                        { .fd = s.signal_fd, .events = POLLIN },
                        { .fd = paused ? -1 : s.listen_fd, .events = POLLIN },
                        { .fd = s.client_fd, .events = POLLIN },
                };

                if (poll(p, ELEMENTSOF(p), paused ? 1000 : -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = log_error_errno(-errno, "keeper: poll");
                        break;
                }
                paused = false;
                if (p[0].revents) {
                        log_info("keeper: SIGTERM, letting %zu fds go", s.n_entries);
                        r = 0;
                        break;
                }
                if (p[2].revents && keeper_server_read(&s, KEEPER_BATCH) > 0) {
                        r = 0;
                        break;
                }
                if (p[1].revents) {
                        r = keeper_server_accept(&s);
                        if (r > 0) {
                                r = 0;
                                break;
                        }
                        if (r < 0) {
                                /* Out of fds or memory: try again in a while,
                                 * not in a busy loop. */
                                log_warning_errno(r, "keeper: cannot accept");
                                paused = true;
                        }
                }
        }
        /* Refuse new clients first: once the client sees its connection
         * close, a connect finds nobody listening. */
        s.listen_fd = safe_close(s.listen_fd);
        keeper_server_free(&s);
        return r < 0 ? 1 : 0;
}
