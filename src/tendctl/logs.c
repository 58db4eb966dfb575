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
        size_t *ring_len;       /* each line's length: a NUL byte is part of it */
        const char **ring_file; /* the file each line came from (--json), in files */
        size_t n, cap, pos, count;
        char **files;
        size_t n_files;
};

/* How lines are written: as read, or (--json) one object per line, the
 * file and the line's time apart. Follow mode reads blocks: a line's start
 * waits in partial for its end. */
struct logs_out {
        bool json;
        char *partial;
        size_t len, cap;
};
static struct logs_out logs_out;

/* One whole line (without its newline) of file as a JSON object. */
static void logs_json_line(const char *file, const char *line, size_t len)
{
        /* All len bytes: a NUL the service wrote is part of its line. */
        _cleanup_free_ char *copy = malloc(len + 1);
        const char *msg = copy, *time = NULL;
        size_t t, msg_len = len;

        if (!copy)
                return;
        memcpy(copy, line, len);
        copy[len] = '\0';
        /* tendd's lines start "2025-01-31T12:00:00.123456Z ". */
        t = strcspn(copy, " ");
        if (t >= 20 && copy[t] == ' ' && copy[t - 1] == 'Z' && copy[4] == '-' &&
            copy[10] == 'T') {
                copy[t] = '\0';
                time = copy;
                msg = copy + t + 1;
                msg_len = len - t - 1;
        }
        fputs("{\"file\": ", stdout);
        ctl_json_string(file);
        fputs(", \"time\": ", stdout);
        if (time)
                ctl_json_string(time);
        else
                fputs("null", stdout);
        fputs(", \"message\": ", stdout);
        ctl_json_string_n(msg, msg_len);
        fputs("}\n", stdout);
}

/* Write buf (len bytes) of file: as it is, or whole lines as JSON (a last
 * line without its newline waits for more, or for logs_out_end). */
static void logs_write(const char *file, const char *buf, size_t len)
{
        if (!logs_out.json) {
                fwrite(buf, 1, len, stdout);
                return;
        }
        while (len > 0) {
                const char *nl = memchr(buf, '\n', len);
                size_t l = nl ? (size_t)(nl - buf) : len;

                if (!nl || logs_out.len > 0) {
                        if (logs_out.len + l + 1 > logs_out.cap) {
                                size_t cap = (logs_out.len + l + 1) * 2;
                                char *p = realloc(logs_out.partial, cap);

                                if (!p)
                                        return;
                                logs_out.partial = p;
                                logs_out.cap = cap;
                        }
                        memcpy(logs_out.partial + logs_out.len, buf, l);
                        logs_out.len += l;
                        if (nl) {
                                logs_json_line(file, logs_out.partial, logs_out.len);
                                logs_out.len = 0;
                        }
                } else
                        logs_json_line(file, buf, l);
                buf += l + (nl != NULL);
                len -= l + (nl != NULL);
        }
}

/* The end of a file: a last line without newline is a line. */
static void logs_out_end(const char *file)
{
        if (logs_out.json && logs_out.len > 0)
                logs_json_line(file, logs_out.partial, logs_out.len);
        logs_out.len = 0;
}

/* Keep a copy of line in t, the oldest dropped once t holds n. */
static int logs_tail_push(struct logs_tail *t, const char *line, size_t len, const char *file)
{
        char *copy = malloc(len + 1);

        if (!copy)
                return -ENOMEM;
        memcpy(copy, line, len);
        copy[len] = '\0';
        if (t->count == t->n) { /* full: the ring has n slots, pos is the oldest */
                free(t->ring[t->pos]);
                t->ring[t->pos] = copy;
                t->ring_len[t->pos] = len;
                t->ring_file[t->pos] = file;
                t->pos = (t->pos + 1) % t->n;
                return 0;
        }
        if (t->count == t->cap) { /* not full, so not wrapped yet: grow */
                size_t cap = t->cap ? 2 * t->cap : 64;
                char **ring;
                size_t *lens;
                const char **files;

                if (cap > t->n)
                        cap = t->n;
                ring = reallocarray(t->ring, cap, sizeof *ring);
                if (!ring) {
                        free(copy);
                        return -ENOMEM;
                }
                t->ring = ring;
                lens = reallocarray(t->ring_len, cap, sizeof *lens);
                if (!lens) {
                        free(copy);
                        return -ENOMEM;
                }
                t->ring_len = lens;
                files = reallocarray(t->ring_file, cap, sizeof *files);
                if (!files) {
                        free(copy);
                        return -ENOMEM;
                }
                t->ring_file = files;
                t->cap = cap;
        }
        t->ring_file[t->count] = file;
        t->ring_len[t->count] = len;
        t->ring[t->count++] = copy;
        t->pos = t->count % t->n;
        return 0;
}

/* Read path (or, with keep, the file behind *keep, opened here and left open
 * for following, its end in *ret_end: nothing appended meanwhile is lost). */
static int logs_tail_file(const char *path, struct logs_tail *t, int *keep, off_t *ret_end,
                          const char *file)
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
                        logs_write(path, line, (size_t)len);
                else if ((r = logs_tail_push(t, line, (size_t)len, file)) < 0)
                        break;
        }
        if (t->n == 0)
                logs_out_end(path);
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
                                logs_write(path, buf, (size_t)n);
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
                                        logs_write(path, buf, (size_t)n);
                                        offset += n;
                                }
                                logs_out_end(path);
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

/* Replace tendctl with journalctl and the matches tendd gave for the
 * service's lines (its identifier and tendd's unit, or pid: a program of the
 * same name elsewhere is never shown), -t NAME from a tendd that gives none;
 * returns only if that failed. */
static int logs_journal(const struct ctl_args *a, const char *name, const char *match)
{
        _cleanup_free_ char *copy = strdup(match ? match : "");
        char *av[16], nbuf[32];
        int n = 0;

        if (!copy) {
                fprintf(stderr, "tendctl: out of memory\n");
                return EXIT_FAILED;
        }
        av[n++] = (char *)"journalctl";
        if (a->lines > 0) {
                (void)snprintf(nbuf, sizeof nbuf, "-n%llu", a->lines);
                av[n++] = nbuf;
        }
        if (a->follow)
                av[n++] = (char *)"-f";
        if (a->json)
                av[n++] = (char *)"--output=json";
        if (!*copy) {
                av[n++] = (char *)"-t";
                av[n++] = (char *)name;
        } else {
                av[n++] = (char *)"--";
                for (char *save = NULL, *m = strtok_r(copy, " ", &save);
                     m && n < (int)ELEMENTSOF(av) - 1; m = strtok_r(NULL, " ", &save))
                        av[n++] = m;
        }
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
                char *file, **files;

                if (paths_rotated(path, sizeof path, log_path, k) < 0)
                        continue;
                file = strdup(path);
                files = file ? reallocarray(t->files, t->n_files + 1, sizeof *files) : NULL;
                if (!files) {
                        free(file);
                        return -ENOMEM;
                }
                t->files = files;
                t->files[t->n_files++] = file;
                r = logs_tail_file(path, t, NULL, NULL, file);
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
        for (size_t i = 0; print && i < t->count; i++) {
                size_t k = (t->pos + t->n - t->count + i) % t->n;

                logs_write(t->ring_file[k], t->ring[k], t->ring_len[k]);
                logs_out_end(t->ring_file[k]);
        }
        for (size_t i = 0; i < t->count; i++)
                free(t->ring[i]);
        free(t->ring);
        free(t->ring_len);
        free(t->ring_file);
        for (size_t i = 0; i < t->n_files; i++)
                free(t->files[i]);
        free(t->files);
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
                r = logs_tail_file(log_path, &t, &follow_fd, &follow_from, log_path);
                any = any || r >= 0;
        }
        logs_tail_flush(&t, r != -ENOMEM);
        free(logs_out.partial); /* follow mode makes it anew */
        logs_out = (struct logs_out){ .json = a->json };
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
        logs_out.json = a->json;

        if (s.output && strcmp(s.output, "journal") == 0)
                code = logs_journal(a, name, s.journal_match);
        else if (!s.log_path || !*s.log_path || !s.output || strcmp(s.output, "file") != 0) {
                fprintf(stderr, "tendctl: logs: %s: output goes to %s, not to a file\n", name,
                        s.output && strcmp(s.output, "console") == 0 ? "tendd's stdout"
                                                                      : "nowhere (null)");
                code = EXIT_FAILED;
        } else
                code = logs_file(a, name, s.log_path);
        free(logs_out.partial);
        wire_service_done(&s);
        return code;
}
