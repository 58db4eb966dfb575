/* closer.c: close fds that may block, on worker threads. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "closer.h"
#include "util.h"

/* Workers started at most; each one stuck in a close() holds only itself. */
#define CLOSER_THREADS_MAX 4

static struct {
        pthread_mutex_t lock;
        pthread_cond_t work, done;
        int *queue; /* ring */
        size_t head, n, cap;
        size_t busy;  /* fds a worker took and is closing */
        unsigned threads;
} closer = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .work = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER,
};

/* An anonymous pipe (what BARRIER=1 passes): its release waits on no one.
 * Asked through /proc's link, which only names the file: fstat or fstatfs
 * would ask a FUSE file's daemon, which may never answer. */
static bool closer_is_harmless(int fd)
{
        char path[64], target[16];
        ssize_t n;

        (void)snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        n = readlink(path, target, sizeof target);
        return n > 5 && memcmp(target, "pipe:", 5) == 0;
}

static void *closer_worker(void *arg)
{
        (void)pthread_mutex_lock(&closer.lock);
        for (;;) {
                int fd;

                while (closer.n == 0)
                        (void)pthread_cond_wait(&closer.work, &closer.lock);
                fd = closer.queue[closer.head];
                closer.head = (closer.head + 1) % closer.cap;
                closer.n--;
                closer.busy++;
                (void)pthread_mutex_unlock(&closer.lock);
                (void)close(fd);
                (void)pthread_mutex_lock(&closer.lock);
                closer.busy--;
                if (closer.n == 0 && closer.busy == 0)
                        (void)pthread_cond_broadcast(&closer.done);
        }
        return NULL;
}

/* Start one more worker with every signal blocked, so signals stay with the
 * loop's thread. Called with the lock held. */
static int closer_start_worker(void)
{
        sigset_t all, old;
        pthread_attr_t attr;
        pthread_t t;
        int r;

        if (pthread_attr_init(&attr) != 0)
                return -ENOMEM;
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void)pthread_attr_setstacksize(&attr, 64 * 1024);
        (void)sigfillset(&all);
        (void)pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&t, &attr, closer_worker, NULL);
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
        (void)pthread_attr_destroy(&attr);
        if (r != 0)
                return -r;
        closer.threads++;
        return 0;
}

static int closer_grow(void)
{
        size_t cap = closer.cap ? closer.cap * 2 : 64;
        int *q = malloc(cap * sizeof *q);

        if (!q)
                return -ENOMEM;
        /* Unwrap the ring into the new array. */
        for (size_t i = 0; i < closer.n; i++)
                q[i] = closer.queue[(closer.head + i) % closer.cap];
        free(closer.queue);
        closer.queue = q;
        closer.head = 0;
        closer.cap = cap;
        return 0;
}

/* See closer.h. The queue never holds more fds than tendd may have open. */
void closer_close(int fd)
{
        if (fd < 0)
                return;
        if (closer_is_harmless(fd)) {
                (void)close(fd);
                return;
        }
        (void)pthread_mutex_lock(&closer.lock);
        if ((closer.n == closer.cap && closer_grow() < 0) ||
            (closer.threads == 0 && closer_start_worker() < 0)) {
                /* No memory or no thread: closing here may block, leaking the
                 * fd for good is worse. */
                (void)pthread_mutex_unlock(&closer.lock);
                (void)close(fd);
                return;
        }
        closer.queue[(closer.head + closer.n) % closer.cap] = fd;
        closer.n++;
        /* Everyone busy (maybe stuck in a close): add a worker, up to the cap. */
        if (closer.busy >= closer.threads && closer.threads < CLOSER_THREADS_MAX)
                (void)closer_start_worker();
        (void)pthread_cond_signal(&closer.work);
        (void)pthread_mutex_unlock(&closer.lock);
}

/* See closer.h. */
size_t closer_pending(void)
{
        size_t n;

        (void)pthread_mutex_lock(&closer.lock);
        n = closer.n + closer.busy;
        (void)pthread_mutex_unlock(&closer.lock);
        return n;
}

/* See closer.h. */
void closer_drain(void)
{
        (void)pthread_mutex_lock(&closer.lock);
        while (closer.n > 0 || closer.busy > 0)
                (void)pthread_cond_wait(&closer.done, &closer.lock);
        (void)pthread_mutex_unlock(&closer.lock);
}
