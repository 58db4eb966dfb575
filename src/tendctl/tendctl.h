/* tendctl.h: what the client's files share. main.c holds the verb table and
 * parses every command line into struct ctl_args, connects, and runs the
 * verb; bus.c connects and reports; each verb group has its own file
 * (status.c, change.c, logs.c). The commands and exit codes are README.md's
 * "tendctl"; the API they call is wire.h's. */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-bus.h>

#include "util.h"
#include "wire.h"

enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,
        EXIT_USAGE = 2,
        EXIT_NOT_RUNNING = 3,
        EXIT_UNREACHABLE = 4,
};

struct ctl_verb;

/* One command line, parsed. */
struct ctl_args {
        const struct ctl_verb *verb;
        const char *name;  /* the verb as typed */
        char **operands;   /* what follows the options */
        int n_operands;
        bool json;         /* --json */
        bool no_legend;    /* status, list-dependencies --no-legend */
        bool quiet;        /* is-active, is-failed -q */
        bool value;        /* show --value (-P) */
        bool reverse;      /* list-dependencies --reverse */
        bool colour;       /* stdout is a terminal, NO_COLOR unset, TERM not dumb */
        const char *properties[64]; /* show -p, each KEY[,KEY...] as typed */
        int n_properties;
        bool no_block;     /* start/stop/restart --no-block */
        bool all;          /* start/stop/restart --all */
        bool follow;       /* logs -f */
        int signal;        /* kill -s, SIGTERM */
        unsigned long long lines; /* logs -n, 0: all */
        const char *socket_path;  /* -s, NULL: as ctl_connect() decides */
        sd_bus *bus;       /* connected before the verb runs; a verb may close it (NULL) */
};

/* A verb: its name, its help line, its options and operands, what it runs. */
struct ctl_verb {
        const char *name;
        const char *synopsis; /* "status [--json] [NAME...]" */
        const char *help;     /* lines after the first indented under it */
        const char *options_help; /* its options, for `tendctl VERB --help`; NULL: none */
        const char *short_options; /* getopt_long's, ':' first, 'h' included; NULL: no options */
        const struct option *options;
        unsigned min_operands, max_operands; /* max UINT_MAX: any number */
        const char *method; /* the WIRE_METHOD_ a change verb calls for one name */
        const char *method_many; /* ...and for many (or --all) in one call */
        int (*run)(struct ctl_args *a);
};

/* The verbs (status.c, change.c, logs.c): an exit code. */
int ctl_status(struct ctl_args *a);
int ctl_change(struct ctl_args *a);
int ctl_kill(struct ctl_args *a);
int ctl_reload(struct ctl_args *a);
int ctl_reexec(struct ctl_args *a);
int ctl_logs(struct ctl_args *a);
int ctl_show(struct ctl_args *a);
int ctl_is_active(struct ctl_args *a);
int ctl_is_failed(struct ctl_args *a);
int ctl_list_dependencies(struct ctl_args *a);
int ctl_events(struct ctl_args *a);
int ctl_metrics(struct ctl_args *a);
int ctl_cat(struct ctl_args *a);    /* cat.c */
int ctl_enable(struct ctl_args *a); /* enable.c: enable and disable */

/* show -p: whether name is a property show knows (a field of the record, or
 * one of its timestamps' "...USec" raw form). */
bool ctl_show_property_known(const char *name);

/* s as a JSON string (RFC 8259) on stdout: what a terminal would act on
 * (control characters, C1, bidi controls) escaped as \uNNNN, invalid UTF-8
 * as \ufffd; the value decodes to the text. */
void ctl_json_string(const char *s);
/* The same for the len bytes at s (s[len] must be '\0'): a NUL byte among
 * them is \u0000, not the end. */
void ctl_json_string_n(const char *s, size_t len);
/* Every service, from ListServicesCompact, into *ret (n in *ret_n; free each
 * with wire_service_done, then the array); an exit code, the failure printed. */
int ctl_list_services(sd_bus *bus, struct wire_service **ret, size_t *ret_n);
/* The SGR colour of a state for a terminal ("" for none). */
const char *ctl_state_colour(const char *state);
#define CTL_COLOUR_OFF "\033[0m"

/* Connect to tendd at socket_path (NULL: $TEND_SOCKET; either empty: the
 * daemon's default); an exit code, the failure printed. */
int ctl_connect(const char *socket_path, sd_bus **ret);
/* The same, printing nothing: -errno; *ret_path (may be NULL) is the path
 * tried, for a message (static storage until the next call). */
int ctl_connect_quiet(const char *socket_path, sd_bus **ret, const char **ret_path);
/* Report a failed call about name (NULL: tendd itself); the exit code it maps to. */
int ctl_report(const char *name, const sd_bus_error *e, int r);
/* GetService(name) into ret (zeroed; wire_service_done() it); an exit code,
 * the failure printed. */
int ctl_get_service(sd_bus *bus, const char *name, struct wire_service *ret);
/* Characters a terminal acts on instead of showing (C0, DEL, C1, bidi). */
bool ctl_is_control(uint32_t cp);
/* Each line of p (a message of tendd's, e.g. config errors) to stderr as
 * "tendctl: LINE", escaped (change.c). */
void ctl_print_lines(const char *p);
/* s as one line of inert text for a terminal (see bus.c); NULL out of memory. */
char *ctl_escape(const char *s);
