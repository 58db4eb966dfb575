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
 * file of the load together, into s. Returns 0, -ENOMEM, or -EINVAL with the
 * reason in why. */
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
                snprintf(why, why_len, "cannot open: %s", strerror(errno));
                return -EINVAL;
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

static void config_file_done(struct config_file_ctx *f)
{
        f->seen = NULL;
        f->failed = NULL;
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

/* key = value: find the key in the table and run its parser. */
static int config_file_key(const char *section, const char *name, const char *value,
                           size_t value_len, unsigned line, void *userdata)
{
        struct config_file_ctx *f = userdata;
        const struct config_key *k;
        size_t i = config_key_index(f, name);
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
        if (value_len == 0)
                r = config_file_error(f, line, name, "empty value");
        else
                r = k->parse(f, k, line, value, (char *)f->target + k->offset);
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

/* Read environment_file (set on line) into env, of length *n and room *cap. */
static int config_read_environment_file(struct config_file_ctx *f, unsigned line, const char *path,
                                        char ***env, size_t *n, size_t *cap)
{
        struct config_env_file e = { f, line, path, env, n, cap };
        struct config_load_ctx *l = f->load;
        char why[256];
        size_t len;
        int r;

        r = config_read_file(l, AT_FDCWD, path, &l->env, &len, why, sizeof why);
        if (r == -EINVAL)
                return config_file_error(f, line, "environment_file", "'%s': %s", path, why);
        if (r < 0)
                return r;
        return env_parse_file(l->env.buf, len, config_env_file_line, &e);
}

/* environment_file first, then environment= in order; one entry per key,
 * later wins. Done once here, so that a spawn only copies the result. The
 * result is never NULL. */
static int config_merge_environment(struct config_file_ctx *f, struct service_config *sc)
{
        _cleanup_strv_free_ char **env = NULL;
        size_t i = config_key_index(f, "environment_file"), n = 0, cap = 1;
        int r;

        env = calloc(1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        if (sc->environment_file) {
                r = config_read_environment_file(f, f->seen[i], sc->environment_file, &env, &n,
                                                 &cap);
                if (r == -ENOMEM)
                        return r;
        }
        r = env_merge(&env, &n, &cap, TAKE_PTR(sc->environment));
        if (r < 0)
                return r;
        sc->environment = TAKE_PTR(env);
        return 0;
}

/* Checks that involve more than one key. */
static int config_check_service(struct config_file_ctx *f, struct service_config *sc)
{
        size_t d = config_key_index(f, "restart_delay"),
               m = config_key_index(f, "restart_max_delay");

        if (!f->seen[config_key_index(f, "exec")])
                (void)config_file_error(f, 0, "exec", "required key is missing");
        if (!f->failed[d] && !f->failed[m] && sc->restart_delay > sc->restart_max_delay) {
                char a[32], b[32];
                bool on_delay = f->seen[d] != 0;

                (void)config_file_error(f, on_delay ? f->seen[d] : f->seen[m],
                                        on_delay ? "restart_delay" : "restart_max_delay",
                                        "restart_delay %s is greater than restart_max_delay %s",
                                        format_duration(a, sizeof a, sc->restart_delay),
                                        format_duration(b, sizeof b, sc->restart_max_delay));
        }
        if (sc->watchdog > 0 && sc->type != SERVICE_NOTIFY)
                (void)config_file_error(f, f->seen[config_key_index(f, "watchdog")], "watchdog",
                                        "needs type=notify (pings arrive as WATCHDOG=1)");
        if (sc->ready_fd >= 0 && sc->type != SERVICE_SIMPLE)
                (void)config_file_error(f, f->seen[config_key_index(f, "ready_fd")], "ready_fd",
                                        "only for type=simple (type=%s has its own readiness)",
                                        service_type_to_string(sc->type));
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
                key = sc->environment_file ? "environment_file" : "environment";
        if (budget == CONFIG_EXEC_MAX)
                return config_file_error(f, f->seen[config_key_index(f, key)], key,
                                         "arguments and environment take %llu bytes, more than the "
                                         "%d MiB a service may have",
                                         (unsigned long long)total, CONFIG_EXEC_MAX >> 20);
        return config_file_error(
                f, f->seen[config_key_index(f, key)], key,
                "arguments and environment take %llu bytes, more than execve allows "
                "with %s%s (%llu)",
                (unsigned long long)total, rl->set ? "limit_stack = " : "tendd's stack limit ",
                format_size(b, sizeof b, stack), (unsigned long long)budget);
}

/* A new config for service name (file fname), as it is before any key. */
static struct service_config *config_service_new(const struct config *c, const char *name,
                                                 const char *fname)
{
        _cleanup_(service_config_freep) struct service_config *sc = calloc(1, sizeof *sc);

        if (!sc)
                return NULL;
        sc->name = strdup(name);
        sc->file = path_join(c->services_dir, fname);
        if (!sc->name || !sc->file)
                return NULL;
        config_keys_init_limits(sc);
        return TAKE_PTR(sc);
}

/* Parse the service file f holds open, then check and complete sc. */
static int config_parse_service(struct config_file_ctx *f, struct service_config *sc)
{
        int r = config_file_parse(f);

        if (r >= 0)
                r = config_check_service(f, sc);
        if (r >= 0)
                r = config_merge_environment(f, sc);
        if (r >= 0)
                r = config_check_exec_size(f, sc);
        config_file_done(f);
        return r;
}

/* Load services/NAME.ini; *ret is NULL when the file had errors. */
static int config_load_service(struct config_load_ctx *l, const struct config *c, int dfd,
                               const char *name, struct service_config **ret)
{
        _cleanup_(service_config_freep) struct service_config *sc = NULL;
        _cleanup_free_ char *fname = NULL, *display = NULL;
        size_t n_errors = config_errors_count(l);
        struct config_file_ctx f = {
                .load = l,
                .dir = c->services_dir,
                .display_dir = l->services_display,
                .section = "service",
                .keys = config_keys_service,
                .n_keys = config_keys_n_service,
        };
        int r;

        *ret = NULL;
        if (asprintf(&fname, "%s.ini", name) < 0)
                return -ENOMEM;
        display = path_join(l->services_display, fname);
        sc = config_service_new(c, name, fname);
        if (!display || !sc)
                return -ENOMEM;
        if (!service_name_is_valid(name)) {
                config_whole_file_error(l, display,
                                        "invalid service name '%s' (1-%d characters of A-Z a-z "
                                        "0-9 _ . @ -, not starting with '.')",
                                        name, SERVICE_NAME_MAX);
                return l->oom ? -ENOMEM : 0;
        }
        f.display = display;
        f.target = sc;
        r = config_file_open(&f, dfd, fname);
        if (r >= 0 && f.have_text)
                r = config_parse_service(&f, sc);
        if (r == -ENOMEM || l->oom)
                return -ENOMEM;
        if (f.have_text && config_errors_count(l) == n_errors)
                *ret = TAKE_PTR(sc);
        return 0;
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

/* exit_with must name one of the n_names sorted service file names. */
static void config_check_exit_with(struct config_load_ctx *l, const struct config *c,
                                   const char *tend_display, char *const *names, size_t n_names)
{
        if (!c->exit_with ||
            (n_names > 0 && bsearch(&c->exit_with, names, n_names, sizeof *names, config_name_cmp)))
                return;
        config_errorf(l, "%s:%u: exit_with: no service '%s' (no %s/%s.ini)", tend_display,
                      c->exit_with_line, c->exit_with, l->services_display, c->exit_with);
}

static int config_load_services(struct config_load_ctx *l, struct config *c,
                                const char *tend_display, unsigned services_line)
{
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_(config_closedirp) DIR *d = NULL;
        size_t n_names = 0, cap = 0;
        struct dirent *de;
        int r = 0;

        d = opendir(c->services_dir);
        if (!d) {
                int e = errno;
                config_errorf(l, "%s:%u: services: cannot open directory '%s': %s", tend_display,
                              services_line, l->services_display, strerror(e));
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
        if (errno != 0) {
                /* Not the end: a list cut short would load as fewer services. */
                int e = errno;
                config_errorf(l, "%s:%u: services: cannot read directory '%s': %s", tend_display,
                              services_line, l->services_display, strerror(e));
                return l->oom ? -ENOMEM : 0;
        }

        if (n_names > 0)
                qsort(names, n_names, sizeof(char *), config_name_cmp);
        config_check_exit_with(l, c, tend_display, names, n_names);
        if (n_names == 0)
                return 0;
        c->services = calloc(n_names, sizeof *c->services);
        if (!c->services)
                return -ENOMEM;
        for (size_t i = 0; i < n_names; i++) {
                struct service_config *sc;

                r = config_load_service(l, c, dirfd(d), names[i], &sc);
                if (r < 0)
                        return r;
                if (sc)
                        c->services[c->n_services++] = sc;
        }
        return config_deps_check(l, c, names, n_names);
}

/* Parse tend.ini itself; a missing file is reported, defaults still apply. */
static int config_load_tend(struct config_load_ctx *l, struct config *c, const char *display,
                            const char *display_dir, const char *dir, unsigned *ret_services_line)
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
        *ret_services_line = f.seen ? f.seen[0] : 0;
        config_file_done(&f);
        return r == -ENOMEM ? r : 0;
}

/* Load tend.ini and its services; see config.h. */
int config_load(const char *path, struct config **ret, char ***ret_errors)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_free_ char *display_dir = NULL, *dir = NULL, *cwd = NULL;
        struct config_load_ctx l = {};
        unsigned services_line = 0;
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

        r = config_load_tend(&l, c, path, display_dir, dir, &services_line);
        if (r >= 0)
                r = config_load_services(&l, c, path, services_line);
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
             config_dup_string(&n->exec, sc->exec) | config_dup_strv(&n->argv, sc->argv) |
             config_dup_string(&n->user, sc->user) | config_dup_string(&n->group, sc->group) |
             config_dup_string(&n->workdir, sc->workdir) |
             config_dup_strv(&n->environment, sc->environment) |
             config_dup_string(&n->environment_file, sc->environment_file) |
             config_dup_strv(&n->after, sc->after) | config_dup_strv(&n->requires, sc->requires)) <
            0)
                return service_config_free(n);
        return n;
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
               a->restart == b->restart && a->restart_delay == b->restart_delay &&
               a->restart_max_delay == b->restart_max_delay &&
               a->start_limit_burst == b->start_limit_burst &&
               a->start_limit_interval == b->start_limit_interval &&
               a->stop_signal == b->stop_signal && a->stop_timeout == b->stop_timeout &&
               streq_ptr(a->environment_file, b->environment_file) &&
               a->log_max_size == b->log_max_size && a->log_keep == b->log_keep &&
               a->enabled == b->enabled && a->kill_mode == b->kill_mode &&
               a->kill_mode_set == b->kill_mode_set &&
               a->ready_timeout == b->ready_timeout && strv_equal(a->after, b->after) &&
               strv_equal(a->requires, b->requires) && config_cgroup_equal(&a->cgroup, &b->cgroup);
}
