/* output.c: service output to the journal, a rotating file, the console or
 * nowhere; see output.h for the policy. */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <ev.h>

#include "log.h"
#include "output.h"
#include "parse.h"
#include "paths.h"
#include "state.h"

/* Pipes of earlier spawns still open (a descendant holds the write end) are
 * kept up to this many; the oldest is drained and closed beyond. */
#define OUTPUT_STREAMS_MAX 4
/* Formatted lines are collected up to this many bytes per write(). */
#define OUTPUT_WBUF_MAX (256 * 1024)
/* How long writing pauses (lines dropped without a system call) after a
 * failure, and how often a deleted log file is looked for where inotify is
 * not available. */
#define OUTPUT_RETRY_USEC (1 * USEC_PER_SEC)
/* Symbolic links followed on the way to log_dir, as the kernel's limit. */
#define OUTPUT_DIR_LINKS_MAX 40
/* Mode of a log file tendd creates (less its umask), and of log_dir. */
#define OUTPUT_FILE_MODE 0640
#define OUTPUT_DIR_MODE 0750
/* Room for why a log_dir or a log file was refused. */
#define OUTPUT_WHY_MAX (PATH_MAX + 256)
/* Reads output_free() makes per pipe before giving up on a writer that
 * keeps writing. */
#define OUTPUT_DRAIN_READS 64

struct output_stream {
        struct output *output;
        struct output_stream *next;
        ev_io io;
        int fd;
        size_t len; /* bytes of an unfinished line in line */
        char *line; /* OUTPUT_LINE_MAX bytes while a line is unfinished, else
                     * NULL: most services write whole lines, and a buffer for
                     * each pipe would cost a page each */
};

/* One loop, one thread: the write buffer is shared by every output, and
 * every entry point flushes it before returning. */
static char output_wbuf[OUTPUT_WBUF_MAX];

struct output {
        struct output_owner owner;
        struct output_stream *streams; /* newest first */
        struct output_stream *current; /* the pipe of the last spawn; NULL: none */
        enum output_mode mode;         /* of the last spawn (file or console when piped) */

        size_t wlen; /* of output_wbuf; non-zero only inside a call */
        unsigned wlines;
        time_t ts_sec; /* the cached second of ts */
        char ts[32];

        struct output *prev, *next; /* every output, for inotify's events */
        int fd;                     /* the log file, -1 when closed */
        int wd;                     /* its inotify watch, -1 when none */
        unsigned dir_gen;           /* output_dir.gen it was opened in */
        char *path;
        uint64_t size;
        usec_t next_check; /* monotonic: next nlink check (no inotify) or reopen attempt */
        usec_t retry_at;   /* monotonic: while failing, drop until then */

        bool failing;     /* a write failed; reported, lines dropped since */
        uint64_t dropped; /* lines dropped since failing */
        bool journal_warned;

        /* The last lines (a ring, oldest at tail_pos once full), kept only
         * while the service has on_failure (output_tail()); NULL: none. */
        char **tail;
        unsigned tail_n, tail_pos;
};

/* log_dir, opened once for every output (one daemon, one log_dir): log
 * files are opened, renamed and removed relative to its fd, so nothing can
 * redirect them once it was checked. Reopened when log_dir changes (reload)
 * or was removed; closed with the last output. One inotify instance tells
 * when an open log file loses its last link. */
static struct output_dir {
        unsigned users; /* outputs alive */
        int fd;         /* O_PATH directory, -1 when not open */
        unsigned gen;   /* bumped at each (re)open */
        char *path;     /* the log_dir fd (or the refusal) is for */
        int err;        /* the refusal, 0 when fd is open */
        char why[OUTPUT_WHY_MAX];
        usec_t retry_at; /* monotonic: refusal cached until then */

        struct ev_loop *loop;
        int inotify; /* -1 when unavailable: nlink is checked while writing */
        ev_io inotify_io;
        struct output *outputs;
} output_dir = { .fd = -1, .inotify = -1 };

static int output_mode_default = -1; /* -1: not decided yet */

void output_set_default_mode(enum output_mode mode)
{
        output_mode_default = mode;
}

enum output_mode output_default_mode(void)
{
        if (output_mode_default < 0) {
                bool under =
                        sd_booted() > 0 && (getenv("JOURNAL_STREAM") || getenv("INVOCATION_ID"));
                output_mode_default = under && access("/run/systemd/journal/stdout", W_OK) == 0
                                              ? OUTPUT_JOURNAL
                                              : OUTPUT_FILE;
        }
        return (enum output_mode)output_mode_default;
}

enum output_mode output_mode_of(const struct service_config *sc)
{
        return sc->output_set ? sc->output : output_default_mode();
}

enum output_mode output_mode_in_use(const struct output *o, const struct service_config *sc)
{
        enum output_mode m = output_mode_of(sc);

        return m == OUTPUT_JOURNAL && o && o->journal_warned ? OUTPUT_FILE : m;
}

static const char *output_name(const struct output *o)
{
        return o->owner.name;
}

static struct ev_loop *output_loop(const struct output *o)
{
        return o->owner.loop;
}

/* The first failure is logged (what failed and why); the rest are counted. */
static void output_fail(struct output *o, unsigned lines, const char *fmt, ...) _printf_(3, 4);

static void output_fail(struct output *o, unsigned lines, const char *fmt, ...)
{
        o->retry_at = now_monotonic() + OUTPUT_RETRY_USEC;
        if (!o->failing) {
                char why[OUTPUT_WHY_MAX + 64];
                va_list ap;

                va_start(ap, fmt);
                (void)vsnprintf(why, sizeof why, fmt, ap);
                va_end(ap);
                o->failing = true;
                o->dropped = 0;
                log_service(LOG_WARNING, output_name(o),
                            "output: %s; dropping lines until it works again", why);
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
        if (o->wd >= 0) {
                /* A watch lives on the inode, not the fd: it would outlast it. */
                (void)inotify_rm_watch(output_dir.inotify, o->wd);
                o->wd = -1;
        }
        o->fd = safe_close(o->fd);
}

/* A directory on the way to log_dir must be one only root and tendd's user
 * can change: owned by one of them, not writable by group or others unless
 * sticky (then others cannot rename or remove what is not theirs). As
 * sshd's StrictModes, for the same reason: whoever can replace an entry in
 * it decides where root writes. */
static int output_dir_check(int fd, const char *name, char *why, size_t whylen)
{
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_nlink == 0) {
                (void)snprintf(why, whylen, "%s: %s", name, strerror(ENOENT));
                return -ENOENT;
        }
        if (!S_ISDIR(st.st_mode)) {
                (void)snprintf(why, whylen, "%s: %s", name, strerror(ENOTDIR));
                return -ENOTDIR;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                (void)snprintf(why, whylen, "%s is owned by uid %u, not by root or tendd's user",
                               name, (unsigned)st.st_uid);
                return -EPERM;
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
                (void)snprintf(why, whylen, "%s is writable by %s (mode %04o) and not sticky", name,
                               (st.st_mode & S_IWGRP) && (st.st_mode & S_IWOTH) ? "group and others"
                               : st.st_mode & S_IWGRP                           ? "group"
                                                                                : "others",
                               (unsigned)(st.st_mode & 07777));
                return -EPERM;
        }
        return 0;
}

/* Walk path from / one component at a time, each directory opened with
 * O_NOFOLLOW and checked (output_dir_check), so no one but root or tendd's
 * user can have chosen where the walk ends. A symbolic link is followed
 * only when owned by root or tendd's user (it sits in a checked directory,
 * so they made it). Missing directories are created, the last one with
 * OUTPUT_DIR_MODE. On refusal why says which directory and why. */
static int output_dir_walk(const char *path, char *why, size_t whylen, int *ret_fd)
{
        _cleanup_free_ char *walk = NULL;
        _cleanup_close_ int cur = -1;
        char done[PATH_MAX] = "", comp[NAME_MAX + 1], target[PATH_MAX];
        unsigned links = 0;
        char *p;
        int r;

        if (path[0] == '/')
                walk = strdup(path);
        else {
                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                if (!cwd || asprintf(&walk, "%s/%s", cwd, path) < 0)
                        walk = NULL;
        }
        if (!walk)
                return -ENOMEM;
        cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cur < 0)
                return -errno;
        r = output_dir_check(cur, "/", why, whylen);
        if (r < 0)
                return r;
        for (p = walk;;) {
                size_t n, dlen = strlen(done);
                struct stat st;
                int fd;

                while (*p == '/')
                        p++;
                if (!*p)
                        break;
                n = strcspn(p, "/");
                if (n > NAME_MAX || dlen + 1 + n >= sizeof done)
                        return -ENAMETOOLONG;
                memcpy(comp, p, n);
                comp[n] = '\0';
                p += n;
                if (streq_ptr(comp, "."))
                        continue;
                if (streq_ptr(comp, "..")) {
                        char *slash = strrchr(done, '/');
                        if (slash)
                                *slash = '\0';
                        fd = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                } else {
                        (void)snprintf(done + dlen, sizeof done - dlen, "/%s", comp);
                        if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                                if (errno != ENOENT)
                                        return -errno;
                                if (mkdirat(cur, comp, *p ? 0755 : OUTPUT_DIR_MODE) < 0 &&
                                    errno != EEXIST)
                                        return -errno;
                                if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                        return -errno;
                        }
                        if (S_ISLNK(st.st_mode)) {
                                _cleanup_free_ char *rest = NULL;
                                ssize_t tl;

                                if (st.st_uid != 0 && st.st_uid != geteuid()) {
                                        (void)snprintf(why, whylen, "%s is a symbolic link owned "
                                                       "by uid %u", done, (unsigned)st.st_uid);
                                        return -EPERM;
                                }
                                if (++links > OUTPUT_DIR_LINKS_MAX)
                                        return -ELOOP;
                                tl = readlinkat(cur, comp, target, sizeof target);
                                if (tl < 0)
                                        return -errno;
                                if ((size_t)tl >= sizeof target)
                                        return -ENAMETOOLONG;
                                target[tl] = '\0';
                                if (asprintf(&rest, "%s/%s", target, p) < 0)
                                        return -ENOMEM;
                                free(walk);
                                walk = TAKE_PTR(rest);
                                p = walk;
                                done[dlen] = '\0';
                                if (target[0] == '/') {
                                        /* / was checked already. */
                                        closep(&cur);
                                        cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                                        if (cur < 0)
                                                return -errno;
                                        done[0] = '\0';
                                }
                                continue;
                        }
                        fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                }
                if (fd < 0) {
                        r = -errno;
                        (void)snprintf(why, whylen, "%s: %s", done[0] ? done : "/", strerror(-r));
                        return r;
                }
                closep(&cur);
                cur = fd;
                r = output_dir_check(cur, done[0] ? done : "/", why, whylen);
                if (r < 0)
                        return r;
        }
        *ret_fd = TAKE_FD(cur);
        return 0;
}

/* The fd of log_dir for the current config, (re)opened when log_dir changed
 * or was removed; a refusal is kept OUTPUT_RETRY_USEC, so services failing
 * on it do not each walk the path at every line. */
static int output_dir_get(const char *log_dir, const char **ret_why)
{
        struct output_dir *d = &output_dir;
        int fd = -1, r;

        *ret_why = d->why;
        /* Removed, or made unsafe since (chmod): walk again. */
        if (d->fd >= 0 && streq_ptr(d->path, log_dir) &&
            output_dir_check(d->fd, log_dir, d->why, sizeof d->why) == 0)
                return d->fd;
        if (d->err < 0 && streq_ptr(d->path, log_dir) && now_monotonic() < d->retry_at)
                return d->err;
        d->fd = safe_close(d->fd);
        if (!streq_ptr(d->path, log_dir)) {
                free(d->path);
                d->path = strdup(log_dir);
                if (!d->path)
                        return -ENOMEM;
        }
        d->why[0] = '\0';
        r = output_dir_walk(log_dir, d->why, sizeof d->why, &fd);
        d->gen++;
        if (r < 0) {
                if (!d->why[0])
                        (void)snprintf(d->why, sizeof d->why, "%s", strerror(-r));
                d->err = r;
                d->retry_at = now_monotonic() + OUTPUT_RETRY_USEC;
                return r;
        }
        d->err = 0;
        d->fd = fd;
        return fd;
}

/* Watch the open log file for its last link going away (IN_ATTRIB: nlink
 * changed), so a deleted file is closed at once and its space given back,
 * not when the service next writes. */
static void output_watch_file(struct output *o)
{
        char p[64];

        if (output_dir.inotify < 0)
                return;
        (void)snprintf(p, sizeof p, "/proc/self/fd/%d", o->fd);
        o->wd = inotify_add_watch(output_dir.inotify, p, IN_ATTRIB);
}

/* Open (or reopen) the log file in log_dir; on failure the caller drops
 * lines. The file is never reached through a link and must be a regular
 * file of tendd's user with one link: anything else was put there by
 * someone else, and root writing to it would write where they chose. */
static int output_open_file(struct output *o)
{
        const char *log_dir = *o->owner.log_dir, *why;
        char name[SERVICE_NAME_MAX + 8];
        struct stat st;
        int dfd, fd;

        output_close_file(o);
        free(o->path);
        o->path = paths_log_file(log_dir, o->owner.name);
        if (!o->path)
                return -ENOMEM;
        dfd = output_dir_get(log_dir, &why);
        if (dfd < 0) {
                output_fail(o, 0, "log_dir %s refused: %s", log_dir, why);
                return dfd;
        }
        (void)snprintf(name, sizeof name, "%s.log", output_name(o));
        fd = openat(dfd, name,
                    O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
                    OUTPUT_FILE_MODE);
        if (fd < 0) {
                int r = -errno;
                if (r == -ELOOP)
                        output_fail(o, 0, "%s is a symbolic link: not following it", o->path);
                else
                        output_fail(o, 0, "opening %s: %s", o->path, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
            st.st_nlink != 1) {
                if (!S_ISREG(st.st_mode))
                        output_fail(o, 0, "%s is not a regular file: not writing to it", o->path);
                else if (st.st_uid != geteuid())
                        output_fail(o, 0, "%s is owned by uid %u, not by tendd's user (%u): "
                                    "not writing to it", o->path, (unsigned)st.st_uid,
                                    (unsigned)geteuid());
                else
                        output_fail(o, 0, "%s has %u links (one made elsewhere?): not writing "
                                    "to it", o->path, (unsigned)st.st_nlink);
                (void)close(fd);
                return -EPERM;
        }
        o->fd = fd;
        o->dir_gen = output_dir.gen;
        o->size = (uint64_t)st.st_size;
        output_watch_file(o);
        return 0;
}

/* NAME.log -> NAME.log.1 -> ... -> NAME.log.<keep>, inside log_dir's fd
 * (renameat and unlinkat never follow the names they act on). Only names
 * that exist are walked: the shift stops at the first missing one, so a
 * huge log_keep costs nothing until that many files exist. */
static void output_rotate(struct output *o)
{
        unsigned keep = (*o->owner.config)->log_keep, n;
        const char *why;
        char from[SERVICE_NAME_MAX + 32], to[SERVICE_NAME_MAX + 32], base[SERVICE_NAME_MAX + 8];
        struct stat st;
        int dfd;

        output_close_file(o);
        o->size = 0;
        dfd = output_dir_get(*o->owner.log_dir, &why);
        if (dfd < 0 || o->dir_gen != output_dir.gen)
                return; /* the next open reports it, or starts in the new log_dir */
        (void)snprintf(base, sizeof base, "%s.log", output_name(o));
        /* Files beyond keep (keep may have been lowered by a reload). */
        for (unsigned i = keep + 1;; i++) {
                (void)paths_rotated(to, sizeof to, base, i);
                if (unlinkat(dfd, to, 0) < 0 && errno == ENOENT)
                        break;
        }
        if (keep == 0) {
                (void)unlinkat(dfd, base, 0);
                return;
        }
        /* The first missing NAME.log.N: only 1..N-1 need to move up. */
        for (n = 1; n < keep; n++) {
                (void)paths_rotated(to, sizeof to, base, n);
                if (fstatat(dfd, to, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
                        break;
        }
        for (unsigned i = n; i > 1; i--) {
                (void)paths_rotated(from, sizeof from, base, i - 1);
                (void)paths_rotated(to, sizeof to, base, i);
                (void)renameat(dfd, from, dfd, to);
        }
        (void)paths_rotated(to, sizeof to, base, 1);
        if (renameat(dfd, base, dfd, to) < 0)
                (void)unlinkat(dfd, base, 0); /* start afresh rather than rotate at every line */
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
        struct stat st;

        if (o->fd >= 0) {
                /* log_dir changed by a reload, or reopened: a new file there. */
                if (o->dir_gen != output_dir.gen ||
                    !streq_ptr(output_dir.path, *o->owner.log_dir))
                        output_close_file(o);
                /* Deleted: without inotify, looked for at most once a second. */
                else if (o->wd < 0 && now >= o->next_check) {
                        o->next_check = now + OUTPUT_RETRY_USEC;
                        if (fstat(o->fd, &st) == 0 && st.st_nlink == 0)
                                output_close_file(o);
                }
        }
        if (o->fd >= 0)
                return true;
        if (o->failing && now < o->next_check)
                return false;
        o->next_check = now + OUTPUT_RETRY_USEC;
        return output_open_file(o) == 0;
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
                int e = n < 0 ? errno : ENOSPC;

                output_fail(o, off == 0 ? o->wlines
                                        : output_count_lines(output_wbuf + off, o->wlen - off),
                            "writing %s: %s",
                            o->mode == OUTPUT_CONSOLE ? "to the console" : o->path, strerror(e));
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

/* Keep a line (cut at OUTPUT_TAIL_LINE_MAX, NUL bytes as blanks) in o's
 * ring of last lines; out of memory, it is not kept. */
static void output_tail_push(struct output *o, const char *p, size_t n)
{
        char *line;

        if (!o->tail && !(o->tail = calloc(OUTPUT_TAIL_LINES, sizeof *o->tail)))
                return;
        if (n > OUTPUT_TAIL_LINE_MAX)
                n = OUTPUT_TAIL_LINE_MAX;
        line = malloc(n + 1);
        if (!line)
                return;
        for (size_t i = 0; i < n; i++)
                line[i] = p[i] ? p[i] : ' ';
        line[n] = '\0';
        if (o->tail_n < OUTPUT_TAIL_LINES)
                o->tail[o->tail_n++] = line;
        else {
                free(o->tail[o->tail_pos]);
                o->tail[o->tail_pos] = line;
                o->tail_pos = (o->tail_pos + 1) % OUTPUT_TAIL_LINES;
        }
}

static void output_tail_free(struct output *o)
{
        for (unsigned i = 0; o->tail && i < o->tail_n; i++)
                free(o->tail[i]);
        free(o->tail);
        o->tail = NULL;
        o->tail_n = o->tail_pos = 0;
}

/* Append one line (without its newline) to the write buffer. */
static void output_line(struct output *o, const char *p, size_t n)
{
        char prefix[SERVICE_NAME_MAX + 64];
        size_t plen = output_prefix(o, prefix, sizeof prefix);
        size_t need = plen + n + 1;
        uint64_t max = (*o->owner.config)->log_max_size;

        if (o->wlen + need > OUTPUT_WBUF_MAX)
                output_flush(o);
        if (o->mode == OUTPUT_FILE && max > 0 && o->fd < 0)
                (void)output_file_ready(o); /* size is only known with the file open */
        if (o->mode == OUTPUT_FILE && max > 0 && o->fd >= 0 && o->size + o->wlen + need > max &&
            o->size + o->wlen > 0) {
                output_flush(o);
                output_rotate(o);
        }
        if ((*o->owner.config)->on_failure)
                output_tail_push(o, p, n);
        else if (o->tail)
                output_tail_free(o); /* a reload took on_failure away */
        memcpy(output_wbuf + o->wlen, prefix, plen);
        memcpy(output_wbuf + o->wlen + plen, p, n);
        output_wbuf[o->wlen + plen + n] = '\n';
        o->wlen += need;
        o->wlines++;
}

/* The unfinished line is done with: its buffer goes. */
static void output_stream_release(struct output_stream *st)
{
        free(st->line);
        st->line = NULL;
        st->len = 0;
}

/* Split what was read into lines; keep an unfinished one for later. */
static void output_feed(struct output_stream *st, const char *p, size_t n)
{
        struct output *o = st->output;

        while (n > 0) {
                const char *nl = memchr(p, '\n', n);
                size_t take = nl ? (size_t)(nl - p) : n;
                size_t room = OUTPUT_LINE_MAX - st->len;

                if (take >= room) {
                        /* Too long: what fits is a line of its own. */
                        if (st->len > 0) {
                                memcpy(st->line + st->len, p, room);
                                output_line(o, st->line, OUTPUT_LINE_MAX);
                                output_stream_release(st);
                        } else
                                output_line(o, p, room);
                        p += room;
                        n -= room;
                        continue;
                }
                if (!nl) {
                        if (!st->line && !(st->line = malloc(OUTPUT_LINE_MAX))) {
                                output_line(o, p, take); /* no room to wait for its end */
                                return;
                        }
                        memcpy(st->line + st->len, p, take);
                        st->len += take;
                        return;
                }
                if (st->len > 0) {
                        memcpy(st->line + st->len, p, take);
                        output_line(o, st->line, st->len + take);
                        output_stream_release(st);
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
        if (o->current == st)
                o->current = NULL;
        ev_io_stop(output_loop(o), &st->io);
        if (st->len > 0)
                output_line(o, st->line, st->len);
        output_stream_release(st);
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

/* The log file of o lost a link (or had its attributes changed): if it
 * has none left, let it go now, so its space comes back; the next line
 * starts a new file. */
static void output_check_deleted(struct output *o)
{
        struct stat st;

        if (o->fd >= 0 && fstat(o->fd, &st) == 0 && st.st_nlink == 0)
                output_close_file(o);
}

static void output_inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool overflow = false;
        ssize_t n;

        while ((n = read(output_dir.inotify, buf, sizeof buf)) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *)p;

                        if (ev->mask & IN_Q_OVERFLOW)
                                overflow = true;
                        else if (ev->mask & IN_ATTRIB)
                                for (struct output *o = output_dir.outputs; o; o = o->next)
                                        if (o->wd == ev->wd) {
                                                output_check_deleted(o);
                                                break;
                                        }
                        p += sizeof *ev + ev->len;
                }
        if (overflow)
                for (struct output *o = output_dir.outputs; o; o = o->next)
                        output_check_deleted(o);
}

/* The first output sets up what every output shares; the last one tears it
 * down. */
static void output_dir_ref(struct output *o)
{
        struct output_dir *d = &output_dir;

        o->next = d->outputs;
        if (d->outputs)
                d->outputs->prev = o;
        d->outputs = o;
        if (d->users++ > 0)
                return;
        d->loop = output_loop(o);
        d->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (d->inotify >= 0) {
                ev_io_init(&d->inotify_io, output_inotify_cb, d->inotify, EV_READ);
                ev_io_start(d->loop, &d->inotify_io);
                /* Not a reason for the loop to keep running. */
                ev_unref(d->loop);
        }
}

static void output_dir_unref(struct output *o)
{
        struct output_dir *d = &output_dir;

        if (o->prev)
                o->prev->next = o->next;
        else
                d->outputs = o->next;
        if (o->next)
                o->next->prev = o->prev;
        if (--d->users > 0)
                return;
        if (d->inotify >= 0) {
                ev_ref(d->loop);
                ev_io_stop(d->loop, &d->inotify_io);
        }
        d->inotify = safe_close(d->inotify);
        d->fd = safe_close(d->fd);
        free(d->path);
        d->path = NULL;
        d->err = 0;
        d->why[0] = '\0';
        d->loop = NULL;
}

int output_new(const struct output_owner *owner, struct output **ret)
{
        struct output *o = calloc(1, sizeof *o);

        if (!o)
                return -ENOMEM;
        o->owner = *owner;
        o->fd = -1;
        o->wd = -1;
        o->mode = OUTPUT_FILE;
        output_dir_ref(o);
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
                log_service(LOG_WARNING, output_name(o), "output: %llu line%s dropped",
                            (unsigned long long)o->dropped, o->dropped == 1 ? "" : "s");
        output_close_file(o);
        output_dir_unref(o);
        output_tail_free(o);
        free(o->path);
        free(o);
        return NULL;
}

/* See output.h. */
int output_tail(struct output *o, char **ret)
{
        struct output_stream *st, *next;
        size_t len = 0;
        char *s, *p;

        *ret = NULL;
        /* What its pipes hold already (a service's last words, written just
         * before it exited) belongs in it: read without waiting. */
        for (st = o->streams; st; st = next) {
                next = st->next;
                for (unsigned i = 0; i < OUTPUT_DRAIN_READS; i++) {
                        int avail = 0;

                        if (ioctl(st->fd, FIONREAD, &avail) < 0 || avail == 0)
                                break;
                        if (!output_stream_read(st))
                                break; /* freed at its end */
                }
        }
        for (unsigned i = 0; i < o->tail_n; i++)
                len += strlen(o->tail[i]) + 1;
        s = p = malloc(len + 1);
        if (!s)
                return -ENOMEM;
        for (unsigned i = 0; i < o->tail_n; i++) {
                const char *line = o->tail[(o->tail_pos + i) % o->tail_n];
                size_t n = strlen(line);

                memcpy(p, line, n);
                p += n;
                *p++ = '\n';
        }
        if (p > s)
                p--; /* no newline after the last */
        *p = '\0';
        *ret = s;
        return 0;
}

/* A stream for the pipe read end fd (taken; made non-blocking), with its
 * unfinished line, watched: first in o's streams (newest) or last. */
static int output_stream_add(struct output *o, int fd, const char *line, size_t len, bool newest)
{
        struct output_stream *st, **pp = &o->streams;

        st = calloc(1, sizeof *st);
        if (st && len > 0) {
                st->line = malloc(OUTPUT_LINE_MAX);
                if (!st->line) {
                        free(st);
                        st = NULL;
                }
        }
        if (!st) {
                safe_close(fd);
                return -ENOMEM;
        }
        /* Only our end: the child's stdio must stay blocking. */
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        st->output = o;
        st->fd = fd;
        st->len = len;
        if (len > 0)
                memcpy(st->line, line, len);
        ev_io_init(&st->io, output_stream_cb, st->fd, EV_READ);
        ev_io_start(output_loop(o), &st->io);
        while (!newest && *pp)
                pp = &(*pp)->next;
        st->next = *pp;
        *pp = st;
        return 0;
}

/* Pipes of earlier spawns held open by a descendant: keep a few. */
static void output_trim(struct output *o, const struct output_stream *keep)
{
        struct output_stream *st, *oldest;
        unsigned n = 0;

        for (st = o->streams; st; st = st->next)
                n++;
        while (n-- >= OUTPUT_STREAMS_MAX) {
                oldest = NULL;
                for (st = o->streams; st; st = st->next)
                        if (st != keep)
                                oldest = st;
                if (!oldest)
                        break;
                output_stream_drain(oldest);
        }
}

/* A new pipe, the current one; keep: a stream the trim must leave (the
 * main process's, while an auxiliary command gets a pipe). */
static int output_pipe(struct output *o, const struct output_stream *keep, int *ret_out,
                       int *ret_err)
{
        int fds[2], r;

        output_trim(o, keep);
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        r = output_stream_add(o, fds[0], NULL, 0, true);
        if (r < 0) {
                safe_close(fds[1]);
                return r;
        }
        o->current = o->streams;
        *ret_out = *ret_err = fds[1];
        return 0;
}

/* See output.h. */
int output_adopt(struct output *o, int fd)
{
        struct stat sb;
        int r;

        if (fstat(fd, &sb) < 0 || !S_ISFIFO(sb.st_mode)) {
                safe_close(fd);
                return -EBADF;
        }
        output_trim(o, NULL);
        r = output_stream_add(o, fd, NULL, 0, true);
        if (r < 0)
                return r;
        o->current = o->streams;
        o->mode = output_mode_of(*o->owner.config) == OUTPUT_CONSOLE ? OUTPUT_CONSOLE : OUTPUT_FILE;
        return 0;
}

/* See output.h. */
int output_pipe_fd(const struct output *o)
{
        return o && o->current ? o->current->fd : -1;
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

static int output_open_for(struct output *o, int *ret_out, int *ret_err, bool main);

/* See output.h. */
int output_open(struct output *o, int *ret_out, int *ret_err)
{
        return output_open_for(o, ret_out, ret_err, true);
}

/* See output.h. */
int output_open_aux(struct output *o, int *ret_out, int *ret_err)
{
        return output_open_for(o, ret_out, ret_err, false);
}

/* A spawn's stdout and stderr; main: of the service's main process (its
 * pipe becomes the current one), else of an auxiliary command. */
static int output_open_for(struct output *o, int *ret_out, int *ret_err, bool main)
{
        struct output_stream *current = o->current;
        enum output_mode mode = output_mode_of(*o->owner.config);
        int r;

        *ret_out = *ret_err = -1;
        if (main)
                o->current = NULL;
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
        /* An auxiliary command's pipe never costs the main process its own
         * (its next write would be its SIGPIPE), and that one stays the
         * one parked. */
        r = output_pipe(o, main ? NULL : current, ret_out, ret_err);
        if (r < 0)
                return r;
        if (!main)
                o->current = current;
        if (mode == OUTPUT_FILE)
                (void)output_file_ready(o); /* creates the file now, or reports why not */
        return 0;
}

/* The records of an output in the state (output_state_put), inside its tag.
 * Numbers are never reused for another meaning. */
enum {
        OUTPUT_STATE_MODE = 1,           /* u64: o->mode */
        OUTPUT_STATE_STREAM = 2,         /* list, one per pipe, newest first */
        OUTPUT_STATE_FAILING = 3,        /* bool */
        OUTPUT_STATE_DROPPED = 4,        /* u64: lines dropped since failing */
        OUTPUT_STATE_JOURNAL_WARNED = 5, /* bool */
        OUTPUT_STATE_CURRENT_KNOWN = 6,  /* bool: streams say which is current */
        OUTPUT_STATE_TAIL = 7,           /* strv: the last lines, oldest first */
};
enum {
        OUTPUT_STATE_STREAM_FD = 1,   /* fd: the pipe's read end */
        OUTPUT_STATE_STREAM_LINE = 2, /* bytes: its unfinished line */
        OUTPUT_STATE_STREAM_CURRENT = 3, /* bool: the pipe of the last spawn */
};

/* See output.h. The write buffer is empty between calls, so the pipes and
 * their partial lines are all there is in flight. */
int output_state_put(const struct output *o, struct state_writer *w, uint16_t tag)
{
        size_t mark = state_begin(w, tag);

        state_put_u64(w, OUTPUT_STATE_MODE, (uint64_t)o->mode);
        for (const struct output_stream *st = o->streams; st; st = st->next) {
                size_t m = state_begin(w, OUTPUT_STATE_STREAM);

                state_put_fd(w, OUTPUT_STATE_STREAM_FD, st->fd);
                if (st->len > 0)
                        state_put_bytes(w, OUTPUT_STATE_STREAM_LINE, st->line, st->len);
                if (st == o->current)
                        state_put_bool(w, OUTPUT_STATE_STREAM_CURRENT, true);
                state_end(w, m);
        }
        state_put_bool(w, OUTPUT_STATE_FAILING, o->failing);
        state_put_u64(w, OUTPUT_STATE_DROPPED, o->dropped);
        state_put_bool(w, OUTPUT_STATE_JOURNAL_WARNED, o->journal_warned);
        state_put_bool(w, OUTPUT_STATE_CURRENT_KNOWN, true);
        if (o->tail_n > 0) {
                char *lines[OUTPUT_TAIL_LINES + 1];

                for (unsigned i = 0; i < o->tail_n; i++)
                        lines[i] = o->tail[(o->tail_pos + i) % o->tail_n];
                lines[o->tail_n] = NULL;
                state_put_strv(w, OUTPUT_STATE_TAIL, lines);
        }
        state_end(w, mark);
        return w->error; /* fds put twice: state_writer_finish(), once */
}

/* One pipe of a previous image, appended to o's streams (they were put
 * newest first, so the order is kept) and watched. */
static int output_stream_get(struct output *o, const struct state_reader *v)
{
        struct state_reader r = *v, val;
        const char *line = NULL;
        bool current = false;
        size_t len = 0;
        struct stat sb;
        uint16_t tag;
        int fd = -1, k;

        while ((k = state_next(&r, &tag, &val)) > 0) {
                if (tag == OUTPUT_STATE_STREAM_FD) {
                        if (fd >= 0)
                                return -EBADMSG;
                        k = state_get_fd(&val, &fd);
                } else if (tag == OUTPUT_STATE_STREAM_LINE) {
                        line = val.p;
                        len = val.len;
                        if (len > OUTPUT_LINE_MAX)
                                k = -EBADMSG;
                } else if (tag == OUTPUT_STATE_STREAM_CURRENT)
                        k = state_get_bool(&val, &current);
                if (k < 0)
                        goto fail;
        }
        if (k < 0 || fd < 0) {
                k = k < 0 ? k : -EBADMSG;
                goto fail;
        }
        if (fstat(fd, &sb) < 0 || !S_ISFIFO(sb.st_mode)) {
                k = -EBADF;
                goto fail;
        }
        k = output_stream_add(o, fd, line, len, false);
        if (k >= 0 && current) {
                struct output_stream *st = o->streams;
                while (st->next)
                        st = st->next;
                o->current = st;
        }
        return k;
fail:
        /* Claimed: nobody else closes it. */
        (void)safe_close(fd);
        return k;
}

/* See output.h. */
int output_state_get(const struct output_owner *owner, const struct state_reader *v,
                     struct output **ret)
{
        struct state_reader r = *v, val;
        struct output *o = NULL;
        bool current_known = false;
        uint64_t u;
        uint16_t tag;
        int k;

        k = output_new(owner, &o);
        if (k < 0)
                return k;
        while ((k = state_next(&r, &tag, &val)) > 0) {
                switch (tag) {
                case OUTPUT_STATE_MODE:
                        k = state_get_u64(&val, &u);
                        if (k >= 0 && u >= _OUTPUT_MAX)
                                k = -EBADMSG;
                        if (k >= 0)
                                o->mode = (enum output_mode)u;
                        break;
                case OUTPUT_STATE_STREAM:
                        k = output_stream_get(o, &val);
                        break;
                case OUTPUT_STATE_FAILING:
                        k = state_get_bool(&val, &o->failing);
                        break;
                case OUTPUT_STATE_DROPPED:
                        k = state_get_u64(&val, &o->dropped);
                        break;
                case OUTPUT_STATE_JOURNAL_WARNED:
                        k = state_get_bool(&val, &o->journal_warned);
                        break;
                case OUTPUT_STATE_CURRENT_KNOWN:
                        k = state_get_bool(&val, &current_known);
                        break;
                case OUTPUT_STATE_TAIL: {
                        char **lines = NULL;

                        k = state_get_strv(&val, &lines);
                        for (char **l = lines; k >= 0 && l && *l; l++)
                                output_tail_push(o, *l, strlen(*l));
                        strv_free(lines);
                        break;
                }
                default:
                        break; /* a newer image's: skipped */
                }
                if (k < 0)
                        break;
        }
        if (k < 0) {
                /* The pipes claimed so far are read out, not lost. */
                output_free(o);
                return k;
        }
        /* An image from before the fd store did not say which pipe is the
         * last spawn's: the newest (at worst an earlier spawn's that a
         * descendant still writes to), so that it is parked (fdstore.h). */
        if (!current_known && !o->current)
                o->current = o->streams;
        *ret = o;
        return 0;
}
