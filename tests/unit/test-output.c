/* test-output: output.c on a real loop and real pipes: lines, timestamps,
 * partial and long lines, rotation, drain on free, console, null, a log
 * directory that cannot be written, an output handed over to a new image
 * (output_state_put/get), and sdnotify's messages. */
#include <ev.h>
#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "manager.h"
#include "output.h"
#include "paths.h"
#include "sdnotify.h"
#include "service.h"
#include "state.h"
#include "state-find.h"
#include "tap.h"

static struct ev_loop *loop;
static struct manager *mgr;
static char dir[] = "/tmp/test-output-XXXXXX";

static struct service *make_service(const char *name, enum output_mode mode, uint64_t max,
                                    unsigned keep)
{
        struct service_config *sc = calloc(1, sizeof *sc);
        struct service *s = NULL;

        sc->name = strdup(name);
        sc->file = strdup("/nonexistent/x.ini");
        sc->exec = strdup("/bin/true");
        sc->argv = calloc(2, sizeof(char *));
        sc->argv[0] = strdup("/bin/true");
        sc->restart_delay = USEC_PER_SEC;
        sc->restart_max_delay = USEC_PER_SEC;
        sc->stop_signal = SIGTERM;
        sc->stop_timeout = USEC_PER_SEC;
        sc->output = mode;
        sc->output_set = true;
        sc->log_max_size = max;
        sc->log_keep = keep;
        sc->ready_fd = -1;
        if (service_new(&mgr->host, sc, &s) < 0)
                abort();
        return s;
}

/* Give s its output, as its first spawn would. */
static int output_attach(struct service *s)
{
        const struct output_owner owner = {
                .name = s->name,
                .loop = s->host->loop,
                .log_dir = &s->host->log_dir,
                .config = &s->config,
        };

        return output_new(&owner, &s->output);
}

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t n = 0;

        if (!f)
                return strdup("");
        if (getdelim(&buf, &n, '\0', f) < 0) {
                free(buf);
                buf = strdup("");
        }
        fclose(f);
        return buf;
}

static char *logpath(const char *name, int k)
{
        char *p;

        if (k)
                (void)asprintf(&p, "%s/log/%s.log.%d", dir, name, k);
        else
                (void)asprintf(&p, "%s/log/%s.log", dir, name);
        return p;
}

/* Handle what is there now. */
static void pump(void)
{
        for (int i = 0; i < 20; i++)
                ev_run(loop, EVRUN_NOWAIT);
}

/* Run until every pipe saw EOF: the readers are the loop's only watchers. */
static void drain(void)
{
        while (ev_run(loop, EVRUN_ONCE))
                ;
}

/* The text of each line with its timestamp checked and stripped. */
static int check_lines(const char *text, const char *const *want, size_t n)
{
        regex_t re;
        const char *p = text;
        size_t i = 0;
        int good = 1;

        (void)regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z ",
                      REG_EXTENDED);
        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t)(nl - p) : strlen(p);
                char *line = strndup(p, len);

                if (regexec(&re, line, 0, NULL, 0) != 0 || i >= n || strlen(line) < 28 ||
                    strcmp(line + 28, want[i]) != 0) {
                        diag("line %zu: '%.60s'", i, line);
                        good = 0;
                }
                free(line);
                i++;
                p += len + (nl ? 1 : 0);
        }
        regfree(&re);
        return good && i == n;
}

static void test_file_lines(void)
{
        struct service *s = make_service("lines", OUTPUT_FILE, 0, 0);
        const char *want[] = { "one", "two", "", "three partial" };
        int out, err;
        char *p = logpath("lines", 0), *text;

        ok(output_attach(s) == 0, "output_new");
        ok(output_open(s->output, &out, &err) == 0 && out >= 0 && err == out,
           "file: one pipe for stdout and stderr");
        ok(access(p, F_OK) == 0, "the log file exists once the service is spawned");
        (void)!write(out, "one\ntw", 6);
        pump();
        (void)!write(out, "o\n\nthree", 8);
        (void)!write(out, " partial", 8);
        close(out);
        drain();
        text = slurp(p);
        ok(check_lines(text, want, 4), "lines complete, in order, timestamped; partial at EOF");
        free(text);
        service_free(s);
        free(p);
}

static void test_long_line(void)
{
        struct service *s = make_service("long", OUTPUT_FILE, 0, 0);
        size_t n = 2 * OUTPUT_LINE_MAX + 100;
        char *buf = malloc(n + 1), *p = logpath("long", 0), *text, *q;
        int out, err, lines = 0, sizes_ok = 1;
        size_t total = 0;

        memset(buf, 'x', n);
        buf[n] = '\n';
        (void)output_attach(s);
        (void)output_open(s->output, &out, &err);
        /* More than a pipe holds: write from a child, read in the loop. */
        if (fork() == 0) {
                (void)!write(out, buf, n + 1);
                _exit(0);
        }
        close(out);
        drain();
        (void)wait(NULL);
        text = slurp(p);
        total = 0;
        for (q = text; *q;) {
                char *nl = strchr(q, '\n');
                size_t len = nl ? (size_t)(nl - q) - 28 : 0;
                if (len > OUTPUT_LINE_MAX)
                        sizes_ok = 0;
                total += len;
                lines++;
                q = nl ? nl + 1 : q + strlen(q);
        }
        ok(lines == 3 && sizes_ok && total == n, "a %zu-byte line is split in 3 (%d lines, %zu)",
           n, lines, total);
        free(text);
        free(buf);
        free(p);
        service_free(s);
}

/* s's output writes "line 00" ... one line per loop turn, then ends; all drained. */
static void write_lines(struct service *s, int n_lines)
{
        int out, err;
        char line[32];

        (void)output_attach(s);
        (void)output_open(s->output, &out, &err);
        for (int i = 0; i < n_lines; i++) {
                int n = snprintf(line, sizeof line, "line %02d\n", i);
                (void)!write(out, line, (size_t)n);
                pump();
        }
        close(out);
        drain();
}

static void test_rotation(void)
{
        struct service *s = make_service("rot", OUTPUT_FILE, 200, 2);
        int sizes_ok = 1;

        write_lines(s, 50);
        for (int k = 0; k <= 3; k++) {
                char *p = logpath("rot", k);
                struct stat st;
                int exists = stat(p, &st) == 0;
                if (k < 3)
                        ok(exists, "rot.log%s%.0d exists", k ? "." : "", k);
                else
                        ok(!exists, "rot.log.3 does not (log_keep = 2)");
                if (exists && st.st_size > 200)
                        sizes_ok = 0;
                free(p);
        }
        ok(sizes_ok, "no file over log_max_size");
        {
                char *p = logpath("rot", 0), *text = slurp(p);
                size_t len = strlen(text);
                ok(len > 9 && strcmp(text + len - 8, "line 49\n") == 0, "the newest line is last");
                free(text);
                free(p);
        }
        service_free(s);
}

/* Rotation walks the files that exist, not log_keep names. */
static void test_rotation_huge_keep(void)
{
        struct service *s = make_service("huge", OUTPUT_FILE, 200, 10 * 1000 * 1000);
        usec_t t0 = now_monotonic(), took;

        write_lines(s, 40);
        took = now_monotonic() - t0;
        {
                char *p = logpath("huge", 7), *q = logpath("huge", 8);
                ok(access(p, F_OK) == 0 && access(q, F_OK) < 0,
                   "log_keep = 10M: 7 rotations, 7 old files");
                free(p);
                free(q);
        }
        ok(took < 2 * USEC_PER_SEC, "7 rotations with log_keep = 10M took %llu ms",
           (unsigned long long)(took / USEC_PER_MSEC));
        service_free(s);
}

static void test_drain_on_free(void)
{
        struct service *s = make_service("drain", OUTPUT_FILE, 0, 0);
        const char *want[] = { "before", "exit" };
        int out, err;
        char *p = logpath("drain", 0), *text;

        (void)output_attach(s);
        (void)output_open(s->output, &out, &err);
        (void)!write(out, "before\nexit", 11);
        /* No loop iteration: output_free must read what the pipe holds. */
        service_free(s);
        close(out);
        text = slurp(p);
        ok(check_lines(text, want, 2), "output_free drains the pipe");
        free(text);
        free(p);
}

static void test_null_and_paths(void)
{
        struct service *s = make_service("nul", OUTPUT_NULL, 0, 0);
        int out, err;
        char *p = paths_log_file(s->host->log_dir, s->name), *want = logpath("nul", 0);

        (void)output_attach(s);
        ok(output_open(s->output, &out, &err) == 0 && out == -1 && err == -1,
           "null: /dev/null for both");
        ok(p && strcmp(p, want) == 0, "paths_log_file: log_dir/NAME.log");
        ok(output_mode_of(s->config) == OUTPUT_NULL && output_mode_in_use(s->output, s->config) == OUTPUT_NULL,
           "mode of and in use");
        s->config->output_set = false;
        ok(output_mode_of(s->config) == output_default_mode(), "unset: the default mode");
        free(p);
        free(want);
        service_free(s);
}

static void test_unwritable_log_dir(void)
{
        struct service *s = make_service("bad", OUTPUT_FILE, 0, 0);
        char *saved = mgr->config->log_dir, *errpath, *text, *first;
        int out, err, saved_stderr = dup(STDERR_FILENO), efd;

        /* tendd's log is stderr: catch it to count the reports. */
        (void)asprintf(&errpath, "%s/stderr", dir);
        efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        (void)dup2(efd, STDERR_FILENO);
        mgr->config->log_dir = strdup("/dev/null/not-a-dir");
        mgr->host.log_dir = mgr->config->log_dir;
        (void)output_attach(s);
        ok(output_open(s->output, &out, &err) == 0 && out >= 0,
           "an unwritable log dir is not an error for the spawn");
        (void)!write(out, "dropped 1\n", 10);
        pump();
        (void)!write(out, "dropped 2\n", 10);
        close(out);
        drain();
        service_free(s);
        (void)dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        close(efd);
        text = slurp(errpath);
        first = strstr(text, "Not a directory; dropping lines");
        ok(first && !strstr(first + 20, "dropping lines"), "reported once, not per line");
        ok(strstr(text, "bad: output: 2 lines dropped") != NULL, "and the dropped lines counted");
        if (!first)
                diag("%s", text);
        free(text);
        free(errpath);
        free(mgr->config->log_dir);
        mgr->config->log_dir = saved;
        mgr->host.log_dir = mgr->config->log_dir;
}

/* log_dir reached through links: followed when root (or tendd's user) made
 * them, refused when someone else did. */
static void test_log_dir_links(void)
{
        char *saved = mgr->config->log_dir, *real, *link, *file, *errpath, *text;
        int out, err, saved_stderr = dup(STDERR_FILENO), efd;
        struct service *s;

        (void)asprintf(&real, "%s/real", dir);
        (void)asprintf(&link, "%s/link", dir);
        (void)asprintf(&file, "%s/real/sub/ln.log", dir);
        (void)mkdir(real, 0750);
        (void)!symlink(real, link);
        /* Through the link, a "..", the link again (relative), and created. */
        (void)asprintf(&mgr->config->log_dir, "%s/link/../link/./sub", dir);
        mgr->host.log_dir = mgr->config->log_dir;
        s = make_service("ln", OUTPUT_FILE, 0, 0);
        (void)output_attach(s);
        (void)output_open(s->output, &out, &err);
        (void)!write(out, "through a link\n", 15);
        close(out);
        drain();
        service_free(s);
        text = slurp(file);
        ok(strstr(text, " through a link\n") != NULL, "a link of root's on the way is followed");
        free(text);
        (void)unlink(file);

        /* The same link made by someone else: only root can give it away. */
        if (geteuid() != 0) {
                ok(1, "a link of another user's on the way is not followed # SKIP not root");
                ok(1, "and the refusal names it # SKIP not root");
                close(saved_stderr);
                goto done;
        }
        (void)asprintf(&errpath, "%s/stderr-links", dir);
        efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        (void)dup2(efd, STDERR_FILENO);
        (void)lchown(link, 65534, 65534);
        s = make_service("ln", OUTPUT_FILE, 0, 0);
        (void)output_attach(s);
        (void)output_open(s->output, &out, &err);
        (void)!write(out, "through a link\n", 15);
        close(out);
        drain();
        service_free(s);
        (void)dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        close(efd);
        ok(access(file, F_OK) < 0, "a link of another user's on the way is not followed");
        text = slurp(errpath);
        ok(strstr(text, "link is a symbolic link owned by uid 65534") != NULL,
           "and the refusal names it");
        if (!strstr(text, "uid 65534"))
                diag("%s", text);
        free(text);
        free(errpath);
done:
        free(mgr->config->log_dir);
        mgr->config->log_dir = saved;
        mgr->host.log_dir = mgr->config->log_dir;
        free(real);
        free(link);
        free(file);
}

/* Read what the pipe holds now. */
static size_t read_all(int fd, char *buf, size_t size)
{
        size_t len = 0;

        buf[0] = '\0';
        ssize_t n;

        while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
                len += (size_t)n;
        buf[len] = '\0';
        return len;
}

/* tendd's own log on a pipe nobody reads: every call returns at once, what
 * does not fit is counted, and the count comes with the next line through. */
static void test_log_stalled_stderr(void)
{
        int saved = dup(STDERR_FILENO), fds[2];
        static char buf[1 << 20];
        const char *drop, *after;
        size_t len;

        (void)pipe2(fds, O_CLOEXEC);
        (void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
        (void)dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        log_open();
        alarm(20); /* a blocking log write would hang here: fail instead */
        for (int i = 0; i < 20000; i++)
                log_info("flood line %d of a log nobody reads", i);
        alarm(0);
        ok(1, "20000 lines into a full pipe: no log call blocked");
        ok(fcntl(STDERR_FILENO, F_GETFL) >= 0 && !(fcntl(STDERR_FILENO, F_GETFL) & O_NONBLOCK),
           "fd 2's own file description stays blocking (shared with our parent)");
        len = read_all(fds[0], buf, sizeof buf);
        ok(len > 0 && strstr(buf, "tendd: flood line 0 of") != NULL, "the first lines got through");
        /* What waits in tendd goes out as the pipe is read (here, with no
         * loop attached, at each new line). */
        log_info("after the flood");
        len = 0;
        for (int i = 0; i < 10 && !strstr(buf, "after the flood"); i++) {
                len += read_all(fds[0], buf + len, sizeof buf - len);
                log_info("poke");
        }
        drop = strstr(buf, " log lines dropped\n");
        after = strstr(buf, "tendd: after the flood\n");
        ok(drop && after && drop < after, "then the drop count, then the new line");
        if (drop && after) {
                const char *l = drop;
                while (l > buf && l[-1] != '\n')
                        l--;
                ok(strncmp(l, "tendd: ", 7) == 0 && strtoul(l + 7, NULL, 10) > 0,
                   "\"%.*s\"", (int)(drop - l) + 18, l);
        } else {
                ok(0, "drop count line");
                diag("%zu bytes: %.300s", len, buf);
        }
        (void)dup2(saved, STDERR_FILENO);
        close(saved);
        close(fds[0]);
        log_open();
}

/* An output across a re-execution: a partial line in tendd and more in the
 * pipe when the state is put; the old image then vanishes (its memory, not
 * its pipe) and a new output from the state reads on. Every line is in the
 * log once and whole. */
static void test_handover(void)
{
        struct service *s = make_service("hand", OUTPUT_FILE, 0, 0);
        const char *want[] = { "first", "half a line", "second", "after the exec" };
        const char *saved = mgr->host.log_dir;
        char *p = logpath("hand", 0), *old_dir, *text;
        struct state_writer w;
        struct state_reader v;
        struct output *o = NULL;
        int out, err, e[2], keep, fd;
        const struct output_owner owner = {
                .name = s->name,
                .loop = s->host->loop,
                .log_dir = &s->host->log_dir,
                .config = &s->config,
        };

        (void)output_attach(s);
        (void)output_open(s->output, &out, &err);
        /* "half a li" waits in tendd, the rest in the pipe. */
        (void)!write(out, "first\nhalf a li", 15);
        pump();
        (void)!write(out, "ne\nsecond\n", 10);
        state_writer_init(&w);
        ok(output_state_put(s->output, &w, 7) == 0, "output_state_put");
        ok(w.n_fds == 1, "one fd kept: the pipe's read end");
        fd = w.n_fds == 1 ? w.fds[0] : -1;

        /* The old image goes away without reading the pipe: its output is
         * freed on an empty pipe at the same number, and writes its half
         * line elsewhere, where this test does not look. */
        keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        (void)pipe2(e, O_CLOEXEC);
        (void)dup2(e[0], fd);
        close(e[0]);
        close(e[1]);
        (void)asprintf(&old_dir, "%s/old-image", dir);
        (void)mkdir(old_dir, 0750);
        mgr->host.log_dir = old_dir;
        s->output = output_free(s->output);
        mgr->host.log_dir = saved;
        (void)dup2(keep, fd);
        (void)fcntl(fd, F_SETFD, 0); /* as the execve would leave it */
        close(keep);

        ok(state_find(&w, 7, &v) == 0 && output_state_get(&owner, &v, &o) == 0 && o,
           "output_state_get");
        s->output = o;
        ok(fcntl(fd, F_GETFD) == FD_CLOEXEC, "the pipe is close-on-exec again");
        (void)!write(out, "after the exec\n", 15);
        close(out);
        drain();
        text = slurp(p);
        ok(check_lines(text, want, 4), "every line once and whole across the handover");
        if (!check_lines(text, want, 4))
                diag("%s", text);
        free(text);
        state_writer_free(&w);

        /* A pipe that was not inherited: refused, nothing left behind. */
        state_writer_init(&w);
        {
                size_t m = state_begin(&w, 7), m2;
                state_put_u64(&w, 1, OUTPUT_FILE);
                state_put_u64(&w, 99, 42); /* a newer image's record: skipped */
                m2 = state_begin(&w, 2);
                state_put_i64(&w, 1, 1000); /* not open here */
                state_end(&w, m2);
                state_end(&w, m);
        }
        o = NULL;
        ok(state_find(&w, 7, &v) == 0 && output_state_get(&owner, &v, &o) < 0 && !o,
           "a pipe not inherited: an error");
        state_writer_free(&w);
        service_free(s);
        free(old_dir);
        free(p);
}

/* Putting one output is O(its own fds), whatever the writer holds already:
 * tendd puts thousands of outputs into one writer, and a put that sorts
 * every fd put so far (state_writer_finish) makes the whole state
 * quadratic (10,000 services: 4 s with the loop stopped). */
/* A state put by an image from before the fd store (no record of which
 * pipe is the last spawn's): the newest pipe of a piped output is, so that it
 * is parked outside tendd (fdstore.h) from the first crash after the upgrade. */
static void test_handover_from_older_image(void)
{
        struct service *s = make_service("older", OUTPUT_FILE, 0, 0);
        const struct output_owner owner = {
                .name = s->name,
                .loop = s->host->loop,
                .log_dir = &s->host->log_dir,
                .config = &s->config,
        };
        struct state_writer w;
        struct state_reader v;
        struct output *o = NULL;
        int p[2], q[2];

        ok(pipe2(p, 0) == 0 && pipe2(q, 0) == 0, "pipes");
        state_writer_init(&w);
        {
                size_t m = state_begin(&w, 7), m2;
                state_put_u64(&w, 1, OUTPUT_FILE);
                m2 = state_begin(&w, 2); /* newest first */
                state_put_i64(&w, 1, p[0]);
                state_end(&w, m2);
                m2 = state_begin(&w, 2);
                state_put_i64(&w, 1, q[0]);
                state_end(&w, m2);
                state_end(&w, m);
        }
        ok(state_find(&w, 7, &v) == 0 && output_state_get(&owner, &v, &o) == 0 && o,
           "output_state_get");
        ok(output_pipe_fd(o) == p[0], "the newest pipe is the last spawn's (%d, want %d)",
           output_pipe_fd(o), p[0]);
        o = output_free(o);
        state_writer_free(&w);
        close(p[1]);
        close(q[1]);
        service_free(s);
}

static void test_put_is_linear(void)
{
        struct service *s = make_service("many", OUTPUT_FILE, 0, 0);
        struct state_writer w;
        struct timespec a, b;
        int out, err, bad = 0;
        double took;

        (void)output_attach(s);
        (void)output_open(s->output, &out, &err);
        state_writer_init(&w);
        for (int i = 0; i < 50000; i++)
                state_put_fd(&w, 1, 100000 + i); /* the others' fds, by number */
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 2000; i++) {
                if (output_state_put(s->output, &w, 7) != 0)
                        bad++;
                /* Forget this put's pipe, so that the next is no duplicate. */
                for (size_t k = 0; k < w.n_fds; k++)
                        if (w.fds[k] < 100000) {
                                w.fds[k] = w.fds[--w.n_fds];
                                break;
                        }
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
        ok(bad == 0, "2000 puts of an output");
        ok(took < 1.0, "2000 puts into a writer of 50,000 fds take %.3f s (< 1 s)", took);
        state_writer_free(&w);
        close(out);
        close(err);
        service_free(s);
}

/* What the manager tells its listeners at a reload or shutdown. */
static void announce(enum manager_phase phase)
{
        for (size_t i = 0; i < mgr->n_listeners; i++)
                if (mgr->listeners[i]->phase)
                        mgr->listeners[i]->phase(phase, mgr->listeners[i]->userdata);
}

static void test_sdnotify(void)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct sdnotify *n = NULL, *n2 = NULL;
        struct state_writer w;
        struct state_reader v;
        char buf[512];
        ssize_t len;
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        (void)snprintf(sa.sun_path, sizeof sa.sun_path, "%s/notify", dir);
        ok(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "bind a fake notify socket");
        unsetenv("NOTIFY_SOCKET");
        ok(sdnotify_new(mgr, &n) == 0 && n == NULL, "no NOTIFY_SOCKET: no notifier");
        sdnotify_started(n); /* NULL-safe */
        setenv("NOTIFY_SOCKET", sa.sun_path, 1);
        ok(sdnotify_new(mgr, &n) == 0 && n != NULL, "NOTIFY_SOCKET: a notifier");
        announce(MANAGER_RELOADING);
        ok(recv(fd, buf, sizeof buf, 0) < 0, "no RELOADING=1 before READY=1");
        sdnotify_started(n);
        ev_run(loop, EVRUN_NOWAIT);
        len = recv(fd, buf, sizeof buf - 1, 0);
        buf[len > 0 ? len : 0] = '\0';
        ok(strncmp(buf, "READY=1\nSTATUS=0 services: ", 27) == 0, "READY=1 with STATUS: %s", buf);
        announce(MANAGER_RELOADING);
        len = recv(fd, buf, sizeof buf - 1, 0);
        buf[len > 0 ? len : 0] = '\0';
        ok(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0, "RELOADING=1: %s", buf);
        announce(MANAGER_RELOADED);
        len = recv(fd, buf, sizeof buf - 1, 0);
        buf[len > 0 ? len : 0] = '\0';
        ok(strcmp(buf, "READY=1") == 0, "READY=1 after the reload");
        /* A re-execution: RELOADING=1 from the old image, READY=1 from the
         * new one as soon as it started, then its STATUS=. */
        sdnotify_reloading(n);
        len = recv(fd, buf, sizeof buf - 1, 0);
        buf[len > 0 ? len : 0] = '\0';
        ok(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0,
           "sdnotify_reloading before a re-execution");
        state_writer_init(&w);
        ok(sdnotify_state_put(n, &w, 9) == 0 && sdnotify_state_put(NULL, &w, 10) == 0,
           "sdnotify_state_put");
        ok(sdnotify_new(mgr, &n2) == 0 && n2 && state_find(&w, 9, &v) == 0 &&
                   sdnotify_state_get(n2, &v) == 0,
           "sdnotify_state_get in the new image");
        sdnotify_started(n2);
        len = recv(fd, buf, sizeof buf - 1, 0);
        buf[len > 0 ? len : 0] = '\0';
        ok(strcmp(buf, "READY=1") == 0, "READY=1 at once from the new image");
        ev_run(loop, EVRUN_NOWAIT);
        len = recv(fd, buf, sizeof buf - 1, 0);
        buf[len > 0 ? len : 0] = '\0';
        ok(strncmp(buf, "STATUS=0 services", 17) == 0, "then its STATUS=");
        n2 = sdnotify_free(n2);
        state_writer_free(&w);
        announce(MANAGER_STOPPING);
        len = recv(fd, buf, sizeof buf - 1, 0);
        buf[len > 0 ? len : 0] = '\0';
        ok(strcmp(buf, "STOPPING=1") == 0, "STOPPING=1");
        /* A receiver that does not read: sends fail, never block. */
        for (int i = 0; i < 2000; i++)
                (void)sdnotify_send(n, "STATUS=filling the queue");
        ok(sdnotify_send(n, "STATUS=x") == -EAGAIN, "a full receiver: -EAGAIN, not blocked");
        n = sdnotify_free(n);
        unsetenv("NOTIFY_SOCKET");
        close(fd);
}

int main(void)
{
        struct config *c = calloc(1, sizeof *c);
        char *p;

        if (!mkdtemp(dir))
                return 1;
        (void)asprintf(&c->log_dir, "%s/log", dir);
        (void)mkdir(c->log_dir, 0750);
        loop = ev_loop_new(EVFLAG_AUTO);
        if (manager_new(loop, "/nonexistent/tend.ini", c, &mgr) < 0)
                return 1;
        test_file_lines();
        test_long_line();
        test_rotation();
        test_rotation_huge_keep();
        test_drain_on_free();
        test_null_and_paths();
        test_unwritable_log_dir();
        test_log_dir_links();
        test_handover();
        test_handover_from_older_image();
        test_put_is_linear();
        test_sdnotify();
        test_log_stalled_stderr();
        manager_free(mgr);
        ev_loop_destroy(loop);
        (void)asprintf(&p, "rm -rf '%s'", dir);
        (void)!system(p);
        free(p);
        return tap_done();
}
