/* config-load.c: the error list of one config_load(), and lookups the
 * parts of a load share. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

#include "config-load.h"
#include "expand.h"

/* A message is cut at this many bytes. */
#define CONFIG_ERROR_LEN_MAX 4096

/* See config-load.h. */
size_t config_errors_count(const struct config_load_ctx *l)
{
        return l->n_errors + l->n_more;
}

/* See config-load.h. */
bool config_errors_full(struct config_load_ctx *l)
{
        return l->n_errors >= CONFIG_ERRORS_MAX;
}

/* Keep msg (taking it), or count it once the list is full. Messages are cut
 * at CONFIG_ERROR_LEN_MAX bytes: each is about one line of one file. */
static void config_error_push(struct config_load_ctx *l, char *msg)
{
        if (!msg) {
                l->oom = true;
                return;
        }
        if (config_errors_full(l)) {
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
_printf_(2, 0) static char *config_error_vformat(struct config_load_ctx *l, const char *fmt,
                                                 va_list ap)
{
        char *msg;

        if (config_errors_full(l)) {
                l->n_more++;
                return NULL;
        }
        if (vasprintf(&msg, fmt, ap) < 0) {
                l->oom = true;
                return NULL;
        }
        return msg;
}

/* See config-load.h. */
void config_errorf(struct config_load_ctx *l, const char *fmt, ...)
{
        char *msg;
        va_list ap;

        va_start(ap, fmt);
        msg = config_error_vformat(l, fmt, ap);
        va_end(ap);
        if (msg)
                config_error_push(l, msg);
}

/* See config-load.h. */
void config_whole_file_error(struct config_load_ctx *l, const char *display, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = config_error_vformat(l, fmt, ap);
        va_end(ap);
        if (msg)
                config_errorf(l, "%s:0: %s", display, msg);
}

/* See config-load.h. */
int config_file_error(struct config_file_ctx *f, unsigned line, const char *key, const char *fmt,
                      ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (f->quiet)
                return f->load->oom ? -ENOMEM : -EINVAL;
        va_start(ap, fmt);
        msg = config_error_vformat(f->load, fmt, ap);
        va_end(ap);
        if (msg && f->tell_instance && key)
                config_errorf(f->load, "%s:%u: %s: for %s: %s", f->display, line, key, f->unit,
                              msg);
        else if (msg && f->tell_instance)
                config_errorf(f->load, "%s:%u: for %s: %s", f->display, line, f->unit, msg);
        else if (msg && key)
                config_errorf(f->load, "%s:%u: %s: %s", f->display, line, key, msg);
        else if (msg)
                config_errorf(f->load, "%s:%u: %s", f->display, line, msg);
        return f->load->oom ? -ENOMEM : -EINVAL;
}

/* See config-load.h. */
const char *config_shown(const char *v, char buf[static CONFIG_VALUE_SHOWN_MAX + 4])
{
        if (strlen(v) <= CONFIG_VALUE_SHOWN_MAX)
                return v;
        memcpy(buf, v, CONFIG_VALUE_SHOWN_MAX);
        strcpy(buf + CONFIG_VALUE_SHOWN_MAX, "...");
        return buf;
}

static int config_names_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* See config-load.h. */
bool config_names_have(char *const *names, size_t n, const char *name)
{
        return n > 0 && bsearch(&name, names, n, sizeof *names, config_names_cmp);
}

/* rest of path after dir and a slash, or NULL. */
static const char *config_under(const char *path, const char *dir)
{
        size_t n = dir ? strlen(dir) : 0;

        if (n == 0 || strncmp(path, dir, n) != 0 || path[n] != '/')
                return NULL;
        return path + n + 1;
}

/* See config-load.h. */
char *config_display(const struct config_load_ctx *l, const struct config *c, const char *path)
{
        const char *rest = config_under(path, c->services_dir);

        if (rest)
                return path_join(l->services_display, rest);
        rest = config_under(path, c->vendor_services_dir);
        if (rest)
                return path_join(l->vendor_display, rest);
        return strdup(path);
}

/* See config-load.h. */
size_t config_index(const struct config *c, const char *name)
{
        size_t lo = 0, hi = c ? c->n_services : 0;

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

/* See config-load.h. */
int config_file_apply_defaults(struct config_file_ctx *f)
{
        for (size_t i = 0; i < f->n_keys; i++) {
                const struct config_key *k = &f->keys[i];
                int r;

                if (!k->def)
                        continue;
                r = k->parse(f, k, 0, k->def, (char *)f->target + k->offset);
                if (r == -ENOMEM)
                        return r;
                assert(r >= 0); /* a default the table's own parser rejects */
        }
        return 0;
}

/* Report what expand_string() or expand_strv() returned with bad. */
static int config_expand_report(struct config_file_ctx *f, unsigned line, const char *key, int r,
                                const char *bad)
{
        char buf[CONFIG_VALUE_SHOWN_MAX + 4];

        if (r == -ENOENT)
                return config_file_error(f, line, key,
                                         "unknown variable ${%s} (not set by environment, "
                                         "environment_file or pass_environment; $$ is a "
                                         "literal $)",
                                         config_shown(bad, buf));
        if (r == -EINVAL)
                return config_file_error(f, line, key,
                                         "unterminated or invalid variable '%s' (expected "
                                         "${NAME}; $$ is a literal $)",
                                         config_shown(bad, buf));
        if (r == -E2BIG)
                return config_file_error(f, line, key,
                                         "expands to more than %d KiB (more than execve "
                                         "takes, arguments and environment together)",
                                         EXPAND_MAX >> 10);
        return r;
}

/* See config-load.h. */
int config_expand_string(struct config_file_ctx *f, unsigned line, const char *key,
                         char *const *env, char **value)
{
        _cleanup_free_ char *bad = NULL;
        char *e = NULL;
        int r;

        if (!*value)
                return 0;
        r = expand_string(*value, env, &e, &bad);
        if (r < 0)
                return config_expand_report(f, line, key, r, bad);
        free(*value);
        *value = e;
        return 0;
}

/* See config-load.h. */
int config_expand_strv(struct config_file_ctx *f, unsigned line, const char *key, char *const *env,
                       char ***argv)
{
        _cleanup_free_ char *bad = NULL;
        char **e = NULL;
        int r;

        if (!*argv)
                return 0;
        r = expand_strv(*argv, env, &e, &bad);
        if (r < 0)
                return config_expand_report(f, line, key, r, bad);
        strv_free(*argv);
        *argv = e;
        return 0;
}
