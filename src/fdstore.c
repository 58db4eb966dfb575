/* fdstore.c: each live service's pidfd and output pipe, parked outside
 * tendd through a backend, and taken back after a crash (see fdstore.h). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "fdstore.h"
#include "intmap.h"
#include "log.h"
#include "manager.h"
#include "output.h"
#include "pidfd.h"
#include "service.h"

/* What is parked for one service: which fds (0: none), by the inode of the
 * pipes and, for the pidfd, a key of its process (see fdstore_want). */
struct fdstore_parked {
        uint64_t pidfd;
        uint64_t out;
        uint64_t ready;
        bool starting; /* the pidfd is parked as NAME.pidfd-starting */
        bool pending;  /* in f->pending: to unpark at the end of the iteration */
};

struct fdstore_item {
        char *name;
        int fd;
};

struct fdstore {
        struct manager *m;
        struct manager_listener listener;
        struct fdstore_backend b;
        struct intmap *parked; /* struct fdstore_parked by service */
        bool failed;           /* the backend gave up: nothing is parked any more */
        bool recovering;       /* inside b.failed() and the sync after it */
        int recover_error;     /* what failed while recovering; 0: nothing */
        bool short_warned;     /* the store's capacity is too small, said */
        struct service *adopting; /* being adopted: what it has is parked already */
        bool adopting_starting;   /* ...its pidfd as NAME.pidfd-starting */
        /* Services whose process ended: unparked at the end of the loop
         * iteration unless they have one again by then (a restart replaces
         * what is parked: one request, not two). */
        struct service **pending;
        size_t n_pending, cap_pending;
        ev_prepare flush;
        struct fdstore_item *offers;
        size_t n_offers, cap_offers;
        struct fdstore_item own[FDSTORE_OWN_MAX]; /* tendd's own fds, borrowed */
        size_t n_own;
};

/* What is parked under a name is not known: the store may hold an fd there. */
#define FDSTORE_UNKNOWN UINT64_MAX

static uint64_t fdstore_ino(int fd)
{
        struct stat st;

        return fd >= 0 && fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static void fdstore_sync_all(struct fdstore *f);

/* A park or unpark of the backend failed: reconnect, or give up once. */
static void fdstore_fail(struct fdstore *f, int error)
{
        int r = error;

        if (f->failed)
                return;
        if (f->recovering) {
                f->recover_error = error; /* parking everything again failed */
                return;
        }
        if (f->b.failed) {
                f->recovering = true;
                f->recover_error = 0;
                r = f->b.failed(f->b.userdata, error);
                if (r >= 0)
                        fdstore_sync_all(f);
                if (r >= 0 && f->recover_error < 0)
                        r = f->recover_error;
                f->recovering = false;
                if (r >= 0)
                        return;
        }
        f->failed = true;
        log_warning_errno(r, "parking the services' pidfds and pipes failed: a crash of tendd "
                             "from now on loses their output and exit statuses");
}

static int fdstore_name(char *buf, size_t size, const struct service *s, const char *suffix)
{
        int n = snprintf(buf, size, "%s%s", s->name, suffix);

        return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

#ifndef PID_FS_MAGIC
#define PID_FS_MAGIC 0x50494446
#endif

/* A copy of fd (s's pidfd or one of its pipes) that is an open file of its
 * own, for the backend: the service's close of its fd then takes it out of
 * the loop's epoll set. Shared with the backend, the file would outlive that
 * close, stay readable (an exit, a pipe's end) in the set, and libev, seeing
 * an event for a closed fd, would build its whole epoll set again: once per
 * service a stop of many ends. A pidfd is opened again from the pid (only
 * where pidfs tells processes apart by inode, Linux 6.9), a pipe through
 * /proc/self/fd. -1 where it cannot be: fd itself is parked. */
static int fdstore_own_copy(const struct service *s, int fd)
{
        char path[64];
        struct statfs sf;
        struct stat st;
        int copy;

        if (fstat(fd, &st) < 0)
                return -1;
        if (S_ISFIFO(st.st_mode)) {
                (void)snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
                copy = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        } else if (fd == s->pidfd && s->pid > 0 && fstatfs(fd, &sf) == 0 &&
                   sf.f_type == PID_FS_MAGIC)
                copy = (int)syscall(SYS_pidfd_open, s->pid, 0);
        else
                return -1;
        if (copy >= 0 && fdstore_ino(copy) != (uint64_t)st.st_ino) {
                close(copy); /* the pid is another process's now */
                copy = -1;
        }
        return copy;
}

/* Park fd of s under its suffix if want differs from what is parked (*have). */
static int fdstore_put(struct fdstore *f, struct service *s, const char *suffix, int fd,
                       uint64_t want, uint64_t *have)
{
        char name[SERVICE_NAME_MAX + 32];
        int copy, r;

        if (*have == want || fdstore_name(name, sizeof name, s, suffix) < 0)
                return 0;
        if (!want)
                r = f->b.unpark(f->b.userdata, name);
        else {
                copy = fdstore_own_copy(s, fd);
                r = f->b.park(f->b.userdata, name, copy >= 0 ? copy : fd);
                if (copy >= 0)
                        close(copy); /* the backend has its own */
        }
        if (r < 0)
                return r;
        *have = want;
        return 0;
}

/* The pidfd goes under a name that says whether its service was ready. */
static int fdstore_put_pidfd(struct fdstore *f, struct service *s, struct fdstore_parked *p,
                             uint64_t want, bool starting)
{
        const char *had = p->starting ? FDSTORE_STARTING_SUFFIX : FDSTORE_PIDFD_SUFFIX;
        const char *now = starting ? FDSTORE_STARTING_SUFFIX : FDSTORE_PIDFD_SUFFIX;
        int r;

        if (p->pidfd && (p->starting != starting || !want)) {
                r = fdstore_put(f, s, had, -1, 0, &p->pidfd);
                if (r < 0)
                        return r;
        }
        p->starting = starting;
        return fdstore_put(f, s, now, s->pidfd, want, &p->pidfd);
}

/* Queue s for the end of the iteration; false if that cannot be (no memory). */
static bool fdstore_defer(struct fdstore *f, struct service *s)
{
        if (f->n_pending == f->cap_pending) {
                size_t cap = f->cap_pending ? 2 * f->cap_pending : 16;
                struct service **q = reallocarray(f->pending, cap, sizeof *q);

                if (!q)
                        return false;
                f->pending = q;
                f->cap_pending = cap;
        }
        f->pending[f->n_pending++] = s;
        ev_prepare_start(f->m->loop, &f->flush);
        return true;
}

/* What s has now, to be parked. A pidfd's inode is its process's own with
 * pidfs (Linux 6.9); before that every pidfd has the same one, so the key
 * mixes in the pid (MAINPID= moves it) and start of the instance too. */
static void fdstore_want(const struct service *s, struct fdstore_parked *want)
{
        *want = (struct fdstore_parked){};
        if (!service_is_live(s) || s->pidfd < 0)
                return;
        want->pidfd = (fdstore_ino(s->pidfd) ^ ((uint64_t)(uint32_t)s->pid << 32) ^
                       (uint64_t)s->started_mono) | 1;
        want->starting = s->state == SERVICE_STARTING;
        want->out = fdstore_ino(output_pipe_fd(s->output));
        want->ready = fdstore_ino(s->ready_fd);
}

/* How fdstore_update() goes about it. */
enum fdstore_how {
        FDSTORE_NOW,
        FDSTORE_DEFER,   /* if s has no process, at the end of the iteration */
        FDSTORE_UNKNOWN_HELD, /* the store may hold anything of s's (a reconnect
                               * to a store that kept what a failed call left, a
                               * re-exec from an image that was not in step):
                               * every name s does not use now is unparked */
};

/* Bring what is parked for s in line with what it has now. */
static void fdstore_update(struct fdstore *f, struct service *s, enum fdstore_how how)
{
        struct fdstore_parked *p, want;
        int r = 0;

        if (f->failed)
                return;
        fdstore_want(s, &want);
        p = intmap_get(f->parked, (uintptr_t)s);
        if (!p && !want.pidfd && !want.out && !want.ready && how != FDSTORE_UNKNOWN_HELD)
                return;
        if (p && how == FDSTORE_DEFER && !want.pidfd) {
                /* A pidfd of a process that ended, parked a moment longer, is
                 * harmless: after a crash of tendd now, the next one reads
                 * that exit through it and follows the policy, as this one
                 * is about to. */
                if (!p->pending && fdstore_defer(f, s))
                        p->pending = true;
                if (p->pending)
                        return;
        }
        if (!p) {
                p = calloc(1, sizeof *p);
                if (!p || intmap_put(f->parked, (uintptr_t)s, p) < 0) {
                        free(p);
                        fdstore_fail(f, -ENOMEM);
                        return;
                }
        }
        if (s == f->adopting) {
                /* The backend handed these back and holds them still, the
                 * pidfd under the name it had: parked again only if the
                 * service is not what that name says (its config changed). */
                *p = want;
                p->starting = f->adopting_starting;
                if (p->starting == want.starting)
                        return;
        }
        if (how == FDSTORE_UNKNOWN_HELD) {
                /* The pidfd's other name first, then as if all were parked. */
                p->pidfd = FDSTORE_UNKNOWN;
                r = fdstore_put(f, s, want.starting ? FDSTORE_PIDFD_SUFFIX : FDSTORE_STARTING_SUFFIX,
                                -1, 0, &p->pidfd);
                p->pidfd = p->out = p->ready = FDSTORE_UNKNOWN;
                p->starting = want.starting;
        }
        if (r >= 0)
                r = fdstore_put_pidfd(f, s, p, want.pidfd, want.starting);
        if (r >= 0)
                r = fdstore_put(f, s, FDSTORE_OUT_SUFFIX, output_pipe_fd(s->output), want.out,
                                &p->out);
        if (r >= 0)
                r = fdstore_put(f, s, FDSTORE_READY_SUFFIX, s->ready_fd, want.ready, &p->ready);
        if (r < 0) {
                fdstore_fail(f, r);
                return;
        }
        if (!p->pidfd && !p->out && !p->ready)
                free(intmap_remove(f->parked, (uintptr_t)s));
}

static void fdstore_state_changed(struct service *s, enum service_state old, void *userdata)
{
        fdstore_update(userdata, s, FDSTORE_DEFER);
}

/* The end of the iteration: what ended and did not come back is unparked. */
static void fdstore_flush(struct fdstore *f)
{
        for (size_t i = 0; i < f->n_pending; i++) {
                struct service *s = f->pending[i];
                struct fdstore_parked *p = intmap_get(f->parked, (uintptr_t)s);

                if (!p || !p->pending)
                        continue; /* removed, or forgotten by a sync */
                p->pending = false;
                fdstore_update(f, s, FDSTORE_NOW);
        }
        f->n_pending = 0;
        ev_prepare_stop(f->m->loop, &f->flush);
}

static void fdstore_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
        fdstore_flush(container_of(w, struct fdstore, flush));
}

static void fdstore_removed(struct service *s, void *userdata)
{
        struct fdstore *f = userdata;
        struct fdstore_parked *p = intmap_remove(f->parked, (uintptr_t)s);

        if (!p)
                return;
        if (!f->failed) {
                (void)fdstore_put(f, s, p->starting ? FDSTORE_STARTING_SUFFIX : FDSTORE_PIDFD_SUFFIX,
                                  -1, 0, &p->pidfd);
                (void)fdstore_put(f, s, FDSTORE_OUT_SUFFIX, -1, 0, &p->out);
                (void)fdstore_put(f, s, FDSTORE_READY_SUFFIX, -1, 0, &p->ready);
        }
        free(p);
}

/* Enough room for what m's services may park (two each, a third while one
 * waits on its ready_fd: counted as two) and tendd's own? Said once per
 * crossing, at the start and after each reload. */
static void fdstore_check_capacity(struct fdstore *f)
{
        size_t need = 2 * f->m->n_services + f->n_own;
        bool short_now = f->b.capacity > 0 && need > f->b.capacity;

        if (short_now && !f->short_warned)
                log_warning("%zu services may park %zu fds outside tendd, and the store takes "
                            "%zu (FileDescriptorStoreMax=): beyond that, a crash of tendd loses "
                            "services' processes and output",
                            f->m->n_services, need, f->b.capacity);
        f->short_warned = short_now;
}

static void fdstore_phase(enum manager_phase phase, void *userdata)
{
        if (phase == MANAGER_RELOADED)
                fdstore_check_capacity(userdata);
}

static void fdstore_forget(struct fdstore *f)
{
        for (size_t i = 0; i < f->m->n_services; i++)
                free(intmap_remove(f->parked, (uintptr_t)f->m->services[i]));
}

static void fdstore_sync_all(struct fdstore *f)
{
        int r;

        fdstore_forget(f);
        for (size_t i = 0; i < f->n_own && !f->failed && !f->recover_error; i++) {
                r = f->b.park(f->b.userdata, f->own[i].name, f->own[i].fd);
                if (r < 0) {
                        fdstore_fail(f, r);
                        return;
                }
        }
        for (size_t i = 0; i < f->m->n_services && !f->failed && !f->recover_error; i++)
                fdstore_update(f, f->m->services[i], FDSTORE_UNKNOWN_HELD);
}

/* See fdstore.h. */
int fdstore_keep(struct fdstore *f, const char *name, int fd)
{
        int r;

        if (!f || f->n_own == FDSTORE_OWN_MAX)
                return -ENOSPC;
        f->own[f->n_own].name = strdup(name);
        if (!f->own[f->n_own].name)
                return -ENOMEM;
        f->own[f->n_own++].fd = fd;
        if (f->failed)
                return 0;
        r = f->b.park(f->b.userdata, name, fd);
        if (r < 0)
                fdstore_fail(f, r);
        return 0;
}

/* See fdstore.h. */
bool fdstore_in_step(const struct fdstore *f)
{
        return f && !f->failed;
}

/* See fdstore.h. */
void fdstore_assume_parked(struct fdstore *f)
{
        if (!f)
                return;
        fdstore_forget(f);
        for (size_t i = 0; i < f->m->n_services; i++) {
                struct service *s = f->m->services[i];
                struct fdstore_parked *p;

                if (!service_is_live(s) || s->pidfd < 0)
                        continue;
                p = calloc(1, sizeof *p);
                if (!p || intmap_put(f->parked, (uintptr_t)s, p) < 0) {
                        free(p);
                        fdstore_sync_all(f); /* out of memory: the slow way */
                        return;
                }
                fdstore_want(s, p);
        }
}

/* See fdstore.h. */
void fdstore_sync(struct fdstore *f)
{
        if (!f)
                return;
        fdstore_sync_all(f);
        fdstore_check_capacity(f);
}

/* See fdstore.h. */
int fdstore_new(struct manager *m, const struct fdstore_backend *b, struct fdstore **ret)
{
        struct fdstore *f = calloc(1, sizeof *f);

        if (!f)
                return -ENOMEM;
        f->m = m;
        f->b = *b;
        f->parked = intmap_new();
        if (!f->parked) {
                free(f);
                return -ENOMEM;
        }
        ev_prepare_init(&f->flush, fdstore_flush_cb);
        ev_set_priority(&f->flush, EV_MINPRI);
        f->listener = (struct manager_listener){
                .state_changed = fdstore_state_changed,
                .removed = fdstore_removed,
                .phase = fdstore_phase,
                .userdata = f,
        };
        if (manager_listen(m, &f->listener) < 0) {
                intmap_free(f->parked);
                free(f);
                return -ENOSPC;
        }
        *ret = f;
        return 0;
}

static void fdstore_drop_offers(struct fdstore *f)
{
        for (size_t i = 0; i < f->n_offers; i++) {
                free(f->offers[i].name);
                safe_close(f->offers[i].fd);
        }
        free(f->offers);
        f->offers = NULL;
        f->n_offers = f->cap_offers = 0;
}

/* See fdstore.h. */
struct fdstore *fdstore_free(struct fdstore *f)
{
        if (!f)
                return NULL;
        manager_unlisten(f->m, &f->listener);
        fdstore_flush(f);
        free(f->pending);
        fdstore_forget(f);
        intmap_free(f->parked);
        fdstore_drop_offers(f);
        for (size_t i = 0; i < f->n_own; i++)
                free(f->own[i].name);
        free(f);
        return NULL;
}

/* See fdstore.h. */
void fdstore_offer(struct fdstore *f, const char *name, int fd)
{
        char *copy = NULL;

        if (f->n_offers == f->cap_offers) {
                size_t cap = f->cap_offers ? f->cap_offers * 2 : 64;
                struct fdstore_item *p = reallocarray(f->offers, cap, sizeof *p);

                if (p) {
                        f->offers = p;
                        f->cap_offers = cap;
                }
        }
        if (f->n_offers < f->cap_offers)
                copy = strdup(name);
        if (!copy) {
                log_warning_errno(-ENOMEM, "fd store: %s dropped", name);
                safe_close(fd);
                return;
        }
        f->offers[f->n_offers++] = (struct fdstore_item){ .name = copy, .fd = fd };
}

/* What an offered name is: its service (NULL: none of the config) and kind. */
enum fdstore_kind { FDSTORE_PIDFD, FDSTORE_STARTING, FDSTORE_OUT, FDSTORE_READY, _FDSTORE_KIND_MAX };

static const char *const fdstore_suffixes[_FDSTORE_KIND_MAX] = {
        [FDSTORE_PIDFD] = FDSTORE_PIDFD_SUFFIX,
        [FDSTORE_STARTING] = FDSTORE_STARTING_SUFFIX,
        [FDSTORE_OUT] = FDSTORE_OUT_SUFFIX,
        [FDSTORE_READY] = FDSTORE_READY_SUFFIX,
};

/* The service name, or an instance of a template made again: one a start
 * made at runtime is in no file, yet its process outlived tendd too. */
static struct service *fdstore_find_or_make(struct fdstore *f, const char *name)
{
        _cleanup_strv_free_ char **errors = NULL;
        struct service *s = manager_find(f->m, name);
        int r;

        if (s || !config_find_template(f->m->config, name))
                return s;
        r = manager_instantiate(f->m, name, &s, &errors);
        if (r < 0)
                log_warning("fd store: %s not made again from its template: %s", name,
                            errors && errors[0] ? errors[0] : strerror(-r));
        return r < 0 ? NULL : s;
}

static struct service *fdstore_service(struct fdstore *f, const char *name,
                                       enum fdstore_kind *ret_kind)
{
        size_t len = strlen(name);

        for (enum fdstore_kind k = 0; k < _FDSTORE_KIND_MAX; k++) {
                size_t sl = strlen(fdstore_suffixes[k]);
                char sname[SERVICE_NAME_MAX + 1];

                if (len <= sl || len - sl > SERVICE_NAME_MAX ||
                    strcmp(name + len - sl, fdstore_suffixes[k]) != 0)
                        continue;
                memcpy(sname, name, len - sl);
                sname[len - sl] = '\0';
                *ret_kind = k;
                return fdstore_find_or_make(f, sname);
        }
        return NULL;
}

/* The offers of one service, by kind (indexes into f->offers; -1: none). */
struct fdstore_slot {
        ssize_t of[_FDSTORE_KIND_MAX];
};

static void fdstore_reject(struct fdstore *f, struct fdstore_item *it, const char *why)
{
        log_warning("fd store: %s not taken over: %s", it->name[0] ? it->name : "(no name)", why);
        if (!f->failed && it->name[0])
                (void)f->b.unpark(f->b.userdata, it->name);
        it->fd = safe_close(it->fd);
}

/* The process of pidfd, alive or gone, as s's main process, with its ready
 * pipe (ready_fd, -1: none). */
static int fdstore_adopt_process(struct fdstore *f, struct service *s, int pidfd, bool starting,
                                 int ready_fd)
{
        char reason[SERVICE_REASON_MAX];
        struct pidfd_id id = {};
        int r = pidfd_identity(pidfd, &id);

        if (r == -ESRCH)
                (void)snprintf(reason, sizeof reason,
                               "adopted after a restart of tendd: it had ended meanwhile");
        else if (r < 0)
                return r;
        else
                (void)snprintf(reason, sizeof reason, "adopted after a restart of tendd, pid %d",
                               (int)id.pid);
        /* The backend holds them already: the listener, told of the
         * adoption, notes them without sending them again. */
        f->adopting = s;
        f->adopting_starting = starting;
        r = service_adopt(s, &(const struct service_adoption){ .pidfd = pidfd,
                                                               .pid = r == -ESRCH ? 0 : id.pid,
                                                               .leader_pidfd = -1,
                                                               .ready_fd = ready_fd,
                                                               .starting = starting,
                                                               .reason = reason });
        f->adopting = NULL;
        return r;
}

/* See fdstore.h. */
int fdstore_claim(struct fdstore *f, const char *name)
{
        for (size_t i = 0; f && i < f->n_offers; i++)
                if (f->offers[i].fd >= 0 && strcmp(f->offers[i].name, name) == 0)
                        return TAKE_FD(f->offers[i].fd);
        return -1;
}

/* See fdstore.h. */
size_t fdstore_adopt(struct fdstore *f)
{
        struct intmap *slots;
        size_t adopted = 0, pipes = 0;

        if (!f)
                return 0;
        slots = intmap_new();
        /* Sorted by service and kind; anything that is not one of them, or a
         * second fd of a kind, is refused. */
        for (size_t i = 0; i < f->n_offers; i++) {
                struct fdstore_item *it = &f->offers[i];
                enum fdstore_kind k = 0;
                struct service *s;
                struct fdstore_slot *slot;

                if (it->fd < 0)
                        continue; /* claimed */
                s = fdstore_service(f, it->name, &k);
                if (!s) {
                        fdstore_reject(f, it, "it names no service of the config");
                        continue;
                }
                slot = slots ? intmap_get(slots, (uintptr_t)s) : NULL;
                if (!slot && slots) {
                        slot = malloc(sizeof *slot);
                        if (slot && intmap_put(slots, (uintptr_t)s, slot) < 0) {
                                free(slot);
                                slot = NULL;
                        }
                        for (size_t j = 0; slot && j < _FDSTORE_KIND_MAX; j++)
                                slot->of[j] = -1;
                }
                if (!slot) {
                        fdstore_reject(f, it, strerror(ENOMEM));
                        continue;
                }
                if (slot->of[k] >= 0 || (k == FDSTORE_PIDFD && slot->of[FDSTORE_STARTING] >= 0) ||
                    (k == FDSTORE_STARTING && slot->of[FDSTORE_PIDFD] >= 0)) {
                        fdstore_reject(f, it, "a second one of its kind");
                        continue;
                }
                slot->of[k] = (ssize_t)i;
        }
        /* Each service in the order its first fd came: its process with its
         * ready pipe, then its output pipe. */
        for (size_t i = 0; i < f->n_offers; i++) {
                struct fdstore_item *it = &f->offers[i], *pid, *ready, *out;
                enum fdstore_kind k = 0;
                struct service *s = it->fd >= 0 ? fdstore_service(f, it->name, &k) : NULL;
                struct fdstore_slot *slot = s && slots ? intmap_remove(slots, (uintptr_t)s) : NULL;
                bool starting;
                int r = 0;

                if (!slot)
                        continue;
                starting = slot->of[FDSTORE_PIDFD] < 0;
                pid = slot->of[FDSTORE_PIDFD] >= 0      ? &f->offers[slot->of[FDSTORE_PIDFD]]
                      : slot->of[FDSTORE_STARTING] >= 0 ? &f->offers[slot->of[FDSTORE_STARTING]]
                                                        : NULL;
                ready = slot->of[FDSTORE_READY] >= 0 ? &f->offers[slot->of[FDSTORE_READY]] : NULL;
                out = slot->of[FDSTORE_OUT] >= 0 ? &f->offers[slot->of[FDSTORE_OUT]] : NULL;
                free(slot);
                if (pid) {
                        r = fdstore_adopt_process(f, s, pid->fd, starting,
                                                  ready ? ready->fd : -1);
                        if (r < 0)
                                fdstore_reject(f, pid, r == -EBUSY ? "the service has a process already"
                                                                   : strerror(-r));
                        else {
                                pid->fd = -1; /* the service's now */
                                if (ready)
                                        ready->fd = -1;
                                adopted++;
                        }
                }
                if (ready && ready->fd >= 0)
                        fdstore_reject(f, ready, "its service was not taken over");
                if (out && r >= 0 && pid) {
                        struct fdstore_parked *p = intmap_get(f->parked, (uintptr_t)s);

                        if (service_adopt_output(s, TAKE_FD(out->fd)) < 0)
                                log_service(LOG_WARNING, s->name,
                                            "its output pipe cannot be read again");
                        else {
                                if (p) /* parked already, as the backend holds it */
                                        p->out = fdstore_ino(output_pipe_fd(s->output));
                                pipes++;
                        }
                } else if (out)
                        fdstore_reject(f, out, "its service was not taken over");
        }
        intmap_free(slots);
        fdstore_check_capacity(f);
        if (f->n_offers > 0)
                log_info("%zu service%s and %zu output pipe%s taken over from the fd store",
                         adopted, adopted == 1 ? "" : "s", pipes, pipes == 1 ? "" : "s");
        fdstore_drop_offers(f);
        return adopted;
}

/* See fdstore.h. */
size_t fdstore_offer_listen_fds(struct fdstore *f)
{
        char **names = NULL;
        int k = sd_listen_fds_with_names(1, &names);

        if (k < 0)
                log_warning_errno(k, "LISTEN_FDS: nothing taken over from the fd store");
        for (int i = 0; i < k; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                if (f)
                        fdstore_offer(f, names && names[i] ? names[i] : "", fd);
                else
                        safe_close(fd);
        }
        for (char **p = names; p && *p; p++)
                free(*p);
        free(names);
        return k > 0 ? (size_t)k : 0;
}
