/* logs.c: tendctl logs: a service's output, from where tendd sends it. File
 * output is read from its log file and the rotated ones (paths_rotated
 * names them as tendd's rotation does), oldest first, and followed across
 * rotation and truncation; journal output is journalctl's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "paths.h"
#include "tendctl.h"

/* The lines of one file, newest last, into a ring of the last n (n == 0: print
 * as they come). The ring grows with the lines up to n slots: a large n costs
 * what the files hold, not n slots. */
struct logs_tail {
        char **ring;
        size_t n, cap, pos, count;
};

/* Keep a copy of line in t, the oldest dropped once t holds n. */
static int logs_tail_push(struct logs_tail *t, const char *line)
{
        char *copy = strdup(line);

        if (!copy)
                return -ENOMEM;
        if (t->count == t->n) { /* full: the ring has n slots, pos is the oldest */
                free(t->ring[t->pos]);
                t->ring[t->pos] = copy;
                t->pos = (t->pos + 1) % t->n;
                return 0;
        }
        if (t->count == t->cap) { /* not full, so not wrapped yet: grow */
                size_t cap = t->cap ? 2 * t->cap : 64;
                char **ring;

                if (cap > t->n)
                        cap = t->n;
                ring = reallocarray(t->ring, cap, sizeof *ring);
                if (!ring) {
                        free(copy);
                        return -ENOMEM;
                }
                t->ring = ring;
                t->cap = cap;
        }
        t->ring[t->count++] = copy;
        t->pos = t->count % t->n;
        return 0;
}

/* Read path (or, with keep, the file behind *keep, opened here and left open
 * for following, its end in *ret_end: nothing appended meanwhile is lost). */
static int logs_tail_file(const char *path, struct logs_tail *t, int *keep, off_t *ret_end)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        FILE *f;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        off_t end = 0;
        int r = 0;

        if (fd < 0)
                return -errno;
        if (keep) {
                *keep = fd;
                fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0)
                        return -errno;
        }
        f = fdopen(fd, "re");
        if (!f) {
                (void)close(fd);
                return -ENOMEM;
        }
        while ((errno = 0, len = getline(&line, &cap, f)) > 0) {
                end += len;
                if (t->n == 0)
                        fwrite(line, 1, (size_t)len, stdout);
                else if ((r = logs_tail_push(t, line)) < 0)
                        break;
        }
        if (len < 0 && errno == ENOMEM)
                r = -ENOMEM;
        free(line);
        fclose(f);
        if (ret_end)
                *ret_end = end;
        return r;
}

/* Copy what is appended to fd (path's file) from offset on; follow rotation and
 * truncation. fd < 0: path did not exist yet. */
static void logs_follow(const char *path, int fd, off_t offset)
{
        struct stat st, cur;
        char buf[65536];

        for (;;) {
                ssize_t n;

                if (fd >= 0) {
                        while ((n = pread(fd, buf, sizeof buf, offset)) > 0) {
                                fwrite(buf, 1, (size_t)n, stdout);
                                offset += n;
                        }
                        fflush(stdout);
                        if (ferror(stdout))
                                break;
                        if (fstat(fd, &st) == 0 && st.st_size < offset)
                                offset = 0; /* truncated */
                }
                /* Rotated (renamed away) or recreated: the old one is read to
                 * the end above, then the new one from its start. */
                if (stat(path, &cur) == 0 &&
                    (fd < 0 || fstat(fd, &st) < 0 || cur.st_ino != st.st_ino ||
                     cur.st_dev != st.st_dev)) {
                        if (fd >= 0) {
                                while ((n = pread(fd, buf, sizeof buf, offset)) > 0) {
                                        fwrite(buf, 1, (size_t)n, stdout);
                                        offset += n;
                                }
                                close(fd);
                        }
                        fd = open(path, O_RDONLY | O_CLOEXEC);
                        offset = 0;
                        continue;
                }
                (void)poll(NULL, 0, 100);
        }
        if (fd >= 0)
                close(fd);
}

/* Replace tendctl with journalctl -t NAME; returns only if that failed. */
static int logs_journal(const struct ctl_args *a, const char *name)
{
        char *av[8], nbuf[32];
        int n = 0;

        av[n++] = (char *)"journalctl";
        av[n++] = (char *)"-t";
        av[n++] = (char *)name;
        if (a->lines > 0) {
                (void)snprintf(nbuf, sizeof nbuf, "-n%llu", a->lines);
                av[n++] = nbuf;
        }
        if (a->follow)
                av[n++] = (char *)"-f";
        av[n] = NULL;
        fflush(stdout);
        execvp(av[0], av);
        fprintf(stderr, "tendctl: logs: %s: output is in the journal, but running "
                "journalctl failed: %s\n", name, strerror(errno));
        return EXIT_FAILED;
}

/* Feed the rotated files into t, oldest first: LogPath.K ... LogPath.1.
 * 1 if any was read, 0 if none, -ENOMEM. */
static int logs_tail_rotated(const char *log_path, struct logs_tail *t)
{
        char path[4096 + 16];
        struct stat st;
        unsigned k = 0;
        int any = 0, r;

        while (paths_rotated(path, sizeof path, log_path, k + 1) == 0 &&
               stat(path, &st) == 0)
                k++;
        for (; k > 0; k--) {
                if (paths_rotated(path, sizeof path, log_path, k) < 0)
                        continue;
                r = logs_tail_file(path, t, NULL, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0)
                        any = 1;
        }
        return any;
}

/* Free the ring; with print, print its lines first, oldest first. */
static void logs_tail_flush(struct logs_tail *t, bool print)
{
        for (size_t i = 0; print && i < t->count; i++)
                fputs(t->ring[(t->pos + t->n - t->count + i) % t->n], stdout);
        for (size_t i = 0; i < t->count; i++)
                free(t->ring[i]);
        free(t->ring);
        fflush(stdout);
}

/* File output: the last lines of every log file, then (-f) what follows. */
static int logs_file(const struct ctl_args *a, const char *name, const char *log_path)
{
        struct logs_tail t = { .n = (size_t)a->lines };
        int follow_fd = -1, r;
        off_t follow_from = 0;
        bool any;

        r = logs_tail_rotated(log_path, &t);
        any = r > 0;
        if (r >= 0) {
                r = logs_tail_file(log_path, &t, &follow_fd, &follow_from);
                any = any || r >= 0;
        }
        logs_tail_flush(&t, r != -ENOMEM);
        if (r == -ENOMEM) {
                if (follow_fd >= 0)
                        (void)close(follow_fd);
                fprintf(stderr, "tendctl: logs: %s: out of memory holding the last %llu lines\n",
                        name, a->lines);
                return EXIT_FAILED;
        }
        if (!any && !a->follow) {
                fprintf(stderr, "tendctl: logs: %s: no log file at %s\n", name, log_path);
                return EXIT_FAILED;
        }
        if (a->follow)
                logs_follow(log_path, follow_fd, follow_from); /* closes follow_fd */
        else if (follow_fd >= 0)
                (void)close(follow_fd);
        return EXIT_OK;
}

/* logs [-n N] [-f] NAME; see tendctl.h. */
int ctl_logs(struct ctl_args *a)
{
        const char *name = a->operands[0];
        struct wire_service s = {};
        int code;

        code = ctl_get_service(a->bus, name, &s);
        if (code != EXIT_OK) {
                wire_service_done(&s);
                return code;
        }
        sd_bus_flush_close_unref(a->bus);
        a->bus = NULL;

        if (s.output && strcmp(s.output, "journal") == 0)
                code = logs_journal(a, name);
        else if (!s.log_path || !*s.log_path || !s.output || strcmp(s.output, "file") != 0) {
                fprintf(stderr, "tendctl: logs: %s: output goes to %s, not to a file\n", name,
                        s.output && strcmp(s.output, "console") == 0 ? "tendd's stdout"
                                                                      : "nowhere (null)");
                code = EXIT_FAILED;
        } else
                code = logs_file(a, name, s.log_path);
        wire_service_done(&s);
        return code;
}
