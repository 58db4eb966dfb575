/* change.c: the verbs that change state: start, stop, restart (one
 * *Services call for every name, or for --all; names beyond what one message
 * holds go in more calls, sent at once; a tendd without those methods gets a
 * call per name), kill, reload and reexec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tendctl.h"

/* One Start/Stop/RestartService call and its outcome. */
struct change_call {
        const char *name;
        sd_bus_slot *slot;
        bool done;
        int code;
};

static int change_done_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        struct change_call *call = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        call->done = true;
        if (e)
                call->code = ctl_report(call->name, e, -sd_bus_error_get_errno(e));
        return 1;
}

/* Send method(call->name): answered into call, or (no_block) sent with no
 * reply expected after checking that the name is known. */
static void change_send(sd_bus *bus, const char *method, bool no_block, struct change_call *call)
{
        sd_bus_message *m = NULL;
        int r;

        call->done = true;
        if (no_block) {
                /* The call itself will not report anything: check the name first. */
                struct wire_service s = {};
                r = ctl_get_service(bus, call->name, &s);
                wire_service_done(&s);
                if (r != EXIT_OK) {
                        call->code = r;
                        return;
                }
        }
        r = sd_bus_message_new_method_call(bus, &m, NULL, WIRE_PATH, WIRE_INTERFACE, method);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", call->name);
        if (r >= 0 && no_block)
                r = sd_bus_message_set_expect_reply(m, 0);
        if (r >= 0) {
                /* No timeout: a stop may legitimately take stop_timeout and more. */
                if (no_block)
                        r = sd_bus_send(bus, m, NULL);
                else
                        r = sd_bus_call_async(bus, &call->slot, m, change_done_cb, call,
                                              UINT64_MAX);
        }
        sd_bus_message_unref(m);
        if (r < 0) {
                sd_bus_error none = SD_BUS_ERROR_NULL;
                call->code = ctl_report(call->name, &none, r);
                return;
        }
        call->done = no_block;
}

/* Process replies until every call is answered; an exit code for the connection. */
static int change_wait(sd_bus *bus, struct change_call *calls, size_t n)
{
        for (;;) {
                int pending = 0, r = sd_bus_process(bus, NULL);

                if (r < 0) {
                        fprintf(stderr, "tendctl: lost connection to tendd: %s\n", strerror(-r));
                        return EXIT_UNREACHABLE;
                }
                for (size_t i = 0; i < n; i++)
                        pending += !calls[i].done;
                if (pending == 0)
                        return EXIT_OK;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR) {
                        fprintf(stderr, "tendctl: lost connection to tendd: %s\n", strerror(-r));
                        return EXIT_UNREACHABLE;
                }
        }
}

/* A call per name: a tendd that has no *Services methods. */
static int change_each(struct ctl_args *a, char **names, size_t n)
{
        struct change_call *calls = calloc(n + 1, sizeof *calls);
        int code = EXIT_OK, r;
        size_t pending = 0;

        if (!calls) {
                fprintf(stderr, "tendctl: out of memory\n");
                return EXIT_FAILED;
        }
        for (size_t i = 0; i < n; i++) {
                calls[i].name = names[i];
                change_send(a->bus, a->verb->method, a->no_block, &calls[i]);
                pending += !calls[i].done;
        }
        if (a->no_block) {
                r = sd_bus_flush(a->bus);
                if (r < 0) {
                        fprintf(stderr, "tendctl: cannot send to tendd: %s\n", strerror(-r));
                        code = EXIT_UNREACHABLE;
                }
        }
        if (pending > 0)
                code = change_wait(a->bus, calls, n);
        for (size_t i = 0; i < n; i++) {
                if (calls[i].code > code)
                        code = calls[i].code;
                sd_bus_slot_unref(calls[i].slot);
        }
        free(calls);
        return code;
}

/* One *Services call: names[0..n) (none with WIRE_MANY_ALL). */
struct change_many {
        char **names;
        size_t n;
        sd_bus_slot *slot;
        bool done, unknown_method;
        int code;
};

/* Each line of an error tendd sent ("NAME: why", a config error), escaped. */
void ctl_print_lines(const char *p)
{
        while (*p) {
                size_t l = strcspn(p, "\n");
                _cleanup_free_ char *line = strndup(p, l);
                _cleanup_free_ char *safe = line ? ctl_escape(line) : NULL;

                fprintf(stderr, "tendctl: %s\n", safe ? safe : "(out of memory)");
                p += l;
                if (*p == '\n')
                        p++;
        }
}

static int change_many_cb(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
        struct change_many *call = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        call->done = true;
        if (!e)
                return 1;
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_METHOD))
                call->unknown_method = true;
        else if ((sd_bus_error_has_name(e, WIRE_ERROR_FAILED) ||
                  sd_bus_error_has_name(e, WIRE_ERROR_NO_SUCH_SERVICE)) &&
                 e->message) {
                ctl_print_lines(e->message);
                call->code = EXIT_FAILED;
        } else
                call->code = ctl_report(call->n == 1 ? call->names[0] : NULL, e,
                                        -sd_bus_error_get_errno(e));
        return 1;
}

static int change_many_send(struct ctl_args *a, uint64_t flags, struct change_many *call)
{
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(a->bus, &m, NULL, WIRE_PATH, WIRE_INTERFACE,
                                           a->verb->method_many);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "s");
        for (size_t i = 0; r >= 0 && i < call->n; i++)
                r = sd_bus_message_append_basic(m, 's', call->names[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "t", flags);
        /* No timeout: a stop may legitimately take stop_timeout and more. */
        if (r >= 0)
                r = sd_bus_call_async(a->bus, &call->slot, m, change_many_cb, call, UINT64_MAX);
        sd_bus_message_unref(m);
        return r;
}

/* Process replies until every call is answered; an exit code for the connection. */
static int change_many_wait(sd_bus *bus, const struct change_many *calls, size_t n)
{
        for (;;) {
                size_t pending = 0;
                int r;

                for (size_t i = 0; i < n; i++)
                        pending += !calls[i].done;
                if (pending == 0)
                        return EXIT_OK;
                r = sd_bus_process(bus, NULL);
                if (r == 0)
                        r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR) {
                        fprintf(stderr, "tendctl: lost connection to tendd: %s\n", strerror(-r));
                        return EXIT_UNREACHABLE;
                }
        }
}

/* What a name costs in the call's body (as: length, bytes, NUL, padding). */
static size_t change_name_size(const char *name)
{
        return (4 + strlen(name) + 1 + 3) & ~(size_t)3;
}

/* Room for names in one message: the limit less the header and the flags. */
#define CHANGE_BODY_MAX (WIRE_MESSAGE_MAX - 256)

/* start|stop|restart [--no-block] (NAME...|--all); see tendctl.h. */
int ctl_change(struct ctl_args *a)
{
        uint64_t flags = (a->all ? WIRE_MANY_ALL : 0) | (a->no_block ? WIRE_MANY_NO_BLOCK : 0);
        size_t n = (size_t)a->n_operands, n_calls = 0;
        _cleanup_free_ struct change_many *calls = calloc(n + 1, sizeof *calls);
        int code = EXIT_OK, r = 0;
        bool fallback = false;

        if (!calls) {
                fprintf(stderr, "tendctl: out of memory\n");
                return EXIT_FAILED;
        }
        /* As many names as one message takes, in each call. */
        for (size_t i = 0; i < n || (a->all && n_calls == 0);) {
                struct change_many *call = &calls[n_calls++];
                size_t size = 0;

                call->names = a->operands + i;
                while (i < n && (call->n == 0 ||
                                 size + change_name_size(a->operands[i]) <= CHANGE_BODY_MAX)) {
                        size += change_name_size(a->operands[i++]);
                        call->n++;
                }
                if (a->all)
                        break;
        }
        for (size_t i = 0; i < n_calls && r >= 0; i++) {
                r = change_many_send(a, flags, &calls[i]);
                if (r < 0) {
                        sd_bus_error none = SD_BUS_ERROR_NULL;
                        code = ctl_report(NULL, &none, r);
                }
        }
        if (r >= 0)
                code = change_many_wait(a->bus, calls, n_calls);
        for (size_t i = 0; i < n_calls; i++) {
                if (calls[i].code > code)
                        code = calls[i].code;
                fallback |= calls[i].unknown_method;
                sd_bus_slot_unref(calls[i].slot);
        }
        if (!fallback || code != EXIT_OK)
                return code;
        /* A tendd from before the *Services methods. */
        if (a->all) {
                fprintf(stderr, "tendctl: %s --all: this tendd is too old for it\n", a->name);
                return EXIT_FAILED;
        }
        return change_each(a, a->operands, n);
}

/* kill [-s SIGNAL] NAME...; see tendctl.h. */
int ctl_kill(struct ctl_args *a)
{
        int code = EXIT_OK;

        for (int i = 0; i < a->n_operands; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                int r = sd_bus_call_method(a->bus, NULL, WIRE_PATH, WIRE_INTERFACE,
                                           WIRE_METHOD_KILL, &error, NULL, "si", a->operands[i],
                                           (int32_t)a->signal);
                if (r < 0) {
                        r = ctl_report(a->operands[i], &error, r);
                        if (r > code)
                                code = r;
                }
                sd_bus_error_free(&error);
        }
        return code;
}

/* Each line of tendd's InvalidConfig message (its config errors), escaped. */
static void change_print_config_errors(const char *p)
{
        fprintf(stderr, "tendctl: reload: configuration rejected, nothing changed\n");
        ctl_print_lines(p);
}

/* reload; see tendctl.h. */
int ctl_reload(struct ctl_args *a)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r, code = EXIT_OK;

        if (a->n_operands > 0) {
                /* Each service's own reload, not tendd's configuration. */
                for (int i = 0; i < a->n_operands; i++) {
                        r = sd_bus_call_method(a->bus, NULL, WIRE_PATH, WIRE_INTERFACE,
                                               WIRE_METHOD_RELOAD_SERVICE, &error, NULL, "s",
                                               a->operands[i]);
                        if (r < 0) {
                                r = ctl_report(a->operands[i], &error, r);
                                if (r > code)
                                        code = r;
                        }
                        sd_bus_error_free(&error);
                }
                return code;
        }
        r = sd_bus_call_method(a->bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_RELOAD,
                               &error, NULL, NULL);
        if (r < 0 && sd_bus_error_has_name(&error, WIRE_ERROR_INVALID_CONFIG)) {
                change_print_config_errors(error.message ? error.message : "");
                code = EXIT_FAILED;
        } else if (r < 0)
                code = ctl_report("reload", &error, r);
        sd_bus_error_free(&error);
        return code;
}

/* How long reexec waits for the new tendd, and how often it tries to reach
 * it when the socket refuses (a connection made in the meantime waits in the
 * socket's backlog instead, and is answered when the new image serves). */
#define REEXEC_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define REEXEC_RETRY_USEC (10 * USEC_PER_MSEC)

/* The old image's end of bus: it closes every connection just before its
 * execve. 0 once closed, -ETIMEDOUT at until. */
static int reexec_wait_closed(sd_bus *bus, usec_t until)
{
        for (;;) {
                usec_t now = now_monotonic();
                int r = sd_bus_process(bus, NULL);

                if (r < 0 || sd_bus_is_open(bus) <= 0)
                        return 0;
                if (r > 0)
                        continue;
                if (now >= until)
                        return -ETIMEDOUT;
                r = sd_bus_wait(bus, until - now);
                if (r < 0 && r != -EINTR)
                        return 0;
        }
}

/* A new connection answers a Ping before until; the last error otherwise. */
static int reexec_ping(const char *socket_path, usec_t until)
{
        const struct timespec pause = { 0, (long)(REEXEC_RETRY_USEC * 1000) };
        int r = -ETIMEDOUT;

        for (;;) {
                usec_t now = now_monotonic();
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *m = NULL;
                sd_bus *bus = NULL;

                if (now >= until)
                        return r;
                r = ctl_connect_quiet(socket_path, &bus, NULL);
                if (r >= 0)
                        r = sd_bus_message_new_method_call(bus, &m, NULL, WIRE_PATH,
                                                           "org.freedesktop.DBus.Peer", "Ping");
                if (r >= 0)
                        r = sd_bus_call(bus, m, until - now, &error, NULL);
                sd_bus_message_unref(m);
                sd_bus_error_free(&error);
                sd_bus_flush_close_unref(bus);
                if (r >= 0 || r == -ENOMEM)
                        return r;
                (void)nanosleep(&pause, NULL);
        }
}

/* reexec; see tendctl.h. */
int ctl_reexec(struct ctl_args *a)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        usec_t until;
        int r;

        /* tendd answers only a failure; when the new image runs, the
         * execve closed the connection (an older tendd replied at once and
         * closed it then). */
        r = sd_bus_call_method(a->bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_REEXEC, &error,
                               NULL, NULL);
        if (r < 0 && r != -ECONNRESET && r != -ENOTCONN && r != -EPIPE && r != -ECONNABORTED) {
                r = ctl_report("reexec", &error, r);
                sd_bus_error_free(&error);
                return r;
        }
        sd_bus_error_free(&error);
        until = now_monotonic() + REEXEC_TIMEOUT_USEC;
        r = r < 0 ? 0 : reexec_wait_closed(a->bus, until);
        a->bus = sd_bus_close_unref(a->bus);
        if (r < 0) {
                fprintf(stderr,
                        "tendctl: reexec: tendd accepted but did not re-execute within "
                        "%llu s (see its log)\n",
                        (unsigned long long)(REEXEC_TIMEOUT_USEC / USEC_PER_SEC));
                return EXIT_FAILED;
        }
        r = reexec_ping(a->socket_path, until);
        if (r < 0) {
                fprintf(stderr,
                        "tendctl: reexec: the new tendd did not answer within %llu s: "
                        "%s (see its log)\n",
                        (unsigned long long)(REEXEC_TIMEOUT_USEC / USEC_PER_SEC), strerror(-r));
                return EXIT_UNREACHABLE;
        }
        printf("tendd re-executed\n");
        return EXIT_OK;
}
