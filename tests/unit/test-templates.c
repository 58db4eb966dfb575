/* test-templates.c: templates (NAME@.ini) and instances through config_load()
 * on files in a fresh temporary directory: %i, %n and %% substituted in
 * every value, the exact "FILE:LINE: key: reason" of every error (unknown
 * specifiers, instance names, instances= outside a template, an error of
 * one instance), instances made at runtime (config_instance_new,
 * config_add_instances), the name rules, and a template across a state
 * record. */
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-state.h"
#include "config.h"
#include "parse.h"
#include "state.h"
#include "tap.h"

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

        if (!f || fputs(content, f) < 0) {
                perror(rel);
                exit(EXIT_FAILURE);
        }
        fclose(f);
}

static void fresh(void)
{
        cleanup_tmp();
        strcpy(tmp, "/tmp/test-templates-XXXXXX");
        if (!mkdtemp(tmp) || mkdir(tpath("services.d"), 0755) < 0) {
                perror("mkdtemp");
                exit(EXIT_FAILURE);
        }
        wfile("tend.ini", "[tend]\nsocket = tend.sock\nlog_dir = log\n");
}

static int load(struct config **c, char ***errors)
{
        *c = config_free(*c);
        *errors = strv_free(*errors);
        return config_load(tpath("tend.ini"), c, errors);
}

/* The error list must be exactly want, each "S/..." under services.d:
 * the templates' own first, then the services by name, then the
 * instances instances= makes. */
static void expect_errors(const char *what, char **errors, const char *const *want)
{
        size_t n = 0;
        bool same = true;

        for (; want[n]; n++) {
                char w[1024];

                if (strncmp(want[n], "S/", 2) == 0)
                        snprintf(w, sizeof w, "%s/services.d/%s", tmp, want[n] + 2);
                else
                        snprintf(w, sizeof w, "%s", want[n]);
                if (n >= strv_length(errors) || strcmp(errors[n], w) != 0) {
                        same = false;
                        diag("want: %s", w);
                        diag("got:  %s", n < strv_length(errors) ? errors[n] : "(none)");
                }
        }
        for (size_t i = n; i < strv_length(errors); i++) {
                same = false;
                diag("extra: %s", errors[i]);
        }
        ok(same, "%s: %zu error(s) as expected", what, n);
}

static bool env_has(char *const *env, const char *entry)
{
        return strv_contains(env, entry);
}

static void test_names(void)
{
        ok(service_template_len("worker@") == 7 && service_name_is_template("worker@"),
           "worker@ is a template");
        ok(service_template_len("worker@a") == 7 && service_name_is_instance("worker@a") &&
                   !service_name_is_template("worker@a"),
           "worker@a is an instance");
        ok(!service_name_is_instance("worker@a@b") && !service_name_is_template("worker@a@b"),
           "worker@a@b is neither");
        ok(!service_name_is_instance("worker@") && !service_name_is_instance("worker"),
           "worker@ and worker are no instances");
        ok(service_template_len("@a") == 0 && !service_name_is_template("@"),
           "a name starting with @ has no template");
        ok(!service_name_is_instance("w@a b") && !service_name_is_instance(".w@a"),
           "an instance is a service name");
}

static void test_substitution(void)
{
        _cleanup_strv_free_ char **errors = NULL;
        struct config *c = NULL;
        const struct service_config *a, *b;
        int r;

        fresh();
        wfile("services.d/w@.ini", "[service]\n"
                                   "exec = /bin/echo %i \"%n\" 100%% %%i\n"
                                   "environment = I=%i\n"
                                   "environment = N=%n\n"
                                   "workdir = /srv/%i\n"
                                   "instances = a b\n");
        wfile("services.d/other.ini", "[service]\nexec = /bin/true 50%\nafter = w@b\n");
        r = load(&c, &errors);
        for (char **e = errors; e && *e; e++)
                diag("%s", *e);
        ok(r == 0 && c && c->n_services == 3, "template with 2 instances and a service loads");
        if (r < 0)
                return;
        ok(c->n_templates == 1 && strcmp(c->templates[0]->name, "w@") == 0, "the template is kept");
        ok(!config_find(c, "w@"), "the template is no service");
        a = config_find(c, "w@a");
        b = config_find(c, "w@b");
        ok(a && strv_length(a->argv) == 5 && strcmp(a->argv[1], "a") == 0 &&
                   strcmp(a->argv[2], "w@a") == 0 && strcmp(a->argv[3], "100%") == 0 &&
                   strcmp(a->argv[4], "%i") == 0,
           "%%i %%n %%%% substituted in exec of w@a");
        ok(b && strcmp(b->argv[1], "b") == 0 && strcmp(b->argv[2], "w@b") == 0, "and of w@b");
        ok(a && env_has(a->environment, "I=a") && env_has(a->environment, "N=w@a"),
           "in environment");
        ok(a && strcmp(a->workdir, "/srv/a") == 0, "in workdir");
        ok(a && !a->transient && !a->instances && strv_length(a->files) == 1 &&
                   strcmp(a->files[0], tpath("services.d/w@.ini")) == 0,
           "an instance comes from the template's file, not transient");
        ok(strcmp(config_find(c, "other")->argv[1], "50%") == 0,
           "a service that is no instance keeps %% literal");
        config_free(c);
}

static void test_errors(void)
{
        _cleanup_strv_free_ char **errors = NULL;
        struct config *c = NULL;
        int r;

        fresh();
        wfile("services.d/t@.ini", "[service]\n"
                                   "exec = /bin/echo %x\n"
                                   "workdir = /srv/%\n"
                                   "environment = A=%\x01\n"
                                   "instances = ok a@b\n");
        wfile("services.d/plain.ini", "[service]\nexec = /bin/true\ninstances = a\n");
        wfile("services.d/u@.ini", "[service]\nexec = /bin/true\nuser = %i\n"
                                   "instances = root nosuchuser-tt\n");
        wfile("services.d/v@.ini", "[service]\nexec = /bin/true\nrequires = nosuch@%i\n");
        wfile("services.d/x.ini", "[service]\nexec = /bin/true\nafter = t@ u@zz\n");
        r = load(&c, &errors);
        ok(r == -EINVAL, "bad templates fail the load");
        expect_errors(
                "template errors", errors,
                (const char *const[]){
                        "S/t@.ini:2: exec: unknown specifier '%x' (known: %i the instance, %n "
                        "the full name, %% a '%')",
                        "S/t@.ini:3: workdir: '%' at the end of the value (a literal '%' is "
                        "written %%)",
                        "S/t@.ini:4: environment: unknown specifier: '%' followed by byte 0x01 "
                        "(known: %i, %n, %%)",
                        "S/t@.ini:5: instances: invalid instance name 'a@b' (t@a@b must be a "
                        "service name, the instance without '@')",
                        "S/plain.ini:3: instances: only a template (NAME@.ini) has instances",
                        "S/x.ini:3: after: unknown service 't@'",
                        "S/x.ini:3: after: unknown service 'u@zz'",
                        "S/u@.ini:3: user: for u@nosuchuser-tt: unknown user 'nosuchuser-tt'",
                        NULL });
        config_free(c);
}

static void test_runtime(void)
{
        _cleanup_strv_free_ char **errors = NULL, **errs = NULL;
        char *also[] = { (char *)"w@b", NULL };
        struct service_config *sc = NULL;
        struct config *c = NULL;
        int r;

        fresh();
        wfile("services.d/w@.ini", "[service]\nexec = /bin/sleep %i\nafter = db\n");
        (void)mkdir(tpath("services.d/w@.ini.d"), 0755);
        wfile("services.d/w@.ini.d/10.ini", "[service]\nrestart = always\n");
        (void)mkdir(tpath("services.d/w@7.ini.d"), 0755);
        wfile("services.d/w@7.ini.d/10.ini", "[service]\nenvironment = SEVEN=%n\n");
        wfile("services.d/db.ini", "[service]\nexec = /bin/true\n");
        wfile("services.d/u@.ini", "[service]\nexec = /bin/true\nuser = %i\nafter = w@%i\n");
        r = load(&c, &errors);
        for (char **e = errors; e && *e; e++)
                diag("%s", *e);
        ok(r == 0 && c->n_services == 1, "templates with no instance make no service");
        if (r < 0)
                return;

        r = config_instance_new(c, "w@5", NULL, 0, &sc, &errs);
        ok(r == 0 && sc && sc->transient && strcmp(sc->argv[1], "5") == 0 &&
                   sc->restart == RESTART_ALWAYS && strv_length(sc->files) == 2 &&
                   !env_has(sc->environment, "SEVEN=w@5"),
           "config_instance_new makes w@5 from the template and its drop-in (%d)", r);
        sc = service_config_free(sc);
        r = config_instance_new(c, "w@7", NULL, 0, &sc, &errs);
        ok(r == 0 && sc && strv_length(sc->files) == 3 && env_has(sc->environment, "SEVEN=w@7") &&
                   strcmp(sc->files[2], tpath("services.d/w@7.ini.d/10.ini")) == 0,
           "w@7.ini.d/ applies to w@7 only, after the template's");
        sc = service_config_free(sc);
        ok(config_instance_new(c, "nosuch@5", NULL, 0, &sc, &errs) == -ENOENT && !sc,
           "no template: -ENOENT");
        ok(config_instance_new(c, "w@", NULL, 0, &sc, &errs) == -ENOENT &&
                   config_instance_new(c, "w@a@b", NULL, 0, &sc, &errs) == -ENOENT &&
                   config_instance_new(c, "db", NULL, 0, &sc, &errs) == -ENOENT,
           "no instance name: -ENOENT");
        r = config_instance_new(c, "u@root", NULL, 0, &sc, &errs);
        ok(r == -EINVAL && !sc, "an instance naming an unknown service fails");
        expect_errors("runtime instance errors", errs,
                      (const char *const[]){
                              "S/u@.ini:4: after: for u@root: unknown service 'w@root'", NULL });
        errs = strv_free(errs);
        also[0] = (char *)"w@root";
        r = config_instance_new(c, "u@root", also, 1, &sc, &errs);
        ok(r == 0 && sc && strcmp(sc->after[0], "w@root") == 0,
           "...and may name what the caller says exists");
        sc = service_config_free(sc);
        r = config_instance_new(c, "u@nosuchuser-tt", also, 1, &sc, &errs);
        expect_errors("runtime instance with a bad user", errs,
                      (const char *const[]){ "S/u@.ini:3: user: for u@nosuchuser-tt: unknown "
                                             "user 'nosuchuser-tt'",
                                             "S/u@.ini:4: after: for u@nosuchuser-tt: unknown "
                                             "service 'w@nosuchuser-tt'",
                                             NULL });
        errs = strv_free(errs);

        /* config_add_instances: sorted in, transient; one bad, none added. */
        char *names[] = { (char *)"w@9", (char *)"w@1", (char *)"db", (char *)"gone@1" };
        r = config_add_instances(c, names, 4, &errs);
        ok(r == 0 && c->n_services == 3 && strcmp(c->services[0]->name, "db") == 0 &&
                   strcmp(c->services[1]->name, "w@1") == 0 &&
                   strcmp(c->services[2]->name, "w@9") == 0 && c->services[2]->transient &&
                   config_find(c, "w@9"),
           "config_add_instances adds w@1 and w@9 in order, skips db and gone@1 (%d)", r);
        char *bad[] = { (char *)"w@2", (char *)"u@nosuchuser-tt" };
        r = config_add_instances(c, bad, 2, &errs);
        ok(r == -EINVAL && c->n_services == 3 && strv_length(errs) == 2,
           "one bad instance: -EINVAL, nothing added");
        config_free(c);
}

static void test_state(void)
{
        _cleanup_strv_free_ char **errors = NULL;
        struct config *c = NULL, *d = NULL;
        struct state_writer w;
        struct state_reader body, value;
        void *map = NULL;
        size_t map_len = 0;
        uint16_t tag;
        int fd, r;

        fresh();
        wfile("services.d/w@.ini", "[service]\nexec = /bin/sleep %i\ninstances = 1 2\n");
        (void)mkdir(tpath("services.d/w@2.ini.d"), 0755);
        wfile("services.d/w@2.ini.d/a.ini", "[service]\nrestart = never\n");
        r = load(&c, &errors);
        ok(r == 0, "loads");
        if (r < 0)
                return;
        state_writer_init(&w);
        state_put_header(&w);
        r = config_state_put(&w, 7, c);
        fd = r >= 0 ? state_writer_memfd(&w) : -1;
        r = fd >= 0 ? state_open(fd, &body, &map, &map_len) : -1;
        if (r >= 0 && state_next(&body, &tag, &value) == 1)
                r = config_state_get(&value, &d);
        ok(r >= 0 && d && d->n_templates == 1 &&
                   config_template_equal(c->templates[0], d->templates[0]) && d->n_services == 2,
           "a template is kept across a state record");
        if (map)
                state_unmap(map, map_len);
        state_writer_free(&w);
        if (d) {
                struct service_config *sc = NULL;

                r = config_instance_new(d, "w@2", NULL, 0, &sc, NULL);
                ok(r == 0 && sc && sc->restart == RESTART_NEVER,
                   "an instance is made from the template read back");
                service_config_free(sc);
        }
        config_free(c);
        config_free(d);
}

static void test_layers_and_masks(void)
{
        _cleanup_strv_free_ char **errors = NULL;
        struct service_config *sc = NULL;
        struct config *c = NULL;
        int r;

        fresh();
        wfile("tend.ini", "[tend]\nsocket = tend.sock\nlog_dir = log\nvendor_services = vendor\n");
        (void)mkdir(tpath("vendor"), 0755);
        wfile("vendor/w@.ini", "[service]\nexec = /bin/sleep %i\ninstances = 1 2 3\n");
        (void)mkdir(tpath("vendor/w@.ini.d"), 0755);
        wfile("vendor/w@.ini.d/10.ini", "[service]\nrestart = never\n");
        (void)mkdir(tpath("services.d/w@.ini.d"), 0755);
        wfile("services.d/w@.ini.d/10.ini", "[service]\nrestart = always\n");
        (void)mkdir(tpath("vendor/w@2.ini.d"), 0755);
        wfile("vendor/w@2.ini.d/20.ini", "[service]\nenvironment = V=%n\n");
        if (symlink("/dev/null", tpath("services.d/w@3.ini")) < 0)
                perror("symlink");
        r = load(&c, &errors);
        for (char **e = errors; e && *e; e++)
                diag("%s", *e);
        ok(r == 0 && c->n_services == 2 && config_find(c, "w@1") && config_find(c, "w@2") &&
                   !config_find(c, "w@3"),
           "a vendor template makes its instances; a masked one is not made");
        if (r < 0)
                return;
        ok(config_find(c, "w@1")->restart == RESTART_ALWAYS &&
                   strcmp(config_find(c, "w@1")->files[1], tpath("services.d/w@.ini.d/10.ini")) ==
                           0,
           "the admin's drop-in replaces the vendor's of the same name");
        ok(env_has(config_find(c, "w@2")->environment, "V=w@2") &&
                   !env_has(config_find(c, "w@1")->environment, "V=w@1"),
           "a vendor instance drop-in applies to its instance");
        ok(!config_find_template(c, "w@3") && config_find_template(c, "w@4"),
           "a masked instance has no template to be made from");
        ok(config_instance_new(c, "w@3", NULL, 0, &sc, NULL) == -ENOENT && !sc,
           "nor is it made at runtime");
        config_free(c);
}

int main(void)
{
        test_names();
        test_substitution();
        test_errors();
        test_runtime();
        test_state();
        test_layers_and_masks();
        cleanup_tmp();
        return tap_done();
}
