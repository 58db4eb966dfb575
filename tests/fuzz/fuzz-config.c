/* fuzz-config: a service file with any content, written twice: as the
 * service fuzz.ini and as the template fz@.ini (its instances=, %i, %n).
 * config_load must never crash, leak or accept garbage silently: it either
 * loads the service (and the template's instances) or reports every problem
 * as "FILE:LINE: ...", naming the file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "util.h"

static char dir[] = "/tmp/tend-fuzz-config.XXXXXX";
static char *tend_ini, *svc_ini, *tpl_ini;

static void setup(void)
{
        FILE *f;

        if (tend_ini)
                return;
        fuzz_check(mkdtemp(dir));
        fuzz_check(asprintf(&tend_ini, "%s/tend.ini", dir) > 0);
        fuzz_check(asprintf(&svc_ini, "%s/services.d/fuzz.ini", dir) > 0);
        fuzz_check(asprintf(&tpl_ini, "%s/services.d/fz@.ini", dir) > 0);
        f = fopen(tend_ini, "we");
        fuzz_check(f);
        fprintf(f, "[tend]\nsocket = %s/tend.sock\nlog_dir = %s/log\n", dir, dir);
        fclose(f);
        {
                char *d;
                fuzz_check(asprintf(&d, "%s/services.d", dir) > 0);
                fuzz_check(mkdir_p(d, 0755) >= 0);
                free(d);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct config *c = NULL;
        char **errors = NULL;
        int fd, r;

        setup();
        for (int i = 0; i < 2; i++) {
                fd = open(i == 0 ? svc_ini : tpl_ini, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                          0644);
                fuzz_check(fd >= 0);
                fuzz_check(loop_write(fd, data, size) == 0);
                close(fd);
        }

        r = config_load(tend_ini, &c, &errors);
        if (r == 0) {
                /* fuzz, and instances of fz@ (which sort before it). */
                fuzz_check(c->n_services >= 1 &&
                           strcmp(c->services[c->n_services - 1]->name, "fuzz") == 0);
                fuzz_check(c->n_templates == 1 && strcmp(c->templates[0]->name, "fz@") == 0);
                for (size_t i = 0; i < c->n_services; i++) {
                        fuzz_check(c->services[i]->argv && c->services[i]->argv[0]);
                        fuzz_check(i + 1 == c->n_services ||
                                   strncmp(c->services[i]->name, "fz@", 3) == 0);
                }
                config_free(c);
        } else if (r == -EINVAL) {
                fuzz_check(errors && *errors);
                fuzz_check(strv_length(errors) <= CONFIG_ERRORS_MAX + 1);
                for (char **e = errors; *e; e++) {
                        if (!e[1] && strncmp(*e, "... and ", 8) == 0)
                                continue; /* the count of those not kept */
                        /* services.d/fuzz.ini:LINE: ... or
                         * services.d/fz@.ini:LINE: ...: the file named first
                         * (a key or value may hold either name too). */
                        const char *p = strstr(*e, "fuzz.ini:"), *q = strstr(*e, "fz@.ini:");
                        fuzz_check(p || q);
                        if (q && (!p || q < p))
                                p = q + strlen("fz@.ini:");
                        else
                                p += strlen("fuzz.ini:");
                        fuzz_check(*p >= '0' && *p <= '9');
                        while (*p >= '0' && *p <= '9')
                                p++;
                        fuzz_check(*p == ':');
                }
                strv_free(errors);
        } else
                fuzz_check(r == -ENOMEM);
        return 0;
}
