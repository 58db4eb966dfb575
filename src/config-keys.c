/* config-keys.c: the keys of tend.ini and of service files, and a parser
 * for each kind of value. A parser checks one value, stores it in its field
 * of the config being built and reports what is wrong as
 * "FILE:LINE: key: reason"; the table gives each key its parser, field and
 * default (which runs through the same parser). */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/un.h>

#include "config-keys.h"
#include "env.h"
#include "parse.h"

/* Report "invalid WHAT 'VALUE'HINT" for k, the value cut when long. */
static int config_keys_invalid(struct config_file_ctx *f, const struct config_key *k, unsigned line,
                               const char *what, const char *value, const char *hint)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];

        return config_file_error(f, line, k->name, "invalid %s '%s'%s", what,
                                 config_shown(value, buf), hint);
}

/* See config-keys.h. */
int config_keys_check_argv(struct config_file_ctx *f, unsigned line, const char *key,
                           char *const *argv)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];

        if (!argv[0])
                return config_file_error(f, line, key, "empty command line");
        if (!argv[0][0])
                return config_file_error(f, line, key, "empty program name");
        if (argv[0][0] != '/' && strchr(argv[0], '/'))
                return config_file_error(f, line, key,
                                         "program '%s' must be an absolute path or a bare name "
                                         "searched in PATH",
                                         config_shown(argv[0], buf));
        for (size_t i = 0; argv[i]; i++)
                if (strlen(argv[i]) >= CONFIG_EXEC_STRING_MAX)
                        return config_file_error(
                                f, line, key,
                                "word %zu is longer than 128 KiB (execve's limit for "
                                "one argument)",
                                i + 1);
        return 0;
}

/* A word with "${" in it may change once expanded (expand = yes, known only
 * once every file is read): its checks wait for the expansion
 * (config.c). */
static bool config_keys_may_expand(const char *s)
{
        return strstr(s, "${") != NULL;
}

/* A command line split into words as a shell would; a quote left open is an
 * error of the key. */
static int config_keys_split(struct config_file_ctx *f, const struct config_key *k, unsigned line,
                             const char *value, char ***ret)
{
        int r = shell_split(value, ret);

        if (r == -EINVAL)
                return config_file_error(
                        f, line, k->name,
                        "unterminated quote or trailing backslash in command line");
        return r;
}

static CONFIG_KEY_PARSER(config_keys_exec)
{
        struct service_config *sc = f->target;
        _cleanup_strv_free_ char **argv = NULL;
        bool later = false;
        char *exec;
        int r;

        r = config_keys_split(f, k, line, value, &argv);
        if (r < 0)
                return r;
        for (size_t i = 0; argv[i] && !later; i++)
                later = config_keys_may_expand(argv[i]);
        if (!later || !argv[0]) {
                r = config_keys_check_argv(f, line, k->name, argv);
                if (r < 0)
                        return r;
        }
        exec = strdup(value);
        if (!exec)
                return -ENOMEM;
        free(sc->exec);
        sc->exec = exec;
        strv_free(sc->argv);
        sc->argv = TAKE_PTR(argv);
        return 0;
}

/* A hook's command line (exec_start_post, exec_stop, ...): checked as exec
 * is, kept as written; empty: none (a drop-in removing it). */
static int config_keys_check_command(struct config_file_ctx *f, const struct config_key *k,
                                     unsigned line, const char *value)
{
        _cleanup_strv_free_ char **argv = NULL;
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];
        int r;

        r = config_keys_split(f, k, line, value, &argv);
        if (r < 0)
                return r;
        if (!argv[0] || !argv[0][0])
                return config_file_error(f, line, k->name, "empty program name");
        /* A program with "${" is checked once expanded (config.c). */
        if (argv[0][0] != '/' && strchr(argv[0], '/') && !config_keys_may_expand(argv[0]))
                return config_file_error(f, line, k->name,
                                         "program '%s' must be an absolute path or a bare name "
                                         "searched in PATH",
                                         config_shown(argv[0], buf));
        for (size_t i = 0; argv[i]; i++)
                if (strlen(argv[i]) >= CONFIG_EXEC_STRING_MAX)
                        return config_file_error(
                                f, line, k->name,
                                "word %zu is longer than 128 KiB (execve's limit for "
                                "one argument)",
                                i + 1);
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_command)
{
        char *s;
        int r;

        if (!value[0]) {
                free(*(char **)field);
                *(char **)field = NULL;
                return 0;
        }
        r = config_keys_check_command(f, k, line, value);
        if (r < 0)
                return r;
        s = strdup(value);
        if (!s)
                return -ENOMEM;
        free(*(char **)field);
        *(char **)field = s;
        return 0;
}

/* exec_start_pre: repeatable, in order, across drop-ins too; empty: none. */
static CONFIG_KEY_PARSER(config_keys_commands)
{
        int r;

        if (!value[0]) {
                strv_free(*(char ***)field);
                *(char ***)field = NULL;
                return 0;
        }
        r = config_keys_check_command(f, k, line, value);
        if (r < 0)
                return r;
        return strv_extend(field, value);
}

/* reload_signal: a signal, or empty/0 for none. */
static CONFIG_KEY_PARSER(config_keys_reload_signal)
{
        if (!value[0] || strcmp(value, "0") == 0) {
                *(int *)field = 0;
                return 0;
        }
        if (parse_signal(value, field) < 0)
                return config_file_error(f, line, k->name,
                                         "invalid signal '%s' (e.g. HUP, SIGUSR1 or a number)",
                                         value);
        return 0;
}

enum { ENUM_TYPE, ENUM_RESTART, ENUM_OUTPUT, ENUM_KILL_MODE };

static const char *const service_type_table[_SERVICE_TYPE_MAX] = {
        [SERVICE_SIMPLE] = "simple",
        [SERVICE_NOTIFY] = "notify",
        [SERVICE_ONESHOT] = "oneshot",
};
static const char *const restart_policy_table[_RESTART_MAX] = {
        [RESTART_ALWAYS] = "always",
        [RESTART_ON_FAILURE] = "on-failure",
        [RESTART_NEVER] = "never",
};
static const char *const output_mode_table[_OUTPUT_MAX] = {
        [OUTPUT_JOURNAL] = "journal",
        [OUTPUT_FILE] = "file",
        [OUTPUT_CONSOLE] = "console",
        [OUTPUT_NULL] = "null",
};
static const char *const kill_mode_table[_KILL_MODE_MAX] = {
        [KILL_CGROUP] = "cgroup",
        [KILL_GROUP] = "group",
        [KILL_PROCESS] = "process",
};

/* Names as written in service files. */
DEFINE_STRING_TABLE_LOOKUP(service_type, enum service_type)
DEFINE_STRING_TABLE_LOOKUP(restart_policy, enum restart_policy)
DEFINE_STRING_TABLE_LOOKUP(output_mode, enum output_mode)
DEFINE_STRING_TABLE_LOOKUP(kill_mode, enum kill_mode)

static const struct {
        int (*from_string)(const char *s);
        unsigned unsupported; /* bit mask of values this stage rejects */
        const char *expected;
} config_keys_enums[] = {
        [ENUM_TYPE] = { service_type_from_string, 0, "simple, notify or oneshot" },
        [ENUM_RESTART] = { restart_policy_from_string, 0, "always, on-failure or never" },
        [ENUM_OUTPUT] = { output_mode_from_string, 0, "journal, file, console or null" },
        [ENUM_KILL_MODE] = { kill_mode_from_string, 0, "cgroup, group or process" },
};

static CONFIG_KEY_PARSER(config_keys_enum)
{
        struct service_config *sc = f->target;
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];
        int i = config_keys_enums[k->arg].from_string(value);

        if (i < 0)
                return config_file_error(f, line, k->name, "invalid value '%s' (expected %s)",
                                         config_shown(value, buf),
                                         config_keys_enums[k->arg].expected);
        if (config_keys_enums[k->arg].unsupported & (1U << i))
                return config_file_error(f, line, k->name, "%s=%s is not supported yet", k->name,
                                         value);

        switch (k->arg) {
        case ENUM_TYPE:
                sc->type = (enum service_type)i;
                break;
        case ENUM_RESTART:
                sc->restart = (enum restart_policy)i;
                break;
        case ENUM_OUTPUT:
                sc->output = (enum output_mode)i;
                sc->output_set = true;
                break;
        case ENUM_KILL_MODE:
                sc->kill_mode = (enum kill_mode)i;
                sc->kill_mode_set = true;
                break;
        }
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_duration)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4], max[32];
        usec_t u;
        int r;

        r = parse_duration(value, &u);
        if (r == -ERANGE || (r >= 0 && k->max && u > k->max))
                return config_file_error(
                        f, line, k->name, "duration '%s' is out of range (at most %s)",
                        config_shown(value, buf), format_duration(max, sizeof max, k->max));
        if (r < 0)
                return config_keys_invalid(f, k, line, "duration", value,
                                           " (use e.g. 100ms, 30s, 2min, 1h)");
        *(usec_t *)field = u;
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_unsigned)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];
        uint64_t v;

        if (parse_u64(value, false, &v) < 0)
                return config_keys_invalid(f, k, line, "number", value, "");
        if (v > k->max)
                return config_file_error(f, line, k->name, "%s is out of range (at most %llu)",
                                         config_shown(value, buf), (unsigned long long)k->max);
        *(unsigned *)field = (unsigned)v;
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_size)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4], min[32], max[32];
        uint64_t v;
        int r;

        r = parse_size(value, &v);
        if (r == -ERANGE || (r >= 0 && v != 0 && (v < k->min || v > k->max)))
                return config_file_error(
                        f, line, k->name, "size '%s' is out of range (0, or %s to %s)",
                        config_shown(value, buf), format_size(min, sizeof min, k->min),
                        format_size(max, sizeof max, k->max));
        if (r < 0)
                return config_keys_invalid(f, k, line, "size", value,
                                           " (use e.g. 4096, 512K, 10M, 1G)");
        *(uint64_t *)field = v;
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_signal)
{
        if (parse_signal(value, field) < 0)
                return config_keys_invalid(f, k, line, "signal", value, "");
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_bool)
{
        if (parse_bool(value, field) < 0)
                return config_keys_invalid(f, k, line, "boolean", value, " (expected yes or no)");
        return 0;
}

static int config_keys_set_string(char **field, const char *value)
{
        char *s = strdup(value);

        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

enum { ACCOUNT_USER, ACCOUNT_GROUP };

/* user= / group= (arg: ACCOUNT_*): a name or a number that exists now. */
static CONFIG_KEY_PARSER(config_keys_account)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];
        bool user = k->arg == ACCOUNT_USER;
        uint64_t id;
        bool found;

        errno = 0;
        if (string_is_digits(value))
                found = parse_u64(value, false, &id) == 0 && id < UINT32_MAX &&
                        (user ? (void *)getpwuid((uid_t)id) : (void *)getgrgid((gid_t)id));
        else
                found = user ? (void *)getpwnam(value) : (void *)getgrnam(value);
        if (!found)
                return config_file_error(f, line, k->name, "unknown %s '%s'",
                                         user ? "user" : "group", config_shown(value, buf));
        return config_keys_set_string(field, value);
}

/* See config-keys.h. */
int config_keys_check_absolute(struct config_file_ctx *f, unsigned line, const char *key,
                               const char *value)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];

        if (value[0] != '/')
                return config_file_error(f, line, key, "'%s' is not an absolute path",
                                         config_shown(value, buf));
        if (strlen(value) >= PATH_MAX)
                return config_file_error(f, line, key, "'%s' is longer than PATH_MAX (%d)",
                                         config_shown(value, buf), PATH_MAX - 1);
        return 0;
}

/* workdir: an absolute path, checked once expanded when it may be. */
static CONFIG_KEY_PARSER(config_keys_workdir)
{
        int r = 0;

        if (!config_keys_may_expand(value))
                r = config_keys_check_absolute(f, line, k->name, value);
        if (r < 0)
                return r;
        return config_keys_set_string(field, value);
}

static CONFIG_KEY_PARSER(config_keys_absolute_path)
{
        int r = config_keys_check_absolute(f, line, k->name, value);

        if (r < 0)
                return r;
        return config_keys_set_string(field, value);
}

/* A path relative to the file's directory, stored absolute. */
static CONFIG_KEY_PARSER(config_keys_relative_path)
{
        char *p = path_join(f->dir, value);

        if (!p)
                return -ENOMEM;
        free(*(char **)field);
        *(char **)field = p;
        return 0;
}

/* vendor_services: like services; empty: none. */
static CONFIG_KEY_PARSER(config_keys_vendor_services)
{
        char *d;

        free(f->load->vendor_display);
        f->load->vendor_display = NULL;
        free(*(char **)field);
        *(char **)field = NULL;
        if (!value[0])
                return 0;
        d = path_join(f->display_dir, value);
        if (!d)
                return -ENOMEM;
        f->load->vendor_display = d;
        return config_keys_relative_path(f, k, line, value, field);
}

static CONFIG_KEY_PARSER(config_keys_services)
{
        char *d = path_join(f->display_dir, value);

        if (!d)
                return -ENOMEM;
        free(f->load->services_display);
        f->load->services_display = d;
        return config_keys_relative_path(f, k, line, value, field);
}

/* See config-keys.h. */
int config_keys_check_socket_path(struct config_file_ctx *f, unsigned line, const char *key,
                                  const char *p)
{
        if (strlen(p) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
                return config_file_error(
                        f, line, key, "path '%s' is too long for a unix socket (at most %zu bytes)",
                        p, sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_socket)
{
        _cleanup_free_ char *p = path_join(f->dir, value);
        int r;

        if (!p)
                return -ENOMEM;
        r = config_keys_check_socket_path(f, line, k->name, p);
        if (r < 0)
                return r;
        free(*(char **)field);
        *(char **)field = TAKE_PTR(p);
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_mode)
{
        if (parse_umask(value, field) < 0)
                return config_keys_invalid(f, k, line, "octal mode", value, " (at most 0777)");
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_umask)
{
        struct service_config *sc = f->target;
        int r;

        r = config_keys_mode(f, k, line, value, field);
        if (r < 0)
                return r;
        sc->umask_set = true;
        return 0;
}

static CONFIG_KEY_PARSER(config_keys_environment)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];
        const char *reason = NULL;
        char *entry;
        int r;

        if (!value[0]) { /* empty: forget the entries set so far (earlier files too) */
                strv_free(*(char ***)field);
                *(char ***)field = NULL;
                f->env_n = f->env_cap = 0;
                return 0;
        }
        r = env_parse_assignment(value, &entry, &reason);
        if (r == -EINVAL)
                return config_file_error(f, line, k->name, "%s: '%s'", reason,
                                         config_shown(value, buf));
        if (r < 0)
                return r;
        if (strlen(entry) >= CONFIG_EXEC_STRING_MAX) {
                free(entry);
                return config_file_error(f, line, k->name,
                                         "variable longer than 128 KiB (execve's limit)");
        }
        /* Not strv_push: 30,000 entries must not cost 450 million steps. */
        return strv_append(field, &f->env_n, &f->env_cap, entry);
}

/* environment_file: a path (relative to the file's directory), "-" before
 * it for one that may be missing; added to the earlier ones, an empty value
 * forgets them. Read once every file is parsed, see
 * config_merge_environment(), which reports each at the line here. */
static CONFIG_KEY_PARSER(config_keys_environment_file)
{
        bool optional = value[0] == '-';
        _cleanup_free_ char *p = NULL, *entry = NULL;
        size_t n = strv_length(*(char ***)field), cap = n + 1;
        int r;

        if (!value[0]) {
                strv_free(*(char ***)field);
                *(char ***)field = NULL;
                f->n_envf_where = 0;
                return 0;
        }
        if (optional && !value[1])
                return config_file_error(f, line, k->name, "'-' without a path");
        p = path_join(f->dir, value + optional);
        if (!p)
                return -ENOMEM;
        if (asprintf(&entry, "%s%s", optional ? "-" : "", p) < 0)
                return -ENOMEM;
        if (f->n_envf_where == f->envf_where_cap) {
                size_t c = f->envf_where_cap ? 2 * f->envf_where_cap : 4;
                struct config_where *w = realloc(f->envf_where, c * sizeof *w);

                if (!w)
                        return -ENOMEM;
                f->envf_where = w;
                f->envf_where_cap = c;
        }
        r = strv_append((char ***)field, &n, &cap, TAKE_PTR(entry));
        if (r < 0)
                return r;
        f->envf_where[f->n_envf_where++] =
                (struct config_where){ line,
                                       f->n_displays > 0 ? (unsigned)(f->n_displays - 1) : 0 };
        return 0;
}

/* Variables of tendd's own environment that are its channel to its
 * supervisor (systemd): passing one would let a service speak for tendd
 * (READY=1, WATCHDOG=1, fds meant for it). */
static const char *const config_keys_unpassable[] = {
        "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
        "LISTEN_FDNAMES", NULL,
};

/* pass_environment: names of variables, added to the earlier ones (an
 * empty value forgets them), deduplicated. */
static CONFIG_KEY_PARSER(config_keys_pass_environment)
{
        _cleanup_strv_free_ char **names = NULL;
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];
        size_t n_names = 0, cap = 0;
        const char *p = value;
        bool bad = false;
        int r;

        if (!value[0]) {
                strv_free(*(char ***)field);
                *(char ***)field = NULL;
                return 0;
        }
        for (char **o = *(char ***)field; o && *o; o++) {
                r = strv_append(&names, &n_names, &cap, strdup(*o));
                if (r < 0)
                        return r;
        }
        while (*p) {
                size_t n = strcspn(p, " \t");
                char *name;

                if (n == 0) {
                        p++;
                        continue;
                }
                name = strndup(p, n);
                if (!name)
                        return -ENOMEM;
                p += n;
                if (!env_name_is_valid(name, n)) {
                        (void)config_file_error(f, line, k->name,
                                                "invalid variable name '%s' (expected letters, "
                                                "digits and _, not starting with a digit)",
                                                config_shown(name, buf));
                        free(name);
                        bad = true;
                        continue;
                }
                if (strv_contains((char *const *)config_keys_unpassable, name)) {
                        (void)config_file_error(f, line, k->name,
                                                "%s is tendd's own channel to its supervisor, "
                                                "never passed to a service",
                                                name);
                        free(name);
                        bad = true;
                        continue;
                }
                if (strv_contains(names, name)) {
                        free(name);
                        continue;
                }
                r = strv_append(&names, &n_names, &cap, name);
                if (r < 0)
                        return r;
        }
        if (f->load->oom)
                return -ENOMEM;
        if (bad)
                return -EINVAL;
        strv_free(*(char ***)field);
        *(char ***)field = TAKE_PTR(names);
        return 0;
}

/* success_exit_codes, restart_prevent_exit_codes: exit statuses 0-255 and
 * signal names (SIGTERM or TERM; a number is always a status), added to
 * the earlier ones; an empty value forgets them. */
static CONFIG_KEY_PARSER(config_keys_exit_codes)
{
        struct config_exit_set *set = field, add = *set;
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];
        const char *p = value;
        bool bad = false;

        if (!value[0]) {
                *set = (struct config_exit_set){};
                return 0;
        }
        while (*p) {
                size_t n = strcspn(p, " \t");
                char word[64];
                uint64_t v;
                int sig;

                if (n == 0) {
                        p++;
                        continue;
                }
                (void)snprintf(word, sizeof word, "%.*s",
                               (int)(n < sizeof word - 1 ? n : sizeof word - 1), p);
                p += n;
                if (n >= sizeof word - 1) {
                        (void)config_file_error(f, line, k->name, "invalid exit status '%s...'",
                                                word);
                        bad = true;
                } else if (string_is_digits(word)) {
                        if (parse_u64(word, false, &v) < 0 || v > 255) {
                                (void)config_file_error(
                                        f, line, k->name,
                                        "exit status %s is out of range (0 to 255)",
                                        config_shown(word, buf));
                                bad = true;
                        } else
                                add.status[v / 64] |= 1ULL << (v % 64);
                } else if (parse_signal(word, &sig) < 0 || sig < 1 || sig > 64) {
                        (void)config_file_error(f, line, k->name,
                                                "invalid exit status or signal '%s' (expected a "
                                                "number from 0 to 255 or a signal name such as "
                                                "SIGTERM)",
                                                config_shown(word, buf));
                        bad = true;
                } else
                        add.signals |= 1ULL << (sig - 1);
        }
        if (f->load->oom)
                return -ENOMEM;
        if (bad)
                return -EINVAL;
        *set = add;
        return 0;
}

static const int config_keys_limit_resources[_LIMIT_MAX] = {
        [LIMIT_NOFILE] = RLIMIT_NOFILE, [LIMIT_NPROC] = RLIMIT_NPROC,
        [LIMIT_CORE] = RLIMIT_CORE,     [LIMIT_AS] = RLIMIT_AS,
        [LIMIT_DATA] = RLIMIT_DATA,     [LIMIT_STACK] = RLIMIT_STACK,
        [LIMIT_FSIZE] = RLIMIT_FSIZE,   [LIMIT_MEMLOCK] = RLIMIT_MEMLOCK,
        [LIMIT_CPU] = RLIMIT_CPU,
};

static int config_keys_limit_value(const char *s, enum config_limit l, rlim_t *ret)
{
        uint64_t v;
        usec_t u;
        int r;

        if (strcmp(s, "infinity") == 0) {
                *ret = RLIM_INFINITY;
                return 0;
        }
        switch (l) {
        case LIMIT_NOFILE:
        case LIMIT_NPROC:
                r = parse_u64(s, false, &v);
                break;
        case LIMIT_CPU:
                r = parse_u64(s, false, &v);
                if (r != -EINVAL)
                        break;
                r = parse_duration(s, &u);
                if (r < 0)
                        break;
                if (u == USEC_INFINITY || u % USEC_PER_SEC != 0)
                        return -EINVAL;
                v = u / USEC_PER_SEC;
                break;
        default:
                r = parse_size(s, &v);
        }
        if (r < 0)
                return r;
        *ret = (rlim_t)v;
        return 0;
}

/* fs.nr_open, the most open files setrlimit() allows; read once per load.
 * Unreadable: the largest the kernel can be set to. */
static uint64_t config_keys_nr_open(struct config_load_ctx *l)
{
        char buf[32] = "";
        uint64_t v;
        ssize_t n;
        int fd;

        if (l->nr_open)
                return l->nr_open;
        l->nr_open = 1073741816; /* sysctl_nr_open_max on 64-bit */
        fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return l->nr_open;
        n = read(fd, buf, sizeof buf - 1);
        (void)close(fd);
        if (n > 0) {
                buf[n] = 0;
                if (parse_u64(string_strip(buf), false, &v) == 0 && v > 0)
                        l->nr_open = v;
        }
        return l->nr_open;
}

static CONFIG_KEY_PARSER(config_keys_limit)
{
        static const char *const hints[_LIMIT_MAX] = {
                [LIMIT_NOFILE] = "a number", [LIMIT_NPROC] = "a number",
                [LIMIT_CPU] = "whole seconds", [LIMIT_CORE] = "a size",
                [LIMIT_AS] = "a size", [LIMIT_DATA] = "a size",
                [LIMIT_STACK] = "a size", [LIMIT_FSIZE] = "a size",
                [LIMIT_MEMLOCK] = "a size",
        };
        struct config_rlimit *rl = field;
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];
        _cleanup_free_ char *soft = strdup(value);
        char *hard;
        rlim_t s, h;

        if (!soft)
                return -ENOMEM;
        hard = strchr(soft, ':');
        if (hard)
                *hard++ = 0;
        if (config_keys_limit_value(soft, (enum config_limit)k->arg, &s) < 0 ||
            (hard && config_keys_limit_value(hard, (enum config_limit)k->arg, &h) < 0))
                return config_file_error(f, line, k->name,
                                         "invalid limit '%s' (expected N, SOFT:HARD or infinity; "
                                         "values are %s)",
                                         config_shown(value, buf), hints[k->arg]);
        if (!hard)
                h = s;
        if (k->arg == LIMIT_NOFILE && (s == RLIM_INFINITY || h == RLIM_INFINITY))
                return config_file_error(f, line, k->name,
                                         "infinity is not possible for open files (the kernel caps "
                                         "them at fs.nr_open): give a number");
        if (s > h)
                return config_file_error(f, line, k->name,
                                         "soft limit is above the hard limit in '%s'",
                                         config_shown(value, buf));
        if (k->arg == LIMIT_NOFILE && h > config_keys_nr_open(f->load))
                return config_file_error(
                        f, line, k->name, "%llu is above fs.nr_open (%llu): the kernel refuses it",
                        (unsigned long long)h, (unsigned long long)config_keys_nr_open(f->load));
        rl->set = true;
        rl->value.rlim_cur = s;
        rl->value.rlim_max = h;
        return 0;
}

enum { CGROUP_SIZE, CGROUP_COUNT, CGROUP_WEIGHT, CGROUP_CPU };

static int config_keys_count(const char *s, uint64_t *ret)
{
        return parse_u64(s, false, ret);
}

/* "50%": a whole number of percent of one CPU. */
static int config_keys_percent(const char *s, uint64_t *ret)
{
        size_t n = strspn(s, "0123456789");
        char digits[32];

        if (n == 0 || strcmp(s + n, "%") != 0)
                return -EINVAL;
        if (n >= sizeof digits)
                return -ERANGE;
        memcpy(digits, s, n);
        digits[n] = 0;
        return parse_u64(digits, false, ret);
}

/* Each kind of cgroup value (a key's arg): how it reads, whether "max" is
 * allowed, what an invalid one is called. Ranges are the key's min, max in
 * the units written (percent for cpu_max, stored as usec per period). */
static const struct {
        int (*parse)(const char *s, uint64_t *ret);
        bool max;
        const char *what, *hint;
} config_keys_cgroup_kinds[] = {
        [CGROUP_SIZE] = { parse_size, true, "size", " (use e.g. 512M, 2G or max)" },
        [CGROUP_COUNT] = { config_keys_count, true, "number", " (expected a number or max)" },
        [CGROUP_WEIGHT] = { config_keys_count, false, "weight", " (expected a number)" },
        [CGROUP_CPU] = { config_keys_percent, true, "CPU share",
                         " (expected e.g. 50% or 200% of one CPU, or max)" },
};

static const char *config_keys_cgroup_format(char *buf, size_t len, int kind, uint64_t v)
{
        if (kind == CGROUP_SIZE)
                return format_size(buf, len, v);
        (void)snprintf(buf, len, kind == CGROUP_CPU ? "%llu%%" : "%llu", (unsigned long long)v);
        return buf;
}

/* memory_max, tasks_max, cpu_weight, ... (arg: CGROUP_*): a number in
 * [min, max], or "max"/"infinity" where the kind allows it. */
static CONFIG_KEY_PARSER(config_keys_cgroup)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4], min[32], max[32];
        uint64_t v;
        int r;

        if (config_keys_cgroup_kinds[k->arg].max &&
            (strcmp(value, "max") == 0 || strcmp(value, "infinity") == 0)) {
                *(uint64_t *)field = CONFIG_CGROUP_MAX;
                return 0;
        }
        r = config_keys_cgroup_kinds[k->arg].parse(value, &v);
        if (r == -ERANGE || (r >= 0 && (v < k->min || v > k->max)))
                return config_file_error(f, line, k->name, "%s '%s' is out of range (%s to %s%s)",
                                         config_keys_cgroup_kinds[k->arg].what,
                                         config_shown(value, buf),
                                         config_keys_cgroup_format(min, sizeof min, k->arg, k->min),
                                         config_keys_cgroup_format(max, sizeof max, k->arg, k->max),
                                         config_keys_cgroup_kinds[k->arg].max ? ", or max" : "");
        if (r < 0)
                return config_keys_invalid(f, k, line, config_keys_cgroup_kinds[k->arg].what, value,
                                           config_keys_cgroup_kinds[k->arg].hint);
        if (k->arg == CGROUP_CPU)
                v = v * CONFIG_CPU_MAX_PERIOD_USEC / 100;
        *(uint64_t *)field = v;
        return 0;
}

static int config_keys_name_ref_cmp(const void *a, const void *b)
{
        char *const *x = *(char **const *)a, *const *y = *(char **const *)b;
        int c = strcmp(*x, *y);

        return c != 0 ? c : (x > y) - (x < y);
}

/* Drop repeated names from v (n of them), keeping each first one in place:
 * sorted by (name, position), every run's first is kept. */
static int config_keys_names_dedup(char **v, size_t n)
{
        _cleanup_free_ char ***refs = NULL;
        size_t m = 0;

        if (n < 2)
                return 0;
        refs = malloc(n * sizeof *refs);
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                refs[i] = &v[i];
        qsort(refs, n, sizeof *refs, config_keys_name_ref_cmp);
        for (size_t i = 0, j; i < n; i = j) {
                for (j = i + 1; j < n && strcmp(*refs[j], *refs[i]) == 0; j++)
                        ;
                for (size_t k = i + 1; k < j; k++) {
                        free(*refs[k]);
                        *refs[k] = NULL;
                }
        }
        for (size_t i = 0; i < n; i++)
                if (v[i])
                        v[m++] = v[i];
        v[m] = NULL;
        return 0;
}

/* Whether one name of a list may stand there; a bad one is reported. */
typedef bool (*config_keys_name_ok)(struct config_file_ctx *f, const struct config_key *k,
                                    unsigned line, const char *name);

/* A blank-separated list of names, added to what earlier files set in field
 * (an empty value forgets it), each name once; -EINVAL once every bad name
 * (ok() false) was reported. */
static int config_keys_name_list(struct config_file_ctx *f, const struct config_key *k,
                                 unsigned line, const char *value, void *field,
                                 config_keys_name_ok ok)
{
        _cleanup_strv_free_ char **names = NULL;
        size_t n_names = 0, cap = 0;
        bool bad = false;
        int r;

        for (char **o = *(char ***)field; value[0] && o && *o; o++) {
                r = strv_append(&names, &n_names, &cap, strdup(*o));
                if (r < 0)
                        return r;
        }
        for (const char *p = value; *p;) {
                size_t n = strcspn(p, " \t");
                _cleanup_free_ char *name = NULL;

                if (n == 0) {
                        p++;
                        continue;
                }
                name = strndup(p, n);
                if (!name)
                        return -ENOMEM;
                p += n;
                if (!ok(f, k, line, name)) {
                        bad = true;
                        continue;
                }
                r = strv_append(&names, &n_names, &cap, TAKE_PTR(name));
                if (r < 0)
                        return r;
        }
        if (f->load->oom)
                return -ENOMEM;
        if (bad)
                return -EINVAL;
        r = config_keys_names_dedup(names, n_names);
        if (r < 0)
                return r;
        strv_free(*(char ***)field);
        *(char ***)field = TAKE_PTR(names);
        return 0;
}

/* A name of after/requires/wants/on_failure: a service of the configuration
 * other than this one. */
static bool config_keys_service_name_ok(struct config_file_ctx *f, const struct config_key *k,
                                        unsigned line, const char *name)
{
        struct service_config *sc = f->target;
        struct config_load_ctx *l = f->load;
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];

        if (!service_name_is_valid(name)) {
                (void)config_file_error(f, line, k->name, "invalid service name '%s'",
                                        config_shown(name, buf));
                return false;
        }
        if (strcmp(name, sc->name) == 0) {
                (void)config_file_error(f, line, k->name,
                                        strcmp(k->name, "on_failure") == 0
                                                ? "a service cannot name itself"
                                                : "a service cannot depend on itself");
                return false;
        }
        if (l->names && !config_names_have(l->names, l->n_names, name)) {
                if (config_names_have(l->masked, l->n_masked, name))
                        (void)config_file_error(f, line, k->name,
                                                "service '%s' is masked (%s/%s.ini is a "
                                                "link to /dev/null)",
                                                name, l->services_display, name);
                else
                        (void)config_file_error(f, line, k->name, "unknown service '%s'", name);
                return false;
        }
        return true;
}

/* after/requires/wants/on_failure: blank-separated names of services, added to the names
 * earlier files set (an empty value forgets them), deduplicated. */
static CONFIG_KEY_PARSER(config_keys_names)
{
        struct service_config *sc = f->target;
        int r;

        r = config_keys_name_list(f, k, line, value, field, config_keys_service_name_ok);
        if (r < 0)
                return r;
        if (strcmp(k->name, "after") == 0) {
                sc->after_line = line;
                sc->after_file = (unsigned)(f->n_displays - 1);
        } else if (strcmp(k->name, "wants") == 0) {
                sc->wants_line = line;
                sc->wants_file = (unsigned)(f->n_displays - 1);
        } else if (strcmp(k->name, "requires") == 0) {
                sc->requires_line = line;
                sc->requires_file = (unsigned)(f->n_displays - 1);
        }
        return 0;
}

/* An instance name X of this template NAME@: NAME@X is a service name. */
static bool config_keys_instance_name_ok(struct config_file_ctx *f, const struct config_key *k,
                                         unsigned line, const char *name)
{
        struct service_config *sc = f->target;
        size_t tlen = service_template_len(sc->name);
        _cleanup_free_ char *full = NULL;
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];

        if (asprintf(&full, "%.*s%s", (int)tlen, sc->name, name) < 0) {
                full = NULL;
                f->load->oom = true;
                return false;
        }
        if (!service_name_is_instance(full)) {
                (void)config_file_error(f, line, k->name,
                                        "invalid instance name '%s' (%.*s%s must be a "
                                        "service name, the instance without '@')",
                                        config_shown(name, buf), (int)tlen, sc->name,
                                        config_shown(name, buf));
                return false;
        }
        return true;
}

/* instances: blank-separated instance names of a template, added to the
 * ones earlier files set (an empty value forgets them), deduplicated. */
static CONFIG_KEY_PARSER(config_keys_instances)
{
        struct service_config *sc = f->target;

        if (line == 0)
                return 0;
        if (!f->tell_instance && !service_name_is_template(sc->name))
                return config_file_error(f, line, k->name,
                                         "only a template (NAME@.ini) has instances");
        return config_keys_name_list(f, k, line, value, field, config_keys_instance_name_ok);
}

/* exit_with: a service name; that a file has it is checked once the
 * services are loaded (config.c). */
static CONFIG_KEY_PARSER(config_keys_exit_with)
{
        struct config *c = f->target;
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];

        if (!service_name_is_valid(value))
                return config_file_error(f, line, k->name, "invalid service name '%s'",
                                         config_shown(value, buf));
        c->exit_with_line = line;
        return config_keys_set_string(field, value);
}

static CONFIG_KEY_PARSER(config_keys_ready_fd)
{
        uint64_t v;

        if (strcmp(value, "-1") == 0) { /* the default: none */
                *(int *)field = -1;
                return 0;
        }
        if (parse_u64(value, false, &v) < 0 || v < 3 || v > 1023)
                return config_keys_invalid(f, k, line, "fd", value,
                                           " (expected a number from 3 to 1023; 0-2 are the "
                                           "service's stdio)");
        *(int *)field = (int)v;
        return 0;
}

enum { HEALTH_TCP, HEALTH_HTTP };

/* health_tcp, health_http (arg: HEALTH_*): an address or URL with a numeric
 * host (or localhost): nothing is looked up, at load or in the loop. Empty:
 * none (a drop-in removing an earlier file's). */
static CONFIG_KEY_PARSER(config_keys_health_target)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];
        struct parse_target t;
        const char *why = NULL;
        int r;

        if (!value[0]) {
                free(*(char **)field);
                *(char **)field = NULL;
                return 0;
        }
        r = k->arg == HEALTH_TCP ? parse_host_port(value, &t, &why)
                                 : parse_http_url(value, &t, &why);
        if (r < 0)
                return config_file_error(f, line, k->name, "invalid %s '%s': %s",
                                         k->arg == HEALTH_TCP ? "address" : "URL",
                                         config_shown(value, buf), why);
        return config_keys_set_string(field, value);
}

/* Ranges (README, "Service files"): large enough for any real use, small
 * enough that no value makes tendd do or hold much per service. */
#define DURATION_MAX (24 * USEC_PER_HOUR) /* usec and ev_tstamp alike, no overflow */
#define START_LIMIT_BURST_MAX 10000         /* a ring of that many timestamps */
#define LOG_KEEP_MAX 1000                   /* a rotation renames that many files */
#define LOG_MAX_SIZE_MIN (4ULL << 10)       /* a rotation per few lines at most */
#define LOG_MAX_SIZE_MAX (1ULL << 40)
#define MEMORY_MIN (4ULL << 10) /* a page: the kernel rounds down to pages */
#define MEMORY_MAX (1ULL << 50)
#define TASKS_MAX_MAX 4194304  /* PID_MAX_LIMIT: pids.max takes no more */
#define WEIGHT_MAX 10000       /* cpu.weight, io.weight */
#define CPU_PERCENT_MAX 100000 /* a thousand CPUs */
#define HEALTH_RETRIES_MAX 1000

#define SC(field) offsetof(struct service_config, field)
#define CGROUP_KEY(n, field, kind, min, max)                                                       \
        { n, config_keys_cgroup, SC(cgroup.field), NULL, kind, false, min, max }
#define LIMIT_KEY(n, l)                                                                            \
        { n, config_keys_limit, SC(limits) + (l) * sizeof(struct config_rlimit), NULL, l, false }

const struct config_key config_keys_service[] = {
        { "exec", config_keys_exec, SC(exec), NULL, 0, false },
        { "type", config_keys_enum, SC(type), "simple", ENUM_TYPE, false },
        { "restart", config_keys_enum, SC(restart), "on-failure", ENUM_RESTART, false },
        { "restart_delay", config_keys_duration, SC(restart_delay), "100ms", 0, false, 0,
          DURATION_MAX },
        { "restart_max_delay", config_keys_duration, SC(restart_max_delay), "30s", 0, false, 0,
          DURATION_MAX },
        { "start_limit_burst", config_keys_unsigned, SC(start_limit_burst), "5", 0, false, 0,
          START_LIMIT_BURST_MAX },
        { "start_limit_interval", config_keys_duration, SC(start_limit_interval), "10s", 0, false,
          0, DURATION_MAX },
        { "stop_signal", config_keys_signal, SC(stop_signal), "TERM", 0, false },
        { "stop_timeout", config_keys_duration, SC(stop_timeout), "10s", 0, false, 0,
          DURATION_MAX },
        { "user", config_keys_account, SC(user), NULL, ACCOUNT_USER, false },
        { "group", config_keys_account, SC(group), NULL, ACCOUNT_GROUP, false },
        { "workdir", config_keys_workdir, SC(workdir), NULL, 0, false },
        { "umask", config_keys_umask, SC(umask), NULL, 0, false },
        { "environment", config_keys_environment, SC(environment), NULL, 0, true, 0, 0, true },
        { "environment_file", config_keys_environment_file, SC(environment_files), NULL, 0, true,
          0, 0, true },
        { "output", config_keys_enum, SC(output), NULL, ENUM_OUTPUT, false },
        { "log_max_size", config_keys_size, SC(log_max_size), "10M", 0, false, LOG_MAX_SIZE_MIN,
          LOG_MAX_SIZE_MAX },
        { "log_keep", config_keys_unsigned, SC(log_keep), "5", 0, false, 0, LOG_KEEP_MAX },
        { "enabled", config_keys_bool, SC(enabled), "yes", 0, false },
        { "kill_mode", config_keys_enum, SC(kill_mode), NULL, ENUM_KILL_MODE, false },
        { "no_new_privs", config_keys_bool, SC(no_new_privs), "no", 0, false },
        LIMIT_KEY("limit_nofile", LIMIT_NOFILE),
        LIMIT_KEY("limit_nproc", LIMIT_NPROC),
        LIMIT_KEY("limit_core", LIMIT_CORE),
        LIMIT_KEY("limit_as", LIMIT_AS),
        LIMIT_KEY("limit_data", LIMIT_DATA),
        LIMIT_KEY("limit_stack", LIMIT_STACK),
        LIMIT_KEY("limit_fsize", LIMIT_FSIZE),
        LIMIT_KEY("limit_memlock", LIMIT_MEMLOCK),
        LIMIT_KEY("limit_cpu", LIMIT_CPU),
        CGROUP_KEY("memory_max", memory_max, CGROUP_SIZE, MEMORY_MIN, MEMORY_MAX),
        CGROUP_KEY("memory_high", memory_high, CGROUP_SIZE, MEMORY_MIN, MEMORY_MAX),
        CGROUP_KEY("tasks_max", tasks_max, CGROUP_COUNT, 1, TASKS_MAX_MAX),
        CGROUP_KEY("cpu_weight", cpu_weight, CGROUP_WEIGHT, 1, WEIGHT_MAX),
        CGROUP_KEY("cpu_max", cpu_max, CGROUP_CPU, 1, CPU_PERCENT_MAX),
        CGROUP_KEY("io_weight", io_weight, CGROUP_WEIGHT, 1, WEIGHT_MAX),
        { "ready_timeout", config_keys_duration, SC(ready_timeout), "90s", 0, false, 0,
          DURATION_MAX },
        { "watchdog", config_keys_duration, SC(watchdog), "0", 0, false, 0, DURATION_MAX },
        { "after", config_keys_names, SC(after), NULL, 0, false, 0, 0, true },
        { "requires", config_keys_names, SC(requires), NULL, 0, false, 0, 0, true },
        { "ready_fd", config_keys_ready_fd, SC(ready_fd), "-1", 0, false },
        { "health_tcp", config_keys_health_target, SC(health_tcp), NULL, HEALTH_TCP, false, 0, 0,
          true },
        { "health_http", config_keys_health_target, SC(health_http), NULL, HEALTH_HTTP, false, 0,
          0, true },
        { "health_interval", config_keys_duration, SC(health_interval), "10s", 0, false, 0,
          DURATION_MAX },
        { "health_timeout", config_keys_duration, SC(health_timeout), "5s", 0, false, 0,
          DURATION_MAX },
        { "health_retries", config_keys_unsigned, SC(health_retries), "3", 0, false, 0,
          HEALTH_RETRIES_MAX },
        { "health_start_period", config_keys_duration, SC(health_start_period), "0", 0, false, 0,
          DURATION_MAX },
        { "health_exec", config_keys_command, SC(health_exec), NULL, 0, false, 0, 0, true },
        { "exec_start_pre", config_keys_commands, SC(exec_start_pre), NULL, 0, true, 0, 0, true },
        { "exec_start_post", config_keys_command, SC(exec_start_post), NULL, 0, false, 0, 0, true },
        { "exec_stop", config_keys_command, SC(exec_stop), NULL, 0, false, 0, 0, true },
        { "exec_reload", config_keys_command, SC(exec_reload), NULL, 0, false, 0, 0, true },
        { "exec_stop_post", config_keys_command, SC(exec_stop_post), NULL, 0, false, 0, 0, true },
        { "reload_signal", config_keys_reload_signal, SC(reload_signal), NULL, 0, false, 0, 0,
          true },
        { "hook_timeout", config_keys_duration, SC(hook_timeout), "90s", 0, false, 0,
          DURATION_MAX },
        { "on_failure", config_keys_names, SC(on_failure), NULL, 0, false, 0, 0, true },
        { "success_exit_codes", config_keys_exit_codes, SC(success_exit), NULL, 0, true, 0, 0,
          true },
        { "restart_prevent_exit_codes", config_keys_exit_codes, SC(prevent_exit), NULL, 0, true, 0,
          0, true },
        { "pass_environment", config_keys_pass_environment, SC(pass_environment), NULL, 0, true, 0,
          0, true },
        { "expand", config_keys_bool, SC(expand), "no", 0, false },
        { "wants", config_keys_names, SC(wants), NULL, 0, false, 0, 0, true },
        { "instances", config_keys_instances, SC(instances), NULL, 0, false, 0, 0, true },
};

#define C(field) offsetof(struct config, field)

const struct config_key config_keys_tend[] = {
        { "services", config_keys_services, C(services_dir), "services.d", 0, false },
        { "vendor_services", config_keys_vendor_services, C(vendor_services_dir), NULL, 0, false, 0,
          0, true },
        { "socket", config_keys_socket, C(socket_path), NULL, 0, false },
        { "socket_mode", config_keys_mode, C(socket_mode), "0660", 0, false },
        { "socket_group", config_keys_account, C(socket_group), NULL, ACCOUNT_GROUP, false },
        { "log_dir", config_keys_relative_path, C(log_dir), NULL, 0, false },
        { "cgroup", config_keys_absolute_path, C(cgroup_path), NULL, 0, false },
        { "exit_with", config_keys_exit_with, C(exit_with), NULL, 0, false },
};
const size_t config_keys_n_tend = ELEMENTSOF(config_keys_tend);
const size_t config_keys_n_service = ELEMENTSOF(config_keys_service);

/* See config-keys.h. */
void config_keys_init_limits(struct service_config *sc)
{
        for (unsigned i = 0; i < _LIMIT_MAX; i++)
                sc->limits[i].resource = config_keys_limit_resources[i];
}
