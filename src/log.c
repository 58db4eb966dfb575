/* log.c: tendd's own log on stderr, one line per message, "tendd: ", or
 * in the journal with structured fields. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "log.h"

static int log_max_level = LOG_INFO;
static bool log_to_journal;

/* The journal when stderr is the stream named by $JOURNAL_STREAM ("dev:ino"). */
void log_open(void)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        log_to_journal = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
                         fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                         (unsigned long long)st.st_ino == ino;
}

static int log_journal(int level, int err, const char *name, const char *msg)
{
        char m[2200], p[24], e[24], svc[96];
        struct iovec iov[5];
        int n = 0;

        (void)snprintf(m, sizeof m, "MESSAGE=%s%s%s", name ? name : "", name ? ": " : "", msg);
        (void)snprintf(p, sizeof p, "PRIORITY=%d", level);
        iov[n++] = (struct iovec){ m, strlen(m) };
        iov[n++] = (struct iovec){ p, strlen(p) };
        iov[n++] = (struct iovec){ (char *)"SYSLOG_IDENTIFIER=tendd", 23 };
        if (err) {
                (void)snprintf(e, sizeof e, "ERRNO=%d", err < 0 ? -err : err);
                iov[n++] = (struct iovec){ e, strlen(e) };
        }
        if (name) {
                (void)snprintf(svc, sizeof svc, "TEND_SERVICE=%s", name);
                iov[n++] = (struct iovec){ svc, strlen(svc) };
        }
        return sd_journal_sendv(iov, n);
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
        char buf[2048];
        int n;

        n = vsnprintf(buf, sizeof buf, fmt, ap);
        if (n < 0)
                return;
        if (err != 0)
                (void)snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ": %s",
                               strerror(err < 0 ? -err : err));
        if (log_to_journal && log_journal(level, err, prefix, buf) >= 0)
                return;
        (void)fprintf(stderr, "tendd: %s%s%s%s\n", level <= LOG_ERR ? "error: " :
                      level == LOG_WARNING ? "warning: " : "",
                      prefix ? prefix : "", prefix ? ": " : "", buf);
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
