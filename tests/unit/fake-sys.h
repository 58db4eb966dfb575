/* fake-sys.h: the fake kernel behind the sys_ops seam, and a service
 * config to feed it, for the unit tests of service.c and manager.c. */
#pragma once

#include <signal.h>
#include <sys/eventfd.h>

#include "config.h"
#include "sys.h"

/* The fake kernel. */
static struct {
        usec_t now;
        int spawn_err; /* -errno to fail the next spawns with */
        const char *spawn_step;
        unsigned spawns;
        pid_t next_pid;
        int exit_code; /* reap result: exit code, or -1 for signal */
        int exit_signal;
        unsigned signals; /* pidfd_signal calls */
        int last_signal;
        bool last_group;
        int reap_result; /* 1 reaped, 0 running */
} fake;

static int fake_spawn(const struct spawn_params *p, pid_t *ret_pid, int *ret_pidfd,
                      const char **ret_step)
{
        if (fake.spawn_err) {
                *ret_step = fake.spawn_step;
                return fake.spawn_err;
        }
        fake.spawns++;
        *ret_pid = ++fake.next_pid;
        *ret_pidfd = eventfd(0, EFD_CLOEXEC); /* a real fd for the watcher */
        *ret_step = NULL;
        return 0;
}

static int fake_signal(int pidfd, int sig, bool group)
{
        fake.signals++;
        fake.last_signal = sig;
        fake.last_group = group;
        return 0;
}

static int fake_reap(int pidfd, siginfo_t *ret)
{
        if (fake.reap_result <= 0)
                return fake.reap_result;
        memset(ret, 0, sizeof *ret);
        if (fake.exit_code >= 0) {
                ret->si_code = CLD_EXITED;
                ret->si_status = fake.exit_code;
        } else {
                ret->si_code = CLD_KILLED;
                ret->si_status = fake.exit_signal;
        }
        return 1;
}

static usec_t fake_now(void)
{
        return fake.now;
}

static const struct sys_ops fake_ops = {
        .spawn = fake_spawn,
        .pidfd_signal = fake_signal,
        .reap = fake_reap,
        .now = fake_now,
};

/* A service config called name, output to /dev/null. */
static struct service_config *make_named_config(const char *name, enum service_type type,
                                                enum restart_policy restart)
{
        struct service_config *sc = calloc(1, sizeof *sc);

        sc->name = strdup(name);
        sc->file = strdup("/nonexistent/svc.ini");
        sc->exec = strdup("/bin/true");
        sc->argv = calloc(2, sizeof(char *));
        sc->argv[0] = strdup("/bin/true");
        sc->type = type;
        sc->restart = restart;
        sc->restart_delay = 100 * USEC_PER_MSEC;
        sc->restart_max_delay = 1 * USEC_PER_SEC;
        sc->start_limit_burst = 5;
        sc->start_limit_interval = 10 * USEC_PER_SEC;
        sc->stop_signal = SIGTERM;
        sc->stop_timeout = 10 * USEC_PER_SEC;
        sc->output = OUTPUT_NULL;
        sc->output_set = true;
        sc->enabled = true;
        sc->kill_mode = KILL_GROUP;
        sc->ready_fd = -1;
        return sc;
}

_unused_ static struct service_config *make_config(enum service_type type,
                                                   enum restart_policy restart)
{
        return make_named_config("svc", type, restart);
}

/* Fresh fake kernel state: time 1000 s, pids from 101, reaps a failure. */
static void fake_reset(void)
{
        memset(&fake, 0, sizeof fake);
        fake.now = 1000 * USEC_PER_SEC;
        fake.next_pid = 100;
        fake.reap_result = 1;
        fake.exit_code = 1;
}
