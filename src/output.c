/* output.c: service output to the journal, a rotating file, the console or
 * nowhere; see output.h for the policy. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "log.h"
#include "manager.h"
#include "output.h"
#include "service.h"

/* Pipes of earlier spawns still open (a descendant holds the write end) are
 * kept up to this many; the oldest is drained and closed beyond. */
#define OUTPUT_STREAMS_MAX 4
/* Formatted lines are collected up to this many bytes per write(). */
#define OUTPUT_WBUF_MAX (256 * 1024)
/* How often a deleted log file is looked for, and how long writing pauses
 * (lines dropped without a system call) after a failure. */
#define OUTPUT_RETRY_USEC (1 * USEC_PER_SEC)
/* Reads output_free() makes per pipe before giving up on a writer that
 * keeps writing. */
#define OUTPUT_DRAIN_READS 64

struct output_stream {
        struct output *output;
        struct output_stream *next;
        ev_io io;
        int fd;
        size_t len; /* bytes of an unfinished line in line[] */
        char line[OUTPUT_LINE_MAX];
};

/* One loop, one thread: the write buffer is shared by every output, and
 * every entry point flushes it before returning. */
static char output_wbuf[OUTPUT_WBUF_MAX];

struct output {
        struct service *service;
        struct output_stream *streams; /* newest first */
        enum output_mode mode;         /* of the last spawn (file or console when piped) */

        size_t wlen; /* of output_wbuf; non-zero only inside a call */
        unsigned wlines;
        time_t ts_sec; /* the cached second of ts */
        char ts[32];

        int fd; /* the log file, -1 when closed */
        char *path;
        uint64_t size;
        usec_t next_check; /* monotonic: next nlink check or reopen attempt */
        usec_t retry_at;   /* monotonic: while failing, drop until then */

        bool failing;     /* a write failed; reported, lines dropped since */
        uint64_t dropped; /* lines dropped since failing */
        bool journal_warned;
};

enum output_mode output_default_mode(void)
{
        static int mode = -1;

        if (mode < 0) {
                bool under = sd_booted() > 0 &&
                             (getenv("JOURNAL_STREAM") || getenv("INVOCATION_ID"));
                mode = under && access("/run/systemd/journal/stdout", W_OK) == 0 ? OUTPUT_JOURNAL
                                                                                   : OUTPUT_FILE;
        }
        return (enum output_mode)mode;
}

enum output_mode output_mode_of(const struct service *s)
{
        return s->config->output_set ? s->config->output : output_default_mode();
}

enum output_mode output_mode_in_use(const struct service *s)
{
        enum output_mode m = output_mode_of(s);

        return m == OUTPUT_JOURNAL && s->output && s->output->journal_warned ? OUTPUT_FILE : m;
}

char *output_log_path(const struct service *s)
{
        char *p;

        if (asprintf(&p, "%s/%s.log", s->manager->config->log_dir, s->name) < 0)
                return NULL;
        return p;
}

static const char *output_name(const struct output *o)
{
        return o->service->name;
}

static struct ev_loop *output_loop(const struct output *o)
{
        return o->service->manager->loop;
}

/* The first failure is logged; the rest are counted. */
static void output_fail(struct output *o, int err, const char *what, unsigned lines)
{
        o->retry_at = now_monotonic() + OUTPUT_RETRY_USEC;
        if (!o->failing) {
                o->failing = true;
                o->dropped = 0;
                log_service(LOG_WARNING, output_name(o), "output: %s: %s; dropping lines until "
                            "it works again", what, strerror(err));
        }
        o->dropped += lines;
}

static void output_recovered(struct output *o, const char *what)
{
        if (!o->failing)
                return;
        o->failing = false;
        log_service(LOG_NOTICE, output_name(o), "output: %s works again; %llu line%s dropped",
                    what, (unsigned long long)o->dropped, o->dropped == 1 ? "" : "s");
        o->dropped = 0;
}

static void output_close_file(struct output *o)
{
        o->fd = safe_close(o->fd);
}

/* Open (or reopen) the log file; on failure the caller drops lines. */
static int output_open_file(struct output *o)
{
        _cleanup_free_ char *path = output_log_path(o->service);
        struct stat st;
        int fd;

        if (!path)
                return -ENOMEM;
        output_close_file(o);
        free(o->path);
        o->path = TAKE_PTR(path);
        fd = open(o->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                  0640);
        if (fd < 0 && errno == ENOENT) {
                /* The log directory was removed under us: make it again. */
                if (mkdir_p(o->service->manager->config->log_dir, 0750) == 0)
                        fd = open(o->path,
                                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                                  0640);
        }
        if (fd < 0)
                return -errno;
        o->fd = fd;
        o->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
        return 0;
}

/* NAME.log -> NAME.log.1 -> ... -> NAME.log.<keep>; older ones removed. */
static void output_rotate(struct output *o)
{
        unsigned keep = o->service->config->log_keep;
        char from[PATH_MAX], to[PATH_MAX];

        output_close_file(o);
        if (!o->path)
                return;
        /* Files beyond keep (keep may have been lowered by a reload). */
        for (unsigned i = keep + 1;; i++) {
                (void)snprintf(to, sizeof to, "%s.%u", o->path, i);
                if (unlink(to) < 0 && errno == ENOENT)
                        break;
        }
        if (keep == 0) {
                (void)unlink(o->path);
        } else {
                for (unsigned i = keep - 1; i >= 1; i--) {
                        (void)snprintf(from, sizeof from, "%s.%u", o->path, i);
                        (void)snprintf(to, sizeof to, "%s.%u", o->path, i + 1);
                        (void)rename(from, to);
                }
                (void)snprintf(to, sizeof to, "%s.1", o->path);
                (void)rename(o->path, to);
        }
        o->size = 0;
}

static unsigned output_count_lines(const char *p, size_t n)
{
        unsigned c = 0;

        for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
                c++;
        return c;
}

/* Make sure o->fd is a usable log file; false: drop this batch. */
static bool output_file_ready(struct output *o)
{
        usec_t now = now_monotonic();
        _cleanup_free_ char *want = NULL;
        struct stat st;
        int r;

        if (o->fd >= 0 && now >= o->next_check) {
                o->next_check = now + OUTPUT_RETRY_USEC;
                want = output_log_path(o->service);
                /* Deleted (or log_dir changed by a reload): start a new file. */
                if ((fstat(o->fd, &st) == 0 && st.st_nlink == 0) ||
                    (want && !streq_ptr(want, o->path)))
                        output_close_file(o);
        }
        if (o->fd >= 0)
                return true;
        if (o->failing && now < o->next_check)
                return false;
        o->next_check = now + OUTPUT_RETRY_USEC;
        r = output_open_file(o);
        if (r < 0) {
                char what[PATH_MAX + 16];
                (void)snprintf(what, sizeof what, "opening %s",
                               o->path ? o->path : o->service->name);
                output_fail(o, -r, what, 0);
                return false;
        }
        return true;
}

/* Write the collected lines out, or drop them. Never waits for more than the
 * write itself. */
static void output_flush(struct output *o)
{
        size_t off = 0;
        ssize_t n = 0;
        int fd;

        if (o->wlen == 0)
                return;
        if (o->failing && now_monotonic() < o->retry_at) {
                o->dropped += o->wlines;
                goto done;
        }
        if (o->mode == OUTPUT_CONSOLE)
                fd = STDOUT_FILENO;
        else if (output_file_ready(o))
                fd = o->fd;
        else {
                o->dropped += o->wlines;
                goto done;
        }
        /* A short write is followed by one for the rest, which fails with
         * the reason: ENOSPC, EFBIG (RLIMIT_FSIZE), EAGAIN (the console). */
        while (off < o->wlen) {
                n = write(fd, output_wbuf + off, o->wlen - off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                off += (size_t)n;
        }
        if (o->mode != OUTPUT_CONSOLE)
                o->size += off;
        if (off < o->wlen) {
                char what[PATH_MAX + 16];
                int e = n < 0 ? errno : ENOSPC;

                (void)snprintf(what, sizeof what, "writing %s",
                               o->mode == OUTPUT_CONSOLE ? "to the console" : o->path);
                output_fail(o, e, what,
                            off == 0 ? o->wlines
                                     : output_count_lines(output_wbuf + off, o->wlen - off));
        } else
                output_recovered(o, o->mode == OUTPUT_CONSOLE ? "console" : o->path);
done:
        o->wlen = 0;
        o->wlines = 0;
}

static size_t output_prefix(struct output *o, char *buf, size_t size)
{
        usec_t now;
        time_t t;
        struct tm tm;

        if (o->mode == OUTPUT_CONSOLE)
                return (size_t)snprintf(buf, size, "%s: ", output_name(o));
        now = now_realtime();
        t = (time_t)(now / USEC_PER_SEC);
        if (t != o->ts_sec || !o->ts[0]) {
                if (!gmtime_r(&t, &tm) ||
                    strftime(o->ts, sizeof o->ts, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                        o->ts[0] = '\0';
                o->ts_sec = t;
        }
        return (size_t)snprintf(buf, size, "%s.%06lluZ ", o->ts,
                                (unsigned long long)(now % USEC_PER_SEC));
}

/* Append one line (without its newline) to the write buffer. */
static void output_line(struct output *o, const char *p, size_t n)
{
        char prefix[SERVICE_NAME_MAX + 64];
        size_t plen = output_prefix(o, prefix, sizeof prefix);
        size_t need = plen + n + 1;
        uint64_t max = o->service->config->log_max_size;

        if (o->wlen + need > OUTPUT_WBUF_MAX)
                output_flush(o);
        if (o->mode == OUTPUT_FILE && max > 0 && o->fd < 0)
                (void)output_file_ready(o); /* size is only known with the file open */
        if (o->mode == OUTPUT_FILE && max > 0 && o->fd >= 0 && o->size + o->wlen + need > max &&
            o->size + o->wlen > 0) {
                output_flush(o);
                output_rotate(o);
        }
        memcpy(output_wbuf + o->wlen, prefix, plen);
        memcpy(output_wbuf + o->wlen + plen, p, n);
        output_wbuf[o->wlen + plen + n] = '\n';
        o->wlen += need;
        o->wlines++;
}

/* Split what was read into lines; keep an unfinished one for later. */
static void output_feed(struct output_stream *st, const char *p, size_t n)
{
        struct output *o = st->output;

        while (n > 0) {
                const char *nl = memchr(p, '\n', n);
                size_t take = nl ? (size_t)(nl - p) : n;
                size_t room = sizeof st->line - st->len;

                if (take >= room) {
                        /* Too long: what fits is a line of its own. */
                        memcpy(st->line + st->len, p, room);
                        output_line(o, st->line, sizeof st->line);
                        st->len = 0;
                        p += room;
                        n -= room;
                        continue;
                }
                if (!nl) {
                        memcpy(st->line + st->len, p, take);
                        st->len += take;
                        return;
                }
                if (st->len > 0) {
                        memcpy(st->line + st->len, p, take);
                        output_line(o, st->line, st->len + take);
                        st->len = 0;
                } else
                        output_line(o, p, take);
                p += take + 1;
                n -= take + 1;
        }
}

static void output_stream_free(struct output_stream *st)
{
        struct output *o = st->output;

        for (struct output_stream **pp = &o->streams; *pp; pp = &(*pp)->next)
                if (*pp == st) {
                        *pp = st->next;
                        break;
                }
        ev_io_stop(output_loop(o), &st->io);
        if (st->len > 0)
                output_line(o, st->line, st->len);
        output_flush(o);
        safe_close(st->fd);
        free(st);
}

/* One read; returns false once the pipe is done (EOF or error) and freed. */
static bool output_stream_read(struct output_stream *st)
{
        char buf[OUTPUT_READ_MAX];
        ssize_t n;

        do
                n = read(st->fd, buf, sizeof buf);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
                return true;
        if (n <= 0) {
                output_stream_free(st);
                return false;
        }
        output_feed(st, buf, (size_t)n);
        output_flush(st->output);
        return true;
}

static void output_stream_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        (void)output_stream_read(container_of(w, struct output_stream, io));
}

/* Read what is there, without waiting, then close. */
static void output_stream_drain(struct output_stream *st)
{
        for (unsigned i = 0; i < OUTPUT_DRAIN_READS; i++) {
                int avail = 0;
                if (!output_stream_read(st))
                        return;
                /* EAGAIN: the pipe is empty for now. */
                if (ioctl(st->fd, FIONREAD, &avail) < 0 || avail == 0)
                        break;
        }
        output_stream_free(st);
}

int output_new(struct service *s, struct output **ret)
{
        struct output *o = calloc(1, sizeof *o);

        if (!o)
                return -ENOMEM;
        o->service = s;
        o->fd = -1;
        o->mode = OUTPUT_FILE;
        *ret = o;
        return 0;
}

struct output *output_free(struct output *o)
{
        if (!o)
                return NULL;
        while (o->streams)
                output_stream_drain(o->streams);
        if (o->failing && o->dropped > 0)
                log_service(LOG_WARNING, output_name(o), "output: %llu lines dropped",
                            (unsigned long long)o->dropped);
        output_close_file(o);
        free(o->path);
        free(o);
        return NULL;
}

static int output_pipe(struct output *o, int *ret_out, int *ret_err)
{
        struct output_stream *st;
        unsigned n = 0;
        int fds[2];

        /* Pipes of earlier spawns held open by a descendant: keep a few. */
        for (st = o->streams; st; st = st->next)
                n++;
        while (n-- >= OUTPUT_STREAMS_MAX) {
                for (st = o->streams; st->next; st = st->next)
                        ;
                output_stream_drain(st);
        }
        st = malloc(sizeof *st); /* line[] is touched only as far as it is used */
        if (!st)
                return -ENOMEM;
        st->next = NULL;
        st->len = 0;
        if (pipe2(fds, O_CLOEXEC) < 0) {
                int r = -errno;
                free(st);
                return r;
        }
        /* Only our end: the child's stdio must stay blocking. */
        (void)fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
        st->output = o;
        st->fd = fds[0];
        ev_io_init(&st->io, output_stream_cb, st->fd, EV_READ);
        ev_io_start(output_loop(o), &st->io);
        st->next = o->streams;
        o->streams = st;
        *ret_out = *ret_err = fds[1];
        return 0;
}

static int output_journal(struct output *o, int *ret_out, int *ret_err)
{
        _cleanup_close_ int out = -1, err = -1;

        out = sd_journal_stream_fd(output_name(o), LOG_INFO, 1);
        if (out >= 0)
                err = sd_journal_stream_fd(output_name(o), LOG_WARNING, 1);
        if (out < 0 || err < 0) {
                if (!o->journal_warned)
                        log_service(LOG_WARNING, output_name(o),
                                    "output: journal unreachable: %s; writing to a file instead",
                                    strerror(-(out < 0 ? out : err)));
                o->journal_warned = true;
                return -ENXIO;
        }
        o->journal_warned = false;
        *ret_out = TAKE_FD(out);
        *ret_err = TAKE_FD(err);
        return 0;
}

int output_open(struct output *o, int *ret_out, int *ret_err)
{
        enum output_mode mode = output_mode_of(o->service);
        int r;

        *ret_out = *ret_err = -1;
        switch (mode) {
        case OUTPUT_NULL:
                return 0;
        case OUTPUT_JOURNAL:
                if (output_journal(o, ret_out, ret_err) == 0)
                        return 0;
                mode = OUTPUT_FILE;
                break;
        case OUTPUT_CONSOLE: {
                static bool checked;
                struct stat st;
                /* A pipe or socket on our stdout must not block the loop. */
                if (!checked && fstat(STDOUT_FILENO, &st) == 0 &&
                    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
                        (void)fcntl(STDOUT_FILENO, F_SETFL,
                                    fcntl(STDOUT_FILENO, F_GETFL) | O_NONBLOCK);
                checked = true;
                break;
        }
        case OUTPUT_FILE:
        default:
                mode = OUTPUT_FILE;
                break;
        }
        /* Lines still buffered belong to the previous mode's target. */
        output_flush(o);
        if (o->mode != mode && o->failing)
                output_recovered(o, "output");
        o->mode = mode;
        r = output_pipe(o, ret_out, ret_err);
        if (r < 0)
                return r;
        if (mode == OUTPUT_FILE)
                (void)output_file_ready(o); /* creates the file now, or reports why not */
        return 0;
}
