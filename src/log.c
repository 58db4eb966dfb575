/* log.c: tendd's own log on stderr, one line per message, "tendd: ", or
 * in the journal with structured fields; never waits for a reader. */
#include <endian.h>
#include <ev.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include "log.h"

/* Lines waiting for a slow stderr; beyond, lines are dropped and counted. */
#define LOG_BUF_MAX (64 * 1024)
#define LOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

static int log_max_level = LOG_INFO;
static bool log_to_journal;

/* stderr as tendd writes it. A pipe or terminal nobody reads must not stop
 * the daemon: lines wait in buf while it is full, written when it becomes
 * writable (an ev_io once a loop is attached) or before the next line. */
static struct {
        int fd; /* a non-blocking description of stderr of our own, or 2 */
        enum {
                LOG_WRITE, /* fd is non-blocking, or a regular file */
                LOG_SEND,  /* a socket: send(MSG_DONTWAIT) */
                LOG_POLL,  /* no description of our own: poll, then write at most PIPE_BUF */
        } how;
        char buf[LOG_BUF_MAX];
        size_t len;
        uint64_t dropped; /* lines dropped since the last one written */

        struct ev_loop *loop;
        ev_io io;
} log_out = { .fd = STDERR_FILENO };

/* The journal's native socket, non-blocking: sd_journal_sendv() waits while
 * journald's queue is full. */
static int log_journal_fd = -1;
static uint64_t log_journal_dropped;

static unsigned log_count_lines(const char *p, size_t n)
{
        unsigned c = 0;

        for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++)
                c++;
        return c;
}

static void log_io_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Watch for room exactly while lines wait. The watcher does not keep the
 * loop alive. */
static void log_watch_update(void)
{
        bool want = log_out.loop && log_out.len > 0;
        bool active = ev_is_active(&log_out.io);

        if (want && !active) {
                ev_io_init(&log_out.io, log_io_cb, log_out.fd, EV_WRITE);
                ev_io_start(log_out.loop, &log_out.io);
                ev_unref(log_out.loop);
        } else if (!want && active) {
                ev_ref(log_out.loop);
                ev_io_stop(log_out.loop, &log_out.io);
        }
}

/* Write what waits, as far as it goes without waiting. */
static void log_flush(void)
{
        while (log_out.len > 0) {
                ssize_t n;

                if (log_out.how == LOG_SEND)
                        n = send(log_out.fd, log_out.buf, log_out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
                else if (log_out.how == LOG_POLL) {
                        struct pollfd p = { .fd = log_out.fd, .events = POLLOUT };

                        /* Room for PIPE_BUF bytes: a write that size returns at once. */
                        if (poll(&p, 1, 0) <= 0)
                                break;
                        n = write(log_out.fd, log_out.buf,
                                  log_out.len < PIPE_BUF ? log_out.len : PIPE_BUF);
                } else
                        n = write(log_out.fd, log_out.buf, log_out.len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n <= 0) {
                        /* No reader, full disk: what waits is lost, and counted. */
                        log_out.dropped += log_count_lines(log_out.buf, log_out.len);
                        log_out.len = 0;
                        break;
                }
                memmove(log_out.buf, log_out.buf + n, log_out.len - (size_t)n);
                log_out.len -= (size_t)n;
        }
        log_watch_update();
}

static void log_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
        log_flush();
}

/* Queue one line (with its newline) behind what waits, after the count of
 * the lines dropped before it; drop it if there is no room. */
static void log_emit(const char *line, size_t n)
{
        char note[64];
        size_t nn = 0;

        /* While the watcher waits for room there is none: no system call. */
        if (!ev_is_active(&log_out.io))
                log_flush();
        if (log_out.dropped > 0)
                nn = (size_t)snprintf(note, sizeof note, "tendd: %llu log line%s dropped\n",
                                      (unsigned long long)log_out.dropped,
                                      log_out.dropped == 1 ? "" : "s");
        if (log_out.len + nn + n > sizeof log_out.buf) {
                log_out.dropped++;
                return;
        }
        memcpy(log_out.buf + log_out.len, note, nn);
        memcpy(log_out.buf + log_out.len + nn, line, n);
        log_out.len += nn + n;
        log_out.dropped = 0;
        if (!ev_is_active(&log_out.io))
                log_flush();
}

/* A description of stderr that never blocks, without touching fd 2's own:
 * O_NONBLOCK on it would change the file description our parent (a shell,
 * a terminal) shares. */
static void log_stderr_open(void)
{
        struct stat st;
        int fd;

        if (ev_is_active(&log_out.io)) {
                ev_ref(log_out.loop);
                ev_io_stop(log_out.loop, &log_out.io);
        }
        if (log_out.fd > STDERR_FILENO)
                (void)close(log_out.fd);
        log_out.fd = STDERR_FILENO;
        log_out.how = LOG_WRITE;
        log_out.dropped += log_count_lines(log_out.buf, log_out.len);
        log_out.len = 0;
        if (fstat(STDERR_FILENO, &st) < 0 || S_ISREG(st.st_mode))
                return; /* a file never waits for a reader */
        if (S_ISSOCK(st.st_mode)) {
                log_out.how = LOG_SEND;
                return;
        }
        /* A pipe, FIFO or terminal: opened again through /proc, a new
         * description of the same pipe or device. */
        fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0)
                log_out.fd = fd;
        else
                log_out.how = LOG_POLL;
}

/* The journal when stderr is the stream named by $JOURNAL_STREAM ("dev:ino"). */
void log_open(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        log_to_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
                         fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                         (unsigned long long)st.st_ino == ino;
        log_stderr_open();
}

/* Flush lines that wait on the loop from now on (NULL: detach, before the
 * loop is destroyed; what still waits then is tried once more). */
void log_set_loop(struct ev_loop *loop)
{
        if (ev_is_active(&log_out.io)) {
                ev_ref(log_out.loop);
                ev_io_stop(log_out.loop, &log_out.io);
        }
        log_out.loop = loop;
        log_flush();
}

/* One entry in journald's native protocol, sent without waiting. MESSAGE
 * in the binary form: it may hold a newline. */
static int log_journal_send(int level, int err, const char *name, const char *msg)
{
        static const struct sockaddr_un sa = { .sun_family = AF_UNIX,
                                               .sun_path = LOG_JOURNAL_SOCKET };
        char p[32], e[32], svc[96];
        uint64_t len = htole64(strlen(msg) + (name ? strlen(name) + 2 : 0));
        struct iovec iov[10];
        struct msghdr mh = { .msg_name = (void *)&sa, .msg_namelen = sizeof sa, .msg_iov = iov };
        size_t n = 0;

        if (log_journal_fd < 0) {
                log_journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (log_journal_fd < 0)
                        return -errno;
        }
        iov[n++] = (struct iovec){ (char *)"MESSAGE\n", 8 };
        iov[n++] = (struct iovec){ &len, sizeof len };
        if (name) {
                iov[n++] = (struct iovec){ (char *)name, strlen(name) };
                iov[n++] = (struct iovec){ (char *)": ", 2 };
        }
        iov[n++] = (struct iovec){ (char *)msg, strlen(msg) };
        (void)snprintf(p, sizeof p, "\nPRIORITY=%d\n", level);
        iov[n++] = (struct iovec){ p, strlen(p) };
        iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=tendd\n", 24 };
        if (err) {
                (void)snprintf(e, sizeof e, "ERRNO=%d\n", err < 0 ? -err : err);
                iov[n++] = (struct iovec){ e, strlen(e) };
        }
        if (name) {
                (void)snprintf(svc, sizeof svc, "TEND_SERVICE=%s\n", name);
                iov[n++] = (struct iovec){ svc, strlen(svc) };
        }
        mh.msg_iovlen = n;
        if (sendmsg(log_journal_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

/* To the journal; < 0: not there, the caller writes to stderr. A journald
 * that does not keep up gets lines dropped and counted, not waited for. */
static int log_journal(int level, int err, const char *name, const char *msg)
{
        int r;

        if (log_journal_dropped > 0) {
                char note[64];

                (void)snprintf(note, sizeof note, "%llu log line%s dropped",
                               (unsigned long long)log_journal_dropped,
                               log_journal_dropped == 1 ? "" : "s");
                r = log_journal_send(LOG_WARNING, 0, NULL, note);
                if (r == -EAGAIN) {
                        log_journal_dropped++;
                        return 0;
                }
                if (r >= 0)
                        log_journal_dropped = 0;
        }
        r = log_journal_send(level, err, name, msg);
        if (r == -EAGAIN) {
                log_journal_dropped++;
                return 0;
        }
        return r;
}

/* Messages above level (less severe) are dropped. */
void log_set_max_level(int level)
{
        log_max_level = level;
}

/* The current maximum level. */
int log_get_max_level(void)
{
        return log_max_level;
}

static void log_vline(int level, int err, const char *prefix, const char *fmt, va_list ap)
        _printf_(4, 0);

static void log_vline(int level, int err, const char *prefix, const char *fmt, va_list ap)
{
        char buf[2048], line[2200];
        int n;

        n = vsnprintf(buf, sizeof buf, fmt, ap);
        if (n < 0)
                return;
        if (err != 0)
                (void)snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ": %s",
                               strerror(err < 0 ? -err : err));
        if (log_to_journal && log_journal(level, err, prefix, buf) >= 0)
                return;
        n = snprintf(line, sizeof line, "tendd: %s%s%s%s\n",
                     level <= LOG_ERR       ? "error: "
                     : level == LOG_WARNING ? "warning: "
                                            : "",
                     prefix ? prefix : "", prefix ? ": " : "", buf);
        if (n < 0)
                return;
        if ((size_t)n >= sizeof line) {
                n = sizeof line - 1;
                line[n - 1] = '\n';
        }
        log_emit(line, (size_t)n);
}

/* Log one line; returns -abs(err). */
int log_full_errno(int level, int err, const char *fmt, ...)
{
        va_list ap;
        int saved = errno;

        if (level <= log_max_level) {
                va_start(ap, fmt);
                log_vline(level, err, NULL, fmt, ap);
                va_end(ap);
        }
        errno = saved;
        return err < 0 ? err : -err;
}

/* Log one line about a service: "name: message". */
void log_service(int level, const char *name, const char *fmt, ...)
{
        va_list ap;
        int saved = errno;

        if (level > log_max_level)
                return;
        va_start(ap, fmt);
        log_vline(level, 0, name, fmt, ap);
        va_end(ap);
        errno = saved;
}
