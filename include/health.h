/* health.h: a service's health check: its probe and the timer that spaces
 * the probes. A probe of health_tcp connects; one of health_http connects,
 * sends "GET PATH HTTP/1.0" and reads the status line (2xx and 3xx pass).
 * Both run inside tendd's loop: a non-blocking socket, one ev_io and the one
 * ev_timer, no name lookup, no blocking call, at most HEALTH_LINE_MAX bytes
 * read. One of health_exec runs the command as the service's own (command.h,
 * spawned by the owner's exec callback: user, environment, cgroup) with its
 * stdout and stderr into a pipe tendd reads, keeping the last line; exit 0
 * passes, and at health_timeout command.c stops it (then SIGKILL). One probe
 * at a time: the timer counts a socket probe's timeout while it runs, the
 * interval to the next one after any probe ended, so probes never pile up.
 *
 * What a result means (readiness, a restart) is the service's to decide
 * (service.c): this module probes, reports each end through done(), and
 * keeps the last result and the counters as plain data for status and for a
 * re-exec. It exists only for a service whose config has a check: a service
 * without one costs a NULL pointer, no timer and no fd. */
#pragma once

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "command.h"
#include "config.h"

#define HEALTH_WHAT_MAX 200 /* the last result as text, with its NUL */
#define HEALTH_LINE_MAX 256 /* the most of an HTTP status line read */
/* While a service has not passed its check since its spawn, probes come at
 * least this often (readiness should be seen soon, whatever the interval). */
#define HEALTH_STARTING_INTERVAL USEC_PER_SEC

struct health;
struct state_reader;
struct state_writer;

/* A probe ended; its result is in h->last_ok and h->last_what. */
typedef void (*health_done_fn)(struct health *h, void *userdata);
/* Start health_exec as a command of the service, its stdout and stderr to
 * out_fd (borrowed), stopped at timeout; its end goes to done(h). 0 and
 * *ret, or -errno with *ret_reason (allocated, may be NULL). */
typedef int (*health_exec_fn)(struct health *h, int out_fd, usec_t timeout, command_done_fn done,
                              struct command **ret, char **ret_reason, void *userdata);

enum health_phase { HEALTH_IDLE, HEALTH_CONNECTING, HEALTH_SENDING, HEALTH_READING, HEALTH_EXEC };

struct health {
        struct ev_loop *loop;
        struct service_config *const *config; /* the owner's config in effect */
        health_done_fn done;
        health_exec_fn exec;
        void *userdata;

        /* Plain data, kept across a re-exec. A probe that passes sets
         * passed; the service resets it at a spawn, and counts failures
         * (service.c). */
        bool passed;       /* a probe passed since the last spawn */
        unsigned failures; /* counted failures in a row */
        bool has_result;
        bool last_ok;
        usec_t last_real;                /* realtime of the last result */
        char last_what[HEALTH_WHAT_MAX]; /* "ok", or why the probe failed */

        bool active; /* probing, or waiting to probe: the timer runs */
        enum health_phase phase;
        int fd;
        ev_io io;
        ev_timer timer;
        char *request; /* HTTP: the request, sent from offset sent */
        size_t request_len, sent;
        char line[HEALTH_LINE_MAX]; /* http: the status line; exec: the line being read */
        size_t got;
        struct command *cmd;            /* exec: the probe running (fd: its output) */
        char out_last[HEALTH_LINE_MAX]; /* exec: its last whole line of output */
        bool line_cut;                  /* exec: the line being read is too long: cut */
};

/* A new, inactive check for the service whose config *config is; exec
 * starts a health_exec probe. */
int health_new(struct ev_loop *loop, struct service_config *const *config, health_done_fn done,
               health_exec_fn exec, void *userdata, struct health **ret);
/* Abandons a probe under way; NULL-safe, returns NULL. */
struct health *health_free(struct health *h);

/* Probe after delay, then on and on; a probe under way is left to end (the
 * next interval counts from its end). */
void health_schedule(struct health *h, usec_t delay);
/* No more probes: a probe under way is abandoned, the timer stopped. */
void health_stop(struct health *h);
/* The delay after a probe: health_interval, at most
 * HEALTH_STARTING_INTERVAL until a probe passed. */
usec_t health_interval(const struct health *h);

/* Across a re-exec: the counters, the last result, and when the next
 * probe is due. A socket probe under way is abandoned by the exec (its
 * socket is close-on-exec): the new image probes again at once. A
 * health_exec probe under way is kept, with its output pipe and what was
 * read of it. */
void health_state_put(const struct health *h, struct state_writer *w, uint16_t tag);
/* Into h from v; *ret_due: when the next probe was due, sys->now()'s
 * clock, USEC_INFINITY: it was not active or its command runs on. */
int health_state_get(struct health *h, const struct state_reader *v, usec_t *ret_due);
/* Take up what health_state_get() read: the command's watchers, or the
 * next probe at due. */
void health_resume(struct health *h, usec_t due);

/* The state as status shows it, in buf: "" (no check), "inactive", "starting",
 * "healthy", "unhealthy 2/3". live: the service may have a process. */
const char *health_describe(const struct health *h, bool live, char *buf, size_t len);
