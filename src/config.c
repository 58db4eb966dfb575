/* config.c: load tend.ini and services/NAME.ini into a fresh struct config.
 *
 * Parsing goes through inih, but never lets inih see a raw line: Debian's
 * libinih truncates long lines, treats " ;" as an inline comment, joins
 * indented lines onto the previous key and hides line numbers. Our reader
 * (config_reader) reads whole physical lines with getline(), counts them,
 * validates section headers and key names itself, stores each exact value and
 * its line in a side table and hands inih a short synthetic "key=@INDEX" line.
 * The handler looks the value up and runs the key's parser from a table.
 * Every problem is appended to one error list; parsing always continues. */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config.h"
#include "parse.h"

#define CONFIG_KEY_NAME_MAX 64
#define VALUE_SHOWN_MAX 64
#define CONFIG_ERROR_LEN_MAX 4096
/* Room left in execve's budget for what tendd adds to a service's own
 * arguments and environment: PATH, HOME, USER, LOGNAME, SHELL,
 * NOTIFY_SOCKET, WATCHDOG_*, the program's path. */
#define EXEC_RESERVE (16 << 10)

/* A value as read, in the file's text (load_ctx.buf), and its line. */
struct raw_value {
        const char *value;
        unsigned line;
};

/* A growable buffer a file is read into, reused from file to file. */
struct scratch {
        char *buf;
        size_t cap;
};

/* State shared by every file of one config_load(). */
struct load_ctx {
        /* The first CONFIG_ERRORS_MAX messages; the rest are only counted. */
        char **errors;
        size_t n_errors, errors_cap;
        size_t n_more;
        bool oom;
        char *services_display; /* services dir as shown in messages */
        uint64_t bytes_read;    /* by every file so far, against CONFIG_TREE_MAX */
        uint64_t nr_open;       /* fs.nr_open, read once; 0: not yet */
        /* Scratch space of the file being parsed, reused for each file so
         * that parsing leaves no holes between the configs that are kept. */
        struct scratch text; /* the whole file */
        struct scratch env;  /* an environment file */
        struct raw_value *values;
        size_t values_cap;
        unsigned *seen;
        bool *failed;
        size_t keys_cap;
};

struct config_key;

/* One file being parsed. */
struct file_ctx {
        struct load_ctx *load;
        bool have_text; /* text holds the file (else: only the defaults apply) */
        char *text;     /* load->text.buf: the whole file, NUL-terminated */
        size_t text_len;
        size_t pos; /* where the next line starts */
        const char *display; /* path shown in messages */
        const char *dir;     /* absolute directory relative paths are resolved against */
        const char *display_dir;
        const char *section; /* the only section this kind of file may have */
        const struct config_key *keys;
        size_t n_keys;
        void *target; /* struct config or struct service_config */
        unsigned *seen;
        bool *failed;
        size_t env_n, env_cap; /* length and room of the service's environment= list */

        unsigned lineno;
        bool in_section;  /* inside the expected section */
        bool bad_section; /* inside an unknown or malformed one: its keys are skipped */

        struct raw_value *values; /* load->values */
        size_t n_values;
};

/* Parse value into field; report problems with file_error(). Returns 0, or
 * -EINVAL after reporting, or -ENOMEM. */
typedef int (*key_parser)(struct file_ctx *f, const struct config_key *k, unsigned line,
                          const char *value, void *field);

struct config_key {
        const char *name;
        key_parser parse;
        size_t offset;
        const char *def; /* default, run through parse; NULL: none */
        int arg;
        bool repeatable;
        uint64_t min, max; /* numbers: range of non-zero values; max 0: none */
};

/* Errors found so far, kept or only counted. */
static size_t load_n_errors(const struct load_ctx *l)
{
        return l->n_errors + l->n_more;
}

/* True once no more messages are kept: the caller only counts (and need not
 * format) the next one. */
static bool load_full(struct load_ctx *l)
{
        return l->n_errors >= CONFIG_ERRORS_MAX;
}

/* Keep msg (taking it), or count it once the list is full. Messages are cut
 * at CONFIG_ERROR_LEN_MAX bytes: each is about one line of one file. */
static void load_push(struct load_ctx *l, char *msg)
{
        if (!msg) {
                l->oom = true;
                return;
        }
        if (load_full(l)) {
                free(msg);
                l->n_more++;
                return;
        }
        if (strlen(msg) > CONFIG_ERROR_LEN_MAX)
                strcpy(msg + CONFIG_ERROR_LEN_MAX - 3, "...");
        if (strv_append(&l->errors, &l->n_errors, &l->errors_cap, msg) < 0)
                l->oom = true;
}

/* The message, formatted, unless the list is full (then it is only
 * counted, never formatted); NULL then or out of memory. */
_printf_(2, 0) static char *load_vformat(struct load_ctx *l, const char *fmt, va_list ap)
{
        char *msg;

        if (load_full(l)) {
                l->n_more++;
                return NULL;
        }
        if (vasprintf(&msg, fmt, ap) < 0) {
                l->oom = true;
                return NULL;
        }
        return msg;
}

/* Record a message formatted whole by the caller's format. */
_printf_(2, 3) static void load_errorf(struct load_ctx *l, const char *fmt, ...)
{
        char *msg;
        va_list ap;

        va_start(ap, fmt);
        msg = load_vformat(l, fmt, ap);
        va_end(ap);
        if (msg)
                load_push(l, msg);
}

/* Record "FILE:0: message": a problem with a file as a whole. */
_printf_(3, 4) static void load_error(struct load_ctx *l, const char *display, const char *fmt,
                                      ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = load_vformat(l, fmt, ap);
        va_end(ap);
        if (msg)
                load_errorf(l, "%s:0: %s", display, msg);
}

/* Record "FILE:LINE: key: message" (or "FILE:LINE: message" without a key). */
_printf_(4, 5) static int file_error(struct file_ctx *f, unsigned line, const char *key,
                                     const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = load_vformat(f->load, fmt, ap);
        va_end(ap);
        if (msg && key)
                load_errorf(f->load, "%s:%u: %s: %s", f->display, line, key, msg);
        else if (msg)
                load_errorf(f->load, "%s:%u: %s", f->display, line, msg);
        return f->load->oom ? -ENOMEM : -EINVAL;
}

/* A value as shown in a message: long ones are cut. */
static const char *shown(const char *v, char buf[static VALUE_SHOWN_MAX + 4])
{
        if (strlen(v) <= VALUE_SHOWN_MAX)
                return v;
        memcpy(buf, v, VALUE_SHOWN_MAX);
        strcpy(buf + VALUE_SHOWN_MAX, "...");
        return buf;
}

static bool ascii_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char *strip(char *s)
{
        size_t n;

        while (is_space(*s))
                s++;
        n = strlen(s);
        while (n > 0 && is_space(s[n - 1]))
                s[--n] = 0;
        return s;
}

/* Drop "." components and repeated or trailing slashes, in place ("./a//b/"
 * → "a/b"). ".." is kept: resolving it needs the file system. */
static void path_simplify(char *p)
{
        char *out = p, *in = p;
        bool absolute = *p == '/';

        while (*in) {
                size_t n;

                while (*in == '/')
                        in++;
                n = strcspn(in, "/");
                if (n == 0 || (n == 1 && in[0] == '.')) {
                        in += n;
                        continue;
                }
                if (out > p || absolute)
                        *out++ = '/';
                memmove(out, in, n);
                out += n;
                in += n;
        }
        if (out == p)
                *out++ = absolute ? '/' : '.';
        *out = 0;
}

/* dir + "/" + rel, or rel when it is absolute, simplified; NULL on OOM. */
static char *path_join(const char *dir, const char *rel)
{
        char *p;

        if (rel[0] == '/' || !dir || !*dir)
                p = strdup(rel);
        else if (asprintf(&p, "%s/%s", dir, rel) < 0)
                p = NULL;
        if (p)
                path_simplify(p);
        return p;
}

/* Directory part of path ("." when there is none); NULL on OOM. */
static char *path_dirname(const char *path)
{
        const char *slash = strrchr(path, '/');

        if (!slash)
                return strdup(".");
        if (slash == path)
                return strdup("/");
        return strndup(path, (size_t)(slash - path));
}

static bool env_name_is_valid(const char *s, size_t n)
{
        if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!ascii_alnum(s[i]) && s[i] != '_')
                        return false;
        return true;
}

/* Remove one pair of surrounding quotes: '...' is literal, "..." honours
 * \" \\ \$ \`. Unquoted values are kept as they are. -EINVAL on an
 * unterminated quote or text after the closing one. */
static int env_unquote(const char *v, char **ret)
{
        size_t n = strlen(v), j = 0;
        char *out;

        if (v[0] != '"' && v[0] != '\'') {
                out = strdup(v);
        } else if (v[0] == '\'') {
                const char *end = strchr(v + 1, '\'');
                if (!end || end[1])
                        return -EINVAL;
                out = strndup(v + 1, (size_t)(end - v - 1));
        } else {
                out = malloc(n);
                if (!out)
                        return -ENOMEM;
                for (size_t i = 1;; i++) {
                        if (!v[i]) {
                                free(out);
                                return -EINVAL;
                        }
                        if (v[i] == '"') {
                                if (v[i + 1]) {
                                        free(out);
                                        return -EINVAL;
                                }
                                break;
                        }
                        if (v[i] == '\\' && v[i + 1] && strchr("\"\\$`", v[i + 1]))
                                i++;
                        out[j++] = v[i];
                }
                out[j] = 0;
        }
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

/* Split "KEY=VALUE", check the name and unquote the value. -EINVAL with a
 * static reason in *ret_reason. */
static int env_parse_assignment(const char *s, char **ret, const char **ret_reason)
{
        _cleanup_free_ char *value = NULL;
        const char *eq = strchr(s, '='), *v;
        size_t klen;
        char *entry;
        int r;

        if (!eq) {
                *ret_reason = "expected KEY=VALUE";
                return -EINVAL;
        }
        /* Blanks around '=' are not part of the name or the value. */
        for (klen = (size_t)(eq - s); klen > 0 && is_space(s[klen - 1]); klen--)
                ;
        if (!env_name_is_valid(s, klen)) {
                *ret_reason = "invalid variable name";
                return -EINVAL;
        }
        for (v = eq + 1; is_space(*v); v++)
                ;
        r = env_unquote(v, &value);
        if (r == -EINVAL) {
                *ret_reason = "unterminated quote or text after the closing quote";
                return r;
        }
        if (r < 0)
                return r;
        if (asprintf(&entry, "%.*s=%s", (int)klen, s, value) < 0)
                return -ENOMEM;
        *ret = entry;
        return 0;
}

/* Key parsers. */

static int parse_key_exec(struct file_ctx *f, const struct config_key *k, unsigned line,
                          const char *value, void *field)
{
        struct service_config *sc = f->target;
        _cleanup_strv_free_ char **argv = NULL;
        char buf[VALUE_SHOWN_MAX + 4];
        char *exec;
        int r;

        r = shell_split(value, &argv);
        if (r == -EINVAL)
                return file_error(f, line, k->name,
                                  "unterminated quote or trailing backslash in command line");
        if (r < 0)
                return r;
        if (!argv[0])
                return file_error(f, line, k->name, "empty command line");
        if (!argv[0][0])
                return file_error(f, line, k->name, "empty program name");
        if (argv[0][0] != '/' && strchr(argv[0], '/'))
                return file_error(f, line, k->name,
                                  "program '%s' must be an absolute path or a bare name "
                                  "searched in PATH",
                                  shown(argv[0], buf));
        for (size_t i = 0; argv[i]; i++)
                if (strlen(argv[i]) >= CONFIG_EXEC_STRING_MAX)
                        return file_error(f, line, k->name,
                                          "word %zu is longer than 128 KiB (execve's limit for "
                                          "one argument)",
                                          i + 1);
        exec = strdup(value);
        if (!exec)
                return -ENOMEM;
        free(sc->exec);
        sc->exec = exec;
        strv_free(sc->argv);
        sc->argv = TAKE_PTR(argv);
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

static const struct {
        const char *const *names;
        unsigned n;
        unsigned unsupported; /* bit mask of values this stage rejects */
        const char *expected;
} enum_descs[] = {
        [ENUM_TYPE] = { service_type_table, _SERVICE_TYPE_MAX, 0, "simple, notify or oneshot" },
        [ENUM_RESTART] = { restart_policy_table, _RESTART_MAX, 0, "always, on-failure or never" },
        [ENUM_OUTPUT] = { output_mode_table, _OUTPUT_MAX, 0, "journal, file, console or null" },
        [ENUM_KILL_MODE] = { kill_mode_table, _KILL_MODE_MAX, 1U << KILL_CGROUP,
                             "group or process" },
};

static int parse_key_enum(struct file_ctx *f, const struct config_key *k, unsigned line,
                          const char *value, void *field)
{
        struct service_config *sc = f->target;
        char buf[VALUE_SHOWN_MAX + 4];
        unsigned i;

        for (i = 0; i < enum_descs[k->arg].n; i++)
                if (strcmp(value, enum_descs[k->arg].names[i]) == 0)
                        break;
        if (i == enum_descs[k->arg].n)
                return file_error(f, line, k->name, "invalid value '%s' (expected %s)",
                                  shown(value, buf), enum_descs[k->arg].expected);
        if (enum_descs[k->arg].unsupported & (1U << i))
                return file_error(f, line, k->name, "%s=%s is not supported yet", k->name, value);

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
                break;
        }
        return 0;
}

static int parse_key_duration(struct file_ctx *f, const struct config_key *k, unsigned line,
                              const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4], max[32];
        usec_t u;
        int r;

        r = parse_duration(value, &u);
        if (r == -ERANGE || (r >= 0 && k->max && u > k->max))
                return file_error(f, line, k->name, "duration '%s' is out of range (at most %s)",
                                  shown(value, buf), format_duration(max, sizeof max, k->max));
        if (r < 0)
                return file_error(f, line, k->name,
                                  "invalid duration '%s' (use e.g. 100ms, 30s, 2min, 1h)",
                                  shown(value, buf));
        *(usec_t *)field = u;
        return 0;
}

static int parse_key_unsigned(struct file_ctx *f, const struct config_key *k, unsigned line,
                              const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4];
        uint64_t v;

        if (parse_u64(value, false, &v) < 0)
                return file_error(f, line, k->name, "invalid number '%s'", shown(value, buf));
        if (v > k->max)
                return file_error(f, line, k->name, "%s is out of range (at most %llu)",
                                  shown(value, buf), (unsigned long long)k->max);
        *(unsigned *)field = (unsigned)v;
        return 0;
}

static int parse_key_size(struct file_ctx *f, const struct config_key *k, unsigned line,
                          const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4], min[32], max[32];
        uint64_t v;
        int r;

        r = parse_size(value, &v);
        if (r == -ERANGE || (r >= 0 && v != 0 && (v < k->min || v > k->max)))
                return file_error(f, line, k->name, "size '%s' is out of range (0, or %s to %s)",
                                  shown(value, buf), format_size(min, sizeof min, k->min),
                                  format_size(max, sizeof max, k->max));
        if (r < 0)
                return file_error(f, line, k->name,
                                  "invalid size '%s' (use e.g. 4096, 512K, 10M, 1G)",
                                  shown(value, buf));
        *(uint64_t *)field = v;
        return 0;
}

static int parse_key_signal(struct file_ctx *f, const struct config_key *k, unsigned line,
                            const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4];

        if (parse_signal(value, field) < 0)
                return file_error(f, line, k->name, "invalid signal '%s'", shown(value, buf));
        return 0;
}

static int parse_key_bool(struct file_ctx *f, const struct config_key *k, unsigned line,
                          const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4];

        if (parse_bool(value, field) < 0)
                return file_error(f, line, k->name, "invalid boolean '%s' (expected yes or no)",
                                  shown(value, buf));
        return 0;
}

static int set_string(char **field, const char *value)
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
static int parse_key_account(struct file_ctx *f, const struct config_key *k, unsigned line,
                             const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4];
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
                return file_error(f, line, k->name, "unknown %s '%s'", user ? "user" : "group",
                                  shown(value, buf));
        return set_string(field, value);
}

static int parse_key_absolute_path(struct file_ctx *f, const struct config_key *k, unsigned line,
                                   const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4];

        if (value[0] != '/')
                return file_error(f, line, k->name, "'%s' is not an absolute path",
                                  shown(value, buf));
        if (strlen(value) >= PATH_MAX)
                return file_error(f, line, k->name, "'%s' is longer than PATH_MAX (%d)",
                                  shown(value, buf), PATH_MAX - 1);
        return set_string(field, value);
}

/* A path relative to the file's directory, stored absolute. */
static int parse_key_relative_path(struct file_ctx *f, const struct config_key *k, unsigned line,
                                   const char *value, void *field)
{
        char *p = path_join(f->dir, value);

        if (!p)
                return -ENOMEM;
        free(*(char **)field);
        *(char **)field = p;
        return 0;
}

static int parse_key_services(struct file_ctx *f, const struct config_key *k, unsigned line,
                              const char *value, void *field)
{
        char *d = path_join(f->display_dir, value);

        if (!d)
                return -ENOMEM;
        free(f->load->services_display);
        f->load->services_display = d;
        return parse_key_relative_path(f, k, line, value, field);
}

static int check_socket_path(struct file_ctx *f, unsigned line, const char *key, const char *p)
{
        if (strlen(p) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
                return file_error(f, line, key,
                                  "path '%s' is too long for a unix socket (at most %zu bytes)", p,
                                  sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
        return 0;
}

static int parse_key_socket(struct file_ctx *f, const struct config_key *k, unsigned line,
                            const char *value, void *field)
{
        _cleanup_free_ char *p = path_join(f->dir, value);
        int r;

        if (!p)
                return -ENOMEM;
        r = check_socket_path(f, line, k->name, p);
        if (r < 0)
                return r;
        free(*(char **)field);
        *(char **)field = TAKE_PTR(p);
        return 0;
}

static int parse_key_mode(struct file_ctx *f, const struct config_key *k, unsigned line,
                          const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4];

        if (parse_umask(value, field) < 0)
                return file_error(f, line, k->name, "invalid octal mode '%s' (at most 0777)",
                                  shown(value, buf));
        return 0;
}

static int parse_key_umask(struct file_ctx *f, const struct config_key *k, unsigned line,
                           const char *value, void *field)
{
        struct service_config *sc = f->target;
        int r;

        r = parse_key_mode(f, k, line, value, field);
        if (r < 0)
                return r;
        sc->umask_set = true;
        return 0;
}

static int parse_key_environment(struct file_ctx *f, const struct config_key *k, unsigned line,
                                 const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4];
        const char *reason = NULL;
        char *entry;
        int r;

        r = env_parse_assignment(value, &entry, &reason);
        if (r == -EINVAL)
                return file_error(f, line, k->name, "%s: '%s'", reason, shown(value, buf));
        if (r < 0)
                return r;
        /* Not strv_push: 30,000 entries must not cost 450 million steps. */
        return strv_append(field, &f->env_n, &f->env_cap, entry);
}

static int parse_key_environment_file(struct file_ctx *f, const struct config_key *k,
                                      unsigned line, const char *value, void *field)
{
        /* Read after the whole file is parsed, see service_merge_environment(). */
        return parse_key_relative_path(f, k, line, value, field);
}

static const int limit_resources[_LIMIT_MAX] = {
        [LIMIT_NOFILE] = RLIMIT_NOFILE, [LIMIT_NPROC] = RLIMIT_NPROC,
        [LIMIT_CORE] = RLIMIT_CORE,     [LIMIT_AS] = RLIMIT_AS,
        [LIMIT_DATA] = RLIMIT_DATA,     [LIMIT_STACK] = RLIMIT_STACK,
        [LIMIT_FSIZE] = RLIMIT_FSIZE,   [LIMIT_MEMLOCK] = RLIMIT_MEMLOCK,
        [LIMIT_CPU] = RLIMIT_CPU,
};

static int parse_limit_value(const char *s, enum config_limit l, rlim_t *ret)
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
static uint64_t load_nr_open(struct load_ctx *l)
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
                if (parse_u64(strip(buf), false, &v) == 0 && v > 0)
                        l->nr_open = v;
        }
        return l->nr_open;
}

static int parse_key_limit(struct file_ctx *f, const struct config_key *k, unsigned line,
                           const char *value, void *field)
{
        static const char *const hints[_LIMIT_MAX] = {
                [LIMIT_NOFILE] = "a number", [LIMIT_NPROC] = "a number",
                [LIMIT_CPU] = "whole seconds", [LIMIT_CORE] = "a size",
                [LIMIT_AS] = "a size", [LIMIT_DATA] = "a size",
                [LIMIT_STACK] = "a size", [LIMIT_FSIZE] = "a size",
                [LIMIT_MEMLOCK] = "a size",
        };
        struct config_rlimit *rl = field;
        char buf[VALUE_SHOWN_MAX + 4];
        _cleanup_free_ char *soft = strdup(value);
        char *hard;
        rlim_t s, h;

        if (!soft)
                return -ENOMEM;
        hard = strchr(soft, ':');
        if (hard)
                *hard++ = 0;
        if (parse_limit_value(soft, (enum config_limit)k->arg, &s) < 0 ||
            (hard && parse_limit_value(hard, (enum config_limit)k->arg, &h) < 0))
                return file_error(f, line, k->name,
                                  "invalid limit '%s' (expected N, SOFT:HARD or infinity; "
                                  "values are %s)",
                                  shown(value, buf), hints[k->arg]);
        if (!hard)
                h = s;
        if (k->arg == LIMIT_NOFILE && (s == RLIM_INFINITY || h == RLIM_INFINITY))
                return file_error(f, line, k->name,
                                  "infinity is not possible for open files (the kernel caps "
                                  "them at fs.nr_open): give a number");
        if (s > h)
                return file_error(f, line, k->name, "soft limit is above the hard limit in '%s'",
                                  shown(value, buf));
        if (k->arg == LIMIT_NOFILE && h > load_nr_open(f->load))
                return file_error(f, line, k->name,
                                  "%llu is above fs.nr_open (%llu): the kernel refuses it",
                                  (unsigned long long)h,
                                  (unsigned long long)load_nr_open(f->load));
        rl->set = true;
        rl->value.rlim_cur = s;
        rl->value.rlim_max = h;
        return 0;
}

static int name_ref_cmp(const void *a, const void *b)
{
        char *const *x = *(char **const *)a, *const *y = *(char **const *)b;
        int c = strcmp(*x, *y);

        return c != 0 ? c : (x > y) - (x < y);
}

/* Drop repeated names from v (n of them), keeping each first one in place:
 * sorted by (name, position), every run's first is kept. */
static int names_dedup(char **v, size_t n)
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
        qsort(refs, n, sizeof *refs, name_ref_cmp);
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

/* after/requires: blank-separated service names, deduplicated. */
static int parse_key_names(struct file_ctx *f, const struct config_key *k, unsigned line,
                           const char *value, void *field)
{
        struct service_config *sc = f->target;
        _cleanup_strv_free_ char **names = NULL;
        char buf[VALUE_SHOWN_MAX + 4];
        const char *p = value;
        size_t n_names = 0, cap = 0;
        bool bad = false;
        int r;

        while (*p) {
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
                if (!service_name_is_valid(name)) {
                        (void)file_error(f, line, k->name, "invalid service name '%s'",
                                         shown(name, buf));
                        bad = true;
                        continue;
                }
                if (strcmp(name, sc->name) == 0) {
                        (void)file_error(f, line, k->name, "a service cannot depend on itself");
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
        r = names_dedup(names, n_names);
        if (r < 0)
                return r;
        strv_free(*(char ***)field);
        *(char ***)field = TAKE_PTR(names);
        if (strcmp(k->name, "after") == 0)
                sc->after_line = line;
        else
                sc->requires_line = line;
        return 0;
}

static int parse_key_ready_fd(struct file_ctx *f, const struct config_key *k, unsigned line,
                              const char *value, void *field)
{
        char buf[VALUE_SHOWN_MAX + 4];
        uint64_t v;

        if (strcmp(value, "-1") == 0) { /* the default: none */
                *(int *)field = -1;
                return 0;
        }
        if (parse_u64(value, false, &v) < 0 || v < 3 || v > 1023)
                return file_error(f, line, k->name,
                                  "invalid fd '%s' (expected a number from 3 to 1023; "
                                  "0-2 are the service's stdio)",
                                  shown(value, buf));
        *(int *)field = (int)v;
        return 0;
}

/* Ranges (README, "Service files"): large enough for any real use, small
 * enough that no value makes tendd do or hold much per service. */
#define DURATION_MAX (24 * USEC_PER_HOUR) /* usec and ev_tstamp alike, no overflow */
#define START_LIMIT_BURST_MAX 10000         /* a ring of that many timestamps */
#define LOG_KEEP_MAX 1000                   /* a rotation renames that many files */
#define LOG_MAX_SIZE_MIN (4ULL << 10)       /* a rotation per few lines at most */
#define LOG_MAX_SIZE_MAX (1ULL << 40)

#define SC(field) offsetof(struct service_config, field)
#define LIMIT_KEY(n, l)                                                                            \
        { n, parse_key_limit, SC(limits) + (l) * sizeof(struct config_rlimit), NULL, l, false }

static const struct config_key service_keys[] = {
        { "exec", parse_key_exec, SC(exec), NULL, 0, false },
        { "type", parse_key_enum, SC(type), "simple", ENUM_TYPE, false },
        { "restart", parse_key_enum, SC(restart), "on-failure", ENUM_RESTART, false },
        { "restart_delay", parse_key_duration, SC(restart_delay), "100ms", 0, false, 0,
          DURATION_MAX },
        { "restart_max_delay", parse_key_duration, SC(restart_max_delay), "30s", 0, false, 0,
          DURATION_MAX },
        { "start_limit_burst", parse_key_unsigned, SC(start_limit_burst), "5", 0, false, 0,
          START_LIMIT_BURST_MAX },
        { "start_limit_interval", parse_key_duration, SC(start_limit_interval), "10s", 0, false, 0,
          DURATION_MAX },
        { "stop_signal", parse_key_signal, SC(stop_signal), "TERM", 0, false },
        { "stop_timeout", parse_key_duration, SC(stop_timeout), "10s", 0, false, 0, DURATION_MAX },
        { "user", parse_key_account, SC(user), NULL, ACCOUNT_USER, false },
        { "group", parse_key_account, SC(group), NULL, ACCOUNT_GROUP, false },
        { "workdir", parse_key_absolute_path, SC(workdir), NULL, 0, false },
        { "umask", parse_key_umask, SC(umask), NULL, 0, false },
        { "environment", parse_key_environment, SC(environment), NULL, 0, true },
        { "environment_file", parse_key_environment_file, SC(environment_file), NULL, 0, false },
        { "output", parse_key_enum, SC(output), NULL, ENUM_OUTPUT, false },
        { "log_max_size", parse_key_size, SC(log_max_size), "10M", 0, false, LOG_MAX_SIZE_MIN,
          LOG_MAX_SIZE_MAX },
        { "log_keep", parse_key_unsigned, SC(log_keep), "5", 0, false, 0, LOG_KEEP_MAX },
        { "enabled", parse_key_bool, SC(enabled), "yes", 0, false },
        { "kill_mode", parse_key_enum, SC(kill_mode), "group", ENUM_KILL_MODE, false },
        { "no_new_privs", parse_key_bool, SC(no_new_privs), "no", 0, false },
        LIMIT_KEY("limit_nofile", LIMIT_NOFILE),
        LIMIT_KEY("limit_nproc", LIMIT_NPROC),
        LIMIT_KEY("limit_core", LIMIT_CORE),
        LIMIT_KEY("limit_as", LIMIT_AS),
        LIMIT_KEY("limit_data", LIMIT_DATA),
        LIMIT_KEY("limit_stack", LIMIT_STACK),
        LIMIT_KEY("limit_fsize", LIMIT_FSIZE),
        LIMIT_KEY("limit_memlock", LIMIT_MEMLOCK),
        LIMIT_KEY("limit_cpu", LIMIT_CPU),
        { "ready_timeout", parse_key_duration, SC(ready_timeout), "90s", 0, false, 0,
          DURATION_MAX },
        { "watchdog", parse_key_duration, SC(watchdog), "0", 0, false, 0, DURATION_MAX },
        { "after", parse_key_names, SC(after), NULL, 0, false },
        { "requires", parse_key_names, SC(requires), NULL, 0, false },
        { "ready_fd", parse_key_ready_fd, SC(ready_fd), "-1", 0, false },
};

#define C(field) offsetof(struct config, field)

static const struct config_key tend_keys[] = {
        { "services", parse_key_services, C(services_dir), "services.d", 0, false },
        { "socket", parse_key_socket, C(socket_path), NULL, 0, false },
        { "socket_mode", parse_key_mode, C(socket_mode), "0660", 0, false },
        { "socket_group", parse_key_account, C(socket_group), NULL, ACCOUNT_GROUP, false },
        { "log_dir", parse_key_relative_path, C(log_dir), NULL, 0, false },
};

static size_t file_key_index(const struct file_ctx *f, const char *name)
{
        for (size_t i = 0; i < f->n_keys; i++)
                if (strcmp(f->keys[i].name, name) == 0)
                        return i;
        return SIZE_MAX;
}

/* Section header: validate it and remember whether its keys count. Returns
 * true if inih should see it (written to out). */
static bool reader_section(struct file_ctx *f, char *p, char *out, int num)
{
        char *end = strchr(p, ']');

        f->in_section = false;
        f->bad_section = true;
        if (!end) {
                file_error(f, f->lineno, NULL, "invalid section header: missing ']'");
                return false;
        }
        *end = 0;
        p = strip(p + 1);
        end = strip(end + 1);
        if (*end && *end != '#' && *end != ';') {
                file_error(f, f->lineno, NULL, "invalid section header: text after ']'");
                return false;
        }
        if (strcmp(p, f->section) != 0) {
                char buf[VALUE_SHOWN_MAX + 4];
                file_error(f, f->lineno, NULL, "unknown section [%s] (expected [%s])",
                           shown(p, buf), f->section);
                return false;
        }
        /* p is f->section, a short constant: it fits inih's buffer. */
        snprintf(out, (size_t)num, "[%s]\n", p);
        f->in_section = true;
        f->bad_section = false;
        return true;
}

/* key = value: keep the exact value aside, hand inih "key=@INDEX". */
static int reader_key(struct file_ctx *f, char *p, char *out, int num)
{
        char *eq = strchr(p, '='), *key, *value;
        struct raw_value *nv;
        size_t n;

        if (!eq)
                return file_error(f, f->lineno, NULL,
                                  "syntax error: expected 'key = value', '[section]' or a comment");
        *eq = 0;
        key = strip(p);
        value = strip(eq + 1);
        n = strlen(key);
        if (n == 0)
                return file_error(f, f->lineno, NULL, "syntax error: missing key before '='");
        if (n > CONFIG_KEY_NAME_MAX)
                return file_error(f, f->lineno, NULL, "key name too long (at most %d bytes)",
                                  CONFIG_KEY_NAME_MAX);
        for (size_t i = 0; i < n; i++)
                if (!ascii_alnum(key[i]) && key[i] != '_' && key[i] != '-' && key[i] != '.')
                        return file_error(f, f->lineno, NULL, "invalid key name '%s'", key);
        if (!f->in_section) {
                if (f->bad_section)
                        return 0; /* already reported at the section header */
                return file_error(f, f->lineno, key, "key outside of the [%s] section",
                                  f->section);
        }

        if (f->n_values == f->load->values_cap) {
                size_t cap = f->load->values_cap ? 2 * f->load->values_cap : 32;

                nv = realloc(f->load->values, cap * sizeof *nv);
                if (!nv)
                        return -ENOMEM;
                f->load->values = nv;
                f->load->values_cap = cap;
        }
        f->values = f->load->values;
        nv = &f->values[f->n_values];
        nv->value = value; /* the file's text stays until the next file */
        nv->line = f->lineno;
        assert(n + 24 <= (size_t)num);
        snprintf(out, (size_t)num, "%s=@%zu\n", key, f->n_values);
        f->n_values++;
        return 1;
}

static const char *file_type_name(mode_t m)
{
        if (S_ISDIR(m))
                return "a directory";
        if (S_ISFIFO(m))
                return "a FIFO";
        if (S_ISCHR(m))
                return "a character device";
        if (S_ISBLK(m))
                return "a block device";
        if (S_ISSOCK(m))
                return "a socket";
        return "a special file";
}

/* Read the open regular file fd whole into s (NUL-terminated), at most
 * CONFIG_FILE_MAX bytes: -EFBIG beyond. One read() for a file that fits,
 * since a short read of a regular file is its end; a file whose size
 * fstat() shows as 0 (procfs) is read until read() returns 0. */
static int file_slurp(struct scratch *s, int fd, off_t size, size_t *ret_len)
{
        size_t len = 0, want = (size_t)size + 1;

        for (;;) {
                ssize_t n;

                if (want > CONFIG_FILE_MAX + 1 - len)
                        want = CONFIG_FILE_MAX + 1 - len;
                if (want == 0)
                        return -EFBIG;
                if (s->cap < len + want + 1) {
                        size_t cap = len + want + 1;
                        char *b = realloc(s->buf, cap);

                        if (!b)
                                return -ENOMEM;
                        s->buf = b;
                        s->cap = cap;
                }
                n = read(fd, s->buf + len, want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                len += (size_t)n;
                if (n == 0 || ((size_t)n < want && size > 0))
                        break;
                want = len; /* it grew since fstat(): double */
        }
        s->buf[len] = '\0';
        *ret_len = len;
        return 0;
}

/* The one way the config reads a file (tend.ini, service files, environment
 * files): opened without blocking and without following into a terminal, only
 * a regular file, at most CONFIG_FILE_MAX bytes and CONFIG_TREE_MAX for every
 * file of the load together, into s. Returns 0, -ENOMEM, or -EINVAL with the
 * reason in why. */
static int config_read_file(struct load_ctx *l, int dfd, const char *path, struct scratch *s,
                            size_t *ret_len, char *why, size_t why_len)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        /* O_NONBLOCK: a FIFO (or a device) in its place must not hang the
         * load, which runs inside tendd's loop on a reload. */
        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                snprintf(why, why_len, "cannot open: %s", strerror(errno));
                return -EINVAL;
        }
        if (fstat(fd, &st) < 0) {
                snprintf(why, why_len, "cannot stat: %s", strerror(errno));
                return -EINVAL;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(why, why_len, "not a regular file (%s)", file_type_name(st.st_mode));
                return -EINVAL;
        }
        if (st.st_size > CONFIG_FILE_MAX) {
                snprintf(why, why_len, "larger than %d MiB", CONFIG_FILE_MAX >> 20);
                return -EINVAL;
        }
        if (l->bytes_read + (uint64_t)st.st_size > CONFIG_TREE_MAX) {
                snprintf(why, why_len,
                         "not read: the configuration's files take more than %d MiB together",
                         CONFIG_TREE_MAX >> 20);
                return -EINVAL;
        }
        r = file_slurp(s, fd, st.st_size, ret_len);
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG) {
                snprintf(why, why_len, "larger than %d MiB", CONFIG_FILE_MAX >> 20);
                return -EINVAL;
        }
        if (r < 0) {
                snprintf(why, why_len, "read error: %s", strerror(-r));
                return -EINVAL;
        }
        l->bytes_read += *ret_len;
        if (l->bytes_read > CONFIG_TREE_MAX) {
                snprintf(why, why_len,
                         "not read: the configuration's files take more than %d MiB together",
                         CONFIG_TREE_MAX >> 20);
                return -EINVAL;
        }
        return 0;
}

/* Open path (relative to dfd) as the file f parses; reports what goes wrong
 * and returns 0 (the defaults still apply), or -ENOMEM. */
static int file_open(struct file_ctx *f, int dfd, const char *path)
{
        char why[256];
        int r;

        r = config_read_file(f->load, dfd, path, &f->load->text, &f->text_len, why, sizeof why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                load_error(f->load, f->display, "%s", why);
                return f->load->oom ? -ENOMEM : 0;
        }
        f->text = f->load->text.buf;
        f->have_text = true;
        return 0;
}

/* inih reader: one meaningful physical line per call, of any length. */
static char *config_reader(char *str, int num, void *stream)
{
        struct file_ctx *f = stream;

        for (;;) {
                char *p, *nl;
                size_t n;
                int r;

                if (f->load->oom || f->pos >= f->text_len)
                        return NULL;
                p = f->text + f->pos;
                nl = memchr(p, '\n', f->text_len - f->pos);
                n = nl ? (size_t)(nl - p) : f->text_len - f->pos;
                p[n] = '\0'; /* the newline, or the terminator already there */
                f->pos += n + 1;
                f->lineno++;
                if (memchr(p, 0, n)) {
                        file_error(f, f->lineno, NULL, "line contains a NUL byte");
                        continue;
                }
                if (f->lineno == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0)
                        p += 3;
                /* Leading blanks are dropped: an indented line never continues
                 * the previous key. */
                p = strip(p);
                if (!*p || *p == '#' || *p == ';')
                        continue;
                if (*p == '[') {
                        if (reader_section(f, p, str, num))
                                return str;
                        continue;
                }
                r = reader_key(f, p, str, num);
                if (r == -ENOMEM)
                        f->load->oom = true;
                if (r > 0)
                        return str;
        }
}

/* inih handler: value is "@INDEX" into the side table. */
static int config_handler(void *user, const char *section, const char *name, const char *value)
{
        struct file_ctx *f = user;
        const struct raw_value *rv;
        const struct config_key *k;
        size_t i;
        char *end;
        unsigned long idx;
        int r;

        if (f->load->oom)
                return 0;
        assert(value[0] == '@' && strcmp(section, f->section) == 0);
        idx = strtoul(value + 1, &end, 10);
        assert(*end == 0 && idx < f->n_values);
        rv = &f->values[idx];

        i = file_key_index(f, name);
        if (i == SIZE_MAX) {
                file_error(f, rv->line, name, "unknown key");
                return 1;
        }
        k = &f->keys[i];
        if (f->seen[i] && !k->repeatable) {
                file_error(f, rv->line, name, "duplicate key (first set on line %u)",
                           f->seen[i]);
                return 1;
        }
        if (!f->seen[i])
                f->seen[i] = rv->line;
        if (!rv->value[0]) {
                file_error(f, rv->line, name, "empty value");
                f->failed[i] = true;
                return 1;
        }
        r = k->parse(f, k, rv->line, rv->value, (char *)f->target + k->offset);
        if (r == -ENOMEM)
                f->load->oom = true;
        if (r < 0)
                f->failed[i] = true;
        return !f->load->oom;
}

static void file_ctx_done(struct file_ctx *f)
{
        f->values = NULL;
        f->n_values = 0;
        f->seen = NULL;
        f->failed = NULL;
}

/* Set the table defaults, then parse the open file. */
static int file_parse(struct file_ctx *f)
{
        struct load_ctx *l = f->load;

        if (l->keys_cap < f->n_keys) {
                unsigned *seen = realloc(l->seen, f->n_keys * sizeof *seen);
                bool *failed;

                if (!seen)
                        return -ENOMEM;
                l->seen = seen;
                failed = realloc(l->failed, f->n_keys * sizeof *failed);
                if (!failed)
                        return -ENOMEM;
                l->failed = failed;
                l->keys_cap = f->n_keys;
        }
        f->seen = memset(l->seen, 0, f->n_keys * sizeof *f->seen);
        f->failed = memset(l->failed, 0, f->n_keys * sizeof *f->failed);

        for (size_t i = 0; i < f->n_keys; i++) {
                const struct config_key *k = &f->keys[i];
                int r;

                if (!k->def)
                        continue;
                r = k->parse(f, k, 0, k->def, (char *)f->target + k->offset);
                if (r == -ENOMEM)
                        return r;
                assert(r >= 0);
        }

        if (f->have_text)
                (void)ini_parse_stream(config_reader, f, config_handler, f);
        return f->load->oom ? -ENOMEM : 0;
}

/* Read environment_file: KEY=VALUE lines, # comments, blank lines; each
 * entry is appended to env (of length *n, room *cap). */
static int service_read_environment_file(struct file_ctx *f, unsigned line, const char *path,
                                         char ***env, size_t *n, size_t *cap)
{
        struct load_ctx *l = f->load;
        char why[256], *p, *end, *next;
        unsigned lineno = 0;
        size_t len;
        int r;

        r = config_read_file(l, AT_FDCWD, path, &l->env, &len, why, sizeof why);
        if (r == -EINVAL)
                return file_error(f, line, "environment_file", "'%s': %s", path, why);
        if (r < 0)
                return r;
        for (p = l->env.buf, end = p + len; p < end; p = next) {
                const char *reason = NULL;
                char *nl = memchr(p, '\n', (size_t)(end - p)), *entry = NULL, *t;
                size_t k = nl ? (size_t)(nl - p) : (size_t)(end - p);

                next = p + k + 1;
                p[k] = '\0'; /* the newline, or the terminator already there */
                lineno++;
                if (memchr(p, 0, k))
                        reason = "line contains a NUL byte";
                else {
                        t = strip(p);
                        if (!*t || *t == '#')
                                continue;
                        r = env_parse_assignment(t, &entry, &reason);
                        if (r == -ENOMEM)
                                return r;
                        if (r >= 0 && strlen(entry) >= CONFIG_EXEC_STRING_MAX) {
                                free(entry);
                                reason = "variable longer than 128 KiB (execve's limit)";
                        }
                }
                if (reason) {
                        r = file_error(f, line, "environment_file", "%s:%u: %s", path, lineno,
                                       reason);
                        if (r == -ENOMEM)
                                return r;
                        continue;
                }
                r = strv_append(env, n, cap, entry);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct env_ref {
        const char *key;
        size_t klen;
        size_t pos;
};

static int env_ref_cmp(const void *a, const void *b)
{
        const struct env_ref *x = a, *y = b;
        int c = memcmp(x->key, y->key, x->klen < y->klen ? x->klen : y->klen);

        if (c != 0)
                return c;
        if (x->klen != y->klen)
                return x->klen < y->klen ? -1 : 1;
        return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* One entry per key, in place: each key keeps the place of its first entry
 * and the value of its last, as replacing in place would, in O(n log n):
 * the entries sorted by (key, position) give each key's first and last. */
static int env_dedup(char **env, size_t n, size_t *ret_n)
{
        _cleanup_free_ struct env_ref *refs = NULL;
        _cleanup_free_ char **slot = NULL;
        size_t m = 0;

        if (n < 2) {
                *ret_n = n;
                return 0;
        }
        refs = malloc(n * sizeof *refs);
        slot = calloc(n, sizeof *slot);
        if (!refs || !slot)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                refs[i] = (struct env_ref){ env[i], strcspn(env[i], "="), i };
        qsort(refs, n, sizeof *refs, env_ref_cmp);
        for (size_t i = 0, j; i < n; i = j) {
                for (j = i + 1; j < n && refs[j].klen == refs[i].klen &&
                                memcmp(refs[j].key, refs[i].key, refs[i].klen) == 0;
                     j++)
                        ;
                slot[refs[i].pos] = env[refs[j - 1].pos];
                for (size_t k = i; k + 1 < j; k++)
                        free(env[refs[k].pos]); /* overridden by a later one */
        }
        for (size_t i = 0; i < n; i++)
                if (slot[i])
                        env[m++] = slot[i];
        env[m] = NULL;
        *ret_n = m;
        return 0;
}

/* environment_file first, then environment= in order; one entry per key,
 * later wins. Done once here, so that a spawn only copies the result. The
 * result is never NULL. */
static int service_merge_environment(struct file_ctx *f, struct service_config *sc)
{
        _cleanup_strv_free_ char **env = NULL;
        size_t i = file_key_index(f, "environment_file"), n = 0, cap = 0;
        int r = 0;

        env = calloc(1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        if (sc->environment_file) {
                r = service_read_environment_file(f, f->seen[i], sc->environment_file, &env, &n,
                                                  &cap);
                if (r == -ENOMEM)
                        return r;
        }
        for (size_t k = 0; k < f->env_n; k++) {
                r = strv_append(&env, &n, &cap, TAKE_PTR(sc->environment[k]));
                if (r < 0) {
                        while (++k < f->env_n)
                                free(sc->environment[k]);
                        break;
                }
        }
        free(sc->environment); /* its strings moved to env */
        sc->environment = NULL;
        if (r < 0)
                return r;
        r = env_dedup(env, n, &n);
        if (r < 0)
                return r;
        sc->environment = TAKE_PTR(env);
        return 0;
}

/* Checks that involve more than one key. */
static int service_check(struct file_ctx *f, struct service_config *sc)
{
        size_t d = file_key_index(f, "restart_delay"), m = file_key_index(f, "restart_max_delay");

        if (!f->seen[file_key_index(f, "exec")])
                (void)file_error(f, 0, "exec", "required key is missing");
        if (!f->failed[d] && !f->failed[m] && sc->restart_delay > sc->restart_max_delay) {
                char a[32], b[32];
                bool on_delay = f->seen[d] != 0;

                (void)file_error(f, on_delay ? f->seen[d] : f->seen[m],
                                 on_delay ? "restart_delay" : "restart_max_delay",
                                 "restart_delay %s is greater than restart_max_delay %s",
                                 format_duration(a, sizeof a, sc->restart_delay),
                                 format_duration(b, sizeof b, sc->restart_max_delay));
        }
        if (sc->watchdog > 0 && sc->type != SERVICE_NOTIFY)
                (void)file_error(f, f->seen[file_key_index(f, "watchdog")], "watchdog",
                                 "needs type=notify (pings arrive as WATCHDOG=1)");
        if (sc->ready_fd >= 0 && sc->type != SERVICE_SIMPLE)
                (void)file_error(f, f->seen[file_key_index(f, "ready_fd")], "ready_fd",
                                 "only for type=simple (type=%s has its own readiness)",
                                 service_type_to_string(sc->type));
        return f->load->oom ? -ENOMEM : 0;
}

static uint64_t strv_exec_size(char *const *v)
{
        uint64_t n = 0;

        for (; v && *v; v++)
                n += strlen(*v) + 1 + sizeof(char *);
        return n;
}

/* Arguments and environment must fit what execve() takes, or every start
 * would fail with E2BIG: the kernel allows a quarter of the stack limit
 * (at least 128 KiB, at most 6 MiB), with the service's limit_stack or
 * else tendd's own; tend allows at most CONFIG_EXEC_MAX of it. */
static int service_check_exec_size(struct file_ctx *f, struct service_config *sc)
{
        const struct config_rlimit *rl = &sc->limits[LIMIT_STACK];
        uint64_t argv = strv_exec_size(sc->argv), env = strv_exec_size(sc->environment);
        uint64_t total = argv + env, kernel, budget;
        const char *key = "exec";
        struct rlimit own;
        rlim_t stack;
        char b[32];

        if (rl->set)
                stack = rl->value.rlim_cur;
        else
                stack = getrlimit(RLIMIT_STACK, &own) == 0 ? own.rlim_cur : 8 << 20;
        kernel = stack == RLIM_INFINITY ? 6 << 20 : stack / 4;
        kernel = kernel > 6 << 20 ? 6 << 20 : kernel < 128 << 10 ? 128 << 10 : kernel;
        budget = kernel - EXEC_RESERVE < CONFIG_EXEC_MAX ? kernel - EXEC_RESERVE : CONFIG_EXEC_MAX;
        if (total <= budget)
                return 0;
        if (env > argv)
                key = sc->environment_file ? "environment_file" : "environment";
        if (budget == CONFIG_EXEC_MAX)
                return file_error(f, f->seen[file_key_index(f, key)], key,
                                  "arguments and environment take %llu bytes, more than the "
                                  "%d MiB a service may have",
                                  (unsigned long long)total, CONFIG_EXEC_MAX >> 20);
        return file_error(f, f->seen[file_key_index(f, key)], key,
                          "arguments and environment take %llu bytes, more than execve allows "
                          "with %s%s (%llu)",
                          (unsigned long long)total,
                          rl->set ? "limit_stack = " : "tendd's stack limit ",
                          format_size(b, sizeof b, stack), (unsigned long long)budget);
}

/* Load services/NAME.ini; *ret is NULL when the file had errors. */
static int service_load(struct load_ctx *l, const struct config *c, int dfd, const char *name,
                        struct service_config **ret)
{
        _cleanup_(service_config_freep) struct service_config *sc = NULL;
        _cleanup_free_ char *fname = NULL, *display = NULL;
        struct file_ctx f = {};
        size_t n_errors = load_n_errors(l);
        int r;

        *ret = NULL;
        if (asprintf(&fname, "%s.ini", name) < 0)
                return -ENOMEM;
        display = path_join(l->services_display, fname);
        sc = calloc(1, sizeof *sc);
        if (!display || !sc)
                return -ENOMEM;
        sc->name = strdup(name);
        sc->file = path_join(c->services_dir, fname);
        if (!sc->name || !sc->file)
                return -ENOMEM;
        for (unsigned i = 0; i < _LIMIT_MAX; i++)
                sc->limits[i].resource = limit_resources[i];

        if (!service_name_is_valid(name)) {
                load_error(l, display,
                           "invalid service name '%s' (1-%d characters of A-Z a-z 0-9 _ . @ -, "
                           "not starting with '.')",
                           name, SERVICE_NAME_MAX);
                return l->oom ? -ENOMEM : 0;
        }
        f.load = l;
        f.display = display;
        f.dir = c->services_dir;
        f.display_dir = l->services_display;
        f.section = "service";
        f.keys = service_keys;
        f.n_keys = ELEMENTSOF(service_keys);
        f.target = sc;

        r = file_open(&f, dfd, fname);
        if (r < 0)
                return r;
        if (!f.have_text)
                return 0;
        r = file_parse(&f);
        if (r >= 0)
                r = service_check(&f, sc);
        if (r >= 0)
                r = service_merge_environment(&f, sc);
        if (r >= 0)
                r = service_check_exec_size(&f, sc);
        file_ctx_done(&f);
        if (r == -ENOMEM || l->oom)
                return -ENOMEM;
        if (load_n_errors(l) == n_errors)
                *ret = TAKE_PTR(sc);
        return 0;
}

static void closedirp(DIR **d)
{
        if (*d)
                (void)closedir(*d);
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True if the n sorted names hold name. */
static bool names_contain(char *const *names, size_t n, const char *name)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(name, names[mid]);

                if (cmp == 0)
                        return true;
                if (cmp < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return false;
}

/* Position of name in the name-sorted services, or SIZE_MAX. */
static size_t config_index(const struct config *c, const char *name)
{
        size_t lo = 0, hi = c->n_services;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(name, c->services[mid]->name);

                if (cmp == 0)
                        return mid;
                if (cmp < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return SIZE_MAX;
}

/* Dependency edges of sc: after, then requires (which implies ordering). */
static char *const *deps_of(const struct service_config *sc, int which)
{
        return which == 0 ? sc->after : sc->requires;
}

/* A service on the walk's stack and the edge it is following. */
struct dep_frame {
        size_t v;
        int which; /* 0 after, 1 requires */
        size_t next; /* index of the next edge in that list */
};

struct dep_walk {
        struct load_ctx *l;
        struct config *c;
        unsigned char *color; /* 0 white, 1 on the stack, 2 done */
        size_t *pos;          /* where a service on the stack is in it */
        struct dep_frame *stack;
        size_t depth;
};

/* Hops of a cycle shown in its message; the rest are counted. */
#define DEP_CYCLE_SHOWN 16

/* The stack from to's place up to the top, and the edge back to to, is a
 * cycle: report it at the top's edge, at most DEP_CYCLE_SHOWN hops named. */
static void dep_report_cycle(struct dep_walk *w, size_t to)
{
        const struct dep_frame *top = &w->stack[w->depth - 1];
        const struct service_config *from = w->c->services[top->v];
        size_t start = w->pos[to], hops = w->depth - start;
        size_t shown = hops > DEP_CYCLE_SHOWN ? DEP_CYCLE_SHOWN - 1 : hops;
        _cleanup_free_ char *path = NULL, *where = NULL;
        size_t path_len = 0, where_len = 0;
        FILE *p, *e;

        if (load_full(w->l)) {
                w->l->n_more++;
                return;
        }
        p = open_memstream(&path, &path_len);
        e = p ? open_memstream(&where, &where_len) : NULL;
        if (!e) {
                if (p)
                        (void)fclose(p);
                w->l->oom = true;
                return;
        }
        for (size_t i = start; i < start + shown; i++) {
                const struct dep_frame *fr = &w->stack[i];
                const struct service_config *sc = w->c->services[fr->v];

                fprintf(p, "%s -> ", sc->name);
                fprintf(e, "%s%s/%s.ini:%u %s", i > start ? ", " : "", w->l->services_display,
                        sc->name, fr->which ? sc->requires_line : sc->after_line,
                        fr->which ? "requires" : "after");
        }
        if (shown < hops) {
                fprintf(p, "... (%zu more) -> ", hops - shown);
                fprintf(e, ", ... (%zu more)", hops - shown);
        }
        fprintf(p, "%s", w->c->services[to]->name);
        if ((fclose(p) | fclose(e)) != 0 || !path || !where) {
                w->l->oom = true;
                return;
        }
        load_errorf(w->l, "%s/%s.ini:%u: %s: dependency cycle %s (%s)", w->l->services_display,
                    from->name, top->which ? from->requires_line : from->after_line,
                    top->which ? "requires" : "after", path, where);
}

/* Depth-first from root with a stack of our own: a chain of 100,000
 * services must not take as many C frames. Each edge is looked at once. */
static void dep_visit(struct dep_walk *w, size_t root)
{
        w->color[root] = 1;
        w->pos[root] = 0;
        w->stack[0] = (struct dep_frame){ root, 0, 0 };
        w->depth = 1;
        while (w->depth > 0 && !w->l->oom) {
                struct dep_frame *fr = &w->stack[w->depth - 1];
                char *const *d = deps_of(w->c->services[fr->v], fr->which);
                size_t u;

                if (!d || !d[fr->next]) {
                        if (fr->which == 0) {
                                fr->which = 1;
                                fr->next = 0;
                                continue;
                        }
                        w->color[fr->v] = 2;
                        w->depth--;
                        continue;
                }
                u = config_index(w->c, d[fr->next]);
                if (u == SIZE_MAX) {
                        fr->next++;
                        continue;
                }
                if (w->color[u] == 1)
                        dep_report_cycle(w, u);
                if (w->color[u] != 0) {
                        fr->next++;
                        continue;
                }
                /* Descend; fr->next still names this edge for a report. */
                w->color[u] = 1;
                w->pos[u] = w->depth;
                w->stack[w->depth++] = (struct dep_frame){ u, 0, 0 };
                fr->next++;
        }
}

/* Every after/requires name must be a service file; the graph must be acyclic. */
static int services_check_dependencies(struct load_ctx *l, struct config *c, char *const *names,
                                       size_t n_names)
{
        struct dep_walk w = { .l = l, .c = c };

        for (size_t i = 0; i < c->n_services; i++) {
                const struct service_config *sc = c->services[i];

                for (int which = 0; which < 2; which++)
                        for (char *const *d = deps_of(sc, which); d && *d; d++) {
                                if (names_contain(names, n_names, *d))
                                        continue;
                                load_errorf(l, "%s/%s.ini:%u: %s: unknown service '%s'",
                                            l->services_display, sc->name,
                                            which == 0 ? sc->after_line : sc->requires_line,
                                            which == 0 ? "after" : "requires", *d);
                        }
        }
        w.color = calloc(c->n_services + 1, 1);
        w.pos = calloc(c->n_services + 1, sizeof(size_t));
        w.stack = calloc(c->n_services + 1, sizeof(struct dep_frame));
        if (!w.color || !w.pos || !w.stack)
                l->oom = true;
        for (size_t i = 0; i < c->n_services && !l->oom; i++)
                if (w.color[i] == 0)
                        dep_visit(&w, i);
        free(w.color);
        free(w.pos);
        free(w.stack);
        return l->oom ? -ENOMEM : 0;
}

static int services_load(struct load_ctx *l, struct config *c, const char *tend_display,
                         unsigned services_line)
{
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        size_t n_names = 0, cap = 0;
        struct dirent *de;
        int r = 0;

        d = opendir(c->services_dir);
        if (!d) {
                char *msg;
                if (asprintf(&msg, "%s:%u: services: cannot open directory '%s': %s",
                             tend_display, services_line, l->services_display,
                             strerror(errno)) < 0)
                        msg = NULL;
                load_push(l, msg);
                return l->oom ? -ENOMEM : 0;
        }
        while ((errno = 0, de = readdir(d))) {
                size_t n = strlen(de->d_name);

                if (n < 4 || strcmp(de->d_name + n - 4, ".ini") != 0)
                        continue;
                /* Not strv_push: 10,000 names must not cost 50 million
                 * steps of strv_length. */
                r = strv_append(&names, &n_names, &cap, strndup(de->d_name, n - 4));
                if (r < 0)
                        return r;
        }

        if (n_names == 0)
                return 0;
        qsort(names, n_names, sizeof(char *), name_cmp);
        c->services = calloc(n_names, sizeof *c->services);
        if (!c->services)
                return -ENOMEM;
        for (size_t i = 0; i < n_names; i++) {
                struct service_config *sc;

                r = service_load(l, c, dirfd(d), names[i], &sc);
                if (r < 0)
                        return r;
                if (sc)
                        c->services[c->n_services++] = sc;
        }
        return services_check_dependencies(l, c, names, n_names);
}

/* Parse tend.ini itself; a missing file is reported, defaults still apply. */
static int tend_load(struct load_ctx *l, struct config *c, const char *display,
                     const char *display_dir, const char *dir, unsigned *ret_services_line)
{
        struct file_ctx f = {
                .load = l,
                .display = display,
                .dir = dir,
                .display_dir = display_dir,
                .section = "tend",
                .keys = tend_keys,
                .n_keys = ELEMENTSOF(tend_keys),
                .target = c,
        };
        int r;

        r = file_open(&f, AT_FDCWD, c->path);
        if (r >= 0)
                r = file_parse(&f);
        if (r >= 0 && !c->socket_path) {
                r = config_default_socket_path(&c->socket_path);
                if (r == -ENXIO)
                        r = file_error(&f, 0, "socket",
                                       "no default when not root and XDG_RUNTIME_DIR is unset");
                else if (r >= 0)
                        r = check_socket_path(&f, 0, "socket", c->socket_path);
        }
        if (r != -ENOMEM && !c->log_dir) {
                r = config_default_log_dir(&c->log_dir);
                if (r == -ENXIO)
                        r = file_error(&f, 0, "log_dir",
                                       "no default when not root and XDG_RUNTIME_DIR is unset");
        }
        *ret_services_line = f.seen ? f.seen[0] : 0;
        file_ctx_done(&f);
        return r == -ENOMEM ? r : 0;
}

/* Load tend.ini and its services; see config.h. */
int config_load(const char *path, struct config **ret, char ***ret_errors)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_free_ char *display_dir = NULL, *dir = NULL, *cwd = NULL;
        struct load_ctx l = {};
        unsigned services_line = 0;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        if (path[0] == '/')
                c->path = strdup(path);
        else {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return -errno;
                c->path = path_join(cwd, path);
        }
        display_dir = path_dirname(path);
        if (!c->path || !display_dir)
                return -ENOMEM;
        dir = path_dirname(c->path);
        l.services_display = path_join(display_dir, "services.d");
        if (!dir || !l.services_display) {
                r = -ENOMEM;
                goto finish;
        }

        r = tend_load(&l, c, path, display_dir, dir, &services_line);
        if (r >= 0)
                r = services_load(&l, c, path, services_line);
        if (r >= 0 && l.oom)
                r = -ENOMEM;
        if (r >= 0 && l.n_more > 0) {
                char *msg;

                if (asprintf(&msg, "... and %zu more errors", l.n_more) < 0 ||
                    strv_append(&l.errors, &l.n_errors, &l.errors_cap, msg) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0 && load_n_errors(&l) > 0)
                r = -EINVAL;
finish:
        free(l.services_display);
        free(l.text.buf);
        free(l.env.buf);
        free(l.values);
        free(l.seen);
        free(l.failed);
        if (r == -EINVAL && ret_errors)
                *ret_errors = TAKE_PTR(l.errors);
        else if (ret_errors)
                *ret_errors = NULL;
        strv_free(l.errors);
        if (r >= 0)
                *ret = TAKE_PTR(c);
        return r;
}

/* Free a service config; accepts NULL, returns NULL. */
struct service_config *service_config_free(struct service_config *sc)
{
        if (!sc)
                return NULL;
        free(sc->name);
        free(sc->file);
        free(sc->exec);
        strv_free(sc->argv);
        free(sc->user);
        free(sc->group);
        free(sc->workdir);
        strv_free(sc->environment);
        free(sc->environment_file);
        strv_free(sc->after);
        strv_free(sc->requires);
        free(sc);
        return NULL;
}

/* Free the remaining service configs and empty the list. */
void config_drop_services(struct config *c)
{
        for (size_t i = 0; i < c->n_services; i++)
                service_config_free(c->services[i]);
        free(c->services);
        c->services = NULL;
        c->n_services = 0;
}

/* Free a config and its services; accepts NULL, returns NULL. */
struct config *config_free(struct config *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_services; i++)
                service_config_free(c->services[i]);
        free(c->services);
        free(c->path);
        free(c->services_dir);
        free(c->socket_path);
        free(c->socket_group);
        free(c->log_dir);
        free(c);
        return NULL;
}

static int dup_string(char **dst, const char *src)
{
        *dst = NULL;
        if (src && !(*dst = strdup(src)))
                return -ENOMEM;
        return 0;
}

static int dup_strv(char ***dst, char *const *src)
{
        *dst = NULL;
        if (src && !(*dst = strv_copy(src)))
                return -ENOMEM;
        return 0;
}

/* Deep copy; NULL on OOM. */
struct service_config *service_config_copy(const struct service_config *sc)
{
        struct service_config *n = malloc(sizeof *n);

        if (!n)
                return NULL;
        *n = *sc;
        if ((dup_string(&n->name, sc->name) | dup_string(&n->file, sc->file) |
             dup_string(&n->exec, sc->exec) | dup_strv(&n->argv, sc->argv) |
             dup_string(&n->user, sc->user) | dup_string(&n->group, sc->group) |
             dup_string(&n->workdir, sc->workdir) | dup_strv(&n->environment, sc->environment) |
             dup_string(&n->environment_file, sc->environment_file) |
             dup_strv(&n->after, sc->after) | dup_strv(&n->requires, sc->requires)) < 0)
                return service_config_free(n);
        return n;
}

/* Binary search over the name-sorted services. */
const struct service_config *config_find(const struct config *c, const char *name)
{
        size_t lo = 0, hi = c ? c->n_services : 0;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(name, c->services[mid]->name);

                if (cmp == 0)
                        return c->services[mid];
                if (cmp < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

static bool limits_equal(const struct config_rlimit *a, const struct config_rlimit *b)
{
        for (unsigned i = 0; i < _LIMIT_MAX; i++) {
                if (a[i].set != b[i].set || a[i].resource != b[i].resource)
                        return false;
                if (a[i].set && (a[i].value.rlim_cur != b[i].value.rlim_cur ||
                                 a[i].value.rlim_max != b[i].value.rlim_max))
                        return false;
        }
        return true;
}

/* Fields that shape the spawned process: a change needs a restart. */
bool service_config_spawn_equal(const struct service_config *a, const struct service_config *b)
{
        /* argv, not the exec line: re-spacing or re-quoting it restarts nothing. */
        return strv_equal(a->argv, b->argv) && a->type == b->type && streq_ptr(a->user, b->user) &&
               streq_ptr(a->group, b->group) && streq_ptr(a->workdir, b->workdir) &&
               a->umask_set == b->umask_set && (!a->umask_set || a->umask == b->umask) &&
               strv_equal(a->environment, b->environment) && a->output_set == b->output_set &&
               (!a->output_set || a->output == b->output) && a->no_new_privs == b->no_new_privs &&
               limits_equal(a->limits, b->limits) && a->ready_fd == b->ready_fd &&
               a->watchdog == b->watchdog;
}

/* Every field. */
bool service_config_equal(const struct service_config *a, const struct service_config *b)
{
        return service_config_spawn_equal(a, b) && streq_ptr(a->exec, b->exec) &&
               streq_ptr(a->name, b->name) &&
               streq_ptr(a->file, b->file) && a->restart == b->restart &&
               a->restart_delay == b->restart_delay &&
               a->restart_max_delay == b->restart_max_delay &&
               a->start_limit_burst == b->start_limit_burst &&
               a->start_limit_interval == b->start_limit_interval &&
               a->stop_signal == b->stop_signal && a->stop_timeout == b->stop_timeout &&
               streq_ptr(a->environment_file, b->environment_file) &&
               a->log_max_size == b->log_max_size && a->log_keep == b->log_keep &&
               a->enabled == b->enabled && a->kill_mode == b->kill_mode &&
               a->ready_timeout == b->ready_timeout && strv_equal(a->after, b->after) &&
               strv_equal(a->requires, b->requires);
}

static int default_path(const char *root_path, const char *user_rel, char **ret)
{
        const char *xdg;
        char *p;

        if (geteuid() == 0)
                p = strdup(root_path);
        else {
                xdg = getenv("XDG_RUNTIME_DIR");
                if (!xdg || xdg[0] != '/')
                        return -ENXIO;
                if (asprintf(&p, "%s/tend/%s", xdg, user_rel) < 0)
                        p = NULL;
        }
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

/* /run/tend/tend.sock for root, else $XDG_RUNTIME_DIR/tend/tend.sock. */
int config_default_socket_path(char **ret)
{
        return default_path("/run/tend/tend.sock", "tend.sock", ret);
}

/* /var/log/tend for root, else $XDG_RUNTIME_DIR/tend/log. */
int config_default_log_dir(char **ret)
{
        return default_path("/var/log/tend", "log", ret);
}

#define ENUM_TO_STRING(fn, type, table)                                                            \
        const char *fn(type v)                                                                     \
        {                                                                                          \
                return (unsigned)v < ELEMENTSOF(table) ? table[v] : NULL;                          \
        }

/* Names as written in service files; NULL when out of range. */
ENUM_TO_STRING(service_type_to_string, enum service_type, service_type_table)
ENUM_TO_STRING(restart_policy_to_string, enum restart_policy, restart_policy_table)
ENUM_TO_STRING(output_mode_to_string, enum output_mode, output_mode_table)
ENUM_TO_STRING(kill_mode_to_string, enum kill_mode, kill_mode_table)
