/* test-config-state.c: a configuration loaded by config_load() from files
 * that set every key, written as state records through a real memfd and
 * read back: every service equal, every [tend] field kept, the sorted
 * order kept; unknown tags skipped; what a state lacks read as the loader's
 * default; a malformed state refused, never half read. */
#include <fcntl.h>
#include <signal.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "config-state.h"
#include "tap.h"

#define TAG_CONFIG 7
#define TAG_SERVICE 100 /* config-state.c's CONFIG_STATE_SERVICE */

static char tmp[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)remove(p);
        return 0;
}

static void cleanup_tmp(void)
{
        if (tmp[0])
                (void)nftw(tmp, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        tmp[0] = 0;
}

static char *tpath(const char *rel)
{
        static char p[512];

        snprintf(p, sizeof p, "%s/%s", tmp, rel);
        return p;
}

static void wfile(const char *rel, const char *content)
{
        FILE *f = fopen(tpath(rel), "we");

        if (!f || fputs(content, f) < 0 || fclose(f) != 0) {
                perror(rel);
                exit(EXIT_FAILURE);
        }
}

/* A new directory holding tend.ini and the empty directory services. */
static void fresh(const char *tend_ini, const char *services)
{
        cleanup_tmp();
        strcpy(tmp, "/tmp/test-config-state-XXXXXX");
        if (!mkdtemp(tmp) || mkdir(tpath(services), 0755) < 0) {
                perror("mkdtemp");
                exit(EXIT_FAILURE);
        }
        wfile("tend.ini", tend_ini);
}

static struct config *load(void)
{
        _cleanup_strv_free_ char **errors = NULL;
        struct config *c = NULL;
        int r = config_load(tpath("tend.ini"), &c, &errors);

        for (char **e = errors; e && *e; e++)
                diag("%s", *e);
        ok(r == 0 && c, "config loads (%d)", r);
        return c;
}

/* The record of tag TAG_CONFIG in w (after the header) read back through a
 * memfd, as the new image would. */
static int get_through_memfd(struct state_writer *w, struct config **ret)
{
        struct state_reader body, value;
        void *map;
        size_t map_len;
        uint16_t tag;
        int fd, r;

        fd = state_writer_memfd(w);
        if (fd < 0)
                return fd;
        r = state_open(fd, &body, &map, &map_len);
        if (r < 0)
                return r;
        r = state_next(&body, &tag, &value);
        if (r == 1 && tag == TAG_CONFIG)
                r = config_state_get(&value, ret);
        else
                r = -ENOENT;
        state_unmap(map, map_len);
        return r;
}

static int round_trip(const struct config *c, struct config **ret)
{
        struct state_writer w;
        int r;

        state_writer_init(&w);
        state_put_header(&w);
        r = config_state_put(&w, TAG_CONFIG, c);
        if (r >= 0)
                r = get_through_memfd(&w, ret);
        state_writer_free(&w);
        return r;
}

/* Same [tend] fields, same services in the same order, each equal in every
 * field (service_config_equal, and the lines it leaves out). */
static bool config_same(const struct config *a, const struct config *b)
{
        bool same = streq_ptr(a->path, b->path) && streq_ptr(a->services_dir, b->services_dir) &&
                    streq_ptr(a->socket_path, b->socket_path) && a->socket_mode == b->socket_mode &&
                    streq_ptr(a->socket_group, b->socket_group) &&
                    streq_ptr(a->log_dir, b->log_dir) &&
                    streq_ptr(a->cgroup_path, b->cgroup_path) &&
                    streq_ptr(a->exit_with, b->exit_with) &&
                    a->exit_with_line == b->exit_with_line && a->n_services == b->n_services;

        for (size_t i = 0; same && i < a->n_services; i++) {
                const struct service_config *x = a->services[i], *y = b->services[i];

                same = service_config_equal(x, y) && x->after_line == y->after_line &&
                       x->requires_line == y->requires_line && !x->after == !y->after &&
                       x->wants_line == y->wants_line && x->wants_file == y->wants_file &&
                       !x->requires == !y->requires && y->environment &&
                       config_find(b, y->name) == y;
                if (!same)
                        diag("service %s differs", x->name);
        }
        return same;
}

static const char web_ini[] = "[service]\n"
                              "exec = /usr/bin/env \"a b\" 'c d' e\\ f\n"
                              "type = simple\n"
                              "restart = always\n"
                              "restart_delay = 1s\n"
                              "restart_max_delay = 1min 30s\n"
                              "start_limit_burst = 0\n"
                              "start_limit_interval = 2min\n"
                              "stop_signal = SIGINT\n"
                              "stop_timeout = 1.5s\n"
                              "user = root\n"
                              "group = 0\n"
                              "workdir = ${DIR}\n"
                              "umask = 027\n"
                              "environment = A=1\n"
                              "environment = B=two words\n"
                              "environment_file = web.env\n"
                              "environment_file = -missing.env\n"
                              "environment = DIR=/tmp\n"
                              "pass_environment = PATH\n"
                              "expand = yes\n"
                              "success_exit_codes = 3 SIGTERM\n"
                              "restart_prevent_exit_codes = 255 SIGRTMAX\n"
                              "output = console\n"
                              "log_max_size = 512K\n"
                              "log_keep = 0\n"
                              "enabled = no\n"
                              "kill_mode = process\n"
                              "no_new_privs = yes\n"
                              "limit_nofile = 1024:4096\n"
                              "limit_nproc = 100\n"
                              "limit_core = infinity\n"
                              "limit_as = 1G:infinity\n"
                              "limit_data = 512M\n"
                              "limit_stack = 8M\n"
                              "limit_fsize = 4096\n"
                              "limit_memlock = 64K\n"
                              "limit_cpu = 1min:2min\n"
                              "memory_max = 1G\n"
                              "memory_high = 512M\n"
                              "tasks_max = max\n"
                              "cpu_weight = 200\n"
                              "cpu_max = 150%\n"
                              "io_weight = 50\n"
                              "ready_timeout = 5s\n"
                              "ready_fd = 3\n"
                              "after = db cache\n"
                              "requires = db\n"
                              "wants = cache A\n";

/* Every key of both files, services of every type, names that sort in
 * ASCII order (A, a-b, a.b, a_b, ...). */
static struct config *load_full(void)
{
        struct config *c;

        fresh("[tend]\n"
              "services = svc\n"
              "socket = run/tend.sock\n"
              "socket_mode = 0600\n"
              "socket_group = root\n"
              "log_dir = logs\n"
              "cgroup = /sys/fs/cgroup/tend.test\n"
              "exit_with = web\n",
              "svc");
        wfile("svc/web.ini", web_ini);
        wfile("svc/web.env", "X=from the file\nA=0\n");
        wfile("svc/db.ini", "[service]\nexec = /bin/db --x\ntype = notify\nwatchdog = 10s\n"
                            "ready_timeout = 0\noutput = file\nkill_mode = cgroup\n"
                            "requires = cache\numask = 0\n");
        wfile("svc/cache.ini", "[service]\nexec = /bin/true\ntype = oneshot\noutput = journal\n"
                               "kill_mode = group\nrestart = never\nenvironment = EMPTY=\n");
        wfile("svc/A.ini", "[service]\nexec = prog\n");
        wfile("svc/a-b.ini", "[service]\nexec = prog\nafter = A\n");
        wfile("svc/a.b.ini", "[service]\nexec = prog\n");
        wfile("svc/a_b.ini", "[service]\nexec = prog\n");
        wfile("svc/z@1.ini", "[service]\nexec = prog\n");
        c = load();
        return c;
}

static void test_round_trip(void)
{
        _cleanup_(config_freep) struct config *c = load_full(), *d = NULL, *e = NULL;
        const struct service_config *web;
        struct state_writer w1, w2;
        int r;

        if (!c)
                return;
        /* The fixture sets what it means to: not the defaults. */
        web = config_find(c, "web");
        ok(c->n_services == 8 && web && web->ready_fd == 3 && web->kill_mode_set &&
                   web->limits[LIMIT_AS].value.rlim_max == RLIM_INFINITY &&
                   web->cgroup.tasks_max == CONFIG_CGROUP_MAX && web->cgroup.cpu_max == 150000 &&
                   strv_length(web->environment) == 4 + !!getenv("PATH") &&
                   strv_length(web->after) == 2 && streq_ptr(web->workdir, "/tmp") &&
                   strv_length(web->environment_files) == 2 && web->expand &&
                   strv_length(web->pass_environment) == 1 && strv_length(web->wants) == 2 &&
                   web->wants_line > 0 && web->success_exit.status[0] == 1 << 3 &&
                   web->success_exit.signals == 1 << (SIGTERM - 1) &&
                   web->prevent_exit.status[3] == 1ULL << 63 &&
                   web->prevent_exit.signals == 1ULL << 63 &&
                   web->requires_line > 0 && c->exit_with_line == 8 && c->socket_mode == 0600 &&
                   streq_ptr(c->cgroup_path, "/sys/fs/cgroup/tend.test"),
           "fixture: every key set");

        r = round_trip(c, &d);
        ok(r == 0 && d, "round trip (%d)", r);
        if (!d)
                return;
        ok(config_same(c, d), "every [tend] field and every service equal, in the same order");
        ok(config_find(d, "web") && !config_find(d, "nope") && !config_find(d, "a"),
           "config_find on what was read");
        ok(d->services[0]->environment && !d->services[0]->environment[0] &&
                   !d->services[0]->after && !d->services[0]->requires,
           "A: environment empty not NULL, after/requires NULL as loaded");

        /* Nothing is lost: what was read writes the same bytes again. */
        state_writer_init(&w1);
        state_writer_init(&w2);
        (void)config_state_put(&w1, TAG_CONFIG, c);
        (void)config_state_put(&w2, TAG_CONFIG, d);
        ok(w1.error == 0 && w1.len == w2.len && memcmp(w1.buf, w2.buf, w1.len) == 0,
           "written again: the same %zu bytes", w1.len);
        state_writer_free(&w1);
        state_writer_free(&w2);

        /* A service the manager took (NULL in the list) is not written. */
        {
                struct service_config *taken = c->services[1];

                c->services[1] = NULL;
                r = round_trip(c, &e);
                c->services[1] = taken;
                ok(r == 0 && e && e->n_services == c->n_services - 1 &&
                           strcmp(e->services[1]->name, c->services[2]->name) == 0,
                   "NULL entries are skipped");
        }
}

/* Make the record that starts at start in w span everything written since. */
static void extend_record(struct state_writer *w, size_t start)
{
        uint32_t n = (uint32_t)(w->len - start - 6);

        for (unsigned i = 0; i < 4; i++)
                w->buf[start + 2 + i] = (char)(n >> (8 * i));
}

/* What a newer tend might add: a field, a nested list holding known tags. */
static void put_unknown(struct state_writer *w)
{
        size_t mark;

        state_put_str(w, 4000, "a newer field");
        state_put_u64(w, 0xfffe, 1);
        mark = state_begin(w, 0xfffd);
        state_put_str(w, 1, "not a name");
        state_put_u64(w, 9, 1);
        state_end(w, mark);
}

static void test_unknown_tags(void)
{
        _cleanup_(config_freep) struct config *c = load_full(), *d = NULL;
        _cleanup_(service_config_freep) struct service_config *sc = NULL;
        struct state_reader r, value;
        struct state_writer w;
        size_t start, mark;
        uint16_t tag;
        int k;

        if (!c)
                return;
        state_writer_init(&w);
        start = w.len;
        (void)config_state_put_service(&w, 3, config_find(c, "web"));
        put_unknown(&w);
        extend_record(&w, start);
        r = (struct state_reader){ w.buf, w.len };
        k = state_next(&r, &tag, &value);
        ok(k == 1 && tag == 3 && r.len == 0, "a service record with unknown records inside");
        k = config_state_get_service(&value, &sc);
        ok(k == 0 && sc && service_config_equal(sc, config_find(c, "web")),
           "unknown tags inside a service record are skipped (%d)", k);
        state_writer_free(&w);

        /* Inside the config record, and inside a service record in it. */
        /* Known tags inside an unknown record are not read: a config under
         * a tag no config reader knows holds a path, this one does not. */
        state_writer_init(&w);
        state_put_header(&w);
        mark = state_begin(&w, TAG_CONFIG);
        put_unknown(&w);
        (void)config_state_put(&w, 0xfffc, c);
        state_end(&w, mark);
        ok(get_through_memfd(&w, &d) == -EBADMSG,
           "a config record whose only path is in an unknown record: -EBADMSG");
        state_writer_free(&w);

        state_writer_init(&w);
        state_put_header(&w);
        start = w.len;
        (void)config_state_put(&w, TAG_CONFIG, c);
        put_unknown(&w);
        extend_record(&w, start);
        k = get_through_memfd(&w, &d);
        ok(k == 0 && d && config_same(c, d), "unknown tags inside the config record are skipped");
        state_writer_free(&w);
}

/* A service record of tag TAG_SERVICE with only the required fields, less
 * the one of tag omit. */
static void put_min_service(struct state_writer *w, const char *name, const char *file,
                            uint16_t omit)
{
        char *const argv[] = { "/bin/true", NULL };
        size_t mark = state_begin(w, TAG_SERVICE);

        if (omit != 1)
                state_put_str(w, 1, name);
        if (omit != 2)
                state_put_str(w, 2, file);
        if (omit != 3)
                state_put_str(w, 3, "/bin/true");
        if (omit != 4)
                state_put_strv(w, 4, argv);
        state_end(w, mark);
}

/* A state from a tend that had only the required fields: the rest reads
 * as config_load() makes it from files that set nothing. */
static void test_missing_fields(void)
{
        _cleanup_(config_freep) struct config *c = NULL, *d = NULL;
        struct state_writer w;
        size_t mark;
        int k;

        if (geteuid() != 0) /* the defaults of socket and log_dir */
                (void)setenv("XDG_RUNTIME_DIR", "/tmp", 1);
        fresh("[tend]\n", "services.d");
        wfile("services.d/x.ini", "[service]\nexec = /bin/true\n");
        c = load();
        if (!c)
                return;

        state_writer_init(&w);
        state_put_header(&w);
        mark = state_begin(&w, TAG_CONFIG);
        state_put_str(&w, 1, c->path);
        put_min_service(&w, "x", c->services[0]->file, 0);
        state_end(&w, mark);
        k = get_through_memfd(&w, &d);
        ok(k == 0 && d, "a state of only the required fields reads (%d)", k);
        if (d) {
                ok(config_same(c, d), "every other field as config_load() gives it");
                ok(streq_ptr(d->services_dir, tpath("services.d")) && d->socket_mode == 0660 &&
                           d->services[0]->restart_delay == 100 * USEC_PER_MSEC &&
                           d->services[0]->ready_fd == -1 && d->services[0]->enabled &&
                           d->services[0]->limits[LIMIT_CPU].resource == RLIMIT_CPU &&
                           d->services[0]->environment,
                   "services_dir next to the path, socket_mode 0660, restart_delay 100ms, "
                   "ready_fd -1, enabled, limit resources, environment empty");
        }
        state_writer_free(&w);
}

/* Build a config record: path, then what add() puts; read it, and if it
 * reads and check is given, check it. */
static int get_built(void (*add)(struct state_writer *w), bool (*check)(const struct config *c))
{
        _cleanup_(config_freep) struct config *c = NULL;
        struct state_writer w;
        size_t mark;
        int k;

        state_writer_init(&w);
        state_put_header(&w);
        mark = state_begin(&w, TAG_CONFIG);
        state_put_str(&w, 1, "/etc/tend/tend.ini");
        add(&w);
        state_end(&w, mark);
        k = get_through_memfd(&w, &c);
        state_writer_free(&w);
        if (k == 0 && check && !check(c))
                return -EIO;
        return k;
}

static void add_nothing(struct state_writer *w)
{
}
static void add_unsorted(struct state_writer *w)
{
        put_min_service(w, "b", "/b.ini", 0);
        put_min_service(w, "a", "/a.ini", 0);
}
static void add_duplicate(struct state_writer *w)
{
        put_min_service(w, "a", "/a.ini", 0);
        put_min_service(w, "a", "/a.ini", 0);
}
static void add_no_name(struct state_writer *w)
{
        put_min_service(w, "a", "/a.ini", 1);
}
static void add_no_file(struct state_writer *w)
{
        put_min_service(w, "a", "/a.ini", 2);
}
static void add_no_exec(struct state_writer *w)
{
        put_min_service(w, "a", "/a.ini", 3);
}
static void add_no_argv(struct state_writer *w)
{
        put_min_service(w, "a", "/a.ini", 4);
}

/* A minimal service "a", then one more field (tag) put by put(). */
#define ADD_FIELD(name, put)                                                                       \
        static void name(struct state_writer *w)                                                   \
        {                                                                                          \
                size_t start = w->len;                                                             \
                put_min_service(w, "a", "/a.ini", 0);                                              \
                put;                                                                               \
                extend_record(w, start);                                                           \
        }
ADD_FIELD(add_good_type, state_put_str(w, 5, "notify"))
ADD_FIELD(add_bad_type, state_put_str(w, 5, "socket"))
ADD_FIELD(add_unsigned_too_big, state_put_u64(w, 9, 1ULL << 32))
ADD_FIELD(add_int_too_big, state_put_i64(w, 11, INT64_MAX))
ADD_FIELD(add_mode_too_big, state_put_u64(w, 17, 010000))
ADD_FIELD(add_bool_two, state_put_u64(w, 16, 2))
ADD_FIELD(add_u64_as_string, state_put_str(w, 7, "100ms"))
ADD_FIELD(add_limit_soft_only, {
        size_t m = state_begin(w, 35);
        state_put_u64(w, 1, 10);
        state_end(w, m);
})
ADD_FIELD(add_limit, {
        size_t m = state_begin(w, 35);
        state_put_u64(w, 2, 20);
        state_put_u64(w, 1, 10);
        state_end(w, m);
})

static bool check_notify(const struct config *c)
{
        return c->n_services == 1 && c->services[0]->type == SERVICE_NOTIFY;
}
static bool check_limit(const struct config *c)
{
        const struct config_rlimit *rl = &c->services[0]->limits[LIMIT_NOFILE];

        return c->n_services == 1 && rl->set && rl->resource == RLIMIT_NOFILE &&
               rl->value.rlim_cur == 10 && rl->value.rlim_max == 20;
}
static bool check_empty(const struct config *c)
{
        return c->n_services == 0 && !c->services && streq_ptr(c->path, "/etc/tend/tend.ini") &&
               streq_ptr(c->services_dir, "/etc/tend/services.d");
}

static void test_malformed(void)
{
        static const struct {
                void (*add)(struct state_writer *w);
                int want;
                const char *what;
                bool (*check)(const struct config *c);
        } cases[] = {
                { add_nothing, 0, "a config of only its path", check_empty },
                { add_unsorted, -EBADMSG, "services out of order" },
                { add_duplicate, -EBADMSG, "a service twice" },
                { add_no_name, -EBADMSG, "a service without name" },
                { add_no_file, -EBADMSG, "a service without file" },
                { add_no_exec, -EBADMSG, "a service without exec" },
                { add_no_argv, -EBADMSG, "a service without argv" },
                { add_good_type, 0, "type by name", check_notify },
                { add_bad_type, -EBADMSG, "a type this tend does not know" },
                { add_unsigned_too_big, -EBADMSG, "an unsigned above UINT_MAX" },
                { add_int_too_big, -EBADMSG, "an int above INT_MAX" },
                { add_mode_too_big, -EBADMSG, "a mode above 07777" },
                { add_bool_two, -EBADMSG, "a bool of 2" },
                { add_u64_as_string, -EBADMSG, "a duration as a string" },
                { add_limit_soft_only, -EBADMSG, "a limit without its hard value" },
                { add_limit, 0, "a limit, hard first", check_limit },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                int k = get_built(cases[i].add, cases[i].check);

                ok(k == cases[i].want, "%s: %d (want %d)", cases[i].what, k, cases[i].want);
        }
}

/* The config record cut at every byte: read or refused, never a crash or a
 * leak (ASan), and whole only at the end. */
static void test_truncated(void)
{
        _cleanup_(config_freep) struct config *c = load_full();
        struct state_writer w;
        struct state_reader r, value;
        size_t read = 0, bad = 0;
        uint16_t tag;

        if (!c)
                return;
        state_writer_init(&w);
        (void)config_state_put(&w, TAG_CONFIG, c);
        r = (struct state_reader){ w.buf, w.len };
        if (!ok(state_next(&r, &tag, &value) == 1, "written"))
                return;
        for (size_t cut = 0; cut <= value.len; cut++) {
                _cleanup_(config_freep) struct config *d = NULL;
                char *copy = malloc(cut ? cut : 1);
                int k;

                memcpy(copy, value.p, cut);
                k = config_state_get(&(struct state_reader){ copy, cut }, &d);
                if (k == 0) {
                        read++;
                        if (cut == value.len && !config_same(c, d))
                                bad++;
                } else if (k != -EBADMSG || d)
                        bad++;
                free(copy);
        }
        ok(bad == 0 && read >= 2 && read <= c->n_services + 10,
           "every cut of %zu bytes read (%zu: at the records' ends) or -EBADMSG", value.len, read);
        state_writer_free(&w);
}

int main(void)
{
        test_round_trip();
        test_unknown_tags();
        test_missing_fields();
        test_malformed();
        test_truncated();
        cleanup_tmp();
        return tap_done();
}
