/* sdnotify.c: READY/STATUS/RELOADING/STOPPING/WATCHDOG to systemd. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

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
         * more than 0. fdstore.c decides what goes in. */
        bool fdstore;
        size_t fdstore_max; /* $FDSTORE */
        ev_prepare prepare; /* recount once per iteration, not per transition */
        ev_timer watchdog;
        struct manager_listener listener;
};

static void sdnotify_state_changed(struct sdnotify *n);
static void sdnotify_phase(enum manager_phase phase, void *userdata);

static void sdnotify_service_changed(struct service *s, enum service_state old, void *userdata)
{
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
                unsigned long v = e ? strtoul(e, NULL, 10) : 0;
                n->fdstore = v > 0;
                n->fdstore_max = v;
        }
        n->listener = (struct manager_listener){
                .state_changed = sdnotify_service_changed,
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
        safe_close(n->fd);
        free(n);
        return NULL;
}

void sdnotify_started(struct sdnotify *n)
{
        if (!n)
                return;
        n->started = true;
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

/* See sdnotify.h. */
int sdnotify_send_fds(struct sdnotify *n, const char *msg, const int *fds, size_t n_fds)
{
        int r = send_fds(n->fd, msg, strlen(msg), fds, n_fds, MSG_DONTWAIT,
                         (const struct sockaddr *)&n->addr, n->addr_len);

        if (r < 0) {
                if (!n->send_failed)
                        log_warning_errno(r, "sd_notify to %s failed (further failures "
                                          "are not logged)",
                                          n->addr.sun_path[0] ? n->addr.sun_path : "@abstract");
                n->send_failed = true;
                return r;
        }
        n->send_failed = false;
        return 0;
}

#define SDNOTIFY_FDNAME_MAX 255

/* See sdnotify.h. */
bool sdnotify_fdstore_enabled(const struct sdnotify *n)
{
        return n && n->fdstore;
}

/* See sdnotify.h. */
size_t sdnotify_fdstore_capacity(const struct sdnotify *n)
{
        return n ? n->fdstore_max : 0;
}

/* See sdnotify.h. */
int sdnotify_fdstore_unpark(void *userdata, const char *name)
{
        char msg[64 + SDNOTIFY_FDNAME_MAX];

        if (strlen(name) > SDNOTIFY_FDNAME_MAX)
                return -ENAMETOOLONG;
        (void)snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", name);
        return sdnotify_send(userdata, msg);
}

/* See sdnotify.h. systemd keeps every fd sent under a name: the one
 * before goes first. FDPOLL=0 (systemd 246): systemd would otherwise drop
 * an fd that polls POLLHUP, a pidfd whose process was reaped (the very one
 * whose exit status the next tendd must read), a pipe whose writer closed
 * with lines still in it. */
int sdnotify_fdstore_park(void *userdata, const char *name, int fd)
{
        char msg[64 + SDNOTIFY_FDNAME_MAX];
        int r = sdnotify_fdstore_unpark(userdata, name);

        if (r < 0)
                return r;
        (void)snprintf(msg, sizeof msg, "FDSTORE=1\nFDPOLL=0\nFDNAME=%s", name);
        return sdnotify_send_fds(userdata, msg, &fd, 1);
}
