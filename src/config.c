/* config.c: load tend.ini and services/NAME.ini into a fresh struct config.
 *
 * Each file is read whole (config_read_file: regular files only, bounded in
 * size) and handed to the INI reader (inifile.h), which delivers its section
 * headers and "key = value" lines with their line numbers and exact values.
 * A table of keys (config-keys.c) gives each key its parser, field and
 * default; checks that involve several keys of a service follow, then the
 * environment is merged (env.h) and, once every service is loaded, the
 * dependencies are checked across services (config-deps.c). Every problem
 * is appended to one error list; parsing always continues. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "config-deps.h"
#include "config-keys.h"
#include "config-load.h"
#include "env.h"
#include "inifile.h"
#include "parse.h"
#include "paths.h"

/* Room left in execve's budget for what tendd adds to a service's own
 * arguments and environment: PATH, HOME, USER, LOGNAME, SHELL,
 * NOTIFY_SOCKET, WATCHDOG_*, the program's path. */
#define EXEC_RESERVE (16 << 10)

/* Position of the key called name in f's table, or SIZE_MAX. */
static size_t config_key_index(const struct config_file_ctx *f, const char *name)
{
        for (size_t i = 0; i < f->n_keys; i++)
                if (strcmp(f->keys[i].name, name) == 0)
                        return i;
        return SIZE_MAX;
}

static const char *config_file_type_name(mode_t m)
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
static int config_file_slurp(struct config_scratch *s, int fd, off_t size, size_t *ret_len)
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
 * file of the load together, into s. Returns 0, -ENOMEM, or -EINVAL (-ENOENT:
 * no such file) with the reason in why. */
static int config_read_file(struct config_load_ctx *l, int dfd, const char *path,
                            struct config_scratch *s, size_t *ret_len, char *why, size_t why_len)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        /* O_NONBLOCK: a FIFO (or a device) in its place must not hang the
         * load, which runs inside tendd's loop on a reload. */
        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = errno;
                snprintf(why, why_len, "cannot open: %s", strerror(r));
                return r == ENOENT ? -ENOENT : -EINVAL;
        }
        if (fstat(fd, &st) < 0) {
                snprintf(why, why_len, "cannot stat: %s", strerror(errno));
                return -EINVAL;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(why, why_len, "not a regular file (%s)",
                         config_file_type_name(st.st_mode));
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
        r = config_file_slurp(s, fd, st.st_size, ret_len);
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
static int config_file_open(struct config_file_ctx *f, int dfd, const char *path)
{
        char why[256];
        int r;

        r = config_read_file(f->load, dfd, path, &f->load->text, &f->text_len, why, sizeof why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                config_whole_file_error(f->load, f->display, "%s", why);
                return f->load->oom ? -ENOMEM : 0;
        }
        f->text = f->load->text.buf;
        f->have_text = true;
        return 0;
}

/* Reading a template: keep the text of the file f just opened, with where
 * it is (f->collect). 0 or -ENOMEM. */
static int config_template_push(struct config_file_ctx *f)
{
        struct config_template *t = f->collect;

        if (strv_push(&t->texts, strndup(f->text, f->text_len)) < 0 ||
            strv_push(&t->of, strdup(f->instance ? f->instance : "")) < 0 ||
            strv_push(&t->displays, strdup(f->display)) < 0 ||
            strv_push(&t->dirs, strdup(f->dir)) < 0 ||
            strv_push(&t->display_dirs, strdup(f->display_dir)) < 0)
                return -ENOMEM;
        return 0;
}

static void config_file_done(struct config_file_ctx *f)
{
        f->seen = NULL;
        f->set_line = NULL;
        f->set_file = NULL;
        f->failed = NULL;
        strv_free(f->displays);
        f->displays = NULL;
        f->n_displays = f->displays_cap = 0;
        free(f->envf_where);
        f->envf_where = NULL;
        f->n_envf_where = f->envf_where_cap = 0;
}

/* Where key i was last set: its line (0: never), with f->display made the
 * file that set it (the main file when never), so that a message about the
 * key as a whole names the right file. */
static unsigned config_where(struct config_file_ctx *f, size_t i)
{
        unsigned line = f->set_line[i];

        if (f->n_displays > 0)
                f->display = f->displays[line ? f->set_file[i] : 0];
        return line;
}

/* What the INI reader's callbacks return: go on, or stop when out of memory. */
static int config_file_status(const struct config_file_ctx *f)
{
        return f->load->oom ? -ENOMEM : 0;
}

/* A section header: only f->section is taken. */
static int config_file_section(const char *name, unsigned line, void *userdata)
{
        struct config_file_ctx *f = userdata;
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];

        if (strcmp(name, f->section) == 0)
                return 1;
        (void)config_file_error(f, line, NULL, "unknown section [%s] (expected [%s])",
                                config_shown(name, buf), f->section);
        return config_file_status(f);
}

/* A line the INI reader could not make sense of. */
static int config_file_syntax(unsigned line, const char *message, void *userdata)
{
        struct config_file_ctx *f = userdata;

        (void)config_file_error(f, line, NULL, "%s", message);
        return config_file_status(f);
}

/* value (of len bytes) with the specifiers substituted, into *ret (of
 * *ret_len bytes, NUL-terminated): %i the instance, %n the full name, %% a
 * '%'; any other is reported. *ret_spec: %i or %n was used. */
static int config_file_specifiers(struct config_file_ctx *f, unsigned line, const char *key,
                                  const char *value, size_t len, char **ret, size_t *ret_len,
                                  bool *ret_spec)
{
        size_t il = strlen(f->instance), nl = strlen(f->unit), n = 0, cap = len + 1;
        _cleanup_free_ char *out = NULL;

        *ret_spec = false;
        for (size_t i = 0; i + 1 < len; i++)
                if (value[i] == '%' && (value[i + 1] == 'i' || value[i + 1] == 'n'))
                        cap += (value[i + 1] == 'i' ? il : nl);
        out = malloc(cap);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                char c = i + 1 < len ? value[i + 1] : '\0';

                if (value[i] != '%') {
                        out[n++] = value[i];
                        continue;
                }
                if (c == 'i' || c == 'n') {
                        memcpy(out + n, c == 'i' ? f->instance : f->unit, c == 'i' ? il : nl);
                        n += c == 'i' ? il : nl;
                        *ret_spec = true;
                } else if (c == '%')
                        out[n++] = '%';
                else if (i + 1 == len)
                        return config_file_error(f, line, key,
                                                 "'%%' at the end of the value (a literal '%%' "
                                                 "is written %%%%)");
                else if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                        return config_file_error(f, line, key,
                                                 "unknown specifier '%%%c' (known: %%i the "
                                                 "instance, %%n the full name, %%%% a '%%')",
                                                 c);
                else
                        return config_file_error(f, line, key,
                                                 "unknown specifier: '%%' followed by byte 0x%02x "
                                                 "(known: %%i, %%n, %%%%)",
                                                 (unsigned char)c);
                i++;
        }
        out[n] = '\0';
        *ret = TAKE_PTR(out);
        *ret_len = n;
        return 0;
}

/* key = value: find the key in the table and run its parser. */
static int config_file_key(const char *section, const char *name, const char *value,
                           size_t value_len, unsigned line, void *userdata)
{
        struct config_file_ctx *f = userdata;
        const struct config_key *k;
        size_t i = config_key_index(f, name);
        _cleanup_free_ char *expanded = NULL;
        bool spec = false;
        int r;

        if (!section) {
                (void)config_file_error(f, line, name, "key outside of the [%s] section",
                                        f->section);
                return config_file_status(f);
        }
        if (i == SIZE_MAX) {
                (void)config_file_error(f, line, name, "unknown key");
                return config_file_status(f);
        }
        if (f->seen[i] && !f->keys[i].repeatable) {
                (void)config_file_error(f, line, name, "duplicate key (first set on line %u)",
                                        f->seen[i]);
                return config_file_status(f);
        }
        k = &f->keys[i];
        if (!f->seen[i])
                f->seen[i] = line;
        f->set_line[i] = line;
        f->set_file[i] = f->n_displays > 0 ? (unsigned)(f->n_displays - 1) : 0;
        if (f->instance && memchr(value, '%', value_len)) {
                r = config_file_specifiers(f, line, name, value, value_len, &expanded, &value_len,
                                           &spec);
                if (r < 0) {
                        f->failed[i] = true;
                        if (r == -ENOMEM)
                                f->load->oom = true;
                        return config_file_status(f);
                }
                value = expanded;
        }
        /* A template checked on its own: a value made of its instance's
         * name is checked for each instance, where the name is known. */
        f->quiet = f->checking && spec;
        if (value_len == 0 && !k->empty)
                r = config_file_error(f, line, name, "empty value");
        else
                r = k->parse(f, k, line, value, (char *)f->target + k->offset);
        f->quiet = false;
        if (r == -ENOMEM)
                f->load->oom = true;
        if (r < 0)
                f->failed[i] = true;
        return config_file_status(f);
}

static const struct inifile_ops config_file_ops = {
        .section = config_file_section,
        .key = config_file_key,
        .error = config_file_syntax,
};

/* Zero the per-key state of f (seen, failed), then set the table's defaults. */
static int config_file_defaults(struct config_file_ctx *f)
{
        struct config_load_ctx *l = f->load;

        if (l->keys_cap < f->n_keys) {
                unsigned *seen = realloc(l->seen, f->n_keys * sizeof *seen), *line, *file;
                bool *failed;

                if (!seen)
                        return -ENOMEM;
                l->seen = seen;
                line = realloc(l->set_line, f->n_keys * sizeof *line);
                if (!line)
                        return -ENOMEM;
                l->set_line = line;
                file = realloc(l->set_file, f->n_keys * sizeof *file);
                if (!file)
                        return -ENOMEM;
                l->set_file = file;
                failed = realloc(l->failed, f->n_keys * sizeof *failed);
                if (!failed)
                        return -ENOMEM;
                l->failed = failed;
                l->keys_cap = f->n_keys;
        }
        f->seen = memset(l->seen, 0, f->n_keys * sizeof *f->seen);
        f->set_line = memset(l->set_line, 0, f->n_keys * sizeof *f->set_line);
        f->set_file = memset(l->set_file, 0, f->n_keys * sizeof *f->set_file);
        f->failed = memset(l->failed, 0, f->n_keys * sizeof *f->failed);
        return config_file_apply_defaults(f);
}

/* Set the table defaults, then parse the open file. */
static int config_file_parse(struct config_file_ctx *f)
{
        int r = config_file_defaults(f);

        if (r < 0)
                return r;
        if (f->have_text)
                (void)inifile_parse_buffer(f->text, f->text_len, &config_file_ops, f);
        return config_file_status(f);
}

/* An environment file being read into a service's environment. */
struct config_env_file {
        struct config_file_ctx *f;
        unsigned line; /* of environment_file= */
        const char *path;
        char ***env;
        size_t *n, *cap;
};

/* One line of the environment file: append its entry, or report it. */
static int config_env_file_line(unsigned lineno, char *entry, const char *reason, void *userdata)
{
        struct config_env_file *e = userdata;
        int r;

        if (entry && strlen(entry) >= CONFIG_EXEC_STRING_MAX) {
                free(TAKE_PTR(entry));
                reason = "variable longer than 128 KiB (execve's limit)";
        }
        if (entry)
                return strv_append(e->env, e->n, e->cap, entry);
        r = config_file_error(e->f, e->line, "environment_file", "%s:%u: %s", e->path, lineno,
                              reason);
        return r == -ENOMEM ? r : 0;
}

/* Read environment_file entry path (set on line; "-" before it: optional)
 * into env, of length *n and room *cap. */
static int config_read_environment_file(struct config_file_ctx *f, unsigned line, const char *path,
                                        char ***env, size_t *n, size_t *cap)
{
        bool optional = path[0] == '-';
        struct config_env_file e = { f, line, path + optional, env, n, cap };
        struct config_load_ctx *l = f->load;
        char why[256];
        size_t len;
        int r;

        r = config_read_file(l, AT_FDCWD, path + optional, &l->env, &len, why, sizeof why);
        if (r == -ENOENT && optional)
                return 0; /* an optional file that is not there */
        if (r == -EINVAL || r == -ENOENT)
                return config_file_error(f, line, "environment_file", "'%s': %s", path + optional,
                                         why);
        if (r < 0)
                return r;
        return env_parse_file(l->env.buf, len, config_env_file_line, &e);
}

/* pass_environment's variables that tendd has, as "KEY=VALUE" entries. */
static int config_pass_environment(char *const *names, char ***ret)
{
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0, cap = 0;

        for (; names && *names; names++) {
                const char *value = getenv(*names);
                char *entry;
                int r;

                if (!value)
                        continue; /* unset: skipped */
                if (asprintf(&entry, "%s=%s", *names, value) < 0)
                        return -ENOMEM;
                r = strv_append(&v, &n, &cap, entry);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* pass_environment first, then each environment_file in order, then
 * environment= in order; one entry per key, later wins. Done once here, so
 * that a spawn only copies the result. The result is never NULL. */
static int config_merge_environment(struct config_file_ctx *f, struct service_config *sc)
{
        _cleanup_strv_free_ char **env = NULL;
        char **passed = NULL;
        size_t n = 0, cap = 1, k = 0;
        const char *display = f->display;
        int r;

        env = calloc(1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        r = config_pass_environment(sc->pass_environment, &passed);
        if (r >= 0)
                r = env_merge(&env, &n, &cap, passed);
        if (r < 0)
                return r;
        for (char **p = sc->environment_files; p && *p; p++, k++) {
                _cleanup_strv_free_ char **file = NULL;
                size_t fn = 0, fcap = 0;
                unsigned line = 0;

                if (k < f->n_envf_where) {
                        line = f->envf_where[k].line;
                        if (f->envf_where[k].file < f->n_displays)
                                f->display = f->displays[f->envf_where[k].file];
                }
                r = config_read_environment_file(f, line, *p, &file, &fn, &fcap);
                f->display = display;
                if (r == -ENOMEM)
                        return r;
                r = env_merge(&env, &n, &cap, TAKE_PTR(file));
                if (r < 0)
                        return r;
        }
        r = env_merge(&env, &n, &cap, TAKE_PTR(sc->environment));
        if (r < 0)
                return r;
        sc->environment = TAKE_PTR(env);
        return 0;
}

/* The health keys together: one probe, a oneshot has none, no zero
 * interval, timeout or retries. */
static void config_check_health(struct config_file_ctx *f, struct service_config *sc)
{
        static const char *const positive[] = { "health_interval", "health_timeout",
                                                "health_retries" };
        static const char *const kinds[] = { "health_tcp", "health_http", "health_exec" };
        const char *set[3] = { sc->health_tcp, sc->health_http, sc->health_exec };
        const char *first = NULL;
        bool has = false;

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                if (!set[i])
                        continue;
                if (first)
                        (void)config_file_error(f, config_where(f, config_key_index(f, kinds[i])),
                                                kinds[i],
                                                "a service has one health check: %s is set too",
                                                first);
                else
                        first = kinds[i];
                has = true;
        }
        if (has && sc->type == SERVICE_ONESHOT) {
                const char *key = first;

                (void)config_file_error(f, config_where(f, config_key_index(f, key)), key,
                                        "type=oneshot has no health check (it is done when it "
                                        "exits)");
        }
        for (size_t i = 0; i < ELEMENTSOF(positive); i++) {
                size_t k = config_key_index(f, positive[i]);
                bool zero = i == 2 ? sc->health_retries == 0
                                   : (i == 0 ? sc->health_interval : sc->health_timeout) == 0;

                if (zero && !f->failed[k])
                        (void)config_file_error(f, config_where(f, k), positive[i],
                                                "must be more than 0");
        }
}

/* A hook's or health_exec's command line: with expand = yes expanded word
 * by word as exec is, only to report what would not expand (the command
 * is split and expanded again each time it runs, from the same
 * environment); then its program checked as exec's is (its parser leaves
 * that for here when a word has "${"). */
static int config_expand_command(struct config_file_ctx *f, const char *key, const char *line_text,
                                 bool expand, char *const *env)
{
        size_t k = config_key_index(f, key);
        _cleanup_strv_free_ char **argv = NULL;
        unsigned line;
        int r;

        if (!line_text || f->failed[k])
                return 0;
        line = config_where(f, k);
        r = shell_split(line_text, &argv);
        if (r < 0)
                return r == -ENOMEM ? r : 0; /* reported by its parser */
        r = expand ? config_expand_strv(f, line, key, env, &argv) : 0;
        if (r >= 0)
                r = config_keys_check_argv(f, line, key, argv);
        return r == -ENOMEM ? r : 0;
}

/* expand = yes: ${VAR} in exec's words and in workdir, from the merged
 * environment; then the checks their parsers left for after it. The hooks'
 * and health_exec's command lines are checked the same way. */
static int config_expand_service(struct config_file_ctx *f, struct service_config *sc)
{
        size_t e = config_key_index(f, "exec"), w = config_key_index(f, "workdir");
        const char *const commands[][2] = {
                { "exec_start_post", sc->exec_start_post },
                { "exec_stop", sc->exec_stop },
                { "exec_reload", sc->exec_reload },
                { "exec_stop_post", sc->exec_stop_post },
                { "health_exec", sc->health_exec },
        };
        unsigned line;
        int r;

        for (char **c = sc->exec_start_pre; c && *c; c++) {
                r = config_expand_command(f, "exec_start_pre", *c, sc->expand, sc->environment);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                r = config_expand_command(f, commands[i][0], commands[i][1], sc->expand,
                                          sc->environment);
                if (r < 0)
                        return r;
        }

        if (sc->argv && !f->failed[e]) {
                line = config_where(f, e);
                r = sc->expand ? config_expand_strv(f, line, "exec", sc->environment, &sc->argv)
                               : 0;
                if (r >= 0)
                        r = config_keys_check_argv(f, line, "exec", sc->argv);
                if (r == -ENOMEM)
                        return r;
        }
        if (sc->workdir && !f->failed[w]) {
                line = config_where(f, w);
                r = sc->expand ? config_expand_string(f, line, "workdir", sc->environment,
                                                      &sc->workdir)
                               : 0;
                if (r >= 0)
                        r = config_keys_check_absolute(f, line, "workdir", sc->workdir);
                if (r == -ENOMEM)
                        return r;
        }
        return f->load->oom ? -ENOMEM : 0;
}

/* Checks that involve more than one key. */
static int config_check_service(struct config_file_ctx *f, struct service_config *sc)
{
        size_t d = config_key_index(f, "restart_delay"),
               m = config_key_index(f, "restart_max_delay");

        if (!config_where(f, config_key_index(f, "exec")))
                (void)config_file_error(f, 0, "exec", "required key is missing");
        if (!f->failed[d] && !f->failed[m] && sc->restart_delay > sc->restart_max_delay) {
                char a[32], b[32];
                bool on_delay = f->set_line[d] != 0;

                (void)config_file_error(f, config_where(f, on_delay ? d : m),
                                        on_delay ? "restart_delay" : "restart_max_delay",
                                        "restart_delay %s is greater than restart_max_delay %s",
                                        format_duration(a, sizeof a, sc->restart_delay),
                                        format_duration(b, sizeof b, sc->restart_max_delay));
        }
        if (sc->watchdog > 0 && sc->type != SERVICE_NOTIFY)
                (void)config_file_error(f, config_where(f, config_key_index(f, "watchdog")),
                                        "watchdog",
                                        "needs type=notify (pings arrive as WATCHDOG=1)");
        if (sc->ready_fd >= 0 && sc->type != SERVICE_SIMPLE)
                (void)config_file_error(f, config_where(f, config_key_index(f, "ready_fd")),
                                        "ready_fd",
                                        "only for type=simple (type=%s has its own readiness)",
                                        service_type_to_string(sc->type));
        config_check_health(f, sc);
        if (sc->exec_start_post && sc->type == SERVICE_ONESHOT)
                (void)config_file_error(
                        f, config_where(f, config_key_index(f, "exec_start_post")),
                        "exec_start_post",
                        "not for type=oneshot (a oneshot is done when it exits: put the command "
                        "after it, or in a service that follows it)");
        return f->load->oom ? -ENOMEM : 0;
}

static uint64_t config_exec_size(char *const *v)
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
static int config_check_exec_size(struct config_file_ctx *f, struct service_config *sc)
{
        const struct config_rlimit *rl = &sc->limits[LIMIT_STACK];
        uint64_t argv = config_exec_size(sc->argv), env = config_exec_size(sc->environment);
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
                key = sc->environment_files ? "environment_file" : "environment";
        if (budget == CONFIG_EXEC_MAX)
                return config_file_error(f, config_where(f, config_key_index(f, key)), key,
                                         "arguments and environment take %llu bytes, more than the "
                                         "%d MiB a service may have",
                                         (unsigned long long)total, CONFIG_EXEC_MAX >> 20);
        return config_file_error(
                f, config_where(f, config_key_index(f, key)), key,
                "arguments and environment take %llu bytes, more than execve allows "
                "with %s%s (%llu)",
                (unsigned long long)total, rl->set ? "limit_stack = " : "tendd's stack limit ",
                format_size(b, sizeof b, stack), (unsigned long long)budget);
}

static void config_closedirp(DIR **d)
{
        if (*d)
                (void)closedir(*d);
}

static int config_name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The two layers of service files, in the order a drop-in's tie is decided. */
enum config_layer { LAYER_ADMIN, LAYER_VENDOR, _LAYER_MAX };

/* A file or directory found in a services directory or a drop-in directory. */
struct config_entry {
        char *name;         /* a service's name (NAME.ini), or a drop-in's file name */
        unsigned char type; /* d_type */
        unsigned char layer;
};

/* What one services directory holds: NAME.ini entries (name without .ini)
 * and NAME.ini.d names (without .ini.d), each sorted by name. */
struct config_dir {
        DIR *d;
        struct config_entry *ini;
        size_t n_ini, cap_ini;
        char **dropins;
        size_t n_dropins, cap_dropins;
};

/* A service to load: where its main file is, which layers have drop-ins. */
struct config_unit {
        const char *name;
        enum config_layer layer;
        bool dropins[_LAYER_MAX];
};

static void config_entries_free(struct config_entry *e, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(e[i].name);
        free(e);
}

static void config_dir_done(struct config_dir *cd)
{
        if (cd->d)
                (void)closedir(cd->d);
        config_entries_free(cd->ini, cd->n_ini);
        strv_free(cd->dropins);
        *cd = (struct config_dir){};
}

static int config_entry_push(struct config_entry **v, size_t *n, size_t *cap, char *name,
                             unsigned char type, enum config_layer layer)
{
        if (!name)
                return -ENOMEM;
        if (*n == *cap) {
                size_t c = *cap ? 2 * *cap : 16;
                struct config_entry *nv = realloc(*v, c * sizeof *nv);

                if (!nv) {
                        free(name);
                        return -ENOMEM;
                }
                *v = nv;
                *cap = c;
        }
        (*v)[(*n)++] = (struct config_entry){ name, type, (unsigned char)layer };
        return 0;
}

static int config_entry_cmp(const void *a, const void *b)
{
        const struct config_entry *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c != 0 ? c : (int)x->layer - (int)y->layer;
}

static bool config_has_suffix(const char *s, size_t n, const char *suffix, size_t sn)
{
        return n > sn && memcmp(s + n - sn, suffix, sn) == 0;
}

/* True if name (in dfd; type its d_type) is a symbolic link to /dev/null:
 * a mask. Only then is anything but a readdir() spent on it. */
static bool config_is_mask(int dfd, const char *name, unsigned char type)
{
        struct stat st;

        if (type != DT_LNK && type != DT_UNKNOWN)
                return false;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
                return false;
        return fstatat(dfd, name, &st, 0) == 0 && S_ISCHR(st.st_mode) &&
               st.st_rdev == makedev(1, 3);
}

/* Read the open services directory cd->d: its NAME.ini and NAME.ini.d
 * entries, sorted. -ENOMEM, -errno of readdir(), or 0. */
static int config_dir_scan(struct config_dir *cd, enum config_layer layer)
{
        struct dirent *de;
        int r;

        while ((errno = 0, de = readdir(cd->d))) {
                size_t n = strlen(de->d_name);

                /* Appended, not strv_push'd: 10,000 names must not cost 50
                 * million steps of strv_length. ".ini" itself too: it is
                 * reported as an invalid (empty) name. */
                if (n >= 4 && strcmp(de->d_name + n - 4, ".ini") == 0)
                        r = config_entry_push(&cd->ini, &cd->n_ini, &cd->cap_ini,
                                              strndup(de->d_name, n - 4), de->d_type, layer);
                else if (config_has_suffix(de->d_name, n, ".ini.d", 6))
                        r = strv_append(&cd->dropins, &cd->n_dropins, &cd->cap_dropins,
                                        strndup(de->d_name, n - 6));
                else
                        continue;
                if (r < 0)
                        return r;
        }
        /* Not the end: a list cut short would load as fewer services. */
        if (errno != 0)
                return -errno;
        if (cd->n_ini > 0)
                qsort(cd->ini, cd->n_ini, sizeof *cd->ini, config_entry_cmp);
        if (cd->n_dropins > 0)
                qsort(cd->dropins, cd->n_dropins, sizeof(char *), config_name_cmp);
        return 0;
}

/* A new config for service name (file fname in dir), as it is before any key. */
static struct service_config *config_service_new(const char *dir, const char *name,
                                                 const char *fname)
{
        _cleanup_(service_config_freep) struct service_config *sc = calloc(1, sizeof *sc);

        if (!sc)
                return NULL;
        sc->name = strdup(name);
        sc->file = path_join(dir, fname);
        /* Exactly one: most services have no drop-ins, and 10,000 of them
         * must not hold room for more. */
        sc->files = calloc(2, sizeof(char *));
        if (!sc->name || !sc->file || !sc->files || !(sc->files[0] = strdup(sc->file)))
                return NULL;
        config_keys_init_limits(sc);
        return TAKE_PTR(sc);
}

/* The drop-ins of unit u in layer's NAME.ini.d, appended to e (file names,
 * with their layer); dfds[layer] keeps the directory open. Problems are
 * reported against the directory. 0 or -ENOMEM. */
static int config_dropins_scan(struct config_load_ctx *l, const struct config_unit *u,
                               enum config_layer layer, int parent_dfd, const char *display,
                               int *ret_dfd, struct config_entry **e, size_t *n, size_t *cap)
{
        _cleanup_free_ char *dname = NULL, *ddisplay = NULL;
        _cleanup_(config_closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd, r;

        if (asprintf(&dname, "%s.ini.d", u->name) < 0)
                return -ENOMEM;
        ddisplay = path_join(display, dname);
        if (!ddisplay)
                return -ENOMEM;
        fd = openat(parent_dfd, dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                config_whole_file_error(l, ddisplay, "%s",
                                        errno == ENOTDIR ? "not a directory" : strerror(errno));
                return l->oom ? -ENOMEM : 0;
        }
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                (void)close(fd);
                return r;
        }
        while ((errno = 0, de = readdir(d))) {
                size_t len = strlen(de->d_name);

                /* Hidden files (an editor's, a half-written one) are not drop-ins. */
                if (de->d_name[0] == '.' || !config_has_suffix(de->d_name, len, ".ini", 4))
                        continue;
                r = config_entry_push(e, n, cap, strdup(de->d_name), de->d_type, layer);
                if (r < 0)
                        return r;
        }
        if (errno != 0) {
                config_whole_file_error(l, ddisplay, "cannot read directory: %s", strerror(errno));
                return l->oom ? -ENOMEM : 0;
        }
        *ret_dfd = fcntl(dirfd(d), F_DUPFD_CLOEXEC, 3); /* closedir() closes its own */
        if (*ret_dfd < 0)
                return -errno;
        return 0;
}

/* Parse u's drop-ins into f's service, after its main file: from both
 * layers, a vendor drop-in replaced (or, by a link to /dev/null, masked)
 * by the admin's of the same file name, in lexical order of file name. */
static int config_load_dropins(struct config_file_ctx *f, struct service_config *sc,
                               const struct config_unit *u, const int layer_dfds[_LAYER_MAX],
                               char *const dirs[_LAYER_MAX], char *const displays[_LAYER_MAX])
{
        struct config_load_ctx *l = f->load;
        struct config_entry *e = NULL;
        size_t n = 0, cap = 0, n_files = 1, files_cap = 0;
        int dfds[_LAYER_MAX] = { -1, -1 };
        int r = 0;

        for (int layer = 0; layer < _LAYER_MAX; layer++)
                if (u->dropins[layer]) {
                        r = config_dropins_scan(l, u, layer, layer_dfds[layer], displays[layer],
                                                &dfds[layer], &e, &n, &cap);
                        if (r < 0)
                                goto finish;
                }
        if (n > 1)
                qsort(e, n, sizeof *e, config_entry_cmp);
        files_cap = n_files + 1; /* what config_service_new() made room for */
        for (size_t i = 0; i < n; i++) {
                const struct config_entry *x = &e[i];
                _cleanup_free_ char *rel = NULL;
                char *display;

                /* The admin's comes first in a tie; the vendor's of that name is gone. */
                if (i > 0 && strcmp(e[i - 1].name, x->name) == 0)
                        continue;
                if (x->layer == LAYER_ADMIN && config_is_mask(dfds[LAYER_ADMIN], x->name, x->type))
                        continue;
                if (asprintf(&rel, "%s.ini.d/%s", u->name, x->name) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
                display = path_join(displays[x->layer], rel);
                r = strv_append(&f->displays, &f->n_displays, &f->displays_cap, display);
                if (r >= 0)
                        r = strv_append(&sc->files, &n_files, &files_cap,
                                        path_join(dirs[x->layer], rel));
                if (r < 0)
                        goto finish;
                f->display = display;
                f->dir = dirs[x->layer];
                f->display_dir = displays[x->layer];
                f->have_text = false;
                r = config_file_open(f, dfds[x->layer], x->name);
                if (r < 0)
                        goto finish;
                if (f->have_text && f->collect) {
                        r = config_template_push(f);
                        if (r < 0)
                                goto finish;
                } else if (f->have_text) {
                        memset(f->seen, 0, f->n_keys * sizeof *f->seen);
                        (void)inifile_parse_buffer(f->text, f->text_len, &config_file_ops, f);
                }
                r = config_file_status(f);
                if (r < 0)
                        goto finish;
        }
finish:
        for (int layer = 0; layer < _LAYER_MAX; layer++)
                if (dfds[layer] >= 0)
                        (void)close(dfds[layer]);
        config_entries_free(e, n);
        return r;
}

static const struct config_template *config_template_named(const struct config *c,
                                                           const char *name);

/* Load unit u: its main file, then its drop-ins; *ret is NULL when a file
 * had errors. */
static int config_load_service(struct config_load_ctx *l, const struct config_unit *u,
                               const int dfds[_LAYER_MAX], char *const dirs[_LAYER_MAX],
                               char *const displays[_LAYER_MAX], struct service_config **ret)
{
        _cleanup_(service_config_freep) struct service_config *sc = NULL;
        _cleanup_free_ char *fname = NULL;
        size_t n_errors = config_errors_count(l);
        struct config_file_ctx f = {
                .load = l,
                .dir = dirs[u->layer],
                .display_dir = displays[u->layer],
                .section = "service",
                .keys = config_keys_service,
                .n_keys = config_keys_n_service,
        };
        int r;

        *ret = NULL;
        if (asprintf(&fname, "%s.ini", u->name) < 0)
                return -ENOMEM;
        sc = config_service_new(dirs[u->layer], u->name, fname);
        if (!sc || strv_append(&f.displays, &f.n_displays, &f.displays_cap,
                               path_join(displays[u->layer], fname)) < 0) {
                config_file_done(&f);
                return -ENOMEM;
        }
        f.display = f.displays[0];
        if (!service_name_is_valid(u->name)) {
                config_whole_file_error(l, f.display,
                                        "invalid service name '%s' (1-%d characters of A-Z a-z "
                                        "0-9 _ . @ -, not starting with '.')",
                                        u->name, SERVICE_NAME_MAX);
                config_file_done(&f);
                return l->oom ? -ENOMEM : 0;
        }
        if (service_template_len(u->name) > 0 && config_template_named(l->conf, u->name)) {
                if (!service_name_is_instance(u->name)) {
                        config_whole_file_error(l, f.display,
                                                "invalid instance name '%s' (an instance of "
                                                "%.*s.ini is NAME@X with X not empty and "
                                                "without '@')",
                                                u->name + service_template_len(u->name),
                                                (int)service_template_len(u->name), u->name);
                        config_file_done(&f);
                        return l->oom ? -ENOMEM : 0;
                }
                /* Its own file replaces the template whole, specifiers included. */
                f.instance = u->name + service_template_len(u->name);
                f.unit = u->name;
        }
        f.target = sc;
        r = config_file_open(&f, dfds[u->layer], fname);
        if (r >= 0 && f.have_text)
                r = config_file_parse(&f);
        if (r >= 0 && f.have_text && (u->dropins[LAYER_ADMIN] || u->dropins[LAYER_VENDOR]))
                r = config_load_dropins(&f, sc, u, dfds, dirs, displays);
        if (r >= 0 && f.have_text) {
                r = config_check_service(&f, sc);
                if (r >= 0)
                        r = config_merge_environment(&f, sc);
                if (r >= 0)
                        r = config_expand_service(&f, sc);
                if (r >= 0)
                        r = config_check_exec_size(&f, sc);
        }
        config_file_done(&f);
        if (r == -ENOMEM || l->oom)
                return -ENOMEM;
        if (f.have_text && config_errors_count(l) == n_errors)
                *ret = TAKE_PTR(sc);
        return 0;
}

/* The template of c (may be NULL) that makes the instance name, or NULL. */
static const struct config_template *config_template_named(const struct config *c, const char *name)
{
        size_t n = service_template_len(name), lo = 0, hi = c && n > 0 ? c->n_templates : 0;

        /* Sorted by name, as the files are read. */
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                const char *t = c->templates[mid]->name;
                int cmp = strncmp(t, name, n);

                if (cmp == 0 && t[n] == '\0')
                        return c->templates[mid];
                if (cmp < 0)
                        lo = mid + 1;
                else
                        hi = mid; /* equal prefix, longer: after */
        }
        return NULL;
}

/* See config.h. */
const struct config_template *config_find_template(const struct config *c, const char *name)
{
        const struct config_template *t =
                service_name_is_instance(name) ? config_template_named(c, name) : NULL;

        if (t && strv_contains(t->masked, name + strlen(t->name)))
                return NULL;
        return t;
}

/* Parse the instance name of template t into *ret: each of t's files in
 * order, with the specifiers substituted. checking: t on its own (name is
 * t's own, %i a placeholder), a value made with %i or %n is not checked,
 * nor an environment file read. *ret NULL when an error was reported. */
static int config_instance_parse(struct config_load_ctx *l, const struct config_template *t,
                                 const char *name, bool checking, struct service_config **ret)
{
        _cleanup_(service_config_freep) struct service_config *sc = calloc(1, sizeof *sc);
        size_t n_errors = config_errors_count(l), n_files = strv_length(t->files);
        struct config_file_ctx f = {
                .load = l,
                .section = "service",
                .keys = config_keys_service,
                .n_keys = config_keys_n_service,
                .instance = checking ? "x" : name + strlen(t->name),
                .unit = name,
                .checking = checking,
                .tell_instance = !checking,
        };
        int r = 0;

        *ret = NULL;
        if (!sc)
                return -ENOMEM;
        sc->name = strdup(name);
        sc->file = strdup(t->files[0]);
        sc->files = calloc(1, sizeof(char *));
        if (!sc->name || !sc->file || !sc->files)
                return -ENOMEM;
        config_keys_init_limits(sc);
        f.target = sc;
        for (size_t k = 0, used = 0; k < n_files && r >= 0; k++) {
                size_t len = strlen(t->texts[k]);

                /* Another instance's drop-in; the template alone has none. */
                if (t->of[k][0] && (checking || strcmp(t->of[k], f.instance) != 0))
                        continue;
                r = strv_append(&f.displays, &f.n_displays, &f.displays_cap,
                                strdup(t->displays[k]));
                if (r >= 0)
                        r = strv_push(&sc->files, strdup(t->files[k]));
                if (r < 0)
                        break;
                f.display = f.displays[used];
                f.dir = t->dirs[k];
                f.display_dir = t->display_dirs[k];
                if (l->text.cap < len + 1) {
                        char *b = realloc(l->text.buf, len + 1);

                        if (!b) {
                                r = -ENOMEM;
                                break;
                        }
                        l->text.buf = b;
                        l->text.cap = len + 1;
                }
                memcpy(l->text.buf, t->texts[k], len + 1);
                f.text = l->text.buf;
                f.text_len = len;
                f.have_text = true;
                if (used++ == 0)
                        r = config_file_parse(&f);
                else {
                        memset(f.seen, 0, f.n_keys * sizeof *f.seen);
                        (void)inifile_parse_buffer(f.text, f.text_len, &config_file_ops, &f);
                        r = config_file_status(&f);
                }
        }
        if (r >= 0)
                r = config_check_service(&f, sc);
        if (r >= 0 && !checking)
                r = config_merge_environment(&f, sc);
        if (r >= 0 && !checking)
                r = config_expand_service(&f, sc);
        if (r >= 0 && !checking)
                r = config_check_exec_size(&f, sc);
        config_file_done(&f);
        if (r == -ENOMEM || l->oom)
                return -ENOMEM;
        if (config_errors_count(l) != n_errors)
                return 0;
        if (!checking)
                sc->instances = strv_free(sc->instances);
        *ret = TAKE_PTR(sc);
        return 0;
}

static bool config_units_have(const struct config_unit *units, size_t n, const char *name);

/* Reading the template of f: the drop-ins of each of its instances
 * (NAME@X.ini.d/ of either layer) that has no NAME@X.ini of its own, kept
 * for that instance only; their paths go into sc->files after the
 * template's. */
static int config_load_instance_dropins(struct config_file_ctx *f, struct service_config *sc,
                                        const struct config_dir *cd,
                                        const struct config_unit *units, size_t n_units,
                                        const int dfds[_LAYER_MAX], char *const dirs[_LAYER_MAX],
                                        char *const displays[_LAYER_MAX])
{
        const char *tname = f->collect->name;
        size_t tlen = strlen(tname), idx[_LAYER_MAX] = {};
        int r = 0;

        /* Both layers' sorted names, merged. */
        for (;;) {
                const char *x = NULL;
                struct config_unit u = {};

                for (int layer = 0; layer < _LAYER_MAX; layer++)
                        if (idx[layer] < cd[layer].n_dropins &&
                            (!x || strcmp(cd[layer].dropins[idx[layer]], x) < 0))
                                x = cd[layer].dropins[idx[layer]];
                if (!x)
                        break;
                for (int layer = 0; layer < _LAYER_MAX; layer++)
                        if (idx[layer] < cd[layer].n_dropins &&
                            strcmp(cd[layer].dropins[idx[layer]], x) == 0) {
                                u.dropins[layer] = true;
                                idx[layer]++;
                        }
                if (strncmp(x, tname, tlen) != 0 || !service_name_is_instance(x) ||
                    config_units_have(units, n_units, x) ||
                    config_names_have(f->load->masked, f->load->n_masked, x))
                        continue;
                _cleanup_(service_config_freep) struct service_config *one =
                        config_service_new(dirs[LAYER_ADMIN], x, "-");

                if (!one)
                        return -ENOMEM;
                u.name = x;
                u.layer = LAYER_ADMIN;
                f->instance = x + tlen;
                r = config_load_dropins(f, one, &u, dfds, dirs, displays);
                f->instance = NULL;
                for (char **p = one->files + 1; r >= 0 && *p; p++)
                        r = strv_push(&sc->files, TAKE_PTR(*p));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Read template u (NAME@.ini and its drop-ins) into c->templates (room
 * made by the caller), checked on its own; problems are reported. */
static int config_load_template(struct config_load_ctx *l, struct config *c,
                                const struct config_unit *u, const struct config_dir *cd,
                                const struct config_unit *units, size_t n_units,
                                const int dfds[_LAYER_MAX], char *const dirs[_LAYER_MAX],
                                char *const displays[_LAYER_MAX])
{
        _cleanup_(config_template_freep) struct config_template *t = calloc(1, sizeof *t);
        _cleanup_(service_config_freep) struct service_config *sc = NULL, *checked = NULL;
        _cleanup_free_ char *fname = NULL;
        struct config_file_ctx f = {
                .load = l,
                .dir = dirs[u->layer],
                .display_dir = displays[u->layer],
                .section = "service",
                .keys = config_keys_service,
                .n_keys = config_keys_n_service,
                .collect = t,
        };
        int r;

        if (!t || !(t->name = strdup(u->name)) || asprintf(&fname, "%s.ini", u->name) < 0)
                return -ENOMEM;
        sc = config_service_new(dirs[u->layer], u->name, fname);
        if (!sc || strv_append(&f.displays, &f.n_displays, &f.displays_cap,
                               path_join(displays[u->layer], fname)) < 0) {
                config_file_done(&f);
                return -ENOMEM;
        }
        f.display = f.displays[0];
        f.target = sc;
        r = config_file_open(&f, dfds[u->layer], fname);
        if (r >= 0 && f.have_text)
                r = config_template_push(&f);
        if (r >= 0 && f.have_text && (u->dropins[LAYER_ADMIN] || u->dropins[LAYER_VENDOR]))
                r = config_load_dropins(&f, sc, u, dfds, dirs, displays);
        if (r >= 0 && f.have_text)
                r = config_load_instance_dropins(&f, sc, cd, units, n_units, dfds, dirs, displays);
        config_file_done(&f);
        if (r < 0 || l->oom)
                return -ENOMEM;
        /* A file that could not be read is reported; the template is not
         * used, and its lists would not be one entry per file. */
        if (!t->texts || strv_length(t->texts) != strv_length(sc->files))
                return 0;
        t->files = TAKE_PTR(sc->files);
        for (size_t i = 0; i < l->n_masked; i++)
                if (strncmp(l->masked[i], t->name, strlen(t->name)) == 0 &&
                    service_name_is_instance(l->masked[i]) &&
                    strv_push(&t->masked, strdup(l->masked[i] + strlen(t->name))) < 0)
                        return -ENOMEM;
        r = config_instance_parse(l, t, t->name, true, &checked);
        if (r < 0)
                return r;
        if (!checked)
                return 0;
        t->instances = TAKE_PTR(checked->instances);
        c->templates[c->n_templates++] = TAKE_PTR(t);
        return 0;
}

/* True if units[0..n) (sorted) has one called name. */
static bool config_units_have(const struct config_unit *units, size_t n, const char *name)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int cmp = strcmp(units[mid].name, name);

                if (cmp == 0)
                        return true;
                if (cmp < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return false;
}

/* Put sc (taken) into c's services, kept sorted. */
static int config_insert_service(struct config *c, struct service_config *sc)
{
        struct service_config **nv = realloc(c->services, (c->n_services + 1) * sizeof *nv);
        size_t i = c->n_services;

        if (!nv) {
                service_config_free(sc);
                return -ENOMEM;
        }
        c->services = nv;
        while (i > 0 && strcmp(nv[i - 1]->name, sc->name) > 0) {
                nv[i] = nv[i - 1];
                i--;
        }
        nv[i] = sc;
        c->n_services++;
        return 0;
}

/* Add to l->names (kept sorted) the names of the instances the templates'
 * instances= make, so that after= and requires= may name them; *ret_full
 * owns the strings. */
static int config_names_add_instances(struct config_load_ctx *l, const struct config *c,
                                      char ***ret_full)
{
        size_t n = 0, cap = 0, k = 0;
        char **full = NULL, **nv;

        *ret_full = NULL;
        for (size_t i = 0; i < c->n_templates; i++)
                for (char **x = c->templates[i]->instances; x && *x; x++) {
                        char *name;

                        if (asprintf(&name, "%s%s", c->templates[i]->name, *x) < 0)
                                name = NULL;
                        if (strv_append(&full, &n, &cap, name) < 0) {
                                strv_free(full);
                                return -ENOMEM;
                        }
                }
        *ret_full = full;
        if (n == 0)
                return 0;
        nv = realloc(l->names, (l->n_names + n + 1) * sizeof *nv);
        if (!nv)
                return -ENOMEM;
        l->names = nv;
        for (size_t i = 0; i < n; i++)
                if (!config_names_have(l->names, l->n_names, full[i]) &&
                    !config_names_have(l->masked, l->n_masked, full[i]))
                        l->names[l->n_names + k++] = full[i];
        l->n_names += k;
        l->names[l->n_names] = NULL;
        qsort(l->names, l->n_names, sizeof *l->names, config_name_cmp);
        return 0;
}

/* exit_with must name one of the services. */
static void config_check_exit_with(struct config_load_ctx *l, const struct config *c,
                                   const char *tend_display)
{
        if (!c->exit_with || config_names_have(l->names, l->n_names, c->exit_with))
                return;
        config_errorf(l, "%s:%u: exit_with: no service '%s' (no %s/%s.ini)", tend_display,
                      c->exit_with_line, c->exit_with, l->services_display, c->exit_with);
}

/* Open and read the services directory of layer (path, shown as display,
 * set by key on line of tend.ini) into cd. A vendor directory that does not
 * exist is none; anything else that goes wrong is reported. */
static int config_dir_open(struct config_load_ctx *l, struct config_dir *cd,
                           enum config_layer layer, const char *path, const char *display,
                           const char *tend_display, unsigned line)
{
        const char *key = layer == LAYER_ADMIN ? "services" : "vendor_services";
        int r;

        cd->d = opendir(path);
        if (!cd->d) {
                int e = errno;

                if (layer == LAYER_VENDOR && e == ENOENT)
                        return 0;
                config_errorf(l, "%s:%u: %s: cannot open directory '%s': %s", tend_display, line,
                              key, display, strerror(e));
                return l->oom ? -ENOMEM : -EINVAL;
        }
        r = config_dir_scan(cd, layer);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                config_errorf(l, "%s:%u: %s: cannot read directory '%s': %s", tend_display, line,
                              key, display, strerror(-r));
                return l->oom ? -ENOMEM : -EINVAL;
        }
        return 0;
}

/* Append name (not copied) to the NULL-terminated v of n, room cap. */
static int config_names_push(char ***v, size_t *n, size_t *cap, const char *name)
{
        if (*n + 2 > *cap) {
                size_t c = *cap ? 2 * *cap : 16;
                char **nv = realloc(*v, c * sizeof(char *));

                if (!nv)
                        return -ENOMEM;
                *v = nv;
                *cap = c;
        }
        (*v)[(*n)++] = (char *)name;
        (*v)[*n] = NULL;
        return 0;
}

/* The union by name of the two layers' NAME.ini: the admin's wins, or
 * masks the name when it is a link to /dev/null. Fills units (sorted by
 * name), l->names and l->masked (names borrowed from cd's entries, valid
 * while they are). */
static int config_units(struct config_load_ctx *l, struct config_dir cd[_LAYER_MAX],
                        struct config_unit **ret, size_t *ret_n)
{
        _cleanup_free_ struct config_unit *units = NULL;
        const struct config_dir *a = &cd[LAYER_ADMIN], *v = &cd[LAYER_VENDOR];
        size_t i = 0, j = 0, n = 0, names_cap = 0, masked_cap = 0;
        int r;

        units = calloc(a->n_ini + v->n_ini + 1, sizeof *units);
        if (!units)
                return -ENOMEM;
        while (i < a->n_ini || j < v->n_ini) {
                const struct config_entry *x = i < a->n_ini ? &a->ini[i] : NULL,
                                          *y = j < v->n_ini ? &v->ini[j] : NULL;
                int c = !x ? 1 : !y ? -1 : strcmp(x->name, y->name);
                struct config_unit *u;
                const char *name;

                if (c <= 0)
                        i++;
                if (c >= 0)
                        j++;
                /* Two of a name in one directory cannot happen; a repeated
                 * name (a directory read twice) is skipped all the same. */
                name = c <= 0 ? x->name : y->name;
                if (n > 0 && strcmp(units[n - 1].name, name) == 0)
                        continue;
                u = &units[n];
                u->name = name;
                u->layer = c <= 0 ? LAYER_ADMIN : LAYER_VENDOR;
                if (c <= 0) {
                        _cleanup_free_ char *fname = NULL;

                        if (asprintf(&fname, "%s.ini", name) < 0)
                                return -ENOMEM;
                        if (config_is_mask(dirfd(a->d), fname, x->type)) {
                                r = config_names_push(&l->masked, &l->n_masked, &masked_cap, name);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                }
                u->dropins[LAYER_ADMIN] = config_names_have(a->dropins, a->n_dropins, name);
                u->dropins[LAYER_VENDOR] =
                        v->d && config_names_have(v->dropins, v->n_dropins, name);
                /* A template is no service: nothing may name it. */
                if (!service_name_is_template(name)) {
                        r = config_names_push(&l->names, &l->n_names, &names_cap, name);
                        if (r < 0)
                                return r;
                }
                n++;
        }
        *ret = TAKE_PTR(units);
        *ret_n = n;
        return 0;
}

static int config_load_services(struct config_load_ctx *l, struct config *c,
                                const char *tend_display, const unsigned lines[_LAYER_MAX])
{
        struct config_dir cd[_LAYER_MAX] = {};
        _cleanup_free_ struct config_unit *units = NULL;
        char *dirs[_LAYER_MAX] = { c->services_dir, c->vendor_services_dir };
        char *displays[_LAYER_MAX] = { l->services_display, l->vendor_display };
        int dfds[_LAYER_MAX] = { -1, -1 };
        char **instances = NULL;
        size_t n_units = 0;
        int r;

        r = config_dir_open(l, &cd[LAYER_ADMIN], LAYER_ADMIN, c->services_dir, l->services_display,
                            tend_display, lines[LAYER_ADMIN]);
        if (r >= 0 && c->vendor_services_dir)
                r = config_dir_open(l, &cd[LAYER_VENDOR], LAYER_VENDOR, c->vendor_services_dir,
                                    l->vendor_display, tend_display, lines[LAYER_VENDOR]);
        if (r >= 0)
                r = config_units(l, cd, &units, &n_units);
        if (r < 0)
                goto finish;
        if (n_units > 0) {
                c->services = calloc(n_units, sizeof *c->services);
                c->templates = calloc(n_units, sizeof *c->templates);
                if (!c->services || !c->templates) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        for (int layer = 0; layer < _LAYER_MAX; layer++)
                dfds[layer] = cd[layer].d ? dirfd(cd[layer].d) : -1;
        /* Templates first: the services may name their instances. */
        l->conf = c;
        for (size_t i = 0; i < n_units; i++)
                if (service_name_is_template(units[i].name)) {
                        r = config_load_template(l, c, &units[i], cd, units, n_units, dfds, dirs,
                                                 displays);
                        if (r < 0)
                                goto finish;
                }
        r = config_names_add_instances(l, c, &instances);
        if (r < 0)
                goto finish;
        config_check_exit_with(l, c, tend_display);
        for (size_t i = 0; i < n_units; i++) {
                struct service_config *sc;

                if (service_name_is_template(units[i].name))
                        continue;
                r = config_load_service(l, &units[i], dfds, dirs, displays, &sc);
                if (r < 0)
                        goto finish;
                if (sc)
                        c->services[c->n_services++] = sc;
        }
        for (size_t i = 0; i < c->n_templates; i++) {
                const struct config_template *t = c->templates[i];

                for (char **x = t->instances; x && *x; x++) {
                        _cleanup_free_ char *name = NULL;
                        struct service_config *sc;

                        if (asprintf(&name, "%s%s", t->name, *x) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        /* NAME@X.ini of its own is loaded already; a mask wins. */
                        if (config_units_have(units, n_units, name) ||
                            config_names_have(l->masked, l->n_masked, name))
                                continue;
                        r = config_instance_parse(l, t, name, false, &sc);
                        if (r >= 0 && sc)
                                r = config_insert_service(c, sc);
                        if (r < 0)
                                goto finish;
                }
        }
        r = config_deps_check(l, c);
finish:
        l->conf = NULL;
        strv_free(instances);
        /* Their names go with the directories' entries. */
        free(l->names);
        free(l->masked);
        l->names = l->masked = NULL;
        l->n_names = l->n_masked = 0;
        for (int layer = 0; layer < _LAYER_MAX; layer++)
                config_dir_done(&cd[layer]);
        return r == -EINVAL ? 0 : r;
}

/* Parse tend.ini itself; a missing file is reported, defaults still apply. */
static int config_load_tend(struct config_load_ctx *l, struct config *c, const char *display,
                            const char *display_dir, const char *dir,
                            unsigned ret_lines[_LAYER_MAX])
{
        struct config_file_ctx f = {
                .load = l,
                .display = display,
                .dir = dir,
                .display_dir = display_dir,
                .section = "tend",
                .keys = config_keys_tend,
                .n_keys = config_keys_n_tend,
                .target = c,
        };
        int r;

        r = config_file_open(&f, AT_FDCWD, c->path);
        if (r >= 0)
                r = config_file_parse(&f);
        if (r >= 0 && !c->socket_path) {
                r = paths_default_socket(&c->socket_path);
                if (r == -ENXIO)
                        r = config_file_error(
                                &f, 0, "socket",
                                "no default when not root and XDG_RUNTIME_DIR is unset");
                else if (r >= 0)
                        r = config_keys_check_socket_path(&f, 0, "socket", c->socket_path);
        }
        if (r != -ENOMEM && !c->log_dir) {
                r = paths_default_log_dir(&c->log_dir);
                if (r == -ENXIO)
                        r = config_file_error(
                                &f, 0, "log_dir",
                                "no default when not root and XDG_RUNTIME_DIR is unset");
        }
        /* The vendor layer is for the system's tendd only: a user's must not
         * start the services packages install for the system. */
        if (r != -ENOMEM && f.seen && !f.seen[1] && geteuid() == 0) {
                c->vendor_services_dir = strdup(CONFIG_VENDOR_SERVICES_DIR);
                l->vendor_display = strdup(CONFIG_VENDOR_SERVICES_DIR);
                if (!c->vendor_services_dir || !l->vendor_display)
                        r = -ENOMEM;
        }
        ret_lines[LAYER_ADMIN] = f.seen ? f.seen[0] : 0;
        ret_lines[LAYER_VENDOR] = f.seen ? f.seen[1] : 0;
        config_file_done(&f);
        return r == -ENOMEM ? r : 0;
}

/* Load tend.ini and its services; see config.h. */
int config_load(const char *path, struct config **ret, char ***ret_errors)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_free_ char *display_dir = NULL, *dir = NULL, *cwd = NULL;
        struct config_load_ctx l = {};
        unsigned lines[_LAYER_MAX] = {};
        int r;

        if (ret_errors)
                *ret_errors = NULL; /* set again at the end, whatever returns first */
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

        r = config_load_tend(&l, c, path, display_dir, dir, lines);
        if (r >= 0)
                r = config_load_services(&l, c, path, lines);
        if (r >= 0 && l.oom)
                r = -ENOMEM;
        if (r >= 0 && l.n_more > 0) {
                char *msg;

                if (asprintf(&msg, "... and %zu more errors", l.n_more) < 0 ||
                    strv_append(&l.errors, &l.n_errors, &l.errors_cap, msg) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0 && config_errors_count(&l) > 0)
                r = -EINVAL;
finish:
        free(l.services_display);
        free(l.vendor_display);
        free(l.names);
        free(l.masked);
        free(l.set_line);
        free(l.set_file);
        free(l.text.buf);
        free(l.env.buf);
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
        strv_free(sc->files);
        free(sc->exec);
        strv_free(sc->argv);
        free(sc->user);
        free(sc->group);
        free(sc->workdir);
        strv_free(sc->environment);
        strv_free(sc->environment_files);
        strv_free(sc->pass_environment);
        strv_free(sc->wants);
        strv_free(sc->after);
        strv_free(sc->requires);
        free(sc->health_tcp);
        free(sc->health_http);
        free(sc->health_exec);
        strv_free(sc->exec_start_pre);
        free(sc->exec_start_post);
        free(sc->exec_stop);
        free(sc->exec_reload);
        free(sc->exec_stop_post);
        strv_free(sc->on_failure);
        strv_free(sc->instances);
        free(sc);
        return NULL;
}

/* Free a template; accepts NULL, returns NULL. */
struct config_template *config_template_free(struct config_template *t)
{
        if (!t)
                return NULL;
        free(t->name);
        strv_free(t->files);
        strv_free(t->displays);
        strv_free(t->dirs);
        strv_free(t->display_dirs);
        strv_free(t->texts);
        strv_free(t->of);
        strv_free(t->instances);
        strv_free(t->masked);
        free(t);
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
        for (size_t i = 0; i < c->n_templates; i++)
                config_template_free(c->templates[i]);
        free(c->templates);
        free(c->path);
        free(c->services_dir);
        free(c->vendor_services_dir);
        free(c->socket_path);
        free(c->socket_group);
        free(c->log_dir);
        free(c->cgroup_path);
        free(c->exit_with);
        free(c);
        return NULL;
}

static int config_dup_string(char **dst, const char *src)
{
        *dst = NULL;
        if (src && !(*dst = strdup(src)))
                return -ENOMEM;
        return 0;
}

static int config_dup_strv(char ***dst, char *const *src)
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
        if ((config_dup_string(&n->name, sc->name) | config_dup_string(&n->file, sc->file) |
             config_dup_strv(&n->files, sc->files) | config_dup_string(&n->exec, sc->exec) |
             config_dup_strv(&n->argv, sc->argv) | config_dup_string(&n->user, sc->user) |
             config_dup_string(&n->group, sc->group) | config_dup_string(&n->workdir, sc->workdir) |
             config_dup_strv(&n->environment, sc->environment) |
             config_dup_strv(&n->environment_files, sc->environment_files) |
             config_dup_strv(&n->pass_environment, sc->pass_environment) |
             config_dup_strv(&n->wants, sc->wants) | config_dup_strv(&n->after, sc->after) |
             config_dup_strv(&n->requires, sc->requires) |
             config_dup_string(&n->health_tcp, sc->health_tcp) |
             config_dup_string(&n->health_http, sc->health_http) |
             config_dup_string(&n->health_exec, sc->health_exec) |
             config_dup_strv(&n->exec_start_pre, sc->exec_start_pre) |
             config_dup_string(&n->exec_start_post, sc->exec_start_post) |
             config_dup_string(&n->exec_stop, sc->exec_stop) |
             config_dup_string(&n->exec_reload, sc->exec_reload) |
             config_dup_string(&n->exec_stop_post, sc->exec_stop_post) |
             config_dup_strv(&n->on_failure, sc->on_failure) |
             config_dup_strv(&n->instances, sc->instances)) < 0)
                return service_config_free(n);
        return n;
}

/* Deep copy; NULL on OOM. */
struct config_template *config_template_copy(const struct config_template *t)
{
        struct config_template *n = calloc(1, sizeof *n);

        if (!n)
                return NULL;
        if ((config_dup_string(&n->name, t->name) | config_dup_strv(&n->files, t->files) |
             config_dup_strv(&n->displays, t->displays) | config_dup_strv(&n->dirs, t->dirs) |
             config_dup_strv(&n->display_dirs, t->display_dirs) |
             config_dup_strv(&n->texts, t->texts) | config_dup_strv(&n->of, t->of) |
             config_dup_strv(&n->instances, t->instances) |
             config_dup_strv(&n->masked, t->masked)) < 0)
                return config_template_free(n);
        return n;
}

/* Every field. */
bool config_template_equal(const struct config_template *a, const struct config_template *b)
{
        return streq_ptr(a->name, b->name) && strv_equal(a->files, b->files) &&
               strv_equal(a->displays, b->displays) && strv_equal(a->dirs, b->dirs) &&
               strv_equal(a->display_dirs, b->display_dirs) && strv_equal(a->texts, b->texts) &&
               strv_equal(a->of, b->of) && strv_equal(a->instances, b->instances) &&
               strv_equal(a->masked, b->masked);
}

/* Binary search over the name-sorted services. */
const struct service_config *config_find(const struct config *c, const char *name)
{
        size_t i = config_index(c, name);

        return i == SIZE_MAX ? NULL : c->services[i];
}

static bool config_limits_equal(const struct config_rlimit *a, const struct config_rlimit *b)
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

static bool config_cgroup_equal(const struct config_cgroup *a, const struct config_cgroup *b)
{
        return a->memory_max == b->memory_max && a->memory_high == b->memory_high &&
               a->tasks_max == b->tasks_max && a->cpu_weight == b->cpu_weight &&
               a->cpu_max == b->cpu_max && a->io_weight == b->io_weight;
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
               config_limits_equal(a->limits, b->limits) && a->ready_fd == b->ready_fd &&
               a->watchdog == b->watchdog;
}

/* Every field. */
bool service_config_equal(const struct service_config *a, const struct service_config *b)
{
        return service_config_spawn_equal(a, b) && streq_ptr(a->exec, b->exec) &&
               streq_ptr(a->name, b->name) && streq_ptr(a->file, b->file) &&
               strv_equal(a->files, b->files) && a->restart == b->restart &&
               a->restart_delay == b->restart_delay &&
               a->restart_max_delay == b->restart_max_delay &&
               a->start_limit_burst == b->start_limit_burst &&
               a->start_limit_interval == b->start_limit_interval &&
               a->stop_signal == b->stop_signal && a->stop_timeout == b->stop_timeout &&
               strv_equal(a->environment_files, b->environment_files) &&
               strv_equal(a->pass_environment, b->pass_environment) && a->expand == b->expand &&
               memcmp(&a->success_exit, &b->success_exit, sizeof a->success_exit) == 0 &&
               memcmp(&a->prevent_exit, &b->prevent_exit, sizeof a->prevent_exit) == 0 &&
               strv_equal(a->wants, b->wants) &&
               a->log_max_size == b->log_max_size && a->log_keep == b->log_keep &&
               a->enabled == b->enabled && a->kill_mode == b->kill_mode &&
               a->kill_mode_set == b->kill_mode_set && a->ready_timeout == b->ready_timeout &&
               strv_equal(a->after, b->after) && strv_equal(a->requires, b->requires) &&
               config_cgroup_equal(&a->cgroup, &b->cgroup) &&
               strv_equal(a->exec_start_pre, b->exec_start_pre) &&
               streq_ptr(a->exec_start_post, b->exec_start_post) &&
               streq_ptr(a->exec_stop, b->exec_stop) && streq_ptr(a->exec_reload, b->exec_reload) &&
               streq_ptr(a->exec_stop_post, b->exec_stop_post) &&
               a->reload_signal == b->reload_signal && a->hook_timeout == b->hook_timeout &&
               strv_equal(a->on_failure, b->on_failure) && service_config_health_equal(a, b) &&
               strv_equal(a->instances, b->instances) && a->transient == b->transient;
}

/* See config.h. */
bool service_config_has_health(const struct service_config *sc)
{
        return sc->health_tcp || sc->health_http || sc->health_exec;
}

/* See config.h. */
bool service_config_health_equal(const struct service_config *a, const struct service_config *b)
{
        return streq_ptr(a->health_tcp, b->health_tcp) &&
               streq_ptr(a->health_http, b->health_http) &&
               streq_ptr(a->health_exec, b->health_exec) &&
               a->health_interval == b->health_interval &&
               a->health_timeout == b->health_timeout &&
               a->health_retries == b->health_retries &&
               a->health_start_period == b->health_start_period;
}

/* See config.h. */
int config_instance_new(const struct config *c, const char *name, char *const *also, size_t n_also,
                        struct service_config **ret, char ***ret_errors)
{
        const struct config_template *t = config_find_template(c, name);
        _cleanup_(service_config_freep) struct service_config *sc = NULL;
        struct config_load_ctx l = {};
        int r;

        *ret = NULL;
        if (ret_errors)
                *ret_errors = NULL;
        if (!t)
                return -ENOENT;
        /* What its after= and requires= may name. */
        l.names = calloc(c->n_services + n_also + 1, sizeof *l.names);
        if (!l.names)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_services; i++)
                l.names[l.n_names++] = c->services[i]->name;
        for (size_t i = 0; i < n_also; i++)
                l.names[l.n_names++] = also[i];
        qsort(l.names, l.n_names, sizeof *l.names, config_name_cmp);
        r = config_instance_parse(&l, t, name, false, &sc);
        if (r >= 0 && !sc)
                r = -EINVAL;
        if (r >= 0)
                sc->transient = true;
        free(l.names);
        free(l.set_line);
        free(l.set_file);
        free(l.text.buf);
        free(l.env.buf);
        free(l.seen);
        free(l.failed);
        if (r == -EINVAL && l.n_more > 0) {
                char *msg;

                if (asprintf(&msg, "... and %zu more errors", l.n_more) < 0 ||
                    strv_append(&l.errors, &l.n_errors, &l.errors_cap, msg) < 0)
                        r = -ENOMEM;
        }
        if (r == -EINVAL && ret_errors)
                *ret_errors = TAKE_PTR(l.errors);
        strv_free(l.errors);
        if (r >= 0)
                *ret = TAKE_PTR(sc);
        return r;
}

/* See config.h. */
int config_add_instances(struct config *c, char *const *names, size_t n, char ***ret_errors)
{
        struct service_config **made = calloc(n + 1, sizeof *made);
        char **errors = NULL;
        size_t n_made = 0;
        int r = 0;

        if (ret_errors)
                *ret_errors = NULL;
        if (!made)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                char **e = NULL;

                if (config_index(c, names[i]) != SIZE_MAX || !config_find_template(c, names[i]))
                        continue;
                /* The others being added may be named too. */
                r = config_instance_new(c, names[i], names, n, &made[n_made], &e);
                if (r >= 0)
                        n_made++;
                else if (r == -EINVAL) {
                        r = 0;
                        for (char **x = e; x && *x && r >= 0; x++)
                                r = strv_push(&errors, TAKE_PTR(*x));
                        strv_free(e);
                }
        }
        if (r >= 0 && errors)
                r = -EINVAL;
        for (size_t i = 0; i < n_made; i++) {
                if (r >= 0)
                        r = config_insert_service(c, TAKE_PTR(made[i]));
                else
                        service_config_free(made[i]);
        }
        free(made);
        if (r >= 0 && n_made > 0) {
                /* Made from templates changed since, they may close a cycle. */
                struct config_load_ctx l = {
                        .services_display = c->services_dir,
                        .vendor_display = c->vendor_services_dir,
                };

                r = config_deps_check(&l, c);
                if (r >= 0 && l.oom)
                        r = -ENOMEM;
                if (r >= 0 && (l.n_errors > 0 || l.n_more > 0))
                        r = -EINVAL;
                for (size_t i = 0; i < l.n_errors; i++)
                        if (r == -EINVAL && strv_push(&errors, TAKE_PTR(l.errors[i])) < 0)
                                r = -ENOMEM;
                strv_free(l.errors);
        }
        if (r == -EINVAL && ret_errors)
                *ret_errors = TAKE_PTR(errors);
        strv_free(errors);
        return r;
}
