/* control.c: the control API, an sd-bus server on a private unix socket. Each
 * accepted connection is its own sd_bus in server mode, driven from the
 * manager's libev loop. sd-bus never reads the client's socket itself: tendd
 * reads it, checks the D-Bus framing (control_frame_feed: handshake and
 * message sizes, before anything is buffered) and relays the bytes through a
 * socketpair that is sd-bus's input; sd-bus writes its replies straight to the
 * client's socket (its output). Watchers (client socket, sd-bus's input, the
 * relay's write side, sd-bus's own deadline, the stall deadline) are re-armed
 * from one ev_prepare watcher before the loop sleeps. Start/Stop/Restart calls
 * that must wait keep a reference to the call message and are answered from
 * the manager's state hook. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-login.h>

#include "cglimits.h"
#include "closer.h"
#include "control.h"
#include "dropin.h"
#include "health.h"
#include "intmap.h"
#include "list.h"
#include "log.h"
#include "manager.h"
#include "output.h"
#include "paths.h"
#include "service.h"
#include "state.h"
#include "util.h"

#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83 /* Linux 6.16: refuse SCM_RIGHTS on this socket */
#endif

/* A peer with this many messages queued for it is not reading: drop it. */
#define CONTROL_QUEUED_WRITE_MAX 1024
#define CONTROL_SOCKET_BUFFER (256 * 1024)
/* Messages handled per wakeup; the rest is picked up by a zero timeout. */
#define CONTROL_PROCESS_BATCH 64
#define CONTROL_ACCEPT_BATCH 64
/* Bytes read from a client per wakeup, relayed before the next read. */
#define CONTROL_RELAY_CHUNK 4096
/* Refused connections are logged at most this often (with a count). */
#define CONTROL_REFUSE_LOG_INTERVAL_USEC (10 * USEC_PER_SEC)

struct control_conn {
        struct control *control;
        struct list_head link; /* in control->conns, newest first */
        unsigned id;
        sd_bus *bus;
        struct ucred cred;
        bool privileged; /* root or tendd's uid: the reserve, never evicted for others */
        bool may_change; /* privileged, or a member of socket_group */
        int fd;          /* the client's socket: read here, written by sd-bus (owns it) */
        int bus_fd;      /* sd-bus's input, the socketpair's other end (sd-bus owns it) */
        int relay_fd;    /* our end of the socketpair: checked bytes go in here */
        bool peer_eof;   /* the client sent EOF; passed on to sd-bus */
        struct control_frame frame;
        unsigned long steps; /* handshake and messages received whole */
        ev_io io;        /* the client's socket: relay input, sd-bus output */
        ev_io bus_io;    /* sd-bus's input has bytes */
        ev_io relay_io;  /* room again on the relay for what is left in buf */
        ev_timer timer;  /* sd-bus's own deadlines */
        ev_timer stall;  /* handshake or a message begun, not finished in time */
        bool subscribed; /* Subscribe() called: sent ServiceStateChanged */
        bool broken; /* a send failed outside processing: dropped before the loop sleeps */
        size_t buf_off, buf_len; /* read from the client, not yet relayed */
        uint8_t buf[CONTROL_RELAY_CHUNK];
};

struct control_call;

/* One service a waiting call is about. Until its state decides it, it is in
 * control->waiting under the service's address, chained with the others
 * waiting on the same service. */
struct control_wait {
        struct control_call *call;
        struct service *service; /* NULL once decided */
        const char *name;        /* in call->names */
        const char *state;       /* decided, reached: the state (static text); NULL failed */
        char *failure;           /* decided, failed: why (NULL: out of memory) */
        struct control_wait *prev, *next; /* others waiting on the same service */
        bool linked;             /* in control->waiting */
};

/* A Start/Stop/Restart call that waits: one however many services it
 * names, answered once every one of them is decided. */
struct control_call {
        struct list_head link;     /* in control->calls */
        struct control_conn *conn; /* whose call it is */
        sd_bus_message *msg;
        enum control_op op;
        bool many;      /* a *Services call: a(ss), failures listed together */
        size_t n, n_left;
        char *names;    /* every name, NUL-terminated one after another */
        struct control_wait waits[];
};

struct control {
        struct manager *manager;
        char *path;
        int fd;
        bool has_group; /* socket_group configured: its members may change state */
        gid_t group;
        ev_io listen_io;
        ev_timer listen_retry; /* re-enable accepting after EMFILE/ENFILE */
        ev_prepare prepare;
        struct list_head conns;
        unsigned n_conns;
        unsigned n_unprivileged;
        unsigned next_id;
        struct list_head calls;  /* struct control_call, waiting */
        struct intmap *waiting;  /* service address -> its first struct control_wait */
        bool sweep;              /* a reload happened: look for services it dropped */
        /* Services with an update within their state not signalled yet. */
        struct service **dirty;
        size_t n_dirty, dirty_cap;
        ev_timer status_timer;
        usec_t refuse_logged; /* last time a refusal was logged */
        unsigned refused;     /* refusals since */
        struct manager_listener listener;
        bool listening;
        /* Reexec: what runs it, and the call answered only if it fails. */
        void (*reexec_fn)(void *userdata);
        void *reexec_userdata;
        ev_timer reexec_timer;
        struct control_conn *reexec_conn;
        sd_bus_message *reexec_msg;
};

static const char *const control_op_names[_CONTROL_OP_MAX] = {
        [CONTROL_OP_START] = "start",
        [CONTROL_OP_STOP] = "stop",
        [CONTROL_OP_RESTART] = "restart",
};

/* Decide a pending call from the service's state; see control.h. */
enum control_verdict control_evaluate(enum control_op op, const struct service *s)
{
        static const enum control_verdict verdict[] = {
                [SERVICE_OUTCOME_PENDING] = CONTROL_WAIT,
                [SERVICE_OUTCOME_DONE] = CONTROL_DONE,
                [SERVICE_OUTCOME_FAILED] = CONTROL_FAIL,
        };

        return verdict[op == CONTROL_OP_STOP ? service_stop_outcome(s) : service_start_outcome(s)];
}

static const char *control_service_name(const struct service *s)
{
        return s->name;
}

static int control_check_access(const struct control_conn *cn, sd_bus_error *error)
{
        struct control *c = cn->control;

        if (cn->may_change)
                return 0;
        if (c->has_group)
                return sd_bus_error_setf(error, WIRE_ERROR_ACCESS_DENIED,
                                         "changing state needs root, tendd's user (uid %u) or "
                                         "group %u (socket_group)",
                                         (unsigned)geteuid(), (unsigned)c->group);
        return sd_bus_error_setf(error, WIRE_ERROR_ACCESS_DENIED,
                                 "changing state needs root or tendd's user (uid %u)",
                                 (unsigned)geteuid());
}

/* ---- calls waiting ---- */

/* The failure text for a call that cannot reach its target any more. */
static const char *control_failure_reason(enum control_op op, const struct service *s, char *buf,
                                          size_t size)
{
        const char *state = service_state_to_string(s->state);

        if (op == CONTROL_OP_STOP)
                snprintf(buf, size, "started again before it stopped (%s)", state);
        else if (s->reason[0])
                snprintf(buf, size, "%s", s->reason);
        else
                snprintf(buf, size, "%s", state);
        return buf;
}

static uint64_t control_key(const struct service *s)
{
        return (uint64_t)(uintptr_t)s;
}

/* Chain w to the others waiting on its service. */
static int control_wait_link(struct control *c, struct control_wait *w)
{
        struct control_wait *head = intmap_get(c->waiting, control_key(w->service));

        w->linked = true;
        if (!head) {
                int r = intmap_put(c->waiting, control_key(w->service), w);
                w->linked = r >= 0;
                return r;
        }
        w->prev = head;
        w->next = head->next;
        if (head->next)
                head->next->prev = w;
        head->next = w;
        return 0;
}

static void control_wait_unlink(struct control *c, struct control_wait *w)
{
        if (w->prev)
                w->prev->next = w->next;
        else {
                (void)intmap_remove(c->waiting, control_key(w->service));
                /* In the place just freed: this cannot grow the map. */
                if (w->next)
                        (void)intmap_put(c->waiting, control_key(w->service), w->next);
        }
        if (w->next)
                w->next->prev = w->prev;
        w->prev = w->next = NULL;
        w->linked = false;
}

static struct control_call *control_call_free(struct control *c, struct control_call *call)
{
        list_del(&call->link);
        for (size_t i = 0; i < call->n; i++) {
                if (call->waits[i].linked)
                        control_wait_unlink(c, &call->waits[i]);
                free(call->waits[i].failure);
        }
        sd_bus_message_unref(call->msg);
        free(call->names);
        free(call);
        return NULL;
}

/* w's outcome: reached state, or failed (state NULL) because of why. */
static void control_wait_decide(struct control *c, struct control_wait *w, const char *state,
                                const char *why)
{
        if (w->linked)
                control_wait_unlink(c, w);
        w->service = NULL;
        w->state = state;
        if (!state)
                w->failure = why ? strdup(why) : NULL;
        w->call->n_left--;
}

/* The failures of call, one "NAME: why" per line, made valid UTF-8. NULL
 * out of memory. */
static char *control_call_failures(const struct control_call *call)
{
        char buf[SERVICE_REASON_MAX * 4 + 8];
        size_t len = 0, size = 0;
        char *text = NULL;

        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < call->n; i++) {
                        const struct control_wait *w = &call->waits[i];
                        const char *why;

                        if (w->state)
                                continue;
                        why = wire_utf8(w->failure ? w->failure : "failed", buf, sizeof buf);
                        if (pass == 0)
                                size += strlen(w->name) + strlen(why) + 3;
                        else
                                len += (size_t)sprintf(text + len, "%s%s: %s", len ? "\n" : "",
                                                       w->name, why);
                }
                if (pass == 0 && !(text = malloc(size + 1)))
                        return NULL;
        }
        text[len] = '\0';
        return text;
}

/* The reply of a *Services call: every name with the state it is in now
 * (each decided one: the state it reached). */
static int control_reply_many(sd_bus_message *msg, struct control_wait *waits, size_t n)
{
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ss)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, "(ss)", waits[i].name,
                                          waits[i].state ? waits[i].state
                                          : waits[i].service
                                                  ? service_state_to_string(waits[i].service->state)
                                                  : "");
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

/* Every service of call is decided: answer it, once, and free it. */
static void control_call_finish(struct control *c, struct control_call *call)
{
        char buf[SERVICE_REASON_MAX * 4 + 8];
        struct control_wait *w = &call->waits[0];
        _cleanup_free_ char *failures = NULL;
        bool failed = false;
        int r;

        for (size_t i = 0; i < call->n; i++)
                failed |= !call->waits[i].state;
        if (!call->many && failed)
                r = sd_bus_reply_method_errorf(call->msg, WIRE_ERROR_FAILED, "%s: %s", w->name,
                                               wire_utf8(w->failure ? w->failure : "failed",
                                                         buf, sizeof buf));
        else if (!call->many)
                r = sd_bus_reply_method_return(call->msg, "s", w->state);
        else if (failed) {
                failures = control_call_failures(call);
                r = sd_bus_reply_method_errorf(call->msg, WIRE_ERROR_FAILED, "%s",
                                               failures ? failures : "failed (out of memory)");
        } else
                r = control_reply_many(call->msg, call->waits, call->n);
        if (r < 0 && call->conn)
                call->conn->broken = true;
        control_call_free(c, call);
}

/* w's service s changed: decide w if its state says. */
static void control_wait_check(struct control *c, struct control_wait *w, struct service *s)
{
        char buf[SERVICE_REASON_MAX + 64];
        enum control_verdict v = control_evaluate(w->call->op, s);

        if (v != CONTROL_DONE && s->removed && !service_is_live(s))
                control_wait_decide(c, w, NULL, "removed");
        else if (v == CONTROL_DONE)
                control_wait_decide(c, w, service_state_to_string(s->state), NULL);
        else if (v == CONTROL_FAIL)
                control_wait_decide(c, w, NULL,
                                    control_failure_reason(w->call->op, s, buf, sizeof buf));
        else
                return;
        if (w->call->n_left == 0)
                control_call_finish(c, w->call);
}

/* Answer what s's current state decides: only the calls waiting on s. */
static void control_check_waiting(struct control *c, struct service *s, bool removed)
{
        struct control_wait *w = intmap_get(c->waiting, control_key(s)), *next;

        for (; w; w = next) {
                next = w->next;
                if (removed) {
                        control_wait_decide(c, w, NULL, "removed");
                        if (w->call->n_left == 0)
                                control_call_finish(c, w->call);
                } else
                        control_wait_check(c, w, s);
        }
}

/* Services dropped by a reload without a final state change: their pointer
 * no longer matches the manager's entry for the name. */
static void control_sweep_waiting(struct control *c)
{
        struct control_call *call, *next;

        c->sweep = false;
        list_for_each_entry_safe(call, next, &c->calls, link) {
                for (size_t i = 0; i < call->n; i++) {
                        struct control_wait *w = &call->waits[i];

                        if (w->service && manager_find(c->manager, w->name) != w->service)
                                control_wait_decide(c, w, NULL, "removed");
                }
                if (call->n_left == 0)
                        control_call_finish(c, call);
        }
}

/* Fail every call waiting (tendd re-executes or ends). */
static void control_fail_calls(struct control *c, const char *why)
{
        while (!list_empty(&c->calls)) {
                struct control_call *call = list_first_entry(&c->calls, struct control_call, link);

                for (size_t i = 0; i < call->n; i++)
                        if (call->waits[i].service)
                                control_wait_decide(c, &call->waits[i], NULL, why);
                control_call_finish(c, call);
        }
}

static void control_emit(struct control *c, struct service *s)
{
        struct control_conn *cn;
        char buf[SERVICE_REASON_MAX * 4 + 8];
        const char *reason = wire_utf8(s->reason, buf, sizeof buf);

        list_for_each_entry(cn, &c->conns, link) {
                if (!cn->subscribed || cn->broken || sd_bus_is_ready(cn->bus) <= 0)
                        continue;
                if (sd_bus_emit_signal(cn->bus, WIRE_PATH, WIRE_INTERFACE,
                                       WIRE_SIGNAL_STATE_CHANGED, "sss", control_service_name(s),
                                       service_state_to_string(s->state), reason) < 0)
                        cn->broken = true;
        }
}

static bool control_undirty(struct control *c, struct service *s)
{
        for (size_t i = 0; i < c->n_dirty; i++)
                if (c->dirty[i] == s) {
                        c->dirty[i] = c->dirty[--c->n_dirty];
                        return true;
                }
        return false;
}

/* An update within s's state: signalled with the next flush, once. */
static void control_mark_dirty(struct control *c, struct service *s)
{
        for (size_t i = 0; i < c->n_dirty; i++)
                if (c->dirty[i] == s)
                        return;
        if (c->n_dirty == c->dirty_cap) {
                size_t cap = c->dirty_cap ? 2 * c->dirty_cap : 16;
                struct service **d = reallocarray(c->dirty, cap, sizeof *d);

                if (!d) {
                        control_emit(c, s); /* no room to defer it: send it now */
                        return;
                }
                c->dirty = d;
                c->dirty_cap = cap;
        }
        c->dirty[c->n_dirty++] = s;
        if (!ev_is_active(&c->status_timer)) {
                ev_timer_set(&c->status_timer,
                             (ev_tstamp)CONTROL_STATUS_INTERVAL_USEC / (ev_tstamp)USEC_PER_SEC, 0.);
                ev_timer_start(c->manager->loop, &c->status_timer);
        }
}

static void control_status_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct control *c = container_of(w, struct control, status_timer);

        /* Each emitted once with what it holds now; marks made meanwhile start
         * the next interval. */
        while (c->n_dirty > 0)
                control_emit(c, c->dirty[--c->n_dirty]);
}

/* A change of state is signalled at once, in order; an update within a state
 * (STATUS=, a new reason) is coalesced: a service flooding STATUS= costs each
 * client at most one signal per CONTROL_STATUS_INTERVAL_USEC. */
static void control_state_hook(struct service *s, enum service_state old, void *userdata)
{
        struct control *c = userdata;

        if (old == s->state)
                control_mark_dirty(c, s);
        else {
                (void)control_undirty(c, s); /* this signal carries the latest */
                control_emit(c, s);
        }
        control_check_waiting(c, s, false);
}

/* s is about to be freed (dropped by a reload): nothing will answer for it. */
static void control_removed_hook(struct service *s, void *userdata)
{
        struct control *c = userdata;

        (void)control_undirty(c, s);
        control_check_waiting(c, s, true);
}

/* After a reload, calls on services it dropped are answered (before the loop
 * sleeps). */
static void control_phase_hook(enum manager_phase phase, void *userdata)
{
        struct control *c = userdata;

        if (phase == MANAGER_RELOADED && !list_empty(&c->calls))
                c->sweep = true;
}

/* ---- methods ---- */

/* One service as the API shows it (struct wire_service, filled from the
 * table in wire.h), with room for what the service does not hold as such. */
struct control_record {
        struct wire_service wire;
        char log_path[WIRE_STRING_MAX];
        char after[WIRE_STRING_MAX], requires[WIRE_STRING_MAX], wants[WIRE_STRING_MAX];
        char journal[sizeof "SYSLOG_IDENTIFIER= " + SERVICE_NAME_MAX + 128];
        char health[48];
        bool usage_read;
        struct cglimits_usage usage;
};

static const char *control_state(const struct service *s)
{
        return service_state_to_string(s->state);
}

/* The main process while it lives (tendd holds its pidfd), else 0. */
static uint32_t control_pid(const struct service *s)
{
        return service_is_live(s) && s->pid > 0 ? (uint32_t)s->pid : 0;
}

static const char *control_type(const struct service *s)
{
        return s->config ? service_type_to_string(s->config->type) : "";
}

static const char *control_output(const struct service *s)
{
        return s->config ? output_mode_to_string(output_mode_in_use(s->output, s->config)) : "";
}

static const char *control_logfile(const struct service *s, struct control_record *rec)
{
        _cleanup_free_ char *path = s->host ? paths_log_file(s->host->log_dir, s->name) : NULL;

        if (!path)
                return "";
        (void)snprintf(rec->log_path, sizeof rec->log_path, "%s", path);
        return rec->log_path;
}

/* The realtime of the last spawn, 0 never: spawns are timed on the
 * monotonic clock, this is now's realtime less the monotonic time since. */
static uint64_t control_started(const struct service *s)
{
        usec_t now_mono = now_monotonic(), now_real = now_realtime(), ago;

        if (s->started_mono == 0 || s->started_mono > now_mono)
                return 0;
        ago = now_mono - s->started_mono;
        return ago < now_real ? now_real - ago : 0;
}

/* What the service's cgroup used, read once per record; unknown without one. */
static const struct cglimits_usage *control_usage(const struct service *s,
                                                  struct control_record *rec)
{
        if (!rec->usage_read) {
                rec->usage_read = true;
                rec->usage = (struct cglimits_usage){ CGLIMITS_UNKNOWN, CGLIMITS_UNKNOWN,
                                                      CGLIMITS_UNKNOWN };
                if (s->cgroup_fd >= 0 && cglimits_usage(s->cgroup_fd, &rec->usage) < 0)
                        rec->usage.cpu_usec = rec->usage.memory_bytes = CGLIMITS_UNKNOWN;
        }
        return &rec->usage;
}

/* The configuration as loaded: a reload's new one, before the next spawn uses it. */
static const struct service_config *control_config(const struct service *s)
{
        return s->next_config ? s->next_config : s->config;
}

/* names as one space-separated string in buf (size WIRE_STRING_MAX), whole
 * names only: what would not fit is left out. */
static const char *control_join(char *const *names, char *buf)
{
        size_t o = 0;

        buf[0] = '\0';
        for (char *const *p = names; p && *p; p++) {
                size_t l = strlen(*p);

                if (o + (o > 0) + l + 1 > WIRE_STRING_MAX)
                        break;
                if (o > 0)
                        buf[o++] = ' ';
                memcpy(buf + o, *p, l + 1);
                o += l;
        }
        return buf;
}

static const char *control_after(const struct service *s, struct control_record *rec)
{
        const struct service_config *sc = control_config(s);

        return control_join(sc ? sc->after : NULL, rec->after);
}

static const char *control_requires(const struct service *s, struct control_record *rec)
{
        const struct service_config *sc = control_config(s);

        return control_join(sc ? sc->requires : NULL, rec->requires);
}

static const char *control_wants(const struct service *s, struct control_record *rec)
{
        const struct service_config *sc = control_config(s);

        return control_join(sc ? sc->wants : NULL, rec->wants);
}

static const char *control_exec(const struct service *s)
{
        const struct service_config *sc = control_config(s);

        return sc && sc->exec ? sc->exec : "";
}

/* journald attributes each line of a stream to the process that wrote it
 * (SO_PASSCRED): a service's lines carry its own pid, and the unit of its
 * cgroup, which is tendd's unit (its cgroups are below tendd's). So when tendd
 * runs as a service unit, that unit with the identifier selects the service's
 * lines, across restarts of the service and of tendd, and no one else's.
 * Outside a service unit nothing tells them apart: "" (the identifier alone).
 * Found once. */
static bool control_is_service_unit(const char *unit)
{
        size_t l = strlen(unit);

        return l > 8 && l < 100 && strcmp(unit + l - 8, ".service") == 0;
}

static const char *control_journal_owner(void)
{
        static char owner[128];
        static bool found;
        _cleanup_free_ char *unit = NULL;

        if (found)
                return owner;
        found = true;
        if (sd_pid_get_user_unit(0, &unit) >= 0 && control_is_service_unit(unit)) {
                (void)snprintf(owner, sizeof owner, " _SYSTEMD_USER_UNIT=%s", unit);
                return owner;
        }
        free(unit);
        unit = NULL;
        if (sd_pid_get_unit(0, &unit) >= 0 && control_is_service_unit(unit))
                (void)snprintf(owner, sizeof owner, " _SYSTEMD_UNIT=%s", unit);
        return owner;
}

static const char *control_journal(const struct service *s, struct control_record *rec)
{
        if (!s->config || output_mode_in_use(s->output, s->config) != OUTPUT_JOURNAL)
                return "";
        (void)snprintf(rec->journal, sizeof rec->journal, "SYSLOG_IDENTIFIER=%s%s", s->name,
                       control_journal_owner());
        return rec->journal;
}

static const char *control_health(const struct service *s, struct control_record *rec)
{
        return service_health(s, rec->health, sizeof rec->health);
}

static const char *control_health_result(const struct service *s)
{
        return s->health && s->health->has_result ? s->health->last_what : "";
}

static uint64_t control_health_time(const struct service *s)
{
        return s->health && s->health->has_result ? s->health->last_real : 0;
}

static void control_record_fill(struct control_record *rec, const struct service *s)
{
        rec->usage_read = false;
#define CONTROL_FILL(member, bus, kind, json, form, value) rec->wire.member = (value);
        WIRE_SERVICE_FIELDS(CONTROL_FILL)
#undef CONTROL_FILL
}

/* The reply to msg: every service, or the one named, each appended by append. */
static int control_reply_services(sd_bus_message *msg, struct control_conn *cn,
                                  struct service *one,
                                  int (*append)(sd_bus_message *m, const struct wire_service *w,
                                                char *scratch),
                                  const char *array)
{
        struct manager *m = cn->control->manager;
        _cleanup_free_ struct control_record *rec = malloc(sizeof *rec);
        _cleanup_free_ char *scratch = malloc(WIRE_STRING_MAX);
        sd_bus_message *reply = NULL;
        int r;

        if (!rec || !scratch)
                return -ENOMEM;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0 && array)
                r = sd_bus_message_open_container(reply, 'a', array);
        for (size_t i = 0; r >= 0 && i < (one ? 1 : m->n_services); i++) {
                control_record_fill(rec, one ? one : m->services[i]);
                r = append(reply, &rec->wire, scratch);
        }
        if (r >= 0 && array)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

static int control_method_list(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return control_reply_services(msg, userdata, NULL, wire_service_append, "a{sv}");
}

/* The same fields as ListServices, as fixed structs: no variants to build or
 * parse, several times faster for thousands of services (tendctl status). */
static int control_method_list_compact(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return control_reply_services(msg, userdata, NULL, wire_service_append_compact,
                                      WIRE_SERVICE_SIGNATURE);
}

static int control_config_errors(sd_bus_error *error, const char *prefix, char **errors);

/* The service name, made from its template when make and no such service
 * is there yet (an instance NAME@X that is started). */
static int control_find_or_make(struct control_conn *cn, const char *name, bool make,
                                sd_bus_error *error, struct service **ret)
{
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        *ret = manager_find(cn->control->manager, name);
        if (*ret)
                return 0;
        r = make ? manager_instantiate(cn->control->manager, name, ret, &errors) : -ENOENT;
        if (r == -ENOENT)
                return sd_bus_error_setf(error, WIRE_ERROR_NO_SUCH_SERVICE, "unknown service %s",
                                         name);
        if (r == -EINVAL && errors && errors[0])
                return control_config_errors(error, "", errors);
        if (r < 0)
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED,
                                         "%s: cannot make the instance: %s", name, strerror(-r));
        return 0;
}

/* The instances names[0..n) of templates (none a service yet when
 * checked), into ret[0..n): all made, or none when one has errors, every
 * one's errors then reported. Each may name the others (tendctl start
 * worker@x db@x, worker@x requiring db@x): the one named is made first. */
static int control_make_instances(struct control_conn *cn, const char *const *names, size_t n,
                                  sd_bus_error *error, struct service **ret)
{
        struct manager *m = cn->control->manager;
        _cleanup_free_ char **also = calloc(m->n_services + n + 1, sizeof *also);
        _cleanup_strv_free_ char **errors = NULL;
        size_t n_also = 0, left = n;
        int r = 0;

        if (!also)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_services; i++)
                also[n_also++] = m->services[i]->name;
        for (size_t i = 0; i < n; i++)
                also[n_also++] = (char *)names[i];
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct service_config *sc = NULL;
                char **e = NULL;

                r = config_instance_new(m->config, names[i], also, n_also, &sc, &e);
                service_config_free(sc);
                if (r == -EINVAL) {
                        r = 0;
                        for (char **x = e; x && *x && r >= 0; x++)
                                r = strv_push(&errors, TAKE_PTR(*x));
                        strv_free(e);
                }
        }
        if (r < 0)
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED, "cannot make the instances: %s",
                                         strerror(-r));
        if (errors)
                return control_config_errors(error, "", errors);
        memset(ret, 0, n * sizeof *ret);
        while (left > 0) {
                size_t before = left;

                for (size_t i = 0; i < n; i++) {
                        _cleanup_strv_free_ char **e = NULL;

                        if (ret[i])
                                continue;
                        /* A name given twice is made once. */
                        ret[i] = manager_find(m, names[i]);
                        if (!ret[i]) {
                                r = manager_instantiate(m, names[i], &ret[i], &e);
                                if (r == -EINVAL && left > 1)
                                        continue; /* names one not made yet */
                                if (r == -EINVAL && e && e[0])
                                        return control_config_errors(error, "", e);
                                if (r < 0)
                                        return sd_bus_error_setf(error, WIRE_ERROR_FAILED,
                                                                 "%s: cannot make the instance: %s",
                                                                 names[i], strerror(-r));
                        }
                        left--;
                }
                if (left == before) /* they name each other in a circle */
                        return sd_bus_error_setf(error, WIRE_ERROR_FAILED,
                                                 "%s: cannot make the instance: it names "
                                                 "another that names it",
                                                 names[0]);
        }
        return 0;
}

static int control_read_service_make(sd_bus_message *msg, struct control_conn *cn, bool make,
                                     sd_bus_error *error, struct service **ret)
{
        const char *name;
        int r;

        r = control_check_access(cn, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        return control_find_or_make(cn, name, make, error, ret);
}

static int control_read_service(sd_bus_message *msg, struct control_conn *cn, bool write,
                                sd_bus_error *error, struct service **ret)
{
        const char *name;
        struct service *s = NULL;
        int r;

        if (write) {
                r = control_check_access(cn, error);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_read(msg, "s", &name);
        if (r < 0)
                return r;
        s = manager_find(cn->control->manager, name);
        if (!s)
                return sd_bus_error_setf(error, WIRE_ERROR_NO_SUCH_SERVICE,
                                         "unknown service %s", name);
        *ret = s;
        return 0;
}

static int control_method_get(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct service *s = NULL;
        int r;

        r = control_read_service(msg, userdata, false, error, &s);
        if (r < 0)
                return r;
        return control_reply_services(msg, userdata, s, wire_service_append, NULL);
}

static const enum service_event control_op_events[_CONTROL_OP_MAX] = {
        [CONTROL_OP_START] = SERVICE_EVENT_START,
        [CONTROL_OP_STOP] = SERVICE_EVENT_STOP,
        [CONTROL_OP_RESTART] = SERVICE_EVENT_RESTART,
};

/* A call on set[0..n) (distinct, sorted by name) once each was dispatched
 * op: each service decided now or linked to wait; answered at once if
 * every one is decided. */
static int control_call_begin(struct control_conn *cn, sd_bus_message *msg, enum control_op op,
                              bool many, struct service *const *set, size_t n)
{
        struct control *c = cn->control;
        struct control_call *call;
        size_t len = 0;
        char *p;

        call = calloc(1, sizeof *call + n * sizeof *call->waits);
        if (!call)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                len += strlen(control_service_name(set[i])) + 1;
        call->names = malloc(len + 1);
        if (!call->names) {
                free(call);
                return -ENOMEM;
        }
        call->conn = cn;
        call->msg = sd_bus_message_ref(msg);
        call->op = op;
        call->many = many;
        call->n = call->n_left = n;
        list_add_tail(&call->link, &c->calls);
        p = call->names;
        for (size_t i = 0; i < n; i++) {
                struct control_wait *w = &call->waits[i];

                w->call = call;
                w->service = set[i];
                w->name = p;
                p = stpcpy(p, control_service_name(set[i])) + 1;
        }
        for (size_t i = 0; i < n; i++) {
                struct control_wait *w = &call->waits[i];
                char buf[SERVICE_REASON_MAX + 64];
                enum control_verdict v = control_evaluate(op, w->service);

                if (v == CONTROL_DONE)
                        control_wait_decide(c, w, service_state_to_string(w->service->state),
                                            NULL);
                else if (v == CONTROL_FAIL)
                        control_wait_decide(c, w, NULL,
                                            control_failure_reason(op, w->service, buf,
                                                                   sizeof buf));
                else if (control_wait_link(c, w) < 0) {
                        control_call_free(c, call);
                        return -ENOMEM;
                }
        }
        if (call->n_left == 0)
                control_call_finish(c, call);
        return 1;
}

/* Dispatch op to s, then answer at once or park the call until the state hook
 * decides it. */
static int control_begin(struct control_conn *cn, sd_bus_message *msg, enum control_op op,
                         sd_bus_error *error)
{
        struct service *s = NULL;
        enum control_verdict v;
        char buf[SERVICE_REASON_MAX + 64];
        int r;

        r = control_read_service_make(msg, cn, op != CONTROL_OP_STOP, error, &s);
        if (r < 0)
                return r;

        log_service(LOG_INFO, control_service_name(s), "%s requested by uid %u",
                    control_op_names[op], (unsigned)cn->cred.uid);
        service_dispatch(s, control_op_events[op]);
        if (sd_bus_message_get_expect_reply(msg) == 0)
                return 1;

        v = control_evaluate(op, s);
        if (v == CONTROL_DONE)
                return sd_bus_reply_method_return(msg, "s", service_state_to_string(s->state));
        if (v == CONTROL_FAIL)
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED, "%s: %s",
                                         control_service_name(s),
                                         control_failure_reason(op, s, buf, sizeof buf));
        return control_call_begin(cn, msg, op, false, &s, 1);
}

/* Unknown names listed in a call's error: at most this many, then a count. */
#define CONTROL_UNKNOWN_LISTED 20

static int control_service_cmp(const void *a, const void *b)
{
        return strcmp((*(struct service *const *)a)->name, (*(struct service *const *)b)->name);
}

/* The services a *Services call names (as, t flags), distinct and sorted by
 * name, in *ret (n in *ret_n); all of them for WIRE_MANY_ALL. Any unknown
 * name fails the whole call, every one listed. */
static int control_read_many(sd_bus_message *msg, struct control_conn *cn, bool make,
                             sd_bus_error *error, struct service ***ret, size_t *ret_n,
                             uint64_t *ret_flags)
{
        struct manager *m = cn->control->manager;
        _cleanup_free_ struct service **set = NULL;
        _cleanup_free_ char *unknown = NULL;
        /* Instances of templates to make, once every name is known to be
         * good (the message holds the strings). */
        _cleanup_free_ const char **to_make = NULL;
        size_t n = 0, cap = 0, n_unknown = 0, unknown_len = 0, n_make = 0;
        uint64_t flags;
        const char *name;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read_basic(msg, 's', &name)) > 0) {
                struct service *s = manager_find(m, name);

                if (!s && make && config_find_template(m->config, name)) {
                        const char **nv = reallocarray(to_make, n_make + 1, sizeof *nv);

                        if (!nv)
                                return -ENOMEM;
                        to_make = nv;
                        to_make[n_make++] = name;
                        continue;
                }
                if (!s) {
                        /* "NAME: unknown service" per line, the first few. */
                        size_t l = strlen(name) + 18;
                        char *u;

                        if (n_unknown++ >= CONTROL_UNKNOWN_LISTED)
                                continue;
                        u = realloc(unknown, unknown_len + l + 2);
                        if (!u)
                                return -ENOMEM;
                        unknown = u;
                        unknown_len += (size_t)sprintf(unknown + unknown_len, "%s%s: unknown service",
                                                       unknown_len ? "\n" : "", name);
                        continue;
                }
                if (n == cap) {
                        size_t ncap = cap ? 2 * cap : 16;
                        struct service **ns = reallocarray(set, ncap + 1, sizeof *ns);

                        if (!ns)
                                return -ENOMEM;
                        set = ns;
                        cap = ncap;
                }
                set[n++] = s;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        r = sd_bus_message_read_basic(msg, 't', &flags);
        if (r < 0)
                return r;
        if (flags & ~(uint64_t)WIRE_MANY_KNOWN)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "unknown flags %#llx",
                                         (unsigned long long)(flags & ~(uint64_t)WIRE_MANY_KNOWN));
        if ((flags & WIRE_MANY_ALL) && (n > 0 || n_unknown > 0 || n_make > 0))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "names given with the flag for all services");
        if (n_unknown > 0) {
                if (n_unknown > CONTROL_UNKNOWN_LISTED)
                        return sd_bus_error_setf(error, WIRE_ERROR_NO_SUCH_SERVICE,
                                                 "%s\n(%zu unknown services in all)", unknown,
                                                 n_unknown);
                return sd_bus_error_set(error, WIRE_ERROR_NO_SUCH_SERVICE, unknown);
        }
        if (n_make > 0) {
                struct service **ns = reallocarray(set, n + n_make + 1, sizeof *ns);

                if (!ns)
                        return -ENOMEM;
                set = ns;
                r = control_make_instances(cn, to_make, n_make, error, set + n);
                if (r < 0)
                        return r;
                n += n_make;
        }
        if (flags & WIRE_MANY_ALL) {
                /* The manager's list is sorted by name already. */
                free(set);
                set = malloc((m->n_services + 1) * sizeof *set);
                if (!set)
                        return -ENOMEM;
                memcpy(set, m->services, m->n_services * sizeof *set);
                n = m->n_services;
        } else if (n > 1) {
                size_t k = 1;

                qsort(set, n, sizeof *set, control_service_cmp);
                for (size_t i = 1; i < n; i++)
                        if (set[i] != set[k - 1])
                                set[k++] = set[i];
                n = k;
        }
        *ret = TAKE_PTR(set);
        *ret_n = n;
        *ret_flags = flags;
        return 0;
}

/* StartServices, StopServices, RestartServices: every name checked first
 * (one unknown, and nothing is done), every request made in one pass (see
 * manager_dispatch_many()), one log line, one call waiting for all. */
static int control_begin_many(struct control_conn *cn, sd_bus_message *msg, enum control_op op,
                              sd_bus_error *error)
{
        _cleanup_free_ struct service **set = NULL;
        uint64_t flags = 0;
        size_t n = 0;
        int r;

        r = control_check_access(cn, error);
        if (r < 0)
                return r;
        r = control_read_many(msg, cn, op != CONTROL_OP_STOP, error, &set, &n, &flags);
        if (r < 0)
                return r;
        if (n == 1)
                log_service(LOG_INFO, control_service_name(set[0]), "%s requested by uid %u",
                            control_op_names[op], (unsigned)cn->cred.uid);
        else
                log_info("%s of %s%zu services requested by uid %u", control_op_names[op],
                         flags & WIRE_MANY_ALL ? "all " : "", n, (unsigned)cn->cred.uid);
        r = manager_dispatch_many(cn->control->manager, set, n, control_op_events[op]);
        if (r < 0)
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED, "nothing done: %s",
                                         strerror(-r));
        if (sd_bus_message_get_expect_reply(msg) == 0)
                return 1;
        if (flags & WIRE_MANY_NO_BLOCK) {
                /* The states they are in now: a record on the stack for each. */
                _cleanup_free_ struct control_wait *now = calloc(n + 1, sizeof *now);

                if (!now)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        now[i].name = control_service_name(set[i]);
                        now[i].state = service_state_to_string(set[i]->state);
                }
                return control_reply_many(msg, now, n);
        }
        return control_call_begin(cn, msg, op, true, set, n);
}

static int control_method_start(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return control_begin(userdata, msg, CONTROL_OP_START, error);
}

static int control_method_stop(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return control_begin(userdata, msg, CONTROL_OP_STOP, error);
}

static int control_method_restart(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return control_begin(userdata, msg, CONTROL_OP_RESTART, error);
}

static int control_method_start_many(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return control_begin_many(userdata, msg, CONTROL_OP_START, error);
}

static int control_method_stop_many(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return control_begin_many(userdata, msg, CONTROL_OP_STOP, error);
}

static int control_method_restart_many(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        return control_begin_many(userdata, msg, CONTROL_OP_RESTART, error);
}

static int control_method_kill(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;
        struct service *s = NULL;
        int32_t sig;
        int r;

        r = control_read_service(msg, cn, true, error, &s);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "i", &sig);
        if (r < 0)
                return r;
        if (sig <= 0 || sig >= NSIG)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "invalid signal %d",
                                         (int)sig);
        r = service_kill(s, sig);
        if (r != -ESRCH)
                log_service(LOG_INFO, control_service_name(s), "signal %d requested by uid %u",
                            (int)sig, (unsigned)cn->cred.uid);
        if (r == -ESRCH)
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED, "%s: not running",
                                         control_service_name(s));
        if (r < 0)
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED, "%s: cannot signal: %s",
                                         control_service_name(s), strerror(-r));
        return sd_bus_reply_method_return(msg, NULL);
}

/* ReloadService(s): the service's exec_reload or reload_signal, by a caller
 * who may change state; answered once the reload began (its end shows in
 * the service's reason). */
static int control_method_reload_service(sd_bus_message *msg, void *userdata,
                                         sd_bus_error *error)
{
        struct control_conn *cn = userdata;
        struct service *s = NULL;
        char err[SERVICE_REASON_MAX];
        int r;

        r = control_read_service(msg, cn, true, error, &s);
        if (r < 0)
                return r;
        log_service(LOG_INFO, control_service_name(s), "reload requested by uid %u",
                    (unsigned)cn->cred.uid);
        r = service_reload(s, err, sizeof err);
        if (r < 0)
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED, "%s", err);
        return sd_bus_reply_method_return(msg, NULL);
}

/* Subscribe, Unsubscribe: whether the connection is sent ServiceStateChanged.
 * Only subscribers are: a client that made a call and reads nothing until
 * its answer (a stop of thousands of services) must not be sent the
 * thousands of signals that would make it a client that does not read. */
static int control_method_subscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;

        cn->subscribed = true;
        return sd_bus_reply_method_return(msg, NULL);
}

static int control_method_unsubscribe(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;

        cn->subscribed = false;
        return sd_bus_reply_method_return(msg, NULL);
}

/* error: InvalidConfig with prefix and each of a rejected load's errors on
 * a line of its own. */
static int control_config_errors(sd_bus_error *error, const char *prefix, char **errors)
{
        _cleanup_free_ char *text = NULL, *clean = NULL;
        size_t len = strlen(prefix);

        for (char **e = errors; *e; e++)
                len += strlen(*e) + 1;
        text = malloc(len + 1);
        if (!text)
                return -ENOMEM;
        len = strlen(prefix);
        memcpy(text, prefix, len);
        for (char **e = errors; *e; e++) {
                size_t l = strlen(*e);
                if (len)
                        text[len++] = '\n';
                memcpy(text + len, *e, l);
                len += l;
        }
        text[len] = '\0';
        clean = malloc(len * 4 + 8);
        if (!clean)
                return -ENOMEM;
        return sd_bus_error_set(error, WIRE_ERROR_INVALID_CONFIG,
                                wire_utf8(text, clean, len * 4 + 8));
}

static int control_method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        r = control_check_access(cn, error);
        if (r < 0)
                return r;
        log_info("reload requested by uid %u", (unsigned)cn->cred.uid);
        r = manager_reload(cn->control->manager, &errors);
        control_sweep_waiting(cn->control);
        if (r >= 0)
                return sd_bus_reply_method_return(msg, NULL);
        if (!errors || !errors[0])
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED, "reload failed: %s",
                                         strerror(-r));
        return control_config_errors(error, "", errors);
}

/* GetServiceFiles: the files the service's config was built from, in the
 * order applied. */
static int control_method_get_files(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const struct service_config *sc;
        struct service *s = NULL;
        char *one[2] = { NULL, NULL };
        int r;

        r = control_read_service(msg, userdata, false, error, &s);
        if (r < 0)
                return r;
        sc = control_config(s);
        one[0] = sc->file;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_append_strv(reply, sc->files ? sc->files : one);
        if (r == -EINVAL)
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED,
                                         "%s: a file name is not valid UTF-8", s->name);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* SetServiceEnabled: write the admin's NAME.ini.d/50-enable.ini with
 * enabled = yes|no, then reload so that it is in effect when the call
 * returns. A rejected reload puts the file back as it was; a file applied
 * later that sets enabled again makes the call fail, naming the files. */
static int control_method_set_enabled(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;
        struct manager *m = cn->control->manager;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *old = NULL, *path = NULL;
        const struct service_config *sc;
        char why[PATH_MAX + 256], name[SERVICE_NAME_MAX + 1];
        struct service *s = NULL;
        const char *content;
        int enabled, r;

        r = control_read_service(msg, cn, true, error, &s);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "b", &enabled);
        if (r < 0)
                return r;
        if (m->shutting_down)
                return sd_bus_error_set(error, WIRE_ERROR_FAILED, "tendd is shutting down");
        content = enabled ? "# Written by tendctl enable.\n[service]\nenabled = yes\n"
                          : "# Written by tendctl disable.\n[service]\nenabled = no\n";
        if (asprintf(&path, "%s/%s.ini.d/%s", m->config->services_dir, s->name,
                     DROPIN_ENABLE_FILE) < 0)
                return -ENOMEM;
        r = dropin_set(m->config->services_dir, s->name, DROPIN_ENABLE_FILE, content, &old, why,
                       sizeof why);
        if (r < 0)
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED, "%s: %s", s->name, why);
        log_service(LOG_INFO, s->name, "%s by uid %u: wrote %s", enabled ? "enabled" : "disabled",
                    (unsigned)cn->cred.uid, path);
        snprintf(name, sizeof name, "%s", s->name); /* s may be gone after the reload */
        r = manager_reload(m, &errors);
        control_sweep_waiting(cn->control);
        if (r < 0) {
                char back[PATH_MAX + 256];

                if (dropin_set(m->config->services_dir, name, DROPIN_ENABLE_FILE, old, NULL, back,
                               sizeof back) < 0)
                        log_error("%s: could not put it back: %s", path, back);
                if (!errors || !errors[0])
                        return sd_bus_error_setf(error, WIRE_ERROR_FAILED,
                                                 "nothing changed: reload failed: %s",
                                                 strerror(-r));
                return control_config_errors(
                        error, "nothing changed: the configuration has errors:", errors);
        }
        s = manager_find(m, name);
        sc = s ? control_config(s) : NULL;
        if (sc && sc->enabled != !!enabled) {
                _cleanup_free_ char *later = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&later, &len);
                bool after = false;

                if (!f)
                        return -ENOMEM;
                for (char **p = sc->files; p && *p; p++) {
                        if (after)
                                fprintf(f, " %s", *p);
                        after = after || strcmp(*p, path) == 0;
                }
                if (fclose(f) != 0)
                        return -ENOMEM;
                if (!after)
                        return sd_bus_error_setf(error, WIRE_ERROR_FAILED,
                                                 "%s: wrote %s, but the configuration loaded does "
                                                 "not include it",
                                                 sc->name, path);
                return sd_bus_error_setf(error, WIRE_ERROR_FAILED,
                                         "%s: wrote %s, but a file applied after it sets enabled "
                                         "again:%s",
                                         sc->name, path, later);
        }
        return sd_bus_reply_method_return(msg, "s", path);
}

/* Reexec: no reply yet. The callback runs from the loop; the caller's
 * connection is kept through the execve (it is close-on-exec): closed
 * without a reply, the new image runs; an error reply, it did not
 * (control_reexec_failed()); see control.h. */
static int control_method_reexec(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;
        struct control *c = cn->control;
        int r;

        r = control_check_access(cn, error);
        if (r < 0)
                return r;
        if (!c->reexec_fn)
                return sd_bus_error_set(error, WIRE_ERROR_FAILED,
                                        "re-execution is not supported by this tendd");
        if (c->manager->shutting_down)
                return sd_bus_error_set(error, WIRE_ERROR_FAILED,
                                        "tendd is shutting down: not re-executing");
        if (c->reexec_msg)
                return sd_bus_error_set(error, WIRE_ERROR_FAILED,
                                        "a re-execution is already under way");
        log_info("re-execution requested by uid %u", (unsigned)cn->cred.uid);
        c->reexec_conn = cn;
        c->reexec_msg = sd_bus_message_ref(msg);
        /* Never from inside sd_bus_process(): the callback closes buses. */
        ev_timer_set(&c->reexec_timer, 0., 0.);
        ev_timer_start(c->manager->loop, &c->reexec_timer);
        return 1;
}

static void control_reexec_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct control *c = container_of(w, struct control, reexec_timer);

        if (c->reexec_fn)
                c->reexec_fn(c->reexec_userdata);
}

/* See control.h. */
void control_reexec_failed(struct control *c, int err, const char *why)
{
        sd_bus_message *msg = TAKE_PTR(c->reexec_msg);
        struct control_conn *cn = c->reexec_conn;

        c->reexec_conn = NULL;
        if (!msg)
                return;
        if (cn && !cn->broken)
                (void)sd_bus_reply_method_errorf(msg, WIRE_ERROR_FAILED, "%s: %s", why,
                                                 strerror(err < 0 ? -err : err));
        sd_bus_message_unref(msg);
}

/* See control.h. */
void control_set_reexec(struct control *c, void (*fn)(void *userdata), void *userdata)
{
        c->reexec_fn = fn;
        c->reexec_userdata = userdata;
}

static const sd_bus_vtable control_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_LIST, SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", services),
                                control_method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_LIST_COMPACT, SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a" WIRE_SERVICE_SIGNATURE, services),
                                control_method_list_compact, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_GET, SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("a{sv}", service), control_method_get,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_START, SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("s", state), control_method_start,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_STOP, SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", state),
                                control_method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_RESTART, SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("s", state), control_method_restart,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_START_MANY, SD_BUS_ARGS("as", names, "t", flags),
                                SD_BUS_RESULT(WIRE_SIGNATURE_MANY_REPLY, states),
                                control_method_start_many, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_STOP_MANY, SD_BUS_ARGS("as", names, "t", flags),
                                SD_BUS_RESULT(WIRE_SIGNATURE_MANY_REPLY, states),
                                control_method_stop_many, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_RESTART_MANY, SD_BUS_ARGS("as", names, "t", flags),
                                SD_BUS_RESULT(WIRE_SIGNATURE_MANY_REPLY, states),
                                control_method_restart_many, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_KILL, SD_BUS_ARGS("s", name, "i", signal),
                                SD_BUS_NO_RESULT, control_method_kill, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_RELOAD, SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                control_method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_REEXEC, SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                control_method_reexec, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_RELOAD_SERVICE, SD_BUS_ARGS("s", name),
                                SD_BUS_NO_RESULT, control_method_reload_service,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_GET_FILES, SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("as", files), control_method_get_files,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_SET_ENABLED, SD_BUS_ARGS("s", name, "b", enabled),
                                SD_BUS_RESULT("s", file), control_method_set_enabled,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_SUBSCRIBE, SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                control_method_subscribe, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(WIRE_METHOD_UNSUBSCRIBE, SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                control_method_unsubscribe, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS(WIRE_SIGNAL_STATE_CHANGED,
                                SD_BUS_ARGS("s", name, "s", state, "s", reason), 0),
        SD_BUS_VTABLE_END,
};

/* ---- framing ---- */

static uint32_t control_frame_u32(const uint8_t *p, bool little)
{
        return little ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                (uint32_t)p[3] << 24
                      : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
                                (uint32_t)p[0] << 24;
}

/* Check n more bytes of a client's stream; see control.h. */
int control_frame_feed(struct control_frame *f, const uint8_t *p, size_t n)
{
        int done = 0;

        while (n > 0) {
                switch (f->state) {
                case CONTROL_FRAME_NUL:
                        /* SASL starts with one NUL byte (credentials passing, historically). */
                        if (*p != '\0')
                                return -EBADMSG;
                        f->state = CONTROL_FRAME_AUTH;
                        f->auth_len = 1;
                        p++;
                        n--;
                        break;
                case CONTROL_FRAME_AUTH:
                        if (++f->auth_len > CONTROL_AUTH_MAX)
                                return -EMSGSIZE;
                        if (*p == '\n' && f->cr) {
                                /* sd-bus ends the handshake on the line "BEGIN" exactly. */
                                if (f->line_len == 6 && memcmp(f->line, "BEGIN\r", 6) == 0) {
                                        f->state = CONTROL_FRAME_HEADER;
                                        f->header_len = 0;
                                        done++;
                                }
                                f->line_len = 0;
                        } else {
                                if (f->line_len < sizeof f->line)
                                        f->line[f->line_len] = (char)*p;
                                f->line_len++; /* at most CONTROL_AUTH_MAX */
                        }
                        f->cr = *p == '\r';
                        p++;
                        n--;
                        break;
                case CONTROL_FRAME_HEADER: {
                        size_t take = sizeof f->header - f->header_len;
                        uint64_t total;
                        bool little;

                        if (take > n)
                                take = n;
                        memcpy(f->header + f->header_len, p, take);
                        f->header_len += take;
                        p += take;
                        n -= take;
                        if (f->header_len < sizeof f->header)
                                break;
                        /* Endianness, type, flags, version 1; body length at 4,
                         * header fields' array length at 12 (padded to 8). */
                        if (f->header[0] != 'l' && f->header[0] != 'B')
                                return -EBADMSG;
                        if (f->header[3] != 1)
                                return -EBADMSG;
                        little = f->header[0] == 'l';
                        total = sizeof f->header +
                                ((uint64_t)control_frame_u32(f->header + 12, little) + 7) / 8 * 8 +
                                control_frame_u32(f->header + 4, little);
                        if (total > CONTROL_MESSAGE_MAX)
                                return -EMSGSIZE;
                        f->left = total - sizeof f->header;
                        f->state = CONTROL_FRAME_BODY;
                        if (f->left == 0) {
                                f->state = CONTROL_FRAME_HEADER;
                                f->header_len = 0;
                                done++;
                        }
                        break;
                }
                case CONTROL_FRAME_BODY: {
                        size_t take = f->left < n ? (size_t)f->left : n;

                        f->left -= take;
                        p += take;
                        n -= take;
                        if (f->left == 0) {
                                f->state = CONTROL_FRAME_HEADER;
                                f->header_len = 0;
                                done++;
                        }
                        break;
                }
                }
        }
        return done;
}

/* Handshake done and nothing half-sent; see control.h. */
bool control_frame_idle(const struct control_frame *f)
{
        return f->state == CONTROL_FRAME_HEADER && f->header_len == 0;
}

/* ---- connections ---- */

static void control_conn_free(struct control_conn *cn)
{
        struct control *c = cn->control;
        struct ev_loop *loop = c->manager->loop;
        struct control_call *call, *next;

        /* Calls from this peer can no longer be answered. */
        list_for_each_entry_safe(call, next, &c->calls, link) {
                if (call->conn == cn)
                        control_call_free(c, call);
        }
        if (c->reexec_conn == cn) {
                c->reexec_conn = NULL;
                c->reexec_msg = sd_bus_message_unref(c->reexec_msg);
        }
        ev_io_stop(loop, &cn->io);
        ev_io_stop(loop, &cn->bus_io);
        ev_io_stop(loop, &cn->relay_io);
        ev_timer_stop(loop, &cn->timer);
        ev_timer_stop(loop, &cn->stall);
        list_del(&cn->link);
        c->n_conns--;
        if (!cn->privileged)
                c->n_unprivileged--;
        /* Closes both of its fds; never flushes (that could block on a peer
         * that does not read). */
        sd_bus_close_unref(cn->bus);
        safe_close(cn->relay_fd);
        free(cn);
}

static void control_conn_drop(struct control_conn *cn, int err, const char *why)
{
        log_debug("control: connection %u (uid %u) dropped: %s%s%s", cn->id,
                  (unsigned)cn->cred.uid, why, err ? ": " : "", err ? strerror(-err) : "");
        control_conn_free(cn);
}

static void control_io_set(struct ev_loop *loop, ev_io *w, int fd, int want)
{
        if (ev_is_active(w) && w->fd == fd && (w->events & (EV_READ | EV_WRITE)) == want)
                return;
        ev_io_stop(loop, w);
        if (want) {
                ev_io_set(w, fd, want);
                ev_io_start(loop, w);
        }
}

/* Handshake unfinished or a message begun: the stall deadline runs. */
static bool control_conn_busy(struct control_conn *cn)
{
        return !control_frame_idle(&cn->frame) || sd_bus_is_ready(cn->bus) <= 0;
}

/* Watch what sd-bus and the relay currently wait for. A peer not reading its
 * replies or whose connection broke is dropped here. */
static int control_conn_arm(struct control_conn *cn)
{
        struct ev_loop *loop = cn->control->manager->loop;
        uint64_t queued = 0, until;
        int events, want = 0, r;

        if (cn->broken)
                return -EPIPE;
        r = sd_bus_get_n_queued_write(cn->bus, &queued);
        if (r < 0)
                return r;
        if (queued > CONTROL_QUEUED_WRITE_MAX)
                return -ENOBUFS;
        events = sd_bus_get_events(cn->bus);
        if (events < 0)
                return events;
        /* The client's next bytes are read once the last ones are relayed and
         * it has taken its replies: one that does not read gets nothing more
         * done, and its replies queue up no further. */
        if (!cn->peer_eof && cn->buf_len == 0 && queued == 0)
                want |= EV_READ;
        if (events & POLLOUT)
                want |= EV_WRITE;
        control_io_set(loop, &cn->io, cn->fd, want);
        control_io_set(loop, &cn->bus_io, cn->bus_fd, events & POLLIN ? EV_READ : 0);
        control_io_set(loop, &cn->relay_io, cn->relay_fd, cn->buf_len ? EV_WRITE : 0);

        ev_timer_stop(loop, &cn->timer);
        r = sd_bus_get_timeout(cn->bus, &until);
        if (r < 0)
                return r;
        if (until != UINT64_MAX) {
                usec_t now = now_monotonic();
                ev_tstamp delay = until > now ? (ev_tstamp)(until - now) / 1e6 : 0.;
                ev_timer_set(&cn->timer, delay, 0.);
                ev_timer_start(loop, &cn->timer);
        }

        /* No timer at all for a connection idle between messages. */
        if (!control_conn_busy(cn))
                ev_timer_stop(loop, &cn->stall);
        else if (!ev_is_active(&cn->stall)) {
                ev_timer_set(&cn->stall,
                             (ev_tstamp)CONTROL_STALL_TIMEOUT_USEC / (ev_tstamp)USEC_PER_SEC, 0.);
                ev_timer_start(loop, &cn->stall);
        }
        return 0;
}

/* Write what is buffered into sd-bus's input; 0 also when it must wait. */
static int control_conn_flush_relay(struct control_conn *cn)
{
        while (cn->buf_len > 0) {
                ssize_t n = send(cn->relay_fd, cn->buf + cn->buf_off, cn->buf_len,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                cn->buf_off += (size_t)n;
                cn->buf_len -= (size_t)n;
        }
        cn->buf_off = 0;
        return 0;
}

/* Read one chunk from the client, check its framing, relay it to sd-bus. */
static int control_conn_relay(struct control_conn *cn, const char **ret_why)
{
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 253)]; /* SCM_MAX_FD: none released here */
        } control;
        struct iovec iov = { .iov_base = cn->buf, .iov_len = sizeof cn->buf };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof control,
        };
        bool fds = false;
        ssize_t n;
        int r;

        if (cn->buf_len > 0 || cn->peer_eof)
                return 0;
        n = recvmsg(cn->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                *ret_why = "reading";
                return -errno;
        }
        /* SO_PASSRIGHTS refuses fds where the kernel has it (6.16); older ones
         * deliver them: closed, and the sender dropped. */
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        int *fd = (int *)(void *)CMSG_DATA(cm);
                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        for (size_t i = 0; i < k; i++)
                                closer_close(fd[i]); /* may block: off the loop */
                        fds = true;
                }
        if (fds || (mh.msg_flags & MSG_CTRUNC)) {
                *ret_why = "passed file descriptors";
                return -EPERM;
        }
        if (n == 0) {
                /* sd-bus sees the end after what came before it. */
                cn->peer_eof = true;
                (void)shutdown(cn->relay_fd, SHUT_WR);
                return 0;
        }
        r = control_frame_feed(&cn->frame, cn->buf, (size_t)n);
        if (r < 0) {
                *ret_why = r == -EMSGSIZE ? "message or handshake over the size limit"
                                          : "not D-Bus";
                return r;
        }
        if (r > 0) { /* progress: the next message has its own time */
                cn->steps += (unsigned long)r;
                ev_timer_stop(cn->control->manager->loop, &cn->stall);
        }
        cn->buf_len = (size_t)n;
        r = control_conn_flush_relay(cn);
        if (r < 0)
                *ret_why = "relaying";
        return r;
}

/* Let sd-bus read, dispatch and write; then re-arm. Returns < 0 with a reason
 * when the connection must go (the caller drops it). */
static int control_conn_process(struct control_conn *cn, const char **ret_why)
{
        int r = 0;

        for (unsigned i = 0; i < CONTROL_PROCESS_BATCH; i++) {
                r = sd_bus_process(cn->bus, NULL);
                if (r <= 0)
                        break;
        }
        if (r < 0) {
                *ret_why = "processing";
                return r;
        }
        if (sd_bus_is_open(cn->bus) <= 0) {
                *ret_why = "closed";
                return -ECONNRESET;
        }
        r = control_conn_arm(cn);
        if (r < 0)
                *ret_why = "re-arming";
        return r;
}

static void control_conn_run(struct control_conn *cn, bool relay, bool stalled)
{
        unsigned long steps = cn->steps;
        const char *why = NULL;
        int r = 0;

        if (relay)
                r = control_conn_flush_relay(cn);
        if (r >= 0 && relay)
                r = control_conn_relay(cn, &why);
        if (r >= 0)
                r = control_conn_process(cn, &why);
        if (r >= 0 && stalled && cn->steps == steps && control_conn_busy(cn)) {
                why = control_frame_idle(&cn->frame) ? "handshake not finished in time"
                                                     : "message not finished in time";
                r = -ETIMEDOUT;
        }
        if (r < 0) {
                if (r == -EMSGSIZE || r == -EBADMSG || r == -EPERM || r == -ETIMEDOUT)
                        log_info("control: dropping connection %u of uid %u: %s", cn->id,
                                 (unsigned)cn->cred.uid, why);
                control_conn_drop(cn, r, why ? why : "error");
        }
}

static void control_conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        control_conn_run(container_of(w, struct control_conn, io), revents & EV_READ, false);
}

static void control_conn_bus_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        control_conn_run(container_of(w, struct control_conn, bus_io), false, false);
}

static void control_conn_relay_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        control_conn_run(container_of(w, struct control_conn, relay_io), true, false);
}

static void control_conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        control_conn_run(container_of(w, struct control_conn, timer), false, false);
}

static void control_conn_stall_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        /* What arrived while the loop was busy elsewhere counts: read it first. */
        control_conn_run(container_of(w, struct control_conn, stall), true, true);
}

/* Is the peer of fd in group gid (primary or supplementary)? */
static bool control_peer_in_group(int fd, const struct ucred *cred, gid_t gid)
{
        gid_t small[64], *groups = small;
        socklen_t len = sizeof small;
        bool found = false;

        if (cred->gid == gid)
                return true;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
                if (errno != ERANGE)
                        return false;
                groups = malloc(len);
                if (!groups || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) {
                        free(groups);
                        return false;
                }
        }
        for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (groups[i] == gid)
                        found = true;
        if (groups != small)
                free(groups);
        return found;
}

static void control_log_refusal(struct control *c, const struct ucred *cred, const char *what)
{
        usec_t now = now_monotonic();

        c->refused++;
        if (c->refuse_logged && now - c->refuse_logged < CONTROL_REFUSE_LOG_INTERVAL_USEC)
                return;
        log_warning("control: refusing a connection of uid %u: %s (%u refused since the "
                    "last message)",
                    (unsigned)cred->uid, what, c->refused);
        c->refuse_logged = now;
        c->refused = 0;
}

/* May a peer with cred come in? Root and tendd's uid take the place of the
 * oldest other connection when the table is full. */
static bool control_admit(struct control *c, const struct ucred *cred, bool privileged)
{
        struct control_conn *cn, *oldest = NULL;
        unsigned same = 0;
        char what[96];

        if (privileged) {
                if (c->n_conns < CONTROL_CONNECTIONS_MAX)
                        return true;
                list_for_each_entry(cn, &c->conns, link)
                        if (!cn->privileged)
                                oldest = cn;
                if (!oldest) {
                        control_log_refusal(c, cred, "the table is full of privileged ones");
                        return false;
                }
                log_info("control: %u connections open; dropping connection %u of uid %u for "
                         "one of uid %u",
                         c->n_conns, oldest->id, (unsigned)oldest->cred.uid,
                         (unsigned)cred->uid);
                control_conn_free(oldest);
                return true;
        }
        list_for_each_entry(cn, &c->conns, link)
                same += cn->cred.uid == cred->uid;
        if (same >= CONTROL_CONNECTIONS_PER_UID) {
                snprintf(what, sizeof what, "%u connections of uid %u open", same,
                         (unsigned)cred->uid);
                control_log_refusal(c, cred, what);
                return false;
        }
        if (c->n_unprivileged >= CONTROL_CONNECTIONS_MAX - CONTROL_CONNECTIONS_RESERVED) {
                snprintf(what, sizeof what, "%u connections of other users open (the rest is "
                         "kept for root)", c->n_unprivileged);
                control_log_refusal(c, cred, what);
                return false;
        }
        return true;
}

/* Serve fd as a connection; see control.h. */
int control_attach(struct control *c, int fd)
{
        _cleanup_close_ int cfd = fd, relay = -1, bus_in = -1;
        struct control_conn *cn;
        struct ucred cred;
        socklen_t len = sizeof cred;
        bool privileged;
        sd_id128_t id;
        int sp[2], r;

        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        privileged = cred.uid == 0 || cred.uid == geteuid();
        if (!control_admit(c, &cred, privileged))
                return 0;
        /* No fds: nothing here takes any, and closing one can block. */
        (void)setsockopt(cfd, SOL_SOCKET, SO_PASSRIGHTS, &(int){ 0 }, sizeof(int));
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0) {
                /* Out of fds (services took them): root and tendd's uid get
                 * the reserve, so they are never locked out by that. */
                if ((errno != EMFILE && errno != ENFILE) || !privileged ||
                    fd_reserve_release() == 0 ||
                    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
                        return -errno;
        }
        relay = sp[0];
        bus_in = sp[1];

        cn = calloc(1, sizeof *cn);
        if (!cn)
                return -ENOMEM;
        cn->control = c;
        cn->id = ++c->next_id;
        cn->cred = cred;
        cn->privileged = privileged;
        cn->may_change = privileged || (c->has_group && control_peer_in_group(cfd, &cred, c->group));
        cn->fd = cfd;
        cn->bus_fd = bus_in;
        cn->relay_fd = -1;
        ev_io_init(&cn->io, control_conn_io_cb, cfd, EV_READ);
        ev_io_init(&cn->bus_io, control_conn_bus_io_cb, bus_in, EV_READ);
        ev_io_init(&cn->relay_io, control_conn_relay_io_cb, relay, EV_WRITE);
        ev_timer_init(&cn->timer, control_conn_timer_cb, 0., 0.);
        ev_timer_init(&cn->stall, control_conn_stall_cb, 0., 0.);

        r = sd_bus_new(&cn->bus);
        if (r < 0)
                goto fail;
        r = sd_id128_randomize(&id);
        if (r < 0)
                goto fail;
        /* sd-bus reads what the relay checked, and writes to the client. */
        r = sd_bus_set_fd(cn->bus, bus_in, cfd);
        if (r < 0)
                goto fail;
        bus_in = cfd = -1; /* the bus owns them now */
        r = sd_bus_set_server(cn->bus, 1, id);
        if (r < 0)
                goto fail;
        /* sd-bus would check EXTERNAL against its input's SO_PEERCRED: the
         * relay's, tendd's own. Authorization does not rest on this handshake:
         * every method checks the credentials read above from the client's
         * socket, which also hold across pid namespaces. */
        r = sd_bus_set_anonymous(cn->bus, 1);
        if (r < 0)
                goto fail;
        (void)sd_bus_negotiate_fds(cn->bus, 0);
        r = sd_bus_add_object_vtable(cn->bus, NULL, WIRE_PATH, WIRE_INTERFACE,
                                     control_vtable, cn);
        if (r < 0)
                goto fail;
        r = sd_bus_start(cn->bus);
        if (r < 0)
                goto fail;
        /* sd-bus asks for 8 MiB socket buffers (forced, as root): far more kernel
         * memory than a peer of a control socket needs to pin by not reading. The
         * relay holds at most a message or two. */
        (void)setsockopt(cn->fd, SOL_SOCKET, SO_SNDBUF, &(int){ CONTROL_SOCKET_BUFFER },
                         sizeof(int));
        (void)setsockopt(relay, SOL_SOCKET, SO_SNDBUF, &(int){ 2 * CONTROL_MESSAGE_MAX },
                         sizeof(int));
        (void)setsockopt(cn->bus_fd, SOL_SOCKET, SO_RCVBUF, &(int){ 2 * CONTROL_MESSAGE_MAX },
                         sizeof(int));
        cn->relay_fd = TAKE_FD(relay);

        list_add(&cn->link, &c->conns);
        c->n_conns++;
        if (!cn->privileged)
                c->n_unprivileged++;
        log_debug("control: connection %u from pid %d uid %u%s", cn->id, (int)cn->cred.pid,
                  (unsigned)cn->cred.uid, cn->may_change ? " (may change state)" : "");
        /* Bytes may be there already (sent before accept). */
        control_conn_run(cn, true, false);
        return 0;

fail:
        sd_bus_close_unref(cn->bus);
        free(cn);
        return r;
}

/* Open connections; see control.h. */
unsigned control_connections(const struct control *c)
{
        return c->n_conns;
}

static void control_accept(struct control *c)
{
        struct ev_loop *loop = c->manager->loop;

        for (unsigned i = 0; i < CONTROL_ACCEPT_BATCH; i++) {
                int fd, r;

                fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0 && errno == EMFILE && fd_reserve_release() > 0)
                        fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                return;
                        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                            errno == ENOMEM) {
                                /* The socket stays readable: pause instead of spinning. */
                                log_warning_errno(errno, "control: cannot accept, pausing 1s");
                                ev_io_stop(loop, &c->listen_io);
                                ev_timer_set(&c->listen_retry, 1., 0.);
                                ev_timer_start(loop, &c->listen_retry);
                                return;
                        }
                        log_warning_errno(errno, "control: accept failed");
                        return;
                }
                r = control_attach(c, fd);
                if (r < 0)
                        log_warning_errno(r, "control: cannot set up connection");
        }
}

static void control_listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        control_accept(container_of(w, struct control, listen_io));
}

static void control_listen_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        struct control *c = container_of(w, struct control, listen_retry);

        ev_io_start(loop, &c->listen_io);
}

/* Before the loop sleeps: answer calls whose service vanished, re-arm every
 * connection (sends from the state hook may have queued output), drop the
 * broken ones. */
static void control_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
        struct control *c = container_of(w, struct control, prepare);
        struct control_conn *cn, *next;

        if (c->sweep)
                control_sweep_waiting(c);
        list_for_each_entry_safe(cn, next, &c->conns, link) {
                int r;

                r = control_conn_arm(cn);
                if (r < 0)
                        control_conn_drop(cn, r, cn->broken ? "send failed" : "not reading");
        }
}

/* ---- socket ---- */

/* Remove a socket left by a previous tendd; refuse to replace anything else
 * or a socket someone still listens on. */
static int control_remove_stale(const struct sockaddr_un *sa, socklen_t salen)
{
        struct stat st;
        int fd;

        if (lstat(sa->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return -EEXIST;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *)sa, salen) == 0) {
                close(fd);
                return -EADDRINUSE;
        }
        close(fd);
        if (unlink(sa->sun_path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* A control with no socket yet, every watcher initialized. */
static struct control *control_alloc(struct manager *m)
{
        struct control *c = calloc(1, sizeof *c);

        if (!c)
                return NULL;
        c->manager = m;
        c->fd = -1;
        list_init(&c->conns);
        list_init(&c->calls);
        c->waiting = intmap_new();
        if (!c->waiting) {
                free(c);
                return NULL;
        }
        ev_io_init(&c->listen_io, control_listen_cb, -1, EV_READ);
        ev_timer_init(&c->listen_retry, control_listen_retry_cb, 1., 0.);
        ev_prepare_init(&c->prepare, control_prepare_cb);
        ev_timer_init(&c->status_timer, control_status_timer_cb, 0., 0.);
        ev_timer_init(&c->reexec_timer, control_reexec_timer_cb, 0., 0.);
        return c;
}

/* c->fd listens: accept from the loop, hear the manager. */
static int control_start(struct control *c)
{
        struct manager *m = c->manager;
        int r;

        ev_io_set(&c->listen_io, c->fd, EV_READ);
        ev_io_start(m->loop, &c->listen_io);
        ev_prepare_start(m->loop, &c->prepare);
        c->listener = (struct manager_listener){
                .state_changed = control_state_hook,
                .removed = control_removed_hook,
                .phase = control_phase_hook,
                .userdata = c,
        };
        r = manager_listen(m, &c->listener);
        if (r < 0)
                return r;
        c->listening = true;
        return 0;
}

/* Listen on path and hook into the manager; -errno, nothing left behind on failure. */
int control_new(struct manager *m, const char *path, mode_t mode, const char *group,
                struct control **ret)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t salen;
        struct control *c;
        size_t len;
        int r;

        if (!m || !m->loop || !path || !ret)
                return -EINVAL;
        len = strlen(path);
        if (len == 0 || len >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, len + 1);
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);

        c = control_alloc(m);
        if (!c)
                return -ENOMEM;

        r = mkdir_parents(path, 0755);
        if (r < 0)
                goto fail;
        r = control_remove_stale(&sa, salen);
        if (r < 0)
                goto fail;
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->fd < 0) {
                r = -errno;
                goto fail;
        }
        /* Accepted sockets inherit it, also those a client writes to before
         * accept(): no fd ever reaches tendd this way (Linux 6.16; older
         * kernels fail here, and the relay closes what arrives). */
        (void)setsockopt(c->fd, SOL_SOCKET, SO_PASSRIGHTS, &(int){ 0 }, sizeof(int));
        if (bind(c->fd, (struct sockaddr *)&sa, salen) < 0) {
                r = -errno;
                goto fail;
        }
        c->path = strdup(path); /* from here on, control_free() unlinks it */
        if (!c->path) {
                (void)unlink(path);
                r = -ENOMEM;
                goto fail;
        }
        /* Permissions are final before listen(): nobody connects in between. */
        if (chmod(path, mode) < 0) {
                r = -errno;
                goto fail;
        }
        if (group) {
                struct group *gr;

                errno = 0;
                gr = getgrnam(group);
                if (!gr) {
                        r = errno ? -errno : -ENOENT;
                        goto fail;
                }
                if (chown(path, (uid_t)-1, gr->gr_gid) < 0) {
                        r = -errno;
                        goto fail;
                }
                c->has_group = true;
                c->group = gr->gr_gid;
        }
        if (listen(c->fd, SOMAXCONN) < 0) {
                r = -errno;
                goto fail;
        }
        r = control_start(c);
        if (r < 0)
                goto fail;
        *ret = c;
        return 0;

fail:
        control_free(c);
        return r;
}

/* The records of the control socket in the state, inside its tag. */
enum {
        CONTROL_STATE_FD = 1,    /* fd: the listening socket */
        CONTROL_STATE_PATH = 2,  /* str: where it is bound */
        CONTROL_STATE_GROUP = 3, /* u64: socket_group's gid; absent: none */
};

/* See control.h. */
int control_state_put(struct control *c, struct state_writer *w, uint16_t tag)
{
        size_t mark;

        /* Calls still waiting are answered now: the new image has no
         * record of them. Their requests stand. */
        control_fail_calls(c, "no answer: tendd is re-executing (the request stands; see "
                              "tendctl status)");
        /* What was written is out or in the socket's buffer (replies are
         * written as they are made); what a client sent and was not
         * processed is lost with its connection, as at a restart. */
        /* ...but the Reexec caller's, which the execve closes (or which
         * gets the error, see control_reexec_failed()). */
        {
                struct control_conn *cn, *next;

                list_for_each_entry_safe(cn, next, &c->conns, link)
                        if (cn != c->reexec_conn)
                                control_conn_free(cn);
        }
        mark = state_begin(w, tag);
        state_put_fd(w, CONTROL_STATE_FD, c->fd);
        state_put_str(w, CONTROL_STATE_PATH, c->path);
        if (c->has_group)
                state_put_u64(w, CONTROL_STATE_GROUP, (uint64_t)c->group);
        state_end(w, mark);
        return w->error; /* fds put twice: state_writer_finish(), once */
}

/* See control.h. */
int control_new_from_state(struct manager *m, const struct state_reader *v, struct control **ret)
{
        struct state_reader r = *v, val;
        struct control *c;
        int type = 0, domain = 0, acc = 0, k;
        uint64_t gid;
        uint16_t tag;

        if (!m || !m->loop || !v || !ret)
                return -EINVAL;
        c = control_alloc(m);
        if (!c)
                return -ENOMEM;
        while ((k = state_next(&r, &tag, &val)) > 0) {
                switch (tag) {
                case CONTROL_STATE_FD:
                        k = c->fd < 0 ? state_get_fd(&val, &c->fd) : -EBADMSG;
                        break;
                case CONTROL_STATE_PATH:
                        k = !c->path ? state_get_str(&val, &c->path) : -EBADMSG;
                        break;
                case CONTROL_STATE_GROUP:
                        k = state_get_u64(&val, &gid);
                        if (k >= 0 && gid > (gid_t)-1)
                                k = -EBADMSG;
                        c->has_group = k >= 0;
                        c->group = (gid_t)gid;
                        break;
                default:
                        break; /* a newer image's: skipped */
                }
                if (k < 0)
                        goto fail;
        }
        if (k < 0 || c->fd < 0 || !c->path) {
                k = k < 0 ? k : -EBADMSG;
                goto fail;
        }
        if (getsockopt(c->fd, SOL_SOCKET, SO_TYPE, &type, &(socklen_t){ sizeof type }) < 0 ||
            getsockopt(c->fd, SOL_SOCKET, SO_DOMAIN, &domain, &(socklen_t){ sizeof domain }) < 0 ||
            getsockopt(c->fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &(socklen_t){ sizeof acc }) < 0 ||
            type != SOCK_STREAM || domain != AF_UNIX || !acc) {
                k = -ENOTSOCK;
                goto fail;
        }
        /* Non-blocking is the open file's: still set; cheap to make sure of. */
        (void)fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        k = control_start(c);
        if (k < 0)
                goto fail;
        *ret = c;
        return 0;

fail:
        /* Not unlinked: the socket there is the one clients wait on. */
        free(c->path);
        c->path = NULL;
        control_free(c);
        return k;
}

/* Fail pending calls, drop every connection, unlink the socket, unhook. */
struct control *control_free(struct control *c)
{
        struct ev_loop *loop;

        if (!c)
                return NULL;
        loop = c->manager->loop;
        if (c->listening)
                manager_unlisten(c->manager, &c->listener);
        control_fail_calls(c, "tendd is shutting down");
        while (!list_empty(&c->conns))
                control_conn_free(list_first_entry(&c->conns, struct control_conn, link));
        ev_timer_stop(loop, &c->status_timer);
        ev_timer_stop(loop, &c->reexec_timer);
        c->reexec_msg = sd_bus_message_unref(c->reexec_msg);
        free(c->dirty);
        intmap_free(c->waiting);
        ev_prepare_stop(loop, &c->prepare);
        ev_timer_stop(loop, &c->listen_retry);
        ev_io_stop(loop, &c->listen_io);
        c->fd = safe_close(c->fd);
        if (c->path)
                (void)unlink(c->path);
        free(c->path);
        free(c);
        return NULL;
}
