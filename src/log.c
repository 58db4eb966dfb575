/* log.c: tendd's own log on stderr, one line per message, "tendd: ". */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static int log_max_level = LOG_INFO;

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
{
        char buf[2048];
        int n;

        n = vsnprintf(buf, sizeof buf, fmt, ap);
        if (n < 0)
                return;
        if (err != 0)
                (void)snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ": %s",
                               strerror(err < 0 ? -err : err));
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
