/* status.c: tendctl status: the services as a table or, with --json, as a
 * JSON array whose objects come from the record's table (wire.h): every field
 * with a json key, shown as its form says. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tendctl.h"

/* The services shown, in the order tendd or the command line gave them. */
struct status_list {
        struct wire_service *v;
        size_t n;
        bool broken; /* the listing failed: nothing is shown */
};

static void status_list_done(struct status_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                wire_service_done(&l->v[i]);
        free(l->v);
}

/* Move *w to the end of l (w zeroed); -ENOMEM leaves w as it was. */
static int status_list_push(struct status_list *l, struct wire_service *w)
{
        struct wire_service *nv = realloc(l->v, (l->n + 1) * sizeof *nv);

        if (!nv)
                return -ENOMEM;
        nv[l->n++] = *w;
        memset(w, 0, sizeof *w);
        l->v = nv;
        return 0;
}

static const char *str_or(const char *s, const char *dflt)
{
        return s && *s ? s : dflt;
}

static void format_since(char *buf, size_t size, uint64_t since)
{
        uint64_t now, d;
        struct timespec ts;

        if (since == 0) {
                snprintf(buf, size, "-");
                return;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
        d = now > since ? (now - since) / USEC_PER_SEC : 0;
        if (d < 60)
                snprintf(buf, size, "%" PRIu64 "s ago", d);
        else if (d < 3600)
                snprintf(buf, size, "%" PRIu64 "min ago", d / 60);
        else if (d < 86400)
                snprintf(buf, size, "%" PRIu64 "h ago", d / 3600);
        else
                snprintf(buf, size, "%" PRIu64 "d ago", d / 86400);
}

/* The columns of one row, escaped. */
struct ctl_row {
        char *name, *state, *reason, *status, *health;
        char pid[16], since[64];
};

/* See tendctl.h: green up, red failed, yellow on the way, plain stopped. */
const char *ctl_state_colour(const char *state)
{
        if (streq_ptr(state, "running"))
                return "\033[1;32m";
        if (streq_ptr(state, "failed"))
                return "\033[1;31m";
        if (streq_ptr(state, "starting") || streq_ptr(state, "stopping") ||
            streq_ptr(state, "backoff"))
                return "\033[1;33m";
        return "";
}

/* " | health: STATE" with the last result and when, escaped; "" when the
 * service has no health check. NULL: out of memory. */
static char *status_health(const struct wire_service *w)
{
        _cleanup_free_ char *s = NULL;
        char ago[64];

        if (!w->health || !*w->health)
                return strdup("");
        format_since(ago, sizeof ago, w->health_time);
        if (w->health_result && *w->health_result) {
                if (asprintf(&s, " | health: %s, last check %s: %s", w->health, ago,
                             w->health_result) < 0)
                        return NULL;
        } else if (asprintf(&s, " | health: %s", w->health) < 0)
                return NULL;
        return ctl_escape(s);
}

static void status_print_table(const struct wire_service *v, size_t n, bool legend, bool colour)
{
        int wname = 4, wstate = 5, wpid = 3, wrest = 8, wsince = 5;
        struct ctl_row *rows = calloc(n ? n : 1, sizeof *rows);

        if (!rows) {
                fprintf(stderr, "tendctl: out of memory\n");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                struct ctl_row *row = &rows[i];
                int l;

                row->name = ctl_escape(str_or(v[i].name, "-"));
                row->state = ctl_escape(str_or(v[i].state, "-"));
                row->reason = ctl_escape(str_or(v[i].reason, "-"));
                row->status = ctl_escape(v[i].status);
                row->health = status_health(&v[i]);
                if (!row->name || !row->state || !row->reason || !row->status || !row->health) {
                        fprintf(stderr, "tendctl: out of memory\n");
                        goto finish;
                }
                if (v[i].pid)
                        snprintf(row->pid, sizeof row->pid, "%" PRIu32, v[i].pid);
                else
                        snprintf(row->pid, sizeof row->pid, "-");
                format_since(row->since, sizeof row->since, v[i].since);
                l = (int)strlen(row->name);
                wname = l > wname ? l : wname;
                l = (int)strlen(row->state);
                wstate = l > wstate ? l : wstate;
                l = (int)strlen(row->pid);
                wpid = l > wpid ? l : wpid;
                l = (int)strlen(row->since);
                wsince = l > wsince ? l : wsince;
        }
        if (legend)
                printf("%-*s  %-*s  %*s  %*s  %-*s  %s\n", wname, "NAME", wstate, "STATE", wpid,
                       "PID", wrest, "RESTARTS", wsince, "SINCE", "REASON");
        for (size_t i = 0; i < n; i++) {
                const struct ctl_row *row = &rows[i];
                const char *on = colour ? ctl_state_colour(v[i].state) : "";

                /* A service's own STATUS= text says more than tendd's reason. */
                printf("%-*s  %s%-*s%s  %*s  %*" PRIu32 "  %-*s  %s%s%s%s\n", wname, row->name,
                       on, wstate, row->state, *on ? CTL_COLOUR_OFF : "", wpid, row->pid, wrest,
                       v[i].restarts, wsince, row->since, row->reason,
                       *row->status ? " | status: " : "", row->status, row->health);
        }
finish:
        for (size_t i = 0; i < n; i++) {
                free(rows[i].name);
                free(rows[i].state);
                free(rows[i].reason);
                free(rows[i].status);
                free(rows[i].health);
        }
        free(rows);
}

/* See tendctl.h. */
void ctl_json_string(const char *s)
{
        ctl_json_string_n(s, s ? strlen(s) : 0);
}

/* See tendctl.h. */
void ctl_json_string_n(const char *s, size_t len)
{
        /* RFC 8259: these by name, other control characters as \u00XX; C1 and
         * the bidi controls too (valid JSON either way, inert on a terminal). */
        static const char *const named[128] = {
                ['"'] = "\\\"", ['\\'] = "\\\\", ['\n'] = "\\n", ['\r'] = "\\r",
                ['\t'] = "\\t", ['\b'] = "\\b", ['\f'] = "\\f",
        };

        const unsigned char *run = (const unsigned char *)(s ? s : ""), *p = run,
                            *end = p + (s ? len : 0);

        putchar('"');
        while (p < end) {
                uint32_t cp;
                size_t n = wire_utf8_decode(p, &cp);

                if (n > 0 && !(cp < 128 && named[cp]) && !ctl_is_control(cp)) {
                        p += n; /* plain text: written with the rest of its run */
                        continue;
                }
                fwrite(run, 1, (size_t)(p - run), stdout);
                if (n == 0) /* not from tendd, which sends UTF-8 only */
                        fputs("\\ufffd", stdout);
                else if (cp < 128 && named[cp])
                        fputs(named[cp], stdout);
                else
                        printf("\\u%04x", (unsigned)cp);
                p += n ? n : 1;
                run = p;
        }
        fwrite(run, 1, (size_t)(p - run), stdout);
        putchar('"');
}

/* A numeric field's value, widened (usec fields stay far below 2^63). */
static long long status_json_number(const struct wire_field *f, const void *p)
{
        switch (f->type) {
        case 'u':
                return *(const uint32_t *)p;
        case 't':
                return (long long)*(const uint64_t *)p;
        case 'i':
                return *(const int32_t *)p;
        default: /* 'b' */
                return *(const int *)p;
        }
}

/* Field f of w as its json form says. */
static void status_json_value(const struct wire_service *w, const struct wire_field *f)
{
        const void *p = wire_field_ptr(w, f);
        const char *s = f->type == 's' ? *(const char *const *)p : NULL;
        long long v = f->type == 's' ? 0 : status_json_number(f, p);
        bool null = (f->json_form == WIRE_JSON_STRING_NULL && !(s && *s)) ||
                    ((f->json_form == WIRE_JSON_NUMBER_NULL || f->json_form == WIRE_JSON_SECONDS) &&
                     v == 0) ||
                    (f->json_form == WIRE_JSON_EXIT_CODE && !(w->has_exit && v >= 0)) ||
                    (f->json_form == WIRE_JSON_EXIT_SIGNAL && !(w->has_exit && v > 0)) ||
                    (f->json_form == WIRE_JSON_KNOWN && *(const uint64_t *)p == UINT64_MAX);

        if (null)
                fputs("null", stdout);
        else if (f->type == 's')
                ctl_json_string(s);
        else if (f->json_form == WIRE_JSON_BOOL)
                fputs(v ? "true" : "false", stdout);
        else if (f->json_form == WIRE_JSON_SECONDS)
                printf("%" PRIu64, *(const uint64_t *)p / USEC_PER_SEC);
        else
                printf("%lld", v);
}

static void status_print_json(const struct wire_service *v, size_t n)
{
        putchar('[');
        for (size_t i = 0; i < n; i++) {
                const char *sep = "";

                fputs(i ? ",\n {" : "\n {", stdout);
                for (size_t k = 0; k < wire_service_n_fields; k++) {
                        const struct wire_field *f = &wire_service_fields[k];

                        if (f->json_form == WIRE_JSON_NONE)
                                continue;
                        fputs(sep, stdout);
                        putchar('"');
                        fputs(f->json, stdout);
                        fputs("\": ", stdout);
                        status_json_value(&v[i], f);
                        sep = ", ";
                }
                putchar('}');
        }
        fputs(n ? "\n]\n" : "]\n", stdout);
}

/* Every service, from ListServicesCompact. */
static int status_list_all(sd_bus *bus, struct status_list *l)
{
        sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        struct wire_service w = {};
        int r, code;

        r = sd_bus_call_method(bus, NULL, WIRE_PATH, WIRE_INTERFACE, WIRE_METHOD_LIST_COMPACT,
                               &error, &reply, NULL);
        if (r < 0) {
                code = ctl_report(NULL, &error, r);
                sd_bus_error_free(&error);
                l->broken = true;
                return code;
        }
        /* Of whatever record: each is checked as it is read, and one of an older or
         * newer tendd read for the fields both know. */
        r = sd_bus_message_enter_container(reply, 'a', NULL);
        while (r >= 0) {
                r = sd_bus_message_at_end(reply, false);
                if (r != 0)
                        break;
                r = wire_service_read_compact(reply, &w);
                if (r >= 0)
                        r = status_list_push(l, &w);
                wire_service_done(&w);
        }
        sd_bus_message_unref(reply);
        if (r < 0) {
                fprintf(stderr, "tendctl: bad reply from tendd: %s\n", strerror(-r));
                l->broken = true;
                return EXIT_FAILED;
        }
        return EXIT_OK;
}

/* The services named; exit 3 when one is not running, 1 when one is unknown. */
static int status_list_named(sd_bus *bus, char **names, int n, struct status_list *l)
{
        int code = EXIT_OK;

        for (int i = 0; i < n; i++) {
                struct wire_service w = {};
                int r = ctl_get_service(bus, names[i], &w);

                if (r != EXIT_OK) {
                        wire_service_done(&w);
                        if (r == EXIT_UNREACHABLE) {
                                l->broken = true;
                                return r;
                        }
                        code = EXIT_FAILED;
                        continue;
                }
                if (code == EXIT_OK && !streq_ptr(w.state, "running") &&
                    !streq_ptr(w.state, "starting"))
                        code = EXIT_NOT_RUNNING;
                if (status_list_push(l, &w) < 0) {
                        wire_service_done(&w);
                        fprintf(stderr, "tendctl: out of memory\n");
                        l->broken = true;
                        return EXIT_FAILED;
                }
        }
        return code;
}

/* status [--json] [NAME...]; see tendctl.h. */
int ctl_status(struct ctl_args *a)
{
        struct status_list l = {};
        int code;

        if (a->n_operands == 0)
                code = status_list_all(a->bus, &l);
        else
                code = status_list_named(a->bus, a->operands, a->n_operands, &l);
        if (l.broken) {
                status_list_done(&l);
                return code;
        }
        if (a->json)
                status_print_json(l.v, l.n);
        else if (l.n || a->n_operands == 0)
                status_print_table(l.v, l.n, !a->no_legend, a->colour);
        fflush(stdout);
        status_list_done(&l);
        return code;
}

/* See tendctl.h. */
int ctl_list_services(sd_bus *bus, struct wire_service **ret, size_t *ret_n)
{
        struct status_list l = {};
        int code = status_list_all(bus, &l);

        if (l.broken) {
                status_list_done(&l);
                return code;
        }
        *ret = l.v;
        *ret_n = l.n;
        return EXIT_OK;
}
