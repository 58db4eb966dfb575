/* control.c: the control API, an sd-bus server on a private unix socket. Each
 * accepted connection is its own sd_bus in server mode, driven from the
 * manager's libev loop: an ev_io on its fd and an ev_timer for sd-bus's own
 * deadlines (authentication), both re-armed from one ev_prepare watcher before
 * the loop sleeps. Start/Stop/Restart calls that must wait keep a reference to
 * the call message and are answered from the manager's state hook. */
#include <errno.h>
#include <grp.h>
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

#include "control.h"
#include "log.h"
#include "manager.h"
#include "output.h"
#include "service.h"
#include "util.h"

/* Further connections are accepted and closed at once. */
#define CONTROL_CONNECTIONS_MAX 256
/* A peer with this many messages queued for it is not reading: drop it. */
#define CONTROL_QUEUED_WRITE_MAX 1024
#define CONTROL_SOCKET_BUFFER (256 * 1024)
/* Messages handled per wakeup; the rest is picked up by a zero timeout. */
#define CONTROL_PROCESS_BATCH 64
#define CONTROL_ACCEPT_BATCH 64

struct control_conn {
        struct control *control;
        struct control_conn *prev, *next;
        unsigned id;
        sd_bus *bus;
        struct ucred cred;
        ev_io io;
        ev_timer timer;
        bool broken; /* a send failed outside processing: dropped before the loop sleeps */
};

struct control_pending {
        struct control_pending *prev, *next;
        struct control_conn *conn;
        struct service *service; /* compared by address, dereferenced only from the hook */
        char *name;
        enum control_op op;
        sd_bus_message *msg;
};

struct control {
        struct manager *manager;
        char *path;
        int fd;
        ev_io listen_io;
        ev_timer listen_retry; /* re-enable accepting after EMFILE/ENFILE */
        ev_prepare prepare;
        struct control_conn *conns;
        unsigned n_conns;
        unsigned next_id;
        struct control_pending *pending;
};

static const char *const control_op_names[_CONTROL_OP_MAX] = {
        [CONTROL_OP_START] = "start",
        [CONTROL_OP_STOP] = "stop",
        [CONTROL_OP_RESTART] = "restart",
};

/* Decide a pending call from the service's fields alone; see control.h. */
enum control_verdict control_evaluate(enum control_op op, const struct service *s)
{
        if (op == CONTROL_OP_STOP) {
                /* restart_on_exit: the stop is a step of a restart, not the end. */
                if (s->state == SERVICE_STOPPING || s->restart_on_exit ||
                    s->stop_pending != STOP_CAUSE_NONE)
                        return CONTROL_WAIT; /* or waiting for dependents to stop first */
                if (s->state == SERVICE_STOPPED || s->state == SERVICE_FAILED)
                        return CONTROL_DONE;
                return CONTROL_FAIL; /* started again (or restarting) before it stopped */
        }

        /* Start and restart: running, or a oneshot that ran to success. A
         * restart in progress passes through stopping/stopped: not an answer. */
        if (s->restart_on_exit)
                return CONTROL_WAIT;
        switch (s->state) {
        case SERVICE_RUNNING:
                return CONTROL_DONE;
        case SERVICE_STARTING:
        case SERVICE_STOPPING:
                return CONTROL_WAIT;
        case SERVICE_STOPPED:
                if (s->completed)
                        return CONTROL_DONE; /* a oneshot that ran to success */
                if (s->want_up && s->waiting)
                        /* waiting for its dependencies, unless one of them failed */
                        return s->dep_failed ? CONTROL_FAIL : CONTROL_WAIT;
                return CONTROL_FAIL;
        case SERVICE_BACKOFF:
        case SERVICE_FAILED:
        default:
                return CONTROL_FAIL;
        }
}

/* D-Bus strings must be UTF-8; reasons may quote arbitrary bytes (paths,
 * program output). Copy s into buf replacing each invalid byte with '?'. */
static const char *control_utf8(const char *s, char *buf, size_t size)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t o = 0;

        while (*p && o + 5 < size) {
                unsigned n, cp, i;

                if (*p < 0x80) {
                        buf[o++] = (char)*p++;
                        continue;
                }
                if ((*p & 0xe0) == 0xc0) {
                        n = 1;
                        cp = *p & 0x1f;
                } else if ((*p & 0xf0) == 0xe0) {
                        n = 2;
                        cp = *p & 0x0f;
                } else if ((*p & 0xf8) == 0xf0) {
                        n = 3;
                        cp = *p & 0x07;
                } else {
                        buf[o++] = '?';
                        p++;
                        continue;
                }
                for (i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                break;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if (i <= n || (n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
                    (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                        buf[o++] = '?';
                        p++;
                        continue;
                }
                memcpy(buf + o, p, n + 1);
                o += n + 1;
                p += n + 1;
        }
        buf[o] = '\0';
        return buf;
}

static const char *control_service_name(const struct service *s)
{
        return s->name;
}

static bool control_is_privileged(const struct control_conn *cn)
{
        return cn->cred.uid == 0 || cn->cred.uid == geteuid();
}

static int control_check_access(const struct control_conn *cn, sd_bus_error *error)
{
        if (control_is_privileged(cn))
                return 0;
        return sd_bus_error_setf(error, CONTROL_ERROR_ACCESS_DENIED,
                                 "changing state needs root or tendd's user (uid %u)",
                                 (unsigned)geteuid());
}

/* ---- pending calls ---- */

static void control_pending_free(struct control *c, struct control_pending *p)
{
        if (p->prev)
                p->prev->next = p->next;
        else
                c->pending = p->next;
        if (p->next)
                p->next->prev = p->prev;
        sd_bus_message_unref(p->msg);
        free(p->name);
        free(p);
}

static void control_pending_reply(struct control *c, struct control_pending *p, const char *state)
{
        int r = sd_bus_reply_method_return(p->msg, "s", state);
        if (r < 0 && p->conn)
                p->conn->broken = true;
        control_pending_free(c, p);
}

static void control_pending_fail(struct control *c, struct control_pending *p, const char *what)
{
        char buf[SERVICE_REASON_MAX * 4 + 8];
        int r = sd_bus_reply_method_errorf(p->msg, CONTROL_ERROR_FAILED, "%s: %s", p->name,
                                           control_utf8(what, buf, sizeof buf));
        if (r < 0 && p->conn)
                p->conn->broken = true;
        control_pending_free(c, p);
}

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

/* Answer the calls waiting on s that its current state decides. */
static void control_check_pending(struct control *c, struct service *s)
{
        struct control_pending *p, *next;
        char buf[SERVICE_REASON_MAX + 64];

        for (p = c->pending; p; p = next) {
                enum control_verdict v;

                next = p->next;
                if (p->service != s || !streq_ptr(p->name, control_service_name(s)))
                        continue;
                v = control_evaluate(p->op, s);
                if (v != CONTROL_DONE && s->removed && !service_is_live(s))
                        control_pending_fail(c, p, "removed");
                else if (v == CONTROL_DONE)
                        control_pending_reply(c, p, service_state_to_string(s->state));
                else if (v == CONTROL_FAIL)
                        control_pending_fail(c, p,
                                             control_failure_reason(p->op, s, buf, sizeof buf));
        }
}

/* Services dropped by a reload without a final state change: their pointer
 * no longer matches the manager's entry for the name. */
static void control_sweep_pending(struct control *c)
{
        struct control_pending *p, *next;

        for (p = c->pending; p; p = next) {
                next = p->next;
                if (manager_find(c->manager, p->name) != p->service)
                        control_pending_fail(c, p, "removed");
        }
}

static void control_state_hook(struct service *s, enum service_state old, void *userdata)
{
        struct control *c = userdata;
        struct control_conn *cn;
        char buf[SERVICE_REASON_MAX * 4 + 8];
        const char *reason = control_utf8(s->reason, buf, sizeof buf);

        for (cn = c->conns; cn; cn = cn->next) {
                if (cn->broken || sd_bus_is_ready(cn->bus) <= 0)
                        continue;
                if (sd_bus_emit_signal(cn->bus, CONTROL_PATH, CONTROL_INTERFACE,
                                       "ServiceStateChanged", "sss", control_service_name(s),
                                       service_state_to_string(s->state), reason) < 0)
                        cn->broken = true;
        }
        control_check_pending(c, s);
}

/* s is about to be freed (dropped by a reload): nothing will answer for it. */
static void control_removed_hook(struct service *s, void *userdata)
{
        struct control *c = userdata;
        struct control_pending *p, *next;

        for (p = c->pending; p; p = next) {
                next = p->next;
                if (p->service == s)
                        control_pending_fail(c, p, "removed");
        }
}

/* ---- methods ---- */

/* One service as the API shows it; strings point into the record's buffers
 * or static text, valid while the record lives. */
struct control_record {
        const char *name, *state, *reason, *type, *status, *output, *log_path;
        uint32_t pid, restarts;
        uint64_t since;
        int has_exit, want_up;
        int32_t exit_code, exit_signal, notify_errno;
        char reason_buf[SERVICE_REASON_MAX * 4 + 8];
        char status_buf[SERVICE_STATUS_MAX * 4 + 8];
        char path_buf[4096 * 4 + 8];
};

static void control_record_fill(struct control_record *rec, const struct service *s)
{
        _cleanup_free_ char *log_path = s->config && s->manager ? output_log_path(s) : NULL;

        rec->name = control_service_name(s);
        rec->state = service_state_to_string(s->state);
        rec->pid = service_is_live(s) && s->pidfd >= 0 && s->pid > 0 ? (uint32_t)s->pid : 0;
        rec->restarts = s->restarts;
        rec->since = s->since_real;
        rec->has_exit = s->has_exit;
        rec->exit_code = s->exit_code;
        rec->exit_signal = s->exit_signal;
        rec->reason = control_utf8(s->reason, rec->reason_buf, sizeof rec->reason_buf);
        rec->type = s->config ? service_type_to_string(s->config->type) : "";
        rec->want_up = s->want_up;
        rec->status = control_utf8(s->status_text ? s->status_text : "", rec->status_buf,
                                   sizeof rec->status_buf);
        rec->notify_errno = s->notify_errno;
        rec->output = s->config ? output_mode_to_string(output_mode_in_use(s)) : "";
        rec->log_path = log_path ? control_utf8(log_path, rec->path_buf, sizeof rec->path_buf)
                                 : "";
}

static int control_append_service(sd_bus_message *m, const struct service *s)
{
        struct control_record rec;
        int r;

        control_record_fill(&rec, s);
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(
                m, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}", "Name", "s",
                rec.name, "State", "s", rec.state, "Pid", "u", rec.pid, "Restarts", "u",
                rec.restarts, "Since", "t", rec.since, "HasExit", "b", rec.has_exit, "ExitCode",
                "i", rec.exit_code, "ExitSignal", "i", rec.exit_signal, "Reason", "s", rec.reason,
                "Type", "s", rec.type, "WantUp", "b", rec.want_up, "Status", "s", rec.status,
                "NotifyErrno", "i", rec.notify_errno, "Output", "s", rec.output, "LogPath", "s",
                rec.log_path);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int control_method_list(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;
        struct manager *m = cn->control->manager;
        sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < m->n_services; i++)
                r = control_append_service(reply, m->services[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

/* The same fields as ListServices, as fixed structs: no variants to build or
 * parse, several times faster for thousands of services (tendctl status). */
static int control_method_list_compact(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;
        struct manager *m = cn->control->manager;
        sd_bus_message *reply = NULL;
        struct control_record *rec;
        int r;

        rec = malloc(sizeof *rec);
        if (!rec)
                return -ENOMEM;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', CONTROL_COMPACT_SIGNATURE);
        for (size_t i = 0; r >= 0 && i < m->n_services; i++) {
                control_record_fill(rec, m->services[i]);
                r = sd_bus_message_append(reply, CONTROL_COMPACT_SIGNATURE, rec->name, rec->state,
                                          rec->pid, rec->restarts, rec->since, rec->has_exit,
                                          rec->exit_code, rec->exit_signal, rec->reason,
                                          rec->type, rec->want_up, rec->status,
                                          rec->notify_errno, rec->output, rec->log_path);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        free(rec);
        return r;
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
                return sd_bus_error_setf(error, CONTROL_ERROR_NO_SUCH_SERVICE,
                                         "unknown service %s", name);
        *ret = s;
        return 0;
}

static int control_method_get(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;
        sd_bus_message *reply = NULL;
        struct service *s = NULL;
        int r;

        r = control_read_service(msg, cn, false, error, &s);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = control_append_service(reply, s);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        sd_bus_message_unref(reply);
        return r;
}

/* Dispatch op to s, then answer at once or park the call until the state hook
 * decides it. */
static int control_begin(struct control_conn *cn, sd_bus_message *msg, enum control_op op,
                         sd_bus_error *error)
{
        struct control *c = cn->control;
        struct control_pending *p;
        struct service *s = NULL;
        enum service_state before;
        enum control_verdict v;
        char buf[SERVICE_REASON_MAX + 64];
        int r;

        r = control_read_service(msg, cn, true, error, &s);
        if (r < 0)
                return r;

        log_service(LOG_INFO, control_service_name(s), "%s requested by uid %u",
                    control_op_names[op], (unsigned)cn->cred.uid);
        before = s->state;
        service_dispatch(s, op == CONTROL_OP_START  ? SERVICE_EVENT_START
                            : op == CONTROL_OP_STOP ? SERVICE_EVENT_STOP
                                                    : SERVICE_EVENT_RESTART);
        if (sd_bus_message_get_expect_reply(msg) == 0)
                return 1;

        v = control_evaluate(op, s);
        /* Starting a service waiting in backoff may leave it there until its
         * timer: that is not a failure of this call. */
        if (v == CONTROL_FAIL && op != CONTROL_OP_STOP && before == SERVICE_BACKOFF &&
            s->state == SERVICE_BACKOFF)
                v = CONTROL_WAIT;
        if (v == CONTROL_DONE)
                return sd_bus_reply_method_return(msg, "s", service_state_to_string(s->state));
        if (v == CONTROL_FAIL)
                return sd_bus_error_setf(error, CONTROL_ERROR_FAILED, "%s: %s",
                                         control_service_name(s),
                                         control_failure_reason(op, s, buf, sizeof buf));

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->name = strdup(control_service_name(s));
        if (!p->name) {
                free(p);
                return -ENOMEM;
        }
        p->conn = cn;
        p->service = s;
        p->op = op;
        p->msg = sd_bus_message_ref(msg);
        p->next = c->pending;
        if (c->pending)
                c->pending->prev = p;
        c->pending = p;
        return 1;
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
        if (!service_is_live(s) || s->pidfd < 0)
                return sd_bus_error_setf(error, CONTROL_ERROR_FAILED, "%s: not running",
                                         control_service_name(s));
        log_service(LOG_INFO, control_service_name(s), "signal %d requested by uid %u", (int)sig,
                    (unsigned)cn->cred.uid);
        r = service_kill(s, sig);
        if (r == -ESRCH)
                return sd_bus_error_setf(error, CONTROL_ERROR_FAILED, "%s: not running",
                                         control_service_name(s));
        if (r < 0)
                return sd_bus_error_setf(error, CONTROL_ERROR_FAILED, "%s: cannot signal: %s",
                                         control_service_name(s), strerror(-r));
        return sd_bus_reply_method_return(msg, NULL);
}

static int control_method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error)
{
        struct control_conn *cn = userdata;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        r = control_check_access(cn, error);
        if (r < 0)
                return r;
        log_info("reload requested by uid %u", (unsigned)cn->cred.uid);
        r = manager_reload(cn->control->manager, &errors);
        control_sweep_pending(cn->control);
        if (r >= 0)
                return sd_bus_reply_method_return(msg, NULL);
        if (!errors || !errors[0])
                return sd_bus_error_setf(error, CONTROL_ERROR_FAILED, "reload failed: %s",
                                         strerror(-r));

        for (char **e = errors; *e; e++)
                len += strlen(*e) + 1;
        text = malloc(len + 1);
        if (!text)
                return -ENOMEM;
        len = 0;
        for (char **e = errors; *e; e++) {
                size_t l = strlen(*e);
                if (len)
                        text[len++] = '\n';
                memcpy(text + len, *e, l);
                len += l;
        }
        text[len] = '\0';
        {
                _cleanup_free_ char *clean = malloc(len * 4 + 8);
                if (!clean)
                        return -ENOMEM;
                return sd_bus_error_set(error, CONTROL_ERROR_INVALID_CONFIG,
                                        control_utf8(text, clean, len * 4 + 8));
        }
}

static const sd_bus_vtable control_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("ListServices", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", services),
                                control_method_list, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListServicesCompact", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a" CONTROL_COMPACT_SIGNATURE, services),
                                control_method_list_compact, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetService", SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("a{sv}", service), control_method_get,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartService", SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("s", state), control_method_start,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StopService", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", state),
                                control_method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RestartService", SD_BUS_ARGS("s", name),
                                SD_BUS_RESULT("s", state), control_method_restart,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("KillService", SD_BUS_ARGS("s", name, "i", signal),
                                SD_BUS_NO_RESULT, control_method_kill,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, control_method_reload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("ServiceStateChanged",
                                SD_BUS_ARGS("s", name, "s", state, "s", reason), 0),
        SD_BUS_VTABLE_END,
};

/* ---- connections ---- */

static void control_conn_free(struct control_conn *cn)
{
        struct control *c = cn->control;
        struct control_pending *p, *next;

        /* Calls from this peer can no longer be answered. */
        for (p = c->pending; p; p = next) {
                next = p->next;
                if (p->conn == cn)
                        control_pending_free(c, p);
        }
        ev_io_stop(c->manager->loop, &cn->io);
        ev_timer_stop(c->manager->loop, &cn->timer);
        if (cn->prev)
                cn->prev->next = cn->next;
        else
                c->conns = cn->next;
        if (cn->next)
                cn->next->prev = cn->prev;
        c->n_conns--;
        /* Closes the fd; never flushes (that could block on a peer that does not read). */
        sd_bus_close_unref(cn->bus);
        free(cn);
}

static void control_conn_drop(struct control_conn *cn, int err, const char *why)
{
        log_debug("control: connection %u (uid %u) dropped: %s%s%s", cn->id,
                  (unsigned)cn->cred.uid, why, err ? ": " : "", err ? strerror(-err) : "");
        control_conn_free(cn);
}

/* Watch what sd-bus currently waits for. A peer not reading its replies or
 * whose connection broke is dropped here. */
static int control_conn_arm(struct control_conn *cn)
{
        struct ev_loop *loop = cn->control->manager->loop;
        uint64_t queued = 0, until;
        int events, fd, want = 0, r;

        if (cn->broken)
                return -EPIPE;
        r = sd_bus_get_n_queued_write(cn->bus, &queued);
        if (r < 0)
                return r;
        if (queued > CONTROL_QUEUED_WRITE_MAX)
                return -ENOBUFS;
        fd = sd_bus_get_fd(cn->bus);
        if (fd < 0)
                return fd;
        events = sd_bus_get_events(cn->bus);
        if (events < 0)
                return events;
        if (events & POLLIN)
                want |= EV_READ;
        if (events & POLLOUT)
                want |= EV_WRITE;
        if (!ev_is_active(&cn->io) || cn->io.fd != fd ||
            (cn->io.events & (EV_READ | EV_WRITE)) != want) {
                ev_io_stop(loop, &cn->io);
                if (want) {
                        ev_io_set(&cn->io, fd, want);
                        ev_io_start(loop, &cn->io);
                }
        }

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
        return 0;
}

static void control_conn_process(struct control_conn *cn)
{
        int r = 0;

        for (unsigned i = 0; i < CONTROL_PROCESS_BATCH; i++) {
                r = sd_bus_process(cn->bus, NULL);
                if (r <= 0)
                        break;
        }
        if (r < 0) {
                control_conn_drop(cn, r, "processing");
                return;
        }
        if (sd_bus_is_open(cn->bus) <= 0) {
                control_conn_drop(cn, 0, "closed");
                return;
        }
        r = control_conn_arm(cn);
        if (r < 0)
                control_conn_drop(cn, r, "re-arming");
}

static void control_conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        control_conn_process(container_of(w, struct control_conn, io));
}

static void control_conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
        control_conn_process(container_of(w, struct control_conn, timer));
}

static int control_conn_new(struct control *c, int fd)
{
        _cleanup_close_ int cfd = fd;
        struct control_conn *cn;
        socklen_t len;
        sd_id128_t id;
        int r;

        cn = calloc(1, sizeof *cn);
        if (!cn)
                return -ENOMEM;
        cn->control = c;
        cn->id = ++c->next_id;
        len = sizeof cn->cred;
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cn->cred, &len) < 0) {
                r = -errno;
                goto fail;
        }
        ev_io_init(&cn->io, control_conn_io_cb, cfd, EV_READ);
        ev_timer_init(&cn->timer, control_conn_timer_cb, 0., 0.);

        r = sd_bus_new(&cn->bus);
        if (r < 0)
                goto fail;
        r = sd_id128_randomize(&id);
        if (r < 0)
                goto fail;
        r = sd_bus_set_fd(cn->bus, cfd, cfd);
        if (r < 0)
                goto fail;
        cfd = -1; /* the bus owns it now */
        r = sd_bus_set_server(cn->bus, 1, id);
        if (r < 0)
                goto fail;
        /* sd-bus checks EXTERNAL against SO_PEERCRED, but a peer in another pid
         * namespace reports pid 0 and sd-bus then refuses it. Authorization does
         * not rest on this handshake: every method checks the uid tendd read
         * with SO_PEERCRED itself, which holds across pid namespaces. */
        r = sd_bus_set_anonymous(cn->bus, 1);
        if (r < 0)
                goto fail;
        /* No fd passing: nothing here takes fds, and queued fds would cost us. */
        (void)sd_bus_negotiate_fds(cn->bus, 0);
        r = sd_bus_add_object_vtable(cn->bus, NULL, CONTROL_PATH, CONTROL_INTERFACE,
                                     control_vtable, cn);
        if (r < 0)
                goto fail;
        r = sd_bus_start(cn->bus);
        if (r < 0)
                goto fail;
        /* sd-bus asks for 8 MiB socket buffers (forced, as root): far more kernel
         * memory than a peer of a control socket needs to pin by not reading. */
        (void)setsockopt(sd_bus_get_fd(cn->bus), SOL_SOCKET, SO_SNDBUF,
                         &(int){ CONTROL_SOCKET_BUFFER }, sizeof(int));
        (void)setsockopt(sd_bus_get_fd(cn->bus), SOL_SOCKET, SO_RCVBUF,
                         &(int){ CONTROL_SOCKET_BUFFER }, sizeof(int));

        cn->next = c->conns;
        if (c->conns)
                c->conns->prev = cn;
        c->conns = cn;
        c->n_conns++;
        r = control_conn_arm(cn);
        if (r < 0) {
                control_conn_drop(cn, r, "arming");
                return 0;
        }
        log_debug("control: connection %u from pid %d uid %u", cn->id, (int)cn->cred.pid,
                  (unsigned)cn->cred.uid);
        return 0;

fail:
        sd_bus_close_unref(cn->bus);
        free(cn);
        return r;
}

static void control_accept(struct control *c)
{
        struct ev_loop *loop = c->manager->loop;

        for (unsigned i = 0; i < CONTROL_ACCEPT_BATCH; i++) {
                int fd, r;

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
                if (c->n_conns >= CONTROL_CONNECTIONS_MAX) {
                        log_warning("control: %u connections open, refusing another",
                                    c->n_conns);
                        close(fd);
                        continue;
                }
                r = control_conn_new(c, fd);
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

        if (c->pending)
                control_sweep_pending(c);
        for (cn = c->conns; cn; cn = next) {
                int r;

                next = cn->next;
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

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->manager = m;
        c->fd = -1;
        ev_io_init(&c->listen_io, control_listen_cb, -1, EV_READ);
        ev_timer_init(&c->listen_retry, control_listen_retry_cb, 1., 0.);
        ev_prepare_init(&c->prepare, control_prepare_cb);

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
        }
        if (listen(c->fd, SOMAXCONN) < 0) {
                r = -errno;
                goto fail;
        }

        ev_io_set(&c->listen_io, c->fd, EV_READ);
        ev_io_start(m->loop, &c->listen_io);
        ev_prepare_start(m->loop, &c->prepare);
        m->state_hook = control_state_hook;
        m->removed_hook = control_removed_hook;
        m->state_hook_userdata = c;
        *ret = c;
        return 0;

fail:
        control_free(c);
        return r;
}

/* Fail pending calls, drop every connection, unlink the socket, unhook. */
struct control *control_free(struct control *c)
{
        struct ev_loop *loop;

        if (!c)
                return NULL;
        loop = c->manager->loop;
        if (c->manager->state_hook_userdata == c) {
                c->manager->state_hook = NULL;
                c->manager->removed_hook = NULL;
                c->manager->state_hook_userdata = NULL;
        }
        while (c->pending)
                control_pending_fail(c, c->pending, "tendd is shutting down");
        while (c->conns)
                control_conn_free(c->conns);
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
