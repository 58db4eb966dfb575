/* fuzz-tree: whole configuration trees. The input is split into files:
 *
 *   more tend.ini lines
 *   --- NAME
 *   content of services.d/NAME
 *   --- NAME
 *   ...
 *
 * NAME.ini files are service files; any other name is a file next to them
 * (an environment file, junk); "fifo:NAME" makes a FIFO and "dir:NAME" a
 * directory instead, so that readers meet what a hostile tree holds;
 * "null:NAME" a link to /dev/null (a mask); "drop:DIR/NAME" the file NAME
 * in the directory DIR (made if missing: NAME.ini.d drop-ins). The tree lives in one directory on tmpfs, emptied and reused for
 * every input. config_load must never crash, leak, block or accept values
 * out of range: it loads the tree or reports at most CONFIG_ERRORS_MAX
 * problems (plus one "... and K more errors"), each naming a file. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "parse.h"
#include "util.h"

#define TREE_FILES_MAX 32

static char dir[64];
static char *tend_ini, *services;
static int services_fd = -1;

static void clear_services(void);

static void cleanup(void)
{
        char *p;

        clear_services();
        (void)rmdir(services);
        (void)unlink(tend_ini);
        if (asprintf(&p, "%s/log", dir) > 0) {
                (void)rmdir(p);
                free(p);
        }
        (void)rmdir(dir);
}

static void setup(void)
{
        if (tend_ini)
                return;
        /* tmpfs where there is one: no disk writes per input. */
        strcpy(dir, access("/dev/shm", W_OK) == 0 ? "/dev/shm/tend-fuzz-tree.XXXXXX"
                                                   : "/tmp/tend-fuzz-tree.XXXXXX");
        fuzz_check(mkdtemp(dir));
        fuzz_check(asprintf(&tend_ini, "%s/tend.ini", dir) > 0);
        fuzz_check(asprintf(&services, "%s/services.d", dir) > 0);
        fuzz_check(mkdir(services, 0755) == 0);
        services_fd = open(services, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fuzz_check(services_fd >= 0);
        atexit(cleanup);
}

static void write_file(int dfd, const char *name, const uint8_t *data, size_t size)
{
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

        fuzz_check(fd >= 0);
        fuzz_check(loop_write(fd, data, size) == 0);
        close(fd);
}

/* Empty the directory dfd (closed), and the directories in it. */
static void clear_dir(int dfd)
{
        DIR *d = fdopendir(dfd);
        struct dirent *de;

        fuzz_check(d);
        while ((de = readdir(d))) {
                int sub;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                    unlinkat(dirfd(d), de->d_name, 0) == 0)
                        continue;
                sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                fuzz_check(sub >= 0);
                clear_dir(sub);
                fuzz_check(unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0);
        }
        closedir(d);
}

/* Empty services.d for the next input. */
static void clear_services(void)
{
        int fd = dup(services_fd);

        fuzz_check(fd >= 0);
        clear_dir(fd);
}

/* A usable file name from what the input says: a safe charset, 1-64 bytes. */
static void file_name(const uint8_t *p, size_t n, unsigned i, char out[static 80])
{
        size_t k = 0;

        for (size_t j = 0; j < n && k < 64; j++) {
                char c = (char)p[j];
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    (c && strchr("_.@-", c)))
                        out[k++] = c;
        }
        out[k] = 0;
        if (k == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
                snprintf(out, 80, "f%u", i);
}

static const uint8_t *find_sep(const uint8_t *p, const uint8_t *end)
{
        static const char sep[] = "\n--- ";

        for (; p + sizeof sep - 1 <= end; p++) {
                p = memchr(p, '\n', (size_t)(end - p));
                if (!p || p + sizeof sep - 1 > end)
                        return NULL;
                if (memcmp(p, sep, sizeof sep - 1) == 0)
                        return p;
        }
        return NULL;
}

static void write_tree(const uint8_t *data, size_t size)
{
        const uint8_t *end = data + size, *p = data, *sep = find_sep(data, end);
        FILE *f;

        f = fopen(tend_ini, "we");
        fuzz_check(f);
        fprintf(f, "[tend]\nsocket = %s/tend.sock\nlog_dir = %s/log\n", dir, dir);
        fwrite(data, 1, (size_t)((sep ? sep : end) - data), f);
        fputc('\n', f);
        fclose(f);

        for (unsigned i = 0; sep && i < TREE_FILES_MAX; i++) {
                const uint8_t *name = sep + 5, *nl, *next;
                char fname[80], sub[80];
                bool fifo = false, is_dir = false, null = false, drop = false;
                const uint8_t *slash = NULL;
                int dfd = services_fd;

                nl = memchr(name, '\n', (size_t)(end - name));
                if (!nl)
                        nl = end;
                if ((size_t)(nl - name) > 5 && memcmp(name, "fifo:", 5) == 0) {
                        fifo = true;
                        name += 5;
                } else if ((size_t)(nl - name) > 4 && memcmp(name, "dir:", 4) == 0) {
                        is_dir = true;
                        name += 4;
                } else if ((size_t)(nl - name) > 5 && memcmp(name, "null:", 5) == 0) {
                        null = true;
                        name += 5;
                } else if ((size_t)(nl - name) > 5 && memcmp(name, "drop:", 5) == 0) {
                        name += 5;
                        slash = memchr(name, '/', (size_t)(nl - name));
                        drop = slash != NULL;
                }
                if (drop) {
                        file_name(name, (size_t)(slash - name), i, sub);
                        file_name(slash + 1, (size_t)(nl - slash - 1), i, fname);
                        (void)mkdirat(services_fd, sub, 0755);
                        dfd = openat(services_fd, sub,
                                     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        if (dfd < 0)
                                dfd = services_fd; /* a file of that name: write beside it */
                } else
                        file_name(name, (size_t)(nl - name), i, fname);
                p = nl < end ? nl + 1 : end;
                next = find_sep(nl, end);
                if (next && next < p)
                        next = NULL;
                if (fifo)
                        (void)mkfifoat(dfd, fname, 0644);
                else if (is_dir)
                        (void)mkdirat(dfd, fname, 0755);
                else if (null)
                        (void)symlinkat("/dev/null", dfd, fname);
                else if (faccessat(dfd, fname, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                        write_file(dfd, fname, p, (size_t)((next ? next : end) - p));
                if (dfd != services_fd)
                        close(dfd);
                sep = next;
        }
}

static void check_service(const struct service_config *sc)
{
        size_t n = strv_length(sc->environment);

        fuzz_check(service_name_is_valid(sc->name));
        fuzz_check(sc->argv && sc->argv[0] && sc->argv[0][0]);
        fuzz_check(sc->environment);
        fuzz_check(sc->start_limit_burst <= 10000 && sc->log_keep <= 1000);
        fuzz_check(sc->log_max_size == 0 ||
                   (sc->log_max_size >= 4096 && sc->log_max_size <= (1ULL << 40)));
        fuzz_check(sc->restart_delay <= 24 * USEC_PER_HOUR &&
                   sc->restart_max_delay <= 24 * USEC_PER_HOUR &&
                   sc->restart_delay <= sc->restart_max_delay &&
                   sc->start_limit_interval <= 24 * USEC_PER_HOUR &&
                   sc->stop_timeout <= 24 * USEC_PER_HOUR &&
                   sc->ready_timeout <= 24 * USEC_PER_HOUR && sc->watchdog <= 24 * USEC_PER_HOUR);
        fuzz_check(sc->ready_fd == -1 || (sc->ready_fd >= 3 && sc->ready_fd <= 1023));
        fuzz_check(!sc->umask_set || sc->umask <= 0777);
        /* One entry per key. */
        for (size_t i = 0; i < n && n < 64; i++)
                for (size_t j = i + 1; j < n; j++) {
                        size_t k = strcspn(sc->environment[i], "=");
                        fuzz_check(strncmp(sc->environment[i], sc->environment[j], k) != 0 ||
                                   sc->environment[j][k] != '=');
                }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct config *c = NULL;
        char **errors = NULL;
        int r;

        setup();
        clear_services();
        write_tree(data, size);

        r = config_load(tend_ini, &c, &errors);
        if (r == 0) {
                fuzz_check(!errors);
                fuzz_check(c->socket_mode <= 0777);
                for (size_t i = 0; i < c->n_services; i++) {
                        check_service(c->services[i]);
                        fuzz_check(i == 0 ||
                                   strcmp(c->services[i - 1]->name, c->services[i]->name) < 0);
                }
                config_free(c);
        } else if (r == -EINVAL) {
                size_t n = strv_length(errors);

                fuzz_check(n > 0 && n <= CONFIG_ERRORS_MAX + 1);
                for (size_t i = 0; i < n; i++) {
                        const char *p = errors[i];

                        fuzz_check(strlen(p) <= 4096);
                        if (i == n - 1 && strncmp(p, "... and ", 8) == 0)
                                continue;
                        /* FILE:LINE: ... (FILE may hold ':' if tend.ini's
                         * services= said so) */
                        while ((p = strchr(p, ':')) && !(p[1] >= '0' && p[1] <= '9' &&
                                                         p[1 + strspn(p + 1, "0123456789")] == ':'))
                                p++;
                        fuzz_check(p);
                }
                strv_free(errors);
        } else
                fuzz_check(r == -ENOMEM);
        return 0;
}
