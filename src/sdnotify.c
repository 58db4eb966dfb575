/* sdnotify.c: READY/STATUS/RELOADING/STOPPING/WATCHDOG to systemd. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "intmap.h"
#include "log.h"
#include "manager.h"
#include "pidfd.h"
#include "sdnotify.h"
#include "service.h"
#include "state.h"

struct sdnotify {
        struct manager *manager;
        int fd;
        struct sockaddr_un addr;
        socklen_t addr_len;
        bool started;    /* manager_start() is done */
        bool ready_sent; /* the first READY=1 (by this image or the one before) */
        bool restored;   /* ready_sent came from the image before: READY=1 at start */
        bool send_failed; /* reported; quiet until a send works */
        char status[256];
        /* The fd store: on when $FDSTORE (systemd 254+ sets it to
         * FileDescriptorStoreMax=; tend.service sets it for older ones) is
         * more than 0. Service -> pidfs inode of the pidfd parked for it. */
        bool fdstore;
        struct intmap *stored;
        ev_prepare prepare; /* recount once per iteration, not per transition */
        ev_timer watchdog;
        struct manager_listener listener;
};

static void sdnotify_state_changed(struct sdnotify *n);
static void sdnotify_phase(enum manager_phase phase, void *userdata);

static void sdnotify_fdstore_update(struct sdnotify *n, struct service *s);
static void sdnotify_fdstore_removed(struct service *s, void *userdata);

static void sdnotify_service_changed(struct service *s, enum service_state old, void *userdata)
{
        sdnotify_fdstore_update(userdata, s);
        sdnotify_state_changed(userdata);
}

int sdnotify_send(struct sdnotify *n, const char *msg)
{
        return n ? sdnotify_send_fds(n, msg, NULL, 0) : 0;
}

static void sdnotify_update(struct sdnotify *n)
{
        struct manager *m = n->manager;
        const size_t *count = m->n_in_state;
        bool settled = true;
        char status[sizeof n->status], msg[sizeof n->status + 32];

        /* Only until READY=1 is out: afterwards the manager's counts suffice,
         * so a restart costs nothing per other service. */
        for (size_t i = 0; !n->ready_sent && i < m->n_services; i++)
                if (!service_is_settled(m->services[i])) {
                        settled = false;
                        break;
                }
        (void)snprintf(status, sizeof status,
                       "%zu service%s: %zu running, %zu starting, %zu stopping, %zu backoff, "
                       "%zu failed, %zu stopped%s",
                       m->n_services, m->n_services == 1 ? "" : "s", count[SERVICE_RUNNING],
                       count[SERVICE_STARTING], count[SERVICE_STOPPING], count[SERVICE_BACKOFF],
                       count[SERVICE_FAILED], count[SERVICE_STOPPED],
                       m->shutting_down ? " (shutting down)" : "");
        if (!n->ready_sent && settled && !m->shutting_down) {
                n->ready_sent = true;
                (void)snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status);
                (void)snprintf(n->status, sizeof n->status, "%s", status);
                (void)sdnotify_send(n, msg);
                return;
        }
        if (strcmp(status, n->status) != 0) {
                (void)snprintf(n->status, sizeof n->status, "%s", status);
                (void)snprintf(msg, sizeof msg, "STATUS=%s", status);
                (void)sdnotify_send(n, msg);
        }
}

static void sdnotify_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
        struct sdnotify *n = container_of(w, struct sdnotify, prepare);

        ev_prepare_stop(loop, w);
        sdnotify_update(n);
}

static void sdnotify_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        (void)sdnotify_send(container_of(w, struct sdnotify, watchdog), "WATCHDOG=1");
}

int sdnotify_new(struct manager *m, struct sdnotify **ret)
{
        const char *path = getenv("NOTIFY_SOCKET");
        struct sdnotify *n;
        uint64_t usec = 0;
        size_t len;

        *ret = NULL;
        if (!path || !*path)
                return 0;
        len = strlen(path);
        if ((path[0] != '/' && path[0] != '@') || len >= sizeof n->addr.sun_path)
                return log_warning_errno(-EAFNOSUPPORT, "NOTIFY_SOCKET=%s ignored", path);
        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->manager = m;
        n->addr.sun_family = AF_UNIX;
        memcpy(n->addr.sun_path, path, len);
        if (path[0] == '@')
                n->addr.sun_path[0] = '\0';
        n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
                                  (path[0] == '@' ? 0 : 1));
        n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (n->fd < 0) {
                int r = -errno;
                free(n);
                return r;
        }
        ev_prepare_init(&n->prepare, sdnotify_prepare_cb);
        ev_init(&n->watchdog, sdnotify_watchdog_cb);
        if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
                n->watchdog.repeat = (double)usec / 2.0 / (double)USEC_PER_SEC;
                ev_timer_again(m->loop, &n->watchdog);
                log_info("watchdog: pinging systemd every %.3fs", n->watchdog.repeat);
        }
        {
                const char *e = getenv("FDSTORE");
                n->fdstore = e && strtoul(e, NULL, 10) > 0;
                n->stored = n->fdstore ? intmap_new() : NULL;
                if (n->fdstore && !n->stored) {
                        (void)sdnotify_free(n);
                        return -ENOMEM;
                }
        }
        n->listener = (struct manager_listener){
                .state_changed = sdnotify_service_changed,
                .removed = sdnotify_fdstore_removed,
                .phase = sdnotify_phase,
                .userdata = n,
        };
        if (manager_listen(m, &n->listener) < 0) {
                (void)sdnotify_free(n);
                return -ENOSPC;
        }
        *ret = n;
        return 0;
}

struct sdnotify *sdnotify_free(struct sdnotify *n)
{
        if (!n)
                return NULL;
        manager_unlisten(n->manager, &n->listener);
        ev_prepare_stop(n->manager->loop, &n->prepare);
        ev_timer_stop(n->manager->loop, &n->watchdog);
        for (size_t i = 0; n->stored && i < n->manager->n_services; i++)
                (void)intmap_remove(n->stored, (uintptr_t)n->manager->services[i]);
        intmap_free(n->stored);
        safe_close(n->fd);
        free(n);
        return NULL;
}

void sdnotify_started(struct sdnotify *n)
{
        if (!n)
                return;
        n->started = true;
        /* After a re-exec or an adoption: the store holds what is live now. */
        for (size_t i = 0; n->fdstore && i < n->manager->n_services; i++)
                sdnotify_fdstore_update(n, n->manager->services[i]);
        /* systemd waits for the READY=1 that ends the re-execution's
         * RELOADING=1, as after a reload: at once, not when all settle. */
        if (n->restored && n->ready_sent)
                (void)sdnotify_send(n, "READY=1");
        n->restored = false;
        sdnotify_state_changed(n);
}

/* The records of sdnotify in the state, inside its tag. */
enum {
        SDNOTIFY_STATE_READY_SENT = 1, /* bool */
};

/* See sdnotify.h. */
int sdnotify_state_put(const struct sdnotify *n, struct state_writer *w, uint16_t tag)
{
        size_t mark;

        if (!n)
                return w->error; /* fds put twice: state_writer_finish(), once */
        mark = state_begin(w, tag);
        state_put_bool(w, SDNOTIFY_STATE_READY_SENT, n->ready_sent);
        state_end(w, mark);
        return w->error; /* fds put twice: state_writer_finish(), once */
}

/* See sdnotify.h. */
int sdnotify_state_get(struct sdnotify *n, const struct state_reader *v)
{
        struct state_reader r = *v, val;
        bool ready = false;
        uint16_t tag;
        int k;

        while ((k = state_next(&r, &tag, &val)) > 0)
                if (tag == SDNOTIFY_STATE_READY_SENT && (k = state_get_bool(&val, &ready)) < 0)
                        return k;
        if (k < 0)
                return k;
        if (n) {
                n->ready_sent = ready;
                n->restored = true;
        }
        return 0;
}

/* A service changed state: recount (at the next loop iteration). */
static void sdnotify_state_changed(struct sdnotify *n)
{
        if (n && n->started)
                ev_prepare_start(n->manager->loop, &n->prepare);
}

/* See sdnotify.h. */
void sdnotify_reloading(struct sdnotify *n)
{
        char msg[64];

        if (!n || !n->ready_sent) /* systemd only knows reloads of a ready unit */
                return;
        (void)snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
                       (unsigned long long)now_monotonic());
        (void)sdnotify_send(n, msg);
}

/* See sdnotify.h. */
void sdnotify_reloaded(struct sdnotify *n)
{
        if (!n)
                return;
        /* Before the first READY=1 a reload must not declare readiness early. */
        if (n->ready_sent)
                (void)sdnotify_send(n, "READY=1");
        sdnotify_state_changed(n);
}

static void sdnotify_stopping(struct sdnotify *n)
{
        if (!n)
                return;
        (void)sdnotify_send(n, "STOPPING=1");
        sdnotify_state_changed(n);
}

static void sdnotify_phase(enum manager_phase phase, void *userdata)
{
        switch (phase) {
        case MANAGER_RELOADING:
                sdnotify_reloading(userdata);
                break;
        case MANAGER_RELOADED:
                sdnotify_reloaded(userdata);
                break;
        case MANAGER_STOPPING:
                sdnotify_stopping(userdata);
                break;
        }
}

/* -- the fd store ------------------------------------------------------------
 * Each live service's main pidfd is parked in systemd's fd store under
 * "NAME.pidfd", so that after a crash of tendd (systemd restarts it, and
 * with KillMode=process the services run on) the next tendd gets them back
 * (LISTEN_FDS) and adopts them: a pidfd from the store is the process
 * itself, no pid is looked up again. Removed (FDSTOREREMOVE=1) when the
 * service has no process any more. */

#define SDNOTIFY_FDNAME_SUFFIX ".pidfd"

/* See sdnotify.h. */
int sdnotify_send_fds(struct sdnotify *n, const char *msg, const int *fds, size_t n_fds)
{
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } control = {};
        struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
        struct msghdr mh = {
                .msg_name = &n->addr,
                .msg_namelen = n->addr_len,
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };

        if (n_fds > 4)
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
        if (sendmsg(n->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                int e = errno;
                if (!n->send_failed)
                        log_warning_errno(e, "sd_notify to %s failed (further failures "
                                          "are not logged)",
                                          n->addr.sun_path[0] ? n->addr.sun_path : "@abstract");
                n->send_failed = true;
                return -e;
        }
        n->send_failed = false;
        return 0;
}

static void sdnotify_fdstore_remove(struct sdnotify *n, const char *name)
{
        char msg[64 + SERVICE_NAME_MAX];

        (void)snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s" SDNOTIFY_FDNAME_SUFFIX, name);
        (void)sdnotify_send(n, msg);
}

/* Bring what the store holds for s in line with s's main process. */
static void sdnotify_fdstore_update(struct sdnotify *n, struct service *s)
{
        uintptr_t have, want = 0;
        char msg[64 + SERVICE_NAME_MAX];
        struct stat st;

        if (!n || !n->fdstore)
                return;
        have = (uintptr_t)intmap_get(n->stored, (uintptr_t)s);
        if (service_is_live(s) && s->pidfd >= 0 && fstat(s->pidfd, &st) == 0)
                want = (uintptr_t)st.st_ino;
        if (have == want)
                return;
        if (have) {
                (void)intmap_remove(n->stored, (uintptr_t)s);
                sdnotify_fdstore_remove(n, s->name);
        }
        if (!want)
                return;
        (void)snprintf(msg, sizeof msg, "FDSTORE=1\nFDNAME=%s" SDNOTIFY_FDNAME_SUFFIX, s->name);
        if (sdnotify_send_fds(n, msg, &s->pidfd, 1) >= 0)
                (void)intmap_put(n->stored, (uintptr_t)s, (void *)want);
}

static void sdnotify_fdstore_removed(struct service *s, void *userdata)
{
        struct sdnotify *n = userdata;

        if (n && n->stored && intmap_remove(n->stored, (uintptr_t)s))
                sdnotify_fdstore_remove(n, s->name);
}

/* See sdnotify.h. */
size_t sdnotify_fdstore_adopt(struct sdnotify *n)
{
        char **names = NULL;
        size_t adopted = 0;
        int k = sd_listen_fds_with_names(1, &names);

        if (k < 0)
                log_warning_errno(k, "LISTEN_FDS: nothing taken over from the fd store");
        for (int i = 0; i < k; i++) {
                int fd = SD_LISTEN_FDS_START + i;
                const char *name = names ? names[i] : "";
                size_t len = strlen(name), sl = strlen(SDNOTIFY_FDNAME_SUFFIX);
                char sname[SERVICE_NAME_MAX + 1] = "", reason[SERVICE_REASON_MAX];
                struct service *s = NULL;
                struct pidfd_id id;
                int r = -ENOENT;

                if (len > sl && len - sl <= SERVICE_NAME_MAX &&
                    strcmp(name + len - sl, SDNOTIFY_FDNAME_SUFFIX) == 0) {
                        memcpy(sname, name, len - sl);
                        s = n ? manager_find(n->manager, sname) : NULL;
                }
                if (s)
                        r = pidfd_identity(fd, &id);
                if (r >= 0) {
                        (void)snprintf(reason, sizeof reason,
                                       "adopted after a restart of tendd, pid %d (fd store)",
                                       (int)id.pid);
                        r = service_adopt(s, fd, id.pid, -1, reason);
                }
                if (r >= 0) {
                        adopted++;
                        continue; /* the service holds fd now; the store keeps its copy */
                }
                if (s)
                        log_service(LOG_WARNING, s->name, "not taken over from the fd store: %s",
                                    r == -ESRCH ? "it is gone" : strerror(-r));
                else
                        log_warning("fd store: %s names no service of the config: dropped", name);
                if (n && n->fdstore && s)
                        sdnotify_fdstore_remove(n, sname);
                else if (n && n->fdstore && name[0]) {
                        char msg[300];
                        (void)snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", name);
                        (void)sdnotify_send(n, msg);
                }
                (void)close(fd);
        }
        for (char **p = names; p && *p; p++)
                free(*p);
        free(names);
        if (k > 0)
                log_info("%zu of %d service%s taken over from systemd's fd store", adopted, k,
                         k == 1 ? "" : "s");
        return adopted;
}
