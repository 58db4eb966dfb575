/* test-fdstore: what fdstore.c parks and unparks as services change (through
 * the syscall seam, a backend that records its calls), how it recovers from a
 * backend that fails, and what it refuses to adopt. */
#include <ev.h>
#include <stdio.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fake-sys.h"
#include "fdstore.h"
#include "manager.h"
#include "service.h"
#include "tap.h"

static struct ev_loop *loop;

/* The backend: every call as "P name" / "U name", the fds parked by name. */
static struct {
        char calls[64][64];
        unsigned n;
        int fail;      /* -errno for the next calls */
        int reconnect; /* what failed() answers */
        unsigned failed_calls;
} be;

static void be_record(char kind, const char *name)
{
        if (be.n < ELEMENTSOF(be.calls))
                (void)snprintf(be.calls[be.n++], sizeof be.calls[0], "%c %s", kind, name);
}

static int be_park(void *userdata, const char *name, int fd)
{
        struct stat st;

        if (be.fail)
                return be.fail;
        if (fstat(fd, &st) < 0)
                return -EBADF;
        be_record('P', name);
        return 0;
}

static int be_unpark(void *userdata, const char *name)
{
        if (be.fail)
                return be.fail;
        be_record('U', name);
        return 0;
}

static int be_failed(void *userdata, int error)
{
        be.failed_calls++;
        be.fail = 0;
        return be.reconnect;
}

static const struct fdstore_backend backend = {
        .park = be_park,
        .unpark = be_unpark,
        .failed = be_failed,
};

static bool be_has(const char *call)
{
        for (unsigned i = 0; i < be.n; i++)
                if (strcmp(be.calls[i], call) == 0)
                        return true;
        return false;
}

static void be_reset(void)
{
        memset(&be, 0, sizeof be);
}

static struct manager *make_manager(void)
{
        struct config *c = calloc(1, sizeof *c);
        struct manager *m = NULL;

        c->log_dir = strdup("/nonexistent");
        c->services = calloc(3, sizeof *c->services);
        c->services[c->n_services++] = make_named_config("a", SERVICE_SIMPLE, RESTART_ALWAYS);
        c->services[c->n_services++] = make_named_config("b", SERVICE_SIMPLE, RESTART_ALWAYS);
        for (size_t i = 0; i < c->n_services; i++)
                c->services[i]->enabled = false;
        fake_reset();
        if (manager_new(loop, "/nonexistent/tend.ini", c, &m) < 0 || manager_create(m) < 0)
                return NULL;
        return m;
}

static void test_follows_the_services(void)
{
        struct manager *m = make_manager();
        struct service *a = manager_find(m, "a");
        struct fdstore *f = NULL;

        be_reset();
        ok(m && fdstore_new(m, &backend, &f) >= 0, "fdstore_new");
        (void)manager_start(m);
        ok(be.n == 0, "nothing live, nothing parked");
        service_dispatch(a, SERVICE_EVENT_START);
        ok(be.n == 1 && be_has("P a.pidfd"), "a started: its pidfd parked at once (%u)", be.n);
        ok(!be_has("P a.out"), "output = null: no pipe");
        be.n = 0;
        service_dispatch(a, SERVICE_EVENT_STOP);
        ok(be.n == 0, "stopping: still parked");
        fake.exit_code = 0;
        service_handle_pidfd(a);
        ok(be.n == 0, "gone: parked until the end of the iteration");
        ev_run(loop, EVRUN_NOWAIT);
        ok(be.n == 1 && be_has("U a.pidfd"), "then unparked (%u)", be.n);

        /* A restart by policy after a delay: unparked while it waits. */
        service_dispatch(a, SERVICE_EVENT_START);
        for (int i = 0; i < 20 && a->state != SERVICE_RUNNING; i++)
                ev_run(loop, EVRUN_ONCE);
        be.n = 0;
        fake.exit_code = 1;
        service_handle_pidfd(a);
        ev_run(loop, EVRUN_NOWAIT);
        ok(be_has("U a.pidfd"), "crashed: unparked while it waits to restart");
        fake.now += 10 * USEC_PER_SEC;
        for (int i = 0; i < 20 && a->state != SERVICE_RUNNING; i++)
                ev_run(loop, EVRUN_ONCE);
        ok(a->state == SERVICE_RUNNING && be_has("P a.pidfd"), "restarted: parked again");

        /* A restart at once: the new pidfd replaces the old one, one request.
         * In an iteration of its own: the first spawn of an iteration is
         * never put off to the next (spawn pacing), which on a loaded
         * machine would unpark, then park. */
        a->config->restart_delay = 0;
        ev_run(loop, EVRUN_NOWAIT);
        be.n = 0;
        service_handle_pidfd(a);
        ev_run(loop, EVRUN_NOWAIT);
        ok(a->state == SERVICE_RUNNING && be.n == 1 && be_has("P a.pidfd"),
           "restarted at once: one park, no unpark (%u)", be.n);
        a->config->restart_delay = 100 * USEC_PER_MSEC;

        /* A re-exec: everything parked again, as it is now. */
        be.n = 0;
        fdstore_sync(f);
        {
                unsigned parks = 0;
                for (unsigned i = 0; i < be.n; i++)
                        parks += be.calls[i][0] == 'P';
                ok(parks == 1 && be_has("P a.pidfd"), "sync parks what is live (%u)", parks);
                ok(be_has("U a.pidfd-starting") && be_has("U b.pidfd") && !be_has("U a.pidfd"),
                   "and unparks every name not in use");
        }

        /* The backend fails: it reconnects, everything is parked again. */
        be.n = 0;
        be.fail = -EPIPE;
        be.reconnect = 0;
        fake.exit_code = 1;
        service_handle_pidfd(a);
        ev_run(loop, EVRUN_NOWAIT);
        ok(be.failed_calls == 1, "a failure calls failed()");
        for (int i = 0; i < 20 && a->state != SERVICE_RUNNING; i++)
                ev_run(loop, EVRUN_ONCE);
        ok(be_has("P a.pidfd"), "and after a reconnect, what is live is parked again");

        /* It gives up: nothing more is sent, nothing breaks. */
        be.n = 0;
        be.fail = -EPIPE;
        be.reconnect = -ECONNREFUSED;
        service_dispatch(a, SERVICE_EVENT_STOP);
        service_handle_pidfd(a);
        ev_run(loop, EVRUN_NOWAIT);
        be.fail = 0;
        service_dispatch(a, SERVICE_EVENT_START);
        for (int i = 0; i < 20 && a->state != SERVICE_RUNNING; i++)
                ev_run(loop, EVRUN_ONCE);
        ok(be.failed_calls == 2 && be.n == 0, "given up: no call after (%u)", be.n);
        ok(a->state == SERVICE_RUNNING, "the service does not care");
        service_dispatch(a, SERVICE_EVENT_STOP);
        service_handle_pidfd(a);
        fdstore_free(f);
        manager_free(m);
}

static void test_adopt_refuses(void)
{
        struct manager *m = make_manager();
        struct fdstore *f = NULL;
        int p[2], q[2], ev = eventfd(0, EFD_CLOEXEC);

        be_reset();
        ok(m && fdstore_new(m, &backend, &f) >= 0 && pipe2(p, O_CLOEXEC) == 0 &&
                   pipe2(q, O_CLOEXEC) == 0,
           "setup");
        fdstore_offer(f, "ghost.pidfd", ev);           /* no such service */
        fdstore_offer(f, "a.out", p[0]);               /* a pipe, no process taken over */
        fdstore_offer(f, "ghost.out", q[0]);           /* a pipe of no service */
        fdstore_offer(f, "b.pidfd", dup(p[1]));        /* not a pidfd */
        ok(fdstore_adopt(f) == 0, "nothing adopted");
        ok(be_has("U a.out") && be_has("U ghost.out") && be_has("U b.pidfd"),
           "what was refused is unparked");
        ok(be_has("U ghost.pidfd"), "so is a name of no service");
        ok(manager_find(m, "a")->state == SERVICE_STOPPED &&
                   manager_find(m, "b")->state == SERVICE_STOPPED,
           "no service changed");
        /* Every offered fd is closed: the write ends see no reader. */
        {
                char c = 'x';
                (void)signal(SIGPIPE, SIG_IGN);
                ok(write(p[1], &c, 1) < 0 && errno == EPIPE, "a.out's pipe closed");
                ok(write(q[1], &c, 1) < 0 && errno == EPIPE, "ghost.out's pipe closed");
        }
        close(p[1]);
        close(q[1]);
        fdstore_free(f);
        manager_free(m);
}

/* A park or unpark fails, the backend reconnects to the same store (the
 * keeper was slow, not gone): what failed to go is still there. Parking
 * everything again must unpark what a service no longer has, or the next
 * tendd adopts the pidfd of a process that was stopped and restarts it. */
static void test_sync_unparks_what_is_stale(void)
{
        struct manager *m = make_manager();
        struct service *a = manager_find(m, "a");
        struct fdstore *f = NULL;

        be_reset();
        ok(m && fdstore_new(m, &backend, &f) >= 0, "setup");
        (void)manager_start(m);
        service_dispatch(a, SERVICE_EVENT_START);
        ok(be_has("P a.pidfd"), "a parked");
        service_dispatch(a, SERVICE_EVENT_STOP);
        be.n = 0;
        be.fail = -EAGAIN; /* the unpark of a's pidfd does not go */
        be.reconnect = 0;
        fake.exit_code = 0;
        service_handle_pidfd(a);
        ev_run(loop, EVRUN_NOWAIT); /* the unpark goes at the end of the iteration */
        ok(a->state == SERVICE_STOPPED && be.failed_calls == 1, "stopped, the backend reconnected");
        ok(be_has("U a.pidfd"), "a's pidfd unparked after the reconnect (%u calls)", be.n);
        ok(fdstore_in_step(f), "in step");
        fdstore_free(f);
        manager_free(m);
}

/* MAINPID= names another process: its pidfd is parked in place of the one
 * before, even where every pidfd has the same inode (kernels before pidfs,
 * 6.9; the fake spawn's eventfds too), or a crash of tendd leaves the
 * process it spawned (often gone by then) to be adopted. */
static void test_mainpid_parked(void)
{
        struct manager *m = make_manager();
        struct service *a = manager_find(m, "a");
        struct fdstore *f = NULL;
        struct service_notify_msg msg = { .mainpid_fd = eventfd(0, EFD_CLOEXEC), .mainpid = 4242 };

        be_reset();
        ok(m && fdstore_new(m, &backend, &f) >= 0, "setup");
        (void)manager_start(m);
        service_dispatch(a, SERVICE_EVENT_START);
        ok(a->state == SERVICE_RUNNING && be_has("P a.pidfd"), "a parked");
        be.n = 0;
        service_handle_notify(a, &msg);
        ok(a->pid == 4242, "MAINPID= taken");
        ok(be_has("P a.pidfd"), "the new main process's pidfd parked (%u calls)", be.n);
        service_dispatch(a, SERVICE_EVENT_STOP);
        fake.exit_code = 0;
        service_handle_pidfd(a);
        fdstore_free(f);
        manager_free(m);
}

/* A child that waits for its pipe to close; its pidfd in *ret_pidfd. */
static pid_t spawn_waiter(int *ret_pidfd, int *ret_wr)
{
        int p[2];
        pid_t pid;
        char c;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid = fork();
        if (pid == 0) {
                close(p[1]);
                (void)!read(p[0], &c, 1);
                _exit(0);
        }
        close(p[0]);
        *ret_wr = p[1];
        *ret_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        return pid;
}

/* Parked starting by a tendd whose config had a readiness protocol; the
 * config now says simple (no ready_fd): there is no readiness to wait for,
 * it is running (not killed when ready_timeout runs out). */
static void test_adopt_starting_now_simple(void)
{
        struct manager *m = make_manager();
        struct service *a = manager_find(m, "a");
        struct fdstore *f = NULL;
        int pidfd = -1, wr = -1, status;
        pid_t pid = spawn_waiter(&pidfd, &wr);

        be_reset();
        ok(m && pid > 0 && pidfd >= 0 && fdstore_new(m, &backend, &f) >= 0, "setup");
        a->config->ready_timeout = 5 * USEC_PER_SEC;
        fdstore_offer(f, "a.pidfd-starting", pidfd);
        ok(fdstore_adopt(f) == 1, "adopted");
        ok(a->state == SERVICE_RUNNING, "a simple service is running (%s)",
           service_state_to_string(a->state));
        ok(be.n == 2 && be_has("U a.pidfd-starting") && be_has("P a.pidfd"),
           "parked again as running (%u)", be.n);
        close(wr);
        (void)waitpid(pid, &status, 0);
        fdstore_free(f);
        manager_free(m);
}

int main(void)
{
        loop = ev_loop_new(EVFLAG_AUTO);
        sys_set(&fake_ops);
        test_follows_the_services();
        test_adopt_refuses();
        test_adopt_starting_now_simple();
        test_sync_unparks_what_is_stale();
        test_mainpid_parked();
        ev_loop_destroy(loop);
        return tap_done();
}
