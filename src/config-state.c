/* config-state.c: struct config and struct service_config as state records.
 * One table per struct gives each field its tag, its kind and its place;
 * writing and reading walk the table, so a field is one line. Tags are
 * never reused: a field whose meaning changes gets a new one. Enums are
 * written by name, as in the files, so that their numbering is free to
 * change. */
#include <assert.h>
#include <limits.h>

#include "config-keys.h"
#include "config-state.h"
#include "parse.h"
#include "paths.h"

enum config_state_kind {
        KIND_STRING,    /* char *, NULL: not written */
        KIND_STRV,      /* char **, NULL: not written; empty: an empty list */
        KIND_U64,       /* uint64_t, usec_t */
        KIND_UNSIGNED,  /* unsigned */
        KIND_INT,       /* int */
        KIND_BOOL,      /* bool */
        KIND_MODE,      /* mode_t, at most 07777 */
        KIND_TYPE,      /* enum service_type, by name */
        KIND_RESTART,   /* enum restart_policy, by name */
        KIND_OUTPUT,    /* enum output_mode, by name */
        KIND_KILL_MODE, /* enum kill_mode, by name */
        KIND_LIMIT,     /* struct config_rlimit: a list of soft, hard; unset: not written */
};

/* Inside a KIND_LIMIT list. */
enum { LIMIT_TAG_SOFT = 1, LIMIT_TAG_HARD };

/* The enum kinds go through an int. */
_Static_assert(sizeof(enum service_type) == sizeof(int) &&
                       sizeof(enum restart_policy) == sizeof(int) &&
                       sizeof(enum output_mode) == sizeof(int) &&
                       sizeof(enum kill_mode) == sizeof(int),
               "an enum of struct service_config is not the size of an int");

struct config_state_field {
        uint16_t tag;
        enum config_state_kind kind;
        size_t offset;
};

#define SC(field) offsetof(struct service_config, field)
#define LIMIT(tag, l)                                                                              \
        {                                                                                          \
                tag, KIND_LIMIT, SC(limits) + (l) * sizeof(struct config_rlimit)                   \
        }

/* Every field of struct service_config; the order is the order written. A
 * limit's resource (RLIMIT_*) is not data: it follows from its place. */
static const struct config_state_field config_state_service_fields[] = {
        { 1, KIND_STRING, SC(name) },
        { 2, KIND_STRING, SC(file) },
        { 3, KIND_STRING, SC(exec) },
        { 4, KIND_STRV, SC(argv) },
        { 5, KIND_TYPE, SC(type) },
        { 6, KIND_RESTART, SC(restart) },
        { 7, KIND_U64, SC(restart_delay) },
        { 8, KIND_U64, SC(restart_max_delay) },
        { 9, KIND_UNSIGNED, SC(start_limit_burst) },
        { 10, KIND_U64, SC(start_limit_interval) },
        { 11, KIND_INT, SC(stop_signal) },
        { 12, KIND_U64, SC(stop_timeout) },
        { 13, KIND_STRING, SC(user) },
        { 14, KIND_STRING, SC(group) },
        { 15, KIND_STRING, SC(workdir) },
        { 16, KIND_BOOL, SC(umask_set) },
        { 17, KIND_MODE, SC(umask) },
        { 18, KIND_STRV, SC(environment) },
        /* 19: environment_file, one path, until it became environment_files (80) */
        { 20, KIND_OUTPUT, SC(output) },
        { 21, KIND_BOOL, SC(output_set) },
        { 22, KIND_U64, SC(log_max_size) },
        { 23, KIND_UNSIGNED, SC(log_keep) },
        { 24, KIND_BOOL, SC(enabled) },
        { 25, KIND_KILL_MODE, SC(kill_mode) },
        { 26, KIND_BOOL, SC(kill_mode_set) },
        { 27, KIND_U64, SC(ready_timeout) },
        { 28, KIND_U64, SC(watchdog) },
        { 29, KIND_INT, SC(ready_fd) },
        { 30, KIND_STRV, SC(after) },
        { 31, KIND_STRV, SC(requires) },
        { 32, KIND_UNSIGNED, SC(after_line) },
        { 33, KIND_UNSIGNED, SC(requires_line) },
        { 34, KIND_BOOL, SC(no_new_privs) },
        LIMIT(35, LIMIT_NOFILE),
        LIMIT(36, LIMIT_NPROC),
        LIMIT(37, LIMIT_CORE),
        LIMIT(38, LIMIT_AS),
        LIMIT(39, LIMIT_DATA),
        LIMIT(40, LIMIT_STACK),
        LIMIT(41, LIMIT_FSIZE),
        LIMIT(42, LIMIT_MEMLOCK),
        LIMIT(43, LIMIT_CPU),
        { 44, KIND_U64, SC(cgroup.memory_max) },
        { 45, KIND_U64, SC(cgroup.memory_high) },
        { 46, KIND_U64, SC(cgroup.tasks_max) },
        { 47, KIND_U64, SC(cgroup.cpu_weight) },
        { 48, KIND_U64, SC(cgroup.cpu_max) },
        { 49, KIND_U64, SC(cgroup.io_weight) },
        { 50, KIND_STRV, SC(files) },
        { 51, KIND_UNSIGNED, SC(after_file) },
        { 52, KIND_UNSIGNED, SC(requires_file) },
        /* The health check's keys; tags from 300 on. */
        { 300, KIND_STRING, SC(health_tcp) },
        { 301, KIND_STRING, SC(health_http) },
        { 302, KIND_U64, SC(health_interval) },
        { 303, KIND_U64, SC(health_timeout) },
        { 304, KIND_UNSIGNED, SC(health_retries) },
        { 305, KIND_U64, SC(health_start_period) },
        { 306, KIND_STRING, SC(health_exec) },
        { 53, KIND_STRV, SC(exec_start_pre) },
        { 54, KIND_STRING, SC(exec_start_post) },
        { 55, KIND_STRING, SC(exec_stop) },
        { 56, KIND_STRING, SC(exec_reload) },
        { 57, KIND_STRING, SC(exec_stop_post) },
        { 58, KIND_INT, SC(reload_signal) },
        { 59, KIND_U64, SC(hook_timeout) },
        { 60, KIND_STRV, SC(on_failure) },
        /* 80-99: issue 15's exit-code policy, variables and wants */
        { 80, KIND_STRV, SC(environment_files) },
        { 81, KIND_U64, SC(success_exit.status[0]) },
        { 82, KIND_U64, SC(success_exit.status[1]) },
        { 83, KIND_U64, SC(success_exit.status[2]) },
        { 84, KIND_U64, SC(success_exit.status[3]) },
        { 85, KIND_U64, SC(success_exit.signals) },
        { 86, KIND_U64, SC(prevent_exit.status[0]) },
        { 87, KIND_U64, SC(prevent_exit.status[1]) },
        { 88, KIND_U64, SC(prevent_exit.status[2]) },
        { 89, KIND_U64, SC(prevent_exit.status[3]) },
        { 90, KIND_U64, SC(prevent_exit.signals) },
        { 91, KIND_STRV, SC(pass_environment) },
        { 92, KIND_BOOL, SC(expand) },
        { 93, KIND_STRV, SC(wants) },
        { 94, KIND_UNSIGNED, SC(wants_line) },
        { 95, KIND_UNSIGNED, SC(wants_file) },
        { 110, KIND_STRV, SC(instances) },
        { 111, KIND_BOOL, SC(transient) },
};

_Static_assert(_LIMIT_MAX == 9, "a limit was added: give it a LIMIT() line above");

#define C(field) offsetof(struct config, field)

/* Every field of struct config but its services, which are records of
 * CONFIG_STATE_SERVICE after these. */
static const struct config_state_field config_state_config_fields[] = {
        { 1, KIND_STRING, C(path) },
        { 2, KIND_STRING, C(services_dir) },
        { 3, KIND_STRING, C(socket_path) },
        { 4, KIND_MODE, C(socket_mode) },
        { 5, KIND_STRING, C(socket_group) },
        { 6, KIND_STRING, C(log_dir) },
        { 7, KIND_STRING, C(cgroup_path) },
        { 8, KIND_STRING, C(exit_with) },
        { 9, KIND_UNSIGNED, C(exit_with_line) },
        { 10, KIND_STRING, C(vendor_services_dir) },
};
#define CONFIG_STATE_PATH 1
#define CONFIG_STATE_SERVICE 100
#define CONFIG_STATE_TEMPLATE 101

#define T(field) offsetof(struct config_template, field)

/* Every field of struct config_template. */
static const struct config_state_field config_state_template_fields[] = {
        { 1, KIND_STRING, T(name) },       { 2, KIND_STRV, T(files) },
        { 3, KIND_STRV, T(displays) },     { 4, KIND_STRV, T(dirs) },
        { 5, KIND_STRV, T(display_dirs) }, { 6, KIND_STRV, T(texts) },
        { 7, KIND_STRV, T(instances) },    { 8, KIND_STRV, T(of) },
        { 9, KIND_STRV, T(masked) },
};

/* A field added to either struct needs its line above, or a re-execution
 * silently resets it: a tripwire that fails the build when a struct grows
 * (not when a field fits into padding) until the size here is updated. */
#if __SIZEOF_POINTER__ == 8 && __SIZEOF_LONG__ == 8
_Static_assert(sizeof(struct service_config) == 752,
               "struct service_config changed: add its new field to "
               "config_state_service_fields[], then update this size");
_Static_assert(sizeof(struct config) == 112, "struct config changed: add its new field to "
                                             "config_state_config_fields[], then update this size");
_Static_assert(sizeof(struct config_template) == 72,
               "struct config_template changed: add its new field to "
               "config_state_template_fields[], then update this size");
#endif

static const char *config_state_enum_name(enum config_state_kind kind, int v)
{
        switch (kind) {
        case KIND_TYPE:
                return service_type_to_string((enum service_type)v);
        case KIND_RESTART:
                return restart_policy_to_string((enum restart_policy)v);
        case KIND_OUTPUT:
                return output_mode_to_string((enum output_mode)v);
        case KIND_KILL_MODE:
                return kill_mode_to_string((enum kill_mode)v);
        default:
                return NULL;
        }
}

static int config_state_enum_value(enum config_state_kind kind, const char *s)
{
        switch (kind) {
        case KIND_TYPE:
                return service_type_from_string(s);
        case KIND_RESTART:
                return restart_policy_from_string(s);
        case KIND_OUTPUT:
                return output_mode_from_string(s);
        case KIND_KILL_MODE:
                return kill_mode_from_string(s);
        default:
                return -EINVAL;
        }
}

static void config_state_put_field(struct state_writer *w, const struct config_state_field *d,
                                   const void *base)
{
        const char *field = (const char *)base + d->offset;
        const struct config_rlimit *rl;
        const char *name;
        size_t mark;

        switch (d->kind) {
        case KIND_STRING:
                state_put_str(w, d->tag, *(char *const *)field);
                break;
        case KIND_STRV:
                state_put_strv(w, d->tag, *(char **const *)field);
                break;
        case KIND_U64:
                state_put_u64(w, d->tag, *(const uint64_t *)field);
                break;
        case KIND_UNSIGNED:
                state_put_u64(w, d->tag, *(const unsigned *)field);
                break;
        case KIND_INT:
                state_put_i64(w, d->tag, *(const int *)field);
                break;
        case KIND_BOOL:
                state_put_bool(w, d->tag, *(const bool *)field);
                break;
        case KIND_MODE:
                state_put_u64(w, d->tag, *(const mode_t *)field);
                break;
        case KIND_TYPE:
        case KIND_RESTART:
        case KIND_OUTPUT:
        case KIND_KILL_MODE:
                name = config_state_enum_name(d->kind, *(const int *)field);
                if (!name) /* not a value a load makes */
                        state_writer_fail(w, -EINVAL);
                state_put_str(w, d->tag, name);
                break;
        case KIND_LIMIT:
                rl = (const struct config_rlimit *)field;
                if (!rl->set)
                        break;
                mark = state_begin(w, d->tag);
                state_put_u64(w, LIMIT_TAG_SOFT, rl->value.rlim_cur);
                state_put_u64(w, LIMIT_TAG_HARD, rl->value.rlim_max);
                state_end(w, mark);
                break;
        }
}

static int config_state_get_limit(const struct state_reader *v, struct config_rlimit *rl)
{
        struct state_reader r = *v, value;
        bool soft = false, hard = false;
        uint16_t tag;
        uint64_t u;
        int k;

        while ((k = state_next(&r, &tag, &value)) > 0) {
                if (tag != LIMIT_TAG_SOFT && tag != LIMIT_TAG_HARD)
                        continue;
                k = state_get_u64(&value, &u);
                if (k < 0)
                        return k;
                if (tag == LIMIT_TAG_SOFT)
                        rl->value.rlim_cur = (rlim_t)u;
                else
                        rl->value.rlim_max = (rlim_t)u;
                soft |= tag == LIMIT_TAG_SOFT;
                hard |= tag == LIMIT_TAG_HARD;
        }
        if (k < 0 || !soft || !hard)
                return -EBADMSG;
        rl->set = true;
        return 0;
}

/* Read value v into d's field of base, replacing what was there. A number
 * that does not fit its field is malformed, never cut. */
static int config_state_get_field(const struct config_state_field *d, const struct state_reader *v,
                                  void *base)
{
        char *field = (char *)base + d->offset;
        _cleanup_free_ char *s = NULL;
        char **l;
        uint64_t u;
        int64_t i;
        int r;

        switch (d->kind) {
        case KIND_STRING:
                r = state_get_str(v, &s);
                if (r < 0)
                        return r;
                free(*(char **)field);
                *(char **)field = TAKE_PTR(s);
                return 0;
        case KIND_STRV:
                r = state_get_strv(v, &l);
                if (r < 0)
                        return r;
                strv_free(*(char ***)field);
                *(char ***)field = l;
                return 0;
        case KIND_U64:
                return state_get_u64(v, (uint64_t *)field);
        case KIND_UNSIGNED:
                r = state_get_u64(v, &u);
                if (r < 0 || u > UINT_MAX)
                        return -EBADMSG;
                *(unsigned *)field = (unsigned)u;
                return 0;
        case KIND_INT:
                r = state_get_i64(v, &i);
                if (r < 0 || i < INT_MIN || i > INT_MAX)
                        return -EBADMSG;
                *(int *)field = (int)i;
                return 0;
        case KIND_BOOL:
                return state_get_bool(v, (bool *)field);
        case KIND_MODE:
                r = state_get_u64(v, &u);
                if (r < 0 || u > 07777)
                        return -EBADMSG;
                *(mode_t *)field = (mode_t)u;
                return 0;
        case KIND_TYPE:
        case KIND_RESTART:
        case KIND_OUTPUT:
        case KIND_KILL_MODE:
                r = state_get_str(v, &s);
                if (r < 0)
                        return r;
                r = config_state_enum_value(d->kind, s);
                if (r < 0) /* a value of a newer tend */
                        return -EBADMSG;
                *(int *)field = r;
                return 0;
        case KIND_LIMIT:
                return config_state_get_limit(v, (struct config_rlimit *)field);
        }
        return -EBADMSG;
}

/* The field of tag in table t of n, or NULL. Records come in table order,
 * so the search starts after the last one found: one step per field. */
static const struct config_state_field *config_state_field_find(const struct config_state_field *t,
                                                                size_t n, size_t *hint,
                                                                uint16_t tag)
{
        for (size_t j = 0; j < n; j++) {
                size_t i = (*hint + j) % n;

                if (t[i].tag == tag) {
                        *hint = i + 1;
                        return &t[i];
                }
        }
        return NULL;
}

/* What config_load() sets before it reads a file: each key's default,
 * through the key's own parser, so that a field a state lacks reads as a
 * file without that key would. dir: what relative defaults are relative to. */
static int config_state_defaults(const struct config_key *keys, size_t n_keys, void *target,
                                 const char *dir)
{
        struct config_load_ctx l = {};
        struct config_file_ctx f = {
                .load = &l,
                .dir = dir,
                .display_dir = dir,
                .keys = keys,
                .n_keys = n_keys,
                .target = target,
        };
        int r = config_file_apply_defaults(&f);

        free(l.services_display);
        strv_free(l.errors);
        return r < 0 ? r : 0;
}

/* See config-state.h. */
int config_state_put_service(struct state_writer *w, uint16_t tag, const struct service_config *sc)
{
        size_t mark = state_begin(w, tag);

        for (size_t i = 0; i < ELEMENTSOF(config_state_service_fields); i++)
                config_state_put_field(w, &config_state_service_fields[i], sc);
        state_end(w, mark);
        return w->error;
}

/* See config-state.h. */
int config_state_get_service(const struct state_reader *v, struct service_config **ret)
{
        _cleanup_(service_config_freep) struct service_config *sc = NULL;
        struct state_reader r = *v, value;
        size_t hint = 0;
        uint16_t tag;
        int k;

        sc = calloc(1, sizeof *sc);
        if (!sc)
                return -ENOMEM;
        config_keys_init_limits(sc);
        k = config_state_defaults(config_keys_service, config_keys_n_service, sc, NULL);
        if (k < 0)
                return k;
        while ((k = state_next(&r, &tag, &value)) > 0) {
                const struct config_state_field *d = config_state_field_find(
                        config_state_service_fields, ELEMENTSOF(config_state_service_fields), &hint,
                        tag);

                if (!d)
                        continue;
                k = config_state_get_field(d, &value, sc);
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        if (!sc->name || !sc->file || !sc->exec || !sc->argv || !sc->argv[0])
                return -EBADMSG;
        if (!sc->files) { /* from a tendd before drop-ins: the one file */
                sc->files = calloc(2, sizeof(char *));
                if (!sc->files || !(sc->files[0] = strdup(sc->file)))
                        return -ENOMEM;
        }
        if (!sc->environment) { /* never NULL, as after a load */
                sc->environment = calloc(1, sizeof(char *));
                if (!sc->environment)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(sc);
        return 0;
}

/* See config-state.h. */
int config_state_put(struct state_writer *w, uint16_t tag, const struct config *c)
{
        size_t mark = state_begin(w, tag);

        for (size_t i = 0; i < ELEMENTSOF(config_state_config_fields); i++)
                config_state_put_field(w, &config_state_config_fields[i], c);
        for (size_t i = 0; i < c->n_services; i++)
                if (c->services[i])
                        (void)config_state_put_service(w, CONFIG_STATE_SERVICE, c->services[i]);
        for (size_t i = 0; i < c->n_templates; i++) {
                size_t t = state_begin(w, CONFIG_STATE_TEMPLATE);

                for (size_t j = 0; j < ELEMENTSOF(config_state_template_fields); j++)
                        config_state_put_field(w, &config_state_template_fields[j],
                                               c->templates[i]);
                state_end(w, t);
        }
        state_end(w, mark);
        return w->error;
}

/* A template's record: every list one entry per file, at least one. */
static int config_state_get_template(const struct state_reader *v, struct config_template **ret)
{
        _cleanup_(config_template_freep) struct config_template *t = calloc(1, sizeof *t);
        struct state_reader r = *v, value;
        size_t hint = 0, n;
        uint16_t tag;
        int k;

        if (!t)
                return -ENOMEM;
        while ((k = state_next(&r, &tag, &value)) > 0) {
                const struct config_state_field *d = config_state_field_find(
                        config_state_template_fields, ELEMENTSOF(config_state_template_fields),
                        &hint, tag);

                if (!d)
                        continue;
                k = config_state_get_field(d, &value, t);
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        n = strv_length(t->files);
        if (!service_name_is_template(t->name) || n == 0 || strv_length(t->displays) != n ||
            strv_length(t->dirs) != n || strv_length(t->display_dirs) != n ||
            strv_length(t->texts) != n || strv_length(t->of) != n)
                return -EBADMSG;
        *ret = TAKE_PTR(t);
        return 0;
}

/* The first pass over a config's records: its path (relative defaults
 * depend on it) and how many services to make room for. */
static int config_state_scan(const struct state_reader *v, char **ret_path, size_t *ret_n)
{
        _cleanup_free_ char *path = NULL;
        struct state_reader r = *v, value;
        size_t n = 0;
        uint16_t tag;
        int k;

        while ((k = state_next(&r, &tag, &value)) > 0) {
                if (tag == CONFIG_STATE_SERVICE || tag == CONFIG_STATE_TEMPLATE)
                        n++;
                else if (tag == CONFIG_STATE_PATH) {
                        free(path);
                        path = NULL;
                        k = state_get_str(&value, &path);
                        if (k < 0)
                                return k;
                }
        }
        if (k < 0)
                return k;
        if (!path)
                return -EBADMSG;
        *ret_path = TAKE_PTR(path);
        *ret_n = n;
        return 0;
}

/* See config-state.h. */
int config_state_get(const struct state_reader *v, struct config **ret)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_free_ char *dir = NULL;
        struct state_reader r = *v, value;
        size_t n = 0, hint = 0;
        uint16_t tag;
        int k;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        k = config_state_scan(v, &c->path, &n);
        if (k < 0)
                return k;
        dir = path_dirname(c->path);
        if (!dir)
                return -ENOMEM;
        k = config_state_defaults(config_keys_tend, config_keys_n_tend, c, dir);
        if (k < 0)
                return k;
        if (n > 0) {
                c->services = calloc(n, sizeof *c->services);
                c->templates = calloc(n, sizeof *c->templates);
                if (!c->services || !c->templates)
                        return -ENOMEM;
        }
        while ((k = state_next(&r, &tag, &value)) > 0) {
                const struct config_state_field *d;
                struct service_config *sc;

                if (tag == CONFIG_STATE_SERVICE) {
                        k = config_state_get_service(&value, &sc);
                        if (k < 0)
                                return k;
                        c->services[c->n_services++] = sc;
                        /* config_find() searches by name: strictly sorted. */
                        if (c->n_services > 1 &&
                            strcmp(c->services[c->n_services - 2]->name, sc->name) >= 0)
                                return -EBADMSG;
                        continue;
                }
                if (tag == CONFIG_STATE_TEMPLATE) {
                        struct config_template *t;

                        k = config_state_get_template(&value, &t);
                        if (k < 0)
                                return k;
                        c->templates[c->n_templates++] = t;
                        if (c->n_templates > 1 &&
                            strcmp(c->templates[c->n_templates - 2]->name, t->name) >= 0)
                                return -EBADMSG;
                        continue;
                }
                d = config_state_field_find(config_state_config_fields,
                                            ELEMENTSOF(config_state_config_fields), &hint, tag);
                if (!d)
                        continue;
                k = config_state_get_field(d, &value, c);
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        /* What config_load() makes when tend.ini sets none. */
        if (!c->socket_path)
                k = paths_default_socket(&c->socket_path);
        if (k >= 0 && !c->log_dir)
                k = paths_default_log_dir(&c->log_dir);
        if (k == -ENXIO)
                return -EBADMSG;
        if (k < 0)
                return k;
        *ret = TAKE_PTR(c);
        return 0;
}
