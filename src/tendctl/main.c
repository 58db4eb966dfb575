/* main.c: tendctl's command line. The verbs are data (ctl_verbs: name, help,
 * options, how many operands, what runs them): the global options, each
 * verb's options, -h/--help, the operand count and the connection to tendd
 * are handled here once, for every verb, before the verb runs. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "tendctl.h"

#ifndef TEND_VERSION
#define TEND_VERSION "unknown"
#endif

/* Options without a short form: values beyond any character. */
enum {
        OPT_JSON = 0x100,
        OPT_NO_BLOCK,
        OPT_ALL,
        OPT_NO_LEGEND,
        OPT_VALUE,
        OPT_REVERSE,
};

static const struct option status_options[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "no-legend", no_argument, NULL, OPT_NO_LEGEND },
        { "help", no_argument, NULL, 'h' },
        {},
};

static const struct option show_options[] = {
        { "property", required_argument, NULL, 'p' },
        { "value", no_argument, NULL, OPT_VALUE },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        {},
};

static const struct option is_options[] = {
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        {},
};

static const struct option deps_options[] = {
        { "reverse", no_argument, NULL, OPT_REVERSE },
        { "json", no_argument, NULL, OPT_JSON },
        { "no-legend", no_argument, NULL, OPT_NO_LEGEND },
        { "help", no_argument, NULL, 'h' },
        {},
};

static const struct option json_options[] = {
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        {},
};

static const struct option help_options[] = {
        { "help", no_argument, NULL, 'h' },
        {},
};

static const struct option change_options[] = {
        { "no-block", no_argument, NULL, OPT_NO_BLOCK },
        { "all", no_argument, NULL, OPT_ALL },
        { "help", no_argument, NULL, 'h' },
        {},
};

static const struct option kill_options[] = {
        { "signal", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        {},
};

static const struct option logs_options[] = {
        { "lines", required_argument, NULL, 'n' },
        { "follow", no_argument, NULL, 'f' },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        {},
};

/* clang-format off */
#define OPT_HELP "  -h, --help             Show this help\n"
static const struct ctl_verb ctl_verbs[] = {
        { "status", "status [--json] [NAME...]",
          "Show services (exit 3: a named one is\nnot running)",
          "      --json             A JSON array, one object per service\n"
          "      --no-legend        No header line\n" OPT_HELP,
          ":h", status_options, 0, UINT_MAX, NULL, NULL, ctl_status },
        { "show", "show [-p KEY[,KEY]] [--value] NAME...",
          "Every property as Key=Value lines (a\nblank line between services)",
          "  -p, --property=KEY[,KEY]\n"
          "                         Only these properties (repeatable)\n"
          "  -P KEY                 Same as --value --property=KEY\n"
          "      --value            Values only, without \"Key=\"\n"
          "      --json             A JSON array, one object per service\n" OPT_HELP,
          ":p:P:h", show_options, 1, UINT_MAX, NULL, NULL, ctl_show },
        { "cat", "cat [--json] NAME...",
          "Show the files of each service's\nconfiguration: the main file, then its\n"
          "drop-ins in the order applied",
          "      --json             A JSON array: each service's files, their\n"
          "                         paths and text\n" OPT_HELP,
          ":h", json_options, 1, UINT_MAX, NULL, NULL, ctl_cat },
        { "is-active", "is-active [-q] NAME...",
          "Print each state; exit 0 if any is\nrunning, else 3",
          "  -q, --quiet            Print nothing, only the exit status\n" OPT_HELP,
          ":qh", is_options, 1, UINT_MAX, NULL, NULL, ctl_is_active },
        { "is-failed", "is-failed [-q] NAME...",
          "Print each state; exit 0 if any is\nfailed, else 1",
          "  -q, --quiet            Print nothing, only the exit status\n" OPT_HELP,
          ":qh", is_options, 1, UINT_MAX, NULL, NULL, ctl_is_failed },
        { "list-dependencies", "list-dependencies [--reverse] NAME",
          "The tree of what NAME requires or starts\nafter, with each one's state "
          "(--reverse:\nwhat requires or starts after NAME)",
          "      --reverse          What depends on NAME instead\n"
          "      --json             The tree as one JSON object\n"
          "      --no-legend        No header line\n" OPT_HELP,
          ":h", deps_options, 1, 1, NULL, NULL, ctl_list_dependencies },
        { "start", "start [--no-block] NAME...|--all",
          "Start and wait until running (all of\nthem in one call; one unknown name and\n"
          "nothing is done; --no-block: do not wait)",
          "      --no-block         Return once the requests are made\n"
          "      --all              Every service\n" OPT_HELP,
          ":h", change_options, 1, UINT_MAX, WIRE_METHOD_START, WIRE_METHOD_START_MANY,
          ctl_change },
        { "stop", "stop [--no-block] NAME...|--all",
          "Stop and wait until stopped (dependents\nfirst)",
          "      --no-block         Return once the requests are made\n"
          "      --all              Every service\n" OPT_HELP,
          ":h", change_options, 1, UINT_MAX, WIRE_METHOD_STOP, WIRE_METHOD_STOP_MANY,
          ctl_change },
        { "restart", "restart [--no-block] NAME...|--all",
          "Restart and wait until running again",
          "      --no-block         Return once the requests are made\n"
          "      --all              Every service\n" OPT_HELP,
          ":h", change_options, 1, UINT_MAX, WIRE_METHOD_RESTART, WIRE_METHOD_RESTART_MANY,
          ctl_change },
        { "enable", "enable NAME...",
          "Set enabled = yes (start with tendd) in\nthe drop-in NAME.ini.d/50-enable.ini,\n"
          "then reload; starts nothing",
          NULL, NULL, NULL, 1, UINT_MAX, NULL, NULL, ctl_enable },
        { "disable", "disable NAME...",
          "Set enabled = no in that drop-in, then\nreload; stops nothing",
          NULL, NULL, NULL, 1, UINT_MAX, NULL, NULL, ctl_enable },
        { "kill", "kill [-s SIGNAL] NAME...", "Send a signal (default TERM)",
          "  -s, --signal=SIGNAL    TERM, SIGTERM or a number (default TERM)\n" OPT_HELP,
          ":s:h", kill_options, 1, UINT_MAX, NULL, NULL, ctl_kill },
        { "reload", "reload [NAME...]",
          "Reload the configuration; with names,\nreload each service itself (its\n"
          "exec_reload or reload_signal)", NULL,
          NULL, NULL, 0, UINT_MAX, NULL, NULL, ctl_reload },
        { "reexec", "reexec",
          "Re-execute tendd in place (services keep\nrunning) and wait until it answers again",
          NULL, NULL, NULL, 0, 0, WIRE_METHOD_REEXEC, NULL, ctl_reexec },
        { "logs", "logs [-n N] [-f] [--json] NAME",
          "Show a service's output (the last N\nlines; -f: follow). File output is read\n"
          "from its log files, journal output with\njournalctl (its lines only)",
          "  -n, --lines=N          The last N lines (0, the default: all)\n"
          "  -f, --follow           Then follow what is written\n"
          "      --json             One JSON object per line\n" OPT_HELP,
          ":n:fh", logs_options, 1, 1, NULL, NULL, ctl_logs },
        { "events", "events [--json]",
          "Follow every change of state, a line\neach (time, name, state, reason) until\n"
          "interrupted (exit 4: tendd went away)",
          "      --json             One JSON object per line\n" OPT_HELP,
          ":h", json_options, 0, 0, NULL, NULL, ctl_events },
        { "metrics", "metrics",
          "Every service's state, restarts, last\nexit, start time, CPU and memory in the\n"
          "Prometheus text format",
          OPT_HELP, ":h", help_options, 0, 0, NULL, NULL, ctl_metrics },
};
/* clang-format on */

/* A verb's help: its synopsis, then its text in a column, continued lines
 * indented to that column. */
static void help_verb(FILE *f, const struct ctl_verb *v)
{
        const char *p = v->help;

        /* A synopsis too long for its column gets a line of its own. */
        if (strlen(v->synopsis) >= 34)
                fprintf(f, "  %s\n%37s", v->synopsis, "");
        else
                fprintf(f, "  %-35s", v->synopsis);
        for (;;) {
                size_t l = strcspn(p, "\n");

                fprintf(f, "%.*s\n", (int)l, p);
                if (!p[l])
                        break;
                p += l + 1;
                fprintf(f, "%37s", "");
        }
}

/* tendctl VERB --help: its synopsis, what it does, its options. */
static void help_one(FILE *f, const struct ctl_verb *v)
{
        fprintf(f, "Usage: tendctl [-s|--socket PATH] %s\n\n", v->synopsis);
        for (const char *p = v->help; *p; p++)
                fputc(*p == '\n' ? ' ' : *p, f);
        fprintf(f, ".\n");
        if (v->options_help)
                fprintf(f, "\nOptions:\n%s", v->options_help);
        fprintf(f, "\nSee 'tendctl --help' for the global options and exit status.\n");
}

static void help(FILE *f)
{
        fprintf(f, "Usage: tendctl [-s|--socket PATH] COMMAND ...\n"
                   "\n"
                   "Control tendd, the tend process supervisor.\n"
                   "\n"
                   "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(ctl_verbs); i++)
                help_verb(f, &ctl_verbs[i]);
        fprintf(f, "\n"
                   "Options:\n"
                   "  -s, --socket PATH   Control socket (default: $TEND_SOCKET, else the\n"
                   "                      daemon's default)\n"
                   "  -h, --help          Show this help (COMMAND --help: the command's)\n"
                   "      --version       Show the version\n"
                   "\n"
                   "Colours only on a terminal, never with NO_COLOR set or TERM=dumb.\n"
                   "Exit status: 0 ok, 1 operation failed, 2 usage, 3 not running,\n"
                   "4 daemon unreachable.\n");
}

_printf_(1, 2) static int usage_error(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "tendctl: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'tendctl --help'.\n");
        return EXIT_USAGE;
}

/* What getopt_long refused (c: '?' unknown or given a value it does not
 * take, ':' missing its value; optopt), naming the option as typed: a long
 * one is the word getopt just passed (at: optind before the call), a short
 * one may be inside a cluster (-xf). verb NULL: a global option. */
static int usage_bad_option(const char *verb, int c, char **argv, int at)
{
        const char *word = optind > at ? argv[optind - 1] : "", *v = verb ? verb : "",
                   *sep = verb ? ": " : "";
        char short_name[] = { '-', (char)optopt, '\0' };
        bool is_long = strncmp(word, "--", 2) == 0;
        const char *name = is_long ? word : short_name;
        int n = (int)strcspn(name, "=");

        if (c == ':')
                return usage_error("%s%soption %.*s needs a value", v, sep, n, name);
        if (is_long && optopt != 0)
                return usage_error("%s%soption %.*s takes no value", v, sep, n, name);
        return usage_error("%s%sinvalid option %.*s", v, sep, n, name);
}

/* logs -n: a line count, 0 (all) to LINES_MAX. */
#define LINES_MAX 1000000000

static int parse_lines(const char *s, unsigned long long *ret)
{
        char *end;

        errno = 0;
        *ret = strtoull(s, &end, 10);
        return errno || !*s || *end || s[0] == '-' || *ret > LINES_MAX ? -EINVAL : 0;
}

/* show -p KEY[,KEY...]: each name checked now, kept as typed. */
static int parse_properties(const char *verb, const char *list, struct ctl_args *a)
{
        char name[64];

        for (const char *p = list; *p;) {
                size_t l = strcspn(p, ",");

                if (l == 0 || l >= sizeof name)
                        return usage_error("%s: invalid property list: %s", verb, list);
                memcpy(name, p, l);
                name[l] = '\0';
                if (!ctl_show_property_known(name))
                        return usage_error("%s: unknown property: %s", verb, name);
                p += l + (p[l] == ',');
        }
        if (a->n_properties == (int)ELEMENTSOF(a->properties))
                return usage_error("%s: too many -p options", verb);
        a->properties[a->n_properties++] = list;
        return -1;
}

/* One option c of verb argv[0] into a (at: optind before getopt_long
 * returned it): -1 to go on, else the exit code. */
static int parse_option(int c, char **argv, int at, struct ctl_args *a)
{
        switch (c) {
        case OPT_JSON:
                a->json = true;
                return -1;
        case OPT_NO_BLOCK:
                a->no_block = true;
                return -1;
        case OPT_ALL:
                a->all = true;
                return -1;
        case OPT_NO_LEGEND:
                a->no_legend = true;
                return -1;
        case OPT_VALUE:
                a->value = true;
                return -1;
        case OPT_REVERSE:
                a->reverse = true;
                return -1;
        case 'q':
                a->quiet = true;
                return -1;
        case 'P':
                a->value = true;
                __attribute__((fallthrough));
        case 'p':
                return parse_properties(argv[0], optarg, a);
        case 's':
                if (parse_signal(optarg, &a->signal) < 0)
                        return usage_error("invalid signal: %s", optarg);
                return -1;
        case 'n':
                if (parse_lines(optarg, &a->lines) < 0)
                        return usage_error("%s: invalid line count: %s (0 to %d; 0: all)", argv[0],
                                           optarg, LINES_MAX);
                return -1;
        case 'f':
                a->follow = true;
                return -1;
        case 'h':
                help_one(stdout, a->verb);
                return EXIT_OK;
        default:
                return usage_bad_option(argv[0], c, argv, at);
        }
}

/* The verb's options (a verb without options of its own knows -h and --help,
 * and refuses any other); -1 to go on with the operands from optind, else the
 * exit code. */
static int parse_options(const struct ctl_verb *v, int argc, char **argv, struct ctl_args *a)
{
        const struct option *options = v->options ? v->options : help_options;
        const char *short_options = v->options ? v->short_options : ":h";
        int at, c, r;

        optind = 0; /* restart getopt on the verb's own arguments */
        opterr = 0;
        for (;;) {
                at = optind;
                c = getopt_long(argc, argv, short_options, options, NULL);
                if (c < 0)
                        break;
                r = parse_option(c, argv, at, a);
                if (r >= 0)
                        return r;
        }
        return -1;
}

/* The operand count against the verb's: -1 when it fits, else the exit code. */
static int check_operands(const struct ctl_verb *v, const struct ctl_args *a)
{
        unsigned n = (unsigned)a->n_operands;

        if (a->all && n > 0)
                return usage_error("%s: --all and names: give one or the other", a->name);
        if (a->all)
                return -1;
        if (v->min_operands == 1 && v->max_operands == 1 && n != 1)
                return usage_error("%s: name exactly one service", a->name);
        if (n < v->min_operands)
                return usage_error("%s: no service named", a->name);
        if (n > v->max_operands)
                return usage_error("%s: unexpected argument %s", a->name,
                                   a->operands[v->max_operands]);
        return -1;
}

/* Parse argv (the verb first), connect, run the verb; its exit code. */
static int run_verb(const struct ctl_verb *v, const char *socket_path, int argc, char **argv)
{
        const char *term = getenv("TERM");
        struct ctl_args a = {
                .verb = v, .name = argv[0], .signal = SIGTERM, .socket_path = socket_path
        };
        int code;

        /* As systemd and no-color.org: NO_COLOR of any value, a dumb or
         * unknown terminal, or not a terminal: no colours. */
        a.colour = isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && term && *term &&
                   strcmp(term, "dumb") != 0;

        code = parse_options(v, argc, argv, &a);
        if (code >= 0)
                return code;
        a.operands = argv + optind;
        a.n_operands = argc - optind;
        code = check_operands(v, &a);
        if (code >= 0)
                return code;
        code = ctl_connect(socket_path, &a.bus);
        if (code != EXIT_OK)
                return code;
        code = v->run(&a);
        sd_bus_flush_close_unref(a.bus);
        return code;
}

int main(int argc, char **argv)
{
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        const char *socket_path = NULL;
        int at, c;

        opterr = 0;
        while ((at = optind, c = getopt_long(argc, argv, "+:s:h", options, NULL)) >= 0) {
                switch (c) {
                case 's':
                        socket_path = optarg;
                        break;
                case 'h':
                        help(stdout);
                        return EXIT_OK;
                case 'V':
                        printf("tendctl " TEND_VERSION "\n");
                        return EXIT_OK;
                default:
                        return usage_bad_option(NULL, c, argv, at);
                }
        }
        if (optind >= argc) {
                help(stderr);
                return EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(ctl_verbs); i++)
                if (strcmp(ctl_verbs[i].name, argv[optind]) == 0)
                        return run_verb(&ctl_verbs[i], socket_path, argc - optind, argv + optind);
        return usage_error("unknown command: %s", argv[optind]);
}
