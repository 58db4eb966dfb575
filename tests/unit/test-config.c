/* test-config.c: config_load() on files written into a fresh temporary
 * directory per case: every key good and bad, the exact "FILE:LINE: key:
 * reason" of each error, all errors in one pass, and the libinih traps (long
 * lines, " ;", '#', indented lines, CRLF). */
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "config.h"
#include "parse.h"
#include "paths.h"
#include "tap.h"

static char tmp[64];

/* readdir() for the whole program, config.c's calls included (a definition
 * in the executable comes before libc's): the real one, then, once armed and
 * after readdir_fail_after more entries, a failure with EIO, as a failing
 * disk or file system would make it. -1: never fails. */
static int readdir_fail_after = -1;

#ifdef __USE_FILE_OFFSET64
#define READDIR_SYMBOL "readdir64" /* what dirent.h makes readdir call */
#else
#define READDIR_SYMBOL "readdir"
#endif

struct dirent *readdir(DIR *d)
{
        static struct dirent *(*real)(DIR *);

        if (readdir_fail_after == 0) {
                errno = EIO;
                return NULL;
        }
        if (readdir_fail_after > 0)
                readdir_fail_after--;
        if (!real)
                real = (struct dirent * (*)(DIR *)) dlsym(RTLD_NEXT, READDIR_SYMBOL);
        return real(d);
}

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

/* A new empty directory with services.d/ and a minimal tend.ini. */
static void fresh(void)
{
        char p[128];

        cleanup_tmp();
        strcpy(tmp, "/tmp/test-config-XXXXXX");
        if (!mkdtemp(tmp)) {
                perror("mkdtemp");
                exit(EXIT_FAILURE);
        }
        snprintf(p, sizeof p, "%s/services.d", tmp);
        if (mkdir(p, 0755) < 0) {
                perror("mkdir");
                exit(EXIT_FAILURE);
        }
        snprintf(p, sizeof p, "%s/tend.ini", tmp);
        FILE *f = fopen(p, "we");
        fputs("[tend]\nsocket = tend.sock\nlog_dir = log\n", f);
        fclose(f);
}

/* Write tmp/rel with exactly len bytes of content. */
static void wfile_len(const char *rel, const char *content, size_t len)
{
        char p[512];
        FILE *f;

        snprintf(p, sizeof p, "%s/%s", tmp, rel);
        f = fopen(p, "we");
        if (!f || fwrite(content, 1, len, f) != len) {
                perror(p);
                exit(EXIT_FAILURE);
        }
        fclose(f);
}

static void wfile(const char *rel, const char *content)
{
        wfile_len(rel, content, strlen(content));
}

static char *tpath(const char *rel)
{
        static char p[512];

        snprintf(p, sizeof p, "%s/%s", tmp, rel);
        return p;
}

static int load(struct config **c, char ***errors)
{
        *c = config_free(*c);
        *errors = strv_free(*errors);
        return config_load(tpath("tend.ini"), c, errors);
}

/* Expand "S/x.ini:3: ..." to the services dir, "V/x.ini:3: ..." to the vendor
 * dir (vendor/) and "T:3: ..." to tend.ini. */
static char *expand(const char *w)
{
        char *s;
        int r;

        if (strncmp(w, "S/", 2) == 0)
                r = asprintf(&s, "%s/services.d/%s", tmp, w + 2);
        else if (strncmp(w, "V/", 2) == 0)
                r = asprintf(&s, "%s/vendor/%s", tmp, w + 2);
        else if (strncmp(w, "T:", 2) == 0)
                r = asprintf(&s, "%s/tend.ini:%s", tmp, w + 2);
        else
                r = asprintf(&s, "%s", w);
        if (r < 0)
                abort();
        return s;
}

/* The error list must be exactly want (NULL-terminated), in order. */
static void expect_errors(const char *what, char **errors, const char *const *want)
{
        size_t n = 0;
        bool same = true;

        for (; want[n]; n++) {
                char *w = expand(want[n]);
                if (!errors || n >= strv_length(errors) || strcmp(errors[n], w) != 0) {
                        same = false;
                        diag("want: %s", w);
                        diag("got:  %s", errors && n < strv_length(errors) ? errors[n] : "(none)");
                }
                free(w);
        }
        if (strv_length(errors) != n) {
                same = false;
                for (size_t i = n; i < strv_length(errors); i++)
                        diag("extra: %s", errors[i]);
        }
        ok(same, "%s: %zu error(s) as expected", what, n);
}

/* Load a config with one service file and return that service (or NULL). */
static const struct service_config *load_one(const char *content, struct config **c,
                                             char ***errors, int *ret)
{
        wfile("services.d/svc.ini", content);
        *ret = load(c, errors);
        return *ret == 0 ? config_find(*c, "svc") : NULL;
}

static void test_defaults(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const struct service_config *sc;
        char want[256];
        int r;

        fresh();
        sc = load_one("[service]\nexec = /bin/true\n", &c, &errors, &r);
        ok(r == 0 && !errors && sc, "minimal service loads");
        if (!sc)
                return;
        ok(strcmp(c->path, tpath("tend.ini")) == 0, "path");
        ok(strcmp(c->services_dir, tpath("services.d")) == 0, "services dir defaults to "
                                                               "services.d next to tend.ini");
        ok(strcmp(c->socket_path, tpath("tend.sock")) == 0, "socket relative to tend.ini");
        ok(strcmp(c->log_dir, tpath("log")) == 0, "log_dir relative to tend.ini");
        ok(c->socket_mode == 0660, "socket_mode 0660");
        ok(c->socket_group == NULL, "no socket_group");
        ok(c->n_services == 1, "one service");
        ok(strcmp(sc->name, "svc") == 0, "name from file name");
        snprintf(want, sizeof want, "%s/services.d/svc.ini", tmp);
        ok(strcmp(sc->file, want) == 0, "file is the service file's path");
        ok(strcmp(sc->exec, "/bin/true") == 0 && strv_length(sc->argv) == 1 &&
                   strcmp(sc->argv[0], "/bin/true") == 0,
           "exec and argv");
        ok(sc->type == SERVICE_SIMPLE, "type=simple");
        ok(sc->restart == RESTART_ON_FAILURE, "restart=on-failure");
        ok(sc->restart_delay == 100 * USEC_PER_MSEC, "restart_delay=100ms");
        ok(sc->restart_max_delay == 30 * USEC_PER_SEC, "restart_max_delay=30s");
        ok(sc->start_limit_burst == 5, "start_limit_burst=5");
        ok(sc->start_limit_interval == 10 * USEC_PER_SEC, "start_limit_interval=10s");
        ok(sc->stop_signal == SIGTERM, "stop_signal=TERM");
        ok(sc->stop_timeout == 10 * USEC_PER_SEC, "stop_timeout=10s");
        ok(!sc->user && !sc->group && !sc->workdir, "no user, group, workdir");
        ok(!sc->umask_set, "umask unset");
        ok(sc->environment && !sc->environment[0], "environment empty, not NULL");
        ok(!sc->environment_files, "no environment_file");
        ok(!sc->output_set, "output unset");
        ok(sc->log_max_size == 10 * 1024 * 1024, "log_max_size=10M");
        ok(sc->log_keep == 5, "log_keep=5");
        ok(sc->enabled, "enabled=yes");
        ok(!sc->kill_mode_set, "kill_mode unset: cgroup where tend has a cgroup, else group");
        ok(!sc->no_new_privs, "no_new_privs=no");
        bool none = true;
        for (unsigned i = 0; i < _LIMIT_MAX; i++)
                none = none && !sc->limits[i].set;
        ok(none, "no limits set");
        ok(sc->limits[LIMIT_NOFILE].resource == RLIMIT_NOFILE &&
                   sc->limits[LIMIT_CPU].resource == RLIMIT_CPU,
           "limit resources filled in");
}

static void test_tend_ini(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        char p[256];
        int r;

        /* Every key, absolute and relative paths, comments. */
        fresh();
        snprintf(p, sizeof p, "%s/other", tmp);
        mkdir(p, 0755);
        wfile("other/web.ini", "[service]\nexec = web\n");
        snprintf(p, sizeof p,
                 "; comment\n# comment\n[tend]\nservices = other\nsocket = /run/x/t.sock\n"
                 "socket_mode = 0600\nsocket_group = root\nlog_dir = /var/log/x\n");
        wfile("tend.ini", p);
        r = load(&c, &errors);
        ok(r == 0 && !errors, "tend.ini with every key loads");
        if (r == 0) {
                ok(strcmp(c->services_dir, tpath("other")) == 0, "services relative");
                ok(strcmp(c->socket_path, "/run/x/t.sock") == 0, "socket absolute");
                ok(c->socket_mode == 0600, "socket_mode 0600");
                ok(streq_ptr(c->socket_group, "root"), "socket_group root");
                ok(strcmp(c->log_dir, "/var/log/x") == 0, "log_dir absolute");
                ok(c->n_services == 1 && config_find(c, "web"), "service from other dir");
        }
        c = config_free(c);
        errors = strv_free(errors);

        /* An empty tend.ini: every default. */
        fresh();
        wfile("tend.ini", "");
        r = load(&c, &errors);
        ok(r == 0, "empty tend.ini loads");
        if (r == 0) {
                char *s = NULL, *l = NULL;
                ok(paths_default_socket(&s) == 0 && strcmp(c->socket_path, s) == 0,
                   "default socket %s", c->socket_path);
                ok(paths_default_log_dir(&l) == 0 && strcmp(c->log_dir, l) == 0,
                   "default log_dir %s", c->log_dir);
                ok(c->socket_mode == 0660, "default socket_mode");
                free(s);
                free(l);
        }
        c = config_free(c);
        errors = strv_free(errors);

        /* Every tend.ini error, and a missing services directory, in one pass. */
        fresh();
        wfile("tend.ini", "[tend]\n"
                          "services = nowhere\n"
                          "socket_mode = 0999\n"
                          "socket_group = no-such-group-tend-test\n"
                          "bogus = 1\n"
                          "socket = /a/very/long/path/for/a/unix/socket/that/cannot/fit/in/"
                          "sun_path/because/it/is/far/too/long/to/be/accepted/x.sock\n"
                          "log_dir =\n"
                          "[other]\n"
                          "key = value\n");
        r = load(&c, &errors);
        ok(r == -EINVAL && !c, "bad tend.ini fails with -EINVAL");
        snprintf(p, sizeof p, "T:2: services: cannot open directory '%s/nowhere': "
                              "No such file or directory", tmp);
        expect_errors("tend.ini errors", errors,
                      (const char *const[]){
                              "T:3: socket_mode: invalid octal mode '0999' (at most 0777)",
                              "T:4: socket_group: unknown group 'no-such-group-tend-test'",
                              "T:5: bogus: unknown key",
                              "T:6: socket: path '/a/very/long/path/for/a/unix/socket/that/"
                              "cannot/fit/in/sun_path/because/it/is/far/too/long/to/be/"
                              "accepted/x.sock' is "
                              "too long for a unix socket (at most 107 bytes)",
                              "T:7: log_dir: empty value",
                              "T:8: unknown section [other] (expected [tend])",
                              p,
                              NULL });
        c = config_free(c);
        errors = strv_free(errors);

        /* A missing tend.ini is an error naming it. */
        fresh();
        (void)unlink(tpath("tend.ini"));
        r = load(&c, &errors);
        expect_errors("missing tend.ini", errors,
                      (const char *const[]){ "T:0: cannot open: No such file or directory",
                                             NULL });
        c = config_free(c);
        errors = strv_free(errors);

        /* Keys before any section. */
        fresh();
        wfile("tend.ini", "socket = x\n[tend]\n");
        r = load(&c, &errors);
        expect_errors("key outside section", errors,
                      (const char *const[]){ "T:1: socket: key outside of the [tend] section",
                                             NULL });
}

/* exit_with names a service file of the directory; one that has errors of its
 * own is not reported twice. */
static void test_exit_with(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        char p[512];
        int r;

        fresh();
        wfile("tend.ini", "[tend]\nexit_with = web\n");
        wfile("services.d/web.ini", "[service]\nexec = web\n");
        r = load(&c, &errors);
        ok(r == 0 && c && streq_ptr(c->exit_with, "web") && c->exit_with_line == 2,
           "exit_with = web loads");

        wfile("services.d/web.ini", "[service]\nexec = web\nrestart = sometimes\n");
        r = load(&c, &errors);
        expect_errors("exit_with naming a broken service", errors,
                      (const char *const[]){ "S/web.ini:3: restart: invalid value 'sometimes' "
                                             "(expected always, on-failure or never)",
                                             NULL });

        fresh();
        wfile("tend.ini", "[tend]\nexit_with = nope\n");
        r = load(&c, &errors);
        snprintf(p, sizeof p, "T:2: exit_with: no service 'nope' (no %s/services.d/nope.ini)",
                 tmp);
        expect_errors("exit_with without a service", errors, (const char *const[]){ p, NULL });

        wfile("tend.ini", "[tend]\nexit_with = bad/name\n");
        r = load(&c, &errors);
        ok(r == -EINVAL, "exit_with = bad/name fails");
        expect_errors("exit_with with a bad name", errors,
                      (const char *const[]){
                              "T:2: exit_with: invalid service name 'bad/name'", NULL });
}

static void test_all_keys(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const struct service_config *sc;
        int r;

        fresh();
        sc = load_one("[service]\n"
                      "exec = /usr/bin/env \"a b\" 'c d' e\\ f\n"
                      "type = oneshot\n"
                      "restart = always\n"
                      "restart_delay = 1s\n"
                      "restart_max_delay = 1min 30s\n"
                      "start_limit_burst = 0\n"
                      "start_limit_interval = 2min\n"
                      "stop_signal = SIGINT\n"
                      "stop_timeout = 1.5s\n"
                      "user = root\n"
                      "group = 0\n"
                      "workdir = /tmp\n"
                      "umask = 027\n"
                      "environment = A=1\n"
                      "environment = B=two words\n"
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
                      "limit_cpu = 1min:2min\n",
                      &c, &errors, &r);
        ok(r == 0 && sc, "every key loads (r=%d)", r);
        for (char **e = errors; e && *e; e++)
                diag("%s", *e);
        if (!sc)
                return;
        ok(strv_length(sc->argv) == 4 && strcmp(sc->argv[1], "a b") == 0 &&
                   strcmp(sc->argv[2], "c d") == 0 && strcmp(sc->argv[3], "e f") == 0,
           "exec split");
        ok(strcmp(sc->exec, "/usr/bin/env \"a b\" 'c d' e\\ f") == 0, "exec kept as written");
        ok(sc->type == SERVICE_ONESHOT, "type oneshot");
        ok(sc->restart == RESTART_ALWAYS, "restart always");
        ok(sc->restart_delay == USEC_PER_SEC, "restart_delay");
        ok(sc->restart_max_delay == 90 * USEC_PER_SEC, "restart_max_delay");
        ok(sc->start_limit_burst == 0, "start_limit_burst 0");
        ok(sc->start_limit_interval == 2 * USEC_PER_MINUTE, "start_limit_interval");
        ok(sc->stop_signal == SIGINT, "stop_signal");
        ok(sc->stop_timeout == 1500 * USEC_PER_MSEC, "stop_timeout");
        ok(streq_ptr(sc->user, "root") && streq_ptr(sc->group, "0"), "user, group");
        ok(streq_ptr(sc->workdir, "/tmp"), "workdir");
        ok(sc->umask_set && sc->umask == 027, "umask");
        ok(strv_length(sc->environment) == 2 && strcmp(sc->environment[0], "A=1") == 0 &&
                   strcmp(sc->environment[1], "B=two words") == 0,
           "environment");
        ok(sc->output_set && sc->output == OUTPUT_CONSOLE, "output console");
        ok(sc->log_max_size == 512 * 1024 && sc->log_keep == 0, "log_max_size, log_keep");
        ok(!sc->enabled, "enabled no");
        ok(sc->kill_mode == KILL_PROCESS && sc->kill_mode_set, "kill_mode process");
        ok(sc->no_new_privs, "no_new_privs");
        ok(sc->limits[LIMIT_NOFILE].set && sc->limits[LIMIT_NOFILE].value.rlim_cur == 1024 &&
                   sc->limits[LIMIT_NOFILE].value.rlim_max == 4096,
           "limit_nofile soft:hard");
        ok(sc->limits[LIMIT_NPROC].value.rlim_cur == 100 &&
                   sc->limits[LIMIT_NPROC].value.rlim_max == 100,
           "limit_nproc N sets both");
        ok(sc->limits[LIMIT_CORE].value.rlim_cur == RLIM_INFINITY &&
                   sc->limits[LIMIT_CORE].value.rlim_max == RLIM_INFINITY,
           "limit_core infinity");
        ok(sc->limits[LIMIT_AS].value.rlim_cur == 1ULL << 30 &&
                   sc->limits[LIMIT_AS].value.rlim_max == RLIM_INFINITY,
           "limit_as 1G:infinity");
        ok(sc->limits[LIMIT_DATA].value.rlim_cur == 512ULL << 20, "limit_data");
        ok(sc->limits[LIMIT_STACK].value.rlim_cur == 8ULL << 20, "limit_stack");
        ok(sc->limits[LIMIT_FSIZE].value.rlim_cur == 4096, "limit_fsize");
        ok(sc->limits[LIMIT_MEMLOCK].value.rlim_cur == 64 * 1024, "limit_memlock");
        ok(sc->limits[LIMIT_CPU].value.rlim_cur == 60 &&
                   sc->limits[LIMIT_CPU].value.rlim_max == 120,
           "limit_cpu durations in seconds");
        ok(sc->limits[LIMIT_MEMLOCK].resource == RLIMIT_MEMLOCK, "limit resource");

        /* The other spellings. */
        c = config_free(c);
        sc = load_one("[service]\nexec = prog\noutput = null\nkill_mode = group\n"
                      "type = simple\nrestart = never\nstop_signal = 9\nlimit_cpu = 30\n"
                      "output_x = 1\n",
                      &c, &errors, &r);
        expect_errors("unknown key next to good ones", errors,
                      (const char *const[]){ "S/svc.ini:9: output_x: unknown key", NULL });
        errors = strv_free(errors);
        c = config_free(c);
        sc = load_one("[service]\nexec = prog\noutput = null\nkill_mode = group\n"
                      "type = simple\nrestart = never\nstop_signal = 9\nlimit_cpu = 30\n"
                      "output = file\n",
                      &c, &errors, &r);
        expect_errors("duplicate output", errors,
                      (const char *const[]){
                              "S/svc.ini:9: output: duplicate key (first set on line 3)", NULL });
        errors = strv_free(errors);
        c = config_free(c);
        sc = load_one("[service]\nexec = prog\noutput = file\nkill_mode = group\n"
                      "type = simple\nrestart = never\nstop_signal = 9\nlimit_cpu = 30\n",
                      &c, &errors, &r);
        ok(sc && sc->output == OUTPUT_FILE && sc->restart == RESTART_NEVER &&
                   sc->stop_signal == SIGKILL && sc->limits[LIMIT_CPU].value.rlim_max == 30 &&
                   strcmp(sc->argv[0], "prog") == 0,
           "bare program name, output=file, restart=never, numeric signal");
        c = config_free(c);
        sc = load_one("[service]\nexec = prog\noutput = null\n", &c, &errors, &r);
        ok(sc && sc->output == OUTPUT_NULL, "output=null");
        c = config_free(c);
        sc = load_one("[service]\nexec = prog\nkill_mode = cgroup\n", &c, &errors, &r);
        ok(sc && sc->kill_mode == KILL_CGROUP && sc->kill_mode_set, "kill_mode=cgroup");
}

static void test_bad_values(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        fresh();
        wfile("services.d/bad.ini",
              "[service]\n"                                    /* 1 */
              "exec = /bin/true\n"                             /* 2 */
              "type = notify\n"                                /* 3 */
              "restart = sometimes\n"                          /* 4 */
              "restart_delay = 5x\n"                           /* 5 */
              "restart_max_delay = -1s\n"                      /* 6 */
              "start_limit_burst = many\n"                     /* 7 */
              "start_limit_interval = 99999999999999999999\n"  /* 8 */
              "stop_signal = SIGFOO\n"                         /* 9 */
              "stop_timeout = 1m\n"                            /* 10 */
              "user = no-such-user-tend-test\n"                /* 11 */
              "group = no-such-group-tend-test\n"              /* 12 */
              "workdir = relative/dir\n"                       /* 13 */
              "umask = 0800\n"                                 /* 14 */
              "environment = 1X=y\n"                           /* 15 */
              "environment = NOEQUALS\n"                       /* 16 */
              "environment = Q=\"open\n"                       /* 17 */
              "output = Journal\n"                             /* 18 */
              "log_max_size = 10MB\n"                          /* 19 */
              "log_keep = 4294967296\n"                        /* 20 */
              "enabled = maybe\n"                              /* 21 */
              "kill_mode = Cgroup\n"                           /* 22 */
              "no_new_privs = 2\n"                             /* 23 */
              "limit_nofile = 10K\n"                           /* 24 */
              "limit_nproc = 5:4\n"                            /* 25 */
              "limit_core = 1X\n"                              /* 26 */
              "limit_as = 1:\n"                                /* 27 */
              "limit_data = :1\n"                              /* 28 */
              "limit_stack = 1:2:3\n"                          /* 29 */
              "limit_fsize = -1\n"                             /* 30 */
              "limit_memlock = lots\n"                         /* 31 */
              "limit_cpu = 1500ms\n"                           /* 32 */
              "ready_timeout = 5x\n"                           /* 33 */
              "watchdog = soon\n"                              /* 34 */
              "after = .hidden\n"                              /* 35 */
              "requires = bad\n"                               /* 36 */
              "ready_fd = 2\n"                                 /* 37 */
              "type = bogus\n"                                 /* 38 */
              "output = bogus\n"                               /* 39 */
              "kill_mode = bogus\n");                          /* 40 */
        r = load(&c, &errors);
        ok(r == -EINVAL && !c, "bad values fail with -EINVAL");
        expect_errors(
                "every bad value", errors,
                (const char *const[]){
                        "S/bad.ini:4: restart: invalid value 'sometimes' (expected always, "
                        "on-failure or never)",
                        "S/bad.ini:5: restart_delay: invalid duration '5x' (use e.g. 100ms, 30s, "
                        "2min, 1h)",
                        "S/bad.ini:6: restart_max_delay: invalid duration '-1s' (use e.g. 100ms, "
                        "30s, 2min, 1h)",
                        "S/bad.ini:7: start_limit_burst: invalid number 'many'",
                        "S/bad.ini:8: start_limit_interval: duration '99999999999999999999' is "
                        "out of range (at most 24h)",
                        "S/bad.ini:9: stop_signal: invalid signal 'SIGFOO'",
                        "S/bad.ini:10: stop_timeout: invalid duration '1m' (use e.g. 100ms, 30s, "
                        "2min, 1h)",
                        "S/bad.ini:11: user: unknown user 'no-such-user-tend-test'",
                        "S/bad.ini:12: group: unknown group 'no-such-group-tend-test'",
                        "S/bad.ini:13: workdir: 'relative/dir' is not an absolute path",
                        "S/bad.ini:14: umask: invalid octal mode '0800' (at most 0777)",
                        "S/bad.ini:15: environment: invalid variable name: '1X=y'",
                        "S/bad.ini:16: environment: expected KEY=VALUE: 'NOEQUALS'",
                        "S/bad.ini:17: environment: unterminated quote or text after the "
                        "closing quote: 'Q=\"open'",
                        "S/bad.ini:18: output: invalid value 'Journal' (expected journal, file, "
                        "console or null)",
                        "S/bad.ini:19: log_max_size: invalid size '10MB' (use e.g. 4096, 512K, "
                        "10M, 1G)",
                        "S/bad.ini:20: log_keep: 4294967296 is out of range (at most 1000)",
                        "S/bad.ini:21: enabled: invalid boolean 'maybe' (expected yes or no)",
                        "S/bad.ini:22: kill_mode: invalid value 'Cgroup' (expected cgroup, group "
                        "or process)",
                        "S/bad.ini:23: no_new_privs: invalid boolean '2' (expected yes or no)",
                        "S/bad.ini:24: limit_nofile: invalid limit '10K' (expected N, SOFT:HARD "
                        "or infinity; values are a number)",
                        "S/bad.ini:25: limit_nproc: soft limit is above the hard limit in '5:4'",
                        "S/bad.ini:26: limit_core: invalid limit '1X' (expected N, SOFT:HARD or "
                        "infinity; values are a size)",
                        "S/bad.ini:27: limit_as: invalid limit '1:' (expected N, SOFT:HARD or "
                        "infinity; values are a size)",
                        "S/bad.ini:28: limit_data: invalid limit ':1' (expected N, SOFT:HARD or "
                        "infinity; values are a size)",
                        "S/bad.ini:29: limit_stack: invalid limit '1:2:3' (expected N, SOFT:HARD "
                        "or infinity; values are a size)",
                        "S/bad.ini:30: limit_fsize: invalid limit '-1' (expected N, SOFT:HARD or "
                        "infinity; values are a size)",
                        "S/bad.ini:31: limit_memlock: invalid limit 'lots' (expected N, "
                        "SOFT:HARD or infinity; values are a size)",
                        "S/bad.ini:32: limit_cpu: invalid limit '1500ms' (expected N, SOFT:HARD "
                        "or infinity; values are whole seconds)",
                        "S/bad.ini:33: ready_timeout: invalid duration '5x' (use e.g. 100ms, "
                        "30s, 2min, 1h)",
                        "S/bad.ini:34: watchdog: invalid duration 'soon' (use e.g. 100ms, 30s, "
                        "2min, 1h)",
                        "S/bad.ini:35: after: invalid service name '.hidden'",
                        "S/bad.ini:36: requires: a service cannot depend on itself",
                        "S/bad.ini:37: ready_fd: invalid fd '2' (expected a number from 3 to "
                        "1023; 0-2 are the service's stdio)",
                        "S/bad.ini:38: type: duplicate key (first set on line 3)",
                        "S/bad.ini:39: output: duplicate key (first set on line 18)",
                        "S/bad.ini:40: kill_mode: duplicate key (first set on line 22)",
                        NULL });
        errors = strv_free(errors);

        /* Invalid enum values on their own. */
        fresh();
        wfile("services.d/e.ini", "[service]\nexec = x\ntype = bogus\noutput = Bogus\n"
                                  "kill_mode = all\nrestart = \n");
        r = load(&c, &errors);
        expect_errors("bad enums", errors,
                      (const char *const[]){
                              "S/e.ini:3: type: invalid value 'bogus' (expected simple, notify or "
                              "oneshot)",
                              "S/e.ini:4: output: invalid value 'Bogus' (expected journal, file, "
                              "console or null)",
                              "S/e.ini:5: kill_mode: invalid value 'all' (expected cgroup, group "
                              "or process)",
                              "S/e.ini:6: restart: empty value",
                              NULL });
}

static void test_structure_errors(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        char longkey[128], line[512];
        int r;

        fresh();
        memset(longkey, 'k', 65);
        longkey[65] = 0;
        snprintf(line, sizeof line,
                 "exec = /bin/true\n"         /* 1 */
                 "[service]\n"                /* 2 */
                 "exec = /bin/true\n"         /* 3 */
                 "exec = /bin/false\n"        /* 4 */
                 "this line has no equals\n"  /* 5 */
                 "= value\n"                  /* 6 */
                 "%s = 1\n"                   /* 7 */
                 "bad:key = 1\n"              /* 8 */
                 "[service\n"                 /* 9 */
                 "[service] junk\n"           /* 10 */
                 "[Service]\n"                /* 11 */
                 "type = oneshot\n"           /* 12: skipped, section already reported */
                 "[service]\n"                /* 13 */
                 "Exec = x\n",                /* 14 */
                 longkey);
        wfile("services.d/s.ini", line);
        r = load(&c, &errors);
        ok(r == -EINVAL, "structure errors fail");
        expect_errors("structure errors", errors,
                      (const char *const[]){
                              "S/s.ini:1: exec: key outside of the [service] section",
                              "S/s.ini:4: exec: duplicate key (first set on line 3)",
                              "S/s.ini:5: syntax error: expected 'key = value', '[section]' or "
                              "a comment",
                              "S/s.ini:6: syntax error: missing key before '='",
                              "S/s.ini:7: key name too long (at most 64 bytes)",
                              "S/s.ini:8: invalid key name 'bad:key'",
                              "S/s.ini:9: invalid section header: missing ']'",
                              "S/s.ini:10: invalid section header: text after ']'",
                              "S/s.ini:11: unknown section [Service] (expected [service])",
                              "S/s.ini:14: Exec: unknown key",
                              NULL });
        errors = strv_free(errors);

        /* Missing and empty exec, relative program path. */
        fresh();
        wfile("services.d/a.ini", "[service]\ntype = simple\n");
        wfile("services.d/b.ini", "[service]\nexec =\n");
        wfile("services.d/c.ini", "[service]\nexec = ''\n");
        wfile("services.d/d.ini", "[service]\nexec = \"\" arg\n");
        wfile("services.d/e.ini", "[service]\nexec = ./run.sh\n");
        wfile("services.d/f.ini", "[service]\nexec = bin/run\n");
        wfile("services.d/g.ini", "[service]\nexec = sh -c 'unterminated\n");
        wfile("services.d/h.ini", "[service]\nexec = sh -c trailing\\\n");
        wfile("services.d/i.ini", "");
        wfile("services.d/j.ini", "[service]\nexec =    \t  \n");
        wfile("services.d/k.ini", "[service]\nexec = \"\"\"\"\n");
        r = load(&c, &errors);
        expect_errors(
                "exec errors", errors,
                (const char *const[]){
                        "S/a.ini:0: exec: required key is missing",
                        "S/b.ini:2: exec: empty value",
                        "S/c.ini:2: exec: empty program name",
                        "S/d.ini:2: exec: empty program name",
                        "S/e.ini:2: exec: program './run.sh' must be an absolute path or a bare "
                        "name searched in PATH",
                        "S/f.ini:2: exec: program 'bin/run' must be an absolute path or a bare "
                        "name searched in PATH",
                        "S/g.ini:2: exec: unterminated quote or trailing backslash in command "
                        "line",
                        "S/h.ini:2: exec: unterminated quote or trailing backslash in command "
                        "line",
                        "S/i.ini:0: exec: required key is missing",
                        "S/j.ini:2: exec: empty value",
                        "S/k.ini:2: exec: empty program name",
                        NULL });
        errors = strv_free(errors);

        /* "exec = ' '" is a one-blank program name: allowed at config time, it
         * fails at spawn like any missing binary. A missing absolute binary too. */
        fresh();
        wfile("services.d/a.ini", "[service]\nexec = /no/such/binary --flag\n");
        wfile("services.d/b.ini", "[service]\nexec = no-such-binary-in-path\n");
        r = load(&c, &errors);
        ok(r == 0 && c->n_services == 2, "missing binaries are not a config error");
        c = config_free(c);

        /* A NUL byte in a line. */
        fresh();
        static const char nul[] = "[service]\nexec = /bin/true\nuser = a\0b\n";
        wfile_len("services.d/n.ini", nul, sizeof nul - 1);
        r = load(&c, &errors);
        expect_errors("NUL byte", errors,
                      (const char *const[]){ "S/n.ini:3: line contains a NUL byte", NULL });
        errors = strv_free(errors);

        /* restart_delay above restart_max_delay, on either line. */
        fresh();
        wfile("services.d/a.ini", "[service]\nexec = x\nrestart_delay = 1min\n");
        wfile("services.d/b.ini", "[service]\nexec = x\nrestart_max_delay = 50ms\n");
        wfile("services.d/c.ini",
              "[service]\nexec = x\nrestart_max_delay = 1s\nrestart_delay = 1.5s\n");
        wfile("services.d/d.ini",
              "[service]\nexec = x\nrestart_max_delay = 1s\nrestart_delay = 1s\n");
        wfile("services.d/e.ini", "[service]\nexec = x\nrestart_max_delay = bad\n");
        r = load(&c, &errors);
        expect_errors(
                "restart_delay > restart_max_delay", errors,
                (const char *const[]){
                        "S/a.ini:3: restart_delay: restart_delay 1min is greater than "
                        "restart_max_delay 30s",
                        "S/b.ini:3: restart_max_delay: restart_delay 100ms is greater than "
                        "restart_max_delay 50ms",
                        "S/c.ini:4: restart_delay: restart_delay 1.5s is greater than "
                        "restart_max_delay 1s",
                        "S/e.ini:3: restart_max_delay: invalid duration 'bad' (use e.g. 100ms, "
                        "30s, 2min, 1h)",
                        NULL });
}

static void test_file_names(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        char name[128];
        int r;

        fresh();
        wfile("services.d/ok.ini", "[service]\nexec = x\n");
        wfile("services.d/.hidden.ini", "[service]\nexec = x\n");
        wfile("services.d/a b.ini", "[service]\nexec = x\n");
        wfile("services.d/.ini", "[service]\nexec = x\n");
        memset(name, 'n', 65);
        strcpy(name + 65, ".ini");
        {
                char rel[160];
                snprintf(rel, sizeof rel, "services.d/%s", name);
                wfile(rel, "[service]\nexec = x\n");
        }
        /* Not ending in .ini: ignored whatever they hold. */
        wfile("services.d/README", "garbage");
        wfile("services.d/x.ini.bak", "garbage");
        wfile("services.d/x.ini~", "garbage");
        wfile("services.d/x.INI", "garbage");
        mkdir(tpath("services.d/dir.ini"), 0755);
        r = load(&c, &errors);
        ok(r == -EINVAL, "bad file names fail");
        expect_errors(
                "bad file names", errors,
                (const char *const[]){
                        "S/.ini:0: invalid service name '' (1-64 characters of A-Z a-z 0-9 _ . "
                        "@ -, not starting with '.')",
                        "S/.hidden.ini:0: invalid service name '.hidden' (1-64 characters of "
                        "A-Z a-z 0-9 _ . @ -, not starting with '.')",
                        "S/a b.ini:0: invalid service name 'a b' (1-64 characters of A-Z a-z 0-9 "
                        "_ . @ -, not starting with '.')",
                        "S/dir.ini:0: not a regular file (a directory)",
                        "S/nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
                        ".ini:0: "
                        "invalid service name "
                        "'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn' (1-64 "
                        "characters of A-Z a-z 0-9 _ . @ -, not starting with '.')",
                        NULL });
        errors = strv_free(errors);

        /* Sorted by name (not file name: "a-b" < "a" + ".ini" would differ), found by
         * binary search. */
        fresh();
        static const char *const names[] = { "zeta", "a", "a-b", "web@1", "M", "b.c", "_x" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char rel[128];
                snprintf(rel, sizeof rel, "services.d/%s.ini", names[i]);
                wfile(rel, "[service]\nexec = x\n");
        }
        r = load(&c, &errors);
        ok(r == 0 && c->n_services == ELEMENTSOF(names), "seven services");
        if (r == 0) {
                bool sorted = true;
                for (size_t i = 1; i < c->n_services; i++)
                        sorted = sorted &&
                                 strcmp(c->services[i - 1]->name, c->services[i]->name) < 0;
                ok(sorted, "services sorted by name");
                bool found = true;
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        const struct service_config *sc = config_find(c, names[i]);
                        found = found && sc && strcmp(sc->name, names[i]) == 0;
                }
                ok(found, "config_find finds each");
                ok(!config_find(c, "nope") && !config_find(c, "") && !config_find(c, "zz") &&
                           !config_find(c, "0"),
                   "config_find misses");
        }
        ok(config_find(NULL, "a") == NULL, "config_find(NULL)");
        c = config_free(c);

        /* An empty services directory is fine. */
        fresh();
        r = load(&c, &errors);
        ok(r == 0 && c->n_services == 0 && !errors, "no services");
}

static void test_inih_traps(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const struct service_config *sc;
        size_t big = 5000;
        char *content, *p;
        int r;

        /* A 5000-byte exec line, a " ;" and '#' inside values, then more keys whose
         * line numbers must still be right. */
        fresh();
        content = malloc(big + 512);
        p = content;
        p += sprintf(p, "[service]\nexec = /bin/echo ");
        memset(p, 'A', big);
        p += big;
        p += sprintf(p, " end\nenvironment = X=a ;b #c\nenvironment = Y=#1\n"
                        "stop_signal = BAD ; comment\n");
        wfile("services.d/svc.ini", content);
        r = load(&c, &errors);
        expect_errors("long line: later line numbers exact", errors,
                      (const char *const[]){
                              "S/svc.ini:5: stop_signal: invalid signal 'BAD ; comment'", NULL });
        errors = strv_free(errors);
        c = config_free(c);

        p = strstr(content, "stop_signal");
        strcpy(p, "stop_signal = KILL\n");
        sc = load_one(content, &c, &errors, &r);
        ok(sc && strv_length(sc->argv) == 3 && strlen(sc->argv[1]) == big &&
                   strcmp(sc->argv[2], "end") == 0,
           "5000-byte argument kept whole");
        ok(sc && strlen(sc->exec) == big + strlen("/bin/echo  end"), "exec as written");
        ok(sc && strv_length(sc->environment) == 2 &&
                   strcmp(sc->environment[0], "X=a ;b #c") == 0 &&
                   strcmp(sc->environment[1], "Y=#1") == 0,
           "';' and '#' inside values are literal");
        c = config_free(c);
        free(content);

        /* sh -c 'a ;b' keeps ";b". */
        sc = load_one("[service]\nexec = sh -c 'echo a ;echo b' ; not a comment\n", &c,
                      &errors, &r);
        ok(sc && strv_length(sc->argv) == 7 && strcmp(sc->argv[2], "echo a ;echo b") == 0 &&
                   strcmp(sc->argv[3], ";") == 0,
           "exec with ' ;' is not cut");
        c = config_free(c);

        /* Indented lines are their own lines, never continuations. */
        sc = load_one("[service]\n  exec = /bin/true\n\ttype = oneshot\n    ; indented comment\n"
                      "  # another\n",
                      &c, &errors, &r);
        ok(sc && sc->type == SERVICE_ONESHOT && strcmp(sc->exec, "/bin/true") == 0 &&
                   strv_length(sc->argv) == 1,
           "indented keys parse as keys");
        c = config_free(c);
        sc = load_one("[service]\nexec = /bin/echo a\n    b c\n", &c, &errors, &r);
        expect_errors("indented text is not a continuation", errors,
                      (const char *const[]){ "S/svc.ini:3: syntax error: expected 'key = value', "
                                             "'[section]' or a comment",
                                             NULL });
        errors = strv_free(errors);

        /* CRLF line endings, a BOM, blanks around '=' and the section name. */
        sc = load_one("\xef\xbb\xbf[ service ]\r\nexec=/bin/echo  x  \r\n\r\n; c\r\n"
                      "type =oneshot\r\nenvironment = A=\"q\"\r\n",
                      &c, &errors, &r);
        ok(sc && strcmp(sc->exec, "/bin/echo  x") == 0 && strv_length(sc->argv) == 2 &&
                   strcmp(sc->argv[1], "x") == 0 && sc->type == SERVICE_ONESHOT &&
                   strcmp(sc->environment[0], "A=q") == 0,
           "CRLF, BOM and blanks");
        c = config_free(c);
        sc = load_one("[service]\r\nexec = x\r\nbogus = 1\r\n", &c, &errors, &r);
        expect_errors("CRLF line numbers", errors,
                      (const char *const[]){ "S/svc.ini:3: bogus: unknown key", NULL });
        errors = strv_free(errors);

        /* A last line without a newline. */
        sc = load_one("[service]\nexec = /bin/true", &c, &errors, &r);
        ok(sc && strcmp(sc->exec, "/bin/true") == 0, "no final newline");
        c = config_free(c);

        /* A 100 KiB line of environment. */
        content = malloc(200000);
        p = content + sprintf(content, "[service]\nexec = x\nenvironment = BIG=");
        memset(p, 'v', 100000);
        strcpy(p + 100000, "\n");
        sc = load_one(content, &c, &errors, &r);
        ok(sc && strlen(sc->environment[0]) == 100004, "100 KiB value");
        free(content);
}

static void test_environment(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const struct service_config *sc;
        char ini[512];
        int r;

        fresh();
        wfile("env", "# comment\n"
                     "\n"
                     "A=from-file\n"
                     "  B = spaced  \n"
                     "C=\"double \\\"quoted\\\" $x\"\n"
                     "D='single \"x\" \\n'\n"
                     "E=keep\r\n"
                     "A=file-again\n"
                     "EMPTY=\n");
        snprintf(ini, sizeof ini,
                 "[service]\nexec = x\nenvironment = A=env-line\nenvironment = Z=1\n"
                 "environment_file = %s/env\nenvironment = Z=2\nenvironment = F='a b'\n",
                 tmp);
        sc = load_one(ini, &c, &errors, &r);
        ok(sc != NULL, "environment_file loads (r=%d)", r);
        for (char **e = errors; e && *e; e++)
                diag("%s", *e);
        if (sc) {
                static const char *const want[] = {
                        "A=env-line", "B=spaced", "C=double \"quoted\" $x",
                        "D=single \"x\" \\n", "E=keep", "EMPTY=", "Z=2", "F=a b", NULL
                };
                if (!ok(strv_equal(sc->environment, (char *const *)want),
                        "file first, environment= after, later wins, one entry per key"))
                        for (char **e = sc->environment; e && *e; e++)
                                diag("  %s", *e);
                ok(strv_length(sc->environment_files) == 1 &&
                           strcmp(sc->environment_files[0], tpath("env")) == 0,
                   "environment_file path");
        }
        c = config_free(c);

        /* Relative to the services directory. */
        wfile("services.d/vars", "V=1\n");
        sc = load_one("[service]\nexec = x\nenvironment_file = vars\n", &c, &errors, &r);
        ok(sc && strv_length(sc->environment) == 1 && strcmp(sc->environment[0], "V=1") == 0 &&
                   strcmp(sc->environment_files[0], tpath("services.d/vars")) == 0,
           "relative environment_file");
        c = config_free(c);

        /* Errors: a missing file, bad lines (each named), a duplicate key. */
        wfile("bad-env", "OK=1\nnot an assignment\n9X=1\nQ=\"open\nR='x' y\n");
        snprintf(ini, sizeof ini,
                 "[service]\nexec = x\nenvironment_file = %s/bad-env\n", tmp);
        wfile("services.d/a.ini", ini);
        wfile("services.d/b.ini",
              "[service]\nexec = x\nenvironment_file = /no/such/env\n"
              "environment_file = -/again\nenvironment_file = /dev/null/x\n");
        (void)unlink(tpath("services.d/svc.ini"));
        r = load(&c, &errors);
        char e1[256], e2[256], e3[256], e4[256];
        snprintf(e1, sizeof e1, "S/a.ini:3: environment_file: %s/bad-env:2: expected KEY=VALUE",
                 tmp);
        snprintf(e2, sizeof e2, "S/a.ini:3: environment_file: %s/bad-env:3: invalid variable name",
                 tmp);
        snprintf(e3, sizeof e3,
                 "S/a.ini:3: environment_file: %s/bad-env:4: unterminated quote or text after "
                 "the closing quote",
                 tmp);
        snprintf(e4, sizeof e4,
                 "S/a.ini:3: environment_file: %s/bad-env:5: unterminated quote or text after "
                 "the closing quote",
                 tmp);
        expect_errors("environment_file errors", errors,
                      (const char *const[]){
                              e1, e2, e3, e4,
                              "S/b.ini:3: environment_file: '/no/such/env': cannot open: No such "
                              "file or directory",
                              "S/b.ini:5: environment_file: '/dev/null/x': cannot open: Not a "
                              "directory",
                              NULL });
}

static void test_relative_config_path(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        char cwd[4096];
        int r;

        fresh();
        wfile("services.d/x.ini", "[service]\nexec = x\nbogus = 1\n");
        if (!getcwd(cwd, sizeof cwd) || chdir(tmp) < 0) {
                ok(0, "chdir");
                return;
        }
        r = config_load("tend.ini", &c, &errors);
        ok(r == -EINVAL && errors &&
                   strcmp(errors[0], "services.d/x.ini:3: bogus: unknown key") == 0,
           "relative tend.ini: messages use relative paths (%s)", errors ? errors[0] : "");
        errors = strv_free(errors);
        wfile("services.d/x.ini", "[service]\nexec = x\n");
        r = config_load("./tend.ini", &c, &errors);
        ok(r == 0 && c->path[0] == '/' && strcmp(c->services_dir, tpath("services.d")) == 0 &&
                   c->services[0]->file[0] == '/',
           "relative tend.ini: stored paths are absolute (%s)", c ? c->services_dir : "");
        (void)chdir(cwd);
}

static void test_all_files_one_pass(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        int r;

        fresh();
        wfile("tend.ini", "[tend]\nsocket = s\nnope = 1\n");
        wfile("services.d/a.ini", "[service]\nexec = x\ntype = x\n");
        wfile("services.d/b.ini", "[service]\nexec = x\n");
        wfile("services.d/c.ini", "[service]\nexec = x\nstop_timeout = x\nlog_keep = -1\n");
        r = load(&c, &errors);
        ok(r == -EINVAL && c == NULL, "one bad file rejects the whole config");
        expect_errors("all files in one pass", errors,
                      (const char *const[]){
                              "T:3: nope: unknown key",
                              "S/a.ini:3: type: invalid value 'x' (expected simple, notify or "
                              "oneshot)",
                              "S/c.ini:3: stop_timeout: invalid duration 'x' (use e.g. 100ms, "
                              "30s, 2min, 1h)",
                              "S/c.ini:4: log_keep: invalid number '-1'",
                              NULL });
        errors = strv_free(errors);

        /* Long values are cut in messages. */
        char line[512];
        char v[201];
        memset(v, 'x', 200);
        v[200] = 0;
        snprintf(line, sizeof line, "[service]\nexec = x\nstop_signal = %s\n", v);
        fresh();
        wfile("services.d/l.ini", line);
        r = load(&c, &errors);
        ok(errors && strlen(errors[0]) < 200 && strstr(errors[0], "xxx...'"),
           "long value shortened in the message: %s", errors ? errors[0] : "");
}

static void test_copy_equal(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        struct service_config *a, *b;
        const struct service_config *sc;
        int r;

        fresh();
        sc = load_one("[service]\nexec = /bin/sleep 10\nuser = root\nworkdir = /\numask = 022\n"
                      "environment = A=1\nlimit_nofile = 100\noutput = file\n",
                      &c, &errors, &r);
        if (!ok(sc != NULL, "load for copy"))
                return;
        a = service_config_copy(sc);
        ok(a && a != sc && a->argv != sc->argv && a->environment != sc->environment &&
                   a->user != sc->user,
           "copy is deep");
        ok(service_config_equal(a, sc) && service_config_spawn_equal(a, sc), "copy is equal");

#define CHECK(what, mutate, spawn_same)                                                            \
        do {                                                                                       \
                b = service_config_copy(sc);                                                       \
                mutate;                                                                            \
                ok(!service_config_equal(b, sc), what ": not equal");                              \
                ok(service_config_spawn_equal(b, sc) == (spawn_same),                              \
                   what ": spawn_equal %s", (spawn_same) ? "true" : "false");                     \
                service_config_free(b);                                                            \
        } while (0)

        CHECK("restart", b->restart = RESTART_NEVER, true);
        CHECK("restart_delay", b->restart_delay++, true);
        CHECK("restart_max_delay", b->restart_max_delay++, true);
        CHECK("start_limit_burst", b->start_limit_burst++, true);
        CHECK("start_limit_interval", b->start_limit_interval++, true);
        CHECK("stop_signal", b->stop_signal = SIGINT, true);
        CHECK("stop_timeout", b->stop_timeout++, true);
        CHECK("log_max_size", b->log_max_size++, true);
        CHECK("log_keep", b->log_keep++, true);
        CHECK("enabled", b->enabled = !b->enabled, true);
        CHECK("kill_mode", b->kill_mode = KILL_PROCESS, true);
        CHECK("environment_file", strv_extend(&b->environment_files, "/e"), true);
        CHECK("exec line only", (free(b->exec), b->exec = strdup("/bin/sleep  '10'")), true);
        CHECK("argv", (free(b->argv[1]), b->argv[1] = strdup("11")), false);
        CHECK("type", b->type = SERVICE_ONESHOT, false);
        CHECK("user", (free(b->user), b->user = NULL), false);
        CHECK("group", b->group = strdup("root"), false);
        CHECK("workdir", (free(b->workdir), b->workdir = strdup("/tmp")), false);
        CHECK("umask", b->umask = 077, false);
        CHECK("umask_set", b->umask_set = false, false);
        CHECK("environment", strv_extend(&b->environment, "B=2"), false);
        CHECK("output", b->output = OUTPUT_NULL, false);
        CHECK("output_set", b->output_set = false, false);
        CHECK("no_new_privs", b->no_new_privs = true, false);
        CHECK("limit value", b->limits[LIMIT_NOFILE].value.rlim_max++, false);
        CHECK("limit set", b->limits[LIMIT_CORE].set = true, false);
#undef CHECK
        service_config_free(a);
        ok(service_config_free(NULL) == NULL && config_free(NULL) == NULL, "free(NULL)");
}

static void test_strings(void)
{
        ok(strcmp(service_type_to_string(SERVICE_SIMPLE), "simple") == 0 &&
                   strcmp(service_type_to_string(SERVICE_NOTIFY), "notify") == 0 &&
                   strcmp(service_type_to_string(SERVICE_ONESHOT), "oneshot") == 0 &&
                   !service_type_to_string(_SERVICE_TYPE_MAX),
           "service_type_to_string");
        ok(strcmp(restart_policy_to_string(RESTART_ALWAYS), "always") == 0 &&
                   strcmp(restart_policy_to_string(RESTART_ON_FAILURE), "on-failure") == 0 &&
                   strcmp(restart_policy_to_string(RESTART_NEVER), "never") == 0 &&
                   !restart_policy_to_string(_RESTART_MAX),
           "restart_policy_to_string");
        ok(strcmp(output_mode_to_string(OUTPUT_JOURNAL), "journal") == 0 &&
                   strcmp(output_mode_to_string(OUTPUT_FILE), "file") == 0 &&
                   strcmp(output_mode_to_string(OUTPUT_CONSOLE), "console") == 0 &&
                   strcmp(output_mode_to_string(OUTPUT_NULL), "null") == 0 &&
                   !output_mode_to_string(_OUTPUT_MAX),
           "output_mode_to_string");
        ok(strcmp(kill_mode_to_string(KILL_CGROUP), "cgroup") == 0 &&
                   strcmp(kill_mode_to_string(KILL_GROUP), "group") == 0 &&
                   strcmp(kill_mode_to_string(KILL_PROCESS), "process") == 0 &&
                   !kill_mode_to_string(_KILL_MODE_MAX),
           "kill_mode_to_string");
}

static void test_nofile_infinity(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;

        fresh();
        wfile("services.d/n.ini", "[service]\nexec = /bin/true\nlimit_nofile = 1024:infinity\n"
                                  "limit_core = infinity\n");
        ok(load(&c, &errors) == -EINVAL, "limit_nofile = infinity is rejected");
        expect_errors("nofile infinity", errors,
                      (const char *const[]){ "S/n.ini:3: limit_nofile: infinity is not possible "
                                             "for open files (the kernel caps them at "
                                             "fs.nr_open): give a number",
                                             NULL });
}

static void test_dependencies(void)
{
        _cleanup_free_ char *where = NULL;
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const struct service_config *sc;
        int r;

        /* A valid graph: a chain and a diamond, readiness keys. */
        fresh();
        wfile("services.d/a.ini", "[service]\nexec = /bin/true\ntype = notify\n"
                                  "ready_timeout = 2s\nwatchdog = 500ms\n");
        wfile("services.d/b.ini", "[service]\nexec = /bin/true\nafter = a\n");
        wfile("services.d/c.ini", "[service]\nexec = /bin/true\nrequires = a  b\nafter = b b\n"
                                  "ready_fd = 5\n");
        r = load(&c, &errors);
        ok(r == 0, "a valid dependency graph loads");
        sc = c ? config_find(c, "a") : NULL;
        ok(sc && sc->type == SERVICE_NOTIFY && sc->ready_timeout == 2 * USEC_PER_SEC &&
                   sc->watchdog == 500 * USEC_PER_MSEC && sc->ready_fd == -1,
           "type=notify, ready_timeout, watchdog parsed; ready_fd defaults to none");
        sc = c ? config_find(c, "c") : NULL;
        ok(sc && strv_length(sc->requires) == 2 && strcmp(sc->requires[1], "b") == 0 &&
                   strv_length(sc->after) == 1 && sc->ready_fd == 5 && sc->requires_line == 3 &&
                   sc->after_line == 4,
           "requires/after split on blanks, deduplicated, lines kept; ready_fd parsed");
        c = config_free(c);

        /* Unknown names and cycles, with the files and the path. */
        fresh();
        wfile("services.d/a.ini", "[service]\nexec = /bin/true\nafter = c\n");
        wfile("services.d/b.ini", "[service]\nexec = /bin/true\nrequires = a\n");
        wfile("services.d/c.ini", "[service]\nexec = /bin/true\n\nafter = b\n");
        wfile("services.d/d.ini", "[service]\nexec = /bin/true\nwatchdog = 1s\n");
        wfile("services.d/e.ini", "[service]\nexec = /bin/true\ntype = oneshot\nready_fd = 3\n");
        wfile("services.d/f.ini", "[service]\nexec = /bin/true\nafter = a ghost\n");
        if (asprintf(&where,
                     "%1$s/services.d/b.ini:3: requires: dependency cycle a -> c -> b -> a "
                     "(%1$s/services.d/a.ini:3 after, %1$s/services.d/c.ini:4 after, "
                     "%1$s/services.d/b.ini:3 requires)",
                     tmp) < 0)
                abort();
        r = load(&c, &errors);
        ok(r == -EINVAL && !c, "unknown names and cycles are rejected");
        expect_errors("dependency errors", errors,
                      (const char *const[]){
                              "S/d.ini:3: watchdog: needs type=notify (pings arrive as WATCHDOG=1)",
                              "S/e.ini:4: ready_fd: only for type=simple (type=oneshot has its "
                              "own readiness)",
                              "S/f.ini:3: after: unknown service 'ghost'", where, NULL });
}

/* Files that are not regular files or are too large, numbers out of range,
 * argv and environment execve() would refuse, error lists of any length. */
static void test_hostile_input(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const struct service_config *sc;
        char ini[1024], want[1][1024];
        char *big;
        size_t n;
        int r;

        /* A FIFO and a device as environment_file: an error, at once. */
        fresh();
        if (mkfifo(tpath("env.fifo"), 0644) < 0)
                abort();
        snprintf(ini, sizeof ini, "[service]\nexec = x\nenvironment_file = %s\n",
                 tpath("env.fifo"));
        wfile("services.d/a.ini", ini);
        wfile("services.d/b.ini", "[service]\nexec = x\nenvironment_file = /dev/zero\n");
        r = load(&c, &errors);
        snprintf(want[0], sizeof want[0],
                 "S/a.ini:3: environment_file: '%s': not a regular file (a FIFO)",
                 tpath("env.fifo"));
        expect_errors("FIFO and device environment files", errors,
                      (const char *const[]){ want[0],
                                             "S/b.ini:3: environment_file: '/dev/zero': not a "
                                             "regular file (a character device)",
                                             NULL });

        /* Files over 1 MiB: a service file, an environment file. */
        fresh();
        n = CONFIG_FILE_MAX + 1;
        big = malloc(n);
        memset(big, '#', n);
        memcpy(big, "[service]\nexec = x\n", 19);
        big[19] = '#';
        wfile_len("services.d/big.ini", big, n);
        memset(big, '\n', n);
        wfile_len("big.env", big, n);
        free(big);
        snprintf(ini, sizeof ini, "[service]\nexec = x\nenvironment_file = %s\n",
                 tpath("big.env"));
        wfile("services.d/e.ini", ini);
        r = load(&c, &errors);
        snprintf(want[0], sizeof want[0],
                 "S/e.ini:3: environment_file: '%s': larger than 1 MiB", tpath("big.env"));
        expect_errors("files over 1 MiB", errors,
                      (const char *const[]){ "S/big.ini:0: larger than 1 MiB", want[0], NULL });

        /* Ranges: each bound itself is accepted, one past it is not. */
        fresh();
        sc = load_one("[service]\nexec = x\nstart_limit_burst = 10000\nlog_keep = 1000\n"
                      "log_max_size = 4K\nrestart_delay = 24h\nrestart_max_delay = 24h\n"
                      "stop_timeout = 24h\nready_timeout = 0\nwatchdog = 0\n"
                      "limit_nofile = 1024\n",
                      &c, &errors, &r);
        ok(sc && sc->start_limit_burst == 10000 && sc->log_keep == 1000 &&
                   sc->log_max_size == 4096 && sc->restart_delay == 24 * USEC_PER_HOUR,
           "values at the edge of their range load (r=%d)", r);
        c = config_free(c);
        wfile("services.d/svc.ini",
              "[service]\n"                       /* 1 */
              "exec = x\n"                        /* 2 */
              "start_limit_burst = 10001\n"       /* 3 */
              "log_keep = 1001\n"                 /* 4 */
              "log_max_size = 4095\n"             /* 5 */
              "restart_max_delay = 24h 1ms\n"     /* 6 */
              "stop_timeout = infinity\n"         /* 7 */
              "ready_timeout = 25h\n"             /* 8 */
              "watchdog = 100h\n"                 /* 9 */
              "start_limit_interval = 2h 1440min\n" /* 10 */
              "limit_nofile = 1:99999999999\n"    /* 11 */
              "workdir = /tmp/x\n");              /* 12 */
        r = load(&c, &errors);
        {
                unsigned long long nr_open = 0;
                FILE *f = fopen("/proc/sys/fs/nr_open", "re");

                if (!f || fscanf(f, "%llu", &nr_open) != 1)
                        abort();
                fclose(f);
                snprintf(want[0], sizeof want[0],
                         "S/svc.ini:11: limit_nofile: 99999999999 is above fs.nr_open (%llu): "
                         "the kernel refuses it",
                         nr_open);
        }
        expect_errors("out of range", errors,
                      (const char *const[]){
                              "S/svc.ini:3: start_limit_burst: 10001 is out of range (at most "
                              "10000)",
                              "S/svc.ini:4: log_keep: 1001 is out of range (at most 1000)",
                              "S/svc.ini:5: log_max_size: size '4095' is out of range (0, or 4K "
                              "to 1T)",
                              "S/svc.ini:6: restart_max_delay: duration '24h 1ms' is out of "
                              "range (at most 24h)",
                              "S/svc.ini:7: stop_timeout: duration 'infinity' is out of range "
                              "(at most 24h)",
                              "S/svc.ini:8: ready_timeout: duration '25h' is out of range (at "
                              "most 24h)",
                              "S/svc.ini:9: watchdog: duration '100h' is out of range (at most "
                              "24h)",
                              "S/svc.ini:10: start_limit_interval: duration '2h 1440min' is out "
                              "of range (at most 24h)",
                              want[0], NULL });

        /* execve()'s limits: one string, and all of them against the stack. */
        fresh();
        big = malloc(CONFIG_EXEC_STRING_MAX + 64);
        n = (size_t)snprintf(big, 64, "[service]\nexec = x y ");
        memset(big + n, 'z', CONFIG_EXEC_STRING_MAX);
        strcpy(big + n + CONFIG_EXEC_STRING_MAX, "\nenvironment = A=1\n");
        wfile("services.d/w.ini", big);
        free(big);
        big = malloc(300 * 1024);
        n = 0;
        for (int i = 0; n < 290 * 1024; i++)
                n += (size_t)sprintf(big + n, "V%d=%0200d\n", i, 0);
        wfile_len("many.env", big, n);
        free(big);
        snprintf(ini, sizeof ini,
                 "[service]\nexec = x\nlimit_stack = 1M\nenvironment_file = %s\n",
                 tpath("many.env"));
        wfile("services.d/s.ini", ini);
        r = load(&c, &errors);
        ok(r == -EINVAL && strv_length(errors) == 2 &&
                   strstr(errors[0], "s.ini:4: environment_file: arguments and environment "
                                     "take ") &&
                   strstr(errors[0], "more than execve allows with limit_stack = 1M (245760)") &&
                   strstr(errors[1], "w.ini:2: exec: word 3 is longer than 128 KiB"),
           "execve limits: %s | %s", errors && errors[0] ? errors[0] : "",
           errors && errors[0] && errors[1] ? errors[1] : "");

        /* One environment= variable of 128 KiB with its NUL is the most
         * execve takes (MAX_ARG_STRLEN); a byte more is an error, not an
         * E2BIG at every start. */
        for (size_t extra = 0; extra < 2; extra++) {
                size_t len = CONFIG_EXEC_STRING_MAX - 1 + extra; /* of "A=...", without NUL */

                fresh();
                big = malloc(len + 128);
                n = (size_t)sprintf(big, "[service]\nexec = x\nlimit_stack = 8M\n"
                                         "environment = B=1\nenvironment = A=");
                memset(big + n, 'z', len - 2);
                strcpy(big + n + len - 2, "\n");
                wfile("services.d/v.ini", big);
                free(big);
                r = load(&c, &errors);
                if (extra == 0)
                        ok(r == 0 && strv_length(config_find(c, "v")->environment) == 2,
                           "environment: a variable of 128 KiB with its NUL loads (r=%d)", r);
                else
                        expect_errors("environment: a variable over 128 KiB", errors,
                                      (const char *const[]){
                                              "S/v.ini:5: environment: variable longer than "
                                              "128 KiB (execve's limit)",
                                              NULL });
        }

        /* 400,000 errors: the first CONFIG_ERRORS_MAX, then a count. */
        fresh();
        n = 2 * 400000;
        big = malloc(n + 32);
        strcpy(big, "[service]\nexec = x\n");
        for (size_t i = 0; i < 400000; i++)
                memcpy(big + 19 + 2 * i, "x\n", 2);
        wfile_len("services.d/x.ini", big, 19 + n);
        free(big);
        r = load(&c, &errors);
        n = strv_length(errors);
        ok(r == -EINVAL && n == CONFIG_ERRORS_MAX + 1 &&
                   strcmp(errors[n - 1], "... and 399900 more errors") == 0 &&
                   strstr(errors[n - 2], "x.ini:102: syntax error"),
           "400,000 errors: %zu kept, then '%s'", n, n ? errors[n - 1] : "");

        /* Environment: each key keeps its first place and its last value,
         * for many entries; after/requires keep the first of each name. */
        fresh();
        big = malloc(64 * 3000 + 256);
        n = (size_t)sprintf(big, "[service]\nexec = x\nafter = b a b c a\n");
        for (int i = 0; i < 3000; i++)
                n += (size_t)sprintf(big + n, "environment = K%d=v%d\n", i % 1000, i);
        wfile("services.d/svc.ini", big);
        free(big);
        wfile("services.d/a.ini", "[service]\nexec = x\n");
        wfile("services.d/b.ini", "[service]\nexec = x\n");
        wfile("services.d/c.ini", "[service]\nexec = x\n");
        r = load(&c, &errors);
        sc = r == 0 ? config_find(c, "svc") : NULL;
        ok(sc && strv_length(sc->environment) == 1000 &&
                   strcmp(sc->environment[0], "K0=v2000") == 0 &&
                   strcmp(sc->environment[999], "K999=v2999") == 0 &&
                   strv_length(sc->after) == 3 && strcmp(sc->after[0], "b") == 0 &&
                   strcmp(sc->after[1], "a") == 0 && strcmp(sc->after[2], "c") == 0,
           "3000 environment entries merge to 1000 in first-place order, last value; after "
           "deduplicated in order");
}

/* A directory that cannot be read to its end is an error naming it, not
 * a shorter list of services. */
static void test_readdir_error(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        char want[512];
        int r;

        fresh();
        wfile("services.d/a.ini", "[service]\nexec = x\n");
        wfile("services.d/b.ini", "[service]\nexec = x\n");
        readdir_fail_after = 1;
        r = load(&c, &errors);
        readdir_fail_after = -1;
        snprintf(want, sizeof want,
                 "T:0: services: cannot read directory '%s/services.d': Input/output error", tmp);
        ok(r == -EINVAL && !c, "a readdir error fails the load (r=%d)", r);
        expect_errors("readdir error", errors, (const char *const[]){ want, NULL });
        r = load(&c, &errors);
        ok(r == 0 && c && c->n_services == 2, "read again, both services load (r=%d)", r);
}

/* Every failure sets *ret_errors, to NULL when it is no config error: here
 * a relative path whose working directory was removed. */
static void test_errors_always_set(void)
{
        struct config *c = NULL;
        char *sentinel[] = { (char *)"not set", NULL }, **errors = sentinel, gone[128];
        int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;

        fresh();
        snprintf(gone, sizeof gone, "%s/gone", tmp);
        if (cwd < 0 || mkdir(gone, 0755) < 0 || chdir(gone) < 0 || rmdir(gone) < 0) {
                ok(false, "a removed working directory: %s", strerror(errno));
                return;
        }
        r = config_load("tend.ini", &c, &errors);
        if (fchdir(cwd) < 0)
                abort();
        (void)close(cwd);
        ok(r == -ENOENT && !c && !errors, "no working directory: -ENOENT, errors NULL (r=%d, %s)",
           r, errors == sentinel ? "errors not set" : "errors set");
        if (errors != sentinel)
                strv_free(errors);
}

/* A chain of 5000 services closed into one cycle: walked without deep
 * recursion, reported once with a shortened path. */
static void test_large_graph(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        char name[64], ini[128];
        int r;

        fresh();
        for (int i = 0; i < 5000; i++) {
                snprintf(name, sizeof name, "services.d/s%04d.ini", i);
                snprintf(ini, sizeof ini, "[service]\nexec = x\nrequires = s%04d\n",
                         (i + 1) % 5000);
                wfile(name, ini);
        }
        r = load(&c, &errors);
        ok(r == -EINVAL && strv_length(errors) == 1 &&
                   strstr(errors[0], "s4999.ini:3: requires: dependency cycle s0000 -> s0001 -> "
                                     "s0002 -> ") &&
                   strstr(errors[0], " -> s0014 -> ... (4985 more) -> s0000 (") &&
                   strstr(errors[0], ", ... (4985 more))") && strlen(errors[0]) < 4096,
           "a 5000-service cycle: %.200s", errors ? errors[0] : "");
}

/* A name in both after= and requires= is one edge: a cycle through it is
 * reported once, as after=, the way it is followed first. */
static void test_cycle_both_keys(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_free_ char *want = NULL;

        fresh();
        wfile("services.d/a.ini", "[service]\nexec = x\nafter = b\n");
        wfile("services.d/b.ini", "[service]\nexec = x\nrequires = a\nafter = a\n");
        if (asprintf(&want,
                     "%1$s/services.d/b.ini:4: after: dependency cycle a -> b -> a "
                     "(%1$s/services.d/a.ini:3 after, %1$s/services.d/b.ini:4 after)",
                     tmp) < 0)
                abort();
        ok(load(&c, &errors) == -EINVAL && !c, "a cycle through after and requires is rejected");
        expect_errors("one cycle, one message", errors, (const char *const[]){ want, NULL });
}

#define CG_MAX CONFIG_CGROUP_MAX
/* Good values of the cgroup keys and what they load as. */
static const struct {
        const char *what, *lines;
        struct config_cgroup want;
} good_cgroup_values[] = {
        { "unset (0) by default", "", { 0 } },
        { "sizes, count, weights, 50% = 50000 usec per 100000",
          "memory_max = 1G\nmemory_high = 512M\ntasks_max = 100\ncpu_weight = 1\n"
          "cpu_max = 50%\nio_weight = 10000\n",
          { 1ULL << 30, 512ULL << 20, 100, 1, 50000, 10000 } },
        { "max and infinity",
          "memory_max = max\nmemory_high = infinity\ntasks_max = max\ncpu_max = max\n",
          { CG_MAX, CG_MAX, CG_MAX, 0, CG_MAX, 0 } },
        { "the range ends",
          "memory_max = 4K\nmemory_high = 1024T\ntasks_max = 4194304\ncpu_max = 100000%\n"
          "cpu_weight = 10000\nio_weight = 1\n",
          { 4096, 1ULL << 50, 4194304, 10000, 100000000, 1 } },
        { "cpu_max 1% is 1 ms per 100 ms", "cpu_max = 1%\n", { .cpu_max = 1000 } },
};
#undef CG_MAX

/* A bad value of a cgroup key and its message. */
static const char *const bad_cgroup_values[][2] = {
        { "memory_max = 1K", "memory_max: size '1K' is out of range (4K to 1024T, or max)" },
        { "memory_max = 1025T", "memory_max: size '1025T' is out of range (4K to 1024T, or max)" },
        { "memory_high = 99999999999999999999",
          "memory_high: size '99999999999999999999' is out of range (4K to 1024T, or max)" },
        { "memory_high = 10MB", "memory_high: invalid size '10MB' (use e.g. 512M, 2G or max)" },
        { "tasks_max = 0", "tasks_max: number '0' is out of range (1 to 4194304, or max)" },
        { "tasks_max = 4194305",
          "tasks_max: number '4194305' is out of range (1 to 4194304, or max)" },
        { "tasks_max = 1.5", "tasks_max: invalid number '1.5' (expected a number or max)" },
        { "cpu_weight = 0", "cpu_weight: weight '0' is out of range (1 to 10000)" },
        { "cpu_weight = 10001", "cpu_weight: weight '10001' is out of range (1 to 10000)" },
        { "cpu_max = 50",
          "cpu_max: invalid CPU share '50' (expected e.g. 50% or 200% of one CPU, or max)" },
        { "cpu_max = 50 %",
          "cpu_max: invalid CPU share '50 %' (expected e.g. 50% or 200% of one CPU, or max)" },
        { "cpu_max = 0%", "cpu_max: CPU share '0%' is out of range (1% to 100000%, or max)" },
        { "cpu_max = 100001%",
          "cpu_max: CPU share '100001%' is out of range (1% to 100000%, or max)" },
        { "cpu_max = 99999999999999999999999999999999999%",
          "cpu_max: CPU share '99999999999999999999999999999999999%' is out of range (1% to "
          "100000%, or max)" },
        { "io_weight = max", "io_weight: invalid weight 'max' (expected a number)" },
        { "io_weight = -1", "io_weight: invalid weight '-1' (expected a number)" },
};

/* memory_max, memory_high, tasks_max, cpu_weight, cpu_max, io_weight. */
static void test_cgroup_keys(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const struct service_config *sc;
        struct service_config *b;
        int r;

        fresh();
        for (size_t i = 0; i < ELEMENTSOF(good_cgroup_values); i++) {
                char file[256];

                snprintf(file, sizeof file, "[service]\nexec = x\n%s", good_cgroup_values[i].lines);
                sc = load_one(file, &c, &errors, &r);
                ok(sc && memcmp(&sc->cgroup, &good_cgroup_values[i].want, sizeof sc->cgroup) == 0,
                   "cgroup keys: %s", good_cgroup_values[i].what);
        }

        for (size_t i = 0; i < ELEMENTSOF(bad_cgroup_values); i++) {
                char file[128], want[256];

                snprintf(file, sizeof file, "[service]\nexec = x\n%s\n", bad_cgroup_values[i][0]);
                snprintf(want, sizeof want, "S/svc.ini:3: %s", bad_cgroup_values[i][1]);
                wfile("services.d/svc.ini", file);
                r = load(&c, &errors);
                expect_errors(bad_cgroup_values[i][0], errors, (const char *const[]){ want, NULL });
        }

        /* Policy, not spawn: a reload writes them into the live cgroup. */
        sc = load_one("[service]\nexec = x\nmemory_max = 1G\n", &c, &errors, &r);
        if (!ok(sc != NULL, "load for equal"))
                return;
#define CHECK(field)                                                                               \
        do {                                                                                       \
                b = service_config_copy(sc);                                                       \
                b->cgroup.field++;                                                                 \
                ok(!service_config_equal(b, sc) && service_config_spawn_equal(b, sc),              \
                   #field ": not equal, spawn_equal");                                             \
                service_config_free(b);                                                            \
        } while (0)
        CHECK(memory_max);
        CHECK(memory_high);
        CHECK(tasks_max);
        CHECK(cpu_weight);
        CHECK(cpu_max);
        CHECK(io_weight);
#undef CHECK
}

static void tmkdir(const char *rel)
{
        if (mkdir(tpath(rel), 0755) < 0) {
                perror(rel);
                exit(EXIT_FAILURE);
        }
}

static void tsymlink(const char *target, const char *rel)
{
        if (symlink(target, tpath(rel)) < 0) {
                perror(rel);
                exit(EXIT_FAILURE);
        }
}

/* fresh(), with vendor/ as the vendor layer. */
static void fresh_layers(void)
{
        fresh();
        tmkdir("vendor");
        wfile("tend.ini", "[tend]\nsocket = tend.sock\nlog_dir = log\nvendor_services = vendor\n");
}

/* sc's files must be exactly want (relative to tmp), in order. */
static bool files_are(const struct service_config *sc, const char *const *want)
{
        size_t n = 0;

        for (; want[n]; n++) {
                char p[512];

                snprintf(p, sizeof p, "%s/%s", tmp, want[n]);
                if (!sc || n >= strv_length(sc->files) || strcmp(sc->files[n], p) != 0) {
                        diag("file %zu: want %s, got %s", n, p,
                             sc && n < strv_length(sc->files) ? sc->files[n] : "(none)");
                        return false;
                }
        }
        return strv_length(sc->files) == n;
}

static bool env_is(const struct service_config *sc, const char *const *want)
{
        size_t n = 0;

        for (; want[n]; n++)
                if (!sc || n >= strv_length(sc->environment) ||
                    strcmp(sc->environment[n], want[n]) != 0)
                        return false;
        return strv_length(sc->environment) == n;
}

/* The vendor directory, the admin's replacing and masking, drop-ins. */
static void test_layers(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const struct service_config *sc;
        struct service_config *b;
        int r;

        /* Vendor only; admin replaces whole; a mask; a mask of nothing. */
        fresh_layers();
        wfile("vendor/v.ini", "[service]\nexec = /bin/vendor-v\nrestart = never\n");
        wfile("vendor/o.ini", "[service]\nexec = /bin/vendor-o\nrestart = never\n");
        wfile("services.d/o.ini", "[service]\nexec = /bin/admin-o\n");
        wfile("vendor/m.ini", "[service]\nexec = /bin/vendor-m\n");
        tsymlink("/dev/null", "services.d/m.ini");
        tsymlink("/dev/null", "services.d/nothing.ini");
        r = load(&c, &errors);
        ok(r == 0 && c && c->n_services == 2,
           "vendor and admin: the union by name, less masks (%d)", r);
        ok(c && strcmp(c->vendor_services_dir, tpath("vendor")) == 0,
           "vendor_services is relative to tend.ini");
        sc = c ? config_find(c, "v") : NULL;
        ok(sc && strcmp(sc->exec, "/bin/vendor-v") == 0 && sc->restart == RESTART_NEVER &&
                   files_are(sc, (const char *const[]){ "vendor/v.ini", NULL }) &&
                   strcmp(sc->file, tpath("vendor/v.ini")) == 0,
           "a vendor-only service is the vendor's file");
        sc = c ? config_find(c, "o") : NULL;
        ok(sc && strcmp(sc->exec, "/bin/admin-o") == 0 && sc->restart == RESTART_ON_FAILURE &&
                   files_are(sc, (const char *const[]){ "services.d/o.ini", NULL }),
           "the admin's file replaces the vendor's whole (restart back to its default)");
        ok(c && !config_find(c, "m") && !config_find(c, "nothing"),
           "a link to /dev/null masks the vendor's service; masking nothing is no error");

        /* A dependency on a masked service; a link elsewhere is no mask. */
        wfile("vendor/dep.ini", "[service]\nexec = x\nafter = v m\n");
        tsymlink("/dev/zero", "services.d/z.ini");
        r = load(&c, &errors);
        {
                _cleanup_free_ char *masked = NULL;

                if (asprintf(&masked,
                             "V/dep.ini:3: after: service 'm' is masked (%s/services.d/m.ini is "
                             "a link to /dev/null)",
                             tmp) < 0)
                        abort();
                expect_errors("masked dependency, a link to another device", errors,
                              (const char *const[]){
                                      masked, "S/z.ini:0: not a regular file (a character device)",
                                      NULL });
        }
        c = config_free(c);

        /* Drop-ins: lexical order across both layers, the admin's replacing
         * or masking the vendor's of the same name; scalars replaced, lists
         * accumulated. */
        fresh_layers();
        wfile("vendor/w.ini", "[service]\nexec = /bin/a\nenvironment = A=1\nenvironment = C=1\n"
                              "restart = never\n");
        wfile("vendor/x.ini", "[service]\nexec = /bin/x\n");
        wfile("vendor/y.ini", "[service]\nexec = /bin/y\n");
        tmkdir("vendor/w.ini.d");
        tmkdir("services.d/w.ini.d");
        wfile("vendor/w.ini.d/10-exec.ini", "[service]\nexec = /bin/b\nenvironment = B=2\n"
                                            "after = x\n");
        wfile("vendor/w.ini.d/20-restart.ini", "[service]\nrestart = always\n");
        wfile("services.d/w.ini.d/20-restart.ini", "[service]\nrestart = on-failure\n"
                                                   "environment = A=3\nafter = y\n");
        wfile("vendor/w.ini.d/30-masked.ini", "[service]\nexec = /bin/never\n");
        tsymlink("/dev/null", "services.d/w.ini.d/30-masked.ini");
        wfile("services.d/w.ini.d/15-stop.ini", "[service]\nstop_timeout = 3s\n");
        wfile("services.d/w.ini.d/not-a-drop-in.conf", "[service]\nexec = /bin/no\n");
        wfile("services.d/w.ini.d/.hidden.ini", "[service]\nexec = /bin/no\n");
        r = load(&c, &errors);
        sc = c ? config_find(c, "w") : NULL;
        ok(r == 0 && sc, "drop-ins load (%d)", r);
        ok(sc && files_are(sc, (const char *const[]){ "vendor/w.ini", "vendor/w.ini.d/10-exec.ini",
                                                      "services.d/w.ini.d/15-stop.ini",
                                                      "services.d/w.ini.d/20-restart.ini", NULL }),
           "files: the main one, then drop-ins in lexical order, the admin's winning");
        ok(sc && strcmp(sc->exec, "/bin/b") == 0 && sc->argv && strcmp(sc->argv[0], "/bin/b") == 0,
           "exec set again in a drop-in replaces it");
        ok(sc && sc->restart == RESTART_ON_FAILURE && sc->stop_timeout == 3 * USEC_PER_SEC,
           "the admin's drop-in replaced the vendor's of the same name");
        ok(env_is(sc, (const char *const[]){ "A=3", "C=1", "B=2", NULL }),
           "environment accumulates; a variable set again takes its last value");
        ok(sc && strv_length(sc->after) == 2 && strcmp(sc->after[0], "x") == 0 &&
                   strcmp(sc->after[1], "y") == 0 && sc->after_line == 4 && sc->after_file == 3,
           "after accumulates; where it was last set is kept");

        /* An empty value empties a list (and removes environment_file). */
        wfile("vendor/x.ini", "[service]\nexec = /bin/x\nafter = y\nenvironment = A=1\n"
                              "environment_file = x.env\n");
        tmkdir("services.d/x.ini.d");
        wfile("services.d/x.ini.d/reset.ini", "[service]\nafter =\nenvironment =\n"
                                              "environment = B=2\nenvironment_file =\n");
        r = load(&c, &errors);
        sc = c ? config_find(c, "x") : NULL;
        ok(r == 0 && sc && !sc->after && !sc->environment_files &&
                   env_is(sc, (const char *const[]){ "B=2", NULL }),
           "an empty value resets after, environment and environment_file (%d)", r);

        /* environment_file in a drop-in: relative to its layer's directory. */
        wfile("vendor/x.env", "FROM=vendor\n");
        tmkdir("vendor/x.ini.d");
        (void)remove(tpath("services.d/x.ini.d/reset.ini"));
        wfile("vendor/x.ini.d/a-env.ini", "[service]\nenvironment_file = x.env\n");
        (void)remove(tpath("services.d/x.ini.d/reset.ini"));
        r = load(&c, &errors);
        sc = c ? config_find(c, "x") : NULL;
        ok(r == 0 && sc && strv_length(sc->environment_files) == 2 &&
                   strcmp(sc->environment_files[1], tpath("vendor/x.env")) == 0 &&
                   env_is(sc, (const char *const[]){ "FROM=vendor", "A=1", NULL }),
           "a vendor drop-in's environment_file is relative to the vendor directory and "
           "adds to the main file's (%d)", r);
        c = config_free(c);

        /* Errors name the drop-in and its line; post-parse checks the file
         * that set the key; a duplicate within one drop-in. */
        fresh_layers();
        wfile("services.d/e.ini", "[service]\nexec = x\nrestart = always\n");
        tmkdir("services.d/e.ini.d");
        wfile("services.d/e.ini.d/10-bad.ini", "[service]\nrestart = sometimes\n");
        wfile("services.d/e.ini.d/20-dup.ini", "[service]\nlog_keep = 1\nlog_keep = 2\n");
        wfile("services.d/e.ini.d/30-wd.ini", "[service]\n\nwatchdog = 1s\n");
        wfile("services.d/f.ini", "[service]\nrestart = always\n");
        tmkdir("services.d/f.ini.d");
        wfile("services.d/f.ini.d/x.ini", "[service]\ntype = oneshot\n");
        tmkdir("services.d/g.ini.d"); /* no g.ini: ignored */
        wfile("services.d/g.ini.d/x.ini", "[service]\nnot a key line\n");
        r = load(&c, &errors);
        ok(r == -EINVAL, "errors in drop-ins reject the config");
        expect_errors("drop-in errors", errors,
                      (const char *const[]){
                              "S/e.ini.d/10-bad.ini:2: restart: invalid value 'sometimes' "
                              "(expected always, on-failure or never)",
                              "S/e.ini.d/20-dup.ini:3: log_keep: duplicate key (first set on "
                              "line 2)",
                              "S/e.ini.d/30-wd.ini:3: watchdog: needs type=notify (pings arrive "
                              "as WATCHDOG=1)",
                              "S/f.ini:0: exec: required key is missing", NULL });

        /* A FIFO, a directory, a drop-in directory that is a file. */
        fresh_layers();
        wfile("services.d/h.ini", "[service]\nexec = x\n");
        tmkdir("services.d/h.ini.d");
        if (mkfifo(tpath("services.d/h.ini.d/fifo.ini"), 0644) < 0)
                abort();
        tmkdir("services.d/h.ini.d/dir.ini");
        wfile("vendor/i.ini", "[service]\nexec = x\n");
        wfile("vendor/i.ini.d", "not a directory\n");
        {
                size_t big = CONFIG_FILE_MAX + 1;
                char *text = malloc(big);

                if (!text)
                        abort();
                memset(text, '#', big);
                wfile("services.d/j.ini", "[service]\nexec = x\n");
                tmkdir("services.d/j.ini.d");
                wfile_len("services.d/j.ini.d/big.ini", text, big);
                free(text);
        }
        r = load(&c, &errors);
        expect_errors(
                "drop-ins that are not regular files, or too large", errors,
                (const char *const[]){ "S/h.ini.d/dir.ini:0: not a regular file (a directory)",
                                       "S/h.ini.d/fifo.ini:0: not a regular file (a FIFO)",
                                       "V/i.ini.d:0: not a directory",
                                       "S/j.ini.d/big.ini:0: larger than 1 MiB", NULL });

        /* A cycle closed in a drop-in names it. */
        fresh_layers();
        wfile("vendor/p.ini", "[service]\nexec = x\nafter = q\n");
        wfile("vendor/q.ini", "[service]\nexec = x\n");
        tmkdir("services.d/q.ini.d");
        wfile("services.d/q.ini.d/late.ini", "[service]\n\n\nrequires = p\n");
        r = load(&c, &errors);
        if (errors && errors[0]) {
                char *w = expand("S/q.ini.d/late.ini:4: requires: dependency cycle p -> q -> p");
                ok(strncmp(errors[0], w, strlen(w)) == 0, "a cycle names the drop-in: %s",
                   errors[0]);
                free(w);
                w = expand("V/p.ini:3 after");
                ok(strstr(errors[0], w) != NULL, "and the vendor file of the other edge");
                free(w);
        } else
                ok(false, "a cycle through a drop-in is an error");

        /* A drop-in for a masked service is ignored; no vendor directory,
         * or none configured, is no error; a vendor path that is a file is. */
        fresh_layers();
        wfile("vendor/k.ini", "[service]\nexec = x\n");
        tmkdir("vendor/k.ini.d");
        wfile("vendor/k.ini.d/bad.ini", "[service]\nbad\n");
        tsymlink("/dev/null", "services.d/k.ini");
        wfile("services.d/l.ini", "[service]\nexec = x\n");
        r = load(&c, &errors);
        ok(r == 0 && c && c->n_services == 1, "a masked service's drop-ins are ignored (%d)", r);
        cleanup_tmp();
        fresh();
        wfile("services.d/l.ini", "[service]\nexec = x\n");
        wfile("tend.ini", "[tend]\nsocket = s\nlog_dir = l\nvendor_services = nowhere\n");
        r = load(&c, &errors);
        ok(r == 0 && c && c->n_services == 1, "a missing vendor directory is none (%d)", r);
        wfile("tend.ini", "[tend]\nsocket = s\nlog_dir = l\nvendor_services =\n");
        r = load(&c, &errors);
        ok(r == 0 && c && !c->vendor_services_dir, "vendor_services = (empty): none (%d)", r);
        wfile("nowhere", "a file\n");
        wfile("tend.ini", "[tend]\nsocket = s\nlog_dir = l\n\nvendor_services = nowhere\n");
        r = load(&c, &errors);
        {
                _cleanup_free_ char *w = NULL;

                if (asprintf(&w,
                             "T:5: vendor_services: cannot open directory '%s/nowhere': Not a "
                             "directory",
                             tmp) < 0)
                        abort();
                ok(r == -EINVAL, "a vendor_services that is a file is an error");
                expect_errors("vendor_services that is a file", errors,
                              (const char *const[]){ w, NULL });
        }

        /* A change of only the files changes the config, not the process. */
        fresh_layers();
        wfile("services.d/s.ini", "[service]\nexec = x\n");
        r = load(&c, &errors);
        sc = c ? config_find(c, "s") : NULL;
        if (!ok(sc != NULL, "load for equal"))
                return;
        b = service_config_copy(sc);
        ok(b && strv_equal(b->files, sc->files), "copy keeps the files");
        if (b) {
                free(b->files[0]);
                b->files[0] = strdup("/elsewhere/s.ini");
                ok(!service_config_equal(b, sc) && service_config_spawn_equal(b, sc),
                   "files: not equal, spawn_equal");
        }
        service_config_free(b);
}

/* Issue 15, policy: the exit code lists, several and optional environment
 * files, pass_environment, expand and wants, and their errors. */
static void test_policy_keys(void)
{
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_strv_free_ char **errors = NULL;
        const struct service_config *sc;
        char ini[1024], e1[512], e2[512];
        int r;

        fresh();
        sc = load_one("[service]\nexec = x\nsuccess_exit_codes = 0 3  SIGTERM\n"
                      "success_exit_codes = hup 255\nrestart_prevent_exit_codes = 78 usr1\n",
                      &c, &errors, &r);
        ok(sc && sc->success_exit.status[0] == ((1ULL << 0) | (1ULL << 3)) &&
                   sc->success_exit.status[3] == 1ULL << 63 &&
                   sc->success_exit.signals == ((1ULL << (SIGTERM - 1)) | (1ULL << (SIGHUP - 1))) &&
                   sc->prevent_exit.status[1] == 1ULL << (78 - 64) &&
                   sc->prevent_exit.signals == 1ULL << (SIGUSR1 - 1),
           "exit code lists: numbers and signal names, repeated assignments add up");
        sc = load_one("[service]\nexec = x\nsuccess_exit_codes = 3\nsuccess_exit_codes =\n"
                      "success_exit_codes = 4\n",
                      &c, &errors, &r);
        ok(sc && sc->success_exit.status[0] == 1ULL << 4 && !sc->success_exit.signals,
           "an empty value forgets the earlier codes");

        sc = load_one("[service]\nexec = x\nsuccess_exit_codes = 256 3x SIGFOO -1\n"
                      "restart_prevent_exit_codes = 1 RTMIN+99 9999999999999999999999\n",
                      &c, &errors, &r);
        expect_errors("exit code errors", errors,
                      (const char *const[]){
                              "S/svc.ini:3: success_exit_codes: exit status 256 is out of range "
                              "(0 to 255)",
                              "S/svc.ini:3: success_exit_codes: invalid exit status or signal "
                              "'3x' (expected a number from 0 to 255 or a signal name such as "
                              "SIGTERM)",
                              "S/svc.ini:3: success_exit_codes: invalid exit status or signal "
                              "'SIGFOO' (expected a number from 0 to 255 or a signal name such "
                              "as SIGTERM)",
                              "S/svc.ini:3: success_exit_codes: invalid exit status or signal "
                              "'-1' (expected a number from 0 to 255 or a signal name such as "
                              "SIGTERM)",
                              "S/svc.ini:4: restart_prevent_exit_codes: invalid exit status or "
                              "signal 'RTMIN+99' (expected a number from 0 to 255 or a signal "
                              "name such as SIGTERM)",
                              "S/svc.ini:4: restart_prevent_exit_codes: exit status "
                              "9999999999999999999999 is out of range (0 to 255)",
                              NULL });

        /* Environment files in order, optional ones, pass_environment first. */
        wfile("one.env", "A=1\nB=1\nP=file\n");
        wfile("two.env", "B=2\nC=2\n");
        (void)setenv("TEND_TEST_P", "passed", 1);
        (void)setenv("P", "from tendd", 1);
        (void)unsetenv("TEND_TEST_UNSET");
        snprintf(ini, sizeof ini,
                 "[service]\nexec = x\npass_environment = TEND_TEST_P TEND_TEST_UNSET P\n"
                 "environment_file = %s/one.env\nenvironment_file = -%s/missing.env\n"
                 "environment_file = -two.env\nenvironment = C=3\n"
                 "pass_environment = TEND_TEST_P\n",
                 tmp, tmp);
        wfile("services.d/two.env", "B=2\nC=2\n");
        sc = load_one(ini, &c, &errors, &r);
        ok(sc && env_is(sc, (const char *const[]){ "TEND_TEST_P=passed", "P=file", "A=1",
                                                   "B=2", "C=3", NULL }),
           "pass_environment, then each file in order, then environment; later wins (%d)", r);
        ok(sc && strv_length(sc->environment_files) == 3 && sc->environment_files[1][0] == '-' &&
                   strcmp(sc->environment_files[2] + 1, tpath("services.d/two.env")) == 0 &&
                   strv_length(sc->pass_environment) == 3,
           "the files as given, '-' kept on optional ones, relative ones made absolute");

        tmkdir("adir");
        snprintf(ini, sizeof ini,
                 "[service]\nexec = x\nenvironment_file = -%s/adir\nenvironment_file = -\n"
                 "pass_environment = OK 1X A.B\n",
                 tmp);
        sc = load_one(ini, &c, &errors, &r);
        snprintf(e1, sizeof e1, "S/svc.ini:3: environment_file: '%s/adir': not a regular file "
                 "(a directory)", tmp);
        expect_errors("environment_file and pass_environment errors", errors,
                      (const char *const[]){
                              "S/svc.ini:4: environment_file: '-' without a path",
                              "S/svc.ini:5: pass_environment: invalid variable name '1X' "
                              "(expected letters, digits and _, not starting with a digit)",
                              "S/svc.ini:5: pass_environment: invalid variable name 'A.B' "
                              "(expected letters, digits and _, not starting with a digit)",
                              e1, NULL });

        /* A drop-in's environment_file error names the drop-in's line. */
        tmkdir("services.d/svc.ini.d");
        wfile("services.d/svc.ini.d/a.ini", "[service]\n\nenvironment_file = /no/such\n");
        sc = load_one("[service]\nexec = x\nenvironment_file = -/no/such/either\n", &c, &errors,
                      &r);
        expect_errors("environment_file in a drop-in", errors,
                      (const char *const[]){
                              "S/svc.ini.d/a.ini:3: environment_file: '/no/such': cannot "
                              "open: No such file or directory",
                              NULL });
        (void)unlink(tpath("services.d/svc.ini.d/a.ini"));

        /* expand. */
        sc = load_one("[service]\nexec = ${BIN}/prog \"${A} x\" $${A} $A $$ ${E}\nexpand = yes\n"
                      "environment = BIN=/opt/b\nenvironment = A=1 2\nenvironment = E=\n"
                      "workdir = /srv/${A}\n",
                      &c, &errors, &r);
        ok(sc && strv_length(sc->argv) == 6 && strcmp(sc->argv[0], "/opt/b/prog") == 0 &&
                   strcmp(sc->argv[1], "1 2 x") == 0 && strcmp(sc->argv[2], "${A}") == 0 &&
                   strcmp(sc->argv[3], "$A") == 0 && strcmp(sc->argv[4], "$") == 0 &&
                   strcmp(sc->argv[5], "") == 0 && strcmp(sc->workdir, "/srv/1 2") == 0 &&
                   strcmp(sc->exec, "${BIN}/prog \"${A} x\" $${A} $A $$ ${E}") == 0,
           "expand: words and workdir expanded, the exec line kept as written (%d)", r);
        sc = load_one("[service]\nexec = /bin/echo ${A} $$\nenvironment = A=1\n", &c, &errors,
                      &r);
        ok(sc && strcmp(sc->argv[1], "${A}") == 0 && strcmp(sc->argv[2], "$$") == 0 && !sc->expand,
           "expand = no (the default): $ means itself");
        sc = load_one("[service]\nexec = /bin/echo ${NOPE}\nexpand = yes\nworkdir = ${W}\n"
                      "environment = W=rel\n",
                      &c, &errors, &r);
        expect_errors("expand errors", errors,
                      (const char *const[]){
                              "S/svc.ini:2: exec: unknown variable ${NOPE} (not set by "
                              "environment, environment_file or pass_environment; $$ is a "
                              "literal $)",
                              "S/svc.ini:4: workdir: 'rel' is not an absolute path", NULL });
        sc = load_one("[service]\nexpand = yes\nexec = ${P}/x ${Q\nworkdir = ${W}\n"
                      "environment = P=/p\n",
                      &c, &errors, &r);
        expect_errors("expand: an unterminated variable",
                      errors,
                      (const char *const[]){
                              "S/svc.ini:3: exec: unterminated or invalid variable '${Q' "
                              "(expected ${NAME}; $$ is a literal $)",
                              "S/svc.ini:4: workdir: unknown variable ${W} (not set by "
                              "environment, environment_file or pass_environment; $$ is a "
                              "literal $)",
                              NULL });
        sc = load_one("[service]\nexec = ${P}/x\nworkdir = ${W}\n", &c, &errors, &r);
        expect_errors("without expand, ${...} is checked as written", errors,
                      (const char *const[]){
                              "S/svc.ini:2: exec: program '${P}/x' must be an absolute path or a "
                              "bare name searched in PATH",
                              "S/svc.ini:3: workdir: '${W}' is not an absolute path", NULL });

        /* wants. */
        wfile("services.d/db.ini", "[service]\nexec = x\n");
        sc = load_one("[service]\nexec = x\nwants = db db\n", &c, &errors, &r);
        ok(sc && strv_length(sc->wants) == 1 && strcmp(sc->wants[0], "db") == 0 &&
                   sc->wants_line == 3,
           "wants: names, deduplicated, where it was set");
        sc = load_one("[service]\nexec = x\nwants = nope svc\n", &c, &errors, &r);
        expect_errors("wants errors", errors,
                      (const char *const[]){ "S/svc.ini:3: wants: unknown service 'nope'",
                                             "S/svc.ini:3: wants: a service cannot depend on "
                                             "itself",
                                             NULL });
        wfile("services.d/db.ini", "[service]\nexec = x\nafter = svc\n");
        sc = load_one("[service]\nexec = x\nwants = db\n", &c, &errors, &r);
        snprintf(e2, sizeof e2,
                 "S/svc.ini:3: wants: dependency cycle db -> svc -> db (%s/services.d/db.ini:3 "
                 "after, %s/services.d/svc.ini:3 wants)",
                 tmp, tmp);
        expect_errors("a cycle through wants", errors, (const char *const[]){ e2, NULL });
        (void)unlink(tpath("services.d/db.ini"));
}

int main(void)
{
        /* Run as a user other than root (a package build), the socket and
         * log_dir defaults come from XDG_RUNTIME_DIR (paths.c), which a build
         * chroot may not set. */
        if (geteuid() != 0)
                (void)setenv("XDG_RUNTIME_DIR", "/tmp", 0);
        test_defaults();
        test_tend_ini();
        test_exit_with();
        test_all_keys();
        test_bad_values();
        test_structure_errors();
        test_file_names();
        test_inih_traps();
        test_environment();
        test_relative_config_path();
        test_all_files_one_pass();
        test_copy_equal();
        test_strings();
        test_dependencies();
        test_nofile_infinity();
        test_hostile_input();
        test_readdir_error();
        test_errors_always_set();
        test_large_graph();
        test_cycle_both_keys();
        test_cgroup_keys();
        test_layers();
        test_policy_keys();
        cleanup_tmp();
        return tap_done();
}
