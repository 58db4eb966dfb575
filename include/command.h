/* command.h: one auxiliary command of a service (a hook such as
 * exec_start_pre, a health probe) while it runs: its pidfd watched in the
 * loop, its timeout, and its end reported through a callback. The command
 * is spawned like the service's main process (spawn_prepare_argv(): the
 * same hygiene, user, group, limits, environment, working directory; the
 * caller adds the service's output and cgroup), so command.c only runs it.
 *
 * A command exists only while one runs: a service that has none costs a
 * NULL pointer, no fd and no timer.
 *
 *   start --> running --(exit)--> done(result), freed by its owner
 *                |
 *                +--(timeout)--> stop signal to its process group
 *                                  --(COMMAND_KILL_GRACE)--> SIGKILL
 *                |
 *                +--(command_abandon)--> SIGKILL to its group, reaped in the
 *                                        loop, freed; no callback
 *
 * The timeout is the time from its start to the stop signal; SIGKILL
 * follows COMMAND_KILL_GRACE later, so a command never outlives its
 * timeout by more than that. Every field but the watchers and the callback
 * is plain data: command_state_put()/command_state_get() keep a running
 * command across tendd's execve of itself, with its pidfd and what is left
 * of its timeout. */
#pragma once

#include <ev.h>
#include <stdbool.h>
#include <sys/types.h>

#include "spawn.h"
#include "util.h"

/* Between the stop signal at the timeout and SIGKILL. */
#define COMMAND_KILL_GRACE (2 * USEC_PER_SEC)

struct command;
struct state_reader;
struct state_writer;

/* How a command ended. */
struct command_result {
        bool exited;    /* it exited with code; else killed by signal */
        int code;       /* exit code, -1 when killed */
        int signal;     /* the signal that killed it, 0 when it exited */
        bool timed_out; /* it was still running at its timeout (and was sent
                         * the stop signal, then SIGKILL) */
};

/* Called once, when the command ended and was reaped; the owner frees it
 * (command_free()) there or later. */
typedef void (*command_done_fn)(struct command *c, const struct command_result *res,
                                void *userdata);

struct command {
        struct ev_loop *loop;
        pid_t pid; /* for display and the environment only */
        int pidfd;
        usec_t deadline; /* monotonic: the stop signal; then SIGKILL */
        int stop_signal;
        bool timed_out; /* the stop signal was sent: SIGKILL at deadline */
        bool abandoned; /* killed, reaped in the loop, then freed by itself */
        command_done_fn done;
        void *userdata;
        ev_io watcher;
        ev_timer timer;
};

/* Spawn p (borrowed; its fds are the caller's) as a command: its end is
 * reported to done(userdata). timeout: until the stop signal (stop_signal)
 * goes to its process group, USEC_INFINITY none. Fails like spawn_child():
 * -errno with the step in *ret_step ("exec", "setuid", ...); then nothing
 * runs and *ret is untouched. */
int command_start(struct ev_loop *loop, const struct spawn_params *p, usec_t timeout,
                  int stop_signal, command_done_fn done, void *userdata, struct command **ret,
                  const char **ret_step);

/* Send sig to the command's process group (it leads one: spawn_child()
 * makes a session). -ESRCH: gone already. */
int command_signal(struct command *c, int sig);

/* Kill a running command (SIGKILL to its group) without waiting for it:
 * it is reaped in the loop and freed then, and its callback is never
 * called. The caller forgets c. NULL-safe; returns NULL. */
struct command *command_abandon(struct command *c);

/* Free a command that ended (after its callback). A command that still
 * runs is abandoned. NULL-safe; returns NULL. */
struct command *command_free(struct command *c);

/* pid is a command's process that was not reaped yet: its exit is read
 * through its pidfd, and tendd's reaper of orphans must leave it. */
bool command_is_child(pid_t pid);

/* Across tendd's execve of itself: the pidfd, pid, deadline and signal as
 * a nested record under tag. command_state_get() makes the command again
 * from it (the pidfd claimed; done/userdata are given anew);
 * command_resume() starts its watcher and its timer with what was left of
 * its timeout. */
void command_state_put(const struct command *c, struct state_writer *w, uint16_t tag);
int command_state_get(struct ev_loop *loop, const struct state_reader *v, command_done_fn done,
                      void *userdata, struct command **ret);
void command_resume(struct command *c);
